#!/bin/bash
# t0505-import-many-items.t - a large encapsulated file of millions of
# empty items (9 M of them, 72 MB, around one fragment of the corpus's real
# RGB image) imports streamed in little CPU time: its item headers are read
# through a window, not one 8-byte pread each (6.4 s of CPU before, 0.3 s
# now), and reads back byte-identical.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/large_import.sh"
large_import_needs pydicom
F=$T/empties.dcm
uid=$("$PY" - "$SEED" "$F" <<'PY'
import struct, sys
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import generate_uid
src = pydicom.dcmread(sys.argv[1])
meta = FileMetaDataset()
meta.MediaStorageSOPInstanceUID = uid = generate_uid(entropy_srcs=["t0505"])
meta.MediaStorageSOPClassUID = src.SOPClassUID
meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.50"
ds = FileDataset(sys.argv[2], {}, file_meta=meta, preamble=b"\0" * 128)
ds.SOPClassUID, ds.SOPInstanceUID = src.SOPClassUID, uid
ds.StudyInstanceUID = generate_uid(entropy_srcs=["t0505s"])
ds.SeriesInstanceUID = generate_uid(entropy_srcs=["t0505r"])
ds.PatientID, ds.Modality = "ITEMS-TEST", "OT"
ds.is_little_endian, ds.is_implicit_VR = True, False
ds.save_as(sys.argv[2], write_like_original=False)
item = lambda b: struct.pack("<HHI", 0xFFFE, 0xE000, len(b)) + b
frag = src.PixelData[:1 << 20]
frag += b"\0" * (len(frag) & 1)
with open(sys.argv[2], "ab") as f:
    f.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
    f.write(item(b"") + item(frag))
    empty = item(b"") * (1 << 20)
    for _ in range(9):
        f.write(empty)
    f.write(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
print(uid)
PY
) || { echo "Bail out! making the file failed"; exit 1; }
diag "$(stat -c %s "$F") bytes"

S=$T/store
"$CTL" init "$S" >/dev/null
/usr/bin/time -f "%U %S" -o "$T/cpu" "$CTL" import -q "$S" "$F" >"$T/import.log" 2>&1
st=$?
diag <"$T/import.log"
check "import exits 0" test $st = 0
cpu=$(tail -1 "$T/cpu" | awk '{ print $1 + $2 }')
case "$BUILD" in
*sanitize*) skip "CPU time under AddressSanitizer: $cpu s" ;;
*)
	awk -v c="$cpu" 'BEGIN { exit !(c < 2.5) }' && ok "import CPU $cpu s < 2.5 s" ||
		not_ok "import CPU $cpu s, limit 2.5 s (one pread per item header?)" ;;
esac
check "get is byte-identical" same_as_stored "$S" "$uid" "$F"
check "verify is clean" "$CTL" verify "$S"
done_testing
