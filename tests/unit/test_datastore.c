/*
 * test_datastore.c - the data interface (datastore.h) under blobstore.h:
 * packs appended, cut back and walked, blob files put, published, read,
 * checked and removed, the same on the folder and on RADOS.
 *
 * The RADOS half needs a cluster: DCMFS_TEST_RADOS_URL (rados://POOL?conf=
 * ...), which t0701 sets after starting one (tests/system/lib/ceph.sh).
 * Without it those tests skip, saying so.
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
#include <sys/stat.h>

#include <rados/librados.h>

#include "blobstore.h"
#include "datastore.h"
#include "hash.h"
#include "scratch.h"

struct fixture {
	char *dir;              /* the store folder (paths are named under it) */
	int rados;              /* its packs/ and blobs/ are in RADOS */
};

static int setup(void **state, int rados)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = scratch_make();
	char path[4200];
	snprintf(path, sizeof(path), "%s/packs", f->dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/blobs", f->dir);
	mkdir(path, 0755);
	if (rados) {
		const char *url = getenv("DCMFS_TEST_RADOS_URL");
		if (!url || !*url) {
			printf("# skip: no DCMFS_TEST_RADOS_URL (t0701 starts a cluster and sets it)\n");
			scratch_remove(f->dir);
			free(f->dir);
			free(f);
			return -1;
		}
		struct datastore *ds;
		char err[512];
		if (datastore_rados_open(url, &ds, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return -1;
		}
		assert_int_equal(datastore_attach(f->dir, ds), 0);
		f->rados = 1;
	}
	*state = f;
	return 0;
}

static int setup_folder(void **state) { return setup(state, 0); }
static int setup_rados(void **state)
{
	/* cmocka fails a test whose setup fails: a skip is a pass that says so. */
	if (setup(state, 1) < 0)
		*state = NULL;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (!f)
		return 0;
	if (f->rados)
		datastore_detach(f->dir);
	scratch_remove(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

#define NEED_FIXTURE(f) do { if (!(f)) { skip(); } } while (0)

struct walked {
	int n;
	uint64_t bytes;
	int skipped;
};

static int count_entry(void *arg, int type, const uint8_t *p, size_t len, uint64_t off)
{
	struct walked *w = arg;
	(void)type, (void)p, (void)off;
	w->n++;
	w->bytes += len;
	return 0;
}

static void count_skip(void *arg, uint64_t start, uint64_t end, int tail)
{
	struct walked *w = arg;
	(void)start, (void)end, (void)tail;
	w->skipped++;
}

static int name_of(void *arg, int64_t id, char *name, size_t len)
{
	(void)id;
	snprintf(name, len, "%s", (const char *)arg);
	return 0;
}

/* Entries appended, made durable, cut back, walked, and read by offset. */
static void test_pack_append_truncate_walk(void **state)
{
	struct fixture *f = *state;
	NEED_FIXTURE(f);
	struct pack_writer *pw;
	char err[256], path[4200];
	assert_int_equal(pack_writer_create(f->dir, &pw, err, sizeof(err)), 0);
	assert_true(pack_writer_limit(pw) <= (f->rados ? (64ull << 20) : PACK_SIZE_LIMIT));
	uint8_t payload[3000];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	uint64_t offs[5];
	for (int i = 0; i < 5; i++)
		assert_int_equal(pack_append(pw, PACK_ENTRY_INSTANCE, payload, 1000 + 100 * (size_t)i,
					     NULL, 0, &offs[i]), 0);
	uint64_t mark = pack_writer_size(pw), cut;
	assert_int_equal(pack_append(pw, PACK_ENTRY_INSTANCE, payload, 2000, NULL, 0, &cut), 0);
	/* A rolled-back batch: its entry goes. */
	assert_int_equal(pack_writer_truncate(pw, mark), 0);
	snprintf(path, sizeof(path), "%s/packs/%s", f->dir, pack_writer_name(pw));
	/* sync: what the ingest writer does before its rows commit */
	const char *name;
	struct datastore *ds = datastore_resolve(path, &name);
	assert_int_equal(ds->ops->sync(ds, f->dir), 0);
	assert_int_equal(data_file_exists(path), 0);
	struct walked w = {0};
	assert_int_equal(pack_walk(path, count_entry, count_skip, &w), 0);
	assert_int_equal(w.n, 5);
	assert_int_equal(w.bytes, 1000 + 1100 + 1200 + 1300 + 1400);
	assert_int_equal(w.skipped, 0);
	struct blob_reader *br = blob_reader_new(f->dir, name_of, (void *)pack_writer_name(pw));
	struct blob_view v;
	assert_int_equal(pack_entry_get(br, 1, offs[3], 1300, PACK_ENTRY_INSTANCE, &v), 0);
	assert_memory_equal(v.enc, payload, 1300);
	blob_view_release(&v);
	/* the wrong type or length is refused, never served */
	assert_int_equal(pack_entry_get(br, 1, offs[3], 1300, PACK_ENTRY_BLOB, &v), -EBADMSG);
	assert_int_equal(pack_entry_get(br, 1, offs[3], 1299, PACK_ENTRY_INSTANCE, &v), -EBADMSG);
	blob_reader_free(br);
	pack_writer_free(pw);
	assert_int_equal(blob_file_remove(path), 0);
	assert_int_equal(data_file_exists(path), -ENOENT);
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

/* A blob of size bytes: invisible until published, then read back whole
 * and checked, and gone once removed. */
static void blob_roundtrip(struct fixture *f, size_t size)
{
	uint8_t *enc = malloc(size);
	assert_non_null(enc);
	fill(enc, size, (uint32_t)size);
	struct blob_header h = { .ordinal = 0, .kind = BLOB_PIXELS, .raw_size = size, .enc_size = size };
	hash_bytes(enc, size, h.hash);
	char tmp[4400], path[4400];
	assert_int_equal(blob_file_write_tmp_unique(f->dir, &h, enc, tmp, sizeof(tmp)), 0);
	blob_file_path(f->dir, h.hash, 0, path, sizeof(path));
	struct blob_ref ref = { .ordinal = 0, .kind = BLOB_PIXELS, .raw_size = size, .enc_size = size };
	memcpy(ref.hash, h.hash, HASH_LEN);
	struct blob_reader *br = blob_reader_new(f->dir, name_of, "none");
	struct blob_view v;
	assert_int_equal(blob_view_get(br, &ref, &v), -ENOENT);
	assert_int_equal(data_file_exists(tmp), 0);
	assert_int_equal(blob_file_publish(tmp), 0);
	assert_int_equal(data_file_exists(tmp), -ENOENT);
	assert_int_equal(blob_view_get(br, &ref, &v), 0);
	assert_int_equal(v.enc_size, size);
	assert_memory_equal(v.enc, enc, size);
	blob_view_release(&v);
	struct blob_header g;
	assert_int_equal(blob_file_check(path, 1, &g), 0);
	assert_int_equal(g.enc_size, size);
	assert_int_equal(blob_file_read_header(path, &g), 0);
	assert_int_equal(blob_file_remove(path), 0);
	assert_int_equal(blob_view_get(br, &ref, &v), -ENOENT);
	blob_reader_free(br);
	free(enc);
}

static void test_blob_small(void **state)
{
	struct fixture *f = *state;
	NEED_FIXTURE(f);
	blob_roundtrip(f, 70000);
}

/* Larger than RADOS's head object plus two parts (1 + 2 x 32 MiB). */
static void test_blob_in_parts(void **state)
{
	struct fixture *f = *state;
	NEED_FIXTURE(f);
	blob_roundtrip(f, (66u << 20) + 12345);
}

/* Damage in a part, and a part gone: refused as damage, never served. */
static void test_blob_part_damage(void **state)
{
	struct fixture *f = *state;
	NEED_FIXTURE(f);
	if (!f->rados)
		skip();
	size_t size = (3u << 20) + 77;
	uint8_t *enc = malloc(size);
	fill(enc, size, 3);
	struct blob_header h = { .kind = BLOB_PIXELS, .raw_size = size, .enc_size = size };
	hash_bytes(enc, size, h.hash);
	char path[4400];
	assert_int_equal(blob_file_write(f->dir, &h, enc), 0);
	blob_file_path(f->dir, h.hash, 0, path, sizeof(path));
	struct blob_header g;
	assert_int_equal(blob_file_check(path, 1, &g), 0);
	/* one byte of part 1 changed, through librados itself */
	const char *name;
	datastore_resolve(path, &name);
	rados_t cl;
	rados_ioctx_t io;
	const char *url = getenv("DCMFS_TEST_RADOS_URL");
	char pool[256], conf[4096];
	assert_int_equal(sscanf(url, "rados://%255[^?]?conf=%4095[^&]", pool, conf), 2);
	assert_int_equal(rados_create(&cl, NULL), 0);
	assert_int_equal(rados_conf_read_file(cl, conf), 0);
	assert_int_equal(rados_connect(cl), 0);
	assert_int_equal(rados_ioctx_create(cl, pool, &io), 0);
	char part[4500];
	snprintf(part, sizeof(part), "%s@1", name);
	char b = 0x55;
	assert_int_equal(rados_write(io, part, &b, 1, 1000), 0);
	assert_int_equal(blob_file_check(path, 1, &g), -EBADMSG);
	/* the part gone: the blob reads shorter than its header says */
	assert_int_equal(rados_remove(io, part), 0);
	assert_int_equal(blob_file_check(path, 0, &g), -EBADMSG);
	struct blob_ref ref = { .kind = BLOB_PIXELS, .raw_size = size, .enc_size = size };
	memcpy(ref.hash, h.hash, HASH_LEN);
	struct blob_reader *br = blob_reader_new(f->dir, name_of, "none");
	struct blob_view v;
	assert_int_equal(blob_view_get(br, &ref, &v), -EBADMSG);
	blob_reader_free(br);
	assert_int_equal(blob_file_remove(path), 0);
	rados_ioctx_destroy(io);
	rados_shutdown(cl);
	free(enc);
}

/* A part written in several writes is cut to its length: an object left
 * longer under its name (an earlier attempt) does not lengthen the blob. */
static void test_blob_part_left_longer(void **state)
{
	struct fixture *f = *state;
	NEED_FIXTURE(f);
	if (!f->rados)
		skip();
	size_t size = (9u << 20) + 77;   /* part 1: 8 MiB and more, three writes */
	uint8_t *enc = malloc(size);
	fill(enc, size, 5);
	struct blob_header h = { .kind = BLOB_PIXELS, .raw_size = size, .enc_size = size };
	hash_bytes(enc, size, h.hash);
	char path[4400], part[4500];
	const char *name;
	blob_file_path(f->dir, h.hash, 0, path, sizeof(path));
	datastore_resolve(path, &name);
	snprintf(part, sizeof(part), "%s@1", name);
	rados_t cl;
	rados_ioctx_t io;
	char pool[256], conf[4096];
	assert_int_equal(sscanf(getenv("DCMFS_TEST_RADOS_URL"), "rados://%255[^?]?conf=%4095[^&]",
				pool, conf), 2);
	assert_int_equal(rados_create(&cl, NULL), 0);
	assert_int_equal(rados_conf_read_file(cl, conf), 0);
	assert_int_equal(rados_connect(cl), 0);
	assert_int_equal(rados_ioctx_create(cl, pool, &io), 0);
	char junk[4096];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(rados_write(io, part, junk, sizeof(junk), (12u << 20)), 0);
	assert_int_equal(blob_file_write(f->dir, &h, enc), 0);
	uint64_t psize;
	time_t mtime;
	assert_int_equal(rados_stat(io, part, &psize, &mtime), 0);
	assert_int_equal(psize, BLOB_FILE_HEADER_BYTES + size - (1u << 20));
	struct blob_header g;
	assert_int_equal(blob_file_check(path, 1, &g), 0);
	assert_int_equal(blob_file_remove(path), 0);
	rados_ioctx_destroy(io);
	rados_shutdown(cl);
	free(enc);
}

/* Two writers never share a pack name: the create is exclusive. */
static void test_create_exclusive(void **state)
{
	struct fixture *f = *state;
	NEED_FIXTURE(f);
	char path[4200];
	snprintf(path, sizeof(path), "%s/packs/same.pack", f->dir);
	const char *name;
	struct datastore *ds = datastore_resolve(path, &name);
	struct ds_file *a, *b;
	assert_int_equal(ds->ops->create(ds, name, "first", 5, &a), 0);
	assert_int_equal(ds->ops->create(ds, name, "other", 5, &b), -EEXIST);
	ds->ops->close(a);
	/* the first bytes are there at once, without a sync */
	uint64_t size;
	char got[8] = "";
	assert_int_equal(ds->ops->open_read(ds, name, &b, &size), 0);
	assert_int_equal(size, 5);
	assert_int_equal(ds->ops->pread(b, got, 5, 0), 5);
	assert_memory_equal(got, "first", 5);
	ds->ops->close(b);
	assert_int_equal(ds->ops->remove(ds, name), 0);
}

/* Another machine's writer (a data store shared by several): it creates
 * the pack names this process is about to take, with its own bytes, just
 * before this process does -- the same time and pid, as two machines can
 * have.  The wrapper passes every other call to the fixture's data store. */
struct clashing {
	struct datastore base;
	struct datastore_ops ops;
	const char *store_dir;          /* the fixture's: where the real names are */
	int clashes;                    /* creates still to lose */
	char taken[4][256];             /* the names the other writer took */
};

static int clash_create(struct datastore *ds, const char *name, const void *first, size_t len,
			struct ds_file **out)
{
	struct clashing *c = (struct clashing *)ds;
	char path[4200];
	const char *real_name;
	snprintf(path, sizeof(path), "%s/%s", c->store_dir, name);
	struct datastore *real = datastore_resolve(path, &real_name);
	if (c->clashes > 0) {
		struct ds_file *theirs;
		assert_int_equal(real->ops->create(real, real_name, "THEIRS", 6, &theirs), 0);
		real->ops->close(theirs);
		snprintf(c->taken[--c->clashes], sizeof(c->taken[0]), "%s", real_name);
	}
	return real->ops->create(real, real_name, first, len, out);
}

static void clash_free(struct datastore *ds)
{
	(void)ds;       /* the test's own */
}

/* A pack name another writer took first: the loser tries the next name
 * (blobstore.c's attempt counter), never fails, never appends to the
 * other's pack, which keeps its own bytes. */
static void test_pack_name_clash(void **state)
{
	struct fixture *f = *state;
	NEED_FIXTURE(f);
	char probe[4200];
	snprintf(probe, sizeof(probe), "%s/packs/x", f->dir);
	const char *unused;
	struct clashing c = { .store_dir = f->dir, .clashes = 2 };
	c.ops = *datastore_resolve(probe, &unused)->ops;
	c.ops.create = clash_create;
	c.ops.free = clash_free;
	c.base.ops = &c.ops;
	/* A second folder whose packs/ resolve to the wrapper. */
	char *dir2 = scratch_make();
	assert_int_equal(datastore_attach(dir2, &c.base), 0);
	struct pack_writer *pw;
	char err[512];
	assert_int_equal(pack_writer_create(dir2, &pw, err, sizeof(err)), 0);
	assert_int_equal(c.clashes, 0);
	char mine[64];
	snprintf(mine, sizeof(mine), "%s", pack_writer_name(pw));
	assert_string_equal(strrchr(mine, '-'), "-02.pack");  /* two lost, the third won */
	uint64_t off;
	assert_int_equal(pack_append(pw, 1, "mine", 4, NULL, 0, &off), 0);
	pack_writer_free(pw);
	for (int i = 0; i < 2; i++) {
		const char *theirs = c.taken[i];        /* a path (folder) or an object name */
		assert_null(strstr(theirs, mine));
		struct ds_file *rf;
		uint64_t size;
		char got[8] = "";
		char path[4200];
		const char *name;
		if (f->rados)
			snprintf(path, sizeof(path), "%s/%s", f->dir, theirs);
		else
			snprintf(path, sizeof(path), "%s", theirs);
		struct datastore *real = datastore_resolve(path, &name);
		assert_int_equal(real->ops->open_read(real, name, &rf, &size), 0);
		assert_int_equal(size, 6);      /* nothing of ours appended */
		assert_int_equal(real->ops->pread(rf, got, 6, 0), 6);
		assert_memory_equal(got, "THEIRS", 6);
		real->ops->close(rf);
		assert_int_equal(real->ops->remove(real, name), 0);
	}
	snprintf(probe, sizeof(probe), "%s/packs/%s", f->dir, mine);
	const char *name;
	struct datastore *real = datastore_resolve(probe, &name);
	assert_int_equal(real->ops->remove(real, name), 0);
	datastore_detach(dir2);
	scratch_remove(dir2);
	free(dir2);
}

/* Malformed urls and a missing pool: a clear error, no connection. */
static void test_rados_url_errors(void **state)
{
	struct fixture *f = *state;
	NEED_FIXTURE(f);
	if (!f->rados)
		skip();
	struct datastore *ds;
	char err[512];
	assert_int_equal(datastore_rados_open("rados://pool", &ds, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "names no ceph.conf"));
	assert_int_equal(datastore_rados_open("rados://?conf=/x", &ds, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "names no pool"));
	assert_int_equal(datastore_rados_open("rados://p?conf=/x&user=a", &ds, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'user'"));
	assert_int_equal(datastore_rados_open("file:///p", &ds, err, sizeof(err)), -EINVAL);
	const char *url = getenv("DCMFS_TEST_RADOS_URL");
	char bad[4200];
	snprintf(bad, sizeof(bad), "rados://no-such-pool?%s", strchr(url, '?') + 1);
	assert_int_equal(datastore_rados_open(bad, &ds, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no such pool"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pack_append_truncate_walk, setup_folder, teardown),
		cmocka_unit_test_setup_teardown(test_blob_small, setup_folder, teardown),
		cmocka_unit_test_setup_teardown(test_blob_in_parts, setup_folder, teardown),
		cmocka_unit_test_setup_teardown(test_create_exclusive, setup_folder, teardown),
		cmocka_unit_test_setup_teardown(test_pack_name_clash, setup_folder, teardown),
		cmocka_unit_test_setup_teardown(test_pack_append_truncate_walk, setup_rados, teardown),
		cmocka_unit_test_setup_teardown(test_blob_small, setup_rados, teardown),
		cmocka_unit_test_setup_teardown(test_blob_in_parts, setup_rados, teardown),
		cmocka_unit_test_setup_teardown(test_blob_part_damage, setup_rados, teardown),
		cmocka_unit_test_setup_teardown(test_blob_part_left_longer, setup_rados, teardown),
		cmocka_unit_test_setup_teardown(test_create_exclusive, setup_rados, teardown),
		cmocka_unit_test_setup_teardown(test_pack_name_clash, setup_rados, teardown),
		cmocka_unit_test_setup_teardown(test_rados_url_errors, setup_rados, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
