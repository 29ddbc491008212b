#!/bin/bash
# t0012-import-large-stream.t - a large file (a generated whole-slide image,
# native RGB, ~100 MB) is imported streamed: in pieces, with a bounded peak
# RSS, and comes back byte-identical through get, the mount, verify and
# reindex; a second import finds it a duplicate, and so does the same file
# met twice in one import; a file cut short while it is read is refused;
# kill -9 in the middle of its import leaves a store verify finds clean,
# with no partial blob visible; a full disk fails it with a one-line error
# and leaves nothing behind.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/large_import.sh"
large_import_needs numpy pydicom

W=$T/slide.dcm
"$PY" "$LIB/wsi_gen.py" "$SEED" "$W" 500 7 || { echo "Bail out! wsi_gen.py failed"; exit 1; }
size=$(stat -c %s "$W")
diag "generated slide: $size bytes, 500 tiles of 256x256 RGB"

S=$T/store
"$CTL" init "$S" >/dev/null
/usr/bin/time -f %M -o "$T/rss" "$CTL" import -q "$S" "$W" >"$T/import.log" 2>&1
st=$?
diag <"$T/import.log"
check "import exits 0" test $st = 0
rss=$(tail -1 "$T/rss")
case "$BUILD" in
*sanitize*) skip "peak RSS under AddressSanitizer (its quarantine keeps freed memory): $rss KB" ;;
*)
	[ "$rss" -lt "$RSS_LIMIT_KB" ] && ok "peak import RSS $rss KB < $RSS_LIMIT_KB KB for a $((size >> 20)) MiB file" ||
		not_ok "peak import RSS $rss KB, limit $RSS_LIMIT_KB KB" ;;
esac
nseg=$(catalog_sql "$S" "SELECT count(*) FROM segments")
[ "$nseg" -gt 3 ] && ok "stored in pieces: $nseg segments" || not_ok "stored in $nseg segments, not in pieces"
sop=$(catalog_sql "$S" "SELECT sop_uid FROM instances")
check "get gives the file back byte-identical" bash -c "'$CTL' get '$S' '$sop' -o '$T/back.dcm' && cmp '$W' '$T/back.dcm'"
rm -f "$T/back.dcm"
check "verify is clean" "$CTL" verify "$S"
"$CTL" import -q "$S" "$W" >"$T/again.log" 2>&1
grep -q "0 new, 1 duplicate" "$T/again.log" && ok "a second import finds a duplicate" ||
	not_ok "second import: $(cat "$T/again.log")"
check "reindex" "$CTL" reindex "$S"
check "after reindex, get is byte-identical" bash -c "'$CTL' get '$S' '$sop' -o '$T/back.dcm' && cmp '$W' '$T/back.dcm'"
rm -f "$T/back.dcm"
check "after reindex, verify is clean" "$CTL" verify "$S"

# The mount reads it back too.
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	need_fuse
	fs_mount_or_bail "$S" "$T/mnt" -o ro
	f=$(find "$T/mnt/patients" -type f | head -1)
	check "the mount reads it byte-identical" cmp "$W" "$f"
	check "unmount" fs_umount "$T/mnt"
else
	skip "no FUSE here: the mount read is not tried"
fi

# The same large file twice in one import (the second meets the first's
# pieces before they are published): one stored, one duplicate, no blob twice.
S4=$T/store4
mkdir -p "$T/two"
ln "$W" "$T/two/a.dcm" && ln "$W" "$T/two/b.dcm"
"$CTL" init "$S4" >/dev/null
"$CTL" import -q "$S4" "$T/two" >"$T/two.log" 2>&1
grep -q "1 new, 1 duplicate" "$T/two.log" && ok "the same large file twice: 1 new, 1 duplicate" ||
	not_ok "twice: $(cat "$T/two.log")"
check "no blob stored twice" test "$(catalog_sql "$S4" "SELECT count(*) FROM (SELECT hash FROM blobs GROUP BY hash HAVING count(*) > 1) AS twice")" = 0
check "no temporary piece file left" test -z "$(blob_tmp_files "$S4")"
rm -rf "$S4" "$T/two"

# The file cut short by another program while its pieces are read: refused,
# nothing of it stored.
S5=$T/store5
cp "$W" "$T/cut.dcm"
import_until_a_piece "$S5" "$T/cut.dcm" "$T/cut.log"
truncate -s 50000000 "$T/cut.dcm"
wait $pid
st=$?
diag <"$T/cut.log"
[ $st = 1 ] && grep -q "rejected.*changed while it was read" "$T/cut.log" && ok "a file cut short meanwhile is refused (exit 1)" ||
	not_ok "cut short: exit $st"
check "nothing of it is stored" test "$(catalog_sql "$S5" "SELECT count(*) FROM blobs")" = 0
check "no piece file of it is left" test -z "$(blob_files "$S5")"
[ "$DISTRIBUTED" = 1 ] && diag "parts left without a head: $(stray_parts "$S5" | wc -l)" &&
	check "gc removes the parts it wrote that have no head" \
		eval '"$CTL" gc "$S5" >/dev/null && test -z "$(stray_parts "$S5")"'
rm -rf "$S5" "$T/cut.dcm"

kill9_mid_import "$W" "$sop"
full_disk_import "$W"
done_testing
