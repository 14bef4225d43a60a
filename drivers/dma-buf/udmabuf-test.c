// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for udmabuf end to end: sealed shmem files stand in for
 * memfds, buffers are made through the driver's own create path and
 * ioctl, then read through mmap, vmap and sg tables.
 */

#include <kunit/device.h>
#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/anon_inodes.h>
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/falloc.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/iommu-dma.h>
#include <linux/memfd.h>
#include <linux/mount.h>
#include <linux/iosys-map.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/scatterlist.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/swiotlb.h>
#include <linux/udmabuf.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/vmstat.h>
#include <linux/workqueue.h>

#include "udmabuf-fault-test.h"
#include "udmabuf.h"

#define PG(n)	((u64)(n) * PAGE_SIZE)

/* A sealed shmem file, as memfd_create() and F_ADD_SEALS would leave it. */
struct test_memfd {
	struct file *file;
	int fd;
	u32 nr_pages;
	u8 seed;
};

static void test_memfd_close(void *ctx)
{
	struct test_memfd *memfd = ctx;

	close_fd(memfd->fd);
	fput(memfd->file);
}

/* The byte at @offset of the file made with @seed. */
static u8 pattern_byte(u8 seed, loff_t offset)
{
	return seed ^ (offset >> PAGE_SHIFT) * 29 ^ (offset & 0xff);
}

static void fill_pattern(u8 *buf, u8 seed, loff_t offset, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern_byte(seed, offset + i);
}

KUNIT_DEFINE_ACTION_WRAPPER(kvfree_action, kvfree, const void *);

/* Test-lifetime memory that may be larger than kmalloc() can give. */
static void *test_kvmalloc(struct kunit *test, size_t size)
{
	void *p = kvmalloc(size, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, p);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, kvfree_action, p));
	return p;
}

/* Give @file a descriptor, as a memfd has; the test closes both. */
static struct test_memfd *install_memfd(struct kunit *test, struct file *file,
					u32 nr_pages)
{
	struct test_memfd *memfd;

	if (IS_ERR(file))
		return ERR_CAST(file);
	memfd = kunit_kzalloc(test, sizeof(*memfd), GFP_KERNEL);
	if (!memfd)
		fput(file);
	KUNIT_ASSERT_NOT_NULL(test, memfd);
	memfd->nr_pages = nr_pages;
	memfd->seed = get_random_u8();
	memfd->file = file;
	memfd->fd = get_unused_fd_flags(O_CLOEXEC);
	if (memfd->fd < 0)
		fput(memfd->file);
	KUNIT_ASSERT_GE(test, memfd->fd, 0);
	fd_install(memfd->fd, get_file(memfd->file));
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, test_memfd_close,
						  memfd));
	return memfd;
}

/* Write the file's pattern through the page cache, then seal it. */
static void fill_and_seal(struct kunit *test, struct test_memfd *memfd,
			  int seals)
{
	size_t size = (size_t)memfd->nr_pages << PAGE_SHIFT;
	loff_t pos = 0;
	u8 *data;

	data = test_kvmalloc(test, size);
	fill_pattern(data, memfd->seed, 0, size);
	KUNIT_ASSERT_EQ(test, kernel_write(memfd->file, data, size, &pos),
			(ssize_t)size);
	kunit_release_action(test, kvfree_action, data);
	SHMEM_I(file_inode(memfd->file))->seals = seals;
}

static struct test_memfd *test_memfd(struct kunit *test, u32 nr_pages,
				     int seals)
{
	struct test_memfd *memfd;

	memfd = install_memfd(test, shmem_file_setup("udmabuf-kunit",
						     (loff_t)nr_pages << PAGE_SHIFT,
						     0), nr_pages);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, memfd);
	fill_and_seal(test, memfd, seals);
	return memfd;
}

static struct test_memfd *sealed_memfd(struct kunit *test, u32 nr_pages)
{
	return test_memfd(test, nr_pages, F_SEAL_SHRINK);
}

static struct udmabuf_create_item item_of(struct test_memfd *memfd,
					  u32 first_page, u32 nr_pages)
{
	return (struct udmabuf_create_item) {
		.memfd = memfd->fd,
		.offset = (u64)first_page << PAGE_SHIFT,
		.size = (u64)nr_pages << PAGE_SHIFT,
	};
}

/* What a buffer of @items must read as, page after page. */
static u8 *expected_bytes(struct kunit *test, struct test_memfd **memfds,
			  const struct udmabuf_create_item *items, u32 count)
{
	size_t total = 0, done = 0;
	u8 *buf;
	u32 i;

	for (i = 0; i < count; i++)
		total += items[i].size;
	buf = test_kvmalloc(test, total);
	for (i = 0; i < count; i++) {
		fill_pattern(buf + done, memfds[i]->seed, items[i].offset,
			     items[i].size);
		done += items[i].size;
	}
	return buf;
}

/*
 * Pins and other references of every page's folio. The page cache holds
 * the folios, so they can be read again after a buffer is gone.
 */
struct folio_counts {
	u32 nr;
	struct {
		int pins;
		int refs;
	} page[];
};

/* A small folio counts a pin as GUP_PIN_COUNTING_BIAS references. */
static int folio_pins(struct folio *folio)
{
	return folio_has_pincount(folio) ? atomic_read(&folio->_pincount) :
	       folio_ref_count(folio) / GUP_PIN_COUNTING_BIAS;
}

static struct folio_counts *folio_counts(struct kunit *test,
					 struct test_memfd *memfd)
{
	struct address_space *mapping = memfd->file->f_mapping;
	struct folio_counts *counts;
	u32 i;

	counts = kunit_kzalloc(test, struct_size(counts, page, memfd->nr_pages),
			       GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, counts);
	counts->nr = memfd->nr_pages;
	for (i = 0; i < memfd->nr_pages; i++) {
		struct folio *folio = filemap_get_folio(mapping, i);
		int pins;

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
		pins = folio_pins(folio);
		/*
		 * Not ours: the lookup's reference, and the one a per-CPU
		 * LRU batch holds until it puts the folio on the LRU.
		 */
		counts->page[i].pins = pins;
		counts->page[i].refs = folio_ref_count(folio) - 1 -
			(!folio_test_hugetlb(folio) && !folio_test_lru(folio)) -
			pins * (folio_has_pincount(folio) ? 1 :
				GUP_PIN_COUNTING_BIAS);
		folio_put(folio);
	}
	return counts;
}

/*
 * Each page's folio carries @pins[i] pins more than in @before, and no
 * other reference more or less.
 */
static void expect_pins(struct kunit *test, struct test_memfd *memfd,
			const struct folio_counts *before, const int *pins)
{
	struct folio_counts *now = folio_counts(test, memfd);
	u32 i;

	for (i = 0; i < now->nr; i++) {
		KUNIT_EXPECT_EQ_MSG(test, now->page[i].pins,
				    before->page[i].pins + (pins ? pins[i] : 0),
				    "pins of page %u", i);
		KUNIT_EXPECT_EQ_MSG(test, now->page[i].refs,
				    before->page[i].refs,
				    "other references of page %u", i);
	}
}

static void expect_unpinned(struct kunit *test, struct test_memfd *memfd,
			    const struct folio_counts *before)
{
	expect_pins(test, memfd, before, NULL);
}

/*
 * Compare two buffers and report only where they first differ: a failing
 * KUNIT_EXPECT_MEMEQ() on a whole buffer dumps every byte of it.
 */
static void expect_same_bytes(struct kunit *test, const u8 *got,
			      const u8 *want, size_t len)
{
	size_t i = 0;

	if (memcmp(got, want, len))
		while (got[i] == want[i])
			i++;
	else
		i = len;
	KUNIT_EXPECT_EQ_MSG(test, i, len, "first difference at page %zu byte %zu",
			    i >> PAGE_SHIFT, i & ~PAGE_MASK);
}

KUNIT_DEFINE_ACTION_WRAPPER(dma_buf_put_action, dma_buf_put, struct dma_buf *);

static struct dma_buf *create_ok(struct kunit *test,
				 const struct udmabuf_create_item *items,
				 u32 count)
{
	struct dma_buf *dmabuf = udmabuf_create_dmabuf(items, count);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dmabuf);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, dma_buf_put_action,
						  dmabuf));
	return dmabuf;
}

/*
 * A kthread's last fput() is deferred to a workqueue: run it now, so the
 * buffer is released before the test looks at the pins.
 */
static void put_now(struct kunit *test, struct dma_buf *dmabuf)
{
	kunit_release_action(test, dma_buf_put_action, dmabuf);
	udmabuf_test_release_files();
}

static void close_now(int fd)
{
	close_fd(fd);
	udmabuf_test_release_files();
}

static void expect_vmap_bytes(struct kunit *test, struct dma_buf *dmabuf,
			      const u8 *expected)
{
	struct iosys_map map;

	KUNIT_ASSERT_EQ(test, 0, dma_buf_vmap_unlocked(dmabuf, &map));
	KUNIT_EXPECT_FALSE(test, map.is_iomem);
	expect_same_bytes(test, map.vaddr, expected, dmabuf->size);
	dma_buf_vunmap_unlocked(dmabuf, &map);
}

/*
 * A buffer of @items, all of @memfd: while it lives page i of the file
 * carries @pins[i] pins more and the buffer reads as the file; once it is
 * released, every pin is gone.
 */
static void check_buffer(struct kunit *test, struct test_memfd *memfd,
			 const struct udmabuf_create_item *items, u32 count,
			 const int *pins)
{
	struct folio_counts *before = folio_counts(test, memfd);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct test_memfd **memfds;
	struct dma_buf *dmabuf;
	size_t size = 0;
	u32 i;

	memfds = kunit_kcalloc(test, count, sizeof(*memfds), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, memfds);
	for (i = 0; i < count; i++) {
		memfds[i] = memfd;
		size += items[i].size;
	}
	dmabuf = create_ok(test, items, count);
	KUNIT_EXPECT_EQ(test, dmabuf->size, size);
	expect_pins(test, memfd, before, pins);
	expect_vmap_bytes(test, dmabuf,
			  expected_bytes(test, memfds, items, count));
	put_now(test, dmabuf);
	expect_unpinned(test, memfd, before);
	udmabuf_test_expect_allocs(test, &allocs);
}

static void create_one_page_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 4);
	struct udmabuf_create_item item = item_of(memfd, 2, 1);
	const int pins[4] = { 0, 0, 1, 0 };

	check_buffer(test, memfd, &item, 1, pins);
}

static void create_whole_file_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 64);
	struct udmabuf_create_item item = item_of(memfd, 0, 64);
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
	struct test_memfd *memfd = sealed_memfd(test, 8);
	struct udmabuf_create_item items[] = {
		item_of(memfd, 0, 3), item_of(memfd, 2, 3), item_of(memfd, 2, 1),
		item_of(memfd, 7, 1), item_of(memfd, 0, 8),
	};
	const int pins[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };

	check_buffer(test, memfd, items, ARRAY_SIZE(items), pins);
}

/*
 * A list that names one page as often as list_limit allows (QEMU's lists
 * are one page per item): one pin, not one per item. Pinning it per item
 * drove a small folio's refcount past INT_MAX after 2,048 such buffers.
 */
static void create_list_one_page_many_times_test(struct kunit *test)
{
	u32 i, count = max(READ_ONCE(udmabuf_list_limit), 2);
	struct test_memfd *memfd = sealed_memfd(test, 2);
	struct udmabuf_create_item *items;
	const int pins[2] = { 0, 1 };

	items = kunit_kcalloc(test, count, sizeof(*items), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, items);
	for (i = 0; i < count; i++)
		items[i] = item_of(memfd, 1, 1);
	check_buffer(test, memfd, items, count, pins);
}

static void create_list_of_files_test(struct kunit *test)
{
	struct test_memfd *memfds[] = {
		sealed_memfd(test, 5), sealed_memfd(test, 3),
		sealed_memfd(test, 9),
	};
	struct folio_counts *before[3];
	struct udmabuf_create_item items[] = {
		item_of(memfds[0], 1, 4), item_of(memfds[1], 0, 3),
		item_of(memfds[2], 8, 1),
	};
	struct dma_buf *dmabuf;
	u32 i;

	for (i = 0; i < 3; i++)
		before[i] = folio_counts(test, memfds[i]);
	dmabuf = create_ok(test, items, 3);
	KUNIT_EXPECT_EQ(test, dmabuf->size, 8 * PAGE_SIZE);
	expect_vmap_bytes(test, dmabuf,
			  expected_bytes(test, memfds, items, 3));

	put_now(test, dmabuf);
	for (i = 0; i < 3; i++)
		expect_unpinned(test, memfds[i], before[i]);
}

/* The buffer keeps its pages when the memfd is gone. */
static void buffer_outlives_memfd_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 6);
	struct udmabuf_create_item item = item_of(memfd, 1, 5);
	u8 *expected = expected_bytes(test, &memfd, &item, 1);
	struct dma_buf *dmabuf;

	dmabuf = create_ok(test, &item, 1);
	kunit_release_action(test, test_memfd_close, memfd);
	expect_vmap_bytes(test, dmabuf, expected);
}

/*
 * Seals through the kernel's own F_ADD_SEALS, as on a memfd made with
 * MFD_ALLOW_SEALING: while a buffer pins the memfd's pages, F_SEAL_WRITE
 * fails with EBUSY; once the buffer is gone it succeeds, and then the
 * memfd is refused.
 */
static void write_seal_refused_while_pinned_test(struct kunit *test)
{
	struct test_memfd *memfd = test_memfd(test, 4, 0);
	struct udmabuf_create_item item = item_of(memfd, 1, 2);
	struct dma_buf *dmabuf;

	/* memfd_create(MFD_ALLOW_SEALING) lifts F_SEAL_SEAL, nothing else. */
	SHMEM_I(file_inode(memfd->file))->seals &= ~F_SEAL_SEAL;
	KUNIT_EXPECT_EQ(test, -EINVAL,
			PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(&item, 1)));
	KUNIT_ASSERT_EQ(test, 0, memfd_fcntl(memfd->file, F_ADD_SEALS,
					     F_SEAL_SHRINK | F_SEAL_GROW));
	dmabuf = create_ok(test, &item, 1);

	KUNIT_EXPECT_EQ(test, -EBUSY, memfd_fcntl(memfd->file, F_ADD_SEALS,
						  F_SEAL_WRITE));
	put_now(test, dmabuf);
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
	struct test_memfd *memfd = sealed_memfd(test, 4);
	struct udmabuf_create_item item = item_of(memfd, 0, 4);
	u8 *expected = expected_bytes(test, &memfd, &item, 1);
	struct folio *folios[4];
	struct dma_buf *dmabuf;
	loff_t pos = PAGE_SIZE;
	u8 *back;
	u32 i;

	back = kunit_kmalloc(test, 2 * PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, back);
	dmabuf = create_ok(test, &item, 1);
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
	expect_vmap_bytes(test, dmabuf, expected);

	put_now(test, dmabuf);
	for (i = 0; i < 4; i++) {
		KUNIT_EXPECT_EQ_MSG(test, folio_pins(folios[i]), 0, "page %u", i);
		KUNIT_EXPECT_FALSE(test, folio_maybe_dma_pinned(folios[i]));
		folio_put(folios[i]);
	}
}

struct saved_param {
	int *param;
	int value;
};

static void restore_param(void *ctx)
{
	struct saved_param *saved = ctx;

	WRITE_ONCE(*saved->param, saved->value);
}

