#!/bin/bash
# Every valid DICOM file of the corpus and of Debian's pydicom test files
# goes in and comes back out of `dcmfsctl get` byte-identical; verify is clean.
. "$(dirname "$0")/lib/store-common.sh"
dirs=()
[ -n "$CORPUS" ] && dirs+=("$CORPUS") || echo "# ../shared/corpus absent: pydicom files only"
[ -d "$PYDICOM_FILES" ] && dirs+=("$PYDICOM_FILES") || echo "# python3-pydicom test files absent"
[ ${#dirs[@]} -gt 0 ] || skip_all "no sample DICOM files (../shared/corpus or python3-pydicom)"
S=$TMP/store
check "init creates a store" "$CTL" init "$S"
"$CTL" import -q "$S" "${dirs[@]}" >"$TMP/import.out" 2>"$TMP/import.err"
rc=$?
[ $rc -eq 1 ] && ok "import exits 1 because some files are rejected" || not_ok "import exit status $rc (want 1)"
grep -q '^imported: .* new' "$TMP/import.out" && ok "import prints one summary line" || not_ok "no summary: $(cat "$TMP/import.out")"
grep -q "rejected '.*zero_length.dcm': empty file" "$TMP/import.err" || [ -z "$CORPUS" ] \
	&& ok "a rejected file is listed with its reason" || not_ok "rejection reasons missing"
check "every accepted file reads back byte-identical" python3 "$(dirname "$0")/lib/roundtrip.py" "$CTL" "$SCAN" "$S" "${dirs[@]}"
check "verify is clean" "$CTL" verify "$S"
check "get refuses an unknown instance with exit 2" bash -c "! '$CTL' get '$S' 1.2.3.4.5 >/dev/null 2>&1; [ \$? -eq 0 ] && '$CTL' get '$S' 1.2.3.4.5 2>&1 | grep -q 'not in the store'"
check "a folder that is not a store is refused" bash -c "'$CTL' stats '$TMP' 2>&1 | grep -q 'not a dcmfs store'"
check "a store with a newer schema is refused" bash -c "cp -r '$S' '$TMP/newer' && sqlite3 '$TMP/newer/index.db' 'PRAGMA user_version=99' && '$CTL' stats '$TMP/newer' 2>&1 | grep -q 'newer than this dcmfs'"
done_testing
