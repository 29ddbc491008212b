/*
 * codec_filter.c - predictors (gradient, up) and the plane form.
 *
 * A band's first row predicts from the left; later rows from the row above
 * (up) or left + up - upper-left (gradient), which is a horizontal
 * difference of vertical differences, so decoding a row is one running sum
 * plus the row above.
 */
#include "codec_filter.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* The normal vectoriser cost model for the colour loops (gcc 12's -O2
 * default leaves stride-3 loops scalar); see codec_model.c. */
#define VECTORIZE_FILTER __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))

/*
 * Forward filter of one band of nr rows of w samples (left neighbour `step`
 * samples back) starting at an image row that prediction treats as the
 * first: row 0 predicts from the left (first sample from 0); later rows
 * predict gradient = left + up - upleft (first samples: up) or up.
 * Writes zigzagged residuals: 16-bit into lo[]/hi[] planes, 8-bit into lo[].
 */
static void filter16(const uint16_t *p, size_t nr, size_t w, size_t step,
		     int method, uint8_t *lo, uint8_t *hi)
{
	for (size_t y = 0; y < nr; y++) {
		const uint16_t *c = p + y * w;
		uint8_t *l = lo + y * w, *h = hi + y * w;
		if (y == 0) {
			for (size_t x = 0; x < w && x < step; x++) {
				uint16_t z = zz16(c[x]);
				l[x] = (uint8_t)z;
				h[x] = (uint8_t)(z >> 8);
			}
			for (size_t x = step; x < w; x++) {
				uint16_t z = zz16((uint16_t)(c[x] - c[x - step]));
				l[x] = (uint8_t)z;
				h[x] = (uint8_t)(z >> 8);
			}
			continue;
		}
		const uint16_t *u = c - w;
		if (method == M_UP) {
			for (size_t x = 0; x < w; x++) {
				uint16_t z = zz16((uint16_t)(c[x] - u[x]));
				l[x] = (uint8_t)z;
				h[x] = (uint8_t)(z >> 8);
			}
			continue;
		}
		for (size_t x = 0; x < w && x < step; x++) {
			uint16_t z = zz16((uint16_t)(c[x] - u[x]));
			l[x] = (uint8_t)z;
			h[x] = (uint8_t)(z >> 8);
		}
		for (size_t x = step; x < w; x++) {
			uint16_t e = (uint16_t)((c[x] - u[x]) - (c[x - step] - u[x - step]));
			uint16_t z = zz16(e);
			l[x] = (uint8_t)z;
			h[x] = (uint8_t)(z >> 8);
		}
	}
}

static void filter8(const uint8_t *p, size_t nr, size_t w, size_t step,
		    int method, uint8_t *out)
{
	for (size_t y = 0; y < nr; y++) {
		const uint8_t *c = p + y * w;
		uint8_t *o = out + y * w;
		if (y == 0) {
			for (size_t x = 0; x < w && x < step; x++)
				o[x] = zz8(c[x]);
			for (size_t x = step; x < w; x++)
				o[x] = zz8((uint8_t)(c[x] - c[x - step]));
			continue;
		}
		const uint8_t *u = c - w;
		if (method == M_UP) {
			for (size_t x = 0; x < w; x++)
				o[x] = zz8((uint8_t)(c[x] - u[x]));
			continue;
		}
		for (size_t x = 0; x < w && x < step; x++)
			o[x] = zz8((uint8_t)(c[x] - u[x]));
		for (size_t x = step; x < w; x++)
			o[x] = zz8((uint8_t)((c[x] - u[x]) - (c[x - step] - u[x - step])));
	}
}

/*
 * Inverse of filter16: rebuild nr rows into out from the planes.  The
 * gradient residual is a horizontal difference of vertical differences, so a
 * row is a running sum (the only serial dependency, one add per sample) plus
 * the row above.
 */
