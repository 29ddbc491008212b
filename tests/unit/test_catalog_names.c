/*
 * test_catalog_names.c - the naming rules every catalogue applies
 * (catalog_names.h) give, byte for byte, the names stores already hold:
 * the expected names below were read from stores that dcmfsctl made
 * before the rules moved into one module.  A change here renames files
 * in existing stores.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "catalog_names.h"

static void patient(struct dcm_info *d, const char *id, const char *issuer, const char *name,
		    const char *birth)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->patient_id, sizeof(d->patient_id), "%s", id);
	snprintf(d->issuer_of_patient_id, sizeof(d->issuer_of_patient_id), "%s", issuer);
	snprintf(d->patient_name, sizeof(d->patient_name), "%s", name);
	snprintf(d->patient_birth_date, sizeof(d->patient_birth_date), "%s", birth);
}

/* names_patient_key then names_patient_dir; returns noid */
static int dir_of(const struct dcm_info *d, char out[NAME_COMPONENT_MAX + 1])
{
	char *key = names_patient_key(d);
	assert_non_null(key);
	int noid = -1;
	assert_int_equal(names_patient_dir(d, key, out, &noid), 0);
	free(key);
	return noid;
}

static void test_a_patient_id_is_its_own_key_and_folder(void **state)
{
	(void)state;
	struct dcm_info d;
	char dir[NAME_COMPONENT_MAX + 1];
	patient(&d, "PAT 1", "HOSP/A", "Doe^John", "19700101");
	char *key = names_patient_key(&d);
	assert_string_equal(key, "PAT 1");
	free(key);
	assert_int_equal(dir_of(&d, dir), 0);
	assert_string_equal(dir, "PAT%201@HOSP%2FA");
	patient(&d, "AAAA\x01" "0BBBB", "", "", "");
	assert_int_equal(dir_of(&d, dir), 0);
	assert_string_equal(dir, "AAAA%010BBBB");
}

static void test_a_long_id_and_issuer_are_cut_with_the_hash_of_both(void **state)
{
	(void)state;
	struct dcm_info d;
	char id[81] = "", want[NAME_COMPONENT_MAX + 1] = "", dir[NAME_COMPONENT_MAX + 1];
	for (int i = 0; i < 40; i++)
		strcat(id, "\xc3\xa9");
	patient(&d, id, "ISSUERISSUERISSUERISSUERISSUERISSUERISSUERISSUER", "", "");
	for (int i = 0; i < 39; i++)
		strcat(want, "%C3%A9");
	strcat(want, "%C3~6be303e4612204ed");
	assert_int_equal(dir_of(&d, dir), 0);
	assert_string_equal(dir, want);
	assert_int_equal(strlen(dir), 254);
}

static void test_without_a_patient_id_the_folder_is_a_noid_stem(void **state)
{
	(void)state;
	struct dcm_info d;
	char dir[NAME_COMPONENT_MAX + 1];
	patient(&d, "", "", "Doe^Jane", "19700101");
	char *key = names_patient_key(&d);
	assert_memory_equal(key, "\x01noid\x01|Doe^Jane\x01|19700101", strlen(key) + 1);
	free(key);
	assert_int_equal(dir_of(&d, dir), 1);
	assert_string_equal(dir, "%noid-d4441198");
	patient(&d, "", "HOSP-B", "Doe^Jane", "19700101");
	assert_int_equal(dir_of(&d, dir), 1);
	assert_string_equal(dir, "%noid-b41a1f74");
	/* these two share their stem: the second patient's folder is stem-2 */
	patient(&d, "", "", "Clash^67186", "19700101");
	assert_int_equal(dir_of(&d, dir), 1);
	assert_string_equal(dir, "%noid-635941b6");
	patient(&d, "", "", "Clash^105238", "19700101");
	assert_int_equal(dir_of(&d, dir), 1);
	assert_string_equal(dir, "%noid-635941b6");
	uint32_t h;
	assert_int_equal(names_noid_hash("\x01noid\x01|Clash^67186\x01|19700101", "", &h), 0);
	assert_int_equal(h, 0x635941b6u);
}

