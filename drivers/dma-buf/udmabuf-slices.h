/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Folio slices: how a udmabuf remembers which memory backs it.
 *
 * A buffer is an ordered list of slices. A slice is a run of pages inside
 * one pinned folio. A buffer holds one pin per distinct folio, however many
 * list items name it: the first slice of a folio owns the pin, the others
 * only point at it. The metadata grows with the number of folios, not with
 * the number of pages.
 */
#ifndef _UDMABUF_SLICES_H
#define _UDMABUF_SLICES_H

#include <linux/gfp_types.h>
#include <linux/limits.h>
#include <linux/minmax.h>
#include <linux/types.h>

struct address_space;
struct folio;
struct page;
struct sg_table;
struct udmabuf_create_item;

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
 * @pfn: for udmabuf_pfn_run_peek(): the next frame of the current run
 * @left: for udmabuf_pfn_run_peek(): pages left in the current run
 */
struct udmabuf_pfn_run {
	const struct udmabuf_slices *slices;
	u32 index;
	pgoff_t page;
	pgoff_t end;
	pgoff_t max_pages;
	unsigned long pfn;
	pgoff_t left;
};

/**
 * udmabuf_slice_nr_pages - pages in one slice
 * @slices: the slices of a buffer
 * @index: a slice, below @slices->nr_slices
 *
 * Inline: the fault path asks it once per slice.
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
void udmabuf_slices_trim(struct udmabuf_slices *slices);
int udmabuf_slices_dedup(struct udmabuf_slices *slices,
			 struct udmabuf_extent *extents, u32 count);
void udmabuf_slices_release(struct udmabuf_slices *slices);

u32 udmabuf_slices_find(const struct udmabuf_slices *slices, pgoff_t page);

void udmabuf_pfn_run_start(struct udmabuf_pfn_run *run,
			   const struct udmabuf_slices *slices,
			   pgoff_t first, pgoff_t count, pgoff_t max_pages);
bool udmabuf_pfn_run_next(struct udmabuf_pfn_run *run, unsigned long *pfn,
			  pgoff_t *nr_pages);
bool udmabuf_pfn_run_peek(struct udmabuf_pfn_run *run, unsigned long *pfn,
			  pgoff_t *nr_pages);

/**
 * udmabuf_pfn_run_skip - step over pages of the current run
 * @run: a cursor that udmabuf_pfn_run_peek() has just read
 * @nr_pages: pages to step over, at most the run's length it gave
 */
static inline void udmabuf_pfn_run_skip(struct udmabuf_pfn_run *run,
					pgoff_t nr_pages)
{
	run->pfn += nr_pages;
	run->left -= nr_pages;
}

unsigned int udmabuf_map_order(unsigned long addr, unsigned long pfn,
			       pgoff_t nr_pages, unsigned long orders);

struct page **udmabuf_slices_pages(const struct udmabuf_slices *slices);
int udmabuf_slices_to_sgt(const struct udmabuf_slices *slices,
			  struct sg_table *sgt, size_t max_segment,
			  unsigned long boundary_mask);
int udmabuf_slices_to_frames_sgt(const struct udmabuf_slices *slices,
				 struct sg_table *sgt, size_t max_segment,
				 unsigned long boundary_mask);

int udmabuf_count_pages(const struct udmabuf_create_item *items, u32 count,
			u64 max_pages, u32 *total);
u32 udmabuf_item_run(const struct udmabuf_create_item *items, u32 count,
		     u32 first, struct udmabuf_create_item *range);
int udmabuf_check_seals(int seals);

#endif /* _UDMABUF_SLICES_H */
