// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for making a udmabuf (udmabuf-main.c): the create path and
 * the ioctls, every refusal, the limits, allocation failures, and a soak
 * of many buffers. Sealed shmem files stand in for memfds.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/anon_inodes.h>
#include <linux/dma-buf.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/mman.h>
#include <linux/overflow.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sizes.h>
#include <linux/udmabuf.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/vmstat.h>

#include "../udmabuf.h"
#include "udmabuf-kunit-buffers.h"
#include "udmabuf-kunit-helpers.h"
#include "udmabuf-kunit-memfd.h"

#define PG(n)	((u64)(n) * PAGE_SIZE)

/*
 * A buffer of @items, all of @memfd: while it lives page i of the file
 * carries @pins[i] pins more and the buffer reads as the file; once it is
 * released, every pin is gone.
 */
static void check_buffer(struct kunit *test, struct udmabuf_test_memfd *memfd,
			 const struct udmabuf_create_item *items, u32 count,
			 const int *pins)
{
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct udmabuf_test_memfd **memfds;
	struct dma_buf *dmabuf;
	size_t size = 0;
	u32 i;

	memfds = kunit_kcalloc(test, count, sizeof(*memfds), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, memfds);
	for (i = 0; i < count; i++) {
		memfds[i] = memfd;
		size += items[i].size;
	}
	dmabuf = udmabuf_test_create(test, items, count);
	KUNIT_EXPECT_EQ(test, dmabuf->size, size);
	udmabuf_test_expect_pins(test, memfd, before, pins);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_expected_bytes(test, memfds,
								   items,
								   count));
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_unpinned(test, memfd, before);
	udmabuf_test_expect_allocs(test, &allocs);
}

static void create_one_page_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 2, 1);
	const int pins[4] = { 0, 0, 1, 0 };

	check_buffer(test, memfd, &item, 1, pins);
}

static void create_whole_file_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 64);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 64);
	int pins[64];
	u32 i;

	for (i = 0; i < 64; i++)
		pins[i] = 1;
	check_buffer(test, memfd, &item, 1, pins);
}

/*
 * Items that overlap and repeat: the buffer holds one pin on each folio
 * they name, however many of them name it.
 */
static void create_list_sharing_folios_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 8);
	struct udmabuf_create_item items[] = {
		udmabuf_test_item(memfd, 0, 3), udmabuf_test_item(memfd, 2, 3),
		udmabuf_test_item(memfd, 2, 1), udmabuf_test_item(memfd, 7, 1),
		udmabuf_test_item(memfd, 0, 8),
	};
	const int pins[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };

	check_buffer(test, memfd, items, ARRAY_SIZE(items), pins);
}

KUNIT_DEFINE_ACTION_WRAPPER(vfree_action, vfree, const void *);

/*
 * Room for @count items that ends where a vmalloc'd page does: a read past
 * the list faults on the guard page after it.
 */
static struct udmabuf_create_item *
udmabuf_list_before_guard(struct kunit *test, u32 count)
{
	void *page = vmalloc(PAGE_SIZE);

	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, vfree_action,
							   page));
	return page + PAGE_SIZE - count * sizeof(struct udmabuf_create_item);
}

/*
 * A list that names one page as often as list_limit allows (QEMU's lists
 * are one page per item): one pin, not one per item, which would take a
 * small folio's refcount past INT_MAX after a few thousand such buffers.
 */
static void create_list_one_page_many_times_test(struct kunit *test)
{
	u32 i, count = max(READ_ONCE(udmabuf_list_limit), 2);
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 2);
	struct udmabuf_create_item *items;
	const int pins[2] = { 0, 1 };

	items = kunit_kcalloc(test, count, sizeof(*items), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, items);
	for (i = 0; i < count; i++)
		items[i] = udmabuf_test_item(memfd, 1, 1);
	check_buffer(test, memfd, items, count, pins);
}

/*
 * Items of three files make one buffer of their pages, pinned and unpinned
 * once each; the list ends at a guard page, so a read past it faults.
 */
