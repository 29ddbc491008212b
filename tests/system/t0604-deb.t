#!/bin/bash
# t0604-deb.t - the Debian package: packaging/debian/build-deb (make deb)
# builds it, lintian finds no error, its Depends name the libraries the
# programs link; `apt-get install ./dcmfs_*.deb` in a throwaway root (an
# overlay of this machine's root in a private mount namespace: nothing
# reaches the host) gives working dcmfs --version and dcmfsctl --help, the
# man pages, the systemd units (systemd-analyze verify passes there),
# /etc/dcmfs and /var/lib/dcmfs owned by the dcmfs system user; purging
# removes the programs, units and /etc/dcmfs and keeps a store in
# /var/lib/dcmfs.
. "$(dirname "$0")/lib/common.sh"
[ -x "$DCMFS" ] && [ -x "$CTL" ] || skip_all "dcmfs and dcmfsctl not built"
[ "$(id -u)" = 0 ] || skip_all "an overlay root and chroot need root"
for c in dpkg-deb dpkg-shlibdeps apt-get unshare chroot; do
	command -v $c >/dev/null || skip_all "$c not installed"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
grep -qw overlay /proc/filesystems || skip_all "no overlay filesystem"

mkdir -p "$T/out"
deb=$("$TOP/packaging/debian/build-deb" "$BUILD" "$T/out" 2>"$T/build.err")
check "build-deb builds the package" eval '[ -f "$deb" ] || { cat "$T/build.err"; false; }'
dpkg-deb -f "$deb" Depends >"$T/depends"
for lib in libfuse3-3 libzstd1 libxxhash0 libsqlite3-0 libgdcm3.0 libssl3 libjson-c5 libsystemd0 fuse3; do
	check "Depends names $lib" grep -q "\b$lib\b" "$T/depends"
done
if command -v lintian >/dev/null; then
	lintian "$deb" >"$T/lintian" 2>&1
	check "lintian: no errors" fails grep -q "^E:" "$T/lintian"
	diag <"$T/lintian"
else
	skip "lintian not installed"
fi

# The throwaway root: everything below runs in a private mount namespace.
mkdir -p "$T/upper" "$T/work" "$T/root"
cp "$deb" "$T/upper.deb"
cat >"$T/inside.sh" <<'INSIDE'
set -u
T=$1 R=$1/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$R" || exit 3
mount --rbind /dev "$R/dev" && mount -t proc proc "$R/proc" && mount -t tmpfs tmpfs "$R/run" &&
	mount -t tmpfs tmpfs "$R/tmp" || exit 3
cp "$T/upper.deb" "$R/tmp/dcmfs.deb"
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
res() { if "${@:2}" >>"$T/inside.log" 2>&1; then echo "ok $1"; else echo "not $1"; fi; }
res "apt-get install ./dcmfs_*.deb" in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends /tmp/dcmfs.deb
res "dcmfs --version" in_root sh -c 'dcmfs --version | grep -q "^dcmfs [0-9]"'
res "dcmfsctl --help exits 0" in_root dcmfsctl --help
res "dcmfsctl --version" in_root sh -c 'dcmfsctl --version | grep -q "^dcmfsctl [0-9]"'
res "man -w dcmfs finds dcmfs(8)" in_root sh -c 'man -w dcmfs | grep -q man8/dcmfs.8'
res "man -w dcmfsctl finds dcmfsctl(8)" in_root sh -c 'man -w dcmfsctl | grep -q man8/dcmfsctl.8'
res "the units are in /lib/systemd/system" in_root test -f /lib/systemd/system/dcmfs@.service -a \
	-f /lib/systemd/system/dcmfs-storescp@.service
if in_root sh -c 'command -v systemd-analyze' >/dev/null; then
	res "systemd-analyze verify dcmfs@.service" in_root systemd-analyze verify /lib/systemd/system/dcmfs@.service
	if in_root sh -c 'command -v storescp' >/dev/null; then
		res "systemd-analyze verify dcmfs-storescp@.service" in_root systemd-analyze verify \
			/lib/systemd/system/dcmfs-storescp@.service
	fi
fi
res "/etc/dcmfs holds the storescp configuration" in_root test -f /etc/dcmfs/storescp-main.conf
res "the storescp front door is installed" in_root test -x /usr/lib/dcmfs/dcmfs-storescp
res "dcmfs is a system user" in_root sh -c 'uid=$(id -u dcmfs) && [ "$uid" -lt 1000 ]'
res "/var/lib/dcmfs is owned by dcmfs" in_root sh -c '[ "$(stat -c %U:%G /var/lib/dcmfs)" = dcmfs:dcmfs ]'
res "the dcmfs user makes a store in /var/lib/dcmfs" in_root runuser -u dcmfs -- dcmfsctl init /var/lib/dcmfs/main
res "apt-get purge dcmfs" in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q dcmfs
res "purge removed the programs" in_root sh -c '! [ -e /usr/bin/dcmfs ] && ! [ -e /usr/bin/dcmfsctl ]'
res "purge removed the units" in_root sh -c '! [ -e /lib/systemd/system/dcmfs@.service ]'
res "purge removed /etc/dcmfs" in_root sh -c '! [ -e /etc/dcmfs ]'
res "purge kept the store" in_root test -f /var/lib/dcmfs/main/index.db
INSIDE
# In a chroot whose / is no mount point (a fresh-machine check) mounts
# cannot be made private, and ours would reach the host: skip there.
if unshare -m --propagation private true 2>>"$T/inside.log"; then
	unshare -m --propagation private bash "$T/inside.sh" "$T" >"$T/results" 2>>"$T/inside.log"
	st=$?
else
	echo "no private mount namespace here (a chroot whose / is no mount point?)" >>"$T/inside.log"
	st=3
fi
if [ $st = 3 ]; then
	skip "the throwaway root could not be made: $(tail -1 "$T/inside.log")"
else
	check "the throwaway root ran to its end" [ $st = 0 ]
	check "it ran every step" [ "$(wc -l <"$T/results")" -ge 17 ]
	while read -r verdict title; do
		if [ "$verdict" = ok ]; then ok "$title"; else not_ok "$title"; fi
	done <"$T/results"
	grep -q "^not" "$T/results" && tail -30 "$T/inside.log" | diag
fi
check "the host has no dcmfs package" fails dpkg -s dcmfs
done_testing
