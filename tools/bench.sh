#!/bin/bash
# tools/bench.sh - dcmfs benchmarks (numbers, not pass/fail).  Run by `make bench`.
#
# Generates what it needs under bench/tmp/, runs every measurement BENCH_RUNS
# times (median), prints markdown tables to stdout and writes
# bench/results.tsv (section, metric, dcmfs, reference, unit, goal, reached).
#
# Sizes (environment):
#   BENCH_PATIENTS=2 BENCH_STUDIES=2 BENCH_DUP=0.5 BENCH_SEED=1  generated archive
#   BENCH_META_N=100000        instances in the metadata tree (small images)
#   BENCH_RUNS=3               repetitions of every timed measurement
#   BENCH_RANDOM_READS=5000    random 64 KiB reads per run
#   BENCH_WSI_TILES=2000       tiles of the whole-slide image read in section 3
#   BENCH_ZSTD19=1             0 skips the slow tar | zstd -19 --long -T0 row (the
#                              slowest row: minutes on 2 cores)
#   BENCH_ORTHANC=1            0 skips the Orthanc comparison
#   BENCH_SHARE_TOTAL=100000   patients of the store a share lists from, and
#   BENCH_SHARE_PATIENTS=1000  how many of them the share covers
#   BENCH_LARGE_MB=400         level 0 of each whole-slide image (section 3c)
#   BENCH_ONLY=large,orthanc-fair,distributed  run only these sections (the ones that
#                              need no generated archive), e.g. on a shared
#                              machine: BENCH_ONLY=large make bench
#   DCMFS_CORPUS=../shared/corpus
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
PATIENTS=${BENCH_PATIENTS:-2}
STUDIES=${BENCH_STUDIES:-2}
DUP=${BENCH_DUP:-0.5}
SEED=${BENCH_SEED:-1}
META_N=${BENCH_META_N:-100000}
RUNS=${BENCH_RUNS:-3}
RREADS=${BENCH_RANDOM_READS:-5000}
ZSTD19=${BENCH_ZSTD19:-1}
ORTHANC=${BENCH_ORTHANC:-1}
CORPUS=${DCMFS_CORPUS:-$(cd "$ROOT/../shared/corpus" 2>/dev/null && pwd || echo /work/shared/corpus)}
export DCMFS_CORPUS=$CORPUS
CTL=$BUILD/dcmfsctl
GEN=$BUILD/dcmfs-gencorpus
DAEMON=$BUILD/dcmfs
TMP=$ROOT/bench/tmp/run
RES=$ROOT/bench/results.tsv
T0=$(date +%s)

say() { echo "$@" >&2; }

# ---------------------------------------------------------------- packages
need=""
for p in orthanc curl gnuplot-nox zstd libgdcm-tools rsync time python3 iproute2 util-linux; do
	dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
	say "bench: installing bench-only packages:$need"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >&2 ||
		say "bench: could not install:$need (rows that need them are skipped)"
fi
for b in "$CTL" "$GEN" "$BUILD/dcmfs-codecbench" "$BUILD/dcmfs-scan"; do
	[ -x "$b" ] || { say "bench: $b missing; run make"; exit 2; }
done

