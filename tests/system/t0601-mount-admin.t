#!/bin/bash
# t0601-mount-admin.t - the mount as an administrator expects it: a
# mountpoint that is a regular file, already a mount or a dead mount (its
# daemon killed) is refused with one line and exit 2 (and nothing is left
# mounted); mounting one store
# read-write twice warns; a bad log level is refused; libfuse's caching and
# the atime options are accepted; a direct mount and an fstab mount
# (mount -t fuse.dcmfs) both get nosuid,nodev; SIGTERM unmounts and the
# daemon exits 0.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
S=$T/store M=$T/mnt M2=$T/mnt2
SRC=${CT_SERIES:-$SAMPLES}
check "import a series" new_store "$S" "$SRC"

: >"$T/file"
check "a regular file as mountpoint: exit 2, one line" exits_with 2 "is not a folder" "$DCMFS" "$S" "$T/file"
check "  in one line" [ "$(wc -l <"$T/.exits_with.out")" = 1 ]
check "  and nothing is mounted there" fails mountpoint -q "$T/file"
check "  nor listed in the mount table" fails grep -q " $T/file " /proc/self/mountinfo
check "a bad log level: exit 2" exits_with 2 "log_level=loud" "$DCMFS" "$S" "$M" -o log_level=loud

fs_mount_or_bail "$S" "$M" -o kernel_cache,attr_timeout=5,entry_timeout=5,noatime,nodiratime,relatime
check "the direct mount is nosuid,nodev" eval 'grep " $M " /proc/self/mountinfo | grep -q "nosuid,nodev"'
check "a mountpoint that is already a mount: exit 2" exits_with 2 "already a mount" "$DCMFS" "$S" "$M"
check "  in one line" [ "$(wc -l <"$T/.exits_with.out")" = 1 ]

# the second read-write mount of the store warns, and mounts
mkdir -p "$M2"
"$DCMFS" "$S" "$M2" -f 2>"$T/second.log" &
pid2=$!
CLEANUP_PIDS+=("$pid2")
CLEANUP_MOUNTS+=("$M2")
check "a second read-write mount of the store mounts" fs_wait_mount "$M2"
check "  and warns, naming the first" grep -q "warning: store '$S' is already mounted read-write at '$M'" "$T/second.log"
diag <"$T/second.log"

# SIGTERM: unmounted, exit 0 (as systemd stops it)
kill -TERM "$pid2"
for ((i = 0; i < 100; i++)); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.1; done
wait "$pid2"
st=$?
check "SIGTERM ends the daemon with status 0 ($st)" [ "$st" = 0 ]
check "  after unmounting" fails mountpoint -q "$M2"
check "a read-only second mount does not warn" eval '"$DCMFS" "$S" "$M2" -o ro 2>"$T/ro.log" && fs_wait_mount "$M2" && [ ! -s "$T/ro.log" ]'
fusermount3 -u "$M2"
check "unmount" fs_umount "$M"

# a daemon killed leaves a dead mount: refused by name, mountable once unmounted
fs_mount "$S" "$M" -o ro
fs_killed "$FS_PID"
check "a dead mount as mountpoint: exit 2" exits_with 2 "is a dead mount" "$DCMFS" "$S" "$M"
check "  in one line" [ "$(wc -l <"$T/.exits_with.out")" = 1 ]
sleep 1.2   # past the kernel's cached stat of the root (1 s): stat now fails
check "  still named so once stat says ENOTCONN" exits_with 2 "is a dead mount" "$DCMFS" "$S" "$M"
check "fusermount3 -u clears it" fusermount3 -u "$M"
fs_mount_or_bail "$S" "$M" -o ro
check "unmount" fs_umount "$M"

# the fstab form (mount.fuse3 runs dcmfs from a standard PATH, as t0207)
if [ "$(id -u)" != 0 ] || ! command -v mount.fuse3 >/dev/null; then
	skip "fstab mount: needs root and mount.fuse3"
elif [ -e /usr/local/sbin/dcmfs ] || [ -L /usr/local/sbin/dcmfs ]; then
	skip "fstab mount: /usr/local/sbin/dcmfs is someone else's ($(readlink -f /usr/local/sbin/dcmfs))"
else
	mkdir -p /usr/local/sbin
	ln -s "$DCMFS" /usr/local/sbin/dcmfs && at_exit "rm -f /usr/local/sbin/dcmfs"
	CLEANUP_MOUNTS+=("$M")
	check "mount -t fuse.dcmfs STORE MNT -o ro" mount -t fuse.dcmfs "$S" "$M" -o ro,_netdev
	check "the fstab mount is nosuid,nodev too" eval 'grep " $M " /proc/self/mountinfo | grep -q "nosuid,nodev"'
	check "umount" umount "$M"
fi
done_testing
