/*
 * codec_model.c - the context model: contexts from the two rows above,
 * residuals into token streams (encoder) and back (decoder), with the
 * SSE2 / AVX2 code of the codec in one place.
 *
 * The decoder gathers each row as GATHER_SEGS independent segments and
 * uses SSE2 / AVX2 for contexts, unzigzag and prefix sums; the encoder
 * computes contexts with the same functions, so both agree bit for bit.
 * The decoder assumes a little endian host (escape values are read as
 * native u16).
 */
#include "codec_model.h"
#include "codec_filter.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/*
 * Context of each sample of a row (not the first row of a band): activity
 * around the sample above, |U-UL| + |UR-U| + |U-UU| + |UL-UUL| + |UR-UUR|
 * (differences modulo 2^16 read as signed, so signed data works too; each
 * term capped at 255; terms outside the row are 0), quantised to about
 * log2 in 0..NCTX-1.  u1 is the row above, u2 the one above it (u1 again on
 * the second row of a band).
 */
static inline uint16_t ad16(uint16_t a, uint16_t b)
{
	int16_t d = (int16_t)(uint16_t)(a - b);
	uint16_t m = (uint16_t)(d < 0 ? -d : d);
	return m < 255 ? m : 255;
}

static inline uint16_t ad8(uint8_t a, uint8_t b)
{
	int8_t d = (int8_t)(uint8_t)(a - b);
	return (uint16_t)(d < 0 ? -d : d);
}

static inline uint8_t quant(uint16_t a)
{
	return (uint8_t)((a > 0) + (a > 1) + (a > 3) + (a > 7) + (a > 15) +
			 (a > 31) + (a > 63) + (a > 127) + (a > 255));
}

/* gcc 12 at -O2 uses the "very cheap" vectoriser cost model, which leaves
 * loops whose trip count is not a known multiple of the vector width scalar;
 * the per-sample hot loops ask for the normal model (3-4x faster here). */
#define VECTORIZE __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))

#define CONTEXT_AT(AD, x)                                                     \
	do {                                                                  \
		uint16_t a = AD(u1[x], u2[x]);                                \
		if (x >= step)                                                \
			a += AD(u1[x], u1[x - step]) +                        \
			     AD(u1[x - step], u2[x - step]);                  \
		if (x + step < w)                                             \
			a += AD(u1[x + step], u1[x]) +                        \
			     AD(u1[x + step], u2[x + step]);                  \
		ctx[x] = quant(a);                                            \
	} while (0)

/* The interior sum is s[x] + s[x + step] + v[x - step] with v[x] = |U-UU|
 * at x and s[x] = |U - left of U| + v[x], so each difference is taken once;
 * v and s live in tmp (2 w values). */
#define CONTEXT_ROW(AD, QP)                                                     \
	size_t lo = step < w ? step : w;                                      \
	size_t hi = w > 2 * step ? w - step : lo;                             \
	size_t x;                                                             \
	for (x = 0; x < lo; x++)                                              \
		CONTEXT_AT(AD, x);                                            \
	if (hi > lo) {                                                        \
		uint16_t *restrict vv = tmp, *restrict sv = tmp + w;          \
		for (size_t j = 0; j < w; j++)                                \
			vv[j] = AD(u1[j], u2[j]);                             \
		for (size_t j = step; j < w; j++)                             \
			sv[j] = (uint16_t)(AD(u1[j], u1[j - step]) + vv[j]);  \
		QP(sv, vv, lo, hi, step, ctx);                                \
	}                                                                     \
	for (x = hi; x < w; x++)                                              \
		CONTEXT_AT(AD, x);

VECTORIZE static void quant_pass(const uint16_t *restrict sv,
				 const uint16_t *restrict vv, size_t lo,
				 size_t hi, size_t step, uint8_t *restrict ctx)
{
	for (size_t x = lo; x < hi; x++)
		ctx[x] = quant((uint16_t)(sv[x] + sv[x + step] + vv[x - step]));
}

#define CONTEXT_ARGS16 const uint16_t *restrict u1,                          \
	const uint16_t *restrict u2, size_t w, size_t step,                   \
	uint8_t *restrict ctx, uint16_t *restrict tmp
