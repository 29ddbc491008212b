#!/usr/bin/python3
"""pack_payloads.py STORE OUTDIR: write the payload of every pack entry of
STORE (instance records, tombstones, blob entries cut to their 40-byte
header plus at most 64 bytes) as seed files for fuzz_record."""
import os, struct, sys

store, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
n = 0
pdir = os.path.join(store, 'packs')
for name in sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []:
    data = open(os.path.join(pdir, name), 'rb').read()
    off = 16
    while off + 20 <= len(data):
        magic = data[off:off + 4]
        if magic == b'PKE1':
            etype, length = data[off + 4], struct.unpack_from('<I', data, off + 8)[0]
            payload = data[off + 20:off + 20 + length]
        elif magic == b'PKE2':
            etype, length = data[off + 12], struct.unpack_from('<I', data, off + 16)[0]
            payload = data[off + 20:off + 20 + length]
        else:
            break
        if etype == 1:
            payload = payload[:40 + 64]
        with open(os.path.join(out, f'seed-{n:05d}'), 'wb') as f:
            f.write(payload)
        n += 1
        off += 20 + length
print(f'{n} record seeds')
