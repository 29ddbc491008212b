#!/bin/bash
# t0712: gc and reindex on a store whose data is in a RADOS pool (one-node
# memstore Ceph, lib/ceph.sh).  After imports killed with -9 and objects
# planted as a dead writer would leave them (temporary heads, parts with no
# head, an unreferenced blob), verify names the strays, gc removes every
# temporary, orphan part and unreferenced blob object and nothing else,
# and every file still reads back byte-identical; reindex rebuilds index.db
# from the pool's packs and blob objects with the same listing, ids and
# bytes; a reindex killed with -9 leaves the old index.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/ceph.sh"
need_ceph
need_samples
check "Ceph (one mon, one memstore osd) starts in its own folder" ceph_start dcmfs
diag "Ceph usable in $CEPH_START_SECONDS s"

S=$T/store
check "init --data: a store whose data is in the pool" "$CTL" init "$S" --data "$CEPH_URL"

for delay in 0.5 1.5; do
	killed_after $delay "$CTL" import -q "$S" "$SAMPLES"
done
"$CTL" import -q "$S" "$SAMPLES" >"$T/import.out" 2>"$T/import.err"
rc=$?
[ $rc -le 1 ] && ok "the import run again completes (exit $rc)" || { not_ok "import exit status $rc"; diag <"$T/import.err"; }

# What a dead writer leaves, planted where a kill may not have left it.
ceph_rados ls | sort >"$T/objects.before"
head=$(grep '^blobs/' "$T/objects.before" | grep -v '[@.]' | head -1)
big=$(grep '@1$' "$T/objects.before" | head -1)
diag "a blob object: $head; a blob in parts: ${big:-none}"
ceph_rados get "$head" "$T/head.obj"
plant() { ceph_rados put "$1" "$T/head.obj"; }
F=blobs/ff/ff/ffffffffffffffffffffffffffffffff
E=blobs/ee/ee/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
D=blobs/dd/dd/dddddddddddddddddddddddddddddddd
check "objects planted: dead temporaries, parts without a head, an unreferenced blob, a stray name" \
	eval 'plant "$head.tmpc999999" && plant "$head.tmpc999999-3" && plant "$F" && plant "$F@1" &&
	      plant "$E.tmpc999999" && plant "$E@1" && plant "$D@1" && plant blobs/aa/bb/junk && plant blobs/aa/bb/junk@1'
"$CTL" verify "$S" >"$T/verify.out" 2>&1
check "verify names the stray objects as it names stray files" \
	eval 'grep -q "stray file in blobs/: .*blobs/aa/bb/junk" "$T/verify.out"'
check "verify counts the temporaries and the orphan" \
	eval 'grep -q "[1-9][0-9]* orphan blob files, [1-9][0-9]* temporary files" "$T/verify.out"'
# A part without its head is what a writer killed before publishing leaves:
# an interrupted write, counted with the temporaries, not damage.
check "verify calls no part of a blob, nor a part without its head, a stray" \
	eval '! grep "stray file.*@" "$T/verify.out" | grep -v "aa/bb/junk@1"'

check "gc succeeds" "$CTL" gc "$S"
ceph_rados ls | sort >"$T/objects.after"
check "objects that are no blob's stay for a person to look at" \
	eval 'grep -qx blobs/aa/bb/junk "$T/objects.after" && grep -qx blobs/aa/bb/junk@1 "$T/objects.after"'
ceph_rados rm blobs/aa/bb/junk
ceph_rados rm blobs/aa/bb/junk@1
check "no temporary object is left" eval '! grep -q "\.tmp" "$T/objects.after"'
check "no part without its head is left" \
	eval 'for p in $(grep "@" "$T/objects.after" | grep -v junk); do grep -qx "${p%@*}" "$T/objects.after" || { echo "orphan $p"; exit 1; }; done'
check "the unreferenced blob and its part are gone" eval '! grep -q "^$F" "$T/objects.after"'
check "every pack object is still there" \
	eval '[ -z "$(comm -23 <(grep "^packs/" "$T/objects.before") "$T/objects.after")" ]'
