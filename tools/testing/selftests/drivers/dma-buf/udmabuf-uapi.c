// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf through its UAPI: every refusal with its errno, close-on-exec,
 * mappings and their limits, bytes both ways for shmem (4 KiB and THP)
 * and hugetlb (2 MiB) memfds, list items sharing folios, fault counts,
 * fork, buffers outliving their memfd, DMA_BUF_IOCTL_SYNC, and no pin
 * left behind (a pinned memfd refuses F_SEAL_WRITE with EBUSY). Then what
 * broke udmabufs in 2024-2026: faults after the VMA is split, cut or
 * moved, racing first faults and first syncs, one page in thousands of
 * buffers, raised limits, and an importer (vgem) under the DMA-API
 * debugger.
 */
#include "udmabuf-user.h"

#include <drm/drm.h>
#include <linux/dma-buf.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "../../kselftest_harness.h"

#define PAGE	SZ_4K

/* A sealed memfd filled with the pattern of @seed, as a test fixture. */
static int patterned_memfd(size_t size, unsigned int mfd_flags, uint8_t seed)
{
	int fd = memfd_sealed("uapi", size, mfd_flags, 0);
	uint8_t *p;

	if (fd < 0)
		return fd;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -ENOMEM;
	}
	pattern_fill(p, seed, 0, size);
	munmap(p, size);
	return fd;
}

/* No pin left on @memfd: only then may it take a write seal. */
static int write_seal(int memfd)
{
	return fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE) ? -errno : 0;
}

FIXTURE(udmabuf) {
	int dev;
	long size_limit_mb;
	long list_limit;
	int memfd;		/* 16 pages, sealed, patterned with seed 7 */
};

FIXTURE_SETUP(udmabuf)
{
	self->dev = open("/dev/udmabuf", O_RDWR);
	if (self->dev < 0)
		SKIP(return, "no /dev/udmabuf");
	self->size_limit_mb = read_param("size_limit_mb", 64);
	self->list_limit = read_param("list_limit", 1024);
	/* 4 KiB shmem folios unless a test asks for THP. */
	shmem_thp("never");
	self->memfd = patterned_memfd(16 * PAGE, 0, 7);
	ASSERT_LE(0, self->memfd);
}

FIXTURE_TEARDOWN(udmabuf)
{
	close(self->memfd);
	close(self->dev);
}

TEST_F(udmabuf, bad_fd)
{
	EXPECT_EQ(-EBADFD, udmabuf_create1(self->dev, 999, 0, PAGE, 0));
	EXPECT_EQ(-EBADFD, udmabuf_create1(self->dev, -1, 0, PAGE, 0));
}

TEST_F(udmabuf, not_a_memfd)
{
	int pipefd[2];

	ASSERT_EQ(0, pipe(pipefd));
	EXPECT_EQ(-EBADFD, udmabuf_create1(self->dev, pipefd[0], 0, PAGE, 0));
	close(pipefd[0]);
	close(pipefd[1]);
}

TEST_F(udmabuf, unsealed)
{
	int fd = memfd_create("unsealed", MFD_ALLOW_SEALING);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 4 * PAGE));
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, fd, 0, PAGE, 0));
	close(fd);
}

TEST_F(udmabuf, write_sealed)
{
	int fd = memfd_sealed("w", 4 * PAGE, 0, F_SEAL_WRITE);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, fd, 0, PAGE, 0));
	close(fd);
}

TEST_F(udmabuf, future_write_sealed)
{
	int fd = memfd_sealed("fw", 4 * PAGE, 0, F_SEAL_FUTURE_WRITE);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, fd, 0, PAGE, 0));
	close(fd);
}

TEST_F(udmabuf, unaligned_offset)
{
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, self->memfd, PAGE / 2, PAGE, 0));
}

TEST_F(udmabuf, unaligned_size)
{
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, self->memfd, 0, PAGE + 1, 0));
}

TEST_F(udmabuf, zero_size)
{
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, self->memfd, 0, 0, 0));
}

TEST_F(udmabuf, past_end_of_memfd)
{
	EXPECT_EQ(-EINVAL,
		  udmabuf_create1(self->dev, self->memfd, 12 * PAGE, 8 * PAGE, 0));
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, self->memfd, 16 * PAGE, PAGE, 0));
}

TEST_F(udmabuf, offset_plus_size_overflows)
{
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, self->memfd,
					   UINT64_MAX & ~(PAGE - 1), 2 * PAGE, 0));
}

TEST_F(udmabuf, over_size_limit)
{
	size_t size = (self->size_limit_mb + 1) << 20;
	int fd = memfd_sealed("big", size, 0, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, fd, 0, size, 0));
	EXPECT_EQ(0, write_seal(fd));
	close(fd);
}

TEST_F(udmabuf, list_over_limit)
{
	unsigned int count = self->list_limit + 1;
	struct udmabuf_create_item *items = calloc(count, sizeof(*items));

	ASSERT_NE(NULL, items);
	for (unsigned int i = 0; i < count; i++)
		items[i] = (struct udmabuf_create_item) {
			.memfd = self->memfd, .size = PAGE };
	EXPECT_EQ(-EINVAL, udmabuf_create_list(self->dev, 0, items, count));
	free(items);
}

TEST_F(udmabuf, list_of_nothing)
{
	EXPECT_EQ(-EINVAL, udmabuf_create_list(self->dev, 0, NULL, 0));
}

TEST_F(udmabuf, unknown_ioctl)
{
	EXPECT_EQ(-1, ioctl(self->dev, _IO('u', 0x7f), 0));
	EXPECT_EQ(ENOTTY, errno);
}

/* Forks and execs this program, which reports whether @fd is still open. */
static int fd_open_after_exec(int fd)
{
	char arg[16];
	int status;
	pid_t pid;

	snprintf(arg, sizeof(arg), "%d", fd);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "udmabuf-uapi", "--fd-open", arg, NULL);
		_exit(99);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST_F(udmabuf, cloexec_closes_on_exec)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, PAGE, UDMABUF_FLAGS_CLOEXEC);

	ASSERT_LE(0, fd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, fd_open_after_exec(fd));
	close(fd);
}

TEST_F(udmabuf, no_cloexec_survives_exec)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, PAGE, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(1, fd_open_after_exec(fd));
	close(fd);
}

TEST_F(udmabuf, private_mmap_refused)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 4 * PAGE, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

/*
 * A mapping may end at the buffer's end, not a page past it: EINVAL, from
 * the start or from an offset. The one that fits reads the memfd's pages.
 */
TEST_F(udmabuf, mmap_past_end_refused)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 4 * PAGE, 4 * PAGE, 0);
	uint8_t *p;

	ASSERT_LE(0, fd);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4 * PAGE, PROT_READ, MAP_SHARED, fd,
				   2 * PAGE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 5 * PAGE, PROT_READ, MAP_SHARED, fd,
				   0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd,
				   4 * PAGE));
	EXPECT_EQ(EINVAL, errno);

	p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 2 * PAGE);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("the last two pages: %s",
					strerror(errno));
	EXPECT_EQ(2 * PAGE, pattern_check(p, 7, 6 * PAGE, 2 * PAGE));
	munmap(p, 2 * PAGE);
	close(fd);
}

TEST_F(udmabuf, mremap_growth_refused)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 4 * PAGE, 0);
	void *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(MAP_FAILED, mremap(p, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE));
	munmap(p, 2 * PAGE);
	close(fd);
}

/* Bytes both ways: memfd -> buffer via the pattern, buffer -> memfd. */
static void roundtrip(struct __test_metadata *_metadata, int dev, int memfd,
		      uint8_t seed, const struct udmabuf_create_item *items,
		      unsigned int count)
{
	struct udmabuf_create_item list[8];
	size_t size = 0, done = 0;
	uint8_t *buf, back;
	int fd;

	for (unsigned int i = 0; i < count; i++) {
		list[i] = items[i];
		list[i].memfd = memfd;
		size += items[i].size;
	}
	fd = udmabuf_create_list(dev, 0, list, count);
	ASSERT_LE(0, fd) TH_LOG("create: %s", strerror(-fd));
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, buf);

	for (unsigned int i = 0; i < count; i++) {
		EXPECT_EQ(list[i].size, pattern_check(buf + done, seed,
						      list[i].offset,
						      list[i].size))
			TH_LOG("item %u", i);
		done += list[i].size;
	}
	/* Write the last page through the buffer, read it from the memfd. */
	buf[size - 1] = ~buf[size - 1];
	ASSERT_EQ(1, pread(memfd, &back, 1, list[count - 1].offset +
			   list[count - 1].size - 1));
	EXPECT_EQ(buf[size - 1], back);
	buf[size - 1] = ~buf[size - 1];

	munmap(buf, size);
	close(fd);
	EXPECT_EQ(0, write_seal(memfd));
}

