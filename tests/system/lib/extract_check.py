#!/usr/bin/python3
"""extract_check.py SCAN OUTDIR DIR...: every file that dcmfs-scan accepts
under DIR... must be among the files dcmfs-extract.py wrote to OUTDIR for its
SOPInstanceUID (same SHA-256), and every file written must be byte-identical
to a source file with its SOP.  Prints mismatches and one summary line."""
import hashlib, os, subprocess, sys

scan, out, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
files = sorted(os.path.join(r, f) for d in dirs for r, _, fs in os.walk(d) for f in fs)
want = {}                       # sop -> {sha256: path}
for i in range(0, len(files), 200):
    res = subprocess.run([scan] + files[i:i + 200], capture_output=True, text=True).stdout
    cur = {}
    for line in res.splitlines() + ['file=']:
        k, _, v = line.partition('=')
        if k == 'file':
            if cur.get('status') == 'ok':
                data = open(cur['file'], 'rb').read()
                want.setdefault(cur['sop_instance_uid'], {})[hashlib.sha256(data).hexdigest()] = cur['file']
            cur = {'file': v}
        else:
            cur[k] = v
got = {}                        # sop -> {sha256: path}
bad = 0
rows = [l.rstrip('\n').split('\t') for l in open(os.path.join(out, 'MANIFEST.tsv'))][1:]
for status, iid, ver, size, fh, sop, rel in (r[:7] for r in rows):
    if status != 'ok':
        print('not extracted: instance %s (%s): %s' % (iid, sop, status))
        bad += 1
        continue
    sha = hashlib.sha256(open(os.path.join(out, rel), 'rb').read()).hexdigest()
    if sha not in want.get(sop, {}):
        print('wrong bytes: %s' % rel)
        bad += 1
    got.setdefault(sop, {})[sha] = rel
nsrc = 0
for sop, d in want.items():
    for sha, path in d.items():
        nsrc += 1
        if sha not in got.get(sop, {}):
            print('missing from the extract: %s (sop %s)' % (path, sop))
            bad += 1
print('%d accepted source files (%d distinct), %d files extracted, %d problems'
      % (sum(1 for _ in want), nsrc, len(rows), bad))
sys.exit(1 if bad or not rows else 0)
