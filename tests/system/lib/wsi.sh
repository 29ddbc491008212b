# wsi.sh - the round trip of a generated whole-slide image, for t0500 and
# t0501 (sourced after common.sh and need_fuse).
#
# wsi_roundtrip FORM MB: dcmfs-gencorpus --wsi makes a two-level slide of
# FORM (native or jpeg) with a level 0 of about MB MiB; the test checks it
# with the DICOM tools at hand, imports it under /usr/bin/time and holds
# the import's peak RSS to WSI_RSS_LIMIT_KB (200 MB), gets every level back
# with dcmfsctl get, and reads every level through a fresh read-only mount:
# tiles at random offsets from the Basic Offset Table (or the frame size),
# then the whole file in 1 MiB reads.  Every copy must be byte-identical.
WSI_RSS_LIMIT_KB=${WSI_RSS_LIMIT_KB:-204800}
GENCORPUS=$BUILD/dcmfs-gencorpus
WSITILES=$TOP/tools/bench/wsitiles.py

wsi_roundtrip() {
	local form=$1 mb=$2 f uid rss n
	[ -x "$GENCORPUS" ] || skip_all "$GENCORPUS not built"
	[ -n "$CORPUS" ] && [ -f "$CORPUS/real/us/US1_UNCR.dcm" ] ||
		skip_all "no texture: real/us/US1_UNCR.dcm of ../shared/corpus is absent"
	[ -x /usr/bin/time ] || skip_all "no /usr/bin/time (Debian package time) to measure the import's RSS"
	local W=$T/wsi S=$T/store M=$T/mnt
	check "dcmfs-gencorpus --wsi makes a $form slide of two levels" \
		env DCMFS_CORPUS="$CORPUS" "$GENCORPUS" -q --wsi "$W" --wsi-form "$form" \
		--wsi-mb "$mb" --wsi-levels 2 --seed 500
	local files=("$W/$form-level0.dcm" "$W/$form-level1.dcm")
	for f in "${files[@]}"; do
		[ -f "$f" ] || { not_ok "$f was written"; echo "Bail out! no slide"; exit 1; }
	done
	diag "level 0: $(stat -c %s "${files[0]}") bytes, $($PY "$WSITILES" "${files[0]}" | wc -l) tiles"
	check "dcmdump reads every element of both levels" dcmdump -q +E "${files[@]}"
	check "gdcminfo reads both levels" gdcminfo "${files[0]}"
	if command -v dciodvfy >/dev/null; then
		check "dciodvfy finds no error in level 0" sh -c "! dciodvfy '${files[0]}' 2>&1 | grep -q '^Error'"
	else
		skip "dciodvfy is not installed"
	fi
	check "pydicom reads and decodes every tile of level 1 (JPEG through PIL's libjpeg), all distinct" \
		$PY - "${files[1]}" <<'PY'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
a = ds.pixel_array
assert ds.SOPClassUID == '1.2.840.10008.5.1.4.1.1.77.1.6', ds.SOPClassUID
assert ds.DimensionOrganizationType == 'TILED_FULL'
assert a.shape == (int(ds.NumberOfFrames), 256, 256, 3), a.shape
assert ds.TotalPixelMatrixColumns > 256 and ds.TotalPixelMatrixRows >= 256
assert all((a[i] != a[i + 1]).any() for i in range(len(a) - 1)), 'two neighbouring tiles are equal'
print('# %d frames of 256x256 RGB, matrix %dx%d' % (len(a), ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows))
PY

	"$CTL" init "$S" >/dev/null || { not_ok "init"; echo "Bail out! no store"; exit 1; }
	check "import the slide" /usr/bin/time -f %M -o "$T/rss" "$CTL" import -q "$S" "$W"
	rss=$(cat "$T/rss" 2>/dev/null | tail -1)
	case "$BUILD" in
	*sanitize*) skip "import peak RSS (${rss:-?} kB) is not bounded under AddressSanitizer (its quarantine keeps freed memory)" ;;
	*) check "import peak RSS ${rss:-?} kB < $WSI_RSS_LIMIT_KB kB" test "${rss:-999999999}" -lt "$WSI_RSS_LIMIT_KB" ;;
	esac
	check "both levels are stored" test "$(instances "$S")" = 2
	for f in "${files[@]}"; do
		uid=$($PY "$WSITILES" --uid "$f") || helper_failed "no SOPInstanceUID in $f"
		check "dcmfsctl get gives $(basename "$f") back byte-identical" \
			sh -c "'$CTL' get '$S' '$uid' -o '$T/got.dcm' && cmp '$f' '$T/got.dcm'"
		rm -f "$T/got.dcm"
	done

	fs_mount_or_bail "$S" "$M" -o ro
	for f in "${files[@]}"; do
		uid=$($PY "$WSITILES" --uid "$f") || helper_failed "no SOPInstanceUID in $f"
		n=$(find "$M/patients" -name "$uid.dcm" -type f)
		check "$(basename "$f") through the mount: random tiles, then 1 MiB reads, byte-identical" \
			$PY "$LIB/wsi_compare.py" "$f" "$n" 200 7
	done
	check "verify finds the store consistent" "$CTL" verify "$S"
}
