// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for mmap of a udmabuf (udmabuf-mmap.c), with PTEs: reads
 * and writes through shared mappings, the fault handler and its prefault,
 * signals, and allocations failing in the fault path. Huge mappings have
 * a suite of their own (udmabuf-mmap-huge-test.c).
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/dma-buf.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/udmabuf.h>

#include "../udmabuf.h"
#include "udmabuf-kunit-buffers.h"
#include "udmabuf-kunit-memfd.h"

/* A buffer of a whole fresh memfd, mapped shared and not yet faulted. */
struct mapped_buffer {
	struct udmabuf_test_memfd *memfd;
	struct udmabuf_create_item item;
	struct dma_buf *dmabuf;
	u8 *expected;		/* what it reads as */
	u8 *page;		/* a page read through the mapping */
	unsigned long addr;
};

static void map_whole_memfd(struct kunit *test, u32 nr,
			    struct mapped_buffer *mb)
{
	mb->memfd = udmabuf_test_sealed_memfd(test, nr);
	mb->item = udmabuf_test_item(mb->memfd, 0, nr);
	mb->expected = udmabuf_test_expected_bytes(test, &mb->memfd, &mb->item,
						   1);
	mb->page = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, mb->page);
	mb->dmabuf = udmabuf_test_create(test, &mb->item, 1);
	mb->addr = udmabuf_test_map(test, mb->dmabuf, mb->dmabuf->size,
				    MAP_SHARED, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(mb->addr));
}

/* The page faults the test's task has taken so far. */
static unsigned long task_faults(void)
{
	return current->min_flt + current->maj_flt;
}

/* Read page @i of @mb through its mapping: the memfd's bytes. */
static void read_mapped_page(struct kunit *test, struct mapped_buffer *mb,
			     u32 i)
{
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(mb->page,
						(void __user *)mb->addr +
						i * PAGE_SIZE, PAGE_SIZE));
	udmabuf_test_expect_bytes(test, mb->page, mb->expected + i * PAGE_SIZE,
				  PAGE_SIZE);
}

/*
 * Read every page through a shared mapping, in order: the first fault maps
 * pages 0 to 15, the second 16 to 47, the third 48 on; no other page
 * faults, and every page reads as the memfd has it.
 */
static void mmap_reads_all_pages_in_growing_windows_test(struct kunit *test)
{
	const u32 nr = 64;
	struct mapped_buffer mb;
	unsigned long faults;
	u32 i;

	map_whole_memfd(test, nr, &mb);

	for (i = 0; i < nr; i++) {
		faults = task_faults();
		read_mapped_page(test, &mb, i);
		KUNIT_EXPECT_EQ_MSG(test, task_faults() - faults,
				    i == 0 || i == 16 || i == 48 ? 1 : 0,
				    "page %u", i);
	}
	vm_munmap(mb.addr, mb.dmabuf->size);
}

/*
 * Read downwards, the windows double too, each below the last: 1,024
 * pages from the last take 7 faults (pages 1023, 1007, 975, 911, 783, 527
 * and 15), as upwards.
 */
static void mmap_reads_downwards_in_growing_windows_test(struct kunit *test)
{
	const u32 nr = 1024;
	struct mapped_buffer mb;
	unsigned long faults;
	u32 i;

	map_whole_memfd(test, nr, &mb);

	faults = task_faults();
	for (i = nr; i-- > 0;)
		read_mapped_page(test, &mb, i);
	KUNIT_EXPECT_EQ(test, task_faults() - faults, 7);
	vm_munmap(mb.addr, mb.dmabuf->size);
}

/*
 * A downward fault on the first page of a 16-page block maps that whole
 * block with the window below it: after page 63 (its window pages 48 to
 * 63), page 32 maps pages 16 to 47, so that pages 33 to 47 and 16 to 31
 * read without a fault, and the rest of the buffer (0 to 15) in one more.
 */
