#!/bin/bash
# t0713: gc, reindex and verify on a RADOS store under attack.  A cluster
# that fails part-way (a listing or a lookup that errs, through the
# rados-fail shim) never reads as "nothing there": gc, reindex and verify
# fail and change nothing, and no image drops out of the index or loses its
# blob objects.  Then hostile object names (control bytes, a blob's name at
# another place), a blob whose head object is lost, a damaged index of blob
# names, another store's pool, an import that ends during reindex's
# listing, and equal blobs within one import batch.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/ceph.sh"
need_ceph
need_samples
SHIM=$BUILD/tests/shims/rados-fail.so
[ -f "$SHIM" ] || skip_all "$SHIM not built (make all)"
check "Ceph (one mon, one memstore osd) starts in its own folder" ceph_start dcmfs
diag "Ceph usable in $CEPH_START_SECONDS s"

S=$T/store
check "init --data and an import into the pool" \
	eval '"$CTL" init "$S" --data "$CEPH_URL" >/dev/null && "$CTL" import -q "$S" "$SAMPLES" 2>/dev/null; [ $? -le 1 ]'
q="SELECT id, series, name, size, stored_at FROM instances ORDER BY id"
sqlite3 "$S/index.db" "$q" >"$T/rows.before"
ceph_rados ls | sort >"$T/objects.before"
n_before=$(instances "$S")
diag "$n_before instances, $(wc -l <"$T/objects.before") objects"
# shim VAR=VALUE... COMMAND...: the command with librados failing as told.
# Preloaded before a sanitized build's ASan runtime, which would refuse to
# start ("does not come first"): the shim wraps librados only, not malloc.
shim() { env LD_PRELOAD="$SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"; }
same_rows() { sqlite3 "$S/index.db" "$q" >"$T/rows.now" && diff "$T/rows.before" "$T/rows.now"; }
no_object_lost() { ceph_rados ls | sort >"$T/objects.now" && [ -z "$(comm -23 "$T/objects.before" "$T/objects.now")" ]; }

# A listing that fails is not the end of the pool.
for after in 0 5; do
	check "reindex fails when the pool's listing fails after $after objects" \
		fails shim RADOS_FAIL_LIST_AFTER=$after "$CTL" reindex "$S"
	check "and the index keeps every row" same_rows
	check "gc fails when the pool's listing fails after $after objects" \
		fails shim RADOS_FAIL_LIST_AFTER=$after "$CTL" gc "$S"
	check "and no object is removed" no_object_lost
	check "verify does not call a store clean from a listing that failed after $after" \
		fails shim RADOS_FAIL_LIST_AFTER=$after "$CTL" verify "$S"
done

# A lookup that times out is no damage: reindex would drop the instances
# of the pack or blob it could not read (and gc --force their data).
big=$(grep '@1$' "$T/objects.before" | head -1)
for what in packs/ @1; do
	if [ "$what" = @1 ] && [ -z "$big" ]; then
		skip "no blob in parts among the samples"
		continue
	fi
	check "reindex fails (exit 2, not 1 for damage) when looking up objects named *$what* times out" \
		exits_with 2 "timed out" shim RADOS_FAIL_STAT=$what "$CTL" reindex "$S"
	check "and the index keeps every row, and no DAMAGED is written" \
		eval 'same_rows && [ ! -e "$S/DAMAGED" ]'
done

# A part whose head is not listed is asked for its head: a cluster that
# does not answer stops the walk (each lookup waits the op timeout, 30 s:
# going on over thousands of parts took days, and "succeeded").
P=blobs/aa/aa/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@1
check "a part with no head planted (an interrupted write's)" eval 'echo x | ceph_rados put "$P" -'
for cmd in gc reindex verify; do
	check "$cmd fails when looking up the head of a part times out" \
		exits_with 2 "timed out" shim RADOS_FAIL_STAT=aa/aa/ "$CTL" $cmd "$S"
done
check "and the part is still there, the index keeps every row" eval 'ceph_rados stat "$P" && same_rows'
check "gc fails when removing it times out" \
	exits_with 2 "timed out" shim RADOS_FAIL_REMOVE=aa/aa/ "$CTL" gc "$S"
