/*
 * pg-commit-lost.c - an LD_PRELOAD shim that loses the answer to one
 * COMMIT sent through libpq, as a catalogue server that crashes or a
 * network that breaks at that moment would: the tests of the commit's
 * fate (t0726) prove that a batch whose commit landed unanswered keeps
 * every byte its rows name, and one that did not leaves nothing.
 *
 * Set in the environment of the program under test:
 *   PG_COMMIT_LOST=MODE:N  the Nth "COMMIT" of the process (counted over
 *                          every connection) loses its answer; MODE is
 *     after  the server commits, then the connection breaks;
 *     before the server rolls back instead, then the connection breaks;
 *     down   as after, and the server is not reached again by this
 *            process (PQreset does nothing).
 * The connection "breaks" by putting a socket whose peer is closed in
 * place of its own once the server's answer has arrived: libpq reads
 * end-of-file, as from a server that went away, and the server sees its
 * client go.  When it
 * fires, the shim says so on stderr ("pg-commit-lost: ...").
 * Unset: every call goes through unchanged.
 */
#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>

static int commits;     /* COMMITs seen so far */
static int down;        /* mode down has fired */

static int (*real_send(void))(PGconn *, const char *)
{
	static int (*send)(PGconn *, const char *);
	if (!send)
		send = (int (*)(PGconn *, const char *))dlsym(RTLD_NEXT, "PQsendQuery");
	return send;
}

/* The server's answer is in the socket: break the connection under libpq. */
static void break_after_answer(PGconn *conn)
{
	int fd = PQsocket(conn);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	poll(&p, 1, 10000);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		close(sv[1]);
		dup2(sv[0], fd);
		close(sv[0]);
	}
}

int PQsendQuery(PGconn *conn, const char *query)
{
	const char *spec = getenv("PG_COMMIT_LOST");
	if (!spec || strcmp(query, "COMMIT"))
		return real_send()(conn, query);
	const char *colon = strchr(spec, ':');
	if (!colon || ++commits != atoi(colon + 1))
		return real_send()(conn, query);
	int before = !strncmp(spec, "before:", 7);
	down = !strncmp(spec, "down:", 5);
	int r = real_send()(conn, before ? "ROLLBACK" : "COMMIT");
	if (r) {
		break_after_answer(conn);
		fprintf(stderr, "pg-commit-lost: the answer to COMMIT %d is lost (%s)\n", commits,
			before ? "rolled back" : down ? "committed, server gone" : "committed");
	}
	return r;
}

void PQreset(PGconn *conn)
{
	static void (*reset)(PGconn *);
	if (!reset)
		reset = (void (*)(PGconn *))dlsym(RTLD_NEXT, "PQreset");
	if (!down)
		reset(conn);
}
