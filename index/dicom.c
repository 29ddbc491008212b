/*
 * dicom.c - the streaming DICOM scanner declared in dicom.h.
 *
 * One pass over the element stream: top-level elements are read header by
 * header; values are only looked at for the ~25 attributes we index; nested
 * sequences of defined length are skipped whole (their length checked), and
 * undefined-length ones are walked item by item down to a fixed depth.  The
 * walk stops at the top-level pixel element, so native pixel bytes are never
 * touched.  The same element walk is offered one level at a time as the
 * iterator of dicom.h (dcm_iter_*), so programs that rewrite files step over
 * elements exactly as the scanner does.  Text values go to UTF-8 through
 * charset.h.
 */
#include "dicom.h"
#include "charset.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_DEPTH 64
/* Inflated deflate datasets are scanned from a buffer no bigger than this. */
#define INFLATE_CAP ((size_t)256 << 20)

#define UID_IMPLICIT "1.2.840.10008.1.2"
#define UID_EXPLICIT "1.2.840.10008.1.2.1"
#define UID_BIGEND "1.2.840.10008.1.2.2"
#define UID_DEFLATE "1.2.840.10008.1.2.1.99"

struct scan {
	const uint8_t *buf;
	size_t len;
	size_t base;            /* added to offsets in messages (0 normally) */
	int soft_end;           /* buf is a capped prefix of an inflated stream */
	const char *where;      /* "file" or "inflated dataset" */
	struct dcm_info *info;
	char *err;
	size_t errlen;
	uint32_t too_long;      /* tag of an identifying value too long to keep */
	size_t too_long_len;
};

static int fail(struct scan *s, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct scan *s, int status, const char *fmt, ...)
{
	if (s->err && s->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->err, s->errlen, fmt, ap);
		va_end(ap);
	}
	return status;
}

static inline uint16_t ld16(const uint8_t *p, int be)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return be ? __builtin_bswap16(v) : v;
}

static inline uint32_t ld32(const uint8_t *p, int be)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return be ? __builtin_bswap32(v) : v;
}

static inline uint32_t ld_tag(const uint8_t *p, int be)
{
	return (uint32_t)ld16(p, be) << 16 | ld16(p + 2, be);
}

#define TAGF "(%04x,%04x)"
#define TAGA(t) (unsigned)((t) >> 16), (unsigned)((t) & 0xFFFF)

/* ---- value representations ---- */

static const char *const known_vrs[] = {
	"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO",
	"LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ",
	"SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT",
	"UV",
};

static int vr_known(const uint8_t *p)
{
	for (size_t i = 0; i < sizeof known_vrs / sizeof known_vrs[0]; i++)
		if (p[0] == (uint8_t)known_vrs[i][0] &&
		    p[1] == (uint8_t)known_vrs[i][1])
			return 1;
	return 0;
}

/* VRs whose explicit encoding has 2 reserved bytes and a 32-bit length. */
static int vr_long(const uint8_t *p)
{
	static const char *const l[] = { "OB", "OD", "OF", "OL", "OV", "OW",
		"SQ", "SV", "UC", "UN", "UR", "UT", "UV" };
	for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
		if (p[0] == (uint8_t)l[i][0] && p[1] == (uint8_t)l[i][1])
			return 1;
	/* An unknown uppercase VR is a newer one; all of those are long
	 * (dcmtk assumes the same). */
	return !vr_known(p);
}

static inline int is_upper(uint8_t c)
{
	return c >= 'A' && c <= 'Z';
}

/*
 * Read the element header at pos.  Items and delimiters never carry a VR.
 * In an explicit stream, VR bytes that are not two capitals are read as an
 * implicit header (tag + 32-bit length), as the fallback pydicom uses for
 * implicit items inside explicit files.
 */
static int read_header(struct scan *s, size_t pos, int explicit, int be,
		       struct dcm_element *e, const char *ctx)
{
	const uint8_t *p = s->buf + pos;
	size_t left = s->len - pos;

	if (left < 8)
		return fail(s, DCM_ERR_TRUNCATED,
			    "%s ends inside an element header at offset %zu%s",
			    s->where, s->base + pos, ctx);
	e->offset = pos;
	e->tag = ld_tag(p, be);
	e->vr[0] = 0;
	e->vr_unreadable = 0;
	if (!explicit || (e->tag >> 16) == 0xFFFE) {
		e->length_offset = pos + 4;
		e->value_length = ld32(p + 4, be);
		e->value_offset = pos + 8;
		return DCM_OK;
	}
	if (!is_upper(p[4]) || !is_upper(p[5])) {
		e->vr_unreadable = 1;
		e->length_offset = pos + 4;
		e->value_length = ld32(p + 4, be);
		e->value_offset = pos + 8;
		return DCM_OK;
	}
	e->vr[0] = (char)p[4];
	e->vr[1] = (char)p[5];
	e->vr[2] = 0;
	if (vr_long(p + 4)) {
		if (left < 12)
			return fail(s, DCM_ERR_TRUNCATED,
				    "%s ends inside the header of element " TAGF
				    " at offset %zu%s", s->where, TAGA(e->tag),
				    s->base + pos, ctx);
		e->length_offset = pos + 8;
		e->value_length = ld32(p + 8, be);
		e->value_offset = pos + 12;
	} else {
		e->length_offset = pos + 6;
		e->value_length = ld16(p + 6, be);
		e->value_offset = pos + 8;
	}
	return DCM_OK;
}

