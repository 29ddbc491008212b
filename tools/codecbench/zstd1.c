/*
 * zstd1.c - plain zstd -1 of each image's bytes as a reference: what a
 * general-purpose compressor makes of the same pixels, with no model.
 */
#include "refs.h"

#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

static int zstd1_encode(struct ref_series *s)
{
	for (int i = 0; i < s->n; i++) {
		struct ref_image *im = &s->im[i];
		size_t bound = ZSTD_compressBound(im->pix_len);
		im->enc = malloc(bound);
		if (!im->enc) {
			snprintf(s->why, sizeof(s->why), "zstd: out of memory");
			return -1;
		}
		size_t r = ZSTD_compress(im->enc, bound, im->pix, im->pix_len, 1);
		if (ZSTD_isError(r)) {
			snprintf(s->why, sizeof(s->why), "zstd: %s", ZSTD_getErrorName(r));
			return -1;
		}
		im->enc_len = r;
	}
	return 0;
}

static int zstd1_decode(struct ref_series *s, uint8_t *dst)
{
	for (int i = 0; i < s->n; i++) {
		const struct ref_image *im = &s->im[i];
		size_t r = ZSTD_decompress(dst, im->pix_len, im->enc, im->enc_len);
		if (ZSTD_isError(r) || r != im->pix_len) {
			snprintf(s->why, sizeof(s->why), "zstd: frame does not decode");
			return -1;
		}
		dst += im->pix_len;
	}
	return 0;
}

const struct ref_codec ref_zstd1 = { "zstd-1", zstd1_encode, zstd1_decode };
