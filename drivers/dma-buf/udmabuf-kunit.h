/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What udmabuf.c shares with its KUnit suite: the buffer structure, and
 * functions that are static unless CONFIG_KUNIT is enabled.
 */
#ifndef _UDMABUF_KUNIT_H
#define _UDMABUF_KUNIT_H

#include <linux/dma-direction.h>
#include <linux/mutex.h>
#include <linux/types.h>

#include "udmabuf-slices.h"

/**
 * struct udmabuf - the exporter's side of one buffer
 * @slices: the pinned memory, in buffer order
 * @cpu_sgt: mapping for the misc device, made on the first CPU access
 *	bracket and kept until release, so begin/end can sync caches
 * @cpu_sgt_lock: serialises making @cpu_sgt and syncing through it
 */
struct udmabuf {
	struct udmabuf_slices slices;
	struct sg_table *cpu_sgt;
	struct mutex cpu_sgt_lock; /* guards cpu_sgt */
};

#if IS_ENABLED(CONFIG_KUNIT)

struct device;
struct dma_buf;
struct file;
struct folio;
struct sg_table;
struct udmabuf_create_item;

long udmabuf_pin_folios(struct file *memfd, loff_t start, loff_t end,
			struct folio **folios, unsigned int max_folios,
			pgoff_t *offset);
int udmabuf_dma_map(struct device *dev, struct sg_table *sgt,
		    enum dma_data_direction dir, unsigned long attrs);
struct dma_buf *udmabuf_export(struct udmabuf *ubuf);
struct dma_buf *udmabuf_create_dmabuf(const struct udmabuf_create_item *items,
				      u32 count);
long udmabuf_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* CONFIG_KUNIT */

#endif /* _UDMABUF_KUNIT_H */
