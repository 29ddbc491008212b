#!/bin/bash
# t0622-ino32.t - -o ino32: a 32-bit program built without large-file
# support walks the mount (stat of every entry, readdir of every folder)
# without EOVERFLOW, which it gets without ino32; every st_ino and d_ino is
# below 2^32, distinct folders and files keep distinct numbers, a file
# keeps one number in /patients and the views, numbers survive a remount;
# a store whose ids do not fit is refused at mount with one line.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"

S=$T/store M=$T/mnt
check "import the corpus" new_store "$S" "$SAMPLES"

# The 32-bit walker (skipped, with the reason, without gcc -m32).
cat >"$T/walk32.c" <<'EOF'
/* Walk a tree with 32-bit stat/readdir (no _FILE_OFFSET_BITS=64): print
 * each path that fails, with its errno; exit 1 if any did. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
static int bad;
static void walk(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		printf("stat %s: %s\n", path, strerror(errno));
		bad = 1;
		return;
	}
	if (!S_ISDIR(st.st_mode))
		return;
	DIR *d = opendir(path);
	if (!d) {
		printf("opendir %s: %s\n", path, strerror(errno));
		bad = 1;
		return;
	}
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		walk(sub);
		errno = 0;
	}
	if (errno) {
		printf("readdir %s: %s\n", path, strerror(errno));
		bad = 1;
	}
	closedir(d);
}
int main(int argc, char **argv)
{
	(void)argc;
	walk(argv[1]);
	return bad;
}
EOF
HAVE32=0
gcc -m32 -o "$T/walk32" "$T/walk32.c" 2>"$T/gcc.log" && HAVE32=1

fs_mount_or_bail "$S" "$M"
if [ $HAVE32 = 1 ]; then
	"$T/walk32" "$M/patients" >"$T/walk.out" 2>&1
	check "without ino32 a 32-bit stat fails with EOVERFLOW" grep -q "Value too large" "$T/walk.out"
else
	skip "no gcc -m32 (gcc-multilib): $(head -1 "$T/gcc.log")"
fi
check "unmount" fs_umount "$M"

fs_mount_or_bail "$S" "$M" -o ino32
if [ $HAVE32 = 1 ]; then
	check "with ino32 a 32-bit program walks the whole mount" "$T/walk32" "$M"
else
	skip "no gcc -m32 (gcc-multilib)"
fi
find "$M" -path "$M/incoming" -prune -o -printf '%i %y %p\n' >"$T/ino" 2>"$T/find.err"
check "find walks the mount" test ! -s "$T/find.err"
check "every st_ino is below 2^32" awk '$1 >= 4294967296 { print; bad = 1 } END { exit bad }' "$T/ino"
# d_ino as readdir gives it (ls -i without -l uses d_ino)
ls -iaR "$M/patients" "$M/by-date" >"$T/dino" 2>&1
check "every d_ino is below 2^32" awk '$1 ~ /^[0-9]+$/ && $1 >= 4294967296 { print; bad = 1 } END { exit bad }' "$T/dino"
# distinct entries of /patients: one number each
check "entries of /patients have distinct numbers" \
	test "$(grep " $M/patients" "$T/ino" | awk '{print $1}' | sort -u | wc -l)" = "$(grep -c " $M/patients" "$T/ino")"
check "folders of the views have numbers no other entry has" \
	test "$(awk '$2 == "d"' "$T/ino" | awk '{print $1}' | sort | uniq -d | wc -l)" = 0
check "a file has one number in /patients and in the views" \
	test "$(awk '$2 == "f" && $3 !~ /versions|quarantine/ {print $1}' "$T/ino" | sort -u | wc -l)" = \
	"$(grep -c " f $M/patients" "$T/ino")"
f=$(find "$M/patients" -type f | head -1)
"$CTL" get "$S" "$(basename "$f" .dcm)" -o "$T/got.dcm" >/dev/null 2>&1 || helper_failed "dcmfsctl get"
check "files read through ino32 are the stored bytes" cmp "$f" "$T/got.dcm"
check "unmount" fs_umount "$M"
fs_mount_or_bail "$S" "$M" -o ino32
find "$M" -path "$M/incoming" -prune -o -printf '%i %y %p\n' >"$T/ino2" 2>/dev/null
check "numbers survive a remount" cmp -s "$T/ino" "$T/ino2"
check "unmount" fs_umount "$M"

# A store whose ids do not fit is refused at mount.
catalog_sql_write "$S" "UPDATE counters SET next=200000000 WHERE kind='instance'" ||
	helper_failed "catalogue update"
mkdir -p "$M"
"$DCMFS" "$S" "$M" -o ino32 >"$T/refuse.out" 2>&1
st=$?
check "mount -o ino32 of a store with ids past 2^27 fails" test "$st" -ne 0 -a "$st" -lt 128
check "with one line that says why" eval 'test "$(wc -l <"$T/refuse.out")" = 1 && grep -q "ino32" "$T/refuse.out"'
diag <"$T/refuse.out"
check "and mounts nothing" fails mountpoint -q "$M"
mountpoint -q "$M" && fusermount3 -u "$M"
done_testing
