# common.sh - the one library of the system tests (tests/system/t*.t).
#
# Source it first: `. "$(dirname "$0")/lib/common.sh"`.  It gives a test
#   - TAP output: ok, not_ok, check, skip, skip_all, diag, done_testing
#     (the plan is printed at the end, from the number of lines printed);
#   - a private scratch folder $T, removed at exit, and at_exit for more
#     cleanup, run newest first;
#   - the programs ($CTL = dcmfsctl, $DCMFS, $SCAN = dcmfs-scan, $PY) and
#     the sample data: $CORPUS (../shared/corpus, or empty when absent),
#     $PYDICOM_FILES (Debian's python3-pydicom test files, or empty),
#     $SAMPLES (the corpus, else the pydicom files, else empty) and
#     $CT_SERIES (a real CT series of the corpus, or empty);
#   - store helpers: new_store, stat_total, instances; for the catalogue
#     and the data wherever they are (a folder, or PostgreSQL and a RADOS
#     pool): catalog_sql, catalog_db, pack_count, blob_files,
#     blob_tmp_files, and in a pool pool_ls, pool_flip, stray_parts;
#   - the distributed run (tests/run-distributed): when DCMFS_TEST_PG_HOST
#     (a PostgreSQL socket folder) and DCMFS_TEST_CEPH_CONF (a ceph.conf)
#     are set, $CTL is lib/distributed-ctl, whose `init STORE` makes a store
#     with its catalogue in a fresh database and its data in a fresh pool,
#     both dropped at exit; DISTRIBUTED is 1 then (else 0),
#     not_distributed REASON skips a whole test that only means something
#     on a store in a folder;
#   - mount helpers (after need_fuse): fs_mount, fs_mount_or_bail,
#     fs_umount, fs_killed, fs_wait_mount.  A mount test's done_testing
#     unmounts what is still mounted and adds two lines: every foreground
#     daemon exited with status 0 after its unmount, and the daemon log
#     ($T/dcmfs.log, its stderr) is empty.
#
# Data that is missing never makes a test pass: a test that needs data
# calls skip_all with the reason.  DCMFS_TEST_CORPUS and DCMFS_TEST_PYDICOM
# override where the corpus and the pydicom files are looked for (a path
# that does not exist hides them), so that every test can be run as if
# they were absent.
set -u
set -o pipefail     # a failing command is not hidden by the one it pipes into

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD=${BUILD:-$TOP/build}
PY=/usr/bin/python3
CTL=$BUILD/dcmfsctl
DCMFS=$BUILD/dcmfs
SCAN=$BUILD/dcmfs-scan
LIB=$TOP/tests/system/lib
DISTRIBUTED=0
if [ -n "${DCMFS_TEST_PG_HOST-}" ] && [ -n "${DCMFS_TEST_CEPH_CONF-}" ]; then
	DISTRIBUTED=1
	export DCMFS_TEST_REAL_CTL=$CTL
	CTL=$LIB/distributed-ctl
fi

CORPUS=${DCMFS_TEST_CORPUS-$TOP/../shared/corpus}
if [ -n "$CORPUS" ] && [ -d "$CORPUS" ]; then
	CORPUS=$(cd "$CORPUS" && pwd)
else
	CORPUS=
fi
PYDICOM_FILES=${DCMFS_TEST_PYDICOM-/usr/lib/python3/dist-packages/pydicom/data/test_files}
[ -n "$PYDICOM_FILES" ] && [ -d "$PYDICOM_FILES" ] || PYDICOM_FILES=
SAMPLES=${CORPUS:-$PYDICOM_FILES}
CT_SERIES=
[ -n "$CORPUS" ] && [ -d "$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl" ] &&
	CT_SERIES=$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl

# ---- TAP ----

