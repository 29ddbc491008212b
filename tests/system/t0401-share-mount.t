#!/bin/bash
# t0401-share-mount.t - shares in the mount: `dcmfs STORE MNT -o share=NAME`
# shows patients/ with the share's patients alone, byte-identical, with the
# inode numbers of the admin mount; it is read-only (the kernel mount too;
# every write EROFS, whatever `rw` says); the admin mount shows every share
# at /shares/<NAME>/patients/..., read-only, with the same files (same
# inode numbers as /patients); shares made and removed while mounted come
# and go within a second, and so does new data of a shared patient; an
# unknown, damaged or expired share refuses to mount (exit 1, one line),
# a share that expires or is removed while mounted empties within a second;
# the fstab way (`mount -t fuse.dcmfs STORE MNT -o share=NAME,allow_other`).
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
$PY -c 'import pydicom' 2>/dev/null || skip_all "no python3-pydicom"
case "$("$CTL" 2>&1)" in *"share create"*) ;; *) skip_all "this dcmfsctl has no 'share' command" ;; esac

S=$T/store A=$T/admin M=$T/share
check "import the samples" new_store "$S" "$SAMPLES"

# The patient with the most files among those whose folder name is their
# PatientID (so a path of /patients maps to the share as it is), and that
# is not the only patient.
read -r PID NPAT < <(sqlite3 "$(catalog_db "$S")" "
	SELECT p.patient_id, (SELECT count(*) FROM patients WHERE nchildren>0)
	FROM instances i JOIN series se ON se.id=i.series JOIN studies st ON st.id=se.study
	JOIN patients p ON p.id=st.patient
	WHERE i.current=1 AND p.dirname=p.patient_id AND p.patient_id GLOB '[A-Za-z0-9]*'
	GROUP BY p.id ORDER BY count(*) DESC, p.id LIMIT 1" | tr '|' ' ')
[ -n "${PID:-}" ] && [ "${NPAT:-0}" -gt 1 ] || skip_all "the samples have no patient to share apart from others"
echo "# sharing patient $PID (of $NPAT)"

check "share create p1 --patient $PID" "$CTL" share create "$S" p1 --patient "$PID"
fs_mount_or_bail "$S" "$A"
fs_mount "$S" "$M" -o share=p1,rw
check "the share mounts (rw is overruled)" mountpoint -q "$M"

check "its root holds patients/ alone" [ "$(ls -A "$M")" = patients ]
check "patients/ holds the shared patient alone" [ "$(ls -A "$M/patients")" = "$PID" ]
check "the kernel mount is read-only" eval "grep \" $M \" /proc/self/mountinfo | grep -q ' ro[, ]'"
check "no /versions, /quarantine, /incoming or /shares" eval \
	"[ ! -e '$M/versions' ] && [ ! -e '$M/quarantine' ] && [ ! -e '$M/incoming' ] && [ ! -e '$M/shares' ]"
check "the files are the admin mount's, byte for byte and inode for inode" $PY - "$A" "$M" "$PID" <<'PY'
import os, sys, filecmp
a, m, pid = sys.argv[1:]
want = {}
for dp, dn, fn in os.walk(os.path.join(a, 'patients', pid)):
    for f in fn:
        p = os.path.join(dp, f)
        want[os.path.relpath(p, a)] = os.stat(p)
got = {}
for dp, dn, fn in os.walk(m):
    for f in fn:
        p = os.path.join(dp, f)
        got[os.path.relpath(p, m)] = os.stat(p)
bad = 0
if set(want) != set(got):
    print('# only in admin: %s' % sorted(set(want) - set(got))[:5])
    print('# only in share: %s' % sorted(set(got) - set(want))[:5])
    bad = 1
for k in sorted(set(want) & set(got)):
    if want[k].st_ino != got[k].st_ino or want[k].st_size != got[k].st_size:
        print('# %s: inode/size %d/%d vs %d/%d' % (k, want[k].st_ino, want[k].st_size, got[k].st_ino, got[k].st_size))
        bad = 1
    if not filecmp.cmp(os.path.join(a, k), os.path.join(m, k), shallow=False):
        print('# %s differs' % k)
        bad = 1
print('# %d files' % len(got))
sys.exit(bad or not got)
PY
check "the admin mount shows /shares/p1/patients/$PID, same files and inodes as /patients" $PY - "$A" "$PID" <<'PY'
import os, sys
a, pid = sys.argv[1:]
src = os.path.join(a, 'patients', pid)
sh = os.path.join(a, 'shares', 'p1', 'patients')
assert os.listdir(sh) == [pid], os.listdir(sh)
n = 0
for dp, dn, fn in os.walk(src):
    for f in fn:
        p = os.path.join(dp, f)
        q = os.path.join(sh, os.path.relpath(p, os.path.join(a, 'patients')))
        assert os.stat(p).st_ino == os.stat(q).st_ino, q
        n += 1
# folders of a share have their own numbers
assert os.stat(src).st_ino != os.stat(os.path.join(sh, pid)).st_ino
print('# %d files' % n)
PY
check "du counts a file of /patients and of /shares once" eval \
	"[ \"\$(du -s --apparent-size -B1 '$A/patients/$PID' | cut -f1)\" = \"\$(du -s --apparent-size -B1 '$A/patients/$PID' '$A/shares/p1' | tail -1 | cut -f1)\" ] || du -sc --apparent-size -B1 '$A/patients/$PID' '$A/shares/p1'"

# In the admin mount a file of a plain share is the file of /patients (one
# inode): changing it fails there as under /patients (EPERM on a writable
# admin mount); everything else under /shares is EROFS.
check "writes fail with EROFS in the share mount and in /shares" $PY - "$M" "$A/shares/p1" <<'PY'
import errno, os, sys
bad = 0
for root in sys.argv[1:]:
    same_file = ('chmod', 'truncate', 'open O_RDWR', 'setxattr') if '/shares/' in root else ()
    f = ser = None
    for dp, dn, fn in os.walk(root):
        if fn:
            f = os.path.join(dp, fn[0]); ser = dp; break
    tests = [
        ('create', lambda: os.open(ser + '/new.dcm', os.O_CREAT | os.O_WRONLY, 0o644)),
        ('create in patients', lambda: os.open(root + '/patients/x', os.O_CREAT | os.O_WRONLY, 0o644)),
        ('mkdir', lambda: os.mkdir(ser + '/d')),
        ('unlink', lambda: os.unlink(f)),
        ('rmdir', lambda: os.rmdir(ser)),
        ('rename', lambda: os.rename(f, f + '.x')),
        ('chmod', lambda: os.chmod(f, 0o600)),
        ('truncate', lambda: os.truncate(f, 0)),
        ('open O_RDWR', lambda: os.open(f, os.O_RDWR)),
        ('link', lambda: os.link(f, ser + '/l')),
        ('symlink', lambda: os.symlink('x', ser + '/s')),
        ('setxattr', lambda: os.setxattr(f, 'user.x', b'1')),
    ]
    for title, fn in tests:
        try:
            fn()
            print('# %s %s: succeeded' % (root, title)); bad = 1
        except OSError as e:
            if e.errno != errno.EROFS and not (title in same_file and e.errno == errno.EPERM):
                print('# %s %s: %s' % (root, title, errno.errorcode.get(e.errno))); bad = 1
sys.exit(bad)
PY

# wait_for TIMEOUT COMMAND...: the command succeeds within TIMEOUT seconds.
wait_for() {
	local end=$(($(date +%s%N) + ${1%.*} * 1000000000 + 500000000)) t0=$(date +%s%N)
	shift
	while :; do
		if "$@" 2>/dev/null; then
			echo "# after $((($(date +%s%N) - t0) / 1000000)) ms"
			return 0
		fi
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.05
	done
}
not_listed() { ! ls "$1" | grep -qxF "$2"; }
empty_dir() { [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; }
nfiles_is() { [ "$(find "$1" -type f | wc -l)" = "$2" ]; }
ls "$A/shares" >/dev/null
"$CTL" share create "$S" p2 --all >/dev/null
check "share create p2 while mounted: /shares/p2 shows within a second" \
	wait_for 1 test -d "$A/shares/p2/patients/$PID"
"$CTL" share rm "$S" p2
check "share rm p2: gone within a second" wait_for 1 not_listed "$A/shares" p2

# New data of the shared patient (a new study) shows in the share mount.
src=$(find "$M/patients" -type f -name '*.dcm' | head -1)
$PY - "$src" "$T/new.dcm" <<'PY'
import sys, pydicom
from pydicom.uid import generate_uid
ds = pydicom.dcmread(sys.argv[1])
ds.StudyInstanceUID = generate_uid()
ds.SeriesInstanceUID = generate_uid()
ds.SOPInstanceUID = generate_uid()
ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
ds.save_as(sys.argv[2])
PY
before=$(find "$M/patients" -type f | wc -l)
"$CTL" import -q "$S" "$T/new.dcm" >/dev/null 2>&1
check "a new study of the shared patient shows in the share mount within a second" \
	wait_for 1 nfiles_is "$M/patients" $((before + 1))
check "and in /shares/p1" wait_for 1 nfiles_is "$A/shares/p1/patients" $((before + 1))

# A de-identified share: its own files (other inodes), names that are
# pseudonyms and new UIDs, never an original value.
"$CTL" share create "$S" anon --all --deidentify >/dev/null
fs_mount "$S" "$T/anon" -o share=anon
check "a de-identified share mounts and names nothing by an original value" \
	$PY - "$(catalog_db "$S")" "$A" "$T/anon" "$A/shares/anon" <<'PY'
import os, sqlite3, sys
db, admin, mnt, view = sys.argv[1:]
c = sqlite3.connect('file:%s?mode=ro' % db, uri=True)
orig = set()
for row in c.execute('SELECT patient_id, dirname FROM patients'):
    orig.update(r for r in row if r)
for row in c.execute('SELECT study_uid, dirname, accession FROM studies'):
    orig.update(r for r in row if r)
for row in c.execute('SELECT series_uid, dirname FROM series'):
    orig.update(r for r in row if r)
for row in c.execute('SELECT sop_uid, fname FROM instances'):
    orig.update(r for r in row if r)
orig.update(o[:-4] for o in list(orig) if o.endswith('.dcm'))
admin_inos = {os.stat(os.path.join(dp, f)).st_ino
              for dp, dn, fn in os.walk(os.path.join(admin, 'patients')) for f in fn}
bad = 0
for top in (mnt, view):
    n = 0
    for dp, dn, fn in os.walk(os.path.join(top, 'patients')):
        for name in dn + fn:
            stem = name[:-4] if name.endswith('.dcm') else name
            if name in orig or stem in orig:
                print('# %s: an original value' % os.path.join(dp, name)); bad = 1
        for f in fn:
            n += 1
            p = os.path.join(dp, f)
            if os.stat(p).st_ino in admin_inos:
                print('# %s: the inode of a stored file' % p); bad = 1
    print('# %s: %d files' % (top, n))
    if n == 0:
        bad = 1
sys.exit(bad)
PY
check "its files read whole, as DICOM with PatientIdentityRemoved YES" $PY - "$T/anon" <<'PY'
import os, sys, pydicom
bad = 0
files = [os.path.join(dp, f) for dp, dn, fn in os.walk(os.path.join(sys.argv[1], 'patients')) for f in fn]
for p in files[:40]:
    data = open(p, 'rb').read()
    if len(data) != os.stat(p).st_size:
        print('# %s: read %d bytes, stat says %d' % (p, len(data), os.stat(p).st_size)); bad = 1
    ds = pydicom.dcmread(p)
    if ds.get('PatientIdentityRemoved') != 'YES':
        print('# %s: PatientIdentityRemoved %r' % (p, ds.get('PatientIdentityRemoved'))); bad = 1
sys.exit(bad)
PY
check "writes to it fail with EROFS" eval "{ touch '$T/anon/patients/x' 2>&1 || true; } | grep -q 'Read-only file system'"
check "fusermount3 -u the de-identified share" fs_umount "$T/anon"
"$CTL" share rm "$S" anon >/dev/null

# Refusals: exit 1, one line.
mkdir -p "$T/m2"
"$DCMFS" "$S" "$T/m2" -o share=nosuch >"$T/out" 2>&1
st=$?
check "an unknown share refuses to mount: exit 1 ($st), one line" eval "[ $st = 1 ] && [ \$(wc -l <'$T/out') = 1 ] && grep -q nosuch '$T/out'"
diag <"$T/out"
mkdir -p "$T/m2"
printf 'dcmfs-share 1\ngarbage here\n' >"$S/shares/broken"
chmod 600 "$S/shares/broken"
"$DCMFS" "$S" "$T/m2" -o share=broken >"$T/out" 2>&1
st=$?
check "a damaged definition refuses to mount: exit 1 ($st), one line" eval "[ $st = 1 ] && [ \$(wc -l <'$T/out') = 1 ]"
diag <"$T/out"
rm -f "$S/shares/broken"
# definitions written by hand (the format is index/share.h's), to expire at a chosen second
mkdef() {   # NAME EXPIRES(seconds since the epoch)
	printf 'dcmfs-share 1\ncreated %s\nsecret %s\npatient %s\nexpires %s\n' \
		"$(date +%s)" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$PID" "$2" >"$S/shares/$1.tmp"
	chmod 600 "$S/shares/$1.tmp"
	mv "$S/shares/$1.tmp" "$S/shares/$1"
}
mkdef old $(($(date +%s) - 10))
"$DCMFS" "$S" "$T/m2" -o share=old >"$T/out" 2>&1
st=$?
check "an expired share refuses to mount: exit 1 ($st), one line" eval "[ $st = 1 ] && [ \$(wc -l <'$T/out') = 1 ] && grep -q expired '$T/out'"
diag <"$T/out"
check "nothing is mounted after the refusals" fails mountpoint -q "$T/m2"
check "an expired share's folder in the admin mount is empty" \
	wait_for 1 empty_dir "$A/shares/old/patients"

mkdef soon $(($(date +%s) + 3))
fs_mount "$S" "$T/soon" -o share=soon
check "a share that expires in 3 s mounts, with its patient" [ "$(ls "$T/soon/patients" 2>/dev/null)" = "$PID" ]
f1=$(find "$T/soon/patients" -type f | head -1)
sleep 3
check "it empties within a second of expiring" wait_for 1 empty_dir "$T/soon/patients"
check "its files are gone by path" fails stat "$f1"
check "fusermount3 -u of an emptied share" fs_umount "$T/soon"

ls "$M/patients" >/dev/null
"$CTL" share rm "$S" p1
check "share rm p1 while mounted: the share mount empties within a second" \
	wait_for 1 empty_dir "$M/patients"
check "and /shares/p1 is gone" wait_for 1 test ! -e "$A/shares/p1"
check "fusermount3 -u the share mount" fs_umount "$M"

# The fstab way, through mount.fuse3 (root only).
if [ "$(id -u)" = 0 ] && command -v mount.fuse3 >/dev/null; then
	"$CTL" share create "$S" p3 --patient "$PID" >/dev/null
	mkdir -p "$T/bin" "$T/m3"
	ln -s "$DCMFS" "$T/bin/dcmfs"
	if [ ! -e /usr/local/sbin/dcmfs ] && [ ! -L /usr/local/sbin/dcmfs ]; then
		mkdir -p /usr/local/sbin
		ln -s "$DCMFS" /usr/local/sbin/dcmfs && at_exit "rm -f /usr/local/sbin/dcmfs"
	fi
	CLEANUP_MOUNTS+=("$T/m3")
	check "mount -t fuse.dcmfs STORE MNT -o share=p3,allow_other,noauto,nofail" \
		env PATH="$T/bin:$PATH" mount -t fuse.dcmfs "$S" "$T/m3" -o share=p3,allow_other,noauto,nofail
	check "it shows the share" eval "fs_wait_mount '$T/m3' && [ \"\$(ls '$T/m3/patients')\" = '$PID' ]"
	check "it is read-only" eval "grep \" $T/m3 \" /proc/self/mountinfo | grep -q ' ro[, ]'"
	check "umount" umount "$T/m3"
else
	skip "mount -t fuse.dcmfs needs root and mount.fuse3"
fi
check "the admin mount unmounts" fs_umount "$A"
done_testing
