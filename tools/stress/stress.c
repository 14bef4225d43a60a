// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf stress: threads racing random operations on a shared pool of
 * memfds (shmem 4 KiB, shmem THP, hugetlb 2 MiB) and of buffers made of
 * them, against a model of every memfd's bytes.
 *
 * Usage: stress [seed] [seconds] [threads]
 * (or, as the VM's init runs it: udmabuf_stress=seed,seconds,threads)
 *
 * Each thread draws operations from its own generator (seed + thread):
 * creates with valid and invalid items, closes, mmaps at random offsets,
 * reads and writes through them, mprotect/munmap of part of a mapping,
 * mremap moves and growth, fork, madvise, DMA_BUF_IOCTL_SYNC with valid
 * and invalid flags, seals racing creates, memfds closed and replaced
 * while buffers on them live, hole punches, vgem imports (attach and map
 * smoke tests: see op_vgem). Bytes are checked against the model under
 * per-memfd locks; the operations that only touch the driver's control
 * paths race freely. Every errno must be the one the input calls for.
 *
 * Beside the workers: shared mappings in a reserved area that any worker
 * reads and writes while one thread mprotect()s parts of them and moves
 * them with mremap() (to 2 MiB-aligned places and others), and one thread
 * toggling prctl(PR_SET_THP_DISABLE). Races are also set up on purpose (a
 * rendezvous: first faults of a fresh mapping, DMA_BUF_IOCTL_SYNC brackets
 * of one buffer, a create against a seal of its memfd), and each
 * participant's CLOCK_MONOTONIC interval says whether the window was
 * entered in parallel: "stress: parallel ..." counts them.
 *
 * At the end every byte of every live buffer is read against the model,
 * every buffer is closed, every memfd the run ever made (each one's
 * descriptor kept to the end) must accept F_SEAL_WRITE (no pin left), and
 * kmemleak scans twice, 6 s apart.
 */
#include "udmabuf-user.h"

#include <dirent.h>
#include <linux/dma-buf.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC	0x0020	/* glibc 2.36 lacks it */
#endif

#define PAGE		4096UL
#define NR_SLOTS	6
#define MAX_ITEMS	6
#define MAX_BUFS	48
#define MAX_MAPS	6
#define MAX_THREADS	16
/* The workers, then the mprotect/mremap thread and the THP toggler. */
#define MAX_TASKS	(MAX_THREADS + 2)
/* Shared mappings, and the reserved room they live and move in. */
#define NR_SMAPS	6
#define NR_RSLOTS	16
#define RSLOT_SIZE	(32UL << 20)	/* a buffer is at most 24 MiB */
#define MAX_SPLITS	12		/* VMA boundaries in one shared mapping */
#define SHARED_CHECK	(512UL << 10)	/* bytes one shared read checks */

enum kind { SHMEM_4K, SHMEM_THP, HUGETLB };
static const char *const kind_names[] = { "shmem-4k", "shmem-thp", "hugetlb" };

/* A memfd and the model of its bytes. */
struct memfd_obj {
	int fd;			/* -1 once its slot closed it */
	int id;			/* creation order: the lock order */
	enum kind kind;
	size_t size;
	uint8_t *shadow;
	pthread_rwlock_t data;	/* read: checking bytes; write: changing */
	atomic_int refs;	/* the slot's and each buffer's */
	atomic_int seals;	/* seals known to be on it */
	atomic_int sealing;	/* F_ADD_SEALS calls in flight */
	atomic_int creating;	/* creates naming it in flight */
	atomic_bool punched;	/* a hole was punched: hugetlb refills may fail */
};

/* A pool entry: fd users hold @use for reading, replacing for writing. */
struct slot {
	pthread_rwlock_t use;
	struct memfd_obj *m;
};

struct buf_item {
	struct memfd_obj *m;
	uint64_t offset, size;
};

struct buf {
	int fd;
	atomic_int refs;	/* the pool's, each mapping's, each user's */
	atomic_bool diverged;	/* a hole punched under it: no byte checks */
	atomic_bool started;	/* a DMA_BUF_SYNC_START went through */
	size_t size;
	int nitems;
	struct buf_item items[MAX_ITEMS];
	struct buf *prev, *next;	/* every live buffer */
};

struct map {
	struct buf *b;
	uint8_t *addr;
	size_t len;
	uint64_t off;		/* buffer offset of addr */
	int prot;
	bool split;		/* mprotect() left it in several VMAs */
};

struct thread {
	pthread_t tid;
	int id;
	int vgem;		/* its own DRM file: handles are per file */
	uint64_t rng;
	struct map maps[MAX_MAPS];
	atomic_ulong ops;
	atomic_int op;		/* the operation under way, for the watchdog */
	bool done;
};

static struct slot slots[NR_SLOTS];
static struct buf *pool[MAX_BUFS];
static struct buf live = { .prev = &live, .next = &live };
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int next_id;
static int dev, not_memfd, unsealed, hugetlb_ok;
/* How often one page may appear in a buffer vgem imports (see op_vgem). */
static int vgem_max_repeats = 2;
/* The stress process (not a forked child) and the thread a signal hit. */
static pid_t stress_pid;
static __thread struct thread *current_thread;
static double deadline;
static unsigned long stress_seconds;
static atomic_ulong data_checks, data_errors, errno_errors, skipped_checks;
static atomic_ulong op_count[32];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int logged;

/*
 * A mapping every worker may read and write, while the mprotect/mremap
 * thread changes it. @lock, read: the address range is used (reads,
 * writes, mprotect); write: it moves or goes (mremap, munmap). @wlock,
 * read: writing through it; write: part of it is not writable just now.
 */
struct smap {
	pthread_rwlock_t lock;
	pthread_rwlock_t wlock;
	struct buf *b;		/* NULL: free */
	uint8_t *addr;
	size_t len;
	uint64_t off;		/* buffer offset of addr */
	int prot;
	int rslot;		/* the reserved slot it sits in */
	int nsplits;		/* VMA boundaries mprotect() left, sorted */
	size_t splits[MAX_SPLITS];
};

static struct smap smaps[NR_SMAPS];
/* NR_RSLOTS slots of RSLOT_SIZE, PROT_NONE while free. */
static uint8_t *resv;
static int rslot_owner[NR_RSLOTS];	/* -1 free, -2 lost, else taken */
static pthread_mutex_t rslot_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Every memfd the run made, through a descriptor of its own (the file
 * reopened), kept to the end: then each must accept F_SEAL_WRITE. They
 * keep their memory, so retiring memfds stops at a budget.
 */
struct kept {
	int fd;
	int id;
	enum kind kind;
};

static struct kept *kept;
static int nr_kept, kept_room;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ulong kept_bytes;
static unsigned long kept_budget, kept_max_fds;
static long hugetlb_floor;	/* free huge pages a new hugetlb memfd leaves */
static atomic_ulong retire_held, hugetlb_fallbacks;
static atomic_ulong first_fallback_ms;	/* into the run; 0: none */
static double run_start;

/*
 * A race set up on purpose: the thread that opens it waits (briefly) for
 * others to join at the top of their loops, then all go at once; each
 * records the CLOCK_MONOTONIC interval of its part of the race window.
 */
enum race_kind { RACE_FAULT, RACE_SYNC, RACE_SEAL, NR_RACES };
static const char *const race_names[NR_RACES] = {
	"first faults", "sync brackets", "create/seal",
};

enum race_state { RACE_IDLE, RACE_SETUP, RACE_OPEN, RACE_GO };

struct race {
	atomic_int state;
	enum race_kind kind;
	/* RACE_FAULT: a snapshot of the shared mapping (its lock held). */
	uint8_t *addr;
	size_t len;
	uint64_t off;
	/* RACE_SYNC: the buffer (referenced); RACE_SEAL: the slot. */
	struct buf *b;
	int slot;
	int initiator;
	int joined;
	atomic_int finished;
	bool part[MAX_TASKS];
	double start[MAX_TASKS], end[MAX_TASKS];
	int memfd_id[MAX_TASKS];	/* RACE_SEAL: the memfd it hit */
};

static struct race board;
static pthread_mutex_t board_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long nr_workers, nr_tasks;
/* Per kind: races opened, joined by another thread, entered in parallel. */
static atomic_ulong races[NR_RACES], races_joined[NR_RACES],
		    races_parallel[NR_RACES], race_pairs[NR_RACES];
static atomic_ulong first_sync_parallel, seal_overlaps_random;
static atomic_ulong thp_toggles, vm_mprotects, vm_mremaps, vm_mremaps_2m,
		    vm_pieces;

static void report(atomic_ulong *counter, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(counter, 1);
	pthread_mutex_lock(&log_lock);
	if (logged++ < 40) {
		va_start(ap, fmt);
		printf("stress: ");
		vprintf(fmt, ap);
		printf("\n");
		va_end(ap);
	}
	pthread_mutex_unlock(&log_lock);
}

static uint64_t rnd(struct thread *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

static uint64_t below(struct thread *t, uint64_t n)
{
	return n ? rnd(t) % n : 0;
}

/* -errno of a call that returns -1 on failure, else 0. */
static int err_of(long ret)
{
	return ret < 0 ? -errno : 0;
}

/* ---- memfds ---- */

/* Its own descriptor of @m's file, on the list checked at the end. */
static void memfd_keep(struct memfd_obj *m)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", m->fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		report(&errno_errors, "reopening memfd %d: %s", m->id,
		       strerror(errno));
		return;
	}
	pthread_mutex_lock(&kept_lock);
	if (nr_kept == kept_room) {
		kept_room = kept_room ? 2 * kept_room : 64;
		kept = realloc(kept, kept_room * sizeof(*kept));
	}
	kept[nr_kept++] = (struct kept) { .fd = fd, .id = m->id, .kind = m->kind };
	pthread_mutex_unlock(&kept_lock);
	atomic_fetch_add(&kept_bytes, m->size);
}

/* Whether one more memfd may be retired: the kept ones hold memory. */
static bool may_retire(void)
{
	bool ok;

	pthread_mutex_lock(&kept_lock);
	ok = nr_kept < (long)kept_max_fds;
	pthread_mutex_unlock(&kept_lock);
	ok = ok && atomic_load(&kept_bytes) + 2 * SZ_2M <= kept_budget;
	if (!ok)
		atomic_fetch_add(&retire_held, 1);
	return ok;
}

static void hugetlb_fallback(void)
{
	unsigned long none = 0, ms;

	atomic_fetch_add(&hugetlb_fallbacks, 1);
	if (!run_start)
		return;
	ms = (now_us() - run_start) / 1e3 + 1;	/* 0 says none */
	atomic_compare_exchange_strong(&first_fallback_ms, &none, ms);
}

static struct memfd_obj *memfd_new(enum kind kind)
{
	struct memfd_obj *m = calloc(1, sizeof(*m));
	unsigned int flags;
	uint8_t *p;

