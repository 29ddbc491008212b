#!/bin/bash
# t0603-storescp-front-door.t - the DICOM network front door: storescp is
# started the way dcmfs-storescp@.service starts it (packaging/dcmfs-storescp
# with a config file as in /etc/dcmfs/), into an admin mount's /incoming; a
# series sent with storescu shows in the tree, every instance byte-identical
# to what storescp writes (the same command line from the same config file,
# INCOMING pointed at a plain folder); storescp keeps the data set bytes as
# sent (bit-preserving) and writes its own file meta header.  A config with
# an unknown setting, or an INCOMING that is not a folder, is refused; so
# are a PORT outside 1-65535, an AE title that DICOM does not allow, and an
# INCOMING that is not a live dcmfs mount's /incoming (unless CHECK_MOUNT=no).
. "$(dirname "$0")/lib/common.sh"
need_fuse
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
command -v storescp >/dev/null && command -v storescu >/dev/null || skip_all "dcmtk (storescp, storescu) not installed"
FRONT=$TOP/packaging/dcmfs-storescp
S=$T/store M=$T/mnt PLAIN=$T/plain
mkdir -p "$PLAIN"
check "an empty store" new_store "$S"
fs_mount_or_bail "$S" "$M"
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/storescp-test.conf" <<CONF
# as /etc/dcmfs/storescp-NAME.conf
AE_TITLE=DCMFSTEST
PORT=$port
INCOMING=$M/incoming
ACCESS_CONTROL=no
EXTRA_OPTIONS=
CONF
sed "s|^INCOMING=.*|INCOMING=$PLAIN|" "$T/storescp-test.conf" >"$T/storescp-plain.conf"
echo CHECK_MOUNT=no >>"$T/storescp-plain.conf"   # a plain folder, on purpose

# front_door CONFIG: run it as the unit does, send the series, stop it.
front_door() {
	local pid i
	"$FRONT" "$1" >>"$T/storescp.log" 2>&1 &
	pid=$!
	CLEANUP_PIDS+=("$pid")
	for ((i = 0; i < 50; i++)); do
		$PY -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null && break
		sleep 0.1
	done
	storescu -aec DCMFSTEST +sd +r 127.0.0.1 "$port" "$CT_SERIES" >>"$T/storescu.log" 2>&1
	local st=$?
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return $st
}
check "storescu sends the series to the plain folder" front_door "$T/storescp-plain.conf"
check "storescu sends the series into the mount's /incoming" front_door "$T/storescp-test.conf"
n=$(find "$CT_SERIES" -type f | wc -l)
check "storescp wrote every instance ($n)" [ "$(find "$PLAIN" -type f | wc -l)" = "$n" ]
sleep 1.5       # the tree refreshes within a second
check "the tree shows every instance" [ "$(find "$M/patients" -type f -name '*.dcm' | wc -l)" = "$n" ]
check "nothing was rejected" [ -z "$(ls -A "$M/incoming/.rejected")" ]
same=0
for f in "$PLAIN"/*; do
	uid=${f##*/}
	uid=${uid#*.}            # storescp names files <modality>.<SOPInstanceUID>
	g=$(find "$M/patients" -name "$uid.dcm")
	[ -n "$g" ] && cmp -s "$f" "$g" && same=$((same + 1))
done
check "every instance in the tree is byte-identical to what storescp wrote ($same of $n)" [ "$same" = "$n" ]
# what storescp did to the files: its meta header, the data set as sent
$PY - "$CT_SERIES" "$PLAIN" >"$T/encoding" <<'PY'
import os, struct, sys
def split(p):
    b = open(p, "rb").read()
    assert b[128:132] == b"DICM"
    assert b[132:136] == b"\x02\x00\x00\x00"
    end = 144 + struct.unpack("<I", b[140:144])[0]
    return b[:end], b[end:]
src, out = sys.argv[1], sys.argv[2]
sent = [split(os.path.join(src, n)) for n in os.listdir(src)]
got = [split(os.path.join(out, n)) for n in os.listdir(out)]
sent_data = {d for _, d in sent}
sent_files = {m + d for m, d in sent}
print(sum(d in sent_data for _, d in got), sum(m + d in sent_files for m, d in got))
PY
read -r same_data same_file <"$T/encoding"
check "storescp kept every data set as sent ($same_data of $n)" [ "${same_data:-0}" = "$n" ]
echo "# whole files identical to the sent ones (storescp writes its own meta header): ${same_file:-?} of $n"
check "a config with an unknown setting is refused" exits_with 2 "unknown setting 'PROT'" \
	"$FRONT" <(echo PROT=1)
check "an INCOMING that is not a folder is refused" exits_with 2 "is not a folder" \
	"$FRONT" <(echo "INCOMING=$T/none")
# bad settings: one line naming the setting, exit 2, before storescp starts
bad_conf() {  # bad_conf TEXT SETTING-LINE: a good config with that line added
	local text=$1
	{ cat "$T/storescp-test.conf"; echo "$2"; } >"$T/bad.conf"
	# (a setting let through would start storescp: timeout ends it)
	exits_with 2 "$text" timeout 10 "$FRONT" "$T/bad.conf" && [ "$(wc -l <"$T/.exits_with.out")" = 1 ]
}
check "PORT=0 is refused" bad_conf "PORT 0 is not between 1 and 65535" PORT=0
check "PORT=70000 is refused" bad_conf "PORT 70000 is not between 1 and 65535" PORT=70000
check "an AE title of 17 characters is refused" bad_conf "AE_TITLE 'ABCDEFGHIJKLMNOPQ' is not 1 to 16" AE_TITLE=ABCDEFGHIJKLMNOPQ
check "an AE title with a backslash is refused" bad_conf "is not 1 to 16 printable" 'AE_TITLE=A\B'
check "an AE title of blanks is refused" bad_conf "is not 1 to 16 printable" 'AE_TITLE="   "'
check "an INCOMING that is a plain folder is refused" bad_conf "is not the /incoming of a dcmfs mount" "INCOMING=$PLAIN"
check "so is the mount's root" bad_conf "is not the /incoming of a dcmfs mount" "INCOMING=$M"
check "CHECK_MOUNT is yes or no" bad_conf "CHECK_MOUNT is yes or no" CHECK_MOUNT=1
check "unmount" fs_umount "$M"
check "INCOMING left as a folder below the mountpoint is refused" bad_conf \
	"is not the /incoming of a dcmfs mount (is the admin mount up?" "INCOMING=$PLAIN"
mkdir -p "$M/incoming"
check "so is a left-over incoming/ in the unmounted mountpoint" bad_conf \
	"is not the /incoming of a dcmfs mount" "INCOMING=$M/incoming"
rmdir "$M/incoming"
done_testing
