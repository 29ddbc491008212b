/*
 * catalog_impl.h - what a catalogue implementation provides (catalog.h).
 *
 * catalog.h is the one interface the rest of dcmfs uses; catalog.c opens
 * the implementation a store names (SQLite's index.db in the store folder,
 * or PostgreSQL when store.conf has a catalog line) and sends each call to
 * it through this table.  Every entry has the meaning, arguments and
 * return values catalog.h documents for catalog_<entry>; an implementation
 * that cannot do one returns -ENOTSUP with a reason for catalog_errmsg.
 *
 * An implementation's connection struct starts with struct catalog, whose
 * ops point at its table, so a struct catalog * is the connection.
 */
#ifndef DCMFS_CATALOG_IMPL_H
#define DCMFS_CATALOG_IMPL_H

#include "catalog.h"

struct catalog_ops {
	void (*close)(struct catalog *c);
	const char * (*errmsg)(struct catalog *c);
	int64_t (*data_version)(struct catalog *c);
	int (*bulk_writer)(struct catalog *c);
	int (*build_indexes)(struct catalog *c);
	int (*begin)(struct catalog *c);
	int (*commit)(struct catalog *c);
	void (*rollback)(struct catalog *c);
	int (*reserve_ids)(struct catalog *c, const char *kind, int64_t n, int64_t *first);
	int (*blob_candidates)(struct catalog *c, const uint8_t hash[HASH_LEN], struct blob_ref *out,
		int max);
	int (*blob_by_id)(struct catalog *c, int64_t id, struct blob_ref *out);
	int (*blob_by_key)(struct catalog *c, const uint8_t hash[HASH_LEN], uint32_t ordinal,
		struct blob_ref *out);
	int (*insert_blob)(struct catalog *c, struct blob_ref *ref);
	int (*pack_id)(struct catalog *c, const char *name, int64_t *id);
	int (*pack_find)(struct catalog *c, const char *name, int64_t *id);
	int (*pack_name)(struct catalog *c, int64_t id, char *name, size_t len);
	int (*versions)(struct catalog *c, const char *sop_uid, struct cat_version **out);
	int (*segments)(struct catalog *c, int64_t instance_id, struct blob_ref *segs, int max);
	int (*place)(struct catalog *c, struct instance_record *r, struct id_pool *patients,
		struct id_pool *studies, struct id_pool *series);
	int (*insert_instance)(struct catalog *c, const struct instance_record *r,
		const int64_t *seg_blob, const struct record_loc *loc);
	int (*delete_instance)(struct catalog *c, int64_t instance_id);
	int (*prune)(struct catalog *c);
	int (*children)(struct catalog *c, int parent_kind, int64_t parent_id, cat_node_cb cb,
		void *arg);
	int (*lookup)(struct catalog *c, int parent_kind, int64_t parent_id, const char *name,
		struct cat_node *out);
	int (*node)(struct catalog *c, int kind, int64_t id, struct cat_node *out);
	int (*instance_shown)(struct catalog *c, int64_t id, int64_t *series);
	int (*nodes)(struct catalog *c, int kind, const int64_t *ids, size_t n, cat_node_cb cb,
		void *arg);
	int (*instance_row)(struct catalog *c, int64_t instance_id, struct cat_instance *out);
	int (*identity)(struct catalog *c, int64_t instance_id, struct cat_identity *out);
	int (*folder_key)(struct catalog *c, int kind, int64_t id, char *key, size_t keylen,
		char *issuer, size_t issuerlen);
	int (*integrity_check)(struct catalog *c, char *msg, size_t len);
	int (*each_pack)(struct catalog *c, cat_pack_cb cb, void *arg);
	int (*affected)(struct catalog *c, int64_t pack, uint64_t start, uint64_t end,
		cat_affected_cb cb, void *arg);
	int (*blob_users)(struct catalog *c, int64_t blob_id, cat_affected_cb cb, void *arg);
	int (*instances_under)(struct catalog *c, int kind, int64_t id, cat_id_cb cb, void *arg);
	int (*next_in_series)(struct catalog *c, int64_t instance_id, int64_t *ids, uint64_t *sizes,
		int max);
	int (*find_ids)(struct catalog *c, int kind, const char *uid, int64_t **ids);
	int (*all_blobs)(struct catalog *c, cat_blob_cb cb, void *arg);
	int (*delete_blob)(struct catalog *c, int64_t blob_id);
	int (*log_import)(struct catalog *c, int64_t started_ns, int64_t ended_ns, int64_t n_new,
		int64_t n_dup, int64_t n_version, int64_t n_rejected, uint64_t bytes_in,
		uint64_t bytes_stored);
	int (*totals)(struct catalog *c, struct cat_totals *t);
	int (*totals_by_modality)(struct catalog *c, cat_modality_cb cb, void *arg);
	int (*tallies_check)(struct catalog *c, char *msg, size_t len);
	int (*view_children)(struct catalog *c, int view, int parent_kind, int64_t parent_id,
		cat_node_cb cb, void *arg);
	int (*view_lookup)(struct catalog *c, int view, int parent_kind, int64_t parent_id,
		const char *name, struct cat_node *out);
	int (*view_node)(struct catalog *c, int view, int kind, int64_t id, struct cat_node *out);
	int (*quarantined)(struct catalog *c, cat_quarantine_cb cb, void *arg);
	int (*rx_begin)(struct catalog *c);
	int (*rx_tomb_add)(struct catalog *c, int64_t instance_id);
	int (*rx_tomb_has)(struct catalog *c, int64_t instance_id);
	int (*rx_tomb_apply)(struct catalog *c, int64_t instance_id);
	int (*rx_defer)(struct catalog *c, const struct record_loc *loc, const void *payload);
	int (*rx_deferred_next)(struct catalog *c, int64_t *cursor, struct record_loc *loc,
		void **payload);
	int64_t (*change_seq)(struct catalog *c);
	int (*changes_since)(struct catalog *c, int64_t after, int64_t *last, cat_change_cb cb,
		void *arg);
	int (*shown_patients)(struct catalog *c, int64_t *count, int64_t *newest_ns);
	int (*study_groups)(struct catalog *c, int by, const char *prefix, int len, cat_group_cb cb,
		void *arg);
	int (*group_studies)(struct catalog *c, int by, const char *value, cat_view_study_cb cb,
		void *arg);
	int (*view_study)(struct catalog *c, int64_t id, struct cat_view_study *out);
	int (*max_row_id)(struct catalog *c, int64_t *out);
	int (*share_series)(struct catalog *c, const struct cat_share_rules *r, int64_t series_id,
		cat_share_cb cb, void *arg);
	int (*share_totals)(struct catalog *c, const struct cat_share_rules *r,
		struct cat_share_totals *t);
	int (*share_indexes)(struct catalog *c);
	int (*exec)(struct catalog *c, const char *sql);
	int (*find_studies)(struct catalog *c, const struct cat_study_filter *f, cat_study_cb cb,
		void *arg);
	int (*study_info)(struct catalog *c, int64_t study_id, cat_study_cb cb, void *arg);
	int (*patient_info)(struct catalog *c, int64_t patient_id, cat_patient_cb cb, void *arg);
	int (*series_info)(struct catalog *c, int64_t series_id, cat_series_cb cb, void *arg);
	int (*find_indexes)(struct catalog *c);
	int (*recent_imports)(struct catalog *c, int max, cat_import_cb cb, void *arg);
	int (*segments_owners)(struct catalog *c, int64_t instance_id, struct blob_ref *segs,
		int64_t *owners, int max);
	int (*blobs_unreferenced)(struct catalog *c, cat_blob_cb cb, void *arg);
	int (*instance_ids)(struct catalog *c, cat_id_cb cb, void *arg);
};

struct catalog {
	const struct catalog_ops *ops;
};

#endif
