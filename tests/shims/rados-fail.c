/*
 * rados-fail.c - an LD_PRELOAD shim that makes librados fail as a cluster
 * that stops answering would, at a moment a test chooses: the tests of gc,
 * reindex and verify on a RADOS store (t0713) prove that a failed listing
 * or lookup is never taken for "nothing there".
 *
 * Set in the environment of the program under test:
 *   RADOS_FAIL_LIST_AFTER=N  the listing entry after the first N of the
 *                            process (counted over every listing) fails,
 *                            once; later calls go through;
 *   RADOS_FAIL_STAT=TEXT     rados_stat of every object whose name
 *                            contains TEXT fails;
 *   RADOS_FAIL_REMOVE=TEXT   rados_remove of every object whose name
 *                            contains TEXT fails;
 *   RADOS_LIST_SLOW_MS=N     each listing entry takes N ms more (a long
 *                            listing, for races with other programs).
 * They fail with -ETIMEDOUT, what librados answers once an operation has
 * waited rados_osd_op_timeout for a cluster that does not answer.
 * Neither set: every call goes through unchanged.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rados/librados.h>

static long listed;     /* entries returned so far; -1 once failed */

int rados_nobjects_list_next(rados_list_ctx_t ctx, const char **entry, const char **key,
			     const char **nspace)
{
	static int (*next)(rados_list_ctx_t, const char **, const char **, const char **);
	if (!next)
		next = (int (*)(rados_list_ctx_t, const char **, const char **, const char **))
			dlsym(RTLD_NEXT, "rados_nobjects_list_next");
	const char *after = getenv("RADOS_FAIL_LIST_AFTER");
	if (after && listed >= 0 && listed >= atol(after)) {
		listed = -1;
		return -ETIMEDOUT;
	}
	const char *slow = getenv("RADOS_LIST_SLOW_MS");
	if (slow)
		nanosleep(&(struct timespec){ .tv_nsec = atol(slow) % 1000 * 1000000 }, NULL);
	int r = next(ctx, entry, key, nspace);
	if (r == 0 && listed >= 0)
		listed++;
	return r;
}

int rados_stat(rados_ioctx_t io, const char *o, uint64_t *psize, time_t *pmtime)
{
	static int (*stat_)(rados_ioctx_t, const char *, uint64_t *, time_t *);
	if (!stat_)
		stat_ = (int (*)(rados_ioctx_t, const char *, uint64_t *, time_t *))
			dlsym(RTLD_NEXT, "rados_stat");
	const char *text = getenv("RADOS_FAIL_STAT");
	if (text && *text && strstr(o, text))
		return -ETIMEDOUT;
	return stat_(io, o, psize, pmtime);
}

int rados_remove(rados_ioctx_t io, const char *o)
{
	static int (*remove_)(rados_ioctx_t, const char *);
	if (!remove_)
		remove_ = (int (*)(rados_ioctx_t, const char *))dlsym(RTLD_NEXT, "rados_remove");
	const char *text = getenv("RADOS_FAIL_REMOVE");
	if (text && *text && strstr(o, text))
		return -ETIMEDOUT;
	return remove_(io, o);
}
