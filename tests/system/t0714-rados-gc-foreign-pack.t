#!/bin/bash
# t0714: gc through a RADOS store refuses to free anything while the pool
# holds a pack its catalogue does not know.  A copy of the store's folder
# (its own index.db, the same store.conf) imports into the same pool: gc
# through the original would take the copy's blob objects, which no row
# of the original's index names.  It is refused with one line, exits
# non-zero, removes no object, and every file of both stores still reads
# back (verify of each is clean).
. "$(dirname "$0")/lib/common.sh"
. "$LIB/ceph.sh"
need_ceph
need_samples
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"
"$GEN" "$T/gen" --patients 2 --small --seed 5 --dup-rate 0 >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
check "Ceph (one mon, one memstore osd) starts in its own folder" ceph_start dcmfs

S=$T/store C=$T/copy
check "a RADOS store with generated files" \
	eval '"$CTL" init "$S" --data "$CEPH_URL" >/dev/null && "$CTL" import -q "$S" "$T/gen/patients"'
check "gc through it frees nothing and succeeds while the pool is its own" "$CTL" gc "$S"
check "a copy of its folder" cp -a "$S" "$C"
"$CTL" import -q "$C" "$SAMPLES" >"$T/import.log" 2>&1
st=$?
check "the samples import through the copy (exit 0 or 1 for rejected files: $st)" [ "$st" -le 1 ]
nc=$(instances "$C") ns=$(instances "$S")
check "the copy's index has more instances ($nc) than the original's ($ns)" [ "$nc" -gt "$ns" ]
ceph_rados ls | sort >"$T/objects.before"
check "gc through the original is refused, naming a pack it does not know" \
	exits_with 2 "gc refused: pack '.*' of the data store is not in this store's catalogue" \
	"$CTL" gc "$S"
one_line() { [ "$(wc -l <"$T/.exits_with.out")" = 1 ]; }
check "in one line" one_line
no_object_lost() {
	ceph_rados ls | sort >"$T/objects.now" && [ -z "$(comm -23 "$T/objects.before" "$T/objects.now")" ]
}
check "and no object is removed" no_object_lost
check "verify of the original is clean" "$CTL" verify "$S"
check "verify of the copy is clean (every file of its import reads back)" "$CTL" verify "$C"
done_testing
