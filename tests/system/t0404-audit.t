#!/bin/bash
# t0404-audit.t - `-o audit` records every open of a file (time, uid, pid,
# mount, share, SOPInstanceUID, patient folder) in STORE/audit, for root and
# for another user, one record per open, on the admin mount and on a share
# mount; `dcmfsctl audit` reads it back with
# --json, --share, --patient and --since; records older than a second
# survive a kill -9 of the daemon; a damaged or torn line is skipped with a
# message naming it, and the records around it are still read.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) not installed"

S=$T/store M=$T/mnt
SRC=${CT_SERIES:-$SAMPLES}
check "import" new_store "$S" "$SRC"
chmod 755 "$T"      # the other user must reach the mount point
fs_mount_or_bail "$S" "$M" -o ro,audit,allow_other

mapfile -t FILES < <(find "$M/patients" -type f -name '*.dcm' | sort | head -5)
[ "${#FILES[@]}" -ge 4 ] || { not_ok "the mount shows at least 4 files"; done_testing; }
as() { local u=$1 g=$2; shift 2; setpriv --reuid="$u" --regid="$g" --clear-groups "$@"; }

# Who opens what, as "uid pid file" lines: each reader prints its pid first.
: >"$T/want"
ROOT_PID=$(sh -c 'echo $$; exec cat "$@" >/dev/null' _ "${FILES[0]}" "${FILES[1]}" "${FILES[2]}")
for f in "${FILES[0]}" "${FILES[1]}" "${FILES[2]}"; do echo "0 $ROOT_PID $f" >>"$T/want"; done
sleep 1.1
SINCE=$(date -u +%Y-%m-%dT%H:%M:%S)
sleep 1.1
NOBODY_PID=$(as 65534 65534 sh -c 'echo $$; exec cat "$@" >/dev/null' _ "${FILES[3]}" "${FILES[0]}")
for f in "${FILES[3]}" "${FILES[0]}"; do echo "65534 $NOBODY_PID $f" >>"$T/want"; done
check "both readers ran" [ -n "$ROOT_PID" ] && [ -n "$NOBODY_PID" ]
sleep 1.1

# check_records JSON WANT [MORE]: every "uid pid file" of WANT has exactly
# one record with that uid, pid, the file's SOP UID, this mount and its
# patient folder; and there are len(WANT) + MORE records in all.
check_records() {
	$PY - "$@" "$M" <<'PY'
import json, os, sys
got = json.load(open(sys.argv[1]))
want = [l.split(' ', 2) for l in open(sys.argv[2]).read().splitlines()]
more = int(sys.argv[3]) if len(sys.argv) > 4 else 0
mnt = sys.argv[-1]
bad = 0
for uid, pid, path in want:
    rel = os.path.relpath(path, mnt + '/patients').split('/')
    sop, patient = rel[-1][:-4], rel[0]
    hits = [r for r in got if r['event'] == 'open' and r['uid'] == int(uid) and
            r['pid'] == int(pid) and r['sop_uid'] == sop and r['patient'] == patient and
            r['mount'] == mnt and r['share'] == '']
    if len(hits) != 1:
        print('# %d records for uid %s pid %s %s' % (len(hits), uid, pid, sop))
        bad += 1
if len(got) != len(want) + more:
    print('# %d records, want %d' % (len(got), len(want) + more))
    bad += 1
for r in got:
    if not r['time'].endswith('Z') or r['time_ns'] <= 0:
        print('# bad time', r); bad += 1
sys.exit(bad != 0)
PY
}
count_records() { $PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$1"; }

audit_json() { "$CTL" audit "$S" --json >"$1"; }
check "dcmfsctl audit --json exits 0" audit_json "$T/all.json"
check "one record per open, with uid, pid, SOP UID, mount and patient folder (root and nobody)" \
	check_records "$T/all.json" "$T/want"
check "the log is STORE/audit/<UTC day>.log, mode 0600 in a 0700 folder" \
	test "$(stat -c %a "$S/audit")/$(stat -c %a "$S/audit/$(date -u +%F).log")" = 700/600
P=$($PY -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]).split("/")[0])' "${FILES[0]}" "$M/patients")
# records N ARGS...: dcmfsctl audit STORE --json ARGS gives N records.
records() {
	local n=$1
	shift
	"$CTL" audit "$S" --json "$@" >"$T/r.json" || return 1
	[ "$(count_records "$T/r.json")" = "$n" ]
}
NP=$(grep -c "/patients/$P/" "$T/want")
check "--patient with a patient's folder keeps that patient's records ($NP)" records "$NP" --patient "$P"
check "--patient with another ID keeps none" records 0 --patient no-such-patient
check "--share '' (the admin mount) keeps every record" records 5 --share ""
check "--share with a share's name keeps none of the admin mount's" records 0 --share research
tail -2 "$T/want" >"$T/want.since"
check "--since keeps only the later opens (nobody's)" \
	eval '"$CTL" audit "$S" --json --since "$SINCE" >"$T/since.json" && check_records "$T/since.json" "$T/want.since"'
check "--since a day to come keeps none" records 0 --since 2200-01-01
plain_output() {
	"$CTL" audit "$S" >"$T/all.txt" || return 1
	[ "$(wc -l <"$T/all.txt")" = 5 ] && grep -qF "	65534	$NOBODY_PID	(admin)	$P	" "$T/all.txt"
}
check "plain output: one tab-separated line per record (time, uid, pid, share, patient, SOP, mount)" plain_output
check "--since with a bad date: exit 2 naming the forms" exits_with 2 "YYYY-MM-DD" "$CTL" audit "$S" --since 30.11.2026
check "an unknown option: exit 2" exits_with 2 "unknown option '--bogus'" "$CTL" audit "$S" --bogus
check "not a store: exit 2" exits_with 2 "" "$CTL" audit "$T/nothing"

