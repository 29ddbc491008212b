/*
 * test_instance.c - the instance reader (index/instance.h): stored files
 * read back whole, in random ranges and chunk by chunk equal to the bytes
 * imported; reads at and past the end; a damaged blob is an error, never
 * other bytes.  The inputs are small DICOM files the test writes itself,
 * so it needs no corpus.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "ingest.h"
#include "instance.h"
#include "store.h"

/* ---- writing a DICOM file (explicit VR little endian) ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put16(struct buf *b, uint16_t v) { put(b, &v, 2); }
static void put32(struct buf *b, uint32_t v) { put(b, &v, 4); }

/* An element with a short (16-bit) length; text padded to even length. */
static void element(struct buf *b, uint16_t group, uint16_t elem, const char vr[2],
		    const void *value, size_t len, char pad)
{
	put16(b, group);
	put16(b, elem);
	put(b, vr, 2);
	put16(b, (uint16_t)(len + (len & 1)));
	put(b, value, len);
	if (len & 1)
		put(b, &pad, 1);
}

static void text(struct buf *b, uint16_t group, uint16_t elem, const char vr[2], const char *s)
{
	element(b, group, elem, vr, s, strlen(s), vr[0] == 'U' && vr[1] == 'I' ? '\0' : ' ');
}

static void us_element(struct buf *b, uint16_t group, uint16_t elem, uint16_t v)
{
	element(b, group, elem, "US", &v, 2, 0);
}

/* An element with a 32-bit length (OB, OW). */
static void long_element(struct buf *b, uint16_t group, uint16_t elem, const char vr[2],
			 const void *value, uint32_t len)
{
	put16(b, group);
	put16(b, elem);
	put(b, vr, 2);
	put16(b, 0);
	put32(b, len);
	put(b, value, len);
}

/* A grey 16-bit image of frames frames of rows x cols, smooth with some
 * noise, and a trailing element after the pixel data, so that the file
 * has all three segments.  Returns the file's bytes (the caller frees). */
static uint8_t *make_dicom(int n, uint16_t rows, uint16_t cols, int frames, size_t *len)
{
	char sop[64], frames_s[16], number[16];
	snprintf(sop, sizeof(sop), "1.2.826.0.1.3680043.10.999.%d", n);
	snprintf(frames_s, sizeof(frames_s), "%d", frames);
	snprintf(number, sizeof(number), "%d", n);
	const char *ct = "1.2.840.10008.5.1.4.1.1.2";

	struct buf meta = { 0 };
	text(&meta, 0x0002, 0x0002, "UI", ct);
	text(&meta, 0x0002, 0x0003, "UI", sop);
	text(&meta, 0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1");

	struct buf b = { 0 };
	uint8_t preamble[128] = { 0 };
	put(&b, preamble, sizeof(preamble));
	put(&b, "DICM", 4);
	uint32_t meta_len = (uint32_t)meta.len;
	element(&b, 0x0002, 0x0000, "UL", &meta_len, 4, 0);
	put(&b, meta.p, meta.len);
	free(meta.p);
	text(&b, 0x0008, 0x0016, "UI", ct);
	text(&b, 0x0008, 0x0018, "UI", sop);
	text(&b, 0x0008, 0x0060, "CS", "CT");
	text(&b, 0x0010, 0x0010, "PN", "Reader^Test");
	text(&b, 0x0010, 0x0020, "LO", "READER");
	text(&b, 0x0020, 0x000d, "UI", "1.2.826.0.1.3680043.10.999.1000");
	text(&b, 0x0020, 0x000e, "UI", "1.2.826.0.1.3680043.10.999.1001");
	text(&b, 0x0020, 0x0013, "IS", number);
	us_element(&b, 0x0028, 0x0002, 1);
	text(&b, 0x0028, 0x0004, "CS", "MONOCHROME2");
	text(&b, 0x0028, 0x0008, "IS", frames_s);
	us_element(&b, 0x0028, 0x0010, rows);
	us_element(&b, 0x0028, 0x0011, cols);
	us_element(&b, 0x0028, 0x0100, 16);
	us_element(&b, 0x0028, 0x0101, 12);
	us_element(&b, 0x0028, 0x0102, 11);
	us_element(&b, 0x0028, 0x0103, 0);
	uint32_t npix = (uint32_t)rows * cols * (uint32_t)frames;
	uint16_t *pix = malloc(npix * 2u);
	assert_non_null(pix);
	unsigned x = 12345u + (unsigned)n;
	for (uint32_t i = 0; i < npix; i++) {
		x = x * 1103515245u + 12345u;
		uint32_t col = i % cols, row = i / cols % rows;
		pix[i] = (uint16_t)((col * 7 + row * 3 + (x >> 24 & 15)) & 0xfff);
	}
	long_element(&b, 0x7fe0, 0x0010, "OW", pix, npix * 2u);
	free(pix);
	uint8_t padding[6] = { 0 };
	long_element(&b, 0xfffc, 0xfffc, "OB", padding, sizeof(padding));
	*len = b.len;
	return b.p;
}

/* ---- a store holding the files ---- */

#define NFILES 3

struct fixture {
	char dir[64];
	char store_dir[128];
	struct store *s;
	struct codec_ctx *ctx;
	uint8_t *want[NFILES];
	size_t len[NFILES];
	int64_t id[NFILES];
};

static const struct { uint16_t rows, cols; int frames; } shapes[NFILES] = {
	{ 64, 64, 1 },          /* small: its pixels live in a pack */
	{ 256, 256, 4 },        /* a few chunks, in a blob file */
	{ 128, 128, 300 },      /* many chunks */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/dcmfs-instance-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->dir);
	char err[512], path[200];
	assert_int_equal(store_init(f->store_dir, err, sizeof(err)), 0);
	assert_int_equal(store_open(f->store_dir, 0, &f->s, err, sizeof(err)), 0);
	struct ingest *ing;
	assert_int_equal(ingest_begin(f->s, 1, NULL, NULL, &ing, err, sizeof(err)), 0);
	for (int i = 0; i < NFILES; i++) {
		f->want[i] = make_dicom(i + 1, shapes[i].rows, shapes[i].cols, shapes[i].frames,
					&f->len[i]);
		snprintf(path, sizeof(path), "%s/in%d.dcm", f->dir, i);
		FILE *fp = fopen(path, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(f->want[i], 1, f->len[i], fp), f->len[i]);
		assert_int_equal(fclose(fp), 0);
		assert_int_equal(ingest_add(ing, path), 0);
	}
	struct ingest_totals t;
	assert_int_equal(ingest_end(ing, &t), 0);
	assert_int_equal(t.n_new, NFILES);
	for (int i = 0; i < NFILES; i++) {
		char sop[64];
		snprintf(sop, sizeof(sop), "1.2.826.0.1.3680043.10.999.%d", i + 1);
		struct cat_version *v;
		assert_int_equal(catalog_versions(store_main_catalog(f->s), sop, &v), 1);
		f->id[i] = v[0].instance_id;
		free(v);
	}
	assert_non_null(f->ctx = codec_ctx_new());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	codec_ctx_free(f->ctx);
	store_close(f->s);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	for (int i = 0; i < NFILES; i++)
		free(f->want[i]);
	free(f);
	return 0;
}

