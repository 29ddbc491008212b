/* hash.c - XXH3-128 content keys and XXH3-64 envelope checksums. */
#include "hash.h"

#include <string.h>
#include <xxhash.h>

void hash_xxh3_128(const void *data, size_t len, uint8_t out[HASH_LEN])
{
	XXH128_hash_t h = XXH3_128bits(data, len);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	memcpy(out, c.digest, HASH_LEN);
}

hash_fn_t hash_fn = hash_xxh3_128;

struct hash_stream *hash_stream_new(void)
{
	XXH3_state_t *st = XXH3_createState();
	if (st)
		XXH3_128bits_reset(st);
	return (struct hash_stream *)st;
}

void hash_stream_add(struct hash_stream *hs, const void *data, size_t len)
{
	XXH3_128bits_update((XXH3_state_t *)hs, data, len);
}

void hash_stream_end(struct hash_stream *hs, uint8_t out[HASH_LEN])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest((XXH3_state_t *)hs));
	memcpy(out, c.digest, HASH_LEN);
	XXH3_freeState((XXH3_state_t *)hs);
}

uint64_t checksum64(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

uint64_t checksum64_seed(const void *data, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(data, len, seed);
}

void hash_hex(const uint8_t h[HASH_LEN], char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < HASH_LEN; i++) {
		out[2 * i] = digits[h[i] >> 4];
		out[2 * i + 1] = digits[h[i] & 15];
	}
	out[2 * HASH_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int hash_from_hex(const char *hex, uint8_t h[HASH_LEN])
{
	for (int i = 0; i < HASH_LEN; i++) {
		int a = hexval(hex[2 * i]), b = a < 0 ? -1 : hexval(hex[2 * i + 1]);
		if (a < 0 || b < 0)
			return -1;
		h[i] = (uint8_t)(a << 4 | b);
	}
	return hex[2 * HASH_LEN] == '\0' ? 0 : -1;
}
