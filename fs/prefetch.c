/*
 * prefetch.c - decode the next files of a series ahead of a reader.
 *
 * Programs read a series file after file (a viewer loading a stack, cp,
 * rsync, a backup, an export script given a file list), and each file is
 * small next to the cost of its decode.  When a file is first read from its
 * start, the next few files of its series (in listing order) are queued,
 * and helper threads (one per core) decode them whole into the daemon's
 * memory: when the reader gets there, its read is a copy, and the decodes
 * of later files run on the other cores meanwhile.  A read of a file whose
 * decode is under way waits for it; a file still queued is struck from the
 * queue and decoded by the read itself.
 *
 * Files of a series whose folder was listed (readdirplus made the kernel
 * know their inodes) are also pushed into the kernel's page cache with
 * fuse_lowlevel_notify_store(), all but their first page: the reader's READ
 * of that page is the one round trip its file costs (a copy of a page), and
 * it is what tells us the reader moved on: as any READ from a file's
 * start, it queues the next files.  (Pushed whole, a series read without
 * a single READ never hinted again, and every seventh file was decoded by
 * the reader while the helpers sat idle.)  The bytes are dropped here once
 * that first page is read.
 *
 * Memory: at most PREFETCH_BYTES of decoded files are held (reserved when
 * a decode starts); a file leaves when a read reaches its end, or, if
 * nobody reads it, when a later hint needs its room.  Files larger than
 * PREFETCH_MAX_FILE are left to normal reads.
 *
 * Invariant: a slot's data is written only while it is DECODING (by the one
 * helper that decodes it, outside the lock) and freed only when no pin
 * holds it; everything else changes under p->m.
 */
#include "prefetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"

#define FUSE_USE_VERSION 314
#include <fuse_log.h>

#define SLOTS 16
#define PREFETCH_BYTES (32u << 20)
#define PREFETCH_MAX_FILE (16u << 20)
#define KEEP_BUFFER (1u << 20)
#define RECENT 512
#define LISTED 256

enum { S_FREE, S_QUEUED, S_DECODING, S_READY };

struct ahead {
	int64_t id;
	int state;
	uint8_t *data;              /* READY: the whole file; else NULL or a spare buffer */
	size_t cap;                 /* of data */
	uint64_t size;              /* from the catalogue; checked on decode */
	uint64_t seq;               /* when queued: queue order and age */
	int refs;                   /* pins */
	int finished;               /* read to its end, or pushed: drop when unpinned */
	uint64_t pushed_from;       /* the kernel holds [pushed_from, size); 0: nothing */
	uint64_t read_to;           /* the furthest end a read of it reached */
	int wanted;                 /* a read waited for its decode */
};

struct prefetch {
	struct store *store;
	struct fuse_session *se;
	int nthreads;
	uint64_t page;              /* the kernel's page size */
	pthread_t th[8];
	pthread_mutex_t m;          /* guards everything below */
	pthread_cond_t work;        /* a slot was queued, or stop */
	pthread_cond_t changed;     /* a decode ended */
	int stop;
	struct ahead slot[SLOTS];
	uint64_t seq;
	uint64_t bytes;             /* held and reserved by decodes */
	int64_t recent[RECENT];     /* ids hinted lately: queue each once */
	int recent_next;
	struct catalog *hint_cat;   /* for the sibling query */
	int64_t listed[LISTED];     /* series whose folder was listed lately */
	int listed_next;
	int nlisted;
	long hits, waits, misses, pushed, dropped;   /* for DCMFS_PREFETCH_STATS */
};

static int was_listed(struct prefetch *p, int64_t series)
{
	for (int i = 0; i < LISTED; i++)
		if (p->listed[i] == series)
			return 1;
	return 0;
}

void prefetch_listed(struct prefetch *p, int64_t series_id)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->m);
	if (!was_listed(p, series_id)) {
		p->listed[p->listed_next] = series_id;
		p->listed_next = (p->listed_next + 1) % LISTED;
		p->nlisted++;
	}
	pthread_mutex_unlock(&p->m);
}

static int seen(struct prefetch *p, int64_t id)
{
	for (int i = 0; i < RECENT; i++)
		if (p->recent[i] == id)
			return 1;
	return 0;
}

static void remember(struct prefetch *p, int64_t id)
{
	p->recent[p->recent_next] = id;
	p->recent_next = (p->recent_next + 1) % RECENT;
}

/* Empty a slot nobody pins (under m).  A buffer up to KEEP_BUFFER bytes
 * stays with the slot for its next file: a fresh one would cost a page
 * fault per 4 KiB again (glibc gives memory back between files). */
