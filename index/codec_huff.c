/*
 * codec_huff.c - the bias-corrected Huffman chunk coder, an experiment
 * measured by dcmfs-codecbench -R (codec_huff.h says what and why).
 *
 * Both sides work on 16-bit words (8-bit samples are widened, arithmetic
 * then masked to 8 bits), so there is one code path for both sizes.
 */
#include "codec_huff.h"
#include "codec_filter.h"
#include "codec_model.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#define HB_NBIAS 366            /* 365 gradient contexts + first rows */
#define HB_FIRST 365            /* bias context of a band's first row */
#define HB_NCLS (NCTX + 1)      /* activity 0..NCTX-1, then first rows */
#define HB_NSYM 32
#define HB_LMAX 11
#define HB_SEGS 4
#define HB_BITMAP ((HB_NBIAS + 7) / 8)
#define HB_LENS (HB_NSYM / 2)   /* bytes of code lengths per class */
#define HB_OFF_STREAMS 8u
#define HB_OFF_BITMAP (HB_OFF_STREAMS + HB_SEGS * 8u)
#define HB_OFF_LENS (HB_OFF_BITMAP + HB_BITMAP)
#define HB_FIXED (HB_OFF_LENS + (HB_NCLS - 1) * HB_LENS)
#define HB_MAX_BITS (HB_LMAX + 14)   /* code and raw bits of one sample */
#define NEG 0x8000u             /* sign flag in a context word */

/* First sample of segment s of a row of w samples. */
static size_t seg_lo(size_t w, int s)
{
	return w * (size_t)s / HB_SEGS;
}

/* (q1, q2, q3), each -4..4, to the sign-merged context 0..364 (| NEG when
 * the first non-zero one was negative), indexed by (q1 * 9 + q2) * 9 + q3
 * + 364. */
static void context_table(uint16_t *tab)
{
	for (int a = -4; a <= 4; a++)
		for (int b = -4; b <= 4; b++)
			for (int c = -4; c <= 4; c++) {
				int neg = a < 0 || (a == 0 && (b < 0 || (b == 0 && c < 0)));
				int q1 = neg ? -a : a, q2 = neg ? -b : b, q3 = neg ? -c : c;
				int m = (q1 * 9 + q2 + 4) * 9 + q3 + 4 - 40;
				tab[(a * 9 + b) * 9 + c + 364] = (uint16_t)(m | (neg ? NEG : 0));
			}
}

/* Difference x - y modulo 2^bits read as signed. */
static inline int sdiff(uint16_t x, uint16_t y, unsigned bits)
{
	unsigned m = (1u << bits) - 1, half = 1u << (bits - 1);
	return (int)(((unsigned)(x - y) & m) ^ half) - (int)half;
}

#define VECTORIZE __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))

#define QUANT(d) ((int16_t)(((d) > 0) - ((d) < 0)) *                          \
	(int16_t)(((d) != 0) + ((d) >= t0 || (d) <= -t0) +                    \
		  ((d) >= t1 || (d) <= -t1) + ((d) >= t2 || (d) <= -t2)))
#define QI(T, b, c, d, bb)                                                     \
	({ int16_t d1 = (int16_t)(T)((d) - (b)), d2 = (int16_t)(T)((b) - (c)),  \
		   d3 = (int16_t)(T)((bb) - (b));                              \
	   (uint16_t)((QUANT(d1) * 9 + QUANT(d2)) * 9 + QUANT(d3) + 364); })

/* Context index (q1 * 9 + q2) * 9 + q3 + 364 of every sample of a row from
 * the rows above: u (b above, c above left, d above right; b where a
 * neighbour is outside the row) and uu (above u).  The interior is one
 * branch-free loop the compiler vectorises. */
