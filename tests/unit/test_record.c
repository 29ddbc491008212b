/*
 * test_record.c - instance records (record.h): what is encoded decodes to
 * the same record, with values as long as their fields allow, any bytes in
 * them, and 0 to RECORD_MAX_SEGMENTS segments; a record cut short, with a
 * wrong version, too many segments or a length past its end is refused
 * (-EBADMSG), and no damage makes the decoder read or write out of bounds.
 * Tombstones too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

/* The fixed head: version, four ids, version number, stored_at, size,
 * file hash, segment count; then each segment: hash, ordinal, kind, raw size. */
#define HEAD_BYTES (4 + 4 * 8 + 4 + 8 + 8 + HASH_LEN + 4)
#define NSEG_OFFSET (HEAD_BYTES - 4)
#define SEGMENT_BYTES (HASH_LEN + 4 + 4 + 8)

/* Fill a string field of n bytes with a value of len bytes (len < n) made
 * of every byte value but 0, starting at first. */
static void fill(char *field, size_t n, size_t len, unsigned first)
{
	assert_true(len < n);
	for (size_t i = 0; i < len; i++)
		field[i] = (char)(1 + (first + i) % 255);
	field[len] = '\0';
}

/* A record with every field set, each string as long as its field holds
 * (so any bytes and the longest values go through), and nseg segments. */
static void full_record(struct instance_record *r, uint32_t nseg)
{
	memset(r, 0, sizeof(*r));
	r->instance_id = 0x0102030405060708LL;
	r->series_id = 42;
	r->study_id = 7;
	r->patient_id = INT64_MAX;
	r->version = 300;
	r->stored_at_ns = 1764460800123456789LL;
	r->size = (1ULL << 40) + 3;
	for (int i = 0; i < HASH_LEN; i++)
		r->file_hash[i] = (uint8_t)(0xF0 + i);
	r->nseg = nseg;
	for (uint32_t s = 0; s < nseg; s++) {
		memset(r->seg[s].hash, (int)(0x10 * (s + 1)), HASH_LEN);
		r->seg[s].ordinal = s * 7;
		r->seg[s].kind = s;
		r->seg[s].raw_size = 1000000007ULL * (s + 1);
	}
	struct dcm_info *d = &r->info;
	fill(d->transfer_syntax, sizeof(d->transfer_syntax), sizeof(d->transfer_syntax) - 1, 1);
	fill(d->patient_id, sizeof(d->patient_id), sizeof(d->patient_id) - 1, 2);
	fill(d->issuer_of_patient_id, sizeof(d->issuer_of_patient_id), 100, 3);
	fill(d->patient_name, sizeof(d->patient_name), sizeof(d->patient_name) - 1, 4);
	fill(d->patient_birth_date, sizeof(d->patient_birth_date), 8, 5);
	fill(d->patient_sex, sizeof(d->patient_sex), 1, 6);
	fill(d->study_uid, sizeof(d->study_uid), sizeof(d->study_uid) - 1, 7);
	fill(d->study_date, sizeof(d->study_date), 8, 8);
	fill(d->study_time, sizeof(d->study_time), 13, 9);
	fill(d->study_description, sizeof(d->study_description), sizeof(d->study_description) - 1, 10);
	fill(d->accession_number, sizeof(d->accession_number), 16, 11);
	fill(d->referring_physician, sizeof(d->referring_physician), 64, 12);
	fill(d->series_uid, sizeof(d->series_uid), sizeof(d->series_uid) - 1, 13);
	fill(d->modality, sizeof(d->modality), 2, 14);
	fill(d->series_description, sizeof(d->series_description), 200, 15);
	fill(d->sop_instance_uid, sizeof(d->sop_instance_uid), sizeof(d->sop_instance_uid) - 1, 16);
	fill(d->sop_class_uid, sizeof(d->sop_class_uid), 30, 17);
	fill(d->specific_charset, sizeof(d->specific_charset), 20, 18);
	fill(d->photometric, sizeof(d->photometric), 11, 19);
	fill(d->unclean, sizeof(d->unclean), sizeof(d->unclean) - 1, 20);
	d->series_number = -5;
	d->instance_number = 123456;
	d->number_of_frames = 2000;
	d->rows = 512;
	d->columns = 511;
	d->bits_allocated = 16;
	d->bits_stored = 12;
	d->samples_per_pixel = 3;
	d->planar_configuration = 1;
	d->pixel_representation = 1;
	d->syntax = 2;
}

/* full_record(r, nseg), encoded: a malloc'd buffer of *len bytes. */
static uint8_t *encode_full(struct instance_record *r, uint32_t nseg, size_t *len)
{
	uint8_t *buf = NULL;
	full_record(r, nseg);
	assert_int_equal(record_encode(r, &buf, len), 0);
	assert_non_null(buf);
	return buf;
}

/* Decodes to the very same record (fields a record does not carry, such
 * as where the pixel data is, stay 0 on both sides). */
