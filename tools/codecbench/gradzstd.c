/*
 * gradzstd.c - the plain baseline: gradient predictor (left + up -
 * upper-left; left on an image's first row, up in its first column),
 * zigzag, the low bytes of the whole series then its high bytes, and one
 * zstd -1 frame over all of it.  No chunks: a reader would decode the whole
 * series to get one image.
 */
#include "refs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* Geometry of an image as rows of w samples, `step` from a sample to its
 * left neighbour; planes of planar colour are images of their own. */
struct grid {
	size_t w, step, rows, samples;
	int bytes;
};

static struct grid grid_of(const struct ref_image *im)
{
	const struct codec_layout *l = &im->layout;
	struct grid g;
	g.bytes = (int)l->bytes_per_sample;
	g.samples = im->pix_len / l->bytes_per_sample;
	g.w = l->planar ? l->columns : (size_t)l->columns * l->samples_per_pixel;
	g.step = l->planar ? 1 : l->samples_per_pixel;
	g.rows = l->rows;
	return g;
}

static unsigned load(const uint8_t *p, int bytes, size_t i)
{
	return bytes == 2 ? (unsigned)p[2 * i] | (unsigned)p[2 * i + 1] << 8 : p[i];
}

/* Prediction of sample x of a row at sample index i, row y of its image. */
static inline unsigned predict(const uint8_t *p, const struct grid *g, size_t i,
			       size_t x, size_t y)
{
	if (y == 0)
		return x >= g->step ? load(p, g->bytes, i - g->step) : 0;
	if (x < g->step)
		return load(p, g->bytes, i - g->w);
	return load(p, g->bytes, i - g->step) + load(p, g->bytes, i - g->w) -
	       load(p, g->bytes, i - g->w - g->step);
}

static inline unsigned unzigzag(unsigned z, unsigned mask)
{
	return (z >> 1) ^ (z & 1 ? mask : 0);
}

static inline void store(uint8_t *p, int bytes, size_t i, unsigned v)
{
	if (bytes == 2) {
		p[2 * i] = (uint8_t)v;
		p[2 * i + 1] = (uint8_t)(v >> 8);
	} else {
		p[i] = (uint8_t)v;
	}
}

static size_t series_samples(const struct ref_series *s, size_t *wide)
{
	size_t n = 0;
	*wide = 0;
	for (int i = 0; i < s->n; i++) {
		struct grid g = grid_of(&s->im[i]);
		n += g.samples;
		if (g.bytes == 2)
			*wide += g.samples;
	}
	return n;
}

static int gradzstd_encode(struct ref_series *s)
{
	size_t wide, n = series_samples(s, &wide);
	uint8_t *planes = malloc(n + wide + 1);
	size_t bound = ZSTD_compressBound(n + wide);
	s->enc = malloc(bound);
	if (!planes || !s->enc) {
		free(planes);
		snprintf(s->why, sizeof(s->why), "gradzstd: out of memory");
		return -1;
	}
	uint8_t *lo = planes, *hi = planes + n;
	for (int k = 0; k < s->n; k++) {
		const struct ref_image *im = &s->im[k];
		struct grid g = grid_of(im);
		unsigned mask = g.bytes == 2 ? 0xffffu : 0xffu;
		unsigned sign = g.bytes == 2 ? 0x8000u : 0x80u;
		for (size_t i = 0; i < g.samples; i++) {
			size_t x = i % g.w, y = i / g.w % g.rows;
			unsigned e = (load(im->pix, g.bytes, i) -
				      predict(im->pix, &g, i, x, y)) & mask;
			unsigned z = ((e << 1) ^ (e & sign ? mask : 0)) & mask;
			*lo++ = (uint8_t)z;
			if (g.bytes == 2)
				*hi++ = (uint8_t)(z >> 8);
		}
	}
	size_t r = ZSTD_compress(s->enc, bound, planes, n + wide, 1);
	free(planes);
	if (ZSTD_isError(r)) {
		snprintf(s->why, sizeof(s->why), "gradzstd: %s", ZSTD_getErrorName(r));
		return -1;
	}
	s->enc_len = r;
	return 0;
}

static int gradzstd_decode(struct ref_series *s, uint8_t *dst)
{
	size_t wide, n = series_samples(s, &wide);
	uint8_t *planes = malloc(n + wide + 1);
	if (!planes) {
		snprintf(s->why, sizeof(s->why), "gradzstd: out of memory");
		return -1;
	}
	size_t r = ZSTD_decompress(planes, n + wide, s->enc, s->enc_len);
	if (ZSTD_isError(r) || r != n + wide) {
		free(planes);
		snprintf(s->why, sizeof(s->why), "gradzstd: frame does not decode");
		return -1;
	}
	const uint8_t *lo = planes, *hi = planes + n;
	for (int k = 0; k < s->n; k++) {
		const struct ref_image *im = &s->im[k];
		struct grid g = grid_of(im);
		unsigned mask = g.bytes == 2 ? 0xffffu : 0xffu;
		for (size_t row = 0, i = 0; row < g.samples / g.w; row++) {
			size_t y = row % g.rows, x = 0;
			/* the edges: first row, first column */
			for (; x < g.w && (y == 0 || x < g.step); x++, i++) {
				unsigned z = lo[i] | (g.bytes == 2 ? (unsigned)hi[i] << 8 : 0);
				unsigned v = (predict(dst, &g, i, x, y) + unzigzag(z, mask)) & mask;
				store(dst, g.bytes, i, v);
			}
			/* the interior, one loop per sample size */
			if (g.bytes == 2) {
				for (; x < g.w; x++, i++) {
					unsigned z = lo[i] | (unsigned)hi[i] << 8;
					store(dst, 2, i, load(dst, 2, i - g.step) + load(dst, 2, i - g.w) -
							 load(dst, 2, i - g.w - g.step) + unzigzag(z, 0xffffu));
				}
			} else {
				for (; x < g.w; x++, i++)
					dst[i] = (uint8_t)(dst[i - g.step] + dst[i - g.w] -
							   dst[i - g.w - g.step] + unzigzag(lo[i], 0xffu));
			}
		}
		lo += g.samples;
		if (g.bytes == 2)
			hi += g.samples;
		dst += im->pix_len;
	}
	free(planes);
	return 0;
}

const struct ref_codec ref_gradzstd = { "gradient+zstd", gradzstd_encode,
					gradzstd_decode };
