#!/bin/bash
# t0017-verify-once.t - verify decodes each blob once: on a store of small
# instances, some sharing their pixel blob (dedup), and a slide larger than
# 64 MiB stored in pieces (checked a step at a time), it decodes exactly the
# files' bytes (a shared blob checked with its first file), plus those of
# the blobs no file names (after an rm);
# and it still finds every kind of damage, each blob's once, in the same
# words and the same order with one worker or three: a flipped bit in a
# blob of one file and in a shared one, a changed byte in a piece of the
# slide, a piece gone, a damaged blob no file names any more, a wrong file
# hash, a wrong kept total, a pack cut short.
. "$(dirname "$0")/lib/common.sh"
GEN=$BUILD/dcmfs-gencorpus
[ -x "$GEN" ] || skip_all "$GEN not built"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
"$GEN" "$T/g" --patients 3 --small --max-instances 300 --dup-rate 1 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus found no small seeds"
[ -d "$T/g/dup-merged" ] || skip_all "the generator made no merged duplicates (their pixels are shared)"
"$GEN" --wsi "$T/w" --wsi-form native --wsi-mb 70 --wsi-levels 2 -q >/dev/null 2>&1 ||
	skip_all "dcmfs-gencorpus --wsi found no texture (real/us/US1_UNCR.dcm of the corpus)"
S=$T/store
check "a store of small files, merged duplicates and a slide" new_store "$S" "$T/g/patients" "$T/g/dup-merged" "$T/w"
q() { sqlite3 "$1/index.db" "$2"; }
USERS="(SELECT count(*) FROM segments g WHERE g.blob=b.id)"
shared=$(q "$S" "SELECT count(*) FROM blobs b WHERE kind=1 AND $USERS >= 2")
check "pixel blobs shared by two files: $shared" [ "$shared" -gt 0 ]
big=$(q "$S" "SELECT count(*) FROM instances WHERE size > 64 * 1048576 AND (SELECT count(*) FROM segments WHERE instance=instances.id) > 3")
check "a file over 64 MiB stored in pieces" [ "$big" = 1 ]

# ---- each blob decoded once: a clean store, then one after an rm ----
decoded_matches() {
	local st decoded files alone
	"$CTL" verify --json "$1" >"$T/clean.json" 2>"$T/clean.err"
	st=$?
	decoded=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["bytes_decoded"])' "$T/clean.json")
	files=$(q "$1" "SELECT sum(size) FROM instances")
	alone=$(q "$1" "SELECT coalesce(sum(raw_size), 0) FROM blobs b WHERE $USERS = 0")
	check "$2: verify exits 0" [ "$st" = 0 ]
	check "$2: it decodes the files' bytes and the unnamed blobs' once ($decoded = $files + $alone)" \
		[ "$decoded" = $((files + alone)) ]
}
decoded_matches "$S" "a clean store"
cp -a "$S" "$T/removed"
"$CTL" rm "$T/removed" --instance "$(q "$S" "SELECT sop_uid FROM instances ORDER BY id LIMIT 1 OFFSET 3")" >/dev/null
check "an rm leaves blobs no file names" [ "$(q "$T/removed" "SELECT count(*) FROM blobs b WHERE $USERS = 0")" -gt 0 ]
decoded_matches "$T/removed" "after an rm"

