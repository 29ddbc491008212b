#!/bin/bash
# t0623-samba.t - a read-only mount and a de-identified share mount
# exported with Samba (smbd started here, with its own smb.conf in $T, on a
# free port, no systemd; stopped by its pid): smbclient copies every file
# of each export, and the copies are the files of the mount, byte for byte.
. "$(dirname "$0")/lib/common.sh"
need_fuse
need_samples
SMBD=$(command -v smbd || echo /usr/sbin/smbd)
[ -x "$SMBD" ] || skip_all "no smbd (samba)"
command -v smbclient >/dev/null || skip_all "no smbclient"
[ -n "$CT_SERIES" ] || skip_all "no CT series in the corpus"

S=$T/store M1=$T/ro M2=$T/share
chmod o+x "$T"     # smbd's guest account must reach the mount points
check "a store of a CT series" new_store "$S" "$CT_SERIES"
# allow_other: smbd reads as its guest account, not as the mount's owner
fs_mount_or_bail "$S" "$M1" -o ro,allow_other
pat=$(ls "$M1/patients" | head -1)
check "a de-identified share of its patient ($pat)" \
	"$CTL" share create "$S" smbshare --patient "$pat" --deidentify
fs_mount_or_bail "$S" "$M2" -o share=smbshare,allow_other

P=$(free_port)
mkdir -p "$T/smb"/{private,lock,state,cache,pid,log}
cat >"$T/smb/smb.conf" <<EOF
[global]
	workgroup = DCMFSTEST
	server role = standalone server
	smb ports = $P
	interfaces = 127.0.0.1
	bind interfaces only = yes
	disable netbios = yes
	private dir = $T/smb/private
	lock directory = $T/smb/lock
	state directory = $T/smb/state
	cache directory = $T/smb/cache
	pid directory = $T/smb/pid
	log file = $T/smb/log/%m.log
	load printers = no
	printing = bsd
	printcap name = /dev/null
	map to guest = Bad User
	server min protocol = SMB2
[ro]
	path = $M1
	read only = yes
	guest ok = yes
[share]
	path = $M2
	read only = yes
	guest ok = yes
EOF
# -F alone: smbd makes its own process group, which it signals when it stops
"$SMBD" -F -s "$T/smb/smb.conf" -l "$T/smb/log" >"$T/smb/smbd.out" 2>&1 &
SMBPID=$!
CLEANUP_PIDS+=("$SMBPID")
up=0
for ((i = 0; i < 100; i++)); do
	kill -0 "$SMBPID" 2>/dev/null || break
	smbclient -s "$T/smb/smb.conf" -p "$P" -N -m SMB3 -L 127.0.0.1 >/dev/null 2>&1 && { up=1; break; }
	sleep 0.2
done
if [ $up = 0 ]; then
	sed 's/^/# smbd: /' "$T/smb/smbd.out" | head -5
	skip "smbd did not start here: exports not tried"
	done_testing
fi
ok "smbd serves on port $P (pid $SMBPID)"

# fetch SHARE DEST: every file of //127.0.0.1/SHARE into DEST
fetch() {
	mkdir -p "$2"
	(cd "$2" && smbclient -s "$T/smb/smb.conf" -p "$P" -N -m SMB3 "//127.0.0.1/$1" \
		-c 'recurse on; prompt off; mget *' >"$T/smb/$1.out" 2>&1) ||
		{ grep -v '^getting' "$T/smb/$1.out" | head -5; return 1; }
}
check "smbclient copies every file of the read-only export" fetch ro "$T/got-ro"
n=$(find "$M1" -type f | wc -l)
check "as many files as the mount has ($n)" test "$(find "$T/got-ro" -type f | wc -l)" = "$n"
check "byte-identical (diff -r with the mount)" diff -r "$M1" "$T/got-ro"
check "smbclient copies every file of the share export" fetch share "$T/got-share"
n=$(find "$M2" -type f | wc -l)
check "as many files as the share mount has ($n)" test "$n" -gt 0 -a "$(find "$T/got-share" -type f | wc -l)" = "$n"
check "byte-identical (diff -r with the share mount)" diff -r "$M2" "$T/got-share"
check "the export is read-only" fails smbclient -s "$T/smb/smb.conf" -p "$P" -N -m SMB3 \
	//127.0.0.1/ro -c "put $T/smb/smb.conf x.conf"

kill "$SMBPID" 2>/dev/null
for ((i = 0; i < 50; i++)); do kill -0 "$SMBPID" 2>/dev/null || break; sleep 0.1; done
check "smbd stopped by its pid" fails kill -0 "$SMBPID"
check "unmount the read-only mount" fs_umount "$M1"
check "unmount the share mount" fs_umount "$M2"
done_testing
