#!/bin/bash
# t0215-reindex-in-use.t - reindex replaces index.db, so it must not run
# while anything uses the store (it once did, and images a mount or an
# import had acknowledged were lost).  It refuses, exit 2 and one line,
# while a background (daemonized) mount is up and while an import runs;
# the mount keeps ingesting meanwhile; after unmount it works and keeps
# everything.  A read-only store folder without a lock file still opens
# for reading.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
S=$T/store M=$T/mnt
check "a store with a series" new_store "$S" "$CT_SERIES"
n0=$(instances "$S")

# refused COMMAND...: exits 2 with one line saying the store is in use
refused() {
	"$@" >"$T/out" 2>"$T/err"
	local st=$?
	[ $st = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "is in use by another process" "$T/err" ||
		{ echo "# exit $st:"; diag <"$T/err"; return 1; }
}

quiet() { "$@" >/dev/null 2>&1; }

mkdir -p "$M"
"$DCMFS" "$S" "$M" 2>>"$T/dcmfs.log"     # daemonized: the lock must survive the fork
CLEANUP_MOUNTS+=("$M")
fs_wait_mount "$M" && ok "admin mount in the background" || { not_ok "mount"; done_testing; }
check "reindex refuses while the store is mounted" refused "$CTL" reindex "$S"
x=$CORPUS/real/series/ct_philips_ingenuity_phantom_54sl
[ -d "$x" ] || x=$CT_SERIES
f=$x/$(ls "$x" | head -1)
cp "$f" "$T/x.dcm" && dcmodify -nb -gin "$T/x.dcm" >/dev/null 2>&1 || cp "$f" "$T/x.dcm"
sop=$("$BUILD/dcmfs-scan" "$T/x.dcm" | sed -n 's/^sop_instance_uid=//p')
check "a file copied into /incoming after the refusal is ingested" cp "$T/x.dcm" "$M/incoming/"
check "and is in the store" "$CTL" get "$S" "$sop" -o "$T/back.dcm"
check "byte-identical" cmp -s "$T/back.dcm" "$T/x.dcm"
n1=$(instances "$S")
check "unmount" fs_umount "$M"
gone() { ! pgrep -f "dcmfs $S $M" >/dev/null; }
daemon_exits() { local i; for ((i = 0; i < 30; i++)); do gone && return 0; sleep 0.1; done; return 1; }
check "the background daemon exits after the unmount" daemon_exits
check "reindex works after the unmount" quiet "$CTL" reindex "$S"
check "and keeps every instance ($n1)" [ "$(instances "$S")" = "$n1" ]

# An import in flight (into a new store): reindex refuses while it runs,
# and what it reports as new is all in the store afterwards.
S=$T/store2
check "a second store" new_store "$S"
base=0
"$CTL" import "$S" "$CORPUS/real" >"$T/import.out" 2>"$T/import.err" &
ipid=$!
CLEANUP_PIDS+=("$ipid")
# Once it has stored something it surely has the store open.
tried=0
for ((i = 0; i < 200; i++)); do
	kill -0 "$ipid" 2>/dev/null || break
	if [ "$(instances "$S" 2>/dev/null)" -gt 0 ] 2>/dev/null; then
		# Only a refusal seen while the import still runs counts.
		if refused "$CTL" reindex "$S"; then
			kill -0 "$ipid" 2>/dev/null && tried=1
		else
			tried=2
		fi
		break
	fi
	sleep 0.02
done
wait "$ipid"
ist=$?
case $tried in
1) ok "reindex refuses while an import runs" ;;
2) not_ok "reindex refuses while an import runs" ;;
*) skip "the import ended before reindex could be tried" ;;
esac
check "the import exits 0 or 1 ($ist)" [ "$ist" -le 1 ]
[ "$ist" -le 1 ] || diag <"$T/import.err"
new=$(sed -n 's/^imported: \([0-9]*\) new.*/\1/p' "$T/import.out")
check "every instance it reported new is in the store ($new new, $base before)" \
	[ "$(instances "$S")" = $((base + ${new:-0})) ]
check "reindex works once it has ended" quiet "$CTL" reindex "$S"
check "and keeps them" [ "$(instances "$S")" = $((base + ${new:-0})) ]

# A read-only store folder where no lock file can be made opens for reading.
R=$T/ro
rm -f "$S/lock"
mkdir -p "$R"
if mount --bind "$S" "$R" 2>/dev/null && CLEANUP_MOUNTS+=("$R") && mount -o remount,bind,ro "$R" 2>/dev/null; then
	sop2=$("$BUILD/dcmfs-scan" "$CT_SERIES/01.dcm" | sed -n 's/^sop_instance_uid=//p')
	check "stats of a read-only store folder without a lock file" quiet "$CTL" stats "$R"
	check "get from it" quiet "$CTL" get "$R" "$sop2" -o "$T/back2.dcm"
	check "verify of it" quiet "$CTL" verify "$R"
	check "byte-identical" cmp -s "$T/back2.dcm" "$CT_SERIES/01.dcm"
	check "no lock file was made" [ ! -e "$S/lock" ]
	umount "$R"
else
	skip "cannot make a read-only bind mount here"
fi
done_testing
