#!/bin/bash
# t0710: a store whose packs and blob files live in a RADOS pool (one-node
# memstore Ceph, tests/system/lib/ceph.sh): `dcmfsctl init STORE --data
# rados://...` writes STORE/store.conf and claims the pool; import, get,
# verify and a read-only mount work on it and give every file back
# byte-identical, and so does the admin mount's /incoming (and its rm); the
# data is in the pool, not in the folder; gc and reindex run on it
# (t0712);
# a wrong pool, a bad url and a newer store.conf are refused by name.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/ceph.sh"
need_ceph
need_samples
need_fuse
check "Ceph (one mon, one memstore osd) starts in its own folder" ceph_start dcmfs
diag "Ceph usable in $CEPH_START_SECONDS s"

S=$T/store
check "init --data writes a store whose data is in the pool" "$CTL" init "$S" --data "$CEPH_URL"
check "store.conf says so: format 1, a store id, the url" \
	eval 'grep -qx "format = 1" "$S/store.conf" && grep -qx "data = $CEPH_URL" "$S/store.conf" &&
	      grep -qE "^store_id = [0-9a-f]{32}$" "$S/store.conf"'
check "the pool holds the store's id" \
	eval '[ "$(ceph_rados get dcmfs-store-id - )" = "$(sed -n "s/^store_id = //p" "$S/store.conf")" ]'
check "a second store on the same pool is refused, by name" \
	exits_with 2 "already holds the data of store" "$CTL" init "$T/second" --data "$CEPH_URL"
check "a url without conf= is refused" exits_with 2 "names no ceph.conf" "$CTL" init "$T/third" --data "rados://dcmfs"
check "a pool that does not exist is refused" \
	exits_with 2 "no such pool" "$CTL" init "$T/fourth" --data "rados://nopool?conf=$CEPH_CONF"
check "a url that is not rados:// is a usage error" exits_with 2 "not a rados://" "$CTL" init "$T/fifth" --data "s3://x"

# The admin (read-write) mount: files copied into /incoming are stored in
# the pool and read back; rm through the mount removes one.
if [ -n "$CT_SERIES" ]; then
	fs_mount_or_bail "$S" "$T/rw"
	check "cp of a CT series into the mount's /incoming succeeds" cp -r "$CT_SERIES" "$T/rw/incoming/"
	fs_match_originals "$T/rw/patients" "$CT_SERIES" >"$T/rw.match"
	check "the series shows under /patients, every file byte-identical" \
		eval '[ "$(grep -vc "^MISSING" "$T/rw.match")" = "$(ls "$CT_SERIES" | wc -l)" ] && ! grep -q "^MISSING" "$T/rw.match"'
	first=$(head -1 "$T/rw.match" | cut -f1)
	check "rm of one file through the mount" rm "$first"
	check "it is gone" eval '[ ! -e "$first" ] && [ "$(instances "$S")" = "$(($(ls "$CT_SERIES" | wc -l) - 1))" ]'
	check "unmount the admin mount" fs_umount "$T/rw"
	check "verify is clean after the admin mount" "$CTL" verify "$S"
else
	skip "no CT series in the corpus: the admin mount is not tried"
fi

"$CTL" import -q "$S" "$SAMPLES" >"$T/import.out" 2>"$T/import.err"
rc=$?
[ $rc -le 1 ] && ok "import into the RADOS store (exit $rc)" || { not_ok "import exit status $rc"; diag <"$T/import.err"; }
check "import stored instances" eval '[ "$(instances "$S")" -gt 0 ]'
diag "$(instances "$S") instances, pool: $(ceph_rados ls | grep -c '^packs/') packs, $(ceph_rados ls | grep '^blobs/' | grep -vc '@') blob files"
check "the packs and blob files are in the pool" \
	eval '[ "$(ceph_rados ls | grep -c "^packs/")" -gt 0 ] && [ "$(ceph_rados ls | grep -c "^blobs/")" -gt 0 ]'
