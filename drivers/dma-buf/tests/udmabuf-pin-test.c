// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for pinning the memfd ranges of a udmabuf (udmabuf-pin.c):
 * seals, holes punched after create, items inside huge folios (shmem and
 * hugetlb), the hugetlb hole fill, pin batches, pins failing, and the
 * groups of items of one descriptor (shared pins, signals, the lock).
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/falloc.h>
#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/kthread.h>
#include <linux/memfd.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/udmabuf.h>

#include "../udmabuf.h"
#include "udmabuf-kunit-buffers.h"
#include "udmabuf-kunit-helpers.h"
#include "udmabuf-kunit-memfd.h"

#define HUGE_PAGES	(SZ_2M >> PAGE_SHIFT)

/*
 * Seals through the kernel's own F_ADD_SEALS, as on a memfd made with
 * MFD_ALLOW_SEALING: while a buffer pins the memfd's pages, F_SEAL_WRITE
 * fails with EBUSY; once the buffer is gone it succeeds, and then the
 * memfd is refused.
 */
static void write_seal_refused_while_pinned_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_shmem_memfd(test, 4, 0);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 1, 2);
	struct dma_buf *dmabuf;

	/* memfd_create(MFD_ALLOW_SEALING) lifts F_SEAL_SEAL, nothing else. */
	KUNIT_EXPECT_EQ(test, -EINVAL,
			PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(&item, 1)));
	KUNIT_ASSERT_EQ(test, 0, memfd_fcntl(memfd->file, F_ADD_SEALS,
					     F_SEAL_SHRINK | F_SEAL_GROW));
	dmabuf = udmabuf_test_create(test, &item, 1);

	KUNIT_EXPECT_EQ(test, -EBUSY, memfd_fcntl(memfd->file, F_ADD_SEALS,
						  F_SEAL_WRITE));
	udmabuf_test_put_now(test, dmabuf);
	KUNIT_EXPECT_EQ(test, 0, memfd_fcntl(memfd->file, F_ADD_SEALS,
					     F_SEAL_WRITE));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(&item, 1)));
}

/*
 * A hole punched in the memfd after create takes the pages out of the
 * file, not out of the buffer: the buffer keeps reading the pages it
 * pinned, the file reads zeros there, and release drops the pins on the
 * pages the file no longer has.
 */
static void hole_punched_after_create_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 4);
	u8 *expected = udmabuf_test_expected_bytes(test, &memfd, &item, 1);
	struct folio *folios[4];
	struct dma_buf *dmabuf;
	loff_t pos = PAGE_SIZE;
	u8 *back;
	u32 i;

	back = kunit_kmalloc(test, 2 * PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, back);
	dmabuf = udmabuf_test_create(test, &item, 1);
	for (i = 0; i < 4; i++) {
		folios[i] = filemap_get_folio(memfd->file->f_mapping, i);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folios[i]);
	}

	KUNIT_ASSERT_EQ(test, 0, vfs_fallocate(memfd->file,
					       FALLOC_FL_PUNCH_HOLE |
					       FALLOC_FL_KEEP_SIZE,
					       PAGE_SIZE, 2 * PAGE_SIZE));
	KUNIT_ASSERT_EQ(test, kernel_read(memfd->file, back, 2 * PAGE_SIZE,
					  &pos), (ssize_t)(2 * PAGE_SIZE));
	KUNIT_EXPECT_TRUE(test, !memchr_inv(back, 0, 2 * PAGE_SIZE));
	udmabuf_test_expect_vmap_bytes(test, dmabuf, expected);

	udmabuf_test_put_now(test, dmabuf);
	for (i = 0; i < 4; i++) {
		KUNIT_EXPECT_EQ_MSG(test, udmabuf_test_folio_pins(folios[i]), 0,
				    "page %u", i);
		KUNIT_EXPECT_FALSE(test, folio_maybe_dma_pinned(folios[i]));
		folio_put(folios[i]);
	}
}

/*
 * Items that start and end inside 2 MiB folios: the buffer pins each
 * folio the items touch once, vmap sees every page at its own frame, sg
 * entries span whole contiguous runs, and release drops every pin.
 */
