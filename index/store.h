/*
 * store.h - a store directory and reading what it holds.
 *
 *   STORE/index.db     the catalogue (SQLite, WAL): a cache over the data
 *   STORE/packs/       append-only pack files: small blobs, instance records
 *   STORE/blobs/ab/cd/ large blobs, one file each, named by XXH3-128
 *   STORE/shares/      share definitions
 *   STORE/spool/       files being written into /incoming
 *
 *   STORE/lock         the store's locks (below)
 *
 * An instance is read by concatenating its segments (header, pixel value,
 * trailer), each a blob decoded with the codec; reading a range decodes only
 * the chunks it touches.
 *
 * Locks.  STORE/lock carries two byte-range locks of the open file
 * description (fcntl F_OFD_*): they belong to one open of the file, so
 * threads of a process share them and a process that dies drops them; the
 * file is opened O_CLOEXEC, so programs started from a holder do not keep
 * them.
 *   byte 0, the use lock: every open struct store holds it shared for its
 *     whole life (a mount, import, rm, gc, verify, get, ls, stats); reindex
 *     takes it exclusively without waiting and refuses when the store is in
 *     use, and store_open refuses while a reindex holds it.
 *   byte 1, the ingest lock: an ingest session holds it shared from its
 *     first dedup lookup to its last commit (ingest.c: a whole import; one
 *     file of the mount's /incoming); gc holds it exclusively while it
 *     decides and frees, after waiting for imports to finish.  So gc never
 *     frees a blob that an import in flight has decided to share.
 * A read-only open of a store whose lock file cannot be created (a
 * read-only folder) goes on without locks: it can only read.
 */
#ifndef DCMFS_STORE_H
#define DCMFS_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "blobstore.h"
#include "catalog.h"
#include "codec.h"

struct store {
	char *dir;
	int readonly;
	int dirfd;
	struct catalog *cat;            /* for the opening thread only */
	struct blob_reader *br;
	pthread_mutex_t pack_lock;      /* guards pack_cat */
	struct catalog *pack_cat;       /* resolves pack names for br */
	/* Removals of this process append their tombstones to one pack,
	 * made on the first and started anew past PACK_SIZE_LIMIT (maint.c). */
	pthread_mutex_t rm_lock;        /* guards tomb_pw; one removal at a time */
	struct pack_writer *tomb_pw;
	int lockfd;                     /* STORE/lock holding the use lock, or -1 */
	pthread_mutex_t hold_lock;      /* guards holds */
	int holds;                      /* ingest sessions of this process */
	/* Called (may be NULL) when the store has to wait for another
	 * process, with what it waits for: a tool tells its user why. */
	void (*waiting)(const char *what);
};

#define STORE_LOCK_FILE "lock"


/* Create an empty store at dir (which may exist and be empty). */
int store_init(const char *dir, char *err, size_t errlen);
/* Open a store; refuses a folder that is not a store, or a newer schema. */
int store_open(const char *dir, int readonly, struct store **out,
	       char *err, size_t errlen);
void store_close(struct store *s);
/* The ingest lock, shared, counted per process: the first hold waits for a
 * gc to finish, the last release drops it.  0 or -errno. */
int store_ingest_hold(struct store *s);
void store_ingest_release(struct store *s);
/* The ingest lock, exclusive (gc): waits for every ingest session of other
 * processes to end, telling s->waiting when it has to.  0 or -errno. */
int store_ingest_exclusive(struct store *s);
void store_ingest_unlock(struct store *s);
/* The use lock of dir, exclusive, without waiting (reindex): an open
 * descriptor to give to store_unlock, or -EBUSY (err says so) while
 * anything has the store open, or -errno. */
int store_lock_exclusive(const char *dir, char *err, size_t errlen);
void store_unlock(int fd);
/* A new catalogue connection for another thread (close with catalog_close). */
int store_catalog(struct store *s, struct catalog **out);
/* Make every write so far durable (one syncfs of the store's filesystem). */
int store_sync(struct store *s);

/* Read raw bytes [off, off+n) of a blob.  Returns bytes read or -errno. */
int64_t store_blob_read(struct store *s, struct codec_ctx *ctx,
			const struct blob_ref *b, uint64_t off, void *buf, size_t n);
/* 1 when the blob's raw bytes equal raw[0..len), 0 when not, -errno. */
int store_blob_equals(struct store *s, struct codec_ctx *ctx,
		      const struct blob_ref *b, const void *raw, size_t len);

/* An open instance: its segments mapped, ready for random reads. */
struct instance_handle;
int instance_open(struct store *s, struct catalog *cat, int64_t instance_id,
		  struct instance_handle **out);
uint64_t instance_size(const struct instance_handle *h);
/* Read [off, off+n) of the file; returns bytes read (short only at EOF) or -errno. */
int64_t instance_read(struct instance_handle *h, struct codec_ctx *ctx,
		      uint64_t off, void *buf, size_t n);
void instance_close(struct instance_handle *h);

/* The instances.name of a version, unique in its series: <SOP>.dcm for the
 * first version, <SOP>.v<N>.dcm for later ones (SOP escaped and fitted to
 * 255 bytes, see escape.h).  The names the tree shows are in catalog.h. */
void instance_file_name(const char *sop_uid, uint32_t version, char *out,
			size_t len);

#endif
