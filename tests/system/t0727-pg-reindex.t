#!/bin/bash
# t0727: reindex of a store whose catalogue is in PostgreSQL rebuilds the
# catalogue from the packs and blob files, in place and atomically.  After
# imports and an rm, reindex gives back the same stats, the same listing,
# the same ids (no counter lower than before), and what an index.db store
# of the same files gives; verify is clean, every file reads back
# byte-identical, and an import after it takes ids above the old largest.
# The import log is kept, the old catalogue stays in schema dcmfs_old, the
# feed goes on 2 past its old seq.  A reindex killed with -9 at moments
# spread over it, or while its swap waits for a reader's lock, or cut by
# the server's immediate stop, leaves the old catalogue whole.  Reindex
# moves the catalogue into an empty database store.conf names, and over a
# damaged record names what the old catalogue had there.  With Ceph at
# hand, the same on a store whose data is in a RADOS pool.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
need_pg
need_samples
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"

check "PostgreSQL starts in its own folder" pg_start dcmfs
check "a database of encoding SQL_ASCII is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_bytes
PG_URL="postgresql:///dcmfs_bytes?host=$PG_DIR"

"$GEN" "$T/gen" --patients 6 --small --max-instances 1500 --dup-rate 0.3 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
"$GEN" "$T/later" --patients 2 --seed 7 --small --max-instances 40 --dup-rate 0 -q >/dev/null 2>&1
IN=("$T/gen" "$SAMPLES")
S=$T/pg L=$T/lite
check "init a PostgreSQL store" "$CTL" init "$S" --catalog "$PG_URL"
check "init an index.db store" "$CTL" init "$L"
for s in "$S" "$L"; do
	"$CTL" import -j 1 -q "$s" "${IN[@]}" >"$T/import.log" 2>&1
	rc=$?
	[ $rc -le 1 ] && ok "the files import into ${s##*/} (exit $rc)" ||
		{ not_ok "import into ${s##*/}: exit $rc"; diag <"$T/import.log"; }
done
study=$(pg_psql -c "SELECT study_uid FROM studies ORDER BY id LIMIT 1 OFFSET 2")
check "rm of a study on both stores" eval '"$CTL" rm "$S" --study "$study" >/dev/null &&
	"$CTL" rm "$L" --study "$study" >/dev/null'

# What must come back: stats (without the index's bytes), the listing,
# every row's id and name, the counters.
stats_of() {
	"$CTL" stats --json "$1" | $PY -c 'import json,sys; d=json.load(sys.stdin)
d.pop("index_bytes", None); print(json.dumps(d, sort_keys=True, indent=1))'
}
ls_of() { "$CTL" ls --json "$1" | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True, indent=1))'; }
q_ids="SELECT 'p', id, dirname, nchildren, mtime FROM patients UNION ALL
	SELECT 's', id, dirname, nchildren, mtime FROM studies UNION ALL
	SELECT 'e', id, dirname, nchildren, mtime FROM series UNION ALL
	SELECT 'i', id, sop_uid || '.v' || version, current, stored_at FROM instances ORDER BY 1, 2"
snapshot() {
	stats_of "$S" >"$T/stats.$1" && ls_of "$S" >"$T/ls.$1" &&
		pg_psql -c "$q_ids" >"$T/ids.$1" &&
		pg_psql -c "SELECT kind, next FROM counters ORDER BY kind" >"$T/counters.$1" &&
		pg_psql -c "SELECT coalesce(max(seq), 0) FROM changes" >"$T/seq.$1"
}
check "the store's state is noted" snapshot before
check "verify is clean before" "$CTL" verify "$S"
n_imports=$(pg_psql -c "SELECT count(*) FROM import_log")

