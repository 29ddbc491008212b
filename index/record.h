/*
 * record.h - instance records, the self-describing truth behind the index.
 *
 * Every stored instance has one record in a pack (an entry of type
 * PACK_ENTRY_INSTANCE, blobstore.h): its catalogue ids (so a rebuilt index
 * gives the same inode numbers), when it was stored, its size and
 * whole-file hash, its segments (by blob hash and ordinal), and the
 * indexed attributes.  A tombstone (PACK_ENTRY_TOMBSTONE) marks an
 * instance removed, so that reindex does not bring it back.  FORMAT.md
 * says the same in prose; the two must agree.
 *
 * Record payload, version 1 or 2.  Integers little endian; i64 signed,
 * the rest unsigned.  Version 2 is version 1 with more segments allowed:
 * it is written only for a record of more than 3 segments (a large pixel
 * value stored in pieces, ingest.h), so readers of version 1 refuse it
 * rather than misread it; every other record is still written as version 1.
 *
 *   offset   size  field
 *        0      4  record version: 1, or 2 when s > 3
 *        4      8  i64 instance id (the file's inode number in the mount)
 *       12      8  i64 series id
 *       20      8  i64 study id
 *       28      8  i64 patient id
 *       36      4  version: 1 for the first bytes under a SOPInstanceUID,
 *                  2, 3 ... for later different bytes
 *       40      8  i64 stored at, ns since 1970 (CLOCK_REALTIME)
 *       48      8  file size
 *       56     16  file hash: XXH3-128 of the whole file (hash.h)
 *       72      4  number of segments s, 1 to 3 in version 1, 1 to
 *                  RECORD_MAX_SEGMENTS in version 2
 *       76   32*s  segments, in file order, each:
 *                    +0 16 blob hash, +16 4 ordinal, +20 4 kind (enum
 *                    blob_kind), +24 8 raw size; a pixel value stored in
 *                    pieces is consecutive segments of kind pixels
 *   76+32s    ...  attributes to the end of the payload, each
 *                  u8 id, u16 length n, n bytes; text without a NUL,
 *                  integers i32 (n = 4).  Ids (record.c, fields[]):
 *                   1 transfer syntax UID   11 AccessionNumber
 *                   2 PatientID             12 ReferringPhysicianName
 *                   3 IssuerOfPatientID     13 SeriesInstanceUID
 *                   4 PatientName (UTF-8)   14 Modality
 *                   5 PatientBirthDate      15 SeriesDescription
 *                   6 PatientSex            16 SOPInstanceUID
 *                   7 StudyInstanceUID      17 SOPClassUID
 *                   8 StudyDate             18 SpecificCharacterSet
 *                   9 StudyTime             19 PhotometricInterpretation
 *                  10 StudyDescription      20 unclean reason (empty or
 *                                              absent: clean)
 *                  40 SeriesNumber (-1 absent)   45 BitsAllocated
 *                  41 InstanceNumber (-1 absent) 46 BitsStored
 *                  42 NumberOfFrames             47 SamplesPerPixel
 *                  43 Rows                       48 PlanarConfiguration
 *                  44 Columns                    49 PixelRepresentation
 *                                                50 syntax (enum dcm_syntax)
 *                  Unknown ids are skipped: they come from newer writers.
 *                  Identifying values (2-5, 7, 13, 16) are whole, with
 *                  0x00 written as 0x01 '0' and 0x01 as 0x01 0x01
 *                  (dicom.h).
 *
 * Tombstone payload, TOMBSTONE_BYTES: i64 instance id, i64 removed at (ns
 * since 1970).  An instance whose id has a tombstone anywhere is removed.
 */
#ifndef DCMFS_RECORD_H
#define DCMFS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "dicom.h"
#include "hash.h"

/* Header, up to 1024 pieces of pixel value, trailer. */
#define RECORD_MAX_PIECES 1024
#define RECORD_MAX_SEGMENTS (RECORD_MAX_PIECES + 2)

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

/* The payload of r, in a buffer the caller owns and frees (*out, *len
 * bytes).  r->nseg must be at most RECORD_MAX_SEGMENTS.  Returns 0, or
 * -ENOMEM (then *out is not set). */
int record_encode(const struct instance_record *r, uint8_t **out, size_t *len);
/* Parse the len-byte payload p into *r (overwritten whole; strings are
 * cut to their field in struct dcm_info, absent numbers stay 0, absent
 * series and instance numbers -1).  Returns 0, or -EBADMSG when the
 * payload is short, of another record version, has more segments than
 * its version allows, or an attribute runs past its end. */
int record_decode(const uint8_t *p, size_t len, struct instance_record *r);

#define TOMBSTONE_BYTES 16
/* The tombstone payload for instance_id, removed at when_ns.  Cannot fail. */
void tombstone_encode(int64_t instance_id, int64_t when_ns, uint8_t out[TOMBSTONE_BYTES]);
/* The instance id of a tombstone payload: 0, or -EBADMSG when len is not
 * TOMBSTONE_BYTES. */
int tombstone_decode(const uint8_t *p, size_t len, int64_t *instance_id);

#endif