static void unfilter16(uint16_t *out, size_t nr, size_t w, size_t step,
		       int method, const uint8_t *lo, const uint8_t *hi)
{
	for (size_t y = 0; y < nr; y++) {
		uint16_t *c = out + y * w;
		const uint8_t *l = lo + y * w, *h = hi + y * w;
		/* residuals first, then the sums in place */
		for (size_t x = 0; x < w; x++)
			c[x] = unzz16((uint16_t)(l[x] | h[x] << 8));
		unpredict_row16(c, y > 0 ? c - w : NULL, c, w, step,
				method == M_UP);
	}
}

static void unfilter8(uint8_t *out, size_t nr, size_t w, size_t step,
		      int method, const uint8_t *in)
{
	for (size_t y = 0; y < nr; y++) {
		uint8_t *c = out + y * w;
		const uint8_t *r = in + y * w;
		if (y > 0 && method == M_UP) {
			const uint8_t *u = c - w;
			for (size_t x = 0; x < w; x++)
				c[x] = (uint8_t)(u[x] + unzz8(r[x]));
			continue;
		}
		const uint8_t *u = y > 0 ? c - w : NULL;
		for (size_t k = 0; k < step && k < w; k++) {
			uint8_t acc = 0;
			for (size_t x = k; x < w; x += step) {
				acc = (uint8_t)(acc + unzz8(r[x]));
				c[x] = (uint8_t)(acc + (u ? u[x] : 0));
			}
		}
	}
}

/* Both directions of the plane form, band by band. */
static void planes_walk(const struct pixel_geom *g, uint8_t *pix,
			uint8_t *planes, uint64_t raw_off, size_t raw_size,
			int method, int inverse)
{
	size_t nsamp = raw_size / g->bps, w = g->row_samples, nr;
	for (size_t pos = 0; pos < raw_size; pos += nr * g->row_bytes) {
		nr = band_rows(g, raw_off + pos, raw_size - pos);
		size_t so = pos / g->bps;
		uint16_t *words = (uint16_t *)(void *)pix + so;
		if (g->bps == 2 && inverse)
			unfilter16(words, nr, w, g->step, method, planes + so,
				   planes + nsamp + so);
		else if (g->bps == 2)
			filter16(words, nr, w, g->step, method, planes + so,
				 planes + nsamp + so);
		else if (inverse)
			unfilter8(pix + pos, nr, w, g->step, method, planes + so);
		else
			filter8(pix + pos, nr, w, g->step, method, planes + so);
	}
}

void codec_planes_filter(const struct pixel_geom *g, const uint8_t *pix,
			 uint64_t raw_off, size_t raw_size, int method,
			 uint8_t *planes)
{
	/* only read: the walk's pointer is shared with the inverse */
	planes_walk(g, (uint8_t *)pix, planes, raw_off, raw_size, method, 0);
}

void codec_planes_unfilter(const struct pixel_geom *g, const uint8_t *planes,
			   uint64_t raw_off, size_t raw_size, int method,
			   uint8_t *pix)
{
	/* only read: the walk's pointer is shared with the forward filter */
	planes_walk(g, pix, (uint8_t *)planes, raw_off, raw_size, method, 1);
}

/* Gradient or up, by the sum of residual magnitudes on every 8th row. */
int codec_pick_predictor(const struct pixel_geom *g, const uint8_t *pix,
			 uint64_t raw_off, size_t raw_size)
{
	uint64_t cost;
	return codec_pick_predictor_cost(g, pix, raw_off, raw_size, &cost);
}

