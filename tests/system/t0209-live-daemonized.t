#!/bin/bash
# t0209-live-daemonized.t - the daemon as an administrator runs it (in the
# background, not -f): a file imported into an existing series appears in
# its listing, and a removed one disappears from the listing and from stat,
# each within two seconds; the admin mount ingests from /incoming.
# (Both once broke only when daemonized: fork() keeps no threads, and the
# store's SQLite connections must be opened after it.)
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
command -v dcmodify >/dev/null || skip_all "dcmodify (dcmtk) not installed"
S=$T/store M=$T/mnt
check "import a series" new_store "$S" "$CT_SERIES"
mkdir -p "$M"
"$DCMFS" "$S" "$M" -o ro 2>>"$T/dcmfs.log"
CLEANUP_MOUNTS+=("$M")
fs_wait_mount "$M" && ok "mounted in the background" || { not_ok "mount"; done_testing; }
ser=$(find "$M/patients" -mindepth 4 -maxdepth 4 -type d)
check "the series lists 28 files" test "$(ls "$ser" | wc -l)" = 28
cp "$CT_SERIES/01.dcm" "$T/x.dcm" && dcmodify -nb -gin "$T/x.dcm" >/dev/null 2>&1
sop=$("$BUILD/dcmfs-scan" "$T/x.dcm" | sed -n 's/^sop_instance_uid=//p')
"$CTL" import -q "$S" "$T/x.dcm" >/dev/null
# within_2s COMMAND...: true once the command succeeds, polling for 2 s
within_2s() { local i; for ((i = 0; i < 20; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
count_is() { test "$(ls "$ser" | wc -l)" = "$1"; }
check "an imported file shows in the series listing within 2 s" within_2s count_is 29
check "it reads back byte-identical" cmp "$ser/$sop.dcm" "$T/x.dcm"
"$CTL" rm "$S" --instance "$sop" >/dev/null
check "a removed file leaves the listing within 2 s" within_2s count_is 28
check "and stat no longer finds it" within_2s fails stat "$ser/$sop.dcm"
fusermount3 -u "$M"
check "unmounted" within_2s fails mountpoint -q "$M"
# The admin mount, daemonized: /incoming ingests.
"$DCMFS" "$S" "$M" 2>>"$T/dcmfs.log"
fs_wait_mount "$M" && ok "admin mount in the background" || not_ok "admin mount"
check "a file copied into /incoming is ingested" cp "$T/x.dcm" "$M/incoming/"
check "and is in the tree" test -f "$ser/$sop.dcm"
fusermount3 -u "$M"
check "unmounted" within_2s fails mountpoint -q "$M"
# The background daemon must exit once unmounted (it once hung joining
# threads that fork() had not kept).  $T is unique to this test.
gone() { ! pgrep -f "dcmfs $S $M" >/dev/null; }
check "the background daemon exits after the unmount" within_2s gone
done_testing
