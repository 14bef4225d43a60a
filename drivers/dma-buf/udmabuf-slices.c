// SPDX-License-Identifier: GPL-2.0
/*
 * Folio slices: the storage behind a udmabuf (reserve, append, trim,
 * release), the lookup of a buffer page, the walks over its frames (runs
 * of contiguous frames, or one page at a time), and the largest
 * page-table leaf a run of frames allows at an address.
 */

#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "udmabuf-slices.h"

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

/*
 * Fill @slice with @folio from its page @folio_pgoff, holding a pin, at
 * buffer page @buf_pgoff. Return: the pages it holds, at most @max_pages.
 */
static u32 udmabuf_slice_fill(struct udmabuf_slice *slice,
			      struct folio *folio, u32 folio_pgoff,
			      u32 buf_pgoff, u32 max_pages)
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
	u32 folio_pgoff = first_offset >> PAGE_SHIFT;
	u32 pages;

	end = first + min(nr_folios, slices->capacity - slices->nr_slices);
	/* Only the first folio can start inside the range. */
	for (; slice < end && max_pages; slice++, folio_pgoff = 0) {
		pages = udmabuf_slice_fill(slice, *folios++, folio_pgoff,
					   buf_pgoff, max_pages);
		buf_pgoff += pages;
		max_pages -= pages;
	}
	slices->nr_slices += slice - first;
	slices->nr_pages = buf_pgoff;
	return slice - first;
}

/**
 * udmabuf_slices_append_shared - append pages of a folio another slice pins
 * @slices: the slices of a buffer, with room for one more reserved
 * @folio: a folio that a slice of @slices holds the pin of
 * @folio_pgoff: the first page of the new slice inside @folio
 * @nr_pages: the pages of the new slice, all inside @folio
 *
 * For an item that names pages the buffer already pins: its slice points
 * at the folio without a pin of its own, so udmabuf_slices_dedup() and
 * udmabuf_slices_release() pass it by.
 */
void udmabuf_slices_append_shared(struct udmabuf_slices *slices,
				  struct folio *folio, u32 folio_pgoff,
				  u32 nr_pages)
{
	struct udmabuf_slice *slice = &slices->slice[slices->nr_slices++];

	slices->nr_pages += udmabuf_slice_fill(slice, folio, folio_pgoff,
					       slices->nr_pages, nr_pages);
	slice->pinned = 0;
}

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

/* Inlined: a run's walk calls it twice for each slice it passes. */
static __always_inline unsigned long
udmabuf_slice_pfn(const struct udmabuf_slices *slices, u32 index, pgoff_t page)
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
}

/**
 * udmabuf_pfn_run_peek - the frame the next run starts at, without its walk
 * @run: a cursor from udmabuf_pfn_run_start() with pages left to visit
 *
 * What udmabuf_pfn_run_next() would give in *@pfn, in constant time: a
 * caller that wants only runs starting at an aligned frame can rule out
 * the others before a run of many slices is walked.
 *
 * Return: the frame of @run's next page.
 */
unsigned long udmabuf_pfn_run_peek(const struct udmabuf_pfn_run *run)
{
	return udmabuf_slice_pfn(run->slices, run->index, run->page);
}

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

/**
 * udmabuf_frame_iter_start - start walking a page range page by page
 * @iter: the iterator to set up
 * @slices: the slices of a buffer
 * @first: first buffer page of the range
 * @count: pages in the range; @first + @count must not pass the buffer end
 */
void udmabuf_frame_iter_start(struct udmabuf_frame_iter *iter,
			      const struct udmabuf_slices *slices,
			      pgoff_t first, pgoff_t count)
{
	udmabuf_pfn_run_start(&iter->runs, slices, first, count, 0);
	iter->pfn = 0;
	iter->left = 0;
}

/**
 * udmabuf_frame_iter_peek - the frame of the next page, without a step
 * @iter: an iterator from udmabuf_frame_iter_start()
 * @pfn: set to the frame of the next page
 * @nr_pages: set to how many pages from there on have contiguous frames
 *	(the rest of the current run), at least one
 *
 * Return: true with a frame, false once the range is walked.
 */
bool udmabuf_frame_iter_peek(struct udmabuf_frame_iter *iter,
			     unsigned long *pfn, pgoff_t *nr_pages)
{
	if (!iter->left &&
	    !udmabuf_pfn_run_next(&iter->runs, &iter->pfn, &iter->left))
		return false;
	*pfn = iter->pfn;
	*nr_pages = iter->left;
	return true;
}

/**
 * udmabuf_frame_iter_skip - step over pages, across runs
 * @iter: an iterator from udmabuf_frame_iter_start()
 * @count: pages to step over; a count past the end of the range ends the
 *	walk
 */
void udmabuf_frame_iter_skip(struct udmabuf_frame_iter *iter, pgoff_t count)
{
	unsigned long pfn;
	pgoff_t len;

	while (count && udmabuf_frame_iter_peek(iter, &pfn, &len)) {
		if (len > count)
			len = count;
		iter->pfn += len;
		iter->left -= len;
		count -= len;
	}
}

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
