/*
 * charset.c - DICOM text values to UTF-8 (charset.h).
 *
 * Everything is written through a utf8_sink, which takes whole UTF-8
 * sequences and stops at the first one that does not fit, so the output is
 * valid UTF-8 however it is cut.  Multi-byte sets are gathered into a pending
 * run of bytes of one set and converted by iconv in one call per run.
 */
#include "charset.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

/* A pending run is converted when it is full or its set changes; it only
 * ever holds whole characters, so where it is cut does not change the text. */
#define PENDING_RUN_BYTES 768

struct utf8_sink {
	char *d;
	size_t cap;             /* including the NUL */
	size_t n;
	int full;
};

static void sink_init(struct utf8_sink *o, char *d, size_t cap)
{
	o->d = d;
	o->cap = cap;
	o->n = 0;
	o->full = 0;
	d[0] = 0;
}

/* Append one whole UTF-8 sequence, or nothing once it no longer fits. */
static void sink_put(struct utf8_sink *o, const char *seq, size_t n)
{
	if (o->full || o->n + n + 1 > o->cap) {
		o->full = 1;
		return;
	}
	memcpy(o->d + o->n, seq, n);
	o->n += n;
	o->d[o->n] = 0;
}

static void sink_codepoint(struct utf8_sink *o, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	sink_put(o, b, n);
}

/* Length of a valid UTF-8 sequence at p, or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t k;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		k = 2;
		cp = p[0] & 0x1F;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		k = 3;
		cp = p[0] & 0x0F;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		k = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if ((k == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return k;
}

/* Copy UTF-8, each invalid byte as '?'. */
static void sink_utf8(struct utf8_sink *o, const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n && !o->full) {
		size_t k = utf8_len(p + i, n - i);
		if (!k) {
			sink_put(o, "?", 1);
			i++;
		} else {
			sink_put(o, (const char *)p + i, k);
			i += k;
		}
	}
}

static void sink_latin1(struct utf8_sink *o, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && !o->full; i++)
		sink_codepoint(o, p[i]);
}

