/*
 * catalog.h - the catalogue: the index over the packs and blob files.
 *
 * patients -> studies -> series -> instances, the segments of each
 * instance, where every blob is, the packs, and an import log.  The
 * catalogue is a cache: reindex rebuilds it from the packs and blob files.
 * Row ids are never reused (ids are reserved in their own committed
 * transaction before use), because they become inode numbers.
 *
 * This is the interface; catalog.c sends each call to the implementation
 * the store uses (catalog_impl.h).  SQLite is the one there is today
 * (catalog_sqlite.c: STORE/index.db), and the texts below still speak of
 * it where they name SQL, PRAGMAs and index.db.  A call an implementation
 * cannot do returns -ENOTSUP.
 *
 * One struct catalog is one connection: use one per thread.
 *
 * Conventions, unless a function says otherwise:
 *  - int functions return 0 or a negative errno: -ENOENT when the row
 *    asked for does not exist, -EBUSY when the database stays locked,
 *    -ENOSPC when the disk is full, -EEXIST when a row would break a
 *    uniqueness rule, -EROFS on a read-only connection, -ENOMEM, -ENOTSUP
 *    for a call the implementation cannot do, and -EIO for any other
 *    failure of the database (catalog_errmsg says more).
 *  - Strings and buffers passed in stay the caller's; whatever is filled
 *    in (structs, names) is copied into the caller's memory.  Arrays the
 *    catalogue allocates say so and are the caller's to free.
 *  - Walks (the *_cb functions) read their rows first or step one
 *    statement; a pointer passed to a callback is valid during the call
 *    only.  A callback returning nonzero stops the walk, and that value is
 *    returned.
 */
#ifndef DCMFS_CATALOG_H
#define DCMFS_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "blobstore.h"
#include "record.h"
#include "escape.h"

/* Schema 3 keeps an instance's file names only when its SOP UID does not
 * give them plainly (FORMAT.md).  A store of schema 2 opens read-only as
 * it is, and is made 3 at its first writable open; older ones need
 * reindex. */
#define CATALOG_SCHEMA_VERSION 3
#define CATALOG_SCHEMA_READABLE 2

struct catalog;

enum cat_kind {
	CAT_PATIENT = 1,
	CAT_STUDY = 2,
	CAT_SERIES = 3,
	CAT_INSTANCE = 4,
};

/* A folder or file of the tree. */
struct cat_node {
	int kind;                   /* enum cat_kind */
	int64_t id;
	int64_t parent;             /* patient of a study, study of a series, ... */
	char name[256];             /* escaped path component (instances end in .dcm) */
	int64_t mtime_ns;           /* instance: when stored; folder: newest below */
	union {
		uint64_t size;      /* CAT_INSTANCE: the file's size in bytes */
		uint64_t nchildren; /* a folder: the entries it shows */
	};
};

/* Open the store's catalogue into *out (the caller closes it with
 * catalog_close): today always SQLite's STORE/index.db.
 * create: make the schema when the file is new.  Another schema version is
 * refused, never converted: a newer one needs a newer dcmfs, an older one
 * a `dcmfsctl reindex STORE` (which builds a new index from the packs).
 * Returns 0; -ENOMEM, -ENOENT or -EACCES when the file does not open, or
 * -EINVAL when it is not a dcmfs index of this schema; each with a
 * one-line reason in err. */
int catalog_open(const char *store_dir, int create, int readonly,
		 struct catalog **out, char *err, size_t errlen);
/* Close the connection and free c.  Accepts NULL. */
void catalog_close(struct catalog *c);
/* The database's message for the last failure on c; owned by c, valid until its
 * next call. */
const char *catalog_errmsg(struct catalog *c);

/* Changes whenever another connection commits (PRAGMA data_version);
 * -1 when it cannot be read. */
int64_t catalog_data_version(struct catalog *c);

/* ---- transactions (writer) ---- */
/* Make c a bulk writer's connection (the import's): a page cache big
 * enough for the inner pages of the randomly keyed indexes (SOP UIDs, blob
 * hashes) of a store of millions, and checkpoints less often, so that a
 * page written by many batches goes to index.db once.  Any other connection
 * keeps the small default.  0 or -errno. */