static void create_list_of_files_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfds[] = {
		udmabuf_test_sealed_memfd(test, 5),
		udmabuf_test_sealed_memfd(test, 3),
		udmabuf_test_sealed_memfd(test, 9),
	};
	struct udmabuf_test_counts *before[3];
	struct udmabuf_create_item *items;
	struct dma_buf *dmabuf;
	u32 i;

	items = udmabuf_list_before_guard(test, 3);
	items[0] = udmabuf_test_item(memfds[0], 1, 4);
	items[1] = udmabuf_test_item(memfds[1], 0, 3);
	items[2] = udmabuf_test_item(memfds[2], 8, 1);
	for (i = 0; i < 3; i++)
		before[i] = udmabuf_test_folio_counts(test, memfds[i]);
	dmabuf = udmabuf_test_create(test, items, 3);
	KUNIT_EXPECT_EQ(test, dmabuf->size, 8 * PAGE_SIZE);
	udmabuf_test_expect_vmap_bytes(test, dmabuf,
				       udmabuf_test_expected_bytes(test, memfds,
								   items, 3));

	udmabuf_test_put_now(test, dmabuf);
	for (i = 0; i < 3; i++)
		udmabuf_test_expect_unpinned(test, memfds[i], before[i]);
}

/* The buffer keeps its pages when the memfd is gone. */
static void buffer_outlives_memfd_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 6);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 1, 5);
	u8 *expected = udmabuf_test_expected_bytes(test, &memfd, &item, 1);
	struct dma_buf *dmabuf;

	dmabuf = udmabuf_test_create(test, &item, 1);
	udmabuf_test_close_memfd(test, memfd);
	udmabuf_test_expect_vmap_bytes(test, dmabuf, expected);
}

struct refusal_case {
	const char *name;
	int seals;
	u64 offset;
	u64 size;
	int ret;
	bool bad_fd;
	bool not_memfd;
	bool over_size_limit;
};

#define MEMFD_PAGES	4

static const struct refusal_case refusal_cases[] = {
	{ "bad fd", F_SEAL_SHRINK, 0, PG(1), -EBADFD, .bad_fd = true },
	{ "not a memfd", F_SEAL_SHRINK, 0, PG(1), -EBADFD, .not_memfd = true },
	{ "unsealed", 0, 0, PG(1), -EINVAL },
	{ "write sealed", F_SEAL_SHRINK | F_SEAL_WRITE, 0, PG(1), -EINVAL },
	{ "future write sealed", F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE, 0, PG(1),
	  -EINVAL },
	{ "unaligned offset", F_SEAL_SHRINK, 100, PG(1), -EINVAL },
	{ "unaligned size", F_SEAL_SHRINK, 0, PG(1) - 1, -EINVAL },
	{ "zero size", F_SEAL_SHRINK, 0, 0, -EINVAL },
	{ "past the end", F_SEAL_SHRINK, PG(2), PG(3), -EINVAL },
	{ "starts at the end", F_SEAL_SHRINK, PG(MEMFD_PAGES), PG(1), -EINVAL },
	{ "offset plus size overflows", F_SEAL_SHRINK, U64_MAX & PAGE_MASK,
	  PG(2), -EINVAL },
	{ "over size_limit_mb", F_SEAL_SHRINK, 0, 0, -EINVAL,
	  .over_size_limit = true },
};

KUNIT_ARRAY_PARAM_DESC(refusal, refusal_cases, name);

