#!/bin/bash
# t0220-read-ahead.t - the read path's caches never show wrong or stale
# bytes: a series read file after file through a fresh read-only mount,
# by path without listing (files decoded ahead into the daemon) and after
# listing (pushed into the page cache but for each file's first page), and
# through the admin mount, gives the original bytes, and reads are taken
# from the files decoded ahead (also the first pages of listed files); a
# listed series whose pages are dropped, each file read middle first, still
# gives them; on
# the admin mount, a file kept in the page cache shows its new version (and
# the first stays readable below /versions), and then its removal, within 2 s of an import and an rm elsewhere; four
# concurrent readers of one large tiled file (a whole-slide image) at
# random offsets, tile by tile and in odd sizes, get the original's bytes.
. "$(dirname "$0")/lib/common.sh"
need_fuse
[ -n "$CT_SERIES" ] || skip_all "no CT series in the corpus"
GEN=$BUILD/dcmfs-gencorpus
S=$T/store M=$T/mnt
check "import a CT series" new_store "$S" "$CT_SERIES"

# The mount's paths, in listing order, from a mount that is then dropped:
# the reads below come to a fresh mount that was never listed.
fs_mount_or_bail "$S" "$M" -o ro
find "$M/patients" -name '*.dcm' | sort >"$T/paths"
check "unmount" fs_umount "$M"
nfiles=$(wc -l <"$T/paths")
check "the series shows $(ls "$CT_SERIES" | wc -l) files" test "$nfiles" = "$(ls "$CT_SERIES" | wc -l)"

# taken LOG: the number of reads taken from files decoded ahead, from the
# daemon's DCMFS_PREFETCH_STATS line (then struck from the log, which must
# otherwise stay empty; -o log_level=notice lets it through, with the
# mount and unmount lines, struck too).
taken() {
	sed -n 's/.*prefetch: \([0-9]*\) reads taken.*/\1/p' "$T/dcmfs.log" | tail -1
	sed -i -e '/dcmfs: prefetch: /d' -e '/dcmfs: mounted store /d' -e '/dcmfs: unmounting /d' "$T/dcmfs.log"
}
# read_series LISTFILE: read every file in order, 1 MiB reads, into one
# concatenation; compare it with the originals' in the same order.
read_series() {
	$PY - "$1" "$CT_SERIES" <<'PY'
import hashlib, os, sys
paths = [l.rstrip("\n") for l in open(sys.argv[1])]
want = {}
for n in os.listdir(sys.argv[2]):
    b = open(os.path.join(sys.argv[2], n), "rb").read()
    want[hashlib.sha256(b).hexdigest()] = n
bad = 0
for p in paths:
    fd = os.open(p, os.O_RDONLY)
    parts = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        parts.append(b)
    os.close(fd)
    if hashlib.sha256(b"".join(parts)).hexdigest() not in want:
        print("# wrong bytes:", p); bad += 1
sys.exit(bad != 0)
PY
}

for how in "ro nolist" "ro list" "rw nolist" "rw list"; do
	set -- $how
	opts=(-o log_level=notice); [ "$1" = ro ] && opts=(-o ro,log_level=notice)
	DCMFS_PREFETCH_STATS=1 fs_mount_or_bail "$S" "$M" "${opts[@]}"
	[ "$2" = list ] && ls -l "$(dirname "$(head -1 "$T/paths")")" >/dev/null
	check "$how: every file read in order has its original's bytes" read_series "$T/paths"
	check "$how: the second read too" read_series "$T/paths"
	check "unmount" fs_umount "$M"
	n=$(taken)
	# Listed files are pushed into the page cache but for their first page,
	# whose READ is taken from the file decoded ahead (and hints the next).
	check "$how: reads were taken from files decoded ahead ($n of $nfiles)" test "${n:-0}" -ge $((nfiles / 2))
