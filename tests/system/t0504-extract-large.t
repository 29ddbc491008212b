#!/bin/bash
# t0504-extract-large.t - dcmfs-extract.py on a store holding a streamed
# file (a ~96 MB multi-frame image in 48 MiB fragments, stored in pieces)
# writes it byte-identical with a bounded peak RSS: it is written piece by
# piece and hashed as it goes, never held whole (it held it twice over:
# 580 MB for a 200 MB file).  A damaged piece fails that instance and
# leaves neither the file nor a partial one behind.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/large_import.sh"
large_import_needs numpy pydicom PIL xxhash zstandard
X=$TOP/tools/dcmfs-extract.py
BIG=$T/frames.dcm
uid=$("$PY" "$LIB/encap_gen.py" "$SEED" "$BIG" frames 96 505) || { echo "Bail out! encap_gen.py failed"; exit 1; }
size=$(stat -c %s "$BIG")
diag "multi-frame file $size bytes"

S=$T/store
"$CTL" init "$S" >/dev/null
check "the large file imports" "$CTL" import -q "$S" "$BIG"
n=$(sqlite3 "$S/index.db" "SELECT count(*) FROM segments s JOIN instances i ON i.id = s.instance WHERE i.sop_uid = '$uid'")
check "it is stored in pieces ($n segments)" test "$n" -gt 3

/usr/bin/time -f %M -o "$T/rss" "$PY" "$X" -q "$S" "$T/out" >"$T/x.log" 2>&1
st=$?
diag <"$T/x.log"
check "extract exits 0" test $st = 0
out=$(find "$T/out" -name '*.dcm')
check "the extracted file is byte-identical" cmp "$BIG" "$out"
rss=$(tail -1 "$T/rss")
# Two pieces (raw and encoded) and the interpreter; the whole file is 96 MB.
limit=$((size / 1024))
[ "$rss" -lt "$limit" ] && ok "extract peak RSS $rss KB < the file's size ($limit KB)" ||
	not_ok "extract peak RSS $rss KB, not under the file's size ($limit KB)"

# A damaged piece (a byte of the largest blob file flipped).
blob=$(find "$S/blobs" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
"$PY" -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek(-100, 2); b = f.read(1); f.seek(-100, 2)
f.write(bytes([b[0] ^ 0xFF]))" "$blob" || helper_failed "damaging a blob"
rm -rf "$T/out"
"$PY" "$X" -q "$S" "$T/out" >"$T/x.log" 2>&1
st=$?
diag <"$T/x.log"
check "a damaged piece: extract exits 1" test $st = 1
check "the damaged instance is listed as failed" grep -q "^corrupt blob" "$T/out/MANIFEST.tsv"
check "and neither it nor a partial file is left" test -z "$(find "$T/out" -type f ! -name MANIFEST.tsv)"
done_testing
