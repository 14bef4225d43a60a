// SPDX-License-Identifier: GPL-2.0
/*
 * make bench's measuring program, run inside the VM once per driver.
 * For each backing, size and shape it times UDMABUF_CREATE(_LIST), mmap
 * plus a read of one byte in the middle (the first byte), mmap plus a touch
 * of every page (and counts the faults), and close; it reads
 * MemFree/Slab/VmallocUsed around the create as a cross-check of the
 * driver's memory, and VmPTE around the first byte and around the touch
 * for the page tables each built. One CSV line per repetition:
 *   BENCH,backing,size_mb,shape,rep,create_us,touch_us,faults,release_us,
 *        memfree_kb,slab_kb,vmalloc_kb,first_us,pte_kb,first_pte_kb
 * Buffers are mapped one page past a 2 MiB boundary, where no huge entry
 * fits (a plain mmap() lands anywhere), except for the backings named
 * -aligned: those are mapped at a 2 MiB boundary, as a caller that wants
 * PMD mappings does.
 * For the -aligned backings, the memfd itself is mapped and touched the
 * same way once more, without a udmabuf: the kernel's own huge faults,
 * one per 2 MiB, as a floor for ours (BENCH-MEMFD,backing,size_mb,rep,
 * touch_us,faults).
 * Besides even splits of one memfd into 1 or 256 items, two lists of
 * 1,024, 8,192 and 65,536 one-page items over a shmem memfd: every item on
 * the same page (backing shmem-4k-same-page) and QEMU's shape, pages
 * scattered over a memfd 16 times the buffer (shmem-4k-scattered: 64 and
 * 512 MiB; 1 GiB for 65,536 items, where 4 GiB would not fit the VM), so
 * that few pages repeat; they make buffers of 4, 32 and 256 MiB.
 * Usage: bench [repetitions] [max_size_mb]; in the VM, the kernel command
 * line's bench_reps=, bench_max_mb= and bench_shapes= reach it as
 * environment variables; bench_shapes=TEXT keeps only the backings whose
 * names contain TEXT.
 */
#include "udmabuf-user.h"

enum layout { EVEN, SAME_PAGE, SCATTERED };

struct backing_kind {
	const char *name;
	unsigned int mfd_flags;
	const char *thp;
	enum layout layout;
	size_t memfd_mb;	/* 0: as large as the buffer */
	bool aligned;		/* mapped at a 2 MiB boundary */
};

/*
 * Idle a moment before a timed step, so that work the step before left
 * behind (RCU callbacks, deferred frees, per-CPU drains) runs now and not
 * inside the step. Under -icount with sleep=off an idle vCPU costs no
 * instructions: the virtual clock jumps to the next timer.
 */
static void settle(void)
{
	usleep(20000);
}

/* mmap plus a touch of every page of the memfd itself, mapped as @b says. */
static void time_memfd_touch(int memfd, const struct backing_kind *b,
			     size_t size_mb, int rep)
{
	size_t size = size_mb << 20;
	double t0 = now_us();
	long faults = minor_faults();
	uint8_t *buf = mmap_2m_skew(memfd, size, 0, PROT_READ,
				    b->aligned ? 0 : SZ_4K);

	if (buf == MAP_FAILED) {
		printf("BENCH-FAIL,%s,%zu,1,memfd mmap\n", b->name, size_mb);
		return;
	}
	touch_pages(buf, size);
	faults = minor_faults() - faults;
	printf("BENCH-MEMFD,%s,%zu,%d,%.0f,%ld\n", b->name, size_mb, rep,
	       now_us() - t0, faults);
	munmap(buf, size);
}

