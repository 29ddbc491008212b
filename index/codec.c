/*
 * codec.c - lossless, randomly accessible compression of blob contents.
 *
 * Encoded blob format (all integers little endian):
 *
 *   header, 48 bytes
 *     0  magic "DCZB"
 *     4  u8  version (1)
 *     5  u8  kind: 0 opaque bytes, 1 native pixels (layout below is valid)
 *     6  u16 reserved, 0
 *     8  u64 raw length
 *     16 u32 chunk count
 *     20 u32 bytes per sample, 24 samples per pixel, 28 planar,
 *     32 u32 columns, 36 rows, 40 frames   (all 0 for opaque)
 *     44 u32 reserved, 0
 *   chunk table, 32 bytes per chunk
 *     0  u64 raw offset      (chunks tile [0, raw length) in order)
 *     8  u64 encoded offset  (from the start of the chunk data, in order)
 *     16 u32 raw size
 *     20 u32 encoded size
 *     24 u8  method (enum method), 25 u8 reserved, 26 u16 reserved
 *     28 u32 low 32 bits of XXH3_64 of the raw chunk
 *   u64 XXH3_64 of header + chunk table
 *   chunk data
 *
 * Invariants: a pixel chunk holds whole rows (it may hold several whole
 * images, or a band of rows of one image), and prediction restarts at the
 * first row of the chunk and at every image start inside it, so every chunk
 * decodes on its own.  "Image" is one frame, or one colour plane of a frame
 * when planar = 1.  Every decoded chunk is checked against its hash, so a
 * damaged chunk is reported instead of returning wrong bytes.
 *
 * Pixel methods: the residual of the predictor (gradient or up, chosen per
 * chunk from a sample of rows) is taken modulo 2^16 (2^8 for 8-bit samples)
 * on the stored words, so any bit pattern round-trips, and zigzag-mapped.
 * The encoder writes the context-split form (M_*_CTX, described below); the
 * plane form (M_GRADIENT, M_UP: low-byte plane then high-byte plane in one
 * zstd frame) is 6% larger on CT and is only written for chunks too large
 * for the context method's scratch.  The context decoder gathers each row
 * as 4 independent segments and uses SSE2 / AVX2 (picked at run time, same
 * contexts bit for bit) for contexts, unzigzag and prefix sums.  Chunks
 * whose prediction gains less than 2:1 are also tried as plain zstd, and
 * anything that does not shrink is stored.  The decoder assumes a little
 * endian host (16-bit words and escape values are read natively).
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <zstd.h>
#include <xxhash.h>

#define HDR_SIZE 48u
#define ENT_SIZE 32u
#define SUM_SIZE 8u
#define VERSION 1u
#define KIND_OPAQUE 0u
#define KIND_PIXEL 1u

/* Raw bytes per chunk we aim for.  zstd blocks are 128 KiB, so 256 KiB gives
 * each plane of a 16-bit chunk its own block and Huffman table. */
#define CHUNK_TARGET (256u * 1024u)
/* Chunks never exceed this, whatever the row size (a row is never split). */
#define CHUNK_MAX (4u * 1024u * 1024u)

enum method {
	M_STORED = 0,
	M_ZSTD = 1,
	M_GRADIENT = 2,
	M_UP = 3,
	M_GRADIENT_CTX = 4,
	M_UP_CTX = 5,
	M_COUNT
};

static const char *const method_names[M_COUNT] = {
	"stored", "zstd", "gradient", "up", "gradient", "up"
};


/*
 * Context-split residuals (M_*_CTX).  Each residual goes to one of NCTX
 * streams picked by the activity of the two rows above it, which the decoder
 * knows before it decodes a row; each stream is its own zstd frame, so each
 * gets its own Huffman table, fitted to flat areas, noise, or edges.
 * A 16-bit residual is a byte token: zigzag value < 255 as is, else 255 and
 * the value in the escape stream (u16 LE).  An 8-bit residual is its token.
 * Chunk payload: (NCTX + 1) x { u32 count, u32 zstd size } for the token
 * streams then the escape stream (count in values), then the frames.
 */
#define NCTX 10
#define NSTREAM (NCTX + 1)
#define ESC 255

enum scratch_slot {
	S_WORDS,        /* aligned 16-bit copy of a chunk */
	S_BYTES,        /* residual planes or token streams */
	S_RANGE,        /* a whole chunk when only part of it is wanted */
	S_ESC,          /* escape values */
	S_ROW,          /* per-row contexts and activities */
	NSCRATCH
};

struct codec_ctx {
	ZSTD_CCtx *cc;
	ZSTD_DCtx *dc;
	uint8_t *s[NSCRATCH];   /* scratch buffers, see enum scratch_slot */
	size_t cap[NSCRATCH];
};

/* Geometry derived from a layout; valid only when it matches raw_len. */
struct geom {
	uint32_t bps;           /* bytes per sample: 1 or 2 */
	uint32_t step;          /* samples between a sample and its left neighbour */
	size_t row_samples;     /* samples per row of one image */
	size_t row_bytes;
	size_t img_rows;
	size_t img_bytes;
};

