/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A udmabuf's pages as an array of struct page and as sg tables: pure
 * helpers over its folio slices.
 */
#ifndef _UDMABUF_SGT_H
#define _UDMABUF_SGT_H

#include <linux/types.h>

#include "udmabuf-slices.h"

struct page;
struct sg_table;

struct page **udmabuf_slices_pages(const struct udmabuf_slices *slices);
int udmabuf_slices_to_sgt(const struct udmabuf_slices *slices,
			  struct sg_table *sgt, size_t max_segment,
			  unsigned long boundary_mask);
int udmabuf_slices_to_frames_sgt(const struct udmabuf_slices *slices,
				 struct sg_table *sgt, size_t max_segment,
				 unsigned long boundary_mask);

#endif /* _UDMABUF_SGT_H */
