// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf: pinning the memfd ranges of a create request. The items of one
 * descriptor in a row are a group: one lookup, and its seals checked under
 * its inode lock (again whenever the lock was let go), each item's size
 * checked, the holes of a hugetlb range filled first, and the folios
 * pinned in batches and appended to the buffer's slices, which then keep
 * one pin per distinct folio.
 */

#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/hugetlb.h>
#include <linux/memfd.h>
#include <linux/mm.h>
#include <linux/pagevec.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/udmabuf.h>

#include "udmabuf.h"

/*
 * Folios asked of memfd_pin_folios() per call: a first batch on the stack,
 * which is all that small buffers and most of huge folios need; a range
 * longer than that goes on with a page of them. Both are multiples of the
 * folio batch it looks folios up with: a call that stops inside a lookup
 * batch drops the rest of it, and the next call looks them up again. Each
 * call has its setup and its pass for folios to migrate, so a long range
 * is pinned in as few calls as a page of pointers allows.
 */
#define UDMABUF_PIN_FIRST	(2 * PAGEVEC_SIZE)
#define UDMABUF_PIN_BATCH \
	rounddown(PAGE_SIZE / sizeof(struct folio *), PAGEVEC_SIZE)

/**
 * udmabuf_pin_folios - pin the folios of a memfd range
 * @memfd: a shmem or hugetlb file
 * @start: first byte of the range
 * @end: last byte of the range (inclusive)
 * @folios: receives the pinned folios
 * @max_folios: room in @folios
 * @offset: set to the byte offset of @start in the first folio
 *
 * memfd_pin_folios(), behind a KUnit static stub so that tests can make
 * it fail, or pin fewer folios than the range needs.
 *
 * Return: folios pinned, or -errno.
 */
VISIBLE_IF_KUNIT long udmabuf_pin_folios(struct file *memfd, loff_t start,
					 loff_t end, struct folio **folios,
					 unsigned int max_folios,
					 pgoff_t *offset)
{
	KUNIT_STATIC_STUB_REDIRECT(udmabuf_pin_folios, memfd, start, end,
				   folios, max_folios, offset);
	return memfd_pin_folios(memfd, start, end, folios, max_folios, offset);
}

/*
 * What the pinning of a create's ranges shares. @last is the folio of the
 * last slice pinned since the inode lock of its file was taken, NULL when
 * there is none: while that lock is held, no hole can be punched, so the
 * folio is still the file's at @last_index.
 */
struct udmabuf_pinning {
	struct udmabuf *ubuf;		/* the buffer the slices go to */
	struct folio **batch;		/* a call's pinned folios */
	u32 batch_size;			/* entries in @batch */
	u32 max_slices;			/* the buffer's pages */
	struct folio *last;		/* the folio pinned last, or NULL */
	pgoff_t last_index;		/* the file page @last starts at */
	struct folio *first[UDMABUF_PIN_FIRST];	/* the batch at first */
};

/* Start with the batch on the stack; @first is only written by the pins. */
static void udmabuf_pinning_init(struct udmabuf_pinning *pin,
				 struct udmabuf *ubuf, u32 nr_pages)
{
	pin->ubuf = ubuf;
	pin->batch = pin->first;
	pin->batch_size = ARRAY_SIZE(pin->first);
	pin->max_slices = nr_pages;
	pin->last = NULL;
}

static void udmabuf_pinning_end(struct udmabuf_pinning *pin)
{
	if (pin->batch != pin->first)
		free_page((unsigned long)pin->batch);
}

/*
 * A range goes on past the first batch: pin on into a page of folio
 * pointers. Without one, the first batch goes on serving.
 */
static void udmabuf_pin_grow(struct udmabuf_pinning *pin)
{
	struct folio **page = (struct folio **)__get_free_page(UDMABUF_GFP);

	if (!page)
		return;
	pin->batch = page;
	pin->batch_size = UDMABUF_PIN_BATCH;
}