# ---------------------------------------------------------------- cleanup
# MOUNTS / PIDS: only what this script mounted / started and has not yet
# unmounted / reaped (a reaped pid is dropped, so it is never killed later)
MOUNTS=() PIDS=()
cleanup() {
	local m p
	for m in "${MOUNTS[@]:-}"; do
		[ -n "$m" ] && mountpoint -q "$m" 2>/dev/null || continue
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
	done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
	rm -f "$RES.new"
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'say "bench: failed (status $?) at line $LINENO: $BASH_COMMAND"' ERR
for m in "$TMP"/mnt*; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m"; done
rm -rf "$TMP"
mkdir -p "$TMP"

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }
# t CMD...: run, print elapsed seconds (stdout of CMD goes to /dev/null)
t() { local a b; a=$(now); "$@" >/dev/null; b=$(now); awk "BEGIN{print $b - $a}"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
calc() { awk "BEGIN{printf \"%.${2:-2}f\", $1}"; }
bytes_of() { du -sb --apparent-size "$@" | awk '{s+=$1} END{print s}'; }
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
warm() { find "$@" -type f -print0 | xargs -0 cat > /dev/null; }

printf 'section\tmetric\tdcmfs\treference\tunit\tgoal\treached\n' > "$RES.new"
SECTION=""
section() { SECTION=$1; printf '\n### %s\n\n| metric | dcmfs | reference | unit | goal | reached |\n| --- | --- | --- | --- | --- | --- |\n' "$2"; }
# row METRIC DCMFS REFERENCE UNIT GOAL REACHED
row() {
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "${5:--}" "${6:--}"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$SECTION" "$1" "$2" "$3" "$4" "${5:--}" "${6:--}" >> "$RES.new"
}
yn() { awk "BEGIN{exit !($1)}" && echo reached || echo "not reached"; }
skip() { row "$1" "skipped" "-" "-" "-" "$2"; say "bench: skipped $1: $2"; }

# mount_fs ro|rw STORE MNT -> sets DPID (the daemon, in the foreground: its own pid)
mount_fs() {
	local o=()
	[ "$1" = ro ] && o=(-o ro)
	mkdir -p "$3"
	"$DAEMON" "$2" "$3" "${o[@]}" -f &
	DPID=$!
	PIDS+=("$DPID")
	MOUNTS+=("$3")
	for _ in $(seq 400); do mountpoint -q "$3" && return 0; kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
	say "bench: $1 mount of $2 on $3 failed"; return 1
}
mount_ro() { mount_fs ro "$@"; }
dropval() { local a=() x; for x in "${@:3}"; do [ "$x" = "$2" ] || a+=("$x"); done; eval "$1=(\"\${a[@]}\")"; }
# umount_fs MNT: unmount, reap the daemon, forget both
umount_fs() {
	fusermount3 -u "$1"
	wait "$DPID" 2>/dev/null || true
	dropval PIDS "$DPID" "${PIDS[@]:-}"
	dropval MOUNTS "$1" "${MOUNTS[@]:-}"
}
umount_ro() { umount_fs "$@"; }
# hwm VAR: raise VAR (kB) to the running daemon's VmHWM (peak RSS)
hwm() { local h; h=$(awk '/VmHWM/{print $2}' "/proc/$DPID/status" 2>/dev/null || true); h=${h:-0}; [ "$h" -gt "${!1}" ] && printf -v "$1" %s "$h"; return 0; }
# goals table, printed at the end: goal GOAL MEASURED REACHED
GOALS=()
goal() { GOALS+=("$1"$'\t'"$2"$'\t'"$3"); }
HAVE_FS=0
[ -x "$DAEMON" ] && HAVE_FS=1

# ---------------------------------------------------------------- sections without the archive
# (defined here, run in their place below, or alone with BENCH_ONLY)
large_section() {
	local mb=${BENCH_LARGE_MB:-400}
	section large "3c. Large objects: whole-slide images, level 0 about $mb MiB (tools/bench/large.sh; dcmfs-gencorpus --wsi)"
	if [ "$HAVE_FS" = 1 ] && [ -f "$CORPUS/real/us/US1_UNCR.dcm" ]; then
		say "bench: large objects ($mb MiB slides)"
		BUILD=$BUILD "$ROOT/tools/bench/large.sh" "$TMP/large" "$mb" "$RUNS" > "$TMP/large.tsv"
		while IFS=$'\t' read -r m v r u g y; do
			row "$m" "$v" "$r" "$u" "$g" "$y"
			[ "$g" = - ] || goal "$m $g" "$v vs $r" "${y%% (*}"
		done < "$TMP/large.tsv"
	else
		skip "large objects" "build/dcmfs not built or no real/us/US1_UNCR.dcm in $CORPUS"
	fi
}
orthanc_fair_section() {
	section orthanc-fair "6b. Orthanc at its best: 1, 2 and 4 concurrent clients, compression off and on, shared corpus (tools/bench/orthanc_fair.sh)"
	if [ "$ORTHANC" = 1 ] && command -v Orthanc >/dev/null && command -v unshare >/dev/null; then
		find "$CORPUS" -type f ! -name '*.md' ! -name '*.tsv' | sort > "$TMP/l_fair"
		say "bench: Orthanc with 1, 2, 4 clients"
		BUILD=$BUILD unshare -n bash "$ROOT/tools/bench/orthanc_fair.sh" "$TMP/fair" "$TMP/l_fair" "$RUNS" > "$TMP/fair.tsv"
		while IFS=$'\t' read -r m v r u g y; do row "$m" "$v" "$r" "$u" "$g" "$y"; done < "$TMP/fair.tsv"
	else
		skip "Orthanc at its best" "BENCH_ORTHANC=0 or orthanc/unshare missing"
	fi
}
distributed_section() {
	section distributed "7. Distributed store: catalogue in PostgreSQL, data in a RADOS pool (one-node memstore Ceph, same machine) vs embedded, shared corpus (tools/bench/distributed.sh)"
	if [ "$HAVE_FS" = 1 ] && command -v ceph-osd >/dev/null && command -v psql >/dev/null; then
		say "bench: distributed store (PostgreSQL + Ceph)"
		BUILD=$BUILD "$ROOT/tools/bench/distributed.sh" "$RUNS" > "$TMP/dist.tsv"
		while IFS=$'\t' read -r m v r u g y; do [ "$r" = - ] || r="$r (embedded)"; row "$m" "$v" "$r" "$u" "$g" "$y"; done < "$TMP/dist.tsv"
	else
		skip "distributed store" "build/dcmfs not built or no Ceph/PostgreSQL (make deps)"
	fi
}

echo "# dcmfs benchmarks"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(uname -r), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "Sizes: BENCH_PATIENTS=$PATIENTS BENCH_STUDIES=$STUDIES BENCH_DUP=$DUP BENCH_SEED=$SEED BENCH_META_N=$META_N BENCH_RUNS=$RUNS; all in $TMP (same filesystem: $(df --output=fstype "$ROOT" | tail -1)); medians of $RUNS runs."

if [ -n "${BENCH_ONLY:-}" ]; then
	for sec in ${BENCH_ONLY//,/ }; do
		case $sec in
		large) large_section ;;
		orthanc-fair) orthanc_fair_section ;;
		distributed) distributed_section ;;
		*) say "bench: BENCH_ONLY: no section '$sec' (large, orthanc-fair, distributed)"; exit 2 ;;
		esac
	done
	printf '\n### Goals\n\n| goal | measured | reached |\n| --- | --- | --- |\n'
	for gl in "${GOALS[@]:-}"; do
		[ -n "$gl" ] || continue
		IFS=$'\t' read -r gg gm gr <<< "$gl"
		printf '| %s | %s | %s |\n' "$gg" "$gm" "$gr"
	done
	mv "$RES.new" "$ROOT/bench/results-only.tsv"
	echo
	echo "Total bench time: $(( $(date +%s) - T0 )) s.  Machine-readable: bench/results-only.tsv"
	exit 0
fi

# ---------------------------------------------------------------- corpus
say "bench: generating archive"
ARCH=$TMP/archive
g0=$(now)
"$GEN" "$ARCH" --patients "$PATIENTS" --studies-per-patient "$STUDIES" --dup-rate "$DUP" --seed "$SEED" -q > "$TMP/gen.txt"
gen_s=$(awk "BEGIN{print $(now) - $g0}")
gv() { sed -n "s/^gencorpus\.$1=//p" "$TMP/gen.txt"; }
ARCH_BYTES=$(gv total.bytes)
ARCH_N=$(gv total.instances)
echo
echo "Generated archive ($(calc "$gen_s" 1) s): \`dcmfs-gencorpus --patients $PATIENTS --studies-per-patient $STUDIES --dup-rate $DUP --seed $SEED\`"
echo
echo '```'
grep '^#\|^  ' "$TMP/gen.txt"
echo '```'
SERIES_DIR=$CORPUS/real/series
SERIES_BYTES=$(bytes_of "$SERIES_DIR")
SERIES_N=$(find "$SERIES_DIR" -type f | wc -l)