TAP_N=0
TAP_FAILED=0
ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
not_ok() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N # SKIP $*"; }
# diag [TEXT...]: TEXT, or else standard input, as TAP comment lines.
diag() {
	if [ $# -gt 0 ]; then printf '%s\n' "$*"; else cat; fi | sed 's/^/# /'
}
# skip_all REASON: the whole test is skipped (before any TAP line).
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
# check TITLE COMMAND...: one TAP line from the command's exit status.  The
# command runs in this shell (a function may set variables); its output is
# shown as comments when it fails, and its own "# " lines always.  (Its
# locals have names no test uses: an eval'd command sees the test's own.)
check() {
	local check_title_=$1 check_status_
	shift
	"$@" >"$T/.check.out" 2>&1
	check_status_=$?
	if [ $check_status_ = 0 ]; then
		ok "$check_title_"
		grep '^# ' "$T/.check.out"
	else
		not_ok "$check_title_"
		head -20 "$T/.check.out" | diag
	fi
	return 0
}
# fails COMMAND...: the command exits non-zero (and is not killed by a signal).
fails() {
	"$@" 2>/dev/null
	local fails_status_=$?
	[ $fails_status_ -ne 0 ] && [ $fails_status_ -lt 128 ]
}
# done_testing: the plan, and the exit status (1 when a line failed).
done_testing() {
	[ "$FS_USED" = 1 ] && fs_final_checks
	[ "$DISTRIBUTED" = 1 ] && diag "distributed run: $(cat "$DCMFS_TEST_DIST_MADE" 2>/dev/null |
		grep -c '^db ') stores made in PostgreSQL and RADOS (by init without --catalog and --data)"
	if [ -s "$T/.helper-failures" ]; then
		not_ok "every helper command succeeded"
		diag <"$T/.helper-failures"
	fi
	echo "1..$TAP_N"
	[ "$TAP_FAILED" = 0 ]
	exit $?
}

# ---- scratch folder and cleanup ----

T=$(mktemp -d "${TMPDIR:-/tmp}/dcmfs-test.XXXXXX")
# What distributed-ctl made for this test ("db NAME", "pool NAME" lines).
export DCMFS_TEST_DIST_MADE=$T/.distributed-made
CLEANUPS=()         # shell commands, run newest first at exit
CLEANUP_PIDS=()     # processes of ours still to stop at exit
CLEANUP_MOUNTS=()   # mount points of ours still to unmount at exit
at_exit() { CLEANUPS+=("$*"); }
run_cleanups() {
	local i m p
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}" || true; done
	for ((i = ${#CLEANUP_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${CLEANUP_MOUNTS[$i]}
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
				umount -l "$m" 2>/dev/null
		fi
	done
	for p in "${CLEANUP_PIDS[@]}"; do
		kill "$p" 2>/dev/null && sleep 0.2
		kill -9 "$p" 2>/dev/null
	done
	[ "$DISTRIBUTED" = 1 ] && distributed_drop
	rm -rf "$T"
}
# distributed_drop: drop the databases and pools this test's inits made
# (after its daemons are gone: a database in use is dropped with --force).
distributed_drop() {
	local kind name
	[ -s "$DCMFS_TEST_DIST_MADE" ] || return 0
	while read -r kind name; do
		case $kind in
		db) dropdb -h "$DCMFS_TEST_PG_HOST" --force --if-exists "$name" ;;
		pool) ceph -c "$DCMFS_TEST_CEPH_CONF" osd pool delete "$name" "$name" \
			--yes-i-really-really-mean-it ;;
		esac >/dev/null 2>&1
	done <"$DCMFS_TEST_DIST_MADE"
	return 0
}
# not_distributed REASON: in the distributed run, skip the whole test.
not_distributed() {
	[ "$DISTRIBUTED" = 1 ] && skip_all "distributed run: $*"
	return 0
}
trap run_cleanups EXIT

# A helper whose failure could go unseen in a command substitution says so
# here; done_testing turns it into a failed line.
helper_failed() { echo "$*" >>"$T/.helper-failures"; }

# ---- stores ----

