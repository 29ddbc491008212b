/*
 * codec.h - lossless, randomly accessible compression of blob contents.
 *
 * An encoded blob is self-describing: a small header (magic, version, raw
 * length, chunk size, layout, method) followed by a chunk table and the
 * chunks.  Each chunk decodes on its own (any prediction restarts at a chunk),
 * so reading any byte range decodes only the chunks it touches.
 *
 * Native pixel data (a layout is given) is cut into chunks of whole rows
 * (about 256 KiB, or one frame) and each chunk is filtered with a predictor
 * (gradient: left + up - upper-left; or up), zigzag-mapped modulo 2^16 and
 * byte-shuffled into planes before zstd; the variant that is smallest wins,
 * including plain zstd and stored-as-is, and is recorded per chunk.
 * Opaque bytes (no layout: headers, trailers, encapsulated pixel data) are
 * chunked plain zstd, or stored when zstd does not shrink them.
 *
 * Decoding is hostile-input safe: every length in the header and the chunk
 * table is checked against the buffer; a bad blob gives CODEC_ERR_CORRUPT.
 */
#ifndef DCMFS_CODEC_H
#define DCMFS_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum codec_status {
	CODEC_OK = 0,
	CODEC_ERR_NOMEM = -1,
	CODEC_ERR_CORRUPT = -2,   /* header, table or a chunk does not decode */
	CODEC_ERR_RANGE = -3,     /* offset past the raw length */
	CODEC_ERR_ARG = -4,
};

/* How native pixel bytes are laid out; all fields from the DICOM header. */
struct codec_layout {
	uint32_t bytes_per_sample;  /* 1 or 2 are filtered; anything else: opaque */
	uint32_t samples_per_pixel; /* 1 (grey) or 3 (colour) */
	uint32_t planar;            /* 0: samples interleaved, 1: colour planes */
	uint32_t columns;
	uint32_t rows;              /* per frame */
	uint32_t frames;
};

/* Per-thread state (zstd contexts, scratch buffers).  free accepts NULL. */
struct codec_ctx;
struct codec_ctx *codec_ctx_new(void);
void codec_ctx_free(struct codec_ctx *ctx);

/* Encode raw[0..raw_len).  layout may be NULL (opaque bytes); a layout whose
 * sizes do not match raw_len is treated as opaque too, never an error.
 * level is the zstd level (1 is the default for pixels).  On success *out is
 * a malloc'd buffer of *out_len bytes owned by the caller. */
int codec_encode(struct codec_ctx *ctx, const void *raw, size_t raw_len,
		 const struct codec_layout *layout, int level,
		 uint8_t **out, size_t *out_len);

/* Validate the header and chunk table of an encoded blob and give its raw
 * length and chunk count.  Cheap: reads only the header and table. */
int codec_info(const uint8_t *enc, size_t enc_len, uint64_t *raw_len,
	       uint32_t *nchunks);

/* Chunk i covers raw bytes [*raw_off, *raw_off + *raw_len). */
int codec_chunk_span(const uint8_t *enc, size_t enc_len, uint32_t i,
		     uint64_t *raw_off, uint32_t *raw_len);

/* Decode chunk i into dst (room for its raw_len bytes). */
int codec_decode_chunk(struct codec_ctx *ctx, const uint8_t *enc,
		       size_t enc_len, uint32_t i, void *dst);

/* Decode raw bytes [off, off + n) into dst, touching only the chunks that
 * overlap; n is clipped at the raw length.  Returns the number of bytes
 * written (>= 0) or a negative codec_status. */
int64_t codec_decode_range(struct codec_ctx *ctx, const uint8_t *enc,
			   size_t enc_len, uint64_t off, void *dst, size_t n);

/* Name of the method used for most raw bytes ("gradient", "up", "zstd",
 * "stored"), for stats and tests. */
const char *codec_method_name(const uint8_t *enc, size_t enc_len);

const char *codec_strerror(int status);

#endif