# ---------------------------------------------------------------- 1 ingest
section ingest "1. Ingest (page cache warm; dcmfsctl import vs cp -r + sync into a folder on the same filesystem)"
ingest() { # SRC: sets IMP_S CP_S IMP_RSS (medians; peak RSS over runs)
	local src=$1 imp=() cp=() rss=0 i s r
	warm "$src"
	for i in $(seq "$RUNS"); do
		rm -rf "$TMP/st_ing" "$TMP/cp_ing"; "$CTL" init "$TMP/st_ing" >/dev/null; sync
		s=$(t /usr/bin/time -f %M -o "$TMP/rss" "$CTL" import -q "$TMP/st_ing" "$src")
		imp+=("$s"); r=$(tail -1 "$TMP/rss"); [ "$r" -gt "$rss" ] && rss=$r
		sync
		s=$(t bash -c "cp -r '$src' '$TMP/cp_ing' && sync")
		cp+=("$s")
	done
	rm -rf "$TMP/cp_ing"
	IMP_S=$(median "${imp[@]}") CP_S=$(median "${cp[@]}") IMP_RSS=$rss
}
ingest_rows() { # NAME BYTES N MBS_GOAL RATIO_GOAL
	local mbs ratio
	mbs=$(calc "$2 / $IMP_S / 1e6" 1) ratio=$(calc "$CP_S / $IMP_S" 2)
	row "$1: MB/s" "$mbs" "$(calc "$2 / $CP_S / 1e6" 1) (cp -r+sync)" "MB/s" "${4:--}" "$([ -n "${4:-}" ] && yn "$mbs $4" || echo -)"
	row "$1: instances/s" "$(calc "$3 / $IMP_S" 0)" "$(calc "$3 / $CP_S" 0) (cp -r+sync)" "inst/s"
	row "$1: dcmfs speed / cp speed" "$ratio" "1" "x" "${5:--}" "$([ -n "${5:-}" ] && yn "$ratio $5" || echo -)"
	if [ -n "${4:-}" ]; then
		goal "ingest of corpus/real/series from the page cache $4 MB/s" "$mbs MB/s" "$(yn "$mbs $4")"
		goal "... and $5 x of cp -r + sync" "${ratio}x" "$(yn "$ratio $5")"
	fi
}
say "bench: ingest"
ingest "$SERIES_DIR"
ingest_rows "real CT/MR series ($SERIES_N files, $(calc "$SERIES_BYTES/1e6" 0) MB)" "$SERIES_BYTES" "$SERIES_N" ">= 150" ">= 0.5"
SSTORE=$TMP/sstore   # the real series, for dcmfsctl get --series
mv "$TMP/st_ing" "$SSTORE"
ingest "$ARCH"
ingest_rows "generated archive ($ARCH_N files, $(calc "$ARCH_BYTES/1e6" 0) MB)" "$ARCH_BYTES" "$ARCH_N"
ARCH_IMP_S=$IMP_S ARCH_RSS=$IMP_RSS
STORE=$TMP/store
mv "$TMP/st_ing" "$STORE"
row "import peak RSS (archive)" "$(calc "$ARCH_RSS/1024" 0)" "-" "MB" "< 200" "$(yn "$ARCH_RSS/1024 < 200")"
goal "import peak RSS < 200 MB (archive, $ARCH_N files)" "$(calc "$ARCH_RSS/1024" 0) MB" "$(yn "$ARCH_RSS/1024 < 200")"
# One large file (issue 14): a generated whole-slide image, native RGB, 2,000
# tiles of 256x256 (~393 MB), imported streamed in pieces on every core.
WSI_SEED=$CORPUS/real/us/US1_UNCR.dcm
if [ -f "$WSI_SEED" ] && /usr/bin/python3 -c 'import numpy, pydicom' 2>/dev/null; then
	mkdir -p "$TMP/wsi"
	[ -f "$TMP/wsi/slide.dcm" ] || /usr/bin/python3 "$ROOT/tests/system/lib/wsi_gen.py" "$WSI_SEED" "$TMP/wsi/slide.dcm" 2000 1
	WSI_BYTES=$(bytes_of "$TMP/wsi")
	ingest "$TMP/wsi"
	ingest_rows "one large file (WSI, native RGB, $(calc "$WSI_BYTES/1e6" 0) MB)" "$WSI_BYTES" 1
	goal "import of one large file >= 150 MB/s" "$(calc "$WSI_BYTES / $IMP_S / 1e6" 1) MB/s" "$(yn "$WSI_BYTES / $IMP_S / 1e6 >= 150")"
	row "import peak RSS (one large file)" "$(calc "$IMP_RSS/1024" 0)" "-" "MB" "< 200" "$(yn "$IMP_RSS/1024 < 200")"
	goal "import peak RSS < 200 MB (one $(calc "$WSI_BYTES/1e6" 0) MB file)" "$(calc "$IMP_RSS/1024" 0) MB" "$(yn "$IMP_RSS/1024 < 200")"
	rm -rf "$TMP/st_ing"
else
	say "bench: no corpus RGB seed or no python3-numpy/pydicom: large-file ingest rows skipped"
fi

# ---------------------------------------------------------------- 2 storage
section storage "2. Storage (generated archive, $(calc "$ARCH_BYTES/1e6" 0) MB input)"
"$CTL" stats --json "$STORE" > "$TMP/stats.json"
LOG=$(json "$TMP/stats.json" 'd["total"]["logical_bytes"]')
STORED=$(json "$TMP/stats.json" 'd["total"]["stored_bytes"]+d["index_bytes"]')
ONDISK=$(bytes_of "$STORE")
row "logical bytes" "$LOG" "$ARCH_BYTES (input)" "B"
row "stored bytes (blobs + index)" "$STORED" "$ARCH_BYTES (input)" "B"
row "store folder (du -sb)" "$ONDISK" "-" "B"
row "dedup ratio" "$(json "$TMP/stats.json" 'd["total"]["dedup_ratio"]')" "$(calc "$ARCH_BYTES / $(gv expected_dedup_bytes)" 3) (generator's ideal)" "x"
row "compression ratio (after dedup)" "$(json "$TMP/stats.json" 'd["total"]["compression_ratio"]')" "-" "x"
row "pixel compression ratio" "$(json "$TMP/stats.json" 'd["total"]["pixel_compression_ratio"]')" "-" "x"
row "input / stored" "$(calc "$ARCH_BYTES / $STORED" 2)" "1" "x"
say "bench: tar | zstd -3"
zs=$(t bash -c "tar -C '$ARCH' -cf - . | zstd -3 -q -c > '$TMP/a.tar.zst'")
Z3=$(stat -c %s "$TMP/a.tar.zst")
row "vs tar \\| zstd -3 (size; time)" "$STORED; $(calc "$ARCH_IMP_S" 1) s" "$Z3; $(calc "$zs" 1) s" "B; s"
if [ "$ZSTD19" = 1 ]; then
	say "bench: tar | zstd -19 --long -T0 (slow)"
	zs=$(t bash -c "tar -C '$ARCH' -cf - . | zstd -19 --long=27 -T0 -q -c > '$TMP/a.tar.zst'")
	Z19=$(stat -c %s "$TMP/a.tar.zst")
	row "vs tar \\| zstd -19 --long -T0 ($(nproc) threads, once) (size; time)" "$STORED; $(calc "$ARCH_IMP_S" 1) s" "$Z19; $(calc "$zs" 1) s" "B; s"
else
	skip "vs tar \\| zstd -19 --long -T0" "BENCH_ZSTD19=0"
fi
rm -f "$TMP/a.tar.zst"

