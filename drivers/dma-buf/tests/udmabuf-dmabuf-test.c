// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the dma-buf side of a udmabuf (udmabuf-dmabuf.c):
 * importers' sg tables and DMA segments, CPU access brackets, vmap, and
 * allocations and DMA mappings failing.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/panic.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/swiotlb.h>
#include <linux/udmabuf.h>
#include <linux/workqueue.h>

#include "../udmabuf.h"
#include "udmabuf-kunit-buffers.h"
#include "udmabuf-kunit-helpers.h"
#include "udmabuf-kunit-memfd.h"

#define PG(n)	((u64)(n) * PAGE_SIZE)

/* vmap maps each page by its own frame, not its folio's head page. */
static void vmap_maps_every_pfn_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 12);
	struct udmabuf_create_item items[] = {
		udmabuf_test_item(memfd, 3, 6), udmabuf_test_item(memfd, 0, 2),
	};

	struct dma_buf *dmabuf = udmabuf_test_create(test, items, 2);

	udmabuf_test_expect_vmap_pfns(test, dmabuf,
				      udmabuf_test_expected_pfns(test, memfd,
								 items, 2, 8));
}

/*
 * An importer's sg table and DMA segments: the frames of the file's page
 * cache, holding the file's bytes, in buffer order.
 */
