#!/bin/bash
# t0611-json-hostile.t - every --json output (stats, ls at each level,
# find, verify, share list/show, status, audit) is JSON a strict parser
# reads, and holds the stored values exactly, when they are hostile: a
# Modality C"T\X, names with control bytes and escape sequences, non-ASCII
# names (UTF-8 and Latin-1 sources), quotes and backslashes in a
# description and an accession number, a control byte in a PatientID.
# Planted with dcmodify into copies of a real CT image.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CT_SERIES" ] || skip_all "needs a real CT series of the corpus"
command -v dcmodify >/dev/null || skip_all "needs dcmodify (dcmtk)"
src=$(ls "$CT_SERIES"/*.dcm | head -1)
H=$T/hostile
mkdir -p "$H"
plant() {   # plant N DCMODIFY-ARGS...: H/N.dcm, a copy with those changes
	local n=$1
	shift
	cp "$src" "$H/$n.dcm" && dcmodify -nb -m "StudyInstanceUID=1.2.3.4.$n" \
		-m "SOPInstanceUID=1.2.3.4.$n.1" "$@" "$H/$n.dcm" >/dev/null 2>&1
}
check "plant a Modality C\"T\\X" plant 1 -m 'Modality=C"T\X' -m "PatientID=HJ1"
check "plant a name with control bytes and an escape sequence" \
	plant 2 -m "PatientName=$(printf 'DOE^J\x01\x1b[31m\tX')" -m "PatientID=HJ2"
check "plant a UTF-8 name and a description with quotes and a backslash" \
	plant 3 -i "(0008,0005)=ISO_IR 192" -m "PatientName=MÜLLER^JÖRG" -m "PatientID=HJ3" \
	-m 'StudyDescription=Kopf "nativ" \ 2'
check "plant invalid UTF-8 in a name and a quote in an accession" \
	plant 4 -i "(0008,0005)=ISO_IR 192" -m "PatientName=$(printf 'BAD\xff\xfe^X')" -m "PatientID=HJ4" \
	-m 'AccessionNumber=A"1'
check "plant a Latin-1 name and a control byte in a PatientID" \
	plant 5 -i "(0008,0005)=ISO_IR 100" -m "PatientName=$(printf 'M\xdcLLER^J')" -m "PatientID=$(printf 'HJ5\x02')"
S=$T/store
check "a store of them" new_store "$S" "$H"
check "all five are stored" [ "$(instances "$S")" = 5 ]
DB=$S/index.db

json_check() {   # json_check TITLE COLUMNS -- COMMAND...: its output parses and holds the values
	local title=$1 cols=$2 out=$T/out.json
	shift 3
	"$@" >"$out" 2>"$T/err"
	local st=$?
	check "$title: exit $st" [ "$st" -le 1 ]
	check "$title: valid JSON with every stored value ($cols)" \
		$PY "$LIB/json_values.py" "$out" "$DB" $cols
}
json_check "stats --json" "modality" -- "$CTL" stats --json "$S"
json_check "ls --json (patients)" "name patient_id" -- "$CTL" ls --json "$S"
# every patient, study and series folder, listed by its folder name
for p in $(sqlite3 "$DB" "SELECT dirname FROM patients"); do
	"$CTL" ls --json "$S" "$p" >"$T/ls.p" || not_ok "ls --json $p"
	check "ls --json $p: valid JSON" $PY "$LIB/json_values.py" "$T/ls.p" "$DB"
done
st=$(sqlite3 "$DB" "SELECT p.dirname || ' ' || s.dirname FROM studies s JOIN patients p ON p.id=s.patient WHERE p.patient_id='HJ1'")
json_check "ls --json (series of the C\"T\\X study)" "" -- "$CTL" ls --json "$S" $st
check "ls --json names the modality C\"T\\X exactly" \
	$PY -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))[0]["modality"] == "C\"T\\X" else 1)' "$T/out.json"
json_check "find --json" "modality name patient_id description accession" -- "$CTL" find --json "$S"
json_check "find --json --name DOE*" "" -- "$CTL" find --json "$S" --name 'doe*'
check "find --name doe* finds the name with control bytes, exactly as stored" \
	$PY -c 'import json,sqlite3,sys
want = sqlite3.connect(sys.argv[2]).execute("SELECT name FROM patients WHERE patient_id=?", ("HJ2",)).fetchone()[0]
got = [s["patient_name"] for s in json.load(open(sys.argv[1]))]
print("# got %r, stored %r" % (got, want))
sys.exit(0 if got == [want] and "\x1b" in want else 1)' "$T/out.json" "$DB"
json_check "verify --json" "" -- "$CTL" verify --json "$S"
check "a share by the hostile modality" "$CTL" share create "$S" hostile --modality 'C"T\X'
json_check "share list --json" "odd_modality" -- "$CTL" share list --json "$S"
json_check "share show --json" "odd_modality" -- "$CTL" share show --json "$S" hostile
json_check "status --json" "" -- "$CTL" status --json "$S"
json_check "audit --json" "" -- "$CTL" audit --json "$S"
# text output: no control byte reaches the terminal
"$CTL" find "$S" >"$T/find.txt" || not_ok "find (text)"
check "find's text shows no control byte (tabs separate its columns)" \
	fails grep -qP '[\x00-\x08\x0a-\x1f\x7f](?!$)' "$T/find.txt"
"$CTL" ls "$S" >"$T/ls.txt" || not_ok "ls (text)"
check "ls's text shows no control byte" fails grep -qP '[\x00-\x09\x0b-\x1f\x7f]' "$T/ls.txt"
done_testing
