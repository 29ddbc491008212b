#!/bin/bash
# t0403-share-deid.t - a de-identified share of the whole store
# (`dcmfsctl share create STORE NAME --all --deidentify`, index/deid.h),
# through the test program dcmfs-deid-export (the files and names
# deid_file_* and deid_node_name give, as a mount shows them):
# for every instance that is kept, pydicom reads it, dcmdump and gdcmdump
# read it, no original PatientName, PatientID, PatientBirthDate,
# AccessionNumber or UID is in its bytes or in the tree's names, its pixel
# value equals the original's byte for byte, and patients, studies and
# series map one to one; what is left out is left out for a burned-in
# reason; a mount of the share shows the same tree and bytes; the same
# share gives the same bytes again (cache or not), two
# shares give different names; shifted dates keep their intervals; the
# cache is all a share adds to the store.
. "$(dirname "$0")/lib/common.sh"
need_samples

EXPORT=$BUILD/tests/tools/dcmfs-deid-export
[ -x "$EXPORT" ] || skip_all "no $EXPORT (make all builds it)"
S=$T/store
check "import the samples" new_store "$S" "$SAMPLES"
du_before=$(du -sk "$S/packs" "$S/blobs" 2>/dev/null | awk '{s += $1} END {print s}')

share() { "$CTL" share create "$S" "$@" --all --deidentify >/dev/null; }
check "define de-identified shares a, b, c (--shift-dates) and d (--allow-burned-in)" \
	eval 'share a && share b && share c --shift-dates && share d --allow-burned-in'
check "export share a" \
	eval '"$EXPORT" "$S" "$T/a" --share a >"$T/a.out" 2>"$T/a.err" || { cat "$T/a.err"; false; }'
diag <"$T/a.out"
check "every kept file: pydicom reads it, no original value in bytes or names, pixels equal, structure kept" \
	$PY -W ignore "$LIB/deid_check.py" "$T/a"

# One run of each over every file (a run per file costs ~0.2 s of start-up):
# dcmdump exits 1 when any file fails, gdcmdump -r when any does not read.
dumps() {
	local n
	n=$(find "$1" -type f | wc -l)
	echo "# $n files"
	[ "$n" -gt 0 ] || return 1
	find "$1" -type f -print0 | xargs -0 dcmdump -q >/dev/null || { echo "# dcmdump fails"; return 1; }
	gdcmdump -r "$1" >/dev/null || { echo "# gdcmdump fails"; return 1; }
}
check "dcmdump and gdcmdump read every file" dumps "$T/a/deid"

left_reasons() {
	awk -F'\t' '$2 == "left" {print $4}' "$1/map.tsv" | sort | uniq -c | sed 's/^ */# /'
	! awk -F'\t' '$2 == "left" && $4 !~ /burned-in|BurnedInAnnotation|cannot be de-identified/' "$1/map.tsv" | grep -q .
}
check "instances left out are left out for a named reason" left_reasons "$T/a"

rm -rf "$S/shares/.deid/a"
check "the same share without its cache gives the same files and names" \
	eval '"$EXPORT" "$S" "$T/a2" --share a >/dev/null && diff -r -q "$T/a/deid" "$T/a2/deid"'
check "the same share from its cache gives the same files and names" \
	eval '"$EXPORT" "$S" "$T/a3" --share a >/dev/null && diff -r -q "$T/a/deid" "$T/a3/deid"'

check "export share b" eval '"$EXPORT" "$S" "$T/b" --share b >/dev/null'
differ() {
	local a b
	a=$(cd "$T/a/deid" && find . -mindepth 1 | sort)
	b=$(cd "$T/b/deid" && find . -mindepth 1 | sort)
	[ -n "$a" ] && [ -z "$(comm -12 <(echo "$a" | tr '/' '\n' | sort -u) <(echo "$b" | tr '/' '\n' | sort -u) | grep -v '^\.$')" ]
}
check "two shares share no patient, study, series or file name" differ

