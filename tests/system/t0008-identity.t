#!/bin/bash
# t0008-identity.t - never merge two patients or two instances (issue 7).
# Hostile files are made at run time from real seeds (lib/identity_gen.py):
# patients without a PatientID, 81-character UIDs, NULs inside values, IDs
# whose escaped names pass 255 bytes, 300 versions of one instance.  Then the
# catalogue, dcmfsctl and the mounted tree must keep every one apart and
# reachable by name.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
GEN="$PY $LIB/identity_gen.py"
$PY -c 'import pydicom' 2>/dev/null || skip_all "no pydicom"
CT=$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl/01.dcm
SMALL=$CORPUS/variety/SC_rgb_small_odd.dcm
[ -f "$CT" ] && [ -f "$SMALL" ] || skip_all "no shared corpus seeds"

# sql STORE QUERY: one value from the catalogue (index.db, or PostgreSQL
# in the distributed run: tests/run-distributed)
sql() { catalog_sql "$@"; }

# ---- 1. no PatientID: keyed by name, birth date and issuer ----
$GEN noid "$CT" "$T/noid" || not_ok "generate noid files"
S=$T/s1
check "import five instances without a PatientID" new_store "$S" "$T/noid"
np=$(sql "$S" "SELECT count(*) FROM patients")
check "four patients: only name+birth+issuer all equal merge (got $np)" [ "$np" = 4 ]
"$CTL" ls "$S" >"$T/ls1"
diag <"$T/ls1"
check "their folders are %noid-<8 hex>" [ "$(grep -cE ' %noid-[0-9a-f]{8}$' "$T/ls1")" = 4 ]
check "no folder is the bare %" fails grep -qE ' %$' "$T/ls1"
jane=$(sql "$S" "SELECT dirname FROM patients WHERE name='Doe^Jane' AND birth_date='19700101' AND issuer=''")
check "Jane 1970 without issuer has both of her studies" [ "$(sql "$S" "SELECT nchildren FROM patients WHERE dirname='$jane'")" = 2 ]
# Two %noid stems alike: the patient filed second takes stem-2 (a rule
# catalog_pg.c's dcmfs_place repeats in SQL; t0721 holds it there).
$GEN clash "$CT" "$T/clash" || not_ok "generate clashing noid files"
S=$T/s1c
"$CTL" init "$S" >/dev/null && "$CTL" import -q "$S" "$T/clash/clash_0.dcm" >/dev/null &&
	"$CTL" import -q "$S" "$T/clash/clash_1.dcm" >/dev/null || not_ok "import the clashing files"
check "two patients whose %noid stems clash get %noid-635941b6 and %noid-635941b6-2" \
	[ "$(sql "$S" "SELECT dirname FROM patients ORDER BY id" | paste -sd ' ')" \
	  = "%noid-635941b6 %noid-635941b6-2" ]
check "verify holds a stem-2 folder as right" "$CTL" verify "$S"

# ---- 2. values are never cut ----
$GEN long "$CT" "$T/long" || not_ok "generate long files"
S=$T/s2 M=$T/m2
check "import long UIDs, NUL values, long IDs" new_store "$S" "$T/long"
check "two 81-character SOPInstanceUIDs are two instances, not versions" \
	[ "$(sql "$S" "SELECT count(*) FROM instances WHERE length(sop_uid)=81 AND version=1")" = 2 ]
check "the full 81 characters are kept" \
	[ "$(sql "$S" "SELECT count(DISTINCT sop_uid) FROM instances WHERE sop_uid LIKE '1.2.826.0.1.3680043.8.498.7.9.%'")" = 2 ]
check "PatientIDs AAAA<NUL>BBBB and AAAA<NUL>CCCC are two patients" \
	[ "$(sql "$S" "SELECT count(*) FROM patients WHERE dirname LIKE 'AAAA%'")" = 2 ]
check "64 x é and 63 x é + x are two patients" \
	[ "$(sql "$S" "SELECT count(*) FROM patients WHERE dirname LIKE '%C3%A9%'")" = 2 ]
