// SPDX-License-Identifier: GPL-2.0
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

/*
 * udmabuf: dma-bufs made of ranges of sealed memfds (shmem or hugetlb).
 *
 * The memory of a buffer is pinned when the buffer is made and stays
 * pinned until it is released, one pin per folio however many items name
 * it. The buffer holds those folios, not the file's range: a hole punched
 * in the memfd later takes the pages out of the file only, and the buffer
 * goes on reading (and writing) the pages it pinned. Which memory that is
 * lives in folio slices (udmabuf-slices.c); this file is the glue between
 * those, the misc device's ioctls and the dma-buf operations.
 */

#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/cleanup.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/iosys-map.h>
#include <linux/memfd.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/once.h>
#include <linux/pagevec.h>
#include <linux/pfn_t.h>
#include <linux/sched/signal.h>
#include <linux/scatterlist.h>
#include <linux/shmem_fs.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/swiotlb.h>
#include <linux/udmabuf.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "udmabuf-kunit.h"
#include "udmabuf-priv.h"
#include "udmabuf-slices.h"

VISIBLE_IF_KUNIT int udmabuf_list_limit = 1024;
EXPORT_SYMBOL_IF_KUNIT(udmabuf_list_limit);
module_param_named(list_limit, udmabuf_list_limit, int, 0644);
MODULE_PARM_DESC(list_limit, "Most items one UDMABUF_CREATE_LIST may name (default 1024; 0 or less refuses every list)");

VISIBLE_IF_KUNIT int udmabuf_size_limit_mb = 64;
EXPORT_SYMBOL_IF_KUNIT(udmabuf_size_limit_mb);
module_param_named(size_limit_mb, udmabuf_size_limit_mb, int, 0644);
MODULE_PARM_DESC(size_limit_mb, "Largest buffer, in MiB (default 64; 0 or less refuses every buffer; at most 16 TiB with 4 KiB pages)");

/*
 * Folios asked of memfd_pin_folios() per call: first 62 on the stack,
 * which is all that small buffers and most of huge folios need; a range
 * longer than that goes on with a page of them (496 with 4 KiB pages).
 * Multiples of the folio batch it looks folios up with: a call that stops
 * inside a lookup batch drops the rest of it, and the next call looks
 * them up again. Each call has its setup and its pass for folios to
 * migrate: 64 MiB of 4 KiB folios takes 35 calls, where 62 folios a call
 * took 265.
 */
#define UDMABUF_PIN_FIRST	(2 * PAGEVEC_SIZE)
#define UDMABUF_PIN_BATCH \
	rounddown(PAGE_SIZE / sizeof(struct folio *), PAGEVEC_SIZE)

static struct miscdevice udmabuf_misc;
static struct device_dma_parameters udmabuf_dma_parms;

static u64 udmabuf_max_pages(void)
{
	int mb = READ_ONCE(udmabuf_size_limit_mb);

	return mb > 0 ? (u64)mb * SZ_1M >> PAGE_SHIFT : 0;
}

/**
 * udmabuf_dma_map - dma_map_sgtable() for a buffer's sg table
 * @dev: the device to map for
 * @sgt: the table
 * @dir: the direction of the transfers
 * @attrs: DMA_ATTR_* flags
 *
 * Behind a KUnit static stub so that tests can make the mapping fail,
 * which no allocation failure does.
 *
 * Return: 0, or -errno from dma_map_sgtable().
 */
VISIBLE_IF_KUNIT int udmabuf_dma_map(struct device *dev, struct sg_table *sgt,
				     enum dma_data_direction dir,
				     unsigned long attrs)
{
	KUNIT_STATIC_STUB_REDIRECT(udmabuf_dma_map, dev, sgt, dir, attrs);
	return dma_map_sgtable(dev, sgt, dir, attrs);
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_dma_map);

/*
 * The buffer's pages as an sg table, cut to @dev's segment limits: in
 * buffer order, or (@each_page_once) each page once, in frame order.
 */
static struct sg_table *udmabuf_build_sgt(struct udmabuf *ubuf,
					  struct device *dev,
					  bool each_page_once)
{
	size_t max_segment = min_t(size_t, dma_get_max_seg_size(dev),
				   dma_max_mapping_size(dev));
	struct sg_table *sgt;
	int ret;

	/* Every segment holds a whole page of the buffer (0: no limit). */
	if ((max_segment && max_segment < PAGE_SIZE) ||
	    dma_get_seg_boundary(dev) < PAGE_SIZE - 1)
		return ERR_PTR(-EINVAL);

	sgt = kzalloc(sizeof(*sgt), GFP_KERNEL_ACCOUNT);
	if (!sgt)
		return ERR_PTR(-ENOMEM);

	/*
	 * The segment limit is the device's (64 KiB where it has no DMA
	 * parameters); the mapping size limit (swiotlb's) applies to each
	 * segment, as each is bounced on its own.
	 */
	if (each_page_once)
		ret = udmabuf_slices_to_frames_sgt(&ubuf->slices, sgt,
						   max_segment,
						   dma_get_seg_boundary(dev));
	else
		ret = udmabuf_slices_to_sgt(&ubuf->slices, sgt, max_segment,
					    dma_get_seg_boundary(dev));
	if (ret) {
		kfree(sgt);
		return ERR_PTR(ret);
	}
	return sgt;
}

static void udmabuf_free_sgt(struct sg_table *sgt)
{
	sg_free_table(sgt);
	kfree(sgt);
}

