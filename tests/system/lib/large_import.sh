# large_import.sh - what a crash and a full disk do to the streamed import
# of a large file, for t0012 and t0503 (sourced after common.sh).

RSS_LIMIT_KB=$((200 * 1024))   # the bound on an import's peak RSS

# large_import_needs MODULE...: skip the test unless the corpus's real RGB
# image (then in $SEED), these Python modules and GNU time are at hand.
large_import_needs() {
	SEED=${CORPUS:+$CORPUS/real/us/US1_UNCR.dcm}
	[ -n "$SEED" ] && [ -f "$SEED" ] || skip_all "needs ../shared/corpus (real/us/US1_UNCR.dcm, an RGB image)"
	"$PY" -c "import $(IFS=,; echo "$*")" 2>/dev/null || skip_all "needs the Python modules $*"
	[ -x /usr/bin/time ] || skip_all "needs /usr/bin/time (GNU time) for the peak RSS"
}

# import_until_a_piece STORE FILE LOG: a new store, FILE imported into it in
# the background (its pid in $pid) until its first piece file is written
# (or the import ends).
import_until_a_piece() {
	"$CTL" init "$1" >/dev/null
	"$CTL" import -q "$1" "$2" >"$3" 2>&1 &
	pid=$!
	CLEANUP_PIDS+=("$pid")
	for _ in $(seq 1 400); do
		[ -n "$(blob_tmp_files "$1" | head -1)" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
}

# same_as_stored STORE UID FILE: get gives FILE back byte-identical.
same_as_stored() {
	"$CTL" get "$1" "$2" -o "$T/back.dcm" && cmp "$3" "$T/back.dcm"
	local st=$?
	rm -f "$T/back.dcm"
	return $st
}

# kill9_mid_import FILE UID: kill -9 while FILE's pieces are being written
# leaves no blob of it visible, a store verify finds clean and gc tidies,
# and the import again completes it.
kill9_mid_import() {
	local s=$T/store-kill9 n
	import_until_a_piece "$s" "$1" /dev/null
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	n=$(catalog_sql "$s" "SELECT count(*) FROM instances")
	diag "killed with $(blob_tmp_files "$s" | wc -l) temporary piece files, $n instances"
	check "no instance of the killed import" test "$n" = 0
	check "no blob of it under a final name" test -z "$(blob_files "$s" final)"
	check "verify is clean after kill -9" "$CTL" verify "$s"
	[ "$DISTRIBUTED" = 1 ] && diag "parts left without a head: $(stray_parts "$s" | wc -l)"
	check "gc removes its temporary files" eval '"$CTL" gc "$s" >/dev/null && test -z "$(blob_tmp_files "$s")"'
	[ "$DISTRIBUTED" = 1 ] &&
		check "and the parts it wrote that have no head" eval 'test -z "$(stray_parts "$s")"'
	check "the import again completes it" "$CTL" import -q "$s" "$1"
	check "and get is byte-identical" same_as_stored "$s" "$2" "$1"
	rm -rf "$s"
}

# full_disk_import FILE: on a 40 MB tmpfs the import of FILE fails with a
# one-line error and exit 2, and leaves nothing behind.
full_disk_import() {
	if [ "$DISTRIBUTED" = 1 ]; then
		skip "distributed run: the data goes to the pool, not to a full disk under the store folder"
		return
	fi
	mkdir -p "$T/small"
	if ! mount -t tmpfs -o size=40m tmpfs "$T/small" 2>/dev/null; then
		skip "cannot mount a tmpfs: the full disk is not tried"
		return
	fi
	CLEANUP_MOUNTS+=("$T/small")
	local s=$T/small/store st
	"$CTL" init "$s" >/dev/null
	"$CTL" import -q "$s" "$1" >"$T/full.log" 2>&1
	st=$?
	diag <"$T/full.log"
	[ $st = 2 ] && grep -q "No space left" "$T/full.log" && ok "a full disk: exit 2, says no space" ||
		not_ok "a full disk: exit $st"
	check "nothing of it is left in blobs/" test -z "$(find "$s/blobs" -type f)"
	check "no instance" test "$(catalog_sql "$s" "SELECT count(*) FROM instances")" = 0
	check "verify is clean after ENOSPC" "$CTL" verify "$s"
	umount "$T/small"
}