check "no folder or file name is longer than 255 bytes" \
	[ "$(sql "$S" "SELECT max($([ $DISTRIBUTED = 1 ] && echo 'octet_length(dirname)' || echo 'length(CAST(dirname AS BLOB))')) FROM patients")" -le 255 ]
fs_mount_or_bail "$S" "$M" -o ro
check "find sees every file" [ "$(find "$M/patients" -type f | wc -l)" = 6 ]
n=0
while IFS= read -r -d '' f; do
	cmp -s "$f" "$f" && [ -f "$f" ] && n=$((n + 1))
done < <(find "$M/patients" -type f -print0)
check "every file found is also looked up by name ($n)" [ "$n" = 6 ]
sleep 2
check "and still there 2 s later" [ "$(find "$M/patients" -type f | wc -l)" = 6 ]
check "rsync copies the tree without errors" rsync -a "$M/patients/" "$T/copy/"
fs_match_originals "$T/copy" "$T/long" >"$T/map2"
check "the copies are the originals" [ "$(grep -c '^MISSING' "$T/map2")" = 0 -a "$(wc -l <"$T/map2")" = 6 ]
check "unmount" fs_umount "$M"
# An index of schema 1 (the code before issue 7) is refused with the way
# out; reindex rebuilds it from the packs with every name fitted.
if [ "$DISTRIBUTED" = 1 ]; then
	skip "distributed run: no index.db to make schema 1 of (the PostgreSQL catalogue has its own schema_version)"
else
	sqlite3 "$S/index.db" "PRAGMA user_version=1" || not_ok "make an old index"
	"$CTL" stats "$S" >"$T/old.out" 2>&1
	st=$?
	check "an index of schema 1 is refused (exit $st), naming reindex" \
		eval '[ $st = 2 ] && grep -q "dcmfsctl reindex" "$T/old.out"'
	check "reindex rebuilds it" "$CTL" reindex "$S"
	fs_mount_or_bail "$S" "$M" -o ro
	check "rebuilt, every file is found and opens" \
		[ "$(find "$M/patients" -type f -exec cmp -s {} {} \; -print | wc -l)" = 6 ]
	check "unmount" fs_umount "$M"
fi