static void map_attachment_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 16);
	struct udmabuf_test_memfd *memfds[] = { memfd, memfd };
	struct udmabuf_create_item items[] = {
		udmabuf_test_item(memfd, 0, 16), udmabuf_test_item(memfd, 4, 4),
	};
	unsigned long *pfns =
		udmabuf_test_expected_pfns(test, memfd, items, 2, 20);
	u8 *bytes = udmabuf_test_expected_bytes(test, memfds, items, 2);

	udmabuf_test_expect_attachment_runs(test,
					    udmabuf_test_create(test, items, 2),
					    pfns, bytes, 20);
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
		udmabuf_test_fill_pattern(cpu_map_want.bytes + PG(i), seed,
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
	udmabuf_test_expect_dma_view(test, dev, sgt, cpu_map_want.pfns,
				     cpu_map_want.bytes, cpu_map_want.nr_pages);
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
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_test_memfd *memfds[] = { memfd, memfd };
	struct udmabuf_create_item items[] = {
		udmabuf_test_item(memfd, 2, 1), udmabuf_test_item(memfd, 0, 3),
	};
	struct udmabuf_create_item named = udmabuf_test_item(memfd, 0, 3);
	unsigned long *pfns =
		udmabuf_test_expected_pfns(test, memfd, &named, 1, 3);
	struct dma_buf *dmabuf = udmabuf_test_create(test, items, 2);
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
	cpu_map_want.bytes = udmabuf_test_kvmalloc(test,
						   PG(ARRAY_SIZE(frames)));
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
	udmabuf_test_expect_bytes(test, map.vaddr,
				  udmabuf_test_expected_bytes(test, memfds,
							      items, 2),
				  dmabuf->size);
	for (i = 0; i < ARRAY_SIZE(file_page); i++)
		udmabuf_test_fill_pattern((u8 *)map.vaddr + PG(i), seed,
					  PG(file_page[i]), PAGE_SIZE);
	dma_buf_vunmap_unlocked(dmabuf, &map);
	want_cpu_map(frames, ARRAY_SIZE(frames), seed);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_BIDIRECTIONAL));
	kunit_deactivate_static_stub(test, udmabuf_dma_map);
	KUNIT_EXPECT_EQ(test, cpu_map_want.maps, 4);

	/* The file: pages 0 to 2 as written, page 3 as it was. */
	file = udmabuf_test_kvmalloc(test, PG(4));
	want = udmabuf_test_kvmalloc(test, PG(4));
	udmabuf_test_fill_pattern(want, seed, 0, PG(3));
	udmabuf_test_fill_pattern(want + PG(3), memfd->seed, PG(3), PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, kernel_read(memfd->file, file, PG(4), &pos),
			(ssize_t)PG(4));
	udmabuf_test_expect_bytes(test, file, want, PG(4));
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
	struct device *dev = udmabuf_test_importer(test, 2 * PAGE_SIZE,
						   4 * PAGE_SIZE - 1);
	struct dma_buf_attachment *attach;
	struct udmabuf_create_item item;
	struct udmabuf_test_memfd *memfd;
	struct dma_buf *dmabuf;
	struct scatterlist *sg;
	struct sg_table *sgt;
	unsigned long *pfns;
	unsigned long next;
	unsigned int i;

	memfd = udmabuf_test_filled_hugetlb_memfd(test, 1);
	/* From page 3: the first segment ends early at the boundary. */
	item = udmabuf_test_item(memfd, 3, 64);
	dmabuf = udmabuf_create_dmabuf(&item, 1);
	if (IS_ERR(dmabuf))
		kunit_skip(test, "no free hugetlb pages: %ld", PTR_ERR(dmabuf));
	udmabuf_test_put_later(test, dmabuf);
	pfns = udmabuf_test_expected_pfns(test, memfd, &item, 1, 64);

	attach = dma_buf_attach(dmabuf, dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, sgt);
	next = 0;
	for_each_sgtable_sg(sgt, sg, i) {
		phys_addr_t start = page_to_phys(udmabuf_test_sg_page(sg)) +
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
	udmabuf_test_expect_dma_view(test, dev, sgt, pfns,
				     udmabuf_test_expected_bytes(test, &memfd,
								 &item, 1),
				     64);
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
		udmabuf_test_importer(test, PAGE_SIZE / 2, ULONG_MAX),
		udmabuf_test_importer(test, UINT_MAX, PAGE_SIZE / 2 - 1),
	};
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 2);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 2);
	struct dma_buf *dmabuf = udmabuf_test_create(test, &item, 1);
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
	attach = dma_buf_attach(dmabuf, udmabuf_test_importer(test, PAGE_SIZE,
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
 * mappings overlap the bracket's cachelines, so they must be made without
 * a sync (and synced apart).
 */
static void cpu_access_and_importers_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 8);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 8);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct dma_buf_attachment *a, *b;
	struct dma_buf *dmabuf;
	struct sg_table *sa, *sb;

	dmabuf = udmabuf_test_create(test, &item, 1);
	if (dma_buf_begin_cpu_access(dmabuf, DMA_FROM_DEVICE))
		kunit_skip(test, "no DMA mapping here");
	a = udmabuf_test_attach(test, dmabuf);
	b = udmabuf_test_attach(test, dmabuf);
	sa = map_importer(test, a);
	sb = map_importer(test, b);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_FROM_DEVICE));
	unmap_importer(a, sa);
	unmap_importer(b, sb);
	udmabuf_test_put_now(test, dmabuf);

	/* Importer first, then a bracket. */
	dmabuf = udmabuf_test_create(test, &item, 1);
	a = udmabuf_test_attach(test, dmabuf);
	sa = map_importer(test, a);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_BIDIRECTIONAL));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_BIDIRECTIONAL));
	unmap_importer(a, sa);
	udmabuf_test_put_now(test, dmabuf);

	/* Only a write-only bracket, then release (unmapped as mapped). */
	dmabuf = udmabuf_test_create(test, &item, 1);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_TO_DEVICE));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf, DMA_TO_DEVICE));
	udmabuf_test_put_now(test, dmabuf);

	udmabuf_test_expect_unpinned(test, memfd, before);
	udmabuf_test_expect_allocs(test, &allocs);
}

/*
 * An importer's device and the CPU see each other's writes: at the map,
 * at each end and start of a CPU bracket, at the detach (where the core
 * unmaps). Under swiotlb a device
 * works on bounce copies that only syncs of its own mapping keep in step
 * with the buffer's pages. A second importer maps the buffer for reading
 * only and is synced in that direction (the DMA-API debugger reports a
 * sync in another).
 */