TEST_F(udmabuf, shmem_bytes_both_ways)
{
	const struct udmabuf_create_item items[] = {
		{ .offset = 3 * PAGE, .size = 9 * PAGE },
		{ .offset = 0, .size = PAGE },
	};

	roundtrip(_metadata, self->dev, self->memfd, 7, items, 2);
}

TEST_F(udmabuf, shmem_items_share_pages)
{
	const struct udmabuf_create_item items[] = {
		{ .offset = 0, .size = 3 * PAGE },
		{ .offset = 2 * PAGE, .size = 3 * PAGE },
		{ .offset = 2 * PAGE, .size = PAGE },
	};

	roundtrip(_metadata, self->dev, self->memfd, 7, items, 3);
}

TEST_F(udmabuf, mmap_at_offset)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 4 * PAGE, 8 * PAGE, 0);
	uint8_t *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, fd, 5 * PAGE);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(3 * PAGE, pattern_check(p, 7, 9 * PAGE, 3 * PAGE));
	munmap(p, 3 * PAGE);
	close(fd);
}

TEST_F(udmabuf, thp_items_inside_huge_folios)
{
	const struct udmabuf_create_item items[] = {
		{ .offset = SZ_2M - 2 * PAGE, .size = SZ_2M + 4 * PAGE },
		{ .offset = 3 * SZ_2M + 5 * PAGE, .size = 10 * PAGE },
		{ .offset = 3 * SZ_2M + 15 * PAGE, .size = 2 * PAGE },
	};
	int memfd;
	uint8_t *p;

	if (!shmem_thp("always"))
		SKIP(return, "no shmem THP");
	memfd = patterned_memfd(4 * SZ_2M, 0, 11);
	ASSERT_LE(0, memfd);
	p = mmap(NULL, SZ_2M, PROT_READ, MAP_SHARED, memfd, SZ_2M);
	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, SZ_2M);
	if (!(page_flags_of(pfn_of(p)) & (1ULL << 22))) {
		munmap(p, SZ_2M);
		close(memfd);
		SKIP(return, "shmem gave no huge folio");
	}
	munmap(p, SZ_2M);
	roundtrip(_metadata, self->dev, memfd, 11, items, 3);
	close(memfd);
}

TEST_F(udmabuf, hugetlb_items_inside_huge_folios)
{
	const struct udmabuf_create_item items[] = {
		{ .offset = SZ_2M - 3 * PAGE, .size = SZ_2M + 8 * PAGE },
		{ .offset = 2 * SZ_2M + 7 * PAGE, .size = 64 * PAGE },
		{ .offset = 2 * SZ_2M + 71 * PAGE, .size = PAGE },
		{ .offset = 0, .size = SZ_2M },
	};
	int memfd = patterned_memfd(4 * SZ_2M, MFD_HUGETLB, 13);

	if (memfd < 0)
		SKIP(return, "no hugetlb memfd: %s", strerror(-memfd));
	roundtrip(_metadata, self->dev, memfd, 13, items, 4);
	close(memfd);
}

/*
 * Touching every page of a 4 MiB mapping in order: seven faults, each
 * mapping a window twice as long as the last, from 16 pages (16 + 32 +
 * ... + 512 = 1,008 pages, then the last 16).
 */
TEST_F(udmabuf, faults_double_their_windows)
{
	size_t size = 4 << 20;
	int memfd = patterned_memfd(size, 0, 3), fd;
	uint8_t *p;
	long faults;

	ASSERT_LE(0, memfd);
	fd = udmabuf_create1(self->dev, memfd, 0, size, 0);
	ASSERT_LE(0, fd);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	minor_faults();
	faults = minor_faults();
	touch_pages(p, size);
	faults = minor_faults() - faults;
	EXPECT_EQ(7, faults) TH_LOG("%ld faults for %zu pages", faults,
				    size / PAGE);
	EXPECT_EQ(size, pattern_check(p, 3, 0, size));
	munmap(p, size);
	close(fd);
	close(memfd);
}

/*
 * A byte read in the middle of a 64 MiB mapping maps the 16 pages of its
 * window, 8,192 to 8,207: reading them takes no fault, page 8,208 and page
 * 8,191 take one each. One page table is built, not the 32 of the whole
 * mapping (VmPTE rises by 4 kB, plus at most a PMD table and a PUD table).
 * /proc/self/pagemap shows no page of a VM_PFNMAP mapping: faults tell.
 */
TEST_F(udmabuf, first_byte_maps_its_window)
{
	size_t size = 64 << 20, mid = 8192;
	int memfd = patterned_memfd(size, 0, 5), fd;
	long pte_kb, faults[3];
	uint8_t *p;

	ASSERT_LE(0, memfd);
	fd = udmabuf_create1(self->dev, memfd, 0, size, 0);
	ASSERT_LE(0, fd);
	pte_kb = page_table_kb();
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(pattern_at(5, mid * PAGE + 7),
		  __atomic_load_n(p + mid * PAGE + 7, __ATOMIC_RELAXED));
	pte_kb = page_table_kb() - pte_kb;
	EXPECT_LE(4, pte_kb);
	EXPECT_GE(12, pte_kb);

	minor_faults();
	faults[0] = minor_faults();
	touch_pages(p + mid * PAGE, 16 * PAGE);
	faults[1] = minor_faults();
	touch_pages(p + (mid + 16) * PAGE, PAGE);
	faults[2] = minor_faults();
	touch_pages(p + (mid - 1) * PAGE, PAGE);
	EXPECT_EQ(0, faults[1] - faults[0]);
	EXPECT_EQ(1, faults[2] - faults[1]);
	EXPECT_EQ(1, minor_faults() - faults[2]);
	EXPECT_EQ(18 * PAGE, pattern_check(p + (mid - 1) * PAGE, 5,
					   (mid - 1) * PAGE, 18 * PAGE));
	munmap(p, size);
	close(fd);
	close(memfd);
}

/*
 * A hugetlb buffer mapped at a 2 MiB-aligned address: each 2 MiB's first
 * fault maps it with a PMD leaf, which needs no page of PTEs, while the
 * same buffer one page off the alignment needs a page of PTEs per 2 MiB
 * (8 MiB mapped in eight faults, each window twice the last, from 16
 * pages), and so does an aligned one in a process that
 * refuses huge entries (PR_SET_THP_DISABLE: a fault per 2 MiB). All read
 * and write right; fork() and mremap() keep the leaves working; an
 * mprotect() that splits a leaf, and a munmap() of half of one, leave the
 * rest reading right.
 */
TEST_F(udmabuf, hugetlb_huge_mapping)
{
	const size_t size = 4 * SZ_2M;
	int memfd = patterned_memfd(size, MFD_HUGETLB, 17), fd;
	uint8_t *p, *moved, back;
	long faults, pte_kb[3];
	int status;
	pid_t pid;

	if (memfd < 0)
		SKIP(return, "no hugetlb memfd: %s", strerror(-memfd));
	fd = udmabuf_create1(self->dev, memfd, 0, size, 0);
	ASSERT_LE(0, fd) TH_LOG("create: %s", strerror(-fd));

	/* Aligned; one page off; aligned but PR_SET_THP_DISABLE. */
	for (int skew = 0; skew < 3; skew++) {
		pte_kb[skew] = page_table_kb();
		p = mmap_2m_skew(fd, size, 0, PROT_READ | PROT_WRITE,
				 skew == 1 ? PAGE : 0);
		ASSERT_NE(MAP_FAILED, p);
		if (skew == 2)
			ASSERT_EQ(0, prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
		faults = minor_faults();
		touch_pages(p, size);
		faults = minor_faults() - faults;
		pte_kb[skew] = page_table_kb() - pte_kb[skew];
		EXPECT_EQ(skew == 1 ? 8 : size / SZ_2M, faults)
			TH_LOG("skew %d: %ld faults", skew, faults);
		EXPECT_EQ(size, pattern_check(p, 17, 0, size));
		p[size - 1] = ~p[size - 1];
		ASSERT_EQ(1, pread(memfd, &back, 1, size - 1));
		EXPECT_EQ(p[size - 1], back);
		p[size - 1] = ~p[size - 1];
		munmap(p, size);
	}
	ASSERT_EQ(0, prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0));
	TH_LOG("page tables for 8 MiB: %ld kB aligned, %ld kB one page off, %ld kB refused",
	       pte_kb[0], pte_kb[1], pte_kb[2]);
	EXPECT_LE(pte_kb[0] + 16, pte_kb[1]);
	EXPECT_LE(pte_kb[0] + 16, pte_kb[2]);

	/*
	 * Leaves after the first fault: a fork()ed child reads them, and
	 * mremap() moves them to another aligned address.
	 */
	p = mmap_2m_skew(fd, size, 0, PROT_READ | PROT_WRITE, 0);
	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, size);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(pattern_check(p, 17, 0, size) == size ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	moved = mmap_2m_skew(fd, size, 0, PROT_READ | PROT_WRITE, 0);
	ASSERT_NE(MAP_FAILED, moved);
	ASSERT_EQ(moved, mremap(p, size, size, MREMAP_MAYMOVE | MREMAP_FIXED,
				moved));
	EXPECT_EQ(size, pattern_check(moved, 17, 0, size));

	/* Split leaves: both sides still read right. */
	p = moved;
	ASSERT_EQ(0, mprotect(p + SZ_2M + 5 * PAGE, PAGE, PROT_READ));
	ASSERT_EQ(0, munmap(p + 3 * SZ_2M, SZ_2M / 2));
	EXPECT_EQ(3 * SZ_2M, pattern_check(p, 17, 0, 3 * SZ_2M));
	EXPECT_EQ(SZ_2M / 2, pattern_check(p + 3 * SZ_2M + SZ_2M / 2, 17,
					   3 * SZ_2M + SZ_2M / 2, SZ_2M / 2));
	munmap(p, size);
	close(fd);
	EXPECT_EQ(0, write_seal(memfd)) TH_LOG("pins left after release");
	close(memfd);
}

