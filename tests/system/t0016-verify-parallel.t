#!/bin/bash
# t0016-verify-parallel.t - verify checks on every core and says the same:
# on a store of a few thousand small instances with damage of several kinds,
# verify with one worker and with four prints the same lines in the same
# order (every run); it runs more than one thread where there is more than
# one core; and on a clean store it finds nothing while an import, and an rm
# with gc, run meanwhile.
. "$(dirname "$0")/lib/common.sh"
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
S=$T/store
"$GEN" "$T/gen" --patients 12 --small --max-instances 2500 --dup-rate 0 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
"$GEN" "$T/more" --patients 4 --small --max-instances 800 --dup-rate 0 --seed 7 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
n=$(find "$T/gen/patients" -name '*.dcm' | wc -l)
check "a store of $n instances" new_store "$S" "$T/gen/patients"
# without its time, which differs from run to run
verify_lines() { "$CTL" verify "$1" 2>&1 | sed -E 's/ in [0-9.]+ s:/:/'; }

# ---- a clean store: nothing found, with any number of workers ----
DCMFS_VERIFY_WORKERS=1 "$CTL" verify "$S" >"$T/clean1.txt" 2>&1
check "verify with one worker: clean (exit 0)" [ $? = 0 ]
"$CTL" verify "$S" >"$T/clean.txt" 2>&1
check "verify on every core: clean (exit 0)" [ $? = 0 ]
check "it counts every instance" grep -q " $n instances " "$T/clean.txt"

# ---- more than one thread where there is more than one core ----
if [ "$(nproc)" -ge 2 ]; then
	"$CTL" verify "$S" >/dev/null 2>&1 &
	vp=$!
	CLEANUP_PIDS+=("$vp")
	most=1
	while kill -0 "$vp" 2>/dev/null; do
		th=$(awk '/^Threads:/ { print $2 }' "/proc/$vp/status" 2>/dev/null)
		[ -n "$th" ] && [ "$th" -gt "$most" ] && most=$th
		sleep 0.02
	done
	wait "$vp"
	check "verify runs $most threads on $(nproc) cores (>= 3: the lister and two workers)" [ "$most" -ge 3 ]
else
	skip "one core: no second worker to see"
fi

# ---- meanwhile: an import, then an rm with gc ----
# verify_meanwhile WHAT CMD...: CMD in the background (started first), verify
# of the busy store meanwhile: both succeed, nothing found
verify_meanwhile() {
	local what=$1 bp st
	shift
	"$@" >"$T/bg.log" 2>&1 &
	bp=$!
	CLEANUP_PIDS+=("$bp")
	sleep 0.3
	"$CTL" verify "$T/busy" >"$T/busy.txt" 2>&1
	st=$?
	wait "$bp"
	check "$what meanwhile finishes" [ $? = 0 ]
	check "verify during $what: nothing found (exit $st)" [ "$st" = 0 ]
	diag <"$T/busy.txt"
}
cp -a "$S" "$T/busy"
verify_meanwhile "an import" "$CTL" import -q "$T/busy" "$T/more/patients"
pat=$(sqlite3 "$T/busy/index.db" "SELECT patient_id FROM patients ORDER BY id LIMIT 1")
verify_meanwhile "an rm and gc" bash -c '"$1" rm "$2" --patient "$3" && "$1" gc "$2"' - "$CTL" "$T/busy" "$pat"

# ---- damage of several kinds: the same lines, one worker or four ----
D=$T/damaged
cp -a "$S" "$D"
packs=($(ls -S "$D"/packs/*.pack))
big=${packs[0]}
sz=$(stat -c %s "$big")
# a byte changed in three places of the largest pack (blobs and records)
for at in $((sz / 5)) $((sz / 2)) $((sz * 4 / 5)); do
	printf '\xff' | dd of="$big" bs=1 seek="$at" conv=notrunc status=none
done
# rows that disagree with their records
sqlite3 "$D/index.db" "UPDATE instances SET size = size + 1 WHERE id IN (SELECT id FROM instances ORDER BY id LIMIT 2 OFFSET 100)"
DCMFS_VERIFY_WORKERS=1 verify_lines "$D" >"$T/one.txt"
check "one worker finds the damage" grep -q "^damaged: pack" "$T/one.txt"
check "and the disagreeing rows" grep -q "reads back .* bytes, but its index row says" "$T/one.txt"
check "and names the instances a damaged range affects" grep -q "^  affects instance" "$T/one.txt"
for i in 1 2 3; do
	DCMFS_VERIFY_WORKERS=4 verify_lines "$D" >"$T/four$i.txt"
	check "four workers, run $i: the same lines in the same order" diff "$T/one.txt" "$T/four$i.txt"
done
verify_lines "$D" >"$T/all.txt"
check "every core: the same lines" diff "$T/one.txt" "$T/all.txt"
DCMFS_VERIFY_WORKERS=4 "$CTL" verify "$D" >/dev/null 2>&1
check "four workers: exit 1 for the problems" [ $? = 1 ]
done_testing
