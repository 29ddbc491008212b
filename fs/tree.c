/*
 * tree.c - the catalogue as folders: stats, lookup and listings of /,
 * /patients/..., /versions/... and /quarantine/... (and the dispatch of
 * getattr, lookup and listing to /incoming and the ghosts, which keep
 * their own state, and to share_view.c for /shares and share mounts: a
 * share mount answers ENOENT for every inode but its root, its share's
 * and the stored files of its share).
 *
 * Nothing here is cached: every answer comes from the catalogue (through
 * the thread's own connection), and the kernel's cache of it is kept true
 * by notify.c.
 */
#include "dcmfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ts_set(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
}

void fill_common(struct dcmfs *d, struct stat *st, fuse_ino_t ino,
		 mode_t type, mode_t perm, nlink_t nlink, int64_t mtime_ns)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = type | (perm & ~d->o.umask & 07777);
	st->st_nlink = nlink;
	st->st_uid = d->o.uid;
	st->st_gid = d->o.gid;
	st->st_blksize = 1 << 20;
	ts_set(&st->st_mtim, mtime_ns);
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static mode_t dir_perm(struct dcmfs *d) { (void)d; return 0555; }

int64_t store_sub_time_ns(struct dcmfs *d, const char *sub)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", d->store_dir, sub);
	if (stat(path, &st) < 0)
		return 0;
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

/* The time of / and the other top folders: the newest patient's, or for
 * an empty store that of STORE/packs (it changes only with an import),
 * never the daemon's start, so a remount changes nothing rsync sees. */
int64_t top_time_ns(struct dcmfs *d)
{
	return d->newest_ns ? d->newest_ns : store_sub_time_ns(d, "packs");
}

void stat_dir(struct dcmfs *d, struct stat *st, fuse_ino_t ino,
	      nlink_t nlink, int64_t mtime_ns)
{
	fill_common(d, st, ino, S_IFDIR, dir_perm(d), nlink, mtime_ns);
	st->st_size = 4096;
	st->st_blocks = 8;
}

/* A catalogue node (kind from enum cat_kind) as a stat. */
void stat_node(struct dcmfs *d, int kind, const struct cat_node *n, struct stat *st)
{
	fuse_ino_t ino = ino_make(kind, n->id);
	if (kind_view(kind) && kind_cat(kind) != K_SERIES && kind_cat(kind) != K_INSTANCE) {
		/* A view folder: its count of subfolders is not known (and
		 * nlink 1 tells find so). */
		stat_dir(d, st, ino, 1, n->mtime_ns);
		return;
	}
	switch (kind_cat(kind)) {
	case K_PATIENT:
		stat_dir(d, st, ino, 3, n->mtime_ns);
		break;
	case K_STUDY:
		stat_dir(d, st, ino, 2 + (nlink_t)n->nchildren, n->mtime_ns);
		break;
	case K_SERIES:
		stat_dir(d, st, ino, 2, n->mtime_ns);
		break;
	default:
		/* a file of /patients shows in the views too (views.c) */
		fill_common(d, st, ino, S_IFREG, 0444, kind == K_INSTANCE ? file_links(d) : 1, n->mtime_ns);
		st->st_size = (off_t)n->size;
		st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
		break;
	}
}

static double node_timeout(int kind)
{
	return kind == K_INSTANCE ? TIMEOUT_FILE : TIMEOUT_DIR;
}

/* The catalogue view and parent of the children of a view folder (the
 * view's root or one of its folders); 0, or -ENOTDIR for anything else. */
int view_parent(fuse_ino_t ino, int *view, int *pkind, int64_t *pid)
{
	int kind = ino_kind(ino);
	if (ino == INO_VERSIONS || ino == INO_QUARANTINE) {
		*view = ino == INO_VERSIONS ? CAT_VIEW_VERSIONS : CAT_VIEW_QUARANTINE;
		*pkind = 0;
		*pid = 0;
		return 0;
	}
	if (!kind_view(kind) || kind_cat(kind) < K_PATIENT || kind_cat(kind) > K_SERIES)
		return -ENOTDIR;
	*view = kind_view(kind);
	*pkind = kind_cat(kind);
	*pid = ino_id(ino);
	return 0;
}