static void check_huge_buffer(struct kunit *test,
			      struct udmabuf_test_memfd *memfd,
			      const struct udmabuf_create_item *items,
			      u32 count)
{
	struct udmabuf_test_memfd *memfds[4] = { memfd, memfd, memfd, memfd };
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	unsigned long *pfns;
	struct dma_buf *dmabuf;
	size_t slice_bytes;
	u8 *bytes;
	u32 i, nr_pages = 0;
	pgoff_t page;
	int *pins;

	pins = kunit_kcalloc(test, memfd->nr_pages, sizeof(*pins), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pins);
	for (i = 0; i < count; i++) {
		pgoff_t first = items[i].offset >> PAGE_SHIFT;
		pgoff_t last = first + (items[i].size >> PAGE_SHIFT) - 1;
		pgoff_t folio;

		for (folio = first / HUGE_PAGES; folio <= last / HUGE_PAGES;
		     folio++)
			for (page = 0; page < HUGE_PAGES; page++)
				pins[folio * HUGE_PAGES + page] = 1;
		nr_pages += items[i].size >> PAGE_SHIFT;
	}
	pfns = udmabuf_test_expected_pfns(test, memfd, items, count, nr_pages);

	dmabuf = udmabuf_test_create(test, items, count);
	slice_bytes = udmabuf_test_driver_bytes(dmabuf) - ksize(dmabuf->priv);
	kunit_info(test, "2 MiB folios: %u pages, %zu bytes of slices (%zu.%03zu bytes/page) + %zu fixed\n",
		   nr_pages, slice_bytes, slice_bytes / nr_pages,
		   slice_bytes * 1000 / nr_pages % 1000, ksize(dmabuf->priv));
	KUNIT_EXPECT_LE(test, slice_bytes * 10, (size_t)nr_pages);
	udmabuf_test_expect_pins(test, memfd, before, pins);
	bytes = udmabuf_test_expected_bytes(test, memfds, items, count);
	udmabuf_test_expect_vmap_bytes(test, dmabuf, bytes);
	udmabuf_test_expect_vmap_pfns(test, dmabuf, pfns);
	udmabuf_test_expect_attachment_runs(test, dmabuf, pfns, bytes,
					    nr_pages);
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_unpinned(test, memfd, before);
}

static const struct udmabuf_create_item huge_items[] = {
	{ .offset = SZ_2M - 3 * PAGE_SIZE, .size = SZ_2M + 8 * PAGE_SIZE },
	{ .offset = 3 * PAGE_SIZE, .size = 7 * PAGE_SIZE },
	{ .offset = 3 * SZ_2M + 7 * PAGE_SIZE, .size = 64 * PAGE_SIZE },
	{ .offset = 2 * SZ_2M, .size = SZ_2M },
};

static void set_huge_items(struct udmabuf_create_item *items, int fd)
{
	u32 i;

	for (i = 0; i < ARRAY_SIZE(huge_items); i++) {
		items[i] = huge_items[i];
		items[i].memfd = fd;
	}
}

/* shmem with transparent huge folios. */
static void thp_items_inside_huge_folios_test(struct kunit *test)
{
	struct udmabuf_create_item items[ARRAY_SIZE(huge_items)];
	struct udmabuf_test_memfd *memfd = udmabuf_test_thp_memfd(test, 4);

	set_huge_items(items, memfd->fd);
	check_huge_buffer(test, memfd, items, ARRAY_SIZE(items));
}

/*
 * hugetlb folios, with the vmemmap optimisation on where the kernel has
 * it: their tail struct pages are shared, read-only copies.
 */
static void hugetlb_items_inside_huge_folios_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_create_item items[ARRAY_SIZE(huge_items)];
	struct udmabuf_test_memfd *memfd =
		udmabuf_test_filled_hugetlb_memfd(test, 4);

	set_huge_items(items, memfd->fd);
	check_huge_buffer(test, memfd, items, ARRAY_SIZE(items));
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

#if IS_ENABLED(CONFIG_HUGETLBFS)
/*
 * The free huge pages of @h once nothing is giving any back: an earlier
 * case's thread may still be exiting with its mm, and the files of its
 * mappings with it, on another CPU.
 */
static unsigned long hugetlb_free_settled(struct hstate *h)
{
	unsigned long before, now = READ_ONCE(h->free_huge_pages);
	int tries = 100;

	do {
		before = now;
		udmabuf_test_release_files();
		msleep(20);
		now = READ_ONCE(h->free_huge_pages);
	} while (now != before && --tries);
	return now;
}
#endif

/*
 * A buffer over a hugetlb memfd nothing has written yet: memfd_pin_folios()
 * would allocate its folios against a reservation nobody made, and the
 * reservation count would wrap below zero (a VM_BUG_ON with DEBUG_VM).
 * The driver fills the holes through hugetlbfs first: the counts come
 * back to where they were, and the buffer reads as zeros.
 */
static void hugetlb_unpopulated_memfd_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	unsigned long resv, free_pages, now;
	struct udmabuf_create_item item;
	struct udmabuf_test_memfd *memfd;
	struct dma_buf *dmabuf;
	struct hstate *h;
	u8 *zeros;

	memfd = udmabuf_test_hugetlb_memfd(test, 2);
	h = hstate_file(memfd->file);
	free_pages = hugetlb_free_settled(h);
	resv = READ_ONCE(h->resv_huge_pages);
	if (free_pages - resv < 2)
		kunit_skip(test, "fewer than 2 free hugetlb pages");

	item = udmabuf_test_item(memfd, HUGE_PAGES - 8, 16);
	dmabuf = udmabuf_test_create(test, &item, 1);
	now = READ_ONCE(h->resv_huge_pages);
	KUNIT_EXPECT_EQ(test, now, resv);
	now = READ_ONCE(h->free_huge_pages);
	KUNIT_EXPECT_EQ(test, now, free_pages - 2);
	zeros = kunit_kzalloc(test, dmabuf->size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, zeros);
	udmabuf_test_expect_vmap_bytes(test, dmabuf, zeros);
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_close_memfd(test, memfd);
	now = hugetlb_free_settled(h);
	KUNIT_EXPECT_EQ(test, now, free_pages);
	now = READ_ONCE(h->resv_huge_pages);
	KUNIT_EXPECT_EQ(test, now, resv);
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

