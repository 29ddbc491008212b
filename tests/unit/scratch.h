/*
 * scratch.h - temporary folders for the unit tests (header only: every
 * tests/unit/test_*.c is its own program).
 */
#ifndef DCMFS_TEST_SCRATCH_H
#define DCMFS_TEST_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new empty folder under /tmp; the caller frees the returned name (and
 * removes the folder with scratch_remove).  A failure fails the test. */
static inline char *scratch_make(void)
{
	char tmpl[] = "/tmp/dcmfs-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

/* Remove a folder made by scratch_make, with everything in it. */
static inline void scratch_remove(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

#endif
