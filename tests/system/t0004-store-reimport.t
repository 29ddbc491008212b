#!/bin/bash
# Importing the same folder twice: the second run reports every file as a
# duplicate and stores 0 new blob bytes.
. "$(dirname "$0")/lib/store-common.sh"
D=$(sample_dir)
[ -n "$D" ] || skip_all "no sample DICOM files"
S=$TMP/store
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "$D" >"$TMP/first" 2>/dev/null
"$CTL" import -q "$S" "$D" >"$TMP/second" 2>/dev/null
first_acc=$(sed -E 's/^imported: ([0-9]+) new, ([0-9]+) duplicate, ([0-9]+) new version.*/\1 \2 \3/' "$TMP/first" | awk '{print $1+$2+$3}')
read -r n d v < <(sed -E 's/^imported: ([0-9]+) new, ([0-9]+) duplicate, ([0-9]+) new version.*/\1 \2 \3/' "$TMP/second")
[ "$n" = 0 ] && [ "$v" = 0 ] && ok "second import: 0 new, 0 versions" || not_ok "second import: $(cat "$TMP/second")"
[ "$d" = "$first_acc" ] && ok "second import: all $d accepted files are duplicates" || not_ok "duplicates $d, want $first_acc"
grep -q ' 0 B newly stored' "$TMP/second" && ok "second import stores 0 new bytes" || not_ok "$(cat "$TMP/second")"
check "verify is clean" "$CTL" verify "$S"
done_testing
