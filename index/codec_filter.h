/*
 * codec_filter.h - predictors and zigzag: pixel samples to small residuals
 * and back, and the plane form (methods 2, 3 of codec_format.h).
 *
 * Private to the codec.  All arithmetic is modulo 2^16 (2^8 for 8-bit
 * samples) on the stored words, so any bit pattern round-trips.
 */
#ifndef DCMFS_CODEC_FILTER_H
#define DCMFS_CODEC_FILTER_H

#include "codec_internal.h"

/* Zigzag: 0, -1, 1, -2, 2 ... to 0, 1, 2, 3, 4 ... (and back). */
static inline uint16_t zz16(uint16_t e)
{
	return (uint16_t)((e << 1) ^ (uint16_t)(0u - (e >> 15)));
}

static inline uint16_t unzz16(uint16_t z)
{
	return (uint16_t)((z >> 1) ^ (uint16_t)(0u - (z & 1u)));
}

static inline uint8_t zz8(uint8_t e)
{
	return (uint8_t)((e << 1) ^ (uint8_t)(0u - (e >> 7)));
}

static inline uint8_t unzz8(uint8_t z)
{
	return (uint8_t)((z >> 1) ^ (uint8_t)(0u - (z & 1u)));
}

/* Prediction of 8-bit sample x of row c from the samples before it and the
 * row above u (NULL on a band's first row): left, up, or gradient. */
static inline uint8_t predict8(const uint8_t *c, const uint8_t *u, size_t x,
			       size_t step, int up)
{
	uint8_t left = x >= step ? c[x - step] : 0;
	if (!u)
		return left;
	if (up || x < step)
		return u[x];
	return (uint8_t)(left + u[x] - u[x - step]);
}

/* Rebuild the 16-bit row c from its unzigzagged residuals r (r may be c
 * itself).  u is the row above, NULL on a band's first row.  With up, each
 * sample is u + r; otherwise a running sum of r along each chain x = k,
 * k + step, k + 2 step ..., plus u when there is a row above. */
static inline void unpredict_row16(uint16_t *c, const uint16_t *u,
				   const uint16_t *r, size_t w, size_t step,
				   int up)
{
	if (u && up) {
		for (size_t x = 0; x < w; x++)
			c[x] = (uint16_t)(u[x] + r[x]);
		return;
	}
	for (size_t k = 0; k < step && k < w; k++) {
		uint16_t acc = 0;
		if (u) {
			for (size_t x = k; x < w; x += step) {
				acc = (uint16_t)(acc + r[x]);
				c[x] = (uint16_t)(acc + u[x]);
			}
		} else {
			for (size_t x = k; x < w; x += step) {
				acc = (uint16_t)(acc + r[x]);
				c[x] = acc;
			}
		}
	}
}

/* M_UP or M_GRADIENT, whichever leaves the smaller residuals on every 8th
 * row of the chunk pix[0..raw_size) at raw offset raw_off (16-bit samples
 * aligned). */
int codec_pick_predictor(const struct pixel_geom *g, const uint8_t *pix,
			 uint64_t raw_off, size_t raw_size);

/* As codec_pick_predictor, and the picked predictor's summed absolute
 * residuals on those rows in *cost (to compare two forms of one chunk). */
int codec_pick_predictor_cost(const struct pixel_geom *g, const uint8_t *pix,
			      uint64_t raw_off, size_t raw_size, uint64_t *cost);

/* Colour differences of a chunk of 3-sample pixels (methods 6, 7):
 * (s0, s1, s2) to (s0 - s1, s1, s2 - s1) from src into dst (raw_size
 * bytes, both aligned for 16-bit samples, not overlapping), and back in
 * place. */
void codec_colour_diff(const struct pixel_geom *g, const uint8_t *src,
		       uint8_t *dst, size_t raw_size);
void codec_colour_undiff(const struct pixel_geom *g, uint8_t *pix,
			 size_t raw_size);

/* Plane form of the chunk pix[0..raw_size) at raw offset raw_off (16-bit
 * samples aligned) with predictor method (M_UP or M_GRADIENT) into
 * planes[0..raw_size): the low bytes of the zigzag residuals, then for
 * 16-bit samples their high bytes. */
void codec_planes_filter(const struct pixel_geom *g, const uint8_t *pix,
			 uint64_t raw_off, size_t raw_size, int method,
			 uint8_t *planes);

/* Inverse of codec_planes_filter: the chunk's samples into pix (raw_size
 * bytes, aligned for 16-bit samples). */
void codec_planes_unfilter(const struct pixel_geom *g, const uint8_t *planes,
			   uint64_t raw_off, size_t raw_size, int method,
			   uint8_t *pix);

#endif
