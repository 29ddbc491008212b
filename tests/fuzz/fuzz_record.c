/*
 * fuzz_record.c - libFuzzer target: record_decode(), tombstone_decode(),
 * blob_header_decode() and blob_file_parse() on arbitrary bytes (the payloads of pack entries
 * whose checksum matched: a writer bug or a checksum collision must still
 * not make reindex read out of bounds).
 *
 * A record that decodes must re-encode, and the re-encoding must be a fixed
 * point: encode(decode(encode(decode(x)))) == encode(decode(x)).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);

	int64_t id;
	(void)tombstone_decode(buf, size, &id);
	struct blob_header h;
	int hl = blob_header_decode(buf, size, &h);
	if (hl >= 0 && (size_t)hl + h.enc_size != size)
		abort();

	/* the same bytes as a blob file (header, checksums, size) */
	const uint8_t *enc = NULL;
	if (blob_file_parse(buf, size, 1, &h, &enc) == 0 &&
	    (enc < buf || enc > buf + size || h.enc_size != (uint64_t)(buf + size - enc)))
		abort();

	struct instance_record *r = malloc(sizeof(*r));
	struct instance_record *r2 = malloc(sizeof(*r2));
	if (r && r2 && record_decode(buf, size, r) == 0) {
		if (r->nseg > RECORD_MAX_SEGMENTS)
			abort();
		uint8_t *e1 = NULL, *e2 = NULL;
		size_t l1 = 0, l2 = 0;
		if (record_encode(r, &e1, &l1) == 0) {
			if (record_decode(e1, l1, r2) != 0)
				abort();   /* our own encoding must decode */
			if (record_encode(r2, &e2, &l2) == 0 &&
			    (l1 != l2 || memcmp(e1, e2, l1) != 0))
				abort();   /* and be a fixed point */
		}
		free(e1);
		free(e2);
	}
	free(r);
	free(r2);
	free(buf);
	return 0;
}
