/*
 * biashuff.c - the experimental bias-corrected Huffman chunk coder
 * (index/codec_huff.h) as a reference: every chunk the codec would cut
 * (whole images up to CHUNK_TARGET, else bands of rows) coded with it
 * alone, each image's chunks as { u32 low half of the chunk's XXH3-64, u32
 * payload size, payload } in its own buffer (the hash checked at decode,
 * as today's codec does).  What the coder would add as a chunk method, on
 * the same pixels.
 */
#include "refs.h"
#include "codec_huff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static struct codec_ctx *bh_ctx;

/* Raw bytes of the chunk at pos of an image of geometry g. */
static size_t chunk_at(const struct pixel_geom *g, size_t pos, size_t len)
{
	size_t n = g->img_bytes <= CHUNK_TARGET ?
		   CHUNK_TARGET / g->img_bytes * g->img_bytes :
		   (CHUNK_TARGET / g->row_bytes ? CHUNK_TARGET / g->row_bytes : 1) * g->row_bytes;
	if (g->img_bytes > CHUNK_TARGET && n > g->img_bytes - pos % g->img_bytes)
		n = g->img_bytes - pos % g->img_bytes;
	return n < len - pos ? n : len - pos;
}

static int geom_of(struct ref_series *s, const struct ref_image *im,
		   struct pixel_geom *g)
{
	if (codec_geom_from_layout(&im->layout, im->pix_len, g)) {
		snprintf(s->why, sizeof(s->why), "bias-huff: a layout that does not fit the pixels");
		return -1;
	}
	if (!bh_ctx && !(bh_ctx = codec_ctx_new())) {
		snprintf(s->why, sizeof(s->why), "bias-huff: out of memory");
		return -1;
	}
	return 0;
}

/* The layout of a chunk of n bytes as a blob of its own: whole images as
 * frames, or a band of rows; a colour plane (planar 1) is a grey image. */
static void chunk_layout(const struct ref_image *im, const struct pixel_geom *g,
			 size_t n, struct codec_layout *l)
{
	*l = im->layout;
	if (l->planar)
		l->samples_per_pixel = 1;
	l->planar = 0;
	if (g->img_bytes <= CHUNK_TARGET) {
		l->frames = (uint32_t)(n / g->img_bytes);
		return;
	}
	l->rows = (uint32_t)(n / g->row_bytes);
	l->frames = 1;
}

static int encode_series(struct ref_series *s, int pick)
{
	for (int i = 0; i < s->n; i++) {
		struct ref_image *im = &s->im[i];
		struct pixel_geom g;
		if (geom_of(s, im, &g))
			return -1;
		size_t cap = im->pix_len + im->pix_len / 4 + 4096, len = 0;
		uint8_t *enc = malloc(cap), *pix = malloc(CHUNK_TARGET + g.row_bytes);
		im->enc = enc;
		for (size_t pos = 0, n; enc && pix && pos < im->pix_len; pos += n) {
			n = chunk_at(&g, pos, im->pix_len);
			memcpy(pix, im->pix + pos, n);   /* 16-bit samples aligned */
			const uint8_t *p;
			size_t pl;
			uint8_t *blob = NULL, tag = 0;
			if (codec_huff_encode(bh_ctx, &g, pix, pos, n, &p, &pl))
				break;
			struct codec_layout cl;
			size_t bl;
			if (pick) {
				chunk_layout(im, &g, n, &cl);
				if (codec_encode(bh_ctx, pix, n, &cl, 1, &blob, &bl))
					break;
				if (bl < pl) {
					p = blob;
					pl = bl;
					tag = 1;
				}
			}
			if (cap - len < pl + 9) {
				cap = (cap + pl + 9) * 2;
				uint8_t *more = realloc(enc, cap);
				if (!more) {
					free(blob);
					break;
				}
				im->enc = enc = more;
			}
			if (pick)
				enc[len++] = tag;
			if (!tag) {
				/* the chunk hash today's codec checks at every decode */
				memcpy(enc + len, &(uint32_t){ (uint32_t)XXH3_64bits(pix, n) }, 4);
				len += 4;
			}
			memcpy(enc + len, &(uint32_t){ (uint32_t)pl }, 4);
			memcpy(enc + len + 4, p, pl);
			free(blob);
			len += 4 + pl;
			im->enc_len = len;
		}
		free(pix);
		if (!enc || im->enc_len != len || (len == 0 && im->pix_len)) {
			snprintf(s->why, sizeof(s->why), "bias-huff: out of memory");
			return -1;
		}
	}
	return 0;
}

static int decode_series(struct ref_series *s, uint8_t *dst, int pick)
{
	for (int i = 0; i < s->n; i++) {
		const struct ref_image *im = &s->im[i];
		struct pixel_geom g;
		if (geom_of(s, im, &g))
			return -1;
		size_t at = 0;
		for (size_t pos = 0, n; pos < im->pix_len; pos += n) {
			n = chunk_at(&g, pos, im->pix_len);
			uint32_t pl;
			uint8_t tag = 0;
			uint32_t hash = 0;
			if (pick && at < im->enc_len)
				tag = im->enc[at++];
			if (!tag) {
				if (im->enc_len - at < 4)
					goto bad;
				memcpy(&hash, im->enc + at, 4);
				at += 4;
			}
			if (im->enc_len - at < 4)
				goto bad;
			memcpy(&pl, im->enc + at, 4);
			at += 4;
			if (im->enc_len - at < pl)
				goto bad;
			if (tag ? codec_decode_range(bh_ctx, im->enc + at, pl, 0, dst + pos, n) != (int64_t)n :
			    (codec_huff_decode(bh_ctx, &g, im->enc + at, pl, pos, n, dst + pos) != CODEC_OK ||
			     (uint32_t)XXH3_64bits(dst + pos, n) != hash))
				goto bad;
			at += pl;
		}
		dst += im->pix_len;
	}
	return 0;
bad:
	snprintf(s->why, sizeof(s->why), "bias-huff: a chunk does not decode");
	return -1;
}

static int biashuff_encode(struct ref_series *s)
{
	return encode_series(s, 0);
}

static int biashuff_decode(struct ref_series *s, uint8_t *dst)
{
	return decode_series(s, dst, 0);
}

static int either_encode(struct ref_series *s)
{
	return encode_series(s, 1);
}

static int either_decode(struct ref_series *s, uint8_t *dst)
{
	return decode_series(s, dst, 1);
}

const struct ref_codec ref_biashuff = { "bias-huff", biashuff_encode, biashuff_decode };
const struct ref_codec ref_biashuff_or_dcmfs = { "bias-huff|dcmfs", either_encode,
						 either_decode };
