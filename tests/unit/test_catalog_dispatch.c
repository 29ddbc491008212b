/*
 * test_catalog_dispatch.c - catalog.c's side of the interface: each call
 * reaches the implementation's entry with its arguments and result, an
 * entry left NULL answers -ENOTSUP (or its function's own "cannot"), and
 * catalog_open and catalog_build_open give SQLite connections.
 *
 * The implementation here is a fake with a few entries; what SQLite does
 * with the calls is test_catalog's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog_impl.h"
#include "catalog_sqlite.h"
#include "scratch.h"

/* A fake connection: struct catalog first, as an implementation's is. */
struct fake {
	struct catalog base;
	int closed;
	int node_kind;
	int64_t node_id;
};

static void fake_close(struct catalog *c)
{
	((struct fake *)c)->closed++;
}

static int fake_node(struct catalog *c, int kind, int64_t id, struct cat_node *out)
{
	struct fake *f = (struct fake *)c;
	f->node_kind = kind;
	f->node_id = id;
	out->id = id;
	return -ENOENT;
}

static const struct catalog_ops fake_ops = {
	.close = fake_close,
	.node = fake_node,
};

static void test_a_call_reaches_its_entry_with_its_arguments(void **state)
{
	(void)state;
	struct fake f = { .base = { &fake_ops } };
	struct cat_node n = { 0 };
	assert_int_equal(catalog_node(&f.base, CAT_SERIES, 42, &n), -ENOENT);
	assert_int_equal(f.node_kind, CAT_SERIES);
	assert_int_equal(f.node_id, 42);
	assert_int_equal(n.id, 42);
	catalog_close(&f.base);
	assert_int_equal(f.closed, 1);
}

static void test_an_entry_left_null_answers_enotsup(void **state)
{
	(void)state;
	struct fake f = { .base = { &fake_ops } };
	struct cat_node n;
	int64_t v = 0;
	assert_int_equal(catalog_begin(&f.base), -ENOTSUP);
	assert_int_equal(catalog_lookup(&f.base, CAT_SERIES, 1, "x.dcm", &n), -ENOTSUP);
	assert_int_equal(catalog_max_row_id(&f.base, &v), -ENOTSUP);
	assert_int_equal(catalog_exec(&f.base, "SELECT 1"), -ENOTSUP);
	assert_true(catalog_change_seq(&f.base) == -ENOTSUP);
	/* The ones that cannot return an errno say "cannot" their own way. */
	assert_true(catalog_data_version(&f.base) == -1);
	assert_non_null(catalog_errmsg(&f.base));
	catalog_rollback(&f.base);
	catalog_close(NULL);
	assert_int_equal(f.closed, 0);
}

static void test_open_and_build_open_give_sqlite_connections(void **state)
{
	(void)state;
	char *dir = scratch_make();
	char build[4200], err[256] = "";
	struct catalog *c = NULL, *b = NULL;
	assert_int_equal(catalog_open(dir, 1, 0, &c, err, sizeof(err)), 0);
	assert_ptr_equal(c->ops, &catalog_sqlite_ops);
	int64_t first = 0;
	assert_int_equal(catalog_reserve_ids(c, "patient", 2, &first), 0);
	catalog_close(c);
	snprintf(build, sizeof(build), "%s/build", dir);
	assert_int_equal(mkdir(build, 0700), 0);
	assert_int_equal(catalog_build_open(build, &b, err, sizeof(err)), 0);
	assert_ptr_equal(b->ops, &catalog_sqlite_ops);
	catalog_close(b);
	scratch_remove(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_call_reaches_its_entry_with_its_arguments),
		cmocka_unit_test(test_an_entry_left_null_answers_enotsup),
		cmocka_unit_test(test_open_and_build_open_give_sqlite_connections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
