// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf: dma-bufs made of ranges of sealed memfds (shmem or hugetlb).
 *
 * The memory of a buffer is pinned when the buffer is made and stays
 * pinned until it is released. Which memory that is lives in folio slices
 * (udmabuf-slices.c); this file is the glue between those, the misc
 * device's ioctls and the dma-buf operations.
 */

#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/cleanup.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
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
#include <linux/scatterlist.h>
#include <linux/shmem_fs.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/udmabuf.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "udmabuf-kunit.h"
#include "udmabuf-slices.h"

static int list_limit = 1024;
module_param(list_limit, int, 0644);
MODULE_PARM_DESC(list_limit, "Most items one UDMABUF_CREATE_LIST may name (default 1024)");

static int size_limit_mb = 64;
module_param(size_limit_mb, int, 0644);
MODULE_PARM_DESC(size_limit_mb, "Largest buffer, in MiB (default 64)");

/*
 * Folios asked of memfd_pin_folios() per call, on the stack. A multiple of
 * the folio batch it looks folios up with: a call that stops inside a
 * lookup batch drops the rest of it, and the next call looks them up again.
 */
#define UDMABUF_PIN_BATCH	(2 * PAGEVEC_SIZE)

static struct miscdevice udmabuf_misc;

static u64 udmabuf_max_pages(void)
{
	int mb = READ_ONCE(size_limit_mb);

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

static struct sg_table *udmabuf_map_sgt(struct udmabuf *ubuf,
					struct device *dev,
					enum dma_data_direction dir,
					unsigned long attrs)
{
	struct sg_table *sgt;
	int ret;

	sgt = kzalloc(sizeof(*sgt), GFP_KERNEL);
	if (!sgt)
		return ERR_PTR(-ENOMEM);

	ret = udmabuf_slices_to_sgt(&ubuf->slices, sgt,
				    dma_max_mapping_size(dev));
	if (ret)
		goto free_sgt;

	ret = udmabuf_dma_map(dev, sgt, dir, attrs);
	if (ret)
		goto free_table;
	return sgt;

free_table:
	sg_free_table(sgt);
free_sgt:
	kfree(sgt);
	return ERR_PTR(ret);
}

static void udmabuf_unmap_sgt(struct device *dev, struct sg_table *sgt,
			      enum dma_data_direction dir, unsigned long attrs)
{
	dma_unmap_sgtable(dev, sgt, dir, attrs);
	sg_free_table(sgt);
	kfree(sgt);
}

static struct sg_table *
udmabuf_map_dma_buf(struct dma_buf_attachment *attach,
		    enum dma_data_direction dir)
{
	return udmabuf_map_sgt(attach->dmabuf->priv, attach->dev, dir, 0);
}

static void udmabuf_unmap_dma_buf(struct dma_buf_attachment *attach,
				  struct sg_table *sgt,
				  enum dma_data_direction dir)
{
	udmabuf_unmap_sgt(attach->dev, sgt, dir, 0);
}

/*
 * The buffer's memory is pinned for its whole life, so there is nothing to
 * fault in lazily: the first fault maps every page of the VMA, and touching
 * all of it costs one fault instead of one per page.
 */
static vm_fault_t udmabuf_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct udmabuf *ubuf = vma->vm_private_data;
	unsigned long addr = vma->vm_start;
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len, i;
	vm_fault_t ret;

	udmabuf_pfn_run_start(&run, &ubuf->slices, vma->vm_pgoff,
			      vma_pages(vma), 0);
	while (udmabuf_pfn_run_next(&run, &pfn, &len)) {
		for (i = 0; i < len; i++, addr += PAGE_SIZE) {
			ret = vmf_insert_pfn(vma, addr, pfn + i);
			if (ret != VM_FAULT_NOPAGE)
				return ret;
		}
		cond_resched();
	}
	return VM_FAULT_NOPAGE;
}

static const struct vm_operations_struct udmabuf_vm_ops = {
	.fault = udmabuf_vm_fault,
};

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
 * The misc device only brackets CPU access with cache syncs, so it gets
 * its DMA mask when the first bracket needs one. Without a mask (no DMA
 * API) brackets fail; mmap, vmap and importers work all the same.
 */
static void udmabuf_set_dma_mask(void)
{
	int ret = dma_coerce_mask_and_coherent(udmabuf_misc.this_device,
					       DMA_BIT_MASK(64));

	if (ret)
		pr_warn("udmabuf: no DMA mask (%d), CPU access syncs fail\n",
			ret);
}