int catalog_bulk_writer(struct catalog *c);
/* A new index.db in dir (which must have none) for one bulk build by
 * reindex: no journal and no syncs (a crash leaves a file to throw away:
 * the caller fsyncs it before putting it in place), a 64 MiB page cache,
 * no per-row upkeep of folder counts, mtimes and current versions
 * (catalog_prune settles them), and the indexes only verify, gc and rm
 * use left to catalog_build_indexes. */
int catalog_build_open(const char *dir, struct catalog **out, char *err, size_t errlen);
/* reindex's new catalogue for the store at store_dir, of the store's kind:
 * with an index.db, catalog_build_open(dir); with a catalogue in
 * PostgreSQL (store.conf), a connection whose one transaction builds a new
 * catalogue beside the store's and whose catalog_commit puts it in the old
 * one's place, atomically (catalog_pg.h: catalog_pg_build_open).  Returns
 * what those return; a store.conf that does not read is refused (-errno,
 * err). */
int catalog_rebuild_open(const char *store_dir, const char *dir, struct catalog **out, char *err,
			 size_t errlen);
/* Make those indexes and the kept totals, once the rows are in (before
 * catalog_prune). */
int catalog_build_indexes(struct catalog *c);
/* BEGIN IMMEDIATE: takes the database's write lock, waiting for other
 * writers up to SQLite's busy timeout (then -EBUSY). */
int catalog_begin(struct catalog *c);
/* 0 when the transaction is stored.  -EINPROGRESS when the catalogue's
 * server went away while it committed and could not be asked afterwards
 * whether it did: the rows may be stored, so the caller keeps every byte
 * they could name (orphans are gc's; a missing byte is a lost image). */
int catalog_commit(struct catalog *c);
/* Undo the open transaction, if any.  Cannot fail usefully. */
void catalog_rollback(struct catalog *c);
/* Reserve n ids of a kind ("patient", "study", "series", "instance"):
 * ids *first .. *first + n - 1 are the caller's.  Outside a transaction
 * the reservation commits on its own, so ids handed out are never reused
 * even if the caller crashes; inside one it commits with it. */
int catalog_reserve_ids(struct catalog *c, const char *kind, int64_t n,
			int64_t *first);

/* ---- blobs ---- */
/* The blobs with this hash, ordinals ascending, into out[0..max).
 * Returns how many were written (at most max; more may exist) or -errno. */
int catalog_blob_candidates(struct catalog *c, const uint8_t hash[HASH_LEN],
			    struct blob_ref *out, int max);
/* The blob row with this id, or with this (hash, ordinal): 0, -ENOENT. */
int catalog_blob_by_id(struct catalog *c, int64_t id, struct blob_ref *out);
int catalog_blob_by_key(struct catalog *c, const uint8_t hash[HASH_LEN],
			uint32_t ordinal, struct blob_ref *out);
/* Insert a blob row; ref->id 0 lets SQLite choose it.  Sets ref->id.
 * -EEXIST when (hash, ordinal) or the id is taken. */
int catalog_insert_blob(struct catalog *c, struct blob_ref *ref);
/* The id of the pack row named name, inserted when there is none. */
int catalog_pack_id(struct catalog *c, const char *name, int64_t *id);
/* The id of the pack row named name: 0, or -ENOENT when there is none. */
int catalog_pack_find(struct catalog *c, const char *name, int64_t *id);
/* The file name of pack id into name (len bytes, cut to fit): 0, -ENOENT. */
int catalog_pack_name(struct catalog *c, int64_t id, char *name, size_t len);

/* ---- instances ---- */
struct cat_version {
	int64_t instance_id;
	uint32_t version;
	uint64_t size;
	uint8_t file_hash[HASH_LEN];
	int64_t series_id;
	int current;                /* the version shown in its series folder */
	int unclean;                /* its dataset does not parse to the end */
};
/* Every stored version of a SOPInstanceUID, version ascending, in a
 * malloc'd array (*out, NULL when none; the caller frees it): no limit on
 * how many versions an instance has.  Returns the count or -errno. */
int catalog_versions(struct catalog *c, const char *sop_uid,
		     struct cat_version **out);
/* Segment blobs of an instance, in file order, into segs[0..max).
 * Returns how many were written (0 for an unknown instance) or -errno. */
int catalog_segments(struct catalog *c, int64_t instance_id,
		     struct blob_ref *segs, int max);

