/*
 * ino32.c - -o ino32: inode numbers a 32-bit program can hold.
 *
 * Old 32-bit programs built without large-file support call stat(2) and
 * getdents(2) with 32-bit st_ino and d_ino; the kernel fails them with
 * EOVERFLOW when a number does not fit, and every number of the mount
 * (inode.h: the kind in the top byte) does not.  With -o ino32 the numbers
 * the kernel shows (st_ino, d_ino) are folded to 32 bits: the kind as a
 * 5-bit code above a 27-bit row id, one to one for every id below 2^27.
 * The kernel still addresses inodes by the full numbers (FUSE node ids
 * are not what stat shows), so nothing else changes.  A store whose row
 * ids (reserved ones included) reach 2^27 is refused at mount.  Numbers
 * that cannot be folded one to one (folders of shares in the admin
 * mount, whose slot needs 16 more bits; /incoming entries past 2^27 in
 * one mount) are hashed into a code of their own and may collide: mount
 * a share alone (-o share=NAME,ino32) for exact numbers.
 */
#include "dcmfs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"

#define INO32_ID_BITS 27
#define INO32_ID_MAX ((INT64_C(1) << INO32_ID_BITS) - 1)
#define INO32_HASHED 31         /* the code of numbers that do not fold */

/* The 5-bit code of an inode kind (inode.h), or -1. */
static int kind_code(int kind)
{
	if (kind >= K_FIXED && kind <= K_ASERIES)
		return kind;                                    /* 0 .. 14 */
	if (kind >= view_kind(CAT_VIEW_VERSIONS, K_PATIENT) && kind <= view_kind(CAT_VIEW_VERSIONS, K_INSTANCE))
		return 15 + kind - view_kind(CAT_VIEW_VERSIONS, K_PATIENT);     /* 15 .. 18 */
	if (kind >= view_kind(CAT_VIEW_QUARANTINE, K_PATIENT) && kind <= view_kind(CAT_VIEW_QUARANTINE, K_INSTANCE))
		return 19 + kind - view_kind(CAT_VIEW_QUARANTINE, K_PATIENT);   /* 19 .. 22 */
	if (kind >= K_SHARE && kind <= (K_SHARE | K_STUDIES))
		return 23 + (kind & ~K_SHARE);                  /* 23 .. 28 */
	return -1;
}

static uint32_t ino32_of(fuse_ino_t ino)
{
	int kind = ino_kind(ino);
	int code = kind_code(kind);
	int64_t id = ino_id(ino);
	if (kind & K_SHARE) {
		if (share_ino_slot(ino))
			code = -1;
		id = share_ino_row(ino);
	}
	if (code < 0 || id > INO32_ID_MAX) {
		uint64_t h = checksum64(&ino, sizeof(ino));
		return (uint32_t)INO32_HASHED << INO32_ID_BITS | (uint32_t)(h & INO32_ID_MAX);
	}
	return (uint32_t)code << INO32_ID_BITS | (uint32_t)id;
}

void stat_for_kernel(const struct dcmfs *d, struct stat *st)
{
	if (d->o.ino32)
		st->st_ino = ino32_of(st->st_ino);
}

int ino32_check(const char *store_dir, char *err, size_t errlen)
{
	struct catalog *cat;
	char why[256];
	int64_t max = 0;
	int r = catalog_open(store_dir, 0, 1, &cat, why, sizeof(why));
	if (r) {
		snprintf(err, errlen, "-o ino32: %s", why);
		return r;
	}
	r = catalog_max_row_id(cat, &max);
	catalog_close(cat);
	if (r) {
		snprintf(err, errlen, "-o ino32: cannot read the store's row ids: %s", strerror(-r));
		return r;
	}
	if (max > INO32_ID_MAX) {
		snprintf(err, errlen, "-o ino32: row ids of this store reach %lld, more than 32-bit inode"
			 " numbers can hold (%lld); mount it without ino32", (long long)max,
			 (long long)INO32_ID_MAX);
		return -EOVERFLOW;
	}
	return 0;
}
