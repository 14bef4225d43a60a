// SPDX-License-Identifier: GPL-2.0
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

/*
 * udmabuf: the dma-buf side of a buffer. Importers get sg tables of its
 * pages; the CPU access brackets sync the caches through a mapping for
 * the buffer's device, and sync the importers' mappings; vmap() maps its
 * pages into the kernel.
 */

#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/cleanup.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/once.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/swiotlb.h>
#include <linux/vmalloc.h>

#include "udmabuf.h"

static struct device_dma_parameters udmabuf_dma_parms;

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

/*
 * Fills @sgt with the buffer's pages, cut to @dev's segment limits: in
 * buffer order, or (@each_page_once) each page once, in frame order.
 */
static int udmabuf_fill_sgt(struct udmabuf *ubuf, struct device *dev,
			    struct sg_table *sgt, bool each_page_once)
{
	size_t max_segment = min_t(size_t, dma_get_max_seg_size(dev),
				   dma_max_mapping_size(dev));

	/* Every segment holds a whole page of the buffer (0: no limit). */
	if ((max_segment && max_segment < PAGE_SIZE) ||
	    dma_get_seg_boundary(dev) < PAGE_SIZE - 1)
		return -EINVAL;

	/*
	 * The segment limit is the device's (64 KiB where it has no DMA
	 * parameters); the mapping size limit (swiotlb's) applies to each
	 * segment, as each is bounced on its own.
	 */
	if (each_page_once)
		return udmabuf_slices_to_frames_sgt(&ubuf->slices, sgt,
						    max_segment,
						    dma_get_seg_boundary(dev));
	return udmabuf_slices_to_sgt(&ubuf->slices, sgt, max_segment,
				     dma_get_seg_boundary(dev));
}

static void udmabuf_free_sgt(struct sg_table *sgt)
{
	sg_free_table(sgt);
	kfree(sgt);
}

/**
 * struct udmabuf_mapping - an importer's mapping of a buffer
 * @sgt: the table the importer got
 * @dir: the direction it was mapped in
 *
 * An attachment's priv while it is mapped, under the buffer's reservation
 * lock, which CPU access brackets take to sync it. One per attachment:
 * with cache_sgt_mapping the core maps an attachment once and unmaps it
 * at detach.
 */
struct udmabuf_mapping {
	struct sg_table sgt;
	enum dma_data_direction dir;
};

/*
 * Importers' mappings are synced as streaming DMA mappings are: for the
 * device once made, for the CPU before they are undone (at detach), and
 * both ways around each CPU access bracket (udmabuf_sync_importers()).
 * That is what keeps a device that works on swiotlb's bounce copies (a
 * confidential guest's, or one whose mask cannot reach the pages) in step
 * with the pages. The map and unmap themselves skip the sync and it is
 * done apart: the DMA-API debugger reports a syncing mapping of cachelines
 * that another mapping holds, and a buffer's pages may be mapped for
 * several devices, or several times in one buffer, at once.
 */
static struct sg_table *
udmabuf_map_dma_buf(struct dma_buf_attachment *attach,
		    enum dma_data_direction dir)
{
	struct udmabuf_mapping *mapping;
	int ret;

	mapping = kzalloc(sizeof(*mapping), GFP_KERNEL_ACCOUNT);
	if (!mapping)
		return ERR_PTR(-ENOMEM);
	ret = udmabuf_fill_sgt(attach->dmabuf->priv, attach->dev, &mapping->sgt,
			       false);
	if (ret)
		goto free_mapping;
	ret = udmabuf_dma_map(attach->dev, &mapping->sgt, dir,
			      DMA_ATTR_SKIP_CPU_SYNC);
	if (ret)
		goto free_table;
	dma_sync_sgtable_for_device(attach->dev, &mapping->sgt, dir);
	mapping->dir = dir;
	attach->priv = mapping;
	return &mapping->sgt;

free_table:
	sg_free_table(&mapping->sgt);
free_mapping:
	kfree(mapping);
	return ERR_PTR(ret);
}

static void udmabuf_unmap_dma_buf(struct dma_buf_attachment *attach,
				  struct sg_table *sgt,
				  enum dma_data_direction dir)
{
	struct udmabuf_mapping *mapping = container_of(sgt, typeof(*mapping),
						       sgt);

	attach->priv = NULL;
	dma_sync_sgtable_for_cpu(attach->dev, sgt, dir);
	dma_unmap_sgtable(attach->dev, sgt, dir, DMA_ATTR_SKIP_CPU_SYNC);
	sg_free_table(sgt);
	kfree(mapping);
}

/*
 * Syncs each importer's mapping for a CPU access bracket, in the direction
 * it was mapped in (the DMA-API debugger reports a sync in another): for
 * the CPU at a begin, unless the bracket only writes; for the devices at an
 * end, unless it only read. A write-only begin that copied a device's
 * bounce copy back would undo the writes of other brackets in progress; a
 * read-only end has nothing of the CPU's to pass on. Bounce copies are
 * whole: where several mapped devices may write, a begin copies back each
 * one's in turn and the last one wins, and a begin that reads copies over
 * what brackets still open wrote.
 */
static void udmabuf_sync_importers(struct dma_buf *dmabuf,
				   enum dma_data_direction dir, bool begin)
{
	struct dma_buf_attachment *attach;

