// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for udmabuf's page array and sg tables (udmabuf-sgt.c), on
 * real folios from folio_alloc().
 */

#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "../udmabuf-sgt.h"
#include "../udmabuf-slices.h"
#include "udmabuf-kunit-helpers.h"

static void expect_sgt_matches_runs(struct kunit *test,
				    struct udmabuf_slices *slices,
				    size_t max_segment, unsigned int nents)
{
	struct sg_table sgt;
	struct udmabuf_pfn_run run;
	struct scatterlist *sg;
	unsigned long pfn;
	pgoff_t len;
	size_t total = 0;
	unsigned int i;

	KUNIT_ASSERT_EQ(test, 0,
			udmabuf_slices_to_sgt(slices, &sgt, max_segment,
					      ULONG_MAX));
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, nents);

	/* The same cap as the helper: whole pages, at least one. */
	udmabuf_pfn_run_start(&run, slices, 0, slices->nr_pages,
			      max_segment ?
			      max_t(pgoff_t, max_segment >> PAGE_SHIFT, 1) : 0);
	for_each_sgtable_sg(&sgt, sg, i) {
		KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
		KUNIT_EXPECT_EQ(test, page_to_pfn(sg_page(sg)), pfn);
		KUNIT_EXPECT_EQ(test, sg->offset, 0);
		KUNIT_EXPECT_EQ(test, sg->length, len << PAGE_SHIFT);
		total += sg->length;
	}
	KUNIT_EXPECT_FALSE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, total, (size_t)slices->nr_pages << PAGE_SHIFT);
	sg_free_table(&sgt);
}

/* One sg entry per contiguous run: a folio split over items is one. */
static void sgt_one_entry_per_run_test(struct kunit *test)
{
	struct folio *big = udmabuf_test_folio(test, 4);
	struct folio *small = udmabuf_test_folio_apart(test, 0, big);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 3);

	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &big, 1, 0, 10), 1);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &big, 1, 10, 6), 1);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &small, 1, 0, 1), 1);

	expect_sgt_matches_runs(test, slices, 0, 2);
	/* Segments of at most 4 pages: 16 pages in 4 entries, then 1. */
	expect_sgt_matches_runs(test, slices, 4 * PAGE_SIZE, 5);
	/* A cap below one page still makes whole-page entries. */
	expect_sgt_matches_runs(test, slices, PAGE_SIZE / 2, 17);
}

/*
 * A segment boundary cuts runs where the frames cross a multiple of it,
 * and a segment limit cuts them too: no entry breaks either.
 */
static void sgt_respects_boundary_test(struct kunit *test)
{
	struct folio *big = udmabuf_test_folio(test, 5);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 1);
	const unsigned long span = 8;
	struct scatterlist *sg;
	struct sg_table sgt;
	unsigned long next;
	unsigned int i;

	/* Pages 3 to 28 of a 32-page folio: 5 + 8 + 8 + 5 pages. */
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &big, 1, 3, 26), 1);
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_to_sgt(slices, &sgt, 0,
						       span * PAGE_SIZE - 1));
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, 4);
	next = folio_pfn(big) + 3;
	for_each_sgtable_sg(&sgt, sg, i) {
		unsigned long pfn = page_to_pfn(sg_page(sg));
		unsigned long last = pfn + (sg->length >> PAGE_SHIFT) - 1;

		KUNIT_EXPECT_EQ(test, pfn, next);
		KUNIT_EXPECT_EQ_MSG(test, pfn / span, last / span, "entry %u", i);
		next = last + 1;
	}
	KUNIT_EXPECT_EQ(test, next, folio_pfn(big) + 29);
	sg_free_table(&sgt);

	/* With 4-page segments too: 4+1, 4+4, 4+4, 4+1 pages. */
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_to_sgt(slices, &sgt,
						       4 * PAGE_SIZE,
						       span * PAGE_SIZE - 1));
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, 8);
	for_each_sgtable_sg(&sgt, sg, i)
		KUNIT_EXPECT_LE(test, sg->length, 4 * PAGE_SIZE);
	sg_free_table(&sgt);
}

/*
 * Runs that touch once sorted by frame, each page of a folio named once,
 * make one entry: pages 2-3 of a folio, then pages 0-1 of it.
 */
static void frames_sgt_merges_touching_runs_test(struct kunit *test)
{
	struct folio *folio = udmabuf_test_folio(test, 2);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 2);
	struct sg_table sgt;

	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &folio, 1, 2, 2), 1);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &folio, 1, 0, 2), 1);
	slices->slice[1].pinned = 0;
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_to_frames_sgt(slices, &sgt, 0,
							      ULONG_MAX));
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, 1);
	KUNIT_EXPECT_EQ(test, page_to_pfn(sg_page(sgt.sgl)), folio_pfn(folio));
	KUNIT_EXPECT_EQ(test, sgt.sgl->length, 4 * PAGE_SIZE);
	sg_free_table(&sgt);
}