static struct sg_table *udmabuf_map_sgt(struct udmabuf *ubuf,
					struct device *dev,
					enum dma_data_direction dir,
					unsigned long attrs)
{
	struct sg_table *sgt = udmabuf_build_sgt(ubuf, dev, false);
	int ret;

	if (IS_ERR(sgt))
		return sgt;
	ret = udmabuf_dma_map(dev, sgt, dir, attrs);
	if (ret) {
		udmabuf_free_sgt(sgt);
		return ERR_PTR(ret);
	}
	return sgt;
}

static void udmabuf_unmap_sgt(struct device *dev, struct sg_table *sgt,
			      enum dma_data_direction dir, unsigned long attrs)
{
	dma_unmap_sgtable(dev, sgt, dir, attrs);
	udmabuf_free_sgt(sgt);
}

/*
 * Importers map without a cache sync, and unmap without one. The dma-buf
 * contract has the CPU bracket its access with DMA_BUF_IOCTL_SYNC, whose
 * end syncs the pages for devices, so a sync here would repeat that work
 * on every map. It would also make the DMA-API debugger report the
 * importer's mapping as overlapping the CPU bracket's (a syncing mapping of
 * cachelines already mapped is an error to it). 6.12's driver maps its
 * importers the same way.
 */
static struct sg_table *
udmabuf_map_dma_buf(struct dma_buf_attachment *attach,
		    enum dma_data_direction dir)
{
	return udmabuf_map_sgt(attach->dmabuf->priv, attach->dev, dir,
			       DMA_ATTR_SKIP_CPU_SYNC);
}

static void udmabuf_unmap_dma_buf(struct dma_buf_attachment *attach,
				  struct sg_table *sgt,
				  enum dma_data_direction dir)
{
	udmabuf_unmap_sgt(attach->dev, sgt, dir, DMA_ATTR_SKIP_CPU_SYNC);
}

#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
/* Step @frames over @count pages, across runs. */
static void udmabuf_skip_frames(struct udmabuf_pfn_run *frames,
				pgoff_t count)
{
	unsigned long pfn;
	pgoff_t len;

	while (count && udmabuf_pfn_run_peek(frames, &pfn, &len)) {
		len = min(len, count);
		udmabuf_pfn_run_skip(frames, len);
		count -= len;
	}
}

/*
 * Whether the PMD-sized block at @addr is one the huge fault handler maps
 * with a leaf: wholly inside @vma, its pages one run of contiguous frames
 * from @pfn (@nr_pages long) aligned as @addr is. It depends only on where
 * the VMA lies and what the buffer holds, never on THP settings that a
 * racing thread may change: the prefault leaves exactly these blocks
 * alone, so it never meets a leaf, and the huge fault handler never puts
 * one where the prefault may be filling PTEs.
 */
static bool udmabuf_block_is_leaf(struct vm_area_struct *vma,
				  unsigned long addr, unsigned long pfn,
				  pgoff_t nr_pages)
{
	if (addr < vma->vm_start || addr + PMD_SIZE > vma->vm_end)
		return false;
	return udmabuf_map_order(addr, pfn, nr_pages, BIT(PMD_ORDER)) ==
	       PMD_ORDER;
}

/* If the block at @addr is a leaf block, step @frames over its @count. */
static bool udmabuf_skip_leaf_block(struct vm_area_struct *vma,
				    unsigned long addr,
				    struct udmabuf_pfn_run *frames,
				    pgoff_t count)
{
	unsigned long pfn;
	pgoff_t len;

	if (!udmabuf_pfn_run_peek(frames, &pfn, &len) ||
	    !udmabuf_block_is_leaf(vma, addr, pfn, len))
		return false;
	udmabuf_skip_frames(frames, count);
	return true;
}
#else
static bool udmabuf_skip_leaf_block(struct vm_area_struct *vma,
				    unsigned long addr,
				    struct udmabuf_pfn_run *frames,
				    pgoff_t count)
{
	return false;
}
#endif

/* What udmabuf_set_pte() needs: the VMA, and where its frames come from. */
struct udmabuf_pte_fill {
	struct vm_area_struct *vma;
	struct udmabuf_pfn_run *frames;
};

/*
 * One PTE of a stretch, under its page table's lock: what vmf_insert_pfn()
 * would write (a special entry with the VMA's protection, the frames being
 * ordinary write-back RAM), and nothing where an entry is already. The
 * frame is the cursor's next, whichever run it comes from.
 */
static int udmabuf_set_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct udmabuf_pte_fill *fill = data;
	struct udmabuf_pfn_run *frames = fill->frames;
	unsigned long pfn;
	pgoff_t len;

	/* Called for every page: read the next run only when one ends. */
	if (!frames->left && !udmabuf_pfn_run_peek(frames, &pfn, &len))
		return -EFAULT;
	pfn = frames->pfn;
	udmabuf_pfn_run_skip(frames, 1);
	if (pte_none(ptep_get(pte))) {
		set_pte_at(fill->vma->vm_mm, addr, pte,
			   pte_mkspecial(pfn_pte(pfn, fill->vma->vm_page_prot)));
		update_mmu_cache(fill->vma, addr, pte);
	}
	return 0;
}

/**
 * udmabuf_insert_ptes - map a stretch of pages with PTEs
 * @vma: the VMA
 * @addr: the address of the first page
 * @nr_pages: pages in the stretch, all inside one PMD's range, which no
 *	PMD leaf maps or can come to map while the stretch is filled
 * @frames: the cursor that gives their frames, one page at a time
 *
 * One walk and one page-table lock for the stretch, where
 * vmf_insert_pfn() would take them for every page, and the frames may
 * come from any number of runs (a list of scattered pages). Behind a
 * KUnit static stub so that tests can make a chosen address fail.
 *
 * Return: 0, or -ENOMEM when a page table cannot be allocated (the pages
 * before it may be mapped).
 */
