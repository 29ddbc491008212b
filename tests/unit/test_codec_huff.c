/*
 * test_codec_huff.c - the experimental bias-corrected Huffman chunk coder
 * (index/codec_huff.h) round-trips every sample size, pixel shape, odd
 * geometry and chunking, random data included, and a damaged payload
 * fails cleanly (CODEC_ERR_CORRUPT or wrong pixels, never a read or write
 * out of bounds: run under SANITIZE=1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec_huff.h"

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

enum pattern { SMOOTH, RANDOM, CONSTANT, EDGES };

/* Samples of `bps` bytes: a gradient with noise (values around zero, so
 * signed data is covered), uniform random words, one value, or flat areas
 * with steps. */
static uint8_t *make(size_t n_samples, uint32_t bps, uint32_t cols,
		     enum pattern pat, uint64_t seed)
{
	uint8_t *p = malloc(n_samples * bps + 1);
	assert_non_null(p);
	for (size_t i = 0; i < n_samples; i++) {
		size_t x = i % cols, y = i / cols;
		uint32_t v;
		switch (pat) {
		case SMOOTH:
			v = (uint32_t)((int)(x * 5 + y * 3) - 200 + (int)(rnd(&seed) % 23));
			break;
		case RANDOM:
			v = (uint32_t)rnd(&seed);
			break;
		case CONSTANT:
			v = 0x8123;
			break;
		default:
			v = ((x / 7 + y / 5) % 3) * 900u + (rnd(&seed) % 50 == 0 ? 31u : 0u);
			break;
		}
		p[i * bps] = (uint8_t)v;
		if (bps == 2)
			p[i * bps + 1] = (uint8_t)(v >> 8);
	}
	return p;
}

/* Encode pix chunk by chunk (chunks of rows_per_chunk rows, any row
 * count, across image ends), decode each into a fresh buffer, compare;
 * returns the encoded bytes. */
static size_t round_trip(struct codec_ctx *ctx, const struct codec_layout *l,
			 const uint8_t *pix, size_t len, size_t rows_per_chunk)
{
	struct pixel_geom g;
	assert_int_equal(codec_geom_from_layout(l, len, &g), 0);
	size_t total = 0, chunk = rows_per_chunk * g.row_bytes;
	uint8_t *src = malloc(chunk + 2), *dst = malloc(chunk + 2);
	assert_non_null(src);
	assert_non_null(dst);
	for (size_t pos = 0; pos < len; pos += chunk) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		memcpy(src, pix + pos, n);
		const uint8_t *enc;
		size_t enc_len;
		assert_int_equal(codec_huff_encode(ctx, &g, src, pos, n, &enc, &enc_len), 0);
		uint8_t *copy = malloc(enc_len);
		assert_non_null(copy);
		memcpy(copy, enc, enc_len);
		memset(dst, 0xA5, n);
		assert_int_equal(codec_huff_decode(ctx, &g, copy, enc_len, pos, n, dst),
				 CODEC_OK);
		assert_memory_equal(dst, pix + pos, n);
		free(copy);
		total += enc_len;
	}
	free(src);
	free(dst);
	return total;
}

static void every_shape_and_size_round_trips(void **state)
{
	(void)state;
	struct codec_ctx *ctx = codec_ctx_new();
	assert_non_null(ctx);
	static const uint32_t cols[] = { 1, 2, 3, 5, 8, 33, 257 };
	static const uint32_t rows[] = { 1, 2, 3, 7, 20 };
	uint64_t seed = 99;
	for (uint32_t bps = 1; bps <= 2; bps++)
		for (uint32_t spp = 1; spp <= 3; spp += 2)
			for (uint32_t planar = 0; planar <= (spp == 3 ? 1u : 0u); planar++)
				for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
					for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++)
						for (int pat = SMOOTH; pat <= EDGES; pat++) {
							uint32_t frames = 1 + (uint32_t)(rnd(&seed) % 3);
							struct codec_layout l = { bps, spp, planar, cols[c],
										  rows[r], frames };
							size_t ns = (size_t)spp * cols[c] * rows[r] * frames;
							uint8_t *pix = make(ns, bps, cols[c] * spp,
									    (enum pattern)pat, seed);
							size_t img_rows = planar ? rows[r] * 3 : rows[r];
							size_t per[] = { 1, 2, img_rows, img_rows * frames };
							for (size_t k = 0; k < 4; k++)
								round_trip(ctx, &l, pix, ns * bps, per[k]);
							free(pix);
						}
	codec_ctx_free(ctx);
}

