// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for udmabuf's folio slices (udmabuf-slices.c): storage,
 * lookup, the run cursor, the frame iterator, udmabuf_map_order() and
 * release, on real folios of order 0 and above from folio_alloc().
 */

#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "../udmabuf-slices.h"
#include "udmabuf-kunit-helpers.h"

/* The frame behind buffer page @page, through the lookup the driver uses. */
static unsigned long page_pfn(const struct udmabuf_slices *slices, pgoff_t page)
{
	const struct udmabuf_slice *slice =
		&slices->slice[udmabuf_slices_find(slices, page)];

	return folio_pfn(slice->folio) + slice->folio_pgoff +
	       (page - slice->buf_pgoff);
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
	struct folio *folio = udmabuf_test_folio(test, c->order);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 1);
	u32 i;

	KUNIT_EXPECT_EQ(test, udmabuf_test_append(slices, &folio, 1,
						  c->first_page, c->pages), 1);
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
		udmabuf_test_folio(test, 2), udmabuf_test_folio(test, 0),
		udmabuf_test_folio(test, 3),
	};
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 3);
	unsigned long expected[6];
	u32 i;

	KUNIT_EXPECT_EQ(test, udmabuf_test_append(slices, folios, 3, 1, 6), 3);
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
		udmabuf_test_folio(test, 1), udmabuf_test_folio(test, 1),
		udmabuf_test_folio(test, 0),
	};
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 3);

	KUNIT_EXPECT_EQ(test, udmabuf_test_append(slices, folios, 3, 0, 3), 2);
	KUNIT_EXPECT_EQ(test, slices->nr_slices, 2);
	KUNIT_EXPECT_EQ(test, slices->nr_pages, 3);
	expect_slice(test, slices, 1, folios[1], 0, 2, 1);
}

/* Never more slices than reserved room, and the page count agrees. */
static void append_stops_at_capacity_test(struct kunit *test)
{
	struct folio *folios[] = {
		udmabuf_test_folio(test, 0), udmabuf_test_folio(test, 0),
		udmabuf_test_folio(test, 0),
	};
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 2);

	KUNIT_EXPECT_EQ(test, udmabuf_test_append(slices, folios, 3, 0, 3), 2);
	KUNIT_EXPECT_EQ(test, slices->nr_slices, 2);
	KUNIT_EXPECT_EQ(test, slices->nr_pages, 2);
	KUNIT_EXPECT_EQ(test,
			udmabuf_test_append(slices, folios + 2, 1, 0, 1), 0);
	KUNIT_EXPECT_EQ(test, slices->nr_pages, 2);
}

/* Two list items that end and begin inside one folio: two slices. */
static void append_items_sharing_folio_test(struct kunit *test)
{
	struct folio *folio = udmabuf_test_folio(test, 2);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 2);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len;
	u32 i;

	KUNIT_EXPECT_EQ(test, udmabuf_test_append(slices, &folio, 1, 0, 2), 1);
	KUNIT_EXPECT_EQ(test, udmabuf_test_append(slices, &folio, 1, 2, 2), 1);
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
	struct folio *folio = udmabuf_test_folio(test, 1);
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 2);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len;

	KUNIT_EXPECT_EQ(test, udmabuf_test_append(slices, &folio, 1, 0, 2), 1);
	KUNIT_EXPECT_EQ(test, udmabuf_test_append(slices, &folio, 1, 0, 2), 1);
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
	struct udmabuf_slices *slices = udmabuf_test_slices(test, nr);
	struct folio **folios;
	u32 *first_page;
	u32 i, f, pages = 0;

	folios = kunit_kcalloc(test, nr, sizeof(*folios), GFP_KERNEL);
	first_page = kunit_kcalloc(test, nr + 1, sizeof(*first_page),
				   GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, folios);
	KUNIT_ASSERT_NOT_NULL(test, first_page);
	for (i = 0; i < nr; i++) {
		folios[i] = udmabuf_test_folio(test, i % 3);
		first_page[i] = pages;
		pages += 1 << (i % 3);
		KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, &folios[i], 1,
							  0, 1 << (i % 3)), 1);
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

/*
 * Slices of nine pages: the eight of an order-3 folio, then the one of a
 * folio whose frame does not follow them, in @folios.
 */
static struct udmabuf_slices *nine_pages_in_two_runs(struct kunit *test,
						     struct folio **folios)
{
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 2);

	folios[0] = udmabuf_test_folio(test, 3);
	folios[1] = udmabuf_test_folio_apart(test, 0, folios[0]);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, folios, 2, 0, 9), 2);
	return slices;
}