#define CONTEXT_ARGS8 const uint8_t *restrict u1,                            \
	const uint8_t *restrict u2, size_t w, size_t step,                    \
	uint8_t *restrict ctx, uint16_t *restrict tmp

VECTORIZE static void contexts16_base(CONTEXT_ARGS16)
{
	CONTEXT_ROW(ad16, quant_pass)
}

VECTORIZE static void contexts8_base(CONTEXT_ARGS8)
{
	CONTEXT_ROW(ad8, quant_pass)
}

/* Same code for AVX2 when the CPU has it (chosen at run time). */
#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_CLONES 1
#include <immintrin.h>

/* quant_pass: quant(a) is the bit length of min(a, 511), looked up per
 * nibble of the low byte, 9 when the high byte is set. */
__attribute__((target("avx2"))) static void quant_pass_avx2(
	const uint16_t *restrict sv, const uint16_t *restrict vv, size_t lo,
	size_t hi, size_t step, uint8_t *restrict ctx)
{
	const __m256i t1 = _mm256_setr_epi8(0, 5, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8,
					    0, 5, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8);
	const __m256i t0 = _mm256_setr_epi8(0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4,
					    0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4);
	const __m256i cap = _mm256_set1_epi16(511), low = _mm256_set1_epi16(255);
	const __m256i nib = _mm256_set1_epi8(15), nine = _mm256_set1_epi8(9);
	size_t x = lo;
#define LDU(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
	for (; x + 32 <= hi; x += 32) {
		__m256i a0 = _mm256_add_epi16(_mm256_add_epi16(LDU(sv + x), LDU(sv + x + step)),
					      LDU(vv + x - step));
		__m256i a1 = _mm256_add_epi16(_mm256_add_epi16(LDU(sv + x + 16), LDU(sv + x + 16 + step)),
					      LDU(vv + x + 16 - step));
		a0 = _mm256_min_epu16(a0, cap);
		a1 = _mm256_min_epu16(a1, cap);
		__m256i hb = _mm256_packus_epi16(_mm256_srli_epi16(a0, 8),
						 _mm256_srli_epi16(a1, 8));
		__m256i lb = _mm256_packus_epi16(_mm256_and_si256(a0, low),
						 _mm256_and_si256(a1, low));
		__m256i n1 = _mm256_and_si256(_mm256_srli_epi16(lb, 4), nib);
		__m256i n0 = _mm256_and_si256(lb, nib);
		__m256i q = _mm256_max_epu8(_mm256_shuffle_epi8(t1, n1),
					    _mm256_shuffle_epi8(t0, n0));
		q = _mm256_max_epu8(q, _mm256_and_si256(_mm256_sub_epi8(_mm256_setzero_si256(), hb), nine));
		q = _mm256_permute4x64_epi64(q, 0xD8);
		_mm256_storeu_si256((__m256i *)(void *)(ctx + x), q);
	}
#undef LDU
	for (; x < hi; x++)
		ctx[x] = quant((uint16_t)(sv[x] + sv[x + step] + vv[x - step]));
}

VECTORIZE __attribute__((target("avx2"))) static void contexts16_avx2(CONTEXT_ARGS16)
{
	CONTEXT_ROW(ad16, quant_pass_avx2)
}

VECTORIZE __attribute__((target("avx2"))) static void contexts8_avx2(CONTEXT_ARGS8)
{
	CONTEXT_ROW(ad8, quant_pass_avx2)
}

static int have_avx2(void)
{
	static int v = -1;
	if (v < 0)
		v = __builtin_cpu_supports("avx2") ? 1 : 0;
	return v;
}
#endif

/* The AVX2 variant when the CPU has it, else the base one. */
#ifdef HAVE_AVX2_CLONES
#define BEST_VARIANT(name) (have_avx2() ? name##_avx2 : name##_base)
#else
#define BEST_VARIANT(name) name##_base
#endif

static void contexts16(CONTEXT_ARGS16)
{
	BEST_VARIANT(contexts16)(u1, u2, w, step, ctx, tmp);
}

static void contexts8(CONTEXT_ARGS8)
{
	BEST_VARIANT(contexts8)(u1, u2, w, step, ctx, tmp);
}

