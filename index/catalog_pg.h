/*
 * catalog_pg.h - the catalogue (catalog.h) in a PostgreSQL database, on
 * libpq: what lets several machines share one store's index (SCALING.md).
 *
 * A store names its database by a libpq connection URL
 * (postgresql:///DB?host=/run/sock, postgresql://user@host/db, ...).  The
 * database keeps text as bytes (encoding SQL_ASCII, made with 'createdb -E
 * SQL_ASCII -T template0 --locale=C DB'): DICOM values are bytes, not
 * always UTF-8, and are kept whole as in index.db; the schema is made in
 * no other database.
 * Every entry of catalog_pg_ops has the meaning catalog.h gives
 * catalog_<entry>; the differences:
 *  - writers serialise as SQLite's BEGIN IMMEDIATE does: catalog_begin
 *    takes a transaction-level advisory lock (PG_CATALOG_LOCK), waiting up
 *    to 30 s (lock_timeout; then -EBUSY), and so does every write of the
 *    change feed (a trigger), so seq values are handed out in commit order;
 *  - ids of packs, blobs and import log rows come from counters rows too
 *    (kinds "pack", "blob", "import"), never from serial columns;
 *  - catalog_integrity_check is "SELECT 1" (the server keeps its own
 *    pages); catalog_bulk_writer, catalog_build_indexes,
 *    catalog_share_indexes and catalog_find_indexes do nothing (the
 *    schema has every index from the start); catalog_exec runs SQL text
 *    in PostgreSQL's dialect.
 * SQLSTATEs map to errnos: 23xxx -EEXIST, 53100 -ENOSPC, 53200 -ENOMEM,
 * 25006 -EROFS, 40P01/40001/55P03 -EBUSY, 42501 -EACCES; a lost or
 * refused connection and anything else -EIO, with the server's message in
 * catalog_errmsg.
 *
 * The schema (version PG_CATALOG_SCHEMA in table schema_version, made in
 * one transaction at the first open with create) mirrors index.db's
 * (catalog.c): counters, packs, blobs, patients, studies, series,
 * instances, segments, import_log, the change feed (changes) and the kept
 * totals (tallies, blob_tallies, modality_blobs), with the same columns
 * (BLOB -> bytea, INTEGER -> bigint, text COLLATE "C" so that text sorts
 * and compares bytewise as in SQLite), the same unique constraints and
 * indexes, and plpgsql triggers doing what index.db's triggers do.  The
 * column instances.name of schema 2 is gone.  changes holds seq, kind,
 * id, parent, name, mtime, state as in catalog.h.  Another schema version
 * is refused: a newer one needs a newer dcmfs, an older one a new
 * database filled by reindex.
 */
#ifndef DCMFS_CATALOG_PG_H
#define DCMFS_CATALOG_PG_H

#include <stddef.h>

#include "catalog_impl.h"

#define PG_CATALOG_SCHEMA 1
/* pg_advisory_xact_lock's key of a store's writers ("dcmf"). */
#define PG_CATALOG_LOCK 1684237670   /* 0x64636d66; PostgreSQL 15 reads no hex */

extern const struct catalog_ops catalog_pg_ops;

/* Connect to the database at url into *out (the caller closes it with
 * catalog_close).  create: make the schema when the database has none
 * (-EINVAL when its encoding is not SQL_ASCII).  readonly: every transaction is
 * read only (writes give -EROFS).  Returns 0; -ENOMEM; -EIO when the
 * server cannot be reached or refuses us; -EINVAL when the database has
 * no dcmfs schema (and create is 0) or another version of it; each with a
 * one-line reason in err. */
int catalog_pg_open(const char *url, int create, int readonly, struct catalog **out, char *err,
		    size_t errlen);
/* catalog_rebuild_open for the database at url: a connection whose one
 * transaction (open on return, under the writers' lock; catalog_begin
 * joins it) fills a new, empty catalogue in schema dcmfs_reindex, beside
 * the database's own.  Its catalog_commit adds the feed's triggers, keeps
 * the old catalogue's counters where they are higher, its import log, and
 * its feed's seq (the new feed starts past it, after a gap), and puts the
 * new tables and functions in the old ones' place (those moved to schema
 * dcmfs_old, its triggers off, until the next reindex), all in that
 * transaction (after it, the connection is an ordinary one to the
 * catalogue in place); closing the connection without it leaves the old
 * catalogue as it was.  Statements may keep silent an hour (catalog_prune on
 * millions of rows), not a minute.  Returns 0; -ENOMEM; -EIO (the server,
 * with err); -EINVAL when the database's catalogue is of a newer schema or
 * its encoding not SQL_ASCII. */
int catalog_pg_build_open(const char *url, struct catalog **out, char *err, size_t errlen);

#endif
