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

enum ino_kind {
	K_FIXED = 0,
	K_PATIENT = CAT_PATIENT,
	K_STUDY = CAT_STUDY,
	K_SERIES = CAT_SERIES,
	K_INSTANCE = CAT_INSTANCE,
	K_STUDIES = 5,
	K_SPOOL = 6,
};

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

#endif
