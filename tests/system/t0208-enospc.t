#!/bin/bash
# t0208-enospc.t - a full disk while a file is spooled into /incoming gives
# ENOSPC to the writer; the store stays consistent (verify clean, nothing
# new in the tree) and works again once there is room.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
# The store on a small tmpfs of its own, so that it fills up.
mkdir -p "$T/small"
mount -t tmpfs -o size=12m tmpfs "$T/small" || skip_all "cannot mount a tmpfs"
CLEANUP_MOUNTS+=("$T/small")
S=$T/small/store M=$T/mnt
check "import one CT slice" new_store "$S" "$CT_SERIES/01.dcm"
fs_mount_or_bail "$S" "$M"
before=$(instances "$S")
# A file larger than the free space: the spool write fails.
head -c 20000000 /dev/zero >"$T/big.bin"
out=$(cp "$T/big.bin" "$M/incoming/big.dcm" 2>&1)
st=$?
[ $st -ne 0 ] && echo "$out" | grep -q "No space left" && ok "cp of a 20 MB file fails with ENOSPC" ||
	{ not_ok "cp exit $st: $out"; }
rm -f "$M/incoming/big.dcm"  # gone already: a failed spool file is dropped
[ -z "$(ls -A "$M/incoming" | grep -v '^\.rejected$')" ] && ok "nothing is left in /incoming after rm" || not_ok "left: $(ls -A "$M/incoming")"
check "the store is unchanged" test "$(instances "$S")" = "$before"
check "verify is clean" "$CTL" verify "$S"
# Room again: a real file goes in.
check "a CT slice still goes in after the failure" cp "$CT_SERIES/02.dcm" "$M/incoming/"
check "it is in the tree" test "$(find "$M/patients" -type f | wc -l)" = $((before + 1))
check "unmount" fs_umount "$M"
check "verify is clean at the end" "$CTL" verify "$S"
done_testing