/* Set a module parameter for the rest of the test. */
static void set_param(struct kunit *test, int *param, int value)
{
	struct saved_param *saved = kunit_kzalloc(test, sizeof(*saved),
						  GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, saved);
	saved->param = param;
	saved->value = READ_ONCE(*param);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, restore_param, saved));
	WRITE_ONCE(*param, value);
}

/*
 * Tests unmap what they map: the mm kunit_vm_mmap() attaches goes with
 * the test's thread, possibly once the next test has begun, and would
 * release a buffer in the middle of that test's accounting.
 */
static unsigned long map_buffer(struct kunit *test, struct dma_buf *dmabuf,
				unsigned long len, unsigned long flags,
				unsigned long pgoff)
{
	return kunit_vm_mmap(test, dmabuf->file, 0, len,
			     PROT_READ | PROT_WRITE, flags,
			     pgoff << PAGE_SHIFT);
}

/* A buffer of a whole fresh memfd, mapped shared and not yet faulted. */
struct mapped_buffer {
	struct test_memfd *memfd;
	struct udmabuf_create_item item;
	struct dma_buf *dmabuf;
	u8 *expected;		/* what it reads as */
	unsigned long addr;
};

static void map_whole_memfd(struct kunit *test, u32 nr,
			    struct mapped_buffer *mb)
{
	mb->memfd = sealed_memfd(test, nr);
	mb->item = item_of(mb->memfd, 0, nr);
	mb->expected = expected_bytes(test, &mb->memfd, &mb->item, 1);
	mb->dmabuf = create_ok(test, &mb->item, 1);
	mb->addr = map_buffer(test, mb->dmabuf, mb->dmabuf->size, MAP_SHARED,
			      0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(mb->addr));
}

/* Read every page through a shared mapping: one fault for all of them. */
static void mmap_reads_all_pages_in_one_fault_test(struct kunit *test)
{
	const u32 nr = 64;
	struct mapped_buffer mb;
	unsigned long faults;
	u8 *got;
	u32 i;

	got = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, got);
	map_whole_memfd(test, nr, &mb);

	faults = current->min_flt + current->maj_flt;
	for (i = 0; i < nr; i++) {
		KUNIT_ASSERT_EQ(test, 0,
				copy_from_user(got, (void __user *)mb.addr +
					       i * PAGE_SIZE, PAGE_SIZE));
		expect_same_bytes(test, got, mb.expected + i * PAGE_SIZE,
				  PAGE_SIZE);
	}
	KUNIT_EXPECT_EQ(test, current->min_flt + current->maj_flt - faults, 1);
	vm_munmap(mb.addr, mb.dmabuf->size);
}

/* A mapping at an offset shows the pages from there on. */
static void mmap_at_offset_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 10);
	struct udmabuf_create_item item = item_of(memfd, 0, 10);
	u8 *expected = expected_bytes(test, &memfd, &item, 1);
	struct dma_buf *dmabuf = create_ok(test, &item, 1);
	unsigned long addr;
	u8 *got;

	got = kunit_kmalloc(test, 4 * PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, got);
	addr = map_buffer(test, dmabuf, 4 * PAGE_SIZE, MAP_SHARED, 5);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)addr,
						4 * PAGE_SIZE));
	expect_same_bytes(test, got, expected + 5 * PAGE_SIZE, 4 * PAGE_SIZE);
	vm_munmap(addr, 4 * PAGE_SIZE);

	/* Past the end of the buffer: refused by the dma-buf core. */
	addr = map_buffer(test, dmabuf, 4 * PAGE_SIZE, MAP_SHARED, 7);
	KUNIT_EXPECT_EQ(test, (long)addr, -EINVAL);
}

/* Bytes written through the mapping land in the memfd. */
static void mmap_writes_reach_memfd_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 4);
	struct udmabuf_create_item item = item_of(memfd, 1, 2);
	struct dma_buf *dmabuf = create_ok(test, &item, 1);
	unsigned long addr;
	loff_t pos = PAGE_SIZE;
	u8 *data, *back;

	data = kunit_kmalloc(test, 2 * PAGE_SIZE, GFP_KERNEL);
	back = kunit_kzalloc(test, 2 * PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, data);
	KUNIT_ASSERT_NOT_NULL(test, back);
	get_random_bytes(data, 2 * PAGE_SIZE);

	addr = map_buffer(test, dmabuf, dmabuf->size, MAP_SHARED, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_EQ(test, 0, copy_to_user((void __user *)addr, data,
					      2 * PAGE_SIZE));
	KUNIT_ASSERT_EQ(test, kernel_read(memfd->file, back, 2 * PAGE_SIZE,
					  &pos), (ssize_t)(2 * PAGE_SIZE));
	expect_same_bytes(test, back, data, 2 * PAGE_SIZE);
	vm_munmap(addr, dmabuf->size);
}

static void mmap_private_refused_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 2);
	struct udmabuf_create_item item = item_of(memfd, 0, 2);
	struct dma_buf *dmabuf = create_ok(test, &item, 1);
	unsigned long addr;

	addr = map_buffer(test, dmabuf, dmabuf->size, MAP_PRIVATE, 0);
	KUNIT_EXPECT_EQ(test, (long)addr, -EINVAL);
}

/*
 * Call the fault handler of the VMA at @addr as the fault path does, for
 * the page at @addr, with the PMD entry the core would have found when
 * @with_pmd (its PUD must be there). VM_FAULT_SIGBUS without a VMA.
 */
static vm_fault_t driver_fault(unsigned long addr, bool with_pmd)
{
	struct mm_struct *mm = current->mm;
	vm_fault_t ret = VM_FAULT_SIGBUS;
	struct vm_area_struct *vma;
	pmd_t *pmd = NULL;
	pud_t *pud;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (vma && with_pmd) {
		pud = pud_offset(p4d_offset(pgd_offset(mm, addr), addr), addr);
		if (pud_present(READ_ONCE(*pud)))
			pmd = pmd_offset(pud, addr);
	}
	if (vma && (!with_pmd || pmd))
		ret = vma->vm_ops->fault(&(struct vm_fault) {
			.vma = vma,
			.address = addr & PAGE_MASK,
			.real_address = addr,
			.pgoff = vma->vm_pgoff +
				 ((addr - vma->vm_start) >> PAGE_SHIFT),
			.flags = FAULT_FLAG_DEFAULT,
			.pmd = pmd,
		});
	mmap_read_unlock(mm);
	return ret;
}

/*
 * driver_fault() without the PMD entry. Not through a user access: UML's
 * uaccess retries a fault that ran out of memory as if it had worked, and
 * oopses on the missing page table. Returns 0 for a page mapped, -ENOMEM
 * for VM_FAULT_OOM, -EFAULT for VM_FAULT_SIGBUS, -EIO for anything else.
 */
static int call_fault(unsigned long addr)
{
	vm_fault_t ret = driver_fault(addr, false);

	if (ret == VM_FAULT_NOPAGE)
		return 0;
	if (ret == VM_FAULT_OOM)
		return -ENOMEM;
	return ret == VM_FAULT_SIGBUS ? -EFAULT : -EIO;
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
 * The faulting page is mapped first; the rest is a best effort. With the
 * VMA's first page failing to map, a fault on page 700 still succeeds
 * and the prefault stops; the next access faults once more and maps the
 * rest: every byte reads right, in two faults for 1,024 pages.
 */
static void fault_maps_faulting_page_first_test(struct kunit *test)
{
	struct mapped_buffer mb;
	unsigned long faults;
	u8 *got;

	map_whole_memfd(test, 1024, &mb);
	got = test_kvmalloc(test, mb.dmabuf->size);
	insert_fail_addr = mb.addr;
	kunit_activate_static_stub(test, udmabuf_insert_ptes,
				   insert_ptes_fail_at_addr);
	KUNIT_EXPECT_EQ(test, 0, call_fault(mb.addr + 700 * PAGE_SIZE));
	kunit_deactivate_static_stub(test, udmabuf_insert_ptes);

	/* Page 700 needs no fault; page 0 and the rest one more. */
	faults = current->min_flt + current->maj_flt;
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)mb.addr +
						700 * PAGE_SIZE, PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, current->min_flt + current->maj_flt, faults);
	expect_same_bytes(test, got, mb.expected + 700 * PAGE_SIZE, PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)mb.addr,
						mb.dmabuf->size));
	KUNIT_EXPECT_EQ(test, current->min_flt + current->maj_flt - faults, 1);
	expect_same_bytes(test, got, mb.expected, mb.dmabuf->size);
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

	faults = current->min_flt + current->maj_flt;
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)mb.addr,
						2 * PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, current->min_flt + current->maj_flt, faults);
	expect_same_bytes(test, got, mb.expected, 2 * PAGE_SIZE);
	vm_munmap(mb.addr, mb.dmabuf->size);
}

/* Make signal @sig pending for the test's thread, as a kill() would. */
static void raise_signal(int sig)
{
	unsigned long flags;

	lock_task_sighand(current, &flags);
	sigaddset(&current->pending.signal, sig);
	set_tsk_thread_flag(current, TIF_SIGPENDING);
	unlock_task_sighand(current, &flags);
}

static void raise_fatal_signal(void)
{
	raise_signal(SIGKILL);
}

/*
 * A fatal signal (the OOM killer's, say, while pinning a huge sparse
 * memfd) ends a create before its next pin batch, with nothing left
 * pinned, and ends a prefault after its first run: the faulting page is
 * mapped, the rest faults later.
 */
static void fatal_signal_stops_pin_and_prefault_test(struct kunit *test)
{
	struct folio_counts *before;
	struct mapped_buffer mb;
	unsigned long faults;
	int err, ret;
	u8 *got;

	map_whole_memfd(test, 1024, &mb);
	before = folio_counts(test, mb.memfd);
	got = test_kvmalloc(test, mb.dmabuf->size);

	raise_fatal_signal();
	err = PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(&mb.item, 1));
	ret = call_fault(mb.addr);
	flush_signals(current);
	KUNIT_EXPECT_EQ(test, err, -EINTR);
	KUNIT_EXPECT_EQ(test, ret, 0);

	faults = current->min_flt + current->maj_flt;
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)mb.addr,
						mb.dmabuf->size));
	KUNIT_EXPECT_EQ(test, current->min_flt + current->maj_flt - faults, 1);
	expect_same_bytes(test, got, mb.expected, mb.dmabuf->size);
	vm_munmap(mb.addr, mb.dmabuf->size);
	expect_unpinned(test, mb.memfd, before);
}

/*
 * A VMA that reaches past the buffer cannot be made through the dma-buf
 * core; if one were, its fault gets SIGBUS (and a warning), never a frame
 * past the end. The test prints where the expected warning starts and
 * ends, for the log checkers to leave it out.
 */
static void fault_past_buffer_end_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 4);
	struct udmabuf_create_item item = item_of(memfd, 0, 4);
	struct dma_buf *dmabuf = create_ok(test, &item, 1);
	struct vm_area_struct *vma;
	unsigned long addr;
	int ret;

	addr = map_buffer(test, dmabuf, 2 * PAGE_SIZE, MAP_SHARED, 2);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	mmap_write_lock(current->mm);
	vma = vma_lookup(current->mm, addr);
	if (vma)
		vma->vm_pgoff = 3;
	mmap_write_unlock(current->mm);
	KUNIT_ASSERT_NOT_NULL(test, vma);

	pr_info("udmabuf-test: expected warning begins\n");
	ret = call_fault(addr);
	pr_info("udmabuf-test: expected warning ends\n");
	KUNIT_EXPECT_EQ(test, ret, -EFAULT);
	vm_munmap(addr, 2 * PAGE_SIZE);
}

/* The frame behind each page of @items, read from the page cache. */
static unsigned long *expected_pfns(struct kunit *test,
				    struct test_memfd *memfd,
				    const struct udmabuf_create_item *items,
				    u32 count, u32 nr_pages)
{
	unsigned long *pfns;
	u32 i, n = 0;
	pgoff_t page;

	pfns = kunit_kcalloc(test, nr_pages, sizeof(*pfns), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pfns);
	for (i = 0; i < count; i++) {
		for (page = items[i].offset >> PAGE_SHIFT;
		     page < (items[i].offset + items[i].size) >> PAGE_SHIFT;
		     page++) {
			struct folio *folio;

			folio = filemap_get_folio(memfd->file->f_mapping, page);
			KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
			pfns[n++] = folio_pfn(folio) + page - folio->index;
			folio_put(folio);
		}
	}
	KUNIT_ASSERT_EQ(test, n, nr_pages);
	return pfns;
}

/*
 * A device of its own for each importer, with a 64-bit DMA mask and the
 * given segment limits; skip where there is no DMA API.
 */
static struct device *importer_device(struct kunit *test,
				      unsigned int max_segment,
				      unsigned long boundary_mask)
{
	static atomic_t importers = ATOMIC_INIT(0);
	struct device_dma_parameters *parms;
	struct device *dev;
	char *name;

	name = kunit_kzalloc(test, 32, GFP_KERNEL);
	parms = kunit_kzalloc(test, sizeof(*parms), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, name);
	KUNIT_ASSERT_NOT_NULL(test, parms);
	snprintf(name, 32, "udmabuf-importer-%d", atomic_inc_return(&importers));
	dev = kunit_device_register(test, name);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	dev->dma_parms = parms;
	dma_set_max_seg_size(dev, max_segment);
	dma_set_seg_boundary(dev, boundary_mask);
	if (dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(64)))
		kunit_skip(test, "no DMA API here (NO_DMA)");
	return dev;
}

/*
 * Attach an importer that takes segments of any length, as GPUs declare
 * theirs: what it maps shows how far the driver coalesces.
 */
static struct dma_buf_attachment *attach_importer(struct kunit *test,
						  struct dma_buf *dmabuf)
{
	struct dma_buf_attachment *attach;

	attach = dma_buf_attach(dmabuf, importer_device(test, UINT_MAX,
							ULONG_MAX));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	return attach;
}

/*
 * The page of an importer's sg entry. Under CONFIG_DMABUF_DEBUG the dma-buf
 * core scrambles the page links it hands importers (to catch those that
 * use them) and keeps the low flag bits: undo that, as its unmap does.
 */
static struct page *importer_sg_page(struct scatterlist *sg)
{
	struct scatterlist plain = *sg;

	if (IS_ENABLED(CONFIG_DMABUF_DEBUG))
		plain.page_link ^= ~0xffUL;
	return sg_page(&plain);
}

/*
 * Whether @dev's DMA addresses are physical addresses (with its bus's
 * offset), not IOMMU addresses: no IOMMU and no DMA ops in between. Under
 * swiotlb=force they lead to bounce copies, which the map fills with the
 * buffer's bytes but which are not its frames.
 */
static bool dma_is_direct(struct device *dev)
{
	return !get_dma_ops(dev) && !use_dma_iommu(dev);
}

/*
 * What a device reads through the DMA segments of @sgt, mapped for @dev:
 * page after page, the frames in @pfns (unless bounced) holding @bytes.
 * Both are found without the driver: the frames in the files' page
 * cache, the bytes from the files' patterns. EXPECTs only: this also
 * runs inside the driver's map (see dma_map_checking()).
 */
