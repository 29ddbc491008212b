#!/usr/bin/python3
"""wsi_compare.py ORIGINAL COPY N SEED - COPY holds ORIGINAL's bytes, read as a
viewer reads a slide: N tiles at random (drawn with SEED) at the offsets the
original's Basic Offset Table or frame size gives, each with one pread of
its length, then the whole file in 1 MiB reads from the start.  Prints a
"# ..." summary line; exit 0 when every byte matches, 1 (with the first
mismatch) when not, 2 when a file cannot be read."""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../tools/bench'))
import wsitiles  # noqa: E402


def read_full(fd, n):
    """n bytes from fd's position, fewer only at end of file."""
    out = b''
    while len(out) < n:
        b = os.read(fd, n - len(out))
        if not b:
            break
        out += b
    return out


def main():
    orig, copy, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    try:
        tl = wsitiles.tiles(orig)
    except (wsitiles.BadFile, OSError) as e:
        print('cannot read tiles of %s: %s' % (orig, e))
        return 2
    rnd = random.Random(seed)
    a = os.open(orig, os.O_RDONLY)
    b = os.open(copy, os.O_RDONLY)
    picks = [rnd.randrange(len(tl)) for _ in range(n)]
    for i in picks:
        off, ln = tl[i]
        x, y = os.pread(a, ln, off), os.pread(b, ln, off)
        if x != y or len(x) != ln:
            print('tile %d (offset %d, %d bytes) differs (%d bytes read)' % (i, off, ln, len(y)))
            return 1
    size = os.fstat(a).st_size
    if os.fstat(b).st_size != size:
        print('size %d, want %d' % (os.fstat(b).st_size, size))
        return 1
    off = 0
    while True:
        x, y = read_full(a, 1 << 20), read_full(b, 1 << 20)
        if x != y:
            print('1 MiB read at offset %d differs' % off)
            return 1
        if not x:
            break
        off += len(x)
    print('# %d of %d tiles at random and %d bytes in 1 MiB reads match' % (n, len(tl), off))
    return 0


if __name__ == '__main__':
    sys.exit(main())