static void test_instance_names_and_which_are_kept(void **state)
{
	(void)state;
	char fname[NAME_COMPONENT_MAX + 1], vname[NAME_COMPONENT_MAX + 1], suffix[32];
	names_instance("1.2.3", 12, fname, vname);
	assert_string_equal(fname, "1.2.3.dcm");
	assert_string_equal(vname, "1.2.3.v12.dcm");
	names_version_suffix(12, suffix);
	assert_string_equal(suffix, ".v12.dcm");
	assert_false(names_kept(fname, "1.2.3", ".dcm"));
	assert_false(names_kept(vname, "1.2.3", suffix));
	names_instance("1.2 3", 1, fname, vname);
	assert_string_equal(fname, "1.2%203.dcm");
	assert_true(names_kept(fname, "1.2 3", ".dcm"));
	assert_true(names_kept(vname, "1.2 3", ".v1.dcm"));
	names_folder_dir("1.2.840.1", fname);
	assert_string_equal(fname, "1.2.840.1");
}

static void test_plain_names_give_their_sop_uid(void **state)
{
	(void)state;
	char sop[NAME_COMPONENT_MAX + 1];
	uint32_t v = 0;
	assert_true(names_plain_sop("1.2.3.dcm", 0, sop, sizeof(sop), &v));
	assert_string_equal(sop, "1.2.3");
	assert_true(names_plain_sop("1.2.3.v7.dcm", 1, sop, sizeof(sop), &v));
	assert_string_equal(sop, "1.2.3");
	assert_int_equal(v, 7);
	/* escaped, hidden, empty, unversioned in /versions, or no .dcm: kept */
	assert_false(names_plain_sop("1.2%203.dcm", 0, sop, sizeof(sop), &v));
	assert_false(names_plain_sop(".1.dcm", 0, sop, sizeof(sop), &v));
	assert_false(names_plain_sop(".dcm", 0, sop, sizeof(sop), &v));
	assert_false(names_plain_sop("1.2.3.dcm", 1, sop, sizeof(sop), &v));
	assert_false(names_plain_sop("1.2.3.v1234567890.dcm", 1, sop, sizeof(sop), &v));
	assert_false(names_plain_sop("1.2.3", 0, sop, sizeof(sop), &v));
	assert_false(names_plain_sop("1.2.3.dcm", 0, sop, 5, &v));
}

static void test_identity_want_is_the_rules_applied_to_a_record(void **state)
{
	(void)state;
	struct instance_record r;
	memset(&r, 0, sizeof(r));
	patient(&r.info, "", "", "Clash^105238", "19700101");
	snprintf(r.info.study_uid, sizeof(r.info.study_uid), "1.2.3");
	snprintf(r.info.series_uid, sizeof(r.info.series_uid), "1.2.3.4");
	snprintf(r.info.sop_instance_uid, sizeof(r.info.sop_instance_uid), "1.2.3.4.5");
	r.version = 2;
	struct cat_identity w;
	assert_int_equal(catalog_identity_want(&r, &w), 0);
	assert_true(w.noid);
	assert_string_equal(w.patient_dir, "%noid-635941b6");
	assert_string_equal(w.study_dir, "1.2.3");
	assert_string_equal(w.series_dir, "1.2.3.4");
	assert_string_equal(w.fname, "1.2.3.4.5.dcm");
	assert_string_equal(w.vname, "1.2.3.4.5.v2.dcm");
	assert_int_equal(w.version, 2);
	patient(&r.info, "PAT 1", "HOSP/A", "", "");
	assert_int_equal(catalog_identity_want(&r, &w), 0);
	assert_false(w.noid);
	assert_string_equal(w.patient_key, "PAT 1");
	assert_string_equal(w.issuer, "HOSP/A");
	assert_string_equal(w.patient_dir, "PAT%201@HOSP%2FA");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_patient_id_is_its_own_key_and_folder),
		cmocka_unit_test(test_a_long_id_and_issuer_are_cut_with_the_hash_of_both),
		cmocka_unit_test(test_without_a_patient_id_the_folder_is_a_noid_stem),
		cmocka_unit_test(test_instance_names_and_which_are_kept),
		cmocka_unit_test(test_plain_names_give_their_sop_uid),
		cmocka_unit_test(test_identity_want_is_the_rules_applied_to_a_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