static void importers_see_cpu_writes_and_cpu_sees_theirs_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 8);
	struct udmabuf_test_memfd *memfds[] = { memfd, memfd };
	struct udmabuf_create_item items[] = {
		udmabuf_test_item(memfd, 5, 3), udmabuf_test_item(memfd, 0, 5),
	};
	unsigned long *pfns = udmabuf_test_expected_pfns(test, memfd, items,
							 2, 8);
	u8 *bytes = udmabuf_test_expected_bytes(test, memfds, items, 2);
	struct dma_buf *dmabuf = udmabuf_test_create(test, items, 2);
	struct dma_buf_attachment *rw = udmabuf_test_attach(test, dmabuf);
	struct dma_buf_attachment *ro = udmabuf_test_attach(test, dmabuf);
	struct sg_table *rw_sgt, *ro_sgt;
	struct iosys_map map;

	if (!udmabuf_test_dma_is_direct(rw->dev))
		kunit_skip(test, "DMA addresses not physical: no device to write as");
	rw_sgt = dma_buf_map_attachment_unlocked(rw, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, rw_sgt);
	ro_sgt = dma_buf_map_attachment_unlocked(ro, DMA_TO_DEVICE);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ro_sgt);
	udmabuf_test_expect_dma_view(test, rw->dev, rw_sgt, pfns, bytes, 8);
	udmabuf_test_expect_dma_view(test, ro->dev, ro_sgt, pfns, bytes, 8);

	/* The CPU writes in a bracket: both devices read it after its end. */
	KUNIT_ASSERT_EQ(test, 0, dma_buf_vmap_unlocked(dmabuf, &map));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_BIDIRECTIONAL));
	udmabuf_test_fill_pattern(bytes, memfd->seed ^ 0x11, 0, dmabuf->size);
	memcpy(map.vaddr, bytes, dmabuf->size);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_BIDIRECTIONAL));
	udmabuf_test_expect_dma_view(test, rw->dev, rw_sgt, pfns, bytes, 8);
	udmabuf_test_expect_dma_view(test, ro->dev, ro_sgt, pfns, bytes, 8);

	/* A device writes: the CPU reads it in its next bracket. */
	udmabuf_test_fill_pattern(bytes, memfd->seed ^ 0x22, 0, dmabuf->size);
	udmabuf_test_dma_write(test, rw->dev, rw_sgt, pfns, bytes, 8);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_FROM_DEVICE));
	udmabuf_test_expect_bytes(test, map.vaddr, bytes, dmabuf->size);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_FROM_DEVICE));

	/* And once the device is done with the buffer, without a bracket. */
	udmabuf_test_fill_pattern(bytes, memfd->seed ^ 0x33, 0, dmabuf->size);
	udmabuf_test_dma_write(test, rw->dev, rw_sgt, pfns, bytes, 8);
	unmap_importer(rw, rw_sgt);
	udmabuf_test_expect_bytes(test, map.vaddr, bytes, dmabuf->size);

	dma_buf_vunmap_unlocked(dmabuf, &map);
	dma_buf_unmap_attachment_unlocked(ro, ro_sgt, DMA_TO_DEVICE);
	dma_buf_detach(dmabuf, ro);
}

/*
 * A buffer of one memfd's pages, mapped by an importer whose DMA a test
 * follows: it reads what the device sees, or writes as the device would.
 */
struct device_view {
	struct udmabuf_test_memfd *memfd;
	unsigned long *pfns;
	u8 *bytes;	/* what the device reads or writes next */
	u32 nr_pages;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
};

