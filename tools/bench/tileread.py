#!/usr/bin/python3
"""tileread.py ORIGINAL FILE N SEED - time tile reads of FILE (a copy of
ORIGINAL, e.g. on a fresh mount) as a viewer makes them: open FILE and read
one tile (the first of N distinct tiles drawn at random with SEED, among the
offsets of ORIGINAL's Basic Offset Table or frame size:
tools/bench/wsitiles.py), then the other N - 1, each with one pread of its
length.  Every tile read is
compared with ORIGINAL's bytes.  Prints (timed inside, Python's start-up
not counted):
    first_ms median_ms mean_ms tiles
first_ms: open + first tile; median_ms / mean_ms: each further tile.
Exit 1 when a tile differs, 2 when a file cannot be read."""
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsitiles  # noqa: E402


def main():
    orig, path, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    try:
        tl = wsitiles.tiles(orig)
    except (wsitiles.BadFile, OSError) as e:
        sys.stderr.write('tileread.py: %s: %s\n' % (orig, e))
        return 2
    rnd = random.Random(seed)
    picks = rnd.sample(range(len(tl)), max(2, min(n, len(tl))))
    want = {}
    with open(orig, 'rb') as f:
        for i in picks:
            f.seek(tl[i][0])
            want[i] = f.read(tl[i][1])
    times = []
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    for i in picks:
        off, ln = tl[i]
        b = os.pread(fd, ln, off)
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
        if b != want[i]:
            sys.stderr.write('tileread.py: tile %d of %s differs\n' % (i, path))
            return 1
    os.close(fd)
    rest = [t * 1e3 for t in times[1:]]
    print('%.3f %.4f %.4f %d' % (times[0] * 1e3, statistics.median(rest), statistics.fmean(rest), len(tl)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
