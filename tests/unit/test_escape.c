/*
 * test_escape.c - path components: escaping, and names fitted to 255 bytes
 * that stay unique and never end inside a %XX (issue 7); every byte value
 * escapes reversibly into a safe name (no '/', never "." or "..", no
 * leading '.'), and what is not a valid escaped name is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "hash.h"

static void test_short_names_are_escapes(void **state)
{
	(void)state;
	char out[NAME_COMPONENT_MAX + 1], esc[64];
	const char *v[] = { "1.2.3", "", "a/b", ".hidden", "AAAA\x01" "0BBBB" };
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		name_escape(v[i], esc);
		name_component(v[i], "", out);
		assert_string_equal(out, esc);
	}
	name_component("1.2.3", ".dcm", out);
	assert_string_equal(out, "1.2.3.dcm");
	/* the bytes of an embedded NUL (0x01 '0') stay visible and apart */
	name_component("AAAA\x01" "0BBBB", "", out);
	assert_string_equal(out, "AAAA%010BBBB");
}

static void test_long_names_fit_and_differ(void **state)
{
	(void)state;
	/* 64 x U+00E9 in UTF-8: 128 bytes, 384 escaped */
	char a[200], b[200], na[NAME_COMPONENT_MAX + 1], nb[NAME_COMPONENT_MAX + 1];
	for (int i = 0; i < 64; i++)
		memcpy(a + 2 * i, "\xc3\xa9", 2);
	a[128] = 0;
	memcpy(b, a, sizeof b);
	b[127] = 'x';           /* differs only in the part that is cut off */
	size_t la = name_component(a, "", na), lb = name_component(b, "", nb);
	assert_true(la <= NAME_COMPONENT_MAX && lb <= NAME_COMPONENT_MAX);
	assert_int_equal(strlen(na), la);
	assert_string_not_equal(na, nb);
	char *t = strchr(na, '~');
	assert_non_null(t);
	assert_int_equal(strlen(t), 17);
	/* the kept part ends on a whole %XX */
	size_t keep = (size_t)(t - na);
	assert_int_equal(keep % 3, 0);
	assert_memory_equal(na, "%C3%A9", 6);
	/* with a suffix: still <= 255 and the suffix last */
	char v[NAME_COMPONENT_MAX + 1];
	char uid[400];
	memset(uid, '7', 300);
	uid[300] = 0;
	size_t lv = name_component(uid, ".v12.dcm", v);
	assert_true(lv <= NAME_COMPONENT_MAX);
	assert_string_equal(v + lv - 8, ".v12.dcm");
	/* exactly 255 bytes fit without a hash */
	uid[251] = 0;
	name_component(uid, ".dcm", v);
	assert_int_equal(strlen(v), 255);
	assert_null(strchr(v, '~'));
	uid[251] = '7';
	uid[252] = 0;
	name_component(uid, ".dcm", v);
	assert_non_null(strchr(v, '~'));
}

/* A name is one safe path component: not empty, not "." or "..", not
 * hidden, only bytes that stay plus %XX triples, '~' only as the hash
 * mark, no '/' or control bytes. */
static void assert_safe_name(const char *name)
{
	assert_true(name[0] != '\0');
	assert_true(name[0] != '.');
	assert_true(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
	assert_true(strlen(name) <= NAME_COMPONENT_MAX);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || strchr(".-_+=,%~", *p) != NULL;
		if (!plain)
			print_error("byte 0x%02x in name '%s'\n", *p, name);
		assert_true(plain);
	}
}

/* escape, then unescape: the same bytes; the name is safe. */
static void assert_reversible(const char *value)
{
	size_t len = strlen(value);
	char *esc = malloc(3 * len + 2), *back = malloc(len + 1);
	size_t n = name_escape(value, esc);
	assert_int_equal(strlen(esc), n);
	if (n <= NAME_COMPONENT_MAX)
		assert_safe_name(esc);
	assert_null(strchr(esc, '/'));
	assert_null(strchr(esc, '~'));
	assert_int_equal(name_unescape(esc, back, len + 1), (long)len);
	assert_memory_equal(back, value, len + 1);
	free(esc);
	free(back);
}

static void test_every_byte_value_is_reversible(void **state)
{
	(void)state;
	char v[8];
	for (int b = 1; b < 256; b++) {
		/* alone, first, inside and last */
		snprintf(v, sizeof(v), "%c", b);
		assert_reversible(v);
		snprintf(v, sizeof(v), "%cab", b);
		assert_reversible(v);
		snprintf(v, sizeof(v), "a%cb", b);
		assert_reversible(v);
		snprintf(v, sizeof(v), "ab%c", b);
		assert_reversible(v);
	}
	/* all of them in one value, and twice over backwards */
	char all[256], back2[511];
	for (int b = 1; b < 256; b++)
		all[b - 1] = (char)b;
	all[255] = '\0';
	assert_reversible(all);
	for (int i = 0; i < 510; i++)
		back2[i] = (char)(255 - i % 255);
	back2[510] = '\0';
	assert_reversible(back2);
}

