#!/bin/bash
# t0202-rsync-remount.t - a backup tool sees a stable tree: rsync -a copies
# the mount exactly (diff -r), inode numbers, sizes and mtimes are the same
# after a remount, a second rsync -a transfers nothing, and rsync -aH works.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
command -v rsync >/dev/null || skip_all "no rsync"

S=$T/store M=$T/mnt D=$T/dest
check "import the corpus" new_store "$S" "$SAMPLES"
fs_mount_or_bail "$S" "$M" -o ro
check "rsync -a copies the tree" rsync -a "$M/" "$D/"
check "diff -r finds no difference" diff -r "$M" "$D"
statlines() { (cd "$1" && find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%i %s %Y %n'); }
statlines "$M" >"$T/stat1"
check "unmount" fs_umount "$M"
fs_mount_or_bail "$S" "$M" -o ro
statlines "$M" >"$T/stat2"
check "inode, size and mtime of every entry survive the remount" cmp -s "$T/stat1" "$T/stat2"
diff "$T/stat1" "$T/stat2" | head | diag
rsync -a --itemize-changes "$M/" "$D/" >"$T/items"
check "a second rsync -a transfers no file" [ "$(grep -c '^>f' "$T/items")" = 0 ]
head "$T/items" | diag
check "rsync -aH copies the tree" rsync -aH "$M/" "$T/dest2/"
check "diff -r after rsync -aH" diff -r "$M" "$T/dest2"
check "unmount" fs_umount "$M"
done_testing
