// SPDX-License-Identifier: GPL-2.0
/*
 * make client, inside our VM: run Debian's qemu-system-x86_64 as the host
 * of a small inner guest (tools/client/client-guest-init.c) whose virtio-gpu
 * scanouts are blob resources. QEMU turns each blob into a udmabuf
 * (UDMABUF_CREATE_LIST, one item per guest memory extent) and maps it to
 * read the pixels: QMP's screendump of each of the guest's two frames must
 * show the pattern it drew, pixel for pixel. TAP cases on stdout, and on
 * success one summary line:
 *
 *   client: qemu virtio-gpu blob: N udmabufs, M items, screendump WxH
 *   matches (K pixels checked)
 *
 * The screendumps (PPM) go out raw, one after the other, on /dev/ttyS2,
 * which the host keeps as a file. Usage: client [seconds to wait]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "client-pattern.h"
#include "udmabuf-user.h"

#define QEMU "/usr/bin/qemu-system-x86_64"
#define QMP_SOCKET "/tmp/qmp.sock"
#define SCREEN_OUT "/dev/ttyS2"

static double now(void)
{
	return now_us() / 1e6;
}

/* What QEMU and the inner guest said, read from QEMU's stdout and stderr. */
struct inner_state {
	int frames, failed, reports;
	unsigned int width, height;
	unsigned int creates, create_errors;
	unsigned long long items, bytes, max_items;
	char partial[4096];
	size_t len;
};

static void inner_line(struct inner_state *st, const char *line)
{
	unsigned int items, flags, frame;
	unsigned long long bytes;
	int ret;

	printf("inner| %s\n", line);
	if (sscanf(line, "client-shim: create_list items=%u bytes=%llu flags=0x%x ret=%d",
		   &items, &bytes, &flags, &ret) == 4) {
		st->creates++;
		if (ret < 0) {
			st->create_errors++;
		} else {
			st->items += items;
			st->bytes += bytes;
			if (items > st->max_items)
				st->max_items = items;
		}
	} else if (sscanf(line, "client-guest: frame %u drawn %ux%u", &frame,
			  &st->width, &st->height) == 3) {
		st->frames = frame + 1;
	} else if (strstr(line, "client-guest: failed")) {
		st->failed = 1;
	} else if (strstr(line, "WARNING:") || strstr(line, "BUG:") ||
		   strstr(line, "Oops") || strstr(line, "Kernel panic")) {
		st->reports++;
	}
}

/* Read what is there (waiting up to @ms); 0 on EOF. */
static int inner_read(struct inner_state *st, int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char *nl;
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return 1;
	n = read(fd, st->partial + st->len, sizeof(st->partial) - 1 - st->len);
	if (n <= 0)
		return 0;
	st->len += n;
	st->partial[st->len] = 0;
	while ((nl = strchr(st->partial, '\n'))) {
		*nl = 0;
		if (nl > st->partial && nl[-1] == '\r')
			nl[-1] = 0;
		inner_line(st, st->partial);
		st->len -= nl + 1 - st->partial;
		memmove(st->partial, nl + 1, st->len + 1);
	}
	if (st->len == sizeof(st->partial) - 1) {
		inner_line(st, st->partial);
		st->len = 0;
	}
	return 1;
}

static pid_t start_qemu(int *out_fd, int *in_fd)
{
	char *const argv[] = {
		QEMU, "-nodefaults", "-no-user-config", "-no-reboot",
		"-machine", "pc,memory-backend=mem", "-accel", "tcg",
		"-m", "128M", "-smp", "1",
		"-object", "memory-backend-memfd,id=mem,size=128M,share=on",
		"-device", "virtio-gpu-pci,blob=true",
		"-display", "none", "-serial", "stdio", "-monitor", "none",
		"-qmp", "unix:" QMP_SOCKET ",server=on,wait=off",
		"-kernel", "/client/bzImage",
		"-initrd", "/client/initramfs.cpio.gz",
		"-append", "console=ttyS0 panic=-1 quiet loglevel=4",
		NULL
	};
	int pipefd[2], inpipe[2];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) || pipe2(inpipe, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(inpipe[0], 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		setenv("LD_PRELOAD", "/client/udmabuf-shim.so", 1);
		execv(QEMU, argv);
		fprintf(stderr, "client: cannot run %s: %s\n", QEMU,
			strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	close(inpipe[0]);
	*out_fd = pipefd[0];
	*in_fd = inpipe[1];
	return pid;
}

/* dma-buf fds of @pid whose exporter is udmabuf, and their bytes. */
static int count_udmabuf_fds(pid_t pid, unsigned long long *bytes)
{
	char path[320], line[256];
	struct dirent *de;
	int count = 0;
	DIR *dir;

	*bytes = 0;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		unsigned long long size = 0;
		int udmabuf = 0;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid,
			 de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "size: %llu", &size);
			if (!strncmp(line, "exp_name:", 9) &&
			    strstr(line + 9, "udmabuf"))
				udmabuf = 1;
		}
		fclose(f);
		if (udmabuf) {
			count++;
			*bytes += size;
		}
	}
	closedir(dir);
	return count;
}

