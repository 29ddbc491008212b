#!/bin/bash
# t0502-gencorpus-wsi.t - dcmfs-gencorpus --wsi: the same seed gives the same
# bytes and another seed other bytes; three levels halve the pixel matrix;
# every tile of a level differs from every other; offset tables point at
# back-to-back fragments; the size asked for is what is written (+-10 %);
# the generator streams (peak RSS far below the slide); bad options and an
# existing file are refused with one line and exit 2, the file unchanged.
. "$(dirname "$0")/lib/common.sh"
GEN=$BUILD/dcmfs-gencorpus
WSITILES=$TOP/tools/bench/wsitiles.py
[ -x "$GEN" ] || skip_all "$GEN not built"
[ -n "$CORPUS" ] && [ -f "$CORPUS/real/us/US1_UNCR.dcm" ] ||
	skip_all "no texture: real/us/US1_UNCR.dcm of ../shared/corpus is absent"
[ -x /usr/bin/time ] || skip_all "no /usr/bin/time (Debian package time)"
export DCMFS_CORPUS=$CORPUS

check "a 3-level slide of both forms, 40 MiB each, under /usr/bin/time" \
	/usr/bin/time -f %M -o "$T/rss" "$GEN" -q --wsi "$T/a" --wsi-mb 40 --seed 7
rss=$(tail -1 "$T/rss")
case "$BUILD" in
*sanitize*) skip "peak RSS (${rss} kB) is not bounded under AddressSanitizer" ;;
*) check "the generator streams: peak RSS ${rss} kB < 40 MB" test "$rss" -lt 40960 ;;
esac
check "the same seed gives the same bytes" \
	sh -c "'$GEN' -q --wsi '$T/b' --wsi-mb 40 --seed 7 >/dev/null && for f in '$T'/a/*.dcm; do cmp \"\$f\" '$T/b/'\$(basename \"\$f\") || exit 1; done"
check "another seed gives other pixels" \
	sh -c "'$GEN' -q --wsi '$T/c' --wsi-form native --wsi-mb 40 --seed 8 >/dev/null && ! cmp -s '$T/a/native-level0.dcm' '$T/c/native-level0.dcm'"
check "levels halve the matrix, tiles differ, offset tables hold, sizes are as asked" \
	$PY - "$T/a" "$WSITILES" <<'PY'
import hashlib, os, sys
sys.path.insert(0, os.path.dirname(sys.argv[2]))
import pydicom, wsitiles
d = sys.argv[1]
for form in ('native', 'jpeg'):
    prev = None
    for lv in range(3):
        p = '%s/%s-level%d.dcm' % (d, form, lv)
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        cols, rows = ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows
        n = int(ds.NumberOfFrames)
        assert n == -(-cols // 256) * -(-rows // 256), (p, n, cols, rows)
        if prev:
            assert (cols, rows) == (-(-prev[0] // 2), -(-prev[1] // 2)), (p, cols, rows, prev)
            assert ds.SeriesInstanceUID == prev[2] and ds.StudyInstanceUID == prev[3]
        prev = (cols, rows, ds.SeriesInstanceUID, ds.StudyInstanceUID)
        t = wsitiles.tiles(p)   # checks the offset table against the items
        assert len(t) == n
        with open(p, 'rb') as f:
            seen = set()
            for off, ln in t:
                f.seek(off)
                seen.add(hashlib.sha256(f.read(ln)).digest())
        assert len(seen) == n, '%s: %d distinct tiles of %d' % (p, len(seen), n)
        if lv == 0:
            size = os.path.getsize(p) / 1048576
            assert 36 <= size <= 44.5, '%s: %.1f MiB for 40' % (p, size)
            print('# %s: %.1f MiB, %d tiles' % (os.path.basename(p), size, n))
PY
for bad in "--wsi-form tiff" "--wsi-mb 0" "--wsi-mb 3000" "--wsi-levels 4" "--wsi-quality 0" "--wsi-tiles x"; do
	check "$bad is refused with a line naming it" \
		exits_with 2 "bad ${bad%% *}" "$GEN" --wsi "$T/d" $bad
done
check "--wsi with --patients is refused" exits_with 2 "no --patients" "$GEN" --wsi "$T/d" --patients 1
check "a texture that is not RGB is refused" \
	exits_with 2 "not native 8-bit pixel-interleaved RGB" "$GEN" --wsi "$T/d" \
	--wsi-texture "$CORPUS/real/ct/CT1_UNC.explicit_little_endian.dcm"
sum=$(sha256sum "$T/a/native-level2.dcm")
check "an existing slide is refused" exits_with 2 "exists" "$GEN" --wsi "$T/a" --wsi-mb 1
check "and left as it was" test "$(sha256sum "$T/a/native-level2.dcm")" = "$sum"
done_testing
