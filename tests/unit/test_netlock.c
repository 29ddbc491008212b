/*
 * test_netlock.c - a store's locks as PostgreSQL advisory locks
 * (netlock.h), on the real server DCMFS_TEST_PG_URL names; two netlocks
 * stand for two machines.  Without the variable the test skips (t0720
 * starts a server and sets it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "netlock.h"

static const char *pg_url(void)
{
	return getenv("DCMFS_TEST_PG_URL");
}

struct pair {
	struct netlock *a, *b;
};

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	char err[256];
	if (!p || netlock_open(pg_url(), &p->a, err, sizeof(err)) ||
	    netlock_open(pg_url(), &p->b, err, sizeof(err))) {
		print_error("setup: %s\n", err);
		return -1;
	}
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;
	netlock_close(p->a);
	netlock_close(p->b);
	free(p);
	return 0;
}

static void test_shared_locks_go_together_and_exclude_an_exclusive(void **state)
{
	struct pair *p = *state;
	assert_int_equal(netlock_take(p->a, 1, 0, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(p->b, 1, 0, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(p->b, 1, 1, 0, NULL, 0), -EAGAIN);
	assert_int_equal(netlock_drop(p->a, 1), 0);
	/* b's own shared lock never stands in the way of its exclusive one. */
	assert_int_equal(netlock_take(p->b, 1, 1, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(p->a, 1, 0, 0, NULL, 0), -EAGAIN);
}

