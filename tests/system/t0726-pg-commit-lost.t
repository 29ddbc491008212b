#!/bin/bash
# t0726: the answer to an import's COMMIT is lost (the catalogue's server
# crashed or the network broke at that moment; the pg-commit-lost shim does
# it at a chosen COMMIT).  The import asks the server again what became of
# the transaction (txid_status):
#   - it committed: the batch is stored, the import goes on and succeeds;
#   - it rolled back: the batch fails and its data is cut back;
#   - the server is not reached again: the batch fails as "unknown" and
#     its data is kept, because the rows may name it.
# In every case verify is clean, every stored file reads back, and an
# import run again ends with what an index.db store that imported once
# holds.  (Cutting the data back when the commit had landed loses images:
# verify then finds rows naming bytes past a pack's end.)
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
need_pg
GEN=$BUILD/dcmfs-gencorpus
SHIM=$BUILD/tests/shims/pg-commit-lost.so
[ -x "$GEN" ] || skip_all "$GEN not built"
[ -f "$SHIM" ] || skip_all "$SHIM not built"
"$GEN" "$T/src" --patients 6 --small --max-instances 400 --dup-rate 0 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no seeds"
nfiles=$(find "$T/src/patients" -type f | wc -l)

# shim MODE:N COMMAND...: COMMAND with the Nth COMMIT's answer lost.
# (Under ASan the shim comes first; it wraps libpq only, not malloc.)
shim() {
	env LD_PRELOAD="$SHIM" PG_COMMIT_LOST="$1" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "${@:2}"
}
# readback STORE: the sorted checksums of every file get --patient writes.
readback() {
	rm -rf "$T/out" && mkdir "$T/out" || return 1
	local id
	for id in $("$CTL" ls --json "$1" | $PY -c 'import json,sys
print("\n".join(p["patient_id"] for p in json.load(sys.stdin)))'); do
		"$CTL" get "$1" --patient "$id" -o "$T/out/$id" >/dev/null || return 1
	done
	find "$T/out" -type f -exec md5sum {} + | cut -d' ' -f1 | sort
}
summary() {
	"$CTL" stats --json "$1" | $PY -c 'import json,sys; d=json.load(sys.stdin)["total"]
print(sorted((k, v) for k, v in d.items() if "stored" not in k))'
}

check "PostgreSQL starts in its own folder" pg_start dcmfs
check "an index.db store imports the files once" \
	eval '"$CTL" init "$T/whole" >/dev/null && "$CTL" import -j 1 -q "$T/whole" "$T/src/patients"'
summary "$T/whole" >"$T/st-whole"
find "$T/src/patients" -type f -exec md5sum {} + | cut -d' ' -f1 | sort >"$T/sums-src"

for mode in after before down; do
	db=dcmfs_$mode S=$T/$mode PG_URL="postgresql:///dcmfs_$mode?host=$PG_DIR"
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C $db ||
		helper_failed "createdb $db"
	check "$mode: a store on PostgreSQL" \
		eval '"$CTL" init "$S" --catalog "$PG_URL" >/dev/null'
	# COMMIT 1 registers the pack; 3 is the second batch's.
	t0=$(date +%s)
	shim $mode:3 "$CTL" import -j 1 -q "$S" "$T/src/patients" >"$T/$mode.log" 2>&1
	st=$? t1=$(date +%s)
	check "$mode: the shim lost a COMMIT's answer" grep -q "^pg-commit-lost:" "$T/$mode.log"
	n=$(pg_psql -c "SELECT count(*) FROM instances")
	case $mode in
	after)
		check "after: the import learns the batch committed and succeeds ($st)" [ "$st" = 0 ]
		check "after: every file is stored ($n of $nfiles)" [ "$n" = "$nfiles" ]
		;;
	before)
		check "before: the import fails ($st)" [ "$st" != 0 ]
		check "before: saying the batch was rolled back" grep -q "store error: .*(the transaction was rolled back)" "$T/$mode.log"
		check "before: the batch is not stored ($n of $nfiles)" [ "$n" -lt "$nfiles" ]
		;;
	down)
		check "down: the import fails ($st)" [ "$st" != 0 ]
		check "down: saying whether the batch is stored is unknown" \
			grep -q "is unknown (its data is kept)" "$T/$mode.log"
		check "down: ... after waiting for the server a bounded time ($((t1 - t0)) s)" \
			[ $((t1 - t0)) -le 40 ]
		check "down: the batch that committed unanswered is stored ($n)" [ "$n" -ge 1 ]
		;;
	esac
	[ "$st" = 0 ] || grep -v "^pg-commit-lost" "$T/$mode.log" | head -3 | diag
	check "$mode: verify is clean" "$CTL" verify "$S"
	check "$mode: the import run again succeeds" "$CTL" import -q "$S" "$T/src/patients"
	check "$mode: verify is clean" "$CTL" verify "$S"
	readback "$S" >"$T/sums-$mode"
	check "$mode: every file reads back as its original" cmp "$T/sums-src" "$T/sums-$mode"
	summary "$S" >"$T/st-$mode"
	check "$mode: the store counts what the index.db store does" diff "$T/st-whole" "$T/st-$mode"
	diff "$T/st-whole" "$T/st-$mode" | diag
done
done_testing