/* Pin @nr_pages pages of @memfd from @start, appending them to the buffer. */
static int udmabuf_pin_range(struct udmabuf_pinning *pin, struct file *memfd,
			     loff_t start, u32 nr_pages)
{
	struct udmabuf *ubuf = pin->ubuf;
	loff_t last = start + ((loff_t)nr_pages << PAGE_SHIFT) - 1;

	while (nr_pages) {
		u32 before = ubuf->slices.nr_pages;
		struct folio **batch = pin->batch;
		u32 taken, room, need;
		pgoff_t offset;
		long nr;
		int ret;

		/* Pinning allocates what a sparse memfd lacks: let it be killed. */
		if (fatal_signal_pending(current))
			return -EINTR;
		nr = udmabuf_pin_folios(memfd, start, last, batch,
					pin->batch_size, &offset);
		if (nr <= 0)
			return nr ? nr : -EINVAL;

		/* Once the first estimate is reserved, a batch mostly fits. */
		room = ubuf->slices.capacity - ubuf->slices.nr_slices;
		if (room < nr) {
			need = udmabuf_slices_estimate(batch, nr, offset,
						       nr_pages);
			ret = udmabuf_slices_reserve(&ubuf->slices, need,
						     pin->max_slices);
			if (ret) {
				unpin_folios(batch, nr);
				return ret;
			}
		}

		taken = udmabuf_slices_append(&ubuf->slices, batch, nr, offset,
					      nr_pages);
		if (taken < nr)
			unpin_folios(batch + taken, nr - taken);

		nr_pages -= ubuf->slices.nr_pages - before;
		start += (loff_t)(ubuf->slices.nr_pages - before) << PAGE_SHIFT;
		if (nr_pages && batch == pin->first)
			udmabuf_pin_grow(pin);
	}
	return 0;
}

/* Whether an item ends inside its memfd; under the file's inode lock. */
static int udmabuf_item_in_file(struct file *memfd,
				const struct udmabuf_create_item *item)
{
	return item->offset + item->size > i_size_read(file_inode(memfd)) ?
	       -EINVAL : 0;
}

#if IS_ENABLED(CONFIG_HUGETLBFS)
/* Seals and size of an item's memfd, checked under its inode lock. */
static int udmabuf_item_fits(struct file *memfd,
			     const struct udmabuf_create_item *item)
{
	int ret = udmabuf_check_seals(memfd_fcntl(memfd, F_GET_SEALS, 0));

	return ret ? ret : udmabuf_item_in_file(memfd, item);
}

/* Whether a hugetlb item's range has a folio missing. */
static bool udmabuf_hugetlb_hole(struct file *memfd,
				 const struct udmabuf_create_item *item)
{
	pgoff_t step = pages_per_huge_page(hstate_file(memfd));
	pgoff_t index = round_down(item->offset >> PAGE_SHIFT, step);
	pgoff_t end = (item->offset + item->size) >> PAGE_SHIFT;
	struct folio *folio;

	for (; index < end; index += step) {
		folio = filemap_get_folio(memfd->f_mapping, index);
		if (IS_ERR(folio))
			return true;
		folio_put(folio);
	}
	return false;
}

/*
 * 6.12's memfd_pin_folios() allocates a missing hugetlb folio with
 * alloc_hugetlb_folio_reserve(), which takes a reservation that nothing
 * made: the reservation count underflows (or, with DEBUG_VM, its
 * VM_BUG_ON fires). hugetlbfs's own fallocate() allocates with the
 * accounting right, so the holes of a hugetlb item are filled that way
 * before the pin. Called with the inode lock held shared, and returns
 * with it held; it drops the lock only to fill holes (fallocate() takes
 * it for writing), then checks the item again. Punching a hole takes the
 * lock too, so none appears until the pin is taken.
 *
 * The file's own fallocate() is called, not vfs_fallocate(): filling the
 * holes of a range the caller may read is what a read fault on it does,
 * so a read-only descriptor pins a range with holes as it pins one
 * without. The folios allocated stay in the file, as a fault's would,
 * whether or not the create goes on to succeed. hugetlbfs stops filling
 * at any pending signal; unless the signal is fatal, the ioctl is
 * restarted once it is handled, and goes on from the holes left.
 */
static int udmabuf_hugetlb_fill(struct file *memfd,
				const struct udmabuf_create_item *item)
{
	struct inode *inode = file_inode(memfd);
	int ret;

	if (!udmabuf_hugetlb_hole(memfd, item))
		return 0;
	if (!memfd->f_op->fallocate)
		return -EBADFD;

	inode_unlock_shared(inode);
	ret = memfd->f_op->fallocate(memfd, FALLOC_FL_KEEP_SIZE, item->offset,
				     item->size);
	inode_lock_shared(inode);
	if (ret == -EINTR && !fatal_signal_pending(current))
		return -ERESTARTNOINTR;
	if (!ret)
		ret = udmabuf_item_fits(memfd, item);
	if (!ret && udmabuf_hugetlb_hole(memfd, item))
		ret = -EBUSY;
	return ret;
}

/*
 * Fill the holes of @item if its memfd is hugetlb, as @hugetlb then says.
 * Only a signal fails it: anything else wrong with the item is left for
 * the pin to find, so that a create fails with the first item's error.
 */
static int udmabuf_fill_item(const struct udmabuf_create_item *item,
			     bool *hugetlb)
{
	struct file *memfd = fget(item->memfd);
	struct inode *inode;
	int ret = 0;

	*hugetlb = memfd && is_file_hugepages(memfd);
	if (*hugetlb) {
		inode = file_inode(memfd);
		inode_lock_shared(inode);
		if (!udmabuf_item_fits(memfd, item))
			ret = udmabuf_hugetlb_fill(memfd, item);
		inode_unlock_shared(inode);
	}
	if (memfd)
		fput(memfd);
	return ret == -ERESTARTNOINTR || ret == -EINTR ? ret : 0;
}