/*
 * Soft-dirty tracking (clear_refs 4) makes a shared writable mapping's
 * protection read-only until the first write. In 2 MiB blocks mapped
 * before it, after it by a read, and not at all, a write must complete
 * (a read-only block goes on with PTEs) instead of mapping a read-only
 * leaf again and again: the child would spin until its alarm.
 */
TEST_F(udmabuf, write_after_clear_refs_soft_dirty)
{
	const size_t size = 3 * SZ_2M;
	int memfd = patterned_memfd(size, MFD_HUGETLB, 19), fd, status;
	uint8_t *p, back;
	pid_t pid;

	if (memfd < 0)
		SKIP(return, "no hugetlb memfd: %s", strerror(-memfd));
	fd = udmabuf_create1(self->dev, memfd, 0, size, 0);
	ASSERT_LE(0, fd) TH_LOG("create: %s", strerror(-fd));
	p = mmap_2m_skew(fd, size, 0, PROT_READ | PROT_WRITE, 0);
	ASSERT_NE(MAP_FAILED, p);

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int clear = open("/proc/self/clear_refs", O_WRONLY);

		alarm(20);
		if (p[0] != pattern_at(19, 0))
			_exit(3);
		if (clear < 0 || write(clear, "4", 1) != 1)
			_exit(2);
		if (p[SZ_2M] != pattern_at(19, SZ_2M))
			_exit(3);
		p[7] = 0x5a;
		p[SZ_2M + 7] = 0xa5;
		p[2 * SZ_2M + 7] = 0x55;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child %s %d", WIFSIGNALED(status) ? "signal" : "exit",
		       WIFSIGNALED(status) ? WTERMSIG(status) :
		       WEXITSTATUS(status));
	ASSERT_EQ(1, pread(memfd, &back, 1, 7));
	EXPECT_EQ(0x5a, back);
	ASSERT_EQ(1, pread(memfd, &back, 1, SZ_2M + 7));
	EXPECT_EQ(0xa5, back);
	ASSERT_EQ(1, pread(memfd, &back, 1, 2 * SZ_2M + 7));
	EXPECT_EQ(0x55, back);
	munmap(p, size);
	close(fd);
	EXPECT_EQ(0, write_seal(memfd)) TH_LOG("pins left after release");
	close(memfd);
}

TEST_F(udmabuf, buffer_outlives_memfd)
{
	int memfd = patterned_memfd(8 * PAGE, 0, 5);
	int fd = udmabuf_create1(self->dev, memfd, 2 * PAGE, 6 * PAGE, 0);
	uint8_t *p;

	ASSERT_LE(0, fd);
	close(memfd);
	p = mmap(NULL, 6 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(6 * PAGE, pattern_check(p, 5, 2 * PAGE, 6 * PAGE));
	munmap(p, 6 * PAGE);
	close(fd);
}

TEST_F(udmabuf, fork_shares_the_mapping)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 4 * PAGE, 0), status;
	uint8_t *p;
	pid_t pid;

	ASSERT_LE(0, fd);
	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 0x5a;
	pid = fork();
	if (pid == 0)
		_exit(p[0] == 0x5a && (p[3 * PAGE] = 0xa5, 1) ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(0xa5, p[3 * PAGE]);
	p[0] = pattern_at(7, 0);
	p[3 * PAGE] = pattern_at(7, 3 * PAGE);
	munmap(p, 4 * PAGE);
	close(fd);
}

static int sync_flags(int fd, unsigned long long flags)
{
	struct dma_buf_sync sync = { .flags = flags };

	return ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) ? -errno : 0;
}

/* @len bytes of @memfd from @off hold the pattern of @seed. */
static bool memfd_holds(int memfd, uint8_t seed, off_t off, size_t len)
{
	uint8_t *got = malloc(len);
	bool same;

	same = got && pread(memfd, got, len, off) == (ssize_t)len &&
	       pattern_check(got, seed, off, len) == len;
	free(got);
	return same;
}

/*
 * DMA_BUF_IOCTL_SYNC brackets, with the bytes they bracket: an end before
 * any start is refused, and so are unknown flags (EINVAL). Inside a read
 * bracket the buffer reads what the memfd holds (also what was written to
 * the memfd between brackets); what a write bracket writes through the
 * buffer, the memfd reads after its end.
 */
TEST_F(udmabuf, dma_buf_sync)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 4 * PAGE, 4 * PAGE, 0);
	uint8_t *p, *bytes;

	ASSERT_LE(0, fd);
	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EINVAL, sync_flags(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW));

	ASSERT_EQ(0, sync_flags(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW));
	EXPECT_EQ(4 * PAGE, pattern_check(p, 7, 4 * PAGE, 4 * PAGE));
	pattern_fill(p, 8, 4 * PAGE, 4 * PAGE);
	EXPECT_EQ(0, sync_flags(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW));
	EXPECT_TRUE(memfd_holds(self->memfd, 8, 4 * PAGE, 4 * PAGE));

	/* Written to the memfd between brackets, read in the next one. */
	bytes = malloc(4 * PAGE);
	ASSERT_NE(NULL, bytes);
	pattern_fill(bytes, 9, 4 * PAGE, 4 * PAGE);
	ASSERT_EQ(4 * PAGE, pwrite(self->memfd, bytes, 4 * PAGE, 4 * PAGE));
	free(bytes);
	ASSERT_EQ(0, sync_flags(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
	EXPECT_EQ(4 * PAGE, pattern_check(p, 9, 4 * PAGE, 4 * PAGE));
	EXPECT_EQ(0, sync_flags(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));

	/* A write-only bracket puts the pattern back. */
	ASSERT_EQ(0, sync_flags(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE));
	pattern_fill(p, 7, 4 * PAGE, 4 * PAGE);
	EXPECT_EQ(0, sync_flags(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE));
	EXPECT_TRUE(memfd_holds(self->memfd, 7, 0, 16 * PAGE));

	EXPECT_EQ(-EINVAL, sync_flags(fd, 1ULL << 40));
	munmap(p, 4 * PAGE);
	close(fd);
}

TEST_F(udmabuf, no_pin_left_after_release)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 16 * PAGE, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBUSY, write_seal(self->memfd));
	close(fd);
	EXPECT_EQ(0, write_seal(self->memfd));
}

TEST_F(udmabuf, no_pin_left_after_refused_list)
{
	const struct udmabuf_create_item items[] = {
		{ .memfd = self->memfd, .offset = 0, .size = 8 * PAGE },
		{ .memfd = self->memfd, .offset = 8 * PAGE, .size = 4 * PAGE },
		{ .memfd = self->memfd, .offset = 14 * PAGE, .size = 4 * PAGE },
	};

	EXPECT_EQ(-EINVAL, udmabuf_create_list(self->dev, 0, items, 3));
	EXPECT_EQ(0, write_seal(self->memfd));
}

/* A fresh shared mapping of the fixture's 16 pages, not yet faulted. */
static uint8_t *map16(struct __test_metadata *_metadata, int fd, int prot)
{
	uint8_t *p = mmap(NULL, 16 * PAGE, prot, MAP_SHARED, fd, 0);

	ASSERT_NE(MAP_FAILED, p);
	return p;
}

