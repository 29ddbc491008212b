#!/bin/bash
# t0621-incoming-paths.t - /incoming keeps where a refused file came from:
# a/x and b/x refused land in .rejected/a/x and .rejected/b/x (not x and
# x.1), deeper paths too, also after a remount; folders emptied by ingest
# leave /incoming after a moment (cp -r of a folder still succeeds
# whole), a folder made and left empty stays; links and FIFOs planted in
# STORE/spool/.rejected are neither shown nor followed; and a remounted
# tree is the same to rsync: a no-change `rsync -ai` of the whole mount
# lists nothing (/, /incoming, .rejected and the views keep their times).
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
command -v rsync >/dev/null || skip_all "no rsync"
[ -n "$CT_SERIES" ] || skip_all "no CT series in the corpus"

S=$T/store M=$T/mnt
check "a store of one CT series" new_store "$S" "$CT_SERIES"
fs_mount_or_bail "$S" "$M"
I=$M/incoming
within_8s() { local i; for ((i = 0; i < 80; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
gone() { ! stat "$1" >/dev/null 2>&1; }

echo "not dicom a" >"$T/xa"
echo "not dicom b" >"$T/xb"
check "mkdir /incoming/a /incoming/b /incoming/keep" mkdir "$I/a" "$I/b" "$I/keep"
cp "$T/xa" "$I/a/x" 2>/dev/null   # refused: close says EINVAL
cp "$T/xb" "$I/b/x" 2>/dev/null
check "a/x refused is .rejected/a/x" cmp "$T/xa" "$I/.rejected/a/x"
check "b/x refused is .rejected/b/x" cmp "$T/xb" "$I/.rejected/b/x"
check "each with its .reason beside it" test -s "$I/.rejected/a/x.reason" -a -s "$I/.rejected/b/x.reason"
check "no x.1 was made" gone "$I/.rejected/x.1"
check "and on disk the same paths" test -f "$S/spool/.rejected/a/x" -a -f "$S/spool/.rejected/b/x"
cp "$T/xa" "$I/a/x" 2>/dev/null   # refused: close says EINVAL
check "a second a/x refused is .rejected/a/x.1" cmp "$T/xa" "$I/.rejected/a/x.1"
mkdir -p "$I/d1/d2"
cp "$T/xa" "$I/d1/d2/y" 2>/dev/null
check "d1/d2/y refused is .rejected/d1/d2/y" cmp "$T/xa" "$I/.rejected/d1/d2/y"
check "nothing can be made in a folder of .rejected" fails cp "$T/xa" "$I/.rejected/a/new"
check "folders emptied by ingest leave /incoming" within_8s gone "$I/a"
check "all of them (b, d1)" within_8s eval '[ "$(ls "$I")" = keep ]'
check "a folder made and left empty stays" test -d "$I/keep"
# cp -r of a folder of several files: every file stored, cp content.
mkdir -p "$T/ser"
ls "$CT_SERIES"/*.dcm | head -5 | xargs -I{} cp {} "$T/ser/"
before=$(instances "$S")
check "cp -r of a folder of 5 files into /incoming succeeds" cp -r "$T/ser" "$I/"
check "and stores nothing new (they are there already) but refuses none" \
	test "$(find "$I/.rejected" -path '*ser*' | wc -l)" = 0
check "the instance count is unchanged" test "$(instances "$S")" = "$before"
check "the copied folder leaves /incoming" within_8s gone "$I/ser"
# a writer that pauses between two files of its folder still finds it
mkdir "$I/slow"
cp "$T/ser/$(ls "$T/ser" | head -1)" "$I/slow/"
sleep 1
check "a folder emptied a second ago still takes the next file" \
	cp "$T/ser/$(ls "$T/ser" | tail -1)" "$I/slow/"
check "and then leaves too" within_8s gone "$I/slow"
check "unlink and rmdir in .rejected work" rm -r "$I/.rejected/d1"
check "and remove the files on disk" gone "$S/spool/.rejected/d1"
check "rmdir keep" rmdir "$I/keep"
check "unmount" fs_umount "$M"

# Planted things in STORE/spool/.rejected: a link to a folder outside, a
# link to a file, a FIFO.
mkdir -p "$T/outside"
ln -s "$T/outside" "$S/spool/.rejected/c"
ln -s "$T/xa" "$S/spool/.rejected/link.dcm"
mkfifo "$S/spool/.rejected/fifo"
fs_mount_or_bail "$S" "$M"
check "the refused files are still in .rejected after the remount" cmp "$T/xb" "$I/.rejected/b/x"
check "planted links and FIFOs are not shown" \
	test "$(ls "$I/.rejected" | grep -cE '^(c|link.dcm|fifo)$')" = 0
mkdir "$I/c"
cp "$T/xa" "$I/c/x" 2>/dev/null
check "a file refused from c/ does not go through the planted link c" \
	test "$(ls -A "$T/outside" | wc -l)" = 0
check "it is in .rejected (top level, since c cannot be a folder)" cmp "$T/xa" "$I/.rejected/x"
check "the link is still a link" test -L "$S/spool/.rejected/c"
rm -f "$S/spool/.rejected/c" "$S/spool/.rejected/link.dcm" "$S/spool/.rejected/fifo"
check "unmount" fs_umount "$M"

# No-change rsync of the whole remounted tree lists nothing.
fs_mount_or_bail "$S" "$M"
check "rsync -a of the whole mount" rsync -a "$M/" "$T/dest/"
check "unmount" fs_umount "$M"
fs_mount_or_bail "$S" "$M"
rsync -ai "$M/" "$T/dest/" >"$T/items" 2>&1
check "rsync -a again" test $? = 0
check "a no-change rsync -ai of the remounted tree lists nothing" test ! -s "$T/items"
head "$T/items" | diag
check "unmount" fs_umount "$M"
done_testing
