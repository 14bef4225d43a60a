// SPDX-License-Identifier: GPL-2.0
/*
 * Page migration under udmabuf's long-term pin. The VM boots with part of
 * its memory in ZONE_MOVABLE (movablecore=) and a CMA area (cma=): user
 * pages land there first, and a long-term pin must not keep them there.
 * For a shmem memfd of 4 KiB pages and one of THP: its pages are found in
 * ZONE_MOVABLE (page frames from /proc/self/pagemap against the zone's
 * span in /proc/zoneinfo), a buffer is made of it, and then every page of
 * the memfd is outside ZONE_MOVABLE, the buffer reads what the memfd held
 * before, and writes go both ways (so the buffer holds the migrated
 * folios: pagemap shows no frames for VM_PFNMAP mappings); no pin is left
 * at the end. Reports the migrations /proc/vmstat counted and the CMA
 * pages the memfd took.
 */
#include "udmabuf-user.h"

#define PAGE	4096UL
#define SIZE	(32UL << 20)

/* A zone's first and last+1 page frame on each node that has it. */
struct spans {
	int n;
	uint64_t start[8], end[8];
};

/* The spans of @zone on every node (the VM has two), false if none. */
static bool zone_spans(const char *zone, struct spans *s)
{
	char line[256], name[32];
	uint64_t spanned = 0;
	bool in = false;
	int node;
	FILE *f = fopen("/proc/zoneinfo", "r");

	s->n = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Node %d, zone %31s", &node, name) == 2) {
			in = !strcmp(name, zone);
			spanned = 0;
			continue;
		}
		if (in && sscanf(line, " spanned %lu", &spanned) == 1)
			continue;
		if (in && spanned && s->n < 8 &&
		    sscanf(line, " start_pfn: %lu", &s->start[s->n]) == 1) {
			s->end[s->n] = s->start[s->n] + spanned;
			s->n++;
		}
	}
	if (f)
		fclose(f);
	return s->n > 0;
}

static bool in_spans(const struct spans *s, uint64_t pfn)
{
	for (int i = 0; i < s->n; i++)
		if (pfn >= s->start[i] && pfn < s->end[i])
			return true;
	return false;
}

static long vmstat(const char *key)
{
	return proc_number("/proc/vmstat", key, ' ');
}

/* How many pages of @p (touched) lie in @s; frames into @pfns. */
static size_t frames_in(uint8_t *p, size_t len, const struct spans *s,
			uint64_t *pfns)
{
	size_t n = 0;

	touch_pages(p, len);
	for (size_t i = 0; i < len / PAGE; i++) {
		pfns[i] = pfn_of(p + i * PAGE);
		n += in_spans(s, pfns[i]);
	}
	return n;
}

static void run(int dev, const char *kind, bool thp,
		const struct spans *movable)
{
	size_t pages = SIZE / PAGE, before, after;
	uint64_t *pfns = calloc(pages, sizeof(*pfns));
	long migrated = vmstat("pgmigrate_success");
	long thp_migrated = vmstat("thp_migration_success");
	long cma_before = meminfo_kb("CmaFree"), cma_after;
	uint8_t *m, *b;
	int memfd, fd;

	shmem_thp(thp ? "always" : "never");
	memfd = memfd_sealed(kind, SIZE, 0, 0);
	m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (memfd < 0 || m == MAP_FAILED) {
		result(false, "%s: memfd: %s", kind, strerror(errno));
		return;
	}
	pattern_fill(m, 0x3c, 0, SIZE);
	before = frames_in(m, SIZE, movable, pfns);
	cma_after = meminfo_kb("CmaFree");
	result(before > pages / 2, "%s: %zu of %zu memfd pages in ZONE_MOVABLE before the pin",
	       kind, before, pages);

	fd = udmabuf_create1(dev, memfd, 0, SIZE, UDMABUF_FLAGS_CLOEXEC);
	result(fd >= 0, "%s: buffer made (%s)", kind, fd >= 0 ? "ok" : strerror(-fd));
	if (fd < 0)
		return;
	migrated = vmstat("pgmigrate_success") - migrated;
	thp_migrated = vmstat("thp_migration_success") - thp_migrated;
	b = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (b == MAP_FAILED) {
		result(false, "%s: mmap of the buffer: %s", kind, strerror(errno));
		return;
	}
	/* The memfd's own mapping faults the migrated pages back in. */
	after = frames_in(m, SIZE, movable, pfns);
	result(after == 0 && pfns[0] && pfns[pages - 1],
	       "%s: %zu memfd pages in ZONE_MOVABLE after the pin", kind,
	       after);
	result(pattern_check(b, 0x3c, 0, SIZE) == SIZE,
	       "%s: the buffer reads what was written before the migration", kind);
	pattern_fill(b, 0x5a, 0, SIZE / 2);
	pattern_fill(m + SIZE / 2, 0xa5, SIZE / 2, SIZE / 2);
	result(pattern_check(m, 0x5a, 0, SIZE / 2) == SIZE / 2 &&
	       pattern_check(b + SIZE / 2, 0xa5, SIZE / 2, SIZE / 2) == SIZE / 2,
	       "%s: writes through the buffer reach the memfd and back", kind);
	printf("migrate: %s: pgmigrate_success +%ld, thp_migration_success +%ld; CmaFree %ld kB before the memfd was written, %ld kB after\n",
	       kind, migrated, thp_migrated, cma_before, cma_after);

	munmap(b, SIZE);
	close(fd);
	munmap(m, SIZE);
	result(fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE) == 0,
	       "%s: no pin left (F_SEAL_WRITE accepted)", kind);
	close(memfd);
	free(pfns);
}

int main(void)
{
	struct spans movable;
	int dev = open("/dev/udmabuf", O_RDONLY | O_CLOEXEC);
	bool zone = zone_spans("Movable", &movable);

	printf("TAP version 13\n");
	/* make stress boots with movablecore=: nothing to migrate fails. */
	if (dev < 0 || !zone) {
		result(false, "/dev/udmabuf %s, ZONE_MOVABLE %s (movablecore=)",
		       dev < 0 ? "missing" : "there", zone ? "there" : "missing");
		return 1;
	}
	/* Six cases for each run() below. */
	printf("1..12\n");
	for (int i = 0; i < movable.n; i++)
		printf("migrate: ZONE_MOVABLE spans page frames %#lx-%#lx (%lu MiB)\n",
		       movable.start[i], movable.end[i],
		       (movable.end[i] - movable.start[i]) >> 8);
	printf("migrate: CmaTotal %ld kB\n", meminfo_kb("CmaTotal"));
	run(dev, "shmem-4k", false, &movable);
	run(dev, "shmem-thp", true, &movable);
	return tap_failures ? 1 : 0;
}