VECTORIZE_FILTER int codec_pick_predictor_cost(const struct pixel_geom *g,
					       const uint8_t *pix, uint64_t raw_off,
					       size_t raw_size, uint64_t *cost)
{
	uint64_t cost_grad = 0, cost_up = 0;
	size_t w = g->row_samples, step = g->step;
	for (size_t off = g->row_bytes; off < raw_size; off += 8 * g->row_bytes) {
		/* the row above must be in the same image */
		if ((raw_off + off) % g->img_bytes == 0)
			continue;
		if (g->bps == 2) {
			const uint16_t *c = (const uint16_t *)(const void *)(pix + off);
			const uint16_t *u = c - w;
			for (size_t x = step; x < w; x++) {
				int16_t a = (int16_t)(uint16_t)(c[x] - u[x]);
				int16_t b = (int16_t)(uint16_t)(a - (int16_t)(uint16_t)(c[x - step] - u[x - step]));
				cost_up += (uint32_t)(a < 0 ? -a : a);
				cost_grad += (uint32_t)(b < 0 ? -b : b);
			}
		} else {
			const uint8_t *c = pix + off, *u = c - w;
			for (size_t x = step; x < w; x++) {
				int8_t a = (int8_t)(uint8_t)(c[x] - u[x]);
				int8_t b = (int8_t)(uint8_t)(a - (int8_t)(uint8_t)(c[x - step] - u[x - step]));
				cost_up += (uint32_t)(a < 0 ? -a : a);
				cost_grad += (uint32_t)(b < 0 ? -b : b);
			}
		}
	}
	*cost = cost_up < cost_grad ? cost_up : cost_grad;
	return cost_up < cost_grad ? M_UP : M_GRADIENT;
}

/* Colour differences, pixel by pixel (3 samples each); the loops are
 * plain so the compiler vectorises the 3-sample interleave. */
VECTORIZE_FILTER void codec_colour_diff(const struct pixel_geom *g,
					const uint8_t *restrict src,
					uint8_t *restrict dst, size_t raw_size)
{
	size_t n = raw_size / g->bps / 3;
	if (g->bps == 2) {
		const uint16_t *s = (const uint16_t *)(const void *)src;
		uint16_t *d = (uint16_t *)(void *)dst;
		for (size_t i = 0; i < n; i++) {
			uint16_t c1 = s[3 * i + 1];
			d[3 * i] = (uint16_t)(s[3 * i] - c1);
			d[3 * i + 1] = c1;
			d[3 * i + 2] = (uint16_t)(s[3 * i + 2] - c1);
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t c1 = src[3 * i + 1];
		dst[3 * i] = (uint8_t)(src[3 * i] - c1);
		dst[3 * i + 1] = c1;
		dst[3 * i + 2] = (uint8_t)(src[3 * i + 2] - c1);
	}
}

VECTORIZE_FILTER void codec_colour_undiff(const struct pixel_geom *g,
					  uint8_t *pix, size_t raw_size)
{
	size_t n = raw_size / g->bps / 3;
	if (g->bps == 2) {
		uint16_t *p = (uint16_t *)(void *)pix;
		for (size_t i = 0; i < n; i++) {
			uint16_t c1 = p[3 * i + 1];
			p[3 * i] = (uint16_t)(p[3 * i] + c1);
			p[3 * i + 2] = (uint16_t)(p[3 * i + 2] + c1);
		}
		return;
	}
	size_t i = 0;
#ifdef __SSE2__
	/* 5 pixels per 16-byte vector: lane 3k takes lane 3k + 1 (shifted
	 * down), lane 3k + 2 takes lane 3k + 1 (shifted up); lane 15, the
	 * next pixel's first sample, is stored back unchanged */
	const __m128i first = _mm_setr_epi8(-1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, 0);
	const __m128i third = _mm_setr_epi8(0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0);
	for (; 3 * i + 16 <= 3 * n; i += 5) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(pix + 3 * i));
		__m128i add = _mm_or_si128(_mm_and_si128(_mm_srli_si128(v, 1), first),
					   _mm_and_si128(_mm_slli_si128(v, 1), third));
		_mm_storeu_si128((__m128i *)(void *)(pix + 3 * i), _mm_add_epi8(v, add));
	}
#endif
	for (; i < n; i++) {
		uint8_t c1 = pix[3 * i + 1];
		pix[3 * i] = (uint8_t)(pix[3 * i] + c1);
		pix[3 * i + 2] = (uint8_t)(pix[3 * i + 2] + c1);
	}
}

