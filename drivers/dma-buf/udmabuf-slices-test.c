// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the folio slice helpers of udmabuf, on real folios of
 * order 0 and above from folio_alloc().
 */

#include <kunit/test.h>
#include <linux/fcntl.h>
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/udmabuf.h>

#include "udmabuf-fault-test.h"
#include "udmabuf-items.h"
#include "udmabuf-sgt.h"
#include "udmabuf-slices.h"

KUNIT_DEFINE_ACTION_WRAPPER(folio_put_action, folio_put, struct folio *);

static struct folio *test_folio(struct kunit *test, unsigned int order)
{
	struct folio *folio = folio_alloc(GFP_KERNEL, order);

	KUNIT_ASSERT_NOT_NULL(test, folio);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, folio_put_action,
						  folio));
	return folio;
}

/*
 * Slices made from folio_alloc() folios hold no real pin: forget them
 * instead of unpinning them.
 */
static void forget_slices(void *ctx)
{
	struct udmabuf_slices *slices = ctx;

	kvfree(slices->slice);
	*slices = (struct udmabuf_slices) { };
}

static struct udmabuf_slices *test_slices(struct kunit *test, u32 capacity)
{
	struct udmabuf_slices *slices;

	slices = kunit_kzalloc(test, sizeof(*slices), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, slices);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, forget_slices, slices));
	KUNIT_ASSERT_EQ(test, 0,
			udmabuf_slices_reserve(slices, capacity, capacity));
	return slices;
}

/* The frame behind buffer page @page, through the lookup the driver uses. */
static unsigned long page_pfn(const struct udmabuf_slices *slices, pgoff_t page)
{
	const struct udmabuf_slice *slice =
		&slices->slice[udmabuf_slices_find(slices, page)];

	return folio_pfn(slice->folio) + slice->folio_pgoff +
	       (page - slice->buf_pgoff);
}

/* Append @nr folios from page @first_page of the first, @pages pages. */
static u32 append(struct udmabuf_slices *slices, struct folio **folios,
		  u32 nr, u32 first_page, u32 pages)
{
	return udmabuf_slices_append(slices, folios, nr,
				     (size_t)first_page << PAGE_SHIFT, pages);
}

static void expect_slice(struct kunit *test, struct udmabuf_slices *slices,
			 u32 index, struct folio *folio, u32 folio_pgoff,
			 u32 buf_pgoff, u32 nr_pages)
{
	KUNIT_ASSERT_LT(test, index, slices->nr_slices);
	KUNIT_EXPECT_PTR_EQ(test, slices->slice[index].folio, folio);
	KUNIT_EXPECT_EQ(test, (u32)slices->slice[index].folio_pgoff,
			folio_pgoff);
	KUNIT_EXPECT_EQ(test, (u32)slices->slice[index].pinned, 1);
	KUNIT_EXPECT_EQ(test, slices->slice[index].buf_pgoff, buf_pgoff);
	KUNIT_EXPECT_EQ(test, udmabuf_slice_nr_pages(slices, index), nr_pages);
}

struct one_folio_case {
	const char *name;
	unsigned int order;
	u32 first_page;
	u32 pages;
};

static const struct one_folio_case one_folio_cases[] = {
	{ "one page of a small folio", 0, 0, 1 },
	{ "first page of a large folio", 3, 0, 1 },
	{ "last page of a large folio", 3, 7, 1 },
	{ "middle of a large folio", 4, 5, 6 },
	{ "whole large folio", 3, 0, 8 },
	{ "tail of a 2 MiB folio", 9, 500, 12 },
};

KUNIT_ARRAY_PARAM_DESC(one_folio, one_folio_cases, name);

/* A range inside one folio: one slice, every page at its own frame. */
static void append_one_folio_test(struct kunit *test)
{
	const struct one_folio_case *c = test->param_value;
	struct folio *folio = test_folio(test, c->order);
	struct udmabuf_slices *slices = test_slices(test, 1);
	u32 i;

	KUNIT_EXPECT_EQ(test, append(slices, &folio, 1, c->first_page,
				     c->pages), 1);
	KUNIT_EXPECT_EQ(test, slices->nr_slices, 1);
	KUNIT_EXPECT_EQ(test, slices->nr_pages, c->pages);
	expect_slice(test, slices, 0, folio, c->first_page, 0, c->pages);
	for (i = 0; i < c->pages; i++)
		KUNIT_EXPECT_EQ(test, page_pfn(slices, i),
				folio_pfn(folio) + c->first_page + i);
}

/* A range from the middle of one folio, over a small one, into a third. */
static void append_crossing_folios_test(struct kunit *test)
{
	struct folio *folios[] = {
		test_folio(test, 2), test_folio(test, 0), test_folio(test, 3),
	};
	struct udmabuf_slices *slices = test_slices(test, 3);
	unsigned long expected[6];
	u32 i;

	KUNIT_EXPECT_EQ(test, append(slices, folios, 3, 1, 6), 3);
	KUNIT_EXPECT_EQ(test, slices->nr_slices, 3);
	KUNIT_EXPECT_EQ(test, slices->nr_pages, 6);
	expect_slice(test, slices, 0, folios[0], 1, 0, 3);
	expect_slice(test, slices, 1, folios[1], 0, 3, 1);
	expect_slice(test, slices, 2, folios[2], 0, 4, 2);

	for (i = 0; i < 3; i++)
		expected[i] = folio_pfn(folios[0]) + 1 + i;
	expected[3] = folio_pfn(folios[1]);
	expected[4] = folio_pfn(folios[2]);
	expected[5] = folio_pfn(folios[2]) + 1;
	for (i = 0; i < 6; i++) {
		KUNIT_EXPECT_EQ(test, page_pfn(slices, i),
				expected[i]);
		KUNIT_EXPECT_EQ(test, udmabuf_slices_find(slices, i),
				i < 3 ? 0 : i < 4 ? 1 : 2);
	}
}

/* Folios past the pages still wanted are left to the caller. */
static void append_stops_at_max_pages_test(struct kunit *test)
{
	struct folio *folios[] = {
		test_folio(test, 1), test_folio(test, 1), test_folio(test, 0),
	};
	struct udmabuf_slices *slices = test_slices(test, 3);

	KUNIT_EXPECT_EQ(test, append(slices, folios, 3, 0, 3), 2);
	KUNIT_EXPECT_EQ(test, slices->nr_slices, 2);
	KUNIT_EXPECT_EQ(test, slices->nr_pages, 3);
	expect_slice(test, slices, 1, folios[1], 0, 2, 1);
}

