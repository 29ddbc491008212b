#!/bin/bash
# t0725: hostile input against the PostgreSQL catalogue.  The same hostile
# files (tests/system/lib/hostile_gen.py: UTF-8 and Latin-1 names, % _ \ '
# in values, SQL-looking text, over-long values) and the corpus's
# malformed/ and variety/ folders are imported into an index.db store and
# into a PostgreSQL store: the two give the same stats, the same tree in
# the mount and the same `dcmfsctl find` answers.  A stopped postmaster
# gives an error in bounded time, and an import cut by the server's stop
# or by SIGKILL leaves a store that verifies and, imported again, holds
# what the index.db store holds.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
need_pg
need_fuse
[ -n "$CORPUS" ] || skip_all "no ../shared/corpus"
SEED=$CORPUS/variety/CT_small.dcm
[ -f "$SEED" ] || skip_all "no $SEED"

check "PostgreSQL starts in its own folder" pg_start dcmfs
check "a database of encoding SQL_ASCII is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_bytes
PG_URL="postgresql:///dcmfs_bytes?host=$PG_DIR"
check "hostile files are made" $PY "$LIB/hostile_gen.py" "$SEED" "$T/hostile"
check "init an index.db store" "$CTL" init "$T/lite"
check "init a PostgreSQL store" "$CTL" init "$T/pg" --catalog "$PG_URL"
for s in lite pg; do
	"$CTL" import -j 1 -q "$T/$s" "$T/hostile" "$CORPUS/malformed" "$CORPUS/variety" \
		>"$T/import-$s.log" 2>&1
	echo $? >"$T/import-$s.rc"
done
check "both imports end alike" cmp "$T/import-lite.rc" "$T/import-pg.rc"
for s in lite pg; do
	"$CTL" stats --json "$T/$s" | $PY -c 'import json,sys; d=json.load(sys.stdin)
for k in sorted(d):
    if not isinstance(d[k], (dict, list)) and "byte" not in k and "ratio" not in k: print(k, d[k])' \
		>"$T/stats-$s"
done
check "stats agree" diff "$T/stats-lite" "$T/stats-pg"
diff "$T/stats-lite" "$T/stats-pg" | diag

# find: every pattern on both stores, the JSON answers equal
pats=("--name" "M?LLER*" "--name" "m*" "--name" "*%*" "--name" "*_*" "--name" "O'BRIEN^%_X"
	"--name" "*\\*" "--name" "*DROP*" "--patient-id" "P%1" "--patient-id" "P?1"
	"--patient-id" "B_1" "--patient-id" "B?1" "--patient-id" "*%*" "--description" "100%"
	"--description" "*_*" "--description" "%" "--description" "_")
