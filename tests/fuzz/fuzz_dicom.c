/*
 * fuzz_dicom.c - libFuzzer target: dcm_scan() on arbitrary bytes.
 *
 * The scanner promises never to read outside [buf, buf + len), whatever the
 * bytes.  The input is copied into a buffer of exactly its size, so
 * AddressSanitizer catches a read one byte past the end.  On success the
 * reported pixel range must lie inside the buffer (or be 0 for deflated
 * files), and every text attribute must be NUL-terminated.
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
	free(buf);
	return 0;
}
