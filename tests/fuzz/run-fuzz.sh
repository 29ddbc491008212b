#!/bin/bash
# run-fuzz.sh FUZZDIR SECONDS: seed the corpora (under FUZZDIR, never in the
# repository) and run each libFuzzer target for SECONDS.  Crashes are left
# as FUZZDIR/crash-<target>-*; the summary line of each run is printed.
# Exit status 1 when any target found a crash.
set -u
FZ=$1
SECS=${2:-60}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=$TOP/../shared/corpus
PYD=/usr/lib/python3/dist-packages/pydicom/data/test_files
src=()
[ -d "$CORPUS" ] && src+=("$CORPUS")
[ -d "$PYD" ] && src+=("$PYD")
if [ ${#src[@]} -eq 0 ]; then
	echo "fuzz: no seed data (../shared/corpus, pydicom test files): starting from empty corpora"
fi
mapfile -t files < <(find "${src[@]}" -type f -size -2M 2>/dev/null | sort)
echo "fuzz: ${#files[@]} seed files from ${src[*]:-nothing}"

# fuzz_dicom: the files as they are (libFuzzer cuts them to -max_len).
mkdir -p "$FZ/corpus-dicom" "$FZ/corpus-codec" "$FZ/corpus-record"
i=0
for f in "${files[@]}"; do
	cp "$f" "$FZ/corpus-dicom/seed-$i" 2>/dev/null
	i=$((i + 1))
done
# fuzz_codec: blobs made by the encoder from the files' pixel data.
[ ${#files[@]} -gt 0 ] && "$FZ/codec-seeds" "$FZ/corpus-codec" "${files[@]}"
# fuzz_record: instance records and blob headers, from a store of the files.
if [ ${#files[@]} -gt 0 ] && [ -x "$TOP/build/dcmfsctl" ]; then
	S=$FZ/seed-store
	rm -rf "$S"
	"$TOP/build/dcmfsctl" init "$S" >/dev/null &&
		"$TOP/build/dcmfsctl" import -q "$S" "${src[@]}" >/dev/null 2>&1
	/usr/bin/python3 "$TOP/tests/fuzz/pack_payloads.py" "$S" "$FZ/corpus-record"
	rm -rf "$S"
fi

fail=0
for t in dicom codec record; do
	max=65536
	[ $t = record ] && max=8192
	echo "fuzz: fuzz_$t for ${SECS}s"
	( cd "$FZ" && "./fuzz_$t" -max_total_time="$SECS" -max_len=$max -rss_limit_mb=2048 \
		-timeout=20 -print_final_stats=1 -artifact_prefix="$FZ/crash-$t-" \
		"corpus-$t" ) >"$FZ/fuzz_$t.log" 2>&1
	rc=$?
	grep -E '^#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::peak_rss|SUMMARY|ERROR' "$FZ/fuzz_$t.log" | tail -4 | sed "s/^/fuzz_$t: /"
	if [ $rc -ne 0 ]; then
		echo "fuzz_$t: FAILED (exit $rc), see $FZ/fuzz_$t.log and $FZ/crash-$t-*"
		fail=1
	fi
done
exit $fail
