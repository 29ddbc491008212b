/*
 * rng.c - the random stream and the UIDs of dcmfs-gencorpus (gencorpus.h).
 */
#include "gencorpus.h"

#include <stdio.h>

uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

uint64_t rng_mix(uint64_t a, uint64_t b)
{
	struct rng r = { a ^ (b * 0xD6E8FEB86659FD93ULL) };
	rng_next(&r);
	return rng_next(&r);
}

int rng_range(struct rng *r, int lo, int hi)
{
	return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

double rng_unit(struct rng *r)
{
	/* the top 53 bits, as a double in [0, 1) */
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

void uid_make(struct rng *r, char *out, size_t outlen)
{
	uint64_t hi = rng_next(r), lo = rng_next(r);
	hi = (hi & ~0xF000ULL) | 0x4000ULL;                    /* version 4 */
	lo = (lo & ~(3ULL << 62)) | (2ULL << 62);              /* variant 10 */
	/* 128-bit to decimal: repeated division by 10 on 32-bit limbs */
	uint32_t limb[4] = { (uint32_t)(hi >> 32), (uint32_t)hi, (uint32_t)(lo >> 32), (uint32_t)lo };
	char digits[48];
	int n = 0;
	for (;;) {
		uint64_t rem = 0;
		int zero = 1;
		for (int i = 0; i < 4; i++) {
			uint64_t cur = rem << 32 | limb[i];
			limb[i] = (uint32_t)(cur / 10);
			rem = cur % 10;
			if (limb[i])
				zero = 0;
		}
		digits[n++] = (char)('0' + rem);
		if (zero)
			break;
	}
	char *p = out;
	size_t left = outlen;
	int w = snprintf(p, left, "2.25.");
	p += w;
	left -= (size_t)w;
	while (n > 0 && left > 1) {
		*p++ = digits[--n];
		left--;
	}
	*p = 0;
}