struct entry {
	uint64_t raw_off, enc_off;
	uint32_t raw_size, enc_size;
	uint32_t method, hash;
};

/* ---- little-endian helpers ---------------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- context ------------------------------------------------------------ */

struct codec_ctx *codec_ctx_new(void)
{
	struct codec_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	ctx->cc = ZSTD_createCCtx();
	ctx->dc = ZSTD_createDCtx();
	if (!ctx->cc || !ctx->dc) {
		codec_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

void codec_ctx_free(struct codec_ctx *ctx)
{
	if (!ctx)
		return;
	ZSTD_freeCCtx(ctx->cc);
	ZSTD_freeDCtx(ctx->dc);
	for (int i = 0; i < NSCRATCH; i++)
		free(ctx->s[i]);
	free(ctx);
}

/* Scratch buffer i with room for n bytes, 16-byte aligned (malloc). */
static uint8_t *scratch(struct codec_ctx *ctx, int i, size_t n)
{
	if (n == 0)
		n = 1;
	if (ctx->cap[i] < n) {
		uint8_t *p = malloc(n);
		if (!p)
			return NULL;
		free(ctx->s[i]);
		ctx->s[i] = p;
		ctx->cap[i] = n;
	}
	return ctx->s[i];
}

/* ---- geometry ----------------------------------------------------------- */

/* Fill *g from l; 0 if l describes exactly raw_len filterable bytes. */
static int geom_from_layout(const struct codec_layout *l, uint64_t raw_len,
			    struct geom *g)
{
	if (!l || (l->bytes_per_sample != 1 && l->bytes_per_sample != 2))
		return -1;
	if (l->samples_per_pixel < 1 || l->samples_per_pixel > 4 ||
	    l->planar > 1 || !l->columns || !l->rows || !l->frames)
		return -1;
	uint64_t spp = l->samples_per_pixel;
	uint64_t planes = l->planar ? spp : 1;
	uint64_t row_samples = (uint64_t)l->columns * (l->planar ? 1 : spp);
	uint64_t row_bytes = row_samples * l->bytes_per_sample;
	if (row_bytes > CHUNK_MAX)
		return -1;
	/* columns, rows < 2^32 and row_bytes <= 2^26: no overflow below */
	uint64_t img_bytes = row_bytes * l->rows;
	uint64_t nimg = (uint64_t)l->frames * planes;
	if (img_bytes > UINT64_MAX / nimg || img_bytes * nimg != raw_len)
		return -1;
	if (raw_len > SIZE_MAX)
		return -1;
	g->bps = l->bytes_per_sample;
	g->step = l->planar ? 1 : (uint32_t)spp;
	g->row_samples = (size_t)row_samples;
	g->row_bytes = (size_t)row_bytes;
	g->img_rows = l->rows;
	g->img_bytes = (size_t)img_bytes;
	return 0;
}

/* ---- filters ------------------------------------------------------------ */

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
		if (y > 0 && method == M_UP) {
			const uint16_t *u = c - w;
			for (size_t x = 0; x < w; x++)
				c[x] = (uint16_t)(u[x] + unzz16((uint16_t)(l[x] | h[x] << 8)));
			continue;
		}
		const uint16_t *u = y > 0 ? c - w : NULL;
		for (size_t k = 0; k < step && k < w; k++) {
			uint16_t acc = 0;
			if (u) {
				for (size_t x = k; x < w; x += step) {
					acc = (uint16_t)(acc + unzz16((uint16_t)(l[x] | h[x] << 8)));
					c[x] = (uint16_t)(acc + u[x]);
				}
			} else {
				for (size_t x = k; x < w; x += step) {
					acc = (uint16_t)(acc + unzz16((uint16_t)(l[x] | h[x] << 8)));
					c[x] = acc;
				}
			}
		}
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

static void contexts16(CONTEXT_ARGS16)
{
#ifdef HAVE_AVX2_CLONES
	if (have_avx2()) {
		contexts16_avx2(u1, u2, w, step, ctx, tmp);
		return;
	}
#endif
	contexts16_base(u1, u2, w, step, ctx, tmp);
}

static void contexts8(CONTEXT_ARGS8)
{
#ifdef HAVE_AVX2_CLONES
	if (have_avx2()) {
		contexts8_avx2(u1, u2, w, step, ctx, tmp);
		return;
	}
#endif
	contexts8_base(u1, u2, w, step, ctx, tmp);
}

/* Where the token streams of a chunk are written or read. */
struct streams {
	uint8_t *tp[NCTX];      /* next token of each context */
	uint8_t *tend[NCTX];    /* end of each context's tokens */
	uint16_t *esc;          /* next escape value */
	uint16_t *esc_end;
	uint8_t *ctx;           /* w contexts */
	uint8_t *tok;           /* w tokens (decoder) */
	uint16_t *tmp;          /* 2 w values for the context sums */
	uint16_t *res;          /* w residuals */
};

/* Forward filter of a band into the streams (encoder). */
static void ctx_filter16(const uint16_t *p, size_t nr, size_t w, size_t step,
			 int up, struct streams *s)
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

/* One row of 8-bit residuals; u is the row above or NULL for a first row. */
static void filter_row8(const uint8_t *c, const uint8_t *u, size_t w,
			size_t step, int up, uint8_t *r)
{
	for (size_t x = 0; x < w; x++) {
		uint8_t left = x >= step ? c[x - step] : 0;
		uint8_t pred;
		if (!u)
			pred = left;
		else if (up || x < step)
			pred = u[x];
		else
			pred = (uint8_t)(left + u[x] - u[x - step]);
		r[x] = zz8((uint8_t)(c[x] - pred));
	}
}

static void ctx_filter8(const uint8_t *p, size_t nr, size_t w, size_t step,
			int up, struct streams *s)
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
static int gather_row(struct streams *s, const uint8_t *cx, size_t w,
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
			      uint16_t *restrict r, struct streams *s)
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
			  int up, struct streams *s)
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
		if (y > 0 && up) {
			const uint16_t *u = c - w;
			for (size_t x = 0; x < w; x++)
				c[x] = (uint16_t)(u[x] + r[x]);
			continue;
		}
		const uint16_t *u = y > 0 ? c - w : NULL;
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
	return 0;
}

