#!/bin/bash
# t0217-change-feed.t - the mount follows the catalogue's change feed: in a
# store of a few thousand instances whose folders the kernel has listed
# (and keeps: cache_readdir), a patient imported elsewhere shows in
# /patients, and a patient or a file removed elsewhere leaves its listing
# and stat, each within a second or two; a store opened read-only before it
# had a feed (made before the feed existed) still follows imports, and the
# feed stays bounded.
. "$(dirname "$0")/lib/common.sh"
need_fuse
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"
S=$T/store M=$T/mnt
"$GEN" "$T/big" --patients 40 --small --max-instances 3000 --dup-rate 0 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
# One patient is kept back, to be imported while mounted.
newpat=$(ls "$T/big/patients" | tail -1)
mkdir -p "$T/more/patients" && mv "$T/big/patients/$newpat" "$T/more/patients/"
check "a store of $(find "$T/big/patients" -name '*.dcm' | wc -l) instances" new_store "$S" "$T/big/patients"
fs_mount_or_bail "$S" "$M" -o ro
# within_2s COMMAND...: true once the command succeeds, polling for 2 s
within_2s() { local i; for ((i = 0; i < 20; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
npat() { ls "$M/patients" | wc -l; }
# Every folder listed once, so that the kernel caches every listing.
find "$M/patients" >/dev/null
before=$(npat)
check "the patients are listed" test "$before" -gt 1
"$CTL" import -q "$S" "$T/more/patients" >/dev/null 2>&1
count_is() { test "$(npat)" = "$1"; }
check "a patient imported elsewhere shows in /patients within 2 s" within_2s count_is $((before + 1))
check "and its files can be read" test "$(find "$M/patients/$newpat" -name '*.dcm' | wc -l)" = \
	"$(find "$T/more/patients" -name '*.dcm' | wc -l)"
# A patient removed elsewhere leaves the listing, and its files stat.
victim=$(ls "$M/patients" | head -1)
vfile=$(find "$M/patients/$victim" -name '*.dcm' | head -1)
vpid=$(catalog_sql "$S" "SELECT patient_id FROM patients WHERE dirname='$victim'")
"$CTL" rm "$S" --patient "$vpid" >/dev/null
check "a patient removed elsewhere leaves /patients within 2 s" within_2s count_is "$before"
no_stat() { ! stat "$1" >/dev/null 2>&1; }
check "and its files no longer stat" within_2s no_stat "$vfile"
# One file removed elsewhere leaves its (cached) series listing.
f=$(find "$M/patients" -name '*.dcm' | head -1)
ser=$(dirname "$f")
n=$(ls "$ser" | wc -l)
sop=$(basename "$f" .dcm)
"$CTL" rm "$S" --instance "$sop" >/dev/null
sercount() { test "$(ls "$ser" 2>/dev/null | wc -l)" = "$1"; }
check "a file removed elsewhere leaves its series listing within 2 s" within_2s sercount $((n - 1))
check "and no longer stats" within_2s no_stat "$f"
check "unmount" fs_umount "$M"
check "the feed is bounded" test "$(catalog_sql "$S" 'SELECT count(*) FROM changes')" -le 66560
# A store that has no feed yet (made before it existed), mounted read-only:
# the first import elsewhere adds the feed, and the mount follows it.
if [ "$DISTRIBUTED" = 1 ]; then
	skip "distributed run: a PostgreSQL catalogue has had its feed from the start (no index.db made before it to drop it from)"
	done_testing
fi
sqlite3 "$S/index.db" "SELECT 'DROP TRIGGER ' || name || ';' FROM sqlite_master WHERE type='trigger'
	AND name LIKE 'changes_%'" | sqlite3 "$S/index.db"
sqlite3 "$S/index.db" "DROP TABLE changes"
fs_mount_or_bail "$S" "$M" -o ro
find "$M/patients" >/dev/null
before=$(npat)
"$CTL" rm "$S" --patient "$(sqlite3 "$S/index.db" "SELECT patient_id FROM patients LIMIT 1")" >/dev/null
check "without a feed at mount time, a removal elsewhere still shows within 2 s" \
	within_2s count_is $((before - 1))
"$CTL" import -q "$S" "$T/big/patients" "$T/more/patients" >/dev/null 2>&1
check "and so does an import" within_2s count_is $(($(ls "$T/big/patients" | wc -l) + 1))
check "that import gave the store its feed back" test "$(sqlite3 "$S/index.db" "SELECT count(*) FROM changes")" -gt 0
check "unmount" fs_umount "$M"
done_testing
