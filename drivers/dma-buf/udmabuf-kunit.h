/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What udmabuf-main.c shares with its KUnit suite: functions and parameters
 * that are static unless CONFIG_KUNIT is enabled.
 */
#ifndef _UDMABUF_KUNIT_H
#define _UDMABUF_KUNIT_H

#include <linux/dma-direction.h>
#include <linux/mm_types.h>
#include <linux/types.h>

#if IS_ENABLED(CONFIG_KUNIT)

struct device;
struct dma_buf;
struct file;
struct folio;
struct sg_table;
struct udmabuf;
struct udmabuf_create_item;
struct udmabuf_pfn_run;

extern int udmabuf_list_limit;
extern int udmabuf_size_limit_mb;

long udmabuf_pin_folios(struct file *memfd, loff_t start, loff_t end,
			struct folio **folios, unsigned int max_folios,
			pgoff_t *offset);
int udmabuf_insert_ptes(struct vm_area_struct *vma, unsigned long addr,
			unsigned long nr_pages, struct udmabuf_pfn_run *frames);
int udmabuf_dma_map(struct device *dev, struct sg_table *sgt,
		    enum dma_data_direction dir, unsigned long attrs);
bool udmabuf_cpu_sync_needed(struct device *dev);
struct dma_buf *udmabuf_export(struct udmabuf *ubuf);
struct dma_buf *udmabuf_create_dmabuf(const struct udmabuf_create_item *items,
				      u32 count);
long udmabuf_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* CONFIG_KUNIT */

#endif /* _UDMABUF_KUNIT_H */