done
# A listed series whose pages the kernel drops (here: fadvise DONTNEED) and
# files read from their middle first, then their start: the original bytes.
DCMFS_PREFETCH_STATS=1 fs_mount_or_bail "$S" "$M" -o ro,log_level=notice
ls -l "$(dirname "$(head -1 "$T/paths")")" >/dev/null
check "ro list: every file read in order has its original's bytes" read_series "$T/paths"
odd_reads() {
	$PY - "$1" "$CT_SERIES" <<'PY'
import hashlib, os, sys
paths = [l.rstrip("\n") for l in open(sys.argv[1])]
want = set(hashlib.sha256(open(os.path.join(sys.argv[2], n), "rb").read()).hexdigest()
           for n in os.listdir(sys.argv[2]))
bad = 0
for i, p in enumerate(paths):
    fd = os.open(p, os.O_RDONLY)
    size = os.fstat(fd).st_size
    if i % 2:   # dropped from the page cache: read back from the daemon
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    mid = size // 2
    tail = os.pread(fd, size - mid, mid)
    head = os.pread(fd, mid, 0)
    os.close(fd)
    if hashlib.sha256(head + tail).hexdigest() not in want:
        print("# wrong bytes:", p); bad += 1
sys.exit(bad != 0)
PY
}
check "ro list: pages dropped, middle read before start: the original bytes" odd_reads "$T/paths"
check "unmount" fs_umount "$M"
taken >/dev/null

# ---- the admin mount's page cache follows new versions and removals ----
first=$(head -1 "$T/paths")
sop=$(basename "$first" .dcm)
orig=$(grep -l "$sop" "$CT_SERIES"/* | head -1)
$PY - "$orig" "$T/v2.dcm" <<'PY'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.ImageComments = "second version, t0220"
ds.save_as(sys.argv[2])
PY
fs_mount_or_bail "$S" "$M"
rwpath=${first/#*\/patients/$M/patients}
check "a file read through the admin mount is its original" cmp "$rwpath" "$orig"
cat "$rwpath" >/dev/null        # in the page cache, kept across opens
"$CTL" import -q "$S" "$T/v2.dcm" >/dev/null 2>&1
# within_2s COMMAND...: true once the command succeeds, polling for 2 s
within_2s() { local i; for ((i = 0; i < 20; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
check "its new version, imported elsewhere, shows at its path within 2 s" within_2s cmp -s "$rwpath" "$T/v2.dcm"
v1=$(find "$M/versions" -name "$sop.v1.dcm" | head -1)
check "its first version reads whole below /versions" cmp "$v1" "$orig"
"$CTL" rm "$S" --instance "$sop" >/dev/null
no_stat() { ! stat "$1" >/dev/null 2>&1; }
check "removed elsewhere, it no longer stats within 2 s" within_2s no_stat "$rwpath"
check "unmount" fs_umount "$M"

# ---- concurrent readers of one large tiled file ----
if [ -x "$GEN" ] && "$GEN" --wsi "$T/wsi" --wsi-form native --wsi-tiles 220 --wsi-levels 2 \
	>"$T/gen.log" 2>&1; then
	big=$T/wsi/native-level0.dcm
	check "import a whole-slide image of $(($(stat -c %s "$big") >> 20)) MiB" \
		eval '"$CTL" import -q "$S" "$big" >/dev/null'
	fs_mount_or_bail "$S" "$M" -o ro
	sopw=$($BUILD/dcmfs-scan "$big" | sed -n "s/^sop_instance_uid=//p")
	wpath=$(find "$M/patients" -name "$sopw.dcm" | head -1)
	check "the slide shows in the mount" test -n "$wpath"
	for i in 1 2 3 4; do
		$PY - "$wpath" "$big" "$i" >"$T/reader.$i" 2>&1 <<'PY' &
import os, random, sys
mnt, orig, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
a, b = os.open(mnt, os.O_RDONLY), os.open(orig, os.O_RDONLY)
size = os.fstat(b).st_size
rng = random.Random(seed)
tile = 256 * 256 * 3
for k in range(300):
    if k % 3 == 0:      # a tile: its frame's offset from the end of the file
        frames = size // tile
        off = size - (frames - rng.randrange(frames)) * tile
        n = tile
    else:               # any size at any offset, across chunks and the end
        off = rng.randrange(size)
        n = rng.choice([1, 4095, 4097, 65536, 300000, 1 << 20])
    if os.pread(a, n, off) != os.pread(b, n, off):
        print("# wrong bytes at %d (+%d), reader %d" % (off, n, seed)); sys.exit(1)
sys.exit(0)
PY
		pids+=($!)
	done
	bad=0
	for i in 1 2 3 4; do
		wait "${pids[$((i - 1))]}" || { bad=1; diag <"$T/reader.$i"; }
	done
	check "four concurrent readers at random offsets get the original's bytes" test $bad = 0
	check "a sequential read gives the whole file" cmp "$wpath" "$big"
	check "unmount" fs_umount "$M"
else
	skip "dcmfs-gencorpus --wsi did not make a slide: $(head -1 "$T/gen.log")"
fi
done_testing
