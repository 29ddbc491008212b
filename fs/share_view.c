/*
 * share_view.c - shares as the mount shows them.
 *
 * The admin mount shows every share of STORE/shares at
 * /shares/<NAME>/patients/...; a share mount (-o share=NAME) shows one
 * share, and nothing else, as /patients/....  Either way a share's tree is
 * the /patients tree cut down to the share's members (index/share.h: the
 * series that match its rules, their studies and patients), read-only,
 * current versions only.  Folders of a share have their own inode numbers
 * (a share slot in the number, inode.h); files of a plain share are the
 * stored files themselves (K_INSTANCE|id), and files of a de-identified
 * share are other files (K_SHARE|K_INSTANCE) whose bytes come from
 * index/deid.h and whose names, like their folders' names, are pseudonyms
 * and new UIDs, never the originals.
 *
 * Isolation: every answer about a share inode checks membership first (the
 * inode, then its parent for lookups), so an inode number, a name or a
 * handle of anything outside the share gives ENOENT; a share mount refuses
 * every inode that is not its root, one of its share inodes, or a stored
 * instance whose series is a member (tree.c asks share_mount_has_instance).
 *
 * Live: the notify thread (notify.c) feeds every change of the catalogue
 * to share_members_apply and forgets the share folders it touches
 * (shares_change), and re-reads the definitions every poll (shares_poll):
 * a share made or removed with dcmfsctl appears or goes within a second,
 * one that expires or is removed while mounted shows an empty patients/.
 *
 * Sharp edges: a stored instance that is not the current version of a
 * member series is reachable in a share mount by its inode number (not by
 * any name): it is the same patient's data.  Names in a de-identified
 * share are found by computing the pseudonym of each candidate of the
 * folder (as many as the folder has members).
 */
#include "dcmfs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__has_include)
#if __has_include("deid.h")
#include "deid.h"
#define HAVE_DEID 1
#endif
#endif
#ifndef HAVE_DEID
#define HAVE_DEID 0
#endif

/* ---- the views ---- */

/* The view in slot; the caller holds shares_lock. */
static struct share_view *view_of(struct dcmfs *d, int slot)
{
	for (struct share_view *v = d->views; v; v = v->next)
		if (v->slot == slot)
			return v;
	return NULL;
}

static struct share_view *view_named(struct dcmfs *d, const char *name)
{
	for (struct share_view *v = d->views; v; v = v->next)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

/* ---- names of a de-identified share: a pseudonym cannot be turned back
 * into its row, so every name made (listing, lookup walk) is kept here,
 * (folder inode, name) -> row, and a lookup walks a folder's members once.
 * Bounded: emptied when it holds NAMES_MAX names. ---- */

#define NAME_BUCKETS 4096
#define NAMES_MAX 262144
struct name_ent {
	struct name_ent *next;
	fuse_ino_t parent;
	int64_t row;
	char name[];
};
struct name_cache {
	size_t n;
	struct name_ent *b[NAME_BUCKETS];
};

static size_t name_hash(fuse_ino_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ parent;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h % NAME_BUCKETS);
}

static void names_clear(struct name_cache *c)
{
	for (size_t i = 0; c && i < NAME_BUCKETS; i++)
		while (c->b[i]) {
			struct name_ent *e = c->b[i];
			c->b[i] = e->next;
			free(e);
		}
	if (c)
		c->n = 0;
}

static void names_put(struct share_view *v, fuse_ino_t parent, const char *name, int64_t row)
{
	size_t h = name_hash(parent, name), len = strlen(name);
	pthread_mutex_lock(&v->names_lock);
	if (!v->names)
		v->names = calloc(1, sizeof(*v->names));
	struct name_cache *c = v->names;
	struct name_ent *e = NULL;
	if (c) {
		for (e = c->b[h]; e; e = e->next)
			if (e->parent == parent && !strcmp(e->name, name))
				break;
		if (!e && c->n >= NAMES_MAX)
			names_clear(c);
	}
	if (c && !e && (e = malloc(sizeof(*e) + len + 1))) {
		e->parent = parent;
		e->row = row;
		memcpy(e->name, name, len + 1);
		e->next = c->b[h];
		c->b[h] = e;
		c->n++;
	}
	pthread_mutex_unlock(&v->names_lock);
}

/* The row named name in folder parent, or 0 when not known. */
static int64_t names_get(struct share_view *v, fuse_ino_t parent, const char *name)
{
	int64_t row = 0;
	pthread_mutex_lock(&v->names_lock);
	for (struct name_ent *e = v->names ? v->names->b[name_hash(parent, name)] : NULL; e; e = e->next)
		if (e->parent == parent && !strcmp(e->name, name)) {
			row = e->row;
			break;
		}
	pthread_mutex_unlock(&v->names_lock);
	return row;
}

