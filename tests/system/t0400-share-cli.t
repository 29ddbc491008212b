#!/bin/bash
# t0400-share-cli.t - dcmfsctl share create|list|show|rm: every refusal
# (no rule, --all with rules, bad names, bad dates, a name that exists),
# the definition file (0600, its format, a damaged one named by line),
# JSON that parses, counts that match the corpus (computed with pydicom
# from the files), a share that matches data imported after it was made,
# and a definition that survives reindex.
. "$(dirname "$0")/lib/common.sh"
need_samples

# The counts are checked against pydicom on the real corpus (every file
# imports, one version each); the pydicom test files hold versions and
# refusals, so there only the rest runs.
if [ -n "$CORPUS" ] && [ -d "$CORPUS/real" ]; then
	D=$CORPUS/real
	COUNTS=1
else
	D=$SAMPLES
	COUNTS=
fi
S=$T/store
check "a store of the samples" new_store "$S" "$D"

# ---- refusals: exit 2 and one specific line each ----
check "no rule is refused" exits_with 2 "share x has no rule" "$CTL" share create "$S" x
check "--all with a rule is refused" exits_with 2 "takes no other rule" \
	"$CTL" share create "$S" x --all --modality CT
check "an empty name is refused" exits_with 2 "share name is empty" "$CTL" share create "$S" "" --all
long=$(printf 'n%.0s' $(seq 65))
check "a 65-byte name is refused" exits_with 2 "65 bytes long, at most 64" "$CTL" share create "$S" "$long" --all
check "a 64-byte name is fine" "$CTL" share create "$S" "${long:1}" --all
check "a leading dot is refused" exits_with 2 "starts with '.'" "$CTL" share create "$S" .hidden --all
check "a '/' is refused" exits_with 2 "contains '/'" "$CTL" share create "$S" a/b --all
check "'..' is refused" exits_with 2 "starts with '.'" "$CTL" share create "$S" .. --all
check "a tab is refused, shown escaped" exits_with 2 'contains \\x09 at byte 2' \
	"$CTL" share create "$S" $'a\tb' --all
check "a space is refused, shown escaped" exits_with 2 'contains \\x20 at byte 4' \
	"$CTL" share create "$S" 'abc def' --all
check "a '*' is refused, shown" exits_with 2 "contains '\*' at byte 1" "$CTL" share create "$S" '*' --all
check "a byte >= 0x80 is refused, shown escaped" exits_with 2 'contains \\xC3 at byte 2' \
	"$CTL" share create "$S" 'aé' --all
check "30 February is refused" exits_with 2 "'20230230' is not a calendar date" \
	"$CTL" share create "$S" x --from 20230230
check "month 13 is refused" exits_with 2 "'20231301' is not a calendar date" \
	"$CTL" share create "$S" x --to 20231301
check "a date with dashes is refused" exits_with 2 "is not a calendar date" \
	"$CTL" share create "$S" x --from 2023-01-01
check "29 February of a leap year is fine" "$CTL" share create "$S" leap --from 20240229
check "29 February of 1900 is refused" exits_with 2 "'19000229' is not a calendar date" \
	"$CTL" share create "$S" x --from 19000229
check "from after to is refused" exits_with 2 "from date 20230301 is after to date 20230101" \
	"$CTL" share create "$S" x --from 20230301 --to 20230101
check "a bad expiry is refused" exits_with 2 "'2026-02-30' is not a calendar date" \
	"$CTL" share create "$S" x --all --expires 2026-02-30
check "an unknown option is refused" exits_with 2 "unknown option '--patients'" \
	"$CTL" share create "$S" x --patients P
check "an empty value is refused" exits_with 2 "needs a value, not an empty one" \
	"$CTL" share create "$S" x --patient ''
check "--shift-dates without --deidentify is refused" exits_with 2 "only applies to a --deidentify" \
	"$CTL" share create "$S" x --all --shift-dates
check "a missing store is refused" exits_with 2 "" "$CTL" share create "$T/nostore" x --all
check "nothing refused left a file" bash -c "! ls '$S/shares' | grep -qx x"

# ---- create, the file, duplicates ----
check "create --modality CT" "$CTL" share create "$S" ct --modality CT
check "a name that exists is refused (exit 1)" exits_with 1 "share ct exists" \
	"$CTL" share create "$S" ct --modality MR