/*
 * One-page runs of frames that follow each other, in every order of the
 * four pages of a folio (one slice without its pin, so that the runs are
 * sorted and merged): one entry of the four pages, from the folio's first
 * frame. Runs one frame apart must sort apart, never as equals.
 */
static void frames_sgt_sorts_neighbour_frames_test(struct kunit *test)
{
	struct folio *folio = udmabuf_test_folio(test, 2);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 4);
	u32 order, i, wrong = 0;
	struct sg_table sgt;

	for (order = 0; order < 24; order++) {
		u32 left = order, pages[4] = { 0, 1, 2, 3 };

		/* The order-th permutation, by the factorial number system. */
		for (i = 0; i < 4; i++) {
			u32 pick = i + left % (4 - i), page = pages[pick];

			left /= 4 - i;
			pages[pick] = pages[i];
			pages[i] = page;
		}
		slices->nr_slices = 0;
		slices->nr_pages = 0;
		for (i = 0; i < 4; i++)
			KUNIT_ASSERT_EQ(test, 1, udmabuf_test_append(slices,
								     &folio, 1,
								     pages[i],
								     1));
		slices->slice[3].pinned = 0;
		KUNIT_ASSERT_EQ(test, 0,
				udmabuf_slices_to_frames_sgt(slices, &sgt, 0,
							     ULONG_MAX));
		if (sgt.orig_nents != 1 ||
		    page_to_pfn(sg_page(sgt.sgl)) != folio_pfn(folio) ||
		    sgt.sgl->length != 4 * PAGE_SIZE) {
			if (!wrong++)
				kunit_err(test, "pages %u %u %u %u: %u entries\n",
					  pages[0], pages[1], pages[2],
					  pages[3], sgt.orig_nents);
		}
		sg_free_table(&sgt);
	}
	KUNIT_EXPECT_EQ(test, wrong, 0);
}

/*
 * Runs with a page between them stay apart: pages 0 and 2 of a folio, and
 * page 0 again, are two one-page entries, never pages 0-2 (page 1 is not
 * the buffer's to sync).
 */
static void frames_sgt_keeps_gaps_test(struct kunit *test)
{
	struct folio *folio = udmabuf_test_folio(test, 2);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 3);
	struct scatterlist *sg;
	struct sg_table sgt;

	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &folio, 1, 2, 1), 1);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &folio, 1, 0, 1), 1);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &folio, 1, 0, 1), 1);
	slices->slice[1].pinned = 0;
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_to_frames_sgt(slices, &sgt, 0,
							      ULONG_MAX));
	KUNIT_ASSERT_EQ(test, sgt.orig_nents, 2);
	sg = sgt.sgl;
	KUNIT_EXPECT_EQ(test, page_to_pfn(sg_page(sg)), folio_pfn(folio));
	KUNIT_EXPECT_EQ(test, sg->length, PAGE_SIZE);
	sg = sg_next(sg);
	KUNIT_EXPECT_EQ(test, page_to_pfn(sg_page(sg)), folio_pfn(folio) + 2);
	KUNIT_EXPECT_EQ(test, sg->length, PAGE_SIZE);
	sg_free_table(&sgt);
}

/*
 * The table for cache syncs names each page once, in frame order: pages 0-1
 * and 0-3 of one folio, and a page of another folio, are five pages in all.
 * Without a folio in two slices it is the buffer-order table.
 */
static void frames_sgt_each_page_once_test(struct kunit *test)
{
	struct folio *big = udmabuf_test_folio(test, 2);
	struct folio *small = udmabuf_test_folio_apart(test, 0, big);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 3);
	unsigned long next = 0, pages = 0;
	struct scatterlist *sg;
	struct sg_table sgt;
	unsigned int i;

	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &small, 1, 0, 1), 1);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &big, 1, 0, 2), 1);
	expect_sgt_matches_runs(test, slices, 0, 2);
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_to_frames_sgt(slices, &sgt, 0,
							      ULONG_MAX));
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, 2);
	KUNIT_EXPECT_EQ(test, page_to_pfn(sg_page(sgt.sgl)), folio_pfn(small));
	sg_free_table(&sgt);

	/* The folio again: udmabuf_slices_dedup() leaves one pin of two. */
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &big, 1, 0, 4), 1);
	slices->slice[2].pinned = 0;
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_to_frames_sgt(slices, &sgt, 0,
							      ULONG_MAX));
	for_each_sgtable_sg(&sgt, sg, i) {
		unsigned long pfn = page_to_pfn(sg_page(sg));

		KUNIT_EXPECT_GE_MSG(test, pfn, next, "entry %u", i);
		KUNIT_EXPECT_EQ(test, sg->offset, 0);
		next = pfn + (sg->length >> PAGE_SHIFT);
		pages += sg->length >> PAGE_SHIFT;
		KUNIT_EXPECT_TRUE_MSG(test,
				      (pfn == folio_pfn(small) &&
				       sg->length == PAGE_SIZE) ||
				      (pfn >= folio_pfn(big) &&
				       next <= folio_pfn(big) + 4),
				      "entry %u: frame %lx", i, pfn);
	}
	KUNIT_EXPECT_EQ(test, pages, 5);
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, 2);
	sg_free_table(&sgt);

	/* Cut to one-page segments: five entries. */
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_to_frames_sgt(slices, &sgt,
							      PAGE_SIZE,
							      ULONG_MAX));
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, 5);
	sg_free_table(&sgt);
}

