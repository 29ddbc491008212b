#!/bin/bash
# t0607-sd-notify.t - the daemon speaks systemd's notify protocol (as under
# Type=notify): READY=1 reaches $NOTIFY_SOCKET only once the mount is in the
# mount table, and on SIGTERM STOPPING=1 comes, the mount goes and the
# daemon exits 0.  A failed start sends no READY=1.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
S=$T/store M=$T/mnt SOCK=$T/notify
SRC=${CT_SERIES:-$SAMPLES}
check "import a series" new_store "$S" "$SRC"
mkdir -p "$M"
# The listener: each message on one line, and whether M was mounted when it came.
$PY - "$SOCK" "$M" >"$T/messages" <<'PY' &
import socket, sys
path, mnt = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(20)
def mounted():
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == mnt for line in f)
try:
    while True:
        msg = s.recv(4096).decode()
        print(msg.replace("\n", " "), "| mounted" if mounted() else "| not mounted", flush=True)
        if "STOPPING=1" in msg:
            break
except socket.timeout:
    pass
PY
lpid=$!
CLEANUP_PIDS+=("$lpid")
for ((i = 0; i < 50; i++)); do [ -S "$SOCK" ] && break; sleep 0.1; done
check "the listener is up" test -S "$SOCK"
NOTIFY_SOCKET=$SOCK "$DCMFS" "$S" "$M" -f 2>>"$T/dcmfs.log" &
pid=$!
CLEANUP_PIDS+=("$pid")
CLEANUP_MOUNTS+=("$M")
for ((i = 0; i < 100; i++)); do grep -q READY=1 "$T/messages" && break; sleep 0.1; done
check "READY=1 came" grep -q "READY=1" "$T/messages"
check "  when the mount was already there" grep -q "READY=1.*| mounted$" "$T/messages"
check "  with a STATUS naming the store" grep -q "STATUS=serving $S at $M" "$T/messages"
check "the tree answers" [ -d "$M/patients" ]
kill -TERM "$pid"
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
st=$?
check "SIGTERM: exit status 0 ($st)" [ "$st" = 0 ]
check "  unmounted" fails mountpoint -q "$M"
wait "$lpid"
check "STOPPING=1 came" grep -q "STOPPING=1" "$T/messages"
diag <"$T/messages"

# a start that fails (a store that is not one) says nothing READY
: >"$T/messages2"
$PY -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(3)
try:
    print(s.recv(4096).decode())
except socket.timeout:
    pass' "$T/notify2" >"$T/messages2" &
lpid=$!
CLEANUP_PIDS+=("$lpid")
for ((i = 0; i < 50; i++)); do [ -S "$T/notify2" ] && break; sleep 0.1; done
mkdir -p "$T/notastore"
NOTIFY_SOCKET=$T/notify2 "$DCMFS" "$T/notastore" "$M" -f >/dev/null 2>&1
check "a failed start exits non-zero" [ $? != 0 ]
wait "$lpid"
check "  and sent no READY=1" fails grep -q READY=1 "$T/messages2"
done_testing
