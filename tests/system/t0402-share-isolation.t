#!/bin/bash
# t0402-share-isolation.t - nothing outside a share can be reached through
# its mount.  The corpus is imported, a share of one patient and a share of
# one modality are mounted (-o share=NAME) beside a read-only admin mount,
# and for every instance (and folder) that is NOT in a share:
#   - its /patients path mapped into the share mount gives ENOENT (stat,
#     open, listing of its folder), and so do /versions, /quarantine,
#     /incoming and /shares paths, `..` walks and escaped spellings of it;
#   - its inode number (from the admin mount) cannot be reached: the handle
#     name_to_handle_at gives on the admin mount (it names the inode by
#     number alone) does not open with open_by_handle_at on the share mount,
#     as a file or as a folder;
# while every member is reachable (so the refusals mean something): by
# path, byte-identical, and by handle when the mount can be exported.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
case "$("$CTL" 2>&1)" in *"share create"*) ;; *) skip_all "this dcmfsctl has no 'share' command" ;; esac

S=$T/store A=$T/admin
check "import the samples" new_store "$S" "$SAMPLES"

# A patient that is not everything, and the modality with the fewest series.
PID=$(sqlite3 "$(catalog_db "$S")" "
	SELECT p.patient_id FROM instances i JOIN series se ON se.id=i.series
	JOIN studies st ON st.id=se.study JOIN patients p ON p.id=st.patient
	WHERE i.current=1 AND p.patient_id GLOB '[A-Za-z0-9]*' AND p.patient_id NOT GLOB '*[^ -~]*'
	GROUP BY p.id HAVING count(*) > 1 ORDER BY count(*) DESC, p.id LIMIT 1 OFFSET 1")
MOD=$(sqlite3 "$(catalog_db "$S")" "
	SELECT modality FROM series WHERE nchildren>0 AND modality GLOB '[A-Z]*'
	GROUP BY modality ORDER BY count(*), modality LIMIT 1")
[ -n "$PID" ] && [ -n "$MOD" ] || skip_all "the samples have no patient or modality to share apart"
echo "# share 'pat': patient $PID; share 'mod': modality $MOD"
check "share create pat --patient $PID" "$CTL" share create "$S" pat --patient "$PID"
check "share create mod --modality $MOD" "$CTL" share create "$S" mod --modality "$MOD"

fs_mount_or_bail "$S" "$A" -o ro
fs_mount_or_bail "$S" "$T/pat" -o share=pat
fs_mount_or_bail "$S" "$T/mod" -o share=mod

ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1
for share in pat mod; do
	check "share '$share': nothing outside it is reachable, everything in it is" \
		$PY - "$A" "$share" "$T/$share" "$ROOT" <<'PY'
import ctypes, errno, filecmp, os, sys
admin, name, mnt, root = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == '1'
libc = ctypes.CDLL(None, use_errno=True)

class Handle(ctypes.Structure):
    _fields_ = [('handle_bytes', ctypes.c_uint), ('handle_type', ctypes.c_int),
                ('f_handle', ctypes.c_ubyte * 128)]

def to_handle(path):
    h = Handle()
    h.handle_bytes = 128
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, path.encode(), ctypes.byref(h), ctypes.byref(mount_id), 0):
        raise OSError(ctypes.get_errno(), 'name_to_handle_at ' + path)
    return h

def open_handle(mfd, h, flags):
    fd = libc.open_by_handle_at(mfd, ctypes.byref(h), flags)
    if fd < 0:
        raise OSError(ctypes.get_errno(), 'open_by_handle_at')
    return fd

def walk(top):
    files, dirs = {}, {}
    for dp, dn, fn in os.walk(top):
        for d in dn:
            p = os.path.join(dp, d)
            dirs[os.path.relpath(p, top)] = os.stat(p).st_ino
        for f in fn:
            p = os.path.join(dp, f)
            files[os.path.relpath(p, top)] = os.stat(p).st_ino
    return files, dirs

bad = []
def fail(msg):
    if len(bad) < 20:
        print('# ' + msg)
    bad.append(msg)

def unreachable(path):
    for how, fn in (('stat', os.stat), ('lstat', os.lstat),
                    ('open', lambda p: os.close(os.open(p, os.O_RDONLY))),
                    ('listdir', os.listdir)):
        try:
            fn(path)
            fail('%s %s succeeded' % (how, path))
        except OSError as e:
            if e.errno != errno.ENOENT:
                fail('%s %s: %s, not ENOENT' % (how, path, errno.errorcode.get(e.errno)))

all_files, all_dirs = walk(os.path.join(admin, 'patients'))
mem_files, mem_dirs = walk(os.path.join(admin, 'shares', name, 'patients'))
got_files, got_dirs = walk(os.path.join(mnt, 'patients'))
if set(mem_files) != set(got_files) or set(mem_dirs) != set(got_dirs):
    fail('the share mount and /shares/%s differ' % name)
outside = [p for p in all_files if p not in mem_files]
outside_dirs = [p for p in all_dirs if p not in mem_dirs]
print('# %d of %d files in the share, %d outside; %d folders outside'
      % (len(mem_files), len(all_files), len(outside), len(outside_dirs)))
if not mem_files or not outside:
    fail('the share should hold some files and leave some out')

# members: reachable by path, byte-identical, the same inode as /patients
for p in mem_files:
    q = os.path.join(mnt, 'patients', p)
    if os.stat(q).st_ino != all_files[p]:
        fail('%s: another inode than in /patients' % p)
    if not filecmp.cmp(q, os.path.join(admin, 'patients', p), shallow=False):
        fail('%s: other bytes' % p)

# paths
for p in outside + outside_dirs:
    unreachable(os.path.join(mnt, 'patients', p))
for top in ('versions', 'quarantine', 'incoming', 'shares', 'patients/..%2Fversions'):
    unreachable(os.path.join(mnt, top))
for p in list(walk(os.path.join(admin, 'versions'))[0])[:50]:
    unreachable(os.path.join(mnt, 'versions', p))
member_dir = os.path.join(mnt, 'patients', sorted(mem_dirs)[0])
for p in outside[:50]:
    # `..` out of a member folder back down into a non-member
    unreachable(os.path.join(member_dir, '..', '..', 'patients', p))
    unreachable(os.path.join(member_dir, *(['..'] * 8), 'patients', p))
    # escaped spellings of its patient folder
    first, rest = p.split('/', 1)
    unreachable(os.path.join(mnt, 'patients', '%%%02X%s' % (ord(first[0]), first[1:]), rest))
    unreachable(os.path.join(mnt, 'patients', first.lower() if first.lower() != first else first.upper(), rest))
    # its file name in a member series
    ser = [d for d in got_dirs if d.count('/') == 3]
    if ser:
        unreachable(os.path.join(mnt, 'patients', ser[0], os.path.basename(p)))
# .. from the deepest member folder up to the share's root: patients/ alone
deep = max(got_dirs, key=lambda d: d.count('/'))
up = os.path.join(mnt, 'patients', deep, *(['..'] * (deep.count('/') + 2)))
if os.listdir(up) != ['patients'] or os.stat(up).st_ino != os.stat(mnt).st_ino:
    fail('.. from %s does not lead to the root of the share mount' % deep)

# handles: the number of an inode outside, from the admin mount
mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
if root:
    try:
        to_handle(os.path.join(mnt, 'patients', sorted(mem_files)[0]))
        exported = True
    except OSError as e:
        exported = False
        print('# the share mount gives no file handles: %s' % errno.errorcode.get(e.errno))
    if exported:
        # members open by handle (from the share mount, and from the admin
        # mount: the same number), so refusals below are the share's
        for p in sorted(mem_files)[:20]:
            for src in (os.path.join(mnt, 'patients', p), os.path.join(admin, 'patients', p)):
                try:
                    fd = open_handle(mfd, to_handle(src), os.O_RDONLY)
                    data = os.read(fd, 1 << 20)
                    os.close(fd)
                    with open(os.path.join(admin, 'patients', p), 'rb') as f:
                        if data != f.read(1 << 20):
                            fail('member %s by handle: other bytes' % p)
                except OSError as e:
                    fail('member %s by handle from %s: %s' % (p, src, errno.errorcode.get(e.errno)))
    n = 0
    shares_dirs = walk(os.path.join(admin, 'shares'))[1]
    targets = [(os.path.join(admin, 'patients', p), os.O_RDONLY) for p in outside] + \
              [(os.path.join(admin, 'patients', p), os.O_RDONLY | os.O_DIRECTORY) for p in outside_dirs] + \
              [(os.path.join(admin, p), os.O_RDONLY | os.O_DIRECTORY) for p in ('patients', 'versions', 'quarantine')] + \
              [(os.path.join(admin, 'shares', p), os.O_RDONLY | os.O_DIRECTORY) for p in shares_dirs]
    for src, flags in targets:
        try:
            h = to_handle(src)
        except OSError as e:
            fail('name_to_handle_at %s on the admin mount: %s' % (src, errno.errorcode.get(e.errno)))
            continue
        try:
            fd = open_handle(mfd, h, flags)
            os.close(fd)
            fail('open_by_handle_at of %s on the share mount succeeded' % src)
        except OSError as e:
            if e.errno not in (errno.ESTALE, errno.ENOENT, errno.EOPNOTSUPP):
                fail('open_by_handle_at of %s: %s' % (src, errno.errorcode.get(e.errno)))
        n += 1
    print('# %d handles from the admin mount refused by the share mount' % n)
else:
    print('# not root: open_by_handle_at not tried')
os.close(mfd)
sys.exit(1 if bad else 0)
PY
done

# On a share mount that has looked nothing up, a handle makes the kernel ask
# the daemon for the inode by number ("." lookup): members open, others not.
if [ $ROOT = 1 ]; then
	fs_mount_or_bail "$S" "$T/fresh" -o share=pat
	check "a fresh share mount opens a member by its number, and refuses others" \
		$PY - "$A" "$T/fresh" "$PID" <<'PY'
import ctypes, errno, os, sys
admin, mnt, pid = sys.argv[1:]
libc = ctypes.CDLL(None, use_errno=True)
class Handle(ctypes.Structure):
    _fields_ = [('handle_bytes', ctypes.c_uint), ('handle_type', ctypes.c_int),
                ('f_handle', ctypes.c_ubyte * 128)]
def opened(path, mfd):
    h = Handle(); h.handle_bytes = 128; mid = ctypes.c_int()
    assert libc.name_to_handle_at(-100, path.encode(), ctypes.byref(h), ctypes.byref(mid), 0) == 0
    fd = libc.open_by_handle_at(mfd, ctypes.byref(h), os.O_RDONLY)
    if fd < 0:
        return errno.errorcode.get(ctypes.get_errno())
    data = os.read(fd, 1 << 16)
    os.close(fd)
    with open(path, 'rb') as f:
        return 'same' if f.read(1 << 16) == data else 'other bytes'
mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
members = [os.path.join(dp, f) for dp, dn, fn in os.walk(os.path.join(admin, 'shares', 'pat', 'patients')) for f in fn]
others = [os.path.join(dp, f) for dp, dn, fn in os.walk(os.path.join(admin, 'patients'))
          if not dp.startswith(os.path.join(admin, 'patients', pid) + '/') for f in fn]
m = [opened(p, mfd) for p in members[:10]]
o = [opened(p, mfd) for p in others[:10]]
print('# members: %s; others: %s' % (sorted(set(m)), sorted(set(o))))
sys.exit(0 if set(m) == {'same'} and 'same' not in o and 'other bytes' not in o else 1)
PY
	# An older version of a member: the same SOP again, another header
	# (after the test above, whose member list the import would outdate).
	f=$(find "$A/shares/pat/patients" -name '*.dcm' | sort | head -1)
	$PY -c 'import pydicom, sys
d = pydicom.dcmread(sys.argv[1]); d.StudyDescription = "second version"; d.save_as(sys.argv[2])' "$f" "$T/v2.dcm"
	check "import a second version of a member" "$CTL" import -q "$S" "$T/v2.dcm"
	# Every instance row by its number, as a handle names it (the fuse
	# handle: the node id's high and low 32 bits, then the generation;
	# checked against a real one first): only the versions the
	# share shows open; an older version of a member does not.
	check "by number, only the versions share 'pat' shows open (older versions of its members do not)" \
		$PY - "$T/fresh" "$(catalog_db "$S")" "$PID" <<'PY'
import ctypes, errno, os, sqlite3, struct, sys
mnt, db, pid = sys.argv[1:]
libc = ctypes.CDLL(None, use_errno=True)
class Handle(ctypes.Structure):
    _fields_ = [('handle_bytes', ctypes.c_uint), ('handle_type', ctypes.c_int),
                ('f_handle', ctypes.c_ubyte * 128)]
files = [os.path.join(dp, f) for dp, dn, fn in os.walk(os.path.join(mnt, 'patients')) for f in fn]
tmpl = Handle(); tmpl.handle_bytes = 128; mid = ctypes.c_int()
assert libc.name_to_handle_at(-100, files[0].encode(), ctypes.byref(tmpl), ctypes.byref(mid), 0) == 0
raw = bytes(tmpl.f_handle[:tmpl.handle_bytes])
hi, lo = struct.unpack_from('<II', raw)
if hi << 32 | lo != os.stat(files[0]).st_ino:
    print('# the handle does not start with the node id: not tried')
    sys.exit(0)
rows = sqlite3.connect(db).execute(
    "SELECT i.id, i.current, p.patient_id = ? FROM instances i JOIN series se ON se.id=i.series"
    " JOIN studies st ON st.id=se.study JOIN patients p ON p.id=st.patient", (pid,)).fetchall()
mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
bad, opened, older = 0, 0, 0
for iid, current, mine in rows:
    h = Handle(); h.handle_bytes = tmpl.handle_bytes; h.handle_type = tmpl.handle_type
    b = struct.pack('<II', (4 << 24), iid) + raw[8:]
    for i, c in enumerate(b):
        h.f_handle[i] = c
    fd = libc.open_by_handle_at(mfd, ctypes.byref(h), os.O_RDONLY)
    want = bool(current and mine)
    older += bool(mine and not current)
    if fd >= 0:
        os.close(fd)
        opened += 1
    if (fd >= 0) != want:
        bad += 1
        print('# instance %d (current %d, in the share %d): %s' % (iid, current, mine,
              'opened' if fd >= 0 else errno.errorcode.get(ctypes.get_errno())))
print('# %d instance rows tried by number, %d opened, %d older versions of members' % (len(rows), opened, older))
sys.exit(1 if bad or not opened else 0)
PY
	# A de-identified share of the same patient shows other files: the
	# stored ones (which carry the original header) are not reachable by
	# number, not even its own patient's.
	check "share create anonpat --patient $PID --deidentify" "$CTL" share create "$S" anonpat --patient "$PID" --deidentify
	fs_mount_or_bail "$S" "$T/anonpat" -o share=anonpat
	check "a de-identified share mount refuses every stored file and folder by number" \
		$PY - "$A" "$T/anonpat" <<'PY'
import ctypes, errno, os, sys
admin, mnt = sys.argv[1:]
libc = ctypes.CDLL(None, use_errno=True)
class Handle(ctypes.Structure):
    _fields_ = [('handle_bytes', ctypes.c_uint), ('handle_type', ctypes.c_int),
                ('f_handle', ctypes.c_ubyte * 128)]
mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
n = opened = 0
for dp, dn, fn in os.walk(os.path.join(admin, 'patients')):
    for name, flags in [(d, os.O_RDONLY | os.O_DIRECTORY) for d in dn] + [(f, os.O_RDONLY) for f in fn]:
        h = Handle(); h.handle_bytes = 128; mid = ctypes.c_int()
        assert libc.name_to_handle_at(-100, os.path.join(dp, name).encode(), ctypes.byref(h), ctypes.byref(mid), 0) == 0
        fd = libc.open_by_handle_at(mfd, ctypes.byref(h), flags)
        n += 1
        if fd >= 0:
            os.close(fd)
            opened += 1
            print('# %s opened' % os.path.join(dp, name))
files = [os.path.join(dp, f) for dp, dn, fn in os.walk(os.path.join(mnt, 'patients')) for f in fn]
print('# %d handles of the admin mount tried, %d opened; the share shows %d files' % (n, opened, len(files)))
sys.exit(1 if opened or not files else 0)
PY
fi
done_testing