check "the file is 0600" test "$(stat -c %a "$S/shares/ct")" = 600
check "its first line is the format's" test "$(head -1 "$S/shares/ct")" = "dcmfs-share 1"
check "it holds the rule" grep -qx "modality CT" "$S/shares/ct"
check "it holds a 256-bit secret" grep -Eqx "secret [0-9a-f]{64}" "$S/shares/ct"
check "no temporary file is left" bash -c "! ls -A '$S/shares' | grep -q tmp"
check "a value with a space, '%' and a 0x02 byte round-trips" \
	"$CTL" share create "$S" odd --patient $'a b%c\x02' --accession 'x y'
check "the file escapes them" grep -qx "patient a%20b%25c%02" "$S/shares/odd"
check "show --json gives them back" $PY -c '
import json, sys
d = json.load(sys.stdin)
assert d["rules"]["patients"] == ["a b%c\x02"], d["rules"]
assert d["rules"]["accessions"] == ["x y"], d["rules"]
assert d["covers"]["instances"] == 0, d["covers"]
' < <("$CTL" share show --json "$S" odd)
check "two shares get different secrets" bash -c \
	"[ \"\$(grep ^secret '$S/shares/ct')\" != \"\$(grep ^secret '$S/shares/odd')\" ]"
check "expiry in the past is accepted and said" exits_with 0 "already expired" \
	"$CTL" share create "$S" old --all --expires 2020-01-01
check "expiry with a time" "$CTL" share create "$S" later --all --deidentify --expires 2099-12-31T23:59:59Z

# ---- list and show ----
"$CTL" share list "$S" >"$T/list.txt" 2>&1
check "list names every share" bash -c "for n in ct odd old later leap; do grep -q \"^\$n \" '$T/list.txt' || exit 1; done"
check "list says which share is expired" grep -Eq '^old .*expired' "$T/list.txt"
check "list says which share is de-identified" grep -Eq '^later +yes +2099-12-31T23:59:59Z +active +all' "$T/list.txt"
check "list --json parses" $PY -m json.tool < <("$CTL" share list --json "$S")
check "list --json holds every share, expired and de-identified flags" $PY -c '
import json, sys
d = {s["name"]: s for s in json.load(sys.stdin)}
assert {"ct", "odd", "old", "later", "leap"} <= set(d), sorted(d)
assert d["old"]["expired"] is True and d["ct"]["expired"] is False
assert d["later"]["deidentify"] is True and d["ct"]["deidentify"] is False
assert d["ct"]["expires"] is None and d["later"]["expires"] == "2099-12-31T23:59:59Z"
assert d["ct"]["rules"]["modalities"] == ["CT"]
' < <("$CTL" share list --json "$S")
check "show --json parses" $PY -m json.tool < <("$CTL" share show --json "$S" ct)
check "show prints the rules and the counts" exits_with 0 "covers .* patients, .* instances" \
	"$CTL" share show "$S" ct
check "show of a de-identified share says what is left out" exits_with 0 "left out" \
	"$CTL" share show "$S" later
check "show of no such share exits 1" exits_with 1 "no share nosuch" "$CTL" share show "$S" nosuch
check "show of a bad name exits 2" exits_with 2 "starts with '.'" "$CTL" share show "$S" .deid

# ---- counts match the corpus ----
# expect.py ROOT INDEX.DB RULES.json: what a share with these rules covers,
# from the files (pydicom); only the files the store took (their SOP UIDs
# are in the index) count.
cat >"$T/expect.py" <<'PY'
import json, os, sqlite3, sys
import pydicom
root, db, rules = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
taken = {r[0] for r in sqlite3.connect(db).execute("SELECT sop_uid FROM instances WHERE current=1")}
def s(d, k):
    v = d.get(k, "")
    return str(v).strip() if v is not None else ""
# the files' values, read once (cached beside the script)
cache = os.path.join(os.path.dirname(sys.argv[0]), "scan.json")
if os.path.exists(cache):
    rows = json.load(open(cache))
else:
    rows = []
    for dp, dn, fn in os.walk(root):
        for f in sorted(fn):
            p = os.path.join(dp, f)
            try:
                d = pydicom.dcmread(p, stop_before_pixels=True)
            except Exception:
                continue
            rows.append({k: s(d, k) for k in ("SOPInstanceUID", "PatientID", "IssuerOfPatientID",
                         "PatientName", "PatientBirthDate", "StudyDate", "StudyInstanceUID",
                         "SeriesInstanceUID", "AccessionNumber", "Modality")})
            rows[-1]["size"] = os.path.getsize(p)
    json.dump(rows, open(cache, "w"))