/*
 * The holes filled are the item's, and only an item the create takes: an
 * empty hugetlb memfd without F_SEAL_SHRINK, and the same sealed but named
 * past its end, fail with EINVAL and allocate no huge page; an item that
 * ends on a folio boundary allocates that one folio, not the next.
 */
static void hugetlb_fill_stops_at_the_item_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_test_memfd *memfd = udmabuf_test_hugetlb_memfd(test, 2);
	unsigned int *seals = &HUGETLBFS_I(file_inode(memfd->file))->seals;
	struct hstate *h = hstate_file(memfd->file);
	struct udmabuf_create_item item =
		udmabuf_test_item(memfd, HUGE_PAGES, 2 * HUGE_PAGES);
	unsigned long free_pages = hugetlb_free_settled(h);

	if (free_pages < 2)
		kunit_skip(test, "fewer than 2 free hugetlb pages");
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(&item, 1)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, READ_ONCE(h->free_huge_pages), free_pages);

	item = udmabuf_test_item(memfd, 0, HUGE_PAGES);
	*seals &= ~F_SEAL_SHRINK;
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(&item, 1)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, READ_ONCE(h->free_huge_pages), free_pages);

	*seals |= F_SEAL_SHRINK;
	udmabuf_test_create(test, &item, 1);
	KUNIT_EXPECT_EQ(test, READ_ONCE(h->free_huge_pages), free_pages - 1);
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

/*
 * The fill before the pins reports only signals: a fill that fails for
 * lack of huge pages leaves the error to the pin, so a list whose first
 * item is bad fails with that item's error, not a later item's.
 */
static void hugetlb_fill_failure_waits_for_its_item_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct udmabuf_create_item items[2];
	struct udmabuf_test_memfd *memfd;
	unsigned long free_pages;
	struct dma_buf *dmabuf;
	struct hstate *h;
	u32 nr_huge;

	memfd = udmabuf_test_hugetlb_memfd(test, 1);
	h = hstate_file(memfd->file);
	free_pages = hugetlb_free_settled(h) - READ_ONCE(h->resv_huge_pages);
	nr_huge = free_pages + 1;
	if ((u64)nr_huge * SZ_2M > (u64)READ_ONCE(udmabuf_size_limit_mb) * SZ_1M)
		kunit_skip(test, "more free hugetlb pages than size_limit_mb");
	memfd = udmabuf_test_hugetlb_memfd(test, nr_huge);
	items[0] = udmabuf_test_item(memfd, 0, 1);
	items[0].memfd = -1;
	items[1] = udmabuf_test_item(memfd, 0, nr_huge * HUGE_PAGES);

	dmabuf = udmabuf_create_dmabuf(&items[1], 1);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), -ENOSPC);
	dmabuf = udmabuf_create_dmabuf(items, 2);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), -EBADFD);
	udmabuf_test_expect_allocs(test, &allocs);
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

/*
 * hugetlbfs stops filling holes at any pending signal. A signal that is
 * not fatal makes the create restart once it is handled (the caller never
 * sees it fail), having pinned nothing; a fatal one fails it with EINTR.
 * Neither leaves a pin or an allocation of the driver's behind.
 */
static void hugetlb_fill_under_signals_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct udmabuf_create_item item;
	struct udmabuf_test_memfd *memfd;
	struct dma_buf *dmabuf;
	unsigned long free_pages;
	struct hstate *h;
	bool pending;

	memfd = udmabuf_test_hugetlb_memfd(test, 2);
	h = hstate_file(memfd->file);
	udmabuf_test_release_files();
	free_pages = READ_ONCE(h->free_huge_pages) -
		     READ_ONCE(h->resv_huge_pages);
	if (free_pages < 2)
		kunit_skip(test, "fewer than 2 free hugetlb pages");
	item = udmabuf_test_item(memfd, 0, 2 * HUGE_PAGES);

	udmabuf_test_raise_signal(SIGUSR1);
	dmabuf = udmabuf_create_dmabuf(&item, 1);
	pending = signal_pending(current);
	flush_signals(current);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), -ERESTARTNOINTR);
	KUNIT_EXPECT_TRUE(test, pending);
	udmabuf_test_expect_allocs(test, &allocs);

	udmabuf_test_raise_fatal_signal();
	dmabuf = udmabuf_create_dmabuf(&item, 1);
	flush_signals(current);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), -EINTR);
	udmabuf_test_expect_allocs(test, &allocs);

	/* Handled, the signal is gone: the restarted create fills and pins. */
	dmabuf = udmabuf_test_create(test, &item, 1);
	KUNIT_EXPECT_EQ(test, dmabuf->size, SZ_4M);
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_allocs(test, &allocs);
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

