// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for huge mappings of a udmabuf (udmabuf-mmap.c): PMD leaves
 * over 2 MiB folios (shmem and hugetlb) and 1 GiB hugetlb folios, where
 * the architecture maps PFNs with them; skipped elsewhere.
 */

#include <kunit/test.h>
#include <linux/dma-buf.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/pgtable.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/udmabuf.h>

#include "../udmabuf.h"
#include "udmabuf-kunit-buffers.h"
#include "udmabuf-kunit-helpers.h"
#include "udmabuf-kunit-memfd.h"

#define HUGE_PAGES	(SZ_2M >> PAGE_SHIFT)

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
		pte_t entry;

		/* pte_offset_map() took the RCU read lock pte_unmap() drops. */
		__acquire(RCU);
		entry = ptep_get(pte);
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
	u8 *got = udmabuf_test_kvmalloc(test, len);

	KUNIT_ASSERT_EQ(test, 0, copy_from_user(got, (void __user *)addr, len));
	KUNIT_EXPECT_EQ(test, current->min_flt + current->maj_flt - before,
			faults);
	udmabuf_test_expect_bytes(test, got, want, len);
	udmabuf_test_kvfree(test, got);
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
 * rest reads right after more faults, and a refault where huge entries
 * are refused maps the pages past the leaf left. The same buffer mapped
 * one page off the alignment gets PTEs only, in a window per fault that
 * doubles from 16 pages, and a folio whose PMD place a page table holds
 * already gets PTEs too.
 */
static void huge_mapping_test(struct kunit *test)
{
#ifdef CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP
	const bool hugetlb = !strcmp(*(const char * const *)test->param_value,
				     "hugetlb");
	const u32 nr_pages = 1 + 2 * HUGE_PAGES + 5;
	struct udmabuf_create_item items[3];
	struct udmabuf_test_counts *before, *pinned;
	struct udmabuf_test_memfd *memfd, *memfds[3];
	unsigned long area, aligned, addr, len;
	struct dma_buf *dmabuf;
	unsigned long *pfns;
	u8 *want;

	if (hugetlb) {
#if IS_ENABLED(CONFIG_HUGETLBFS)
		memfd = udmabuf_test_filled_hugetlb_memfd(test, 4);
#else
		kunit_skip(test, "no hugetlbfs in this kernel");
#endif
	} else {
		memfd = udmabuf_test_thp_memfd(test, 4);
	}
	memfds[0] = memfd;
	memfds[1] = memfd;
	memfds[2] = memfd;
	items[0] = udmabuf_test_item(memfd, HUGE_PAGES - 1, 1);
	items[1] = udmabuf_test_item(memfd, HUGE_PAGES, 2 * HUGE_PAGES);
	items[2] = udmabuf_test_item(memfd, 3 * HUGE_PAGES, 5);
	want = udmabuf_test_expected_bytes(test, memfds, items, 3);
	pfns = udmabuf_test_expected_pfns(test, memfd, items, 3, nr_pages);
	before = udmabuf_test_folio_counts(test, memfd);
	dmabuf = udmabuf_test_create(test, items, 3);
	pinned = udmabuf_test_folio_counts(test, memfd);
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
	/*
	 * Page 0 maps its window of 16 pages, stepping over the first leaf
	 * block, which faults alone; the last five pages fault once more.
	 */
	expect_user_bytes(test, addr, want, len, 3);
	expect_mapping(test, addr, pfns, nr_pages, 1, 1 + 2 * HUGE_PAGES);
	udmabuf_test_expect_pins(test, memfd, pinned, NULL);

	/*
	 * Unmap the second half of the first PMD. The 257 pages left before
	 * it take the windows of the buffer's third to fifth fault: page 1
	 * lies below the last window (at page 1,024), so its window runs
	 * down (pages 1 to 15), then 128 pages from page 16, then 256 from
	 * page 144 (cut to 257).
	 */
	vm_munmap(addr + PAGE_SIZE + SZ_1M, SZ_1M);
	expect_user_bytes(test, addr, want, PAGE_SIZE + SZ_1M, 3);
	expect_mapping(test, addr, pfns, 1 + HUGE_PAGES / 2, 0, 0);
	expect_user_bytes(test, addr + PAGE_SIZE + SZ_2M,
			  want + PAGE_SIZE + SZ_2M, len - PAGE_SIZE - SZ_2M, 0);
	expect_mapping(test, addr + PAGE_SIZE + SZ_2M,
		       pfns + 1 + HUGE_PAGES, HUGE_PAGES + 5, 0, HUGE_PAGES);

	/*
	 * Huge entries refused from now on, and the last five pages zapped:
	 * the refault maps them, past the PMD leaf left in place, in one
	 * fault.
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
	/* 16 + 32 + 64 + 128 + 256 + 512 pages, then the last 22. */
	expect_user_bytes(test, addr, want, len, 7);
	expect_mapping(test, addr, pfns, nr_pages, 0, 0);
	vm_munmap(addr, len);

	/*
	 * Aligned again, a first fault that maps a page of the first folio
	 * (as .fault does where huge entries are refused) leaves a PTE table
	 * in that PMD's place and fills it, and only it: that folio gets
	 * PTEs; the second a PMD leaf on its own fault, and the pages around
	 * them PTEs on theirs: page 0's window steps over the first block,
	 * the last five pages fault apart.
	 */
	addr = kunit_vm_mmap(test, dmabuf->file, aligned - PAGE_SIZE, len,
			     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, addr, aligned - PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, 0,
			udmabuf_test_call_fault(addr + 6 * PAGE_SIZE));
	expect_mapping(test, addr + PAGE_SIZE, pfns + 1, HUGE_PAGES, 0, 0);
	expect_user_bytes(test, addr, want, len, 3);
	expect_mapping(test, addr, pfns, nr_pages, 1 + HUGE_PAGES,
		       1 + 2 * HUGE_PAGES);
	vm_munmap(area, len + 2 * SZ_2M);
	udmabuf_test_expect_pins(test, memfd, pinned, NULL);

	udmabuf_test_put_now(test, dmabuf);
	udmabuf_test_expect_unpinned(test, memfd, before);
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
		KUNIT_ASSERT_EQ(test, 0,
				copy_from_user(&byte,
					       (const u8 __user *)addr + off,
					       1));
	KUNIT_EXPECT_EQ(test, current->min_flt + current->maj_flt - before,
			faults);
}
#endif