	/*
	 * Kept memfds keep their huge pages: once the pool is down to its
	 * floor (room for refilling punched holes), shmem THP stands in.
	 */
	if (kind == HUGETLB && meminfo_kb("HugePages_Free") < hugetlb_floor + 2) {
		kind = SHMEM_THP;
		hugetlb_fallback();
	}
again:
	flags = kind == HUGETLB ? MFD_HUGETLB : 0;
	m->kind = kind;
	m->size = kind == SHMEM_4K ? 256 * PAGE : 2 * SZ_2M;
	m->fd = memfd_sealed(kind_names[kind], m->size, flags, 0);
	if (m->fd < 0) {
		printf("stress: memfd %s: %s\n", kind_names[kind], strerror(-m->fd));
		exit(1);
	}
	/* Another thread may have taken the last pages: no SIGBUS below. */
	if (kind == HUGETLB && fallocate(m->fd, 0, 0, m->size)) {
		close(m->fd);
		kind = SHMEM_THP;
		hugetlb_fallback();
		goto again;
	}
	m->id = atomic_fetch_add(&next_id, 1);
	m->shadow = malloc(m->size);
	pattern_fill(m->shadow, (uint8_t)m->id * 37 + 1, 0, m->size);
	/* Written through a mapping: hugetlbfs has no write(). */
	p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (p == MAP_FAILED) {
		printf("stress: mapping memfd %s: %s\n", kind_names[kind],
		       strerror(errno));
		exit(1);
	}
	memcpy(p, m->shadow, m->size);
	munmap(p, m->size);
	pthread_rwlock_init(&m->data, NULL);
	m->refs = 1;
	m->seals = F_SEAL_SHRINK;
	memfd_keep(m);
	return m;
}

static void memfd_put(struct memfd_obj *m)
{
	if (atomic_fetch_sub(&m->refs, 1) == 1) {
		free(m->shadow);
		free(m);
	}
}

static enum kind slot_kind(int slot)
{
	return (enum kind)(hugetlb_ok ? slot % 3 : slot % 2);
}

/* Close a slot's memfd (buffers on it live on) and put a new one there. */
static void slot_replace(int s)
{
	struct memfd_obj *old, *m = memfd_new(slot_kind(s));

	pthread_rwlock_wrlock(&slots[s].use);
	old = slots[s].m;
	close(old->fd);
	old->fd = -1;
	slots[s].m = m;
	pthread_rwlock_unlock(&slots[s].use);
	memfd_put(old);
}

/* ---- buffers ---- */

static void buf_put(struct buf *b)
{
	if (atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	pthread_mutex_lock(&pool_lock);
	b->prev->next = b->next;
	b->next->prev = b->prev;
	pthread_mutex_unlock(&pool_lock);
	close(b->fd);
	for (int i = 0; i < b->nitems; i++)
		memfd_put(b->items[i].m);
	free(b);
}

/* A random pooled buffer, with a reference, or NULL. */
static struct buf *buf_get(struct thread *t)
{
	struct buf *b = NULL;
	int start = below(t, MAX_BUFS);

	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < MAX_BUFS && !b; i++) {
		b = pool[(start + i) % MAX_BUFS];
		if (b)
			atomic_fetch_add(&b->refs, 1);
	}
	pthread_mutex_unlock(&pool_lock);
	return b;
}

/* The memfds under buffer bytes [off, off + len), locked in id order. */
static int lock_range(struct buf *b, uint64_t off, uint64_t len, bool write,
		      struct memfd_obj **locked)
{
	struct memfd_obj *ms[MAX_ITEMS];
	uint64_t pos = 0;
	int n = 0;

	for (int i = 0; i < b->nitems; i++) {
		uint64_t end = pos + b->items[i].size;
		bool seen = false;

		if (end > off && pos < off + len) {
			for (int k = 0; k < n; k++)
				seen |= ms[k] == b->items[i].m;
			if (!seen)
				ms[n++] = b->items[i].m;
		}
		pos = end;
	}
	/* Insertion sort by id: one lock order for every thread. */
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && ms[k - 1]->id > ms[k]->id; k--) {
			struct memfd_obj *x = ms[k];

			ms[k] = ms[k - 1];
			ms[k - 1] = x;
		}
	for (int i = 0; i < n; i++) {
		if (write)
			pthread_rwlock_wrlock(&ms[i]->data);
		else
			pthread_rwlock_rdlock(&ms[i]->data);
		locked[i] = ms[i];
	}
	return n;
}

static void unlock_all(struct memfd_obj **locked, int n)
{
	while (n--)
		pthread_rwlock_unlock(&locked[n]->data);
}

/* The model's byte at buffer offset @off. */
static uint8_t *shadow_at(struct buf *b, uint64_t off)
{
	for (int i = 0; i < b->nitems; i++) {
		if (off < b->items[i].size)
			return &b->items[i].m->shadow[b->items[i].offset + off];
		off -= b->items[i].size;
	}
	return NULL;
}

/*
 * After a data error at buffer offset @bad, in @len bytes read at @p
 * (buffer offset @off): the buffer's items, and where in the model the
 * buffer's page is found, if anywhere. A page of another place tells a
 * mapping bug from stale bytes.
 */