/*
 * A value that runs past the end: a cut file (plausible length) or a wrong
 * length (absurd, or read through a bad VR, which means we lost step).
 */
static int past_end(struct scan *s, const struct dcm_element *e, int absurd,
		    const char *ctx)
{
	if (s->soft_end)
		return fail(s, DCM_ERR_DEFLATE,
			    "inflated dataset larger than %zu mib before pixel data",
			    INFLATE_CAP >> 20);
	if (absurd || e->vr_unreadable || e->value_length >= 0x80000000u)
		return fail(s, DCM_ERR_LENGTH,
			    "element " TAGF " length %u runs past end of %s "
			    "(offset %zu, %s size %zu)%s", TAGA(e->tag), e->value_length,
			    s->where, s->base + e->length_offset, s->where,
			    s->base + s->len, ctx);
	return fail(s, DCM_ERR_TRUNCATED,
		    "%s ends inside element " TAGF " (value of %u bytes at offset "
		    "%zu, %s size %zu)%s", s->where, TAGA(e->tag), e->value_length,
		    s->base + e->value_offset, s->where, s->base + s->len, ctx);
}

static inline int fits(const struct scan *s, const struct dcm_element *e)
{
	return e->value_length <= s->len - e->value_offset;
}

/* ---- sequences ---- */

static int walk_item(struct scan *s, size_t pos, int explicit, int be,
		     int depth, size_t *end);

/*
 * Skip the value of an undefined-length element at pos: items up to the
 * sequence delimiter.  Defined-length items are skipped by their length;
 * undefined-length ones are walked element by element.
 */
static int skip_undefined(struct scan *s, const struct dcm_element *owner,
			  int explicit, int be, int depth, size_t *end)
{
	size_t pos = owner->value_offset;

	if (depth > MAX_DEPTH)
		return fail(s, DCM_ERR_BAD_SEQUENCE,
			    "sequences nested deeper than %d at offset %zu",
			    MAX_DEPTH, s->base + owner->offset);
	for (;;) {
		if (s->len - pos < 8) {
			if (s->soft_end)
				return fail(s, DCM_ERR_DEFLATE,
					    "inflated dataset larger than %zu mib before pixel data",
					    INFLATE_CAP >> 20);
			return fail(s, DCM_ERR_TRUNCATED,
				    "%s ends inside sequence " TAGF " (offset %zu) "
				    "before its delimiter, at offset %zu", s->where,
				    TAGA(owner->tag), s->base + owner->offset,
				    s->base + pos);
		}
		uint32_t tag = ld_tag(s->buf + pos, be);
		uint32_t len = ld32(s->buf + pos + 4, be);
		if (tag == DCM_TAG_SEQUENCE_DELIMITER) {
			*end = pos + 8;
			return DCM_OK;
		}
		if (tag != DCM_TAG_ITEM)
			return fail(s, DCM_ERR_BAD_SEQUENCE,
				    "tag " TAGF " at offset %zu where an item of "
				    "sequence " TAGF " (offset %zu) was expected",
				    TAGA(tag), s->base + pos, TAGA(owner->tag),
				    s->base + owner->offset);
		if (len == DCM_UNDEFINED_LENGTH) {
			int rc = walk_item(s, pos + 8, explicit, be, depth + 1,
					   &pos);
			if (rc)
				return rc;
			continue;
		}
		if (len > s->len - pos - 8) {
			struct dcm_element it = { .tag = DCM_TAG_ITEM, .value_length = len,
				.offset = pos, .length_offset = pos + 4,
				.value_offset = pos + 8 };
			return past_end(s, &it, 0, " in a sequence");
		}
		pos += 8 + (size_t)len;
	}
}

/* Walk the elements of an undefined-length item up to its delimiter. */
static int walk_item(struct scan *s, size_t pos, int explicit, int be,
		     int depth, size_t *end)
{
	struct dcm_element e;
	int rc;

	if (depth > MAX_DEPTH)
		return fail(s, DCM_ERR_BAD_SEQUENCE,
			    "sequences nested deeper than %d at offset %zu",
			    MAX_DEPTH, s->base + pos);
	for (;;) {
		rc = read_header(s, pos, explicit, be, &e, " in a sequence item");
		if (rc) {
			if (s->soft_end)
				return fail(s, DCM_ERR_DEFLATE,
					    "inflated dataset larger than %zu mib before pixel data",
					    INFLATE_CAP >> 20);
			return rc;
		}
		if (e.tag == DCM_TAG_ITEM_DELIMITER) {
			*end = e.value_offset;
			return DCM_OK;
		}
		if ((e.tag >> 16) == 0xFFFE)
			return fail(s, DCM_ERR_BAD_SEQUENCE,
				    "unexpected " TAGF " at offset %zu inside an "
				    "item (missing item delimiter)", TAGA(e.tag),
				    s->base + e.offset);
		if (e.value_length == DCM_UNDEFINED_LENGTH) {
			/* UN of undefined length holds implicit VR LE. */
			int un = explicit && strcmp(e.vr, "UN") == 0;
			rc = skip_undefined(s, &e, un ? 0 : explicit,
					    un ? 0 : be, depth + 1, &pos);
			if (rc)
				return rc;
			continue;
		}
		if (!fits(s, &e))
			return past_end(s, &e, 0, " in a sequence item");
		pos = e.value_offset + e.value_length;
	}
}

