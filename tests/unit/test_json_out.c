/*
 * test_json_out.c - the JSON writer of dcmfsctl (tools/json_out.h): every
 * byte value, alone and inside text, and invalid UTF-8, come out as JSON
 * that Python's strict parser reads back to the expected string.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../tools/json_out.h"

const char cli_program_name[] = "test_json_out";

/* Python reads path as strict UTF-8 JSON and compares it with the
 * expected strings (a JSON array of the same length in expect_path, built
 * here with \u escapes only, so it is ASCII whatever it says). */
static int python_agrees(const char *path, const char *expect_path)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys\n"
		 "got = json.loads(open(sys.argv[1], \"rb\").read().decode(\"utf-8\", \"strict\"))\n"
		 "want = json.load(open(sys.argv[2]))\n"
		 "sys.exit(0 if got == want else 1)' %s %s", path, expect_path);
	return system(cmd);
}

/* Write the array's text to a temporary file; returns its name (freed by
 * the caller). */
static char *to_file(json_object *a)
{
	char tmpl[] = "/tmp/dcmfs-json-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	const char *t = json_line(a);
	assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
	close(fd);
	return strdup(tmpl);
}

/* Python reads a back as e; both are freed. */
static void agrees_and_free(json_object *a, json_object *e)
{
	char *got = to_file(a), *want = to_file(e);
	assert_int_equal(python_agrees(got, want), 0);
	unlink(got);
	unlink(want);
	free(got);
	free(want);
	json_object_put(a);
	json_object_put(e);
}

/* An expected string as ASCII JSON: code points given. */
static void expect_push(json_object *e, const uint32_t *cp, size_t n)
{
	char buf[256] = "\"";
	for (size_t i = 0; i < n; i++) {
		char u[16];
		if (cp[i] > 0xffff) {
			uint32_t v = cp[i] - 0x10000;
			snprintf(u, sizeof(u), "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
		} else {
			snprintf(u, sizeof(u), "\\u%04x", cp[i]);
		}
		strcat(buf, u);
	}
	strcat(buf, "\"");
	json_object *j = json_tokener_parse(buf);
	assert_non_null(j);
	json_push(e, j);
}

static void every_byte(void **state)
{
	(void)state;
	json_object *a = json_arr(), *e = json_arr();
	for (unsigned b = 1; b < 256; b++) {
		/* alone, and between ASCII and a quote/backslash pair */
		char one[2] = { (char)b, 0 };
		char mid[8] = { 'C', '"', (char)b, '\\', 'X', 0 };
		json_push(a, json_str(one));
		json_push(a, json_str(mid));
		/* bytes >= 0x80 alone are never valid UTF-8: U+FFFD */
		uint32_t c = b < 0x80 ? b : 0xfffd;
		uint32_t m[5] = { 'C', '"', c, '\\', 'X' };
		expect_push(e, &c, 1);
		expect_push(e, m, 5);
	}
	/* NUL inside a value, with its length */
	json_push(a, json_str_len("a\0b", 3));
	uint32_t nul[3] = { 'a', 0, 'b' };
	expect_push(e, nul, 3);
	/* json-c reads its own output back, and so does Python */
	json_object *back = json_tokener_parse(json_line(a));
	assert_non_null(back);
	assert_int_equal(json_object_array_length(back), json_object_array_length(e));
	json_object_put(back);
	agrees_and_free(a, e);
}

static void invalid_utf8(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		uint32_t want[6];
		size_t n;
	} cases[] = {
		{ "\xc3\xa9", { 0xe9 }, 1 },                          /* valid é kept */
		{ "\xe2\x82\xac", { 0x20ac }, 1 },                    /* valid € kept */
		{ "\xf0\x9f\x98\x80", { 0x1f600 }, 1 },               /* valid 4-byte kept */
		{ "\xc0\xaf", { 0xfffd, 0xfffd }, 2 },                /* overlong '/' */
		{ "\xe0\x80\xaf", { 0xfffd, 0xfffd, 0xfffd }, 3 },    /* overlong, 3 bytes */
		{ "\xed\xa0\x80", { 0xfffd, 0xfffd, 0xfffd }, 3 },    /* a surrogate */
		{ "\xf4\x90\x80\x80", { 0xfffd, 0xfffd, 0xfffd, 0xfffd }, 4 }, /* > U+10FFFF */
		{ "\xc3", { 0xfffd }, 1 },                            /* cut short */
		{ "a\xe9z", { 'a', 0xfffd, 'z' }, 3 },                /* Latin-1 é */
		{ "\xe2\x82", { 0xfffd, 0xfffd }, 2 },                /* cut 3-byte */
	};
	json_object *a = json_arr(), *e = json_arr();
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		json_push(a, json_str(cases[i].in));
		expect_push(e, cases[i].want, cases[i].n);
	}
	agrees_and_free(a, e);
	assert_null(json_str(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_byte),
		cmocka_unit_test(invalid_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