static void smooth_16bit_data_shrinks_and_noise_does_not_overflow(void **state)
{
	(void)state;
	struct codec_ctx *ctx = codec_ctx_new();
	assert_non_null(ctx);
	struct codec_layout l = { 2, 1, 0, 512, 256, 1 };
	size_t ns = 512 * 256;
	uint8_t *pix = make(ns, 2, 512, SMOOTH, 7);
	size_t enc = round_trip(ctx, &l, pix, ns * 2, 256);
	assert_true(enc * 2 < ns * 2);          /* 16-bit gradient, 4.5 bits of noise: > 2:1 */
	free(pix);
	/* random 16-bit words: every symbol, the longest raw runs */
	pix = make(ns, 2, 512, RANDOM, 8);
	enc = round_trip(ctx, &l, pix, ns * 2, 256);
	assert_true(enc < ns * 2 + ns / 2);
	free(pix);
	pix = make(ns, 2, 512, CONSTANT, 9);
	enc = round_trip(ctx, &l, pix, ns * 2, 256);
	assert_true(enc < 4096);                /* flat: the zstd frames */
	free(pix);
	codec_ctx_free(ctx);
}

/* One payload: decode it, whatever it holds; only OK or CORRUPT may come
 * back, and ASan watches the reads and writes. */
static int decode_any(struct codec_ctx *ctx, const struct pixel_geom *g,
		      const uint8_t *p, size_t len, size_t raw_size, uint8_t *dst)
{
	uint8_t *copy = malloc(len ? len : 1);  /* exact size: overreads show */
	assert_non_null(copy);
	memcpy(copy, p, len);
	int rc = codec_huff_decode(ctx, g, copy, len, 0, raw_size, dst);
	assert_true(rc == CODEC_OK || rc == CODEC_ERR_CORRUPT);
	free(copy);
	return rc;
}

static void damaged_payloads_fail_cleanly(void **state)
{
	(void)state;
	struct codec_ctx *ctx = codec_ctx_new();
	assert_non_null(ctx);
	uint64_t seed = 1234;
	for (uint32_t bps = 1; bps <= 2; bps++)
		for (int pat = SMOOTH; pat <= EDGES; pat++) {
			struct codec_layout l = { bps, 1, 0, 67, 40, 1 };
			size_t ns = 67 * 40, raw = ns * bps;
			uint8_t *pix = make(ns, bps, 67, (enum pattern)pat, seed);
			struct pixel_geom g;
			assert_int_equal(codec_geom_from_layout(&l, raw, &g), 0);
			const uint8_t *e;
			size_t el;
			assert_int_equal(codec_huff_encode(ctx, &g, pix, 0, raw, &e, &el), 0);
			uint8_t *good = malloc(el), *bad = malloc(el), *dst = malloc(raw);
			assert_non_null(good);
			assert_non_null(bad);
			assert_non_null(dst);
			memcpy(good, e, el);
			/* every truncation is refused */
			for (size_t n = 0; n < el; n += 1 + n / 16)
				assert_int_equal(decode_any(ctx, &g, good, n, raw, dst),
						 CODEC_ERR_CORRUPT);
			/* flipped bits and random bytes anywhere */
			for (int i = 0; i < 3000; i++) {
				memcpy(bad, good, el);
				int flips = 1 + (int)(rnd(&seed) % 4);
				for (int f = 0; f < flips; f++) {
					size_t at = (size_t)(rnd(&seed) % el);
					if (rnd(&seed) & 1)
						bad[at] ^= (uint8_t)(1u << (rnd(&seed) % 8));
					else
						bad[at] = (uint8_t)rnd(&seed);
				}
				decode_any(ctx, &g, bad, el, raw, dst);
			}
			/* stream sizes moved between streams: sums still match */
			for (int s = 0; s < 8; s++) {
				memcpy(bad, good, el);
				uint32_t a, b;
				memcpy(&a, bad + 8 + 4 * s, 4);
				memcpy(&b, bad + 8 + 4 * ((s + 1) % 8), 4);
				uint32_t d = a < 5 ? a : 5;
				a -= d;
				b += d;
				memcpy(bad + 8 + 4 * s, &a, 4);
				memcpy(bad + 8 + 4 * ((s + 1) % 8), &b, 4);
				decode_any(ctx, &g, bad, el, raw, dst);
			}
			/* all-ones code lengths, all-zero tables, garbage */
			memcpy(bad, good, el);
			memset(bad + 86, 0x11, 160);
			assert_int_equal(decode_any(ctx, &g, bad, el, raw, dst), CODEC_ERR_CORRUPT);
			memset(bad + 86, 0xff, 160);
			assert_int_equal(decode_any(ctx, &g, bad, el, raw, dst), CODEC_ERR_CORRUPT);
			for (int i = 0; i < 300; i++) {
				size_t n = (size_t)(rnd(&seed) % (el + 300));
				uint8_t *junk = malloc(n + 1);
				assert_non_null(junk);
				for (size_t k = 0; k < n; k++)
					junk[k] = (uint8_t)rnd(&seed);
				decode_any(ctx, &g, junk, n, raw, dst);
				free(junk);
			}
			free(good);
			free(bad);
			free(dst);
			free(pix);
		}
	codec_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_shape_and_size_round_trips),
		cmocka_unit_test(smooth_16bit_data_shrinks_and_noise_does_not_overflow),
		cmocka_unit_test(damaged_payloads_fail_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
