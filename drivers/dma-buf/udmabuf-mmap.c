// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf: mmap of a buffer. The buffer's memory is pinned for its whole
 * life, so a fault maps its page and then, as a best effort, the window
 * of pages that holds it, which doubles with each fault: with PTEs filled
 * a page table at a time, and where the architecture maps PFNs with PMD
 * leaves, with a leaf for each PMD-sized block of contiguous, aligned
 * frames (from the huge fault handler).
 */

#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/dma-buf.h>
#include <linux/huge_mm.h>
#include <linux/mm.h>
#include <linux/pfn_t.h>
#include <linux/sched/signal.h>

#include "udmabuf.h"

/*
 * A mapping's first fault maps a window of 16 pages, each further fault
 * one twice as long, from the 16-page block of the fault upwards, or
 * downwards when the fault lies below the last window: a touch of n pages
 * in either direction takes about log2(n / 16) + 1 faults and walks each
 * page table entry once. ilog2() of the longest buffer bounds the order,
 * so that a window's length fits an unsigned long.
 */
#define UDMABUF_FIRST_WINDOW_ORDER	4
#define UDMABUF_MAX_WINDOW_ORDER	ilog2(UDMABUF_MAX_PAGES)

/* What udmabuf_set_pte() needs: the VMA, and where its frames come from. */
struct udmabuf_pte_fill {
	struct vm_area_struct *vma;
	struct udmabuf_frame_iter *frames;
};

/*
 * One PTE of a stretch, under its page table's lock: what vmf_insert_pfn()
 * would write (a special entry with the VMA's protection, the frames being
 * ordinary write-back RAM), and nothing where an entry is already. The
 * frame is the iterator's next, whichever run it comes from.
 */
static int udmabuf_set_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct udmabuf_pte_fill *fill = data;
	unsigned long pfn;

	if (!udmabuf_frame_iter_next(fill->frames, &pfn))
		return -EFAULT;
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
 * @frames: the iterator that gives their frames, one page at a time
 *
 * One walk and one page-table lock for the stretch, where
 * vmf_insert_pfn() would take them for every page, and the frames may
 * come from any number of runs (a list of scattered pages). Behind a
 * KUnit static stub so that tests can make a chosen address fail.
 *
 * Return: 0, -ENOMEM when a page table cannot be allocated (the pages
 * before it may be mapped), or -EFAULT when @frames ends before the
 * stretch (the pages it gave are mapped).
 */
VISIBLE_IF_KUNIT int udmabuf_insert_ptes(struct vm_area_struct *vma,
					 unsigned long addr,
					 unsigned long nr_pages,
					 struct udmabuf_frame_iter *frames)
{
	struct udmabuf_pte_fill fill = { .vma = vma, .frames = frames };

	KUNIT_STATIC_STUB_REDIRECT(udmabuf_insert_ptes, vma, addr, nr_pages,
				   frames);
	return apply_to_page_range(vma->vm_mm, addr, nr_pages << PAGE_SHIFT,
				   udmabuf_set_pte, &fill);
}

