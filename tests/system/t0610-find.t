#!/bin/bash
# t0610-find.t - dcmfsctl find returns exactly the studies that pydicom's
# reading of the corpus says match (each filter alone, letters in any case,
# a DICOM pattern, date ranges, a combination, nothing), with their series
# and instance counts, modalities and path; bad dates are refused in one
# line; a store without the search indexes (an older store) is searched
# read-only as it is and gains them at its first writable open; get --study
# and --patient write the files as the mount shows them, byte-identical,
# and refuse a planted link; on a full disk they say one line and leave no
# temporary file.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CORPUS" ] && [ -d "$CORPUS/real" ] || skip_all "needs the real corpus (../shared/corpus/real) for pydicom's counts"
D=$CORPUS/real
S=$T/store
check "a store of the real corpus" new_store "$S" "$D"
check "pydicom reads the corpus into studies" $PY -W ignore "$LIB/find_check.py" oracle "$D" "$T/oracle.json"

for q in all name name-lower patient-id birth date date-range modality accession description combined none; do
	check "find ($q): exactly the studies pydicom finds, with their counts" \
		$PY -W ignore "$LIB/find_check.py" check "$CTL" "$S" "$T/oracle.json" "$q"
done

# ---- usage ----
check "a date that is no date is refused" exits_with 2 "needs YYYYMMDD" "$CTL" find "$S" --date 2004-08-26
check "a month 13 is refused" exits_with 2 "needs YYYYMMDD" "$CTL" find "$S" --birth 19401305
check "a day 31 in April is refused" exits_with 2 "needs YYYYMMDD" "$CTL" find "$S" --date 20200431
check "February 30 is refused" exits_with 2 "needs YYYYMMDD" "$CTL" find "$S" --date 20200230-
check "February 29 of 2021 (not leap) is refused" exits_with 2 "needs YYYYMMDD" "$CTL" find "$S" --birth -20210229
check "February 29 of 2020 and of 2000 are dates" eval '"$CTL" find "$S" --date 20200229 >/dev/null && "$CTL" find "$S" --birth 20000229 >/dev/null'
check "a range that ends before it starts is refused" exits_with 2 "ends before it starts" \
	"$CTL" find "$S" --date 20100101-20000101
check "an unknown option is refused" exits_with 2 "unknown option '--nmae'" "$CTL" find "$S" --nmae x
check "an empty value is refused" exits_with 2 "needs a value" "$CTL" find "$S" --name ""
check "a missing store is one line, exit 2" exits_with 2 "dcmfsctl: " "$CTL" find "$T/nothing"

# ---- an older store: no search indexes ----
idx() { sqlite3 "$S/index.db" "SELECT count(*) FROM sqlite_master WHERE name IN ('patients_name_upper','patients_birth','studies_accession','studies_date','series_modality')"; }
check "a new store has the search indexes" [ "$(idx)" = 5 ]
sqlite3 "$S/index.db" "DROP INDEX patients_name_upper; DROP INDEX patients_birth; DROP INDEX studies_accession; DROP INDEX studies_date; DROP INDEX series_modality" ||
	not_ok "drop the indexes"
n_all=$("$CTL" find "$S" --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
check "a store without them is searched read-only (23 or so studies: $n_all)" [ "${n_all:-0}" -gt 0 ]
check "and stays without them after a read-only search" [ "$(idx)" = 0 ]
"$CTL" import -q "$S" "$D" >/dev/null 2>&1
check "its first writable open (an import) adds them" [ "$(idx)" = 5 ]

# ---- get --study / --patient ----
$PY - "$T/oracle.json" >"$T/pick" <<'PYEOF' || not_ok "pick a study"
import json, sys
st = [s for s in json.load(open(sys.argv[1])) if s["patient_id"]]
st.sort(key=lambda s: -len(s["sops"]))
s = st[0]
print(s["study_uid"], s["patient_id"], len(s["sops"]))
PYEOF
read -r study patient nsops <"$T/pick"
O=$T/out
check "get --study writes the study" "$CTL" get "$S" --study "$study" -o "$O"
path=$("$CTL" find "$S" --json --patient-id "$patient" |
	$PY -c 'import json,sys; print([s["path"] for s in json.load(sys.stdin) if s["study_uid"] == sys.argv[1]][0])' "$study")
check "below OUT/patients/..., at the path find gives ($path)" [ -d "$O$path" ]
check "one file per instance ($nsops)" [ "$(find "$O" -type f | wc -l)" = "$nsops" ]
fs_match_originals "$O" "$D" >"$T/match" || not_ok "match the originals"
all_matched() { [ -s "$1" ] && ! grep '^MISSING' "$1"; }
check "every file is byte-identical to an original" all_matched "$T/match"
check "get --patient writes every study of the patient" "$CTL" get "$S" --patient "$patient" -o "$T/outp"
np=$($PY -c 'import json,sys; print(sum(len(s["sops"]) for s in json.load(open(sys.argv[1])) if s["patient_id"] == sys.argv[2]))' "$T/oracle.json" "$patient")
check "as many files as the patient has instances ($np)" [ "$(find "$T/outp" -type f | wc -l)" = "$np" ]
mkdir -p "$T/evil-target" "$T/out2/patients"
ln -s "$T/evil-target" "$T/out2/patients/$(basename "$(dirname "$(dirname "$path")")")"
check "a link planted below OUT is refused, exit 2" exits_with 2 "not written through" \
	"$CTL" get "$S" --study "$study" -o "$T/out2"
check "and nothing was written where it points" [ -z "$(ls -A "$T/evil-target")" ]
# a full disk: one line naming the file, exit 2, no temporary file left
# (get writes with a thread per core: only one of them may speak; tried
# five times, as which thread fails first is a matter of timing)
full_get() {
	local i lines
	for i in 1 2 3 4 5; do
		mount -t tmpfs -o size=40k dcmfs-test "$T/full" || return 1
		exits_with 2 "No space left on device" "$CTL" get "$S" --patient "$patient" -o "$T/full/o" ||
			{ umount "$T/full"; return 1; }
		lines=$(wc -l <"$T/.exits_with.out")
		[ -z "$(find "$T/full" -name '.*.dcmfs-*')" ] || { echo "a temporary file is left"; umount "$T/full"; return 1; }
		umount "$T/full"
		[ "$lines" = 1 ] || { echo "try $i: $lines lines"; cat "$T/.exits_with.out"; return 1; }
	done
}
if [ "$(id -u)" = 0 ] && mkdir -p "$T/full"; then
	check "get --patient on a full disk: exit 2, one line, no temporary file (5 tries)" full_get
else
	skip "get on a full disk: needs root to mount a small tmpfs"
fi
check "an unknown study is one line, exit 2" exits_with 2 "is not in the store" \
	"$CTL" get "$S" --study 1.2.3.4.5 -o "$T/out3"
check "--study and --patient together are refused" exits_with 2 "one of" \
	"$CTL" get "$S" --study "$study" --patient "$patient" -o "$T/out3"
done_testing
