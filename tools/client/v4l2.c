// SPDX-License-Identifier: GPL-2.0
/*
 * The second real client: udmabufs queued to V4L2 devices, the way
 * libcamera's DmaBufAllocator and GStreamer's udmabuf allocator use them.
 * vivid, the virtual capture and output device, runs two instances
 * (vivid.n_devs=2 vivid.allocators=0,1): vb2-vmalloc, which reaches an
 * imported buffer through dma_buf_vmap() only, and vb2-dma-contig, which
 * maps it with dma_buf_map_attachment(), refuses it unless its DMA
 * addresses are one contiguous run, and (a virtual device) still writes
 * and reads it through dma_buf_vmap(). On each instance, with the HDMI
 * input and output at 640x480 YUYV:
 *
 * 1. Capture (libcamera's flow): vivid's test pattern, made still (no
 *    movement, on-screen text "None"), into udmabufs of sealed memfds:
 *    shmem 4 KiB pages, the end of a 2 MiB hugetlb folio, and the end and
 *    start of two hugetlb folios that are not physically adjacent. Every
 *    buffer is poisoned before each QBUF; every frame, read through the
 *    memfd's own mapping, must equal a frame captured into vivid's own
 *    MMAP buffers, and the memfd outside the buffers must keep its poison.
 *    dma-contig must refuse (EFAULT at QBUF) exactly the buffers whose
 *    pages are not one physically contiguous run (pagemap says which).
 * 2. Output (an encoder's flow): a udmabuf of each kind holding a pattern
 *    that differs in every 4 KiB page (udmabuf-user.h's, a mix of the
 *    whole page index) is queued to the video output, looped back to the
 *    capture (the HDMI input connected to the HDMI output), and every
 *    frame captured into MMAP buffers must equal it.
 * 3. CPU access in DMA_BUF_IOCTL_SYNC brackets (WRITE around every fill,
 *    READ around every read of a captured buffer), counted. At the end of
 *    each instance every memfd must refuse F_SEAL_WRITE (EBUSY) while its
 *    udmabufs live and accept it once everything is closed: no pin left.
 *
 * The last line sums it up; the VM harness scans the console for kernel
 * reports (tools/vm/kernel_reports.py), this program counts those it can
 * read in the kernel log.
 */
#include "udmabuf-user.h"
#include <poll.h>
#include <regex.h>
#include <sys/klog.h>
#include <linux/dma-buf.h>
#include <linux/v4l2-dv-timings.h>
#include <linux/videodev2.h>

#define WIDTH		640
#define HEIGHT		480
#define FRAME_SIZE	(WIDTH * HEIGHT * 2)	/* YUYV: 150 pages */
#define INSTANCES	2
#define BUFS		2	/* udmabufs of each kind */
#define CAP_FRAMES	4	/* frames captured into each kind */
#define LOOP_FRAMES	3	/* frames looped back from each kind */
#define FOLIOS		4	/* hugetlb folios of the two-folio kind */
#define MMAP_BUFS	4
#define FRAME_WAIT_MS	20000
#define POISON_SEED	0x40	/* + kind: the memfd's first contents */
#define FILL_SEED	0x80	/* + frame: a capture buffer's poison */
#define LOOP_SEED	0xc0	/* + kind: what the output shows */

enum kind_id { SHMEM, HUGETLB_ONE, HUGETLB_TWO, KINDS };

static const char *const kind_name[KINDS] = {
	"shmem-4k", "hugetlb-1-folio", "hugetlb-2-folios",
};

/* A udmabuf and the memfd ranges it is made of. */
struct ubuf {
	int fd;
	unsigned int nitems;
	struct udmabuf_create_item item[2];
	unsigned int runs;	/* physically contiguous runs (pagemap) */
};

/* A memfd and the udmabufs of one kind made from it. */
struct kind {
	enum kind_id id;
	int memfd;
	uint8_t *map;		/* the memfd's own mapping */
	size_t size;
	int err;		/* why the buffers could not be made, or 0 */
	struct ubuf buf[BUFS];
};

/* One vivid instance. */
struct vivid {
	int inst;
	char name[32];		/* "vivid-000 vmalloc" */
	bool contig;		/* vb2-dma-contig */
	int cap, out;		/* video capture and output nodes */
	size_t size;		/* sizeimage */
	uint8_t *ref;		/* a frame captured into MMAP buffers */
};

static int udmabuf_dev;
static unsigned long read_brackets, write_brackets, bad_brackets;
static unsigned long frames_matched, loop_frames_matched, pins_left;

