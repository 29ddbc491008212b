#!/bin/bash
# t0213-rm-one-pack.t - removals through the mount append their tombstones
# to one pack per daemon: rm -r of a 28-file series makes at most one new
# pack, a later rm adds to it (no second pack), and the tombstones work:
# after unmount and reindex, what was removed stays removed.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples

SER=${CT_SERIES:-}
[ -n "$SER" ] || skip_all "no CT series in ../shared/corpus"
SER2=$CORPUS/real/series/ct_philips_ingenuity_phantom_54sl
[ -d "$SER2" ] || skip_all "no second CT series in ../shared/corpus"
S=$T/store M=$T/mnt
packs() { pack_count "$S"; }
check "a store with two series" new_store "$S" "$SER" "$SER2"
n0=$(instances "$S")
k=$(ls "$SER" | wc -l)
p0=$(packs)
fs_mount_or_bail "$S" "$M"
# the series folder holding as many files as $SER
sdir=
for f in "$M"/patients/*/studies/*/*/; do
	[ "$(ls "$f" | wc -l)" = "$k" ] && sdir=${f%/} && break
done
[ -n "$sdir" ] || { not_ok "a series folder of $k files under /patients"; done_testing; }
check "rm -r of a series folder ($k files) succeeds" rm -r "$sdir"
check "the store lost its $k instances" [ "$(instances "$S")" = $((n0 - k)) ]
p1=$(packs)
check "one new pack at most ($p0 before, $p1 after)" [ "$p1" -le $((p0 + 1)) ]
f=$(find "$M/patients" -type f | head -1)
check "rm of one more file succeeds" rm "$f"
check "and adds no pack ($(packs))" [ "$(packs)" = "$p1" ]
# A series imported now lands in a pack newer than the tombstone pack; a
# removal of one of its files puts a tombstone in the older pack, which
# reindex reads first: the record met after it must stay removed.
"$CTL" import -q "$S" "$SER" >/dev/null 2>&1
for ((i = 0; i < 30; i++)); do      # shows within a second
	g=$(find "$sdir" -type f 2>/dev/null | head -1)
	[ -n "$g" ] && break
	sleep 0.1
done
check "rm of a file imported after the first removal" rm "$g"
check "still no second tombstone pack ($(packs) packs, one more from the import)" \
	[ "$(packs)" = $((p1 + 1)) ]
n1=$(instances "$S")
check "unmount" fs_umount "$M"
check "reindex" "$CTL" reindex "$S"
check "after reindex the removed instances stay removed ($n1 left)" [ "$(instances "$S")" = "$n1" ]
done_testing
