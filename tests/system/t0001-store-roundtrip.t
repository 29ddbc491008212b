#!/bin/bash
# Every valid DICOM file of the corpus and of Debian's pydicom test files
# goes in and comes back out of `dcmfsctl get` byte-identical; verify is clean.
. "$(dirname "$0")/lib/common.sh"
dirs=()
[ -n "$CORPUS" ] && dirs+=("$CORPUS") || echo "# ../shared/corpus absent: pydicom files only"
[ -n "$PYDICOM_FILES" ] && dirs+=("$PYDICOM_FILES") || echo "# python3-pydicom test files absent"
[ ${#dirs[@]} -gt 0 ] || skip_all "no sample DICOM files (../shared/corpus or python3-pydicom)"
S=$T/store
check "init creates a store" "$CTL" init "$S"
"$CTL" import -q "$S" "${dirs[@]}" >"$T/import.out" 2>"$T/import.err"
rc=$?
[ $rc -eq 1 ] && ok "import exits 1 because some files are rejected" || not_ok "import exit status $rc (want 1)"
grep -q '^imported: .* new' "$T/import.out" && ok "import prints one summary line" || not_ok "no summary: $(cat "$T/import.out")"
# The corpus has an empty file; pydicom's files have a truncated one.
if [ -n "$CORPUS" ]; then
	grep -q "rejected '.*zero_length.dcm': empty file" "$T/import.err"
else
	grep -q "rejected '.*MR_truncated.dcm': file ends inside element" "$T/import.err"
fi && ok "a rejected file is listed with its reason" || { not_ok "rejection reasons missing"; head -5 "$T/import.err" | diag; }
check "every accepted file reads back byte-identical" $PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$S" "${dirs[@]}"
check "verify is clean" "$CTL" verify "$S"
check "get refuses an unknown instance with exit 2" exits_with 2 'not in the store' "$CTL" get "$S" 1.2.3.4.5
check "a folder that is not a store is refused (exit 2)" exits_with 2 'not a dcmfs store' "$CTL" stats "$T"
cp -r "$S" "$T/newer" && sqlite3 "$T/newer/index.db" 'PRAGMA user_version=99'
check "a store with a newer schema is refused (exit 2)" exits_with 2 'newer than this dcmfs' "$CTL" stats "$T/newer"
done_testing
