#!/bin/bash
# make demo: create a store, import sample DICOM, mount it and show it.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
DEMO=${DEMO_DIR:-$TOP/demo}
if [ -d "$TOP/../shared/corpus" ]; then
	SAMPLE=$(cd "$TOP/../shared/corpus" && pwd)
else
	SAMPLE=/usr/lib/python3/dist-packages/pydicom/data/test_files
fi
STORE=$DEMO/store
MNT=$DEMO/mnt
if mountpoint -q "$MNT" 2>/dev/null; then
	fusermount3 -u "$MNT" || umount -l "$MNT"
fi
rm -rf "$STORE"
mkdir -p "$DEMO" "$MNT"
echo "== dcmfsctl init $STORE"
"$BUILD/dcmfsctl" init "$STORE"
echo "== dcmfsctl import $STORE $SAMPLE   (malformed sample files are rejected on purpose)"
"$BUILD/dcmfsctl" import "$STORE" "$SAMPLE" 2>"$DEMO/import-rejected.txt" || true
echo "   ($(grep -c rejected "$DEMO/import-rejected.txt" || true) rejected files listed in $DEMO/import-rejected.txt)"
echo "== dcmfsctl import again: everything is a duplicate"
"$BUILD/dcmfsctl" import "$STORE" "$SAMPLE" 2>/dev/null || true
echo "== dcmfsctl stats $STORE"
"$BUILD/dcmfsctl" stats "$STORE"
if [ -x "$BUILD/dcmfs" ]; then
	echo "== dcmfs $STORE $MNT"
	"$BUILD/dcmfs" "$STORE" "$MNT"
	for _ in $(seq 1 50); do mountpoint -q "$MNT" && break; sleep 0.1; done
	echo "== ls $MNT/patients   (first 8 of $(ls "$MNT/patients" | wc -l) patients)"
	ls "$MNT/patients" | sed -n '1,8p'
	f=$(find "$MNT/patients" -type f -name '*.dcm' -size +400k -print -quit)
	echo "== ls -l $(dirname "$f") | head -5"
	ls -l "$(dirname "$f")" | sed -n '1,5p'
	echo "== dcmdump $f   (a few attributes)"
	dcmdump "$f" 2>/dev/null | grep -E '\((0010,0010|0010,0020|0008,0060|0028,0010|0028,0011)\)' || true
	echo "== cmp with the original: byte-identical"
	sop=$(basename "$f" .dcm)
	orig=$(grep -l -r --include='*' -F "$sop" "$SAMPLE/real/series" 2>/dev/null | sed -n 1p || true)
	[ -n "$orig" ] && cmp "$f" "$orig" && echo "   $f == $orig" || true
	echo
	echo "The store is mounted at $MNT."
	echo "Unmount it with:  fusermount3 -u $MNT"
else
	echo "(build/dcmfs not built: the filesystem part is skipped)"
fi