/* Runs stop where frames stop following each other, and at the cap. */
static void runs_split_and_cap_test(struct kunit *test)
{
	struct folio *folios[2];
	struct udmabuf_slices *slices = nine_pages_in_two_runs(test, folios);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len;

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

/*
 * A peek gives the frame the next run starts at, from inside a slice or at
 * a slice's start, and moves nothing: the run starts there.
 */
static void run_peek_gives_next_frame_test(struct kunit *test)
{
	struct folio *folios[2];
	struct udmabuf_slices *slices = nine_pages_in_two_runs(test, folios);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len;

	udmabuf_pfn_run_start(&run, slices, 5, 4, 2);
	KUNIT_EXPECT_EQ(test, udmabuf_pfn_run_peek(&run),
			folio_pfn(folios[0]) + 5);
	KUNIT_EXPECT_EQ(test, udmabuf_pfn_run_peek(&run),
			folio_pfn(folios[0]) + 5);
	KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, pfn, folio_pfn(folios[0]) + 5);
	KUNIT_EXPECT_EQ(test, udmabuf_pfn_run_peek(&run),
			folio_pfn(folios[0]) + 7);
	KUNIT_ASSERT_TRUE(test, udmabuf_pfn_run_next(&run, &pfn, &len));
	KUNIT_EXPECT_EQ(test, len, 1);
	KUNIT_EXPECT_EQ(test, udmabuf_pfn_run_peek(&run), folio_pfn(folios[1]));

	udmabuf_pfn_run_start(&run, slices, 8, 1, 0);
	KUNIT_EXPECT_EQ(test, udmabuf_pfn_run_peek(&run), folio_pfn(folios[1]));
}

/* A sub-range that starts and ends inside slices. */
static void runs_of_sub_range_test(struct kunit *test)
{
	struct folio *folios[] = {
		udmabuf_test_folio(test, 2), udmabuf_test_folio(test, 2),
	};
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 2);
	struct udmabuf_pfn_run run;
	unsigned long pfn;
	pgoff_t len, seen = 0;

	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, folios, 2, 0, 8), 2);
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
	struct folio *folios[] = {
		udmabuf_test_folio(test, 2), udmabuf_test_folio(test, 0),
		udmabuf_test_folio(test, 2),
	};
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 3);
	struct udmabuf_frame_iter iter;
	unsigned long pfn;
	pgoff_t len, page = 1;

	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, folios, 3, 0, 9), 3);
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
	struct folio *folios[] = {
		udmabuf_test_folio(test, 2), udmabuf_test_folio(test, 0),
		udmabuf_test_folio(test, 2),
	};
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 3);
	struct udmabuf_frame_iter iter;
	unsigned long pfn, peeked;
	pgoff_t len, page;

	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, folios, 3, 0, 9), 3);
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
	struct folio *folios[] = {
		udmabuf_test_folio(test, 2), udmabuf_test_folio(test, 0),
		udmabuf_test_folio(test, 2),
	};
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 3);
	struct udmabuf_frame_iter iter;
	unsigned long pfn;
	pgoff_t len;

	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, folios, 3, 0, 9), 3);
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

/* The estimate of slices still needed, from the folios pinned so far. */
static void estimate_test(struct kunit *test)
{
	struct folio *small[] = {
		udmabuf_test_folio(test, 0), udmabuf_test_folio(test, 0),
	};
	struct folio *huge[] = {
		udmabuf_test_folio(test, 9), udmabuf_test_folio(test, 9),
	};
	struct folio *mixed[] = {
		udmabuf_test_folio(test, 9), udmabuf_test_folio(test, 2),
	};

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
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 1);

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
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 2);
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
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 2);
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
	struct folio *folios[] = {
		udmabuf_test_folio(test, 0), udmabuf_test_folio(test, 1),
	};
	struct udmabuf_allocs before = udmabuf_test_allocs();
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 64);
	struct udmabuf_allocs grown = udmabuf_test_allocs(), now;

	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, folios, 2, 0, 3), 2);
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
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 4);
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
	struct folio *folios[] = {
		udmabuf_test_folio(test, 0), udmabuf_test_folio(test, 1),
	};
	struct udmabuf_slices *slices = udmabuf_test_slices(test, 64);
	struct udmabuf_allocs before;
	struct udmabuf_slice *array;

	udmabuf_test_faults_init(test);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(slices, folios, 2, 0, 3), 2);
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

