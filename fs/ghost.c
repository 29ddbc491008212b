/*
 * ghost.c - unlink and rmdir under /patients, and the folders they empty.
 *
 * unlink of an instance removes it from the catalogue (store_remove_node:
 * every version of its SOPInstanceUID, after its tombstone is synced).  The
 * catalogue drops a folder with its last child, but `rm -r` expects to
 * rmdir each folder after emptying it: so a folder the removal emptied is
 * kept here as an empty "ghost" until rmdir or unmount.
 *
 * Sharp edge: each unlink syncs its tombstone (appended to the daemon's one
 * tombstone pack) before its rows go, so `rm -r` of a big study costs a
 * syncfs per file.
 */
#include "dcmfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maint.h"

int ghost_find(struct dcmfs *d, int kind, int64_t id, struct ghost *out)
{
	int found = 0;
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost *g = d->ghosts; g; g = g->next)
		if (g->kind == kind && g->id == id) {
			*out = *g;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&d->ghost_lock);
	return found;
}

int ghost_by_name(struct dcmfs *d, fuse_ino_t parent, const char *name,
		  struct ghost *out)
{
	int found = 0;
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost *g = d->ghosts; g; g = g->next)
		if (g->parent == parent && !strcmp(g->name, name)) {
			*out = *g;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&d->ghost_lock);
	return found;
}

int ghost_children(struct dcmfs *d, fuse_ino_t parent)
{
	int n = 0;
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost *g = d->ghosts; g; g = g->next)
		n += g->parent == parent;
	pthread_mutex_unlock(&d->ghost_lock);
	return n;
}

static void ghost_add(struct dcmfs *d, int kind, const struct cat_node *n,
		      fuse_ino_t parent)
{
	struct ghost *g = calloc(1, sizeof(*g));
	if (!g)
		return;
	g->kind = kind;
	g->id = n->id;
	g->parent = parent;
	snprintf(g->name, sizeof(g->name), "%s", n->name);
	g->mtime_ns = n->mtime_ns;
	pthread_mutex_lock(&d->ghost_lock);
	g->next = d->ghosts;
	d->ghosts = g;
	pthread_mutex_unlock(&d->ghost_lock);
}

static void ghost_del(struct dcmfs *d, int kind, int64_t id)
{
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost **p = &d->ghosts; *p; p = &(*p)->next)
		if ((*p)->kind == kind && (*p)->id == id) {
			struct ghost *g = *p;
			*p = g->next;
			free(g);
			break;
		}
	pthread_mutex_unlock(&d->ghost_lock);
}

void stat_ghost(struct dcmfs *d, const struct ghost *g, struct stat *st)
{
	stat_dir(d, st, ino_make(g->kind, g->id), g->kind == K_PATIENT ? 3 : 2,
		 g->mtime_ns);
}

int list_ghosts(struct dcmfs *d, struct open_file *f, fuse_ino_t parent)
{
	int r = 0;
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost *g = d->ghosts; g && !r; g = g->next) {
		if (g->parent != parent)
			continue;
		int dup = 0;
		for (size_t i = 0; i < f->n && !dup; i++)
			dup = !strcmp(f->ents[i].name, g->name);
		if (dup)
			continue;
		struct stat st;
		stat_ghost(d, g, &st);
		r = listing_add(f, g->name, &st, TIMEOUT_DIR);
	}
	pthread_mutex_unlock(&d->ghost_lock);
	return r;
}

/* Remove instance (or report ENOENT); folders it leaves empty become ghosts. */
/* A folder the removal emptied (and the catalogue dropped) becomes a ghost
 * in the folder that listed it. */
static int ghost_emptied(void *arg, const struct cat_change *ch)
{
	struct dcmfs *d = arg;
	struct cat_node n = { .kind = ch->kind, .id = ch->id, .parent = ch->parent,
			      .mtime_ns = ch->mtime_ns };
	snprintf(n.name, sizeof(n.name), "%s", ch->name);
	fuse_ino_t listed_in = ch->kind == K_SERIES ? ino_make(K_STUDY, ch->parent) :
			       ch->kind == K_STUDY ? ino_make(K_STUDIES, ch->parent) :
			       INO_PATIENTS;
	ghost_add(d, ch->kind, &n, listed_in);
	return 0;
}

int tree_unlink(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		const char *name)
{
	if (ino_kind(parent) != K_SERIES)
		return -EPERM;
	struct cat_node inst;
	int r = catalog_lookup(cat, CAT_SERIES, ino_id(parent), name, &inst);
	if (r)
		return r;
	pthread_mutex_lock(&d->rm_lock);
	int64_t removed = 0;
	r = store_remove_node_emptied(d->store, cat, CAT_INSTANCE, inst.id, &removed,
				      ghost_emptied, d);
	if (r)
		fuse_log(FUSE_LOG_ERR, "dcmfs: cannot remove instance %lld: %s\n",
			 (long long)inst.id, strerror(-r));
	pthread_mutex_unlock(&d->rm_lock);
	return r;
}

int tree_rmdir(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
	       const char *name)
{
	struct stat st;
	double to;
	int r = tree_lookup(d, cat, parent, name, &st, &to);
	if (r)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	fuse_ino_t ino = st.st_ino;
	int kind = ino_kind(ino);
	if (kind == K_FIXED || kind_view(kind))     /* views are read-only */
		return -EPERM;
	pthread_mutex_lock(&d->rm_lock);
	struct ghost g;
	if (kind == K_STUDIES) {
		struct cat_node n;
		if (!catalog_node(cat, CAT_PATIENT, ino_id(ino), &n))
			r = -ENOTEMPTY;
		else if (ghost_children(d, ino))
			r = -ENOTEMPTY;
		else {
			pthread_mutex_lock(&d->ghost_lock);
			for (struct ghost *p = d->ghosts; p; p = p->next)
				if (p->kind == K_PATIENT && p->id == ino_id(ino))
					p->studies_gone = 1;
			pthread_mutex_unlock(&d->ghost_lock);
		}
	} else if (!ghost_find(d, kind, ino_id(ino), &g)) {
		r = -ENOTEMPTY;     /* in the catalogue: it has children */
	} else if (kind == K_PATIENT && !g.studies_gone) {
		r = -ENOTEMPTY;
	} else if (ghost_children(d, kind == K_PATIENT ? ino_make(K_STUDIES, g.id) : ino)) {
		r = -ENOTEMPTY;
	} else {
		ghost_del(d, kind, g.id);
	}
	pthread_mutex_unlock(&d->rm_lock);
	return r;
}


void ghosts_free(struct dcmfs *d)
{
	while (d->ghosts) {
		struct ghost *g = d->ghosts;
		d->ghosts = g->next;
		free(g);
	}
}
