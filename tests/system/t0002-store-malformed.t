#!/bin/bash
# Every file of corpus/malformed is either refused with a specific reason or,
# where its element structure is sound, stored and read back byte-identical.
# Truncated, non-DICOM and length-past-end files must be refused.  No crash,
# no partial row; verify is clean afterwards.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CORPUS" ] || skip_all "../shared/corpus absent (malformed files live there)"
M=$CORPUS/malformed
S=$T/store
"$CTL" init "$S" >/dev/null
must_refuse="MR_truncated.dcm:truncated|ends rtplan_truncated.dcm:ends zipMR.gz:dicm|plausible
jpeg_named.dcm:dicm|plausible zero_length.dcm:empty preamble_only.dcm:ends truncated_in_meta.dcm:ends
truncated_in_header.dcm:ends truncated_mid_pixels.dcm:ends truncated_mid_fragment.dcm:ends
garbage.dcm:plausible garbage_with_magic.dcm:plausible text_named.dcm:plausible png_named.dcm:plausible
pixeldata_length_huge.dcm:runs.past patientname_length_overrun.dcm:runs.past
emri_small_jpeg_2k_lossless_too_short.dcm:ends"
for entry in $must_refuse; do
	f=${entry%%:*} why=${entry#*:}
	out=$("$CTL" import -q "$S" "$M/$f" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && echo "$out" | grep -Eq "rejected '.*$f': .*($why)"; then
		ok "$f refused: $(echo "$out" | grep -o "rejected.*" | head -1 | cut -c1-150)"
	else
		not_ok "$f must be refused with a specific reason (rc $rc): $out"
	fi
done
# The rest: sound element structure, odd content.  Either outcome is allowed,
# but an accepted file must read back exactly.
for f in "$M"/*; do
	b=$(basename "$f")
	case " $(echo $must_refuse | sed 's/:[^ ]*//g') " in *" $b "*) continue ;; esac
	out=$("$CTL" import -q "$S" "$f" 2>&1)
	rc=$?
	if [ $rc -eq 1 ]; then
		ok "$b refused: $(echo "$out" | grep -o "rejected.*" | head -1 | cut -c1-150)"
	elif [ $rc -eq 0 ]; then
		sop=$("$SCAN" "$f" | sed -n 's/^sop_instance_uid=//p')
		if "$CTL" get "$S" "$sop" | cmp -s - "$f"; then
			ok "$b stored (sound structure) and reads back byte-identical"
		else
			not_ok "$b stored but reads back different"
		fi
	else
		not_ok "$b: import crashed or failed (rc $rc): $out"
	fi
done
check "verify is clean after the malformed files" "$CTL" verify "$S"
n=$(sqlite3 "$S/index.db" "SELECT count(*) FROM instances i WHERE NOT EXISTS (SELECT 1 FROM segments s WHERE s.instance=i.id)")
[ "$n" = 0 ] && ok "no instance row without segments" || not_ok "$n partial rows"
done_testing