static void downward_fault_on_a_block_start_test(struct kunit *test)
{
	struct mapped_buffer mb;
	unsigned long faults;
	u32 i;

	map_whole_memfd(test, 64, &mb);

	faults = task_faults();
	read_mapped_page(test, &mb, 63);
	read_mapped_page(test, &mb, 32);
	KUNIT_EXPECT_EQ(test, task_faults() - faults, 2);
	for (i = 16; i < 64; i++)
		read_mapped_page(test, &mb, i);
	KUNIT_EXPECT_EQ(test, task_faults() - faults, 2);
	for (i = 0; i < 16; i++)
		read_mapped_page(test, &mb, i);
	KUNIT_EXPECT_EQ(test, task_faults() - faults, 3);
	vm_munmap(mb.addr, mb.dmabuf->size);
}

/*
 * The first fault maps its window only: the 16 pages from page 688 for a
 * fault on page 700, wherever the VMA lies. The pages on either side of
 * it fault, each mapping a window twice as long from its own block.
 */
static void first_fault_maps_its_window_test(struct kunit *test)
{
	struct mapped_buffer mb;
	unsigned long faults;
	u32 i;

	map_whole_memfd(test, 1024, &mb);
	KUNIT_EXPECT_EQ(test, 0,
			udmabuf_test_call_fault(mb.addr + 700 * PAGE_SIZE));

	faults = task_faults();
	for (i = 688; i < 704; i++)
		read_mapped_page(test, &mb, i);
	KUNIT_EXPECT_EQ(test, task_faults(), faults);
	read_mapped_page(test, &mb, 687);
	KUNIT_EXPECT_EQ(test, task_faults() - faults, 1);
	/* Page 687's window, below the last: the 32 pages from 656 to 687. */
	read_mapped_page(test, &mb, 704);
	KUNIT_EXPECT_EQ(test, task_faults() - faults, 2);
	vm_munmap(mb.addr, mb.dmabuf->size);
}

/* A mapping at an offset shows the pages from there on. */
static void mmap_at_offset_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 10);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 10);
	u8 *expected = udmabuf_test_expected_bytes(test, &memfd, &item, 1);
	struct dma_buf *dmabuf = udmabuf_test_create(test, &item, 1);
	unsigned long addr;
	u8 *got;

	got = kunit_kmalloc(test, 4 * PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, got);
	addr = udmabuf_test_map(test, dmabuf, 4 * PAGE_SIZE, MAP_SHARED, 5);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)addr,
						4 * PAGE_SIZE));
	udmabuf_test_expect_bytes(test, got, expected + 5 * PAGE_SIZE,
				  4 * PAGE_SIZE);
	vm_munmap(addr, 4 * PAGE_SIZE);

	/* Past the end of the buffer: refused by the dma-buf core. */
	addr = udmabuf_test_map(test, dmabuf, 4 * PAGE_SIZE, MAP_SHARED, 7);
	KUNIT_EXPECT_EQ(test, (long)addr, -EINVAL);
}

/* Bytes written through the mapping land in the memfd. */
static void mmap_writes_reach_memfd_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 1, 2);
	struct dma_buf *dmabuf = udmabuf_test_create(test, &item, 1);
	unsigned long addr;
	loff_t pos = PAGE_SIZE;
	u8 *data, *back;

	data = kunit_kmalloc(test, 2 * PAGE_SIZE, GFP_KERNEL);
	back = kunit_kzalloc(test, 2 * PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, data);
	KUNIT_ASSERT_NOT_NULL(test, back);
	get_random_bytes(data, 2 * PAGE_SIZE);

	addr = udmabuf_test_map(test, dmabuf, dmabuf->size, MAP_SHARED, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_EQ(test, 0, copy_to_user((void __user *)addr, data,
					      2 * PAGE_SIZE));
	KUNIT_ASSERT_EQ(test, kernel_read(memfd->file, back, 2 * PAGE_SIZE,
					  &pos), (ssize_t)(2 * PAGE_SIZE));
	udmabuf_test_expect_bytes(test, back, data, 2 * PAGE_SIZE);
	vm_munmap(addr, dmabuf->size);
}

