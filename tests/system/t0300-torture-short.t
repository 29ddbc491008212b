#!/bin/bash
# A short run of the crash and corruption harness (tests/torture/torture.py):
# 30 kill -9 of an import, 4 kill -9 of the FUSE daemon during cp into
# /incoming, 60 random damages to packs, blob files and index.db of a copy
# of a reference store.  Fixed seed (DCMFS_TORTURE_SEED overrides it); the
# data is ../shared/corpus/variety, else Debian's pydicom test files.
# The long run is `make torture TORTURE_SECONDS=N`.
. "$(dirname "$0")/lib/common.sh"
[ -n "$SAMPLES" ] || skip_all "no sample DICOM files (../shared/corpus or python3-pydicom)"
/usr/bin/python3 -c 'import xxhash, zstandard' 2>/dev/null || skip_all "python3-xxhash / python3-zstandard not installed"
seed=${DCMFS_TORTURE_SEED:-20261130}
echo "# seed $seed"
data=$SAMPLES
[ -n "$CORPUS" ] && data=$CORPUS/variety
/usr/bin/python3 "$TOP/tests/torture/torture.py" --seed "$seed" --data "$data" \
	--crash 30 --fuse 4 --corrupt 60 --work "$T/work" >"$T/torture.out" 2>&1
rc=$?
sed -n "/^torture:/,\$p" "$T/torture.out" | grep -v "^FAIL" | sed "s/^/# /"
grep '^FAIL' "$T/torture.out" | head -40 | sed 's/^/# /'
val() { sed -n "s/^  $1 *\([0-9]*\)$/\1/p" "$T/torture.out"; }
[ "$(val 'wrong bytes')" = 0 ] && ok "no instance reads back wrong bytes" || not_ok "wrong bytes: $(val 'wrong bytes')"
crash=$(grep -c '^FAIL: crash' "$T/torture.out")
[ "$crash" = 0 ] && ok "kill -9 of import: verify clean, re-import completes the set ($(val 'crash points tried') crash points)" \
	|| not_ok "kill -9 of import: $crash failures"
fuse=$(grep -c '^FAIL: fuse' "$T/torture.out")
[ "$fuse" = 0 ] && ok "kill -9 of the FUSE daemon: verify clean, nothing lost after import" || not_ok "kill -9 of the daemon: $fuse failures"
det=$(grep -c '^FAIL: corruption .*verify' "$T/torture.out")
[ "$det" = 0 ] && ok "verify detects and names every damage ($(val 'detected by verify') of $(val 'corruptions tried'))" \
	|| not_ok "verify: $det damages not detected or not named"
lost=$(val 'instances lost (unexpected)')
[ "${lost:-0}" = 0 ] && ok "after reindex only instances whose data was hit are lost" || not_ok "$lost instances lost whose data was intact"
[ $rc -eq 0 ] && ok "torture run: every promise held" || not_ok "torture run exit $rc"
done_testing