static void test_bytes_that_stay_and_bytes_that_do_not(void **state)
{
	(void)state;
	char out[64];
	name_escape("Az09.-_+=,", out);
	assert_string_equal(out, "Az09.-_+=,");
	name_escape("", out);
	assert_string_equal(out, "%");
	name_escape(".", out);
	assert_string_equal(out, "%2E");
	name_escape("..", out);
	assert_string_equal(out, "%2E.");
	name_escape("a.b", out);
	assert_string_equal(out, "a.b");
	name_escape("a/b c%~", out);
	assert_string_equal(out, "a%2Fb%20c%25%7E");
	/* UTF-8 and other bytes >= 0x80, in uppercase hex */
	name_escape("Zo\xc3\xab\xff\x80", out);
	assert_string_equal(out, "Zo%C3%AB%FF%80");
	/* A NUL inside a value reaches here as 0x01 '0' and 0x01 as 0x01 0x01
	 * (dicom.h): all of them stay apart. */
	char a[64], b[64], c[64];
	name_escape("AAAA\x01" "0BBBB", a);
	name_escape("AAAA\x01" "0CCCC", b);
	name_escape("AAAA\x01\x01" "0BBBB", c);
	assert_string_equal(a, "AAAA%010BBBB");
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_equal(c, "AAAA%01%010BBBB");
}

static void test_invalid_names_are_refused(void **state)
{
	(void)state;
	char out[64];
	static const char *bad[] = {
		"%G0", "%0G", "%4", "a%", "%c3", "a/b", "a b", "~", "x~0123", "\x01", "\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (name_unescape(bad[i], out, sizeof(out)) != -1)
			print_error("'%s' was taken for an escaped name\n", bad[i]);
		assert_int_equal(name_unescape(bad[i], out, sizeof(out)), -1);
	}
	assert_int_equal(name_unescape("%", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* no room for the value and its NUL */
	assert_int_equal(name_unescape("abcd", out, 4), -1);
	assert_int_equal(name_unescape("abcd", out, 5), 4);
	assert_int_equal(name_unescape("%41%42", out, 3), 2);
	assert_string_equal(out, "AB");
}

/* A cheap xorshift, so that the run is the same every time. */
static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* name_component(value, suffix): at most 255 bytes, the suffix last; whole
 * and reversible when it fits; else cut on a %XX boundary and marked with
 * '~' and the value's XXH3-64. */
static void assert_component(const char *value, const char *suffix, char *name)
{
	size_t vl = strlen(value), sl = strlen(suffix);
	char *esc = malloc(3 * vl + 2), *back = malloc(vl + 1);
	size_t el = name_escape(value, esc);
	size_t n = name_component(value, suffix, name);
	assert_int_equal(strlen(name), n);
	assert_true(n <= NAME_COMPONENT_MAX);
	assert_safe_name(name);
	assert_string_equal(name + n - sl, suffix);
	char *stem = strndup(name, n - sl);
	char *mark = strchr(stem, '~');
	if (el + sl <= NAME_COMPONENT_MAX) {
		assert_null(mark);
		assert_string_equal(stem, esc);
		assert_int_equal(name_unescape(stem, back, vl + 1), (long)vl);
		assert_string_equal(back, value);
	} else {
		assert_non_null(mark);
		char hash[17];
		snprintf(hash, sizeof(hash), "%016" PRIx64, checksum64(value, vl));
		assert_int_equal(strlen(mark), 17);
		assert_string_equal(mark + 1, hash);
		/* the kept part is the start of the escaped value, and whole
		 * triples: it unescapes to the start of the value */
		*mark = '\0';
		size_t kept = strlen(stem);
		assert_memory_equal(stem, esc, kept);
		long m = kept ? name_unescape(stem, back, vl + 1) : 0;
		assert_true(m >= 0);
		assert_memory_equal(back, value, (size_t)m);
		/* and it is as long as it can be: at most a triple is given up */
		assert_true(n + 2 >= NAME_COMPONENT_MAX);
	}
	free(stem);
	free(esc);
	free(back);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_random_values_fit_and_stay_unique(void **state)
{
	(void)state;
	enum { N = 3000 };
	static char names[N][NAME_COMPONENT_MAX + 1];
	static const char *suffixes[] = { "", ".dcm", ".v12.dcm", ".v4294967295.dcm" };
	uint64_t seed = 0x2545F4914F6CDD1DULL;
	char value[700];
	for (int i = 0; i < N; i++) {
		if (i % 50 == 1 && strlen(value) > 300) {
			/* the value before with only its last byte changed, where
			 * the cut name no longer shows it: the hash tells them apart */
			char *last = value + strlen(value) - 1;
			*last = *last == 'x' ? 'y' : 'x';
			assert_component(value, suffixes[i % 4], names[i]);
			continue;
		}
		size_t len = 1 + (size_t)(next_random(&seed) % 600);
		int kind = i % 3;       /* plain, any byte, mostly high bytes */
		for (size_t j = 0; j < len; j++) {
			uint64_t r = next_random(&seed);
			if (kind == 0)
				value[j] = "0123456789."[r % 11];
			else if (kind == 1)
				value[j] = (char)(1 + r % 255);
			else
				value[j] = (char)(r % 4 ? 0x80 + r % 128 : 1 + r % 127);
		}
		value[len] = '\0';
		assert_component(value, suffixes[i % 4], names[i]);
	}
	/* Different values, different names (random values differ with
	 * overwhelming odds, and a 64-bit hash collision would be news). */
	char **sorted = malloc(N * sizeof(*sorted));
	for (int i = 0; i < N; i++)
		sorted[i] = names[i];
	qsort(sorted, N, sizeof(*sorted), compare_names);
	for (int i = 1; i < N; i++)
		assert_string_not_equal(sorted[i - 1], sorted[i]);
	free(sorted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_names_are_escapes),
		cmocka_unit_test(test_long_names_fit_and_differ),
		cmocka_unit_test(test_every_byte_value_is_reversible),
		cmocka_unit_test(test_bytes_that_stay_and_bytes_that_do_not),
		cmocka_unit_test(test_invalid_names_are_refused),
		cmocka_unit_test(test_random_values_fit_and_stay_unique),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
