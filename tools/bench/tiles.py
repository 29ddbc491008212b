#!/usr/bin/env python3
"""tiles.py FILE N SEED: read a tiled multi-frame DICOM file (a whole-slide
image) as a viewer does, tile by tile at offsets taken from the frame size
(native pixel data) or the Basic Offset Table (encapsulated).

Opens FILE, reads tile 0 (timed from the open: on a fresh mount that is the
viewer's first tile), then N tiles at random (seeded) in one open, each with
one pread.  Prints: first_ms mean_ms p50_ms p90_ms tiles bytes_per_tile
(timed inside, so Python's start-up is not counted).  The tile table is
found by reading the file's own bytes through the same path, before the
timing starts, from a second file name when given as FILE:TABLEFILE (so
that a fresh mount's first tile is not warmed by the table scan)."""
import os, random, struct, sys, time


def tile_table(path):
    """[(offset, length)] of every tile of the file's Pixel Data."""
    data = open(path, "rb").read()
    frames = cols = rows = spp = bits = None
    # the few header attributes needed, explicit VR little endian
    def us(tag):
        i = data.find(tag)
        return struct.unpack_from("<H", data, i + 8)[0] if i >= 0 else None
    rows = us(b"\x28\x00\x10\x00US")
    cols = us(b"\x28\x00\x11\x00US")
    spp = us(b"\x28\x00\x02\x00US")
    bits = us(b"\x28\x00\x00\x01US")
    i = data.find(b"\x28\x00\x08\x00IS")
    frames = int(data[i + 8:i + 8 + struct.unpack_from("<H", data, i + 6)[0]].strip(b" \0"))
    i = data.rfind(b"\xe0\x7f\x10\x00O")
    if i < 0:
        sys.exit("tiles.py: no Pixel Data in " + path)
    length = struct.unpack_from("<I", data, i + 8)[0]
    start = i + 12
    if length != 0xFFFFFFFF:                       # native: frame after frame
        fb = rows * cols * spp * (bits // 8)
        return [(start + k * fb, fb) for k in range(frames)]
    # encapsulated: item 0 is the Basic Offset Table, then one fragment a tile
    blen = struct.unpack_from("<I", data, start + 4)[0]
    bot = struct.unpack_from("<%dI" % (blen // 4), data, start + 8)
    first = start + 8 + blen
    out = []
    for off in bot:
        p = first + off
        out.append((p + 8, struct.unpack_from("<I", data, p + 4)[0]))
    return out


arg, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
path, _, table_from = arg.partition(":")
tiles = tile_table(table_from or path)
rng = random.Random(seed)
t0 = time.monotonic()
fd = os.open(path, os.O_RDONLY)
off, ln = tiles[0]
if len(os.pread(fd, ln, off)) != ln:
    sys.exit("tiles.py: short read of tile 0")
first = time.monotonic() - t0
ms = []
for _ in range(n):
    off, ln = tiles[rng.randrange(len(tiles))]
    a = time.monotonic()
    if len(os.pread(fd, ln, off)) != ln:
        sys.exit("tiles.py: short read at %d" % off)
    ms.append((time.monotonic() - a) * 1e3)
os.close(fd)
ms.sort()
mean = sum(ms) / len(ms) if ms else 0
p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))] if ms else 0
print(f"{first * 1e3:.2f} {mean:.3f} {p(0.5):.3f} {p(0.9):.3f} {len(tiles)} {tiles[0][1]}")
