// SPDX-License-Identifier: GPL-2.0
/*
 * Folio slices: the bookkeeping behind a udmabuf, kept free of files,
 * ioctls and dma-buf objects so that KUnit can drive every edge of it.
 */

#include <kunit/visibility.h>
#include <linux/fcntl.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/udmabuf.h>

#include "udmabuf-slices.h"

/* Seals a memfd must carry, and seals it must not carry. */
#define UDMABUF_SEALS_REQUIRED	F_SEAL_SHRINK
#define UDMABUF_SEALS_REFUSED	(F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)

/* Longest sg segment we build: what an unsigned int length can hold. */
#define UDMABUF_MAX_SEGMENT	((size_t)UINT_MAX & PAGE_MASK)

/**
 * udmabuf_slices_reserve - make room for more slices
 * @slices: the slices of a buffer
 * @count: slices about to be appended
 * @max_slices: the most slices the buffer can ever need; growth by
 *	doubling stops there
 *
 * Grows the array geometrically, so that appending a buffer's slices in
 * batches costs amortised O(1) per slice. The array never grows past what
 * kvmalloc() can give.
 *
 * Return: 0, or -ENOMEM with @slices unchanged.
 */
int udmabuf_slices_reserve(struct udmabuf_slices *slices, u32 count,
			   u32 max_slices)
{
	const u64 max_capacity = UDMABUF_MAX_ALLOC / sizeof(*slices->slice);
	struct udmabuf_slice *grown;
	u64 wanted = (u64)slices->nr_slices + count;
	u64 capacity, limit;

	if (wanted <= slices->capacity)
		return 0;
	if (wanted > max_capacity)
		return -ENOMEM;

	limit = clamp_t(u64, max_slices, wanted, max_capacity);
	capacity = clamp_t(u64, (u64)slices->capacity * 2, wanted, limit);
	grown = kvrealloc(slices->slice, array_size(capacity, sizeof(*grown)),
			  UDMABUF_GFP);
	if (!grown)
		return -ENOMEM;

	slices->slice = grown;
	slices->capacity = capacity;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_reserve);

/**
 * udmabuf_slices_estimate - slices the rest of a range will need
 * @folios: the folios just pinned at the start of the rest
 * @nr_folios: entries in @folios, at least one
 * @first_offset: byte offset of the rest inside @folios[0]
 * @nr_pages: pages the rest of the range has
 *
 * Assumes the folios still to come are no smaller than the smallest of
 * @folios, so that the slices of a range whose folios are alike are
 * reserved in one allocation, of the right size.
 *
 * Return: the estimate, never less than @nr_folios.
 */
u32 udmabuf_slices_estimate(struct folio **folios, u32 nr_folios,
			    size_t first_offset, u32 nr_pages)
{
	unsigned long smallest = ULONG_MAX;
	u64 pages = (u64)(first_offset >> PAGE_SHIFT) + nr_pages;
	u32 i;

	for (i = 0; i < nr_folios; i++)
		smallest = min_t(unsigned long, smallest,
				 folio_nr_pages(folios[i]));
	return max_t(u64, nr_folios, DIV_ROUND_UP_ULL(pages, smallest));
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_estimate);

/*
 * Fill @slice with @folio from its page @folio_pgoff, holding a pin, at
 * buffer page @buf_pgoff. Return: the pages it holds, at most @max_pages.
 */
static __always_inline u32 udmabuf_slice_fill(struct udmabuf_slice *slice,
					      struct folio *folio,
					      u32 folio_pgoff, u32 buf_pgoff,
					      u32 max_pages)
{
	*slice = (struct udmabuf_slice) {
		.folio = folio,
		.folio_pgoff = folio_pgoff,
		.pinned = 1,
		.buf_pgoff = buf_pgoff,
	};
	return min_t(unsigned long, max_pages,
		     folio_nr_pages(folio) - folio_pgoff);
}

