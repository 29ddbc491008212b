/*
 * maint.h - store maintenance: verify, reindex, remove, garbage-collect.
 */
#ifndef DCMFS_MAINT_H
#define DCMFS_MAINT_H

#include <stdint.h>

#include "store.h"

/* Called once per problem found (a one-line description). */
typedef void (*maint_problem_fn)(void *arg, const char *what);
/* Called now and then with work done and work total (for progress). */
typedef void (*maint_progress_fn)(void *arg, uint64_t done, uint64_t total);

struct verify_totals {
	int64_t instances, blobs, problems;
	int64_t temporary_files;     /* left by an interrupted import; gc removes */
	int64_t unreferenced_blobs;  /* freed by rm, not yet by gc */
	uint64_t bytes_checked;
};
/* Read back every instance (whole-file hash) and every blob (its hash),
 * look for missing, corrupt, orphan and dangling data.  Returns 0 or -errno
 * (problems found are not an error of verify itself). */
int store_verify(struct store *s, maint_problem_fn problem, maint_progress_fn progress,
		 void *arg, struct verify_totals *t);

struct reindex_totals {
	int64_t packs, blobs, instances, tombstones, skipped;
};
/* Rebuild dir/index.db from the packs and blob files.  An existing index is
 * kept as index.db.old.  Nothing may use the store meanwhile. */
int store_reindex(const char *dir, maint_problem_fn problem, void *arg,
		  struct reindex_totals *t, char *err, size_t errlen);

/* Remove instances below a node (kind from enum cat_kind, matched by its
 * UID/ID): a tombstone per instance in a pack, then the rows.  Blobs stay
 * until gc.  *removed gets the count. */
int store_remove(struct store *s, int kind, const char *uid, int64_t *removed,
		 char *err, size_t errlen);
/* The same for one node by row id (the filesystem's rm). */
int store_remove_node(struct store *s, struct catalog *cat, int kind, int64_t id,
		      int64_t *removed);

struct gc_totals {
	int64_t blobs_freed, files_removed, temporary_removed;
	uint64_t bytes_freed;
};
int store_gc(struct store *s, struct gc_totals *t, char *err, size_t errlen);

#endif
