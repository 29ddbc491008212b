#!/bin/bash
# t0206-names.t - any PatientID becomes one safe folder name: IDs with '/',
# '..', spaces, non-ASCII (UTF-8) bytes and an empty ID each map to a single
# path component that holds no '/', is not '.' or '..', and is not empty,
# and the files under them read back identical.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
command -v dcmodify >/dev/null || skip_all "no dcmodify (dcmtk)"

base=$CORPUS/variety/CT_small.dcm
[ -f "$base" ] || base=$(find "$SAMPLES" -name 'CT_small.dcm' | head -1)
[ -f "$base" ] || skip_all "no CT_small.dcm in the corpus"
mkdir -p "$T/in"
i=0
for id in 'a/b' '..' '.' '../x' 'with space' 'Zoë' '' '%41' '.hidden'; do
	i=$((i + 1))
	cp "$base" "$T/in/$i.dcm"
	dcmodify -nb -m "(0008,0005)=ISO_IR 192" -m "(0010,0020)=$id" -m "(0008,0018)=1.2.3.$i" "$T/in/$i.dcm" >/dev/null 2>&1 ||
		{ echo "# dcmodify failed for '$id'"; }
done
S=$T/store M=$T/mnt
check "import the files with weird PatientIDs" new_store "$S" "$T/in"
fs_mount_or_bail "$S" "$M" -o ro
ls -1 "$M/patients" | diag
check "every patient folder name is one safe, distinct component" $PY - "$M/patients" "$i" <<'PY'
import os, sys
names = os.listdir(sys.argv[1])
bad = 0
for n in names:
    if not n or n in ('.', '..') or '/' in n or n.startswith('.') or any(ord(c) < 32 for c in n):
        print('# unsafe name %r' % n); bad += 1
    if not os.path.isdir(os.path.join(sys.argv[1], n, 'studies')):
        print('# no studies folder in %r' % n); bad += 1
if len(set(names)) != int(sys.argv[2]):
    print('# %d folders for %s IDs' % (len(set(names)), sys.argv[2])); bad += 1
sys.exit(bad != 0)
PY
fs_match_originals "$M/patients" "$T/in" >"$T/map"
check "every file reads back identical" [ "$(grep -c '^MISSING' "$T/map")" = 0 -a "$(wc -l <"$T/map")" = "$i" ]
check "files sit exactly four levels below /patients" [ "$(find "$M/patients" -mindepth 5 -maxdepth 5 -type f | wc -l)" = "$i" ]
check "unmount" fs_umount "$M"
done_testing