/* Convert p[0..n) from an iconv charset; undecodable bytes become '?'. */
static void sink_iconv(struct utf8_sink *o, const char *cs, const uint8_t *p, size_t n)
{
	iconv_t cd = iconv_open("UTF-8", cs);
	if (cd == (iconv_t)-1) {
		sink_utf8(o, p, n);
		return;
	}
	char *in = (char *)(uintptr_t)p;
	size_t inleft = n;
	char tmp[512];
	while (inleft && !o->full) {
		char *op = tmp;
		size_t oleft = sizeof tmp;
		size_t r = iconv(cd, &in, &inleft, &op, &oleft);
		int bad = r == (size_t)-1 && errno != E2BIG;
		sink_utf8(o, (const uint8_t *)tmp, (size_t)(op - tmp));
		if (bad) {
			sink_put(o, "?", 1);
			in++;
			inleft--;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
	}
	iconv_close(cd);
}

static void sink_kana(struct utf8_sink *o, uint8_t b)
{
	if (b >= 0xA1 && b <= 0xDF)
		sink_codepoint(o, 0xFF61 + (uint32_t)(b - 0xA1));
	else
		sink_put(o, "?", 1);
}

/* Single-byte ISO 8859 / TIS charsets by DICOM defined term. */
static const struct { const char *term; const char *iconv; } single_byte_sets[] = {
	{ "ISO_IR 101", "ISO-8859-2" }, { "ISO_IR 109", "ISO-8859-3" },
	{ "ISO_IR 110", "ISO-8859-4" }, { "ISO_IR 144", "ISO-8859-5" },
	{ "ISO_IR 127", "ISO-8859-6" }, { "ISO_IR 126", "ISO-8859-7" },
	{ "ISO_IR 138", "ISO-8859-8" }, { "ISO_IR 148", "ISO-8859-9" },
	{ "ISO_IR 203", "ISO-8859-15" }, { "ISO_IR 166", "TIS-620" },
	{ "GB18030", "GB18030" }, { "GBK", "GBK" },
};

enum g1set { G1_NONE, G1_SINGLE, G1_KANA, G1_KSC, G1_GB };
enum g0set { G0_ASCII, G0_JIS0208, G0_JIS0212 };

struct g1 {
	enum g1set set;
	const char *cs;         /* iconv name for G1_SINGLE */
};

/* Initial G1 set named by an "ISO 2022 IR nnn" or "ISO_IR nnn" term. */
static struct g1 g1_from_term(const char *t)
{
	struct g1 g = { G1_NONE, NULL };
	const char *num = NULL;

	if (strncmp(t, "ISO 2022 IR ", 12) == 0)
		num = t + 12;
	else if (strncmp(t, "ISO_IR ", 7) == 0)
		num = t + 7;
	if (!num)
		return g;
	if (strcmp(num, "100") == 0) {
		g.set = G1_SINGLE;
		g.cs = "ISO-8859-1";
	} else if (strcmp(num, "13") == 0) {
		g.set = G1_KANA;
	} else if (strcmp(num, "149") == 0) {
		g.set = G1_KSC;
	} else if (strcmp(num, "58") == 0) {
		g.set = G1_GB;
	} else {
		for (size_t i = 0; i < sizeof single_byte_sets / sizeof single_byte_sets[0]; i++)
			if (strncmp(single_byte_sets[i].term, "ISO_IR ", 7) == 0 &&
			    strcmp(single_byte_sets[i].term + 7, num) == 0) {
				g.set = G1_SINGLE;
				g.cs = single_byte_sets[i].iconv;
			}
	}
	return g;
}

/* The pending run of bytes in one multi-byte or single-byte charset. */
struct pending_run {
	const char *cs;
	uint8_t b[PENDING_RUN_BYTES];
	size_t n;
};

static void pending_flush(struct utf8_sink *o, struct pending_run *r)
{
	if (r->n)
		sink_iconv(o, r->cs, r->b, r->n);
	r->n = 0;
}

static void pending_add(struct utf8_sink *o, struct pending_run *r, const char *cs,
		    const uint8_t *b, size_t n)
{
	if (r->cs != cs || r->n + n > sizeof r->b)
		pending_flush(o, r);
	r->cs = cs;
	memcpy(r->b + r->n, b, n);
	r->n += n;
}

/* ISO 2022 code extension: follow escape sequences, charset by charset. */
static void sink_iso2022(struct utf8_sink *o, const uint8_t *p, size_t n,
			struct g1 init)
{
	enum g0set g0 = G0_ASCII;
	struct g1 g1 = init;
	struct pending_run r = { .cs = NULL, .n = 0 };
	size_t i = 0;

	while (i < n && !o->full) {
		uint8_t c = p[i];
		if (c == 0x1B) {
			size_t k = n - i;
			const uint8_t *q = p + i;
			size_t used = 0;
			if (k >= 3 && q[1] == '(' && (q[2] == 'B' || q[2] == 'J')) {
				g0 = G0_ASCII;
				used = 3;
			} else if (k >= 3 && q[1] == '$' && (q[2] == 'B' || q[2] == '@')) {
				g0 = G0_JIS0208;
				used = 3;
			} else if (k >= 4 && q[1] == '$' && q[2] == '(' && q[3] == 'D') {
				g0 = G0_JIS0212;
				used = 4;
			} else if (k >= 3 && q[1] == ')' && q[2] == 'I') {
				g1.set = G1_KANA;
				used = 3;
			} else if (k >= 4 && q[1] == '$' && q[2] == ')' && q[3] == 'C') {
				g1.set = G1_KSC;
				used = 4;
			} else if (k >= 4 && q[1] == '$' && q[2] == ')' && q[3] == 'A') {
				g1.set = G1_GB;
				used = 4;
			} else if (k >= 3 && q[1] == '-') {
				static const struct { char f; const char *cs; } m[] = {
					{ 'A', "ISO-8859-1" }, { 'B', "ISO-8859-2" },
					{ 'C', "ISO-8859-3" }, { 'D', "ISO-8859-4" },
					{ 'L', "ISO-8859-5" }, { 'G', "ISO-8859-6" },
					{ 'F', "ISO-8859-7" }, { 'H', "ISO-8859-8" },
					{ 'M', "ISO-8859-9" }, { 'b', "ISO-8859-15" },
					{ 'T', "TIS-620" },
				};
				for (size_t j = 0; j < sizeof m / sizeof m[0]; j++)
					if (q[2] == (uint8_t)m[j].f) {
						g1.set = G1_SINGLE;
						g1.cs = m[j].cs;
						used = 3;
					}
			}
			if (!used) {
				pending_flush(o, &r);
				sink_put(o, "?", 1);
				used = 1;
			}
			i += used;
			continue;
		}
		if (c < 0x80) {
			if (g0 != G0_ASCII && c >= 0x21 && c <= 0x7E &&
			    i + 1 < n && p[i + 1] >= 0x21 && p[i + 1] <= 0x7E) {
				uint8_t b[3];
				size_t bn = 0;
				if (g0 == G0_JIS0212)
					b[bn++] = 0x8F;
				b[bn++] = c | 0x80;
				b[bn++] = p[i + 1] | 0x80;
				pending_add(o, &r, "EUC-JP", b, bn);
				i += 2;
				continue;
			}
			pending_flush(o, &r);
			sink_put(o, (const char *)&c, 1);
			/* Delimiters and control characters go back to the
			 * initial code elements (PS3.5 6.1.2.5.3). */
			if (g0 == G0_ASCII && (c == '^' || c == '=' || c == '\\' ||
					       c < 0x20))
				g1 = init;
			if (c < 0x20)
				g0 = G0_ASCII;
			i++;
			continue;
		}
		switch (g1.set) {
		case G1_SINGLE:
			pending_add(o, &r, g1.cs, &c, 1);
			i++;
			break;
		case G1_KANA:
			pending_flush(o, &r);
			sink_kana(o, c);
			i++;
			break;
		case G1_KSC:
		case G1_GB:
			if (i + 1 < n && p[i + 1] >= 0xA1) {
				pending_add(o, &r, g1.set == G1_KSC ? "EUC-KR" : "EUC-CN",
					p + i, 2);
				i += 2;
			} else {
				pending_flush(o, &r);
				sink_put(o, "?", 1);
				i++;
			}
			break;
		default:
			pending_flush(o, &r);
			sink_codepoint(o, c);
			i++;
			break;
		}
	}
	pending_flush(o, &r);
}

static int all_ascii(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 0x80 || p[i] == 0x1B)
			return 0;
	return 1;
}

