/*
 * store.h - a store: its folder, its locks, and the way to what it holds.
 *
 *   STORE/index.db     the catalogue (SQLite, WAL): a cache over the data
 *   STORE/packs/       append-only pack files: small blobs, instance records
 *   STORE/blobs/ab/cd/ large blobs, one file each, named by XXH3-128
 *   STORE/shares/      share definitions
 *   STORE/spool/       files being written into /incoming
 *
 *   STORE/lock         the store's locks (below)
 *   STORE/store.conf   only in a store whose packs and blob files live
 *                      elsewhere (a RADOS pool): storeconf.h.  Those are
 *                      then reached through datastore.h, attached by
 *                      store_open; packs/ and blobs/ stay empty.
 *
 * struct store is opaque: programs reach the catalogue, the blob reader and
 * the process's tombstone pack through the functions below.  Instances are
 * read with index/instance.h.
 *
 * Locks.  STORE/lock carries three byte-range locks of the open file
 * description (fcntl F_OFD_*): they belong to one open of the file, so
 * threads of a process share them and a process that dies drops them; the
 * file is opened O_CLOEXEC, so programs started from a holder do not keep
 * them.
 *   byte 0, the use lock: every open struct store holds it shared for its
 *     whole life (a mount, import, rm, gc, verify, get, ls, stats); reindex
 *     takes it exclusively without waiting and refuses when the store is in
 *     use, and store_open refuses while a reindex holds it.
 *   byte 1, the ingest lock: an ingest session holds it shared from its
 *     first dedup lookup to its last commit (ingest.c: a whole import; one
 *     file of the mount's /incoming); gc holds it exclusively while it
 *     decides and frees, after waiting for imports to finish.  So gc never
 *     frees a blob that an import in flight has decided to share.
 *   byte 2, the removal lock: a removal holds it shared from its first
 *     tombstone to its commit (or cut back); verify, meeting a tombstone
 *     whose instance still has rows, waits for it exclusively once
 *     (store_removals_settle) before calling that an interrupted removal.
 * A read-only open of a store whose lock file cannot be created (a
 * read-only folder) goes on without locks: it can only read.
 *
 * A store whose store.conf names a PostgreSQL catalogue may be used by
 * several machines, each with its own folder and so its own STORE/lock:
 * every lock above is then also taken, after its byte of STORE/lock, as a
 * session-level advisory lock in that database (netlock.h: key
 * (NETLOCK_CLASS, byte), one connection per open store, dropped when the
 * process dies and its connection closes).  The file orders the processes
 * of one machine, the database those of every machine.  A lost connection
 * loses the database half without telling: holders check it before they
 * rely on it (store_ingest_check, store_set_lost).
 */
#ifndef DCMFS_STORE_H
#define DCMFS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "blobstore.h"
#include "catalog.h"
#include "codec.h"

struct store;

#define STORE_LOCK_FILE "lock"

/* Create an empty store at dir (which may exist and be empty).  0, or
 * -EEXIST (already a store), -ENOTEMPTY, -errno; err says which. */
int store_init(const char *dir, char *err, size_t errlen);
/* As store_init, with the packs and blob files in the RADOS pool of
 * data_url (rados://POOL?conf=PATH[&id=CLIENT]; NULL: in the folder).  It
 * connects, claims the pool for the new store (-EEXIST when another store
 * has it) and writes STORE/store.conf before the catalogue. */
int store_init_data(const char *dir, const char *data_url, char *err, size_t errlen);
/* As store_init_data, with the catalogue in the PostgreSQL database of
 * catalog_url (postgresql://...; NULL: STORE/index.db), named by
 * store.conf.  The database must hold no dcmfs catalogue yet (-EEXIST:
 * another store's); the schema is made in it. */
int store_init_conf(const char *dir, const char *data_url, const char *catalog_url, char *err,
		    size_t errlen);
/* Open a store: takes the use lock shared, opens the catalogue.  0 and
 * *out (the caller's, to store_close), or -ENOENT (not a store; err says
 * what to do), -EAGAIN (a reindex is running), -ENOMEM, -errno; err says
 * which.  Refuses a newer schema. */
int store_open(const char *dir, int readonly, struct store **out,
	       char *err, size_t errlen);
/* Close everything the store opened and drop its locks.  NULL is fine. */
void store_close(struct store *s);

/* The folder given to store_open (owned by the store). */
const char *store_dir(const struct store *s);
/* 1 when opened read-only. */
int store_readonly(const struct store *s);
/* The catalogue connection of the thread that opened the store (owned by
 * the store; other threads take their own with store_catalog). */
struct catalog *store_main_catalog(struct store *s);
/* A new catalogue connection for another thread: 0 and *out (the caller's,
 * to catalog_close), or -errno. */
int store_catalog(struct store *s, struct catalog **out);
/* Called (fn may be NULL) when the store has to wait for another process,
 * with what it waits for: a tool tells its user why. */
