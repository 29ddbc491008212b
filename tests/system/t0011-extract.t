#!/bin/bash
# tools/dcmfs-extract.py reads a store with none of dcmfs's code (FORMAT.md):
# the whole corpus (or Debian's pydicom test files) is imported, extracted,
# and every accepted file comes out byte-identical (SHA-256 per file), under
# the names of the mount's /versions tree.  Then the v2 packs dcmfs writes,
# the same packs rewritten as v1 by an independent writer
# (lib/pack_version.py), a tombstone, and one damaged entry in each format
# (it costs only the instance it holds).
. "$(dirname "$0")/lib/common.sh"
$PY -c 'import xxhash, zstandard' 2>/dev/null || skip_all "python3-xxhash / python3-zstandard not installed (make deps)"
dirs=()
[ -n "$CORPUS" ] && dirs+=("$CORPUS") || echo "# ../shared/corpus absent: pydicom files only"
[ -d "$PYDICOM_FILES" ] && dirs+=("$PYDICOM_FILES")
[ ${#dirs[@]} -gt 0 ] || skip_all "no sample DICOM files (../shared/corpus or python3-pydicom)"
X=$TOP/tools/dcmfs-extract.py
S=$T/store
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "${dirs[@]}" >"$T/import.out" 2>/dev/null
[ $? -le 1 ] && ok "import: $(cat "$T/import.out")" || not_ok "import failed: $(cat "$T/import.out")"
n=$(stat_total "$S" instances)
start=$(date +%s%N)
$PY "$X" -q "$S" "$T/out" >"$T/x.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
secs=$((ms / 1000)).$((ms % 1000 / 100))
[ $rc -eq 0 ] && ok "extract exits 0 ($(cat "$T/x.out"), ${secs}s)" || { not_ok "extract exits $rc"; sed 's/^/# /' "$T/x.out" | head; }
m=$(($(wc -l <"$T/out/MANIFEST.tsv") - 1))
[ "$m" = "$n" ] && ok "one file per stored instance ($n)" || not_ok "$m files extracted, the store has $n instances"
check "every accepted file is extracted byte-identical, nothing else" $PY "$(dirname "$0")/lib/extract_check.py" "$SCAN" "$T/out" "${dirs[@]}"
# The layout is that of /versions in the mount: the same names, the same bytes.
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null && [ -x "$DCMFS" ]; then
	fs_mount "$S" "$T/mnt" -o ro || diag <"$T/dcmfs.log"
	rm -f "$T/out.list"
	(cd "$T/out" && find . -name '*.dcm' | sort) >"$T/out.list"
	(cd "$T/mnt/versions" && find . -type f | sort) >"$T/mnt.list"
	if cmp -s "$T/out.list" "$T/mnt.list" && (cd "$T/out" && while read -r f; do cmp -s "$f" "$T/mnt/versions/$f" || exit 1; done <"$T/out.list"); then
		ok "the extract is the mount's /versions tree, name for name and byte for byte ($(wc -l <"$T/out.list") files)"
	else
		not_ok "the extract differs from /versions: $(diff "$T/out.list" "$T/mnt.list" | head -4 | tr '\n' ' ')"
	fi
	check "unmount (the daemon exits with status 0)" fs_umount "$T/mnt"
else
	skip "no FUSE: the extract is not compared with the mount"
	skip "no FUSE: no mount to unmount"
fi
# Packs as dcmfs writes them now (v2), a tombstone, the same packs rewritten
# as v1 by an independent writer (lib/pack_version.py), and damage to each.
small=$SAMPLES
[ -n "$CORPUS" ] && small=$CORPUS/variety
S2=$T/store2
"$CTL" init "$S2" >/dev/null
"$CTL" import -q "$S2" "$small" >/dev/null 2>&1
v2=0
for p in "$S2"/packs/*.pack; do
	head -c 16 "$p" | od -An -tx1 | tr -d ' \n' | grep -qx '44434d4653504b310200000000000000' || v2=1
done
[ $v2 = 0 ] && ok "dcmfs writes packs of format v2 ($(ls "$S2/packs" | wc -l) packs)" || not_ok "a pack of dcmfs is not v2"
# A tombstone hides an instance from the extract.
sop=$("$CTL" ls "$S2" >/dev/null 2>&1; sqlite3 "$S2/index.db" "SELECT sop_uid FROM instances ORDER BY id LIMIT 1")
"$CTL" rm "$S2" --instance "$sop" >/dev/null 2>&1
$PY "$X" -q "$S2" "$T/v2" >"$T/v2.out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "v2 packs from dcmfs extract ($(cat "$T/v2.out"))" || not_ok "v2 extract exits $rc: $(cat "$T/v2.out")"
[ -n "$sop" ] && ! grep -qxF "$sop" <(cut -f6 "$T/v2/MANIFEST.tsv") && ok "a removed instance (tombstone) is not extracted" || not_ok "removed '$sop' still extracted"
total=$(($(wc -l <"$T/v2/MANIFEST.tsv") - 1))
cp -a "$S2" "$T/store1"
S1=$T/store1
$PY "$(dirname "$0")/lib/pack_version.py" "$S2" >"$T/entries2" && ok "every v2 entry checks out ($(wc -l <"$T/entries2") entries)" || not_ok "pack_version.py: bad v2 entry"
$PY "$(dirname "$0")/lib/pack_version.py" "$S1" 1 >"$T/entries1"
v1=0
for p in "$S1"/packs/*.pack; do
	head -c 16 "$p" | od -An -tx1 | tr -d ' \n' | grep -qx '44434d4653504b310100000000000000' || v1=1
done
[ $v1 = 0 ] && "$CTL" verify "$S1" >/dev/null 2>&1 && ok "packs rewritten as v1, and dcmfs verifies them" || not_ok "v1 writer (or dcmfs does not read v1)"
$PY "$X" -q "$S1" "$T/v1" >"$T/v1.out" 2>&1
rc=$?
[ $rc -eq 0 ] && diff -r "$T/v1" "$T/v2" >/dev/null && ok "v1 packs extract to the same files ($(cat "$T/v1.out"))" \
	|| not_ok "v1 extract differs (exit $rc): $(cat "$T/v1.out")"
# Damage one byte in the payload of the middle instance record: only it is
# lost, in a v2 pack and in a v1 pack.
for v in 2 1; do
	read -r off type pack < <(awk -F'\t' '$2 == 2' "$T/entries$v" | awk '{ l[NR] = $0 } END { print l[int(NR / 2) + 1] }' | tr '\t' ' ')
	st=$T/store$v
	printf '\xff' | dd of="$st/packs/$pack" bs=1 seek=$((off + 30)) conv=notrunc status=none
	$PY "$X" -q "$st" "$T/v${v}d" >"$T/v${v}d.out" 2>&1
	got=$(awk -F'\t' '$1 == "ok"' "$T/v${v}d/MANIFEST.tsv" | wc -l)
	[ "$got" -eq $((total - 1)) ] && ok "a damaged v$v record loses only its instance: $got of $total extracted ($(cat "$T/v${v}d.out"))" \
		|| not_ok "v$v: after damage at $pack:$((off + 30)): $got of $total extracted ($(cat "$T/v${v}d.out"))"
done
done_testing
