#!/usr/bin/python3
"""pack_v2.py STORE: rewrite every pack of STORE in pack format v2 (FORMAT.md):
file header version 2, entries "PKE2" with the seeded XXH3-64 checksum.  A
tiny independent v2 writer, so that readers of v2 can be tested before the
C code writes v2.  Prints "offset<TAB>type<TAB>pack" for each entry written.
Blob locations in index.db change (entries keep their sizes, so the payload
offsets do not): the rewritten store is for readers that do not use the index."""
import os, struct, sys
import xxhash

store = sys.argv[1]
pdir = os.path.join(store, 'packs')
for name in sorted(os.listdir(pdir)):
    if not name.endswith('.pack'):
        continue
    path = os.path.join(pdir, name)
    data = open(path, 'rb').read()
    assert data[:8] == b'DCMFSPK1'
    out = bytearray(data[:8] + struct.pack('<II', 2, 0))
    off = 16
    while off + 20 <= len(data) and data[off:off + 4] == b'PKE1':
        etype = data[off + 4]
        (n,) = struct.unpack_from('<I', data, off + 8)
        payload = data[off + 20:off + 20 + n]
        at = len(out)
        body = struct.pack('<B3xI', etype, n) + payload
        out += b'PKE2' + struct.pack('<Q', xxhash.xxh3_64_intdigest(body, seed=at)) + body
        print('%d\t%d\t%s' % (at, etype, name))
        off += 20 + n
    with open(path + '.new', 'wb') as f:
        f.write(out)
    os.replace(path + '.new', path)
