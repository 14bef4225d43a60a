// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for udmabuf_slices_dedup() (udmabuf-dedup.c): one pin per
 * distinct folio, however create items overlap, on real folios from
 * folio_alloc() that the test pins as GUP would.
 */

#include <kunit/test.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/slab.h>

#include "../udmabuf-slices.h"
#include "udmabuf-kunit-helpers.h"

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
		file->folio[i] = udmabuf_test_folio(test, orders[i]);
		file->start[i] = file->pages;
		file->pins[i] = udmabuf_test_folio_pins(file->folio[i]);
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
		udmabuf_test_pin_like_gup(file->folio[i]);
	KUNIT_ASSERT_EQ(test,
			udmabuf_test_append(slices, file->folio + f,
					    last - f + 1,
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
		KUNIT_EXPECT_EQ_MSG(test,
				    udmabuf_test_folio_pins(file->folio[i]),
				    file->pins[i] + (slices_of ? 1 : 0),
				    "pins of folio %u", i);
	}
}

static void expect_pins_back(struct kunit *test, struct dedup_file *file)
{
	u32 i;

	for (i = 0; i < file->nr; i++) {
		KUNIT_EXPECT_EQ_MSG(test,
				    udmabuf_test_folio_pins(file->folio[i]),
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
	{ "a long item, then one inside its last folio", { 0, 0, 0, 2 }, 4,
	  { { 0, 4 }, { 5, 2 } }, 2 },
	/* Sorted, the item sharing a pin comes before the one holding it. */
	{ "an item inside the folio before it, sorted before it",
	  { 0, 0, 0, 0, 0, 2 }, 6, { { 7, 1 }, { 5, 1 }, { 0, 5 } }, 3 },
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
 * Append an item as the driver does: one inside the folio of the slice
 * before it shares that folio's pin (a slice without a pin of its own),
 * any other is pinned as one item would be.
 */
static void dedup_append_sharing(struct kunit *test,
				 struct udmabuf_slices *slices,
				 struct dedup_file *file, u32 first, u32 nr,
				 struct udmabuf_extent *ext)
{
	struct folio *last = slices->nr_slices ?
		slices->slice[slices->nr_slices - 1].folio : NULL;
	u32 f;

	for (f = 0; f < file->nr && file->folio[f] != last; f++)
		;
	if (f == file->nr || first < file->start[f] ||
	    first + nr > file->start[f] + folio_nr_pages(last)) {
		dedup_append_item(test, slices, file, first, nr, ext);
		return;
	}
	*ext = (struct udmabuf_extent) {
		.mapping = (void *)file,
		.first = first,
		.end = first + nr,
		.slice = slices->nr_slices,
		.nr_slices = 1,
	};
	KUNIT_ASSERT_EQ(test, 0, udmabuf_slices_reserve(slices, 1, U32_MAX));
	udmabuf_slices_append_shared(slices, last, first - file->start[f], nr);
	KUNIT_EXPECT_EQ(test, slices->nr_pages,
			slices->slice[ext->slice].buf_pgoff + nr);
	KUNIT_EXPECT_EQ(test, (u32)slices->slice[ext->slice].pinned, 0);
}

/*
 * Slices that share the pin of the slice before them are passed by: after
 * dedup, by extents or (extents NULL) by the slices' folios alone, every
 * folio named holds one pin, and release gives each back once.
 */
static void dedup_shared_slices_test(struct kunit *test)
{
	const struct dedup_case *c = test->param_value;
	struct udmabuf_extent ext[ARRAY_SIZE(c->items)];
	int by_extents;
	u32 i;

	for (by_extents = 0; by_extents < 2; by_extents++) {
		struct dedup_file *file = dedup_file(test, c->orders,
						     c->nr_folios);
		struct udmabuf_slices slices = { };

		for (i = 0; i < c->count; i++)
			dedup_append_sharing(test, &slices, file,
					     c->items[i][0], c->items[i][1],
					     &ext[i]);
		KUNIT_ASSERT_EQ(test, 0,
				udmabuf_slices_dedup(&slices,
						     by_extents ? ext : NULL,
						     c->count));
		expect_one_pin_per_folio(test, &slices, file);
		udmabuf_slices_release(&slices);
		expect_pins_back(test, file);
	}
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
	KUNIT_EXPECT_EQ(test, udmabuf_test_folio_pins(file->folio[0]),
			file->pins[0] + 3);

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

static struct kunit_case udmabuf_dedup_cases[] = {
	KUNIT_CASE_PARAM(dedup_one_pin_per_folio_test, dedup_gen_params),
	KUNIT_CASE_PARAM(dedup_shared_slices_test, dedup_gen_params),
	KUNIT_CASE(dedup_random_items_test),
	KUNIT_CASE(dedup_failure_test),
	KUNIT_CASE(dedup_one_item_test),
	{}
};

static struct kunit_suite udmabuf_dedup_suite = {
	.name = "udmabuf-dedup",
	.test_cases = udmabuf_dedup_cases,
};

kunit_test_suite(udmabuf_dedup_suite);