pats, studies, series, sops, size = set(), set(), set(), set(), 0
for d in rows:
        sop = d["SOPInstanceUID"]
        if sop not in taken or sop in sops:
            continue
        pid, issuer = d["PatientID"], d["IssuerOfPatientID"]
        pkey = (pid, issuer) if pid else ("", d["PatientName"], d["PatientBirthDate"], issuer)
        date = d["StudyDate"]
        if not rules["all"]:
            ok = True
            for kind, val in (("patients", pid), ("studies", d["StudyInstanceUID"]),
                              ("series", d["SeriesInstanceUID"]),
                              ("accessions", d["AccessionNumber"]), ("modalities", d["Modality"])):
                if rules[kind] and val not in rules[kind]:
                    ok = False
            if (rules["from"] or rules["to"]) and len(date) != 8:
                ok = False
            if rules["from"] and date < rules["from"]:
                ok = False
            if rules["to"] and date > rules["to"]:
                ok = False
            if not ok:
                continue
        stu = pkey + (d["StudyInstanceUID"],)
        pats.add(pkey); studies.add(stu); series.add(stu + (d["SeriesInstanceUID"],)); sops.add(sop)
        size += d["size"]
print(json.dumps({"patients": len(pats), "studies": len(studies), "series": len(series),
                  "instances": len(sops), "bytes": size}, sort_keys=True))
PY
# counts_match NAME: share show's counts equal expect.py's
counts_match() {
	"$CTL" share show --json "$S" "$1" >"$T/show.json" || return 1
	$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); json.dump(d["rules"], open(sys.argv[2], "w"))' \
		"$T/show.json" "$T/rules.json" || return 1
	$PY "$T/expect.py" "$D" "$S/index.db" "$T/rules.json" >"$T/want" || return 1
	$PY -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["covers"], sort_keys=True))' \
		"$T/show.json" >"$T/got" || return 1
	echo "# $1: $(cat "$T/got")"
	diff "$T/want" "$T/got"
}
if [ -n "$COUNTS" ]; then
	q() { sqlite3 "$S/index.db" "$1"; }
	# rules picked from the store: two patients, a study, a series, an
	# accession, a date range, and kinds combined
	p1=$(q "SELECT patient_id FROM patients WHERE patient_id NOT LIKE char(1)||'%' ORDER BY id LIMIT 1")
	p2=$(q "SELECT patient_id FROM patients WHERE patient_id NOT LIKE char(1)||'%' ORDER BY id DESC LIMIT 1")
	st=$(q "SELECT study_uid FROM studies ORDER BY id LIMIT 1 OFFSET 2")
	se=$(q "SELECT series_uid FROM series ORDER BY id LIMIT 1 OFFSET 3")
	acc=$(q "SELECT accession FROM studies WHERE accession<>'' ORDER BY id LIMIT 1")
	"$CTL" share create "$S" everything --all >/dev/null
	"$CTL" share create "$S" two --patient "$p1" --patient "$p2" >/dev/null
	"$CTL" share create "$S" onestudy --study "$st" >/dev/null
	"$CTL" share create "$S" oneseries --series "$se" >/dev/null
	"$CTL" share create "$S" acc --accession "$acc" >/dev/null
	"$CTL" share create "$S" range --from 20040101 --to 20151231 >/dev/null
	"$CTL" share create "$S" since --from 20150101 >/dev/null
	"$CTL" share create "$S" mrct2020 --modality MR --modality CT --from 20200101 >/dev/null
	"$CTL" share create "$S" none --modality CT --patient "$p1" --patient nobody >/dev/null
	for n in ct everything two onestudy oneseries acc range since mrct2020 none leap; do
		check "share $n covers what pydicom counts" counts_match "$n"
	done
	# what a de-identified share of everything leaves out: pixels that may
	# carry identity (BurnedInAnnotation YES; secondary captures and
	# ultrasound unless it says NO)
	"$CTL" share create "$S" anon --all --deidentify >/dev/null
	"$CTL" share show --json "$S" anon >"$T/anon.json"
	check "a de-identified share counts what it leaves out as pydicom does" $PY - "$D" \
		"$S/index.db" "$T/anon.json" <<'PY'