VISIBLE_IF_KUNIT int udmabuf_insert_ptes(struct vm_area_struct *vma,
					 unsigned long addr,
					 unsigned long nr_pages,
					 struct udmabuf_pfn_run *frames)
{
	struct udmabuf_pte_fill fill = { .vma = vma, .frames = frames };

	KUNIT_STATIC_STUB_REDIRECT(udmabuf_insert_ptes, vma, addr, nr_pages,
				   frames);
	return apply_to_page_range(vma->vm_mm, addr, nr_pages << PAGE_SHIFT,
				   udmabuf_set_pte, &fill);
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_insert_ptes);

/* Pages from @addr to the next PMD boundary or @end, whichever is first. */
static pgoff_t udmabuf_pages_to_boundary(unsigned long addr,
					 unsigned long end)
{
	return (min(ALIGN(addr + 1, PMD_SIZE), end) - addr) >> PAGE_SHIFT;
}

/*
 * Map every page of the VMA outside leaf blocks with PTEs, a PMD's range
 * at a time, the leaf blocks being the huge fault handler's. A resched
 * point and a fatal-signal check come at each PMD boundary, so a buffer of
 * gigabytes does not hold the CPU, however its runs are cut. A stretch
 * that cannot be mapped ends the walk: it and those after it are left for
 * later faults.
 */
static void udmabuf_prefault(struct vm_area_struct *vma,
			     const struct udmabuf_slices *slices)
{
	unsigned long addr = vma->vm_start, pfn;
	struct udmabuf_pfn_run frames;
	pgoff_t count, len;

	udmabuf_pfn_run_start(&frames, slices, vma->vm_pgoff, vma_pages(vma),
			      0);
	while (addr < vma->vm_end &&
	       udmabuf_pfn_run_peek(&frames, &pfn, &len)) {
		count = udmabuf_pages_to_boundary(addr, vma->vm_end);
		if (!udmabuf_skip_leaf_block(vma, addr, &frames, count) &&
		    udmabuf_insert_ptes(vma, addr, count, &frames))
			return;
		addr += count << PAGE_SHIFT;
		if (fatal_signal_pending(current))
			return;
		cond_resched();
	}
}

/* The dma-buf core refuses a VMA that reaches past the buffer. */
static bool udmabuf_vma_fits(struct vm_area_struct *vma,
			     const struct udmabuf *ubuf)
{
	/* VM_DONTEXPAND keeps one from growing there: never map past it. */
	return !WARN_ON_ONCE(vma_pages(vma) > ubuf->slices.nr_pages ||
			     vma->vm_pgoff > ubuf->slices.nr_pages -
					     vma_pages(vma));
}

#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
/* Start @frames at the page of @vma that @addr maps, for @count pages. */
static void udmabuf_frames_at(struct udmabuf_pfn_run *frames,
			      struct vm_area_struct *vma, unsigned long addr,
			      pgoff_t count)
{
	const struct udmabuf *ubuf = vma->vm_private_data;

	udmabuf_pfn_run_start(frames, &ubuf->slices, vma->vm_pgoff +
			      ((addr - vma->vm_start) >> PAGE_SHIFT), count, 0);
}

/*
 * After the faulting page, the rest: inside a leaf block, that block's
 * pages only (its PMD entry is a page table by now); elsewhere every page
 * of the VMA outside leaf blocks.
 */
static void udmabuf_map_around(struct vm_area_struct *vma, unsigned long addr)
{
	unsigned long block = ALIGN_DOWN(addr, PMD_SIZE);
	const struct udmabuf *ubuf = vma->vm_private_data;
	struct udmabuf_pfn_run run;
	pgoff_t count, len;
	unsigned long pfn;

	if (block >= vma->vm_start) {
		count = udmabuf_pages_to_boundary(block, vma->vm_end);
		udmabuf_frames_at(&run, vma, block, count);
		if (udmabuf_pfn_run_peek(&run, &pfn, &len) &&
		    udmabuf_block_is_leaf(vma, block, pfn, len)) {
			udmabuf_insert_ptes(vma, block, count, &run);
			return;
		}
	}
	udmabuf_prefault(vma, &ubuf->slices);
}

/*
 * The faulting page's PTE table, before vmf_insert_pfn() looks for it: a
 * huge fault of another thread (under the VMA lock alone) may put a leaf
 * into the empty entry at any time, and vmf_insert_pfn() must not meet
 * one (DEBUG_VM's VM_BUG_ON in walk_to_pmd()). Once a table is there it
 * stays one (this fault holds mmap_lock, huge faults fill empty entries
 * only); a leaf maps the page already, and the access is retried.
 */
static vm_fault_t udmabuf_fault_table(struct vm_fault *vmf)
{
	if (!vmf->pmd)
		return 0;
	if (pte_alloc(vmf->vma->vm_mm, vmf->pmd))
		return VM_FAULT_OOM;
	return pmd_leaf(pmdp_get_lockless(vmf->pmd)) ? VM_FAULT_NOPAGE : 0;
}
#else
static void udmabuf_map_around(struct vm_area_struct *vma, unsigned long addr)
{
	const struct udmabuf *ubuf = vma->vm_private_data;

	udmabuf_prefault(vma, &ubuf->slices);
}

static vm_fault_t udmabuf_fault_table(struct vm_fault *vmf)
{
	return 0;
}
#endif

/*
 * The buffer's memory is pinned for its whole life, so there is nothing to
 * fault in lazily. The first fault maps the faulting page, then the rest of
 * the VMA outside leaf blocks as a best effort: touching all of it costs
 * one fault instead of one per page, and only the faulting page can fail
 * the access. A fault inside a leaf block comes here where huge entries
 * are refused (MADV_NOHUGEPAGE, PR_SET_THP_DISABLE), where a write found
 * the block's leaf read-only, or after a racing fault: it maps that
 * block's pages, the PMD entry being a page table by then, and leaves the
 * other leaf blocks to their own faults.
 */
