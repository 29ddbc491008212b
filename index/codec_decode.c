/*
 * codec_decode.c - the decoder: struct codec_blob (header and chunk table
 * checked once), chunk and range decodes, and the one-shot calls.
 *
 * Hostile-input safe: parse() checks every length and offset of the header
 * and table against the buffer before anything relies on them, chunk
 * payloads are checked as they are decoded (stream counts and sizes, zstd
 * frame sizes, token streams that run out), and every decoded chunk
 * against its hash, so damage gives CODEC_ERR_CORRUPT, never wrong bytes.
 */
#include "codec_internal.h"
#include "codec_filter.h"
#include "codec_model.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static const char *const method_names[M_COUNT] = {
	"stored", "zstd", "gradient", "up", "gradient", "up", "gradient-rgb",
	"up-rgb"
};

/* zstd frame src -> exactly n bytes at dst. */
static int unzstd(struct codec_ctx *ctx, void *dst, size_t n,
		  const uint8_t *src, size_t len)
{
	size_t r = ZSTD_decompressDCtx(ctx->dc, dst, n, src, len);
	if (ZSTD_isError(r) || r != n)
		return CODEC_ERR_CORRUPT;
	return CODEC_OK;
}

/* Decode a context-split chunk into dst (aligned for 16-bit samples). */
static int decode_ctx(struct codec_ctx *ctx, const struct pixel_geom *g,
		      const uint8_t *src, size_t len, uint64_t raw_off,
		      size_t raw_size, int up, uint8_t *dst)
{
	size_t nsamp = raw_size / g->bps, w = g->row_samples;
	if (len < STREAM_TABLE_SIZE)
		return CODEC_ERR_CORRUPT;
	uint64_t ntok = 0, zsum = 0;
	for (int k = 0; k < NSTREAM; k++) {
		if (k < NCTX)
			ntok += get32(src + k * 8);
		zsum += get32(src + k * 8 + 4);
	}
	uint64_t nesc = get32(src + NCTX * 8);
	if (ntok != nsamp || zsum != len - STREAM_TABLE_SIZE || nesc > nsamp ||
	    (g->bps == 1 && nesc))
		return CODEC_ERR_CORRUPT;
	/* w bytes of slack: a bad blob may overrun a stream by up to a row */
	uint8_t *tok = codec_scratch(ctx, S_BYTES, nsamp + w);
	uint16_t *esc = (uint16_t *)(void *)codec_scratch(ctx, S_ESC, nesc * 2 + 2);
	struct token_streams s;
	if (!tok || !esc || codec_model_scratch(ctx, g, &s))
		return CODEC_ERR_NOMEM;
	memset(tok + nsamp, 0, w);
	const uint8_t *z = src + STREAM_TABLE_SIZE;
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
	if (codec_model_join(g, dst, raw_off, raw_size, up, &s))
		return CODEC_ERR_CORRUPT;
	return CODEC_OK;
}

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
	struct pixel_geom g;
};

static void get_entry(const struct codec_blob *b, uint32_t i, struct chunk_entry *e)
{
	const uint8_t *t = b->table + (size_t)i * ENT_SIZE;
	e->raw_off = get64(t + ENT_RAW_OFF);
	e->enc_off = get64(t + ENT_ENC_OFF);
	e->raw_size = get32(t + ENT_RAW_SIZE);
	e->enc_size = get32(t + ENT_ENC_SIZE);
	e->method = t[ENT_METHOD];
	e->hash = get32(t + ENT_HASH);
}

/* Check everything in the header and table in one pass; all later reads
 * rely on it.  Also notes what makes lookups cheap afterwards. */
