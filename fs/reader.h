/*
 * reader.h - reading a stored instance for the filesystem.
 *
 * The library's reader (index/instance.h) plus what a mount needs on top:
 * damage logged with the instance and the file, a small per-file
 * cache of the last partly read chunks, so that the kernel's pieces of a
 * sequential read (128 KiB .. 1 MiB, never aligned to our ~256 KiB chunks)
 * never decode one chunk twice, and the chunks of small reads (a tile of a
 * whole-slide image and the page of each neighbour it reaches into), so
 * that neighbouring tiles share them.  A chunk wholly inside a larger
 * request is decoded straight into the reply buffer and not cached.  The
 * chunks a read needs are decoded at once, on the pool and the caller.
 *
 * One struct inst_file per open file handle; inst_file_read may be called
 * from several threads at once (each with its own codec_ctx).
 */
#ifndef DCMFS_FS_READER_H
#define DCMFS_FS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "codec.h"
#include "store.h"

struct inst_file;

/* Per-thread: the codec context and a chunk buffer (owned by the thread;
 * the reader may swap it for one of equal or other size, free with free()). */
struct inst_scratch {
	struct codec_ctx *ctx;
	uint8_t *buf;
	size_t cap;
	int alone;      /* decode on this thread only (threads that are a pool already) */
	struct catalog *cat;    /* this thread's, to name a damaged instance in the log */
};

/* Open instance id (instance_open).  Returns 0 and *out (the caller's, to
 * inst_file_close), -ENOENT (no such instance), -EIO (a blob is missing or
 * damaged; logged), or -ENOMEM. */
int inst_file_open(struct store *s, struct catalog *cat, int64_t id,
		   struct inst_file **out);
uint64_t inst_file_size(const struct inst_file *f);
/* Read [off, off+n); returns bytes read (short only at end of file) or
 * -EIO when a chunk does not decode (logged once per open file with the
 * instance's SOPInstanceUID, the chunk's offset and its pack or blob file), or
 * -ENOMEM.  sc is the calling thread's. */
int64_t inst_file_read(struct inst_file *f, struct inst_scratch *sc,
		       uint64_t off, void *buf, size_t n);
/* Chunks decoded so far (for tests and benchmarks of the cache). */
uint64_t inst_file_decodes(const struct inst_file *f);
void inst_file_close(struct inst_file *f);

/* Helper threads that decode whole chunks of large reads in parallel
 * (one fewer than the cores is right).  Returns how many started. */
int reader_pool_start(int nthreads);
void reader_pool_stop(void);

#endif