# ---- damage of every kind in one copy ----
D=$T/damaged
cp -a "$S" "$D"
flip() {
	$PY -c 'import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x10]))' "$1" "$2"
}
pack_of() { echo "$D/packs/$(q "$D" "SELECT name FROM packs WHERE id=$1")"; }
file_of() { local h=$1 o=$2 f; f="$D/blobs/${h:0:2}/${h:2:2}/$h"; [ "$o" = 0 ] || f="$f.$o"; echo "$f"; }
# users_of BLOB: "SOP (inode N)" of each file that has it, as verify names them
users_of() { q "$D" "SELECT i.sop_uid || ' (inode ' || i.id || ')' FROM segments g JOIN instances i ON i.id=g.instance WHERE g.blob=$1 ORDER BY i.id"; }
# 1. a blob no file names any more (its file removed, not yet gc'd), damaged
read -r xsop xbid < <(q "$D" "SELECT i.sop_uid, b.id FROM instances i JOIN segments g ON g.instance=i.id JOIN blobs b ON b.id=g.blob WHERE b.kind=1 AND b.pack>0 AND $USERS = 1 ORDER BY i.id LIMIT 1 OFFSET 40" | tr '|' ' ')
"$CTL" rm "$D" --instance "$xsop" >/dev/null 2>&1
read -r xhex xord xpk xoff xsz < <(q "$D" "SELECT lower(hex(hash)), ordinal, pack, offset, enc_size FROM blobs WHERE id=$xbid" | tr '|' ' ')
flip "$(pack_of "$xpk")" $((xoff + xsz / 2))
# 2. a pixel blob of one file
read -r ubid uhex uord upk uoff usz < <(q "$D" "SELECT id, lower(hex(hash)), ordinal, pack, offset, enc_size FROM blobs b WHERE kind=1 AND pack>0 AND $USERS = 1 ORDER BY id LIMIT 1 OFFSET 100" | tr '|' ' ')
usop=$(users_of "$ubid")
flip "$(pack_of "$upk")" $((uoff + usz / 2))
# 3. a pixel blob two files share
read -r sbid shex sord spk soff ssz < <(q "$D" "SELECT id, lower(hex(hash)), ordinal, pack, offset, enc_size FROM blobs b WHERE kind=1 AND pack>0 AND $USERS = 2 ORDER BY id LIMIT 1" | tr '|' ' ')
mapfile -t ssops < <(users_of "$sbid")
flip "$(pack_of "$spk")" $((soff + ssz / 2))
# 4. a byte changed in the body of a piece of the slide; 5. another piece gone
read -r phex pord pbid < <(q "$D" "SELECT lower(hex(b.hash)), b.ordinal, b.id FROM blobs b JOIN segments g ON g.blob=b.id JOIN instances i ON i.id=g.instance WHERE b.pack=0 AND i.size > 64 * 1048576 ORDER BY g.idx LIMIT 1 OFFSET 1" | tr '|' ' ')
read -r mhex mord mbid < <(q "$D" "SELECT lower(hex(b.hash)), b.ordinal, b.id FROM blobs b JOIN segments g ON g.blob=b.id JOIN instances i ON i.id=g.instance WHERE b.pack=0 AND i.size < 64 * 1048576 ORDER BY g.idx LIMIT 1" | tr '|' ' ')
psop=$(users_of "$pbid")
msop=$(users_of "$mbid")
pf=$(file_of "$phex" "$pord")
flip "$pf" $(($(stat -c %s "$pf") / 2))
rm -f "$(file_of "$mhex" "$mord")"
# 6. a wrong file hash; 7. a wrong kept total
read -r hid hsop < <(q "$D" "SELECT id, sop_uid || ' (inode ' || id || ')' FROM instances ORDER BY id LIMIT 1 OFFSET 7" | tr '|' ' ')
q "$D" "UPDATE instances SET file_hash=zeroblob(16) WHERE id=$hid"
q "$D" "UPDATE tallies SET instances=instances+1 WHERE series=(SELECT min(series) FROM tallies)"
# 8. the data pack cut short inside its last record, the big slide's (rm
# made a newer pack, of its tombstone)
IFS=$'\t' read -r cpk csop cend < <(q "$D" "SELECT record_pack, sop_uid || ' (inode ' || id || ')', record_offset + record_len FROM instances ORDER BY record_pack DESC, record_offset DESC LIMIT 1" | tr '|' '\t')
truncate -s $((cend - 10)) "$(pack_of "$cpk")"

verify_lines() { "$CTL" verify "$D" 2>&1 | sed -E 's/ in [0-9.]+ s:/:/'; }
DCMFS_VERIFY_WORKERS=1 verify_lines >"$T/one.txt"
diag <"$T/one.txt"
check "verify of the damaged copy: exit 1" bash -c "! '$CTL' verify '$D' >/dev/null 2>&1"
# says_once LINE-START WHAT: exactly one line starts with LINE-START
says_once() { check "$2: told once" [ "$(grep -c "^$1" "$T/one.txt")" = 1 ]; }
says_once "damaged: blob $xhex.$xord in pack .*: the entry's bytes fail their checksum" "a damaged blob no file names"
says_once "damaged: blob $uhex.$uord in pack .*: the entry's bytes fail their checksum" "a damaged blob of one file"
check "its file is named under it, and cannot be read" bash -c "grep -A1 '^damaged: blob $uhex' '$T/one.txt' | grep -qF '  affects instance $usop' &&
	grep -F 'instance $usop:' '$T/one.txt' | grep -q 'cannot be read: one of its blobs is damaged'"
says_once "damaged: blob $shex.$sord in pack .*: the entry's bytes fail their checksum" "a damaged blob two files share"
for u in "${ssops[@]}"; do
	check "the shared blob affects $u, and it cannot be read" bash -c "grep -A2 '^damaged: blob $shex' '$T/one.txt' | grep -qF '  affects instance $u' &&
		grep -F 'instance $u:' '$T/one.txt' | grep -q 'cannot be read: one of its blobs is damaged'"
done
says_once "damaged: blob $phex.$pord in .* (blob file): the blob file's encoded bytes fail their checksum" "a changed byte in a piece of the slide"
check "the slide does not read back" bash -c "grep -F 'instance $psop:' '$T/one.txt' | grep -q 'cannot be read back'"
says_once "missing: blob $mhex.$mord in .* (blob file)" "a piece of the smaller slide gone"
check "the smaller slide cannot be read" bash -c "grep -F 'instance $msop:' '$T/one.txt' | grep -q 'cannot be read:'"
check "a wrong file hash: the row disagrees with the record" bash -c "grep -F 'instance $hsop:' '$T/one.txt' | grep -q 'disagrees with its index row (size or file hash'"
check "a wrong file hash: the file reads back other bytes" bash -c "grep -F 'instance $hsop:' '$T/one.txt' | grep -q 'reads back other bytes (wrong hash)'"
check "a wrong kept total is named" grep -q "kept totals (tallies" "$T/one.txt"
check "a pack cut short inside a record is named" bash -c "grep -F 'instance $csop:' '$T/one.txt' | grep -q 'the pack file ends (at byte $((cend - 10))) before the entry does'"
check "no blob is told twice" bash -c "! grep -E '^(damaged|missing|unreadable): blob' '$T/one.txt' | cut -d' ' -f3 | sort | uniq -d | grep -q ."
for w in 2 3; do
	DCMFS_VERIFY_WORKERS=$w verify_lines >"$T/w$w.txt"
	check "$w workers: the same lines in the same order" diff "$T/one.txt" "$T/w$w.txt"
done
done_testing
