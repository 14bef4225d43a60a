/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The checks of a udmabuf create request that need no file: pure helpers
 * over its items and a memfd's seals.
 */
#ifndef _UDMABUF_ITEMS_H
#define _UDMABUF_ITEMS_H

#include <linux/types.h>

struct udmabuf_create_item;

int udmabuf_count_pages(const struct udmabuf_create_item *items, u32 count,
			u64 max_pages, u32 *total);
u32 udmabuf_item_run(const struct udmabuf_create_item *items, u32 count,
		     u32 first, struct udmabuf_create_item *range);
int udmabuf_check_seals(int seals);

#endif /* _UDMABUF_ITEMS_H */
