/*
 * test_codec.c - the pixel/opaque codec round-trips, decodes any range, and
 * survives damaged encodings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "codec.h"

/* xorshift: reproducible test data without global state */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* 16-bit CT-like image: padding outside a disc, a gradient plus noise. */
static uint8_t *make16(uint32_t cols, uint32_t rows, uint32_t frames,
		       uint64_t seed, size_t *len)
{
	*len = (size_t)cols * rows * frames * 2;
	uint8_t *p = malloc(*len ? *len : 1);
	assert_non_null(p);
	size_t k = 0;
	for (uint32_t f = 0; f < frames; f++)
		for (uint32_t y = 0; y < rows; y++)
			for (uint32_t x = 0; x < cols; x++) {
				int64_t dx = (int64_t)x - cols / 2, dy = (int64_t)y - rows / 2;
				uint16_t v;
				if (dx * dx + dy * dy > (int64_t)cols * cols / 5)
					v = (uint16_t)-2000;
				else
					v = (uint16_t)(1000 + x * 3 + y * 2 + f * 7 +
						       rnd(&seed) % 40);
				p[k++] = (uint8_t)v;
				p[k++] = (uint8_t)(v >> 8);
			}
	return p;
}

/* 8-bit RGB, interleaved (planar 0) or planar (1). */
static uint8_t *make_rgb(uint32_t cols, uint32_t rows, uint32_t frames,
			 int planar, uint64_t seed, size_t *len)
{
	*len = (size_t)cols * rows * frames * 3;
	uint8_t *p = malloc(*len);
	assert_non_null(p);
	for (uint32_t f = 0; f < frames; f++)
		for (uint32_t y = 0; y < rows; y++)
			for (uint32_t x = 0; x < cols; x++)
				for (uint32_t c = 0; c < 3; c++) {
					uint8_t v = (uint8_t)(x * (c + 1) + y + f +
							      rnd(&seed) % 8);
					size_t i = planar ?
						(((size_t)f * 3 + c) * rows + y) * cols + x :
						(((size_t)f * rows + y) * cols + x) * 3 + c;
					p[i] = v;
				}
	return p;
}

static uint8_t *make_random(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(&seed);
	return p;
}

/* Through a codec_blob handle: every chunk's span tiles the raw bytes and
 * matches the one-shot call, chunk_at finds each chunk at its first and
 * last byte, and every decode equals the raw bytes (buf: len + 1 bytes). */
static void check_handle(struct codec_ctx *ctx, const uint8_t *enc, size_t el,
			 const uint8_t *raw, size_t len, uint8_t *buf)
{
	struct codec_blob *b = (struct codec_blob *)&b;   /* must be replaced */
	assert_int_equal(codec_blob_open(enc, el, &b), CODEC_OK);
	assert_non_null(b);
	uint32_t nch = 0;
	assert_int_equal(codec_info(enc, el, NULL, &nch), CODEC_OK);
	assert_int_equal(codec_blob_raw_len(b), len);
	assert_int_equal(codec_blob_chunks(b), nch);
	assert_string_equal(codec_blob_method(b), codec_method_name(enc, el));
	uint64_t next = 0;
	for (uint32_t i = 0; i < nch; i++) {
		uint64_t off, one_off;
		uint32_t n, one_n;
		codec_blob_chunk_span(b, i, &off, &n);
		assert_int_equal(codec_chunk_span(enc, el, i, &one_off, &one_n), CODEC_OK);
		assert_int_equal(off, one_off);
		assert_int_equal(n, one_n);
		assert_int_equal(off, next);
		assert_true(n > 0);
		assert_int_equal(codec_blob_chunk_at(b, off), i);
		assert_int_equal(codec_blob_chunk_at(b, off + n - 1), i);
		if (n > 2)
			assert_int_equal(codec_blob_chunk_at(b, off + n / 2), i);
		memset(buf, 0xAA, n + 1);
		assert_int_equal(codec_blob_decode_chunk(ctx, b, i, buf + 1), CODEC_OK);
		assert_memory_equal(buf + 1, raw + off, n);
		next = off + n;
	}
	assert_int_equal(next, len);
	assert_int_equal(codec_blob_decode_chunk(ctx, b, nch, buf), CODEC_ERR_RANGE);
	memset(buf, 0xAA, len + 1);
	assert_int_equal(codec_blob_decode_range(ctx, b, 0, buf + 1, len + 5), (int64_t)len);
	assert_memory_equal(buf + 1, raw, len);
	if (len > 3) {
		/* a range across chunk boundaries, as the one-shot path gives it */
		uint64_t off = len / 3;
		size_t n = len - off - 1;
		assert_int_equal(codec_blob_decode_range(ctx, b, off, buf, n), (int64_t)n);
		assert_memory_equal(buf, raw + off, n);
		assert_int_equal(codec_decode_range(ctx, enc, el, off, buf + 1, n), (int64_t)n);
		assert_memory_equal(buf + 1, raw + off, n);
	}
	assert_int_equal(codec_blob_decode_range(ctx, b, len + 1, buf, 1), CODEC_ERR_RANGE);
	assert_int_equal(codec_blob_decode_range(ctx, b, len, buf, 1), 0);
	codec_blob_close(b);
}

