/*
 * test_deid.c - the keys of de-identified shares (deid.h) and the GDCM
 * shim (deid_gdcm.h) on one real file: UIDs are 2.25.<decimal> of the
 * keyed hash deid.h describes, pseudonyms are keyed, and a rewrite holds
 * none of the original identifying values, the new UIDs instead, and
 * moved dates.
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

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "deid.h"
#include "deid_gdcm.h"

static const uint8_t K1[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t K2[32] = { 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
				16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };

static void test_uid_form_and_key(void **state)
{
	(void)state;
	const char *u = "1.2.840.113619.2.55.3.604688119.969.1268071029.320";
	char a[65], b[65], c[65], d[65];
	deid_uid(K1, u, a);
	deid_uid(K1, u, b);
	deid_uid(K2, u, c);
	deid_uid(K1, "1.2.3", d);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_memory_equal(a, "2.25.", 5);
	assert_true(strlen(a) <= 44 && strlen(a) > 6);
	assert_true(a[5] != '0');
	for (const char *p = a + 5; *p; p++)
		assert_true(*p >= '0' && *p <= '9');
	/* The value deid.h promises: HMAC-SHA256(K, "uid" 0 u), 16 bytes, decimal. */
	uint8_t msg[128], h[32];
	unsigned int hl = 32;
	memcpy(msg, "uid", 4);
	memcpy(msg + 4, u, strlen(u));
	HMAC(EVP_sha256(), K1, 32, msg, 4 + strlen(u), h, &hl);
	unsigned __int128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | h[i];
	char dec[48], want[65];
	int n = 0;
	do {
		dec[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	strcpy(want, "2.25.");
	for (int i = 0; i < n; i++)
		want[5 + i] = dec[n - 1 - i];
	want[5 + n] = 0;
	assert_string_equal(a, want);
}

static void test_pseudonyms(void **state)
{
	(void)state;
	char a[32], b[32], c[32], d[32];
	deid_patient_pseudonym(K1, "PAT-0042", "", a);
	deid_patient_pseudonym(K1, "PAT-0042", "", b);
	deid_patient_pseudonym(K2, "PAT-0042", "", c);
	deid_patient_pseudonym(K1, "PAT-0042", "HOSP-B", d);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_int_equal(strlen(a), 18);
	assert_memory_equal(a, "P-", 2);
	assert_null(strstr(a, "0042"));
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)n);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

static int has(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(p + i, s, k))
			return 1;
	return 0;
}

/* pydicom's CT_small.dcm (python3-pydicom): a whole file, rewritten whole. */
static void test_rewrite_ct_small(void **state)
{
	(void)state;
	size_t len;
	uint8_t *in = slurp("/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm", &len);
	if (!in) {
		skip();
		return;
	}
	/* Its values, as pydicom shows them. */
	const char *sop = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
	const char *study = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
	assert_true(has(in, len, sop));
	assert_true(has(in, len, "CompressedSamples^CT1"));
	struct deid_gdcm_job job = {
		.in = in, .in_len = len, .secret = K1, .patient_id = "P-0123456789abcdef",
		.patient_name = "ANON^P-0123456789abcdef", .shift_days = -10, .whole = 1,
	};
	struct deid_gdcm_result r;
	char err[160];
	assert_int_equal(deid_gdcm_rewrite(&job, &r, err, sizeof(err)), 0);
	assert_false(has(r.out, r.out_len, sop));
	assert_false(has(r.out, r.out_len, study));
	assert_false(has(r.out, r.out_len, "CompressedSamples^CT1"));
	assert_false(has(r.out, r.out_len, "1CT1"));           /* PatientID */
	char u[65];
	deid_uid(K1, sop, u);
	assert_true(has(r.out, r.out_len, u));
	deid_uid(K1, study, u);
	assert_true(has(r.out, r.out_len, u));
	assert_true(has(r.out, r.out_len, "ANON^P-0123456789abcdef"));
	/* StudyDate 20040119 moved 10 days back. */
	assert_false(has(r.out, r.out_len, "20040119"));
	assert_true(has(r.out, r.out_len, "20040109"));
	assert_memory_equal(r.out + 128, "DICM", 4);
	assert_string_equal(r.sop_class, "1.2.840.10008.5.1.4.1.1.2");
	free(r.out);
	/* Garbage does not parse: an error, never the input back. */
	uint8_t junk[300];
	memset(junk, 'x', sizeof(junk));
	job.in = junk;
	job.in_len = sizeof(junk);
	assert_int_equal(deid_gdcm_rewrite(&job, &r, err, sizeof(err)), -EINVAL);
	assert_null(r.out);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uid_form_and_key),
		cmocka_unit_test(test_pseudonyms),
		cmocka_unit_test(test_rewrite_ct_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