static struct instance *open_ok(struct fixture *f, int i)
{
	struct instance *in;
	char why[512] = "";
	assert_int_equal(instance_open(f->s, store_main_catalog(f->s), f->id[i], &in, why,
				       sizeof(why)), 0);
	assert_int_equal(instance_id(in), f->id[i]);
	return in;
}

/* ---- tests ---- */

static void test_whole_files(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < NFILES; i++) {
		struct instance *in = open_ok(f, i);
		assert_int_equal(instance_size(in), f->len[i]);
		uint8_t *got = malloc(f->len[i]);
		assert_int_equal(instance_read(in, f->ctx, 0, got, f->len[i]), (int64_t)f->len[i]);
		assert_memory_equal(got, f->want[i], f->len[i]);
		free(got);
		instance_close(in);
	}
}

static void test_chunks_tile_the_file(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < NFILES; i++) {
		struct instance *in = open_ok(f, i);
		uint32_t n = instance_chunks(in);
		/* header, trailer, and pixels in one chunk or more */
		assert_true(n >= 3);
		if (i == 2)
			print_message("file %d: %u chunks\n", i, n);
		uint64_t expect = 0;
		uint8_t *chunk = NULL;
		for (uint32_t k = 0; k < n; k++) {
			uint64_t off;
			uint32_t len;
			instance_chunk_span(in, k, &off, &len);
			assert_int_equal(off, expect);
			assert_true(len > 0);
			assert_int_equal(instance_chunk_at(in, off), k);
			assert_int_equal(instance_chunk_at(in, off + len - 1), k);
			chunk = realloc(chunk, len);
			assert_int_equal(instance_decode_chunk(in, f->ctx, k, chunk), 0);
			assert_memory_equal(chunk, f->want[i] + off, len);
			expect = off + len;
		}
		assert_int_equal(expect, f->len[i]);
		free(chunk);
		instance_close(in);
	}
}

static void test_random_ranges(void **state)
{
	struct fixture *f = *state;
	unsigned x = 42;
	for (int i = 0; i < NFILES; i++) {
		struct instance *in = open_ok(f, i);
		size_t size = f->len[i];
		uint8_t *got = malloc(size);
		for (int k = 0; k < 300; k++) {
			x = x * 1103515245u + 12345u;
			uint64_t off = (x >> 4) % size;
			x = x * 1103515245u + 12345u;
			/* Mostly short reads, some across many chunks. */
			size_t n = k % 10 == 0 ? (x >> 4) % size : (x >> 4) % 9000;
			size_t expect = n < size - off ? n : size - off;
			assert_int_equal(instance_read(in, f->ctx, off, got, n), (int64_t)expect);
			assert_memory_equal(got, f->want[i] + off, expect);
		}
		free(got);
		instance_close(in);
	}
}

