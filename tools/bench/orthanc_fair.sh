#!/bin/bash
# tools/bench/orthanc_fair.sh - Orthanc at its best: ingest of one list of
# files with 1, 2 and 4 concurrent clients, compression off and on.  Run it
# inside `unshare -n` (a private network namespace with only lo), as
#   unshare -n tools/bench/orthanc_fair.sh WORK LIST RUNS
# LIST: a file of paths (one a line).  For each StorageCompression (false,
# true), client kind and client count, a fresh Orthanc (own configuration,
# storage and index under WORK, RemoteAccessAllowed false) takes the whole
# LIST, split round-robin among the clients, which run at the same time:
#   curl      one `curl -K` per client: every file POSTed to /instances over
#             one keep-alive connection, "Expect:" off (no 100-continue wait)
#   storescu  one dcmtk `storescu -R -nh` per client: one association, C-STORE
#             of every file (Orthanc's DICOM server on, any AET may store)
#   python    tools/bench/orthanc_load.py (one keep-alive http.client
#             connection): the client bench.sh section 6 uses, for comparison
# Each run is timed from the clients' start to the last one's end; best of
# RUNS.  The dcmfs column: `dcmfsctl import` of the same LIST into a fresh
# store (BUILD/dcmfsctl; best of RUNS).  Prints one TSV row a line (metric,
# dcmfs, Orthanc, unit, goal, reached), with the settings in the metric so
# that a reader can rerun it.
# Orthanc is stopped by its pid; WORK is removed at the end.
set -euo pipefail
export LC_ALL=C
W=$1 LIST=$2 RUNS=$3
here=$(cd "$(dirname "$0")" && pwd)
[ "$(ip -o link show | wc -l)" = 1 ] || { echo "orthanc_fair.sh: not in a private network namespace; refusing" >&2; exit 2; }
command -v Orthanc >/dev/null || { echo "orthanc_fair.sh: no Orthanc (Debian package orthanc)" >&2; exit 2; }
ip link set lo up
PORT=18043 DPORT=14243
OPID=
stop() {
	[ -n "$OPID" ] || return 0
	kill "$OPID" 2>/dev/null || true
	wait "$OPID" 2>/dev/null || true
	OPID=
}
trap 'stop; rm -rf "$W"' EXIT
now() { date +%s.%N; }
calc() { awk "BEGIN{printf \"%.${2:-2}f\", $1}"; }
tsv() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@"; }

# start COMPRESSION: a fresh Orthanc, OPID its pid
start() {
	rm -rf "$W/o"
	mkdir -p "$W/o/storage" "$W/o/index"
	cat > "$W/o/orthanc.json" <<JSON
{
  "Name": "dcmfs-bench-fair",
  "StorageDirectory": "$W/o/storage",
  "IndexDirectory": "$W/o/index",
  "StorageCompression": $1,
  "HttpPort": $PORT,
  "DicomServerEnabled": true,
  "DicomAet": "ORTHANC",
  "DicomPort": $DPORT,
  "DicomCheckCalledAet": false,
  "DicomAlwaysAllowStore": true,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "Plugins": [],
  "SaveJobs": false,
  "LimitFindResults": 0
}
JSON
	Orthanc "$W/o/orthanc.json" > "$W/o/orthanc.log" 2>&1 &
	OPID=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$PORT/system" >/dev/null && return 0
		sleep 0.1
	done
	echo "orthanc_fair.sh: Orthanc did not start (see $W/o/orthanc.log)" >&2
	return 1
}
instances() { curl -sf "http://127.0.0.1:$PORT/statistics" | python3 -c 'import json,sys; print(json.load(sys.stdin)["CountInstances"])'; }

# shards N: $W/shard.<i> for i in 1..N, LIST dealt round-robin
shards() {
	rm -f "$W"/shard.*
	awk -v n="$1" -v d="$W" '{print > (d "/shard." (NR - 1) % n + 1)}' "$LIST"
}
# client KIND I: upload shard I
client() {
	local s=$W/shard.$2
	case $1 in
	curl)
		awk -v u="http://127.0.0.1:$PORT/instances" '{
			gsub(/\\/, "\\\\"); gsub(/"/, "\\\"")
			if (NR > 1) print "next"
			printf "url = \"%s\"\ndata-binary = \"@%s\"\nheader = \"Content-Type: application/dicom\"\nheader = \"Expect:\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", u, $0
		}' "$s" > "$s.curl"
		curl -s -K "$s.curl" > "$s.codes" ;;
	storescu)
		xargs -d '\n' -a "$s" storescu -R -nh -aet BENCH -aec ORTHANC 127.0.0.1 "$DPORT" > "$s.log" 2>&1 || true ;;
	python)
		python3 "$here/orthanc_load.py" "$PORT" upload "$s" > "$s.out" ;;
	esac
}

mkdir -p "$W"
files=$(wc -l < "$LIST")
bytes=$(xargs -d '\n' -a "$LIST" cat | wc -c)
ver=$(Orthanc --version 2>/dev/null | sed -n 1p)
CTL=${BUILD:-$here/../../build}/dcmfsctl
dcmfs=0
for r in $(seq "$RUNS"); do
	rm -rf "$W/store"
	"$CTL" init "$W/store" >/dev/null
	a=$(now)
	xargs -d '\n' -a "$LIST" "$CTL" import -q "$W/store" >/dev/null 2>&1 || true
	m=$(calc "$bytes / ($(now) - $a) / 1e6" 1)
	awk "BEGIN{exit !($m > $dcmfs)}" && dcmfs=$m
done
rm -rf "$W/store"
for comp in false true; do
	for kind in curl storescu python; do
		command -v "${kind/python/python3}" >/dev/null || { tsv "Orthanc, $kind clients" "skipped" "-" "-" "-" "no $kind"; continue; }
		counts="1 2 4"
		[ "$kind" = python ] && counts=1
		vals=() best=0 bestn=
		for n in $counts; do
			shards "$n"
			b=0
			for r in $(seq "$RUNS"); do
				start "$comp"
				a=$(now)
				cp=()
				for i in $(seq "$n"); do client "$kind" "$i" & cp+=($!); done
				for p in "${cp[@]}"; do wait "$p"; done
				s=$(awk "BEGIN{print $(now) - $a}")
				stored=$(instances)
				stop
				m=$(calc "$bytes / $s / 1e6" 1)
				awk "BEGIN{exit !($m > $b)}" && b=$m
			done
			vals+=("$b")
			awk "BEGIN{exit !($b > $best)}" && best=$b bestn=$n
		done
		case $kind in
		curl) how="curl -K per client, one keep-alive connection each, POST /instances, Expect: off" ;;
		storescu) how="dcmtk storescu -R -nh per client, one association each, C-STORE" ;;
		python) how="tools/bench/orthanc_load.py, one keep-alive http.client connection" ;;
		esac
		tsv "ingest, $ver, StorageCompression=$comp, $how; $files files ($(calc "$bytes/1e6" 0) MB, round-robin over clients), fresh Orthanc each run, best of $RUNS; $stored instances stored (last run)" \
			"$dcmfs (dcmfsctl import)" "best $best ($bestn client(s)); ${counts// / \/ } client(s): $(IFS=/; echo "${vals[*]}" | sed 's#/# / #g')" "MB/s" "-" "dcmfs $(calc "$dcmfs / $best" 1)x Orthanc's best"
	done
done