/**
 * udmabuf_fill_holes - fill the holes of a request's hugetlb ranges
 * @items: the ranges, checked by udmabuf_count_pages()
 * @count: entries in @items
 *
 * Called before anything is pinned, so that a signal that stops a fill
 * restarts the ioctl with no pins to take again, and the restarted ioctl
 * goes on from the holes left. An item of the descriptor the item before
 * it used, which was not hugetlb, is not looked at again (a list of many
 * pages of one shmem memfd); the pin fills any hole it still meets, and
 * reports what the fill could not do.
 *
 * Return: 0, or -EINTR or -ERESTARTNOINTR when a signal stopped a fill.
 */
int udmabuf_fill_holes(const struct udmabuf_create_item *items, u32 count)
{
	struct udmabuf_create_item range;
	bool hugetlb = false;
	s64 last = -1;
	u32 i = 0;
	int ret;

	while (i < count) {
		if (items[i].memfd == last && !hugetlb) {
			i++;
			continue;
		}
		i = udmabuf_item_run(items, count, i, &range);
		ret = udmabuf_fill_item(&range, &hugetlb);
		if (ret)
			return ret;
		last = range.memfd;
	}
	return 0;
}

/*
 * Before an item's pin, the holes of a hugetlb item filled; a shmem item
 * (most lists, one page an item) costs no call.
 */
static inline int udmabuf_fill_before_pin(struct file *memfd,
					  const struct udmabuf_create_item *item)
{
	return is_file_hugepages(memfd) ? udmabuf_hugetlb_fill(memfd, item) : 0;
}
#else
static inline int udmabuf_fill_before_pin(struct file *memfd,
					  const struct udmabuf_create_item *item)
{
	return 0;
}
#endif

/*
 * An item that lies inside the folio pinned last needs no pin of its own:
 * append a slice that shares the folio's pin. Return: 1 when appended, 0
 * when the item needs its own pin, or -ENOMEM.
 */
static int udmabuf_share_last_pin(struct udmabuf_pinning *pin,
				  pgoff_t first, u32 nr_pages)
{
	struct udmabuf_slices *slices = &pin->ubuf->slices;
	struct folio *folio = pin->last;
	int ret = 0;

	if (!folio || first < pin->last_index ||
	    first - pin->last_index + nr_pages > folio_nr_pages(folio))
		return 0;
	if (slices->nr_slices == slices->capacity)
		ret = udmabuf_slices_reserve(slices, 1, pin->max_slices);
	if (!ret)
		udmabuf_slices_append_shared(slices, folio,
					     first - pin->last_index, nr_pages);
	return ret ?: 1;
}

/*
 * Pin the pages of one item of @memfd, whose inode lock is held and whose
 * seals are checked, appending them to the buffer, and say in @extent
 * (unless NULL) where they went.
 */
static int udmabuf_pin_item(struct udmabuf_pinning *pin, struct file *memfd,
			    const struct udmabuf_create_item *item,
			    struct udmabuf_extent *extent)
{
	struct udmabuf_slices *slices = &pin->ubuf->slices;
	u32 first_slice = slices->nr_slices, first_page = slices->nr_pages;
	pgoff_t first = item->offset >> PAGE_SHIFT;
	u32 nr_pages = item->size >> PAGE_SHIFT;
	struct udmabuf_slice *last;
	int ret;

	ret = udmabuf_item_in_file(memfd, item);
	if (!ret)
		ret = udmabuf_share_last_pin(pin, first, nr_pages);
	if (!ret) {
		ret = udmabuf_fill_before_pin(memfd, item);
		if (!ret)
			ret = udmabuf_pin_range(pin, memfd, item->offset,
						nr_pages);
		if (!ret) {
			last = &slices->slice[slices->nr_slices - 1];
			pin->last = last->folio;
			pin->last_index = first + (last->buf_pgoff - first_page) -
					  last->folio_pgoff;
		}
	}
	if (ret < 0)
		return ret;

	if (extent)
		*extent = (struct udmabuf_extent) {
			.mapping = memfd->f_mapping,
			.first = first,
			.end = first + nr_pages,
			.slice = first_slice,
			.nr_slices = slices->nr_slices - first_slice,
		};
	return 0;
}

/*
 * Between two items of one group: stop for a fatal signal, and let the
 * CPU and the inode lock go when others wait for them. Taken again, the
 * lock's seals are checked again, and the folio pinned last is forgotten:
 * a hole may have been punched meanwhile.
 */
