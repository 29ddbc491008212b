# pg.sh - a real PostgreSQL server for a system test, in a folder of its own.
#
# Source it after common.sh.  It gives a test
#   - need_pg: skip the test (with the reason) when PostgreSQL's server
#     programs are not installed (`make deps` installs them);
#   - pg_start [DBNAME]: initdb (--auth=trust) and pg_ctl start a server in a
#     new folder $PG_DIR, listening only on a Unix socket in that folder (no
#     TCP), and create the database DBNAME (default "dcmfs").  It sets
#     PG_URL (the connection string the store takes,
#     postgresql:///DBNAME?host=$PG_DIR), PG_PID (the postmaster) and
#     PG_START_SECONDS.  Returns non-zero, with the server's log as
#     comments, when the server does not come up;
#   - pg_ready: the server answers a query;
#   - pg_psql ARGS...: psql on the test's database, quiet, stopping at the
#     first error;
#   - pg_stop: stop the server by its pid (SIGQUIT, then SIGKILL to it and
#     its children) and remove $PG_DIR.  It also runs at exit, so a failing
#     test leaves nothing behind; a test killed with SIGKILL is cleaned up
#     by a watchdog (see server_watchdog) within a second or two.
#
# The server refuses to run as root: as root the folder belongs to nobody
# and the server programs run as nobody (setpriv); the database's superuser
# is named after the user running the test, so PG_URL needs no user name.
# Every server has its own folder and socket, so tests can run at once.

. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

PG_BIN=
for PG_BIN in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin ""; do
	[ -x "$PG_BIN/pg_ctl" ] && break
done
PG_DIR=
PG_URL=
PG_PID=
PG_WATCHDOG=
PG_START_SECONDS=

need_pg() {
	[ -n "$PG_BIN" ] || skip_all "no PostgreSQL server programs (/usr/lib/postgresql/*/bin/pg_ctl): run make deps"
	command -v psql >/dev/null || skip_all "no psql: run make deps"
}

# pg_as_owner COMMAND...: the command as the owner of $PG_DIR (nobody when
# the test runs as root).
pg_as_owner() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			env -i PATH=/usr/bin:/bin LANG=C.UTF-8 "$@"
	else
		"$@"
	fi
}

pg_start() {
	local db=${1:-dcmfs} t0 t1 i
	t0=$(date +%s.%N)
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dcmfs-pg.XXXXXX") || return 1
	at_exit pg_stop
	[ "$(id -u)" = 0 ] && chown nobody:nogroup "$PG_DIR"
	pg_as_owner "$PG_BIN/initdb" --auth=trust --username="$(id -un)" \
		--encoding=UTF8 --locale=C --no-sync -D "$PG_DIR/data" \
		>"$PG_DIR/initdb.log" 2>&1 ||
		{ diag <"$PG_DIR/initdb.log"; return 1; }
	# The watchdog reads the postmaster's pid from its pid file.
	PG_WATCHDOG=$(server_watchdog "$PG_DIR" "$PG_DIR/data/postmaster.pid")
	pg_as_owner "$PG_BIN/pg_ctl" start -w -t 30 -D "$PG_DIR/data" \
		-l "$PG_DIR/server.log" \
		-o "-c listen_addresses='' -c unix_socket_directories='$PG_DIR' -c port=5432" \
		>"$PG_DIR/pg_ctl.log" 2>&1 ||
		{ diag <"$PG_DIR/pg_ctl.log"; diag <"$PG_DIR/server.log"; return 1; }
	PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
	for ((i = 0; i < 100; i++)); do
		pg_ready && break
		sleep 0.1
	done
	createdb -h "$PG_DIR" "$db" >"$PG_DIR/createdb.log" 2>&1 ||
		{ diag <"$PG_DIR/createdb.log"; diag <"$PG_DIR/server.log"; return 1; }
	PG_URL="postgresql:///$db?host=$PG_DIR"
	t1=$(date +%s.%N)
	PG_START_SECONDS=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
}

pg_ready() {
	[ -n "$PG_DIR" ] && psql -h "$PG_DIR" -d postgres -Atqc 'select 1' >/dev/null 2>&1
}

pg_psql() {
	psql -X -q -v ON_ERROR_STOP=1 -At "$PG_URL" "$@"
}

# pg_children: the postmaster's child processes (its backends and workers).
pg_children() {
	[ -n "$PG_PID" ] && ps -o pid= --ppid "$PG_PID" 2>/dev/null | tr -d ' '
}

pg_stop() {
	local kids i
	if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
		kids=$(pg_children)
		kill -QUIT "$PG_PID" 2>/dev/null     # immediate shutdown
		for ((i = 0; i < 50; i++)); do
			kill -0 "$PG_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$PG_PID" $kids 2>/dev/null
	fi
	[ -n "$PG_WATCHDOG" ] && kill "$PG_WATCHDOG" 2>/dev/null
	[ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
	PG_PID= PG_WATCHDOG= PG_DIR=
	return 0
}
