// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf mappings, shape by operation. Every shape of mapping the driver
 * makes: 4 KiB shmem pages in one item; one-page items of a shmem memfd in
 * shuffled order (what QEMU passes); hugetlb 2 MiB folios, shmem THP and a
 * hugetlb 1 GiB folio, each mapped at its alignment (PMD leaves) and one
 * page below a 2 MiB boundary (PTEs only). Each goes through what a
 * process does to a mapping: mremap() moves, growth and shrinking,
 * mprotect() and munmap() inside a leaf and at its edges, fork(),
 * madvise(), mlock(), process_vm_readv(), /proc/self/mem,
 * /proc/self/pagemap, ptrace(), userfaultfd, and first faults racing
 * PR_SET_THP_DISABLE. After each step every page of the buffer must hold
 * what the memfd's page it names holds, read through a mapping of the
 * memfd itself; after each test no pin is left (F_SEAL_WRITE succeeds),
 * and the kernel log holds no report logged since the test began.
 */
#include "udmabuf-user.h"

#include <linux/userfaultfd.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <sys/klog.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "../../kselftest_harness.h"

#define PAGE		SZ_4K
#define SZ_1G		(512 * SZ_2M)
#define PAGES_2M	(SZ_2M / PAGE)
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB	(21U << 26)
#endif
#ifndef MFD_HUGE_1GB
#define MFD_HUGE_1GB	(30U << 26)
#endif
#define KPF_HUGE	17
#define KPF_THP		22
#define SYSLOG_ACTION_READ_ALL		3
#define SYSLOG_ACTION_SIZE_BUFFER	10
/* Buffers above this compare in full only after their first touch. */
#define QUICK_ABOVE	(64UL << 20)
/* Where a test writes its marks: never the first word of a page. */
#define MARK_AT(i)	(8 + (i) % (PAGE - 8))

enum shape { SHMEM_4K, SHMEM_LIST, HUGETLB_2M, SHMEM_THP, HUGETLB_1G };

/* No pin left on @memfd: only then may it take a write seal. */
static int write_seal(int memfd)
{
	return fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE) ? -errno : 0;
}

/*
 * Ask the kernel for one more 1 GiB page (a CPU with 1 GiB pages has the
 * size without a boot option; the page comes from contiguous free memory).
 * Boot-time 1 GiB pages with vmemmap optimisation make 6.12's DEBUG_VM
 * warn in vmemmap_remap_pte(), so the debug kernel takes them this way.
 */
static long free_huge_pages(const char *size);

static bool gigantic_page_at_run_time(void)
{
	const char *path = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
	long n = -1;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return false;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	if (n < 0)
		return false;
	f = fopen(path, "w");
	if (!f)
		return false;
	fprintf(f, "%ld\n", n + 1);
	fclose(f);
	return free_huge_pages("1048576kB") > 0;
}

/* Free hugetlb pages of @size ("2048kB", "1048576kB"), -1 if none exist. */
static long free_huge_pages(const char *size)
{
	char path[96];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%s/free_hugepages", size);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/* Kernel log lines that report a problem (the VM's parser has its own). */
static const char report_lines[] =
	"WARNING:|BUG:|bad p[gum4]d|KASAN|UBSAN|lockdep|possible circular|DMA-API:|Oops";

/* Logs @text at debug level: in the kernel log, not on the console. */
static int log_line(const char *text)
{
	char line[192];
	int fd = open("/dev/kmsg", O_WRONLY), n, ret = 0;

	n = snprintf(line, sizeof(line), "<7>%s\n", text);
	if (fd < 0 || write(fd, line, n) != n)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Logs @marker, unique to this test run, as the kernel log's newest line. */
static int log_marker(char *marker, size_t size, const char *variant,
		      const char *test)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(marker, size, "udmabuf-mapping: begin %s.%s pid %d at %ld.%09ld",
		 variant, test, getpid(), (long)ts.tv_sec, ts.tv_nsec);
	return log_line(marker);
}

/*
 * The reports the kernel logged after @marker, each one logged here unless
 * @quiet; -1 if the log cannot be read or has lost the marker.
 */
static int kernel_reports(struct __test_metadata *_metadata,
			  const char *marker, bool quiet)
{
	int size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0), len, n = 0;
	char *log, *line, *end;
	regex_t re;

	if (size <= 0) {
		TH_LOG("kernel log size: %s", strerror(errno));
		return -1;
	}
	log = malloc(size + 1);
	if (!log)
		return -1;
	len = klogctl(SYSLOG_ACTION_READ_ALL, log, size);
	if (len < 0) {
		TH_LOG("kernel log: %s", strerror(errno));
		free(log);
		return -1;
	}
	log[len] = '\0';
	line = strstr(log, marker);
	if (!line) {
		TH_LOG("the kernel log no longer holds this test's start");
		free(log);
		return -1;
	}
	if (regcomp(&re, report_lines, REG_EXTENDED | REG_NOSUB)) {
		free(log);
		return -1;
	}
	for (line = strchr(line, '\n'); line && line[1]; line = end) {
		end = strchr(++line, '\n');
		if (end)
			*end = '\0';
		if (!regexec(&re, line, 0, NULL, 0)) {
			if (!quiet)
				TH_LOG("kernel: %s", line);
			n++;
		}
		if (!end)
			break;
		*end = '\n';
	}
	regfree(&re);
	free(log);
	return n;
}

/*
 * The report check itself, with a line its filter takes and the VM's
 * console parser does not (logged at debug level, it stays off the
 * console anyway): counted when logged after the marker, not before.
 */
TEST(kernel_report_filter)
{
	static const char fake[] =
		"udmabuf-mapping: a check of the filter, not a report: bad pmd";
	char marker[128];

	ASSERT_EQ(0, log_line(fake));
	ASSERT_EQ(0, log_marker(marker, sizeof(marker), "global",
				_metadata->name));
	EXPECT_EQ(0, kernel_reports(_metadata, marker, true));
	ASSERT_EQ(0, log_line(fake));
	ASSERT_EQ(0, log_line(fake));
	EXPECT_EQ(2, kernel_reports(_metadata, marker, true));
}

/*
 * @len bytes of free address space: @align-aligned, or with @skew one
 * page below the first 2 MiB boundary past an @align boundary. Held by a
 * PROT_NONE mapping that a MAP_FIXED mmap() or mremap() replaces.
 */