/**
 * udmabuf_slices_append - append pinned folios to a buffer
 * @slices: the slices of a buffer, with room reserved
 * @folios: folios in file order, each holding one pin, as memfd_pin_folios()
 *	returns them
 * @nr_folios: entries in @folios
 * @first_offset: byte offset of the range inside @folios[0]
 * @max_pages: pages the range still needs
 *
 * Each folio taken becomes one slice and hands its pin to it; a folio that
 * other slices already hold is left to udmabuf_slices_dedup(). The page
 * count grows with every slice stored, so it always matches what the
 * slices hold. The walk stops when @max_pages pages are stored or the
 * reserved room is full.
 *
 * Return: how many folios were taken, from the start of @folios. The
 * caller still owns the pins of the rest.
 */
u32 udmabuf_slices_append(struct udmabuf_slices *slices,
			  struct folio **folios, u32 nr_folios,
			  size_t first_offset, u32 max_pages)
{
	struct udmabuf_slice *first = &slices->slice[slices->nr_slices];
	struct udmabuf_slice *slice = first, *end;
	u32 buf_pgoff = slices->nr_pages;
	u32 pages;

	end = first + min(nr_folios, slices->capacity - slices->nr_slices);
	if (slice == end || !max_pages)
		return 0;

	/*
	 * Only the first folio can start inside the range; the loop has the
	 * rest, from their page 0. Counts in locals: a store to a slice
	 * could alias @slices' fields.
	 */
	pages = udmabuf_slice_fill(slice++, *folios++, first_offset >> PAGE_SHIFT,
				   buf_pgoff, max_pages);
	for (;;) {
		buf_pgoff += pages;
		max_pages -= pages;
		if (slice == end || !max_pages)
			break;
		pages = udmabuf_slice_fill(slice++, *folios++, 0, buf_pgoff,
					   max_pages);
	}
	slices->nr_slices += slice - first;
	slices->nr_pages = buf_pgoff;
	return slice - first;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_append);

/**
 * udmabuf_slices_trim - give back the room no slice uses
 * @slices: the slices of a buffer, all appended
 *
 * Moves the slices into an array of their exact size, so that a buffer
 * keeps no slack from the doubling in udmabuf_slices_reserve(). When that
 * allocation fails the larger array is kept: nothing is lost but memory.
 */
void udmabuf_slices_trim(struct udmabuf_slices *slices)
{
	struct udmabuf_slice *exact;

	if (slices->capacity == slices->nr_slices)
		return;

	exact = kvmalloc_array(slices->nr_slices, sizeof(*exact), UDMABUF_GFP);
	if (!exact)
		return;

	memcpy(exact, slices->slice, slices->nr_slices * sizeof(*exact));
	kvfree(slices->slice);
	slices->slice = exact;
	slices->capacity = slices->nr_slices;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_trim);

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

/* Keep the pin of slice @index, or give it back if its folio has one. */
static void udmabuf_folio_set_add(struct udmabuf_slices *slices,
				  struct udmabuf_folio_set *set, u32 index)
{
	struct udmabuf_slice *slice = &slices->slice[index];
	u32 mask = (1U << set->bits) - 1;
	u32 h = hash_ptr(slice->folio, set->bits);

