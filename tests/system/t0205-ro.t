#!/bin/bash
# t0205-ro.t - a read-only mount refuses every write with EROFS (create,
# mkdir, rm, rmdir, mv, chmod, chown, truncate, append, utime, setxattr) and
# reports modes 0444 for files and 0555 for folders; it has no /incoming.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples

S=$T/store M=$T/mnt
SRC=${CT_SERIES:-$SAMPLES}
check "import a series" new_store "$S" "$SRC"
fs_mount_or_bail "$S" "$M" -o ro
check "every write fails with EROFS" $PY - "$M" <<'PY'
import errno, os, sys
m = sys.argv[1]
f = None
for dp, dn, fn in os.walk(m + '/patients'):
    if fn: f = os.path.join(dp, fn[0]); ser = dp; break
study = os.path.dirname(ser)
def expect(title, fn):
    try:
        fn()
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        print('# %-30s %s' % (title, name))
        return name == 'EROFS'
    print('# %-30s succeeded' % title)
    return False
tests = [
    ('create', lambda: os.open(ser + '/new.dcm', os.O_CREAT | os.O_WRONLY, 0o644)),
    ('create in /patients', lambda: os.open(m + '/patients/x', os.O_CREAT | os.O_WRONLY, 0o644)),
    ('mkdir', lambda: os.mkdir(ser + '/d')),
    ('unlink', lambda: os.unlink(f)),
    ('rmdir', lambda: os.rmdir(ser)),
    ('rename', lambda: os.rename(f, f + '.x')),
    ('chmod', lambda: os.chmod(f, 0o600)),
    ('chown', lambda: os.chown(f, 1, 1)),
    ('truncate', lambda: os.truncate(f, 0)),
    ('open for append', lambda: os.open(f, os.O_WRONLY | os.O_APPEND)),
    ('open O_RDWR', lambda: os.open(f, os.O_RDWR)),
    ('utime', lambda: os.utime(f, (0, 0))),
    ('setxattr', lambda: os.setxattr(f, 'user.x', b'1')),
    ('symlink', lambda: os.symlink('/etc', ser + '/l')),
    ('link', lambda: os.link(f, ser + '/h')),
]
bad = sum(not expect(t, fn) for t, fn in tests)
sys.exit(bad != 0)
PY
if sh -c "echo x >> '$(find "$M/patients" -type f | head -1)'" 2>"$T/err"; then
	not_ok "echo x >> file fails"
else
	check "echo x >> file fails with a read-only file system error" grep -qi 'read-only' "$T/err"
fi
check "modes are 0444 for files and 0555 for folders" $PY - "$M" <<'PY'
import os, stat, sys
bad = 0
for dp, dn, fn in os.walk(sys.argv[1]):
    if stat.S_IMODE(os.stat(dp).st_mode) != 0o555: print('#', dp); bad += 1
    for n in fn:
        if stat.S_IMODE(os.stat(os.path.join(dp, n)).st_mode) != 0o444: bad += 1
sys.exit(bad != 0)
PY
check "no /incoming on a read-only mount" [ ! -e "$M/incoming" ]
check "the store still has every instance" [ "$(find "$M/patients" -type f | wc -l)" = "$(shown_instances "$S")" ]
check "unmount" fs_umount "$M"
done_testing
