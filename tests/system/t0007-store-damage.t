#!/bin/bash
# The packs and blob files are the truth: one flipped bit in an instance
# record, in the middle of a pack, in a pack's file header or in a blob file
# is found by verify (exit 1, naming the file, the byte range and the
# instances hit); after rm index.db* a reindex brings back every instance
# whose own data is intact, lists what it skipped and exits 1; gc then
# refuses to run without --force.  A torn tail of the newest pack (what a
# crash leaves) is quiet.  A deleted pack of tombstones is found too.
. "$(dirname "$0")/lib/common.sh"
IN=$T/in
mkdir -p "$IN"
if [ -n "$CORPUS" ] && [ -d "$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl" ]; then
	cp -r "$CORPUS/real/series/ct_ge_hispeed_head_tilt_28sl" "$IN/ct"
	cp -r "$CORPUS/real/mr" "$IN/mr"
elif [ -d "$PYDICOM_FILES" ]; then
	echo "# ../shared/corpus absent: pydicom test files"
	cp "$PYDICOM_FILES"/CT_small.dcm "$PYDICOM_FILES"/MR_small.dcm "$PYDICOM_FILES"/JPEG2000.dcm \
		"$PYDICOM_FILES"/emri_small.dcm "$PYDICOM_FILES"/rtdose.dcm "$IN"/ 2>/dev/null
else
	skip_all "no sample DICOM files (../shared/corpus or python3-pydicom)"
fi
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
S0=$T/s0
S=$T/s
"$CTL" init "$S0" >/dev/null
"$CTL" import -q "$S0" "$IN" >/dev/null 2>&1
N=$(sqlite3 "$S0/index.db" "SELECT count(*) FROM instances")
[ "$N" -ge 4 ] && ok "stored $N instances" || { not_ok "stored $N instances, want 4 or more"; done_testing; }
check "verify is clean before any damage" "$CTL" verify "$S0"

