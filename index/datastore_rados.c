/*
 * datastore_rados.c - a store's packs and blob files as objects of a RADOS
 * pool (librados C API).  Object names are the names relative to STORE that
 * datastore.h gives ("packs/<name>", "blobs/ab/cd/<hash>[.<ordinal>]").
 *
 * Layout in the pool (FORMAT.md, "Data in RADOS"):
 *  - a pack is one object, appended to; the writer rolls it at
 *    RADOS_PACK_LIMIT (64 MiB), well under the 128 MiB object cap;
 *  - a blob file is its bytes [0, 1 MiB) in the head object <name> and the
 *    rest in parts <name>@1, <name>@2, ... of 32 MiB each, written in
 *    writes of RADOS_PART_WRITE (librados copies what a write is given, and
 *    ingest writes several pieces at once: 32 MiB writes broke its peak RSS
 *    bound).  A name is its bytes' hash, so two writers of one part write
 *    the same bytes at the same offsets.  Parts are written first under
 *    their final names, the head last: without its head a blob does not
 *    exist, and a reader never meets part of one.  Publish copies the head
 *    from its temporary name (at most 1 MiB) and removes that;
 *  - the object "dcmfs-store-id" holds the id of the store that owns the
 *    pool (store.c): two stores never share a pool by mistake.
 *
 * Durability is the cluster's acknowledgement: every write here is
 * synchronous (it returns once every replica has it), so sync only writes
 * out what pack writers still buffer.  Appends are buffered (up to
 * RADOS_APPEND_BUFFER) because a RADOS write costs ~0.6 ms whatever its
 * size: an ingest batch becomes a few writes, not one per entry.
 * Reads go into buffers (no mmap).
 */
#include "datastore.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rados/librados.h>

#define RADOS_HEAD (1u << 20)
#define RADOS_PART (32u << 20)
#define RADOS_PACK_LIMIT (64ull << 20)
#define RADOS_APPEND_BUFFER (8u << 20)
#define RADOS_IO_MAX (16u << 20)        /* one read or write, at most */
#define RADOS_PART_WRITE (4u << 20)     /* one write of a blob file's part */
/* Connecting, and any one operation, give up after this long with an
 * error rather than hang a mount for ever on a cluster that is gone. */
#define RADOS_TIMEOUT "30"

struct rados_store {
	struct datastore base;
	rados_t cluster;
	rados_ioctx_t io;
	pthread_mutex_t lock;           /* guards writers (the list) */
	struct rados_file *writers;     /* packs open for appending */
};

struct rados_file {
	struct rados_store *rs;
	char *name;
	int blob;                       /* head + parts, not one object */
	uint64_t size;                  /* when opened for reading */
	/* a pack being appended to */
	int writer;
	pthread_mutex_t lock;           /* guards buf, buflen, bufcap, flushed */
	uint8_t *buf;
	size_t buflen, bufcap;
	uint64_t flushed;               /* bytes in the object */
	struct rados_file *next, *prev; /* rs->writers */
};

static struct rados_store *RS(struct datastore *ds) { return (struct rados_store *)ds; }
static struct rados_file *RF(struct ds_file *f) { return (struct rados_file *)f; }

static int is_blob_name(const char *name) { return !strncmp(name, "blobs/", 6); }

/* The object holding byte off of a blob (its head or part i), and the
 * offset there and the bytes left in that object. */
static void blob_place(const char *name, uint64_t off, char *obj, size_t objlen,
		       uint64_t *obj_off, uint64_t *room)
{
	if (off < RADOS_HEAD) {
		snprintf(obj, objlen, "%s", name);
		*obj_off = off;
		*room = RADOS_HEAD - off;
		return;
	}
	uint64_t i = 1 + (off - RADOS_HEAD) / RADOS_PART;
	snprintf(obj, objlen, "%s@%llu", name, (unsigned long long)i);
	*obj_off = (off - RADOS_HEAD) % RADOS_PART;
	*room = RADOS_PART - *obj_off;
}

static struct rados_file *file_new(struct rados_store *rs, const char *name)
{
	struct rados_file *f = calloc(1, sizeof(*f));
	if (!f || !(f->name = strdup(name))) {
		free(f);
		return NULL;
	}
	f->rs = rs;
	f->blob = is_blob_name(name);
	pthread_mutex_init(&f->lock, NULL);
	return f;
}

