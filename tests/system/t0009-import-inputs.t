#!/bin/bash
# What import does with inputs that are not plain files and folders: FIFOs,
# sockets and symbolic links inside a folder are listed as skipped (a FIFO
# used to hang the import for ever), --follow-symlinks follows links and
# cuts loops, a link named on the command line is followed, a missing PATH
# is a usage error before anything is imported, thread creation failures end
# the import cleanly, and the progress thread (on a terminal) ends cleanly.
. "$(dirname "$0")/lib/common.sh"
D=$SAMPLES
[ -n "$D" ] || skip_all "no sample DICOM files"
# Two readable DICOM files from the sample data.
mapfile -t F < <(find "$D" -name '*.dcm' -size +10k -size -3M | sort | head -40)
[ ${#F[@]} -ge 2 ] || skip_all "not enough sample files"
A=${F[0]} B=${F[1]}
# summary FIELD FILE: a count from the summary line ("new", "skipped", ...)
summary() { sed -nE "s/.* ([0-9]+) $1[,;].*/\1/p" "$2" | head -1; }

HANG_SECS=30   # seconds before a hung import counts as hung

# 1. A FIFO and a socket inside a folder: skipped, the rest imported, exit 0.
mkdir -p "$T/src1"
cp "$A" "$T/src1/a.dcm"
mkfifo "$T/src1/pipe"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/src1/sock"
S=$T/s1
"$CTL" init "$S" >/dev/null
timeout $HANG_SECS "$CTL" import "$S" "$T/src1" >"$T/out1" 2>"$T/err1"
rc=$?
[ $rc -eq 0 ] && ok "a folder with a FIFO and a socket: import ends, exit 0" ||
	not_ok "a folder with a FIFO and a socket: exit $rc (124 = hung)"
grep -q "skipped '$T/src1/pipe': a FIFO" "$T/err1" && ok "the FIFO is listed as skipped" ||
	{ not_ok "the FIFO is listed as skipped"; sed 's/^/# /' "$T/err1" "$T/out1"; }
grep -q "skipped '$T/src1/sock': a socket" "$T/err1" && ok "the socket is listed as skipped" ||
	not_ok "the socket is listed as skipped"
[ "$(summary skipped "$T/out1")" = 2 ] && [ "$(summary new "$T/out1")" = 1 ] &&
	ok "summary: 1 new, 2 skipped" || not_ok "summary: $(cat "$T/out1")"

# 2. A FIFO named on the command line: skipped; nothing imported, so exit 1.
timeout $HANG_SECS "$CTL" import "$S" "$T/src1/pipe" >"$T/out2" 2>"$T/err2"
rc=$?
[ $rc -eq 1 ] && grep -q "skipped '$T/src1/pipe': a FIFO" "$T/err2" &&
	ok "a FIFO on the command line is skipped (exit 1: nothing imported)" ||
	not_ok "a FIFO on the command line: exit $rc, $(cat "$T/err2")"

# 3. Links inside a folder: listed as skipped by default; exit 0.
mkdir -p "$T/other" "$T/src3"
cp "$B" "$T/other/b.dcm"
cp "$A" "$T/src3/a.dcm"
ln -s "$T/other/b.dcm" "$T/src3/link-file"
ln -s "$T/other" "$T/src3/link-dir"
ln -s ../src3 "$T/src3/loop"
ln -s "$T/nowhere" "$T/src3/dangling"
S=$T/s3
"$CTL" init "$S" >/dev/null
timeout $HANG_SECS "$CTL" import "$S" "$T/src3" >"$T/out3" 2>"$T/err3"
rc=$?
[ $rc -eq 0 ] && ok "links in a folder: exit 0" || not_ok "links in a folder: exit $rc"
[ "$(grep -c "skipped '$T/src3/.*': a symbolic link" "$T/err3")" = 4 ] &&
	ok "each of the 4 links is listed as skipped" || { not_ok "links listed"; sed 's/^/# /' "$T/err3"; }
[ "$(summary skipped "$T/out3")" = 4 ] && [ "$(instances "$S")" = 1 ] &&
	ok "summary says 4 skipped; only the plain file is stored" || not_ok "summary: $(cat "$T/out3")"

# 4. --follow-symlinks: the linked file and folder are imported; the loop
# and the dangling link are skipped; the walk ends.
S=$T/s4
"$CTL" init "$S" >/dev/null
timeout $HANG_SECS "$CTL" import --follow-symlinks "$S" "$T/src3" >"$T/out4" 2>"$T/err4"
rc=$?
[ $rc -eq 0 ] && ok "--follow-symlinks with a loop ends, exit 0" || not_ok "--follow-symlinks: exit $rc"
grep -q "skipped '$T/src3/loop': .*loop" "$T/err4" && ok "the loop is cut and listed" ||
	{ not_ok "the loop is cut and listed"; sed 's/^/# /' "$T/err4"; }
grep -q "skipped '$T/src3/dangling'" "$T/err4" && ok "the dangling link is listed" ||
	not_ok "the dangling link is listed"
[ "$(instances "$S")" = 2 ] && [ "$(summary skipped "$T/out4")" = 2 ] &&
	ok "both files are stored (linked ones found through the links)" || not_ok "summary: $(cat "$T/out4")"

# 5. A link to a folder named on the command line is followed.
ln -s "$T/other" "$T/other-link"
S=$T/s5
"$CTL" init "$S" >/dev/null
"$CTL" import "$S" "$T/other-link" >"$T/out5" 2>&1
rc=$?
[ $rc -eq 0 ] && [ "$(instances "$S")" = 1 ] && ok "a link to a folder on the command line is followed" ||
	not_ok "link to a folder on the command line: exit $rc, $(cat "$T/out5")"

# 6. A missing PATH: exit 2, one line naming it, nothing imported.
S=$T/s6
"$CTL" init "$S" >/dev/null
"$CTL" import "$S" "$A" "$T/no-such-file" >"$T/out6" 2>"$T/err6"
rc=$?
[ $rc -eq 2 ] && ok "a missing PATH is a usage error (exit 2)" || not_ok "missing PATH: exit $rc"
[ "$(wc -l <"$T/err6")" = 1 ] && grep -q "'$T/no-such-file'" "$T/err6" &&
	ok "one line naming it: $(cat "$T/err6")" || { not_ok "the message"; sed 's/^/# /' "$T/err6"; }
[ "$(instances "$S")" = 0 ] && ok "nothing was imported" || not_ok "$(instances "$S") imported"

# 7. Threads that cannot be created: a clean error, not a hang or a crash.
case "$BUILD" in
*sanitize*) skip "thread limits under AddressSanitizer" ;;
*)
	S=$T/s7
	"$CTL" init "$S" >/dev/null
	(ulimit -v 600000; exec timeout $HANG_SECS "$CTL" import -q -j 200 "$S" "$T/src1/a.dcm") >"$T/out7" 2>"$T/err7"
	rc=$?
	[ $rc -eq 2 ] && grep -q "cannot start import threads" "$T/err7" &&
		ok "thread creation failing: exit 2 with a message ($(cat "$T/err7"))" ||
		{ not_ok "thread creation failing: exit $rc"; sed 's/^/# /' "$T/err7"; }
	;;
esac

# 8. On a terminal (progress line shown), the import ends and summarises.
S=$T/s8
"$CTL" init "$S" >/dev/null
timeout $HANG_SECS script -qec "'$CTL' import '$S' '$D'" /dev/null >"$T/out8" 2>&1
rc=$?
[ $rc -le 1 ] && grep -q "imported: [0-9]* new" <(tr '\r' '\n' <"$T/out8") &&
	ok "import on a terminal ends with its summary (exit $rc)" ||
	{ not_ok "import on a terminal: exit $rc"; tail -3 "$T/out8" | sed 's/^/# /'; }
check "verify is clean" "$CTL" verify "$S"
done_testing
