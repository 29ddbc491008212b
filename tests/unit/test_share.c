/*
 * test_share.c - share definitions and membership (share.h): names, the
 * definition file (every byte of a value round-trips; a damaged file is
 * named by line), and members built from the catalogue and kept from its
 * change feed, held against a fresh build after every change of a random
 * sequence of imports and removals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "share.h"
#include "scratch.h"

/* ---- names and dates ---- */

static void test_names(void **state)
{
	(void)state;
	char err[200];
	assert_int_equal(share_name_check("ref-2024_v1.0", err, sizeof(err)), 0);
	assert_int_equal(share_name_check("", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty"));
	char name[80];
	memset(name, 'a', 65);
	name[65] = 0;
	assert_int_equal(share_name_check(name, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "65 bytes"));
	name[64] = 0;
	assert_int_equal(share_name_check(name, err, sizeof(err)), 0);
	assert_int_equal(share_name_check(".x", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "starts with '.'"));
	assert_int_equal(share_name_check("a/b", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'/'"));
	assert_int_equal(share_name_check("a\x01", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\\x01 at byte 2"));
	assert_int_equal(share_name_check("a:b", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "':' at byte 2"));
	assert_int_equal(share_date_check("20240229"), 0);
	assert_int_equal(share_date_check("20230229"), -EINVAL);
	assert_int_equal(share_date_check("21000229"), -EINVAL);
	assert_int_equal(share_date_check("20000229"), 0);
	assert_int_equal(share_date_check("20231131"), -EINVAL);
	assert_int_equal(share_date_check("2023113"), -EINVAL);
	assert_int_equal(share_date_check("00000101"), -EINVAL);
}

/* ---- the definition file ---- */

static void test_file_roundtrip(void **state)
{
	(void)state;
	char *dir = scratch_make();
	char err[300];
	struct share *sh = share_alloc();
	assert_non_null(sh);
	strcpy(sh->name, "every-byte");
	/* a value holding every byte 0x01..0xff, and plain ones */
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = 0;
	assert_int_equal(share_add_value(&sh->patients, &sh->npatients, all), 0);
	assert_int_equal(share_add_value(&sh->patients, &sh->npatients, "P 2"), 0);
	assert_int_equal(share_add_value(&sh->studies, &sh->nstudies, "1.2.3"), 0);
	assert_int_equal(share_add_value(&sh->series, &sh->nseries, "1.2.3.4"), 0);
	assert_int_equal(share_add_value(&sh->accessions, &sh->naccessions, "%41"), 0);
	assert_int_equal(share_add_value(&sh->modalities, &sh->nmodalities, "CT"), 0);
	strcpy(sh->from, "20200101");
	strcpy(sh->to, "20201231");
	sh->deidentify = sh->shift_dates = sh->allow_burned_in = 1;
	sh->expires_s = 1767225600;
	sh->created_s = 1764480000;
	assert_int_equal(share_new_secret(sh), 0);
	assert_int_equal(share_save_new(dir, sh, err, sizeof(err)), 0);
	assert_int_equal(share_save_new(dir, sh, err, sizeof(err)), -EEXIST);

	struct share *l;
	assert_int_equal(share_load(dir, "every-byte", &l, err, sizeof(err)), 0);
	assert_int_equal(l->npatients, 2);
	assert_string_equal(l->patients[0], all);
	assert_string_equal(l->patients[1], "P 2");
	assert_string_equal(l->accessions[0], "%41");
	assert_string_equal(l->from, "20200101");
	assert_string_equal(l->to, "20201231");
	assert_true(l->deidentify && l->shift_dates && l->allow_burned_in && !l->all);
	assert_int_equal(l->expires_s, 1767225600);
	assert_int_equal(l->created_s, 1764480000);
	assert_memory_equal(l->secret, sh->secret, 32);
	assert_int_equal(share_expired(l, 1767225599), 0);
	assert_int_equal(share_expired(l, 1767225600), 1);
	share_free(l);

	char path[4200];
	snprintf(path, sizeof(path), "%s/shares/every-byte", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* damage: an unknown key on a new last line is named by its line */
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fputs("color blue\n", f);
	fclose(f);
	assert_int_equal(share_load(dir, "every-byte", &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 16: unknown key 'color'"));
	assert_int_equal(share_load(dir, "nosuch", &l, err, sizeof(err)), -ENOENT);

	char **names;
	size_t n;
	mkdir(strcat(strcpy(path, dir), "/shares/.deid"), 0700);
	assert_int_equal(share_names(dir, &names, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "every-byte");
	free(names[0]);
	free(names);
	assert_int_equal(share_remove(dir, "every-byte"), 0);
	assert_int_equal(share_remove(dir, "every-byte"), -ENOENT);
	assert_int_equal(share_remove(dir, "../x"), -EINVAL);
	share_free(sh);
	scratch_remove(dir);
	free(dir);
}

/* ---- membership ---- */

struct fixture {
	char *dir;
	struct catalog *cat;
	int64_t pack;
	uint64_t off;
	int64_t seq;                /* change feed read up to here */
};

/* Store one instance as the import's writer does (made-up places for its
 * record and its one blob).  Returns its id. */
static int64_t add(struct fixture *f, const char *pid, const char *study, const char *series,
		   const char *sop, const char *modality, const char *date, const char *acc)
{
	struct instance_record r;
	memset(&r, 0, sizeof(r));
	struct dcm_info *d = &r.info;
	snprintf(d->patient_id, sizeof(d->patient_id), "%s", pid);
	snprintf(d->patient_name, sizeof(d->patient_name), "N^%s", pid);
	snprintf(d->study_uid, sizeof(d->study_uid), "%s", study);
	snprintf(d->series_uid, sizeof(d->series_uid), "%s", series);
	snprintf(d->sop_instance_uid, sizeof(d->sop_instance_uid), "%s", sop);
	snprintf(d->modality, sizeof(d->modality), "%s", modality);
	snprintf(d->study_date, sizeof(d->study_date), "%s", date);
	snprintf(d->accession_number, sizeof(d->accession_number), "%s", acc);
	r.version = 1;
	r.stored_at_ns = 1700000000000000000LL + (int64_t)f->off;
	r.size = 1000;
	memset(r.file_hash, (int)(f->off & 0xff), HASH_LEN);
	r.nseg = 1;
	int64_t first[4];
	static const char *kinds[] = { "patient", "study", "series", "instance" };
	for (int k = 0; k < 4; k++)
		assert_int_equal(catalog_reserve_ids(f->cat, kinds[k], 1, &first[k]), 0);
	assert_int_equal(catalog_begin(f->cat), 0);
	struct blob_ref b;
	memset(&b, 0, sizeof(b));
	memcpy(b.hash, &f->off, sizeof(f->off));
	b.raw_size = 1000;
	b.enc_size = 500;
	b.pack = f->pack;
	b.offset = f->off;
	f->off += 1000;
	assert_int_equal(catalog_insert_blob(f->cat, &b), 0);
	memcpy(r.seg[0].hash, b.hash, HASH_LEN);
	r.seg[0].raw_size = 1000;
	struct id_pool p = { first[0], first[0] + 1 }, s = { first[1], first[1] + 1 },
		       e = { first[2], first[2] + 1 };
	assert_int_equal(catalog_place(f->cat, &r, &p, &s, &e), 0);
	r.instance_id = first[3];
	struct record_loc loc = { f->pack, f->off, 100 };
	f->off += 200;
	assert_int_equal(catalog_insert_instance(f->cat, &r, &b.id, &loc), 0);
	assert_int_equal(catalog_prune(f->cat), 0);
	assert_int_equal(catalog_commit(f->cat), 0);
	return r.instance_id;
}

static void rm_instance(struct fixture *f, int64_t id)
{
	assert_int_equal(catalog_begin(f->cat), 0);
	assert_int_equal(catalog_delete_instance(f->cat, id), 0);
	assert_int_equal(catalog_prune(f->cat), 0);
	assert_int_equal(catalog_commit(f->cat), 0);
}

struct apply_ctx {
	struct share_members *m;
	struct catalog *cat;
};

static int apply_cb(void *arg, const struct cat_change *ch)
{
	struct apply_ctx *a = arg;
	return share_members_apply(a->m, a->cat, ch);
}

static void follow(struct fixture *f, struct share_members *m)
{
	struct apply_ctx a = { m, f->cat };
	assert_int_equal(catalog_changes_since(f->cat, f->seq, &f->seq, apply_cb, &a), 0);
}

struct idlist {
	int64_t id[4096];
	size_t n;
};

static int collect_id(void *arg, int64_t id)
{
	struct idlist *l = arg;
	if (l->n < 4096)
		l->id[l->n++] = id;
	return 0;
}

/* Every member of a kind, walking down from the patients, as one list. */
static void walk(const struct share_members *m, struct idlist out[3])
{
	memset(out, 0, 3 * sizeof(*out));
	assert_int_equal(share_members_each(m, CAT_PATIENT, 0, collect_id, &out[0]), 0);
	for (size_t i = 0; i < out[0].n; i++)
		assert_int_equal(share_members_each(m, CAT_STUDY, out[0].id[i], collect_id, &out[1]), 0);
	for (size_t i = 0; i < out[1].n; i++)
		assert_int_equal(share_members_each(m, CAT_SERIES, out[1].id[i], collect_id, &out[2]), 0);
}

static void assert_same(const struct share_members *a, const struct share_members *b)
{
	static struct idlist x[3], y[3];
	walk(a, x);
	walk(b, y);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(x[k].n, y[k].n);
		assert_memory_equal(x[k].id, y[k].id, x[k].n * sizeof(int64_t));
		for (size_t i = 0; i < x[k].n; i++)
			assert_int_equal(share_members_has(a, CAT_PATIENT + k, x[k].id[i]), 1);
	}
}

static void test_members(void **state)
{
	(void)state;
	struct fixture f = { 0 };
	char err[256];
	f.dir = scratch_make();
	assert_int_equal(catalog_open(f.dir, 1, 0, &f.cat, err, sizeof(err)), 0);
	/* the feed is made at the second writable open */
	catalog_close(f.cat);
	assert_int_equal(catalog_open(f.dir, 0, 0, &f.cat, err, sizeof(err)), 0);
	assert_int_equal(catalog_pack_id(f.cat, "0000000001.pack", &f.pack), 0);
	f.off = 64;
	f.seq = catalog_change_seq(f.cat);
	assert_true(f.seq >= 0);

	add(&f, "P1", "1.1", "1.1.1", "1.1.1.1", "CT", "20200105", "A1");
	add(&f, "P1", "1.1", "1.1.2", "1.1.2.1", "MR", "20200105", "A1");
	add(&f, "P2", "2.1", "2.1.1", "2.1.1.1", "CT", "20190101", "");
	add(&f, "P3", "3.1", "3.1.1", "3.1.1.1", "CT", "", "A3");

	struct share *sh = share_alloc();
	strcpy(sh->name, "t");
	assert_int_equal(share_add_value(&sh->modalities, &sh->nmodalities, "CT"), 0);
	strcpy(sh->from, "20200101");
	struct share_members *m;
	assert_int_equal(share_members_build(f.cat, sh, &m), 0);
	/* CT and dated 2020 on: P1's CT series only (P3 has no date) */
	assert_int_equal(share_members_count(m, CAT_PATIENT, 0), 1);
	assert_int_equal(share_members_count(m, CAT_SERIES, 0), 0);
	struct idlist l[3];
	walk(m, l);
	assert_int_equal(l[1].n, 1);
	assert_int_equal(l[2].n, 1);
	assert_int_equal(share_series_matches(f.cat, sh, l[2].id[0]), 1);
	assert_int_equal(share_members_has(m, CAT_STUDY, l[1].id[0]), 1);
	assert_int_equal(share_members_has(m, CAT_INSTANCE, 1), 0);

	/* imports after the build: a new matching series of P2 (new study),
	 * a non-matching one, a second instance of a member series */
	f.seq = catalog_change_seq(f.cat);
	add(&f, "P2", "2.2", "2.2.1", "2.2.1.1", "CT", "20210101", "");
	add(&f, "P2", "2.2", "2.2.2", "2.2.2.1", "US", "20210101", "");
	int64_t late = add(&f, "P1", "1.1", "1.1.1", "1.1.1.2", "CT", "20200105", "A1");
	follow(&f, m);
	struct share_members *fresh;
	assert_int_equal(share_members_build(f.cat, sh, &fresh), 0);
	assert_same(m, fresh);
	assert_int_equal(share_members_count(m, CAT_PATIENT, 0), 2);
	share_members_free(fresh);

	/* removals: an instance (its series stays), then a whole series */
	rm_instance(&f, late);
	int64_t *ids;
	int n = catalog_find_ids(f.cat, CAT_INSTANCE, "2.2.1.1", &ids);
	assert_int_equal(n, 1);
	rm_instance(&f, ids[0]);
	free(ids);
	follow(&f, m);
	assert_int_equal(share_members_build(f.cat, sh, &fresh), 0);
	assert_same(m, fresh);
	assert_int_equal(share_members_count(m, CAT_PATIENT, 0), 1);
	share_members_free(fresh);

	/* a random run of imports and removals, checked after each */
	srand(7);
	int64_t live[256];
	int nlive = 0;
	char a[64], b[64], c[64], d[64], date[16];
	for (int step = 0; step < 300; step++) {
		if (nlive < 200 && (rand() % 3 || !nlive)) {
			int p = rand() % 12, s = rand() % 3, e = rand() % 3;
			snprintf(a, sizeof(a), "P%d", p);
			snprintf(b, sizeof(b), "9.%d.%d", p, s);
			snprintf(c, sizeof(c), "9.%d.%d.%d", p, s, e);
			snprintf(d, sizeof(d), "9.%d.%d.%d.%d", p, s, e, step);
			snprintf(date, sizeof(date), "20%02d0101", 18 + s);
			live[nlive++] = add(&f, a, b, c, d, e == 2 ? "MR" : "CT", date, "");
		} else {
			int k = rand() % nlive;
			rm_instance(&f, live[k]);
			live[k] = live[--nlive];
		}
		follow(&f, m);
		assert_int_equal(share_members_build(f.cat, sh, &fresh), 0);
		assert_same(m, fresh);
		share_members_free(fresh);
	}
	share_members_free(m);
	share_free(sh);
	catalog_close(f.cat);
	scratch_remove(f.dir);
	free(f.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_file_roundtrip),
		cmocka_unit_test(test_members),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