/* Fault injection through static stubs. */
static int stub_calls_left;

/*
 * Fails once @stub_calls_left calls have pinned, each at most 62 folios:
 * fewer than a page's batch, so that an item of the fault setup takes
 * several calls and a failure can come in the middle of one.
 */
static long pin_fails_after(struct file *memfd, loff_t start, loff_t end,
			    struct folio **folios, unsigned int max_folios,
			    pgoff_t *offset)
{
	if (stub_calls_left-- == 0)
		return -ENOMEM;
	return memfd_pin_folios(memfd, start, end, folios,
				min(max_folios, 62U), offset);
}

/* Pins a single folio per call: fewer than asked, every time. */
static long pin_one_folio(struct file *memfd, loff_t start, loff_t end,
			  struct folio **folios, unsigned int max_folios,
			  pgoff_t *offset)
{
	return memfd_pin_folios(memfd, start, end, folios, 1, offset);
}

/*
 * Pins one page more than asked where the file has it: a folio past the
 * range, which the buffer must not take and must give back.
 */
static long pin_one_page_more(struct file *memfd, loff_t start, loff_t end,
			      struct folio **folios, unsigned int max_folios,
			      pgoff_t *offset)
{
	if (end + PAGE_SIZE < i_size_read(file_inode(memfd)))
		end += PAGE_SIZE;
	return memfd_pin_folios(memfd, start, end, folios, max_folios, offset);
}

static long pin_nothing(struct file *memfd, loff_t start, loff_t end,
			struct folio **folios, unsigned int max_folios,
			pgoff_t *offset)
{
	return 0;
}

/*
 * With a stub that fails once stub_calls_left calls have passed, fail at
 * each call in turn until the buffer is made: every failure returns
 * -ENOMEM and leaves nothing pinned. Returns how many calls could fail.
 */
static int fail_each_call_in_turn(struct kunit *test,
				  struct udmabuf_test_fault_setup *s)
{
	struct dma_buf *dmabuf;
	int failures = 0;

	for (;;) {
		stub_calls_left = failures;
		dmabuf = udmabuf_create_dmabuf(s->items, 8);
		if (!IS_ERR(dmabuf))
			break;
		KUNIT_EXPECT_EQ(test, PTR_ERR(dmabuf), -ENOMEM);
		udmabuf_test_expect_released(test, s);
		failures++;
	}
	dma_buf_put(dmabuf);
	udmabuf_test_release_files();
	udmabuf_test_expect_released(test, s);
	return failures;
}

static void pin_failure_at_each_call_test(struct kunit *test)
{
	struct udmabuf_test_fault_setup s;

	udmabuf_test_fault_setup(test, &s);
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_fails_after);
	/* 8 items of 100 to 107 pages, 62 folios a call: 16 calls. */
	KUNIT_EXPECT_EQ(test, fail_each_call_in_turn(test, &s), 16);
}

/* One folio per pin call still makes the same buffer. */
static void pin_fewer_folios_than_asked_test(struct kunit *test)
{
	struct udmabuf_test_fault_setup s;
	struct dma_buf *dmabuf;

	udmabuf_test_fault_setup(test, &s);
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_one_folio);
	dmabuf = udmabuf_test_create(test, s.items, 8);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_fault_bytes(test, &s));
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_released(test, &s);
}

/*
 * A pin call that returns a folio past its range (against
 * memfd_pin_folios()' contract) still makes the same buffer, and the pin
 * of the folio past the range is given back at once.
 */
static void pin_more_folios_than_asked_test(struct kunit *test)
{
	struct udmabuf_test_fault_setup s;
	struct dma_buf *dmabuf;

	udmabuf_test_fault_setup(test, &s);
	kunit_activate_static_stub(test, udmabuf_pin_folios,
				   pin_one_page_more);
	dmabuf = udmabuf_test_create(test, s.items, 8);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_fault_bytes(test, &s));
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_released(test, &s);
}

static void pin_returning_nothing_test(struct kunit *test)
{
	struct udmabuf_test_fault_setup s;

	udmabuf_test_fault_setup(test, &s);
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_nothing);
	udmabuf_test_expect_create_fails(test, &s, -EINVAL);
}

static int stub_pin_calls;

static long pin_counted(struct file *memfd, loff_t start, loff_t end,
			struct folio **folios, unsigned int max_folios,
			pgoff_t *offset)
{
	stub_pin_calls++;
	return memfd_pin_folios(memfd, start, end, folios, max_folios, offset);
}

/*
 * Items that continue each other in one memfd are pinned as one range:
 * 4 adjacent items of 4 pages, then one after a gap, then one of another
 * memfd at the offset where the last ended, take 3 pin calls (a call
 * takes up to 62 folios, then 496); the buffer reads as the items, with
 * one pin per page.
 */
