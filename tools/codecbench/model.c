/*
 * model.c - what a residual model would reach, measured before it is built
 * (dcmfs-codecbench -M; model.h).
 *
 * For every band of rows of about a chunk (CHUNK_BYTES) of a grey image:
 * the gradient residual (left + up - upper left), corrected by a bias per
 * JPEG-LS context (365 contexts of the quantised differences d - b, b - c,
 * c - a, sign merged) that the encoder would compute for the chunk and
 * store (the decoder only adds it: no adaptive state); the zigzag of the
 * result is coded as a symbol (its bit length and the bit below its top
 * bit) per activity context (|q1| + |q2| + |q3|, 13 contexts) plus the
 * remaining bits raw.  Counted: the empirical entropy of those symbols,
 * the cost of a Huffman code per context and chunk (code tables not
 * counted: 13 x 34 lengths, under 0.1% of a chunk), and the same without
 * the flat context (all differences 0), which a run or zstd coder would
 * take instead (an upper bound: the flat samples then cost nothing).
 */
#include "model.h"

#include <math.h>
#include <zstd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES (256u * 1024u)
#define NQ 365          /* bias contexts */
#define NACT 13         /* entropy contexts */
#define NSYM 34         /* (bit length, next bit) of a zigzag up to 2^17 */

struct tally {
	double count[NACT][NSYM];
	double entropy_bits, huffman_bits, flat_huffman_bits, raw_bits;
	double samples, flat_samples;
};

static int quantise(int d, const int t[3])
{
	int m = d < 0 ? -d : d, q = m == 0 ? 0 : m < t[0] ? 1 : m < t[1] ? 2 : m < t[2] ? 3 : 4;
	return d < 0 ? -q : q;
}

static int bit_length(unsigned v)
{
	int k = 0;
	while (v) {
		k++;
		v >>= 1;
	}
	return k;
}

/* Symbol of a zigzag value: 0, 1, then two per bit length; *raw bits follow. */
static int symbol(unsigned z, int *raw)
{
	int k = bit_length(z);
	*raw = k <= 1 ? 0 : k - 2;
	int s = k <= 1 ? k : 2 * k - 2 + (int)((z >> (k - 2)) & 1u);
	return s < NSYM ? s : NSYM - 1;
}

/* Bits of a Huffman code of the counts (at least 1 bit a symbol). */
static double huffman_bits(const double *c, int n)
{
	double w[2 * NSYM];
	int parent[2 * NSYM], alive[2 * NSYM], leaf[NSYM], m = 0, leaves = 0;
	for (int i = 0; i < n; i++)
		if (c[i] > 0) {
			w[m] = c[i];
			parent[m] = -1;
			alive[m] = 1;
			leaf[leaves++] = m++;
		}
	if (leaves == 1)
		return w[0];
	for (int left = leaves; left > 1; left--) {
		int a = -1, b = -1;
		for (int i = 0; i < m; i++) {
			if (!alive[i])
				continue;
			if (a < 0 || w[i] < w[a]) {
				b = a;
				a = i;
			} else if (b < 0 || w[i] < w[b]) {
				b = i;
			}
		}
		w[m] = w[a] + w[b];
		parent[m] = -1;
		alive[m] = 1;
		parent[a] = parent[b] = m;
		alive[a] = alive[b] = 0;
		m++;
	}
	double bits = 0;
	for (int j = 0; j < leaves; j++) {
		int depth = 0;
		for (int x = leaf[j]; parent[x] >= 0; x = parent[x])
			depth++;
		bits += w[leaf[j]] * depth;
	}
	return bits;
}

static void close_chunk(struct tally *t)
{
	for (int a = 0; a < NACT; a++) {
		double n = 0;
		for (int s = 0; s < NSYM; s++)
			n += t->count[a][s];
		for (int s = 0; s < NSYM; s++)
			if (t->count[a][s] > 0)
				t->entropy_bits -= t->count[a][s] * log2(t->count[a][s] / n);
		double h = huffman_bits(t->count[a], NSYM);
		t->huffman_bits += h;
		if (a > 0)
			t->flat_huffman_bits += h;
	}
	memset(t->count, 0, sizeof(t->count));
}

