/*
 * clock.h - the time the library stamps on what it stores.
 *
 * Stored times (an instance's stored_at_ns, a tombstone's time, an import's
 * log row, a file's mtime under the mount) are wall-clock nanoseconds since
 * the Unix epoch: they are shown to people and must mean the same after a
 * reboot, so CLOCK_REALTIME, not a monotonic clock.
 */
#ifndef DCMFS_CLOCK_H
#define DCMFS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds since 1970-01-01 UTC by the wall clock.  Cannot fail. */
static inline int64_t wall_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