static int xioctl(int fd, unsigned long request, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, request, arg);
	while (ret && errno == EINTR);
	return ret ? -errno : 0;
}

static const char *err_name(int err)
{
	return err ? strerror(-err) : "ok";
}

/* DMA_BUF_IOCTL_SYNC, retried as libcamera's DmaSyncer retries it. */
static int dma_buf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync sync = { .flags = flags };
	int ret;

	do
		ret = ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);
	while (ret && (errno == EINTR || errno == EAGAIN));
	return ret ? -errno : 0;
}

/* Open a CPU access bracket; @dir is DMA_BUF_SYNC_READ or _WRITE. */
static void cpu_begin(int fd, uint64_t dir)
{
	if (dma_buf_sync(fd, DMA_BUF_SYNC_START | dir))
		bad_brackets++;
}

static void cpu_end(int fd, uint64_t dir)
{
	if (dma_buf_sync(fd, DMA_BUF_SYNC_END | dir))
		bad_brackets++;
	if (dir == DMA_BUF_SYNC_READ)
		read_brackets++;
	else
		write_brackets++;
}

/* Buffer @u of @k holds the pattern of @seed, in buffer offsets. */
static void buf_fill(struct kind *k, struct ubuf *u, uint8_t seed)
{
	uint64_t at = 0;

	cpu_begin(u->fd, DMA_BUF_SYNC_WRITE);
	for (unsigned int i = 0; i < u->nitems; i++) {
		pattern_fill(k->map + u->item[i].offset, seed, at,
			     u->item[i].size);
		at += u->item[i].size;
	}
	cpu_end(u->fd, DMA_BUF_SYNC_WRITE);
}

/* First offset at which buffer @u differs from @frame, or @len. */
static size_t buf_diff(const struct kind *k, const struct ubuf *u,
		       const uint8_t *frame, size_t len)
{
	size_t at = 0;

	for (unsigned int i = 0; i < u->nitems && at < len; i++) {
		const uint8_t *p = k->map + u->item[i].offset;
		size_t n = u->item[i].size < len - at ? u->item[i].size :
							len - at;

		if (memcmp(p, frame + at, n)) {
			while (*p == frame[at]) {
				p++;
				at++;
			}
			return at;
		}
		at += n;
	}
	return at;
}

static bool buf_holds(const struct ubuf *u, uint64_t off)
{
	for (unsigned int i = 0; i < u->nitems; i++)
		if (off >= u->item[i].offset &&
		    off < u->item[i].offset + u->item[i].size)
			return true;
	return false;
}

/* First memfd page outside every buffer of @k that lost its poison, or -1. */
static long gap_changed(const struct kind *k)
{
	for (uint64_t off = 0; off < k->size; off += SZ_4K) {
		bool inside = false;

		for (int b = 0; b < BUFS; b++)
			inside |= buf_holds(&k->buf[b], off);
		if (!inside && pattern_check(k->map + off, POISON_SEED + k->id,
					     off, SZ_4K) != SZ_4K)
			return off / SZ_4K;
	}
	return -1;
}

/* Physically contiguous runs of buffer @u's pages (0: frames unknown). */
static unsigned int buf_runs(const struct kind *k, const struct ubuf *u)
{
	unsigned int runs = 0;
	uint64_t last = 0;

	for (unsigned int i = 0; i < u->nitems; i++) {
		for (uint64_t off = 0; off < u->item[i].size; off += SZ_4K) {
			uint64_t pfn = pfn_of(k->map + u->item[i].offset + off);

			if (!pfn)
				return 0;
			if (!runs || pfn != last + 1)
				runs++;
			last = pfn;
		}
	}
	return runs;
}

static void buf_item(struct ubuf *u, int memfd, uint64_t offset, uint64_t size)
{
	u->item[u->nitems++] = (struct udmabuf_create_item) {
		.memfd = memfd, .offset = offset, .size = size,
	};
}

/*
 * A folio other than @a whose head no buffer uses yet and whose frames do
 * not follow @a's: a buffer of @a's end and its start is two runs.
 */
static int far_folio(const uint64_t *pfn, int a, bool *head_used)
{
	for (int c = 0; c < FOLIOS; c++) {
		if (c != a && !head_used[c] && pfn[c] != pfn[a] + SZ_2M / SZ_4K) {
			head_used[c] = true;
			return c;
		}
	}
	return (a + 2) % FOLIOS;
}