static void expect_dma_view(struct kunit *test, struct device *dev,
			    struct sg_table *sgt, const unsigned long *pfns,
			    const u8 *bytes, u32 nr_pages)
{
	bool bounced = is_swiotlb_force_bounce(dev);
	struct scatterlist *sg;
	u32 page = 0, k;
	unsigned int i;

	if (!dma_is_direct(dev)) {
		kunit_info(test, "DMA addresses not physical: not followed\n");
		return;
	}
	for_each_sgtable_dma_sg(sgt, sg, i) {
		KUNIT_EXPECT_EQ_MSG(test, sg_dma_len(sg) & ~PAGE_MASK, 0,
				    "length of DMA segment %u", i);
		for (k = 0; k < sg_dma_len(sg) >> PAGE_SHIFT; k++, page++) {
			phys_addr_t phys = dma_to_phys(dev, sg_dma_address(sg) +
						       PG(k));
			unsigned long pfn = PHYS_PFN(phys);
			const u8 *want = bytes + PG(page);
			size_t at;
			u8 *got;

			if (page >= nr_pages || offset_in_page(phys) ||
			    !pfn_valid(pfn)) {
				KUNIT_FAIL(test, "DMA page %u: %pa, past the buffer or no page",
					   page, &phys);
				return;
			}
			if (!bounced)
				KUNIT_EXPECT_EQ_MSG(test, pfn, pfns[page],
						    "frame of DMA page %u", page);
			got = kmap_local_pfn(pfn);
			for (at = 0; at < PAGE_SIZE && got[at] == want[at]; at++)
				;
			kunmap_local(got);
			if (at < PAGE_SIZE) {
				KUNIT_FAIL(test, "DMA page %u byte %zu differs from the file's",
					   page, at);
				return;
			}
		}
	}
	KUNIT_EXPECT_EQ_MSG(test, page, nr_pages, "pages the DMA segments cover");
}

/*
 * Map @dmabuf for an importer: each sg entry must be a maximal run of the
 * frames in @pfns that follow each other, and together cover the buffer;
 * its DMA segments lead to the same frames, holding @bytes.
 */
static void expect_attachment_runs(struct kunit *test, struct dma_buf *dmabuf,
				   const unsigned long *pfns, const u8 *bytes,
				   u32 nr_pages)
{
	struct dma_buf_attachment *attach = attach_importer(test, dmabuf);
	long mappings = udmabuf_test_dma_mappings();
	struct scatterlist *sg;
	struct sg_table *sgt;
	u32 page = 0, len;
	unsigned int i;

	sgt = dma_buf_map_attachment_unlocked(attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt)) {
		dma_buf_detach(dmabuf, attach);
		kunit_skip(test, "dma_map_sgtable() fails here: %ld",
			   PTR_ERR(sgt));
	}

	for_each_sgtable_sg(sgt, sg, i) {
		KUNIT_ASSERT_LT(test, page, nr_pages);
		KUNIT_EXPECT_EQ(test, page_to_pfn(importer_sg_page(sg)),
				pfns[page]);
		KUNIT_EXPECT_EQ(test, sg->offset, 0);
		for (len = 1; page + len < nr_pages; len++)
			if (pfns[page + len] != pfns[page + len - 1] + 1)
				break;
		KUNIT_EXPECT_EQ_MSG(test, sg->length, len * PAGE_SIZE,
				    "entry %u", i);
		page += len;
	}
	KUNIT_EXPECT_EQ(test, page, nr_pages);
	expect_dma_view(test, attach->dev, sgt, pfns, bytes, nr_pages);
	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_BIDIRECTIONAL);
	dma_buf_detach(dmabuf, attach);
	/*
	 * The core keeps the mapping until detach (cache_sgt_mapping); then
	 * its DMA mappings end (where the debugger counts them).
	 */
	if (mappings >= 0)
		KUNIT_EXPECT_EQ(test, udmabuf_test_dma_mappings(), mappings);
}

/* vmap shows every page at its own frame. */
static void expect_vmap_pfns(struct kunit *test, struct dma_buf *dmabuf,
			     const unsigned long *pfns)
{
	struct iosys_map map;
	size_t i;

	KUNIT_ASSERT_EQ(test, 0, dma_buf_vmap_unlocked(dmabuf, &map));
	for (i = 0; i < dmabuf->size >> PAGE_SHIFT; i++)
		KUNIT_EXPECT_EQ_MSG(test,
				    vmalloc_to_pfn(map.vaddr + i * PAGE_SIZE),
				    pfns[i], "page %zu", i);
	dma_buf_vunmap_unlocked(dmabuf, &map);
}

/* vmap maps each page by its own frame, not its folio's head page. */
static void vmap_maps_every_pfn_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 12);
	struct udmabuf_create_item items[] = {
		item_of(memfd, 3, 6), item_of(memfd, 0, 2),
	};

	expect_vmap_pfns(test, create_ok(test, items, 2),
			 expected_pfns(test, memfd, items, 2, 8));
}

/*
 * An importer's sg table and DMA segments: the frames of the file's page
 * cache, holding the file's bytes, in buffer order.
 */
static void map_attachment_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 16);
	struct test_memfd *memfds[] = { memfd, memfd };
	struct udmabuf_create_item items[] = {
		item_of(memfd, 0, 16), item_of(memfd, 4, 4),
	};
	unsigned long *pfns = expected_pfns(test, memfd, items, 2, 20);

	expect_attachment_runs(test, create_ok(test, items, 2), pfns,
			       expected_bytes(test, memfds, items, 2), 20);
}

/* Bytes the driver keeps for @dmabuf: the buffer and its slice array. */
static size_t driver_bytes(struct dma_buf *dmabuf)
{
	struct udmabuf *ubuf = dmabuf->priv;
	const void *slice = ubuf->slices.slice;

	return ksize(ubuf) + (is_vmalloc_addr(slice) ?
		PAGE_ALIGN(ubuf->slices.capacity * sizeof(struct udmabuf_slice)) :
		ksize(slice));
}

#define HUGE_PAGES	(SZ_2M >> PAGE_SHIFT)

KUNIT_DEFINE_ACTION_WRAPPER(kern_unmount_action, kern_unmount,
			    struct vfsmount *);

/*
 * Items that start and end inside 2 MiB folios: the buffer pins each
 * folio the items touch once, vmap and mmap see every page at its own frame,
 * sg entries span whole contiguous runs, and release drops every pin.
 */
static void check_huge_buffer(struct kunit *test, struct test_memfd *memfd,
			      const struct udmabuf_create_item *items, u32 count)
{
	struct test_memfd *memfds[4] = { memfd, memfd, memfd, memfd };
	struct folio_counts *before = folio_counts(test, memfd);
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
	pfns = expected_pfns(test, memfd, items, count, nr_pages);

	dmabuf = create_ok(test, items, count);
	slice_bytes = driver_bytes(dmabuf) - ksize(dmabuf->priv);
	kunit_info(test, "2 MiB folios: %u pages, %zu bytes of slices (%zu.%03zu bytes/page) + %zu fixed\n",
		   nr_pages, slice_bytes, slice_bytes / nr_pages,
		   slice_bytes * 1000 / nr_pages % 1000, ksize(dmabuf->priv));
	KUNIT_EXPECT_LE(test, slice_bytes * 10, (size_t)nr_pages);
	expect_pins(test, memfd, before, pins);
	bytes = expected_bytes(test, memfds, items, count);
	expect_vmap_bytes(test, dmabuf, bytes);
	expect_vmap_pfns(test, dmabuf, pfns);
	expect_attachment_runs(test, dmabuf, pfns, bytes, nr_pages);
	put_now(test, dmabuf);
	expect_unpinned(test, memfd, before);
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

/*
 * A sealed shmem memfd of @nr_huge 2 MiB folios, from a tmpfs mounted
 * huge=always, filled with its pattern; skips the test where the kernel
 * has no THP or shmem gives smaller folios.
 */
static struct test_memfd *thp_memfd(struct kunit *test, u32 nr_huge)
{
	struct file_system_type *tmpfs;
	struct test_memfd *memfd;
	struct vfsmount *mnt;
	struct folio *folio;
	char *opts;
	u32 i;

	if (!IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE))
		kunit_skip(test, "no transparent hugepages in this kernel");
	tmpfs = get_fs_type("tmpfs");
	opts = kunit_kstrdup(test, "huge=always", GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, tmpfs);
	KUNIT_ASSERT_NOT_NULL(test, opts);
	mnt = vfs_kern_mount(tmpfs, SB_KERNMOUNT, tmpfs->name, opts);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mnt);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, kern_unmount_action,
						  mnt));

	memfd = install_memfd(test,
			      shmem_file_setup_with_mnt(mnt, "udmabuf-kunit-thp",
							nr_huge * SZ_2M, 0),
			      nr_huge * HUGE_PAGES);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, memfd);
	fill_and_seal(test, memfd, F_SEAL_SHRINK);
	for (i = 0; i < nr_huge; i++) {
		folio = filemap_get_folio(memfd->file->f_mapping,
					  i * HUGE_PAGES);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
		if (folio_nr_pages(folio) != HUGE_PAGES) {
			folio_put(folio);
			kunit_skip(test, "shmem gave no 2 MiB folio");
		}
		folio_put(folio);
	}
	return memfd;
}

/* shmem with transparent huge folios. */
static void thp_items_inside_huge_folios_test(struct kunit *test)
{
	struct udmabuf_create_item items[ARRAY_SIZE(huge_items)];
	struct test_memfd *memfd = thp_memfd(test, 4);

	set_huge_items(items, memfd->fd);
	check_huge_buffer(test, memfd, items, ARRAY_SIZE(items));
}

#if IS_ENABLED(CONFIG_HUGETLBFS)
/*
 * A sealed hugetlb file of @size bytes in pages of 1 << @page_shift bytes
 * (0: the default, 2 MiB), nothing written yet.
 */
static struct test_memfd *hugetlb_memfd_of(struct kunit *test,
					   size_t size, int page_shift)
{
	struct test_memfd *memfd;
	struct file *file;

	file = hugetlb_file_setup("udmabuf-kunit-hugetlb", size, VM_NORESERVE,
				  HUGETLB_ANONHUGE_INODE, page_shift);
	if (IS_ERR(file))
		kunit_skip(test, "no hugetlb file: %ld", PTR_ERR(file));
	memfd = install_memfd(test, file, size >> PAGE_SHIFT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, memfd);
	HUGETLBFS_I(file_inode(file))->seals = F_SEAL_SHRINK;
	return memfd;
}

/* The same of @nr_huge 2 MiB pages. */
static struct test_memfd *hugetlb_memfd(struct kunit *test, u32 nr_huge)
{
	return hugetlb_memfd_of(test, nr_huge * SZ_2M, 0);
}
#endif

#if IS_ENABLED(CONFIG_HUGETLBFS)
/*
 * A sealed hugetlb memfd of @nr_huge 2 MiB folios, filled with its
 * pattern; skips the test when the pool has too few free pages.
 */
static struct test_memfd *filled_hugetlb_memfd(struct kunit *test,
					       u32 nr_huge)
{
	struct test_memfd *memfd = hugetlb_memfd(test, nr_huge);
	struct file *file = memfd->file;
	struct udmabuf_create_item whole;
	struct dma_buf *warm;
	u32 i;

	/* hugetlbfs has no write(): pin once to allocate, fill directly. */
	whole = item_of(memfd, 0, memfd->nr_pages);
	warm = udmabuf_create_dmabuf(&whole, 1);
	if (IS_ERR(warm))
		kunit_skip(test, "no free hugetlb pages: %ld", PTR_ERR(warm));
	for (i = 0; i < nr_huge; i++) {
		struct folio *folio;

		folio = filemap_get_folio(file->f_mapping, i * HUGE_PAGES);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
		KUNIT_EXPECT_TRUE(test, folio_test_hugetlb(folio));
		fill_pattern(folio_address(folio), memfd->seed,
			     (loff_t)i * SZ_2M, SZ_2M);
		folio_put(folio);
	}
	dma_buf_put(warm);
	udmabuf_test_release_files();
	return memfd;
}
#endif

/*
 * hugetlb folios, with the vmemmap optimisation on where the kernel has
 * it: their tail struct pages are shared, read-only copies.
 */
static void hugetlb_items_inside_huge_folios_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_create_item items[ARRAY_SIZE(huge_items)];
	struct test_memfd *memfd = filled_hugetlb_memfd(test, 4);

	set_huge_items(items, memfd->fd);
	check_huge_buffer(test, memfd, items, ARRAY_SIZE(items));
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

/*
 * A buffer over a hugetlb memfd nothing has written yet: 6.12's
 * memfd_pin_folios() would allocate its folios against a reservation
 * nobody made, and the reservation count would wrap below zero (a
 * VM_BUG_ON with DEBUG_VM). The driver fills the holes through hugetlbfs
 * first: the counts come back to where they were, and the buffer reads
 * as zeros.
 */
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

static void hugetlb_unpopulated_memfd_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	unsigned long resv, free_pages, now;
	struct udmabuf_create_item item;
	struct test_memfd *memfd;
	struct dma_buf *dmabuf;
	struct hstate *h;
	u8 *zeros;

	memfd = hugetlb_memfd(test, 2);
	h = hstate_file(memfd->file);
	free_pages = hugetlb_free_settled(h);
	resv = READ_ONCE(h->resv_huge_pages);
	if (free_pages - resv < 2)
		kunit_skip(test, "fewer than 2 free hugetlb pages");

	item = item_of(memfd, HUGE_PAGES - 8, 16);
	dmabuf = create_ok(test, &item, 1);
	now = READ_ONCE(h->resv_huge_pages);
	KUNIT_EXPECT_EQ(test, now, resv);
	now = READ_ONCE(h->free_huge_pages);
	KUNIT_EXPECT_EQ(test, now, free_pages - 2);
	zeros = kunit_kzalloc(test, dmabuf->size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, zeros);
	expect_vmap_bytes(test, dmabuf, zeros);
	put_now(test, dmabuf);
	kunit_release_action(test, test_memfd_close, memfd);
	now = hugetlb_free_settled(h);
	KUNIT_EXPECT_EQ(test, now, free_pages);
	now = READ_ONCE(h->resv_huge_pages);
	KUNIT_EXPECT_EQ(test, now, resv);
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

/*
 * The holes filled are the item's: an item that ends on a folio boundary
 * of an empty hugetlb memfd allocates that one folio, not the next.
 */
