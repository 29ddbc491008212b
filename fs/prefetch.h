/*
 * prefetch.h - decode the next files of a series ahead of a program that
 * reads the series file after file (see prefetch.c).
 *
 * Files decoded ahead wait in the daemon's memory (at most PREFETCH_BYTES
 * in all) until a read takes them; files of a series whose folder was
 * listed are also pushed into the kernel's page cache, but for their first
 * page, whose READ says that the reader got there.
 */
#ifndef DCMFS_FS_PREFETCH_H
#define DCMFS_FS_PREFETCH_H

#include "inode.h"

#include <pthread.h>

#include "store.h"

struct prefetch;

/* A file decoded ahead, held by one read (prefetch_take .. prefetch_put). */
struct prefetch_pin {
	const uint8_t *data;        /* the whole file */
	uint64_t size;
	void *slot;                 /* private */
};

/* nthreads helper threads; NULL on failure (then hints do nothing). */
struct prefetch *prefetch_start(struct store *s, struct fuse_session *se, int nthreads);
/* A file was read from its start: queue up to `ahead` files after it. */
void prefetch_hint(struct prefetch *p, int64_t instance_id, int ahead);
/* A read of instance_id: 1 and *pin when its bytes were decoded ahead (a
 * decode under way is waited for), else 0 (the caller decodes it; a queued
 * decode of it is cancelled).  NULL-safe. */
int prefetch_take(struct prefetch *p, int64_t instance_id, struct prefetch_pin *pin);
/* Give back a pin; read_end: where the read ended.  Once reads reached the
 * end of the file (or of its first page, when the rest was pushed into the
 * kernel's page cache) its bytes are dropped, when no other read holds them. */
void prefetch_put(struct prefetch *p, struct prefetch_pin *pin, uint64_t read_end);
/* A series folder was listed (the kernel now knows its files' inodes). */
void prefetch_listed(struct prefetch *p, int64_t series_id);
/* Stop the threads (before the session ends); NULL-safe. */
void prefetch_stop(struct prefetch *p);

#endif