/* @v mapped read-write; skips the test where its DMA cannot be followed. */
static void map_device_view(struct kunit *test, struct device_view *v,
			    u32 nr_pages)
{
	struct udmabuf_create_item item;

	v->memfd = udmabuf_test_sealed_memfd(test, nr_pages);
	item = udmabuf_test_item(v->memfd, 0, nr_pages);
	v->pfns = udmabuf_test_expected_pfns(test, v->memfd, &item, 1,
					     nr_pages);
	v->bytes = udmabuf_test_kvmalloc(test, PG(nr_pages));
	v->nr_pages = nr_pages;
	v->dmabuf = udmabuf_test_create(test, &item, 1);
	v->attach = udmabuf_test_attach(test, v->dmabuf);
	if (!udmabuf_test_dma_is_direct(v->attach->dev))
		kunit_skip(test, "DMA addresses not physical: no device to write as");
	v->sgt = map_importer(test, v->attach);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, v->sgt);
}

/* The device writes @v's bytes. */
static void device_view_write(struct kunit *test, const struct device_view *v)
{
	udmabuf_test_dma_write(test, v->attach->dev, v->sgt, v->pfns, v->bytes,
			       v->nr_pages);
}

/* The device reads @v's bytes. */
static void expect_device_view(struct kunit *test,
			       const struct device_view *v)
{
	udmabuf_test_expect_dma_view(test, v->attach->dev, v->sgt, v->pfns,
				     v->bytes, v->nr_pages);
}

/*
 * What a bracket does not touch stays as it is: a read-only bracket's end
 * leaves what a device wrote meanwhile, and a write-only bracket's begin
 * leaves what the CPU wrote in another bracket still open. Under swiotlb
 * either would otherwise copy stale bytes over them. An importer attached
 * but not mapped is passed over.
 */
static void brackets_leave_what_they_do_not_touch_test(struct kunit *test)
{
	struct dma_buf_attachment *unmapped;
	struct device_view v;
	struct iosys_map map;

	map_device_view(test, &v, 4);
	unmapped = udmabuf_test_attach(test, v.dmabuf);
	KUNIT_ASSERT_EQ(test, 0, dma_buf_vmap_unlocked(v.dmabuf, &map));

	/* A device writes while the CPU reads. */
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(v.dmabuf,
							  DMA_FROM_DEVICE));
	udmabuf_test_fill_pattern(v.bytes, v.memfd->seed ^ 0x44, 0, PG(4));
	device_view_write(test, &v);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(v.dmabuf,
							DMA_FROM_DEVICE));
	expect_device_view(test, &v);

	/* Two writers' brackets overlap. */
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(v.dmabuf,
							  DMA_TO_DEVICE));
	udmabuf_test_fill_pattern(v.bytes, v.memfd->seed ^ 0x55, 0, PG(4));
	memcpy(map.vaddr, v.bytes, PG(4));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(v.dmabuf,
							  DMA_TO_DEVICE));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(v.dmabuf,
							DMA_TO_DEVICE));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(v.dmabuf,
							DMA_TO_DEVICE));
	expect_device_view(test, &v);
	udmabuf_test_expect_bytes(test, map.vaddr, v.bytes, PG(4));

	dma_buf_vunmap_unlocked(v.dmabuf, &map);
	unmap_importer(v.attach, v.sgt);
	dma_buf_detach(v.dmabuf, unmapped);
}

/* A device's job on a buffer: it writes, then signals its fence. */
struct device_job {
	struct dma_fence fence;	/* first: the fence's release frees the job */
	spinlock_t lock;	/* the fence's */
	struct delayed_work work;
	struct kunit *test;
	const struct device_view *view;
};

static const char *device_job_name(struct dma_fence *fence)
{
	return "udmabuf-test";
}

static const struct dma_fence_ops device_job_ops = {
	.get_driver_name = device_job_name,
	.get_timeline_name = device_job_name,
};

static void device_job_run(struct work_struct *work)
{
	struct device_job *job = container_of(to_delayed_work(work),
					      struct device_job, work);

	device_view_write(job->test, job->view);
	dma_fence_signal(&job->fence);
}

