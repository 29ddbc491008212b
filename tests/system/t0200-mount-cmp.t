#!/bin/bash
# t0200-mount-cmp.t - every file read through the mount is byte-for-byte the
# file that was imported: cmp of each file under /patients against its
# original (matched by content; later versions of a SOP match the original
# they came from), the file count equals the store's instance count, random
# ranges read with seeks equal the original's, and mmap reads work.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples

S=$T/store M=$T/mnt
check "import the corpus" new_store "$S" "$SAMPLES"
fs_mount_or_bail "$S" "$M"

fs_match_originals "$M/patients" "$SAMPLES" >"$T/map"
missing=$(grep -c '^MISSING' "$T/map")
check "every file under /patients has an original with its bytes" [ "$missing" = 0 ]
grep '^MISSING' "$T/map" | head | diag

bad=0
while IFS=$'\t' read -r f o; do
	[ "$f" = MISSING ] && continue
	cmp -s "$f" "$o" || { echo "# differs: $f $o"; bad=$((bad + 1)); }
done <"$T/map"
check "cmp finds every file equal to its original" [ "$bad" = 0 ]

# /patients shows one file per SOPInstanceUID (its current version),
# /versions every stored version.
n=$(find "$M/patients" -type f | wc -l)
all=$(instances "$S")
want=$(shown_instances "$S")
check "find counts $want files in /patients, the instances of stats less later versions ($n)" [ "$n" = "$want" ]
nv=$(find "$M/versions" -type f | wc -l)
check "find counts $all files in /versions, every version ($nv)" [ "$nv" = "$all" ]

check "stat sizes equal the originals'" $PY - "$T/map" <<'PY'
import os, sys
bad = 0
for line in open(sys.argv[1]):
    f, o = line.rstrip('\n').split('\t')
    if f == 'MISSING': continue
    if os.stat(f).st_size != os.stat(o).st_size:
        print('# size differs', f); bad += 1
sys.exit(bad != 0)
PY

check "random ranges read with seeks equal the original's" $PY - "$T/map" <<'PY'
import os, random, sys
pairs = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if not l.startswith('MISSING')]
pairs.sort(key=lambda p: -os.path.getsize(p[1]))
rnd = random.Random(200)
pick = pairs[:6] + rnd.sample(pairs, min(10, len(pairs)))
bad = 0
for f, o in pick:
    size = os.path.getsize(o)
    with open(f, 'rb', buffering=0) as a, open(o, 'rb') as b:
        for _ in range(200):
            off = rnd.randrange(0, size + 10)
            n = rnd.choice([1, 2, 17, 4096, 65536, 131072, 300000, 1 << 20])
            a.seek(off); b.seek(off)
            if a.read(n) != b.read(n):
                print('# differs', f, off, n); bad += 1; break
sys.exit(bad != 0)
PY

check "mmap reads equal the original" $PY - "$T/map" <<'PY'
import mmap, os, sys
pairs = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if not l.startswith('MISSING')]
pairs.sort(key=lambda p: -os.path.getsize(p[1]))
bad = 0
for f, o in pairs[:5] + pairs[-3:]:
    if os.path.getsize(f) == 0: continue
    with open(f, 'rb') as a:
        m = mmap.mmap(a.fileno(), 0, prot=mmap.PROT_READ)
        data = open(o, 'rb').read()
        if m[:] != data or m[len(data)//3:len(data)//2] != data[len(data)//3:len(data)//2]:
            print('# mmap differs', f); bad += 1
        m.close()
sys.exit(bad != 0)
PY

check "files are 0444, folders 0555 (instances read-only even on the admin mount)" $PY - "$M/patients" <<'PY'
import os, stat, sys
bad = 0
for dp, dn, fn in os.walk(sys.argv[1]):
    if stat.S_IMODE(os.stat(dp).st_mode) != 0o555: bad += 1
    for n in fn:
        if stat.S_IMODE(os.stat(os.path.join(dp, n)).st_mode) != 0o444: bad += 1
sys.exit(bad != 0)
PY

check "unmount" fs_umount "$M"
done_testing