static uint8_t *reserve(size_t len, size_t align, bool skew)
{
	size_t area_len = len + align + SZ_2M;
	uint8_t *area, *at;

	area = mmap(NULL, area_len, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return MAP_FAILED;
	at = (uint8_t *)(((uintptr_t)area + align - 1) & ~(align - 1));
	if (skew)
		at += SZ_2M - PAGE;
	if (at > area)
		munmap(area, at - area);
	munmap(at + len, area + area_len - (at + len));
	return at;
}

static uint8_t *map_fixed(int fd, uint8_t *at, size_t len, off_t off)
{
	if (at == MAP_FAILED)
		return MAP_FAILED;
	return mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		    fd, off);
}

/* Page map entries of @n pages from @addr, in one read. */
static int read_pagemap(const void *addr, size_t n, uint64_t *entries)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	ssize_t want = n * sizeof(*entries), got;

	if (fd < 0)
		return -errno;
	got = pread(fd, entries, want, (uintptr_t)addr / PAGE * sizeof(*entries));
	close(fd);
	return got == want ? 0 : -EIO;
}

#define PM_PRESENT(e)	((e) >> 63 & 1)
#define PM_PFN(e)	((e) & ((1ULL << 55) - 1))

FIXTURE(mapping) {
	int dev;
	int memfd;
	int fd;			/* the buffer */
	uint8_t seed;		/* of the memfd's pattern */
	size_t size;		/* of the buffer and of the memfd */
	size_t pages;
	uint64_t *page_off;	/* memfd offset of each buffer page; NULL: i * PAGE */
	uint8_t *mem;		/* the memfd, mapped shared */
	uint8_t *buf;		/* the buffer as the test maps it, or NULL */
	size_t buf_len;
	long size_limit_mb;	/* to restore, or -1 */
	long list_limit;	/* to restore, or -1 */
	char marker[128];
};

FIXTURE_VARIANT(mapping) {
	const char *name;
	enum shape shape;
	size_t size;
	size_t align;		/* where the buffer is mapped: 2 MiB or 1 GiB */
	bool skew;		/* ... or one page below a 2 MiB boundary */
};

/*
 * The helpers below name FIXTURE_DATA(mapping) and FIXTURE_VARIANT(mapping)
 * by the structs they are: struct _test_data_mapping and
 * struct _fixture_variant_mapping.
 */

FIXTURE_VARIANT_ADD(mapping, shmem_4k) {
	.name = "shmem_4k", .shape = SHMEM_4K, .size = 8 << 20, .align = SZ_2M,
};

FIXTURE_VARIANT_ADD(mapping, shmem_scattered) {
	.name = "shmem_scattered", .shape = SHMEM_LIST, .size = 4 << 20,
	.align = SZ_2M,
};

FIXTURE_VARIANT_ADD(mapping, hugetlb_2m) {
	.name = "hugetlb_2m", .shape = HUGETLB_2M, .size = 16 << 20,
	.align = SZ_2M,
};

FIXTURE_VARIANT_ADD(mapping, hugetlb_2m_skew) {
	.name = "hugetlb_2m_skew", .shape = HUGETLB_2M, .size = 16 << 20,
	.align = SZ_2M, .skew = true,
};

FIXTURE_VARIANT_ADD(mapping, thp) {
	.name = "thp", .shape = SHMEM_THP, .size = 16 << 20, .align = SZ_2M,
};

FIXTURE_VARIANT_ADD(mapping, thp_skew) {
	.name = "thp_skew", .shape = SHMEM_THP, .size = 16 << 20,
	.align = SZ_2M, .skew = true,
};

FIXTURE_VARIANT_ADD(mapping, hugetlb_1g) {
	.name = "hugetlb_1g", .shape = HUGETLB_1G, .size = SZ_1G,
	.align = SZ_1G,
};

FIXTURE_VARIANT_ADD(mapping, hugetlb_1g_skew) {
	.name = "hugetlb_1g_skew", .shape = HUGETLB_1G, .size = SZ_1G,
	.align = SZ_1G, .skew = true,
};

/* Memfd offset of buffer page @i. */
static uint64_t memfd_off(const struct _test_data_mapping *self, size_t i)
{
	return self->page_off ? self->page_off[i] : i * PAGE;
}

/*
 * Offset of the first 8-byte word at which @a and @b differ, or @len (a
 * multiple of 32): a word loop, which under TCG beats glibc's memcmp()
 * (2.2 s a GiB against 2.9 s with QEMU's qemu64 CPU).
 */
static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 32) {
		uint64_t x[4], y[4];

		memcpy(x, a + i, sizeof(x));
		memcpy(y, b + i, sizeof(y));
		if ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]))
			break;
	}
	while (i < len && !memcmp(a + i, b + i, 8))
		i += 8;
	return i;
}

/*
 * Whether buffer page @i, read at @got, holds what memfd page @want does:
 * every word, or with @quick the words that tell pages apart (the first,
 * the middle, the last, and the one holding the page's mark). A PTE or a
 * leaf maps whole pages, and no two pages of the pattern share a word at
 * the same place, so a page at a wrong frame differs in each of them.
 */
static bool same_page(const uint8_t *got, const uint8_t *want, size_t i,
		      bool quick)
{
	const size_t words[4] = {
		0, PAGE / 2, PAGE - 8, MARK_AT(i) & ~7UL,
	};
	uint64_t a[4], b[4];

	if (!quick)
		return first_difference(got, want, PAGE) == PAGE;
	/*
	 * One page, then the other: under TCG, mappings aligned alike evict
	 * each other's TLB entries at every switch.
	 */
	for (int k = 0; k < 4; k++)
		memcpy(&a[k], got + words[k], 8);
	for (int k = 0; k < 4; k++)
		memcpy(&b[k], want + words[k], 8);
	return !memcmp(a, b, sizeof(a));
}

/*
 * Buffer pages [@first, @first + @count), read at @at, against the memfd's
 * pages they name: every byte, or with @quick only what tells pages apart
 * (the 1 GiB buffer compares in full once, after its first touch, where
 * each full pass would cost seconds under TCG). A page that differs is
 * logged with the memfd page it holds instead (found by its first word,
 * which marks never change).
 */
static bool compare_pages(struct __test_metadata *_metadata,
			  const struct _test_data_mapping *self,
			  const uint8_t *at, size_t first, size_t count,
			  bool quick, const char *when)
{
	if (!self->page_off && !quick &&
	    first_difference(at, self->mem + first * PAGE, count * PAGE) ==
	    count * PAGE)
		return true;
	for (size_t i = 0; i < count; i++) {
		const uint8_t *got = at + i * PAGE;
		const uint8_t *want = self->mem + memfd_off(self, first + i);
		size_t byte = 0;
		uint64_t word;
		long from = -1;

		if (same_page(got, want, first + i, quick))
			continue;
		while (got[byte] == want[byte])
			byte++;
		memcpy(&word, got, sizeof(word));
		for (size_t q = 0; q < self->pages && from < 0; q++)
			if (word == pattern_le64(pattern_word(self->seed, q * PAGE)))
				from = q;
		TH_LOG("%s: page %zu (memfd page %llu), byte %zu: %#x, not %#x (memfd page %ld's)",
		       when, first + i,
		       (unsigned long long)memfd_off(self, first + i) / PAGE,
		       byte, got[byte], want[byte], from);
		return false;
	}
	return true;
}