#define BIAS_ROW(T)                                                            \
	int16_t t0 = (int16_t)t[0], t1 = (int16_t)t[1], t2 = (int16_t)t[2];   \
	size_t lo = step < w ? step : w, hi = w > 2 * step ? w - step : lo;   \
	for (size_t x = 0; x < w; x++) {                                      \
		if (x == lo && hi > lo)                                       \
			x = hi;                                               \
		uint16_t b = u[x], c = x >= step ? u[x - step] : b;           \
		uint16_t d = x + step < w ? u[x + step] : b;                  \
		qi[x] = QI(T, b, c, d, uu[x]);                                \
	}                                                                     \
	for (size_t x = lo; x < hi; x++)                                      \
		qi[x] = QI(T, u[x], u[x - step], u[x + step], uu[x]);

VECTORIZE static void bias_row16(const uint16_t *restrict u, const uint16_t *restrict uu,
				 size_t w, size_t step, const int t[3],
				 uint16_t *restrict qi)
{
	BIAS_ROW(int16_t)
}

VECTORIZE static void bias_row8(const uint16_t *restrict u, const uint16_t *restrict uu,
				size_t w, size_t step, const int t[3],
				uint16_t *restrict qi)
{
	BIAS_ROW(int8_t)
}

#if defined(__x86_64__) && defined(__GNUC__)
VECTORIZE __attribute__((target("avx2"))) static void bias_row16_avx2(
	const uint16_t *restrict u, const uint16_t *restrict uu, size_t w,
	size_t step, const int t[3], uint16_t *restrict qi)
{
	BIAS_ROW(int16_t)
}
#endif

static void bias_row(const uint16_t *u, const uint16_t *uu, size_t w,
		     size_t step, unsigned bits, const int t[3], uint16_t *qi)
{
#if defined(__x86_64__) && defined(__GNUC__)
	static int avx2 = -1;
	if (avx2 < 0)
		avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
	if (bits == 16 && avx2) {
		bias_row16_avx2(u, uu, w, step, t, qi);
		return;
	}
#endif
	if (bits == 16)
		bias_row16(u, uu, w, step, t, qi);
	else
		bias_row8(u, uu, w, step, t, qi);
}

static inline unsigned bit_len(unsigned z)
{
	return z ? 32u - (unsigned)__builtin_clz(z) : 0u;
}

/* Symbol of a zigzag value z: 0, 1, then 2 k - 2 + (the bit below the top
 * bit) for a bit length k >= 2; *nraw bits below those two follow raw. */
static inline unsigned symbol_of(unsigned z, unsigned *nraw)
{
	unsigned k = bit_len(z);
	if (k <= 1) {
		*nraw = 0;
		return k;
	}
	*nraw = k - 2;
	return 2 * k - 2 + ((z >> (k - 2)) & 1u);
}

/* Code lengths (<= HB_LMAX) of a Huffman code for cnt[0..HB_NSYM); a
 * single used symbol gets length 1, unused ones 0.  Counts are halved
 * until the longest code fits. */
static void huff_lengths(const uint32_t *cnt_in, uint8_t *len)
{
	uint64_t cnt[HB_NSYM];
	memcpy(len, (uint8_t[HB_NSYM]){ 0 }, HB_NSYM);
	int used = 0;
	for (int i = 0; i < HB_NSYM; i++) {
		cnt[i] = cnt_in[i];
		used += cnt[i] > 0;
	}
	if (used == 0)
		return;
	if (used == 1) {
		for (int i = 0; i < HB_NSYM; i++)
			if (cnt[i])
				len[i] = 1;
		return;
	}
	for (;;) {
		uint64_t wt[2 * HB_NSYM];
		int parent[2 * HB_NSYM], alive[2 * HB_NSYM], leaf[HB_NSYM];
		int n = 0;
		for (int i = 0; i < HB_NSYM; i++)
			if (cnt[i]) {
				wt[n] = cnt[i];
				parent[n] = -1;
				alive[n] = 1;
				leaf[i] = n++;
			} else {
				leaf[i] = -1;
			}
		int nodes = n;
		for (int left = n; left > 1; left--) {
			int a = -1, b = -1;
			for (int i = 0; i < nodes; i++) {
				if (!alive[i])
					continue;
				if (a < 0 || wt[i] < wt[a]) {
					b = a;
					a = i;
				} else if (b < 0 || wt[i] < wt[b]) {
					b = i;
				}
			}
			wt[nodes] = wt[a] + wt[b];
			parent[nodes] = -1;
			alive[nodes] = 1;
			parent[a] = parent[b] = nodes;
			alive[a] = alive[b] = 0;
			nodes++;
		}
		int longest = 0;
		for (int i = 0; i < HB_NSYM; i++) {
			if (leaf[i] < 0)
				continue;
			int d = 0;
			for (int x = leaf[i]; parent[x] >= 0; x = parent[x])
				d++;
			len[i] = (uint8_t)d;
			if (d > longest)
				longest = d;
		}
		if (longest <= HB_LMAX)
			return;
		for (int i = 0; i < HB_NSYM; i++)
			if (cnt[i])
				cnt[i] = (cnt[i] >> 1) | 1u;
	}
}

