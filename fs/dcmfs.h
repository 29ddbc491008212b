/*
 * dcmfs.h - the daemon's shared state and the functions its rooms offer
 * each other (fs/ only; inode numbers are in inode.h).
 *
 * Where a FUSE request goes: ops.c holds the lowlevel ops table and sends
 * each request by inode class (inode.h) to
 *   tree.c      the catalogue tree (/, /patients, /versions, /quarantine):
 *               attributes, lookup, listings
 *   ghost.c     unlink and rmdir under /patients, and the emptied folders
 *               ("ghosts") they leave until rmdir
 *   incoming.c  the in-memory /incoming filesystem over STORE/spool, and
 *               ingesting its files when they are closed
 *   icache.c    open instances by inode (read-only mounts)
 *   views.c     the readable views /by-date and /by-accession
 *   ino32.c     -o ino32: the inode numbers stat shows, in 32 bits
 *   share_view.c  shares: /shares/<NAME>/... in the admin mount, the whole
 *               tree of a share mount (-o share=NAME), membership checks,
 *               de-identified files, and following definitions and changes
 * and, beside the requests, notify.c (the thread that tells the kernel what
 * changed in the catalogue), prefetch.c (read-ahead of a series) and
 * main.c (options, per-thread handles, the session).
 */
#ifndef DCMFS_FS_DCMFS_H
#define DCMFS_FS_DCMFS_H

#include "inode.h"

#include <errno.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "audit.h"
#include "catalog.h"
#include "clock.h"
#include "codec.h"
#include "ingest.h"
#include "store.h"
#include "reader.h"
#include "share.h"

#define TIMEOUT_FILE 3600.0
#define TIMEOUT_DIR 1.0

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
struct spool_entry {
	fuse_ino_t ino, parent;
	char *name;
	int dir;
	char *path;                 /* files: the spool file */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	int64_t mtime_ns;           /* folders */
	int busy;                   /* being ingested */
	int64_t emptied_ns;         /* folders: when ingest last took a file out (0: never) */
	struct spool_entry *next;
};

struct dcmfs_opts {
	int ro, rw;
	int audit;                  /* -o audit: record every open (index/audit.h) */
	char *share;                /* -o share=NAME: mount that share alone */
	int ino32;                  /* -o ino32: st_ino and d_ino fit 32 bits (ino32.c) */
	int uid_set, gid_set;
	unsigned uid, gid, umask;
	int has_fsname, has_subtype;
	int nonopt;
	char *store;
	int bad;                    /* an option was refused (already reported) */
	int log_level;              /* -o log_level=: a syslog level (log.h) */
};

/* One share as a mount shows it (share_view.c). */
struct share_view {
	int slot;                   /* inode.h: 0 in a share mount, else 1.. */
	char name[SHARE_NAME_MAX + 1];
	struct share *sh;
	struct share_members *m;
	int64_t file_ino, file_mtime_ns;   /* the definition file this was read from */
	atomic_int dead;            /* expired or removed: shows an empty patients/ */
	pthread_mutex_t names_lock; /* guards names */
	struct name_cache *names;   /* de-identified: (folder, name) -> row */
	struct share_view *next;
};

struct deid_slot;               /* open de-identified files (share_view.c) */

struct dcmfs {
	struct dcmfs_opts o;
	char *store_dir;            /* absolute */
	char *mountpoint;           /* absolute */
	struct store *store;
	struct ingest *ing;         /* admin mount only */
	struct fuse_session *se;
	pthread_key_t tkey;         /* per-thread struct tstate */
	int64_t started_ns;

	/* written by the notify thread, read by handlers */
	atomic_llong npatients;
	atomic_llong newest_ns;
	atomic_int inited;

	pthread_mutex_t ghost_lock;     /* guards ghosts */
	struct ghost *ghosts;
	pthread_mutex_t rm_lock;        /* serialises removals (ghost bookkeeping) */

