#!/usr/bin/python3
"""dcmfs-extract.py - get every stored DICOM file out of a dcmfs store
without any of dcmfs's own code: only the open format (FORMAT.md), the
Python standard library, and Debian's python3-zstandard and python3-xxhash.

    dcmfs-extract.py [-q] [--no-verify] STORE OUTDIR

Reads STORE/packs/*.pack (pack format v1 and v2) and STORE/blobs/**, decodes
the blobs (including the pixel codec), and writes each stored instance that
has not been deleted (a tombstone names it), every version of it, to

    OUTDIR/<patient>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOP>.v<N>.dcm

which is the layout of /versions in the mounted tree (README.md, "Names in
the tree"): components escaped (bytes A-Z a-z 0-9 . - _ + = , stay, any
other byte and a leading '.' become %XX, an empty value is '%'); <patient>
is <PatientID> or <PatientID>@<Issuer>, or without a PatientID
%noid-<8 hex> (low 32 bits of XXH3-64 of "\x01noid\x01|" name "\x01|"
birth date "\x01|" issuer; two patients with the same hash get -2, -3...
in the order of their patient ids, as the catalogue does when it creates
them in that order); a name over 255 bytes is cut and ends in "~" and 16
hex digits of XXH3-64 of the whole value (for <patient>: of the ID, or of
ID NUL Issuer NUL).  Identifying values come from the record as stored:
a NUL inside one is there as 0x01 '0' (0x01 as 0x01 0x01), and stays so in
the names (%010).  Which version the mount shows in /patients (the newest
clean one) is not decided here: OUTDIR/MANIFEST.tsv lists, per instance:
status, instance id, version, size, the record's file hash, the
SOPInstanceUID, the path, and why the version is unclean (record field 20;
empty when clean).
Status is "ok" (every blob found, every chunk hash and the whole-file
XXH3-128 match), or a reason ("missing blob ...", "corrupt blob ...",
"file hash mismatch"); such instances are not written.  The index (index.db)
is not read at all.

Damage in a pack is skipped: the reader looks for the next entry whose magic
and checksum are valid (v2 checksums include the entry's offset, so a copy
of an entry elsewhere in the file does not pass).

Exit status: 0 every instance written and verified, 1 some instance could
not be written, 2 usage or unreadable store.  Pure Python, no numpy: the
pixel codec decodes about 2 M 16-bit samples (4 MB) per second per core
(RELIABILITY.md).
"""
import itertools
import os
import struct
import sys
from array import array

try:
    import xxhash
    import zstandard
except ImportError as e:  # pragma: no cover
    sys.stderr.write("dcmfs-extract: needs python3-xxhash and python3-zstandard (%s)\n" % e)
    sys.exit(2)

# ---------------------------------------------------------------- packs

PACK_MAGIC = b"DCMFSPK1"
PACK_FILE_HEADER = 16
ENTRY_HEADER = 20
PKE1 = b"PKE1"
PKE2 = b"PKE2"
ENTRY_BLOB, ENTRY_INSTANCE, ENTRY_TOMBSTONE = 1, 2, 3
BLOB_HEADER_BYTES = 40
BLOB_MAGIC = b"DCMFSBL1"
BLOB_FILE_HEADER = 16 + BLOB_HEADER_BYTES + 8 + 8


def xxh64(data, seed=0):
    return xxhash.xxh3_64_intdigest(data, seed=seed)


def xxh128(data):
    return xxhash.xxh3_128_digest(data)


def entry_at(data, off):
    """The entry starting at off: (type, payload_offset, length) if its
    magic, length and checksum are valid, else None."""
    if len(data) - off < ENTRY_HEADER:
        return None
    magic = data[off:off + 4]
    if magic == PKE1:
        etype = data[off + 4]
        (length,) = struct.unpack_from("<I", data, off + 8)
        (ck,) = struct.unpack_from("<Q", data, off + 12)
        start = off + ENTRY_HEADER
        if len(data) - start < length or data[off + 5:off + 8] != b"\0\0\0":
            return None
        if xxh64(data[start:start + length]) != ck:
            return None
        return etype, start, length
    if magic == PKE2:
        (ck,) = struct.unpack_from("<Q", data, off + 4)
        etype = data[off + 12]
        (length,) = struct.unpack_from("<I", data, off + 16)
        start = off + ENTRY_HEADER
        if len(data) - start < length or data[off + 13:off + 16] != b"\0\0\0":
            return None
        if xxh64(data[off + 12:start + length], seed=off) != ck:
            return None
        return etype, start, length
    return None


