/*
 * jpegls.c - CharLS JPEG-LS lossless as a reference: each frame one
 * codestream at the data's real bit depth; colour frames sample-interleaved
 * (planar 0) or one component after another (planar 1), as DICOM's JPEG-LS
 * transfer syntax stores them.
 */
#include "refs.h"

#include <charls/charls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int frame_info(const struct ref_image *im, charls_frame_info *fi)
{
	const struct codec_layout *l = &im->layout;
	if (l->columns > 65535 || l->rows > 65535)
		return -1;
	fi->width = l->columns;
	fi->height = l->rows;
	fi->bits_per_sample = ref_bit_depth(im);
	/* CharLS keeps samples of 8 bits or fewer in bytes: a 16-bit image
	 * of small values (a near-empty slice) is coded with 9 */
	if (l->bytes_per_sample == 2 && fi->bits_per_sample < 9)
		fi->bits_per_sample = 9;
	fi->component_count = (int32_t)l->samples_per_pixel;
	return 0;
}

/* A CharLS encoder takes one frame layout for its life: one per image. */
static int encode_image(struct ref_image *im, char *why, size_t whylen)
{
	const struct codec_layout *l = &im->layout;
	charls_frame_info fi;
	if (frame_info(im, &fi)) {
		snprintf(why, whylen, "jpegls: image larger than 65535");
		return -1;
	}
	charls_interleave_mode mode = l->samples_per_pixel > 1 && !l->planar ?
				      CHARLS_INTERLEAVE_MODE_SAMPLE :
				      CHARLS_INTERLEAVE_MODE_NONE;
	/* frames back to back, each prefixed with its u32 length; each is
	 * encoded into one scratch buffer (the encoder keeps its destination
	 * and is rewound for the next frame) */
	size_t est = 0;
	charls_jpegls_encoder *e = charls_jpegls_encoder_create();
	if (!e) {
		snprintf(why, whylen, "jpegls: out of memory");
		return -1;
	}
	int rc = charls_jpegls_encoder_set_frame_info(e, &fi);
	if (!rc)
		rc = charls_jpegls_encoder_set_interleave_mode(e, mode);
	if (!rc)
		rc = charls_jpegls_encoder_get_estimated_destination_size(e, &est);
	uint8_t *scratch = rc ? NULL : malloc(est);
	size_t len = 0;
	uint8_t *out = rc ? NULL : malloc((est + 4) * l->frames);
	if (!rc && (!scratch || !out)) {
		charls_jpegls_encoder_destroy(e);
		free(scratch);
		free(out);
		snprintf(why, whylen, "jpegls: out of memory");
		return -1;
	}
	if (!rc)
		rc = charls_jpegls_encoder_set_destination_buffer(e, scratch, est);
	for (uint32_t f = 0; f < l->frames && !rc; f++) {
		size_t flen, wrote = 0;
		const uint8_t *src = ref_frame(im, f, &flen);
		if (f > 0)
			rc = charls_jpegls_encoder_rewind(e);
		if (!rc)
			rc = charls_jpegls_encoder_encode_from_buffer(e, src, flen, 0);
		if (!rc)
			rc = charls_jpegls_encoder_get_bytes_written(e, &wrote);
		if (!rc) {
			memcpy(out + len, &(uint32_t){ (uint32_t)wrote }, 4);
			memcpy(out + len + 4, scratch, wrote);
			len += 4 + wrote;
		}
	}
	charls_jpegls_encoder_destroy(e);
	free(scratch);
	if (rc) {
		free(out);
		snprintf(why, whylen, "jpegls encode: %s", charls_get_error_message(rc));
		return -1;
	}
	im->enc = out;
	im->enc_len = len;
	return 0;
}

static int jpegls_encode(struct ref_series *s)
{
	for (int i = 0; i < s->n; i++)
		if (encode_image(&s->im[i], s->why, sizeof(s->why)))
			return -1;
	return 0;
}

/* A CharLS decoder reads one codestream for its life: one per frame. */
static int jpegls_decode(struct ref_series *s, uint8_t *dst)
{
	for (int i = 0; i < s->n; i++) {
		const struct ref_image *im = &s->im[i];
		size_t at = 0;
		for (uint32_t f = 0; f < im->layout.frames; f++) {
			size_t flen;
			uint32_t n;
			ref_frame(im, f, &flen);
			if (im->enc_len - at < 4) {
				snprintf(s->why, sizeof(s->why), "jpegls: truncated");
				return -1;
			}
			memcpy(&n, im->enc + at, 4);
			charls_jpegls_decoder *d = charls_jpegls_decoder_create();
			if (!d) {
				snprintf(s->why, sizeof(s->why), "jpegls: out of memory");
				return -1;
			}
			int rc = charls_jpegls_decoder_set_source_buffer(d, im->enc + at + 4, n);
			if (!rc)
				rc = charls_jpegls_decoder_read_header(d);
			if (!rc)
				rc = charls_jpegls_decoder_decode_to_buffer(d, dst, flen, 0);
			charls_jpegls_decoder_destroy(d);
			if (rc) {
				snprintf(s->why, sizeof(s->why), "jpegls decode: %s",
					 charls_get_error_message(rc));
				return -1;
			}
			dst += flen;
			at += 4 + (size_t)n;
		}
	}
	return 0;
}

const struct ref_codec ref_jpegls = { "jpeg-ls", jpegls_encode, jpegls_decode };
