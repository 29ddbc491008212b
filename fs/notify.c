/*
 * notify.c - the thread that keeps the kernel's view of the catalogue true.
 *
 * The kernel keeps what it learnt of the tree: folder listings for good
 * (cache_readdir), file names for an hour, folder attributes for a second.
 * When another process (an import, `dcmfsctl rm`) or this mount changes the
 * catalogue, this thread tells the kernel to forget exactly what changed,
 * so the change shows within a second.  It polls the catalogue's
 * data_version (cheap: no I/O) every POLL_MS, and when it moved reads the
 * change feed (catalog.h) from the last change it saw: for each folder that
 * changed it drops the folder's attributes and listing, and its parent's;
 * for each folder or file no longer shown under its name, that name (and
 * with a folder's name, everything the kernel cached below it).
 *
 * Shares (share_view.c) follow the same feed: each change updates every
 * share's members and forgets the share folders it touches; and every poll
 * re-reads STORE/shares, so shares made, removed or expired show within a
 * second.
 *
 * The work follows the size of the change, not of the store.  Only when
 * the feed cannot say what changed (a store opened read-only before any
 * writable open gave it a feed, or this mount fell so far behind that the
 * rows it needs were dropped) does it walk every folder once and drop
 * them all, as a fresh start.
 */
#include "dcmfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 300

/* The folder that lists a catalogue node of this kind. */
static fuse_ino_t listing_folder(int kind, int64_t parent)
{
	switch (kind) {
	case K_PATIENT:
		return INO_PATIENTS;
	case K_STUDY:
		return ino_make(K_STUDIES, parent);
	case K_SERIES:
		return ino_make(K_STUDY, parent);
	default:
		return ino_make(K_SERIES, parent);
	}
}

/* Forget one node of the tree: its attributes and listing (folders), the
 * listing of its parent, and its name when it is no longer shown. */
static void forget_node(struct dcmfs *d, int kind, int64_t id, int64_t parent,
			const char *name, int shown)
{
	fuse_ino_t folder = listing_folder(kind, parent);
	if (kind != K_INSTANCE)
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(kind, id), 0, 0);
	if (kind == K_PATIENT)
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(K_STUDIES, id), 0, 0);
	/* Gone under this name: drop the name, and with a folder's name the
	 * kernel's cached names below it (files are cached for an hour). */
	if (!shown)
		fuse_lowlevel_notify_inval_entry(d->se, folder, name, strlen(name));
	fuse_lowlevel_notify_inval_inode(d->se, folder, 0, 0);
}

/* One round of changes.  An import batch changes each of its folders
 * once per file: `done` remembers the shown folders already forgotten in
 * this round (an open-addressed set of inode numbers; when full, folders
 * are simply forgotten again). */
#define DONE_SLOTS 4096
struct feed_round {
	struct dcmfs *d;
	struct catalog *cat;
	long changes, forgotten;
	fuse_ino_t done[DONE_SLOTS];
};

/* 1 if ino was in the set (else it is added). */
static int done_before(struct feed_round *round, fuse_ino_t ino)
{
	size_t i = (size_t)((ino * UINT64_C(0x9E3779B97F4A7C15)) >> 52) % DONE_SLOTS;
	for (int probe = 0; probe < 16; probe++, i = (i + 1) % DONE_SLOTS) {
		if (round->done[i] == ino)
			return 1;
		if (!round->done[i]) {
			round->done[i] = ino;
			return 0;
		}
	}
	return 0;
}

static int apply_change(void *arg, const struct cat_change *ch)
{
	struct feed_round *round = arg;
	int shown = ch->state == CAT_CHANGE_SHOWN;
	round->changes++;
	if (round->d->views)
		shares_change(round->d, round->cat, ch);      /* members, and the shares' folders */
	if (shown && done_before(round, ino_make(ch->kind, ch->id)))
		return 0;
	round->forgotten++;
	forget_node(round->d, ch->kind, ch->id, ch->parent, ch->name, shown);
	views_forget(round->d, ch);
	return 0;
}

/* ---- the fresh start: every folder shown now ---- */