static int udmabuf_pin_pause(struct udmabuf_pinning *pin, struct file *memfd)
{
	struct inode *inode = file_inode(memfd);

	if (fatal_signal_pending(current))
		return -EINTR;
	if (!need_resched() && !rwsem_is_contended(&inode->i_rwsem))
		return 0;
	inode_unlock_shared(inode);
	cond_resched();
	inode_lock_shared(inode);
	pin->last = NULL;
	return udmabuf_check_seals(memfd_fcntl(memfd, F_GET_SEALS, 0));
}

/*
 * Pin the items from @items[*@next] on that name its descriptor, each run
 * of items that continue each other as one range, under one lookup of
 * the descriptor, one inode lock and one check of the seals; each item is
 * still checked against the file's size. Set *@next to the index after
 * the last item of the group, and record one extent per range in
 * @extents (unless NULL) from *@nr_ranges on.
 */
static int udmabuf_pin_group(struct udmabuf_pinning *pin,
			     const struct udmabuf_create_item *items,
			     u32 count, u32 *next,
			     struct udmabuf_extent *extents, u32 *nr_ranges)
{
	struct udmabuf_create_item range;
	u32 i = *next;
	u32 fd = items[i].memfd;
	struct file *memfd;
	struct inode *inode;
	int ret;

	memfd = fget(fd);
	if (!memfd)
		return -EBADFD;

	ret = -EBADFD;
	if (!shmem_file(memfd) && !is_file_hugepages(memfd))
		goto put;

	/*
	 * F_ADD_SEALS takes the inode lock for writing: holding it shared
	 * keeps the seals as checked until the pins are taken, and a pinned
	 * memfd refuses a later F_SEAL_WRITE (it waits for pins to go).
	 */
	inode = file_inode(memfd);
	inode_lock_shared(inode);
	pin->last = NULL;
	ret = udmabuf_check_seals(memfd_fcntl(memfd, F_GET_SEALS, 0));
	while (!ret) {
		i = udmabuf_item_run(items, count, i, &range);
		ret = udmabuf_pin_item(pin, memfd, &range,
				       extents ? &extents[*nr_ranges] : NULL);
		if (ret)
			break;
		(*nr_ranges)++;
		if (i == count || items[i].memfd != fd)
			break;
		ret = udmabuf_pin_pause(pin, memfd);
	}
	pin->last = NULL;
	inode_unlock_shared(inode);
put:
	fput(memfd);
	*next = i;
	return ret;
}

/**
 * udmabuf_pin_items - pin the pages of a create request into a buffer
 * @ubuf: a new buffer, without slices
 * @items: the ranges, in buffer order, checked by udmabuf_count_pages();
 *	memfd fields are file descriptors of the calling task
 * @count: entries in @items
 * @nr_pages: the pages of all items, as udmabuf_count_pages() counted them
 *
 * Pins group after group of items that name the same descriptor, each
 * under one lookup and one inode lock (items that continue each other in
 * one memfd as one range), appending the folios to @ubuf's slices. An
 * item inside the folio the item before it pinned shares that pin. Then
 * one pin per distinct folio is kept. Only a request of several items can
 * name a folio twice, so only then is that looked for: by the slices'
 * folios alone when the items average at most two pages (a slice has at
 * least one, so the slices are reserved at once), by where each range's
 * pages went otherwise.
 *
 * Return: 0, or -errno with the pins taken so far in @ubuf's slices (for
 * udmabuf_free() to drop): -EBADFD for a descriptor that is not a shmem
 * or hugetlb memfd, -EINVAL for bad seals or a range past the end of its
 * file, -ENOMEM, -EINTR when a fatal signal came while pinning, or the
 * error of the pin or of a hugetlb fill.
 */
int udmabuf_pin_items(struct udmabuf *ubuf,
		      const struct udmabuf_create_item *items, u32 count,
		      u32 nr_pages)
{
	bool small = nr_pages <= 2ULL * count;
	struct udmabuf_extent *extents = NULL;
	struct udmabuf_pinning pin;
	u32 i = 0, nr_ranges = 0;
	int ret = 0;

	if (small) {
		ret = udmabuf_slices_reserve(&ubuf->slices, nr_pages,
					     nr_pages);
	} else if (count > 1) {
		extents = kvmalloc_array(count, sizeof(*extents), UDMABUF_GFP);
		if (!extents)
			ret = -ENOMEM;
	}
	if (ret)
		return ret;

	udmabuf_pinning_init(&pin, ubuf, nr_pages);
	while (i < count) {
		ret = udmabuf_pin_group(&pin, items, count, &i, extents,
					&nr_ranges);
		if (ret)
			goto out;
	}
	if (nr_ranges > 1)
		ret = udmabuf_slices_dedup(&ubuf->slices, extents, nr_ranges);
out:
	udmabuf_pinning_end(&pin);
	kvfree(extents);
	return ret;
}