# new_store DIR [PATH...]: a new store, with PATHs imported (exit 1 of the
# import, for rejected files, is fine; 2 is not).  Returns non-zero when
# init or import fails, with the import's messages as comments.
new_store() {
	local s=$1
	shift
	"$CTL" init "$s" >/dev/null || return 1
	if [ $# -gt 0 ]; then
		"$CTL" import -q "$s" "$@" >"$T/import.log" 2>&1
		[ $? -le 1 ] || { diag <"$T/import.log"; return 1; }
	fi
	return 0
}

# stat_total STORE KEY: the field KEY of the "total" section of `dcmfsctl
# stats --json`.  When stats fails it prints "stats-failed" (no number is
# that) and records the failure for done_testing.
stat_total() {
	local json=$T/.stats.$BASHPID.json
	if ! "$CTL" stats --json "$1" >"$json" 2>&1; then
		helper_failed "dcmfsctl stats --json $1: $(head -1 "$json")"
		echo stats-failed
		return 1
	fi
	$PY -c "import json,sys; t=json.load(open(sys.argv[1]))['total']; print(t if sys.argv[2] == '' else t[sys.argv[2]])" \
		"$json" "$2" || { helper_failed "no '$2' in stats of $1"; echo stats-failed; return 1; }
}
# store_conf_value STORE KEY: KEY's value in STORE/store.conf (empty for a
# store all in its folder).
store_conf_value() { sed -n "s/^$2 = //p" "$1/store.conf" 2>/dev/null; }
# catalog_sql STORE QUERY: the query's rows from the store's catalogue, as
# sqlite3 prints them (values apart by |): index.db (read-only), or in the
# distributed run the PostgreSQL database its store.conf names (the same
# tables).  catalog_sql_write STORE STATEMENT changes it.
catalog_sql() { catalog_run "$1" "$2" -readonly; }
catalog_sql_write() { catalog_run "$1" "$2"; }
catalog_run() {
	local url
	url=$(store_conf_value "$1" catalog)
	if [ -n "$url" ]; then
		psql -X -q -At -v ON_ERROR_STOP=1 "$url" -c "$2"
	else
		sqlite3 ${3-} "$1/index.db" "$2"
	fi
}
# catalog_db STORE: the path of a SQLite database holding the store's
# catalogue, for tests that read it with sqlite3: index.db, or in the
# distributed run a copy of the PostgreSQL tables made now
# (lib/catalog_snapshot.py; a new copy each call).
catalog_db() {
	local url db=$T/.catalog.$BASHPID.$RANDOM.db
	url=$(store_conf_value "$1" catalog)
	if [ -z "$url" ]; then
		echo "$1/index.db"
	elif $PY "$LIB/catalog_snapshot.py" "$url" "$db" >&2; then
		echo "$db"
	else
		helper_failed "catalog_snapshot.py $1"
		echo "$db.failed"
	fi
}
# The store's data, in its folder or (distributed run) in its pool, named
# as in the folder ("packs/NAME", "blobs/ab/cd/HASH", a temporary piece has
# .tmp in its name).
# pool_rados STORE ARGS...: the rados tool on the store's pool (store.conf's
# data); pool_ls STORE: the pool's objects.
pool_rados() {
	local url pool conf
	url=$(store_conf_value "$1" data)
	[ -n "$url" ] || { echo "pool_rados: '$1' keeps its data in its folder" >&2; return 1; }
	pool=${url#rados://} pool=${pool%%\?*}
	conf=${url#*conf=} conf=${conf%%&*}
	rados -c "$conf" -p "$pool" "${@:2}"
}
pool_ls() { pool_rados "$1" ls; }
# pool_flip STORE OBJECT OFFSET MASK: damage one byte of an object of the
# store's pool (OFFSET "half": its middle), as a test damages a file of the
# folder in place.
pool_flip() {
	local obj=$T/.flip.obj
	pool_rados "$1" get "$2" "$obj" &&
		$PY -c 'import os, sys
p, o, m = sys.argv[1], sys.argv[2], int(sys.argv[3])
o = os.path.getsize(p) // 2 if o == "half" else int(o)
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ m]))' "$obj" "$3" "$4" &&
		pool_rados "$1" put "$2" "$obj" && rm -f "$obj"
}
# pack_count STORE: how many packs the store has.
pack_count() {
	if [ "$DISTRIBUTED" = 1 ]; then pool_ls "$1" | grep -c '^packs/'; else ls "$1/packs" | wc -l; fi
}
# blob_tmp_files STORE: the temporary piece files of blob files being written.
blob_tmp_files() {
	if [ "$DISTRIBUTED" = 1 ]; then
		pool_ls "$1" | grep '^blobs/.*\.tmp'
	else
		find "$1/blobs" -name '*.tmp*' 2>/dev/null
	fi
	return 0
}
# blob_files STORE [final]: every blob file (piece), or only those under a
# final name.  In the pool a blob file is its head object: its parts
# (NAME@1...) are written first, under the final name, and without a head
# they are no blob (gc removes them: stray_parts lists them).
blob_files() {
	if [ "$DISTRIBUTED" = 1 ]; then
		pool_ls "$1" | grep '^blobs/' | grep -v '@[0-9]*$' |
			if [ "${2-}" = final ]; then grep -v '\.tmp'; else cat; fi
	elif [ "${2-}" = final ]; then
		find "$1/blobs" -type f ! -name '*.tmp*'
	else
		find "$1/blobs" -type f
	fi
	return 0
}
# stray_parts STORE: the parts (blobs/...@N) in the pool whose blob has no
# head object: what a killed or rejected import leaves, which gc removes.
stray_parts() {
	local objs=$T/.pool_ls
	pool_ls "$1" >"$objs" || { helper_failed "stray_parts: cannot list the pool of $1"; return 1; }
	$PY -c 'import re, sys
objs = set(open(sys.argv[1]).read().split())
for o in sorted(objs):
    m = re.fullmatch(r"(blobs/.*)@[0-9]+", o)
    if m and m.group(1) not in objs:
        print(o)' "$objs"
}
# instances STORE: the number of instances (every version) in the store.
instances() { stat_total "$1" instances; }
# shown_instances STORE: the files /patients shows, one per SOPInstanceUID
# (every instance less the versions after the first).
shown_instances() {
	local all later
	all=$(stat_total "$1" instances) && later=$(stat_total "$1" versions) || { echo stats-failed; return 1; }
	echo $((all - later))
}