check "gc then removes it" eval '"$CTL" gc "$S" && ! ceph_rados stat "$P"'

# A stray object's name is the pool's, not ours: verify names it without
# its control bytes (no escape sequence reaches the terminal, no forged line).
J=$(printf 'blobs/ab/cd/\033[2J\nverified 0 pack entries: 0 problems')
check "a stray object whose name holds an escape sequence and a newline" eval 'echo x | ceph_rados put "$J" -'
"$CTL" verify "$S" >"$T/verify.out" 2>&1
check "verify names it on one line, without control bytes" \
	eval '! grep -q "$(printf "\033")" "$T/verify.out" && ! grep -q "^verified 0 pack entries" "$T/verify.out" &&
	      grep -q "stray file in blobs/: .*verified 0 pack entries" "$T/verify.out"'
check "gc leaves it for a person to look at" eval '"$CTL" gc "$S" && ceph_rados stat "$J" && ceph_rados rm "$J"'

# A blob file's name says where it is (blobs/ab/cd/abcd...): reindex takes
# no object at another place for the blob, damaged or not, and no name can
# write lines of its own into DAMAGED (which gc and reindex read back).
real=$(grep '^blobs/../../[0-9a-f]\{32\}$' "$T/objects.before" | head -1)
pack=$(grep '^packs/' "$T/objects.before" | head -1)
K=$(printf 'blobs/ab\npack %s 0 unreadable\n/cd/%s' "${pack#packs/}" "${real##*/}")
check "junk under a blob's name at another place, its folder naming a pack" \
	eval 'echo x | ceph_rados put "$K" - && ceph_rados put "blobs/00/00/${real##*/}" "$T/objects.before"'
check "reindex indexes every instance and calls nothing damaged" \
	eval '"$CTL" reindex "$S" && [ ! -e "$S/DAMAGED" ] && same_rows'
ceph_rados rm "$K"
ceph_rados rm "blobs/00/00/${real##*/}"

# A blob a row names whose head object is lost is damage, not an
# interrupted write: its parts stay, and putting the head back (from a
# backup) restores the image.
if [ -n "$big" ]; then
	head=${big%@1}
	ceph_rados get "$head" "$T/head.obj"
	check "the head object of a blob in parts removed" ceph_rados rm "$head"
	check "verify reports the blob, and calls none of its parts reclaimable" \
		eval '! "$CTL" verify "$S" >"$T/verify.out" 2>&1 && grep -q "${head##*/}" "$T/verify.out" &&
		      ! grep -q "[1-9][0-9]* temporary files" "$T/verify.out"'
	check "gc keeps its parts" eval '"$CTL" gc "$S" && ceph_rados stat "$big"'
	check "with its head put back the store verifies clean" \
		eval 'ceph_rados put "$head" "$T/head.obj" && "$CTL" verify "$S"'
else
	skip "no blob in parts among the samples"
fi

check "gc then removes nothing that is a blob's" eval '"$CTL" gc "$S" && no_object_lost'
check "every instance is still there, verify clean" \
	eval '[ "$(instances "$S")" = "$n_before" ] && "$CTL" verify "$S"'