/* Neighbours and context of sample (x, y) of a band starting at row y0. */
struct site {
	int value, grad, sign, q, act;
};

static struct site site_at(const int *im, int w, int x, int y, int y0, const int t[3])
{
	int first = y == y0;
	const int *row = im + (size_t)y * w, *up = first ? row : row - w;
	int a = x ? row[x - 1] : first ? 0 : up[x];
	int b = first ? a : up[x];
	int c = first || !x ? b : up[x - 1];
	int d = first ? a : x + 1 < w ? up[x + 1] : b;
	int q1 = quantise(d - b, t), q2 = quantise(b - c, t), q3 = quantise(c - a, t);
	struct site s = { row[x], a + b - c, 1, 0, 0 };
	if (q1 < 0 || (q1 == 0 && (q2 < 0 || (q2 == 0 && q3 < 0)))) {
		s.sign = -1;
		q1 = -q1;
		q2 = -q2;
		q3 = -q3;
	}
	/* sign-merged (q1, q2, q3) number 0 .. 364 */
	s.q = q1 * 81 + q2 * 9 + q3;
	if (s.q > 364)
		s.q = 364;
	s.act = abs(q1) + abs(q2) + abs(q3);
	return s;
}

/* JPEG-LS's default thresholds for the sample range into t; returns the
 * rows of a band of about a chunk. */
static int thresholds_and_band(int w, int bits, int t[3])
{
	int maxv = (1 << bits) - 1, f = ((maxv < 4095 ? maxv : 4095) + 128) >> 8;
	t[0] = f + 2 + 3;
	t[1] = f * 4 + 3 + 3;
	t[2] = f * 17 + 4 + 4;
	if (bits <= 8)
		t[0] = 3, t[1] = 7, t[2] = 21;
	int band = (int)(CHUNK_BYTES / ((size_t)w * (bits > 8 ? 2 : 1)));
	return band < 1 ? 1 : band;
}

static void model_image(struct tally *t, const int *im, int w, int h, int bits)
{
	int th[3], band = thresholds_and_band(w, bits, th);
	static double sum[NQ], num[NQ];
	static int bias[NQ];
	for (int y0 = 0; y0 < h; y0 += band) {
		int y1 = y0 + band < h ? y0 + band : h;
		memset(sum, 0, sizeof(sum));
		memset(num, 0, sizeof(num));
		for (int y = y0; y < y1; y++)
			for (int x = 0; x < w; x++) {
				struct site s = site_at(im, w, x, y, y0, th);
				sum[s.q] += (s.value - s.grad) * s.sign;
				num[s.q]++;
			}
		/* no bias in the flat context: its residuals are mostly 0 */
		for (int q = 0; q < NQ; q++)
			bias[q] = q && num[q] ? (int)lround(sum[q] / num[q]) : 0;
		for (int y = y0; y < y1; y++)
			for (int x = 0; x < w; x++) {
				struct site s = site_at(im, w, x, y, y0, th);
				int e = (s.value - s.grad - s.sign * bias[s.q]) * s.sign;
				unsigned z = e >= 0 ? 2u * (unsigned)e : 2u * (unsigned)-e - 1u;
				int raw, sym = symbol(z, &raw);
				t->count[s.act][sym]++;
				t->raw_bits += raw;
				t->samples++;
				if (s.act == 0)
					t->flat_samples++;
				else
					t->flat_huffman_bits += raw;
			}
		close_chunk(t);
	}
}


/*
 * Second estimate, with the real entropy coder: the decoder-friendly
 * variant.  Contexts come from the rows above only (a row's contexts and
 * biases are known before it is decoded, so the rebuild stays a prefix
 * sum): bias context as JPEG-LS's but with the vertical difference b - bb
 * (bb above b) in place of c - a; entropy class from the activity of the
 * codec (bit length of the 5-term sum, 10 classes).  Token = (bit length,
 * next bit) of the zigzag residual, the rest raw.  Counted three ways: a
 * zstd -1 frame of the tokens per class; their empirical entropy; and a
 * Huffman code per class (20 bytes of table each) with the flat class as
 * a zstd frame, the coder index/codec_huff.c builds (bias table: half a
 * byte per context).
 */