/* Each refusal returns its errno and leaves no pin or allocation behind. */
static void refusal_test(struct kunit *test)
{
	const struct refusal_case *c = test->param_value;
	struct udmabuf_test_memfd *memfd =
		udmabuf_test_shmem_memfd(test, MEMFD_PAGES, c->seals);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct udmabuf_create_item items[2] = {
		udmabuf_test_item(memfd, 0, MEMFD_PAGES),
		{ .memfd = memfd->fd, .offset = c->offset, .size = c->size },
	};
	struct file *other = NULL;
	struct dma_buf *dmabuf;
	int fd = -1;

	/* Only the item in test is bad; a good one before it gets pinned. */
	if (c->seals != F_SEAL_SHRINK)
		items[0] = items[1];
	if (c->bad_fd)
		items[1].memfd = -1;
	if (c->over_size_limit)
		items[1].size = (u64)READ_ONCE(udmabuf_size_limit_mb) * SZ_1M +
				PAGE_SIZE - items[0].size;
	if (c->not_memfd) {
		other = anon_inode_getfile("udmabuf-kunit", &simple_dir_operations,
					   NULL, O_RDWR);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);
		fd = get_unused_fd_flags(0);
		KUNIT_ASSERT_GE(test, fd, 0);
		fd_install(fd, other);
		items[1].memfd = fd;
	}

	dmabuf = udmabuf_create_dmabuf(items, 2);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), c->ret);
	if (!IS_ERR(dmabuf))
		dma_buf_put(dmabuf);
	if (fd >= 0)
		close_fd(fd);
	udmabuf_test_release_files();
	udmabuf_test_expect_unpinned(test, memfd, before);
	udmabuf_test_expect_allocs(test, &allocs);
}

static bool fd_close_on_exec(int fd)
{
	bool ret;

	rcu_read_lock();
	ret = close_on_exec(fd, current->files);
	rcu_read_unlock();
	return ret;
}

/* A copy of @size bytes of @data in the test's mm: a user pointer. */
static void __user *user_copy(struct kunit *test, const void *data,
			      size_t size)
{
	unsigned long addr;

	addr = kunit_vm_mmap(test, NULL, 0, PAGE_ALIGN(size),
			     PROT_READ | PROT_WRITE,
			     MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_EQ(test, 0, copy_to_user((void __user *)addr, data, size));
	return (void __user *)addr;
}

/* Puts a user copy of a create list into the test's mm. */
static void __user *user_list(struct kunit *test, u32 flags,
			      const struct udmabuf_create_item *items,
			      u32 count)
{
	struct udmabuf_create_list *list;
	size_t size = struct_size(list, list, count);

	list = udmabuf_test_kvmalloc(test, size);
	list->flags = flags;
	list->count = count;
	memcpy(list->list, items, flex_array_size(list, list, count));
	return user_copy(test, list, size);
}

static long ioctl_create_list(struct kunit *test, u32 flags,
			      const struct udmabuf_create_item *items,
			      u32 count)
{
	return udmabuf_ioctl(NULL, UDMABUF_CREATE_LIST,
			     (unsigned long)user_list(test, flags, items,
						      count));
}

/* Through the ioctl: a dma-buf fd, close-on-exec as asked. */
static void ioctl_create_list_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_create_item items[] = {
		udmabuf_test_item(memfd, 0, 1), udmabuf_test_item(memfd, 3, 1),
	};
	u32 flags;

	for (flags = 0; flags <= UDMABUF_FLAGS_CLOEXEC; flags++) {
		struct dma_buf *dmabuf;
		long fd;

		fd = ioctl_create_list(test, flags, items, 2);
		KUNIT_ASSERT_GE(test, fd, 0);
		KUNIT_EXPECT_EQ(test, fd_close_on_exec(fd),
				!!(flags & UDMABUF_FLAGS_CLOEXEC));
		dmabuf = dma_buf_get(fd);
		KUNIT_EXPECT_NOT_ERR_OR_NULL(test, dmabuf);
		if (!IS_ERR(dmabuf)) {
			KUNIT_EXPECT_EQ(test, dmabuf->size, 2 * PAGE_SIZE);
			dma_buf_put(dmabuf);
		}
		close_fd(fd);
	}
}

