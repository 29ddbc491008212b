/* maint.c - verify, reindex, remove and gc (see maint.h). */
#include "maint.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void say(maint_problem_fn fn, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(maint_problem_fn fn, void *arg, const char *fmt, ...)
{
	char buf[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (fn)
		fn(arg, buf);
}

/* ---------------- blob file names ---------------- */

/* Parse "<32 hex>[.<ordinal>]"; returns 0, 1 for a temporary file, -1 else. */
static int parse_blob_name(const char *name, uint8_t hash[HASH_LEN], uint32_t *ordinal,
			   int *tmp_pid)
{
	char hex[2 * HASH_LEN + 1];
	if (strlen(name) < 2 * HASH_LEN)
		return -1;
	memcpy(hex, name, 2 * HASH_LEN);
	hex[2 * HASH_LEN] = '\0';
	if (hash_from_hex(hex, hash))
		return -1;
	const char *rest = name + 2 * HASH_LEN;
	*ordinal = 0;
	if (*rest == '.' && rest[1] >= '0' && rest[1] <= '9') {
		char *end;
		*ordinal = (uint32_t)strtoul(rest + 1, &end, 10);
		rest = end;
	}
	if (!strncmp(rest, ".tmp", 4)) {
		*tmp_pid = atoi(rest + 4);
		return 1;
	}
	return *rest ? -1 : 0;
}

typedef int (*blobfile_cb)(void *arg, const char *path, const char *name);

static int walk_blob_files(const char *dir, blobfile_cb cb, void *arg)
{
	char p1[4096], p2[4400], p3[4700];
	snprintf(p1, sizeof(p1), "%s/blobs", dir);
	DIR *d1 = opendir(p1);
	if (!d1)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e1, *e2, *e3;
	int r = 0;
	while (!r && (e1 = readdir(d1))) {
		if (e1->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof(p2), "%s/%s", p1, e1->d_name);
		DIR *d2 = opendir(p2);
		if (!d2)
			continue;
		while (!r && (e2 = readdir(d2))) {
			if (e2->d_name[0] == '.')
				continue;
			snprintf(p3, sizeof(p3), "%s/%s", p2, e2->d_name);
			DIR *d3 = opendir(p3);
			if (!d3)
				continue;
			while (!r && (e3 = readdir(d3))) {
				if (e3->d_name[0] == '.')
					continue;
				char path[5000];
				snprintf(path, sizeof(path), "%s/%s", p3, e3->d_name);
				r = cb(arg, path, e3->d_name);
			}
			closedir(d3);
		}
		closedir(d2);
	}
	closedir(d1);
	return r;
}

/* ---------------- verify ---------------- */

struct verify_ctx {
	struct store *s;
	struct catalog *cat;
	struct codec_ctx *codec;
	maint_problem_fn problem;
	maint_progress_fn progress;
	void *arg;
	struct verify_totals *t;
	uint64_t done, total;
	uint8_t *buf;
	size_t cap;
};

static int grow(struct verify_ctx *v, size_t n)
{
	if (n <= v->cap)
		return 0;
	uint8_t *p = realloc(v->buf, n ? n : 1);
	if (!p)
		return -ENOMEM;
	v->buf = p;
	v->cap = n;
	return 0;
}

static void tick(struct verify_ctx *v, uint64_t n)
{
	v->done += n;
	if (v->progress)
		v->progress(v->arg, v->done, v->total);
}

static int verify_blob(void *arg, const struct blob_ref *b, int64_t refs)
{
	struct verify_ctx *v = arg;
	char hex[2 * HASH_LEN + 1];
	hash_hex(b->hash, hex);
	v->t->blobs++;
	if (!refs)
		v->t->unreferenced_blobs++;
	if (grow(v, b->raw_size))
		return -ENOMEM;
	struct blob_view view;
	int r = blob_view_get(v->s->br, b, &view);
	if (r < 0) {
		v->t->problems++;
		say(v->problem, v->arg, "%s blob %s.%u (%s): %s", r == -ENOENT ? "missing" : "unreadable",
		    hex, b->ordinal, b->pack ? "in a pack" : "file", strerror(-r));
		tick(v, b->raw_size);
		return 0;
	}
	int64_t got = codec_decode_range(v->codec, view.enc, view.enc_size, 0, v->buf, b->raw_size);
	blob_view_release(&view);
	uint8_t h[HASH_LEN];
	if (got != (int64_t)b->raw_size) {
		v->t->problems++;
		say(v->problem, v->arg, "corrupt blob %s.%u: does not decode", hex, b->ordinal);
	} else {
		hash_bytes(v->buf, b->raw_size, h);
		if (memcmp(h, b->hash, HASH_LEN)) {
			v->t->problems++;
			say(v->problem, v->arg, "wrong hash: blob %s.%u decodes to other bytes", hex, b->ordinal);
		}
	}
	v->t->bytes_checked += b->raw_size;
	tick(v, b->raw_size);
	return 0;
}

static int verify_instance(void *arg, int64_t id)
{
	struct verify_ctx *v = arg;
	struct instance_record rec;
	v->t->instances++;
	if (catalog_instance_info(v->cat, id, &rec)) {
		v->t->problems++;
		say(v->problem, v->arg, "instance %lld: unreadable record", (long long)id);
		return 0;
	}
	struct blob_ref segs[RECORD_MAX_SEGMENTS];
	int n = catalog_segments(v->cat, id, segs, RECORD_MAX_SEGMENTS);
	if (n != (int)rec.nseg) {
		v->t->problems++;
		say(v->problem, v->arg, "dangling row: instance %s has %d of %u segments",
		    rec.info.sop_instance_uid, n < 0 ? 0 : n, rec.nseg);
		return 0;
	}
	struct instance_handle *h;
	int r = instance_open(v->s, v->cat, id, &h);
	if (r) {
		v->t->problems++;
		say(v->problem, v->arg, "instance %s: blob missing or unreadable (%s)",
		    rec.info.sop_instance_uid, strerror(-r));
		return 0;
	}
	uint64_t size = instance_size(h);
	if (grow(v, size)) {
		instance_close(h);
		return -ENOMEM;
	}
	int64_t got = instance_read(h, v->codec, 0, v->buf, size);
	instance_close(h);
	uint8_t hash[HASH_LEN];
	if (got != (int64_t)rec.size || size != rec.size) {
		v->t->problems++;
		say(v->problem, v->arg, "instance %s: reads %lld bytes, expected %llu",
		    rec.info.sop_instance_uid, (long long)got, (unsigned long long)rec.size);
		return 0;
	}
	hash_bytes(v->buf, size, hash);
	if (memcmp(hash, rec.file_hash, HASH_LEN)) {
		v->t->problems++;
		say(v->problem, v->arg, "wrong hash: instance %s reads back other bytes",
		    rec.info.sop_instance_uid);
	}
	v->t->bytes_checked += size;
	tick(v, size);
	return 0;
}

static int orphan_file(void *arg, const char *path, const char *name)
{
	struct verify_ctx *v = arg;
	uint8_t hash[HASH_LEN];
	uint32_t ordinal;
	int pid = 0;
	int k = parse_blob_name(name, hash, &ordinal, &pid);
	if (k == 1) {
		v->t->temporary_files++;
		return 0;
	}
	struct blob_ref b;
	if (k < 0) {
		v->t->problems++;
		say(v->problem, v->arg, "stray file in blobs/: %s", path);
	} else if (catalog_blob_by_key(v->cat, hash, ordinal, &b) != 0) {
		v->t->problems++;
		say(v->problem, v->arg, "orphan blob file (no index row): %s", path);
	}
	return 0;
}

static int add_size(void *arg, const struct blob_ref *b, int64_t refs)
{
	(void)refs;
	*(uint64_t *)arg += b->raw_size;
	return 0;
}

int store_verify(struct store *s, maint_problem_fn problem, maint_progress_fn progress,
		 void *arg, struct verify_totals *t)
{
	memset(t, 0, sizeof(*t));
	struct verify_ctx v = { .s = s, .cat = s->cat, .problem = problem,
				.progress = progress, .arg = arg, .t = t };
	struct cat_totals tot;
	catalog_totals(s->cat, &tot);
	catalog_all_blobs(s->cat, add_size, &v.total);
	v.total += tot.logical_bytes;
	if (!(v.codec = codec_ctx_new()))
		return -ENOMEM;
	/* One read transaction: a consistent snapshot while imports go on. */
	catalog_exec(s->cat, "BEGIN");
	int r = catalog_all_blobs(s->cat, verify_blob, &v);
	if (!r)
		r = catalog_instances_under(s->cat, 0, 0, verify_instance, &v);
	if (!r)
		r = walk_blob_files(s->dir, orphan_file, &v);
	catalog_exec(s->cat, "COMMIT");
	codec_ctx_free(v.codec);
	free(v.buf);
	return r;
}

/* ---------------- reindex ---------------- */

struct rx {
	const char *dir;
	struct catalog *cat;
	maint_problem_fn problem;
	void *arg;
	struct reindex_totals *t;
	int64_t pack_id;
	struct instance_record *recs;
	size_t nrecs, caprecs;
	int64_t *tomb;
	size_t ntomb, captomb;
};

static int rx_entry(void *arg, int type, const uint8_t *p, size_t len, uint64_t off)
{
	struct rx *x = arg;
	if (type == PACK_ENTRY_BLOB) {
		struct blob_header h;
		int hl = blob_header_decode(p, len, &h);
		if (hl < 0)
			return 0;
		struct blob_ref ref = { .ordinal = h.ordinal, .kind = h.kind,
					.raw_size = h.raw_size, .enc_size = h.enc_size,
					.pack = x->pack_id, .offset = off + (uint64_t)hl };
		memcpy(ref.hash, h.hash, HASH_LEN);
		struct blob_ref old;
		if (catalog_blob_by_key(x->cat, h.hash, h.ordinal, &old) == 0)
			return 0;   /* written twice (a failed batch retried): first wins */
		if (catalog_insert_blob(x->cat, &ref) == 0)
			x->t->blobs++;
	} else if (type == PACK_ENTRY_INSTANCE) {
		if (x->nrecs == x->caprecs) {
			size_t cap = x->caprecs ? x->caprecs * 2 : 256;
			struct instance_record *n = realloc(x->recs, cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			x->recs = n;
			x->caprecs = cap;
		}
		if (record_decode(p, len, &x->recs[x->nrecs]) == 0)
			x->nrecs++;
	} else if (type == PACK_ENTRY_TOMBSTONE) {
		if (x->ntomb == x->captomb) {
			size_t cap = x->captomb ? x->captomb * 2 : 64;
			int64_t *n = realloc(x->tomb, cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			x->tomb = n;
			x->captomb = cap;
		}
		if (tombstone_decode(p, len, &x->tomb[x->ntomb]) == 0)
			x->ntomb++;
	}
	return 0;
}

static int rx_blob_file(void *arg, const char *path, const char *name)
{
	struct rx *x = arg;
	uint8_t hash[HASH_LEN];
	uint32_t ordinal;
	int pid;
	if (parse_blob_name(name, hash, &ordinal, &pid) != 0)
		return 0;
	struct blob_header h;
	if (blob_file_read_header(path, &h) < 0) {
		x->t->skipped++;
		say(x->problem, x->arg, "skipped blob file %s: damaged header or size", path);
		return 0;
	}
	struct blob_ref ref = { .ordinal = ordinal, .kind = h.kind, .raw_size = h.raw_size,
				.enc_size = h.enc_size, .pack = 0, .offset = 0 };
	memcpy(ref.hash, hash, HASH_LEN);
	if (memcmp(h.hash, hash, HASH_LEN) || h.ordinal != ordinal) {
		x->t->skipped++;
		say(x->problem, x->arg, "skipped blob file %s: its header names another blob", path);
		return 0;
	}
	if (catalog_insert_blob(x->cat, &ref) == 0)
		x->t->blobs++;
	return 0;
}

static int cmp_pack_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_rec_time(const void *a, const void *b)
{
	const struct instance_record *x = a, *y = b;
	return x->stored_at_ns < y->stored_at_ns ? -1 : x->stored_at_ns > y->stored_at_ns;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int store_reindex(const char *dir, maint_problem_fn problem, void *arg,
		  struct reindex_totals *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	char path[4096], old[4200], tmpdir[4200];
	snprintf(path, sizeof(path), "%s/packs", dir);
	DIR *d = opendir(path);
	if (!d) {
		snprintf(err, errlen, "'%s' is not a dcmfs store: %s", dir, strerror(errno));
		return -ENOENT;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".pack"))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				break;
			names = nn;
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_pack_names);

	/* Build the new index beside the old one, then swap. */
	snprintf(tmpdir, sizeof(tmpdir), "%s/reindex.tmp", dir);
	char cmd[4300];
	snprintf(cmd, sizeof(cmd), "%s/index.db", tmpdir);
	mkdir(tmpdir, 0755);
	unlink(cmd);
	struct catalog *cat;
	int r = catalog_open(tmpdir, 1, 0, &cat, err, errlen);
	struct rx x = { .dir = dir, .cat = cat, .problem = problem, .arg = arg, .t = t };
	if (r)
		goto out;
	catalog_begin(cat);
	for (size_t i = 0; !r && i < n; i++) {
		if ((r = catalog_pack_id(cat, names[i], &x.pack_id)))
			break;
		snprintf(path, sizeof(path), "%s/packs/%s", dir, names[i]);
		uint64_t torn;
		int w = pack_walk(path, rx_entry, &x, &torn);
		if (w == -ENOMEM) {
			r = w;
			break;
		}
		if (w < 0)
			say(problem, arg, "pack %s: unreadable (%s), skipped", names[i], strerror(-w));
		else if (torn)
			say(problem, arg, "pack %s: torn entry at offset %llu (an interrupted write), ignored from there",
			    names[i], (unsigned long long)torn);
		t->packs++;
	}
	if (!r)
		r = walk_blob_files(dir, rx_blob_file, &x);
	qsort(x.tomb, x.ntomb, sizeof(int64_t), cmp_i64);
	qsort(x.recs, x.nrecs, sizeof(*x.recs), cmp_rec_time);
	t->tombstones = (int64_t)x.ntomb;
	struct id_pool none = { 0, 0 };
	int64_t maxid[4] = { 0 };
	for (size_t i = 0; !r && i < x.nrecs; i++) {
		struct instance_record *rec = &x.recs[i];
		if (bsearch(&rec->instance_id, x.tomb, x.ntomb, sizeof(int64_t), cmp_i64))
			continue;
		int64_t blob_ids[RECORD_MAX_SEGMENTS];
		int ok = 1;
		for (uint32_t k = 0; k < rec->nseg && ok; k++) {
			struct blob_ref b;
			ok = catalog_blob_by_key(cat, rec->seg[k].hash, rec->seg[k].ordinal, &b) == 0;
			blob_ids[k] = b.id;
		}
		struct cat_node exists;
		if (!ok || catalog_node(cat, CAT_INSTANCE, rec->instance_id, &exists) == 0) {
			/* A record of a batch that never committed, whose data is
			 * gone; or a duplicate record. */
			t->skipped++;
			continue;
		}
		int64_t want_p = rec->patient_id, want_st = rec->study_id, want_se = rec->series_id;
		int pr = catalog_place(cat, rec, &none, &none, &none);
		if (pr) {
			t->skipped++;
			say(problem, arg, "instance record %s not placed: %s", rec->info.sop_instance_uid, strerror(-pr));
			continue;
		}
		(void)want_p; (void)want_st; (void)want_se;
		if (catalog_insert_instance(cat, rec, blob_ids) == 0)
			t->instances++;
		else
			t->skipped++;
		int64_t ids[4] = { rec->patient_id, rec->study_id, rec->series_id, rec->instance_id };
		for (int k = 0; k < 4; k++)
			if (ids[k] > maxid[k])
				maxid[k] = ids[k];
	}
	static const char *kinds[] = { "patient", "study", "series", "instance" };
	for (int k = 0; !r && k < 4; k++) {
		int64_t first;
		catalog_reserve_ids(cat, kinds[k], maxid[k] + 1, &first);
	}
	if (!r)
		r = catalog_commit(cat);
	if (r)
		snprintf(err, errlen, "reindex failed: %s", catalog_errmsg(cat));
	catalog_exec(cat, "PRAGMA wal_checkpoint(TRUNCATE)");
	catalog_close(cat);
	if (!r) {
		snprintf(path, sizeof(path), "%s/index.db", dir);
		snprintf(old, sizeof(old), "%s/index.db.old", dir);
		if (access(path, F_OK) == 0)
			rename(path, old);
		for (const char *suf = "-wal"; suf; suf = strcmp(suf, "-wal") ? NULL : "-shm") {
			char side[4300];
			snprintf(side, sizeof(side), "%s/index.db%s", dir, suf);
			unlink(side);
			snprintf(side, sizeof(side), "%s/index.db%s", tmpdir, suf);
			unlink(side);
		}
		if (rename(cmd, path) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot install the new index: %s", strerror(errno));
		}
		rmdir(tmpdir);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(x.recs);
	free(x.tomb);
	return r;
}

/* ---------------- remove ---------------- */

struct rm_ctx {
	struct catalog *cat;
	struct pack_writer *pw;
	int64_t removed;
	int err;
};

static int rm_one(void *arg, int64_t id)
{
	struct rm_ctx *c = arg;
	uint8_t tomb[TOMBSTONE_BYTES];
	uint64_t off;
	tombstone_encode(id, now_ns(), tomb);
	int r = pack_append(c->pw, PACK_ENTRY_TOMBSTONE, tomb, sizeof(tomb), NULL, 0, &off);
	if (!r)
		r = catalog_delete_instance(c->cat, id);
	if (!r)
		c->removed++;
	return r == -ENOENT ? 0 : r;
}

int store_remove_node(struct store *s, struct catalog *cat, int kind, int64_t id,
		      int64_t *removed)
{
	char err[256];
	struct rm_ctx c = { .cat = cat };
	int r = pack_writer_create(s->dir, &c.pw, err, sizeof(err));
	if (r)
		return r;
	r = catalog_begin(cat);
	if (!r)
		r = catalog_instances_under(cat, kind, id, rm_one, &c);
	if (!r)
		r = catalog_prune(cat);
	/* The tombstones are durable before the rows go. */
	if (!r)
		r = store_sync(s);
	if (!r)
		r = catalog_commit(cat);
	else
		catalog_rollback(cat);
	pack_writer_free(c.pw);
	*removed = r ? 0 : c.removed;
	return r;
}

int store_remove(struct store *s, int kind, const char *uid, int64_t *removed,
		 char *err, size_t errlen)
{
	int64_t *ids;
	int n = catalog_find_ids(s->cat, kind, uid, &ids);
	*removed = 0;
	if (n <= 0) {
		snprintf(err, errlen, n ? "cannot look up '%s': %s" : "'%s' is not in the store",
			 uid, strerror(-n));
		return n ? n : -ENOENT;
	}
	int r = 0;
	/* Removing an instance removes every version of its SOPInstanceUID:
	 * the first row is enough (one pack of tombstones, one sync). */
	if (kind == CAT_INSTANCE)
		n = 1;
	for (int i = 0; !r && i < n; i++) {
		int64_t k;
		r = store_remove_node(s, s->cat, kind, ids[i], &k);
		if (r)
			snprintf(err, errlen, "cannot remove '%s': %s", uid, strerror(-r));
		else
			*removed += k;
	}
	free(ids);
	return r;
}

/* ---------------- gc ---------------- */

struct gc_ctx {
	struct store *s;
	struct gc_totals *t;
	int64_t *dead;
	size_t ndead, cap;
	struct blob_ref *dead_files;
	size_t nfiles, capfiles;
};

static int gc_collect(void *arg, const struct blob_ref *b, int64_t refs)
{
	struct gc_ctx *g = arg;
	if (refs)
		return 0;
	if (g->ndead == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		int64_t *n = realloc(g->dead, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		g->dead = n;
		g->cap = cap;
	}
	g->dead[g->ndead++] = b->id;
	g->t->bytes_freed += b->enc_size;
	if (!b->pack) {
		if (g->nfiles == g->capfiles) {
			size_t cap = g->capfiles ? g->capfiles * 2 : 256;
			struct blob_ref *n = realloc(g->dead_files, cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			g->dead_files = n;
			g->capfiles = cap;
		}
		g->dead_files[g->nfiles++] = *b;
	}
	return 0;
}

static int gc_orphans(void *arg, const char *path, const char *name)
{
	struct gc_ctx *g = arg;
	uint8_t hash[HASH_LEN];
	uint32_t ordinal;
	int pid = 0;
	int k = parse_blob_name(name, hash, &ordinal, &pid);
	struct blob_ref b;
	if (k == 1) {
		/* A temporary file of a live import is not ours to take. */
		if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
			return 0;
		if (unlink(path) == 0)
			g->t->temporary_removed++;
	} else if (k == 0 && catalog_blob_by_key(g->s->cat, hash, ordinal, &b) != 0) {
		if (unlink(path) == 0)
			g->t->files_removed++;
	}
	return 0;
}

int store_gc(struct store *s, struct gc_totals *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	struct gc_ctx g = { .s = s, .t = t };
	/* Hold the write lock while looking at files: no import is then between
	 * publishing a blob file and committing its row. */
	int r = catalog_begin(s->cat);
	if (!r)
		r = catalog_all_blobs(s->cat, gc_collect, &g);
	for (size_t i = 0; !r && i < g.ndead; i++) {
		r = catalog_delete_blob(s->cat, g.dead[i]);
		if (r == -EBUSY)
			r = 0;
	}
	if (!r)
		r = walk_blob_files(s->dir, gc_orphans, &g);
	if (!r)
		r = catalog_commit(s->cat);
	else
		catalog_rollback(s->cat);
	if (r) {
		snprintf(err, errlen, "gc failed: %s", strerror(-r));
	} else {
		t->blobs_freed = (int64_t)g.ndead;
		/* Rows are gone for good: now the files. */
		for (size_t i = 0; i < g.nfiles; i++) {
			char path[4096];
			blob_file_path(s->dir, g.dead_files[i].hash, g.dead_files[i].ordinal, path, sizeof(path));
			if (unlink(path) == 0)
				t->files_removed++;
		}
	}
	free(g.dead);
	free(g.dead_files);
	return r;
}