import json, os, sqlite3, sys
import pydicom
show = json.load(open(sys.argv[3]))
taken = {r[0] for r in sqlite3.connect(sys.argv[2]).execute("SELECT sop_uid FROM instances WHERE current=1")}
left = 0
for dp, dn, fn in os.walk(sys.argv[1]):
    for f in fn:
        try:
            d = pydicom.dcmread(os.path.join(dp, f), stop_before_pixels=True)
        except Exception:
            continue
        if str(d.get("SOPInstanceUID", "")) not in taken:
            continue
        bia = str(d.get("BurnedInAnnotation", "")).strip().upper()
        cls = str(d.get("SOPClassUID", ""))
        risky = cls.startswith("1.2.840.10008.5.1.4.1.1.7") or str(d.get("Modality", "")) == "US" \
            or cls.startswith("1.2.840.10008.5.1.4.1.1.6.") or cls.startswith("1.2.840.10008.5.1.4.1.1.3.")
        if bia == "YES" or (risky and bia != "NO"):
            left += 1
got = sum(show["left_out"].values())
print("# left out: %d (pydicom: %d): %s" % (got, left, show["left_out"]))
assert got == left, (got, left)
assert show["deidentified"]["instances"] + got == show["covers"]["instances"], show
PY
	check "show prints what is left out and why" exits_with 0 "left out .* instances" \
		"$CTL" share show "$S" anon
	# a patient without a PatientID, by its folder's name
	noid=$(q "SELECT dirname FROM patients WHERE patient_id LIKE char(1)||'%' ORDER BY id LIMIT 1")
	noid_n=$(q "SELECT count(*) FROM instances i JOIN series se ON se.id=i.series JOIN studies st
		ON st.id=se.study JOIN patients p ON p.id=st.patient WHERE p.dirname='$noid' AND i.current=1")
	check "a patient without a PatientID is shared by its folder name ($noid)" \
		"$CTL" share create "$S" noid --patient "$noid"
	check "it covers that patient's $noid_n instances" test \
		"$("$CTL" share show --json "$S" noid | $PY -c 'import json,sys; c=json.load(sys.stdin)["covers"]; print(c["patients"], c["instances"])')" = "1 $noid_n"
	all_n=$("$CTL" share show --json "$S" everything | $PY -c 'import json,sys; print(json.load(sys.stdin)["covers"]["instances"])')
	check "--all covers every shown instance" test "$all_n" = "$(shown_instances "$S")"
else
	skip "counts against pydicom: no ../shared/corpus/real (the pydicom files hold versions)"
fi

# ---- a share matches data imported after it was made ----
pid=$(sqlite3 "$S/index.db" "SELECT patient_id FROM patients WHERE patient_id NOT LIKE char(1)||'%' ORDER BY id LIMIT 1")
src=$(sqlite3 "$S/index.db" "SELECT i.sop_uid FROM instances i JOIN series se ON se.id=i.series
	JOIN studies st ON st.id=se.study JOIN patients p ON p.id=st.patient
	WHERE p.patient_id='$(printf %s "$pid" | sed "s/'/''/g")' AND i.current=1 LIMIT 1")
check "a share on one patient" "$CTL" share create "$S" onepatient --patient "$pid"
covers() { "$CTL" share show --json "$S" "$1" | $PY -c "import json,sys; print(json.load(sys.stdin)['covers']['$2'])"; }
before_studies=$(covers onepatient studies)
before_inst=$(covers onepatient instances)
"$CTL" get "$S" "$src" -o "$T/src.dcm" >/dev/null
check "a new study of that patient, made with pydicom" $PY - "$T/src.dcm" "$T/new.dcm" <<'PY'
import sys, pydicom
from pydicom.uid import generate_uid
d = pydicom.dcmread(sys.argv[1])
d.StudyInstanceUID = generate_uid()
d.SeriesInstanceUID = generate_uid()
d.SOPInstanceUID = generate_uid()
if "MediaStorageSOPInstanceUID" in d.file_meta:
    d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
d.save_as(sys.argv[2])
PY
check "imported after the share was made" "$CTL" import -q "$S" "$T/new.dcm"
check "the share covers the new study" test "$(covers onepatient studies)" = $((before_studies + 1))
check "and its instance" test "$(covers onepatient instances)" = $((before_inst + 1))
check "a share made before any CT exists" "$CTL" share create "$S" ctlater --modality CT
if [ -n "$CT_SERIES" ]; then
	E=$T/empty
	check "an empty store with a CT share" bash -c "'$CTL' init '$E' >/dev/null && '$CTL' share create '$E' ct --modality CT >/dev/null"
	check "covers nothing yet" test "$("$CTL" share show --json "$E" ct | $PY -c 'import json,sys; print(json.load(sys.stdin)["covers"]["instances"])')" = 0
	"$CTL" import -q "$E" "$CT_SERIES" >/dev/null 2>&1
	n=$(ls "$CT_SERIES" | wc -l)
	check "covers the CT series imported later ($n files)" test "$("$CTL" share show --json "$E" ct | $PY -c 'import json,sys; print(json.load(sys.stdin)["covers"]["instances"])')" = "$n"
else
	skip "no CT series in the corpus"
fi

# ---- survives reindex ----
cp -a "$S/shares" "$T/shares.before"
"$CTL" share list --json "$S" >"$T/list.before"
"$CTL" share show --json "$S" onepatient >"$T/show.before"
check "reindex" "$CTL" reindex "$S"
check "the definitions are unchanged" diff -r "$T/shares.before" "$S/shares"
check "list is unchanged" diff "$T/list.before" <("$CTL" share list --json "$S")
check "show (counts too) is unchanged" diff "$T/show.before" <("$CTL" share show --json "$S" onepatient)

# ---- damaged definitions ----
cp "$S/shares/ct" "$T/ct.good"
echo "colour blue" >>"$S/shares/ct"
n=$(wc -l <"$S/shares/ct")
check "a damaged file is named with its line" exits_with 2 "line $n: unknown key 'colour'" \
	"$CTL" share show "$S" ct
check "list exits 1 on it and lists the others" exits_with 1 "line $n" "$CTL" share list "$S"
check "... and still lists the others" bash -c "'$CTL' share list '$S' 2>/dev/null | grep -q '^odd '"
cp "$T/ct.good" "$S/shares/ct"
sed -i 's/^secret .*/secret 12/' "$S/shares/ct"
check "a short secret is named" exits_with 2 "line 3: the secret is not 64 hex digits" \
	"$CTL" share show "$S" ct
cp "$T/ct.good" "$S/shares/ct"
printf 'modality CT' >>"$S/shares/ct"
check "a cut last line is named" exits_with 2 "does not end with a newline" "$CTL" share show "$S" ct
cp "$T/ct.good" "$S/shares/ct"
sed -i '1s/.*/dcmfs-share 9/' "$S/shares/ct"
check "another format version is named" exits_with 2 "line 1: not 'dcmfs-share 1'" "$CTL" share show "$S" ct
cp "$T/ct.good" "$S/shares/ct"
grep -v '^modality' "$T/ct.good" >"$S/shares/ct"
check "a file without rules is damaged" exits_with 2 "has no rule" "$CTL" share show "$S" ct
cp "$T/ct.good" "$S/shares/ct"
echo "modality C%4" >>"$S/shares/ct"
check "a bad escape is named" exits_with 2 "bad escape" "$CTL" share show "$S" ct
cp "$T/ct.good" "$S/shares/ct"
check "repaired, it shows again" "$CTL" share show "$S" ct

# ---- rm ----
mkdir -p "$S/shares/.deid/ct/ab" && echo x >"$S/shares/.deid/ct/ab/cache"
check "rm" exits_with 0 "removed share ct" "$CTL" share rm "$S" ct
check "the file is gone" test ! -e "$S/shares/ct"
check "its de-identification cache is gone" test ! -e "$S/shares/.deid/ct"
check "rm again exits 1" exits_with 1 "no share ct" "$CTL" share rm "$S" ct
check "rm of a bad name exits 2" exits_with 2 "contains '/'" "$CTL" share rm "$S" x/../../index.db
check "the store is untouched by that" test -f "$S/index.db"
check "list no longer shows it" bash -c "! '$CTL' share list '$S' | grep -q '^ct '"
check "the name can be used again" "$CTL" share create "$S" ct --modality MR
check "with a new secret" bash -c "! grep -qx \"\$(grep ^secret '$T/ct.good')\" '$S/shares/ct'"
check "verify is clean" "$CTL" verify "$S"
# A FIFO or a symbolic link planted as a definition is refused at once
# (never opened as a FIFO would block, never followed).
mkfifo "$S/shares/planted-fifo"
ln -s /etc/passwd "$S/shares/planted-link"
check "a FIFO as a definition: show refuses it (exit 2), without waiting" exits_with 2 "not a share definition" timeout 10 "$CTL" share show "$S" planted-fifo
check "a symbolic link as a definition: show refuses it (exit 2)" exits_with 2 "" timeout 10 "$CTL" share show "$S" planted-link
rm -f "$S/shares/planted-fifo" "$S/shares/planted-link"
done_testing
