/*
 * instance.c - reading a stored instance (instance.h).
 *
 * Invariants of an open instance:
 *  1. The segments tile the file: segment i covers [base, base + raw_size)
 *     with base the sum of the sizes before it.
 *  2. Chunks are numbered across the file: segment i's chunk c is chunk
 *     first + c, and first is the sum of the chunk counts before it.
 *  3. A segment's blob is parsed once, at open (codec_blob_open: O(chunks)),
 *     and its raw length equals the size its blob header and row give.
 * Nothing changes after instance_open but a counter of decoded bytes
 * (atomic), so readers need no lock.
 */
#include "instance.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

struct segment {
	struct blob_ref ref;
	struct blob_view view;  /* the encoded bytes */
	uint64_t base;          /* file offset of the segment's first byte */
	uint32_t first;         /* number of its first chunk in the file */
	uint32_t nchunks;
	struct codec_blob *blob; /* parsed view.enc */
};

struct instance {
	struct store *store;    /* for naming the files of damaged chunks */
	int64_t id;
	uint64_t size;
	uint32_t nchunks;
	int nseg;
	struct segment *seg;    /* up to RECORD_MAX_SEGMENTS: sized at open */
	atomic_uint_fast64_t decoded;   /* raw bytes decoded, for TRIM_EVERY */
};

/* A huge blob is mapped, and every page a decode touches would stay
 * resident: after this many decoded bytes the mappings are trimmed. */
#define TRIM_EVERY (32u << 20)

void instance_close(struct instance *in)
{
	if (!in)
		return;
	for (int i = 0; i < in->nseg; i++) {
		codec_blob_close(in->seg[i].blob);
		blob_view_release(&in->seg[i].view);
	}
	free(in->seg);
	free(in);
}

/* Parse a segment's blob (invariant 3).  0, -EBADMSG, -ENOMEM. */
static int segment_parse(struct segment *sg)
{
	int rc = codec_blob_open(sg->view.enc, sg->view.enc_size, &sg->blob);
	if (rc)
		return rc == CODEC_ERR_NOMEM ? -ENOMEM : -EBADMSG;
	if (codec_blob_raw_len(sg->blob) != sg->ref.raw_size)
		return -EBADMSG;
	sg->nchunks = codec_blob_chunks(sg->blob);
	return 0;
}

/* Where a blob's bytes are: the pack and its entry, or the blob file. */
static void blob_where(struct store *s, const struct blob_ref *b, char *out, size_t len)
{
	if (!b->pack) {
		blob_file_path(store_dir(s), b->hash, b->ordinal, out, len);
		return;
	}
	char name[256];
	unsigned long long entry = b->offset - BLOB_HEADER_BYTES - PACK_ENTRY_HEADER;
	if (store_pack_name(s, b->pack, name, sizeof(name)) == 0)
		snprintf(out, len, "%s/packs/%s, entry at byte %llu", store_dir(s), name, entry);
	else
		snprintf(out, len, "pack #%lld in %s/packs, entry at byte %llu", (long long)b->pack,
			 store_dir(s), entry);
}

int instance_open(struct store *s, struct catalog *cat, int64_t id,
		  struct instance **out, char *why, size_t whylen)
{
	struct instance *in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->store = s;
	in->id = id;
	/* Most files have 1 to 3 segments; a large one stored in pieces more. */
	struct blob_ref small[4], *refs = small;
	int n = catalog_segments(cat, id, refs, 4);
	if (n == 4) {   /* perhaps more: ask again for all */
		if (!(refs = malloc(RECORD_MAX_SEGMENTS * sizeof(*refs)))) {
			free(in);
			return -ENOMEM;
		}
		n = catalog_segments(cat, id, refs, RECORD_MAX_SEGMENTS);
	}
	if (n <= 0 || !(in->seg = calloc((size_t)n, sizeof(*in->seg)))) {
		if (refs != small)
			free(refs);
		free(in);
		return n < 0 ? n : n ? -ENOMEM : -ENOENT;
	}
	int r = 0;
	for (int i = 0; i < n && !r; i++) {
		struct segment *sg = &in->seg[i];
		sg->ref = refs[i];
		sg->base = in->size;
		sg->first = in->nchunks;
		const char *what = NULL;
		char where[4400], state[128];
		r = store_blob_view(s, &refs[i], &sg->view);
		if (r < 0) {
			snprintf(state, sizeof(state), "%s (%s)",
				 r == -EBADMSG ? "is damaged" : "cannot be read", strerror(-r));
			what = state;
			if (r != -EBADMSG && r != -ENOMEM)
				r = -EIO;   /* missing data is an I/O error to a reader */
		} else {
			in->nseg = i + 1;
			in->size += refs[i].raw_size;
			if ((r = segment_parse(sg)) == -EBADMSG) {
				snprintf(state, sizeof(state), "has a damaged chunk table");
				what = state;
			}
			in->nchunks += sg->nchunks;
		}
		if (what && why) {
			blob_where(s, &refs[i], where, sizeof(where));
			snprintf(why, whylen, "segment %d %s: %s", i, what, where);
		}
	}
	if (refs != small)
		free(refs);
	if (r) {
		instance_close(in);
		return r;
	}
	*out = in;
	return 0;
}

