/* escape.c - see escape.h for the rules. */
#include "escape.h"

#include <string.h>

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
