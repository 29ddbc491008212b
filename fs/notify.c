/*
 * notify.c - the thread that keeps the kernel's view of the catalogue true.
 */
#include "dcmfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 300

/* One folder of the catalogue, as last seen. */
struct fsnap {
	int kind;
	int64_t id;
	fuse_ino_t parent;
	int64_t mtime_ns;
	uint64_t nchildren;
	char *name;
};

struct snap {
	struct fsnap *v;
	size_t n, cap;
	int64_t newest;
};

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct walk {
	struct catalog *cat;
	struct snap *s;
	int kind;
	fuse_ino_t parent;
	int err;
};

static int walk_cb(void *arg, const struct cat_node *n);

static int walk_level(struct catalog *cat, struct snap *s, int pkind, int64_t pid,
		      fuse_ino_t parent)
{
	struct walk w = { cat, s, pkind + 1, parent, 0 };
	int r = catalog_children(cat, pkind, pid, walk_cb, &w);
	return r ? r : w.err;
}

static int walk_cb(void *arg, const struct cat_node *n)
{
	struct walk *w = arg;
	struct snap *s = w->s;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct fsnap *p = realloc(s->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->v = p;
		s->cap = cap;
	}
	struct fsnap *f = &s->v[s->n];
	f->kind = w->kind;
	f->id = n->id;
	f->parent = w->parent;
	f->mtime_ns = n->mtime_ns;
	f->nchildren = n->size;
	if (!(f->name = strdup(n->name)))
		return -ENOMEM;
	s->n++;
	if (n->mtime_ns > s->newest)
		s->newest = n->mtime_ns;
	if (w->kind == K_PATIENT)
		return walk_level(w->cat, s, CAT_PATIENT, n->id, ino_make(K_STUDIES, n->id));
	if (w->kind == K_STUDY)
		return walk_level(w->cat, s, CAT_STUDY, n->id, ino_make(K_STUDY, n->id));
	return 0;
}

static int fsnap_cmp(const void *a, const void *b)
{
	const struct fsnap *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void inval_changed(struct dcmfs *d, const struct fsnap *o, const struct fsnap *n)
{
	fuse_ino_t ino = ino_make((o ? o : n)->kind, (o ? o : n)->id);
	if (n)
		fuse_lowlevel_notify_inval_inode(d->se, ino, 0, 0);
	if ((n ? n : o)->kind == K_PATIENT)
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(K_STUDIES, (n ? n : o)->id), 0, 0);
	/* Something below went away: drop the folder's entry, and with it the
	 * kernel's cached entries below (instances are cached for an hour). */
	if (o && (!n || n->nchildren < o->nchildren || n->mtime_ns != o->mtime_ns))
		fuse_lowlevel_notify_inval_entry(d->se, o->parent, o->name, strlen(o->name));
	fuse_lowlevel_notify_inval_inode(d->se, (n ? n : o)->parent, 0, 0);
}

/* Compare two sorted snapshots and tell the kernel what changed. */
static void snap_diff(struct dcmfs *d, const struct snap *a, const struct snap *b)
{
	size_t i = 0, j = 0;
	int top = 0;
	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : fsnap_cmp(&a->v[i], &b->v[j]);
		if (c < 0) {
			inval_changed(d, &a->v[i], NULL);
			top |= a->v[i].kind == K_PATIENT;
			i++;
		} else if (c > 0) {
			inval_changed(d, NULL, &b->v[j]);
			top |= b->v[j].kind == K_PATIENT;
			j++;
		} else {
			if (a->v[i].mtime_ns != b->v[j].mtime_ns ||
			    a->v[i].nchildren != b->v[j].nchildren ||
			    strcmp(a->v[i].name, b->v[j].name)) {
				inval_changed(d, &a->v[i], &b->v[j]);
				top |= a->v[i].kind == K_PATIENT;
			}
			i++;
			j++;
		}
	}
	if (top || a->newest != b->newest) {
		fuse_lowlevel_notify_inval_inode(d->se, INO_PATIENTS, 0, 0);
		fuse_lowlevel_notify_inval_inode(d->se, INO_ROOT, 0, 0);
	}
}

static int take_snap(struct catalog *cat, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	int r = walk_level(cat, s, 0, 0, INO_PATIENTS);
	if (r) {
		snap_free(s);
		return r;
	}
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), fsnap_cmp);
	return 0;
}

static void snap_publish(struct dcmfs *d, const struct snap *s)
{
	long long np = 0;
	for (size_t i = 0; i < s->n; i++)
		np += s->v[i].kind == K_PATIENT;
	d->npatients = np;
	d->newest_ns = s->newest;
}

static void *notify_thread(void *arg)
{
	struct dcmfs *d = arg;
	struct catalog *cat;
	if (store_catalog(d->store, &cat)) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: cannot open the catalogue: folders will not refresh\n");
		return NULL;
	}
	struct snap cur;
	int64_t ver = catalog_data_version(cat);
	if (take_snap(cat, &cur))
		memset(&cur, 0, sizeof(cur));
	snap_publish(d, &cur);
	int ra_done = 0, ticks = 0;
	while (!d->stop) {
		struct timespec ts = { 0, 50 * 1000000 };
		nanosleep(&ts, NULL);
		if (!ra_done && d->inited) {
			/* the INIT reply is out once a request arrives; wait a little */
			if (++ticks > 2) {
				raise_readahead(d);
				ra_done = 1;
			}
		}
		if (ticks++ % (POLL_MS / 50))
			continue;
		int64_t v = catalog_data_version(cat);
		if (v == ver)
			continue;
		ver = v;
		struct snap next;
		if (take_snap(cat, &next))
			continue;
		snap_publish(d, &next);
		snap_diff(d, &cur, &next);
		snap_free(&cur);
		cur = next;
	}
	snap_free(&cur);
	catalog_close(cat);
	return NULL;
}

int notify_start(struct dcmfs *d)
{
	int r = pthread_create(&d->notifier, NULL, notify_thread, d);
	d->notifier_running = r == 0;
	return r;
}

void notify_stop(struct dcmfs *d)
{
	d->stop = 1;
	if (d->notifier_running)
		pthread_join(d->notifier, NULL);
	d->notifier_running = 0;
}