/* Ids reserved by catalog_reserve_ids: next .. end - 1 are free to use. */
struct id_pool {
	int64_t next, end;
};
/* Find or create the patient, study and series rows for r->info, and set
 * r->patient_id, r->study_id and r->series_id to them.  A new row takes
 * the id r already holds when it is not 0 (reindex replays the record's
 * ids), else the next of its pool (advanced); on failure r's ids are as
 * they were.  Returns 0, -ERANGE when a pool is used up, or -errno. */
int catalog_place(struct catalog *c, struct instance_record *r,
		  struct id_pool *patients, struct id_pool *studies,
		  struct id_pool *series);
/* Where an instance's record is: its payload in a pack.  The index keeps
 * no copy of the record; verify reads it from there. */
struct record_loc {
	int64_t pack;
	uint64_t offset;            /* of the payload's first byte */
	uint32_t len;
};
/* Insert the instance row of a placed record r (catalog_place), its
 * segment rows (blob ids seg_blob[0..r->nseg)) and where its record is;
 * update its folders' mtimes and which version of its SOPInstanceUID is
 * current.  -EEXIST when the instance id is taken. */
int catalog_insert_instance(struct catalog *c, const struct instance_record *r,
			    const int64_t *seg_blob, const struct record_loc *loc);
/* Delete one instance's row and segment rows (its blobs stay, for gc).
 * 0, or -ENOENT when it has no row. */
int catalog_delete_instance(struct catalog *c, int64_t instance_id);
/* Delete folders left without children; settle folder counts, mtimes and
 * current versions. */
int catalog_prune(struct catalog *c);

/* ---- the tree, for the filesystem and `ls` ---- */
typedef int (*cat_node_cb)(void *arg, const struct cat_node *n);
/* Children of a node, by id (creation order), to cb: kind is the parent's kind (0 =
 * the list of patients; parent_id is then ignored).  -ENOTDIR when
 * parent_kind is CAT_INSTANCE or not a kind. */
int catalog_children(struct catalog *c, int parent_kind, int64_t parent_id,
		     cat_node_cb cb, void *arg);
/* Child named name under a parent: 0, -ENOENT, or -ENOTDIR as above. */
int catalog_lookup(struct catalog *c, int parent_kind, int64_t parent_id,
		   const char *name, struct cat_node *out);
/* The node of one row: 0, or -ENOENT (also for a kind that is not one). */
int catalog_node(struct catalog *c, int kind, int64_t id, struct cat_node *out);
/* Whether instance id is the version its series folder shows (current):
 * 1 or 0, with *series (may be NULL) set to its series; -ENOENT; -EIO. */
int catalog_instance_shown(struct catalog *c, int64_t id, int64_t *series);
/* The nodes of rows ids[0..n) of one kind, in that order, to cb (rows that
 * do not exist are skipped), read in one read transaction (unless the
 * caller has one open): a share lists its members with one lock instead
 * of one per row.  Returns 0, cb's non-zero value, -ENOENT for a kind that
 * is not one, or -errno. */
int catalog_nodes(struct catalog *c, int kind, const int64_t *ids, size_t n,
		  cat_node_cb cb, void *arg);
/* The row of one instance: what its record must agree with, and where
 * the record is. */
struct cat_instance {
	int64_t id, series_id, study_id, patient_id;
	char sop_uid[DCM_ID_MAX];      /* identifying values are kept whole (dicom.h) */
	uint32_t version;
	uint64_t size;
	uint8_t file_hash[HASH_LEN];
	struct record_loc rec;
};
/* 0, or -ENOENT when the instance has no row. */
int catalog_instance_row(struct catalog *c, int64_t instance_id,
			 struct cat_instance *out);
/* Who an instance is, as its row and its folders' rows say (fields a
 * missing folder row would fill stay empty), or as the naming rules give
 * for a record (catalog_identity_want; current, ncurrent and pick are then
 * not set, and a %noid patient folder is the stem without its -N).
 * verify holds the two against each other. */
