/*
 * storeconf.h - STORE/store.conf: where a store's parts live when they are
 * not all in its folder.
 *
 * A store without store.conf is the embedded store (everything in the
 * folder, as before store.conf existed).  With it, the file is text, one
 * "key = value" a line; '#' starts a comment line; blank lines are skipped:
 *
 *   format = 1                   this file's version (required, first use)
 *   store_id = <32 hex digits>   the store's identity, also written into
 *                                its data store (a RADOS pool holds the
 *                                object "dcmfs-store-id" with it) so that
 *                                two stores never share data by mistake
 *   data = rados://POOL?conf=/path/ceph.conf[&id=CLIENT]
 *                                packs and blob files in that RADOS pool
 *   catalog = postgresql://...   the catalogue in that PostgreSQL database
 *                                (a libpq connection URL, catalog_pg.h),
 *                                instead of STORE/index.db
 *
 * A reader refuses a format newer than it knows and a key it does not
 * know (a newer dcmfs's setting must not be ignored): a dcmfs older than
 * the catalog key refuses such a store rather than open an empty
 * index.db beside it.  Without a catalog line the catalogue is
 * STORE/index.db.
 */
#ifndef DCMFS_STORECONF_H
#define DCMFS_STORECONF_H

#include <stddef.h>

#define STORE_CONF_FILE "store.conf"
#define STORE_CONF_FORMAT 1
#define STORE_ID_HEX 32

struct store_conf {
	int format;
	char store_id[STORE_ID_HEX + 1];
	char data[2048];                /* "" when the data is in the folder */
	char catalog[2048];             /* "" when the catalogue is STORE/index.db */
};

/* Whether url is a PostgreSQL connection URL (postgresql:// or
 * postgres://). */
int store_conf_catalog_url_ok(const char *url);
/* Read dir/store.conf: 0 and *c; -ENOENT when there is none (an embedded
 * store); -EINVAL (malformed, a newer format, an unknown key: err names the
 * line); -errno. */
int store_conf_read(const char *dir, struct store_conf *c, char *err, size_t errlen);
/* Write dir/store.conf durably (a temporary file, fsync, rename, fsync of
 * the folder).  0 or -errno; err says which. */
int store_conf_write(const char *dir, const struct store_conf *c, char *err, size_t errlen);
/* A new random store id (32 hex digits) into id.  0 or -errno. */
int store_conf_new_id(char id[STORE_ID_HEX + 1]);

#endif