static vm_fault_t udmabuf_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct udmabuf *ubuf = vma->vm_private_data;
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len;
	vm_fault_t ret;

	if (!udmabuf_vma_fits(vma, ubuf))
		ret = VM_FAULT_SIGBUS;
	else
		ret = udmabuf_fault_table(vmf);
	if (ret)
		return ret;

	udmabuf_pfn_run_start(&run, &ubuf->slices, vmf->pgoff, 1, 1);
	udmabuf_pfn_run_next(&run, &pfn, &len);
	ret = vmf_insert_pfn(vma, vmf->address, pfn);
	if (ret == VM_FAULT_NOPAGE)
		udmabuf_map_around(vma, vmf->address);
	return ret;
}

#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
/*
 * The core asks for a block when the faulting address's PUD or PMD entry
 * is empty and the VMA allows huge mappings, and for a PMD when a write
 * hits a read-only leaf. Only a PMD-sized leaf block gets a leaf: 6.12
 * splits the VMA of a PFN mapping at PMD level only and cannot move part
 * of a PUD leaf, so PUDs fall back. The leaf goes only into an empty
 * entry, with the VMA's protection: where that is read-only in a shared
 * writable VMA (soft-dirty tracking), a write falls back to PTEs, which
 * the core makes writable, and so does a write to a read-only leaf (the
 * core then splits it). The rest of the VMA is left to its own faults:
 * only the core's fault path may put a leaf.
 */
static vm_fault_t udmabuf_vm_huge_fault(struct vm_fault *vmf,
					unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long addr = ALIGN_DOWN(vmf->address, PMD_SIZE);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len;

	if (!udmabuf_vma_fits(vma, vma->vm_private_data))
		return VM_FAULT_SIGBUS;
	if (order != PMD_ORDER || addr < vma->vm_start ||
	    addr + PMD_SIZE > vma->vm_end)
		return VM_FAULT_FALLBACK;

	udmabuf_frames_at(&run, vma, addr, PMD_SIZE >> PAGE_SHIFT);
	if (!udmabuf_pfn_run_peek(&run, &pfn, &len) ||
	    !udmabuf_block_is_leaf(vma, addr, pfn, len) ||
	    !pmd_none(pmdp_get_lockless(vmf->pmd)))
		return VM_FAULT_FALLBACK;
	if ((vmf->flags & FAULT_FLAG_WRITE) &&
	    !pmd_write(pfn_pmd(pfn, vma->vm_page_prot)))
		return VM_FAULT_FALLBACK;
	return vmf_insert_pfn_pmd(vmf, __pfn_to_pfn_t(pfn, PFN_DEV), false);
}
#endif

static const struct vm_operations_struct udmabuf_vm_ops = {
	.fault = udmabuf_vm_fault,
#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
	.huge_fault = udmabuf_vm_huge_fault,
#endif
};

/*
 * The dma-buf file has no get_unmapped_area(), so the kernel places a
 * mapping page-aligned only, and huge entries fit only where the address
 * is as aligned as the frames. A caller that wants them maps at a 2 MiB
 * boundary it reserved:
 *
 *	area = mmap(NULL, size + SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
 *	buf = mmap(ALIGN(area, SZ_2M), size, prot, MAP_SHARED | MAP_FIXED, fd, 0);
 */
static int udmabuf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	/* A private mapping would copy pages on write: not the buffer. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;

	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &udmabuf_vm_ops;
	vma->vm_private_data = dmabuf->priv;
	return 0;
}

static int udmabuf_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct udmabuf *ubuf = dmabuf->priv;
	struct page **pages;
	void *vaddr;

	dma_resv_assert_held(dmabuf->resv);

	pages = udmabuf_slices_pages(&ubuf->slices);
	if (!pages)
		return -ENOMEM;

	vaddr = vmap(pages, ubuf->slices.nr_pages, VM_MAP, PAGE_KERNEL);
	kvfree(pages);
	if (!vaddr)
		return -ENOMEM;

	iosys_map_set_vaddr(map, vaddr);
	return 0;
}

static void udmabuf_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	dma_resv_assert_held(dmabuf->resv);
	vunmap(map->vaddr);
}

/*
 * The misc device maps buffers only to sync caches around CPU access, so
 * it gets its DMA setup when the first bracket needs it: a 64-bit mask,
 * and segments as long as an sg entry holds (without DMA parameters a
 * device takes 64 KiB). Without a mask (no DMA API on the architecture)
 * there is nothing to sync through: brackets do nothing, once the warning
 * below is out; mmap, vmap and importers work all the same.
 */
static void udmabuf_setup_dma(void)
{
	struct device *dev = udmabuf_misc.this_device;
	int ret;

	dev->dma_parms = &udmabuf_dma_parms;
	dma_set_max_seg_size(dev, UINT_MAX);
	ret = dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		pr_warn("no DMA mask (%d): CPU access brackets will not sync\n",
			ret);
}

#ifdef CONFIG_DMA_API_DEBUG
/*
 * Under the DMA-API debugger, one mapping of the misc device at a time:
 * buffers may share pages, and the debugger matches a sync to a mapping
 * of the same address by best fit.
 */
static DEFINE_MUTEX(udmabuf_cpu_sync_lock);

static int udmabuf_cpu_sync_lock_killable(void)
{
	return mutex_lock_killable(&udmabuf_cpu_sync_lock);
}

static void udmabuf_cpu_sync_unlock(void)
{
	mutex_unlock(&udmabuf_cpu_sync_lock);
}
#else
static int udmabuf_cpu_sync_lock_killable(void)
{
	return 0;
}

