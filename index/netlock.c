/*
 * netlock.c - a store's locks as PostgreSQL advisory locks (netlock.h).
 *
 * Invariants:
 *  1. held[b] is what this session holds of byte b (none, shared,
 *     exclusive), changed only under lock, after the server said so.  A
 *     byte is held in one mode: a conversion takes the new mode first
 *     (the session's own lock never conflicts with it) and then drops the
 *     old one, as an OFD lock converts in place.
 *  2. No statement runs for longer than lock_timeout (WAIT_SLICE) under
 *     lock: a wait is a series of pg_advisory_lock calls that each give
 *     up (SQLSTATE 55P03) and let other threads drop their locks on the
 *     connection in between.  A thread that blocked the connection for the
 *     whole wait could keep a lock another machine waits for.
 */
#include "netlock.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBYTES 8
#define WAIT_SLICE "500ms"

enum { HELD_NONE, HELD_SHARED, HELD_EXCLUSIVE };

struct netlock {
	pthread_mutex_t lock;           /* guards conn and held */
	PGconn *conn;
	int held[NBYTES];
};

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* The server's message on one line. */
static void say(char *err, size_t errlen, const char *what, const char *msg)
{
	if (!err)
		return;
	snprintf(err, errlen, "%s: %s", what, msg);
	char *nl = strchr(err, '\n');
	if (nl)
		*nl = '\0';
}

int netlock_open(const char *url, struct netlock **out, char *err, size_t errlen)
{
	struct netlock *nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	pthread_mutex_init(&nl->lock, NULL);
	/* A server that takes the connection and never answers (its postmaster
	 * stopped) would hold us for ever: 10 s unless the URL says otherwise
	 * (the URL's settings override the earlier keyword). */
	static const char *const keys[] = { "connect_timeout", "dbname", NULL };
	const char *const vals[] = { "10", url, NULL };
	nl->conn = PQconnectdbParams(keys, vals, 1);
	if (!nl->conn) {
		netlock_close(nl);
		return -ENOMEM;
	}
	if (PQstatus(nl->conn) != CONNECTION_OK) {
		say(err, errlen, "cannot connect to the catalogue for the store's locks",
		    PQerrorMessage(nl->conn));
		netlock_close(nl);
		return -EIO;
	}
	PQsetNoticeProcessor(nl->conn, quiet, NULL);
	PGresult *res = PQexec(nl->conn, "SET lock_timeout = '" WAIT_SLICE "'");
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		say(err, errlen, "cannot set up the connection for the store's locks",
		    PQresultErrorMessage(res));
	PQclear(res);
	if (!ok) {
		netlock_close(nl);
		return -EIO;
	}
	*out = nl;
	return 0;
}

void netlock_close(struct netlock *nl)
{
	if (!nl)
		return;
	PQfinish(nl->conn);
	pthread_mutex_destroy(&nl->lock);
	free(nl);
}

/* Run one lock function on byte under nl->lock: 1 when it returned true
 * (or void), 0 when false, -EAGAIN when lock_timeout ran out, -EIO. */
static int call(struct netlock *nl, const char *fn, int byte, char *err, size_t errlen)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT %s(%d, %d)::text", fn, NETLOCK_CLASS, byte);
	PGresult *res = PQexec(nl->conn, sql);
	int r;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		r = strcmp(PQgetvalue(res, 0, 0), "false") != 0;
	} else {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		r = state && !strcmp(state, "55P03") ? -EAGAIN : -EIO;
		if (r == -EIO)
			say(err, errlen, "cannot lock the store in its catalogue",
			    res ? PQresultErrorMessage(res) : PQerrorMessage(nl->conn));
	}
	PQclear(res);
	return r;
}

static const char *unlock_fn(int mode)
{
	return mode == HELD_EXCLUSIVE ? "pg_advisory_unlock" : "pg_advisory_unlock_shared";
}