static void slot_drop(struct prefetch *p, struct ahead *a)
{
	if (a->state == S_READY || a->state == S_DECODING)
		p->bytes -= a->size;
	uint8_t *keep = a->cap <= KEEP_BUFFER ? a->data : NULL;
	size_t cap = keep ? a->cap : 0;
	if (!keep)
		free(a->data);
	*a = (struct ahead){ .state = S_FREE, .data = keep, .cap = cap };
}

/* The oldest unpinned decoded file queued before `before`, to make room. */
static struct ahead *oldest_ready(struct prefetch *p, uint64_t before)
{
	struct ahead *v = NULL;
	for (int i = 0; i < SLOTS; i++) {
		struct ahead *a = &p->slot[i];
		if (a->state == S_READY && !a->refs && a->seq < before && (!v || a->seq < v->seq))
			v = a;
	}
	return v;
}

void prefetch_hint(struct prefetch *p, int64_t instance_id, int ahead)
{
	if (!p)
		return;
	int64_t ids[16];
	uint64_t sizes[16];
	if (ahead > 16)
		ahead = 16;
	pthread_mutex_lock(&p->m);
	if (!p->hint_cat && store_catalog(p->store, &p->hint_cat)) {
		pthread_mutex_unlock(&p->m);
		return;
	}
	if (!seen(p, instance_id))
		remember(p, instance_id);       /* read directly: never fetch it */
	int n = catalog_next_in_series(p->hint_cat, instance_id, ids, sizes, ahead);
	uint64_t first = p->seq + 1;            /* this hint's own slots are kept */
	for (int i = 0; i < n; i++) {
		if (sizes[i] > PREFETCH_MAX_FILE || seen(p, ids[i]))
			continue;
		struct ahead *a = NULL;
		for (int k = 0; k < SLOTS && !a; k++)
			if (p->slot[k].state == S_FREE)
				a = &p->slot[k];
		if (!a && (a = oldest_ready(p, first))) {
			slot_drop(p, a);        /* a file nobody read: the reader moved on */
			p->dropped++;
		}
		if (!a)
			break;
		remember(p, ids[i]);
		a->id = ids[i];
		a->state = S_QUEUED;
		a->size = sizes[i];
		a->seq = ++p->seq;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->m);
}

int prefetch_take(struct prefetch *p, int64_t id, struct prefetch_pin *pin)
{
	if (!p)
		return 0;
	int got = 0;
	pthread_mutex_lock(&p->m);
	for (;;) {
		struct ahead *a = NULL;
		for (int i = 0; i < SLOTS && !a; i++)
			if (p->slot[i].state != S_FREE && p->slot[i].id == id)
				a = &p->slot[i];
		if (!a)
			break;
		if (a->state == S_QUEUED) {     /* not started: the reader is quicker */
			slot_drop(p, a);
			break;
		}
		if (a->state == S_DECODING) {
			p->waits++;
			a->wanted = 1;
			pthread_cond_wait(&p->changed, &p->m);
			continue;               /* the slot may be another file's by now */
		}
		p->hits++;
		a->refs++;
		*pin = (struct prefetch_pin){ .data = a->data, .size = a->size, .slot = a };
		got = 1;
		break;
	}
	p->misses += !got;
	pthread_mutex_unlock(&p->m);
	return got;
}

void prefetch_put(struct prefetch *p, struct prefetch_pin *pin, uint64_t read_end)
{
	struct ahead *a = pin->slot;
	pthread_mutex_lock(&p->m);
	if (read_end > a->read_to)
		a->read_to = read_end;
	a->finished |= a->read_to >= (a->pushed_from ? a->pushed_from : a->size);
	if (--a->refs == 0 && a->finished)
		slot_drop(p, a);
	pthread_mutex_unlock(&p->m);
	pin->slot = NULL;
}

/* Next queued slot, oldest first, with its room reserved; NULL at stop. */
static struct ahead *next_job(struct prefetch *p)
{
	for (;;) {
		if (p->stop)
			return NULL;
		struct ahead *a = NULL;
		for (int i = 0; i < SLOTS; i++)
			if (p->slot[i].state == S_QUEUED && (!a || p->slot[i].seq < a->seq))
				a = &p->slot[i];
		if (!a) {
			pthread_cond_wait(&p->work, &p->m);
			continue;
		}
		struct ahead *v;
		while (p->bytes + a->size > PREFETCH_BYTES && (v = oldest_ready(p, a->seq)))
			slot_drop(p, v);
		if (p->bytes + a->size > PREFETCH_BYTES) {
			slot_drop(p, a);        /* no room: its reader will decode it */
			continue;
		}
		a->state = S_DECODING;
		p->bytes += a->size;
		return a;
	}
}