struct cat_identity {
	char patient_key[2 * DCM_ID_MAX + 16];   /* patients.patient_id */
	char issuer[DCM_ID_MAX];
	char patient_dir[NAME_COMPONENT_MAX + 1];
	char study_uid[DCM_ID_MAX], study_dir[NAME_COMPONENT_MAX + 1];
	char series_uid[DCM_ID_MAX], series_dir[NAME_COMPONENT_MAX + 1];
	char sop_uid[DCM_ID_MAX];
	uint32_t version;
	char fname[NAME_COMPONENT_MAX + 1], vname[NAME_COMPONENT_MAX + 1];
	char unclean[160];
	int current;                /* this row's flag */
	int64_t ncurrent;           /* versions of its SOP UID marked current */
	int64_t pick;               /* the version the rules make current */
	int noid;                   /* want: patient folder is a %noid stem */
};
/* 0, or -ENOENT when the instance has no row. */
int catalog_identity(struct catalog *c, int64_t instance_id, struct cat_identity *out);
/* Needs no connection.  0, or -ENOMEM. */
int catalog_identity_want(const struct instance_record *r, struct cat_identity *out);
/* The identifying value of a folder row (de-identified names): for a
 * patient its key (patients.patient_id, as cat_identity.patient_key) and
 * issuer; for a study or series its UID (issuer set to "").  0, -ENOENT
 * (no such row, or another kind); values are cut to their buffers. */
int catalog_folder_key(struct catalog *c, int kind, int64_t id, char *key, size_t keylen,
		       char *issuer, size_t issuerlen);
/* PRAGMA integrity_check (unlike quick_check, it finds index entries that
 * disagree with their rows): 0 when "ok", else -EBADMSG (or -errno) and
 * the first line SQLite gives in msg. */
int catalog_integrity_check(struct catalog *c, char *msg, size_t len);
/* Every pack the catalogue knows, by id, to cb (verify and reindex: packs
 * now missing). */
typedef int (*cat_pack_cb)(void *arg, int64_t id, const char *name);
int catalog_each_pack(struct catalog *c, cat_pack_cb cb, void *arg);
/* Instances hit by damage in bytes [start, end) of a pack: record = 1 when
 * their record's entry overlaps it, 0 when one of their segment blobs'. */
typedef int (*cat_affected_cb)(void *arg, int64_t instance_id, const char *sop_uid,
			       int record);
int catalog_affected(struct catalog *c, int64_t pack, uint64_t start, uint64_t end,
		     cat_affected_cb cb, void *arg);
/* Instances that have blob_id as a segment, to cb (record is 0). */
int catalog_blob_users(struct catalog *c, int64_t blob_id, cat_affected_cb cb, void *arg);
/* Instances below a node, id ascending, to cb (every instance when kind
 * is 0; for CAT_INSTANCE, every version of its SOPInstanceUID).  The ids
 * are read first, so cb may change rows.  -EINVAL for another kind. */
typedef int (*cat_id_cb)(void *arg, int64_t instance_id);
int catalog_instances_under(struct catalog *c, int kind, int64_t id,
			    cat_id_cb cb, void *arg);
/* The instances after instance_id in its series, in the folder's listing
 * order (id: the order they were stored, which copy tools that walk the
 * listing read in), into ids[] and their sizes into sizes[].  Returns how many were
 * written, at most max (0 after the last or for an unknown instance), or
 * -errno. */
int catalog_next_in_series(struct catalog *c, int64_t instance_id, int64_t *ids,
			   uint64_t *sizes, int max);
/* Resolve a PatientID (or a patient folder name) / StudyUID / SeriesUID /
 * SOPInstanceUID, by kind, to row ids, all of them, in a malloc'd array
 * (*ids, NULL when there are none; the caller frees it).  Returns the
 * count, -EINVAL for another kind, or -errno. */
int catalog_find_ids(struct catalog *c, int kind, const char *uid,
		     int64_t **ids);

/* ---- maintenance ---- */
/* Every blob row, by pack and offset, with how many segments use it. */
typedef int (*cat_blob_cb)(void *arg, const struct blob_ref *b, int64_t refs);
int catalog_all_blobs(struct catalog *c, cat_blob_cb cb, void *arg);
/* Delete a blob row that no segment uses: 0, or -EBUSY when one does (or
 * it is gone). */
int catalog_delete_blob(struct catalog *c, int64_t blob_id);
/* Add a row to the import log (dcmfsctl stats). */
int catalog_log_import(struct catalog *c, int64_t started_ns, int64_t ended_ns,
		       int64_t n_new, int64_t n_dup, int64_t n_version,
		       int64_t n_rejected, uint64_t bytes_in, uint64_t bytes_stored);

/* Totals for stats.  modality NULL = all. */
struct cat_totals {
	int64_t patients, studies, series, instances, versions;
	uint64_t logical_bytes;     /* sum of instance sizes */
	uint64_t unique_raw_bytes;  /* sum of raw sizes of referenced blobs */
	uint64_t stored_bytes;      /* sum of encoded sizes of all blobs */
	uint64_t pixel_raw_bytes, pixel_stored_bytes;
};
/* The whole store's totals.  Always 0: a count that cannot be read is 0.
 * Read from the kept totals (a few thousand rows at any size) once a
 * writable open has made them; counted from the rows before that. */