/* Encode, check info, decode whole and chunk by chunk; returns the blob. */
static uint8_t *round_trip(const uint8_t *raw, size_t len,
			   const struct codec_layout *l, size_t *enc_len)
{
	struct codec_ctx *ctx = codec_ctx_new();
	assert_non_null(ctx);
	uint8_t *enc = NULL;
	assert_int_equal(codec_encode(ctx, raw, len, l, 1, &enc, enc_len), CODEC_OK);
	assert_non_null(enc);

	uint64_t rl = 1;
	uint32_t nch = 0;
	assert_int_equal(codec_info(enc, *enc_len, &rl, &nch), CODEC_OK);
	assert_int_equal(rl, len);
	if (len)
		assert_true(nch > 0);

	/* one extra byte so an unaligned dst is tested too */
	uint8_t *buf = malloc(len + 1);
	assert_non_null(buf);
	uint8_t *dst = buf + 1;
	memset(buf, 0xAA, len + 1);
	assert_int_equal(codec_decode_range(ctx, enc, *enc_len, 0, dst, len), (int64_t)len);
	assert_memory_equal(dst, raw, len);
	memset(buf, 0xAA, len + 1);
	assert_int_equal(codec_decode_range(ctx, enc, *enc_len, 0, buf, len), (int64_t)len);
	assert_memory_equal(buf, raw, len);

	uint64_t next = 0;
	for (uint32_t i = 0; i < nch; i++) {
		uint64_t off;
		uint32_t n;
		assert_int_equal(codec_chunk_span(enc, *enc_len, i, &off, &n), CODEC_OK);
		assert_int_equal(off, next);
		assert_true(n > 0);
		assert_int_equal(codec_decode_chunk(ctx, enc, *enc_len, i, buf), CODEC_OK);
		assert_memory_equal(buf, raw + off, n);
		next = off + n;
	}
	assert_int_equal(next, len);
	assert_int_equal(codec_chunk_span(enc, *enc_len, nch, NULL, NULL), CODEC_ERR_RANGE);
	check_handle(ctx, enc, *enc_len, raw, len, buf);
	free(buf);
	codec_ctx_free(ctx);
	return enc;
}

static void check(const uint8_t *raw, size_t len, const struct codec_layout *l,
		  const char *method)
{
	size_t el;
	uint8_t *enc = round_trip(raw, len, l, &el);
	if (method)
		assert_string_equal(codec_method_name(enc, el), method);
	free(enc);
}

static void ct_16bit_gradient_with_noise_round_trips_and_shrinks(void **state)
{
	(void)state;
	size_t len;
	uint8_t *raw = make16(512, 512, 1, 1, &len);
	struct codec_layout l = { 2, 1, 0, 512, 512, 1 };
	size_t el;
	uint8_t *enc = round_trip(raw, len, &l, &el);
	assert_true(el * 2 < len);
	const char *m = codec_method_name(enc, el);
	assert_true(!strcmp(m, "gradient") || !strcmp(m, "up"));
	free(enc);
	free(raw);
}

static void multi_frame_odd_sizes_round_trip(void **state)
{
	(void)state;
	static const uint32_t dims[][3] = {
		{ 1, 1, 1 }, { 1, 7, 3 }, { 7, 1, 5 }, { 3, 3, 2 },
		{ 333, 517, 2 }, { 1001, 301, 1 }, { 65, 63, 40 }, { 4099, 3, 2 },
	};
	for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
		size_t len;
		uint8_t *raw = make16(dims[i][0], dims[i][1], dims[i][2], i + 5, &len);
		struct codec_layout l = { 2, 1, 0, dims[i][0], dims[i][1], dims[i][2] };
		check(raw, len, &l, NULL);
		/* same bytes as 8-bit samples, two per 16-bit word */
		struct codec_layout l8 = { 1, 1, 0, dims[i][0] * 2, dims[i][1], dims[i][2] };
		check(raw, len, &l8, NULL);
		free(raw);
	}
}

