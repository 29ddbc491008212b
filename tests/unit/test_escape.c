/*
 * test_escape.c - path components: escaping, and names fitted to 255 bytes
 * that stay unique and never end inside a %XX (issue 7).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "escape.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_names_are_escapes),
		cmocka_unit_test(test_long_names_fit_and_differ),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
