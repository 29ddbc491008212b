#!/bin/bash
# t0723: the store's locks hold across machines when its catalogue is in
# PostgreSQL.  Two store folders, S1 and S2, hold copies of one store.conf
# (two machines; their STORE/lock files never meet): gc through S2 waits
# while an import through S1 holds the ingest lock, and ends after it;
# the blobs of a removed patient that the import shares again are not
# freed (verify is clean and every imported file reads back); a kill -9 of
# an importer lets a waiting gc go on within a few seconds; reindex through
# the mount holds the use lock there too.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
need_pg
need_fuse
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"
S1=$T/s1 S2=$T/s2 M=$T/mnt
"$GEN" "$T/big" --patients 20 --small --max-instances 1500 --dup-rate 0 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
first=$(ls "$T/big/patients" | head -1)
mkdir -p "$T/first/patients" && mv "$T/big/patients/$first" "$T/first/patients/"

check "PostgreSQL starts in its own folder" pg_start dcmfs
check "a database of encoding SQL_ASCII is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_bytes
PG_URL="postgresql:///dcmfs_bytes?host=$PG_DIR"
check "a store with its catalogue in PostgreSQL" \
	eval '"$CTL" init "$S1" --catalog "$PG_URL" >/dev/null'
# The second machine's folder: the same store.conf, nothing else shared.
mkdir -p "$S2"/{packs,blobs,shares,spool} &&
	cp "$S1/store.conf" "$S1/store.conf-required" "$S2/" || helper_failed "cannot make $S2"

# The ingest lock (store.h: byte 1) in the database: held (granted) or
# waited for (not granted), in which mode.
ingest_locks() {
	pg_psql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND
		classid = 1684237644 AND objid = 1 AND objsubid = 2 AND granted = $1 AND mode = '$2'"
}
until_() { local i; for ((i = 0; i < $1; i++)); do "${@:2}" && return 0; sleep 0.1; done; return 1; }
held_shared() { [ "$(ingest_locks true ShareLock)" -ge 1 ]; }
gc_waits() { [ "$(ingest_locks false ExclusiveLock)" -ge 1 ]; }

check "a patient imports through S1" "$CTL" import -q "$S1" "$T/first/patients"
pid=$(pg_psql -c "SELECT patient_id FROM patients LIMIT 1")
# (Through S1: a removal writes tombstones into the folder's packs.)
check "and is removed (its blobs are now unused)" eval '"$CTL" rm "$S1" --patient "$pid" >/dev/null'

# A long import through S1 that shares those blobs again, and gc through
# S2 started while it runs.
# Each writes the time it ended.
{ "$CTL" import -q "$S1" "$T/first/patients" "$T/big/patients" >"$T/import.log" 2>&1
  st=$?; date +%s.%N >"$T/import.end"; exit $st; } &
ipid=$!
check "the import holds the ingest lock in the database" until_ 200 held_shared
{ "$CTL" gc "$S2" >"$T/gc.log" 2>&1; st=$?; date +%s.%N >"$T/gc.end"; exit $st; } &
gpid=$!
check "gc through S2 waits for it" until_ 100 gc_waits
check "and is still running while the import is" eval 'kill -0 $gpid && kill -0 $ipid'
wait $ipid
ist=$?
check "the import succeeds" [ "$ist" = 0 ]
wait $gpid
gst=$?
check "gc succeeds after it" [ "$gst" = 0 ]
[ "$gst" = 0 ] || diag <"$T/gc.log"
ended_after() { local a b; read -r a <"$1" && read -r b <"$2" && awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > b) }'; }
check "gc ended after the import" ended_after "$T/gc.end" "$T/import.end"
check "verify through S1 is clean" "$CTL" verify "$S1"

fs_mount_or_bail "$S1" "$M" -o ro
fs_match_originals "$M/patients" "$T/big/patients" "$T/first/patients" >"$T/map"
check "every file in the mount has an original" eval '! grep -q "^MISSING" "$T/map"'
bad=0
while IFS=$'\t' read -r f o; do
	[ "$f" = MISSING ] && continue
	cmp -s "$f" "$o" || { echo "# differs: $f $o"; bad=$((bad + 1)); }
done <"$T/map"
check "every file reads back equal to its original" [ "$bad" = 0 ]
nf=$(find "$M/patients" -type f | wc -l)
no=$(find "$T/big/patients" "$T/first/patients" -type f | wc -l)
check "every imported file is there ($nf of $no)" [ "$nf" = "$no" ]
use_locks() {
	pg_psql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND
		classid = 1684237644 AND objid = 0 AND objsubid = 2 AND granted"
}
mount_holds_use() { [ "$(use_locks)" = 1 ]; }
check "the mount holds the use lock in the database" mount_holds_use
check "unmount" fs_umount "$M"

# A kill -9 of the importer drops its lock with its connection.
"$CTL" rm "$S1" --patient "$pid" >/dev/null
"$CTL" import -q "$S1" "$T/first/patients" "$T/big/patients" >"$T/import2.log" 2>&1 &
ipid=$!
check "a second import holds the ingest lock" until_ 200 held_shared
"$CTL" gc "$S2" >"$T/gc2.log" 2>&1 &
gpid=$!
check "gc through S2 waits for it" until_ 100 gc_waits
kill -9 $ipid
wait $ipid 2>/dev/null
check "gc ends within 5 s of the importer's kill -9" until_ 50 eval '! kill -0 $gpid'
wait $gpid
check "and succeeds" [ $? = 0 ]
check "verify through S1 is clean" "$CTL" verify "$S1"
done_testing