/* mprotect() splits the VMA before its first fault: both parts work. */
TEST_F(udmabuf, fault_after_mprotect_split)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 16 * PAGE, 0);
	uint8_t *p, back;

	ASSERT_LE(0, fd);
	p = map16(_metadata, fd, PROT_READ | PROT_WRITE);
	ASSERT_EQ(0, mprotect(p + 4 * PAGE, 4 * PAGE, PROT_READ));
	EXPECT_EQ(4 * PAGE, pattern_check(p + 4 * PAGE, 7, 4 * PAGE, 4 * PAGE));
	EXPECT_EQ(16 * PAGE, pattern_check(p, 7, 0, 16 * PAGE));
	p[9 * PAGE] = ~p[9 * PAGE];
	ASSERT_EQ(1, pread(self->memfd, &back, 1, 9 * PAGE));
	EXPECT_EQ(p[9 * PAGE], back);
	p[9 * PAGE] = ~p[9 * PAGE];
	/* And split again once populated. */
	ASSERT_EQ(0, mprotect(p + 12 * PAGE, PAGE, PROT_NONE));
	EXPECT_EQ(12 * PAGE, pattern_check(p, 7, 0, 12 * PAGE));
	munmap(p, 16 * PAGE);
	close(fd);
}

/* A hole cut in an unfaulted mapping: what is left faults right. */
TEST_F(udmabuf, fault_after_partial_munmap)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 16 * PAGE, 0);
	uint8_t *p;

	ASSERT_LE(0, fd);
	p = map16(_metadata, fd, PROT_READ);
	ASSERT_EQ(0, munmap(p + 4 * PAGE, 4 * PAGE));
	EXPECT_EQ(8 * PAGE, pattern_check(p + 8 * PAGE, 7, 8 * PAGE, 8 * PAGE));
	EXPECT_EQ(4 * PAGE, pattern_check(p, 7, 0, 4 * PAGE));
	munmap(p, 4 * PAGE);
	munmap(p + 8 * PAGE, 8 * PAGE);
	close(fd);
}

/* A mapping moved by mremap(), before and after its first fault. */
TEST_F(udmabuf, fault_after_mremap_move)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 16 * PAGE, 0);
	uint8_t *p, *q, *area;

	ASSERT_LE(0, fd);
	area = mmap(NULL, 64 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	for (int touched = 0; touched < 2; touched++) {
		/* The first move leaves a hole that the second map may take. */
		uint8_t *to = area + (touched ? 8 : 40) * PAGE;

		p = map16(_metadata, fd, PROT_READ);
		if (touched)
			EXPECT_EQ(pattern_at(7, 0), p[0]);
		q = mremap(p, 16 * PAGE, 16 * PAGE,
			   MREMAP_MAYMOVE | MREMAP_FIXED, to);
		ASSERT_EQ(to, q) TH_LOG("mremap: %s", strerror(errno));
		EXPECT_EQ(16 * PAGE, pattern_check(q, 7, 0, 16 * PAGE));
		munmap(q, 16 * PAGE);
	}
	munmap(area, 64 * PAGE);
	close(fd);
}

struct reader {
	pthread_t thread;
	const uint8_t *p;
	size_t size;
	pthread_barrier_t *start;
	size_t good;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;

	pthread_barrier_wait(r->start);
	r->good = pattern_check(r->p, 3, 0, r->size);
	return NULL;
}

/* Two threads take the first fault of one fresh mapping at once. */
TEST_F(udmabuf, two_threads_fault_fresh_mapping)
{
	size_t size = 4 << 20;
	int memfd = patterned_memfd(size, 0, 3), fd;
	struct reader r[2];
	pthread_barrier_t start;

	ASSERT_LE(0, memfd);
	fd = udmabuf_create1(self->dev, memfd, 0, size, 0);
	ASSERT_LE(0, fd);
	for (int round = 0; round < 4; round++) {
		uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);

		ASSERT_NE(MAP_FAILED, p);
		pthread_barrier_init(&start, NULL, 2);
		for (int i = 0; i < 2; i++) {
			r[i] = (struct reader) {
				.p = p,
				.size = size, .start = &start,
			};
			ASSERT_EQ(0, pthread_create(&r[i].thread, NULL,
						    read_all, &r[i]));
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(r[i].thread, NULL);
			EXPECT_EQ(size, r[i].good) TH_LOG("thread %d", i);
		}
		pthread_barrier_destroy(&start);
		munmap(p, size);
	}
	close(fd);
	close(memfd);
}

struct syncer {
	pthread_t thread;
	int fd;
	pthread_barrier_t *start;
	int ret;
};

static void *sync_start_end(void *arg)
{
	struct syncer *s = arg;
	struct dma_buf_sync sync = {
		.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
	};

	pthread_barrier_wait(s->start);
	s->ret = ioctl(s->fd, DMA_BUF_IOCTL_SYNC, &sync) ? -errno : 0;
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	if (!s->ret)
		s->ret = ioctl(s->fd, DMA_BUF_IOCTL_SYNC, &sync) ? -errno : 0;
	return NULL;
}

/*
 * The first DMA_BUF_IOCTL_SYNC from 8 threads on fresh buffers: each
 * succeeds (and, under kmemleak or the DMA-API debugger, nothing leaks).
 */
TEST_F(udmabuf, first_sync_from_eight_threads)
{
	struct syncer s[8];
	pthread_barrier_t start;

	for (int round = 0; round < 16; round++) {
		int fd = udmabuf_create1(self->dev, self->memfd, 0, 16 * PAGE,
					 0);

		ASSERT_LE(0, fd);
		pthread_barrier_init(&start, NULL, 8);
		for (int i = 0; i < 8; i++) {
			s[i] = (struct syncer) { .fd = fd, .start = &start };
			ASSERT_EQ(0, pthread_create(&s[i].thread, NULL,
						    sync_start_end, &s[i]));
		}
		for (int i = 0; i < 8; i++) {
			pthread_join(s[i].thread, NULL);
			EXPECT_EQ(0, s[i].ret) TH_LOG("thread %d", i);
		}
		pthread_barrier_destroy(&start);
		close(fd);
	}
	EXPECT_EQ(0, write_seal(self->memfd));
}

/* A write-only bracket, then close: unmapped in the direction mapped. */
TEST_F(udmabuf, write_only_sync_then_close)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 16 * PAGE, 0);
	struct dma_buf_sync sync = {
		.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE,
	};

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE;
	EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	close(fd);
	EXPECT_EQ(0, write_seal(self->memfd));
}

/*
 * One page named list_limit times, in as many buffers as 8,192 file
 * descriptors hold: each buffer pins the page once. Pinned once per item,
 * its refcount passed INT_MAX after 2,048 buffers (a kernel warning, then
 * EINVAL for every create).
 */
TEST_F_TIMEOUT(udmabuf, one_page_in_thousands_of_buffers, 600)
{
	struct rlimit nofile = { 8192, 8192 };
	struct udmabuf_create_item *items;
	int *fds, made = 0, fd;
	long count = self->list_limit;

	if (count <= 0)
		SKIP(return, "list_limit is %ld", count);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &nofile));
	items = calloc(count, sizeof(*items));
	fds = calloc(nofile.rlim_cur, sizeof(*fds));
	ASSERT_TRUE(items && fds);
	for (long i = 0; i < count; i++)
		items[i] = (struct udmabuf_create_item) {
			.memfd = self->memfd, .offset = 5 * PAGE, .size = PAGE,
		};
	for (;;) {
		fd = udmabuf_create_list(self->dev, 0, items, count);
		if (fd < 0)
			break;
		fds[made++] = fd;
	}
	EXPECT_EQ(-EMFILE, fd) TH_LOG("after %d buffers: %s", made,
				      strerror(-fd));
	EXPECT_LE(8000, made);
	ksft_print_msg("%d buffers of %ld items on one page\n", made, count);
	EXPECT_EQ(-EBUSY, write_seal(self->memfd));
	for (int i = 0; i < made; i++)
		close(fds[i]);
	EXPECT_EQ(0, write_seal(self->memfd));
	free(fds);
	free(items);
}

/*
 * Make, map, touch and release one buffer of a whole memfd nothing has
 * written yet, timed. The hugetlb reservation count must not move: 6.12's
 * memfd_pin_folios() alone would take reservations nobody made.
 */
