#!/bin/bash
# t0224-slide-reads.t - reads of a large file (its chunks decoded on the
# daemon's pool, fs/reader.c) give the original's bytes in every way a
# reader can come: a whole-slide image big enough to be stored in pieces,
# read on fresh read-only mounts with 1 MiB reads, with O_DIRECT reads of
# odd sizes that arrive at the daemon exactly, two sequential readers and
# two tile readers at once, a MAP_SHARED mapping; and on the admin mount,
# where a handle opens its instance at its first read, 40 opens each read
# 2 MiB with O_DIRECT (two requests of one handle at once: the daemon
# crashed when both raced to open it), the daemon then exiting 0.
. "$(dirname "$0")/lib/common.sh"
need_fuse
GEN=$BUILD/dcmfs-gencorpus
S=$T/store M=$T/mnt
# 360 tiles of 256x256 RGB: about 71 MB, over the 64 MiB above which
# import stores the pixel data in pieces (several blobs, one file).
if ! "$GEN" --wsi "$T/wsi" --wsi-form native --wsi-tiles 360 --wsi-levels 2 --seed 7 \
	>"$T/gen.log" 2>&1; then
	skip_all "dcmfs-gencorpus --wsi did not make a slide: $(head -1 "$T/gen.log")"
fi
big=$T/wsi/native-level0.dcm
check "import a whole-slide image of $(($(stat -c %s "$big") >> 20)) MiB" new_store "$S" "$big"
sop=$($SCAN "$big" | sed -n 's/^sop_instance_uid=//p')

# path_in MNT: the slide's path below MNT (empty when it does not show)
path_in() { find "$1/patients" -name "$sop.dcm" | head -1; }

# readseq PATH ORIG SIZE [direct]: read PATH from start to end with reads
# of SIZE bytes (O_DIRECT when asked: each read reaches the daemon at its
# own offset and size) and compare every read with the original's bytes.
readseq() {
	$PY - "$@" <<'PY'
import os, sys
path, orig, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
flags = os.O_RDONLY | (os.O_DIRECT if len(sys.argv) > 4 else 0)
a, b = os.open(path, flags), os.open(orig, os.O_RDONLY)
off = 0
while True:
    got = os.pread(a, size, off)
    if got != os.pread(b, size, off):
        print("# wrong bytes at %d (+%d)" % (off, size)); sys.exit(1)
    if not got:
        break
    off += len(got)
sys.exit(0 if off == os.fstat(b).st_size else 1)
PY
}

fs_mount_or_bail "$S" "$M" -o ro
p=$(path_in "$M")
check "the slide shows in the read-only mount" test -n "$p"
check "1 MiB sequential reads give the original's bytes" readseq "$p" "$big" 1048576
check "unmount" fs_umount "$M"

# O_DIRECT: odd sizes, so chunks decoded ahead are taken in part at both
# ends of a read; 128 KiB reads (the small-read path, which decodes no
# chunks ahead) and 2 MiB reads.
for size in 300007 131072 2097152; do
	fs_mount_or_bail "$S" "$M" -o ro
	check "O_DIRECT sequential reads of $size bytes give the original's bytes" \
		readseq "$(path_in "$M")" "$big" "$size" direct
	check "unmount" fs_umount "$M"
done

# Two sequential readers of one file (they share its chunks decoded ahead)
# and two readers of random tiles, at once, on a fresh mount.
fs_mount_or_bail "$S" "$M" -o ro
p=$(path_in "$M")
pids=()
readseq "$p" "$big" 1048576 direct >"$T/r1" 2>&1 &
pids+=($!)
readseq "$p" "$big" 300007 direct >"$T/r2" 2>&1 &
pids+=($!)
for seed in 3 4; do
	$PY - "$p" "$big" "$seed" >"$T/r$seed" 2>&1 <<'PY' &
import os, random, sys
a, b = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT), os.open(sys.argv[2], os.O_RDONLY)
size, rng, tile = os.fstat(b).st_size, random.Random(int(sys.argv[3])), 256 * 256 * 3
for _ in range(150):
    off = size - rng.randrange(1, size // tile) * tile      # frames end the file
    if os.pread(a, tile, off) != os.pread(b, tile, off):
        print("# wrong tile at %d" % off); sys.exit(1)
PY
	pids+=($!)
done
bad=0
for i in 0 1 2 3; do
	wait "${pids[$i]}" || { bad=1; diag <"$T/r$((i + 1))"; }
done
check "two sequential and two tile readers at once all get the original's bytes" test $bad = 0
mapped() {
	$PY - "$1" "$2" <<'PY'
import hashlib, mmap, sys
with open(sys.argv[1], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    got = hashlib.sha256(m).hexdigest()
sys.exit(got != hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest())
PY
}
check "a MAP_SHARED mapping of the file through the mount reads its bytes" mapped "$p" "$big"
check "unmount" fs_umount "$M"

# Admin mount: every open reads 2 MiB at a new place with O_DIRECT (so the
# reads come to the daemon) and closes at once, while the next chunks are
# being decoded ahead for that open's reader.
fs_mount_or_bail "$S" "$M"
p=$(path_in "$M")
closes() {
	$PY - "$1" "$2" <<'PY'
import os, sys
size = os.fstat(os.open(sys.argv[2], os.O_RDONLY)).st_size
b = os.open(sys.argv[2], os.O_RDONLY)
for i in range(40):
    off = (i * 7919 * 4096) % (size - (2 << 20))
    a = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
    for part in (0, 1):
        o = off + part * (1 << 20)
        if os.pread(a, 1 << 20, o) != os.pread(b, 1 << 20, o):
            print("# wrong bytes at %d" % o); sys.exit(1)
    os.close(a)
PY
}
check "40 opens, each two 1 MiB requests at once on one handle, read right" closes "$p" "$big"
check "and a whole read after them too" cmp "$p" "$big"
check "the admin mount unmounts and its daemon exits 0" fs_umount "$M"
done_testing
