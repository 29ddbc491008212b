/*
 * dcmfsctl_share.c - `dcmfsctl share create|list|show|rm`: defining the
 * shares of a store (index/share.h).
 *
 * Exit status: 0 done; 1 the share named exists (create) or does not
 * (show, rm), or list met a damaged definition (the others are listed);
 * 2 bad input (one line saying what is wrong) or a store error.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>

#include "json_out.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "cli.h"
#include "json_out.h"
#include "dcmfsctl.h"
#include "deid.h"
#include "share.h"
#include "store.h"

/* The catalogue keeps a 0x01 byte of a value as 0x01 0x01 (dicom.h): a
 * value typed on the command line is the DICOM value, so map it alike. */
static char *catalog_form(const char *v)
{
	size_t n = 0;
	for (const char *p = v; *p; p++)
		n += *p == 1 ? 2 : 1;
	char *out = xmalloc(n + 1), *w = out;
	for (const char *p = v; *p; p++) {
		*w++ = *p;
		if (*p == 1)
			*w++ = 1;
	}
	*w = 0;
	return out;
}

/* "YYYY-MM-DD" (00:00:00 UTC) or "YYYY-MM-DDTHH:MM:SS" with an optional
 * 'Z', a real calendar time, to seconds since the epoch; -1 when it is not
 * one. */
static int64_t parse_expiry(const char *t)
{
	int y, mo, d, h = 0, mi = 0, s = 0, end = 0;
	size_t len = strlen(t);
	if (len == 10) {
		if (sscanf(t, "%4d-%2d-%2d%n", &y, &mo, &d, &end) != 3 || end != 10)
			return -1;
	} else if (len == 19 || (len == 20 && t[19] == 'Z')) {
		if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &end) != 6 ||
		    end != 19)
			return -1;
	} else {
		return -1;
	}
	for (size_t i = 0; i < 19 && i < len; i++) {
		int digit = i != 4 && i != 7 && i != 10 && i != 13 && i != 16;
		if (digit && (t[i] < '0' || t[i] > '9'))
			return -1;
	}
	char ymd[9];
	snprintf(ymd, sizeof(ymd), "%04d%02d%02d", y, mo, d);
	if (share_date_check(ymd) || h > 23 || mi > 59 || s > 59)
		return -1;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s };
	time_t v = timegm(&tm);
	return v < 0 ? -1 : (int64_t)v;
}