/* ---- the element iterator (dicom.h): the walk above, one level at a time ---- */

void dcm_iter_init(struct dcm_iter *it, const uint8_t *buf, size_t len,
		   size_t start, int explicit_vr, int big_endian)
{
	memset(it, 0, sizeof *it);
	it->buf = buf;
	it->len = len;
	it->pos = start < len ? start : len;
	it->explicit_vr = explicit_vr;
	it->big_endian = big_endian;
}

int dcm_iter_done(const struct dcm_iter *it)
{
	return it->pos >= it->len;
}

uint32_t dcm_iter_peek_tag(const struct dcm_iter *it)
{
	if (it->len - it->pos < 4)
		return 0;
	return ld_tag(it->buf + it->pos, it->big_endian);
}

int dcm_iter_next(struct dcm_iter *it, struct dcm_element *e)
{
	struct scan s = { .buf = it->buf, .len = it->len, .where = "file",
		.err = it->err, .errlen = sizeof it->err };
	int explicit = it->explicit_vr, be = it->big_endian;
	size_t end;
	int rc;

	it->err[0] = 0;
	rc = read_header(&s, it->pos, explicit, be, e, "");
	if (rc)
		return rc;
	if (e->tag == DCM_TAG_ITEM_DELIMITER || e->tag == DCM_TAG_SEQUENCE_DELIMITER) {
		/* as the walk above: a delimiter's length field is not used */
		end = e->value_offset;
	} else if (e->tag == DCM_TAG_ITEM && e->value_length == DCM_UNDEFINED_LENGTH) {
		rc = walk_item(&s, e->value_offset, explicit, be, it->depth + 1, &end);
	} else if (e->value_length == DCM_UNDEFINED_LENGTH) {
		int un = explicit && strcmp(e->vr, "UN") == 0;
		rc = skip_undefined(&s, e, un ? 0 : explicit, un ? 0 : be,
				    it->depth + 1, &end);
	} else if (!fits(&s, e)) {
		rc = past_end(&s, e, 0, "");
	} else {
		end = e->value_offset + e->value_length;
	}
	if (rc)
		return rc;
	e->end = end;
	it->pos = end;
	return DCM_OK;
}

int dcm_iter_enter(const struct dcm_iter *parent, const struct dcm_element *e,
		   struct dcm_iter *child)
{
	int un = parent->explicit_vr && strcmp(e->vr, "UN") == 0 &&
		e->value_length == DCM_UNDEFINED_LENGTH;

	if (parent->depth + 1 > MAX_DEPTH)
		return DCM_ERR_BAD_SEQUENCE;
	dcm_iter_init(child, parent->buf, e->end, e->value_offset,
		      un ? 0 : parent->explicit_vr, un ? 0 : parent->big_endian);
	child->depth = parent->depth + 1;
	return DCM_OK;
}

int dcm_vr_is_long(const char *vr)
{
	return vr_long((const uint8_t *)vr);
}

/* Trim trailing spaces and NULs (and leading spaces when asked). */
static void trim(const uint8_t **p, size_t *n, int leading)
{
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == 0))
		(*n)--;
	if (leading)
		while (*n && (**p == ' ' || **p == 0)) {
			(*p)++;
			(*n)--;
		}
}

/* ASCII-only values (UI, CS, DA, TM): other bytes read as latin1.
 * Returns 1 when the value was cut to fit. */
static int put_ascii(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	trim(&p, &n, 1);
	return charset_ascii_to_utf8(dst, cap, p, n);
}

static int put_text(struct scan *s, char *dst, size_t cap, const uint8_t *p,
		    size_t n)
{
	trim(&p, &n, 0);
	return charset_text_to_utf8(dst, cap, p, n, s->info->specific_charset);
}

/* An identifying value (dicom.h): 0x00 and 0x01 inside it are mapped to
 * 0x01 '0' and 0x01 0x01 before conversion (both pass every supported
 * charset unchanged), and a value that does not fit is remembered so that
 * the scan fails instead of cutting it. */
static void put_id(struct scan *s, const struct dcm_element *e, char *dst, size_t cap,
		   const uint8_t *p, size_t n, int text)
{
	uint8_t tmp[DCM_ID_MAX];
	size_t m = 0;
	int cut = 0;
	trim(&p, &n, !text);
	for (size_t i = 0; i < n && !cut; i++) {
		int two = p[i] <= 1;
		if (m + 1 + (size_t)two > sizeof(tmp)) {
			cut = 1;
			break;
		}
		if (two) {
			tmp[m++] = 1;
			tmp[m++] = p[i] ? 1 : '0';
		} else {
			tmp[m++] = p[i];
		}
	}
	if (!cut)
		cut = text ? put_text(s, dst, cap, tmp, m) : put_ascii(dst, cap, tmp, m);
	if (cut && !s->too_long) {
		s->too_long = e->tag;
		s->too_long_len = n;
	}
}

