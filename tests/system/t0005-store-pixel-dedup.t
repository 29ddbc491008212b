#!/bin/bash
# A copy of a CT series whose PatientName was changed (dcmtk's dcmodify)
# shares its pixel blobs: stored bytes grow by less than 2% of the series.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CORPUS" ] || skip_all "../shared/corpus absent (needs the real CT series)"
command -v dcmodify >/dev/null || skip_all "dcmodify (dcmtk) not installed"
SER=$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl
S=$T/store
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "$SER" >/dev/null
before=$(stat_total "$S" stored_bytes)
cp -r "$SER" "$T/copy"
dcmodify -nb -m "(0010,0010)=CORRECTED^NAME" "$T"/copy/*.dcm >/dev/null 2>&1
check "dcmodify changed the name" bash -o pipefail -c "dcmdump '$T/copy/01.dcm' | grep CORRECTED >/dev/null"
"$CTL" import -q "$S" "$T/copy" >"$T/out"
grep -q ' 28 new version' "$T/out" && ok "28 new versions (same SOPInstanceUIDs, other bytes)" || not_ok "$(cat "$T/out")"
after=$(stat_total "$S" stored_bytes)
size=$(du -sb "$SER" | cut -f1)
growth=$((after - before))
echo "# series $size bytes, stored grew by $growth bytes"
[ $((growth * 50)) -lt "$size" ] && ok "stored bytes grew by $growth, < 2% of the $size-byte series" || not_ok "grew by $growth of $size"
npix=$(sqlite3 "$S/index.db" "SELECT count(*) FROM blobs WHERE kind=1")
[ "$npix" = 28 ] && ok "28 pixel blobs for 56 instances" || not_ok "$npix pixel blobs"
sop=$("$SCAN" "$T/copy/01.dcm" | sed -n 's/^sop_instance_uid=//p')
check "the corrected copy reads back exactly (--version 2)" bash -o pipefail -c "'$CTL' get '$S' '$sop' --version 2 | cmp - '$T/copy/01.dcm'"
check "the original reads back exactly (--version 1)" bash -o pipefail -c "'$CTL' get '$S' '$sop' --version 1 | cmp - '$SER/01.dcm'"
ser=$("$SCAN" "$SER/01.dcm" | sed -n 's/^series_uid=//p')
"$CTL" get "$S" --series "$ser" -o "$T/series-out" >/dev/null
(cd "$SER" && sha256sum * | cut -d' ' -f1; cd "$T/copy" && sha256sum * | cut -d' ' -f1) | sort >"$T/want"
(cd "$T/series-out" && sha256sum * | cut -d' ' -f1) | sort >"$T/got"
check "get --series writes all 56 files (both versions) byte-identical" diff "$T/want" "$T/got"
done_testing
