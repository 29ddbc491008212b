/*
 * maint.c - verify, reindex, remove and gc (see maint.h).
 *
 * Crash order (an import's is in ingest.c), and what a crash after each
 * step leaves:
 *
 * remove (store_remove_node), under the store's rm_lock:
 *   1. BEGIN IMMEDIATE.  Per instance: a tombstone appended to this
 *      process's tombstone pack (its pack row inserted with the first),
 *      the instance's rows deleted (uncommitted); then empty folders.
 *      Left: the rows; tombstones that may have reached the disk.  A
 *      tombstone on disk whose instance still has rows is an interrupted
 *      removal: verify reports it, reindex applies it, rm finishes it.
 *   2. syncfs: the tombstones are durable.  Left: the same.
 *   3. COMMIT: removed.  Blobs stay until gc.
 *   A failure rolls back and cuts the tombstone pack back to its size
 *   before (a pack that cannot be cut is not appended to again).
 *
 * gc (store_gc), holding the ingest lock exclusively and the write lock:
 *   1. BEGIN IMMEDIATE; the unreferenced blobs are listed.
 *   2. Blob files no committed row names, and temporary files of dead
 *      imports, unlinked.  Left: fewer orphans; nothing a row names.
 *   3. The unreferenced blob rows deleted; COMMIT.
 *   4. Their blob files unlinked, then dead mounts' spool files, then (gc
 *      --force) DAMAGED moved to DAMAGED.accepted.  Left after 3: blob
 *      files no row names, which the next gc removes.
 *   Pack space is never reclaimed: packs are not rewritten.
 *
 * reindex (store_reindex), holding the use lock exclusively:
 *   1. A new index built in STORE/reindex.tmp/index.db, in one
 *      transaction without a journal (catalog_build_open), from the blob
 *      files and packs, then fsynced; the damage found is
 *      written to DAMAGED.tmp.  Left: the old index.db in place, untouched;
 *      reindex.tmp and DAMAGED.tmp, which the next reindex replaces.
 *   2. index.db renamed to index.db.old, its -wal and -shm removed, the
 *      new index renamed to index.db.  Left between the renames: no
 *      index.db (the store does not open; run reindex again).
 *   3. DAMAGED.tmp renamed to DAMAGED, or DAMAGED removed when nothing was
 *      damaged.  Left before it: the new index with the previous marker.
 *   With the catalogue in PostgreSQL, steps 1 and 2 are one transaction
 *   (catalog_rebuild_open): the new catalogue is built in a schema of its
 *   own and swapped in by its commit.  Left before the commit: the old
 *   catalogue, untouched; after: the new one.  Then step 3.
 *
 * verify writes nothing.
 */
#include "maint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "datastore.h"
#include "hash.h"
#include "instance.h"
#include "storeconf.h"

static void say(maint_problem_fn fn, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(maint_problem_fn fn, void *arg, const char *fmt, ...)
{
	char buf[4096];     /* room for a whole 1023-byte UID and a path */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (fn)
		fn(arg, buf);
}

/* ---------------- blob file names ---------------- */

/* Parse a blob file's name, "<32 hex>[.<ordinal>]" or, for a temporary
 * file, "<32 hex>[.<ordinal>].tmp<pid>" (blobstore.h).  Returns 0 for a
 * blob file, 1 for a temporary one (its writer's pid in *tmp_pid, when
 * tmp_pid is not NULL), -1 for any other name. */
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
		if (tmp_pid)
			*tmp_pid = atoi(rest + 4);
		return 1;
	}
	return *rest ? -1 : 0;
}

/* Whether path is where the blob file of (hash, ordinal) lives in store
 * dir (blob_file_path): a file under its name at another place is a
 * stray, never read as that blob. */
static int blob_in_place(const char *dir, const char *path, const uint8_t hash[HASH_LEN],
			 uint32_t ordinal)
{
	char want[4400];
	blob_file_path(dir, hash, ordinal, want, sizeof(want));
	return !strcmp(want, path);
}

typedef int (*blobfile_cb)(void *arg, const char *path, const char *name);

/* The entries of folder path that do not start with '.': to cb when depth
 * is 0, else the folders among them walked at depth - 1 (one that does not
 * open is passed over).  Stops at the first nonzero cb and returns it. */
static int walk_below(const char *path, int depth, blobfile_cb cb, void *arg)
{
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *e;
	int r = 0;
	while (!r && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char sub[5000];
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		r = depth ? walk_below(sub, depth - 1, cb, arg) : cb(arg, sub, e->d_name);
	}
	closedir(d);
	return r;
}

/* The object names of a data store elsewhere, sorted: a part
 * ("<head>@<i>") then finds its head and the temporaries of its head. */
struct object_names {
	char **v;
	size_t n, cap;
};

