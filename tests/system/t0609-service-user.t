#!/bin/bash
# t0609-service-user.t - the daemon as dcmfs@.service runs it: a system user
# (here nobody) with CAP_SYS_ADMIN alone and no new privileges mounts its
# store; the tree is that user's by default, so that user (as
# dcmfs-storescp@ does) can drop files into /incoming, which are stored;
# allow_other lets root in; SIGTERM unmounts and exits 0.
. "$(dirname "$0")/lib/common.sh"
need_fuse
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
[ "$(id -u)" = 0 ] || skip_all "changing users needs root"
command -v setpriv >/dev/null || skip_all "setpriv not installed"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
U=$(id -u nobody) G=$(id -g nobody)
# /dev/fuse is 0666 on Debian; where it is not, the test lends the daemon
# CAP_DAC_OVERRIDE to open it (the unit's user needs no more than Debian gives)
caps=+sys_admin
[ "$(stat -c %a /dev/fuse)" = 666 ] || { caps=+sys_admin,+dac_override; echo "# /dev/fuse is not 0666 here: CAP_DAC_OVERRIDE added"; }
D=$T/svc
mkdir -p "$D/mnt"
chmod 755 "$T"
check "a store of the service user" eval '"$CTL" init "$D/store" >/dev/null && chown -R $U:$G "$D"'
# (setpriv execs the daemon: $! is the daemon's pid)
setpriv --reuid="$U" --regid="$G" --clear-groups --inh-caps=$caps --ambient-caps=$caps --no-new-privs \
	"$DCMFS" "$D/store" "$D/mnt" -f -o allow_other 2>>"$T/dcmfs.log" &
pid=$!
CLEANUP_PIDS+=("$pid")
CLEANUP_MOUNTS+=("$D/mnt")
check "the service user mounts its store" fs_wait_mount "$D/mnt"
check "the mount is the service user's" eval 'grep " $D/mnt " /proc/self/mountinfo | grep -q "user_id=$U,group_id=$G"'
check "  and so is the tree" [ "$(stat -c %u:%g "$D/mnt/incoming")" = "$U:$G" ]
f=$(ls "$CT_SERIES"/* | head -1)
check "the service user drops a file into /incoming" setpriv --reuid="$U" --regid="$G" --clear-groups \
	cp "$f" "$D/mnt/incoming/one.dcm"
sleep 1.2
check "it is stored and shows in the tree" eval '[ "$(find "$D/mnt/patients" -type f | wc -l)" = 1 ]'
check "root reads it (allow_other)" cmp "$f" "$(find "$D/mnt/patients" -type f)"
kill -TERM "$pid"
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
st=$?
check "SIGTERM: exit 0 ($st)" [ "$st" = 0 ]
check "  unmounted" fails mountpoint -q "$D/mnt"
done_testing
