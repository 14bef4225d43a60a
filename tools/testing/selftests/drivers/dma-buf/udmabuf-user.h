/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace helpers of the udmabuf selftests (udmabuf-uapi and
 * udmabuf-mapping), the demo and the VM programs: sealed memfds, patterns,
 * minor-fault counts and page frames from /proc/self/pagemap and
 * /proc/kpageflags (which need root), /proc numbers, vgem.
 */
#ifndef UDMABUF_USER_H
#define UDMABUF_USER_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <drm/drm.h>
#include <linux/udmabuf.h>

#define SZ_4K		4096UL
#define SZ_2M		(2UL << 20)
#define KPF_COMPOUND_TAIL	16

/* A memfd of @size bytes holding seals F_SEAL_SHRINK | @extra_seals. */
static inline int memfd_sealed(const char *name, size_t size,
			       unsigned int mfd_flags, int extra_seals)
{
	int fd = memfd_create(name, MFD_ALLOW_SEALING | mfd_flags);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | extra_seals)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * The pattern of @seed: each 4 KiB page of offsets has its own 64-bit key,
 * a bijective mix (splitmix64's finalizer) of the seed and the whole page
 * index, and word w of the page (8 bytes, little-endian) is
 * key + w * PATTERN_STEP. So for one seed no two pages below 2^64 bytes
 * (nor two seeds) hold the same word at the same place: a page, a PMD
 * leaf or a slice that points at the wrong frame or the wrong 2 MiB folio
 * differs in every word, and a page shifted within itself differs too.
 */
#define PATTERN_STEP	0x9e3779b97f4a7c15ULL

static inline uint64_t pattern_key(uint8_t seed, uint64_t off)
{
	uint64_t x = ((off >> 12) ^ (uint64_t)seed << 52) + PATTERN_STEP;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ x >> 31;
}

/* The word of the pattern of @seed at the 8-byte-aligned offset @off. */
static inline uint64_t pattern_word(uint8_t seed, uint64_t off)
{
	return pattern_key(seed, off) + (off & (SZ_4K - 1)) / 8 * PATTERN_STEP;
}

/* @word as memory holds it little-endian: what pattern_at() reads. */
static inline uint64_t pattern_le64(uint64_t word)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(word);
#else
	return word;
#endif
}

/* The byte a pattern with @seed has at offset @off. */
static inline uint8_t pattern_at(uint8_t seed, uint64_t off)
{
	return pattern_word(seed, off & ~7ULL) >> (off & 7) * 8;
}

/*
 * Both walk a page at a time: one key per page, then a word per step
 * (bytes only at an unaligned start or end), fast enough for GiBs under
 * TCG.
 */
static inline void pattern_fill(uint8_t *p, uint8_t seed, uint64_t off,
				size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t at = off + i;
		size_t page_end = i + (SZ_4K - (at & (SZ_4K - 1)));
		size_t end = page_end < len ? page_end : len;
		uint64_t word;

		if ((at & 7) || end - i < 8) {
			p[i] = pattern_at(seed, at);
			i++;
			continue;
		}
		word = pattern_word(seed, at);
		for (; i + 8 <= end; i += 8, word += PATTERN_STEP) {
			uint64_t le = pattern_le64(word);

			memcpy(p + i, &le, 8);
		}
	}
}

/* First offset at which @p differs from the pattern, or @len. */
static inline size_t pattern_check(const uint8_t *p, uint8_t seed,
				   uint64_t off, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t at = off + i;
		size_t page_end = i + (SZ_4K - (at & (SZ_4K - 1)));
		size_t end = page_end < len ? page_end : len;
		uint64_t word, got;

		if ((at & 7) || end - i < 8) {
			if (p[i] != pattern_at(seed, at))
				return i;
			i++;
			continue;
		}
		word = pattern_word(seed, at);
		for (; i + 8 <= end; i += 8, word += PATTERN_STEP) {
			memcpy(&got, p + i, 8);
			if (got != pattern_le64(word))
				break;
		}
		if (i + 8 <= end) {
			while (p[i] == pattern_at(seed, off + i))
				i++;
			return i;
		}
	}
	return len;
}

static inline long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * Read one byte of each page: the first touch of every page. The loads
 * are atomic so that the compiler keeps them when the sum goes unused.
 */
static inline uint8_t touch_pages(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t off = 0; off < len; off += SZ_4K)
		sum += __atomic_load_n(p + off, __ATOMIC_RELAXED);
	return sum;
}

/* Page frame behind a mapped address, or 0 (needs root). */
static inline uint64_t pfn_of(const void *addr)
{
	static int fd = -1;
	uint64_t entry = 0;

	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY);
	if (pread(fd, &entry, sizeof(entry),
		  (uintptr_t)addr / SZ_4K * sizeof(entry)) != sizeof(entry))
		return 0;
	return (entry >> 63) & 1 ? entry & ((1ULL << 55) - 1) : 0;
}

static inline uint64_t page_flags_of(uint64_t pfn)
{
	static int fd = -1;
	uint64_t flags = 0;

	if (fd < 0)
		fd = open("/proc/kpageflags", O_RDONLY);
	if (pread(fd, &flags, sizeof(flags), pfn * sizeof(flags)) !=
	    sizeof(flags))
		return 0;
	return flags;
}