/* Pages from @addr to the next PMD boundary or @end, whichever is first. */
static pgoff_t udmabuf_pages_to_boundary(unsigned long addr,
					 unsigned long end)
{
	return (min(ALIGN(addr + 1, PMD_SIZE), end) - addr) >> PAGE_SHIFT;
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

/* The buffer page that @addr of @vma shows. */
static pgoff_t udmabuf_vma_pgoff(struct vm_area_struct *vma,
				 unsigned long addr)
{
	return vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
}

#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
/*
 * Whether the PMD-sized block at @addr, a PMD boundary, is one the huge
 * fault handler maps with a leaf: wholly inside @vma, its pages one run of
 * contiguous frames aligned as @addr is; if it is, *@pfn is its first
 * frame. It depends only on where the VMA lies and what the buffer holds,
 * never on THP settings that a racing thread may change: the prefault
 * leaves exactly these blocks alone, so it never meets a leaf, and the
 * huge fault handler never puts one where the prefault may be filling
 * PTEs. Most blocks asked about are not leaf blocks: the frame of their
 * first page, unaligned, rules them out before their run (up to a PMD's
 * pages, a slice each for 4 KiB folios) is walked.
 */
static bool udmabuf_leaf_block_at(struct vm_area_struct *vma,
				  unsigned long addr, unsigned long *pfn)
{
	const struct udmabuf *ubuf = vma->vm_private_data;
	struct udmabuf_pfn_run run;
	pgoff_t len;

	if (addr < vma->vm_start || addr + PMD_SIZE > vma->vm_end)
		return false;
	udmabuf_pfn_run_start(&run, &ubuf->slices, udmabuf_vma_pgoff(vma, addr),
			      PMD_SIZE >> PAGE_SHIFT, 0);
	if (!IS_ALIGNED(udmabuf_pfn_run_peek(&run), PMD_SIZE >> PAGE_SHIFT))
		return false;
	return udmabuf_pfn_run_next(&run, pfn, &len) &&
	       udmabuf_map_order(addr, *pfn, len, BIT(PMD_ORDER)) == PMD_ORDER;
}

/*
 * If the page at @addr lies in a leaf block, step @frames over the @count
 * pages from there: whatever the window, the block as a whole decides.
 */
static bool udmabuf_skip_leaf_block(struct vm_area_struct *vma,
				    unsigned long addr,
				    struct udmabuf_frame_iter *frames,
				    pgoff_t count)
{
	unsigned long pfn;

	if (!udmabuf_leaf_block_at(vma, ALIGN_DOWN(addr, PMD_SIZE), &pfn))
		return false;
	udmabuf_frame_iter_skip(frames, count);
	return true;
}

/*
 * If the block at @block, a PMD boundary, is a leaf block, map its pages
 * with PTEs (its PMD entry is a page table by now: huge entries were
 * refused, or a write found the leaf read-only) and say so.
 */
static bool udmabuf_map_leaf_block(struct vm_area_struct *vma,
				   unsigned long block)
{
	const struct udmabuf *ubuf = vma->vm_private_data;
	struct udmabuf_frame_iter frames;
	unsigned long pfn;

	if (!udmabuf_leaf_block_at(vma, block, &pfn))
		return false;
	udmabuf_frame_iter_start(&frames, &ubuf->slices,
				 udmabuf_vma_pgoff(vma, block),
				 PMD_SIZE >> PAGE_SHIFT);
	udmabuf_insert_ptes(vma, block, PMD_SIZE >> PAGE_SHIFT, &frames);
	return true;
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
	unsigned long pfn;

	if (!udmabuf_vma_fits(vma, vma->vm_private_data))
		return VM_FAULT_SIGBUS;
	if (order != PMD_ORDER ||
	    !udmabuf_leaf_block_at(vma, addr, &pfn) ||
	    !pmd_none(pmdp_get_lockless(vmf->pmd)))
		return VM_FAULT_FALLBACK;
	if ((vmf->flags & FAULT_FLAG_WRITE) &&
	    !pmd_write(pfn_pmd(pfn, vma->vm_page_prot)))
		return VM_FAULT_FALLBACK;
	return vmf_insert_pfn_pmd(vmf, __pfn_to_pfn_t(pfn, PFN_DEV), false);
}
#else
static bool udmabuf_skip_leaf_block(struct vm_area_struct *vma,
				    unsigned long addr,
				    struct udmabuf_frame_iter *frames,
				    pgoff_t count)
{
	return false;
}

static bool udmabuf_map_leaf_block(struct vm_area_struct *vma,
				   unsigned long block)
{
	return false;
}

static vm_fault_t udmabuf_fault_table(struct vm_fault *vmf)
{
	return 0;
}
#endif

/*
 * Map every page from @start to @end of @vma outside leaf blocks with PTEs,
 * a PMD's range at a time, the leaf blocks being the huge fault handler's.
 * A resched point and a fatal-signal check come at each PMD boundary, so a
 * window of gigabytes does not hold the CPU, however its runs are cut. A
 * stretch that cannot be mapped ends the walk: it and those after it are
 * left for later faults.
 */
static void udmabuf_prefault(struct vm_area_struct *vma, unsigned long start,
			     unsigned long end)
{
	const struct udmabuf *ubuf = vma->vm_private_data;
	unsigned long addr = start, pfn;
	struct udmabuf_frame_iter frames;
	pgoff_t count, len;

	udmabuf_frame_iter_start(&frames, &ubuf->slices,
				 udmabuf_vma_pgoff(vma, start),
				 (end - start) >> PAGE_SHIFT);
	while (addr < end && udmabuf_frame_iter_peek(&frames, &pfn, &len)) {
		count = udmabuf_pages_to_boundary(addr, end);
		if (!udmabuf_skip_leaf_block(vma, addr, &frames, count) &&
		    udmabuf_insert_ptes(vma, addr, count, &frames))
			return;
		addr += count << PAGE_SHIFT;
		if (fatal_signal_pending(current))
			return;
		cond_resched();
	}
}

/*
 * The window of the fault at @addr: 2^order pages from the 16-page block
 * that holds it (counted from the VMA's start), upwards, or downwards to
 * the block's end when @addr lies below where the last window started, cut
 * to the VMA. The order and the last window's start come from the
 * buffer's hints, which the fault updates for the next one: windows
 * double, and a touch in either direction maps each page once.
 */
static void udmabuf_map_window(struct vm_area_struct *vma, unsigned long addr)
{
	struct udmabuf *ubuf = vma->vm_private_data;
	unsigned int order = clamp_t(unsigned int, READ_ONCE(ubuf->fault_order),
				     UDMABUF_FIRST_WINDOW_ORDER,
				     UDMABUF_MAX_WINDOW_ORDER);
	unsigned long block = PAGE_SIZE << UDMABUF_FIRST_WINDOW_ORDER;
	unsigned long size = PAGE_SIZE << order;
	unsigned long start, end;

	WRITE_ONCE(ubuf->fault_order,
		   min_t(unsigned int, order + 1, UDMABUF_MAX_WINDOW_ORDER));
	if (addr < READ_ONCE(ubuf->fault_start)) {
		end = vma->vm_start + ALIGN(addr + 1 - vma->vm_start, block);
		end = min(end, vma->vm_end);
		start = end - vma->vm_start > size ? end - size : vma->vm_start;
	} else {
		start = vma->vm_start + ALIGN_DOWN(addr - vma->vm_start, block);
		end = vma->vm_end - start > size ? start + size : vma->vm_end;
	}
	WRITE_ONCE(ubuf->fault_start, start);
	udmabuf_prefault(vma, start, end);
}

/*
 * After the faulting page, the rest: inside a leaf block, that block's
 * pages only; elsewhere the fault's window outside leaf blocks.
 */
static void udmabuf_map_around(struct vm_area_struct *vma, unsigned long addr)
{
	if (!udmabuf_map_leaf_block(vma, ALIGN_DOWN(addr, PMD_SIZE)))
		udmabuf_map_window(vma, addr);
}

/*
 * The buffer's memory is pinned for its whole life, so there is nothing to
 * fault in lazily. A fault maps the faulting page, then the pages of its
 * window outside leaf blocks as a best effort: the first fault of a
 * mapping costs about what one page's does, touching all of it takes a
 * number of faults that grows with the logarithm of its size, page tables
 * are built only where a window reached, and only the faulting page can
 * fail the access. A fault inside a leaf block comes here where huge
 * entries are refused (MADV_NOHUGEPAGE, PR_SET_THP_DISABLE), where a
 * write found the block's leaf read-only, or after a racing fault: it
 * maps that block's pages, the PMD entry being a page table by then, and
 * leaves the other leaf blocks to their own faults.
 */
static vm_fault_t udmabuf_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct udmabuf *ubuf = vma->vm_private_data;
	struct udmabuf_pfn_run run;
	vm_fault_t ret;

	if (!udmabuf_vma_fits(vma, ubuf))
		ret = VM_FAULT_SIGBUS;
	else
		ret = udmabuf_fault_table(vmf);
	if (ret)
		return ret;

	udmabuf_pfn_run_start(&run, &ubuf->slices, vmf->pgoff, 1, 1);
	ret = vmf_insert_pfn(vma, vmf->address, udmabuf_pfn_run_peek(&run));
	if (ret == VM_FAULT_NOPAGE)
		udmabuf_map_around(vma, vmf->address);
	return ret;
}