int catalog_totals(struct catalog *c, struct cat_totals *t);
/* The totals of each modality, to cb. */
typedef int (*cat_modality_cb)(void *arg, const char *modality,
			       const struct cat_totals *t);
int catalog_totals_by_modality(struct catalog *c, cat_modality_cb cb, void *arg);
/* Check the kept totals catalog_totals reads against a count of the rows:
 * 0 when they agree (or the store has none yet), 1 when they differ (msg
 * says which), -errno when they cannot be counted (msg says why). */
int catalog_tallies_check(struct catalog *c, char *msg, size_t len);

/* ---- identity: which version is shown, and the other views ----
 *
 * Every version of a SOPInstanceUID is kept, but a series folder under
 * /patients shows one file per SOPInstanceUID, <SOP>.dcm: its current
 * version, the newest version whose dataset parses to its end (dicom.h,
 * unclean), or the newest version when none does.  Folders in which no
 * instance is current are left out of /patients.  Two more views show the
 * same patient/study/series folders with other files in them, named
 * <SOP>.v<N>.dcm:
 *   CAT_VIEW_VERSIONS    every version
 *   CAT_VIEW_QUARANTINE  the versions that are unclean (and folders that
 *                        hold some)
 * Inside a view, kinds and parents are as in catalog_children; view
 * CAT_VIEW_PATIENTS is /patients itself (these functions are then
 * catalog_children, catalog_lookup and catalog_node).  Another view gives
 * -EIO.  Removing an instance (rm, unlink) removes every version of its
 * SOPInstanceUID. */
enum cat_view { CAT_VIEW_PATIENTS = 0, CAT_VIEW_VERSIONS = 1, CAT_VIEW_QUARANTINE = 2 };
int catalog_view_children(struct catalog *c, int view, int parent_kind, int64_t parent_id,
			  cat_node_cb cb, void *arg);
int catalog_view_lookup(struct catalog *c, int view, int parent_kind, int64_t parent_id,
			const char *name, struct cat_node *out);
int catalog_view_node(struct catalog *c, int view, int kind, int64_t id, struct cat_node *out);
/* Every unclean version: its path below /quarantine, whether it is the
 * current version anyway (nothing clean exists), and why it is unclean. */
typedef int (*cat_quarantine_cb)(void *arg, int64_t instance_id, const char *path,
				 int current, const char *reason);
int catalog_quarantined(struct catalog *c, cat_quarantine_cb cb, void *arg);

/* ---- reindex scratch: what a one-pass rebuild must remember ----
 * Temporary tables of this connection, kept on disk (not in memory) so a
 * rebuild of any size runs in bounded memory; gone when it closes.
 * rx_tomb: ids of removed instances (a record met later is not inserted).
 * rx_defer: records met before a blob they name (in a later pack, or
 * damaged), tried again at the end in the order they were met. */
/* Create the tables (again: a no-op when they exist). */
int catalog_rx_begin(struct catalog *c);
/* Remember a tombstone's instance id (again: a no-op). */
int catalog_rx_tomb_add(struct catalog *c, int64_t instance_id);
int catalog_rx_tomb_has(struct catalog *c, int64_t instance_id);   /* 1, 0, -errno */
/* Delete a removed instance's rows and the folders left empty by it;
 * 0, -ENOENT when it has no rows, or -errno. */
int catalog_rx_tomb_apply(struct catalog *c, int64_t instance_id);
/* Keep a record for the end: a copy of its payload (loc->len bytes) and
 * where it is. */
int catalog_rx_defer(struct catalog *c, const struct record_loc *loc, const void *payload);
/* The deferred record after *cursor (start at 0): 1 and a malloc'd copy of
 * its payload in *payload (loc->len bytes; the caller frees it), 0 at the
 * end, or -errno. */
int catalog_rx_deferred_next(struct catalog *c, int64_t *cursor, struct record_loc *loc,
			     void **payload);

