#!/bin/bash
# t0018-schema-attack.t - index schema 3 and its upgrade from schema 2,
# attacked: SOP UIDs whose file names are not their UID (a leading dot,
# '/', spaces, non-ASCII, cut to fit 255 bytes, a UID that is another's
# escaped form, the same UID in two series, UIDs ending like a version)
# show under the same names, inode numbers and sizes in every view (ro
# mount of the schema 2 store, of it made 3 by its first writable open,
# and of the schema 3 store it came from), and read back byte-identical;
# two writers opening a schema 2 store at once copy its rows once; a
# kill -9 at any point of the upgrade or of reindex leaves a store verify
# finds consistent, with the same files under the same ids; a full disk
# during the upgrade fails it with a clear error and leaves schema 2; a
# writer waits out another's upgrade longer than SQLite's usual wait.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/schema2.sh"
need_fuse
need_samples
command -v dcmodify >/dev/null || skip_all "no dcmodify (dcmtk)"
command -v sqlite3 >/dev/null || skip_all "sqlite3 (the shell) not installed"
not_distributed "the upgrade of an index.db from schema 2 (SQLite) has no PostgreSQL counterpart"
base=$CORPUS/variety/CT_small.dcm
[ -f "$base" ] || base=$(find "$SAMPLES" -name 'CT_small.dcm' | head -1)
[ -f "$base" ] || skip_all "no CT_small.dcm in the samples"

# ---- hostile SOP UIDs: a file each (series, instance number optional) ----
mkdir -p "$T/in"
n=0
hostile() {
	n=$((n + 1))
	cp "$base" "$T/in/$n.dcm"
	dcmodify -nb -m "(0008,0018)=$1" ${2:+-m "(0020,000E)=$2"} ${3:+-m "(0020,0013)=$3"} \
		"$T/in/$n.dcm" >/dev/null 2>&1 || helper_failed "dcmodify could not set SOP UID '$1'"
}
long250=1.2$(printf '.1%.0s' $(seq 124))    # its .dcm name fits, its .v1.dcm name is cut
long300=1.2$(printf '.1%.0s' $(seq 149))    # both names cut
hostile '.5.6'; hostile 'a/b'; hostile 'x y'; hostile "$long250"; hostile "$long300"
hostile '%2E5.6'; hostile '..'; hostile '.'; hostile '-x'; hostile 'Zoë'
hostile '1.2.3' '' 1; hostile '1.2.3' '' 2; hostile '1.2.3' '' 3    # versions 1-3
hostile '1.2.v3'; hostile '1.2.v3.v2'
hostile '1.9.9' '1.2.777'; hostile '1.9.9' '1.2.888' 5              # one UID, two series
[ -e "$T/.helper-failures" ] && skip_all "$(head -1 "$T/.helper-failures")"

S=$T/s3 O=$T/s2 M=$T/mnt
check "a schema 3 store of $n files with hostile SOP UIDs" new_store "$S" "$T/in"
check "all stored" [ "$(sqlite3 "$S/index.db" 'SELECT count(*) FROM instances')" = "$n" ]

# listing STORE OUT [MOUNT OPTIONS]: every path of its mount with its inode
# number and size, sorted (its /incoming, shown by writable mounts, left out)
listing() {
	local s=$1 out=$2
	shift 2
	fs_mount "$s" "$M" "$@" || return 1
	find "$M" -path "$M/incoming" -prune -o -printf '%P %i %s\n' | sort >"$out"
	fs_umount "$M"
}
check "a share of everything" "$CTL" share create "$S" all --all
check "a de-identified share" "$CTL" share create "$S" anon --all --deidentify
cp -r "$S" "$O"
check "its index made schema 2" to_schema_2 "$O"
# A writer opening a schema 2 store waits for another's upgrade of it, even
# one longer than SQLite's usual 30 s wait (a minute at 1M instances): a
# third holds the write lock 33 s while it opens (started here, checked at
# the end, so the wait overlaps the rest)
cp -r "$O" "$T/wait"
{ echo "BEGIN IMMEDIATE;"; sleep 33; echo "COMMIT;"; } | sqlite3 "$T/wait/index.db" &
waitlock=$!
at_exit "kill $waitlock 2>/dev/null"
sleep 0.3
"$CTL" import -q "$T/wait" "$T/in/2.dcm" >"$T/wait.out" 2>&1 &
waiter=$!
at_exit "kill $waiter 2>/dev/null"
check "listed from schema 3 (read-only mount)" listing "$S" "$T/ls.3" -o ro
check "listed from schema 2 (read-only mount)" listing "$O" "$T/ls.2" -o ro
# (a share shows current versions: 1.2.3's and 1.9.9's first ones not)
check "the listing holds both shares' files" eval '[ "$(grep -c "^shares/all/.*\.dcm " "$T/ls.3")" = $((n - 3)) ] &&
	[ "$(grep -c "^shares/anon/.*\.dcm " "$T/ls.3")" = $((n - 3)) ]'