/* Smooth areas next to random ones: contexts change along rows and many
 * residuals escape, at widths around the decoder's row segment sizes. */
static void mixed_noise_with_escapes_round_trips(void **state)
{
	(void)state;
	static const uint32_t widths[] = { 15, 63, 64, 67, 100, 130, 257, 512 };
	uint32_t seed = 12345;
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		uint32_t w = widths[i], h = 40;
		size_t len = (size_t)w * h * 2;
		uint16_t *px = malloc(len);
		assert_non_null(px);
		for (uint32_t y = 0; y < h; y++)
			for (uint32_t x = 0; x < w; x++) {
				seed = seed * 1103515245u + 12345u;
				uint16_t v = (uint16_t)(1000 + x + y);
				if ((x / 7 + y / 5) % 7 == 0)
					v = (uint16_t)(v + ((seed >> 16) & 2047));
				else if ((x / 3) % 4 == 1)
					v = (uint16_t)(v + ((seed >> 20) & 15));
				px[(size_t)y * w + x] = v;
			}
		struct codec_layout l = { 2, 1, 0, w, h, 1 };
		size_t el;
		uint8_t *enc = round_trip((const uint8_t *)px, len, &l, &el);
		const char *m = codec_method_name(enc, el);
		/* the tiny image goes to plain zstd; the others must use the
		 * context method that this test is about */
		assert_true(w < 32 || !strcmp(m, "gradient") || !strcmp(m, "up"));
		free(enc);
		struct codec_layout l8 = { 1, 1, 0, w * 2, h, 1 };
		check((const uint8_t *)px, len, &l8, NULL);
		free(px);
	}
}

static void rgb_interleaved_and_planar_round_trip(void **state)
{
	(void)state;
	for (int planar = 0; planar <= 1; planar++) {
		size_t len;
		uint8_t *raw = make_rgb(640, 480, 2, planar, 9, &len);
		struct codec_layout l = { 1, 3, (uint32_t)planar, 640, 480, 2 };
		size_t el;
		uint8_t *enc = round_trip(raw, len, &l, &el);
		assert_true(el * 2 < len);
		free(enc);
		free(raw);
		raw = make_rgb(17, 5, 3, planar, 10, &len);
		struct codec_layout s = { 1, 3, (uint32_t)planar, 17, 5, 3 };
		check(raw, len, &s, NULL);
		free(raw);
	}
	/* 16-bit colour */
	size_t len;
	uint8_t *raw = make16(300, 200, 3, 3, &len);
	struct codec_layout l = { 2, 3, 0, 100, 200, 3 };
	check(raw, len, &l, NULL);
	struct codec_layout p = { 2, 3, 1, 100, 200, 1 };
	check(raw, len, &p, NULL);
	free(raw);
}

static void layout_not_matching_length_is_opaque(void **state)
{
	(void)state;
	size_t len;
	uint8_t *raw = make16(256, 256, 1, 2, &len);
	struct codec_layout l = { 2, 1, 0, 256, 256, 1 };
	check(raw, len - 1, &l, NULL);
	check(raw, len - 2, &l, NULL);
	struct codec_layout big = { 2, 1, 0, 256, 257, 1 };
	check(raw, len, &big, NULL);
	struct codec_layout bad = { 4, 1, 0, 128, 256, 1 };
	check(raw, len, &bad, NULL);
	struct codec_layout zero = { 2, 1, 0, 0, 256, 1 };
	check(raw, len, &zero, NULL);
	check(raw, len, NULL, NULL);
	free(raw);
}

static void empty_and_one_byte_inputs_round_trip(void **state)
{
	(void)state;
	static const uint8_t one[1] = { 42 };
	check(one, 0, NULL, NULL);
	check(one, 1, NULL, NULL);
	struct codec_layout l = { 1, 1, 0, 1, 1, 1 };
	check(one, 1, &l, NULL);
	struct codec_layout l2 = { 2, 1, 0, 1, 1, 1 };
	check(one, 1, &l2, NULL);
	check(one, 0, &l2, NULL);
}

