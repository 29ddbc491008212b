#!/bin/bash
# t0207-fstab-mount.t - mount(8) mounts a store the fstab way:
# `mount -t fuse.dcmfs STORE MNT -o ro,allow_other` goes through mount.fuse3,
# which runs the program `dcmfs` from PATH (mount(8) runs its helpers with a
# standard PATH, so the test links /usr/local/sbin/dcmfs to the build for
# its duration, unless a dcmfs is there already); the tree shows, fstab-only words
# are accepted, an unknown option is refused in one line with exit 2, and
# `umount MNT` unmounts.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
[ "$(id -u)" = 0 ] || skip_all "mount(8) of a fuse type needs root"
command -v mount.fuse3 >/dev/null || skip_all "no mount.fuse3"

S=$T/store M=$T/mnt
mkdir -p "$M" "$T/bin"
ln -s "$DCMFS" "$T/bin/dcmfs"
if [ ! -e /usr/local/sbin/dcmfs ] && [ ! -L /usr/local/sbin/dcmfs ]; then
	mkdir -p /usr/local/sbin
	ln -s "$DCMFS" /usr/local/sbin/dcmfs && at_exit "rm -f /usr/local/sbin/dcmfs"
else
	echo "# using the installed /usr/local/sbin/dcmfs -> $(readlink -f /usr/local/sbin/dcmfs)"
fi
SRC=${CT_SERIES:-$SAMPLES}
check "import a series" new_store "$S" "$SRC"
CLEANUP_MOUNTS+=("$M")
check "mount -t fuse.dcmfs STORE MNT -o ro,allow_other" \
	env PATH="$T/bin:$PATH" mount -t fuse.dcmfs "$S" "$M" -o ro,allow_other,noauto,_netdev,nofail,x-systemd.automount
check "it is mounted" fs_wait_mount "$M"
check "the mount table names the store and the type" grep -q " $M fuse.dcmfs .*$S\| $M .* - fuse.dcmfs $S " /proc/self/mountinfo
check "the tree shows every instance" [ "$(find "$M/patients" -type f | wc -l)" = "$(shown_instances "$S")" ]
check "it is read-only" fails touch "$M/patients/x"
check "umount MNT unmounts" umount "$M"
check "it is unmounted" fails mountpoint -q "$M"

"$DCMFS" "$S" "$M" -o ro,frobnicate >"$T/out" 2>&1
st=$?
check "an unknown option exits 2 ($st)" [ $st = 2 ]
check "with one line naming it" eval '[ "$(wc -l <"$T/out")" = 1 ] && grep -q frobnicate "$T/out"'
diag <"$T/out"
"$DCMFS" "$T/nostore" "$M" >"$T/out" 2>&1
st=$?
check "a missing store exits 2 ($st) with one line" [ $st = 2 -a "$(wc -l <"$T/out")" = 1 ]
diag <"$T/out"
check "nothing is mounted after the failures" fails mountpoint -q "$M"
done_testing