static void view_free(struct share_view *v)
{
	if (!v)
		return;
	names_clear(v->names);
	free(v->names);
	pthread_mutex_destroy(&v->names_lock);
	share_members_free(v->m);
	share_free(v->sh);
	free(v);
}

static int64_t now_s(void)
{
	return wall_clock_ns() / 1000000000;
}

/* The definition file's identity: a share removed and made again is
 * another file. */
static int def_file_id(const char *store_dir, const char *name, int64_t *ino, int64_t *mtime_ns)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s/%s", store_dir, SHARE_DIR, name);
	if (stat(path, &st) < 0)
		return -errno;
	*ino = (int64_t)st.st_ino;
	*mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

int share_mount_check(const char *store_dir, const char *name, char *err, size_t errlen)
{
	char why[512];
	int r = share_name_check(name, why, sizeof(why));
	if (r) {
		snprintf(err, errlen, "bad share name '%s': %s", name, why);
		return r;
	}
	struct share *sh = NULL;
	r = share_load(store_dir, name, &sh, why, sizeof(why));
	if (r == -ENOENT) {
		snprintf(err, errlen, "no share '%s' in %s (see dcmfsctl share list)", name, store_dir);
		return r;
	}
	if (r) {
		snprintf(err, errlen, "share '%s' cannot be mounted: %s", name, why);
		return r;
	}
	if (share_expired(sh, now_s())) {
		time_t t = (time_t)sh->expires_s;
		struct tm tm;
		char when[64] = "?";
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		snprintf(err, errlen, "share '%s' has expired (%s): it cannot be mounted", name, when);
		share_free(sh);
		return -ETIME;
	}
	share_free(sh);
	return 0;
}

/* A new view of share name, its members built: 0 and *out, or -errno. */
static int view_load(struct dcmfs *d, struct catalog *cat, const char *name, int slot,
		     struct share_view **out)
{
	char why[512];
	struct share_view *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->slot = slot;
	pthread_mutex_init(&v->names_lock, NULL);
	snprintf(v->name, sizeof(v->name), "%s", name);
	int r = def_file_id(d->store_dir, name, &v->file_ino, &v->file_mtime_ns);
	if (!r)
		r = share_load(d->store_dir, name, &v->sh, why, sizeof(why));
	if (!r)
		r = share_members_build(cat, v->sh, &v->m);
	if (r) {
		view_free(v);
		return r;
	}
	if (share_expired(v->sh, now_s()))
		v->dead = 1;
	*out = v;
	return 0;
}

/* ---- de-identified files: a few kept open (reads of a read-only mount
 * carry no handle) ---- */

#define DEID_SLOTS 32
struct deid_slot {
	fuse_ino_t ino;                 /* 0 = empty */
#if HAVE_DEID
	struct deid_file *f;
#endif
	int refs;
	uint64_t used;
};
#if HAVE_DEID
static uint64_t deid_clock;
#endif

int share_is_deid_file(fuse_ino_t ino)
{
	return is_share_ino(ino) && share_ino_kind(ino) == K_INSTANCE;
}

#if HAVE_DEID
/* The slot holding ino, with a reference taken, or -1.  Caller holds
 * deid_lock. */
static int deid_hold(struct dcmfs *d, fuse_ino_t ino)
{
	for (int i = 0; i < DEID_SLOTS; i++) {
		struct deid_slot *e = &d->deid_cache[i];
		if (e->ino == ino) {
			e->refs++;
			e->used = ++deid_clock;
			return i;
		}
	}
	return -1;
}

/* Open (or find) the de-identified file of instance row in view v, with a
 * reference: 0 and *slot (an index into d->deid_cache, or -1 with *own set
 * when every slot is busy), 1 when the instance is left out, or -errno. */
static int deid_get(struct dcmfs *d, struct catalog *cat, struct share_view *v, int64_t row,
		    int *slot, struct deid_file **own)
{
	fuse_ino_t ino = share_ino(v->slot, K_INSTANCE, row);
	*own = NULL;
	pthread_mutex_lock(&d->deid_lock);
	*slot = deid_hold(d, ino);
	pthread_mutex_unlock(&d->deid_lock);
	if (*slot >= 0)
		return 0;
	struct deid_file *f = NULL;
	const char *why = NULL;
	int r = deid_file_open(d->store, cat, v->sh, row, &f, &why);
	if (r > 0)
		return 1;
	if (r)
		return r;
	struct deid_file *evicted = NULL;
	pthread_mutex_lock(&d->deid_lock);
	if ((*slot = deid_hold(d, ino)) >= 0) {     /* another thread was quicker */
		pthread_mutex_unlock(&d->deid_lock);
		deid_file_close(f);
		return 0;
	}
	struct deid_slot *victim = NULL;
	for (int i = 0; i < DEID_SLOTS; i++) {
		struct deid_slot *e = &d->deid_cache[i];
		if (!e->refs && (!victim || e->used < victim->used))
			victim = e;
	}
	if (victim) {
		evicted = victim->ino ? victim->f : NULL;
		victim->ino = ino;
		victim->f = f;
		victim->refs = 1;
		victim->used = ++deid_clock;
		*slot = (int)(victim - d->deid_cache);
	} else {
		*slot = -1;
		*own = f;
	}
	pthread_mutex_unlock(&d->deid_lock);
	deid_file_close(evicted);
	return 0;
}

