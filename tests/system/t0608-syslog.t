#!/bin/bash
# t0608-syslog.t - detached (no -f), the daemon logs to syslog: in a
# private mount namespace whose /dev/log is this test's own socket, the
# mount (notice), a file taken in through /incoming (info), a rejected
# file (info, with the reason) and the unmount arrive as syslog messages
# "dcmfs[PID]: ..." of facility daemon at their levels; nothing goes to
# the terminal.
. "$(dirname "$0")/lib/common.sh"
need_fuse
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
[ "$(id -u)" = 0 ] || skip_all "a private /dev needs root"
command -v unshare >/dev/null || skip_all "unshare not installed"
S=$T/store M=$T/mnt
check "an empty store" new_store "$S"
mkdir -p "$M"
f=$(ls "$CT_SERIES"/* | head -1)
cat >"$T/inside.sh" <<'INSIDE'
set -u
T=$1 S=$2 M=$3 F=$4 DCMFS=$5 PY=$6
# /dev of our own: the devices the daemon opens, and our /dev/log
mount -t tmpfs -o mode=0755 tmpfs /dev || exit 3
mknod -m 666 /dev/fuse c 10 229 && mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 &&
	mknod -m 666 /dev/urandom c 1 9 || exit 3
$PY -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("/dev/log"); s.settimeout(15)
out = open(sys.argv[1], "w")
try:
    while True:
        m = s.recv(8192).decode(errors="replace")
        print(m, file=out, flush=True)
        if "unmounting" in m:
            break
except socket.timeout:
    pass' "$T/syslog" &
lpid=$!
for ((i = 0; i < 50; i++)); do [ -S /dev/log ] && break; sleep 0.1; done
trap 'fusermount3 -u "$M" 2>/dev/null; kill $lpid 2>/dev/null' EXIT
"$DCMFS" "$S" "$M" >"$T/terminal" 2>&1 || echo "dcmfs exited $?" >>"$T/terminal"
for ((i = 0; i < 100; i++)); do mountpoint -q "$M" && break; sleep 0.1; done
cp "$F" "$M/incoming/one.dcm"
echo junk >"$T/junk"
cp "$T/junk" "$M/incoming/junk.dcm" 2>/dev/null
fusermount3 -u "$M"
wait $lpid
INSIDE
# In a chroot whose / is no mount point (a fresh-machine check) mounts
# cannot be made private, and a tmpfs on /dev would reach the host: skip.
if unshare -m --propagation private true 2>"$T/inside.log"; then
	unshare -m --propagation private bash "$T/inside.sh" "$T" "$S" "$M" "$f" "$DCMFS" "$PY" >"$T/inside.log" 2>&1
	st=$?
else
	echo "no private mount namespace here (a chroot whose / is no mount point?)" >>"$T/inside.log"
	st=3
fi
if [ $st = 3 ]; then
	skip "no private /dev could be made: $(tail -1 "$T/inside.log")"
else
	check "the daemon said nothing on the terminal" [ ! -s "$T/terminal" ]
	diag <"$T/terminal"
	# <PRI> is facility daemon (3) * 8 + level: notice 5, info 6
	check "the mount, at notice, as dcmfs[PID]" grep -q "^<29>.* dcmfs\[[0-9]*\]: mounted store '$S' at '$M' (read-write" "$T/syslog"
	check "the stored file, at info" grep -q "^<30>.* dcmfs\[[0-9]*\]: incoming 'one.dcm': stored, new instance 1" "$T/syslog"
	check "the rejected file with its reason, at info" grep -q "^<30>.*incoming 'junk.dcm': rejected: no dicm magic" "$T/syslog"
	check "the unmount, at notice" grep -q "^<29>.* dcmfs\[[0-9]*\]: unmounting '$M'" "$T/syslog"
	diag <"$T/syslog"
fi
check "nothing is left mounted" fails mountpoint -q "$M"
done_testing