static void test_reads_at_and_past_the_end(void **state)
{
	struct fixture *f = *state;
	struct instance *in = open_ok(f, 1);
	uint64_t size = instance_size(in);
	uint8_t got[100];
	assert_int_equal(instance_read(in, f->ctx, size, got, sizeof(got)), 0);
	assert_int_equal(instance_read(in, f->ctx, size + 1, got, sizeof(got)), 0);
	assert_int_equal(instance_read(in, f->ctx, UINT64_MAX, got, sizeof(got)), 0);
	assert_int_equal(instance_read(in, f->ctx, size - 10, got, sizeof(got)), 10);
	assert_memory_equal(got, f->want[1] + size - 10, 10);
	assert_int_equal(instance_read(in, f->ctx, 0, got, 0), 0);
	instance_close(in);
	/* An id that is not an instance. */
	struct instance *none = NULL;
	assert_int_equal(instance_open(f->s, store_main_catalog(f->s), 987654321, &none, NULL, 0),
			 -ENOENT);
	assert_null(none);
}

/* The pixel blob of file 1 lives in a blob file: its path. */
static void pixel_blob_file(struct fixture *f, char *path, size_t len)
{
	struct blob_ref segs[4];
	int n = catalog_segments(store_main_catalog(f->s), f->id[1], segs, 4);
	assert_int_equal(n, 3);
	assert_int_equal(segs[1].pack, 0);
	blob_file_path(f->store_dir, segs[1].hash, segs[1].ordinal, path, len);
}

static void flip_byte(const char *path, long off)
{
	FILE *fp = fopen(path, "r+b");
	assert_non_null(fp);
	if (off < 0) {
		assert_int_equal(fseek(fp, off, SEEK_END), 0);
	} else {
		assert_int_equal(fseek(fp, off, SEEK_SET), 0);
	}
	int c = fgetc(fp);
	assert_true(c != EOF);
	assert_int_equal(fseek(fp, -1, SEEK_CUR), 0);
	fputc(c ^ 0x5a, fp);
	assert_int_equal(fclose(fp), 0);
}

static void test_damaged_blob(void **state)
{
	struct fixture *f = *state;
	char path[4200];
	pixel_blob_file(f, path, sizeof(path));
	/* A byte of the last chunk's data: the open (which checks headers
	 * and tables only) succeeds, reading that chunk is an error. */
	flip_byte(path, -3);
	struct instance *in = open_ok(f, 1);
	uint64_t size = instance_size(in);
	uint8_t *got = malloc(size);
	assert_int_equal(instance_read(in, f->ctx, 0, got, size), -EIO);
	uint32_t k = instance_chunk_at(in, size - 7);   /* in the trailer: fine */
	uint64_t off;
	uint32_t len;
	instance_chunk_span(in, k, &off, &len);
	assert_int_equal(instance_read(in, f->ctx, off, got, len), (int64_t)len);
	assert_memory_equal(got, f->want[1] + off, len);
	/* The pixel chunk just before the trailer's is the damaged one. */
	instance_chunk_span(in, k - 1, &off, &len);
	assert_int_equal(instance_decode_chunk(in, f->ctx, k - 1, got), -EIO);
	char where[4400];
	instance_chunk_where(in, k - 1, where, sizeof(where));
	assert_string_equal(where, path);
	/* The first chunk still reads. */
	instance_chunk_span(in, 0, &off, &len);
	assert_int_equal(instance_read(in, f->ctx, 0, got, len), (int64_t)len);
	assert_memory_equal(got, f->want[1], len);
	free(got);
	instance_close(in);
	flip_byte(path, -3);

	/* A byte of the blob file's header: the open refuses and says where. */
	flip_byte(path, 20);
	char why[4600] = "";
	struct instance *bad = NULL;
	int r = instance_open(f->s, store_main_catalog(f->s), f->id[1], &bad, why, sizeof(why));
	assert_true(r == -EBADMSG || r == -EIO);
	assert_null(bad);
	assert_non_null(strstr(why, "segment 1"));
	assert_non_null(strstr(why, path));
	flip_byte(path, 20);

	/* Restored: it reads back whole again. */
	in = open_ok(f, 1);
	got = malloc(size);
	assert_int_equal(instance_read(in, f->ctx, 0, got, size), (int64_t)size);
	assert_memory_equal(got, f->want[1], size);
	free(got);
	instance_close(in);
}

static void test_missing_blob_file(void **state)
{
	struct fixture *f = *state;
	char path[4200], saved[4300];
	pixel_blob_file(f, path, sizeof(path));
	snprintf(saved, sizeof(saved), "%s.saved", path);
	assert_int_equal(rename(path, saved), 0);
	char why[4600] = "";
	struct instance *in = NULL;
	assert_int_equal(instance_open(f->s, store_main_catalog(f->s), f->id[1], &in, why,
				       sizeof(why)), -EIO);
	assert_non_null(strstr(why, path));
	assert_int_equal(rename(saved, path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_files),
		cmocka_unit_test(test_chunks_tile_the_file),
		cmocka_unit_test(test_random_ranges),
		cmocka_unit_test(test_reads_at_and_past_the_end),
		cmocka_unit_test(test_damaged_blob),
		cmocka_unit_test(test_missing_blob_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