/* IS: first value, leading/trailing spaces allowed; def when unparsable. */
static int32_t parse_is(const uint8_t *p, size_t n, int32_t def)
{
	size_t i = 0;
	int neg = 0;
	int64_t v = 0;

	while (i < n && (p[i] == ' ' || p[i] == 0))
		i++;
	if (i < n && (p[i] == '+' || p[i] == '-'))
		neg = p[i++] == '-';
	if (i >= n || p[i] < '0' || p[i] > '9')
		return def;
	while (i < n && p[i] >= '0' && p[i] <= '9') {
		v = v * 10 + (p[i++] - '0');
		if (v > INT32_MAX)
			return def;
	}
	while (i < n && (p[i] == ' ' || p[i] == 0))
		i++;
	if (i < n && p[i] != '\\')
		return def;
	return (int32_t)(neg ? -v : v);
}

static void put_us(int32_t *dst, const uint8_t *p, size_t n, int be)
{
	if (n >= 2)
		*dst = ld16(p, be);
}

/* Keep the value of a top-level attribute that dcm_info reports. */
static void keep_indexed_value(struct scan *s, const struct dcm_element *e, int be)
{
	struct dcm_info *in = s->info;
	const uint8_t *p = s->buf + e->value_offset;
	size_t n = e->value_length;

	switch (e->tag) {
	case 0x00080005: put_ascii(in->specific_charset, sizeof in->specific_charset, p, n); break;
	case 0x00080016: put_ascii(in->sop_class_uid, sizeof in->sop_class_uid, p, n); break;
	case 0x00080018: put_id(s, e, in->sop_instance_uid, sizeof in->sop_instance_uid, p, n, 0); break;
	case 0x00080020: put_ascii(in->study_date, sizeof in->study_date, p, n); break;
	case 0x00080030: put_ascii(in->study_time, sizeof in->study_time, p, n); break;
	case 0x00080050: put_text(s, in->accession_number, sizeof in->accession_number, p, n); break;
	case 0x00080060: put_ascii(in->modality, sizeof in->modality, p, n); break;
	case 0x00080090: put_text(s, in->referring_physician, sizeof in->referring_physician, p, n); break;
	case 0x00081030: put_text(s, in->study_description, sizeof in->study_description, p, n); break;
	case 0x0008103E: put_text(s, in->series_description, sizeof in->series_description, p, n); break;
	case 0x00100010: put_id(s, e, in->patient_name, sizeof in->patient_name, p, n, 1); break;
	case 0x00100020: put_id(s, e, in->patient_id, sizeof in->patient_id, p, n, 1); break;
	case 0x00100021: put_id(s, e, in->issuer_of_patient_id, sizeof in->issuer_of_patient_id, p, n, 1); break;
	case 0x00100030: put_id(s, e, in->patient_birth_date, sizeof in->patient_birth_date, p, n, 0); break;
	case 0x00100040: put_ascii(in->patient_sex, sizeof in->patient_sex, p, n); break;
	case 0x0020000D: put_id(s, e, in->study_uid, sizeof in->study_uid, p, n, 0); break;
	case 0x0020000E: put_id(s, e, in->series_uid, sizeof in->series_uid, p, n, 0); break;
	case 0x00200011: in->series_number = parse_is(p, n, -1); break;
	case 0x00200013: in->instance_number = parse_is(p, n, -1); break;
	case 0x00280002: put_us(&in->samples_per_pixel, p, n, be); break;
	case 0x00280004: put_ascii(in->photometric, sizeof in->photometric, p, n); break;
	case 0x00280006: put_us(&in->planar_configuration, p, n, be); break;
	case 0x00280008: in->number_of_frames = parse_is(p, n, 1); break;
	case 0x00280010: put_us(&in->rows, p, n, be); break;
	case 0x00280011: put_us(&in->columns, p, n, be); break;
	case 0x00280100: put_us(&in->bits_allocated, p, n, be); break;
	case 0x00280101: put_us(&in->bits_stored, p, n, be); break;
	case 0x00280103: put_us(&in->pixel_representation, p, n, be); break;
	default: break;
	}
}

static int may_be_indexed(uint32_t tag)
{
	uint16_t g = tag >> 16;
	return g == 0x0008 || g == 0x0010 || g == 0x0020 || g == 0x0028;
}

/* Native pixel data size implied by the image attributes, or 0. */
static uint64_t expected_pixels(const struct dcm_info *in)
{
	if (in->rows <= 0 || in->columns <= 0 || in->bits_allocated <= 0)
		return 0;
	uint64_t bits = (uint64_t)in->rows * (uint64_t)in->columns *
		(uint64_t)(in->samples_per_pixel > 0 ? in->samples_per_pixel : 1) *
		(uint64_t)(in->number_of_frames > 0 ? in->number_of_frames : 1) *
		(uint64_t)in->bits_allocated;
	return (bits + 7) / 8;
}

