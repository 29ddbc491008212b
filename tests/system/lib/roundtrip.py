#!/usr/bin/python3
"""Check that every file the scanner accepts under the given folders reads
back byte-identical from a store with `dcmfsctl get` (sha256 per file).
usage: roundtrip.py CTL SCAN STORE DIR...   prints one line per mismatch."""
import hashlib, os, subprocess, sys

ctl, scan, store, dirs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
files = sorted(os.path.join(r, f) for d in dirs for r, _, fs in os.walk(d) for f in fs)
checked = bad = 0
for path in files:
    out = subprocess.run([scan, path], capture_output=True, text=True).stdout
    kv = dict(l.split('=', 1) for l in out.splitlines() if '=' in l)
    if kv.get('status') not in ('0', 'ok', 'OK'):
        continue
    sop = kv['sop_instance_uid']
    want = hashlib.sha256(open(path, 'rb').read()).hexdigest()
    found = False
    for v in range(1, 64):
        r = subprocess.run([ctl, 'get', store, sop, '--version', str(v)], capture_output=True)
        if r.returncode != 0:
            break
        if hashlib.sha256(r.stdout).hexdigest() == want:
            found = True
            break
    checked += 1
    if not found:
        bad += 1
        print(f"mismatch: {path} (sop {sop})")
print(f"{checked} files checked, {bad} mismatches")
sys.exit(1 if bad or not checked else 0)
