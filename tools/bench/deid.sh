#!/bin/bash
# tools/bench/deid.sh - what a de-identified share costs: rows of
# tools/bench.sh's section "Shares", also runnable alone.  Prints one TSV
# row a line:
#   metric <TAB> dcmfs <TAB> reference <TAB> unit <TAB> goal <TAB> reached
#
#   deid.sh WORK CT_SERIES_FOLDER RUNS
#       Makes a 300-instance CT series in WORK (the folder's slices again
#       and again, each with its own SOPInstanceUID: pydicom), imports it,
#       defines a plain share and a de-identified share of it, and measures
#       on fresh mounts: `ls -l` of the series in the de-identified share
#       with the header cache emptied, then with it kept (a second mount);
#       the series read (1 MiB reads, tools/bench/seqread.py) through the
#       de-identified share, first read (header cache emptied: every
#       rewrite is in it) and second read, against the plain share.
#       Median of RUNS.
#
# Needs BUILD (the build folder) and python3-pydicom.  Every mount it makes
# is unmounted, every daemon it starts is reaped, also on failure.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CTL=$BUILD/dcmfsctl DAEMON=$BUILD/dcmfs
W=$1 SRC=$2 RUNS=${3:-3}
N=300
PY=/usr/bin/python3    # Debian's, which has python3-pydicom

DPID= MNT=
cleanup() {
	if [ -n "$MNT" ] && mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
	fi
	[ -n "$DPID" ] && { kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true; }
	return 0
}
trap cleanup EXIT
mnt() {
	MNT=$2
	mkdir -p "$MNT"
	"$DAEMON" "$1" "$MNT" -f -o "share=$3" &
	DPID=$!
	for _ in $(seq 400); do mountpoint -q "$MNT" && return 0; kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
	echo "deid.sh: mount of share $3 failed" >&2
	return 1
}
umnt() {
	fusermount3 -u "$MNT"
	wait "$DPID" 2>/dev/null || true
	DPID= MNT=
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
yn() { awk "BEGIN{exit !($1)}" && echo reached || echo "not reached"; }
tsv() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@"; }
now() { date +%s.%N; }

rm -rf "$W"
mkdir -p "$W/src"
"$PY" - "$SRC" "$W/src" "$N" <<'PY'
import glob, os, sys
import pydicom
from pydicom.uid import generate_uid
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
slices = [pydicom.dcmread(f) for f in sorted(glob.glob(os.path.join(src, '*'))) if os.path.isfile(f)]
for i in range(n):
    d = slices[i % len(slices)]
    d.SOPInstanceUID = generate_uid(entropy_srcs=['dcmfs-bench-deid', str(i)])
    d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
    d.InstanceNumber = i + 1
    d.save_as(os.path.join(out, '%04d.dcm' % i))
PY
S=$W/store M=$W/mnt
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "$W/src" >/dev/null
"$CTL" share create "$S" plain --all >/dev/null
"$CTL" share create "$S" anon --all --deidentify >/dev/null
# The series folder in each share (one series in the store).
mnt "$S" "$M" anon
ASER=$(dirname "$(find "$M/patients" -name '*.dcm' | head -1)")
ASER=${ASER#"$M"/}
umnt
mnt "$S" "$M" plain
PSER=$(dirname "$(find "$M/patients" -name '*.dcm' | head -1)")
PSER=${PSER#"$M"/}
umnt

cold=() warm=() a1=() a2=() p1=() p2=()
for _ in $(seq "$RUNS"); do
	rm -rf "$S/shares/.deid"
	mnt "$S" "$M" anon
	t0=$(now); ls -l "$M/$ASER" >/dev/null; t1=$(now)
	cold+=("$(awk "BEGIN{print $t1 - $t0}")")
	umnt
	mnt "$S" "$M" anon
	t0=$(now); ls -l "$M/$ASER" >/dev/null; t1=$(now)
	warm+=("$(awk "BEGIN{print $t1 - $t0}")")
	umnt
	rm -rf "$S/shares/.deid"
	mnt "$S" "$M" anon
	ls -1 "$M/$ASER" | sed "s|^|$M/$ASER/|" > "$W/anon.list"
	a1+=("$("$PY" "$ROOT/tools/bench/seqread.py" "$W/anon.list" | cut -d' ' -f3)")
	a2+=("$("$PY" "$ROOT/tools/bench/seqread.py" "$W/anon.list" | cut -d' ' -f3)")
	umnt
	mnt "$S" "$M" plain
	ls -1 "$M/$PSER" | sed "s|^|$M/$PSER/|" > "$W/plain.list"
	p1+=("$("$PY" "$ROOT/tools/bench/seqread.py" "$W/plain.list" | cut -d' ' -f3)")
	p2+=("$("$PY" "$ROOT/tools/bench/seqread.py" "$W/plain.list" | cut -d' ' -f3)")
	umnt
done
c=$(median "${cold[@]}") w=$(median "${warm[@]}")
tsv "de-identified share: ls -l of a $N-instance series, fresh mount, header cache empty" "$c" "-" "s" "< 0.5" "$(yn "$c < 0.5")"
tsv "de-identified share: ls -l of a $N-instance series, fresh mount, header cache kept" "$w" "-" "s" "< 0.5" "$(yn "$w < 0.5")"
x=$(median "${a1[@]}") y=$(median "${p1[@]}")
tsv "de-identified vs plain share: CT series first read (header cache empty)" "$x" "$y" "MB/s" ">= 0.7x" "$(yn "$x >= 0.7 * $y") ($(awk "BEGIN{printf \"%.2f\", $x / $y}")x)"
x=$(median "${a2[@]}") y=$(median "${p2[@]}")
tsv "de-identified vs plain share: CT series second read" "$x" "$y" "MB/s" ">= 0.7x" "$(yn "$x >= 0.7 * $y") ($(awk "BEGIN{printf \"%.2f\", $x / $y}")x)"
rm -rf "$W"