/* Where each buffer of @k lies in its memfd. */
static void kind_layout(struct kind *k, size_t len)
{
	uint64_t half = len / 2 & ~(SZ_4K - 1), pfn[FOLIOS] = { 0 };
	bool head_used[FOLIOS] = { false };

	if (k->id == HUGETLB_TWO)
		for (int f = 0; f < FOLIOS; f++)
			pfn[f] = pfn_of(k->map + f * SZ_2M);
	for (int b = 0; b < BUFS; b++) {
		struct ubuf *u = &k->buf[b];
		int c;

		switch (k->id) {
		case SHMEM:
			buf_item(u, k->memfd, b * len, len);
			break;
		case HUGETLB_ONE:
			/* The end of folio b: the run ends where the folio does. */
			buf_item(u, k->memfd, (b + 1) * SZ_2M - len, len);
			break;
		default:
			c = far_folio(pfn, b, head_used);
			buf_item(u, k->memfd, (b + 1) * SZ_2M - half, half);
			buf_item(u, k->memfd, c * SZ_2M, len - half);
			printf("v4l2: %s buffer %d: end of folio %d (frame %#lx), start of folio %d (frame %#lx)\n",
			       kind_name[k->id], b, b, pfn[b], c, pfn[c]);
			break;
		}
	}
}

/* A poisoned memfd of kind @id and BUFS udmabufs of @len bytes from it. */
static int kind_make(struct kind *k, enum kind_id id, size_t len)
{
	memset(k, 0, sizeof(*k));
	k->id = id;
	k->size = id == SHMEM ? BUFS * len :
		  id == HUGETLB_ONE ? BUFS * SZ_2M : FOLIOS * SZ_2M;
	for (int b = 0; b < BUFS; b++)
		k->buf[b].fd = -1;
	if (id == SHMEM)
		shmem_thp("never");
	k->memfd = memfd_sealed(kind_name[id], k->size,
				id == SHMEM ? 0 : MFD_HUGETLB, 0);
	if (k->memfd < 0)
		return k->err = k->memfd;
	k->map = mmap(NULL, k->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      k->memfd, 0);
	if (k->map == MAP_FAILED) {
		k->map = NULL;
		return k->err = -errno;
	}
	/* Written before the pin, so every page exists (and has a frame). */
	pattern_fill(k->map, POISON_SEED + id, 0, k->size);
	kind_layout(k, len);
	for (int b = 0; b < BUFS; b++) {
		struct ubuf *u = &k->buf[b];

		/* libcamera's call for one range, CREATE_LIST for two. */
		if (u->nitems == 1)
			u->fd = udmabuf_create1(udmabuf_dev, k->memfd,
						u->item[0].offset,
						u->item[0].size,
						UDMABUF_FLAGS_CLOEXEC);
		else
			u->fd = udmabuf_create_list(udmabuf_dev,
						    UDMABUF_FLAGS_CLOEXEC,
						    u->item, u->nitems);
		if (u->fd < 0)
			return k->err = u->fd;
		u->runs = buf_runs(k, u);
	}
	return 0;
}

/* Close the udmabufs and the memfd's mapping; the memfd stays. */
static void kind_close_buffers(struct kind *k)
{
	for (int b = 0; b < BUFS; b++) {
		if (k->buf[b].fd >= 0)
			close(k->buf[b].fd);
		k->buf[b].fd = -1;
	}
	if (k->map)
		munmap(k->map, k->size);
	k->map = NULL;
}