static void deid_put(struct dcmfs *d, int slot, struct deid_file *own)
{
	if (slot < 0) {
		deid_file_close(own);
		return;
	}
	pthread_mutex_lock(&d->deid_lock);
	d->deid_cache[slot].refs--;
	pthread_mutex_unlock(&d->deid_lock);
}

/* The size of the de-identified file (from the header cache; the pixel
 * data is not opened): 0, 1 (left out), or -errno. */
static int deid_size(struct dcmfs *d, struct catalog *cat, struct share_view *v, int64_t row,
		     uint64_t *size)
{
	const char *why = NULL;
	int r = deid_file_stat(d->store, cat, v->sh, row, size, &why);
	return r > 0 ? 1 : r;
}
#endif

/* Close the open files of a slot (a view going away; no reader holds them:
 * readers hold shares_lock, and the caller had it for writing). */
static void deid_drop_slot(struct dcmfs *d, int slot)
{
	if (!d->deid_cache)
		return;
	pthread_mutex_lock(&d->deid_lock);
	for (int i = 0; i < DEID_SLOTS; i++) {
		struct deid_slot *e = &d->deid_cache[i];
		if (e->ino && share_ino_slot(e->ino) == slot && !e->refs) {
#if HAVE_DEID
			deid_file_close(e->f);
			e->f = NULL;
#endif
			e->ino = 0;
		}
	}
	pthread_mutex_unlock(&d->deid_lock);
}

int64_t share_deid_read(struct dcmfs *d, struct catalog *cat, struct codec_ctx *ctx,
			fuse_ino_t ino, uint64_t off, void *buf, size_t n)
{
#if HAVE_DEID
	pthread_rwlock_rdlock(&d->shares_lock);
	struct share_view *v = view_of(d, share_ino_slot(ino));
	int64_t r = -ENOENT;
	if (v && !v->dead && v->sh->deidentify) {
		int64_t row = share_ino_row(ino);
		struct cat_node node;
		if (!catalog_node(cat, CAT_INSTANCE, row, &node) &&
		    share_members_has(v->m, CAT_SERIES, node.parent)) {
			int slot;
			struct deid_file *own;
			int g = deid_get(d, cat, v, row, &slot, &own);
			if (g == 0) {
				r = deid_file_read(slot < 0 ? own : d->deid_cache[slot].f, ctx, off,
						   buf, n);
				deid_put(d, slot, own);
			} else {
				r = g > 0 ? -ENOENT : g;
			}
		}
	}
	pthread_rwlock_unlock(&d->shares_lock);
	return r == -EBADMSG ? -EIO : r;
#else
	(void)d;
	(void)cat;
	(void)ctx;
	(void)ino;
	(void)off;
	(void)buf;
	(void)n;
	return -EIO;
#endif
}

/* ---- names ---- */

/* The name a member shows under in view v: the catalogue's name in a plain
 * share, the pseudonym in a de-identified one.  0 or -errno (-ENOENT when a
 * de-identified share cannot be named here). */
static int member_name(struct share_view *v, struct catalog *cat, int kind,
		       const struct cat_node *n, char *out, size_t len)
{
	if (!v->sh->deidentify) {
		snprintf(out, len, "%s", n->name);
		return 0;
	}
#if HAVE_DEID
	return deid_node_name(v->sh, cat, kind, n->id, out, len);
#else
	(void)cat;
	(void)kind;
	(void)out;
	(void)len;
	return -ENOENT;
#endif
}

/* ---- stats ---- */

static double entry_timeout(struct share_view *v, int kind)
{
	if (v->sh->deidentify)
		return TIMEOUT_DIR;     /* names the feed cannot name again */
	return kind == K_INSTANCE ? TIMEOUT_FILE : TIMEOUT_DIR;
}

/* The stat of an instance node of a member series, as its folder lists it:
 * the stored file (plain) or the de-identified one.  0, 1 (left out), -errno. */
