#!/bin/bash
# tools/bench/large.sh - large objects: the rows of tools/bench.sh's section
# "Large objects", also runnable alone.  Prints one TSV row a line:
#   metric <TAB> dcmfs <TAB> reference <TAB> unit <TAB> goal <TAB> reached
#
#   large.sh WORK MB RUNS
#       For each form of dcmfs-gencorpus --wsi (native RGB, JPEG-baseline
#       tiles), a level-0 slide of about MB MiB (one file) under WORK:
#       - import of that one file into a fresh store (median of RUNS) and
#         its peak RSS (highest of RUNS), against cp + sync of the file;
#       - a fresh read-only mount: open and the first tile (tile offsets from
#         the Basic Offset Table or the frame size, tools/bench/tileread.py),
#         then 199 further distinct tiles at random (BENCH_LARGE_TILES=200),
#         against the same on ext4 (the original, in the page cache);
#       - the whole file in 1 MiB reads (tools/bench/seqread.py) through a
#         fresh read-only mount, against ext4 and, for the native form,
#         against the codec's in-memory decode of the same pixels on every
#         core (dcmfs-codecbench -d, one process a core, sum).
#       Every tile read is compared with the original's bytes.
#
# Needs BUILD (the build folder) and the corpus's RGB ultrasound image
# (DCMFS_CORPUS).  WORK is removed at the end; every mount it makes is
# unmounted and every daemon it starts is reaped, also on failure.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CTL=$BUILD/dcmfsctl DAEMON=$BUILD/dcmfs GEN=$BUILD/dcmfs-gencorpus
PY=/usr/bin/python3
W=$1 MB=$2 RUNS=$3
TILES=${BENCH_LARGE_TILES:-200}

MOUNTS=() PIDS=()
cleanup() {
	local m p
	for m in "${MOUNTS[@]:-}"; do
		[ -n "$m" ] && mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true; }
	done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT
