# fs-common.sh - shared helpers for the filesystem tests (tests/system/t02*).
# Source it; it gives each test a private scratch folder ($T), a store
# helper, mount/unmount helpers that remember what they started, an EXIT
# trap that unmounts everything newest first and kills only our own pids,
# and tiny TAP helpers.  Daemon stderr goes to $T/dcmfs.log; any line in it
# fails the test (the daemon prints nothing when all is well).
set -u
FS_HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$(pwd)/build}
PY=/usr/bin/python3
DCMFS=$BUILD/dcmfs
DCMFSCTL=$BUILD/dcmfsctl

fs_skip() { echo "1..0 # SKIP $*"; exit 0; }

[ -x "$DCMFS" ] || fs_skip "$DCMFS not built"
[ -x "$DCMFSCTL" ] || fs_skip "$DCMFSCTL not built"
[ -e /dev/fuse ] || fs_skip "no /dev/fuse"
command -v fusermount3 >/dev/null || fs_skip "no fusermount3"

CORPUS=$FS_HERE/../../../shared/corpus
if [ -d "$CORPUS" ]; then
	CORPUS=$(cd "$CORPUS" && pwd)
	CT_SERIES=$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl
else
	CORPUS=/usr/lib/python3/dist-packages/pydicom/data/test_files
	[ -d "$CORPUS" ] || fs_skip "no ../shared/corpus and no pydicom test files"
	echo "# no ../shared/corpus: using $CORPUS"
	CT_SERIES=
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/dcmfs-test.XXXXXX")
FS_MOUNTS=()
FS_PIDS=()
FS_N=0
FS_FAILED=0
FS_RM=()        # files outside $T to remove at exit (e.g. an installed symlink)

fs_cleanup() {
	local i
	for ((i = ${#FS_MOUNTS[@]} - 1; i >= 0; i--)); do
		local m=${FS_MOUNTS[$i]}
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
				umount -l "$m" 2>/dev/null
		fi
	done
	for p in "${FS_PIDS[@]}"; do
		kill "$p" 2>/dev/null && sleep 0.2
		kill -9 "$p" 2>/dev/null
	done
	for f in "${FS_RM[@]}"; do
		rm -f "$f"
	done
	rm -rf "$T"
}
trap fs_cleanup EXIT

# TAP
ok() { FS_N=$((FS_N + 1)); echo "ok $FS_N - $*"; }
not_ok() { FS_N=$((FS_N + 1)); FS_FAILED=1; echo "not ok $FS_N - $*"; }
# check "title" command...: one TAP line from the command's status
check() {
	local title=$1
	shift
	if "$@"; then ok "$title"; else not_ok "$title"; fi
}
# fails command...: the command exits non-zero (and is not killed by a signal)
fails() {
	"$@" 2>/dev/null
	local st=$?
	[ $st -ne 0 ] && [ $st -lt 128 ]
}
diag() { sed 's/^/# /'; }
fs_done() {
	if [ -s "$T/dcmfs.log" ]; then
		not_ok "the daemon logged nothing"
		diag <"$T/dcmfs.log"
	else
		ok "the daemon logged nothing"
	fi
	echo "1..$FS_N"
	exit $FS_FAILED
}

# fs_store DIR [PATH...]: a new store, with PATHs imported (exit 1 of
# import for rejected files is fine; 2 is not).
fs_store() {
	local s=$1
	shift
	"$DCMFSCTL" init "$s" >/dev/null || return 1
	if [ $# -gt 0 ]; then
		"$DCMFSCTL" import -q "$s" "$@" >"$T/import.log" 2>&1
		[ $? -le 1 ] || { diag <"$T/import.log"; return 1; }
	fi
	return 0
}

# fs_wait_mount MNT: wait up to 10 s for MNT to be a mountpoint.
fs_wait_mount() {
	local i
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$1" && return 0
		sleep 0.1
	done
	return 1
}

# fs_mount STORE MNT [ARGS...]: mount in the foreground (in the background
# of this shell) and wait for it; FS_PID gets the daemon's pid.
fs_mount() {
	local s=$1 m=$2
	shift 2
	mkdir -p "$m"
	"$DCMFS" "$s" "$m" -f "$@" 2>>"$T/dcmfs.log" &
	FS_PID=$!
	FS_PIDS+=("$FS_PID")
	FS_MOUNTS+=("$m")
	fs_wait_mount "$m"
}

# fs_mount_or_bail STORE MNT [ARGS...]: fs_mount as a TAP line; a failed
# mount ends the test (nothing after it could mean anything).
fs_mount_or_bail() {
	if fs_mount "$@"; then
		ok "mount ${*:3}"
	else
		not_ok "mount ${*:3}"
		diag <"$T/dcmfs.log"
		echo "Bail out! the store did not mount"
		exit 1
	fi
}

# fs_umount MNT: unmount and wait for the daemon that served it to exit.
fs_umount() {
	local m=$1 i
	fusermount3 -u "$m" || return 1
	for p in "${FS_PIDS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
	done
	! mountpoint -q "$m"
}

# fs_instances STORE: the instance count from dcmfsctl stats --json
fs_instances() {
	"$DCMFSCTL" stats --json "$1" | $PY -c 'import json,sys; print(json.load(sys.stdin)["total"]["instances"])'
}

# fs_match_originals MNT_DIR SRC...: for every file below MNT_DIR, find a
# file among SRC (files or folders) with the same bytes (by SHA-256) and
# print "mountfile<TAB>original" lines; lines "MISSING<TAB>mountfile" for
# files without one.
fs_match_originals() {
	$PY - "$@" <<'EOF'
import hashlib, os, sys
mnt, srcs = sys.argv[1], sys.argv[2:]
def h(p):
    d = hashlib.sha256()
    with open(p, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b: break
            d.update(b)
    return d.hexdigest()
orig = {}
for s in srcs:
    if os.path.isfile(s):
        orig.setdefault(h(s), s); continue
    for dp, dn, fn in os.walk(s):
        for n in sorted(fn):
            p = os.path.join(dp, n)
            if os.path.isfile(p) and not os.path.islink(p):
                orig.setdefault(h(p), p)
for dp, dn, fn in os.walk(mnt):
    for n in sorted(fn):
        p = os.path.join(dp, n)
        o = orig.get(h(p))
        print(("%s\t%s" % (p, o)) if o else ("MISSING\t%s" % p))
EOF
}

# fs_free_port: a TCP port nobody listens on (127.0.0.1)
fs_free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