/* The stat of any inode; *timeout gets its cache time. */
int node_getattr(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino,
		 struct stat *st, double *timeout)
{
	int kind = ino_kind(ino);
	int64_t id = ino_id(ino);
	*timeout = TIMEOUT_DIR;
	if (is_share_ino(ino) || ino == INO_SHARES)
		return share_getattr(d, cat, ino, st, timeout);
	if (is_views_ino(ino))
		return views_getattr(d, cat, ino, st, timeout);
	if (d->self) {
		/* A share mount: its root, its share (above), and the stored
		 * files of the share's series; nothing else, whatever the number. */
		if (ino == INO_ROOT) {
			stat_dir(d, st, ino, 3, top_time_ns(d));
			return 0;
		}
		if (kind != K_INSTANCE || !share_mount_has_instance(d, cat, id))
			return -ENOENT;
	}
	if (kind == K_FIXED) {
		int64_t newest = top_time_ns(d);
		switch (ino) {
		case INO_ROOT:
			stat_dir(d, st, ino, d->ing ? 9 : 8, newest);
			if (d->ing)
				st->st_mode = S_IFDIR | (0755 & ~d->o.umask);
			return 0;
		case INO_PATIENTS:
			stat_dir(d, st, ino, 2 + (nlink_t)d->npatients, newest);
			return 0;
		case INO_VERSIONS:
		case INO_QUARANTINE:
			stat_dir(d, st, ino, 1, newest);
			return 0;
		case INO_INCOMING:
		case INO_REJECTED:
			if (!d->ing)
				return -ENOENT;
			break;
		default:
			return -ENOENT;
		}
	}
	if (is_incoming_ino(ino)) {
		if (!d->ing)
			return -ENOENT;
		*timeout = 0;
		pthread_mutex_lock(&d->in_lock);
		int r = spool_stat(d, ino, st);
		pthread_mutex_unlock(&d->in_lock);
		return r;
	}
	struct cat_node n;
	struct ghost g;
	switch (kind) {
	case K_PATIENT:
	case K_STUDY:
	case K_SERIES:
	case K_INSTANCE: {
		int r = catalog_node(cat, kind, id, &n);
		if (r == -ENOENT && kind != K_INSTANCE && ghost_find(d, kind, id, &g)) {
			stat_ghost(d, &g, st);
			return 0;
		}
		if (r)
			return r;
		stat_node(d, kind, &n, st);
		*timeout = node_timeout(kind);
		return 0;
	}
	case K_STUDIES: {
		int r = catalog_node(cat, CAT_PATIENT, id, &n);
		if (r == -ENOENT && ghost_find(d, K_PATIENT, id, &g) && !g.studies_gone) {
			stat_dir(d, st, ino, 2 + ghost_children(d, ino), g.mtime_ns);
			return 0;
		}
		if (r)
			return r;
		stat_dir(d, st, ino, 2 + (nlink_t)n.nchildren, n.mtime_ns);
		return 0;
	}
	default:
		break;
	}
	if (kind_view(kind) && kind_cat(kind) >= K_PATIENT && kind_cat(kind) <= K_INSTANCE) {
		int r = catalog_view_node(cat, kind_view(kind), kind_cat(kind), id, &n);
		if (r)
			return r;
		stat_node(d, kind, &n, st);
		*timeout = TIMEOUT_DIR;
		return 0;
	}
	return -ENOENT;
}

/* Catalogue parent (kind, id) of the children of folder inode ino, or -ENOTDIR. */
static int cat_parent(fuse_ino_t ino, int *pkind, int64_t *pid)
{
	switch (ino_kind(ino)) {
	case K_FIXED:
		if (ino != INO_PATIENTS)
			return -ENOTDIR;
		*pkind = 0;
		*pid = 0;
		return 0;
	case K_STUDIES:
		*pkind = CAT_PATIENT;
		break;
	case K_STUDY:
		*pkind = CAT_STUDY;
		break;
	case K_SERIES:
		*pkind = CAT_SERIES;
		break;
	default:
		return -ENOTDIR;
	}
	*pid = ino_id(ino);
	return 0;
}

/* The folder holding folder ino, for ".." lookups (NFS export: the kernel
 * reconnects a handle's folder to the tree): 0, or -ENOENT. */
