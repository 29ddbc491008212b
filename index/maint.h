/*
 * maint.h - store maintenance: verify, reindex, remove, garbage-collect.
 *
 * The packs and blob files are the truth; index.db is a cache over them.
 *
 * Locks (store.h): reindex holds the use lock exclusively, so nothing else
 * has the store open while it runs; gc holds the ingest lock exclusively,
 * so no import is between deciding to share a blob and committing.
 *
 * Crash order: an import's is sketched in ingest.c, remove's, gc's and
 * reindex's in maint.c.  A crash leaves at worst a torn tail in a pack
 * being written, temporary files, or data no row names: never a row naming
 * missing data.
 *
 * Damage (a flipped bit, a lost sector) is found by the entry checksums of
 * packs (bound to their offsets, blobstore.h) and blob files; a damaged
 * entry costs that entry only, never what follows it in the pack.
 *
 * STORE/DAMAGED is left by a reindex that skipped damage: one line per
 * skipped range ("pack NAME START END"), pack cut short or gone ("pack
 * NAME SIZE cut", "pack NAME 0 missing"), file ("blob PATH"), or record
 * whose blob is gone ("instance ID SOPUID needs blob HASH.ORD").  While it
 * exists gc refuses to run (a damaged record may have named blobs that gc
 * would then free for good) unless forced, and verify counts it as a
 * problem (exit 1), naming the blob files it lists as kept for damaged
 * records rather than reclaimable.  It is cleared by `gc --force`
 * (the damage is accepted as lost: its lines move to STORE/DAMAGED.accepted,
 * and verify and reindex then report those exact ranges as known damage,
 * not as problems) or by a reindex that finds no damage (the damaged files
 * were restored from a backup).
 *
 * A torn tail or a missing blob is told from damage by what committed:
 * rows that name data past a pack's end, in a pack that is gone, or a
 * blob that is gone, mean the data was synced and then lost.  verify has
 * the rows; reindex has them only while the old index.db still opens.
 * Without it (index.db deleted too), a cut at the end of the newest pack,
 * or a record whose blob file is gone, cannot be told from what a crash
 * leaves, and stays quiet (skipped, counted): a known limit.
 */
#ifndef DCMFS_MAINT_H
#define DCMFS_MAINT_H

#include <stdint.h>

#include "store.h"

#define DAMAGE_MARKER "DAMAGED"

/* Called once per problem found, with a one-line description valid during
 * the call (problem may be NULL: nothing is told). */
typedef void (*maint_problem_fn)(void *arg, const char *what);
/* Called now and then with work done and work total (for progress; may be
 * NULL). */
typedef void (*maint_progress_fn)(void *arg, uint64_t done, uint64_t total);

struct verify_totals {
	int64_t instances, blobs, problems;
	int64_t pack_entries, damaged_ranges;
	int64_t accepted_ranges;     /* known damage, accepted by gc --force */
	uint64_t damaged_bytes;
	int64_t torn_tail;           /* the newest pack ends in a torn append: normal after a crash */
	/* Reclaimable by gc, not problems: */
	int64_t temporary_files;     /* left by an interrupted import */
	int64_t orphan_files;        /* blob files no row names */
	/* Problems while STORE/DAMAGED stands, not reclaimable: */
	int64_t kept_files;          /* blob files DAMAGED lists (skipped as damaged) */
	int64_t unreferenced_blobs;  /* freed by rm, not yet by gc */
	int marker;                  /* STORE/DAMAGED exists */
	uint64_t bytes_checked;
	uint64_t bytes_decoded;      /* raw bytes decoded: each blob once where it can be */
};
/* Check index.db (PRAGMA integrity_check, and the kept totals against a
 * count of the rows, catalog_tallies_check), every entry of every pack
 * (magic, length, checksum), every blob (read back, decoded, hashed),
 * every instance (its record, read from its pack, against its row: ids,
 * version, size, file hash, segments; its identity: patient key, issuer
 * and folder name, study and series UIDs and folder names, SOP UID, file
 * names, unclean reason, and that exactly one version of its SOP UID is
 * current, the one the rules pick; then the whole file read back against
 * its hash).  Each blob is decoded once: with the first instance (the
 * smallest id) that names it, its decoded bytes hashed against the blob's
 * hash and, in file order, against the file's (a later instance sharing
 * it decodes it again for its own file hash); a blob no instance names,
 * on its own, before the instances.  A damaged blob is told with its
 * first instance: its line and the instances it affects, then that
 * instance's.  A row that disagrees with an intact record is a problem
 * whose fix is reindex.  Each damaged pack range is named
 * with the instances it affects; so is each damaged blob file.  Orphans and
 * temporary files are counted, not problems.  Safe to run while imports
 * and gc run: data freed meanwhile is not reported missing.  *t is filled
 * in.  The packs, blobs and instances are checked by one worker thread per
 * online core (at most 8; DCMFS_VERIFY_WORKERS=N in the environment sets
 * N), each with its own catalogue connections, in memory bounded by a
 * queue and a buffer per worker; problems are told in the same order and
 * words whatever the number of workers (one call at a time).  Returns 0,
 * or -ENOMEM, -EAGAIN (no thread starts) or a catalogue -errno when the
 * check could not be done (problems found are not an error of verify
 * itself: t->problems counts them). */
