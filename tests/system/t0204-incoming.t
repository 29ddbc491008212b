#!/bin/bash
# t0204-incoming.t - the admin mount's write paths: files copied into
# /incoming (cp -r with a sub-folder) are ingested at close and show under
# /patients byte-identical, leaving /incoming; a non-DICOM file makes cp fail,
# lands in /incoming/.rejected with a .reason, and changes no count; dcmtk's
# storescp writing into /incoming receives a series from storescu and every
# dataset shows under /patients; rm of an instance and rm -r of a series
# under /patients remove them from the store; a store folder without its
# spool/ (a second machine's, t0730) mounts read-write all the same.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples

SER=${CT_SERIES:-}
[ -n "$SER" ] || skip_all "no CT series in ../shared/corpus"
SER2=$CORPUS/real/series/ct_philips_ingenuity_phantom_54sl
S=$T/store M=$T/mnt
check "an empty store" new_store "$S"
# A second machine's STORE folder may hold only store.conf (t0730): the
# read-write mount makes its spool/ itself.
check "an empty store without its spool/ folder" rmdir "$S/spool"
fs_mount_or_bail "$S" "$M"
check "the mount made spool/.rejected" [ -d "$S/spool/.rejected" ]
check "/incoming is a writable folder (0755)" [ "$(stat -c %a "$M/incoming")" = 755 ]

mkdir -p "$T/src/sub"
cp "$SER"/0[1-5].dcm "$T/src/"
cp "$SER"/1[0-4].dcm "$T/src/sub/"
check "cp -r of a folder with a sub-folder into /incoming succeeds" cp -r "$T/src" "$M/incoming/"
check "the copied files left /incoming" [ "$(find "$M/incoming" -path '*/.rejected' -prune -o -type f -print | wc -l)" = 0 ]
check "the store has the 10 instances" [ "$(instances "$S")" = 10 ]
fs_match_originals "$M/patients" "$T/src" >"$T/map"
check "each shows under /patients byte-identical" [ "$(grep -c '^MISSING' "$T/map")" = 0 -a "$(wc -l <"$T/map")" = 10 ]

before=$(stat_total "$S" '')
printf 'not a DICOM file\n' >"$T/notes.txt"
if cp "$T/notes.txt" "$M/incoming/" 2>"$T/cperr"; then
	not_ok "cp of a text file into /incoming fails"
else
	ok "cp of a text file into /incoming fails ($(head -1 "$T/cperr"))"
fi
check "the refused file is in /incoming/.rejected" cmp -s "$T/notes.txt" "$M/incoming/.rejected/notes.txt"
check "with its .reason beside it" [ -s "$M/incoming/.rejected/notes.txt.reason" ]
sed 's/^/reason: /' "$M/incoming/.rejected/notes.txt.reason" | diag
check "and not in /incoming itself" [ ! -e "$M/incoming/notes.txt" ]
after=$(stat_total "$S" '')
check "stats are unchanged by the refused file" [ "$before" = "$after" ]
check "the refused file is kept in STORE/spool/.rejected" [ -f "$S/spool/.rejected/notes.txt" ]

# A file created and closed without a write (touch) is refused as empty at
# its close, not left in /incoming for ever.
check "touch of a new file in /incoming succeeds" touch "$M/incoming/empty.dcm"
# The close's RELEASE reaches the daemon after close() returns: give it a moment.
for ((i = 0; i < 50; i++)); do [ -e "$M/incoming/empty.dcm" ] || break; sleep 0.1; done
check "the empty file left /incoming (within 5 s)" [ ! -e "$M/incoming/empty.dcm" ]
check "and is in /incoming/.rejected with a reason" grep -qi "empty" "$M/incoming/.rejected/empty.dcm.reason"

check "mkdir, write and rm in /incoming work" sh -c "mkdir '$M/incoming/d' && rmdir '$M/incoming/d'"

