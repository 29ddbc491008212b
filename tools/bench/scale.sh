#!/bin/bash
# scale.sh: the scale benchmark of issue 12 (make bench-scale; not part of
# make check).  Imports N small real instances in steps, then times
# reindex, verify, stats and the mount's find / ls -lR / du -s against the
# generator's ext4 twin (OUT/patients), the daemon's peak RSS, and a
# mounted store's listing and read times while more instances are imported.
#
# Environment:
#   BUILD               build folder (make passes it)
#   BENCH_SCALE_N       instances (default 1000000; 10000000 is the headline
#                       run where the disk allows: ~23 GB of corpus and
#                       ~23 GB of store per million)
#   BENCH_SCALE_CORPUS  an existing dcmfs-gencorpus output (its patients/ is
#                       read, never written): the first patients holding
#                       about N instances are used.  Default: generated in
#                       the work folder (--small --dup-rate 0 --seed 1)
#   BENCH_SCALE_DIR     work folder (default /tmp/dcmfs-scale-$$); the store,
#                       a generated corpus and mountpoints go there and are
#                       removed at the end unless BENCH_SCALE_KEEP=1
#   BENCH_SCALE_STEPS   import steps (default 20): one point of the plot each
#   BENCH_SCALE_FEED    instances imported while the store is mounted
#                       (default 20000, generated with another seed)
#   BENCH_SCALE_OUT     where the table (.md), the rates (.tsv) and the plot
#                       (.svg) go (default bench/scale-N)
# Prints the table; the machine is what it is (say whether it was shared).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CTL=$BUILD/dcmfsctl DAEMON=$BUILD/dcmfs GEN=$BUILD/dcmfs-gencorpus
N=${BENCH_SCALE_N:-1000000}
STEPS=${BENCH_SCALE_STEPS:-20}
FEED_N=${BENCH_SCALE_FEED:-20000}
WORK=${BENCH_SCALE_DIR:-/tmp/dcmfs-scale-$$}
OUT=${BENCH_SCALE_OUT:-$ROOT/bench/scale-$N}
for b in "$CTL" "$DAEMON" "$GEN"; do
	[ -x "$b" ] || { echo "scale.sh: $b is not built (make all)" >&2; exit 2; }
done
command -v gnuplot >/dev/null || { echo "scale.sh: gnuplot is not installed (make deps)" >&2; exit 2; }

mkdir -p "$WORK" "$(dirname "$OUT")"
STORE=$WORK/store MNT=$WORK/mnt
DPID= IPID= MOUNTS=()
cleanup() {
	local m p
	for m in "${MOUNTS[@]:-}"; do
		[ -n "$m" ] && mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true; }
	done
	# only what this script started and has not reaped
	for p in "$IPID" "$DPID"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${BENCH_SCALE_KEEP:-0}" = 1 ] || rm -rf "$STORE" "$WORK/gen" "$WORK/feed" "$MNT" "$WORK/tmp"
	[ "${BENCH_SCALE_KEEP:-0}" = 1 ] || rmdir "$WORK" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "$(date -u +%T) $*" >&2; }
now() { date +%s.%N; }
calc() { awk "BEGIN{printf \"%.${2:-1}f\", $1}"; }
# timed VAR CMD...: run CMD (its exit status matters), VAR gets seconds
timed() { local v=$1 t0; shift; t0=$(now); "$@"; printf -v "$v" '%s' "$(calc "$(now) - $t0" 3)"; }
# best3 VAR CMD...: best of three warm runs (output discarded)
best3() {
	local v=$1 b= s i; shift
	for i in 1 2 3; do
		timed s "$@" > /dev/null
		[ -z "$b" ] || awk "BEGIN{exit !($s < $b)}" && b=$s
	done
	printf -v "$v" '%s' "$b"
}
mkdir -p "$WORK/tmp"
TMP=$WORK/tmp

# ---- the corpus: the first patients holding about N instances ----
if [ -n "${BENCH_SCALE_CORPUS:-}" ]; then
	CORPUS=$BENCH_SCALE_CORPUS
