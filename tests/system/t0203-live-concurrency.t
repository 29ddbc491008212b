#!/bin/bash
# t0203-live-concurrency.t - the mount stays exact under load and follows the
# store: 4 parallel readers read random ranges of every file of a CT series
# and compare them with the originals while `dcmfsctl import` adds another
# study; every read is exact and the new study shows under /patients within 2 s.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples

SER=${CT_SERIES:-$SAMPLES}
NEW=$CORPUS/real/series/mr_ge_3d_t1_mprage_130sl
[ -d "$NEW" ] || NEW=$CORPUS/real/mr
[ -d "$NEW" ] || skip_all "no second series to import"
S=$T/store M=$T/mnt
check "import a CT series" new_store "$S" "$SER"
fs_mount_or_bail "$S" "$M"
fs_match_originals "$M/patients" "$SER" >"$T/map"
check "every file has its original" [ "$(grep -c '^MISSING' "$T/map")" = 0 ]
ls "$M/patients" >"$T/before"

reader() {
	$PY - "$T/map" "$1" <<'PY'
import os, random, sys, time
pairs = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])]
rnd = random.Random(int(sys.argv[2]))
orig = {o: open(o, 'rb').read() for f, o in pairs}
bad = n = 0
end = time.time() + 8
while time.time() < end:
    f, o = rnd.choice(pairs)
    data = orig[o]
    with open(f, 'rb', buffering=0) as fh:
        for _ in range(20):
            off = rnd.randrange(0, len(data))
            k = rnd.choice([512, 4096, 65536, 200000, 1 << 20])
            fh.seek(off)
            n += 1
            if fh.read(k) != data[off:off + k]:
                bad += 1
print('# reader %s: %d reads, %d wrong' % (sys.argv[2], n, bad))
sys.exit(bad != 0)
PY
}
pids=()
for i in 1 2 3 4; do
	reader $i >"$T/reader$i" 2>&1 &
	pids+=($!)
done
sleep 1
"$CTL" import -q "$S" "$NEW" >"$T/import2" 2>&1
imported=$?
t0=$(date +%s%N)
seen=0
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000 ]; do
	if [ "$(ls "$M/patients" | wc -l)" -gt "$(wc -l <"$T/before")" ] ||
		[ "$(find "$M/patients" -type f | wc -l)" -gt "$(wc -l <"$T/map")" ]; then
		seen=1
		break
	fi
	sleep 0.1
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "dcmfsctl import of another study while mounted" [ $imported -le 1 ]
check "the new study shows under /patients within 2 s (${ms} ms)" [ $seen = 1 ]
allok=0
for i in 0 1 2 3; do
	wait "${pids[$i]}" || allok=1
	diag <"$T/reader$((i + 1))"
done
check "4 parallel readers read every range exactly" [ $allok = 0 ]
fs_match_originals "$M/patients" "$SER" "$NEW" >"$T/map2"
check "the new files read back identical" [ "$(grep -c '^MISSING' "$T/map2")" = 0 ]
n=$(find "$M/patients" -type f | wc -l)
check "find counts every instance ($n)" [ "$n" = "$(instances "$S")" ]
check "unmount" fs_umount "$M"
done_testing
