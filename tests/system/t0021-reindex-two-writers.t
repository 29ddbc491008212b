#!/bin/bash
# t0021-reindex-two-writers.t - reindex of packs that hold two writers'
# records of the same folders and instances: what an import killed before
# it committed leaves (its records in the packs, its rows never in the
# index), once the import has been run again.  Each writer placed the series
# under ids of its own reservation; reindex keeps one folder per UID, every
# instance once, and verify must find that index consistent (the folders
# held against each record by UID, not by the writer's ids).
# Made without a kill: a second store whose ids start elsewhere (as a
# second reservation's do) gets the first store's pack and blob files.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CT_SERIES" ] || skip_all "no CT series in the corpus ($CORPUS)"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
A=$T/killed
B=$T/store
check "the killed writer's store: three slices of the series" \
	new_store "$A" "$CT_SERIES/01.dcm" "$CT_SERIES/02.dcm" "$CT_SERIES/03.dcm"
# ids_elsewhere STORE: its ids start at 1001 for every kind
ids_elsewhere() {
	sqlite3 "$1/index.db" "INSERT INTO counters(kind, next) VALUES('patient', 1001), ('study', 1001),
		('series', 1001), ('instance', 1001)"
}
check "the store: its ids reserved past the killed writer's" eval '"$CTL" init "$B" >/dev/null && ids_elsewhere "$B"'
mkdir -p "$T/set"
for i in 01 02 03 04 05 06; do ln -s "$CT_SERIES/$i.dcm" "$T/set/$i.dcm"; done
check "the import run again: six slices" eval '"$CTL" import -q "$B" "$T/set"/*.dcm'
series_b=$(sqlite3 "$B/index.db" "SELECT id FROM series")
series_a=$(sqlite3 "$A/index.db" "SELECT id FROM series")
check "the two writers gave the series different ids ($series_a, $series_b)" \
	eval '[ -n "$series_a" ] && [ -n "$series_b" ] && [ "$series_a" != "$series_b" ]'
# The killed writer's pack sorts first (made first), as it would.
check "the killed writer's packs and blob files put beside the store's" \
	eval 'cp -n "$A"/packs/*.pack "$B/packs/" && { [ ! -d "$A/blobs" ] || cp -rn "$A/blobs/." "$B/blobs/"; }'
check "reindex" "$CTL" reindex "$B"
check "verify is clean after it" "$CTL" verify "$B"
check "one series folder, six instances, each once" \
	eval '[ "$(sqlite3 "$B/index.db" "SELECT count(*) FROM series")" = 1 ] &&
	      [ "$(sqlite3 "$B/index.db" "SELECT count(*), count(DISTINCT sop_uid) FROM instances")" = "6|6" ]'
check "every instance reads back byte-identical" $PY "$LIB/roundtrip_rows.py" "$CTL" "$B" "$CT_SERIES"
done_testing
