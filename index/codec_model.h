/*
 * codec_model.h - the context model of the context-split form (methods 4, 5
 * of codec_format.h): which of the NCTX token streams each residual goes to.
 *
 * Private to the codec.  A sample's context is the activity around the
 * sample above it, |U-UL| + |UR-U| + |U-UU| + |UL-UUL| + |UR-UUR| (each
 * difference read as signed, 16-bit terms capped at 255, terms outside the
 * row 0), quantised to its bit length capped at 9; 0 on a band's first row.
 * The decoder knows it before it decodes a row, and each stream is its own
 * zstd frame with its own entropy table, fitted to flat areas, noise or
 * edges: that is where the ratio over plain predictor + zstd comes from.
 * SSE2 and AVX2 variants (AVX2 picked at run time) give the same bytes.
 */
#ifndef DCMFS_CODEC_MODEL_H
#define DCMFS_CODEC_MODEL_H

#include "codec_internal.h"

/* Where the token streams of a chunk are written or read. */
struct token_streams {
	uint8_t *tp[NCTX];      /* next token of each context */
	uint8_t *tend[NCTX];    /* end of each context's tokens */
	uint16_t *esc;          /* next escape value */
	uint16_t *esc_end;
	uint8_t *ctx;           /* w contexts */
	uint8_t *tok;           /* w tokens (decoder) */
	uint16_t *tmp;          /* 2 w values for the context sums */
	uint16_t *res;          /* w residuals */
};

/* Point the row buffers of s (contexts, residuals, tokens, sums) at ctx's
 * scratch, sized for rows of g.  0, or -1 when out of memory. */
int codec_model_scratch(struct codec_ctx *ctx, const struct pixel_geom *g,
			struct token_streams *s);

/* Encoder: the residuals of the chunk pix[0..raw_size) at raw offset
 * raw_off (16-bit samples aligned), predictor up or gradient, appended in
 * sample order to their context's stream s->tp[k] (room for every sample in
 * each) or, escaped 16-bit values, to s->esc. */
void codec_model_split(const struct pixel_geom *g, const uint8_t *pix,
		       uint64_t raw_off, size_t raw_size, int up,
		       struct token_streams *s);

/* Decoder: rebuild the chunk into pix (aligned for 16-bit samples) from the
 * streams s->tp[k] (ending at s->tend[k], with at least a row of readable
 * slack after the last) and s->esc (ending at s->esc_end).  0, or -1 when
 * a stream runs out (a corrupt chunk). */
int codec_model_join(const struct pixel_geom *g, uint8_t *pix,
		     uint64_t raw_off, size_t raw_size, int up,
		     struct token_streams *s);

/* Activity context (0..NCTX-1, as above) of every sample of a row from
 * the native rows u1 (above) and u2 (above u1; u1 again on a band's second
 * row) of g; tmp holds 2 w values.  codec_huff.c takes it as its class. */
void codec_model_contexts(const struct pixel_geom *g, const uint8_t *u1,
			  const uint8_t *u2, uint8_t *ctx, uint16_t *tmp);

/* Gradient rebuild of a 16-bit row, as unpredict_row16 (codec_filter.h)
 * with up 0, vectorised for step 1. */
void codec_model_unpredict16(uint16_t *c, const uint16_t *u,
			     const uint16_t *r, size_t w, size_t step);

#endif
