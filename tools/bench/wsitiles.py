#!/usr/bin/python3
"""wsitiles.py - where each tile (frame) of a tiled multi-frame DICOM file is.

    wsitiles.py FILE            one line per frame: "<offset> <length>", the
                                file offset and length of its bytes
    wsitiles.py --uid FILE      the SOPInstanceUID
    wsitiles.py --check FILE    for encapsulated pixel data: every fragment
                                decodes as JPEG (libjpeg, through PIL when
                                present, else djpeg), printing how many

Offsets of an encapsulated file come from its Basic Offset Table (one
fragment a frame, as dcmfs-gencorpus --wsi writes it), and are checked
against the fragments' own item headers; of a native file, from the frame
size (Rows x Columns x SamplesPerPixel x BitsAllocated / 8).  Explicit VR
little endian files only; a file it cannot read is a one-line error, exit 2.
Other tools import it (tiles(), sop_uid()).
"""
import struct
import subprocess
import sys
import tempfile

LONG_VRS = {b'OB', b'OD', b'OF', b'OL', b'OV', b'OW', b'SQ', b'SV', b'UC', b'UN', b'UR', b'UT', b'UV'}
UNDEFINED = 0xFFFFFFFF


class BadFile(Exception):
    pass


def _skip_undefined(f):
    """Skip what is left of an undefined-length sequence, nesting included."""
    depth = 1
    while depth:
        h = f.read(8)
        if len(h) < 8:
            raise BadFile('sequence runs past end of file')
        g, e, ln = struct.unpack('<HHI', h)
        if g == 0xFFFE:     # items and delimiters have no VR
            if e in (0xE0DD, 0xE00D):
                depth -= 1
            elif ln == UNDEFINED:
                depth += 1
            else:
                f.seek(ln, 1)
            continue
        vr = h[4:6]
        if vr in LONG_VRS:
            ln = struct.unpack('<I', f.read(4))[0]
        else:
            ln = struct.unpack('<H', h[6:8])[0]
        if ln == UNDEFINED:
            depth += 1
        else:
            f.seek(ln, 1)


def read_header(path):
    """Top-level elements up to Pixel Data: ({tag: bytes}, value offset, length)."""
    out = {}
    with open(path, 'rb') as f:
        if f.read(132)[128:] != b'DICM':
            raise BadFile('no DICM preamble')
        while True:
            h = f.read(8)
            if len(h) < 8:
                raise BadFile('no Pixel Data')
            g, e = struct.unpack('<HH', h[:4])
            vr = h[4:6]
            if vr in LONG_VRS:
                ln = struct.unpack('<I', f.read(4))[0]
            else:
                ln = struct.unpack('<H', h[6:8])[0]
            tag = (g << 16) | e
            if tag == 0x7FE00010:
                return out, f.tell(), ln
            if ln == UNDEFINED:
                _skip_undefined(f)
            elif ln < 256:
                out[tag] = f.read(ln)
            else:
                f.seek(ln, 1)


def _us(hdr, tag):
    return struct.unpack('<H', hdr[tag])[0]


def sop_uid(path):
    hdr, _, _ = read_header(path)
    return hdr[0x00080018].rstrip(b'\0 ').decode()


def tiles(path):
    """[(offset, length)] of every frame, in frame order."""
    hdr, at, ln = read_header(path)
    frames = int(hdr.get(0x00280008, b'1').strip(b'\0 ') or 1)
    if ln != UNDEFINED:
        size = _us(hdr, 0x00280010) * _us(hdr, 0x00280011) * _us(hdr, 0x00280002) * _us(hdr, 0x00280100) // 8
        if size * frames > ln:
            raise BadFile('Pixel Data shorter than its frames')
        return [(at + i * size, size) for i in range(frames)]
    with open(path, 'rb') as f:
        f.seek(at)
        g, e, blen = struct.unpack('<HHI', f.read(8))
        if (g, e) != (0xFFFE, 0xE000) or blen != 4 * frames:
            raise BadFile('no Basic Offset Table of %d entries' % frames)
        bot = struct.unpack('<%dI' % frames, f.read(blen))
        base = f.tell()
        out = []
        for i, off in enumerate(bot):
            f.seek(base + off)
            g, e, flen = struct.unpack('<HHI', f.read(8))
            if (g, e) != (0xFFFE, 0xE000):
                raise BadFile('Basic Offset Table entry %d does not point at an item' % i)
            out.append((base + off + 8, flen))
        for (a, n), (b, _) in zip(out, out[1:]):
            if a + n + 8 != b:
                raise BadFile('fragments are not one a frame, back to back')
        return out


def check_jpeg(path):
    """Decode every fragment; returns the number decoded."""
    try:
        from PIL import Image
        import io
        decode = lambda b: Image.open(io.BytesIO(b)).load()
    except ImportError:
        def decode(b):
            with tempfile.NamedTemporaryFile(suffix='.jpg') as t:
                t.write(b)
                t.flush()
                r = subprocess.run(['djpeg', '-outfile', '/dev/null', t.name], stderr=subprocess.PIPE)
                if r.returncode or r.stderr:
                    raise BadFile('fragment does not decode: %s' % r.stderr.decode().strip())
    n = 0
    with open(path, 'rb') as f:
        for off, ln in tiles(path):
            f.seek(off)
            b = f.read(ln)
            if b[:2] != b'\xff\xd8':
                raise BadFile('fragment at %d is not a JPEG stream' % off)
            decode(b)
            n += 1
    return n


def main():
    args = sys.argv[1:]
    try:
        if len(args) == 2 and args[0] == '--uid':
            print(sop_uid(args[1]))
        elif len(args) == 2 and args[0] == '--check':
            print(check_jpeg(args[1]))
        elif len(args) == 1:
            sys.stdout.write(''.join('%d %d\n' % t for t in tiles(args[0])))
        else:
            sys.stderr.write('usage: wsitiles.py [--uid|--check] FILE\n')
            return 2
    except (BadFile, OSError, KeyError, struct.error) as e:
        sys.stderr.write('wsitiles.py: %s: %s\n' % (args[-1], e))
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
