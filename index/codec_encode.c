/*
 * codec_encode.c - the encoder: cuts raw bytes into chunks, encodes each
 * with the method that comes out smallest, and writes the header and table
 * (codec_format.h).
 *
 * A pixel chunk gets the predictor (gradient or up) that a sample of its
 * rows favours (on colour differences for 3-sample pixels when they
 * predict better), in the context-split form (the plane form, 6% larger on CT,
 * is kept for chunks beyond the context method's scratch, which CHUNK_MAX
 * rules out today); chunks whose prediction gains less than 2:1 are also
 * tried as plain zstd, and whatever does not shrink is stored.  An opaque
 * chunk is zstd only when that saves at least 3%, else stored.
 */
#include "codec_internal.h"
#include "codec_filter.h"
#include "codec_model.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

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

/* A token stream into the output: zstd level 1, whose entropy stage is all
 * noisy streams gain from (higher levels lose 3% on CT); a stream that
 * shrinks more than 4:1 (flat areas: long matches) is compressed again at
 * `level` when that is higher, and the smaller frame kept (MR at level 6:
 * 17.8 -> 19.3).  Returns the size, 0 on error. */
static size_t zstd_stream_into(struct codec_ctx *ctx, struct out_buf *o,
			       const void *src, size_t n, int level)
{
	size_t z = zstd_into(ctx, o, src, n, 1);
	if (z == 0 || level <= 1 || n <= 4 * z)
		return z;
	o->len += z;
	size_t again = zstd_into(ctx, o, src, n, level);
	o->len -= z;
	if (again == 0)
		return 0;
	if (again < z) {
		memmove(o->p + o->len, o->p + o->len + z, again);
		z = again;
	}
	return z;
}

/* Plane encoding of a chunk, for chunks too large for the context method.
 * Appends to o, returns the size, 0 on error. */
static size_t encode_planes(struct codec_ctx *ctx, struct out_buf *o,
			    const struct pixel_geom *g, const uint8_t *pix,
			    uint64_t raw_off, size_t raw_size, int m, int level)
{
	uint8_t *planes = codec_scratch(ctx, S_BYTES, raw_size);
	if (!planes)
		return 0;
	codec_planes_filter(g, pix, raw_off, raw_size, m, planes);
	return zstd_into(ctx, o, planes, raw_size, level);
}

/* Limit of the context methods: their scratch is NCTX bytes per sample. */
#define CTX_MAX_SAMPLES (8u << 20)

/* Context-split payload of a chunk (pix: 16-bit samples aligned) appended
 * to o; returns its size, 0 when out of memory. */
