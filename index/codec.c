/*
 * codec.c - what every part of the codec uses: the per-thread context and
 * its scratch buffers, the pixel geometry of a layout, error messages.
 *
 * codec_internal.h lists the codec's files; codec_format.h gives the
 * encoded blob format.
 */
#include "codec_internal.h"

#include <stdlib.h>

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

uint8_t *codec_scratch(struct codec_ctx *ctx, int slot, size_t n)
{
	if (n == 0)
		n = 1;
	if (ctx->cap[slot] < n) {
		/* a new buffer, not realloc: the old contents are not wanted */
		uint8_t *p = malloc(n);
		if (!p)
			return NULL;
		free(ctx->s[slot]);
		ctx->s[slot] = p;
		ctx->cap[slot] = n;
	}
	return ctx->s[slot];
}

/* ---- geometry ----------------------------------------------------------- */

int codec_geom_from_layout(const struct codec_layout *l, uint64_t raw_len,
			   struct pixel_geom *g)
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