/* The video node of vivid instance @inst with device capability @caps. */
static int open_node(int inst, uint32_t caps)
{
	char path[32], bus[32];

	snprintf(bus, sizeof(bus), "platform:vivid-%03d", inst);
	for (int i = 0; i < 64; i++) {
		struct v4l2_capability cap;
		int fd;

		snprintf(path, sizeof(path), "/dev/video%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&cap, 0, sizeof(cap));
		if (!xioctl(fd, VIDIOC_QUERYCAP, &cap) &&
		    !strcmp((char *)cap.driver, "vivid") &&
		    !strcmp((char *)cap.bus_info, bus) &&
		    (cap.device_caps & caps))
			return fd;
		close(fd);
	}
	return -ENODEV;
}

/* Select the first input (or output) that takes DV timings: HDMI. */
static int select_hdmi(int fd, bool output)
{
	for (uint32_t i = 0; i < 64; i++) {
		struct v4l2_output out = { .index = i };
		struct v4l2_input in = { .index = i };
		int sel = i;

		if (output ? xioctl(fd, VIDIOC_ENUMOUTPUT, &out) :
			     xioctl(fd, VIDIOC_ENUMINPUT, &in))
			break;
		if (output && (out.capabilities & V4L2_OUT_CAP_DV_TIMINGS))
			return xioctl(fd, VIDIOC_S_OUTPUT, &sel);
		if (!output && (in.capabilities & V4L2_IN_CAP_DV_TIMINGS))
			return xioctl(fd, VIDIOC_S_INPUT, &sel);
	}
	return -ENODEV;
}

/* 640x480p60 timings and a 640x480 YUYV progressive format: sizeimage. */
static long set_format(int fd, uint32_t type)
{
	struct v4l2_dv_timings timings = V4L2_DV_BT_CEA_640X480P59_94;
	struct v4l2_format f = { .type = type };
	int ret = xioctl(fd, VIDIOC_S_DV_TIMINGS, &timings);

	if (ret)
		return ret;
	f.fmt.pix.width = WIDTH;
	f.fmt.pix.height = HEIGHT;
	f.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
	f.fmt.pix.field = V4L2_FIELD_NONE;
	ret = xioctl(fd, VIDIOC_S_FMT, &f);
	if (ret)
		return ret;
	if (f.fmt.pix.width != WIDTH || f.fmt.pix.height != HEIGHT ||
	    f.fmt.pix.pixelformat != V4L2_PIX_FMT_YUYV ||
	    f.fmt.pix.field != V4L2_FIELD_NONE ||
	    f.fmt.pix.bytesperline != WIDTH * 2)
		return -EINVAL;
	return f.fmt.pix.sizeimage;
}

/* Set the menu control named @name on @fd to its item named @item. */
static int set_menu(int fd, const char *name, const char *item)
{
	struct v4l2_query_ext_ctrl q = {
		.id = V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND,
	};

	while (!xioctl(fd, VIDIOC_QUERY_EXT_CTRL, &q)) {
		if (!strcmp(q.name, name) && q.type == V4L2_CTRL_TYPE_MENU)
			break;
		q.id |= V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
	}
	if (strcmp(q.name, name))
		return -ENOENT;
	for (int64_t i = q.minimum; i <= q.maximum; i++) {
		struct v4l2_querymenu m = { .id = q.id, .index = i };
		struct v4l2_control c = { .id = q.id, .value = i };

		if (!xioctl(fd, VIDIOC_QUERYMENU, &m) &&
		    !strcmp((char *)m.name, item))
			return xioctl(fd, VIDIOC_S_CTRL, &c);
	}
	return -ENOENT;
}

/* Connect the HDMI input of @v to @source ("Test Pattern Generator", ...). */
static int connect_input(struct vivid *v, const char *source)
{
	char name[48];

	snprintf(name, sizeof(name), "HDMI %03d-0 Is Connected To", v->inst);
	return set_menu(v->cap, name, source);
}

static int reqbufs(int fd, uint32_t type, uint32_t memory, uint32_t count)
{
	struct v4l2_requestbuffers r = {
		.count = count, .type = type, .memory = memory,
	};
	int ret = xioctl(fd, VIDIOC_REQBUFS, &r);

	return ret ? ret : (int)r.count;
}

static int qbuf(int fd, uint32_t type, uint32_t memory, uint32_t index,
		int dmabuf, uint32_t len)
{
	struct v4l2_buffer b = {
		.index = index, .type = type, .memory = memory,
		.field = V4L2_FIELD_NONE,
	};

	if (memory == V4L2_MEMORY_DMABUF) {
		b.m.fd = dmabuf;
		b.length = len;
	}
	if (V4L2_TYPE_IS_OUTPUT(type))
		b.bytesused = len;
	return xioctl(fd, VIDIOC_QBUF, &b);
}

/* The next filled capture buffer of @fd, waiting for it. */
static int dqbuf(int fd, uint32_t memory, struct v4l2_buffer *b)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ret = poll(&p, 1, FRAME_WAIT_MS);

	if (ret <= 0)
		return ret ? -errno : -ETIMEDOUT;
	memset(b, 0, sizeof(*b));
	b->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	b->memory = memory;
	ret = xioctl(fd, VIDIOC_DQBUF, b);
	if (!ret && (b->flags & V4L2_BUF_FLAG_ERROR))
		return -EIO;
	return ret;
}

static int stream(int fd, uint32_t type, bool on)
{
	int t = type;

	return xioctl(fd, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &t);
}