/* The job done (or never to be), and the test's reference to it put. */
static void device_job_end(void *data)
{
	struct device_job *job = data;

	flush_delayed_work(&job->work);
	dma_fence_signal(&job->fence);
	dma_fence_put(&job->fence);
}

/*
 * A job of @view's device, tracked by the buffer's reservation with
 * @usage: it writes the view's bytes when its work runs (if it is
 * scheduled), then signals its fence. It ends at the latest when the test
 * does.
 */
static struct device_job *add_device_job(struct kunit *test,
					 const struct device_view *view,
					 enum dma_resv_usage usage)
{
	struct dma_resv *resv = view->dmabuf->resv;
	struct device_job *job = kzalloc(sizeof(*job), GFP_KERNEL);
	int ret;

	KUNIT_ASSERT_NOT_NULL(test, job);
	spin_lock_init(&job->lock);
	dma_fence_init(&job->fence, &device_job_ops, &job->lock,
		       dma_fence_context_alloc(1), 1);
	job->test = test;
	job->view = view;
	INIT_DELAYED_WORK(&job->work, device_job_run);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, device_job_end, job));
	dma_resv_lock(resv, NULL);
	ret = dma_resv_reserve_fences(resv, 1);
	if (!ret)
		dma_resv_add_fence(resv, &job->fence, usage);
	dma_resv_unlock(resv);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return job;
}

/*
 * A begin waits for the devices' work that the buffer's reservation
 * tracks before it syncs: what a device writes until it signals its fence
 * reaches the CPU. Interrupted by a signal, the wait fails the begin,
 * which then leaves no bracket begun. A device that only reads holds up
 * a begin that writes, not one that reads.
 */
static void begin_waits_for_the_devices_work_test(struct kunit *test)
{
	struct device_job *writer, *reader;
	struct device_view v;
	struct iosys_map map;

	map_device_view(test, &v, 2);
	udmabuf_test_fill_pattern(v.bytes, v.memfd->seed ^ 0x66, 0, PG(2));
	writer = add_device_job(test, &v, DMA_RESV_USAGE_WRITE);

	udmabuf_test_raise_signal(SIGUSR1);
	KUNIT_EXPECT_EQ(test, -ERESTARTSYS,
			dma_buf_begin_cpu_access(v.dmabuf, DMA_FROM_DEVICE));
	flush_signals(current);
	KUNIT_EXPECT_EQ(test, -EINVAL,
			dma_buf_end_cpu_access(v.dmabuf, DMA_FROM_DEVICE));

	schedule_delayed_work(&writer->work, msecs_to_jiffies(100));
	KUNIT_EXPECT_EQ(test, 0,
			dma_buf_begin_cpu_access(v.dmabuf, DMA_FROM_DEVICE));
	KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(&writer->fence));
	KUNIT_ASSERT_EQ(test, 0, dma_buf_vmap_unlocked(v.dmabuf, &map));
	udmabuf_test_expect_bytes(test, map.vaddr, v.bytes, PG(2));
	dma_buf_vunmap_unlocked(v.dmabuf, &map);
	KUNIT_EXPECT_EQ(test, 0,
			dma_buf_end_cpu_access(v.dmabuf, DMA_FROM_DEVICE));
	kunit_release_action(test, device_job_end, writer);

	/* A reading device's fence, never signalled until the end. */
	reader = add_device_job(test, &v, DMA_RESV_USAGE_READ);
	udmabuf_test_raise_signal(SIGUSR1);
	KUNIT_EXPECT_EQ(test, 0,
			dma_buf_begin_cpu_access(v.dmabuf, DMA_FROM_DEVICE));
	KUNIT_EXPECT_EQ(test, 0,
			dma_buf_end_cpu_access(v.dmabuf, DMA_FROM_DEVICE));
	KUNIT_EXPECT_EQ(test, -ERESTARTSYS,
			dma_buf_begin_cpu_access(v.dmabuf, DMA_TO_DEVICE));
	flush_signals(current);
	kunit_release_action(test, device_job_end, reader);

	unmap_importer(v.attach, v.sgt);
}

