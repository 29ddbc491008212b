/*
 * store.h - a store directory and reading what it holds.
 *
 *   STORE/index.db     the catalogue (SQLite, WAL): a cache over the data
 *   STORE/packs/       append-only pack files: small blobs, instance records
 *   STORE/blobs/ab/cd/ large blobs, one file each, named by XXH3-128
 *   STORE/shares/      share definitions
 *   STORE/spool/       files being written into /incoming
 *
 * An instance is read by concatenating its segments (header, pixel value,
 * trailer), each a blob decoded with the codec; reading a range decodes only
 * the chunks it touches.
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
};

/* Create an empty store at dir (which may exist and be empty). */
int store_init(const char *dir, char *err, size_t errlen);
/* Open a store; refuses a folder that is not a store, or a newer schema. */
int store_open(const char *dir, int readonly, struct store **out,
	       char *err, size_t errlen);
void store_close(struct store *s);
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