static void random_bytes_are_stored_and_zeros_shrink(void **state)
{
	(void)state;
	uint8_t *raw = make_random(700000, 77);
	check(raw, 700000, NULL, "stored");
	memset(raw, 0, 700000);
	size_t el;
	uint8_t *enc = round_trip(raw, 700000, NULL, &el);
	assert_true(el < 2000);
	free(enc);
	free(raw);
}

/* Decode [off, off + n) and compare; n may run past the end. */
static void check_range(struct codec_ctx *ctx, const uint8_t *enc, size_t el,
			const uint8_t *raw, size_t len, uint64_t off, size_t n,
			uint8_t *buf)
{
	size_t want = off >= len ? 0 : (n < len - off ? n : len - off);
	buf[want] = 0x5A;
	int64_t got = codec_decode_range(ctx, enc, el, off, buf, n);
	assert_int_equal(got, (int64_t)want);
	assert_memory_equal(buf, raw + off, want);
	assert_int_equal(buf[want], 0x5A);    /* nothing past what was asked */
}

static void any_range_decodes_to_the_raw_bytes(void **state)
{
	(void)state;
	size_t len;
	uint8_t *raw = make16(512, 512, 3, 4, &len);
	/* keep one chunk incompressible so several methods mix */
	uint8_t *noise = make_random(300000, 5);
	memcpy(raw + 600000, noise, 300000);
	free(noise);
	static const struct codec_layout layouts[] = {
		{ 2, 1, 0, 512, 512, 3 }, { 1, 1, 0, 1024, 512, 3 },
		{ 2, 1, 0, 0, 0, 0 },
	};
	struct codec_ctx *ctx = codec_ctx_new();
	uint8_t *buf = malloc(len + 1);
	assert_non_null(buf);
	for (size_t li = 0; li < 3; li++) {
		size_t el;
		uint8_t *enc = round_trip(raw, len, &layouts[li], &el);
		uint64_t seed = 99 + li;
		for (int t = 0; t < 300; t++) {
			uint64_t off = rnd(&seed) % (len + 1);
			size_t n = (size_t)(rnd(&seed) % (t % 3 ? 5000 : len + 10));
			check_range(ctx, enc, el, raw, len, off, n, buf);
		}
		/* ranges starting and ending next to every chunk boundary */
		uint32_t nch;
		assert_int_equal(codec_info(enc, el, NULL, &nch), CODEC_OK);
		for (uint32_t i = 0; i <= nch; i++) {
			uint64_t b = len;
			if (i < nch)
				assert_int_equal(codec_chunk_span(enc, el, i, &b, NULL), CODEC_OK);
			for (int ds = -1; ds <= 1; ds++)
				for (int de = -1; de <= 1; de++) {
					if ((ds < 0 && b == 0) || (uint64_t)(b + ds) > len)
						continue;
					uint64_t off = b + ds;
					uint64_t end = i + 1 <= nch ? b : len;
					if (i + 1 < nch)
						assert_int_equal(codec_chunk_span(enc, el, i + 1, &end, NULL), CODEC_OK);
					else
						end = len;
					end = end + de;
					size_t n = end > off ? (size_t)(end - off) : 0;
					check_range(ctx, enc, el, raw, len, off, n, buf);
					check_range(ctx, enc, el, raw, len, off, 1, buf);
				}
		}
		assert_int_equal(codec_decode_range(ctx, enc, el, len + 1, buf, 1), CODEC_ERR_RANGE);
		assert_int_equal(codec_decode_range(ctx, enc, el, len, buf, 10), 0);
		free(enc);
	}
	free(buf);
	codec_ctx_free(ctx);
	free(raw);
}

/* Decoding damaged blob must give an error or, when the damage cannot be
 * seen, the right bytes; never a crash (ASan checks the rest). */