	for (; set->slot[h]; h = (h + 1) & mask) {
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

/**
 * udmabuf_slices_dedup - keep one pin per distinct folio
 * @slices: the slices of a buffer, all appended, each holding its pin
 * @extents: where each create item's pages went, one per item; possibly
 *	sorted by file and first page on return
 * @count: entries in @extents
 *
 * One item never pins a folio twice (memfd_pin_folios() returns each folio
 * of a range once), so only items of the same file can share folios: where
 * their page ranges overlap, and where one ends and the next begins inside
 * one folio. Every slice but the first of a folio gives its pin back and
 * clears its @pinned bit. A list that names one page 1,024 times then
 * holds one pin on it, not 1,024.
 *
 * Small items (at most two slices each on average, as QEMU's one-page
 * items are) are all first or last slices: each slice's folio goes into a
 * hash set. Larger items are sorted by file and first page, if they are
 * not already: items that do not overlap can only share a folio with
 * their neighbour, which one pass compares; otherwise only the slices
 * that overlaps and boundaries can share go into the set.
 *
 * Return: 0, or -ENOMEM with every pin still held by its slice.
 */
int udmabuf_slices_dedup(struct udmabuf_slices *slices,
			 struct udmabuf_extent *extents, u32 count)
{
	struct udmabuf_folio_set set;
	bool small = slices->nr_slices <= 2ULL * count;
	u32 i, n = slices->nr_slices;

	if (count < 2)
		return 0;

	if (!small) {
		if (!udmabuf_extents_sorted(extents, count))
			sort(extents, count, sizeof(*extents),
			     udmabuf_extent_cmp, NULL);
		if (udmabuf_extents_disjoint(extents, count)) {
			for (i = 1; i < count; i++) {
				const struct udmabuf_extent *prev =
					&extents[i - 1];
				struct udmabuf_slice *first =
					&slices->slice[extents[i].slice];

				if (prev->mapping == extents[i].mapping &&
				    first->folio == slices->slice[prev->slice +
						prev->nr_slices - 1].folio) {
					unpin_folio(first->folio);
					first->pinned = 0;
				}
			}
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
			cond_resched();
		}
	} else {
		udmabuf_dedup_walk(slices, extents, count, &set);
	}
	kvfree(set.slot);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_dedup);

/**
 * udmabuf_slices_release - unpin every slice's folio and free the array
 * @slices: the slices of a buffer, possibly only partly appended or
 *	deduplicated
 *
 * Unpins the folio of every slice that holds a pin, so each pin taken is
 * dropped exactly once. Leaves @slices empty.
 */
void udmabuf_slices_release(struct udmabuf_slices *slices)
{
	struct udmabuf_slice *slice = slices->slice;
	struct udmabuf_slice *end = slice + slices->nr_slices, *stop;

	/* A resched point per page table's worth, not per folio. */
	while (slice < end) {
		stop = slice + min_t(size_t, end - slice, PTRS_PER_PTE);
		for (; slice < stop; slice++)
			if (slice->pinned)
				unpin_folio(slice->folio);
		cond_resched();
	}

	kvfree(slices->slice);
	*slices = (struct udmabuf_slices) { };
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_release);

/**
 * udmabuf_slices_find - find the slice that holds a buffer page
 * @slices: the slices of a buffer
 * @page: a buffer page, below @slices->nr_pages
 *
 * A binary search: O(log slices), however far into the buffer @page is.
 *
 * Return: the index of the slice holding @page.
 */
u32 udmabuf_slices_find(const struct udmabuf_slices *slices, pgoff_t page)
{
	u32 low = 0, high = slices->nr_slices - 1;

	while (low < high) {
		u32 mid = low + (high - low + 1) / 2;

		if (slices->slice[mid].buf_pgoff <= page)
			low = mid;
		else
			high = mid - 1;
	}
	return low;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_find);

static unsigned long udmabuf_slice_pfn(const struct udmabuf_slices *slices,
				       u32 index, pgoff_t page)
{
	const struct udmabuf_slice *slice = &slices->slice[index];

	return folio_pfn(slice->folio) + slice->folio_pgoff +
	       (page - slice->buf_pgoff);
}

/**
 * udmabuf_pfn_run_start - start walking a page range by contiguous runs
 * @run: the cursor to set up
 * @slices: the slices of a buffer
 * @first: first buffer page of the range
 * @count: pages in the range; @first + @count must not pass the buffer end
 * @max_pages: longest run to hand out, in pages (0: no limit)
 */
void udmabuf_pfn_run_start(struct udmabuf_pfn_run *run,
			   const struct udmabuf_slices *slices,
			   pgoff_t first, pgoff_t count, pgoff_t max_pages)
{
	run->slices = slices;
	run->index = count ? udmabuf_slices_find(slices, first) : 0;
	run->page = first;
	run->end = first + count;
	run->max_pages = max_pages ?: ULONG_MAX;
	run->left = 0;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_pfn_run_start);

/**
 * udmabuf_pfn_run_next - the next run of physically contiguous pages
 * @run: a cursor from udmabuf_pfn_run_start()
 * @pfn: set to the run's first page frame
 * @nr_pages: set to the run's length in pages
 *
 * Slices whose frames follow each other (neighbouring folios, or two list
 * items that continue inside the same folio) merge into one run, up to
 * @run->max_pages pages.
 *
 * Return: true with a run, false once the range is walked.
 */
bool udmabuf_pfn_run_next(struct udmabuf_pfn_run *run, unsigned long *pfn,
			  pgoff_t *nr_pages)
{
	const struct udmabuf_slices *slices = run->slices;
	unsigned long first;
	pgoff_t len = 0;

	if (run->page >= run->end)
		return false;

	first = udmabuf_slice_pfn(slices, run->index, run->page);
	do {
		const struct udmabuf_slice *slice = &slices->slice[run->index];
		pgoff_t slice_end = slice->buf_pgoff +
				    udmabuf_slice_nr_pages(slices, run->index);
		pgoff_t take;

		if (udmabuf_slice_pfn(slices, run->index, run->page) !=
		    first + len)
			break;

		take = min(slice_end, run->end) - run->page;
		if (take > run->max_pages - len)
			take = run->max_pages - len;
		len += take;
		run->page += take;
		if (run->page == slice_end)
			run->index++;
	} while (run->page < run->end && len < run->max_pages);

	*pfn = first;
	*nr_pages = len;
	return true;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_pfn_run_next);

/**
 * udmabuf_pfn_run_peek - the next frame, page by page across runs
 * @run: a cursor from udmabuf_pfn_run_start()
 * @pfn: set to the frame of the next page
 * @nr_pages: set to how many pages from there on are contiguous
 *
 * For walks that take a page or a block at a time and step on with
 * udmabuf_pfn_run_skip(): the current run is kept in the cursor and the
 * next one read when it is used up. Do not mix with udmabuf_pfn_run_next()
 * on the same cursor.
 *
 * Return: true with a frame, false once the range is walked.
 */
bool udmabuf_pfn_run_peek(struct udmabuf_pfn_run *run, unsigned long *pfn,
			  pgoff_t *nr_pages)
{
	if (!run->left &&
	    !udmabuf_pfn_run_next(run, &run->pfn, &run->left))
		return false;
	*pfn = run->pfn;
	*nr_pages = run->left;
	return true;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_pfn_run_peek);

/**
 * udmabuf_map_order - the largest block one page-table entry can map next
 * @addr: user address of the next page to map
 * @pfn: the frame that page shows
 * @nr_pages: pages from @addr on that show contiguous frames from @pfn
 *	(and lie inside the VMA)
 * @orders: the block orders the caller can map besides single pages, as a
 *	bitmask (BIT(PMD_ORDER) and BIT(PUD_ORDER) on most architectures)
 *
 * A block of order N is 2^N pages under one entry: the address and the
 * frame must both be aligned to its size, and the run must hold all of it.
 * The virtual and physical offsets inside a block must agree, which is why
 * a buffer whose runs start at odd frames, or a mapping at an odd address,
 * falls back to single pages.
 *
 * Return: the highest order in @orders that fits, or 0 for a single page.
 */
unsigned int udmabuf_map_order(unsigned long addr, unsigned long pfn,
			       pgoff_t nr_pages, unsigned long orders)
{
	unsigned long page = addr >> PAGE_SHIFT;

	while (orders) {
		unsigned int order = __fls(orders);
		unsigned long block = 1UL << order;

		if (block <= nr_pages && IS_ALIGNED(page, block) &&
		    IS_ALIGNED(pfn, block))
			return order;
		orders &= ~block;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_map_order);

/**
 * udmabuf_slices_pages - the struct page of every buffer page, in order
 * @slices: the slices of a buffer, at least one
 *
 * For vmap(): each entry is the page at its own frame (pfn_to_page() of
 * the folio's frame plus the offset), never a folio's head page for all.
 *
 * Return: a kvmalloc'd array of @slices->nr_pages pages (kvfree() it),
 * or NULL when it cannot be allocated (quietly, however large it is).
 */
struct page **udmabuf_slices_pages(const struct udmabuf_slices *slices)
{
	struct udmabuf_pfn_run run;
	struct page **pages;
	unsigned long pfn;
	pgoff_t len, i;
	u32 n = 0;

	pages = kvmalloc_array(slices->nr_pages, sizeof(*pages), UDMABUF_GFP);
	if (!pages)
		return NULL;

	udmabuf_pfn_run_start(&run, slices, 0, slices->nr_pages, 0);
	while (udmabuf_pfn_run_next(&run, &pfn, &len)) {
		for (i = 0; i < len; i++)
			pages[n++] = pfn_to_page(pfn + i);
		cond_resched();
	}
	return pages;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_pages);

/*
 * Cut @len pages from frame @pfn into sg segments of at most @max_pages
 * pages that cross no multiple of @span pages (a power of two). Fill them
 * in from *@sg on, or only count them when *@sg is NULL.
 */
static unsigned int udmabuf_sgt_cut(unsigned long pfn, pgoff_t len,
				    pgoff_t max_pages, unsigned long span,
				    struct scatterlist **sg)
{
	unsigned int nents = 0;
	pgoff_t seg;

	for (; len; len -= seg, pfn += seg, nents++) {
		seg = min3(len, max_pages, span - (pfn & (span - 1)));
		if (*sg) {
			sg_set_page(*sg, pfn_to_page(pfn), seg << PAGE_SHIFT, 0);
			*sg = sg_next(*sg);
		}
	}
	return nents;
}

/* The buffer's runs in buffer order, cut into segments (see above). */
static unsigned int udmabuf_sgt_walk(const struct udmabuf_slices *slices,
				     pgoff_t max_pages, unsigned long span,
				     struct scatterlist *sg)
{
	struct udmabuf_pfn_run run;
	unsigned int nents = 0;
	unsigned long pfn;
	pgoff_t len;

	udmabuf_pfn_run_start(&run, slices, 0, slices->nr_pages, 0);
	while (udmabuf_pfn_run_next(&run, &pfn, &len)) {
		nents += udmabuf_sgt_cut(pfn, len, max_pages, span, &sg);
		cond_resched();
	}
	return nents;
}

/* Segment limits as udmabuf_slices_to_sgt() documents them, in pages. */
static void udmabuf_sgt_limits(size_t max_segment, unsigned long boundary_mask,
			       pgoff_t *max_pages, unsigned long *span)
{
	if (!max_segment || max_segment > UDMABUF_MAX_SEGMENT)
		max_segment = UDMABUF_MAX_SEGMENT;
	*max_pages = max_t(pgoff_t, max_segment >> PAGE_SHIFT, 1);
	*span = (boundary_mask >> PAGE_SHIFT) + 1;
}

/**
 * udmabuf_slices_to_sgt - describe a whole buffer in an sg table
 * @slices: the slices of a buffer, at least one
 * @sgt: the table to allocate and fill
 * @max_segment: longest segment in bytes, as dma_get_max_seg_size() gives
 *	it; 0 or more than an sg entry can hold means the most an sg entry
 *	can hold, less than a page means a page
 * @boundary_mask: a segment may not cross a multiple of @boundary_mask + 1
 *	bytes (dma_get_seg_boundary()); masks below a page count as a page
 *
 * One entry per physically contiguous run of pages, not one per page,
 * unless the device's limits cut a run. The table is not DMA-mapped: the
 * boundary is checked on physical addresses, which is where a direct
 * mapping puts the DMA addresses too.
 *
 * Return: 0, or -errno from sg_alloc_table() with nothing allocated.
 */
int udmabuf_slices_to_sgt(const struct udmabuf_slices *slices,
			  struct sg_table *sgt, size_t max_segment,
			  unsigned long boundary_mask)
{
	unsigned long span;
	pgoff_t max_pages;
	int ret;

	udmabuf_sgt_limits(max_segment, boundary_mask, &max_pages, &span);
	ret = sg_alloc_table(sgt, udmabuf_sgt_walk(slices, max_pages, span,
						   NULL), UDMABUF_GFP);
	if (ret)
		return ret;

	udmabuf_sgt_walk(slices, max_pages, span, sgt->sgl);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_to_sgt);

struct udmabuf_frames {
	unsigned long pfn;
	pgoff_t nr_pages;
};

static int udmabuf_frames_cmp(const void *a, const void *b)
{
	const struct udmabuf_frames *x = a, *y = b;

	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/*
 * Sort @nr runs of frames, at least one, and merge those that overlap or
 * touch, in place. Return: how many runs are left.
 */
static u32 udmabuf_frames_merge(struct udmabuf_frames *frames, u32 nr)
{
	struct udmabuf_frames *last = frames;
	u32 i;

	sort(frames, nr, sizeof(*frames), udmabuf_frames_cmp, NULL);
	for (i = 1; i < nr; i++) {
		unsigned long end = frames[i].pfn + frames[i].nr_pages;

		if (frames[i].pfn <= last->pfn + last->nr_pages)
			last->nr_pages = max(last->nr_pages, end - last->pfn);
		else
			*++last = frames[i];
	}
	return last - frames + 1;
}

/* @nr runs of frames cut into segments, as udmabuf_sgt_walk() does. */
static unsigned int udmabuf_frames_walk(const struct udmabuf_frames *frames,
					u32 nr, pgoff_t max_pages,
					unsigned long span,
					struct scatterlist *sg)
{
	unsigned int nents = 0;
	u32 i;

	for (i = 0; i < nr; i++)
		nents += udmabuf_sgt_cut(frames[i].pfn, frames[i].nr_pages,
					 max_pages, span, &sg);
	return nents;
}

/**
 * udmabuf_slices_to_frames_sgt - every page of a buffer once, by frame
 * @slices: the slices of a buffer, at least one, after
 *	udmabuf_slices_dedup()
 * @sgt: the table to allocate and fill
 * @max_segment: as for udmabuf_slices_to_sgt()
 * @boundary_mask: as for udmabuf_slices_to_sgt()
 *
 * For syncing the caches over the buffer: each page appears once, however
 * often the buffer names it, so that a mapping of the table maps no
 * cacheline twice. Where no folio is in two slices (no slice without its
 * pin), no page can repeat, and this is udmabuf_slices_to_sgt(); else the
 * runs are sorted by frame and merged.
 *
 * Return: 0, or -ENOMEM with nothing allocated.
 */
int udmabuf_slices_to_frames_sgt(const struct udmabuf_slices *slices,
				 struct sg_table *sgt, size_t max_segment,
				 unsigned long boundary_mask)
{
	struct udmabuf_frames *frames;
	struct udmabuf_pfn_run run;
	unsigned long span;
	pgoff_t max_pages;
	u32 i, nr = 0;
	int ret;

	for (i = 0; i < slices->nr_slices && slices->slice[i].pinned; i++)
		;
	if (i == slices->nr_slices)
		return udmabuf_slices_to_sgt(slices, sgt, max_segment,
					     boundary_mask);

	/* Runs merge slices, so there are no more runs than slices. */
	frames = kvmalloc_array(slices->nr_slices, sizeof(*frames),
				UDMABUF_GFP);
	if (!frames)
		return -ENOMEM;
	udmabuf_pfn_run_start(&run, slices, 0, slices->nr_pages, 0);
	while (udmabuf_pfn_run_next(&run, &frames[nr].pfn,
				    &frames[nr].nr_pages)) {
		nr++;
		cond_resched();
	}
	nr = udmabuf_frames_merge(frames, nr);

	udmabuf_sgt_limits(max_segment, boundary_mask, &max_pages, &span);
	ret = sg_alloc_table(sgt, udmabuf_frames_walk(frames, nr, max_pages,
						      span, NULL), UDMABUF_GFP);
	if (!ret)
		udmabuf_frames_walk(frames, nr, max_pages, span, sgt->sgl);
	kvfree(frames);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(udmabuf_slices_to_frames_sgt);

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
EXPORT_SYMBOL_IF_KUNIT(udmabuf_count_pages);

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
EXPORT_SYMBOL_IF_KUNIT(udmabuf_item_run);

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
EXPORT_SYMBOL_IF_KUNIT(udmabuf_check_seals);
