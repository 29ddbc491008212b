/*
 * prefetch.c - decode the next files of a series ahead of a reader.
 *
 * Programs read a series file after file (a viewer loading a stack, cp,
 * rsync, a backup), and each file is small next to the cost of a round trip
 * plus its decode.  When a file is first read from its start, the next few
 * files of its series (in listing order) are decoded by helper threads and
 * pushed into the kernel's page cache with fuse_lowlevel_notify_store(): when
 * the reader gets there, the kernel serves the file without asking us.  The
 * page cache holds the decoded bytes, so the daemon's own memory stays small,
 * and the kernel drops them under pressure like any cached file.
 *
 * Only inodes the kernel already knows can be stored into, so only series
 * whose folder was listed (readdirplus made the kernel know its files) are
 * read ahead: a program that opens paths it did not list gets no help, and
 * pays nothing for guesses it would not use.  A file a reader asks for
 * itself is struck from the queue.  Files larger than PREFETCH_MAX_FILE are
 * left to normal reads.
 */
#include "prefetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"

#define QUEUE_CAP 64
#define RECENT 512
#define PREFETCH_MAX_FILE (16u << 20)
#define LISTED 256

struct prefetch {
	struct store *store;
	struct fuse_session *se;
	int nthreads;
	pthread_t th[8];
	pthread_mutex_t m;          /* guards everything below */
	pthread_cond_t work;
	int stop;
	int64_t queue[QUEUE_CAP];   /* instance ids */
	int head, count;
	int64_t recent[RECENT];     /* ids queued lately: queue each once */
	int recent_next;
	struct catalog *hint_cat;   /* for the sibling query, under m */
	int64_t listed[LISTED];     /* series whose folder was listed lately */
	int listed_next;
};

void prefetch_forget(struct prefetch *p, int64_t id)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->m);
	for (int i = 0; i < p->count; i++)
		if (p->queue[(p->head + i) % QUEUE_CAP] == id)
			p->queue[(p->head + i) % QUEUE_CAP] = 0;
	pthread_mutex_unlock(&p->m);
}

void prefetch_listed(struct prefetch *p, int64_t series_id)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->m);
	int known = 0;
	for (int i = 0; i < LISTED && !known; i++)
		known = p->listed[i] == series_id;
	if (!known) {
		p->listed[p->listed_next] = series_id;
		p->listed_next = (p->listed_next + 1) % LISTED;
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
	struct cat_node self;
	int listed = 0;
	if (catalog_node(p->hint_cat, CAT_INSTANCE, instance_id, &self) == 0)
		for (int i = 0; i < LISTED && !listed; i++)
			listed = p->listed[i] == self.parent;
	if (!listed) {
		pthread_mutex_unlock(&p->m);
		return;
	}
	if (!seen(p, instance_id)) {          /* read directly: no need to fetch it */
		p->recent[p->recent_next] = instance_id;
		p->recent_next = (p->recent_next + 1) % RECENT;
	}
	int n = catalog_next_in_series(p->hint_cat, instance_id, ids, sizes, ahead + 1);
	/* The very next file is left to the reader, who will ask for it before a
	 * helper could finish it; the helpers work further ahead. */
	for (int i = 1; i < n; i++) {
		if (sizes[i] > PREFETCH_MAX_FILE || seen(p, ids[i]) || p->count == QUEUE_CAP)
			continue;
		p->recent[p->recent_next] = ids[i];
		p->recent_next = (p->recent_next + 1) % RECENT;
		p->queue[(p->head + p->count) % QUEUE_CAP] = ids[i];
		p->count++;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->m);
}

static void *prefetch_main(void *arg)
{
	struct prefetch *p = arg;
	struct catalog *cat = NULL;
	struct inst_scratch sc = { .ctx = codec_ctx_new() };
	uint8_t *buf = NULL;
	size_t cap = 0;
	if (store_catalog(p->store, &cat) || !sc.ctx)
		goto out;
	for (;;) {
		pthread_mutex_lock(&p->m);
		while (!p->count && !p->stop)
			pthread_cond_wait(&p->work, &p->m);
		if (p->stop) {
			pthread_mutex_unlock(&p->m);
			break;
		}
		int64_t id = p->queue[p->head];
		p->head = (p->head + 1) % QUEUE_CAP;
		p->count--;
		pthread_mutex_unlock(&p->m);
		if (!id)
			continue;   /* cancelled: the reader got there first */

		struct inst_file *f;
		uint64_t size = 0;
		int ok = 0;
		if (inst_file_open(p->store, cat, id, &f) == 0) {
			size = inst_file_size(f);
			if (size > cap) {
				free(buf);
				cap = 0;
				if ((buf = malloc(size)))
					cap = size;
			}
			ok = buf && cap >= size && inst_file_read(f, &sc, 0, buf, size) == (int64_t)size;
			inst_file_close(f);
		}
		if (ok) {
			struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
			bv.buf[0].mem = buf;
			/* -ENOENT: the kernel forgot the inode meanwhile; fine. */
			fuse_lowlevel_notify_store(p->se, ino_make(K_INSTANCE, id), 0, &bv, 0);
		}
	}
out:
	catalog_close(cat);
	codec_ctx_free(sc.ctx);
	free(sc.buf);
	free(buf);
	return NULL;
}

struct prefetch *prefetch_start(struct store *s, struct fuse_session *se, int nthreads)
{
	struct prefetch *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->store = s;
	p->se = se;
	pthread_mutex_init(&p->m, NULL);
	pthread_cond_init(&p->work, NULL);
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
	catalog_close(p->hint_cat);
	pthread_mutex_destroy(&p->m);
	pthread_cond_destroy(&p->work);
	free(p);
}