# A share mount records its share's name.
check "define a share of everything" "$CTL" share create "$S" research --all
M3=$T/mnt3
fs_mount_or_bail "$S" "$M3" -o share=research,audit
SF=$(find "$M3/patients" -type f -name '*.dcm' -print -quit)
SHARE_PID=$(sh -c 'echo $$; exec cat "$1" >/dev/null' _ "$SF")
check "unmount the share" fs_umount "$M3"
share_record() {
	records 1 --share research && grep -q "\"pid\":$SHARE_PID,\"mount\":\"$M3\",\"share\":\"research\"" "$T/r.json"
}
check "--share research: the share mount's one record, with the share's name" share_record
check "--share '' keeps the admin mount's records only" records 5 --share ""

# A de-identified share mount records the stored instance (its SOP UID and
# patient folder), not the pseudonyms it shows.
check "define a de-identified share" "$CTL" share create "$S" anon --all --deidentify
fs_mount_or_bail "$S" "$M3" -o share=anon,audit
DF=$(find "$M3/patients" -type f -name '*.dcm' -print -quit)
ANON_PID=$(sh -c 'echo $$; exec cat "$1" >/dev/null' _ "$DF")
check "unmount the de-identified share" fs_umount "$M3"
deid_record() {
	records 1 --share anon || return 1
	$PY - "$T/r.json" "$T/all.json" "$ANON_PID" "$(basename "$DF" .dcm)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))[0]
stored = {x['sop_uid']: x['patient'] for x in json.load(open(sys.argv[2]))}
print('# shown as %s, recorded as %s of %s' % (sys.argv[4], r['sop_uid'], r['patient']))
sys.exit(not (r['pid'] == int(sys.argv[3]) and r['sop_uid'] != sys.argv[4] and r['sop_uid'] != '' and
              (r['sop_uid'] not in stored or stored[r['sop_uid']] == r['patient'])))
PY
}
check "--share anon: one record, of the stored SOP UID, not the shown one" deid_record

# A second audited mount of the same store appends to the same file; kill -9
# it a second after its opens: the records are there.
M2=$T/mnt2
fs_mount_or_bail "$S" "$M2" -o ro,audit
PID2=$FS_PID
KILL_PID=$(sh -c 'echo $$; exec cat "$@" >/dev/null' _ "${FILES[@]/#$M/$M2}")
sleep 1.2
fs_killed "$PID2"
fusermount3 -u "$M2" 2>/dev/null || umount -l "$M2"
: >"$T/want.kill"
for f in "${FILES[@]/#$M/$M2}"; do echo "0 $KILL_PID $f" >>"$T/want.kill"; done
"$CTL" audit "$S" --json >"$T/kill.json"
N=$(count_records "$T/kill.json")
killed_records() {
	$PY - "$T/kill.json" "$KILL_PID" "$M2" "${#FILES[@]}" <<'PY'
import json, sys
r = [x for x in json.load(open(sys.argv[1])) if x['pid'] == int(sys.argv[2]) and x['mount'] == sys.argv[3]]
print('# %d records of the killed mount' % len(r))
sys.exit(len(r) != int(sys.argv[4]))
PY
}
check "after kill -9 of the daemon, the records of opens a second old are in the log" killed_records

# A mount without -o audit keeps zero-message opens and records nothing.
check "unmount the audited mount" fs_umount "$M"
fs_mount_or_bail "$S" "$M" -o ro
cat "${FILES[@]}" >/dev/null
check "a mount without -o audit records nothing" records "$N"
check "unmount" fs_umount "$M"

# Damage: one changed byte in line 2, and a torn line at the end.
LOG=$S/audit/$(date -u +%F).log
$PY - "$LOG" <<'PY'
import sys
p = sys.argv[1]
lines = open(p, 'rb').read().split(b'\n')
l = bytearray(lines[1]); l[40] ^= 1; lines[1] = bytes(l)
open(p, 'wb').write(b'\n'.join(lines) + b'2026-11-30T00:00:00.000000000Z\topen\t0\t1')
PY
damage_named() {
	"$CTL" audit "$S" --json >"$T/d.json" 2>"$T/d.err"
	[ $? = 1 ] || { echo "exit status is not 1"; return 1; }
	grep -q "audit/$(date -u +%F).log' line 2: damaged: checksum does not match; skipped" "$T/d.err" &&
		grep -q "line $((N + 1)): no end of line" "$T/d.err"
}
check "a damaged line and a torn end: exit 1, each named by file and line" damage_named
check "every other record is still read" [ "$(count_records "$T/d.json")" = $((N - 1)) ]
diag <"$T/d.err"

# The next audited mount ends the torn line before appending: its records
# are whole, and the torn line stays one damaged line.
fs_mount_or_bail "$S" "$M" -o audit
cat "${FILES[0]}" >/dev/null
check "unmount the admin mount (-o audit, read-write)" fs_umount "$M"
torn_ended() {
	"$CTL" audit "$S" --json >"$T/t.json" 2>"$T/t.err"
	[ $? = 1 ] || { echo "exit status is not 1"; return 1; }
	[ "$(count_records "$T/t.json")" = "$N" ] && grep -q "line $((N + 1)): damaged: fewer than 9" "$T/t.err"
}
check "a read-write admin mount records too, after the torn line" torn_ended
diag <"$T/t.err"
done_testing