static bool same_pages(struct __test_metadata *_metadata,
		       const struct _test_data_mapping *self, const uint8_t *at,
		       size_t first, size_t count, const char *when)
{
	return compare_pages(_metadata, self, at, first, count,
			     self->size > QUICK_ABOVE, when);
}

static bool same_all(struct __test_metadata *_metadata,
		     const struct _test_data_mapping *self, const uint8_t *at,
		     const char *when)
{
	return same_pages(_metadata, self, at, 0, self->pages, when);
}

/* Write a mark into buffer page @i at @at; true if the memfd shows it. */
static bool mark_lands(const struct _test_data_mapping *self, uint8_t *at,
		       size_t i, uint8_t value)
{
	at[i * PAGE + MARK_AT(i)] = value;
	return self->mem[memfd_off(self, i) + MARK_AT(i)] == value;
}

/*
 * Marks written into buffer pages @first, @first + @step, ... below @end:
 * how many the memfd does not show (the first one is logged).
 */
static int marks_missing(struct __test_metadata *_metadata,
			 const struct _test_data_mapping *self, uint8_t *at,
			 size_t first, size_t end, size_t step, uint8_t value)
{
	int missing = 0;

	for (size_t i = first; i < end; i += step)
		if (!mark_lands(self, at, i, value) && !missing++)
			TH_LOG("buffer page %zu: the mark did not land", i);
	return missing;
}

/* Map the whole buffer where the variant says, fresh (not yet faulted). */
static uint8_t *map_buffer(struct _test_data_mapping *self,
			   const struct _fixture_variant_mapping *variant)
{
	uint8_t *p = map_fixed(self->fd, reserve(self->size, variant->align,
						 variant->skew),
			       self->size, 0);

	if (p == MAP_FAILED)
		return NULL;
	self->buf = p;
	self->buf_len = self->size;
	return p;
}

/* The first 2 MiB boundary inside the buffer mapped at @p, past its start. */
static uint8_t *first_block(const uint8_t *p)
{
	return (uint8_t *)(((uintptr_t)p + SZ_2M) & ~(SZ_2M - 1));
}

/* Raise a module limit to @want for this test; the old value to restore. */
static long raise_param(const char *name, long want)
{
	long old = read_param(name, -1);

	if (old >= 0 && old < want && !write_param(name, want))
		return old;
	return -1;
}

static void restore_params(struct _test_data_mapping *self)
{
	if (self->size_limit_mb >= 0)
		write_param("size_limit_mb", self->size_limit_mb);
	if (self->list_limit >= 0)
		write_param("list_limit", self->list_limit);
	self->size_limit_mb = -1;
	self->list_limit = -1;
}