static size_t encode_ctx(struct codec_ctx *ctx, struct out_buf *o,
			 const struct pixel_geom *g, uint8_t *pix, uint64_t raw_off,
			 size_t raw_size, int up, int level)
{
	size_t nsamp = raw_size / g->bps;
	struct token_streams s;
	uint8_t *tok = codec_scratch(ctx, S_BYTES, NCTX * nsamp);
	uint16_t *esc = (uint16_t *)(void *)codec_scratch(ctx, S_ESC, nsamp * 2);
	if (!tok || !esc || codec_model_scratch(ctx, g, &s))
		return 0;
	for (int k = 0; k < NCTX; k++)
		s.tp[k] = tok + (size_t)k * nsamp;
	s.esc = esc;
	codec_model_split(g, pix, raw_off, raw_size, up, &s);

	size_t base = o->len;
	if (out_reserve(o, STREAM_TABLE_SIZE))
		return 0;
	o->len += STREAM_TABLE_SIZE;
	for (int k = 0; k < NSTREAM; k++) {
		const uint8_t *src = k < NCTX ? tok + (size_t)k * nsamp : (uint8_t *)esc;
		size_t cnt = k < NCTX ? (size_t)(s.tp[k] - src) : (size_t)(s.esc - esc);
		size_t bytes = k < NCTX ? cnt : cnt * 2;
		size_t z = 0;
		if (bytes) {
			z = zstd_stream_into(ctx, o, src, bytes, level);
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

/* Opaque bytes (encapsulated JPEG, JPEG 2000 ... fragments) are kept as
 * zstd only when that saves at least OPAQUE_MIN_GAIN_PCT percent of the
 * chunk: otherwise a read of a tile would pay a decompression for a gain
 * of a percent or two, where a stored chunk costs a copy. */
#define OPAQUE_MIN_GAIN_PCT 3u

static size_t opaque_zstd_limit(size_t raw_size)
{
	return raw_size - raw_size / 100u * OPAQUE_MIN_GAIN_PCT -
	       raw_size % 100u * OPAQUE_MIN_GAIN_PCT / 100u;
}

/* Encode one chunk at the end of o; records method and size in *e. */
static int encode_chunk(struct codec_ctx *ctx, struct out_buf *o,
			const struct pixel_geom *g, const uint8_t *raw,
			uint64_t raw_off, size_t raw_size, int level,
			struct chunk_entry *e)
{
	size_t best = raw_size;
	int best_m = M_STORED;
	size_t base = o->len;

	if (g) {
		uint8_t *pix = (uint8_t *)raw;
		if (g->bps == 2) {
			/* aligned copy: raw may sit at any address */
			pix = codec_scratch(ctx, S_WORDS, raw_size);
			if (!pix)
				return CODEC_ERR_NOMEM;
			memcpy(pix, raw, raw_size);
		}
		uint64_t cost;
		int m = codec_pick_predictor_cost(g, pix, raw_off, raw_size, &cost);
		int ctx_form = raw_size / g->bps <= CTX_MAX_SAMPLES, cd = 0;
		if (g->step == 3 && ctx_form) {
			/* 3-sample pixels: colour differences when the sampled
			 * rows predict better so (RGB: 1.5x on ultrasound) */
			uint8_t *dp = codec_scratch(ctx, S_COLOUR, raw_size);
			if (!dp)
				return CODEC_ERR_NOMEM;
			codec_colour_diff(g, pix, dp, raw_size);
			uint64_t cd_cost;
			int cd_m = codec_pick_predictor_cost(g, dp, raw_off, raw_size,
							     &cd_cost);
			if (cd_cost < cost) {
				pix = dp;
				m = cd_m;
				cd = 1;
			}
		}
		size_t r;
		if (ctx_form)
			r = encode_ctx(ctx, o, g, pix, raw_off, raw_size,
				       m == M_UP, level);
		else
			r = encode_planes(ctx, o, g, pix, raw_off, raw_size, m, level);
		if (r == 0)
			return CODEC_ERR_NOMEM;
		if (r < best) {
			best = r;
			if (!ctx_form)
				best_m = m;
			else if (cd)
				best_m = m == M_UP ? M_UP_CTX_CD : M_GRADIENT_CTX_CD;
			else
				best_m = m == M_UP ? M_UP_CTX : M_GRADIENT_CTX;
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
		if (r < best && (g || r <= opaque_zstd_limit(raw_size))) {
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
static size_t next_chunk(const struct pixel_geom *g, uint64_t pos, uint64_t raw_len)
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
	struct pixel_geom gg;
	const struct pixel_geom *g = NULL;
	if (layout && codec_geom_from_layout(layout, raw_len, &gg) == 0)
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
		struct chunk_entry e;
		size_t start = o.len;
		int rc = encode_chunk(ctx, &o, g, r + pos, pos, n, level, &e);
		if (rc) {
			free(o.p);
			return rc;
		}
		uint8_t *t = o.p + HDR_SIZE + (size_t)i * ENT_SIZE;
		put64(t + ENT_RAW_OFF, e.raw_off);
		put64(t + ENT_ENC_OFF, start - head);
		put32(t + ENT_RAW_SIZE, e.raw_size);
		put32(t + ENT_ENC_SIZE, e.enc_size);
		t[ENT_METHOD] = (uint8_t)e.method;
		put32(t + ENT_HASH, e.hash);
		pos += n;
	}

	uint8_t *h = o.p;
	memcpy(h, CODEC_MAGIC, 4);
	h[4] = CODEC_VERSION;
	h[5] = g ? KIND_PIXEL : KIND_OPAQUE;
	put64(h + HDR_RAW_LEN, raw_len);
	put32(h + HDR_NCHUNKS, (uint32_t)nch);
	if (g) {
		put32(h + HDR_LAYOUT, layout->bytes_per_sample);
		put32(h + HDR_LAYOUT + 4, layout->samples_per_pixel);
		put32(h + HDR_LAYOUT + 8, layout->planar);
		put32(h + HDR_LAYOUT + 12, layout->columns);
		put32(h + HDR_LAYOUT + 16, layout->rows);
		put32(h + HDR_LAYOUT + 20, layout->frames);
	}
	put64(h + head - SUM_SIZE, XXH3_64bits(h, head - SUM_SIZE));
	*out = o.p;
	*out_len = o.len;
	return CODEC_OK;
}
