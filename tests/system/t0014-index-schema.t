#!/bin/bash
# t0014-index-schema.t - index.db schema 3 (FORMAT.md, "index.db"): a row
# keeps no file name its SOP UID gives plainly; the mount's lookups (a name
# in a series folder, in /versions, a listing, the next files of a series,
# the versions of a SOP UID) are index searches, never scans of instances;
# the index stays under 0.5 KB an instance (the rows that grow with them);
# a store of schema 2 (every name kept, each indexed) reads as it is
# (verify is clean, nothing written) and its first writable open makes it
# schema 3 with the same rows, ids and files.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/schema2.sh"
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"
command -v sqlite3 >/dev/null || skip_all "sqlite3 (the shell) not installed"
S=$T/store
"$GEN" "$T/gen" --patients 6 --small --max-instances 2500 --dup-rate 0 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
check "a store of the generated instances" new_store "$S" "$T/gen/patients"
q() { sqlite3 "$S/index.db" "$@"; }
n=$(q "SELECT count(*) FROM instances")
check "it holds them ($n)" [ "$n" -gt 1000 ]
check "schema 3" [ "$(q 'PRAGMA user_version')" = 3 ]
check "no row keeps a name its SOP UID gives" \
	[ "$(q "SELECT count(*) FROM instances WHERE name IS NOT NULL OR fname IS NOT NULL OR vname IS NOT NULL")" = 0 ]

# plan SQL: the query plan's lines
plan() { q "EXPLAIN QUERY PLAN $1" | sed 1d; }
# searched WHAT SQL: its plan searches instances by an index and scans nothing
searched() {
	local p
	p=$(plan "$2")
	if grep -q "SEARCH .*USING .*INDEX" <<<"$p" && ! grep -q "SCAN" <<<"$p"; then
		ok "$1 is an index search"
	else
		not_ok "$1 is not an index search"; diag <<<"$p"
	fi
}
# The shapes of catalog_sqlite.c's statements (S_LK_INSTANCE_SOP, S_LK_INSTANCE,
# V_LK_INSTANCE_SOP, S_CH_INSTANCES, S_NEXT_IN_SERIES, S_VERSIONS, the
# series count of S_SER_TOUCH).
F="coalesce(fname, sop_uid || '.dcm')" V="coalesce(vname, sop_uid || '.v' || version || '.dcm')"
searched "a plain name in a series folder" \
	"SELECT id, $F FROM instances WHERE sop_uid='1.2' AND +series=1 AND +current=1"
check "by the SOP UID's index" grep -q "sqlite_autoindex_instances_1" <<<"$(plan \
	"SELECT id, $F FROM instances WHERE sop_uid='1.2' AND +series=1 AND +current=1")"
searched "a kept (escaped or cut) name in a series folder" \
	"SELECT id, $F FROM instances WHERE series=1 AND fname='a%20b.dcm' AND current=1"
searched "a plain name in /versions" \
	"SELECT id, $V FROM instances WHERE sop_uid='1.2' AND version=2 AND +series=1"
searched "a kept name in /versions" "SELECT id, $V FROM instances WHERE series=1 AND vname='a%20b.v2.dcm'"
searched "a series folder's listing" "SELECT id, $F FROM instances WHERE series=1 AND current=1 ORDER BY id"
searched "the next files of a series" "SELECT n.id, n.size FROM instances i JOIN instances n
	ON n.series=i.series AND n.current=1 AND n.id>i.id WHERE i.id=5 ORDER BY n.id LIMIT 8"
searched "the versions of a SOP UID" "SELECT id, version FROM instances WHERE sop_uid='1.2' ORDER BY version"
searched "a series' shown count" "SELECT count(*) FROM instances WHERE series=1 AND current=1"

# size: the pages of the tables that grow with the instances (and their
# indexes), an instance; the rest (folders, the change feed of at most
# CATALOG_CHANGES_KEPT rows, a page or so for each small table) does not
# grow with them, or far slower
q "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
per() { q "SELECT (SELECT sum(pgsize) FROM dbstat d JOIN sqlite_master m ON m.name=d.name
	WHERE m.tbl_name IN ('instances', 'segments', 'blobs')) / (SELECT count(*) FROM instances)"; }
b=$(per)
diag "index.db: $b bytes an instance after import"
check "at most 512 bytes an instance after import" [ "$b" -le 512 ]
check "reindex" "$CTL" reindex "$S"
b=$(per)
diag "index.db: $b bytes an instance after reindex"
check "at most 512 bytes an instance after reindex" [ "$b" -le 512 ]

# ---- a store of schema 2: every name kept and indexed, the columns since gone ----
q "SELECT 'p', id, dirname FROM patients UNION ALL SELECT 'i', id, series || '/' || $F || '/' || $V
	FROM instances ORDER BY 1, 2" >"$T/ids.before"
O=$T/old
cp -r "$S" "$O"
to_schema_2 "$O" || not_ok "make a schema 2 index"
qo() { sqlite3 "$O/index.db" "$@"; }
check "schema 2: verify (read-only) finds it consistent" "$CTL" verify "$O"
check "schema 2: stats reads it" "$CTL" stats "$O"
check "and nothing made it schema 3" [ "$(qo 'PRAGMA user_version')" = 2 ]
f=$(find "$T/gen/patients" -name '*.dcm' | head -1)
check "schema 2: an import (a writable open) succeeds" "$CTL" import -q "$O" "$f"
check "it made the index schema 3" [ "$(qo 'PRAGMA user_version')" = 3 ]
check "no name kept" [ "$(qo "SELECT count(*) FROM instances WHERE fname IS NOT NULL OR vname IS NOT NULL")" = 0 ]
check "schema 2's name indexes gone" [ "$(qo "SELECT count(*) FROM sqlite_master
	WHERE name IN ('instances_fname', 'instances_vname', 'sqlite_autoindex_instances_2')")" = 0 ]
qo "SELECT 'p', id, dirname FROM patients UNION ALL SELECT 'i', id, series || '/' || $F || '/' || $V
	FROM instances ORDER BY 1, 2" >"$T/ids.after"
check "every folder and file with its id, series and names" diff -q "$T/ids.before" "$T/ids.after"
check "the change feed and kept totals are there again" [ "$(qo "SELECT count(*) FROM sqlite_master
	WHERE name IN ('changes_instances_hide', 'changes_instances_delete', 'tally_instance_add',
	'tally_instance_drop')")" = 4 ]
check "verify finds it consistent (kept totals included)" "$CTL" verify "$O"
"$CTL" stats --json "$S" | sed 's/"index_bytes": *[0-9]*//' >"$T/stats.new"
"$CTL" stats --json "$O" | sed 's/"index_bytes": *[0-9]*//' >"$T/stats.old"
check "stats as the store's that was never schema 2" diff -q "$T/stats.new" "$T/stats.old"
done_testing