static void file_free(struct rados_file *f)
{
	pthread_mutex_destroy(&f->lock);
	free(f->buf);
	free(f->name);
	free(f);
}

static int rds_open_read(struct datastore *ds, const char *name, struct ds_file **out,
			   uint64_t *size)
{
	struct rados_store *rs = RS(ds);
	uint64_t len;
	time_t mtime;
	int r = rados_stat(rs->io, name, &len, &mtime);
	if (r < 0)
		return r;
	struct rados_file *f = file_new(rs, name);
	if (!f)
		return -ENOMEM;
	f->size = len;
	/* A full head: the parts that follow, up to the first missing one
	 * (a blob cut short reads as a shorter file, as on disk). */
	char obj[4200];
	for (uint64_t i = 1; f->blob && len == (i == 1 ? RADOS_HEAD : RADOS_PART); i++) {
		snprintf(obj, sizeof(obj), "%s@%llu", name, (unsigned long long)i);
		/* Only a part that is not there ends the blob: one the cluster
		 * did not answer for is an error, not a blob cut short. */
		if ((r = rados_stat(rs->io, obj, &len, &mtime)) == -ENOENT)
			break;
		if (r < 0) {
			file_free(f);
			return r;
		}
		f->size += len;
	}
	*size = f->size;
	*out = (struct ds_file *)f;
	return 0;
}

/* A read of pack name that reaches past what this process's writer of it
 * has written out: served from the writer's buffer, as a folder's reader
 * sees every append made before its read (ingest compares a blob with one
 * appended earlier in the same batch).  Nothing is written out early: a
 * killed writer leaves what it left before.  The count (short only at the
 * end), -errno, or -ENOENT when no such writer of this process has the
 * range buffered (the caller reads the object). */
