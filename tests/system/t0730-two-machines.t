#!/bin/bash
# t0730: two machines on one archive (issue 13): a store whose catalogue is
# in PostgreSQL and whose data is in a RADOS pool, held by two STORE
# folders A and B with the same store.conf, each with its own read-write
# mount (two daemons, as on two machines).  Files imported through A and
# through B read back byte-identical through both mounts; a file imported
# through A shows in B's mount, and one copied into B's /incoming in A's,
# within 2 s; a file removed through B (unlink on its mount, dcmfsctl rm)
# leaves A's mount within 2 s; after an import through A killed with -9,
# verify through B is clean and the import run again completes; imports
# through A and B at the same moment both succeed; gc through B during an
# import through A that shares a removed patient's blobs again waits for
# it and frees nothing the import kept; and t0200's checks (cmp, counts, stat sizes, ranges read with seeks, mmap)
# hold on both mounts of the distributed store.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
. "$LIB/ceph.sh"
need_pg
need_ceph
need_fuse
[ -n "$CORPUS" ] || skip_all "no ../shared/corpus: the test splits it between the two machines"
SER=$CORPUS/real/series
[ -d "$SER/ct_ge_hispeed_head_tilt_28sl" ] || skip_all "no CT series in ../shared/corpus"

check "PostgreSQL starts in its own folder" pg_start dcmfs
check "Ceph (one mon, one memstore osd) starts in its own folder" ceph_start dcmfs
diag "PostgreSQL usable in $PG_START_SECONDS s, Ceph in $CEPH_START_SECONDS s"
# A database that keeps text as bytes, as catalog_pg.h asks.
check "a database of encoding SQL_ASCII is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_bytes
PG_URL="postgresql:///dcmfs_bytes?host=$PG_DIR"

A=$T/A B=$T/B MA=$T/mnt-a MB=$T/mnt-b
check "init A --catalog --data: the catalogue in PostgreSQL, the data in the pool" \
	eval '"$CTL" init "$A" --catalog "$PG_URL" --data "$CEPH_URL" >/dev/null'
check "B is a folder holding a copy of A's store.conf" \
	eval 'mkdir -p "$B" && cp "$A/store.conf" "$B/store.conf" && "$CTL" stats "$B" >/dev/null'

# What each machine imports: A the single images of real/, B variety/ and
# malformed/ (rejected files are fine: exit 1), then the series below.
mkdir -p "$T/in-a" "$T/in-b" "$T/live"
for d in "$CORPUS"/real/*; do
	[ "$d" = "$SER" ] || cp -r "$d" "$T/in-a/"
done
cp -r "$CORPUS/variety" "$CORPUS/malformed" "$T/in-b/"
# For the live checks: two slices of a CT series (imported whole later).
cp "$SER/ct_ge_hispeed_head_tilt_28sl"/2[78].dcm "$T/live/"

fs_mount_or_bail "$A" "$MA"
fs_mount_or_bail "$B" "$MB"
imported_le1() {
	"$CTL" import -q "$@" >"$T/import.log" 2>&1
	local st=$?
	[ $st -le 1 ] || { echo "import exit status $st"; cat "$T/import.log"; return 1; }
}
check "import of real/ (less the series) through A" imported_le1 "$A" "$T/in-a"
check "import of variety/ and malformed/ through B" imported_le1 "$B" "$T/in-b"
check "A and B count the same instances ($(instances "$A"))" \
	eval '[ "$(instances "$A")" = "$(instances "$B")" ] && [ "$(instances "$A")" -gt 0 ]'

# match_all MNT: every file under MNT/patients has its original's bytes,
# and there are as many as the store shows.
match_all() {
	local m=$1 map=$T/map.${1##*/} n want
	fs_match_originals "$m/patients" "$T/in-a" "$T/in-b" "$T/live" "$SER" >"$map" || return 1
	if grep -q '^MISSING' "$map"; then grep '^MISSING' "$map" | head; return 1; fi
	n=$(wc -l <"$map")
	want=$(shown_instances "$A")
	[ "$n" = "$want" ] || { echo "$n files in $m/patients, the store shows $want"; return 1; }
	echo "# $n files"
}
check "every file reads back byte-identical through A's mount" match_all "$MA"
check "every file reads back byte-identical through B's mount" match_all "$MB"