static void damaged(struct codec_ctx *ctx, const uint8_t *enc, size_t el,
		    const uint8_t *raw, size_t len, uint8_t *buf)
{
	uint64_t rl;
	uint32_t nch;
	struct codec_blob *b = NULL;
	int open_rc = codec_blob_open(enc, el, &b);
	if (codec_info(enc, el, &rl, &nch) != CODEC_OK) {
		assert_int_equal(open_rc, CODEC_ERR_CORRUPT);
		assert_null(b);
		assert_true(codec_decode_range(ctx, enc, el, 0, buf, len) < 0);
		return;
	}
	assert_int_equal(open_rc, CODEC_OK);
	assert_int_equal(codec_blob_raw_len(b), rl);
	assert_int_equal(codec_blob_chunks(b), nch);
	/* damage the checks cannot see decodes right or fails; both ways agree */
	int64_t via_handle = codec_blob_decode_range(ctx, b, 0, buf, len);
	if (via_handle >= 0) {
		assert_int_equal(via_handle, (int64_t)len);
		assert_memory_equal(buf, raw, len);
	}
	assert_int_equal(codec_decode_range(ctx, enc, el, 0, buf, len), via_handle);
	for (uint32_t i = 0; i < nch; i++) {
		uint64_t off, one_off;
		uint32_t n, one_n;
		codec_blob_chunk_span(b, i, &off, &n);
		assert_true(off + n <= rl);
		assert_int_equal(codec_blob_chunk_at(b, off), i);
		assert_int_equal(codec_chunk_span(enc, el, i, &one_off, &one_n), CODEC_OK);
		assert_int_equal(off, one_off);
		assert_int_equal(n, one_n);
		assert_int_equal(codec_blob_decode_chunk(ctx, b, i, buf),
				 codec_decode_chunk(ctx, enc, el, i, buf));
	}
	codec_blob_close(b);
	(void)codec_method_name(enc, el);
}

static void corrupt_or_truncated_blobs_fail_cleanly(void **state)
{
	(void)state;
	size_t len;
	uint8_t *raw = make16(300, 1000, 1, 8, &len);
	uint8_t *noise = make_random(50000, 3);
	memcpy(raw + 300000, noise, 50000);     /* a stored chunk */
	free(noise);
	struct codec_layout l = { 2, 1, 0, 300, 1000, 1 };
	struct codec_ctx *ctx = codec_ctx_new();
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	for (int variant = 0; variant < 2; variant++) {
		size_t el;
		uint8_t *enc = round_trip(raw, len, variant ? NULL : &l, &el);
		uint8_t *bad = malloc(el);
		assert_non_null(bad);
		/* every header and table byte, then a sample of data bytes */
		uint64_t seed = 1234;
		for (size_t k = 0; k < el; k += k < 400 ? 1 : 1 + rnd(&seed) % 997) {
			memcpy(bad, enc, el);
			bad[k] ^= (uint8_t)(1u << (rnd(&seed) % 8));
			damaged(ctx, bad, el, raw, len, buf);
			if (k < 48) {   /* the fixed header is checksummed */
				assert_int_equal(codec_info(bad, el, NULL, NULL), CODEC_ERR_CORRUPT);
			}
		}
		/* truncated at many lengths */
		for (size_t cut = 0; cut < el; cut += cut < 600 ? 1 : 1 + rnd(&seed) % 4001) {
			uint8_t *t = malloc(cut ? cut : 1);
			assert_non_null(t);
			memcpy(t, enc, cut);
			assert_int_equal(codec_info(t, cut, NULL, NULL), CODEC_ERR_CORRUPT);
			assert_true(codec_decode_range(ctx, t, cut, 0, buf, len) < 0);
			free(t);
		}
		/* random garbage of plausible sizes */
		for (int t = 0; t < 200; t++) {
			size_t n = rnd(&seed) % 3000;
			uint8_t *g = make_random(n, seed);
			if (n >= 4)
				memcpy(g, enc, 4);
			damaged(ctx, g, n, raw, len, buf);
			free(g);
		}
		free(bad);
		free(enc);
	}
	assert_int_equal(codec_info(NULL, 0, NULL, NULL), CODEC_ERR_CORRUPT);
	free(buf);
	free(raw);
	codec_ctx_free(ctx);
}

/* Recompute the header checksum after editing the table, so that only the
 * edited field can make codec_blob_open refuse the blob. */
