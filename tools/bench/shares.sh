#!/bin/bash
# tools/bench/shares.sh - what a share costs: the rows of tools/bench.sh's
# section "Shares", also runnable alone.  Prints one TSV row a line:
#   metric <TAB> dcmfs <TAB> reference <TAB> unit <TAB> goal <TAB> reached
#
#   shares.sh read STORE SERIES NAMES RUNS
#       SERIES: a series folder below patients/ (PATIENT/studies/STUDY/SERIES),
#       NAMES: a file of its file names.  Reads the series with 1 MiB reads
#       (tools/bench/seqread.py) through a fresh share mount of its patient
#       and through a fresh read-only admin mount (first read), then again on
#       the same mounts (second read); median of RUNS.
#   shares.sh list WORK TOTAL SHARED RUNS
#       Makes TOTAL patients (one small image each: a dcmfs-gencorpus --small
#       seed with new PatientID and UIDs) in one store and the first SHARED
#       (at most 1000) of them alone in another,
#       shares those SHARED in the first, and lists them: `ls -l patients`
#       and `find patients` (every file) on a fresh share mount, against a
#       fresh read-only mount of the small store; median of RUNS.
#
# Needs BUILD (the build folder).  Every mount it makes is unmounted, every
# daemon it starts is reaped, also on failure.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CTL=$BUILD/dcmfsctl DAEMON=$BUILD/dcmfs GEN=$BUILD/dcmfs-gencorpus

MOUNTS=() PIDS=()
cleanup() {
	local m p
	for m in "${MOUNTS[@]:-}"; do
		[ -n "$m" ] && mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true; }
	done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
	return 0
}
trap cleanup EXIT

# mnt STORE MNT [OPTIONS]: a foreground daemon; DPID gets its pid
mnt() {
	local s=$1 m=$2
	shift 2
	mkdir -p "$m"
	"$DAEMON" "$s" "$m" -f "$@" &
	DPID=$!
	PIDS+=("$DPID") MOUNTS+=("$m")
	for _ in $(seq 400); do mountpoint -q "$m" && return 0; kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
	echo "shares.sh: mount of $s on $m failed" >&2
	return 1
}
umnt() {
	fusermount3 -u "$1"
	wait "$DPID" 2>/dev/null || true
	local keep=() x
	for x in "${PIDS[@]:-}"; do [ "$x" = "$DPID" ] || keep+=("$x"); done
	PIDS=("${keep[@]:-}")
	keep=()
	for x in "${MOUNTS[@]:-}"; do [ "$x" = "$1" ] || keep+=("$x"); done
	MOUNTS=("${keep[@]:-}")
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
calc() { awk "BEGIN{printf \"%.${2:-2}f\", $1}"; }
yn() { awk "BEGIN{exit !($1)}" && echo reached || echo "not reached"; }
tsv() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@"; }
now() { date +%s.%N; }
# the PatientID of the patient folder a stored series is in
patient_of() { sqlite3 "$1/index.db" "SELECT p.patient_id FROM patients p WHERE p.dirname='${2//\'/\'\'}'"; }

case ${1:-} in
read)
	S=$2 SER=$3 NAMES=$4 RUNS=$5
	W=$(mktemp -d "${TMPDIR:-/tmp}/dcmfs-bench-shares.XXXXXX")
	trap 'cleanup; rm -rf "$W"' EXIT
	pid=$(patient_of "$S" "${SER%%/*}")
	"$CTL" share rm "$S" bench-read >/dev/null 2>&1 || true
	"$CTL" share create "$S" bench-read --patient "$pid" >/dev/null
	sed "s#^#$W/m/patients/$SER/#" "$NAMES" > "$W/list"
	sr() { python3 "$ROOT/tools/bench/seqread.py" "$W/list"; }
	declare -A F S2
	fa=() sa=() fs=() ss=()
	# the two mounts take turns, so that a busy machine slows both alike
	for i in $(seq "$RUNS"); do
		for how in admin share; do
			if [ $how = admin ]; then mnt "$S" "$W/m" -o ro; else mnt "$S" "$W/m" -o share=bench-read; fi
			read -r bytes _ a < <(sr)
			read -r _ _ b < <(sr)
			if [ $how = admin ]; then fa+=("$a") sa+=("$b"); else fs+=("$a") ss+=("$b"); fi
			umnt "$W/m"
		done
	done
	F[admin]=$(median "${fa[@]}") S2[admin]=$(median "${sa[@]}")
	F[share]=$(median "${fs[@]}") S2[share]=$(median "${ss[@]}")
	"$CTL" share rm "$S" bench-read >/dev/null
	n=$(wc -l < "$NAMES")
	for w in first second; do
		if [ $w = first ]; then a=${F[share]} r=${F[admin]}; else a=${S2[share]} r=${S2[admin]}; fi
		tsv "share mount (-o share=, patient share) vs read-only admin mount, $w read of a series ($n files, $(calc "$bytes/1e6" 0) MB)" \
			"$(calc "$a" 0)" "$(calc "$r" 0) (admin -o ro)" "MB/s" ">= 0.9 x admin" "$(yn "$a >= 0.9 * $r") ($(calc "$a / $r" 2)x)"
	done
	;;
