/*
 * datastore.h - where a store's packs and blob files live: in the store's
 * folder (the embedded store, datastore.c) or in a RADOS pool
 * (datastore_rados.c).  blobstore.c keeps the formats; this keeps the bytes.
 *
 * Names.  Callers of blobstore.h name data by path, STORE/packs/<name> and
 * STORE/blobs/ab/cd/<hash>[.<ordinal>], as they always have.  A store whose
 * data lives elsewhere attaches its data store to its folder
 * (datastore_attach); datastore_resolve then sends a path under STORE/packs/
 * or STORE/blobs/ to that data store, as the name relative to STORE
 * ("packs/<name>", "blobs/ab/cd/<hash>").  Every other path, and every path
 * while nothing is attached, goes to the folder implementation unchanged.
 * So verify, the mount's reads and ingest reach the data through one door
 * without knowing where it is.
 *
 * What an implementation promises:
 *  - packs are written by appending (write at the current end), can be cut
 *    back (truncate) and are read at any offset;
 *  - a blob is put whole under a temporary name and published under its
 *    final name; before publish a reader never sees it under the final name;
 *  - after sync returns 0 every write and publish so far is durable (a
 *    folder: syncfs; RADOS: every write acknowledged by the cluster).
 */
#ifndef DCMFS_DATASTORE_H
#define DCMFS_DATASTORE_H

#include <stddef.h>
#include <stdint.h>

struct datastore;
struct ds_file;                 /* an open pack or blob, implementation's own */

struct datastore_ops {
	const char *kind;       /* "folder", "rados": for messages */
	/* Open name for reading: *size is its length.  0, -ENOENT, -EBADMSG
	 * (not a regular file / object), -errno. */
	int (*open_read)(struct datastore *ds, const char *name, struct ds_file **f,
			 uint64_t *size);
	/* Read up to len bytes at off: the count (short only at the end) or -errno. */
	int64_t (*pread)(struct ds_file *f, void *buf, size_t len, uint64_t off);
	/* Map size bytes read-only (munmap to undo), or NULL; may be absent,
	 * then callers read. */
	void *(*map)(struct ds_file *f, uint64_t size);
	void (*close)(struct ds_file *f);
	/* Create name, which must not exist (-EEXIST), holding its first len
	 * bytes (a pack's file header: a pack never exists without one), for
	 * appending after them. */
	int (*create)(struct datastore *ds, const char *name, const void *first, size_t len,
		      struct ds_file **f);
	/* Append: off is the current end.  0 or -errno. */
	int (*append)(struct ds_file *f, const void *buf, size_t len, uint64_t off);
	/* Cut back to size; durable when asked. */
	int (*truncate)(struct ds_file *f, uint64_t size, int durable);
	/* Write a (alen bytes) then b (blen) as the new object tmp, to be
	 * published as name.  0 or -errno (nothing left under tmp). */
	int (*put_tmp)(struct datastore *ds, const char *name, const char *tmp,
		       const void *a, size_t alen, const void *b, size_t blen);
	int (*publish)(struct datastore *ds, const char *tmp, const char *name);
	/* 0 when name exists, -ENOENT, -errno. */
	int (*exists)(struct datastore *ds, const char *name);
	int (*remove)(struct datastore *ds, const char *name);
	/* Every name under prefix (a folder: "packs/"; its entries only) to
	 * cb, in no order; cb returns nonzero to stop.  0, cb's value, -errno. */
	int (*list)(struct datastore *ds, const char *prefix,
		    int (*cb)(void *arg, const char *name), void *arg);
	/* Every name that starts with prefix, at any depth and with the parts
	 * of blobs ("<name>@<i>", RADOS) among them, to cb in no order; cb
	 * returns nonzero to stop.  Absent for a folder: callers walk its
	 * directories.  0, cb's value, -errno. */
	int (*list_all)(struct datastore *ds, const char *prefix,
			int (*cb)(void *arg, const char *name), void *arg);
	/* Make everything written so far durable; name is a path inside the
	 * data (the folder implementation syncs its filesystem). */
	int (*sync)(struct datastore *ds, const char *name);
	/* A token unique to this process among every writer of the data
	 * (temporary names carry it): the pid, or the RADOS client id. */
	void (*writer_tag)(struct datastore *ds, char *out, size_t len);
	void (*free)(struct datastore *ds);
	/* Packs are closed past this size: 0 for PACK_SIZE_LIMIT. */
	uint64_t pack_limit;
};

struct datastore {
	const struct datastore_ops *ops;
};

/* The data store that holds path, and the name there (a pointer into
 * path).  Never NULL: the folder implementation by default. */
struct datastore *datastore_resolve(const char *path, const char **name);

/* Make paths under dir/packs/ and dir/blobs/ resolve to ds.  Attaching a
 * dir that is attached already only counts a reference (ds is freed then:
 * the first one stays).  0 or -ENOMEM. */
int datastore_attach(const char *dir, struct datastore *ds);
/* Drop one reference; the last frees the data store. */
void datastore_detach(const char *dir);

/* The RADOS implementation: url is rados://POOL?conf=PATH[&id=CLIENT].
 * Connects (waiting at most a few seconds for the cluster).  0 and *out,
 * or -EINVAL (a malformed url), -ENOENT (no such pool), -errno; err says
 * which in words. */
int datastore_rados_open(const char *url, struct datastore **out, char *err, size_t errlen);
/* Whether url names a RADOS data store (starts with rados://). */
int datastore_url_is_rados(const char *url);

#endif
