/*
 * views.c - the readable views, read-only folders beside /patients:
 *   /by-date/<YYYY>/<MM>/<DD>/<study>/<series>/<SOP>.dcm
 *   /by-accession/<accession>/<study>/<series>/<SOP>.dcm
 *
 * <study> is "<patient folder>_<PatientName>_<StudyDescription>": the
 * patient's folder name under /patients and the two values escaped as the
 * tree escapes them (escape.h; an empty value is "%"), cut as the tree
 * cuts long names.  When studies of one folder get the same name, the one
 * with the smallest row id keeps it and each other gets "~<its row id>"
 * after it ('~' is never in an escaped value, so no study's own name can
 * be taken).  <series> and the files are named as under /patients, and the
 * files are the stored files: the same inode numbers.  Every file shown in
 * /patients shows once in each view (nlink 3), so rsync -aH, tar and du
 * count it once.  A study without an 8-digit StudyDate is in
 * /by-date/unknown; one without AccessionNumber in /by-accession/% (the
 * tree's name for an empty value).
 *
 * Share mounts have no views: a view names folders by patient name, date
 * and accession, which a de-identified share must not show, and a share
 * mount shows patients/ alone.
 *
 * Following changes: the kernel keeps no listing of a view folder (ops.c
 * opendir) and names and attributes in them for a second; notify.c also
 * drops the view folders of each study and series the change feed names.
 */
#include "dcmfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "hash.h"

#define VIEW_TIMEOUT 1.0

/* ---- study folder names ---- */

struct named_study {
	struct cat_view_study info;
	char name[NAME_COMPONENT_MAX + 1];
};

struct study_list {
	struct named_study *v;
	size_t n, cap;
};

static int collect_study(void *arg, const struct cat_view_study *s)
{
	struct study_list *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct named_study *p = realloc(l->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++].info = *s;
	return 0;
}

/* The readable name of a study, with suffix ("" or "~<id>"). */
static void study_name(const struct cat_view_study *s, const char *suffix, char *out)
{
	char base[NAME_COMPONENT_MAX + 1 + 2 * (3 * 256 + 2) + 2];
	size_t n = (size_t)snprintf(base, sizeof(base), "%s_", s->patient_dir);
	n += name_escape(s->patient_name, base + n);
	base[n++] = '_';
	name_escape(s->description, base + n);
	name_fit(base, checksum64(base, strlen(base)), suffix, out);
}

static int by_name_then_id(const void *a, const void *b)
{
	const struct named_study *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : x->info.id < y->info.id ? -1 : x->info.id > y->info.id;
}

/* The studies of one group with their unique names, sorted by name. */
static int group_named(struct catalog *cat, int by, const char *value, struct study_list *l)
{
	memset(l, 0, sizeof(*l));
	int r = catalog_group_studies(cat, by, value, collect_study, l);
	if (r) {
		free(l->v);
		l->v = NULL;
		return r;
	}
	for (size_t i = 0; i < l->n; i++)
		study_name(&l->v[i].info, "", l->v[i].name);
	qsort(l->v, l->n, sizeof(*l->v), by_name_then_id);
	/* Equal names: the first (smallest id) keeps it, the others get their id. */
	char kept[NAME_COMPONENT_MAX + 1] = "";
	for (size_t i = 0; i < l->n; i++) {
		if (i == 0 || strcmp(kept, l->v[i].name)) {
			memcpy(kept, l->v[i].name, sizeof(kept));
			continue;
		}
		char suffix[32];
		snprintf(suffix, sizeof(suffix), "~%lld", (long long)l->v[i].info.id);
		study_name(&l->v[i].info, suffix, l->v[i].name);
	}
	return 0;
}

/* ---- groups: years, months, days, accessions ---- */

struct group_find {
	const char *value;
	int64_t mtime_ns, first_id;
	int found;
};

static int find_group_cb(void *arg, const char *value, int64_t mtime_ns, int64_t first_id)
{
	struct group_find *g = arg;
	if (strcmp(value, g->value))
		return 0;
	g->found = 1;
	g->mtime_ns = mtime_ns;
	g->first_id = first_id;
	return 1;
}

/* Is there a group of exactly this value (date prefix of len)?  0 and
 * its time and first study, -ENOENT, or -errno. */
static int group_find(struct catalog *cat, int by, const char *value, int len,
		      int64_t *mtime_ns, int64_t *first_id)
{
	struct group_find g = { value, 0, 0, 0 };
	int r = catalog_study_groups(cat, by, value, len, find_group_cb, &g);
	if (r < 0)
		return r;
	if (!g.found)
		return -ENOENT;
	*mtime_ns = g.mtime_ns;
	if (first_id)
		*first_id = g.first_id;
	return 0;
}

