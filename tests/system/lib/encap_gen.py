#!/usr/bin/python3
"""encap_gen.py SEED_RGB OUT FORM MB [SEED]: a large encapsulated DICOM file.

Made from the real RGB image SEED_RGB, about MB MiB, deterministic for a
given SEED, for the streaming import of encapsulated pixel data:
  tiles   VL Whole Slide Microscopy, JPEG baseline: tiles of 256x256 cut at
          random places with light noise, encoded by PIL's libjpeg (512
          distinct tiles, laid out in a random order), one fragment a tile,
          a Basic Offset Table;
  frames  a multi-frame image in Encapsulated Uncompressed Explicit VR
          Little Endian: frames of 4096x4096 RGB (48 MiB each, the seed
          repeated with noise), one fragment a frame: fragments longer than
          the import's pieces, which it must cut inside.
Prints the file's SOPInstanceUID.
"""
import io
import struct
import sys

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
ENCAPSULATED_UNCOMPRESSED = "1.2.840.10008.1.2.1.98"
WSI_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
SC_MULTIFRAME_TRUE_COLOR = "1.2.840.10008.5.1.4.1.1.7.4"


def seed_image(path, side):
    src = pydicom.dcmread(path).pixel_array
    if src.ndim != 3 or src.shape[2] != 3:
        sys.exit("encap_gen.py: %s is not a single-frame RGB image" % path)
    reps = (-(-side // src.shape[0]), -(-side // src.shape[1]), 1)
    return np.tile(src, reps)


def jpeg_tiles(big, count, rng):
    h, w = big.shape[0] - 256, big.shape[1] - 256
    out = []
    for _ in range(count):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        t = big[y:y + 256, x:x + 256].astype(np.int16)
        t += rng.integers(-2, 3, size=t.shape, dtype=np.int16)
        b = io.BytesIO()
        Image.fromarray(np.clip(t, 0, 255).astype(np.uint8)).save(b, "JPEG", quality=85)
        out.append(b.getvalue())
    return out


def main():
    if len(sys.argv) < 5 or sys.argv[3] not in ("tiles", "frames"):
        sys.exit("usage: encap_gen.py SEED_RGB OUT tiles|frames MB [SEED]")
    seed_path, out, form, mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rng = np.random.default_rng(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    uid = lambda: generate_uid(entropy_srcs=[str(rng.integers(0, 2**62))])
    meta = FileMetaDataset()
    meta.MediaStorageSOPInstanceUID = uid()
    ds = FileDataset(out, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid(), uid()
    ds.PatientID, ds.PatientName = "ENCAP-TEST", "Encapsulated^Test"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PlanarConfiguration = 0
    if form == "tiles":
        meta.TransferSyntaxUID = JPEG_BASELINE
        ds.SOPClassUID = meta.MediaStorageSOPClassUID = WSI_CLASS
        ds.Modality = "SM"
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.Rows = ds.Columns = 256
        kinds = jpeg_tiles(seed_image(seed_path, 1024), 512, rng)
        n = (mb << 20) // (sum(map(len, kinds)) // len(kinds))
        frames = [kinds[i] for i in rng.integers(0, len(kinds), size=n)]
        per_row = int(np.ceil(np.sqrt(n)))
        ds.TotalPixelMatrixColumns = per_row * 256
        ds.TotalPixelMatrixRows = -(-n // per_row) * 256
        ds.DimensionOrganizationType = "TILED_FULL"
    else:
        meta.TransferSyntaxUID = ENCAPSULATED_UNCOMPRESSED
        ds.SOPClassUID = meta.MediaStorageSOPClassUID = SC_MULTIFRAME_TRUE_COLOR
        ds.Modality = "OT"
        ds.Rows = ds.Columns = 4096
        big = seed_image(seed_path, 4096)[:4096, :4096]
        n = max(1, -(-(mb << 20) // (4096 * 4096 * 3)))
        frames = []
        for _ in range(n):
            f = big.astype(np.int16) + rng.integers(-2, 3, size=big.shape, dtype=np.int16)
            frames.append(np.clip(f, 0, 255).astype(np.uint8).tobytes())
    ds.NumberOfFrames = len(frames)
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(out, write_like_original=False)
    print(ds.SOPInstanceUID)


def item_starts(path):
    """The offsets of the pixel data's items (for the test's checks)."""
    with open(path, "rb") as f:
        d = f.read()
    pos = d.rfind(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff") + 12
    starts = []
    while d[pos:pos + 4] != b"\xfe\xff\xdd\xe0":
        starts.append(pos)
        pos += 8 + struct.unpack("<I", d[pos + 4:pos + 8])[0]
    return starts


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--items":
        print("\n".join(map(str, item_starts(sys.argv[2]))))
    else:
        main()