static void udmabuf_cpu_sync_unlock(void)
{
}
#endif

/**
 * udmabuf_cpu_sync_needed - whether CPU access brackets have caches to sync
 * @dev: the misc device, with its DMA setup done
 *
 * Not where the device is coherent, and not where its mappings are forced
 * through swiotlb: there a bracket would sync a bounce copy of the buffer
 * and copy it back over the writes made meanwhile. Behind a KUnit static
 * stub so that tests can take either path on any machine.
 *
 * Return: true if a bracket must map the buffer and sync it.
 */
VISIBLE_IF_KUNIT bool udmabuf_cpu_sync_needed(struct device *dev)
{
	KUNIT_STATIC_STUB_REDIRECT(udmabuf_cpu_sync_needed, dev);
	return dma_dev_need_sync(dev) && !is_swiotlb_force_bounce(dev);
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_cpu_sync_needed);

/* Map @sgt for the misc device, sync it one way, unmap it. */
static int udmabuf_cpu_sync(struct device *dev, struct sg_table *sgt,
			    enum dma_data_direction dir, bool for_cpu)
{
	int ret = udmabuf_cpu_sync_lock_killable();

	if (!ret) {
		ret = udmabuf_dma_map(dev, sgt, dir, DMA_ATTR_SKIP_CPU_SYNC);
		if (!ret) {
			if (for_cpu)
				dma_sync_sgtable_for_cpu(dev, sgt, dir);
			else
				dma_sync_sgtable_for_device(dev, sgt, dir);
			dma_unmap_sgtable(dev, sgt, dir,
					  DMA_ATTR_SKIP_CPU_SYNC);
		}
		udmabuf_cpu_sync_unlock();
	}
	return ret;
}

/*
 * Each end of a CPU access bracket syncs the caches through a mapping for
 * the misc device that lasts only as long as the sync, so that the
 * buffer holds no IOMMU space between brackets. The sg table is made by
 * the first bracket that syncs and kept until release. It names each page
 * once, however often the buffer does: the caches are synced per page,
 * and the DMA-API debugger counts at most seven overlapping mappings of a
 * cacheline.
 *
 * A begin syncs in the bracket's direction, except a write-only one, for
 * which syncing for the CPU does nothing; one that reads invalidates, as
 * it must to see what a device wrote (on a machine whose caches are not
 * coherent, lines another writer dirtied in the same pages go with them).
 * An end writes back what the CPU wrote: a read-only bracket's end cleans
 * (DMA_TO_DEVICE) rather than invalidates, which would drop the lines of
 * writers in brackets of their own.
 */
static int udmabuf_cpu_access(struct dma_buf *dmabuf,
			      enum dma_data_direction dir, bool begin)
{
	struct udmabuf *ubuf = dmabuf->priv;
	struct device *dev = udmabuf_misc.this_device;
	struct sg_table *sgt;
	int ret;

	guard(mutex)(&ubuf->cpu_sgt_lock);
	if (!begin && !ubuf->cpu_begun)
		return -EINVAL;
	DO_ONCE_SLEEPABLE(udmabuf_setup_dma);
	if (!udmabuf_cpu_sync_needed(dev) || (begin && dir == DMA_TO_DEVICE)) {
		ubuf->cpu_begun = true;
		return 0;
	}
	if (!begin && dir == DMA_FROM_DEVICE)
		dir = DMA_TO_DEVICE;

	sgt = ubuf->cpu_sgt;
	if (!sgt) {
		sgt = udmabuf_build_sgt(ubuf, dev, true);
		if (IS_ERR(sgt))
			return PTR_ERR(sgt);
	}
	ret = udmabuf_cpu_sync(dev, sgt, dir, begin);
	if (ret) {
		/* A first bracket that fails leaves no table behind. */
		if (sgt != ubuf->cpu_sgt)
			udmabuf_free_sgt(sgt);
		return ret;
	}
	ubuf->cpu_sgt = sgt;
	ubuf->cpu_begun = true;
	return 0;
}

static int udmabuf_begin_cpu_access(struct dma_buf *dmabuf,
				    enum dma_data_direction dir)
{
	return udmabuf_cpu_access(dmabuf, dir, true);
}

static int udmabuf_end_cpu_access(struct dma_buf *dmabuf,
				  enum dma_data_direction dir)
{
	return udmabuf_cpu_access(dmabuf, dir, false);
}

static struct udmabuf *udmabuf_alloc(void)
{
	struct udmabuf *ubuf = kzalloc(sizeof(*ubuf), GFP_KERNEL_ACCOUNT);

	if (ubuf)
		mutex_init(&ubuf->cpu_sgt_lock);
	return ubuf;
}

static void udmabuf_free(struct udmabuf *ubuf)
{
	udmabuf_slices_release(&ubuf->slices);
	mutex_destroy(&ubuf->cpu_sgt_lock);
	kfree(ubuf);
}

static void udmabuf_release(struct dma_buf *dmabuf)
{
	struct udmabuf *ubuf = dmabuf->priv;

	if (ubuf->cpu_sgt)
		udmabuf_free_sgt(ubuf->cpu_sgt);
	udmabuf_free(ubuf);
}

static const struct dma_buf_ops udmabuf_ops = {
	.cache_sgt_mapping = true,
	.map_dma_buf = udmabuf_map_dma_buf,
	.unmap_dma_buf = udmabuf_unmap_dma_buf,
	.release = udmabuf_release,
	.mmap = udmabuf_mmap,
	.vmap = udmabuf_vmap,
	.vunmap = udmabuf_vunmap,
	.begin_cpu_access = udmabuf_begin_cpu_access,
	.end_cpu_access = udmabuf_end_cpu_access,
};

