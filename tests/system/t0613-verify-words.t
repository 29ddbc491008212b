#!/bin/bash
# t0613-verify-words.t - verify and reindex say what is wrong with damaged
# data in words, one kind of damage each: a blob file cut short, one longer
# than its header says, one overwritten at its start, one with a changed
# byte in its body, a pack overwritten inside an entry, a pack cut short.
# No line shows a raw errno ("-5", "reads -5 bytes"); verify --json lists
# the same lines and parses.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CT_SERIES" ] || skip_all "needs a real CT series of the corpus (its images make blob files)"
S=$T/store
check "a store of 6 CT images" new_store "$S" $(ls "$CT_SERIES"/*.dcm | head -6)
mapfile -t blobs < <(find "$S/blobs" -type f | sort)
check "at least 4 blob files" [ "${#blobs[@]}" -ge 4 ]
pack=$(ls "$S"/packs/*.pack | head -1)
truncate -s -100 "${blobs[0]}"
printf 'extra' >>"${blobs[1]}"
printf 'XXXXXXXX' | dd of="${blobs[2]}" bs=1 seek=0 conv=notrunc 2>/dev/null
printf 'XXXX' | dd of="${blobs[3]}" bs=1 seek=5000 conv=notrunc 2>/dev/null
psize=$(stat -c %s "$pack")
printf 'ZZZZZZZZ' | dd of="$pack" bs=1 seek=$((psize / 2)) conv=notrunc 2>/dev/null

"$CTL" verify "$S" >"$T/verify.txt" 2>&1
st=$?
diag <"$T/verify.txt"
check "verify finds problems: exit 1 ($st)" [ "$st" = 1 ]
says() { grep -qF -- "$1" "$T/verify.txt"; }
check "a blob file cut short: 'shorter than its header says'" says "${blobs[0]##*/} (blob file): the blob file is shorter than its header says"
check "a blob file grown: 'longer than its header says'" says "${blobs[1]##*/} (blob file): the blob file is longer than its header says"
check "a blob file overwritten at its start: 'does not start with DCMFSBL1'" says "${blobs[2]##*/} (blob file): the blob file does not start with DCMFSBL1"
check "a changed byte in a body: 'encoded bytes fail their checksum'" says "${blobs[3]##*/} (blob file): the blob file's encoded bytes fail their checksum"
check "the pack damage is named by its byte range" grep -qE "^damaged: pack .* bytes \[[0-9]+, [0-9]+\)" "$T/verify.txt"
check "no line shows a negative number (a raw errno)" fails grep -qE -- '(^|[^0-9A-Za-z.])-[0-9]+' "$T/verify.txt"
check "no line names an errno by its C name" fails grep -qE 'E(IO|BADMSG|NOENT|INVAL)\b' "$T/verify.txt"

"$CTL" verify --json "$S" >"$T/verify.json" 2>/dev/null
check "verify --json: exit 1 too" [ $? = 1 ]
check "verify --json parses and lists the same lines" $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
lines = [l for l in open(sys.argv[2]).read().splitlines() if not l.startswith("verified ")]
want = [l for l in lines if not l[0:1].isdigit() and "reclaimable" not in l]
sys.exit(0 if d["problems"] == want[:len(d["problems"])] and d["problem_count"] > 0 else 1)' "$T/verify.json" "$T/verify.txt"

# a pack cut short: the index places a record past its end
cp -a "$S" "$T/s2"
truncate -s $((psize - 40)) "$T/s2/packs/${pack##*/}"
"$CTL" verify "$T/s2" >"$T/verify2.txt" 2>&1
diag <"$T/verify2.txt"
check "a pack cut short: 'ends ... before the entry does' or a torn append" \
	grep -qE "pack file ends \(at byte [0-9]+\) before the entry does|torn append" "$T/verify2.txt"
check "no raw errno there either" fails grep -qE -- '(^|[^0-9A-Za-z.])-[0-9]+' "$T/verify2.txt"

"$CTL" reindex "$S" >"$T/reindex.txt" 2>&1
st=$?
diag <"$T/reindex.txt"
check "reindex skips the damage: exit 1 ($st)" [ "$st" = 1 ]
check "reindex names the blob file cut short in words" \
	grep -qF "${blobs[0]##*/}: the blob file is shorter than its header says" "$T/reindex.txt"
check "reindex names the overwritten one in words" \
	grep -qF "${blobs[2]##*/}: the blob file does not start with DCMFSBL1" "$T/reindex.txt"
check "no raw errno in reindex's lines" fails grep -qE -- '(^|[^0-9A-Za-z.])-[0-9]+' "$T/reindex.txt"
done_testing
