#!/bin/bash
# t0201-readers.t - DICOM readers read every file through the mount as they
# read the original: pydicom, dcmdump (DCMTK) and gdcmdump (GDCM) exit as
# they do on the original file (a file a reader refuses in the original is
# not held against the mount), and dcmdump prints the same dump.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples

S=$T/store M=$T/mnt
check "import the corpus" new_store "$S" "$SAMPLES"
fs_mount_or_bail "$S" "$M" -o ro
fs_match_originals "$M/patients" "$SAMPLES" >"$T/map"
check "every file has its original" [ "$(grep -c '^MISSING' "$T/map")" = 0 ]

check "pydicom reads every file as it reads the original" $PY - "$T/map" <<'PY'
import sys, warnings, pydicom
warnings.simplefilter("ignore")
bad = 0
for line in open(sys.argv[1]):
    f, o = line.rstrip('\n').split('\t')
    def rd(p):
        try:
            ds = pydicom.dcmread(p, force=True)
            return ('ok', str(ds.get('SOPInstanceUID', '')), len(ds))
        except Exception as e:
            return ('error', type(e).__name__)
    a, b = rd(f), rd(o)
    if a != b:
        print('#', f, a, b); bad += 1
sys.exit(bad != 0)
PY

run_cmp() { # tool: exit status and output on mount and original agree
	local tool=$1 bad=0 f o a b
	while IFS=$'\t' read -r f o; do
		"$tool" "$f" >"$T/a" 2>/dev/null; a=$?
		"$tool" "$o" >"$T/b" 2>/dev/null; b=$?
		if [ $a != $b ]; then
			echo "# $tool: exit $a through the mount, $b on the original: $f"
			bad=1
		elif [ $a = 0 ] && ! cmp -s "$T/a" "$T/b"; then
			# gdcmdump prints the file name in some lines; dcmdump does not
			if ! diff <(sed "s#$f#FILE#g" "$T/a") <(sed "s#$o#FILE#g" "$T/b") >/dev/null; then
				echo "# $tool: different output: $f"
				bad=1
			fi
		fi
	done <"$T/map"
	return $bad
}
if command -v dcmdump >/dev/null; then
	check "dcmdump reads every file as the original" run_cmp dcmdump
else
	skip "no dcmdump"
fi
if command -v gdcmdump >/dev/null; then
	check "gdcmdump reads every file as the original" run_cmp gdcmdump
else
	skip "no gdcmdump"
fi
check "unmount" fs_umount "$M"
done_testing
