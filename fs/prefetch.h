/*
 * prefetch.h - decode the next files of a series into the kernel's page
 * cache while a program reads the series file after file (see prefetch.c).
 */
#ifndef DCMFS_FS_PREFETCH_H
#define DCMFS_FS_PREFETCH_H

#include "inode.h"

#include <pthread.h>

#include "store.h"

struct prefetch;

/* nthreads helper threads; NULL on failure (then hints do nothing). */
struct prefetch *prefetch_start(struct store *s, struct fuse_session *se, int nthreads);
/* A file was read from its start: queue up to `ahead` files after it. */
void prefetch_hint(struct prefetch *p, int64_t instance_id, int ahead);
/* The reader asked for this file itself: no helper need decode it. */
void prefetch_forget(struct prefetch *p, int64_t instance_id);
/* A series folder was listed (the kernel now knows its files' inodes). */
void prefetch_listed(struct prefetch *p, int64_t series_id);
/* Stop the threads (before the session ends); NULL-safe. */
void prefetch_stop(struct prefetch *p);

#endif
