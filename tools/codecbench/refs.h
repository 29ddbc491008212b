/*
 * refs.h - reference codecs dcmfs-codecbench measures beside ours, in
 * process, on the same pixels: CharLS JPEG-LS (lossless, the data's real
 * bit depth), OpenJPH HTJ2K (lossless, reversible colour transform for
 * RGB), a plain gradient predictor + zigzag + byte shuffle + one zstd
 * frame over the whole series (what a simple codec reaches), and zstd -1
 * of each image's bytes (no model at all).
 *
 * Each reference encodes a series (the images a run was given) into the
 * images' own buffers (jpegls, htj2k: one codestream per frame, as DICOM
 * stores them) or one buffer for the series (gradzstd), and decodes it all
 * into dst, the images one after another.  Encoded bytes are whatever the
 * reference keeps in its buffers; the caller compares dst with the pixels.
 * Results: 0, or -1 with a one-line reason in why.  Not thread-safe.
 */
#ifndef DCMFS_CODECBENCH_REFS_H
#define DCMFS_CODECBENCH_REFS_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ref_image {
	const uint8_t *pix;             /* native pixels, pix_len bytes */
	size_t pix_len;
	struct codec_layout layout;     /* bytes per sample 1 or 2 */
	int is_signed;                  /* PixelRepresentation 1 (HTJ2K uses it) */
	uint8_t *enc;                   /* this image's encoding (malloc'd) */
	size_t enc_len;
};

struct ref_series {
	struct ref_image *im;
	int n;
	uint8_t *enc;                   /* one encoding of the series (malloc'd) */
	size_t enc_len;
	char why[160];
};

struct ref_codec {
	const char *name;
	int (*encode)(struct ref_series *s);
	int (*decode)(struct ref_series *s, uint8_t *dst);
};

extern const struct ref_codec ref_jpegls, ref_htj2k, ref_gradzstd, ref_zstd1;
/* The experimental bias-corrected Huffman coder (index/codec_huff.h) on
 * the codec's own chunks: a candidate method, not a stored one. */
extern const struct ref_codec ref_biashuff;
/* Per chunk the smaller of it and today's codec: it as one more method. */
extern const struct ref_codec ref_biashuff_or_dcmfs;

/* Bits needed for the largest sample of an image read unsigned (2..16):
 * the real bit depth JPEG-LS is given (it has no signed samples). */
int ref_bit_depth(const struct ref_image *im);

/* Bits needed for every sample of a signed image read as two's complement
 * (2..16): the real bit depth HTJ2K is given for signed data. */
int ref_signed_bit_depth(const struct ref_image *im);

/* Frame f of an image: its first byte and its size in bytes. */
const uint8_t *ref_frame(const struct ref_image *im, uint32_t f, size_t *len);

/* Free every encoding the series holds. */
void ref_series_clear(struct ref_series *s);

#ifdef __cplusplus
}
#endif

#endif
