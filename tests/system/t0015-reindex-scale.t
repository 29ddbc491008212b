#!/bin/bash
# t0015-reindex-scale.t - reindex streams: on a store of a few thousand
# small instances with a removed study, it reports progress on a terminal
# and a summary; a kill -9 at any moment of it leaves a store that verify
# finds consistent (or, killed between its two renames, one that a second
# reindex restores), and the next reindex brings back every folder and file
# with the same ids (inode numbers), the removed study still removed.
. "$(dirname "$0")/lib/common.sh"
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
command -v script >/dev/null || skip_all "script (util-linux) not installed"
S=$T/store
"$GEN" "$T/gen" --patients 12 --small --max-instances 3000 --dup-rate 0 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
n=$(find "$T/gen/patients" -name '*.dcm' | wc -l)
check "a store of $n instances" new_store "$S" "$T/gen/patients"
study=$(sqlite3 "$S/index.db" "SELECT study_uid FROM studies ORDER BY id LIMIT 1 OFFSET 3")
check "rm of a study" "$CTL" rm "$S" --study "$study"
q="SELECT 'p', id, dirname FROM patients UNION ALL SELECT 's', id, dirname FROM studies
	UNION ALL SELECT 'e', id, dirname FROM series UNION ALL SELECT 'i', id, sop_uid || '.v' || version FROM instances ORDER BY 1, 2"
sqlite3 "$S/index.db" "$q" >"$T/ids.before"
# ids_same: every folder and file has the id it had before
ids_same() { sqlite3 "$S/index.db" "$q" >"$T/ids.now" && diff -q "$T/ids.before" "$T/ids.now" >/dev/null; }

# ---- on a terminal: progress, then a summary ----
script -qec "'$CTL' reindex '$S'" "$T/tty.log" >/dev/null 2>&1
check "reindex on a terminal succeeds" [ $? = 0 ]
check "it shows its progress there" grep -q "reindexing: " "$T/tty.log"
check "and a summary at the end" grep -qE "reindexed [0-9]+ packs: [0-9]+ blobs, [0-9]+ instances, [0-9]+ removed" "$T/tty.log"
check "ids unchanged" ids_same
check "the removed study stays removed" [ "$(sqlite3 "$S/index.db" "SELECT count(*) FROM studies WHERE study_uid='$study'")" = 0 ]

# ---- kill -9 at moments spread over a reindex ----
t0=$(date +%s%N)
"$CTL" reindex "$S" >/dev/null 2>&1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
diag "a reindex takes $ms ms here"
killed=0
for frac in 10 30 50 70 90 99; do
	"$CTL" reindex "$S" >/dev/null 2>&1 &
	rp=$!
	CLEANUP_PIDS+=("$rp")
	sleep "$(awk "BEGIN { print $ms * $frac / 100000 }")"
	kill -9 "$rp" 2>/dev/null && killed=$((killed + 1))
	wait "$rp" 2>/dev/null
	if [ -f "$S/index.db" ]; then
		"$CTL" verify "$S" >"$T/v.txt" 2>&1
		st=$?
		check "killed at ~$frac %: verify finds the store consistent (exit $st)" [ "$st" = 0 ]
		[ "$st" = 0 ] || diag <"$T/v.txt"
	else
		check "killed at ~$frac % between the renames: the store is refused with a hint to reindex" \
			exits_with 2 reindex "$CTL" stats "$S"
	fi
	check "killed at ~$frac %: a second reindex succeeds" "$CTL" reindex "$S"
	check "killed at ~$frac %: then verify is clean" "$CTL" verify "$S"
	check "killed at ~$frac %: every id unchanged" ids_same
	check "killed at ~$frac %: no reindex.tmp left" [ ! -e "$S/reindex.tmp" ]
done
diag "$killed of 6 reindexes were killed before they ended"
check "at least one reindex was killed mid-run" [ "$killed" -ge 1 ]
check "every instance there after all that" [ "$(sqlite3 "$S/index.db" "SELECT count(*) FROM instances")" = "$(grep -c "^i" "$T/ids.before")" ]
done_testing