/* Never more slices than reserved room, and the page count agrees. */
static void append_stops_at_capacity_test(struct kunit *test)
{
	struct folio *folios[] = {
		test_folio(test, 0), test_folio(test, 0), test_folio(test, 0),
	};
	struct udmabuf_slices *slices = test_slices(test, 2);

	KUNIT_EXPECT_EQ(test, append(slices, folios, 3, 0, 3), 2);
	KUNIT_EXPECT_EQ(test, slices->nr_slices, 2);
	KUNIT_EXPECT_EQ(test, slices->nr_pages, 2);
	KUNIT_EXPECT_EQ(test, append(slices, folios + 2, 1, 0, 1), 0);
	KUNIT_EXPECT_EQ(test, slices->nr_pages, 2);
}

/* Two list items that end and begin inside one folio: two slices. */
static void append_items_sharing_folio_test(struct kunit *test)
{
	struct folio *folio = test_folio(test, 2);
	struct udmabuf_slices *slices = test_slices(test, 2);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len;
	u32 i;

	KUNIT_EXPECT_EQ(test, append(slices, &folio, 1, 0, 2), 1);
	KUNIT_EXPECT_EQ(test, append(slices, &folio, 1, 2, 2), 1);
	KUNIT_EXPECT_EQ(test, slices->nr_slices, 2);
	expect_slice(test, slices, 0, folio, 0, 0, 2);
	expect_slice(test, slices, 1, folio, 2, 2, 2);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ(test, page_pfn(slices, i),
				folio_pfn(folio) + i);

	/* Contiguous again: one run covers both slices. */
	udmabuf_pfn_run_start(&run, slices, 0, 4, 0);
	KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, pfn, folio_pfn(folio));
	KUNIT_EXPECT_EQ(test, len, 4);
	KUNIT_EXPECT_FALSE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
}

/* The same pages named twice map twice, in buffer order. */
static void append_same_range_twice_test(struct kunit *test)
{
	struct folio *folio = test_folio(test, 1);
	struct udmabuf_slices *slices = test_slices(test, 2);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len;

	KUNIT_EXPECT_EQ(test, append(slices, &folio, 1, 0, 2), 1);
	KUNIT_EXPECT_EQ(test, append(slices, &folio, 1, 0, 2), 1);
	KUNIT_EXPECT_EQ(test, page_pfn(slices, 3),
			folio_pfn(folio) + 1);

	udmabuf_pfn_run_start(&run, slices, 0, 4, 0);
	KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, len, 2);
	KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, pfn, folio_pfn(folio));
	KUNIT_EXPECT_EQ(test, len, 2);
	KUNIT_EXPECT_FALSE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
}

/*
 * Many slices of one to four pages: every page finds the slice of the
 * folio the test appended for it, and its frame. What is expected comes
 * from the test's own record of the folios it appended, in order.
 */
static void find_every_page_test(struct kunit *test)
{
	const u32 nr = 37;
	struct udmabuf_slices *slices = test_slices(test, nr);
	struct folio **folios;
	u32 *first_page;
	u32 i, f, pages = 0;

	folios = kunit_kcalloc(test, nr, sizeof(*folios), GFP_KERNEL);
	first_page = kunit_kcalloc(test, nr + 1, sizeof(*first_page),
				   GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, folios);
	KUNIT_ASSERT_NOT_NULL(test, first_page);
	for (i = 0; i < nr; i++) {
		folios[i] = test_folio(test, i % 3);
		first_page[i] = pages;
		pages += 1 << (i % 3);
		KUNIT_ASSERT_EQ(test, append(slices, &folios[i], 1, 0,
					     1 << (i % 3)), 1);
	}
	first_page[nr] = pages;
	KUNIT_ASSERT_EQ(test, slices->nr_pages, pages);
	for (f = 0, i = 0; i < pages; i++) {
		while (i >= first_page[f + 1])
			f++;
		KUNIT_EXPECT_EQ_MSG(test, udmabuf_slices_find(slices, i), f,
				    "slice of page %u", i);
		KUNIT_EXPECT_EQ_MSG(test, page_pfn(slices, i),
				    folio_pfn(folios[f]) + i - first_page[f],
				    "frame of page %u", i);
	}
}

/* Runs stop where frames stop following each other, and at the cap. */
static void runs_split_and_cap_test(struct kunit *test)
{
	struct folio *folios[] = { test_folio(test, 3), test_folio(test, 0) };
	struct udmabuf_slices *slices = test_slices(test, 2);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len;

	KUNIT_ASSERT_EQ(test, append(slices, folios, 2, 0, 9), 2);
	/* Folio 1 may happen to follow folio 0: then a run spans both. */
	if (folio_pfn(folios[1]) == folio_pfn(folios[0]) + 8)
		kunit_skip(test, "the folios happen to be contiguous");

	udmabuf_pfn_run_start(&run, slices, 0, 9, 3);
	KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, pfn, folio_pfn(folios[0]));
	KUNIT_EXPECT_EQ(test, len, 3);
	KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, pfn, folio_pfn(folios[0]) + 3);
	KUNIT_EXPECT_EQ(test, len, 3);
	KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, pfn, folio_pfn(folios[0]) + 6);
	KUNIT_EXPECT_EQ(test, len, 2);
	KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, pfn, folio_pfn(folios[1]));
	KUNIT_EXPECT_EQ(test, len, 1);
	KUNIT_EXPECT_FALSE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
}

/* A sub-range that starts and ends inside slices. */
static void runs_of_sub_range_test(struct kunit *test)
{
	struct folio *folios[] = { test_folio(test, 2), test_folio(test, 2) };
	struct udmabuf_slices *slices = test_slices(test, 2);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len, seen = 0;

	KUNIT_ASSERT_EQ(test, append(slices, folios, 2, 0, 8), 2);
	udmabuf_pfn_run_start(&run, slices, 3, 3, 0);
	while (udmabuf_pfn_run_next(&run, &pfn, &len)) {
		pgoff_t i;

		for (i = 0; i < len; i++)
			KUNIT_EXPECT_EQ(test, pfn + i,
					page_pfn(slices, 3 + seen + i));
		seen += len;
	}
	KUNIT_EXPECT_EQ(test, seen, 3);

	udmabuf_pfn_run_start(&run, slices, 8, 0, 0);
	KUNIT_EXPECT_FALSE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
}

/*
 * Peek and skip walk the pages of a range one at a time or in pieces
 * across slice and run boundaries, with the frames the runs give.
 */
static void runs_peek_and_skip_test(struct kunit *test)
{
	struct folio *folios[] = { test_folio(test, 2), test_folio(test, 0),
				   test_folio(test, 2) };
	struct udmabuf_slices *slices = test_slices(test, 3);
	struct udmabuf_frame_iter iter;
	unsigned long pfn;
	pgoff_t len, page = 1;

	KUNIT_ASSERT_EQ(test, append(slices, folios, 3, 0, 9), 3);
	udmabuf_frame_iter_start(&iter, slices, 1, 8);
	while (udmabuf_frame_iter_peek(&iter, &pfn, &len)) {
		pgoff_t step = page % 2 ? 1 : len;

		KUNIT_EXPECT_GE(test, len, 1);
		KUNIT_EXPECT_EQ_MSG(test, pfn, page_pfn(slices, page),
				    "page %lu", page);
		udmabuf_frame_iter_skip(&iter, step);
		page += step;
	}
	KUNIT_EXPECT_EQ(test, page, 9);
}

