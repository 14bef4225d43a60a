// SPDX-License-Identifier: GPL-2.0
/*
 * Memfds for the udmabuf KUnit suites of the driver, and what their pages
 * hold: sealed shmem files (with small or transparent huge folios) and
 * hugetlb files, each with a descriptor as memfd_create() gives one and
 * filled with a pattern of its own; create items over them; the bytes,
 * frames and pin counts a buffer of such items must show.
 */

#include <kunit/test.h>
#include <linux/dma-buf.h>
#include <linux/fcntl.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/overflow.h>
#include <linux/pagemap.h>
#include <linux/random.h>
#include <linux/shmem_fs.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/udmabuf.h>

#include "../udmabuf.h"
#include "udmabuf-kunit-helpers.h"
#include "udmabuf-kunit-memfd.h"

/* Pages of a 2 MiB folio. */
#define HUGE_PAGES	(SZ_2M >> PAGE_SHIFT)

/* The byte at @offset of the file made with @seed. */
static u8 pattern_byte(u8 seed, loff_t offset)
{
	return seed ^ (offset >> PAGE_SHIFT) * 29 ^ (offset & 0xff);
}

/**
 * udmabuf_test_fill_pattern - write a file's pattern
 * @buf: where to write it
 * @seed: the seed of the file
 * @offset: the offset in the file @buf starts at
 * @len: bytes to write
 */
void udmabuf_test_fill_pattern(u8 *buf, u8 seed, loff_t offset, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern_byte(seed, offset + i);
}

KUNIT_DEFINE_ACTION_WRAPPER(kvfree_action, kvfree, const void *);

/**
 * udmabuf_test_kvmalloc - memory for the rest of the test
 * @test: the running test
 * @size: bytes, possibly more than kmalloc() can give
 *
 * Return: the memory, freed when the test ends.
 */
void *udmabuf_test_kvmalloc(struct kunit *test, size_t size)
{
	void *p = kvmalloc(size, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, p);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, kvfree_action, p));
	return p;
}

/**
 * udmabuf_test_kvfree - free memory of udmabuf_test_kvmalloc() now
 * @test: the running test
 * @p: the memory
 */
void udmabuf_test_kvfree(struct kunit *test, void *p)
{
	kunit_release_action(test, kvfree_action, p);
}

static void memfd_close(void *ctx)
{
	struct udmabuf_test_memfd *memfd = ctx;

	close_fd(memfd->fd);
	fput(memfd->file);
}

/**
 * udmabuf_test_close_memfd - close a memfd before the test ends
 * @test: the running test
 * @memfd: a memfd of the test's
 *
 * Closes its descriptor and puts the test's reference to its file.
 */
void udmabuf_test_close_memfd(struct kunit *test,
			      struct udmabuf_test_memfd *memfd)
{
	kunit_release_action(test, memfd_close, memfd);
}

/* Give @file a descriptor, as a memfd has; the test closes both. */
static struct udmabuf_test_memfd *install_memfd(struct kunit *test,
						struct file *file,
						u32 nr_pages)
{
	struct udmabuf_test_memfd *memfd;

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
			kunit_add_action_or_reset(test, memfd_close, memfd));
	return memfd;
}

/* Write the file's pattern through the page cache, then seal it. */
static void fill_and_seal(struct kunit *test, struct udmabuf_test_memfd *memfd,
			  int seals)
{
	size_t size = (size_t)memfd->nr_pages << PAGE_SHIFT;
	loff_t pos = 0;
	u8 *data;

	data = udmabuf_test_kvmalloc(test, size);
	udmabuf_test_fill_pattern(data, memfd->seed, 0, size);
	KUNIT_ASSERT_EQ(test, kernel_write(memfd->file, data, size, &pos),
			(ssize_t)size);
	udmabuf_test_kvfree(test, data);
	SHMEM_I(file_inode(memfd->file))->seals = seals;
}

/**
 * udmabuf_test_shmem_memfd - a shmem memfd, filled and sealed
 * @test: the running test
 * @nr_pages: its size in pages
 * @seals: the seals it carries
 *
 * Return: the memfd, closed when the test ends.
 */
struct udmabuf_test_memfd *udmabuf_test_shmem_memfd(struct kunit *test,
						    u32 nr_pages, int seals)
{
	struct udmabuf_test_memfd *memfd;

	memfd = install_memfd(test, shmem_file_setup("udmabuf-kunit",
						     (loff_t)nr_pages << PAGE_SHIFT,
						     0), nr_pages);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, memfd);
	fill_and_seal(test, memfd, seals);
	return memfd;
}