/* Forward filter of a band into the streams (encoder). */
static void ctx_filter16(const uint16_t *p, size_t nr, size_t w, size_t step,
			 int up, struct token_streams *s)
{
	for (size_t y = 0; y < nr; y++) {
		const uint16_t *c = p + y * w;
		uint16_t *r = s->res;
		if (y == 0) {
			for (size_t x = 0; x < w && x < step; x++)
				r[x] = zz16(c[x]);
			for (size_t x = step; x < w; x++)
				r[x] = zz16((uint16_t)(c[x] - c[x - step]));
			memset(s->ctx, 0, w);
		} else {
			const uint16_t *u = c - w;
			if (up) {
				for (size_t x = 0; x < w; x++)
					r[x] = zz16((uint16_t)(c[x] - u[x]));
			} else {
				for (size_t x = 0; x < w && x < step; x++)
					r[x] = zz16((uint16_t)(c[x] - u[x]));
				for (size_t x = step; x < w; x++)
					r[x] = zz16((uint16_t)((c[x] - u[x]) -
							       (c[x - step] - u[x - step])));
			}
			contexts16(u, y > 1 ? u - w : u, w, step, s->ctx, s->tmp);
		}
		for (size_t x = 0; x < w; x++) {
			uint16_t z = r[x];
			uint8_t k = s->ctx[x];
			if (z < ESC) {
				*s->tp[k]++ = (uint8_t)z;
			} else {
				*s->tp[k]++ = ESC;
				*s->esc++ = z;
			}
		}
	}
}

/* One row of 8-bit residuals; u is the row above or NULL for a first row.
 * The same residuals as predict8 gives, with the edge (x < step) apart so
 * the rest is one branch-free loop the compiler vectorises. */
VECTORIZE static void filter_row8(const uint8_t *restrict c,
				  const uint8_t *restrict u, size_t w,
				  size_t step, int up, uint8_t *restrict r)
{
	size_t lo = step < w ? step : w;
	for (size_t x = 0; x < lo; x++)
		r[x] = zz8((uint8_t)(c[x] - predict8(c, u, x, step, up)));
	if (!u) {
		for (size_t x = lo; x < w; x++)
			r[x] = zz8((uint8_t)(c[x] - c[x - step]));
	} else if (up) {
		for (size_t x = lo; x < w; x++)
			r[x] = zz8((uint8_t)(c[x] - u[x]));
	} else {
		for (size_t x = lo; x < w; x++)
			r[x] = zz8((uint8_t)((c[x] - u[x]) - (c[x - step] - u[x - step])));
	}
}

/* Inverse of filter_row8 on a row whose residuals r are already gathered:
 * the row c from r and the row above u (NULL on a first row).  r is
 * overwritten.  Gradient and left rows are a running sum along each chain
 * x = k, k + step ...; the terms are formed in one vectorised pass and the
 * sum keeps one accumulator per chain in registers for the usual steps. */
VECTORIZE static void unfilter_row8(uint8_t *restrict c, const uint8_t *restrict u,
				    uint8_t *restrict r, size_t w, size_t step,
				    int up)
{
	size_t lo = step < w ? step : w;
	for (size_t x = 0; x < w; x++)
		r[x] = unzz8(r[x]);
	if (u && up) {
		for (size_t x = 0; x < w; x++)
			c[x] = (uint8_t)(u[x] + r[x]);
		return;
	}
	for (size_t x = 0; x < lo; x++)
		c[x] = (uint8_t)((u ? u[x] : 0) + r[x]);
	if (u)
		for (size_t x = lo; x < w; x++)
			r[x] = (uint8_t)(r[x] + u[x] - u[x - step]);
	size_t x = lo;
	if (step == 1) {
		uint8_t a = c[0];
		for (; x < w; x++)
			c[x] = a = (uint8_t)(a + r[x]);
	} else if (step == 3 && w >= 3) {
		uint8_t a0 = c[0], a1 = c[1], a2 = c[2];
		for (; x + 3 <= w; x += 3) {
			c[x] = a0 = (uint8_t)(a0 + r[x]);
			c[x + 1] = a1 = (uint8_t)(a1 + r[x + 1]);
			c[x + 2] = a2 = (uint8_t)(a2 + r[x + 2]);
		}
	}
	for (; x < w; x++)
		c[x] = (uint8_t)(c[x - step] + r[x]);
}

