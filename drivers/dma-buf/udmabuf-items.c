// SPDX-License-Identifier: GPL-2.0
/*
 * The checks of a create request that need no file: item sizes and
 * offsets, the buffer's size, ranges that continue each other, and the
 * seals a memfd must carry.
 */

#include <linux/fcntl.h>
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/udmabuf.h>

#include "udmabuf-items.h"
#include "udmabuf-slices.h"

/* Seals a memfd must carry, and seals it must not carry. */
#define UDMABUF_SEALS_REQUIRED	F_SEAL_SHRINK
#define UDMABUF_SEALS_REFUSED	(F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)

/**
 * udmabuf_count_pages - check the items of a create request and count pages
 * @items: the requested ranges
 * @count: entries in @items
 * @max_pages: the most pages one buffer may have
 * @total: set to the pages of all items, when they pass
 *
 * Every item needs a non-zero, page-aligned size and a page-aligned offset
 * whose end fits in a file offset. Nothing is looked up or allocated, so a
 * refused request costs nothing to undo.
 *
 * Return: 0, or -EINVAL for no items, a bad item or too many pages.
 */
int udmabuf_count_pages(const struct udmabuf_create_item *items, u32 count,
			u64 max_pages, u32 *total)
{
	u64 pages = 0, end;
	u32 i;

	if (!count)
		return -EINVAL;

	max_pages = min_t(u64, max_pages, UDMABUF_MAX_PAGES);
	for (i = 0; i < count; i++) {
		if (!items[i].size || !PAGE_ALIGNED(items[i].size) ||
		    !PAGE_ALIGNED(items[i].offset))
			return -EINVAL;
		if (check_add_overflow(items[i].offset, items[i].size, &end) ||
		    end > LLONG_MAX)
			return -EINVAL;

		pages += items[i].size >> PAGE_SHIFT;
		if (pages > max_pages)
			return -EINVAL;
	}
	*total = pages;
	return 0;
}

/**
 * udmabuf_item_run - one range for the items that continue each other
 * @items: the requested ranges, checked by udmabuf_count_pages()
 * @count: entries in @items
 * @first: the item the range starts with
 * @range: set to one item covering @items[@first] and each later item
 *	that goes on from where the range ends, in the same descriptor
 *
 * The planes of a frame, or a list split at page granularity, name
 * adjacent ranges of one memfd: as one range they are looked up, checked
 * and pinned once instead of once per item. Each item's end fits in a
 * file offset, so neither does the range's overflow.
 *
 * Return: the index after the last item in @range.
 */
u32 udmabuf_item_run(const struct udmabuf_create_item *items, u32 count,
		     u32 first, struct udmabuf_create_item *range)
{
	u32 next = first + 1;

	*range = items[first];
	while (next < count && items[next].memfd == range->memfd &&
	       items[next].offset == range->offset + range->size) {
		range->size += items[next].size;
		next++;
	}
	return next;
}

/**
 * udmabuf_check_seals - may a memfd with these seals back a buffer?
 * @seals: what F_GET_SEALS returned for the file, or a -errno from it
 *
 * The file must not shrink under the buffer (F_SEAL_SHRINK), and it must
 * stay writable through a shared mapping, which F_SEAL_WRITE and
 * F_SEAL_FUTURE_WRITE would forbid.
 *
 * Return: 0; -EBADFD when @seals is an error (not a memfd); -EINVAL when
 * the seals do not fit.
 */
int udmabuf_check_seals(int seals)
{
	if (seals < 0)
		return -EBADFD;
	if ((seals & UDMABUF_SEALS_REQUIRED) != UDMABUF_SEALS_REQUIRED ||
	    (seals & UDMABUF_SEALS_REFUSED))
		return -EINVAL;
	return 0;
}