static void assert_round_trip(const struct instance_record *r)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	assert_int_equal(record_encode(r, &buf, &len), 0);
	assert_non_null(buf);
	struct instance_record back;
	assert_int_equal(record_decode(buf, len, &back), 0);
	assert_memory_equal(&back, r, sizeof(back));
	free(buf);
}

static void test_round_trip_full_record(void **state)
{
	(void)state;
	static struct instance_record r;
	for (uint32_t nseg = 0; nseg <= RECORD_MAX_SEGMENTS; nseg++) {
		full_record(&r, nseg);
		assert_round_trip(&r);
	}
}

/* Up to 3 segments a record is version 1, as older dcmfs reads it; more
 * (a pixel value stored in pieces) is version 2; a version 1 record that
 * claims more than 3 segments is refused. */
static void test_record_version_follows_segment_count(void **state)
{
	(void)state;
	static struct instance_record r, back;
	size_t len;
	uint32_t ver;
	uint8_t *buf = encode_full(&r, 3, &len);
	memcpy(&ver, buf, 4);
	assert_int_equal(ver, 1);
	free(buf);
	buf = encode_full(&r, 4, &len);
	memcpy(&ver, buf, 4);
	assert_int_equal(ver, 2);
	assert_int_equal(record_decode(buf, len, &back), 0);
	assert_int_equal(back.nseg, 4);
	ver = 1;
	memcpy(buf, &ver, 4);
	assert_int_equal(record_decode(buf, len, &back), -EBADMSG);
	free(buf);
}

static void test_round_trip_small_and_empty_values(void **state)
{
	(void)state;
	static struct instance_record r;
	memset(&r, 0, sizeof(r));
	r.info.series_number = -1;      /* absent, as the scanner says it */
	r.info.instance_number = -1;
	assert_round_trip(&r);
	/* 0x01 sequences that stand for a NUL inside a value (dicom.h), UTF-8,
	 * and bytes >= 0x80 that are not UTF-8. */
	snprintf(r.info.patient_id, sizeof(r.info.patient_id), "AAAA\x01" "0BBBB\x01\x01");
	snprintf(r.info.patient_name, sizeof(r.info.patient_name), "Zo\xc3\xab^\xff\xfe");
	snprintf(r.info.sop_instance_uid, sizeof(r.info.sop_instance_uid), "1.2.3");
	r.nseg = 1;
	r.seg[0].raw_size = 1;
	assert_round_trip(&r);
}

static void test_many_records_differ_in_every_field(void **state)
{
	(void)state;
	/* Records that differ from a base in one head or segment byte each
	 * decode to themselves, not to the base. */
	static struct instance_record base, r, back;
	size_t l0, l1;
	uint8_t *b0 = encode_full(&base, RECORD_MAX_SEGMENTS, &l0), *b1;
	for (size_t i = 0; i < sizeof(base.seg); i += 5) {
		r = base;
		((uint8_t *)r.seg)[i] ^= 0x5A;
		assert_int_equal(record_encode(&r, &b1, &l1), 0);
		assert_int_equal(l1, l0);
		assert_int_equal(record_decode(b1, l1, &back), 0);
		assert_memory_equal(&back, &r, sizeof(r));
		assert_memory_not_equal(b0, b1, l0);
		free(b1);
	}
	free(b0);
}

/* Where the attribute fields start and end: (u8 id, u16 length, bytes). */
static int field_ends(const uint8_t *buf, size_t len, size_t start, size_t *ends, int max)
{
	int n = 0;
	size_t off = start;
	while (off < len && n < max) {
		uint16_t flen;
		memcpy(&flen, buf + off + 1, 2);
		off += 3 + flen;
		ends[n++] = off;
	}
	assert_int_equal(off, len);
	return n;
}

static void test_truncated_records_are_refused(void **state)
{
	(void)state;
	static struct instance_record r, back;
	size_t len;
	uint8_t *buf = encode_full(&r, 2, &len);
	size_t fixed = HEAD_BYTES + 2 * SEGMENT_BYTES;
	assert_true(len > fixed);
	size_t ends[64];
	int nfields = field_ends(buf, len, fixed, ends, 64);
	assert_true(nfields >= 30);
	for (size_t cut = 0; cut < len; cut++) {
		/* A copy of exactly cut bytes, so that a read past it is caught
		 * by the sanitizers. */
		uint8_t *part = malloc(cut ? cut : 1);
		memcpy(part, buf, cut);
		int rc = record_decode(part, cut, &back);
		int at_field_end = cut == fixed;
		for (int i = 0; i < nfields; i++)
			at_field_end |= cut == ends[i];
		if (at_field_end) {
			/* Fields are optional (newer writers add some): a record that
			 * ends between two fields is whole as far as it goes.  The pack
			 * entry's checksum is what notices a record cut there. */
			assert_int_equal(rc, 0);
			assert_int_equal(back.instance_id, r.instance_id);
			assert_int_equal(back.nseg, 2);
		} else {
			if (rc != -EBADMSG)
				print_error("a record cut to %zu of %zu bytes was accepted\n", cut, len);
			assert_int_equal(rc, -EBADMSG);
		}
		free(part);
	}
	free(buf);
}

