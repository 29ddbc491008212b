/*
 * test_audit.c - the audit log: every value comes back exactly, records of
 * many threads are all read back or counted as lost, damaged and torn lines
 * are skipped by line number and never mis-read, and times and patient
 * filters parse as documented.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "scratch.h"

struct got {
	int n;
	uint64_t lost;
	int skipped;
	uint64_t skipped_line[8];
	char mount[4096], share[128], sop[128], patient[512];
	int64_t uid, pid;
};

static int on_entry(void *arg, const struct audit_entry *e)
{
	struct got *g = arg;
	if (e->lost) {
		g->lost += e->lost;
		return 0;
	}
	g->n++;
	snprintf(g->mount, sizeof(g->mount), "%s", e->mount);
	snprintf(g->share, sizeof(g->share), "%s", e->share);
	snprintf(g->sop, sizeof(g->sop), "%s", e->sop_uid);
	snprintf(g->patient, sizeof(g->patient), "%s", e->patient);
	g->uid = e->uid;
	g->pid = e->pid;
	return 0;
}

static void on_skip(void *arg, const char *file, uint64_t line, const char *why)
{
	struct got *g = arg;
	(void)file;
	(void)why;
	if (g->skipped < 8)
		g->skipped_line[g->skipped] = line;
	g->skipped++;
}

static void read_all(const char *dir, struct got *g)
{
	char err[256];
	memset(g, 0, sizeof(*g));
	assert_int_equal(audit_read(dir, 0, on_entry, on_skip, g, err, sizeof(err)), 0);
}

static void test_hostile_values_come_back_exactly(void **state)
{
	(void)state;
	char *dir = scratch_make();
	struct audit_log *a;
	char err[256];
	assert_int_equal(audit_open(dir, &a, err, sizeof(err)), 0);
	char mount[3001];
	memset(mount, 'm', 3000);
	mount[3000] = '\0';
	memcpy(mount, "/a\tb\nc%41\r\x01\x7f \xc3\xa9", 16);
	audit_record(a, 1234, 5678, mount, "share-1.x", "1.2.3\t4", "P%20\\1");
	audit_close(a);
	struct got g;
	read_all(dir, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.skipped, 0);
	assert_string_equal(g.mount, mount);
	assert_string_equal(g.share, "share-1.x");
	assert_string_equal(g.sop, "1.2.3\t4");
	assert_string_equal(g.patient, "P%20\\1");
	assert_int_equal(g.uid, 1234);
	assert_int_equal(g.pid, 5678);
	assert_int_equal(audit_lost(NULL), 0);
	scratch_remove(dir);
	free(dir);
}

struct worker {
	struct audit_log *a;
	int n, id;
	double ns_per_record;
};

static void *record_many(void *arg)
{
	struct worker *w = arg;
	int64_t t0 = wall_clock_ns();
	for (int i = 0; i < w->n; i++)
		audit_record(w->a, (uid_t)w->id, (pid_t)i, "/mnt/archive", "", "1.2.840.10008.1.2.3.4.5.6.7.8",
			     "PATIENT-0001");
	w->ns_per_record = (double)(wall_clock_ns() - t0) / w->n;
	return NULL;
}

static void test_every_record_of_many_threads_is_read_or_counted_lost(void **state)
{
	(void)state;
	char *dir = scratch_make();
	struct audit_log *a;
	char err[256];
	assert_int_equal(audit_open(dir, &a, err, sizeof(err)), 0);
	enum { THREADS = 4, EACH = 50000 };
	pthread_t th[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .a = a, .n = EACH, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, record_many, &w[i]), 0);
	}
	double worst = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		if (w[i].ns_per_record > worst)
			worst = w[i].ns_per_record;
	}
	uint64_t lost = audit_lost(a);
	audit_close(a);
	struct got g;
	read_all(dir, &g);
	printf("# %d records by %d threads: %.0f ns per record at worst, %d read back, %" PRIu64
	       " lost\n", THREADS * EACH, THREADS, worst, g.n, lost);
	assert_int_equal(g.skipped, 0);
	assert_int_equal(g.lost, lost);
	assert_int_equal((uint64_t)g.n + g.lost, THREADS * EACH);
	scratch_remove(dir);
	free(dir);
}

static void test_damaged_and_torn_lines_are_skipped_by_number(void **state)
{
	(void)state;
	char *dir = scratch_make();
	struct audit_log *a;
	char err[256];
	assert_int_equal(audit_open(dir, &a, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++)
		audit_record(a, 0, i, "/m", "", "1.2.3", "P");
	audit_close(a);
	char path[512], day[40];
	audit_format_time(wall_clock_ns(), day, sizeof(day));
	snprintf(path, sizeof(path), "%s/audit/%.10s.log", dir, day);
	/* Change one byte of line 2 and cut a copy of line 3 short at the end. */
	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf), f);
	char *l2 = memchr(buf, '\n', n) + 1;
	char *l3 = memchr(l2, '\n', n - (size_t)(l2 - buf)) + 1;
	fseek(f, l2 - buf + 3, SEEK_SET);
	fputc(l2[3] ^ 1, f);
	fseek(f, 0, SEEK_END);
	fwrite(l3, 1, 20, f);
	fclose(f);
	struct got g;
	read_all(dir, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.skipped, 2);
	assert_int_equal(g.skipped_line[0], 2);
	assert_int_equal(g.skipped_line[1], 4);     /* no end of line */
	/* The next writer ends the torn line first: its record is whole. */
	assert_int_equal(audit_open(dir, &a, err, sizeof(err)), 0);
	audit_record(a, 7, 8, "/m", "s", "9.9", "Q");
	audit_close(a);
	read_all(dir, &g);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.sop, "9.9");
	assert_int_equal(g.skipped, 2);
	assert_int_equal(g.skipped_line[1], 4);
	scratch_remove(dir);
	free(dir);
}

