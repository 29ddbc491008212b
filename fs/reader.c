/*
 * reader.c - the mount's reading of a stored instance: index/instance.h's
 * reader, plus a cache of the last partly read chunks and a pool of helper
 * threads that decode the whole chunks of large reads in parallel.
 *
 * Invariant: a cache slot holds the whole decoded chunk k; slots are
 * replaced, never changed in place, under f->lock.  Decoding happens
 * outside the lock, into the reply or into a buffer of the read's own that
 * then replaces the oldest slot.
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

#include "instance.h"

#define CACHE_SLOTS 4

struct slot {
	int64_t chunk;          /* -1 = empty */
	uint32_t len;
	uint8_t *data;
	size_t cap;
	uint64_t used;          /* LRU clock */
};

struct inst_file {
	struct instance *in;
	pthread_mutex_t lock;   /* guards slot[], clock */
	struct slot slot[CACHE_SLOTS];
	uint64_t clock;
	atomic_uint_fast64_t decodes;
	atomic_uint bad_chunk;  /* 1 + a chunk that did not decode, or 0 */
	atomic_int reported;    /* its log line is written (once per open) */
};

void inst_file_close(struct inst_file *f)
{
	if (!f)
		return;
	instance_close(f->in);
	for (int i = 0; i < CACHE_SLOTS; i++)
		free(f->slot[i].data);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int inst_file_open(struct store *s, struct catalog *cat, int64_t id,
		   struct inst_file **out)
{
	struct inst_file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	for (int i = 0; i < CACHE_SLOTS; i++)
		f->slot[i].chunk = -1;
	char why[4600] = "";
	int r = instance_open(s, cat, id, &f->in, why, sizeof(why));
	if (r) {
		/* Say which instance and which file, once per open. */
		if (why[0]) {
			struct cat_instance row;
			if (catalog_instance_row(cat, id, &row))
				snprintf(row.sop_uid, sizeof(row.sop_uid), "?");
			fuse_log(FUSE_LOG_ERR, "dcmfs: instance %s (inode %lld): %s\n", row.sop_uid,
				 (long long)id, why);
		}
		inst_file_close(f);
		/* Damaged or missing data is an I/O error to a reader. */
		return r == -EBADMSG ? -EIO : r;
	}
	*out = f;
	return 0;
}

uint64_t inst_file_size(const struct inst_file *f) { return instance_size(f->in); }
uint64_t inst_file_decodes(const struct inst_file *f) { return f->decodes; }

static int decode(struct inst_file *f, struct codec_ctx *ctx, uint32_t k, void *dst)
{
	int r = instance_decode_chunk(f->in, ctx, k, dst);
	atomic_fetch_add(&f->decodes, 1);
	if (r == -EIO)  /* logged by the reader's thread, which has a catalogue */
		atomic_store(&f->bad_chunk, k + 1);
	return r;
}

/* One line per open file for a chunk that does not decode: which instance
 * (the kernel reads a damaged range several times), where, and which file. */
static void report_damage(struct inst_file *f, struct catalog *cat)
{
	unsigned k1 = atomic_load(&f->bad_chunk);
	if (!k1 || atomic_exchange(&f->reported, 1))
		return;
	char where[4400];
	uint64_t off;
	uint32_t len;
	instance_chunk_span(f->in, k1 - 1, &off, &len);
	instance_chunk_where(f->in, k1 - 1, where, sizeof(where));
	struct cat_instance row;
	int64_t id = instance_id(f->in);
	if (!cat || catalog_instance_row(cat, id, &row))
		snprintf(row.sop_uid, sizeof(row.sop_uid), "?");
	fuse_log(FUSE_LOG_ERR, "dcmfs: instance %s (inode %lld): chunk %u (file offset %llu) "
		 "does not decode: %s\n", row.sop_uid, (long long)id, k1 - 1,
		 (unsigned long long)off, where);
}

/* Copy [skip, skip+take) of chunk k into dst if the cache holds it: 1, else 0. */
static int copy_from_cache(struct inst_file *f, uint32_t k, size_t skip, size_t take, uint8_t *dst)
{
	int hit = 0;
	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < CACHE_SLOTS && !hit; i++) {
		struct slot *sl = &f->slot[i];
		if (sl->chunk == k) {
			memcpy(dst, sl->data + skip, take);
			sl->used = ++f->clock;
			hit = 1;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return hit;
}

/* Keep decoded chunk k (buf, cap bytes, malloc'd) in the cache in place of
 * the oldest slot, whose buffer is returned to be reused or freed. */
static uint8_t *cache_keep(struct inst_file *f, uint32_t k, uint32_t len, uint8_t *buf, size_t cap,
			   size_t *oldcap)
{
	pthread_mutex_lock(&f->lock);
	struct slot *victim = &f->slot[0];
	for (int i = 0; i < CACHE_SLOTS; i++) {
		if (f->slot[i].chunk == k) {    /* another read was quicker */
			victim = &f->slot[i];
			break;
		}
		if (f->slot[i].used < victim->used)
			victim = &f->slot[i];
	}
	uint8_t *old = victim->data;
	*oldcap = victim->cap;
	*victim = (struct slot){ .chunk = k, .len = len, .data = buf, .cap = cap, .used = ++f->clock };
	pthread_mutex_unlock(&f->lock);
	return old;
}

/* Copy [skip, skip+take) of chunk k into dst through the cache.  The
 * chunk is decoded into the caller's scratch buffer, which then trades
 * places with the oldest slot's buffer: no allocation in the steady state. */
static int copy_through_cache(struct inst_file *f, struct inst_scratch *sc, uint32_t k,
			      size_t skip, size_t take, uint8_t *dst)
{
	if (copy_from_cache(f, k, skip, take, dst))
		return 0;
	uint64_t start;
	uint32_t len;
	instance_chunk_span(f->in, k, &start, &len);
	if (sc->cap < len) {
		free(sc->buf);
		sc->cap = 0;
		if (!(sc->buf = malloc(len)))
			return -ENOMEM;
		sc->cap = len;
	}
	int r = decode(f, sc->ctx, k, sc->buf);
	if (r)
		return r;
	memcpy(dst, sc->buf + skip, take);
	size_t oldcap;
	sc->buf = cache_keep(f, k, len, sc->buf, sc->cap, &oldcap);
	sc->cap = sc->buf ? oldcap : 0;
	return 0;
}

struct decode_job;
static int job_do(struct codec_ctx *ctx, struct decode_job *j, int rc);

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

/* One chunk to decode: straight into the reply (copy_to NULL), or into a
 * buffer of its own whose [skip, skip + take) then goes to copy_to and which
 * the cache keeps. */
struct decode_job {
	struct decode_job *next;
	struct inst_file *f;
	uint32_t chunk, len;
	uint8_t *dst;
	size_t cap;             /* of dst when it is the job's buffer */
	uint8_t *copy_to;
	size_t skip, take;
	struct job_group *g;
};

static struct {
	pthread_mutex_t m;
	pthread_cond_t work;
	struct decode_job *head, *tail;
	int nthreads, stop;
	pthread_t th[16];
} pool = { .m = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER };

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
		job_finish(j, job_do(ctx, j, ctx ? 0 : -ENOMEM));
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

/* A request of at most this many chunks (a tile, a small random read, a
 * small file read whole) has all its chunks decoded at once; those it needs
 * only part of go through the cache: neighbouring tiles share the chunks at
 * their edges (the kernel reads whole pages, which reach into the next and
 * the previous chunk).  Larger requests (1 MiB sequential reads) hand every
 * other whole chunk to the pool as they go. */
#define SMALL_READ_CHUNKS 3

/* Decode job j (unless rc says the read failed already).  A chunk decoded
 * into a buffer of its own gives its part to the reply and goes into the
 * cache at once, so that a concurrent read of the next range finds it. */
static int job_do(struct codec_ctx *ctx, struct decode_job *j, int rc)
{
	if (!rc)
		rc = decode(j->f, ctx, j->chunk, j->dst);
	if (!j->copy_to)
		return rc;
	if (rc) {
		free(j->dst);
	} else {
		memcpy(j->copy_to, j->dst + j->skip, j->take);
		size_t oldcap;
		free(cache_keep(j->f, j->chunk, j->len, j->dst, j->cap, &oldcap));
	}
	j->dst = NULL;
	return rc;
}

/* Wait for a read's started jobs; its result: the first error, or done. */
static int64_t group_wait(struct job_group *g, int r, size_t done)
{
	pthread_mutex_lock(&g->m);
	while (g->pending)
		pthread_cond_wait(&g->done, &g->m);
	pthread_mutex_unlock(&g->m);
	if (!r)
		r = g->rc;
	return r ? r : (int64_t)done;
}

/* A small read (a tile and the edges of its pages, or a whole small file):
 * every chunk it needs decoded at once, all but one on the pool; the
 * chunks it needs only part of are kept in the cache. */
static int64_t read_small(struct inst_file *f, struct inst_scratch *sc,
			  uint64_t off, uint8_t *dst, size_t n)
{
	uint32_t k0 = instance_chunk_at(f->in, off);
	struct job_group g = { .m = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };
	struct decode_job jobs[SMALL_READ_CHUNKS];
	int njobs = 0, r = 0;
	size_t done = 0;
	/* 1. What must be decoded; what the cache already holds is copied. */
	for (uint32_t k = k0; done < n && !r; k++) {
		uint64_t start;
		uint32_t len;
		instance_chunk_span(f->in, k, &start, &len);
		size_t skip = (size_t)(off + done - start);
		size_t take = len - skip < n - done ? len - skip : n - done;
		if (copy_from_cache(f, k, skip, take, dst + done)) {
			done += take;
			continue;
		}
		struct decode_job *j = &jobs[njobs];     /* at most SMALL_READ_CHUNKS */
		if (skip == 0 && take == len) {
			/* Wholly inside (a whole small file read at once, or a file
			 * decoded ahead): straight into the reply, no cache, no copy. */
			*j = (struct decode_job){ .f = f, .chunk = k, .dst = dst + done, .g = &g };
			njobs++;
			done += take;
			continue;
		}
		*j = (struct decode_job){ .f = f, .chunk = k, .len = len, .copy_to = dst + done,
					  .skip = skip, .take = take, .cap = len, .g = &g };
		if (!(j->dst = malloc(len)))
			r = -ENOMEM;
		if (!r)
			njobs++;
		else
			free(j->dst);
		done += take;
	}
	/* 2. All but the first to the pool; the first here; then whichever
	 * nobody has started; then wait for the started ones (jobs[] lives on
	 * this stack: never return before they finish). */
	int queued = pool.nthreads && njobs > 1 && !sc->alone;
	if (queued) {
		pthread_mutex_lock(&g.m);
		g.pending = njobs - 1;
		pthread_mutex_unlock(&g.m);
		pthread_mutex_lock(&pool.m);
		for (int i = 1; i < njobs; i++) {
			if (pool.tail)
				pool.tail->next = &jobs[i];
			else
				pool.head = &jobs[i];
			pool.tail = &jobs[i];
		}
		pthread_cond_broadcast(&pool.work);
		pthread_mutex_unlock(&pool.m);
	}
	for (int i = 0; i < njobs; i++) {
		if (i == 0 || !queued) {
			int rc = job_do(sc->ctx, &jobs[i], r);
			pthread_mutex_lock(&g.m);
			if (rc && !g.rc)
				g.rc = rc;
			pthread_mutex_unlock(&g.m);
		} else if (job_unqueue(&jobs[i])) {
			job_finish(&jobs[i], job_do(sc->ctx, &jobs[i], r));
		}
	}
	return group_wait(&g, r, done);
}

#define MAX_OFFLOAD 16

/* A large read (1 MiB sequential): whole chunks straight into the reply,
 * every other one on the pool; the partial ones at its ends through the
 * cache, here. */
static int64_t read_large(struct inst_file *f, struct inst_scratch *sc,
			  uint64_t off, uint8_t *dst, size_t n)
{
	size_t done = 0;
	struct job_group g = { .m = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };
	struct decode_job jobs[MAX_OFFLOAD];
	int njobs = 0, whole = 0, r = 0;
	for (uint32_t k = instance_chunk_at(f->in, off); done < n && !r; k++) {
		uint64_t start;
		uint32_t len;
		instance_chunk_span(f->in, k, &start, &len);
		size_t skip = (size_t)(off + done - start);
		size_t take = len - skip;
		if (take > n - done)
			take = n - done;
		if (skip == 0 && take == len) {
			/* Every other whole chunk goes to the pool. */
			if (pool.nthreads && !sc->alone && (whole++ & 1) && njobs < MAX_OFFLOAD) {
				struct decode_job *j = &jobs[njobs++];
				*j = (struct decode_job){ .f = f, .chunk = k, .dst = dst + done, .g = &g };
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
				r = decode(f, sc->ctx, k, dst + done);
			}
		} else {
			r = copy_through_cache(f, sc, k, skip, take, dst + done);
		}
		done += take;
	}
	/* Jobs still queued are ours to do; then wait for the started ones
	 * (jobs[] lives on this stack: never return before they finish). */
	for (int i = 0; i < njobs; i++)
		if (job_unqueue(&jobs[i])) {
			int rc = r ? r : decode(f, sc->ctx, jobs[i].chunk, jobs[i].dst);
			job_finish(&jobs[i], rc);
		}
	return group_wait(&g, r, done);
}

int64_t inst_file_read(struct inst_file *f, struct inst_scratch *sc,
		       uint64_t off, void *buf, size_t n)
{
	uint64_t size = instance_size(f->in);
	if (off >= size)
		return 0;
	if (n > size - off)
		n = (size_t)(size - off);
	uint32_t k0 = instance_chunk_at(f->in, off), k1 = instance_chunk_at(f->in, off + n - 1);
	int64_t got = k1 - k0 < SMALL_READ_CHUNKS ? read_small(f, sc, off, buf, n) :
		      read_large(f, sc, off, buf, n);
	if (got == -EIO)
		report_damage(f, sc->cat);
	return got;
}
