/*
 * test_store.c - the blob store (packs, blob files) and the store's promise
 * that a hash collision never shares data: with the content hash replaced by
 * one that gives every input the same key, different files must still be
 * stored apart and read back exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore.h"
#include "hash.h"
#include "ingest.h"
#include "instance.h"
#include "maint.h"
#include "store.h"
#include "scratch.h"

/* ---- packs ---- */

struct seen {
	int n;
	int types[16];
	size_t lens[16];
	uint8_t first[16];
};

static int collect(void *arg, int type, const uint8_t *p, size_t len, uint64_t off)
{
	struct seen *s = arg;
	(void)off;
	if (s->n < 16) {
		s->types[s->n] = type;
		s->lens[s->n] = len;
		s->first[s->n] = len ? p[0] : 0;
	}
	s->n++;
	return 0;
}

struct ranges {
	int n;
	uint64_t start[8], end[8];
	int tail[8];
};

static void on_skip(void *arg, uint64_t start, uint64_t end, int tail)
{
	struct ranges *g = arg;
	if (g->n < 8) {
		g->start[g->n] = start;
		g->end[g->n] = end;
		g->tail[g->n] = tail;
	}
	g->n++;
}

struct walk {
	struct seen s;
	struct ranges g;
};

static int collect_w(void *arg, int type, const uint8_t *p, size_t len, uint64_t off)
{
	return collect(&((struct walk *)arg)->s, type, p, len, off);
}

static void skip_w(void *arg, uint64_t start, uint64_t end, int tail)
{
	on_skip(&((struct walk *)arg)->g, start, end, tail);
}

static void walk(const char *path, struct walk *w)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(pack_walk(path, collect_w, skip_w, w), 0);
}

static void poke(const char *path, uint64_t off, uint8_t xor)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t x;
	assert_int_equal(pread(fd, &x, 1, (off_t)off), 1);
	x ^= xor;
	assert_int_equal(pwrite(fd, &x, 1, (off_t)off), 1);
	close(fd);
}

