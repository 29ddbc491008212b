#!/bin/bash
# t0211-mount-damage.t - a flipped bit in a pack blob: reading that file
# through the mount fails with EIO (not EBADMSG), the daemon logs the
# instance and the pack; every other file reads back as before.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
[ "$DISTRIBUTED" = 1 ] || command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
S=$T/store M=$T/mnt
check "import a CT series" new_store "$S" "$CT_SERIES"
read -r bid boff bsize < <(catalog_sql "$S" "SELECT b.id, b.offset, b.enc_size FROM blobs b WHERE b.pack > 0
	AND (SELECT count(*) FROM segments g WHERE g.blob=b.id) = 1 ORDER BY b.offset LIMIT 1 OFFSET 5" | tr '|' ' ')
uid=$(catalog_sql "$S" "SELECT i.sop_uid FROM segments g JOIN instances i ON i.id=g.instance WHERE g.blob=$bid")
if [ "$DISTRIBUTED" = 1 ]; then   # the pack is an object of the pool
	pack=$(pool_ls "$S" | grep '^packs/.*\.pack$' | head -1)
	pool_flip "$S" "$pack" $((boff + bsize / 2)) 8 || helper_failed "pool_flip $pack"
else
	pack=$(ls "$S"/packs/*.pack | head -1)
	$PY -c 'import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x08]))' "$pack" $((boff + bsize / 2))
fi
fs_mount_or_bail "$S" "$M"
f=$(find "$M/patients" -name "$uid*.dcm")
out=$(cat "$f" 2>&1 >/dev/null)
echo "$out" | grep -q "Input/output error" && ok "reading the damaged file fails with EIO" || not_ok "cat: $out"
bad=0
for x in $(find "$M/patients" -type f ! -name "$uid*"); do
	cat "$x" >/dev/null 2>&1 || bad=$((bad + 1))
done
[ $bad = 0 ] && ok "every other file reads" || not_ok "$bad other files fail to read"
check "unmount" fs_umount "$M"
grep -q "instance $uid (inode [0-9]*): segment [0-9] is damaged.*packs/$(basename "$pack")" "$T/dcmfs.log" &&
	ok "the daemon logs the instance and the pack" || { not_ok "log:"; diag <"$T/dcmfs.log"; }
: >"$T/dcmfs.log"   # those lines were expected
done_testing
