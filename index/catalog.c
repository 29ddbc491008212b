/*
 * catalog.c - the catalogue interface (catalog.h): opens the implementation
 * a store uses and sends each call to it through its table
 * (catalog_impl.h): SQLite (catalog_sqlite.c), or PostgreSQL
 * (catalog_pg.c) when the store's store.conf names a catalogue.
 * An entry an implementation leaves NULL is a call it cannot do: -ENOTSUP.
 * The dispatch adds one indirect call per catalogue call, nothing next to
 * the query behind it.
 */
#include "catalog.h"

#include <errno.h>

#include "catalog_impl.h"
#include "catalog_pg.h"
#include "catalog_sqlite.h"
#include "storeconf.h"

/* The entry's answer, or -ENOTSUP when the implementation has none.  The
 * connection is the first argument. */
#define DISPATCH(entry, ...) \
	(c->ops->entry ? c->ops->entry(__VA_ARGS__) : -ENOTSUP)

/* The one place that chooses a store's implementation: PostgreSQL when
 * the store's store.conf names a catalogue (catalog_pg.h), else
 * STORE/index.db.  A store.conf that does not read is refused here too. */
int catalog_open(const char *store_dir, int create, int readonly,
		 struct catalog **out, char *err, size_t errlen)
{
	struct store_conf conf;
	int r = store_conf_read(store_dir, &conf, err, errlen);
	if (r && r != -ENOENT)
		return r;
	if (!r && conf.catalog[0])
		return catalog_pg_open(conf.catalog, create, readonly, out, err, errlen);
	return catalog_sqlite_open(store_dir, create, readonly, out, err, errlen);
}

int catalog_build_open(const char *dir, struct catalog **out, char *err, size_t errlen)
{
	return catalog_sqlite_build_open(dir, out, err, errlen);
}

/* As catalog_open chooses: PostgreSQL's build when store.conf names a
 * catalogue, else a new index.db in dir. */
int catalog_rebuild_open(const char *store_dir, const char *dir, struct catalog **out, char *err,
			 size_t errlen)
{
	struct store_conf conf;
	int r = store_conf_read(store_dir, &conf, err, errlen);
	if (r && r != -ENOENT)
		return r;
	if (!r && conf.catalog[0])
		return catalog_pg_build_open(conf.catalog, out, err, errlen);
	return catalog_build_open(dir, out, err, errlen);
}

void catalog_close(struct catalog *c)
{
	if (c && c->ops->close)
		c->ops->close(c);
}

const char *catalog_errmsg(struct catalog *c)
{
	return c->ops->errmsg ? c->ops->errmsg(c) : "not supported by this catalogue";
}

int64_t catalog_data_version(struct catalog *c)
{
	return c->ops->data_version ? c->ops->data_version(c) : -1;
}

void catalog_rollback(struct catalog *c)
{
	if (c->ops->rollback)
		c->ops->rollback(c);
}

int catalog_bulk_writer(struct catalog *c)
{
	return DISPATCH(bulk_writer, c);
}

int catalog_build_indexes(struct catalog *c)
{
	return DISPATCH(build_indexes, c);
}

int catalog_begin(struct catalog *c)
{
	return DISPATCH(begin, c);
}

int catalog_commit(struct catalog *c)
{
	return DISPATCH(commit, c);
}

int catalog_reserve_ids(struct catalog *c, const char *kind, int64_t n, int64_t *first)
{
	return DISPATCH(reserve_ids, c, kind, n, first);
}

int catalog_blob_candidates(struct catalog *c, const uint8_t hash[HASH_LEN],
		struct blob_ref *out, int max)
{
	return DISPATCH(blob_candidates, c, hash, out, max);
}

int catalog_blob_by_id(struct catalog *c, int64_t id, struct blob_ref *out)
{
	return DISPATCH(blob_by_id, c, id, out);
}

int catalog_blob_by_key(struct catalog *c, const uint8_t hash[HASH_LEN], uint32_t ordinal,
		struct blob_ref *out)
{
	return DISPATCH(blob_by_key, c, hash, ordinal, out);
}

int catalog_insert_blob(struct catalog *c, struct blob_ref *ref)
{
	return DISPATCH(insert_blob, c, ref);
}

int catalog_pack_id(struct catalog *c, const char *name, int64_t *id)
{
	return DISPATCH(pack_id, c, name, id);
}

int catalog_pack_find(struct catalog *c, const char *name, int64_t *id)
{
	return DISPATCH(pack_find, c, name, id);
}

int catalog_pack_name(struct catalog *c, int64_t id, char *name, size_t len)
{
	return DISPATCH(pack_name, c, id, name, len);
}

int catalog_versions(struct catalog *c, const char *sop_uid, struct cat_version **out)
{
	return DISPATCH(versions, c, sop_uid, out);
}

int catalog_segments(struct catalog *c, int64_t instance_id, struct blob_ref *segs, int max)
{
	return DISPATCH(segments, c, instance_id, segs, max);
}

