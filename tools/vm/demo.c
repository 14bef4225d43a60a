// SPDX-License-Identifier: GPL-2.0
/*
 * make run's demo: make udmabufs from sealed memfds (4 KiB shmem pages and
 * 2 MiB hugetlb pages), map them, check that the bytes agree with the
 * memfd both ways, and show what backs them (page frames of the memfd
 * from /proc/self/pagemap: the buffer's own mapping is VM_PFNMAP, which
 * pagemap does not walk) and what the first touch of every page cost.
 */
#include "udmabuf-user.h"

struct shape {
	int number;
	const char *name;
	unsigned int mfd_flags;
	size_t memfd_size;
	struct udmabuf_create_item items[2];
};

static int demo(int dev, const struct shape *s)
{
	size_t size = s->items[0].size + s->items[1].size, done = 0;
	uint8_t seed = (uint8_t)getpid(), *mem, *buf;
	struct backing b = { 0 };
	struct udmabuf_create_item items[2];
	uint64_t last_pfn = 0;
	long faults;
	int memfd, fd, bad = 0;

	memfd = memfd_sealed("demo", s->memfd_size, s->mfd_flags, 0);
	if (memfd < 0) {
		printf("not ok %d demo %s: memfd: %s\n", s->number, s->name, strerror(-memfd));
		return 1;
	}
	mem = mmap(NULL, s->memfd_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   memfd, 0);
	if (mem == MAP_FAILED) {
		printf("not ok %d demo %s: memfd mmap: %s\n", s->number, s->name, strerror(errno));
		return 1;
	}
	pattern_fill(mem, seed, 0, s->memfd_size);

	memcpy(items, s->items, sizeof(items));
	items[0].memfd = items[1].memfd = memfd;
	fd = udmabuf_create_list(dev, UDMABUF_FLAGS_CLOEXEC, items, 2);
	if (fd < 0) {
		printf("not ok %d demo %s: UDMABUF_CREATE_LIST: %s\n", s->number, s->name,
		       strerror(-fd));
		return 1;
	}
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (buf == MAP_FAILED) {
		printf("not ok %d demo %s: udmabuf mmap: %s\n", s->number, s->name,
		       strerror(errno));
		return 1;
	}

	faults = minor_faults();
	touch_pages(buf, size);
	faults = minor_faults() - faults;

	for (int i = 0; i < 2; i++) {
		if (pattern_check(buf + done, seed, items[i].offset,
				  items[i].size) != items[i].size)
			bad |= 1;
		/* And the other way: through the buffer, into the memfd. */
		buf[done] ^= 0xff;
		if (mem[items[i].offset] != buf[done])
			bad |= 2;
		buf[done] ^= 0xff;
		backing_add(&b, &last_pfn, mem + items[i].offset,
			    items[i].size);
		done += items[i].size;
	}
	printf("%s %d demo %s\n", bad ? "not ok" : "ok", s->number, s->name);
	printf("demo: %-10s %5zu pages, %4zu folios, %4zu contiguous runs "
	       "(our sg entries); %ld fault(s) to touch every page; "
	       "memfd->buffer %s, buffer->memfd %s\n",
	       s->name, b.pages, b.folios, b.runs, faults,
	       bad & 1 ? "DIFFER" : "agree", bad & 2 ? "DIFFER" : "agree");

	munmap(buf, size);
	munmap(mem, s->memfd_size);
	close(fd);
	close(memfd);
	return bad ? 1 : 0;
}

int main(void)
{
	const struct shape shapes[] = {
		{ 1, "shmem 4K", 0, 8 << 20, {
			{ .offset = 12 * SZ_4K, .size = 2 << 20 },
			{ .offset = 0, .size = 1 << 20 } } },
		{ 2, "hugetlb 2M", MFD_HUGETLB, 8 << 20, {
			{ .offset = SZ_2M - 3 * SZ_4K, .size = SZ_2M + 8 * SZ_4K },
			{ .offset = 3 * SZ_2M + 7 * SZ_4K, .size = 64 * SZ_4K } } },
	};
	int dev, ret = 0;

	dev = open("/dev/udmabuf", O_RDWR);
	if (dev < 0) {
		printf("demo: /dev/udmabuf: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		ret |= demo(dev, &shapes[i]);
	printf("demo: %s\n", ret ? "FAILED" : "ok");
	return ret;
}
