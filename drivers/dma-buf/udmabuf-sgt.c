// SPDX-License-Identifier: GPL-2.0
/*
 * A udmabuf's pages for the kernel's users: an array of struct page for
 * vmap(), and sg tables cut to a device's segment limits.
 */

#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "udmabuf-sgt.h"

/* Longest sg segment we build: what an unsigned int length can hold. */
#define UDMABUF_MAX_SEGMENT	((size_t)UINT_MAX & PAGE_MASK)

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
