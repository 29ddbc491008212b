#!/bin/bash
# t0701: the data interface on a real one-node Ceph (memstore): the unit
# tests of test_datastore run against RADOS (packs appended, cut back and
# walked; blobs put in parts, published, read, checked, damaged, removed),
# and they leave no object behind.
. "$(dirname "$0")/lib/common.sh"
. "$LIB/ceph.sh"
need_ceph
UNIT=$BUILD/tests/test_datastore
[ -x "$UNIT" ] || skip_all "no $UNIT: run make all"

check "Ceph (one mon, one memstore osd) starts in its own folder" ceph_start dcmfs
diag "Ceph usable in $CEPH_START_SECONDS s"

# rados_tests: the unit tests ran on RADOS (none skipped) and passed.
rados_tests() {
	DCMFS_TEST_RADOS_URL=$CEPH_URL "$UNIT" >"$T/unit.out" 2>&1
	local status=$?
	cat "$T/unit.out"
	[ $status = 0 ] && ! grep -q SKIPPED "$T/unit.out"
}
check "the data interface's unit tests pass on RADOS, none skipped" rados_tests
check "they leave no object in the pool (but the readiness probe's)" \
	eval '[ -z "$(ceph_rados ls | grep -v "^\.dcmfs-ready$")" ]'
done_testing
