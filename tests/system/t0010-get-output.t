#!/bin/bash
# `dcmfsctl get -o` (often run as root) must not write through links that
# another user planted in the output folder: not at the temporary name the
# old code used (FILE.dcmfs-tmp, created with O_TRUNC, following links),
# not at FILE itself (the link is replaced, not its target), and for
# `get --series -o FOLDER` not at FOLDER.  No temporary files are left.
. "$(dirname "$0")/lib/store-common.sh"
D=$(sample_dir)
[ -n "$D" ] || skip_all "no sample DICOM files"
SER=""
[ -n "$CORPUS" ] && SER=$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl
[ -n "$SER" ] && [ -d "$SER" ] || skip_all "no CT series in ../shared/corpus"
S=$TMP/store
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "$SER" >/dev/null 2>&1 || skip_all "import failed"
A=$SER/01.dcm
sop=$("$SCAN" "$A" | sed -n 's/^sop_instance_uid=//p')
series=$("$SCAN" "$A" | sed -n "s/^series_uid=//p")
[ -n "$sop" ] && [ -n "$series" ] || skip_all "dcmfs-scan gave no UIDs"

mkdir -p "$TMP/out"
printf 'precious\n' >"$TMP/victim"
cp "$TMP/victim" "$TMP/victim.orig"

# 1. A link at the old temporary name.
ln -s "$TMP/victim" "$TMP/out/f.dcm.dcmfs-tmp"
"$CTL" get "$S" "$sop" -o "$TMP/out/f.dcm" 2>"$TMP/err1"
rc=$?
[ $rc -eq 0 ] && cmp -s "$TMP/out/f.dcm" "$A" && ok "get -o writes the file (exit 0)" ||
	{ not_ok "get -o: exit $rc"; sed 's/^/# /' "$TMP/err1"; }
cmp -s "$TMP/victim" "$TMP/victim.orig" && ok "a link at FILE.dcmfs-tmp does not redirect the write" ||
	not_ok "the victim was overwritten through FILE.dcmfs-tmp"

# 2. A link at FILE itself: the link is replaced by the file.
ln -s "$TMP/victim" "$TMP/out/g.dcm"
"$CTL" get "$S" "$sop" -o "$TMP/out/g.dcm" 2>"$TMP/err2"
cmp -s "$TMP/victim" "$TMP/victim.orig" && [ ! -L "$TMP/out/g.dcm" ] && cmp -s "$TMP/out/g.dcm" "$A" &&
	ok "a link at FILE is replaced, its target untouched" || not_ok "link at FILE: $(cat "$TMP/err2")"

# 3. get --series -o FOLDER where FOLDER is a planted link to another folder.
mkdir -p "$TMP/elsewhere"
ln -s "$TMP/elsewhere" "$TMP/out/series"
"$CTL" get "$S" --series "$series" -o "$TMP/out/series" >/dev/null 2>"$TMP/err3"
rc=$?
[ $rc -eq 2 ] && [ -z "$(ls -A "$TMP/elsewhere")" ] &&
	ok "get --series refuses a FOLDER that is a link ($(cat "$TMP/err3"))" ||
	not_ok "get --series through a link: exit $rc, $(ls "$TMP/elsewhere" | wc -l) files written there"

# 4. get --series into a real folder with links planted at the old
# temporary names of every file.
mkdir -p "$TMP/out/real"
n=0
for f in "$SER"/*.dcm; do
	s=$("$SCAN" "$f" | sed -n 's/^sop_instance_uid=//p')
	ln -s "$TMP/victim" "$TMP/out/real/$s.dcm.dcmfs-tmp"
	n=$((n + 1))
done
"$CTL" get "$S" --series "$series" -o "$TMP/out/real" >/dev/null 2>"$TMP/err4"
rc=$?
cmp -s "$TMP/victim" "$TMP/victim.orig" && [ $rc -eq 0 ] &&
	ok "get --series: links at the old temporary names are not followed" ||
	{ not_ok "get --series with planted links: exit $rc"; sed 's/^/# /' "$TMP/err4"; }
[ "$(find "$TMP/out/real" -name '*.dcm' -type f | wc -l)" = "$n" ] &&
	ok "get --series wrote the $n files" || not_ok "$(ls "$TMP/out/real" | head)"
[ -z "$(find "$TMP/out" -name '.*dcmfs-*')" ] && ok "no temporary files are left" ||
	not_ok "temporary files left: $(find "$TMP/out" -name '.*dcmfs-*' | head -3)"

# 5. A failed get leaves no temporary file either.
"$CTL" get "$S" "$sop" -o "$TMP/out" >/dev/null 2>"$TMP/err5"
rc=$?
[ $rc -eq 2 ] && [ -z "$(find "$TMP/out" -maxdepth 1 -name '.*dcmfs-*')" ] &&
	ok "get -o onto a folder fails (exit 2) and leaves no temporary file" ||
	not_ok "get -o FOLDER: exit $rc, $(cat "$TMP/err5")"

# 6. Numbers are numbers: --version abc, 0 or 1abc is a usage error, not the
# current version.
for v in abc 0 1abc -1; do
	"$CTL" get "$S" "$sop" --version "$v" >"$TMP/out6" 2>"$TMP/err6"
	rc=$?
	[ $rc -eq 2 ] && [ ! -s "$TMP/out6" ] && grep -q "needs a number" "$TMP/err6" &&
		ok "get --version $v is a usage error (exit 2), nothing written" ||
		not_ok "get --version $v: exit $rc, $(head -c 200 "$TMP/err6")"
done
done_testing
