#!/usr/bin/env python3
"""seqread.py LISTFILE: open every file named in LISTFILE (one path a line),
in order, and read it to the end with 1 MiB reads (os.readv into one 1 MiB
buffer), then close it.  Prints: bytes seconds MB/s (timed inside, so
Python's start-up is not counted)."""
import os, sys, time

paths = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
buf = bytearray(1 << 20)
total = 0
t0 = time.monotonic()
for p in paths:
    fd = os.open(p, os.O_RDONLY)
    try:
        while True:
            n = os.readv(fd, [buf])
            if n <= 0:
                break
            total += n
    finally:
        os.close(fd)
dt = time.monotonic() - t0
print(f"{total} {dt:.4f} {total / dt / 1e6:.1f}")
