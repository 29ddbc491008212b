/*
 * reader.c - random reads of a stored instance, with a last-chunk cache.
 *
 * Invariants:
 *  1. The segments tile the file: segment i covers [base[i], base[i+1]).
 *  2. Within a segment the chunk starts start[0] = 0 < start[1] < ... and
 *     start[nchunks] = raw size (checked at open against the blob header).
 *  3. A cache slot holds the whole decoded chunk (seg, chunk); slots are
 *     replaced, never changed in place, under f->lock.  Decoding happens
 *     outside the lock.
 */
#include "reader.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUSE_USE_VERSION 314
#include <fuse_log.h>

#include "record.h"

#define CACHE_SLOTS 2

struct seg {
	struct blob_ref ref;
	struct blob_view view;
	uint64_t base;          /* file offset of the segment's first byte */
	uint32_t nchunks;
	uint64_t *start;        /* nchunks + 1 raw offsets */
};

struct slot {
	int seg;                /* -1 = empty */
	uint32_t chunk;
	uint32_t len;
	uint8_t *data;
	size_t cap;
	uint64_t used;          /* LRU clock */
};

struct inst_file {
	int64_t id;
	struct store *store;    /* for naming damaged files in logs */
	uint64_t size;
	int nseg;
	struct seg seg[RECORD_MAX_SEGMENTS];
	pthread_mutex_t lock;   /* guards slot[], clock */
	struct slot slot[CACHE_SLOTS];
	uint64_t clock;
	atomic_uint_fast64_t decodes;
};

void inst_file_close(struct inst_file *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->nseg; i++) {
		blob_view_release(&f->seg[i].view);
		free(f->seg[i].start);
	}
	for (int i = 0; i < CACHE_SLOTS; i++)
		free(f->slot[i].data);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static int seg_chunks(struct inst_file *f, struct seg *sg)
{
	uint64_t raw;
	uint32_t n;
	if (codec_info(sg->view.enc, sg->view.enc_size, &raw, &n) || raw != sg->ref.raw_size)
		return -EIO;
	if (!(sg->start = malloc(((size_t)n + 1) * sizeof(*sg->start))))
		return -ENOMEM;
	uint64_t expect = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off;
		uint32_t len;
		if (codec_chunk_span(sg->view.enc, sg->view.enc_size, i, &off, &len) ||
		    off != expect || len == 0)
			return -EIO;
		sg->start[i] = off;
		expect = off + len;
	}
	if (expect != raw)
		return -EIO;
	sg->start[n] = raw;
	sg->nchunks = n;
	(void)f;
	return 0;
}

/* Where a blob's bytes are, for a log line an administrator can act on. */
static void blob_where(struct store *s, struct catalog *cat, const struct blob_ref *b,
		       char *out, size_t len)
{
	if (b->pack) {
		char name[256] = "?";
		if (cat && catalog_pack_name(cat, b->pack, name, sizeof(name)))
			cat = NULL;
		if (cat)
			snprintf(out, len, "%s/packs/%s, entry at byte %llu", s->dir, name,
				 (unsigned long long)(b->offset - BLOB_HEADER_BYTES - PACK_ENTRY_HEADER));
		else
			snprintf(out, len, "pack #%lld in %s/packs, entry at byte %llu", (long long)b->pack,
				 s->dir, (unsigned long long)(b->offset - BLOB_HEADER_BYTES - PACK_ENTRY_HEADER));
	} else {
		blob_file_path(s->dir, b->hash, b->ordinal, out, len);
	}
}

/* A blob of an instance cannot be served: say which instance and which
 * file, once per open. */
static void log_damage(struct store *s, struct catalog *cat, int64_t id,
		       const struct blob_ref *b, const char *what)
{
	struct cat_instance row;
	char where[4400];
	if (catalog_instance_row(cat, id, &row))
		snprintf(row.sop_uid, sizeof(row.sop_uid), "?");
	blob_where(s, cat, b, where, sizeof(where));
	fuse_log(FUSE_LOG_ERR, "dcmfs: instance %s (inode %lld): %s: %s\n", row.sop_uid,
		 (long long)id, what, where);
}