static void mmap_private_refused_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 2);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 2);
	struct dma_buf *dmabuf = udmabuf_test_create(test, &item, 1);
	unsigned long addr;

	addr = udmabuf_test_map(test, dmabuf, dmabuf->size, MAP_PRIVATE, 0);
	KUNIT_EXPECT_EQ(test, (long)addr, -EINVAL);
}

static unsigned long insert_fail_addr;

/* Pages map one by one, up to the one that fails. */
static int insert_ptes_fail_at_addr(struct vm_area_struct *vma,
				    unsigned long addr, unsigned long nr_pages,
				    struct udmabuf_frame_iter *frames)
{
	unsigned long i, pfn;

	for (i = 0; i < nr_pages; i++) {
		if (addr + i * PAGE_SIZE == insert_fail_addr ||
		    !udmabuf_frame_iter_next(frames, &pfn))
			return -ENOMEM;
		if (vmf_insert_pfn(vma, addr + i * PAGE_SIZE, pfn) !=
		    VM_FAULT_NOPAGE)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The faulting page is mapped first; the rest of its window is a best
 * effort. With the window's first page (688) failing to map, a fault on
 * page 700 still succeeds and maps nothing else; page 701 faults once
 * more and maps the 32 pages from 688 on, and a read of the whole buffer
 * from page 0 then takes the windows of 64, 128, 256, 512 and 1,024 pages
 * (the last cut to the VMA): every byte reads right.
 */
static void fault_maps_faulting_page_first_test(struct kunit *test)
{
	struct mapped_buffer mb;
	unsigned long faults;
	u8 *got;

	map_whole_memfd(test, 1024, &mb);
	got = udmabuf_test_kvmalloc(test, mb.dmabuf->size);
	insert_fail_addr = mb.addr + 688 * PAGE_SIZE;
	kunit_activate_static_stub(test, udmabuf_insert_ptes,
				   insert_ptes_fail_at_addr);
	KUNIT_EXPECT_EQ(test, 0,
			udmabuf_test_call_fault(mb.addr + 700 * PAGE_SIZE));
	kunit_deactivate_static_stub(test, udmabuf_insert_ptes);

	/* Page 700 needs no fault; page 701 one. */
	faults = task_faults();
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)mb.addr +
						700 * PAGE_SIZE, PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, task_faults(), faults);
	udmabuf_test_expect_bytes(test, got, mb.expected + 700 * PAGE_SIZE,
				  PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)mb.addr +
						701 * PAGE_SIZE, PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, task_faults() - faults, 1);
	faults = task_faults();
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)mb.addr,
						mb.dmabuf->size));
	KUNIT_EXPECT_EQ(test, task_faults() - faults, 5);
	udmabuf_test_expect_bytes(test, got, mb.expected, mb.dmabuf->size);
	vm_munmap(mb.addr, mb.dmabuf->size);
}

/*
 * A stretch longer than its iterator's frames (which the fault path never
 * asks for) maps what the frames cover and stops with -EFAULT: no page is
 * ever mapped without a frame of the buffer.
 */
static void insert_ptes_past_frames_test(struct kunit *test)
{
	struct mm_struct *mm;
	struct udmabuf_frame_iter frames;
	struct vm_area_struct *vma;
	struct mapped_buffer mb;
	struct udmabuf *ubuf;
	unsigned long faults;
	int err;
	u8 *got;

	got = kunit_kmalloc(test, 2 * PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, got);
	map_whole_memfd(test, 4, &mb);
	ubuf = mb.dmabuf->priv;
	mm = current->mm;

	udmabuf_frame_iter_start(&frames, &ubuf->slices, 0, 2);
	mmap_read_lock(mm);
	vma = vma_lookup(mm, mb.addr);
	err = vma ? udmabuf_insert_ptes(vma, mb.addr, 4, &frames) : -ENOENT;
	mmap_read_unlock(mm);
	KUNIT_EXPECT_EQ(test, err, -EFAULT);

	faults = task_faults();
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)mb.addr,
						2 * PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, task_faults(), faults);
	udmabuf_test_expect_bytes(test, got, mb.expected, 2 * PAGE_SIZE);
	vm_munmap(mb.addr, mb.dmabuf->size);
}

