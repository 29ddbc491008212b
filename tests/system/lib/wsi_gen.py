#!/usr/bin/python3
"""wsi_gen.py SEED_RGB OUT TILES [SEED]: a whole-slide-like DICOM file.

A VL Whole Slide Microscopy image, native RGB, TILES frames of 256x256 cut
from the real RGB image SEED_RGB at random places, with light noise so that
no two tiles are equal: the large file the streaming import is tested on
(TILES 2000 is about 393 MB).  Deterministic for a given SEED.  Stand-in
until dcmfs-gencorpus --wsi exists.
"""
import sys

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

TILE = 256
WSI_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"


def tiles_from(seed_path, n, rng):
    src = pydicom.dcmread(seed_path).pixel_array
    if src.ndim != 3 or src.shape[2] != 3:
        sys.exit("wsi_gen.py: %s is not a single-frame RGB image" % seed_path)
    # Repeat the image until a tile fits anywhere.
    reps = (-(-TILE * 2 // src.shape[0]), -(-TILE * 2 // src.shape[1]), 1)
    big = np.tile(src, reps)
    h, w = big.shape[0] - TILE, big.shape[1] - TILE
    for _ in range(n):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        tile = big[y:y + TILE, x:x + TILE].astype(np.int16)
        tile += rng.integers(-2, 3, size=tile.shape, dtype=np.int16)
        yield np.clip(tile, 0, 255).astype(np.uint8).tobytes()


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: wsi_gen.py SEED_RGB OUT TILES [SEED]")
    seed_path, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = WSI_CLASS
    uid = lambda: generate_uid(entropy_srcs=[str(rng.integers(0, 2**62))])
    meta.MediaStorageSOPInstanceUID = uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(out, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = WSI_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid(), uid()
    ds.PatientID, ds.PatientName, ds.Modality = "WSI-TEST", "Slide^Test", "SM"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.Rows = ds.Columns = TILE
    ds.NumberOfFrames = n
    per_row = int(np.ceil(np.sqrt(n)))
    ds.TotalPixelMatrixColumns = per_row * TILE
    ds.TotalPixelMatrixRows = -(-n // per_row) * TILE
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = b"".join(tiles_from(seed_path, n, rng))
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(out, write_like_original=False)


if __name__ == "__main__":
    main()