static void large_buffer(struct __test_metadata *_metadata, int dev,
			 const char *what, size_t size, unsigned int mfd_flags)
{
	int memfd = memfd_sealed(what, size, mfd_flags, 0), fd;
	long rsvd = meminfo_kb("HugePages_Rsvd");
	double t0, t1, t2, t3;
	uint8_t *p, sum;

	if (memfd < 0)
		SKIP(return, "%s memfd: %s", what, strerror(-memfd));
	t0 = now_us() / 1e3;
	fd = udmabuf_create1(dev, memfd, 0, size, 0);
	t1 = now_us() / 1e3;
	ASSERT_LE(0, fd) TH_LOG("%s: %s", what, strerror(-fd));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	sum = touch_pages(p, size);
	p[size - 1] = 0x5a;
	t2 = now_us() / 1e3;
	munmap(p, size);
	close(fd);
	t3 = now_us() / 1e3;
	ksft_print_msg("%s, %zu MiB: create %.1f ms, mmap+touch %.1f ms, release %.1f ms (%u)\n",
		       what, size >> 20, t1 - t0, t2 - t1, t3 - t2, sum);
	EXPECT_EQ(rsvd, meminfo_kb("HugePages_Rsvd"));
	EXPECT_EQ(0, write_seal(memfd));
	close(memfd);
	EXPECT_EQ(rsvd, meminfo_kb("HugePages_Rsvd"));
}

/*
 * size_limit_mb raised as users raise it: 2 GiB buffers of hugetlb and of
 * 4 KiB shmem work, and a sparse 512 GiB item fails cleanly (ENOMEM, no
 * warning, nothing pinned).
 */
TEST_F_TIMEOUT(udmabuf, raised_size_limit, 300)
{
	const size_t sparse = 512UL << 30;
	int memfd, ret;

	ASSERT_EQ(0, write_param("size_limit_mb", (sparse >> 20) + 1));
	large_buffer(_metadata, self->dev, "hugetlb 2 MiB", 2UL << 30,
		     MFD_HUGETLB);
	large_buffer(_metadata, self->dev, "shmem 4 KiB", 2UL << 30, 0);

	memfd = memfd_sealed("sparse", sparse, 0, 0);
	ASSERT_LE(0, memfd);
	ret = udmabuf_create1(self->dev, memfd, 0, sparse, 0);
	EXPECT_EQ(-ENOMEM, ret);
	if (ret >= 0)
		close(ret);
	EXPECT_EQ(0, write_seal(memfd));
	close(memfd);
	EXPECT_EQ(0, write_param("size_limit_mb", self->size_limit_mb));
}

/* Mappings the DMA-API debugger holds for the device named @dev. */
static int dma_debug_entries(const char *dev)
{
	char line[512];
	int n = 0;
	FILE *f;

	mkdir("/sys/kernel/debug", 0755);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	f = fopen("/sys/kernel/debug/dma-api/dump", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, dev);
	fclose(f);
	return n;
}

static int sync_buffer(int fd, unsigned long long flags)
{
	struct dma_buf_sync sync = { .flags = flags | DMA_BUF_SYNC_RW };

	return ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) ? -errno : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The 4 KiB frames of the DMA-API debugger's mappings for the device named
 * @dev (each entry's physical address P= and length L=), sorted, into
 * @pfns (room for @max): how many there are, or -errno.
 */
static int dma_debug_frames(const char *dev, uint64_t *pfns, int max)
{
	unsigned long long paddr, len;
	char line[512];
	const char *p, *l;
	int n = 0;
	FILE *f;

	f = fopen("/sys/kernel/debug/dma-api/dump", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, " P=");
		l = strstr(line, " L=");
		if (!strstr(line, dev) || !p || !l ||
		    sscanf(p, " P=%llx", &paddr) != 1 ||
		    sscanf(l, " L=%llx", &len) != 1)
			continue;
		for (unsigned long long off = 0; off < len; off += PAGE, n++)
			if (n < max)
				pfns[n] = (paddr + off) / PAGE;
	}
	fclose(f);
	if (n <= max)
		qsort(pfns, n, sizeof(*pfns), cmp_u64);
	return n;
}

/*
 * The frames vgem's DMA mappings gained since @before (@nbefore frames,
 * sorted) are the frames of @memfd's first @size bytes, each once, as
 * /proc/self/pagemap shows them through a mapping of the memfd: what
 * the device was given, against what the memfd holds, not against what
 * the driver says. Needs root (pagemap's frames) and the debugger.
 */
static void expect_vgem_frames(struct __test_metadata *_metadata, int memfd,
			       size_t size, const uint64_t *before,
			       int nbefore)
{
	size_t pages = size / PAGE, max = nbefore + pages + 1;
	uint64_t *now = calloc(max, sizeof(*now));
	uint64_t *want = calloc(pages, sizeof(*want));
	size_t nnew = 0, b = 0;
	const uint8_t *p;
	int n;

	ASSERT_NE(NULL, now);
	ASSERT_NE(NULL, want);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, memfd, 0);
	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, size);
	for (size_t i = 0; i < pages; i++)
		want[i] = pfn_of(p + i * PAGE);
	munmap((void *)p, size);
	if (!want[0]) {
		TH_LOG("no frames in pagemap (not root?): frames not compared");
		goto out;
	}
	qsort(want, pages, sizeof(*want), cmp_u64);

	n = dma_debug_frames("vgem", now, max);
	ASSERT_LE(0, n);
	ASSERT_GE(max, n) TH_LOG("vgem maps more than the buffer");
	/* What is new since @before: a merge of two sorted lists. */
	for (int i = 0; i < n; i++) {
		while (b < nbefore && before[b] < now[i])
			b++;
		if (b < nbefore && before[b] == now[i]) {
			b++;
			continue;
		}
		now[nnew++] = now[i];
	}
	EXPECT_EQ(pages, nnew) TH_LOG("pages vgem mapped");
	for (size_t i = 0; i < pages && i < nnew; i++)
		if (now[i] != want[i]) {
			EXPECT_EQ(want[i], now[i])
				TH_LOG("frame %zu of %zu, sorted", i, pages);
			break;
		}
out:
	free(now);
	free(want);
}

/*
 * vgem imports a buffer of @size bytes of @memfd through PRIME: it
 * attaches and maps the buffer on a real, if virtual, device, under the
 * DMA-API debugger, with a CPU bracket open before the import and one
 * after. The frames of its mapping, as the debugger records them, are
 * the memfd's. PRIME's export of an imported object hands back the
 * buffer itself (the same file), not a view of vgem's: no bytes are read
 * through it, as they would only come through our own mmap. Importer
 * closed first, or buffer closed first: no pin and no DMA mapping is left.
 */
static void vgem_import(struct __test_metadata *_metadata, int dev, int card,
			int memfd, size_t size)
{
	int before = dma_debug_entries("vgem");
	uint64_t *old = NULL;
	int nold = 0;

	if (before >= 0) {
		nold = dma_debug_frames("vgem", NULL, 0);
		ASSERT_LE(0, nold);
		old = calloc(nold + 1, sizeof(*old));
		ASSERT_NE(NULL, old);
		ASSERT_EQ(nold, dma_debug_frames("vgem", old, nold));
	}
	for (int order = 0; order < 2; order++) {
		int fd = udmabuf_create1(dev, memfd, 0, size, 0);
		struct drm_prime_handle prime = { .fd = fd };
		struct drm_gem_close gem_close = { 0 };
		struct stat ours, back;

		ASSERT_LE(0, fd);
		EXPECT_EQ(0, sync_buffer(fd, DMA_BUF_SYNC_START));
		ASSERT_EQ(0, ioctl(card, DRM_IOCTL_PRIME_FD_TO_HANDLE, &prime))
			TH_LOG("import: %s", strerror(errno));
		if (before >= 0) {
			EXPECT_LT(before, dma_debug_entries("vgem"));
			expect_vgem_frames(_metadata, memfd, size, old, nold);
		}
		EXPECT_EQ(0, sync_buffer(fd, DMA_BUF_SYNC_END));
		EXPECT_EQ(0, sync_buffer(fd, DMA_BUF_SYNC_START));

		/* Exported back: the buffer itself, not a copy or a view. */
		prime.fd = -1;
		prime.flags = DRM_CLOEXEC | DRM_RDWR;
		ASSERT_EQ(0, ioctl(card, DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime));
		ASSERT_EQ(0, fstat(fd, &ours));
		ASSERT_EQ(0, fstat(prime.fd, &back));
		EXPECT_EQ(ours.st_dev, back.st_dev);
		EXPECT_EQ(ours.st_ino, back.st_ino);
		close(prime.fd);
		EXPECT_EQ(0, sync_buffer(fd, DMA_BUF_SYNC_END));

		gem_close.handle = prime.handle;
		if (order) {
			close(fd);
			EXPECT_EQ(-EBUSY, write_seal(memfd));
		}
		EXPECT_EQ(0, ioctl(card, DRM_IOCTL_GEM_CLOSE, &gem_close));
		if (!order)
			close(fd);
	}
	if (before >= 0)
		EXPECT_EQ(before, dma_debug_entries("vgem"));
	free(old);
}