/**
 * udmabuf_pin_folios - pin the folios of a memfd range
 * @memfd: a shmem or hugetlb file
 * @start: first byte of the range
 * @end: last byte of the range (inclusive)
 * @folios: receives the pinned folios
 * @max_folios: room in @folios
 * @offset: set to the byte offset of @start in the first folio
 *
 * memfd_pin_folios(), behind a KUnit static stub so that tests can make
 * it fail, or pin fewer folios than the range needs.
 *
 * Return: folios pinned, or -errno.
 */
VISIBLE_IF_KUNIT long udmabuf_pin_folios(struct file *memfd, loff_t start,
					 loff_t end, struct folio **folios,
					 unsigned int max_folios,
					 pgoff_t *offset)
{
	KUNIT_STATIC_STUB_REDIRECT(udmabuf_pin_folios, memfd, start, end,
				   folios, max_folios, offset);
	return memfd_pin_folios(memfd, start, end, folios, max_folios, offset);
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_pin_folios);

/* What the pinning of a create's ranges shares. */
struct udmabuf_pinning {
	struct udmabuf *ubuf;		/* the buffer the slices go to */
	struct folio **batch;		/* a call's pinned folios */
	u32 batch_size;			/* entries in @batch */
	u32 max_slices;			/* the buffer's pages */
	struct folio *first[UDMABUF_PIN_FIRST];	/* the batch at first */
};

/*
 * A range goes on past the first batch: pin on into a page of folio
 * pointers. Without one, the first batch goes on serving.
 */
static void udmabuf_pin_grow(struct udmabuf_pinning *pin)
{
	struct folio **page = (struct folio **)__get_free_page(UDMABUF_GFP);

	if (!page)
		return;
	pin->batch = page;
	pin->batch_size = UDMABUF_PIN_BATCH;
}

/* Pin @nr_pages pages of @memfd from @start, appending them to the buffer. */
static int udmabuf_pin_range(struct udmabuf_pinning *pin, struct file *memfd,
			     loff_t start, u32 nr_pages)
{
	struct udmabuf *ubuf = pin->ubuf;
	loff_t last = start + ((loff_t)nr_pages << PAGE_SHIFT) - 1;

	while (nr_pages) {
		u32 before = ubuf->slices.nr_pages;
		struct folio **batch = pin->batch;
		u32 taken, room, need;
		pgoff_t offset;
		long nr;
		int ret;

		/* Pinning allocates what a sparse memfd lacks: let it be killed. */
		if (fatal_signal_pending(current))
			return -EINTR;
		nr = udmabuf_pin_folios(memfd, start, last, batch,
					pin->batch_size, &offset);
		if (nr <= 0)
			return nr ? nr : -EINVAL;

		/* Once the first estimate is reserved, a batch mostly fits. */
		room = ubuf->slices.capacity - ubuf->slices.nr_slices;
		if (room < nr) {
			need = udmabuf_slices_estimate(batch, nr, offset,
						       nr_pages);
			ret = udmabuf_slices_reserve(&ubuf->slices, need,
						     pin->max_slices);
			if (ret) {
				unpin_folios(batch, nr);
				return ret;
			}
		}

		taken = udmabuf_slices_append(&ubuf->slices, batch, nr, offset,
					      nr_pages);
		unpin_folios(batch + taken, nr - taken);

		nr_pages -= ubuf->slices.nr_pages - before;
		start += (loff_t)(ubuf->slices.nr_pages - before) << PAGE_SHIFT;
		if (nr_pages && batch == pin->first)
			udmabuf_pin_grow(pin);
	}
	return 0;
}

/* Seals and size of an item's memfd, checked under its inode lock. */
static int udmabuf_item_fits(struct file *memfd,
			     const struct udmabuf_create_item *item)
{
	int ret = udmabuf_check_seals(memfd_fcntl(memfd, F_GET_SEALS, 0));

	if (!ret && item->offset + item->size > i_size_read(file_inode(memfd)))
		ret = -EINVAL;
	return ret;
}

#if IS_ENABLED(CONFIG_HUGETLBFS)
/* Whether a hugetlb item's range has a folio missing. */
static bool udmabuf_hugetlb_hole(struct file *memfd,
				 const struct udmabuf_create_item *item)
{
	pgoff_t step = pages_per_huge_page(hstate_file(memfd));
	pgoff_t index = round_down(item->offset >> PAGE_SHIFT, step);
	pgoff_t end = (item->offset + item->size) >> PAGE_SHIFT;
	struct folio *folio;

	for (; index < end; index += step) {
		folio = filemap_get_folio(memfd->f_mapping, index);
		if (IS_ERR(folio))
			return true;
		folio_put(folio);
	}
	return false;
}

/*
 * 6.12's memfd_pin_folios() allocates a missing hugetlb folio with
 * alloc_hugetlb_folio_reserve(), which takes a reservation that nothing
 * made: the reservation count underflows (or, with DEBUG_VM, its
 * VM_BUG_ON fires). hugetlbfs's own fallocate() allocates with the
 * accounting right, so the holes of a hugetlb item are filled that way
 * before the pin. Called with the inode lock held shared, and returns
 * with it held; it drops the lock only to fill holes (fallocate() takes
 * it for writing), then checks the item again. Punching a hole takes the
 * lock too, so none appears until the pin is taken.
 *
 * The file's own fallocate() is called, not vfs_fallocate(): filling the
 * holes of a range the caller may read is what a read fault on it does,
 * so a read-only descriptor pins a range with holes as it pins one
 * without. The folios allocated stay in the file, as a fault's would,
 * whether or not the create goes on to succeed. hugetlbfs stops filling
 * at any pending signal; unless the signal is fatal, the ioctl is
 * restarted once it is handled, and goes on from the holes left.
 */