# mnt STORE MNT: a fresh read-only foreground daemon; DPID gets its pid
mnt() {
	mkdir -p "$2"
	"$DAEMON" "$1" "$2" -f -o ro &
	DPID=$!
	PIDS+=("$DPID") MOUNTS+=("$2")
	for _ in $(seq 400); do mountpoint -q "$2" && return 0; kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
	echo "large.sh: mount of $1 on $2 failed" >&2
	return 1
}
umnt() {
	fusermount3 -u "$1"
	wait "$DPID" 2>/dev/null || true
	local keep=() x
	for x in "${PIDS[@]:-}"; do [ "$x" = "$DPID" ] || keep+=("$x"); done
	PIDS=("${keep[@]:-}")
	MOUNTS=()
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
calc() { awk "BEGIN{printf \"%.${2:-2}f\", $1}"; }
yn() { awk "BEGIN{exit !($1)}" && echo reached || echo "not reached"; }
tsv() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@"; }
now() { date +%s.%N; }
secs() { local a; a=$(now); "$@" >/dev/null; awk "BEGIN{print $(now) - $a}"; }

rm -rf "$W"
mkdir -p "$W"
for form in native jpeg; do
	echo "large.sh: $form slide, level 0 about $MB MiB" >&2
	"$GEN" -q --wsi "$W/gen" --wsi-form "$form" --wsi-mb "$MB" --wsi-levels 2 --seed 14 > "$W/gen.txt"
	F=$W/gen/$form-level0.dcm
	bytes=$(stat -c %s "$F")
	ntiles=$($PY "$ROOT/tools/bench/wsitiles.py" "$F" | wc -l)
	uid=$($PY "$ROOT/tools/bench/wsitiles.py" --uid "$F")
	what="$form slide ($(calc "$bytes/1e6" 0) MB, $ntiles tiles of 256x256)"
	cat "$F" > /dev/null

	imp=() cps=() rss=0
	for i in $(seq "$RUNS"); do
		rm -rf "$W/store" "$W/cp"
		"$CTL" init "$W/store" >/dev/null
		sync
		imp+=("$(secs /usr/bin/time -f %M -o "$W/rss" "$CTL" import -q "$W/store" "$F")")
		r=$(tail -1 "$W/rss")
		[ "$r" -gt "$rss" ] && rss=$r
		sync
		mkdir -p "$W/cp"
		cps+=("$(secs bash -c "cp '$F' '$W/cp/' && sync")")
	done
	rm -rf "$W/cp"
	mbs=$(calc "$bytes / $(median "${imp[@]}") / 1e6" 0)
	tsv "$what: import of the one file" "$mbs" "$(calc "$bytes / $(median "${cps[@]}") / 1e6" 0) (cp + sync)" "MB/s" ">= 150" "$(yn "$mbs >= 150")"
	tsv "$what: import peak RSS" "$(calc "$rss/1024" 0)" "-" "MB" "< 200" "$(yn "$rss/1024 < 200")"

	first=() med=() seq=()
	for i in $(seq "$RUNS"); do
		mnt "$W/store" "$W/m"
		path=$(find "$W/m/patients" -name "$uid.dcm")
		read -r f1 m1 _ _ < <($PY "$ROOT/tools/bench/tileread.py" "$F" "$path" "$TILES" "$i")
		first+=("$f1") med+=("$m1")
		umnt "$W/m"
		mnt "$W/store" "$W/m"
		echo "$path" > "$W/list"
		seq+=("$($PY "$ROOT/tools/bench/seqread.py" "$W/list" | cut -d' ' -f3)")
		umnt "$W/m"
	done
	e1=() em=() es=()
	echo "$F" > "$W/list"
	for i in $(seq "$RUNS"); do
		read -r f1 m1 _ _ < <($PY "$ROOT/tools/bench/tileread.py" "$F" "$F" "$TILES" "$i")
		e1+=("$f1") em+=("$m1")
		es+=("$($PY "$ROOT/tools/bench/seqread.py" "$W/list" | cut -d' ' -f3)")
	done
	fm=$(median "${first[@]}") mm=$(median "${med[@]}") sm=$(median "${seq[@]}") esm=$(median "${es[@]}")
	tsv "$what: open + first tile, fresh read-only mount" "$(calc "$fm" 2)" "$(calc "$(median "${e1[@]}")" 2) (ext4, page cache)" "ms" "< 5" "$(yn "$fm < 5")"
	tsv "$what: each further random tile ($((TILES - 1)) distinct, median)" "$(calc "$mm" 3)" "$(calc "$(median "${em[@]}")" 3) (ext4, page cache)" "ms" "< 0.5" "$(yn "$mm < 0.5")"
	if [ "$form" = native ]; then
		# the codec on the same pixels, in memory: one process a core, at once
		cb=()
		for i in $(seq "$(nproc)"); do
			"$BUILD/dcmfs-codecbench" -d -r "$RUNS" "$F" > "$W/cb$i.txt" 2>&1 &
			cb+=($!) PIDS+=($!)
		done
		for p in "${cb[@]}"; do wait "$p" || true; done
		PIDS=()
		dn=$(cat "$W"/cb[0-9]*.txt | awk '/^decode MB\/s/{s+=$3; n++} END{print (n ? s : 0)}')
		tsv "$what: 1 MiB reads, fresh read-only mount" "$(calc "$sm" 0)" "$(calc "$esm" 0) (ext4, page cache); $(calc "$dn" 0) ($(nproc)-core decode)" \
			"MB/s" ">= 0.8 x $(nproc)-core decode" "$(yn "$sm >= 0.8 * $dn") ($(calc "$sm / ($dn + 0.001)" 2)x)"
	else
		tsv "$what: 1 MiB reads, fresh read-only mount" "$(calc "$sm" 0)" "$(calc "$esm" 0) (ext4, page cache)" "MB/s" ">= 0.8 x ext4" "$(yn "$sm >= 0.8 * $esm") ($(calc "$sm / $esm" 2)x)"
	fi
	"$CTL" stats --json "$W/store" > "$W/stats.json"
	st=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["total"]["stored_bytes"])' "$W/stats.json")
	tsv "$what: stored bytes" "$st" "$bytes (file)" "B" "-" "$(calc "$bytes / $st" 2)x"
	rm -rf "$W/gen" "$W/store"
done