# Removing the freed blob objects after the commit: a cluster that does not
# answer stops gc with an error, and the next gc removes what is left.
sop=$(sqlite3 "$S/index.db" "SELECT i.sop_uid FROM instances i JOIN segments g ON g.instance = i.id
	JOIN blobs b ON b.id = g.blob WHERE b.pack = 0 AND NOT EXISTS (SELECT 1 FROM segments o
	WHERE o.blob = b.id AND o.instance <> i.id) ORDER BY i.id LIMIT 1")
if [ -n "$sop" ]; then
	check "an instance with a blob object of its own removed" "$CTL" rm "$S" --instance "$sop"
	check "gc fails when removing the freed blob objects times out" \
		exits_with 2 "next gc removes" shim RADOS_FAIL_REMOVE=blobs/ "$CTL" gc "$S"
	check "the next gc removes them, and the store verifies clean" \
		eval '"$CTL" gc "$S" && "$CTL" verify "$S" >"$T/verify.out" && ! grep -q reclaimable "$T/verify.out"'
else
	skip "no instance with a blob object of its own among the samples"
fi

# A damaged index answers "error", not "no such blob", when gc asks whether
# a row names a blob object: gc must stop, not remove every blob.
D=$T/damaged
check "a second pool, and a store on it with the samples" \
	eval 'ceph_pool_create damaged && "$CTL" init "$D" --data "rados://damaged?conf=$CEPH_CONF" >/dev/null &&
	      { "$CTL" import -q "$D" "$SAMPLES" 2>/dev/null; [ $? -le 1 ]; }'
rados -c "$CEPH_CONF" -p damaged ls | sort >"$T/damaged.before"
check "the index of its blobs' names damaged (a page of garbage)" \
	$PY - "$D/index.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
page = db.execute("PRAGMA page_size").fetchone()[0]
root = db.execute("SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'blobs'"
                  " ORDER BY rootpage LIMIT 1").fetchone()[0]
db.close()
with open(sys.argv[1], 'r+b') as f:
    f.seek((root - 1) * page)
    f.write(b'\xff' * page)
PY
check "gc on it fails" fails "$CTL" gc "$D"
# Another store's pool: the claim check refuses it before gc lists anything.
O=$T/other
check "gc of a store whose store.conf names another store's pool is refused" \
	eval '"$CTL" init "$O" >/dev/null &&
	      { grep -v "^data" "$S/store.conf" | sed "s/^store_id = .*/store_id = 0123456789abcdef0123456789abcdef/";
	        grep "^data" "$D/store.conf"; } >"$O/store.conf" &&
	      exits_with 2 "wrong pool" "$CTL" gc "$O"'
check "and removes no object" \
	eval 'rados -c "$CEPH_CONF" -p damaged ls | sort >"$T/damaged.after" &&
	      [ -z "$(comm -23 "$T/damaged.before" "$T/damaged.after")" ]'

# Found on the way: a blob compared with one appended earlier in the same
# batch (still in the pack writer's buffer) read short, so equal blobs were
# stored again under new ordinals, up to the 16 a hash may have: then the
# import failed ("Value too large").  Stored as on a folder, it dedups.
G=$T/gen
if "$BUILD/dcmfs-gencorpus" "$G" --patients 2 --small --seed 3 --dup-rate 0 >/dev/null 2>&1; then
	F=$T/folder R6=$T/dedup
	check "the same small generated files into a folder store and a RADOS store" \
		eval '"$CTL" init "$F" >/dev/null && "$CTL" import -q "$F" "$G/patients" &&
		      ceph_pool_create dedup && "$CTL" init "$R6" --data "rados://dedup?conf=$CEPH_CONF" >/dev/null &&
		      "$CTL" import -q "$R6" "$G/patients"'
	check "the RADOS store dedups within a batch as the folder store does" \
		eval 'q2="SELECT count(*), max(ordinal) FROM blobs"; [ "$(sqlite3 "$F/index.db" "$q2")" = "$(sqlite3 "$R6/index.db" "$q2")" ]'

	# reindex lists the packs once nothing else uses the store: an import
	# that ends while a long listing runs is not left out.
	X=$T/race
	check "a store of the samples in a pool of its own" \
		eval 'ceph_pool_create race && "$CTL" init "$X" --data "rados://race?conf=$CEPH_CONF" >/dev/null &&
		      { "$CTL" import -q "$X" "$SAMPLES" 2>/dev/null; [ $? -le 1 ]; }'
	shim RADOS_LIST_SLOW_MS=30 "$CTL" reindex "$X" >/dev/null 2>"$T/race.err" &
	pid=$!
	CLEANUP_PIDS+=("$pid")
	sleep 1
	"$CTL" import -q "$X" "$G/patients" >"$T/race.out" 2>&1
	rc=$?
	wait $pid
	diag "import during the listing: exit status $rc; reindex: $? $(cat "$T/race.err")"
	if [ $rc = 0 ]; then
		check "the import that ended during reindex's listing is in the new index (again: 0 new)" \
			eval '"$CTL" import "$X" "$G/patients" 2>&1 | grep -q "imported: 0 new"'
	else
		check "an import during reindex's listing is refused: the store is being reindexed" \
			grep -q "being reindexed" "$T/race.out"
	fi
else
	skip "dcmfs-gencorpus made no files"
fi

done_testing
