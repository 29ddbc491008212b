#!/bin/bash
# t0019-get-series-crash.t - `dcmfsctl get --series` writes each file
# unnamed (O_TMPFILE) and links it in when whole (or under a temporary name
# renamed when whole), starts each file's writeback early and syncs once at
# the end.  Whatever stops it (kill -9 at any moment,
# a full disk) leaves no partial file under a final name: every file there is
# byte-identical to the original.  A full disk is a one-line ENOSPC error, a
# non-zero exit and no temporary file left behind.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
S=$T/store
check "import a CT series" new_store "$S" "$CT_SERIES"
# The originals by the name get gives them: SOPInstanceUID.dcm.
mkdir -p "$T/orig"
for f in "$CT_SERIES"/*; do
	sop=$("$SCAN" "$f" | sed -n 's/^sop_instance_uid=//p')
	[ -n "$sop" ] && ln -s "$f" "$T/orig/$sop.dcm"
done
n=$(ls "$T/orig" | wc -l)
series=$("$SCAN" "$CT_SERIES/01.dcm" | sed -n 's/^series_uid=//p')
[ "$n" -gt 10 ] && [ -n "$series" ] && ok "$n originals named by their SOPInstanceUID" ||
	{ not_ok "dcmfs-scan gave no UIDs"; done_testing; }

# finals_whole DIR: every file under a final name (not .*) is its original, whole.
finals_whole() {
	local f bad=0
	for f in "$1"/*; do
		[ -e "$f" ] || continue
		cmp -s "$f" "$T/orig/${f##*/}" || { echo "# not whole: ${f##*/}"; bad=1; }
	done
	return $bad
}

# 1. A whole get: every file, byte-identical, no temporary file.
out=$("$CTL" get "$S" --series "$series" -o "$T/out1" 2>&1)
rc=$?
[ $rc -eq 0 ] && ok "get --series exits 0 ($out)" || not_ok "get --series: exit $rc, $out"
check "it wrote $n files" test "$(ls "$T/out1" | wc -l)" = "$n"
check "each is byte-identical to its original" finals_whole "$T/out1"
check "no temporary file is left" test -z "$(ls -A "$T/out1" | grep '^\.')"

# 2. kill -9 at moments spread over the get (a run takes some 50-300 ms):
# files under final names are whole; temporary names may be left (a dot file).
killed=0 partial=0 total=0 temps=0
for d in 0.005 0.015 0.03 0.05 0.08 0.12 0.2 0.3; do
	rm -rf "$T/out2"
	"$CTL" get "$S" --series "$series" -o "$T/out2" >/dev/null 2>&1 &
	pid=$!
	sleep "$d"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ $? -eq 137 ] && killed=$((killed + 1))   # died of the SIGKILL, not done before it
	finals_whole "$T/out2" || partial=$((partial + 1))
	total=$((total + $(ls "$T/out2" 2>/dev/null | wc -l)))
	temps=$((temps + $(ls -A "$T/out2" 2>/dev/null | grep -c '^\.')))
done
diag "killed $killed of 8 runs mid-get; $total whole files seen under final names"
[ $partial -eq 0 ] && ok "kill -9 mid-get never leaves a partial file under a final name" ||
	not_ok "$partial runs left a partial file under a final name"
[ $killed -gt 0 ] && ok "at least one get was killed while running" ||
	skip "every get finished before its kill (machine too fast for these delays)"
# Where the folder's filesystem has unnamed files (O_TMPFILE), get writes
# each file unnamed and links it in when whole: a kill leaves nothing.
if $PY -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600))' "$T" 2>/dev/null; then
	[ $temps -eq 0 ] && ok "kill -9 mid-get leaves no temporary file (O_TMPFILE)" ||
		not_ok "$temps temporary files left by the killed gets"
else
	skip "no O_TMPFILE on the test folder's filesystem: temporary names are used there"
fi
# After a kill, a second get completes the folder.
out=$("$CTL" get "$S" --series "$series" -o "$T/out2" 2>&1)
[ $? -eq 0 ] && [ "$(ls "$T/out2" | wc -l)" = "$n" ] && finals_whole "$T/out2" &&
	ok "a get after a kill fills the folder, every file whole" || not_ok "get after kill: $out"

# 3. A full disk: the output folder on a tmpfs smaller than the series.
mkdir -p "$T/small"
if mount -t tmpfs -o size=4m tmpfs "$T/small"; then
	CLEANUP_MOUNTS+=("$T/small")
	"$CTL" get "$S" --series "$series" -o "$T/small/out" >"$T/enospc.out" 2>"$T/enospc.err"
	rc=$?
	[ $rc -ne 0 ] && [ "$(wc -l <"$T/enospc.err")" = 1 ] && grep -q 'No space left on device' "$T/enospc.err" &&
		ok "a full disk: exit $rc, one line: $(cat "$T/enospc.err")" ||
		not_ok "full disk: exit $rc, stderr: $(head -c 300 "$T/enospc.err")"
	check "a full disk leaves no temporary file" test -z "$(ls -A "$T/small/out" | grep '^\.')"
	check "a full disk leaves no partial file under a final name" finals_whole "$T/small/out"
	[ "$(ls "$T/small/out" | wc -l)" -lt "$n" ] && ok "the folder holds fewer files than the series (the disk did fill)" ||
		not_ok "all $n files fit in 4 MB?"
else
	skip "cannot mount a tmpfs: no full-disk case"
fi
check "verify is clean" "$CTL" verify "$S"
done_testing