static void adjacent_items_pin_once_test(struct kunit *test)
{
	struct udmabuf_test_memfd *a = udmabuf_test_sealed_memfd(test, 32);
	struct udmabuf_test_memfd *b = udmabuf_test_sealed_memfd(test, 32);
	struct udmabuf_test_memfd *memfds[6] = { a, a, a, a, a, b };
	struct udmabuf_create_item items[6];
	struct udmabuf_test_counts *before_a =
		udmabuf_test_folio_counts(test, a);
	struct udmabuf_test_counts *before_b =
		udmabuf_test_folio_counts(test, b);
	int pins[32] = { 0 };
	struct dma_buf *dmabuf;
	u32 i;

	for (i = 0; i < 4; i++)
		items[i] = udmabuf_test_item(a, 4 * i, 4);
	items[4] = udmabuf_test_item(a, 20, 4);
	/* Where item 4 ends, in another fd. */
	items[5] = udmabuf_test_item(b, 24, 4);
	for (i = 0; i < 16; i++)
		pins[i] = 1;
	for (i = 20; i < 24; i++)
		pins[i] = 1;

	stub_pin_calls = 0;
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_counted);
	dmabuf = udmabuf_test_create(test, items, 6);
	KUNIT_EXPECT_EQ(test, stub_pin_calls, 3);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_expected_bytes(test, memfds,
								   items, 6));
	udmabuf_test_expect_pins(test, a, before_a, pins);
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_unpinned(test, a, before_a);
	udmabuf_test_expect_unpinned(test, b, before_b);
}

/*
 * The fill of every hugetlb item's holes comes before the first pin: a
 * signal that stops the fill of a later item's holes restarts the create
 * without pinning (and dropping) the pages of the items before it.
 */
static void hugetlb_fill_comes_before_every_pin_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_test_memfd *shmem = udmabuf_test_sealed_memfd(test, 1);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct udmabuf_create_item items[2];
	struct udmabuf_test_memfd *memfd;
	struct dma_buf *dmabuf;
	struct hstate *h;

	memfd = udmabuf_test_hugetlb_memfd(test, 1);
	h = hstate_file(memfd->file);
	udmabuf_test_release_files();
	if (READ_ONCE(h->free_huge_pages) - READ_ONCE(h->resv_huge_pages) < 1)
		kunit_skip(test, "no free hugetlb page");
	items[0] = udmabuf_test_item(shmem, 0, 1);
	items[1] = udmabuf_test_item(memfd, 0, HUGE_PAGES);

	stub_pin_calls = 0;
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_counted);
	udmabuf_test_raise_signal(SIGUSR1);
	dmabuf = udmabuf_create_dmabuf(items, 2);
	flush_signals(current);
	kunit_deactivate_static_stub(test, udmabuf_pin_folios);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), -ERESTARTNOINTR);
	KUNIT_EXPECT_EQ(test, stub_pin_calls, 0);
	udmabuf_test_expect_allocs(test, &allocs);
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

/*
 * An item inside the last page of a long item before it shares that
 * page's pin, in a slice the array must grow for: 8 pages, then page 7
 * again, make 9 slices over 8 pins, and read as the items.
 */
static void item_in_the_last_folio_grows_the_slices_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 8);
	struct udmabuf_test_memfd *memfds[] = { memfd, memfd };
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct udmabuf_create_item items[2];
	int pins[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	struct dma_buf *dmabuf;
	struct udmabuf *ubuf;

	items[0] = udmabuf_test_item(memfd, 0, 8);
	items[1] = udmabuf_test_item(memfd, 7, 1);
	dmabuf = udmabuf_test_create(test, items, 2);
	ubuf = dmabuf->priv;
	KUNIT_EXPECT_EQ(test, ubuf->slices.nr_slices, 9);
	KUNIT_EXPECT_EQ(test, (u32)ubuf->slices.slice[8].pinned, 0);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_expected_bytes(test, memfds,
								   items, 2));
	udmabuf_test_expect_pins(test, memfd, before, pins);
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_unpinned(test, memfd, before);
}

/*
 * A long range pins in growing batches: 62 folios a call, then a page of
 * pointers' worth (496) a call: 600 pages of 4 KiB take 3 calls.
 */
static void long_range_pins_in_growing_batches_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 600);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 600);
	struct udmabuf_test_memfd *memfds[] = { memfd };
	struct dma_buf *dmabuf;

	stub_pin_calls = 0;
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_counted);
	dmabuf = udmabuf_test_create(test, &item, 1);
	KUNIT_EXPECT_EQ(test, stub_pin_calls, 3);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_expected_bytes(test, memfds,
								   &item, 1));
}

static bool stub_pins_locked;

/* Counts the calls, and whether each came with the inode lock held. */
static long pin_counted_locked(struct file *memfd, loff_t start, loff_t end,
			       struct folio **folios, unsigned int max_folios,
			       pgoff_t *offset)
{
	stub_pin_calls++;
	if (!rwsem_is_locked(&file_inode(memfd)->i_rwsem))
		stub_pins_locked = false;
	return memfd_pin_folios(memfd, start, end, folios, max_folios, offset);
}