/* Walk fragments of encapsulated pixel data up to the sequence delimiter. */
static int walk_fragments(struct scan *s, const struct dcm_element *e, int be,
			  size_t *end)
{
	size_t pos = e->value_offset;
	for (;;) {
		if (s->len - pos < 8) {
			if (s->soft_end) {
				*end = s->len;
				return DCM_OK;
			}
			return fail(s, DCM_ERR_TRUNCATED,
				    "%s ends in encapsulated pixel data " TAGF
				    " at offset %zu before the sequence delimiter "
				    "(%s size %zu)", s->where, TAGA(e->tag),
				    s->base + pos, s->where, s->base + s->len);
		}
		uint32_t tag = ld_tag(s->buf + pos, be);
		uint32_t len = ld32(s->buf + pos + 4, be);
		if (tag == DCM_TAG_SEQUENCE_DELIMITER) {
			*end = pos + 8;
			return DCM_OK;
		}
		if (tag != DCM_TAG_ITEM)
			return fail(s, DCM_ERR_BAD_SEQUENCE,
				    "tag " TAGF " at offset %zu where a fragment "
				    "of pixel data " TAGF " was expected", TAGA(tag),
				    s->base + pos, TAGA(e->tag));
		if (len == DCM_UNDEFINED_LENGTH)
			return fail(s, DCM_ERR_BAD_SEQUENCE,
				    "pixel data fragment at offset %zu has undefined length",
				    s->base + pos);
		if (len > s->len - pos - 8) {
			if (s->soft_end) {
				*end = s->len;
				return DCM_OK;
			}
			return fail(s, DCM_ERR_TRUNCATED,
				    "%s ends inside a pixel data fragment of %u "
				    "bytes at offset %zu (%s size %zu)", s->where,
				    len, s->base + pos, s->where, s->base + s->len);
		}
		pos += 8 + (size_t)len;
	}
}

static int walk_top(struct scan *s, size_t pos, int explicit, int be);

/* After the top-level pixel element at [.., pos): whatever follows must be
 * whole elements, tags ascending past the pixel tag, up to the end of the
 * file.  When not, say why in info->unclean (the scan still succeeds). */
static void check_rest(struct scan *s, size_t pos, int explicit, int be)
{
	struct dcm_info *in = s->info;
	if (s->soft_end || pos >= s->len)
		return;
	struct dcm_info *scratch = malloc(sizeof(*scratch));
	if (!scratch)
		return;
	char why[sizeof in->unclean];
	struct scan t = *s;
	*scratch = *in;
	scratch->pixel_tag = 0;
	t.info = scratch;
	t.err = why;
	t.errlen = sizeof(why);
	why[0] = 0;
	struct dcm_element e;
	int rc = read_header(&t, pos, explicit, be, &e, "");
	if (!rc && e.tag <= in->pixel_tag)
		rc = fail(&t, DCM_ERR_LENGTH, "element " TAGF " at offset %zu is not after the pixel data",
			  TAGA(e.tag), s->base + pos);
	if (!rc)
		rc = walk_top(&t, pos, explicit, be);
	if (!rc && scratch->pixel_tag)
		rc = fail(&t, DCM_ERR_LENGTH, "a second pixel data element " TAGF,
			  TAGA(scratch->pixel_tag));
	if (rc)
		snprintf(in->unclean, sizeof in->unclean, "%zu bytes after the pixel data do not parse: %s",
			 s->len - pos, why);
	free(scratch);
}

/*
 * Walk the top-level dataset from pos.  Returns at the pixel element or at
 * the end of the buffer.  Tags must ascend: a step back means a wrong
 * length made us lose step, and values read from there would be garbage.
 */
static int walk_top(struct scan *s, size_t pos, int explicit, int be)
{
	struct dcm_info *in = s->info;
	struct dcm_element e, prev = { 0 };
	int have_prev = 0;
	int rc;

	while (pos < s->len) {
		rc = read_header(s, pos, explicit, be, &e, "");
		if (rc && s->soft_end)
			return fail(s, DCM_ERR_DEFLATE,
				    "inflated dataset larger than %zu mib before pixel data",
				    INFLATE_CAP >> 20);
		if (rc)
			return rc;
		if (have_prev && e.tag <= prev.tag)
			return fail(s, DCM_ERR_LENGTH,
				    "element " TAGF " at offset %zu out of order "
				    "after " TAGF ": lost step, length %u of "
				    TAGF " (offset %zu) is likely wrong",
				    TAGA(e.tag), s->base + e.offset, TAGA(prev.tag),
				    prev.value_length, TAGA(prev.tag), s->base + prev.length_offset);
		if ((e.tag >> 16) == 0xFFFE)
			return fail(s, DCM_ERR_BAD_SEQUENCE,
				    "item tag " TAGF " at top level at offset %zu",
				    TAGA(e.tag), s->base + e.offset);
		if (e.tag == 0x7FE00010 || e.tag == 0x7FE00008 ||
		    e.tag == 0x7FE00009) {
			in->pixel_tag = e.tag;
			in->pixel_element_offset = e.offset;
			in->pixel_value_offset = e.value_offset;
			if (e.value_length == DCM_UNDEFINED_LENGTH) {
				size_t end = 0;
				in->pixel_encapsulated = 1;
				rc = walk_fragments(s, &e, be, &end);
				if (rc)
					return rc;
				in->pixel_value_length = end - e.value_offset;
				check_rest(s, end, explicit, be);
				return DCM_OK;
			}
			if (!fits(s, &e) && !s->soft_end) {
				uint64_t want = expected_pixels(in);
				int absurd = e.tag == 0x7FE00010 && want &&
					e.value_length != want && e.value_length != want + (want & 1);
				return past_end(s, &e, absurd, "");
			}
			in->pixel_value_length = e.value_length;
			if (fits(s, &e))
				check_rest(s, e.value_offset + e.value_length, explicit, be);
			return DCM_OK;
		}
		if (e.value_length == DCM_UNDEFINED_LENGTH) {
			int un = explicit && strcmp(e.vr, "UN") == 0;
			rc = skip_undefined(s, &e, un ? 0 : explicit, un ? 0 : be,
					    1, &pos);
			if (rc)
				return rc;
		} else {
			if (!fits(s, &e)) {
				/* name the element before: its length may be
				 * what put us here */
				char ctx[96] = "";
				if (have_prev)
					snprintf(ctx, sizeof ctx, "; previous element "
						 TAGF " length %u at offset %zu",
						 TAGA(prev.tag), prev.value_length,
						 s->base + prev.length_offset);
				return past_end(s, &e, 0, ctx);
			}
			if (may_be_indexed(e.tag))
				keep_indexed_value(s, &e, be);
			pos = e.value_offset + e.value_length;
		}
		prev = e;
		have_prev = 1;
	}
	return DCM_OK;
}