else
	CORPUS=$WORK/gen
	say "scale: generating $N small instances in $CORPUS"
	"$GEN" "$CORPUS" --patients $(( N / 410 + 10 )) --small --dup-rate 0 --max-instances "$N" --seed 1 -q
fi
[ -d "$CORPUS/patients" ] || { echo "scale.sh: $CORPUS/patients does not exist (not a dcmfs-gencorpus output)" >&2; exit 2; }
say "scale: counting instances per patient in $CORPUS/patients"
(cd "$CORPUS/patients" && find . -mindepth 2 -type f -name '*.dcm' -printf '%P\n') | cut -d/ -f1 | sort | uniq -c |
	awk -v n="$N" 'sum < n { sum += $1; print $2 "\t" $1 }' > "$TMP/patients.tsv"
TOTAL=$(awk -F'\t' '{ s += $2 } END { print s + 0 }' "$TMP/patients.tsv")
[ "$TOTAL" -gt 0 ] || { echo "scale.sh: no instances in $CORPUS/patients" >&2; exit 2; }
[ "$TOTAL" -ge "$N" ] || say "scale: the corpus holds only $TOTAL instances (asked for $N)"
# one list of patient folders per step, about TOTAL/STEPS instances each
awk -F'\t' -v total="$TOTAL" -v steps="$STEPS" -v dir="$CORPUS/patients" -v tmp="$TMP" '{
	k = int(sum * steps / total); sum += $2
	print dir "/" $1 > (tmp "/step" k ".lst"); cnt[k] += $2 }
	END { for (k = 0; k < steps; k++) print k "\t" cnt[k] + 0 > (tmp "/steps.tsv") }' "$TMP/patients.tsv"

# ---- 1. import in steps: rate against instances stored ----
say "scale: importing $TOTAL instances in $STEPS steps into $STORE"
rm -rf "$STORE"
"$CTL" init "$STORE" > /dev/null
printf 'stored_before\tstored_after\tseconds\trate\n' > "$OUT.tsv"
stored=0 IMPORT_S=0 IMPORT_RSS=0
while IFS=$'\t' read -r k cnt; do
	[ -s "$TMP/step$k.lst" ] || continue
	timed s /usr/bin/time -f %M -o "$TMP/rss" xargs -d '\n' -a "$TMP/step$k.lst" "$CTL" import -q "$STORE" >> "$TMP/import.log"
	rss=$(tail -1 "$TMP/rss")
	[ "$rss" -gt "$IMPORT_RSS" ] && IMPORT_RSS=$rss
	IMPORT_S=$(calc "$IMPORT_S + $s" 3)
	printf '%s\t%s\t%s\t%s\n' "$stored" "$((stored + cnt))" "$s" "$(calc "$cnt / $s" 0)" >> "$OUT.tsv"
	stored=$((stored + cnt))
	say "scale: step $((k + 1))/$STEPS: $stored stored, $(calc "$cnt / $s" 0) inst/s"
done < "$TMP/steps.tsv"
# first and last 10 % of the instances: the steps that make them up
read -r RATE_FIRST RATE_LAST < <(awk -F'\t' -v total="$TOTAL" 'NR > 1 {
	mid = ($1 + $2) / 2
	if (NR == 2) { n1 = $2 - $1; s1 = $3 }      # steps wider than 10 %: the first and last
	nl = $2 - $1; sl = $3
	if (mid <= total * 0.1) { fn += $2 - $1; fs += $3 }
	if (mid >= total * 0.9) { ln += $2 - $1; ls += $3 } }
	END { if (!fs) { fn = n1; fs = s1 }
	      if (!ls) { ln = nl; ls = sl }
	      printf "%.0f %.0f\n", fs ? fn / fs : 0, ls ? ln / ls : 0 }' "$OUT.tsv")
INDEX_BYTES=$(stat -c %s "$STORE/index.db")
STORE_BYTES=$(du -sb "$STORE" | cut -f1)