/*
 * Next gives every page's frame in turn, across slice and run boundaries;
 * a peek before it shows the same frame without a step. Once the range
 * is walked, both say so, and keep saying so.
 */
static void frame_iter_next_test(struct kunit *test)
{
	struct folio *folios[] = { test_folio(test, 2), test_folio(test, 0),
				   test_folio(test, 2) };
	struct udmabuf_slices *slices = test_slices(test, 3);
	struct udmabuf_frame_iter iter;
	unsigned long pfn, peeked;
	pgoff_t len, page;

	KUNIT_ASSERT_EQ(test, append(slices, folios, 3, 0, 9), 3);
	udmabuf_frame_iter_start(&iter, slices, 1, 8);
	for (page = 1; page < 9; page++) {
		if (page % 3 == 0) {
			KUNIT_ASSERT_TRUE(test, udmabuf_frame_iter_peek(&iter,
									&peeked,
									&len));
			KUNIT_EXPECT_EQ_MSG(test, peeked, page_pfn(slices, page),
					    "peek at page %lu", page);
		}
		KUNIT_ASSERT_TRUE_MSG(test, udmabuf_frame_iter_next(&iter, &pfn),
				      "page %lu", page);
		KUNIT_EXPECT_EQ_MSG(test, pfn, page_pfn(slices, page),
				    "page %lu", page);
	}
	KUNIT_EXPECT_FALSE(test, udmabuf_frame_iter_next(&iter, &pfn));
	KUNIT_EXPECT_FALSE(test, udmabuf_frame_iter_peek(&iter, &pfn, &len));
	KUNIT_EXPECT_FALSE(test, udmabuf_frame_iter_next(&iter, &pfn));

	udmabuf_frame_iter_start(&iter, slices, 9, 0);
	KUNIT_EXPECT_FALSE(test, udmabuf_frame_iter_peek(&iter, &pfn, &len));
	KUNIT_EXPECT_FALSE(test, udmabuf_frame_iter_next(&iter, &pfn));
}

/*
 * A skip may cross runs: it lands on the page that many pages on, with
 * the rest of that page's run ahead; a skip past the end ends the walk.
 */
static void frame_iter_skip_across_runs_test(struct kunit *test)
{
	struct folio *folios[] = { test_folio(test, 2), test_folio(test, 0),
				   test_folio(test, 2) };
	struct udmabuf_slices *slices = test_slices(test, 3);
	struct udmabuf_frame_iter iter;
	unsigned long pfn;
	pgoff_t len;

	KUNIT_ASSERT_EQ(test, append(slices, folios, 3, 0, 9), 3);
	udmabuf_frame_iter_start(&iter, slices, 1, 8);
	udmabuf_frame_iter_skip(&iter, 5);
	KUNIT_ASSERT_TRUE(test, udmabuf_frame_iter_peek(&iter, &pfn, &len));
	KUNIT_EXPECT_EQ(test, pfn, page_pfn(slices, 6));
	/* Pages 6 to 8 are the last three of the third folio. */
	KUNIT_EXPECT_EQ(test, len, 3);

	udmabuf_frame_iter_skip(&iter, 0);
	KUNIT_ASSERT_TRUE(test, udmabuf_frame_iter_next(&iter, &pfn));
	KUNIT_EXPECT_EQ(test, pfn, page_pfn(slices, 6));

	udmabuf_frame_iter_skip(&iter, 100);
	KUNIT_EXPECT_FALSE(test, udmabuf_frame_iter_peek(&iter, &pfn, &len));
	KUNIT_EXPECT_FALSE(test, udmabuf_frame_iter_next(&iter, &pfn));
}

/* One udmabuf_map_order() question and its answer. */
struct map_order_case {
	const char *name;
	unsigned long page;	/* user address, in pages */
	unsigned long pfn;
	pgoff_t nr_pages;
	unsigned long orders;
	unsigned int order;
};

/* Orders 9 and 18 are x86_64's PMD and PUD; nothing here depends on it. */
static const struct map_order_case map_order_cases[] = {
	{ "pmd block", 512, 1024, 512, BIT(9), 9 },
	{ "run one page short", 512, 1024, 511, BIT(9), 0 },
	{ "frame off by one", 512, 1025, 512, BIT(9), 0 },
	{ "address off by one", 513, 1024, 512, BIT(9), 0 },
	{ "same offset in both", 513, 1025, 1024, BIT(9), 0 },
	{ "no orders asked", 512, 1024, 512, 0, 0 },
	{ "pud block", 1UL << 18, 3UL << 18, 1UL << 18, BIT(9) | BIT(18), 18 },
	{ "pud run short: pmd", 1UL << 18, 3UL << 18, (1UL << 18) - 1,
	  BIT(9) | BIT(18), 9 },
	{ "pud frame unaligned: pmd", 1UL << 18, (3UL << 18) + 512,
	  1UL << 18, BIT(9) | BIT(18), 9 },
	{ "pud only, pmd aligned", 512, 1024, 1UL << 18, BIT(18), 0 },
	{ "long run, pmd aligned", 512, 1024, 1UL << 20, BIT(9) | BIT(18), 9 },
};

static void map_order_case_desc(const struct map_order_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(map_order, map_order_cases, map_order_case_desc);

static void map_order_test(struct kunit *test)
{
	const struct map_order_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, c->order,
			udmabuf_map_order(c->page << PAGE_SHIFT, c->pfn,
					  c->nr_pages, c->orders));
}

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
	struct folio *big = test_folio(test, 4), *small = test_folio(test, 0);
	struct udmabuf_slices *slices = test_slices(test, 3);

	KUNIT_ASSERT_EQ(test, append(slices, &big, 1, 0, 10), 1);
	KUNIT_ASSERT_EQ(test, append(slices, &big, 1, 10, 6), 1);
	KUNIT_ASSERT_EQ(test, append(slices, &small, 1, 0, 1), 1);
	if (folio_pfn(small) == folio_pfn(big) + 16)
		kunit_skip(test, "the folios happen to be contiguous");

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
	struct folio *big = test_folio(test, 5);
	struct udmabuf_slices *slices = test_slices(test, 1);
	const unsigned long span = 8;
	struct scatterlist *sg;
	struct sg_table sgt;
	unsigned long next;
	unsigned int i;

	/* Pages 3 to 28 of a 32-page folio: 5 + 8 + 8 + 5 pages. */
	KUNIT_ASSERT_EQ(test, append(slices, &big, 1, 3, 26), 1);
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
	struct folio *folio = test_folio(test, 2);
	struct udmabuf_slices *slices = test_slices(test, 2);
	struct sg_table sgt;

	KUNIT_ASSERT_EQ(test, append(slices, &folio, 1, 2, 2), 1);
	KUNIT_ASSERT_EQ(test, append(slices, &folio, 1, 0, 2), 1);
	slices->slice[1].pinned = 0;
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_to_frames_sgt(slices, &sgt, 0,
							      ULONG_MAX));
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, 1);
	KUNIT_EXPECT_EQ(test, page_to_pfn(sg_page(sgt.sgl)), folio_pfn(folio));
	KUNIT_EXPECT_EQ(test, sgt.sgl->length, 4 * PAGE_SIZE);
	sg_free_table(&sgt);
}

