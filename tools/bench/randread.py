#!/usr/bin/env python3
"""randread.py LISTFILE COUNT SEED: COUNT random 64 KiB preads over the files
named in LISTFILE (one path a line), offsets 64 KiB-aligned inside each file.
Prints: reads_per_s bytes seconds.  Deterministic for a seed."""
import os, random, sys, time

paths = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
count, rng = int(sys.argv[2]), random.Random(int(sys.argv[3]))
sizes = [os.stat(p).st_size for p in paths]
plan = []
for _ in range(count):
    i = rng.randrange(len(paths))
    blocks = max(1, sizes[i] // 65536)
    plan.append((i, rng.randrange(blocks) * 65536))
fds = {}
t0 = time.monotonic()
total = 0
for i, off in plan:
    fd = fds.get(i)
    if fd is None:
        fd = fds[i] = os.open(paths[i], os.O_RDONLY)
    total += len(os.pread(fd, 65536, off))
dt = time.monotonic() - t0
for fd in fds.values():
    os.close(fd)
print(f"{count / dt:.0f} {total} {dt:.3f}")