for ((i = 0; i < ${#pats[@]}; i += 2)); do
	o=${pats[i]} v=${pats[i + 1]}
	"$CTL" find "$T/lite" "$o" "$v" --json >"$T/find-lite" 2>&1
	"$CTL" find "$T/pg" "$o" "$v" --json >"$T/find-pg" 2>&1
	check "find $o '$v' answers alike ($(grep -c study_uid "$T/find-lite") studies)" \
		cmp -s "$T/find-lite" "$T/find-pg"
done

# shares whose rules name hostile values cover the same instances
for s in lite pg; do
	"$CTL" share create "$T/$s" pct --patient "P%1" --patient "B_1" --modality CT >/dev/null &&
	"$CTL" share create "$T/$s" pall --all >/dev/null &&
	for n in pct pall; do "$CTL" share show --json "$T/$s" $n; done | $PY -c 'import json,sys
dec = json.JSONDecoder(); t = sys.stdin.read().strip()
while t:
    d, i = dec.raw_decode(t); t = t[i:].strip()
    print(sorted((k, str(v)) for k, v in d.items() if k not in ("secret", "created")))' \
		>"$T/shares-$s"
done
check "shares cover the same on both stores ($(wc -l <"$T/shares-lite") shares)" \
	diff "$T/shares-lite" "$T/shares-pg"
diff "$T/shares-lite" "$T/shares-pg" | diag
fs_mount_or_bail "$T/lite" "$T/ml" -o ro
fs_mount_or_bail "$T/pg" "$T/mp" -o ro
# "~<row id>" (fs/views.c) names a row, and the two catalogues number rows
# apart (PostgreSQL's sequences skip values): compare the names without it
for s in l p; do
	(cd "$T/m$s" && find . -printf '%y %s %P\n' | sed 's/~[0-9]*\(\/\|$\)/~N\1/g' |
		LC_ALL=C sort) >"$T/tree-$s"
done
mv "$T/tree-l" "$T/tree-lite" && mv "$T/tree-p" "$T/tree-pg"
check "the mounts show the same tree ($(wc -l <"$T/tree-lite") names)" \
	diff "$T/tree-lite" "$T/tree-pg"
diff "$T/tree-lite" "$T/tree-pg" | head -20 | diag
check "unmount the index.db store" fs_umount "$T/ml"
check "unmount the PostgreSQL store" fs_umount "$T/mp"
check "verify the PostgreSQL store" "$CTL" verify "$T/pg"

# A server that takes connections and never answers (its postmaster
# stopped): a command fails with a message in a bounded time, no hang.
kill -STOP "$PG_PID"
t0=$(date +%s)
timeout -s KILL 60 "$CTL" stats "$T/pg" >"$T/stopped.out" 2>&1
st=$? t1=$(date +%s)
kill -CONT "$PG_PID"
check "stats on a stopped server fails by itself ($st after $((t1 - t0)) s)" \
	eval '[ "$st" != 0 ] && [ "$st" != 137 ] && [ $((t1 - t0)) -le 30 ]'
diag <"$T/stopped.out"
check "... and works when the server runs again" "$CTL" stats "$T/pg"

# An import cut by the server's immediate stop, then one killed with
# SIGKILL, then a whole one: the store verifies and holds what an index.db
# store that imported once holds.
check "a third database is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_cut
check "init a store in it" "$CTL" init "$T/cut" --catalog "postgresql:///dcmfs_cut?host=$PG_DIR"
check "init an index.db store for comparison" "$CTL" init "$T/whole"
"$CTL" import -j 1 -q "$T/whole" "$CORPUS/real" >/dev/null 2>&1
"$CTL" import -q "$T/cut" "$CORPUS/real" >"$T/cut.log" 2>&1 &
p=$!
# Stopped once the import has committed something (a fixed 0.15 s could
# fall before it connected, on a loaded machine: then it only failed to
# connect), and so in the middle of it however fast the machine is.
for ((i = 0; i < 400; i++)); do
	[ "$(psql -X -At "postgresql:///dcmfs_cut?host=$PG_DIR" -c 'SELECT count(*) FROM instances' 2>/dev/null)" \
		-gt 0 ] 2>/dev/null && break
	kill -0 $p 2>/dev/null || break
	sleep 0.025
done
pg_as_owner "$PG_BIN/pg_ctl" stop -m immediate -D "$PG_DIR/data" >/dev/null 2>&1
timeout 60 tail --pid=$p -f /dev/null
wait $p
check "the import ends with a store error when the server stops ($?)" \
	grep -q "store error\|Input/output error" "$T/cut.log"
check "the server starts again" pg_as_owner "$PG_BIN/pg_ctl" start -w -t 30 -D "$PG_DIR/data" \
	-l "$PG_DIR/server.log" \
	-o "-c listen_addresses='' -c unix_socket_directories='$PG_DIR' -c port=5432"
PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
check "verify after the cut import" "$CTL" verify "$T/cut"
"$CTL" import -q "$T/cut" "$CORPUS/real" >/dev/null 2>&1 &
p=$!
sleep 0.3
kill -9 $p 2>/dev/null
wait $p
check "verify after the killed import" "$CTL" verify "$T/cut"
"$CTL" import -j 1 -q "$T/cut" "$CORPUS/real" >/dev/null 2>&1
check "verify after the whole import" "$CTL" verify "$T/cut"
for s in whole cut; do
	# mtimes are import times; the order may follow row ids
	"$CTL" ls --json "$T/$s" | $PY -c 'import json,sys
print("\n".join(sorted(json.dumps({k: v for k, v in p.items() if k != "mtime_ns"},
	sort_keys=True) for p in json.load(sys.stdin))))' >"$T/ls-$s"
	"$CTL" stats --json "$T/$s" | $PY -c 'import json,sys; d=json.load(sys.stdin)["total"]
print(sorted((k, v) for k, v in d.items() if "stored" not in k))' >"$T/st-$s"
done
check "the cut store counts what the whole one does" diff "$T/st-whole" "$T/st-cut"
diff "$T/st-whole" "$T/st-cut" | diag
check "... and lists the same patients" diff "$T/ls-whole" "$T/ls-cut"
done_testing
