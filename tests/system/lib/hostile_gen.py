#!/usr/bin/python3
"""hostile_gen.py SEED OUT - six files made from SEED whose patient names,
IDs and descriptions are hostile: UTF-8 and Latin-1 letters, % _ \\ quotes,
SQL-looking and over-long values (t0724)."""
import sys, pydicom
from pydicom.config import settings
settings.writing_validation_mode = pydicom.config.IGNORE
settings.reading_validation_mode = pydicom.config.IGNORE
seed, out = sys.argv[1], sys.argv[2]
import os; os.makedirs(out, exist_ok=True)
cases = [
 (b"ISO_IR 192", "M\xc3\x9cLLER^HANS".encode('latin-1'), b"U1"),
 (b"ISO_IR 100", b"M\xdcLLER^ANNA", b"L1"),
 (b"ISO_IR 192", b"O'BRIEN^%_X", b"P%1"),
 (b"", b"BACK\\SLASH^A", b"B_1"),
 (b"", b"ROBERT');DROP TABLE patients;--", b"S1"),
 (b"", b"A"*300, b"P"*70),
]
for i,(cs,name,pid) in enumerate(cases):
    ds = pydicom.dcmread(seed)
    base = "1.2.826.0.1.3680043.8.498.99"
    ds.StudyInstanceUID = f"{base}.1.{i}"; ds.SeriesInstanceUID = f"{base}.2.{i}"
    ds.SOPInstanceUID = f"{base}.3.{i}"; ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if cs: ds[0x00080005] = pydicom.DataElement(0x00080005, "CS", cs)
    elif 0x00080005 in ds: del ds[0x00080005]
    for tag, vr, v in ((0x00100010,"PN",name),(0x00100020,"LO",pid),(0x00081030,"LO",b"HEAD_100% "+name[:20])):
        if len(v)%2: v+=b" "
        ds[tag] = pydicom.DataElement(tag, vr, v)
    ds.save_as(f"{out}/h{i}.dcm", write_like_original=True)