/* Canonical codes of the lengths, bit-reversed for an LSB-first reader.
 * -1 when the lengths oversubscribe the code space (a corrupt table). */
static int huff_codes(const uint8_t *len, uint16_t *code)
{
	unsigned count[HB_LMAX + 1] = { 0 }, next[HB_LMAX + 2];
	for (int i = 0; i < HB_NSYM; i++)
		count[len[i]]++;
	count[0] = 0;
	unsigned c = 0, space = 0;
	for (int l = 1; l <= HB_LMAX; l++) {
		c = (c + count[l - 1]) << 1;
		next[l] = c;
		space += count[l] << (HB_LMAX - l);
	}
	if (space > 1u << HB_LMAX)
		return -1;
	for (int i = 0; i < HB_NSYM; i++) {
		if (!len[i])
			continue;
		unsigned v = next[len[i]]++, r = 0;
		for (int b = 0; b < len[i]; b++)
			r |= ((v >> b) & 1u) << (len[i] - 1 - b);
		code[i] = (uint16_t)r;
	}
	return 0;
}

struct bit_writer {
	uint8_t *p;
	uint64_t acc;
	unsigned n;
};

/* Appends the low n (<= HB_MAX_BITS) bits of v; needs 8 bytes of room. */
static inline void put_bits(struct bit_writer *bw, uint64_t v, unsigned n)
{
	bw->acc |= v << bw->n;
	bw->n += n;
	if (bw->n >= 32) {
		memcpy(bw->p, &bw->acc, 8);
		unsigned bytes = bw->n >> 3;
		bw->p += bytes;
		bw->acc >>= bytes * 8;
		bw->n &= 7;
	}
}

static void flush_bits(struct bit_writer *bw)
{
	memcpy(bw->p, &bw->acc, 8);
	bw->p += (bw->n + 7) >> 3;
	bw->acc = 0;
	bw->n = 0;
}

static void thresholds(unsigned bits, int t[3])
{
	/* JPEG-LS's defaults for 12-bit and 8-bit samples */
	t[0] = bits > 8 ? 21 : 3;
	t[1] = bits > 8 ? 70 : 7;
	t[2] = bits > 8 ? 276 : 21;
}

