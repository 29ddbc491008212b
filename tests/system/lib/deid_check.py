# deid_check.py OUT [MOUNT_ROOT] - holds a de-identified export (or mount)
# against the originals: what t0403 asserts, one "# " line per problem.
#   OUT/map.tsv, OUT/orig/<id>.dcm: written by dcmfs-deid-export
#   MOUNT_ROOT: where the new relative paths of map.tsv are (OUT/deid)
# Checks: pydicom reads every kept file; no original identifying value
# (PatientName, PatientID, PatientBirthDate, AccessionNumber, any UID
# outside the DICOM root) is in its bytes or in the tree's names, and
# none of ALSO keeps its value; its
# pixel value equals the original's byte for byte; patients, studies and
# series map one to one; PatientIdentityRemoved is YES.
import os, sys
import pydicom

out = sys.argv[1]
root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(out, 'deid')
bad = 0
def fail(msg):
    global bad
    bad += 1
    if bad <= 30:
        print('# ' + msg)

PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
SKIP_SHORT = 6   # shorter values (a PatientID "0010") occur in new UIDs' digits by chance
# UIDs that name kinds of things (classes, syntaxes, coding schemes): kept.
KEPT_UI = {0x00080016, 0x0008001A, 0x00080062, 0x0008010C, 0x00080117, 0x00081150,
           0x00041510, 0x04000010, 0x04000510}

# Searched for in every byte of the file: PatientName, PatientID,
# PatientBirthDate, AccessionNumber (and the UIDs).
IDENTIFYING = {0x00100010, 0x00100020, 0x00100030, 0x00080050}
# Others the profile removes, held against the new dataset's values (a
# byte search for "TOSHIBA" would find the Manufacturer, which stays):
# institution name and address, referring, performing and reading
# physicians, operators, station name, device serial number, other
# patient ids and names, patient address, issuer of patient id.
ALSO = {0x00080080, 0x00080081, 0x00080090, 0x00081050, 0x00081060, 0x00081070,
        0x00081010, 0x00181000, 0x00101000, 0x00101001, 0x00101040, 0x00100021}

def values_of(ds, tags):
    out = set()
    for el in ds.iterall():
        if el.tag in tags and el.value not in (None, '', b''):
            out.add((int(el.tag), str(el.value)))
    return out

def secrets_of(ds, acc):
    """Identifying values of a dataset, at every level."""
    for el in ds.iterall():
        if el.tag.is_private:
            continue
        v = el.value
        if el.VR == 'UI' and v and el.tag not in KEPT_UI:
            for u in (v if isinstance(v, (list, pydicom.multival.MultiValue)) else [v]):
                u = str(u).strip('\0 ')
                if u and not u.startswith('1.2.840.10008.') and len(u) >= 8:
                    acc.add(u.encode())
        elif el.tag in IDENTIFYING and v:
            s = el.value if isinstance(el.value, bytes) else str(el.value).encode('utf-8', 'replace')
            s = s.strip(b'\0 ')
            if len(s) >= SKIP_SHORT:
                acc.add(s)
    return acc

def pixel(ds):
    for t in PIXEL_TAGS:
        if t in ds:
            return ds[t].value
    return None

kept = left = 0
maps = {}
names = []
for line in open(os.path.join(out, 'map.tsv')):
    f = line.rstrip('\n').split('\t')
    if f[1] == 'left':
        left += 1
        continue
    kept += 1
    iid, opath, npath = f[0], f[2], f[3]
    orig = os.path.join(out, 'orig', iid + '.dcm')
    new = os.path.join(root, npath)
    names.append(npath)
    try:
        o = pydicom.dcmread(orig, force=True)
    except Exception as e:
        fail('%s: original does not read: %s' % (opath, e))
        continue
    try:
        n = pydicom.dcmread(new)
        n.PixelData if 'PixelData' in n else None
    except Exception as e:
        fail('%s: pydicom cannot read it: %s' % (npath, e))
        continue
    data = open(new, 'rb').read()
    for s in sorted(secrets_of(o, set())):
        if s in data:
            fail('%s: original value %r is in its bytes' % (npath, s))
        if s.decode('utf-8', 'replace') in npath:
            fail('%s: original value %r is in its name' % (npath, s))
    for tag, v in sorted(values_of(o, ALSO) & values_of(n, ALSO)):
        fail('%s: (%04X,%04X) keeps its original value %r' % (npath, tag >> 16, tag & 0xFFFF, v))
    if pixel(o) != pixel(n):
        fail('%s: pixel data differs' % npath)
    if getattr(n, 'PatientIdentityRemoved', '') != 'YES':
        fail('%s: PatientIdentityRemoved is not YES' % npath)
    if n.file_meta.get('MediaStorageSOPInstanceUID') != n.get('SOPInstanceUID'):
        fail('%s: MediaStorageSOPInstanceUID differs from SOPInstanceUID' % npath)
    if str(n.SOPInstanceUID) + '.dcm' != os.path.basename(npath):
        fail('%s: file name is not the new SOPInstanceUID' % npath)
    op, ost, ose = opath.split('/')[:3]
    np_, nst, nse = npath.split('/')[:3]
    for kind, a, b in (('patient', op, np_), ('study', op + '/' + ost, np_ + '/' + nst),
                       ('series', op + '/' + ost + '/' + ose, np_ + '/' + nst + '/' + nse)):
        maps.setdefault((kind, 'o'), {}).setdefault(a, set()).add(b)
        maps.setdefault((kind, 'n'), {}).setdefault(b, set()).add(a)
    if str(n.StudyInstanceUID) != nst or str(n.SeriesInstanceUID) != nse:
        fail('%s: folder names are not its new UIDs' % npath)
    if str(n.PatientID) != np_:
        fail('%s: patient folder is not its PatientID pseudonym' % npath)
for (kind, side), m in sorted(maps.items()):
    for k, v in m.items():
        if len(v) != 1:
            fail('%s %s maps to %d folders: %s' % (kind, k, len(v), sorted(v)[:3]))
print('# kept %d, left out %d; %s' % (kept, left,
      ', '.join('%d %ss' % (len(maps.get((k, 'o'), {})), k) for k in ('patient', 'study', 'series'))))
sys.exit(1 if bad or not kept else 0)
