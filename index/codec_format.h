/*
 * codec_format.h - the encoded blob format ("DCZB", version 1), byte by byte.
 *
 * Private to the codec (codec*.c); callers use codec.h.  FORMAT.md gives the
 * same format for readers outside C.  All integers are little endian.
 *
 * Header, 48 bytes
 *   0  4  magic "DCZB"
 *   4  1  version, 1
 *   5  1  kind: 0 opaque bytes, 1 native pixels (the layout below is valid)
 *   6  2  0
 *   8  8  raw length
 *   16 4  chunk count c
 *   20 4  bytes per sample b (1 or 2)     24 4  samples per pixel (1..4)
 *   28 4  planar (0 or 1)                  32 4  columns
 *   36 4  rows per frame                   40 4  frames
 *                                          (the six layout fields are 0 for
 *                                           kind 0)
 *   44 4  0
 * Chunk table, c entries of 32 bytes (entry i at 48 + 32 i)
 *   0  8  raw offset: the chunks tile [0, raw length) in order
 *   8  8  encoded offset, from the start of the chunk data, in order, no gaps
 *   16 4  raw size, 1 .. CHUNK_MAX
 *   20 4  encoded size
 *   24 1  method (enum chunk_method)
 *   25 3  0
 *   28 4  low 32 bits of XXH3-64 of the chunk's raw bytes
 * Checksum, 8 bytes at 48 + 32 c: XXH3-64 of the header and the table
 * Chunk data from 56 + 32 c: the chunks' payloads, in table order
 *
 * Pixel geometry (kind 1).  An image is one frame (planar 0) or one colour
 * plane of a frame (planar 1).  A row has w samples: columns * samples per
 * pixel for planar 0, where a sample's left neighbour is `step` = samples
 * per pixel back; columns for planar 1 (step 1).  A chunk holds whole rows:
 * several whole images, or a band of rows of one image.  Inside a chunk,
 * a band is the run of rows up to the chunk's end or the image's end,
 * whichever comes first, and prediction restarts at every band's first row,
 * so every chunk decodes on its own.
 *
 * Residuals (methods 2..7).  Arithmetic is modulo 2^(8b) on the stored
 * words, so any bit pattern round-trips.  With c[x] the sample, u[x] the
 * one above and left = c[x - step]: the first row of a band predicts left
 * (0 for x < step); other rows predict u[x] (up), or u[x] for x < step and
 * left + u[x] - u[x - step] otherwise (gradient).  The residual c - pred is
 * zigzag-mapped (0, -1, 1, -2 ... to 0, 1, 2, 3 ...).
 *
 * Chunk payload by method
 *   0 stored    the raw bytes; encoded size = raw size
 *   1 zstd      one zstd frame of the raw bytes
 *   2 gradient  one zstd frame of the residual planes: for N = raw size / b
 *   3 up        samples in raw order, the low bytes of the N zigzag
 *               residuals, then (b = 2) their high bytes
 *   4 gradient, context-split   (what the encoder writes; it would write
 *   5 up, context-split          2 or 3 only for chunks of more samples
 *                                than CHUNK_MAX allows, so 2 and 3 are
 *                                read, and no longer written)
 *               a stream table of NSTREAM entries { u32 count, u32 zstd
 *               size }: token streams 0..NCTX-1 (count in tokens), then the
 *               escape stream (count in u16 values); then the zstd frames of
 *               the streams with a non-zero count, in order (count 0: no
 *               frame, size 0).  Counts of the token streams sum to N, the
 *               sizes to the payload length - STREAM_TABLE_SIZE.
 *               Every sample's zigzag residual goes, in raw order, to the
 *               token stream of its context (codec_model.h: 0 on a band's
 *               first row, else from the activity of the two rows above).
 *               For b = 1 the token is the residual and the escape count 0;
 *               for b = 2 a residual below ESC is its own token, any other
 *               is the token ESC and its u16 value goes to the escape stream.
 *   6 gradient, colour-differenced, context-split
 *   7 up, colour-differenced, context-split
 *               only when samples per pixel is 3 and planar is 0: each
 *               pixel (s0, s1, s2) of the chunk is first replaced by
 *               (s0 - s1, s1, s2 - s1) modulo 2^(8b) (for RGB: R - G, G,
 *               B - G), then coded as method 4 (6) or 5 (7) on those
 *               samples.  The decoder undoes the difference after the
 *               whole chunk is rebuilt (contexts come from the differenced
 *               rows).  Written since the colour methods were added;
 *               blobs without them are unchanged, and version stays 1.
 * Methods 2..7 occur only in kind 1 blobs.  Opaque blobs (kind 0) are cut
 * into chunks of CHUNK_TARGET bytes (the last shorter), each 0 or 1
 * (1 only where zstd saves at least 3%: codec_encode.c).
 */
#ifndef DCMFS_CODEC_FORMAT_H
#define DCMFS_CODEC_FORMAT_H

#include <stdint.h>

#define CODEC_MAGIC "DCZB"
#define CODEC_VERSION 1u
#define KIND_OPAQUE 0u
#define KIND_PIXEL 1u

#define HDR_SIZE 48u
#define HDR_RAW_LEN 8u
#define HDR_NCHUNKS 16u
#define HDR_LAYOUT 20u          /* six u32: bps, spp, planar, cols, rows, frames */

#define ENT_SIZE 32u
#define ENT_RAW_OFF 0u
#define ENT_ENC_OFF 8u
#define ENT_RAW_SIZE 16u
#define ENT_ENC_SIZE 20u
#define ENT_METHOD 24u
#define ENT_HASH 28u

#define SUM_SIZE 8u

/* Raw bytes per chunk the encoder aims for.  zstd blocks are 128 KiB, so
 * 256 KiB gives each plane of a 16-bit chunk its own block and table. */
#define CHUNK_TARGET (256u * 1024u)
/* Chunks never exceed this, whatever the row size (a row is never split). */
#define CHUNK_MAX (4u * 1024u * 1024u)

enum chunk_method {
	M_STORED = 0,
	M_ZSTD = 1,
	M_GRADIENT = 2,         /* plane form */
	M_UP = 3,
	M_GRADIENT_CTX = 4,     /* context-split form */
	M_UP_CTX = 5,
	M_GRADIENT_CTX_CD = 6,  /* context-split form of colour differences */
	M_UP_CTX_CD = 7,
	M_COUNT
};

/* Context-split form: NCTX token streams and one escape stream. */
#define NCTX 10
#define NSTREAM (NCTX + 1)
#define STREAM_TABLE_SIZE (NSTREAM * 8u)
#define ESC 255

/* One chunk table entry, decoded. */
struct chunk_entry {
	uint64_t raw_off, enc_off;
	uint32_t raw_size, enc_size;
	uint32_t method, hash;
};

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

#endif
