#!/usr/bin/python3
"""Every instance row of a store reads back (dcmfsctl get) as one of the
files under DIR, byte for byte.  usage: roundtrip_rows.py CTL STORE DIR"""
import hashlib, os, sqlite3, subprocess, sys
ctl, store, d = sys.argv[1:4]
want = set()
for r, _, fs in os.walk(d):
    for f in fs:
        want.add(hashlib.sha256(open(os.path.join(r, f), 'rb').read()).hexdigest())
db = sqlite3.connect(f"file:{store}/index.db?mode=ro", uri=True)
bad = n = 0
for sop, v in db.execute("SELECT sop_uid, version FROM instances"):
    out = subprocess.run([ctl, 'get', store, sop, '--version', str(v)], capture_output=True).stdout
    n += 1
    if hashlib.sha256(out).hexdigest() not in want:
        bad += 1
        print(f"instance {sop} v{v} reads back bytes that match no input file")
print(f"{n} instances checked, {bad} bad")
sys.exit(1 if bad or not n else 0)