/* Writes that fail (here: past RLIMIT_FSIZE) lose their records, and the
 * log says how many in a "lost=N" line as soon as it can write again. */
static void test_records_a_write_loses_are_counted_in_the_log(void **state)
{
	(void)state;
	char *dir = scratch_make();
	struct audit_log *a;
	char err[256];
	assert_int_equal(audit_open(dir, &a, err, sizeof(err)), 0);
	struct rlimit old, tiny;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	tiny = old;
	tiny.rlim_cur = 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
	for (int i = 0; i < 100; i++)
		audit_record(a, 0, i, "/m", "", "1.2.3", "P");
	while (audit_lost(a) < 100)         /* the writer has tried */
		usleep(10000);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	audit_record(a, 0, 100, "/m", "", "1.2.3", "P");
	audit_close(a);
	struct got g;
	read_all(dir, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.lost, 100);
	assert_true(g.skipped <= 1);        /* the cut first line, if any */
	scratch_remove(dir);
	free(dir);
}

static void test_times_parse_and_print_in_utc(void **state)
{
	(void)state;
	int64_t ns;
	assert_int_equal(audit_parse_time("2026-11-30", &ns), 0);
	assert_int_equal(ns, INT64_C(1795996800) * 1000000000);
	assert_int_equal(audit_parse_time("2026-11-30T06:23", &ns), 0);
	assert_int_equal(audit_parse_time("2026-11-30 06:23:50", &ns), 0);
	assert_int_equal(audit_parse_time("2026-11-30T06:23:50.5Z", &ns), 0);
	char t[40];
	audit_format_time(ns, t, sizeof(t));
	assert_string_equal(t, "2026-11-30T06:23:50.500000000Z");
	int64_t back;
	assert_int_equal(audit_parse_time(t, &back), 0);
	assert_int_equal(back, ns);
	const char *bad[] = { "", "2026", "2026-11", "2026-13-01", "2026-02-30", "2026-11-30T25:00",
			      "2026-11-30T06", "30.11.2026", "2026-11-30x", "2300-01-01", "1969-12-31" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(audit_parse_time(bad[i], &ns), -EINVAL);
}

static void test_patient_filter_takes_a_folder_or_an_id(void **state)
{
	(void)state;
	assert_true(audit_patient_matches("PAT1", "PAT1"));
	assert_true(audit_patient_matches("PAT1@HOSP", "PAT1"));
	assert_true(audit_patient_matches("A%20B", "A B"));
	assert_true(audit_patient_matches("%noid-0123abcd", "%noid-0123abcd"));
	assert_false(audit_patient_matches("PAT10", "PAT1"));
	assert_false(audit_patient_matches("PAT1", "PAT"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_values_come_back_exactly),
		cmocka_unit_test(test_every_record_of_many_threads_is_read_or_counted_lost),
		cmocka_unit_test(test_damaged_and_torn_lines_are_skipped_by_number),
		cmocka_unit_test(test_records_a_write_loses_are_counted_in_the_log),
		cmocka_unit_test(test_times_parse_and_print_in_utc),
		cmocka_unit_test(test_patient_filter_takes_a_folder_or_an_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