static void iso_utc(int64_t t, char *out, size_t len)
{
	time_t v = (time_t)t;
	struct tm tm;
	gmtime_r(&v, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---------------- create ---------------- */

static int share_create(int argc, char **argv)
{
	const char *dir = NULL, *name = NULL;
	struct share *sh = share_alloc();
	if (!sh)
		die("out of memory");
	static const struct { const char *opt; size_t list; } lists[] = {
		{ "--patient", offsetof(struct share, patients) },
		{ "--study", offsetof(struct share, studies) },
		{ "--series", offsetof(struct share, series) },
		{ "--accession", offsetof(struct share, accessions) },
		{ "--modality", offsetof(struct share, modalities) },
	};
	size_t *counts[] = { &sh->npatients, &sh->nstudies, &sh->nseries, &sh->naccessions,
			     &sh->nmodalities };
	int have_expiry = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int matched = 0;
		for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
			if (strcmp(a, lists[l].opt))
				continue;
			if (i + 1 >= argc)
				usage_error("share create: %s needs a value", a);
			const char *v = argv[++i];
			if (!v[0])
				usage_error("share create: %s needs a value, not an empty one", a);
			char *cv = catalog_form(v);
			char ***list = (char ***)((char *)sh + lists[l].list);
			if (share_add_value(list, counts[l], cv))
				die("out of memory");
			free(cv);
			matched = 1;
		}
		if (matched)
			continue;
		if (!strcmp(a, "--from") || !strcmp(a, "--to")) {
			if (i + 1 >= argc)
				usage_error("share create: %s needs a date YYYYMMDD", a);
			const char *v = argv[++i];
			char *dst = a[2] == 'f' ? sh->from : sh->to;
			if (dst[0])
				usage_error("share create: %s is given twice", a);
			if (share_date_check(v))
				usage_error("share create: %s '%s' is not a calendar date YYYYMMDD", a, v);
			memcpy(dst, v, 9);
		} else if (!strcmp(a, "--expires")) {
			if (i + 1 >= argc)
				usage_error("share create: --expires needs a date YYYY-MM-DD");
			if (have_expiry++)
				usage_error("share create: --expires is given twice");
			const char *v = argv[++i];
			int64_t t = parse_expiry(v);
			if (t <= 0)
				usage_error("share create: --expires '%s' is not a calendar date YYYY-MM-DD"
					    " (or YYYY-MM-DDTHH:MM:SS, UTC)", v);
			sh->expires_s = t;
		} else if (!strcmp(a, "--all")) {
			sh->all = 1;
		} else if (!strcmp(a, "--deidentify")) {
			sh->deidentify = 1;
		} else if (!strcmp(a, "--shift-dates")) {
			sh->shift_dates = 1;
		} else if (!strcmp(a, "--allow-burned-in")) {
			sh->allow_burned_in = 1;
		} else if (a[0] == '-' && a[1] == '-') {
			usage_error("share create: unknown option '%s'", a);
		} else if (!dir) {
			dir = a;
		} else if (!name) {
			name = a;
		} else {
			usage_error("share create: unexpected '%s' (one STORE and one NAME)", a);
		}
	}
	if (!dir || !name)
		usage_error("share create needs STORE and NAME");
	char err[512];
	if (share_name_check(name, err, sizeof(err)))
		usage_error("%s", err);
	snprintf(sh->name, sizeof(sh->name), "%s", name);
	if ((sh->shift_dates || sh->allow_burned_in) && !sh->deidentify)
		usage_error("share create: %s only applies to a --deidentify share",
			    sh->shift_dates ? "--shift-dates" : "--allow-burned-in");
	if (share_validate(sh, err, sizeof(err)))
		usage_error("%s", err);
	struct store *s = open_store(dir, 0);
	/* the indexes the share's queries use, on stores made before them */
	if (catalog_share_indexes(store_main_catalog(s)))
		fprintf(stderr, "dcmfsctl: warning: cannot add the share indexes: %s\n",
			catalog_errmsg(store_main_catalog(s)));
	sh->created_s = (int64_t)time(NULL);
	if (share_new_secret(sh))
		die("cannot draw the share's secret: %s", strerror(errno));
	int rc = share_save_new(dir, sh, err, sizeof(err));
	store_close(s);
	if (rc == -EEXIST) {
		fprintf(stderr, "dcmfsctl: %s\n", err);
		share_free(sh);
		return finish(EXIT_PROBLEMS);
	}
	if (rc)
		die("%s", err);
	char *rules = share_rules_text(sh);
	printf("created share %s: %s%s", name, rules ? rules : "", sh->deidentify ? ", de-identified" : "");
	if (sh->expires_s) {
		char when[32];
		iso_utc(sh->expires_s, when, sizeof(when));
		printf(", expires %s%s", when, share_expired(sh, (int64_t)time(NULL)) ? " (already expired)" : "");
	}
	printf("\n");
	free(rules);
	share_free(sh);
	return finish(0);
}

/* ---------------- JSON and text of a definition ---------------- */

static json_object *json_list(char **v, size_t n)
{
	json_object *a = json_arr();
	for (size_t i = 0; i < n; i++)
		json_push(a, json_str(v[i]));
	return a;
}

