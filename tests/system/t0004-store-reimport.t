#!/bin/bash
# Importing the same folder twice: the second run reports every file as a
# duplicate and stores 0 new blob bytes.
. "$(dirname "$0")/lib/common.sh"
D=$SAMPLES
[ -n "$D" ] || skip_all "no sample DICOM files"
S=$T/store
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "$D" >"$T/first" 2>/dev/null
"$CTL" import -q "$S" "$D" >"$T/second" 2>/dev/null
first_acc=$(sed -E 's/^imported: ([0-9]+) new, ([0-9]+) duplicate, ([0-9]+) new version.*/\1 \2 \3/' "$T/first" | awk '{print $1+$2+$3}')
read -r n d v < <(sed -E 's/^imported: ([0-9]+) new, ([0-9]+) duplicate, ([0-9]+) new version.*/\1 \2 \3/' "$T/second")
[ "$n" = 0 ] && [ "$v" = 0 ] && ok "second import: 0 new, 0 versions" || not_ok "second import: $(cat "$T/second")"
[ "$d" = "$first_acc" ] && ok "second import: all $d accepted files are duplicates" || not_ok "duplicates $d, want $first_acc"
grep -q ' 0 B newly stored' "$T/second" && ok "second import stores 0 new bytes" || not_ok "$(cat "$T/second")"
check "verify is clean" "$CTL" verify "$S"
done_testing