/*
 * A fatal signal (the OOM killer's, say, while pinning a huge sparse
 * memfd) ends a create before its next pin batch, with nothing left
 * pinned, and ends a window after its first PMD range: the faulting page
 * is mapped, the rest of a window over the whole VMA (4 MiB, so at least
 * two PMD ranges) faults once more.
 */
static void fatal_signal_stops_pin_and_prefault_test(struct kunit *test)
{
	struct udmabuf_test_counts *before;
	struct mapped_buffer mb;
	unsigned long faults;
	int err, ret;
	u8 *got;

	map_whole_memfd(test, 1024, &mb);
	before = udmabuf_test_folio_counts(test, mb.memfd);
	got = udmabuf_test_kvmalloc(test, mb.dmabuf->size);

	((struct udmabuf *)mb.dmabuf->priv)->fault_order = 10;
	udmabuf_test_raise_fatal_signal();
	err = PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(&mb.item, 1));
	ret = udmabuf_test_call_fault(mb.addr);
	flush_signals(current);
	KUNIT_EXPECT_EQ(test, err, -EINTR);
	KUNIT_EXPECT_EQ(test, ret, 0);

	faults = task_faults();
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)mb.addr,
						mb.dmabuf->size));
	KUNIT_EXPECT_EQ(test, task_faults() - faults, 1);
	udmabuf_test_expect_bytes(test, got, mb.expected, mb.dmabuf->size);
	vm_munmap(mb.addr, mb.dmabuf->size);
	udmabuf_test_expect_unpinned(test, mb.memfd, before);
}

/*
 * A VMA that reaches past the buffer cannot be made through the dma-buf
 * core; if one were, its fault gets SIGBUS (and a warning), never a frame
 * past the end. The test prints where the expected warning starts and
 * ends, for the log checkers to leave it out.
 */
static void fault_past_buffer_end_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 4);
	struct dma_buf *dmabuf = udmabuf_test_create(test, &item, 1);
	struct vm_area_struct *vma;
	unsigned long addr;
	int ret;

	addr = udmabuf_test_map(test, dmabuf, 2 * PAGE_SIZE, MAP_SHARED, 2);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	mmap_write_lock(current->mm);
	vma = vma_lookup(current->mm, addr);
	if (vma)
		vma->vm_pgoff = 3;
	mmap_write_unlock(current->mm);
	KUNIT_ASSERT_NOT_NULL(test, vma);

	pr_info("udmabuf-test: expected warning begins\n");
	ret = udmabuf_test_call_fault(addr);
	pr_info("udmabuf-test: expected warning ends\n");
	KUNIT_EXPECT_EQ(test, ret, -EFAULT);
	vm_munmap(addr, 2 * PAGE_SIZE);
}

static void prepare_mapping(struct udmabuf_test_fault_op *op)
{
	op->addr = udmabuf_test_map(op->test, op->dmabuf, op->dmabuf->size,
				    MAP_SHARED, 0);
	KUNIT_ASSERT_FALSE(op->test, IS_ERR_VALUE(op->addr));
}

/* The mapping's first fault, at its first page: udmabuf_test_call_fault(). */
static int run_first_fault(struct udmabuf_test_fault_op *op)
{
	return udmabuf_test_call_fault(op->addr);
}

/* Unmapped, so that the next fault needs page tables again. */
static void undo_mapping(struct udmabuf_test_fault_op *op)
{
	vm_munmap(op->addr, op->dmabuf->size);
}

/*
 * The first fault with each allocation failing in turn (the page tables
 * vmf_insert_pfn() needs): VM_FAULT_OOM while the faulting page cannot be
 * mapped, nothing pinned or left allocated; once it can, the fault
 * succeeds however much of the prefault fails. Then a mapping reads every
 * byte of the buffer.
 */