/* vivid's own capture buffers, mapped, queued and streaming. */
struct mmap_bufs {
	int n;
	uint8_t *p[MMAP_BUFS];
	size_t len[MMAP_BUFS];
};

static int mmap_start(int fd, struct mmap_bufs *m)
{
	const uint32_t type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	int ret = reqbufs(fd, type, V4L2_MEMORY_MMAP, 2);

	m->n = 0;
	if (ret < 0)
		return ret;
	for (int i = 0; i < ret && i < MMAP_BUFS; i++) {
		struct v4l2_buffer b = {
			.index = i, .type = type, .memory = V4L2_MEMORY_MMAP,
		};
		int err = xioctl(fd, VIDIOC_QUERYBUF, &b);

		if (err)
			return err;
		m->p[i] = mmap(NULL, b.length, PROT_READ, MAP_SHARED, fd,
			       b.m.offset);
		if (m->p[i] == MAP_FAILED)
			return -errno;
		m->len[i] = b.length;
		m->n++;
		err = qbuf(fd, type, V4L2_MEMORY_MMAP, i, -1, 0);
		if (err)
			return err;
	}
	return stream(fd, type, true);
}

static void mmap_stop(int fd, struct mmap_bufs *m)
{
	stream(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, false);
	for (int i = 0; i < m->n; i++)
		munmap(m->p[i], m->len[i]);
	reqbufs(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_MEMORY_MMAP, 0);
	m->n = 0;
}

static unsigned int distinct_bytes(const uint8_t *p, size_t len)
{
	bool seen[256] = { false };
	unsigned int n = 0;

	for (size_t i = 0; i < len; i++) {
		n += !seen[p[i]];
		seen[p[i]] = true;
	}
	return n;
}

/* The allocator vivid.allocators gives instance @inst: 0 vmalloc, 1 dma-contig. */
static int vivid_allocator(int inst)
{
	char line[128], *p = line;
	int value = -1;
	FILE *f = fopen("/sys/module/vivid/parameters/allocators", "r");

	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f)) {
		for (int i = 0; i < inst && p; i++) {
			p = strchr(p, ',');
			p = p ? p + 1 : NULL;
		}
		if (p)
			value = atoi(p);
	}
	fclose(f);
	return value;
}

/* Open both nodes of instance @inst at HDMI 640x480 YUYV, still picture. */
static int vivid_open(struct vivid *v, int inst)
{
	int alloc = vivid_allocator(inst);
	long size;
	int ret;

	v->inst = inst;
	v->contig = alloc == 1;
	snprintf(v->name, sizeof(v->name), "vivid-%03d %s", inst,
		 alloc == 1 ? "dma-contig" : alloc == 0 ? "vmalloc" : "(allocator?)");
	v->cap = open_node(inst, V4L2_CAP_VIDEO_CAPTURE);
	v->out = open_node(inst, V4L2_CAP_VIDEO_OUTPUT);
	if (alloc != inst || v->cap < 0 || v->out < 0)
		return -ENODEV;
	ret = select_hdmi(v->cap, false) ?: select_hdmi(v->out, true);
	if (ret)
		return ret;
	size = set_format(v->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE);
	if (size < 0)
		return size;
	v->size = size;
	size = set_format(v->out, V4L2_BUF_TYPE_VIDEO_OUTPUT);
	if (size != (long)v->size || v->size != FRAME_SIZE)
		return size < 0 ? size : -EINVAL;
	/* What moves or prints the time, off: every frame the same. */
	ret = set_menu(v->cap, "OSD Text Mode", "None") ?:
	      set_menu(v->cap, "Horizontal Movement", "No Movement") ?:
	      set_menu(v->cap, "Vertical Movement", "No Movement") ?:
	      connect_input(v, "Test Pattern Generator");
	if (ret)
		return ret;
	v->ref = malloc(v->size);
	return v->ref ? 0 : -ENOMEM;
}

static void vivid_close(struct vivid *v)
{
	if (v->cap >= 0)
		close(v->cap);
	if (v->out >= 0)
		close(v->out);
	v->cap = -1;
	v->out = -1;
	free(v->ref);
	v->ref = NULL;
}