static int parent_of(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino, fuse_ino_t *out)
{
	int share = is_share_ino(ino);
	int kind = share ? share_ino_kind(ino) : ino_kind(ino);
	int64_t row = share ? share_ino_row(ino) : ino_id(ino);
	int slot = share ? share_ino_slot(ino) : 0;
	struct cat_node n;
	if (ino == INO_ROOT || ino == INO_PATIENTS || ino == INO_SHARES ||
	    ino == INO_VERSIONS || ino == INO_QUARANTINE ||
	    ino == INO_BYDATE || ino == INO_BYACCESSION) {
		*out = INO_ROOT;
		return 0;
	}
	if (is_views_ino(ino))
		return views_parent(d, cat, ino, out);
	switch (kind) {
	case K_FIXED:
		if (!share)
			return -ENOENT;
		*out = row == SHARE_ROOT ? INO_SHARES : d->self ? INO_ROOT : share_ino(slot, K_FIXED, SHARE_ROOT);
		return 0;
	case K_PATIENT:
		*out = share ? share_ino(slot, K_FIXED, SHARE_PATIENTS) : INO_PATIENTS;
		return 0;
	case K_STUDIES:
		*out = share ? share_ino(slot, K_PATIENT, row) : ino_make(K_PATIENT, row);
		return 0;
	case K_STUDY:
		if (catalog_node(cat, CAT_STUDY, row, &n))
			return -ENOENT;
		*out = share ? share_ino(slot, K_STUDIES, n.parent) : ino_make(K_STUDIES, n.parent);
		return 0;
	case K_SERIES:
		if (catalog_node(cat, CAT_SERIES, row, &n))
			return -ENOENT;
		*out = share ? share_ino(slot, K_STUDY, n.parent) : ino_make(K_STUDY, n.parent);
		return 0;
	default:
		return -ENOENT;
	}
}

/* Look up name in a folder of the stored tree (not /incoming). */
int tree_lookup(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		const char *name, struct stat *st, double *timeout)
{
	*timeout = TIMEOUT_DIR;
	/* The kernel asks for "." and ".." only to turn a file handle into a
	 * file (export): both answer only what the inode itself may show. */
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		int r = node_getattr(d, cat, parent, st, timeout);
		fuse_ino_t up;
		if (r || !strcmp(name, "."))
			return r;
		if (!S_ISDIR(st->st_mode))
			return -ENOTDIR;
		if ((r = parent_of(d, cat, parent, &up)))
			return r;
		return node_getattr(d, cat, up, st, timeout);
	}
	if (is_share_ino(parent) || parent == INO_SHARES)
		return share_lookup(d, cat, parent, name, st, timeout);
	if (d->self) {
		/* a share mount: / holds patients/ alone */
		if (parent != INO_ROOT || strcmp(name, "patients"))
			return -ENOENT;
		return share_getattr(d, cat, share_ino(0, K_FIXED, SHARE_PATIENTS), st, timeout);
	}
	if (parent == INO_ROOT) {
		if (!strcmp(name, "shares"))
			return node_getattr(d, cat, INO_SHARES, st, timeout);
		if (!strcmp(name, "patients"))
			return node_getattr(d, cat, INO_PATIENTS, st, timeout);
		if (d->ing && !strcmp(name, "incoming"))
			return node_getattr(d, cat, INO_INCOMING, st, timeout);
		if (!strcmp(name, "versions"))
			return node_getattr(d, cat, INO_VERSIONS, st, timeout);
		if (!strcmp(name, "quarantine"))
			return node_getattr(d, cat, INO_QUARANTINE, st, timeout);
		if (!strcmp(name, "by-date"))
			return node_getattr(d, cat, INO_BYDATE, st, timeout);
		if (!strcmp(name, "by-accession"))
			return node_getattr(d, cat, INO_BYACCESSION, st, timeout);
		return -ENOENT;
	}
	if (is_views_ino(parent))
		return views_lookup(d, cat, parent, name, st, timeout);
	int view, pkind;
	int64_t pid;
	if (!view_parent(parent, &view, &pkind, &pid)) {
		struct cat_node n;
		int r = catalog_view_lookup(cat, view, pkind, pid, name, &n);
		if (!r)
			stat_node(d, view_kind(view, pkind + 1), &n, st);
		return r;
	}
	if (ino_kind(parent) == K_PATIENT) {
		if (strcmp(name, "studies"))
			return -ENOENT;
		return node_getattr(d, cat, ino_make(K_STUDIES, ino_id(parent)), st, timeout);
	}
	int r = cat_parent(parent, &pkind, &pid);
	if (r)
		return r;
	struct cat_node n;
	r = catalog_lookup(cat, pkind, pid, name, &n);
	if (r == 0) {
		stat_node(d, pkind + 1, &n, st);
		*timeout = node_timeout(pkind + 1);
		return 0;
	}
	struct ghost g;
	if (r == -ENOENT && ghost_by_name(d, parent, name, &g)) {
		stat_ghost(d, &g, st);
		return 0;
	}
	return r;
}