check "reindex succeeds" eval '"$CTL" reindex "$S" >"$T/reindex.out" 2>&1'
diag <"$T/reindex.out"
check "reindex of the index.db store succeeds" eval '"$CTL" reindex "$L" >/dev/null'
snapshot after
check "verify is clean after" "$CTL" verify "$S"
check "stats are unchanged" diff "$T/stats.before" "$T/stats.after"
diff "$T/stats.before" "$T/stats.after" | head -20 | diag
check "ls --json is unchanged" diff "$T/ls.before" "$T/ls.after"
check "every folder and file has its id, name, count and time" diff "$T/ids.before" "$T/ids.after"
diff "$T/ids.before" "$T/ids.after" | head -20 | diag
stats_of "$L" >"$T/stats.lite"
check "stats equal the index.db store's" diff "$T/stats.lite" "$T/stats.after"
diff "$T/stats.lite" "$T/stats.after" | head -20 | diag
# mtimes are import times, and the two stores imported apart
no_mtime() { $PY -c 'import json,sys
print(json.dumps([{k: v for k, v in p.items() if k != "mtime_ns"} for p in json.load(open(sys.argv[1]))],
	sort_keys=True, indent=1))' "$1"; }
ls_of "$L" >"$T/ls.lite"
check "ls --json equals the index.db store's (but for import times)" \
	eval 'diff <(no_mtime "$T/ls.lite") <(no_mtime "$T/ls.after")'
# counters_not_lower A B: every kind of A has a counter in B at least as high
counters_not_lower() {
	join "$T/counters.$1" "$T/counters.$2" -t '|' -a 1 | awk -F'|' 'NF < 3 || $3 < $2 { print; bad = 1 } END { exit bad }'
}
check "no counter is lower than before ($(tr '\n' ' ' <"$T/counters.after"))" counters_not_lower before after
check "the import log is kept ($n_imports rows)" \
	[ "$(pg_psql -c "SELECT count(*) FROM import_log")" = "$n_imports" ]
check "the feed's seq goes on past the old one, after a gap ($(cat "$T/seq.before") -> $(cat "$T/seq.after"))" \
	[ "$(cat "$T/seq.after")" = $(($(cat "$T/seq.before") + 2)) ]
check "the old catalogue is kept in schema dcmfs_old" \
	[ "$(pg_psql -c "SELECT count(*) FROM dcmfs_old.instances")" = "$(grep -c '^i|' "$T/ids.before")" ]
check "no build schema is left" [ "$(pg_psql -c "SELECT count(*) FROM pg_namespace WHERE nspname='dcmfs_reindex'")" = 0 ]
# Files of the study removed are not asked for: the samples only.
check "every file reads back byte-identical" \
	eval '$PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$S" "$SAMPLES" >"$T/rt.out"'
tail -3 "$T/rt.out" | diag
max_before=$(pg_psql -c "SELECT max(id) FROM instances")
n_before=$(pg_psql -c "SELECT count(*) FROM instances")
"$CTL" import -q "$S" "$T/later" >"$T/later.log" 2>&1
check "an import after the reindex succeeds" eval '[ $? -le 1 ] && grep -q "^imported: [1-9]" "$T/later.log"'
n_new=$(( $(pg_psql -c "SELECT count(*) FROM instances") - n_before ))
check "its $n_new instances all take ids above the old largest ($max_before)" \
	[ "$(pg_psql -c "SELECT count(*) FROM instances WHERE id > $max_before")" = "$n_new" ]
check "verify is clean after that import" "$CTL" verify "$S"

# ---- kill -9 of a reindex, and the server's stop, part-way ----
snapshot whole
# building: the reindex's transaction has written (a backend with an xid)
building() { [ "$(pg_psql -c "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL
	AND pid <> pg_backend_pid() AND datname = current_database()")" -gt 0 ]; }
"$CTL" reindex "$S" >/dev/null 2>&1
t0=$(date +%s%N)
"$CTL" reindex "$S" >/dev/null 2>&1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
diag "a reindex of $(instances "$S") instances takes $ms ms here"
snapshot whole
still_whole() {
	snapshot now && diff -q "$T/stats.whole" "$T/stats.now" >/dev/null &&
		diff -q "$T/ids.whole" "$T/ids.now" >/dev/null &&
		diff -q "$T/counters.whole" "$T/counters.now" >/dev/null &&
		diff -q "$T/seq.whole" "$T/seq.now" >/dev/null
}
# After a kill: the old catalogue whole, or (the kill came after the
# commit, as the process was ending) the new one with the same rows; never
# a mix.  The snapshot follows the catalogue that is there.
whole_or_replaced() {
	still_whole && return 0
	diff -q "$T/stats.whole" "$T/stats.now" >/dev/null &&
		diff -q "$T/ids.whole" "$T/ids.now" >/dev/null || return 1
	diag "the reindex had committed before it was killed: the new catalogue, same rows"
	snapshot whole
}
for frac in 5 30 60 80 95; do
	"$CTL" reindex "$S" >/dev/null 2>&1 &
	pid=$!
	CLEANUP_PIDS+=("$pid")
	for ((i = 0; i < 500; i++)); do building && break; sleep 0.01; done
	sleep "$(awk -v ms=$ms -v f=$frac 'BEGIN { printf "%.3f", ms * f / 100000 }')"
	kill -9 "$pid" 2>/dev/null && killed=1 || killed=0
	wait "$pid" 2>/dev/null
	# the server ends the killed connection's transaction once it notices
	for ((i = 0; i < 300; i++)); do building || break; sleep 0.02; done
	if [ $killed = 1 ]; then
		check "after kill -9 at $frac% of a reindex, the old catalogue is whole" whole_or_replaced
	else
		# it ended first: the same rows, and the feed's seq 2 further on
		check "a reindex that ended before the kill at $frac% holds the same rows" \
			eval 'snapshot now && diff "$T/stats.whole" "$T/stats.now" && diff "$T/ids.whole" "$T/ids.now"'
		snapshot whole
	fi
done
check "verify is clean after the kills" "$CTL" verify "$S"
# The swap itself: a session reading the catalogue holds it back (its
# ALTER TABLE waits for the lock), and the reindex is killed right there.
pg_psql -c "BEGIN" -c "LOCK TABLE instances IN ACCESS SHARE MODE" -c "SELECT pg_sleep(60)" \
	>/dev/null 2>&1 &
holder=$!
CLEANUP_PIDS+=("$holder")
"$CTL" reindex "$S" >/dev/null 2>&1 &
pid=$!
CLEANUP_PIDS+=("$pid")
swap_waits() { [ "$(pg_psql -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'relation'
	AND datname = current_database()")" -gt 0 ]; }
for ((i = 0; i < 1500; i++)); do swap_waits && break; sleep 0.02; done
check "the reindex reaches its swap and waits there for the reader" swap_waits
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
for ((i = 0; i < 300; i++)); do building || break; sleep 0.02; done
check "killed there, it leaves the old catalogue whole" whole_or_replaced
pg_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%'
	AND pid <> pg_backend_pid()" >/dev/null
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
"$CTL" reindex "$S" >"$T/cut.out" 2>&1 &
pid=$!
CLEANUP_PIDS+=("$pid")
for ((i = 0; i < 500; i++)); do building && break; sleep 0.01; done
sleep "$(awk -v ms=$ms 'BEGIN { printf "%.3f", ms / 2000 }')"
pg_as_owner "$PG_BIN/pg_ctl" stop -m immediate -D "$PG_DIR/data" >/dev/null 2>&1
wait "$pid"
rc=$?
check "a reindex cut by the server's stop fails (exit $rc)" [ "$rc" != 0 ]
diag <"$T/cut.out"
check "the server starts again" pg_as_owner "$PG_BIN/pg_ctl" start -w -t 30 -D "$PG_DIR/data" \
	-l "$PG_DIR/server.log" \
	-o "-c listen_addresses='' -c unix_socket_directories='$PG_DIR' -c port=5432"
PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
check "the old catalogue is whole after the server's stop" whole_or_replaced
check "verify is clean after it" "$CTL" verify "$S"
check "a reindex after all that succeeds" eval '"$CTL" reindex "$S" >/dev/null'
snapshot last
check "... with the same stats and ids" \
	eval 'diff "$T/stats.whole" "$T/stats.last" && diff "$T/ids.whole" "$T/ids.last"'

# ---- into an empty database: the catalogue moved by a reindex ----
check "an empty database is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_moved
PG_URL="postgresql:///dcmfs_moved?host=$PG_DIR"
sed -i "s|^catalog = .*|catalog = $PG_URL|" "$S/store.conf"
check "reindex builds the catalogue in a database without one" eval '"$CTL" reindex "$S" >/dev/null'
snapshot moved
check "... with the same stats and ids" \
	eval 'diff "$T/stats.whole" "$T/stats.moved" && diff "$T/ids.whole" "$T/ids.moved"'
check "verify is clean there" "$CTL" verify "$S"

# ---- damage: the old catalogue, read beside the build, names what is lost ----
n_whole=$(instances "$S")
IFS='|' read -r uid pack off len < <(pg_psql -c "SELECT i.sop_uid, p.name, i.record_offset, i.record_len
	FROM instances i JOIN packs p ON p.id=i.record_pack ORDER BY i.id LIMIT 1 OFFSET 100")
$PY -c 'import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x10]))' "$S/packs/$pack" $((off + len / 2))
t0=$(date +%s)
"$CTL" reindex "$S" >"$T/damaged.out" 2>&1
rc=$?
check "reindex over a damaged record exits 1 in $(($(date +%s) - t0)) s" [ $rc = 1 ]
check "... naming the instance the old catalogue had there" grep -q "old index had instance $uid" "$T/damaged.out"
diag <"$T/damaged.out"
check "... and keeping the others ($((n_whole - 1)))" [ "$(instances "$S")" = $((n_whole - 1)) ]
check "... with the damage marker" [ -f "$S/DAMAGED" ]

# ---- the data in a RADOS pool ----
have_ceph=1
for p in ceph-mon ceph-osd ceph-authtool monmaptool ceph rados; do
	command -v $p >/dev/null || have_ceph=0
done
if [ $have_ceph = 1 ]; then
	. "$LIB/ceph.sh"
	check "Ceph (one mon, one memstore osd) starts in its own folder" ceph_start dcmfs
	check "a database for the RADOS store" \
		createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_rados
	PG_URL="postgresql:///dcmfs_rados?host=$PG_DIR"
	S=$T/rados
	check "init --catalog --data: catalogue in PostgreSQL, data in the pool" \
		"$CTL" init "$S" --catalog "$PG_URL" --data "$CEPH_URL"
	"$CTL" import -q "$S" "$SAMPLES" >"$T/import.log" 2>&1
	rc=$?
	[ $rc -le 1 ] && ok "the samples import (exit $rc)" || { not_ok "import exit $rc"; diag <"$T/import.log"; }
	snapshot rbefore
	killed_after 0.3 "$CTL" reindex "$S"
	for ((i = 0; i < 300; i++)); do building || break; sleep 0.02; done
	snapshot rkilled
	check "a reindex killed at 0.3 s leaves the old catalogue" \
		eval 'diff "$T/ids.rbefore" "$T/ids.rkilled" && diff "$T/stats.rbefore" "$T/stats.rkilled"'
	check "reindex from the pool succeeds" "$CTL" reindex "$S"
	snapshot rafter
	check "stats unchanged" diff "$T/stats.rbefore" "$T/stats.rafter"
	check "ids, names, counts and times unchanged" diff "$T/ids.rbefore" "$T/ids.rafter"
	check "no counter lower" counters_not_lower rbefore rafter
	check "every file reads back byte-identical" \
		eval '$PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$S" "$SAMPLES" >"$T/rt.out"'
	check "verify is clean" "$CTL" verify "$S"
else
	skip "no Ceph programs: the RADOS part is not run"
fi
done_testing
