#!/bin/bash
# index.db is a cache: delete it, run reindex, and every instance reads back
# byte-identical with the same stats and the same row ids (inode numbers).
. "$(dirname "$0")/lib/common.sh"
D=$SAMPLES
[ -n "$D" ] || skip_all "no sample DICOM files"
S=$T/store
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "$D" >/dev/null 2>&1
# rm one study first: reindex must not bring it back (tombstones).
study=$(sqlite3 "$S/index.db" "SELECT study_uid FROM studies ORDER BY id LIMIT 1")
check "rm of a study" "$CTL" rm "$S" --study "$study"
# stats_without_index_bytes STORE FILE: stats --json, less the size of
# index.db (a rebuilt one differs), into FILE
stats_without_index_bytes() {
	"$CTL" stats --json "$1" >"$T/stats.json" &&
		$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("index_bytes"); print(json.dumps(d, sort_keys=True))' \
			"$T/stats.json" >"$2"
}
check "stats before the reindex" stats_without_index_bytes "$S" "$T/before.json"
sqlite3 "$S/index.db" "SELECT id, series, name, size, stored_at FROM instances ORDER BY id" >"$T/rows.before"
rm -f "$S/index.db" "$S/index.db-wal" "$S/index.db-shm"
check "a store without index.db is refused (exit 2) with a hint" exits_with 2 reindex "$CTL" stats "$S"
check "reindex rebuilds the index" "$CTL" reindex "$S"
check "stats after the reindex" stats_without_index_bytes "$S" "$T/after.json"
check "stats unchanged after reindex" diff "$T/before.json" "$T/after.json"
sqlite3 "$S/index.db" "SELECT id, series, name, size, stored_at FROM instances ORDER BY id" >"$T/rows.after"
check "instance ids, names, sizes and times unchanged (stable inodes)" diff "$T/rows.before" "$T/rows.after"
n=$(sqlite3 "$S/index.db" "SELECT count(*) FROM studies WHERE study_uid='$study'")
[ "$n" = 0 ] && ok "the removed study stays removed" || not_ok "removed study came back"
check "every instance reads back byte-identical" python3 "$(dirname "$0")/lib/roundtrip_rows.py" "$CTL" "$S" "$D"
check "verify is clean" "$CTL" verify "$S"

# Removed, collected, then imported again: the new rows have new ids, and
# reindex must give them back those ids (the old, removed records come
# first in the packs and must not leave folders for the new ones to join).
study=$(sqlite3 "$S/index.db" "SELECT study_uid FROM studies ORDER BY id LIMIT 1")
"$CTL" rm "$S" --study "$study" >/dev/null
"$CTL" gc "$S" >/dev/null
"$CTL" import -q "$S" "$D" >/dev/null 2>&1
q="SELECT 'p', id, dirname FROM patients UNION ALL SELECT 's', id, dirname FROM studies
	UNION ALL SELECT 'e', id, dirname FROM series UNION ALL SELECT 'i', id, name FROM instances ORDER BY 1, 2"
sqlite3 "$S/index.db" "$q" >"$T/ids.before"
check "reindex after rm, gc and a new import" "$CTL" reindex "$S"
sqlite3 "$S/index.db" "$q" >"$T/ids.after"
check "every folder and file keeps its id (inode) after that reindex" diff "$T/ids.before" "$T/ids.after"
check "and verify is clean" "$CTL" verify "$S"
done_testing
