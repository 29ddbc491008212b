#!/bin/bash
# t0216-verify-identity.t - verify checks what the catalogue says an
# instance is against its record: a healthy store with SOPInstanceUIDs of
# 81 and 300 characters is clean; one changed identity value in index.db
# (a patient folder, a study or series UID, a file name, current, unclean)
# is a problem naming the instance and the fix; a bad record offset is
# printed as sane numbers.
. "$(dirname "$0")/lib/common.sh"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
$PY -c "import pydicom" 2>/dev/null || skip_all "no pydicom"
SEED=""
[ -n "$CORPUS" ] && SEED=$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl
[ -d "$SEED" ] || skip_all "no shared corpus"
IN=$T/in
mkdir -p "$IN"
cp "$SEED"/0[1-4].dcm "$IN"/
# Two instances whose SOPInstanceUIDs are longer than DICOM's 64.
$PY - "$SEED/05.dcm" "$IN" <<'EOF'
import sys, pydicom
from pydicom.config import settings
settings.writing_validation_mode = pydicom.config.IGNORE
settings.reading_validation_mode = pydicom.config.IGNORE
seed, out = sys.argv[1:3]
for n in (81, 300):
    ds = pydicom.dcmread(seed)
    uid = ("1.2.826.0.1.3680043.8.498.216." + "7" * n)[:n]
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.save_as(f"{out}/uid{n}.dcm", write_like_original=True)
EOF
S0=$T/s0
S=$T/s
"$CTL" init "$S0" >/dev/null
"$CTL" import -q "$S0" "$IN" >/dev/null 2>&1
q() { sqlite3 "$S/index.db" "$1"; }
fresh() { rm -rf "$S"; cp -a "$S0" "$S"; }
N=$(sqlite3 "$S0/index.db" "SELECT count(*) FROM instances")
L=$(sqlite3 "$S0/index.db" "SELECT group_concat(length(sop_uid)) FROM instances WHERE length(sop_uid) > 64 ORDER BY 1")
[ "$N" = 6 ] && [ "$L" = "81,300" ] && ok "stored 6 instances, SOP UIDs of 81 and 300 characters" ||
	not_ok "stored $N instances, long UIDs: $L"

# 1. Long UIDs are not a disagreement with the record.
"$CTL" verify "$S0" >"$T/v0.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "verify: a healthy store with 81- and 300-character SOP UIDs is clean" ||
	{ not_ok "verify of a healthy store: exit $rc"; sed 's/^/# /' "$T/v0.out" | head; }

# 2. One identity value changed in index.db: verify exits 1, names the
# instance and says to reindex.  UID is a SOP UID of the instance hit.
UID0=$(sqlite3 "$S0/index.db" "SELECT sop_uid FROM instances WHERE length(sop_uid) <= 64 ORDER BY id LIMIT 1")
ID0=$(sqlite3 "$S0/index.db" "SELECT id FROM instances WHERE sop_uid='$UID0'")
damaged() {
	local what=$1 sql=$2 rc
	fresh
	q "$sql"
	"$CTL" verify "$S" >"$T/v.out" 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -qF "$UID0" "$T/v.out" && grep -q "dcmfsctl reindex" "$T/v.out"; then
		ok "verify finds $what"
	else
		not_ok "verify misses $what (exit $rc)"; sed 's/^/# /' "$T/v.out" | head
	fi
}
SER0="(SELECT series FROM instances WHERE id=$ID0)"
STU0="(SELECT study FROM series WHERE id=$SER0)"
PAT0="(SELECT patient FROM studies WHERE id=$STU0)"
# one character changed, as a flipped bit would
chg() { echo "substr($1, 1, length($1) - 1) || char((unicode(substr($1, -1)) | 16) - (unicode(substr($1, -1)) & 16))"; }
damaged "a renamed patient folder" "UPDATE patients SET dirname=$(chg dirname) WHERE id=$PAT0"
damaged "a changed PatientID" "UPDATE patients SET patient_id=$(chg patient_id) WHERE id=$PAT0"
damaged "a changed study UID" "UPDATE studies SET study_uid=$(chg study_uid) WHERE id=$STU0"
damaged "a renamed study folder" "UPDATE studies SET dirname=$(chg dirname) WHERE id=$STU0"
damaged "a changed series UID" "UPDATE series SET series_uid=$(chg series_uid) WHERE id=$SER0"
damaged "a changed SOP UID" "UPDATE instances SET sop_uid=$(chg sop_uid) WHERE id=$ID0"
# (a name the SOP UID gives is not kept: NULL, see FORMAT.md)
FNAME="coalesce(fname, sop_uid || '.dcm')" VNAME="coalesce(vname, sop_uid || '.v' || version || '.dcm')"
damaged "a renamed file (fname)" "UPDATE instances SET fname=$(chg "$FNAME") WHERE id=$ID0"
damaged "a renamed version file (vname)" "UPDATE instances SET vname=$(chg "$VNAME") WHERE id=$ID0"
damaged "a flipped current flag" "UPDATE instances SET current=0 WHERE id=$ID0"
damaged "a flipped unclean reason" "UPDATE instances SET unclean='x' WHERE id=$ID0"

