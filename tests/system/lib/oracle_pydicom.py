#!/usr/bin/python3
"""Oracle for the scanner test: read each file with pydicom, print the same
key=value block that build/dcmfs-scan prints (for the keys compared), or
oracle_error=... when pydicom cannot read it.

Pixel offsets come from pydicom's RawDataElement.value_tell (the file
position of the value, recorded while parsing; the element is left raw by
Dataset.get_item), minus the header size of the element's encoding.
"""
import sys
import warnings

warnings.simplefilter("ignore")
import pydicom  # noqa: E402
from pydicom.tag import Tag  # noqa: E402

LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN",
            "UR", "UT", "UV"}
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


def text(ds, kw):
    v = ds.get(kw, "")
    if v is None:
        return ""
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        v = "\\".join(str(x) for x in v)
    return str(v).rstrip(" \0")


def number(ds, kw, default):
    v = ds.get(kw, None)
    if v is None or v == "":
        return default
    if type(v).__name__ == "MultiValue":
        v = v[0]
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def one(path):
    print("file=%s" % path)
    try:
        ds = pydicom.dcmread(path, force=True, defer_size="4 KB")
        # touch everything so that parse errors show up here
        for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            ds.get(kw)
    except Exception as e:  # noqa: BLE001 - any failure is reported
        print("oracle_error=%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
        print()
        return
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    print("transfer_syntax=%s" % ts.rstrip(" \0"))
    for key, kw in (("sop_instance_uid", "SOPInstanceUID"),
                    ("study_uid", "StudyInstanceUID"),
                    ("series_uid", "SeriesInstanceUID"),
                    ("sop_class_uid", "SOPClassUID"),
                    ("patient_id", "PatientID"),
                    ("patient_name", "PatientName"),
                    ("modality", "Modality"),
                    ("study_date", "StudyDate"),
                    ("study_description", "StudyDescription"),
                    ("series_description", "SeriesDescription"),
                    ("photometric", "PhotometricInterpretation")):
        try:
            print("%s=%s" % (key, text(ds, kw)))
        except Exception as e:  # noqa: BLE001
            print("%s=<error %s>" % (key, type(e).__name__))
    print("series_number=%d" % number(ds, "SeriesNumber", -1))
    print("instance_number=%d" % number(ds, "InstanceNumber", -1))
    print("number_of_frames=%d" % number(ds, "NumberOfFrames", 1))
    print("rows=%d" % number(ds, "Rows", 0))
    print("columns=%d" % number(ds, "Columns", 0))
    print("bits_allocated=%d" % number(ds, "BitsAllocated", 0))
    print("samples_per_pixel=%d" % number(ds, "SamplesPerPixel", 1))
    deflated = ts == "1.2.840.10008.1.2.1.99"
    for t in PIXEL_TAGS:
        if Tag(t) not in ds:
            continue
        raw = ds.get_item(Tag(t))
        print("pixel_tag=%08x" % t)
        if deflated:
            # positions are in the inflated stream, not the file
            break
        # RawDataElement: value_tell; a deferred DataElement: file_tell
        tell = getattr(raw, "value_tell", None)
        if tell is None:
            tell = raw.file_tell
        vr = raw.VR if hasattr(raw, "VR") else raw.vr
        hdr = 8 if ds.is_implicit_VR or vr not in LONG_VRS else 12
        print("pixel_element_offset=%d" % (tell - hdr))
        print("pixel_value_offset=%d" % tell)
        length = getattr(raw, "length", None)
        undefined = length == 0xFFFFFFFF or getattr(raw, "is_undefined_length", False)
        if undefined:
            # value excludes the 8-byte sequence delimiter
            v = raw.value
            n = len(v) if v is not None else -1
            print("pixel_value_length=%d" % (n + 8))
            print("pixel_encapsulated=1")
        else:
            if length is None:
                length = len(raw.value)
            print("pixel_value_length=%d" % length)
            print("pixel_encapsulated=0")
        break
    else:
        print("pixel_tag=00000000")
    print()


def main():
    for p in sys.argv[1:]:
        sys.stdout.flush()
        one(p)


if __name__ == "__main__":
    main()
