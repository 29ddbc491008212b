/*
 * test_catalog_pg.c - the PostgreSQL catalogue (catalog_pg.h) through the
 * same cases as SQLite's (test_catalog.c), on a real server: the database
 * DCMFS_TEST_PG_URL names (of encoding SQL_ASCII, catalog_pg.h), emptied
 * before each case (every table of its public schema is dropped).  Without the variable the test skips
 * (t0720 starts a server and sets it).
 *
 * test_catalog.c is compiled here again with each catalog_<entry> it calls
 * sent to the PostgreSQL table (catalog_pg_ops), and catalog_open to
 * catalog_pg_open, so both catalogues answer one set of cases.  Left out:
 * the cases about SQLite's own file (schema versions in PRAGMA
 * user_version, a folder without index.db, the bulk build); cases of
 * PostgreSQL's own follow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "catalog_pg.h"

#define KEPT_TEXT(n) #n
#define KEPT(n) KEPT_TEXT(n)

static const char *pg_url(void)
{
	return getenv("DCMFS_TEST_PG_URL");
}

/* Drop everything a case left in the database. */
static int pg_reset(void)
{
	PGconn *c = PQconnectdb(pg_url());
	int ok = PQstatus(c) == CONNECTION_OK;
	if (ok) {
		PGresult *r = PQexec(c, "SET client_min_messages = warning;"
				     " DROP SCHEMA public CASCADE; CREATE SCHEMA public");
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			print_error("pg_reset: %s", PQresultErrorMessage(r));
		PQclear(r);
	} else {
		print_error("pg_reset: %s", PQerrorMessage(c));
	}
	PQfinish(c);
	return ok ? 0 : -1;
}

/* catalog_open on the test's database; create starts from an empty one. */
static int pgt_open(const char *dir, int create, int readonly, struct catalog **out, char *err,
		    size_t errlen)
{
	(void)dir;
	if (create && pg_reset())
		return -EIO;
	return catalog_pg_open(pg_url(), create, readonly, out, err, errlen);
}

static inline void pgt_close(struct catalog *c)
{
	if (c)
		c->ops->close(c);
}

/* The entries the cases call, through the table. */
#define PGT(ret, name, params, args) \
	static inline ret pgt_##name params { return c->ops->name args; }
PGT(const char *, errmsg, (struct catalog *c), (c))
PGT(int64_t, data_version, (struct catalog *c), (c))
PGT(int, begin, (struct catalog *c), (c))
PGT(int, commit, (struct catalog *c), (c))
PGT(void, rollback, (struct catalog *c), (c))
PGT(int, reserve_ids, (struct catalog *c, const char *k, int64_t n, int64_t *f), (c, k, n, f))
PGT(int, blob_candidates, (struct catalog *c, const uint8_t h[HASH_LEN], struct blob_ref *o, int m),
    (c, h, o, m))
PGT(int, blob_by_id, (struct catalog *c, int64_t id, struct blob_ref *o), (c, id, o))
PGT(int, blob_by_key, (struct catalog *c, const uint8_t h[HASH_LEN], uint32_t n, struct blob_ref *o),
    (c, h, n, o))
PGT(int, insert_blob, (struct catalog *c, struct blob_ref *r), (c, r))
PGT(int, pack_id, (struct catalog *c, const char *n, int64_t *id), (c, n, id))
PGT(int, pack_find, (struct catalog *c, const char *n, int64_t *id), (c, n, id))
PGT(int, pack_name, (struct catalog *c, int64_t id, char *n, size_t l), (c, id, n, l))
PGT(int, versions, (struct catalog *c, const char *s, struct cat_version **o), (c, s, o))
PGT(int, segments, (struct catalog *c, int64_t id, struct blob_ref *s, int m), (c, id, s, m))
PGT(int, place, (struct catalog *c, struct instance_record *r, struct id_pool *p, struct id_pool *st,
		 struct id_pool *se), (c, r, p, st, se))
PGT(int, insert_instance, (struct catalog *c, const struct instance_record *r, const int64_t *b,
			   const struct record_loc *l), (c, r, b, l))
PGT(int, delete_instance, (struct catalog *c, int64_t id), (c, id))
PGT(int, prune, (struct catalog *c), (c))
PGT(int, children, (struct catalog *c, int k, int64_t id, cat_node_cb cb, void *a), (c, k, id, cb, a))
PGT(int, lookup, (struct catalog *c, int k, int64_t id, const char *n, struct cat_node *o),
    (c, k, id, n, o))
