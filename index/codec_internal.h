/*
 * codec_internal.h - what the codec's files share: the per-thread context
 * and its scratch buffers, and the pixel geometry a layout gives.
 *
 * Private to codec*.c.  The codec is split as zstd splits its library:
 *   codec_format.h   the blob format, byte by byte
 *   codec.c          context, scratch, geometry, messages (this header)
 *   codec_filter.c   predictors, zigzag and the plane form
 *   codec_model.c    the context model and token streams, SSE2/AVX2 variants
 *   codec_encode.c   the encoder: chunking, choosing a method, the table
 *   codec_decode.c   the decoder: struct codec_blob, chunk and range decodes
 */
#ifndef DCMFS_CODEC_INTERNAL_H
#define DCMFS_CODEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "codec.h"
#include "codec_format.h"

enum scratch_slot {
	S_WORDS,        /* aligned 16-bit copy of a chunk */
	S_BYTES,        /* residual planes or token streams */
	S_RANGE,        /* a whole chunk when only part of it is wanted */
	S_ESC,          /* escape values */
	S_ROW,          /* per-row contexts and activities */
	S_COLOUR,       /* colour differences of a chunk (encoder) */
	S_HUFF,         /* codec_huff.c: per-sample arrays and streams */
	S_HUFF_OUT,     /* codec_huff.c: payload (encoder), tables (decoder) */
	NSCRATCH
};

struct codec_ctx {
	ZSTD_CCtx *cc;
	ZSTD_DCtx *dc;
	uint8_t *s[NSCRATCH];   /* scratch buffers, see enum scratch_slot */
	size_t cap[NSCRATCH];
};

/* Scratch buffer `slot` of ctx with room for n bytes (malloc'd, so aligned
 * for any type); its contents do not survive a call for a larger n.
 * NULL when out of memory.  Owned by ctx. */
uint8_t *codec_scratch(struct codec_ctx *ctx, int slot, size_t n);

/* Geometry derived from a layout; valid only when it matches raw_len. */
struct pixel_geom {
	uint32_t bps;           /* bytes per sample: 1 or 2 */
	uint32_t step;          /* samples between a sample and its left neighbour */
	size_t row_samples;     /* samples per row of one image */
	size_t row_bytes;
	size_t img_rows;
	size_t img_bytes;
};

/* Fill *g from l; 0 if l describes exactly raw_len filterable bytes, else
 * -1 (l NULL, unsupported sample size, or sizes that do not match). */
int codec_geom_from_layout(const struct codec_layout *l, uint64_t raw_len,
			   struct pixel_geom *g);

/* Number of rows of the band starting at raw offset `at` (a row start) of
 * a chunk with `left` bytes from there: up to the chunk's end or the end of
 * the image, whichever is first.  Prediction restarts at every band. */
static inline size_t band_rows(const struct pixel_geom *g, uint64_t at,
			       size_t left)
{
	size_t in_img = (size_t)(at % g->img_bytes);
	size_t img_left = g->img_rows - in_img / g->row_bytes;
	size_t rows = left / g->row_bytes;
	return rows < img_left ? rows : img_left;
}

#endif