struct walk {
	struct dcmfs *d;
	struct catalog *cat;
	int kind;                   /* of the children being listed */
	long folders;
};

static int forget_folder(void *arg, const struct cat_node *n)
{
	struct walk *w = arg;
	w->folders++;
	forget_node(w->d, w->kind, n->id, n->parent, n->name, 0);
	if (w->kind == K_SERIES)
		return 0;
	struct walk below = { w->d, w->cat, w->kind + 1, 0 };
	int r = catalog_children(w->cat, w->kind, n->id, forget_folder, &below);
	w->folders += below.folders;
	return r;
}

/* Returns the number of folders forgotten. */
static long forget_everything(struct dcmfs *d, struct catalog *cat)
{
	struct walk w = { d, cat, K_PATIENT, 0 };
	catalog_children(cat, 0, 0, forget_folder, &w);
	fuse_lowlevel_notify_inval_inode(d->se, INO_PATIENTS, 0, 0);
	fuse_lowlevel_notify_inval_inode(d->se, INO_ROOT, 0, 0);
	return w.folders;
}

/* Counts and times shown by / and /patients. */
static void publish_totals(struct dcmfs *d, struct catalog *cat)
{
	int64_t count, newest;
	if (catalog_shown_patients(cat, &count, &newest))
		return;
	if (newest != d->newest_ns || count != d->npatients) {
		d->npatients = count;
		d->newest_ns = newest;
		fuse_lowlevel_notify_inval_inode(d->se, INO_PATIENTS, 0, 0);
		fuse_lowlevel_notify_inval_inode(d->se, INO_ROOT, 0, 0);
	}
}

/* Tell the kernel what changed after *seen, and advance *seen.  With
 * DCMFS_NOTIFY_TIMES set in the environment, each round's work and time
 * go to the log (for measuring). */
static void follow_changes(struct dcmfs *d, struct catalog *cat, int64_t *seen)
{
	static struct feed_round round;         /* one thread; too big for its stack */
	memset(&round, 0, sizeof(round));
	round.d = d;
	round.cat = cat;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = catalog_changes_since(cat, *seen, seen, apply_change, &round);
	if (r == -ESTALE || r == -ENOSYS) {
		/* Start afresh: from the feed's newest change on, everything
		 * shown now forgotten once (no feed: -ENOSYS again next time). */
		int64_t seq = catalog_change_seq(cat);
		round.forgotten = forget_everything(d, cat);
		shares_fresh(d, cat);
		*seen = seq > 0 ? seq : 0;
	} else if (r) {
		return;                 /* try again at the next poll */
	}
	publish_totals(d, cat);
	if (getenv("DCMFS_NOTIFY_TIMES")) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		fuse_log(FUSE_LOG_NOTICE, "dcmfs: notify: %s, %ld changes, %ld forgotten, %.3f ms\n",
			 r ? "fresh start" : "feed", round.changes, round.forgotten,
			 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	}
}

static void *notify_thread(void *arg)
{
	struct dcmfs *d = arg;
	struct catalog *cat;
	if (store_catalog(d->store, &cat)) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: cannot open the catalogue: folders will not refresh\n");
		return NULL;
	}
	int64_t ver = catalog_data_version(cat);
	int64_t seen = catalog_change_seq(cat);
	if (seen < 0)
		seen = 0;
	int64_t count = 0, newest = 0;
	if (!catalog_shown_patients(cat, &count, &newest)) {
		d->npatients = count;
		d->newest_ns = newest;
	}
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
		shares_poll(d, cat);    /* definitions made, removed, expired */
		int64_t v = catalog_data_version(cat);
		if (v == ver)
			continue;
		ver = v;
		follow_changes(d, cat, &seen);
	}
	catalog_close(cat);
	return NULL;
}

int notify_start(struct dcmfs *d)
{
	/* / and /patients show the newest patient's time from the first
	 * request on, not the daemon's start until the thread has run. */
	struct catalog *cat;
	if (store_catalog(d->store, &cat) == 0) {
		int64_t count, newest;
		if (!catalog_shown_patients(cat, &count, &newest)) {
			d->npatients = count;
			d->newest_ns = newest;
		}
		catalog_close(cat);
	}
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