static void hugetlb_fill_stops_at_the_item_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	struct test_memfd *memfd = hugetlb_memfd(test, 2);
	struct hstate *h = hstate_file(memfd->file);
	struct udmabuf_create_item item = item_of(memfd, 0, HUGE_PAGES);
	unsigned long free_pages = hugetlb_free_settled(h);

	if (free_pages < 2)
		kunit_skip(test, "fewer than 2 free hugetlb pages");
	create_ok(test, &item, 1);
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
	struct test_memfd *memfd;
	unsigned long free_pages;
	struct dma_buf *dmabuf;
	struct hstate *h;
	u32 nr_huge;

	memfd = hugetlb_memfd(test, 1);
	h = hstate_file(memfd->file);
	free_pages = hugetlb_free_settled(h) - READ_ONCE(h->resv_huge_pages);
	nr_huge = free_pages + 1;
	if ((u64)nr_huge * SZ_2M > (u64)READ_ONCE(udmabuf_size_limit_mb) * SZ_1M)
		kunit_skip(test, "more free hugetlb pages than size_limit_mb");
	memfd = hugetlb_memfd(test, nr_huge);
	items[0] = item_of(memfd, 0, 1);
	items[0].memfd = -1;
	items[1] = item_of(memfd, 0, nr_huge * HUGE_PAGES);

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
	struct test_memfd *memfd;
	struct dma_buf *dmabuf;
	unsigned long free_pages;
	struct hstate *h;
	bool pending;

	memfd = hugetlb_memfd(test, 2);
	h = hstate_file(memfd->file);
	udmabuf_test_release_files();
	free_pages = READ_ONCE(h->free_huge_pages) -
		     READ_ONCE(h->resv_huge_pages);
	if (free_pages < 2)
		kunit_skip(test, "fewer than 2 free hugetlb pages");
	item = item_of(memfd, 0, 2 * HUGE_PAGES);

	raise_signal(SIGUSR1);
	dmabuf = udmabuf_create_dmabuf(&item, 1);
	pending = signal_pending(current);
	flush_signals(current);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), -ERESTARTNOINTR);
	KUNIT_EXPECT_TRUE(test, pending);
	udmabuf_test_expect_allocs(test, &allocs);

	raise_fatal_signal();
	dmabuf = udmabuf_create_dmabuf(&item, 1);
	flush_signals(current);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(dmabuf), -EINTR);
	udmabuf_test_expect_allocs(test, &allocs);

	/* Handled, the signal is gone: the restarted create fills and pins. */
	dmabuf = create_ok(test, &item, 1);
	KUNIT_EXPECT_EQ(test, dmabuf->size, SZ_4M);
	put_now(test, dmabuf);
	udmabuf_test_expect_allocs(test, &allocs);
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

#ifdef CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP
/* What maps a user address: nothing, a PTE, or a PMD or PUD leaf. */
enum map_level { MAPPED_NONE, MAPPED_PTE, MAPPED_PMD, MAPPED_PUD };

/*
 * The entry that maps @addr in the test's mm, the frame it shows, and
 * whether it is dirty.
 */
static enum map_level mapping_dirty_at(unsigned long addr, unsigned long *pfn,
				       bool *dirty)
{
	struct mm_struct *mm = current->mm;
	enum map_level level = MAPPED_NONE;
	pud_t *pud, pud_entry;
	pmd_t *pmd, pmd_entry;
	pgd_t *pgd;
	p4d_t *p4d;
	pte_t *pte;

	mmap_read_lock(mm);
	pgd = pgd_offset(mm, addr);
	if (pgd_none(READ_ONCE(*pgd)))
		goto out;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(READ_ONCE(*p4d)))
		goto out;
	pud = pud_offset(p4d, addr);
	pud_entry = READ_ONCE(*pud);
	if (pud_leaf(pud_entry)) {
		*pfn = pud_pfn(pud_entry) + ((addr & ~PUD_MASK) >> PAGE_SHIFT);
		*dirty = pud_dirty(pud_entry);
		level = MAPPED_PUD;
		goto out;
	}
	if (!pud_present(pud_entry))
		goto out;
	pmd = pmd_offset(pud, addr);
	pmd_entry = pmdp_get_lockless(pmd);
	if (pmd_leaf(pmd_entry)) {
		*pfn = pmd_pfn(pmd_entry) + ((addr & ~PMD_MASK) >> PAGE_SHIFT);
		*dirty = pmd_dirty(pmd_entry);
		level = MAPPED_PMD;
		goto out;
	}
	pte = pte_offset_map(pmd, addr);
	if (pte) {
		pte_t entry = ptep_get(pte);

		pte_unmap(pte);
		if (pte_present(entry)) {
			*pfn = pte_pfn(entry);
			*dirty = pte_dirty(entry);
			level = MAPPED_PTE;
		}
	}
out:
	mmap_read_unlock(mm);
	return level;
}

static enum map_level mapping_at(unsigned long addr, unsigned long *pfn)
{
	bool dirty;

	return mapping_dirty_at(addr, pfn, &dirty);
}

/*
 * Walk @nr_pages pages from @addr: each must show @pfns[i], through a PMD
 * leaf for pages @first_pmd to @end_pmd - 1 and a PTE for the others.
 */
static void expect_mapping(struct kunit *test, unsigned long addr,
			   const unsigned long *pfns, u32 nr_pages,
			   u32 first_pmd, u32 end_pmd)
{
	u32 i, pmd_pages = 0, pte_pages = 0, wrong = 0;

	for (i = 0; i < nr_pages; i++) {
		bool want_pmd = i >= first_pmd && i < end_pmd;
		unsigned long pfn = 0;
		enum map_level level = mapping_at(addr + i * PAGE_SIZE, &pfn);

		pmd_pages += level == MAPPED_PMD;
		pte_pages += level == MAPPED_PTE;
		if (pfn == pfns[i] &&
		    level == (want_pmd ? MAPPED_PMD : MAPPED_PTE))
			continue;
		if (!wrong++)
			kunit_err(test, "page %u: level %d pfn %#lx, want %s pfn %#lx\n",
				  i, level, pfn, want_pmd ? "pmd" : "pte",
				  pfns[i]);
	}
	KUNIT_EXPECT_EQ(test, wrong, 0);
	KUNIT_EXPECT_EQ(test, pmd_pages, end_pmd - first_pmd);
	KUNIT_EXPECT_EQ(test, pte_pages, nr_pages - (end_pmd - first_pmd));
}

static void expect_clean_leaf(struct kunit *test, unsigned long addr)
{
	bool dirty = true;
	unsigned long pfn;

	KUNIT_EXPECT_EQ(test, mapping_dirty_at(addr, &pfn, &dirty),
			MAPPED_PMD);
	KUNIT_EXPECT_FALSE_MSG(test, dirty, "a leaf a read mapped is dirty");
}

static void expect_unmapped(struct kunit *test, unsigned long addr)
{
	unsigned long pfn = 0;

	KUNIT_EXPECT_EQ_MSG(test, mapping_at(addr, &pfn), MAPPED_NONE,
			    "at %#lx: pfn %#lx", addr, pfn);
}

/*
 * What madvise(MADV_NOHUGEPAGE) does to the VMA at @addr, then zap its
 * @nr_pages pages from @addr on.
 */
static void refuse_huge_and_zap(struct kunit *test, unsigned long addr,
				u32 nr_pages)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;

	mmap_write_lock(mm);
	vma = vma_lookup(mm, addr);
	if (vma) {
		vm_flags_set(vma, VM_NOHUGEPAGE);
		zap_vma_ptes(vma, addr, nr_pages * PAGE_SIZE);
	}
	mmap_write_unlock(mm);
	KUNIT_ASSERT_NOT_NULL(test, vma);
}

/* Read @len bytes at @addr; they must be @want, in @faults faults. */
static void expect_user_bytes(struct kunit *test, unsigned long addr,
			      const u8 *want, size_t len, unsigned long faults)
{
	unsigned long before = current->min_flt + current->maj_flt;
	u8 *got = test_kvmalloc(test, len);

	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)addr, len));
	KUNIT_EXPECT_EQ(test, current->min_flt + current->maj_flt - before,
			faults);
	expect_same_bytes(test, got, want, len);
	kunit_release_action(test, kvfree_action, got);
}
#endif

/* The backings that give 2 MiB folios, for the huge-mapping test. */
static const char * const huge_backings[] = { "hugetlb", "thp" };