/* The page array for vmap failing: NULL, nothing left allocated. */
static void pages_failure_test(struct kunit *test)
{
	struct folio *folio = udmabuf_test_folio(test, 2);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 1);
	struct udmabuf_allocs before;
	struct page **pages;

	udmabuf_test_faults_init(test);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &folio, 1, 0, 4), 1);
	before = udmabuf_test_allocs();
	udmabuf_test_fail_from(1);
	pages = udmabuf_slices_pages(slices);
	KUNIT_EXPECT_TRUE(test, udmabuf_test_fail_stop());
	KUNIT_EXPECT_NULL(test, pages);
	udmabuf_test_expect_allocs(test, &before);
	kvfree(pages);
}

typedef int (*sgt_builder)(const struct udmabuf_slices *slices,
			   struct sg_table *sgt, size_t max_segment,
			   unsigned long boundary_mask);

/*
 * Build @slices' table of one-page segments with each allocation failing
 * in turn: each failure returns -ENOMEM with nothing left allocated, then
 * it is built with @nents entries. Returns the first call that succeeded.
 */
static unsigned int fail_each_sgt_allocation(struct kunit *test,
					     struct udmabuf_slices *slices,
					     sgt_builder build,
					     unsigned int nents)
{
	struct udmabuf_allocs before;
	struct sg_table sgt;
	unsigned int nth;
	int ret;

	udmabuf_test_faults_init(test);
	before = udmabuf_test_allocs();
	for (nth = 1; ; nth++) {
		memset(&sgt, 0, sizeof(sgt));
		udmabuf_test_fail_from(nth);
		ret = build(slices, &sgt, PAGE_SIZE, ULONG_MAX);
		if (!udmabuf_test_fail_stop() || !ret)
			break;
		KUNIT_EXPECT_EQ(test, ret, -ENOMEM);
		udmabuf_test_expect_allocs(test, &before);
	}
	KUNIT_ASSERT_EQ(test, ret, 0);
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, nents);
	sg_free_table(&sgt);
	udmabuf_test_expect_allocs(test, &before);
	return nth;
}

/*
 * A table of 512 one-page entries is chained from several allocations:
 * each failing in turn returns -ENOMEM with nothing left allocated.
 */
static void sgt_failure_at_each_allocation_test(struct kunit *test)
{
	struct folio *folio = udmabuf_test_folio(test, 9);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 1);

	KUNIT_ASSERT_EQ(test,
			udmabuf_test_append(slices, &folio, 1, 0, 512), 1);
	/* 512 entries do not fit one page of them: more than one chunk. */
	KUNIT_EXPECT_GT(test, fail_each_sgt_allocation(test, slices,
						       udmabuf_slices_to_sgt,
						       512), 2);
}

/*
 * The frames table with a page named twice allocates its runs and the
 * table: each failing in turn returns -ENOMEM with nothing left allocated.
 */
static void frames_sgt_failure_at_each_allocation_test(struct kunit *test)
{
	struct folio *folio = udmabuf_test_folio(test, 9);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 2);

	KUNIT_ASSERT_EQ(test,
			udmabuf_test_append(slices, &folio, 1, 0, 512), 1);
	KUNIT_ASSERT_EQ(test,
			udmabuf_test_append(slices, &folio, 1, 0, 512), 1);
	slices->slice[1].pinned = 0;
	/* The runs, then a table of more than one chunk. */
	KUNIT_EXPECT_GT(test, fail_each_sgt_allocation(test, slices,
						       udmabuf_slices_to_frames_sgt,
						       512), 3);
}

static struct kunit_case udmabuf_sgt_cases[] = {
	KUNIT_CASE(sgt_one_entry_per_run_test),
	KUNIT_CASE(sgt_respects_boundary_test),
	KUNIT_CASE(frames_sgt_each_page_once_test),
	KUNIT_CASE(frames_sgt_merges_touching_runs_test),
	KUNIT_CASE(frames_sgt_keeps_gaps_test),
	KUNIT_CASE(frames_sgt_sorts_neighbour_frames_test),
	KUNIT_CASE(pages_failure_test),
	KUNIT_CASE(sgt_failure_at_each_allocation_test),
	KUNIT_CASE(frames_sgt_failure_at_each_allocation_test),
	{}
};

static struct kunit_suite udmabuf_sgt_suite = {
	.name = "udmabuf-sgt",
	.test_cases = udmabuf_sgt_cases,
};

kunit_test_suite(udmabuf_sgt_suite);