int store_verify(struct store *s, maint_problem_fn problem, maint_progress_fn progress,
		 void *arg, struct verify_totals *t);

struct reindex_totals {
	int64_t packs, blobs, instances, tombstones, skipped;
	int64_t damaged;             /* ranges and blob files skipped as damaged */
	int64_t accepted;            /* ranges skipped as known damage (DAMAGED.accepted) */
	uint64_t damaged_bytes;
	int64_t lost;                /* records whose blobs are gone with damage */
};
/* Rebuild dir/index.db from the packs and blob files alone (the old index
 * is kept as index.db.old, and opened, when it still opens, only to name
 * what is lost).  Damaged entries and blob files are skipped, each
 * reported (pack, byte range, and the instances the old index had there);
 * everything else is kept: every instance whose record and blobs are
 * intact comes back.  A torn tail of the newest pack is the normal
 * after-crash case and is not damage, unless the old index places data
 * in it or after it; so is data the old index places past any pack's end
 * or in a pack that is gone, and a record the old index had whose blob is
 * missing (named by its SOP UID; it is left out of the tree).  With
 * damage, STORE/DAMAGED lists it; a reindex without damage removes the
 * marker.  Nothing may use the store meanwhile: it refuses (-EBUSY, err
 * says so) while any process has it open.  One pass over
 * the packs in memory bounded whatever the store's size (what must be
 * remembered, tombstones and records met before their blobs, is kept in
 * scratch tables on disk).  progress (may be NULL) gets blob files checked
 * with total 0 (blob files come first), then packs done / total.  *t is
 * filled in.  Returns 0 (damage skipped is not a failure: t->damaged
 * counts it), or -errno with a one-line reason in err: -EBUSY while in
 * use, the -errno of listing dir/packs (not a store), -ENOMEM, or a
 * catalogue error (the old index.db is then left in place). */
int store_reindex(const char *dir, maint_problem_fn problem, maint_progress_fn progress,
		  void *arg, struct reindex_totals *t, char *err, size_t errlen);

/* Remove instances below a node (kind from enum cat_kind, matched by its
 * UID/ID as catalog_find_ids does; an instance is every version of its
 * SOPInstanceUID): a tombstone per instance in a pack, then the rows.
 * Blobs stay until gc.  *removed gets the count.  All removals of one
 * struct store append to one tombstone pack (made on the first, a new one
 * past PACK_SIZE_LIMIT), one at a time; each syncs its tombstones before
 * its rows are deleted, and one that fails cuts them off again.  Returns
 * 0, -ENOENT when nothing matches, or -errno (-EBUSY, -ENOSPC, -EIO...),
 * each with a one-line reason in err. */
int store_remove(struct store *s, int kind, const char *uid, int64_t *removed,
		 char *err, size_t errlen);
/* The same for one node by row id (the filesystem's rm), through the
 * caller's connection cat (of s; not in a transaction).  Removing nothing
 * is 0 with *removed 0.  Returns 0 or -errno. */
int store_remove_node(struct store *s, struct catalog *cat, int kind, int64_t id,
		      int64_t *removed);
/* The same, and then, when it succeeded, emptied(arg, ch) for each folder
 * (patient, study, series) that left the catalogue with it, because its
 * last file went (the catalogue's rule: a folder lives while it has a
 * file).  ch is a change of the feed (catalog.h) with state
 * CAT_CHANGE_DELETED and the folder's last name and mtime; emptied's
 * return value is ignored.  Without a change feed (a store opened
 * read-only), nothing is reported. */
int store_remove_node_emptied(struct store *s, struct catalog *cat, int kind, int64_t id,
			      int64_t *removed, cat_change_cb emptied, void *arg);

struct gc_totals {
	int64_t blobs_freed, files_removed, temporary_removed, spool_removed;
	uint64_t bytes_freed;
};
/* Free unreferenced blobs, blob files no row names, temporary files of
 * dead imports, and spool files (spool/in-<pid>-<n>) of dead mounts.
 * Waits first for ingest sessions of other processes to end (the ingest
 * lock, store.h; s->waiting is told), and holds them off until done.
 * Refuses (-EBUSY, err says why) while STORE/DAMAGED exists unless force;
 * a forced gc that succeeds accepts the damage (see above).  *t is filled
 * in.  Returns 0 or -errno (the lock's, the catalogue's, -ENOMEM, or of
 * clearing DAMAGED), with a one-line reason in err. */
int store_gc(struct store *s, int force, struct gc_totals *t, char *err, size_t errlen);

#endif
