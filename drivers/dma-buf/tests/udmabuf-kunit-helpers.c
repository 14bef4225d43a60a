// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the udmabuf KUnit suites: folios and slices for the
 * suites of the pure helpers, fault injection, and allocation accounting.
 *
 * Failures come from the kernel's failslab and fail_page_alloc, armed so
 * that only tasks with make_it_fail set see failures; current->fail_nth
 * picks the first allocation to fail: with probability 100, that one and
 * every later one of the task fails, as when memory runs out for good.
 *
 * What is left allocated is read from allocation profiling
 * (CONFIG_MEM_ALLOC_PROFILING): the live calls and bytes of every
 * allocation call site in the driver's files, and in lib/scatterlist.c
 * for the entries of its sg tables.
 */

#include <kunit/test.h>
#include <linux/alloc_tag.h>
#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/workqueue.h>

#include "../udmabuf-slices.h"
#include "udmabuf-kunit-helpers.h"

KUNIT_DEFINE_ACTION_WRAPPER(folio_put_action, folio_put, struct folio *);

/**
 * udmabuf_test_folio - a folio of the test's own
 * @test: the running test
 * @order: its order
 *
 * Return: a folio from folio_alloc(), put when the test ends.
 */
struct folio *udmabuf_test_folio(struct kunit *test, unsigned int order)
{
	struct folio *folio = folio_alloc(GFP_KERNEL, order);

	KUNIT_ASSERT_NOT_NULL(test, folio);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, folio_put_action,
						  folio));
	return folio;
}

/**
 * udmabuf_test_folio_apart - a folio of the test's own, not next to another
 * @test: the running test
 * @order: its order
 * @other: the folio it must not touch
 *
 * Folios that touch in frame order run into each other in a table. A folio
 * that does is kept until the test ends, so the next try gets other frames.
 *
 * Return: a folio from folio_alloc() whose frames neither end where
 * @other's start nor start where they end, put when the test ends.
 */
struct folio *udmabuf_test_folio_apart(struct kunit *test, unsigned int order,
				       struct folio *other)
{
	unsigned int tries;

