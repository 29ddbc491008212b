#!/bin/bash
# t0721: a store whose catalogue is in PostgreSQL (init --catalog) works
# as an index.db store does: the corpus imports, a second import stores
# nothing new, every file read through a read-only mount is byte-identical
# to its original, verify finds no problem, and a second store is refused
# the database the first one holds.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
need_pg
need_fuse
need_samples

S=$T/store M=$T/mnt
check "PostgreSQL starts in its own folder" pg_start dcmfs
# A database that keeps text as bytes, as catalog_pg.h asks.
check "a database of encoding SQL_ASCII is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_bytes
UTF8_URL=$PG_URL
PG_URL="postgresql:///dcmfs_bytes?host=$PG_DIR"
check "init --catalog makes a store with no index.db" \
	eval '"$CTL" init "$S" --catalog "$PG_URL" >/dev/null && [ ! -e "$S/index.db" ] &&
	      grep -qx "catalog = $PG_URL" "$S/store.conf"'
"$CTL" import -q "$S" "$SAMPLES" >"$T/import.log" 2>&1
st=$?
check "the corpus imports (exit 0 or 1 for rejected files: $st)" [ "$st" -le 1 ]
[ "$st" -le 1 ] || diag <"$T/import.log"
n=$(instances "$S")
check "stats counts the instances ($n)" [ "$n" -gt 0 ]
check "the catalogue's rows are in PostgreSQL" \
	eval '[ "$(pg_psql -c "select count(*) from instances")" = "$n" ]'
"$CTL" import "$S" "$SAMPLES" >"$T/again.log" 2>&1
check "a second import of the corpus stores nothing new" grep -q "^imported: 0 new" "$T/again.log"
check "verify finds no problem" "$CTL" verify "$S"
# The folder counts and mtimes kept row by row equal a count of the rows.
recount_bad() {
	pg_psql -c "SELECT (SELECT count(*) FROM series s WHERE nchildren <> (SELECT count(*)
		FROM instances i WHERE i.series=s.id AND current=1) OR mtime <> (SELECT max(stored_at)
		FROM instances i WHERE i.series=s.id)) + (SELECT count(*) FROM studies s WHERE
		nchildren <> (SELECT count(*) FROM series x WHERE x.study=s.id AND nchildren>0) OR
		mtime <> (SELECT max(mtime) FROM series x WHERE x.study=s.id)) + (SELECT count(*)
		FROM patients s WHERE nchildren <> (SELECT count(*) FROM studies x WHERE
		x.patient=s.id AND nchildren>0) OR mtime <> (SELECT max(mtime) FROM studies x WHERE
		x.patient=s.id)) + (SELECT count(*) FROM (SELECT sop_uid FROM instances GROUP BY 1
		HAVING sum(current) <> 1) v)"
}
check "folder counts, mtimes and current versions equal a recount" eval '[ "$(recount_bad)" = 0 ]'
check "a second store is refused the same database" \
	exits_with 2 "holds a dcmfs catalogue already" "$CTL" init "$T/other" --catalog "$PG_URL"

fs_mount_or_bail "$S" "$M" -o ro
fs_match_originals "$M/patients" "$SAMPLES" >"$T/map"
missing=$(grep -c '^MISSING' "$T/map")
check "every file under /patients has an original with its bytes" [ "$missing" = 0 ]
grep '^MISSING' "$T/map" | head | diag
bad=0
while IFS=$'\t' read -r f o; do
	[ "$f" = MISSING ] && continue
	cmp -s "$f" "$o" || { echo "# differs: $f $o"; bad=$((bad + 1)); }
done <"$T/map"
check "cmp finds every file equal to its original" [ "$bad" = 0 ]
nf=$(find "$M/patients" -type f | wc -l)
want=$(shown_instances "$S")
check "find counts $want files in /patients ($nf)" [ "$nf" = "$want" ]
nv=$(find "$M/versions" -type f | wc -l)
check "find counts $n files in /versions ($nv)" [ "$nv" = "$n" ]
check "unmount" fs_umount "$M"

# dcmfs_place gives a clashing %noid stem its -N as catalog_sqlite.c does
# (t0008): the patient filed second takes stem-2.
SEED=${CORPUS:+$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl/01.dcm}
if [ -f "$SEED" ] && $PY "$LIB/identity_gen.py" clash "$SEED" "$T/clash"; then
	"$CTL" import -q "$S" "$T/clash/clash_0.dcm" >/dev/null &&
		"$CTL" import -q "$S" "$T/clash/clash_1.dcm" >/dev/null || not_ok "import the clashing files"
	check "two patients whose %noid stems clash get %noid-635941b6 and %noid-635941b6-2" \
		[ "$(pg_psql -c "SELECT string_agg(dirname, ' ' ORDER BY id) FROM patients
			WHERE dirname LIKE '%noid-635941b6%'")" = "%noid-635941b6 %noid-635941b6-2" ]
	check "verify holds a stem-2 folder as right" "$CTL" verify "$S"
else
	skip "no CT seed or no pydicom to make clashing %noid files"
	skip "no CT seed or no pydicom to make clashing %noid files"
fi
# Its data is in its folder: store.conf copied alone to another folder (a
# second machine) is refused, by commands and the mount, before the
# catalogue's rows could be read there as packs that are missing.
mkdir -p "$T/copy" && cp "$S/store.conf" "$T/copy/" || helper_failed "cannot copy store.conf"
for cmd in stats verify reindex; do
	check "$cmd of a copied store.conf without the data's folder: exit 2, says why" \
		exits_with 2 "keeps its data in its own folder but has no packs/" "$CTL" $cmd "$T/copy"
done
check "... and the import is refused the same way" \
	exits_with 2 "has no packs/" "$CTL" import -q "$T/copy" "$T/copy"
check "the mount refuses it" eval '! "$DCMFS" "$T/copy" "$M" -o ro 2>"$T/copy.err" && ! mountpoint -q "$M"'
diag <"$T/copy.err"
check "the store is untouched: verify is clean" "$CTL" verify "$S"
done_testing
