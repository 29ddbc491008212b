#!/bin/bash
# audit.sh STORE [ROUNDS]: what -o audit costs.  For each mount kind (ro:
# zero-message opens; ro,audit; rw: opens kept; rw,audit), on a fresh mount
# each time: `ls -l` of the first series, `cat` of it twice, and opens/s of
# open + read 4 KiB + close over its files (tools/bench/opens.py).  Needs
# root (or fuse rights) and BUILD (default build/).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
S=$1 ROUNDS=${2:-3}
M=$(mktemp -d "${TMPDIR:-/tmp}/dcmfs-audit-bench.XXXXXX")
PID=
cleanup() {
	mountpoint -q "$M" && fusermount3 -u "$M"
	[ -n "$PID" ] && wait "$PID" 2>/dev/null
	rmdir "$M"
}
trap cleanup EXIT
mnt() {
	"$BUILD/dcmfs" "$S" "$M" -f -o "$1" &
	PID=$!
	for _ in $(seq 100); do mountpoint -q "$M" && return 0; sleep 0.1; done
	echo "audit.sh: the store did not mount" >&2
	exit 1
}
umnt() { fusermount3 -u "$M"; wait "$PID"; PID=; }
secs() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$1" "$2"; }
printf '%-9s %7s %8s %8s %10s %10s %10s %12s\n' mount 'ls -l' 'cat 1st' 'cat 2nd' 'cold op/s' 'warm op/s' 'best op/s' 'daemon us/op'
for ((r = 0; r < ROUNDS; r++)); do
	for o in ro ro,audit rw rw,audit; do
		mnt "$o"
		ser=$(dirname "$(find "$M/patients" -name '*.dcm' -print -quit)")
		umnt
		mnt "$o"
		t0=$(date +%s.%N); ls -l "$ser" >/dev/null; t1=$(date +%s.%N)
		cat "$ser"/*.dcm >/dev/null; t2=$(date +%s.%N)
		cat "$ser"/*.dcm >/dev/null; t3=$(date +%s.%N)
		umnt
		mnt "$o"
		read -r cold warm best cpu < <(python3 "$ROOT/tools/bench/opens.py" "$ser" 40 "$PID")
		umnt
		printf '%-9s %7s %8s %8s %10s %10s %10s %12s\n' "$o" "$(secs "$t0" "$t1")" \
			"$(secs "$t1" "$t2")" "$(secs "$t2" "$t3")" "$cold" "$warm" "$best" "$cpu"
	done
done
