/*
 * codec.h - lossless, randomly accessible compression of blob contents.
 *
 * An encoded blob is self-describing: a small header (magic, version, raw
 * length, pixel layout), a chunk table and the chunks (codec_format.h has
 * the format byte by byte).  Each chunk decodes on its own (any prediction
 * restarts at a chunk), so reading any byte range decodes only the chunks
 * it touches.
 *
 * Native pixel data (a layout is given) is cut into chunks of whole rows
 * (about 256 KiB, or several whole images) and each chunk is filtered with a
 * predictor (gradient: left + up - upper-left; or up, whichever a sample of
 * rows favours), zigzag-mapped modulo 2^16 (2^8), and its residuals split by
 * a context the decoder knows (the activity of the two rows above) into
 * several zstd streams, each with its own entropy table.  3-sample pixels
 * (RGB, planar 0) are first turned into colour differences (R - G, G,
 * B - G) where a sample of rows predicts better so.  Plain zstd and
 * stored-as-is are kept instead when smaller; the method is recorded per
 * chunk.  Opaque bytes (no layout: headers, trailers, encapsulated pixel
 * data) are chunked plain zstd, or stored when zstd saves less than 3%
 * (encapsulated JPEG: a tile read is then a copy, not a decompression).
 *
 * Decoding is hostile-input safe: every length in the header and the chunk
 * table is checked against the buffer, and every decoded chunk against its
 * hash; a bad blob gives CODEC_ERR_CORRUPT, never wrong bytes.
 *
 * Threads: a codec_ctx is used by one thread at a time; an open codec_blob
 * is read-only and may be shared by threads that each use their own ctx.
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

/* Per-thread state (zstd contexts, scratch buffers that grow to the largest
 * chunk seen).  codec_ctx_new returns NULL when out of memory; the caller
 * owns the context; free accepts NULL. */
struct codec_ctx;
struct codec_ctx *codec_ctx_new(void);
void codec_ctx_free(struct codec_ctx *ctx);

/* Encode raw[0..raw_len).  layout may be NULL (opaque bytes); a layout whose
 * sizes do not match raw_len is treated as opaque too, never an error.
 * level is the zstd level (1 is the default for pixels; the token streams of
 * pixels are coded at 1, and those shrinking more than 4:1 again at a higher
 * level, the smaller kept: slower, never larger).  The same input
 * always gives the same bytes.  On success *out is a malloc'd buffer of
 * *out_len bytes owned by the caller.  Returns CODEC_OK, CODEC_ERR_NOMEM,
 * or CODEC_ERR_ARG (ctx, out or out_len NULL, raw NULL with raw_len > 0). */
int codec_encode(struct codec_ctx *ctx, const void *raw, size_t raw_len,
		 const struct codec_layout *layout, int level,
		 uint8_t **out, size_t *out_len);

/*
 * Reading.  Open a blob once with codec_blob_open and ask the handle: the
 * header and chunk table are checked and indexed once, so spans, lookups
 * and decodes cost nothing per call beyond their own chunk.
 */

/* An encoded blob parsed once: header and chunk table checked and
 * indexed in O(chunks).  It borrows enc, which must outlive it. */
struct codec_blob;

/* Check the header and the whole chunk table of enc[0..enc_len) and give a
 * handle in *out (owned by the caller, freed with codec_blob_close; *out is
 * NULL on failure).  Returns CODEC_OK, CODEC_ERR_CORRUPT (anything in the
 * header or table is wrong; chunk data is checked only when decoded),
 * CODEC_ERR_NOMEM, or CODEC_ERR_ARG (out NULL). */
int codec_blob_open(const uint8_t *enc, size_t enc_len, struct codec_blob **out);
void codec_blob_close(struct codec_blob *b);      /* NULL is fine */

/* Raw (decoded) length and chunk count of an open blob. */
uint64_t codec_blob_raw_len(const struct codec_blob *b);
uint32_t codec_blob_chunks(const struct codec_blob *b);

/* Chunk i (< codec_blob_chunks) covers raw [*raw_off, *raw_off + *raw_len).
 * Chunks tile the raw bytes in order.  Either pointer may be NULL. */
void codec_blob_chunk_span(const struct codec_blob *b, uint32_t i,
			   uint64_t *raw_off, uint32_t *raw_len);

/* The chunk holding raw byte off (< raw_len); O(1) when all chunks but the
 * last have one size (the usual case), O(log chunks) otherwise.  A blob
 * without chunks gives 0. */
uint32_t codec_blob_chunk_at(const struct codec_blob *b, uint64_t off);

/* Decode chunk i into dst (room for its raw_len bytes; any alignment).
 * Returns CODEC_OK, CODEC_ERR_CORRUPT (the chunk does not decode or its
 * hash does not match), CODEC_ERR_RANGE (i too large), CODEC_ERR_NOMEM
 * (scratch in ctx), CODEC_ERR_ARG.  ctx is used by one thread at a time;
 * one blob may be decoded by many threads, each with its own ctx. */
int codec_blob_decode_chunk(struct codec_ctx *ctx, const struct codec_blob *b,
			    uint32_t i, void *dst);

/* Decode raw [off, off+n) (clipped at raw_len) into dst, touching only the
 * chunks that overlap.  Returns the bytes written (>= 0) or a negative
 * codec_status (CODEC_ERR_RANGE when off > raw_len). */
int64_t codec_blob_decode_range(struct codec_ctx *ctx, const struct codec_blob *b,
				uint64_t off, void *dst, size_t n);

/* Method used for most raw bytes ("gradient", "up", "gradient-rgb",
 * "up-rgb", "zstd", "stored"), for stats and tests.  A static string. */
const char *codec_blob_method(const struct codec_blob *b);

/*
 * One-shot calls on an encoded buffer, for callers that look once.  Each
 * checks the header and whole table again (O(chunks) per call): readers that
 * visit chunks one by one use a codec_blob instead.
 */

/* Check the header and chunk table and give the raw length and chunk count
 * (either pointer may be NULL).  CODEC_OK or CODEC_ERR_CORRUPT. */
int codec_info(const uint8_t *enc, size_t enc_len, uint64_t *raw_len,
	       uint32_t *nchunks);

/* As codec_blob_decode_range on a blob opened for this call only. */
int64_t codec_decode_range(struct codec_ctx *ctx, const uint8_t *enc,
			   size_t enc_len, uint64_t off, void *dst, size_t n);

/* As codec_blob_method; "corrupt" when the header or table is bad. */
const char *codec_method_name(const uint8_t *enc, size_t enc_len);

/* Deprecated, O(chunks) per call: kept until index/store.c and fs/reader.c
 * use struct codec_blob.  Span of chunk i (CODEC_ERR_RANGE when i is too
 * large) and decode of chunk i, as the codec_blob_ calls. */
int codec_chunk_span(const uint8_t *enc, size_t enc_len, uint32_t i,
		     uint64_t *raw_off, uint32_t *raw_len);
int codec_decode_chunk(struct codec_ctx *ctx, const uint8_t *enc,
		       size_t enc_len, uint32_t i, void *dst);

/* A short English message for a codec_status (static string). */
const char *codec_strerror(int status);

#endif
