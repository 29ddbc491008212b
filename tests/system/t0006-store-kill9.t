#!/bin/bash
# kill -9 of an import in the middle of a large folder: verify is then
# clean, and a second import completes the set with no duplicates stored.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CORPUS" ] || skip_all "../shared/corpus absent (needs the real series)"
command -v dcmodify >/dev/null || skip_all "dcmodify (dcmtk) not installed"
# A large folder: the three real series, four times over, each copy with
# new SOP/Series/Study UIDs and PatientName: new instances, shared pixels.
for i in 1 2 3 4; do
	mkdir -p "$T/in/$i"
	cp -r "$CORPUS"/real/series/* "$T/in/$i/"
	find "$T/in/$i" -type f -print0 | xargs -0 dcmodify -nb -gin -gse -gst -m "(0010,0010)=COPY^$i" >/dev/null 2>&1
done
total=$(find "$T/in" -type f | wc -l)
echo "# $total files, $(du -sm "$T/in" | cut -f1) MB"
S=$T/store
"$CTL" init "$S" >/dev/null
"$CTL" import -q "$S" "$T/in" >/dev/null 2>&1 &
pid=$!
# Kill it once some instances are committed, but well before the end.
for _ in $(seq 1 200); do
	n=$(sqlite3 "$S/index.db" "SELECT count(*) FROM instances" 2>/dev/null || echo 0)
	[ "${n:-0}" -ge 60 ] && break
	sleep 0.05
done
kill -9 $pid
wait $pid 2>/dev/null
n=$(sqlite3 "$S/index.db" "SELECT count(*) FROM instances")
[ "$n" -gt 0 ] && [ "$n" -lt "$total" ] && ok "killed mid-import after $n of $total instances" || not_ok "kill landed at $n of $total"
check "verify is clean after kill -9" "$CTL" verify "$S"
"$CTL" import -q "$S" "$T/in" >"$T/second" 2>&1
cat "$T/second" | sed 's/^/# /'
read -r new dup ver < <(sed -E 's/^imported: ([0-9]+) new, ([0-9]+) duplicate, ([0-9]+) new version.*/\1 \2 \3/' "$T/second")
[ $((new + dup)) -eq "$total" ] && [ "$ver" = 0 ] && ok "second import completes the set: $new new + $dup duplicate = $total" || not_ok "second import: $(cat "$T/second")"
m=$(sqlite3 "$S/index.db" "SELECT count(*) FROM instances")
[ "$m" -eq "$total" ] && ok "$total instances stored, none twice" || not_ok "$m instances for $total files"
d=$(sqlite3 "$S/index.db" "SELECT count(*) FROM (SELECT hash FROM blobs GROUP BY hash HAVING count(*) > 1)")
[ "$d" = 0 ] && ok "no blob stored twice" || not_ok "$d blobs stored twice"
check "gc then verify is clean" bash -c "'$CTL' gc '$S' && '$CTL' verify '$S'"
done_testing