static void huge_backing_desc(const char * const *backing, char *desc)
{
	strscpy(desc, *backing, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(huge_backing, huge_backings, huge_backing_desc);

/*
 * A buffer of one page, two whole 2 MiB folios and five pages, mapped so
 * that the folios land on 2 MiB-aligned addresses: a fault in a folio maps
 * it with one PMD leaf and nothing else; a fault on another page maps it
 * and every page outside the folios with PTEs. Every page shows its own
 * frame, and no reference is taken. Half a PMD unmapped splits it: the
 * rest reads right after one more fault, and a refault where huge entries
 * are refused steps over the leaf left. The same buffer mapped one page
 * off the alignment gets PTEs only, in one fault, and a folio whose PMD
 * place a page table holds already gets PTEs too.
 */
static void huge_mapping_test(struct kunit *test)
{
#ifdef CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP
	const bool hugetlb = !strcmp(*(const char * const *)test->param_value,
				     "hugetlb");
	const u32 nr_pages = 1 + 2 * HUGE_PAGES + 5;
	struct udmabuf_create_item items[3];
	struct folio_counts *before, *pinned;
	struct test_memfd *memfd, *memfds[3];
	unsigned long area, aligned, addr, len;
	struct dma_buf *dmabuf;
	unsigned long *pfns;
	u8 *want;

	if (hugetlb) {
#if IS_ENABLED(CONFIG_HUGETLBFS)
		memfd = filled_hugetlb_memfd(test, 4);
#else
		kunit_skip(test, "no hugetlbfs in this kernel");
#endif
	} else {
		memfd = thp_memfd(test, 4);
	}
	memfds[0] = memfd;
	memfds[1] = memfd;
	memfds[2] = memfd;
	items[0] = item_of(memfd, HUGE_PAGES - 1, 1);
	items[1] = item_of(memfd, HUGE_PAGES, 2 * HUGE_PAGES);
	items[2] = item_of(memfd, 3 * HUGE_PAGES, 5);
	want = expected_bytes(test, memfds, items, 3);
	pfns = expected_pfns(test, memfd, items, 3, nr_pages);
	before = folio_counts(test, memfd);
	dmabuf = create_ok(test, items, 3);
	pinned = folio_counts(test, memfd);
	len = dmabuf->size;

	/* An aligned place to map at, with room one page below it. */
	area = kunit_vm_mmap(test, NULL, 0, len + 2 * SZ_2M, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(area));
	aligned = ALIGN(area + PAGE_SIZE, SZ_2M);

	addr = kunit_vm_mmap(test, dmabuf->file, aligned - PAGE_SIZE, len,
			     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, addr, aligned - PAGE_SIZE);
	expect_user_bytes(test, addr + PAGE_SIZE + 3 * SZ_1M,
			  want + PAGE_SIZE + 3 * SZ_1M, 1, 1);
	expect_mapping(test, addr + PAGE_SIZE + SZ_2M, pfns + 1 + HUGE_PAGES,
		       HUGE_PAGES, 0, HUGE_PAGES);
	/* A read maps the leaf clean: only a write makes it dirty. */
	expect_clean_leaf(test, addr + PAGE_SIZE + SZ_2M);
	expect_unmapped(test, addr);
	expect_unmapped(test, addr + PAGE_SIZE);
	expect_unmapped(test, addr + len - PAGE_SIZE);
	/* Page 0 maps it and the last five; the first folio faults alone. */
	expect_user_bytes(test, addr, want, len, 2);
	expect_mapping(test, addr, pfns, nr_pages, 1, 1 + 2 * HUGE_PAGES);
	expect_pins(test, memfd, pinned, NULL);

	/* Unmap the second half of the first PMD. */
	vm_munmap(addr + PAGE_SIZE + SZ_1M, SZ_1M);
	expect_user_bytes(test, addr, want, PAGE_SIZE + SZ_1M, 1);
	expect_mapping(test, addr, pfns, 1 + HUGE_PAGES / 2, 0, 0);
	expect_user_bytes(test, addr + PAGE_SIZE + SZ_2M,
			  want + PAGE_SIZE + SZ_2M, len - PAGE_SIZE - SZ_2M, 0);
	expect_mapping(test, addr + PAGE_SIZE + SZ_2M,
		       pfns + 1 + HUGE_PAGES, HUGE_PAGES + 5, 0, HUGE_PAGES);

	/*
	 * Huge entries refused from now on, and the last five pages zapped:
	 * the refault maps them and steps over the PMD leaf left in place,
	 * in one fault.
	 */
	refuse_huge_and_zap(test, addr + PAGE_SIZE + 2 * SZ_2M, 5);
	expect_user_bytes(test, addr + PAGE_SIZE + SZ_2M,
			  want + PAGE_SIZE + SZ_2M, len - PAGE_SIZE - SZ_2M, 1);
	expect_mapping(test, addr + PAGE_SIZE + SZ_2M,
		       pfns + 1 + HUGE_PAGES, HUGE_PAGES + 5, 0, HUGE_PAGES);
	vm_munmap(addr, len);

	/* One page off: the folios sit one page past 2 MiB boundaries. */
	addr = kunit_vm_mmap(test, dmabuf->file, aligned, len,
			     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, addr, aligned);
	expect_user_bytes(test, addr, want, len, 1);
	expect_mapping(test, addr, pfns, nr_pages, 0, 0);
	vm_munmap(addr, len);

	/*
	 * Aligned again, a first fault that maps a page of the first folio
	 * (as .fault does where huge entries are refused) leaves a PTE table
	 * in that PMD's place and fills it, and only it: that folio gets
	 * PTEs; the second a PMD leaf on its own fault, and the pages around
	 * them PTEs on theirs.
	 */
	addr = kunit_vm_mmap(test, dmabuf->file, aligned - PAGE_SIZE, len,
			     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, addr, aligned - PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, 0, call_fault(addr + 6 * PAGE_SIZE));
	expect_mapping(test, addr + PAGE_SIZE, pfns + 1, HUGE_PAGES, 0, 0);
	expect_user_bytes(test, addr, want, len, 2);
	expect_mapping(test, addr, pfns, nr_pages, 1 + HUGE_PAGES,
		       1 + 2 * HUGE_PAGES);
	vm_munmap(area, len + 2 * SZ_2M);
	expect_pins(test, memfd, pinned, NULL);

	put_now(test, dmabuf);
	expect_unpinned(test, memfd, before);
#else
	kunit_skip(test, "no huge PFN mappings in this kernel");
#endif
}

#if defined(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP) && IS_ENABLED(CONFIG_HUGETLBFS)
/*
 * Every 2 MiB of @nr_pages pages from @addr is mapped at @level and shows
 * the frame @pfn plus its offset; a byte written through the mapping
 * reaches the folio.
 */
static void expect_block_mapping(struct kunit *test, unsigned long addr,
				 unsigned long pfn, unsigned long nr_pages,
				 enum map_level level)
{
	unsigned long i, got_pfn, wrong = 0;

	for (i = 0; i < nr_pages; i += HUGE_PAGES) {
		u8 byte = i / HUGE_PAGES, *kaddr;

		got_pfn = 0;
		if (mapping_at(addr + i * PAGE_SIZE, &got_pfn) != level ||
		    got_pfn != pfn + i) {
			if (!wrong++)
				kunit_err(test, "page %lu: pfn %#lx, want %#lx at level %d\n",
					  i, got_pfn, pfn + i, level);
			continue;
		}
		KUNIT_ASSERT_EQ(test, 0,
				put_user(byte, (u8 __user *)addr +
					 i * PAGE_SIZE));
		kaddr = kmap_local_pfn(pfn + i);
		wrong += *kaddr != byte;
		kunmap_local(kaddr);
	}
	KUNIT_EXPECT_EQ(test, wrong, 0);
}
#endif

#if defined(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP) && IS_ENABLED(CONFIG_HUGETLBFS)
/* Read a byte of each 2 MiB of @len bytes at @addr: @faults faults. */
static void touch_blocks(struct kunit *test, unsigned long addr,
			 unsigned long len, unsigned long faults)
{
	unsigned long before = current->min_flt + current->maj_flt, off;
	u8 byte;

	for (off = 0; off < len; off += SZ_2M)
		KUNIT_ASSERT_EQ(test, 0, get_user(byte, (u8 __user *)addr + off));
	KUNIT_EXPECT_EQ(test, current->min_flt + current->maj_flt - before,
			faults);
}
#endif

/*
 * A fault that finds a PMD leaf where its page table would go (a huge
 * fault of another thread got there first): the access is retried,
 * VM_FAULT_NOPAGE, and the leaf stays.
 */
static void fault_behind_a_leaf_test(struct kunit *test)
{
#if defined(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP) && IS_ENABLED(CONFIG_HUGETLBFS)
	struct test_memfd *memfd = filled_hugetlb_memfd(test, 1);
	struct udmabuf_create_item item = item_of(memfd, 0, HUGE_PAGES);
	struct dma_buf *dmabuf = create_ok(test, &item, 1);
	unsigned long area, addr, pfn;

	area = kunit_vm_mmap(test, NULL, 0, 2 * SZ_2M, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(area));
	addr = kunit_vm_mmap(test, dmabuf->file, ALIGN(area, SZ_2M), SZ_2M,
			     PROT_READ, MAP_SHARED | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, addr, ALIGN(area, SZ_2M));
	touch_blocks(test, addr, SZ_2M, 1);
	KUNIT_ASSERT_EQ(test, mapping_at(addr + PAGE_SIZE, &pfn), MAPPED_PMD);

	KUNIT_EXPECT_EQ(test, driver_fault(addr + PAGE_SIZE, true), VM_FAULT_NOPAGE);
	KUNIT_EXPECT_EQ(test, mapping_at(addr + PAGE_SIZE, &pfn), MAPPED_PMD);
	KUNIT_EXPECT_EQ(test, pfn,
			expected_pfns(test, memfd, &item, 1, HUGE_PAGES)[1]);
	vm_munmap(addr, SZ_2M);
#else
	kunit_skip(test, "no huge PFN mappings or hugetlbfs in this kernel");
#endif
}

/*
 * A buffer of one 1 GiB hugetlb folio, mapped at a 1 GiB boundary: 6.12's
 * mm cannot move, protect or split a PUD leaf of a PFN mapping, so the
 * buffer maps with PMD leaves, one per fault, each at its own frame, and
 * no PUD leaf ever; the same at a 2 MiB boundary. Neither takes a
 * reference.
 */
static void gigantic_folio_mapping_test(struct kunit *test)
{
#if defined(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP) && IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_create_item item;
	struct test_memfd *memfd;
	unsigned long area, addr, pfn;
	struct dma_buf *dmabuf;
	struct folio *folio;
	struct file *file;
	int pins;

	memfd = hugetlb_memfd_of(test, SZ_1G, PUD_SHIFT);
	file = memfd->file;
	item = item_of(memfd, 0, memfd->nr_pages);
	set_param(test, &udmabuf_size_limit_mb, SZ_1G / SZ_1M);
	dmabuf = udmabuf_create_dmabuf(&item, 1);
	if (IS_ERR(dmabuf))
		kunit_skip(test, "no free 1 GiB page: %ld", PTR_ERR(dmabuf));
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, dma_buf_put_action,
						  dmabuf));
	folio = filemap_get_folio(file->f_mapping, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
	pfn = folio_pfn(folio);
	pins = folio_pins(folio);

	area = kunit_vm_mmap(test, NULL, 0, 2UL * SZ_1G, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(area));

	addr = kunit_vm_mmap(test, dmabuf->file, ALIGN(area, SZ_1G), SZ_1G,
			     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, addr, ALIGN(area, SZ_1G));
	expect_user_bytes(test, addr + SZ_1G / 2, folio_address(folio) +
			  SZ_1G / 2, 1, 1);
	touch_blocks(test, addr, SZ_1G, SZ_1G / SZ_2M - 1);
	expect_block_mapping(test, addr, pfn, SZ_1G >> PAGE_SHIFT, MAPPED_PMD);
	vm_munmap(addr, SZ_1G);

	/* 2 MiB-aligned only: the folio's last 1 GiB - 2 MiB, by PMDs. */
	addr = kunit_vm_mmap(test, dmabuf->file, ALIGN(area, SZ_1G) + SZ_2M,
			     SZ_1G - SZ_2M, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_FIXED, SZ_2M);
	KUNIT_ASSERT_EQ(test, addr, ALIGN(area, SZ_1G) + SZ_2M);
	expect_user_bytes(test, addr, folio_address(folio) + SZ_2M, 1, 1);
	touch_blocks(test, addr, SZ_1G - SZ_2M, SZ_1G / SZ_2M - 2);
	expect_block_mapping(test, addr, pfn + HUGE_PAGES,
			     (SZ_1G - SZ_2M) >> PAGE_SHIFT, MAPPED_PMD);
	vm_munmap(area, 2UL * SZ_1G);

	KUNIT_EXPECT_EQ(test, folio_pins(folio), pins);
	folio_put(folio);
#else
	kunit_skip(test, "no huge PFN mappings or no hugetlbfs");
#endif
}

/* A file page and its frame, to be sorted by frame. */
struct page_frame {
	unsigned long pfn;
	pgoff_t index;
};

static int page_frame_cmp(const void *a, const void *b)
{
	const struct page_frame *x = a, *y = b;

	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/* What each map of a CPU bracket must give the misc device. */
static struct {
	unsigned long *pfns;
	u8 *bytes;
	u32 nr_pages;
	unsigned int maps;
} cpu_map_want;

/* cpu_map_want's frames and bytes: @frames of the file made with @seed. */
static void want_cpu_map(const struct page_frame *frames, u32 nr, u8 seed)
{
	u32 i;

	for (i = 0; i < nr; i++) {
		cpu_map_want.pfns[i] = frames[i].pfn;
		fill_pattern(cpu_map_want.bytes + PG(i), seed,
			     PG(frames[i].index), PAGE_SIZE);
	}
	cpu_map_want.nr_pages = nr;
}

/*
 * dma_map_sgtable() for a CPU bracket, checked while mapped: the table's
 * pages are the frames of cpu_map_want, in that order, and so is the
 * memory its DMA addresses lead to, which holds cpu_map_want's bytes.
 */
static int dma_map_checking(struct device *dev, struct sg_table *sgt,
			    enum dma_data_direction dir, unsigned long attrs)
{
	struct kunit *test = kunit_get_current_test();
	struct scatterlist *sg;
	u32 page = 0, k;
	unsigned int i;
	int ret;

	ret = dma_map_sgtable(dev, sgt, dir, attrs);
	if (ret)
		return ret;
	cpu_map_want.maps++;
	for_each_sgtable_sg(sgt, sg, i) {
		KUNIT_EXPECT_EQ_MSG(test, sg->offset, 0, "entry %u", i);
		for (k = 0; k < sg->length >> PAGE_SHIFT; k++, page++)
			if (page < cpu_map_want.nr_pages)
				KUNIT_EXPECT_EQ_MSG(test,
						    page_to_pfn(sg_page(sg)) + k,
						    cpu_map_want.pfns[page],
						    "frame of page %u", page);
	}
	KUNIT_EXPECT_EQ_MSG(test, page, cpu_map_want.nr_pages,
			    "pages in map %u", cpu_map_want.maps);
	expect_dma_view(test, dev, sgt, cpu_map_want.pfns, cpu_map_want.bytes,
			cpu_map_want.nr_pages);
	return 0;
}

/*
 * CPU access brackets: end without begin is refused; each bracket maps
 * the buffer for the misc device (the suite's stub has it sync), or fails
 * cleanly where there is no DMA API and may then be tried again. Each map
 * is checked while it is made: the pages the buffer names (file pages 2,
 * 0, 1, 2), each once, in frame order, at the frames of the file's page
 * cache, holding the file's bytes, and at the end of a bracket what the
 * CPU wrote in it, which the file then reads.
 */
static void cpu_access_test(struct kunit *test)
{
	static const pgoff_t file_page[] = { 2, 0, 1, 2 };
	struct test_memfd *memfd = sealed_memfd(test, 4);
	struct test_memfd *memfds[] = { memfd, memfd };
	struct udmabuf_create_item items[] = {
		item_of(memfd, 2, 1), item_of(memfd, 0, 3),
	};
	struct udmabuf_create_item named = item_of(memfd, 0, 3);
	unsigned long *pfns = expected_pfns(test, memfd, &named, 1, 3);
	struct dma_buf *dmabuf = create_ok(test, items, 2);
	u8 seed = memfd->seed ^ 0x5a;
	struct page_frame frames[3];
	struct iosys_map map;
	u8 *file, *want;
	loff_t pos = 0;
	int ret;
	u32 i;

	for (i = 0; i < ARRAY_SIZE(frames); i++)
		frames[i] = (struct page_frame) { pfns[i], i };
	sort(frames, ARRAY_SIZE(frames), sizeof(*frames), page_frame_cmp,
	     NULL);
	cpu_map_want.pfns = kunit_kcalloc(test, ARRAY_SIZE(frames),
					  sizeof(*cpu_map_want.pfns),
					  GFP_KERNEL);
	cpu_map_want.bytes = test_kvmalloc(test, PG(ARRAY_SIZE(frames)));
	KUNIT_ASSERT_NOT_NULL(test, cpu_map_want.pfns);
	want_cpu_map(frames, ARRAY_SIZE(frames), memfd->seed);
	cpu_map_want.maps = 0;
	kunit_activate_static_stub(test, udmabuf_dma_map, dma_map_checking);

	KUNIT_EXPECT_EQ(test, -EINVAL,
			dma_buf_end_cpu_access(dmabuf, DMA_TO_DEVICE));

	ret = dma_buf_begin_cpu_access(dmabuf, DMA_FROM_DEVICE);
	if (ret) {
		KUNIT_EXPECT_EQ(test, ret,
				dma_buf_begin_cpu_access(dmabuf,
							 DMA_FROM_DEVICE));
		KUNIT_EXPECT_EQ(test, -EINVAL,
				dma_buf_end_cpu_access(dmabuf, DMA_TO_DEVICE));
		kunit_skip(test, "no DMA mapping here: %d", ret);
	}
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf, DMA_TO_DEVICE));

	/* Any direction, each bracket end on its own; a write in between. */
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_BIDIRECTIONAL));
	KUNIT_ASSERT_EQ(test, 0, dma_buf_vmap_unlocked(dmabuf, &map));
	expect_same_bytes(test, map.vaddr,
			  expected_bytes(test, memfds, items, 2), dmabuf->size);
	for (i = 0; i < ARRAY_SIZE(file_page); i++)
		fill_pattern((u8 *)map.vaddr + PG(i), seed, PG(file_page[i]),
			     PAGE_SIZE);
	dma_buf_vunmap_unlocked(dmabuf, &map);
	want_cpu_map(frames, ARRAY_SIZE(frames), seed);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_BIDIRECTIONAL));
	kunit_deactivate_static_stub(test, udmabuf_dma_map);
	KUNIT_EXPECT_EQ(test, cpu_map_want.maps, 4);

	/* The file: pages 0 to 2 as written, page 3 as it was. */
	file = test_kvmalloc(test, PG(4));
	want = test_kvmalloc(test, PG(4));
	fill_pattern(want, seed, 0, PG(3));
	fill_pattern(want + PG(3), memfd->seed, PG(3), PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, kernel_read(memfd->file, file, PG(4), &pos),
			(ssize_t)PG(4));
	expect_same_bytes(test, file, want, PG(4));
}

/*
 * An importer's table keeps to its device's segment size and boundary,
 * and still covers every page in order, at the frames of the file's page
 * cache, which hold its bytes. A 2 MiB hugetlb folio is one contiguous
 * run, so only the device's limits cut it.
 */
static void map_respects_device_segments_test(struct kunit *test)
{
#if IS_ENABLED(CONFIG_HUGETLBFS)
	/* Segments of two pages at most, none across a four-page boundary. */
	struct device *dev = importer_device(test, 2 * PAGE_SIZE,
					     4 * PAGE_SIZE - 1);
	struct dma_buf_attachment *attach;
	struct udmabuf_create_item item;
	struct test_memfd *memfd;
	struct dma_buf *dmabuf;
	struct scatterlist *sg;
	struct sg_table *sgt;
	unsigned long *pfns;
	unsigned long next;
	unsigned int i;

	memfd = filled_hugetlb_memfd(test, 1);
	/* From page 3: the first segment ends early at the boundary. */
	item = item_of(memfd, 3, 64);
	dmabuf = udmabuf_create_dmabuf(&item, 1);
	if (IS_ERR(dmabuf))
		kunit_skip(test, "no free hugetlb pages: %ld", PTR_ERR(dmabuf));
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, dma_buf_put_action,
						  dmabuf));
	pfns = expected_pfns(test, memfd, &item, 1, 64);

	attach = dma_buf_attach(dmabuf, dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, sgt);
	next = 0;
	for_each_sgtable_sg(sgt, sg, i) {
		phys_addr_t start = page_to_phys(importer_sg_page(sg)) +
				    sg->offset;
		phys_addr_t end = start + sg->length - 1;

		KUNIT_EXPECT_LE(test, sg->length, 2 * PAGE_SIZE);
		KUNIT_EXPECT_EQ_MSG(test, start & ~(phys_addr_t)(4 * PAGE_SIZE - 1),
				    end & ~(phys_addr_t)(4 * PAGE_SIZE - 1),
				    "entry %u crosses the boundary", i);
		KUNIT_ASSERT_LT(test, next, 64);
		KUNIT_EXPECT_EQ(test, PHYS_PFN(start), pfns[next]);
		next += sg->length >> PAGE_SHIFT;
	}
	KUNIT_EXPECT_EQ(test, next, 64);
	/* Pages 3, 4-5, 6-7, ..., 64-65, 66: 1 + 31 * 2 + 1 pages. */
	KUNIT_EXPECT_EQ(test, sgt->orig_nents, 33);
	expect_dma_view(test, dev, sgt, pfns,
			expected_bytes(test, &memfd, &item, 1), 64);
	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_TO_DEVICE);
	dma_buf_detach(dmabuf, attach);
#else
	kunit_skip(test, "no hugetlbfs in this kernel");
#endif
}

/*
 * A device whose segments or segment boundaries are shorter than a page
 * cannot take a buffer of whole pages: its map is refused with -EINVAL,
 * without a warning, and leaves nothing allocated. One whose limits are a
 * page exactly gets a segment per page.
 */
static void map_refuses_segments_below_a_page_test(struct kunit *test)
{
	struct device *devs[] = {
		importer_device(test, PAGE_SIZE / 2, ULONG_MAX),
		importer_device(test, UINT_MAX, PAGE_SIZE / 2 - 1),
	};
	struct test_memfd *memfd = sealed_memfd(test, 2);
	struct udmabuf_create_item item = item_of(memfd, 0, 2);
	struct dma_buf *dmabuf = create_ok(test, &item, 1);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	bool tainted = test_taint(TAINT_WARN);
	struct dma_buf_attachment *attach;
	struct scatterlist *sg;
	struct sg_table *sgt;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(devs); i++) {
		attach = dma_buf_attach(dmabuf, devs[i]);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
		sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
		KUNIT_EXPECT_EQ_MSG(test, PTR_ERR_OR_ZERO(sgt), -EINVAL,
				    "device %u", i);
		if (!IS_ERR(sgt))
			dma_buf_unmap_attachment_unlocked(attach, sgt,
							  DMA_TO_DEVICE);
		dma_buf_detach(dmabuf, attach);
	}

	/* At the limits, segments of one page each: mapped, a page each. */
	attach = dma_buf_attach(dmabuf, importer_device(test, PAGE_SIZE,
							PAGE_SIZE - 1));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, sgt);
	KUNIT_EXPECT_EQ(test, sgt->orig_nents, 2);
	for_each_sgtable_sg(sgt, sg, i)
		KUNIT_EXPECT_EQ(test, sg->length, PAGE_SIZE);
	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_TO_DEVICE);
	dma_buf_detach(dmabuf, attach);

	if (!tainted)
		KUNIT_EXPECT_FALSE(test, test_taint(TAINT_WARN));
	udmabuf_test_expect_allocs(test, &allocs);
}

