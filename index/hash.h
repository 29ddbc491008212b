/*
 * hash.h - content keys: XXH3-128 of raw bytes.
 *
 * A key only finds candidates; callers confirm a match by comparing bytes
 * before sharing data.  Tests replace hash_fn to force collisions.
 */
#ifndef DCMFS_HASH_H
#define DCMFS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_LEN 16

typedef void (*hash_fn_t)(const void *data, size_t len, uint8_t out[HASH_LEN]);

/* The content hash in use; XXH3-128 unless a unit test swapped it. */
extern hash_fn_t hash_fn;

/* XXH3-128 of data[0..len) in its canonical (big-endian) byte order, the
 * form stored in records, rows and blob file names.  Cannot fail. */
void hash_xxh3_128(const void *data, size_t len, uint8_t out[HASH_LEN]);

/* The content key of data[0..len) by hash_fn.  Cannot fail. */
static inline void hash_bytes(const void *data, size_t len, uint8_t out[HASH_LEN])
{
	hash_fn(data, len, out);
}

/* XXH3-128 of bytes given piece by piece (a file too large to hold):
 * the same key hash_xxh3_128 gives for the bytes joined.  new returns NULL
 * when out of memory; end writes the key and frees the stream. */
struct hash_stream;
struct hash_stream *hash_stream_new(void);
void hash_stream_add(struct hash_stream *hs, const void *data, size_t len);
void hash_stream_end(struct hash_stream *hs, uint8_t out[HASH_LEN]);

/* 64-bit checksum (XXH3-64) for envelopes (pack entries, blob file
 * headers) and short names (escape.h).  Cannot fail. */
uint64_t checksum64(const void *data, size_t len);
/* The same with a seed (pack entries v2 bind their checksum to their offset). */
uint64_t checksum64_seed(const void *data, size_t len, uint64_t seed);

/* h as 2*HASH_LEN lowercase hex digits and a NUL into out (2*HASH_LEN+1
 * bytes).  Cannot fail. */
void hash_hex(const uint8_t h[HASH_LEN], char *out);
/* The hash written by hash_hex: exactly 2*HASH_LEN lowercase hex digits,
 * then the end of the string.  0, or -1 (h then partly written). */
int hash_from_hex(const char *hex, uint8_t h[HASH_LEN]);

#endif
