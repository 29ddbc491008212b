#!/bin/bash
# `dcmfsctl get -o` (often run as root) must not write through links that
# another user planted in the output folder: not at the temporary name the
# old code used (FILE.dcmfs-tmp, created with O_TRUNC, following links),
# not at FILE itself (the link is replaced, not its target), and for
# `get --series -o FOLDER` not at FOLDER.  No temporary files are left.
. "$(dirname "$0")/lib/common.sh"
D=$SAMPLES
[ -n "$D" ] || skip_all "no sample DICOM files"
SER=""
[ -n "$CORPUS" ] && SER=$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl
[ -n "$SER" ] && [ -d "$SER" ] || skip_all "no CT series in ../shared/corpus"
S=$T/store
"$CTL" init "$S" >/dev/null
check "import a CT series" "$CTL" import -q "$S" "$SER"
A=$SER/01.dcm
sop=$("$SCAN" "$A" | sed -n 's/^sop_instance_uid=//p')
series=$("$SCAN" "$A" | sed -n "s/^series_uid=//p")
[ -n "$sop" ] && [ -n "$series" ] && ok "dcmfs-scan gives the UIDs" || { not_ok "dcmfs-scan gave no UIDs"; done_testing; }

mkdir -p "$T/out"
printf 'precious\n' >"$T/victim"
cp "$T/victim" "$T/victim.orig"

# 1. A link at the old temporary name.
ln -s "$T/victim" "$T/out/f.dcm.dcmfs-tmp"
"$CTL" get "$S" "$sop" -o "$T/out/f.dcm" 2>"$T/err1"
rc=$?
[ $rc -eq 0 ] && cmp -s "$T/out/f.dcm" "$A" && ok "get -o writes the file (exit 0)" ||
	{ not_ok "get -o: exit $rc"; sed 's/^/# /' "$T/err1"; }
cmp -s "$T/victim" "$T/victim.orig" && ok "a link at FILE.dcmfs-tmp does not redirect the write" ||
	not_ok "the victim was overwritten through FILE.dcmfs-tmp"

# 2. A link at FILE itself: the link is replaced by the file.
ln -s "$T/victim" "$T/out/g.dcm"
"$CTL" get "$S" "$sop" -o "$T/out/g.dcm" 2>"$T/err2"
cmp -s "$T/victim" "$T/victim.orig" && [ ! -L "$T/out/g.dcm" ] && cmp -s "$T/out/g.dcm" "$A" &&
	ok "a link at FILE is replaced, its target untouched" || not_ok "link at FILE: $(cat "$T/err2")"

# 3. get --series -o FOLDER where FOLDER is a planted link to another folder.
mkdir -p "$T/elsewhere"
ln -s "$T/elsewhere" "$T/out/series"
"$CTL" get "$S" --series "$series" -o "$T/out/series" >/dev/null 2>"$T/err3"
rc=$?
[ $rc -eq 2 ] && [ -z "$(ls -A "$T/elsewhere")" ] &&
	ok "get --series refuses a FOLDER that is a link ($(cat "$T/err3"))" ||
	not_ok "get --series through a link: exit $rc, $(ls "$T/elsewhere" | wc -l) files written there"

# 4. get --series into a real folder with links planted at the old
# temporary names of every file.
mkdir -p "$T/out/real"
n=0
for f in "$SER"/*.dcm; do
	s=$("$SCAN" "$f" | sed -n 's/^sop_instance_uid=//p')
	ln -s "$T/victim" "$T/out/real/$s.dcm.dcmfs-tmp"
	n=$((n + 1))
done
"$CTL" get "$S" --series "$series" -o "$T/out/real" >/dev/null 2>"$T/err4"
rc=$?
cmp -s "$T/victim" "$T/victim.orig" && [ $rc -eq 0 ] &&
	ok "get --series: links at the old temporary names are not followed" ||
	{ not_ok "get --series with planted links: exit $rc"; sed 's/^/# /' "$T/err4"; }
[ "$(find "$T/out/real" -name '*.dcm' -type f | wc -l)" = "$n" ] &&
	ok "get --series wrote the $n files" || not_ok "$(ls "$T/out/real" | head)"
[ -z "$(find "$T/out" -name '.*dcmfs-*')" ] && ok "no temporary files are left" ||
	not_ok "temporary files left: $(find "$T/out" -name '.*dcmfs-*' | head -3)"

# 5. A failed get leaves no temporary file either.
"$CTL" get "$S" "$sop" -o "$T/out" >/dev/null 2>"$T/err5"
rc=$?
[ $rc -eq 2 ] && [ -z "$(find "$T/out" -maxdepth 1 -name '.*dcmfs-*')" ] &&
	ok "get -o onto a folder fails (exit 2) and leaves no temporary file" ||
	not_ok "get -o FOLDER: exit $rc, $(cat "$T/err5")"

# 6. Numbers are numbers: --version abc, 0 or 1abc is a usage error, not the
# current version.
for v in abc 0 1abc -1; do
	"$CTL" get "$S" "$sop" --version "$v" >"$T/out6" 2>"$T/err6"
	rc=$?
	[ $rc -eq 2 ] && [ ! -s "$T/out6" ] && grep -q "needs a number" "$T/err6" &&
		ok "get --version $v is a usage error (exit 2), nothing written" ||
		not_ok "get --version $v: exit $rc, $(head -c 200 "$T/err6")"
done
# 7. A device or a FIFO as FILE is written into, never replaced: as root,
# 'get -o /dev/null' renamed a regular file over the machine's /dev/null.
if mknod "$T/null" c 1 3 2>/dev/null; then
	"$CTL" get "$S" "$sop" -o "$T/null" 2>"$T/err7"
	rc=$?
	[ $rc -eq 0 ] && [ -c "$T/null" ] && ok "get -o onto a character device writes into it, which stays a device" ||
		not_ok "get -o DEVICE: exit $rc, $([ -c "$T/null" ] || echo 'replaced by a file'), $(cat "$T/err7")"
else
	skip "mknod is not allowed here: no device to write into"
fi
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/from-fifo" & reader=$!
"$CTL" get "$S" "$sop" -o "$T/fifo" 2>"$T/err7"
rc=$?
wait "$reader"
[ $rc -eq 0 ] && [ -p "$T/fifo" ] && cmp -s "$T/from-fifo" "$A" &&
	ok "get -o onto a FIFO writes the file's bytes into it" ||
	not_ok "get -o FIFO: exit $rc, $(cat "$T/err7")"
done_testing
