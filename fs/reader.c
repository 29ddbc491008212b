/*
 * reader.c - the mount's reading of a stored instance: index/instance.h's
 * reader, plus a cache of the last partly read chunks and a pool of helper
 * threads that decode the whole chunks of large reads in parallel.
 *
 * Invariant: a cache slot holds the whole decoded chunk k; slots are
 * replaced, never changed in place, under f->lock.  Decoding happens
 * outside the lock.
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

#define CACHE_SLOTS 2

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
	if (r == -EIO) {
		char where[4400];
		uint64_t off;
		uint32_t len;
		instance_chunk_span(f->in, k, &off, &len);
		instance_chunk_where(f->in, k, where, sizeof(where));
		fuse_log(FUSE_LOG_ERR, "dcmfs: instance inode %lld: chunk %u (file offset %llu) does not decode: %s\n",
			 (long long)instance_id(f->in), k, (unsigned long long)off, where);
	}
	return r;
}

/* Copy [skip, skip+take) of chunk k into dst through the cache.  The
 * chunk is decoded into the caller's scratch buffer, which then trades
 * places with the oldest slot's buffer: no allocation in the steady state. */
static int copy_through_cache(struct inst_file *f, struct inst_scratch *sc, uint32_t k,
			      size_t skip, size_t take, uint8_t *dst)
{
	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *sl = &f->slot[i];
		if (sl->chunk == k) {
			memcpy(dst, sl->data + skip, take);
			sl->used = ++f->clock;
			pthread_mutex_unlock(&f->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&f->lock);

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

	pthread_mutex_lock(&f->lock);
	struct slot *victim = &f->slot[0];
	for (int i = 1; i < CACHE_SLOTS; i++)
		if (f->slot[i].used < victim->used)
			victim = &f->slot[i];
	uint8_t *old = victim->data;
	size_t oldcap = victim->cap;
	victim->chunk = k;
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
	uint32_t chunk;
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
		job_finish(j, ctx ? decode(j->f, ctx, j->chunk, j->dst) : -ENOMEM);
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
	uint64_t size = instance_size(f->in);
	if (off >= size)
		return 0;
	if (n > size - off)
		n = (size_t)(size - off);
	uint8_t *dst = buf;
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
			if (pool.nthreads && (whole++ & 1) && njobs < MAX_OFFLOAD) {
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
	pthread_mutex_lock(&g.m);
	while (g.pending)
		pthread_cond_wait(&g.done, &g.m);
	pthread_mutex_unlock(&g.m);
	if (!r)
		r = g.rc;
	return r ? r : (int64_t)done;
}