static int instance_stat(struct dcmfs *d, struct catalog *cat, struct share_view *v,
			 const struct cat_node *n, struct stat *st)
{
	if (v->sh->deidentify) {
#if HAVE_DEID
		uint64_t size = 0;
		int r = deid_size(d, cat, v, n->id, &size);
		if (r)
			return r;
		fill_common(d, st, share_ino(v->slot, K_INSTANCE, n->id), S_IFREG, 0444, 1, n->mtime_ns);
		st->st_size = (off_t)size;
		st->st_blocks = (blkcnt_t)((size + 511) / 512);
		return 0;
#else
		(void)cat;
		return 1;
#endif
	}
	fill_common(d, st, ino_make(K_INSTANCE, n->id), S_IFREG, 0444, 1, n->mtime_ns);
	st->st_size = (off_t)n->size;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	return 0;
}

static int cat_kind_of(int kind) { return kind == K_STUDIES ? CAT_PATIENT : kind; }

/* The stat of a node of kind (a share kind, inode.h) and row in view v:
 * 0, -ENOENT (not a member, or not shown), or -errno.  *n (may be NULL)
 * gets the catalogue node of catalogue kinds. */
static int view_stat(struct dcmfs *d, struct catalog *cat, struct share_view *v, int kind,
		     int64_t row, struct stat *st, double *timeout, struct cat_node *out)
{
	fuse_ino_t ino = share_ino(v->slot, kind, row);
	/* Stable across remounts (rsync -a): never the daemon's start. */
	int64_t newest = d->newest_ns ? d->newest_ns : v->file_mtime_ns;
	struct cat_node n;
	int r;
	*timeout = TIMEOUT_DIR;
	if (kind == K_FIXED) {
		if (row == SHARE_ROOT && !d->self) {
			stat_dir(d, st, ino, 3, newest);
			return 0;
		}
		if (row == SHARE_PATIENTS) {
			size_t np = v->dead ? 0 : share_members_count(v->m, CAT_PATIENT, 0);
			stat_dir(d, st, ino, 2 + (nlink_t)np, newest);
			return 0;
		}
		return -ENOENT;
	}
	if (v->dead)
		return -ENOENT;
	switch (kind) {
	case K_PATIENT:
	case K_STUDIES:
	case K_STUDY:
	case K_SERIES: {
		int ck = cat_kind_of(kind);
		if (!share_members_has(v->m, ck, row))
			return -ENOENT;
		if ((r = catalog_node(cat, ck, row, &n)))
			return r;
		if (!n.nchildren)
			return -ENOENT;
		/* patient: "studies"; studies, study: their member subfolders */
		nlink_t nlink = kind == K_PATIENT ? 3 : kind == K_SERIES ? 2 :
				2 + (nlink_t)share_members_count(v->m, ck + 1, row);
		stat_dir(d, st, ino, nlink, n.mtime_ns);
		break;
	}
	case K_INSTANCE:
		if (!v->sh->deidentify)
			return -ENOENT;
		if ((r = catalog_node(cat, CAT_INSTANCE, row, &n)))
			return r;
		if (!share_members_has(v->m, CAT_SERIES, n.parent))
			return -ENOENT;
		if ((r = instance_stat(d, cat, v, &n, st)))
			return r > 0 ? -ENOENT : r;
		break;
	default:
		return -ENOENT;
	}
	if (out)
		*out = n;
	return 0;
}

int share_getattr(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino,
		  struct stat *st, double *timeout)
{
	*timeout = TIMEOUT_DIR;
	pthread_rwlock_rdlock(&d->shares_lock);
	int r = -ENOENT;
	if (ino == INO_SHARES) {
		if (!d->self) {
			nlink_t n = 2;
			for (struct share_view *v = d->views; v; v = v->next)
				n++;
			/* The time shares were last made or removed: the folder
			 * of definitions changes then (stable across remounts). */
			char path[4096];
			struct stat ds;
			snprintf(path, sizeof(path), "%s/shares", d->store_dir);
			int64_t mt = stat(path, &ds) == 0 ?
				     (int64_t)ds.st_mtim.tv_sec * 1000000000 + ds.st_mtim.tv_nsec : d->newest_ns;
			stat_dir(d, st, ino, n, mt);
			r = 0;
		}
	} else if (is_share_ino(ino)) {
		struct share_view *v = view_of(d, share_ino_slot(ino));
		if (v)
			r = view_stat(d, cat, v, share_ino_kind(ino), share_ino_row(ino), st,
				      timeout, NULL);
	}
	pthread_rwlock_unlock(&d->shares_lock);
	return r;
}

int share_mount_has_instance(struct dcmfs *d, struct catalog *cat, int64_t id)
{
	pthread_rwlock_rdlock(&d->shares_lock);
	struct share_view *v = d->self;
	int64_t series;
	/* Only the version a share shows: an older one is not in the share,
	 * even of a member series. */
	int has = v && !v->dead && !v->sh->deidentify &&
		  catalog_instance_shown(cat, id, &series) == 1 &&
		  share_members_has(v->m, CAT_SERIES, series);
	pthread_rwlock_unlock(&d->shares_lock);
	return has;
}