/*
 * One-page items of one memfd, as QEMU lists a guest's pages: an item on
 * the page the item before it pinned shares that pin, with no call of its
 * own; every call comes with the inode lock held. Pages 3, 3, 3, 0, 0, 5,
 * 3, 5 take 5 calls; every page named ends with one pin, the buffer reads
 * as the items, and release gives every pin back.
 */
static void one_page_items_share_a_pin_test(struct kunit *test)
{
	static const u32 pages[] = { 3, 3, 3, 0, 0, 5, 3, 5 };
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 8);
	struct udmabuf_test_memfd *memfds[ARRAY_SIZE(pages)];
	struct udmabuf_create_item items[ARRAY_SIZE(pages)];
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	int pins[8] = { [0] = 1, [3] = 1, [5] = 1 };
	struct dma_buf *dmabuf;
	u32 i;

	for (i = 0; i < ARRAY_SIZE(pages); i++) {
		items[i] = udmabuf_test_item(memfd, pages[i], 1);
		memfds[i] = memfd;
	}
	stub_pin_calls = 0;
	stub_pins_locked = true;
	kunit_activate_static_stub(test, udmabuf_pin_folios,
				   pin_counted_locked);
	dmabuf = udmabuf_test_create(test, items, ARRAY_SIZE(items));
	KUNIT_EXPECT_EQ(test, stub_pin_calls, 5);
	KUNIT_EXPECT_TRUE(test, stub_pins_locked);
	udmabuf_test_expect_pins(test, memfd, before, pins);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_expected_bytes(test, memfds,
								   items,
								   ARRAY_SIZE(items)));
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_unpinned(test, memfd, before);
}

/* Pins as asked, with SIGKILL raised at the first call. */
static long pin_then_fatal_signal(struct file *memfd, loff_t start,
				  loff_t end, struct folio **folios,
				  unsigned int max_folios, pgoff_t *offset)
{
	if (!stub_pin_calls++)
		udmabuf_test_raise_fatal_signal();
	return memfd_pin_folios(memfd, start, end, folios, max_folios, offset);
}

/*
 * A fatal signal between two items of one memfd stops the create, even
 * when the items left need no pin call: -EINTR, nothing pinned.
 */
static void fatal_signal_between_items_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 2);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct udmabuf_create_item items[4];
	struct dma_buf *dmabuf;
	u32 i;

	for (i = 0; i < ARRAY_SIZE(items); i++)
		items[i] = udmabuf_test_item(memfd, 1, 1);
	stub_pin_calls = 0;
	kunit_activate_static_stub(test, udmabuf_pin_folios,
				   pin_then_fatal_signal);
	dmabuf = udmabuf_create_dmabuf(items, ARRAY_SIZE(items));
	flush_signals(current);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), -EINTR);
	KUNIT_EXPECT_EQ(test, stub_pin_calls, 1);
	udmabuf_test_expect_unpinned(test, memfd, before);
}

/*
 * Where the descriptor changes between items, a new group starts, with
 * its own lookup and checks: items of a, b, a read from their own files,
 * a page named in both groups of a holds one pin; and a list that goes on
 * to an unsealed memfd is refused, with nothing left pinned.
 */
static void descriptor_change_between_items_test(struct kunit *test)
{
	struct udmabuf_test_memfd *a = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_test_memfd *b = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_test_memfd *unsealed =
		udmabuf_test_shmem_memfd(test, 4, 0);
	struct udmabuf_test_memfd *memfds[4] = { a, a, b, a };
	struct udmabuf_test_counts *before_a =
		udmabuf_test_folio_counts(test, a);
	struct udmabuf_test_counts *before_b =
		udmabuf_test_folio_counts(test, b);
	struct udmabuf_create_item items[4] = {
		udmabuf_test_item(a, 0, 1), udmabuf_test_item(a, 2, 1),
		udmabuf_test_item(b, 2, 1), udmabuf_test_item(a, 2, 1),
	};
	int pins_a[4] = { 1, 0, 1, 0 }, pins_b[4] = { 0, 0, 1, 0 };
	struct dma_buf *dmabuf;

	dmabuf = udmabuf_test_create(test, items, 4);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_expected_bytes(test, memfds,
								   items, 4));
	udmabuf_test_expect_pins(test, a, before_a, pins_a);
	udmabuf_test_expect_pins(test, b, before_b, pins_b);
	udmabuf_test_put_now(test, dmabuf);

	items[2] = udmabuf_test_item(unsealed, 2, 1);
	KUNIT_EXPECT_EQ(test, -EINVAL,
			PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(items, 4)));
	udmabuf_test_expect_unpinned(test, a, before_a);
	udmabuf_test_expect_unpinned(test, b, before_b);
}

/* A thread that takes a memfd's inode lock for writing, in @write. */
struct waiting_writer {
	struct file *file;
	int (*write)(struct file *file);
	int ret;
	struct completion done;
};

