/*
 * dcmfs.h - the daemon's shared state and inode numbering (fs/ only).
 *
 * Inode numbers are stable across remounts: a kind in the top byte and a
 * catalogue row id below (row ids are never reused), or a small fixed number.
 *
 *   1 /            2 /patients        3 /incoming       4 /incoming/.rejected
 *   K_PATIENT|id   /patients/<p>                 (patients row)
 *   K_STUDIES|id   /patients/<p>/studies         (patients row of <p>)
 *   K_STUDY|id     .../studies/<study>           (studies row)
 *   K_SERIES|id    .../<study>/<series>          (series row)
 *   K_INSTANCE|id  .../<series>/<SOP>.dcm        (instances row)
 *   K_SPOOL|n      entries below /incoming; n counts up from 1 per mount
 *
 *   5 /versions    6 /quarantine
 *   view_kind(CAT_VIEW_VERSIONS, K_PATIENT..K_INSTANCE)|id
 *                  /versions/<p>/<study>/<series>/<SOP>.v<N>.dcm (every
 *                  version; no "studies" level), and the same below
 *                  /quarantine with CAT_VIEW_QUARANTINE (unclean versions):
 *                  the view in bits 4-5 of the kind, the catalogue kind below
 */
#ifndef DCMFS_FS_DCMFS_H
#define DCMFS_FS_DCMFS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "catalog.h"
#include "codec.h"
#include "ingest.h"
#include "store.h"
#include "reader.h"

#define INO_ROOT 1
#define INO_PATIENTS 2
#define INO_INCOMING 3
#define INO_REJECTED 4
#define INO_VERSIONS 5
#define INO_QUARANTINE 6

enum ino_kind {
	K_FIXED = 0,
	K_PATIENT = CAT_PATIENT,
	K_STUDY = CAT_STUDY,
	K_SERIES = CAT_SERIES,
	K_INSTANCE = CAT_INSTANCE,
	K_STUDIES = 5,
	K_SPOOL = 6,
};

/* Kinds of the /versions and /quarantine views (catalog.h, enum cat_view). */
static inline int view_kind(int view, int cat_kind) { return view << 4 | cat_kind; }
static inline int kind_view(int kind) { return kind >> 4 & 3; }
static inline int kind_cat(int kind) { return kind & 15; }

#define INO_SHIFT 56
#define INO_ID_MASK ((UINT64_C(1) << INO_SHIFT) - 1)
static inline fuse_ino_t ino_make(int kind, int64_t id)
{
	return ((uint64_t)kind << INO_SHIFT) | ((uint64_t)id & INO_ID_MASK);
}
static inline int ino_kind(fuse_ino_t ino) { return (int)(ino >> INO_SHIFT); }
static inline int64_t ino_id(fuse_ino_t ino) { return (int64_t)(ino & INO_ID_MASK); }

/* A folder that left the catalogue when its last file was unlinked; it stays
 * visible, empty, until rmdir (so `rm -r` ends as on any filesystem). */
struct ghost {
	int kind;                   /* K_PATIENT, K_STUDY, K_SERIES */
	int64_t id;
	fuse_ino_t parent;
	char name[256];
	int64_t mtime_ns;
	int studies_gone;           /* patient: its "studies" folder was rmdir'd */
	struct ghost *next;
};

/* An entry below /incoming (files are real files in STORE/spool). */
struct spool_ent {
	fuse_ino_t ino, parent;
	char *name;
	int dir;
	char *path;                 /* files: the spool file */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	int64_t mtime_ns;           /* folders */
	int busy;                   /* being ingested */
	struct spool_ent *next;
};

struct dcmfs_opts {
	int ro, rw;
	int uid_set, gid_set;
	unsigned uid, gid, umask;
	int has_fsname, has_subtype;
	int nonopt;
	char *store;
	int bad;                    /* an option was refused (already reported) */
};

struct dcmfs {
	struct dcmfs_opts o;
	char *store_dir;            /* absolute */
	char *mountpoint;           /* absolute */
	struct store *store;
	struct ingest *ing;         /* admin mount only */
	struct fuse_session *se;
	pthread_key_t tkey;         /* per-thread struct tstate */
	int64_t started_ns;

	/* written by the poll thread, read by handlers */
	atomic_llong npatients;
	atomic_llong newest_ns;
	atomic_int inited;

	pthread_mutex_t ghost_lock;     /* guards ghosts */
	struct ghost *ghosts;
	pthread_mutex_t rm_lock;        /* serialises removals (ghost bookkeeping) */

	pthread_mutex_t in_lock;        /* guards spool, spool_next */
	struct spool_ent *spool;
	uint64_t spool_next;

	pthread_t poller;
	atomic_int stop;
	int poller_running;

	/* Read-only mounts answer open with ENOSYS: the kernel then stops
	 * sending OPEN/RELEASE (and keeps the page cache), and reads find
	 * their instance here by inode. */
	struct prefetch *prefetch;      /* decodes the next files of a series */

	pthread_mutex_t icache_lock;    /* guards icache, icache_clock */
	struct icache_ent *icache;
	uint64_t icache_clock;
};

#define ICACHE_SIZE 64
struct icache_ent {
	fuse_ino_t ino;                 /* 0 = empty */
	struct inst_file *f;
	int refs;
	uint64_t used;
};

/* Per-thread handles (SQLite connections and zstd contexts are per thread). */
struct tstate {
	struct catalog *cat;
	struct codec_ctx *ctx;
	struct inst_scratch sc;     /* sc.ctx == ctx */
	char *reply;                /* read reply buffer */
	size_t reply_cap;
};
struct tstate *tstate_get(struct dcmfs *d);

#endif
