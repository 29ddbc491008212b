#!/bin/bash
# t0724: an import whose lock connection to the catalogue's PostgreSQL is
# lost stops committing.  The server drops a lost session's advisory locks
# without telling the holder, and gc on another machine could then free the
# blobs the import shares: each batch checks its ingest lock right before
# it commits (store_ingest_check).  The backend of the import's lock
# connection is terminated mid-import: the import fails its batches with
# "lost the store's lock", commits nothing after that, verify is clean;
# run again, it completes and every file reads back.  A read-write mount
# whose use lock connection is lost logs it once and takes the lock again
# before its next write, which succeeds.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
need_pg
need_fuse
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"
S1=$T/s1 M=$T/mnt
"$GEN" "$T/big" --patients 20 --small --max-instances 1500 --dup-rate 0 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
# Kept back for the mount's /incoming.
live=$(ls "$T/big/patients" | head -1)
mkdir -p "$T/live" && mv "$T/big/patients/$live" "$T/live/" || helper_failed "cannot set files aside"
live=($(find "$T/live" -type f | head -2))

check "PostgreSQL starts in its own folder" pg_start dcmfs
check "a database of encoding SQL_ASCII is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_bytes
PG_URL="postgresql:///dcmfs_bytes?host=$PG_DIR"
check "a store with its catalogue in PostgreSQL" \
	eval '"$CTL" init "$S1" --catalog "$PG_URL" >/dev/null'

# The backend that holds the ingest lock (store.h: byte 1) shared.
lock_sql="FROM pg_locks WHERE locktype = 'advisory' AND classid = 1684237644
	AND objid = 1 AND objsubid = 2 AND granted AND mode = 'ShareLock'"
until_() { local i; for ((i = 0; i < $1; i++)); do "${@:2}" && return 0; sleep 0.1; done; return 1; }
held_shared() { [ "$(pg_psql -c "SELECT count(*) $lock_sql")" -ge 1 ]; }
instances() { pg_psql -c "SELECT count(*) FROM instances"; }
some_stored() { [ "$(instances)" -ge 1 ]; }

"$CTL" import "$S1" "$T/big/patients" >"$T/import.log" 2>&1 &
ipid=$!
check "the import holds the ingest lock in the database" until_ 200 held_shared
check "and has committed a batch" until_ 200 some_stored
check "its lock connection's backend is terminated" \
	eval '[ "$(pg_psql -c "SELECT count(pg_terminate_backend(pid)) $lock_sql")" = 1 ]'
wait $ipid
ist=$?
check "the import fails" [ "$ist" != 0 ]
check "saying it lost the store's lock" grep -q "lost the store's lock" "$T/import.log"
[ "$ist" != 0 ] || diag <"$T/import.log"
n1=$(instances)
sleep 0.5
check "nothing more is committed after it stopped ($n1 instances)" [ "$(instances)" = "$n1" ]
no=$(find "$T/big/patients" -type f | wc -l)
check "not every file is stored ($n1 of $no)" [ "$n1" -lt "$no" ]
check "verify is clean" "$CTL" verify "$S1"

check "the import run again succeeds" eval '"$CTL" import -q "$S1" "$T/big/patients" >"$T/import2.log" 2>&1'
check "verify is clean" "$CTL" verify "$S1"
fs_mount_or_bail "$S1" "$M" -o ro
fs_match_originals "$M/patients" "$T/big/patients" >"$T/map"
check "every file in the mount has an original" eval '! grep -q "^MISSING" "$T/map"'
bad=0
while IFS=$'\t' read -r f o; do
	[ "$f" = MISSING ] && continue
	cmp -s "$f" "$o" || { echo "# differs: $f $o"; bad=$((bad + 1)); }
done <"$T/map"
check "every file reads back equal to its original" [ "$bad" = 0 ]
nf=$(find "$M/patients" -type f | wc -l)
check "every imported file is there ($nf of $no)" [ "$nf" = "$no" ]
check "unmount" fs_umount "$M"

# The mount's use lock (byte 0), and the backend holding it.
use_sql="FROM pg_locks WHERE locktype = 'advisory' AND classid = 1684237644
	AND objid = 0 AND objsubid = 2 AND granted AND mode = 'ShareLock'"
use_held() { [ "$(pg_psql -c "SELECT count(*) $use_sql")" = 1 ]; }
within_2s() { local i; for ((i = 0; i < 20; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
count_is() { [ "$(find "$M/patients" -type f | wc -l)" = "$1" ]; }
: >"$T/dcmfs.log"
fs_mount_or_bail "$S1" "$M"
check "the read-write mount holds the use lock in the database" use_held
check "a file copied into /incoming is stored" \
	eval 'cp "${live[0]}" "$M/incoming/" && within_2s count_is $((no + 1))'
check "the mount's lock connection's backend is terminated" \
	eval '[ "$(pg_psql -c "SELECT count(pg_terminate_backend(pid)) $use_sql")" = 1 ]'
check "the next file copied into /incoming is stored" \
	eval 'cp "${live[1]}" "$M/incoming/" && within_2s count_is $((no + 2))'
check "the mount holds the use lock again" use_held
check "unmount" fs_umount "$M"
n=$(grep -c "use lock of store .* was lost (its connection went): taken again" "$T/dcmfs.log")
check "the mount logged the loss once" [ "$n" = 1 ]
[ "$n" = 1 ] && : >"$T/dcmfs.log"   # that line was expected
check "verify is clean" "$CTL" verify "$S1"
done_testing
