#!/bin/bash
# find.sh STORE [PATIENTS]: what `dcmfsctl find` costs on a large catalogue.
# STORE is an imported store (e.g. of `dcmfs-gencorpus --small`); its
# index.db is copied and grown by SQL to PATIENTS synthetic patients
# (default 100000) with 4 studies each and 2.5 series per study (1 M series:
# a million instances if each had one; find never reads instance rows, so
# studies and series are what it costs).  Each query is timed end to end
# (process start, open, query, output), best of 5, with the search indexes
# and, in the same run, on a copy without them (an older store opened
# read-only).  Needs BUILD (default build/) and sqlite3.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SRC=$1 N=${2:-100000}
W=$(mktemp -d "${TMPDIR:-/tmp}/dcmfs-find-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
for d in big old; do
	mkdir -p "$W/$d"
	sqlite3 "$SRC/index.db" ".backup '$W/$d/index.db'"
	touch "$W/$d/lock"
	mkdir -p "$W/$d/packs" "$W/$d/blobs"
done
sqlite3 "$W/big/index.db" <<SQL
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<$N)
INSERT INTO patients(id, patient_id, issuer, name, birth_date, sex, dirname, mtime, nchildren)
SELECT 10000000+i, printf('P%07d', i), '',
 (CASE i%7 WHEN 0 THEN 'SMITH' WHEN 1 THEN 'DOE' WHEN 2 THEN 'MUELLER' WHEN 3 THEN 'GARCIA'
  WHEN 4 THEN 'NGUYEN' WHEN 5 THEN 'ROSSI' ELSE 'KOWALSKI' END) || printf('%d^', i % 997) ||
 (CASE i%5 WHEN 0 THEN 'JOHN' WHEN 1 THEN 'JANE' WHEN 2 THEN 'ELIAS' WHEN 3 THEN 'MARIA' ELSE 'FELIX' END),
 printf('19%02d%02d%02d', i%100, 1+i%12, 1+i%28), 'M', printf('P%07d', i), 0, 4 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<4*$N)
INSERT INTO studies(id, patient, study_uid, study_date, study_time, description, accession, referring,
 dirname, mtime, nchildren)
SELECT 20000000+i, 10000000+1+(i-1)/4, printf('2.25.9%d', i), printf('20%02d%02d%02d', 8+i%17, 1+i%12, 1+i%28),
 '120000', (CASE i%4 WHEN 0 THEN 'CT HEAD' WHEN 1 THEN 'MR BRAIN' WHEN 2 THEN 'CHEST PA' ELSE 'US ABDOMEN' END),
 printf('B%09d', i), '', printf('2.25.9%d', i), 0, 2 + i%2 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<10*$N)
INSERT INTO series(id, study, series_uid, modality, number, description, dirname, mtime, nchildren)
SELECT 30000000+i, 20000000+1+((i-1)*2)/5, printf('2.25.8%d', i),
 (CASE (i*2/5)%4 WHEN 0 THEN 'CT' WHEN 1 THEN 'MR' WHEN 2 THEN 'CR' ELSE 'US' END), i%5, 'S',
 printf('2.25.8%d', i), 0, 1 FROM n;
COMMIT;
SQL
sqlite3 "$W/big/index.db" ".backup '$W/old/index.db'"
sqlite3 "$W/old/index.db" "DROP INDEX patients_name_upper; DROP INDEX patients_birth"
echo "# $(sqlite3 "$W/big/index.db" "SELECT (SELECT count(*) FROM patients) || ' patients, ' ||
 (SELECT count(*) FROM studies) || ' studies, ' || (SELECT count(*) FROM series) || ' series'")"
best() {   # best STORE ARGS...: milliseconds, best of 5, and the rows found
	local s=$1 b=999999 t0 t1 k
	shift
	for k in 1 2 3 4 5; do
		t0=$(date +%s%N)
		"$BUILD/dcmfsctl" find "$s" --json "$@" >"$W/out.json"
		t1=$(date +%s%N)
		k=$(((t1 - t0) / 1000000))
		[ $k -lt $b ] && b=$k
	done
	echo "$b $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$W/out.json")"
}
printf '%-46s %8s %12s %6s\n' query 'ms' 'ms (no idx)' rows
q() {
	local a o
	a=$(best "$W/big" "$@")
	o=$(best "$W/old" "$@")
	printf '%-46s %8s %12s %6s\n' "$*" "${a% *}" "${o% *}" "${a#* }"
}
q --accession nothing-matches
q --name 'DOE5^J*'
q --name 'doe5^jane'
q --patient-id P0012345
q --birth 19450310
q --accession B000123456
q --date 20150303
q --date 20150303-20150310 --modality CT
q --modality US --name 'ROSSI1*'
q --description brain --date 20200101-20200105
q --name '*5^JANE'