static void ctx_filter8(const uint8_t *p, size_t nr, size_t w, size_t step,
			int up, struct token_streams *s)
{
	uint8_t *r = (uint8_t *)s->res;
	for (size_t y = 0; y < nr; y++) {
		const uint8_t *c = p + y * w;
		if (y == 0) {
			filter_row8(c, NULL, w, step, up, r);
			memset(s->ctx, 0, w);
		} else {
			filter_row8(c, c - w, w, step, up, r);
			contexts8(c - w, y > 1 ? c - 2 * w : c - w, w, step, s->ctx, s->tmp);
		}
		for (size_t x = 0; x < w; x++)
			*s->tp[s->ctx[x]]++ = r[x];
	}
}

/*
 * Decoder gather.  Taking each sample's token from its context's stream is a
 * chain of dependent loads and stores through the stream cursors when
 * neighbouring samples share a context.  The contexts of a whole row are
 * known before the row is decoded, so the row is cut into GATHER_SEGS
 * segments and each segment starts its own cursors where the previous
 * segment's end (found by counting contexts): the segments' chains are
 * independent and run interleaved.  Same token order as the encoder.
 */
#define GATHER_SEGS 4

/* h[k] += number of samples of context k in cx[0..n). */
static void ctx_hist(const uint8_t *cx, size_t n, size_t *h)
{
	size_t x = 0;
#ifdef __SSE2__
	const __m128i zero = _mm_setzero_si128();
	while (x + 16 <= n) {
		__m128i a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero,
			a5 = zero, a6 = zero, a7 = zero, a8 = zero, a9 = zero;
		/* byte counters: at most 255 vectors per round */
		size_t end = n - x > 255 * 16 ? x + 255 * 16 : n;
		for (; x + 16 <= end; x += 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(cx + x));
#define HIST_K(k) a##k = _mm_sub_epi8(a##k, _mm_cmpeq_epi8(v, _mm_set1_epi8(k)))
			HIST_K(0); HIST_K(1); HIST_K(2); HIST_K(3); HIST_K(4);
			HIST_K(5); HIST_K(6); HIST_K(7); HIST_K(8); HIST_K(9);
#undef HIST_K
		}
		__m128i acc[NCTX] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 };
		for (int k = 0; k < NCTX; k++) {
			__m128i s = _mm_sad_epu8(acc[k], zero);
			h[k] += (size_t)_mm_cvtsi128_si32(s) +
				(size_t)_mm_cvtsi128_si32(_mm_srli_si128(s, 8));
		}
	}
#endif
	for (; x < n; x++)
		h[cx[x]]++;
}

/* Tokens of a row of w samples with contexts cx into t[0..w); advances the
 * cursors s->tp.  Returns -1 when a stream overruns its end (cursors may
 * then point up to w bytes past it, into the reader's slack). */