static void test_a_byte_is_held_in_one_mode_as_an_ofd_lock_is(void **state)
{
	struct pair *p = *state;
	/* Taken twice, dropped once: free (an advisory lock alone stacks). */
	assert_int_equal(netlock_take(p->a, 2, 1, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(p->a, 2, 1, 0, NULL, 0), 0);
	assert_int_equal(netlock_drop(p->a, 2), 0);
	assert_int_equal(netlock_take(p->b, 2, 1, 0, NULL, 0), 0);
	assert_int_equal(netlock_drop(p->b, 2), 0);
	/* Exclusive converted down to shared: another shared goes with it. */
	assert_int_equal(netlock_take(p->a, 2, 1, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(p->a, 2, 0, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(p->b, 2, 0, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(p->b, 2, 1, 0, NULL, 0), -EAGAIN);
}

static void test_bytes_are_separate_locks(void **state)
{
	struct pair *p = *state;
	assert_int_equal(netlock_take(p->a, 0, 1, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(p->b, 1, 1, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(p->b, 0, 0, 0, NULL, 0), -EAGAIN);
}

struct waiter {
	struct netlock *nl;
	int r;
};

static void *take_waiting(void *arg)
{
	struct waiter *w = arg;
	w->r = netlock_take(w->nl, 1, 1, 1, NULL, 0);
	return NULL;
}

static void test_a_wait_ends_when_the_holder_drops_and_meanwhile_others_can_drop(void **state)
{
	struct pair *p = *state;
	struct netlock *c;
	char err[256];
	assert_int_equal(netlock_open(pg_url(), &c, err, sizeof(err)), 0);
	assert_int_equal(netlock_take(p->a, 1, 0, 0, NULL, 0), 0);
	assert_int_equal(netlock_take(c, 2, 1, 0, NULL, 0), 0);
	struct waiter w = { .nl = c, .r = 1 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, take_waiting, &w), 0);
	usleep(1200 * 1000);    /* more than two slices of the wait */
	assert_int_equal(w.r, 1);
	/* The waiting connection still drops its other lock for another thread. */
	assert_int_equal(netlock_drop(c, 2), 0);
	assert_int_equal(netlock_take(p->b, 2, 1, 0, NULL, 0), 0);
	assert_int_equal(netlock_drop(p->a, 1), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.r, 0);
	assert_int_equal(netlock_take(p->a, 1, 0, 0, NULL, 0), -EAGAIN);
	netlock_close(c);
	/* Closing the connection dropped it, once its backend has gone: the
	 * server ends it after the close returns (a loaded machine: later). */
	int r = -EAGAIN;
	for (int i = 0; i < 50 && r == -EAGAIN; i++)
		if ((r = netlock_take(p->a, 1, 0, 0, NULL, 0)) == -EAGAIN)
			usleep(100 * 1000);
	assert_int_equal(r, 0);
}

/* End the server's backend of every session holding byte (as a server
 * restart or a lost network would), from a connection of the test's own. */
static void terminate_holders(int byte)
{
	PGconn *c = PQconnectdb(pg_url());
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE"
		 " locktype = 'advisory' AND classid = %u AND objid = %d AND objsubid = 2 AND granted",
		 (unsigned)NETLOCK_CLASS, byte);
	PGresult *res = PQexec(c, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "1");
	PQclear(res);
	PQfinish(c);
}

/* The backend ends a moment after it is told to: until then a check may
 * still find the lock. */
static int check_until_lost(struct netlock *nl, int byte, char *err, size_t errlen)
{
	int r = 0;
	for (int i = 0; i < 50 && !r; i++)
		if (!(r = netlock_check(nl, byte, err, errlen)))
			usleep(100 * 1000);
	return r;
}

static void test_a_lost_connection_is_found_by_a_check_and_renewed(void **state)
{
	struct pair *p = *state;
	char err[512] = "";
	assert_int_equal(netlock_take(p->a, 0, 0, 0, NULL, 0), 0);
	assert_int_equal(netlock_check(p->a, 0, err, sizeof(err)), 0);
	assert_int_equal(netlock_renew(p->a, 0, err, sizeof(err)), 0);      /* held: nothing done */
	assert_int_equal(netlock_check(p->a, 3, err, sizeof(err)), -EIO);  /* never taken */
	terminate_holders(0);
	assert_int_equal(check_until_lost(p->a, 0, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "lost the store's lock"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(netlock_take(p->b, 0, 1, 0, NULL, 0), 0);        /* the server let it go */
	assert_int_equal(netlock_renew(p->a, 0, err, sizeof(err)), -EAGAIN);
	assert_int_equal(netlock_drop(p->b, 0), 0);
	assert_int_equal(netlock_renew(p->a, 0, err, sizeof(err)), 1);
	assert_int_equal(netlock_check(p->a, 0, err, sizeof(err)), 0);
	assert_int_equal(netlock_take(p->b, 0, 1, 0, NULL, 0), -EAGAIN);  /* held again */
	/* With another lock on the lost connection: left to its holder. */
	assert_int_equal(netlock_take(p->a, 1, 0, 0, NULL, 0), 0);
	terminate_holders(0);
	assert_int_equal(check_until_lost(p->a, 0, err, sizeof(err)), -EIO);
	assert_int_equal(netlock_renew(p->a, 0, err, sizeof(err)), -EBUSY);
	assert_int_equal(netlock_check(p->a, 1, err, sizeof(err)), -EIO);
}

static void test_a_bad_url_is_one_line_and_eio(void **state)
{
	(void)state;
	struct netlock *nl = NULL;
	char err[512] = "";
	assert_int_equal(netlock_open("postgresql:///none?host=/nonexistent", &nl, err, sizeof(err)), -EIO);
	assert_null(nl);
	assert_non_null(strstr(err, "cannot connect"));
	assert_null(strchr(err, '\n'));
	netlock_close(NULL);
}

int main(void)
{
	if (!pg_url() || !pg_url()[0]) {
		printf("# skipped: DCMFS_TEST_PG_URL names no PostgreSQL database (t0720 sets it)\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shared_locks_go_together_and_exclude_an_exclusive,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_byte_is_held_in_one_mode_as_an_ofd_lock_is,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bytes_are_separate_locks, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_wait_ends_when_the_holder_drops_and_meanwhile_others_can_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_lost_connection_is_found_by_a_check_and_renewed,
						setup, teardown),
		cmocka_unit_test(test_a_bad_url_is_one_line_and_eio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