# dcmtk end to end: storescp writes into /incoming
if command -v storescp >/dev/null && command -v storescu >/dev/null; then
	n_before=$(instances "$S")
	port=$(free_port)
	storescp --output-directory "$M/incoming" "$port" >"$T/storescp.log" 2>&1 &
	SCP=$!
	CLEANUP_PIDS+=("$SCP")
	for i in $(seq 50); do
		ss -ltn 2>/dev/null | grep -q ":$port " && break
		sleep 0.1
	done
	check "storescu sends the CT series to storescp writing into /incoming" \
		storescu -aec ANY-SCP 127.0.0.1 "$port" "$SER"/*.dcm
	kill "$SCP"
	wait "$SCP"
	# storescp writes a new meta header: the 10 copied above come back as
	# new versions beside the first ones, so every file counts
	n=$(ls "$SER"/*.dcm | wc -l)
	check "the store gained every instance of the series ($n)" [ "$(instances "$S")" = $((n_before + n)) ]
	# compare datasets: dcmdump without the meta group (storescp writes a new one)
	bad=0
	for o in "$SER"/*.dcm; do
		sop=$("$BUILD/dcmfs-scan" "$o" | sed -n 's/^sop_instance_uid=//p')
		f=$(find "$M/patients" -name "$sop.dcm" | head -1)
		if [ -z "$f" ]; then
			echo "# missing $sop"; bad=1; continue
		fi
		if ! diff <(dcmdump +P all -q "$o" 2>&1 | grep -v '^(0002,') <(dcmdump -q "$f" 2>&1 | grep -v '^(0002,') >/dev/null &&
			! diff <(dcmdump "$o" 2>&1 | sed -n '/# Dicom-Data-Set/,$p') <(dcmdump "$f" 2>&1 | sed -n '/# Dicom-Data-Set/,$p') >/dev/null; then
			echo "# dataset differs: $f"; bad=1
		fi
	done
	check "each received dataset equals the sent one (meta group aside)" [ $bad = 0 ]
	check "storescp's files left /incoming" [ "$(find "$M/incoming" -path '*/.rejected' -prune -o -type f -print | wc -l)" = 0 ]
else
	skip "no storescp/storescu"
fi

# removing
check "rmdir of a non-empty folder fails" fails rmdir "$(find "$M/patients" -mindepth 1 -maxdepth 1 -type d | head -1)"
check "mv of a stored file fails" fails mv "$(find "$M/patients" -type f | head -1)" "$M/patients/x"
check "chmod of a stored file fails" fails chmod 600 "$(find "$M/patients" -type f | head -1)"
n0=$(instances "$S")
# a file with one version (the series sent again above has two each; a
# folder lists in the order stored)
while read -r f; do
	sop=$(basename "$f" .dcm)
	[ "$(catalog_sql "$S" "SELECT count(*) FROM instances WHERE sop_uid='$sop'")" = 1 ] && break
done < <(find "$M/patients" -type f)
check "rm of an instance succeeds" rm "$f"
check "the file is gone" [ ! -e "$f" ]
check "the store has one instance less" [ "$(instances "$S")" = $((n0 - 1)) ]
if [ -d "$SER2" ]; then
	"$CTL" import -q "$S" "$SER2" >/dev/null 2>&1
	sleep 0.5
	n1=$(instances "$S")
	sdir=$(dirname "$(find "$M/patients" -type f -name '*.dcm' | xargs -d '\n' grep -l . | while read -r x; do
		s=$(dirname "$x"); [ "$(ls "$s" | wc -l)" = "$(ls "$SER2" | wc -l)" ] && echo "$x" && break; done)")
	k=$(ls "$sdir" | wc -l)
	check "rm -r of a series folder ($k files) succeeds" rm -r "$sdir"
	check "the series folder is gone" [ ! -e "$sdir" ]
	check "the store lost exactly that series" [ "$(instances "$S")" = $((n1 - k)) ]
	pdir=$(find "$M/patients" -mindepth 1 -maxdepth 1 -type d | head -1)
	k=$(find "$pdir" -type f | wc -l)
	# rm of a file removes every version of it: /versions has them all
	kv=$(find "$M/versions/$(basename "$pdir")" -type f | wc -l)
	n2=$(instances "$S")
	check "rm -r of a patient folder ($k files) succeeds" rm -r "$pdir"
	check "the store lost that patient's instances, every version ($kv)" [ "$(instances "$S")" = $((n2 - kv)) ]
fi
check "unmount" fs_umount "$M"
done_testing