int64_t share_plain_series(struct dcmfs *d, fuse_ino_t ino)
{
	if (!is_share_ino(ino) || share_ino_kind(ino) != K_SERIES)
		return 0;
	pthread_rwlock_rdlock(&d->shares_lock);
	struct share_view *v = view_of(d, share_ino_slot(ino));
	int64_t id = v && !v->sh->deidentify ? share_ino_row(ino) : 0;
	pthread_rwlock_unlock(&d->shares_lock);
	return id;
}

/* ---- lookup ---- */

/* A walk over the children of a share folder: finding a name, or listing. */
struct view_walk {
	struct dcmfs *d;
	struct catalog *cat;
	struct share_view *v;
	int kind;                   /* share kind of the children */
	const char *name;           /* finding: the name, and the id found */
	int64_t found;
	struct open_file *f;        /* listing: the listing */
	fuse_ino_t folder;          /* the folder walked (de-identified names are kept) */
};

/* A de-identified share: is member id named c->name? */
static int find_member_cb(void *arg, int64_t id)
{
	struct view_walk *c = arg;
	struct cat_node n;
	char name[256];
	if (catalog_node(c->cat, cat_kind_of(c->kind), id, &n))
		return 0;
	n.id = id;
	if (member_name(c->v, c->cat, cat_kind_of(c->kind), &n, name, sizeof(name)))
		return 0;
	names_put(c->v, c->folder, name, id);
	if (!c->found && !strcmp(name, c->name))
		c->found = id;
	return 0;               /* walk on: every name of the folder is kept */
}

static int find_instance_cb(void *arg, const struct cat_node *n)
{
	struct view_walk *c = arg;
	char name[256];
	if (member_name(c->v, c->cat, CAT_INSTANCE, n, name, sizeof(name)))
		return 0;
	names_put(c->v, c->folder, name, n->id);
	if (!c->found && !strcmp(name, c->name))
		c->found = n->id;
	return 0;
}

/* Child name of folder (pkind, prow) in view v. */
static int view_lookup(struct dcmfs *d, struct catalog *cat, struct share_view *v, int pkind,
		       int64_t prow, const char *name, struct stat *st, double *timeout)
{
	struct stat pst;
	int r = view_stat(d, cat, v, pkind, prow, &pst, timeout, NULL);
	if (r)
		return r;
	if (!S_ISDIR(pst.st_mode))
		return -ENOTDIR;
	if (pkind == K_FIXED && prow == SHARE_ROOT)
		return strcmp(name, "patients") ? -ENOENT :
		       view_stat(d, cat, v, K_FIXED, SHARE_PATIENTS, st, timeout, NULL);
	if (pkind == K_PATIENT)
		return strcmp(name, "studies") ? -ENOENT :
		       view_stat(d, cat, v, K_STUDIES, prow, st, timeout, NULL);
	if (v->dead)
		return -ENOENT;
	/* (catalogue parent kind, its id) and the share kind of the child */
	int ckind = pkind == K_FIXED ? CAT_PATIENT : pkind == K_STUDIES ? CAT_STUDY :
		    pkind == K_STUDY ? CAT_SERIES : CAT_INSTANCE;
	int catpk = pkind == K_FIXED ? 0 : pkind == K_STUDIES ? CAT_PATIENT :
		    pkind == K_STUDY ? CAT_STUDY : CAT_SERIES;
	int64_t catpid = pkind == K_FIXED ? 0 : prow;
	struct cat_node n;
	if (!v->sh->deidentify) {
		if ((r = catalog_lookup(cat, catpk, catpid, name, &n)))
			return r;
		if (ckind == CAT_INSTANCE) {
			instance_stat(d, cat, v, &n, st);
			*timeout = entry_timeout(v, K_INSTANCE);
			return 0;
		}
		*timeout = entry_timeout(v, ckind);
		return view_stat(d, cat, v, ckind, n.id, st, timeout, NULL);
	}
	fuse_ino_t folder = share_ino(v->slot, pkind, prow);
	struct view_walk c = { d, cat, v, ckind, name, names_get(v, folder, name), NULL, folder };
	if (c.found)
		r = 0;
	else if (ckind == CAT_INSTANCE)
		r = catalog_children(cat, CAT_SERIES, prow, find_instance_cb, &c);
	else
		r = share_members_each(v->m, ckind, catpid, find_member_cb, &c);
	if (r < 0)
		return r;
	if (!c.found)
		return -ENOENT;
	r = view_stat(d, cat, v, ckind, c.found, st, timeout, NULL);
	*timeout = TIMEOUT_DIR;
	return r;
}