PGT(int, node, (struct catalog *c, int k, int64_t id, struct cat_node *o), (c, k, id, o))
PGT(int, instance_row, (struct catalog *c, int64_t id, struct cat_instance *o), (c, id, o))
PGT(int, next_in_series, (struct catalog *c, int64_t id, int64_t *ids, uint64_t *s, int m),
    (c, id, ids, s, m))
PGT(int, find_ids, (struct catalog *c, int k, const char *u, int64_t **ids), (c, k, u, ids))
PGT(int, totals, (struct catalog *c, struct cat_totals *t), (c, t))
PGT(int, totals_by_modality, (struct catalog *c, cat_modality_cb cb, void *a), (c, cb, a))
PGT(int, tallies_check, (struct catalog *c, char *m, size_t l), (c, m, l))
PGT(int, view_children, (struct catalog *c, int v, int k, int64_t id, cat_node_cb cb, void *a),
    (c, v, k, id, cb, a))
PGT(int, view_lookup, (struct catalog *c, int v, int k, int64_t id, const char *n, struct cat_node *o),
    (c, v, k, id, n, o))
PGT(int, quarantined, (struct catalog *c, cat_quarantine_cb cb, void *a), (c, cb, a))
PGT(int, rx_begin, (struct catalog *c), (c))
PGT(int, rx_tomb_add, (struct catalog *c, int64_t id), (c, id))
PGT(int, rx_tomb_has, (struct catalog *c, int64_t id), (c, id))
PGT(int, rx_tomb_apply, (struct catalog *c, int64_t id), (c, id))
PGT(int, rx_defer, (struct catalog *c, const struct record_loc *l, const void *p), (c, l, p))
PGT(int, rx_deferred_next, (struct catalog *c, int64_t *cur, struct record_loc *l, void **p),
    (c, cur, l, p))
PGT(int64_t, change_seq, (struct catalog *c), (c))
PGT(int, changes_since, (struct catalog *c, int64_t a, int64_t *l, cat_change_cb cb, void *arg),
    (c, a, l, cb, arg))
PGT(int, study_groups, (struct catalog *c, int by, const char *p, int l, cat_group_cb cb, void *a),
    (c, by, p, l, cb, a))
PGT(int, group_studies, (struct catalog *c, int by, const char *v, cat_view_study_cb cb, void *a),
    (c, by, v, cb, a))
PGT(int, view_study, (struct catalog *c, int64_t id, struct cat_view_study *o), (c, id, o))
PGT(int, max_row_id, (struct catalog *c, int64_t *o), (c, o))
PGT(int, exec, (struct catalog *c, const char *sql), (c, sql))
PGT(int, find_studies, (struct catalog *c, const struct cat_study_filter *f, cat_study_cb cb, void *a),
    (c, f, cb, a))
PGT(int, build_indexes, (struct catalog *c), (c))

/* SQLite's bulk build has no PostgreSQL counterpart (its case is left out). */
static inline int pgt_build_open(const char *dir, struct catalog **out, char *err, size_t errlen)
{
	return pgt_open(dir, 1, 0, out, err, errlen);
}