# The mount shows what the export wrote: the same tree, the same bytes.
mounted_equal() {
	local m=$1 e=$2 bad=0 n=0 rel
	diff <(cd "$e" && find . -type f | sort) \
	     <(cd "$m/patients" && find . -type f | sed 's|^\./\([^/]*\)/studies/|./\1/|' | sort) |
		head -5 | sed 's/^/# /'
	[ "${PIPESTATUS[0]}" = 0 ] || bad=1
	while IFS= read -r -d '' rel; do
		n=$((n + 1))
		p=${rel#./}
		cmp -s "$e/$p" "$m/patients/${p%%/*}/studies/${p#*/}" || { bad=1; echo "# differs: $p"; }
	done < <(cd "$e" && find . -type f -print0)
	echo "# $n files compared"
	[ $bad = 0 ] && [ $n -gt 0 ]
}
if [ -x "$DCMFS" ] && [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	FS_USED=1
	: >"$T/dcmfs.log"
	if fs_mount "$S" "$T/mnt" -o share=b; then
		check "the mount of share b shows the exported tree and bytes" mounted_equal "$T/mnt" "$T/b/deid"
		fs_umount "$T/mnt"
	else
		not_ok "mount share b"
	fi
else
	skip "no FUSE here: the mount is not compared"
fi

check "export share c (--shift-dates)" eval '"$EXPORT" "$S" "$T/c" --share c >/dev/null'
check "shifted: the same checks hold" $PY -W ignore "$LIB/deid_check.py" "$T/c"
check "shifted dates: one shift of 1 to 365 days back per patient, intervals kept" $PY - "$T/c" <<'PY'
import datetime, os, sys, warnings
warnings.simplefilter('ignore')
import pydicom
out = sys.argv[1]
shifts = {}
bad = n = 0
def d(s):
    return datetime.date(int(s[:4]), int(s[4:6]), int(s[6:8]))
for line in open(os.path.join(out, 'map.tsv')):
    f = line.rstrip('\n').split('\t')
    if f[1] != 'kept':
        continue
    o = pydicom.dcmread(os.path.join(out, 'orig', f[0] + '.dcm'), force=True)
    c = pydicom.dcmread(os.path.join(out, 'deid', f[3]))
    for kw in ('StudyDate', 'SeriesDate', 'ContentDate', 'AcquisitionDate', 'PatientBirthDate'):
        ov, nv = str(o.get(kw, '') or ''), str(c.get(kw, '') or '')
        try:
            d(ov)
        except Exception:
            continue   # not a date (00000000): the rewrite drops it
        try:
            delta = (d(nv) - d(ov)).days
        except Exception:
            print('# %s %s: %r became %r' % (f[3], kw, ov, nv)); bad += 1; continue
        n += 1
        p = f[3].split('/')[0]
        shifts.setdefault(p, set()).add(delta)
for p, s in shifts.items():
    if len(s) != 1 or not all(-365 <= x <= -1 for x in s):
        print('# patient %s: shifts %s' % (p, sorted(s))); bad += 1
print('# %d dates of %d patients checked' % (n, len(shifts)))
sys.exit(1 if bad or not n else 0)
PY

check "--allow-burned-in keeps what was left out for burned-in reasons" \
	eval '"$EXPORT" "$S" "$T/d" --share d >/dev/null &&
	      [ "$(grep -c "	left	" "$T/d/map.tsv")" = "$(grep -c "cannot be de-identified" "$T/a/map.tsv")" ] &&
	      $PY -W ignore "$LIB/deid_check.py" "$T/d"'

no_pixels() {
	local after cache
	after=$(du -sk "$S/packs" "$S/blobs" 2>/dev/null | awk '{s += $1} END {print s}')
	cache=$(du -sk "$S/shares/.deid" | awk '{print $1}')
	echo "# packs and blobs: $du_before KiB before, $after KiB after; header cache: $cache KiB"
	[ "$after" = "$du_before" ]
}
check "de-identified shares add no pixel storage (only the header cache)" no_pixels
check "share rm drops the share's header cache" \
	eval '"$CTL" share rm "$S" a >/dev/null && [ ! -e "$S/shares/.deid/a" ] && [ -d "$S/shares/.deid/b" ]'
check "a share made again under the same name gets new names (a new secret)" \
	eval 'share a && "$EXPORT" "$S" "$T/a4" --share a >/dev/null &&
	      [ "$(ls "$T/a/deid" | sort)" != "$(ls "$T/a4/deid" | sort)" ]'
done_testing
