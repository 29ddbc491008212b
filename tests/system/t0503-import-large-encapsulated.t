#!/bin/bash
# t0503-import-large-encapsulated.t - large files of encapsulated pixel data
# are imported streamed, like native ones: a JPEG tiled slide (~80 MB, one
# fragment a tile) is cut into pieces at item starts, so that a tile lies in
# one piece; a multi-frame file whose fragments (48 MiB frames) are longer
# than a piece is cut inside them, no piece over 32 MiB.  Both import under
# 200 MB of peak RSS and come back byte-identical through get, reindex and
# the mount; kill -9 in the middle of the slide's import leaves a store
# verify finds clean; a full disk fails it with a one-line error and leaves
# nothing behind.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/large_import.sh"
large_import_needs numpy pydicom PIL
GEN=$LIB/encap_gen.py

TILES=$T/tiles.dcm FRAMES=$T/frames.dcm
tiles_uid=$("$PY" "$GEN" "$SEED" "$TILES" tiles 80 503) || { echo "Bail out! encap_gen.py tiles failed"; exit 1; }
frames_uid=$("$PY" "$GEN" "$SEED" "$FRAMES" frames 90 504) || { echo "Bail out! encap_gen.py frames failed"; exit 1; }
diag "JPEG slide $(stat -c %s "$TILES") bytes; multi-frame $(stat -c %s "$FRAMES") bytes"

# pieces STORE UID: the raw sizes of an instance's segments, in order.
pieces() {
	catalog_sql "$1" "SELECT b.raw_size FROM segments s JOIN blobs b ON b.id = s.blob
		JOIN instances i ON i.id = s.instance WHERE i.sop_uid = '$2' ORDER BY s.idx"
}

S=$T/store
"$CTL" init "$S" >/dev/null
for f in "$TILES" "$FRAMES"; do
	/usr/bin/time -f %M -o "$T/rss" "$CTL" import -q "$S" "$f" >"$T/import.log" 2>&1
	st=$?
	diag <"$T/import.log"
	check "import $(basename "$f") exits 0" test $st = 0
	rss=$(tail -1 "$T/rss")
	case "$BUILD" in
	*sanitize*) skip "peak RSS under AddressSanitizer (its quarantine keeps freed memory): $rss KB" ;;
	*)
		[ "$rss" -lt "$RSS_LIMIT_KB" ] && ok "peak import RSS $rss KB < $RSS_LIMIT_KB KB for $(basename "$f")" ||
			not_ok "peak import RSS $rss KB for $(basename "$f"), limit $RSS_LIMIT_KB KB" ;;
	esac
done

pieces "$S" "$tiles_uid" >"$T/tiles.pieces"
"$PY" "$GEN" --items "$TILES" >"$T/tiles.items" || helper_failed "encap_gen.py --items"
check "the slide is stored in pieces, each beginning where an item (a tile) begins" \
	"$PY" - "$T/tiles.pieces" "$T/tiles.items" <<'PY'
import sys
sizes = [int(x) for x in open(sys.argv[1])]
items = set(int(x) for x in open(sys.argv[2]))
assert len(sizes) > 3, 'only %d segments' % len(sizes)
off = sizes[0]                       # the header ends where the items begin
assert off == min(items), (off, min(items))
for s in sizes[1:-1]:
    off += s
    assert off in items, 'a piece ends at %d, inside an item' % off
print('# %d pieces, every cut at an item start' % (len(sizes) - 1))
PY
pieces "$S" "$frames_uid" >"$T/frames.pieces"
n=$(wc -l <"$T/frames.pieces")
big=$(awk '$1 > 32 * 1048576' "$T/frames.pieces" | wc -l)
[ "$n" -gt 3 ] && [ "$big" = 0 ] && ok "48 MiB fragments are cut inside: $n segments, none over 32 MiB" ||
	not_ok "multi-frame: $n segments, $big over 32 MiB"

check "get gives the slide back byte-identical" same_as_stored "$S" "$tiles_uid" "$TILES"
check "get gives the multi-frame file back byte-identical" same_as_stored "$S" "$frames_uid" "$FRAMES"
check "verify is clean" "$CTL" verify "$S"
check "reindex" "$CTL" reindex "$S"
check "after reindex, get gives the slide back byte-identical" same_as_stored "$S" "$tiles_uid" "$TILES"
check "after reindex, get gives the multi-frame file back byte-identical" same_as_stored "$S" "$frames_uid" "$FRAMES"
check "after reindex, verify is clean" "$CTL" verify "$S"

if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	need_fuse
	fs_mount_or_bail "$S" "$T/mnt" -o ro
	check "the mount reads the slide byte-identical" cmp "$TILES" "$(find "$T/mnt/patients" -name "$tiles_uid.dcm" -type f)"
	check "the mount reads the multi-frame file byte-identical" cmp "$FRAMES" "$(find "$T/mnt/patients" -name "$frames_uid.dcm" -type f)"
	check "unmount" fs_umount "$T/mnt"
else
	skip "no FUSE here: the mount read is not tried"
fi
rm -rf "$S"

kill9_mid_import "$TILES" "$tiles_uid"
full_disk_import "$TILES"
done_testing
