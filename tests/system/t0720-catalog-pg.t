#!/bin/bash
# t0720: the PostgreSQL catalogue (index/catalog_pg.c) answers the
# catalogue's unit cases (tests/unit/test_catalog_pg.c: SQLite's cases and
# its own) on a real PostgreSQL server started for the test, as the
# store's locks there answer theirs (tests/unit/test_netlock.c), and a store
# is not made in a database that would check text as UTF-8.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
need_pg
UNIT=$BUILD/tests/test_catalog_pg
[ -x "$UNIT" ] || skip_all "no $UNIT: run make all"
[ -x "$CTL" ] || skip_all "$CTL not built"

check "PostgreSQL starts in its own folder" pg_start dcmfs
# A database that keeps text as bytes, as catalog_pg.h asks.
check "a database of encoding SQL_ASCII is made" \
	createdb -h "$PG_DIR" -E SQL_ASCII -T template0 --locale=C dcmfs_bytes
UTF8_URL=$PG_URL
PG_URL="postgresql:///dcmfs_bytes?host=$PG_DIR"
diag "PostgreSQL ready in $PG_START_SECONDS s"
check "the catalogue's unit cases pass on PostgreSQL" \
	env DCMFS_TEST_PG_URL="$PG_URL" "$UNIT"
NETLOCK=$BUILD/tests/test_netlock
if [ -x "$NETLOCK" ]; then
	check "the store's locks as advisory locks pass their unit cases" \
		env DCMFS_TEST_PG_URL="$PG_URL" "$NETLOCK"
else
	skip "no $NETLOCK: run make all"
fi
check "init --catalog refuses a database that checks text as UTF-8, and says how to make one" \
	exits_with 2 "createdb -E SQL_ASCII" "$CTL" init "$T/store" --catalog "$UTF8_URL"
check "... and leaves no half-made store" eval '[ -z "$(ls -A "$T/store" 2>/dev/null)" ]'
check "without a server the unit test skips, and says why" \
	exits_with 0 "skipped" env -u DCMFS_TEST_PG_URL "$UNIT"
done_testing
