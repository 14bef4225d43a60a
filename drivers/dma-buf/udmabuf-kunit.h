/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What udmabuf.c shows its KUnit suite, and nobody else: these functions
 * are static unless CONFIG_KUNIT is enabled.
 */
#ifndef _UDMABUF_KUNIT_H
#define _UDMABUF_KUNIT_H

#if IS_ENABLED(CONFIG_KUNIT)

#include <linux/types.h>

struct dma_buf;
struct file;
struct folio;
struct udmabuf;
struct udmabuf_create_item;

long udmabuf_pin_folios(struct file *memfd, loff_t start, loff_t end,
			struct folio **folios, unsigned int max_folios,
			pgoff_t *offset);
struct udmabuf *udmabuf_alloc(void);
struct dma_buf *udmabuf_export(struct udmabuf *ubuf);
struct dma_buf *udmabuf_create_dmabuf(const struct udmabuf_create_item *items,
				      u32 count);
long udmabuf_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* CONFIG_KUNIT */

#endif /* _UDMABUF_KUNIT_H */