# pixel codec per real series: codecbench and its in-process references on the same
# pixels (-R: CharLS JPEG-LS, OpenJPH HTJ2K, gradient + zstd -1 over the series)
say "bench: codecbench and its references per series"
declare -A GOALR=([ct_ge_hispeed_head_tilt_28sl]=">= 4.09" [ct_philips_ingenuity_phantom_54sl]=">= 4.58" [mr_ge_3d_t1_mprage_130sl]="> 13.3")
ALL_ENC=() ALL_DEC=()
# refcol NAME: "ratio enc dec" of a reference line of cb.txt ("-" when it failed)
refcol() { awk -v n="$1" '$1=="ref" && $2==n {print $3" x, "$4" / "$5" MB/s"; f=1} END{if(!f) print "-"}' "$TMP/cb.txt"; }
for sd in "$SERIES_DIR"/*/; do
	name=$(basename "$sd")
	"$BUILD/dcmfs-codecbench" -R -r "$RUNS" "$sd"* > "$TMP/cb.txt" 2>&1 || true
	ratio=$(awk '/^ratio/{print $2}' "$TMP/cb.txt")
	enc=$(awk '/^encode MB\/s/{print $3}' "$TMP/cb.txt")
	dec=$(awk '/^decode MB\/s/{print $3}' "$TMP/cb.txt")
	ALL_ENC+=("$enc") ALL_DEC+=("$dec")
	g=${GOALR[$name]:-"> 0"}
	row "pixel ratio $name (codecbench)" "$ratio" "JPEG-LS $(refcol jpeg-ls); HTJ2K $(refcol htj2k); gradient+zstd $(refcol gradient+zstd)" "x" "$g" \
		"$(yn "$ratio $g")"
	row "codec encode / decode $name (1 core)" "$enc / $dec" "-" "MB/s" ">= 180 / >= 800" "enc $(yn "$enc >= 180"), dec $(yn "$dec >= 800")"
	goal "pixel ratio $name $g" "$ratio" "$(yn "$ratio $g")"
done
rng() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd- | sed 's/^\([^-]*\)-\1$/\1/'; }
allge() { local x; for x in "${@:2}"; do awk "BEGIN{exit !($x >= $1)}" || { echo "not reached"; return; }; done; echo reached; }
goal "codec encode >= 180 MB/s one core (each series)" "$(rng "${ALL_ENC[@]}") MB/s" "$(allge 180 "${ALL_ENC[@]}")"
goal "codec decode >= 800 MB/s one core (each series)" "$(rng "${ALL_DEC[@]}") MB/s" "$(allge 800 "${ALL_DEC[@]}")"

# the largest series of the generated archive (also read through the mount in 3)
BIGSER=$(cd "$ARCH/patients" && du -sb */studies/*/* | sort -rn | sed -n 1p | cut -f2)
BIGSER_BYTES=$(bytes_of "$ARCH/patients/$BIGSER")
BIGSER_N=$(ls "$ARCH/patients/$BIGSER" | wc -l)
ls "$ARCH/patients/$BIGSER" > "$TMP/bigser.names"
# catser DIR: cat exactly the generator's file names of the largest series under DIR (the mount also shows later versions)
catser() { (cd "$1/$BIGSER" && xargs -a "$TMP/bigser.names" cat); }

# dcmfsctl get --series: every file of a series into a fresh folder, one sync at the end;
# reference: cp -r of the same files (page cache) into a fresh folder + sync
say "bench: dcmfsctl get --series"
GET_ALL=() GET_X=()
get_series() { # NAME STORE SERIESUID SRCDIR
	local name=$1 st=$2 uid=$3 src=$4 g=() c=() own=() i a b gb gn n mbs
	b=$(bytes_of "$src") n=$(find "$src" -type f | wc -l)
	warm "$src"
	for i in $(seq "$RUNS"); do
		rm -rf "$TMP/get.out"; sync
		a=$(now)
		"$CTL" get "$st" --series "$uid" -o "$TMP/get.out" > "$TMP/get.txt"
		g+=("$(awk "BEGIN{print $(now) - $a}")")
		own+=("$(sed -n 's/.* \([0-9.]*\) MB\/s$/\1/p' "$TMP/get.txt")")
		gb=$(bytes_of "$TMP/get.out") gn=$(find "$TMP/get.out" -type f | wc -l)
		[ "$gn" -ge "$n" ] || say "bench: get --series $name wrote $gn files, not $n"
		rm -rf "$TMP/get.out"; sync
		c+=("$(t bash -c "cp -r '$src' '$TMP/get.out' && sync")")
	done
	rm -rf "$TMP/get.out"
	mbs=$(calc "$gb / $(median "${g[@]}") / 1e6" 0)
	GET_ALL+=("$mbs")
	row "dcmfsctl get --series, $name ($gn files, $(calc "$gb/1e6" 0) MB; wall time; dcmfsctl's own figure $(median "${own[@]}"))" \
		"$mbs" "$(calc "$b / $(median "${c[@]}") / 1e6" 0) (cp -r+sync)" "MB/s" ">= 500" "$(yn "$mbs >= 500")"
	# issue 10: at least the speed of cp -r + sync of the same files
	local x
	x=$(calc "$(median "${c[@]}") / $(median "${g[@]}")" 2)
	GET_X+=("$x")
	row "dcmfsctl get --series, $name: get speed / cp speed" "$x" "1" "x" ">= 1.0" "$(yn "$x >= 1.0")"
}
for sd in "$SERIES_DIR"/*/; do
	f1=$(find "$sd" -type f | sort | sed -n 1p)
	get_series "$(basename "$sd")" "$SSTORE" "$("$BUILD/dcmfs-scan" "$f1" | sed -n 's/^series_uid=//p')" "$sd"