check "and not in the folder" eval '[ -z "$(find "$S/packs" "$S/blobs" -type f)" ]'
check "no temporary object is left" eval '! ceph_rados ls | grep -q "\.tmp"'
# get is a process (a cluster connection) a file: 8 files of as many
# transfer syntaxes; the mount below reads them all.
GET_SAMPLES=$T/get-samples
mkdir -p "$GET_SAMPLES"
find "$SAMPLES" -name '*.dcm' -size +1k -not -path '*/malformed/*' | sort >"$T/dcm.list"
for kind in JLS J2K JPEGBaseline JPEGLossless RLE big_endian implicit deflate; do
	f=$(grep -i -m1 -- "$kind" "$T/dcm.list") && cp "$f" "$GET_SAMPLES/"
done
[ "$(ls "$GET_SAMPLES" | wc -l)" -ge 4 ] || head -8 "$T/dcm.list" | xargs -r cp -t "$GET_SAMPLES"
diag "get checks: $(ls "$GET_SAMPLES" | tr '\n' ' ')"
check "every accepted file reads back byte-identical through get ($(basename "$GET_SAMPLES"))" \
	$PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$S" "$GET_SAMPLES"
check "verify is clean" "$CTL" verify "$S"

M=$T/mnt
fs_mount_or_bail "$S" "$M" -o ro
fs_match_originals "$M" "$SAMPLES" >"$T/match.out"
check "every file of the read-only mount is byte-identical to an original" \
	eval '[ -s "$T/match.out" ] && ! grep -q "^MISSING" "$T/match.out"'
check "unmount" fs_umount "$M"

check "gc runs on it (t0712 tries it harder)" "$CTL" gc "$S"
check "reindex runs on it (t0712 tries it harder)" "$CTL" reindex "$S"
check "and after both the store still verifies clean" "$CTL" verify "$S"

# Damage in the pool: one byte of a blob file object changed.
blob=$(ceph_rados ls | grep '^blobs/' | grep -v '@' | head -1)
ceph_rados get "$blob" "$T/blob.obj"
printf 'X' | dd of="$T/blob.obj" bs=1 seek=200 conv=notrunc status=none
ceph_rados put "$blob" "$T/blob.obj"
check "verify names a damaged blob object, in words (exit 1)" \
	exits_with 1 "encoded bytes fail their checksum" "$CTL" verify "$S"

# kill -9 during an import, into a second store (its own pool): what the
# cluster acknowledged before the catalogue committed is all there.
make_pool() {
	ceph -c "$CEPH_CONF" osd pool create "$1" 8 8 replicated &&
		ceph -c "$CEPH_CONF" osd pool set "$1" size 1 --yes-i-really-mean-it &&
		ceph -c "$CEPH_CONF" osd pool application enable "$1" rados
}
K=$T/killed
check "a second pool, and a store on it" \
	eval 'make_pool killed && "$CTL" init "$K" --data "rados://killed?conf=$CEPH_CONF"'
for delay in 0.5 1.5; do
	killed_after $delay "$CTL" import -q "$K" "$SAMPLES"
	check "after kill -9 of an import at $delay s, verify finds the store consistent ($(instances "$K") instances)" \
		"$CTL" verify "$K"
done
"$CTL" import -q "$K" "$SAMPLES" >/dev/null 2>&1
check "the import run again completes it: every file reads back byte-identical ($(basename "$GET_SAMPLES"))" \
	$PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$K" "$GET_SAMPLES"
check "and it verifies clean" "$CTL" verify "$K"

sed -i 's/^format = 1$/format = 2/' "$S/store.conf"
check "a store.conf of a newer format is refused" exits_with 2 "newer than this dcmfs" "$CTL" stats "$S"
sed -i 's/^format = 2$/format = 1/' "$S/store.conf"
ceph_rados rm dcmfs-store-id
check "a pool that does not hold this store's id is refused" exits_with 2 "wrong pool" "$CTL" stats "$S"
done_testing
