/*
 * test_catalog.c - the SQLite index through its public API (catalog.h), in
 * a temporary folder: opening and refusing schemas, ids that are never
 * reused, instances placed under patients/studies/series and found again
 * (children, lookup, rows, segments, UIDs), names of hostile values and
 * the instance names schema 3 keeps or derives,
 * versions and which one is current, the versions and quarantine views,
 * removal and the folders it empties, reindex tombstones, and totals.
 *
 * No pack is written: the catalogue only keeps where records and blobs
 * are, so the tests give it made-up places.
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
#include "scratch.h"

/* One test's catalogue in its own folder. */
struct fixture {
	char *dir;
	struct catalog *cat;
	int64_t pack_id;
	uint64_t next_offset;   /* made-up places of records and blobs */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";
	f->dir = scratch_make();
	if (catalog_open(f->dir, 1, 0, &f->cat, err, sizeof(err)) != 0) {
		print_error("catalog_open: %s\n", err);
		return -1;
	}
	if (catalog_begin(f->cat) || catalog_pack_id(f->cat, "0000000001.pack", &f->pack_id) ||
	    catalog_commit(f->cat))
		return -1;
	f->next_offset = 64;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	catalog_close(f->cat);
	scratch_remove(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* What an instance is, for add_instance. */
struct inst {
	const char *patient_id, *issuer, *patient_name, *birth_date;
	const char *study_uid, *series_uid, *sop_uid, *modality;
	const char *unclean;        /* NULL or "" when clean */
	const char *study_date, *accession, *description;   /* NULL: none */
	uint64_t size;
	uint8_t content;            /* distinguishes the bytes (file hash, blobs) */
	int unsettled;              /* no catalog_prune after it (a bulk build's rows) */
};

/* Store an instance the way the import's writer does: a blob row per
 * segment, ids reserved, folders placed, the row inserted and the folders
 * refreshed, in one transaction.  The version is one more than the newest
 * stored under its SOPInstanceUID.  Returns its instance id. */
static int64_t add_instance(struct fixture *f, const struct inst *in)
{
	struct catalog *c = f->cat;
	struct instance_record r;
	memset(&r, 0, sizeof(r));
	struct dcm_info *d = &r.info;
	snprintf(d->patient_id, sizeof(d->patient_id), "%s", in->patient_id);
	snprintf(d->issuer_of_patient_id, sizeof(d->issuer_of_patient_id), "%s",
		 in->issuer ? in->issuer : "");
	snprintf(d->patient_name, sizeof(d->patient_name), "%s",
		 in->patient_name ? in->patient_name : "Doe^John");
	snprintf(d->patient_birth_date, sizeof(d->patient_birth_date), "%s",
		 in->birth_date ? in->birth_date : "19700101");
	snprintf(d->study_uid, sizeof(d->study_uid), "%s", in->study_uid);
	snprintf(d->series_uid, sizeof(d->series_uid), "%s", in->series_uid);
	snprintf(d->sop_instance_uid, sizeof(d->sop_instance_uid), "%s", in->sop_uid);
	snprintf(d->modality, sizeof(d->modality), "%s", in->modality ? in->modality : "CT");
	snprintf(d->unclean, sizeof(d->unclean), "%s", in->unclean ? in->unclean : "");
	snprintf(d->study_date, sizeof(d->study_date), "%s", in->study_date ? in->study_date : "");
	snprintf(d->accession_number, sizeof(d->accession_number), "%s", in->accession ? in->accession : "");
	snprintf(d->study_description, sizeof(d->study_description), "%s",
		 in->description ? in->description : "");
	d->series_number = 1;
	d->instance_number = 1;

	struct cat_version *vers = NULL;
	int nv = catalog_versions(c, in->sop_uid, &vers);
	assert_true(nv >= 0);
	uint32_t newest = 0;
	for (int i = 0; i < nv; i++)
		if (vers[i].version > newest)
			newest = vers[i].version;
	free(vers);

	r.version = newest + 1;
	r.stored_at_ns = 1700000000000000000LL + (int64_t)f->next_offset;
	r.size = in->size;
	memset(r.file_hash, in->content, HASH_LEN);
	r.nseg = 2;
	int64_t blob_ids[2];
	int64_t first[4];
	static const char *kinds[] = { "patient", "study", "series", "instance" };
	for (int k = 0; k < 4; k++)
		assert_int_equal(catalog_reserve_ids(c, kinds[k], 1, &first[k]), 0);
	assert_int_equal(catalog_begin(c), 0);
	for (uint32_t i = 0; i < r.nseg; i++) {
		struct blob_ref b;
		memset(&b, 0, sizeof(b));
		memset(b.hash, in->content, HASH_LEN);
		b.hash[0] = (uint8_t)i;     /* header and pixel segments differ */
		b.kind = i;
		b.raw_size = in->size / 2;
		b.enc_size = in->size / 4;
		b.pack = f->pack_id;
		b.offset = f->next_offset;
		f->next_offset += b.enc_size + 64;
		struct blob_ref existing;
		if (catalog_blob_by_key(c, b.hash, 0, &existing) == 0)
			b = existing;   /* the same bytes: shared */
		else
			assert_int_equal(catalog_insert_blob(c, &b), 0);
		blob_ids[i] = b.id;
		memcpy(r.seg[i].hash, b.hash, HASH_LEN);
		r.seg[i].kind = i;
		r.seg[i].raw_size = b.raw_size;
	}
	struct id_pool patients = { first[0], first[0] + 1 };
	struct id_pool studies = { first[1], first[1] + 1 };
	struct id_pool series = { first[2], first[2] + 1 };
	assert_int_equal(catalog_place(c, &r, &patients, &studies, &series), 0);
	r.instance_id = first[3];
	struct record_loc loc = { f->pack_id, f->next_offset, 300 };
	f->next_offset += 400;
	assert_int_equal(catalog_insert_instance(c, &r, blob_ids, &loc), 0);
	if (!in->unsettled)
		assert_int_equal(catalog_prune(c), 0);
	assert_int_equal(catalog_commit(c), 0);
	return r.instance_id;
}

/* Remove every version of a SOPInstanceUID as `dcmfsctl rm` does. */
static void remove_sop(struct fixture *f, const char *sop_uid)
{
	int64_t *ids = NULL;
	int n = catalog_find_ids(f->cat, CAT_INSTANCE, sop_uid, &ids);
	assert_true(n > 0);
	assert_int_equal(catalog_begin(f->cat), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(catalog_delete_instance(f->cat, ids[i]), 0);
	assert_int_equal(catalog_prune(f->cat), 0);
	assert_int_equal(catalog_commit(f->cat), 0);
	free(ids);
}

/* Collects the nodes a listing gives. */
struct listing {
	int n;
	struct cat_node node[16];
};

static int collect_node(void *arg, const struct cat_node *n)
{
	struct listing *l = arg;
	if (l->n < 16)
		l->node[l->n] = *n;
	l->n++;
	return 0;
}

static struct listing children(struct catalog *c, int view, int kind, int64_t id)
{
	struct listing l;
	memset(&l, 0, sizeof(l));
	if (view == CAT_VIEW_PATIENTS)
		assert_int_equal(catalog_children(c, kind, id, collect_node, &l), 0);
	else
		assert_int_equal(catalog_view_children(c, view, kind, id, collect_node, &l), 0);
	return l;
}

static const struct cat_node *named(const struct listing *l, const char *name)
{
	for (int i = 0; i < l->n && i < 16; i++)
		if (strcmp(l->node[i].name, name) == 0)
			return &l->node[i];
	return NULL;
}

/* ---- opening ---- */

static void test_open_creates_and_refuses_other_schemas(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct catalog *again;

	/* Open again without create: the schema is there. */
	assert_int_equal(catalog_open(f->dir, 0, 0, &again, err, sizeof(err)), 0);
	catalog_close(again);
	assert_int_equal(catalog_open(f->dir, 0, 1, &again, err, sizeof(err)), 0);
	catalog_close(again);

	/* A folder without index.db is refused unless asked to create it. */
	char *empty = scratch_make();
	err[0] = '\0';
	assert_true(catalog_open(empty, 0, 0, &again, err, sizeof(err)) < 0);
	assert_true(err[0] != '\0');
	scratch_remove(empty);
	free(empty);

	/* A newer schema is refused with a reason. */
	assert_int_equal(catalog_exec(f->cat, "PRAGMA user_version=99"), 0);
	err[0] = '\0';
	assert_true(catalog_open(f->dir, 0, 0, &again, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "newer"));
	/* An older one is refused with the way out: reindex. */
	assert_int_equal(catalog_exec(f->cat, "PRAGMA user_version=1"), 0);
	err[0] = '\0';
	assert_true(catalog_open(f->dir, 0, 0, &again, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "reindex"));
	char restore[64];
	snprintf(restore, sizeof(restore), "PRAGMA user_version=%d", CATALOG_SCHEMA_VERSION);
	assert_int_equal(catalog_exec(f->cat, restore), 0);
	assert_int_equal(catalog_open(f->dir, 0, 0, &again, err, sizeof(err)), 0);
	catalog_close(again);
}

static void test_reserved_ids_are_never_reused(void **state)
{
	struct fixture *f = *state;
	int64_t a, b, c;
	assert_int_equal(catalog_reserve_ids(f->cat, "instance", 10, &a), 0);
	assert_int_equal(catalog_reserve_ids(f->cat, "instance", 5, &b), 0);
	assert_true(a > 0);
	assert_true(b >= a + 10);
	/* ... not even by another connection after this one closed. */
	char err[256];
	struct catalog *other;
	assert_int_equal(catalog_open(f->dir, 0, 0, &other, err, sizeof(err)), 0);
	assert_int_equal(catalog_reserve_ids(other, "instance", 1, &c), 0);
	assert_true(c >= b + 5);
	catalog_close(other);
	/* Kinds count apart. */
	int64_t p;
	assert_int_equal(catalog_reserve_ids(f->cat, "patient", 1, &p), 0);
	assert_true(p > 0);
}

static void test_data_version_follows_other_connections(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct catalog *reader;
	assert_int_equal(catalog_open(f->dir, 0, 1, &reader, err, sizeof(err)), 0);
	int64_t before = catalog_data_version(reader);
	add_instance(f, &(struct inst){ .patient_id = "P1", .study_uid = "1.2.1",
					 .series_uid = "1.2.1.1", .sop_uid = "1.2.1.1.1",
					 .size = 1000, .content = 1 });
	assert_true(catalog_data_version(reader) != before);
	catalog_close(reader);
}

/* ---- placing and finding ---- */

static void test_place_and_find(void **state)
{
	struct fixture *f = *state;
	struct catalog *c = f->cat;
	int64_t a1 = add_instance(f, &(struct inst){ .patient_id = "PAT-A", .study_uid = "1.1",
						     .series_uid = "1.1.1", .sop_uid = "1.1.1.1",
						     .size = 1000, .content = 1 });
	int64_t a2 = add_instance(f, &(struct inst){ .patient_id = "PAT-A", .study_uid = "1.1",
						     .series_uid = "1.1.1", .sop_uid = "1.1.1.2",
						     .size = 2000, .content = 2 });
	int64_t b1 = add_instance(f, &(struct inst){ .patient_id = "PAT-B", .study_uid = "2.1",
						     .series_uid = "2.1.1", .sop_uid = "2.1.1.1",
						     .size = 3000, .content = 3, .modality = "MR" });
	assert_true(a1 != a2 && a2 != b1);

	/* The tree: two patients, one study each, one series each. */
	struct listing pats = children(c, CAT_VIEW_PATIENTS, 0, 0);
	assert_int_equal(pats.n, 2);
	const struct cat_node *pa = named(&pats, "PAT-A");
	assert_non_null(pa);
	assert_int_equal(pa->kind, CAT_PATIENT);
	assert_non_null(named(&pats, "PAT-B"));
	struct listing studies = children(c, CAT_VIEW_PATIENTS, CAT_PATIENT, pa->id);
	assert_int_equal(studies.n, 1);
	assert_string_equal(studies.node[0].name, "1.1");
	assert_int_equal(studies.node[0].kind, CAT_STUDY);
	assert_int_equal(studies.node[0].parent, pa->id);
	struct listing series = children(c, CAT_VIEW_PATIENTS, CAT_STUDY, studies.node[0].id);
	assert_int_equal(series.n, 1);
	assert_string_equal(series.node[0].name, "1.1.1");
	struct listing files = children(c, CAT_VIEW_PATIENTS, CAT_SERIES, series.node[0].id);
	assert_int_equal(files.n, 2);
	const struct cat_node *f2 = named(&files, "1.1.1.2.dcm");
	assert_non_null(f2);
	assert_int_equal(f2->kind, CAT_INSTANCE);
	assert_int_equal(f2->id, a2);
	assert_int_equal(f2->size, 2000);
	assert_true(f2->mtime_ns > 0);
	/* A folder's size is its count of children. */
	assert_int_equal(series.node[0].size, 2);

	/* Lookup by name, and by id. */
	struct cat_node n;
	assert_int_equal(catalog_lookup(c, CAT_SERIES, series.node[0].id, "1.1.1.1.dcm", &n), 0);
	assert_int_equal(n.id, a1);
	assert_int_equal(catalog_lookup(c, CAT_SERIES, series.node[0].id, "nothing.dcm", &n), -ENOENT);
	assert_int_equal(catalog_lookup(c, 0, 0, "PAT-B", &n), 0);
	assert_int_equal(catalog_node(c, CAT_INSTANCE, b1, &n), 0);
	assert_string_equal(n.name, "2.1.1.1.dcm");
	assert_int_equal(n.size, 3000);

	/* The instance row and its segments. */
	struct cat_instance row;
	assert_int_equal(catalog_instance_row(c, a2, &row), 0);
	assert_string_equal(row.sop_uid, "1.1.1.2");
	assert_int_equal(row.version, 1);
	assert_int_equal(row.size, 2000);
	assert_int_equal(row.series_id, series.node[0].id);
	assert_int_equal(row.study_id, studies.node[0].id);
	assert_int_equal(row.patient_id, pa->id);
	assert_int_equal(row.rec.pack, f->pack_id);
	assert_int_equal(row.rec.len, 300);
	struct blob_ref segs[RECORD_MAX_SEGMENTS];
	assert_int_equal(catalog_segments(c, a2, segs, RECORD_MAX_SEGMENTS), 2);
	assert_int_equal(segs[0].hash[0], 0);
	assert_int_equal(segs[1].hash[0], 1);
	assert_int_equal(segs[1].hash[1], 2);

	/* UIDs to ids, for every kind. */
	int64_t *ids = NULL;
	assert_int_equal(catalog_find_ids(c, CAT_PATIENT, "PAT-A", &ids), 1);
	assert_int_equal(ids[0], pa->id);
	free(ids);
	assert_int_equal(catalog_find_ids(c, CAT_STUDY, "1.1", &ids), 1);
	free(ids);
	assert_int_equal(catalog_find_ids(c, CAT_SERIES, "2.1.1", &ids), 1);
	free(ids);
	assert_int_equal(catalog_find_ids(c, CAT_INSTANCE, "1.1.1.1", &ids), 1);
	assert_int_equal(ids[0], a1);
	free(ids);
	ids = NULL;
	assert_int_equal(catalog_find_ids(c, CAT_INSTANCE, "9.9.9", &ids), 0);
	free(ids);
}

static void test_blobs_are_found_by_key(void **state)
{
	struct fixture *f = *state;
	struct catalog *c = f->cat;
	int64_t a = add_instance(f, &(struct inst){ .patient_id = "P", .study_uid = "1",
						    .series_uid = "1.1", .sop_uid = "1.1.1",
						    .size = 800, .content = 7 });
	struct blob_ref segs[RECORD_MAX_SEGMENTS], by_id, cand[4];
	assert_int_equal(catalog_segments(c, a, segs, RECORD_MAX_SEGMENTS), 2);
	assert_int_equal(catalog_blob_by_id(c, segs[1].id, &by_id), 0);
	assert_memory_equal(by_id.hash, segs[1].hash, HASH_LEN);
	assert_int_equal(by_id.raw_size, 400);
	assert_int_equal(by_id.enc_size, 200);
	assert_int_equal(by_id.pack, f->pack_id);
	assert_int_equal(catalog_blob_candidates(c, segs[1].hash, cand, 4), 1);
	assert_int_equal(cand[0].id, segs[1].id);
	uint8_t other[HASH_LEN];
	memset(other, 0xEE, sizeof(other));
	assert_int_equal(catalog_blob_candidates(c, other, cand, 4), 0);
	assert_int_equal(catalog_blob_by_key(c, other, 0, &by_id), -ENOENT);
	/* A second content with the same key gets the next ordinal. */
	struct blob_ref twin = segs[1];
	twin.id = 0;
	twin.ordinal = 1;
	twin.offset += 100000;
	assert_int_equal(catalog_begin(c), 0);
	assert_int_equal(catalog_insert_blob(c, &twin), 0);
	assert_int_equal(catalog_commit(c), 0);
	assert_true(twin.id > 0 && twin.id != segs[1].id);
	assert_int_equal(catalog_blob_candidates(c, segs[1].hash, cand, 4), 2);
	assert_int_equal(cand[0].ordinal, 0);
	assert_int_equal(cand[1].ordinal, 1);
	/* Pack names and ids. */
	char name[64];
	int64_t id;
	assert_int_equal(catalog_pack_name(c, f->pack_id, name, sizeof(name)), 0);
	assert_string_equal(name, "0000000001.pack");
	assert_int_equal(catalog_pack_find(c, "0000000001.pack", &id), 0);
	assert_int_equal(id, f->pack_id);
	assert_int_equal(catalog_pack_find(c, "nope.pack", &id), -ENOENT);
}

static void test_hostile_values_get_safe_unique_names(void **state)
{
	struct fixture *f = *state;
	struct catalog *c = f->cat;
	/* Two 600-byte PatientIDs that differ only at their end, a '/', '..',
	 * none at all, and a NUL kept as 0x01 '0' (dicom.h). */
	char long_a[601], long_b[601];
	memset(long_a, 'L', 600);
	long_a[600] = '\0';
	memcpy(long_b, long_a, sizeof(long_b));
	long_b[599] = 'M';
	const char *ids[] = { long_a, long_b, "a/b", "..", "", "AAAA\x01" "0BBBB", "AAAA\x01" "0CCCC" };
	const int n = (int)(sizeof(ids) / sizeof(ids[0]));
	for (int i = 0; i < n; i++) {
		char study[32], series[32], sop[32];
		snprintf(study, sizeof(study), "1.%d", i);
		snprintf(series, sizeof(series), "1.%d.1", i);
		snprintf(sop, sizeof(sop), "1.%d.1.1", i);
		add_instance(f, &(struct inst){ .patient_id = ids[i], .study_uid = study,
						 .series_uid = series, .sop_uid = sop,
						 .size = 100, .content = (uint8_t)(10 + i) });
	}
	struct listing pats = children(c, CAT_VIEW_PATIENTS, 0, 0);
	assert_int_equal(pats.n, n);
	for (int i = 0; i < n; i++) {
		const char *name = pats.node[i].name;
		assert_true(name[0] != '\0');
		assert_true(strlen(name) <= NAME_COMPONENT_MAX);
		assert_null(strchr(name, '/'));
		assert_true(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
		assert_true(name[0] != '.');
		for (int j = 0; j < i; j++)
			assert_string_not_equal(name, pats.node[j].name);
		/* Every name, cut or not, is found again by lookup. */
		struct cat_node back;
		assert_int_equal(catalog_lookup(c, 0, 0, name, &back), 0);
		assert_int_equal(back.id, pats.node[i].id);
	}
	assert_non_null(named(&pats, "a%2Fb"));
	assert_non_null(named(&pats, "%2E."));
	/* No PatientID: the patient is named by name, birth date and issuer. */
	int noid = 0;
	for (int i = 0; i < n; i++)
		noid += strncmp(pats.node[i].name, "%noid-", 6) == 0 && strlen(pats.node[i].name) == 14;
	assert_int_equal(noid, 1);
	assert_non_null(named(&pats, "AAAA%010BBBB"));
	/* The whole value is kept: the long IDs are found whole. */
	int64_t *found = NULL;
	assert_int_equal(catalog_find_ids(c, CAT_PATIENT, long_b, &found), 1);
	free(found);
}

/* Schema 3 keeps a file name only when the SOP UID does not give it
 * plainly: plain, escaped, leading-dot and cut UIDs, two versions each, are
 * all listed and found again by name in /patients and /versions; near
 * misses (another series, a version written v01, the escaped spelling of
 * a plain UID) are not found. */
static void test_instance_names_plain_and_kept(void **state)
{
	struct fixture *f = *state;
	struct catalog *c = f->cat;
	char cut[301];
	memset(cut, '9', 300);
	cut[300] = '\0';
	const char *sops[] = { "1.2.3", "1.2 3/x", ".5", cut };
	const int n = (int)(sizeof(sops) / sizeof(sops[0]));
	int64_t first = 0;
	for (int v = 0; v < 2; v++)
		for (int i = 0; i < n; i++) {
			int64_t id = add_instance(f, &(struct inst){ .patient_id = "P", .study_uid = "1.9",
						  .series_uid = "1.9.1", .sop_uid = sops[i], .size = 100,
						  .content = (uint8_t)(40 + 4 * v + i) });
			if (!first)
				first = id;
		}
	add_instance(f, &(struct inst){ .patient_id = "P", .study_uid = "1.9", .series_uid = "1.9.2",
					 .sop_uid = "7.7", .size = 100, .content = 60 });
	struct cat_node series;
	assert_int_equal(catalog_node(c, CAT_INSTANCE, first, &series), 0);
	int64_t ser = series.parent;
	struct listing shown = children(c, CAT_VIEW_PATIENTS, CAT_SERIES, ser);
	assert_int_equal(shown.n, n);
	assert_non_null(named(&shown, "1.2.3.dcm"));
	assert_non_null(named(&shown, "1.2%203%2Fx.dcm"));
	assert_non_null(named(&shown, "%2E5.dcm"));
	for (int i = 0; i < shown.n; i++) {
		struct cat_node back;
		assert_int_equal(catalog_lookup(c, CAT_SERIES, ser, shown.node[i].name, &back), 0);
		assert_int_equal(back.id, shown.node[i].id);
		assert_true(strlen(shown.node[i].name) <= NAME_COMPONENT_MAX);
	}
	struct listing all = children(c, CAT_VIEW_VERSIONS, CAT_SERIES, ser);
	assert_int_equal(all.n, 2 * n);
	assert_non_null(named(&all, "1.2.3.v2.dcm"));
	assert_non_null(named(&all, "%2E5.v1.dcm"));
	for (int i = 0; i < all.n; i++) {
		struct cat_node back;
		assert_int_equal(catalog_view_lookup(c, CAT_VIEW_VERSIONS, CAT_SERIES, ser,
						     all.node[i].name, &back), 0);
		assert_int_equal(back.id, all.node[i].id);
	}
	struct cat_node miss;
	assert_int_equal(catalog_lookup(c, CAT_SERIES, ser, "7.7.dcm", &miss), -ENOENT);
	assert_int_equal(catalog_lookup(c, CAT_SERIES, ser, "%31.2.3.dcm", &miss), -ENOENT);
	assert_int_equal(catalog_lookup(c, CAT_SERIES, ser, "1.2.3", &miss), -ENOENT);
	assert_int_equal(catalog_view_lookup(c, CAT_VIEW_VERSIONS, CAT_SERIES, ser, "1.2.3.v01.dcm",
					     &miss), -ENOENT);
	assert_int_equal(catalog_view_lookup(c, CAT_VIEW_VERSIONS, CAT_SERIES, ser, "1.2.3.v3.dcm",
					     &miss), -ENOENT);
	assert_int_equal(catalog_view_lookup(c, CAT_VIEW_VERSIONS, CAT_SERIES, ser, "1.2.3.dcm",
					     &miss), -ENOENT);
	/* The folder lists in the order stored; the next in it follow. */
	int64_t ids[8];
	uint64_t sizes[8];
	assert_int_equal(catalog_next_in_series(c, shown.node[0].id, ids, sizes, 8), n - 1);
	assert_int_equal(ids[0], shown.node[1].id);
}

/* A bulk build (reindex's connection): rows go in without their folders'
 * counts and current versions, which catalog_build_indexes and
 * catalog_prune settle at the end (a clean version over a newer unclean
 * one); the finished index then opens as any other, its feed and kept
 * totals made and right. */
static void test_bulk_build(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	char *dir = scratch_make();
	struct catalog *normal = f->cat;
	assert_int_equal(catalog_build_open(dir, &f->cat, err, sizeof(err)), 0);
	struct catalog *c = f->cat;
	assert_int_equal(catalog_begin(c), 0);
	assert_int_equal(catalog_pack_id(c, "0000000001.pack", &f->pack_id), 0);
	assert_int_equal(catalog_commit(c), 0);
	int64_t clean = add_instance(f, &(struct inst){ .patient_id = "B", .study_uid = "5",
				     .series_uid = "5.1", .sop_uid = "5.1.1", .size = 100, .content = 1,
				     .unsettled = 1 });
	add_instance(f, &(struct inst){ .patient_id = "B", .study_uid = "5", .series_uid = "5.1",
				     .sop_uid = "5.1.1", .unclean = "bytes after the pixel data",
				     .size = 120, .content = 2, .unsettled = 1 });
	add_instance(f, &(struct inst){ .patient_id = "B", .study_uid = "5", .series_uid = "5.1",
				     .sop_uid = "5.1.2", .size = 100, .content = 3, .unsettled = 1 });
	struct cat_node n;
	assert_int_equal(catalog_node(c, CAT_INSTANCE, clean, &n), 0);
	int64_t ser = n.parent;
	assert_int_equal(children(c, CAT_VIEW_PATIENTS, CAT_SERIES, ser).n, 0);   /* not settled */
	assert_int_equal(catalog_build_indexes(c), 0);
	assert_int_equal(catalog_begin(c), 0);
	assert_int_equal(catalog_prune(c), 0);
	assert_int_equal(catalog_commit(c), 0);
	struct listing shown = children(c, CAT_VIEW_PATIENTS, CAT_SERIES, ser);
	assert_int_equal(shown.n, 2);
	const struct cat_node *first = named(&shown, "5.1.1.dcm");
	assert_non_null(first);
	assert_int_equal(first->id, clean);
	assert_int_equal(children(c, CAT_VIEW_VERSIONS, CAT_SERIES, ser).n, 3);
	assert_int_equal(children(c, CAT_VIEW_PATIENTS, 0, 0).n, 1);
	catalog_close(c);
	assert_int_equal(catalog_open(dir, 0, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(catalog_tallies_check(c, err, sizeof(err)), 0);
	assert_int_equal(children(c, CAT_VIEW_QUARANTINE, CAT_SERIES, ser).n, 1);
	catalog_close(c);
	f->cat = normal;
	scratch_remove(dir);
	free(dir);
}

/* ---- versions, current, views ---- */

static void test_versions_and_current(void **state)
{
	struct fixture *f = *state;
	struct catalog *c = f->cat;
	struct inst v = { .patient_id = "P", .study_uid = "1", .series_uid = "1.1",
			  .sop_uid = "1.1.7", .size = 500, .content = 1 };
	int64_t v1 = add_instance(f, &v);
	v.content = 2;
	v.unclean = "bytes after the pixel data";
	int64_t v2 = add_instance(f, &v);

	struct cat_version *vers = NULL;
	assert_int_equal(catalog_versions(c, "1.1.7", &vers), 2);
	assert_int_equal(vers[0].version, 1);
	assert_int_equal(vers[0].instance_id, v1);
	assert_int_equal(vers[1].version, 2);
	assert_int_equal(vers[1].instance_id, v2);
	/* The newest clean version is current, not the newer unclean one. */
	assert_int_equal(vers[0].current, 1);
	assert_int_equal(vers[1].current, 0);
	assert_int_equal(vers[0].unclean, 0);
	assert_int_equal(vers[1].unclean, 1);
	free(vers);

	int64_t *ser = NULL;
	assert_int_equal(catalog_find_ids(c, CAT_SERIES, "1.1", &ser), 1);
	int64_t series_id = ser[0];
	free(ser);
	/* /patients: one file per SOPInstanceUID; /versions: every version;
	 * /quarantine: the unclean one. */
	struct listing shown = children(c, CAT_VIEW_PATIENTS, CAT_SERIES, series_id);
	assert_int_equal(shown.n, 1);
	assert_string_equal(shown.node[0].name, "1.1.7.dcm");
	assert_int_equal(shown.node[0].id, v1);
	struct listing all = children(c, CAT_VIEW_VERSIONS, CAT_SERIES, series_id);
	assert_int_equal(all.n, 2);
	assert_non_null(named(&all, "1.1.7.v1.dcm"));
	assert_non_null(named(&all, "1.1.7.v2.dcm"));
	struct listing quarantined = children(c, CAT_VIEW_QUARANTINE, CAT_SERIES, series_id);
	assert_int_equal(quarantined.n, 1);
	assert_string_equal(quarantined.node[0].name, "1.1.7.v2.dcm");
	struct cat_node n;
	assert_int_equal(catalog_view_lookup(c, CAT_VIEW_VERSIONS, CAT_SERIES, series_id,
					     "1.1.7.v2.dcm", &n), 0);
	assert_int_equal(n.id, v2);
	assert_int_equal(catalog_view_lookup(c, CAT_VIEW_QUARANTINE, CAT_SERIES, series_id,
					     "1.1.7.v1.dcm", &n), -ENOENT);

	/* A later clean version becomes current. */
	v.content = 3;
	v.unclean = NULL;
	int64_t v3 = add_instance(f, &v);
	assert_int_equal(catalog_versions(c, "1.1.7", &vers), 3);
	assert_int_equal(vers[2].instance_id, v3);
	assert_int_equal(vers[0].current + vers[1].current, 0);
	assert_int_equal(vers[2].current, 1);
	free(vers);
	shown = children(c, CAT_VIEW_PATIENTS, CAT_SERIES, series_id);
	assert_int_equal(shown.n, 1);
	assert_int_equal(shown.node[0].id, v3);

	/* An instance with only an unclean version shows it anyway. */
	int64_t only = add_instance(f, &(struct inst){ .patient_id = "P", .study_uid = "1",
						       .series_uid = "1.1", .sop_uid = "1.1.8",
						       .size = 10, .content = 9,
						       .unclean = "ends inside an element" });
	shown = children(c, CAT_VIEW_PATIENTS, CAT_SERIES, series_id);
	assert_int_equal(shown.n, 2);
	assert_int_equal(named(&shown, "1.1.8.dcm")->id, only);
}

struct quarantine_seen {
	int n, current;
	char reason[160];
};

static int on_quarantined(void *arg, int64_t instance_id, const char *path, int current,
			  const char *reason)
{
	struct quarantine_seen *q = arg;
	(void)instance_id;
	assert_non_null(strstr(path, ".v1.dcm"));
	q->n++;
	q->current += current;
	snprintf(q->reason, sizeof(q->reason), "%s", reason);
	return 0;
}

static void test_quarantine_list(void **state)
{
	struct fixture *f = *state;
	add_instance(f, &(struct inst){ .patient_id = "Q", .study_uid = "5", .series_uid = "5.1",
					 .sop_uid = "5.1.1", .size = 10, .content = 4,
					 .unclean = "trailing bytes" });
	add_instance(f, &(struct inst){ .patient_id = "Q", .study_uid = "5", .series_uid = "5.1",
					 .sop_uid = "5.1.2", .size = 10, .content = 5 });
	struct quarantine_seen q = { 0 };
	assert_int_equal(catalog_quarantined(f->cat, on_quarantined, &q), 0);
	assert_int_equal(q.n, 1);
	assert_int_equal(q.current, 1);    /* nothing clean to show instead */
	assert_string_equal(q.reason, "trailing bytes");
}

/* ---- removal ---- */

static void test_remove_prunes_empty_folders(void **state)
{
	struct fixture *f = *state;
	struct catalog *c = f->cat;
	add_instance(f, &(struct inst){ .patient_id = "KEEP", .study_uid = "1", .series_uid = "1.1",
					 .sop_uid = "1.1.1", .size = 100, .content = 1 });
	add_instance(f, &(struct inst){ .patient_id = "GO", .study_uid = "2", .series_uid = "2.1",
					 .sop_uid = "2.1.1", .size = 100, .content = 2 });
	add_instance(f, &(struct inst){ .patient_id = "GO", .study_uid = "2", .series_uid = "2.1",
					 .sop_uid = "2.1.1", .size = 100, .content = 3 }); /* version 2 */
	add_instance(f, &(struct inst){ .patient_id = "KEEP", .study_uid = "1", .series_uid = "1.2",
					 .sop_uid = "1.2.1", .size = 100, .content = 4 });

	remove_sop(f, "2.1.1");     /* both versions */
	struct cat_version *vers = NULL;
	assert_int_equal(catalog_versions(c, "2.1.1", &vers), 0);
	free(vers);
	struct listing pats = children(c, CAT_VIEW_PATIENTS, 0, 0);
	assert_int_equal(pats.n, 1);
	assert_string_equal(pats.node[0].name, "KEEP");
	int64_t *ids = NULL;
	assert_int_equal(catalog_find_ids(c, CAT_STUDY, "2", &ids), 0);
	free(ids);

	/* One series of two goes: the study stays with the other. */
	remove_sop(f, "1.2.1");
	struct listing studies = children(c, CAT_VIEW_PATIENTS, CAT_PATIENT, pats.node[0].id);
	assert_int_equal(studies.n, 1);
	struct listing series = children(c, CAT_VIEW_PATIENTS, CAT_STUDY, studies.node[0].id);
	assert_int_equal(series.n, 1);
	assert_string_equal(series.node[0].name, "1.1");
	assert_int_equal(studies.node[0].size, 1);

	/* Deleting an instance that is not there says so. */
	assert_int_equal(catalog_begin(c), 0);
	assert_int_equal(catalog_delete_instance(c, 987654), -ENOENT);
	catalog_rollback(c);
}

static void test_reindex_tombstones(void **state)
{
	struct fixture *f = *state;
	struct catalog *c = f->cat;
	int64_t gone = add_instance(f, &(struct inst){ .patient_id = "T", .study_uid = "3",
						       .series_uid = "3.1", .sop_uid = "3.1.1",
						       .size = 100, .content = 1 });
	int64_t kept = add_instance(f, &(struct inst){ .patient_id = "U", .study_uid = "4",
						       .series_uid = "4.1", .sop_uid = "4.1.1",
						       .size = 100, .content = 2 });
	assert_int_equal(catalog_rx_begin(c), 0);
	assert_int_equal(catalog_rx_tomb_add(c, gone), 0);
	assert_int_equal(catalog_rx_tomb_has(c, gone), 1);
	assert_int_equal(catalog_rx_tomb_has(c, kept), 0);
	/* Applying a tombstone drops the row and the folders it emptied at
	 * once, so that a later record cannot join a stale folder. */
	assert_int_equal(catalog_begin(c), 0);
	assert_int_equal(catalog_rx_tomb_apply(c, gone), 0);
	assert_int_equal(catalog_commit(c), 0);
	int64_t *ids = NULL;
	assert_int_equal(catalog_find_ids(c, CAT_PATIENT, "T", &ids), 0);
	free(ids);
	assert_int_equal(catalog_find_ids(c, CAT_PATIENT, "U", &ids), 1);
	free(ids);
	assert_int_equal(catalog_begin(c), 0);
	assert_int_equal(catalog_rx_tomb_apply(c, gone), -ENOENT);
	catalog_rollback(c);

	/* Deferred records come back in the order they were put, whole. */
	uint8_t p1[5] = { 1, 2, 3, 4, 5 }, p2[3] = { 9, 8, 7 };
	struct record_loc l1 = { f->pack_id, 100, sizeof(p1) }, l2 = { f->pack_id, 50, sizeof(p2) };
	assert_int_equal(catalog_rx_defer(c, &l1, p1), 0);
	assert_int_equal(catalog_rx_defer(c, &l2, p2), 0);
	int64_t cursor = 0;
	struct record_loc got;
	void *payload;
	assert_int_equal(catalog_rx_deferred_next(c, &cursor, &got, &payload), 1);
	assert_int_equal(got.offset, 100);
	assert_int_equal(got.len, sizeof(p1));
	assert_memory_equal(payload, p1, sizeof(p1));
	free(payload);
	assert_int_equal(catalog_rx_deferred_next(c, &cursor, &got, &payload), 1);
	assert_int_equal(got.offset, 50);
	assert_memory_equal(payload, p2, sizeof(p2));
	free(payload);
	assert_int_equal(catalog_rx_deferred_next(c, &cursor, &got, &payload), 0);
	assert_null(payload);
}

/* ---- totals ---- */

struct by_modality {
	int64_t ct, mr, other;
};

static int on_modality(void *arg, const char *modality, const struct cat_totals *t)
{
	struct by_modality *m = arg;
	if (strcmp(modality, "CT") == 0)
		m->ct = t->instances;
	else if (strcmp(modality, "MR") == 0)
		m->mr = t->instances;
	else
		m->other += t->instances;
	return 0;
}

/* The totals of a few instances, then of those left after a removal. */
static void totals_hold(struct fixture *f)
{
	struct catalog *c = f->cat;
	struct cat_totals t;
	assert_int_equal(catalog_totals(c, &t), 0);
	assert_int_equal(t.instances, 0);
	assert_int_equal(t.patients, 0);
	add_instance(f, &(struct inst){ .patient_id = "A", .study_uid = "1", .series_uid = "1.1",
					 .sop_uid = "1.1.1", .size = 1000, .content = 1 });
	add_instance(f, &(struct inst){ .patient_id = "A", .study_uid = "1", .series_uid = "1.1",
					 .sop_uid = "1.1.1", .size = 1200, .content = 2 });
	add_instance(f, &(struct inst){ .patient_id = "A", .study_uid = "1", .series_uid = "1.2",
					 .sop_uid = "1.2.1", .size = 3000, .content = 3, .modality = "MR" });
	add_instance(f, &(struct inst){ .patient_id = "B", .study_uid = "2", .series_uid = "2.1",
					 .sop_uid = "2.1.1", .size = 4000, .content = 4 });
	assert_int_equal(catalog_totals(c, &t), 0);
	assert_int_equal(t.patients, 2);
	assert_int_equal(t.studies, 2);
	assert_int_equal(t.series, 3);
	assert_int_equal(t.instances, 4);
	assert_int_equal(t.versions, 1);           /* versions after the first */
	assert_int_equal(t.logical_bytes, 1000 + 1200 + 3000 + 4000);
	/* Every instance has two blobs of size/4 encoded bytes each. */
	assert_int_equal(t.stored_bytes, 2 * (250 + 300 + 750 + 1000));
	struct by_modality m = { 0 };
	assert_int_equal(catalog_totals_by_modality(c, on_modality, &m), 0);
	assert_int_equal(m.ct, 3);
	assert_int_equal(m.mr, 1);
	assert_int_equal(m.other, 0);
	/* And after a removal. */
	remove_sop(f, "2.1.1");
	assert_int_equal(catalog_totals(c, &t), 0);
	assert_int_equal(t.patients, 1);
	assert_int_equal(t.instances, 3);
	assert_int_equal(t.logical_bytes, 1000 + 1200 + 3000);
}

/* A new index counts its totals from the rows (it gets kept ones at its
 * next writable open). */
static void test_totals(void **state)
{
	totals_hold(*state);
}

/* Reopened writable, the index keeps its totals; they hold as counted,
 * and a kept total that differs from the rows is found. */
static void test_totals_kept(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	catalog_close(f->cat);
	assert_int_equal(catalog_open(f->dir, 0, 0, &f->cat, err, sizeof(err)), 0);
	totals_hold(f);
	assert_int_equal(catalog_tallies_check(f->cat, err, sizeof(err)), 0);
	assert_int_equal(catalog_exec(f->cat, "UPDATE blob_tallies SET enc=enc+1"), 0);
	assert_int_equal(catalog_tallies_check(f->cat, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "blob_tallies"));
}


/* ---- find ---- */

struct found {
	int n;
	int64_t series, instances;
	char names[8][64];
};

static int on_study(void *arg, const struct cat_study_info *i)
{
	struct found *f = arg;
	if (f->n < 8)
		snprintf(f->names[f->n], sizeof(f->names[0]), "%s", i->patient_name);
	f->n++;
	f->series += i->nseries;
	f->instances += i->ninstances;
	return 0;
}

static struct found find(struct catalog *c, struct cat_study_filter flt)
{
	struct found f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(catalog_find_studies(c, &flt, on_study, &f), 0);
	return f;
}

static void test_find_studies(void **state)
{
	struct fixture *f = *state;
	struct catalog *c = f->cat;
	add_instance(f, &(struct inst){ .patient_id = "P1", .patient_name = "DOE^JOHN", .birth_date = "19500101",
					.study_uid = "1.1", .series_uid = "1.1.1", .sop_uid = "1.1.1.1", .modality = "CT",
					.size = 1000, .content = 1 });
	add_instance(f, &(struct inst){ .patient_id = "P1", .patient_name = "DOE^JOHN", .birth_date = "19500101",
					.study_uid = "1.1", .series_uid = "1.1.2", .sop_uid = "1.1.2.1", .modality = "MR",
					.size = 1000, .content = 2 });
	add_instance(f, &(struct inst){ .patient_id = "P1", .patient_name = "DOE^JOHN", .birth_date = "19500101",
					.study_uid = "1.1", .series_uid = "1.1.2", .sop_uid = "1.1.2.2", .modality = "MR",
					.size = 1000, .content = 3 });
	add_instance(f, &(struct inst){ .patient_id = "P2", .patient_name = "doe^jane", .birth_date = "19600202",
					.study_uid = "2.1", .series_uid = "2.1.1", .sop_uid = "2.1.1.1", .modality = "US",
					.size = 1000, .content = 4 });
	add_instance(f, &(struct inst){ .patient_id = "Q3", .patient_name = "O'BRIEN^[X]", .birth_date = "",
					.study_uid = "3.1", .series_uid = "3.1.1", .sop_uid = "3.1.1.1", .modality = "CT",
					.size = 1000, .content = 5 });
	assert_int_equal(catalog_exec(c, "UPDATE studies SET study_date='20200115', description='CT Head',"
				      " accession='A1' WHERE study_uid='1.1';"
				      "UPDATE studies SET study_date='20210301', description='abdomen'"
				      " WHERE study_uid='2.1';"
				      "UPDATE studies SET study_date='2021' WHERE study_uid='3.1'"), 0);

	struct found r = find(c, (struct cat_study_filter){ 0 });
	assert_int_equal(r.n, 3);
	assert_int_equal(r.instances, 5);
	assert_int_equal(r.series, 4);
	/* names: DICOM patterns, letters in any case; exact without a wildcard */
	assert_int_equal(find(c, (struct cat_study_filter){ .name = "doe^j*" }).n, 2);
	assert_int_equal(find(c, (struct cat_study_filter){ .name = "DOE^J?HN" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .name = "DOE" }).n, 0);
	assert_int_equal(find(c, (struct cat_study_filter){ .name = "*ANE" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .name = "o'brien^[x]" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .name = "O'BRIEN^[*" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .name = "O'BRIEN^X*" }).n, 0);
	/* IDs keep their case; a pattern works there too */
	assert_int_equal(find(c, (struct cat_study_filter){ .patient_id = "P*" }).n, 2);
	assert_int_equal(find(c, (struct cat_study_filter){ .patient_id = "p1" }).n, 0);
	r = find(c, (struct cat_study_filter){ .patient_id = "P1" });
	assert_int_equal(r.n, 1);
	assert_int_equal(r.series, 2);
	assert_int_equal(r.instances, 3);
	/* dates: bounds inclusive, a value not 8 long never within them */
	assert_int_equal(find(c, (struct cat_study_filter){ .date_from = "20200115", .date_to = "20200115" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .date_from = "20200116" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .date_to = "20991231" }).n, 2);
	assert_int_equal(find(c, (struct cat_study_filter){ .birth_from = "19550101" }).n, 1);
	/* modality alone and with another condition (two query shapes) */
	assert_int_equal(find(c, (struct cat_study_filter){ .modality = "MR" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .modality = "CT" }).n, 2);
	assert_int_equal(find(c, (struct cat_study_filter){ .modality = "CT", .name = "DOE*" }).n, 1);
	/* a Modality code in lower case finds the upper-case value (both query shapes) */
	assert_int_equal(find(c, (struct cat_study_filter){ .modality = "ct" }).n, 2);
	assert_int_equal(find(c, (struct cat_study_filter){ .modality = "cT", .name = "DOE*" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .modality = "US", .name = "DOE^JOHN" }).n, 0);
	assert_int_equal(find(c, (struct cat_study_filter){ .accession = "A1" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .description = "HEAD" }).n, 1);
	assert_int_equal(find(c, (struct cat_study_filter){ .description = "*dom*" }).n, 1);
	/* what /patients no longer shows is not found */
	remove_sop(f, "2.1.1.1");
	assert_int_equal(find(c, (struct cat_study_filter){ .name = "doe^j*" }).n, 1);
}

/* ---- the readable views' queries ---- */

struct groups {
	int n;
	char value[8][32];
	int64_t first[8];
};

static int collect_group(void *arg, const char *value, int64_t mtime_ns, int64_t first_id)
{
	struct groups *g = arg;
	assert_true(mtime_ns > 0);
	if (g->n < 8) {
		snprintf(g->value[g->n], sizeof(g->value[0]), "%s", value);
		g->first[g->n] = first_id;
	}
	g->n++;
	return 0;
}

static struct groups groups(struct catalog *c, int by, const char *prefix, int len)
{
	struct groups g;
	memset(&g, 0, sizeof(g));
	assert_int_equal(catalog_study_groups(c, by, prefix, len, collect_group, &g), 0);
	return g;
}

static int count_study(void *arg, const struct cat_view_study *s)
{
	(void)s;
	(*(int *)arg)++;
	return 0;
}

static void test_view_groups(void **state)
{
	struct fixture *f = *state;
	struct catalog *c = f->cat;
	int64_t a = add_instance(f, &(struct inst){ .patient_id = "P", .study_uid = "1", .series_uid = "1.1",
		.sop_uid = "1.1.1", .size = 100, .content = 1, .study_date = "20210305", .accession = "A1",
		.description = "Head" });
	add_instance(f, &(struct inst){ .patient_id = "P", .study_uid = "2", .series_uid = "2.1",
		.sop_uid = "2.1.1", .size = 100, .content = 2, .study_date = "20210307", .accession = "A1" });
	add_instance(f, &(struct inst){ .patient_id = "Q", .study_uid = "3", .series_uid = "3.1",
		.sop_uid = "3.1.1", .size = 100, .content = 3, .study_date = "2021" });
	add_instance(f, &(struct inst){ .patient_id = "Q", .study_uid = "4", .series_uid = "4.1",
		.sop_uid = "4.1.1", .size = 100, .content = 4, .study_date = "19991231", .accession = "B%/" });

	struct groups g = groups(c, CAT_BY_DATE, "", 4);
	assert_int_equal(g.n, 3);               /* "" (undated: "2021" is no date), 1999, 2021 */
	assert_string_equal(g.value[0], "");
	assert_string_equal(g.value[1], "1999");
	assert_string_equal(g.value[2], "2021");
	g = groups(c, CAT_BY_DATE, "2021", 6);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.value[0], "202103");
	g = groups(c, CAT_BY_DATE, "202103", 8);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.value[1], "20210307");
	g = groups(c, CAT_BY_DATE, "20210306", 8);
	assert_int_equal(g.n, 0);
	g = groups(c, CAT_BY_ACCESSION, "", 0);
	assert_int_equal(g.n, 3);               /* "", "A1", "B%/" */
	assert_string_equal(g.value[0], "");
	assert_string_equal(g.value[1], "A1");
	assert_string_equal(g.value[2], "B%/");
	int64_t first_a1 = g.first[1];
	g = groups(c, CAT_BY_ACCESSION, "A1", 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.first[0], first_a1);
	g = groups(c, CAT_BY_ACCESSION, "A", 0);    /* a value, not a prefix */
	assert_int_equal(g.n, 0);

	int n = 0;
	assert_int_equal(catalog_group_studies(c, CAT_BY_ACCESSION, "A1", count_study, &n), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(catalog_group_studies(c, CAT_BY_DATE, "", count_study, &n), 0);
	assert_int_equal(n, 1);
	struct cat_view_study si;
	assert_int_equal(catalog_view_study(c, first_a1, &si), 0);
	assert_string_equal(si.patient_dir, "P");
	assert_string_equal(si.description, "Head");
	assert_string_equal(si.date, "20210305");
	assert_string_equal(si.accession, "A1");
	assert_int_equal(si.nchildren, 1);
	int64_t max = 0;
	assert_int_equal(catalog_max_row_id(c, &max), 0);
	assert_true(max >= a);

	/* A removed study leaves its groups. */
	remove_sop(f, "4.1.1");
	g = groups(c, CAT_BY_DATE, "", 4);
	assert_int_equal(g.n, 2);
	g = groups(c, CAT_BY_ACCESSION, "B%/", 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(catalog_view_study(c, 999999, &si), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_and_refuses_other_schemas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_ids_are_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_version_follows_other_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_place_and_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blobs_are_found_by_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_values_get_safe_unique_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instance_names_plain_and_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_build, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions_and_current, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_prunes_empty_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reindex_tombstones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_studies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_groups, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