/* Two frames into vivid's MMAP buffers: the reference, and proof it is still. */
static void capture_reference(struct vivid *v)
{
	uint8_t *second = malloc(v->size);
	unsigned int seq[2] = { 0, 0 }, values = 0;
	struct mmap_bufs m = { .n = 0 };
	struct v4l2_buffer b;
	int ret = second ? mmap_start(v->cap, &m) : -ENOMEM;
	bool same = false;

	for (int i = 0; !ret && i < 2; i++) {
		ret = dqbuf(v->cap, V4L2_MEMORY_MMAP, &b);
		if (ret)
			break;
		memcpy(i ? second : v->ref, m.p[b.index], v->size);
		seq[i] = b.sequence;
		ret = qbuf(v->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
			   V4L2_MEMORY_MMAP, b.index, -1, 0);
	}
	mmap_stop(v->cap, &m);
	if (!ret) {
		same = !memcmp(v->ref, second, v->size);
		values = distinct_bytes(v->ref, v->size);
	}
	result(!ret && same && values >= 16,
	       "%s: reference frames %u and %u in MMAP buffers: %s, %s, %u byte values",
	       v->name, seq[0], seq[1], err_name(ret),
	       same ? "equal" : "differ", values);
	free(second);
}

/* QBUF every buffer of @k to @fd's queue of @type; errors into @err. */
static int queue_kind(struct vivid *v, int fd, uint32_t type, struct kind *k,
		      int *err)
{
	int accepted = 0;

	for (int b = 0; b < BUFS; b++) {
		err[b] = qbuf(fd, type, V4L2_MEMORY_DMABUF, b, k->buf[b].fd,
			      v->size);
		accepted += !err[b];
		/* vb2 logs a refusal: let the console have it before our lines. */
		if (err[b])
			usleep(100 * 1000);
	}
	return accepted;
}

/*
 * What vb2 did with each buffer against what it must do: vmalloc takes
 * any; dma-contig takes one contiguous run and refuses the others with
 * vb2_dc_map_dmabuf()'s EFAULT.
 */
static int check_refusals(struct vivid *v, struct kind *k, const int *err,
			  char *what, size_t what_len)
{
	int bad = 0, n = 0;

	for (int b = 0; b < BUFS; b++) {
		bool take = !v->contig || k->buf[b].runs == 1;

		if (take ? err[b] : err[b] != -EFAULT)
			bad++;
		n += snprintf(what + n, what_len - n, "%s%u runs %s%s",
			      b ? ", " : "", k->buf[b].runs,
			      err[b] ? strerror(-err[b]) : "taken",
			      take == !err[b] ? "" :
			      take ? " but must be taken" : " but must be refused");
	}
	return bad;
}

/* Capture CAP_FRAMES frames into the udmabufs of @k; compare each. */
static void capture_into(struct vivid *v, struct kind *k)
{
	const uint32_t type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	int err[BUFS], accepted, bad, matched = 0, frames = 0, ret = 0;
	char what[160] = "";
	struct v4l2_buffer b;

	if (k->err) {
		result(false, "%s: capture into %s udmabufs: cannot make them: %s",
		       v->name, kind_name[k->id], strerror(-k->err));
		return;
	}
	ret = reqbufs(v->cap, type, V4L2_MEMORY_DMABUF, BUFS);
	for (int i = 0; ret >= 0 && i < BUFS; i++)
		buf_fill(k, &k->buf[i], FILL_SEED + i);
	accepted = ret < 0 ? 0 : queue_kind(v, v->cap, type, k, err);
	if (ret < 0)
		snprintf(what, sizeof(what), "REQBUFS: %s", strerror(-ret));
	bad = ret < 0 ? 1 : check_refusals(v, k, err, what, sizeof(what));
	ret = accepted ? stream(v->cap, type, true) : 0;
	while (accepted && !ret && frames < CAP_FRAMES) {
		struct ubuf *u;
		size_t diff;
		long gap;

		ret = dqbuf(v->cap, V4L2_MEMORY_DMABUF, &b);
		if (ret)
			break;
		u = &k->buf[b.index];
		frames++;
		cpu_begin(u->fd, DMA_BUF_SYNC_READ);
		diff = buf_diff(k, u, v->ref, v->size);
		cpu_end(u->fd, DMA_BUF_SYNC_READ);
		gap = gap_changed(k);
		if (diff == v->size && gap < 0)
			matched++;
		else
			printf("v4l2: %s: %s buffer %u, frame %u: first difference at byte %zu (page %zu), memfd page outside the buffers changed: %ld\n",
			       v->name, kind_name[k->id], b.index, b.sequence,
			       diff, diff / SZ_4K, gap);
		if (frames + accepted > CAP_FRAMES)
			continue;
		buf_fill(k, u, FILL_SEED + BUFS + frames);
		ret = qbuf(v->cap, type, V4L2_MEMORY_DMABUF, b.index, u->fd,
			   v->size);
	}
	if (accepted)
		stream(v->cap, type, false);
	reqbufs(v->cap, type, V4L2_MEMORY_DMABUF, 0);
	frames_matched += matched;
	if (!accepted)
		result(!bad, "%s: capture into %s udmabufs: refused by vb2 (%s)",
		       v->name, kind_name[k->id], what);
	else
		result(!bad && !ret && matched == CAP_FRAMES,
		       "%s: capture into %s udmabufs (%s): %d of %d frames equal the MMAP reference, memfd outside them unchanged (%s)",
		       v->name, kind_name[k->id], what, matched, CAP_FRAMES,
		       err_name(ret));
}