int codec_huff_encode(struct codec_ctx *ctx, const struct pixel_geom *g,
		      const uint8_t *pix, uint64_t raw_off, size_t raw_size,
		      const uint8_t **out, size_t *out_len)
{
	size_t w = g->row_samples, N = raw_size / g->bps, R = N / w;
	unsigned bits = g->bps * 8u, mask = (1u << bits) - 1;
	size_t bitcap[HB_SEGS], total_bits = 0;
	for (int s = 0; s < HB_SEGS; s++) {
		size_t sw = seg_lo(w, s + 1) - seg_lo(w, s);
		bitcap[s] = R * sw * HB_MAX_BITS / 8 + 16;
		total_bits += bitcap[s];
	}
	size_t need = N * 2 /* W */ + N * 2 /* mc */ + N * 2 /* z */ + N /* cls */ +
		      N /* flat */ + w * 4 /* tmp */ + total_bits + 64;
	uint8_t *sp = codec_scratch(ctx, S_HUFF, need);
	if (!sp)
		return -1;
	uint16_t *W = (uint16_t *)(void *)sp;
	uint16_t *mc = W + N, *zv = mc + N;
	uint16_t *tmp = zv + N;
	uint8_t *cls = (uint8_t *)(tmp + 2 * w), *flat = cls + N;
	uint8_t *bitbuf = flat + N;
	if (g->bps == 2)
		memcpy(W, pix, raw_size);
	else
		for (size_t i = 0; i < N; i++)
			W[i] = pix[i];

	int t[3];
	thresholds(bits, t);
	uint16_t ctab[729];
	context_table(ctab);
	int64_t sum[HB_NBIAS] = { 0 };
	uint32_t num[HB_NBIAS] = { 0 };
	size_t step = g->step, nr;
	/* pass 1: contexts, classes and sign-corrected residuals */
	for (size_t pos = 0, row0 = 0; pos < raw_size; pos += nr * g->row_bytes, row0 += nr) {
		nr = band_rows(g, raw_off + pos, raw_size - pos);
		for (size_t y = 0; y < nr; y++) {
			size_t i0 = (row0 + y) * w;
			const uint16_t *c = W + i0, *u = y ? c - w : NULL;
			uint16_t *m = mc + i0, *tv = zv + i0;
			uint8_t *k = cls + i0;
			if (!u) {
				for (size_t x = 0; x < w; x++) {
					m[x] = HB_FIRST;
					k[x] = HB_NCLS - 1;
					tv[x] = (uint16_t)((c[x] - (x >= step ? c[x - step] : 0)) & mask);
				}
			} else {
				const uint8_t *n1 = pix + (row0 + y - 1) * g->row_bytes;
				codec_model_contexts(g, n1, y > 1 ? n1 - g->row_bytes : n1, k, tmp);
				bias_row(u, y > 1 ? u - w : u, w, step, bits, t, m);
				for (size_t x = 0; x < w; x++) {
					m[x] = ctab[m[x]];
					unsigned pred = x < step ? u[x] :
						(unsigned)(c[x - step] + u[x] - u[x - step]);
					unsigned r = (c[x] - pred) & mask;
					tv[x] = (uint16_t)((m[x] & NEG ? 0u - r : r) & mask);
				}
			}
			for (size_t x = 0; x < w; x++) {
				unsigned q = m[x] & ~NEG;
				sum[q] += sdiff(tv[x], 0, bits);
				num[q]++;
			}
		}
	}
	/* biases: the rounded mean of each context */
	uint16_t bias[HB_NBIAS];
	for (int q = 0; q < HB_NBIAS; q++) {
		int64_t b = 0;
		if (num[q]) {
			int64_t n2 = 2 * (int64_t)num[q], s2 = 2 * sum[q] + (int64_t)num[q];
			b = s2 >= 0 ? s2 / n2 : -((-s2 + n2 - 1) / n2);
		}
		bias[q] = (uint16_t)((uint64_t)b & mask);
	}
	/* pass 2: zigzag values and symbol counts per class */
	uint32_t hist[HB_NCLS][HB_NSYM];
	memset(hist, 0, sizeof(hist));
	for (size_t i = 0; i < N; i++) {
		unsigned e = (zv[i] - bias[mc[i] & ~NEG]) & mask;
		unsigned z = ((e << 1) ^ (0u - (e >> (bits - 1)))) & mask;
		unsigned nraw;
		zv[i] = (uint16_t)z;
		hist[cls[i]][symbol_of(z, &nraw)]++;
	}
	uint8_t lens[HB_NCLS][HB_NSYM];
	uint16_t codes[HB_NCLS][HB_NSYM];
	memset(lens, 0, sizeof(lens));
	for (int k = 1; k < HB_NCLS; k++) {
		huff_lengths(hist[k], lens[k]);
		huff_codes(lens[k], codes[k]);
	}
	/* pass 3: the four bit streams and flat symbols */
	struct bit_writer bw[HB_SEGS];
	uint8_t *bstart[HB_SEGS], *fstart[HB_SEGS], *fp[HB_SEGS];
	size_t at = 0;
	for (int s = 0; s < HB_SEGS; s++) {
		bstart[s] = bitbuf + at;
		bw[s] = (struct bit_writer){ bstart[s], 0, 0 };
		at += bitcap[s];
		fstart[s] = fp[s] = flat + R * seg_lo(w, s);
	}
	for (size_t r = 0; r < R; r++)
		for (int s = 0; s < HB_SEGS; s++)
			for (size_t x = seg_lo(w, s); x < seg_lo(w, s + 1); x++) {
				size_t i = r * w + x;
				unsigned nraw, z = zv[i], sym = symbol_of(z, &nraw);
				uint64_t v = z & ((1u << nraw) - 1);
				if (cls[i]) {
					v = codes[cls[i]][sym] | v << lens[cls[i]][sym];
					nraw += lens[cls[i]][sym];
				} else {
					*fp[s]++ = (uint8_t)sym;
				}
				put_bits(&bw[s], v, nraw);
			}
	/* the payload */
	size_t zb = 0;
	for (int s = 0; s < HB_SEGS; s++) {
		flush_bits(&bw[s]);
		zb += ZSTD_compressBound((size_t)(fp[s] - fstart[s]));
	}
	uint8_t *o = codec_scratch(ctx, S_HUFF_OUT, HB_FIXED + HB_NBIAS * 3 + zb + at);
	if (!o)
		return -1;
	memset(o, 0, HB_FIXED);
	for (int i = 0; i < 3; i++) {
		o[2 * i] = (uint8_t)t[i];
		o[2 * i + 1] = (uint8_t)(t[i] >> 8);
	}
	for (int k = 1; k < HB_NCLS; k++)
		for (int i = 0; i < HB_NSYM; i += 2)
			o[HB_OFF_LENS + (size_t)(k - 1) * HB_LENS + (size_t)i / 2] =
				(uint8_t)(lens[k][i] | lens[k][i + 1] << 4);
	size_t len = HB_FIXED;
	for (int q = 0; q < HB_NBIAS; q++) {
		if (!bias[q])
			continue;
		o[HB_OFF_BITMAP + q / 8] |= (uint8_t)(1u << (q % 8));
		unsigned e = bias[q];
		unsigned z = ((e << 1) ^ (0u - (e >> (bits - 1)))) & mask;
		do {
			o[len++] = (uint8_t)((z & 0x7f) | (z > 0x7f ? 0x80 : 0));
			z >>= 7;
		} while (z);
	}
	for (int s = 0; s < HB_SEGS; s++) {
		size_t n = (size_t)(fp[s] - fstart[s]), zl = 0;
		if (n) {
			zl = ZSTD_compressCCtx(ctx->cc, o + len, ZSTD_compressBound(n),
					       fstart[s], n, 1);
			if (ZSTD_isError(zl))
				return -1;
		}
		put32(o + HB_OFF_STREAMS + (size_t)s * 8, (uint32_t)zl);
		len += zl;
	}
	for (int s = 0; s < HB_SEGS; s++) {
		size_t n = (size_t)(bw[s].p - bstart[s]);
		memcpy(o + len, bstart[s], n);
		put32(o + HB_OFF_STREAMS + (size_t)s * 8 + 4, (uint32_t)n);
		len += n;
	}
	*out = o;
	*out_len = len;
	return 0;
}

