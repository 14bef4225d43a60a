// SPDX-License-Identifier: GPL-2.0
/*
 * make profile's program, run inside the VM (a kernel with ftrace's
 * function profiler): where create, the first mmap + touch and release of
 * a buffer spend their time. For each shape, each phase runs once with the
 * profiler on (set_ftrace_filter names the driver and the kernel calls it
 * makes); the functions' inclusive times (graph-time) are printed, biggest
 * first, one CSV line each:
 *   PROFILE,shape,phase,function,hits,total_us
 * and the phase's own time as PHASE,shape,phase,us. Under -icount the
 * guest clock counts instructions, so a microsecond is 1,000 of them.
 * Usage: profile [top_n]
 */
#define _GNU_SOURCE
#include "udmabuf-user.h"

#include <sys/mount.h>

#define TRACING "/sys/kernel/tracing"

static const char *const filter[] = {
	"udmabuf_*", "memfd_pin_folios", "unpin_folios", "unpin_folio",
	"memfd_alloc_folio", "filemap_get_folios_contig",
	"check_and_migrate_movable_folios", "try_grab_folio",
	"vmf_insert_pfn", "vmf_insert_pfn_prot", "__cond_resched",
	"kvmalloc_node_noprof", "__kvmalloc_node_noprof", "kvfree",
	"kvrealloc_noprof", "__vmalloc_node_range_noprof", "vfree",
	"__kmalloc_node_noprof", "kfree", "sort", "sort_r",
	"dma_buf_export", "dma_buf_fd", "fd_install", "dma_buf_release",
	"__fput", "memfd_fcntl", "vfs_fallocate", "__filemap_get_folio",
	"handle_mm_fault", "__handle_mm_fault", "do_user_addr_fault",
	"sg_alloc_table", "sg_free_table", "vm_unmap_ram", "vunmap",
	"zap_page_range_single", "unmap_page_range", "unmap_vmas",
	"free_pgtables", "do_vmi_munmap",
};

static int write_file(const char *name, const char *text, bool append)
{
	char path[256];
	int fd, ret;

	snprintf(path, sizeof(path), TRACING "/%s", name);
	fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	if (fd < 0)
		return -errno;
	ret = write(fd, text, strlen(text)) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

struct entry {
	char name[96];
	unsigned long hits;
	double us;
};

static int by_time(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->us < y->us ? 1 : x->us > y->us ? -1 : 0;
}

/* Sum trace_stat/function<cpu> over CPUs and print the top @top. */
static void report(const char *shape, const char *phase, int top)
{
	static struct entry entries[512];
	int n = 0;

	for (int cpu = 0; cpu < 64; cpu++) {
		char path[128], line[256], name[96];
		unsigned long hits;
		double us;
		FILE *f;

		snprintf(path, sizeof(path), TRACING "/trace_stat/function%d", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f)) {
			int i;

			if (sscanf(line, " %95s %lu %lf", name, &hits, &us) != 3)
				continue;
			for (i = 0; i < n && strcmp(entries[i].name, name); i++)
				;
			if (i == n) {
				if (n == (int)(sizeof(entries) / sizeof(entries[0])))
					continue;
				snprintf(entries[n++].name, sizeof(entries[0].name),
					 "%s", name);
				entries[i].hits = 0;
				entries[i].us = 0;
			}
			entries[i].hits += hits;
			entries[i].us += us;
		}
		fclose(f);
	}
	qsort(entries, n, sizeof(entries[0]), by_time);
	for (int i = 0; i < n && i < top; i++)
		printf("PROFILE,%s,%s,%s,%lu,%.1f\n", shape, phase,
		       entries[i].name, entries[i].hits, entries[i].us);
}

static void profile_on(void)
{
	write_file("function_profile_enabled", "0", false);
	write_file("function_profile_enabled", "1", false);
}

static void profile_off(void)
{
	write_file("function_profile_enabled", "0", false);
}

struct shape {
	const char *name;
	unsigned int mfd_flags;
	const char *thp;
	size_t size_mb;
	unsigned int items;
};

static void run(int dev, const struct shape *s, int top)
{
	size_t size = s->size_mb << 20, chunk = size / s->items;
	struct udmabuf_create_item *list = calloc(s->items, sizeof(*list));
	double t0, us;
	uint8_t *mem;
	int memfd, fd;

	if (s->thp)
		shmem_thp(s->thp);
	memfd = memfd_sealed("profile", size, s->mfd_flags, 0);
	if (memfd < 0 || !list) {
		printf("PROFILE-SKIP,%s,%s\n", s->name, strerror(-memfd));
		free(list);
		return;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED) {
		printf("PROFILE-SKIP,%s,mmap\n", s->name);
		goto out;
	}
	for (size_t off = 0; off < size; off += SZ_4K)
		mem[off] = 1;
	munmap(mem, size);
	for (unsigned int i = 0; i < s->items; i++)
		list[i] = (struct udmabuf_create_item) {
			.memfd = memfd, .offset = i * chunk, .size = chunk };

	profile_on();
	t0 = now_us();
	fd = s->items == 1 ? udmabuf_create1(dev, memfd, 0, size, 0) :
		udmabuf_create_list(dev, 0, list, s->items);
	us = now_us() - t0;
	profile_off();
	if (fd < 0) {
		printf("PROFILE-FAIL,%s,create: %s\n", s->name, strerror(-fd));
		goto out;
	}
	printf("PHASE,%s,create,%.0f\n", s->name, us);
	report(s->name, "create", top);

	profile_on();
	t0 = now_us();
	mem = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (mem != MAP_FAILED)
		touch_pages(mem, size);
	us = now_us() - t0;
	profile_off();
	printf("PHASE,%s,mmap+touch,%.0f\n", s->name, us);
	report(s->name, "mmap+touch", top);
	if (mem != MAP_FAILED)
		munmap(mem, size);

	profile_on();
	t0 = now_us();
	close(fd);
	us = now_us() - t0;
	profile_off();
	printf("PHASE,%s,release,%.0f\n", s->name, us);
	report(s->name, "release", top);
out:
	close(memfd);
	free(list);
}

int main(int argc, char **argv)
{
	static const struct shape shapes[] = {
		{ "shmem-4k-64M", 0, "never", 64, 1 },
		{ "shmem-4k-1G", 0, "never", 1024, 1 },
		{ "hugetlb-4M-256-items", MFD_HUGETLB, NULL, 4, 256 },
	};
	int top = argc > 1 ? atoi(argv[1]) : 25, dev;

	mount("tracefs", TRACING, "tracefs", 0, NULL);
	/* Names this kernel lacks are refused one by one: add each alone. */
	write_file("set_ftrace_filter", "", false);
	for (size_t i = 0; i < sizeof(filter) / sizeof(filter[0]); i++)
		write_file("set_ftrace_filter", filter[i], true);
	write_file("options/graph-time", "1", false);
	if (access(TRACING "/function_profile_enabled", W_OK)) {
		printf("not ok 1 profile: no function profiler in this kernel\n");
		return 1;
	}
	dev = open("/dev/udmabuf", O_RDONLY | O_CLOEXEC);
	if (dev < 0) {
		printf("not ok 1 profile: no /dev/udmabuf\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		run(dev, &shapes[i], top);
	printf("ok 1 profile\n");
	return 0;
}
