/*
 * common.c - what the reference codecs share: bit depth, frames, cleanup.
 */
#include "refs.h"

#include <stdlib.h>
#include <string.h>

int ref_bit_depth(const struct ref_image *im)
{
	unsigned all = 0;
	if (im->layout.bytes_per_sample == 2) {
		for (size_t i = 0; i + 1 < im->pix_len; i += 2)
			all |= (unsigned)im->pix[i] | (unsigned)im->pix[i + 1] << 8;
	} else {
		for (size_t i = 0; i < im->pix_len; i++)
			all |= im->pix[i];
	}
	int bits = 2;   /* JPEG-LS takes 2..16 */
	while (bits < 16 && (all >> bits))
		bits++;
	return bits;
}

int ref_signed_bit_depth(const struct ref_image *im)
{
	int lo = 0, hi = 0;
	for (size_t i = 0; i + 1 < im->pix_len; i += im->layout.bytes_per_sample) {
		int v = im->layout.bytes_per_sample == 2 ?
			(int16_t)(uint16_t)(im->pix[i] | im->pix[i + 1] << 8) :
			(int8_t)im->pix[i];
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	int bits = 2;
	while (bits < 16 && (lo < -(1 << (bits - 1)) || hi > (1 << (bits - 1)) - 1))
		bits++;
	return bits;
}

const uint8_t *ref_frame(const struct ref_image *im, uint32_t f, size_t *len)
{
	const struct codec_layout *l = &im->layout;
	size_t n = (size_t)l->bytes_per_sample * l->samples_per_pixel *
		   l->columns * l->rows;
	*len = n;
	return im->pix + (size_t)f * n;
}

void ref_series_clear(struct ref_series *s)
{
	for (int i = 0; i < s->n; i++) {
		free(s->im[i].enc);
		s->im[i].enc = NULL;
		s->im[i].enc_len = 0;
	}
	free(s->enc);
	s->enc = NULL;
	s->enc_len = 0;
}