done
f1=$(ls "$ARCH/patients/$BIGSER"/*.dcm | sed -n 1p)
get_series "generated $(basename "$BIGSER")" "$STORE" "$("$BUILD/dcmfs-scan" "$f1" | sed -n 's/^series_uid=//p')" "$ARCH/patients/$BIGSER"
goal "dcmfsctl get of a whole series >= 500 MB/s (each series)" "$(rng "${GET_ALL[@]}") MB/s" "$(allge 500 "${GET_ALL[@]}")"
goal "dcmfsctl get of a whole series >= 1.0 x cp -r + sync (each series)" "$(rng "${GET_X[@]}")x" "$(allge 1.0 "${GET_X[@]}")"

# ---------------------------------------------------------------- 3 reads
section reads "3. Reads through the mount (largest series: $BIGSER_N files, $(calc "$BIGSER_BYTES/1e6" 0) MB; each file opened and read with 1 MiB reads) vs the same files on ext4 in the page cache"
HWM3=0 HWM4=0
if [ "$HAVE_FS" = 1 ]; then
	say "bench: reads through the mount"
	MNT=$TMP/mnt
	sed "s#^#$MNT/patients/$BIGSER/#" "$TMP/bigser.names" > "$TMP/big.mnt.list"
	sed "s#^#$ARCH/patients/$BIGSER/#" "$TMP/bigser.names" > "$TMP/big.ext4.list"
	find "$ARCH/patients" -name '*.dcm' | sort > "$TMP/ext4.list"
	sed "s#^$ARCH/patients#$MNT/patients#" "$TMP/ext4.list" > "$TMP/mnt.list"
	sr() { python3 "$ROOT/tools/bench/seqread.py" "$1" | cut -d' ' -f2; }
	declare -A FIRST SECOND
	for mode in ro rw; do
		first=() second=()
		for i in $(seq "$RUNS"); do
			mount_fs "$mode" "$STORE" "$MNT"
			first+=("$(sr "$TMP/big.mnt.list")")
			second+=("$(sr "$TMP/big.mnt.list")")
			hwm HWM3
			if [ "$mode" = ro ] && [ "$i" = 1 ]; then
				[ "$(catser "$ARCH/patients" | md5sum)" = "$(catser "$MNT/patients" | md5sum)" ] && same=yes || same=NO
			fi
			umount_fs "$MNT"
		done
		FIRST[$mode]=$(calc "$BIGSER_BYTES / $(median "${first[@]}") / 1e6" 0)
		SECOND[$mode]=$(calc "$BIGSER_BYTES / $(median "${second[@]}") / 1e6" 0)
	done
	rnd=()
	for i in $(seq "$RUNS"); do
		mount_fs ro "$STORE" "$MNT"
		rnd+=("$(python3 "$ROOT/tools/bench/randread.py" "$TMP/mnt.list" "$RREADS" "$i" | cut -d' ' -f1)")
		hwm HWM3
		umount_fs "$MNT"
	done
	warm "$ARCH/patients/$BIGSER"
	e4=() e4r=()
	for i in $(seq "$RUNS"); do
		e4+=("$(sr "$TMP/big.ext4.list")")
		e4r+=("$(python3 "$ROOT/tools/bench/randread.py" "$TMP/ext4.list" "$RREADS" "$i" | cut -d' ' -f1)")
	done
	E=$(calc "$BIGSER_BYTES / $(median "${e4[@]}") / 1e6" 0)
	R=$(median "${rnd[@]}") RE=$(median "${e4r[@]}")
	F=${FIRST[ro]}
	for mode in ro rw; do
		lab="read-only mount (-o ro)"; [ "$mode" = rw ] && lab="admin mount (rw)"
		row "$lab: first read (fresh mount)" "${FIRST[$mode]}" "$E (ext4, page cache)" "MB/s" ">= 500" "$(yn "${FIRST[$mode]} >= 500")"
		row "$lab: second read (same mount)" "${SECOND[$mode]}" "$E (ext4, page cache)" "MB/s" ">= 0.8 x ext4" "$(yn "${SECOND[$mode]} >= 0.8 * $E") ($(calc "${SECOND[$mode]} / $E" 2)x)"
	done
	goal "first read through the mount >= 500 MB/s (ro; rw)" "${FIRST[ro]}; ${FIRST[rw]} MB/s" "$(yn "${FIRST[ro]} >= 500")"
	goal "second read >= 0.8 x ext4 page cache (ro; rw)" "${SECOND[ro]}; ${SECOND[rw]} vs $E MB/s ($(calc "${SECOND[ro]} / $E" 2)x; $(calc "${SECOND[rw]} / $E" 2)x)" "$(yn "${SECOND[ro]} >= 0.8 * $E")"
	row "random 64 KiB reads, fresh ro mount, whole archive" "$R" "$RE (ext4, page cache)" "reads/s" ">= 2000" "$(yn "$R >= 2000")"
	goal "random 64 KiB reads >= 2000/s (fresh ro mount)" "$R/s" "$(yn "$R >= 2000")"
	row "bytes read through the mount = ext4 bytes" "$same" "-" "-"
else
	skip "reads through the mount" "build/dcmfs not built yet (fs/ has no daemon)"
fi
# the codec alone on the same pixels: dcmfs-codecbench -d (decode only, in memory), one
# process, then two processes at once on the 2 cores (sum of their MB/s); MB/s of raw pixels
say "bench: codec decode, 1 and $(nproc) processes"
CB=("$BUILD/dcmfs-codecbench" -d -r "$RUNS")
"${CB[@]}" "$ARCH/patients/$BIGSER"/*.dcm > "$TMP/cbd.txt" 2>&1 || true
D1=$(awk '/^decode MB\/s/{print $3}' "$TMP/cbd.txt")
NP=$(nproc) cbp=()
for i in $(seq "$NP"); do "${CB[@]}" "$ARCH/patients/$BIGSER"/*.dcm > "$TMP/cbd$i.txt" 2>&1 & cbp+=($!) PIDS+=($!); done
for p in "${cbp[@]}"; do wait "$p" || true; dropval PIDS "$p" "${PIDS[@]:-}"; done
DN=$(cat "$TMP"/cbd[0-9]*.txt | awk '/^decode MB\/s/{s+=$3; n++} END{print (n ? s : 0)}')
row "codec in-memory decode of the same pixels: 1 process; $NP processes at once (sum)" "${D1:-?}; ${DN:-?}" "-" "MB/s" "-" "-"
# first read against that decode: paths opened without listing (FIRST[ro], above) and
# with the folder listed first (readdirplus; files decoded ahead go to the page cache)
if [ "$HAVE_FS" = 1 ] && [ -n "${DN:-}" ]; then
	say "bench: first read, folder listed first"
	fl=()
	for i in $(seq "$RUNS"); do
		mount_fs ro "$STORE" "$MNT"
		ls -l "$MNT/patients/$BIGSER" > /dev/null
		fl+=("$(sr "$TMP/big.mnt.list")")
		hwm HWM3
		umount_fs "$MNT"
	done
	FL=$(calc "$BIGSER_BYTES / $(median "${fl[@]}") / 1e6" 0)
	for v in "paths opened without listing:${FIRST[ro]}" "folder listed first:$FL"; do
		row "read-only mount: first read, ${v%%:*}" "${v##*:}" "$DN (codec, $NP processes)" "MB/s" ">= 0.8 x codec" \
			"$(yn "${v##*:} >= 0.8 * $DN") ($(calc "${v##*:} / $DN" 2)x)"
	done
	goal "first read >= 0.8 x $NP-core in-memory decode (not listed; listed)" "${FIRST[ro]}; $FL vs $DN MB/s" \
		"$(yn "${FIRST[ro]} >= 0.8 * $DN && $FL >= 0.8 * $DN")"
fi
# a whole-slide image (dcmfs-gencorpus --wsi, native RGB tiles of 256x256), read as a viewer
# does (tools/bench/tiles.py: tile by tile at offsets from the frame size) through a fresh
# read-only mount, against the same file on ext4 (page cache) and the codec's decode of it
WSI_TILES=${BENCH_WSI_TILES:-2000}
if [ "$HAVE_FS" = 1 ] && "$GEN" --wsi "$TMP/wsi" --wsi-form native --wsi-tiles "$WSI_TILES" --wsi-levels 2 \
	--seed "$SEED" > "$TMP/wsi.txt" 2>&1; then
	say "bench: whole-slide image reads"
	WSI=$TMP/wsi/native-level0.dcm WB=$(bytes_of "$TMP/wsi/native-level0.dcm")
	"$CTL" init "$TMP/wstore" > /dev/null && "$CTL" import -q "$TMP/wstore" "$WSI" > /dev/null
	wsop=$("$BUILD/dcmfs-scan" "$WSI" | sed -n 's/^sop_instance_uid=//p')
	tf=() tr=() ws=() te=() tre=() wcpu=()
	for i in $(seq "$RUNS"); do
		mount_fs ro "$TMP/wstore" "$MNT"
		wp=$(find "$MNT/patients" -name "$wsop.dcm")
		read -r a b _ < <(python3 "$ROOT/tools/bench/tiles.py" "$wp:$WSI" 500 "$i")
		tf+=("$a") tr+=("$b")
		hwm HWM3
		umount_fs "$MNT"
		mount_fs ro "$TMP/wstore" "$MNT"
		c0=$(awk '{print $14 + $15}' "/proc/$DPID/stat")
		ws+=("$(echo "$wp" | python3 "$ROOT/tools/bench/seqread.py" /dev/stdin | cut -d' ' -f3)")
		# the daemon's CPU (user + system) per MB read: steadier than MB/s on a busy machine
		wcpu+=("$(calc "($(awk '{print $14 + $15}' "/proc/$DPID/stat") - $c0) * 1e7 / $WB" 2)")
		hwm HWM3
		umount_fs "$MNT"
		warm "$WSI"
		read -r a b _ < <(python3 "$ROOT/tools/bench/tiles.py" "$WSI" 500 "$i")
		te+=("$a") tre+=("$b")
	done
	warm "$WSI"
	we=$(echo "$WSI" | python3 "$ROOT/tools/bench/seqread.py" /dev/stdin | cut -d' ' -f3)
	"${CB[@]}" "$WSI" > "$TMP/cbw.txt" 2>&1 || true
	W1=$(awk '/^decode MB\/s/{print $3}' "$TMP/cbw.txt")
	cbp=()
	for i in $(seq "$NP"); do "${CB[@]}" "$WSI" > "$TMP/cbw$i.txt" 2>&1 & cbp+=($!) PIDS+=($!); done
	for p in "${cbp[@]}"; do wait "$p" || true; dropval PIDS "$p" "${PIDS[@]:-}"; done
	WN=$(cat "$TMP"/cbw[0-9]*.txt | awk '/^decode MB\/s/{s+=$3; n++} END{print (n ? s : 0)}')
	TF=$(median "${tf[@]}") TR=$(median "${tr[@]}") WS=$(median "${ws[@]}")
	row "slide ($(calc "$WB/1e6" 0) MB, $WSI_TILES+ tiles): first tile, fresh ro mount (open to bytes)" "$TF" "$(median "${te[@]}") (ext4, page cache)" "ms" "< 5" "$(yn "$TF < 5")"
	row "slide: each further random tile (mean of 500)" "$TR" "$(median "${tre[@]}") (ext4, page cache)" "ms" "< 0.5" "$(yn "$TR < 0.5")"
	row "slide: daemon CPU per MB of the sequential read" "$(median "${wcpu[@]}")" "$(calc "1000 / ${W1:-0.001}" 2) (codec decode, 1 process, wall)" "ms/MB" "" ""
	row "slide: sequential read, 1 MiB reads, fresh ro mount" "$WS" "$we (ext4, page cache); codec ${W1:-?} (1 process), ${WN:-?} ($NP)" "MB/s" ">= 0.8 x codec, $NP processes" \
		"$(yn "$WS >= 0.8 * ${WN:-0}") ($(calc "$WS / ${WN:-1}" 2)x)"
	goal "slide: first tile < 5 ms; random tile < 0.5 ms; sequential >= 0.8 x $NP-core decode" "$TF; $TR ms; $WS vs ${WN:-?} MB/s" \
		"$(yn "$TF < 5 && $TR < 0.5 && $WS >= 0.8 * ${WN:-0}")"
	rm -rf "$TMP/wsi" "$TMP/wstore"
else
	skip "whole-slide image reads" "build/dcmfs or dcmfs-gencorpus --wsi not available"
fi

# ---------------------------------------------------------------- 3b shares
section shares "3b. Shares: a share mount against the admin mount, de-identified shares (tools/bench/shares.sh, deid.sh)"
if [ "$HAVE_FS" = 1 ]; then
	say "bench: shares: reads"
	BUILD=$BUILD "$ROOT/tools/bench/shares.sh" read "$STORE" "$BIGSER" "$TMP/bigser.names" "$RUNS" > "$TMP/shares.tsv"
	say "bench: shares: listing ${BENCH_SHARE_PATIENTS:-1000} of ${BENCH_SHARE_TOTAL:-100000} patients"
	BUILD=$BUILD "$ROOT/tools/bench/shares.sh" list "$TMP/shares" "${BENCH_SHARE_TOTAL:-100000}" \
		"${BENCH_SHARE_PATIENTS:-1000}" "$RUNS" >> "$TMP/shares.tsv"
	if [ -d "$SERIES_DIR/ct_ge_hispeed_head_tilt_28sl" ]; then
		say "bench: shares: de-identified (tools/bench/deid.sh)"
		BUILD=$BUILD "$ROOT/tools/bench/deid.sh" "$TMP/deid" "$SERIES_DIR/ct_ge_hispeed_head_tilt_28sl" \
			"$RUNS" >> "$TMP/shares.tsv"
	fi
	while IFS=$'\t' read -r m v r u g y; do
		row "$m" "$v" "$r" "$u" "$g" "$y"
		goal "$m $g" "$v vs $r" "${y%% (*}"
	done < "$TMP/shares.tsv"
	rm -rf "$TMP/shares"
else
	skip "shares" "build/dcmfs not built yet"
fi
large_section

# ---------------------------------------------------------------- 4 metadata
section meta "4. Metadata over a tree of $META_N instances (small real images; ext4 twin = generator output)"
say "bench: generating metadata tree ($META_N instances)"
META=$TMP/meta
mg=$(t "$GEN" "$META" --small --patients $((META_N / 100 + 10)) --studies-per-patient 2 --dup-rate 0 --seed "$SEED" --max-instances "$META_N" -q)
META_N_REAL=$(find "$META/patients" -type f | wc -l)
META_BYTES=$(bytes_of "$META/patients")
MSTORE=$TMP/mstore
"$CTL" init "$MSTORE" >/dev/null
sync
mi=$(t /usr/bin/time -f %M -o "$TMP/rss" "$CTL" import -q "$MSTORE" "$META/patients")
META_RSS=$(tail -1 "$TMP/rss")
row "generate $META_N_REAL instances ($(calc "$META_BYTES/1e6" 0) MB)" "-" "$(calc "$mg" 1)" "s"
row "import $META_N_REAL small instances (once)" "$(calc "$mi" 1) s, $(calc "$META_N_REAL / $mi" 0) inst/s" "-" "s"
row "import peak RSS (small tree)" "$(calc "$META_RSS/1024" 0)" "-" "MB" "< 200" "$(yn "$META_RSS/1024 < 200")"
goal "import peak RSS < 200 MB ($META_N_REAL small files)" "$(calc "$META_RSS/1024" 0) MB" "$(yn "$META_RSS/1024 < 200")"
if [ "$HAVE_FS" = 1 ]; then
	MNT2=$TMP/mnt2
	mount_ro "$MSTORE" "$MNT2"
	A=$MNT2/patients B=$META/patients
	# destinations of the no-change rsync rows: the ext4 one is a hard-link copy of
	# the generator's tree (same inodes, so nothing to transfer; rsync still lstat()s
	# both trees, which is what the row measures); the mount's is a real copy
	say "bench: rsync initial copy from the mount"
	cp -al "$B" "$TMP/rs_ext4"
	rsync -a "$A/" "$TMP/rs_mnt/"
	hwm HWM4
	sub() { local c=${1//SRC/$2}; echo "${c//DST/$3}"; }
	metric() { # NAME CMD (SRC, DST replaced) GOAL
		local name=$1 cmd=$2 goal=$3 m=() e=() i
		# no separate warm-up pass: the initial rsync walked both trees, and the
		# median of $RUNS drops a slow first run
		for i in $(seq "$RUNS"); do
			m+=("$(t bash -c "$(sub "$cmd" "$A" "$TMP/rs_mnt")")")
			e+=("$(t bash -c "$(sub "$cmd" "$B" "$TMP/rs_ext4")")")
		done
		local ms es
		ms=$(median "${m[@]}") es=$(median "${e[@]}")
		row "$name" "$(calc "$ms" 2)" "$(calc "$es" 2) (ext4)" "s" "$goal" "$( [ "$goal" = - ] && echo "$(calc "$ms / $es" 2)x ext4" || echo "$(yn "$ms <= 3 * $es") ($(calc "$ms / $es" 2)x)")"
		hwm HWM4
		[ "$goal" = - ] || goal "$name over $META_N_REAL instances $goal" "$(calc "$ms" 2) vs $(calc "$es" 2) s ($(calc "$ms / $es" 2)x)" "$(yn "$ms <= 3 * $es")"
	}
	metric "find" "find SRC | wc -l" "<= 3x ext4"
	metric "ls -lR" "ls -lR SRC | wc -l" "<= 3x ext4"
	metric "du -s" "du -s SRC" "-"
	metric "no-change rsync -a" "rsync -a SRC/ DST/" "<= 3x ext4"
	n=$(rsync -a --stats "$A/" "$TMP/rs_mnt/" | sed -n 's/^Number of regular files transferred: //p')
	row "files transferred by a second rsync -a from the mount" "$n" "0" "files"
	hwm HWM4
	umount_ro "$MNT2"
	rm -rf "$TMP/rs_ext4" "$TMP/rs_mnt"
else
	skip "metadata through the mount" "build/dcmfs not built yet"
fi

# ---------------------------------------------------------------- 5 memory
section memory "5. Memory (peak RSS)"
row "dcmfsctl import, archive" "$(calc "$ARCH_RSS/1024" 0)" "-" "MB" "< 200" "$(yn "$ARCH_RSS/1024 < 200")"
row "dcmfsctl import, $META_N_REAL small files" "$(calc "$META_RSS/1024" 0)" "-" "MB" "< 200" "$(yn "$META_RSS/1024 < 200")"
if [ "$HAVE_FS" = 1 ]; then
	row "dcmfs daemon, 3 (reads; highest of its mounts) (VmHWM)" "$(calc "$HWM3/1024" 0)" "-" "MB" "< 150" "$(yn "$HWM3/1024 < 150")"
	row "dcmfs daemon, 4 (copy + walks of $META_N_REAL instances) (VmHWM)" "$(calc "$HWM4/1024" 0)" "-" "MB" "< 150" "$(yn "$HWM4/1024 < 150")"
	goal "daemon peak RSS < 150 MB (3 reads; 4 metadata)" "$(calc "$HWM3/1024" 0); $(calc "$HWM4/1024" 0) MB" "$(yn "$HWM3/1024 < 150 && $HWM4/1024 < 150")"
else
	skip "dcmfs daemon RSS" "build/dcmfs not built yet"
fi

# ---------------------------------------------------------------- 6 orthanc
section orthanc "6. Orthanc 1.10 (REST, private network namespace) vs dcmfs, same files"
if [ "$ORTHANC" = 1 ] && command -v Orthanc >/dev/null && command -v unshare >/dev/null; then
	# lists: originals, then each kind of duplicate
	find "$ARCH/patients" -type f | sort > "$TMP/l_orig"
	lists=("$TMP/l_orig") kinds=(original)
	for k in resend dept2 corrected merged; do
		[ -d "$ARCH/dup-$k" ] || continue
		find "$ARCH/dup-$k" -type f | sort > "$TMP/l_$k"
		lists+=("$TMP/l_$k") kinds+=("$k")
	done
	cat "${lists[@]}" > "$TMP/l_all"
	find "$CORPUS" -type f ! -name '*.md' ! -name '*.tsv' | sort > "$TMP/l_corpus"
	# dcmfs side: import the same lists in the same order, stored bytes after each
	DS=$TMP/st_orth
	rm -rf "$DS"; "$CTL" init "$DS" >/dev/null
	declare -A D_S D_ST
	for i in "${!lists[@]}"; do
		k=${kinds[$i]}
		D_S[$k]=$(t bash -c "xargs -d '\n' -a '${lists[$i]}' '$CTL' import -q '$DS'")
		"$CTL" stats --json "$DS" > "$TMP/s.json"
		D_ST[$k]=$(json "$TMP/s.json" 'd["total"]["stored_bytes"]+d["index_bytes"]')
	done
	rm -rf "$DS"; "$CTL" init "$DS" >/dev/null
	dcor_s=$(t bash -c "xargs -d '\n' -a '$TMP/l_corpus' '$CTL' import -q '$DS' 2>/dev/null || true")
	"$CTL" stats --json "$DS" > "$TMP/s.json"
	dcor_st=$(json "$TMP/s.json" 'd["total"]["stored_bytes"]+d["index_bytes"]')
	dcor_in=$(xargs -d '\n' -a "$TMP/l_corpus" cat | wc -c)
	for comp in false true; do
		say "bench: Orthanc StorageCompression=$comp"
		unshare -n bash "$ROOT/tools/bench/orthanc.sh" "$TMP/orthanc" $comp "${lists[@]}" > "$TMP/o_$comp.txt"
		unshare -n bash "$ROOT/tools/bench/orthanc.sh" "$TMP/orthanc" $comp "$TMP/l_corpus" > "$TMP/oc_$comp.txt"
	done
	ov() { tr ' ' '\n' < "$1" | sed -n "s/^$2=//p"; }
	tot_b=0 tot_s_f=0 tot_s_t=0 tot_d=0
	for i in "${!lists[@]}"; do
		j=$((i + 1)) k=${kinds[$i]}
		b=$(ov "$TMP/o_false.txt" "list$j.bytes")
		sf=$(ov "$TMP/o_false.txt" "list$j.seconds") st=$(ov "$TMP/o_true.txt" "list$j.seconds")
		tot_b=$((tot_b + b)); tot_s_f=$(calc "$tot_s_f + $sf" 3); tot_s_t=$(calc "$tot_s_t + $st" 3); tot_d=$(calc "$tot_d + ${D_S[$k]}" 3)
		prev_f=0 prev_t=0 prev_d=0
		if [ "$i" -gt 0 ]; then
			prev_f=$(ov "$TMP/o_false.txt" "list$i.stored"); prev_t=$(ov "$TMP/o_true.txt" "list$i.stored"); prev_d=${D_ST[${kinds[$((i - 1))]}]}
		fi
		nf=$(ov "$TMP/o_false.txt" "list$j.stored") nt=$(ov "$TMP/o_true.txt" "list$j.stored")
		row "$k ($(calc "$b/1e6" 0) MB): ingest MB/s" "$(calc "$b / ${D_S[$k]} / 1e6" 1)" "$(calc "$b / $sf / 1e6" 1) (off), $(calc "$b / $st / 1e6" 1) (on)" "MB/s"
		row "$k: bytes added to the store" "$((D_ST[$k] - prev_d))" "$((nf - prev_f)) (off), $((nt - prev_t)) (on); Orthanc: $(ov "$TMP/o_true.txt" "list$j.success") new, $(ov "$TMP/o_true.txt" "list$j.already") AlreadyStored (ignored)" "B"
	done
	last=${#lists[@]}
	of=$(ov "$TMP/o_false.txt" "list$last.stored") ot=$(ov "$TMP/o_true.txt" "list$last.stored")
	oif=$(ov "$TMP/o_false.txt" "list$last.index") oit=$(ov "$TMP/o_true.txt" "list$last.index")
	dst=${D_ST[${kinds[$((last - 1))]}]}
	row "archive: total ingest MB/s" "$(calc "$tot_b / $tot_d / 1e6" 1)" "$(calc "$tot_b / $tot_s_f / 1e6" 1) (off), $(calc "$tot_b / $tot_s_t / 1e6" 1) (on)" "MB/s" ">= 4x Orthanc (on)" "$(yn "$tot_s_t >= 4 * $tot_d") ($(calc "$tot_s_t / $tot_d" 1)x)"
	row "archive: stored (data + index)" "$dst" "$((of + oif)) (off), $((ot + oit)) (on)" "B" "<= 0.75 x Orthanc (on)" "$(yn "$dst <= 0.75 * ($ot + $oit)") ($(calc "$dst / ($ot + $oit)" 2)x)"
	goal "dcmfs ingest >= 4x Orthanc with compression (archive)" "$(calc "$tot_s_t / $tot_d" 1)x" "$(yn "$tot_s_t >= 4 * $tot_d")"
	goal "dcmfs stores <= 0.75 x Orthanc with compression (archive)" "$(calc "$dst / ($ot + $oit)" 2)x" "$(yn "$dst <= 0.75 * ($ot + $oit)")"
	rb_f=$(calc "$(ov "$TMP/o_false.txt" readback.bytes) / $(ov "$TMP/o_false.txt" readback.seconds) / 1e6" 0)
	rb_t=$(calc "$(ov "$TMP/o_true.txt" readback.bytes) / $(ov "$TMP/o_true.txt" readback.seconds) / 1e6" 0)
	row "archive: read-back of every stored instance" "${F:-n/a} (series, first read via mount)" "$rb_f (off), $rb_t (on), REST GET" "MB/s"
	row "Orthanc peak RSS" "-" "$(calc "$(ov "$TMP/o_false.txt" orthanc.peak_rss_kb)/1024" 0) (off), $(calc "$(ov "$TMP/o_true.txt" orthanc.peak_rss_kb)/1024" 0) (on)" "MB"
	cf=$(ov "$TMP/oc_false.txt" list1.seconds) ct=$(ov "$TMP/oc_true.txt" list1.seconds)
	csf=$(( $(ov "$TMP/oc_false.txt" list1.stored) + $(ov "$TMP/oc_false.txt" list1.index) ))
	cst=$(( $(ov "$TMP/oc_true.txt" list1.stored) + $(ov "$TMP/oc_true.txt" list1.index) ))
	row "shared corpus ($(wc -l < "$TMP/l_corpus") files, $(calc "$dcor_in/1e6" 0) MB): ingest MB/s" "$(calc "$dcor_in / $dcor_s / 1e6" 1)" "$(calc "$dcor_in / $cf / 1e6" 1) (off), $(calc "$dcor_in / $ct / 1e6" 1) (on); $(ov "$TMP/oc_true.txt" list1.success) accepted" "MB/s" ">= 4x Orthanc (on)" "$(yn "$ct >= 4 * $dcor_s") ($(calc "$ct / $dcor_s" 1)x)"
	row "shared corpus: stored (data + index)" "$dcor_st" "$csf (off), $cst (on)" "B" "<= 0.75 x Orthanc (on)" "$(yn "$dcor_st <= 0.75 * $cst") ($(calc "$dcor_st / $cst" 2)x)"
	goal "dcmfs ingest >= 4x Orthanc with compression (shared corpus)" "$(calc "$ct / $dcor_s" 1)x" "$(yn "$ct >= 4 * $dcor_s")"
	goal "dcmfs stores <= 0.75 x Orthanc with compression (shared corpus)" "$(calc "$dcor_st / $cst" 2)x" "$(yn "$dcor_st <= 0.75 * $cst")"
	rm -rf "$TMP/orthanc" "$DS"
else
	skip "Orthanc comparison" "BENCH_ORTHANC=0 or orthanc/unshare missing"
fi

orthanc_fair_section
distributed_section

# ---------------------------------------------------------------- goals
SECTION=goals
printf '\n### Goals\n\n| goal | measured | reached |\n| --- | --- | --- |\n'
for gl in "${GOALS[@]}"; do
	IFS=$'\t' read -r gg gm gr <<< "$gl"
	printf '| %s | %s | %s |\n' "$gg" "$gm" "$gr"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' goals "$gg" "$gm" "-" "-" "-" "$gr" >> "$RES.new"
done
mv "$RES.new" "$RES"
if command -v gnuplot >/dev/null; then
	"$ROOT/tools/bench/plot.sh" "$RES" "$ROOT/bench/throughput.svg" && echo && echo "Plot: bench/throughput.svg"
fi
echo
echo "Total bench time: $(( $(date +%s) - T0 )) s.  Machine-readable: bench/results.tsv"