int inst_file_open(struct store *s, struct catalog *cat, int64_t id,
		   struct inst_file **out)
{
	struct inst_file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->id = id;
	f->store = s;
	pthread_mutex_init(&f->lock, NULL);
	for (int i = 0; i < CACHE_SLOTS; i++)
		f->slot[i].seg = -1;
	struct blob_ref refs[RECORD_MAX_SEGMENTS];
	int n = catalog_segments(cat, id, refs, RECORD_MAX_SEGMENTS);
	if (n <= 0) {
		inst_file_close(f);
		return n < 0 ? n : -ENOENT;
	}
	for (int i = 0; i < n; i++) {
		struct seg *sg = &f->seg[i];
		sg->ref = refs[i];
		int r = blob_view_get(s->br, &refs[i], &sg->view);
		if (r < 0) {
			char what[128];
			snprintf(what, sizeof(what), "segment %d %s (%s)", i,
				 r == -EBADMSG ? "is damaged" : "cannot be read", strerror(-r));
			log_damage(s, cat, id, &refs[i], what);
			inst_file_close(f);
			/* Damaged or missing data is an I/O error to a reader. */
			return r == -ENOMEM ? r : -EIO;
		}
		f->nseg = i + 1;
		sg->base = f->size;
		f->size += refs[i].raw_size;
		if ((r = seg_chunks(f, sg))) {
			if (r == -EIO)
				log_damage(s, cat, id, &refs[i], "damaged chunk table");
			inst_file_close(f);
			return r;
		}
	}
	*out = f;
	return 0;
}

uint64_t inst_file_size(const struct inst_file *f) { return f->size; }
uint64_t inst_file_decodes(const struct inst_file *f) { return f->decodes; }