# ---- 3. one file per SOPInstanceUID; versions and quarantine apart ----
SER=$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl
GARBAGE=$CORPUS/malformed/trailing_garbage.dcm
sop=$("$BUILD/dcmfs-scan" "$GARBAGE" | sed -n 's/^sop_instance_uid=//p')
clean=$(grep -l "$sop" "$SER"/*.dcm | head -1)
[ -f "$GARBAGE" ] && [ -n "$clean" ] || not_ok "trailing_garbage.dcm shares a UID with a slice of $SER"
$GEN correct "$clean" "$T/corr" || not_ok "generate a corrected header"
S=$T/s3 M=$T/m3
new_store "$S" "$SER"
"$CTL" import "$S" "$GARBAGE" >"$T/imp3" 2>"$T/imp3.err"
st=$?
diag <"$T/imp3"
diag <"$T/imp3.err"
check "trailing garbage is stored (exit $st) and the summary says 1 quarantined" \
	grep -Eq ', 1 quarantined[,;]' "$T/imp3"
check "and names the file with the reason" grep -q "quarantined '.*trailing_garbage.dcm': .*after the pixel data" "$T/imp3.err"
check "get returns the clean version, not the later unclean one" \
	bash -o pipefail -c "'$CTL' get '$S' '$sop' | cmp - '$clean'"
check "get --version 2 returns the unclean one exactly" \
	bash -o pipefail -c "'$CTL' get '$S' '$sop' --version 2 | cmp - '$GARBAGE'"
"$CTL" ls --quarantine "$S" >"$T/q3"
diag <"$T/q3"
check "ls --quarantine lists it, not current" [ "$(grep -c '\.v2\.dcm	not current	.*after the pixel data' "$T/q3")" = 1 ]
new_store "$T/s3b" "$GARBAGE"
"$CTL" import -q "$T/s3b" "$SER" >/dev/null 2>&1
check "unclean first, clean later: the clean one is current" \
	bash -o pipefail -c "'$CTL' get '$T/s3b' '$sop' | cmp - '$clean'"
new_store "$T/s3c" "$GARBAGE"
check "the only version, though unclean, is current (nothing better) and in quarantine" \
	bash -o pipefail -c "'$CTL' get '$T/s3c' '$sop' | cmp - '$GARBAGE' && '$CTL' ls --quarantine '$T/s3c' | grep 'current (no clean version)' >/dev/null"
"$CTL" import -q "$S" "$T/corr" >/dev/null 2>&1
check "a corrected clean header (version 3) becomes current" \
	bash -o pipefail -c "'$CTL' get '$S' '$sop' | cmp - '$T/corr/corrected.dcm'"
"$CTL" reindex "$S" >/dev/null 2>&1
check "after reindex the quarantine is the same (records keep the reason)" \
	bash -o pipefail -c "'$CTL' ls --quarantine '$S' | cmp - '$T/q3'"
check "and the corrected version is still current" \
	bash -o pipefail -c "'$CTL' get '$S' '$sop' | cmp - '$T/corr/corrected.dcm'"
fs_mount_or_bail "$S" "$M" -o ro
n_pat=$(find "$M/patients" -type f | wc -l)
check "the series folder holds one file per SOPInstanceUID ($n_pat)" [ "$n_pat" = 28 ]
check "no .vN file in /patients" fails bash -c "find '$M/patients' -name '*.v[0-9]*.dcm' | grep -q ."
check "the file in /patients is the corrected version" cmp "$(find "$M/patients" -name "$sop.dcm")" "$T/corr/corrected.dcm"
check "/versions holds all 30 versions" [ "$(find "$M/versions" -type f | wc -l)" = 30 ]
check "/versions/.../<SOP>.v2.dcm is the unclean file" cmp "$(find "$M/versions" -name "$sop.v2.dcm")" "$GARBAGE"
check "/quarantine holds only the unclean file" [ "$(find "$M/quarantine" -type f | wc -l)" = 1 ]
check "/quarantine/.../<SOP>.v2.dcm is it, exactly" cmp "$(find "$M/quarantine" -type f)" "$GARBAGE"
check "rsync of /versions backs up every version" rsync -a "$M/versions/" "$T/vcopy/"
fs_match_originals "$T/vcopy" "$SER" "$GARBAGE" "$T/corr" >"$T/map3"
check "each copy is a stored original" [ "$(grep -c '^MISSING' "$T/map3")" = 0 -a "$(wc -l <"$T/map3")" = 30 ]
vdir=$(dirname "$(find "$M/versions" -name "$sop.v2.dcm" | grep . || echo "$M/versions/missing/x")")
check "nothing can be written in /versions" fails touch "$vdir/new.dcm"
ls -i "$(dirname "$(find "$M/versions" -name "$sop.v1.dcm")")" | sort >"$T/ino1"
check "unmount" fs_umount "$M"
fs_mount_or_bail "$S" "$M" -o ro
ls -i "$(dirname "$(find "$M/versions" -name "$sop.v1.dcm")")" | sort >"$T/ino2"
check "inode numbers in /versions are the same after a remount" cmp "$T/ino1" "$T/ino2"
check "unmount" fs_umount "$M"
# a version in another series moves the instance: the old folder is left out
$GEN moved "$clean" "$T/moved" || not_ok "generate a moved version"
S=$T/s3d
# one import after the other, so that the moved one is version 2
check "store the seed, then its version in another series" new_store "$S" "$clean"
check "import the version in another series" "$CTL" import -q "$S" "$T/moved"
fs_mount_or_bail "$S" "$M" -o ro
check "a version moved to another series shows once, in the new series only" \
	eval '[ "$(find "$M/patients" -type f | wc -l)" = 1 ] && cmp "$(find "$M/patients" -type f)" "$T/moved/moved.dcm"'
check "and the series it left is not an empty folder in /patients" \
	[ "$(find "$M/patients" -mindepth 4 -maxdepth 4 -type d | wc -l)" = 1 ]
check "unmount" fs_umount "$M"
# rm of the current version in /patients removes every version
S=$T/s3
fs_mount_or_bail "$S" "$M"
check "rm in /versions fails, even on the admin mount" fails rm "$(find "$M/versions" -name "$sop.v1.dcm")"
check "rmdir in /quarantine fails" fails rmdir "$(find "$M/quarantine" -mindepth 3 -maxdepth 3 -type d)"
check "both are still there" [ "$(find "$M/versions" -name "$sop.*" | wc -l)" = 3 -a "$(find "$M/quarantine" -type f | wc -l)" = 1 ]
check "rm of the shown file" rm "$(find "$M/patients" -name "$sop.dcm")"
check "removes all three versions" fails "$CTL" get "$S" "$sop" --version 1
sleep 1.5
check "and they are gone from /versions and /quarantine" \
	[ "$(find "$M/versions" -name "$sop.*" | wc -l)" = 0 -a "$(find "$M/quarantine" -type f | wc -l)" = 0 ]
check "unmount" fs_umount "$M"

# ---- 4. no fixed limits: 300 versions of one instance, rm of them all ----
$GEN versions "$SMALL" "$T/ver" 300 || not_ok "generate versions"
mkdir -p "$T/ver2"
mv "$T/ver"/v02[0-9][0-9].dcm "$T/ver"/v03*.dcm "$T/ver2/"
S=$T/s4
new_store "$S" "$T/ver"
"$CTL" import -q "$S" "$T/ver2" "$CT" >"$T/imp4" 2>&1
st=$?
diag <"$T/imp4"
check "importing versions 200..300 beside another file succeeds (exit $st)" [ $st = 0 ]
check "301 rows: 300 versions and the CT slice" [ "$(sql "$S" "SELECT count(*) FROM instances")" = 301 ]
uid=$(sql "$S" "SELECT sop_uid FROM instances WHERE version=300")
"$CTL" get "$S" "$uid" --version 300 -o "$T/v300.dcm"
want=$(sha256sum "$T/v300.dcm" | cut -c1-64)
check "get --version 300 gives one of the files of the second import" \
	grep -q "$want" <(sha256sum "$T/ver2"/*.dcm)
packs0=$(ls "$S/packs" | wc -l)
"$CTL" rm "$S" --instance "$uid" >"$T/rm4" 2>&1
diag <"$T/rm4"
check "rm --instance removes all 300 versions" [ "$(sql "$S" "SELECT count(*) FROM instances")" = 1 ]
check "with one pack of tombstones" [ "$(ls "$S/packs" | wc -l)" -le $((packs0 + 1)) ]
$GEN modalities "$SMALL" "$T/mods" 40 || not_ok "generate modalities"
"$CTL" import -q "$S" "$T/mods" >/dev/null 2>&1
check "stats lists all 41 modalities" [ "$("$CTL" stats "$S" | grep -cE '^M[0-9][0-9] |^CT ')" = 41 ]
check "stats --json too" [ "$("$CTL" stats --json "$S" | grep -cE '"M[0-9][0-9]"')" = 40 ]

# ---- 5. the same SOPInstanceUID under another patient: a version, said aloud ----
S=$T/s5
mkdir -p "$T/refile"
src=$CT
$PY - "$src" "$T/refile/other.dcm" <<'PYEOF'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.PatientID = "SOMEONE-ELSE"
ds.save_as(sys.argv[2])
PYEOF
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "$src" >/dev/null 2>&1
"$CTL" import "$S" "$T/refile/other.dcm" >"$T/refile.out" 2>"$T/refile.err"
check "a version under another patient is imported (1 new version)" grep -q ", 1 new version," "$T/refile.out"
check "and the import says it was first filed elsewhere" grep -q "first version is filed in another series" "$T/refile.err"

done_testing