/*
 * Both ends of a CPU access bracket sync the caches through one mapping
 * for the misc device, made by the first begin and kept until release. It
 * is bidirectional, so any later bracket may sync through it.
 */
static int udmabuf_cpu_access(struct dma_buf *dmabuf,
			      enum dma_data_direction dir, bool begin)
{
	struct udmabuf *ubuf = dmabuf->priv;
	struct device *dev = udmabuf_misc.this_device;
	struct sg_table *sgt;

	guard(mutex)(&ubuf->cpu_sgt_lock);
	if (!ubuf->cpu_sgt) {
		if (!begin)
			return -EINVAL;
		DO_ONCE_SLEEPABLE(udmabuf_set_dma_mask);
		sgt = udmabuf_map_sgt(ubuf, dev, DMA_BIDIRECTIONAL,
				      DMA_ATTR_SKIP_CPU_SYNC);
		if (IS_ERR(sgt))
			return PTR_ERR(sgt);
		ubuf->cpu_sgt = sgt;
	}
	if (begin)
		dma_sync_sgtable_for_cpu(dev, ubuf->cpu_sgt, dir);
	else
		dma_sync_sgtable_for_device(dev, ubuf->cpu_sgt, dir);
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
	struct udmabuf *ubuf = kzalloc(sizeof(*ubuf), GFP_KERNEL);

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
		udmabuf_unmap_sgt(udmabuf_misc.this_device, ubuf->cpu_sgt,
				  DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
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

/* Pin @nr_pages pages of @memfd from @start, appending them to @ubuf. */
static int udmabuf_pin_range(struct udmabuf *ubuf, struct file *memfd,
			     loff_t start, u32 nr_pages, u32 max_slices)
{
	struct folio *batch[UDMABUF_PIN_BATCH];
	loff_t last = start + ((loff_t)nr_pages << PAGE_SHIFT) - 1;

	while (nr_pages) {
		u32 before = ubuf->slices.nr_pages;
		pgoff_t offset;
		u32 taken;
		long nr;
		int ret;

		nr = udmabuf_pin_folios(memfd, start, last, batch,
					ARRAY_SIZE(batch), &offset);
		if (nr <= 0)
			return nr ? nr : -EINVAL;

		ret = udmabuf_slices_reserve(&ubuf->slices,
					     udmabuf_slices_estimate(batch, nr,
								     offset,
								     nr_pages),
					     max_slices);
		if (ret) {
			unpin_folios(batch, nr);
			return ret;
		}

		taken = udmabuf_slices_append(&ubuf->slices, batch, nr, offset,
					      nr_pages);
		unpin_folios(batch + taken, nr - taken);

		nr_pages -= ubuf->slices.nr_pages - before;
		start += (loff_t)(ubuf->slices.nr_pages - before) << PAGE_SHIFT;
	}
	return 0;
}

static int udmabuf_pin_item(struct udmabuf *ubuf,
			    const struct udmabuf_create_item *item,
			    u32 max_slices)
{
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
	ret = udmabuf_check_seals(memfd_fcntl(memfd, F_GET_SEALS, 0));
	if (!ret && item->offset + item->size > i_size_read(inode))
		ret = -EINVAL;
	if (!ret)
		ret = udmabuf_pin_range(ubuf, memfd, item->offset,
					item->size >> PAGE_SHIFT, max_slices);
	inode_unlock_shared(inode);
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
 * range. On any failure all pins taken so far are dropped and nothing is
 * left allocated.
 *
 * Return: the new dma-buf, or an ERR_PTR(): -EINVAL for a bad range, bad
 * seals or too large a buffer, -EBADFD for a descriptor that is not a
 * shmem or hugetlb memfd, -ENOMEM, or the pin's error.
 */
VISIBLE_IF_KUNIT struct dma_buf *
udmabuf_create_dmabuf(const struct udmabuf_create_item *items, u32 count)
{
	struct dma_buf *dmabuf;
	struct udmabuf *ubuf;
	u32 nr_pages, i;
	int ret;

	ret = udmabuf_count_pages(items, count, udmabuf_max_pages(), &nr_pages);
	if (ret)
		return ERR_PTR(ret);

	ubuf = udmabuf_alloc();
	if (!ubuf)
		return ERR_PTR(-ENOMEM);

	for (i = 0; i < count; i++) {
		ret = udmabuf_pin_item(ubuf, &items[i], nr_pages);
		if (ret)
			goto free;
	}
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
	limit = READ_ONCE(list_limit);
	if (!head->count || limit < 0 || head->count > limit)
		return ERR_PTR(-EINVAL);
	return memdup_array_user(list->list, head->count, sizeof(*single));
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
		kfree(items);
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