/**
 * udmabuf_test_sealed_memfd - a shmem memfd the driver accepts
 * @test: the running test
 * @nr_pages: its size in pages
 *
 * Return: the memfd, filled and sealed against shrinking, closed when the
 * test ends.
 */
struct udmabuf_test_memfd *udmabuf_test_sealed_memfd(struct kunit *test,
						     u32 nr_pages)
{
	return udmabuf_test_shmem_memfd(test, nr_pages, F_SEAL_SHRINK);
}

KUNIT_DEFINE_ACTION_WRAPPER(kern_unmount_action, kern_unmount,
			    struct vfsmount *);

/**
 * udmabuf_test_thp_memfd - a shmem memfd of 2 MiB folios
 * @test: the running test; skipped where the kernel has no THP or shmem
 *	gives smaller folios
 * @nr_huge: its size in 2 MiB folios
 *
 * The file comes from a tmpfs mounted huge=always.
 *
 * Return: the memfd, filled and sealed against shrinking.
 */
struct udmabuf_test_memfd *udmabuf_test_thp_memfd(struct kunit *test,
						  u32 nr_huge)
{
	struct file_system_type *tmpfs;
	struct udmabuf_test_memfd *memfd;
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

#if IS_ENABLED(CONFIG_HUGETLBFS)
/**
 * udmabuf_test_hugetlb_memfd_of - an empty hugetlb memfd
 * @test: the running test; skipped when no such file can be made
 * @size: its size in bytes
 * @page_shift: its pages are 1 << @page_shift bytes (0: the default size)
 *
 * Return: the memfd, sealed against shrinking, nothing written yet.
 */
struct udmabuf_test_memfd *udmabuf_test_hugetlb_memfd_of(struct kunit *test,
							 size_t size,
							 int page_shift)
{
	struct udmabuf_test_memfd *memfd;
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

/**
 * udmabuf_test_hugetlb_memfd - an empty hugetlb memfd of 2 MiB pages
 * @test: the running test
 * @nr_huge: its size in 2 MiB pages
 *
 * Return: the memfd, as udmabuf_test_hugetlb_memfd_of() makes it.
 */
struct udmabuf_test_memfd *udmabuf_test_hugetlb_memfd(struct kunit *test,
						      u32 nr_huge)
{
	return udmabuf_test_hugetlb_memfd_of(test, nr_huge * SZ_2M, 0);
}

/**
 * udmabuf_test_filled_hugetlb_memfd - a hugetlb memfd of 2 MiB folios
 * @test: the running test; skipped when the pool has too few free pages
 * @nr_huge: its size in 2 MiB folios
 *
 * hugetlbfs has no write(): a buffer of the whole file allocates its
 * folios, which are then filled directly.
 *
 * Return: the memfd, filled with its pattern and sealed against
 * shrinking.
 */
struct udmabuf_test_memfd *udmabuf_test_filled_hugetlb_memfd(struct kunit *test,
							     u32 nr_huge)
{
	struct udmabuf_test_memfd *memfd;
	struct udmabuf_create_item whole;
	struct dma_buf *warm;
	struct file *file;
	u32 i;

	memfd = udmabuf_test_hugetlb_memfd(test, nr_huge);
	file = memfd->file;
	whole = udmabuf_test_item(memfd, 0, memfd->nr_pages);
	warm = udmabuf_create_dmabuf(&whole, 1);
	if (IS_ERR(warm))
		kunit_skip(test, "no free hugetlb pages: %ld", PTR_ERR(warm));
	for (i = 0; i < nr_huge; i++) {
		struct folio *folio;

		folio = filemap_get_folio(file->f_mapping, i * HUGE_PAGES);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
		KUNIT_EXPECT_TRUE(test, folio_test_hugetlb(folio));
		udmabuf_test_fill_pattern(folio_address(folio), memfd->seed,
					  (loff_t)i * SZ_2M, SZ_2M);
		folio_put(folio);
	}
	dma_buf_put(warm);
	udmabuf_test_release_files();
	return memfd;
}
#endif

/**
 * udmabuf_test_item - a create item over pages of a memfd
 * @memfd: the memfd
 * @first_page: the item's first page in the file
 * @nr_pages: its length in pages
 *
 * Return: the item.
 */
struct udmabuf_create_item udmabuf_test_item(struct udmabuf_test_memfd *memfd,
					     u32 first_page, u32 nr_pages)
{
	return (struct udmabuf_create_item) {
		.memfd = memfd->fd,
		.offset = (u64)first_page << PAGE_SHIFT,
		.size = (u64)nr_pages << PAGE_SHIFT,
	};
}

/**
 * udmabuf_test_expected_bytes - what a buffer of items must read as
 * @test: the running test
 * @memfds: the memfd of each item
 * @items: the items
 * @count: entries in @items and @memfds
 *
 * Return: the bytes, page after page, from the files' patterns; freed
 * when the test ends.
 */
u8 *udmabuf_test_expected_bytes(struct kunit *test,
				struct udmabuf_test_memfd **memfds,
				const struct udmabuf_create_item *items,
				u32 count)
{
	size_t total = 0, done = 0;
	u8 *buf;
	u32 i;

	for (i = 0; i < count; i++)
		total += items[i].size;
	buf = udmabuf_test_kvmalloc(test, total);
	for (i = 0; i < count; i++) {
		udmabuf_test_fill_pattern(buf + done, memfds[i]->seed,
					  items[i].offset, items[i].size);
		done += items[i].size;
	}
	return buf;
}

/**
 * udmabuf_test_expected_pfns - the frames of a buffer of items
 * @test: the running test
 * @memfd: the memfd of every item
 * @items: the items
 * @count: entries in @items
 * @nr_pages: the pages of all items
 *
 * Return: the frame behind each page of @items, read from the page
 * cache; freed when the test ends.
 */
unsigned long *udmabuf_test_expected_pfns(struct kunit *test,
					  struct udmabuf_test_memfd *memfd,
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

/**
 * udmabuf_test_folio_counts - pins and references of a memfd's folios
 * @test: the running test
 * @memfd: the memfd, every page of it in the page cache
 *
 * Return: the counts of each page's folio; freed when the test ends.
 */
struct udmabuf_test_counts *udmabuf_test_folio_counts(struct kunit *test,
						      struct udmabuf_test_memfd *memfd)
{
	struct address_space *mapping = memfd->file->f_mapping;
	struct udmabuf_test_counts *counts;
	u32 i;

	counts = kunit_kzalloc(test, struct_size(counts, page, memfd->nr_pages),
			       GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, counts);
	counts->nr = memfd->nr_pages;
	for (i = 0; i < memfd->nr_pages; i++) {
		struct folio *folio = filemap_get_folio(mapping, i);
		int pins;

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
		pins = udmabuf_test_folio_pins(folio);
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

/**
 * udmabuf_test_expect_pins - expect pins on a memfd's folios
 * @test: the running test
 * @memfd: the memfd
 * @before: udmabuf_test_folio_counts() of @memfd, taken earlier
 * @pins: pins each page's folio must carry more than in @before (none
 *	when NULL)
 *
 * No other reference may be more or less than in @before.
 */
void udmabuf_test_expect_pins(struct kunit *test,
			      struct udmabuf_test_memfd *memfd,
			      const struct udmabuf_test_counts *before,
			      const int *pins)
{
	struct udmabuf_test_counts *now;
	u32 i;

	now = udmabuf_test_folio_counts(test, memfd);
	for (i = 0; i < now->nr; i++) {
		KUNIT_EXPECT_EQ_MSG(test, now->page[i].pins,
				    before->page[i].pins + (pins ? pins[i] : 0),
				    "pins of page %u", i);
		KUNIT_EXPECT_EQ_MSG(test, now->page[i].refs,
				    before->page[i].refs,
				    "other references of page %u", i);
	}
}

/**
 * udmabuf_test_expect_unpinned - expect a memfd's folios as they were
 * @test: the running test
 * @memfd: the memfd
 * @before: udmabuf_test_folio_counts() of @memfd, taken earlier
 */
void udmabuf_test_expect_unpinned(struct kunit *test,
				  struct udmabuf_test_memfd *memfd,
				  const struct udmabuf_test_counts *before)
{
	udmabuf_test_expect_pins(test, memfd, before, NULL);
}

/**
 * udmabuf_test_expect_bytes - expect two buffers to hold the same bytes
 * @test: the running test
 * @got: what was read
 * @want: what it must be
 * @len: bytes in each
 *
 * Reports only where they first differ: a failing KUNIT_EXPECT_MEMEQ() on
 * a whole buffer dumps every byte of it.
 */
void udmabuf_test_expect_bytes(struct kunit *test, const u8 *got,
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
