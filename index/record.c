/*
 * record.c - instance records and tombstones, encoded and decoded (the
 * format is in record.h).  The attributes are (id, length, bytes) so that
 * fields can be added later without breaking old records.
 */
#include "record.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_VERSION 1
#define RECORD_VERSION_PIECES 2     /* more than RECORD_V1_SEGMENTS segments */
#define RECORD_V1_SEGMENTS 3

/* Numbers are copied in host order: the format says little endian. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "record.c copies integers in host order, the format is little endian");

enum { F_STR, F_INT };
static const struct field {
	uint8_t id;
	uint8_t type;
	size_t off;
	size_t size;
} fields[] = {
#define S(id, m) { id, F_STR, offsetof(struct dcm_info, m), sizeof(((struct dcm_info *)0)->m) }
#define I(id, m) { id, F_INT, offsetof(struct dcm_info, m), sizeof(int32_t) }
	S(1, transfer_syntax), S(2, patient_id), S(3, issuer_of_patient_id),
	S(4, patient_name), S(5, patient_birth_date), S(6, patient_sex),
	S(7, study_uid), S(8, study_date), S(9, study_time),
	S(10, study_description), S(11, accession_number),
	S(12, referring_physician), S(13, series_uid), S(14, modality),
	S(15, series_description), S(16, sop_instance_uid), S(17, sop_class_uid),
	S(18, specific_charset), S(19, photometric), S(20, unclean),
	I(40, series_number), I(41, instance_number), I(42, number_of_frames),
	I(43, rows), I(44, columns), I(45, bits_allocated), I(46, bits_stored),
	I(47, samples_per_pixel), I(48, planar_configuration),
	I(49, pixel_representation), I(50, syntax),
#undef S
#undef I
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int put(struct buf *b, const void *src, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
	return 0;
}

static int put64(struct buf *b, uint64_t v) { return put(b, &v, 8); }
static int put32(struct buf *b, uint32_t v) { return put(b, &v, 4); }

int record_encode(const struct instance_record *r, uint8_t **out, size_t *len)
{
	struct buf b = {0};
	uint32_t ver = r->nseg > RECORD_V1_SEGMENTS ? RECORD_VERSION_PIECES : RECORD_VERSION;
	int e = put32(&b, ver) | put64(&b, (uint64_t)r->instance_id) |
		put64(&b, (uint64_t)r->series_id) | put64(&b, (uint64_t)r->study_id) |
		put64(&b, (uint64_t)r->patient_id) | put32(&b, r->version) |
		put64(&b, (uint64_t)r->stored_at_ns) | put64(&b, r->size) |
		put(&b, r->file_hash, HASH_LEN) | put32(&b, r->nseg);
	for (uint32_t i = 0; i < r->nseg && !e; i++)
		e |= put(&b, r->seg[i].hash, HASH_LEN) | put32(&b, r->seg[i].ordinal) |
		     put32(&b, r->seg[i].kind) | put64(&b, r->seg[i].raw_size);
	for (size_t i = 0; i < NFIELDS && !e; i++) {
		const uint8_t *src = (const uint8_t *)&r->info + fields[i].off;
		uint16_t n = fields[i].type == F_STR ? (uint16_t)strnlen((const char *)src, fields[i].size - 1)
						     : (uint16_t)sizeof(int32_t);
		e |= put(&b, &fields[i].id, 1) | put(&b, &n, 2) | put(&b, src, n);
	}
	if (e) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

struct rd {
	const uint8_t *p;
	size_t len, off;
	int bad;
};

static void get(struct rd *r, void *dst, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = 1;
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, r->p + r->off, n);
	r->off += n;
}

int record_decode(const uint8_t *p, size_t len, struct instance_record *r)
{
	struct rd d = { p, len, 0, 0 };
	uint32_t ver;
	memset(r, 0, sizeof(*r));
	get(&d, &ver, 4);
	get(&d, &r->instance_id, 8);
	get(&d, &r->series_id, 8);
	get(&d, &r->study_id, 8);
	get(&d, &r->patient_id, 8);
	get(&d, &r->version, 4);
	get(&d, &r->stored_at_ns, 8);
	get(&d, &r->size, 8);
	get(&d, r->file_hash, HASH_LEN);
	get(&d, &r->nseg, 4);
	uint32_t max = ver == RECORD_VERSION ? RECORD_V1_SEGMENTS
		       : ver == RECORD_VERSION_PIECES ? RECORD_MAX_SEGMENTS : 0;
	if (d.bad || (ver != RECORD_VERSION && ver != RECORD_VERSION_PIECES) || r->nseg > max)
		return -EBADMSG;
	for (uint32_t i = 0; i < r->nseg; i++) {
		get(&d, r->seg[i].hash, HASH_LEN);
		get(&d, &r->seg[i].ordinal, 4);
		get(&d, &r->seg[i].kind, 4);
		get(&d, &r->seg[i].raw_size, 8);
	}
	r->info.series_number = r->info.instance_number = -1;
	while (!d.bad && d.off < d.len) {
		uint8_t id;
		uint16_t n;
		get(&d, &id, 1);
		get(&d, &n, 2);
		if (d.bad || d.len - d.off < n)
			return -EBADMSG;
		const struct field *f = NULL;
		for (size_t i = 0; i < NFIELDS; i++)
			if (fields[i].id == id)
				f = &fields[i];
		if (f) {   /* unknown fields come from newer writers: skip them */
			uint8_t *dst = (uint8_t *)&r->info + f->off;
			if (f->type == F_STR) {
				size_t m = n < f->size - 1 ? n : f->size - 1;
				memcpy(dst, d.p + d.off, m);
				dst[m] = '\0';
			} else if (n == 4) {
				memcpy(dst, d.p + d.off, 4);
			}
		}
		d.off += n;
	}
	return d.bad ? -EBADMSG : 0;
}

void tombstone_encode(int64_t instance_id, int64_t when_ns, uint8_t out[TOMBSTONE_BYTES])
{
	memcpy(out, &instance_id, 8);
	memcpy(out + 8, &when_ns, 8);
}

int tombstone_decode(const uint8_t *p, size_t len, int64_t *instance_id)
{
	if (len != TOMBSTONE_BYTES)
		return -EBADMSG;
	memcpy(instance_id, p, 8);
	return 0;
}