static int ctx_unfilter8(uint8_t *out, size_t nr, size_t w, size_t step,
			 int up, struct streams *s)
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
		for (size_t x = 0; x < w; x++) {
			uint8_t left = x >= step ? c[x - step] : 0;
			uint8_t pred;
			if (!u)
				pred = left;
			else if (up || x < step)
				pred = u[x];
			else
				pred = (uint8_t)(left + u[x] - u[x - step]);
			c[x] = (uint8_t)(pred + unzz8(r[x]));
		}
	}
	return 0;
}

/*
 * Calls fn for each run of rows of one image inside the chunk
 * [raw_off, raw_off + raw_size), which holds whole rows.
 */
struct band {
	size_t off;             /* from the chunk start, bytes */
	size_t nrows;
};

static size_t chunk_bands(const struct geom *g, uint64_t raw_off,
			  size_t raw_size, struct band *b, size_t maxb)
{
	size_t n = 0, pos = 0;
	while (pos < raw_size && n < maxb) {
		size_t in_img = (size_t)((raw_off + pos) % g->img_bytes);
		size_t left_rows = g->img_rows - in_img / g->row_bytes;
		size_t rows = (raw_size - pos) / g->row_bytes;
		if (rows > left_rows)
			rows = left_rows;
		b[n].off = pos;
		b[n].nrows = rows;
		n++;
		pos += rows * g->row_bytes;
	}
	return n;
}

/* ---- encoding ----------------------------------------------------------- */

struct out_buf {
	uint8_t *p;
	size_t len, cap;
};

static int out_reserve(struct out_buf *o, size_t more)
{
	if (o->cap - o->len >= more)
		return 0;
	size_t cap = o->cap ? o->cap : 4096;
	while (cap - o->len < more) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	uint8_t *p = realloc(o->p, cap);
	if (!p)
		return -1;
	o->p = p;
	o->cap = cap;
	return 0;
}

/* zstd-compress src into the output; returns compressed size or 0 on error. */
static size_t zstd_into(struct codec_ctx *ctx, struct out_buf *o,
			const void *src, size_t n, int level)
{
	size_t bound = ZSTD_compressBound(n);
	if (out_reserve(o, bound))
		return 0;
	size_t r = ZSTD_compressCCtx(ctx->cc, o->p + o->len, bound, src, n, level);
	if (ZSTD_isError(r))
		return 0;
	return r;
}

/* Residual planes of a pixel chunk for method m into buf (2 * samples). */
static void make_planes(const struct geom *g, const uint8_t *raw,
			uint64_t raw_off, size_t raw_size, int m,
			const uint16_t *words, uint8_t *buf)
{
	size_t nsamp = raw_size / g->bps;
	struct band b[64];
	size_t done = 0;
	while (done < raw_size) {
		size_t nb = chunk_bands(g, raw_off + done, raw_size - done, b, 64);
		for (size_t i = 0; i < nb; i++) {
			size_t so = (done + b[i].off) / g->bps;
			if (g->bps == 2)
				filter16(words + so, b[i].nrows, g->row_samples,
					 g->step, m, buf + so, buf + nsamp + so);
			else
				filter8(raw + done + b[i].off, b[i].nrows,
					g->row_samples, g->step, m, buf + so);
		}
		done += b[nb - 1].off + b[nb - 1].nrows * g->row_bytes;
	}
}

/* Gradient or up, by the sum of residual magnitudes on every 8th row. */
static int pick_predictor(const struct geom *g, const uint8_t *pix,
			  uint64_t raw_off, size_t raw_size)
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
	return cost_up < cost_grad ? M_UP : M_GRADIENT;
}

/* Plane encoding of a chunk, for chunks too large for the context method.
 * Appends to o, returns the size, 0 on error. */
static size_t encode_planes(struct codec_ctx *ctx, struct out_buf *o,
			    const struct geom *g, const uint8_t *pix,
			    uint64_t raw_off, size_t raw_size, int m, int level)
{
	uint8_t *planes = scratch(ctx, S_BYTES, raw_size);
	if (!planes)
		return 0;
	make_planes(g, pix, raw_off, raw_size, m,
		    (const uint16_t *)(const void *)pix, planes);
	return zstd_into(ctx, o, planes, raw_size, level);
}

