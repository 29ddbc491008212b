#!/usr/bin/python3
"""identity_gen.py - hostile files for t0008-identity, made from real seeds.

    identity_gen.py noid SEED OUT       instances without a PatientID
    identity_gen.py long SEED OUT       long UIDs, NULs inside values, long IDs
    identity_gen.py versions SEED OUT N N files: one SOPInstanceUID, other bytes
    identity_gen.py correct SEED OUT    the seed with a corrected header (same UIDs)
    identity_gen.py moved SEED OUT      the seed moved to another series (same SOP)
    identity_gen.py modalities SEED OUT N  N instances of N different modalities

Every file is the seed with a few attributes changed (pydicom writes it), so
the scanner sees real headers and pixel data.
"""
import os
import sys

import pydicom
from pydicom.config import settings

# The point is to write values DICOM forbids (UIDs over 64 characters, NULs).
settings.writing_validation_mode = pydicom.config.IGNORE
settings.reading_validation_mode = pydicom.config.IGNORE


def load(seed):
    return pydicom.dcmread(seed)


def save(ds, path):
    ds.save_as(path, write_like_original=True)


def raw(ds, tag, vr, value):
    """Set a value as bytes, exactly (NULs and all)."""
    if len(value) % 2:
        value += b" " if vr != "UI" else b"\0"
    ds[tag] = pydicom.DataElement(tag, vr, value)


def fresh(ds, n):
    """New study/series/SOP UIDs so that files made here share nothing."""
    base = "1.2.826.0.1.3680043.8.498.7"
    ds.StudyInstanceUID = f"{base}.1.{n}"
    ds.SeriesInstanceUID = f"{base}.2.{n}"
    ds.SOPInstanceUID = f"{base}.3.{n}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def noid(seed, out):
    # name, birth date, issuer; a and d must share a folder, nothing else may
    cases = {
        "a": ("Doe^Jane", "19700101", None),
        "b": ("Doe^John", "19700101", None),
        "c": ("Doe^Jane", "19800101", None),
        "d": ("Doe^Jane", "19700101", None),
        "e": ("Doe^Jane", "19700101", "HOSP-B"),
    }
    for i, (key, (name, birth, issuer)) in enumerate(sorted(cases.items())):
        ds = load(seed)
        fresh(ds, 100 + i)
        ds.PatientID = ""
        ds.PatientName = name
        ds.PatientBirthDate = birth
        if issuer:
            ds.IssuerOfPatientID = issuer
        elif "IssuerOfPatientID" in ds:
            del ds.IssuerOfPatientID
        save(ds, os.path.join(out, f"noid_{key}.dcm"))


def clash(seed, out):
    # two patients without a PatientID whose %noid stems are the same
    # 8 hex digits (635941b6, found by search): the second is stem-2
    for i, name in enumerate(("Clash^67186", "Clash^105238")):
        ds = load(seed)
        fresh(ds, 200 + i)
        ds.PatientID = ""
        ds.PatientName = name
        ds.PatientBirthDate = "19700101"
        if "IssuerOfPatientID" in ds:
            del ds.IssuerOfPatientID
        save(ds, os.path.join(out, f"clash_{i}.dcm"))


def long_values(seed, out):
    # two 81-character SOPInstanceUIDs that agree on their first 64
    stem = "1.2.826.0.1.3680043.8.498.7.9." + "1" * 40
    for k in ("1", "2"):
        ds = load(seed)
        fresh(ds, 200)
        uid = (stem + "2" * 50)[:80] + k
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        save(ds, os.path.join(out, f"uid81_{k}.dcm"))
    # PatientIDs with a NUL inside that differ after it
    for k, tail in (("b", b"BBBB"), ("c", b"CCCC")):
        ds = load(seed)
        fresh(ds, 300 if k == "b" else 301)
        raw(ds, 0x00100020, "LO", b"AAAA\0" + tail)
        save(ds, os.path.join(out, f"nul_{k}.dcm"))
    # a legal PatientID of 64 'é' (384 bytes escaped), and one of 63 'é' + 'x'
    for k, pid in (("e", "é" * 64), ("f", "é" * 63 + "x")):
        ds = load(seed)
        fresh(ds, 400 if k == "e" else 401)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientID = pid
        save(ds, os.path.join(out, f"utf8_{k}.dcm"))


def versions(seed, out, n):
    for i in range(n):
        ds = load(seed)
        fresh(ds, 500)
        ds.ImageComments = f"version {i + 1}"
        save(ds, os.path.join(out, f"v{i + 1:04d}.dcm"))


def correct(seed, out):
    ds = load(seed)
    ds.SeriesDescription = "corrected header"
    save(ds, os.path.join(out, "corrected.dcm"))


def moved(seed, out):
    ds = load(seed)
    ds.SeriesInstanceUID = ds.SeriesInstanceUID + ".99"
    save(ds, os.path.join(out, "moved.dcm"))


def modalities(seed, out, n):
    for i in range(n):
        ds = load(seed)
        fresh(ds, 600 + i)
        ds.Modality = f"M{i:02d}"
        save(ds, os.path.join(out, f"mod{i:02d}.dcm"))


def main():
    what, seed, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    if what == "noid":
        noid(seed, out)
    elif what == "clash":
        clash(seed, out)
    elif what == "long":
        long_values(seed, out)
    elif what == "versions":
        versions(seed, out, int(sys.argv[4]))
    elif what == "correct":
        correct(seed, out)
    elif what == "moved":
        moved(seed, out)
    elif what == "modalities":
        modalities(seed, out, int(sys.argv[4]))
    else:
        sys.exit(f"unknown: {what}")


if __name__ == "__main__":
    main()