# ---- 2. stats, verify, reindex ----
say "scale: stats"
best3 STATS_S "$CTL" stats "$STORE"
# the reference for verify: the stored bytes read once (packs, blob files, index)
say "scale: reading the stored bytes once (cat)"
timed READ_S bash -c "find '$STORE/packs' '$STORE/blobs' -type f -print0 2>/dev/null | xargs -0 cat > /dev/null"
say "scale: verify"
timed VERIFY_S /usr/bin/time -f %M -o "$TMP/rss" "$CTL" verify "$STORE" > "$TMP/verify.out"
VERIFY_RSS=$(tail -1 "$TMP/rss")
say "scale: reindex"
timed REINDEX_S /usr/bin/time -f %M -o "$TMP/rss" "$CTL" reindex "$STORE" > "$TMP/reindex.out"
REINDEX_RSS=$(tail -1 "$TMP/rss")
rm -f "$STORE/index.db.old"
INDEX_AFTER=$(stat -c %s "$STORE/index.db")

# ---- 3. the mount against the ext4 twin, warm ----
# the twin holds exactly the patients imported: a folder of links to them
mkdir -p "$TMP/twin"
while IFS=$'\t' read -r p _; do ln -s "$CORPUS/patients/$p" "$TMP/twin/$p"; done < "$TMP/patients.tsv"
TWIN=$TMP/twin
say "scale: mount"
mkdir -p "$MNT"
"$DAEMON" "$STORE" "$MNT" -o ro -f &
DPID=$!
MOUNTS+=("$MNT")
for _ in $(seq 600); do mountpoint -q "$MNT" && break; kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
mountpoint -q "$MNT" || { echo "scale.sh: the store did not mount" >&2; exit 1; }
M=$MNT/patients
[ -d "$M" ] || M=$MNT
# ls and find follow the twin's links with -L / -H
say "scale: find / ls -lR / du -s, warm"
best3 FIND_M find "$M"
best3 FIND_E find -L "$TWIN"
best3 LS_M ls -lR "$M"
best3 LS_E ls -lRL "$TWIN"
best3 DU_M du -s "$M"
best3 DU_E du -sL "$TWIN"
FOUND_M=$(find "$M" -type f | wc -l)
DAEMON_RSS=$(awk '/^VmHWM/ { print $2 }' "/proc/$DPID/status")
fusermount3 -u "$MNT"
wait "$DPID" || true
DPID=

# ---- 4. a mounted store's listing and read times while an import runs ----
FEED=$WORK/feed
rm -rf "$FEED"
"$GEN" "$FEED" --patients $(( FEED_N / 400 + 4 )) --small --dup-rate 0 --max-instances "$FEED_N" --seed 2 -q > /dev/null
"$DAEMON" "$STORE" "$MNT" -f &
DPID=$!
for _ in $(seq 600); do mountpoint -q "$MNT" && break; kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
mountpoint -q "$MNT" || { echo "scale.sh: the store did not mount read-write" >&2; exit 1; }
M=$MNT/patients
[ -d "$M" ] || M=$MNT
# a probe: list one patient's tree and read 50 of its files
probe_pat=$(head -1 "$TMP/patients.tsv" | cut -f1)
find "$M/$probe_pat" -type f > "$TMP/probe.all"
head -50 "$TMP/probe.all" > "$TMP/probe.files"
probe() {
	xargs -d '\n' -a "$TMP/probe.files" cat > /dev/null
	ls -lR "$M/$probe_pat" > /dev/null
	ls "$M" > /dev/null
}
probe_series() { # VAR SECONDS: median probe time over a while
	local v=$1 until_t t0 s
	until_t=$(calc "$(now) + $2" 3)
	: > "$TMP/probe.$v"
	while awk "BEGIN{exit !($(now) < $until_t)}"; do
		timed s probe
		echo "$s" >> "$TMP/probe.$v"
	done
	printf -v "$v" '%s' "$(sort -n "$TMP/probe.$v" | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }')"
}
probe > /dev/null
probe_series PROBE_IDLE 10
"$CTL" import -q "$STORE" "$FEED/patients" >> "$TMP/import.log" &
IPID=$!
t0=$(now)
sleep 1
: > "$TMP/probe.during"
while kill -0 "$IPID" 2>/dev/null; do
	timed s probe
	echo "$s" >> "$TMP/probe.during"