static void ioctl_create_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct udmabuf_create create = {
		.memfd = memfd->fd, .flags = UDMABUF_FLAGS_CLOEXEC,
		.offset = PAGE_SIZE, .size = 3 * PAGE_SIZE,
	};
	unsigned long addr = (unsigned long)user_copy(test, &create,
						      sizeof(create));
	long fd;

	fd = udmabuf_ioctl(NULL, UDMABUF_CREATE, addr);
	KUNIT_ASSERT_GE(test, fd, 0);
	KUNIT_EXPECT_TRUE(test, fd_close_on_exec(fd));
	udmabuf_test_close_now(fd);
	udmabuf_test_expect_unpinned(test, memfd, before);

	/* A refused item comes back through the ioctl as it is. */
	create.size = 0;
	KUNIT_ASSERT_EQ(test, 0, copy_to_user((void __user *)addr, &create,
					      sizeof(create)));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			udmabuf_ioctl(NULL, UDMABUF_CREATE, addr));

	KUNIT_EXPECT_EQ(test, -EFAULT, udmabuf_ioctl(NULL, UDMABUF_CREATE, 0));
	KUNIT_EXPECT_EQ(test, -EFAULT,
			udmabuf_ioctl(NULL, UDMABUF_CREATE_LIST, 0));
	KUNIT_EXPECT_EQ(test, -ENOTTY, udmabuf_ioctl(NULL, 0, addr));
}

/*
 * Descriptor 0 is a descriptor like any other: a create that gets it
 * returns it, and the buffer behind it lives until it is closed.
 */
static void ioctl_create_gets_fd_zero_test(struct kunit *test)
{
	int zero = get_unused_fd_flags(0);
	struct udmabuf_test_memfd *memfd;
	struct udmabuf_create create = { .size = PAGE_SIZE };
	struct dma_buf *dmabuf;
	unsigned long addr;
	long fd;

	KUNIT_ASSERT_GE(test, zero, 0);
	if (zero) {
		put_unused_fd(zero);
		kunit_skip(test, "descriptor 0 is taken in this thread");
	}
	memfd = udmabuf_test_sealed_memfd(test, 1);
	put_unused_fd(zero);
	create.memfd = memfd->fd;
	addr = (unsigned long)user_copy(test, &create, sizeof(create));

	fd = udmabuf_ioctl(NULL, UDMABUF_CREATE, addr);
	KUNIT_ASSERT_EQ(test, fd, 0);
	dmabuf = dma_buf_get(0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(dmabuf));
	/* The descriptor's reference and ours. */
	KUNIT_EXPECT_EQ(test, file_count(dmabuf->file), 2);
	dma_buf_put(dmabuf);
	udmabuf_test_close_now(fd);
}

/*
 * A list whose head is readable but whose items are not: EFAULT, and the
 * copy of the items made for them is freed.
 */
static void ioctl_list_items_unreadable_test(struct kunit *test)
{
	struct udmabuf_create_list head = { .count = 2 };
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	unsigned long addr;

	addr = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
			     MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	addr += PAGE_SIZE - sizeof(head);
	KUNIT_ASSERT_EQ(test, 0, copy_to_user((void __user *)addr, &head,
					      sizeof(head)));
	KUNIT_EXPECT_EQ(test, -EFAULT,
			udmabuf_ioctl(NULL, UDMABUF_CREATE_LIST, addr));
	udmabuf_test_expect_allocs(test, &allocs);
}

/* No items, or more than list_limit: refused before anything is read. */
static void ioctl_list_count_refused_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 1);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct udmabuf_create_item *items;
	u32 i, over = READ_ONCE(udmabuf_list_limit) + 1;
	long fd;

	items = kunit_kcalloc(test, over, sizeof(*items), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, items);
	for (i = 0; i < over; i++)
		items[i] = udmabuf_test_item(memfd, 0, 1);

	KUNIT_EXPECT_EQ(test, -EINVAL, ioctl_create_list(test, 0, items, 0));
	KUNIT_EXPECT_EQ(test, -EINVAL, ioctl_create_list(test, 0, items, over));
	udmabuf_test_expect_unpinned(test, memfd, before);

	/* The limit itself is allowed. */
	fd = ioctl_create_list(test, 0, items, over - 1);
	KUNIT_ASSERT_GE(test, fd, 0);
	udmabuf_test_close_now(fd);
	udmabuf_test_expect_unpinned(test, memfd, before);
}