/* The value of a day folder (8 digits, or "" for unknown). */
static void day_value(int64_t id, char *out, size_t len)
{
	if (id == DAY_UNKNOWN)
		snprintf(out, len, "%s", "");
	else
		snprintf(out, len, "%08lld", (long long)id);
}

/* A date folder's group: its value and length. */
static int date_group(int kind, int64_t id, char *value, size_t vlen, int *len)
{
	switch (kind) {
	case K_YEAR:
		*len = 4;
		snprintf(value, vlen, "%04lld", (long long)id);
		return 0;
	case K_MONTH:
		*len = 6;
		snprintf(value, vlen, "%06lld", (long long)id);
		return 0;
	case K_DAY:
		*len = id == DAY_UNKNOWN ? 4 : 8;
		day_value(id, value, vlen);
		return 0;
	default:
		return -ENOENT;
	}
}

/* The group value an accession folder stands for: its first study's
 * accession, when that study is still the group's first. */
static int accession_value(struct catalog *cat, int64_t id, char *value, size_t vlen,
			   int64_t *mtime_ns)
{
	struct cat_view_study s;
	int64_t first;
	int r = catalog_view_study(cat, id, &s);
	if (!r)
		r = group_find(cat, CAT_BY_ACCESSION, s.accession, 0, mtime_ns, &first);
	if (!r && first != id)
		r = -ENOENT;
	if (!r)
		snprintf(value, vlen, "%s", s.accession);
	return r;
}

/* The view (CAT_BY_*) and group value of a folder that lists studies. */
static int study_group_of(struct catalog *cat, fuse_ino_t ino, int *by, char *value, size_t vlen)
{
	int64_t t;
	if (ino_kind(ino) == K_DAY) {
		*by = CAT_BY_DATE;
		day_value(ino_id(ino), value, vlen);
		return 0;
	}
	if (ino_kind(ino) == K_ACCESSION) {
		*by = CAT_BY_ACCESSION;
		return accession_value(cat, ino_id(ino), value, vlen, &t);
	}
	return -ENOTDIR;
}

/* ---- stats ---- */

int views_getattr(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino,
		  struct stat *st, double *timeout)
{
	int kind = ino_kind(ino);
	int64_t id = ino_id(ino), t;
	char value[256];
	int len, r;
	struct cat_view_study s;
	struct cat_node n;
	*timeout = VIEW_TIMEOUT;
	if (d->self)
		return -ENOENT;
	if (ino == INO_BYDATE || ino == INO_BYACCESSION) {
		stat_dir(d, st, ino, 1, top_time_ns(d));
		return 0;
	}
	switch (kind) {
	case K_YEAR:
	case K_MONTH:
	case K_DAY:
		date_group(kind, id, value, sizeof(value), &len);
		if ((r = group_find(cat, CAT_BY_DATE, value, len, &t, NULL)))
			return r;
		stat_dir(d, st, ino, 1, t);
		return 0;
	case K_ACCESSION:
		if ((r = accession_value(cat, id, value, sizeof(value), &t)))
			return r;
		stat_dir(d, st, ino, 1, t);
		return 0;
	case K_DSTUDY:
	case K_ASTUDY:
		if ((r = catalog_view_study(cat, id, &s)))
			return r;
		stat_dir(d, st, ino, 2 + (nlink_t)s.nchildren, s.mtime_ns);
		return 0;
	case K_DSERIES:
	case K_ASERIES:
		if ((r = catalog_node(cat, CAT_SERIES, id, &n)))
			return r;
		if (!n.nchildren)
			return -ENOENT;
		stat_dir(d, st, ino, 2, n.mtime_ns);
		return 0;
	default:
		return -ENOENT;
	}
}

/* ---- lookups ---- */