def walk_pack(data, damage):
    """Yield (type, payload_offset, length) for every valid entry of a pack
    (v1 or v2); damaged stretches are skipped and reported into damage."""
    if len(data) < PACK_FILE_HEADER or data[:8] != PACK_MAGIC:
        damage.append("not a pack (bad file header)")
        return
    (version,) = struct.unpack_from("<I", data, 8)
    if version not in (1, 2):
        damage.append("unknown pack version %d" % version)
        return
    off = PACK_FILE_HEADER
    n = len(data)
    while off < n:
        e = entry_at(data, off)
        if e:
            yield e
            off = e[1] + e[2]
            continue
        # resync: the next offset holding a valid entry
        bad = off
        nxt = None
        pos = off + 1
        while True:
            c1 = data.find(PKE1, pos)
            c2 = data.find(PKE2, pos)
            cands = [c for c in (c1, c2) if c >= 0]
            if not cands:
                break
            c = min(cands)
            if entry_at(data, c):
                nxt = c
                break
            pos = c + 1
        if nxt is None:
            damage.append("damaged or torn from offset %d to the end (%d bytes)" % (bad, n - bad))
            return
        damage.append("damaged bytes at offsets %d..%d skipped" % (bad, nxt))
        off = nxt


def parse_blob_header(p):
    h = p[:16]
    ordinal, kind, raw, enc = struct.unpack_from("<IIQQ", p, 16)
    return h, ordinal, kind, raw, enc


# ---------------------------------------------------------------- records

STR_FIELDS = {1: "transfer_syntax", 2: "patient_id", 3: "issuer_of_patient_id",
              4: "patient_name", 5: "patient_birth_date", 6: "patient_sex",
              7: "study_uid", 8: "study_date", 9: "study_time",
              10: "study_description", 11: "accession_number",
              12: "referring_physician", 13: "series_uid", 14: "modality",
              15: "series_description", 16: "sop_instance_uid",
              17: "sop_class_uid", 18: "specific_charset", 19: "photometric",
              20: "unclean"}
INT_FIELDS = {40: "series_number", 41: "instance_number", 42: "number_of_frames",
              43: "rows", 44: "columns", 45: "bits_allocated", 46: "bits_stored",
              47: "samples_per_pixel", 48: "planar_configuration",
              49: "pixel_representation", 50: "syntax"}
RECORD_HEAD = struct.Struct("<IqqqqIqQ16sI")


def parse_record(p):
    """An instance record as a dict, or None when it does not parse."""
    if len(p) < RECORD_HEAD.size:
        return None
    (ver, iid, seid, stid, paid, version, stored, size, fhash,
     nseg) = RECORD_HEAD.unpack_from(p, 0)
    # Version 2 is version 1 with more segments (a streamed file's pieces).
    if not (ver == 1 and nseg <= 3) and not (ver == 2 and 3 < nseg <= 1026):
        return None
    off = RECORD_HEAD.size
    segs = []
    for _ in range(nseg):
        if len(p) - off < 32:
            return None
        h = p[off:off + 16]
        ordinal, kind, raw = struct.unpack_from("<IIQ", p, off + 16)
        segs.append((h, ordinal, kind, raw))
        off += 32
    info = {"series_number": -1, "instance_number": -1}
    while off < len(p):
        if len(p) - off < 3:
            return None
        fid = p[off]
        (n,) = struct.unpack_from("<H", p, off + 1)
        off += 3
        if len(p) - off < n:
            return None
        v = p[off:off + n]
        if fid in STR_FIELDS:
            info[STR_FIELDS[fid]] = v.split(b"\0", 1)[0]
        elif fid in INT_FIELDS and n == 4:
            info[INT_FIELDS[fid]] = struct.unpack("<i", v)[0]
        off += n
    return {"instance_id": iid, "series_id": seid, "study_id": stid,
            "patient_id": paid, "version": version, "stored_at_ns": stored,
            "size": size, "file_hash": fhash, "segments": segs, "info": info}