/* zstd frame src -> exactly n bytes at dst. */
static int unzstd(struct codec_ctx *ctx, void *dst, size_t n,
		  const uint8_t *src, size_t len)
{
	size_t r = ZSTD_decompressDCtx(ctx->dc, dst, n, src, len);
	if (ZSTD_isError(r) || r != n)
		return CODEC_ERR_CORRUPT;
	return CODEC_OK;
}

/* Row scratch of struct streams for rows of w samples. */
static int row_scratch(struct codec_ctx *ctx, const struct geom *g,
		       struct streams *s)
{
	size_t w = g->row_samples;
	uint8_t *p = scratch(ctx, S_ROW, w * 4 + w * 2 + w + w);
	if (!p)
		return -1;
	s->tmp = (uint16_t *)(void *)p;
	s->res = (uint16_t *)(void *)(p + w * 4);
	s->ctx = p + w * 6;
	s->tok = p + w * 7;
	return 0;
}

/* Calls the band filter for every image band of a chunk. */
static int ctx_bands(const struct geom *g, uint8_t *raw, uint64_t raw_off,
		     size_t raw_size, int up, int decode, struct streams *s)
{
	struct band b[64];
	size_t done = 0;
	while (done < raw_size) {
		size_t nb = chunk_bands(g, raw_off + done, raw_size - done, b, 64);
		for (size_t i = 0; i < nb; i++) {
			uint8_t *p = raw + done + b[i].off;
			size_t nr = b[i].nrows, w = g->row_samples;
			int rc = 0;
			if (g->bps == 2 && decode)
				rc = ctx_unfilter16((uint16_t *)(void *)p, nr, w, g->step, up, s);
			else if (g->bps == 2)
				ctx_filter16((const uint16_t *)(void *)p, nr, w, g->step, up, s);
			else if (decode)
				rc = ctx_unfilter8(p, nr, w, g->step, up, s);
			else
				ctx_filter8(p, nr, w, g->step, up, s);
			if (rc)
				return rc;
		}
		done += b[nb - 1].off + b[nb - 1].nrows * g->row_bytes;
	}
	return 0;
}

/* Limit of the context methods: their scratch is NCTX bytes per sample. */
#define CTX_MAX_SAMPLES (8u << 20)

/* Context-split encoding of a chunk (words: aligned copy for 16-bit, else
 * raw); appends the payload to o and returns its size, 0 on error. */
static size_t encode_ctx(struct codec_ctx *ctx, struct out_buf *o,
			 const struct geom *g, uint8_t *pix, uint64_t raw_off,
			 size_t raw_size, int up, int level)
{
	size_t nsamp = raw_size / g->bps;
	struct streams s;
	uint8_t *tok = scratch(ctx, S_BYTES, NCTX * nsamp);
	uint16_t *esc = (uint16_t *)(void *)scratch(ctx, S_ESC, nsamp * 2);
	if (!tok || !esc || row_scratch(ctx, g, &s))
		return 0;
	for (int k = 0; k < NCTX; k++)
		s.tp[k] = tok + (size_t)k * nsamp;
	s.esc = esc;
	ctx_bands(g, pix, raw_off, raw_size, up, 0, &s);

	size_t base = o->len;
	if (out_reserve(o, NSTREAM * 8))
		return 0;
	o->len += NSTREAM * 8;
	for (int k = 0; k < NSTREAM; k++) {
		const uint8_t *src = k < NCTX ? tok + (size_t)k * nsamp : (uint8_t *)esc;
		size_t cnt = k < NCTX ? (size_t)(s.tp[k] - src) : (size_t)(s.esc - esc);
		size_t bytes = k < NCTX ? cnt : cnt * 2;
		size_t z = 0;
		if (bytes) {
			z = zstd_into(ctx, o, src, bytes, level);
			if (z == 0)
				return 0;
		}
		put32(o->p + base + (size_t)k * 8, (uint32_t)cnt);
		put32(o->p + base + (size_t)k * 8 + 4, (uint32_t)z);
		o->len += z;
	}
	size_t n = o->len - base;
	o->len = base;
	return n;
}