/* Show buffer 0 of @k on the output; capture it back LOOP_FRAMES times. */
static void loop_back(struct vivid *v, struct kind *k)
{
	const uint32_t out = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	struct ubuf *u = &k->buf[0];
	bool take = !v->contig || u->runs == 1;
	uint8_t seed = LOOP_SEED + k->id;
	struct mmap_bufs m = { .n = 0 };
	int ret, matched = 0;
	struct v4l2_buffer b;

	if (k->err) {
		result(false, "%s: loopback of a %s udmabuf: cannot make it: %s",
		       v->name, kind_name[k->id], strerror(-k->err));
		return;
	}
	buf_fill(k, u, seed);
	ret = reqbufs(v->out, out, V4L2_MEMORY_DMABUF, 1);
	if (ret >= 0)
		ret = qbuf(v->out, out, V4L2_MEMORY_DMABUF, 0, u->fd, v->size);
	if (ret) {
		reqbufs(v->out, out, V4L2_MEMORY_DMABUF, 0);
		result(!take && ret == -EFAULT,
		       "%s: loopback of a %s udmabuf (%u runs): output QBUF refused: %s",
		       v->name, kind_name[k->id], u->runs, strerror(-ret));
		return;
	}
	ret = stream(v->out, out, true) ?: mmap_start(v->cap, &m);
	for (int i = 0; !ret && i < LOOP_FRAMES; i++) {
		size_t same;

		ret = dqbuf(v->cap, V4L2_MEMORY_MMAP, &b);
		if (ret)
			break;
		same = pattern_check(m.p[b.index], seed, 0, v->size);
		if (same == v->size)
			matched++;
		else
			printf("v4l2: %s: loopback of %s, frame %u: first difference at byte %zu (page %zu)\n",
			       v->name, kind_name[k->id], b.sequence, same,
			       same / SZ_4K);
		ret = qbuf(v->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
			   V4L2_MEMORY_MMAP, b.index, -1, 0);
	}
	mmap_stop(v->cap, &m);
	stream(v->out, out, false);
	reqbufs(v->out, out, V4L2_MEMORY_DMABUF, 0);
	loop_frames_matched += matched;
	result(take && matched == LOOP_FRAMES,
	       "%s: loopback of a %s udmabuf (%u runs%s): %d of %d captured frames equal the pattern written (%s)",
	       v->name, kind_name[k->id], u->runs,
	       take ? "" : ", taken but must be refused", matched, LOOP_FRAMES,
	       err_name(ret));
}

/*
 * With vb2 holding nothing any more, each memfd must refuse F_SEAL_WRITE
 * while its udmabufs live (their pins), and accept it once they and the
 * video nodes are closed.
 */
static void pins_check(struct vivid *v, struct kind *kinds)
{
	int refused = 0, sealed = 0, made = 0;

	for (int i = 0; i < KINDS; i++) {
		struct kind *k = &kinds[i];

		if (k->map) {
			munmap(k->map, k->size);
			k->map = NULL;
		}
		if (k->memfd >= 0 && !k->err &&
		    fcntl(k->memfd, F_ADD_SEALS, F_SEAL_WRITE) && errno == EBUSY)
			refused++;
	}
	vivid_close(v);
	for (int i = 0; i < KINDS; i++) {
		struct kind *k = &kinds[i];

		kind_close_buffers(k);
		if (k->memfd < 0)
			continue;
		made++;
		if (!fcntl(k->memfd, F_ADD_SEALS, F_SEAL_WRITE))
			sealed++;
		else
			pins_left++;
		close(k->memfd);
	}
	result(made == KINDS && refused == KINDS && sealed == KINDS,
	       "%s: no pin left: %d of %d memfds refused F_SEAL_WRITE while their udmabufs lived, %d accept it once all is closed",
	       v->name, refused, KINDS, sealed);
}