void store_set_waiting(struct store *s, void (*fn)(const char *what));
/* For a long-lived open (a mount): fn (NULL: off, the default) asks that
 * each first ingest hold after a pause checks the use lock in the
 * catalogue's database (one round trip) and, when its connection was lost,
 * connects again and retakes it (netlock_renew); fn is told once per loss,
 * with one line.  While it cannot be retaken, holds fail (-EIO).  What
 * happened while it was lost (a reindex on another machine) is not seen. */
void store_set_lost(struct store *s, void (*fn)(const char *what));
/* Make every write so far durable (one syncfs of the store's filesystem;
 * with its data in RADOS, every buffered append written and acknowledged).
 * 0 or -errno. */
int store_sync(struct store *s);
/* 1 when the store's packs and blob files are not in its folder (store.conf
 * names a RADOS pool); what is not built for such a store yet refuses. */
int store_data_remote(const struct store *s);
/* The same for a store not open: 1, 0, or -errno (a store.conf that does
 * not read). */
int store_dir_data_remote(const char *dir);
/* For a store not open (reindex): attach the data store its store.conf
 * names (datastore_attach; datastore_detach(dir) undoes it).  1 when
 * attached, 0 for the embedded store, or -errno with err saying why. */
int store_dir_data_attach(const char *dir, char *err, size_t errlen);

/* ---- locks (above) ---- */
/* The ingest lock, shared, counted per process: the first hold waits for a
 * gc to finish, the last release drops it.  0 or -errno. */
int store_ingest_hold(struct store *s);
void store_ingest_release(struct store *s);
/* Whether the ingest lock a hold took is still held where it can be lost
 * (a catalogue's database: netlock_check): 0 (also for a store without
 * one), or -EIO with err ("lost the store's lock: ...").  An ingest session
 * calls it right before each commit that may make shared blobs referenced:
 * without the lock, gc on another machine may be freeing them.  gc, holding
 * it exclusively (store_ingest_exclusive), calls it before its commit. */
int store_ingest_check(struct store *s, char *err, size_t errlen);
/* The ingest lock, exclusive (gc): waits for every ingest session of other
 * processes to end, telling the waiting function when it has to.  0,
 * -EROFS (a read-only store without a lock file), or -errno. */
int store_ingest_exclusive(struct store *s);
void store_ingest_unlock(struct store *s);
/* The use lock of dir, exclusive, without waiting (reindex): 0 and *out
 * (the caller's, to store_unlock; NULL is fine there), or -EBUSY (err says
 * so) while anything has the store open, or -errno. */
struct store_lock;
int store_lock_exclusive(const char *dir, struct store_lock **out, char *err, size_t errlen);
void store_unlock(struct store_lock *l);

/* ---- blobs ---- */
/* A blob's encoded bytes, checked (blob_view_get): 0 and *v (release with
 * blob_view_release), -EBADMSG (damaged), -ENOENT (gone), -ENOMEM, -errno.
 * Any thread. */
int store_blob_view(struct store *s, const struct blob_ref *b, struct blob_view *v);
/* The payload of a pack entry, checked (pack_entry_get); as above. */
int store_pack_entry(struct store *s, int64_t pack, uint64_t payload_off, size_t len,
		     int type, struct blob_view *v);
/* The file name (under packs/) of a pack id: 0, -ENOENT, -errno.  Cached:
 * asks the catalogue only for a pack never seen.  Any thread. */
int store_pack_name(struct store *s, int64_t pack, char *name, size_t len);
/* 1 when the blob's raw bytes equal raw[0..len), 0 when not, or -EIO
 * (does not decode), -EBADMSG, -ENOENT, -ENOMEM.  ctx is the caller's. */
int store_blob_equals(struct store *s, struct codec_ctx *ctx,
		      const struct blob_ref *b, const void *raw, size_t len);

/* ---- removals ----
 * Removals of this process append their tombstones to one pack, made on
 * the first and started anew past PACK_SIZE_LIMIT (maint.c writes them).
 * store_removal_begin waits for any other removal of this process and must
 * be paired with store_removal_end.  Between them, store_tombstone_pack
 * gives the pack to append to (owned by the store): 0 or -errno.
 * store_removal_end with cut_back set cuts the pack back to mark (what a
 * removal that did not happen must leave), and forgets a pack that cannot
 * be cut, so that it is never appended to again. */
void store_removal_begin(struct store *s);
int store_tombstone_pack(struct store *s, struct pack_writer **pw);
void store_removal_end(struct store *s, int cut_back, uint64_t mark);
/* Wait until no removal of any process is between its tombstones and its
 * commit (then a tombstone whose instance has rows is a removal that was
 * killed).  Waits as long as removals keep going; no-op without locks. */
void store_removals_settle(struct store *s);

#endif