/* ---- the change feed: what changed in the tree, in commit order ----
 *
 * Every writer records, in the transaction that makes the change, which
 * folders and files of /patients changed: SQLite triggers on the folder
 * and instance tables append rows to the `changes` table, so ingest, rm,
 * reindex and the mount's own unlink need no code of their own.  A
 * reader (the mount) keeps the seq of the last change it has seen and
 * asks for what came after it.
 *
 * On disk: changes(seq INTEGER PRIMARY KEY, kind, id,
 * parent, name, mtime, state), one row per folder row (patients, studies,
 * series) whose name, mtime or child count changed, and per instance that
 * stopped being the current file of its series (deleted, or replaced by a
 * newer version).  kind, id, parent: as in struct cat_node; name: its name
 * in its parent folder (the name it had, when state is not SHOWN); mtime:
 * its mtime then; state: enum cat_change_state.  The feed is bounded: a
 * trigger keeps the newest CATALOG_CHANGES_KEPT rows or so, and a reader
 * that fell further behind is told so (-ESTALE) and starts afresh.  The
 * table and its triggers are made (IF NOT EXISTS) whenever an existing
 * index is opened writable, so older stores gain them at their first
 * writable open, and a new index.db (init, reindex) at its second: a
 * reindex does not fill a feed no mount can use (none runs across it).
 * A read-only open of a store without them gets -ENOSYS from the calls
 * below.  seq values are never reused within one index.db; a reindexed
 * index.db starts a new feed at seq 1, a reindexed PostgreSQL catalogue
 * goes on at its old newest seq + 2 (the gap tells a reader holding an
 * old seq -ESTALE). */
#define CATALOG_CHANGES_KEPT 65536
enum cat_change_state {
	CAT_CHANGE_DELETED = -1,    /* the row is gone (folders: the catalogue dropped it) */
	CAT_CHANGE_HIDDEN = 0,      /* no longer shown under this name */
	CAT_CHANGE_SHOWN = 1,       /* shown (new, or its mtime or child count changed) */
};
struct cat_change {
	int64_t seq;
	int kind;                   /* enum cat_kind */
	int64_t id;
	int64_t parent;             /* 0 for a patient */
	char name[256];
	int64_t mtime_ns;
	int state;                  /* enum cat_change_state */
};
typedef int (*cat_change_cb)(void *arg, const struct cat_change *ch);
/* The seq of the newest change (0 when none yet), or -ENOSYS when the
 * store has no feed, or -errno. */
int64_t catalog_change_seq(struct catalog *c);
/* Hand cb every change after seq `after`, oldest first, in one snapshot
 * of the catalogue (inside the caller's transaction, if one is open), and
 * set *last to the seq of the last one (after, when none).  cb may read
 * the catalogue but not write it; a non-zero return stops the walk and is
 * returned.  Returns 0; -ESTALE when changes after `after` were already
 * dropped, or `after` is newer than the feed (another index.db): the
 * caller must treat everything as changed, from catalog_change_seq on;
 * -ENOSYS when the store has no feed; or -errno. */
int catalog_changes_since(struct catalog *c, int64_t after, int64_t *last,
			  cat_change_cb cb, void *arg);
/* How many patient folders /patients shows, and the newest mtime among
 * them (0 when none): 0 or -errno. */
int catalog_shown_patients(struct catalog *c, int64_t *count, int64_t *newest_ns);

/* ---- the readable views (/by-date, /by-accession in the mount) ----
 * Studies shown in /patients (a study with a current instance), grouped by
 * StudyDate or AccessionNumber.  A StudyDate is a date when it is 8 digits;
 * every other value (none, "2020", "2020.01.01") groups as "".  An empty or
 * missing AccessionNumber groups as "". */
enum cat_by { CAT_BY_DATE = 1, CAT_BY_ACCESSION = 2 };
struct cat_view_study {
	int64_t id, mtime_ns;
	uint64_t nchildren;                     /* series shown */
	char patient_dir[NAME_COMPONENT_MAX + 1];   /* its patient's folder name */
	char patient_name[256], description[256];   /* cut to fit */
	char date[16], accession[256];              /* as stored, cut to fit */
};
/* The groups of shown studies whose value starts with prefix, by value
 * ascending: for CAT_BY_DATE the first len characters of the date (4, 6
 * or 8; undated studies give "" when prefix is ""), for CAT_BY_ACCESSION
 * the whole value (len ignored; a non-empty prefix is the whole value
 * asked for).  Each group to cb with its newest study mtime and its
 * smallest study id; cb may not write the catalogue.  0, cb's value, or
 * -errno.  With a prefix the query is indexed; without, it reads every
 * study row. */
