#!/bin/bash
# t0210-owners.t - an administrator gives a group read access:
# -o allow_other,uid=,gid=,umask= set owner, group and modes, and the kernel
# enforces them (default_permissions): a member of the group reads, others
# get EACCES.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) not installed"
S=$T/store M=$T/mnt
SRC=${CT_SERIES:-$SAMPLES}
check "import" new_store "$S" "$SRC"
chmod 755 "$T"
fs_mount_or_bail "$S" "$M" -o ro,allow_other,uid=1234,gid=5678,umask=027
f=$(find "$M/patients" -type f -name '*.dcm' -print -quit)
d=$(dirname "$f")
check "files belong to 1234:5678 with mode 0440" test "$(stat -c '%u:%g %a' "$f")" = "1234:5678 440"
check "folders belong to 1234:5678 with mode 0550" test "$(stat -c '%u:%g %a' "$d")" = "1234:5678 550"
as() { local u=$1 g=$2; shift 2; setpriv --reuid="$u" --regid="$g" --clear-groups "$@"; }
check "a member of the group reads a file" as 4321 5678 cmp -s "$f" "$f"
check "a member of the group lists a folder" as 4321 5678 sh -c 'ls "$1" >/dev/null' _ "$d"
out=$(as 65534 65534 cat "$f" 2>&1 >/dev/null)
case "$out" in *"Permission denied"*) ok "anyone else gets EACCES reading" ;; *) not_ok "other user: $out" ;; esac
out=$(as 65534 65534 ls "$d" 2>&1 >/dev/null)
case "$out" in *"Permission denied"*) ok "anyone else gets EACCES listing" ;; *) not_ok "other user: $out" ;; esac
check "unmount" fs_umount "$M"
done_testing