# ---- mounts ----

FS_USED=0
declare -A DAEMON_OF=()     # mount point -> pid of its foreground daemon
DAEMONS=()                  # every foreground daemon started
declare -A DAEMON_STATUS=() # pid -> exit status once reaped ("killed" when on purpose)

# need_fuse: skip the test unless it can mount; marks it a mount test.
need_fuse() {
	[ -x "$DCMFS" ] || skip_all "$DCMFS not built"
	[ -x "$CTL" ] || skip_all "$CTL not built"
	[ -e /dev/fuse ] || skip_all "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip_all "no fusermount3"
	FS_USED=1
	: >"$T/dcmfs.log"
}

# fs_wait_mount MNT: wait up to 10 s for MNT to be a mount point.
fs_wait_mount() {
	local i
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$1" && return 0
		sleep 0.1
	done
	return 1
}

# fs_mount STORE MNT [ARGS...]: run the daemon in the foreground (-f, as a
# background job of this shell, so that its exit status can be had) and
# wait for the mount.  FS_PID gets its pid; its stderr goes to dcmfs.log.
fs_mount() {
	local s=$1 m=$2
	shift 2
	mkdir -p "$m"
	"$DCMFS" "$s" "$m" -f "$@" 2>>"$T/dcmfs.log" &
	FS_PID=$!
	DAEMON_OF[$m]=$FS_PID
	DAEMONS+=("$FS_PID")
	CLEANUP_PIDS+=("$FS_PID")
	CLEANUP_MOUNTS+=("$m")
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

# fs_umount MNT: unmount, wait for the foreground daemon that served MNT to
# exit (10 s at most) and return non-zero unless it exited with status 0.
fs_umount() {
	local m=$1 pid=${DAEMON_OF[$1]-} i st
	fusermount3 -u "$m" || return 1
	if [ -n "$pid" ]; then
		unset "DAEMON_OF[$m]"
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "the daemon (pid $pid) is still running 10 s after the unmount"
			DAEMON_STATUS[$pid]="still running"
			return 1
		fi
		wait "$pid"
		st=$?
		DAEMON_STATUS[$pid]=$st
		[ "$st" = 0 ] || { echo "the daemon (pid $pid) exited with status $st"; return 1; }
	fi
	! mountpoint -q "$m"
}

# fs_killed PID: the test kills this daemon on purpose (kill -9), so its
# exit status is not held against it.
fs_killed() {
	local m
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	DAEMON_STATUS[$1]=killed
	for m in "${!DAEMON_OF[@]}"; do
		[ "${DAEMON_OF[$m]}" = "$1" ] && unset "DAEMON_OF[$m]"
	done
	return 0
}

# killed_after SECONDS COMMAND...: run the command in the background and
# kill -9 it after that long (if it is still running).
killed_after() {
	local delay=$1 pid
	shift
	"$@" >/dev/null 2>&1 &
	pid=$!
	CLEANUP_PIDS+=("$pid")
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# Called by done_testing in a mount test: unmount what is still mounted,
# then hold every daemon's exit status and the log against it.
fs_final_checks() {
	local m p bad=0
	for m in "${!DAEMON_OF[@]}"; do
		fs_umount "$m" >"$T/.umount.out" 2>&1   # not in a pipe: it reaps the daemon
		diag <"$T/.umount.out"
	done
	for p in "${DAEMONS[@]}"; do
		case ${DAEMON_STATUS[$p]-unknown} in
		0 | killed) ;;
		*) echo "# daemon $p: exit status ${DAEMON_STATUS[$p]-unknown}"; bad=1 ;;
		esac
	done
	if [ $bad = 0 ]; then
		ok "every foreground daemon exited with status 0 after its unmount (${#DAEMONS[@]})"
	else
		not_ok "every foreground daemon exited with status 0 after its unmount (${#DAEMONS[@]})"
	fi
	if [ -s "$T/dcmfs.log" ]; then
		not_ok "the daemon logged nothing"
		diag <"$T/dcmfs.log"
	else
		ok "the daemon logged nothing"
	fi
}