FIXTURE_SETUP(mapping)
{
	unsigned int mfd_flags = 0;
	uint8_t *mem;
	int err;

	self->memfd = -1;
	self->fd = -1;
	self->size_limit_mb = -1;
	self->list_limit = -1;
	self->size = variant->size;
	self->pages = variant->size / PAGE;
	self->seed = 0x5a + variant->shape;
	self->dev = open("/dev/udmabuf", O_RDWR);
	if (self->dev < 0)
		SKIP(return, "no /dev/udmabuf");
	if (variant->shape == HUGETLB_1G && free_huge_pages("1048576kB") < 1 &&
	    !gigantic_page_at_run_time())
		SKIP(return, "no free 1 GiB hugetlb page (boot with hugepagesz=1G hugepages=1)");
	if (!shmem_thp(variant->shape == SHMEM_THP ? "always" : "never") &&
	    variant->shape == SHMEM_THP)
		SKIP(return, "no shmem THP");
	ASSERT_EQ(0, log_marker(self->marker, sizeof(self->marker),
				variant->name, _metadata->name));
	if (variant->shape == HUGETLB_2M)
		mfd_flags = MFD_HUGETLB | MFD_HUGE_2MB;
	if (variant->shape == HUGETLB_1G)
		mfd_flags = MFD_HUGETLB | MFD_HUGE_1GB;

	self->memfd = memfd_sealed("mapping", self->size, mfd_flags, 0);
	ASSERT_LE(0, self->memfd) TH_LOG("memfd: %s", strerror(-self->memfd));
	mem = mmap(NULL, self->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->memfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	pattern_fill(mem, self->seed, 0, self->size);
	if (variant->shape == SHMEM_THP) {
		size_t huge = 0;

		for (size_t off = 0; off < self->size; off += SZ_2M)
			huge += !!(page_flags_of(pfn_of(mem + off)) &
				   (1ULL << KPF_THP));
		if (!huge) {
			munmap(mem, self->size);
			shmem_thp("never");
			SKIP(return, "shmem gave no huge folio");
		}
		if (huge < self->size / SZ_2M)
			TH_LOG("%zu of %zu folios huge", huge,
			       self->size / SZ_2M);
	}
	if (variant->shape == HUGETLB_1G) {
		uint64_t pfn = pfn_of(mem);

		ASSERT_TRUE(pfn && !(pfn % (SZ_1G / PAGE)) &&
			    (page_flags_of(pfn) & (1ULL << KPF_HUGE)))
			TH_LOG("1 GiB memfd at frame %#llx",
			       (unsigned long long)pfn);
	}
	/* A writable mapping of the memfd would refuse the seal too. */
	munmap(mem, self->size);

	self->size_limit_mb = raise_param("size_limit_mb", self->size >> 20);
	if (variant->shape == SHMEM_LIST) {
		struct udmabuf_create_item *items;
		uint32_t rng = 12345;

		self->list_limit = raise_param("list_limit", self->pages);
		items = calloc(self->pages, sizeof(*items));
		self->page_off = calloc(self->pages, sizeof(*self->page_off));
		ASSERT_TRUE(items && self->page_off);
		for (size_t i = 0; i < self->pages; i++)
			self->page_off[i] = i * PAGE;
		/* Shuffled: no two neighbours in the buffer are in the memfd. */
		for (size_t i = self->pages - 1; i > 0; i--) {
			size_t j;
			uint64_t t;

			rng = rng * 1103515245 + 12345;
			j = (rng >> 8) % (i + 1);
			t = self->page_off[i];
			self->page_off[i] = self->page_off[j];
			self->page_off[j] = t;
		}
		for (size_t i = 0; i < self->pages; i++)
			items[i] = (struct udmabuf_create_item) {
				.memfd = self->memfd,
				.offset = self->page_off[i], .size = PAGE,
			};
		self->fd = udmabuf_create_list(self->dev, 0, items,
					       self->pages);
		free(items);
	} else {
		self->fd = udmabuf_create1(self->dev, self->memfd, 0,
					   self->size, 0);
	}
	err = self->fd < 0 ? self->fd : 0;
	ASSERT_EQ(0, err) TH_LOG("create: %s", strerror(-err));
	EXPECT_EQ(-EBUSY, write_seal(self->memfd))
		TH_LOG("a memfd pinned by a buffer took F_SEAL_WRITE");

	self->mem = mmap(NULL, self->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->memfd, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	/* Faulted now, so that its page map shows every frame. */
	touch_pages(self->mem, self->size);
}

FIXTURE_TEARDOWN(mapping)
{
	if (self->buf)
		munmap(self->buf, self->buf_len);
	if (self->mem)
		munmap(self->mem, self->size);
	if (self->fd >= 0)
		close(self->fd);
	if (self->memfd >= 0) {
		EXPECT_EQ(0, write_seal(self->memfd))
			TH_LOG("pins left after the buffer was closed");
		close(self->memfd);
	}
	EXPECT_EQ(0, kernel_reports(_metadata, self->marker, false));
	restore_params(self);
	shmem_thp("never");
	free(self->page_off);
	close(self->dev);
}

/*
 * Every byte of a buffer just touched for the first time, while the memfd
 * still holds the pattern as setup wrote it: a 1 GiB buffer is checked
 * against the pattern (one load per word, where comparing two mappings
 * takes two and is four times slower under TCG), the others against the
 * memfd.
 */
static bool first_touch_right(struct __test_metadata *_metadata,
			      const struct _test_data_mapping *self,
			      const uint8_t *p)
{
	size_t bad;

	if (self->size <= QUICK_ABOVE || self->page_off)
		return compare_pages(_metadata, self, p, 0, self->pages, false,
				     "first touch");
	bad = pattern_check(p, self->seed, 0, self->size);
	if (bad == self->size)
		return true;
	TH_LOG("first touch: buffer byte %zu is not the pattern's", bad);
	compare_pages(_metadata, self, p, 0, self->pages, false,
		      "first touch");
	return false;
}

/* Map the buffer, touch every page, compare: every test's start. */
#define MAP_AND_TOUCH()							\
	({								\
		uint8_t *_p = map_buffer(self, variant);		\
									\
		ASSERT_NE(NULL, _p) TH_LOG("mmap: %s", strerror(errno)); \
		touch_pages(_p, self->size);				\
		ASSERT_TRUE(first_touch_right(_metadata, self, _p));	\
		_p;							\
	})

/*
 * Which 2 MiB blocks the driver can map with a PMD leaf (address and
 * frames aligned, frames contiguous), from the memfd's page map; and the
 * 2 MiB ranges of address the mapping touches that need a PTE table.
 */
static void expected_leaves(const struct _test_data_mapping *self,
			    const uint8_t *p, size_t *leaves, size_t *tables)
{
	uint64_t *pm = calloc(self->pages, sizeof(*pm));
	uintptr_t start = (uintptr_t)p, end = start + self->size;

	*leaves = *tables = 0;
	if (!pm || read_pagemap(self->mem, self->pages, pm)) {
		free(pm);
		return;
	}
	for (uintptr_t blk = start & ~(SZ_2M - 1); blk < end; blk += SZ_2M) {
		bool leaf = blk >= start && blk + SZ_2M <= end;
		size_t first = (blk - start) / PAGE;
		uint64_t pfn0 = 0;

		for (size_t k = 0; leaf && k < PAGES_2M; k++) {
			uint64_t e = pm[memfd_off(self, first + k) / PAGE];

			if (!k)
				pfn0 = PM_PFN(e);
			leaf = PM_PRESENT(e) && PM_PFN(e) == pfn0 + k &&
			       !(pfn0 % PAGES_2M);
		}
		if (leaf)
			(*leaves)++;
		else
			(*tables)++;
	}
	free(pm);
}

/*
 * What the first touch of every page costs: a PMD leaf for each block of
 * aligned contiguous frames at an aligned address, a PTE table for every
 * other 2 MiB of address (VmPTE; at most two PMD tables and a PUD table
 * more), every page as the memfd has it.
 */
TEST_F_TIMEOUT(mapping, shape, 120)
{
	size_t leaves, tables;
	long pte_kb, faults;
	uint8_t *p = map_buffer(self, variant);

	ASSERT_NE(NULL, p);
	expected_leaves(self, p, &leaves, &tables);
	if (variant->shape == HUGETLB_2M || variant->shape == HUGETLB_1G)
		EXPECT_EQ(variant->skew ? 0 : self->size / SZ_2M, leaves);
	pte_kb = page_table_kb();
	faults = minor_faults();
	touch_pages(p, self->size);
	faults = minor_faults() - faults;
	pte_kb = page_table_kb() - pte_kb;
	ksft_print_msg("%s: %zu leaf blocks, %zu PTE tables: VmPTE +%ld kB, %ld faults\n",
		       variant->name, leaves, tables, pte_kb, faults);
	EXPECT_LE((long)tables * 4, pte_kb);
	EXPECT_GE((long)tables * 4 + 12, pte_kb);
	EXPECT_TRUE(first_touch_right(_metadata, self, p));
	EXPECT_EQ(0, marks_missing(_metadata, self, p, 0, self->pages,
				   PAGES_2M / 2, 0xa5));
	EXPECT_TRUE(same_all(_metadata, self, p, "after marks"));
}

/* A touched mapping moved to an aligned address, then to an unaligned one. */
TEST_F_TIMEOUT(mapping, mremap_move, 120)
{
	uint8_t *p = MAP_AND_TOUCH();

	for (int step = 0; step < 2; step++) {
		uint8_t *to = reserve(self->size, variant->align, step == 1);
		uint8_t *q;

		ASSERT_NE(MAP_FAILED, to);
		q = mremap(p, self->size, self->size,
			   MREMAP_MAYMOVE | MREMAP_FIXED, to);
		ASSERT_EQ(to, q) TH_LOG("mremap: %s", strerror(errno));
		p = q;
		self->buf = p;
		EXPECT_TRUE(same_all(_metadata, self, p,
				     step ? "moved unaligned" : "moved aligned"));
		EXPECT_EQ(0, marks_missing(_metadata, self, p, 0, self->pages,
					   PAGES_2M / 4, 0x11 + step));
		EXPECT_TRUE(mark_lands(self, p, self->pages - 1, 0x22));
	}
}

/* VM_DONTEXPAND: no growth, in place or moved; shrinking cuts a leaf. */
TEST_F_TIMEOUT(mapping, mremap_grow_shrink, 120)
{
	uint8_t *p = MAP_AND_TOUCH();
	size_t len = self->size / 2 + 5 * PAGE;

	EXPECT_EQ(MAP_FAILED, mremap(p, self->size, self->size + PAGE, 0));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(MAP_FAILED, mremap(p, self->size, self->size + SZ_2M,
				     MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_TRUE(same_all(_metadata, self, p, "after refused growth"));

	ASSERT_EQ(p, mremap(p, self->size, len, 0));
	EXPECT_TRUE(same_pages(_metadata, self, p, 0, len / PAGE, "shrunk"));
	EXPECT_EQ(-1, msync(p + len, PAGE, MS_ASYNC));
	EXPECT_EQ(ENOMEM, errno) TH_LOG("the cut tail is still mapped");
	EXPECT_TRUE(mark_lands(self, p, len / PAGE - 1, 0x33));
	/* Shrunk again, to one page, then grown back: refused. */
	ASSERT_EQ(p, mremap(p, len, PAGE, 0));
	EXPECT_TRUE(same_pages(_metadata, self, p, 0, 1, "one page left"));
	EXPECT_EQ(MAP_FAILED, mremap(p, PAGE, 2 * PAGE, 0));
	EXPECT_EQ(EFAULT, errno);
}

/* An expected SIGSEGV ends the child quietly (no line in the kernel log). */
static void exit_on_signal(int sig)
{
	_exit(128 + sig);
}

/* Runs @fn in a child; its exit status (128 + the signal that ended it). */
static int in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		signal(SIGSEGV, exit_on_signal);
		signal(SIGBUS, exit_on_signal);
		_exit(fn(arg));
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
	       WEXITSTATUS(status);
}

static int write_byte(void *addr)
{
	__atomic_store_n((uint8_t *)addr, 0x77, __ATOMIC_RELAXED);
	return 0;
}

static int read_byte(void *addr)
{
	(void)__atomic_load_n((uint8_t *)addr, __ATOMIC_RELAXED);
	return 0;
}

/*
 * One page inside a 2 MiB block and both of its edges made read-only:
 * reads stay right, writes there fault, writes elsewhere land, and all
 * three take writes again once made writable.
 */
TEST_F_TIMEOUT(mapping, mprotect_in_leaf, 120)
{
	uint8_t *p = MAP_AND_TOUCH(), *blk = first_block(p);
	size_t ro[3];

	ASSERT_GE(p + self->size, blk + SZ_2M);
	ro[0] = (blk - p) / PAGE + PAGES_2M / 2;
	ro[1] = (blk - p) / PAGE;
	ro[2] = (blk - p) / PAGE + PAGES_2M - 1;
	for (int k = 0; k < 3; k++) {
		ASSERT_EQ(0, mprotect(p + ro[k] * PAGE, PAGE, PROT_READ));
		EXPECT_TRUE(same_all(_metadata, self, p, "after mprotect"));
		EXPECT_EQ(128 + SIGSEGV, in_child(write_byte,
						  p + ro[k] * PAGE + 8))
			TH_LOG("a write to read-only page %zu", ro[k]);
		/* Its neighbours (the blocks' on the edges) and both ends. */
		EXPECT_TRUE(mark_lands(self, p, ro[k] - 1, 0x44));
		if (ro[k] + 1 < self->pages)
			EXPECT_TRUE(mark_lands(self, p, ro[k] + 1, 0x45));
		EXPECT_TRUE(mark_lands(self, p, 0, 0x46));
		if (self->pages - 1 != ro[2])
			EXPECT_TRUE(mark_lands(self, p, self->pages - 1, 0x47));
	}
	EXPECT_TRUE(same_all(_metadata, self, p, "three pages read-only"));
	for (int k = 0; k < 3; k++) {
		ASSERT_EQ(0, mprotect(p + ro[k] * PAGE, PAGE,
				      PROT_READ | PROT_WRITE));
		EXPECT_TRUE(mark_lands(self, p, ro[k], 0x48))
			TH_LOG("page %zu writable again", ro[k]);
	}
	EXPECT_TRUE(same_all(_metadata, self, p, "writable again"));
}

/* Compare the pages of @p that are mapped (@hole[i] false). */
static bool same_mapped(struct __test_metadata *_metadata,
			const struct _test_data_mapping *self, const uint8_t *p,
			const bool *hole, const char *when)
{
	size_t i = 0, run;

	while (i < self->pages) {
		for (run = 0; i + run < self->pages && !hole[i + run]; run++)
			;
		if (run && !same_pages(_metadata, self, p + i * PAGE, i, run,
				       when))
			return false;
		i += run;
		while (i < self->pages && hole[i])
			i++;
	}
	return true;
}

/*
 * munmap() of one page inside a block, of 2 MiB across two blocks and of
 * a whole block: the rest reads and writes right, the holes are gone, and
 * mapped again at the same place they read right.
 */
TEST_F_TIMEOUT(mapping, munmap_page_and_block, 120)
{
	uint8_t *p = MAP_AND_TOUCH();
	size_t cut[3][2] = {
		{ 5, 1 },
		{ (self->size / 2 - SZ_2M / 2) / PAGE, PAGES_2M },
		{ (self->size - 2 * SZ_2M) / PAGE, PAGES_2M },
	};
	/* The whole block only where it misses the 2 MiB across two. */
	int cuts = self->size >= 16 << 20 ? 3 : 2;
	bool *hole = calloc(self->pages, sizeof(*hole));

	ASSERT_NE(NULL, hole);
	for (int k = 0; k < cuts; k++) {
		ASSERT_EQ(0, munmap(p + cut[k][0] * PAGE, cut[k][1] * PAGE));
		for (size_t i = 0; i < cut[k][1]; i++)
			hole[cut[k][0] + i] = true;
		EXPECT_EQ(-1, msync(p + cut[k][0] * PAGE, PAGE, MS_ASYNC));
		EXPECT_EQ(ENOMEM, errno);
		EXPECT_TRUE(same_mapped(_metadata, self, p, hole, "after munmap"));
		EXPECT_TRUE(mark_lands(self, p, cut[k][0] - 1, 0x55));
		EXPECT_TRUE(mark_lands(self, p, cut[k][0] + cut[k][1], 0x56));
	}
	for (int k = 0; k < cuts; k++) {
		ASSERT_EQ(p + cut[k][0] * PAGE,
			  map_fixed(self->fd, p + cut[k][0] * PAGE,
				    cut[k][1] * PAGE, cut[k][0] * PAGE));
	}
	EXPECT_TRUE(same_all(_metadata, self, p, "holes mapped again"));
	for (int k = 0; k < cuts; k++)
		EXPECT_TRUE(mark_lands(self, p, cut[k][0], 0x57));
	free(hole);
}

struct fork_arg {
	struct __test_metadata *_metadata;
	const struct _test_data_mapping *self;
	uint8_t *p;
};

/* The child reads every page, then writes a mark into each. */
static int child_reads_and_writes(void *arg)
{
	struct fork_arg *a = arg;
	struct __test_metadata *_metadata = a->_metadata;

	if (!same_all(_metadata, a->self, a->p, "in the child"))
		return 1;
	for (size_t i = 0; i < a->self->pages; i++)
		a->p[i * PAGE + MARK_AT(i)] = (uint8_t)(i * 7 + 1);
	return 0;
}

/* MAP_SHARED across fork(): the child reads all and writes to all. */
TEST_F_TIMEOUT(mapping, fork_child_writes, 120)
{
	uint8_t *p = MAP_AND_TOUCH();
	struct fork_arg a = { _metadata, self, p };
	int bad = 0;

	ASSERT_EQ(0, in_child(child_reads_and_writes, &a));
	for (size_t i = 0; i < self->pages; i++) {
		uint8_t want = i * 7 + 1;

		if (p[i * PAGE + MARK_AT(i)] != want ||
		    self->mem[memfd_off(self, i) + MARK_AT(i)] != want) {
			if (!bad++)
				TH_LOG("page %zu: the child's mark missing", i);
		}
	}
	EXPECT_EQ(0, bad);
	EXPECT_TRUE(same_all(_metadata, self, p, "after the child"));
}

/*
 * MADV_DONTNEED, on all of it and on a few pages inside a block: refused
 * (EINVAL: the kernel's rule for VM_PFNMAP) or zapped; either way every
 * page reads right after.
 */
TEST_F_TIMEOUT(mapping, madvise_dontneed, 120)
{
	uint8_t *p = MAP_AND_TOUCH(), *blk = first_block(p);
	int ret, err;

	ret = madvise(p, self->size, MADV_DONTNEED);
	err = errno;
	ksft_print_msg("%s: MADV_DONTNEED: %s\n", variant->name,
		       ret ? strerror(err) : "done");
	EXPECT_TRUE(!ret || err == EINVAL) TH_LOG("MADV_DONTNEED: %s", strerror(err));
	EXPECT_TRUE(same_all(_metadata, self, p, "after MADV_DONTNEED"));
	/* The same answer for a few pages inside a block. */
	EXPECT_EQ(ret, madvise(blk + 3 * PAGE, 5 * PAGE, MADV_DONTNEED));
	EXPECT_TRUE(same_all(_metadata, self, p, "after a partial one"));
	EXPECT_TRUE(mark_lands(self, p, (blk - p) / PAGE + 4, 0x66));
}

static int read_all(void *arg)
{
	return child_reads_and_writes(arg) ? 2 : 0;
}

/* MADV_DONTFORK: the child has no mapping there; MADV_DOFORK: it has. */
TEST_F_TIMEOUT(mapping, madvise_dontfork, 120)
{
	uint8_t *p = MAP_AND_TOUCH();
	struct fork_arg a = { _metadata, self, p };

	ASSERT_EQ(0, madvise(p, self->size, MADV_DONTFORK));
	EXPECT_EQ(128 + SIGSEGV, in_child(read_byte, p + self->size - 1))
		TH_LOG("the child reached a MADV_DONTFORK mapping");
	ASSERT_EQ(0, madvise(p, self->size, MADV_DOFORK));
	EXPECT_EQ(0, in_child(read_all, &a));
	EXPECT_TRUE(same_all(_metadata, self, p, "after the children"));
}

/* MADV_WIPEONFORK is for private anonymous memory: refused, or harmless. */
TEST_F_TIMEOUT(mapping, madvise_wipeonfork, 120)
{
	uint8_t *p = MAP_AND_TOUCH();
	struct fork_arg a = { _metadata, self, p };
	int ret = madvise(p, self->size, MADV_WIPEONFORK), err = errno;

	ksft_print_msg("%s: MADV_WIPEONFORK: %s\n", variant->name,
		       ret ? strerror(err) : "done");
	/* Refused, or the child still sees every page. */
	EXPECT_TRUE(ret ? err == EINVAL : !in_child(read_all, &a));
	EXPECT_TRUE(same_all(_metadata, self, p, "after MADV_WIPEONFORK"));
}

/* Reclaim hints: refused (EINVAL) or done; no page moves. */
TEST_F_TIMEOUT(mapping, madvise_cold_pageout, 120)
{
	static const struct { int advice; const char *name; } hints[] = {
		{ MADV_COLD, "MADV_COLD" }, { MADV_PAGEOUT, "MADV_PAGEOUT" },
	};
	uint8_t *p = MAP_AND_TOUCH();

	for (int k = 0; k < 2; k++) {
		int ret = madvise(p, self->size, hints[k].advice), err = errno;

		ksft_print_msg("%s: %s: %s\n", variant->name, hints[k].name,
			       ret ? strerror(err) : "done");
		EXPECT_TRUE(!ret || err == EINVAL)
			TH_LOG("%s: %s", hints[k].name, strerror(err));
		EXPECT_TRUE(same_all(_metadata, self, p, hints[k].name));
	}
	EXPECT_TRUE(mark_lands(self, p, self->pages / 2, 0x77));
}

/* mlock() of a VM_PFNMAP mapping succeeds (as a no-op); data stays. */
TEST_F_TIMEOUT(mapping, mlock, 120)
{
	uint8_t *p = MAP_AND_TOUCH();
	long locked = proc_number("/proc/self/status", "VmLck", ':');

	EXPECT_EQ(0, mlock(p, self->size)) TH_LOG("mlock: %s", strerror(errno));
	ksft_print_msg("%s: mlock: VmLck %ld kB -> %ld kB\n", variant->name,
		       locked, proc_number("/proc/self/status", "VmLck", ':'));
	EXPECT_TRUE(same_all(_metadata, self, p, "locked"));
	EXPECT_TRUE(mark_lands(self, p, 1, 0x88));
	EXPECT_EQ(0, munlock(p, self->size));
	EXPECT_TRUE(same_all(_metadata, self, p, "unlocked"));
}

/*
 * process_vm_readv() of the buffer from this process: 2 MiB from the page
 * below a block boundary. The memfd's mapping must read (the
 * call works); the buffer reads right or is refused with EFAULT
 * (VM_PFNMAP: no page to pin).
 */
TEST_F_TIMEOUT(mapping, process_vm_readv, 120)
{
	uint8_t *p = MAP_AND_TOUCH(), *blk = first_block(p);
	size_t first = (blk - p) / PAGE - 1, len = SZ_2M;
	uint8_t *local = malloc(len);
	struct iovec to = { local, len };
	struct iovec from = { self->mem, len };
	ssize_t n;
	int err;

	ASSERT_NE(NULL, local);
	ASSERT_GE(p + self->size, blk + SZ_2M - PAGE);
	n = process_vm_readv(getpid(), &to, 1, &from, 1, 0);
	if (n < 0) {
		err = errno;
		free(local);
		/* A kernel without CONFIG_CROSS_MEMORY_ATTACH, most likely. */
		SKIP(return, "process_vm_readv() of the memfd: %s",
		     strerror(err));
	}
	ASSERT_EQ((ssize_t)len, n);
	from.iov_base = p + first * PAGE;
	memset(local, 0, len);
	n = process_vm_readv(getpid(), &to, 1, &from, 1, 0);
	err = errno;
	ksft_print_msg("%s: process_vm_readv: %s\n", variant->name,
		       n < 0 ? strerror(err) : "read");
	/* Refused, or read in full as the memfd has it. */
	EXPECT_TRUE(n < 0 ? err == EFAULT :
		    n == (ssize_t)len &&
		    same_pages(_metadata, self, local, first, len / PAGE,
			       "read by process_vm_readv"))
		TH_LOG("%zd: %s", n, n < 0 ? strerror(err) : "bytes read");
	EXPECT_TRUE(same_all(_metadata, self, p, "after process_vm_readv"));
	free(local);
}

/*
 * /proc/self/mem at the buffer's addresses: reads and writes go through,
 * or both are refused with EIO (no page, and no ->access, behind a
 * VM_PFNMAP mapping). The memfd's mapping must work through it.
 */
TEST_F_TIMEOUT(mapping, proc_self_mem, 120)
{
	uint8_t *p = MAP_AND_TOUCH(), *blk = first_block(p);
	size_t first = (blk - p) / PAGE - 1;
	int fd = open("/proc/self/mem", O_RDWR);
	uint8_t page[2 * PAGE], mark = 0x99, *landed;
	ssize_t n, written;
	int err;

	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)PAGE, pread(fd, page, PAGE, (uintptr_t)self->mem));
	EXPECT_EQ(0, memcmp(page, self->mem, PAGE));
	n = pread(fd, page, sizeof(page), (uintptr_t)(p + first * PAGE));
	err = errno;
	ksft_print_msg("%s: /proc/self/mem read: %s\n", variant->name,
		       n < 0 ? strerror(err) : "read");
	EXPECT_TRUE(n < 0 ? err == EIO :
		    n == sizeof(page) &&
		    same_pages(_metadata, self, page, first, 2,
			       "read by /proc/self/mem"))
		TH_LOG("read %zd: %s", n, n < 0 ? strerror(err) : "bytes");
	/* A write is refused as the read was, or lands in the memfd. */
	landed = self->mem + memfd_off(self, first + 1) + MARK_AT(first + 1);
	written = pwrite(fd, &mark, 1, (uintptr_t)(p + (first + 1) * PAGE +
						   MARK_AT(first + 1)));
	err = errno;
	EXPECT_TRUE(n < 0 ? written < 0 && err == EIO && *landed != mark :
		    written == 1 && *landed == mark)
		TH_LOG("write %zd: %s", written,
		       written < 0 ? strerror(err) : "bytes");
	close(fd);
	EXPECT_TRUE(same_all(_metadata, self, p, "after /proc/self/mem"));
}

/*
 * /proc/self/pagemap: the memfd's pages all present with their frames;
 * the buffer's either all at the memfd's frames, or all absent (the page
 * walker skips VM_PFNMAP mappings): never a wrong frame.
 */
TEST_F_TIMEOUT(mapping, pagemap, 120)
{
	uint8_t *p = MAP_AND_TOUCH();
	uint64_t *mem_pm = calloc(self->pages, sizeof(uint64_t));
	uint64_t *buf_pm = calloc(self->pages, sizeof(uint64_t));
	size_t present = 0;
	int wrong = 0, missing = 0;

	ASSERT_TRUE(mem_pm && buf_pm);
	ASSERT_EQ(0, read_pagemap(self->mem, self->pages, mem_pm));
	ASSERT_EQ(0, read_pagemap(p, self->pages, buf_pm));
	for (size_t i = 0; i < self->pages; i++) {
		uint64_t want = mem_pm[memfd_off(self, i) / PAGE];

		missing += !PM_PRESENT(want) || !PM_PFN(want);
		if (!PM_PRESENT(buf_pm[i]))
			continue;
		present++;
		if (PM_PFN(buf_pm[i]) != PM_PFN(want) && !wrong++)
			TH_LOG("buffer page %zu at frame %#llx, the memfd's at %#llx",
			       i, (unsigned long long)PM_PFN(buf_pm[i]),
			       (unsigned long long)PM_PFN(want));
	}
	ksft_print_msg("%s: pagemap: %zu of %zu buffer pages present\n",
		       variant->name, present, self->pages);
	EXPECT_EQ(0, missing) TH_LOG("memfd pages without a frame");
	EXPECT_EQ(0, wrong);
	EXPECT_TRUE(present == 0 || present == self->pages);
	free(mem_pm);
	free(buf_pm);
}

struct peeks {
	int attach_err;
	long control;
	int control_err;
	long word[3];
	int err[3];
};

struct peek_arg {
	const uint8_t *control;
	const uint8_t *at[3];
	int pipe;
};

/* The tracer: attach to the parent, peek, detach, report through a pipe. */
static int peek_parent(void *arg)
{
	struct peek_arg *a = arg;
	struct peeks r = { 0 };
	pid_t parent = getppid();
	int status;

	if (ptrace(PTRACE_ATTACH, parent, 0, 0)) {
		r.attach_err = errno;
	} else if (waitpid(parent, &status, __WALL) != parent) {
		r.attach_err = errno;
	} else {
		errno = 0;
		r.control = ptrace(PTRACE_PEEKDATA, parent, a->control, 0);
		r.control_err = errno;
		for (int k = 0; k < 3; k++) {
			errno = 0;
			r.word[k] = ptrace(PTRACE_PEEKDATA, parent, a->at[k], 0);
			r.err[k] = errno;
		}
		ptrace(PTRACE_DETACH, parent, 0, 0);
	}
	return write(a->pipe, &r, sizeof(r)) == sizeof(r) ? 0 : 1;
}

/*
 * PTRACE_PEEKDATA from a forked tracer: the memfd's mapping must peek;
 * the buffer's words peek right, or are refused with EIO.
 */
TEST_F_TIMEOUT(mapping, ptrace_peekdata, 120)
{
	uint8_t *p = MAP_AND_TOUCH(), *blk = first_block(p);
	size_t page[3] = { 0, (blk - p) / PAGE, self->pages - 1 };
	struct peek_arg a = { .control = self->mem + 16 };
	struct peeks r;
	int fds[2], bad = 0;

	ASSERT_EQ(0, pipe(fds));
	a.pipe = fds[1];
	for (int k = 0; k < 3; k++)
		a.at[k] = p + page[k] * PAGE + 24;
	ASSERT_EQ(0, in_child(peek_parent, &a));
	ASSERT_EQ((ssize_t)sizeof(r), read(fds[0], &r, sizeof(r)));
	close(fds[0]);
	close(fds[1]);
	ASSERT_EQ(0, r.attach_err) TH_LOG("attach: %s", strerror(r.attach_err));
	EXPECT_EQ(0, r.control_err);
	EXPECT_EQ(0, memcmp(&r.control, self->mem + 16, sizeof(long)));
	ksft_print_msg("%s: PTRACE_PEEKDATA: %s\n", variant->name,
		       r.err[0] ? strerror(r.err[0]) : "read");
	/* Each word refused with EIO, or read as the memfd has it. */
	for (int k = 0; k < 3; k++) {
		const uint8_t *want = self->mem + memfd_off(self, page[k]) + 24;
		bool ok = r.err[k] ? r.err[k] == EIO :
			  !memcmp(&r.word[k], want, sizeof(long));

		if (!ok && !bad++)
			TH_LOG("peek at buffer page %zu: %s", page[k],
			       r.err[k] ? strerror(r.err[k]) : "a wrong word");
	}
	EXPECT_EQ(0, bad);
	/* And all three alike. */
	EXPECT_TRUE(!r.err[0] == !r.err[1] && !r.err[1] == !r.err[2]);
	EXPECT_TRUE(same_all(_metadata, self, p, "after ptrace"));
}

/*
 * userfaultfd registration, in every mode, is refused on the buffer
 * (EINVAL: only anonymous, shmem and hugetlb mappings take it), and
 * accepted on the memfd's own mapping.
 */
TEST_F_TIMEOUT(mapping, userfaultfd, 120)
{
	static const __u64 modes[] = {
		UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP,
		UFFDIO_REGISTER_MODE_MINOR,
	};
	uint8_t *p = MAP_AND_TOUCH();
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (uintptr_t)self->mem, self->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK), bad = 0;

	/* A kernel without CONFIG_USERFAULTFD, most likely. */
	if (uffd < 0)
		SKIP(return, "userfaultfd(): %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	EXPECT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg))
		TH_LOG("the memfd's mapping: %s", strerror(errno));
	EXPECT_EQ(0, ioctl(uffd, UFFDIO_UNREGISTER, &reg.range));
	for (int k = 0; k < 3; k++) {
		int ret;

		reg = (struct uffdio_register) {
			.range = { (uintptr_t)p, self->size },
			.mode = modes[k],
		};
		ret = ioctl(uffd, UFFDIO_REGISTER, &reg);
		if ((ret != -1 || errno != EINVAL) && !bad++)
			TH_LOG("mode %llu: %s", (unsigned long long)modes[k],
			       ret ? strerror(errno) : "registered");
	}
	EXPECT_EQ(0, bad);
	close(uffd);
	EXPECT_TRUE(same_all(_metadata, self, p, "after userfaultfd"));
}

struct racer {
	pthread_t thread;
	pthread_barrier_t *start;
	const uint8_t *at;	/* faulting threads */
	uint8_t got;
	double t0, t1;
	bool *stop;		/* the toggling thread */
	long toggles;
};

static void *first_access(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	r->t0 = now_us();
	r->got = __atomic_load_n(r->at, __ATOMIC_RELAXED);
	r->t1 = now_us();
	return NULL;
}

static void *toggle_thp(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	while (!__atomic_load_n(r->stop, __ATOMIC_RELAXED)) {
		prctl(PR_SET_THP_DISABLE, !(r->toggles & 1), 0, 0, 0);
		r->toggles++;
	}
	return NULL;
}

/*
 * PR_SET_THP_DISABLE flipped by one thread while three take the first
 * faults of a fresh mapping: two in one 2 MiB block (its first and last
 * page), one at the buffer's last page. Every round every page must read
 * right, whatever each fault chose.
 */
TEST_F_TIMEOUT(mapping, thp_disable_race, 300)
{
	const int rounds = 20;
	struct racer r[4];
	pthread_barrier_t start;
	bool stop;
	long toggles = 0;
	int together = 0, wrong = 0;

	for (int round = 0; round < rounds; round++) {
		uint8_t *p = map_buffer(self, variant), *blk;
		size_t page[3];
		bool overlap = false;

		ASSERT_NE(NULL, p);
		blk = first_block(p);
		page[0] = (blk - p) / PAGE;
		page[1] = page[0] + PAGES_2M - 1;
		page[2] = self->pages - 1;
		stop = false;
		pthread_barrier_init(&start, NULL, 4);
		for (int i = 0; i < 4; i++) {
			r[i] = (struct racer) { .start = &start, .stop = &stop };
			if (i < 3)
				r[i].at = p + page[i] * PAGE + MARK_AT(page[i]);
			ASSERT_EQ(0, pthread_create(&r[i].thread, NULL,
						    i < 3 ? first_access : toggle_thp,
						    &r[i]));
		}
		for (int i = 0; i < 3; i++)
			pthread_join(r[i].thread, NULL);
		__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
		pthread_join(r[3].thread, NULL);
		pthread_barrier_destroy(&start);
		ASSERT_EQ(0, prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0));
		toggles += r[3].toggles;

		for (int i = 0; i < 3; i++) {
			uint8_t want = self->mem[memfd_off(self, page[i]) +
						 MARK_AT(page[i])];

			if (r[i].got != want && !wrong++)
				TH_LOG("round %d, thread %d read %#x, not %#x",
				       round, i, r[i].got, want);
			for (int j = 0; j < i; j++)
				overlap |= r[i].t0 < r[j].t1 && r[j].t0 < r[i].t1;
		}
		together += overlap;
		EXPECT_TRUE(same_all(_metadata, self, p, "after the race"))
			TH_LOG("round %d", round);
		munmap(p, self->size);
		self->buf = NULL;
	}
	ksft_print_msg("%s: %d of %d rounds with two first accesses at once, %ld toggles\n",
		       variant->name, together, rounds, toggles);
	EXPECT_EQ(0, wrong);
	EXPECT_LT(0, toggles);
}

TEST_HARNESS_MAIN