int catalog_place(struct catalog *c, struct instance_record *r, struct id_pool *patients,
		struct id_pool *studies, struct id_pool *series)
{
	return DISPATCH(place, c, r, patients, studies, series);
}

int catalog_insert_instance(struct catalog *c, const struct instance_record *r,
		const int64_t *seg_blob, const struct record_loc *loc)
{
	return DISPATCH(insert_instance, c, r, seg_blob, loc);
}

int catalog_delete_instance(struct catalog *c, int64_t instance_id)
{
	return DISPATCH(delete_instance, c, instance_id);
}

int catalog_prune(struct catalog *c)
{
	return DISPATCH(prune, c);
}

int catalog_children(struct catalog *c, int parent_kind, int64_t parent_id, cat_node_cb cb,
		void *arg)
{
	return DISPATCH(children, c, parent_kind, parent_id, cb, arg);
}

int catalog_lookup(struct catalog *c, int parent_kind, int64_t parent_id, const char *name,
		struct cat_node *out)
{
	return DISPATCH(lookup, c, parent_kind, parent_id, name, out);
}

int catalog_node(struct catalog *c, int kind, int64_t id, struct cat_node *out)
{
	return DISPATCH(node, c, kind, id, out);
}

int catalog_instance_shown(struct catalog *c, int64_t id, int64_t *series)
{
	return DISPATCH(instance_shown, c, id, series);
}

int catalog_nodes(struct catalog *c, int kind, const int64_t *ids, size_t n, cat_node_cb cb,
		void *arg)
{
	return DISPATCH(nodes, c, kind, ids, n, cb, arg);
}

int catalog_instance_row(struct catalog *c, int64_t instance_id, struct cat_instance *out)
{
	return DISPATCH(instance_row, c, instance_id, out);
}

int catalog_identity(struct catalog *c, int64_t instance_id, struct cat_identity *out)
{
	return DISPATCH(identity, c, instance_id, out);
}

int catalog_folder_key(struct catalog *c, int kind, int64_t id, char *key, size_t keylen,
		char *issuer, size_t issuerlen)
{
	return DISPATCH(folder_key, c, kind, id, key, keylen, issuer, issuerlen);
}

int catalog_integrity_check(struct catalog *c, char *msg, size_t len)
{
	return DISPATCH(integrity_check, c, msg, len);
}

int catalog_each_pack(struct catalog *c, cat_pack_cb cb, void *arg)
{
	return DISPATCH(each_pack, c, cb, arg);
}

int catalog_affected(struct catalog *c, int64_t pack, uint64_t start, uint64_t end,
		cat_affected_cb cb, void *arg)
{
	return DISPATCH(affected, c, pack, start, end, cb, arg);
}

int catalog_blob_users(struct catalog *c, int64_t blob_id, cat_affected_cb cb, void *arg)
{
	return DISPATCH(blob_users, c, blob_id, cb, arg);
}

int catalog_instances_under(struct catalog *c, int kind, int64_t id, cat_id_cb cb, void *arg)
{
	return DISPATCH(instances_under, c, kind, id, cb, arg);
}

int catalog_next_in_series(struct catalog *c, int64_t instance_id, int64_t *ids,
		uint64_t *sizes, int max)
{
	return DISPATCH(next_in_series, c, instance_id, ids, sizes, max);
}

int catalog_find_ids(struct catalog *c, int kind, const char *uid, int64_t **ids)
{
	return DISPATCH(find_ids, c, kind, uid, ids);
}

int catalog_all_blobs(struct catalog *c, cat_blob_cb cb, void *arg)
{
	return DISPATCH(all_blobs, c, cb, arg);
}

int catalog_delete_blob(struct catalog *c, int64_t blob_id)
{
	return DISPATCH(delete_blob, c, blob_id);
}

int catalog_log_import(struct catalog *c, int64_t started_ns, int64_t ended_ns, int64_t n_new,
		int64_t n_dup, int64_t n_version, int64_t n_rejected, uint64_t bytes_in,
		uint64_t bytes_stored)
{
	return DISPATCH(log_import, c, started_ns, ended_ns, n_new, n_dup, n_version, n_rejected, bytes_in, bytes_stored);
}

int catalog_totals(struct catalog *c, struct cat_totals *t)
{
	return DISPATCH(totals, c, t);
}

int catalog_totals_by_modality(struct catalog *c, cat_modality_cb cb, void *arg)
{
	return DISPATCH(totals_by_modality, c, cb, arg);
}

int catalog_tallies_check(struct catalog *c, char *msg, size_t len)
{
	return DISPATCH(tallies_check, c, msg, len);
}

int catalog_view_children(struct catalog *c, int view, int parent_kind, int64_t parent_id,
		cat_node_cb cb, void *arg)
{
	return DISPATCH(view_children, c, view, parent_kind, parent_id, cb, arg);
}