/* 4 KiB shmem pages: one segment per page, most likely. */
TEST_F(udmabuf, vgem_imports_a_shmem_buffer)
{
	int card = open_vgem();

	if (card < 0)
		SKIP(return, "no vgem");
	vgem_import(_metadata, self->dev, card, self->memfd, 16 * PAGE);
	EXPECT_EQ(0, write_seal(self->memfd));
	close(card);
}

/*
 * 2 MiB hugetlb folios: contiguous runs longer than vgem's segment limit
 * (64 KiB: it has no DMA parameters of its own), and than the misc
 * device's CPU bracket mapping would take without its own.
 */
TEST_F(udmabuf, vgem_imports_a_hugetlb_buffer)
{
	int memfd = patterned_memfd(2 * SZ_2M, MFD_HUGETLB, 17);
	int card = open_vgem();

	if (memfd < 0 || card < 0) {
		if (card >= 0)
			close(card);
		if (memfd >= 0)
			close(memfd);
		SKIP(return, "no vgem or no hugetlb memfd");
	}
	vgem_import(_metadata, self->dev, card, memfd, 2 * SZ_2M);
	EXPECT_EQ(0, write_seal(memfd));
	close(memfd);
	close(card);
}

static atomic_long alarms;

static void on_alarm(int sig)
{
	atomic_fetch_add(&alarms, 1);	/* lock-free: fine in a handler */
}

/*
 * 40 creates over fresh 32 MiB hugetlb memfds that nothing has written,
 * so that the driver fills their holes first, under SIGALRM every 0.5 ms:
 * 20 with a handler installed with SA_RESTART, 20 without. A signal that
 * is not fatal must fail no create (hugetlbfs's fallocate() stops at a
 * pending one with EINTR, and SA_RESTART does not restart EINTR: the
 * create itself must restart). Afterwards every memfd takes F_SEAL_WRITE.
 */
TEST_F_TIMEOUT(udmabuf, creates_survive_signals, 180)
{
	const struct itimerval every = {
		.it_interval = { .tv_usec = 500 }, .it_value = { .tv_usec = 500 },
	};
	const struct itimerval stop = { 0 };
	const size_t size = 32 << 20;
	enum { NR = 40 };
	long free_pages = meminfo_kb("HugePages_Free"), signals[2];
	int memfds[NR], failed[2] = { 0, 0 }, first_err = 0;

	if (free_pages < (long)(NR * size / SZ_2M))
		SKIP(return, "%ld free huge pages, %zu needed", free_pages,
		     NR * size / SZ_2M);
	for (int i = 0; i < NR; i++) {
		memfds[i] = memfd_sealed("signals", size, MFD_HUGETLB, 0);
		ASSERT_LE(0, memfds[i]) TH_LOG("memfd %d: %s", i,
					       strerror(-memfds[i]));
	}
	for (int restart = 1; restart >= 0; restart--) {
		struct sigaction sa = {
			.sa_handler = on_alarm,
			.sa_flags = restart ? SA_RESTART : 0,
		};
		long before = atomic_load(&alarms);

		sigemptyset(&sa.sa_mask);
		ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
		ASSERT_EQ(0, setitimer(ITIMER_REAL, &every, NULL));
		for (int i = restart ? 0 : NR / 2; i < (restart ? NR / 2 : NR);
		     i++) {
			int fd = udmabuf_create1(self->dev, memfds[i], 0, size,
						 0);

			if (fd < 0) {
				failed[restart]++;
				if (!first_err)
					first_err = fd;
				continue;
			}
			close(fd);
		}
		ASSERT_EQ(0, setitimer(ITIMER_REAL, &stop, NULL));
		signals[restart] = atomic_load(&alarms) - before;
	}
	signal(SIGALRM, SIG_DFL);
	for (int restart = 1; restart >= 0; restart--)
		ksft_print_msg("%s SA_RESTART: %d of %d creates failed, %ld signals\n",
			       restart ? "with" : "without", failed[restart],
			       NR / 2, signals[restart]);
	if (first_err)
		ksft_print_msg("the first failure: %s\n", strerror(-first_err));
	EXPECT_EQ(0, failed[1]);
	EXPECT_EQ(0, failed[0]);
	/* The timer really interrupted: several signals per create. */
	EXPECT_LE(NR / 2, signals[1]);
	EXPECT_LE(NR / 2, signals[0]);
	for (int i = 0; i < NR; i++) {
		EXPECT_EQ(0, write_seal(memfds[i])) TH_LOG("memfd %d", i);
		close(memfds[i]);
	}
}

/*
 * A read-only descriptor of a memfd (the file reopened through /proc)
 * makes buffers as the writable one does: over a range without holes, and
 * over one with holes, which the driver fills (a fallocate() through the
 * caller's descriptor would need it writable). hugetlb and shmem alike;
 * the bytes are the memfd's, written or zero.
 */