static json_object *share_json(const struct share *sh, int64_t now)
{
	json_object *o = json_obj();
	json_set(o, "name", json_str(sh->name));
	json_object *r = json_obj();
	json_set(r, "all", json_object_new_boolean(sh->all));
	json_set(r, "patients", json_list(sh->patients, sh->npatients));
	json_set(r, "studies", json_list(sh->studies, sh->nstudies));
	json_set(r, "series", json_list(sh->series, sh->nseries));
	json_set(r, "accessions", json_list(sh->accessions, sh->naccessions));
	json_set(r, "modalities", json_list(sh->modalities, sh->nmodalities));
	json_set(r, "from", sh->from[0] ? json_str(sh->from) : NULL);
	json_set(r, "to", sh->to[0] ? json_str(sh->to) : NULL);
	json_set(o, "rules", r);
	char *text = share_rules_text(sh);
	json_set(o, "rules_text", json_str(text ? text : ""));
	free(text);
	json_set(o, "deidentify", json_object_new_boolean(sh->deidentify));
	json_set(o, "shift_dates", json_object_new_boolean(sh->shift_dates));
	json_set(o, "allow_burned_in", json_object_new_boolean(sh->allow_burned_in));
	char when[32];
	iso_utc(sh->created_s, when, sizeof(when));
	json_set(o, "created", json_str(when));
	if (sh->expires_s) {
		iso_utc(sh->expires_s, when, sizeof(when));
		json_set(o, "expires", json_str(when));
	} else {
		json_set(o, "expires", NULL);
	}
	json_set(o, "expired", json_object_new_boolean(share_expired(sh, now)));
	return o;
}

/* ---------------- list ---------------- */

static int share_list(int argc, char **argv)
{
	int json = 0;
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (argv[i][0] == '-' && argv[i][1] == '-')
			usage_error("share list: unknown option '%s'", argv[i]);
		else if (!dir)
			dir = argv[i];
		else
			usage_error("share list takes one STORE");
	}
	if (!dir)
		usage_error("share list needs a STORE");
	struct store *s = open_store(dir, 1);
	char **names;
	size_t n;
	int rc = share_names(dir, &names, &n);
	if (rc)
		die("cannot list %s/%s: %s", dir, SHARE_DIR, strerror(-rc));
	int64_t now = (int64_t)time(NULL);
	int status = 0;
	json_object *arr = json ? json_object_new_array() : NULL;
	if (!json && n)
		printf("%-20s %-12s %-21s %-8s %s\n", "name", "deidentified", "expires", "state", "rules");
	for (size_t i = 0; i < n; i++) {
		struct share *sh;
		char err[512];
		if (share_load(dir, names[i], &sh, err, sizeof(err))) {
			fprintf(stderr, "dcmfsctl: %s\n", err);
			status = EXIT_PROBLEMS;
			free(names[i]);
			continue;
		}
		if (json) {
			json_object_array_add(arr, share_json(sh, now));
		} else {
			char when[32] = "never";
			if (sh->expires_s)
				iso_utc(sh->expires_s, when, sizeof(when));
			char *rules = share_rules_text(sh);
			printf("%-20s %-12s %-21s %-8s %s\n", sh->name, sh->deidentify ? "yes" : "no", when,
			       share_expired(sh, now) ? "expired" : "active", rules ? rules : "");
			free(rules);
		}
		share_free(sh);
		free(names[i]);
	}
	free(names);
	if (json)
		json_print(arr);
	store_close(s);
	return finish(status);
}

/* ---------------- what a de-identified share leaves out ---------------- */

#define MAX_REASONS 8

struct left_out {
	struct store *s;
	struct catalog *cat;
	const struct share *sh;
	const struct share_members *m;
	int64_t shown, bytes;               /* instances the share shows, their sizes */
	const char *why[MAX_REASONS];
	int64_t n[MAX_REASONS];
	int nwhy;
	int rc;
};