# fs_match_originals MNT_DIR SRC...: for every file below MNT_DIR, find a
# file among SRC (files or folders) with the same bytes (by SHA-256) and
# print "mountfile<TAB>original" lines; lines "MISSING<TAB>mountfile" for
# files without one.
fs_match_originals() {
	$PY "$LIB/match_originals.py" "$@"
}

# free_port: a TCP port nobody listens on (127.0.0.1)
free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# need_samples: skip the test unless there is sample data ($SAMPLES).
need_samples() {
	[ -n "$SAMPLES" ] || skip_all "no sample DICOM files (no ../shared/corpus and no python3-pydicom test files)"
	[ -n "$CORPUS" ] || echo "# no ../shared/corpus: using $SAMPLES"
}

# exits_with STATUS TEXT COMMAND...: the command exits with STATUS and its
# output (stdout and stderr) holds TEXT (a grep pattern).
exits_with() {
	local exits_want_=$1 exits_text_=$2 exits_status_
	shift 2
	"$@" >"$T/.exits_with.out" 2>&1
	exits_status_=$?
	[ "$exits_status_" = "$exits_want_" ] ||
		{ echo "exit status $exits_status_, want $exits_want_"; cat "$T/.exits_with.out"; return 1; }
	grep -q -- "$exits_text_" "$T/.exits_with.out" ||
		{ echo "no '$exits_text_' in:"; cat "$T/.exits_with.out"; return 1; }
}