static uint32_t find_chunk(const struct seg *sg, uint64_t off)
{
	uint32_t lo = 0, hi = sg->nchunks;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (sg->start[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int decode(struct inst_file *f, struct codec_ctx *ctx, int si, uint32_t ci,
		  void *dst)
{
	const struct seg *sg = &f->seg[si];
	int rc = codec_decode_chunk(ctx, sg->view.enc, sg->view.enc_size, ci, dst);
	atomic_fetch_add(&f->decodes, 1);
	if (rc) {
		char where[4400];
		blob_where(f->store, NULL, &sg->ref, where, sizeof(where));
		fuse_log(FUSE_LOG_ERR, "dcmfs: instance inode %lld: chunk %u (file offset %llu) does not decode (%s): %s\n",
			 (long long)f->id, ci, (unsigned long long)(sg->base + sg->start[ci]),
			 codec_strerror(rc), where);
		return rc == CODEC_ERR_NOMEM ? -ENOMEM : -EIO;
	}
	return 0;
}

/* Copy [skip, skip+take) of chunk (si, ci) into dst through the cache.
 * The chunk is decoded into the caller's scratch buffer, which then trades
 * places with the oldest slot's buffer: no allocation in the steady state. */
static int partial(struct inst_file *f, struct inst_scratch *sc, int si, uint32_t ci,
		   size_t skip, size_t take, uint8_t *dst)
{
	pthread_mutex_lock(&f->lock);
	for (int k = 0; k < CACHE_SLOTS; k++) {
		struct slot *sl = &f->slot[k];
		if (sl->seg == si && sl->chunk == ci) {
			memcpy(dst, sl->data + skip, take);
			sl->used = ++f->clock;
			pthread_mutex_unlock(&f->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&f->lock);

	const struct seg *sg = &f->seg[si];
	uint32_t len = (uint32_t)(sg->start[ci + 1] - sg->start[ci]);
	if (sc->cap < len) {
		free(sc->buf);
		sc->cap = 0;
		if (!(sc->buf = malloc(len)))
			return -ENOMEM;
		sc->cap = len;
	}
	int r = decode(f, sc->ctx, si, ci, sc->buf);
	if (r)
		return r;
	memcpy(dst, sc->buf + skip, take);

	pthread_mutex_lock(&f->lock);
	struct slot *victim = &f->slot[0];
	for (int k = 1; k < CACHE_SLOTS; k++)
		if (f->slot[k].used < victim->used)
			victim = &f->slot[k];
	uint8_t *old = victim->data;
	size_t oldcap = victim->cap;
	victim->seg = si;
	victim->chunk = ci;
	victim->len = len;
	victim->data = sc->buf;
	victim->cap = sc->cap;
	victim->used = ++f->clock;
	sc->buf = old;
	sc->cap = oldcap;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* ---------------- parallel decode ----------------
 * A read that covers several whole chunks (a 1 MiB request holds about
 * four) hands every other one to a small pool of helper threads, so that a
 * single sequential reader uses every core on a first (cold) read. */

struct job_group {
	pthread_mutex_t m;
	pthread_cond_t done;
	int pending;
	int rc;
};

struct decode_job {
	struct decode_job *next;
	struct inst_file *f;
	int si;
	uint32_t ci;
	uint8_t *dst;
	struct job_group *g;
};

static struct {
	pthread_mutex_t m;
	pthread_cond_t work;
	struct decode_job *head, *tail;
	int nthreads, stop;
	pthread_t th[16];
} pool = { .m = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER };

static int decode(struct inst_file *f, struct codec_ctx *ctx, int si, uint32_t ci,
		  void *dst);

static void job_finish(struct decode_job *j, int rc)
{
	struct job_group *g = j->g;
	pthread_mutex_lock(&g->m);
	if (rc && !g->rc)
		g->rc = rc;
	if (--g->pending == 0)
		pthread_cond_signal(&g->done);
	pthread_mutex_unlock(&g->m);
}

static void *pool_main(void *arg)
{
	(void)arg;
	struct codec_ctx *ctx = codec_ctx_new();
	for (;;) {
		pthread_mutex_lock(&pool.m);
		while (!pool.head && !pool.stop)
			pthread_cond_wait(&pool.work, &pool.m);
		struct decode_job *j = pool.head;
		if (j) {
			pool.head = j->next;
			if (!pool.head)
				pool.tail = NULL;
		}
		pthread_mutex_unlock(&pool.m);
		if (!j)
			break;
		job_finish(j, ctx ? decode(j->f, ctx, j->si, j->ci, j->dst) : -ENOMEM);
	}
	codec_ctx_free(ctx);
	return NULL;
}

int reader_pool_start(int nthreads)
{
	if (nthreads > 16)
		nthreads = 16;
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&pool.th[i], NULL, pool_main, NULL))
			break;
		pool.nthreads++;
	}
	return pool.nthreads;
}

void reader_pool_stop(void)
{
	pthread_mutex_lock(&pool.m);
	pool.stop = 1;
	pthread_cond_broadcast(&pool.work);
	pthread_mutex_unlock(&pool.m);
	for (int i = 0; i < pool.nthreads; i++)
		pthread_join(pool.th[i], NULL);
	pool.nthreads = 0;
	pool.stop = 0;
}

/* Take back a job nobody has started (the caller then does it itself). */
static int job_unqueue(struct decode_job *j)
{
	int found = 0;
	pthread_mutex_lock(&pool.m);
	for (struct decode_job **pp = &pool.head; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			if (pool.tail == j) {
				pool.tail = NULL;
				for (struct decode_job *k = pool.head; k; k = k->next)
					pool.tail = k;
			}
			found = 1;
			break;
		}
	pthread_mutex_unlock(&pool.m);
	return found;
}

#define MAX_OFFLOAD 16

int64_t inst_file_read(struct inst_file *f, struct inst_scratch *sc,
		       uint64_t off, void *buf, size_t n)
{
	if (off >= f->size)
		return 0;
	if (n > f->size - off)
		n = (size_t)(f->size - off);
	uint8_t *dst = buf;
	size_t done = 0;
	struct job_group g = { .m = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };
	struct decode_job jobs[MAX_OFFLOAD];
	int njobs = 0, whole = 0, r = 0;
	for (int si = 0; si < f->nseg && done < n && !r; si++) {
		const struct seg *sg = &f->seg[si];
		uint64_t end = sg->base + sg->ref.raw_size;
		if (off + done >= end)
			continue;
		uint64_t o = off + done - sg->base;
		uint32_t ci = find_chunk(sg, o);
		while (done < n && ci < sg->nchunks) {
			uint64_t cs = sg->start[ci], ce = sg->start[ci + 1];
			size_t skip = (size_t)(o - cs);
			size_t take = (size_t)(ce - o);
			if (take > n - done)
				take = n - done;
			if (skip == 0 && take == ce - cs) {
				/* Every other whole chunk goes to the pool. */
				if (pool.nthreads && (whole++ & 1) && njobs < MAX_OFFLOAD) {
					struct decode_job *j = &jobs[njobs++];
					*j = (struct decode_job){ .f = f, .si = si, .ci = ci,
								  .dst = dst + done, .g = &g };
					pthread_mutex_lock(&g.m);
					g.pending++;
					pthread_mutex_unlock(&g.m);
					pthread_mutex_lock(&pool.m);
					if (pool.tail)
						pool.tail->next = j;
					else
						pool.head = j;
					pool.tail = j;
					pthread_cond_signal(&pool.work);
					pthread_mutex_unlock(&pool.m);
				} else {
					r = decode(f, sc->ctx, si, ci, dst + done);
				}
			} else {
				r = partial(f, sc, si, ci, skip, take, dst + done);
			}
			if (r)
				break;
			done += take;
			o += take;
			ci++;
		}
	}
	/* Jobs still queued are ours to do; then wait for the started ones
	 * (jobs[] lives on this stack: never return before they finish). */
	for (int i = 0; i < njobs; i++)
		if (job_unqueue(&jobs[i])) {
			int rc = r ? r : decode(f, sc->ctx, jobs[i].si, jobs[i].ci, jobs[i].dst);
			job_finish(&jobs[i], rc);
		}
	pthread_mutex_lock(&g.m);
	while (g.pending)
		pthread_cond_wait(&g.done, &g.m);
	pthread_mutex_unlock(&g.m);
	if (!r)
		r = g.rc;
	return r ? r : (int64_t)done;
}