static struct sg_table *map_importer(struct kunit *test,
				     struct dma_buf_attachment *attach)
{
	struct sg_table *sgt;

	sgt = dma_buf_map_attachment_unlocked(attach, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, sgt);
	return sgt;
}

static void unmap_importer(struct dma_buf_attachment *attach,
			   struct sg_table *sgt)
{
	if (!IS_ERR(sgt))
		dma_buf_unmap_attachment_unlocked(attach, sgt,
						  DMA_BIDIRECTIONAL);
	dma_buf_detach(attach->dmabuf, attach);
}

/*
 * CPU brackets and importers in every order: a bracket then two
 * importers, importers then a bracket, a write-only bracket then release.
 * Under CONFIG_DMA_API_DEBUG none of them may be reported: the importers'
 * mappings overlap the bracket's cachelines, so they must not sync.
 */
static void cpu_access_and_importers_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 8);
	struct folio_counts *before = folio_counts(test, memfd);
	struct udmabuf_create_item item = item_of(memfd, 0, 8);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct dma_buf_attachment *a, *b;
	struct dma_buf *dmabuf;
	struct sg_table *sa, *sb;

	dmabuf = create_ok(test, &item, 1);
	if (dma_buf_begin_cpu_access(dmabuf, DMA_FROM_DEVICE))
		kunit_skip(test, "no DMA mapping here");
	a = attach_importer(test, dmabuf);
	b = attach_importer(test, dmabuf);
	sa = map_importer(test, a);
	sb = map_importer(test, b);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_FROM_DEVICE));
	unmap_importer(a, sa);
	unmap_importer(b, sb);
	put_now(test, dmabuf);

	/* Importer first, then a bracket. */
	dmabuf = create_ok(test, &item, 1);
	a = attach_importer(test, dmabuf);
	sa = map_importer(test, a);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_BIDIRECTIONAL));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_BIDIRECTIONAL));
	unmap_importer(a, sa);
	put_now(test, dmabuf);

	/* Only a write-only bracket, then release (unmapped as mapped). */
	dmabuf = create_ok(test, &item, 1);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_TO_DEVICE));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf, DMA_TO_DEVICE));
	put_now(test, dmabuf);

	expect_unpinned(test, memfd, before);
	udmabuf_test_expect_allocs(test, &allocs);
}

/*
 * Two buffers that share pages after a first page of their own, each
 * bracketed for the CPU in every direction. The DMA-API debugger then
 * holds two mappings of the shared addresses for the misc device, and a
 * sync must fit one of them exactly: between two that fit equally well it
 * finds none, and reports a sync of memory never mapped. (A buffer's
 * first entry is looked up differently: sharing only that one would not
 * show it.) Nothing may be counted.
 */
static void cpu_access_buffers_sharing_pages_test(struct kunit *test)
{
	static const enum dma_data_direction dirs[] = {
		DMA_BIDIRECTIONAL, DMA_TO_DEVICE, DMA_FROM_DEVICE,
	};
	struct test_memfd *own = sealed_memfd(test, 4);
	struct test_memfd *shared = sealed_memfd(test, 2);
	struct folio_counts *own_before = folio_counts(test, own);
	struct folio_counts *shared_before = folio_counts(test, shared);
	struct udmabuf_create_item items[2][2] = {
		{ item_of(own, 0, 1), item_of(shared, 0, 2) },
		{ item_of(own, 2, 1), item_of(shared, 0, 2) },
	};
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	long errors = udmabuf_test_dma_errors();
	struct dma_buf *dmabufs[2];
	struct udmabuf *ubuf;
	u32 i, k;

	if (errors < 0)
		kunit_skip(test, "no DMA-API debugger at work");
	for (k = 0; k < 2; k++) {
		dmabufs[k] = create_ok(test, items[k], 2);
		if (dma_buf_begin_cpu_access(dmabufs[k], DMA_BIDIRECTIONAL))
			kunit_skip(test, "no DMA mapping here");
		/* The shared pages must not join the first entry. */
		ubuf = dmabufs[k]->priv;
		if (ubuf->cpu_sgt->orig_nents < 2)
			kunit_skip(test, "own page and shared pages contiguous");
	}
	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		for (k = 0; k < 2; k++) {
			KUNIT_EXPECT_EQ(test, 0,
					dma_buf_begin_cpu_access(dmabufs[k],
								 dirs[i]));
			KUNIT_EXPECT_EQ(test, 0,
					dma_buf_end_cpu_access(dmabufs[k],
							       dirs[i]));
		}
	}
	for (k = 0; k < 2; k++)
		KUNIT_EXPECT_EQ(test, 0,
				dma_buf_end_cpu_access(dmabufs[k],
						       DMA_BIDIRECTIONAL));
	KUNIT_EXPECT_EQ_MSG(test, udmabuf_test_dma_errors(), errors,
			    "errors the DMA-API debugger counted");
	put_now(test, dmabufs[0]);
	put_now(test, dmabufs[1]);
	expect_unpinned(test, own, own_before);
	expect_unpinned(test, shared, shared_before);
	udmabuf_test_expect_allocs(test, &allocs);
}

/*
 * A CPU bracket maps the buffer for the misc device only while it syncs.
 * Nine buffers on one page, each bracketed: no mapping is left behind, so
 * none piles up on that page. (Kept, one per buffer, the mappings of a
 * page shared by nine buffers would pass the eight the DMA-API debugger
 * can count on one cacheline, and it WARNs.)
 */
static void cpu_access_keeps_no_mapping_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 1);
	struct folio_counts *before = folio_counts(test, memfd);
	struct udmabuf_create_item item = item_of(memfd, 0, 1);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	bool tainted = test_taint(TAINT_WARN);
	struct dma_buf *dmabufs[9];
	long mappings;
	u32 k;

	for (k = 0; k < ARRAY_SIZE(dmabufs); k++)
		dmabufs[k] = create_ok(test, &item, 1);
	mappings = udmabuf_test_dma_mappings();
	if (mappings < 0)
		kunit_skip(test, "no DMA-API debugger at work");
	for (k = 0; k < ARRAY_SIZE(dmabufs); k++) {
		if (dma_buf_begin_cpu_access(dmabufs[k], DMA_FROM_DEVICE))
			kunit_skip(test, "no DMA mapping here");
		KUNIT_EXPECT_EQ_MSG(test, udmabuf_test_dma_mappings(), mappings,
				    "mappings after the begin of buffer %u", k);
		KUNIT_EXPECT_EQ(test, 0,
				dma_buf_end_cpu_access(dmabufs[k],
						       DMA_TO_DEVICE));
		KUNIT_EXPECT_EQ_MSG(test, udmabuf_test_dma_mappings(), mappings,
				    "mappings after the end of buffer %u", k);
	}
	if (!tainted)
		KUNIT_EXPECT_FALSE_MSG(test, test_taint(TAINT_WARN),
				       "a WARN while the buffers were synced");
	for (k = 0; k < ARRAY_SIZE(dmabufs); k++)
		put_now(test, dmabufs[k]);
	expect_unpinned(test, memfd, before);
	udmabuf_test_expect_allocs(test, &allocs);
}

/*
 * A buffer that names one page nine times syncs it once: the CPU bracket's
 * table has one entry of one page, and the DMA-API debugger (which WARNs
 * past eight device-writable mappings of a cacheline) counts no error.
 */
static void cpu_access_syncs_each_page_once_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 2);
	struct folio_counts *before = folio_counts(test, memfd);
	struct udmabuf_create_item items[10];
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	bool tainted = test_taint(TAINT_WARN);
	long errors = udmabuf_test_dma_errors();
	unsigned long next = 0, bytes = 0;
	struct dma_buf *dmabuf;
	struct scatterlist *sg;
	struct udmabuf *ubuf;
	u32 i;

	for (i = 0; i < ARRAY_SIZE(items) - 1; i++)
		items[i] = item_of(memfd, 0, 1);
	items[i] = item_of(memfd, 0, 2);
	dmabuf = create_ok(test, items, ARRAY_SIZE(items));
	ubuf = dmabuf->priv;
	if (dma_buf_begin_cpu_access(dmabuf, DMA_FROM_DEVICE))
		kunit_skip(test, "no DMA mapping here");
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf, DMA_TO_DEVICE));
	/* Two pages in all, each once, in frame order. */
	for_each_sgtable_sg(ubuf->cpu_sgt, sg, i) {
		unsigned long pfn = page_to_pfn(sg_page(sg));

		KUNIT_EXPECT_GE_MSG(test, pfn, next, "entry %u", i);
		next = pfn + (sg->length >> PAGE_SHIFT);
		bytes += sg->length;
	}
	KUNIT_EXPECT_EQ(test, bytes, 2 * PAGE_SIZE);
	if (errors >= 0)
		KUNIT_EXPECT_EQ_MSG(test, udmabuf_test_dma_errors(), errors,
				    "errors the DMA-API debugger counted");
	if (!tainted)
		KUNIT_EXPECT_FALSE_MSG(test, test_taint(TAINT_WARN),
				       "a WARN while the buffer was synced");
	put_now(test, dmabuf);
	expect_unpinned(test, memfd, before);
	udmabuf_test_expect_allocs(test, &allocs);
}

static unsigned int dma_maps;
static enum dma_data_direction dma_map_dirs[8];

/* dma_map_sgtable(), remembering each call's direction. */
static int dma_map_recording(struct device *dev, struct sg_table *sgt,
			     enum dma_data_direction dir, unsigned long attrs)
{
	if (dma_maps < ARRAY_SIZE(dma_map_dirs))
		dma_map_dirs[dma_maps] = dir;
	dma_maps++;
	return dma_map_sgtable(dev, sgt, dir, attrs);
}

static bool cpu_sync_never(struct device *dev)
{
	return false;
}

/*
 * Each bracket maps and syncs in its own direction, not in the first
 * one's nor always both ways, with two exceptions: a write-only begin has
 * nothing to sync for the CPU, and a read-only end cleans rather than
 * invalidates (DMA_TO_DEVICE), so that it cannot drop what a writer in a
 * bracket of its own wrote meanwhile.
 */
static void cpu_access_keeps_direction_test(struct kunit *test)
{
	static const enum dma_data_direction dirs[] = {
		DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL,
	};
	static const enum dma_data_direction maps[] = {
		DMA_TO_DEVICE,				/* write-only end */
		DMA_FROM_DEVICE, DMA_TO_DEVICE,		/* read-only */
		DMA_BIDIRECTIONAL, DMA_BIDIRECTIONAL,
	};
	struct test_memfd *memfd = sealed_memfd(test, 2);
	struct udmabuf_create_item item = item_of(memfd, 0, 2);
	struct dma_buf *dmabuf = create_ok(test, &item, 1);
	unsigned int i;

	dma_maps = 0;
	kunit_activate_static_stub(test, udmabuf_dma_map, dma_map_recording);
	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		if (dma_buf_begin_cpu_access(dmabuf, dirs[i]))
			kunit_skip(test, "no DMA mapping here");
		KUNIT_EXPECT_EQ(test, 0,
				dma_buf_end_cpu_access(dmabuf, dirs[i]));
	}
	kunit_deactivate_static_stub(test, udmabuf_dma_map);
	KUNIT_ASSERT_EQ(test, dma_maps, ARRAY_SIZE(maps));
	for (i = 0; i < ARRAY_SIZE(maps); i++)
		KUNIT_EXPECT_EQ_MSG(test, dma_map_dirs[i], maps[i], "map %u", i);
}

/*
 * Where the misc device has nothing to sync (coherent, or bounced by
 * swiotlb), brackets map nothing and allocate nothing, and an end
 * without a begin is still refused.
 */
static void cpu_access_with_nothing_to_sync_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 2);
	struct udmabuf_create_item item = item_of(memfd, 0, 2);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct dma_buf *dmabuf;
	struct udmabuf *ubuf;

	kunit_activate_static_stub(test, udmabuf_cpu_sync_needed,
				   cpu_sync_never);
	dma_maps = 0;
	kunit_activate_static_stub(test, udmabuf_dma_map, dma_map_recording);
	dmabuf = create_ok(test, &item, 1);
	ubuf = dmabuf->priv;
	KUNIT_EXPECT_EQ(test, -EINVAL,
			dma_buf_end_cpu_access(dmabuf, DMA_TO_DEVICE));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_FROM_DEVICE));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_FROM_DEVICE));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_TO_DEVICE));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf, DMA_TO_DEVICE));
	KUNIT_EXPECT_EQ(test, dma_maps, 0);
	KUNIT_EXPECT_NULL(test, ubuf->cpu_sgt);
	put_now(test, dmabuf);
	udmabuf_test_expect_allocs(test, &allocs);
}

/*
 * Brackets as this machine's misc device takes them, without the suite's
 * stub: whether or not it has caches to sync, a begin and an end succeed.
 */
static void cpu_access_on_this_machine_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 2);
	struct udmabuf_create_item item = item_of(memfd, 0, 2);
	struct dma_buf *dmabuf = create_ok(test, &item, 1);

	kunit_deactivate_static_stub(test, udmabuf_cpu_sync_needed);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_BIDIRECTIONAL));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_BIDIRECTIONAL));
}

/* Eight threads begin CPU access on one fresh buffer at once. */
struct sync_racer {
	struct work_struct work;
	struct sync_race *race;
	int ret;
};

struct sync_race {
	struct sync_racer racer[8];
	struct kunit *test;
	struct dma_buf *dmabuf;
	struct completion go;
	atomic_t waiting;
};

static void sync_race_work(struct work_struct *work)
{
	struct sync_racer *racer = container_of(work, struct sync_racer, work);
	struct sync_race *race = racer->race;

	/* The test's static stubs apply to its workers too. */
	current->kunit_test = race->test;
	/* Wait (sleeping, so all can start) until every thread is here. */
	if (atomic_dec_and_test(&race->waiting))
		complete_all(&race->go);
	wait_for_completion(&race->go);
	racer->ret = dma_buf_begin_cpu_access(race->dmabuf, DMA_FROM_DEVICE);
	if (!racer->ret)
		racer->ret = dma_buf_end_cpu_access(race->dmabuf,
						    DMA_FROM_DEVICE);
	current->kunit_test = NULL;
}

/*
 * The first CPU bracket, from eight threads at once: each succeeds, the
 * misc device's mapping is made once, and release frees it (nothing of
 * the driver's is left allocated).
 */
