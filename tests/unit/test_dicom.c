/*
 * test_dicom.c - unit tests of the streaming DICOM scanner on buffers built
 * here, element by element.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "dicom.h"

#define UNDEF 0xFFFFFFFFu

struct b {
	uint8_t d[1 << 16];
	size_t n;
	int be;
	int explicit;
};

static void put(struct b *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof b->d);
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void u16(struct b *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(b->be ? v >> 8 : v), (uint8_t)(b->be ? v : v >> 8) };
	put(b, x, 2);
}

static void u32(struct b *b, uint32_t v)
{
	if (b->be) {
		u16(b, (uint16_t)(v >> 16));
		u16(b, (uint16_t)v);
	} else {
		u16(b, (uint16_t)v);
		u16(b, (uint16_t)(v >> 16));
	}
}

static void tag(struct b *b, uint32_t t)
{
	u16(b, (uint16_t)(t >> 16));
	u16(b, (uint16_t)t);
}

static int is_long(const char *vr)
{
	static const char *l[] = { "OB", "OD", "OF", "OL", "OV", "OW", "SQ",
		"SV", "UC", "UN", "UR", "UT", "UV" };
	for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
		if (!strcmp(vr, l[i]))
			return 1;
	return 0;
}

/* Element header in the buffer's current encoding. */
static void hdr(struct b *b, uint32_t t, const char *vr, uint32_t len)
{
	tag(b, t);
	if (!b->explicit) {
		u32(b, len);
	} else if (is_long(vr)) {
		put(b, vr, 2);
		u16(b, 0);
		u32(b, len);
	} else {
		put(b, vr, 2);
		u16(b, (uint16_t)len);
	}
}

/* A text element, padded to even length with pad. */
static void txt(struct b *b, uint32_t t, const char *vr, const char *s)
{
	size_t n = strlen(s);
	hdr(b, t, vr, (uint32_t)(n + (n & 1)));
	put(b, s, n);
	if (n & 1)
		put(b, !strcmp(vr, "UI") ? "" : " ", 1);
}

static void us(struct b *b, uint32_t t, uint16_t v)
{
	hdr(b, t, "US", 2);
	u16(b, v);
}

/* Items and delimiters: tag + 32-bit length, in the current byte order. */
static void item(struct b *b, uint32_t t, uint32_t len)
{
	tag(b, t);
	u32(b, len);
}

static void meta(struct b *b, const char *ts, int preamble)
{
	struct b m = { .explicit = 1 };
	if (preamble) {
		memset(b->d, 0, 128);
		b->n = 128;
		put(b, "DICM", 4);
	}
	hdr(&m, 0x00020001, "OB", 2);
	put(&m, "\0\1", 2);
	txt(&m, 0x00020002, "UI", "1.2.840.10008.5.1.4.1.1.7");
	txt(&m, 0x00020003, "UI", "1.2.3.4.5");
	txt(&m, 0x00020010, "UI", ts);
	struct b g = { .explicit = 1 };
	hdr(&g, 0x00020000, "UL", 4);
	u32(&g, (uint32_t)m.n);
	put(b, g.d, g.n);
	put(b, m.d, m.n);
}