/*
 * The table for cache syncs names each page once, in frame order: pages 0-1
 * and 0-3 of one folio, and a page of another folio, are five pages in all.
 * Without a folio in two slices it is the buffer-order table.
 */
static void frames_sgt_each_page_once_test(struct kunit *test)
{
	struct folio *big = test_folio(test, 2), *small = test_folio(test, 0);
	struct udmabuf_slices *slices = test_slices(test, 3);
	unsigned long next = 0, pages = 0;
	struct scatterlist *sg;
	struct sg_table sgt;
	unsigned int i;

	if (folio_pfn(small) + 1 == folio_pfn(big) ||
	    folio_pfn(big) + 4 == folio_pfn(small))
		kunit_skip(test, "the folios happen to be contiguous");
	KUNIT_ASSERT_EQ(test, append(slices, &small, 1, 0, 1), 1);
	KUNIT_ASSERT_EQ(test, append(slices, &big, 1, 0, 2), 1);
	expect_sgt_matches_runs(test, slices, 0, 2);
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_to_frames_sgt(slices, &sgt, 0,
							      ULONG_MAX));
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, 2);
	KUNIT_EXPECT_EQ(test, page_to_pfn(sg_page(sgt.sgl)), folio_pfn(small));
	sg_free_table(&sgt);

	/* The folio again: udmabuf_slices_dedup() leaves one pin of two. */
	KUNIT_ASSERT_EQ(test, append(slices, &big, 1, 0, 4), 1);
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

/* The estimate of slices still needed, from the folios pinned so far. */
static void estimate_test(struct kunit *test)
{
	struct folio *small[] = { test_folio(test, 0), test_folio(test, 0) };
	struct folio *huge[] = { test_folio(test, 9), test_folio(test, 9) };
	struct folio *mixed[] = { test_folio(test, 9), test_folio(test, 2) };

	/* 4 KiB folios: one slice a page. */
	KUNIT_EXPECT_EQ(test, udmabuf_slices_estimate(small, 2, 0, 1000), 1000);
	/* 2 MiB folios, starting 10 pages into the first: 3 slices. */
	KUNIT_EXPECT_EQ(test, udmabuf_slices_estimate(huge, 2, 10 * PAGE_SIZE,
						      1024), 3);
	/* Mixed: the smallest size seen counts. */
	KUNIT_EXPECT_EQ(test, udmabuf_slices_estimate(mixed, 2, 0, 1024), 256);
	/* Never fewer than the folios in hand. */
	KUNIT_EXPECT_EQ(test, udmabuf_slices_estimate(huge, 2, 0, 1), 2);
}

static void reserve_grows_by_doubling_test(struct kunit *test)
{
	struct udmabuf_slices *slices = test_slices(test, 1);

	KUNIT_EXPECT_EQ(test, slices->capacity, 1);
	slices->nr_slices = 1;
	KUNIT_EXPECT_EQ(test, 0, udmabuf_slices_reserve(slices, 1, 100));
	KUNIT_EXPECT_EQ(test, slices->capacity, 2);
	slices->nr_slices = 2;
	KUNIT_EXPECT_EQ(test, 0, udmabuf_slices_reserve(slices, 1, 100));
	KUNIT_EXPECT_EQ(test, slices->capacity, 4);
	/* Already room: nothing moves. */
	KUNIT_EXPECT_EQ(test, 0, udmabuf_slices_reserve(slices, 2, 100));
	KUNIT_EXPECT_EQ(test, slices->capacity, 4);
	/* Doubling stops at the buffer's bound ... */
	slices->nr_slices = 4;
	KUNIT_EXPECT_EQ(test, 0, udmabuf_slices_reserve(slices, 1, 5));
	KUNIT_EXPECT_EQ(test, slices->capacity, 5);
	/* ... but what is asked for is always granted. */
	slices->nr_slices = 5;
	KUNIT_EXPECT_EQ(test, 0, udmabuf_slices_reserve(slices, 3, 5));
	KUNIT_EXPECT_EQ(test, slices->capacity, 8);
	slices->nr_slices = 0;
}

static void reserve_overflow_fails_test(struct kunit *test)
{
	struct udmabuf_slices *slices = test_slices(test, 2);
	struct udmabuf_slice *before = slices->slice;

	slices->nr_slices = 2;
	KUNIT_EXPECT_EQ(test, -ENOMEM,
			udmabuf_slices_reserve(slices, U32_MAX, U32_MAX));
	KUNIT_EXPECT_PTR_EQ(test, slices->slice, before);
	KUNIT_EXPECT_EQ(test, slices->capacity, 2);
	slices->nr_slices = 0;
}

/*
 * More slices than kvmalloc() gives: -ENOMEM before any allocation (which
 * would warn), however large a buffer the size limit allows.
 */
static void reserve_past_kvmalloc_fails_test(struct kunit *test)
{
	const u32 most = INT_MAX / sizeof(struct udmabuf_slice);
	struct udmabuf_slices *slices = test_slices(test, 2);
	struct udmabuf_allocs before = udmabuf_test_allocs();

	slices->nr_slices = 2;
	KUNIT_EXPECT_EQ(test, -ENOMEM,
			udmabuf_slices_reserve(slices, most - 1, U32_MAX));
	KUNIT_EXPECT_EQ(test, slices->capacity, 2);
	udmabuf_test_expect_allocs(test, &before);
	slices->nr_slices = 0;
}

