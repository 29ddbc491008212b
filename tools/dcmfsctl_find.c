/*
 * dcmfsctl_find.c - `dcmfsctl find`: the studies matching what an
 * administrator knows (a name, an ID, a date, a modality, an accession
 * number, words of the description), without their UIDs.
 *
 * The matching is the catalogue's (catalog_find_studies); this file parses
 * the options, checks dates, and prints a study per line or a JSON array.
 * Text output replaces control bytes with '?' so a planted value cannot
 * move the terminal's cursor; --json has every value exactly (json_out.h).
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "dcmfsctl.h"
#include "json_out.h"
#include "store.h"

/* A DICOM date, YYYYMMDD, that exists (February 29 in leap years only). */
static int is_date(const char *s, size_t n)
{
	if (n != 8)
		return 0;
	for (size_t i = 0; i < 8; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int month = (s[4] - '0') * 10 + (s[5] - '0'), day = (s[6] - '0') * 10 + (s[7] - '0');
	static const int days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month >= 1 && month <= 12 && day >= 1 && day <= days[month - 1] &&
	       (month != 2 || day < 29 || leap);
}

void find_date_range(const char *opt, const char *text, char from[9], char to[9])
{
	/* YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD (DICOM's range) */
	const char *dash = strchr(text, '-');
	size_t a = dash ? (size_t)(dash - text) : strlen(text);
	const char *b = dash ? dash + 1 : NULL;
	int ok = (a == 0 || is_date(text, a)) && (!b || !*b || is_date(b, strlen(b))) &&
		 (a || (b && *b)) && (!b || !strchr(b, '-'));
	if (!ok)
		usage_error("%s needs YYYYMMDD, FROM-TO, FROM- or -TO (dates that exist, as YYYYMMDD), not '%s'", opt,
			    text);
	from[0] = to[0] = 0;
	if (a)
		memcpy(from, text, 8), from[8] = 0;
	if (b && *b)
		memcpy(to, b, 8), to[8] = 0;
	else if (!dash)
		memcpy(to, from, 9);
	if (from[0] && to[0] && strcmp(from, to) > 0)
		usage_error("%s: '%s' ends before it starts", opt, text);
}

char *modalities_text(const char *list)
{
	size_t n = 0;
	for (const char *p = list; *p; p += strlen(p) + 1)
		n += strlen(p) + 1;
	char *t = xmalloc(n + 1), *o = t;
	for (const char *p = list; *p; p += strlen(p) + 1)
		o += sprintf(o, "%s%s", o == t ? "" : "\\", p);
	*o = 0;
	return t;
}

const char *text_safe(const char *s, char **buf)
{
	free(*buf);
	*buf = xstrdup(s);
	for (char *p = *buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return *buf;
}

json_object *study_json(const struct cat_study_info *i)
{
	json_object *o = json_obj(), *m = json_arr();
	json_set(o, "patient_id", json_str(i->patient_id));
	json_set(o, "issuer", json_str(i->issuer));
	json_set(o, "patient_name", json_str(i->patient_name));
	json_set(o, "birth_date", json_str(i->birth_date));
	json_set(o, "sex", json_str(i->sex));
	json_set(o, "study_uid", json_str(i->study_uid));
	json_set(o, "study_date", json_str(i->study_date));
	json_set(o, "study_time", json_str(i->study_time));
	json_set(o, "description", json_str(i->description));
	json_set(o, "accession", json_str(i->accession));
	for (const char *p = i->modalities; *p; p += strlen(p) + 1)
		json_push(m, json_str(p));
	json_set(o, "modalities", m);
	json_set(o, "series", json_int(i->nseries));
	json_set(o, "instances", json_int(i->ninstances));
	char *path = xmalloc(strlen(i->patient_dir) + strlen(i->study_dir) + 32);
	sprintf(path, "/patients/%s/studies/%s", i->patient_dir, i->study_dir);
	json_set(o, "path", json_str(path));
	free(path);
	return o;
}

struct find_out {
	json_object *arr;           /* --json: the studies, else NULL */
	int64_t n;
};

static int find_print(void *arg, const struct cat_study_info *i)
{
	struct find_out *o = arg;
	if (o->arr) {
		json_push(o->arr, study_json(i));
	} else {
		char *b[9] = { 0 }, *mods = modalities_text(i->modalities);
		if (!o->n)
			printf("PATIENT_ID\tNAME\tBIRTH\tSTUDY_DATE\tMODALITIES\tSERIES\tINSTANCES\t"
			       "ACCESSION\tDESCRIPTION\tPATH\n");
		printf("%s\t%s\t%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t/patients/%s/studies/%s\n",
		       text_safe(i->patient_id, &b[0]), text_safe(i->patient_name, &b[1]),
		       text_safe(i->birth_date, &b[2]), text_safe(i->study_date, &b[3]),
		       text_safe(mods, &b[4]), i->nseries, i->ninstances,
		       text_safe(i->accession, &b[5]), text_safe(i->description, &b[6]),
		       text_safe(i->patient_dir, &b[7]), text_safe(i->study_dir, &b[8]));
		for (int k = 0; k < 9; k++)
			free(b[k]);
		free(mods);
	}
	o->n++;
	return 0;
}

int cmd_find(int argc, char **argv)
{
	struct cat_study_filter f = { 0 };
	const char *store = NULL, *date = NULL, *birth = NULL;
	int json = 0;
	static const struct { const char *opt; size_t off; } vals[] = {
		{ "--name", offsetof(struct cat_study_filter, name) },
		{ "--patient-id", offsetof(struct cat_study_filter, patient_id) },
		{ "--modality", offsetof(struct cat_study_filter, modality) },
		{ "--accession", offsetof(struct cat_study_filter, accession) },
		{ "--description", offsetof(struct cat_study_filter, description) },
	};
	for (int i = 1; i < argc; i++) {
		const char **val = NULL;
		for (size_t k = 0; k < sizeof(vals) / sizeof(*vals); k++)
			if (!strcmp(argv[i], vals[k].opt))
				val = (const char **)((char *)&f + vals[k].off);
		if (!strcmp(argv[i], "--date"))
			val = &date;
		else if (!strcmp(argv[i], "--birth"))
			val = &birth;
		if (val) {
			if (i + 1 >= argc)
				usage_error("find: %s needs a value", argv[i]);
			if (*val)
				usage_error("find: %s given twice", argv[i]);
			*val = argv[++i];
			if (!**val)
				usage_error("find: %s needs a value, not ''", argv[i - 1]);
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage_error("find: unknown option '%s'", argv[i]);
		} else if (store) {
			usage_error("find: unexpected '%s' (one STORE only)", argv[i]);
		} else {
			store = argv[i];
		}
	}
	if (!store)
		usage_error("find needs a STORE");
	char dfrom[9], dto[9], bfrom[9], bto[9];
	if (date) {
		find_date_range("--date", date, dfrom, dto);
		f.date_from = dfrom[0] ? dfrom : NULL;
		f.date_to = dto[0] ? dto : NULL;
	}
	if (birth) {
		find_date_range("--birth", birth, bfrom, bto);
		f.birth_from = bfrom[0] ? bfrom : NULL;
		f.birth_to = bto[0] ? bto : NULL;
	}
	struct store *s = open_store(store, 1);
	struct find_out o = { .arr = json ? json_arr() : NULL };
	int r = catalog_find_studies(store_main_catalog(s), &f, find_print, &o);
	store_close(s);
	if (r)
		die("find: cannot search the catalogue: %s", strerror(-r));
	if (json)
		json_print(o.arr);
	return finish(0);
}
