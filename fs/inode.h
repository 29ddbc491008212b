/*
 * inode.h - the mount's inode numbers (fs/ only).
 *
 * Inode numbers are stable across remounts: a kind in the top byte and a
 * catalogue row id below (row ids are never reused), or a small fixed number.
 * The daemon therefore keeps no per-inode table: an inode number alone says
 * which catalogue row (or /incoming entry) it names.
 *
 *   1 /            2 /patients        3 /incoming       4 /incoming/.rejected
 *   K_PATIENT|id   /patients/<p>                 (patients row)
 *   K_STUDIES|id   /patients/<p>/studies         (patients row of <p>)
 *   K_STUDY|id     .../studies/<study>           (studies row)
 *   K_SERIES|id    .../<study>/<series>          (series row)
 *   K_INSTANCE|id  .../<series>/<SOP>.dcm        (instances row)
 *   K_SPOOL|n      entries below /incoming; n counts up from 1 per mount
 *
 *   5 /versions    6 /quarantine
 *   view_kind(CAT_VIEW_VERSIONS, K_PATIENT..K_INSTANCE)|id
 *                  /versions/<p>/<study>/<series>/<SOP>.v<N>.dcm (every
 *                  version; no "studies" level), and the same below
 *                  /quarantine with CAT_VIEW_QUARANTINE (unclean versions):
 *                  the view in bits 4-5 of the kind, the catalogue kind below
 *
 *   7 /shares      (admin mount only)
 *   share_ino(slot, kind, id)   folders of a share, and files of a
 *                  de-identified share: K_SHARE (bit 6) | the kind in the
 *                  top byte, the share's slot in bits 40-55 and the row id
 *                  in bits 0-39 (row ids stay below 2^40).  Kinds as above
 *                  (K_PATIENT, K_STUDIES, K_STUDY, K_SERIES; K_INSTANCE for
 *                  a de-identified file, which is another file than the
 *                  stored one), and K_FIXED with id SHARE_ROOT (the share's
 *                  own folder, /shares/<NAME>) or SHARE_PATIENTS (its
 *                  patients/ folder).  A share's folders list other
 *                  children than the same folders under /patients, so they
 *                  need their own numbers.  Files of a plain share are the
 *                  stored files and keep K_INSTANCE|id: within one mount the
 *                  same instance has one inode number wherever it shows
 *                  (rsync -aH, du count it once).
 *                  Slots: a share mount (-o share=NAME) shows one share, in
 *                  slot 0, at its root; the admin mount gives each share it
 *                  meets the next slot from 1 (a share removed and made
 *                  again gets a new one, so numbers of the old one go
 *                  stale).  Share inode numbers are not kept across mounts.
 *
 *   8 /by-date     9 /by-accession   (views.c; not on share mounts)
 *   K_YEAR|YYYY, K_MONTH|YYYYMM, K_DAY|YYYYMMDD   /by-date/<YYYY>/<MM>/<DD>,
 *                  and K_DAY|DAY_UNKNOWN  /by-date/unknown
 *   K_ACCESSION|id /by-accession/<accession>: id is the smallest row id
 *                  among the group's shown studies
 *   K_DSTUDY|id, K_DSERIES|id  a study folder (studies row) in /by-date
 *                  and its series folders (series rows); K_ASTUDY|id,
 *                  K_ASERIES|id the same in /by-accession.  The files in
 *                  them are the stored files: K_INSTANCE|id.
 */
#ifndef DCMFS_FS_INODE_H
#define DCMFS_FS_INODE_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <stdint.h>

#include "catalog.h"

#define INO_ROOT 1
#define INO_PATIENTS 2
#define INO_INCOMING 3
#define INO_REJECTED 4
#define INO_VERSIONS 5
#define INO_QUARANTINE 6
#define INO_SHARES 7
#define INO_BYDATE 8
#define INO_BYACCESSION 9

enum ino_kind {
	K_FIXED = 0,
	K_PATIENT = CAT_PATIENT,
	K_STUDY = CAT_STUDY,
	K_SERIES = CAT_SERIES,
	K_INSTANCE = CAT_INSTANCE,
	K_STUDIES = 5,
	K_SPOOL = 6,
	K_YEAR = 7,             /* the readable views (views.c) */
	K_MONTH = 8,
	K_DAY = 9,
	K_ACCESSION = 10,
	K_DSTUDY = 11,
	K_ASTUDY = 12,
	K_DSERIES = 13,
	K_ASERIES = 14,
};
#define DAY_UNKNOWN 100000000   /* K_DAY of /by-date/unknown: no 8-digit date */
static inline int is_views_kind(int kind) { return kind >= K_YEAR && kind <= K_ASERIES; }

/* Kinds of the /versions and /quarantine views (catalog.h, enum cat_view). */
static inline int view_kind(int view, int cat_kind) { return view << 4 | cat_kind; }
static inline int kind_view(int kind) { return kind >> 4 & 3; }
static inline int kind_cat(int kind) { return kind & 15; }

#define INO_SHIFT 56
#define INO_ID_MASK ((UINT64_C(1) << INO_SHIFT) - 1)
static inline fuse_ino_t ino_make(int kind, int64_t id)
{
	return ((uint64_t)kind << INO_SHIFT) | ((uint64_t)id & INO_ID_MASK);
}
static inline int ino_kind(fuse_ino_t ino) { return (int)(ino >> INO_SHIFT); }
static inline int64_t ino_id(fuse_ino_t ino) { return (int64_t)(ino & INO_ID_MASK); }
static inline int is_views_ino(fuse_ino_t ino)
{
	return ino == INO_BYDATE || ino == INO_BYACCESSION || is_views_kind(ino_kind(ino));
}

/* Shares (above). */
#define K_SHARE 0x40
#define SHARE_ROOT 1
#define SHARE_PATIENTS 2
#define SHARE_SLOT_SHIFT 40
#define SHARE_ROW_MASK ((UINT64_C(1) << SHARE_SLOT_SHIFT) - 1)
#define SHARE_SLOTS 65535
static inline fuse_ino_t share_ino(int slot, int kind, int64_t id)
{
	return ino_make(K_SHARE | kind, (int64_t)((uint64_t)slot << SHARE_SLOT_SHIFT |
						  ((uint64_t)id & SHARE_ROW_MASK)));
}
static inline int is_share_ino(fuse_ino_t ino) { return (ino_kind(ino) & K_SHARE) != 0; }
static inline int share_ino_slot(fuse_ino_t ino)
{
	return (int)((uint64_t)ino_id(ino) >> SHARE_SLOT_SHIFT);
}
static inline int share_ino_kind(fuse_ino_t ino) { return ino_kind(ino) & ~K_SHARE; }
static inline int64_t share_ino_row(fuse_ino_t ino) { return (int64_t)((uint64_t)ino_id(ino) & SHARE_ROW_MASK); }

#endif