/* Identification and image attributes, in tag order, up to (0028,0103). */
static void ident(struct b *b, const char *name)
{
	txt(b, 0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7");
	txt(b, 0x00080018, "UI", "1.2.3.4.5");
	txt(b, 0x00080060, "CS", "OT");
	txt(b, 0x00100010, "PN", name);
	txt(b, 0x00100020, "LO", "PID42");
	txt(b, 0x0020000D, "UI", "1.2.3.4");
	txt(b, 0x0020000E, "UI", "1.2.3.4.1");
	txt(b, 0x00200011, "IS", " 7");
	txt(b, 0x00200013, "IS", "12 ");
}

static void image(struct b *b, uint16_t rows, uint16_t cols)
{
	us(b, 0x00280002, 1);
	txt(b, 0x00280004, "CS", "MONOCHROME2");
	us(b, 0x00280010, rows);
	us(b, 0x00280011, cols);
	us(b, 0x00280100, 16);
	us(b, 0x00280101, 12);
	us(b, 0x00280103, 0);
}

/* Native pixel data of rows*cols 16-bit samples; returns element offset. */
static size_t pixels(struct b *b, uint16_t rows, uint16_t cols)
{
	size_t off = b->n;
	uint32_t len = (uint32_t)rows * cols * 2;
	hdr(b, 0x7FE00010, "OW", len);
	for (uint32_t i = 0; i < len; i++)
		put(b, (uint8_t[]){ (uint8_t)(i * 7) }, 1);
	return off;
}

static int scan(const struct b *b, struct dcm_info *in, char *err)
{
	/* A copy of exactly n bytes, so ASan catches any read past it. */
	uint8_t *copy = calloc(1, b->n ? b->n : 1);
	memcpy(copy, b->d, b->n);
	int rc = dcm_scan(copy, b->n, in, err, 256);
	free(copy);
	return rc;
}

static struct dcm_info info;
static char err[256];

static void test_explicit_le(void **state)
{
	(void)state;
	static struct b b = { .explicit = 1 };
	b.n = 0;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	ident(&b, "Doe^John");
	image(&b, 4, 3);
	size_t off = pixels(&b, 4, 3);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_string_equal(info.transfer_syntax, "1.2.840.10008.1.2.1");
	assert_int_equal(info.syntax, DCM_SYNTAX_EXPLICIT_LE);
	assert_true(info.has_meta && info.has_preamble);
	assert_string_equal(info.sop_instance_uid, "1.2.3.4.5");
	assert_string_equal(info.study_uid, "1.2.3.4");
	assert_string_equal(info.series_uid, "1.2.3.4.1");
	assert_string_equal(info.patient_name, "Doe^John");
	assert_string_equal(info.patient_id, "PID42");
	assert_string_equal(info.modality, "OT");
	assert_string_equal(info.photometric, "MONOCHROME2");
	assert_int_equal(info.series_number, 7);
	assert_int_equal(info.instance_number, 12);
	assert_int_equal(info.number_of_frames, 1);
	assert_int_equal(info.rows, 4);
	assert_int_equal(info.columns, 3);
	assert_int_equal(info.bits_allocated, 16);
	assert_int_equal(info.bits_stored, 12);
	assert_int_equal(info.pixel_tag, 0x7FE00010);
	assert_int_equal(info.pixel_element_offset, off);
	assert_int_equal(info.pixel_value_offset, off + 12);
	assert_int_equal(info.pixel_value_length, 24);
	assert_int_equal(info.pixel_encapsulated, 0);
}

static void test_implicit_le(void **state)
{
	(void)state;
	static struct b b = { .explicit = 1 };
	b.n = 0;
	meta(&b, "1.2.840.10008.1.2", 1);
	b.explicit = 0;
	ident(&b, "Doe^Jane");
	image(&b, 2, 2);
	size_t off = pixels(&b, 2, 2);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_int_equal(info.syntax, DCM_SYNTAX_IMPLICIT_LE);
	assert_string_equal(info.patient_name, "Doe^Jane");
	assert_int_equal(info.rows, 2);
	assert_int_equal(info.pixel_element_offset, off);
	assert_int_equal(info.pixel_value_offset, off + 8);
	assert_int_equal(info.pixel_value_length, 8);
}

static void test_explicit_be(void **state)
{
	(void)state;
	static struct b b = { .explicit = 1 };
	b.n = 0;
	meta(&b, "1.2.840.10008.1.2.2", 1);
	b.be = 1;
	ident(&b, "Big^Endian");
	image(&b, 0x0102, 3);
	size_t off = pixels(&b, 0x0102, 3);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_int_equal(info.syntax, DCM_SYNTAX_EXPLICIT_BE);
	assert_int_equal(info.rows, 0x0102);
	assert_int_equal(info.columns, 3);
	assert_int_equal(info.bits_allocated, 16);
	assert_int_equal(info.pixel_element_offset, off);
	assert_int_equal(info.pixel_value_length, 0x0102 * 3 * 2);
}

static void test_no_meta(void **state)
{
	(void)state;
	static struct b b;
	/* raw implicit, raw explicit, meta without preamble */
	for (int mode = 0; mode < 3; mode++) {
		memset(&b, 0, sizeof b);
		b.explicit = mode != 0;
		if (mode == 2)
			meta(&b, "1.2.840.10008.1.2.1", 0);
		txt(&b, 0x00080005, "CS", "ISO_IR 100");
		ident(&b, "Raw^Set");
		image(&b, 2, 2);
		size_t off = pixels(&b, 2, 2);
		assert_int_equal(scan(&b, &info, err), DCM_OK);
		assert_int_equal(info.has_preamble, 0);
		assert_int_equal(info.has_meta, mode == 2);
		assert_int_equal(info.syntax, mode ? DCM_SYNTAX_EXPLICIT_LE :
				 DCM_SYNTAX_IMPLICIT_LE);
		assert_string_equal(info.transfer_syntax, mode ?
				    "1.2.840.10008.1.2.1" : "1.2.840.10008.1.2");
		assert_string_equal(info.sop_instance_uid, "1.2.3.4.5");
		assert_int_equal(info.pixel_element_offset, off);
	}
}

/* Nested undefined-length sequences, a defined-length item, a UN sequence
 * of undefined length (implicit inside), and a nested SOP Instance UID that
 * must not be taken for the top-level one. */
static void nested(struct b *b, int depth)
{
	hdr(b, 0x00081140, "SQ", UNDEF);
	for (int i = 0; i < 2; i++) {
		item(b, 0xFFFEE000, UNDEF);
		txt(b, 0x00081150, "UI", "9.9.9");
		txt(b, 0x00081155, "UI", "9.9.9.9");
		if (depth > 1)
			nested(b, depth - 1);
		item(b, 0xFFFEE00D, 0);
	}
	/* defined-length item */
	struct b in = { .explicit = b->explicit, .be = b->be };
	txt(&in, 0x00080018, "UI", "8.8.8");
	item(b, 0xFFFEE000, (uint32_t)in.n);
	put(b, in.d, in.n);
	item(b, 0xFFFEE0DD, 0);
}

static void test_nested_sequences(void **state)
{
	(void)state;
	static struct b b;
	for (int explicit = 0; explicit < 2; explicit++) {
		memset(&b, 0, sizeof b);
		b.explicit = 1;
		meta(&b, explicit ? "1.2.840.10008.1.2.1" : "1.2.840.10008.1.2", 1);
		b.explicit = explicit;
		txt(&b, 0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7");
		txt(&b, 0x00080018, "UI", "1.2.3.4.5");
		nested(&b, 5);
		if (explicit) {
			/* UN, undefined length: contents are implicit VR LE */
			hdr(&b, 0x00091010, "UN", UNDEF);
			item(&b, 0xFFFEE000, UNDEF);
			b.explicit = 0;
			txt(&b, 0x00100010, "PN", "Inside^Un");
			hdr(&b, 0x00101002, "SQ", UNDEF);
			item(&b, 0xFFFEE000, UNDEF);
			item(&b, 0xFFFEE00D, 0);
			item(&b, 0xFFFEE0DD, 0);
			b.explicit = 1;
			item(&b, 0xFFFEE00D, 0);
			item(&b, 0xFFFEE0DD, 0);
		}
		txt(&b, 0x00100010, "PN", "Top^Level");
		txt(&b, 0x0020000D, "UI", "1.2.3.4");
		txt(&b, 0x0020000E, "UI", "1.2.3.4.1");
		image(&b, 2, 2);
		size_t off = pixels(&b, 2, 2);
		assert_int_equal(scan(&b, &info, err), DCM_OK);
		assert_string_equal(info.sop_instance_uid, "1.2.3.4.5");
		assert_string_equal(info.patient_name, "Top^Level");
		assert_int_equal(info.pixel_element_offset, off);
	}
}

static void test_depth_limit(void **state)
{
	(void)state;
	static struct b b;
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	txt(&b, 0x00080018, "UI", "1.2.3.4.5");
	for (int i = 0; i < 80; i++) {
		hdr(&b, 0x00081140, "SQ", UNDEF);
		item(&b, 0xFFFEE000, UNDEF);
	}
	for (int i = 0; i < 80; i++) {
		item(&b, 0xFFFEE00D, 0);
		item(&b, 0xFFFEE0DD, 0);
	}
	txt(&b, 0x0020000D, "UI", "1.2.3.4");
	txt(&b, 0x0020000E, "UI", "1.2.3.4.1");
	assert_int_equal(scan(&b, &info, err), DCM_ERR_BAD_SEQUENCE);
	assert_non_null(strstr(err, "deeper"));
}

/* Encapsulated pixel data: BOT item (empty or not) then fragments. */
static size_t encaps(struct b *b, int bot, size_t *vlen)
{
	size_t off = b->n;
	hdr(b, 0x7FE00010, "OB", UNDEF);
	size_t v = b->n;
	if (bot) {
		item(b, 0xFFFEE000, 8);
		u32(b, 0);
		u32(b, 20);
	} else {
		item(b, 0xFFFEE000, 0);
	}
	for (int f = 0; f < 2; f++) {
		item(b, 0xFFFEE000, 12);
		put(b, "\xff\xd8\xff\xe0\xfe\xff\xdd\xe0\0\0\xff\xd9", 12);
	}
	item(b, 0xFFFEE0DD, 0);
	*vlen = b->n - v;
	return off;
}

static void test_encapsulated(void **state)
{
	(void)state;
	static struct b b;
	for (int bot = 0; bot < 2; bot++) {
		memset(&b, 0, sizeof b);
		b.explicit = 1;
		meta(&b, "1.2.840.10008.1.2.4.201", 1);
		ident(&b, "Enc^Aps");
		image(&b, 2, 2);
		size_t vlen;
		size_t off = encaps(&b, bot, &vlen);
		/* trailing padding after the pixel element is not validated */
		put(&b, "\xfc\xff\xfc\xffOB\0\0\xff\xff\xff\x7f", 12);
		assert_int_equal(scan(&b, &info, err), DCM_OK);
		assert_string_equal(info.transfer_syntax, "1.2.840.10008.1.2.4.201");
		assert_int_equal(info.syntax, DCM_SYNTAX_EXPLICIT_LE);
		assert_int_equal(info.pixel_encapsulated, 1);
		assert_int_equal(info.pixel_element_offset, off);
		assert_int_equal(info.pixel_value_offset, off + 12);
		assert_int_equal(info.pixel_value_length, vlen);
		/* drop the sequence delimiter: truncated */
		size_t full = b.n;
		b.n = off + 12 + vlen - 8;
		assert_int_equal(scan(&b, &info, err), DCM_ERR_TRUNCATED);
		b.n = off + 12 + vlen - 12;
		assert_int_equal(scan(&b, &info, err), DCM_ERR_TRUNCATED);
		b.n = full;
	}
}

/* An icon image sequence carrying its own Pixel Data, native and
 * encapsulated, is not the image. */
static void test_icon_not_pixels(void **state)
{
	(void)state;
	static struct b b;
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	ident(&b, "Icon^Seq");
	image(&b, 2, 2);
	hdr(&b, 0x00880200, "SQ", UNDEF);
	item(&b, 0xFFFEE000, UNDEF);
	us(&b, 0x00280010, 64);
	us(&b, 0x00280011, 64);
	hdr(&b, 0x7FE00010, "OB", 4);
	put(&b, "abcd", 4);
	item(&b, 0xFFFEE00D, 0);
	item(&b, 0xFFFEE000, UNDEF);
	size_t vlen;
	encaps(&b, 0, &vlen);
	item(&b, 0xFFFEE00D, 0);
	item(&b, 0xFFFEE0DD, 0);
	size_t off = pixels(&b, 2, 2);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_int_equal(info.rows, 2);
	assert_int_equal(info.pixel_element_offset, off);
	assert_int_equal(info.pixel_value_length, 8);
	assert_int_equal(info.pixel_encapsulated, 0);
}

static int top_boundary(const size_t *bounds, size_t nb, size_t cut)
{
	for (size_t i = 0; i < nb; i++)
		if (bounds[i] == cut)
			return 1;
	return 0;
}

/* Cut a small valid file at every length: never a crash, never OK before
 * the end of the pixel element except on a top-level element boundary after
 * the required UIDs (a complete, shorter dataset with no pixel data). */
static void test_truncate_everywhere(void **state)
{
	(void)state;
	for (int kind = 0; kind < 4; kind++) {
		static struct b b;
		memset(&b, 0, sizeof b);
		b.explicit = 1;
		meta(&b, kind == 1 ? "1.2.840.10008.1.2" : kind == 2 ?
		     "1.2.840.10008.1.2.2" : kind == 3 ?
		     "1.2.840.10008.1.2.4.50" : "1.2.840.10008.1.2.1", 1);
		b.explicit = kind != 1;
		b.be = kind == 2;
		size_t bounds[64], nb = 0;
		txt(&b, 0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7");
		txt(&b, 0x00080018, "UI", "1.2.3.4.5");
		nested(&b, 2);
		txt(&b, 0x00100010, "PN", "Cut^Here");
		txt(&b, 0x0020000D, "UI", "1.2.3.4");
		txt(&b, 0x0020000E, "UI", "1.2.3.4.1");
		bounds[nb++] = b.n;
		txt(&b, 0x00200013, "IS", "3");
		bounds[nb++] = b.n;
		us(&b, 0x00280010, 2);
		bounds[nb++] = b.n;
		us(&b, 0x00280011, 2);
		bounds[nb++] = b.n;
		us(&b, 0x00280100, 16);
		bounds[nb++] = b.n;
		size_t end;
		if (kind == 3) {
			encaps(&b, 1, &end);
		} else {
			pixels(&b, 2, 2);
		}
		end = b.n;
		size_t full = b.n;
		for (size_t cut = 0; cut <= full; cut++) {
			b.n = cut;
			int rc = scan(&b, &info, err);
			if (cut >= end)
				assert_int_equal(rc, DCM_OK);
			else if (top_boundary(bounds, nb, cut))
				assert_true(rc == DCM_OK && info.pixel_tag == 0);
			else if (rc == DCM_OK)
				fail_msg("kind %d cut %zu accepted", kind, cut);
			else
				assert_true(err[0] != 0);
		}
		b.n = full;
	}
}

static void test_lengths(void **state)
{
	(void)state;
	static struct b b;
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	ident(&b, "Len^Gth");
	image(&b, 2, 2);
	size_t off = pixels(&b, 2, 2);
	/* Pixel Data length patched to 0xFFFFFFF0 */
	memcpy(b.d + off + 8, "\xf0\xff\xff\xff", 4);
	assert_int_equal(scan(&b, &info, err), DCM_ERR_LENGTH);
	assert_non_null(strstr(err, "(7fe0,0010) length 4294967280 runs past end"));
	/* a plausible length cut short: truncated */
	memcpy(b.d + off + 8, "\x08\0\0\0", 4);
	b.n -= 4;
	assert_int_equal(scan(&b, &info, err), DCM_ERR_TRUNCATED);
	b.n += 4;
	assert_int_equal(scan(&b, &info, err), DCM_OK);

	/* a 16-bit length too long: the walk lands mid-value and must not
	 * accept what it reads there */
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	txt(&b, 0x00080018, "UI", "1.2.3.4.5");
	size_t pn = b.n;
	txt(&b, 0x00100010, "PN", "Over^Run");
	txt(&b, 0x00100020, "LO", "ID\x06\x00PN\x02\x00XX");
	txt(&b, 0x0020000D, "UI", "1.2.3.4");
	txt(&b, 0x0020000E, "UI", "1.2.3.4.1");
	b.d[pn + 6] = 8 + 8 + 2;
	assert_int_not_equal(scan(&b, &info, err), DCM_OK);
}

static void test_not_dicom(void **state)
{
	(void)state;
	static struct b b;
	memset(&b, 0, sizeof b);
	assert_int_equal(scan(&b, &info, err), DCM_ERR_EMPTY);
	const char *samples[] = {
		"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10",
		"\xff\xd8\xff\xe0\0\x10JFIF\0\1\1\0\0\1\0\1\0\0",
		"\x1f\x8b\x08\0\0\0\0\0\0\3\xed\x9d\x07\x58",
		"This is a plain text file, not DICOM at all.\n",
		"\x01\x02",
	};
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		memset(&b, 0, sizeof b);
		put(&b, samples[i], strlen(samples[i]));
		assert_int_equal(scan(&b, &info, err), DCM_ERR_NOT_DICOM);
	}
	/* magic followed by garbage */
	memset(&b, 0, sizeof b);
	b.n = 128;
	put(&b, "DICM", 4);
	uint32_t x = 12345;
	for (int i = 0; i < 512; i++) {
		x = x * 1103515245 + 12345;
		put(&b, (uint8_t[]){ (uint8_t)(x >> 16) }, 1);
	}
	b.d[132] = 0x31;
	assert_int_equal(scan(&b, &info, err), DCM_ERR_NOT_DICOM);
	/* random buffers of every size never crash */
	for (int len = 0; len < 300; len++) {
		memset(&b, 0, sizeof b);
		for (int i = 0; i < len; i++) {
			x = x * 1103515245 + 12345;
			put(&b, (uint8_t[]){ (uint8_t)(x >> 16) }, 1);
		}
		if (len > 4) {
			b.d[0] = 0x08;
			b.d[1] = 0;
		}
		(void)scan(&b, &info, err);
	}
}

static void test_missing_uids(void **state)
{
	(void)state;
	static struct b b;
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	txt(&b, 0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7");
	assert_int_equal(scan(&b, &info, err), DCM_ERR_NO_SOP_UID);
	txt(&b, 0x00080018, "UI", "1.2.3");
	assert_int_equal(scan(&b, &info, err), DCM_ERR_NO_STUDY_UID);
	txt(&b, 0x0020000D, "UI", "1.2.3.4");
	assert_int_equal(scan(&b, &info, err), DCM_ERR_NO_SERIES_UID);
	txt(&b, 0x0020000E, "UI", "1.2.3.4.1");
	assert_int_equal(scan(&b, &info, err), DCM_OK);
}

static void charset_case(const char *scs, const char *raw, const char *want)
{
	static struct b b;
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	txt(&b, 0x00080005, "CS", scs);
	ident(&b, raw);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_string_equal(info.patient_name, want);
}

static void test_charsets(void **state)
{
	(void)state;
	charset_case("ISO_IR 100", "Buc^J\xe9r\xf4me", "Buc^J\u00e9r\u00f4me");
	charset_case("", "M\xfcller", "M\u00fcller");
	charset_case("ISO_IR 192", "Wang^XiaoDong=\xe7\x8e\x8b", "Wang^XiaoDong=\u738b");
	charset_case("ISO_IR 192", "bad\xff", "bad?");
	charset_case("ISO_IR 144", "\xbb\xee\xda\xe1\xd5\xdc\xd1\xe3\xe0\xd3",
		     "\u041b\u044e\u043a\u0441\u0435\u043c\u0431\u0443\u0440\u0433");
	charset_case("ISO_IR 126", "\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2",
		     "\u0394\u03b9\u03bf\u03bd\u03c5\u03c3\u03b9\u03bf\u03c2");
	charset_case("\\ISO 2022 IR 87",
		     "Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B",
		     "Yamada^Tarou=\u5c71\u7530^\u592a\u90ce");
	charset_case("\\ISO 2022 IR 149",
		     "Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7",
		     "Hong^Gildong=\u6d2a^\u5409\u6d1e");
	/* unknown escape: kept readable, never a failure */
	charset_case("\\ISO 2022 IR 87", "A\x1b%Zb", "A?%Zb");

	/* a name is an identifying value: kept whole in UTF-8 (300 bytes) */
	static char name[400];
	for (int i = 0; i < 150; i++)
		name[i] = (char)0xe9;
	name[150] = 0;
	static struct b b;
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	txt(&b, 0x00080005, "CS", "ISO_IR 100");
	ident(&b, name);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_int_equal(strlen(info.patient_name), 300);
}

/* A dataset that does not parse to its end is accepted but marked unclean;
 * whole elements after the pixel data are clean (issue 7). */
static void test_unclean_end(void **state)
{
	(void)state;
	static struct b b = { .explicit = 1 };
	b.n = 0;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	ident(&b, "Doe^John");
	image(&b, 4, 3);
	pixels(&b, 4, 3);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_string_equal(info.unclean, "");
	txt(&b, 0xFFFAFFFA, "OB", "padding!");   /* DataSetTrailingPadding */
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_string_equal(info.unclean, "");
	put(&b, "\x97\xf4\x5d\x44garbage garbage", 19);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_true(info.unclean[0]);
	assert_int_equal(info.pixel_value_length, 24);
}

/* Identifying values are never cut and an embedded NUL does not end them
 * (issue 7): longer than DCM_ID_MAX - 1 fails the scan; 0x00 -> 0x01 '0',
 * 0x01 -> 0x01 0x01. */
static void test_identity_values(void **state)
{
	(void)state;
	static struct b b;
	struct dcm_info info;
	static char uid[100], name[700];
	/* an 81-character UID (invalid, seen in the wild) stays whole */
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	memset(uid, 0, sizeof uid);
	memcpy(uid, "1.2.3.", 6);
	memset(uid + 6, '7', 75);
	txt(&b, 0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7");
	txt(&b, 0x00080018, "UI", uid);
	txt(&b, 0x0020000D, "UI", "1.2.3.4");
	txt(&b, 0x0020000E, "UI", "1.2.3.4.1");
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_string_equal(info.sop_instance_uid, uid);

	/* a NUL and a 0x01 inside a PatientID */
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	static const char pid[] = { 'A', 'A', 0, 'B', 1, 'C' };
	hdr(&b, 0x00080005, "CS", 10);
	put(&b, "ISO_IR 100", 10);
	hdr(&b, 0x00080018, "UI", 4);
	put(&b, "1.2", 4);
	hdr(&b, 0x00100021, "LO", sizeof pid);
	put(&b, pid, sizeof pid);
	txt(&b, 0x0020000D, "UI", "1.2.3.4");
	txt(&b, 0x0020000E, "UI", "1.2.3.4.1");
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_string_equal(info.issuer_of_patient_id, "AA\x01" "0B\x01\x01" "C");

	/* 600 latin1 bytes are 1200 UTF-8 bytes: too long to keep, refused */
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	txt(&b, 0x00080005, "CS", "ISO_IR 100");
	memset(name, 0xe9, 600);
	name[600] = 0;
	ident(&b, name);
	assert_int_equal(scan(&b, &info, err), DCM_ERR_TOO_LONG);
	assert_non_null(strstr(err, "(0010,0010)"));

	/* an ASCII PatientName of DCM_ID_MAX - 1 bytes is kept whole; one
	 * byte more is refused, not cut */
	static char longname[DCM_ID_MAX + 1];
	for (size_t len = DCM_ID_MAX - 1; len <= DCM_ID_MAX; len++) {
		memset(&b, 0, sizeof b);
		b.explicit = 1;
		meta(&b, "1.2.840.10008.1.2.1", 1);
		memset(longname, 'N', len);
		longname[len] = 0;
		ident(&b, longname);
		int rc = scan(&b, &info, err);
		if (len < DCM_ID_MAX) {
			assert_int_equal(rc, DCM_OK);
			assert_int_equal(strlen(info.patient_name), len);
		} else {
			assert_int_equal(rc, DCM_ERR_TOO_LONG);
		}
	}
}

static void test_deflate(void **state)
{
	(void)state;
	static struct b ds, b;
	memset(&ds, 0, sizeof ds);
	ds.explicit = 1;
	ident(&ds, "Def^Lated");
	image(&ds, 4, 4);
	pixels(&ds, 4, 4);
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1.99", 1);
	z_stream z;
	memset(&z, 0, sizeof z);
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = ds.d;
	z.avail_in = (uInt)ds.n;
	z.next_out = b.d + b.n;
	z.avail_out = (uInt)(sizeof b.d - b.n);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	b.n += z.total_out;
	deflateEnd(&z);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_int_equal(info.syntax, DCM_SYNTAX_DEFLATED);
	assert_string_equal(info.patient_name, "Def^Lated");
	assert_int_equal(info.rows, 4);
	assert_int_equal(info.pixel_tag, 0x7FE00010);
	assert_int_equal(info.pixel_element_offset, 0);
	/* corrupt stream */
	memset(b.d + b.n - z.total_out, 0xff, 8);
	assert_int_not_equal(scan(&b, &info, err), DCM_OK);
}

/* An implicit-encoded element inside an explicit file (non-letter VR
 * bytes) is read with a 32-bit length, like pydicom does. */
static void test_bad_vr_fallback(void **state)
{
	(void)state;
	static struct b b;
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	meta(&b, "1.2.840.10008.1.2.1", 1);
	ident(&b, "Bad^Vr");
	b.explicit = 0;
	txt(&b, 0x00211010, "", "private!");
	b.explicit = 1;
	image(&b, 2, 2);
	size_t off = pixels(&b, 2, 2);
	assert_int_equal(scan(&b, &info, err), DCM_OK);
	assert_int_equal(info.pixel_element_offset, off);
	assert_string_equal(dcm_strerror(DCM_ERR_TRUNCATED), "truncated");
}

/* The element iterator walks what the scanner walks: top-level elements
 * whole (nested sequences, a UN of undefined length holding implicit VR,
 * an unknown VR read as long), and one level down on request. */
static void test_iterator(void **state)
{
	(void)state;
	static struct b b;
	memset(&b, 0, sizeof b);
	b.explicit = 1;
	size_t starts[8], n = 0;
	starts[n++] = b.n;
	txt(&b, 0x00080018, "UI", "1.2.3.4.5");
	starts[n++] = b.n;
	nested(&b, 2);                          /* (0008,1140) SQ, undefined */
	starts[n++] = b.n;
	tag(&b, 0x00091010);                    /* an unknown VR: long */
	put(&b, "ZZ", 2);
	u16(&b, 0);
	u32(&b, 4);
	put(&b, "abcd", 4);
	starts[n++] = b.n;
	hdr(&b, 0x00091020, "UN", UNDEF);       /* implicit VR inside */
	item(&b, 0xFFFEE000, UNDEF);
	b.explicit = 0;
	txt(&b, 0x00100010, "", "Un^Known");
	b.explicit = 1;
	item(&b, 0xFFFEE00D, 0);
	item(&b, 0xFFFEE0DD, 0);
	starts[n++] = b.n;
	size_t vlen;
	encaps(&b, 1, &vlen);                   /* (7FE0,0010), fragments */
	starts[n++] = b.n;

	struct dcm_iter it, seq, itm;
	struct dcm_element e;
	dcm_iter_init(&it, b.d, b.n, 0, 1, 0);
	for (size_t i = 0; i + 1 < n; i++) {
		assert_false(dcm_iter_done(&it));
		uint32_t peek = dcm_iter_peek_tag(&it);
		assert_int_equal(dcm_iter_next(&it, &e), DCM_OK);
		assert_int_equal(e.tag, peek);
		assert_int_equal(e.offset, starts[i]);
		assert_int_equal(e.end, starts[i + 1]);
		if (i == 1) {
			/* the sequence: two undefined-length items, one of
			 * defined length, then the delimiter */
			assert_string_equal(e.vr, "SQ");
			assert_int_equal(e.value_length, DCM_UNDEFINED_LENGTH);
			assert_int_equal(dcm_iter_enter(&it, &e, &seq), DCM_OK);
			uint32_t tags[4];
			int k = 0;
			while (!dcm_iter_done(&seq) && k < 4) {
				struct dcm_element x;
				assert_int_equal(dcm_iter_next(&seq, &x), DCM_OK);
				tags[k++] = x.tag;
				if (k == 1) {
					assert_int_equal(dcm_iter_enter(&seq, &x, &itm), DCM_OK);
					struct dcm_element y;
					assert_int_equal(dcm_iter_next(&itm, &y), DCM_OK);
					assert_int_equal(y.tag, 0x00081150);
					assert_string_equal(y.vr, "UI");
				}
			}
			assert_true(dcm_iter_done(&seq));
			assert_int_equal(k, 4);
			assert_int_equal(tags[0], DCM_TAG_ITEM);
			assert_int_equal(tags[2], DCM_TAG_ITEM);
			assert_int_equal(tags[3], DCM_TAG_SEQUENCE_DELIMITER);
		}
		if (i == 2)
			assert_int_equal(e.value_offset, starts[i] + 12);
		if (i == 3) {
			/* a UN of undefined length is entered as implicit VR */
			assert_int_equal(dcm_iter_enter(&it, &e, &seq), DCM_OK);
			assert_false(seq.explicit_vr);
		}
	}
	assert_int_equal(e.tag, 0x7FE00010);
	assert_true(dcm_iter_done(&it));

	/* cut inside the sequence: an error with a reason, and no step */
	dcm_iter_init(&it, b.d, starts[2] - 3, starts[1], 1, 0);
	assert_int_equal(dcm_iter_next(&it, &e), DCM_ERR_TRUNCATED);
	assert_true(it.err[0] != 0);
	assert_int_equal(it.pos, starts[1]);

	assert_true(dcm_vr_is_long("OB"));
	assert_true(dcm_vr_is_long("UN"));
	assert_true(dcm_vr_is_long("ZZ"));
	assert_false(dcm_vr_is_long("UI"));
	assert_false(dcm_vr_is_long("PN"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_explicit_le),
		cmocka_unit_test(test_implicit_le),
		cmocka_unit_test(test_explicit_be),
		cmocka_unit_test(test_no_meta),
		cmocka_unit_test(test_nested_sequences),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_encapsulated),
		cmocka_unit_test(test_icon_not_pixels),
		cmocka_unit_test(test_truncate_everywhere),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_not_dicom),
		cmocka_unit_test(test_missing_uids),
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_identity_values),
		cmocka_unit_test(test_unclean_end),
		cmocka_unit_test(test_deflate),
		cmocka_unit_test(test_bad_vr_fallback),
		cmocka_unit_test(test_iterator),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
