/*
 * deid_gdcm_lazy.c - deid_gdcm_rewrite (index/deid_gdcm.h) for dcmfsctl,
 * with GDCM loaded at the first rewrite instead of at every start.
 *
 * GDCM reads its data dictionaries when its libraries are loaded: some
 * 20 ms of CPU (60 ms on a busy machine), which every dcmfsctl command paid
 * although only the share commands de-identify, and which a whole `get
 * --series` of a small series takes in all.  So dcmfsctl is linked without
 * GDCM; the shim index/deid_gdcm.cc is built as dcmfs-deid-gdcm.so, and
 * opened here at the first call, from ../lib/dcmfs/ (installed) or from
 * beside the program (the build tree), when root or we own it and no one
 * else may write it.  The shim calls back deid_uid, which
 * dcmfsctl exports for it.  When the shim cannot be loaded, every rewrite
 * fails (deid.c then withholds the file, as for a header GDCM cannot
 * parse), and the reason is said once on stderr.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deid_gdcm.h"

#define SHIM_NAME "dcmfs-deid-gdcm.so"

typedef int (*rewrite_fn)(const struct deid_gdcm_job *, struct deid_gdcm_result *, char *,
			  size_t);

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static rewrite_fn shim;
static char load_error[3 * PATH_MAX];

static void load_shim(void)
{
	char dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0) {
		snprintf(load_error, sizeof(load_error),
			 "cannot find dcmfsctl's folder to load " SHIM_NAME ": %s", strerror(errno));
		goto said;
	}
	dir[n] = 0;
	*strrchr(dir, '/') = 0;          /* readlink gives an absolute path */
	static const char *const where[] = { "%s/../lib/dcmfs/" SHIM_NAME, "%s/" SHIM_NAME };
	for (size_t i = 0; i < sizeof(where) / sizeof(*where); i++) {
		char path[PATH_MAX + 64];
		struct stat st;
		snprintf(path, sizeof(path), where[i], dir);
		if (stat(path, &st))
			continue;
		/* Code we run (often as root): only a file that root or we own
		 * and nobody else may change, not one planted beside a copy of
		 * dcmfsctl in a shared folder. */
		if (st.st_uid != 0 && st.st_uid != geteuid()) {
			snprintf(load_error, sizeof(load_error),
				 "%.2000s is not loaded: it belongs to uid %u", path, (unsigned)st.st_uid);
			goto said;
		}
		if (st.st_mode & (S_IWGRP | S_IWOTH)) {
			snprintf(load_error, sizeof(load_error),
				 "%.2000s is not loaded: others may write it (mode %04o)", path,
				 (unsigned)(st.st_mode & 07777));
			goto said;
		}
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (h)
			*(void **)&shim = dlsym(h, "deid_gdcm_rewrite");
		if (shim)
			return;
		snprintf(load_error, sizeof(load_error), "cannot load %.2000s: %.2000s", path, dlerror());
		goto said;
	}
	snprintf(load_error, sizeof(load_error), SHIM_NAME " is neither in %.2000s nor in %.2000s/../lib/dcmfs",
		 dir, dir);
said:
	fprintf(stderr, "dcmfsctl: de-identification unavailable: %s\n", load_error);
}

int deid_gdcm_rewrite(const struct deid_gdcm_job *job, struct deid_gdcm_result *res, char *err,
		      size_t errlen)
{
	pthread_once(&load_once, load_shim);
	if (!shim) {
		snprintf(err, errlen, "%s", load_error);
		return -ENOSYS;
	}
	return shim(job, res, err, errlen);
}