/* A pack of three entries; their payload offsets in off[], file size in *size. */
static char *three_entry_pack(char *path, size_t pathlen, uint64_t off[3], uint64_t *size)
{
	char *dir = scratch_make();
	snprintf(path, pathlen, "%s/packs", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	struct pack_writer *pw;
	char err[256];
	assert_int_equal(pack_writer_create(dir, &pw, err, sizeof(err)), 0);
	uint8_t a[100], b[3000];
	memset(a, 7, sizeof(a));
	memset(b, 9, sizeof(b));
	assert_int_equal(pack_append(pw, PACK_ENTRY_BLOB, a, sizeof(a), b, sizeof(b), &off[0]), 0);
	assert_int_equal(pack_append(pw, PACK_ENTRY_INSTANCE, b, 10, NULL, 0, &off[1]), 0);
	assert_int_equal(pack_append(pw, PACK_ENTRY_TOMBSTONE, a, 16, NULL, 0, &off[2]), 0);
	snprintf(path, pathlen, "%s/packs/%s", dir, pack_writer_name(pw));
	*size = pack_writer_size(pw);
	pack_writer_free(pw);
	return dir;
}

static void test_pack_roundtrip_and_torn_tail(void **state)
{
	(void)state;
	char path[4200];
	uint64_t off[3], size;
	char *dir = three_entry_pack(path, sizeof(path), off, &size);
	assert_true(off[1] > off[0] && off[2] > off[1]);
	assert_int_equal(off[0], PACK_FILE_HEADER + PACK_ENTRY_HEADER);

	struct walk w;
	walk(path, &w);
	assert_int_equal(w.s.n, 3);
	assert_int_equal(w.g.n, 0);
	assert_int_equal(w.s.types[0], PACK_ENTRY_BLOB);
	assert_int_equal(w.s.lens[0], 3100);
	assert_int_equal(w.s.types[2], PACK_ENTRY_TOMBSTONE);

	/* An interrupted append: one range, to the end, marked as a tail. */
	assert_int_equal(truncate(path, (off_t)(size - 5)), 0);
	walk(path, &w);
	assert_int_equal(w.s.n, 2);
	assert_int_equal(w.g.n, 1);
	assert_int_equal(w.g.start[0], off[2] - PACK_ENTRY_HEADER);
	assert_int_equal(w.g.end[0], size - 5);
	assert_int_equal(w.g.tail[0], 1);

	/* A flipped bit in the last whole entry is damage, not a torn tail. */
	assert_int_equal(truncate(path, (off_t)size), 0);
	poke(path, off[2] + 5, 0x20);
	walk(path, &w);
	assert_int_equal(w.s.n, 2);
	assert_int_equal(w.g.n, 1);
	assert_int_equal(w.g.end[0], size);
	assert_int_equal(w.g.tail[0], 0);
	scratch_remove(dir);
	free(dir);
}

/* A batch that rolls back cuts its entries off; appends go on from there. */
static void test_pack_truncate(void **state)
{
	(void)state;
	char *dir = scratch_make();
	char path[4200];
	snprintf(path, sizeof(path), "%s/packs", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	struct pack_writer *pw;
	char err[256];
	assert_int_equal(pack_writer_create(dir, &pw, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/packs/%s", dir, pack_writer_name(pw));
	uint8_t a[64];
	memset(a, 5, sizeof(a));
	uint64_t o1, o2, o3;
	assert_int_equal(pack_append(pw, PACK_ENTRY_BLOB, a, sizeof(a), NULL, 0, &o1), 0);
	uint64_t before = pack_writer_size(pw);
	assert_int_equal(pack_append(pw, PACK_ENTRY_INSTANCE, a, 30, NULL, 0, &o2), 0);
	assert_int_equal(pack_writer_truncate(pw, before), 0);
	assert_int_equal(pack_writer_size(pw), before);
	assert_int_equal(pack_writer_truncate(pw, before + 1), -EINVAL);
	assert_int_equal(pack_append(pw, PACK_ENTRY_TOMBSTONE, a, 16, NULL, 0, &o3), 0);
	assert_int_equal(o3, o2);
	pack_writer_free(pw);
	struct walk w;
	walk(path, &w);
	assert_int_equal(w.s.n, 2);
	assert_int_equal(w.s.types[1], PACK_ENTRY_TOMBSTONE);
	assert_int_equal(w.g.n, 0);
	scratch_remove(dir);
	free(dir);
}

/* A flipped bit in the middle entry, in the first one, in the file header:
 * the walk skips exactly the damaged range and reads what follows. */
static void test_pack_resync(void **state)
{
	(void)state;
	char path[4200];
	uint64_t off[3], size;
	char *dir = three_entry_pack(path, sizeof(path), off, &size);
	struct walk w;

	poke(path, off[1] + 3, 0x10);               /* the record's payload */
	walk(path, &w);
	assert_int_equal(w.s.n, 2);
	assert_int_equal(w.s.types[0], PACK_ENTRY_BLOB);
	assert_int_equal(w.s.types[1], PACK_ENTRY_TOMBSTONE);
	assert_int_equal(w.g.n, 1);
	assert_int_equal(w.g.start[0], off[1] - PACK_ENTRY_HEADER);
	assert_int_equal(w.g.end[0], off[2] - PACK_ENTRY_HEADER);
	assert_int_equal(w.g.tail[0], 0);
	poke(path, off[1] + 3, 0x10);

	poke(path, off[0] - 4, 0x01);               /* the blob entry's length */
	walk(path, &w);
	assert_int_equal(w.s.n, 2);
	assert_int_equal(w.s.types[0], PACK_ENTRY_INSTANCE);
	assert_int_equal(w.g.n, 1);
	assert_int_equal(w.g.start[0], PACK_FILE_HEADER);
	assert_int_equal(w.g.end[0], off[1] - PACK_ENTRY_HEADER);
	poke(path, off[0] - 4, 0x01);

	poke(path, 2, 0x04);                        /* the file header's magic */
	walk(path, &w);
	assert_int_equal(w.s.n, 3);
	assert_int_equal(w.g.n, 1);
	assert_int_equal(w.g.start[0], 0);
	assert_int_equal(w.g.end[0], PACK_FILE_HEADER);
	assert_int_equal(w.g.tail[0], 0);
	scratch_remove(dir);
	free(dir);
}

/* A stored payload carrying a copy of a valid entry: when the entry that
 * holds it is damaged, the resync must not take the copy for an entry (its
 * checksum is bound to the offset it was made for). */
static void test_pack_fake_entry_in_payload(void **state)
{
	(void)state;
	char *dir = scratch_make();
	char path[4200];
	snprintf(path, sizeof(path), "%s/packs", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	struct pack_writer *pw;
	char err[256];
	assert_int_equal(pack_writer_create(dir, &pw, err, sizeof(err)), 0);
	uint8_t small[40];
	memset(small, 3, sizeof(small));
	uint64_t o1, o2, o3;
	assert_int_equal(pack_append(pw, PACK_ENTRY_TOMBSTONE, small, 16, NULL, 0, &o1), 0);
	snprintf(path, sizeof(path), "%s/packs/%s", dir, pack_writer_name(pw));
	/* The first entry's bytes, as a file being stored might carry them. */
	uint8_t fake[256];
	memset(fake, 0xee, sizeof(fake));
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, fake + 64, PACK_ENTRY_HEADER + 16, (off_t)(o1 - PACK_ENTRY_HEADER)),
			 PACK_ENTRY_HEADER + 16);
	close(fd);
	assert_int_equal(pack_append(pw, PACK_ENTRY_BLOB, fake, sizeof(fake), NULL, 0, &o2), 0);
	assert_int_equal(pack_append(pw, PACK_ENTRY_INSTANCE, small, 10, NULL, 0, &o3), 0);
	pack_writer_free(pw);

	struct walk w;
	walk(path, &w);
	assert_int_equal(w.s.n, 3);
	assert_int_equal(w.g.n, 0);
	poke(path, o2 - 8, 0x02);                   /* the blob entry's type */
	walk(path, &w);
	assert_int_equal(w.s.n, 2);
	assert_int_equal(w.s.types[0], PACK_ENTRY_TOMBSTONE);
	assert_int_equal(w.s.types[1], PACK_ENTRY_INSTANCE);
	assert_int_equal(w.g.n, 1);
	assert_int_equal(w.g.start[0], o2 - PACK_ENTRY_HEADER);
	assert_int_equal(w.g.end[0], o3 - PACK_ENTRY_HEADER);
	scratch_remove(dir);
	free(dir);
}

/* Packs written by dcmfs before format 2 stay readable: walk, resync and
 * checked reads of their blobs. */
static void put_le32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_le64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static const char *v1_name;
static int v1_pack_name(void *arg, int64_t id, char *name, size_t len)
{
	(void)arg;
	(void)id;
	snprintf(name, len, "%s", v1_name);
	return 0;
}

static void test_pack_v1_readable(void **state)
{
	(void)state;
	char *dir = scratch_make();
	char path[4200];
	snprintf(path, sizeof(path), "%s/packs", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	v1_name = "0000000000000001-00000001-00.pack";
	snprintf(path, sizeof(path), "%s/packs/%s", dir, v1_name);
	uint8_t pack[16 + 2 * (20 + 60)] = { 0 };
	memcpy(pack, "DCMFSPK1", 8);
	put_le32(pack + 8, 1);
	size_t off = 16;
	uint64_t blob_payload = 0;
	for (int e = 0; e < 2; e++) {
		uint8_t *q = pack + off;
		put_le32(q, 0x31454b50u);
		q[4] = PACK_ENTRY_BLOB;
		put_le32(q + 8, 60);
		struct blob_header h = { .ordinal = (uint32_t)e, .kind = BLOB_HEADER,
					 .raw_size = 20, .enc_size = 20 };
		memset(h.hash, 0x40 + e, HASH_LEN);
		blob_header_encode(&h, q + 20);
		memset(q + 60, 'a' + e, 20);
		put_le64(q + 12, checksum64(q + 20, 60));
		if (e == 1)
			blob_payload = off + 20;
		off += 80;
	}
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(pack, 1, sizeof(pack), f), sizeof(pack));
	fclose(f);

	struct walk w;
	walk(path, &w);
	assert_int_equal(w.s.n, 2);
	assert_int_equal(w.g.n, 0);

	struct blob_reader *br = blob_reader_new(dir, v1_pack_name, NULL);
	struct blob_ref ref = { .ordinal = 1, .kind = BLOB_HEADER, .raw_size = 20,
				.enc_size = 20, .pack = 1, .offset = blob_payload + BLOB_HEADER_BYTES };
	memset(ref.hash, 0x41, HASH_LEN);
	struct blob_view v;
	assert_int_equal(blob_view_get(br, &ref, &v), 0);
	assert_int_equal(v.enc_size, 20);
	assert_int_equal(v.enc[0], 'b');
	blob_view_release(&v);
	/* The index naming the wrong blob there is refused. */
	ref.ordinal = 0;
	assert_int_equal(blob_view_get(br, &ref, &v), -EBADMSG);
	ref.ordinal = 1;

	poke(path, 16 + 70, 0x01);                  /* the first blob's bytes */
	walk(path, &w);
	assert_int_equal(w.s.n, 1);
	assert_int_equal(w.g.n, 1);
	assert_int_equal(w.g.start[0], 16);
	assert_int_equal(w.g.end[0], 96);
	poke(path, blob_payload + 50, 0x01);        /* the second one's */
	assert_int_equal(blob_view_get(br, &ref, &v), -EBADMSG);
	blob_reader_free(br);
	scratch_remove(dir);
	free(dir);
}

/* ---- blob files ---- */

static void test_blob_file(void **state)
{
	(void)state;
	char *dir = scratch_make();
	char blobs[4200];
	snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
	assert_int_equal(mkdir(blobs, 0755), 0);
	uint8_t enc[5000];
	for (size_t i = 0; i < sizeof(enc); i++)
		enc[i] = (uint8_t)(i * 31);
	struct blob_header h = { .ordinal = 2, .kind = BLOB_PIXELS, .raw_size = 9999,
				 .enc_size = sizeof(enc) };
	hash_bytes("abc", 3, h.hash);
	assert_int_equal(blob_file_write(dir, &h, enc), 0);
	char path[4200];
	blob_file_path(dir, h.hash, 2, path, sizeof(path));
	assert_non_null(strstr(path, ".2"));
	struct blob_header g;
	assert_int_equal(blob_file_read_header(path, &g), 0);
	assert_memory_equal(g.hash, h.hash, HASH_LEN);
	assert_int_equal(g.raw_size, 9999);
	assert_int_equal(g.enc_size, sizeof(enc));

	/* The body checksum catches a flipped byte; the header check does not
	 * read the body. */
	int fd = open(path, O_RDWR);
	struct stat st;
	fstat(fd, &st);
	uint8_t *buf = malloc((size_t)st.st_size);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	const uint8_t *e;
	assert_int_equal(blob_file_parse(buf, (size_t)st.st_size, 1, &g, &e), 0);
	assert_memory_equal(e, enc, sizeof(enc));
	buf[st.st_size - 1] ^= 1;
	assert_int_equal(blob_file_parse(buf, (size_t)st.st_size, 1, &g, &e), -EBADMSG);
	assert_int_equal(blob_file_parse(buf, (size_t)st.st_size, 0, &g, &e), 0);
	buf[20] ^= 1;
	assert_int_equal(blob_file_parse(buf, (size_t)st.st_size, 0, &g, &e), -EBADMSG);
	free(buf);
	close(fd);
	/* A short file is refused by the header check. */
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(blob_file_read_header(path, &g), -EBADMSG);
	scratch_remove(dir);
	free(dir);
}

/* ---- forced hash collision ---- */

static void constant_hash(const void *data, size_t len, uint8_t out[HASH_LEN])
{
	(void)data;
	(void)len;
	memset(out, 0xAB, HASH_LEN);
}

/* Small valid DICOM files: from ../shared/corpus or Debian's pydicom,
 * wherever the test runs from: the corpus is found beside the source tree
 * (DCMFS_TOP, set by the Makefile), and DCMFS_TEST_CORPUS and
 * DCMFS_TEST_PYDICOM override both folders as they do for tests/system.
 * The names are written into paths[] (max entries of PATH_MAX bytes). */
static int find_inputs(char paths[][PATH_MAX], int max)
{
	static const char *corpus_files[] = {
		"variety/CT_small.dcm", "variety/MR_small.dcm",
		"real/ct/CT1_UNC.explicit_little_endian.dcm",
	};
	static const char *pydicom_files[] = { "CT_small.dcm", "MR_small.dcm", "rtplan.dcm" };
	const char *corpus = getenv("DCMFS_TEST_CORPUS");
	const char *pydicom = getenv("DCMFS_TEST_PYDICOM");
	if (!corpus)
		corpus = DCMFS_TOP "/../shared/corpus";
	if (!pydicom)
		pydicom = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
	int n = 0;
	for (size_t i = 0; i < 6 && n < max; i++) {
		if (i < 3)
			snprintf(paths[n], PATH_MAX, "%s/%s", corpus, corpus_files[i]);
		else
			snprintf(paths[n], PATH_MAX, "%s/%s", pydicom, pydicom_files[i - 3]);
		if (access(paths[n], R_OK) == 0)
			n++;
	}
	return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long l = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)l);
	assert_int_equal(fread(p, 1, (size_t)l, f), (size_t)l);
	fclose(f);
	*len = (size_t)l;
	return p;
}

static void test_forced_collision_never_shares(void **state)
{
	(void)state;
	static char inputs[3][PATH_MAX];
	int n = find_inputs(inputs, 3);
	if (n < 2) {
		print_message("skip: no sample DICOM files (../shared/corpus or python3-pydicom)\n");
		skip();
	}
	char *dir = scratch_make();
	char store_dir[4200], err[512];
	snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
	assert_int_equal(store_init(store_dir, err, sizeof(err)), 0);

	hash_fn = constant_hash;   /* every segment of every file: one key */
	struct store *s;
	assert_int_equal(store_open(store_dir, 0, &s, err, sizeof(err)), 0);
	struct ingest *ing;
	assert_int_equal(ingest_begin(s, 2, NULL, NULL, &ing, err, sizeof(err)), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(ingest_add(ing, inputs[i]), 0);
	struct ingest_totals t;
	assert_int_equal(ingest_end(ing, &t), 0);
	assert_int_equal(t.n_new, n);
	assert_int_equal(t.n_rejected + t.n_failed, 0);

	/* Every blob has the same hash; all of them must be distinct rows. */
	struct blob_ref cand[16];
	uint8_t key[HASH_LEN];
	constant_hash(NULL, 0, key);
	int nb = catalog_blob_candidates(store_main_catalog(s), key, cand, 16);
	assert_true(nb >= n * 2);
	for (int i = 0; i < nb; i++)
		assert_int_equal(cand[i].ordinal, (uint32_t)i);

	/* Each file reads back exactly. */
	struct codec_ctx *ctx = codec_ctx_new();
	for (int i = 0; i < n; i++) {
		size_t len;
		uint8_t *want = slurp(inputs[i], &len);
		struct dcm_info info;
		assert_int_equal(dcm_scan(want, len, &info, err, sizeof(err)), DCM_OK);
		struct cat_version *v;
		assert_int_equal(catalog_versions(store_main_catalog(s), info.sop_instance_uid, &v), 1);
		struct instance *h;
		assert_int_equal(instance_open(s, store_main_catalog(s), v[0].instance_id, &h, NULL, 0), 0);
		free(v);
		assert_int_equal(instance_size(h), len);
		uint8_t *got = malloc(len);
		assert_int_equal(instance_read(h, ctx, 0, got, len), (int64_t)len);
		assert_memory_equal(got, want, len);
		instance_close(h);
		free(got);
		free(want);
	}
	/* Importing them again finds them by comparing bytes: duplicates. */
	assert_int_equal(ingest_begin(s, 1, NULL, NULL, &ing, err, sizeof(err)), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(ingest_add(ing, inputs[i]), 0);
	assert_int_equal(ingest_end(ing, &t), 0);
	assert_int_equal(t.n_duplicate, n);
	assert_int_equal(t.bytes_stored, 0);

	struct verify_totals vt;
	assert_int_equal(store_verify(s, NULL, NULL, NULL, &vt), 0);
	assert_int_equal(vt.problems, 0);
	codec_ctx_free(ctx);
	store_close(s);
	hash_fn = hash_xxh3_128;
	scratch_remove(dir);
	free(dir);
}

/* ---- the reader's bounded cache of open packs ---- */

#define MANY_PACKS 300

struct pack_names {
	char name[MANY_PACKS][64];
	int lookups;
};

static int names_fn(void *arg, int64_t id, char *name, size_t len)
{
	struct pack_names *pn = arg;
	if (id < 1 || id > MANY_PACKS)
		return -ENOENT;
	__atomic_add_fetch(&pn->lookups, 1, __ATOMIC_RELAXED);
	snprintf(name, len, "%s", pn->name[id - 1]);
	return 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

struct many {
	struct blob_reader *br;
	uint64_t off[MANY_PACKS];
	int seed, bad;
};

/* Payload of pack i: its number, so a read from the wrong pack shows. */
static int read_pack(struct many *m, int i)
{
	struct blob_view v;
	int r = pack_entry_get(m->br, i + 1, m->off[i], sizeof(int), PACK_ENTRY_TOMBSTONE, &v);
	int ok = r == 0 && v.enc_size == sizeof(int) && memcmp(v.enc, &i, sizeof(int)) == 0;
	if (r == 0)
		blob_view_release(&v);
	return ok;
}

static void *many_reader(void *arg)
{
	struct many *m = arg;
	unsigned x = (unsigned)m->seed * 2654435761u + 1;
	for (int k = 0; k < 3000; k++) {
		x = x * 1103515245u + 12345u;
		if (!read_pack(m, (int)((x >> 8) % MANY_PACKS)))
			__atomic_add_fetch(&m->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_reader_bounded_packs(void **state)
{
	(void)state;
	char *dir = scratch_make();
	char path[4200];
	snprintf(path, sizeof(path), "%s/packs", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	static struct pack_names pn;
	static struct many m;
	memset(&pn, 0, sizeof(pn));
	memset(&m, 0, sizeof(m));
	char err[256];
	for (int i = 0; i < MANY_PACKS; i++) {
		struct pack_writer *pw;
		assert_int_equal(pack_writer_create(dir, &pw, err, sizeof(err)), 0);
		assert_int_equal(pack_append(pw, PACK_ENTRY_TOMBSTONE, &i, sizeof(i), NULL, 0,
					     &m.off[i]), 0);
		snprintf(pn.name[i], sizeof(pn.name[i]), "%s", pack_writer_name(pw));
		pack_writer_free(pw);
	}
	int before = count_fds();
	m.br = blob_reader_new(dir, names_fn, &pn);
	assert_non_null(m.br);
	/* Every pack, twice in order: the second round misses again (an
	 * LRU-like cache of 64 cycled through by 300), and stays bounded. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < MANY_PACKS; i++) {
			assert_true(read_pack(&m, i));
			assert_true(count_fds() <= before + BLOB_READER_PACKS);
		}
		/* Names are remembered apart from descriptors: the second
		 * round reopens every pack without asking for a name. */
		assert_int_equal(pn.lookups, MANY_PACKS);
	}
	assert_int_equal(blob_reader_open_packs(m.br), BLOB_READER_PACKS);
	/* A hot pack stays open: reads of it ask for no name. */
	int lookups = pn.lookups;
	for (int k = 0; k < 100; k++)
		assert_true(read_pack(&m, MANY_PACKS - 1));
	assert_int_equal(pn.lookups, lookups);
	/* Threads reading at random: no read sees a closed or reused
	 * descriptor, and the count stays bounded. */
	pthread_t th[4];
	static struct many mt[4];
	for (int t = 0; t < 4; t++) {
		mt[t] = m;
		mt[t].seed = t + 1;
		assert_int_equal(pthread_create(&th[t], NULL, many_reader, &mt[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(mt[t].bad, 0);
	}
	assert_true(count_fds() <= before + BLOB_READER_PACKS);
	blob_reader_free(m.br);
	assert_int_equal(count_fds(), before);
	scratch_remove(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pack_roundtrip_and_torn_tail),
		cmocka_unit_test(test_pack_truncate),
		cmocka_unit_test(test_pack_resync),
		cmocka_unit_test(test_pack_fake_entry_in_payload),
		cmocka_unit_test(test_pack_v1_readable),
		cmocka_unit_test(test_blob_file),
		cmocka_unit_test(test_forced_collision_never_shares),
		cmocka_unit_test(test_reader_bounded_packs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
