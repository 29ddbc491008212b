#!/bin/bash
# t0711: a RADOS store (t0710) attacked as a hostile user or a failing
# cluster would: urls that store.conf cannot hold, a store.conf that is
# garbage, empty, gone or pointed elsewhere, a ceph.conf that is gone;
# objects removed, truncated or changed behind the store's back (verify
# names them, get and the mount give an error, never other bytes); a blob
# in parts byte-identical; the OSD or the monitor stopped in the middle
# (a clear error within the store's timeouts, never a hang or a wrong
# byte, and consistent once they run again); kill -9 of get, verify and
# the mount; the OSD full.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/ceph.sh"
need_ceph
need_samples
need_fuse
GEN=$BUILD/dcmfs-gencorpus
check "Ceph (one mon, one memstore osd) starts in its own folder" ceph_start dcmfs
diag "Ceph usable in $CEPH_START_SECONDS s"

# The store's own ceph.conf: the cluster's, with short timeouts, which a
# store must take from its ceph.conf (so a failing cluster costs seconds).
FAST=$T/fast.conf
{ cat "$CEPH_CONF"; printf 'rados osd op timeout = 4\nrados mon op timeout = 4\nclient mount timeout = 4\n'; } >"$FAST"
URL="rados://dcmfs?conf=$FAST"
make_pool() {
	ceph -c "$CEPH_CONF" osd pool create "$1" 8 8 replicated &&
		ceph -c "$CEPH_CONF" osd pool set "$1" size 1 --yes-i-really-mean-it &&
		ceph -c "$CEPH_CONF" osd pool application enable "$1" rados
}
claimed() { rados -c "$CEPH_CONF" -p "$1" stat dcmfs-store-id >/dev/null 2>&1; }

# ---- urls that store.conf cannot hold ----
long=$(dirname "$FAST")$(printf '/.%.0s' $(seq 1100))/fast.conf
check "a url longer than store.conf holds is refused" \
	exits_with 2 "too long" "$CTL" init "$T/long" --data "rados://dcmfs?conf=$long"
check "and the pool is not claimed by it" eval '! claimed dcmfs'
nl_dir="$T/a
format = 9"
mkdir -p "$nl_dir" && cp "$FAST" "$nl_dir/ceph.conf"
check "a url with a newline is refused" \
	exits_with 2 "control character" "$CTL" init "$T/newline" --data "rados://dcmfs?conf=$nl_dir/ceph.conf"
check "and the pool is not claimed by it" eval '! claimed dcmfs'
check "a url whose conf= is a relative path is refused (a mount runs in /)" \
	exits_with 2 "absolute path" "$CTL" init "$T/relative" --data "rados://dcmfs?conf=fast.conf"
check "and the pool is not claimed by it" eval '! claimed dcmfs'

S=$T/store
check "init the store" "$CTL" init "$S" --data "$URL"
SRC=${CORPUS:+$CORPUS/variety}
SRC=${SRC:-$SAMPLES}
"$CTL" import -q "$S" "$SRC" >"$T/import.out" 2>"$T/import.err"
rc=$?
[ $rc -le 1 ] && ok "import $(basename "$SRC") (exit $rc)" || { not_ok "import exit status $rc"; diag <"$T/import.err"; }

# ---- a blob in parts ----
if "$GEN" -q --wsi "$T/wsi" --wsi-mb 40 --seed 3 >"$T/gen.out" 2>&1; then
	check "import a 40 MB slide" "$CTL" import -q "$S" "$T/wsi"
	check "its blob is in parts" eval 'ceph_rados ls | grep -q "^blobs/.*@1$"'
	check "every slide file reads back byte-identical through get" \
		$PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$S" "$T/wsi"
else
	not_ok "dcmfs-gencorpus --wsi"; diag <"$T/gen.out"
fi
check "verify is clean" "$CTL" verify "$S"

# sop_of FILE: the SOP Instance UID of a DICOM file.
sop_of() { $PY -c 'import pydicom,sys; print(pydicom.dcmread(sys.argv[1], stop_before_pixels=True).SOPInstanceUID)' "$1"; }