/*
 * A list_limit raised past what kvmalloc() takes: a list whose items
 * would fill more than INT_MAX bytes fails with ENOMEM, without the
 * warning kvmalloc() gives such sizes, before any item is read.
 */
static void ioctl_list_past_int_max_test(struct kunit *test)
{
	struct udmabuf_create_list head = {
		.count = INT_MAX / sizeof(struct udmabuf_create_item) + 1,
	};
	bool tainted = test_taint(TAINT_WARN);
	unsigned long addr;

	udmabuf_test_set_param(test, &udmabuf_list_limit, INT_MAX);
	addr = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
			     MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_EQ(test, 0, copy_to_user((void __user *)addr, &head,
					      sizeof(head)));
	KUNIT_EXPECT_EQ(test, -ENOMEM,
			udmabuf_ioctl(NULL, UDMABUF_CREATE_LIST, addr));
	if (!tainted)
		KUNIT_EXPECT_FALSE(test, test_taint(TAINT_WARN));
}

/*
 * The limits are read on every request: raised, lowered, and at 0 or
 * less (every request refused), as MODULE_PARM_DESC says.
 */
static void limits_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 512);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct udmabuf_create_item one = udmabuf_test_item(memfd, 0, 1);
	struct udmabuf_create_item mib =
		udmabuf_test_item(memfd, 0, SZ_1M >> PAGE_SHIFT);
	struct udmabuf_create_item *items;
	const u32 raised = 2048;
	long fd;
	u32 i;

	udmabuf_test_set_param(test, &udmabuf_size_limit_mb, 1);
	udmabuf_test_set_param(test, &udmabuf_list_limit, raised);
	KUNIT_EXPECT_EQ(test, -EINVAL,
			PTR_ERR_OR_ZERO(udmabuf_create_dmabuf((struct udmabuf_create_item[]) {
				mib, one }, 2)));
	udmabuf_test_put_now(test, udmabuf_test_create(test, &mib, 1));

	/* 2,048 one-page items: 8 MiB. */
	WRITE_ONCE(udmabuf_size_limit_mb, 8);
	items = kunit_kcalloc(test, raised + 1, sizeof(*items), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, items);
	for (i = 0; i <= raised; i++)
		items[i] = udmabuf_test_item(memfd, i % 256, 1);
	fd = ioctl_create_list(test, 0, items, raised);
	KUNIT_EXPECT_GE(test, fd, 0);
	if (fd >= 0)
		udmabuf_test_close_now(fd);
	KUNIT_EXPECT_EQ(test, -EINVAL,
			ioctl_create_list(test, 0, items, raised + 1));

	for (i = 0; i < 2; i++) {
		WRITE_ONCE(udmabuf_size_limit_mb, -(int)i);
		KUNIT_EXPECT_EQ(test, -EINVAL,
				PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(&one, 1)));
		WRITE_ONCE(udmabuf_size_limit_mb, 1);
		WRITE_ONCE(udmabuf_list_limit, -(int)i);
		KUNIT_EXPECT_EQ(test, -EINVAL,
				ioctl_create_list(test, 0, items, 1));
	}
	udmabuf_test_expect_unpinned(test, memfd, before);
}

static struct dma_buf *export_fails(struct udmabuf *ubuf)
{
	return ERR_PTR(-ENOSPC);
}

static void export_failure_test(struct kunit *test)
{
	struct udmabuf_test_fault_setup s;

	udmabuf_test_fault_setup(test, &s);
	kunit_activate_static_stub(test, udmabuf_export, export_fails);
	udmabuf_test_expect_create_fails(test, &s, -ENOSPC);
}

static int run_ioctl(struct udmabuf_test_fault_op *op)
{
	op->fd = udmabuf_ioctl(NULL, UDMABUF_CREATE_LIST,
			       (unsigned long)op->user);
	return op->fd < 0 ? op->fd : 0;
}

static void close_ioctl_fd(struct udmabuf_test_fault_op *op)
{
	if (op->fd >= 0)
		udmabuf_test_close_now(op->fd);
}

