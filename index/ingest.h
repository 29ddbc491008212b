/*
 * ingest.h - putting DICOM files into a store.
 *
 * Workers (one per core) read each file, scan it, split it into segments,
 * hash them, confirm candidate duplicates by comparing bytes, and compress
 * what is new.  One writer thread owns this process's pack, writes blob
 * files, and commits batches: data first (one syncfs), then the rows.  An
 * interrupted import leaves at most orphan data that gc removes; running it
 * again completes the set with nothing stored twice.
 *
 * A file larger than 64 MiB is streamed, never held whole: it is scanned
 * through a mapping (only the pages the scanner reads are touched), its
 * header and trailer are read, and its pixel value is cut into pieces of
 * about 16 MiB (FORMAT.md), each a blob of its own that the worker and
 * helper threads (one per core, at most 4) read, hash, look up, confirm and
 * encode in parallel, and write as a temporary blob file that the writer
 * takes over (or drops, when the bytes turn out stored); meanwhile the
 * worker reads the file once in order for its whole-file key.  At most one
 * piece per helper is in memory, so an import's peak memory does not grow
 * with the file.  The writer compares a piece again by reading it from the
 * file (checked against its key).  A file that changes while it is read
 * is refused.  Native pixels are cut at whole rows; encapsulated ones
 * (their items walked with small reads, not through the mapping) where an
 * item begins, so that a tile lies in one piece, and inside an item only
 * when it is longer than two pieces.  Deflated files and files without
 * pixel data are read whole.
 *
 * A session holds the store's ingest lock shared (store.h) from its first
 * ingest_add to ingest_end, and ingest_one for its one file, so gc cannot
 * free a blob between a worker choosing to share it and the commit; the
 * first hold waits while a gc runs.
 */
#ifndef DCMFS_INGEST_H
#define DCMFS_INGEST_H

#include <stdint.h>

#include "store.h"

enum ingest_outcome {
	INGEST_NEW = 0,        /* stored */
	INGEST_DUPLICATE,      /* the same bytes were already stored */
	INGEST_VERSION,        /* same SOPInstanceUID, other bytes: a new version */
	INGEST_REJECTED,       /* not stored; reason says why */
	INGEST_FAILED,         /* a store error (disk full, I/O): not stored */
};

/* What became of one file.  Handed to the report callback (valid during
 * the call) or filled in by ingest_one. */
struct ingest_result {
	const char *path;      /* the path as queued; not owned */
	int outcome;
	int err;               /* -errno for INGEST_FAILED */
	char reason[256];      /* for REJECTED / FAILED, and why a file is quarantined */
	int quarantined;       /* NEW / VERSION stored, but its dataset does not
	                        * parse to its end (catalog.h: never preferred
	                        * over a clean version, listed in /quarantine) */
	int refiled;           /* VERSION whose first version is in another series
	                        * (so another study or patient, possibly) */
	int64_t instance_id;   /* for NEW / DUPLICATE / VERSION */
	uint64_t size;
};

struct ingest_totals {
	int64_t n_new, n_duplicate, n_version, n_rejected, n_failed;
	int64_t n_quarantined;    /* of n_new + n_version */
	uint64_t bytes_in;        /* sizes of files read */
	uint64_t bytes_stored;    /* encoded bytes of new blobs */
	int64_t started_ns;
};

typedef void (*ingest_report_fn)(void *arg, const struct ingest_result *r);

struct ingest;
/* Start an import session on s (which must stay open until ingest_end):
 * threads workers (0 = one per core) and one writer.  report (may be
 * NULL) is called from the writer thread once per file queued with
 * ingest_add.  On success *out is the caller's, to end with ingest_end.
 * Returns 0, -EROFS for a read-only store, -ENOMEM, or the -errno of
 * opening the catalogue or starting threads, with a one-line reason in
 * err. */
int ingest_begin(struct store *s, int threads, ingest_report_fn report,
		 void *arg, struct ingest **out, char *err, size_t errlen);
/* Queue a file, or a folder walked recursively (hidden entries included;
 * symbolic links inside it are not followed: they are queued and refused
 * as such).  path is copied.  Blocks while the queue is full.  A path that
 * cannot be read is queued all the same and reported as rejected.  The
 * first call takes the store's ingest lock (waiting while a gc runs).
 * Returns 0, -ENOMEM, the lock's -errno, or nftw's -errno. */
int ingest_add(struct ingest *ing, const char *path);
/* A snapshot of the totals so far and of the files queued and not yet
 * reported (for a progress line).  Any thread. */
void ingest_progress(struct ingest *ing, struct ingest_totals *t,
		     int64_t *queued);
/* Wait for everything queued, log the run in the catalogue, free ing (also
 * when it fails) and fill *t.  Returns 0, or the -errno of the first file
 * that failed with a store error (INGEST_FAILED); rejected files are not
 * errors. */
int ingest_end(struct ingest *ing, struct ingest_totals *t);

/* Ingest one file now, in the calling thread (the /incoming path of the
 * mount), as a batch of its own, holding the ingest lock for that file
 * only.  Calls from several threads are serialised; report is not called.
 * Returns 0 with res filled in (res->path is path, res->outcome tells what
 * happened, INGEST_FAILED included), or -ENOMEM or the lock's or the
 * catalogue's -errno when the file was not tried. */
int ingest_one(struct ingest *ing, const char *path, struct ingest_result *res);

#endif
