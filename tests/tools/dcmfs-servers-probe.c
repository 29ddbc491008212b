/* dcmfs-servers-probe - proves the build links libpq and librados and that
 * both servers of a test (tests/system/lib/pg.sh, ceph.sh) take a write and
 * give it back.
 *
 *   dcmfs-servers-probe PG_CONNINFO CEPH_CONF POOL
 *
 * It inserts a row through libpq and reads it back, writes an object
 * through librados and reads it back, and prints "pg ok" and "rados ok".
 * Any failure: one line on stderr naming what failed, exit 1. */
#include <libpq-fe.h>
#include <rados/librados.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, const char *detail)
{
	fprintf(stderr, "dcmfs-servers-probe: %s: %s\n", what, detail);
	return 1;
}

static int probe_pg(const char *conninfo)
{
	PGconn *db = PQconnectdb(conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		int rc = fail("postgresql connect", PQerrorMessage(db));
		PQfinish(db);
		return rc;
	}
	PGresult *res = PQexec(db, "CREATE TABLE IF NOT EXISTS probe (id bigint PRIMARY KEY, v text);"
				   "INSERT INTO probe VALUES (1, 'dcmfs') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v");
	int bad = PQresultStatus(res) != PGRES_COMMAND_OK;
	PQclear(res);
	if (bad) {
		int rc = fail("postgresql insert", PQerrorMessage(db));
		PQfinish(db);
		return rc;
	}
	res = PQexec(db, "SELECT v FROM probe WHERE id = 1");
	bad = PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	      strcmp(PQgetvalue(res, 0, 0), "dcmfs") != 0;
	PQclear(res);
	int rc = bad ? fail("postgresql select", "the row written is not read back") : 0;
	PQfinish(db);
	return rc;
}

static int probe_rados(const char *conf, const char *pool)
{
	static const char data[] = "dcmfs rados probe";
	char back[sizeof data];
	rados_t cluster;
	rados_ioctx_t io;
	int err = rados_create(&cluster, NULL);
	if (err < 0)
		return fail("rados_create", strerror(-err));
	if ((err = rados_conf_read_file(cluster, conf)) < 0 || (err = rados_connect(cluster)) < 0) {
		rados_shutdown(cluster);
		return fail("rados connect", strerror(-err));
	}
	if ((err = rados_ioctx_create(cluster, pool, &io)) < 0) {
		rados_shutdown(cluster);
		return fail("rados pool", strerror(-err));
	}
	int rc = 0;
	if ((err = rados_write_full(io, "probe", data, sizeof data)) < 0)
		rc = fail("rados write", strerror(-err));
	else if ((err = rados_read(io, "probe", back, sizeof back, 0)) != (int)sizeof data ||
		 memcmp(back, data, sizeof data) != 0)
		rc = fail("rados read", err < 0 ? strerror(-err) : "the object written is not read back");
	rados_ioctx_destroy(io);
	rados_shutdown(cluster);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: dcmfs-servers-probe PG_CONNINFO CEPH_CONF POOL\n");
		return 2;
	}
	if (probe_pg(argv[1]))
		return 1;
	printf("pg ok\n");
	if (probe_rados(argv[2], argv[3]))
		return 1;
	printf("rados ok\n");
	return 0;
}