static const bool fault_modes[] = { false, true };

KUNIT_ARRAY_PARAM(fault_mode, fault_modes, udmabuf_test_fault_mode_desc);

/*
 * Every allocation of the ioctl failing in turn (the item copy, the
 * buffer, the pin batch, slice growth, the trim, the export, the
 * descriptor): -ENOMEM, no pin and no allocation left, or a buffer made
 * all the same when the kernel recovers and only the nth fails. Then the
 * same list makes a buffer.
 */
static void ioctl_allocation_failure_at_each_point_test(struct kunit *test)
{
	struct udmabuf_test_fault_setup s;
	struct udmabuf_test_fault_op op = {
		.run = run_ioctl, .undo = close_ioctl_fd, .err = -ENOMEM,
		.test = test, .s = &s,
		.only_nth = *(const bool *)test->param_value,
	};

	udmabuf_test_fault_setup(test, &s);
	op.user = user_list(test, 0, s.items, 8);
	udmabuf_test_fault_snapshot(test, &s);
	KUNIT_EXPECT_GE(test, udmabuf_test_fail_each_allocation(&op), 4);
	udmabuf_test_expect_released(test, &s);
}

/*
 * No descriptor left for the new dma-buf: the ioctl fails with EMFILE
 * and the buffer, already exported, is released through the dma-buf.
 */
static void fd_install_failure_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct rlimit *nofile = &current->signal->rlim[RLIMIT_NOFILE];
	struct udmabuf_create create = {
		.memfd = memfd->fd, .size = 4 * PAGE_SIZE,
	};
	unsigned long addr = (unsigned long)user_copy(test, &create,
						      sizeof(create));
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	unsigned long saved;
	long ret;

	saved = READ_ONCE(nofile->rlim_cur);
	WRITE_ONCE(nofile->rlim_cur, 0);
	ret = udmabuf_ioctl(NULL, UDMABUF_CREATE, addr);
	WRITE_ONCE(nofile->rlim_cur, saved);
	udmabuf_test_release_files();

	KUNIT_EXPECT_EQ(test, ret, -EMFILE);
	udmabuf_test_expect_unpinned(test, memfd, before);
	udmabuf_test_expect_allocs(test, &allocs);
}

/* The soak's scratch: a page each for what is read and what is wanted. */
struct soak_check {
	u8 *want;
	u8 *got;
	u32 buffer;	/* the buffer's number */
	u32 bad;	/* buffers that read wrong: only the first is told */
};

/*
 * Every byte of a soak buffer of @n @items (item k of @files[k]), read at
 * @vaddr or, if NULL, at the user address @uaddr, against the files'
 * patterns: what the items name, not what the driver holds.
 */
static void soak_expect_bytes(struct kunit *test, struct soak_check *c,
			      const u8 *vaddr, unsigned long uaddr,
			      struct udmabuf_test_memfd **files,
			      const struct udmabuf_create_item *items, u32 n)
{
	u8 *want = c->want, *got = c->got;
	size_t done = 0;
	u64 off;
	u32 k;

	for (k = 0; k < n; k++) {
		for (off = 0; off < items[k].size;
		     off += PAGE_SIZE, done += PAGE_SIZE) {
			udmabuf_test_fill_pattern(want, files[k]->seed,
						  items[k].offset + off,
						  PAGE_SIZE);
			if (vaddr)
				memcpy(got, vaddr + done, PAGE_SIZE);
			else if (copy_from_user(got,
						(const void __user *)(uaddr + done),
						PAGE_SIZE))
				memset(got, ~want[0], PAGE_SIZE);
			if (memcmp(got, want, PAGE_SIZE))
				goto differs;
		}
	}
	return;
differs:
	if (!c->bad++)
		KUNIT_FAIL(test, "buffer %u, %s: page %zu is not file page %llu",
			   c->buffer, vaddr ? "vmap" : "mmap", done >> PAGE_SHIFT,
			   (items[k].offset + off) >> PAGE_SHIFT);
}