#if defined(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP) && IS_ENABLED(CONFIG_HUGETLBFS)
/* Map the 2 MiB of @dmabuf read-only at a 2 MiB boundary. */
static unsigned long map_2m_aligned(struct kunit *test, struct dma_buf *dmabuf)
{
	unsigned long area, addr;

	area = kunit_vm_mmap(test, NULL, 0, 2 * SZ_2M, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(area));
	addr = kunit_vm_mmap(test, dmabuf->file, ALIGN(area, SZ_2M), SZ_2M,
			     PROT_READ, MAP_SHARED | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, addr, ALIGN(area, SZ_2M));
	return addr;
}

/*
 * Call the huge fault handler of the VMA at @addr for its PMD, as the
 * core does for an empty entry, or for a write to a read-only leaf.
 */
static vm_fault_t call_huge_fault(unsigned long addr, bool write)
{
	struct mm_struct *mm = current->mm;
	vm_fault_t ret = VM_FAULT_SIGBUS;
	struct vm_area_struct *vma;
	pud_t *pud;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	pud = pud_offset(p4d_offset(pgd_offset(mm, addr), addr), addr);
	if (vma && pud_present(READ_ONCE(*pud)))
		ret = vma->vm_ops->huge_fault(&(struct vm_fault) {
			.vma = vma,
			.address = addr & PMD_MASK,
			.real_address = addr,
			.pgoff = vma->vm_pgoff +
				 (((addr & PMD_MASK) - vma->vm_start) >>
				  PAGE_SHIFT),
			.flags = FAULT_FLAG_DEFAULT |
				 (write ? FAULT_FLAG_WRITE : 0),
			.pmd = pmd_offset(pud, addr),
		}, PMD_ORDER);
	mmap_read_unlock(mm);
	return ret;
}
#endif

/*
 * A fault that finds a PMD leaf where its page table would go (a huge
 * fault of another thread got there first): the access is retried,
 * VM_FAULT_NOPAGE, and the leaf stays. A huge fault on that entry, no
 * longer empty, leaves it to the core (VM_FAULT_FALLBACK), for a read
 * and for a write (as on a leaf mprotect() made read-only: the core then
 * splits it).
 */