/* ---- syntax guessing ---- */

struct guess {
	int explicit, be;
};

/*
 * Is there a plausible first dataset element at pos?  A small even group
 * (meta, identification or patient) whose VR, if any, is real and whose
 * length fits.  Fills the guessed syntax.
 */
static int plausible_first(const struct scan *s, size_t pos, struct guess *g)
{
	const uint8_t *p = s->buf + pos;
	size_t left = s->len - pos;

	if (left < 8)
		return 0;
	uint16_t gle = ld16(p, 0), gbe = ld16(p, 1);
	int explicit = vr_known(p + 4);
	int be = 0;
	if (explicit && gle >= 0x0100 && gbe < gle)
		be = 1;
	uint16_t grp = be ? gbe : gle;
	if (grp < 0x0002 || grp > 0x0028 || (grp & 1))
		return 0;
	uint64_t vlen, hdr;
	if (explicit) {
		if (vr_long(p + 4)) {
			if (left < 12)
				return 0;
			vlen = ld32(p + 8, be);
			hdr = 12;
		} else {
			vlen = ld16(p + 6, be);
			hdr = 8;
		}
	} else {
		vlen = ld32(p + 4, 0);
		hdr = 8;
	}
	if (vlen != DCM_UNDEFINED_LENGTH && vlen > left - hdr)
		return 0;
	g->explicit = explicit;
	g->be = be;
	return 1;
}

/*
 * Meta without a transfer syntax: the file is DICOM, so only the encoding
 * is guessed, from the first element's VR bytes (pydicom's rule).
 */
static int guess_after_meta(const struct scan *s, size_t pos, struct guess *g)
{
	g->explicit = 1;
	g->be = 0;
	if (s->len - pos < 8)
		return 1;
	if (plausible_first(s, pos, g))
		return 1;
	const uint8_t *p = s->buf + pos;
	g->explicit = vr_known(p + 4);
	g->be = g->explicit && ld16(p, 0) >= 0x0100 && ld16(p, 1) < ld16(p, 0);
	uint32_t vlen = g->explicit ? (vr_long(p + 4) ? (s->len - pos >= 12 ?
			ld32(p + 8, g->be) : DCM_UNDEFINED_LENGTH - 1) : ld16(p + 6, g->be)) :
		ld32(p + 4, 0);
	return vlen == DCM_UNDEFINED_LENGTH || vlen <= s->len - pos - 8;
}

static void set_syntax(struct dcm_info *in, int explicit, int be)
{
	in->syntax = !explicit ? DCM_SYNTAX_IMPLICIT_LE :
		be ? DCM_SYNTAX_EXPLICIT_BE : DCM_SYNTAX_EXPLICIT_LE;
}

static int check_uids(struct scan *s)
{
	struct dcm_info *in = s->info;
	if (s->too_long)
		return fail(s, DCM_ERR_TOO_LONG, "element " TAGF " value is %zu bytes, longer than"
			    " the %d dcmfs keeps whole", TAGA(s->too_long), s->too_long_len,
			    DCM_ID_MAX - 1);
	if (!in->sop_instance_uid[0])
		return fail(s, DCM_ERR_NO_SOP_UID, "no sop instance uid (0008,0018)");
	if (!in->study_uid[0])
		return fail(s, DCM_ERR_NO_STUDY_UID, "no study instance uid (0020,000d)");
	if (!in->series_uid[0])
		return fail(s, DCM_ERR_NO_SERIES_UID, "no series instance uid (0020,000e)");
	return DCM_OK;
}

/* ---- deflate ---- */

