#!/bin/bash
# A copy of a CT series whose PatientName was changed (dcmtk's dcmodify)
# shares its pixel blobs: stored bytes grow by less than 2% of the series.
. "$(dirname "$0")/lib/store-common.sh"
[ -n "$CORPUS" ] || skip_all "../shared/corpus absent (needs the real CT series)"
command -v dcmodify >/dev/null || skip_all "dcmodify (dcmtk) not installed"
SER=$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl
S=$TMP/store
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "$SER" >/dev/null
before=$(stat_total "$S" stored_bytes)
cp -r "$SER" "$TMP/copy"
dcmodify -nb -m "(0010,0010)=CORRECTED^NAME" "$TMP"/copy/*.dcm >/dev/null 2>&1
check "dcmodify changed the name" bash -c "dcmdump '$TMP/copy/01.dcm' | grep -q CORRECTED"
"$CTL" import -q "$S" "$TMP/copy" >"$TMP/out"
grep -q ' 28 new version' "$TMP/out" && ok "28 new versions (same SOPInstanceUIDs, other bytes)" || not_ok "$(cat "$TMP/out")"
after=$(stat_total "$S" stored_bytes)
size=$(du -sb "$SER" | cut -f1)
growth=$((after - before))
echo "# series $size bytes, stored grew by $growth bytes"
[ $((growth * 50)) -lt "$size" ] && ok "stored bytes grew by $growth, < 2% of the $size-byte series" || not_ok "grew by $growth of $size"
npix=$(sqlite3 "$S/index.db" "SELECT count(*) FROM blobs WHERE kind=1")
[ "$npix" = 28 ] && ok "28 pixel blobs for 56 instances" || not_ok "$npix pixel blobs"
sop=$("$SCAN" "$TMP/copy/01.dcm" | sed -n 's/^sop_instance_uid=//p')
check "the corrected copy reads back exactly (--version 2)" bash -c "'$CTL' get '$S' '$sop' --version 2 | cmp - '$TMP/copy/01.dcm'"
check "the original reads back exactly (--version 1)" bash -c "'$CTL' get '$S' '$sop' --version 1 | cmp - '$SER/01.dcm'"
ser=$("$SCAN" "$SER/01.dcm" | sed -n 's/^series_uid=//p')
"$CTL" get "$S" --series "$ser" -o "$TMP/series-out" >/dev/null
(cd "$SER" && sha256sum * | cut -d' ' -f1; cd "$TMP/copy" && sha256sum * | cut -d' ' -f1) | sort >"$TMP/want"
(cd "$TMP/series-out" && sha256sum * | cut -d' ' -f1) | sort >"$TMP/got"
check "get --series writes all 56 files (both versions) byte-identical" diff "$TMP/want" "$TMP/got"
done_testing