/* Trimming moves the slices to an exact array and frees the larger one. */
static void trim_keeps_slices_test(struct kunit *test)
{
	struct folio *folios[] = { test_folio(test, 0), test_folio(test, 1) };
	struct udmabuf_allocs before = udmabuf_test_allocs();
	struct udmabuf_slices *slices = test_slices(test, 64);
	struct udmabuf_allocs grown = udmabuf_test_allocs(), now;

	KUNIT_ASSERT_EQ(test, append(slices, folios, 2, 0, 3), 2);
	udmabuf_slices_trim(slices);
	/* One array lives, as before the trim (none without profiling). */
	now = udmabuf_test_allocs();
	KUNIT_EXPECT_EQ(test, now.calls, grown.calls);
	KUNIT_EXPECT_EQ(test, grown.calls - before.calls,
			IS_ENABLED(CONFIG_MEM_ALLOC_PROFILING) ? 1 : 0);
	KUNIT_EXPECT_EQ(test, slices->capacity, 2);
	KUNIT_EXPECT_EQ(test, ksize(slices->slice),
			kmalloc_size_roundup(2 * sizeof(*slices->slice)));
	expect_slice(test, slices, 0, folios[0], 0, 0, 1);
	expect_slice(test, slices, 1, folios[1], 0, 1, 2);
	/* Trimming a trimmed array changes nothing. */
	udmabuf_slices_trim(slices);
	KUNIT_EXPECT_EQ(test, slices->capacity, 2);
}

/*
 * Growth failing, for an array kmalloc() holds and for one that needs
 * vmalloc(), at each allocation in turn: -ENOMEM, the slices untouched,
 * nothing left allocated; then growth works.
 */
static void reserve_failure_test(struct kunit *test)
{
	const u32 counts[] = { 4, SZ_64K };
	struct udmabuf_slices *slices = test_slices(test, 4);
	struct udmabuf_allocs before;
	unsigned int nth;
	size_t i;
	int ret;

	udmabuf_test_faults_init(test);
	slices->nr_slices = 4;
	for (i = 0; i < ARRAY_SIZE(counts); i++) {
		struct udmabuf_slice *array = slices->slice;
		u32 capacity = slices->capacity;

		before = udmabuf_test_allocs();
		for (nth = 1; ; nth++) {
			udmabuf_test_fail_from(nth);
			ret = udmabuf_slices_reserve(slices, counts[i], U32_MAX);
			/* Through: none of the failed allocations was needed. */
			if (!udmabuf_test_fail_stop() || !ret)
				break;
			KUNIT_EXPECT_EQ(test, ret, -ENOMEM);
			KUNIT_EXPECT_PTR_EQ(test, slices->slice, array);
			KUNIT_EXPECT_EQ(test, slices->capacity, capacity);
			udmabuf_test_expect_allocs(test, &before);
		}
		KUNIT_EXPECT_GT(test, nth, 1);
		KUNIT_EXPECT_EQ(test, ret, 0);
		KUNIT_EXPECT_GE(test, slices->capacity, 4 + counts[i]);
	}
	slices->nr_slices = 0;
}

/* Trimming without memory keeps the larger array, slices intact. */
static void trim_failure_test(struct kunit *test)
{
	struct folio *folios[] = { test_folio(test, 0), test_folio(test, 1) };
	struct udmabuf_slices *slices = test_slices(test, 64);
	struct udmabuf_allocs before;
	struct udmabuf_slice *array;

	udmabuf_test_faults_init(test);
	KUNIT_ASSERT_EQ(test, append(slices, folios, 2, 0, 3), 2);
	array = slices->slice;
	before = udmabuf_test_allocs();
	udmabuf_test_fail_from(1);
	udmabuf_slices_trim(slices);
	KUNIT_EXPECT_TRUE(test, udmabuf_test_fail_stop());
	KUNIT_EXPECT_PTR_EQ(test, slices->slice, array);
	KUNIT_EXPECT_EQ(test, slices->capacity, 64);
	expect_slice(test, slices, 0, folios[0], 0, 0, 1);
	expect_slice(test, slices, 1, folios[1], 0, 1, 2);
	udmabuf_test_expect_allocs(test, &before);
}

/* The page array for vmap failing: NULL, nothing left allocated. */
static void pages_failure_test(struct kunit *test)
{
	struct folio *folio = test_folio(test, 2);
	struct udmabuf_slices *slices = test_slices(test, 1);
	struct udmabuf_allocs before;
	struct page **pages;

	udmabuf_test_faults_init(test);
	KUNIT_ASSERT_EQ(test, append(slices, &folio, 1, 0, 4), 1);
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
	struct folio *folio = test_folio(test, 9);
	struct udmabuf_slices *slices = test_slices(test, 1);

	KUNIT_ASSERT_EQ(test, append(slices, &folio, 1, 0, 512), 1);
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
	struct folio *folio = test_folio(test, 9);
	struct udmabuf_slices *slices = test_slices(test, 2);

	KUNIT_ASSERT_EQ(test, append(slices, &folio, 1, 0, 512), 1);
	KUNIT_ASSERT_EQ(test, append(slices, &folio, 1, 0, 512), 1);
	slices->slice[1].pinned = 0;
	/* The runs, then a table of more than one chunk. */
	KUNIT_EXPECT_GT(test, fail_each_sgt_allocation(test, slices,
						       udmabuf_slices_to_frames_sgt,
						       512), 3);
}

/*
 * The pin memfd_pin_folios() takes, for folios that no file backs: the
 * test stands in for GUP so that release has real pins to drop.
 */
static void pin_like_gup(struct folio *folio)
{
	if (folio_has_pincount(folio)) {
		atomic_inc(&folio->_pincount);
		folio_ref_inc(folio);
	} else {
		folio_ref_add(folio, GUP_PIN_COUNTING_BIAS);
	}
}

static int pincount(struct folio *folio)
{
	return folio_has_pincount(folio) ? atomic_read(&folio->_pincount) :
		folio_ref_count(folio) / GUP_PIN_COUNTING_BIAS;
}

/* Every pin is dropped once: shared folios twice, large ones too. */
static void release_unpins_each_slice_once_test(struct kunit *test)
{
	struct folio *folios[] = {
		test_folio(test, 0), test_folio(test, 2), test_folio(test, 9),
	};
	int refs[3], pins[3];
	struct udmabuf_slices slices = { };
	u32 i;

	for (i = 0; i < 3; i++) {
		refs[i] = folio_ref_count(folios[i]);
		pins[i] = pincount(folios[i]);
	}

	/* Item 1: folios 0 and 1 up to page 2 of folio 1. */
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_reserve(&slices, 2, 5));
	pin_like_gup(folios[0]);
	pin_like_gup(folios[1]);
	KUNIT_ASSERT_EQ(test, append(&slices, folios, 2, 0, 3), 2);
	/* Item 2: from page 2 of folio 1 into the 2 MiB folio. */
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_reserve(&slices, 2, 5));
	pin_like_gup(folios[1]);
	pin_like_gup(folios[2]);
	KUNIT_ASSERT_EQ(test, append(&slices, folios + 1, 2, 2, 300), 2);
	KUNIT_EXPECT_EQ(test, slices.nr_pages, 303);
	KUNIT_EXPECT_EQ(test, pincount(folios[1]), pins[1] + 2);

	udmabuf_slices_release(&slices);
	for (i = 0; i < 3; i++) {
		KUNIT_EXPECT_EQ(test, folio_ref_count(folios[i]), refs[i]);
		KUNIT_EXPECT_EQ(test, pincount(folios[i]), pins[i]);
		KUNIT_EXPECT_FALSE(test, folio_maybe_dma_pinned(folios[i]));
	}
	KUNIT_EXPECT_EQ(test, slices.nr_slices, 0);
	KUNIT_EXPECT_EQ(test, slices.nr_pages, 0);
	KUNIT_EXPECT_NULL(test, slices.slice);
}