/* The frame of page @index of a memfd of small folios. */
static unsigned long memfd_page_pfn(struct kunit *test,
				    struct udmabuf_test_memfd *memfd,
				    pgoff_t index)
{
	struct folio *folio = filemap_get_folio(memfd->file->f_mapping, index);
	unsigned long pfn;

	KUNIT_ASSERT_FALSE(test, IS_ERR(folio));
	pfn = folio_pfn(folio) + index - folio->index;
	folio_put(folio);
	return pfn;
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
	struct udmabuf_test_memfd *own = udmabuf_test_sealed_memfd(test, 4);
	struct udmabuf_test_memfd *shared = udmabuf_test_sealed_memfd(test, 2);
	struct udmabuf_test_counts *own_before =
		udmabuf_test_folio_counts(test, own);
	struct udmabuf_test_counts *shared_before =
		udmabuf_test_folio_counts(test, shared);
	unsigned long before_shared = memfd_page_pfn(test, shared, 0) - 1;
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	long errors = udmabuf_test_dma_errors();
	struct udmabuf_create_item items[2][2];
	struct dma_buf *dmabufs[2];
	struct udmabuf *ubuf;
	u32 i, k, page = 0;

	if (errors < 0)
		kunit_skip(test, "no DMA-API debugger at work");
	for (k = 0; k < 2; k++, page += 2) {
		/*
		 * The shared pages must not join the first entry: an own page
		 * whose frame comes right before them gives way to the next.
		 */
		if (memfd_page_pfn(test, own, page) == before_shared)
			page++;
		items[k][0] = udmabuf_test_item(own, page, 1);
		items[k][1] = udmabuf_test_item(shared, 0, 2);
		dmabufs[k] = udmabuf_test_create(test, items[k], 2);
		if (dma_buf_begin_cpu_access(dmabufs[k], DMA_BIDIRECTIONAL))
			kunit_skip(test, "no DMA mapping here");
		ubuf = dmabufs[k]->priv;
		KUNIT_ASSERT_GE(test, ubuf->cpu_sgt->orig_nents, 2);
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
	udmabuf_test_put_now(test, dmabufs[0]);
	udmabuf_test_put_now(test, dmabufs[1]);
	udmabuf_test_expect_unpinned(test, own, own_before);
	udmabuf_test_expect_unpinned(test, shared, shared_before);
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
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 1);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 1);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	bool tainted = test_taint(TAINT_WARN);
	struct dma_buf *dmabufs[9];
	long mappings;
	u32 k;

	for (k = 0; k < ARRAY_SIZE(dmabufs); k++)
		dmabufs[k] = udmabuf_test_create(test, &item, 1);
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
		udmabuf_test_put_now(test, dmabufs[k]);
	udmabuf_test_expect_unpinned(test, memfd, before);
	udmabuf_test_expect_allocs(test, &allocs);
}

/*
 * A buffer that names one page nine times syncs it once: the CPU bracket's
 * table has one entry of one page, and the DMA-API debugger (which WARNs
 * past eight device-writable mappings of a cacheline) counts no error.
 */
static void cpu_access_syncs_each_page_once_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 2);
	struct udmabuf_test_counts *before =
		udmabuf_test_folio_counts(test, memfd);
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
		items[i] = udmabuf_test_item(memfd, 0, 1);
	items[i] = udmabuf_test_item(memfd, 0, 2);
	dmabuf = udmabuf_test_create(test, items, ARRAY_SIZE(items));
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
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_unpinned(test, memfd, before);
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
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 2);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 2);
	struct dma_buf *dmabuf = udmabuf_test_create(test, &item, 1);
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
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 2);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 2);
	struct udmabuf_allocs allocs = udmabuf_test_allocs();
	struct dma_buf *dmabuf;
	struct udmabuf *ubuf;

	kunit_activate_static_stub(test, udmabuf_cpu_sync_needed,
				   cpu_sync_never);
	dma_maps = 0;
	kunit_activate_static_stub(test, udmabuf_dma_map, dma_map_recording);
	dmabuf = udmabuf_test_create(test, &item, 1);
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
	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_allocs(test, &allocs);
}