/* Decoding tables: for every HB_LMAX-bit window, the entry of the code
 * it starts with: its symbol's base value | code length << 16 | raw bit
 * count << 20 | both summed << 24. */
typedef uint32_t huff_table[1u << HB_LMAX];

/* One sample of a stream: the zigzag value whose symbol comes from the
 * table of class c (or, flat class 0, from the flat cursor *fp through
 * ftab) at bit *pos of bs, raw bits after it. */
static inline unsigned decode_one(const uint8_t *bs, uint64_t *pos,
				  const uint8_t **fp, unsigned c,
				  const huff_table *tab, const uint32_t *ftab)
{
	uint64_t v;
	memcpy(&v, bs + (*pos >> 3), 8);
	v >>= *pos & 7;
	uint32_t te = tab[c][v & ((1u << HB_LMAX) - 1)], fe = ftab[**fp & 31u];
	unsigned flat = c == 0;
	*fp += flat;
	uint32_t ent = flat ? fe : te;
	unsigned len = (ent >> 16) & 15u, nr = (ent >> 20) & 15u;
	*pos += ent >> 24;
	return (ent & 0xffffu) | ((unsigned)(v >> len) & ((1u << nr) - 1));
}

/* Residuals of a row from its zigzag values z and context indices qi:
 * unzigzag, add the context's bias, restore the sign (in place). */
