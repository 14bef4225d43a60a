// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the checks of a create request that need no file
 * (udmabuf-items.c): item sizes and offsets, ranges that continue each
 * other, and seals.
 */

#include <kunit/test.h>
#include <linux/fcntl.h>
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/udmabuf.h>

#include "../udmabuf-items.h"

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

static struct kunit_case udmabuf_items_cases[] = {
	KUNIT_CASE_PARAM(count_pages_test, count_pages_gen_params),
	KUNIT_CASE(item_run_test),
	KUNIT_CASE_PARAM(check_seals_test, seals_gen_params),
	{}
};

static struct kunit_suite udmabuf_items_suite = {
	.name = "udmabuf-items",
	.test_cases = udmabuf_items_cases,
};

kunit_test_suite(udmabuf_items_suite);
