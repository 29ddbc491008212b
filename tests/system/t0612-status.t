#!/bin/bash
# t0612-status.t - dcmfsctl status names a live mount this test started
# (its daemon's pid, the mountpoint, the kernel's options), a second
# read-only mount of the same store, and no mount once both are gone; the
# last import is listed with its counts; two daemonized mounts each with
# its pid, and one of them killed as a dead mount; disk use and free space are
# numbers that add up; --json says the same and parses.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
S=$T/store
[ -n "$CT_SERIES" ] && D=$CT_SERIES || D=$SAMPLES
check "a store" new_store "$S" "$D"
n=$(instances "$S")
M=$T/mnt
M2=$T/mnt2

st_json() { "$CTL" status --json "$S" >"$T/status.json"; }
# jq-like: print a Python expression over the status JSON as d
js() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/status.json" "$1"; }

check "status before any mount" st_json
check "no live mount" [ "$(js 'len(d["mounts"])')" = 0 ]
check "the last import is listed: $n new" [ "$(js 'd["last_imports"][0]["new"]')" = "$n" ]
check "the instances are counted ($n)" [ "$(js 'd["instances"]')" = "$n" ]
check "disk use: packs + blobs + index <= total, all > 0" \
	[ "$(js 'int(0 < d["disk_bytes"]["packs"] + d["disk_bytes"]["index"] <= d["disk_bytes"]["total"])')" = 1 ]
check "free space is given and below the filesystem's size" \
	[ "$(js 'int(0 < d["disk_bytes"]["filesystem_free"] <= d["disk_bytes"]["filesystem_size"])')" = 1 ]

fs_mount_or_bail "$S" "$M"
pid1=$FS_PID
check "status with a mount" st_json
check "one live mount" [ "$(js 'len(d["mounts"])')" = 1 ]
check "its mountpoint is the one mounted" [ "$(js 'd["mounts"][0]["mountpoint"]')" = "$(cd "$M" && pwd -P)" ]
check "its pid is the daemon's ($pid1)" [ "$(js 'd["mounts"][0]["pid"]')" = "$pid1" ]
check "its options are the kernel's (nosuid, nodev)" \
	[ "$(js 'int("nosuid" in d["mounts"][0]["options"] and "nodev" in d["mounts"][0]["options"])')" = 1 ]

# a second, read-only mount from another working folder, by a relative path
mkdir -p "$M2"
(cd "$T" && exec "$DCMFS" "$S" mnt2 -f -o ro 2>>"$T/dcmfs.log") &
pid2=$!
DAEMON_OF[$M2]=$pid2
DAEMONS+=("$pid2")
CLEANUP_PIDS+=("$pid2")
CLEANUP_MOUNTS+=("$M2")
check "a second mount, read-only, by a relative path" fs_wait_mount "$M2"
check "status with two mounts" st_json
check "two live mounts" [ "$(js 'len(d["mounts"])')" = 2 ]
check "each with its own daemon's pid" \
	[ "$(js 'sorted((m["mountpoint"].rsplit("/",1)[1], m["pid"]) for m in d["mounts"])')" = "[('mnt', $pid1), ('mnt2', $pid2)]" ]
check "the read-only one says ro" \
	[ "$(js '[m["options"].split(",")[0] for m in d["mounts"] if m["mountpoint"].endswith("mnt2")][0]')" = ro ]
"$CTL" status "$S" >"$T/status.txt" || not_ok "status (text)"
diag <"$T/status.txt"
check "the text names both pids" grep -q "pid $pid2 " "$T/status.txt"
check "the text says two live mounts" grep -qx "live mounts: 2" "$T/status.txt"

check "unmount both" fs_umount "$M"
check "unmount the second" fs_umount "$M2"
check "status after the unmounts" st_json
check "no live mount" [ "$(js 'len(d["mounts"])')" = 0 ]
check "and no daemon holds the store" [ "$(js 'len(d["processes"])')" = 0 ]
# two daemonized mounts by relative paths (a daemon works from '/' then,
# so its arguments cannot name its mount): each is paired with its daemon
# by its FUSE connection; one daemon killed leaves a dead mount, not a live one
pid_of_cmdline() {  # the process we started with exactly these arguments
	local p want
	want=$(printf '%s\0' "$@" | od -An -c | tr -d ' \n')
	for p in /proc/[0-9]*; do
		[ "$(od -An -c "$p/cmdline" 2>/dev/null | tr -d ' \n')" = "$want" ] && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}
mkdir -p "$T/mnt3" "$T/mnt4"
CLEANUP_MOUNTS+=("$T/mnt3" "$T/mnt4")
check "two daemonized mounts by relative paths" eval '(cd "$T" && "$DCMFS" "$S" mnt3 && "$DCMFS" "$S" mnt4 -o ro)'
pid3=$(pid_of_cmdline "$DCMFS" "$S" mnt3) pid4=$(pid_of_cmdline "$DCMFS" "$S" mnt4 -o ro)
check "their daemons are found ($pid3, $pid4)" [ -n "$pid3" ] && [ -n "$pid4" ]
check "status with them" st_json
check "each with its own daemon's pid" \
	[ "$(js 'sorted((m["mountpoint"].rsplit("/",1)[1], m["pid"]) for m in d["mounts"])')" = "[('mnt3', $pid3), ('mnt4', $pid4)]" ]
[ -n "$pid3" ] && kill -9 "$pid3"
for ((i = 0; i < 50; i++)); do [ -n "$pid3" ] && kill -0 "$pid3" 2>/dev/null || break; sleep 0.1; done
check "status with one killed" st_json
check "one live mount, the other's" [ "$(js '[(m["mountpoint"].rsplit("/",1)[1], m["pid"]) for m in d["mounts"]]')" = "[('mnt4', $pid4)]" ]
check "the killed one is a dead mount" [ "$(js '[m["mountpoint"].rsplit("/",1)[1] for m in d["dead_mounts"]]')" = "['mnt3']" ]
"$CTL" status "$S" >"$T/status.txt" || not_ok "status (text)"
diag <"$T/status.txt"
check "the text says one live mount" grep -qx "live mounts: 1" "$T/status.txt"
check "and names the dead one" grep -q "^dead mounts .*fusermount3 -u.*: 1" "$T/status.txt"
check "unmount the dead one" fusermount3 -u "$T/mnt3"
check "unmount the other" fusermount3 -u "$T/mnt4"
for ((i = 0; i < 50; i++)); do [ -n "$pid4" ] && kill -0 "$pid4" 2>/dev/null || break; sleep 0.1; done
check "a missing store is one line, exit 2" exits_with 2 "dcmfsctl: " "$CTL" status "$T/none"
done_testing
