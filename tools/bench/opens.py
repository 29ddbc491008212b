#!/usr/bin/env python3
"""opens.py FOLDER REPS PID: open every *.dcm file of FOLDER, read 4 KiB and
close it, once (cold: the first pass of a fresh mount) and then REPS times
(warm).  PID is the mount's daemon: its CPU time over the warm passes is
divided by the opens.  Prints: cold opens/s, warm median and best opens/s,
daemon CPU microseconds per open (timed inside: Python's start-up is not
counted)."""
import glob, os, sys, time

folder, reps, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
files = sorted(glob.glob(os.path.join(folder, "*.dcm")))
tick = os.sysconf("SC_CLK_TCK")


def daemon_cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick


def one_pass():
    t = time.perf_counter()
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        os.read(fd, 4096)
        os.close(fd)
    return time.perf_counter() - t


n = len(files)
cold = one_pass()
c0 = daemon_cpu()
warm = sorted(one_pass() for _ in range(reps))
c1 = daemon_cpu()
print(f"{n / cold:.0f} {n / warm[len(warm) // 2]:.0f} {n / warm[0]:.0f} {(c1 - c0) * 1e6 / (n * reps):.1f}")