/* A soak buffer read whole through a mapping of its own, then unmapped. */
static void soak_touch_mapping(struct kunit *test, struct soak_check *c,
			       struct dma_buf *dmabuf,
			       struct udmabuf_test_memfd **files,
			       const struct udmabuf_create_item *items, u32 n)
{
	unsigned long addr;

	addr = udmabuf_test_map(test, dmabuf, dmabuf->size, MAP_SHARED, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	soak_expect_bytes(test, c, NULL, addr, files, items, n);
	vm_munmap(addr, dmabuf->size);
}

/* Buffers the soak makes: fewer where KASAN checks every access. */
#define SOAK_BUFFERS (IS_ENABLED(CONFIG_KASAN) ? 500 : 10000)

/*
 * SOAK_BUFFERS buffers over mixed ranges of three files, vmapped, mapped
 * for CPU access or mmapped now and then: every byte of each vmapped or
 * mmapped one reads as its items name, and every pin and every allocation
 * of the driver is gone at the end.
 */
static void soak_test(struct kunit *test)
{
	struct udmabuf_test_fault_setup s;
	struct udmabuf_create_item items[3];
	struct udmabuf_test_memfd *files[3];
	struct soak_check c = { };
	struct dma_buf *dmabuf;
	struct iosys_map map;
	u32 i, seed = 1;
	long free_pages;

	c.want = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	c.got = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, c.want);
	KUNIT_ASSERT_NOT_NULL(test, c.got);
	udmabuf_test_fault_setup(test, &s);
	free_pages = global_zone_page_state(NR_FREE_PAGES);
	for (i = 0; i < SOAK_BUFFERS; i++) {
		u32 n = 1 + i % 3, k;

		for (k = 0; k < n; k++) {
			u32 first, pages;

			seed = seed * 1103515245 + 12345;
			first = (seed >> 8) % 90;
			pages = 1 + (seed >> 20) % (96 - first);
			files[k] = s.memfds[(i + k) % 3];
			items[k] = udmabuf_test_item(files[k], first, pages);
		}
		dmabuf = udmabuf_create_dmabuf(items, n);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dmabuf);
		c.buffer = i;
		if (i % 7 == 0) {
			KUNIT_ASSERT_EQ(test, 0,
					dma_buf_vmap_unlocked(dmabuf, &map));
			soak_expect_bytes(test, &c, map.vaddr, 0, files, items,
					  n);
			dma_buf_vunmap_unlocked(dmabuf, &map);
		}
		if (i % 11 == 0 &&
		    !dma_buf_begin_cpu_access(dmabuf, DMA_BIDIRECTIONAL))
			dma_buf_end_cpu_access(dmabuf, DMA_BIDIRECTIONAL);
		if (i % 13 == 0)
			soak_touch_mapping(test, &c, dmabuf, files, items, n);
		dma_buf_put(dmabuf);
		if (i % 256 == 0)
			udmabuf_test_release_files();
	}
	KUNIT_EXPECT_EQ_MSG(test, c.bad, 0, "buffer reads that differ");
	udmabuf_test_expect_released(test, &s);
	/* Only reported: caches of the rest of the kernel move it too. */
	kunit_info(test, "free pages: %ld more after than before\n",
		   (long)global_zone_page_state(NR_FREE_PAGES) - free_pages);
}

/* The distinct folios of pages [@first, @first + @nr) of @memfd. */
static u32 distinct_folios(struct kunit *test,
			   struct udmabuf_test_memfd *memfd,
			   pgoff_t first, u32 nr)
{
	struct folio *folio, *last = NULL;
	u32 folios = 0;
	pgoff_t page;

	for (page = first; page < first + nr; page++) {
		folio = filemap_get_folio(memfd->file->f_mapping, page);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
		folios += folio != last;
		last = folio;
		/* Only compared as a pointer: the page cache holds it. */
		folio_put(folio);
	}
	return folios;
}