static int64_t pread_buffered(struct rados_store *rs, const char *name, void *buf, size_t len,
			      uint64_t off)
{
	int64_t r = -ENOENT;
	pthread_mutex_lock(&rs->lock);
	struct rados_file *w = rs->writers;
	while (w && strcmp(w->name, name))
		w = w->next;
	if (w)
		pthread_mutex_lock(&w->lock);
	pthread_mutex_unlock(&rs->lock);    /* close unlinks w, then waits for w->lock */
	if (!w)
		return r;
	if (w->buflen && off + len > w->flushed) {
		/* The written part first (in reads of at most RADOS_IO_MAX),
		 * then the buffered one. */
		size_t done = 0;
		r = 0;
		while (off + done < w->flushed) {
			size_t n = (size_t)(w->flushed - off - done);
			if (n > RADOS_IO_MAX)
				n = RADOS_IO_MAX;
			int got = rados_read(rs->io, name, (char *)buf + done, n, off + done);
			if (got < 0)
				r = got;
			else
				done += (size_t)got;
			if (got < 0 || (size_t)got < n)
				break;
		}
		if (!r && off + done >= w->flushed) {
			uint64_t from = off + done - w->flushed;
			size_t n = from < w->buflen ? w->buflen - (size_t)from : 0;
			if (n > len - done)
				n = len - done;
			memcpy((char *)buf + done, w->buf + from, n);
			done += n;
		}
		if (!r)
			r = (int64_t)done;
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

static int64_t rds_pread(struct ds_file *file, void *buf, size_t len, uint64_t off)
{
	struct rados_file *f = RF(file);
	size_t done = 0;
	if (!f->blob && !f->writer) {
		int64_t n = pread_buffered(f->rs, f->name, buf, len, off);
		if (n != -ENOENT)
			return n;
	}
	while (done < len) {
		char obj[4200];
		uint64_t obj_off, room = UINT64_MAX;
		if (f->blob)
			blob_place(f->name, off + done, obj, sizeof(obj), &obj_off, &room);
		else
			snprintf(obj, sizeof(obj), "%s", f->name), obj_off = off + done;
		size_t want = len - done;
		if (want > room)
			want = (size_t)room;
		if (want > RADOS_IO_MAX)
			want = RADOS_IO_MAX;
		int n = rados_read(f->rs->io, obj, (char *)buf + done, want, obj_off);
		if (n == -ENOENT && done)
			break;          /* a part missing: the blob ends here */
		if (n < 0)
			return n;
		done += (size_t)n;
		if ((size_t)n < want)
			break;
	}
	return (int64_t)done;
}

/* Under f->lock: write out what f buffers.  0 or -errno (kept buffered). */
static int flush_locked(struct rados_file *f)
{
	size_t done = 0;
	while (done < f->buflen) {
		size_t n = f->buflen - done > RADOS_IO_MAX ? RADOS_IO_MAX : f->buflen - done;
		int r = rados_write(f->rs->io, f->name, (const char *)f->buf + done, n,
				    f->flushed + done);
		if (r < 0) {
			memmove(f->buf, f->buf + done, f->buflen - done);
			f->buflen -= done;
			f->flushed += done;
			return r;
		}
		done += n;
	}
	f->flushed += f->buflen;
	f->buflen = 0;
	return 0;
}

static void rds_close(struct ds_file *file)
{
	struct rados_file *f = RF(file);
	if (!f)
		return;
	if (f->writer) {
		struct rados_store *rs = f->rs;
		pthread_mutex_lock(&rs->lock);
		if (f->prev)
			f->prev->next = f->next;
		else
			rs->writers = f->next;
		if (f->next)
			f->next->prev = f->prev;
		pthread_mutex_unlock(&rs->lock);
		/* What a batch that never synced left: as a folder's page
		 * cache would, it goes out, durable or not. */
		pthread_mutex_lock(&f->lock);
		flush_locked(f);
		pthread_mutex_unlock(&f->lock);
	}
	file_free(f);
}

static int rds_create(struct datastore *ds, const char *name, const void *first, size_t len,
		      struct ds_file **out)
{
	struct rados_store *rs = RS(ds);
	rados_write_op_t op = rados_create_write_op();
	if (!op)
		return -ENOMEM;
	/* One operation: the object never exists without its first bytes. */
	rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	if (len)
		rados_write_op_write(op, first, len, 0);
	int r = rados_write_op_operate(op, rs->io, name, NULL, 0);
	rados_release_write_op(op);
	if (r < 0)
		return r;
	struct rados_file *f = file_new(rs, name);
	if (!f) {
		rados_remove(rs->io, name);
		return -ENOMEM;
	}
	f->writer = 1;
	f->blob = 0;            /* a pack (or the store id): one object */
	f->flushed = len;
	pthread_mutex_lock(&rs->lock);
	f->next = rs->writers;
	if (rs->writers)
		rs->writers->prev = f;
	rs->writers = f;
	pthread_mutex_unlock(&rs->lock);
	*out = (struct ds_file *)f;
	return 0;
}

static int rds_append(struct ds_file *file, const void *buf, size_t len, uint64_t off)
{
	struct rados_file *f = RF(file);
	int r = 0;
	pthread_mutex_lock(&f->lock);
	if (off != f->flushed + f->buflen) {
		r = -EINVAL;    /* appends only */
	} else if (off + len > RADOS_PACK_LIMIT * 2) {
		r = -EFBIG;     /* past the object cap: the writer should have rolled */
	} else {
		if (f->buflen + len > f->bufcap) {
			size_t cap = f->bufcap ? f->bufcap : 65536;
			while (cap < f->buflen + len)
				cap *= 2;
			uint8_t *nb = realloc(f->buf, cap);
			if (!nb)
				r = -ENOMEM;
			else
				f->buf = nb, f->bufcap = cap;
		}
		if (!r) {
			memcpy(f->buf + f->buflen, buf, len);
			f->buflen += len;
			if (f->buflen >= RADOS_APPEND_BUFFER)
				r = flush_locked(f);
		}
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int rds_truncate(struct ds_file *file, uint64_t size, int durable)
{
	(void)durable;          /* every RADOS write is durable once acked */
	struct rados_file *f = RF(file);
	int r = 0;
	pthread_mutex_lock(&f->lock);
	if (size > f->flushed + f->buflen) {
		r = -EINVAL;
	} else if (size >= f->flushed) {
		f->buflen = (size_t)(size - f->flushed);
	} else {
		f->buflen = 0;
		r = rados_trunc(f->rs->io, f->name, size);
		if (!r)
			f->flushed = size;
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* Bytes [off, off + len) of a then b, contiguous in one of them or copied
 * into *copy (the caller frees it).  NULL when out of memory. */
static const uint8_t *gather(const uint8_t *a, size_t alen, const uint8_t *b, uint64_t off,
			     size_t len, uint8_t **copy)
{
	*copy = NULL;
	if (off >= alen)
		return b + (off - alen);
	if (off + len <= alen)
		return a + off;
	if (!(*copy = malloc(len)))
		return NULL;
	size_t from_a = alen - (size_t)off;
	memcpy(*copy, a + off, from_a);
	memcpy(*copy + from_a, b, len - from_a);
	return *copy;
}

static int write_whole(struct rados_store *rs, const char *obj, const uint8_t *a, size_t alen,
		       const uint8_t *b, uint64_t off, size_t len)
{
	uint8_t *copy;
	const uint8_t *p = gather(a, alen, b, off, len, &copy);
	if (!p)
		return -ENOMEM;
	int r = rados_write_full(rs->io, obj, (const char *)p, len);
	free(copy);
	return r;
}

/* Object obj becomes bytes [off, off + len) of a then b, in writes of
 * RADOS_PART_WRITE at most, and is cut to len (an object left longer under
 * that name by an earlier attempt). */
static int write_part(struct rados_store *rs, const char *obj, const uint8_t *a, size_t alen,
		      const uint8_t *b, uint64_t off, size_t len)
{
	int r = 0;
	for (size_t done = 0, n; !r && done < len; done += n) {
		n = len - done > RADOS_PART_WRITE ? RADOS_PART_WRITE : len - done;
		uint8_t *copy;
		const uint8_t *p = gather(a, alen, b, off + done, n, &copy);
		if (!p)
			return -ENOMEM;
		r = rados_write(rs->io, obj, (const char *)p, n, done);
		free(copy);
	}
	return r ? r : rados_trunc(rs->io, obj, len);
}

static int rds_put_tmp(struct datastore *ds, const char *name, const char *tmp,
			 const void *a, size_t alen, const void *b, size_t blen)
{
	struct rados_store *rs = RS(ds);
	uint64_t total = alen + blen;
	char obj[4200];
	int r = 0;
	/* Parts first, under their final names: invisible without a head. */
	for (uint64_t off = RADOS_HEAD, i = 1; !r && off < total; off += RADOS_PART, i++) {
		size_t n = total - off > RADOS_PART ? RADOS_PART : (size_t)(total - off);
		snprintf(obj, sizeof(obj), "%s@%llu", name, (unsigned long long)i);
		r = write_part(rs, obj, a, alen, b, off, n);
	}
	if (!r)
		r = write_whole(rs, tmp, a, alen, b, 0, total > RADOS_HEAD ? RADOS_HEAD : (size_t)total);
	return r;
}

static int rds_publish(struct datastore *ds, const char *tmp, const char *name)
{
	struct rados_store *rs = RS(ds);
	uint64_t len;
	time_t mtime;
	int r = rados_stat(rs->io, tmp, &len, &mtime);
	if (r < 0)
		return r;
	char *buf = malloc(len ? (size_t)len : 1);
	if (!buf)
		return -ENOMEM;
	int n = rados_read(rs->io, tmp, buf, (size_t)len, 0);
	r = n < 0 ? n : (uint64_t)n != len ? -EIO : rados_write_full(rs->io, name, buf, (size_t)len);
	free(buf);
	if (!r)
		rados_remove(rs->io, tmp);
	return r;
}

static int rds_exists(struct datastore *ds, const char *name)
{
	uint64_t len;
	time_t mtime;
	return rados_stat(RS(ds)->io, name, &len, &mtime);
}

static int rds_remove(struct datastore *ds, const char *name)
{
	struct rados_store *rs = RS(ds);
	int r = rados_remove(rs->io, name);
	/* A temporary head's parts carry the final name, which another
	 * writer of the same bytes may have published: they stay (gc). */
	if (!is_blob_name(name) || strstr(name, ".tmp"))
		return r;
	char obj[4200];
	for (uint64_t i = 1;; i++) {
		snprintf(obj, sizeof(obj), "%s@%llu", name, (unsigned long long)i);
		if (rados_remove(rs->io, obj) < 0)
			break;
	}
	return r;
}

/* Every object whose name starts with prefix to cb; with direct, only
 * those directly under it, as a folder lists them (parts are not entries).
 * A listing cut short is an error, not fewer objects: reindex would drop
 * the rest's instances, and gc then their blobs.  The end of the pool is
 * -ENOENT. */
static int list_objects(struct datastore *ds, const char *prefix, int direct,
			int (*cb)(void *arg, const char *name), void *arg)
{
	rados_list_ctx_t ctx;
	int r = rados_nobjects_list_open(RS(ds)->io, &ctx);
	if (r < 0)
		return r;
	size_t plen = strlen(prefix);
	const char *entry;
	int e = 0;
	while (!r && (e = rados_nobjects_list_next(ctx, &entry, NULL, NULL)) == 0)
		if (!strncmp(entry, prefix, plen) &&
		    (!direct || (!strchr(entry + plen, '/') && !strchr(entry + plen, '@'))))
			r = cb(arg, entry);
	if (!r && e != -ENOENT)
		r = e;
	rados_nobjects_list_close(ctx);
	return r;
}

static int rds_list(struct datastore *ds, const char *prefix,
		    int (*cb)(void *arg, const char *name), void *arg)
{
	return list_objects(ds, prefix, 1, cb, arg);
}

static int rds_list_all(struct datastore *ds, const char *prefix,
			int (*cb)(void *arg, const char *name), void *arg)
{
	return list_objects(ds, prefix, 0, cb, arg);
}

static int rds_sync(struct datastore *ds, const char *name)
{
	(void)name;
	struct rados_store *rs = RS(ds);
	int r = 0;
	pthread_mutex_lock(&rs->lock);
	for (struct rados_file *f = rs->writers; f; f = f->next) {
		pthread_mutex_lock(&f->lock);
		int e = flush_locked(f);
		pthread_mutex_unlock(&f->lock);
		if (e && !r)
			r = e;
	}
	pthread_mutex_unlock(&rs->lock);
	return r;
}

static void rds_writer_tag(struct datastore *ds, char *out, size_t len)
{
	/* Unique among every client of the cluster, unlike a pid. */
	snprintf(out, len, "c%llu", (unsigned long long)rados_get_instance_id(RS(ds)->cluster));
}

static void rds_free(struct datastore *ds)
{
	struct rados_store *rs = RS(ds);
	if (!rs)
		return;
	rados_ioctx_destroy(rs->io);
	rados_shutdown(rs->cluster);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

static const struct datastore_ops rados_ops = {
	.kind = "rados",
	.open_read = rds_open_read,
	.pread = rds_pread,
	.map = NULL,
	.close = rds_close,
	.create = rds_create,
	.append = rds_append,
	.truncate = rds_truncate,
	.put_tmp = rds_put_tmp,
	.publish = rds_publish,
	.exists = rds_exists,
	.remove = rds_remove,
	.list = rds_list,
	.list_all = rds_list_all,
	.sync = rds_sync,
	.writer_tag = rds_writer_tag,
	.free = rds_free,
	.pack_limit = RADOS_PACK_LIMIT,
};

/* Parse rados://POOL?conf=PATH[&id=CLIENT] into its parts (malloc'd). */
static int parse_url(const char *url, char **pool, char **conf, char **id, char *err, size_t errlen)
{
	int r = -EINVAL;
	*pool = *conf = *id = NULL;
	if (!datastore_url_is_rados(url)) {
		snprintf(err, errlen, "'%s' is not a RADOS url (rados://POOL?conf=/path/ceph.conf[&id=CLIENT])", url);
		return -EINVAL;
	}
	/* store.conf holds the url on one line of text. */
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			snprintf(err, errlen, "the RADOS url has a control character (byte %d at %zu): not allowed",
				 *c, (size_t)(c - url));
			return -EINVAL;
		}
	const char *p = url + 8;
	size_t n = strcspn(p, "?");
	if (n == 0) {
		snprintf(err, errlen, "'%s' names no pool (rados://POOL?conf=/path/ceph.conf)", url);
		return -EINVAL;
	}
	if (!(*pool = strndup(p, n)))
		goto nomem;
	p += n;
	while (*p) {
		p++;    /* '?' or '&' */
		size_t k = strcspn(p, "=&");
		size_t v = p[k] == '=' ? strcspn(p + k + 1, "&") : 0;
		char **slot = k == 4 && !strncmp(p, "conf", 4) ? conf :
			      k == 2 && !strncmp(p, "id", 2) ? id : NULL;
		if (!slot || p[k] != '=' || v == 0 || *slot) {
			snprintf(err, errlen, "'%s': unknown, repeated or empty parameter '%.*s'"
				 " (only conf=PATH and id=CLIENT)", url, (int)k, p);
			goto bad;
		}
		if (!(*slot = strndup(p + k + 1, v)))
			goto nomem;
		p += k + 1 + v;
	}
	if (!*conf) {
		snprintf(err, errlen, "'%s' names no ceph.conf (add ?conf=/path/ceph.conf)", url);
		goto bad;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory reading the RADOS url");
	r = -ENOMEM;
bad:
	free(*pool), free(*conf), free(*id);
	*pool = *conf = *id = NULL;
	return r;
}

int datastore_rados_open(const char *url, struct datastore **out, char *err, size_t errlen)
{
	char *pool, *conf, *id;
	int r = parse_url(url, &pool, &conf, &id, err, errlen);
	if (r)
		return r;
	struct rados_store *rs = calloc(1, sizeof(*rs));
	if (!rs) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rs->base.ops = &rados_ops;
	pthread_mutex_init(&rs->lock, NULL);
	r = rados_create(&rs->cluster, id);
	if (r < 0) {
		snprintf(err, errlen, "RADOS client '%s': %s", id ? id : "admin", strerror(-r));
		pthread_mutex_destroy(&rs->lock);
		free(rs);
		goto out;
	}
	/* Our timeouts unless ceph.conf sets its own (an admin's choice, and
	 * what lets a test see a stopped cluster fail in seconds). */
	static const char *const timeouts[][2] = {
		{ "client_mount_timeout", "10" },
		{ "rados_osd_op_timeout", RADOS_TIMEOUT },
		{ "rados_mon_op_timeout", RADOS_TIMEOUT },
	};
	char before[3][64], after[64];
	for (int i = 0; i < 3; i++)
		if (rados_conf_get(rs->cluster, timeouts[i][0], before[i], sizeof(before[i])) < 0)
			before[i][0] = '\0';
	if ((r = rados_conf_read_file(rs->cluster, conf)) < 0) {
		snprintf(err, errlen, "cannot read ceph.conf '%s': %s", conf, strerror(-r));
		goto fail;
	}
	for (int i = 0; i < 3; i++)
		if (rados_conf_get(rs->cluster, timeouts[i][0], after, sizeof(after)) < 0 ||
		    !strcmp(after, before[i]))
			rados_conf_set(rs->cluster, timeouts[i][0], timeouts[i][1]);
	if ((r = rados_connect(rs->cluster)) < 0) {
		snprintf(err, errlen, "cannot connect to the Ceph cluster of '%s': %s", conf, strerror(-r));
		goto fail;
	}
	if ((r = rados_ioctx_create(rs->cluster, pool, &rs->io)) < 0) {
		snprintf(err, errlen, "RADOS pool '%s': %s", pool,
			 r == -ENOENT ? "no such pool (create it with 'ceph osd pool create')" : strerror(-r));
		rs->io = NULL;
		goto fail;
	}
	/* A full cluster or pool answers ENOSPC (EDQUOT) at once, instead
	 * of holding every write until the op timeout says "timed out". */
	rados_set_pool_full_try(rs->io);
	*out = &rs->base;
	goto out;
fail:
	if (rs->io)
		rados_ioctx_destroy(rs->io);
	rados_shutdown(rs->cluster);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
out:
	free(pool), free(conf), free(id);
	return r;
}
