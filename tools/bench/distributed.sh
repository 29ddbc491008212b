#!/bin/bash
# tools/bench/distributed.sh - the distributed store (issue 13) against the
# embedded one: the rows of tools/bench.sh's section "Distributed store",
# also runnable alone.  Prints one TSV row a line:
#   metric <TAB> PG+RADOS <TAB> embedded <TAB> unit <TAB> goal <TAB> reached
#
#   distributed.sh RUNS
#       Starts PostgreSQL and a one-node memstore Ceph with the system
#       tests' own helpers (tests/system/lib/pg.sh, ceph.sh), then RUNS
#       times: imports the shared corpus (DCMFS_CORPUS) into a fresh
#       embedded store (index.db, data in the folder) and into a fresh
#       store whose catalogue is in PostgreSQL and whose data is in a RADOS
#       pool (a new database and a new pool each run), and reads every file
#       of each through a fresh read-only mount, the first read.  Medians.
#
# Not a timed test: numbers only.  Every server, mount and daemon it starts
# is stopped at exit, also on failure (common.sh's and the helpers' exit
# cleanup).  Needs BUILD (the build folder).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export BUILD=${BUILD:-$ROOT/build}
RUNS=${1:-1}
[ -n "${DCMFS_CORPUS:-}" ] && export DCMFS_TEST_CORPUS=$DCMFS_CORPUS
# The test library gives a scratch folder $T, the exit cleanup and the
# mount helpers; its skip_all would print TAP, so it is replaced.
. "$ROOT/tests/system/lib/common.sh"
. "$ROOT/tests/system/lib/pg.sh"
. "$ROOT/tests/system/lib/ceph.sh"
die() { echo "distributed.sh: $*" >&2; exit 2; }
skip_all() { die "$*"; }
need_pg
need_ceph
need_fuse
[ -n "$CORPUS" ] || die "no corpus (DCMFS_CORPUS)"

pg_start dcmfs >"$T/pg.out" 2>&1 || { cat "$T/pg.out" >&2; die "PostgreSQL did not start"; }
ceph_start dcmfs >"$T/ceph.out" 2>&1 || { cat "$T/ceph.out" >&2; die "Ceph did not start"; }

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
calc() { awk "BEGIN{printf \"%.${2:-1}f\", $1}"; }
IN_BYTES=$(find "$CORPUS" -type f ! -name '*.md' ! -name '*.tsv' -printf '%s\n' | awk '{s+=$1} END{print s}')
IN_N=$(find "$CORPUS" -type f ! -name '*.md' ! -name '*.tsv' | wc -l)
find "$CORPUS" -type f -print0 | xargs -0 cat >/dev/null     # page cache warm for both

# run KIND STORE: import the corpus (exit 1 for its rejected files is
# fine), then read every file through a fresh read-only mount.  Appends
# seconds to IMP_KIND and READ_KIND; READ_BYTES gets the bytes read.
run() {
	local kind=$1 s=$2 a b st m=$T/mnt
	a=$(now)
	"$CTL" import -q "$s" "$CORPUS" >"$T/import.log" 2>&1
	st=$?
	b=$(now)
	[ $st -le 1 ] || { cat "$T/import.log" >&2; die "$kind: import exit status $st"; }
	eval "IMP_$kind+=(\$(awk \"BEGIN{print $b - $a}\"))"
	fs_mount "$s" "$m" -o ro || { cat "$T/dcmfs.log" >&2; die "$kind: mount failed"; }
	a=$(now)
	READ_BYTES=$(find "$m/patients" -type f -print0 | xargs -0 cat | wc -c)
	b=$(now)
	fs_umount "$m" >&2 || die "$kind: unmount failed"
	eval "READ_$kind+=(\$(awk \"BEGIN{print $b - $a}\"))"
}

IMP_emb=() READ_emb=() IMP_dist=() READ_dist=()
createdb_ascii() { createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C "$1"; }
for ((i = 1; i <= RUNS; i++)); do
	"$CTL" init "$T/emb$i" >/dev/null || die "init of the embedded store"
	run emb "$T/emb$i"
	rm -rf "$T/emb$i"
	# A new database and pool each run: a fresh catalogue and an empty pool.
	createdb_ascii "bench$i" >&2 && ceph_pool_create "bench$i" >"$T/pool.out" 2>&1 &&
		"$CTL" init "$T/dist$i" --catalog "postgresql:///bench$i?host=$PG_DIR" \
			--data "rados://bench$i?conf=$CEPH_CONF" >/dev/null ||
		die "init of the PG+RADOS store"
	run dist "$T/dist$i"
	rm -rf "$T/dist$i"
done

mb() { calc "$1 / $(median "${@:2}") / 1e6" 1; }
printf '%s\t%s\t%s\t%s\t%s\t%s\n' \
	"import of the shared corpus ($IN_N files, $(calc "$IN_BYTES/1e6" 0) MB; PG+RADOS vs embedded)" \
	"$(mb "$IN_BYTES" "${IMP_dist[@]}")" "$(mb "$IN_BYTES" "${IMP_emb[@]}")" "MB/s" - - \
	"first read through a fresh read-only mount ($(calc "$READ_BYTES/1e6" 0) MB under /patients)" \
	"$(mb "$READ_BYTES" "${READ_dist[@]}")" "$(mb "$READ_BYTES" "${READ_emb[@]}")" "MB/s" - - \
	"servers' start (PostgreSQL; Ceph to first write)" "$PG_START_SECONDS; $CEPH_START_SECONDS" - s - -