	for (tries = 0; tries < 8; tries++) {
		struct folio *folio = udmabuf_test_folio(test, order);

		if (folio_pfn(folio) + folio_nr_pages(folio) !=
		    folio_pfn(other) &&
		    folio_pfn(other) + folio_nr_pages(other) !=
		    folio_pfn(folio))
			return folio;
	}
	KUNIT_FAIL_AND_ABORT(test, "8 folios in a row touch folio %lx",
			     folio_pfn(other));
	return NULL;
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

/**
 * udmabuf_test_slices - empty slices with room reserved
 * @test: the running test
 * @capacity: slices to reserve room for
 *
 * Return: slices forgotten, not released, when the test ends: their
 * folios carry no pin of theirs.
 */
struct udmabuf_slices *udmabuf_test_slices(struct kunit *test, u32 capacity)
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

/**
 * udmabuf_test_append - append folios, the range counted in pages
 * @slices: the slices to append to
 * @folios: the folios
 * @nr: entries in @folios
 * @first_page: where the range starts in the first folio
 * @pages: the most pages to append
 *
 * Return: what udmabuf_slices_append() returns, the folios stored.
 */
u32 udmabuf_test_append(struct udmabuf_slices *slices, struct folio **folios,
			u32 nr, u32 first_page, u32 pages)
{
	return udmabuf_slices_append(slices, folios, nr,
				     (size_t)first_page << PAGE_SHIFT, pages);
}

/**
 * udmabuf_test_pin_like_gup - pin a folio as memfd_pin_folios() does
 * @folio: a folio that no file backs
 *
 * The test stands in for GUP, so that a release has real pins to drop.
 */
void udmabuf_test_pin_like_gup(struct folio *folio)
{
	if (folio_has_pincount(folio)) {
		atomic_inc(&folio->_pincount);
		folio_ref_inc(folio);
	} else {
		folio_ref_add(folio, GUP_PIN_COUNTING_BIAS);
	}
}

/**
 * udmabuf_test_folio_pins - the pins a folio carries
 * @folio: the folio
 *
 * A small folio counts a pin as GUP_PIN_COUNTING_BIAS references.
 *
 * Return: its pin count.
 */
int udmabuf_test_folio_pins(struct folio *folio)
{
	return folio_has_pincount(folio) ? atomic_read(&folio->_pincount) :
	       folio_ref_count(folio) / GUP_PIN_COUNTING_BIAS;
}

/*
 * The knobs of failslab and fail_page_alloc. Their debugfs files have no
 * write_iter, so kernel_write() cannot set them; the value behind each
 * file is its inode's i_private, as debugfs_create_bool() and its kin
 * leave it, and that is what is set.
 */
enum fault_knob_type { KNOB_BOOL, KNOB_ULONG, KNOB_U32, KNOB_ATOMIC };

struct fault_knob {
	const char *dir;
	const char *name;
	enum fault_knob_type type;
	long armed;
};

static const struct fault_knob fault_knobs[] = {
	{ "failslab", "ignore-gfp-wait", KNOB_BOOL, false },
	{ "failslab", "task-filter", KNOB_BOOL, true },
	{ "failslab", "probability", KNOB_ULONG, 100 },
	{ "failslab", "times", KNOB_ATOMIC, -1 },
	{ "failslab", "verbose", KNOB_ULONG, 0 },
	{ "fail_page_alloc", "ignore-gfp-wait", KNOB_BOOL, false },
	{ "fail_page_alloc", "min-order", KNOB_U32, 0 },
	{ "fail_page_alloc", "task-filter", KNOB_BOOL, true },
	{ "fail_page_alloc", "probability", KNOB_ULONG, 100 },
	{ "fail_page_alloc", "times", KNOB_ATOMIC, -1 },
	{ "fail_page_alloc", "verbose", KNOB_ULONG, 0 },
};

/* What the knobs held before the test armed them. */
static long fault_knobs_saved[ARRAY_SIZE(fault_knobs)];

/* The value behind debugfs file @dir/@name, or NULL. */
static void *debugfs_value(const char *dir_name, const char *name)
{
	struct dentry *dir, *file;
	void *value;

	dir = debugfs_lookup(dir_name, NULL);
	if (!dir)
		return NULL;
	file = debugfs_lookup(name, dir);
	dput(dir);
	if (!file)
		return NULL;
	value = d_inode(file)->i_private;
	dput(file);
	return value;
}

static void *fault_knob_value(const struct fault_knob *knob)
{
	return debugfs_value(knob->dir, knob->name);
}

/* Set a knob, returning what it held. */
static long fault_knob_swap(const struct fault_knob *knob, long new)
{
	void *value = fault_knob_value(knob);
	long old;

	switch (knob->type) {
	case KNOB_BOOL:
		old = *(bool *)value;
		*(bool *)value = new;
		break;
	case KNOB_ULONG:
		old = *(unsigned long *)value;
		*(unsigned long *)value = new;
		break;
	case KNOB_U32:
		old = *(u32 *)value;
		*(u32 *)value = new;
		break;
	default:
		old = atomic_xchg((atomic_t *)value, new);
		break;
	}
	return old;
}

static void fault_knobs_disarm(void *unused)
{
	size_t i;

	udmabuf_test_fail_stop();
	for (i = 0; i < ARRAY_SIZE(fault_knobs); i++)
		fault_knob_swap(&fault_knobs[i], fault_knobs_saved[i]);
}

/**
 * udmabuf_test_faults_init - let this test fail its own allocations
 * @test: the running test; skipped where the kernel cannot inject
 *	failures or profile allocations
 *
 * Arms failslab and fail_page_alloc for tasks that ask for failures,
 * GFP_KERNEL ones and single pages included, and disarms them when the
 * test ends.
 */
void udmabuf_test_faults_init(struct kunit *test)
{
	size_t i;

	if (!IS_ENABLED(CONFIG_FAILSLAB) || !IS_ENABLED(CONFIG_FAIL_PAGE_ALLOC) ||
	    !IS_ENABLED(CONFIG_FAULT_INJECTION_DEBUG_FS) ||
	    !IS_ENABLED(CONFIG_MEM_ALLOC_PROFILING))
		kunit_skip(test, "needs failslab, fail_page_alloc and allocation profiling");

	for (i = 0; i < ARRAY_SIZE(fault_knobs); i++)
		KUNIT_ASSERT_NOT_NULL_MSG(test, fault_knob_value(&fault_knobs[i]),
					  "%s/%s", fault_knobs[i].dir,
					  fault_knobs[i].name);
	for (i = 0; i < ARRAY_SIZE(fault_knobs); i++)
		fault_knobs_saved[i] = fault_knob_swap(&fault_knobs[i],
						       fault_knobs[i].armed);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, fault_knobs_disarm,
						  NULL));
}

#ifdef CONFIG_FAULT_INJECTION
/* Set while a failure is asked for, until udmabuf_test_fail_stop(). */
static bool fault_asked;
#endif

static void fault_ask(unsigned int nth, bool and_later)
{
#ifdef CONFIG_FAULT_INJECTION
	WRITE_ONCE(current->fail_nth, nth);
	current->make_it_fail = and_later;
	fault_asked = true;
#endif
}

/**
 * udmabuf_test_fail_from - fail the current task's allocations from one on
 * @nth: the first allocation to fail, counting from 1; every later one
 *	fails too, until udmabuf_test_fail_stop()
 */
void udmabuf_test_fail_from(unsigned int nth)
{
	fault_ask(nth, true);
}

/**
 * udmabuf_test_fail_nth - fail one allocation of the current task
 * @nth: the allocation to fail, counting from 1; those after it succeed
 */
void udmabuf_test_fail_nth(unsigned int nth)
{
	fault_ask(nth, false);
}

