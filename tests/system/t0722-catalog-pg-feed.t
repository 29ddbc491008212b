#!/bin/bash
# t0722: a mount of a store whose catalogue is in PostgreSQL follows the
# change feed as an index.db store's does (t0217): a patient imported
# elsewhere shows in /patients, a patient or a file removed elsewhere
# leaves its listing and stat, each within 2 s; the feed stays bounded; a
# read-write mount's unlink and /incoming write the catalogue; two writers
# at once leave no hole in the feed that a reader could step over.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
need_pg
need_fuse
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"
S=$T/store M=$T/mnt
"$GEN" "$T/big" --patients 20 --small --max-instances 1500 --dup-rate 0 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
newpat=$(ls "$T/big/patients" | tail -1)
mkdir -p "$T/more/patients" && mv "$T/big/patients/$newpat" "$T/more/patients/"
check "PostgreSQL starts in its own folder" pg_start dcmfs
# A database that keeps text as bytes, as catalog_pg.h asks.
check "a database of encoding SQL_ASCII is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_bytes
UTF8_URL=$PG_URL
PG_URL="postgresql:///dcmfs_bytes?host=$PG_DIR"
check "a store with its catalogue in PostgreSQL" \
	eval '"$CTL" init "$S" --catalog "$PG_URL" >/dev/null'
check "$(find "$T/big/patients" -name '*.dcm' | wc -l) instances import" \
	"$CTL" import -q "$S" "$T/big/patients"
fs_mount_or_bail "$S" "$M" -o ro
within_2s() { local i; for ((i = 0; i < 20; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
npat() { ls "$M/patients" | wc -l; }
find "$M/patients" >/dev/null
before=$(npat)
check "the patients are listed" test "$before" -gt 1
"$CTL" import -q "$S" "$T/more/patients" >/dev/null 2>&1
count_is() { test "$(npat)" = "$1"; }
check "a patient imported elsewhere shows in /patients within 2 s" within_2s count_is $((before + 1))
check "and its files can be read" test "$(find "$M/patients/$newpat" -name '*.dcm' | wc -l)" = \
	"$(find "$T/more/patients" -name '*.dcm' | wc -l)"
victim=$(ls "$M/patients" | head -1)
vfile=$(find "$M/patients/$victim" -name '*.dcm' | head -1)
vpid=$(pg_psql -c "SELECT patient_id FROM patients WHERE dirname='$victim'")
"$CTL" rm "$S" --patient "$vpid" >/dev/null
check "a patient removed elsewhere leaves /patients within 2 s" within_2s count_is "$before"
no_stat() { ! stat "$1" >/dev/null 2>&1; }
check "and its files no longer stat" within_2s no_stat "$vfile"
f=$(find "$M/patients" -name '*.dcm' | head -1)
ser=$(dirname "$f")
n=$(ls "$ser" | wc -l)
"$CTL" rm "$S" --instance "$(basename "$f" .dcm)" >/dev/null
sercount() { test "$(ls "$ser" 2>/dev/null | wc -l)" = "$1"; }
check "a file removed elsewhere leaves its series listing within 2 s" within_2s sercount $((n - 1))
check "and no longer stats" within_2s no_stat "$f"
check "unmount" fs_umount "$M"
check "the feed is bounded" test "$(pg_psql -c 'SELECT count(*) FROM changes')" -le 66560
# A read-write mount writes the catalogue too: a file copied into
# /incoming is stored, a file unlinked is removed.
fs_mount_or_bail "$S" "$M"
back=$(find "$M/patients/$newpat" -name '*.dcm' | head -1)
cp "$back" "$T/saved.dcm"
"$CTL" rm "$S" --instance "$(basename "$back" .dcm)" >/dev/null
n0=$(instances "$S")
f=$(find "$M/patients" -name '*.dcm' | head -1)
check "unlink of a file through the mount removes it" eval 'rm "$f" && within_2s no_stat "$f"'
check "... from the catalogue" test "$(instances "$S")" = $((n0 - 1))
cp "$T/saved.dcm" "$M/incoming/" 2>/dev/null
stored_again() { test "$(instances "$S")" = "$n0"; }
check "a file copied into /incoming is stored" within_2s stored_again
check "unmount" fs_umount "$M"
# Two writers at once (two imports of new patients), and a reader polling
# the feed meanwhile: every snapshot holds the change rows as one run of
# seq with no hole, so a reader that goes on from its last seq never skips
# a slower writer's rows.
"$GEN" "$T/two" --patients 12 --small --max-instances 1200 --dup-rate 0 --seed 7 -q \
	>/dev/null 2>&1 || helper_failed "gencorpus --seed 7"
mkdir -p "$T/two/a" "$T/two/b"
i=0
for d in "$T/two/patients"/*; do
	if [ $((i % 2)) = 0 ]; then mv "$d" "$T/two/a/"; else mv "$d" "$T/two/b/"; fi
	i=$((i + 1))
done
"$CTL" import -q "$S" "$T/two/a" >"$T/two-a.log" 2>&1 &
wa=$!
"$CTL" import -q "$S" "$T/two/b" >"$T/two-b.log" 2>&1 &
wb=$!
CLEANUP_PIDS+=("$wa" "$wb")
holes=0 polls=0
while kill -0 "$wa" 2>/dev/null || kill -0 "$wb" 2>/dev/null; do
	h=$(pg_psql -c "SELECT max(seq) - min(seq) + 1 - count(*) FROM changes")
	[ "$h" = 0 ] || holes=$((holes + 1))
	polls=$((polls + 1))
done
wait "$wa"; sa=$?
wait "$wb"; sb=$?
check "two imports at once both succeed ($sa, $sb)" eval '[ "$sa" = 0 ] && [ "$sb" = 0 ]'
check "the feed had no hole in any of $polls snapshots meanwhile" [ "$holes" = 0 ]
check "verify finds no problem after them" "$CTL" verify "$S"
done_testing
