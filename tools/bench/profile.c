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
 *
 * Then, with the profiler off, the floor: each phase of the driver beside
 * the kernel's own calls for the same range with no driver around them
 * (tools/bench/pin-floor: one memfd_pin_folios() for the whole range, a
 * first fault of one vmf_insert_pfn() per page, one unpin_folios()),
 * medians of 3, as FLOOR,shape,phase,driver_us,floor_us,ratio.
 * Usage: profile [top_n]; profile floor (the floor alone, for make bench).
 * The kernel command line's profile_shapes=TEXT (an environment variable
 * here) keeps only the shapes whose names contain TEXT.
 */
#define _GNU_SOURCE
#include "udmabuf-user.h"

#include <sys/mount.h>
#include <sys/syscall.h>

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
	"__fput", "fget", "fput", "down_read", "up_read",
	"release_pages", "memfd_fcntl", "vfs_fallocate", "__filemap_get_folio",
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

enum layout { EVEN, SAME_PAGE, SCATTERED };

struct shape {
	const char *name;
	unsigned int mfd_flags;
	const char *thp;
	size_t size_mb;
	unsigned int items;
	enum layout layout;	/* one-page items: SAME_PAGE, SCATTERED */
	size_t memfd_mb;	/* 0: the buffer's size */
};

/* The buffer's bytes: @size_mb, or one page per item of a one-page list. */
static size_t shape_size(const struct shape *s)
{
	return s->layout == EVEN ? s->size_mb << 20 : (size_t)s->items * SZ_4K;
}

/*
 * A sealed memfd of @s, every page written, and its list of @s->items
 * items in *@list (the caller frees it): equal ones, or one page each, all
 * on the first page or scattered as bench.c scatters them; the memfd or
 * -errno.
 */
static int shape_memfd(const struct shape *s, const char *name,
		       struct udmabuf_create_item **list)
{
	size_t size = s->memfd_mb ? s->memfd_mb << 20 : s->size_mb << 20;
	size_t chunk = shape_size(s) / s->items;
	uint32_t seed = 1;
	uint8_t *mem;
	int memfd;

	if (s->thp)
		shmem_thp(s->thp);
	*list = calloc(s->items, sizeof(**list));
	memfd = memfd_sealed(name, size, s->mfd_flags, 0);
	if (memfd < 0 || !*list) {
		free(*list);
		return memfd < 0 ? memfd : -ENOMEM;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED) {
		close(memfd);
		free(*list);
		return -ENOMEM;
	}
	for (size_t off = 0; off < size; off += SZ_4K)
		mem[off] = 1;
	munmap(mem, size);
	for (unsigned int i = 0; i < s->items; i++) {
		size_t offset = i * chunk;

		if (s->layout == SAME_PAGE) {
			offset = 0;
		} else if (s->layout == SCATTERED) {
			seed = seed * 1103515245 + 12345;
			offset = (seed >> 4) % (size / SZ_4K) * SZ_4K;
		}
		(*list)[i] = (struct udmabuf_create_item) {
			.memfd = memfd, .offset = offset, .size = chunk };
	}
	return memfd;
}

static void run(int dev, const struct shape *s, int top)
{
	size_t size = shape_size(s);
	struct udmabuf_create_item *list;
	double t0, us;
	uint8_t *mem;
	int memfd, fd;

	memfd = shape_memfd(s, "profile", &list);
	if (memfd < 0) {
		printf("PROFILE-SKIP,%s,%s\n", s->name, strerror(-memfd));
		return;
	}

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

/* tools/bench/pin-floor/udmabuf_floor.c's UAPI. */
struct udmabuf_floor_pin {
	int32_t memfd;
	uint32_t pad;
	uint64_t size;
};

#define UDMABUF_FLOOR_PIN	_IOW('u', 0x70, struct udmabuf_floor_pin)
#define UDMABUF_FLOOR_PFNS	_IO('u', 0x71)
#define UDMABUF_FLOOR_UNPIN	_IO('u', 0x72)
#define FLOOR_REPS		3

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, FLOOR_REPS, sizeof(*v), by_value);
	return v[FLOOR_REPS / 2];
}

/* One run of the driver's phases ([0] create, [1] mmap+touch, [2] release). */
static int driver_phases(int dev, int memfd, const struct shape *s,
			 const struct udmabuf_create_item *list, double *us)
{
	size_t size = s->size_mb << 20;
	double t0 = now_us();
	uint8_t *mem;
	int fd;

	fd = s->items == 1 ? udmabuf_create1(dev, memfd, 0, size, 0) :
		udmabuf_create_list(dev, 0, list, s->items);
	us[0] = now_us() - t0;
	if (fd < 0)
		return fd;
	t0 = now_us();
	mem = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (mem != MAP_FAILED)
		touch_pages(mem, size);
	us[1] = now_us() - t0;
	if (mem == MAP_FAILED) {
		close(fd);
		return -ENOMEM;
	}
	munmap(mem, size);
	t0 = now_us();
	close(fd);
	us[2] = now_us() - t0;
	return 0;
}