/* QEMU's mappings of dma-bufs (its udmabufs, mapped to read pixels). */
static int count_dmabuf_maps(pid_t pid, unsigned long long *bytes)
{
	unsigned long long from, to;
	char path[64], line[512];
	int count = 0;
	FILE *f;

	*bytes = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "/dmabuf:") &&
		    sscanf(line, "%llx-%llx", &from, &to) == 2) {
			count++;
			*bytes += to - from;
		}
	}
	fclose(f);
	return count;
}

static int qmp_connect(double deadline)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", QMP_SOCKET);
	while (now() < deadline) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
			return fd;
		close(fd);
		usleep(100000);
	}
	return -1;
}

/* Read QMP lines until one holds "return" or "error"; events are skipped. */
static int qmp_reply(int fd, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		char *nl;
		ssize_t n;

		while ((nl = memchr(buf, '\n', len))) {
			size_t line = nl + 1 - buf;

			*nl = 0;
			if (strstr(buf, "\"return\""))
				return 0;
			if (strstr(buf, "\"error\"")) {
				printf("client: QMP: %s\n", buf);
				return -1;
			}
			len -= line;
			memmove(buf, nl + 1, len);
		}
		if (len >= size - 1)
			len = 0;
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return -1;
		len += n;
	}
}

static int qmp(int fd, const char *command)
{
	char buf[8192];

	if (write(fd, command, strlen(command)) != (ssize_t)strlen(command))
		return -1;
	return qmp_reply(fd, buf, sizeof(buf));
}

static unsigned char *read_ppm(const char *path, unsigned int *width,
			       unsigned int *height, size_t *file_size)
{
	unsigned char *data;
	unsigned int max;
	struct stat st;
	int header = 0;
	FILE *f;

	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) ||
	    fscanf(f, "P6 %u %u %u%n", width, height, &max, &header) != 3 ||
	    max != 255 || fgetc(f) == EOF) {
		fclose(f);
		return NULL;
	}
	*file_size = st.st_size;
	if ((size_t)st.st_size < (size_t)header + 1 + (size_t)*width * *height * 3) {
		fclose(f);
		return NULL;
	}
	data = malloc((size_t)*width * *height * 3);
	if (data && fread(data, 3, (size_t)*width * *height, f) !=
		    (size_t)*width * *height) {
		free(data);
		data = NULL;
	}
	fclose(f);
	return data;
}

/* Pixels that differ from the pattern; the first few are printed. */
static unsigned long compare(const unsigned char *rgb, unsigned int width,
			     unsigned int height, unsigned int frame)
{
	unsigned long bad = 0;
	unsigned int x, y;

	for (y = 0; y < height; y++) {
		for (x = 0; x < width; x++) {
			const unsigned char *p = rgb + ((size_t)y * width + x) * 3;
			uint32_t want = client_pattern_rgb(x, y, width, frame);
			uint32_t got = p[0] << 16 | p[1] << 8 | p[2];

			if (got != want && bad++ < 5)
				printf("client: frame %u pixel (%u,%u) is %06x, want %06x\n",
				       frame, x, y, got, want);
		}
	}
	return bad;
}

/* The PPM, byte for byte, to the host through the third serial port. */
static int send_screendump(const char *path)
{
	struct termios tio;
	char buf[65536];
	int in, out;
	ssize_t n;

	in = open(path, O_RDONLY);
	out = open(SCREEN_OUT, O_WRONLY | O_NOCTTY);
	if (in < 0 || out < 0)
		return -1;
	if (!tcgetattr(out, &tio)) {
		cfmakeraw(&tio);
		cfsetospeed(&tio, B115200);
		tcsetattr(out, TCSANOW, &tio);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			return -1;
	tcdrain(out);
	close(out);
	close(in);
	return 0;
}

/* Screendump @frame and compare it; the pixels that differ, or -1. */
static long check_frame(int qmp_fd, const struct inner_state *st,
			unsigned int frame, unsigned int *width,
			unsigned int *height)
{
	char cmd[256], path[64];
	size_t ppm_size = 0;
	unsigned char *rgb;
	long bad = -1;

	*width = *height = 0;
	snprintf(path, sizeof(path), "/tmp/frame%u.ppm", frame);
	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"screendump\",\"arguments\":{\"filename\":\"%s\"}}\n",
		 path);
	if (qmp_fd < 0 || qmp(qmp_fd, cmd))
		return -1;
	rgb = read_ppm(path, width, height, &ppm_size);
	if (rgb && *width == st->width && *height == st->height)
		bad = compare(rgb, *width, *height, frame);
	free(rgb);
	if (ppm_size && !send_screendump(path))
		printf("client: frame %u screendump sent on %s: %zu bytes\n",
		       frame, SCREEN_OUT, ppm_size);
	return bad;
}