static int run_writer(void *data)
{
	struct waiting_writer *writer = data;

	writer->ret = writer->write(writer->file);
	complete(&writer->done);
	return 0;
}

static int seal_future_write(struct file *file)
{
	return memfd_fcntl(file, F_ADD_SEALS, F_SEAL_FUTURE_WRITE);
}

static int punch_first_page(struct file *file)
{
	return vfs_fallocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			     0, PAGE_SIZE);
}

static struct waiting_writer *stub_writer;

/*
 * At the first call, start the writer's thread and wait until it waits
 * for the inode lock; at every call, sleep longer than a waiting writer
 * lets readers take the lock before it (then the lock is handed to it the
 * next time it is let go).
 */
static long pin_with_a_writer_waiting(struct file *memfd, loff_t start,
				      loff_t end, struct folio **folios,
				      unsigned int max_folios, pgoff_t *offset)
{
	struct rw_semaphore *lock = &file_inode(memfd)->i_rwsem;
	struct task_struct *task;
	int tries = 500;

	if (!stub_pin_calls++) {
		task = kthread_run(run_writer, stub_writer, "udmabuf-writer");
		if (IS_ERR(task)) {
			stub_writer->ret = PTR_ERR(task);
			complete(&stub_writer->done);
		}
		while (!IS_ERR(task) && !rwsem_is_contended(lock) && --tries)
			msleep(20);
	}
	msleep(20);
	return memfd_pin_folios(memfd, start, end, folios, max_folios, offset);
}

/*
 * A create that called the stub has started the writer, and has let the
 * lock go since: the writer ends, and the test's @writer is free again.
 */
static void wait_for_writer(struct kunit *test, struct waiting_writer *writer)
{
	if (stub_pin_calls)
		wait_for_completion(&writer->done);
	else
		KUNIT_FAIL(test, "no pin call started the writer");
}

/*
 * One memfd's items are pinned under one hold of its inode lock, but the
 * lock is let go between two items while a writer waits for it; taken
 * again, the seals are checked again. A write seal added meanwhile
 * (F_SEAL_FUTURE_WRITE, which pins do not stop) refuses the create before
 * its last item, with nothing left pinned, and the sealer is done.
 */
static void seals_checked_after_the_lock_is_let_go_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 16);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct waiting_writer writer = {
		.file = memfd->file, .write = seal_future_write, .ret = 1,
	};
	struct udmabuf_create_item items[8];
	struct dma_buf *dmabuf;
	u32 i;

	init_completion(&writer.done);
	for (i = 0; i < ARRAY_SIZE(items); i++)
		items[i] = udmabuf_test_item(memfd, 2 * i, 1);
	stub_pin_calls = 0;
	stub_writer = &writer;
	kunit_activate_static_stub(test, udmabuf_pin_folios,
				   pin_with_a_writer_waiting);
	dmabuf = udmabuf_create_dmabuf(items, ARRAY_SIZE(items));
	wait_for_writer(test, &writer);
	KUNIT_EXPECT_EQ(test, writer.ret, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), -EINVAL);
	if (!IS_ERR(dmabuf)) {
		dma_buf_put(dmabuf);
		udmabuf_test_release_files();
	}
	KUNIT_EXPECT_LT(test, stub_pin_calls, (int)ARRAY_SIZE(items));
	udmabuf_test_expect_unpinned(test, memfd, before);
}

/*
 * A hole punched on a page while the lock is let go between two items
 * takes the folio the items before pinned out of the file: the items
 * after it, on the same page, pin the file's new folio instead of sharing
 * the pin of the old one. Four one-page items on page 0: the lock is let
 * go after each while the puncher waits (a reader may take it back before
 * the waiting writer the first time; each pin call's sleep then makes the
 * lock go to the writer the next time). Each of the two folios ends with
 * one pin, the last item shows the new one, and release gives both back.
 */
