/*
 * fuzz_codec.c - libFuzzer target: the codec decoder on arbitrary blobs.
 *
 * Inputs that start with the blob magic "DCZB" go to the decoder through a
 * codec_blob handle: codec_blob_open (which must agree with codec_info),
 * the span and chunk_at of every chunk, codec_blob_decode_chunk for every
 * chunk (into a buffer of exactly the chunk's size), codec_blob_decode_range
 * and the one-shot codec_decode_range on a range picked from the input, and
 * the method names.  A blob may decode or be
 * refused (CODEC_ERR_CORRUPT); it may never touch memory outside its
 * buffers.  The header checksum is recomputed before decoding (see
 * fix_checksum), so mutations of the header and table get past it.
 *
 * Other inputs exercise the encoder: the first 8 bytes pick a layout
 * (bytes per sample, samples, planar, columns, frames), the rest is the raw
 * data; the blob is encoded, decoded whole and by ranges, and must give the
 * raw bytes back exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "codec.h"

static struct codec_ctx *ctx;

/* Decoding side.  At most this many raw bytes are decoded per input, so a
 * blob claiming 4 GiB of chunks does not make the fuzzer allocate them. */
#define RAW_BUDGET (16u << 20)

/* The header and chunk table are covered by an XXH3-64; a mutated header
 * would almost always stop at that check.  Recompute it, so that mutations
 * reach the validation of every field and the chunk decoders behind it. */
static void fix_checksum(uint8_t *enc, size_t len)
{
	if (len < 56)
		return;
	uint32_t nch;
	memcpy(&nch, enc + 16, 4);
	if (nch > (len - 56) / 32)
		return;
	size_t head = 48 + (size_t)nch * 32 + 8;
	uint64_t h = XXH3_64bits(enc, head - 8);
	memcpy(enc + head - 8, &h, 8);
}

static void decode_blob(const uint8_t *enc, size_t len)
{
	uint64_t raw_len;
	uint32_t nchunks;
	struct codec_blob *b = NULL;
	int info_rc = codec_info(enc, len, &raw_len, &nchunks);
	int open_rc = codec_blob_open(enc, len, &b);
	(void)codec_method_name(enc, len);
	if (open_rc != info_rc && open_rc != CODEC_ERR_NOMEM)
		abort();   /* the handle and the one-shot check must agree */
	if (open_rc != CODEC_OK)
		return;
	if (codec_blob_raw_len(b) != raw_len || codec_blob_chunks(b) != nchunks)
		abort();
	(void)codec_blob_method(b);
	uint64_t budget = RAW_BUDGET, total = 0;
	for (uint32_t i = 0; i < nchunks; i++) {
		uint64_t off;
		uint32_t n;
		codec_blob_chunk_span(b, i, &off, &n);
		if (off != total || n == 0)
			abort();   /* chunks tile the raw bytes */
		if (codec_blob_chunk_at(b, off) != i ||
		    codec_blob_chunk_at(b, off + n - 1) != i)
			abort();
		total += n;
		if (n > budget)
			continue;
		budget -= n;
		uint8_t *dst = malloc(n);
		if (!dst)
			break;
		(void)codec_blob_decode_chunk(ctx, b, i, dst);
		free(dst);
	}
	if (total != raw_len)
		abort();
	/* a range from the middle, unaligned destination, both ways */
	if (raw_len && raw_len <= RAW_BUDGET) {
		uint64_t off = raw_len / 3, n = raw_len - off;
		if (n > 70000)
			n = 70000;
		uint8_t *dst = malloc(2 * n + 1);
		if (dst) {
			int64_t got = codec_blob_decode_range(ctx, b, off, dst + 1, n);
			int64_t once = codec_decode_range(ctx, enc, len, off, dst + 1 + n, n);
			if (got >= 0 && (uint64_t)got != n)
				abort();
			if (got != once || (got > 0 && memcmp(dst + 1, dst + 1 + n, n)))
				abort();
			free(dst);
		}
	}
	codec_blob_close(b);
}

static void roundtrip(const uint8_t *data, size_t size)
{
	if (size < 8)
		return;
	struct codec_layout l = {
		.bytes_per_sample = 1u + (data[0] & 1),
		.samples_per_pixel = (data[1] & 1) ? 3 : 1,
		.planar = data[2] & 1,
		.columns = 1u + data[3] % 64,
		.frames = 1u + data[4] % 4,
	};
	int opaque = data[5] & 1;
	int level = 1 + data[6] % 3;
	const uint8_t *raw = data + 8;
	size_t raw_len = size - 8;
	uint64_t row = (uint64_t)l.bytes_per_sample * l.samples_per_pixel * l.columns;
	l.rows = (uint32_t)(raw_len / (row * l.frames));
	if (l.rows == 0)
		opaque = 1;
	else
		raw_len = (size_t)(row * l.frames * l.rows);
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	if (codec_encode(ctx, raw, raw_len, opaque ? NULL : &l, level, &enc,
			 &enc_len) != CODEC_OK)
		abort();
	uint64_t got_len;
	uint32_t nch;
	if (codec_info(enc, enc_len, &got_len, &nch) != CODEC_OK || got_len != raw_len)
		abort();
	uint8_t *out = malloc(raw_len + 1);
	if (!out)
		abort();
	if (codec_decode_range(ctx, enc, enc_len, 0, out + 1, raw_len) != (int64_t)raw_len ||
	    memcmp(out + 1, raw, raw_len) != 0)
		abort();
	struct codec_blob *b;
	if (codec_blob_open(enc, enc_len, &b) != CODEC_OK)
		abort();
	if (raw_len > 2) {
		size_t off = raw_len / 2 - 1, n = raw_len - off - 1;
		if (codec_decode_range(ctx, enc, enc_len, off, out, n) != (int64_t)n ||
		    memcmp(out, raw + off, n) != 0)
			abort();
		if (codec_blob_decode_range(ctx, b, off, out + 1, n) != (int64_t)n ||
		    memcmp(out + 1, raw + off, n) != 0)
			abort();
	}
	codec_blob_close(b);
	free(out);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx && !(ctx = codec_ctx_new()))
		abort();
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (size >= 4 && memcmp(buf, "DCZB", 4) == 0) {
		fix_checksum(buf, size);
		decode_blob(buf, size);
	}
	else
		roundtrip(buf, size);
	free(buf);
	return 0;
}
