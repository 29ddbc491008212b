#!/bin/bash
# t0713: gc, reindex and verify on a RADOS store under attack.  A cluster
# that fails part-way (a listing or a lookup that errs, through the
# rados-fail shim) never reads as "nothing there": gc, reindex and verify
# fail and change nothing, and no image drops out of the index or loses its
# blob objects.  Each step ends with every instance still there and the
# store verifying clean.
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
shim() { env LD_PRELOAD="$SHIM" "$@"; }
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

check "gc then removes nothing that is a blob's" eval '"$CTL" gc "$S" && no_object_lost'
check "every instance is still there, verify clean" \
	eval '[ "$(instances "$S")" = "$n_before" ] && "$CTL" verify "$S"'

done_testing
