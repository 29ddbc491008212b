/*
 * codec_huff.h - an experimental chunk coder, not a stored method: gradient
 * prediction corrected by a per-chunk bias per context, residuals as a
 * Huffman-coded (bit length, next bit) symbol per activity class plus raw
 * bits, in four interleaved bit streams.
 *
 * Private to the codec.  No blob contains it: codec_encode() never writes
 * it and codec_format.h has no method number for it.  It is built and
 * measured by dcmfs-codecbench -R ("ref bias-huff", on the codec's own
 * chunks) so the next session can start from numbers: on the corpus series
 * it beats today's ratio (and JPEG-LS's on CT GE) but decodes at about half
 * today's speed (BENCHMARKS.md, codec).  Making it a method means a method
 * number, FORMAT.md and dcmfs-extract.py; its payload is fixed here.
 *
 * Model.  Every context the decoder needs comes from the rows above, so a
 * row's contexts are known before the row is decoded, the four streams (a
 * quarter of every row each) are independent dependency chains, and the
 * rebuild stays a running sum (the gradient of codec_format.h, restarting
 * at every band).  For a sample with b above, c above left, d above right
 * and bb above b (b for a neighbour outside the row; bb = b on a band's
 * second row), q1 = Q(d - b), q2 = Q(b - c), q3 = Q(bb - b), differences
 * modulo 2^(8 bytes) read as signed, Q(x) = sign(x) * ((x != 0) + (|x| >=
 * T1) + (|x| >= T2) + (|x| >= T3)).  The first non-zero q negative: all
 * three negated, sign -1.  Bias context (q1 * 9 + q2 + 4) * 9 + q3 + 4 - 40
 * (0..364); 365 on a band's first row (sign +1).  With r = sample -
 * prediction, the coded value is z = zigzag(sign * r - bias), all modulo
 * 2^(8 bytes).  Its class is the activity context of codec_model.h (0..9),
 * 10 on a band's first row.  Symbol of z: 0 and 1 themselves; else, with k
 * its bit length, 2k - 2 + (bit k-2 of z), and the k - 2 bits below follow
 * raw (least significant first).
 *
 * Payload (all integers little endian)
 *   0   3 x u16  T1, T2, T3; then u16 0
 *   8   4 x { u32 flat frame size, u32 bit stream size }
 *   40  46 bytes: bit q set when context q (0..365) has a non-zero bias
 *   86  10 x 16 bytes: code lengths (0..11; 0 = unused) of the 32 symbols
 *       of classes 1..10, two per byte, the even symbol in the low nibble
 *   246 the non-zero biases in context order, each zigzagged and LEB128
 *   then the four flat frames (size 0: none), then the four bit streams.
 * Stream s holds, row after row, samples x of [s w / 4, (s + 1) w / 4):
 * for class 0 (flat) samples their symbol is the next byte of flat frame s
 * (a zstd frame) and only their raw bits are in the bit stream; for the
 * others the canonical Huffman code of the symbol (codes assigned by
 * length, then symbol; written least significant bit first, so reversed)
 * and then the raw bits.
 */
#ifndef DCMFS_CODEC_HUFF_H
#define DCMFS_CODEC_HUFF_H

#include "codec_internal.h"

/* Encoder: the payload of the chunk pix[0..raw_size) (whole rows) at raw
 * offset raw_off of a blob of geometry g (16-bit samples aligned).  *out
 * points into ctx's scratch (valid until the next call).  0, or -1 when out
 * of memory. */
int codec_huff_encode(struct codec_ctx *ctx, const struct pixel_geom *g,
		      const uint8_t *pix, uint64_t raw_off, size_t raw_size,
		      const uint8_t **out, size_t *out_len);

/* Decoder: rebuild the chunk into pix (aligned for 16-bit samples) from
 * the payload src[0..len).  CODEC_OK, CODEC_ERR_CORRUPT (never reads
 * outside src or writes outside pix; a damaged payload may also decode to
 * wrong pixels, which a caller catches with its own hash), or
 * CODEC_ERR_NOMEM. */
int codec_huff_decode(struct codec_ctx *ctx, const struct pixel_geom *g,
		      const uint8_t *src, size_t len, uint64_t raw_off,
		      size_t raw_size, uint8_t *pix);

#endif