int share_lookup(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		 const char *name, struct stat *st, double *timeout)
{
	*timeout = TIMEOUT_DIR;
	int r = -ENOENT;
	pthread_rwlock_rdlock(&d->shares_lock);
	if (parent == INO_SHARES) {
		struct share_view *v = d->self ? NULL : view_named(d, name);
		if (v)
			r = view_stat(d, cat, v, K_FIXED, SHARE_ROOT, st, timeout, NULL);
	} else if (is_share_ino(parent)) {
		struct share_view *v = view_of(d, share_ino_slot(parent));
		if (v)
			r = view_lookup(d, cat, v, share_ino_kind(parent), share_ino_row(parent),
					name, st, timeout);
	}
	pthread_rwlock_unlock(&d->shares_lock);
	return r;
}

/* ---- listings ---- */

static int list_member_cb(void *arg, int64_t id)
{
	struct view_walk *c = arg;
	struct stat st;
	double to;
	struct cat_node n;
	char name[256];
	int r = view_stat(c->d, c->cat, c->v, c->kind, id, &st, &to, &n);
	if (r == -ENOENT)
		return 0;       /* a member not shown now */
	if (r)
		return r;
	if (member_name(c->v, c->cat, cat_kind_of(c->kind), &n, name, sizeof(name)))
		return 0;
	if (c->v->sh->deidentify)
		names_put(c->v, c->folder, name, id);
	return listing_add(c->f, name, &st, entry_timeout(c->v, c->kind));
}

static int list_instance_cb(void *arg, const struct cat_node *n)
{
	struct view_walk *c = arg;
	struct stat st;
	char name[256];
	int r = instance_stat(c->d, c->cat, c->v, n, &st);
	if (r > 0 || r == -ENOENT)
		return 0;       /* left out (burned-in annotation), or gone */
	if (r)
		return r;
	if (member_name(c->v, c->cat, CAT_INSTANCE, n, name, sizeof(name)))
		return 0;
	if (c->v->sh->deidentify)
		names_put(c->v, c->folder, name, n->id);
	return listing_add(c->f, name, &st, entry_timeout(c->v, K_INSTANCE));
}

static int view_list(struct dcmfs *d, struct catalog *cat, struct share_view *v, int kind,
		     int64_t row, struct open_file *f)
{
	struct stat st;
	double to;
	int r;
	if (kind == K_FIXED && row == SHARE_ROOT) {
		if ((r = view_stat(d, cat, v, K_FIXED, SHARE_PATIENTS, &st, &to, NULL)))
			return r;
		return listing_add(f, "patients", &st, to);
	}
	if (kind == K_PATIENT) {
		if ((r = view_stat(d, cat, v, K_STUDIES, row, &st, &to, NULL)))
			return r == -ENOENT ? 0 : r;
		return listing_add(f, "studies", &st, to);
	}
	if (v->dead)
		return 0;
	struct view_walk c = { d, cat, v, 0, NULL, 0, f, share_ino(v->slot, kind, row) };
	switch (kind) {
	case K_FIXED:
		c.kind = K_PATIENT;
		return share_members_each(v->m, CAT_PATIENT, 0, list_member_cb, &c);
	case K_STUDIES:
		c.kind = K_STUDY;
		return share_members_each(v->m, CAT_STUDY, row, list_member_cb, &c);
	case K_STUDY:
		c.kind = K_SERIES;
		return share_members_each(v->m, CAT_SERIES, row, list_member_cb, &c);
	case K_SERIES:
		c.kind = K_INSTANCE;
		return catalog_children(cat, CAT_SERIES, row, list_instance_cb, &c);
	default:
		return -ENOTDIR;
	}
}

int share_list(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino, struct open_file *f)
{
	int r = -ENOENT;
	pthread_rwlock_rdlock(&d->shares_lock);
	if (ino == INO_SHARES) {
		r = 0;
		for (struct share_view *v = d->views; v && !r; v = v->next) {
			struct stat st;
			double to;
			if (!view_stat(d, cat, v, K_FIXED, SHARE_ROOT, &st, &to, NULL))
				r = listing_add(f, v->name, &st, to);
		}
	} else if (is_share_ino(ino)) {
		struct share_view *v = view_of(d, share_ino_slot(ino));
		if (v)
			r = view_list(d, cat, v, share_ino_kind(ino), share_ino_row(ino), f);
	}
	pthread_rwlock_unlock(&d->shares_lock);
	return r;
}

/* ---- start and end ---- */

int shares_start(struct dcmfs *d, struct catalog *cat)
{
	d->next_slot = 1;
	if (!(d->deid_cache = calloc(DEID_SLOTS, sizeof(*d->deid_cache))))
		return -ENOMEM;
	if (d->o.share) {
		struct share_view *v;
		int r = view_load(d, cat, d->o.share, 0, &v);
		if (r) {
			fuse_log(FUSE_LOG_ERR, "dcmfs: share '%s': %s\n", d->o.share, strerror(-r));
			return r;
		}
		d->self = d->views = v;
		return 0;
	}
	/* the admin mount: every share now, the rest as they come (shares_poll) */
	shares_poll(d, cat);
	return 0;
}

