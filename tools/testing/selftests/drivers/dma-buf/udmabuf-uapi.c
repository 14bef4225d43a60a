// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf through its UAPI: every refusal with its errno, close-on-exec,
 * mappings and their limits, bytes both ways for shmem (4 KiB and THP)
 * and hugetlb (2 MiB) memfds, list items sharing folios, fault counts,
 * fork, buffers outliving their memfd, DMA_BUF_IOCTL_SYNC, and no pin
 * left behind (a pinned memfd refuses F_SEAL_WRITE with EBUSY).
 */
#include "udmabuf-user.h"

#include <linux/dma-buf.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define PAGE	SZ_4K

static long read_param(const char *name, long fallback)
{
	char path[128];
	long value = fallback;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/udmabuf/parameters/%s", name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &value) != 1)
			value = fallback;
		fclose(f);
	}
	return value;
}

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
	EXPECT_EQ(-EINVAL, udmabuf_create1(self->dev, self->memfd, 12 * PAGE,
				   8 * PAGE, 0));
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

TEST_F(udmabuf, mmap_past_end_refused)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 4 * PAGE, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4 * PAGE, PROT_READ, MAP_SHARED, fd,
				   2 * PAGE));
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

static bool thp_shmem(void)
{
	int fd = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
		      O_WRONLY);
	bool ok = fd >= 0 && write(fd, "always", 6) == 6;

	if (fd >= 0)
		close(fd);
	return ok;
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

	if (!thp_shmem())
		SKIP(return, "no shmem THP");
	memfd = patterned_memfd(4 * SZ_2M, 0, 11);
	ASSERT_LE(0, memfd);
	p = mmap(NULL, SZ_2M, PROT_READ, MAP_SHARED, memfd, SZ_2M);
	ASSERT_NE(MAP_FAILED, p);
	touch_pages(p, SZ_2M);
	if (!(kpageflags(pfn_of(p)) & (1ULL << 22))) {
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

/* Touching every page of a 4 MiB mapping: at most one fault. */
TEST_F(udmabuf, one_fault_touches_all)
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
	EXPECT_GE(1, faults) TH_LOG("%ld faults for %zu pages", faults,
				    size / PAGE);
	munmap(p, size);
	close(fd);
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
	volatile uint8_t *p;
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
	munmap((void *)p, 4 * PAGE);
	close(fd);
}

TEST_F(udmabuf, dma_buf_sync)
{
	int fd = udmabuf_create1(self->dev, self->memfd, 0, 4 * PAGE, 0);
	struct dma_buf_sync sync = { 0 };

	ASSERT_LE(0, fd);
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW;
	EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ;
	EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	sync.flags = 1ULL << 40;
	EXPECT_EQ(-1, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	EXPECT_EQ(EINVAL, errno);
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

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--fd-open"))
		return fcntl(atoi(argv[2]), F_GETFD) >= 0;
	return test_harness_run(argc, argv);
}
