/* escape.c - see escape.h for the rules. */
#include "escape.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

static int plain(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
	       c == '+' || c == '=' || c == ',';
}

size_t name_escape(const char *in, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	if (!*in) {
		out[0] = '%';
		out[1] = '\0';
		return 1;
	}
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (plain(*p) && !(p == (const unsigned char *)in && *p == '.')) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
	return n;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long name_unescape(const char *in, char *out, size_t outlen)
{
	size_t n = 0;
	if (strcmp(in, "%") == 0) {
		if (outlen)
			out[0] = '\0';
		return 0;
	}
	for (const char *p = in; *p; p++) {
		int c;
		if (*p == '%') {
			int a = hexval(p[1]), b = a < 0 ? -1 : hexval(p[2]);
			if (a < 0 || b < 0)
				return -1;
			c = a << 4 | b;
			p += 2;
		} else if (plain((unsigned char)*p)) {
			c = (unsigned char)*p;
		} else {
			return -1;
		}
		if (n + 1 >= outlen)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (long)n;
}

size_t name_fit(const char *escaped, uint64_t hash, const char *suffix, char *out)
{
	size_t n = strlen(escaped), sl = strlen(suffix);
	if (n + sl <= NAME_COMPONENT_MAX) {
		memcpy(out, escaped, n);
		memcpy(out + n, suffix, sl + 1);
		return n + sl;
	}
	size_t keep = NAME_COMPONENT_MAX - sl - 17;
	if (n > keep) {
		n = keep;
		/* Do not end inside a %XX triple (hex digits are never '%'). */
		if (escaped[n - 1] == '%')
			n -= 1;
		else if (escaped[n - 2] == '%')
			n -= 2;
	}
	memcpy(out, escaped, n);
	n += (size_t)sprintf(out + n, "~%016" PRIx64 "%s", hash, suffix);
	return n;
}

size_t name_component(const char *value, const char *suffix, char *out)
{
	size_t vl = strlen(value);
	char small[NAME_COMPONENT_MAX + 1];
	/* Short values (all valid UIDs and IDs) escape on the stack. */
	char *esc = 3 * vl + 2 <= sizeof(small) ? small : malloc(3 * vl + 2);
	if (!esc) {
		/* No memory for the escaped form: the hash alone names it. */
		return (size_t)sprintf(out, "~%016" PRIx64 "%s", checksum64(value, vl), suffix);
	}
	name_escape(value, esc);
	size_t n = name_fit(esc, checksum64(value, vl), suffix, out);
	if (esc != small)
		free(esc);
	return n;
}