/*
 * Brackets as this machine's misc device takes them, without the suite's
 * stub: a begin and an end succeed, and each maps the buffer exactly when
 * the DMA core says the device needs syncs and does not bounce it (with
 * the DMA-API debugger, the core says every device does).
 */
static void cpu_access_on_this_machine_test(struct kunit *test)
{
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 2);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 2);
	struct dma_buf *dmabuf = udmabuf_test_create(test, &item, 1);
	struct device *dev = ((struct udmabuf *)dmabuf->priv)->dev;
	bool syncs;

	kunit_deactivate_static_stub(test, udmabuf_cpu_sync_needed);
	dma_maps = 0;
	kunit_activate_static_stub(test, udmabuf_dma_map, dma_map_recording);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_begin_cpu_access(dmabuf,
							  DMA_BIDIRECTIONAL));
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(dmabuf,
							DMA_BIDIRECTIONAL));
	kunit_deactivate_static_stub(test, udmabuf_dma_map);
	/* After the first begin: it sets up the device's DMA. */
	syncs = dma_dev_need_sync(dev) && !is_swiotlb_force_bounce(dev);
	KUNIT_EXPECT_EQ_MSG(test, dma_maps, syncs ? 2 : 0,
			    "need sync %d, forced bounce %d",
			    dma_dev_need_sync(dev),
			    is_swiotlb_force_bounce(dev));
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
	struct udmabuf_test_memfd *memfd = udmabuf_test_sealed_memfd(test, 16);
	struct udmabuf_create_item item = udmabuf_test_item(memfd, 0, 16);
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
	race->dmabuf = udmabuf_test_create(test, &item, 1);
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
	udmabuf_test_put_now(test, race->dmabuf);
	udmabuf_test_expect_allocs(test, &allocs);
}

static int run_map_attachment(struct udmabuf_test_fault_op *op)
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
	struct udmabuf_test_fault_setup s;
	struct udmabuf_test_fault_op op = {
		.run = run_map_attachment, .err = -ENOMEM, .test = test,
		.s = &s,
	};

	op.dmabuf = udmabuf_test_fault_buffer(test, &s);
	op.attach = udmabuf_test_attach(test, op.dmabuf);
	udmabuf_test_fault_snapshot(test, &s);
	KUNIT_EXPECT_GE(test, udmabuf_test_fail_each_allocation(&op), 2);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, op.sgt);
	dma_buf_unmap_attachment_unlocked(op.attach, op.sgt, DMA_TO_DEVICE);
	dma_buf_detach(op.dmabuf, op.attach);
	udmabuf_test_expect_allocs(test, &s.allocs);
}

static int run_begin_cpu_access(struct udmabuf_test_fault_op *op)
{
	return dma_buf_begin_cpu_access(op->dmabuf, DMA_FROM_DEVICE);
}

/* A failed begin leaves no bracket open: its end is refused. */
static void undo_cpu_access(struct udmabuf_test_fault_op *op)
{
	struct udmabuf *ubuf = op->dmabuf->priv;

	if (!ubuf->cpu_sgt)
		KUNIT_EXPECT_EQ(op->test, -EINVAL,
				dma_buf_end_cpu_access(op->dmabuf,
						       DMA_FROM_DEVICE));
}

