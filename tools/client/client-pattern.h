/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pictures of make client: what the inner guest draws and what the
 * outer VM expects in QEMU's screendumps. Every pixel differs from its
 * neighbours, and each 4 KiB page of a 32 bpp buffer gets its own blue
 * offset, so a page out of place, a shifted row or a stale page shows.
 * Frame 0 is drawn through fbdev, frame 1 into a DRM dumb buffer.
 */
#ifndef CLIENT_PATTERN_H
#define CLIENT_PATTERN_H

#include <stdint.h>

/* 0x00RRGGBB of pixel (x, y) of @frame in a buffer @width pixels wide. */
static inline uint32_t client_pattern_rgb(unsigned int x, unsigned int y,
					  unsigned int width, unsigned int frame)
{
	uint32_t page = (y * width + x) / 1024;
	uint32_t red = (x * 7 + y + frame * 85) & 0xff;
	uint32_t green = (y * 3 + (x >> 8) + frame * 170) & 0xff;
	uint32_t blue = (page * (37 + frame * 4) + x + y * 5) & 0xff;

	return red << 16 | green << 8 | blue;
}

#endif