/* name is exactly `digits` decimal digits: its value, else -1. */
static int64_t digits_value(const char *name, size_t digits)
{
	if (strlen(name) != digits)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < digits; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

struct acc_scan {
	const char *name;
	int64_t first_id;
};

static int acc_scan_cb(void *arg, const char *value, int64_t mtime_ns, int64_t first_id)
{
	(void)mtime_ns;
	struct acc_scan *a = arg;
	char name[NAME_COMPONENT_MAX + 1];
	name_component(value, "", name);
	if (strcmp(name, a->name))
		return 0;
	a->first_id = first_id;
	return 1;
}

int views_lookup(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		 const char *name, struct stat *st, double *timeout)
{
	int kind = ino_kind(parent);
	int64_t id = ino_id(parent), v, t, first;
	fuse_ino_t child;
	char value[256];
	struct cat_node n;
	int r;
	*timeout = VIEW_TIMEOUT;
	if (d->self)
		return -ENOENT;
	if (parent == INO_BYDATE) {
		v = digits_value(name, 4);
		if (!strcmp(name, "unknown"))
			child = ino_make(K_DAY, DAY_UNKNOWN);
		else if (v < 0)
			return -ENOENT;
		else
			child = ino_make(K_YEAR, v);
	} else if (kind == K_YEAR || kind == K_MONTH) {
		if ((v = digits_value(name, 2)) < 0)
			return -ENOENT;
		child = ino_make(kind == K_YEAR ? K_MONTH : K_DAY, id * 100 + v);
	} else if (parent == INO_BYACCESSION) {
		/* A whole name is the escaped value; a cut one (with '~') is
		 * found among the names. */
		if (strchr(name, '~')) {
			struct acc_scan a = { name, 0 };
			if ((r = catalog_study_groups(cat, CAT_BY_ACCESSION, "", 0, acc_scan_cb, &a)) < 0)
				return r;
			if (!r)
				return -ENOENT;
			first = a.first_id;
		} else {
			if (name_unescape(name, value, sizeof(value)) < 0)
				return -ENOENT;
			if ((r = group_find(cat, CAT_BY_ACCESSION, value, 0, &t, &first)))
				return r;
		}
		child = ino_make(K_ACCESSION, first);
	} else if (kind == K_DAY || kind == K_ACCESSION) {
		int by;
		struct study_list l;
		if ((r = study_group_of(cat, parent, &by, value, sizeof(value))) ||
		    (r = group_named(cat, by, value, &l)))
			return r;
		r = -ENOENT;
		for (size_t i = 0; i < l.n && r; i++)
			if (!strcmp(l.v[i].name, name)) {
				child = ino_make(by == CAT_BY_DATE ? K_DSTUDY : K_ASTUDY, l.v[i].info.id);
				r = 0;
			}
		free(l.v);
		if (r)
			return r;
	} else if (kind == K_DSTUDY || kind == K_ASTUDY) {
		if ((r = catalog_lookup(cat, CAT_STUDY, id, name, &n)))
			return r;
		child = ino_make(kind == K_DSTUDY ? K_DSERIES : K_ASERIES, n.id);
	} else if (kind == K_DSERIES || kind == K_ASERIES) {
		if ((r = catalog_lookup(cat, CAT_SERIES, id, name, &n)))
			return r;
		stat_node(d, K_INSTANCE, &n, st);
		return 0;
	} else {
		return -ENOENT;
	}
	return views_getattr(d, cat, child, st, timeout);
}

/* ---- listings ---- */

struct group_list {
	struct dcmfs *d;
	struct open_file *f;
	int kind;                   /* of the children */
	size_t skip;                /* date: characters of the parent's value */
};

static int list_group_cb(void *arg, const char *value, int64_t mtime_ns, int64_t first_id)
{
	struct group_list *g = arg;
	char name[NAME_COMPONENT_MAX + 1];
	struct stat st;
	int64_t id;
	if (g->kind == K_ACCESSION) {
		name_component(value, "", name);
		id = first_id;
	} else if (!value[0]) {
		snprintf(name, sizeof(name), "unknown");
		id = DAY_UNKNOWN;
	} else {
		snprintf(name, sizeof(name), "%s", value + g->skip);
		id = strtoll(value, NULL, 10);
	}
	stat_dir(g->d, &st, ino_make(value[0] || g->kind == K_ACCESSION ? g->kind : K_DAY, id),
		 1, mtime_ns);
	return listing_add(g->f, name, &st, VIEW_TIMEOUT);
}

struct node_list {
	struct dcmfs *d;
	struct open_file *f;
	int kind;                   /* K_DSERIES, K_ASERIES, or K_INSTANCE */
};

static int list_node_cb(void *arg, const struct cat_node *n)
{
	struct node_list *l = arg;
	struct stat st;
	if (l->kind == K_INSTANCE)
		stat_node(l->d, K_INSTANCE, n, &st);
	else
		stat_dir(l->d, &st, ino_make(l->kind, n->id), 2, n->mtime_ns);
	return listing_add(l->f, n->name, &st, VIEW_TIMEOUT);
}

int views_list(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino, struct open_file *f)
{
	int kind = ino_kind(ino);
	int64_t id = ino_id(ino);
	char value[256];
	int len, r;
	if (d->self)
		return -ENOENT;
	if (ino == INO_BYDATE) {
		struct group_list g = { d, f, K_YEAR, 0 };
		return catalog_study_groups(cat, CAT_BY_DATE, "", 4, list_group_cb, &g);
	}
	if (ino == INO_BYACCESSION) {
		struct group_list g = { d, f, K_ACCESSION, 0 };
		return catalog_study_groups(cat, CAT_BY_ACCESSION, "", 0, list_group_cb, &g);
	}
	if (kind == K_YEAR || kind == K_MONTH) {
		date_group(kind, id, value, sizeof(value), &len);
		struct group_list g = { d, f, kind == K_YEAR ? K_MONTH : K_DAY, (size_t)len };
		return catalog_study_groups(cat, CAT_BY_DATE, value, len + 2, list_group_cb, &g);
	}
	if (kind == K_DAY || kind == K_ACCESSION) {
		int by;
		struct study_list l;
		if ((r = study_group_of(cat, ino, &by, value, sizeof(value))) ||
		    (r = group_named(cat, by, value, &l)))
			return r;
		for (size_t i = 0; i < l.n && !r; i++) {
			struct stat st;
			stat_dir(d, &st, ino_make(by == CAT_BY_DATE ? K_DSTUDY : K_ASTUDY, l.v[i].info.id),
				 2 + (nlink_t)l.v[i].info.nchildren, l.v[i].info.mtime_ns);
			r = listing_add(f, l.v[i].name, &st, VIEW_TIMEOUT);
		}
		free(l.v);
		return r;
	}
	if (kind == K_DSTUDY || kind == K_ASTUDY) {
		struct node_list l = { d, f, kind == K_DSTUDY ? K_DSERIES : K_ASERIES };
		return catalog_children(cat, CAT_STUDY, id, list_node_cb, &l);
	}
	if (kind == K_DSERIES || kind == K_ASERIES) {
		struct node_list l = { d, f, K_INSTANCE };
		return catalog_children(cat, CAT_SERIES, id, list_node_cb, &l);
	}
	return -ENOTDIR;
}

/* ---- ".." (file handles) ---- */

int views_parent(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino, fuse_ino_t *out)
{
	int kind = ino_kind(ino);
	int64_t id = ino_id(ino);
	struct cat_view_study s;
	struct cat_node n;
	int r;
	if (d->self)
		return -ENOENT;
	switch (kind) {
	case K_YEAR:
		*out = INO_BYDATE;
		return 0;
	case K_MONTH:
		*out = ino_make(K_YEAR, id / 100);
		return 0;
	case K_DAY:
		*out = id == DAY_UNKNOWN ? INO_BYDATE : ino_make(K_MONTH, id / 100);
		return 0;
	case K_ACCESSION:
		*out = INO_BYACCESSION;
		return 0;
	case K_DSTUDY:
	case K_ASTUDY:
		if ((r = catalog_view_study(cat, id, &s)))
			return r;
		if (kind == K_DSTUDY) {
			int64_t day = digits_value(s.date, 8);
			*out = ino_make(K_DAY, day < 0 ? DAY_UNKNOWN : day);
			return 0;
		}
		{
			int64_t t, first;
			if ((r = group_find(cat, CAT_BY_ACCESSION, s.accession, 0, &t, &first)))
				return r;
			*out = ino_make(K_ACCESSION, first);
		}
		return 0;
	case K_DSERIES:
	case K_ASERIES:
		if ((r = catalog_node(cat, CAT_SERIES, id, &n)))
			return r;
		*out = ino_make(kind == K_DSERIES ? K_DSTUDY : K_ASTUDY, n.parent);
		return 0;
	default:
		return -ENOENT;
	}
}

/* ---- following the change feed ---- */

void views_forget(struct dcmfs *d, const struct cat_change *ch)
{
	if (d->self)
		return;
	if (ch->kind == CAT_STUDY) {
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(K_DSTUDY, ch->id), 0, 0);
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(K_ASTUDY, ch->id), 0, 0);
	} else if (ch->kind == CAT_SERIES) {
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(K_DSERIES, ch->id), 0, 0);
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(K_ASERIES, ch->id), 0, 0);
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(K_DSTUDY, ch->parent), 0, 0);
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(K_ASTUDY, ch->parent), 0, 0);
	} else if (ch->kind == CAT_PATIENT) {
		fuse_lowlevel_notify_inval_inode(d->se, INO_BYDATE, 0, 0);
		fuse_lowlevel_notify_inval_inode(d->se, INO_BYACCESSION, 0, 0);
	}
}