static void first_sync_race_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 16);
	struct udmabuf_create_item item = item_of(memfd, 0, 16);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct workqueue_struct *wq;
	struct sync_race *race;
	struct udmabuf *ubuf;
	unsigned int i;

	race = kunit_kzalloc(test, sizeof(*race), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, race);
	wq = alloc_workqueue("udmabuf-kunit-race", WQ_UNBOUND,
			     ARRAY_SIZE(race->racer));
	KUNIT_ASSERT_NOT_NULL(test, wq);
	race->test = test;
	race->dmabuf = create_ok(test, &item, 1);
	ubuf = race->dmabuf->priv;
	init_completion(&race->go);
	atomic_set(&race->waiting, ARRAY_SIZE(race->racer));
	for (i = 0; i < ARRAY_SIZE(race->racer); i++) {
		race->racer[i].race = race;
		INIT_WORK(&race->racer[i].work, sync_race_work);
		queue_work(wq, &race->racer[i].work);
	}
	destroy_workqueue(wq);
	for (i = 0; i < ARRAY_SIZE(race->racer); i++)
		KUNIT_EXPECT_EQ_MSG(test, race->racer[i].ret, 0, "thread %u", i);
	KUNIT_EXPECT_NOT_NULL(test, ubuf->cpu_sgt);
	put_now(test, race->dmabuf);
	udmabuf_test_expect_allocs(test, &allocs);
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
	struct test_memfd *memfd = test_memfd(test, MEMFD_PAGES, c->seals);
	struct folio_counts *before = folio_counts(test, memfd);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct udmabuf_create_item items[2] = {
		item_of(memfd, 0, MEMFD_PAGES),
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
	expect_unpinned(test, memfd, before);
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

	list = test_kvmalloc(test, size);
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
	struct test_memfd *memfd = sealed_memfd(test, 4);
	struct udmabuf_create_item items[] = {
		item_of(memfd, 0, 1), item_of(memfd, 3, 1),
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
	struct test_memfd *memfd = sealed_memfd(test, 4);
	struct folio_counts *before = folio_counts(test, memfd);
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
	close_now(fd);
	expect_unpinned(test, memfd, before);

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
	struct test_memfd *memfd;
	struct udmabuf_create create = { .size = PAGE_SIZE };
	struct dma_buf *dmabuf;
	unsigned long addr;
	long fd;

	KUNIT_ASSERT_GE(test, zero, 0);
	if (zero) {
		put_unused_fd(zero);
		kunit_skip(test, "descriptor 0 is taken in this thread");
	}
	memfd = sealed_memfd(test, 1);
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
	close_now(fd);
}

/* A list whose head is readable but whose items are not: EFAULT. */
static void ioctl_list_items_unreadable_test(struct kunit *test)
{
	struct udmabuf_create_list head = { .count = 2 };
	unsigned long addr;

	addr = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
			     MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	addr += PAGE_SIZE - sizeof(head);
	KUNIT_ASSERT_EQ(test, 0, copy_to_user((void __user *)addr, &head,
					      sizeof(head)));
	KUNIT_EXPECT_EQ(test, -EFAULT,
			udmabuf_ioctl(NULL, UDMABUF_CREATE_LIST, addr));
}

/* No items, or more than list_limit: refused before anything is read. */
static void ioctl_list_count_refused_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 1);
	struct folio_counts *before = folio_counts(test, memfd);
	struct udmabuf_create_item *items;
	u32 i, over = READ_ONCE(udmabuf_list_limit) + 1;
	long fd;

	items = kunit_kcalloc(test, over, sizeof(*items), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, items);
	for (i = 0; i < over; i++)
		items[i] = item_of(memfd, 0, 1);

	KUNIT_EXPECT_EQ(test, -EINVAL, ioctl_create_list(test, 0, items, 0));
	KUNIT_EXPECT_EQ(test, -EINVAL, ioctl_create_list(test, 0, items, over));
	expect_unpinned(test, memfd, before);

	/* The limit itself is allowed. */
	fd = ioctl_create_list(test, 0, items, over - 1);
	KUNIT_ASSERT_GE(test, fd, 0);
	close_now(fd);
	expect_unpinned(test, memfd, before);
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

	set_param(test, &udmabuf_list_limit, INT_MAX);
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
	struct test_memfd *memfd = sealed_memfd(test, 512);
	struct folio_counts *before = folio_counts(test, memfd);
	struct udmabuf_create_item one = item_of(memfd, 0, 1);
	struct udmabuf_create_item mib = item_of(memfd, 0, SZ_1M >> PAGE_SHIFT);
	struct udmabuf_create_item *items;
	const u32 raised = 2048;
	long fd;
	u32 i;

	set_param(test, &udmabuf_size_limit_mb, 1);
	set_param(test, &udmabuf_list_limit, raised);
	KUNIT_EXPECT_EQ(test, -EINVAL,
			PTR_ERR_OR_ZERO(udmabuf_create_dmabuf((struct udmabuf_create_item[]) {
				mib, one }, 2)));
	put_now(test, create_ok(test, &mib, 1));

	/* 2,048 one-page items: 8 MiB. */
	WRITE_ONCE(udmabuf_size_limit_mb, 8);
	items = kunit_kcalloc(test, raised + 1, sizeof(*items), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, items);
	for (i = 0; i <= raised; i++)
		items[i] = item_of(memfd, i % 256, 1);
	fd = ioctl_create_list(test, 0, items, raised);
	KUNIT_EXPECT_GE(test, fd, 0);
	if (fd >= 0)
		close_now(fd);
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
	expect_unpinned(test, memfd, before);
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

static long pin_nothing(struct file *memfd, loff_t start, loff_t end,
			struct folio **folios, unsigned int max_folios,
			pgoff_t *offset)
{
	return 0;
}

static struct dma_buf *export_fails(struct udmabuf *ubuf)
{
	return ERR_PTR(-ENOSPC);
}

/*
 * Three files, eight items: many pin calls and many growths. What the
 * files' folios carry and what the driver holds allocated are kept, to
 * be compared after each failure.
 */
struct fault_setup {
	struct test_memfd *memfds[3];
	struct folio_counts *before[3];
	struct udmabuf_allocs allocs;
	struct udmabuf_create_item items[8];
};

/*
 * The driver's allocations once nothing is giving any back: an earlier
 * case's thread may still be exiting with its mm on another CPU, and the
 * buffers of its mappings with it.
 */
static struct udmabuf_allocs allocs_settled(void)
{
	struct udmabuf_allocs before, now = udmabuf_test_allocs();
	int tries = 100;

	do {
		before = now;
		msleep(20);
		now = udmabuf_test_allocs();
	} while ((now.calls != before.calls || now.bytes != before.bytes) &&
		 --tries);
	return now;
}

/* Take what every later check compares with: pins, refs, allocations. */
static void fault_snapshot(struct kunit *test, struct fault_setup *s)
{
	u32 i;

	for (i = 0; i < 3; i++)
		s->before[i] = folio_counts(test, s->memfds[i]);
	s->allocs = allocs_settled();
}

static void fault_setup(struct kunit *test, struct fault_setup *s)
{
	u32 i;

	for (i = 0; i < 3; i++)
		s->memfds[i] = sealed_memfd(test, 200);
	for (i = 0; i < 8; i++)
		s->items[i] = item_of(s->memfds[i % 3], i * 10, 100 + i);
	fault_snapshot(test, s);
}

/* Pins, other references and the driver's allocations as at the snapshot. */
static void fault_expect_released(struct kunit *test, struct fault_setup *s)
{
	u32 i;

	udmabuf_test_release_files();
	for (i = 0; i < 3; i++)
		expect_unpinned(test, s->memfds[i], s->before[i]);
	udmabuf_test_expect_allocs(test, &s->allocs);
}

/* What a buffer of the setup's eight items reads as. */
static u8 *fault_expected_bytes(struct kunit *test, struct fault_setup *s)
{
	struct test_memfd *memfds[8];
	u32 i;

	for (i = 0; i < 8; i++)
		memfds[i] = s->memfds[i % 3];
	return expected_bytes(test, memfds, s->items, 8);
}

/* With a stub in place, the setup's buffer fails with @err, pinning nothing. */
static void expect_create_fails(struct kunit *test, struct fault_setup *s,
				int err)
{
	KUNIT_EXPECT_EQ(test, err,
			PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(s->items, 8)));
	fault_expect_released(test, s);
}

/*
 * With a stub that fails once stub_calls_left calls have passed, fail at
 * each call in turn until the buffer is made: every failure returns
 * -ENOMEM and leaves nothing pinned. Returns how many calls could fail.
 */
static int fail_each_call_in_turn(struct kunit *test, struct fault_setup *s)
{
	struct dma_buf *dmabuf;
	int failures = 0;

	for (;;) {
		stub_calls_left = failures;
		dmabuf = udmabuf_create_dmabuf(s->items, 8);
		if (!IS_ERR(dmabuf))
			break;
		KUNIT_EXPECT_EQ(test, PTR_ERR(dmabuf), -ENOMEM);
		fault_expect_released(test, s);
		failures++;
	}
	dma_buf_put(dmabuf);
	udmabuf_test_release_files();
	fault_expect_released(test, s);
	return failures;
}

static void pin_failure_at_each_call_test(struct kunit *test)
{
	struct fault_setup s;

	fault_setup(test, &s);
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_fails_after);
	/* 8 items of 100 to 107 pages, 62 folios a call: 16 calls. */
	KUNIT_EXPECT_EQ(test, fail_each_call_in_turn(test, &s), 16);
}

/* One folio per pin call still makes the same buffer. */
static void pin_fewer_folios_than_asked_test(struct kunit *test)
{
	struct fault_setup s;
	struct dma_buf *dmabuf;

	fault_setup(test, &s);
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_one_folio);
	dmabuf = create_ok(test, s.items, 8);
	expect_vmap_bytes(test, dmabuf, fault_expected_bytes(test, &s));
	put_now(test, dmabuf);
	fault_expect_released(test, &s);
}

static void pin_returning_nothing_test(struct kunit *test)
{
	struct fault_setup s;

	fault_setup(test, &s);
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_nothing);
	expect_create_fails(test, &s, -EINVAL);
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
	struct test_memfd *a = sealed_memfd(test, 32), *b = sealed_memfd(test, 32);
	struct test_memfd *memfds[6] = { a, a, a, a, a, b };
	struct udmabuf_create_item items[6];
	struct folio_counts *before_a = folio_counts(test, a);
	struct folio_counts *before_b = folio_counts(test, b);
	int pins[32] = { 0 };
	struct dma_buf *dmabuf;
	u32 i;

	for (i = 0; i < 4; i++)
		items[i] = item_of(a, 4 * i, 4);
	items[4] = item_of(a, 20, 4);
	items[5] = item_of(b, 24, 4);	/* where item 4 ends, in another fd */
	for (i = 0; i < 16; i++)
		pins[i] = 1;
	for (i = 20; i < 24; i++)
		pins[i] = 1;

	stub_pin_calls = 0;
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_counted);
	dmabuf = create_ok(test, items, 6);
	KUNIT_EXPECT_EQ(test, stub_pin_calls, 3);
	expect_vmap_bytes(test, dmabuf, expected_bytes(test, memfds, items, 6));
	expect_pins(test, a, before_a, pins);
	put_now(test, dmabuf);
	expect_unpinned(test, a, before_a);
	expect_unpinned(test, b, before_b);
}

/*
 * A long range pins in growing batches: 62 folios a call, then a page of
 * pointers' worth (496) a call: 600 pages of 4 KiB take 3 calls.
 */
static void long_range_pins_in_growing_batches_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 600);
	struct udmabuf_create_item item = item_of(memfd, 0, 600);
	struct test_memfd *memfds[] = { memfd };
	struct dma_buf *dmabuf;

	stub_pin_calls = 0;
	kunit_activate_static_stub(test, udmabuf_pin_folios, pin_counted);
	dmabuf = create_ok(test, &item, 1);
	KUNIT_EXPECT_EQ(test, stub_pin_calls, 3);
	expect_vmap_bytes(test, dmabuf, expected_bytes(test, memfds, &item, 1));
}

static void export_failure_test(struct kunit *test)
{
	struct fault_setup s;

	fault_setup(test, &s);
	kunit_activate_static_stub(test, udmabuf_export, export_fails);
	expect_create_fails(test, &s, -ENOSPC);
}

/*
 * Allocation failure, injected: @op runs with the test's allocations
 * failing from the first on, then from the second on, and so on, until it
 * makes every allocation it needs. With @only_nth, only the first fails,
 * then only the second, and so on, so that the kernel may recover from
 * it (a kvmalloc() falling back to vmalloc(), a trim kept larger). Each
 * run that fails must return @err and leave @s as at its snapshot, and so
 * must each run that went through once @undo has released what it made.
 * Returns how many runs met an injected failure.
 */
struct fault_op {
	void (*prepare)(struct fault_op *op);	/* before each run, if set */
	int (*run)(struct fault_op *op);
	void (*undo)(struct fault_op *op);	/* after each run, if set */
	bool only_nth;
	int err;
	struct kunit *test;
	struct fault_setup *s;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	struct iosys_map map;
	void __user *user;
	unsigned long addr;
	long fd;
};

static unsigned int fail_each_allocation(struct fault_op *op)
{
	struct kunit *test = op->test;
	unsigned int nth, recovered = 0;
	bool failed;
	int ret;

	udmabuf_test_faults_init(test);
	for (nth = 1; nth <= 2000; nth++) {
		if (op->prepare)
			op->prepare(op);
		if (op->only_nth)
			udmabuf_test_fail_nth(nth);
		else
			udmabuf_test_fail_from(nth);
		ret = op->run(op);
		failed = udmabuf_test_fail_stop();
		if (op->undo)
			op->undo(op);
		/*
		 * Done when the run goes through: with every allocation from
		 * the nth on failing, none of them was needed (a failure met
		 * on the way was one the kernel does without, such as
		 * allocation profiling's own per-slab vector).
		 */
		if (!failed || (!ret && !op->only_nth)) {
			KUNIT_EXPECT_EQ(test, ret, 0);
			kunit_info(test, "%u allocations failed in turn, %u recovered from\n",
				   nth - 1, recovered);
			return nth - 1;
		}
		if (ret)
			KUNIT_EXPECT_EQ_MSG(test, ret, op->err,
					    "allocation %u failing", nth);
		else
			recovered++;
		fault_expect_released(test, op->s);
	}
	KUNIT_FAIL(test, "still failing after %u allocations", nth);
	return nth;
}

static int run_ioctl(struct fault_op *op)
{
	op->fd = udmabuf_ioctl(NULL, UDMABUF_CREATE_LIST,
			       (unsigned long)op->user);
	return op->fd < 0 ? op->fd : 0;
}

static void close_ioctl_fd(struct fault_op *op)
{
	if (op->fd >= 0)
		close_now(op->fd);
}

static const bool fault_modes[] = { false, true };