#define NCLS 10
/* bytes of the tokens: empirical entropy; Huffman with flat zstd */
static double tok_entropy_bytes, tok_huffman_bytes;
static int act_class(const int *up, const int *uu, int w, int x)
{
	int a = abs(up[x] - uu[x]);
	int t;
	if (x > 0) {
		t = abs(up[x] - up[x - 1]); a += t < 255 ? t : 255;
		t = abs(up[x - 1] - uu[x - 1]); a += t < 255 ? t : 255;
	}
	if (x + 1 < w) {
		t = abs(up[x + 1] - up[x]); a += t < 255 ? t : 255;
		t = abs(up[x + 1] - uu[x + 1]); a += t < 255 ? t : 255;
	}
	int k = 0;
	while (a && k < 9) {
		k++;
		a >>= 1;
	}
	return k;
}

static double zsize(const uint8_t *b, size_t n, int level)
{
	static uint8_t *out;
	static size_t cap;
	size_t need = ZSTD_compressBound(n);
	if (need > cap) {
		free(out);
		out = malloc(need);
		cap = need;
	}
	if (!n)
		return 0;
	static ZSTD_CCtx *cc;
	if (!cc)
		cc = ZSTD_createCCtx();
	ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
	/* short matches in symbol streams cost more than they save (Philips
	 * 4.64 at zstd's default of 5 for level 1, 4.83 at 7) */
	ZSTD_CCtx_setParameter(cc, ZSTD_c_minMatch, 7);
	return (double)ZSTD_compress2(cc, out, need, b, n);
}

static double band2(const int *im, int w, int y0, int y1, const int t[3],
		    uint8_t **tok, double *rawbits)
{
	static double sum[NQ], num[NQ];
	static int bias[NQ];
	size_t n[NCLS] = { 0 };
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			for (int q = 0; q < NQ; q++)
				bias[q] = num[q] ? (int)lround(sum[q] / num[q]) : 0;
		else {
			memset(sum, 0, sizeof(sum));
			memset(num, 0, sizeof(num));
		}
		for (int y = y0; y < y1; y++) {
			const int *row = im + (size_t)y * w;
			const int *up = y > y0 ? row - w : NULL;
			const int *uu = y > y0 + 1 ? row - 2 * w : up;
			for (int x = 0; x < w; x++) {
				int pred, q = 0, sign = 1, cls = 0;
				if (!up) {
					pred = x ? row[x - 1] : 0;
				} else {
					int b = up[x], c = x ? up[x - 1] : b, a = x ? row[x - 1] : b;
					int d = x + 1 < w ? up[x + 1] : b, bb = uu[x];
					pred = a + b - c;
					int q1 = quantise(d - b, t), q2 = quantise(b - c, t), q3 = quantise(bb - b, t);
					if (q1 < 0 || (q1 == 0 && (q2 < 0 || (q2 == 0 && q3 < 0)))) {
						sign = -1;
						q1 = -q1; q2 = -q2; q3 = -q3;
					}
					q = (q1 * 9 + q2 + 4) * 9 + q3 + 4 - 40;
					if (q < 0) q = 0;
					if (q >= NQ) q = NQ - 1;
					cls = act_class(up, uu, w, x);
				}
				int e = (row[x] - pred) * sign;
				if (pass == 0) {
					sum[q] += e;
					num[q]++;
					continue;
				}
				e -= bias[q];
				unsigned z = e >= 0 ? 2u * (unsigned)e : 2u * (unsigned)-e - 1u;
				int raw, sym = symbol(z, &raw);
				tok[cls][n[cls]++] = (uint8_t)sym;
				*rawbits += raw;
			}
		}
	}
	double bytes = NCLS * 8 + NQ;
	for (int k = 0; k < NCLS; k++) {
		bytes += zsize(tok[k], n[k], 1);
		double h[64] = { 0 };
		for (size_t i = 0; i < n[k]; i++)
			h[tok[k][i]]++;
		for (int j = 0; j < 64; j++)
			if (h[j] > 0)
				tok_entropy_bytes -= h[j] * log2(h[j] / (double)n[k]) / 8;
		tok_huffman_bytes += k == 0 ? zsize(tok[k], n[k], 1) : huffman_bits(h, NSYM) / 8 + 20;
	}
	return bytes;
}