static void explain(struct buf *b, const uint8_t *p, uint64_t off,
		    uint64_t len, uint64_t bad)
{
	uint64_t page_off = bad & ~(uint64_t)(PAGE - 1);
	const uint8_t *page = p + (page_off - off);
	uint64_t pos = 0;

	pthread_mutex_lock(&log_lock);
	printf("stress:   buffer of %zu bytes, %d items:", b->size, b->nitems);
	for (int i = 0; i < b->nitems; i++) {
		const struct buf_item *it = &b->items[i];

		printf(" [%s#%d @%#llx +%#llx]", kind_names[it->m->kind],
		       it->m->id, (unsigned long long)it->offset,
		       (unsigned long long)it->size);
		if (page_off >= pos && page_off < pos + it->size)
			printf("<-page %#llx of the memfd",
			       (unsigned long long)(it->offset + page_off - pos));
		pos += it->size;
	}
	printf("\n");
	/* Only a page wholly inside the bytes read can be compared. */
	for (int i = 0; i < b->nitems && page_off >= off &&
	     page_off + PAGE <= off + len; i++) {
		struct memfd_obj *m = b->items[i].m;
		bool seen = false;

		for (int k = 0; k < i; k++)
			seen |= b->items[k].m == m;
		for (uint64_t at = 0; !seen && at + PAGE <= m->size; at += PAGE)
			if (!memcmp(m->shadow + at, page, PAGE))
				printf("stress:   buffer page %#llx holds %s#%d's page %#llx\n",
				       (unsigned long long)page_off,
				       kind_names[m->kind], m->id,
				       (unsigned long long)at);
	}
	pthread_mutex_unlock(&log_lock);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * Where the @len bytes at @p (buffer offset @off) first differ from the
 * model, or @len: item by item, a memcmp() per piece.
 */
static uint64_t first_difference(struct buf *b, const uint8_t *p,
				 uint64_t off, uint64_t len)
{
	uint64_t pos = 0;

	for (int i = 0; i < b->nitems; i++) {
		uint64_t lo = pos > off ? pos : off;
		uint64_t hi = min_u64(pos + b->items[i].size, off + len);
		const uint8_t *want = b->items[i].m->shadow +
				      b->items[i].offset + (lo - pos);

		if (lo < hi && memcmp(p + (lo - off), want, hi - lo))
			for (uint64_t k = 0; k < hi - lo; k++)
				if (p[lo - off + k] != want[k])
					return lo - off + k;
		pos += b->items[i].size;
	}
	return len;
}

/* Compare @len bytes at @p (buffer offset @off) with the model. */
static void check_bytes(const char *what, struct buf *b, const uint8_t *p,
			uint64_t off, uint64_t len)
{
	struct memfd_obj *locked[MAX_ITEMS];
	int n = lock_range(b, off, len, false, locked);
	uint64_t i;

	if (atomic_load(&b->diverged)) {
		atomic_fetch_add(&skipped_checks, 1);
	} else {
		atomic_fetch_add(&data_checks, 1);
		i = first_difference(b, p, off, len);
		if (i < len) {
			report(&data_errors,
			       "%s: buffer byte %llu reads %#x, memfd holds %#x",
			       what, (unsigned long long)(off + i), p[i],
			       *shadow_at(b, off + i));
			if (atomic_load(&data_errors) <= 4)
				explain(b, p, off, len, off + i);
		}
	}
	unlock_all(locked, n);
}

/* ---- operations ---- */

/*
 * The workers' operations, by weight; the last three are what the helper
 * threads do (weight 0), named for the watchdog.
 */
enum op {
	OP_CREATE, OP_CLOSE, OP_MMAP, OP_MUNMAP, OP_READ, OP_WRITE,
	OP_MEMFD_WRITE, OP_MEMFD_READ, OP_MPROTECT, OP_MUNMAP_PART,
	OP_MREMAP, OP_FORK, OP_MADVISE, OP_SYNC, OP_SEAL, OP_REPLACE,
	OP_PUNCH, OP_VGEM, OP_BAD_IOCTL, OP_SMAP, OP_SUNMAP, OP_SREAD,
	OP_SWRITE, OP_RACE_SYNC, OP_RACE_SEAL, OP_RACE_JOIN, OP_VM_MPROTECT,
	OP_VM_MREMAP, OP_THP, NR_OPS
};
static const char *const op_names[NR_OPS] = {
	"create", "close", "mmap", "munmap", "read", "write", "memfd-write",
	"memfd-read", "mprotect", "munmap-part", "mremap", "fork", "madvise",
	"sync", "seal", "replace", "punch", "vgem", "bad-ioctl",
	"shared-mmap", "shared-munmap", "shared-read", "shared-write",
	"sync-race", "seal-race", "race-join", "vm-mprotect", "vm-mremap",
	"thp-toggle",
};
static const int op_weight[NR_OPS] = {
	20, 10, 10, 5, 10, 8, 4, 4, 3, 3, 3, 1, 3, 8, 2, 1, 1, 3, 1,
	3, 1, 6, 3, 2, 1, 0, 0, 0, 0,
};

/* Accept @got if it is one of the @n errnos after it (0: success). */
static bool expect(const char *what, int got, int n, ...)
{
	va_list ap;
	bool ok = false;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		ok |= got == va_arg(ap, int);
	va_end(ap);
	if (!ok)
		report(&errno_errors, "%s: unexpected %s", what,
		       got ? strerror(-got) : "success");
	return ok;
}

enum bad_item {
	BAD_NONE, BAD_ZERO_SIZE, BAD_OFFSET, BAD_SIZE, BAD_PAST_END, BAD_FD,
	BAD_NOT_MEMFD, BAD_UNSEALED, NR_BAD
};

/*
 * A create, with items of random slots or, if @slot is one, all of that
 * slot's memfd; the ioctl's interval and the first item's memfd id go to
 * @when and @memfd_id when given (a create/seal race).
 */
static void create_on(struct thread *t, int slot, double when[2],
		      int *memfd_id)
{
	struct udmabuf_create_item items[MAX_ITEMS];
	int nitems = 1 + below(t, MAX_ITEMS), nslots = 0, held[NR_SLOTS];
	enum bad_item bad = below(t, 4) ? BAD_NONE : 1 + below(t, NR_BAD - 1);
	int bad_at = below(t, nitems), fd, certain = 0;
	bool maybe_einval = false, maybe_nospace = false, early_einval = false;
	struct buf *b = calloc(1, sizeof(*b));
	bool sealing = false;
	int slot_of[MAX_ITEMS];
	double t0, t1;

	for (int i = 0; i < nitems; i++)
		slot_of[i] = slot >= 0 ? slot : (int)below(t, NR_SLOTS);
	/* Hold the slots named (in index order) so their fds stay theirs. */
	for (int s = 0; s < NR_SLOTS; s++)
		for (int i = 0; i < nitems; i++)
			if (slot_of[i] == s) {
				pthread_rwlock_rdlock(&slots[s].use);
				held[nslots++] = s;
				break;
			}

	for (int i = 0; i < nitems; i++) {
		struct memfd_obj *m = slots[slot_of[i]].m;
		uint64_t step = m->kind == HUGETLB && below(t, 2) ? SZ_2M : PAGE;
		uint64_t units = m->size / step;
		uint64_t first = below(t, units);
		uint64_t count = 1 + below(t, units - first);
		int seals = atomic_load(&m->seals);

		/* The same range twice, now and then: items sharing folios. */
		if (i && below(t, 6) == 0 && b->items[i - 1].m == m &&
		    i - 1 != bad_at) {
			items[i] = items[i - 1];
		} else {
			items[i] = (struct udmabuf_create_item) {
				.memfd = m->fd,
				.offset = first * step,
				.size = count * step,
			};
		}
		b->items[i] = (struct buf_item) {
			.m = m, .offset = items[i].offset, .size = items[i].size,
		};
		if (i == bad_at && bad != BAD_NONE) {
			switch (bad) {
			case BAD_ZERO_SIZE: items[i].size = 0; break;
			case BAD_OFFSET: items[i].offset += 512; break;
			case BAD_SIZE: items[i].size -= 512; break;
			case BAD_PAST_END: items[i].offset = m->size; break;
			case BAD_FD: items[i].memfd = -1; break;
			case BAD_NOT_MEMFD: items[i].memfd = not_memfd; break;
			case BAD_UNSEALED: items[i].memfd = unsealed;
					   items[i].offset = 0;
					   items[i].size = PAGE; break;
			default: break;
			}
			if (bad <= BAD_SIZE)
				early_einval = true;	/* checked before any pin */
		}
		/* Pin-phase errors, in item order: the first certain one wins. */
		if (!certain) {
			if (i == bad_at && bad == BAD_PAST_END)
				certain = -EINVAL;
			else if (i == bad_at && (bad == BAD_FD || bad == BAD_NOT_MEMFD))
				certain = -EBADFD;
			else if (i == bad_at && bad == BAD_UNSEALED)
				certain = -EINVAL;
			else if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
				certain = -EINVAL;
			else if (atomic_load(&m->sealing))
				maybe_einval = true;
			if (m->kind == HUGETLB && atomic_load(&m->punched))
				maybe_nospace = true;
		}
	}
	b->nitems = nitems;
	for (int i = 0; i < nitems; i++)
		b->size += b->items[i].size;

	/* A seal in flight on one of its memfds: the race is on. */
	for (int i = 0; i < nitems; i++)
		atomic_fetch_add(&b->items[i].m->creating, 1);
	for (int i = 0; i < nitems; i++)
		sealing |= atomic_load(&b->items[i].m->sealing) > 0;
	if (sealing)
		atomic_fetch_add(&seal_overlaps_random, 1);
	t0 = now_us();
	fd = nitems == 1 && below(t, 2) ?
		udmabuf_create1(dev, items[0].memfd, items[0].offset,
				items[0].size, UDMABUF_FLAGS_CLOEXEC) :
		udmabuf_create_list(dev, UDMABUF_FLAGS_CLOEXEC, items, nitems);
	t1 = now_us();
	for (int i = 0; i < nitems; i++)
		atomic_fetch_sub(&b->items[i].m->creating, 1);
	if (when) {
		when[0] = t0;
		when[1] = t1;
		*memfd_id = b->items[0].m->id;
	}

	/* A seal that landed while we were at it may have been seen. */
	for (int i = 0; i < nitems; i++)
		if (atomic_load(&b->items[i].m->sealing) ||
		    (atomic_load(&b->items[i].m->seals) &
		     (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
			maybe_einval = true;

	if (early_einval) {
		expect("create (bad size or offset)", fd < 0 ? fd : 0, 1, -EINVAL);
	} else if (certain) {
		expect("create (bad item)", fd < 0 ? fd : 0, 3, certain,
		       maybe_einval ? -EINVAL : certain,
		       maybe_nospace ? -ENOSPC : certain);
	} else {
		expect("create", fd < 0 ? fd : 0, 5, 0,
		       maybe_einval ? -EINVAL : 0,
		       maybe_nospace ? -ENOSPC : 0,
		       maybe_nospace ? -EBUSY : 0,
		       maybe_nospace ? -ENOMEM : 0);
	}

	if (fd >= 0) {
		off_t size = lseek(fd, 0, SEEK_END);

		if (size != (off_t)b->size)
			report(&errno_errors, "create: buffer of %lld bytes, asked %zu",
			       (long long)size, b->size);
		b->fd = fd;
		b->refs = 1;
		for (int i = 0; i < nitems; i++)
			atomic_fetch_add(&b->items[i].m->refs, 1);
		/*
		 * On the live list before the slots go: a hole punched once
		 * they are free must find this buffer to mark it diverged.
		 */
		pthread_mutex_lock(&pool_lock);
		b->next = live.next;
		b->prev = &live;
		live.next->prev = b;
		live.next = b;
		pthread_mutex_unlock(&pool_lock);
	}
	for (int i = nslots - 1; i >= 0; i--)
		pthread_rwlock_unlock(&slots[held[i]].use);
	if (fd < 0) {
		free(b);
		return;
	}

	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < MAX_BUFS; i++)
		if (!pool[i]) {
			pool[i] = b;
			b = NULL;
			break;
		}
	pthread_mutex_unlock(&pool_lock);
	if (b)
		buf_put(b);	/* the pool is full: close it again */
}

static void op_create(struct thread *t)
{
	create_on(t, -1, NULL, NULL);
}

/* A random buffer closed; one under a punched hole first, if any. */
static void op_close(struct thread *t)
{
	int i = below(t, MAX_BUFS);
	struct buf *b;

	pthread_mutex_lock(&pool_lock);
	for (int k = 0; k < MAX_BUFS; k++)
		if (pool[k] && atomic_load(&pool[k]->diverged)) {
			i = k;
			break;
		}
	b = pool[i];
	pool[i] = NULL;
	pthread_mutex_unlock(&pool_lock);
	if (b)
		buf_put(b);
}

static struct map *free_map(struct thread *t)
{
	for (int i = 0; i < MAX_MAPS; i++)
		if (!t->maps[i].b)
			return &t->maps[i];
	return NULL;
}

static struct map *some_map(struct thread *t)
{
	int start = below(t, MAX_MAPS);

	for (int i = 0; i < MAX_MAPS; i++) {
		struct map *mp = &t->maps[(start + i) % MAX_MAPS];

		if (mp->b)
			return mp;
	}
	return NULL;
}

static void unmap(struct map *mp)
{
	munmap(mp->addr, mp->len);
	buf_put(mp->b);
	memset(mp, 0, sizeof(*mp));
}

static void op_mmap(struct thread *t)
{
	struct map *mp = free_map(t);
	struct buf *b = buf_get(t);
	uint64_t pages, first, count;
	int how = below(t, 8), prot;
	void *p;

	if (!b)
		return;
	if (!mp) {
		buf_put(b);
		return;
	}
	pages = b->size / PAGE;
	first = below(t, pages);
	count = 1 + below(t, pages - first);
	prot = below(t, 3) ? PROT_READ | PROT_WRITE : PROT_READ;
	if (how == 0) {		/* past the end */
		p = mmap(NULL, (pages + 1 - first) * PAGE, prot, MAP_SHARED,
			 b->fd, first * PAGE);
		expect("mmap past the end", p == MAP_FAILED ? -errno : 0, 1,
		       -EINVAL);
	} else if (how == 1) {	/* private */
		p = mmap(NULL, count * PAGE, prot, MAP_PRIVATE, b->fd,
			 first * PAGE);
		expect("private mmap", p == MAP_FAILED ? -errno : 0, 1, -EINVAL);
	} else {
		if (how & 1)	/* buffer offset 0 at a 2 MiB boundary */
			p = mmap_2m_skew(b->fd, count * PAGE, first * PAGE,
					 prot, first * PAGE % SZ_2M);
		else
			p = mmap(NULL, count * PAGE, prot, MAP_SHARED, b->fd,
				 first * PAGE);
		if (expect("mmap", p == MAP_FAILED ? -errno : 0, 1, 0)) {
			*mp = (struct map) {
				.b = b, .addr = p, .len = count * PAGE,
				.off = first * PAGE, .prot = prot,
			};
			return;	/* the mapping keeps the reference */
		}
	}
	if (p != MAP_FAILED)
		munmap(p, count * PAGE);
	buf_put(b);
}

static void op_munmap(struct thread *t)
{
	struct map *mp = some_map(t);

	if (mp)
		unmap(mp);
}

static void op_read(struct thread *t)
{
	struct map *mp = some_map(t);
	uint64_t at, len;

	if (!mp)
		return;
	at = below(t, mp->len);
	len = 1 + below(t, mp->len - at);
	check_bytes("read through mmap", mp->b, mp->addr + at, mp->off + at, len);
}

static void op_write(struct thread *t)
{
	struct memfd_obj *locked[MAX_ITEMS];
	struct map *mp = some_map(t);
	uint64_t at, len;
	uint8_t seed;
	int n;

	if (!mp || !(mp->prot & PROT_WRITE))
		return;
	at = below(t, mp->len);
	len = 1 + below(t, mp->len - at);
	seed = rnd(t);
	n = lock_range(mp->b, mp->off + at, len, true, locked);
	if (!atomic_load(&mp->b->diverged)) {
		for (uint64_t i = 0; i < len; i++) {
			uint8_t v = pattern_at(seed, i);

			mp->addr[at + i] = v;
			*shadow_at(mp->b, mp->off + at + i) = v;
		}
	}
	unlock_all(locked, n);
}

/* A random slot, held for fd use. */
static struct memfd_obj *slot_hold(struct thread *t, int *s)
{
	*s = below(t, NR_SLOTS);
	pthread_rwlock_rdlock(&slots[*s].use);
	return slots[*s].m;
}

static void op_memfd_write(struct thread *t)
{
	int s, seals, ret;
	struct memfd_obj *m = slot_hold(t, &s);
	uint64_t at = below(t, m->size), len = 1 + below(t, m->size - at);
	uint8_t *p = malloc(len), seed = rnd(t);
	bool sealing;

	pattern_fill(p, seed, 0, len);
	pthread_rwlock_wrlock(&m->data);
	sealing = atomic_load(&m->sealing);
	seals = atomic_load(&m->seals);
	if (m->kind == HUGETLB) {
		/* No write() on hugetlbfs; a hole would need a fresh page. */
		uint64_t start = at & ~(SZ_2M - 1);
		uint64_t end = (at + len + SZ_2M - 1) & ~(SZ_2M - 1);
		uint8_t *map;

		if (atomic_load(&m->punched))
			goto out;
		map = mmap(NULL, end - start, PROT_READ | PROT_WRITE,
			   MAP_SHARED, m->fd, start);
		ret = map == MAP_FAILED ? -errno : 0;
		if (!ret) {
			memcpy(map + (at - start), p, len);
			munmap(map, end - start);
		}
	} else {
		ret = pwrite(m->fd, p, len, at);
		ret = ret < 0 ? -errno : ret == (int)len ? 0 : -EIO;
	}
	/* A write seal that started after the first look may have landed. */
	sealing |= atomic_load(&m->sealing) ||
		   (atomic_load(&m->seals) & ~seals &
		    (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		expect("memfd write (sealed)", ret, 1, -EPERM);
	else
		expect("memfd write", ret, 2, 0, sealing ? -EPERM : 0);
	if (!ret)
		memcpy(m->shadow + at, p, len);
out:
	pthread_rwlock_unlock(&m->data);
	pthread_rwlock_unlock(&slots[s].use);
	free(p);
}

static void op_memfd_read(struct thread *t)
{
	int s;
	struct memfd_obj *m = slot_hold(t, &s);
	uint64_t at = below(t, m->size), len = 1 + below(t, m->size - at);
	uint8_t *p = malloc(len);
	ssize_t got;

	pthread_rwlock_rdlock(&m->data);
	got = pread(m->fd, p, len, at);
	if (got != (ssize_t)len) {
		report(&errno_errors, "memfd read: %zd of %llu bytes (%s)", got,
		       (unsigned long long)len, strerror(errno));
	} else {
		atomic_fetch_add(&data_checks, 1);
		for (uint64_t i = 0; i < len; i++)
			if (p[i] != m->shadow[at + i]) {
				report(&data_errors,
				       "memfd %s byte %llu reads %#x, model %#x",
				       kind_names[m->kind],
				       (unsigned long long)(at + i), p[i],
				       m->shadow[at + i]);
				break;
			}
	}
	pthread_rwlock_unlock(&m->data);
	pthread_rwlock_unlock(&slots[s].use);
	free(p);
}

/* Part of a mapping read-only, its bytes checked, then back. */
static void op_mprotect(struct thread *t)
{
	struct map *mp = some_map(t);
	uint64_t pages, first, count;

	if (!mp || mp->len < 3 * PAGE)
		return;
	pages = mp->len / PAGE;
	first = 1 + below(t, pages - 2);
	count = 1 + below(t, pages - 1 - first);
	expect("mprotect", err_of(mprotect(mp->addr + first * PAGE,
					   count * PAGE, PROT_READ)), 1, 0);
	mp->split = true;	/* VM_PFNMAP VMAs are not merged back */
	check_bytes("read after mprotect split", mp->b, mp->addr,
		    mp->off, mp->len);
	expect("mprotect back", err_of(mprotect(mp->addr + first * PAGE,
						count * PAGE, mp->prot)), 1, 0);
}

/* The head or the tail of a mapping unmapped. */
static void op_munmap_part(struct thread *t)
{
	struct map *mp = some_map(t);
	uint64_t cut;

	if (!mp || mp->len < 2 * PAGE)
		return;
	cut = (1 + below(t, mp->len / PAGE - 1)) * PAGE;
	if (below(t, 2)) {
		expect("munmap head", err_of(munmap(mp->addr, cut)), 1, 0);
		mp->addr += cut;
		mp->off += cut;
	} else {
		expect("munmap tail", err_of(munmap(mp->addr + mp->len - cut,
						    cut)), 1, 0);
	}
	mp->len -= cut;
	check_bytes("read after partial munmap", mp->b, mp->addr, mp->off,
		    mp->len);
}

/* Moved elsewhere (it works), or grown (VM_DONTEXPAND: EFAULT). */
static void op_mremap(struct thread *t)
{
	struct map *mp = some_map(t);
	void *to, *p;

	if (!mp)
		return;
	if (below(t, 3) == 0) {
		p = mremap(mp->addr, mp->len, mp->len + PAGE, MREMAP_MAYMOVE);
		expect("mremap growth", p == MAP_FAILED ? -errno : 0, 1, -EFAULT);
		if (p != MAP_FAILED) {
			mp->addr = p;
			mp->len += PAGE;
		}
		return;
	}
	to = mmap(NULL, mp->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (to == MAP_FAILED)
		return;
	/* mremap() moves one VMA: a range over several is EFAULT. */
	p = mremap(mp->addr, mp->len, mp->len, MREMAP_MAYMOVE | MREMAP_FIXED,
		   to);
	expect("mremap move", p == MAP_FAILED ? -errno : 0, 2, 0,
	       mp->split ? -EFAULT : 0);
	/*
	 * On failure, leave "to" alone: MREMAP_FIXED unmaps the target before
	 * it checks the source, so after an EFAULT the range is free, and
	 * another thread may have mapped there since; unmapping it would cut
	 * that thread's mapping (seen: its mremap failing with EFAULT, then
	 * SIGSEGV). Other failures would leave a PROT_NONE hole mapped.
	 */
	if (p != MAP_FAILED)
		mp->addr = p;
	check_bytes("read after mremap", mp->b, mp->addr, mp->off, mp->len);
}

/* A child reads the whole mapping against the model, then exits. */
static void op_fork(struct thread *t)
{
	struct memfd_obj *locked[MAX_ITEMS];
	struct map *mp = some_map(t);
	int n, status = 0;
	pid_t pid;

	if (!mp)
		return;
	n = lock_range(mp->b, mp->off, mp->len, false, locked);
	pid = fork();
	if (pid == 0) {
		if (atomic_load(&mp->b->diverged))
			_exit(0);
		for (uint64_t i = 0; i < mp->len; i++)
			if (mp->addr[i] != *shadow_at(mp->b, mp->off + i))
				_exit(1);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	unlock_all(locked, n);
	if (pid < 0)
		report(&errno_errors, "fork: %s", strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		report(&data_errors, "fork: the child read wrong bytes (status %#x)",
		       status);
	else
		atomic_fetch_add(&data_checks, 1);
}

/* What each advice gave the first time: later calls must agree. */
static atomic_int madvise_seen[3] = { 1, 1, 1 };

static void op_madvise(struct thread *t)
{
	static const int advice[3] = { MADV_DONTNEED, MADV_WILLNEED, MADV_COLD };
	struct map *mp = some_map(t);
	int a = below(t, 3), ret, want = 1;
	uint64_t pages, first, count;

	if (!mp)
		return;
	pages = mp->len / PAGE;
	first = below(t, pages);
	count = 1 + below(t, pages - first);
	ret = err_of(madvise(mp->addr + first * PAGE, count * PAGE, advice[a]));
	if (!atomic_compare_exchange_strong(&madvise_seen[a], &want, ret))
		expect("madvise (as the first time)", ret, 1, want);
	check_bytes("read after madvise", mp->b, mp->addr, mp->off, mp->len);
}

static void op_sync(struct thread *t)
{
	static const uint64_t valid[] = {
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE,
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW,
	};
	static const uint64_t invalid[] = {
		0, DMA_BUF_SYNC_END, 1ULL << 3, DMA_BUF_SYNC_RW | 1ULL << 40,
	};
	struct buf *b = buf_get(t);
	struct dma_buf_sync sync;
	bool started;
	int ret;

	if (!b)
		return;
	if (below(t, 5) == 0) {
		sync.flags = invalid[below(t, 4)];
		ret = err_of(ioctl(b->fd, DMA_BUF_IOCTL_SYNC, &sync));
		expect("sync with bad flags", ret, 1, -EINVAL);
	} else {
		/* An end before any start has nothing to sync with: EINVAL. */
		sync.flags = valid[below(t, 6)];
		started = atomic_load(&b->started);
		ret = err_of(ioctl(b->fd, DMA_BUF_IOCTL_SYNC, &sync));
		if (!(sync.flags & DMA_BUF_SYNC_END)) {
			if (expect("sync start", ret, 1, 0))
				atomic_store(&b->started, true);
		} else {
			expect("sync end", ret, 2, 0, started ? 0 : -EINVAL);
		}
	}
	buf_put(b);
}

/* A random seal on a random memfd, racing whatever uses it. */
/*
 * A random seal on the memfd of slot @s (or a random one), racing whatever
 * uses it; the fcntl's interval and the memfd's id go to @when and
 * @memfd_id when given (a create/seal race). Seals that retire the memfd
 * only while the kept memfds are within their budget.
 */
static void seal_on(struct thread *t, int s, double when[2], int *memfd_id)
{
	static const int seal[] = {
		F_SEAL_WRITE, F_SEAL_WRITE, F_SEAL_FUTURE_WRITE, F_SEAL_GROW,
		F_SEAL_SHRINK, F_SEAL_SEAL, F_SEAL_EXEC,
	};
	int which = seal[below(t, 7)], ret, before;
	struct memfd_obj *m;
	bool retire, racing;
	double t0, t1;

	if (which != F_SEAL_GROW && which != F_SEAL_SHRINK && !may_retire())
		which = below(t, 2) ? F_SEAL_GROW : F_SEAL_SHRINK;
	if (s < 0)
		s = below(t, NR_SLOTS);
	pthread_rwlock_rdlock(&slots[s].use);
	m = slots[s].m;
	atomic_fetch_add(&m->sealing, 1);
	if (atomic_load(&m->creating))
		atomic_fetch_add(&seal_overlaps_random, 1);
	before = atomic_load(&m->seals);
	t0 = now_us();
	ret = err_of(fcntl(m->fd, F_ADD_SEALS, which));
	t1 = now_us();
	if (when) {
		when[0] = t0;
		when[1] = t1;
		*memfd_id = m->id;
	}
	/* Another thread's F_SEAL_SEAL may have come first. */
	racing = atomic_load(&m->sealing) > 1 ||
		 (atomic_load(&m->seals) & F_SEAL_SEAL);
	/* F_SEAL_EXEC on an executable memfd brings the write seals along. */
	if (which == F_SEAL_EXEC)
		which |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
			 F_SEAL_FUTURE_WRITE;
	if (before & F_SEAL_SEAL)
		expect("seal after F_SEAL_SEAL", ret, 1, -EPERM);
	else if (which & F_SEAL_WRITE)
		expect("F_SEAL_WRITE", ret, 3, 0, -EBUSY, racing ? -EPERM : 0);
	else
		expect("seal", ret, 2, 0, racing ? -EPERM : 0);
	if (!ret)
		atomic_fetch_or(&m->seals, which);
	atomic_fetch_sub(&m->sealing, 1);
	retire = atomic_load(&m->seals) &
		 (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
	pthread_rwlock_unlock(&slots[s].use);
	/* A memfd no buffer can be made of any more makes way. */
	if (retire)
		slot_replace(s);
}

static void op_seal(struct thread *t)
{
	seal_on(t, -1, NULL, NULL);
}

static void op_replace(struct thread *t)
{
	if (may_retire())
		slot_replace(below(t, NR_SLOTS));
}

/* A hole punched: the memfd reads zeros there, buffers keep their pages. */
static void op_punch(struct thread *t)
{
	int s = below(t, NR_SLOTS), ret, seals;
	struct memfd_obj *m;
	uint64_t step, first, count;

	pthread_rwlock_wrlock(&slots[s].use);	/* no create in flight on it */
	m = slots[s].m;
	step = m->kind == HUGETLB ? SZ_2M : PAGE;
	first = below(t, m->size / step);
	count = 1 + below(t, m->size / step - first);
	pthread_rwlock_wrlock(&m->data);
	seals = atomic_load(&m->seals);
	ret = err_of(fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       first * step, count * step));
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		expect("punch (sealed)", ret, 1, -EPERM);
	else
		expect("punch", ret, 1, 0);
	if (!ret) {
		memset(m->shadow + first * step, 0, count * step);
		atomic_store(&m->punched, true);
		pthread_mutex_lock(&pool_lock);
		for (struct buf *b = live.next; b != &live; b = b->next)
			for (int i = 0; i < b->nitems; i++)
				if (b->items[i].m == m &&
				    b->items[i].offset < (first + count) * step &&
				    b->items[i].offset + b->items[i].size >
				    first * step)
					atomic_store(&b->diverged, true);
		pthread_mutex_unlock(&pool_lock);
	}
	pthread_rwlock_unlock(&m->data);
	pthread_rwlock_unlock(&slots[s].use);
}

/*
 * The most items of @b that name one page of one memfd. Where ranges
 * overlap most, one of them starts: only item starts need counting.
 */
static int page_repeats(const struct buf *b)
{
	int most = 0;

	for (int i = 0; i < b->nitems; i++) {
		const struct buf_item *it = &b->items[i];
		int n = 0;

		for (int k = 0; k < b->nitems; k++)
			n += b->items[k].m == it->m &&
			     b->items[k].offset <= it->offset &&
			     it->offset < b->items[k].offset + b->items[k].size;
		if (n > most)
			most = n;
	}
	return most;
}

/*
 * vgem imports a buffer through PRIME: it attaches and maps it on its
 * device, under the DMA-API debugger, racing everything else. This is a
 * smoke test of attach and map (the debugger and the kernel reports judge
 * it); nothing here reads what vgem's device sees. PRIME's export of an
 * imported object hands back the buffer itself: the export must be the
 * same file, and the bytes read through a mapping of it are read through
 * our own mmap, while vgem holds its mapping.
 */
static void op_vgem(struct thread *t)
{
	struct drm_prime_handle prime = { 0 };
	struct drm_gem_close gem_close = { 0 };
	bool close_first = below(t, 2);
	struct stat ours, back;
	struct buf *b;
	uint8_t *p;
	int ret;

	if (t->vgem < 0)
		return;
	b = buf_get(t);
	if (!b)
		return;
	/*
	 * vgem maps what it imports for as long as it holds it. 6.12's DMA-API
	 * debugger counts at most eight device-writable mappings of one
	 * cacheline at once and WARNs past that: with every thread importing
	 * at once, a page may appear only so often in each buffer. (A buffer
	 * that names a page nine times WARNs on its own when imported; that is
	 * the debugger's limit, not a fault of the mapping. See the README.)
	 */
	if (page_repeats(b) > vgem_max_repeats) {
		buf_put(b);
		return;
	}
	prime.fd = b->fd;
	ret = err_of(ioctl(t->vgem, DRM_IOCTL_PRIME_FD_TO_HANDLE, &prime));
	if (!expect("vgem import", ret, 1, 0)) {
		buf_put(b);
		return;
	}
	prime.fd = -1;
	prime.flags = DRM_CLOEXEC | DRM_RDWR;
	ret = err_of(ioctl(t->vgem, DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime));
	gem_close.handle = prime.handle;
	/* The importer's handle goes first, or after the bytes are read. */
	if (close_first)
		expect("vgem close", err_of(ioctl(t->vgem, DRM_IOCTL_GEM_CLOSE,
						  &gem_close)), 1, 0);
	if (expect("vgem export", ret, 1, 0)) {
		if (fstat(b->fd, &ours) || fstat(prime.fd, &back) ||
		    ours.st_dev != back.st_dev || ours.st_ino != back.st_ino)
			report(&data_errors,
			       "vgem's export is not the buffer it imported");
		p = mmap(NULL, b->size, PROT_READ, MAP_SHARED, prime.fd, 0);
		if (expect("vgem mmap", p == MAP_FAILED ? -errno : 0, 1, 0)) {
			check_bytes("read through our mmap, while vgem maps it",
				    b, p, 0, b->size);
			munmap(p, b->size);
		}
		close(prime.fd);
	}
	if (!close_first)
		expect("vgem close", err_of(ioctl(t->vgem, DRM_IOCTL_GEM_CLOSE,
						  &gem_close)), 1, 0);
	buf_put(b);
}

static void op_bad_ioctl(struct thread *t)
{
	int arg = 0;

	expect("unknown ioctl", err_of(ioctl(dev, _IO('u', 0x99), &arg)), 1,
	       -ENOTTY);
	expect("list of nothing", udmabuf_create_list(dev, 0, NULL, 0), 1,
	       -EINVAL);
}

/* ---- shared mappings, split and moved by another thread ---- */

/* A free reserved slot, now taken, or -1. */
static int rslot_get(struct thread *t)
{
	int start = below(t, NR_RSLOTS), r = -1;

	pthread_mutex_lock(&rslot_lock);
	for (int i = 0; i < NR_RSLOTS && r < 0; i++)
		if (rslot_owner[(start + i) % NR_RSLOTS] == -1) {
			r = (start + i) % NR_RSLOTS;
			rslot_owner[r] = 0;
		}
	pthread_mutex_unlock(&rslot_lock);
	return r;
}

/* A slot given back; a lost one (its room not reserved again) stays out. */
static void rslot_put(int r, bool lost)
{
	pthread_mutex_lock(&rslot_lock);
	rslot_owner[r] = lost ? -2 : -1;
	pthread_mutex_unlock(&rslot_lock);
}

/*
 * PROT_NONE over [@p, @p + @len): in place of what is mapped there
 * (@replace), or only where nothing is (an mremap() source left empty).
 */
static int reserve(void *p, size_t len, bool replace)
{
	void *q = mmap(p, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		       (replace ? MAP_FIXED : MAP_FIXED_NOREPLACE), -1, 0);

	if (q == MAP_FAILED)
		return -errno;
	if (q != p) {
		munmap(q, len);
		return -EEXIST;
	}
	return 0;
}

/*
 * Where a mapping of buffer offset @off goes in reserved slot @r: at a
 * 2 MiB boundary, in the buffer's own 2 MiB phase, or one page anywhere.
 */
static uint8_t *rslot_place(struct thread *t, int r, uint64_t off)
{
	uint64_t skew;

	switch (below(t, 3)) {
	case 0:
		skew = 0;
		break;
	case 1:
		skew = off % SZ_2M;
		break;
	default:
		skew = below(t, SZ_2M / PAGE) * PAGE;
		break;
	}
	return resv + r * RSLOT_SIZE + skew;
}

/* Unmapped (its room reserved again) and freed; @s->lock held for writing. */
static void smap_drop(struct smap *s)
{
	int ret = reserve(s->addr, s->len, true);

	expect("shared munmap", ret, 1, 0);
	if (ret)
		munmap(s->addr, s->len);
	rslot_put(s->rslot, ret != 0);
	buf_put(s->b);
	s->b = NULL;
	s->nsplits = 0;
}

/* ---- races set up on purpose ---- */

/* The board for a race of @kind, or false while another race holds it. */
static bool race_open(enum race_kind kind)
{
	int idle = RACE_IDLE;

	if (!atomic_compare_exchange_strong(&board.state, &idle, RACE_SETUP))
		return false;
	board.kind = kind;
	board.joined = 0;
	atomic_store(&board.finished, 0);
	memset(board.part, 0, sizeof(board.part));
	return true;
}

static void race_abort(void)
{
	atomic_store(&board.state, RACE_IDLE);
}

/*
 * Open for joining: wait up to 3 ms for another thread (then 0.5 ms more
 * for the rest), and start. Returns how many joined.
 */
static int race_go(struct thread *t)
{
	double until = now_us() + 3000;
	int joined = 0;

	pthread_mutex_lock(&board_lock);
	board.part[t->id] = true;
	board.initiator = t->id;
	atomic_store(&board.state, RACE_OPEN);
	pthread_mutex_unlock(&board_lock);
	while (now_us() < until && joined < (int)nr_workers - 1) {
		usleep(50);
		pthread_mutex_lock(&board_lock);
		if (!joined && board.joined && until > now_us() + 500)
			until = now_us() + 500;
		joined = board.joined;
		pthread_mutex_unlock(&board_lock);
	}
	pthread_mutex_lock(&board_lock);
	joined = board.joined;
	atomic_store(&board.state, RACE_GO);
	pthread_mutex_unlock(&board_lock);
	return joined;
}

/* One participant's part of the race, its interval recorded. */
static void race_part(struct thread *t)
{
	static const uint64_t dirs[] = {
		DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_RW,
	};
	struct dma_buf_sync sync;
	double when[2] = { 0, 0 };
	uint64_t at, flags;
	int ret;

	switch (board.kind) {
	case RACE_FAULT:
		/* The first access of each thread to a fresh mapping. */
		at = below(t, board.len / PAGE) * PAGE;
		when[0] = now_us();
		__atomic_load_n(board.addr + at, __ATOMIC_RELAXED);
		when[1] = now_us();
		check_bytes("read in a first-fault race", board.b,
			    board.addr + at, board.off + at, PAGE);
		break;
	case RACE_SYNC:
		flags = dirs[below(t, 3)];
		when[0] = now_us();
		sync.flags = DMA_BUF_SYNC_START | flags;
		ret = err_of(ioctl(board.b->fd, DMA_BUF_IOCTL_SYNC, &sync));
		if (expect("sync start in a race", ret, 1, 0)) {
			atomic_store(&board.b->started, true);
			sync.flags = DMA_BUF_SYNC_END | flags;
			ret = err_of(ioctl(board.b->fd, DMA_BUF_IOCTL_SYNC,
					   &sync));
			expect("sync end in a race", ret, 1, 0);
		}
		when[1] = now_us();
		break;
	case RACE_SEAL:
		if (t->id == board.initiator)
			create_on(t, board.slot, when, &board.memfd_id[t->id]);
		else
			seal_on(t, board.slot, when, &board.memfd_id[t->id]);
		break;
	default:
		break;
	}
	board.start[t->id] = when[0];
	board.end[t->id] = when[1];
}

/* At the top of a worker's loop: take part in a race that is open. */
static void race_join(struct thread *t)
{
	bool in;

	if (atomic_load(&board.state) != RACE_OPEN)
		return;
	pthread_mutex_lock(&board_lock);
	in = atomic_load(&board.state) == RACE_OPEN && !board.part[t->id];
	if (in) {
		board.part[t->id] = true;
		board.joined++;
	}
	pthread_mutex_unlock(&board_lock);
	if (!in)
		return;
	atomic_store(&t->op, OP_RACE_JOIN);
	while (atomic_load(&board.state) != RACE_GO)
		__builtin_ia32_pause();
	race_part(t);
	atomic_fetch_add(&board.finished, 1);
	atomic_fetch_add(&op_count[OP_RACE_JOIN], 1);
}

/*
 * The initiator, its own part done: wait for the others, count the pairs
 * whose intervals overlap (a create/seal race: the create against each
 * seal of the same memfd), free the board. Returns the pairs.
 */
static int race_close(int joined)
{
	enum race_kind kind = board.kind;
	int pairs = 0, me = board.initiator;

	while (atomic_load(&board.finished) < joined)
		usleep(20);
	for (int i = 0; i < MAX_TASKS; i++)
		for (int k = i + 1; k < MAX_TASKS; k++) {
			if (!board.part[i] || !board.part[k])
				continue;
			if (kind == RACE_SEAL &&
			    ((i != me && k != me) ||
			     board.memfd_id[i] != board.memfd_id[k]))
				continue;
			pairs += board.start[i] < board.end[k] &&
				 board.start[k] < board.end[i];
		}
	atomic_fetch_add(&races[kind], 1);
	if (joined)
		atomic_fetch_add(&races_joined[kind], 1);
	if (pairs)
		atomic_fetch_add(&races_parallel[kind], 1);
	atomic_fetch_add(&race_pairs[kind], pairs);
	atomic_store(&board.state, RACE_IDLE);
	return pairs;
}

/* Threads take their first faults of the fresh shared mapping @s at once. */
static void race_fault(struct thread *t, struct smap *s, struct buf *b)
{
	int joined;

	if (!race_open(RACE_FAULT))
		return;
	pthread_rwlock_rdlock(&s->lock);	/* kept for the joiners too */
	if (s->b != b) {
		pthread_rwlock_unlock(&s->lock);
		race_abort();
		return;
	}
	board.addr = s->addr;
	board.len = s->len;
	board.off = s->off;
	board.b = s->b;
	joined = race_go(t);
	race_part(t);
	race_close(joined);
	pthread_rwlock_unlock(&s->lock);
}

/* Threads bracket one buffer at once: first syncs now and then. */
static void op_race_sync(struct thread *t)
{
	struct buf *b;
	bool first;
	int joined;

	if (!race_open(RACE_SYNC))
		return;
	b = buf_get(t);
	if (!b) {
		race_abort();
		return;
	}
	board.b = b;
	first = !atomic_load(&b->started);
	joined = race_go(t);
	race_part(t);
	if (race_close(joined) && first)
		atomic_fetch_add(&first_sync_parallel, 1);
	buf_put(b);
}

/* A create over one slot's memfd while the others seal it. */
static void op_race_seal(struct thread *t)
{
	int joined;

	if (!race_open(RACE_SEAL))
		return;
	board.slot = below(t, NR_SLOTS);
	joined = race_go(t);
	race_part(t);
	race_close(joined);
}

/* A fresh shared mapping, at once faulted by several threads. */
static void op_smap(struct thread *t)
{
	struct smap *s = &smaps[below(t, NR_SMAPS)];
	uint64_t pages, first, count;
	struct buf *b = NULL;
	int r = -1, prot;
	uint8_t *at;
	void *p;

	if (pthread_rwlock_trywrlock(&s->lock))
		return;
	if (s->b && below(t, 2))
		smap_drop(s);
	if (!s->b)
		b = buf_get(t);
	if (b)
		r = rslot_get(t);
	if (r < 0) {
		if (b)
			buf_put(b);
		pthread_rwlock_unlock(&s->lock);
		return;
	}
	pages = b->size / PAGE;
	first = below(t, 2) ? 0 : below(t, pages);
	count = first ? 1 + below(t, pages - first) : pages;
	prot = below(t, 3) ? PROT_READ | PROT_WRITE : PROT_READ;
	at = rslot_place(t, r, first * PAGE);
	p = mmap(at, count * PAGE, prot, MAP_SHARED | MAP_FIXED, b->fd,
		 first * PAGE);
	if (!expect("shared mmap", p == MAP_FAILED ? -errno : 0, 1, 0)) {
		rslot_put(r, reserve(at, count * PAGE, true) != 0);
		buf_put(b);
		pthread_rwlock_unlock(&s->lock);
		return;
	}
	s->b = b;		/* the mapping keeps the reference */
	s->addr = p;
	s->len = count * PAGE;
	s->off = first * PAGE;
	s->prot = prot;
	s->rslot = r;
	s->nsplits = 0;
	pthread_rwlock_unlock(&s->lock);
	race_fault(t, s, b);
}

static void op_sunmap(struct thread *t)
{
	struct smap *s = &smaps[below(t, NR_SMAPS)];

	pthread_rwlock_wrlock(&s->lock);
	if (s->b)
		smap_drop(s);
	pthread_rwlock_unlock(&s->lock);
}

static void op_sread(struct thread *t)
{
	struct smap *s = &smaps[below(t, NR_SMAPS)];
	uint64_t at, len;

	pthread_rwlock_rdlock(&s->lock);
	if (s->b) {
		at = below(t, s->len);
		len = 1 + below(t, min_u64(s->len - at, SHARED_CHECK));
		check_bytes("read through a shared mapping", s->b, s->addr + at,
			    s->off + at, len);
	}
	pthread_rwlock_unlock(&s->lock);
}

static void op_swrite(struct thread *t)
{
	struct smap *s = &smaps[below(t, NR_SMAPS)];
	struct memfd_obj *locked[MAX_ITEMS];
	uint64_t at, len;
	uint8_t seed;
	int n;

	pthread_rwlock_rdlock(&s->lock);
	pthread_rwlock_rdlock(&s->wlock);
	if (s->b && (s->prot & PROT_WRITE)) {
		at = below(t, s->len);
		len = 1 + below(t, min_u64(s->len - at, SHARED_CHECK));
		seed = rnd(t);
		n = lock_range(s->b, s->off + at, len, true, locked);
		if (!atomic_load(&s->b->diverged))
			for (uint64_t i = 0; i < len; i++) {
				uint8_t v = pattern_at(seed, i);

				s->addr[at + i] = v;
				*shadow_at(s->b, s->off + at + i) = v;
			}
		unlock_all(locked, n);
	}
	pthread_rwlock_unlock(&s->wlock);
	pthread_rwlock_unlock(&s->lock);
}

/* A VMA boundary at offset @at of @s, kept in order. */
static void smap_split_at(struct smap *s, size_t at)
{
	int i = 0;

	if (!at || at >= s->len)
		return;
	while (i < s->nsplits && s->splits[i] < at)
		i++;
	if (i < s->nsplits && s->splits[i] == at)
		return;
	memmove(&s->splits[i + 1], &s->splits[i],
		(s->nsplits - i) * sizeof(s->splits[0]));
	s->splits[i] = at;
	s->nsplits++;
}

/*
 * Part of a shared mapping (now and then one 2 MiB block of the address
 * space) to the other protection and back, while the workers read it:
 * only writers wait. VM_PFNMAP VMAs are never merged back, so the pieces
 * stay apart; their boundaries are remembered for mremap().
 */
static void vm_mprotect(struct thread *t, struct smap *s)
{
	uint64_t pages, first, count;
	uintptr_t up;
	int other;

	pthread_rwlock_rdlock(&s->lock);
	if (!s->b || s->nsplits > MAX_SPLITS - 2) {
		pthread_rwlock_unlock(&s->lock);
		return;
	}
	pthread_rwlock_wrlock(&s->wlock);
	pages = s->len / PAGE;
	first = below(t, pages);
	count = 1 + below(t, pages - first);
	up = ((uintptr_t)s->addr + SZ_2M - 1) & ~(SZ_2M - 1);
	if (below(t, 3) == 0 && up + SZ_2M <= (uintptr_t)s->addr + s->len) {
		first = (up - (uintptr_t)s->addr) / PAGE;
		count = SZ_2M / PAGE;
	}
	other = s->prot ^ PROT_WRITE;
	if (expect("shared mprotect",
		   err_of(mprotect(s->addr + first * PAGE, count * PAGE, other)),
		   1, 0)) {
		smap_split_at(s, first * PAGE);
		smap_split_at(s, (first + count) * PAGE);
		atomic_fetch_add(&vm_mprotects, 1);
		usleep(below(t, 2000));
		if (!expect("shared mprotect back",
			    err_of(mprotect(s->addr + first * PAGE,
					    count * PAGE, s->prot)), 1, 0))
			s->prot &= other;	/* writers keep away */
	}
	pthread_rwlock_unlock(&s->wlock);
	pthread_rwlock_unlock(&s->lock);
}

/*
 * A shared mapping moved to another reserved slot (at a 2 MiB boundary,
 * in its buffer's phase, or anywhere), piece by piece, and read there.
 */
static void vm_mremap(struct thread *t, struct smap *s)
{
	uint8_t *from, *to;
	uint64_t a = 0, at, len;
	int r, ret = 0;

	pthread_rwlock_wrlock(&s->lock);
	r = s->b ? rslot_get(t) : -1;
	if (r < 0) {
		pthread_rwlock_unlock(&s->lock);
		return;
	}
	from = s->addr;
	to = rslot_place(t, r, s->off);
	/* mremap() moves one VMA at a time. */
	for (int i = 0; i <= s->nsplits && !ret; i++) {
		uint64_t end = i < s->nsplits ? s->splits[i] : s->len;
		void *p = mremap(from + a, end - a, end - a,
				 MREMAP_MAYMOVE | MREMAP_FIXED, to + a);

		ret = p == MAP_FAILED ? -errno : p == to + a ? 0 : -EFAULT;
		a = end;
		atomic_fetch_add(&vm_pieces, 1);
	}
	if (!expect("shared mremap", ret, 1, 0)) {
		/* Both places reserved again; the mapping is gone. */
		rslot_put(r, reserve(to, s->len, true) != 0);
		rslot_put(s->rslot, reserve(from, s->len, true) != 0);
		buf_put(s->b);
		s->b = NULL;
		s->nsplits = 0;
		pthread_rwlock_unlock(&s->lock);
		return;
	}
	/* The place it left is empty: nothing else may have taken it. */
	ret = reserve(from, s->len, false);
	expect("reserving a moved mapping's place again", ret, 1, 0);
	rslot_put(s->rslot, ret != 0);
	s->addr = to;
	s->rslot = r;
	atomic_fetch_add(&vm_mremaps, 1);
	if (!((uintptr_t)to & (SZ_2M - 1)))
		atomic_fetch_add(&vm_mremaps_2m, 1);
	at = below(t, s->len);
	len = 1 + below(t, min_u64(s->len - at, SHARED_CHECK));
	check_bytes("read after a shared mremap", s->b, s->addr + at,
		    s->off + at, len);
	pthread_rwlock_unlock(&s->lock);
}

/* The mprotect()/mremap() thread, on the workers' shared mappings. */
static void *vm_main(void *arg)
{
	struct thread *t = arg;

	current_thread = t;
	while (now_us() < deadline) {
		struct smap *s = &smaps[below(t, NR_SMAPS)];
		int op = below(t, 3) ? OP_VM_MPROTECT : OP_VM_MREMAP;

		atomic_store(&t->op, op);
		if (op == OP_VM_MPROTECT)
			vm_mprotect(t, s);
		else
			vm_mremap(t, s);
		atomic_fetch_add(&op_count[op], 1);
		atomic_fetch_add(&t->ops, 1);
		usleep(below(t, 1000));
	}
	t->done = true;
	return NULL;
}

/*
 * prctl(PR_SET_THP_DISABLE) on and off: faults of every mapping in the
 * process may or may not map PMD leaves, from one moment to the next.
 */
static void *thp_main(void *arg)
{
	struct thread *t = arg;

	current_thread = t;
	atomic_store(&t->op, OP_THP);
	while (now_us() < deadline) {
		for (int on = 1; on >= 0; on--) {
			expect("PR_SET_THP_DISABLE",
			       err_of(prctl(PR_SET_THP_DISABLE, on, 0, 0, 0)),
			       1, 0);
			/* Only this thread sets it: it reads back as set. */
			if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) != on)
				report(&errno_errors,
				       "PR_GET_THP_DISABLE does not read %d", on);
			usleep(below(t, 3000));
		}
		atomic_fetch_add(&op_count[OP_THP], 1);
		atomic_fetch_add(&thp_toggles, 1);
		atomic_fetch_add(&t->ops, 1);
	}
	t->done = true;
	return NULL;
}

static void (*const ops[NR_OPS])(struct thread *) = {
	op_create, op_close, op_mmap, op_munmap, op_read, op_write,
	op_memfd_write, op_memfd_read, op_mprotect, op_munmap_part, op_mremap,
	op_fork, op_madvise, op_sync, op_seal, op_replace, op_punch, op_vgem,
	op_bad_ioctl, op_smap, op_sunmap, op_sread, op_swrite, op_race_sync,
	op_race_seal,
};

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	int total = 0;

	current_thread = t;
	t->vgem = open_vgem();
	for (int i = 0; i < NR_OPS; i++)
		total += op_weight[i];
	while (now_us() < deadline) {
		int pick = below(t, total), op = 0;

		race_join(t);
		while (pick >= op_weight[op])
			pick -= op_weight[op++];
		atomic_store(&t->op, op);
		ops[op](t);
		atomic_fetch_add(&op_count[op], 1);
		atomic_fetch_add(&t->ops, 1);
	}
	for (int i = 0; i < MAX_MAPS; i++)
		if (t->maps[i].b)
			unmap(&t->maps[i]);
	if (t->vgem >= 0)
		close(t->vgem);
	t->done = true;
	return NULL;
}

/* The first line of a /proc file into @buf, or an empty string. */
static void first_line(const char *path, char *buf, int size)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(buf, size, f))
		buf[0] = 0;
	if (f)
		fclose(f);
}

/* Where a thread is, as the kernel sees it. */
static void print_wchan(pid_t tid)
{
	char path[64], wchan[64], stat[256];

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", tid);
	first_line(path, wchan, sizeof(wchan));
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	first_line(path, stat, sizeof(stat));
	printf("stress:   task %d wchan %s, stat %.60s\n", tid, wchan, stat);
}

static void print_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			print_wchan(atoi(e->d_name));
	if (d)
		closedir(d);
}

/*
 * A thread that makes no progress for @stall seconds is stuck (a deadlock
 * here or in the kernel): say where every thread is, and fail.
 */
/*
 * SIGSEGV or SIGBUS: say where (the address and the operation under way)
 * on the TAP line, then die of the signal as init expects.
 */
static void on_fatal_signal(int sig, siginfo_t *info, void *ucontext)
{
	struct thread *t = current_thread;
	char line[160];
	int len;

	if (getpid() != stress_pid)
		goto die;
	len = snprintf(line, sizeof(line),
		       "not ok 1 stress: signal %d at %p in thread %d (%s)\n",
		       sig, info->si_addr, t ? t->id : -1,
		       t ? op_names[atomic_load(&t->op)] : "main");
	if (write(STDOUT_FILENO, line, len) < 0)
		_exit(3);
die:
	signal(sig, SIG_DFL);
	raise(sig);
}

static void watch(struct thread *threads, unsigned long n, double stall)
{
	unsigned long last[MAX_TASKS] = { 0 };
	double since[MAX_TASKS];
	bool all_done;

	double beat = now_us();

	for (unsigned long i = 0; i < n; i++)
		since[i] = now_us();
	do {
		usleep(200 * 1000);
		/* A heartbeat: what each thread is at, every 10 s. */
		if (now_us() - beat > 10e6) {
			beat = now_us();
			printf("stress: at %.0f s:", (beat - (deadline - stress_seconds * 1e6)) / 1e6);
			for (unsigned long i = 0; i < n; i++)
				printf(" %s (%lu)", op_names[atomic_load(&threads[i].op)],
				       atomic_load(&threads[i].ops));
			printf("\n");
			fflush(stdout);
		}
		all_done = true;
		for (unsigned long i = 0; i < n; i++) {
			unsigned long ops = atomic_load(&threads[i].ops);

			if (threads[i].done)
				continue;
			all_done = false;
			if (ops != last[i]) {
				last[i] = ops;
				since[i] = now_us();
			} else if (now_us() - since[i] > stall * 1e6) {
				printf("not ok 1 stress: thread %lu stuck in %s for %.0f s\n",
				       i, op_names[atomic_load(&threads[i].op)], stall);
				for (unsigned long k = 0; k < n; k++)
					printf("stress: thread %lu: %s, %lu ops%s\n", k,
					       op_names[atomic_load(&threads[k].op)],
					       atomic_load(&threads[k].ops),
					       threads[k].done ? ", done" : "");
				print_tasks();
				fflush(stdout);
				_exit(2);
			}
		}
	} while (!all_done);
}

/* ---- setup and the end ---- */

/* Kernel reports in the log (what parse-console.py also looks for). */
static int kernel_reports(void)
{
	static const char *const marks[] = {
		"WARNING:", "BUG:", "Oops", "KASAN", "UBSAN", "DMA-API: ",
		"possible circular locking", "possible recursive locking",
		"suspected memory leak", "KFENCE: ", "list_add corruption",
		"list_del corruption", "ODEBUG:", "blocked for more than",
		"detected stall", "Bad page state",
	};
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), n = 0;
	char *log, *line, *save;

	/* A log that cannot be read proves nothing: that is a report too. */
	if (size <= 0) {
		printf("stress: klogctl: no log size (%s): counted as a report\n",
		       size < 0 ? strerror(errno) : "empty");
		return 1;
	}
	log = calloc(1, size + 1);
	size = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, size);
	if (size <= 0) {
		printf("stress: klogctl: reading the log failed (%s): counted as a report\n",
		       size < 0 ? strerror(errno) : "empty");
		free(log);
		return 1;
	}
	for (line = strtok_r(log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
			if (strstr(line, marks[i]) &&
			    !strstr(line, "DMA-API: preallocated") &&
			    !strstr(line, "DMA-API: debugging enabled")) {
				n++;
				break;
			}
	free(log);
	return n;
}

/*
 * kmemleak's scan, if the kernel has it: the objects it reports. Twice,
 * 6 s apart: it reports only objects older than 5 s that two scans miss.
 */
static int kmemleak_scan(void)
{
	const char *path = "/sys/kernel/debug/kmemleak";
	char line[256];
	int fd, n = 0;
	FILE *f;

	if (access(path, F_OK)) {
		mkdir("/sys/kernel/debug", 0755);
		mount("none", "/sys/kernel/debug", "debugfs", 0, NULL);
	}
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (i)
			sleep(6);
		if (write(fd, "scan", 4) != 4) {
			printf("stress: kmemleak scan: %s\n", strerror(errno));
			close(fd);
			return 1;	/* a scan that cannot run is a report */
		}
	}
	close(fd);
	f = fopen("/sys/kernel/debug/kmemleak", "r");
	while (f && fgets(line, sizeof(line), f))
		n += !strncmp(line, "unreferenced object", 19);
	if (f)
		fclose(f);
	return n;
}

/* The room shared mappings live and move in, each slot PROT_NONE. */
static void reserve_area(void)
{
	size_t len = (NR_RSLOTS + 1) * RSLOT_SIZE;
	/* Far below where mmap() places things, so nothing lands in a gap. */
	uint8_t *p = mmap((void *)0x200000000000UL, len, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			  MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		p = mmap(NULL, len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		printf("not ok 1 stress: reserving %zu bytes: %s\n", len,
		       strerror(errno));
		exit(1);
	}
	resv = (uint8_t *)(((uintptr_t)p + RSLOT_SIZE - 1) & ~(RSLOT_SIZE - 1));
	for (int r = 0; r < NR_RSLOTS; r++)
		rslot_owner[r] = -1;
	for (int i = 0; i < NR_SMAPS; i++) {
		int writers_first = PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
		pthread_rwlockattr_t attr;

		/* The mremap() thread must not starve behind the readers. */
		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, writers_first);
		pthread_rwlock_init(&smaps[i].lock, &attr);
		pthread_rwlock_init(&smaps[i].wlock, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
}

/*
 * Descriptors for every memfd kept to the end, and their memory: a third
 * of what is available now, and the huge page pool but a floor for the
 * refills of punched holes.
 */
static void kept_limits(void)
{
	struct rlimit nofile;

	getrlimit(RLIMIT_NOFILE, &nofile);
	if (nofile.rlim_max < 65536)
		nofile.rlim_max = 65536;	/* root may raise it */
	nofile.rlim_cur = nofile.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &nofile))
		getrlimit(RLIMIT_NOFILE, &nofile);
	kept_max_fds = nofile.rlim_cur > 1024 ? nofile.rlim_cur - 512 :
		       nofile.rlim_cur / 2;
	kept_budget = meminfo_kb("MemAvailable") * 1024 / 3;
	hugetlb_floor = 8;
	printf("stress: keeping every memfd: up to %lu fds, %lu MiB\n",
	       kept_max_fds, kept_budget >> 20);
}

/*
 * At the end, with the workers gone: every byte of every live buffer
 * against the model, through the shared mappings and then a mapping of
 * each whole buffer, and every buffer closed. Returns the bytes checked.
 */
static uint64_t check_live_buffers(int *nbufs)
{
	uint64_t bytes = 0;

	for (int i = 0; i < NR_SMAPS; i++) {
		struct smap *s = &smaps[i];

		if (!s->b)
			continue;
		check_bytes("read through a shared mapping at the end", s->b,
			    s->addr, s->off, s->len);
		bytes += s->len;
		smap_drop(s);
	}
	for (int i = 0; i < MAX_BUFS; i++) {
		struct buf *b = pool[i];
		uint8_t *p;

		if (!b)
			continue;
		pool[i] = NULL;
		p = mmap(NULL, b->size, PROT_READ, MAP_SHARED, b->fd, 0);
		if (expect("mmap at the end", p == MAP_FAILED ? -errno : 0, 1, 0)) {
			check_bytes("read at the end", b, p, 0, b->size);
			bytes += b->size;
			munmap(p, b->size);
		}
		(*nbufs)++;
		buf_put(b);
	}
	return bytes;
}

/*
 * Every memfd the run made, through the descriptor kept for it: with no
 * buffer left, each must take F_SEAL_WRITE (a pinned one refuses, EBUSY).
 * One sealed with F_SEAL_SEAL alone cannot say; one that took
 * F_SEAL_WRITE during the run had no pin then and could get none after.
 * The descriptors are closed. Returns the memfds refusing.
 */
static int check_kept_memfds(int *checked, int *unknown)
{
	int pins = 0;

	for (int i = 0; i < nr_kept; i++) {
		struct kept *k = &kept[i];
		int seals = fcntl(k->fd, F_GET_SEALS);

		if (seals < 0) {
			report(&errno_errors, "memfd %d: F_GET_SEALS: %s",
			       k->id, strerror(errno));
		} else if ((seals & F_SEAL_SEAL) && !(seals & F_SEAL_WRITE)) {
			(*unknown)++;
		} else if (!(seals & F_SEAL_WRITE) &&
			   fcntl(k->fd, F_ADD_SEALS, F_SEAL_WRITE)) {
			printf("stress: memfd %s#%d refuses F_SEAL_WRITE: %s\n",
			       kind_names[k->kind], k->id, strerror(errno));
			pins++;
		} else {
			(*checked)++;
		}
		close(k->fd);
	}
	return pins;
}

int main(int argc, char **argv)
{
	unsigned long seed = 1, seconds = 120, nthreads = 4, total_ops = 0;
	struct thread threads[MAX_TASKS] = { 0 };
	const char *env = getenv("udmabuf_stress");
	int pins_left = 0, reports, leaks, tap = 0, vgem, nbufs = 0;
	int memfds_checked = 0, memfds_unknown = 0;
	long free_before, slab_before;
	uint64_t end_bytes;
	double start, elapsed;

	if (argc > 1)
		seed = strtoul(argv[1], NULL, 0);
	if (argc > 2)
		seconds = strtoul(argv[2], NULL, 0);
	if (argc > 3)
		nthreads = strtoul(argv[3], NULL, 0);
	if (argc == 1 && env)	/* commas: the kernel command line splits at spaces */
		sscanf(env, "%lu,%lu,%lu", &seed, &seconds, &nthreads);
	if (!nthreads || nthreads > MAX_THREADS)
		nthreads = 4;
	printf("stress: seed %lu, %lu s, %lu threads\n", seed, seconds, nthreads);
	vgem_max_repeats = nthreads < 8 ? 8 / nthreads : 1;
	nr_workers = nthreads;
	fflush(stdout);

	dev = open("/dev/udmabuf", O_RDONLY | O_CLOEXEC);
	if (dev < 0) {
		printf("not ok 1 stress: no /dev/udmabuf\n");
		return 1;
	}
	not_memfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	unsealed = memfd_create("unsealed", MFD_CLOEXEC);
	if (ftruncate(unsealed, PAGE))
		return 1;
	vgem = open_vgem();
	if (vgem >= 0)
		close(vgem);
	shmem_thp("always");
	kept_limits();
	reserve_area();
	{
		int probe = memfd_sealed("probe", SZ_2M, MFD_HUGETLB, 0);

		hugetlb_ok = probe >= 0;
		if (probe >= 0)
			close(probe);
	}
	printf("stress: pools: %s, vgem %s\n",
	       hugetlb_ok ? "shmem-4k, shmem-thp, hugetlb" : "shmem-4k, shmem-thp (no hugetlb)",
	       vgem >= 0 ? "yes" : "no");
	for (int s = 0; s < NR_SLOTS; s++) {
		pthread_rwlock_init(&slots[s].use, NULL);
		slots[s].m = memfd_new(slot_kind(s));
	}
	free_before = meminfo_kb("MemFree");
	slab_before = meminfo_kb("Slab");
	{
		struct sigaction sa = {
			.sa_sigaction = on_fatal_signal,
			.sa_flags = SA_SIGINFO | SA_NODEFER,
		};

		fflush(stdout);
		stress_pid = getpid();
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
	}

	start = now_us();
	run_start = start;
	deadline = start + seconds * 1e6;
	stress_seconds = seconds;
	nr_tasks = nthreads + 2;
	for (unsigned long i = 0; i < nr_tasks; i++) {
		void *(*fn)(void *) = i < nthreads ? thread_main :
				      i == nthreads ? vm_main : thp_main;

		threads[i].id = i;
		threads[i].rng = (seed * 0x9e3779b97f4a7c15ULL) ^ (i + 1) * 0xbf58476d1ce4e5b9ULL;
		if (!threads[i].rng)
			threads[i].rng = 1;
		pthread_create(&threads[i].tid, NULL, fn, &threads[i]);
	}
	watch(threads, nr_tasks, 60);
	for (unsigned long i = 0; i < nr_tasks; i++) {
		pthread_join(threads[i].tid, NULL);
		total_ops += threads[i].ops;
	}
	elapsed = (now_us() - start) / 1e6;

	/* Every live buffer read whole, then closed: none may be left. */
	end_bytes = check_live_buffers(&nbufs);
	if (live.next != &live)
		report(&errno_errors, "buffers still referenced at the end");

	/* Every slot's memfd as the model says. */
	for (int s = 0; s < NR_SLOTS; s++) {
		struct memfd_obj *m = slots[s].m;
		uint8_t *p = malloc(m->size);

		if (pread(m->fd, p, m->size, 0) != (ssize_t)m->size ||
		    memcmp(p, m->shadow, m->size))
			report(&data_errors, "memfd %s of slot %d differs from the model",
			       kind_names[m->kind], s);
		free(p);
		close(m->fd);
	}
	/* Every memfd ever made free of pins. */
	pins_left = check_kept_memfds(&memfds_checked, &memfds_unknown);
	close(dev);
	close(not_memfd);
	close(unsealed);

	printf("stress: %.0f ops/s\n", total_ops / elapsed);
	printf("stress: operations:");
	for (int i = 0; i < NR_OPS; i++)
		printf(" %s %lu", op_names[i], atomic_load(&op_count[i]));
	printf("\n");
	printf("stress: %lu byte checks (%lu skipped on buffers under a punched hole)\n",
	       atomic_load(&data_checks), atomic_load(&skipped_checks));
	printf("stress: end: %d buffers and %d shared mappings read whole (%llu bytes),",
	       nbufs, NR_SMAPS, (unsigned long long)end_bytes);
	printf(" %d memfds free of pins, %d not checkable (F_SEAL_SEAL alone), %d pinned\n",
	       memfds_checked, memfds_unknown, pins_left);
	printf("stress: memfds: %d made, %lu MiB kept, %lu retirements held back,",
	       nr_kept, atomic_load(&kept_bytes) >> 20,
	       atomic_load(&retire_held));
	printf(" %lu hugetlb memfds made as shmem-thp", atomic_load(&hugetlb_fallbacks));
	if (atomic_load(&first_fallback_ms))
		printf(" (the first at %.1f s)", atomic_load(&first_fallback_ms) / 1e3);
	printf("\n");
	printf("stress: parallel:");
	for (int k = 0; k < NR_RACES; k++)
		printf("%s %s %lu of %lu races (%lu joined, %lu overlapping pairs)",
		       k ? "," : "", race_names[k],
		       atomic_load(&races_parallel[k]), atomic_load(&races[k]),
		       atomic_load(&races_joined[k]), atomic_load(&race_pairs[k]));
	printf(", first syncs %lu, create/seal in random ops %lu\n",
	       atomic_load(&first_sync_parallel),
	       atomic_load(&seal_overlaps_random));
	printf("stress: shared mappings: %lu mprotect toggles, %lu mremap moves",
	       atomic_load(&vm_mprotects), atomic_load(&vm_mremaps));
	printf(" (%lu to 2 MiB boundaries, %lu VMAs), %lu THP-disable toggles\n",
	       atomic_load(&vm_mremaps_2m), atomic_load(&vm_pieces),
	       atomic_load(&thp_toggles));
	printf("stress: MemFree %ld kB -> %ld kB, Slab %ld kB -> %ld kB\n",
	       free_before, meminfo_kb("MemFree"), slab_before,
	       meminfo_kb("Slab"));
	fflush(stdout);
	leaks = kmemleak_scan();
	if (leaks >= 0)
		printf("stress: kmemleak: %d unreferenced objects\n", leaks);
	reports = kernel_reports() + (leaks > 0 ? leaks : 0);

	printf("%sok %d data\n", data_errors ? "not " : "", ++tap);
	printf("%sok %d errnos\n", errno_errors ? "not " : "", ++tap);
	printf("%sok %d pins\n", pins_left ? "not " : "", ++tap);
	printf("%sok %d kernel reports\n", reports ? "not " : "", ++tap);
	printf("stress: seed %lu, %lu ops, %lu threads, %.0f s, %lu data errors, "
	       "%lu unexpected errnos, %d pins left, %d kernel reports\n",
	       seed, total_ops, nthreads, elapsed,
	       atomic_load(&data_errors), atomic_load(&errno_errors), pins_left,
	       reports);
	return data_errors || errno_errors || pins_left || reports;
}