static int udmabuf_hugetlb_fill(struct file *memfd,
				const struct udmabuf_create_item *item)
{
	struct inode *inode = file_inode(memfd);
	int ret;

	if (!is_file_hugepages(memfd) || !udmabuf_hugetlb_hole(memfd, item))
		return 0;
	if (!memfd->f_op->fallocate)
		return -EBADFD;

	inode_unlock_shared(inode);
	ret = memfd->f_op->fallocate(memfd, FALLOC_FL_KEEP_SIZE, item->offset,
				     item->size);
	inode_lock_shared(inode);
	if (ret == -EINTR && !fatal_signal_pending(current))
		return -ERESTARTNOINTR;
	if (!ret)
		ret = udmabuf_item_fits(memfd, item);
	if (!ret && udmabuf_hugetlb_hole(memfd, item))
		ret = -EBUSY;
	return ret;
}

/*
 * Fill the holes of @item if its memfd is hugetlb, as @hugetlb then says.
 * Only a signal fails it: anything else wrong with the item is left for
 * the pin to find, so that a create fails with the first item's error.
 */
static int udmabuf_fill_item(const struct udmabuf_create_item *item,
			     bool *hugetlb)
{
	struct file *memfd = fget(item->memfd);
	struct inode *inode;
	int ret = 0;

	*hugetlb = memfd && is_file_hugepages(memfd);
	if (*hugetlb) {
		inode = file_inode(memfd);
		inode_lock_shared(inode);
		if (!udmabuf_item_fits(memfd, item))
			ret = udmabuf_hugetlb_fill(memfd, item);
		inode_unlock_shared(inode);
	}
	if (memfd)
		fput(memfd);
	return ret == -ERESTARTNOINTR || ret == -EINTR ? ret : 0;
}

/*
 * Fill the holes of every hugetlb range before anything is pinned, so that
 * a signal that stops a fill restarts the ioctl with no pins to take
 * again, and the restarted ioctl goes on from the holes left. A range of
 * the descriptor the range before it used, which was not hugetlb, is not
 * looked at again (a list of many pages of one shmem memfd); the pin
 * fills any hole it still meets, and reports what the fill could not do.
 */
static int udmabuf_fill_holes(const struct udmabuf_create_item *items,
			      u32 count)
{
	struct udmabuf_create_item range;
	bool hugetlb = false;
	s64 last = -1;
	u32 i = 0;
	int ret;

	while (i < count) {
		i = udmabuf_item_run(items, count, i, &range);
		if (range.memfd == last && !hugetlb)
			continue;
		ret = udmabuf_fill_item(&range, &hugetlb);
		if (ret)
			return ret;
		last = range.memfd;
	}
	return 0;
}
#else
static int udmabuf_hugetlb_fill(struct file *memfd,
				const struct udmabuf_create_item *item)
{
	return 0;
}

static int udmabuf_fill_holes(const struct udmabuf_create_item *items,
			      u32 count)
{
	return 0;
}
#endif

/*
 * Pin the pages one item names, appending them to the buffer, and say in
 * @extent where they went.
 */
static int udmabuf_pin_item(struct udmabuf_pinning *pin,
			    const struct udmabuf_create_item *item,
			    struct udmabuf_extent *extent)
{
	struct udmabuf *ubuf = pin->ubuf;
	u32 first_slice = ubuf->slices.nr_slices;
	struct file *memfd;
	struct inode *inode;
	int ret;

	memfd = fget(item->memfd);
	if (!memfd)
		return -EBADFD;

	ret = -EBADFD;
	if (!shmem_file(memfd) && !is_file_hugepages(memfd))
		goto put;

	/*
	 * F_ADD_SEALS takes the inode lock for writing: holding it shared
	 * keeps the seals as checked until the pins are taken, and a pinned
	 * memfd refuses a later write seal.
	 */
	inode = file_inode(memfd);
	inode_lock_shared(inode);
	ret = udmabuf_item_fits(memfd, item);
	if (!ret)
		ret = udmabuf_hugetlb_fill(memfd, item);
	if (!ret)
		ret = udmabuf_pin_range(pin, memfd, item->offset,
					item->size >> PAGE_SHIFT);
	inode_unlock_shared(inode);

	*extent = (struct udmabuf_extent) {
		.mapping = memfd->f_mapping,
		.first = item->offset >> PAGE_SHIFT,
		.end = (item->offset + item->size) >> PAGE_SHIFT,
		.slice = first_slice,
		.nr_slices = ubuf->slices.nr_slices - first_slice,
	};
put:
	fput(memfd);
	return ret;
}

/**
 * udmabuf_export - wrap a fully pinned buffer in a dma-buf
 * @ubuf: the buffer; the dma-buf owns it on success
 *
 * Behind a KUnit static stub so that tests can make the export fail.
 *
 * Return: the dma-buf, or an ERR_PTR() with @ubuf still the caller's.
 */
VISIBLE_IF_KUNIT struct dma_buf *udmabuf_export(struct udmabuf *ubuf)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);

	KUNIT_STATIC_STUB_REDIRECT(udmabuf_export, ubuf);

	info.ops = &udmabuf_ops;
	info.size = (size_t)ubuf->slices.nr_pages << PAGE_SHIFT;
	info.flags = O_RDWR;
	info.priv = ubuf;
	return dma_buf_export(&info);
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_export);

