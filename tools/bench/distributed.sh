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
#       of each through a fresh read-only mount, the first read; then,
#       on that mount, the metadata walks (find, ls -lR, warm).  Medians.
#       Last, the catalogue's own rate: dcmfs-gencorpus's small instances
#       imported into a store whose catalogue is PostgreSQL and whose data
#       is in its folder (so the catalogue is what bounds it), by one
#       import and by two at once (disjoint halves), against an index.db
#       store; and the server's CPU time an instance (postmaster and every
#       backend, from /proc), from which a primary's bound is projected.
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
	find "$m" >/dev/null                    # warm, then the walks
	local w0 w1 w2
	w0=$(now); NAMES=$(find "$m" | wc -l); w1=$(now)
	ls -lR "$m" >/dev/null; w2=$(now)
	eval "FIND_$kind+=($(awk "BEGIN{print $w1 - $w0}")) LSLR_$kind+=($(awk "BEGIN{print $w2 - $w1}"))"
	fs_umount "$m" >&2 || die "$kind: unmount failed"
	eval "READ_$kind+=(\$(awk \"BEGIN{print $b - $a}\"))"
}

IMP_emb=() READ_emb=() IMP_dist=() READ_dist=() FIND_emb=() FIND_dist=() LSLR_emb=() LSLR_dist=()
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
	"find over the mount, warm ($NAMES names)" \
	"$(calc "$(median "${FIND_dist[@]}") * 1000" 0)" "$(calc "$(median "${FIND_emb[@]}") * 1000" 0)" ms - - \
	"ls -lR over the mount, warm" \
	"$(calc "$(median "${LSLR_dist[@]}") * 1000" 0)" "$(calc "$(median "${LSLR_emb[@]}") * 1000" 0)" ms - - \
	"servers' start (PostgreSQL; Ceph to first write)" "$PG_START_SECONDS; $CEPH_START_SECONDS" - s - -

# ---- the catalogue's rate ----
GEN=$BUILD/dcmfs-gencorpus
RATE_N=${BENCH_CATALOG_N:-6000}
"$GEN" "$T/gen" --patients 24 --small --max-instances "$RATE_N" --dup-rate 0 --seed 7 -q \
	>/dev/null 2>&1 || die "dcmfs-gencorpus found no seeds"
ls "$T/gen/patients" | sort >"$T/pl"
half=$(($(wc -l <"$T/pl") / 2))
mkdir -p "$T/h1" "$T/h2"
head -n "$half" "$T/pl" | while read -r p; do mv "$T/gen/patients/$p" "$T/h1/"; done
tail -n +"$((half + 1))" "$T/pl" | while read -r p; do mv "$T/gen/patients/$p" "$T/h2/"; done
GEN_N=$(find "$T/h1" "$T/h2" -type f | wc -l)
find "$T/h1" "$T/h2" -type f -print0 | xargs -0 cat >/dev/null
# The server's CPU ticks so far: the postmaster, its live children, and
# (cutime/cstime) the backends it has reaped.
pg_ticks() {
	local p t=0
	for p in $PG_PID $(pg_children); do
		[ -r /proc/$p/stat ] || continue
		t=$((t + $(awk '{sub(/.*\) /, ""); print $12 + $13 + $14 + $15}' /proc/$p/stat)))
	done
	echo $t
}
HZ=$(getconf CLK_TCK)
# rate KIND STORE WAYS: instances/s of importing h1+h2 (WAYS 1: one import
# of both; 2: one import each, at once).  Sets CPU_MS to the server's CPU
# milliseconds an instance.
rate() {
	local s=$2 a b t0 t1 p1 p2 st=0
	t0=$(pg_ticks)
	a=$(now)
	if [ "$3" = 1 ]; then
		"$CTL" import -q "$s" "$T/h1" "$T/h2" >"$T/rate.log" 2>&1 || st=$?
	else
		"$CTL" import -q "$s" "$T/h1" >"$T/rate1.log" 2>&1 & p1=$!
		"$CTL" import -q "$s" "$T/h2" >"$T/rate2.log" 2>&1 & p2=$!
		wait $p1 || st=$?
		wait $p2 || st=$?
	fi
	b=$(now)
	t1=$(pg_ticks)
	[ $st -le 1 ] || { cat "$T"/rate*.log >&2; die "$1: import exit status $st"; }
	RATE=$(calc "$GEN_N / ($b - $a)" 0)
	CPU_MS=$(calc "($t1 - $t0) * 1000 / $HZ / $GEN_N" 3)
}
for ways in 1 2; do
	"$CTL" init "$T/re$ways" >/dev/null || die "init of the embedded store"
	rate emb "$T/re$ways" $ways
	emb_rate=$RATE
	createdb_ascii "rate$ways" >&2 &&
		"$CTL" init "$T/rp$ways" --catalog "postgresql:///rate$ways?host=$PG_DIR" >/dev/null ||
		die "init of the PG store"
	rate pg "$T/rp$ways" $ways
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' \
		"catalogue rate: $GEN_N small instances, $ways import(s) at once (PG catalogue, folder data vs embedded)" \
		"$RATE" "$emb_rate" "instances/s" - - \
		"  PostgreSQL server CPU an instance ($ways import(s))" "$CPU_MS" - "ms" - -
	[ $ways = 2 ] && printf '%s\t%s\t%s\t%s\t%s\t%s\n' \
		"  a primary's bound from that CPU alone (per core; x cores for the machine)" \
		"$(calc "1000 / $CPU_MS" 0)" - "instances/s/core" - -
	rm -rf "$T/re$ways" "$T/rp$ways"
done
