/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The exporter's side of one udmabuf, as udmabuf-main.c keeps it.
 */
#ifndef _UDMABUF_PRIV_H
#define _UDMABUF_PRIV_H

#include <linux/mutex.h>

#include "udmabuf-slices.h"

/**
 * struct udmabuf - the exporter's side of one buffer
 * @slices: the pinned memory, in buffer order
 * @cpu_sgt: the sg table a CPU access bracket maps for the misc device
 *	while it syncs; made by the first begin, kept (unmapped) until release
 * @cpu_begun: a CPU access bracket has begun once, so an end is valid
 * @cpu_sgt_lock: serialises the buffer's CPU access brackets
 */
struct udmabuf {
	struct udmabuf_slices slices;
	struct sg_table *cpu_sgt;
	bool cpu_begun;
	struct mutex cpu_sgt_lock; /* guards cpu_sgt and cpu_begun */
};

#endif /* _UDMABUF_PRIV_H */