/* What backs a run of pages: pages, folios, contiguous frame runs. */
struct backing {
	size_t pages;
	size_t folios;
	size_t runs;
};

/* Adds the @len mapped bytes at @p to @b, after what @b already holds. */
static inline void backing_add(struct backing *b, uint64_t *last_pfn,
			       const uint8_t *p, size_t len)
{
	for (size_t off = 0; off < len; off += SZ_4K) {
		uint64_t pfn = pfn_of(p + off);
		bool follows = b->pages && pfn == *last_pfn + 1;

		if (!follows ||
		    !(page_flags_of(pfn) & (1ULL << KPF_COMPOUND_TAIL)))
			b->folios++;
		if (!follows)
			b->runs++;
		b->pages++;
		*last_pfn = pfn;
	}
}

/* CLOCK_MONOTONIC in microseconds. */
static inline double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* TAP cases of the VM programs that are not kselftest harness tests. */
static int tap_cases, tap_failures;

static inline void result(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++tap_cases);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		tap_failures++;
}

/* Set shmem's THP policy ("always" or "never"); false if it cannot. */
static inline bool shmem_thp(const char *policy)
{
	int fd = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
		      O_WRONLY);
	bool ok = fd >= 0 &&
		  write(fd, policy, strlen(policy)) == (ssize_t)strlen(policy);

	if (fd >= 0)
		close(fd);
	return ok;
}

/* The number after "@key@sep" on a line of @path, -1 if absent. */
static inline long proc_number(const char *path, const char *key, char sep)
{
	char line[128];
	long value = -1;
	size_t n = strlen(key);
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == sep)
			value = atol(line + n + 1);
	if (f)
		fclose(f);
	return value;
}

/* A /proc/meminfo field (kB, or a count for HugePages_*), -1 if absent. */
static inline long meminfo_kb(const char *key)
{
	return proc_number("/proc/meminfo", key, ':');
}

/* This process's page tables (VmPTE), in kB, -1 if absent. */
static inline long page_table_kb(void)
{
	return proc_number("/proc/self/status", "VmPTE", ':');
}

/*
 * Map @len bytes of @fd from @off, shared, @skew bytes (below 2 MiB) past
 * a 2 MiB boundary: the address decides whether the driver can use PMD
 * leaves. Reserves room, maps over it, gives the rest back.
 */
static inline void *mmap_2m_skew(int fd, size_t len, off_t off, int prot,
				 size_t skew)
{
	size_t area_len = len + 2 * SZ_2M;
	uint8_t *area, *at, *p;
	int err;

	area = mmap(NULL, area_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (area == MAP_FAILED)
		return MAP_FAILED;
	at = (uint8_t *)(((uintptr_t)area + SZ_2M - 1) & ~(SZ_2M - 1)) + skew;
	p = mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd, off);
	err = errno;
	if (p == MAP_FAILED) {
		munmap(area, area_len);
		errno = err;
		return MAP_FAILED;
	}
	munmap(area, at - area);
	munmap(at + len, area + area_len - (at + len));
	return p;
}

/* The first DRM device that calls itself vgem, or -errno. */
static inline int open_vgem(void)
{
	char name[16], path[32];

	for (int i = 0; i < 16; i++) {
		struct drm_version v = { .name = name, .name_len = sizeof(name) };
		int card;

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		card = open(path, O_RDWR | O_CLOEXEC);
		if (card < 0)
			continue;
		memset(name, 0, sizeof(name));
		if (!ioctl(card, DRM_IOCTL_VERSION, &v) &&
		    !strncmp(name, "vgem", 4))
			return card;
		close(card);
	}
	return -ENODEV;
}

/* UDMABUF_CREATE: the new dma-buf fd, or -errno. */
static inline int udmabuf_create1(int dev, int memfd, uint64_t offset,
				  uint64_t size, unsigned int flags)
{
	struct udmabuf_create create = {
		.memfd = memfd, .flags = flags, .offset = offset, .size = size,
	};
	int fd = ioctl(dev, UDMABUF_CREATE, &create);

	return fd < 0 ? -errno : fd;
}

/* UDMABUF_CREATE_LIST: the new dma-buf fd, or -errno. */
static inline int udmabuf_create_list(int dev, unsigned int flags,
				      const struct udmabuf_create_item *items,
				      unsigned int count)
{
	size_t size = sizeof(struct udmabuf_create_list) +
		      count * sizeof(*items);
	struct udmabuf_create_list *list = calloc(1, size);
	int ret;

	if (!list)
		return -ENOMEM;
	list->flags = flags;
	list->count = count;
	memcpy(list->list, items, count * sizeof(*items));
	ret = ioctl(dev, UDMABUF_CREATE_LIST, list);
	if (ret < 0)
		ret = -errno;
	free(list);
	return ret;
}

/* A parameter of the udmabuf module, or @fallback if it cannot be read. */
static inline long read_param(const char *name, long fallback)
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

/* Set a parameter of the udmabuf module: 0 or -errno. */
static inline int write_param(const char *name, long value)
{
	char path[128];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/sys/module/udmabuf/parameters/%s", name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ret = fprintf(f, "%ld\n", value) < 0 ? -EIO : 0;
	if (fclose(f))
		ret = -errno;
	return ret;
}

#endif /* UDMABUF_USER_H */