static void apply_bias_base(uint16_t *z, const uint16_t *qi,
			    const uint32_t *qbias, size_t w, unsigned mask)
{
	for (size_t x = 0; x < w; x++) {
		unsigned v = z[x], e = ((v >> 1) ^ (0u - (v & 1u))) & mask;
		uint32_t m = qbias[qi[x]];
		unsigned t = e + (m & 0xffffu), n = m >> 16;
		z[x] = (uint16_t)(((t ^ n) - n) & mask);
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same, 8 samples at a time with AVX2's gather. */
__attribute__((target("avx2"))) static void apply_bias_avx2(
	uint16_t *z, const uint16_t *qi, const uint32_t *qbias, size_t w,
	unsigned mask)
{
	const __m256i one = _mm256_set1_epi32(1), lo = _mm256_set1_epi32(0xffff);
	const __m256i m = _mm256_set1_epi32((int)mask);
	size_t x = 0;
	for (; x + 8 <= w; x += 8) {
		__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(z + x)));
		__m256i q = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(qi + x)));
		__m256i b = _mm256_i32gather_epi32((const int *)(const void *)qbias, q, 4);
		__m256i e = _mm256_xor_si256(_mm256_srli_epi32(v, 1),
					     _mm256_sub_epi32(_mm256_setzero_si256(),
							      _mm256_and_si256(v, one)));
		__m256i t = _mm256_add_epi32(e, _mm256_and_si256(b, lo));
		__m256i n = _mm256_srli_epi32(b, 16);
		t = _mm256_and_si256(_mm256_sub_epi32(_mm256_xor_si256(t, n), n), m);
		__m128i r = _mm_packus_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
		_mm_storeu_si128((__m128i *)(void *)(z + x), r);
	}
	apply_bias_base(z + x, qi + x, qbias, w - x, mask);
}
#endif

static void apply_bias(uint16_t *z, const uint16_t *qi, const uint32_t *qbias,
		       size_t w, unsigned mask)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("avx2")) {
		apply_bias_avx2(z, qi, qbias, w, mask);
		return;
	}
#endif
	apply_bias_base(z, qi, qbias, w, mask);
}