static void cpu_access_allocation_failure_at_each_point_test(struct kunit *test)
{
	struct udmabuf_test_fault_setup s;
	struct udmabuf_test_fault_op op = {
		.run = run_begin_cpu_access, .undo = undo_cpu_access,
		.err = -ENOMEM, .test = test, .s = &s,
	};

	op.dmabuf = udmabuf_test_fault_buffer(test, &s);
	KUNIT_EXPECT_GE(test, udmabuf_test_fail_each_allocation(&op), 2);
	KUNIT_EXPECT_EQ(test, 0, dma_buf_end_cpu_access(op.dmabuf,
							DMA_FROM_DEVICE));
}

static int run_vmap(struct udmabuf_test_fault_op *op)
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
	struct udmabuf_test_fault_setup s;
	struct udmabuf_test_fault_op op = {
		.run = run_vmap, .err = -ENOMEM, .test = test, .s = &s,
	};

	op.dmabuf = udmabuf_test_fault_buffer(test, &s);
	KUNIT_EXPECT_GE(test, udmabuf_test_fail_each_allocation(&op), 2);
	udmabuf_test_expect_bytes(test, op.map.vaddr,
				  udmabuf_test_fault_bytes(test, &s),
				  op.dmabuf->size);
	dma_resv_lock(op.dmabuf->resv, NULL);
	op.dmabuf->ops->vunmap(op.dmabuf, &op.map);
	dma_resv_unlock(op.dmabuf->resv);
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
	struct udmabuf_test_fault_setup s;
	struct dma_buf *dmabuf = udmabuf_test_fault_buffer(test, &s);
	struct dma_buf_attachment *attach = udmabuf_test_attach(test, dmabuf);
	struct sg_table *sgt;

	udmabuf_test_fault_snapshot(test, &s);
	kunit_activate_static_stub(test, udmabuf_dma_map, dma_map_fails);
	sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, -EIO, PTR_ERR_OR_ZERO(sgt));
	KUNIT_EXPECT_EQ(test, -EIO,
			dma_buf_begin_cpu_access(dmabuf, DMA_FROM_DEVICE));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			dma_buf_end_cpu_access(dmabuf, DMA_FROM_DEVICE));
	udmabuf_test_expect_released(test, &s);
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

static struct kunit_case udmabuf_dmabuf_cases[] = {
	KUNIT_CASE(vmap_maps_every_pfn_test),
	KUNIT_CASE(map_attachment_test),
	KUNIT_CASE(cpu_access_test),
	KUNIT_CASE(map_respects_device_segments_test),
	KUNIT_CASE(map_refuses_segments_below_a_page_test),
	KUNIT_CASE(cpu_access_and_importers_test),
	KUNIT_CASE(importers_see_cpu_writes_and_cpu_sees_theirs_test),
	KUNIT_CASE(brackets_leave_what_they_do_not_touch_test),
	KUNIT_CASE(begin_waits_for_the_devices_work_test),
	KUNIT_CASE(cpu_access_buffers_sharing_pages_test),
	KUNIT_CASE(cpu_access_keeps_no_mapping_test),
	KUNIT_CASE(cpu_access_syncs_each_page_once_test),
	KUNIT_CASE(cpu_access_keeps_direction_test),
	KUNIT_CASE(cpu_access_with_nothing_to_sync_test),
	KUNIT_CASE(cpu_access_on_this_machine_test),
	KUNIT_CASE(first_sync_race_test),
	KUNIT_CASE(map_allocation_failure_at_each_point_test),
	KUNIT_CASE(cpu_access_allocation_failure_at_each_point_test),
	KUNIT_CASE(vmap_allocation_failure_at_each_point_test),
	KUNIT_CASE(dma_map_failure_test),
	{}
};

static struct kunit_suite udmabuf_dmabuf_suite = {
	.name = "udmabuf-dmabuf",
	.init = udmabuf_test_init,
	.test_cases = udmabuf_dmabuf_cases,
};

kunit_test_suite(udmabuf_dmabuf_suite);
