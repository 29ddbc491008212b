/*
 * json_out.c - JSON output through json-c, with every string made valid
 * UTF-8 first (json_out.h says why and how).
 */
#include "json_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0 when the
 * byte at p does not start one (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;          /* overlong below */
		else if (p[0] == 0xed)
			hi = 0x9f;          /* surrogates above */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;          /* above U+10FFFF */
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

json_object *json_str_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	/* Worst case: every byte becomes the 3 bytes of U+FFFD. */
	char *buf = xmalloc(3 * n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (k) {
			memcpy(buf + o, p + i, k);
			o += k;
			i += k;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	json_object *j = json_object_new_string_len(buf, (int)o);
	free(buf);
	if (!j)
		die("out of memory");
	return j;
}

json_object *json_str(const char *s)
{
	return s ? json_str_len(s, strlen(s)) : NULL;
}

json_object *json_int(int64_t v)
{
	json_object *j = json_object_new_int64(v);
	if (!j)
		die("out of memory");
	return j;
}

json_object *json_obj(void)
{
	json_object *j = json_object_new_object();
	if (!j)
		die("out of memory");
	return j;
}

json_object *json_arr(void)
{
	json_object *j = json_object_new_array();
	if (!j)
		die("out of memory");
	return j;
}

void json_set(json_object *o, const char *key, json_object *v)
{
	/* Keys may be values too (stats' modalities): made valid the same way. */
	json_object *k = json_str(key);
	if (json_object_object_add(o, json_object_get_string(k), v))
		die("out of memory");
	json_object_put(k);
}

void json_push(json_object *a, json_object *v)
{
	if (json_object_array_add(a, v))
		die("out of memory");
}

void json_print(json_object *o)
{
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!t)
		die("out of memory");
	fputs(t, stdout);
	fputc('\n', stdout);
	json_object_put(o);
}

const char *json_line(json_object *o)
{
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!t)
		die("out of memory");
	return t;
}