check "schema 2 shows the same names, inode numbers and sizes" diff "$T/ls.3" "$T/ls.2"
check "and is still schema 2" [ "$(sqlite3 "$O/index.db" 'PRAGMA user_version')" = 2 ]
check "listed through its first writable mount (the upgrade)" listing "$O" "$T/ls.2w"
check "it is schema 3 now" [ "$(sqlite3 "$O/index.db" 'PRAGMA user_version')" = 3 ]
check "the same names, inode numbers and sizes after the upgrade" diff "$T/ls.3" "$T/ls.2w"
check "only escaped or cut names are kept" [ "$(sqlite3 "$O/index.db" "SELECT count(*) FROM instances
	WHERE fname IS NOT NULL AND fname NOT GLOB '*[%~]*' OR vname IS NOT NULL AND vname NOT GLOB '*[%~]*'")" = 0 ]
check "verify: the upgraded store is consistent" "$CTL" verify "$O"
fs_mount_or_bail "$O" "$M" -o ro
fs_match_originals "$M/patients" "$T/in" >"$T/map"
check "every current file reads back byte-identical" [ "$(grep -c '^MISSING' "$T/map")" = 0 ]
for f in "$T"/in/1[123].dcm; do
	sop_v=$(find "$M/versions" -type f -exec cmp -s "$f" {} \; -print | wc -l)
	check "version file $(basename "$f") is under /versions once" [ "$sop_v" = 1 ]
done
check "unmount" fs_umount "$M"

# ---- a name that is another instance's version name (schema 2 refused it) ----
hostile '1.2.3.v2'
check "a SOP UID named like another's version 2 is stored beside it" "$CTL" import -q "$S" "$T/in/$n.dcm"
fs_mount_or_bail "$S" "$M" -o ro
check "it shows as 1.2.3.v2.dcm in its series" cmp "$T/in/$n.dcm" "$(find "$M/patients" -name 1.2.3.v2.dcm)"
# (which of the three files of 1.2.3 is its version 2 is the import's order)
v2=$(find "$M/versions" -name 1.2.3.v2.dcm)
check "a version of 1.2.3 as 1.2.3.v2.dcm in /versions" eval \
	'cmp -s "$T/in/11.dcm" "$v2" || cmp -s "$T/in/12.dcm" "$v2" || cmp -s "$T/in/13.dcm" "$v2"'
check "and it as 1.2.3.v2.v1.dcm there" cmp "$T/in/$n.dcm" "$(find "$M/versions" -name 1.2.3.v2.v1.dcm)"
check "unmount" fs_umount "$M"

# ---- two writers opening a schema 2 store at once ----
# a third holds the write lock while both open, so both read schema 2;
# schema_version counts the index's schema changes: the upgrade's and the
# triggers', once
W=$T/two
cp -r "$O" "$W.one" && to_schema_2 "$W.one"
cp -r "$W.one" "$W"
sv() { sqlite3 "$1/index.db" 'PRAGMA schema_version'; }
a=$(sv "$W.one")
check "one writer upgrades" "$CTL" import -q "$W.one" "$T/in/1.dcm"
once=$(($(sv "$W.one") - a))
a=$(sv "$W")
{ echo "BEGIN IMMEDIATE;"; sleep 1.5; echo "COMMIT;"; } | sqlite3 "$W/index.db" &
lockpid=$!
sleep 0.3
"$CTL" import -q "$W" "$T/in/1.dcm" >"$T/w1.out" 2>&1 &
w1=$!
"$CTL" import -q "$W" "$T/in/2.dcm" >"$T/w2.out" 2>&1 &
w2=$!
wait "$w1"; r1=$?
wait "$w2"; r2=$?
wait "$lockpid"
check "both writers succeed ($r1, $r2)" [ "$r1" = 0 -a "$r2" = 0 ]
twice=$(($(sv "$W") - a))
check "the rows are copied once ($twice schema changes, one writer alone $once)" [ "$twice" = "$once" ]
check "verify: consistent" "$CTL" verify "$W"

