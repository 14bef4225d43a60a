// SPDX-License-Identifier: GPL-2.0
/*
 * Loaded into make client's QEMU with LD_PRELOAD: it passes every ioctl()
 * through unchanged and reports each udmabuf create QEMU makes on stderr,
 * "client-shim: create_list items=N bytes=B flags=F ret=R", so that the
 * outer VM can count the items QEMU hands our driver.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <linux/udmabuf.h>

typedef int (*ioctl_fn)(int, unsigned long, ...);

int ioctl(int fd, unsigned long request, ...)
{
	static ioctl_fn real_ioctl;
	va_list ap;
	void *arg;
	int ret, saved;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real_ioctl)
		real_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
	ret = real_ioctl(fd, request, arg);
	saved = errno;
	if (request == UDMABUF_CREATE_LIST) {
		const struct udmabuf_create_list *head = arg;
		const struct udmabuf_create_item *item = head->list;
		unsigned long long bytes = 0;
		unsigned int i;

		for (i = 0; i < head->count; i++)
			bytes += item[i].size;
		fprintf(stderr,
			"client-shim: create_list items=%u bytes=%llu flags=0x%x ret=%d\n",
			head->count, bytes, head->flags, ret < 0 ? -saved : ret);
	} else if (request == UDMABUF_CREATE) {
		const struct udmabuf_create *create = arg;

		fprintf(stderr,
			"client-shim: create items=1 bytes=%llu flags=0x%x ret=%d\n",
			(unsigned long long)create->size, create->flags,
			ret < 0 ? -saved : ret);
	}
	errno = saved;
	return ret;
}