int netlock_take(struct netlock *nl, int byte, int exclusive, int wait, char *err, size_t errlen)
{
	if (byte < 0 || byte >= NBYTES)
		return -EINVAL;
	int want = exclusive ? HELD_EXCLUSIVE : HELD_SHARED;
	const char *fn = wait ? (exclusive ? "pg_advisory_lock" : "pg_advisory_lock_shared")
		: (exclusive ? "pg_try_advisory_lock" : "pg_try_advisory_lock_shared");
	for (;;) {
		pthread_mutex_lock(&nl->lock);
		int had = nl->held[byte];
		int r = had == want ? 1 : call(nl, fn, byte, err, errlen);
		if (r == 1 && had != want) {
			nl->held[byte] = want;
			if (had != HELD_NONE && call(nl, unlock_fn(had), byte, err, errlen) < 0)
				r = -EIO;
		}
		pthread_mutex_unlock(&nl->lock);
		if (r == 1)
			return 0;
		if (r == 0)
			return -EAGAIN;         /* a try that failed */
		if (r != -EAGAIN)
			return r;
		/* A slice of the wait ran out: go on, the connection free a moment. */
	}
}

int netlock_drop(struct netlock *nl, int byte)
{
	if (byte < 0 || byte >= NBYTES)
		return -EINVAL;
	pthread_mutex_lock(&nl->lock);
	int r = 0;
	if (nl->held[byte] != HELD_NONE) {
		r = call(nl, unlock_fn(nl->held[byte]), byte, NULL, 0);
		nl->held[byte] = HELD_NONE;
	}
	pthread_mutex_unlock(&nl->lock);
	return r < 0 ? r : 0;
}

/* Whether the server grants this session byte in the mode held[byte]
 * says (a round trip reading pg_locks): 0, or -EIO with err.  Under
 * nl->lock. */
static int check_locked(struct netlock *nl, int byte, char *err, size_t errlen)
{
	int mode = nl->held[byte];
	char sql[320];
	/* A two-int advisory key shows as classid, objid, objsubid 2. */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
		 " AND pid = pg_backend_pid() AND classid = %u AND objid = %d AND objsubid = 2"
		 " AND granted AND mode = '%s'", (unsigned)NETLOCK_CLASS, byte,
		 mode == HELD_EXCLUSIVE ? "ExclusiveLock" : "ShareLock");
	PGresult *res = mode == HELD_NONE ? NULL : PQexec(nl->conn, sql);
	const char *why = NULL;
	if (mode == HELD_NONE)
		why = "it is not held";
	else if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		why = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
			: PQerrorMessage(nl->conn);
	else if (strcmp(PQgetvalue(res, 0, 0), "1"))
		why = "the catalogue's server no longer has it";
	if (why)
		say(err, errlen, "lost the store's lock", why);
	PQclear(res);
	return why ? -EIO : 0;
}

int netlock_check(struct netlock *nl, int byte, char *err, size_t errlen)
{
	if (byte < 0 || byte >= NBYTES)
		return -EINVAL;
	pthread_mutex_lock(&nl->lock);
	int r = check_locked(nl, byte, err, errlen);
	pthread_mutex_unlock(&nl->lock);
	return r;
}

int netlock_renew(struct netlock *nl, int byte, char *err, size_t errlen)
{
	if (byte < 0 || byte >= NBYTES)
		return -EINVAL;
	pthread_mutex_lock(&nl->lock);
	int r = check_locked(nl, byte, err, errlen);
	for (int b = 0; r && b < NBYTES; b++)
		if (b != byte && nl->held[b] != HELD_NONE) {
			/* Its holder relies on it: only it may find out. */
			say(err, errlen, "lost the store's lock", "other locks were held on its connection");
			r = -EBUSY;
		}
	if (r == -EIO) {
		memset(nl->held, 0, sizeof(nl->held));  /* the server dropped them all */
		PQreset(nl->conn);
		PGresult *res = PQstatus(nl->conn) == CONNECTION_OK
			? PQexec(nl->conn, "SET lock_timeout = '" WAIT_SLICE "'") : NULL;
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			say(err, errlen, "lost the store's lock and cannot connect again",
			    PQerrorMessage(nl->conn));
		else if ((r = call(nl, "pg_try_advisory_lock_shared", byte, err, errlen)) == 1)
			nl->held[byte] = HELD_SHARED;
		else if (r == 0)
			r = -EAGAIN;
		PQclear(res);
	}
	pthread_mutex_unlock(&nl->lock);
	return r;
}