/* All nine cases of one vivid instance. */
static void run_instance(int inst)
{
	struct vivid v = { .cap = -1, .out = -1 };
	struct kind kinds[KINDS];
	int ret = vivid_open(&v, inst);

	result(!ret, "%s: capture and output at HDMI %dx%d YUYV, %zu bytes, still picture (%s)",
	       v.name, WIDTH, HEIGHT, v.size, err_name(ret));
	if (ret) {
		vivid_close(&v);
		for (int i = 0; i < 8; i++)
			result(false, "%s: not run", v.name);
		return;
	}
	capture_reference(&v);
	for (int i = 0; i < KINDS; i++) {
		kind_make(&kinds[i], i, v.size);
		capture_into(&v, &kinds[i]);
	}
	ret = connect_input(&v, v.inst ? "Output HDMI 001-0" : "Output HDMI 000-0");
	if (ret)
		printf("v4l2: %s: cannot connect the HDMI input to the output: %s\n",
		       v.name, strerror(-ret));
	for (int i = 0; i < KINDS; i++)
		loop_back(&v, &kinds[i]);
	connect_input(&v, "Test Pattern Generator");
	pins_check(&v, kinds);
}

/* tools/vm/kernel_reports.py's REPORT, less the DMA-API lines it lets by. */
static const char *const report_res[] = {
	"WARNING:", "BUG:", "Oops", "Kernel panic", "kernel BUG", "KASAN",
	"UBSAN", "possible circular locking", "possible recursive locking",
	"DEBUG_LOCKS_WARN_ON", "DMA-API: ", "kmemleak: .*suspected memory leak",
	"KFENCE: ", "list_add corruption", "list_del corruption", "ODEBUG:",
	"blocked for more than", "detected stall", "Bad page state",
	"bad p[gum4]d", "VM_FAULT_OOM leaked",
};

#define REPORT_RES	(sizeof(report_res) / sizeof(*report_res))

static bool is_report(const regex_t *res, const char *line)
{
	if (strstr(line, "DMA-API: preallocated") ||
	    strstr(line, "DMA-API: debugging enabled"))
		return false;
	for (size_t i = 0; i < REPORT_RES; i++)
		if (!regexec(&res[i], line, 0, NULL, 0))
			return true;
	return false;
}

/* Kernel report lines in what the kernel log still holds, or -1. */
static int kernel_reports(void)
{
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *log = size > 0 ? calloc(1, size + 1) : NULL, *line, *save;
	regex_t res[REPORT_RES];
	int n = 0;

	for (size_t i = 0; i < REPORT_RES; i++)
		if (regcomp(&res[i], report_res[i], REG_EXTENDED | REG_NOSUB))
			n = -1;
	if (!log || n || klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, size) < 0) {
		free(log);
		return -1;
	}
	for (line = strtok_r(log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (is_report(res, line)) {
			printf("v4l2: kernel report: %s\n", line);
			n++;
		}
	}
	for (size_t i = 0; i < REPORT_RES; i++)
		regfree(&res[i]);
	free(log);
	return n;
}

int main(void)
{
	int reports;

	printf("TAP version 13\n");
	/* Nine cases per instance, the brackets, the kernel log. */
	printf("1..20\n");
	udmabuf_dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (udmabuf_dev < 0)
		printf("v4l2: /dev/udmabuf: %s\n", strerror(errno));
	printf("v4l2: HugePages_Free %ld before\n", meminfo_kb("HugePages_Free"));
	for (int inst = 0; inst < INSTANCES; inst++)
		run_instance(inst);
	result(!bad_brackets && read_brackets && write_brackets,
	       "DMA_BUF_IOCTL_SYNC: %lu READ and %lu WRITE brackets, %lu calls failed",
	       read_brackets, write_brackets, bad_brackets);
	reports = kernel_reports();
	if (reports < 0)
		printf("v4l2: cannot read the kernel log\n");
	result(!reports, "kernel log: %d kernel reports", reports);
	printf("v4l2: vivid vmalloc+dma-contig: %lu frames captured into udmabufs match, %lu loopback frames match, %lu pins left, %d kernel reports\n",
	       frames_matched, loop_frames_matched, pins_left, reports);
	return tap_failures ? 1 : 0;
}