/* Release after a failure part way: only what was stored is unpinned. */
static void release_partial_buffer_test(struct kunit *test)
{
	struct folio *folios[] = { test_folio(test, 0), test_folio(test, 0) };
	int refs[2] = { folio_ref_count(folios[0]), folio_ref_count(folios[1]) };
	struct udmabuf_slices slices = { };

	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_reserve(&slices, 1, 2));
	pin_like_gup(folios[0]);
	pin_like_gup(folios[1]);
	/* Room for one: the caller keeps (and drops) the second pin. */
	KUNIT_ASSERT_EQ(test, append(&slices, folios, 2, 0, 2), 1);
	unpin_folio(folios[1]);

	udmabuf_slices_release(&slices);
	KUNIT_EXPECT_EQ(test, folio_ref_count(folios[0]), refs[0]);
	KUNIT_EXPECT_EQ(test, folio_ref_count(folios[1]), refs[1]);
}

/*
 * A file made of folios, for the dedup cases: its pages are the folios'
 * pages in order, and an item is a page range of it.
 */
struct dedup_file {
	struct folio *folio[16];
	u32 start[16];
	int pins[16];
	u32 nr;
	u32 pages;
};

static struct dedup_file *dedup_file(struct kunit *test,
				     const unsigned int *orders, u32 nr)
{
	struct dedup_file *file = kunit_kzalloc(test, sizeof(*file),
						GFP_KERNEL);
	u32 i;

	KUNIT_ASSERT_NOT_NULL(test, file);
	KUNIT_ASSERT_LE(test, nr, ARRAY_SIZE(file->folio));
	for (i = 0; i < nr; i++) {
		file->folio[i] = test_folio(test, orders[i]);
		file->start[i] = file->pages;
		file->pins[i] = pincount(file->folio[i]);
		file->pages += folio_nr_pages(file->folio[i]);
	}
	file->nr = nr;
	return file;
}

/*
 * Pin and append pages [@first, @first + @nr) of @file as one item would,
 * each folio once, and describe them in @ext.
 */
static void dedup_append_item(struct kunit *test,
			      struct udmabuf_slices *slices,
			      struct dedup_file *file, u32 first, u32 nr,
			      struct udmabuf_extent *ext)
{
	u32 f = 0, last, i;

	KUNIT_ASSERT_LE(test, first + nr, file->pages);
	while (f + 1 < file->nr && file->start[f + 1] <= first)
		f++;
	for (last = f; file->start[last] + folio_nr_pages(file->folio[last]) <
	     first + nr; last++)
		;
	*ext = (struct udmabuf_extent) {
		.mapping = (void *)file,
		.first = first,
		.end = first + nr,
		.slice = slices->nr_slices,
		.nr_slices = last - f + 1,
	};
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_reserve(slices, last - f + 1,
							U32_MAX));
	for (i = f; i <= last; i++)
		pin_like_gup(file->folio[i]);
	KUNIT_ASSERT_EQ(test, append(slices, file->folio + f, last - f + 1,
				     first - file->start[f], nr),
			last - f + 1);
}

/*
 * After dedup: every folio that some item names carries exactly one pin
 * more than at the start, and exactly one slice of it says it owns it.
 */
static void expect_one_pin_per_folio(struct kunit *test,
				     const struct udmabuf_slices *slices,
				     struct dedup_file *file)
{
	u32 i, j;

	for (i = 0; i < file->nr; i++) {
		u32 slices_of = 0, owners = 0;

		for (j = 0; j < slices->nr_slices; j++) {
			if (slices->slice[j].folio != file->folio[i])
				continue;
			slices_of++;
			owners += slices->slice[j].pinned;
		}
		KUNIT_EXPECT_EQ_MSG(test, owners, slices_of ? 1 : 0,
				    "owners of folio %u", i);
		KUNIT_EXPECT_EQ_MSG(test, pincount(file->folio[i]),
				    file->pins[i] + (slices_of ? 1 : 0),
				    "pins of folio %u", i);
	}
}

static void expect_pins_back(struct kunit *test, struct dedup_file *file)
{
	u32 i;

	for (i = 0; i < file->nr; i++) {
		KUNIT_EXPECT_EQ_MSG(test, pincount(file->folio[i]),
				    file->pins[i], "pins of folio %u", i);
		KUNIT_EXPECT_FALSE(test, folio_maybe_dma_pinned(file->folio[i]));
	}
}

struct dedup_case {
	const char *name;
	unsigned int orders[6];
	u32 nr_folios;
	u32 items[8][2];
	u32 count;
};

static const struct dedup_case dedup_cases[] = {
	{ "the same range twice", { 2, 0, 3 }, 3, { { 0, 13 }, { 0, 13 } }, 2 },
	{ "items that end and begin in one folio", { 2, 0, 3 }, 3,
	  { { 0, 2 }, { 2, 9 } }, 2 },
	{ "items around a gap inside one folio", { 3, 0 }, 2,
	  { { 0, 2 }, { 6, 3 } }, 2 },
	{ "overlapping items out of order", { 1, 2, 0, 3, 0 }, 5,
	  { { 9, 6 }, { 0, 5 }, { 3, 8 }, { 14, 2 } }, 4 },
	{ "one page named again and again", { 0 }, 1,
	  { { 0, 1 }, { 0, 1 }, { 0, 1 }, { 0, 1 }, { 0, 1 }, { 0, 1 } }, 6 },
	{ "items that share nothing", { 0, 0, 0, 0 }, 4,
	  { { 0, 1 }, { 2, 2 } }, 2 },
	{ "an item inside a longer one", { 0, 2, 1, 0 }, 4,
	  { { 0, 8 }, { 3, 2 }, { 1, 1 } }, 3 },
	{ "disjoint items inside one folio, out of order", { 3 }, 1,
	  { { 5, 3 }, { 0, 2 }, { 3, 1 } }, 3 },
	{ "disjoint items, each folio shared with the next", { 1, 1, 1, 0 }, 4,
	  { { 0, 3 }, { 3, 2 }, { 5, 2 } }, 3 },
	/* Four slices an item: by order and neighbours, not by hashing. */
	{ "long disjoint items sharing a boundary folio",
	  { 1, 0, 0, 1, 0, 0 }, 6, { { 0, 5 }, { 5, 3 } }, 2 },
	{ "long disjoint items out of order", { 1, 0, 0, 1, 0, 0 }, 6,
	  { { 5, 3 }, { 0, 5 } }, 2 },
	{ "long items that share nothing", { 0, 0, 0, 0, 0, 0 }, 6,
	  { { 3, 3 }, { 0, 3 } }, 2 },
};