static int scan_deflated(struct scan *s, size_t pos)
{
	struct dcm_info *in = s->info;
	size_t cap = s->len * 4 < 65536 ? 65536 : s->len * 4;
	if (cap > INFLATE_CAP)
		cap = INFLATE_CAP;
	uint8_t *out = malloc(cap);
	if (!out)
		return fail(s, DCM_ERR_NOMEM, "out of memory inflating %zu bytes", cap);

	z_stream z;
	int zrc = Z_OK, capped = 0;
	memset(&z, 0, sizeof z);
	/* raw deflate per PS3.5 A.5; a zlib header is tolerated on retry */
	for (int attempt = 0; attempt < 2; attempt++) {
		memset(&z, 0, sizeof z);
		if (inflateInit2(&z, attempt ? MAX_WBITS + 32 : -MAX_WBITS) != Z_OK) {
			free(out);
			return fail(s, DCM_ERR_NOMEM, "cannot start inflate");
		}
		z.next_in = (Bytef *)(uintptr_t)(s->buf + pos);
		z.avail_in = (uInt)(s->len - pos > UINT32_MAX ? UINT32_MAX : s->len - pos);
		z.next_out = out;
		z.avail_out = (uInt)cap;
		for (;;) {
			zrc = inflate(&z, Z_NO_FLUSH);
			if (zrc == Z_STREAM_END)
				break;
			if (zrc == Z_BUF_ERROR && z.avail_out == 0) {
				if (cap >= INFLATE_CAP) {
					capped = 1;
					break;
				}
				size_t ncap = cap * 2 > INFLATE_CAP ? INFLATE_CAP : cap * 2;
				uint8_t *n = realloc(out, ncap);
				if (!n) {
					inflateEnd(&z);
					free(out);
					return fail(s, DCM_ERR_NOMEM, "out of memory inflating");
				}
				out = n;
				z.next_out = out + z.total_out;
				z.avail_out = (uInt)(ncap - z.total_out);
				cap = ncap;
				continue;
			}
			if (zrc != Z_OK)
				break;
			if (z.avail_out == 0)
				continue;
			if (z.avail_in == 0) {
				zrc = Z_BUF_ERROR;
				break;
			}
		}
		if (zrc == Z_STREAM_END || capped || z.total_out > 0 || attempt)
			break;
		inflateEnd(&z);
	}
	size_t got = z.total_out;
	inflateEnd(&z);
	if (zrc != Z_STREAM_END && !capped) {
		free(out);
		if (zrc == Z_BUF_ERROR)
			return fail(s, DCM_ERR_TRUNCATED,
				    "deflated dataset at offset %zu ends early "
				    "(%zu bytes inflated)", pos, got);
		return fail(s, DCM_ERR_DEFLATE,
			    "deflated dataset at offset %zu does not inflate: %s",
			    pos, z.msg ? z.msg : "zlib error");
	}

	struct scan d = *s;
	d.buf = out;
	d.len = got;
	d.base = 0;
	d.soft_end = capped;
	d.where = "inflated dataset";
	int rc = DCM_OK;
	if (got)
		rc = walk_top(&d, 0, 1, 0);
	free(out);
	in->pixel_element_offset = 0;
	in->pixel_value_offset = 0;
	in->pixel_value_length = 0;
	return rc;
}

/* ---- entry points ---- */

static void info_init(struct dcm_info *in)
{
	memset(in, 0, sizeof *in);
	in->series_number = -1;
	in->instance_number = -1;
	in->number_of_frames = 1;
	in->samples_per_pixel = 1;
}

/* Read the File Meta group at pos (explicit VR LE); returns end in *end. */
static int read_meta(struct scan *s, size_t pos, size_t *end)
{
	struct dcm_info *in = s->info;
	struct dcm_element e;
	uint32_t prev = 0;
	int rc;

	while (pos < s->len) {
		if (s->len - pos >= 2 && ld16(s->buf + pos, 0) != 0x0002)
			break;
		rc = read_header(s, pos, 1, 0, &e, " in file meta");
		if (rc)
			return rc;
		if ((e.tag >> 16) != 0x0002)
			break;
		if (e.tag <= prev && prev)
			return fail(s, DCM_ERR_BAD_META,
				    "file meta element " TAGF " at offset %zu out of order",
				    TAGA(e.tag), e.offset);
		if (e.value_length == DCM_UNDEFINED_LENGTH)
			return fail(s, DCM_ERR_BAD_META,
				    "file meta element " TAGF " at offset %zu has "
				    "undefined length", TAGA(e.tag), e.offset);
		if (!fits(s, &e))
			return past_end(s, &e, 0, " in file meta");
		if (e.tag == 0x00020010)
			put_ascii(in->transfer_syntax, sizeof in->transfer_syntax,
				  s->buf + e.value_offset, e.value_length);
		prev = e.tag;
		pos = e.value_offset + e.value_length;
	}
	*end = pos;
	return DCM_OK;
}