	if (dir == (begin ? DMA_TO_DEVICE : DMA_FROM_DEVICE))
		return;
	dma_resv_lock(dmabuf->resv, NULL);
	list_for_each_entry(attach, &dmabuf->attachments, node) {
		struct udmabuf_mapping *mapping = attach->priv;

		if (!mapping)
			continue;
		if (begin)
			dma_sync_sgtable_for_cpu(attach->dev, &mapping->sgt,
						 mapping->dir);
		else
			dma_sync_sgtable_for_device(attach->dev, &mapping->sgt,
						    mapping->dir);
	}
	dma_resv_unlock(dmabuf->resv);
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
 * The buffers' device, the misc device that every buffer shares, maps
 * them only to sync caches around CPU access, so it gets its DMA setup
 * once, when the first bracket needs it: a 64-bit mask, and segments as
 * long as an sg entry holds (without DMA parameters a device takes
 * 64 KiB). Without a mask (no DMA API on the architecture) there is
 * nothing to sync through: brackets do nothing, once the warning below is
 * out; mmap, vmap and importers work all the same.
 */
static void udmabuf_setup_dma(struct device *dev)
{
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
 * Under the DMA-API debugger, one mapping of the buffers' device at a time:
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
 * @dev: the buffers' device, with its DMA setup done
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

/* Map @sgt for @dev, sync it one way, unmap it. */
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
 * the buffer's device that lasts only as long as the sync, so that the
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
	struct device *dev = ubuf->dev;
	struct sg_table *sgt;
	int ret;

	guard(mutex)(&ubuf->cpu_sgt_lock);
	if (!begin && !ubuf->cpu_begun)
		return -EINVAL;
	DO_ONCE_SLEEPABLE(udmabuf_setup_dma, dev);
	if (!udmabuf_cpu_sync_needed(dev) || (begin && dir == DMA_TO_DEVICE)) {
		ubuf->cpu_begun = true;
		return 0;
	}
	if (!begin && dir == DMA_FROM_DEVICE)
		dir = DMA_TO_DEVICE;

	sgt = ubuf->cpu_sgt;
	if (!sgt) {
		sgt = kzalloc(sizeof(*sgt), GFP_KERNEL_ACCOUNT);
		if (!sgt)
			return -ENOMEM;
		ret = udmabuf_fill_sgt(ubuf, dev, sgt, true);
		if (ret) {
			kfree(sgt);
			return ret;
		}
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

/*
 * A begin waits for the devices' work that the reservation tracks, as
 * dma_buf_begin_cpu_access() does after it, but before the syncs: a device
 * that has not finished has not finished writing its bounce copy, nor the
 * pages whose cachelines the misc device's sync invalidates.
 */
static int udmabuf_begin_cpu_access(struct dma_buf *dmabuf,
				    enum dma_data_direction dir)
{
	long ret;

	ret = dma_resv_wait_timeout(dmabuf->resv,
				    dma_resv_usage_rw(dir == DMA_BIDIRECTIONAL ||
						      dir == DMA_TO_DEVICE),
				    true, MAX_SCHEDULE_TIMEOUT);
	if (ret < 0)
		return ret;
	ret = udmabuf_cpu_access(dmabuf, dir, true);
	if (!ret)
		udmabuf_sync_importers(dmabuf, dir, true);
	return ret;
}

static int udmabuf_end_cpu_access(struct dma_buf *dmabuf,
				  enum dma_data_direction dir)
{
	int ret = udmabuf_cpu_access(dmabuf, dir, false);

	if (!ret)
		udmabuf_sync_importers(dmabuf, dir, false);
	return ret;
}

/**
 * udmabuf_alloc - a new buffer, without memory yet
 * @dev: the device its CPU access brackets map it for
 *
 * Return: the buffer, or NULL when it cannot be allocated.
 */
struct udmabuf *udmabuf_alloc(struct device *dev)
{
	struct udmabuf *ubuf = kzalloc(sizeof(*ubuf), GFP_KERNEL_ACCOUNT);

	if (!ubuf)
		return NULL;
	ubuf->dev = dev;
	mutex_init(&ubuf->cpu_sgt_lock);
	return ubuf;
}

/**
 * udmabuf_free - drop a buffer's pins and free it
 * @ubuf: a buffer from udmabuf_alloc() that no dma-buf owns, its slices
 *	possibly only partly pinned
 */
void udmabuf_free(struct udmabuf *ubuf)
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
 * udmabuf_export - wrap a fully pinned buffer in a dma-buf
 * @ubuf: the buffer; the dma-buf owns it on success
 *
 * Behind a KUnit static stub so that tests can make the export fail.
 *
 * Return: the dma-buf, or an ERR_PTR() with @ubuf still the caller's.
 */
struct dma_buf *udmabuf_export(struct udmabuf *ubuf)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);

	KUNIT_STATIC_STUB_REDIRECT(udmabuf_export, ubuf);

	info.ops = &udmabuf_ops;
	info.size = (size_t)ubuf->slices.nr_pages << PAGE_SHIFT;
	info.flags = O_RDWR;
	info.priv = ubuf;
	return dma_buf_export(&info);
}