static void test_corrupted_records_are_refused(void **state)
{
	(void)state;
	static struct instance_record r, back;
	size_t len;
	uint8_t *buf = encode_full(&r, 3, &len);
	uint8_t *bad = malloc(len);

	/* Another record format version. */
	memcpy(bad, buf, len);
	bad[0] ^= 0x02;
	assert_int_equal(record_decode(bad, len, &back), -EBADMSG);

	/* More segments than a record can have. */
	memcpy(bad, buf, len);
	uint32_t nseg = RECORD_MAX_SEGMENTS + 1;
	memcpy(bad + NSEG_OFFSET, &nseg, 4);
	assert_int_equal(record_decode(bad, len, &back), -EBADMSG);
	nseg = UINT32_MAX;
	memcpy(bad + NSEG_OFFSET, &nseg, 4);
	assert_int_equal(record_decode(bad, len, &back), -EBADMSG);

	/* A field whose length runs past the end of the record. */
	size_t first_field = HEAD_BYTES + 3 * SEGMENT_BYTES;
	memcpy(bad, buf, len);
	uint16_t huge = 0xFFFF;
	memcpy(bad + first_field + 1, &huge, 2);
	assert_int_equal(record_decode(bad, len, &back), -EBADMSG);

	free(bad);
	free(buf);
}

static void test_unknown_and_oversized_fields(void **state)
{
	(void)state;
	static struct instance_record r, back;
	size_t len;
	uint8_t *buf = encode_full(&r, 1, &len);
	/* A newer writer's field (unknown id 200) and an over-long modality
	 * (id 14, 300 bytes for a 65-byte field) are appended. */
	size_t extra = 3 + 10 + 3 + 300;
	uint8_t *more = malloc(len + extra);
	memcpy(more, buf, len);
	uint8_t *p = more + len;
	uint16_t n = 10;
	*p++ = 200;
	memcpy(p, &n, 2);
	p += 2;
	memset(p, 'x', 10);
	p += 10;
	n = 300;
	*p++ = 14;
	memcpy(p, &n, 2);
	p += 2;
	memset(p, 'M', 300);
	assert_int_equal(record_decode(more, len + extra, &back), 0);
	/* Everything else as written; the long value cut to its field. */
	assert_string_equal(back.info.sop_instance_uid, r.info.sop_instance_uid);
	assert_int_equal(back.info.rows, r.info.rows);
	assert_int_equal(strlen(back.info.modality), sizeof(back.info.modality) - 1);
	assert_int_equal(back.info.modality[0], 'M');
	free(more);
	free(buf);
}

/* A cheap xorshift, so that the run is the same every time. */
static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_random_damage_never_escapes(void **state)
{
	(void)state;
	static struct instance_record r, back;
	size_t len;
	uint8_t *buf = encode_full(&r, 3, &len);
	uint8_t *bad = malloc(len);
	uint64_t seed = 0x9E3779B97F4A7C15ULL;
	for (int round = 0; round < 20000; round++) {
		memcpy(bad, buf, len);
		int flips = 1 + (int)(next_random(&seed) % 4);
		for (int i = 0; i < flips; i++)
			bad[next_random(&seed) % len] ^= (uint8_t)(1 + next_random(&seed) % 255);
		size_t cut = len - (size_t)(next_random(&seed) % 3 == 0 ? next_random(&seed) % len : 0);
		int rc = record_decode(bad, cut, &back);
		assert_true(rc == 0 || rc == -EBADMSG);
		if (rc == 0) {
			/* Whatever it says, its strings end inside their fields. */
			assert_true(back.nseg <= RECORD_MAX_SEGMENTS);
			assert_true(strlen(back.info.patient_id) < sizeof(back.info.patient_id));
			assert_true(strlen(back.info.unclean) < sizeof(back.info.unclean));
		}
	}
	free(bad);
	free(buf);
}

static void test_tombstones(void **state)
{
	(void)state;
	uint8_t t[TOMBSTONE_BYTES];
	int64_t id = 0;
	tombstone_encode(0x7FFFFFFF12345678LL, 1764460800000000000LL, t);
	assert_int_equal(tombstone_decode(t, sizeof(t), &id), 0);
	assert_int_equal(id, 0x7FFFFFFF12345678LL);
	/* Only a payload of exactly TOMBSTONE_BYTES is one. */
	assert_int_equal(tombstone_decode(t, sizeof(t) - 1, &id), -EBADMSG);
	uint8_t longer[TOMBSTONE_BYTES + 1] = { 0 };
	assert_int_equal(tombstone_decode(longer, sizeof(longer), &id), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_full_record),
		cmocka_unit_test(test_record_version_follows_segment_count),
		cmocka_unit_test(test_round_trip_small_and_empty_values),
		cmocka_unit_test(test_many_records_differ_in_every_field),
		cmocka_unit_test(test_truncated_records_are_refused),
		cmocka_unit_test(test_corrupted_records_are_refused),
		cmocka_unit_test(test_unknown_and_oversized_fields),
		cmocka_unit_test(test_random_damage_never_escapes),
		cmocka_unit_test(test_tombstones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
