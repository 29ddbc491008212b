#!/bin/bash
# t0720: the PostgreSQL catalogue (index/catalog_pg.c) answers the
# catalogue's unit cases (tests/unit/test_catalog_pg.c: SQLite's cases and
# its own) on a real PostgreSQL server started for the test.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/pg.sh"
need_pg
UNIT=$BUILD/tests/test_catalog_pg
[ -x "$UNIT" ] || skip_all "no $UNIT: run make all"

check "PostgreSQL starts in its own folder" pg_start dcmfs
diag "PostgreSQL ready in $PG_START_SECONDS s"
check "the catalogue's unit cases pass on PostgreSQL" \
	env DCMFS_TEST_PG_URL="$PG_URL" "$UNIT"
check "without a server the unit test skips, and says why" \
	exits_with 0 "skipped" env -u DCMFS_TEST_PG_URL "$UNIT"
done_testing
