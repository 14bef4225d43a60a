// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf: dma-bufs made of ranges of sealed memfds (shmem or hugetlb).
 *
 * The memory of a buffer is pinned when the buffer is made and stays
 * pinned until it is released, one pin per folio however many items name
 * it. The buffer holds those folios, not the file's range: a hole punched
 * in the memfd later takes the pages out of the file only, and the buffer
 * goes on reading (and writing) the pages it pinned.
 *
 * This file has the misc device, its parameters and ioctls, and the
 * create: the request is checked and counted, the holes of its hugetlb
 * ranges filled, its pages pinned (udmabuf-pin.c), and the buffer
 * exported (udmabuf-dmabuf.c). udmabuf.h lists the other files.
 */

#include <kunit/visibility.h>
#include <linux/dma-buf.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/udmabuf.h>

#include "udmabuf.h"

VISIBLE_IF_KUNIT int udmabuf_list_limit = 1024;
module_param_named(list_limit, udmabuf_list_limit, int, 0644);
MODULE_PARM_DESC(list_limit, "Most items one UDMABUF_CREATE_LIST may name (default 1024; 0 or less refuses every list)");

VISIBLE_IF_KUNIT int udmabuf_size_limit_mb = 64;
module_param_named(size_limit_mb, udmabuf_size_limit_mb, int, 0644);
MODULE_PARM_DESC(size_limit_mb, "Largest buffer, in MiB (default 64; 0 or less refuses every buffer; at most 16 TiB with 4 KiB pages)");

static struct miscdevice udmabuf_misc;

static u64 udmabuf_max_pages(void)
{
	int mb = READ_ONCE(udmabuf_size_limit_mb);

	return mb > 0 ? (u64)mb * SZ_1M >> PAGE_SHIFT : 0;
}

/**
 * udmabuf_create_dmabuf - make a dma-buf of memfd ranges
 * @items: the ranges, in buffer order; memfd fields are file descriptors
 *	of the calling task
 * @count: entries in @items
 *
 * Validates every item before touching a file, fills the holes of hugetlb
 * ranges, pins range after range, and exports the buffer. On any failure
 * all pins taken so far are dropped and nothing is left allocated.
 *
 * Return: the new dma-buf, or an ERR_PTR(): -EINVAL for a bad range, bad
 * seals or too large a buffer, -EBADFD for a descriptor that is not a
 * shmem or hugetlb memfd, -ENOMEM, -EINTR when a fatal signal came while
 * pinning, -ERESTARTNOINTR when another signal stopped the filling of a
 * hugetlb range's holes (the ioctl is restarted once it is handled), or
 * the error of the pin or of the fill.
 */
VISIBLE_IF_KUNIT struct dma_buf *
udmabuf_create_dmabuf(const struct udmabuf_create_item *items, u32 count)
{
	struct dma_buf *dmabuf;
	struct udmabuf *ubuf;
	u32 nr_pages;
	int ret;

	ret = udmabuf_count_pages(items, count, udmabuf_max_pages(), &nr_pages);
	if (!ret)
		ret = udmabuf_fill_holes(items, count);
	if (ret)
		return ERR_PTR(ret);

	ubuf = udmabuf_alloc(udmabuf_misc.this_device);
	if (!ubuf)
		return ERR_PTR(-ENOMEM);
	ret = udmabuf_pin_items(ubuf, items, count, nr_pages);
	if (ret)
		goto free;
	udmabuf_slices_trim(&ubuf->slices);

	dmabuf = udmabuf_export(ubuf);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto free;
	}
	return dmabuf;

free:
	udmabuf_free(ubuf);
	return ERR_PTR(ret);
}

/*
 * Either ioctl's argument as one list: @single holds the item of
 * UDMABUF_CREATE, a UDMABUF_CREATE_LIST's items are copied to the heap.
 */
static struct udmabuf_create_item *
udmabuf_read_request(unsigned int cmd, void __user *arg,
		     struct udmabuf_create_list *head,
		     struct udmabuf_create_item *single)
{
	struct udmabuf_create_list __user *list = arg;
	struct udmabuf_create_item *items;
	struct udmabuf_create create;
	int limit;

	if (cmd == UDMABUF_CREATE) {
		if (copy_from_user(&create, arg, sizeof(create)))
			return ERR_PTR(-EFAULT);
		head->flags = create.flags;
		head->count = 1;
		*single = (struct udmabuf_create_item) {
			.memfd = create.memfd,
			.offset = create.offset,
			.size = create.size,
		};
		return single;
	}

	if (copy_from_user(head, list, sizeof(*head)))
		return ERR_PTR(-EFAULT);
	limit = READ_ONCE(udmabuf_list_limit);
	if (!head->count || limit < 0 || head->count > limit)
		return ERR_PTR(-EINVAL);
	/* Not vmemdup_array_user(): a raised limit may ask past INT_MAX. */
	items = kvmalloc_array(head->count, sizeof(*items), UDMABUF_GFP);
	if (!items)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(items, list->list, array_size(head->count,
							 sizeof(*items)))) {
		kvfree(items);
		return ERR_PTR(-EFAULT);
	}
	return items;
}

/**
 * udmabuf_ioctl - the misc device's ioctls
 * @file: the opened /dev/udmabuf
 * @cmd: UDMABUF_CREATE or UDMABUF_CREATE_LIST
 * @arg: user pointer to the command's argument
 *
 * Both commands make one dma-buf of a list of items; UDMABUF_CREATE's
 * list has one.
 *
 * Return: a new dma-buf file descriptor, or -errno; -ENOTTY for an
 * unknown command.
 */
VISIBLE_IF_KUNIT long udmabuf_ioctl(struct file *file, unsigned int cmd,
				    unsigned long arg)
{
	struct udmabuf_create_item single, *items;
	struct udmabuf_create_list head;
	struct dma_buf *dmabuf;
	long ret;

	if (cmd != UDMABUF_CREATE && cmd != UDMABUF_CREATE_LIST)
		return -ENOTTY;

	items = udmabuf_read_request(cmd, (void __user *)arg, &head, &single);
	if (IS_ERR(items))
		return PTR_ERR(items);

	dmabuf = udmabuf_create_dmabuf(items, head.count);
	if (items != &single)
		kvfree(items);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);

	ret = dma_buf_fd(dmabuf, head.flags & UDMABUF_FLAGS_CLOEXEC ?
			 O_CLOEXEC : 0);
	if (ret < 0)
		dma_buf_put(dmabuf);
	return ret;
}

static const struct file_operations udmabuf_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = udmabuf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice udmabuf_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "udmabuf",
	.fops = &udmabuf_fops,
};

module_misc_device(udmabuf_misc);

MODULE_DESCRIPTION("Userspace memfd ranges as dma-bufs");
MODULE_LICENSE("GPL");
