// SPDX-License-Identifier: GPL-2.0
/*
 * Buffers for the udmabuf KUnit suites of the driver: made through the
 * driver's create path, read through vmap, importers' sg tables and user
 * mappings, and made to fail at each allocation in turn. Also the init
 * that every suite of the driver shares.
 */

#include <kunit/device.h>
#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/iommu-dma.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched/signal.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/swiotlb.h>
#include <linux/vmalloc.h>

#include "../udmabuf.h"
#include "udmabuf-kunit-buffers.h"
#include "udmabuf-kunit-helpers.h"
#include "udmabuf-kunit-memfd.h"

#define PG(n)	((u64)(n) * PAGE_SIZE)

KUNIT_DEFINE_ACTION_WRAPPER(dma_buf_put_action, dma_buf_put, struct dma_buf *);

/**
 * udmabuf_test_put_later - put a buffer when the test ends
 * @test: the running test
 * @dmabuf: a buffer the test holds a reference to
 */
void udmabuf_test_put_later(struct kunit *test, struct dma_buf *dmabuf)
{
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, dma_buf_put_action,
						  dmabuf));
}

/**
 * udmabuf_test_create - a buffer that must be made
 * @test: the running test
 * @items: its items
 * @count: entries in @items
 *
 * Return: the buffer from the driver's create path, put when the test
 * ends.
 */
struct dma_buf *udmabuf_test_create(struct kunit *test,
				    const struct udmabuf_create_item *items,
				    u32 count)
{
	struct dma_buf *dmabuf = udmabuf_create_dmabuf(items, count);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dmabuf);
	udmabuf_test_put_later(test, dmabuf);
	return dmabuf;
}

/**
 * udmabuf_test_put_now - put a buffer of udmabuf_test_create() now
 * @test: the running test
 * @dmabuf: the buffer
 *
 * A kthread's last fput() is deferred to a workqueue: it is run too, so
 * that the buffer is released before the test looks at the pins.
 */
void udmabuf_test_put_now(struct kunit *test, struct dma_buf *dmabuf)
{
	kunit_release_action(test, dma_buf_put_action, dmabuf);
	udmabuf_test_release_files();
}

/**
 * udmabuf_test_close_now - close a descriptor and release its file
 * @fd: the descriptor
 */
void udmabuf_test_close_now(int fd)
{
	close_fd(fd);
	udmabuf_test_release_files();
}

/**
 * udmabuf_test_expect_vmap_bytes - expect a buffer's vmap to read right
 * @test: the running test
 * @dmabuf: the buffer
 * @expected: the bytes it must read as
 */
void udmabuf_test_expect_vmap_bytes(struct kunit *test, struct dma_buf *dmabuf,
				    const u8 *expected)
{
	struct iosys_map map;

	KUNIT_ASSERT_EQ(test, 0, dma_buf_vmap_unlocked(dmabuf, &map));
	KUNIT_EXPECT_FALSE(test, map.is_iomem);
	udmabuf_test_expect_bytes(test, map.vaddr, expected, dmabuf->size);
	dma_buf_vunmap_unlocked(dmabuf, &map);
}

/**
 * udmabuf_test_expect_vmap_pfns - expect a buffer's vmap at its frames
 * @test: the running test
 * @dmabuf: the buffer
 * @pfns: the frame of each of its pages
 *
 * vmap must show every page at its own frame.
 */