/*
 * Driver memory per buffer page, exactly (ksize of what it keeps): one
 * 16-byte slice per folio, trimmed to size, plus the fixed struct. The
 * folios are counted in the file's page cache, not by the driver.
 */
static void memory_per_page_test(struct kunit *test)
{
	const u32 nr = 1024;
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, nr);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, nr);
	struct dma_buf *dmabuf = udmabuf_test_create(test, &item, 1);
	struct udmabuf *ubuf = dmabuf->priv;
	size_t bytes = udmabuf_test_driver_bytes(dmabuf);
	u32 folios = distinct_folios(test, memfd, 0, nr);

	kunit_info(test, "4 KiB folios: %u pages, %u folios, %u slices, %zu bytes, %zu.%02zu bytes/page\n",
		   nr, folios, ubuf->slices.nr_slices, bytes, bytes / nr,
		   bytes * 100 / nr % 100);
	KUNIT_EXPECT_EQ(test, ubuf->slices.nr_slices, folios);
	KUNIT_EXPECT_EQ(test, ubuf->slices.capacity, folios);
	KUNIT_EXPECT_LE(test, bytes - ksize(ubuf), (size_t)folios * 16);
}

/*
 * A list's slices array ends as long as its slices, however it grew: three
 * two-page items apart in one huge folio are three slices, kept in three
 * entries, where the doubling while they were appended reached four (the
 * buffer's six pages allow six).
 */
static void list_keeps_no_spare_slices_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_test_memfd *memfd;
	struct udmabuf_create_item items[3];
	struct dma_buf *dmabuf;
	struct udmabuf *ubuf;
	u32 i;

	memfd = udmabuf_test_filled_hugetlb_memfd(test, 1);
	for (i = 0; i < ARRAY_SIZE(items); i++)
		items[i] = udmabuf_test_item(memfd, 4 * i, 2);
	dmabuf = udmabuf_create_dmabuf(items, ARRAY_SIZE(items));
	if (IS_ERR(dmabuf))
		kunit_skip(test, "no free hugetlb pages: %ld", PTR_ERR(dmabuf));
	udmabuf_test_put_later(test, dmabuf);
	ubuf = dmabuf->priv;
	KUNIT_EXPECT_EQ(test, ubuf->slices.nr_slices, 3);
	KUNIT_EXPECT_EQ(test, ubuf->slices.capacity, 3);
	KUNIT_EXPECT_LE(test, ksize(ubuf->slices.slice),
			kmalloc_size_roundup(3 * sizeof(*ubuf->slices.slice)));
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

static struct kunit_case udmabuf_create_cases[] = {
	KUNIT_CASE(create_one_page_test),
	KUNIT_CASE(create_whole_file_test),
	KUNIT_CASE(create_list_sharing_folios_test),
	KUNIT_CASE(create_list_one_page_many_times_test),
	KUNIT_CASE(create_list_of_files_test),
	KUNIT_CASE(buffer_outlives_memfd_test),
	KUNIT_CASE_PARAM(refusal_test, refusal_gen_params),
	KUNIT_CASE(ioctl_create_list_test),
	KUNIT_CASE(ioctl_create_test),
	KUNIT_CASE(ioctl_create_gets_fd_zero_test),
	KUNIT_CASE(ioctl_list_count_refused_test),
	KUNIT_CASE(ioctl_list_past_int_max_test),
	KUNIT_CASE(ioctl_list_items_unreadable_test),
	KUNIT_CASE(limits_test),
	KUNIT_CASE(export_failure_test),
	KUNIT_CASE(memory_per_page_test),
	KUNIT_CASE(list_keeps_no_spare_slices_test),
	KUNIT_CASE_PARAM(ioctl_allocation_failure_at_each_point_test,
			 fault_mode_gen_params),
	KUNIT_CASE(fd_install_failure_test),
	KUNIT_CASE_SLOW(soak_test),
	{}
};

static struct kunit_suite udmabuf_create_suite = {
	.name = "udmabuf-create",
	.init = udmabuf_test_init,
	.test_cases = udmabuf_create_cases,
};

kunit_test_suite(udmabuf_create_suite);
