/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memfds for the udmabuf KUnit suites of the driver, create items over
 * them, and the bytes, frames and pin counts a buffer of such items must
 * show.
 */
#ifndef _UDMABUF_KUNIT_MEMFD_H
#define _UDMABUF_KUNIT_MEMFD_H

#include <linux/types.h>
#include <linux/udmabuf.h>

struct file;
struct kunit;

/**
 * struct udmabuf_test_memfd - a memfd of the test's
 * @file: its file: shmem or hugetlbfs, sealed as memfd_create() and
 *	F_ADD_SEALS would leave it
 * @fd: its descriptor in the test's task
 * @nr_pages: its size in pages
 * @seed: the seed of the pattern it holds
 */
struct udmabuf_test_memfd {
	struct file *file;
	int fd;
	u32 nr_pages;
	u8 seed;
};

/**
 * struct udmabuf_test_counts - pins and references of a memfd's folios
 * @nr: pages counted
 * @page: the counts of each page's folio
 * @page.pins: its pins
 * @page.refs: its other references
 *
 * The page cache holds the folios, so they can be counted again once a
 * buffer is gone.
 */
struct udmabuf_test_counts {
	u32 nr;
	struct {
		int pins;
		int refs;
	} page[];
};

void udmabuf_test_fill_pattern(u8 *buf, u8 seed, loff_t offset, size_t len);
void *udmabuf_test_kvmalloc(struct kunit *test, size_t size);
void udmabuf_test_kvfree(struct kunit *test, void *p);

struct udmabuf_test_memfd *udmabuf_test_shmem_memfd(struct kunit *test,
						    u32 nr_pages, int seals);
struct udmabuf_test_memfd *udmabuf_test_sealed_memfd(struct kunit *test,
						     u32 nr_pages);
struct udmabuf_test_memfd *udmabuf_test_thp_memfd(struct kunit *test,
						  u32 nr_huge);
/* Only with CONFIG_HUGETLBFS: */
struct udmabuf_test_memfd *udmabuf_test_hugetlb_memfd_of(struct kunit *test,
							 size_t size,
							 int page_shift);
struct udmabuf_test_memfd *udmabuf_test_hugetlb_memfd(struct kunit *test,
						      u32 nr_huge);
struct udmabuf_test_memfd *udmabuf_test_filled_hugetlb_memfd(struct kunit *test,
							     u32 nr_huge);
void udmabuf_test_close_memfd(struct kunit *test,
			      struct udmabuf_test_memfd *memfd);

struct udmabuf_create_item udmabuf_test_item(struct udmabuf_test_memfd *memfd,
					     u32 first_page, u32 nr_pages);
u8 *udmabuf_test_expected_bytes(struct kunit *test,
				struct udmabuf_test_memfd **memfds,
				const struct udmabuf_create_item *items,
				u32 count);
unsigned long *udmabuf_test_expected_pfns(struct kunit *test,
					  struct udmabuf_test_memfd *memfd,
					  const struct udmabuf_create_item *items,
					  u32 count, u32 nr_pages);

struct udmabuf_test_counts *udmabuf_test_folio_counts(struct kunit *test,
						      struct udmabuf_test_memfd *memfd);
void udmabuf_test_expect_pins(struct kunit *test,
			      struct udmabuf_test_memfd *memfd,
			      const struct udmabuf_test_counts *before,
			      const int *pins);
void udmabuf_test_expect_unpinned(struct kunit *test,
				  struct udmabuf_test_memfd *memfd,
				  const struct udmabuf_test_counts *before);
void udmabuf_test_expect_bytes(struct kunit *test, const u8 *got,
			       const u8 *want, size_t len);

#endif /* _UDMABUF_KUNIT_MEMFD_H */