typedef int (*cat_group_cb)(void *arg, const char *value, int64_t mtime_ns, int64_t first_id);
int catalog_study_groups(struct catalog *c, int by, const char *prefix, int len,
			 cat_group_cb cb, void *arg);
/* The shown studies of one group (value: 8 digits or "" for by date), id
 * ascending, to cb.  0, cb's value, or -errno. */
typedef int (*cat_view_study_cb)(void *arg, const struct cat_view_study *s);
int catalog_group_studies(struct catalog *c, int by, const char *value,
			  cat_view_study_cb cb, void *arg);
/* One shown study: 0, -ENOENT (no such row, or not shown), or -errno. */
int catalog_view_study(struct catalog *c, int64_t id, struct cat_view_study *out);
/* The largest row id a patient, study, series or instance has or can be
 * given next (reserved ids included): what inode numbers must hold (the
 * mount's -o ino32).  0 or -errno. */
int catalog_max_row_id(struct catalog *c, int64_t *out);

/* ---- shares (share.h): the rules of a share, in SQL ----
 * Values of one kind are ORed, kinds are ANDed; an empty list is no rule
 * of that kind.  from/to bound the study's StudyDate (8 characters,
 * compared as text, both inclusive; "" or NULL = open); a study without
 * an 8-character StudyDate never matches a date bound.  all = 1 matches
 * every series (the lists are then ignored).  Lists are the caller's. */
struct cat_share_rules {
	int all;
	char *const *patients;   size_t npatients;     /* patients.patient_id or dirname */
	char *const *studies;    size_t nstudies;      /* StudyInstanceUID */
	char *const *series;     size_t nseries;       /* SeriesInstanceUID */
	char *const *accessions; size_t naccessions;   /* the study's AccessionNumber */
	char *const *modalities; size_t nmodalities;   /* the series' Modality */
	const char *from, *to;
};
/* The series matching the rules (only series_id when it is not 0), each
 * with its study and patient, as nodes of /patients (catalog_node's), to
 * cb in no particular order.  One query, driven by the indexes on the rule
 * columns (catalog_share_indexes).  Returns 0, cb's non-zero value, -E2BIG
 * when the rules hold more values than one statement can bind (32000), or
 * -errno. */
typedef int (*cat_share_cb)(void *arg, const struct cat_node *patient,
			    const struct cat_node *study, const struct cat_node *series);
int catalog_share_series(struct catalog *c, const struct cat_share_rules *r,
			 int64_t series_id, cat_share_cb cb, void *arg);
/* What the rules cover in /patients now: the shown series that match,
 * their studies and patients, their current instances and the sum of
 * those instances' sizes.  0 or -errno. */
struct cat_share_totals {
	int64_t patients, studies, series, instances;
	uint64_t bytes;
};
int catalog_share_totals(struct catalog *c, const struct cat_share_rules *r,
			 struct cat_share_totals *t);
/* Make the indexes share queries use (IF NOT EXISTS: a no-op when they are
 * there): studies(accession), studies(study_date), series(modality);
 * patients(patient_id) is the prefix of its UNIQUE index.  New indexes
 * (init, reindex) have them from the start.  Needs a writable connection;
 * 0 or -errno. */
int catalog_share_indexes(struct catalog *c);

/* Raw SQL for tools and tests that need a one-off query; NULL-safe. */
int catalog_exec(struct catalog *c, const char *sql);


/* ---- finding studies (dcmfsctl find) ----
 * Every field of a filter is optional (NULL = no condition); the fields
 * given are ANDed.  Patterns are DICOM's: '*' any run, '?' any one
 * character, else the whole value must match.  Dates are YYYYMMDD text
 * bounds, both inclusive, compared as text (a value not 8 characters long
 * never matches a bound).  Only what /patients shows is found: studies
 * with at least one series shown. */
struct cat_study_filter {
	const char *name;              /* PatientName pattern, ASCII letters any case */
	const char *patient_id;        /* PatientID pattern (or a patient folder name), exact case */
	const char *birth_from, *birth_to;   /* PatientBirthDate bounds */
	const char *date_from, *date_to;     /* StudyDate bounds */
	const char *modality;          /* one of the study's series has this Modality, as given or in upper case */
	const char *accession;         /* AccessionNumber, exactly */
	const char *description;       /* StudyDescription contains this (ASCII letters
					* any case); a pattern when it holds '*' or '?' */
};
/* One study found, with its patient.  Text is valid during the callback
 * only; a value the store lacks is "". */