void udmabuf_test_expect_vmap_pfns(struct kunit *test, struct dma_buf *dmabuf,
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

/**
 * udmabuf_test_driver_bytes - what the driver keeps for a buffer
 * @dmabuf: the buffer
 *
 * Return: the bytes of its struct udmabuf and of its slice array.
 */
size_t udmabuf_test_driver_bytes(struct dma_buf *dmabuf)
{
	struct udmabuf *ubuf = dmabuf->priv;
	const void *slice = ubuf->slices.slice;

	return ksize(ubuf) + (is_vmalloc_addr(slice) ?
		PAGE_ALIGN(ubuf->slices.capacity * sizeof(struct udmabuf_slice)) :
		ksize(slice));
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

/**
 * udmabuf_test_set_param - set a module parameter for the rest of the test
 * @test: the running test
 * @param: the parameter
 * @value: its value until the test ends
 */
void udmabuf_test_set_param(struct kunit *test, int *param, int value)
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

/**
 * udmabuf_test_map - map a buffer into the test's mm
 * @test: the running test
 * @dmabuf: the buffer
 * @len: bytes to map
 * @flags: MAP_SHARED or MAP_PRIVATE
 * @pgoff: the buffer page the mapping starts at
 *
 * Tests unmap what they map: the mm kunit_vm_mmap() attaches goes with
 * the test's thread, possibly once the next test has begun, and would
 * release a buffer in the middle of that test's accounting.
 *
 * Return: the user address, or an error value.
 */
unsigned long udmabuf_test_map(struct kunit *test, struct dma_buf *dmabuf,
			       unsigned long len, unsigned long flags,
			       unsigned long pgoff)
{
	return kunit_vm_mmap(test, dmabuf->file, 0, len,
			     PROT_READ | PROT_WRITE, flags,
			     pgoff << PAGE_SHIFT);
}

/*
 * Call the fault handler of the VMA at @addr as the fault path does, for
 * the page at @addr, with the PMD entry the core would have found when
 * @with_pmd (its PUD must be there). VM_FAULT_SIGBUS without a VMA. Not
 * through a user access: UML's uaccess retries a fault that ran out of
 * memory as if it had worked, and oopses on the missing page table.
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
 * 0 for VM_FAULT_NOPAGE (the page mapped, or the access to be retried),
 * -ENOMEM for VM_FAULT_OOM, -EFAULT for VM_FAULT_SIGBUS, -EIO for anything
 * else.
 */
static int fault_errno(vm_fault_t ret)
{
	if (ret == VM_FAULT_NOPAGE)
		return 0;
	if (ret == VM_FAULT_OOM)
		return -ENOMEM;
	return ret == VM_FAULT_SIGBUS ? -EFAULT : -EIO;
}

/**
 * udmabuf_test_call_fault - call the fault handler for a user address
 * @addr: a user address of the test's mm
 *
 * Calls the fault handler of the VMA at @addr for its page, without the
 * PMD entry.
 *
 * Return: 0 for VM_FAULT_NOPAGE, -ENOMEM for VM_FAULT_OOM, -EFAULT for
 * VM_FAULT_SIGBUS or no VMA, -EIO for anything else.
 */
int udmabuf_test_call_fault(unsigned long addr)
{
	return fault_errno(driver_fault(addr, false));
}

/**
 * udmabuf_test_call_fault_pmd - the same, with the PMD entry
 * @addr: a user address of the test's mm, its PUD entry present
 *
 * Return: as udmabuf_test_call_fault(); -EFAULT without a PUD entry.
 */
int udmabuf_test_call_fault_pmd(unsigned long addr)
{
	return fault_errno(driver_fault(addr, true));
}

/**
 * udmabuf_test_raise_signal - make a signal pending, as a kill() would
 * @sig: the signal, for the test's thread
 */
void udmabuf_test_raise_signal(int sig)
{
	struct sighand_struct *sighand;
	unsigned long flags;

	sighand = lock_task_sighand(current, &flags);
	if (!sighand)
		return;
	sigaddset(&current->pending.signal, sig);
	set_tsk_thread_flag(current, TIF_SIGPENDING);
	spin_unlock_irqrestore(&sighand->siglock, flags);
}

/**
 * udmabuf_test_raise_fatal_signal - make SIGKILL pending for the test
 */
void udmabuf_test_raise_fatal_signal(void)
{
	udmabuf_test_raise_signal(SIGKILL);
}

/**
 * udmabuf_test_importer - a device of its own for an importer
 * @test: the running test; skipped where there is no DMA API
 * @max_segment: its longest DMA segment
 * @boundary_mask: the boundary its segments must not cross, less one
 *
 * Return: the device, with a 64-bit DMA mask; unregistered when the test
 * ends.
 */
struct device *udmabuf_test_importer(struct kunit *test,
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

/**
 * udmabuf_test_attach - attach an importer that takes any segment
 * @test: the running test
 * @dmabuf: the buffer
 *
 * The importer takes segments of any length, as GPUs declare theirs: what
 * it maps shows how far the driver coalesces.
 *
 * Return: the attachment.
 */
struct dma_buf_attachment *udmabuf_test_attach(struct kunit *test,
					       struct dma_buf *dmabuf)
{
	struct dma_buf_attachment *attach;

	attach = dma_buf_attach(dmabuf, udmabuf_test_importer(test, UINT_MAX,
							      ULONG_MAX));
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	return attach;
}

/**
 * udmabuf_test_sg_page - the page of an importer's sg entry
 * @sg: the entry
 *
 * Under CONFIG_DMABUF_DEBUG the dma-buf core scrambles the page links it
 * hands importers (to catch those that use them) and keeps the low flag
 * bits: this undoes that, as its unmap does.
 *
 * Return: the page.
 */
struct page *udmabuf_test_sg_page(struct scatterlist *sg)
{
	struct scatterlist plain = *sg;

	if (IS_ENABLED(CONFIG_DMABUF_DEBUG))
		plain.page_link ^= ~0xffUL;
	return sg_page(&plain);
}

/**
 * udmabuf_test_dma_is_direct - whether a test can follow a device's DMA
 * @dev: the device
 *
 * Whether @dev's DMA addresses are physical addresses (with its bus's
 * offset), not IOMMU addresses: no IOMMU and no DMA ops in between. Under
 * swiotlb=force they lead to bounce copies, which the map fills with the
 * buffer's bytes but which are not its frames.
 *
 * Return: true if udmabuf_test_expect_dma_view() and
 * udmabuf_test_dma_write() can follow @dev's DMA addresses.
 */
bool udmabuf_test_dma_is_direct(struct device *dev)
{
	return !get_dma_ops(dev) && !use_dma_iommu(dev);
}

/*
 * Follows the DMA segments of @sgt page after page, as a device would:
 * each must lead to the frame in @pfns (unless bounced), where the device
 * reads @bytes or (@device_writes) writes them.
 */
static void walk_dma_view(struct kunit *test, struct device *dev,
			  struct sg_table *sgt, const unsigned long *pfns,
			  const u8 *bytes, u32 nr_pages, bool device_writes)
{
	bool bounced = is_swiotlb_force_bounce(dev);
	struct scatterlist *sg;
	u32 page = 0, k;
	unsigned int i;

	if (!udmabuf_test_dma_is_direct(dev)) {
		if (device_writes)
			KUNIT_FAIL(test, "DMA addresses not physical: no device to write as");
		else
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
			size_t at = PAGE_SIZE;
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
			if (device_writes)
				memcpy(got, want, PAGE_SIZE);
			else
				for (at = 0; at < PAGE_SIZE && got[at] == want[at];
				     at++)
					;
			kunmap_local(got);
			if (at < PAGE_SIZE) {
				KUNIT_FAIL(test, "DMA page %u byte %zu differs from the bytes due",
					   page, at);
				return;
			}
		}
	}
	KUNIT_EXPECT_EQ_MSG(test, page, nr_pages, "pages the DMA segments cover");
}

/**
 * udmabuf_test_expect_dma_view - expect what a device reads of a buffer
 * @test: the running test
 * @dev: the device @sgt is mapped for
 * @sgt: the mapped table
 * @pfns: the frame of each page
 * @bytes: what the pages hold
 * @nr_pages: the pages of the buffer
 *
 * Follows the DMA segments of @sgt: page after page, they must lead to
 * the frames in @pfns (unless bounced) holding @bytes. Both are found
 * without the driver: the frames in the files' page cache, the bytes from
 * the files' patterns. EXPECTs only: this also runs inside the driver's
 * map, from a stub.
 */
void udmabuf_test_expect_dma_view(struct kunit *test, struct device *dev,
				  struct sg_table *sgt,
				  const unsigned long *pfns, const u8 *bytes,
				  u32 nr_pages)
{
	walk_dma_view(test, dev, sgt, pfns, bytes, nr_pages, false);
}

/**
 * udmabuf_test_dma_write - write a buffer as its importer's device would
 * @test: the running test
 * @dev: the device @sgt is mapped for
 * @sgt: the mapped table
 * @pfns: the frame of each page
 * @bytes: what the device writes to the pages
 * @nr_pages: the pages of the buffer
 *
 * Writes @bytes where the DMA segments of @sgt lead: to the frames in
 * @pfns, or under swiotlb to their bounce copies, which the CPU sees only
 * once the buffer is synced for it. Fails the test where the DMA addresses
 * are not physical (callers skip first: udmabuf_test_dma_is_direct()).
 * EXPECTs only: this also runs on a device's work, off the test's thread.
 */
void udmabuf_test_dma_write(struct kunit *test, struct device *dev,
			    struct sg_table *sgt, const unsigned long *pfns,
			    const u8 *bytes, u32 nr_pages)
{
	walk_dma_view(test, dev, sgt, pfns, bytes, nr_pages, true);
}

/**
 * udmabuf_test_expect_attachment_runs - expect an importer's map in runs
 * @test: the running test; skipped where the map fails
 * @dmabuf: the buffer
 * @pfns: the frame of each page
 * @bytes: what the pages hold
 * @nr_pages: the pages of the buffer
 *
 * Maps @dmabuf for an importer: each sg entry must be a maximal run of
 * the frames in @pfns that follow each other, and together cover the
 * buffer; its DMA segments lead to the same frames, holding @bytes.
 */
void udmabuf_test_expect_attachment_runs(struct kunit *test,
					 struct dma_buf *dmabuf,
					 const unsigned long *pfns,
					 const u8 *bytes, u32 nr_pages)
{
	struct dma_buf_attachment *attach = udmabuf_test_attach(test, dmabuf);
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
		KUNIT_EXPECT_EQ(test, page_to_pfn(udmabuf_test_sg_page(sg)),
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
	udmabuf_test_expect_dma_view(test, attach->dev, sgt, pfns, bytes,
				     nr_pages);
	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_BIDIRECTIONAL);
	dma_buf_detach(dmabuf, attach);
	/*
	 * The core keeps the mapping until detach (cache_sgt_mapping); then
	 * its DMA mappings end (where the debugger counts them).
	 */
	if (mappings >= 0)
		KUNIT_EXPECT_EQ(test, udmabuf_test_dma_mappings(), mappings);
}

/**
 * udmabuf_test_allocs_settled - the driver's allocations, once settled
 *
 * Waits until nothing is giving any back: an earlier case's thread may
 * still be exiting with its mm on another CPU, and the buffers of its
 * mappings with it.
 *
 * Return: udmabuf_test_allocs() once it stays the same.
 */
struct udmabuf_allocs udmabuf_test_allocs_settled(void)
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

/**
 * udmabuf_test_fault_snapshot - take what every later check compares with
 * @test: the running test
 * @s: the setup: its pins, references and the driver's allocations
 */
void udmabuf_test_fault_snapshot(struct kunit *test,
				 struct udmabuf_test_fault_setup *s)
{
	u32 i;

	for (i = 0; i < 3; i++)
		s->before[i] = udmabuf_test_folio_counts(test, s->memfds[i]);
	s->allocs = udmabuf_test_allocs_settled();
}

/**
 * udmabuf_test_fault_setup - three memfds, eight items, and a snapshot
 * @test: the running test
 * @s: the setup to fill
 */
void udmabuf_test_fault_setup(struct kunit *test,
			      struct udmabuf_test_fault_setup *s)
{
	u32 i;

	for (i = 0; i < 3; i++)
		s->memfds[i] = udmabuf_test_sealed_memfd(test, 200);
	for (i = 0; i < 8; i++)
		s->items[i] = udmabuf_test_item(s->memfds[i % 3], i * 10,
						100 + i);
	udmabuf_test_fault_snapshot(test, s);
}

/**
 * udmabuf_test_expect_released - expect the setup as at its snapshot
 * @test: the running test
 * @s: the setup: pins, other references and the driver's allocations
 */
void udmabuf_test_expect_released(struct kunit *test,
				  struct udmabuf_test_fault_setup *s)
{
	u32 i;

	udmabuf_test_release_files();
	for (i = 0; i < 3; i++)
		udmabuf_test_expect_unpinned(test, s->memfds[i], s->before[i]);
	udmabuf_test_expect_allocs(test, &s->allocs);
}

/**
 * udmabuf_test_fault_bytes - what a buffer of the setup's items reads as
 * @test: the running test
 * @s: the setup
 *
 * Return: the bytes of its eight items, freed when the test ends.
 */
u8 *udmabuf_test_fault_bytes(struct kunit *test,
			     struct udmabuf_test_fault_setup *s)
{
	struct udmabuf_test_memfd *memfds[8];
	u32 i;

	for (i = 0; i < 8; i++)
		memfds[i] = s->memfds[i % 3];
	return udmabuf_test_expected_bytes(test, memfds, s->items, 8);
}

/**
 * udmabuf_test_expect_create_fails - expect the setup's buffer to fail
 * @test: the running test
 * @s: the setup
 * @err: the error, with the test's stub in place
 *
 * The failure must leave nothing pinned or allocated.
 */
void udmabuf_test_expect_create_fails(struct kunit *test,
				      struct udmabuf_test_fault_setup *s,
				      int err)
{
	KUNIT_EXPECT_EQ(test, err,
			PTR_ERR_OR_ZERO(udmabuf_create_dmabuf(s->items, 8)));
	udmabuf_test_expect_released(test, s);
}

/**
 * udmabuf_test_fault_buffer - a buffer of the setup's items
 * @test: the running test
 * @s: the setup to fill; its snapshot is taken with the buffer alive
 *
 * Return: the buffer, put when the test ends.
 */
struct dma_buf *udmabuf_test_fault_buffer(struct kunit *test,
					  struct udmabuf_test_fault_setup *s)
{
	struct dma_buf *dmabuf;

	udmabuf_test_fault_setup(test, s);
	dmabuf = udmabuf_test_create(test, s->items, 8);
	udmabuf_test_fault_snapshot(test, s);
	return dmabuf;
}

/**
 * udmabuf_test_fail_each_allocation - run an op under injected failures
 * @op: the op, its setup and the error it must return
 *
 * @op runs with the test's allocations failing from the first on, then
 * from the second on, and so on, until it makes every allocation it
 * needs. With @op->only_nth, only the first fails, then only the second,
 * and so on, so that the kernel may recover from it (a kvmalloc() falling
 * back to vmalloc(), a trim kept larger). Each run that fails must return
 * @op->err and leave @op->s as at its snapshot, and so must each run that
 * went through once @op->undo has released what it made.
 *
 * Return: how many runs met an injected failure.
 */
unsigned int udmabuf_test_fail_each_allocation(struct udmabuf_test_fault_op *op)
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
		udmabuf_test_expect_released(test, op->s);
	}
	KUNIT_FAIL(test, "still failing after %u allocations", nth);
	return nth;
}

/**
 * udmabuf_test_fault_mode_desc - name a failure mode, for a parameter
 * @only_nth: whether only the nth allocation fails
 * @desc: set to the name
 */
void udmabuf_test_fault_mode_desc(const bool *only_nth, char *desc)
{
	strscpy(desc, *only_nth ? "only the nth" : "from the nth on",
		KUNIT_PARAM_DESC_SIZE);
}

static bool cpu_sync_always(struct device *dev)
{
	return true;
}

/**
 * udmabuf_test_init - the init of every suite of the driver
 * @test: the case about to run
 *
 * CPU brackets take their mapping path on every machine, coherent or not,
 * unless a case says otherwise. Each case starts once the previous one's
 * buffers are released, so that its own snapshot of the driver's
 * allocations holds nothing that goes away while it runs.
 *
 * Return: 0.
 */
int udmabuf_test_init(struct kunit *test)
{
	kunit_activate_static_stub(test, udmabuf_cpu_sync_needed,
				   cpu_sync_always);
	udmabuf_test_allocs_settled();
	return 0;
}