TEST_F(udmabuf, readonly_memfd_with_and_without_holes)
{
	const size_t size = 4 * SZ_2M, half = size / 2;
	const struct { uint64_t offset, size; const char *what; } ranges[] = {
		{ 0, half, "without holes" },
		{ half, half, "all holes" },
		{ half / 2, half, "half holes" },
	};
	long rsvd = meminfo_kb("HugePages_Rsvd");

	for (int hugetlb = 0; hugetlb < 2; hugetlb++) {
		int memfd = memfd_sealed("ro", size, hugetlb ? MFD_HUGETLB : 0,
					 0), ro;
		char path[64];
		uint8_t *p;

		if (memfd < 0 && hugetlb)
			SKIP(return, "no hugetlb memfd: %s", strerror(-memfd));
		ASSERT_LE(0, memfd);
		/* The first half written, the second never touched. */
		p = mmap(NULL, half, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		ASSERT_NE(MAP_FAILED, p);
		pattern_fill(p, 23, 0, half);
		munmap(p, half);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
		ro = open(path, O_RDONLY);
		ASSERT_LE(0, ro);
		ASSERT_EQ(O_RDONLY, fcntl(ro, F_GETFL) & O_ACCMODE);

		for (int i = 0; i < 3; i++) {
			uint64_t off = ranges[i].offset, len = ranges[i].size;
			int fd = udmabuf_create1(self->dev, ro, off, len, 0);
			uint64_t bad = len;

			EXPECT_LE(0, fd) TH_LOG("%s, read-only, %s: %s",
						hugetlb ? "hugetlb" : "shmem",
						ranges[i].what, strerror(-fd));
			if (fd < 0)
				continue;
			p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
			ASSERT_NE(MAP_FAILED, p);
			for (uint64_t k = 0; k < len && bad == len; k++)
				if (p[k] != (off + k < half ?
					     pattern_at(23, off + k) : 0))
					bad = k;
			EXPECT_EQ(len, bad) TH_LOG("%s", ranges[i].what);
			munmap(p, len);
			close(fd);
		}
		close(ro);
		EXPECT_EQ(0, write_seal(memfd));
		close(memfd);
		EXPECT_EQ(rsvd, meminfo_kb("HugePages_Rsvd"));
	}
}

/* ---- memcg ---- */

/* Longer than the kernel's periodic memcg statistics flush (2 s). */
enum { MEMCG_FIELDS = 5, MEMCG_FLUSH_US = 2500000 };
static const char *const memcg_fields[MEMCG_FIELDS] = {
	"kernel", "slab_unreclaimable", "vmalloc", "percpu", "sock",
};

struct memcg_sample {
	long current;
	long stat[MEMCG_FIELDS];
};

/*
 * What the child in the cgroup saw, sent back through a pipe: the
 * samples, then (if it lives) what the create under the limit did.
 */
struct memcg_result {
	struct memcg_sample s[4];	/* before, 1 buffer, 4 buffers, closed */
	int created[4];
};

struct memcg_limited {
	long current;			/* memory.current when the limit was set */
	int max_write;			/* 0 or -errno writing memory.max */
	int ret;			/* the create under the limit */
};

/* The file at @dir/@name into @buf (NUL-terminated), without malloc. */
static ssize_t read_cg(const char *dir, const char *name, char *buf,
		       size_t size)
{
	char path[320];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

static int write_cg(const char *dir, const char *name, const char *value)
{
	char path[320];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/* The number after "@key " at a line start of @text, or -1. */
static long cg_field(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *line = text; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (!strncmp(line, key, n) && line[n] == ' ')
			return atol(line + n + 1);
	return -1;
}

/*
 * memory.current and memory.stat of @cg, once the stats are flushed: the
 * kernel flushes them every 2 s, a read flushes them only past a batch.
 */
static void memcg_sample(const char *cg, struct memcg_sample *s)
{
	char buf[8192];

	sleep(3);
	read_cg(cg, "memory.current", buf, sizeof(buf));
	s->current = atol(buf);
	read_cg(cg, "memory.stat", buf, sizeof(buf));
	for (int i = 0; i < MEMCG_FIELDS; i++)
		s->stat[i] = cg_field(buf, memcg_fields[i]);
}

/*
 * The child, once in the cgroup @cg: one 64 MiB buffer, four, none; then,
 * with memory.max 64 KiB above memory.current, a 256 MiB buffer (four
 * times the memfd) whose metadata cannot fit. It allocates nothing of its
 * own once the limit is set: a fault would charge the cgroup too.
 */
static void memcg_child(int go, int out, const char *cg, int dev, int memfd,
			size_t size)
{
	struct {
		struct udmabuf_create_list list;
		struct udmabuf_create_item items[4];
	} big = { .list = { .count = 4 } };
	char c, value[32], path[320];
	struct memcg_limited l;
	struct memcg_result r;
	cpu_set_t cpus;
	int fds[4], max;

	memset(&r, 0, sizeof(r));
	memset(&l, 0, sizeof(l));
	if (read(go, &c, 1) != 1)
		_exit(2);
	/* One CPU: one per-CPU stock of precharged pages, not four. */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu(), &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	for (int i = 0; i < 4; i++)
		big.items[i] = (struct udmabuf_create_item) {
			.memfd = memfd, .size = size,
		};
	/* Warm up: what a first buffer allocates once for all. */
	fds[0] = udmabuf_create1(dev, memfd, 0, size, 0);
	if (fds[0] >= 0)
		close(fds[0]);

	/*
	 * memory.stat shows per-CPU changes once they pass a threshold or
	 * when the kernel's periodic flush (every 2 s) folds them in: the
	 * samples compared exactly wait for that flush.
	 */
	usleep(MEMCG_FLUSH_US);
	memcg_sample(cg, &r.s[0]);
	fds[0] = udmabuf_create1(dev, memfd, 0, size, 0);
	memcg_sample(cg, &r.s[1]);
	for (int i = 1; i < 4; i++)
		fds[i] = udmabuf_create1(dev, memfd, 0, size, 0);
	usleep(MEMCG_FLUSH_US);
	memcg_sample(cg, &r.s[2]);
	memcpy(r.created, fds, sizeof(fds));
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	usleep(MEMCG_FLUSH_US);
	memcg_sample(cg, &r.s[3]);
	/* Sent now: the numbers arrive even if the next create kills us. */
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(3);

	snprintf(path, sizeof(path), "%s/memory.max", cg);
	max = open(path, O_WRONLY);
	read_cg(cg, "memory.current", value, sizeof(value));
	l.current = atol(value);
	snprintf(value, sizeof(value), "%ld", l.current + 65536);
	l.max_write = write(max, value, strlen(value)) < 0 ? -errno : 0;
	l.ret = ioctl(dev, UDMABUF_CREATE_LIST, &big);
	if (l.ret < 0)
		l.ret = -errno;
	else
		close(l.ret);
	if (write(max, "max", 3) != 3)
		l.max_write = -errno;
	close(max);
	if (write(out, &l, sizeof(l)) != sizeof(l))
		_exit(3);
	_exit(0);
}

/*
 * The cgroup v2 directory of this process, with cgroup2 mounted at
 * /sys/fs/cgroup if it was not, and the memory controller enabled for its
 * children; or -errno.
 */
static int memcg_parent(char *dir, size_t size)
{
	char buf[256], *path = NULL, *nl;
	FILE *f;

	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK)) {
		mkdir("/sys/fs/cgroup", 0755);
		if (mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL))
			return -errno;
	}
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(buf, sizeof(buf), f) && !path)
		if (!strncmp(buf, "0::", 3))
			path = buf + 3;
	if (f)
		fclose(f);
	if (!path)
		return -ENOENT;
	nl = strchr(path, '\n');
	if (nl)
		*nl = 0;
	snprintf(dir, size, "/sys/fs/cgroup%s", strcmp(path, "/") ? path : "");
	if (read_cg(dir, "cgroup.controllers", buf, sizeof(buf)) < 0 ||
	    !strstr(buf, "memory"))
		return -EOPNOTSUPP;
	if (read_cg(dir, "cgroup.subtree_control", buf, sizeof(buf)) >= 0 &&
	    strstr(buf, "memory"))
		return 0;
	return write_cg(dir, "cgroup.subtree_control", "+memory");
}

/*
 * A buffer's metadata is charged to the memory cgroup of the task that
 * makes it (16 bytes per 4 KiB page here: 256 KiB for 64 MiB), not to
 * the memfd's, whose pages the parent wrote and so charged outside: the
 * child's memory.current and memory.stat's "kernel" go up by that much,
 * and come back down at close. With memory.max just above memory.current,
 * a create that does not fit fails with ENOMEM: the task is not killed
 * (no OOM kill: it exits normally) and no pin is left.
 *
 * memory.current counts the pages each CPU holds precharged (up to
 * MEMCG_CHARGE_BATCH, 64 pages): its assertions allow for one CPU's, the
 * child's only; "kernel" counts what is allocated.
 */
TEST_F_TIMEOUT(udmabuf, memcg_charges_buffer_metadata, 120)
{
	const size_t size = 64 << 20;
	const long meta = size / PAGE * 16, stock = 64 * PAGE;
	char dir[280], cg[300], pid_text[16], events[512];
	struct memcg_limited l = { .current = -1, .ret = 1 };
	struct memcg_result r;
	int memfd, go[2], out[2], status, ret;
	const struct memcg_sample *s = r.s;
	ssize_t got, got_limited;
	pid_t pid;

	ret = memcg_parent(dir, sizeof(dir));
	if (ret)
		SKIP(return, "no cgroup v2 memory controller here: %s",
		     strerror(-ret));
	snprintf(cg, sizeof(cg), "%s/udmabuf-test-%d", dir, getpid());
	rmdir(cg);
	ASSERT_EQ(0, mkdir(cg, 0755)) TH_LOG("%s: %s", cg, strerror(errno));
	/* Written here: its page cache is charged outside the child's cgroup. */
	memfd = patterned_memfd(size, 0, 29);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, write_param("size_limit_mb", 4 * (size >> 20)));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(out));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(go[1]);
		close(out[0]);
		memcg_child(go[0], out[1], cg, self->dev, memfd, size);
	}
	close(go[0]);
	close(out[1]);
	snprintf(pid_text, sizeof(pid_text), "%d", pid);
	ret = write_cg(cg, "cgroup.procs", pid_text);
	if (!ret)
		ret = write(go[1], "g", 1) == 1 ? 0 : -errno;
	if (ret)
		kill(pid, SIGKILL);
	got = read(out[0], &r, sizeof(r));
	got_limited = read(out[0], &l, sizeof(l));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(go[1]);
	close(out[0]);
	EXPECT_EQ(0, write_param("size_limit_mb", self->size_limit_mb));
	read_cg(cg, "memory.events", events, sizeof(events));
	rmdir(cg);
	ASSERT_EQ(0, ret) TH_LOG("moving the child: %s", strerror(-ret));

	/* Not killed, by the OOM killer or anything else. */
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child %s %d; memory.events: oom %ld, oom_kill %ld",
		       WIFSIGNALED(status) ? "killed by signal" : "exit",
		       WIFSIGNALED(status) ? WTERMSIG(status) :
		       WEXITSTATUS(status), cg_field(events, "oom"),
		       cg_field(events, "oom_kill"));
	ASSERT_EQ(sizeof(r), got);

	ksft_print_msg("memcg: create charged %ld bytes (kernel +%ld), after close %ld\n",
		       s[1].current - s[0].current, s[1].stat[0] - s[0].stat[0],
		       s[3].current - s[0].current);
	for (int i = 0; i < MEMCG_FIELDS; i++)
		ksft_print_msg("memcg: %s: %+ld one buffer, %+ld four, %+ld closed\n",
			       memcg_fields[i], s[1].stat[i] - s[0].stat[i],
			       s[2].stat[i] - s[0].stat[i],
			       s[3].stat[i] - s[0].stat[i]);
	ksft_print_msg("memcg: memory.current %+ld for four buffers\n",
		       s[2].current - s[0].current);
	if (got_limited != sizeof(l))
		ksft_print_msg("memcg: memory.max 64 KiB over: 256 MiB create killed the task\n");
	else
		ksft_print_msg("memcg: memory.max 64 KiB over %ld: 256 MiB create %s\n",
			       l.current, l.ret < 0 ? strerror(-l.ret) : "succeeded");

	for (int i = 0; i < 4; i++) {
		EXPECT_LE(0, r.created[i]) TH_LOG("create %d: %s", i,
						  strerror(-r.created[i]));
	}
	/*
	 * memory.stat is flushed lazily (past a count of updates, or every
	 * 2 s): one buffer's charge, sampled at once, may not show yet; the
	 * other samples waited for the flush.
	 */
	EXPECT_LE(4 * meta, s[2].stat[0] - s[0].stat[0]);
	EXPECT_LE(4 * meta - stock, s[2].current - s[0].current);
	EXPECT_GE(64 << 10, labs(s[3].stat[0] - s[0].stat[0]));
	EXPECT_GE(stock + (64 << 10), labs(s[3].current - s[0].current));
	EXPECT_EQ(sizeof(l), got_limited) TH_LOG("no word after the limit");
	EXPECT_EQ(0, l.max_write) TH_LOG("memory.max: %s",
					 strerror(-l.max_write));
	EXPECT_EQ(-ENOMEM, l.ret);
	EXPECT_EQ(0, write_seal(memfd)) TH_LOG("pins left");
	close(memfd);
}

