// SPDX-License-Identifier: GPL-2.0
/*
 * Folio slices: one pin per distinct folio, however many create items of
 * a buffer name it.
 */

#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "udmabuf-slices.h"

/* Slices the hash set takes between two resched points. */
#define UDMABUF_DEDUP_RESCHED	512

static int udmabuf_extent_cmp(const void *a, const void *b)
{
	const struct udmabuf_extent *x = a, *y = b;

	if (x->mapping != y->mapping)
		return x->mapping < y->mapping ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * The folios seen so far, each by the slice that keeps its pin: an open
 * addressing table of slice indices plus one (0 is an empty slot).
 */
struct udmabuf_folio_set {
	u32 *slot;
	unsigned int bits;
};

/*
 * Keep the pin of slice @index, or give it back if its folio has one. A
 * slice without a pin shares one that another slice keeps: it is passed by.
 */
static void udmabuf_folio_set_add(struct udmabuf_slices *slices,
				  struct udmabuf_folio_set *set, u32 index)
{
	struct udmabuf_slice *slice = &slices->slice[index];
	u32 mask = (1U << set->bits) - 1;
	u32 h;

	if (!slice->pinned)
		return;
	for (h = hash_ptr(slice->folio, set->bits); set->slot[h];
	     h = (h + 1) & mask) {
		if (slices->slice[set->slot[h] - 1].folio == slice->folio) {
			unpin_folio(slice->folio);
			slice->pinned = 0;
			return;
		}
	}
	set->slot[h] = index + 1;
}

/* The slice of @ext that holds page @page of its file. */
static u32 udmabuf_extent_slice(const struct udmabuf_slices *slices,
				const struct udmabuf_extent *ext, u64 page)
{
	return udmabuf_slices_find(slices, slices->slice[ext->slice].buf_pgoff +
				   (page - ext->first));
}

/*
 * Walk @count sorted extents over the slices that may share a folio with
 * another item's slice, adding them to @set, or only count them when @set
 * is NULL. Of one item, those are the slices up to the last page that
 * earlier items of the same file also cover, and from the first page that
 * later ones cover; its first and last slice always, as a folio can
 * straddle the gap between two items.
 */
static u32 udmabuf_dedup_walk(struct udmabuf_slices *slices,
			      const struct udmabuf_extent *extents,
			      u32 count, struct udmabuf_folio_set *set)
{
	u64 covered = 0;
	u32 i, n = 0;

	for (i = 0; i < count; i++) {
		const struct udmabuf_extent *ext = &extents[i];
		u32 last = ext->slice + ext->nr_slices - 1;
		u32 head = ext->slice, tail = last, index;
		u64 next = U64_MAX;

		if (i && extents[i - 1].mapping != ext->mapping)
			covered = 0;
		if (i + 1 < count && extents[i + 1].mapping == ext->mapping)
			next = extents[i + 1].first;

		if (covered > ext->first)
			head = udmabuf_extent_slice(slices, ext,
						    min(covered, ext->end) - 1);
		if (next < ext->end)
			tail = udmabuf_extent_slice(slices, ext,
						    max(next, ext->first));
		if (tail <= head + 1)
			head = last;
		covered = max(covered, ext->end);

		for (index = ext->slice; index <= last; index++, n++) {
			if (index > head && index < tail)
				index = tail;
			if (set)
				udmabuf_folio_set_add(slices, set, index);
		}
		cond_resched();
	}
	return n;
}

/*
 * Whether @count sorted extents have no page in common. Then two of them
 * share a folio only where one ends and the next begins inside it (items
 * between them lie inside that folio too), so comparing each item's first
 * folio with the last of the item before finds every shared one.
 */
static bool udmabuf_extents_disjoint(const struct udmabuf_extent *extents,
				     u32 count)
{
	u32 i;

	for (i = 1; i < count; i++)
		if (extents[i].mapping == extents[i - 1].mapping &&
		    extents[i].first < extents[i - 1].end)
			return false;
	return true;
}

static bool udmabuf_extents_sorted(const struct udmabuf_extent *extents,
				   u32 count)
{
	u32 i;

	for (i = 1; i < count; i++)
		if (udmabuf_extent_cmp(&extents[i - 1], &extents[i]) > 0)
			return false;
	return true;
}

/*
 * Dedup of @count sorted extents that have no page in common: an item can
 * share a folio only with its neighbours, where one ends and the next
 * begins. The first slice of an item gives its pin back only when a slice
 * before it in this order keeps a pin on that folio: a slice that shares
 * the pin of the slice before it in the buffer may come first in file
 * order, ahead of the slice that holds the pin.
 */
static void udmabuf_dedup_neighbours(struct udmabuf_slices *slices,
				     const struct udmabuf_extent *extents,
				     u32 count)
{
	const struct folio *held = NULL, *last = NULL;
	const struct address_space *mapping = NULL;
	u32 i;

	for (i = 0; i < count; i++) {
		const struct udmabuf_extent *ext = &extents[i];
		struct udmabuf_slice *first = &slices->slice[ext->slice];
		struct udmabuf_slice *end =
			&slices->slice[ext->slice + ext->nr_slices - 1];
		bool chained = ext->mapping == mapping && first->folio == last;

		if (chained && held == first->folio && first->pinned) {
			unpin_folio(first->folio);
			first->pinned = 0;
		}
		/* Whether the folio this item ends in keeps a pin so far. */
		if (end->pinned || (end == first && chained && held == last))
			held = end->folio;
		else
			held = NULL;
		mapping = ext->mapping;
		last = end->folio;
	}
}

/**
 * udmabuf_slices_dedup - keep one pin per distinct folio
 * @slices: the slices of a buffer, all appended, each holding its pin or
 *	sharing one that an earlier slice holds
 * @extents: where each range's pages went, one per range of items;
 *	possibly sorted by file and first page on return. NULL when the
 *	items average at most two pages: the slices' folios are then all
 *	compared
 * @count: entries in @extents (ranges, not items)
 *
 * One item never pins a folio twice (memfd_pin_folios() returns each folio
 * of a range once), so only items of the same file can share folios: where
 * their page ranges overlap, and where one ends and the next begins inside
 * one folio. Every slice of a folio but one gives its pin back and clears
 * its @pinned bit; a slice that holds no pin already shares one
 * and is passed by. A list that names one page many times then holds one
 * pin on it.
 *
 * Small items (at most two slices each on average, as QEMU's one-page
 * items are, or without @extents) are all first or last slices: each
 * slice's folio goes into a hash set. Larger items are sorted by file and
 * first page, if they are not already: items that do not overlap can only
 * share a folio with their neighbours, which one pass compares; otherwise
 * only the slices that overlaps and boundaries can share go into the set.
 *
 * Return: 0, or -ENOMEM with every pin still held by its slice.
 */
int udmabuf_slices_dedup(struct udmabuf_slices *slices,
			 struct udmabuf_extent *extents, u32 count)
{
	struct udmabuf_folio_set set;
	bool small = !extents || slices->nr_slices <= 2ULL * count;
	u32 i, n = slices->nr_slices;

	if (count < 2)
		return 0;

	if (!small) {
		if (!udmabuf_extents_sorted(extents, count))
			sort(extents, count, sizeof(*extents),
			     udmabuf_extent_cmp, NULL);
		if (udmabuf_extents_disjoint(extents, count)) {
			udmabuf_dedup_neighbours(slices, extents, count);
			return 0;
		}
		n = udmabuf_dedup_walk(slices, extents, count, NULL);
	}

	/* At most half full: short probes. */
	set.bits = ilog2(roundup_pow_of_two(n)) + 1;
	set.slot = kvcalloc(1UL << set.bits, sizeof(*set.slot), UDMABUF_GFP);
	if (!set.slot)
		return -ENOMEM;
	if (small) {
		for (i = 0; i < n; i++) {
			udmabuf_folio_set_add(slices, &set, i);
			if (!((i + 1) % UDMABUF_DEDUP_RESCHED))
				cond_resched();
		}
	} else {
		udmabuf_dedup_walk(slices, extents, count, &set);
	}
	kvfree(set.slot);
	return 0;
}