/* Decode a context-split chunk into dst (aligned for 16-bit samples). */
static int decode_ctx(struct codec_ctx *ctx, const struct geom *g,
		      const uint8_t *src, size_t len, uint64_t raw_off,
		      size_t raw_size, int up, uint8_t *dst)
{
	size_t nsamp = raw_size / g->bps, w = g->row_samples;
	if (len < NSTREAM * 8)
		return CODEC_ERR_CORRUPT;
	uint64_t ntok = 0, zsum = 0;
	for (int k = 0; k < NSTREAM; k++) {
		if (k < NCTX)
			ntok += get32(src + k * 8);
		zsum += get32(src + k * 8 + 4);
	}
	uint64_t nesc = get32(src + NCTX * 8);
	if (ntok != nsamp || zsum != len - NSTREAM * 8 || nesc > nsamp ||
	    (g->bps == 1 && nesc))
		return CODEC_ERR_CORRUPT;
	/* w bytes of slack: a bad blob may overrun a stream by up to a row */
	uint8_t *tok = scratch(ctx, S_BYTES, nsamp + w);
	uint16_t *esc = (uint16_t *)(void *)scratch(ctx, S_ESC, nesc * 2 + 2);
	struct streams s;
	if (!tok || !esc || row_scratch(ctx, g, &s))
		return CODEC_ERR_NOMEM;
	memset(tok + nsamp, 0, w);
	const uint8_t *z = src + NSTREAM * 8;
	size_t at = 0;
	for (int k = 0; k < NSTREAM; k++) {
		size_t cnt = get32(src + k * 8), zl = get32(src + k * 8 + 4);
		uint8_t *d = k < NCTX ? tok + at : (uint8_t *)esc;
		size_t bytes = k < NCTX ? cnt : cnt * 2;
		if (bytes) {
			int rc = unzstd(ctx, d, bytes, z, zl);
			if (rc)
				return rc;
		} else if (zl) {
			return CODEC_ERR_CORRUPT;
		}
		if (k < NCTX) {
			s.tp[k] = d;
			s.tend[k] = d + cnt;
			at += cnt;
		}
		z += zl;
	}
	s.esc = esc;
	s.esc_end = esc + nesc;
	if (ctx_bands(g, dst, raw_off, raw_size, up, 1, &s))
		return CODEC_ERR_CORRUPT;
	return CODEC_OK;
}

/* Encode one chunk at the end of o; records method and size in *e. */
static int encode_chunk(struct codec_ctx *ctx, struct out_buf *o,
			const struct geom *g, const uint8_t *raw,
			uint64_t raw_off, size_t raw_size, int level,
			struct entry *e)
{
	size_t best = raw_size;
	int best_m = M_STORED;
	size_t base = o->len;

	if (g) {
		uint8_t *pix = (uint8_t *)raw;
		if (g->bps == 2) {
			/* aligned copy: raw may sit at any address */
			pix = scratch(ctx, S_WORDS, raw_size);
			if (!pix)
				return CODEC_ERR_NOMEM;
			memcpy(pix, raw, raw_size);
		}
		int m = pick_predictor(g, pix, raw_off, raw_size);
		size_t r;
		if (raw_size / g->bps <= CTX_MAX_SAMPLES)
			r = encode_ctx(ctx, o, g, pix, raw_off, raw_size,
				       m == M_UP, level);
		else
			r = encode_planes(ctx, o, g, pix, raw_off, raw_size, m, level);
		if (r == 0)
			return CODEC_ERR_NOMEM;
		if (r < best) {
			best = r;
			best_m = raw_size / g->bps <= CTX_MAX_SAMPLES ?
				 (m == M_UP ? M_UP_CTX : M_GRADIENT_CTX) : m;
		}
	}
	if (!g || best > raw_size / 2) {
		/* little structure found: maybe plain zstd does better */
		size_t save = o->len;
		o->len = base + (best_m == M_STORED ? 0 : best);
		size_t r = zstd_into(ctx, o, raw, raw_size, level);
		o->len = save;
		if (r == 0)
			return CODEC_ERR_NOMEM;
		if (r < best) {
			if (best_m != M_STORED)
				memmove(o->p + base, o->p + base + best, r);
			best = r;
			best_m = M_ZSTD;
		}
	}
	if (best_m == M_STORED) {
		if (out_reserve(o, raw_size))
			return CODEC_ERR_NOMEM;
		memcpy(o->p + base, raw, raw_size);
		best = raw_size;
	}
	o->len = base + best;
	e->raw_off = raw_off;
	e->raw_size = (uint32_t)raw_size;
	e->enc_size = (uint32_t)best;
	e->method = (uint32_t)best_m;
	e->hash = (uint32_t)XXH3_64bits(raw, raw_size);
	return CODEC_OK;
}

/* Chunk boundaries: whole rows, never more than CHUNK_TARGET unless one row
 * is larger; several whole images per chunk when images are small. */
static size_t next_chunk(const struct geom *g, uint64_t pos, uint64_t raw_len)
{
	uint64_t left = raw_len - pos;
	if (!g)
		return (size_t)(left < CHUNK_TARGET ? left : CHUNK_TARGET);
	if (g->img_bytes <= CHUNK_TARGET) {
		uint64_t n = CHUNK_TARGET / g->img_bytes * g->img_bytes;
		return (size_t)(left < n ? left : n);
	}
	/* bands of equal height inside an image */
	size_t rows_per = CHUNK_TARGET / g->row_bytes;
	if (rows_per == 0)
		rows_per = 1;
	size_t nbands = (g->img_rows + rows_per - 1) / rows_per;
	rows_per = (g->img_rows + nbands - 1) / nbands;
	size_t row_in = (size_t)(pos % g->img_bytes) / g->row_bytes;
	size_t rows = g->img_rows - row_in;
	if (rows > rows_per)
		rows = rows_per;
	return rows * g->row_bytes;
}

