/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Buffers for the udmabuf KUnit suites of the driver: made, read through
 * vmap, importers and user mappings, and made to fail at each allocation
 * in turn.
 */
#ifndef _UDMABUF_KUNIT_BUFFERS_H
#define _UDMABUF_KUNIT_BUFFERS_H

#include <linux/iosys-map.h>
#include <linux/types.h>
#include <linux/udmabuf.h>

#include "udmabuf-kunit-helpers.h"
#include "udmabuf-kunit-memfd.h"

struct device;
struct dma_buf;
struct dma_buf_attachment;
struct kunit;
struct page;
struct scatterlist;
struct sg_table;

/**
 * struct udmabuf_test_fault_setup - what the failure cases start from
 * @memfds: three memfds of 200 pages
 * @before: the pins and references of each memfd's folios at the snapshot
 * @allocs: the driver's allocations at the snapshot
 * @items: eight items over the memfds: many pin calls and many growths
 */
struct udmabuf_test_fault_setup {
	struct udmabuf_test_memfd *memfds[3];
	struct udmabuf_test_counts *before[3];
	struct udmabuf_allocs allocs;
	struct udmabuf_create_item items[8];
};

/**
 * struct udmabuf_test_fault_op - an op for udmabuf_test_fail_each_allocation()
 * @prepare: called before each run, if set
 * @run: the op; 0 or an errno
 * @undo: called after each run, if set
 * @only_nth: fail only the nth allocation, not every one from the nth on
 * @err: the errno a failed run must return
 * @test: the running test
 * @s: the setup the op leaves as at its snapshot
 * @dmabuf: the buffer the op works on, if any
 * @attach: an attachment of @dmabuf, if any
 * @sgt: the table the op mapped, if any
 * @map: the vmap the op made, if any
 * @user: a user copy of a create list, if any
 * @addr: a user mapping of @dmabuf, if any
 * @fd: the descriptor the op got, if any
 */
struct udmabuf_test_fault_op {
	void (*prepare)(struct udmabuf_test_fault_op *op);
	int (*run)(struct udmabuf_test_fault_op *op);
	void (*undo)(struct udmabuf_test_fault_op *op);
	bool only_nth;
	int err;
	struct kunit *test;
	struct udmabuf_test_fault_setup *s;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	struct iosys_map map;
	void __user *user;
	unsigned long addr;
	long fd;
};

void udmabuf_test_put_later(struct kunit *test, struct dma_buf *dmabuf);
struct dma_buf *udmabuf_test_create(struct kunit *test,
				    const struct udmabuf_create_item *items,
				    u32 count);
void udmabuf_test_put_now(struct kunit *test, struct dma_buf *dmabuf);
void udmabuf_test_close_now(int fd);
void udmabuf_test_expect_vmap_bytes(struct kunit *test, struct dma_buf *dmabuf,
				    const u8 *expected);
void udmabuf_test_expect_vmap_pfns(struct kunit *test, struct dma_buf *dmabuf,
				   const unsigned long *pfns);
size_t udmabuf_test_driver_bytes(struct dma_buf *dmabuf);
void udmabuf_test_set_param(struct kunit *test, int *param, int value);

unsigned long udmabuf_test_map(struct kunit *test, struct dma_buf *dmabuf,
			       unsigned long len, unsigned long flags,
			       unsigned long pgoff);
int udmabuf_test_call_fault(unsigned long addr);
int udmabuf_test_call_fault_pmd(unsigned long addr);
void udmabuf_test_raise_signal(int sig);
void udmabuf_test_raise_fatal_signal(void);

struct device *udmabuf_test_importer(struct kunit *test,
				     unsigned int max_segment,
				     unsigned long boundary_mask);
struct dma_buf_attachment *udmabuf_test_attach(struct kunit *test,
					       struct dma_buf *dmabuf);
struct page *udmabuf_test_sg_page(struct scatterlist *sg);
void udmabuf_test_expect_dma_view(struct kunit *test, struct device *dev,
				  struct sg_table *sgt,
				  const unsigned long *pfns, const u8 *bytes,
				  u32 nr_pages);
bool udmabuf_test_dma_is_direct(struct device *dev);
void udmabuf_test_dma_write(struct kunit *test, struct device *dev,
			    struct sg_table *sgt, const unsigned long *pfns,
			    const u8 *bytes, u32 nr_pages);
void udmabuf_test_expect_attachment_runs(struct kunit *test,
					 struct dma_buf *dmabuf,
					 const unsigned long *pfns,
					 const u8 *bytes, u32 nr_pages);

struct udmabuf_allocs udmabuf_test_allocs_settled(void);
void udmabuf_test_fault_snapshot(struct kunit *test,
				 struct udmabuf_test_fault_setup *s);
void udmabuf_test_fault_setup(struct kunit *test,
			      struct udmabuf_test_fault_setup *s);
void udmabuf_test_expect_released(struct kunit *test,
				  struct udmabuf_test_fault_setup *s);
u8 *udmabuf_test_fault_bytes(struct kunit *test,
			     struct udmabuf_test_fault_setup *s);
void udmabuf_test_expect_create_fails(struct kunit *test,
				      struct udmabuf_test_fault_setup *s,
				      int err);
struct dma_buf *udmabuf_test_fault_buffer(struct kunit *test,
					  struct udmabuf_test_fault_setup *s);
unsigned int udmabuf_test_fail_each_allocation(struct udmabuf_test_fault_op *op);
void udmabuf_test_fault_mode_desc(const bool *only_nth, char *desc);

int udmabuf_test_init(struct kunit *test);

#endif /* _UDMABUF_KUNIT_BUFFERS_H */
