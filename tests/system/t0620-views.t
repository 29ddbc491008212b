#!/bin/bash
# t0620-views.t - the readable views /by-date and /by-accession: every file
# of /patients shows once in each, with the same inode number and bytes
# (rsync -aH copies it once); a study is found under its date and its
# accession, undated studies under /by-date/unknown, studies without an
# accession under /by-accession/%; two studies that would get one name get
# two; a study imported or removed elsewhere shows and leaves within 2 s;
# the views are read-only, and a share mount has none.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
command -v dcmodify >/dev/null || skip_all "no dcmodify (dcmtk)"
command -v rsync >/dev/null || skip_all "no rsync"
[ -n "$CT_SERIES" ] || skip_all "no CT series in the corpus"

S=$T/store M=$T/mnt
# Two studies with the same patient, name and description (they would get
# one folder name), dated and with one accession; one without date or
# accession.
seed=$(ls "$CT_SERIES"/*.dcm | head -1)
mkdir -p "$T/syn"
mk() {  # mk OUT STUDYUID DATE ACCESSION
	cp "$seed" "$1" && chmod u+w "$1" &&
		dcmodify -nb -m "(0010,0020)=VIEWPAT" -m "(0010,0010)=DOE^JANE" \
			-m "(0008,1030)=HEAD CT" -m "(0020,000D)=$2" -m "(0020,000E)=$2.1" \
			-m "(0008,0018)=$2.1.1" -m "(0008,0020)=$3" -m "(0008,0050)=$4" "$1" >/dev/null 2>&1
}
mk "$T/syn/a.dcm" 1.2.826.0.1.3680043.9.77.1 20210305 ACC-1 &&
	mk "$T/syn/b.dcm" 1.2.826.0.1.3680043.9.77.2 20210305 ACC-1 &&
	mk "$T/syn/c.dcm" 1.2.826.0.1.3680043.9.77.3 "" "" || skip_all "dcmodify failed"
check "import the corpus and three made studies" new_store "$S" "$SAMPLES" "$T/syn"
fs_mount_or_bail "$S" "$M"

check "/ lists by-date and by-accession" test "$(ls "$M" | grep -c '^by-')" = 2
np=$(find "$M/patients" -type f | wc -l)
check "/patients has files ($np)" test "$np" -gt 3
for v in by-date by-accession; do
	check "/$v shows each file of /patients once" test "$(find "$M/$v" -type f | wc -l)" = "$np"
done
# inode -> size of every file of /patients, then each view file must be one
inodes() { find "$M/$1" -type f -printf '%i %s\n' | LC_ALL=C sort; }
inodes patients >"$T/pat.ino"
for v in by-date by-accession; do
	inodes $v >"$T/$v.ino"
	check "every file of /$v is a file of /patients (inode and size)" cmp -s "$T/pat.ino" "$T/$v.ino"
done
check "files count their three names (nlink 3)" \
	test "$(find "$M/patients" -type f -links 3 | wc -l)" = "$np"

d="$M/by-date/2021/03/05"
check "the two made studies are in /by-date/2021/03/05" test "$(ls "$d" | wc -l)" = 2
check "one is VIEWPAT_DOE%5EJANE_HEAD%20CT" test -d "$d/VIEWPAT_DOE%5EJANE_HEAD%20CT"
check "the other has its row id after ~" eval 'ls "$d" | grep -Eq "^VIEWPAT_DOE%5EJANE_HEAD%20CT~[0-9]+$"'
check "both are in /by-accession/ACC-1" test "$(ls "$M/by-accession/ACC-1" | wc -l)" = 2
check "the undated study is in /by-date/unknown" test -d "$M/by-date/unknown/VIEWPAT_DOE%5EJANE_HEAD%20CT"
check "the study without accession is in /by-accession/%" \
	test -d "$M/by-accession/%/VIEWPAT_DOE%5EJANE_HEAD%20CT"
f=$(find "$d" -type f | head -1)
check "a view file reads as its /patients file" \
	cmp "$f" "$(find "$M/patients" -type f -inum "$(stat -c %i "$f")")"
check "a missing year is ENOENT" fails stat "$M/by-date/1888"
check "a bad year name is ENOENT" fails stat "$M/by-date/20x1"
check "a missing accession is ENOENT" fails stat "$M/by-accession/NO-SUCH"
check "unlink in a view is refused" fails rm -f "$f"
check "and the file is still there" test -f "$f"
check "mkdir in a view is refused" fails mkdir "$M/by-date/1999"
check "rmdir in a view is refused" fails rmdir "$M/by-accession/%"

# rsync -aH of the whole mount copies each file once: the copies are hard
# links of one another.
check "rsync -aH of the mount" rsync -aH --exclude=/incoming "$M/" "$T/dest/"
check "the copy's files have three names each" \
	test "$(find "$T/dest/patients" -type f -links 3 | wc -l)" = "$np"
check "diff -r of the copy's views" diff -r "$M/by-date" "$T/dest/by-date"

# Imports and removals elsewhere show within 2 s.
within_2s() { local i; for ((i = 0; i < 20; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
mk "$T/syn2.dcm" 1.2.826.0.1.3680043.9.77.4 19010102 ACC-NEW || helper_failed "dcmodify"
"$CTL" import -q "$S" "$T/syn2.dcm" >/dev/null 2>&1
check "a study imported elsewhere shows under its date within 2 s" \
	within_2s test -d "$M/by-date/1901/01/02/VIEWPAT_DOE%5EJANE_HEAD%20CT"
check "and under its accession" within_2s test -d "$M/by-accession/ACC-NEW"
"$CTL" rm "$S" --study 1.2.826.0.1.3680043.9.77.4 >/dev/null
gone() { ! stat "$1" >/dev/null 2>&1; }
check "a study removed elsewhere leaves its date within 2 s" within_2s gone "$M/by-date/1901"
check "and its accession" within_2s gone "$M/by-accession/ACC-NEW"
cp "$T/syn2.dcm" "$M/incoming/x.dcm"
check "a study stored through /incoming shows in the view" \
	within_2s test -d "$M/by-accession/ACC-NEW"
check "unmount" fs_umount "$M"

# A read-only mount has the views; a share mount has none.
fs_mount_or_bail "$S" "$M" -o ro
check "a read-only mount shows the views" test -d "$M/by-date/2021/03/05"
check "unmount" fs_umount "$M"
"$CTL" share create "$S" viewshare --patient VIEWPAT >/dev/null 2>&1 || helper_failed "share create"
fs_mount_or_bail "$S" "$M" -o share=viewshare
check "a share mount lists patients alone" test "$(ls "$M")" = patients
check "and has no by-date" fails stat "$M/by-date"
check "unmount" fs_umount "$M"
done_testing