struct cat_study_info {
	int64_t patient_row, study_row;
	const char *patient_id;        /* "" for a patient without a PatientID */
	const char *issuer, *patient_name, *birth_date, *sex;
	const char *study_uid, *study_date, *study_time, *description, *accession;
	const char *modalities;        /* of its shown series, distinct, sorted, each ended
					* by a NUL, the list by an empty one ("CT\0MR\0\0") */
	const char *patient_dir, *study_dir;   /* folder names in /patients */
	int64_t nseries, ninstances;   /* shown: series, and current instances */
};
typedef int (*cat_study_cb)(void *arg, const struct cat_study_info *s);
/* The studies matching f, ordered by patient folder, StudyDate and study
 * folder, to cb.  Returns 0, cb's non-zero value, or -errno.  Driven by
 * the indexes of catalog_find_indexes when they are there (a read-only
 * open of an older store goes without them: slower, same answer). */
int catalog_find_studies(struct catalog *c, const struct cat_study_filter *f,
			 cat_study_cb cb, void *arg);
/* The details of one study row, as catalog_find_studies gives them, to cb
 * (ls): 0, cb's non-zero value, -ENOENT, or -errno. */
int catalog_study_info(struct catalog *c, int64_t study_id, cat_study_cb cb, void *arg);
/* A patient's row: its values, valid during the callback only. */
struct cat_patient_info {
	int64_t row;
	const char *patient_id, *issuer, *name, *birth_date, *sex, *dir;
	int64_t nstudies;
};
/* A series row's values, valid during the callback only. */
struct cat_series_info {
	int64_t row;
	const char *series_uid, *modality, *description, *dir;
	int64_t number;                /* SeriesNumber, -1 when absent */
	int64_t ninstances;
};
typedef int (*cat_patient_cb)(void *arg, const struct cat_patient_info *p);
typedef int (*cat_series_cb)(void *arg, const struct cat_series_info *s);
/* The values of one patient / series row to cb: 0, -ENOENT, or -errno. */
int catalog_patient_info(struct catalog *c, int64_t patient_id, cat_patient_cb cb, void *arg);
int catalog_series_info(struct catalog *c, int64_t series_id, cat_series_cb cb, void *arg);
/* Make the indexes find uses (IF NOT EXISTS): patients(upper(name)) and
 * patients(birth_date); studies(accession), studies(study_date) and
 * series(modality) are the share indexes'.  catalog_open makes these and
 * the share indexes at every writable open of a store that lacks one
 * (older stores gain them at their first), and new indexes have them from
 * the start.  0 or -errno. */
int catalog_find_indexes(struct catalog *c);

/* The newest import_log rows, newest first, at most max, to cb (status). */
struct cat_import {
	int64_t started_ns, ended_ns;
	int64_t n_new, n_duplicate, n_version, n_rejected;
	uint64_t bytes_in, bytes_stored;
};
typedef int (*cat_import_cb)(void *arg, const struct cat_import *im);
int catalog_recent_imports(struct catalog *c, int max, cat_import_cb cb, void *arg);

/* ---- verify (maint.c): each blob checked once ----
 * A blob is checked with the first instance (the smallest id) that names
 * it, decoded once for both; a blob no instance names, on its own. */
/* The segments of an instance, as catalog_segments, and for each the
 * smallest id of an instance row that names its blob (its owner), into
 * owners[]: how many segments, or -errno.  Segment rows of an instance
 * that has no row (a damaged index) own nothing: their blob is checked
 * with the next instance, or as no instance's. */
int catalog_segments_owners(struct catalog *c, int64_t instance_id, struct blob_ref *segs,
			    int64_t *owners, int max);
/* Every blob no segment row of an existing instance names, in the order of their places (pack,
 * offset; blob files first), to cb (refs 0).  0, cb's non-zero value, or
 * -errno. */
int catalog_blobs_unreferenced(struct catalog *c, cat_blob_cb cb, void *arg);
/* Every instance id in order to cb, as the rows are read (memory flat at
 * any size, unlike catalog_instances_under): cb must not use c, whose
 * statement is open meanwhile.  0, cb's non-zero value, or -errno. */
int catalog_instance_ids(struct catalog *c, cat_id_cb cb, void *arg);

#endif