KUNIT_ARRAY_PARAM_DESC(dedup, dedup_cases, name);

/*
 * However items overlap, after dedup a buffer holds one pin per distinct
 * folio, and release drops each of them once.
 */
static void dedup_one_pin_per_folio_test(struct kunit *test)
{
	const struct dedup_case *c = test->param_value;
	struct dedup_file *file = dedup_file(test, c->orders, c->nr_folios);
	struct udmabuf_extent ext[ARRAY_SIZE(c->items)];
	struct udmabuf_slices slices = { };
	u32 i;

	for (i = 0; i < c->count; i++)
		dedup_append_item(test, &slices, file, c->items[i][0],
				  c->items[i][1], &ext[i]);
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_dedup(&slices, ext, c->count));
	expect_one_pin_per_folio(test, &slices, file);

	udmabuf_slices_release(&slices);
	expect_pins_back(test, file);
}

/*
 * Random items over two files of random folios: after dedup every folio
 * named holds one pin, and release gives every pin back.
 */
static void dedup_random_items_test(struct kunit *test)
{
	struct udmabuf_extent *ext;
	struct dedup_file *files[2];
	unsigned int orders[8];
	u32 round, i, count;

	ext = kunit_kcalloc(test, 64, sizeof(*ext), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ext);
	for (round = 0; round < 20; round++) {
		struct udmabuf_slices slices = { };

		for (i = 0; i < 2; i++) {
			u32 j;

			for (j = 0; j < ARRAY_SIZE(orders); j++)
				orders[j] = get_random_u32_below(4);
			files[i] = dedup_file(test, orders, ARRAY_SIZE(orders));
		}
		count = 2 + get_random_u32_below(63);
		for (i = 0; i < count; i++) {
			struct dedup_file *file = files[get_random_u32_below(2)];
			u32 first = get_random_u32_below(file->pages);
			u32 nr = 1 + get_random_u32_below(min(file->pages - first,
							      12U));

			dedup_append_item(test, &slices, file, first, nr,
					  &ext[i]);
		}
		KUNIT_ASSERT_EQ(test, 0,
				udmabuf_slices_dedup(&slices, ext, count));
		expect_one_pin_per_folio(test, &slices, files[0]);
		expect_one_pin_per_folio(test, &slices, files[1]);
		udmabuf_slices_release(&slices);
		expect_pins_back(test, files[0]);
		expect_pins_back(test, files[1]);
	}
}

/* Dedup without memory: -ENOMEM, every slice keeps the pin it had. */
static void dedup_failure_test(struct kunit *test)
{
	static const unsigned int orders[] = { 0, 2 };
	struct dedup_file *file = dedup_file(test, orders, 2);
	struct udmabuf_slices slices = { };
	struct udmabuf_extent ext[3];
	struct udmabuf_allocs before;
	u32 i;

	udmabuf_test_faults_init(test);
	for (i = 0; i < 3; i++)
		dedup_append_item(test, &slices, file, 0, 3, &ext[i]);
	before = udmabuf_test_allocs();
	udmabuf_test_fail_from(1);
	KUNIT_EXPECT_EQ(test, -ENOMEM, udmabuf_slices_dedup(&slices, ext, 3));
	KUNIT_EXPECT_TRUE(test, udmabuf_test_fail_stop());
	udmabuf_test_expect_allocs(test, &before);
	for (i = 0; i < slices.nr_slices; i++)
		KUNIT_EXPECT_EQ(test, (u32)slices.slice[i].pinned, 1);
	KUNIT_EXPECT_EQ(test, pincount(file->folio[0]), file->pins[0] + 3);

	udmabuf_slices_release(&slices);
	expect_pins_back(test, file);
}

/* One item: nothing to compare, nothing allocated. */
static void dedup_one_item_test(struct kunit *test)
{
	static const unsigned int orders[] = { 1 };
	struct dedup_file *file = dedup_file(test, orders, 1);
	struct udmabuf_slices slices = { };
	struct udmabuf_allocs before;
	struct udmabuf_extent ext;

	dedup_append_item(test, &slices, file, 0, 2, &ext);
	before = udmabuf_test_allocs();
	KUNIT_EXPECT_EQ(test, 0, udmabuf_slices_dedup(&slices, &ext, 1));
	udmabuf_test_expect_allocs(test, &before);
	expect_one_pin_per_folio(test, &slices, file);
	udmabuf_slices_release(&slices);
	expect_pins_back(test, file);
}

static void release_empty_test(struct kunit *test)
{
	struct udmabuf_slices slices = { };

	udmabuf_slices_release(&slices);
	KUNIT_EXPECT_NULL(test, slices.slice);
	KUNIT_EXPECT_EQ(test, slices.capacity, 0);
}

struct count_pages_case {
	const char *name;
	struct udmabuf_create_item items[3];
	u32 count;
	u64 max_pages;
	int ret;
	u32 total;
};

#define PG(n)	((u64)(n) * PAGE_SIZE)

static const struct count_pages_case count_pages_cases[] = {
	{ "one page", { { .size = PG(1) } }, 1, 16, 0, 1 },
	{ "items add up", { { .size = PG(2) }, { .offset = PG(5), .size = PG(3) } },
	  2, 16, 0, 5 },
	{ "exactly the limit", { { .size = PG(16) } }, 1, 16, 0, 16 },
	{ "one page over the limit", { { .size = PG(17) } }, 1, 16, -EINVAL },
	{ "items together over the limit",
	  { { .size = PG(9) }, { .size = PG(8) } }, 2, 16, -EINVAL },
	{ "limit zero", { { .size = PG(1) } }, 1, 0, -EINVAL },
	{ "no items", { }, 0, 16, -EINVAL },
	{ "zero size", { { .size = 0 } }, 1, 16, -EINVAL },
	{ "zero size after a good item", { { .size = PG(1) }, { .size = 0 } },
	  2, 16, -EINVAL },
	{ "unaligned offset", { { .offset = 512, .size = PG(1) } }, 1, 16,
	  -EINVAL },
	{ "unaligned size", { { .size = PG(1) + 1 } }, 1, 16, -EINVAL },
	{ "offset plus size overflows",
	  { { .offset = U64_MAX & PAGE_MASK, .size = PG(2) } }, 1, 16, -EINVAL },
	{ "end past the largest file offset",
	  { { .offset = (u64)LLONG_MAX + 1 - PG(1), .size = PG(2) } }, 1, 16,
	  -EINVAL },
	{ "end at the largest file offset",
	  { { .offset = (u64)LLONG_MAX + 1 - PG(2), .size = PG(1) } }, 1, 16,
	  0, 1 },
	{ "huge size", { { .size = U64_MAX & PAGE_MASK } }, 1, U64_MAX, -EINVAL },
};