static void fault_mode_desc(const bool *only_nth, char *desc)
{
	strscpy(desc, *only_nth ? "only the nth" : "from the nth on",
		KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(fault_mode, fault_modes, fault_mode_desc);

/*
 * Every allocation of the ioctl failing in turn (the item copy, the
 * buffer, the pin batch, slice growth, the trim, the export, the
 * descriptor): -ENOMEM, no pin and no allocation left, or a buffer made
 * all the same when the kernel recovers and only the nth fails. Then the
 * same list makes a buffer.
 */
static void ioctl_allocation_failure_at_each_point_test(struct kunit *test)
{
	struct fault_setup s;
	struct fault_op op = {
		.run = run_ioctl, .undo = close_ioctl_fd, .err = -ENOMEM,
		.test = test, .s = &s,
		.only_nth = *(const bool *)test->param_value,
	};

	fault_setup(test, &s);
	op.user = user_list(test, 0, s.items, 8);
	fault_snapshot(test, &s);
	KUNIT_EXPECT_GE(test, fail_each_allocation(&op), 4);
	fault_expect_released(test, &s);
}

/* A buffer of the setup's items, taken as the snapshot with it alive. */
static struct dma_buf *fault_buffer(struct kunit *test, struct fault_setup *s)
{
	struct dma_buf *dmabuf;

	fault_setup(test, s);
	dmabuf = create_ok(test, s->items, 8);
	fault_snapshot(test, s);
	return dmabuf;
}

static int run_map_attachment(struct fault_op *op)
{
	op->sgt = dma_buf_map_attachment_unlocked(op->attach, DMA_TO_DEVICE);
	return PTR_ERR_OR_ZERO(op->sgt);
}

/*
 * An importer's map with each allocation failing in turn (the table, its
 * chained entries): -ENOMEM and nothing left; then the map works.
 */
static void map_allocation_failure_at_each_point_test(struct kunit *test)
{
	struct fault_setup s;
	struct fault_op op = {
		.run = run_map_attachment, .err = -ENOMEM, .test = test,
		.s = &s,
	};

	op.dmabuf = fault_buffer(test, &s);
	op.attach = attach_importer(test, op.dmabuf);
	fault_snapshot(test, &s);
	KUNIT_EXPECT_GE(test, fail_each_allocation(&op), 2);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, op.sgt);
	dma_buf_unmap_attachment_unlocked(op.attach, op.sgt, DMA_TO_DEVICE);
	dma_buf_detach(op.dmabuf, op.attach);
	udmabuf_test_expect_allocs(test, &s.allocs);
}

static int run_begin_cpu_access(struct fault_op *op)
{
	return dma_buf_begin_cpu_access(op->dmabuf, DMA_FROM_DEVICE);
}

/* A failed begin leaves no bracket open: its end is refused. */
static void undo_cpu_access(struct fault_op *op)
{
	struct udmabuf *ubuf = op->dmabuf->priv;

	if (!ubuf->cpu_sgt)
		KUNIT_EXPECT_EQ(op->test, -EINVAL,
				dma_buf_end_cpu_access(op->dmabuf,
						       DMA_FROM_DEVICE));
}

static void cpu_access_allocation_failure_at_each_point_test(struct kunit *test)
{
	struct fault_setup s;
	struct fault_op op = {
		.run = run_begin_cpu_access, .undo = undo_cpu_access,
		.err = -ENOMEM, .test = test, .s = &s,
	};

	op.dmabuf = fault_buffer(test, &s);
	KUNIT_EXPECT_GE(test, fail_each_allocation(&op), 2);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(op.dmabuf,
							DMA_FROM_DEVICE));
}

static int run_vmap(struct fault_op *op)
{
	int ret;

	/* The op itself: the dma-buf core WARNs on any vmap failure. */
	dma_resv_lock(op->dmabuf->resv, NULL);
	ret = op->dmabuf->ops->vmap(op->dmabuf, &op->map);
	dma_resv_unlock(op->dmabuf->resv);
	return ret;
}

/*
 * vmap with each allocation failing in turn (the page array, vmap's own
 * area and page tables): -ENOMEM, nothing left; then the bytes read right.
 */
static void vmap_allocation_failure_at_each_point_test(struct kunit *test)
{
	struct fault_setup s;
	struct fault_op op = {
		.run = run_vmap, .err = -ENOMEM, .test = test, .s = &s,
	};

	op.dmabuf = fault_buffer(test, &s);
	KUNIT_EXPECT_GE(test, fail_each_allocation(&op), 2);
	expect_same_bytes(test, op.map.vaddr, fault_expected_bytes(test, &s),
			  op.dmabuf->size);
	dma_resv_lock(op.dmabuf->resv, NULL);
	op.dmabuf->ops->vunmap(op.dmabuf, &op.map);
	dma_resv_unlock(op.dmabuf->resv);
}

static void prepare_mapping(struct fault_op *op)
{
	op->addr = map_buffer(op->test, op->dmabuf, op->dmabuf->size,
			      MAP_SHARED, 0);
	KUNIT_ASSERT_FALSE(op->test, IS_ERR_VALUE(op->addr));
}

/* The mapping's first fault, at its first page (see call_fault()). */
static int run_first_fault(struct fault_op *op)
{
	return call_fault(op->addr);
}

/* Unmapped, so that the next fault needs page tables again. */
static void undo_mapping(struct fault_op *op)
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
	struct fault_setup s;
	struct fault_op op = {
		.prepare = prepare_mapping, .run = run_first_fault,
		.undo = undo_mapping, .err = -ENOMEM, .test = test, .s = &s,
	};
	u8 *got;

	op.dmabuf = fault_buffer(test, &s);
	KUNIT_EXPECT_GE(test, fail_each_allocation(&op), 2);

	got = test_kvmalloc(test, op.dmabuf->size);
	prepare_mapping(&op);
	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)op.addr,
						op.dmabuf->size));
	expect_same_bytes(test, got, fault_expected_bytes(test, &s),
			  op.dmabuf->size);
	undo_mapping(&op);
}

/*
 * The mapping's first fault through the core's fault path, page tables
 * and all: 0 only when the faulting page is mapped afterwards, -ENOMEM for
 * VM_FAULT_OOM.
 */
static int run_core_fault(struct fault_op *op)
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

/*
 * The same through the core: a fault whose page table cannot be
 * allocated says VM_FAULT_OOM, never that it mapped the page.
 */
static void core_fault_allocation_failure_at_each_point_test(struct kunit *test)
{
	const bool *only_nth = test->param_value;
	struct fault_setup s;
	struct fault_op op = {
		.prepare = prepare_mapping, .run = run_core_fault,
		.undo = undo_mapping, .err = -ENOMEM, .test = test, .s = &s,
		.only_nth = *only_nth,
	};

	op.dmabuf = fault_buffer(test, &s);
	KUNIT_EXPECT_GE(test, fail_each_allocation(&op), 1);
}

static int dma_map_fails(struct device *dev, struct sg_table *sgt,
			 enum dma_data_direction dir, unsigned long attrs)
{
	return -EIO;
}

/*
 * DMA mapping failing: an importer's map and a CPU access bracket both
 * fail with its errno, leave nothing allocated, and work once it works.
 */
static void dma_map_failure_test(struct kunit *test)
{
	struct fault_setup s;
	struct dma_buf *dmabuf = fault_buffer(test, &s);
	struct dma_buf_attachment *attach = attach_importer(test, dmabuf);
	struct sg_table *sgt;

	fault_snapshot(test, &s);
	kunit_activate_static_stub(test, udmabuf_dma_map, dma_map_fails);
	sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, -EIO, PTR_ERR_OR_ZERO(sgt));
	KUNIT_EXPECT_EQ(test, -EIO,
			dma_buf_begin_cpu_access(dmabuf, DMA_FROM_DEVICE));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			dma_buf_end_cpu_access(dmabuf, DMA_FROM_DEVICE));
	fault_expect_released(test, &s);
	kunit_deactivate_static_stub(test, udmabuf_dma_map);

	sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, sgt);
	if (!IS_ERR(sgt))
		dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_TO_DEVICE);
	dma_buf_detach(dmabuf, attach);
	KUNIT_EXPECT_EQ(test, 0,
			dma_buf_begin_cpu_access(dmabuf, DMA_FROM_DEVICE));
	KUNIT_EXPECT_EQ(test, 0,
			dma_buf_end_cpu_access(dmabuf, DMA_FROM_DEVICE));
}

/*
 * No descriptor left for the new dma-buf: the ioctl fails with EMFILE
 * and the buffer, already exported, is released through the dma-buf.
 */
static void fd_install_failure_test(struct kunit *test)
{
	struct test_memfd *memfd = sealed_memfd(test, 4);
	struct folio_counts *before = folio_counts(test, memfd);
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
	expect_unpinned(test, memfd, before);
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
			      struct test_memfd **files,
			      const struct udmabuf_create_item *items, u32 n)
{
	u8 *want = c->want, *got = c->got;
	size_t done = 0;
	u64 off;
	u32 k;

	for (k = 0; k < n; k++) {
		for (off = 0; off < items[k].size;
		     off += PAGE_SIZE, done += PAGE_SIZE) {
			fill_pattern(want, files[k]->seed, items[k].offset + off,
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
			       struct dma_buf *dmabuf, struct test_memfd **files,
			       const struct udmabuf_create_item *items, u32 n)
{
	unsigned long addr;

	addr = map_buffer(test, dmabuf, dmabuf->size, MAP_SHARED, 0);
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
	struct fault_setup s;
	struct udmabuf_create_item items[3];
	struct test_memfd *files[3];
	struct soak_check c = { };
	struct dma_buf *dmabuf;
	struct iosys_map map;
	u32 i, seed = 1;
	long free_pages;

	c.want = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	c.got = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, c.want);
	KUNIT_ASSERT_NOT_NULL(test, c.got);
	fault_setup(test, &s);
	free_pages = global_zone_page_state(NR_FREE_PAGES);
	for (i = 0; i < SOAK_BUFFERS; i++) {
		u32 n = 1 + i % 3, k;

		for (k = 0; k < n; k++) {
			u32 first, pages;

			seed = seed * 1103515245 + 12345;
			first = (seed >> 8) % 90;
			pages = 1 + (seed >> 20) % (96 - first);
			files[k] = s.memfds[(i + k) % 3];
			items[k] = item_of(files[k], first, pages);
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
	fault_expect_released(test, &s);
	/* Only reported: caches of the rest of the kernel move it too. */
	kunit_info(test, "free pages: %ld more after than before\n",
		   (long)global_zone_page_state(NR_FREE_PAGES) - free_pages);
}

/* The distinct folios of pages [@first, @first + @nr) of @memfd. */
static u32 distinct_folios(struct kunit *test, struct test_memfd *memfd,
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
	struct test_memfd *memfd = sealed_memfd(test, nr);
	struct udmabuf_create_item item = item_of(memfd, 0, nr);
	struct dma_buf *dmabuf = create_ok(test, &item, 1);
	struct udmabuf *ubuf = dmabuf->priv;
	size_t bytes = driver_bytes(dmabuf);
	u32 folios = distinct_folios(test, memfd, 0, nr);

	kunit_info(test, "4 KiB folios: %u pages, %u folios, %u slices, %zu bytes, %zu.%02zu bytes/page\n",
		   nr, folios, ubuf->slices.nr_slices, bytes, bytes / nr,
		   bytes * 100 / nr % 100);
	KUNIT_EXPECT_EQ(test, ubuf->slices.nr_slices, folios);
	KUNIT_EXPECT_EQ(test, ubuf->slices.capacity, folios);
	KUNIT_EXPECT_LE(test, bytes - ksize(ubuf), (size_t)folios * 16);
}

static struct kunit_case udmabuf_cases[] = {
	KUNIT_CASE(create_one_page_test),
	KUNIT_CASE(create_whole_file_test),
	KUNIT_CASE(create_list_sharing_folios_test),
	KUNIT_CASE(create_list_one_page_many_times_test),
	KUNIT_CASE(create_list_of_files_test),
	KUNIT_CASE(buffer_outlives_memfd_test),
	KUNIT_CASE(write_seal_refused_while_pinned_test),
	KUNIT_CASE(hole_punched_after_create_test),
	KUNIT_CASE(vmap_maps_every_pfn_test),
	KUNIT_CASE(mmap_reads_all_pages_in_one_fault_test),
	KUNIT_CASE(mmap_at_offset_test),
	KUNIT_CASE(mmap_writes_reach_memfd_test),
	KUNIT_CASE(mmap_private_refused_test),
	KUNIT_CASE(fault_maps_faulting_page_first_test),
	KUNIT_CASE(fault_past_buffer_end_test),
	KUNIT_CASE(insert_ptes_past_frames_test),
	KUNIT_CASE(fatal_signal_stops_pin_and_prefault_test),
	KUNIT_CASE(map_attachment_test),
	KUNIT_CASE(thp_items_inside_huge_folios_test),
	KUNIT_CASE(hugetlb_items_inside_huge_folios_test),
	KUNIT_CASE(hugetlb_unpopulated_memfd_test),
	KUNIT_CASE(hugetlb_fill_stops_at_the_item_test),
	KUNIT_CASE(hugetlb_fill_failure_waits_for_its_item_test),
	KUNIT_CASE(hugetlb_fill_under_signals_test),
	KUNIT_CASE_PARAM(huge_mapping_test, huge_backing_gen_params),
	KUNIT_CASE_SLOW(gigantic_folio_mapping_test),
	KUNIT_CASE(fault_behind_a_leaf_test),
	KUNIT_CASE(cpu_access_test),
	KUNIT_CASE(map_respects_device_segments_test),
	KUNIT_CASE(map_refuses_segments_below_a_page_test),
	KUNIT_CASE(cpu_access_and_importers_test),
	KUNIT_CASE(cpu_access_buffers_sharing_pages_test),
	KUNIT_CASE(cpu_access_keeps_no_mapping_test),
	KUNIT_CASE(cpu_access_syncs_each_page_once_test),
	KUNIT_CASE(cpu_access_keeps_direction_test),
	KUNIT_CASE(cpu_access_with_nothing_to_sync_test),
	KUNIT_CASE(cpu_access_on_this_machine_test),
	KUNIT_CASE(first_sync_race_test),
	KUNIT_CASE_PARAM(refusal_test, refusal_gen_params),
	KUNIT_CASE(ioctl_create_list_test),
	KUNIT_CASE(ioctl_create_test),
	KUNIT_CASE(ioctl_create_gets_fd_zero_test),
	KUNIT_CASE(ioctl_list_count_refused_test),
	KUNIT_CASE(ioctl_list_past_int_max_test),
	KUNIT_CASE(ioctl_list_items_unreadable_test),
	KUNIT_CASE(limits_test),
	KUNIT_CASE(pin_failure_at_each_call_test),
	KUNIT_CASE(adjacent_items_pin_once_test),
	KUNIT_CASE(long_range_pins_in_growing_batches_test),
	KUNIT_CASE(pin_fewer_folios_than_asked_test),
	KUNIT_CASE(pin_returning_nothing_test),
	KUNIT_CASE(export_failure_test),
	KUNIT_CASE(memory_per_page_test),
	KUNIT_CASE_PARAM(ioctl_allocation_failure_at_each_point_test,
			 fault_mode_gen_params),
	KUNIT_CASE(map_allocation_failure_at_each_point_test),
	KUNIT_CASE(cpu_access_allocation_failure_at_each_point_test),
	KUNIT_CASE(vmap_allocation_failure_at_each_point_test),
	KUNIT_CASE(mmap_allocation_failure_at_each_point_test),
	KUNIT_CASE_PARAM(core_fault_allocation_failure_at_each_point_test,
			 fault_mode_gen_params),
	KUNIT_CASE(dma_map_failure_test),
	KUNIT_CASE(fd_install_failure_test),
	KUNIT_CASE_SLOW(soak_test),
	{}
};

static bool cpu_sync_always(struct device *dev)
{
	return true;
}

/*
 * CPU brackets take their mapping path on every machine, coherent or not,
 * unless a test says otherwise. Each case starts once the previous one's
 * buffers are released, so that its own snapshot of the driver's
 * allocations holds nothing that goes away while it runs.
 */
static int udmabuf_test_init(struct kunit *test)
{
	kunit_activate_static_stub(test, udmabuf_cpu_sync_needed,
				   cpu_sync_always);
	allocs_settled();
	return 0;
}

static struct kunit_suite udmabuf_suite = {
	.name = "udmabuf",
	.init = udmabuf_test_init,
	.test_cases = udmabuf_cases,
};

kunit_test_suite(udmabuf_suite);

MODULE_DESCRIPTION("KUnit tests for udmabuf, end to end on shmem memfds");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
