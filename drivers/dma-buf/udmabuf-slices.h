/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Folio slices: how a udmabuf remembers which memory backs it.
 *
 * A buffer is an ordered list of slices. A slice is a run of pages inside
 * one pinned folio. A buffer holds one pin per distinct folio, however many
 * list items name it: one slice of a folio holds the pin, the others only
 * point at it. The metadata grows with the number of folios, not with
 * the number of pages.
 *
 * Pure helpers: no files, ioctls or dma-bufs, so that KUnit can drive
 * every edge of them on folios of its own.
 */
#ifndef _UDMABUF_SLICES_H
#define _UDMABUF_SLICES_H

#include <linux/gfp_types.h>
#include <linux/limits.h>
#include <linux/minmax.h>
#include <linux/types.h>

struct address_space;
struct folio;

/*
 * Page indices are stored as u32, and the byte size of a buffer must fit
 * in a size_t: together these bound the pages of one buffer.
 */
#define UDMABUF_MAX_PAGES	((u32)min_t(u64, U32_MAX, SIZE_MAX >> PAGE_SHIFT))

/*
 * For every allocation whose size the caller of the ioctl chooses: charged
 * to the caller's memory cgroup, quiet when it fails, and failing rather
 * than calling the OOM killer (of the cgroup or of the machine), since a
 * request too large for the memory the caller may use is the caller's
 * error (ENOMEM), not a reason for a warning or for killing a task.
 */
#define UDMABUF_GFP \
	(GFP_KERNEL_ACCOUNT | __GFP_NOWARN | __GFP_RETRY_MAYFAIL)

/* kvmalloc() refuses larger sizes (with a warning, without __GFP_NOWARN). */
#define UDMABUF_MAX_ALLOC	((size_t)INT_MAX)

/**
 * struct udmabuf_slice - a run of pages of one pinned folio
 * @folio: the folio
 * @folio_pgoff: index of the slice's first page inside @folio
 * @pinned: the slice owns the buffer's one pin on @folio
 * @buf_pgoff: index of the slice's first page inside the buffer
 *
 * The slice ends where the next one begins, or at the end of the buffer.
 * A folio has at most 2^18 pages (1 GiB), so @folio_pgoff has bits to
 * spare for @pinned and the slice stays at 16 bytes.
 */
struct udmabuf_slice {
	struct folio *folio;
	u32 folio_pgoff : 31;
	u32 pinned : 1;
	u32 buf_pgoff;
};

/**
 * struct udmabuf_extent - the pages of one create item, once pinned
 * @mapping: the page cache of the item's file
 * @first: the item's first page in the file
 * @end: one past the item's last page in the file
 * @slice: index of the item's first slice in the buffer
 * @nr_slices: slices the item appended, at least one
 *
 * What udmabuf_slices_dedup() needs to find the folios that several items
 * pinned.
 */
struct udmabuf_extent {
	const struct address_space *mapping;
	u64 first;
	u64 end;
	u32 slice;
	u32 nr_slices;
};

/**
 * struct udmabuf_slices - the slices that back one buffer, in buffer order
 * @slice: array of @capacity slices, the first @nr_slices of them in use
 * @nr_slices: slices stored
 * @capacity: slices @slice has room for
 * @nr_pages: pages covered by the stored slices, never more
 */
struct udmabuf_slices {
	struct udmabuf_slice *slice;
	u32 nr_slices;
	u32 capacity;
	u32 nr_pages;
};

/**
 * struct udmabuf_pfn_run - cursor over physically contiguous page runs
 * @slices: the slices walked
 * @index: slice that holds @page
 * @page: next buffer page to visit
 * @end: one past the last buffer page to visit
 * @max_pages: longest run handed out, in pages
 *
 * Set up by udmabuf_pfn_run_start(), read by udmabuf_pfn_run_next().
 */
struct udmabuf_pfn_run {
	const struct udmabuf_slices *slices;
	u32 index;
	pgoff_t page;
	pgoff_t end;
	pgoff_t max_pages;
};

