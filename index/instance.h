/*
 * instance.h - reading a stored instance: the one reader of stored files,
 * used by dcmfsctl get, verify, and the mount (fs/reader.c adds its chunk
 * cache and parallel decode on top).
 *
 * A stored file is the concatenation of its segments (header, pixel value,
 * trailer: record.h), each a blob encoded by the codec in chunks that
 * decode on their own (codec.h).  An open instance holds every segment's
 * encoded bytes, checked once on open (blob_view_get), and each segment's
 * chunk table, parsed once; it numbers the chunks of the whole file
 * 0 .. instance_chunks() - 1 in file order, so a reader can decode exactly
 * the chunks a range touches, and decode them where it likes.
 *
 * Threads: after instance_open, every function may be called on one
 * instance from several threads at once, each with its own codec_ctx.
 */
#ifndef DCMFS_INSTANCE_H
#define DCMFS_INSTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "codec.h"
#include "store.h"

struct instance;

/* Open instance id (an instances row of cat, a connection of the calling
 * thread).  Returns 0 and *out (the caller's, to instance_close), or
 * -ENOENT (no such instance), -EBADMSG (a blob fails its check or its
 * chunk table does not parse), -EIO (a blob is missing or cannot be read),
 * -ENOMEM.  On -EBADMSG and -EIO, why (may be NULL) names the segment and
 * the file that holds it, for a log line an administrator can act on.
 * The instance keeps s, which must outlive it. */
int instance_open(struct store *s, struct catalog *cat, int64_t id,
		  struct instance **out, char *why, size_t whylen);
/* Free everything the instance holds.  NULL is fine. */
void instance_close(struct instance *in);

int64_t instance_id(const struct instance *in);
/* The file's size in bytes. */
uint64_t instance_size(const struct instance *in);
/* Chunks of the whole file (0 for an empty file). */
uint32_t instance_chunks(const struct instance *in);
/* The chunk holding file offset off (off < instance_size). */
uint32_t instance_chunk_at(const struct instance *in, uint64_t off);
/* Chunk k (< instance_chunks) covers file bytes [*off, *off + *len). */
void instance_chunk_span(const struct instance *in, uint32_t k, uint64_t *off,
			 uint32_t *len);
/* Decode chunk k into dst (room for its len bytes).  0, -EIO (does not
 * decode: damage the open could not see), -ENOMEM. */
int instance_decode_chunk(const struct instance *in, struct codec_ctx *ctx,
			  uint32_t k, void *dst);
/* Read file bytes [off, off + n) into buf, decoding only the chunks they
 * touch.  Returns the bytes read (short only at end of file; 0 at or past
 * it), or -EIO (a chunk does not decode), -ENOMEM. */
int64_t instance_read(const struct instance *in, struct codec_ctx *ctx,
		      uint64_t off, void *buf, size_t n);
/* Where chunk k's encoded bytes are stored, for messages: "STORE/packs/
 * NAME, entry at byte N" or the blob file's path. */
void instance_chunk_where(const struct instance *in, uint32_t k, char *out,
			  size_t len);

#endif