	pthread_mutex_t in_lock;        /* guards spool, spool_next */
	struct spool_entry *spool;
	uint64_t spool_next;

	pthread_t notifier;
	atomic_int stop;
	int notifier_running;

	struct prefetch *prefetch;      /* decodes the next files of a series */
	struct audit_log *audit;        /* -o audit; NULL without */

	/* Shares.  A share mount has self (slot 0) and nothing else; the admin
	 * mount has every share of STORE/shares in views.  Handlers hold
	 * shares_lock for reading while they use a view; the notify thread
	 * takes it for writing only to change the list (and never calls the
	 * kernel while it holds it). */
	struct share_view *self;
	pthread_rwlock_t shares_lock;
	struct share_view *views;
	int next_slot;
	pthread_mutex_t deid_lock;      /* guards deid_cache */
	struct deid_slot *deid_cache;

	/* Read-only mounts answer open with ENOSYS: the kernel then stops
	 * sending OPEN/RELEASE (and keeps the page cache), and reads find
	 * their instance here by inode. */
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

/* What fi->fh points to: an open instance (writable mounts), an open
 * /incoming file, a folder's listing, or a de-identified file (writable
 * mounts; its bytes come from share_deid_read, which needs no handle). */
enum { OPEN_INSTANCE = 1, OPEN_SPOOL, OPEN_DIR, OPEN_DEID };

struct listing_entry {
	char *name;
	struct stat st;
	double timeout;
};

struct open_file {
	int type;
	/* OPEN_INSTANCE */
	struct inst_file *inst;
	/* OPEN_SPOOL */
	int fd;
	fuse_ino_t ino;
	pthread_mutex_t lock;       /* guards dirty, ingested, write_err; OPEN_DIR: the listing */
	int dirty, ingested;
	int created;                /* made by this open: its last close ingests it even if empty */
	int write_err;              /* a write failed (e.g. ENOSPC): never ingest */
	/* OPEN_DIR: a listing taken at the first readdir (under lock) */
	struct listing_entry *ents;
	size_t n, cap;
	int listed;
};

static inline struct dcmfs *req_daemon(fuse_req_t req) { return fuse_req_userdata(req); }
static inline struct open_file *open_file_of(struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
}
/* What a write to anything but /incoming fails with. */
static inline int refusal_errno(struct dcmfs *d) { return d->o.ro ? EROFS : EPERM; }
/* The same for a write at inode ino: shares are read-only everywhere. */
static inline int refusal_at(struct dcmfs *d, fuse_ino_t ino)
{
	return d->o.ro || is_share_ino(ino) || ino == INO_SHARES ? EROFS : EPERM;
}

/* main.c */
/* This thread's handles, made at its first request; NULL when they cannot
 * be made (logged).  Freed when the thread ends (tstate_free). */
struct tstate *tstate_get(struct dcmfs *d);
/* Why this thread's last tstate_get gave NULL, as a positive errno: EIO
 * when its catalogue does not open (a server that does not answer),
 * ENOMEM when memory ran out. */
int tstate_errno(void);
void tstate_free(void *t);
/* Raise the mount's readahead to 1 MiB (after INIT; best effort). */
void raise_readahead(struct dcmfs *d);

/* ops.c */
extern const struct fuse_lowlevel_ops dcmfs_ops;
void open_file_free(struct open_file *f);                 /* NULL-safe */
/* Append an entry to a listing: 0 or -ENOMEM. */
int listing_add(struct open_file *f, const char *name, const struct stat *st, double timeout);
void reply_entry(fuse_req_t req, const struct stat *st, double timeout);

/* tree.c: stats and the catalogue folders */
void fill_common(struct dcmfs *d, struct stat *st, fuse_ino_t ino, mode_t type,
		 mode_t perm, nlink_t nlink, int64_t mtime_ns);
void stat_dir(struct dcmfs *d, struct stat *st, fuse_ino_t ino, nlink_t nlink,
	      int64_t mtime_ns);
/* The mtime of STORE/sub (0 when it cannot be read): folders of the mount
 * that have no catalogue row take theirs from the store's folders. */
int64_t store_sub_time_ns(struct dcmfs *d, const char *sub);
/* The time of / and the folders beside /patients that have no row. */
int64_t top_time_ns(struct dcmfs *d);
/* A catalogue node of inode kind `kind` as a stat. */
void stat_node(struct dcmfs *d, int kind, const struct cat_node *n, struct stat *st);
/* The stat of any inode and its cache time: 0, -ENOENT, or a catalogue error. */
int node_getattr(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino,
		 struct stat *st, double *timeout);
/* Look up name in a folder outside /incoming: 0, -ENOENT, -ENOTDIR. */
int tree_lookup(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		const char *name, struct stat *st, double *timeout);
/* Fill f with the listing of folder ino (any folder): 0 or -errno. */
int list_dir(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino, struct open_file *f);
/* Is ino a view folder (/versions, /quarantine or below)?  Fills its view
 * and the catalogue parent of its children; 0, or -ENOTDIR if not one. */
int view_parent(fuse_ino_t ino, int *view, int *pkind, int64_t *pid);

/* ghost.c */
int ghost_find(struct dcmfs *d, int kind, int64_t id, struct ghost *out);
int ghost_by_name(struct dcmfs *d, fuse_ino_t parent, const char *name, struct ghost *out);
int ghost_children(struct dcmfs *d, fuse_ino_t parent);
void stat_ghost(struct dcmfs *d, const struct ghost *g, struct stat *st);
/* Add the ghosts of folder parent not already in the listing: 0 or -ENOMEM. */
int list_ghosts(struct dcmfs *d, struct open_file *f, fuse_ino_t parent);
void ghosts_free(struct dcmfs *d);
/* unlink of an instance / rmdir of an emptied folder under /patients:
 * 0 or -errno (EPERM, ENOENT, ENOTDIR, ENOTEMPTY, or the store's). */
int tree_unlink(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent, const char *name);
int tree_rmdir(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent, const char *name);

/* incoming.c: /incoming (admin mounts only; every function expects d->ing
 * unless it says otherwise) */
int is_incoming_ino(fuse_ino_t ino);
/* Caller holds in_lock. */
struct spool_entry *spool_find(struct dcmfs *d, fuse_ino_t ino);
struct spool_entry *spool_by_name(struct dcmfs *d, fuse_ino_t parent, const char *name);
int spool_stat(struct dcmfs *d, fuse_ino_t ino, struct stat *st);
/* Drop the folders ingest emptied (idle for a moment: a copy may still
 * be making its next file there).  Caller holds in_lock. */
void spool_reap_emptied(struct dcmfs *d);
/* At mount: drop files of dead daemons, show STORE/spool/.rejected. */
void spool_clean_stale(struct dcmfs *d);
void spool_load_rejected(struct dcmfs *d);
void spool_free_all(struct dcmfs *d);
/* The parts of open/release/unlink/rmdir that concern /incoming. */
void incoming_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void incoming_release(struct dcmfs *d, struct open_file *f);
int spool_remove(struct dcmfs *d, fuse_ino_t parent, const char *name, int dir);
/* Handlers of requests that only /incoming accepts (refused elsewhere). */
void incoming_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		    off_t off, struct fuse_file_info *fi);
void incoming_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void incoming_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void incoming_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi);
void incoming_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void incoming_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		      struct fuse_file_info *fi);
void incoming_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname, unsigned int flags);
void incoming_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			off_t length, struct fuse_file_info *fi);

