/*
 * catalog_sqlite.h - the SQLite catalogue: a store's index.db.
 *
 * The first implementation of catalog.h (catalog_impl.h's table); the rest
 * of dcmfs reaches it through catalog_open and catalog_build_open, which
 * call these.  Behaviour, schema and errors are catalog.h's.
 */
#ifndef DCMFS_CATALOG_SQLITE_H
#define DCMFS_CATALOG_SQLITE_H

#include "catalog_impl.h"

extern const struct catalog_ops catalog_sqlite_ops;

/* catalog_open on STORE/index.db: same arguments, results and errors. */
int catalog_sqlite_open(const char *store_dir, int create, int readonly,
			struct catalog **out, char *err, size_t errlen);
/* catalog_build_open: a new index.db in dir, for reindex's bulk build. */
int catalog_sqlite_build_open(const char *dir, struct catalog **out, char *err, size_t errlen);

#endif