# ---- kill -9 during the upgrade and during reindex ----
# a bigger store, so that the kills land inside them
GEN=$BUILD/dcmfs-gencorpus
if [ -x "$GEN" ] && "$GEN" "$T/gen" --patients 4 --small --max-instances 1500 --dup-rate 0 -q >/dev/null 2>&1; then
	B=$T/big K=$T/kill
	new_store "$B" "$T/gen/patients" || not_ok "a store of the generated files"
	listing "$B" "$T/ls.big" -o ro || not_ok "list it"
	to_schema_2 "$B"
	# a writable open that stores nothing new: a file it holds
	dup=$(find "$T/gen/patients" -name '*.dcm' | head -1)
	for d in 0.02 0.05 0.1 0.15 0.2 0.3; do
		rm -rf "$K"; cp -r "$B" "$K"
		"$CTL" import -q "$K" "$dup" >/dev/null 2>&1 &
		p=$!
		sleep "$d"
		kill -9 "$p" 2>/dev/null
		wait "$p"
		v=$(sqlite3 "$K/index.db" 'PRAGMA user_version')
		check "upgrade killed after $d s (schema $v): verify finds it consistent" "$CTL" verify "$K"
		listing "$K" "$T/ls.k" -o ro
		check "the same files, ids and sizes" diff "$T/ls.k" "$T/ls.big"
		check "a writer opens it afterwards" "$CTL" import -q "$K" "$dup"
	done
	# a read-only mount of schema 2 goes on reading while a writer upgrades it
	rm -rf "$K"; cp -r "$B" "$K"
	if fs_mount "$K" "$M" -o ro; then
		"$CTL" import -q "$K" "$dup" >"$T/up.out" 2>&1 &
		p=$!
		find "$M" -printf '%P %i %s\n' | sort >"$T/ls.during"
		wait "$p"
		check "a writer upgrades it under a read-only mount" [ $? = 0 ]
		find "$M" -printf '%P %i %s\n' | sort >"$T/ls.after"
		check "the mount listed the same while it did" diff "$T/ls.during" "$T/ls.big"
		check "and after, from schema 3" diff "$T/ls.after" "$T/ls.big"
		check "unmount" fs_umount "$M"
	else
		not_ok "a read-only mount of schema 2"
	fi
	rm -rf "$K"; cp -r "$B" "$K"
	check "the upgrade for reindex's kills" "$CTL" import -q "$K" "$dup"
	listing "$K" "$T/ls.r" -o ro
	for d in 0.1 0.3 0.6 1 1.5; do
		"$CTL" reindex "$K" >/dev/null 2>&1 &
		p=$!
		sleep "$d"
		kill -9 "$p" 2>/dev/null
		wait "$p"
		check "reindex killed after $d s: verify finds it consistent" "$CTL" verify "$K"
		listing "$K" "$T/ls.k" -o ro
		check "the same files, ids and sizes" diff "$T/ls.k" "$T/ls.r"
	done
else
	skip "no generated store (dcmfs-gencorpus missing or found no seeds): no kill -9"
fi

# ---- a full disk during the upgrade ----
if [ "$(id -u)" = 0 ] && mkdir "$T/tfs" && mount -t tmpfs -o size=4m tmpfs "$T/tfs" 2>/dev/null; then
	at_exit umount "$T/tfs"
	cp -r "$O" "$T/tfs/s" && to_schema_2 "$T/tfs/s"
	# fill the rest, leaving room to open the index (its -shm) but not
	# for the upgrade's copy of the rows
	dd if=/dev/zero of="$T/tfs/fill" bs=4k 2>/dev/null
	truncate -s -48k "$T/tfs/fill"
	exits_with 2 "disk is full" "$CTL" import -q "$T/tfs/s" "$T/in/2.dcm"
	check "still schema 2" [ "$(sqlite3 -readonly "$T/tfs/s/index.db" 'PRAGMA user_version')" = 2 ]
	rm -f "$T/tfs/fill"
	check "verify: consistent" "$CTL" verify "$T/tfs/s"
	check "with room again, the upgrade succeeds" "$CTL" import -q "$T/tfs/s" "$T/in/2.dcm"
else
	skip "no tmpfs of a given size (not root): no full disk"
fi
wait "$waiter"
r=$?
check "a writer waited out a 33 s upgrade of the schema 2 store it opened ($r)" [ "$r" = 0 ]
head -3 "$T/wait.out" | diag
wait "$waitlock"
check "it made it schema 3" [ "$(sqlite3 "$T/wait/index.db" 'PRAGMA user_version')" = 3 ]
done_testing