# 3. A record offset turned to nonsense: verify names it in sane numbers.
fresh
q "UPDATE instances SET record_offset=4 WHERE id=$ID0"
"$CTL" verify "$S" >"$T/v.out" 2>&1
rc=$?
if [ $rc = 1 ] && grep -qF "$UID0" "$T/v.out" && ! grep -q "18446744" "$T/v.out"; then
	ok "verify: a bad record offset is a problem with sane numbers"
else
	not_ok "verify with a bad record offset: exit $rc"; sed 's/^/# /' "$T/v.out" | head
fi
fresh
q "UPDATE instances SET record_offset=-18396 WHERE id=$ID0"   # a high bit flipped in a 2-byte integer
"$CTL" verify "$S" >"$T/v.out" 2>&1
rc=$?
if [ $rc = 1 ] && grep -qF "$UID0" "$T/v.out" && ! grep -q "18446744" "$T/v.out"; then
	ok "verify: a negative record offset is a problem with sane numbers"
else
	not_ok "verify with a negative record offset: exit $rc"; sed 's/^/# /' "$T/v.out" | head
fi

# 4. No false alarm on hostile identities (t0008's): patients without a
# PatientID (%noid folders), NULs inside IDs, long IDs, versions, moves,
# and malformed files (quarantined or rejected).
G="$PY $TOP/tests/system/lib/identity_gen.py"
for w in noid long correct moved; do $G $w "$SEED/01.dcm" "$T/h/$w"; done
$G versions "$SEED/01.dcm" "$T/h/versions" 5
H=$T/hs
"$CTL" init "$H" >/dev/null
"$CTL" import -q "$H" "$T/h" "$SEED/01.dcm" "$CORPUS/malformed" >/dev/null 2>&1
"$CTL" verify "$H" >"$T/vh.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "verify: hostile identities (noid, NULs, long IDs, versions, unclean) are clean" ||
	{ not_ok "verify of hostile identities: exit $rc"; sed 's/^/# /' "$T/vh.out" | head; }

# 5. One real flipped bit in index.db, in an instance row's record_offset
# (a 2-byte integer turned negative): verify says so, with sane numbers.
fresh
sqlite3 "$S/index.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
read -r FNAME FOFF < <(q "SELECT hex(file_hash), record_offset FROM instances WHERE id=$ID0" | tr '|' ' ')
$PY - "$S/index.db" "$FNAME" "$FOFF" <<'EOF'
import sys
p, name, off = sys.argv[1], bytes.fromhex(sys.argv[2]), int(sys.argv[3])
d = bytearray(open(p, "rb").read())
i = -1
while (i := d.find(name, i + 1)) >= 0:
    # the table row: its file hash, (its name, NULL: no bytes), then
    # record_pack, then record_offset
    j = d.find(off.to_bytes(2, "big"), i + len(name), i + len(name) + 8)
    if j >= 0:
        d[j] ^= 0x80
        open(p, "wb").write(d)
        sys.exit(0)
sys.exit(1)
EOF
"$CTL" verify "$S" >"$T/v.out" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q "integrity_check" "$T/v.out" && grep -qF "$UID0" "$T/v.out" &&
	! grep -q "18446744" "$T/v.out"; then
	ok "verify: a flipped bit in a row's record_offset is found, with sane numbers"
else
	not_ok "verify with a flipped bit in record_offset: exit $rc"; sed 's/^/# /' "$T/v.out" | head
fi
done_testing