static int left_out_instance(void *arg, const struct cat_node *node)
{
	struct left_out *lo = arg;
	uint64_t size = 0;
	const char *why = NULL;
	int rc = deid_file_stat(lo->s, lo->cat, lo->sh, node->id, &size, &why);
	if (rc == 0) {
		lo->shown++;
		lo->bytes += (int64_t)size;
		return 0;
	}
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		why = "cannot be read (damaged or missing data)";
	else if (!why)
		why = "left out";
	int k = 0;
	while (k < lo->nwhy && strcmp(lo->why[k], why))
		k++;
	if (k == lo->nwhy) {
		if (lo->nwhy == MAX_REASONS)
			k--;
		else
			lo->why[lo->nwhy++] = why;
	}
	lo->n[k]++;
	return 0;
}

static int left_out_series(void *arg, int64_t id)
{
	struct left_out *lo = arg;
	return catalog_children(lo->cat, CAT_SERIES, id, left_out_instance, lo);
}

static int left_out_study(void *arg, int64_t id)
{
	struct left_out *lo = arg;
	return share_members_each(lo->m, CAT_SERIES, id, left_out_series, lo);
}

static int left_out_patient(void *arg, int64_t id)
{
	struct left_out *lo = arg;
	return share_members_each(lo->m, CAT_STUDY, id, left_out_study, lo);
}

/* Walk every instance a de-identified share covers and sort them: shown
 * (and the size of their de-identified files), or left out and why. */
static int count_left_out(struct store *s, const struct share *sh, struct left_out *lo)
{
	memset(lo, 0, sizeof(*lo));
	lo->s = s;
	lo->cat = store_main_catalog(s);
	lo->sh = sh;
	struct share_members *m;
	int rc = share_members_build(lo->cat, sh, &m);
	if (rc)
		return rc;
	lo->m = m;
	rc = share_members_each(m, CAT_PATIENT, 0, left_out_patient, lo);
	share_members_free(m);
	return rc;
}

/* ---------------- show ---------------- */