static void fault_behind_a_leaf_test(struct kunit *test)
{
#if defined(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP) && IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_test_memfd *memfd =
		udmabuf_test_filled_hugetlb_memfd(test, 1);
	struct udmabuf_create_item item =
		udmabuf_test_item(memfd, 0, HUGE_PAGES);
	struct dma_buf *dmabuf = udmabuf_test_create(test, &item, 1);
	unsigned long addr, pfn;

	addr = map_2m_aligned(test, dmabuf);
	touch_blocks(test, addr, SZ_2M, 1);
	KUNIT_ASSERT_EQ(test, mapping_at(addr + PAGE_SIZE, &pfn), MAPPED_PMD);

	KUNIT_EXPECT_EQ(test, udmabuf_test_call_fault_pmd(addr + PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, mapping_at(addr + PAGE_SIZE, &pfn), MAPPED_PMD);
	KUNIT_EXPECT_EQ(test, pfn,
			udmabuf_test_expected_pfns(test, memfd, &item, 1,
						   HUGE_PAGES)[1]);
	KUNIT_EXPECT_TRUE(test, call_huge_fault(addr + PAGE_SIZE, false) ==
				VM_FAULT_FALLBACK);
	KUNIT_EXPECT_TRUE(test, call_huge_fault(addr + PAGE_SIZE, true) ==
				VM_FAULT_FALLBACK);
	KUNIT_EXPECT_EQ(test, mapping_at(addr + PAGE_SIZE, &pfn), MAPPED_PMD);
	vm_munmap(addr, SZ_2M);
#else
	kunit_skip(test, "no huge PFN mappings or hugetlbfs in this kernel");
#endif
}

/*
 * A 2 MiB block whose first frame is aligned but whose run is cut short is
 * no leaf block: pages 0-255 of a huge folio twice, mapped at a 2 MiB
 * boundary, fault into PTEs, in windows of 16, 32, 64, 128, 256 and the
 * last 16 pages, each page showing its own frame.
 */
static void short_aligned_run_maps_ptes_test(struct kunit *test)
{
#if defined(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP) && IS_ENABLED(CONFIG_HUGETLBFS)
	struct udmabuf_test_memfd *memfd =
		udmabuf_test_filled_hugetlb_memfd(test, 1);
	struct udmabuf_test_memfd *memfds[] = { memfd, memfd };
	struct udmabuf_create_item items[] = {
		udmabuf_test_item(memfd, 0, HUGE_PAGES / 2),
		udmabuf_test_item(memfd, 0, HUGE_PAGES / 2),
	};
	struct dma_buf *dmabuf = udmabuf_test_create(test, items, 2);
	unsigned long addr;

	addr = map_2m_aligned(test, dmabuf);
	expect_user_bytes(test, addr,
			  udmabuf_test_expected_bytes(test, memfds, items, 2),
			  SZ_2M, 6);
	expect_mapping(test, addr,
		       udmabuf_test_expected_pfns(test, memfd, items, 2,
						  HUGE_PAGES),
		       HUGE_PAGES, 0, 0);
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
	struct udmabuf_test_memfd *memfd;
	unsigned long area, addr, pfn;
	struct dma_buf *dmabuf;
	struct folio *folio;
	struct file *file;
	int pins;

	memfd = udmabuf_test_hugetlb_memfd_of(test, SZ_1G, PUD_SHIFT);
	file = memfd->file;
	item = udmabuf_test_item(memfd, 0, memfd->nr_pages);
	udmabuf_test_set_param(test, &udmabuf_size_limit_mb, SZ_1G / SZ_1M);
	dmabuf = udmabuf_create_dmabuf(&item, 1);
	if (IS_ERR(dmabuf))
		kunit_skip(test, "no free 1 GiB page: %ld", PTR_ERR(dmabuf));
	udmabuf_test_put_later(test, dmabuf);
	folio = filemap_get_folio(file->f_mapping, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
	pfn = folio_pfn(folio);
	pins = udmabuf_test_folio_pins(folio);

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

	KUNIT_EXPECT_EQ(test, udmabuf_test_folio_pins(folio), pins);
	folio_put(folio);
#else
	kunit_skip(test, "no huge PFN mappings or no hugetlbfs");
#endif
}

static struct kunit_case udmabuf_mmap_huge_cases[] = {
	KUNIT_CASE_PARAM(huge_mapping_test, huge_backing_gen_params),
	KUNIT_CASE_SLOW(gigantic_folio_mapping_test),
	KUNIT_CASE(fault_behind_a_leaf_test),
	KUNIT_CASE(short_aligned_run_maps_ptes_test),
	{}
};

static struct kunit_suite udmabuf_mmap_huge_suite = {
	.name = "udmabuf-mmap-huge",
	.init = udmabuf_test_init,
	.test_cases = udmabuf_mmap_huge_cases,
};

kunit_test_suite(udmabuf_mmap_huge_suite);