/* Decode instance id whole (`size` bytes) into *buf (capacity *cap, grown
 * as needed; the caller's either way): 0, or -1 when it does not. */
static int decode_whole(struct prefetch *p, struct catalog *cat, struct inst_scratch *sc,
			int64_t id, uint64_t size, uint8_t **buf, size_t *cap)
{
	struct inst_file *f;
	if (inst_file_open(p->store, cat, id, &f))
		return -1;
	int r = inst_file_size(f) == size ? 0 : -1;
	if (!r && *cap < size) {
		free(*buf);
		*cap = 0;
		if ((*buf = malloc(size)))
			*cap = size;
		else
			r = -1;
	}
	if (!r && inst_file_read(f, sc, 0, *buf, size) != (int64_t)size)
		r = -1;
	inst_file_close(f);
	return r;
}

static void *prefetch_main(void *arg)
{
	struct prefetch *p = arg;
	struct catalog *cat = NULL;
	/* The helpers decode files side by side: each decodes its own alone. */
	struct inst_scratch sc = { .ctx = codec_ctx_new(), .alone = 1 };
	if (store_catalog(p->store, &cat) || !sc.ctx)
		goto out;
	sc.cat = cat;
	pthread_mutex_lock(&p->m);
	struct ahead *a;
	while ((a = next_job(p))) {
		int64_t id = a->id;
		uint64_t size = a->size;
		int listed = p->nlisted > 0;
		uint8_t *data = a->data;        /* the slot's spare buffer, if any */
		size_t cap = a->cap;
		a->data = NULL;
		a->cap = 0;
		pthread_mutex_unlock(&p->m);
		int bad = decode_whole(p, cat, &sc, id, size, &data, &cap);
		struct cat_node self = { 0 };
		listed = listed && !bad && catalog_node(cat, CAT_INSTANCE, id, &self) == 0;
		pthread_mutex_lock(&p->m);
		listed = listed && was_listed(p, self.parent);
		a->data = data;
		a->cap = cap;
		if (bad)
			slot_drop(p, a);        /* damaged or gone: the read will say so */
		else
			a->state = S_READY;
		pthread_cond_broadcast(&p->changed);
		/* A read that came while it was decoding asked the kernel's
		 * readahead for all its pages (none was pushed yet), and holds
		 * them locked: that READ fills them; a push would wait for it
		 * and copy every byte a second time.  A file of one page: its
		 * READ takes it. */
		if (!listed || a->wanted || size <= p->page)
			continue;
		/* Into the kernel's page cache but for the first page (see the
		 * top).  (-ENOENT: the kernel forgot the inode meanwhile; fine.) */
		a->refs++;
		pthread_mutex_unlock(&p->m);
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size - p->page);
		bv.buf[0].mem = data + p->page;
		int r = fuse_lowlevel_notify_store(p->se, ino_make(K_INSTANCE, id), p->page, &bv, 0);
		pthread_mutex_lock(&p->m);
		if (r == 0) {
			a->pushed_from = p->page;
			a->finished |= a->read_to >= p->page;
		}
		p->pushed += r == 0;
		if (--a->refs == 0 && a->finished)
			slot_drop(p, a);
	}
	pthread_mutex_unlock(&p->m);
out:
	catalog_close(cat);
	codec_ctx_free(sc.ctx);
	free(sc.buf);
	return NULL;
}

struct prefetch *prefetch_start(struct store *s, struct fuse_session *se, int nthreads)
{
	struct prefetch *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->store = s;
	p->se = se;
	long page = sysconf(_SC_PAGESIZE);
	p->page = page > 0 ? (uint64_t)page : 4096;
	pthread_mutex_init(&p->m, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->changed, NULL);
	if (nthreads > 8)
		nthreads = 8;
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&p->th[p->nthreads], NULL, prefetch_main, p) == 0)
			p->nthreads++;
	return p;
}

void prefetch_stop(struct prefetch *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->m);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->m);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->th[i], NULL);
	for (int i = 0; i < SLOTS; i++)
		free(p->slot[i].data);
	if (getenv("DCMFS_PREFETCH_STATS"))
		fuse_log(FUSE_LOG_NOTICE, "dcmfs: prefetch: %ld reads taken (%ld waited), %ld not held, "
			 "%ld files pushed to the page cache, %ld dropped unread\n",
			 p->hits, p->waits, p->misses, p->pushed, p->dropped);
	catalog_close(p->hint_cat);
	pthread_mutex_destroy(&p->m);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->changed);
	free(p);
}
