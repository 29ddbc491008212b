#!/bin/bash
# tools/dcmfs-extract.py reads a store with none of dcmfs's code (FORMAT.md):
# the whole corpus (or Debian's pydicom test files) is imported, extracted,
# and every accepted file comes out byte-identical (SHA-256 per file).  Then
# the store's packs are rewritten in format v2 by an independent writer
# (lib/pack_v2.py) and extracted again, and one damaged v2 entry costs only
# the instance it holds.
. "$(dirname "$0")/lib/store-common.sh"
PY=/usr/bin/python3
$PY -c 'import xxhash, zstandard' 2>/dev/null || skip_all "python3-xxhash / python3-zstandard not installed (make deps)"
dirs=()
[ -n "$CORPUS" ] && dirs+=("$CORPUS") || echo "# ../shared/corpus absent: pydicom files only"
[ -d "$PYDICOM_FILES" ] && dirs+=("$PYDICOM_FILES")
[ ${#dirs[@]} -gt 0 ] || skip_all "no sample DICOM files (../shared/corpus or python3-pydicom)"
X=$TOP/tools/dcmfs-extract.py
S=$TMP/store
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "${dirs[@]}" >"$TMP/import.out" 2>/dev/null
[ $? -le 1 ] && ok "import: $(cat "$TMP/import.out")" || not_ok "import failed: $(cat "$TMP/import.out")"
n=$(stat_total "$S" instances)
start=$(date +%s%N)
$PY "$X" -q "$S" "$TMP/out" >"$TMP/x.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
secs=$((ms / 1000)).$((ms % 1000 / 100))
[ $rc -eq 0 ] && ok "extract exits 0 ($(cat "$TMP/x.out"), ${secs}s)" || { not_ok "extract exits $rc"; sed 's/^/# /' "$TMP/x.out" | head; }
m=$(($(wc -l <"$TMP/out/MANIFEST.tsv") - 1))
[ "$m" = "$n" ] && ok "one file per stored instance ($n)" || not_ok "$m files extracted, the store has $n instances"
check "every accepted file is extracted byte-identical, nothing else" $PY "$(dirname "$0")/lib/extract_check.py" "$SCAN" "$TMP/out" "${dirs[@]}"
# Format v2: a copy of a smaller store with its packs rewritten as v2.
small=$(sample_dir)
[ -n "$CORPUS" ] && small=$CORPUS/variety
S2=$TMP/store2
"$CTL" init "$S2" >/dev/null
"$CTL" import -q "$S2" "$small" >/dev/null 2>&1
# A tombstone hides an instance from the extract.
sop=$("$CTL" ls "$S2" >/dev/null 2>&1; sqlite3 "$S2/index.db" "SELECT sop_uid FROM instances ORDER BY id LIMIT 1")
"$CTL" rm "$S2" --instance "$sop" >/dev/null 2>&1
$PY "$X" -q "$S2" "$TMP/v1" >/dev/null 2>&1
[ -n "$sop" ] && ! cut -f6 "$TMP/v1/MANIFEST.tsv" | grep -qxF "$sop" && ok "a removed instance (tombstone) is not extracted" || not_ok "removed '$sop' still extracted"
$PY "$(dirname "$0")/lib/pack_v2.py" "$S2" >"$TMP/entries"
v2=0
for p in "$S2"/packs/*.pack; do
	head -c 16 "$p" | od -An -tx1 | tr -d ' \n' | grep -qx '44434d4653504b310200000000000000' || v2=1
done
[ $v2 = 0 ] && ok "packs rewritten as v2 ($(ls "$S2/packs" | wc -l) packs)" || not_ok "v2 writer"
$PY "$X" -q "$S2" "$TMP/v2" >"$TMP/v2.out" 2>&1
rc=$?
[ $rc -eq 0 ] && diff -r "$TMP/v1" "$TMP/v2" >/dev/null && ok "v2 packs extract to the same files ($(cat "$TMP/v2.out"))" \
	|| not_ok "v2 extract differs (exit $rc): $(cat "$TMP/v2.out")"
# Damage one byte in the payload of the middle instance record: only it is lost.
read -r off type pack < <(awk -F'\t' '$2 == 2' "$TMP/entries" | awk 'NR == 1 { n = 0 } { l[NR] = $0 } END { print l[int(NR / 2) + 1] }' | tr '\t' ' ')
total=$(($(wc -l <"$TMP/v1/MANIFEST.tsv") - 1))
printf '\xff' | dd of="$S2/packs/$pack" bs=1 seek=$((off + 30)) conv=notrunc status=none
$PY "$X" -q "$S2" "$TMP/v2d" >"$TMP/v2d.out" 2>&1
got=$(awk -F'\t' '$1 == "ok"' "$TMP/v2d/MANIFEST.tsv" | wc -l)
[ "$got" -eq $((total - 1)) ] && ok "a damaged v2 record loses only its instance: $got of $total extracted" \
	|| not_ok "after damage at $pack:$((off + 30)): $got of $total extracted ($(cat "$TMP/v2d.out"))"
done_testing