check "the blob in parts keeps its parts" eval '[ -z "$big" ] || grep -qx "$big" "$T/objects.after"'
check "verify is clean after gc" "$CTL" verify "$S"
GET_SAMPLES=$T/get-samples
mkdir -p "$GET_SAMPLES"
find "$SAMPLES" -name '*.dcm' -size +1k -not -path '*/malformed/*' | sort | head -6 | xargs -r cp -t "$GET_SAMPLES"
find "$SAMPLES" -name '*.dcm' -size +2M -not -path '*/malformed/*' | head -1 | xargs -r cp -t "$GET_SAMPLES"
check "every file reads back byte-identical after gc ($(ls "$GET_SAMPLES" | wc -l) files)" \
	$PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$S" "$GET_SAMPLES"
check "a second gc succeeds too" "$CTL" gc "$S"

# After killed imports a rebuilt index may number instances otherwise (so
# it does on a folder store: records of batches that never committed);
# there the totals and bytes must hold.
strip_index_bytes() { $PY -c 'import json,sys; d=json.load(sys.stdin); d.pop("index_bytes"); print(json.dumps(d, sort_keys=True))'; }
"$CTL" stats --json "$S" | strip_index_bytes >"$T/stats.killed"
check "reindex of the store of the killed imports" "$CTL" reindex "$S"
"$CTL" stats --json "$S" | strip_index_bytes >"$T/stats.rebuilt"
check "its totals are unchanged" diff "$T/stats.killed" "$T/stats.rebuilt"
check "every file reads back byte-identical after that reindex" \
	$PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$S" "$GET_SAMPLES"
check "verify is clean after that reindex" "$CTL" verify "$S"

# Reindex of a store imported whole, in its own pool: the same listing,
# ids and bytes.
check "a second pool, and a store on it" \
	eval 'ceph_pool_create whole && "$CTL" init "$T/whole" --data "rados://whole?conf=$CEPH_CONF"'
S=$T/whole
# gc started while the import runs waits for it (the ingest lock).
"$CTL" import -q "$S" "$SAMPLES" >/dev/null 2>"$T/import.err" &
pid=$!
CLEANUP_PIDS+=("$pid")
sleep 0.5
check "gc during an import into it succeeds" "$CTL" gc "$S"
wait $pid
rc=$?
[ $rc -le 1 ] && ok "the import succeeds too (exit $rc)" || { not_ok "import exit status $rc"; diag <"$T/import.err"; }
check "and the store verifies clean" "$CTL" verify "$S"
q="SELECT id, series, name, size, stored_at FROM instances ORDER BY id"
sqlite3 "$S/index.db" "$q" >"$T/rows.before"
"$CTL" stats --json "$S" | strip_index_bytes >"$T/stats.before"
for delay in 0.05 0.3; do
	killed_after $delay "$CTL" reindex "$S"
	sqlite3 "$S/index.db" "$q" >"$T/rows.killed"
	check "after kill -9 of a reindex at $delay s, the index lists the same rows" diff "$T/rows.before" "$T/rows.killed"
done
rm -f "$S/index.db" "$S/index.db-wal" "$S/index.db-shm"
check "reindex rebuilds index.db from the pool" "$CTL" reindex "$S"
sqlite3 "$S/index.db" "$q" >"$T/rows.after"
"$CTL" stats --json "$S" | strip_index_bytes >"$T/stats.after"
check "instance ids, names, sizes and times unchanged" diff "$T/rows.before" "$T/rows.after"
check "stats unchanged" diff "$T/stats.before" "$T/stats.after"
check "every file reads back byte-identical after reindex ($(ls "$GET_SAMPLES" | wc -l) files)" \
	$PY "$LIB/roundtrip.py" "$CTL" "$SCAN" "$S" "$GET_SAMPLES"
check "verify is clean after reindex" "$CTL" verify "$S"
done_testing
