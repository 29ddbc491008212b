#!/bin/bash
# t0020-verify-orphan-segments.t - verify checks every blob even when the
# index has segment rows of an instance that has no row (a damaged index):
# such rows make no one the blob's checker.  A damaged blob named only by
# such rows is told (checked as no instance's), and so is one that such a
# row names beside a live instance with a larger id (checked with that one).
. "$(dirname "$0")/lib/common.sh"
[ -n "$CT_SERIES" ] || skip_all "no CT series in the corpus ($CORPUS)"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
S=$T/store
check "a store of three CT slices" new_store "$S" "$CT_SERIES/01.dcm" "$CT_SERIES/02.dcm" "$CT_SERIES/03.dcm"
q() { sqlite3 "$S/index.db" "$1"; }
# blob_file ID: the blob file of blob ID (its pixels are in one when pack=0)
blob_file() {
	local h o f
	IFS='|' read -r h o < <(q "SELECT lower(hex(hash)), ordinal FROM blobs WHERE id=$1")
	f="$S/blobs/${h:0:2}/${h:2:2}/$h"
	[ "$o" = 0 ] || f="$f.$o"
	echo "$f"
}
damage() {
	chmod u+w "$1"
	$PY -c 'import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(0, 2); o = f.tell() // 2; f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x10]))' "$1"
}
first=$(q "SELECT min(id) FROM instances")
last=$(q "SELECT max(id) FROM instances")
# 1. the first instance's row gone, its segment rows left; its pixel blob damaged
b1=$(q "SELECT g.blob FROM segments g JOIN blobs b ON b.id=g.blob WHERE g.instance=$first AND b.pack=0 LIMIT 1")
# 2. a segment row of an instance id no row has (0: below every id) naming
#    the last instance's pixel blob, damaged
b2=$(q "SELECT g.blob FROM segments g JOIN blobs b ON b.id=g.blob WHERE g.instance=$last AND b.pack=0 LIMIT 1")
check "both pixel blobs are in blob files ($b1, $b2)" test -n "$b1" -a -n "$b2"
f1=$(blob_file "$b1")
f2=$(blob_file "$b2")
q "DELETE FROM instances WHERE id=$first; INSERT INTO segments(instance, idx, blob) VALUES(0, 0, $b2)"
damage "$f1"
damage "$f2"
"$CTL" verify "$S" >"$T/verify.txt" 2>&1
st=$?
diag <"$T/verify.txt"
check "verify exits 1" [ "$st" = 1 ]
check "the damaged blob only a row-less instance names is told" \
	grep -q "^damaged: blob $(basename "$f1")" "$T/verify.txt"
check "the damaged blob a row-less instance shares with a live one is told" \
	grep -q "^damaged: blob $(basename "$f2")" "$T/verify.txt"
done_testing
