/*
 * record.h - instance records, the self-describing truth behind the index.
 *
 * Every stored instance has one record in a pack: its catalogue ids (so a
 * rebuilt index gives the same inode numbers), when it was stored, its size
 * and whole-file hash, its segments (by blob hash and ordinal), and the
 * indexed attributes.  A tombstone record marks an instance deleted, so that
 * reindex does not bring it back.
 */
#ifndef DCMFS_RECORD_H
#define DCMFS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "dicom.h"
#include "hash.h"

#define RECORD_MAX_SEGMENTS 3

struct record_segment {
	uint8_t hash[HASH_LEN];
	uint32_t ordinal;
	uint32_t kind;
	uint64_t raw_size;
};

struct instance_record {
	int64_t instance_id, series_id, study_id, patient_id;
	uint32_t version;           /* 1 for the first bytes under a SOPInstanceUID */
	int64_t stored_at_ns;       /* CLOCK_REALTIME when stored */
	uint64_t size;
	uint8_t file_hash[HASH_LEN];
	uint32_t nseg;
	struct record_segment seg[RECORD_MAX_SEGMENTS];
	struct dcm_info info;       /* the indexed attributes */
};

/* Serialize into a malloc'd buffer.  Returns 0 or -ENOMEM. */
int record_encode(const struct instance_record *r, uint8_t **out, size_t *len);
/* Parse; returns 0 or -EBADMSG. */
int record_decode(const uint8_t *p, size_t len, struct instance_record *r);

/* Tombstone payload: the instance id and when it was deleted. */
#define TOMBSTONE_BYTES 16
void tombstone_encode(int64_t instance_id, int64_t when_ns, uint8_t out[TOMBSTONE_BYTES]);
int tombstone_decode(const uint8_t *p, size_t len, int64_t *instance_id);

#endif