#define catalog_open pgt_open
#define catalog_close pgt_close
#define catalog_errmsg pgt_errmsg
#define catalog_data_version pgt_data_version
#define catalog_begin pgt_begin
#define catalog_commit pgt_commit
#define catalog_rollback pgt_rollback
#define catalog_reserve_ids pgt_reserve_ids
#define catalog_blob_candidates pgt_blob_candidates
#define catalog_blob_by_id pgt_blob_by_id
#define catalog_blob_by_key pgt_blob_by_key
#define catalog_insert_blob pgt_insert_blob
#define catalog_pack_id pgt_pack_id
#define catalog_pack_find pgt_pack_find
#define catalog_pack_name pgt_pack_name
#define catalog_versions pgt_versions
#define catalog_segments pgt_segments
#define catalog_place pgt_place
#define catalog_insert_instance pgt_insert_instance
#define catalog_delete_instance pgt_delete_instance
#define catalog_prune pgt_prune
#define catalog_children pgt_children
#define catalog_lookup pgt_lookup
#define catalog_node pgt_node
#define catalog_instance_row pgt_instance_row
#define catalog_next_in_series pgt_next_in_series
#define catalog_find_ids pgt_find_ids
#define catalog_totals pgt_totals
#define catalog_totals_by_modality pgt_totals_by_modality
#define catalog_tallies_check pgt_tallies_check
#define catalog_view_children pgt_view_children
#define catalog_view_lookup pgt_view_lookup
#define catalog_quarantined pgt_quarantined
#define catalog_rx_begin pgt_rx_begin
#define catalog_rx_tomb_add pgt_rx_tomb_add
#define catalog_rx_tomb_has pgt_rx_tomb_has
#define catalog_rx_tomb_apply pgt_rx_tomb_apply
#define catalog_rx_defer pgt_rx_defer
#define catalog_rx_deferred_next pgt_rx_deferred_next
#define catalog_change_seq pgt_change_seq
#define catalog_changes_since pgt_changes_since
#define catalog_study_groups pgt_study_groups
#define catalog_group_studies pgt_group_studies
#define catalog_view_study pgt_view_study
#define catalog_max_row_id pgt_max_row_id
#define catalog_exec pgt_exec
#define catalog_find_studies pgt_find_studies
#define catalog_build_open pgt_build_open
#define catalog_build_indexes pgt_build_indexes
/* test_catalog.c's own main runs its SQLite list; this file has its own. */
#define main sqlite_cases_main

#include "test_catalog.c"

#undef main

/* ---- PostgreSQL's own ---- */