static void hole_punched_between_items_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 2);
	struct address_space *mapping = memfd->file->f_mapping;
	struct waiting_writer writer = {
		.file = memfd->file, .write = punch_first_page, .ret = 1,
	};
	struct udmabuf_create_item items[4];
	struct folio *old, *now;
	struct dma_buf *dmabuf;
	struct udmabuf *ubuf;
	u32 i;

	for (i = 0; i < ARRAY_SIZE(items); i++)
		items[i] = udmabuf_test_item(memfd, 0, 1);
	old = filemap_get_folio(mapping, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(old));
	init_completion(&writer.done);
	stub_pin_calls = 0;
	stub_writer = &writer;
	kunit_activate_static_stub(test, udmabuf_pin_folios,
				   pin_with_a_writer_waiting);
	dmabuf = udmabuf_create_dmabuf(items, ARRAY_SIZE(items));
	wait_for_writer(test, &writer);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dmabuf);
	udmabuf_test_put_later(test, dmabuf);
	KUNIT_EXPECT_EQ(test, writer.ret, 0);
	KUNIT_EXPECT_GE(test, stub_pin_calls, 2);
	now = filemap_get_folio(mapping, 0);
	if (!IS_ERR(now)) {
		ubuf = dmabuf->priv;
		KUNIT_EXPECT_PTR_NE(test, now, old);
		KUNIT_EXPECT_PTR_EQ(test, ubuf->slices.slice[0].folio, old);
		KUNIT_EXPECT_PTR_EQ(test, ubuf->slices.slice[3].folio, now);
		KUNIT_EXPECT_EQ(test, udmabuf_test_folio_pins(now), 1);
	} else {
		KUNIT_FAIL(test, "page 0 a hole after the create");
	}
	KUNIT_EXPECT_EQ(test, udmabuf_test_folio_pins(old), 1);
	udmabuf_test_put_now(test, dmabuf);
	KUNIT_EXPECT_EQ(test, udmabuf_test_folio_pins(old), 0);
	folio_put(old);
	if (!IS_ERR(now)) {
		KUNIT_EXPECT_EQ(test, udmabuf_test_folio_pins(now), 0);
		folio_put(now);
	}
}

/*
 * A list that mixes a shmem memfd and a hugetlb one, with one-page items
 * inside one huge folio: within a group the items after the first share
 * its pin; the hugetlb group after the shmem item pins again, and dedup
 * keeps one pin on the huge folio. 4 calls for 5 items.
 */
static void shmem_and_hugetlb_items_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_test_memfd *shmem = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_test_memfd *huge =
		udmabuf_test_filled_hugetlb_memfd(test, 1);
	struct udmabuf_test_memfd *memfds[5] = { shmem, huge, huge, shmem,
						 huge };
	struct udmabuf_create_item items[5] = {
		udmabuf_test_item(shmem, 0, 1), udmabuf_test_item(huge, 0, 1),
		udmabuf_test_item(huge, 3, 2), udmabuf_test_item(shmem, 2, 1),
		udmabuf_test_item(huge, 7, 1),
	};
	struct udmabuf_test_counts *before_huge =
		udmabuf_test_folio_counts(test, huge);
	struct udmabuf_test_counts *before_shmem =
		udmabuf_test_folio_counts(test, shmem);
	int pins_shmem[4] = { 1, 0, 1, 0 };
	struct dma_buf *dmabuf;
	int *pins_huge;
	u32 i;

	pins_huge = kunit_kcalloc(test, huge->nr_pages, sizeof(*pins_huge),
				  GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pins_huge);
	for (i = 0; i < huge->nr_pages; i++)
		pins_huge[i] = 1;
	stub_pin_calls = 0;
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_counted);
	dmabuf = udmabuf_test_create(test, items, 5);
	KUNIT_EXPECT_EQ(test, stub_pin_calls, 4);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_expected_bytes(test, memfds,
								   items, 5));
	udmabuf_test_expect_pins(test, huge, before_huge, pins_huge);
	udmabuf_test_expect_pins(test, shmem, before_shmem, pins_shmem);
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_unpinned(test, huge, before_huge);
	udmabuf_test_expect_unpinned(test, shmem, before_shmem);
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

static struct kunit_case udmabuf_pin_cases[] = {
	KUNIT_CASE(write_seal_refused_while_pinned_test),
	KUNIT_CASE(hole_punched_after_create_test),
	KUNIT_CASE(thp_items_inside_huge_folios_test),
	KUNIT_CASE(hugetlb_items_inside_huge_folios_test),
	KUNIT_CASE(hugetlb_unpopulated_memfd_test),
	KUNIT_CASE(hugetlb_fill_stops_at_the_item_test),
	KUNIT_CASE(hugetlb_fill_failure_waits_for_its_item_test),
	KUNIT_CASE(hugetlb_fill_under_signals_test),
	KUNIT_CASE(pin_failure_at_each_call_test),
	KUNIT_CASE(adjacent_items_pin_once_test),
	KUNIT_CASE(hugetlb_fill_comes_before_every_pin_test),
	KUNIT_CASE(item_in_the_last_folio_grows_the_slices_test),
	KUNIT_CASE(long_range_pins_in_growing_batches_test),
	KUNIT_CASE(pin_fewer_folios_than_asked_test),
	KUNIT_CASE(pin_more_folios_than_asked_test),
	KUNIT_CASE(pin_returning_nothing_test),
	KUNIT_CASE(one_page_items_share_a_pin_test),
	KUNIT_CASE(fatal_signal_between_items_test),
	KUNIT_CASE(descriptor_change_between_items_test),
	KUNIT_CASE(seals_checked_after_the_lock_is_let_go_test),
	KUNIT_CASE(hole_punched_between_items_test),
	KUNIT_CASE(shmem_and_hugetlb_items_test),
	{}
};

static struct kunit_suite udmabuf_pin_suite = {
	.name = "udmabuf-pin",
	.init = udmabuf_test_init,
	.test_cases = udmabuf_pin_cases,
};

kunit_test_suite(udmabuf_pin_suite);