int codec_huff_decode(struct codec_ctx *ctx, const struct pixel_geom *g,
		      const uint8_t *src, size_t len, uint64_t raw_off,
		      size_t raw_size, uint8_t *pix)
{
	size_t w = g->row_samples, N = raw_size / g->bps, R = N / w;
	unsigned bits = g->bps * 8u, mask = (1u << bits) - 1;
	if (len < HB_FIXED || src[6] || src[7])
		return CODEC_ERR_CORRUPT;
	int t[3];
	for (int i = 0; i < 3; i++)
		t[i] = src[2 * i] | src[2 * i + 1] << 8;
	/* biases */
	uint16_t bias[HB_NBIAS];
	size_t at = HB_FIXED;
	for (int q = 0; q < HB_NBIAS; q++) {
		bias[q] = 0;
		if (!(src[HB_OFF_BITMAP + q / 8] >> (q % 8) & 1))
			continue;
		unsigned z = 0;
		for (int shift = 0;; shift += 7) {
			if (at >= len || shift > 14)
				return CODEC_ERR_CORRUPT;
			uint8_t b = src[at++];
			z |= (unsigned)(b & 0x7f) << shift;
			if (!(b & 0x80))
				break;
		}
		if (z > mask)
			return CODEC_ERR_CORRUPT;
		bias[q] = (uint16_t)(((z >> 1) ^ (0u - (z & 1u))) & mask);
	}
	/* code tables; ftab: a symbol with no code (flat class) */
	uint32_t ftab[HB_NSYM];
	for (unsigned sym = 0; sym < HB_NSYM; sym++) {
		unsigned k = sym < 2 ? sym : sym / 2 + 1, nr = sym < 2 ? 0 : k - 2;
		ftab[sym] = (sym < 2 ? sym : 1u << (k - 1) | (sym & 1u) << (k - 2)) |
			    nr << 20 | nr << 24;
	}
	huff_table *tab = (huff_table *)(void *)codec_scratch(ctx, S_HUFF_OUT,
							      sizeof(huff_table) * HB_NCLS);
	if (!tab)
		return CODEC_ERR_NOMEM;
	memset(tab[0], 0, sizeof(huff_table));
	for (int k = 1; k < HB_NCLS; k++) {
		uint8_t lens[HB_NSYM];
		uint16_t codes[HB_NSYM];
		for (int i = 0; i < HB_NSYM; i++) {
			lens[i] = (src[HB_OFF_LENS + (size_t)(k - 1) * HB_LENS + (size_t)i / 2] >>
				   (i & 1 ? 4 : 0)) & 15;
			if (lens[i] > HB_LMAX)
				return CODEC_ERR_CORRUPT;
		}
		if (huff_codes(lens, codes))
			return CODEC_ERR_CORRUPT;
		/* windows no code covers (a corrupt stream) read as symbol 0
		 * of length 1: wrong bytes, caught by the chunk hash */
		for (unsigned i = 0; i < (1u << HB_LMAX); i++)
			tab[k][i] = 1u << 16 | 1u << 24;
		for (int i = 0; i < HB_NSYM; i++)
			for (unsigned j = codes[i]; lens[i] && j < (1u << HB_LMAX);
			     j += 1u << lens[i])
				tab[k][j] = ftab[i] + ((uint32_t)lens[i] << 16) +
					    ((uint32_t)lens[i] << 24);
	}
	/* streams */
	size_t zl[HB_SEGS], bl[HB_SEGS], sw[HB_SEGS], sum = 0, need = 0;
	for (int s = 0; s < HB_SEGS; s++) {
		zl[s] = get32(src + HB_OFF_STREAMS + (size_t)s * 8);
		bl[s] = get32(src + HB_OFF_STREAMS + (size_t)s * 8 + 4);
		sw[s] = seg_lo(w, s + 1) - seg_lo(w, s);
		sum += zl[s] + bl[s];
		need += R * sw[s] + sw[s] + 8 + bl[s] + sw[s] * 4 + 16;
	}
	if (sum != len - at)
		return CODEC_ERR_CORRUPT;
	need += (g->bps == 1 ? N * 2 : 0) + w * 2 * 5 + w;
	uint8_t *sp = codec_scratch(ctx, S_HUFF, need);
	if (!sp)
		return CODEC_ERR_NOMEM;
	uint16_t *W = g->bps == 2 ? (uint16_t *)(void *)pix : (uint16_t *)(void *)sp;
	uint16_t *mc = (uint16_t *)(void *)sp + (g->bps == 1 ? N : 0);
	uint16_t *res = mc + w, *tmp = res + w;
	uint8_t *cls = (uint8_t *)(tmp + 2 * w), *p = cls + w;
	const uint8_t *fp[HB_SEGS], *fend[HB_SEGS], *bs[HB_SEGS];
	for (int s = 0; s < HB_SEGS; s++) {
		size_t n = 0;
		if (zl[s]) {
			n = ZSTD_decompressDCtx(ctx->dc, p, R * sw[s], src + at, zl[s]);
			if (ZSTD_isError(n))
				return CODEC_ERR_CORRUPT;
		}
		memset(p + n, 0, sw[s] + 8);
		fp[s] = p;
		fend[s] = p + n;
		p += R * sw[s] + sw[s] + 8;
		at += zl[s];
	}
	for (int s = 0; s < HB_SEGS; s++) {
		memcpy(p, src + at, bl[s]);
		memset(p + bl[s], 0, sw[s] * 4 + 16);
		bs[s] = p;
		p += bl[s] + sw[s] * 4 + 16;
		at += bl[s];
	}
	uint16_t ctab[729];
	context_table(ctab);
	/* per context index: its bias (low half) and sign mask (high half) */
	uint32_t qbias[730];
	for (int i = 0; i < 729; i++)
		qbias[i] = bias[ctab[i] & ~NEG] | (ctab[i] & NEG ? 0xffff0000u : 0);
	qbias[729] = bias[HB_FIRST];
	uint64_t pos[HB_SEGS] = { 0 };
	size_t step = g->step, nr, lo[HB_SEGS], narrow = sw[0];
	for (int s = 0; s < HB_SEGS; s++) {
		lo[s] = seg_lo(w, s);
		if (sw[s] < narrow)
			narrow = sw[s];
	}
	for (size_t at_b = 0, row0 = 0; at_b < raw_size; at_b += nr * g->row_bytes, row0 += nr) {
		nr = band_rows(g, raw_off + at_b, raw_size - at_b);
		for (size_t y = 0; y < nr; y++) {
			uint16_t *c = W + (row0 + y) * w, *u = y ? c - w : NULL;
			if (!u) {
				memset(cls, HB_NCLS - 1, w);
				for (size_t x = 0; x < w; x++)
					mc[x] = 729;
			} else {
				const uint8_t *n1 = pix + (row0 + y - 1) * g->row_bytes;
				codec_model_contexts(g, n1, y > 1 ? n1 - g->row_bytes : n1, cls, tmp);
				bias_row(u, y > 1 ? u - w : u, w, step, bits, t, mc);
			}
#define ONE(s, x)                                                              \
	do {                                                                   \
		res[x] = (uint16_t)decode_one(bs[s], &pos[s], &fp[s], cls[x],  \
					      tab, ftab);                      \
	} while (0)
			size_t j;
			for (j = 0; j < narrow; j++) {
				ONE(0, lo[0] + j);
				ONE(1, lo[1] + j);
				ONE(2, lo[2] + j);
				ONE(3, lo[3] + j);
			}
			for (int s = 0; s < HB_SEGS; s++)
				for (size_t x = lo[s] + j; x < lo[s] + sw[s]; x++)
					ONE(s, x);
#undef ONE
			for (int s = 0; s < HB_SEGS; s++)
				if (pos[s] > 8 * (uint64_t)bl[s] || fp[s] > fend[s])
					return CODEC_ERR_CORRUPT;
			apply_bias(res, mc, qbias, w, mask);
			codec_model_unpredict16(c, u, res, w, step);
			if (g->bps == 1) {
				uint8_t *o = pix + (row0 + y) * w;
				for (size_t x = 0; x < w; x++)
					o[x] = (uint8_t)(c[x] &= 0xff);
			}
		}
	}
	for (int s = 0; s < HB_SEGS; s++)
		if (fp[s] != fend[s])
			return CODEC_ERR_CORRUPT;
	return CODEC_OK;
}