# ---------------------------------------------------------------- codec

HDR_SIZE, ENT_SIZE, SUM_SIZE = 48, 32, 8
M_STORED, M_ZSTD, M_GRADIENT, M_UP, M_GRADIENT_CTX, M_UP_CTX, M_GRADIENT_CTX_CD, M_UP_CTX_CD = range(8)
NCTX = 10
NSTREAM = NCTX + 1
ESC = 255
CHUNK_MAX = 4 << 20


class Corrupt(Exception):
    pass


# |a - b| of samples read as signed differences, capped (ad16/ad8 of codec.c)
AD16 = [min(d, 255) if d < 32768 else min(65536 - d, 255) for d in range(65536)]
AD8 = [d if d < 128 else 256 - d for d in range(256)]
# quantised activity: bit length capped at 9
QUANT = [min(a.bit_length(), 9) for a in range(5 * 255 + 1)]
# zigzag value -> signed residual
UNZZ16 = [(z >> 1) if not z & 1 else -((z + 1) >> 1) for z in range(65536)]
UNZZ8 = UNZZ16[:256]


def _zstd(src, n):
    try:
        out = zstandard.ZstdDecompressor().decompress(src, max_output_size=n)
    except zstandard.ZstdError as e:
        raise Corrupt("zstd: %s" % e)
    if len(out) != n:
        raise Corrupt("zstd frame gives %d bytes, expected %d" % (len(out), n))
    return out