q() { sqlite3 "$S/index.db" "$1"; }
fresh() { rm -rf "$S"; cp -a "$S0" "$S"; PACK=$(ls "$S"/packs/*.pack | head -1); }
# flip FILE OFFSET: flip one bit of one byte.
flip() {
	python3 -c 'import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x10]))' "$1" "$2"
}
# verify must exit 1 and print every pattern given.
verify_finds() {
	local what=$1 rc
	shift
	"$CTL" verify "$S" >"$T/verify.out" 2>&1
	rc=$?
	local miss=""
	for pat in "$@"; do grep -qF -- "$pat" "$T/verify.out" || miss="$miss '$pat'"; done
	if [ $rc -eq 1 ] && [ -z "$miss" ]; then ok "verify finds $what"; else
		not_ok "verify finds $what (exit $rc, missing:$miss)"; sed 's/^/# /' "$T/verify.out" | head -20; fi
}
# reindex from the packs alone: exit 1, a listed range, want instances back.
reindex_keeps() {
	local what=$1 want=$2 rc
	rm -f "$S"/index.db "$S"/index.db-wal "$S"/index.db-shm
	"$CTL" reindex "$S" >"$T/reindex.out" 2>&1
	rc=$?
	local got
	got=$(q "SELECT count(*) FROM instances")
	if [ $rc -eq 1 ] && [ "$got" = "$want" ] && grep -q "skipped damaged" "$T/reindex.out"; then
		ok "reindex after $what: exit 1, skipped range listed, $got of $N instances back"
	else
		not_ok "reindex after $what: exit $rc, $got instances (want $want of $N)"; sed 's/^/# /' "$T/reindex.out" | head -20
	fi
}
gc_refuses() {
	if "$CTL" gc "$S" >"$T/gc.out" 2>&1; then not_ok "gc ran despite the damage marker"
	elif grep -q "DAMAGED" "$T/gc.out" && [ -f "$S/DAMAGED" ]; then ok "gc refuses without --force and says why"
	else not_ok "gc failed for another reason: $(cat "$T/gc.out")"; fi
}

# 1. One bit of an instance record, in the middle of the store.
fresh
read -r id uid off len < <(q "SELECT id, sop_uid, record_offset, record_len FROM instances ORDER BY id LIMIT 1 OFFSET $((N / 2))" | tr '|' ' ')
flip "$PACK" $((off + len / 2))
verify_finds "a flipped bit in an instance record" "damaged: pack $(basename "$PACK") bytes [$((off - 20)), $((off + len)))" "$uid"
reindex_keeps "a damaged record" $((N - 1))
n=$(q "SELECT count(*) FROM instances WHERE sop_uid='$uid'")
[ "$n" = 0 ] && ok "the instance whose record is damaged is the one missing" || not_ok "$uid came back"
gc_refuses
check "gc --force runs and clears the marker" bash -c "'$CTL' gc --force '$S' && [ ! -e '$S/DAMAGED' ]"
check "then verify reports the range as known damage, exit 0" bash -c "'$CTL' verify '$S' >'$T/v.out' && grep -q 'known damage' '$T/v.out'"
rm -f "$S"/index.db "$S"/index.db-wal "$S"/index.db-shm
check "and reindex skips it as known (exit 0, no new marker)" bash -c "'$CTL' reindex '$S' && [ ! -e '$S/DAMAGED' ]"
[ "$(q "SELECT count(*) FROM instances")" = $((N - 1)) ] && ok "still $((N - 1)) instances" || not_ok "instances after the second reindex"

# 1b. With the old index still there, reindex names the instance lost.
fresh
flip "$PACK" $((off + len / 2))
"$CTL" reindex "$S" >"$T/rx1b.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "old index had instance $uid" "$T/rx1b.out" && ok "reindex names the lost instance from the old index" ||
	{ not_ok "reindex with the old index: exit $rc"; sed 's/^/# /' "$T/rx1b.out"; }

# 2. One bit in the middle of a pack: a small blob of one instance.
fresh
read -r bid boff bsize < <(q "SELECT b.id, b.offset, b.enc_size FROM blobs b WHERE b.pack > 0 AND (SELECT count(*) FROM segments g WHERE g.blob=b.id) = 1 ORDER BY b.offset LIMIT 1 OFFSET $((N / 3))" | tr '|' ' ')
buid=$(q "SELECT i.sop_uid FROM segments g JOIN instances i ON i.id=g.instance WHERE g.blob=$bid")
flip "$PACK" $((boff + bsize / 2))
verify_finds "a flipped bit in a pack blob" "damaged: pack $(basename "$PACK") bytes [$((boff - 60)), $((boff + bsize)))" "$buid"
if "$CTL" get "$S" "$buid" >/dev/null 2>"$T/get.err"; then not_ok "get of a damaged instance succeeded"
elif grep -q "damaged" "$T/get.err"; then ok "get of the damaged instance fails: $(head -c 120 "$T/get.err")"
else not_ok "get fails without saying why: $(cat "$T/get.err")"; fi
other=$(q "SELECT sop_uid FROM instances WHERE sop_uid != '$buid' ORDER BY id DESC LIMIT 1")
check "other instances still read" bash -c "'$CTL' get '$S' '$other' >/dev/null"
reindex_keeps "a damaged pack blob" $((N - 1))
grep -qF "$buid" "$T/reindex.out" && ok "reindex names the instance it could not recover" || not_ok "reindex does not name $buid"
gc_refuses

# 3. One bit of a pack's file header: nothing after it is lost.
fresh
flip "$PACK" 3
verify_finds "a flipped bit in a pack's file header" "bytes [0, 16)"
reindex_keeps "a damaged pack header" "$N"

# 4. One bit of a blob file (a CT slice's pixels).
fresh
read -r fhash ford fid < <(q "SELECT lower(hex(hash)), ordinal, id FROM blobs WHERE pack=0 ORDER BY id LIMIT 1" | tr '|' ' ')
if [ -n "${fhash:-}" ]; then
	users=$(q "SELECT count(*) FROM segments WHERE blob=$fid")
	fuid=$(q "SELECT i.sop_uid FROM segments g JOIN instances i ON i.id=g.instance WHERE g.blob=$fid LIMIT 1")
	F="$S/blobs/${fhash:0:2}/${fhash:2:2}/$fhash"
	[ "$ford" = 0 ] || F="$F.$ford"
	flip "$F" $(($(stat -c %s "$F") / 2))
	verify_finds "a flipped bit in a blob file" "$F" "$fuid"
	if "$CTL" get "$S" "$fuid" >/dev/null 2>"$T/get.err"; then not_ok "get of an instance with a damaged blob file succeeded"
	else grep -q "damaged" "$T/get.err" && ok "get fails and says the data is damaged" || not_ok "get: $(cat "$T/get.err")"; fi
	reindex_keeps "a damaged blob file" $((N - users))
	gc_refuses
else
	skip "no blob file in this store"
fi

# 5. A torn append at the end of the newest pack: quiet.
fresh
head -c 37 "$PACK" | tail -c 21 >>"$PACK"   # an entry header and 1 byte of payload, cut short
check "verify: a torn tail of the newest pack is not a problem" "$CTL" verify "$S"
rm -f "$S"/index.db "$S"/index.db-wal "$S"/index.db-shm
check "reindex: a torn tail of the newest pack is quiet (exit 0)" "$CTL" reindex "$S"
[ "$(q "SELECT count(*) FROM instances")" = "$N" ] && ok "all $N instances back" || not_ok "instances lost to a torn tail"
[ ! -e "$S/DAMAGED" ] && ok "no damage marker for a torn tail" || not_ok "a torn tail left a marker"

# 5b. But a flipped bit in the last entry of the newest pack is damage.
fresh
read -r luid loff llen < <(q "SELECT sop_uid, record_offset, record_len FROM instances ORDER BY record_offset DESC LIMIT 1" | tr '|' ' ')
[ $((loff + llen)) = "$(stat -c %s "$PACK")" ] && ok "the last entry of the pack is a record" || not_ok "the pack does not end with a record"
flip "$PACK" $((loff + llen - 3))
verify_finds "a flipped bit in the newest pack's last entry" "$luid"
reindex_keeps "a damaged last entry" $((N - 1))

# 6. An old index (schema 1) is refused with the way out.
fresh
sqlite3 "$S/index.db" "PRAGMA user_version=1"
check "an index of schema 1 is refused (exit 2) with a hint to reindex" exits_with 2 'dcmfsctl reindex' "$CTL" stats "$S"
check "reindex rebuilds it" "$CTL" reindex "$S"
check "verify is clean after that" "$CTL" verify "$S"
# 7. An import whose batches roll back (here: writes past a file size
# limit fail with EFBIG) leaves no record that a reindex would bring back.
MRS=""
[ -n "$CORPUS" ] && [ -d "$CORPUS/real/series/mr_ge_3d_t1_mprage_130sl" ] && MRS=$CORPUS/real/series/mr_ge_3d_t1_mprage_130sl
if [ -n "$MRS" ]; then
	R=$T/r
	"$CTL" init "$R" >/dev/null
	(trap '' XFSZ; ulimit -f 300; "$CTL" import -q "$R" "$MRS" >"$T/rb.out" 2>&1)
	before=$(sqlite3 "$R/index.db" "SELECT count(*) FROM instances")
	rm -f "$R"/index.db "$R"/index.db-wal "$R"/index.db-shm
	"$CTL" reindex "$R" >/dev/null 2>&1
	after=$(sqlite3 "$R/index.db" "SELECT count(*) FROM instances")
	[ "$before" -lt 130 ] && [ "$after" = "$before" ] && ok "rolled-back batches stay rolled back: $before instances before reindex, $after after" ||
		not_ok "import committed $before instances, reindex brought back $after"
else
	skip "the real MR series is absent"
fi
# 8. verify while rm and gc run: what gc frees meanwhile is not "missing".
if [ -n "$CORPUS" ] && [ -d "$CORPUS/real/series" ]; then
	G=$T/g
	"$CTL" init "$G" >/dev/null
	"$CTL" import -q "$G" "$CORPUS/real/series" >/dev/null 2>&1
	(for u in $(sqlite3 "$G/index.db" "SELECT series_uid FROM series"); do
		sleep 0.2; "$CTL" rm "$G" --series "$u" >/dev/null; "$CTL" gc "$G" >/dev/null
	done) &
	gcpid=$!
	bad=0
	for i in 1 2 3 4 5 6; do "$CTL" verify "$G" >"$T/cv.$i" 2>&1 || bad=$((bad + 1)); done
	wait $gcpid
	[ $bad = 0 ] && ok "verify during rm + gc: 6 runs, no problem reported" ||
		{ not_ok "verify during rm + gc: $bad of 6 runs reported problems"; cat "$T"/cv.* | grep -v '^verified' | head -5 | sed 's/^/# /'; }
else
	skip "the real series are absent"
fi
# 9. gc removes spool files of mounts that are gone, not of live ones.
fresh
rm -f "$S/DAMAGED"
mkdir -p "$S/spool"
sleep 60 &
live=$!
echo x >"$S/spool/in-$live-1"
echo x >"$S/spool/in-4194999-7"     # above any pid_max: never a live process
"$CTL" gc "$S" >/dev/null 2>&1
kill $live 2>/dev/null
[ -e "$S/spool/in-$live-1" ] && [ ! -e "$S/spool/in-4194999-7" ] &&
	ok "gc removes a dead mount's spool file and keeps a live one's" || not_ok "spool: $(ls "$S/spool")"
# 10. Orphans are not problems: a blob file no row names and a temporary
# file of a dead import are counted as reclaimable, verify exits 0.
fresh
rm -f "$S/DAMAGED"
mkdir -p "$S/blobs/00/00"
echo junk >"$S/blobs/00/00/00000000000000000000000000000000"
echo junk >"$S/blobs/00/00/00000000000000000000000000000001.tmp4194999"
"$CTL" verify "$S" >"$T/orph.out" 2>&1
rc=$?
[ $rc = 0 ] && grep -q "reclaimable by gc" "$T/orph.out" && ok "verify: orphans are reclaimable, not problems (exit 0)" ||
	{ not_ok "verify with orphans: exit $rc"; sed 's/^/# /' "$T/orph.out"; }
"$CTL" gc "$S" >/dev/null 2>&1
[ -z "$(ls -A "$S/blobs/00/00")" ] && ok "gc removes them" || not_ok "left after gc: $(ls "$S/blobs/00/00")"
# 11. A pack cut short or gone while the old index still names what was
# there is damage, not a torn append: reindex exits 1, names the instances
# and leaves the marker; verify after it exits 1; gc refuses.
lost_pack() {
	local what=$1 rc
	"$CTL" reindex "$S" >"$T/rx11.out" 2>&1
	rc=$?
	if [ $rc = 1 ] && [ -f "$S/DAMAGED" ] && grep -q "old index had instance" "$T/rx11.out"; then
		ok "reindex after $what: exit 1, DAMAGED, the lost instances named"
	else
		not_ok "reindex after $what: exit $rc"; sed 's/^/# /' "$T/rx11.out" | head
	fi
	"$CTL" verify "$S" >"$T/v11.out" 2>&1
	rc=$?
	[ $rc = 1 ] && ok "verify after that reindex exits 1" ||
		{ not_ok "verify after reindex of $what: exit $rc"; sed 's/^/# /' "$T/v11.out" | head; }
	gc_refuses
}
fresh
NEWEST=$(ls "$S"/packs/*.pack | tail -1)
truncate -s $(($(stat -c %s "$NEWEST") / 2)) "$NEWEST"
lost_pack "a pack cut to half its size"
fresh
NEWEST=$(ls "$S"/packs/*.pack | tail -1)
# cut exactly at the end of an entry: no torn bytes at all
cut=$(q "SELECT record_offset + record_len FROM instances ORDER BY record_offset LIMIT 1 OFFSET $((N / 2))")
truncate -s "$cut" "$NEWEST"
lost_pack "a pack cut at an entry boundary"
fresh
GONE=$(ls "$S"/packs/*.pack | tail -1)
rm -f "$GONE"
verify_finds "a deleted pack" "missing: pack $(basename "$GONE")"
lost_pack "a deleted pack"
# Without an old index a torn-looking end cannot be told from a crash.
fresh
NEWEST=$(ls "$S"/packs/*.pack | tail -1)
truncate -s $(($(stat -c %s "$NEWEST") / 2)) "$NEWEST"
rm -f "$S"/index.db "$S"/index.db-wal "$S"/index.db-shm
check "without an old index, a cut newest pack is a quiet torn tail (the documented limit)" "$CTL" reindex "$S"

# 12. A blob file gone is damage like a damaged one: reindex names the
# instance, exits 1, leaves the marker; verify after it exits 1.
fresh
read -r mhash mord mid < <(q "SELECT lower(hex(hash)), ordinal, id FROM blobs WHERE pack=0 ORDER BY id LIMIT 1" | tr '|' ' ')
if [ -n "${mhash:-}" ]; then
	muid=$(q "SELECT i.sop_uid FROM segments g JOIN instances i ON i.id=g.instance WHERE g.blob=$mid LIMIT 1")
	musers=$(q "SELECT count(*) FROM segments WHERE blob=$mid")
	F="$S/blobs/${mhash:0:2}/${mhash:2:2}/$mhash"
	[ "$mord" = 0 ] || F="$F.$mord"
	rm -f "$F"
	"$CTL" reindex "$S" >"$T/rx12.out" 2>&1
	rc=$?
	if [ $rc = 1 ] && [ -f "$S/DAMAGED" ] && grep -qF "$muid" "$T/rx12.out" && grep -qF "$muid" "$S/DAMAGED"; then
		ok "reindex after a deleted blob file: exit 1, the instance named here and in DAMAGED"
	else
		not_ok "reindex after a deleted blob file: exit $rc"; sed 's/^/# /' "$T/rx12.out" | head
	fi
	[ "$(q "SELECT count(*) FROM instances")" = $((N - musers)) ] && ok "the instances that need it are left out" ||
		not_ok "$(q "SELECT count(*) FROM instances") instances after reindex, want $((N - musers))"
	check "verify after that reindex exits 1" bash -c "! '$CTL' verify '$S' >/dev/null 2>&1"
	gc_refuses
else
	skip "no blob file in this store"
fi

# 13. After a reindex that skipped a damaged blob file, verify names that
# file as kept for damaged records, not reclaimable, and exits 1.
fresh
if [ -n "${fhash:-}" ]; then
	F="$S/blobs/${fhash:0:2}/${fhash:2:2}/$fhash"
	[ "$ford" = 0 ] || F="$F.$ford"
	flip "$F" $(($(stat -c %s "$F") / 2))
	"$CTL" reindex "$S" >/dev/null 2>&1
	"$CTL" verify "$S" >"$T/v13.out" 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -q "kept for damaged records" "$T/v13.out" && grep -qF "$F" "$T/v13.out" &&
		! grep -qE "[1-9][0-9]* orphan blob file" "$T/v13.out"; then
		ok "verify: the damaged blob file is kept for damaged records, exit 1"
	else
		not_ok "verify after reindex skipped a damaged blob file: exit $rc"; sed 's/^/# /' "$T/v13.out" | head
	fi
else
	skip "no blob file in this store"
fi

# 14. A removal killed between its durable tombstone and its row delete:
# the tombstone is in a pack, the rows are still in the index.  verify
# names the instance (exit 1) instead of calling the store clean.
fresh
cp -a "$S" "$T/s14"
sop=$(q "SELECT sop_uid FROM instances ORDER BY id LIMIT 1")
"$CTL" rm "$T/s14" --instance "$sop" >/dev/null
for p in "$T"/s14/packs/*.pack; do
	[ -e "$S/packs/$(basename "$p")" ] || cp "$p" "$S/packs/"
done
"$CTL" verify "$S" >"$T/v14.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "removal was interrupted" "$T/v14.out" &&
	ok "verify names an interrupted removal (tombstone in a pack, rows in the index), exit 1" ||
	{ not_ok "verify after an interrupted removal: exit $rc"; sed 's/^/# /' "$T/v14.out" | head; }
rm -rf "$T/s14"
# 15. A deleted pack that held only tombstones (torture seed 20261201,
# corruptions 607 and 924): verify exits 1 and names it (rm names its pack
# in the index; nothing else refers to it).
fresh
sop=$(sqlite3 "$S/index.db" "SELECT sop_uid FROM instances ORDER BY id LIMIT 1")
before=$(ls "$S/packs")
"$CTL" rm "$S" --instance "$sop" >/dev/null 2>&1
tomb=$(ls "$S/packs" | grep -vxF "$before")
"$CTL" verify "$S" >/dev/null 2>&1 && [ -n "$tomb" ] && ok "rm writes a pack of tombstones ($tomb); verify exits 0" || not_ok "rm: pack '$tomb'"
rm -f "$S/packs/$tomb"
verify_finds "a deleted pack of tombstones" "missing: pack $tomb"
# 16. A FIFO where a blob file and a pack belong: verify, get and reindex
# name the damage and never wait on it (they hung before).
fresh
read -r fhash ford fid < <(q "SELECT lower(hex(hash)), ordinal, id FROM blobs WHERE pack=0 ORDER BY id LIMIT 1" | tr '|' ' ')
if [ -n "${fhash:-}" ]; then
	fuid=$(q "SELECT i.sop_uid FROM segments g JOIN instances i ON i.id=g.instance WHERE g.blob=$fid LIMIT 1")
	F="$S/blobs/${fhash:0:2}/${fhash:2:2}/$fhash"
	[ "$ford" = 0 ] || F="$F.$ford"
	rm -f "$F" && mkfifo "$F"
	rm -f "$PACK" && mkfifo "$PACK"
	"$CTL" verify "$S" >"$T/v16.out" 2>&1 &
	vp=$!
	for _ in $(seq 200); do kill -0 $vp 2>/dev/null || break; sleep 0.1; done
	if kill -0 $vp 2>/dev/null; then
		kill -9 $vp; not_ok "verify with FIFOs for a blob file and a pack still runs after 20 s"
	else
		wait $vp; rc=$?
		[ $rc = 1 ] && grep -q "not a regular file" "$T/v16.out" && grep -q "$fuid" "$T/v16.out" &&
			ok "verify names a FIFO in a blob file's place, and one in a pack's, and ends (exit 1)" ||
			{ not_ok "verify with FIFOs: exit $rc"; sed 's/^/# /' "$T/v16.out" | head; }
	fi
	timeout 20 "$CTL" get "$S" "$fuid" >/dev/null 2>"$T/get16.err"
	rc=$?
	[ $rc != 124 ] && [ $rc != 0 ] && ok "get of its instance fails at once (exit $rc)" ||
		not_ok "get with a FIFO for its blob file: exit $rc"
else
	skip "no blob file in this store"
fi
done_testing