int main(int argc, char **argv)
{
	double wait_s = argc > 1 ? atof(argv[1]) : 480, start = now(), quit_at;
	unsigned long long fd_bytes = 0, map_bytes = 0;
	struct inner_state st = { 0 };
	unsigned int width = 0, height = 0, frame;
	int out_fd, in_fd, qmp_fd, fds = 0, maps = 0, status;
	unsigned long checked = 0;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..9\n");
	result(!access("/dev/udmabuf", R_OK | W_OK),
	       "/dev/udmabuf is there for QEMU");

	pid = start_qemu(&out_fd, &in_fd);
	result(pid > 0, "QEMU started: virtio-gpu-pci,blob=true, memfd guest RAM");
	if (pid <= 0)
		return 1;
	qmp_fd = qmp_connect(now() + 60);
	if (qmp_fd >= 0 && qmp(qmp_fd, "{\"execute\":\"qmp_capabilities\"}\n")) {
		close(qmp_fd);
		qmp_fd = -1;
	}

	for (frame = 0; frame < 2; frame++) {
		long bad;

		while (st.frames <= frame && !st.failed &&
		       now() - start < wait_s)
			if (!inner_read(&st, out_fd, 1000))
				break;
		/* Let QEMU take what the guest queued (flushes, scanout). */
		for (int i = 0; i < 20; i++)
			inner_read(&st, out_fd, 100);
		bad = st.frames > frame ?
			check_frame(qmp_fd, &st, frame, &width, &height) : -1;
		result(bad == 0,
		       "frame %u (%s): screendump %ux%u equals the pattern the guest drew at %.0f s (%ld pixels differ; %u udmabufs made by then)",
		       frame, frame ? "DRM dumb buffer on scattered pages" :
		       "fbdev", width, height, now() - start, bad, st.creates);
		if (bad == 0)
			checked += (unsigned long)width * height;
		if (write(in_fd, "next\n", 5) != 5)
			break;
	}

	fds = count_udmabuf_fds(pid, &fd_bytes);
	maps = count_dmabuf_maps(pid, &map_bytes);
	/*
	 * QEMU makes no udmabuf of a blob in one extent (it reads guest RAM
	 * directly): frame 0's buffer, allocated at boot, may be one. Frame
	 * 1's, on scattered pages, must have gone through a long list.
	 */
	result(st.creates >= 1 && st.max_items >= 64 && !st.create_errors,
	       "QEMU made %u udmabufs with UDMABUF_CREATE_LIST from %llu items (%llu bytes; largest list %llu items), %u failed",
	       st.creates, st.items, st.bytes, st.max_items, st.create_errors);
	result(fds == (int)st.creates && fd_bytes == st.bytes,
	       "QEMU holds %d udmabuf fds (fdinfo exp_name), %llu bytes", fds,
	       fd_bytes);
	result(maps >= (int)st.creates && map_bytes >= st.bytes,
	       "QEMU reads them through %d dma-buf mappings, %llu bytes", maps,
	       map_bytes);

	/* QEMU quits; it must release every buffer and exit 0, within 60 s. */
	quit_at = now();
	if (qmp_fd < 0 || qmp(qmp_fd, "{\"execute\":\"quit\"}\n"))
		kill(pid, SIGKILL);
	while (inner_read(&st, out_fd, 1000) && now() - quit_at < 60)
		;
	if (waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	result(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "QEMU quit and exited 0 (status 0x%x)", status);
	result(!st.reports, "no kernel report from the inner guest (%d)",
	       st.reports);
	printf("client: run took %.0f s in the outer guest\n", now() - start);
	if (!tap_failures)
		printf("client: qemu virtio-gpu blob: %d udmabufs, %llu items, screendump %ux%u matches (%lu pixels checked)\n",
		       fds, st.items, width, height, checked);
	return tap_failures ? 1 : 0;
}