class Geom:
    def __init__(self, bps, spp, planar, columns, rows, frames, raw_len):
        if bps not in (1, 2) or not 1 <= spp <= 4 or planar > 1 or not columns \
                or not rows or not frames:
            raise Corrupt("bad layout")
        self.bps = bps
        self.spp = spp
        self.planar = planar
        self.step = 1 if planar else spp
        self.row_samples = columns * (1 if planar else spp)
        self.row_bytes = self.row_samples * bps
        if self.row_bytes > CHUNK_MAX:
            raise Corrupt("bad layout: row too long")
        self.img_rows = rows
        self.img_bytes = self.row_bytes * rows
        nimg = frames * (spp if planar else 1)
        if self.img_bytes * nimg != raw_len:
            raise Corrupt("layout does not match the raw length")

    def bands(self, raw_off, raw_size):
        """(offset in chunk, rows) of each run of rows of one image."""
        pos = 0
        out = []
        while pos < raw_size:
            in_img = (raw_off + pos) % self.img_bytes
            left = self.img_rows - in_img // self.row_bytes
            rows = min((raw_size - pos) // self.row_bytes, left)
            if rows == 0:
                raise Corrupt("chunk is not whole rows")
            out.append((pos, rows))
            pos += rows * self.row_bytes
        return out


def contexts(u1, u2, w, step, ad, mask):
    """Context (0..9) of each sample of a row from the two rows above."""
    vv = [ad[(a - b) & mask] for a, b in zip(u1, u2)]
    hh = [ad[(a - b) & mask] for a, b in zip(u1[step:], u1)]  # x >= step
    left = [0] * step + [h + v for h, v in zip(hh, vv)]       # |U-UL| + |UL-UUL|
    right = [h + v for h, v in zip(hh, vv[step:])] + [0] * step  # |UR-U| + |UR-UUR|
    return [QUANT[a + b + c] for a, b, c in zip(vv, left[:w], right[:w])]


def rebuild(r, u, w, step, up, mask):
    """Samples of a row from signed residuals r and the row above u (None
    for the first row of a band)."""
    if u is not None and up:
        return [(a + b) & mask for a, b in zip(u, r)]
    if step == 1:
        acc = itertools.accumulate(r)
        if u is None:
            return [a & mask for a in acc]
        return [(a + b) & mask for a, b in zip(acc, u)]
    c = [0] * w
    for k in range(step):
        acc = itertools.accumulate(r[k::step])
        if u is None:
            c[k::step] = [a & mask for a in acc]
        else:
            c[k::step] = [(a + b) & mask for a, b in zip(acc, u[k::step])]
    return c


def samples_to_bytes(rows, bps):
    if bps == 1:
        return b"".join(bytes(r) for r in rows)
    a = array("H")
    for r in rows:
        a.extend(r)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def decode_ctx(g, src, raw_off, raw_size, up):
    nsamp = raw_size // g.bps
    w = g.row_samples
    if len(src) < NSTREAM * 8:
        raise Corrupt("context chunk too short")
    counts = [struct.unpack_from("<II", src, k * 8) for k in range(NSTREAM)]
    ntok = sum(c for c, _ in counts[:NCTX])
    zsum = sum(z for _, z in counts)
    nesc = counts[NCTX][0]
    if ntok != nsamp or zsum != len(src) - NSTREAM * 8 or nesc > nsamp or \
            (g.bps == 1 and nesc):
        raise Corrupt("context chunk: bad stream table")
    pos = NSTREAM * 8
    streams = []
    for k, (cnt, zl) in enumerate(counts):
        nbytes = cnt if k < NCTX else cnt * 2
        if nbytes:
            streams.append(_zstd(src[pos:pos + zl], nbytes))
        elif zl:
            raise Corrupt("context chunk: frame for an empty stream")
        else:
            streams.append(b"")
        pos += zl
    its = [iter(s) for s in streams[:NCTX]]
    esc = array("H")
    esc.frombytes(streams[NCTX])
    if sys.byteorder == "big":
        esc.byteswap()
    esc_it = iter(esc)
    mask = 0xffff if g.bps == 2 else 0xff
    ad = AD16 if g.bps == 2 else AD8
    unzz = UNZZ16 if g.bps == 2 else UNZZ8
    zero_ctx = [0] * w
    rows = []
    for _, nr in g.bands(raw_off, raw_size):
        band = []
        for y in range(nr):
            if y == 0:
                cx = zero_ctx
                u = None
            else:
                u = band[-1]
                cx = contexts(u, band[-2] if y > 1 else u, w, g.step, ad, mask)
            tok = list(map(next, map(its.__getitem__, cx)))
            if len(tok) != w:
                raise Corrupt("context chunk: a token stream runs out")
            if g.bps == 2:
                r = [unzz[t] for t in tok]
                if ESC in tok:
                    for x, t in enumerate(tok):
                        if t == ESC:
                            z = next(esc_it, None)
                            if z is None:
                                raise Corrupt("context chunk: escape stream runs out")
                            r[x] = UNZZ16[z]
            else:
                r = [unzz[t] for t in tok]
            band.append(rebuild(r, u, w, g.step, up, mask))
        rows.extend(band)
    return samples_to_bytes(rows, g.bps)


def decode_planes(g, src, raw_off, raw_size, up):
    planes = _zstd(src, raw_size)
    nsamp = raw_size // g.bps
    w = g.row_samples
    mask = 0xffff if g.bps == 2 else 0xff
    rows = []
    for off, nr in g.bands(raw_off, raw_size):
        s0 = off // g.bps
        u = None
        for y in range(nr):
            a = s0 + y * w
            if g.bps == 2:
                r = [UNZZ16[lo | hi << 8] for lo, hi in
                     zip(planes[a:a + w], planes[nsamp + a:nsamp + a + w])]
            else:
                r = [UNZZ8[z] for z in planes[a:a + w]]
            row = rebuild(r, u, w, g.step, up, mask)
            rows.append(row)
            u = row
    return samples_to_bytes(rows, g.bps)


def undo_colour_differences(g, raw):
    """Methods 6 and 7: every pixel (s0 - s1, s1, s2 - s1) back to (s0, s1, s2)."""
    if g.bps == 1:
        a = bytearray(raw)
        mask = 0xff
    else:
        a = array("H")
        a.frombytes(raw)
        if sys.byteorder == "big":
            a.byteswap()
        mask = 0xffff
    for p in range(0, len(a) - 2, 3):
        mid = a[p + 1]
        a[p] = (a[p] + mid) & mask
        a[p + 2] = (a[p + 2] + mid) & mask
    if g.bps == 1:
        return bytes(a)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def codec_decode(enc):
    """The raw bytes of an encoded blob (FORMAT.md, "Pixel codec")."""
    if len(enc) < HDR_SIZE + SUM_SIZE or enc[:4] != b"DCZB" or enc[4] != 1 or enc[5] > 1:
        raise Corrupt("not an encoded blob")
    kind = enc[5]
    (raw_len, nch) = struct.unpack_from("<QI", enc, 8)
    if nch > (len(enc) - HDR_SIZE - SUM_SIZE) // ENT_SIZE:
        raise Corrupt("chunk table runs past the blob")
    head = HDR_SIZE + nch * ENT_SIZE + SUM_SIZE
    (ck,) = struct.unpack_from("<Q", enc, head - SUM_SIZE)
    if ck != xxh64(enc[:head - SUM_SIZE]):
        raise Corrupt("header checksum")
    g = None
    if kind == 1:
        g = Geom(*struct.unpack_from("<6I", enc, 20), raw_len)
    data = memoryview(enc)[head:]
    out = []
    raw_pos = enc_pos = 0
    for i in range(nch):
        (roff, eoff, rsz, esz, method, chash) = struct.unpack_from("<QQIIB3xI", enc, HDR_SIZE + i * ENT_SIZE)
        if roff != raw_pos or eoff != enc_pos or not rsz or rsz > CHUNK_MAX or method > M_UP_CTX_CD \
                or rsz > raw_len - raw_pos or esz > len(data) - enc_pos:
            raise Corrupt("chunk table entry %d" % i)
        if method >= M_GRADIENT and (g is None or roff % g.row_bytes or rsz % g.row_bytes):
            raise Corrupt("chunk %d: pixel method without whole rows" % i)
        src = bytes(data[eoff:eoff + esz])
        if method == M_STORED:
            if esz != rsz:
                raise Corrupt("chunk %d: stored size" % i)
            raw = src
        elif method == M_ZSTD:
            raw = _zstd(src, rsz)
        elif method in (M_GRADIENT, M_UP):
            raw = decode_planes(g, src, roff, rsz, method == M_UP)
        elif method in (M_GRADIENT_CTX, M_UP_CTX):
            raw = decode_ctx(g, src, roff, rsz, method == M_UP_CTX)
        else:
            if g.spp != 3 or g.planar:
                raise Corrupt("chunk %d: colour differences without 3 interleaved samples" % i)
            raw = undo_colour_differences(g, decode_ctx(g, src, roff, rsz, method == M_UP_CTX_CD))
        if len(raw) != rsz or (xxh64(raw) & 0xffffffff) != chash:
            raise Corrupt("chunk %d: hash mismatch" % i)
        out.append(raw)
        raw_pos += rsz
        enc_pos += esz
    if raw_pos != raw_len:
        raise Corrupt("chunks do not cover the raw length")
    return b"".join(out)


# ---------------------------------------------------------------- store

def esc_name(v):
    if not v:
        return "%"
    out = []
    for i, c in enumerate(v):
        ch = chr(c)
        if (ch.isascii() and ch.isalnum() or ch in ".-_+=,") and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.append("%%%02X" % c)
    return "".join(out)


NAME_MAX = 255


def name_fit(escaped, h, suffix):
    """escape.c name_fit: a name over NAME_MAX bytes is cut (not inside a
    %XX) and ends in ~<16 hex of h> before the suffix."""
    if len(escaped) + len(suffix) <= NAME_MAX:
        return escaped + suffix
    keep = NAME_MAX - len(suffix) - 17
    n = len(escaped)
    if n > keep:
        n = keep
        if escaped[n - 1] == "%":
            n -= 1
        elif escaped[n - 2] == "%":
            n -= 2
    return escaped[:n] + "~%016x" % h + suffix


def name_component(v, suffix=""):
    return name_fit(esc_name(v), xxh64(v), suffix)


def patient_folder(info, noid_index):
    """The patient folder of a record (README.md, "Names in the tree");
    noid_index: 1 for the first patient row with its %noid hash, 2, 3..."""
    pid = info.get("patient_id", b"")
    iss = info.get("issuer_of_patient_id", b"")
    if pid:
        if iss:
            return name_fit(esc_name(pid) + "@" + esc_name(iss), xxh64(pid + b"\0" + iss + b"\0"), "")
        return name_fit(esc_name(pid), xxh64(pid), "")
    name = "%%noid-%08x" % noid_hash(info)
    return name if noid_index <= 1 else "%s-%d" % (name, noid_index)


def noid_hash(info):
    key = (b"\x01noid\x01|" + info.get("patient_name", b"") + b"\x01|" +
           info.get("patient_birth_date", b"") + b"\x01|" + info.get("issuer_of_patient_id", b""))
    return xxh64(key) & 0xffffffff


class Store:
    def __init__(self, path, log):
        self.path = path
        self.log = log
        self.blobs = {}       # (hash, ordinal) -> ("pack", name, off, len, raw) | ("file", path, raw)
        self.records = []
        self.tombstones = set()
        self.damage = []
        self.packs = {}

    def scan(self):
        pdir = os.path.join(self.path, "packs")
        if not os.path.isdir(pdir):
            raise OSError("%s: no packs/ folder: not a dcmfs store" % self.path)
        for name in sorted(os.listdir(pdir)):
            if not name.endswith(".pack"):
                continue
            with open(os.path.join(pdir, name), "rb") as f:
                data = f.read()
            self.packs[name] = data
            dmg = []
            for etype, start, length in walk_pack(data, dmg):
                p = data[start:start + length]
                if etype == ENTRY_BLOB:
                    if length < BLOB_HEADER_BYTES:
                        continue
                    h, ordinal, kind, raw, enc = parse_blob_header(p)
                    if enc != length - BLOB_HEADER_BYTES:
                        continue
                    self.blobs.setdefault((h, ordinal), ("pack", name, start + BLOB_HEADER_BYTES, enc, raw))
                elif etype == ENTRY_INSTANCE:
                    r = parse_record(p)
                    if r:
                        self.records.append(r)
                    else:
                        dmg.append("instance record at %d does not parse" % start)
                elif etype == ENTRY_TOMBSTONE and length == 16:
                    self.tombstones.add(struct.unpack_from("<q", p)[0])
            for d in dmg:
                self.damage.append("pack %s: %s" % (name, d))
        bdir = os.path.join(self.path, "blobs")
        for root, _, files in os.walk(bdir):
            for fn in files:
                base = fn
                ordinal = 0
                if ".tmp" in fn:
                    continue
                if "." in fn:
                    base, o = fn.split(".", 1)
                    if not o.isdigit():
                        continue
                    ordinal = int(o)
                if len(base) != 32:
                    continue
                try:
                    h = bytes.fromhex(base)
                except ValueError:
                    continue
                path = os.path.join(root, fn)
                hdr = self._blob_file_header(path)
                if hdr is None:
                    self.damage.append("blob file %s: damaged header or size" % path)
                    continue
                hh, hord, kind, raw, enc = hdr
                if hh != h or hord != ordinal:
                    self.damage.append("blob file %s: its header names another blob" % path)
                    continue
                # a blob in a pack and in a file: the pack entry was written first
                self.blobs.setdefault((h, ordinal), ("file", path, raw))

    @staticmethod
    def _blob_file_header(path):
        with open(path, "rb") as f:
            hdr = f.read(BLOB_FILE_HEADER)
            size = os.fstat(f.fileno()).st_size
        if len(hdr) != BLOB_FILE_HEADER or hdr[:8] != BLOB_MAGIC or \
                struct.unpack_from("<I", hdr, 8)[0] != 1:
            return None
        ckl = 16 + BLOB_HEADER_BYTES + 8
        if xxh64(hdr[:ckl]) != struct.unpack_from("<Q", hdr, ckl)[0]:
            return None
        h = parse_blob_header(hdr[16:16 + BLOB_HEADER_BYTES])
        if h[4] != size - BLOB_FILE_HEADER:
            return None
        return h

    def blob(self, h, ordinal, raw_size):
        """Decoded bytes of a blob, or raise Corrupt / KeyError."""
        loc = self.blobs[(h, ordinal)]
        if loc[0] == "pack":
            _, name, off, n, raw = loc
            enc = self.packs[name][off:off + n]
        else:
            _, path, raw = loc
            with open(path, "rb") as f:
                data = f.read()
            (ck,) = struct.unpack_from("<Q", data, 16 + BLOB_HEADER_BYTES)
            enc = data[BLOB_FILE_HEADER:]
            if xxh64(enc) != ck:
                raise Corrupt("blob file checksum")
        if raw != raw_size:
            raise Corrupt("blob raw size %d, record says %d" % (raw, raw_size))
        out = codec_decode(enc)
        if xxh128(out) != h:
            raise Corrupt("decodes to bytes of another hash")
        return out

    def live_records(self):
        """Records not deleted, one per instance id (the earliest stored)."""
        seen = set()
        for r in sorted(self.records, key=lambda r: r["stored_at_ns"]):
            if r["instance_id"] in self.tombstones or r["instance_id"] in seen:
                continue
            seen.add(r["instance_id"])
            yield r


# Kept equal to DCMFS_VERSION in index/version.h (t0600 checks).
VERSION = "0.2.0"


def main(argv):
    if argv[1:2] == ["--version"]:
        print("dcmfs-extract.py " + VERSION)
        return 0
    args = [a for a in argv[1:] if not a.startswith("-")]
    quiet = "-q" in argv
    verify = "--no-verify" not in argv
    if len(args) != 2:
        sys.stderr.write("usage: dcmfs-extract.py [-q] [--no-verify] STORE OUTDIR\n")
        return 2
    store_dir, outdir = args
    log = (lambda m: None) if quiet else (lambda m: sys.stderr.write(m + "\n"))
    st = Store(store_dir, log)
    try:
        st.scan()
    except OSError as e:
        sys.stderr.write("dcmfs-extract: %s\n" % e)
        return 2
    for d in st.damage:
        log("damage: " + d)
    os.makedirs(outdir, exist_ok=True)
    manifest = []
    ok = bad = 0
    cache = {}
    live = list(st.live_records())
    # patients without a PatientID that share a %noid hash: -2, -3... in
    # the order of their patient ids
    noid = {}
    for pid, h in sorted({(r["patient_id"], noid_hash(r["info"])) for r in live
                          if not r["info"].get("patient_id")}):
        noid[pid] = noid.setdefault(("n", h), 0) + 1
        noid[("n", h)] = noid[pid]
    for r in live:
        info = r["info"]
        sop = info.get("sop_instance_uid", b"")
        pat = patient_folder(info, noid.get(r["patient_id"], 1))
        name = name_component(sop, ".v%d.dcm" % r["version"])
        rel = os.path.join(pat, name_component(info.get("study_uid", b"")),
                           name_component(info.get("series_uid", b"")), name)
        status = "ok"
        # Written blob by blob and hashed as it goes: a streamed file of
        # gigabytes is never held whole (it was: 580 MB for a 200 MB file).
        part = os.path.join(outdir, ".dcmfs-extract.part")
        hs = xxhash.xxh3_128()
        size = 0
        with open(part, "wb") as f:
            for h, ordinal, kind, raw in r["segments"]:
                key = (h, ordinal)
                try:
                    if key not in cache:
                        cache.clear()   # one blob kept: consecutive instances share headers
                        cache[key] = st.blob(h, ordinal, raw)
                except KeyError:
                    status = "missing blob %s.%d" % (h.hex(), ordinal)
                    break
                except Corrupt as e:
                    status = "corrupt blob %s.%d: %s" % (h.hex(), ordinal, e)
                    break
                f.write(cache[key])
                hs.update(cache[key])
                size += len(cache[key])
        if status == "ok" and size != r["size"]:
            status = "size %d, record says %d" % (size, r["size"])
        if status == "ok" and verify and hs.digest() != r["file_hash"]:
            status = "file hash mismatch"
        if status == "ok":
            path = os.path.join(outdir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(part, path)
            ok += 1
        else:
            bad += 1
            os.unlink(part)
            log("instance %d (%s): %s" % (r["instance_id"], sop.decode("latin-1"), status))
        manifest.append("\t".join([status, str(r["instance_id"]), str(r["version"]),
                                   str(r["size"]), r["file_hash"].hex(),
                                   sop.decode("latin-1"), rel,
                                   info.get("unclean", b"").decode("utf-8", "replace")]))
    with open(os.path.join(outdir, "MANIFEST.tsv"), "w") as f:
        f.write("status\tinstance_id\tversion\tsize\tfile_xxh3_128\tsop_instance_uid\tpath\tunclean\n")
        for line in manifest:
            f.write(line + "\n")
    print("extracted %d instances, %d failed, %d deleted (tombstones), %d damaged stretches"
          % (ok, bad, len(st.tombstones), len(st.damage)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