/* Without PMD leaves for PFN mappings, the core never asks for a block. */
static const struct vm_operations_struct udmabuf_vm_ops = {
	.fault = udmabuf_vm_fault,
#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
	.huge_fault = udmabuf_vm_huge_fault,
#endif
};

/**
 * udmabuf_mmap - the dma-buf's mmap operation
 * @dmabuf: the buffer's dma-buf
 * @vma: the new VMA, inside the buffer (the dma-buf core checks it)
 *
 * The pages are mapped by the fault handlers, the next fault's window set
 * to the first one's. The dma-buf file has no get_unmapped_area(), so the
 * kernel places a mapping page-aligned only, and huge entries fit only
 * where the address is as aligned as the frames. A caller that wants them
 * maps at a 2 MiB boundary it reserved::
 *
 *	area = mmap(NULL, size + SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
 *	buf = mmap(ALIGN(area, SZ_2M), size, prot, MAP_SHARED | MAP_FIXED, fd, 0);
 *
 * Return: 0, or -EINVAL for a private mapping.
 */
int udmabuf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct udmabuf *ubuf = dmabuf->priv;

	/* A private mapping would copy pages on write: not the buffer. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;

	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &udmabuf_vm_ops;
	vma->vm_private_data = ubuf;
	WRITE_ONCE(ubuf->fault_order, UDMABUF_FIRST_WINDOW_ORDER);
	WRITE_ONCE(ubuf->fault_start, 0);
	return 0;
}