static int parse(const uint8_t *enc, size_t enc_len, struct codec_blob *b)
{
	if (!enc || enc_len < HDR_SIZE + SUM_SIZE)
		return CODEC_ERR_CORRUPT;
	if (memcmp(enc, CODEC_MAGIC, 4) != 0 || enc[4] != CODEC_VERSION ||
	    enc[5] > KIND_PIXEL)
		return CODEC_ERR_CORRUPT;
	b->kind = enc[5];
	b->raw_len = get64(enc + HDR_RAW_LEN);
	b->nchunks = get32(enc + HDR_NCHUNKS);
	if (b->nchunks > (enc_len - HDR_SIZE - SUM_SIZE) / ENT_SIZE)
		return CODEC_ERR_CORRUPT;
	size_t head = HDR_SIZE + (size_t)b->nchunks * ENT_SIZE + SUM_SIZE;
	if (get64(enc + head - SUM_SIZE) != XXH3_64bits(enc, head - SUM_SIZE))
		return CODEC_ERR_CORRUPT;
	b->table = enc + HDR_SIZE;
	b->data = enc + head;
	b->data_len = enc_len - head;
	if (b->kind == KIND_PIXEL) {
		const uint8_t *f = enc + HDR_LAYOUT;
		struct codec_layout l = {
			get32(f), get32(f + 4), get32(f + 8),
			get32(f + 12), get32(f + 16), get32(f + 20)
		};
		if (codec_geom_from_layout(&l, b->raw_len, &b->g))
			return CODEC_ERR_CORRUPT;
	}
	uint64_t raw_pos = 0, enc_pos = 0;
	uint64_t method_bytes[M_COUNT] = { 0 };
	b->uniform_size = b->nchunks ? get32(b->table + ENT_RAW_SIZE) : 0;
	for (uint32_t i = 0; i < b->nchunks; i++) {
		struct chunk_entry e;
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
		/* colour differences need whole 3-sample pixels */
		if ((e.method == M_GRADIENT_CTX_CD || e.method == M_UP_CTX_CD) &&
		    b->g.step != 3)
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
		*raw_off = get64(t + ENT_RAW_OFF);
	if (raw_len)
		*raw_len = get32(t + ENT_RAW_SIZE);
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
		if (get64(b->table + (size_t)mid * ENT_SIZE + ENT_RAW_OFF) <= off)
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

/* Decode the pixel chunk e (methods 2..5) into pix, aligned for 16-bit
 * samples. */
static int decode_pixels(struct codec_ctx *ctx, const struct codec_blob *b,
			 const struct chunk_entry *e, const uint8_t *src,
			 uint8_t *pix)
{
	size_t n = e->raw_size;
	if (e->method == M_GRADIENT_CTX || e->method == M_UP_CTX)
		return decode_ctx(ctx, &b->g, src, e->enc_size, e->raw_off, n,
				  e->method == M_UP_CTX, pix);
	if (e->method == M_GRADIENT_CTX_CD || e->method == M_UP_CTX_CD) {
		int rc = decode_ctx(ctx, &b->g, src, e->enc_size, e->raw_off, n,
				    e->method == M_UP_CTX_CD, pix);
		if (rc == CODEC_OK)
			codec_colour_undiff(&b->g, pix, n);
		return rc;
	}
	uint8_t *planes = codec_scratch(ctx, S_BYTES, n);
	if (!planes)
		return CODEC_ERR_NOMEM;
	int rc = unzstd(ctx, planes, n, src, e->enc_size);
	if (rc)
		return rc;
	codec_planes_unfilter(&b->g, planes, e->raw_off, n, (int)e->method, pix);
	return CODEC_OK;
}

/* Decode chunk e of a parsed blob into dst (e->raw_size bytes, any
 * alignment) and check its hash. */
static int decode_entry(struct codec_ctx *ctx, const struct codec_blob *b,
			const struct chunk_entry *e, uint8_t *dst)
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
	default: {
		/* 16-bit samples are rebuilt in place when dst is aligned */
		uint8_t *pix = dst;
		if (b->g.bps == 2 && ((uintptr_t)dst & 1) &&
		    !(pix = codec_scratch(ctx, S_WORDS, n)))
			return CODEC_ERR_NOMEM;
		rc = decode_pixels(ctx, b, e, src, pix);
		if (rc == CODEC_OK && pix != dst)
			memcpy(dst, pix, n);
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
	struct chunk_entry e;
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
		struct chunk_entry e;
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
			uint8_t *whole = codec_scratch(ctx, S_RANGE, e.raw_size);
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