/* The same phases with the floor's calls. */
static int floor_phases(int floor_dev, int memfd, size_t size, double *us)
{
	struct udmabuf_floor_pin pin = { .memfd = memfd, .size = size };
	double t0 = now_us();
	uint8_t *mem;
	long ret;

	ret = ioctl(floor_dev, UDMABUF_FLOOR_PIN, &pin);
	us[0] = now_us() - t0;
	if (ret < 0)
		return -errno;
	if (ioctl(floor_dev, UDMABUF_FLOOR_PFNS)) {
		ioctl(floor_dev, UDMABUF_FLOOR_UNPIN);
		return -errno;
	}
	t0 = now_us();
	mem = mmap(NULL, size, PROT_READ, MAP_SHARED, floor_dev, 0);
	if (mem != MAP_FAILED)
		touch_pages(mem, size);
	us[1] = now_us() - t0;
	if (mem != MAP_FAILED)
		munmap(mem, size);
	t0 = now_us();
	ioctl(floor_dev, UDMABUF_FLOOR_UNPIN);
	us[2] = now_us() - t0;
	return mem == MAP_FAILED ? -ENOMEM : 0;
}

static void floor_compare(int dev, int floor_dev, const struct shape *s)
{
	static const char *const phases[] = { "create", "mmap+touch", "release" };
	double ours[3][FLOOR_REPS], base[3][FLOOR_REPS], us[3] = { 0 };
	size_t size = s->size_mb << 20;
	struct udmabuf_create_item *list;
	int memfd, ret = 0;

	memfd = shape_memfd(s, "floor", &list);
	if (memfd < 0) {
		printf("FLOOR-SKIP,%s,%s\n", s->name, strerror(-memfd));
		return;
	}
	for (int rep = 0; rep < FLOOR_REPS && !ret; rep++) {
		ret = driver_phases(dev, memfd, s, list, us);
		for (int p = 0; p < 3; p++)
			ours[p][rep] = us[p];
		if (!ret)
			ret = floor_phases(floor_dev, memfd, size, us);
		for (int p = 0; p < 3; p++)
			base[p][rep] = us[p];
	}
	if (ret)
		printf("FLOOR-FAIL,%s,%s\n", s->name, strerror(-ret));
	for (int p = 0; p < 3 && !ret; p++) {
		double a = median(ours[p]), b = median(base[p]);

		printf("FLOOR,%s,%s,%.0f,%.0f,%.2f\n", s->name, phases[p], a,
		       b, b > 0 ? a / b : 0);
	}
	close(memfd);
	free(list);
}

/* The floor's module, if the initramfs has it; its device fd, or -1. */
static int load_floor(void)
{
	int fd = open("/lib/udmabuf_floor.ko", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (syscall(SYS_finit_module, fd, "", 0) && errno != EEXIST) {
		printf("FLOOR-SKIP,all,finit_module: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return open("/dev/udmabuf-floor", O_RDWR | O_CLOEXEC);
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* make bench's floor table: the floor alone, for the bench's range. */
static int floor_only(int dev)
{
	static const struct shape shapes[] = {
		{ "shmem-4k-4M", 0, "never", 4, 1 },
		{ "shmem-4k-64M", 0, "never", 64, 1 },
		{ "shmem-4k-1G", 0, "never", 1024, 1 },
		{ "shmem-4k-64M-256-items", 0, "never", 64, 256 },
		{ "hugetlb-4M-256-items", MFD_HUGETLB, NULL, 4, 256 },
	};
	int floor_dev = load_floor();

	if (floor_dev < 0) {
		printf("not ok 1 floor: no /dev/udmabuf-floor\n");
		return 1;
	}
	for (size_t i = 0; i < ARRAY_LEN(shapes); i++)
		floor_compare(dev, floor_dev, &shapes[i]);
	printf("ok 1 floor\n");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct shape shapes[] = {
		{ "shmem-4k-64M", 0, "never", 64, 1 },
		{ "shmem-4k-1G", 0, "never", 1024, 1 },
		{ "hugetlb-4M-256-items", MFD_HUGETLB, NULL, 4, 256 },
		{ "shmem-4k-same-page-1024-items", 0, "never", 4, 1024,
		  SAME_PAGE },
		{ "shmem-4k-scattered-1024-items", 0, "never", 4, 1024,
		  SCATTERED, 64 },
	};
	const char *only = getenv("profile_shapes");
	int top = argc > 1 ? atoi(argv[1]) : 25, dev, floor_dev;

	dev = open("/dev/udmabuf", O_RDONLY | O_CLOEXEC);
	if (dev < 0) {
		printf("not ok 1 profile: no /dev/udmabuf\n");
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "floor"))
		return floor_only(dev);
	mount("tracefs", TRACING, "tracefs", 0, NULL);
	/* Names this kernel lacks are refused one by one: add each alone. */
	write_file("set_ftrace_filter", "", false);
	for (size_t i = 0; i < ARRAY_LEN(filter); i++)
		write_file("set_ftrace_filter", filter[i], true);
	write_file("options/graph-time", "1", false);
	if (access(TRACING "/function_profile_enabled", W_OK)) {
		printf("not ok 1 profile: no function profiler in this kernel\n");
		return 1;
	}
	for (size_t i = 0; i < ARRAY_LEN(shapes); i++)
		if (!only || strstr(shapes[i].name, only))
			run(dev, &shapes[i], top);
	floor_dev = load_floor();
	/* The floor pins one range: the lists of one-page items have none. */
	for (size_t i = 0; floor_dev >= 0 && i < ARRAY_LEN(shapes); i++)
		if (shapes[i].layout == EVEN &&
		    (!only || strstr(shapes[i].name, only)))
			floor_compare(dev, floor_dev, &shapes[i]);
	printf("ok 1 profile\n");
	return 0;
}
