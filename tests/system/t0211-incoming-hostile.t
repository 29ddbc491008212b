#!/bin/bash
# t0211-incoming-hostile.t - /incoming against writers that misbehave, and
# a daemon that dies: a second writer truncating a big file again and again
# while it is being ingested at close must not kill the daemon (it mapped
# the file and died of SIGBUS); spool files left by a daemon killed (-9) in
# the middle of a copy are removed at the next mount, while those of a
# daemon still running stay.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples

SER=${CT_SERIES:-}
[ -n "$SER" ] || skip_all "no CT series in ../shared/corpus"
S=$T/store M=$T/mnt
check "an empty store" new_store "$S"
fs_mount_or_bail "$S" "$M"
PID1=$FS_PID

# A big DICOM file (a CT slice with 48 MiB of trailing padding), so that
# its ingestion takes long enough to be truncated under it.
$PY - "$SER/01.dcm" "$T/big.dcm" <<'EOF'
import os, struct, sys
d = open(sys.argv[1], 'rb').read()
pad = os.urandom(48 << 20)
open(sys.argv[2], 'wb').write(d + struct.pack('<HH2sHI', 0xFFFC, 0xFFFC, b'OB', 0, len(pad)) + pad)
EOF

# Rounds: write the file, open it a second time, close the first descriptor
# (ingestion starts) while a thread truncates through the second one.
$PY - "$T/big.dcm" "$M/incoming" >"$T/trunc.log" 2>&1 <<'EOF'
import os, sys, threading, time
data = open(sys.argv[1], 'rb').read()
for i, delay in enumerate([0.0, 0.05, 0.2, 0.5, 1.0]):
    p = os.path.join(sys.argv[2], 'big%d.dcm' % i)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    fd2 = os.open(p, os.O_WRONLY)
    stop = threading.Event()
    def truncate():
        time.sleep(delay)
        n = 0
        while not stop.is_set():
            try:
                os.ftruncate(fd2, 4096 if n % 2 == 0 else len(data) // 2)
            except OSError:
                break
            n += 1
            time.sleep(0.005)
    t = threading.Thread(target=truncate)
    t.start()
    try:
        os.close(fd)
        print('round %d: close ok' % i)
    except OSError as e:
        print('round %d: close: %s' % (i, e))
    stop.set()
    t.join()
    try:
        os.close(fd2)
    except OSError as e:
        print('round %d: second close: %s' % (i, e))
EOF
diag <"$T/trunc.log"
check "the daemon survives files truncated while they are ingested" kill -0 "$PID1"
check "and the mount still answers" bash -c "ls '$M/patients' >/dev/null"
# (a flush through the second descriptor after the ingest may say EIO: a
# documented sharp edge; a dead daemon says ENOTCONN)
check "no writer saw the daemon go away" bash -c "! grep -Eq 'Transport|not connected|No space' '$T/trunc.log'"
check "verify is clean" bash -c "'$CTL' verify '$S' >/dev/null"

# kill -9 in the middle of a copy into /incoming
$PY - "$T/big.dcm" "$M/incoming/slow.dcm" >"$T/slow.log" 2>&1 <<'EOF' &
import os, sys, time
data = open(sys.argv[1], 'rb').read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data[:1 << 20])
time.sleep(60)
EOF
W=$!
CLEANUP_PIDS+=("$W")
for i in $(seq 100); do
	[ -n "$(find "$S/spool" -maxdepth 1 -name "in-$PID1-*" -size +0)" ] && break
	sleep 0.1
done
check "a copy in progress has a spool file" [ -n "$(find "$S/spool" -maxdepth 1 -name "in-$PID1-*")" ]
fs_killed "$PID1"
kill "$W" 2>/dev/null
wait "$W" 2>/dev/null
fusermount3 -u "$M" 2>/dev/null || umount -l "$M"
check "the killed daemon left its spool file" [ -n "$(find "$S/spool" -maxdepth 1 -name "in-$PID1-*")" ]

# A daemon still running (another store) whose pid names a spool file here,
# and a pid that cannot exist.
S2=$T/store2 M2=$T/mnt2
check "a second store" new_store "$S2"
fs_mount_or_bail "$S2" "$M2"
PID2=$FS_PID
: >"$S/spool/in-$PID2-99"
: >"$S/spool/in-999999999-1"
fs_mount_or_bail "$S" "$M"
check "after the remount the dead daemon's spool file is gone" [ -z "$(find "$S/spool" -maxdepth 1 -name "in-$PID1-*")" ]
check "so is one of a pid that does not exist" [ ! -e "$S/spool/in-999999999-1" ]
check "a running daemon's spool file stays" [ -e "$S/spool/in-$PID2-99" ]
check "/incoming is empty" [ -z "$(ls "$M/incoming")" ]
rm -f "$S/spool/in-$PID2-99"
check "unmount the second store" fs_umount "$M2"
done_testing