static double model_image2(const int *im, int w, int h, int bits, double *rawbits)
{
	int th[3], band = thresholds_and_band(w, bits, th);
	uint8_t *tok[NCLS];
	for (int k = 0; k < NCLS; k++)
		tok[k] = malloc((size_t)w * (size_t)band);
	double bytes = 0;
	for (int y0 = 0; y0 < h; y0 += band)
		bytes += band2(im, w, y0, y0 + band < h ? y0 + band : h, th, tok, rawbits);
	for (int k = 0; k < NCLS; k++)
		free(tok[k]);
	return bytes;
}

int model_estimate(const struct model_image *ims, int n)
{
	static struct tally t;
	memset(&t, 0, sizeof(t));
	tok_entropy_bytes = tok_huffman_bytes = 0;
	double raw_bytes = 0, zbytes = 0, zraw = 0;
	int used = 0;
	for (int i = 0; i < n; i++) {
		const struct codec_layout *l = &ims[i].layout;
		uint32_t bps = l->bytes_per_sample;
		size_t img = (size_t)bps * l->columns * l->rows;
		if (l->samples_per_pixel != 1 || (bps != 1 && bps != 2) || !img ||
		    img * l->frames > ims[i].pix_len)
			continue;
		int *im = malloc(img / bps * sizeof(int));
		if (!im)
			return -1;
		int bits = ims[i].bits_stored > 0 && ims[i].bits_stored <= 16 ?
			   ims[i].bits_stored : (int)bps * 8;
		for (uint32_t f = 0; f < l->frames; f++) {
			const uint8_t *p = ims[i].pix + f * img;
			for (size_t k = 0; k < img / bps; k++) {
				unsigned v = bps == 2 ? (unsigned)p[2 * k] | (unsigned)p[2 * k + 1] << 8 :
					     p[k];
				im[k] = ims[i].is_signed && bps == 2 ? (int)(int16_t)v : (int)v;
			}
			model_image(&t, im, (int)l->columns, (int)l->rows, bits);
			zbytes += model_image2(im, (int)l->columns, (int)l->rows, bits, &zraw);
			raw_bytes += (double)img;
		}
		free(im);
		used++;
	}
	if (!used || !t.samples) {
		fprintf(stderr, "dcmfs-codecbench: -M: no 1- or 2-byte grey image\n");
		return -1;
	}
	double raw_bits = raw_bytes * 8;
	printf("model: gradient + chunk bias (365 ctx) + (bit length, next bit) in 13 ctx"
	       " + raw bits; %d images, flat context %.1f%% of samples\n",
	       used, 100 * t.flat_samples / t.samples);
	printf("model ratio, entropy                 %8.3f\n",
	       raw_bits / (t.entropy_bits + t.raw_bits));
	printf("model ratio, Huffman                 %8.3f\n",
	       raw_bits / (t.huffman_bits + t.raw_bits));
	printf("model ratio, Huffman, flat ctx free  %8.3f\n",
	       raw_bits / t.flat_huffman_bits);
	printf("model ratio, rows above, zstd        %8.3f  (raw bits %.1f%% of it)\n",
	       raw_bytes / (zbytes + zraw / 8), 100 * zraw / 8 / (zbytes + zraw / 8));
	printf("model ratio, rows above, entropy     %8.3f\n",
	       raw_bytes / (tok_entropy_bytes + zraw / 8));
	printf("model ratio, rows above, Huffman     %8.3f\n",
	       raw_bytes / (tok_huffman_bytes + zraw / 8 + NQ * 0.5 * (raw_bytes / CHUNK_BYTES)));
	return 0;
}