/**
 * struct udmabuf_frame_iter - iterator over the frames of a page range
 * @runs: the runs the frames come from
 * @pfn: frame of the next page, while @left is not 0
 * @left: pages from @pfn on that the current run still holds
 *
 * For walks that take a page or a block at a time, whatever the runs:
 * set up by udmabuf_frame_iter_start(), then read with
 * udmabuf_frame_iter_peek(), udmabuf_frame_iter_skip() and
 * udmabuf_frame_iter_next() only.
 */
struct udmabuf_frame_iter {
	struct udmabuf_pfn_run runs;
	unsigned long pfn;
	pgoff_t left;
};

/**
 * udmabuf_slice_nr_pages - pages in one slice
 * @slices: the slices of a buffer
 * @index: a slice, below @slices->nr_slices
 *
 * Return: the number of buffer pages that slice @index covers.
 */
static inline u32 udmabuf_slice_nr_pages(const struct udmabuf_slices *slices,
					 u32 index)
{
	u32 end = index + 1 < slices->nr_slices ?
		  slices->slice[index + 1].buf_pgoff : slices->nr_pages;

	return end - slices->slice[index].buf_pgoff;
}

int udmabuf_slices_reserve(struct udmabuf_slices *slices, u32 count,
			   u32 max_slices);
u32 udmabuf_slices_estimate(struct folio **folios, u32 nr_folios,
			    size_t first_offset, u32 nr_pages);
u32 udmabuf_slices_append(struct udmabuf_slices *slices,
			  struct folio **folios, u32 nr_folios,
			  size_t first_offset, u32 max_pages);
void udmabuf_slices_append_shared(struct udmabuf_slices *slices,
				  struct folio *folio, u32 folio_pgoff,
				  u32 nr_pages);
void udmabuf_slices_trim(struct udmabuf_slices *slices);
int udmabuf_slices_dedup(struct udmabuf_slices *slices,
			 struct udmabuf_extent *extents, u32 count);
void udmabuf_slices_release(struct udmabuf_slices *slices);

u32 udmabuf_slices_find(const struct udmabuf_slices *slices, pgoff_t page);

void udmabuf_pfn_run_start(struct udmabuf_pfn_run *run,
			   const struct udmabuf_slices *slices,
			   pgoff_t first, pgoff_t count, pgoff_t max_pages);
unsigned long udmabuf_pfn_run_peek(const struct udmabuf_pfn_run *run);
bool udmabuf_pfn_run_next(struct udmabuf_pfn_run *run, unsigned long *pfn,
			  pgoff_t *nr_pages);

void udmabuf_frame_iter_start(struct udmabuf_frame_iter *iter,
			      const struct udmabuf_slices *slices,
			      pgoff_t first, pgoff_t count);
bool udmabuf_frame_iter_peek(struct udmabuf_frame_iter *iter,
			     unsigned long *pfn, pgoff_t *nr_pages);
void udmabuf_frame_iter_skip(struct udmabuf_frame_iter *iter, pgoff_t count);

/**
 * udmabuf_frame_iter_next - the frame of the next page, and step past it
 * @iter: an iterator from udmabuf_frame_iter_start()
 * @pfn: set to the frame of the next page
 *
 * The next run is read only when the current one is used up.
 *
 * Return: true with a frame, false once the range is walked.
 */
static inline bool udmabuf_frame_iter_next(struct udmabuf_frame_iter *iter,
					   unsigned long *pfn)
{
	pgoff_t len;

	if (!iter->left && !udmabuf_frame_iter_peek(iter, pfn, &len))
		return false;
	*pfn = iter->pfn++;
	iter->left--;
	return true;
}

unsigned int udmabuf_map_order(unsigned long addr, unsigned long pfn,
			       pgoff_t nr_pages, unsigned long orders);

#endif /* _UDMABUF_SLICES_H */