static int share_show(int argc, char **argv)
{
	int json = 0;
	const char *dir = NULL, *name = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (argv[i][0] == '-' && argv[i][1] == '-')
			usage_error("share show: unknown option '%s'", argv[i]);
		else if (!dir)
			dir = argv[i];
		else if (!name)
			name = argv[i];
		else
			usage_error("share show takes STORE and NAME");
	}
	if (!dir || !name)
		usage_error("share show needs STORE and NAME");
	char err[512];
	if (share_name_check(name, err, sizeof(err)))
		usage_error("%s", err);
	struct store *s = open_store(dir, 1);
	struct share *sh;
	int rc = share_load(dir, name, &sh, err, sizeof(err));
	if (rc == -ENOENT) {
		store_close(s);
		fprintf(stderr, "dcmfsctl: no share %s in %s\n", name, dir);
		return finish(EXIT_PROBLEMS);
	}
	if (rc)
		die("%s", err);
	struct cat_share_rules r = {
		.all = sh->all, .patients = sh->patients, .npatients = sh->npatients,
		.studies = sh->studies, .nstudies = sh->nstudies, .series = sh->series,
		.nseries = sh->nseries, .accessions = sh->accessions, .naccessions = sh->naccessions,
		.modalities = sh->modalities, .nmodalities = sh->nmodalities,
		.from = sh->from, .to = sh->to,
	};
	struct cat_share_totals t;
	if ((rc = catalog_share_totals(store_main_catalog(s), &r, &t)))
		die("cannot count what share %s covers: %s", name, strerror(-rc));
	int64_t now = (int64_t)time(NULL);
	struct left_out lo;
	if (sh->deidentify && (rc = count_left_out(s, sh, &lo)))
		die("cannot sort what share %s leaves out: %s", name, strerror(-rc));
	if (json) {
		json_object *o = share_json(sh, now);
		json_object *c = json_object_new_object();
		json_object_object_add(c, "patients", json_object_new_int64(t.patients));
		json_object_object_add(c, "studies", json_object_new_int64(t.studies));
		json_object_object_add(c, "series", json_object_new_int64(t.series));
		json_object_object_add(c, "instances", json_object_new_int64(t.instances));
		json_object_object_add(c, "bytes", json_object_new_int64((int64_t)t.bytes));
		json_object_object_add(o, "covers", c);
		if (sh->deidentify) {
			json_object *d = json_object_new_object();
			json_object_object_add(d, "instances", json_object_new_int64(lo.shown));
			json_object_object_add(d, "bytes", json_object_new_int64(lo.bytes));
			json_object_object_add(o, "deidentified", d);
			json_object *l = json_object_new_object();
			for (int k = 0; k < lo.nwhy; k++)
				json_object_object_add(l, lo.why[k], json_object_new_int64(lo.n[k]));
			json_object_object_add(o, "left_out", l);
		} else {
			json_object_object_add(o, "deidentified", NULL);
			json_object_object_add(o, "left_out", NULL);
		}
		json_print(o);
	} else {
		char *rules = share_rules_text(sh);
		char when[32];
		printf("share %s\n", sh->name);
		printf("rules         %s\n", rules ? rules : "");
		free(rules);
		printf("deidentified  %s", sh->deidentify ? "yes" : "no");
		if (sh->deidentify)
			printf(" (dates %s, burned-in annotation %s)", sh->shift_dates ? "shifted" : "removed",
			       sh->allow_burned_in ? "allowed" : "left out");
		printf("\n");
		iso_utc(sh->created_s, when, sizeof(when));
		printf("created       %s\n", when);
		if (sh->expires_s) {
			iso_utc(sh->expires_s, when, sizeof(when));
			printf("expires       %s%s\n", when, share_expired(sh, now) ? " (expired)" : "");
		} else {
			printf("expires       never\n");
		}
		printf("covers        %" PRId64 " patients, %" PRId64 " studies, %" PRId64 " series, %"
		       PRId64 " instances, %" PRIu64 " bytes\n", t.patients, t.studies, t.series,
		       t.instances, t.bytes);
		if (sh->deidentify) {
			int64_t out = 0;
			for (int k = 0; k < lo.nwhy; k++)
				out += lo.n[k];
			printf("shows         %" PRId64 " de-identified instances, %" PRId64 " bytes\n",
			       lo.shown, lo.bytes);
			printf("left out      %" PRId64 " instances%s\n", out, out ? ":" : "");
			for (int k = 0; k < lo.nwhy; k++)
				printf("              %" PRId64 " %s\n", lo.n[k], lo.why[k]);
		}
	}
	share_free(sh);
	store_close(s);
	return finish(0);
}

/* ---------------- rm ---------------- */

static int share_rm(int argc, char **argv)
{
	if (argc != 3)
		usage_error("share rm takes STORE and NAME");
	const char *dir = argv[1], *name = argv[2];
	char err[512];
	if (share_name_check(name, err, sizeof(err)))
		usage_error("%s", err);
	struct store *s = open_store(dir, 1);
	int rc = share_remove(dir, name);
	store_close(s);
	if (rc == -ENOENT) {
		fprintf(stderr, "dcmfsctl: no share %s in %s\n", name, dir);
		return finish(EXIT_PROBLEMS);
	}
	if (rc)
		die("cannot remove share %s: %s", name, strerror(-rc));
	printf("removed share %s\n", name);
	return finish(0);
}

int cmd_share(int argc, char **argv)
{
	if (argc < 2)
		usage_error("share needs a subcommand: create, list, show or rm");
	static const struct { const char *name; int (*fn)(int, char **); } subs[] = {
		{ "create", share_create }, { "list", share_list }, { "show", share_show },
		{ "rm", share_rm },
	};
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	usage_error("share: unknown subcommand '%s' (create, list, show or rm)", argv[1]);
}