void shares_free(struct dcmfs *d)
{
	if (d->deid_cache) {
#if HAVE_DEID
		for (int i = 0; i < DEID_SLOTS; i++)
			deid_file_close(d->deid_cache[i].f);
#endif
		free(d->deid_cache);
		d->deid_cache = NULL;
	}
	while (d->views) {
		struct share_view *v = d->views;
		d->views = v->next;
		view_free(v);
	}
	d->self = NULL;
}

/* ---- following changes (the notify thread) ---- */

static void inval_inode(struct dcmfs *d, fuse_ino_t ino)
{
	fuse_lowlevel_notify_inval_inode(d->se, ino, 0, 0);
}

static void inval_entry(struct dcmfs *d, fuse_ino_t parent, const char *name)
{
	fuse_lowlevel_notify_inval_entry(d->se, parent, name, strlen(name));
}

/* Forget every folder of a view the kernel may keep (members now), and the
 * names of its patients (which takes the kernel's cached names below them
 * with them). */
struct forget_ctx {
	struct dcmfs *d;
	struct catalog *cat;
	struct share_view *v;
};

static int forget_series_cb(void *arg, int64_t id)
{
	struct forget_ctx *c = arg;
	inval_inode(c->d, share_ino(c->v->slot, K_SERIES, id));
	return 0;
}

static int forget_study_cb(void *arg, int64_t id)
{
	struct forget_ctx *c = arg;
	inval_inode(c->d, share_ino(c->v->slot, K_STUDY, id));
	share_members_each(c->v->m, CAT_SERIES, id, forget_series_cb, c);
	return 0;
}

static int forget_patient_cb(void *arg, int64_t id)
{
	struct forget_ctx *c = arg;
	struct cat_node n;
	char name[256];
	if (!catalog_node(c->cat, CAT_PATIENT, id, &n) &&
	    !member_name(c->v, c->cat, CAT_PATIENT, &n, name, sizeof(name)))
		inval_entry(c->d, share_ino(c->v->slot, K_FIXED, SHARE_PATIENTS), name);
	inval_inode(c->d, share_ino(c->v->slot, K_PATIENT, id));
	inval_inode(c->d, share_ino(c->v->slot, K_STUDIES, id));
	share_members_each(c->v->m, CAT_STUDY, id, forget_study_cb, c);
	return 0;
}

static void forget_view(struct dcmfs *d, struct catalog *cat, struct share_view *v)
{
	struct forget_ctx c = { d, cat, v };
	share_members_each(v->m, CAT_PATIENT, 0, forget_patient_cb, &c);
	inval_inode(d, share_ino(v->slot, K_FIXED, SHARE_PATIENTS));
	inval_inode(d, share_ino(v->slot, K_FIXED, SHARE_ROOT));
}

/* Is this node of the change a member of v (instances: their series)? */
static int change_member(struct share_view *v, const struct cat_change *ch)
{
	if (ch->kind == CAT_INSTANCE)
		return share_members_has(v->m, CAT_SERIES, ch->parent);
	return share_members_has(v->m, ch->kind, ch->id);
}

/* The share folder that lists a node of this change. */
static fuse_ino_t change_folder(struct share_view *v, const struct cat_change *ch)
{
	switch (ch->kind) {
	case CAT_PATIENT:
		return share_ino(v->slot, K_FIXED, SHARE_PATIENTS);
	case CAT_STUDY:
		return share_ino(v->slot, K_STUDIES, ch->parent);
	case CAT_SERIES:
		return share_ino(v->slot, K_STUDY, ch->parent);
	default:
		return share_ino(v->slot, K_SERIES, ch->parent);
	}
}