/* icache.c: read-only mounts.  icache_get returns the open instance of ino
 * with a reference (give it back with icache_put), or NULL with *err set
 * (EIO for damaged data); *uncached says every slot was busy and the file
 * is the caller's alone. */
struct inst_file *icache_get(struct dcmfs *d, fuse_ino_t ino, int *uncached, int *err);
void icache_put(struct dcmfs *d, struct inst_file *f, int uncached);
void icache_free(struct dcmfs *d);

/* share_view.c (every function takes shares_lock itself) */
/* Before daemonizing: can share name be mounted?  0, or -ENOENT (no such
 * share), -EINVAL (damaged definition), -ETIME (expired), with a one-line
 * message in err. */
int share_mount_check(const char *store_dir, const char *name, char *err, size_t errlen);
/* After daemonizing: load the share of a share mount (d->o.share) or every
 * share (admin mount) and their members.  0, or -errno (logged). */
int shares_start(struct dcmfs *d, struct catalog *cat);
void shares_free(struct dcmfs *d);
/* Stats, lookups and listings of share inodes (is_share_ino) and of
 * INO_SHARES; as node_getattr, tree_lookup and list_dir. */
int share_getattr(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino,
		  struct stat *st, double *timeout);
int share_lookup(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		 const char *name, struct stat *st, double *timeout);
int share_list(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino, struct open_file *f);
/* A share mount: is stored instance id a file of its share now?  1 or 0. */
int share_mount_has_instance(struct dcmfs *d, struct catalog *cat, int64_t id);
/* 1 when ino is a de-identified file (read with share_deid_read). */
int share_is_deid_file(fuse_ino_t ino);
/* Read bytes [off, off + n) of de-identified file ino into buf: the count
 * (short at the end), or -ENOENT, -EIO, -ENOMEM. */