static int object_names_add(void *arg, const char *name)
{
	struct object_names *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		char **nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv, l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(name)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether a listed name is key (or, with prefix, starts with key). */
static int object_names_has(const struct object_names *l, const char *key, int prefix)
{
	size_t lo = 0, hi = l->n, klen = strlen(key);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(l->v[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && (prefix ? !strncmp(l->v[lo], key, klen) : !strcmp(l->v[lo], key));
}

/* walk_blob_files on a data store elsewhere (datastore.h): its objects
 * under blobs/ by one listing, no readdir.  A part goes to cb only when
 * neither its head nor a temporary of its head exists (a stray: its writer
 * died before publishing, or its head was removed). */
static int walk_blob_objects(const char *dir, struct datastore *ds, blobfile_cb cb, void *arg)
{
	struct object_names l = { 0 };
	int r = ds->ops->list_all(ds, "blobs/", object_names_add, &l);
	if (!r && l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_names);
	for (size_t i = 0; !r && i < l.n; i++) {
		const char *name = l.v[i], *base = strrchr(name, '/') + 1;
		const char *at = strchr(base, '@');
		char head[4200], path[4400];
		if (at) {
			int hl = (int)(at - name);
			snprintf(head, sizeof(head), "%.*s.tmp", hl, name);
			if (object_names_has(&l, head, 1))
				continue;
			head[hl] = '\0';
			/* Asked again when not listed: published after the
			 * listing passed it (a concurrent import).  A cluster
			 * that does not answer stops the walk: each lookup
			 * would wait out the op timeout, part after part. */
			if (object_names_has(&l, head, 0))
				continue;
			int e = ds->ops->exists(ds, head);
			if (e != -ENOENT) {
				r = e;
				continue;
			}
		}
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		r = cb(arg, path, base);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	return r;
}

/* Every file in STORE/blobs/<ab>/<cd>/ to cb (path and name), temporary
 * files and strays included, wherever the data store keeps them.  Returns
 * 0, the first nonzero cb, or -errno when blobs/ exists but does not open. */
static int walk_blob_files(const char *dir, blobfile_cb cb, void *arg)
{
	char blobs[4096];
	snprintf(blobs, sizeof(blobs), "%s/blobs/", dir);
	const char *name;
	struct datastore *ds = datastore_resolve(blobs, &name);
	if (ds->ops->list_all)
		return walk_blob_objects(dir, ds, cb, arg);
	snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
	DIR *d = opendir(blobs);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	closedir(d);
	return walk_below(blobs, 2, cb, arg);
}

/* ---------------- pack names ---------------- */

static int pid_alive(long pid)
{
	return pid > 0 && pid <= INT32_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* A pack's writer is its name's pid (blobstore.c names packs
 * <time>-<pid hex>-<n>.pack): while it lives, the pack may be growing. */
static int pack_writer_alive(const char *name)
{
	if (strlen(name) < 26 || name[16] != '-' || name[25] != '-')
		return 0;
	char hex[9];
	memcpy(hex, name + 17, 8);
	hex[8] = '\0';
	char *end;
	long pid = strtol(hex, &end, 16);
	return *end == '\0' && pid != getpid() && pid_alive(pid);
}

/* The pack files of a store, sorted by name (creation time first: the
 * last one is the newest), wherever its data store keeps them.  Returns
 * the count or -errno. */
static int list_packs(const char *dir, char ***out)
{
	return pack_list(dir, out);
}

static void free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int marker_path(const char *dir, char *out, size_t len)
{
	return snprintf(out, len, "%s/%s", dir, DAMAGE_MARKER) >= (int)len ? -ENAMETOOLONG : 0;
}

/* Damage accepted by `gc --force` (STORE/DAMAGED.accepted, the lines of
 * the markers it cleared): known, reported as such, not counted again. */
static char *lines_load(const char *dir, const char *suffix)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s%s", dir, DAMAGE_MARKER, suffix);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	char line[4400];
	if (m) {
		fputc('\n', m);    /* every line, the first too, is found as "\n...\n" */
		while (fgets(line, sizeof(line), f))
			fputs(line, m);
		fclose(m);
	}
	fclose(f);
	return text;
}

static char *accepted_load(const char *dir)
{
	return lines_load(dir, ".accepted");
}

static int accepted_has(const char *text, const char *pack, uint64_t start, uint64_t end)
{
	char line[400];
	if (!text)
		return 0;
	snprintf(line, sizeof(line), "\npack %s %llu %llu\n", pack, (unsigned long long)start,
		 (unsigned long long)end);
	return strstr(text, line) != NULL;
}

/* Move the marker's lines to DAMAGED.accepted (gc --force). */
static int accept_marker(const char *dir)
{
	char path[4200], acc[4300], line[4400];
	marker_path(dir, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	snprintf(acc, sizeof(acc), "%s.accepted", path);
	FILE *a = fopen(acc, "a");
	if (!a) {
		int e = errno;
		fclose(f);
		return -e;
	}
	while (fgets(line, sizeof(line), f))
		if (line[0] != '#')
			fputs(line, a);
	fclose(f);
	if (fclose(a) != 0)
		return -errno;
	return unlink(path) < 0 ? -errno : 0;
}

/* ---------------- verify ---------------- */

struct verify_shared;

/* One checker: the main thread's, or a worker's (its own connections,
 * codec and buffer; its problem lines are held until its item is done,
 * then told in order, see verify_done). */
struct verify_ctx {
	struct store *s;
	struct catalog *cat;        /* the snapshot being checked */
	struct catalog *fresh;      /* sees commits made since (gc, rm) */
	struct codec_ctx *codec;
	maint_problem_fn problem;   /* verify_hold: into held */
	void *arg;                  /* this ctx */
	struct verify_shared *sh;
	struct verify_totals *t;    /* this checker's own counts, summed at the end */
	char *held;                 /* problem lines not yet told, each ending in '\0' */
	size_t held_len, held_cap;
	uint8_t *buf;
	size_t cap;
	struct blob_ref *segs;      /* the instance being checked: its segments */
	int64_t *owners;            /* and the first instance that names each blob */
	char *accepted;             /* DAMAGED.accepted */
	char *marker;               /* DAMAGED, when it stands */
	/* the pack being walked */
	const char *pack_name;
	int64_t pack_id;
	int newest;
	int growing;                /* its writer (an import) still runs */
};

static int verify_buf_reserve(struct verify_ctx *v, size_t n)
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

/* What the checkers share: the caller's callbacks (told under lock, one
 * item's lines together), progress, and the queue of work. */
enum verify_item_kind { VI_PACK, VI_PACKS_GONE, VI_BLOB, VI_INSTANCE };
struct verify_item {
	enum verify_item_kind kind;
	int64_t id;                 /* VI_INSTANCE */
	int pack;                   /* VI_PACK: index in packs */
	int64_t refs;               /* VI_BLOB */
	struct blob_ref b;
};
#define VERIFY_QUEUE 256
/* Items taken but not yet told, at most: their lines wait to be told in
 * the order the items were listed (the same order as one checker's). */
#define VERIFY_WINDOW 4096
struct verify_told {
	int done;
	char *lines;                /* each ending in '\0'; NULL: none */
	size_t len;
};
struct verify_shared {
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	maint_problem_fn problem;
	maint_progress_fn progress;
	void *arg;
	uint64_t done, total;
	char **packs;               /* sorted names (list_packs) */
	int npacks;
	struct verify_item q[VERIFY_QUEUE];
	size_t head, count;
	int closed;                 /* no more items come */
	int err;                    /* a checker failed (-errno): the rest is drained */
	uint64_t taken, told;       /* items taken off the queue; told, in order */
	pthread_cond_t window;      /* told moved */
	struct verify_told slot[VERIFY_WINDOW];   /* item n in slot[n % VERIFY_WINDOW] */
};

static void progress_add(struct verify_ctx *v, uint64_t n)
{
	struct verify_shared *sh = v->sh;
	pthread_mutex_lock(&sh->lock);
	sh->done += n;
	if (sh->progress)   /* the total is an estimate (blobs no instance names are not in it) */
		sh->progress(sh->arg, sh->done < sh->total ? sh->done : sh->total, sh->total);
	pthread_mutex_unlock(&sh->lock);
}

/* A checker's problem line, held until its item is done. */
static void verify_hold(void *arg, const char *what)
{
	struct verify_ctx *v = arg;
	size_t n = strlen(what) + 1;
	if (v->held_len + n > v->held_cap) {
		size_t cap = v->held_cap ? v->held_cap : 4096;
		while (cap < v->held_len + n)
			cap *= 2;
		char *p = realloc(v->held, cap);
		if (!p) {
			/* Told now, perhaps between another item's lines. */
			pthread_mutex_lock(&v->sh->lock);
			if (v->sh->problem)
				v->sh->problem(v->sh->arg, what);
			pthread_mutex_unlock(&v->sh->lock);
			return;
		}
		v->held = p;
		v->held_cap = cap;
	}
	memcpy(v->held + v->held_len, what, n);
	v->held_len += n;
}

static void tell_lines(struct verify_shared *sh, const char *lines, size_t len)
{
	for (size_t at = 0; at < len; at += strlen(lines + at) + 1)
		if (sh->problem)
			sh->problem(sh->arg, lines + at);
}

/* Tell the lines held now (the main thread, no worker running). */
static void verify_flush(struct verify_ctx *v)
{
	tell_lines(v->sh, v->held, v->held_len);
	v->held_len = 0;
}

/* Item seq is done: its lines are told once every item before it is, so
 * a problem and the instances it affects stay one block and the order is
 * the listing's whatever the number of checkers. */
static void verify_done(struct verify_ctx *v, uint64_t seq)
{
	struct verify_shared *sh = v->sh;
	pthread_mutex_lock(&sh->lock);
	struct verify_told *me = &sh->slot[seq % VERIFY_WINDOW];
	me->done = 1;
	if (v->held_len) {
		me->lines = v->held;    /* handed over: a new buffer next time */
		me->len = v->held_len;
		v->held = NULL;
		v->held_len = v->held_cap = 0;
	}
	struct verify_told *next;
	while ((next = &sh->slot[sh->told % VERIFY_WINDOW])->done) {
		tell_lines(sh, next->lines, next->len);
		free(next->lines);
		*next = (struct verify_told){ 0 };
		sh->told++;
		pthread_cond_broadcast(&sh->window);
	}
	pthread_mutex_unlock(&sh->lock);
}

static int say_affected_instance(void *arg, int64_t id, const char *sop, int record)
{
	struct verify_ctx *v = arg;
	say(v->problem, v->arg, "  affects instance %s (inode %lld): its %s", sop ? sop : "?",
	    (long long)id, record ? "record" : "data");
	return 0;
}

static int verify_pack_entry(void *arg, int type, const uint8_t *p, size_t len, uint64_t off)
{
	struct verify_ctx *v = arg;
	v->t->pack_entries++;
	int64_t id;
	struct cat_node n;
	/* A tombstone whose instance still has rows: a removal killed between
	 * its durable tombstone and its row delete.  The tree shows what a
	 * reindex would take away; both readings cannot be right.  (Checked
	 * again on a fresh connection once no removal is between its
	 * tombstones and its commit: an rm may be finishing right now.) */
	if (type == PACK_ENTRY_TOMBSTONE && tombstone_decode(p, len, &id) == 0 &&
	    catalog_node(v->cat, CAT_INSTANCE, id, &n) == 0 &&
	    (store_removals_settle(v->s), 1) &&
	    (!v->fresh || catalog_node(v->fresh, CAT_INSTANCE, id, &n) == 0)) {
		v->t->problems++;
		say(v->problem, v->arg, "instance inode %" PRId64 " (%s) is removed by a tombstone in pack"
		    " %s at byte %llu but still in the index: a removal was interrupted; finish it"
		    " with 'dcmfsctl rm' of the instance, or 'dcmfsctl reindex' applies it",
		    id, n.name, v->pack_name, (unsigned long long)off);
	}
	return 0;
}

static int note_found(void *arg, int64_t id, const char *sop, int record)
{
	(void)id; (void)sop; (void)record;
	*(int *)arg = 1;
	return 1;
}

/* Whether committed rows name data in [start, end) of the pack being
 * walked: data synced before its rows committed cannot be a torn append. */
static int names_committed(struct verify_ctx *v, uint64_t start, uint64_t end)
{
	int found = 0;
	if (v->pack_id > 0)
		catalog_affected(v->cat, v->pack_id, start, end, note_found, &found);
	return found;
}

static void verify_damaged_range(void *arg, uint64_t start, uint64_t end, int tail)
{
	struct verify_ctx *v = arg;
	/* A torn append (or a pack torn while being created) at the end of
	 * the newest pack is what a crash leaves: not damage.  Nor is the
	 * end of a pack an import is appending to right now. */
	if (tail && (v->newest || v->growing) && (start >= PACK_FILE_HEADER || end <= PACK_FILE_HEADER) &&
	    !names_committed(v, start, INT64_MAX)) {      /* rows past a cut count too */
		v->t->torn_tail++;   /* an interrupted append: normal after a crash */
		return;
	}
	if (accepted_has(v->accepted, v->pack_name, start, end)) {
		v->t->accepted_ranges++;
		say(v->problem, v->arg, "known damage (accepted by gc --force): pack %s bytes [%llu, %llu)",
		    v->pack_name, (unsigned long long)start, (unsigned long long)end);
		return;
	}
	v->t->problems++;
	v->t->damaged_ranges++;
	v->t->damaged_bytes += end - start;
	say(v->problem, v->arg, "damaged: pack %s bytes [%llu, %llu) (%llu bytes%s)", v->pack_name,
	    (unsigned long long)start, (unsigned long long)end,
	    (unsigned long long)(end - start), tail ? ", to the end of the pack" : "");
	if (v->pack_id > 0)
		catalog_affected(v->cat, v->pack_id, start, end, say_affected_instance, v);
}

/* ---- damage in words ----
 * A read that fails says only -EBADMSG ("damaged") or an errno; verify and
 * reindex look again at the bytes and say what is wrong with them, in the
 * terms of the formats in blobstore.h.  Nothing here is trusted for
 * anything but the message. */

/* An errno from reading stored data, for a person. */
static const char *read_error_words(int err)
{
	switch (err) {
	case EBADMSG: return "its stored bytes fail their checks (damaged)";
	case EIO: return "the disk or filesystem returned an input/output error";
	case ENOENT: return "a file it is stored in is missing";
	case EACCES: case EPERM: return "a file it is stored in cannot be opened (permission denied)";
	case ENOMEM: return "there was not enough memory to read it";
	case EMFILE: case ENFILE: return "too many files are open to read it";
	default: return strerror(err);
	}
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What is wrong with the blob file at path, which should hold blob b
 * (NULL: no index row to hold its header against). */
static void blob_file_why(const char *path, const struct blob_ref *b, char *out, size_t len)
{
	/* Through the data store: a file, or an object of a RADOS pool. */
	uint8_t h[BLOB_FILE_HEADER_BYTES] = {0};
	uint64_t size = 0;
	int64_t n = 0;
	int r = data_file_read(path, h, sizeof(h), 0, &size, &n);
	if (r < 0 && r != -EBADMSG) {
		snprintf(out, len, r == -ENOENT ? "the blob file is missing" :
			 "the blob file cannot be opened: %s", read_error_words(-r));
		return;
	}
	struct blob_header want;
	if (b) {
		memcpy(want.hash, b->hash, HASH_LEN);
		want.ordinal = b->ordinal;
		want.raw_size = b->raw_size;
		want.enc_size = b->enc_size;
	}
	if (r == -EBADMSG)
		snprintf(out, len, "the blob file is not a regular file (a FIFO, device or folder in its place)");
	else if (size == 0)
		snprintf(out, len, "the blob file is empty");
	else if (size >= sizeof(h) && n != (int64_t)sizeof(h))
		snprintf(out, len, "the blob file's header cannot be read: %s",
			 read_error_words(n < 0 ? (int)-n : EIO));
	else if (!blob_file_header_why(h, size, b ? &want : NULL, out, len))
		snprintf(out, len, "the blob file's encoded bytes fail their checksum (changed on disk)");
}

/* What is wrong with the pack entry whose payload of plen bytes the index
 * places at payload_off in pack file path. */
static void pack_entry_why(const char *path, uint64_t payload_off, uint64_t plen, char *out, size_t len)
{
	uint64_t size = 0, start = payload_off - PACK_ENTRY_HEADER;
	uint8_t h[PACK_ENTRY_HEADER];
	int64_t n = 0;
	/* Through the data store: a file, or an object of a RADOS pool. */
	int r = data_file_read(path, h, sizeof(h), start, &size, &n);
	if (r < 0) {
		snprintf(out, len, r == -ENOENT ? "the pack file is missing" : r == -EBADMSG ?
			 "the pack file is not a regular file (a FIFO, device or folder in its place)" :
			 "the pack file cannot be opened: %s", read_error_words(-r));
		return;
	}
	if (payload_off < PACK_FILE_HEADER + PACK_ENTRY_HEADER)
		snprintf(out, len, "the index places it inside the pack's file header (its row is damaged)");
	else if (payload_off + plen > size)
		snprintf(out, len, "the pack file ends (at byte %llu) before the entry does (at byte %llu):"
			 " the pack was cut short", (unsigned long long)size,
			 (unsigned long long)(payload_off + plen));
	else if (n != (int64_t)sizeof(h))
		snprintf(out, len, "the entry's header cannot be read: %s", read_error_words(n < 0 ? (int)-n : EIO));
	else if (le32(h) != 0x32454b50 && le32(h) != 0x31454b50)
		snprintf(out, len, "no pack entry starts at byte %llu, where the index says one does"
			 " (overwritten there)", (unsigned long long)start);
	else if (le32(h + 16) != plen && le32(h + 8) != plen)
		snprintf(out, len, "the entry at byte %llu has another length than the index says",
			 (unsigned long long)start);
	else
		snprintf(out, len, "the entry's bytes fail their checksum (changed on disk)");
}

/* Why blob b does not read (err from store_blob_view), in words. */
static void blob_why(struct store *s, struct catalog *cat, const struct blob_ref *b, int err,
		     char *out, size_t len)
{
	char path[4400];
	if (err != EBADMSG && err != ENOENT) {
		snprintf(out, len, "%s", read_error_words(err));
	} else if (b->pack) {
		char name[256] = "?";
		catalog_pack_name(cat, b->pack, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/packs/%s", store_dir(s), name);
		pack_entry_why(path, b->offset - BLOB_HEADER_BYTES, BLOB_HEADER_BYTES + b->enc_size, out, len);
	} else {
		blob_file_path(store_dir(s), b->hash, b->ordinal, path, sizeof(path));
		blob_file_why(path, b, out, len);
	}
}

/* Pack i of the shared list, every entry. */
static int verify_pack(struct verify_ctx *v, int i)
{
	char path[4400];
	const char *name = v->sh->packs[i];
	snprintf(path, sizeof(path), "%s/packs/%s", store_dir(v->s), name);
	v->pack_name = name;
	v->newest = i == v->sh->npacks - 1;
	v->growing = pack_writer_alive(name);
	if (catalog_pack_find(v->cat, name, &v->pack_id))
		v->pack_id = 0;
	int r = pack_walk(path, verify_pack_entry, verify_damaged_range, v);
	if (r == -ENOENT)
		r = 0;
	else if (r < 0) {
		v->t->problems++;
		say(v->problem, v->arg, "unreadable: pack %s: %s", name, read_error_words(-r));
		r = 0;
	}
	return r;
}

/* A pack rows name that is gone from packs/: every instance with data
 * in it is lost (the walk above sees only files that exist). */
static int verify_pack_gone(void *arg, int64_t id, const char *name)
{
	struct verify_ctx *v = arg;
	char path[4400];
	int found = 0;
	snprintf(path, sizeof(path), "%s/packs/%s", store_dir(v->s), name);
	if (data_file_exists(path) != -ENOENT)
		return 0;
	catalog_affected(v->cat, id, 0, INT64_MAX, note_found, &found);
	if (!found) {
		/* No instance data: a pack of tombstones (rm names its pack in
		 * the index).  Without it a reindex brings the removed back. */
		v->t->problems++;
		say(v->problem, v->arg, "missing: pack %s, which the index names (tombstones:"
		    " instances removed before may come back on reindex)", name);
		return 0;
	}
	v->t->problems++;
	say(v->problem, v->arg, "missing: pack %s, which the index places data in", name);
	catalog_affected(v->cat, id, 0, INT64_MAX, say_affected_instance, v);
	return 0;
}

/* Where a blob is, for messages. */
static void blob_where(struct verify_ctx *v, const struct blob_ref *b, char *out, size_t len)
{
	if (b->pack) {
		char name[256] = "?";
		catalog_pack_name(v->cat, b->pack, name, sizeof(name));
		snprintf(out, len, "pack %s bytes [%llu, %llu)", name,
			 (unsigned long long)(b->offset - BLOB_HEADER_BYTES - PACK_ENTRY_HEADER),
			 (unsigned long long)(b->offset + b->enc_size));
	} else {
		blob_file_path(store_dir(v->s), b->hash, b->ordinal, out, len);
		snprintf(out + strlen(out), len - strlen(out), " (blob file)");
	}
}

/* The verdict on blob b, told once by whoever decoded it: the check of
 * the first instance that names it, or the blob pass (a blob no instance
 * names).  r: 0, or the -errno of store_blob_view; got:
 * the bytes it decoded to (r 0; negative: it does not decode); h: their
 * hash (got == raw size). */
static void blob_verdict(struct verify_ctx *v, const struct blob_ref *b, int r, int64_t got,
			 const uint8_t h[HASH_LEN])
{
	char hex[2 * HASH_LEN + 1], where[4400];
	const char *what = NULL;
	struct blob_ref now;
	v->t->blobs++;
	if (r < 0 && catalog_blob_by_id(v->fresh, b->id, &now) == -ENOENT) {
		/* gc freed it since our snapshot began: not missing. */
		progress_add(v, b->raw_size);
		return;
	}
	char why[600] = "";
	if (r == -ENOENT) {
		what = "missing";
	} else if (r < 0) {
		what = r == -EBADMSG ? "damaged" : "unreadable";
		blob_why(v->s, v->cat, b, -r, why, sizeof(why));
	} else {
		if (got != (int64_t)b->raw_size) {
			/* Reads check a blob file's header only: its body's
			 * checksum tells a change on disk from a bad encoding. */
			char path[4400];
			struct blob_header bh;
			what = "damaged";
			if (!b->pack) {
				blob_file_path(store_dir(v->s), b->hash, b->ordinal, path, sizeof(path));
				if (blob_file_check(path, 1, &bh) == -EBADMSG)
					blob_file_why(path, b, why, sizeof(why));
			}
			if (!why[0])
				snprintf(why, sizeof(why), "its checksums hold, but its encoded bytes do not"
					 " decode to the %llu bytes the index says (written damaged, or a codec"
					 " bug)", (unsigned long long)b->raw_size);
		} else if (memcmp(h, b->hash, HASH_LEN)) {
			what = "damaged";
			snprintf(why, sizeof(why), "it decodes to other bytes than its hash names");
		}
		v->t->bytes_checked += b->raw_size;
	}
	if (what) {
		v->t->problems++;
		hash_hex(b->hash, hex);
		blob_where(v, b, where, sizeof(where));
		say(v->problem, v->arg, "%s: blob %s.%u in %s%s%s", what, hex, b->ordinal, where,
		    why[0] ? ": " : "", why);
		catalog_blob_users(v->cat, b->id, say_affected_instance, v);
	}
	progress_add(v, b->raw_size);
}

/* A blob of the blob pass (no instance names it): read, decoded and
 * hashed on its own. */
static int verify_blob(void *arg, const struct blob_ref *b, int64_t refs)
{
	struct verify_ctx *v = arg;
	if (!refs)
		v->t->unreferenced_blobs++;
	if (verify_buf_reserve(v, b->raw_size))
		return -ENOMEM;
	struct blob_view view;
	int r = store_blob_view(v->s, b, &view);
	int64_t got = -1;
	uint8_t h[HASH_LEN] = {0};
	if (!r) {
		got = codec_decode_range(v->codec, view.enc, view.enc_size, 0, v->buf, b->raw_size);
		blob_view_release(&view);
		v->t->bytes_decoded += got > 0 ? (uint64_t)got : 0;
		if (got == (int64_t)b->raw_size)
			hash_bytes(v->buf, b->raw_size, h);
	}
	blob_verdict(v, b, r, got, h);
	return 0;
}

/* The instance's record, read from its pack, against its row and its n
 * segment rows segs (n: catalog_segments_owners' answer); the decoded
 * record is left in *rec. */
static int check_record(struct verify_ctx *v, const struct cat_instance *row,
			const struct blob_ref *segs, int n, struct instance_record *rec,
			char *why, size_t len)
{
	struct blob_view view;
	int r = store_pack_entry(v->s, row->rec.pack, row->rec.offset, row->rec.len,
			       PACK_ENTRY_INSTANCE, &view);
	if (r == -EBADMSG) {
		char name[256] = "?", path[4400];
		catalog_pack_name(v->cat, row->rec.pack, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/packs/%s", store_dir(v->s), name);
		pack_entry_why(path, row->rec.offset, row->rec.len, why, len);
		return -1;
	}
	if (r) {
		snprintf(why, len, "%s", read_error_words(-r));
		return -1;
	}
	r = record_decode(view.enc, view.enc_size, rec);
	blob_view_release(&view);
	if (r) {
		snprintf(why, len, "its checksum holds, but it is not a record this dcmfs can read"
			 " (written damaged, or by a newer dcmfs)");
		return -1;
	}
	const char *diff = NULL;
	/* The folder ids in a record are those its writer used.  Two writers'
	 * records of one folder (an import killed before it committed, then
	 * run again, both records in the packs) each carry their own, and
	 * reindex keeps one folder: check_identity holds the folders against
	 * the record by UID and patient key instead. */
	if (rec->instance_id != row->id)
		diff = "instance id";
	else if (rec->version != row->version || strcmp(rec->info.sop_instance_uid, row->sop_uid))
		diff = "SOP Instance UID or version";
	else if (rec->size != row->size || memcmp(rec->file_hash, row->file_hash, HASH_LEN))
		diff = "size or file hash";
	else if (n != (int)rec->nseg)
		diff = "segment count";
	for (int i = 0; !diff && i < n; i++)
		if (memcmp(segs[i].hash, rec->seg[i].hash, HASH_LEN) ||
		    segs[i].ordinal != rec->seg[i].ordinal || segs[i].raw_size != rec->seg[i].raw_size)
			diff = "segments";
	if (diff) {
		/* The record is intact: the row is what is wrong. */
		snprintf(why, len, "disagrees with its index row (%s; the record says SOP Instance"
			 " UID %s, version %u); fix: dcmfsctl reindex", diff,
			 rec->info.sop_instance_uid, rec->version);
		return -2;
	}
	return 0;
}

/* Whether a %noid folder name is the stem or the stem with a -N added
 * for a clash (catalog_sqlite.c, patient_dir). */
static int noid_dir_ok(const char *have, const char *stem)
{
	size_t n = strlen(stem);
	if (strncmp(have, stem, n))
		return 0;
	if (!have[n])
		return 1;
	if (have[n] != '-' || have[n + 1] < '2' || have[n + 1] > '9')
		return 0;
	for (const char *p = have + n + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* What the catalogue says the instance is (patient, folders, names,
 * cleanliness, which version is current) against its record: a bit
 * flipped in index.db must not silently rename or hide a file. */
static void check_identity(struct verify_ctx *v, const struct cat_instance *row,
			   const struct instance_record *rec)
{
	struct cat_identity *have = malloc(sizeof(*have)), *want = malloc(sizeof(*want));
	const char *diff[16];
	int nd = 0;
	if (!have || !want) {
		free(have);
		free(want);
		return;
	}
	if (catalog_identity(v->cat, row->id, have)) {
		diff[nd++] = "its row or folders cannot be read";
	} else if (catalog_identity_want(rec, want) == 0) {
		if (strcmp(have->patient_key, want->patient_key) || strcmp(have->issuer, want->issuer))
			diff[nd++] = "patient id or issuer";
		if (want->noid ? !noid_dir_ok(have->patient_dir, want->patient_dir)
			       : strcmp(have->patient_dir, want->patient_dir) != 0)
			diff[nd++] = "patient folder name";
		if (strcmp(have->study_uid, want->study_uid))
			diff[nd++] = "study UID";
		if (strcmp(have->study_dir, want->study_dir))
			diff[nd++] = "study folder name";
		if (strcmp(have->series_uid, want->series_uid))
			diff[nd++] = "series UID";
		if (strcmp(have->series_dir, want->series_dir))
			diff[nd++] = "series folder name";
		if (strcmp(have->fname, want->fname) || strcmp(have->vname, want->vname))
			diff[nd++] = "file name";
		if (strcmp(have->unclean, want->unclean))
			diff[nd++] = "unclean reason";
		if (have->ncurrent != 1)
			diff[nd++] = "not exactly one current version of its SOP Instance UID";
		else if (have->current != (have->pick == row->id))
			diff[nd++] = "current version";
	}
	for (int i = 0; i < nd; i++) {
		v->t->problems++;
		say(v->problem, v->arg, "instance %s (inode %lld): its index row disagrees with its"
		    " record (%s); fix: dcmfsctl reindex", rec->info.sop_instance_uid,
		    (long long)row->id, diff[i]);
	}
	free(have);
	free(want);
}

/* A record's place for messages: the entry's byte range, or the raw
 * offset and length when the row holds an impossible place. */
static int record_where(const struct cat_instance *row, char *out, size_t len)
{
	uint64_t off = row->rec.offset;
	if (off >= PACK_FILE_HEADER + PACK_ENTRY_HEADER && off <= (uint64_t)INT64_MAX - row->rec.len) {
		snprintf(out, len, "bytes [%llu, %llu)", (unsigned long long)(off - PACK_ENTRY_HEADER),
			 (unsigned long long)(off + row->rec.len));
		return 0;
	}
	snprintf(out, len, "at an impossible place (payload offset %lld, length %u)",
		 (long long)off, row->rec.len);
	return -1;
}

/* ---- an instance's bytes, decoded once ----
 * Its n segments (v->segs, v->owners) are read in file order and each is
 * decoded once: the bytes go to the file hash, and a segment whose blob
 * this instance is the first to name (the smallest id: one instance for
 * each blob, whatever the order the workers take them in) is held
 * against its blob hash here, its verdict told as the blob pass would
 * tell it; a later instance that shares it decodes it again for its own
 * file hash only.  A file of up to VERIFY_WHOLE bytes is
 * decoded whole into the worker's buffer and hashed as the import did
 * (hash_bytes); a larger one a step at a time into a step-sized buffer,
 * with the whole-file key the import streamed (hash.h). */
#define VERIFY_STEP (16u << 20)
#define VERIFY_WHOLE (4 * (uint64_t)VERIFY_STEP)

struct file_read {
	int open_err;     /* what instance_open would say: a segment's blob does
			   * not read (-EBADMSG damaged, -EIO, -ENOMEM) */
	int read_err;     /* what instance_read would say: -EIO, a segment does
			   * not decode to its size */
	uint64_t size;    /* the segments' sizes added up */
	uint8_t hash[HASH_LEN];   /* the file's, when both are 0 */
};

/* Decode segment b (its blob open as cb, its view in *view) once: into
 * dst (whole mode), or a step at a time into the buffer, each step to
 * file (when not NULL); its own hash into h when own.  Returns the bytes
 * decoded (short: it stops decoding), or -ENOMEM. */
static int64_t decode_segment(struct verify_ctx *v, const struct blob_ref *b, struct codec_blob *cb,
			      const struct blob_view *view, uint8_t *dst, struct hash_stream *file,
			      int own, uint8_t h[HASH_LEN])
{
	if (dst) {
		int64_t got = codec_blob_decode_range(v->codec, cb, 0, dst, b->raw_size);
		v->t->bytes_decoded += got > 0 ? (uint64_t)got : 0;
		if (own && got == (int64_t)b->raw_size)
			hash_bytes(dst, b->raw_size, h);
		return got;
	}
	struct hash_stream *seg = NULL;
	if (own && b->raw_size > VERIFY_STEP && !(seg = hash_stream_new()))
		return -ENOMEM;
	uint64_t off = 0;
	while (off < b->raw_size) {
		size_t want = b->raw_size - off < VERIFY_STEP ? (size_t)(b->raw_size - off) : VERIFY_STEP;
		if (codec_blob_decode_range(v->codec, cb, off, v->buf, want) != (int64_t)want)
			break;
		if (file)
			hash_stream_add(file, v->buf, want);
		if (seg)
			hash_stream_add(seg, v->buf, want);
		else if (own)
			hash_bytes(v->buf, want, h);     /* the whole blob: one step */
		off += want;
		v->t->bytes_decoded += want;
		blob_view_trim(view);   /* a mapped blob file's pages leave the process */
	}
	if (seg)
		hash_stream_end(seg, h);
	return (int64_t)off;
}

/* Whether instance id checks the blob of its segment i: it is the blob's
 * first user, and this is the blob's first place in the file (a file may
 * hold two equal pieces). */
static int owns_segment(const struct verify_ctx *v, int64_t id, int i)
{
	if (v->owners[i] != id)
		return 0;
	for (int j = 0; j < i; j++)
		if (v->segs[j].id == v->segs[i].id)
			return 0;
	return 1;
}

/* Read instance id, whose n segments are in v->segs, once (above) into
 * *fr.  Returns 0 or -ENOMEM. */
static int read_file_once(struct verify_ctx *v, int64_t id, int n, struct file_read *fr)
{
	memset(fr, 0, sizeof(*fr));
	for (int i = 0; i < n; i++)
		fr->size += v->segs[i].raw_size;
	int whole = fr->size <= VERIFY_WHOLE;
	struct hash_stream *file = NULL;
	if (verify_buf_reserve(v, whole ? fr->size : VERIFY_STEP) ||
	    (!whole && !(file = hash_stream_new())))
		return -ENOMEM;
	uint64_t base = 0;
	int r = 0;
	for (int i = 0; i < n && !r; base += v->segs[i++].raw_size) {
		const struct blob_ref *b = &v->segs[i];
		int own = owns_segment(v, id, i);
		/* A file that does not read needs no more of its bytes; but
		 * its first blob that does not read is what it says, as
		 * instance_open, which reads them all before any byte. */
		int feed = !fr->open_err && !fr->read_err;
		if (!own && fr->open_err)
			continue;
		struct blob_view view;
		struct codec_blob *cb = NULL;
		int vr = store_blob_view(v->s, b, &view), err = 0;
		if (vr < 0) {
			err = vr == -EBADMSG || vr == -ENOMEM ? vr : -EIO;   /* as instance_open */
		} else {
			int rc = codec_blob_open(view.enc, view.enc_size, &cb);
			if (rc)
				err = rc == CODEC_ERR_NOMEM ? -ENOMEM : -EBADMSG;
			else if (codec_blob_raw_len(cb) != b->raw_size)
				err = -EBADMSG;
		}
		int64_t got = -1;
		uint8_t h[HASH_LEN] = {0};
		if (!err && (own || feed)) {
			got = decode_segment(v, b, cb, &view, whole ? v->buf + base : NULL,
					     feed ? file : NULL, own, h);
			if (got == -ENOMEM)
				r = -ENOMEM;
			else if (got != (int64_t)b->raw_size && !fr->read_err)
				fr->read_err = -EIO;
		}
		if (err && !fr->open_err)
			fr->open_err = err;
		if (own && !r)
			blob_verdict(v, b, vr, got, h);
		codec_blob_close(cb);
		if (vr == 0)
			blob_view_release(&view);
	}
	if (!r && !fr->open_err && !fr->read_err) {
		if (whole)
			hash_bytes(v->buf, fr->size, fr->hash);
		else
			hash_stream_end(file, fr->hash);
		file = NULL;
	}
	if (file)   /* no key to take: ended and dropped */
		hash_stream_end(file, fr->hash);
	return r;
}

static int verify_instance(void *arg, int64_t id)
{
	struct verify_ctx *v = arg;
	struct cat_instance row;
	struct cat_node gone;
	v->t->instances++;
	if (catalog_instance_row(v->cat, id, &row)) {
		/* A worker's snapshot begins a moment after the listing's:
		 * an instance removed between is not missing. */
		if (catalog_node(v->fresh, CAT_INSTANCE, id, &gone) == -ENOENT) {
			v->t->instances--;
			return 0;
		}
		v->t->problems++;
		say(v->problem, v->arg, "instance inode %lld: no readable row", (long long)id);
		return 0;
	}
	if (!v->segs && (!(v->segs = malloc(RECORD_MAX_SEGMENTS * sizeof(*v->segs))) ||
			 !(v->owners = malloc(RECORD_MAX_SEGMENTS * sizeof(*v->owners)))))
		return -ENOMEM;
	int n = catalog_segments_owners(v->cat, id, v->segs, v->owners, RECORD_MAX_SEGMENTS);
	char why[1400], pack[256] = "?", where[128];
	struct instance_record *rec = malloc(sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	if (check_record(v, &row, v->segs, n, rec, why, sizeof(why))) {
		v->t->problems++;
		catalog_pack_name(v->cat, row.rec.pack, pack, sizeof(pack));
		if (record_where(&row, where, sizeof(where)))
			snprintf(why, sizeof(why), "its index row is damaged; fix: dcmfsctl reindex");
		say(v->problem, v->arg, "instance %s (inode %lld): record in pack %s %s: %s",
		    row.sop_uid, (long long)id, pack, where, why);
	} else {
		check_identity(v, &row, rec);
	}
	free(rec);
	struct file_read fr;
	int r = n < 0 ? n : !n ? -ENOENT : read_file_once(v, id, n, &fr);
	if (r == -ENOMEM)
		return r;
	if (r == 0)
		r = fr.open_err;
	if (r) {
		/* Removed and its data freed since our snapshot began? */
		if (catalog_node(v->fresh, CAT_INSTANCE, id, &gone) == -ENOENT)
			return 0;
		v->t->problems++;
		say(v->problem, v->arg, "instance %s (inode %lld): cannot be read: %s", row.sop_uid,
		    (long long)id, r == -EBADMSG ? "one of its blobs is damaged (listed with its blob)"
		    : read_error_words(-r));
		return 0;
	}
	if (fr.read_err && catalog_node(v->fresh, CAT_INSTANCE, id, &gone) == -ENOENT)
		return 0;
	if (fr.read_err) {
		v->t->problems++;
		say(v->problem, v->arg, "instance %s (inode %lld): cannot be read back: %s", row.sop_uid,
		    (long long)id, fr.read_err == -EIO ? "its data does not read back (a damaged blob"
		    " listed with it, or an input/output error from the disk)"
		    : read_error_words(-fr.read_err));
		return 0;
	}
	if (fr.size != row.size) {
		v->t->problems++;
		say(v->problem, v->arg, "instance %s (inode %lld): reads back %llu bytes, but its index"
		    " row says the file has %llu", row.sop_uid, (long long)id, (unsigned long long)fr.size,
		    (unsigned long long)row.size);
		return 0;
	}
	if (memcmp(fr.hash, row.file_hash, HASH_LEN)) {
		v->t->problems++;
		say(v->problem, v->arg, "instance %s (inode %lld): reads back other bytes (wrong hash)",
		    row.sop_uid, (long long)id);
	}
	v->t->bytes_checked += fr.size;
	progress_add(v, fr.size);
	return 0;
}

/* Whether name is a part of a blob file in RADOS, "<blob name>@<i>"
 * (its blob's key in hash and *ordinal): other strays stay for a person
 * to look at, as on a folder. */
static int part_name_key(const char *name, uint8_t hash[HASH_LEN], uint32_t *ordinal)
{
	const char *at = strchr(name, '@');
	char head[256];
	if (!at || at - name >= (ptrdiff_t)sizeof(head) || !at[1] ||
	    strspn(at + 1, "0123456789") != strlen(at + 1))
		return 0;
	memcpy(head, name, (size_t)(at - name));
	head[at - name] = '\0';
	return parse_blob_name(head, hash, ordinal, NULL) == 0;
}

static int verify_blob_file(void *arg, const char *path, const char *name)
{
	struct verify_ctx *v = arg;
	uint8_t hash[HASH_LEN];
	uint32_t ordinal;
	int k = parse_blob_name(name, hash, &ordinal, NULL);
	struct blob_ref b;
	/* A part with no head (walk_blob_objects) is an interrupted write's
	 * leftover, as a temporary file is: gc removes both.  Unless a row
	 * names its blob: then the head is lost (verify_blob says so), and
	 * the part is what is left of an image. */
	if (k < 0 && part_name_key(name, hash, &ordinal)) {
		if (catalog_blob_by_key(v->cat, hash, ordinal, &b) != 0)
			v->t->temporary_files++;
		return 0;
	}
	if (k == 1) {
		v->t->temporary_files++;
		return 0;
	}
	char line[5100];
	if (k < 0 || !blob_in_place(store_dir(v->s), path, hash, ordinal)) {
		v->t->problems++;
		say(v->problem, v->arg, "stray file in blobs/: %s", path);
	} else if (catalog_blob_by_key(v->cat, hash, ordinal, &b) != 0) {
		/* A file reindex skipped as damaged is no orphan: a restore
		 * may still need it, and gc frees it only once the loss is
		 * accepted. */
		snprintf(line, sizeof(line), "\nblob %s\n", path);
		if (v->marker && strstr(v->marker, line)) {
			v->t->kept_files++;
			say(v->problem, v->arg, "kept for damaged records: blob file %s (listed in %s;"
			    " not reclaimable until 'dcmfsctl gc --force' accepts the loss)", path,
			    DAMAGE_MARKER);
		} else {
			v->t->orphan_files++;
		}
	}
	return 0;
}

static int verify_item(struct verify_ctx *v, const struct verify_item *it)
{
	switch (it->kind) {
	case VI_PACK: return verify_pack(v, it->pack);
	case VI_PACKS_GONE: return catalog_each_pack(v->cat, verify_pack_gone, v);
	case VI_BLOB: return verify_blob(v, &it->b, it->refs);
	case VI_INSTANCE: return verify_instance(v, it->id);
	}
	return 0;
}

/* A worker: items from the queue until it is closed and empty. */
static void *verify_worker(void *arg)
{
	struct verify_ctx *v = arg;
	struct verify_shared *sh = v->sh;
	for (;;) {
		pthread_mutex_lock(&sh->lock);
		while (!sh->count && !sh->closed)
			pthread_cond_wait(&sh->more, &sh->lock);
		if (!sh->count) {
			pthread_mutex_unlock(&sh->lock);
			return NULL;
		}
		/* Not too far ahead of the item told last (whose checker is
		 * busy with it, so this wait ends). */
		while (sh->taken - sh->told >= VERIFY_WINDOW)
			pthread_cond_wait(&sh->window, &sh->lock);
		struct verify_item it = sh->q[sh->head];
		uint64_t seq = sh->taken++;
		sh->head = (sh->head + 1) % VERIFY_QUEUE;
		sh->count--;
		int failed = sh->err;
		pthread_cond_signal(&sh->room);
		pthread_mutex_unlock(&sh->lock);
		int r = failed ? 0 : verify_item(v, &it);
		verify_done(v, seq);
		if (r) {
			pthread_mutex_lock(&sh->lock);
			if (!sh->err)
				sh->err = r;
			pthread_mutex_unlock(&sh->lock);
		}
	}
}

/* Queue an item (waits for room); the first checker's error stops the
 * listing that feeds the queue. */
static int verify_push(struct verify_shared *sh, const struct verify_item *it)
{
	pthread_mutex_lock(&sh->lock);
	while (sh->count == VERIFY_QUEUE && !sh->err)
		pthread_cond_wait(&sh->room, &sh->lock);
	int r = sh->err;
	if (!r) {
		sh->q[(sh->head + sh->count) % VERIFY_QUEUE] = *it;
		sh->count++;
		pthread_cond_signal(&sh->more);
	}
	pthread_mutex_unlock(&sh->lock);
	return r;
}

static int push_blob(void *arg, const struct blob_ref *b, int64_t refs)
{
	struct verify_item it = { .kind = VI_BLOB, .b = *b, .refs = refs };
	return verify_push(arg, &it);
}

static int push_instance(void *arg, int64_t id)
{
	struct verify_item it = { .kind = VI_INSTANCE, .id = id };
	return verify_push(arg, &it);
}

/* A checker's own connections (its snapshot begun now, a moment after the
 * main one: what changed between is told from damage like any change made
 * during the run), codec and problem lines. */
static int verify_ctx_open(struct verify_ctx *v, struct verify_ctx *main_v, struct verify_totals *t)
{
	*v = (struct verify_ctx){ .s = main_v->s, .sh = main_v->sh, .t = t, .problem = verify_hold,
				  .accepted = main_v->accepted, .marker = main_v->marker };
	v->arg = v;
	int r = store_catalog(v->s, &v->cat);
	if (!r)
		r = store_catalog(v->s, &v->fresh);
	if (!r && !(v->codec = codec_ctx_new()))
		r = -ENOMEM;
	if (!r) {
		struct cat_totals tot;
		catalog_exec(v->cat, "BEGIN");
		catalog_totals(v->cat, &tot);      /* a read: the snapshot starts */
	}
	return r;
}

static void verify_ctx_close(struct verify_ctx *v)
{
	if (v->cat) {
		catalog_exec(v->cat, "COMMIT");
		catalog_close(v->cat);
	}
	catalog_close(v->fresh);
	codec_ctx_free(v->codec);
	free(v->buf);
	free(v->segs);
	free(v->owners);
	free(v->held);
}

static void totals_add(struct verify_totals *to, const struct verify_totals *from)
{
	to->instances += from->instances;
	to->blobs += from->blobs;
	to->problems += from->problems;
	to->pack_entries += from->pack_entries;
	to->damaged_ranges += from->damaged_ranges;
	to->accepted_ranges += from->accepted_ranges;
	to->damaged_bytes += from->damaged_bytes;
	to->torn_tail += from->torn_tail;
	to->temporary_files += from->temporary_files;
	to->orphan_files += from->orphan_files;
	to->kept_files += from->kept_files;
	to->unreferenced_blobs += from->unreferenced_blobs;
	to->bytes_checked += from->bytes_checked;
	to->bytes_decoded += from->bytes_decoded;
}

/* PRAGMA integrity_check on its own connection, beside the workers: on a
 * large index it takes as long as a good part of the rest.  r: 0, or the
 * -errno of opening the connection (then it is run on the main one). */
struct integrity_job {
	struct store *s;
	int r, bad;
	char what[512];
};

static void *integrity_thread(void *arg)
{
	struct integrity_job *j = arg;
	struct catalog *c;
	if ((j->r = store_catalog(j->s, &c)))
		return NULL;
	j->bad = catalog_integrity_check(c, j->what, sizeof(j->what)) != 0;
	catalog_close(c);
	return NULL;
}

/* Checkers: one per online core, at most VERIFY_MAX_WORKERS, or
 * DCMFS_VERIFY_WORKERS (maint.h). */
#define VERIFY_MAX_WORKERS 8
static int verify_workers_wanted(void)
{
	const char *env = getenv("DCMFS_VERIFY_WORKERS");
	long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > VERIFY_MAX_WORKERS ? VERIFY_MAX_WORKERS : (int)n;
}

int store_verify(struct store *s, maint_problem_fn problem, maint_progress_fn progress,
		 void *arg, struct verify_totals *t)
{
	memset(t, 0, sizeof(*t));
	struct verify_shared *sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	pthread_mutex_init(&sh->lock, NULL);
	pthread_cond_init(&sh->more, NULL);
	pthread_cond_init(&sh->room, NULL);
	pthread_cond_init(&sh->window, NULL);
	sh->problem = problem;
	sh->progress = progress;
	sh->arg = arg;
	/* The main thread lists the work and checks what is left (orphans,
	 * packs gone); its lines are told as they come. */
	struct verify_ctx v = { .s = s, .cat = store_main_catalog(s), .problem = problem,
				.arg = arg, .t = t, .sh = sh };
	char marker[4200];
	if (!marker_path(store_dir(s), marker, sizeof(marker)) && access(marker, F_OK) == 0) {
		/* Damage the index no longer shows is still damage until it
		 * is restored (and reindexed) or accepted. */
		t->marker = 1;
		t->problems++;
		say(problem, arg, "damage skipped by reindex, listed in %s, stands: restore the files"
		    " and run 'dcmfsctl reindex' again, or accept the loss with 'dcmfsctl gc --force'"
		    " (gc refuses to run until then)", marker);
	}
	struct verify_ctx workers[VERIFY_MAX_WORKERS];
	struct verify_totals wt[VERIFY_MAX_WORKERS];
	pthread_t tid[VERIFY_MAX_WORKERS];
	int nwant = verify_workers_wanted(), nopen = 0, nrun = 0;
	/* The listing of the blobs the blob pass checks (named by no instance:
	 * many, after removals) is sorted by place: on disk past the cache,
	 * not in memory (every blob took 170 MB a million). */
	catalog_exec(store_main_catalog(s), "PRAGMA temp_store=FILE");
	int r = store_catalog(s, &v.fresh);
	if (r)
		goto out;
	v.accepted = accepted_load(store_dir(s));
	v.marker = t->marker ? lines_load(store_dir(s), "") : NULL;
	struct cat_totals tot;
	catalog_totals(store_main_catalog(s), &tot);
	/* Each referenced blob is checked once and each file once: their
	 * bytes, from the kept totals, not a scan of every blob. */
	sh->total = tot.unique_raw_bytes + tot.logical_bytes;
	if ((sh->npacks = list_packs(store_dir(s), &sh->packs)) < 0) {
		r = sh->npacks;
		sh->npacks = 0;
		goto out;
	}
	/* One read transaction: a consistent snapshot while imports go on,
	 * begun by a read now (the workers' must begin after it: they find
	 * every row it lists). */
	catalog_exec(store_main_catalog(s), "BEGIN");
	catalog_totals(store_main_catalog(s), &tot);
	/* The index's own pages: a bad page makes rows say anything;
	 * integrity_check also finds a row whose value no longer matches its
	 * index entries (a flipped bit in a record offset).  Told after the
	 * workers' lines. */
	struct integrity_job ij = { .s = s };
	pthread_t itid;
	int ithread = pthread_create(&itid, NULL, integrity_thread, &ij) == 0;
	if (!ithread)
		ij.r = -EAGAIN;
	/* The main thread's lines wait for the workers' (blob files come
	 * last). */
	v.problem = verify_hold;
	v.arg = &v;
	/* Packs, blobs and instances are checked by the workers, in that
	 * order as they come off the queue; memory is the queue's and each
	 * worker's buffer, whatever the store's size. */
	for (; !r && nopen < nwant; nopen++) {
		memset(&wt[nopen], 0, sizeof(wt[nopen]));
		if ((r = verify_ctx_open(&workers[nopen], &v, &wt[nopen])))
			verify_ctx_close(&workers[nopen]);
	}
	if (r)
		nopen--;
	for (; !r && nrun < nopen; nrun++)
		if (pthread_create(&tid[nrun], NULL, verify_worker, &workers[nrun]))
			break;
	if (!r && !nrun)
		r = -EAGAIN;
	for (int i = 0; !r && i < sh->npacks; i++) {
		struct verify_item it = { .kind = VI_PACK, .pack = i };
		r = verify_push(sh, &it);
	}
	if (!r) {
		struct verify_item it = { .kind = VI_PACKS_GONE };
		r = verify_push(sh, &it);
	}
	if (!r)
		r = catalog_blobs_unreferenced(store_main_catalog(s), push_blob, sh);
	if (!r)
		r = catalog_instance_ids(store_main_catalog(s), push_instance, sh);
	pthread_mutex_lock(&sh->lock);
	sh->closed = 1;
	if (r && !sh->err)
		sh->err = r;       /* the workers drain the queue unchecked */
	pthread_cond_broadcast(&sh->more);
	pthread_mutex_unlock(&sh->lock);
	for (int i = 0; i < nrun; i++)
		pthread_join(tid[i], NULL);
	if (!r)
		r = sh->err;
	if (ithread)
		pthread_join(itid, NULL);
	if (ij.r)
		ij.bad = catalog_integrity_check(store_main_catalog(s), ij.what, sizeof(ij.what)) != 0;
	if (ij.bad) {
		t->problems++;
		say(v.problem, v.arg, "index.db fails SQLite's integrity_check: %s; fix: dcmfsctl reindex",
		    ij.what);
	}
	if (!r)
		r = walk_blob_files(store_dir(s), verify_blob_file, &v);
	char msg[512];
	/* The kept totals stats reads, against a count of the rows: in the
	 * snapshot, its temporary tables on disk (in memory they took 130 MB
	 * a million instances). */
	if (!r && catalog_tallies_check(store_main_catalog(s), msg, sizeof(msg))) {
		t->problems++;
		say(v.problem, v.arg, "%s", msg);
	}
	verify_flush(&v);
	catalog_exec(store_main_catalog(s), "COMMIT");
out:
	catalog_exec(store_main_catalog(s), "PRAGMA temp_store=MEMORY");   /* as catalog_open sets it */
	for (int i = 0; i < nopen; i++) {
		totals_add(t, &wt[i]);
		verify_ctx_close(&workers[i]);
	}
	catalog_close(v.fresh);
	free(v.accepted);
	free(v.marker);
	free(v.held);
	free_names(sh->packs, sh->npacks);
	pthread_cond_destroy(&sh->more);
	pthread_cond_destroy(&sh->room);
	pthread_cond_destroy(&sh->window);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
	return r;
}

/* ---------------- reindex ----------------
 *
 * One pass over the packs in name order (creation order), in bounded
 * memory: blob entries become rows as met; a record becomes its rows as
 * met when every blob it names is known (blob files are walked first), or
 * waits in a scratch table on disk for the end (its blob is in a later
 * pack, or lost); a tombstone deletes its instance's rows if they exist,
 * and is remembered so that a record met later is not inserted.  Which
 * version is current does not depend on the order (catalog_insert_instance
 * and catalog_prune decide it from versions and cleanliness). */

struct reindex_ctx {
	const char *dir;
	struct catalog *cat;
	maint_problem_fn problem;
	void *arg;
	struct reindex_totals *t;
	maint_progress_fn progress;
	uint64_t files;                 /* blob files met (for progress) */
	const char *pack_name;
	int64_t pack_id;
	int newest;
	struct instance_record *rec;    /* scratch for the record being read */
	int64_t maxid[4];               /* patient, study, series, instance */
	int fail;                       /* a catalogue error: stops the walk */
	char data_err[4400];            /* why a data read stopped it, or "" */
	char *accepted;             /* DAMAGED.accepted */
	struct catalog *old;        /* the index being replaced, if it opens: names what is lost */
	int64_t old_pack;           /* the pack being walked, in the old index (0: unknown) */
	int cut_found;              /* its end was found cut short (named already) */
	FILE *marker;               /* the damage list, written as found */
	char marker_tmp[4200];
};

/* Note damage in the marker (opened on the first damage found). */
static void damage_marker_add(struct reindex_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void damage_marker_add(struct reindex_ctx *x, const char *fmt, ...)
{
	if (!x->marker) {
		snprintf(x->marker_tmp, sizeof(x->marker_tmp), "%s/%s.tmp", x->dir, DAMAGE_MARKER);
		if (!(x->marker = fopen(x->marker_tmp, "w")))
			return;
		fprintf(x->marker, "# dcmfsctl reindex skipped these damaged ranges and files.\n"
			"# gc refuses to run while this file exists: restore the damaged files and\n"
			"# run reindex again, or accept the loss with 'dcmfsctl gc --force'.\n");
	}
	va_list ap;
	va_start(ap, fmt);
	vfprintf(x->marker, fmt, ap);
	va_end(ap);
}

static int say_lost_instance(void *arg, int64_t id, const char *sop, int record)
{
	struct reindex_ctx *x = arg;
	say(x->problem, x->arg, "  the old index had instance %s (inode %lld) with its %s there",
	    sop ? sop : "?", (long long)id, record ? "record" : "data");
	return 0;
}

/* Whether the old index places anything at or after start in the pack
 * being walked: data whose rows committed, so never a torn append. */
static int old_index_has_data_from(struct reindex_ctx *x, uint64_t start)
{
	int found = 0;
	if (x->old && x->old_pack > 0)
		catalog_affected(x->old, x->old_pack, start, INT64_MAX, note_found, &found);
	return found;
}

static void reindex_damaged_range(void *arg, uint64_t start, uint64_t end, int tail)
{
	struct reindex_ctx *x = arg;
	/* The torn append a crash leaves is quiet, unless the old index
	 * says committed data was there or after it: the pack was cut.
	 * Without an old index the two cannot be told apart. */
	if (tail && x->newest && (start >= PACK_FILE_HEADER || end <= PACK_FILE_HEADER) &&
	    !old_index_has_data_from(x, start))
		return;
	if (tail && x->old_pack > 0)
		x->cut_found = 1;
	if (accepted_has(x->accepted, x->pack_name, start, end)) {
		x->t->accepted++;
		say(x->problem, x->arg, "pack %s: skipped bytes [%llu, %llu), known damage (accepted by gc --force)",
		    x->pack_name, (unsigned long long)start, (unsigned long long)end);
		return;
	}
	x->t->damaged++;
	x->t->damaged_bytes += end - start;
	say(x->problem, x->arg, "pack %s: skipped damaged bytes [%llu, %llu) (%llu bytes%s): %s",
	    x->pack_name, (unsigned long long)start, (unsigned long long)end,
	    (unsigned long long)(end - start), tail ? ", to the end of the pack" : "",
	    start == 0 && end == PACK_FILE_HEADER ? "the file header only, every entry after it was read"
	    : "whatever blobs, instance records or tombstones were there are not recovered");
	damage_marker_add(x, "pack %s %llu %llu\n", x->pack_name, (unsigned long long)start,
		(unsigned long long)end);
	/* A tail runs to the end of the file: name what was after it too. */
	if (x->old && x->old_pack > 0)
		catalog_affected(x->old, x->old_pack, start, tail ? INT64_MAX : end, say_lost_instance, x);
}

/* After a walk: the old index placing data past the pack's end means the
 * pack was cut (perhaps at an entry boundary, where no torn bytes show). */
static void reindex_check_cut_pack(struct reindex_ctx *x, const char *path)
{
	uint64_t size;
	int64_t got;
	char none;
	/* Its size wherever the data store keeps it (a read of no bytes). */
	if (x->cut_found || !x->old || x->old_pack <= 0 ||
	    data_file_read(path, &none, 0, 0, &size, &got) < 0 || !old_index_has_data_from(x, size))
		return;
	x->t->damaged++;
	say(x->problem, x->arg, "pack %s: ends at byte %llu, but the old index placed data after"
	    " that: the pack was cut short, whatever was there is not recovered", x->pack_name,
	    (unsigned long long)size);
	damage_marker_add(x, "pack %s %llu cut\n", x->pack_name, (unsigned long long)size);
	catalog_affected(x->old, x->old_pack, size, INT64_MAX, say_lost_instance, x);
}

/* A pack the old index knows, gone from packs/: damage if it held data
 * the old index names. */
static int reindex_check_gone_pack(void *arg, int64_t id, const char *name)
{
	struct reindex_ctx *x = arg;
	char path[4400];
	int found = 0;
	snprintf(path, sizeof(path), "%s/packs/%s", x->dir, name);
	if (data_file_exists(path) != -ENOENT)
		return 0;
	catalog_affected(x->old, id, 0, INT64_MAX, note_found, &found);
	if (!found)
		return 0;
	x->t->damaged++;
	say(x->problem, x->arg, "pack %s is missing, but the old index placed data in it:"
	    " whatever was there is not recovered", name);
	damage_marker_add(x, "pack %s 0 missing\n", name);
	catalog_affected(x->old, id, 0, INT64_MAX, say_lost_instance, x);
	return 0;
}

static void note_max_id(struct reindex_ctx *x, int k, int64_t id)
{
	if (id > x->maxid[k])
		x->maxid[k] = id;
}

/* Insert the record in x->rec (payload p at loc) if it is not removed and
 * its blobs are known.  Not final: a record with an unknown blob waits in
 * rx_defer; final (at the end): it is skipped, and named as lost when
 * there was damage. */
static int reindex_record(struct reindex_ctx *x, const uint8_t *p, const struct record_loc *loc, int final)
{
	struct instance_record *rec = x->rec;
	struct reindex_totals *t = x->t;
	int r = catalog_rx_tomb_has(x->cat, rec->instance_id);
	if (r)
		return r < 0 ? r : 0;       /* removed: not counted, as ever */
	int64_t blob_ids[RECORD_MAX_SEGMENTS];
	int ok = 1;
	uint32_t k;
	for (k = 0; k < rec->nseg && ok; k++) {
		struct blob_ref b;
		ok = catalog_blob_by_key(x->cat, rec->seg[k].hash, rec->seg[k].ordinal, &b) == 0;
		blob_ids[k] = b.id;
	}
	if (!ok && !final)
		return catalog_rx_defer(x->cat, loc, p);
	struct cat_node exists;
	/* Its rows committed (the old index has it): its blob was synced
	 * before, so a missing blob is damage, like a damaged one. */
	int committed = !ok && x->old &&
		catalog_node(x->old, CAT_INSTANCE, rec->instance_id, &exists) == 0;
	if (!ok && (t->damaged || committed)) {
		/* Without either this is a record of a batch that never
		 * committed (a crash); with them, say what is lost. */
		char hex[2 * HASH_LEN + 1];
		hash_hex(rec->seg[k - 1].hash, hex);
		t->lost++;
		say(x->problem, x->arg, "instance %s (inode %lld) not recovered: its blob %s.%u is"
		    " missing or damaged", rec->info.sop_instance_uid,
		    (long long)rec->instance_id, hex, rec->seg[k - 1].ordinal);
		if (committed) {
			/* Kept out of the tree; the marker keeps gc off its
			 * other blobs until the blob is restored or the loss
			 * accepted. */
			t->damaged++;
			damage_marker_add(x, "instance %lld %s needs blob %s.%u\n", (long long)rec->instance_id,
				rec->info.sop_instance_uid, hex, rec->seg[k - 1].ordinal);
		}
	}
	if (!ok || catalog_node(x->cat, CAT_INSTANCE, rec->instance_id, &exists) == 0) {
		/* Data gone, or a duplicate record. */
		t->skipped++;
		return 0;
	}
	struct id_pool none = { 0, 0 };
	int pr = catalog_place(x->cat, rec, &none, &none, &none);
	if (pr) {
		t->skipped++;
		say(x->problem, x->arg, "instance record %s not placed in the tree: %s",
		    rec->info.sop_instance_uid, pr == -EEXIST ? "its folder names clash with another's"
		    : read_error_words(-pr));
		return 0;
	}
	if (catalog_insert_instance(x->cat, rec, blob_ids, loc) == 0)
		t->instances++;
	else
		t->skipped++;
	note_max_id(x, 0, rec->patient_id);
	note_max_id(x, 1, rec->study_id);
	note_max_id(x, 2, rec->series_id);
	note_max_id(x, 3, rec->instance_id);
	return 0;
}

static int reindex_pack_entry(void *arg, int type, const uint8_t *p, size_t len, uint64_t off)
{
	struct reindex_ctx *x = arg;
	int r = 0;
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
		if (record_decode(p, len, x->rec) == 0) {
			struct record_loc loc = { x->pack_id, off, (uint32_t)len };
			r = reindex_record(x, p, &loc, 0);
		}
	} else if (type == PACK_ENTRY_TOMBSTONE) {
		int64_t id;
		if (tombstone_decode(p, len, &id) == 0) {
			x->t->tombstones++;
			note_max_id(x, 3, id);     /* a removed id is never handed out again */
			r = catalog_rx_tomb_add(x->cat, id);
			if (!r && (r = catalog_rx_tomb_apply(x->cat, id)) == 0)
				x->t->instances--;      /* counted when met: not kept */
			else if (r == -ENOENT)
				r = 0;
		}
	}
	/* A catalogue error is not damage of the pack: stop and fail. */
	if (r)
		x->fail = r;
	return r;
}

/* Whether a read error says the data store did not answer (a cluster
 * that is down or unreachable) rather than that the data is damaged:
 * reindex then stops, since what it could not read is not known lost. */
static int data_unanswered(int err)
{
	switch (-err) {
	case ETIMEDOUT: case ENOTCONN: case ESHUTDOWN: case ECONNREFUSED: case ECONNRESET:
	case EAGAIN: case EINTR: case ENOMEM:
		return 1;
	default:
		return 0;
	}
}

static int reindex_blob_file(void *arg, const char *path, const char *name)
{
	struct reindex_ctx *x = arg;
	uint8_t hash[HASH_LEN];
	uint32_t ordinal;
	if (parse_blob_name(name, hash, &ordinal, NULL) != 0 ||
	    !blob_in_place(x->dir, path, hash, ordinal))
		return 0;       /* a stray (verify names it) */
	if (x->progress)
		x->progress(x->arg, ++x->files, 0);
	/* The whole file is checked: an instance comes back only with data
	 * that is intact. */
	struct blob_header h;
	int r = blob_file_check(path, 1, &h);
	if (data_unanswered(r)) {
		snprintf(x->data_err, sizeof(x->data_err), "cannot read '%s': %s", path, strerror(-r));
		return r;
	}
	if (r < 0 || memcmp(h.hash, hash, HASH_LEN) || h.ordinal != ordinal) {
		x->t->damaged++;
		char why[600];
		if (r == -EBADMSG)
			blob_file_why(path, NULL, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", r < 0 ? read_error_words(-r) :
				 "its header names another blob than its file name");
		say(x->problem, x->arg, "skipped damaged blob file %s: %s", path, why);
		damage_marker_add(x, "blob %s\n", path);
		return 0;
	}
	struct blob_ref ref = { .ordinal = ordinal, .kind = h.kind, .raw_size = h.raw_size,
				.enc_size = h.enc_size, .pack = 0, .offset = 0 };
	memcpy(ref.hash, hash, HASH_LEN);
	if (catalog_insert_blob(x->cat, &ref) == 0)
		x->t->blobs++;
	return 0;
}

/* Unlink the -wal and -shm files of the SQLite database at db. */
static void unlink_sqlite_sides(const char *db)
{
	char side[4400];
	snprintf(side, sizeof(side), "%s-wal", db);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db);
	unlink(side);
}

/* fsync the file or folder at path: 0 or -errno. */
static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) ? -errno : 0;
	close(fd);
	return r;
}

int store_reindex(const char *dir, maint_problem_fn problem, maint_progress_fn progress,
		  void *arg, struct reindex_totals *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	char path[4096], old_index[4200], tmpdir[4200];
	char **names;
	/* A catalogue in PostgreSQL is rebuilt in its database, put in place
	 * by the build's commit; index.db is built beside and renamed. */
	struct store_conf conf;
	int in_pg = store_conf_read(dir, &conf, err, errlen) == 0 && conf.catalog[0];
	/* Packs and blob files are then read where store.conf says they are. */
	int remote = store_dir_data_attach(dir, err, errlen);
	if (remote < 0)
		return remote;
	/* A folder without packs/ is no store: said before a lock file is
	 * made in it (a data store's claim was checked by the attach). */
	int n = remote ? 0 : list_packs(dir, &names);
	if (n < 0) {
		snprintf(err, errlen, "'%s' is not a dcmfs store: %s", dir, strerror(-n));
		return n;
	}
	if (!remote)
		free_names(names, n);
	/* Nothing may use the store meanwhile (store.h, the use lock); the
	 * packs are listed then, or an import that ended during the listing
	 * would be left out of the new index. */
	struct store_lock *lock;
	int lr = store_lock_exclusive(dir, &lock, err, errlen);
	if (lr < 0) {
		if (remote)
			datastore_detach(dir);
		return lr;
	}
	if ((n = list_packs(dir, &names)) < 0) {
		snprintf(err, errlen, "cannot list the packs of '%s': %s", dir, strerror(-n));
		store_unlock(lock);
		if (remote)
			datastore_detach(dir);
		return n;
	}

	/* Build the new index beside the old one, then swap.  Nothing is read
	 * from the old one (it may be damaged, or of an older schema): it is
	 * only asked, when it opens, what a damaged range held. */
	snprintf(tmpdir, sizeof(tmpdir), "%s/reindex.tmp", dir);
	char new_index[4300];
	snprintf(new_index, sizeof(new_index), "%s/index.db", tmpdir);
	if (!in_pg) {
		mkdir(tmpdir, 0755);
		unlink(new_index);
		unlink_sqlite_sides(new_index);     /* a killed earlier reindex's */
	}
	struct catalog *cat;
	int r = catalog_rebuild_open(dir, tmpdir, &cat, err, errlen);
	struct reindex_ctx x = { .dir = dir, .cat = cat, .problem = problem, .arg = arg, .t = t,
			.progress = progress, .accepted = accepted_load(dir) };
	if (r)
		goto out;
	if (!(x.rec = malloc(sizeof(*x.rec)))) {
		r = -ENOMEM;
		snprintf(err, errlen, "reindex failed: %s", strerror(ENOMEM));
		catalog_close(cat);
		goto out;
	}
	/* Only to name what damage costs: the new index is built without it. */
	char why_not[256];          /* an old index that does not open names nothing */
	if (catalog_open(dir, 0, 1, &x.old, why_not, sizeof(why_not)))
		x.old = NULL;
	r = catalog_rx_begin(cat);
	if (!r)
		r = catalog_begin(cat);
	/* Blob files first: a record in a pack then finds its blobs known,
	 * unless they are in a later pack. */
	if (!r)
		r = walk_blob_files(dir, reindex_blob_file, &x);
	for (int i = 0; !r && i < n; i++) {
		if (progress)
			progress(arg, (uint64_t)i, (uint64_t)n);
		if ((r = catalog_pack_id(cat, names[i], &x.pack_id)))
			break;
		snprintf(path, sizeof(path), "%s/packs/%s", dir, names[i]);
		x.pack_name = names[i];
		x.newest = i == n - 1;
		x.cut_found = 0;
		if (!x.old || catalog_pack_find(x.old, names[i], &x.old_pack))
			x.old_pack = 0;
		int w = pack_walk(path, reindex_pack_entry, reindex_damaged_range, &x);
		if (x.fail || data_unanswered(w)) {
			r = x.fail ? x.fail : w;
			if (!x.fail)
				snprintf(x.data_err, sizeof(x.data_err), "cannot read '%s': %s", path,
					 strerror(-w));
			break;
		}
		if (w < 0) {
			t->damaged++;
			say(problem, arg, "pack %s: unreadable (%s), skipped", names[i], read_error_words(-w));
			damage_marker_add(&x, "pack %s 0 unreadable\n", names[i]);
		} else {
			reindex_check_cut_pack(&x, path);
		}
		t->packs++;
	}
	if (progress && !r)
		progress(arg, (uint64_t)n, (uint64_t)n);
	if (!r && x.old)
		catalog_each_pack(x.old, reindex_check_gone_pack, &x);
	/* The records that named blobs not known when they were met. */
	int64_t cursor = 0;
	while (!r) {
		struct record_loc loc;
		void *p;
		int got = catalog_rx_deferred_next(cat, &cursor, &loc, &p);
		if (got <= 0) {
			r = got;
			break;
		}
		if (record_decode(p, loc.len, x.rec) == 0)
			r = reindex_record(&x, p, &loc, 1);
		free(p);
	}
	catalog_close(x.old);
	x.old = NULL;
	/* Folders emptied by tombstones go; counts and current versions are
	 * settled once for all. */
	if (!r)
		r = catalog_build_indexes(cat);
	if (!r)
		r = catalog_prune(cat);
	static const char *kinds[] = { "patient", "study", "series", "instance" };
	/* Ids up to the largest met are used: new ones start after them (and
	 * after the old catalogue's, where its counters outlive the swap). */
	for (int k = 0; !r && k < 4; k++) {
		int64_t unused_first;
		catalog_reserve_ids(cat, kinds[k], x.maxid[k] + 1, &unused_first);
	}
	if (!r)
		r = catalog_commit(cat);    /* PostgreSQL: the swap, too */
	if (r) {
		/* A failure that is no catalogue's has no catalogue message. */
		const char *why = catalog_errmsg(cat);
		if (x.data_err[0])
			why = x.data_err;
		else if (!why || !strcmp(why, "not an error"))
			why = strerror(-r);
		snprintf(err, errlen, "reindex failed: %s", why);
	}
	catalog_close(cat);
	/* Built unjournalled and unsynced: on disk whole before it is put in
	 * place, or not put there. */
	if (!r && !in_pg && (r = fsync_path(new_index, O_RDONLY)))
		snprintf(err, errlen, "cannot sync the new index: %s", strerror(-r));
	if (!r && !in_pg) {
		snprintf(path, sizeof(path), "%s/index.db", dir);
		snprintf(old_index, sizeof(old_index), "%s/index.db.old", dir);
		if (access(path, F_OK) == 0)
			rename(path, old_index);
		unlink_sqlite_sides(path);
		unlink_sqlite_sides(new_index);
		if (rename(new_index, path) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot install the new index: %s", strerror(errno));
		}
		rmdir(tmpdir);
		fsync_path(dir, O_RDONLY | O_DIRECTORY);    /* the renames */
	}
	/* The marker says what this reindex skipped; one that skipped
	 * nothing clears it (the damaged files were restored). */
	char marker[4200];
	marker_path(dir, marker, sizeof(marker));
	if (x.marker) {
		int e = fclose(x.marker) ? errno : 0;
		if (!r && !e && rename(x.marker_tmp, marker) < 0)
			e = errno;
		if (r || e)
			unlink(x.marker_tmp);
		if (!r && e) {
			/* The index is in place, but gc must not run unwarned. */
			r = -e;
			snprintf(err, errlen, "cannot write '%s': %s", marker, strerror(e));
		}
	} else if (!r) {
		unlink(marker);
	}
out:
	store_unlock(lock);
	if (remote)
		datastore_detach(dir);
	free_names(names, n);
	free(x.accepted);
	free(x.rec);
	return r;
}

/* ---------------- remove ---------------- */

struct rm_ctx {
	struct store *s;
	struct catalog *cat;
	int64_t removed;
	struct pack_writer *tombs;  /* the store's tombstone pack, once needed */
	int appended;               /* tombstones written by this removal */
	uint64_t mark;              /* the pack's size before them */
};

static int rm_one(void *arg, int64_t id)
{
	struct rm_ctx *c = arg;
	uint8_t tomb[TOMBSTONE_BYTES];
	uint64_t off;
	int r = 0;
	if (!c->appended) {
		/* The process's tombstone pack is made when first needed (a
		 * removal of nothing makes none); the index names it, so that
		 * verify sees it go. */
		int64_t pack_id;
		r = store_tombstone_pack(c->s, &c->tombs);
		if (!r) {
			c->mark = pack_writer_size(c->tombs);
			r = catalog_pack_id(c->cat, pack_writer_name(c->tombs), &pack_id);
		}
		if (r)
			return r;
	}
	tombstone_encode(id, wall_clock_ns(), tomb);
	r = pack_append(c->tombs, PACK_ENTRY_TOMBSTONE, tomb, sizeof(tomb), NULL, 0, &off);
	if (r)
		return r;
	c->appended++;
	r = catalog_delete_instance(c->cat, id);
	if (!r)
		c->removed++;
	return r == -ENOENT ? 0 : r;
}

/* The folders a removal took out of the catalogue, read from the change
 * feed inside its transaction (so no other writer's changes mix in). */
struct emptied_list {
	struct cat_change *v;
	size_t n, cap;
};

static int collect_emptied(void *arg, const struct cat_change *ch)
{
	struct emptied_list *l = arg;
	if (ch->kind == CAT_INSTANCE || ch->state != CAT_CHANGE_DELETED)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct cat_change *p = realloc(l->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = *ch;
	return 0;
}

int store_remove_node(struct store *s, struct catalog *cat, int kind, int64_t id,
		      int64_t *removed)
{
	return store_remove_node_emptied(s, cat, kind, id, removed, NULL, NULL);
}

int store_remove_node_emptied(struct store *s, struct catalog *cat, int kind, int64_t id,
			      int64_t *removed, cat_change_cb emptied, void *arg)
{
	struct rm_ctx c = { .s = s, .cat = cat };
	struct emptied_list gone = { 0 };
	store_removal_begin(s);
	int r = catalog_begin(cat);
	int64_t before = r || !emptied ? -1 : catalog_change_seq(cat);
	if (!r)
		r = catalog_instances_under(cat, kind, id, rm_one, &c);
	if (!r)
		r = catalog_prune(cat);
	if (!r && before >= 0) {
		/* A removal too big for the feed's window reports no folders
		 * (the rows are gone); that is no reason to undo it. */
		int64_t last;
		int fr = catalog_changes_since(cat, before, &last, collect_emptied, &gone);
		if (fr != -ESTALE && fr != -ENOSYS)
			r = fr;
	}
	/* The tombstones are durable before the rows go. */
	if (!r && c.appended)
		r = store_sync(s);
	if (!r)
		r = catalog_commit(cat);
	else
		catalog_rollback(cat);
	/* A removal that did not happen leaves no tombstones for a reindex
	 * to apply.  One that may have happened (its commit's answer lost)
	 * keeps them: if it did not, verify names the instance as a removal
	 * to finish. */
	store_removal_end(s, r && r != -EINPROGRESS && c.appended, c.mark);
	*removed = r ? 0 : c.removed;
	for (size_t i = 0; !r && i < gone.n; i++)
		emptied(arg, &gone.v[i]);
	free(gone.v);
	return r;
}

int store_remove(struct store *s, int kind, const char *uid, int64_t *removed,
		 char *err, size_t errlen)
{
	int64_t *ids;
	int n = catalog_find_ids(store_main_catalog(s), kind, uid, &ids);
	*removed = 0;
	if (n <= 0) {
		snprintf(err, errlen, n ? "cannot look up '%s': %s" : "'%s' is not in the store",
			 uid, strerror(-n));
		return n ? n : -ENOENT;
	}
	int r = 0;
	/* Removing an instance removes every version of its SOPInstanceUID:
	 * the first row is enough (one sync).  Every node's tombstones go to
	 * the store's one tombstone pack. */
	if (kind == CAT_INSTANCE)
		n = 1;
	for (int i = 0; !r && i < n; i++) {
		int64_t k;
		r = store_remove_node(s, store_main_catalog(s), kind, ids[i], &k);
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

/* Remove the blob file at path, counted in *n: 0, or -errno when it is
 * there but stays (a cluster that does not answer stops gc, rather than
 * wait out its op timeout file after file). */
static int gc_remove(const char *path, int64_t *n)
{
	int r = blob_file_remove(path);
	if (r == 0)
		(*n)++;
	return r == -ENOENT ? 0 : r;
}

static int gc_orphans(void *arg, const char *path, const char *name)
{
	struct gc_ctx *g = arg;
	uint8_t hash[HASH_LEN];
	uint32_t ordinal;
	int pid = 0;
	int k = parse_blob_name(name, hash, &ordinal, &pid);
	struct blob_ref b;
	/* A part (RADOS) goes with its blob: it is a leftover only when no
	 * row names that blob (its head lost is damage, not ours to finish). */
	int part = k < 0 && store_data_remote(g->s) && part_name_key(name, hash, &ordinal);
	/* Only "no such row" frees a file: a catalogue that errs (a damaged
	 * index) would otherwise have every blob file removed. */
	int row = k == 0 || part ? catalog_blob_by_key(store_main_catalog(g->s), hash, ordinal, &b) : 0;
	if (row && row != -ENOENT)
		return row;
	if (k == 1) {
		/* A temporary file of a live import is not ours to take.  A
		 * RADOS writer's tag is no pid (it reads as 0): every writer
		 * holds the ingest lock gc holds now, so its writer is gone. */
		if (pid_alive(pid))
			return 0;
		return gc_remove(path, &g->t->temporary_removed);
	} else if (k == 0 && row == -ENOENT && blob_in_place(store_dir(g->s), path, hash, ordinal)) {
		return gc_remove(path, &g->t->files_removed);
	} else if (part && row == -ENOENT) {
		/* A part with no head and no temporary head (walk_blob_objects). */
		return gc_remove(path, &g->t->temporary_removed);
	}
	return 0;
}

/* Spool files (spool/in-<pid>-<n>, fs/dcmfs.c) of mounts that are gone:
 * what was written into /incoming and never ingested. */
static void gc_spool(struct store *s, struct gc_totals *t)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/spool", store_dir(s));
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		if (strncmp(e->d_name, "in-", 3))
			continue;
		long pid = strtol(e->d_name + 3, &end, 10);
		if (end == e->d_name + 3 || *end != '-' || pid_alive(pid))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			t->spool_removed++;
	}
	closedir(d);
}

static int count_entry(void *arg, int type, const uint8_t *payload, size_t len, uint64_t off)
{
	(void)type, (void)payload, (void)len, (void)off;
	(*(int64_t *)arg)++;
	return 0;
}

/* For a store whose data is elsewhere (a RADOS pool): 0 when the
 * catalogue knows every pack of the pool that holds an entry, else
 * -EBUSY and err names one it does not.  Such a pack is another index's
 * (a copy of the store's folder with its own index.db, importing into the
 * same pool): that index's blobs are not rows here, so gc would take
 * blob files it still needs.  No import of this store is in flight (gc
 * holds the ingest lock exclusively, and the catalogue's write lock, which
 * a removal's tombstone pack row is made under), so an unknown pack with
 * entries is not one of its own.  An empty one is what a removal that
 * failed leaves: nothing in it can be needed. */
static int gc_packs_known(struct store *s, char *err, size_t errlen)
{
	char **names;
	int n = pack_list(store_dir(s), &names);
	if (n < 0) {
		snprintf(err, errlen, "gc cannot list the packs of the data store: %s", strerror(-n));
		return n;
	}
	int r = 0;
	for (int i = 0; !r && i < n; i++) {
		int64_t id, entries = 0;
		int k = catalog_pack_find(store_main_catalog(s), names[i], &id);
		if (k == -ENOENT) {
			char path[4400];
			snprintf(path, sizeof(path), "%s/packs/%s", store_dir(s), names[i]);
			k = pack_walk(path, count_entry, NULL, &entries);
			if (k == -ENOENT)
				continue;       /* gone since the listing */
			if (!k && entries > 0) {
				snprintf(err, errlen, "gc refused: pack '%s' of the data store is not in this"
					 " store's catalogue: another index (a copy of this store's folder?)"
					 " writes into the same pool, and gc would free blobs it needs", names[i]);
				k = -EBUSY;
			} else if (k < 0) {
				snprintf(err, errlen, "gc cannot read pack '%s' of the data store: %s", names[i],
					 strerror(-k));
			}
		} else if (k) {
			snprintf(err, errlen, "gc cannot look pack '%s' up in the catalogue: %s", names[i],
				 catalog_errmsg(store_main_catalog(s)));
		}
		r = k;
	}
	free_names(names, n);
	return r;
}

int store_gc(struct store *s, int force, struct gc_totals *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	struct gc_ctx g = { .s = s, .t = t };
	char marker[4200];
	int r = marker_path(store_dir(s), marker, sizeof(marker));
	if (!r && !force && access(marker, F_OK) == 0) {
		snprintf(err, errlen, "gc refused: %s lists damage that reindex skipped; a damaged"
			 " instance record may have named blobs that gc would free for good."
			 " Restore the damaged files and run reindex again, or run"
			 " 'dcmfsctl gc --force' to accept the loss", marker);
		return -EBUSY;
	}
	/* No import may be between sharing a blob and committing (store.h). */
	if ((r = store_ingest_exclusive(s))) {
		snprintf(err, errlen, "gc cannot lock the store: %s", strerror(-r));
		return r;
	}
	/* Hold the write lock while looking at files: no import is then between
	 * publishing a blob file and committing its row. */
	r = catalog_begin(store_main_catalog(s));
	int refused = 0;
	if (!r && store_data_remote(s) && (r = gc_packs_known(s, err, errlen)))
		refused = 1;
	if (!r)
		r = catalog_all_blobs(store_main_catalog(s), gc_collect, &g);
	/* Orphans before the dead rows go: a file is unlinked only once no
	 * committed row names it (verify, running meanwhile, relies on it). */
	if (!r)
		r = walk_blob_files(store_dir(s), gc_orphans, &g);
	/* Parts whose temporary head the walk just removed: seen as strays
	 * only by a second listing. */
	if (!r && store_data_remote(s) && t->temporary_removed)
		r = walk_blob_files(store_dir(s), gc_orphans, &g);
	for (size_t i = 0; !r && i < g.ndead; i++) {
		r = catalog_delete_blob(store_main_catalog(s), g.dead[i]);
		if (r == -EBUSY)
			r = 0;
	}
	/* An import elsewhere may have begun sharing these blobs if the
	 * catalogue's server dropped the ingest lock with a lost connection. */
	if (!r && (r = store_ingest_check(s, err, errlen)))
		refused = 1;
	if (!r)
		r = catalog_commit(store_main_catalog(s));
	else
		catalog_rollback(store_main_catalog(s));
	if (r) {
		if (!refused)
			snprintf(err, errlen, "gc failed: %s", strerror(-r));
	} else {
		t->blobs_freed = (int64_t)g.ndead;
		/* Rows are gone for good: now the files. */
		for (size_t i = 0; !r && i < g.nfiles; i++) {
			char path[4096];
			blob_file_path(store_dir(s), g.dead_files[i].hash, g.dead_files[i].ordinal, path, sizeof(path));
			if ((r = gc_remove(path, &t->files_removed)))
				snprintf(err, errlen, "gc freed the rows, but cannot remove '%s': %s (the next"
					 " gc removes the files left)", path, strerror(-r));
		}
		gc_spool(s, t);
		if (!r && force && (r = accept_marker(store_dir(s))))
			snprintf(err, errlen, "gc done, but cannot clear %s: %s", marker, strerror(-r));
	}
	store_ingest_unlock(s);
	free(g.dead);
	free(g.dead_files);
	return r;
}