int dcm_scan(const uint8_t *buf, size_t len, struct dcm_info *info,
	     char *err, size_t errlen)
{
	struct scan s = { .buf = buf, .len = len, .where = "file",
		.info = info, .err = err, .errlen = errlen };
	struct guess g;
	size_t pos = 0;
	int rc;

	info_init(info);
	if (err && errlen)
		err[0] = 0;
	if (len == 0)
		return fail(&s, DCM_ERR_EMPTY, "empty file (0 bytes)");

	if (len >= 132 && memcmp(buf + 128, "DICM", 4) == 0) {
		info->has_preamble = 1;
		pos = 132;
		if (len - pos < 8)
			return fail(&s, DCM_ERR_TRUNCATED,
				    "file ends after the dicm magic at offset %zu "
				    "(file size %zu)", pos, len);
	}
	if (len - pos >= 8 && ld16(buf + pos, 0) == 0x0002 &&
	    (ld16(buf + pos + 2, 0) < 0x0100)) {
		size_t end = pos;
		info->has_meta = 1;
		rc = read_meta(&s, pos, &end);
		if (rc)
			return rc;
		pos = end;
		if (!info->transfer_syntax[0]) {
			/* No transfer syntax: read the dataset if its first
			 * element tells how, otherwise the meta is unusable. */
			if (!guess_after_meta(&s, pos, &g))
				return fail(&s, DCM_ERR_BAD_META,
					    "file meta has no transfer syntax uid "
					    "(0002,0010) and the dataset at offset %zu "
					    "is unreadable", pos);
			set_syntax(info, g.explicit, g.be);
			snprintf(info->transfer_syntax, sizeof info->transfer_syntax,
				 "%s", !g.explicit ? UID_IMPLICIT :
				 g.be ? UID_BIGEND : UID_EXPLICIT);
			rc = walk_top(&s, pos, g.explicit, g.be);
			if (rc && rc != DCM_ERR_NOMEM) {
				char sub[200];
				snprintf(sub, sizeof sub, "%s", err ? err : "");
				return fail(&s, DCM_ERR_BAD_META,
					    "file meta has no transfer syntax uid "
					    "(0002,0010) and the dataset does not "
					    "read as guessed: %s", sub);
			}
			return rc ? rc : check_uids(&s);
		}
		const char *ts = info->transfer_syntax;
		if (strcmp(ts, UID_DEFLATE) == 0) {
			info->syntax = DCM_SYNTAX_DEFLATED;
			rc = scan_deflated(&s, pos);
			return rc ? rc : check_uids(&s);
		}
		int explicit = strcmp(ts, UID_IMPLICIT) != 0;
		int be = strcmp(ts, UID_BIGEND) == 0;
		/* A dataset that contradicts its meta (implicit data under an
		 * explicit UID or the reverse) is read as it is encoded. */
		if (len - pos >= 8 && !be) {
			int vr_ok = vr_known(buf + pos + 4);
			if (explicit && !vr_ok && plausible_first(&s, pos, &g) &&
			    !g.explicit)
				explicit = 0;
			else if (!explicit && vr_ok && plausible_first(&s, pos, &g) &&
				 g.explicit && !g.be)
				explicit = 1;
		}
		set_syntax(info, explicit, be);
		rc = walk_top(&s, pos, explicit, be);
		return rc ? rc : check_uids(&s);
	}

	if (!plausible_first(&s, pos, &g)) {
		if (info->has_preamble)
			return fail(&s, DCM_ERR_NOT_DICOM,
				    "dicm magic followed by no plausible element "
				    "at offset %zu", pos);
		/* Say so when a dataset starts a few bytes in (a stray
		 * prefix): still refused, the bytes are not a dataset. */
		for (size_t k = 1; k < 4 && k + 8 <= len; k++)
			if (plausible_first(&s, k, &g))
				return fail(&s, DCM_ERR_NOT_DICOM,
					    "no dicm magic and no plausible first "
					    "element (one seems to start at offset %zu, "
					    "after %zu stray bytes)", k, k);
		return fail(&s, DCM_ERR_NOT_DICOM,
			    "no dicm magic and no plausible first element "
			    "(first bytes %02x %02x %02x %02x)", buf[0],
			    len > 1 ? buf[1] : 0, len > 2 ? buf[2] : 0,
			    len > 3 ? buf[3] : 0);
	}
	set_syntax(info, g.explicit, g.be);
	snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s",
		 !g.explicit ? UID_IMPLICIT : g.be ? UID_BIGEND : UID_EXPLICIT);
	rc = walk_top(&s, pos, g.explicit, g.be);
	return rc ? rc : check_uids(&s);
}

const char *dcm_strerror(int status)
{
	switch (status) {
	case DCM_OK: return "ok";
	case DCM_ERR_EMPTY: return "empty file";
	case DCM_ERR_NOT_DICOM: return "not DICOM";
	case DCM_ERR_TRUNCATED: return "truncated";
	case DCM_ERR_LENGTH: return "length past end";
	case DCM_ERR_BAD_META: return "bad file meta";
	case DCM_ERR_BAD_SEQUENCE: return "bad sequence";
	case DCM_ERR_DEFLATE: return "deflate error";
	case DCM_ERR_NO_SOP_UID: return "no SOPInstanceUID";
	case DCM_ERR_NO_STUDY_UID: return "no StudyInstanceUID";
	case DCM_ERR_NO_SERIES_UID: return "no SeriesInstanceUID";
	case DCM_ERR_NOMEM: return "out of memory";
	case DCM_ERR_TOO_LONG: return "value too long";
	default: return "unknown error";
	}
}