static void test_pg_refuses_a_newer_schema_and_none(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct catalog *again;
	assert_int_equal(catalog_exec(f->cat, "UPDATE schema_version SET version=99"), 0);
	assert_int_equal(catalog_open(f->dir, 0, 0, &again, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(catalog_exec(f->cat, "UPDATE schema_version SET version="
				      KEPT(PG_CATALOG_SCHEMA)), 0);
	assert_int_equal(catalog_open(f->dir, 0, 1, &again, err, sizeof(err)), 0);
	catalog_close(again);
	/* a database without the schema is refused unless asked to create it */
	assert_int_equal(pg_reset(), 0);
	err[0] = '\0';
	assert_int_equal(catalog_pg_open(pg_url(), 0, 0, &again, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no dcmfs schema"));
}

static void test_pg_unreachable_server_is_an_io_error(void **state)
{
	(void)state;
	char err[256] = "";
	struct catalog *c;
	assert_int_equal(catalog_pg_open("postgresql:///nodb?host=/nonexistent-dcmfs", 1, 0, &c, err,
					 sizeof(err)), -EIO);
	assert_non_null(strstr(err, "cannot connect"));
}

/* A lost connection fails the call that meets it and, inside a
 * transaction, the transaction to its end; the next call connects again. */
static void test_pg_lost_connection_is_made_again_between_transactions(void **state)
{
	struct fixture *f = *state;
	int64_t id;
	assert_int_equal(catalog_exec(f->cat, "SELECT pg_terminate_backend(pg_backend_pid())"), -EIO);
	assert_int_equal(catalog_pack_find(f->cat, "0000000001.pack", &id), 0);
	assert_int_equal(id, f->pack_id);
	assert_int_equal(catalog_begin(f->cat), 0);
	assert_int_equal(catalog_pack_id(f->cat, "0000000002.pack", &id), 0);
	assert_int_equal(catalog_exec(f->cat, "SELECT pg_terminate_backend(pg_backend_pid())"), -EIO);
	/* not on a new connection, in autocommit: the transaction is gone */
	assert_int_equal(catalog_pack_id(f->cat, "0000000003.pack", &id), -EIO);
	assert_int_equal(catalog_commit(f->cat), -EIO);
	catalog_rollback(f->cat);
	assert_int_equal(catalog_pack_find(f->cat, "0000000002.pack", &id), -ENOENT);
	assert_int_equal(catalog_pack_find(f->cat, "0000000003.pack", &id), -ENOENT);
	assert_int_equal(catalog_begin(f->cat), 0);
	assert_int_equal(catalog_pack_id(f->cat, "0000000004.pack", &id), 0);
	assert_int_equal(catalog_commit(f->cat), 0);
	assert_int_equal(catalog_pack_find(f->cat, "0000000004.pack", &id), 0);
}

/* Values that are not UTF-8 (a Latin-1 PatientID) are kept byte for byte. */
static void test_pg_values_are_bytes(void **state)
{
	struct fixture *f = *state;
	add_instance(f, &(struct inst){ .patient_id = "M\xfcller", .patient_name = "M\xfcller^J",
					 .study_uid = "7.1", .series_uid = "7.1.1", .sop_uid = "7.1.1.1",
					 .size = 100, .content = 9 });
	int64_t *ids = NULL;
	assert_int_equal(catalog_find_ids(f->cat, CAT_PATIENT, "M\xfcller", &ids), 1);
	char key[64], issuer[16];
	assert_int_equal(f->cat->ops->folder_key(f->cat, CAT_PATIENT, ids[0], key, sizeof(key), issuer,
						 sizeof(issuer)), 0);
	assert_string_equal(key, "M\xfcller");
	free(ids);
}

/* A duplicate is -EEXIST and leaves the transaction usable, as SQLite's. */
static void test_pg_duplicate_keeps_the_transaction(void **state)
{
	struct fixture *f = *state;
	struct blob_ref b;
	memset(&b, 0, sizeof(b));
	memset(b.hash, 7, HASH_LEN);
	b.raw_size = 10;
	b.enc_size = 5;
	b.pack = f->pack_id;
	assert_int_equal(catalog_begin(f->cat), 0);
	assert_int_equal(catalog_insert_blob(f->cat, &b), 0);
	int64_t first = b.id;
	b.id = 0;
	assert_int_equal(catalog_insert_blob(f->cat, &b), -EEXIST);
	b.ordinal = 1;
	assert_int_equal(catalog_insert_blob(f->cat, &b), 0);
	assert_true(b.id != first);
	assert_int_equal(catalog_commit(f->cat), 0);
	struct blob_ref got;
	assert_int_equal(catalog_blob_by_key(f->cat, b.hash, 1, &got), 0);
	assert_int_equal(got.id, b.id);
}

/* Writers serialise at begin; a read-only connection cannot write. */
static void test_pg_writers_serialise_and_readers_cannot_write(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct catalog *other, *ro;
	assert_int_equal(catalog_open(f->dir, 0, 0, &other, err, sizeof(err)), 0);
	assert_int_equal(catalog_exec(other, "SET lock_timeout = '200ms'"), 0);
	assert_int_equal(catalog_begin(f->cat), 0);
	assert_int_equal(catalog_begin(other), -EBUSY);
	catalog_commit(f->cat);
	assert_int_equal(catalog_begin(other), 0);
	assert_int_equal(catalog_commit(other), 0);
	catalog_close(other);
	assert_int_equal(catalog_open(f->dir, 0, 1, &ro, err, sizeof(err)), 0);
	int64_t id;
	assert_int_equal(catalog_pack_id(ro, "0000000002.pack", &id), -EROFS);
	catalog_close(ro);
}

/* The feed in commit order: a change written while another writer holds
 * the lock waits for it, so no seq is handed out of order. */
struct seen {
	int n;
	int64_t last_seq;
	int ordered;
};

static int on_change(void *arg, const struct cat_change *ch)
{
	struct seen *s = arg;
	if (ch->seq <= s->last_seq)
		s->ordered = 0;
	s->last_seq = ch->seq;
	s->n++;
	return 0;
}

/* reindex's build (catalog_pg_build_open): closed without its commit it
 * leaves the catalogue as it was; its commit puts the new one in place,
 * with no counter lower than the old one's, the feed 2 past the old
 * newest seq, and nothing of the old rows. */
static void test_pg_build_replaces_the_catalogue_at_its_commit(void **state)
{
	struct fixture *f = *state;
	int64_t id = add_instance(f, &(struct inst){ .patient_id = "A", .study_uid = "1",
				  .series_uid = "1.1", .sop_uid = "1.1.1", .size = 100, .content = 1 });
	int64_t first, pack, next;
	assert_int_equal(catalog_reserve_ids(f->cat, "instance", 1000, &first), 0);
	int64_t seq = catalog_change_seq(f->cat);
	assert_true(seq > 0);
	char err[256] = "";
	struct catalog *b, *after;
	struct cat_node n;
	/* given up */
	assert_int_equal(catalog_pg_build_open(pg_url(), &b, err, sizeof(err)), 0);
	assert_int_equal(catalog_begin(b), 0);
	assert_int_equal(catalog_pack_id(b, "0000000002.pack", &pack), 0);
	catalog_close(b);
	assert_int_equal(catalog_node(f->cat, CAT_INSTANCE, id, &n), 0);
	assert_int_equal(catalog_pack_find(f->cat, "0000000002.pack", &pack), -ENOENT);
	assert_int_equal(catalog_change_seq(f->cat), seq);
	/* committed */
	assert_int_equal(catalog_pg_build_open(pg_url(), &b, err, sizeof(err)), 0);
	assert_int_equal(catalog_begin(b), 0);
	assert_int_equal(catalog_pack_id(b, "0000000002.pack", &pack), 0);
	assert_int_equal(catalog_reserve_ids(b, "instance", 1, &next), 0);
	assert_true(next < first);      /* the new catalogue's own count, before the swap */
	assert_int_equal(catalog_commit(b), 0);
	/* then an ordinary connection to the catalogue now in place */
	assert_int_equal(catalog_pack_find(b, "0000000001.pack", &pack), -ENOENT);
	catalog_close(b);
	assert_int_equal(catalog_pg_open(pg_url(), 0, 0, &after, err, sizeof(err)), 0);
	assert_int_equal(catalog_node(after, CAT_INSTANCE, id, &n), -ENOENT);
	assert_int_equal(catalog_pack_find(after, "0000000002.pack", &pack), 0);
	assert_int_equal(catalog_pack_find(after, "0000000001.pack", &pack), -ENOENT);
	assert_int_equal(catalog_reserve_ids(after, "instance", 1, &next), 0);
	assert_true(next >= first + 1000);
	assert_int_equal(catalog_change_seq(after), seq + 2);
	assert_int_equal(catalog_tallies_check(after, err, sizeof(err)), 0);
	catalog_close(after);
}

static void test_pg_change_feed_follows_commits(void **state)
{
	struct fixture *f = *state;
	int64_t start = catalog_change_seq(f->cat);
	assert_true(start >= 0);
	add_instance(f, &(struct inst){ .patient_id = "F1", .study_uid = "9.1", .series_uid = "9.1.1",
					 .sop_uid = "9.1.1.1", .size = 100, .content = 1 });
	struct seen s = { 0, start, 1 };
	int64_t last = 0;
	assert_int_equal(catalog_changes_since(f->cat, start, &last, on_change, &s), 0);
	assert_true(s.n >= 3);      /* a patient, a study and a series shown */
	assert_true(s.ordered);
	assert_int_equal(last, catalog_change_seq(f->cat));
	assert_int_equal(catalog_changes_since(f->cat, last + 5, &last, on_change, &s), -ESTALE);
	/* a second writer's change row waits for the first writer's commit */
	char err[256];
	struct catalog *other;
	assert_int_equal(catalog_open(f->dir, 0, 0, &other, err, sizeof(err)), 0);
	assert_int_equal(catalog_exec(other, "SET lock_timeout = '200ms'"), 0);
	assert_int_equal(catalog_begin(f->cat), 0);
	int64_t *ids = NULL;
	assert_int_equal(catalog_find_ids(other, CAT_INSTANCE, "9.1.1.1", &ids), 1);
	assert_int_equal(catalog_delete_instance(other, ids[0]), -EBUSY);
	free(ids);
	catalog_rollback(f->cat);
	catalog_close(other);
}

int main(void)
{
	if (!pg_url() || !pg_url()[0]) {
		printf("# skipped: DCMFS_TEST_PG_URL names no PostgreSQL database (t0720 sets it)\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reserved_ids_are_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_version_follows_other_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_place_and_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blobs_are_found_by_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_values_get_safe_unique_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instance_names_plain_and_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions_and_current, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_prunes_empty_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reindex_tombstones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_studies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_refuses_a_newer_schema_and_none, setup, teardown),
		cmocka_unit_test(test_pg_unreachable_server_is_an_io_error),
		cmocka_unit_test_setup_teardown(test_pg_values_are_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_duplicate_keeps_the_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_lost_connection_is_made_again_between_transactions,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_writers_serialise_and_readers_cannot_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pg_change_feed_follows_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_build_replaces_the_catalogue_at_its_commit, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