int catalog_view_lookup(struct catalog *c, int view, int parent_kind, int64_t parent_id,
		const char *name, struct cat_node *out)
{
	return DISPATCH(view_lookup, c, view, parent_kind, parent_id, name, out);
}

int catalog_view_node(struct catalog *c, int view, int kind, int64_t id, struct cat_node *out)
{
	return DISPATCH(view_node, c, view, kind, id, out);
}

int catalog_quarantined(struct catalog *c, cat_quarantine_cb cb, void *arg)
{
	return DISPATCH(quarantined, c, cb, arg);
}

int catalog_rx_begin(struct catalog *c)
{
	return DISPATCH(rx_begin, c);
}

int catalog_rx_tomb_add(struct catalog *c, int64_t instance_id)
{
	return DISPATCH(rx_tomb_add, c, instance_id);
}

int catalog_rx_tomb_has(struct catalog *c, int64_t instance_id)
{
	return DISPATCH(rx_tomb_has, c, instance_id);
}

int catalog_rx_tomb_apply(struct catalog *c, int64_t instance_id)
{
	return DISPATCH(rx_tomb_apply, c, instance_id);
}

int catalog_rx_defer(struct catalog *c, const struct record_loc *loc, const void *payload)
{
	return DISPATCH(rx_defer, c, loc, payload);
}

int catalog_rx_deferred_next(struct catalog *c, int64_t *cursor, struct record_loc *loc,
		void **payload)
{
	return DISPATCH(rx_deferred_next, c, cursor, loc, payload);
}

int64_t catalog_change_seq(struct catalog *c)
{
	return DISPATCH(change_seq, c);
}

int catalog_changes_since(struct catalog *c, int64_t after, int64_t *last, cat_change_cb cb,
		void *arg)
{
	return DISPATCH(changes_since, c, after, last, cb, arg);
}

int catalog_shown_patients(struct catalog *c, int64_t *count, int64_t *newest_ns)
{
	return DISPATCH(shown_patients, c, count, newest_ns);
}

int catalog_study_groups(struct catalog *c, int by, const char *prefix, int len,
		cat_group_cb cb, void *arg)
{
	return DISPATCH(study_groups, c, by, prefix, len, cb, arg);
}

int catalog_group_studies(struct catalog *c, int by, const char *value, cat_view_study_cb cb,
		void *arg)
{
	return DISPATCH(group_studies, c, by, value, cb, arg);
}

int catalog_view_study(struct catalog *c, int64_t id, struct cat_view_study *out)
{
	return DISPATCH(view_study, c, id, out);
}

int catalog_max_row_id(struct catalog *c, int64_t *out)
{
	return DISPATCH(max_row_id, c, out);
}

int catalog_share_series(struct catalog *c, const struct cat_share_rules *r, int64_t series_id,
		cat_share_cb cb, void *arg)
{
	return DISPATCH(share_series, c, r, series_id, cb, arg);
}

int catalog_share_totals(struct catalog *c, const struct cat_share_rules *r,
		struct cat_share_totals *t)
{
	return DISPATCH(share_totals, c, r, t);
}

int catalog_share_indexes(struct catalog *c)
{
	return DISPATCH(share_indexes, c);
}

int catalog_exec(struct catalog *c, const char *sql)
{
	return DISPATCH(exec, c, sql);
}

int catalog_find_studies(struct catalog *c, const struct cat_study_filter *f, cat_study_cb cb,
		void *arg)
{
	return DISPATCH(find_studies, c, f, cb, arg);
}

int catalog_study_info(struct catalog *c, int64_t study_id, cat_study_cb cb, void *arg)
{
	return DISPATCH(study_info, c, study_id, cb, arg);
}

int catalog_patient_info(struct catalog *c, int64_t patient_id, cat_patient_cb cb, void *arg)
{
	return DISPATCH(patient_info, c, patient_id, cb, arg);
}

int catalog_series_info(struct catalog *c, int64_t series_id, cat_series_cb cb, void *arg)
{
	return DISPATCH(series_info, c, series_id, cb, arg);
}

int catalog_find_indexes(struct catalog *c)
{
	return DISPATCH(find_indexes, c);
}

int catalog_recent_imports(struct catalog *c, int max, cat_import_cb cb, void *arg)
{
	return DISPATCH(recent_imports, c, max, cb, arg);
}

int catalog_segments_owners(struct catalog *c, int64_t instance_id, struct blob_ref *segs,
		int64_t *owners, int max)
{
	return DISPATCH(segments_owners, c, instance_id, segs, owners, max);
}

int catalog_blobs_unreferenced(struct catalog *c, cat_blob_cb cb, void *arg)
{
	return DISPATCH(blobs_unreferenced, c, cb, arg);
}

int catalog_instance_ids(struct catalog *c, cat_id_cb cb, void *arg)
{
	return DISPATCH(instance_ids, c, cb, arg);
}