/* ---- CPU brackets of one buffer from several threads ---- */

enum { BRACKET_WRITERS = 4, WRITER_PAGES = 16 };

struct bracket_race {
	int fd;
	uint8_t *buf;			/* the buffer's mapping */
	pthread_barrier_t start;
	atomic_int writing;		/* writers inside their bracket */
	atomic_int writers_left;
	double until;			/* CLOCK_MONOTONIC, µs */
};

struct bracket_thread {
	pthread_t thread;
	struct bracket_race *race;
	int id;				/* writer 0..3, or -1: the reader */
	uint32_t last;			/* the value last written */
	long rounds, lost, failed, racing;
};

static int bracket(int fd, unsigned long long flags)
{
	struct dma_buf_sync sync = { .flags = flags };

	return ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) ? -errno : 0;
}

/*
 * A writer: in each START|WRITE ... END|WRITE bracket, check that its
 * pages hold what it wrote in the last one (nobody else writes them),
 * then write the round's value over them. A begin of any thread that
 * copies a stale bounce buffer back over the pages loses the write.
 */
static void *bracket_writer(void *arg)
{
	struct bracket_thread *w = arg;
	struct bracket_race *race = w->race;
	uint32_t *p = (uint32_t *)(race->buf + w->id * WRITER_PAGES * PAGE);
	const size_t words = WRITER_PAGES * PAGE / sizeof(*p);

	pthread_barrier_wait(&race->start);
	for (w->rounds = 1; w->rounds <= 100000 && now_us() < race->until;
	     w->rounds++) {
		uint32_t value = (uint32_t)w->id << 24 | w->rounds;

		w->racing += atomic_load(&race->writing) > 0;
		if (bracket(race->fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE)) {
			w->failed++;
			continue;
		}
		atomic_fetch_add(&race->writing, 1);
		for (size_t page = 0; page < WRITER_PAGES; page++)
			for (size_t k = 0; k < PAGE / sizeof(*p); k++)
				if (p[page * PAGE / sizeof(*p) + k] != w->last) {
					w->lost++;
					break;
				}
		for (size_t k = 0; k < words; k++)
			p[k] = value;
		w->last = value;
		atomic_fetch_sub(&race->writing, 1);
		if (bracket(race->fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE))
			w->failed++;
	}
	w->rounds--;
	atomic_fetch_sub(&race->writers_left, 1);
	return NULL;
}

/* The reader: START|READ ... END|READ until the writers are done. */
static void *bracket_reader(void *arg)
{
	struct bracket_thread *r = arg;
	struct bracket_race *race = r->race;
	uint32_t sum = 0;

	pthread_barrier_wait(&race->start);
	while (atomic_load(&race->writers_left)) {
		r->racing += atomic_load(&race->writing) > 0;
		if (bracket(race->fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ)) {
			r->failed++;
			continue;
		}
		for (int i = 0; i < BRACKET_WRITERS; i++)
			sum += __atomic_load_n((uint32_t *)(race->buf +
						i * WRITER_PAGES * PAGE),
					       __ATOMIC_RELAXED);
		if (bracket(race->fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ))
			r->failed++;
		r->rounds++;
	}
	r->last = sum;
	return NULL;
}

/*
 * Four threads write their own pages of one buffer, each in its own
 * START|WRITE ... END|WRITE brackets, while a fifth brackets the buffer
 * with START|READ ... END|READ: no write may be lost, in any round, and
 * at the end every thread's pages hold its last value, through the
 * buffer's mapping and through the memfd's. Under swiotlb=force a begin
 * that syncs the buffer back from a bounce buffer it has just filled
 * loses what other threads wrote in between.
 */
TEST_F_TIMEOUT(udmabuf, sync_write_brackets_race, 120)
{
	const size_t size = BRACKET_WRITERS * WRITER_PAGES * PAGE;
	struct bracket_thread t[BRACKET_WRITERS + 1];
	struct bracket_race race = { 0 };
	long lost = 0, failed = 0, rounds = 0, racing = 0, final_lost = 0;
	int memfd = patterned_memfd(size, 0, 31);
	char cmdline[512] = "";
	const uint32_t *via_memfd;
	FILE *f;

	ASSERT_LE(0, memfd);
	race.fd = udmabuf_create1(self->dev, memfd, 0, size, 0);
	ASSERT_LE(0, race.fd);
	race.buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			race.fd, 0);
	ASSERT_NE(MAP_FAILED, race.buf);
	via_memfd = mmap(NULL, size, PROT_READ, MAP_SHARED, memfd, 0);
	ASSERT_NE(MAP_FAILED, via_memfd);
	/* Every page starts as its writer's round 0 value. */
	for (int i = 0; i < BRACKET_WRITERS; i++)
		for (size_t k = 0; k < WRITER_PAGES * PAGE / 4; k++)
			((uint32_t *)race.buf)[i * WRITER_PAGES * PAGE / 4 + k] =
				(uint32_t)i << 24;
	race.until = now_us() + 20e6;
	race.writers_left = BRACKET_WRITERS;
	pthread_barrier_init(&race.start, NULL, BRACKET_WRITERS + 1);
	for (int i = 0; i <= BRACKET_WRITERS; i++) {
		t[i] = (struct bracket_thread) {
			.race = &race, .id = i < BRACKET_WRITERS ? i : -1,
			.last = (uint32_t)i << 24,
		};
		ASSERT_EQ(0, pthread_create(&t[i].thread, NULL,
					    i < BRACKET_WRITERS ?
					    bracket_writer : bracket_reader,
					    &t[i]));
	}
	for (int i = 0; i <= BRACKET_WRITERS; i++) {
		pthread_join(t[i].thread, NULL);
		failed += t[i].failed;
		racing += t[i].racing;
		if (i < BRACKET_WRITERS) {
			lost += t[i].lost;
			rounds += t[i].rounds;
		}
	}
	pthread_barrier_destroy(&race.start);

	/* The last values, through the buffer and through the memfd. */
	for (int i = 0; i < BRACKET_WRITERS; i++)
		for (size_t page = 0; page < WRITER_PAGES; page++) {
			size_t at = (i * WRITER_PAGES + page) * PAGE / 4;

			for (size_t k = 0; k < PAGE / 4; k++)
				if (((uint32_t *)race.buf)[at + k] != t[i].last ||
				    via_memfd[at + k] != t[i].last) {
					final_lost++;
					break;
				}
		}
	f = fopen("/proc/cmdline", "r");
	if (f) {
		if (!fgets(cmdline, sizeof(cmdline), f))
			cmdline[0] = 0;
		fclose(f);
	}
	ksft_print_msg("sync race%s: %ld writer rounds, %ld reader brackets\n",
		       strstr(cmdline, "swiotlb=force") ? " (swiotlb=force)" : "",
		       rounds, t[BRACKET_WRITERS].rounds);
	ksft_print_msg("sync race: %ld begins while a writer wrote, %ld failed\n",
		       racing, failed);
	ksft_print_msg("sync race: %ld page writes lost, %ld pages wrong at the end\n",
		       lost, final_lost);
	EXPECT_EQ(0, failed);
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, final_lost);
	EXPECT_LT(0, rounds);
	munmap((void *)via_memfd, size);
	munmap(race.buf, size);
	close(race.fd);
	EXPECT_EQ(0, write_seal(memfd));
	close(memfd);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--fd-open"))
		return fcntl(atoi(argv[2]), F_GETFD) >= 0;
	return test_harness_run(argc, argv);
}