/* Convert a text value to UTF-8 per SpecificCharacterSet (as stored).
 * Returns 1 when the value did not fit in cap. */
int charset_text_to_utf8(char *dst, size_t cap, const uint8_t *p, size_t n,
		    const char *scs)
{
	struct utf8_sink o;
	char first[32];
	size_t k = 0;

	if (all_ascii(p, n))
		return charset_ascii_to_utf8(dst, cap, p, n);
	sink_init(&o, dst, cap);
	/* first value; leading/trailing spaces are padding */
	while (*scs == ' ')
		scs++;
	while (scs[k] && scs[k] != '\\' && k < sizeof first - 1) {
		first[k] = scs[k];
		k++;
	}
	while (k && first[k - 1] == ' ')
		k--;
	first[k] = 0;
	/* "ISO-IR 100" is a common misspelling of "ISO_IR 100" */
	if (strncmp(first, "ISO-IR ", 7) == 0)
		first[3] = '_';
	int multi = strchr(scs, '\\') != NULL;

	if (!multi && strncmp(first, "ISO 2022", 8) != 0) {
		if (!first[0] || strcmp(first, "ISO_IR 6") == 0 ||
		    strcmp(first, "ISO_IR 100") == 0) {
			sink_latin1(&o, p, n);
			return o.full;
		}
		if (strcmp(first, "ISO_IR 192") == 0) {
			sink_utf8(&o, p, n);
			return o.full;
		}
		if (strcmp(first, "ISO_IR 13") == 0) {
			for (size_t i = 0; i < n && !o.full; i++) {
				if (p[i] < 0x80)
					sink_put(&o, (const char *)p + i, 1);
				else
					sink_kana(&o, p[i]);
			}
			return o.full;
		}
		for (size_t i = 0; i < sizeof single_byte_sets / sizeof single_byte_sets[0]; i++)
			if (strcmp(first, single_byte_sets[i].term) == 0) {
				sink_iconv(&o, single_byte_sets[i].iconv, p, n);
				return o.full;
			}
		/* unknown term: keep what is valid UTF-8 */
		sink_utf8(&o, p, n);
		return o.full;
	}
	sink_iso2022(&o, p, n, g1_from_term(first));
	return o.full;
}

int charset_ascii_to_utf8(char *dst, size_t cap, const uint8_t *text, size_t n)
{
	struct utf8_sink o;
	sink_init(&o, dst, cap);
	if (all_ascii(text, n)) {
		sink_put(&o, (const char *)text, n < cap - 1 ? n : cap - 1);
		return n > cap - 1;
	}
	sink_latin1(&o, text, n);
	return o.full;
}