int64_t instance_id(const struct instance *in) { return in->id; }
uint64_t instance_size(const struct instance *in) { return in->size; }
uint32_t instance_chunks(const struct instance *in) { return in->nchunks; }

/* The segment holding chunk k. */
static const struct segment *segment_of_chunk(const struct instance *in, uint32_t k)
{
	int i = in->nseg - 1;
	/* An empty segment has the first of the next: the next wins. */
	while (i > 0 && in->seg[i].first > k)
		i--;
	return &in->seg[i];
}

uint32_t instance_chunk_at(const struct instance *in, uint64_t off)
{
	int i = in->nseg - 1;
	while (i > 0 && (in->seg[i].base > off || in->seg[i].nchunks == 0))
		i--;
	const struct segment *sg = &in->seg[i];
	return sg->first + codec_blob_chunk_at(sg->blob, off - sg->base);
}

void instance_chunk_span(const struct instance *in, uint32_t k, uint64_t *off,
			 uint32_t *len)
{
	const struct segment *sg = segment_of_chunk(in, k);
	uint64_t raw_off;
	codec_blob_chunk_span(sg->blob, k - sg->first, &raw_off, len);
	*off = sg->base + raw_off;
}

/* Count len more bytes decoded; trim the mappings every TRIM_EVERY. */
static void count_decoded(const struct instance *in, uint64_t len)
{
	struct instance *w = (struct instance *)in;     /* the counter only */
	uint64_t before = atomic_fetch_add(&w->decoded, len);
	if (before / TRIM_EVERY != (before + len) / TRIM_EVERY)
		for (int i = 0; i < in->nseg; i++)
			blob_view_trim(&in->seg[i].view);
}

int instance_decode_chunk(const struct instance *in, struct codec_ctx *ctx,
			  uint32_t k, void *dst)
{
	const struct segment *sg = segment_of_chunk(in, k);
	int rc = codec_blob_decode_chunk(ctx, sg->blob, k - sg->first, dst);
	if (rc)
		return rc == CODEC_ERR_NOMEM ? -ENOMEM : -EIO;
	uint32_t len;
	codec_blob_chunk_span(sg->blob, k - sg->first, NULL, &len);
	count_decoded(in, len);
	return 0;
}

int64_t instance_read(const struct instance *in, struct codec_ctx *ctx,
		      uint64_t off, void *buf, size_t n)
{
	if (off >= in->size)
		return 0;
	if (n > in->size - off)
		n = (size_t)(in->size - off);
	uint8_t *dst = buf;
	size_t done = 0;
	for (int i = 0; i < in->nseg && done < n; i++) {
		const struct segment *sg = &in->seg[i];
		uint64_t len = sg->ref.raw_size;
		if (off + done >= sg->base + len)
			continue;
		uint64_t o = off + done - sg->base;
		size_t want = n - done;
		if (want > len - o)
			want = (size_t)(len - o);
		int64_t got = codec_blob_decode_range(ctx, sg->blob, o, dst + done, want);
		if (got != (int64_t)want)
			return got == CODEC_ERR_NOMEM ? -ENOMEM : -EIO;
		done += want;
		count_decoded(in, want);
	}
	return (int64_t)done;
}

void instance_chunk_where(const struct instance *in, uint32_t k, char *out, size_t len)
{
	blob_where(in->store, &segment_of_chunk(in, k)->ref, out, len);
}
