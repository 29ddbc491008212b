#!/usr/bin/python3
"""pack_version.py STORE [1|2]: list the entries of every pack of STORE, and
with 1 or 2 rewrite each pack in that pack format (FORMAT.md): file header
version and entries "PKE1" (unseeded XXH3-64 of the payload after the
header) or "PKE2" (XXH3-64 seeded with the entry's offset, over type..length
and the payload).  A small writer of its own, not dcmfs's code: it lets a
reader of v1 packs be tested now that dcmfs writes v2, and checks every
entry's checksum while it reads (exit 1 on a bad one).  Both entry headers
are 20 bytes, so no offset moves and index.db stays right.  Prints
"offset<TAB>type<TAB>pack" for each entry."""
import os, struct, sys
import xxhash

store = sys.argv[1]
to = int(sys.argv[2]) if len(sys.argv) > 2 else 0
pdir = os.path.join(store, 'packs')
bad = 0
for name in sorted(os.listdir(pdir)):
    if not name.endswith('.pack'):
        continue
    path = os.path.join(pdir, name)
    data = open(path, 'rb').read()
    assert data[:8] == b'DCMFSPK1', name
    (ver,) = struct.unpack_from('<I', data, 8)
    out = bytearray(data[:8] + struct.pack('<II', to or ver, 0))
    off = 16
    while off + 20 <= len(data):
        magic = data[off:off + 4]
        if magic == b'PKE1':
            etype = data[off + 4]
            (n,) = struct.unpack_from('<I', data, off + 8)
            (ck,) = struct.unpack_from('<Q', data, off + 12)
            payload = data[off + 20:off + 20 + n]
            good = xxhash.xxh3_64_intdigest(payload) == ck
        elif magic == b'PKE2':
            (ck,) = struct.unpack_from('<Q', data, off + 4)
            etype = data[off + 12]
            (n,) = struct.unpack_from('<I', data, off + 16)
            payload = data[off + 20:off + 20 + n]
            good = xxhash.xxh3_64_intdigest(data[off + 12:off + 20] + payload, seed=off) == ck
        else:
            sys.stderr.write('%s: no entry at %d\n' % (name, off))
            bad = 1
            break
        if not good or len(payload) != n:
            sys.stderr.write('%s: bad entry at %d\n' % (name, off))
            bad = 1
            break
        at = len(out)
        assert at == off
        if to == 1:
            out += b'PKE1' + struct.pack('<B3xIQ', etype, n, xxhash.xxh3_64_intdigest(payload)) + payload
        else:
            body = struct.pack('<B3xI', etype, n) + payload
            out += b'PKE2' + struct.pack('<Q', xxhash.xxh3_64_intdigest(body, seed=at)) + body
        print('%d\t%d\t%s' % (at, etype, name))
        off += 20 + n
    if to and not bad:
        with open(path + '.new', 'wb') as f:
            f.write(out)
        os.replace(path + '.new', path)
sys.exit(bad)