/**
 * udmabuf_test_fail_stop - let the current task's allocations succeed again
 *
 * Return: true when an allocation was made to fail since
 * udmabuf_test_fail_from() or udmabuf_test_fail_nth(), false when the
 * task made fewer allocations than that.
 */
bool udmabuf_test_fail_stop(void)
{
	bool failed = false;

#ifdef CONFIG_FAULT_INJECTION
	failed = fault_asked && !READ_ONCE(current->fail_nth);
	WRITE_ONCE(current->fail_nth, 0);
	current->make_it_fail = 0;
	fault_asked = false;
#endif
	return failed;
}

#ifdef CONFIG_MEM_ALLOC_PROFILING
/* The alloc_tags section of vmlinux: one tag per allocation call site. */
extern struct alloc_tag __start_alloc_tags[], __stop_alloc_tags[];

static bool ends_with(const char *s, const char *suffix)
{
	size_t len = strlen(s), n = strlen(suffix);

	return len >= n && !strcmp(s + len - n, suffix);
}

/* The driver's files; the tests' are in drivers/dma-buf/tests/. */
static bool counted_site(const struct codetag *ct)
{
	return ends_with(ct->filename, "lib/scatterlist.c") ||
	       strstr(ct->filename, "drivers/dma-buf/udmabuf");
}
#endif

/**
 * udmabuf_test_dma_errors - the errors the DMA-API debugger has counted
 *
 * Read from the value behind dma-api/error_count in debugfs: it counts
 * every error, also those it no longer prints.
 *
 * Return: the count, or -1 when there is no debugger at work (not built
 * in, or turned off after one of its own allocations failed).
 */
long udmabuf_test_dma_errors(void)
{
	bool *disabled = debugfs_value("dma-api", "disabled");
	u32 *count = debugfs_value("dma-api", "error_count");

	if (!IS_ENABLED(CONFIG_DMA_API_DEBUG) || !disabled || !count ||
	    READ_ONCE(*disabled))
		return -1;
	return READ_ONCE(*count);
}

/**
 * udmabuf_test_dma_mappings - the mappings the DMA-API debugger tracks now
 *
 * Its entries in use, from the values behind dma-api/nr_total_entries and
 * dma-api/num_free_entries: one per mapped page or sg entry, of all
 * devices.
 *
 * Return: the count, or -1 when there is no debugger at work.
 */
long udmabuf_test_dma_mappings(void)
{
	bool *disabled = debugfs_value("dma-api", "disabled");
	u32 *total = debugfs_value("dma-api", "nr_total_entries");
	u32 *free = debugfs_value("dma-api", "num_free_entries");

	if (!IS_ENABLED(CONFIG_DMA_API_DEBUG) || !disabled || !total ||
	    !free || READ_ONCE(*disabled))
		return -1;
	return (long)READ_ONCE(*total) - READ_ONCE(*free);
}

/**
 * udmabuf_test_release_files - finish the test thread's deferred fput()s
 *
 * A kthread's last fput() goes on a list that a work item on system_wq
 * empties a jiffy later. flush_delayed_fput() of 6.12 releases what is
 * still on the list, but not a batch the work item has already taken and
 * is releasing: wait for that too, so that the files the test put are
 * released when this returns.
 */
void udmabuf_test_release_files(void)
{
	flush_delayed_fput();
	__flush_workqueue(system_wq);
}

/**
 * udmabuf_test_allocs - what the driver holds allocated now
 *
 * Sums allocation profiling's counters over the call sites of
 * drivers/dma-buf/udmabuf*.c and lib/scatterlist.c: slab, vmalloc and
 * page allocations alike, freed ones subtracted. Buffers whose last
 * reference went with a deferred fput() are released first.
 *
 * Return: the live calls and bytes; zero without allocation profiling.
 */
struct udmabuf_allocs udmabuf_test_allocs(void)
{
	struct udmabuf_allocs allocs = { };
#ifdef CONFIG_MEM_ALLOC_PROFILING
	struct alloc_tag *tag;

	udmabuf_test_release_files();

	for (tag = __start_alloc_tags; tag < __stop_alloc_tags; tag++) {
		struct alloc_tag_counters counters;

		if (!counted_site(&tag->ct))
			continue;
		counters = alloc_tag_read(tag);
		allocs.calls += counters.calls;
		allocs.bytes += counters.bytes;
	}
#endif
	return allocs;
}

/**
 * udmabuf_test_expect_allocs - expect the driver to hold what it held before
 * @test: the running test
 * @before: udmabuf_test_allocs() at the start
 */
void udmabuf_test_expect_allocs(struct kunit *test,
				const struct udmabuf_allocs *before)
{
	struct udmabuf_allocs now = udmabuf_test_allocs();

	KUNIT_EXPECT_EQ_MSG(test, now.calls, before->calls,
			    "live allocations at the driver's call sites");
	KUNIT_EXPECT_EQ_MSG(test, now.bytes, before->bytes,
			    "live bytes at the driver's call sites");
}