/* Every pin is dropped once: shared folios twice, large ones too. */
static void release_unpins_each_slice_once_test(struct kunit *test)
{
	struct folio *folios[] = {
		udmabuf_test_folio(test, 0), udmabuf_test_folio(test, 2),
		udmabuf_test_folio(test, 9),
	};
	int refs[3], pins[3];
	struct udmabuf_slices slices = { };
	u32 i;

	for (i = 0; i < 3; i++) {
		refs[i] = folio_ref_count(folios[i]);
		pins[i] = udmabuf_test_folio_pins(folios[i]);
	}

	/* Item 1: folios 0 and 1 up to page 2 of folio 1. */
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_reserve(&slices, 2, 5));
	udmabuf_test_pin_like_gup(folios[0]);
	udmabuf_test_pin_like_gup(folios[1]);
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(&slices, folios, 2, 0, 3), 2);
	/* Item 2: from page 2 of folio 1 into the 2 MiB folio. */
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_reserve(&slices, 2, 5));
	udmabuf_test_pin_like_gup(folios[1]);
	udmabuf_test_pin_like_gup(folios[2]);
	KUNIT_ASSERT_EQ(test,
			udmabuf_test_append(&slices, folios + 1, 2, 2, 300), 2);
	KUNIT_EXPECT_EQ(test, slices.nr_pages, 303);
	KUNIT_EXPECT_EQ(test, udmabuf_test_folio_pins(folios[1]), pins[1] + 2);

	udmabuf_slices_release(&slices);
	for (i = 0; i < 3; i++) {
		KUNIT_EXPECT_EQ(test, folio_ref_count(folios[i]), refs[i]);
		KUNIT_EXPECT_EQ(test, udmabuf_test_folio_pins(folios[i]),
				pins[i]);
		KUNIT_EXPECT_FALSE(test, folio_maybe_dma_pinned(folios[i]));
	}
	KUNIT_EXPECT_EQ(test, slices.nr_slices, 0);
	KUNIT_EXPECT_EQ(test, slices.nr_pages, 0);
	KUNIT_EXPECT_NULL(test, slices.slice);
}

/* Release after a failure part way: only what was stored is unpinned. */
static void release_partial_buffer_test(struct kunit *test)
{
	struct folio *folios[] = {
		udmabuf_test_folio(test, 0), udmabuf_test_folio(test, 0),
	};
	int refs[2] = { folio_ref_count(folios[0]), folio_ref_count(folios[1]) };
	struct udmabuf_slices slices = { };

	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_reserve(&slices, 1, 2));
	udmabuf_test_pin_like_gup(folios[0]);
	udmabuf_test_pin_like_gup(folios[1]);
	/* Room for one: the caller keeps (and drops) the second pin. */
	KUNIT_ASSERT_EQ(test, udmabuf_test_append(&slices, folios, 2, 0, 2), 1);
	unpin_folio(folios[1]);

	udmabuf_slices_release(&slices);
	KUNIT_EXPECT_EQ(test, folio_ref_count(folios[0]), refs[0]);
	KUNIT_EXPECT_EQ(test, folio_ref_count(folios[1]), refs[1]);
}

static void release_empty_test(struct kunit *test)
{
	struct udmabuf_slices slices = { };

	udmabuf_slices_release(&slices);
	KUNIT_EXPECT_NULL(test, slices.slice);
	KUNIT_EXPECT_EQ(test, slices.capacity, 0);
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
	KUNIT_CASE(run_peek_gives_next_frame_test),
	KUNIT_CASE(runs_of_sub_range_test),
	KUNIT_CASE(runs_peek_and_skip_test),
	KUNIT_CASE(frame_iter_next_test),
	KUNIT_CASE(frame_iter_skip_across_runs_test),
	KUNIT_CASE_PARAM(map_order_test, map_order_gen_params),
	KUNIT_CASE(estimate_test),
	KUNIT_CASE(reserve_grows_by_doubling_test),
	KUNIT_CASE(reserve_overflow_fails_test),
	KUNIT_CASE(reserve_past_kvmalloc_fails_test),
	KUNIT_CASE(trim_keeps_slices_test),
	KUNIT_CASE(reserve_failure_test),
	KUNIT_CASE(trim_failure_test),
	KUNIT_CASE(release_unpins_each_slice_once_test),
	KUNIT_CASE(release_partial_buffer_test),
	KUNIT_CASE(release_empty_test),
	{}
};

static struct kunit_suite udmabuf_slices_suite = {
	.name = "udmabuf-slices",
	.test_cases = udmabuf_slices_cases,
};

kunit_test_suite(udmabuf_slices_suite);