KUNIT_ARRAY_PARAM_DESC(count_pages, count_pages_cases, name);

static void count_pages_test(struct kunit *test)
{
	const struct count_pages_case *c = test->param_value;
	u32 total = 0xdead;

	KUNIT_EXPECT_EQ(test, udmabuf_count_pages(c->items, c->count,
						  c->max_pages, &total),
			c->ret);
	KUNIT_EXPECT_EQ(test, total, c->ret ? 0xdead : c->total);
}

/*
 * Items continue a range only in the same descriptor and from where it
 * ends. The runs: three items of fd 3; an item of fd 4 whose next leaves
 * a gap; one whose next goes backwards; one whose next overlaps it; two
 * that continue each other; the last, in fd 5.
 */
static void item_run_test(struct kunit *test)
{
	static const struct udmabuf_create_item items[] = {
		{ .memfd = 3, .offset = 0x0000, .size = 0x1000 },
		{ .memfd = 3, .offset = 0x1000, .size = 0x3000 },
		{ .memfd = 3, .offset = 0x4000, .size = 0x1000 },
		{ .memfd = 4, .offset = 0x5000, .size = 0x1000 },
		{ .memfd = 4, .offset = 0x7000, .size = 0x1000 },
		{ .memfd = 4, .offset = 0x6000, .size = 0x1000 },
		{ .memfd = 4, .offset = 0x6000, .size = 0x2000 },
		{ .memfd = 4, .offset = 0x8000, .size = 0x1000 },
		{ .memfd = 5, .offset = 0x9000, .size = 0x1000 },
	};
	static const struct { u32 first, next; u64 offset, size; } runs[] = {
		{ 0, 3, 0x0000, 0x5000 },
		{ 3, 4, 0x5000, 0x1000 },
		{ 4, 5, 0x7000, 0x1000 },
		{ 5, 6, 0x6000, 0x1000 },
		{ 6, 8, 0x6000, 0x3000 },
		{ 8, 9, 0x9000, 0x1000 },
	};
	struct udmabuf_create_item range;
	u32 i, next = 0;

	for (i = 0; i < ARRAY_SIZE(runs); i++) {
		KUNIT_EXPECT_EQ(test, next, runs[i].first);
		next = udmabuf_item_run(items, ARRAY_SIZE(items), runs[i].first,
					&range);
		KUNIT_EXPECT_EQ_MSG(test, next, runs[i].next, "run %u", i);
		KUNIT_EXPECT_EQ(test, range.memfd, items[runs[i].first].memfd);
		KUNIT_EXPECT_EQ(test, range.offset, runs[i].offset);
		KUNIT_EXPECT_EQ(test, range.size, runs[i].size);
	}
	KUNIT_EXPECT_EQ(test, next, ARRAY_SIZE(items));
}

struct seals_case {
	const char *name;
	int seals;
	int ret;
};

static const struct seals_case seals_cases[] = {
	{ "not a memfd", -EINVAL, -EBADFD },
	{ "no seals", 0, -EINVAL },
	{ "shrink", F_SEAL_SHRINK, 0 },
	{ "shrink, grow and seal", F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, 0 },
	{ "grow only", F_SEAL_GROW, -EINVAL },
	{ "shrink and write", F_SEAL_SHRINK | F_SEAL_WRITE, -EINVAL },
	{ "shrink and future write", F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE,
	  -EINVAL },
	{ "write only", F_SEAL_WRITE, -EINVAL },
};

KUNIT_ARRAY_PARAM_DESC(seals, seals_cases, name);

static void check_seals_test(struct kunit *test)
{
	const struct seals_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, udmabuf_check_seals(c->seals), c->ret);
}

static struct kunit_case udmabuf_slices_cases[] = {
	KUNIT_CASE_PARAM(append_one_folio_test, one_folio_gen_params),
	KUNIT_CASE(append_crossing_folios_test),
	KUNIT_CASE(append_stops_at_max_pages_test),
	KUNIT_CASE(append_stops_at_capacity_test),
	KUNIT_CASE(append_items_sharing_folio_test),
	KUNIT_CASE(append_same_range_twice_test),
	KUNIT_CASE(find_every_page_test),
	KUNIT_CASE(runs_split_and_cap_test),
	KUNIT_CASE(runs_of_sub_range_test),
	KUNIT_CASE(runs_peek_and_skip_test),
	KUNIT_CASE(frame_iter_next_test),
	KUNIT_CASE(frame_iter_skip_across_runs_test),
	KUNIT_CASE_PARAM(map_order_test, map_order_gen_params),
	KUNIT_CASE(sgt_one_entry_per_run_test),
	KUNIT_CASE(sgt_respects_boundary_test),
	KUNIT_CASE(frames_sgt_each_page_once_test),
	KUNIT_CASE(frames_sgt_merges_touching_runs_test),
	KUNIT_CASE(estimate_test),
	KUNIT_CASE(reserve_grows_by_doubling_test),
	KUNIT_CASE(reserve_overflow_fails_test),
	KUNIT_CASE(reserve_past_kvmalloc_fails_test),
	KUNIT_CASE(trim_keeps_slices_test),
	KUNIT_CASE(reserve_failure_test),
	KUNIT_CASE(trim_failure_test),
	KUNIT_CASE(pages_failure_test),
	KUNIT_CASE(sgt_failure_at_each_allocation_test),
	KUNIT_CASE(frames_sgt_failure_at_each_allocation_test),
	KUNIT_CASE(release_unpins_each_slice_once_test),
	KUNIT_CASE(release_partial_buffer_test),
	KUNIT_CASE(release_empty_test),
	KUNIT_CASE_PARAM(dedup_one_pin_per_folio_test, dedup_gen_params),
	KUNIT_CASE(dedup_random_items_test),
	KUNIT_CASE(dedup_failure_test),
	KUNIT_CASE(dedup_one_item_test),
	KUNIT_CASE_PARAM(count_pages_test, count_pages_gen_params),
	KUNIT_CASE(item_run_test),
	KUNIT_CASE_PARAM(check_seals_test, seals_gen_params),
	{}
};

static struct kunit_suite udmabuf_slices_suite = {
	.name = "udmabuf-slices",
	.test_cases = udmabuf_slices_cases,
};

kunit_test_suite(udmabuf_slices_suite);

MODULE_DESCRIPTION("KUnit tests for the udmabuf folio slice helpers");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