int64_t share_deid_read(struct dcmfs *d, struct catalog *cat, struct codec_ctx *ctx,
			fuse_ino_t ino, uint64_t off, void *buf, size_t n);
/* A series of a plain share whose listing the kernel now knows (prefetch):
 * its series id, or 0. */
int64_t share_plain_series(struct dcmfs *d, fuse_ino_t ino);
/* For notify.c: every poll, re-read the definitions (new, removed,
 * changed and expired shares); per change of the feed, update members and
 * forget what the kernel keeps of the shares' folders; after a fresh
 * start, rebuild every share's members and forget everything. */
void shares_poll(struct dcmfs *d, struct catalog *cat);
void shares_change(struct dcmfs *d, struct catalog *cat, const struct cat_change *ch);
void shares_fresh(struct dcmfs *d, struct catalog *cat);

/* views.c: the folders of is_views_ino (none on share mounts: -ENOENT);
 * as node_getattr, tree_lookup and list_dir. */
int views_getattr(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino,
		  struct stat *st, double *timeout);
int views_lookup(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		 const char *name, struct stat *st, double *timeout);
int views_list(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino, struct open_file *f);
/* The folder holding view folder ino (".."): 0 or -ENOENT. */
int views_parent(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino, fuse_ino_t *out);
/* For notify.c: drop the view folders a change of the feed touches. */
void views_forget(struct dcmfs *d, const struct cat_change *ch);
/* How many folders show each stored file of /patients (nlink): 3 with the
 * views, 1 on share mounts. */
static inline nlink_t file_links(const struct dcmfs *d) { return d->self ? 1 : 3; }

/* ino32.c: -o ino32.  Every stat sent to the kernel goes through
 * stat_for_kernel (entries, attributes, listings; the node id stays the
 * full number).  ino32_check, before mounting: 0, or -EOVERFLOW (the
 * store's ids do not fit) or -errno, with a one-line message in err. */
void stat_for_kernel(const struct dcmfs *d, struct stat *st);
int ino32_check(const char *store_dir, char *err, size_t errlen);

/* notify.c: the thread that follows the catalogue's changes.  notify_start
 * returns 0 or an errno (then folders do not refresh); notify_stop joins it. */
int notify_start(struct dcmfs *d);
void notify_stop(struct dcmfs *d);

#endif
