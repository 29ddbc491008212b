#!/bin/bash
# t0606-systemd-units.t - `make install` into a private prefix installs the
# programs, man pages, units and /etc/dcmfs examples, with the units' paths
# pointing to that prefix; both units pass `systemd-analyze verify` there;
# dcmfs@.service is Type=notify, restarts on failure, and
# `systemd-analyze security` rates it below 5 (it was 9.6, "UNSAFE");
# `make uninstall` removes what install put, and keeps the configuration.
. "$(dirname "$0")/lib/common.sh"
[ -x "$DCMFS" ] && [ -x "$CTL" ] || skip_all "dcmfs and dcmfsctl not built"
P=$T/prefix U=$T/units E=$T/etc
check "make install" make -C "$TOP" -s install BUILD="$BUILD" PREFIX="$P" UNITDIR="$U" SYSCONFDIR="$E"
for f in "$P/bin/dcmfs" "$P/bin/dcmfsctl" "$P/bin/dcmfs-scan" "$P/bin/dcmfs-extract" \
	"$P/lib/dcmfs/dcmfs-storescp" "$P/share/man/man8/dcmfs.8" "$P/share/man/man8/dcmfsctl.8" \
	"$U/dcmfs@.service" "$U/dcmfs-storescp@.service" "$E/dcmfs/storescp-main.conf"; do
	check "installed ${f#$T/}" test -s "$f"
done
check "dcmfs@.service runs the installed dcmfs" grep -q "^ExecStart=$P/bin/dcmfs " "$U/dcmfs@.service"
check "dcmfs-storescp@.service reads the installed configuration" \
	grep -q "^ExecStart=$P/lib/dcmfs/dcmfs-storescp $E/dcmfs/storescp-%i.conf" "$U/dcmfs-storescp@.service"
check "dcmfs@.service is Type=notify" grep -q "^Type=notify$" "$U/dcmfs@.service"
check "dcmfs@.service restarts on failure" grep -q "^Restart=on-failure$" "$U/dcmfs@.service"
if command -v systemd-analyze >/dev/null; then
	for u in dcmfs@.service dcmfs-storescp@.service; do
		# Documentation= man: pages are looked up by man, in the installed tree
		MANPATH=$P/share/man: systemd-analyze verify "$U/$u" >"$T/verify" 2>&1
		st=$?
		check "systemd-analyze verify $u (exit $st, no complaint)" eval '[ $st = 0 ] && [ ! -s "$T/verify" ]'
		diag <"$T/verify"
	done
	cp "$U/dcmfs@.service" "$T/dcmfs@srv-dicom.service"
	if systemd-analyze security --offline=true "$T/dcmfs@srv-dicom.service" >"$T/security" 2>&1; then
		level=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$T/security")
		check "systemd-analyze security rates dcmfs@.service below 5 ($level)" \
			eval '[ -n "$level" ] && awk "BEGIN { exit !($level < 5) }"'
	else
		skip "systemd-analyze security --offline is not supported here"
	fi
else
	skip "systemd-analyze not installed"
fi
check "make uninstall" make -C "$TOP" -s uninstall PREFIX="$P" UNITDIR="$U" SYSCONFDIR="$E"
check "uninstall left no program, page or unit" eval '[ -z "$(find "$P" "$U" -type f)" ]'
check "uninstall kept the configuration" test -s "$E/dcmfs/storescp-main.conf"
done_testing