static void mmap_allocation_failure_at_each_point_test(struct kunit *test)
{
	struct udmabuf_test_fault_setup s;
	struct udmabuf_test_fault_op op = {
		.prepare = prepare_mapping, .run = run_first_fault,
		.undo = undo_mapping, .err = -ENOMEM, .test = test, .s = &s,
	};
	u8 *got;

	op.dmabuf = udmabuf_test_fault_buffer(test, &s);
	KUNIT_EXPECT_GE(test, udmabuf_test_fail_each_allocation(&op), 2);

	got = udmabuf_test_kvmalloc(test, op.dmabuf->size);
	prepare_mapping(&op);
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)op.addr,
						op.dmabuf->size));
	udmabuf_test_expect_bytes(test, got, udmabuf_test_fault_bytes(test, &s),
				  op.dmabuf->size);
	undo_mapping(&op);
}

/*
 * The mapping's first fault through the core's fault path, page tables
 * and all: 0 only when the faulting page is mapped afterwards, -ENOMEM for
 * VM_FAULT_OOM.
 */
static int run_core_fault(struct udmabuf_test_fault_op *op)
{
	struct follow_pfnmap_args args = { .address = op->addr };
	struct mm_struct *mm = current->mm;
	vm_fault_t ret;
	int err;

	mmap_read_lock(mm);
	args.vma = vma_lookup(mm, op->addr);
	ret = handle_mm_fault(args.vma, op->addr, FAULT_FLAG_KILLABLE, NULL);
	if (ret & VM_FAULT_OOM) {
		err = -ENOMEM;
	} else if (ret & VM_FAULT_ERROR) {
		err = -EIO;
	} else {
		err = follow_pfnmap_start(&args);
		if (!err)
			follow_pfnmap_end(&args);
	}
	mmap_read_unlock(mm);
	return err;
}

static const bool fault_modes[] = { false, true };

KUNIT_ARRAY_PARAM(fault_mode, fault_modes, udmabuf_test_fault_mode_desc);

/*
 * The same through the core: a fault whose page table cannot be
 * allocated says VM_FAULT_OOM, never that it mapped the page.
 */
static void core_fault_allocation_failure_at_each_point_test(struct kunit *test)
{
	const bool *only_nth = test->param_value;
	struct udmabuf_test_fault_setup s;
	struct udmabuf_test_fault_op op = {
		.prepare = prepare_mapping, .run = run_core_fault,
		.undo = undo_mapping, .err = -ENOMEM, .test = test, .s = &s,
		.only_nth = *only_nth,
	};

	op.dmabuf = udmabuf_test_fault_buffer(test, &s);
	KUNIT_EXPECT_GE(test, udmabuf_test_fail_each_allocation(&op), 1);
}

static struct kunit_case udmabuf_mmap_cases[] = {
	KUNIT_CASE(mmap_reads_all_pages_in_growing_windows_test),
	KUNIT_CASE(mmap_reads_downwards_in_growing_windows_test),
	KUNIT_CASE(downward_fault_on_a_block_start_test),
	KUNIT_CASE(first_fault_maps_its_window_test),
	KUNIT_CASE(mmap_at_offset_test),
	KUNIT_CASE(mmap_writes_reach_memfd_test),
	KUNIT_CASE(mmap_private_refused_test),
	KUNIT_CASE(fault_maps_faulting_page_first_test),
	KUNIT_CASE(fault_past_buffer_end_test),
	KUNIT_CASE(insert_ptes_past_frames_test),
	KUNIT_CASE(fatal_signal_stops_pin_and_prefault_test),
	KUNIT_CASE(mmap_allocation_failure_at_each_point_test),
	KUNIT_CASE_PARAM(core_fault_allocation_failure_at_each_point_test,
			 fault_mode_gen_params),
	{}
};

static struct kunit_suite udmabuf_mmap_suite = {
	.name = "udmabuf-mmap",
	.init = udmabuf_test_init,
	.test_cases = udmabuf_mmap_cases,
};

kunit_test_suite(udmabuf_mmap_suite);
