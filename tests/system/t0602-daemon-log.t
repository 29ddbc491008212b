#!/bin/bash
# t0602-daemon-log.t - the daemon's log (with -f it goes to standard error;
# detached, to syslog): one line for the mount (store, options), one per
# file taken in through /incoming (stored, duplicate, rejected with its
# reason; a control byte in a name is escaped), one naming the instance and the pack file for a read that fails
# with EIO on a damaged blob, one for the unmount.  log_level=err keeps
# only the error.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
[ "$DISTRIBUTED" = 1 ] || command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
S=$T/store M=$T/mnt LOG=$T/dcmfs.log
check "an empty store" new_store "$S"
fs_mount_or_bail "$S" "$M" -o log_level=info
check "the mount line names the store and the options" \
	grep -q "^dcmfs: mounted store '$S' at '$M' (read-write; options: log_level=info)" "$LOG"
files=("$CT_SERIES"/*)
check "copy two files into /incoming" cp "${files[0]}" "${files[1]}" "$M/incoming/"
check "a copy of the first again (a duplicate)" cp "${files[0]}" "$M/incoming/again.dcm"
printf 'not DICOM at all' >"$T/junk.dcm"
fails cp "$T/junk.dcm" "$M/incoming/junk.dcm"
fails cp "$T/junk.dcm" "$M/incoming/evil
dcmfs: forged.dcm"
n0=$(basename "${files[0]}")
check "stored: one line per file" eval '[ "$(grep -c "incoming .*: stored, new instance [0-9]" "$LOG")" = 2 ] &&
	grep -q "incoming '\''$n0'\'': stored, new instance" "$LOG"'
check "the duplicate is named" grep -q "incoming 'again.dcm': duplicate of instance [0-9]" "$LOG"
check "the rejected file with its reason" grep -q "incoming 'junk.dcm': rejected: .*dicm" "$LOG"
check "a newline in a name does not start a line" eval 'grep -q "incoming '\''evil\\\\x0adcmfs: forged.dcm'\'': rejected" "$LOG" &&
	! grep -q "^dcmfs: forged" "$LOG"'
check "unmount" fs_umount "$M"
check "the unmount line" grep -q "^dcmfs: unmounting '$M' (unmounted)" "$LOG"
diag <"$LOG"
: >"$LOG"       # those lines were asked for (log_level=info)

# a damaged blob: EIO at the mount, and the line that says why
read -r bid boff bsize < <(catalog_sql "$S" "SELECT b.id, b.offset, b.enc_size FROM blobs b WHERE b.pack > 0
	AND (SELECT count(*) FROM segments g WHERE g.blob=b.id) = 1 ORDER BY b.offset DESC LIMIT 1" | tr '|' ' ')
check "a blob of one instance in a pack" [ -n "${bsize:-}" ]
uid=$(catalog_sql "$S" "SELECT i.sop_uid FROM segments g JOIN instances i ON i.id=g.instance WHERE g.blob=$bid")
pack=$(catalog_sql "$S" "SELECT p.name FROM packs p JOIN blobs b ON b.pack=p.id WHERE b.id=$bid" 2>/dev/null)
if [ "$DISTRIBUTED" = 1 ]; then   # the pack is an object of the pool
	pool_flip "$S" "packs/$pack" $((boff + bsize / 2)) 32 || helper_failed "pool_flip packs/$pack"
else
	[ -n "$pack" ] || pack=$(cd "$S/packs" && ls -- *.pack | head -1)
	$PY -c 'import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x20]))' "$S/packs/$pack" $((boff + bsize / 2))
fi
fs_mount_or_bail "$S" "$M" -o ro,log_level=err
f=$(find "$M/patients" -name "$uid.dcm")
out=$(cat "$f" 2>&1 >/dev/null)
check "reading the damaged file fails with EIO" eval '[[ "$out" == *"Input/output error"* ]]'
check "unmount" fs_umount "$M"
check "the log names the instance and the pack" grep -q "instance $uid .*packs/$pack" "$LOG"
check "log_level=err: no mount or unmount line" fails grep -q "mounted store\|unmounting" "$LOG"
diag <"$LOG"
: >"$LOG"

# a damaged chunk in a blob file (a large pixel blob): EIO, and one line
# that names the instance by its SOPInstanceUID, the chunk and the file,
# however often the kernel reads the damaged range
if "$BUILD/dcmfs-gencorpus" --wsi "$T/wsi" --wsi-form native --wsi-tiles 100 --wsi-levels 2 \
	-q >/dev/null 2>&1 && "$CTL" import -q "$S" "$T/wsi/native-level0.dcm" >/dev/null; then
	uid=$($PY -c 'import pydicom,sys; print(pydicom.dcmread(sys.argv[1], stop_before_pixels=True).SOPInstanceUID)' \
		"$T/wsi/native-level0.dcm")
	if [ "$DISTRIBUTED" = 1 ]; then
		# A blob file over 1 MiB: its head object (the first MiB) has parts.
		bf=$(pool_ls "$S" | sed -n 's/@1$//p' | head -1)
		check "the slide's pixels are in a blob file" [ -n "$bf" ]
		pool_flip "$S" "$bf" half 32 || helper_failed "pool_flip $bf"
	else
		bf=$(find "$S/blobs" -type f ! -name '.tmp*' -size +1M | head -1)
		check "the slide's pixels are in a blob file" [ -n "$bf" ]
		$PY -c 'import os,sys
p = sys.argv[1]; o = os.path.getsize(p) // 2
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x20]))' "$bf"
	fi
	fs_mount_or_bail "$S" "$M" -o ro,log_level=err
	f=$(find "$M/patients" -name "$uid.dcm")
	out=$(cat "$f" 2>&1 >/dev/null; cat "$f" 2>&1 >/dev/null)
	check "reading the damaged slide fails with EIO" eval '[[ "$out" == *"Input/output error"* ]]'
	check "unmount" fs_umount "$M"
	check "the log names the instance, the chunk and the blob file" \
		grep -q "instance $uid (inode [0-9]*): chunk [0-9]* (file offset [0-9]*) does not decode: .*$(basename "$bf")" "$LOG"
	check "once per open file" [ "$(grep -c "instance $uid" "$LOG")" -le 2 ]
	diag <"$LOG"
	: >"$LOG"
else
	skip "dcmfs-gencorpus --wsi or its import failed: no slide to damage"
fi
done_testing