static int gather_row(struct token_streams *s, const uint8_t *cx, size_t w,
		      uint8_t *restrict t)
{
	size_t q = w / GATHER_SEGS;
	if (q < 16) {
		uint8_t *tp[NCTX];
		memcpy(tp, s->tp, sizeof(tp));
		for (size_t x = 0; x < w; x++)
			t[x] = *tp[cx[x]]++;
		memcpy(s->tp, tp, sizeof(tp));
	} else {
		size_t h[GATHER_SEGS][NCTX];
		memset(h, 0, sizeof(h));
		for (int g = 0; g < GATHER_SEGS - 1; g++)
			ctx_hist(cx + (size_t)g * q, q, h[g]);
		const uint8_t *p[GATHER_SEGS][NCTX];
		for (int k = 0; k < NCTX; k++) {
			p[0][k] = s->tp[k];
			for (int g = 1; g < GATHER_SEGS; g++)
				p[g][k] = p[g - 1][k] + h[g - 1][k];
		}
		/* 8 tokens of each segment per store */
		size_t q8 = q & ~(size_t)7, x;
		for (x = 0; x < q8; x += 8) {
			/* 8 samples of one context in every segment (flat areas):
			 * 8 tokens in a row from each stream, one copy each */
			uint64_t same = 1;
#pragma GCC unroll 8
			for (int g = 0; g < GATHER_SEGS; g++) {
				uint64_t c8;
				memcpy(&c8, cx + (size_t)g * q + x, 8);
				same &= c8 == (c8 & 0xff) * 0x0101010101010101u;
			}
			if (same) {
#pragma GCC unroll 8
				for (int g = 0; g < GATHER_SEGS; g++) {
					const uint8_t **pk = &p[g][cx[(size_t)g * q + x]];
					memcpy(t + (size_t)g * q + x, *pk, 8);
					*pk += 8;
				}
				continue;
			}
			uint64_t a[GATHER_SEGS] = { 0 };
#pragma GCC unroll 8
			for (int i = 0; i < 8; i++) {
#pragma GCC unroll 8
				for (int g = 0; g < GATHER_SEGS; g++)
					a[g] |= (uint64_t)*p[g][cx[(size_t)g * q + x + i]]++ << (8 * i);
			}
#pragma GCC unroll 8
			for (int g = 0; g < GATHER_SEGS; g++)
				memcpy(t + (size_t)g * q + x, &a[g], 8);
		}
		for (; x < q; x++) {
#pragma GCC unroll 8
			for (int g = 0; g < GATHER_SEGS; g++)
				t[(size_t)g * q + x] = *p[g][cx[(size_t)g * q + x]]++;
		}
		for (size_t x = GATHER_SEGS * q; x < w; x++)
			t[x] = *p[GATHER_SEGS - 1][cx[x]]++;
		for (int k = 0; k < NCTX; k++)
			s->tp[k] = (uint8_t *)p[GATHER_SEGS - 1][k];
	}
	for (int k = 0; k < NCTX; k++)
		if (s->tp[k] > s->tend[k])
			return -1;
	return 0;
}

/* Residuals of a row from its tokens: unzigzag, escapes from s->esc. */
VECTORIZE static int tokens16(const uint8_t *restrict t, size_t w,
			      uint16_t *restrict r, struct token_streams *s)
{
	for (size_t x = 0; x < w; x++)
		r[x] = unzz16(t[x]);
	uint16_t *e = s->esc;
	size_t x = 0;
#ifdef __SSE2__
	const __m128i vesc = _mm_set1_epi8((char)ESC);
	for (; x + 16 <= w; x += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(t + x));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vesc));
		while (m) {
			if (e == s->esc_end)
				return -1;
			r[x + (size_t)__builtin_ctz(m)] = unzz16(*e++);
			m &= m - 1;
		}
	}
#endif
	for (; x < w; x++)
		if (t[x] == ESC) {
			if (e == s->esc_end)
				return -1;
			r[x] = unzz16(*e++);
		}
	s->esc = e;
	return 0;
}

#ifdef __SSE2__
/* c[x] = running sum of r[0..x] (+ u[x] when u): gradient rows, step 1. */
static void prefix16(uint16_t *c, const uint16_t *u, const uint16_t *r,
		     size_t w)
{
	__m128i acc = _mm_setzero_si128();
	size_t x = 0;
	for (; x + 8 <= w; x += 8) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(r + x));
		v = _mm_add_epi16(v, _mm_slli_si128(v, 2));
		v = _mm_add_epi16(v, _mm_slli_si128(v, 4));
		v = _mm_add_epi16(v, _mm_slli_si128(v, 8));
		/* the carry chain is one add per 8 samples */
		__m128i h = _mm_shufflehi_epi16(v, 0xFF);
		v = _mm_add_epi16(v, acc);
		acc = _mm_add_epi16(acc, _mm_unpackhi_epi64(h, h));
		if (u)
			v = _mm_add_epi16(v, _mm_loadu_si128((const __m128i *)(const void *)(u + x)));
		_mm_storeu_si128((__m128i *)(void *)(c + x), v);
	}
	uint16_t a = (uint16_t)_mm_extract_epi16(acc, 0);
	for (; x < w; x++) {
		a = (uint16_t)(a + r[x]);
		c[x] = (uint16_t)(a + (u ? u[x] : 0));
	}
}
#endif

/*
 * Inverse of ctx_filter16 (decoder).  Returns -1 when a stream runs out:
 * token streams may overrun into the next one by at most a row (the reader
 * leaves slack after the last).
 */