struct list_ctx {
	struct dcmfs *d;
	struct open_file *f;
	int kind;               /* kind of the children */
	fuse_ino_t parent;
};

static int list_cb(void *arg, const struct cat_node *n)
{
	struct list_ctx *c = arg;
	struct stat st;
	stat_node(c->d, c->kind, n, &st);
	/* Views are not followed by notify.c: the kernel asks again
	 * after a second. */
	return listing_add(c->f, n->name, &st, kind_view(c->kind) ? TIMEOUT_DIR : node_timeout(c->kind));
}

int list_dir(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino,
	     struct open_file *f)
{
	struct stat st;
	double to;
	int r = node_getattr(d, cat, ino, &st, &to);
	if (r)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((r = listing_add(f, ".", &st, to)))
		return r;
	struct stat pst;
	memset(&pst, 0, sizeof(pst));
	pst.st_mode = S_IFDIR;
	pst.st_ino = INO_ROOT;  /* the kernel fills in "..", but 0 would hide it */
	if ((r = listing_add(f, "..", &pst, 0)))
		return r;
	if (is_share_ino(ino) || ino == INO_SHARES)
		return share_list(d, cat, ino, f);
	if (d->self) {
		if (ino != INO_ROOT)
			return -ENOTDIR;
		if (!(r = share_getattr(d, cat, share_ino(0, K_FIXED, SHARE_PATIENTS), &st, &to)))
			r = listing_add(f, "patients", &st, to);
		return r;
	}
	if (ino == INO_ROOT) {
		if (!(r = node_getattr(d, cat, INO_SHARES, &st, &to)))
			r = listing_add(f, "shares", &st, to);
		if (!r && !(r = node_getattr(d, cat, INO_PATIENTS, &st, &to)))
			r = listing_add(f, "patients", &st, to);
		if (!r && d->ing && !(r = node_getattr(d, cat, INO_INCOMING, &st, &to)))
			r = listing_add(f, "incoming", &st, 0);
		if (!r && !(r = node_getattr(d, cat, INO_VERSIONS, &st, &to)))
			r = listing_add(f, "versions", &st, to);
		if (!r && !(r = node_getattr(d, cat, INO_QUARANTINE, &st, &to)))
			r = listing_add(f, "quarantine", &st, to);
		if (!r && !(r = node_getattr(d, cat, INO_BYDATE, &st, &to)))
			r = listing_add(f, "by-date", &st, to);
		if (!r && !(r = node_getattr(d, cat, INO_BYACCESSION, &st, &to)))
			r = listing_add(f, "by-accession", &st, to);
		return r;
	}
	if (is_views_ino(ino))
		return views_list(d, cat, ino, f);
	if (is_incoming_ino(ino)) {
		pthread_mutex_lock(&d->in_lock);
		spool_reap_emptied(d);
		if (ino == INO_INCOMING && !(r = spool_stat(d, INO_REJECTED, &st)))
			r = listing_add(f, ".rejected", &st, 0);
		for (struct spool_entry *e = d->spool; e && !r; e = e->next)
			if (e->parent == ino && !spool_stat(d, e->ino, &st))
				r = listing_add(f, e->name, &st, 0);
		pthread_mutex_unlock(&d->in_lock);
		return r;
	}
	if (ino_kind(ino) == K_PATIENT) {
		if (!(r = node_getattr(d, cat, ino_make(K_STUDIES, ino_id(ino)), &st, &to)))
			r = listing_add(f, "studies", &st, to);
		return r == -ENOENT ? 0 : r;
	}
	int pkind, view;
	int64_t pid;
	if (!view_parent(ino, &view, &pkind, &pid)) {
		struct list_ctx c = { d, f, view_kind(view, pkind + 1), ino };
		return catalog_view_children(cat, view, pkind, pid, list_cb, &c);
	}
	if ((r = cat_parent(ino, &pkind, &pid)))
		return r;
	struct list_ctx c = { d, f, pkind + 1, ino };
	r = catalog_children(cat, pkind, pid, list_cb, &c);
	if (!r && pkind != CAT_SERIES)
		r = list_ghosts(d, f, ino);
	return r;
}