int codec_encode(struct codec_ctx *ctx, const void *raw, size_t raw_len,
		 const struct codec_layout *layout, int level,
		 uint8_t **out, size_t *out_len)
{
	if (!ctx || !out || !out_len || (!raw && raw_len))
		return CODEC_ERR_ARG;
	struct geom gg;
	const struct geom *g = NULL;
	if (layout && geom_from_layout(layout, raw_len, &gg) == 0)
		g = &gg;

	/* count chunks first so the table can be laid out */
	uint64_t nch = 0;
	for (uint64_t pos = 0; pos < raw_len; pos += next_chunk(g, pos, raw_len))
		nch++;
	if (nch > UINT32_MAX || nch > (SIZE_MAX - HDR_SIZE - SUM_SIZE) / ENT_SIZE)
		return CODEC_ERR_ARG;
	size_t head = HDR_SIZE + (size_t)nch * ENT_SIZE + SUM_SIZE;
	struct out_buf o = { 0 };
	if (out_reserve(&o, head + raw_len / 4 + 64))
		return CODEC_ERR_NOMEM;
	memset(o.p, 0, head);
	o.len = head;

	const uint8_t *r = raw;
	uint64_t pos = 0;
	for (uint32_t i = 0; i < nch; i++) {
		size_t n = next_chunk(g, pos, raw_len);
		struct entry e;
		size_t start = o.len;
		int rc = encode_chunk(ctx, &o, g, r + pos, pos, n, level, &e);
		if (rc) {
			free(o.p);
			return rc;
		}
		uint8_t *t = o.p + HDR_SIZE + (size_t)i * ENT_SIZE;
		put64(t, e.raw_off);
		put64(t + 8, start - head);
		put32(t + 16, e.raw_size);
		put32(t + 20, e.enc_size);
		t[24] = (uint8_t)e.method;
		put32(t + 28, e.hash);
		pos += n;
	}

	uint8_t *h = o.p;
	memcpy(h, "DCZB", 4);
	h[4] = VERSION;
	h[5] = g ? KIND_PIXEL : KIND_OPAQUE;
	put64(h + 8, raw_len);
	put32(h + 16, (uint32_t)nch);
	if (g) {
		put32(h + 20, layout->bytes_per_sample);
		put32(h + 24, layout->samples_per_pixel);
		put32(h + 28, layout->planar);
		put32(h + 32, layout->columns);
		put32(h + 36, layout->rows);
		put32(h + 40, layout->frames);
	}
	put64(h + head - SUM_SIZE, XXH3_64bits(h, head - SUM_SIZE));
	*out = o.p;
	*out_len = o.len;
	return CODEC_OK;
}

/* ---- decoding ----------------------------------------------------------- */

/* The parsed form behind struct codec_blob.  Everything in the header and
 * the chunk table has been checked once, at open, so lookups trust it. */
struct codec_blob {
	const uint8_t *table;   /* chunk table inside the borrowed enc */
	const uint8_t *data;    /* chunk data inside enc */
	size_t data_len;
	uint64_t raw_len;
	uint32_t nchunks;
	uint32_t kind;
	uint32_t uniform_size;  /* every chunk but the last has this raw size, or 0 */
	uint32_t main_method;   /* method covering the most raw bytes */
	struct geom g;
};

static void get_entry(const struct codec_blob *b, uint32_t i, struct entry *e)
{
	const uint8_t *t = b->table + (size_t)i * ENT_SIZE;
	e->raw_off = get64(t);
	e->enc_off = get64(t + 8);
	e->raw_size = get32(t + 16);
	e->enc_size = get32(t + 20);
	e->method = t[24];
	e->hash = get32(t + 28);
}

/* Check everything in the header and table in one pass; all later reads
 * rely on it.  Also notes what makes lookups cheap afterwards. */
static int parse(const uint8_t *enc, size_t enc_len, struct codec_blob *b)
{
	if (!enc || enc_len < HDR_SIZE + SUM_SIZE)
		return CODEC_ERR_CORRUPT;
	if (memcmp(enc, "DCZB", 4) != 0 || enc[4] != VERSION || enc[5] > KIND_PIXEL)
		return CODEC_ERR_CORRUPT;
	b->kind = enc[5];
	b->raw_len = get64(enc + 8);
	b->nchunks = get32(enc + 16);
	if (b->nchunks > (enc_len - HDR_SIZE - SUM_SIZE) / ENT_SIZE)
		return CODEC_ERR_CORRUPT;
	size_t head = HDR_SIZE + (size_t)b->nchunks * ENT_SIZE + SUM_SIZE;
	if (get64(enc + head - SUM_SIZE) != XXH3_64bits(enc, head - SUM_SIZE))
		return CODEC_ERR_CORRUPT;
	b->table = enc + HDR_SIZE;
	b->data = enc + head;
	b->data_len = enc_len - head;
	if (b->kind == KIND_PIXEL) {
		struct codec_layout l = {
			get32(enc + 20), get32(enc + 24), get32(enc + 28),
			get32(enc + 32), get32(enc + 36), get32(enc + 40)
		};
		if (geom_from_layout(&l, b->raw_len, &b->g))
			return CODEC_ERR_CORRUPT;
	}
	uint64_t raw_pos = 0, enc_pos = 0;
	uint64_t method_bytes[M_COUNT] = { 0 };
	b->uniform_size = b->nchunks ? get32(b->table + 16) : 0;
	for (uint32_t i = 0; i < b->nchunks; i++) {
		struct entry e;
		get_entry(b, i, &e);
		if (e.raw_off != raw_pos || e.enc_off != enc_pos || !e.raw_size ||
		    e.raw_size > CHUNK_MAX || e.method >= M_COUNT)
			return CODEC_ERR_CORRUPT;
		if (e.raw_size > b->raw_len - raw_pos ||
		    e.enc_size > b->data_len - enc_pos)
			return CODEC_ERR_CORRUPT;
		if (e.method == M_STORED && e.enc_size != e.raw_size)
			return CODEC_ERR_CORRUPT;
		if (e.method >= M_GRADIENT &&
		    (b->kind != KIND_PIXEL || e.raw_off % b->g.row_bytes ||
		     e.raw_size % b->g.row_bytes))
			return CODEC_ERR_CORRUPT;
		if (i + 1 < b->nchunks && e.raw_size != b->uniform_size)
			b->uniform_size = 0;
		method_bytes[e.method] += e.raw_size;
		raw_pos += e.raw_size;
		enc_pos += e.enc_size;
	}
	if (raw_pos != b->raw_len)
		return CODEC_ERR_CORRUPT;
	b->main_method = M_STORED;
	for (uint32_t m = 1; m < M_COUNT; m++)
		if (method_bytes[m] > method_bytes[b->main_method])
			b->main_method = m;
	return CODEC_OK;
}