/**
 * udmabuf_create_dmabuf - make a dma-buf of memfd ranges
 * @items: the ranges, in buffer order; memfd fields are file descriptors
 *	of the calling task
 * @count: entries in @items
 *
 * Validates every item before touching a file, then pins range after
 * range (items that continue each other in one memfd as one range), and
 * keeps one pin per distinct folio. On any failure all pins
 * taken so far are dropped and nothing is left allocated.
 *
 * Return: the new dma-buf, or an ERR_PTR(): -EINVAL for a bad range, bad
 * seals or too large a buffer, -EBADFD for a descriptor that is not a
 * shmem or hugetlb memfd, -ENOMEM, -EINTR when a fatal signal came while
 * pinning, -ERESTARTNOINTR when another signal stopped the filling of a
 * hugetlb range's holes (the ioctl is restarted once it is handled), or
 * the error of the pin or of the fill.
 */
VISIBLE_IF_KUNIT struct dma_buf *
udmabuf_create_dmabuf(const struct udmabuf_create_item *items, u32 count)
{
	struct udmabuf_extent one, *extents = &one;
	struct udmabuf_create_item range;
	u32 nr_pages, i, nr_ranges = 0;
	struct udmabuf_pinning pin;
	struct dma_buf *dmabuf;
	struct udmabuf *ubuf;
	int ret = 0;

	ret = udmabuf_count_pages(items, count, udmabuf_max_pages(), &nr_pages);
	if (!ret)
		ret = udmabuf_fill_holes(items, count);
	if (ret)
		return ERR_PTR(ret);

	ubuf = udmabuf_alloc();
	if (!ubuf)
		return ERR_PTR(-ENOMEM);
	/* Not zeroed: the first batch is only written by the pins. */
	pin.ubuf = ubuf;
	pin.batch = pin.first;
	pin.batch_size = ARRAY_SIZE(pin.first);
	pin.max_slices = nr_pages;
	if (count > 1)
		extents = kvmalloc_array(count, sizeof(*extents), UDMABUF_GFP);
	if (!extents)
		ret = -ENOMEM;

	for (i = 0; i < count && !ret; nr_ranges++) {
		i = udmabuf_item_run(items, count, i, &range);
		ret = udmabuf_pin_item(&pin, &range, &extents[nr_ranges]);
	}
	if (!ret)
		ret = udmabuf_slices_dedup(&ubuf->slices, extents, nr_ranges);
	if (pin.batch != pin.first)
		free_page((unsigned long)pin.batch);
	if (extents != &one)
		kvfree(extents);
	if (ret)
		goto free;
	udmabuf_slices_trim(&ubuf->slices);

	dmabuf = udmabuf_export(ubuf);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto free;
	}
	return dmabuf;

free:
	udmabuf_free(ubuf);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_create_dmabuf);

/*
 * Either ioctl's argument as one list: @single holds the item of
 * UDMABUF_CREATE, a UDMABUF_CREATE_LIST's items are copied to the heap.
 */
static struct udmabuf_create_item *
udmabuf_read_request(unsigned int cmd, void __user *arg,
		     struct udmabuf_create_list *head,
		     struct udmabuf_create_item *single)
{
	struct udmabuf_create_list __user *list = arg;
	struct udmabuf_create_item *items;
	struct udmabuf_create create;
	int limit;

	if (cmd == UDMABUF_CREATE) {
		if (copy_from_user(&create, arg, sizeof(create)))
			return ERR_PTR(-EFAULT);
		head->flags = create.flags;
		head->count = 1;
		*single = (struct udmabuf_create_item) {
			.memfd = create.memfd,
			.offset = create.offset,
			.size = create.size,
		};
		return single;
	}

	if (copy_from_user(head, list, sizeof(*head)))
		return ERR_PTR(-EFAULT);
	limit = READ_ONCE(udmabuf_list_limit);
	if (!head->count || limit < 0 || head->count > limit)
		return ERR_PTR(-EINVAL);
	/* Not vmemdup_array_user(): a raised limit may ask past INT_MAX. */
	items = kvmalloc_array(head->count, sizeof(*items), UDMABUF_GFP);
	if (!items)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(items, list->list, array_size(head->count,
							 sizeof(*items)))) {
		kvfree(items);
		return ERR_PTR(-EFAULT);
	}
	return items;
}

/**
 * udmabuf_ioctl - the misc device's ioctls
 * @file: the opened /dev/udmabuf
 * @cmd: UDMABUF_CREATE or UDMABUF_CREATE_LIST
 * @arg: user pointer to the command's argument
 *
 * Both commands make one dma-buf of a list of items; UDMABUF_CREATE's
 * list has one.
 *
 * Return: a new dma-buf file descriptor, or -errno; -ENOTTY for an
 * unknown command.
 */
VISIBLE_IF_KUNIT long udmabuf_ioctl(struct file *file, unsigned int cmd,
				    unsigned long arg)
{
	struct udmabuf_create_item single, *items;
	struct udmabuf_create_list head;
	struct dma_buf *dmabuf;
	long ret;

	if (cmd != UDMABUF_CREATE && cmd != UDMABUF_CREATE_LIST)
		return -ENOTTY;

	items = udmabuf_read_request(cmd, (void __user *)arg, &head, &single);
	if (IS_ERR(items))
		return PTR_ERR(items);

	dmabuf = udmabuf_create_dmabuf(items, head.count);
	if (items != &single)
		kvfree(items);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);

	ret = dma_buf_fd(dmabuf, head.flags & UDMABUF_FLAGS_CLOEXEC ?
			 O_CLOEXEC : 0);
	if (ret < 0)
		dma_buf_put(dmabuf);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_ioctl);

static const struct file_operations udmabuf_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = udmabuf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice udmabuf_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "udmabuf",
	.fops = &udmabuf_fops,
};

module_misc_device(udmabuf_misc);

MODULE_DESCRIPTION("Userspace memfd ranges as dma-bufs");
MODULE_LICENSE("GPL");