done
wait "$IPID"
IPID=
FEED_S=$(calc "$(now) - $t0" 1)
PROBE_BUSY=$(sort -n "$TMP/probe.during" | awk '{ a[NR] = $1 } END { printf "%.3f", NR ? a[int((NR + 1) / 2)] : 0 }')
PROBE_N=$(wc -l < "$TMP/probe.during")
sleep 2
probe_series PROBE_AFTER 5
DAEMON_RSS_RW=$(awk '/^VmHWM/ { print $2 }' "/proc/$DPID/status")
fusermount3 -u "$MNT"
wait "$DPID" || true
DPID=

# ---- the table ----
svg=$OUT.svg
gnuplot <<GP
set terminal svg size 900,480 dynamic font "sans,11"
set output "$svg"
set title "dcmfsctl import rate against instances stored ($TOTAL small instances, $STEPS steps)"
set xlabel "instances stored"
set ylabel "instances per second"
set yrange [0:*]
set grid
set key off
set datafile separator "\t"
plot "$OUT.tsv" using (\$1 + \$2) / 2:4 skip 1 with linespoints lw 2 pt 7
GP
mb() { calc "$1 / 1048576" 0; }
{
echo "Scale run: $TOTAL instances ($(calc "$STORE_BYTES / 1e9" 1) GB store), $(date -u +%F), $(nproc) cores, $(uname -r)"
echo
echo "| what | dcmfs | reference |"
echo "| --- | --- | --- |"
echo "| import rate, first 10 % → last 10 % | $RATE_FIRST/s → $RATE_LAST/s ($(calc "($RATE_LAST / $RATE_FIRST - 1) * 100" 0) %), $(calc "$IMPORT_S" 0) s in all, RSS $(calc "$IMPORT_RSS / 1024" 0) MB | goal: last ≥ 0.8× first |"
echo "| index.db | $(calc "$INDEX_BYTES / 1073741824" 2) GiB ($(calc "$INDEX_BYTES / $TOTAL / 1000" 2) KB an instance; $(calc "$INDEX_AFTER / $TOTAL / 1000" 2) KB after reindex) | goal: ≤ 0.5 KB |"
echo "| dcmfsctl reindex | $REINDEX_S s, peak RSS $(calc "$REINDEX_RSS / 1024" 0) MB | goal: < 300 MB, ≤ 120 s per million |"
echo "| dcmfsctl verify | $VERIFY_S s, peak RSS $(calc "$VERIFY_RSS / 1024" 0) MB | stored bytes read once (cat): $READ_S s |"
echo "| dcmfsctl stats | $STATS_S s | goal: < 1 s |"
echo "| mount find / ls -lR / du -s, warm (best of 3) | $FIND_M / $LS_M / $DU_M s | ext4 twin $FIND_E / $LS_E / $DU_E s |"
echo "| files the mount shows | $FOUND_M | imported $TOTAL |"
echo "| daemon peak RSS (ro, the walks above) | $(calc "$DAEMON_RSS / 1024" 0) MB | goal: < 150 MB at 10M |"
echo "| probe while importing $FEED_N more (ls of the root, ls -lR of a patient, 50 files read) | median $PROBE_BUSY s ($PROBE_N probes, import $FEED_S s) | idle before $PROBE_IDLE s, after $PROBE_AFTER s |"
echo "| daemon peak RSS (rw, during the import) | $(calc "$DAEMON_RSS_RW / 1024" 0) MB | |"
echo
echo "verify said: $(tail -1 "$TMP/verify.out")"
echo "reindex said: $(tail -1 "$TMP/reindex.out")"
echo "import rate by step: $OUT.tsv; plot: $svg"
} | tee "$OUT.md"