static int ctx_unfilter16(uint16_t *out, size_t nr, size_t w, size_t step,
			  int up, struct token_streams *s)
{
	for (size_t y = 0; y < nr; y++) {
		uint16_t *c = out + y * w;
		uint16_t *r = s->res;
		uint8_t *t = s->tok;
		if (y == 0)
			memset(s->ctx, 0, w);
		else
			contexts16(c - w, y > 1 ? c - 2 * w : c - w, w, step, s->ctx, s->tmp);
		if (gather_row(s, s->ctx, w, t))
			return -1;
		if (tokens16(t, w, r, s))
			return -1;
#ifdef __SSE2__
		if (step == 1 && !(y > 0 && up)) {
			prefix16(c, y > 0 ? c - w : NULL, r, w);
			continue;
		}
#endif
		unpredict_row16(c, y > 0 ? c - w : NULL, r, w, step, up);
	}
	return 0;
}

static int ctx_unfilter8(uint8_t *out, size_t nr, size_t w, size_t step,
			 int up, struct token_streams *s)
{
	uint8_t *r = (uint8_t *)s->res;
	for (size_t y = 0; y < nr; y++) {
		uint8_t *c = out + y * w;
		const uint8_t *u = y ? c - w : NULL;
		if (y == 0)
			memset(s->ctx, 0, w);
		else
			contexts8(u, y > 1 ? u - w : u, w, step, s->ctx, s->tmp);
		if (gather_row(s, s->ctx, w, r))
			return -1;
		unfilter_row8(c, u, r, w, step, up);
	}
	return 0;
}

void codec_model_contexts(const struct pixel_geom *g, const uint8_t *u1,
			  const uint8_t *u2, uint8_t *ctx, uint16_t *tmp)
{
	if (g->bps == 2)
		contexts16((const uint16_t *)(const void *)u1,
			   (const uint16_t *)(const void *)u2, g->row_samples,
			   g->step, ctx, tmp);
	else
		contexts8(u1, u2, g->row_samples, g->step, ctx, tmp);
}

void codec_model_unpredict16(uint16_t *c, const uint16_t *u,
			     const uint16_t *r, size_t w, size_t step)
{
#ifdef __SSE2__
	if (step == 1) {
		prefix16(c, u, r, w);
		return;
	}
#endif
	unpredict_row16(c, u, r, w, step, 0);
}

int codec_model_scratch(struct codec_ctx *ctx, const struct pixel_geom *g,
			struct token_streams *s)
{
	size_t w = g->row_samples;
	uint8_t *p = codec_scratch(ctx, S_ROW, w * 4 + w * 2 + w + w);
	if (!p)
		return -1;
	s->tmp = (uint16_t *)(void *)p;
	s->res = (uint16_t *)(void *)(p + w * 4);
	s->ctx = p + w * 6;
	s->tok = p + w * 7;
	return 0;
}

void codec_model_split(const struct pixel_geom *g, const uint8_t *pix,
		       uint64_t raw_off, size_t raw_size, int up,
		       struct token_streams *s)
{
	size_t w = g->row_samples, nr;
	for (size_t pos = 0; pos < raw_size; pos += nr * g->row_bytes) {
		nr = band_rows(g, raw_off + pos, raw_size - pos);
		if (g->bps == 2)
			ctx_filter16((const uint16_t *)(const void *)(pix + pos),
				     nr, w, g->step, up, s);
		else
			ctx_filter8(pix + pos, nr, w, g->step, up, s);
	}
}

int codec_model_join(const struct pixel_geom *g, uint8_t *pix,
		     uint64_t raw_off, size_t raw_size, int up,
		     struct token_streams *s)
{
	size_t w = g->row_samples, nr;
	for (size_t pos = 0; pos < raw_size; pos += nr * g->row_bytes) {
		nr = band_rows(g, raw_off + pos, raw_size - pos);
		int rc = g->bps == 2 ?
			 ctx_unfilter16((uint16_t *)(void *)(pix + pos), nr, w,
					g->step, up, s) :
			 ctx_unfilter8(pix + pos, nr, w, g->step, up, s);
		if (rc)
			return rc;
	}
	return 0;
}
