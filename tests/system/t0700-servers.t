#!/bin/bash
# t0700: the test servers of the distributed store (issue 13) start, take
# writes and give them back (psql, rados, and a C program linked with libpq
# and librados), and leave nothing running or on disk once stopped.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
. "$LIB/ceph.sh"
need_pg
need_ceph
PROBE=$BUILD/tests/tools/dcmfs-servers-probe
[ -x "$PROBE" ] || skip_all "no $PROBE: run make all"

check "PostgreSQL starts in its own folder" pg_start dcmfs
diag "PostgreSQL ready in $PG_START_SECONDS s"
check "PostgreSQL answers" pg_ready
check "it listens on its Unix socket only (no TCP)" \
	eval '[ -S "$PG_DIR/.s.PGSQL.5432" ] && [ "$(pg_psql -c "show listen_addresses")" = "" ]'
check "a row written through psql reads back" \
	eval 'pg_psql -c "create table t (id bigint primary key, v text)" -c "insert into t values (7, '"'dcmfs'"')" &&
	      [ "$(pg_psql -c "select v from t where id = 7")" = dcmfs ]'

check "Ceph (one mon, one memstore osd) starts in its own folder" ceph_start dcmfs
diag "Ceph usable in $CEPH_START_SECONDS s"
check "the cluster's files are all inside its folder" \
	eval '[ -S "$CEPH_DIR/run/mon.a.asok" ] && [ -S "$CEPH_DIR/run/osd.0.asok" ] && [ -s "$CEPH_DIR/keyring" ]'
head -c 300000 /dev/urandom >"$T/object"
check "an object written through rados put reads back with rados get" \
	eval 'ceph_rados put obj "$T/object" && ceph_rados get obj "$T/object.back" && cmp "$T/object" "$T/object.back"'
check "the C probe (libpq, librados) writes and reads both servers" \
	"$PROBE" "$PG_URL" "$CEPH_CONF" "$CEPH_POOL"
check "the probe names what fails: a pool that does not exist" \
	exits_with 1 "rados pool" "$PROBE" "$PG_URL" "$CEPH_CONF" no-such-pool
check "the probe names what fails: a database that does not exist" \
	exits_with 1 "postgresql connect" "$PROBE" "postgresql:///nodb?host=$PG_DIR" "$CEPH_CONF" "$CEPH_POOL"

# A second pair at once: its own folders, socket, port and fsid.
first_pg_dir=$PG_DIR first_pg_pid=$PG_PID first_ceph_dir=$CEPH_DIR first_conf=$CEPH_CONF
first_url=$PG_URL first_watchdogs="$PG_WATCHDOG $CEPH_WATCHDOG"
first_pids="$PG_PID $(pg_children | tr '\n' ' ') $CEPH_MON_PID $CEPH_OSD_PID"
PG_DIR= PG_PID= PG_WATCHDOG= CEPH_DIR= CEPH_MON_PID= CEPH_OSD_PID= CEPH_WATCHDOG=
check "a second PostgreSQL starts beside the first" pg_start other
check "a second Ceph starts beside the first" ceph_start other
check "the two pairs share no folder, socket, port or fsid" \
	eval '[ "$PG_DIR" != "$first_pg_dir" ] && [ "$CEPH_DIR" != "$first_ceph_dir" ] &&
	      [ "$(grep -E "^(fsid|mon host)" "$CEPH_CONF")" != "" ] &&
	      ! grep -Fxf <(grep -E "^(fsid|mon host)" "$first_conf") <(grep -E "^(fsid|mon host)" "$CEPH_CONF")'
check "the second pair works on its own" "$PROBE" "$PG_URL" "$CEPH_CONF" "$CEPH_POOL"
check "the second cluster does not see the first one's object" fails ceph_rados stat obj
second_pids="$PG_PID $(pg_children | tr '\n' ' ') $CEPH_MON_PID $CEPH_OSD_PID"
second_dirs="$PG_DIR $CEPH_DIR"
pg_stop
ceph_stop

# The first pair again, then stopped.
PG_DIR=$first_pg_dir PG_PID=$first_pg_pid PG_URL=$first_url PG_WATCHDOG=${first_watchdogs% *}
CEPH_DIR=$first_ceph_dir CEPH_WATCHDOG=${first_watchdogs#* }
CEPH_MON_PID=$(echo "$first_pids" | awk '{print $(NF-1)}')
CEPH_OSD_PID=$(echo "$first_pids" | awk '{print $NF}')
check "the first pair still works after the second stopped" "$PROBE" "$PG_URL" "$first_conf" dcmfs
check "the first pair's PostgreSQL still has its row" eval '[ "$(pg_psql -c "select v from t where id = 7")" = dcmfs ]'
pg_stop
ceph_stop

# gone: none of PIDS runs and none of the folders exists.
gone() {
	local pids=$1 p d
	shift
	for p in $pids; do
		kill -0 "$p" 2>/dev/null && { echo "pid $p still runs: $(ps -o args= -p "$p")"; return 1; }
	done
	for d in "$@"; do
		[ -e "$d" ] && { echo "$d is still there"; return 1; }
	done
	return 0
}
check "after the stops no server process runs and no folder is left" \
	gone "$first_pids $second_pids" "$first_pg_dir" "$first_ceph_dir" $second_dirs

# A test killed with SIGKILL mid-way: its watchdog stops its servers.
cat >"$T/killed.t" <<INNER
. "$LIB/common.sh"
. "$LIB/pg.sh"
. "$LIB/ceph.sh"
pg_start && ceph_start || exit 1
echo "\$PG_DIR \$CEPH_DIR \$PG_PID \$(pg_children | tr '\n' ' ') \$CEPH_MON_PID \$CEPH_OSD_PID" >"$T/killed.info"
exec sleep 600     # the pid killed below
INNER
bash "$T/killed.t" >"$T/killed.out" 2>&1 &
killed=$!
CLEANUP_PIDS+=("$killed")
for ((i = 0; i < 600; i++)); do
	[ -s "$T/killed.info" ] && break
	kill -0 "$killed" 2>/dev/null || break
	sleep 0.1
done
check "a test that starts both servers got them up" test -s "$T/killed.info"
kill -9 "$killed"
wait "$killed" 2>/dev/null
read -r k_pg_dir k_ceph_dir k_pids <"$T/killed.info"
left_behind() {
	for ((i = 0; i < 100; i++)); do
		gone "$k_pids" "$k_pg_dir" "$k_ceph_dir" >/dev/null && return 0
		sleep 0.1
	done
	gone "$k_pids" "$k_pg_dir" "$k_ceph_dir"
}
check "after that test is killed with SIGKILL, its servers and folders are gone within 10 s" left_behind

done_testing
