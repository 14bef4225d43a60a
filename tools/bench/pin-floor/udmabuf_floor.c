// SPDX-License-Identifier: GPL-2.0
/*
 * The floor of make profile: what the kernel's own calls cost for a range
 * of a memfd with no driver around them. An external module for the
 * profile kernel only, never part of the driver or of its patch series.
 * /dev/udmabuf-floor, one range per open file:
 *
 *   UDMABUF_FLOOR_PIN    memfd_pin_folios() over the whole range, in one
 *                        call, into an array of the range's page count
 *   UDMABUF_FLOOR_PFNS   (untimed) the frame of every page, for mmap
 *   mmap, first touch    the first fault calls vmf_insert_pfn() for every
 *                        page of the VMA
 *   UDMABUF_FLOOR_UNPIN  unpin_folios() of them all; the array freed
 *
 * make profile times each step beside the same step of the driver.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/memfd.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

struct udmabuf_floor_pin {
	__s32 memfd;
	__u32 pad;
	__u64 size;
};

#define UDMABUF_FLOOR_PIN	_IOW('u', 0x70, struct udmabuf_floor_pin)
#define UDMABUF_FLOOR_PFNS	_IO('u', 0x71)
#define UDMABUF_FLOOR_UNPIN	_IO('u', 0x72)

struct udmabuf_floor {
	struct mutex lock;	/* the ioctls of one file */
	struct folio **folios;
	long nr_folios;
	unsigned long *pfns;
	pgoff_t nr_pages;
	pgoff_t first_offset;	/* pages into the first folio */
};

static int floor_open(struct inode *inode, struct file *file)
{
	struct udmabuf_floor *floor = kzalloc(sizeof(*floor), GFP_KERNEL);

	if (!floor)
		return -ENOMEM;
	mutex_init(&floor->lock);
	file->private_data = floor;
	return 0;
}

static void floor_unpin(struct udmabuf_floor *floor)
{
	if (floor->folios)
		unpin_folios(floor->folios, floor->nr_folios);
	kvfree(floor->folios);
	floor->folios = NULL;
	floor->nr_folios = 0;
}

static int floor_release(struct inode *inode, struct file *file)
{
	struct udmabuf_floor *floor = file->private_data;

	kvfree(floor->pfns);
	floor_unpin(floor);
	kfree(floor);
	return 0;
}

static long floor_pin(struct udmabuf_floor *floor, void __user *arg)
{
	struct udmabuf_floor_pin pin;
	struct folio **folios;
	struct file *memfd;
	pgoff_t offset = 0;
	long ret;

	if (copy_from_user(&pin, arg, sizeof(pin)))
		return -EFAULT;
	if (floor->folios || !pin.size || !PAGE_ALIGNED(pin.size))
		return -EINVAL;
	memfd = fget(pin.memfd);
	if (!memfd)
		return -EBADF;
	folios = kvmalloc_array(pin.size >> PAGE_SHIFT, sizeof(*folios),
				GFP_KERNEL);
	ret = -ENOMEM;
	if (folios)
		ret = memfd_pin_folios(memfd, 0, pin.size - 1, folios,
				       pin.size >> PAGE_SHIFT, &offset);
	fput(memfd);
	if (ret <= 0) {
		kvfree(folios);
		return ret ? ret : -EINVAL;
	}
	floor->folios = folios;
	floor->nr_folios = ret;
	floor->nr_pages = pin.size >> PAGE_SHIFT;
	floor->first_offset = offset >> PAGE_SHIFT;
	return ret;
}

static long floor_pfns(struct udmabuf_floor *floor)
{
	pgoff_t page = 0, in_folio = floor->first_offset;
	long i;

	if (!floor->folios || floor->pfns)
		return -EINVAL;
	floor->pfns = kvmalloc_array(floor->nr_pages, sizeof(*floor->pfns),
				     GFP_KERNEL);
	if (!floor->pfns)
		return -ENOMEM;
	for (i = 0; i < floor->nr_folios && page < floor->nr_pages; i++) {
		struct folio *folio = floor->folios[i];

		for (; in_folio < folio_nr_pages(folio) &&
		       page < floor->nr_pages; in_folio++)
			floor->pfns[page++] = folio_pfn(folio) + in_folio;
		in_folio = 0;
	}
	return page == floor->nr_pages ? 0 : -EINVAL;
}

static long floor_ioctl(struct file *file, unsigned int cmd,
			unsigned long arg)
{
	struct udmabuf_floor *floor = file->private_data;
	long ret = -ENOTTY;

	mutex_lock(&floor->lock);
	switch (cmd) {
	case UDMABUF_FLOOR_PIN:
		ret = floor_pin(floor, (void __user *)arg);
		break;
	case UDMABUF_FLOOR_PFNS:
		ret = floor_pfns(floor);
		break;
	case UDMABUF_FLOOR_UNPIN:
		kvfree(floor->pfns);
		floor->pfns = NULL;
		floor_unpin(floor);
		ret = 0;
		break;
	}
	mutex_unlock(&floor->lock);
	return ret;
}

/* The whole VMA in the first fault, one vmf_insert_pfn() per page. */
static vm_fault_t floor_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct udmabuf_floor *floor = vma->vm_private_data;
	unsigned long i, pages = vma_pages(vma);
	vm_fault_t ret;

	for (i = 0; i < pages; i++) {
		ret = vmf_insert_pfn(vma, vma->vm_start + (i << PAGE_SHIFT),
				     floor->pfns[vma->vm_pgoff + i]);
		if (ret != VM_FAULT_NOPAGE)
			return ret;
		if (!((i + 1) % PTRS_PER_PTE))
			cond_resched();
	}
	return VM_FAULT_NOPAGE;
}

static const struct vm_operations_struct floor_vm_ops = {
	.fault = floor_fault,
};

static int floor_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct udmabuf_floor *floor = file->private_data;

	if (!floor->pfns || vma->vm_pgoff > floor->nr_pages ||
	    vma_pages(vma) > floor->nr_pages - vma->vm_pgoff)
		return -EINVAL;
	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &floor_vm_ops;
	vma->vm_private_data = floor;
	return 0;
}

static const struct file_operations floor_fops = {
	.owner = THIS_MODULE,
	.open = floor_open,
	.release = floor_release,
	.unlocked_ioctl = floor_ioctl,
	.mmap = floor_mmap,
};

static struct miscdevice floor_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "udmabuf-floor",
	.fops = &floor_fops,
};

module_misc_device(floor_misc);
MODULE_DESCRIPTION("make profile's floor: pin, insert and unpin with no driver");
MODULE_LICENSE("GPL");
