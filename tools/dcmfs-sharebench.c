/*
 * dcmfs-sharebench - what a share's membership costs in the catalogue.
 *
 *   dcmfs-sharebench DIR [PATIENTS [SHARED]]
 *
 * Makes two scratch stores under DIR (which must not exist): one of
 * PATIENTS patients (default 100000) and one of SHARED patients (default
 * 1000), each patient with one study, one series and three instances
 * (catalogue rows only: no pixel data is needed to list folders).  Then
 * it times, as medians of 21 runs:
 *   - listing the patients of the small store (catalog_children), the
 *     reference;
 *   - building the members of a share of the big store covering SHARED
 *     patients (share_members_build), by --patient values and by
 *     --modality, and listing its patients (share_members_nodes).
 * Prints "name value unit" lines; removes nothing (DIR is the caller's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog.h"
#include "share.h"
#include "version.h"

#define RUNS 21

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmp_double);
	return v[RUNS / 2];
}

/* A store folder with an index of n synthetic patients: every step-th
 * patient's series has Modality MG, the others CT. */
static struct catalog *make_store(const char *dir, long n, long step)
{
	char err[512], sql[2048];
	struct catalog *c;
	if (mkdir(dir, 0700) < 0 || catalog_open(dir, 1, 0, &c, err, sizeof(err))) {
		fprintf(stderr, "dcmfs-sharebench: cannot make %s: %s\n", dir, err);
		exit(2);
	}
	snprintf(sql, sizeof(sql),
		 "BEGIN;"
		 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %ld)"
		 " INSERT INTO patients(id, patient_id, issuer, dirname, mtime, nchildren)"
		 " SELECT i, printf('PID%%07d', i), '', printf('PID%%07d', i), 1, 1 FROM n;"
		 "INSERT INTO studies(id, patient, study_uid, study_date, accession, dirname, mtime, nchildren)"
		 " SELECT id, id, '1.2.' || id, '20200101', 'A' || id, '1.2.' || id, 1, 1 FROM patients;"
		 "INSERT INTO series(id, study, series_uid, modality, dirname, mtime, nchildren)"
		 " SELECT id, id, '1.3.' || id, CASE WHEN id %% %ld = 0 THEN 'MG' ELSE 'CT' END,"
		 " '1.3.' || id, 1, 3 FROM studies;"
		 "WITH k(j) AS (VALUES(0), (1), (2))"
		 " INSERT INTO instances(id, series, sop_uid, version, size, stored_at, file_hash, name,"
		 " record_pack, record_offset, record_len, fname, current)"
		 " SELECT s.id * 3 + j, s.id, '1.4.' || s.id || '.' || j, 1, 1000, 1, x'00',"
		 " '1.4.' || s.id || '.' || j || '.dcm', 1, 0, 0, '1.4.' || s.id || '.' || j || '.dcm', 1"
		 " FROM series s, k;"
		 "COMMIT; PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;", n, step);
	if (catalog_exec(c, sql)) {
		fprintf(stderr, "dcmfs-sharebench: cannot fill %s: %s\n", dir, catalog_errmsg(c));
		exit(2);
	}
	catalog_close(c);
	if (catalog_open(dir, 0, 1, &c, err, sizeof(err))) {
		fprintf(stderr, "dcmfs-sharebench: %s\n", err);
		exit(2);
	}
	return c;
}

static int count_node(void *arg, const struct cat_node *n)
{
	(void)n;
	(*(long *)arg)++;
	return 0;
}

static void bench_share(struct catalog *big, const struct share *sh, const char *what,
			double reference)
{
	double build[RUNS], list[RUNS];
	struct share_members *m = NULL;
	long n = 0;
	for (int r = 0; r < RUNS; r++) {
		share_members_free(m);
		double a = now();
		if (share_members_build(big, sh, &m)) {
			fprintf(stderr, "dcmfs-sharebench: build failed\n");
			exit(2);
		}
		build[r] = now() - a;
	}
	for (int r = 0; r < RUNS; r++) {
		n = 0;
		double a = now();
		share_members_nodes(m, CAT_PATIENT, 0, count_node, &n);
		list[r] = now() - a;
	}
	share_members_free(m);
	double b = median(build), l = median(list);
	printf("share_%s_build %.3f ms\n", what, b * 1e3);
	printf("share_%s_list %.3f ms (%ld patients)\n", what, l * 1e3, n);
	printf("share_%s_list_vs_small_store %.2f x\n", what, l / reference);
}

int main(int argc, char **argv)
{
	version_exit_if_asked(argc, argv, "dcmfs-sharebench");
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: dcmfs-sharebench DIR [PATIENTS [SHARED]]\n");
		return 2;
	}
	long total = argc > 2 ? atol(argv[2]) : 100000, shared = argc > 3 ? atol(argv[3]) : 1000;
	if (total < 1 || shared < 1 || shared > total) {
		fprintf(stderr, "dcmfs-sharebench: need 1 <= SHARED <= PATIENTS\n");
		return 2;
	}
	long step = total / shared;
	char path[4096];
	if (mkdir(argv[1], 0700) < 0) {
		fprintf(stderr, "dcmfs-sharebench: cannot make %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	snprintf(path, sizeof(path), "%s/big", argv[1]);
	struct catalog *big = make_store(path, total, step);
	snprintf(path, sizeof(path), "%s/small", argv[1]);
	struct catalog *small = make_store(path, shared, 1);

	double ref[RUNS];
	long n = 0;
	for (int r = 0; r < RUNS; r++) {
		n = 0;
		double a = now();
		catalog_children(small, 0, 0, count_node, &n);
		ref[r] = now() - a;
	}
	double reference = median(ref);
	printf("small_store_list %.3f ms (%ld patients)\n", reference * 1e3, n);

	struct share *by_id = share_alloc(), *by_modality = share_alloc();
	if (!by_id || !by_modality)
		return 2;
	strcpy(by_id->name, "ids");
	strcpy(by_modality->name, "mg");
	for (long i = step; i <= total && (long)by_id->npatients < shared; i += step) {
		char v[32];
		snprintf(v, sizeof(v), "PID%07ld", i);
		if (share_add_value(&by_id->patients, &by_id->npatients, v))
			return 2;
	}
	if (share_add_value(&by_modality->modalities, &by_modality->nmodalities, "MG"))
		return 2;
	bench_share(big, by_modality, "modality", reference);
	bench_share(big, by_id, "patients", reference);
	share_free(by_id);
	share_free(by_modality);
	catalog_close(big);
	catalog_close(small);
	return 0;
}
