#!/bin/bash
# The kept totals stats reads (catalog_totals): after imports of new files,
# new versions and duplicates, rm, gc, a kill -9 mid-import and a reindex
# they equal a count of the rows (a copy of the store without them, which
# stats then counts by scanning); an older store without them is read by
# scanning and gets them at its first writable open; verify finds kept
# totals that differ from the rows.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CORPUS" ] || skip_all "../shared/corpus absent (needs the real series)"
command -v dcmodify >/dev/null || skip_all "dcmodify (dcmtk) not installed"
command -v sqlite3 >/dev/null || skip_all "sqlite3 (the shell) not installed"

# What makes a store one without kept totals (as stores made before them).
DROP_TALLIES="DROP TRIGGER tally_instance_add; DROP TRIGGER tally_instance_drop;
DROP TRIGGER tally_blob_add; DROP TRIGGER tally_blob_drop; DROP TRIGGER tally_segment_add;
DROP TRIGGER tally_segment_drop; DROP TABLE tallies; DROP TABLE blob_tallies; DROP TABLE modality_blobs;"

# same_as_scan STORE: stats --json of STORE equals stats --json of a copy
# of it without kept totals (read-only: counted from the rows).
same_as_scan() {
	rm -rf "$T/copy"
	cp -r "$1" "$T/copy" || return 1
	sqlite3 "$T/copy/index.db" "$DROP_TALLIES" || return 1
	"$CTL" stats --json "$1" >"$T/kept.json" || return 1
	"$CTL" stats --json "$T/copy" >"$T/scanned.json" || return 1
	$PY - "$T/kept.json" "$T/scanned.json" <<-'EOF'
	import json, sys
	k, s = (json.load(open(p)) for p in sys.argv[1:3])
	for d in (k, s):
	    d.pop("index_bytes")
	if k != s:
	    print("# kept:    ", json.dumps(k, sort_keys=True))
	    print("# scanned: ", json.dumps(s, sort_keys=True))
	    sys.exit(1)
	print("# %d instances, %d later versions, %d modalities" % (
	    k["total"]["instances"], k["total"]["versions"], len(k["modalities"])))
	EOF
}

# The three real series, and a copy of each with new UIDs (new instances,
# the same pixels: shared blobs), and one series changed in place (new
# versions of its instances).
mkdir -p "$T/in/orig" "$T/in/copy" "$T/in/ver"
cp -r "$CORPUS"/real/series/* "$T/in/orig/"
cp -r "$CORPUS"/real/series/* "$T/in/copy/"
find "$T/in/copy" -type f -print0 | xargs -0 dcmodify -nb -gin -gse -gst -m "(0010,0010)=COPY^1" >/dev/null 2>&1
cp -r "$CT_SERIES" "$T/in/ver/"
find "$T/in/ver" -type f -print0 | xargs -0 dcmodify -nb -i "(0008,103E)=CHANGED" >/dev/null 2>&1
S=$T/store
check "a store of the real series" new_store "$S" "$T/in/orig" "$T/in/copy"
check "kept totals equal a count after an import" same_as_scan "$S"
"$CTL" import -q "$S" "$T/in/ver" "$T/in/orig" >/dev/null 2>&1
check "... after new versions and duplicates" same_as_scan "$S"
[ "$(stat_total "$S" versions)" -gt 0 ] && ok "the store holds later versions" || not_ok "no later versions"
uid=$(sqlite3 "$S/index.db" "SELECT sop_uid FROM instances ORDER BY id LIMIT 1")
series=$(sqlite3 "$S/index.db" "SELECT series_uid FROM series ORDER BY id DESC LIMIT 1")
check "rm of an instance and of a series" bash -c "'$CTL' rm '$S' --instance '$uid' && '$CTL' rm '$S' --series '$series'"
check "... after rm" same_as_scan "$S"
check "gc" "$CTL" gc "$S"
check "... after gc" same_as_scan "$S"
check "verify is clean" "$CTL" verify "$S"

# An older store: read-only it is counted, its first writable open keeps it.
before=$(stat_total "$S" instances)
sqlite3 "$S/index.db" "$DROP_TALLIES"
[ "$(stat_total "$S" instances)" = "$before" ] && ok "a store without kept totals is counted read-only" ||
	not_ok "read-only count of a store without kept totals"
[ "$(sqlite3 "$S/index.db" "SELECT count(*) FROM sqlite_master WHERE name LIKE 'tall%'")" = 0 ] &&
	ok "a read-only open adds nothing" || not_ok "a read-only open changed the schema"
"$CTL" import -q "$S" "$T/in/orig" >/dev/null 2>&1
[ "$(sqlite3 "$S/index.db" "SELECT count(*) FROM sqlite_master WHERE name LIKE 'tally_%'")" = 6 ] &&
	ok "the first writable open adds the kept totals" || not_ok "no kept totals after a writable open"
check "... counted right at that open" same_as_scan "$S"

# verify finds kept totals that differ from the rows.
sqlite3 "$S/index.db" "UPDATE tallies SET instances=instances+1 WHERE series=(SELECT min(series) FROM tallies)"
"$CTL" verify "$S" >"$T/verify.out" 2>&1
st=$?
[ $st = 1 ] && grep -q "kept totals (tallies" "$T/verify.out" && ok "verify reports kept totals that differ" ||
	not_ok "verify of wrong kept totals: exit $st: $(head -3 "$T/verify.out")"

# reindex: a new index, with kept totals at its next writable open.
check "reindex" "$CTL" reindex "$S"
"$CTL" import -q "$S" "$T/in/orig" >/dev/null 2>&1
check "... kept totals right after reindex and an import" same_as_scan "$S"
check "verify is clean after reindex" "$CTL" verify "$S"

# kill -9 mid-import: the kept totals went with their rows.
for i in 2 3; do
	mkdir -p "$T/in/more$i"
	cp -r "$CORPUS"/real/series/* "$T/in/more$i/"
	find "$T/in/more$i" -type f -print0 | xargs -0 dcmodify -nb -gin -gse -gst -m "(0010,0010)=COPY^$i" >/dev/null 2>&1
done
n0=$(sqlite3 "$S/index.db" "SELECT count(*) FROM instances")
"$CTL" import -q "$S" "$T/in/more2" "$T/in/more3" >/dev/null 2>&1 &
pid=$!
CLEANUP_PIDS+=("$pid")
for _ in $(seq 1 400); do
	n=$(sqlite3 "$S/index.db" "SELECT count(*) FROM instances" 2>/dev/null || echo 0)
	[ "${n:-0}" -ge $((n0 + 40)) ] && break
	sleep 0.05
done
kill -9 $pid
wait $pid 2>/dev/null
n=$(sqlite3 "$S/index.db" "SELECT count(*) FROM instances")
diag <<<"killed after $((n - n0)) new instances"
check "verify (kept totals included) is clean after kill -9" "$CTL" verify "$S"
check "... and they equal a count" same_as_scan "$S"
done_testing