# Live visibility: each mount follows the catalogue's change feed.
within_2s() { local i; for ((i = 0; i < 20; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
listing() { find "$1/patients" -type f | sort; }
count_is() { [ "$(find "$1/patients" -type f | wc -l)" = "$2" ]; }
live=("$T/live/27.dcm" "$T/live/28.dcm")
listing "$MB" >"$T/b.before"
nb=$(wc -l <"$T/b.before")
check "import of one new file through A" \
	eval 'imported_le1 "$A" "${live[0]}" && grep -q "^imported: 1 new" "$T/import.log"'
check "a file imported through A shows in B's mount within 2 s" within_2s count_is "$MB" $((nb + 1))
new=$(listing "$MB" | comm -13 "$T/b.before" -)
check "and reads back byte-identical there" cmp "$new" "${live[0]}"

listing "$MA" >"$T/a.before"
na=$(wc -l <"$T/a.before")
check "cp of a file into B's /incoming succeeds" cp "${live[1]}" "$MB/incoming/"
check "it shows in A's mount within 2 s" within_2s count_is "$MA" $((na + 1))
new=$(listing "$MA" | comm -13 "$T/a.before" -)
check "and reads back byte-identical there" cmp "$new" "${live[1]}"

# Removal through B: unlink on its mount, and dcmfsctl rm B --instance.
no_stat() { ! stat "$1" >/dev/null 2>&1; }
n0=$(shown_instances "$A")
gone=$(sed -n 1p "$T/a.before")
check "unlink of a file on B's mount" rm "$MB/${gone#"$MA/"}"
check "it leaves A's mount within 2 s" within_2s no_stat "$gone"
gone=$(sed -n 2p "$T/a.before")
check "dcmfsctl rm B --instance" eval '"$CTL" rm "$B" --instance "$(basename "$gone" .dcm)" >/dev/null'
check "it leaves A's mount within 2 s" within_2s no_stat "$gone"
check "and both leave the catalogue: /patients shows 2 files less ($n0 before)" [ "$(shown_instances "$A")" = $((n0 - 2)) ]

# An import through A killed with -9 in the middle (the two larger
# series), then verify through B, and the import run again through A.
# It is killed once 20 of its instances are in the catalogue, so that it
# dies in the middle however fast the machine is.
n0=$(instances "$A")
big=$(find "$SER/ct_philips_ingenuity_phantom_54sl" "$SER/mr_ge_3d_t1_mprage_130sl" -type f | wc -l)
"$CTL" import -q "$A" "$SER/ct_philips_ingenuity_phantom_54sl" "$SER/mr_ge_3d_t1_mprage_130sl" \
	>/dev/null 2>&1 &
pid=$!
CLEANUP_PIDS+=("$pid")
for ((i = 0; i < 600; i++)); do
	[ "$(pg_psql -c 'SELECT count(*) FROM instances')" -ge $((n0 + 20)) ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
st=$?
check "an import through A is killed with -9 in the middle (exit $st, $(($(instances "$A") - n0)) of $big new instances in)" \
	[ "$st" = 137 ]
check "verify through B is clean after the killed import" "$CTL" verify "$B"
check "the import run again through A completes" imported_le1 "$A" "$SER"
check "verify through A is clean" "$CTL" verify "$A"

# Imports through A and B at the same moment, of generated patients (A's
# and B's apart; another set for the gc below).
GEN=$BUILD/dcmfs-gencorpus
"$GEN" "$T/gen" --patients 8 --small --max-instances 600 --dup-rate 0 -q >/dev/null 2>&1 ||
	helper_failed "dcmfs-gencorpus found no seeds"
# The gc's import is larger, so that gc surely asks while it runs.
"$GEN" "$T/gen2" --seed 2 --patients 20 --small --max-instances 1500 --dup-rate 0 -q \
	>/dev/null 2>&1 || helper_failed "dcmfs-gencorpus found no seeds"
mkdir -p "$T/gen-a" "$T/gen-b"
i=0
for d in "$T/gen/patients"/*; do
	mv "$d" "$T/gen-$( ((i % 2)) && echo b || echo a)/"
	i=$((i + 1))
done
mv "$T/gen2/patients" "$T/gen-c"
n0=$(instances "$A")
ng=$(find "$T/gen-a" "$T/gen-b" -type f | wc -l)
"$CTL" import -q "$A" "$T/gen-a" >"$T/import-a.log" 2>&1 &
pa=$!
"$CTL" import -q "$B" "$T/gen-b" >"$T/import-b.log" 2>&1 &
pb=$!
CLEANUP_PIDS+=("$pa" "$pb")
wait $pa
sa=$?
wait $pb
sb=$?
check "imports through A and B at the same moment both succeed (exit $sa, $sb)" \
	[ "$sa" = 0 ] && [ "$sb" = 0 ]
[ "$sa" = 0 ] || diag <"$T/import-a.log"
[ "$sb" = 0 ] || diag <"$T/import-b.log"
check "they stored every file ($ng)" [ "$(instances "$A")" = $((n0 + ng)) ]
check "verify through A is clean after them" "$CTL" verify "$A"

# gc through B while an import through A shares again the blobs of a
# patient removed through B (unused until the import commits them).
ingest_locks() {
	pg_psql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND
		classid = 1684237644 AND objid = 1 AND objsubid = 2 AND granted = $1 AND mode = '$2'"
}
until_() { local i; for ((i = 0; i < $1; i++)); do "${@:2}" && return 0; sleep 0.1; done; return 1; }
import_holds() { [ "$(ingest_locks true ShareLock)" -ge 1 ]; }
gc_waits() { [ "$(ingest_locks false ExclusiveLock)" -ge 1 ]; }
again=$(ls "$T/gen-a" | head -1)
check "a patient of A's import is removed through B" \
	eval '"$CTL" rm "$B" --patient "$again" >/dev/null'
{ "$CTL" import -q "$A" "$T/gen-a/$again" "$T/gen-c" >"$T/import-c.log" 2>&1
  st=$?; date +%s.%N >"$T/import-c.end"; exit $st; } &
pa=$!
CLEANUP_PIDS+=("$pa")
check "the import through A holds the ingest lock" until_ 200 import_holds
{ "$CTL" gc "$B" >"$T/gc.log" 2>&1; st=$?; date +%s.%N >"$T/gc.end"; exit $st; } &
pg=$!
CLEANUP_PIDS+=("$pg")
gc_waited=0
until_ 100 gc_waits && gc_waited=1
wait $pa
sa=$?
wait $pg
sg=$?
# The import may end before gc asks; then gc does not wait, and that is fine.
ended_after() { local a b; read -r a <"$1" && read -r b <"$2" && awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > b) }'; }
check "the import through A succeeds" [ "$sa" = 0 ]
[ "$sa" = 0 ] || diag <"$T/import-c.log"
check "gc through B succeeds" [ "$sg" = 0 ]
[ "$sg" = 0 ] || diag <"$T/gc.log"
# PostgreSQL showed gc's exclusive request waiting behind the import's
# shared lock: that is the order.  (The processes' end times are no proof:
# the import drops its lock at its last commit, then prints its summary and
# exits, which under ASan's leak check can take longer than gc's whole run.)
check "gc waited for the import's ingest lock (waited: $gc_waited)" [ $gc_waited = 1 ]
ended_after "$T/gc.end" "$T/import-c.end" ||
	diag "gc's process ended before the import's (after the import's last commit)"
check "verify through B is clean after gc" "$CTL" verify "$B"

# t0200's core checks against the distributed store, through both mounts
# (the generated patients among them: nothing gc freed is missing).
fs_match_originals "$MA/patients" "$T/in-a" "$T/in-b" "$T/live" "$SER" "$T/gen-a" "$T/gen-b" \
	"$T/gen-c" >"$T/map"
check "every file under A's /patients has an original with its bytes" \
	eval '! grep "^MISSING" "$T/map"'
want=$(shown_instances "$A")
all=$(instances "$A")
for m in "$MA" "$MB"; do
	side=${m##*-}
	sed "s|^$MA/|$m/|" "$T/map" >"$T/map.$side"
	bad=0
	while IFS=$'\t' read -r f o; do
		[ "$f" = MISSING ] && continue
		cmp -s "$f" "$o" || { echo "# differs: $f $o"; bad=$((bad + 1)); }
	done <"$T/map.$side"
	check "${side^^}: cmp finds every file equal to its original" [ "$bad" = 0 ]
	n=$(find "$m/patients" -type f | wc -l)
	check "${side^^}: find counts $want files in /patients ($n)" [ "$n" = "$want" ]
	n=$(find "$m/versions" -type f | wc -l)
	check "${side^^}: find counts $all files in /versions ($n)" [ "$n" = "$all" ]
	check "${side^^}: stat sizes, ranges read with seeks and mmap equal the originals'" $PY - "$T/map.$side" <<-'PY'
	import mmap, os, random, sys
	pairs = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if not l.startswith('MISSING')]
	bad = 0
	for f, o in pairs:
	    if os.stat(f).st_size != os.stat(o).st_size:
	        print('# size differs', f); bad += 1
	pairs.sort(key=lambda p: -os.path.getsize(p[1]))
	rnd = random.Random(730)
	for f, o in pairs[:4] + rnd.sample(pairs, min(8, len(pairs))):
	    size = os.path.getsize(o)
	    with open(f, 'rb', buffering=0) as a, open(o, 'rb') as b:
	        for _ in range(100):
	            off = rnd.randrange(0, size + 10)
	            n = rnd.choice([1, 17, 4096, 65536, 300000, 1 << 20])
	            a.seek(off); b.seek(off)
	            if a.read(n) != b.read(n):
	                print('# differs', f, off, n); bad += 1; break
	for f, o in pairs[:3] + pairs[-3:]:
	    if os.path.getsize(f) == 0: continue
	    with open(f, 'rb') as a:
	        m = mmap.mmap(a.fileno(), 0, prot=mmap.PROT_READ)
	        if m[:] != open(o, 'rb').read():
	            print('# mmap differs', f); bad += 1
	        m.close()
	sys.exit(bad != 0)
	PY
done
check "unmount A" fs_umount "$MA"
check "unmount B" fs_umount "$MB"
done_testing