list)
	W=$2 TOTAL=$3 SHARED=$4 RUNS=$5
	mkdir -p "$W"
	# one small image per patient (dcmfs-gencorpus makes series of 100+
	# slices, too many files for 100,000 patients): a seed from the
	# generator's seeds with new PatientID and UIDs
	if [ ! -e "$W/gen.done" ]; then
		seed=$("$GEN" "$W/seedgen" --small --patients 1 --studies-per-patient 1 --dup-rate 0 \
			--max-instances 1 -q >/dev/null 2>&1 && find "$W/seedgen/patients" -type f | head -1)
		[ -n "$seed" ] || { echo "shares.sh: dcmfs-gencorpus made no seed" >&2; exit 1; }
		/usr/bin/python3 - "$seed" "$W/gen" "$TOTAL" <<'PY'
import os, sys, pydicom
seed, out, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds = pydicom.dcmread(seed)
for i in range(total):
    d = os.path.join(out, 'p%03d' % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    ds.PatientID = 'BP%07d' % i
    ds.PatientName = 'BENCH^%07d' % i
    ds.StudyInstanceUID = '2.25.%d1' % (1000000 + i)
    ds.SeriesInstanceUID = '2.25.%d2' % (1000000 + i)
    ds.SOPInstanceUID = '2.25.%d3' % (1000000 + i)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(os.path.join(d, '%07d.dcm' % i))
PY
		touch "$W/gen.done"
		rm -rf "$W/seedgen"
	fi
	for st in all few; do
		[ -e "$W/$st.done" ] && continue
		rm -rf "${W:?}/$st"
		"$CTL" init "$W/$st" >/dev/null
		if [ $st = all ]; then
			"$CTL" import -q "$W/all" "$W/gen" >/dev/null
		else
			"$CTL" import -q "$W/few" $(seq -f "$W/gen/p000/%07g.dcm" 0 $((SHARED - 1))) >/dev/null
		fi
		touch "$W/$st.done"
	done
	seq -f 'BP%07g' 0 $((SHARED - 1)) > "$W/shared.names"
	args=()
	while read -r p; do args+=(--patient "$p"); done < "$W/shared.names"
	"$CTL" share rm "$W/all" bench-list >/dev/null 2>&1 || true
	"$CTL" share create "$W/all" bench-list "${args[@]}" >/dev/null
	np=$(sqlite3 "$W/all/index.db" "SELECT count(*) FROM patients")
	declare -A LS FIND
	for how in share few; do
		l=() f=()
		for i in $(seq "$RUNS"); do
			if [ $how = share ]; then mnt "$W/all" "$W/m" -o share=bench-list; else mnt "$W/few" "$W/m" -o ro; fi
			a=$(now); ls -l "$W/m/patients" > "$W/ls.$how"; b=$(now)
			l+=("$(awk "BEGIN{print $b - $a}")")
			umnt "$W/m"
			if [ $how = share ]; then mnt "$W/all" "$W/m" -o share=bench-list; else mnt "$W/few" "$W/m" -o ro; fi
			a=$(now); find "$W/m/patients" | wc -l > "$W/find.$how"; b=$(now)
			f+=("$(awk "BEGIN{print $b - $a}")")
			umnt "$W/m"
		done
		LS[$how]=$(median "${l[@]}") FIND[$how]=$(median "${f[@]}")
	done
	[ "$(wc -l < "$W/ls.share")" = "$(wc -l < "$W/ls.few")" ] && [ "$(cat "$W/find.share")" = "$(cat "$W/find.few")" ] ||
		echo "shares.sh: the share and the small store list differently" >&2
	"$CTL" share rm "$W/all" bench-list >/dev/null
	for w in ls find; do
		if [ $w = ls ]; then a=${LS[share]} r=${LS[few]} what="ls -l patients"; else a=${FIND[share]} r=${FIND[few]} what="find patients (every file)"; fi
		tsv "share of $SHARED of $np patients vs a store of those $SHARED alone: $what, fresh mount" \
			"$(calc "$a" 3)" "$(calc "$r" 3) (store of $SHARED)" "s" "<= 1.5 x" "$(yn "$a <= 1.5 * $r") ($(calc "$a / $r" 2)x)"
	done
	;;
*)
	echo "usage: shares.sh read STORE SERIES NAMES RUNS | list WORK TOTAL SHARED RUNS" >&2
	exit 2
	;;
esac