void shares_change(struct dcmfs *d, struct catalog *cat, const struct cat_change *ch)
{
	pthread_rwlock_rdlock(&d->shares_lock);
	for (struct share_view *v = d->views; v; v = v->next) {
		int was = change_member(v, ch);
		int r = share_members_apply(v->m, cat, ch);
		if (r)
			fuse_log(FUSE_LOG_ERR, "dcmfs: share '%s': cannot follow a change: %s\n",
				 v->name, strerror(-r));
		int now = change_member(v, ch);
		if ((!was && !now) || v->dead)
			continue;
		fuse_ino_t folder = change_folder(v, ch);
		if (ch->kind != CAT_INSTANCE)
			inval_inode(d, share_ino(v->slot, ch->kind, ch->id));
		if (ch->kind == CAT_PATIENT)
			inval_inode(d, share_ino(v->slot, K_STUDIES, ch->id));
		if ((ch->state != CAT_CHANGE_SHOWN || !now) && !v->sh->deidentify)
			inval_entry(d, folder, ch->name);
		inval_inode(d, folder);
		if (ch->kind == CAT_SERIES && !was && now) {
			/* a new member series: its study and patient may be new
			 * members too, whatever order their changes came in */
			struct cat_node st;
			if (!catalog_node(cat, CAT_STUDY, ch->parent, &st)) {
				inval_inode(d, share_ino(v->slot, K_STUDY, st.id));
				inval_inode(d, share_ino(v->slot, K_STUDIES, st.parent));
				inval_inode(d, share_ino(v->slot, K_PATIENT, st.parent));
			}
			inval_inode(d, share_ino(v->slot, K_FIXED, SHARE_PATIENTS));
		}
	}
	pthread_rwlock_unlock(&d->shares_lock);
}

void shares_fresh(struct dcmfs *d, struct catalog *cat)
{
	/* only this thread changes the list: it may walk it unlocked */
	for (struct share_view *v = d->views; v; v = v->next) {
		struct share_members *m = NULL;
		if (share_members_build(cat, v->sh, &m))
			continue;
		pthread_rwlock_wrlock(&d->shares_lock);
		struct share_members *old = v->m;
		v->m = m;
		pthread_rwlock_unlock(&d->shares_lock);
		share_members_free(old);
		forget_view(d, cat, v);
	}
}

void shares_poll(struct dcmfs *d, struct catalog *cat)
{
	int64_t now = now_s();
	if (d->self) {
		struct share_view *v = d->self;
		if (v->dead)
			return;
		int64_t ino, mt;
		if (def_file_id(d->store_dir, v->name, &ino, &mt) || ino != v->file_ino ||
		    mt != v->file_mtime_ns || share_expired(v->sh, now)) {
			forget_view(d, cat, v);         /* names, while they can be made */
			v->dead = 1;
			forget_view(d, cat, v);
		}
		return;
	}
	char **names = NULL;
	size_t nn = 0;
	if (share_names(d->store_dir, &names, &nn))
		return;
	/* Only this thread changes the list: it reads it unlocked, and takes the
	 * lock for writing only to change it. */
	struct share_view *gone = NULL, *added = NULL;
	int changed = 0;
	for (struct share_view *v = d->views; v; v = v->next) {
		int64_t ino, mt;
		int keep = 0;
		for (size_t i = 0; i < nn && !keep; i++)
			keep = !strcmp(names[i], v->name);
		if (keep && (def_file_id(d->store_dir, v->name, &ino, &mt) ||
			     ino != v->file_ino || mt != v->file_mtime_ns))
			keep = 0;       /* removed and made again: another share */
		if (!keep) {
			v->dead = 2;    /* marked for removal below */
			continue;
		}
		if (!v->dead && share_expired(v->sh, now)) {
			forget_view(d, cat, v);
			v->dead = 1;
			forget_view(d, cat, v);
			changed = 1;
		}
	}
	for (size_t i = 0; i < nn; i++) {
		struct share_view *v = view_named(d, names[i]);
		if ((v && v->dead != 2) || d->next_slot > SHARE_SLOTS)
			continue;
		int64_t ino, mt;
		if (v && !def_file_id(d->store_dir, names[i], &ino, &mt) &&
		    ino == v->file_ino && mt == v->file_mtime_ns)
			continue;
		struct share_view *nv;
		if (view_load(d, cat, names[i], d->next_slot, &nv))
			continue;       /* damaged or half-written: tried again next time */
		d->next_slot++;
		nv->next = added;
		added = nv;
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	int any_gone = 0;
	for (struct share_view *v = d->views; v; v = v->next)
		any_gone |= v->dead == 2;
	if (!any_gone && !added) {
		if (changed)
			inval_inode(d, INO_SHARES);
		return;
	}
	pthread_rwlock_wrlock(&d->shares_lock);
	for (struct share_view **p = &d->views; *p;) {
		if ((*p)->dead == 2) {
			struct share_view *v = *p;
			*p = v->next;
			v->next = gone;
			gone = v;
		} else {
			p = &(*p)->next;
		}
	}
	struct share_view **tail = &d->views;
	while (*tail)
		tail = &(*tail)->next;
	*tail = added;
	for (struct share_view *v = gone; v; v = v->next)
		deid_drop_slot(d, v->slot);
	pthread_rwlock_unlock(&d->shares_lock);
	while (gone) {
		struct share_view *v = gone;
		gone = v->next;
		inval_entry(d, INO_SHARES, v->name);
		forget_view(d, cat, v);
		view_free(v);
	}
	inval_inode(d, INO_SHARES);
}