int codec_blob_open(const uint8_t *enc, size_t enc_len, struct codec_blob **out)
{
	if (!out)
		return CODEC_ERR_ARG;
	*out = NULL;
	struct codec_blob *b = malloc(sizeof(*b));
	if (!b)
		return CODEC_ERR_NOMEM;
	int rc = parse(enc, enc_len, b);
	if (rc) {
		free(b);
		return rc;
	}
	*out = b;
	return CODEC_OK;
}

void codec_blob_close(struct codec_blob *b)
{
	free(b);
}

uint64_t codec_blob_raw_len(const struct codec_blob *b)
{
	return b->raw_len;
}

uint32_t codec_blob_chunks(const struct codec_blob *b)
{
	return b->nchunks;
}

void codec_blob_chunk_span(const struct codec_blob *b, uint32_t i,
			   uint64_t *raw_off, uint32_t *raw_len)
{
	const uint8_t *t = b->table + (size_t)i * ENT_SIZE;
	if (raw_off)
		*raw_off = get64(t);
	if (raw_len)
		*raw_len = get32(t + 16);
}

uint32_t codec_blob_chunk_at(const struct codec_blob *b, uint64_t off)
{
	if (b->nchunks == 0)
		return 0;
	if (b->uniform_size) {
		/* equal chunks (the usual case): no search */
		uint64_t i = off / b->uniform_size;
		return i < b->nchunks ? (uint32_t)i : b->nchunks - 1;
	}
	/* last chunk that starts at or before off (chunks tile the raw bytes) */
	uint32_t lo = 0, hi = b->nchunks;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (get64(b->table + (size_t)mid * ENT_SIZE) <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

const char *codec_blob_method(const struct codec_blob *b)
{
	return method_names[b->main_method];
}

/* Decode chunk e of a parsed blob into dst (e->raw_size bytes). */
static int decode_entry(struct codec_ctx *ctx, const struct codec_blob *b,
			const struct entry *e, uint8_t *dst)
{
	const uint8_t *src = b->data + e->enc_off;
	size_t n = e->raw_size;
	int rc = CODEC_OK;

	switch (e->method) {
	case M_STORED:
		memcpy(dst, src, n);
		break;
	case M_ZSTD:
		rc = unzstd(ctx, dst, n, src, e->enc_size);
		break;
	case M_GRADIENT_CTX:
	case M_UP_CTX: {
		uint8_t *pix = dst;
		if (b->g.bps == 2 && ((uintptr_t)dst & 1) &&
		    !(pix = scratch(ctx, S_WORDS, n)))
			return CODEC_ERR_NOMEM;
		rc = decode_ctx(ctx, &b->g, src, e->enc_size, e->raw_off, n,
				e->method == M_UP_CTX, pix);
		if (rc == CODEC_OK && pix != dst)
			memcpy(dst, pix, n);
		break;
	}
	default: {
		const struct geom *g = &b->g;
		uint8_t *planes = scratch(ctx, S_BYTES, n);
		if (!planes)
			return CODEC_ERR_NOMEM;
		rc = unzstd(ctx, planes, n, src, e->enc_size);
		if (rc)
			return rc;
		/* 16-bit words are rebuilt in place when dst is aligned */
		uint16_t *words = NULL;
		if (g->bps == 2) {
			if (((uintptr_t)dst & 1) == 0)
				words = (uint16_t *)(void *)dst;
			else if (!(words = (uint16_t *)(void *)scratch(ctx, S_WORDS, n)))
				return CODEC_ERR_NOMEM;
		}
		size_t nsamp = n / g->bps, done = 0;
		struct band bd[64];
		while (done < n) {
			size_t nb = chunk_bands(g, e->raw_off + done, n - done, bd, 64);
			for (size_t i = 0; i < nb; i++) {
				size_t so = (done + bd[i].off) / g->bps;
				if (g->bps == 2)
					unfilter16(words + so, bd[i].nrows,
						   g->row_samples, g->step,
						   (int)e->method, planes + so,
						   planes + nsamp + so);
				else
					unfilter8(dst + done + bd[i].off,
						  bd[i].nrows, g->row_samples,
						  g->step, (int)e->method,
						  planes + so);
			}
			done += bd[nb - 1].off + bd[nb - 1].nrows * g->row_bytes;
		}
		if (words && (uint8_t *)words != dst)
			memcpy(dst, words, n);
		break;
	}
	}
	if (rc == CODEC_OK && (uint32_t)XXH3_64bits(dst, n) != e->hash)
		rc = CODEC_ERR_CORRUPT;
	return rc;
}

int codec_blob_decode_chunk(struct codec_ctx *ctx, const struct codec_blob *b,
			    uint32_t i, void *dst)
{
	if (!ctx || !b || !dst)
		return CODEC_ERR_ARG;
	if (i >= b->nchunks)
		return CODEC_ERR_RANGE;
	struct entry e;
	get_entry(b, i, &e);
	return decode_entry(ctx, b, &e, dst);
}

int64_t codec_blob_decode_range(struct codec_ctx *ctx, const struct codec_blob *b,
				uint64_t off, void *dst, size_t n)
{
	if (!ctx || !b || (!dst && n))
		return CODEC_ERR_ARG;
	if (off > b->raw_len)
		return CODEC_ERR_RANGE;
	if (n > b->raw_len - off)
		n = (size_t)(b->raw_len - off);
	if (n > INT64_MAX)
		return CODEC_ERR_ARG;
	uint8_t *d = dst;
	size_t done = 0;
	uint32_t i = n ? codec_blob_chunk_at(b, off) : b->nchunks;
	for (; done < n && i < b->nchunks; i++) {
		struct entry e;
		get_entry(b, i, &e);
		size_t skip = (size_t)(off + done - e.raw_off);
		size_t want = e.raw_size - skip;
		if (want > n - done)
			want = n - done;
		int rc;
		if (skip == 0 && want == e.raw_size) {
			rc = decode_entry(ctx, b, &e, d + done);
		} else {
			/* part of a chunk: decode it whole aside, copy the part */
			uint8_t *whole = scratch(ctx, S_RANGE, e.raw_size);
			if (!whole)
				return CODEC_ERR_NOMEM;
			rc = decode_entry(ctx, b, &e, whole);
			if (rc == CODEC_OK)
				memcpy(d + done, whole + skip, want);
		}
		if (rc)
			return rc;
		done += want;
	}
	return (int64_t)done;
}

/* ---- one-shot calls: a parsed blob on the stack, no allocation ---------- */

int codec_info(const uint8_t *enc, size_t enc_len, uint64_t *raw_len,
	       uint32_t *nchunks)
{
	struct codec_blob b;
	int rc = parse(enc, enc_len, &b);
	if (rc)
		return rc;
	if (raw_len)
		*raw_len = b.raw_len;
	if (nchunks)
		*nchunks = b.nchunks;
	return CODEC_OK;
}

int codec_chunk_span(const uint8_t *enc, size_t enc_len, uint32_t i,
		     uint64_t *raw_off, uint32_t *raw_len)
{
	struct codec_blob b;
	int rc = parse(enc, enc_len, &b);
	if (rc)
		return rc;
	if (i >= b.nchunks)
		return CODEC_ERR_RANGE;
	codec_blob_chunk_span(&b, i, raw_off, raw_len);
	return CODEC_OK;
}

int codec_decode_chunk(struct codec_ctx *ctx, const uint8_t *enc,
		       size_t enc_len, uint32_t i, void *dst)
{
	if (!ctx || !dst)
		return CODEC_ERR_ARG;
	struct codec_blob b;
	int rc = parse(enc, enc_len, &b);
	if (rc)
		return rc;
	return codec_blob_decode_chunk(ctx, &b, i, dst);
}

int64_t codec_decode_range(struct codec_ctx *ctx, const uint8_t *enc,
			   size_t enc_len, uint64_t off, void *dst, size_t n)
{
	if (!ctx || (!dst && n))
		return CODEC_ERR_ARG;
	struct codec_blob b;
	int rc = parse(enc, enc_len, &b);
	if (rc)
		return rc;
	return codec_blob_decode_range(ctx, &b, off, dst, n);
}

const char *codec_method_name(const uint8_t *enc, size_t enc_len)
{
	struct codec_blob b;
	if (parse(enc, enc_len, &b))
		return "corrupt";
	return codec_blob_method(&b);
}

const char *codec_strerror(int status)
{
	switch (status) {
	case CODEC_OK: return "success";
	case CODEC_ERR_NOMEM: return "out of memory";
	case CODEC_ERR_CORRUPT: return "corrupt encoded blob";
	case CODEC_ERR_RANGE: return "offset past the end";
	case CODEC_ERR_ARG: return "invalid argument";
	default: return "unknown codec error";
	}
}