static int run(int dev, const struct backing_kind *b, size_t size_mb,
	       unsigned int items, int reps)
{
	size_t size = size_mb << 20, chunk = size / items;
	size_t memfd_size = b->memfd_mb ? b->memfd_mb << 20 : size;
	struct udmabuf_create_item *list = calloc(items, sizeof(*list));
	int memfd, ret = 0;
	uint32_t seed = 1;
	uint8_t *mem;

	if (b->thp)
		shmem_thp(b->thp);
	memfd = memfd_sealed("bench", memfd_size, b->mfd_flags, 0);
	if (memfd < 0 || !list) {
		printf("BENCH-SKIP,%s,%zu,%u,%s\n", b->name, size_mb, items,
		       strerror(-memfd));
		free(list);
		return 0;
	}
	/* Populate the memfd first: create then only pins what exists. */
	mem = mmap(NULL, memfd_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   0);
	if (mem == MAP_FAILED) {
		printf("BENCH-SKIP,%s,%zu,%u,mmap\n", b->name, size_mb, items);
		close(memfd);
		free(list);
		return 0;
	}
	for (size_t off = 0; off < memfd_size; off += SZ_4K)
		mem[off] = 1;
	munmap(mem, memfd_size);

	for (unsigned int i = 0; i < items; i++) {
		size_t offset = i * chunk;

		if (b->layout == SAME_PAGE) {
			offset = 0;
		} else if (b->layout == SCATTERED) {
			seed = seed * 1103515245 + 12345;
			offset = (seed >> 4) % (memfd_size / SZ_4K) * SZ_4K;
		}
		list[i] = (struct udmabuf_create_item) {
			.memfd = memfd, .offset = offset, .size = chunk };
	}

	for (int rep = 0; rep < reps; rep++) {
		long free0 = meminfo_kb("MemFree"), slab0 = meminfo_kb("Slab");
		long vm0 = meminfo_kb("VmallocUsed"), faults;
		double t0, create_us, first_us, touch_us, release_us;
		long free1, slab1, vm1, pte0, pte_kb, first_pte_kb;
		size_t skew;
		uint8_t *buf;
		int fd;

		settle();
		t0 = now_us();
		fd = items == 1 ? udmabuf_create1(dev, memfd, 0, size, 0) :
			udmabuf_create_list(dev, 0, list, items);
		create_us = now_us() - t0;
		if (fd < 0) {
			printf("BENCH-FAIL,%s,%zu,%u,create: %s\n", b->name,
			       size_mb, items, strerror(-fd));
			ret = 1;
			break;
		}
		free1 = meminfo_kb("MemFree");
		slab1 = meminfo_kb("Slab");
		vm1 = meminfo_kb("VmallocUsed");

		skew = b->aligned ? 0 : SZ_4K;
		pte0 = page_table_kb();
		settle();
		t0 = now_us();
		buf = mmap_2m_skew(fd, size, 0, PROT_READ, skew);
		if (buf == MAP_FAILED) {
			printf("BENCH-FAIL,%s,%zu,%u,mmap\n", b->name, size_mb,
			       items);
			close(fd);
			ret = 1;
			break;
		}
		(void)__atomic_load_n(buf + size / 2, __ATOMIC_RELAXED);
		first_us = now_us() - t0;
		first_pte_kb = page_table_kb() - pte0;
		munmap(buf, size);

		pte0 = page_table_kb();
		settle();
		t0 = now_us();
		buf = mmap_2m_skew(fd, size, 0, PROT_READ, skew);
		faults = minor_faults();
		touch_pages(buf, size);
		faults = minor_faults() - faults;
		touch_us = now_us() - t0;
		pte_kb = page_table_kb() - pte0;
		munmap(buf, size);

		settle();
		t0 = now_us();
		close(fd);
		release_us = now_us() - t0;

		printf("BENCH,%s,%zu,%u,%d,%.0f,%.0f,%ld,%.0f,%ld,%ld,%ld,%.0f,%ld,%ld\n",
		       b->name, size_mb, items, rep, create_us, touch_us,
		       faults, release_us, free0 - free1, slab1 - slab0,
		       vm1 - vm0, first_us, pte_kb, first_pte_kb);
		if (b->aligned)
			time_memfd_touch(memfd, b, size_mb, rep);
		fflush(stdout);
	}
	close(memfd);
	free(list);
	return ret;
}

int main(int argc, char **argv)
{
	const struct backing_kind kinds[] = {
		{ "shmem-4k", 0, "never", EVEN, 0, false },
		{ "shmem-thp", 0, "always", EVEN, 0, false },
		{ "hugetlb-2m", MFD_HUGETLB, NULL, EVEN, 0, false },
	};
	const struct backing_kind aligned[] = {
		{ "shmem-thp-aligned", 0, "always", EVEN, 0, true },
		{ "hugetlb-2m-aligned", MFD_HUGETLB, NULL, EVEN, 0, true },
	};
	const struct backing_kind lists[] = {
		{ "shmem-4k-same-page", 0, "never", SAME_PAGE, 4, false },
		{ "shmem-4k-scattered", 0, "never", SCATTERED, 64, false },
		{ "shmem-4k-same-page", 0, "never", SAME_PAGE, 4, false },
		{ "shmem-4k-scattered", 0, "never", SCATTERED, 512, false },
		{ "shmem-4k-same-page", 0, "never", SAME_PAGE, 4, false },
		{ "shmem-4k-scattered", 0, "never", SCATTERED, 1024, false },
	};
	const unsigned int list_items[] = { 1024, 1024, 8192, 8192, 65536,
					    65536 };
	const size_t sizes[] = { 4, 64, 256, 1024 };
	const char *only = getenv("bench_shapes");
	const char *reps_env = getenv("bench_reps");
	const char *max_env = getenv("bench_max_mb");
	int reps = argc > 1 ? atoi(argv[1]) : reps_env ? atoi(reps_env) : 5;
	size_t max_mb = argc > 2 ? (size_t)atol(argv[2]) :
			max_env ? (size_t)atol(max_env) : 1024;
	int dev = open("/dev/udmabuf", O_RDWR), ret = 0;

	if (dev < 0) {
		perror("/dev/udmabuf");
		return 1;
	}
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			if (sizes[s] > max_mb || (only &&
						  !strstr(kinds[k].name, only)))
				continue;
			ret |= run(dev, &kinds[k], sizes[s], 1, reps);
			ret |= run(dev, &kinds[k], sizes[s], 256, reps);
		}
	for (size_t k = 0; k < sizeof(aligned) / sizeof(aligned[0]); k++)
		for (size_t s = 1; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			if (sizes[s] <= max_mb &&
			    (!only || strstr(aligned[k].name, only)))
				ret |= run(dev, &aligned[k], sizes[s], 1, reps);
	/* One page per item: the buffer's MiB are the items / 256. */
	for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
		if (list_items[k] / 256 <= max_mb &&
		    (!only || strstr(lists[k].name, only)))
			ret |= run(dev, &lists[k], list_items[k] / 256,
				   list_items[k], reps);
	shmem_thp("never");
	return ret;
}
