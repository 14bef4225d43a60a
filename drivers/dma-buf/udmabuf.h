/* SPDX-License-Identifier: GPL-2.0 */
/*
 * udmabuf: what the driver's files share, and what its KUnit suites reach.
 *
 * udmabuf-main.c	the parameters, the ioctls and the misc device; a
 *			create is count, fill, pin, export
 * udmabuf-pin.c	pinning the memfd ranges of a request
 * udmabuf-dmabuf.c	the dma-buf: importers, CPU access, vmap, export
 * udmabuf-mmap.c	mmap: the fault handlers and the page-table fill
 *
 * The pure helpers they build on have headers of their own.
 */
#ifndef _UDMABUF_H
#define _UDMABUF_H

#include <linux/dma-direction.h>
#include <linux/mutex.h>
#include <linux/types.h>

#include "udmabuf-items.h"
#include "udmabuf-sgt.h"
#include "udmabuf-slices.h"

struct device;
struct dma_buf;
struct file;
struct folio;
struct sg_table;
struct vm_area_struct;

/**
 * struct udmabuf - the exporter's side of one buffer
 * @slices: the pinned memory, in buffer order
 * @dev: the device that CPU access brackets map the buffer for: the misc
 *	device, the same for every buffer (its DMA parameters are set once,
 *	at the first bracket) and registered for the driver's whole life,
 *	which no buffer outlives: no reference is held
 * @cpu_sgt: the sg table a CPU access bracket maps for @dev while it
 *	syncs; made by the first begin, kept (unmapped) until release
 * @cpu_begun: a CPU access bracket has begun once, so an end is valid
 * @cpu_sgt_lock: serialises the misc device's syncs of the buffer's CPU
 *	access brackets (their syncs of importers' mappings run under the
 *	buffer's reservation lock)
 * @fault_order: the order of the window of pages that the next fault on
 *	a mapping of the buffer maps; each mmap() sets it to the first
 *	window's, each such fault raises it
 * @fault_start: where the last such window started: a fault below it maps
 *	its window downwards; each mmap() clears it. Both are hints shared
 *	by all the buffer's mappings, read and written without a lock: a
 *	race only makes a window smaller, larger or turned from what it
 *	would have been.
 */
struct udmabuf {
	struct udmabuf_slices slices;
	struct device *dev;
	struct sg_table *cpu_sgt;
	bool cpu_begun;
	struct mutex cpu_sgt_lock; /* guards cpu_sgt and cpu_begun */
	unsigned int fault_order;
	unsigned long fault_start;
};

/* udmabuf-pin.c */
int udmabuf_pin_items(struct udmabuf *ubuf,
		      const struct udmabuf_create_item *items, u32 count,
		      u32 nr_pages);
#if IS_ENABLED(CONFIG_HUGETLBFS)
int udmabuf_fill_holes(const struct udmabuf_create_item *items, u32 count);
#else
static inline int udmabuf_fill_holes(const struct udmabuf_create_item *items,
				     u32 count)
{
	return 0;
}
#endif

/* udmabuf-dmabuf.c */
struct udmabuf *udmabuf_alloc(struct device *dev);
void udmabuf_free(struct udmabuf *ubuf);
struct dma_buf *udmabuf_export(struct udmabuf *ubuf);

/* udmabuf-mmap.c */
int udmabuf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma);

#if IS_ENABLED(CONFIG_KUNIT)
/*
 * Static unless CONFIG_KUNIT is enabled (VISIBLE_IF_KUNIT): the suites set
 * the parameters, call the entry points and stub the calls that no
 * allocation failure can make fail.
 */

/* udmabuf-main.c */
extern int udmabuf_list_limit;
extern int udmabuf_size_limit_mb;
struct dma_buf *udmabuf_create_dmabuf(const struct udmabuf_create_item *items,
				      u32 count);
long udmabuf_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* udmabuf-pin.c */
long udmabuf_pin_folios(struct file *memfd, loff_t start, loff_t end,
			struct folio **folios, unsigned int max_folios,
			pgoff_t *offset);

/* udmabuf-dmabuf.c */
int udmabuf_dma_map(struct device *dev, struct sg_table *sgt,
		    enum dma_data_direction dir, unsigned long attrs);
bool udmabuf_cpu_sync_needed(struct device *dev);

/* udmabuf-mmap.c */
int udmabuf_insert_ptes(struct vm_area_struct *vma, unsigned long addr,
			unsigned long nr_pages,
			struct udmabuf_frame_iter *frames);

#endif /* CONFIG_KUNIT */

#endif /* _UDMABUF_H */
