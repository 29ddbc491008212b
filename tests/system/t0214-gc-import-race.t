#!/bin/bash
# t0214-gc-import-race.t - gc running beside an import never frees what the
# import has decided to share: remove a patient, then import its series
# again while gc runs, twenty times.  Each round verify must pass and every
# stored instance must read back byte-identical to the original file with
# its SOPInstanceUID (the defect filed one slice's bytes under another).
. "$(dirname "$0")/lib/common.sh"

SER=${CORPUS:+$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl}
[ -n "$SER" ] && [ -d "$SER" ] || skip_all "no ../shared/corpus/real/series/ct_ge_hispeed_head_tilt_28sl"
ROUNDS=${T0214_ROUNDS:-20}
S=$T/store

# The originals by SOPInstanceUID.
declare -A orig
series_uid=
patient=
for f in "$SER"/*; do
	sop=$("$SCAN" "$f" | sed -n 's/^sop_instance_uid=//p')
	[ -n "$sop" ] && orig[$sop]=$f
	[ -n "$series_uid" ] || series_uid=$("$SCAN" "$f" | sed -n 's/^series_uid=//p')
	[ -n "$patient" ] || patient=$("$SCAN" "$f" | sed -n 's/^patient_id=//p')
done
n=${#orig[@]}
[ "$n" -gt 1 ] && [ -n "$series_uid" ] && [ -n "$patient" ] || skip_all "cannot scan $SER"

# Every instance of the series, fetched by SOP, equals its original.
readback() {
	local out=$T/out bad=0 got=0
	rm -rf "$out"
	"$CTL" get "$S" --series "$series_uid" -o "$out" >/dev/null || return 1
	for f in "$out"/*; do
		local sop
		sop=$("$SCAN" "$f" | sed -n 's/^sop_instance_uid=//p')
		got=$((got + 1))
		if [ -z "$sop" ] || [ -z "${orig[$sop]:-}" ] || ! cmp -s "$f" "${orig[$sop]}"; then
			echo "$(basename "$f"): not the bytes of the original of ${sop:-?}"
			bad=$((bad + 1))
		fi
	done
	[ "$got" = "$n" ] || { echo "$got files, expected $n"; return 1; }
	[ "$bad" = 0 ]
}

check "init" "$CTL" init "$S"
check "import the series ($n files)" "$CTL" import -q "$S" "$SER"
rounds_bad=0
for ((i = 1; i <= ROUNDS; i++)); do
	"$CTL" rm "$S" --patient "$patient" >"$T/rm.log" 2>&1 || { echo "# rm failed"; sed 's/^/# /' "$T/rm.log"; }
	"$CTL" import -q "$S" "$SER" >"$T/import.log" 2>&1 &
	ipid=$!
	"$CTL" gc "$S" >"$T/gc.log" 2>&1
	gst=$?
	wait "$ipid"
	ist=$?
	round_ok=1
	[ "$ist" = 0 ] || { round_ok=0; echo "# round $i: import exited $ist"; sed 's/^/# /' "$T/import.log"; }
	[ "$gst" = 0 ] || { round_ok=0; echo "# round $i: gc exited $gst"; sed 's/^/# /' "$T/gc.log"; }
	if ! "$CTL" verify "$S" >"$T/verify.log" 2>&1; then
		round_ok=0
		echo "# round $i: verify failed"
		grep -v '^verify' "$T/verify.log" | head -5 | sed 's/^/# /'
	fi
	if ! readback >"$T/readback.log" 2>&1; then
		round_ok=0
		echo "# round $i: read back differs"
		head -5 "$T/readback.log" | sed 's/^/# /'
	fi
	[ "$round_ok" = 1 ] || rounds_bad=$((rounds_bad + 1))
done
check "$ROUNDS rounds of rm, import & gc: verify passes and every SOP reads back its own bytes ($rounds_bad bad)" \
	[ "$rounds_bad" = 0 ]
done_testing