# ---- objects damaged behind the store's back ----
part=$(ceph_rados ls | grep '^blobs/.*@1$' | head -1)
if [ -n "$part" ]; then
	ceph_rados get "$part" "$T/part.obj"
	ceph_rados rm "$part"
	check "verify names a removed blob part (exit 1)" exits_with 1 "damaged: blob" "$CTL" verify "$S"
	# get of each slide: an error with a message, or the original bytes.
	fails=0 wrong=0
	for f in "$T/wsi"/*.dcm; do
		if "$CTL" get "$S" "$(sop_of "$f")" -o "$T/got.dcm" 2>"$T/get.err"; then
			cmp -s "$f" "$T/got.dcm" || wrong=$((wrong + 1))
		else
			grep -q . "$T/get.err" && fails=$((fails + 1))
		fi
	done
	check "get of a slide whose part is gone fails with a message, never other bytes ($fails failed, $wrong wrong)" \
		eval '[ $fails -ge 1 ] && [ $wrong = 0 ]'
	check "the part put back: verify clean again" eval 'ceph_rados put "$part" "$T/part.obj" && "$CTL" verify "$S"'
	ceph_rados truncate "$part" 1000
	check "verify names a truncated blob part (exit 1)" exits_with 1 "damaged: blob" "$CTL" verify "$S"
else
	not_ok "no blob in parts: part damage not tried"
fi
# The oldest pack: junk after the newest one's end is what a crash's torn
# append leaves, which verify rightly does not call damage.
pack=$(ceph_rados ls | grep '^packs/' | sort | head -1)
npacks=$(ceph_rados ls | grep -c '^packs/')
ceph_rados get "$pack" "$T/pack.obj"
size=$(stat -c %s "$T/pack.obj")
ceph_rados truncate "$pack" $((size / 2))
check "verify names a truncated pack (exit 1)" exits_with 1 "the pack was cut short" "$CTL" verify "$S"
M=$T/mnt
fs_mount_or_bail "$S" "$M" -o ro
$PY - "$M" "$SRC" "$T/wsi" >"$T/readall.out" 2>&1 <<-'EOF'
	# Every file of the mount reads back as an original or fails with EIO:
	# never other bytes.
	import hashlib, os, sys, errno
	want = set()
	for top in sys.argv[2:]:
	    for root, _, files in os.walk(top):
	        for f in files:
	            want.add(hashlib.sha256(open(os.path.join(root, f), 'rb').read()).hexdigest())
	good = eio = bad = 0
	for root, _, files in os.walk(sys.argv[1]):
	    for f in files:
	        p = os.path.join(root, f)
	        try:
	            h = hashlib.sha256(open(p, 'rb').read()).hexdigest()
	        except OSError as e:
	            if e.errno == errno.EIO:
	                eio += 1
	                continue
	            raise
	        if h in want:
	            good += 1
	        else:
	            bad += 1
	            print('WRONG BYTES', p)
	print(good, 'good', eio, 'EIO', bad, 'wrong')
	sys.exit(1 if bad or not eio or not good else 0)
EOF
rc=$?
check "with a pack cut in half and a slide part cut short, every file of the mount reads as an original or fails with EIO ($(tail -1 "$T/readall.out"))" \
	eval '[ $rc = 0 ] || { cat "$T/readall.out"; false; }'
check "unmount" fs_umount "$M"
check "the daemon logged what it could not read" eval '[ -s "$T/dcmfs.log" ]'
head -2 "$T/dcmfs.log" | cut -c1-200 | diag
: >"$T/dcmfs.log"      # expected lines, not held against the daemon below
check "the pack and the part put back: verify clean again" \
	eval 'ceph_rados put "$pack" "$T/pack.obj" && ceph_rados put "$part" "$T/part.obj" && "$CTL" verify "$S"'
if [ "$npacks" -ge 2 ]; then
	head -c 5000 /dev/urandom | ceph_rados append "$pack" -
	check "verify names junk appended to a pack that is not the newest (exit 1)" \
		exits_with 1 "$(basename "$pack")" "$CTL" verify "$S"
else
	skip "only one pack ($npacks): junk after its end would be a torn append"
fi
ceph_rados put "$pack" "$T/pack.obj"
ceph_rados get dcmfs-store-id "$T/id.obj"
printf '\033[2J\033]0;owned\007\n' | ceph_rados put dcmfs-store-id -
"$CTL" stats "$S" >"$T/id.out" 2>&1
rc=$?
check "a store id object of terminal escapes: refused (exit $rc), and the message carries no control bytes" \
	eval '[ $rc = 2 ] && grep -q "wrong pool" "$T/id.out" && ! LC_ALL=C grep -q "[[:cntrl:]]" "$T/id.out"'
ceph_rados put dcmfs-store-id "$T/id.obj"

# ---- store.conf and ceph.conf attacked ----
cp "$S/store.conf" "$T/store.conf.good"
head -c 300 /dev/urandom >"$S/store.conf"
check "a garbage store.conf is refused, clearly" exits_with 2 "store.conf" "$CTL" stats "$S"
: >"$S/store.conf"
check "an empty store.conf is refused" exits_with 2 "no 'format = N'" "$CTL" stats "$S"
rm "$S/store.conf"
check "a store whose store.conf is gone is refused, not read as an empty folder store" \
	exits_with 2 "store.conf" "$CTL" verify "$S"
check "and import into it is refused" exits_with 2 "store.conf" "$CTL" import -q "$S" "$SRC"
cp "$T/store.conf.good" "$S/store.conf"
check "store.conf back: verify clean" "$CTL" verify "$S"
make_pool other >/dev/null 2>&1
sed -i 's/^data = rados:\/\/dcmfs?/data = rados:\/\/other?/' "$S/store.conf"
check "store.conf pointed at another pool is refused" exits_with 2 "wrong pool" "$CTL" stats "$S"
check "and that pool is not claimed by it" eval '! claimed other'
"$CTL" init "$T/owner" --data "rados://other?conf=$FAST" >/dev/null
check "store.conf pointed at a pool another store owns is refused, naming the owner" \
	exits_with 2 "belongs to $(sed -n 's/^store_id = //p' "$T/owner/store.conf")" "$CTL" import -q "$S" "$SRC"
cp "$T/store.conf.good" "$S/store.conf"
mv "$FAST" "$FAST.away"
check "a ceph.conf that is gone is refused by name" exits_with 2 "cannot read ceph.conf" "$CTL" stats "$S"
mv "$FAST.away" "$FAST"

# ---- the cluster failing under the store ----
sop=$(sop_of "$T/wsi/native-level2.dcm")
kill -STOP "$CEPH_OSD_PID"
t0=$SECONDS
timeout 60 "$CTL" get "$S" "$sop" -o "$T/stopped.out" >"$T/stopped.err" 2>&1
rc=$?
check "with the OSD stopped, get fails within the timeouts (exit $rc after $((SECONDS - t0)) s)" \
	eval '[ $rc != 0 ] && [ $rc != 124 ]'
diag <"$T/stopped.err"
t0=$SECONDS
timeout 60 "$CTL" import -q "$S" "$T/wsi" >"$T/stopped.err" 2>&1
rc=$?
check "with the OSD stopped, import fails within the timeouts (exit $rc after $((SECONDS - t0)) s)" \
	eval '[ $rc = 2 ] || [ $rc = 1 ]'
diag <"$T/stopped.err"
kill -CONT "$CEPH_OSD_PID"
kill -STOP "$CEPH_MON_PID"
t0=$SECONDS
timeout 60 "$CTL" stats "$S" >"$T/stopped.err" 2>&1
rc=$?
check "with the monitor stopped, opening the store fails clearly (exit $rc after $((SECONDS - t0)) s)" \
	eval '[ $rc = 2 ] && grep -q "cannot connect" "$T/stopped.err"'
kill -CONT "$CEPH_MON_PID"
check "both running again: verify clean" "$CTL" verify "$S"

# The OSD stopped in the middle: of a mount's reads, and of an import.
fs_mount_or_bail "$S" "$M" -o ro
slide=$(find "$M/patients" -type f -size +30M | head -1)
orig=$(grep -l "$(basename "$slide" .dcm)" "$T/wsi"/*.dcm | head -1)
kill -STOP "$CEPH_OSD_PID"
t0=$SECONDS
timeout 60 cat "$slide" >"$T/slide.out" 2>"$T/slide.err"
rc=$?
check "with the OSD stopped, a read of the mount fails with EIO within the timeouts (exit $rc after $((SECONDS - t0)) s)" \
	eval '[ $rc = 1 ] && grep -q "Input/output error" "$T/slide.err"'
kill -CONT "$CEPH_OSD_PID"
check "the OSD running again, the same mount reads the slide byte-identical" cmp "$slide" "$orig"
check "unmount" fs_umount "$M"
: >"$T/dcmfs.log"      # the failed read's lines: expected
I=$T/interrupted
make_pool interrupted >/dev/null 2>&1
check "a store for an interrupted import" "$CTL" init "$I" --data "rados://interrupted?conf=$FAST"
"$CTL" import -q "$I" "$T/wsi" >"$T/int.out" 2>&1 &
pid=$!
CLEANUP_PIDS+=("$pid")
sleep 0.3
kill -STOP "$CEPH_OSD_PID"
t0=$SECONDS
for ((i = 0; i < 600; i++)); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { kill -9 $pid; hung=1; } || hung=0
wait $pid
rc=$?
kill -CONT "$CEPH_OSD_PID"
# A continued OSD the monitor marked down meanwhile answers again only once
# it has rejoined (seconds, more on a loaded machine): wait for its pool.
pool_answers() {
	local i
	for ((i = 0; i < 60; i++)); do
		timeout 5 rados -c "$CEPH_CONF" -p "$1" ls >/dev/null 2>&1 && return 0
		sleep 1
	done
	kill -0 "$CEPH_OSD_PID" 2>/dev/null || echo "the OSD has exited"
	tail -5 "$CEPH_DIR/log/osd.0.log"
	return 1
}
check "with the OSD stopped in the middle of an import, it ends within the timeouts (exit $rc after $((SECONDS - t0)) s)" \
	eval '[ $hung = 0 ] && { [ $rc = 0 ] || { [ $rc -le 2 ] && grep -q . "$T/int.out"; }; }'
diag <"$T/int.out"
# Under AddressSanitizer the one-node cluster's OSD, continued, was seen
# once in three runs to stay at its old map epoch for minutes, its ops
# "delayed" (not an exit: its log says so): a test cluster's limit, not
# dcmfs's, so there the rest is checked only when the pool answers again.
if pool_answers interrupted >"$T/pool.out"; then
	ok "the OSD running again, its pool answers ($((SECONDS - t0)) s after the stop)"
	check "the OSD running again: the store verifies consistent ($(instances "$I") instances)" "$CTL" verify "$I"
	check "the import run again completes it, every slide byte-identical" \
		eval '"$CTL" import -q "$I" "$T/wsi" && $PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$I" "$T/wsi"'
else
	case $BUILD in
	*sanitize*)
		diag <"$T/pool.out"
		for w in "its pool answers" "the store verifies consistent" "the import run again completes it"; do
			skip "the continued OSD did not rejoin under AddressSanitizer's load: $w"
		done ;;
	*)
		not_ok "the OSD running again, its pool answers ($((SECONDS - t0)) s after the stop)"
		diag <"$T/pool.out" ;;
	esac
fi

# ---- kill -9 of get, verify and the mount ----
for cmd in "get $S $sop -o $T/k.out" "verify $S"; do
	"$CTL" $cmd >/dev/null 2>&1 &
	pid=$!
	sleep 0.3
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
done
# kill_mount_during SECONDS MNT MOUNT_ARGS -- COMMAND...: mount S at MNT,
# run COMMAND in the background, kill -9 the daemon after SECONDS.
kill_mount_during() {
	local delay=$1 mnt=$2 args=() user
	shift 2
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	fs_mount_or_bail "$S" "$mnt" "${args[@]}"
	"$@" >/dev/null 2>&1 &
	user=$!
	CLEANUP_PIDS+=("$user")
	sleep "$delay"
	fs_killed "$FS_PID"
	wait $user 2>/dev/null
	fusermount3 -u "$mnt" 2>/dev/null
}
kill_mount_during 1 "$M" -o ro -- find "$M" -type f -exec cat {} +
check "after kill -9 of get, verify and a mount in the middle of reads: verify clean" "$CTL" verify "$S"

# kill -9 of the admin mount while files are copied into its /incoming.
kill_mount_during 2 "$T/rw" -- cp -r "$T/wsi" "$SRC" "$T/rw/incoming/"
check "after kill -9 of the admin mount in the middle of a copy into /incoming: verify clean ($(instances "$S") instances)" \
	"$CTL" verify "$S"

# The OSD full (as it says once its disk fills): writes fail at once with
# ENOSPC, not after the op timeout as "timed out".
pool_full() { ceph -c "$CEPH_CONF" osd dump 2>/dev/null | grep -q "^pool .*'dcmfs'.* flags [^ ]*full"; }
$GEN -q --wsi "$T/wsi2" --wsi-mb 10 --seed 4 >/dev/null 2>&1
ceph -c "$CEPH_CONF" tell osd.0 injectfull full >/dev/null 2>&1
for ((i = 0; i < 100; i++)); do pool_full && break; sleep 0.1; done
if pool_full; then
	t0=$SECONDS
	timeout 60 "$CTL" import -q "$S" "$T/wsi2" >"$T/full.out" 2>&1
	rc=$?
	check "with the OSD full, an import fails at once saying so (exit $rc after $((SECONDS - t0)) s)" \
		eval '[ $rc = 2 ] && grep -q "No space left on device" "$T/full.out" && [ $((SECONDS - t0)) -lt 4 ]'
	diag <"$T/full.out"
else
	not_ok "the pool did not become full after injectfull"
fi
ceph -c "$CEPH_CONF" tell osd.0 injectfull none >/dev/null 2>&1
for ((i = 0; i < 100; i++)); do pool_full || break; sleep 0.1; done
check "and the store verifies consistent" "$CTL" verify "$S"
check "no longer full, the import succeeds" "$CTL" import -q "$S" "$T/wsi2"
done_testing