static void reseal(uint8_t *enc)
{
	uint32_t nch;
	memcpy(&nch, enc + 16, 4);
	size_t head = 48 + (size_t)nch * 32;
	uint64_t sum = XXH3_64bits(enc, head);
	memcpy(enc + head, &sum, 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static void inconsistent_chunk_tables_are_refused_at_open(void **state)
{
	(void)state;
	size_t len;
	uint8_t *raw = make16(512, 301, 3, 21, &len);  /* bands of 151 and 150 rows */
	struct codec_layout l = { 2, 1, 0, 512, 301, 3 };
	size_t el;
	uint8_t *enc = round_trip(raw, len, &l, &el);
	uint32_t nch;
	assert_int_equal(codec_info(enc, el, NULL, &nch), CODEC_OK);
	assert_true(nch >= 4);
	uint8_t *bad = malloc(el);
	assert_non_null(bad);
	/* header: raw length at 8, chunk count at 16, columns at 32; table
	 * entry i at 48 + 32 i: raw offset, encoded offset (+8), raw size
	 * (+16), encoded size (+20), method (+24) */
	const size_t e1 = 48 + 32;
	struct { size_t at; uint32_t value; } edits[] = {
		{ 48, 1 },              /* chunk 0 does not start at 0 */
		{ e1, 7 },              /* chunk 1 does not follow chunk 0 */
		{ e1 + 8, 1 },          /* encoded offsets out of order */
		{ e1 + 16, 0 },         /* empty chunk */
		{ e1 + 16, 5u << 20 },  /* larger than any chunk may be */
		{ e1 + 20, 0xFFFFFFF0u },  /* encoded size past the end */
		{ e1 + 24, 9 },         /* unknown method */
		{ 8, 12345 },           /* raw length not what the chunks cover */
		{ 16, 1 },              /* one chunk: the table no longer tiles */
		{ 32, 0 },              /* columns 0: not a pixel layout */
	};
	for (size_t k = 0; k < sizeof(edits) / sizeof(edits[0]); k++) {
		memcpy(bad, enc, el);
		put_le32(bad + edits[k].at, edits[k].value);
		reseal(bad);
		struct codec_blob *b = (struct codec_blob *)bad;
		assert_int_equal(codec_blob_open(bad, el, &b), CODEC_ERR_CORRUPT);
		assert_null(b);
	}
	/* a zstd chunk turned into "stored" with the wrong size */
	memcpy(bad, enc, el);
	bad[48 + 24] = 0;
	reseal(bad);
	struct codec_blob *b = NULL;
	assert_int_equal(codec_blob_open(bad, el, &b), CODEC_ERR_CORRUPT);
	/* unsealed edits are caught by the checksum */
	memcpy(bad, enc, el);
	bad[48 + 28] ^= 1;
	assert_int_equal(codec_blob_open(bad, el, &b), CODEC_ERR_CORRUPT);
	assert_int_equal(codec_blob_open(enc, 48 + 32 * (size_t)nch + 7, &b),
			 CODEC_ERR_CORRUPT);
	assert_int_equal(codec_blob_open(NULL, 0, &b), CODEC_ERR_CORRUPT);
	assert_int_equal(codec_blob_open(enc, el, NULL), CODEC_ERR_ARG);
	codec_blob_close(NULL);
	free(bad);
	free(enc);
	free(raw);
}

static void bad_arguments_are_refused(void **state)
{
	(void)state;
	uint8_t *out = NULL;
	size_t ol;
	struct codec_ctx *ctx = codec_ctx_new();
	assert_int_equal(codec_encode(NULL, "x", 1, NULL, 1, &out, &ol), CODEC_ERR_ARG);
	assert_int_equal(codec_encode(ctx, NULL, 1, NULL, 1, &out, &ol), CODEC_ERR_ARG);
	assert_int_equal(codec_encode(ctx, "x", 1, NULL, 1, NULL, &ol), CODEC_ERR_ARG);
	codec_ctx_free(ctx);
	codec_ctx_free(NULL);
	assert_string_equal(codec_strerror(CODEC_ERR_CORRUPT), "corrupt encoded blob");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ct_16bit_gradient_with_noise_round_trips_and_shrinks),
		cmocka_unit_test(multi_frame_odd_sizes_round_trip),
		cmocka_unit_test(mixed_noise_with_escapes_round_trips),
		cmocka_unit_test(rgb_interleaved_and_planar_round_trip),
		cmocka_unit_test(layout_not_matching_length_is_opaque),
		cmocka_unit_test(empty_and_one_byte_inputs_round_trip),
		cmocka_unit_test(random_bytes_are_stored_and_zeros_shrink),
		cmocka_unit_test(any_range_decodes_to_the_raw_bytes),
		cmocka_unit_test(corrupt_or_truncated_blobs_fail_cleanly),
		cmocka_unit_test(inconsistent_chunk_tables_are_refused_at_open),
		cmocka_unit_test(bad_arguments_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
