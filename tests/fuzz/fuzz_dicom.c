/*
 * fuzz_dicom.c - libFuzzer target: dcm_scan() on arbitrary bytes.
 *
 * The scanner promises never to read outside [buf, buf + len), whatever the
 * bytes.  The input is copied into a buffer of exactly its size, so
 * AddressSanitizer catches a read one byte past the end.  On success the
 * reported pixel range must lie inside the buffer (or be 0 for deflated
 * files), and every text attribute must be NUL-terminated.
 *
 * The element iterator gets the same bytes in each of the four encodings,
 * entering every sequence and item: each element must lie inside the range
 * walked and end after it starts (so a walk always moves on), and a failed
 * step must leave a reason and not move.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dicom.h"

static void check_str(const char *s, size_t size)
{
	if (!memchr(s, '\0', size))
		abort();
}

/* Elements visited per input, so that deep nests stay cheap to fuzz. */
#define WALK_BUDGET 20000

static void walk(struct dcm_iter *it, int *budget)
{
	while (!dcm_iter_done(it) && *budget > 0) {
		struct dcm_element e;
		size_t before = it->pos;
		(*budget)--;
		if (dcm_iter_next(it, &e) != DCM_OK) {
			if (it->pos != before || !it->err[0] ||
			    !memchr(it->err, '\0', sizeof(it->err)))
				abort();
			return;
		}
		if (e.offset != before || e.end <= e.offset || e.end > it->len ||
		    e.value_offset > e.end || it->pos != e.end)
			abort();
		if (e.value_length == DCM_UNDEFINED_LENGTH || e.tag == DCM_TAG_ITEM ||
		    strcmp(e.vr, "SQ") == 0) {
			struct dcm_iter child;
			if (dcm_iter_enter(it, &e, &child) == DCM_OK)
				walk(&child, budget);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct dcm_info info;
	char err[200];
	int st = dcm_scan(buf, size, &info, err, sizeof(err));
	check_str(err, sizeof(err));
	if (st == DCM_OK) {
		check_str(info.transfer_syntax, sizeof(info.transfer_syntax));
		check_str(info.patient_id, sizeof(info.patient_id));
		check_str(info.patient_name, sizeof(info.patient_name));
		check_str(info.study_uid, sizeof(info.study_uid));
		check_str(info.series_uid, sizeof(info.series_uid));
		check_str(info.sop_instance_uid, sizeof(info.sop_instance_uid));
		check_str(info.study_description, sizeof(info.study_description));
		check_str(info.series_description, sizeof(info.series_description));
		check_str(info.referring_physician, sizeof(info.referring_physician));
		if (!info.sop_instance_uid[0] || !info.study_uid[0] || !info.series_uid[0])
			abort();   /* the scanner rejects files without them */
		if (info.pixel_tag && info.syntax != DCM_SYNTAX_DEFLATED) {
			/* the ingest splits the file at these offsets */
			if (info.pixel_element_offset > info.pixel_value_offset ||
			    info.pixel_value_offset > size ||
			    info.pixel_value_length > size - info.pixel_value_offset)
				abort();
		}
	}
	for (int mode = 0; mode < 4; mode++) {
		struct dcm_iter it;
		int budget = WALK_BUDGET;
		size_t start = size >= 132 && memcmp(buf + 128, "DICM", 4) == 0 ? 132 : 0;
		dcm_iter_init(&it, buf, size, start, mode & 1, mode >> 1);
		walk(&it, &budget);
	}
	free(buf);
	return 0;
}
