// SPDX-License-Identifier: GPL-2.0
/*
 * PID 1 of make client's inner guest. On a blob-capable virtio-gpu, every
 * dumb buffer is a guest blob resource, which QEMU makes a udmabuf of.
 *
 * Frame 0: client_pattern_rgb() through /dev/fb0, virtio-gpu's fbdev
 * emulation, whose buffer the kernel allocated at boot (few, large
 * extents). Frame 1: a DRM dumb buffer allocated after this init has
 * scattered the free memory (see scatter_free_memory()), so its pages are
 * mostly one-page extents, as in a long-running guest; it becomes the
 * scanout with SETCRTC. After each frame the init
 * says "client-guest: frame N drawn WxH" on the serial console and waits
 * for a line on it before going on: the outer VM takes a screendump then.
 */
#define _GNU_SOURCE
#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include "client-pattern.h"

static void fill_row(uint32_t *row, unsigned int y, unsigned int width,
		     unsigned int frame)
{
	unsigned int x;

	for (x = 0; x < width; x++)
		row[x] = client_pattern_rgb(x, y, width, frame);
}

static int fbdev_frame(void)
{
	struct fb_var_screeninfo var;
	struct fb_fix_screeninfo fix;
	uint32_t *row;
	unsigned int y;
	int fd;

	fd = open("/dev/fb0", O_RDWR);
	if (fd < 0 || ioctl(fd, FBIOGET_VSCREENINFO, &var) ||
	    ioctl(fd, FBIOGET_FSCREENINFO, &fix)) {
		printf("client-guest: /dev/fb0: %s\n", strerror(errno));
		return -1;
	}
	printf("client-guest: fb0 %ux%u, %u bpp, %u bytes a line, %.16s\n",
	       var.xres, var.yres, var.bits_per_pixel, fix.line_length, fix.id);
	if (var.bits_per_pixel != 32)
		return -1;
	/*
	 * Without fbcon nobody has set the mode yet: fb_set_par() makes the
	 * fbdev's buffer the scanout (a blob scanout on a blob device).
	 */
	var.activate = FB_ACTIVATE_NOW | FB_ACTIVATE_FORCE;
	if (ioctl(fd, FBIOPUT_VSCREENINFO, &var)) {
		printf("client-guest: set mode: %s\n", strerror(errno));
		return -1;
	}
	row = calloc(1, fix.line_length);
	if (!row)
		return -1;
	/* write() marks the rows damaged: fbdev's helper flushes them. */
	for (y = 0; y < var.yres; y++) {
		fill_row(row, y, var.xres, 0);
		if (pwrite(fd, row, fix.line_length,
			   (off_t)y * fix.line_length) != fix.line_length) {
			printf("client-guest: write row %u: %s\n", y,
			       strerror(errno));
			return -1;
		}
	}
	free(row);
	printf("client-guest: frame 0 drawn %ux%u\n", var.xres, var.yres);
	return 0;
}

/*
 * Scatter the free unmovable memory (where DRM's shmem buffers come from):
 * fill 256 pipes a page at a time in turn, so that neighbouring pages
 * belong to different pipes, then close every other pipe. The freed pages
 * are single pages between pages still in use.
 */
static void scatter_free_memory(void)
{
	static char page[4096];
	int pipes[256][2], i, round;

	memset(page, 0x5a, sizeof(page));
	for (i = 0; i < 256; i++)
		if (pipe(pipes[i]))
			pipes[i][0] = pipes[i][1] = -1;
	for (round = 0; round < 16; round++)
		for (i = 0; i < 256; i++)
			if (pipes[i][1] >= 0 &&
			    write(pipes[i][1], page, sizeof(page)) < 0)
				break;
	for (i = 1; i < 256; i += 2) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
}

static int drm_frame(void)
{
	struct drm_mode_card_res res = { 0 };
	struct drm_mode_get_connector conn = { 0 };
	struct drm_mode_modeinfo modes[32];
	struct drm_mode_create_dumb dumb = { .bpp = 32 };
	struct drm_mode_map_dumb map = { 0 };
	struct drm_mode_fb_cmd fb = { 0 };
	struct drm_mode_crtc crtc = { 0 };
	struct drm_mode_fb_dirty_cmd dirty = { 0 };
	uint32_t conn_id, crtc_id, y;
	uint8_t *pixels;
	int fd;

	fd = open("/dev/dri/card0", O_RDWR);
	if (fd < 0) {
		printf("client-guest: /dev/dri/card0: %s\n", strerror(errno));
		return -1;
	}
	res.count_connectors = 1;
	res.connector_id_ptr = (uintptr_t)&conn_id;
	res.count_crtcs = 1;
	res.crtc_id_ptr = (uintptr_t)&crtc_id;
	if (ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res) ||
	    !res.count_connectors || !res.count_crtcs) {
		printf("client-guest: DRM resources: %s\n", strerror(errno));
		return -1;
	}
	conn.connector_id = conn_id;
	conn.count_modes = 32;
	conn.modes_ptr = (uintptr_t)modes;
	if (ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &conn) || !conn.count_modes) {
		printf("client-guest: DRM connector: %s\n", strerror(errno));
		return -1;
	}

	scatter_free_memory();
	dumb.width = modes[0].hdisplay;
	dumb.height = modes[0].vdisplay;
	if (ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &dumb)) {
		printf("client-guest: dumb buffer: %s\n", strerror(errno));
		return -1;
	}
	fb.width = dumb.width;
	fb.height = dumb.height;
	fb.pitch = dumb.pitch;
	fb.bpp = 32;
	fb.depth = 24;
	fb.handle = dumb.handle;
	map.handle = dumb.handle;
	if (ioctl(fd, DRM_IOCTL_MODE_ADDFB, &fb) ||
	    ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &map)) {
		printf("client-guest: framebuffer: %s\n", strerror(errno));
		return -1;
	}
	pixels = mmap(NULL, dumb.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      map.offset);
	if (pixels == MAP_FAILED) {
		printf("client-guest: map dumb: %s\n", strerror(errno));
		return -1;
	}
	for (y = 0; y < dumb.height; y++)
		fill_row((uint32_t *)(pixels + (size_t)y * dumb.pitch), y,
			 dumb.width, 1);

	crtc.crtc_id = crtc_id;
	crtc.fb_id = fb.fb_id;
	crtc.set_connectors_ptr = (uintptr_t)&conn_id;
	crtc.count_connectors = 1;
	crtc.mode = modes[0];
	crtc.mode_valid = 1;
	dirty.fb_id = fb.fb_id;
	if (ioctl(fd, DRM_IOCTL_MODE_SETCRTC, &crtc) ||
	    ioctl(fd, DRM_IOCTL_MODE_DIRTYFB, &dirty)) {
		printf("client-guest: scanout: %s\n", strerror(errno));
		return -1;
	}
	printf("client-guest: frame 1 drawn %ux%u\n", dumb.width, dumb.height);
	return 0;
}

static void wait_for_host(void)
{
	char line[64];

	if (!fgets(line, sizeof(line), stdin))
		pause();
}

int main(void)
{
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fbdev_frame()) {
		printf("client-guest: failed\n");
	} else {
		wait_for_host();
		if (drm_frame())
			printf("client-guest: failed\n");
	}
	for (;;)
		pause();
}
