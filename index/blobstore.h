/*
 * blobstore.h - where blob bytes live on disk.
 *
 * Small blobs (headers, trailers, objects without pixels) and instance
 * records are appended to pack files; large blobs get a file each under
 * blobs/ab/cd/<hash>[.<ordinal>].  Both formats are self-describing (magic,
 * version, checksum) so that reindex can rebuild the catalogue from them
 * alone.  Nothing here knows SQL: the catalogue records where a blob is.
 *
 * Durability is the caller's job: writes land in the page cache, and the
 * ingest writer calls store_sync() (one syncfs for the whole batch) before
 * the rows that name the new data commit.
 *
 * Where the bytes are is datastore.h's business: every path below
 * (STORE/packs/..., STORE/blobs/...) goes through datastore_resolve, so a
 * store whose data lives in RADOS reads and writes the same formats there.
 */
#ifndef DCMFS_BLOBSTORE_H
#define DCMFS_BLOBSTORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

/* Encoded blobs at least this large get a file of their own. */
#define BLOB_FILE_THRESHOLD (64 * 1024)
/* A pack is closed and a new one started past this size. */
#define PACK_SIZE_LIMIT (256ull << 20)

enum blob_kind {
	BLOB_HEADER = 0,   /* preamble .. Pixel Data tag and length */
	BLOB_PIXELS = 1,   /* the Pixel Data value */
	BLOB_TRAILER = 2,  /* whatever follows the Pixel Data element */
	BLOB_WHOLE = 3,    /* a file without pixels, or a deflated file */
};

enum pack_entry_type {
	PACK_ENTRY_BLOB = 1,
	PACK_ENTRY_INSTANCE = 2,
	PACK_ENTRY_TOMBSTONE = 3,
};

/* Where a blob is: in pack `pack` at `offset` (of its encoded bytes), or in
 * its own file when pack is 0. */
struct blob_ref {
	int64_t id;
	uint8_t hash[HASH_LEN];
	uint32_t ordinal;       /* 0, or n for the n-th different content with this hash */
	uint32_t kind;
	uint64_t raw_size;
	uint64_t enc_size;
	int64_t pack;           /* pack row id, 0 = own file */
	uint64_t offset;
};

/* Header stored in front of a blob's encoded bytes, in packs and files. */
struct blob_header {
	uint8_t hash[HASH_LEN];
	uint32_t ordinal;
	uint32_t kind;
	uint64_t raw_size;
	uint64_t enc_size;
};

/* Serialized size of struct blob_header, as it precedes encoded bytes in a
 * pack blob entry.  decode checks the entry length and returns the header
 * size or -EBADMSG. */
#define BLOB_HEADER_BYTES 40
size_t blob_header_encode(const struct blob_header *h, uint8_t *out);
int blob_header_decode(const uint8_t *p, size_t len, struct blob_header *h);

/* ---- pack files ----
 *
 * A pack is a 16-byte file header, then entries, appended and never changed:
 *
 *   file header   "DCMFSPK1", u32 version (2; 1 in packs of older dcmfs), u32 0
 *   entry v2      u32 magic 0x32454b50 ("PKE2"), u64 checksum, u8 type,
 *                 u8[3] 0, u32 payload length, payload
 *                 checksum = XXH3-64 with seed = the file offset of the
 *                 entry's magic, over the 8 bytes from the type byte on and
 *                 the payload.  The seed binds an entry to where it is: a
 *                 copy of an entry inside another payload (a stored file
 *                 may carry any bytes) never checks out at another offset.
 *   entry v1      u32 magic 0x31454b50 ("PKE1"), u8 type, u8[3] 0,
 *                 u32 payload length, u64 XXH3-64(payload), payload
 *                 (unseeded: after damage in a v1 pack, a resync could take
 *                 an entry-like copy inside a payload for an entry)
 *
 * Both entry headers are PACK_ENTRY_HEADER bytes.  All integers are little
 * endian.  Payloads: a blob entry is the 40-byte blob header (below) and the
 * encoded bytes; an instance record (record.h); a tombstone (record.h).
 * New packs are v2; v1 packs (stores of older dcmfs) are read as they are.
 */
#define PACK_FILE_HEADER 16
#define PACK_ENTRY_HEADER 20

struct pack_writer;

/* Create a new pack under dir/packs with a unique name. */
int pack_writer_create(const char *store_dir, struct pack_writer **out,
		       char *err, size_t errlen);
void pack_writer_free(struct pack_writer *pw);
const char *pack_writer_name(const struct pack_writer *pw);
uint64_t pack_writer_size(const struct pack_writer *pw);
/* The size past which this pack is closed and a new one started:
 * PACK_SIZE_LIMIT, or less where the data store caps objects (RADOS). */
uint64_t pack_writer_limit(const struct pack_writer *pw);
/* Append one entry (payload = a then b); *payload_off gets the offset of
 * the payload's first byte in the pack.  Returns 0 or -errno. */
int pack_append(struct pack_writer *pw, int type, const void *a, size_t alen,
		const void *b, size_t blen, uint64_t *payload_off);
/* Cut the pack back to size (taken from pack_writer_size earlier): a batch
 * that rolled back leaves none of its entries for reindex to find. */
int pack_writer_truncate(struct pack_writer *pw, uint64_t size);

/* Walk every valid entry of a pack in order.  A bad entry (bad magic, a
 * length past the end, a checksum mismatch) does not end the walk: it
 * scans on byte by byte for the next offset where a valid entry starts and
 * reports the bytes it could not read, [start, end), to skip (may be NULL).
 * tail is 1 when the range runs to the end of the file with no valid entry
 * after it and looks like an interrupted append (what a crash leaves): an
 * entry header cut short, or claiming more bytes than the file has, or not
 * an entry header at all.  A whole entry at the end whose checksum fails is
 * damage (tail 0), and so is a v2 entry whose magic alone is damaged.  A
 * damaged
 * file header is a range [0, 16) like any other; the entries after it are
 * still read.  cb returns 0 to go on.  Returns 0, a cb value, or -errno. */
/* The names (under packs/) of every pack, sorted (creation time first:
 * the last is the newest), wherever the store's data store keeps them.
 * The count and *names (free each and the array), or -errno. */
int pack_list(const char *store_dir, char ***names);

typedef int (*pack_entry_cb)(void *arg, int type, const uint8_t *payload,
			     size_t len, uint64_t payload_off);
typedef void (*pack_skip_cb)(void *arg, uint64_t start, uint64_t end, int tail);
int pack_walk(const char *path, pack_entry_cb cb, pack_skip_cb skip, void *arg);

/* ---- blob files ----
 *
 * blobs/ab/cd/<hash hex>[.<ordinal>]:
 *   "DCMFSBL1", u32 version 1, u32 0, the 40-byte blob header,
 *   u64 XXH3-64(encoded bytes), u64 XXH3-64(the 64 bytes before it),
 *   encoded bytes.
 * The 40-byte blob header (also at the start of a pack blob entry):
 *   hash[16], u32 ordinal, u32 kind, u64 raw size, u64 encoded size.
 */

void blob_file_path(const char *store_dir, const uint8_t hash[HASH_LEN],
		    uint32_t ordinal, char *out, size_t outlen);
/* Write a blob file atomically (temporary name, rename).  Returns 0 or -errno. */
int blob_file_write(const char *store_dir, const struct blob_header *h,
		    const void *enc);
/* The two halves: write <path>.tmp<pid> (its name into tmp), and later
 * rename it to its final name.  The ingest writer syncs in between, so a
 * crash leaves temporary files, not orphans under their final names. */
int blob_file_write_tmp(const char *store_dir, const struct blob_header *h,
			const void *enc, char *tmp, size_t tmplen);
int blob_file_publish(const char *tmp);
/* Remove a blob file (or a temporary one) wherever its data store keeps
 * it: 0 or -errno (-ENOENT when it is not there). */
int blob_file_remove(const char *path);
/* 0 when the pack or blob file at path exists, -ENOENT, -errno. */
int data_file_exists(const char *path);
/* Open the pack or blob file at path wherever it is and read up to len
 * bytes at off: 0 with *size (the file's) and *got (bytes read, short past
 * the end, or the read's -errno); or the open's -errno (-EBADMSG: not a
 * regular file).  For verify's words about damage. */
int data_file_read(const char *path, void *buf, size_t len, uint64_t off, uint64_t *size,
		   int64_t *got);
/* As blob_file_write_tmp, named <path>.tmp<pid>-<n> with n unique in the
 * process: pieces of a large file are written by several threads before
 * the writer decides on them, and two may have the same content.  Publish
 * gives the same final name; gc takes it for a temporary of pid. */
int blob_file_write_tmp_unique(const char *store_dir, const struct blob_header *h,
			       const void *enc, char *tmp, size_t tmplen);
/* Read and check a blob file's header (checksum, and its size against the
 * file's); with check_body also the checksum of its encoded bytes.
 * Returns 0 or -errno / -EBADMSG. */
int blob_file_read_header(const char *path, struct blob_header *h);
int blob_file_check(const char *path, int check_body, struct blob_header *h);
/* Bytes of a blob file's fixed header (magic, version, blob header, body
 * checksum, header checksum). */
#define BLOB_FILE_HEADER_BYTES (16 + BLOB_HEADER_BYTES + 8 + 8)
/* What is wrong with the fixed header hdr (BLOB_FILE_HEADER_BYTES, read
 * from a file of file_size bytes; anything when the file is shorter), in
 * words into out, compared with want when not NULL: 1, or 0 when nothing
 * is wrong with it. */
int blob_file_header_why(const uint8_t *hdr, uint64_t file_size, const struct blob_header *want,
			 char *out, size_t len);
/* Parse a blob file held in memory at p (header check + checksum of the encoded
 * bytes when check_body).  Returns 0 and sets *h, *enc; -EBADMSG on damage. */
int blob_file_parse(const uint8_t *p, size_t len, int check_body,
		    struct blob_header *h, const uint8_t **enc);

/* ---- reading ---- */

/* Reads blobs and pack entries; thread-safe.  Pack entries (small blobs,
 * records) are read with pread into a buffer of the view's own; a blob file
 * is read whole into memory, or mapped when it is larger than 4 MiB (BLOB_READ_MAX).
 * A view is valid until blob_view_release().
 *
 * At most BLOB_READER_PACKS pack descriptors stay open, however many packs
 * a store has (least recently used ones are closed, never one a read is
 * using), and the names of up to BLOB_READER_NAMES packs are remembered:
 * pack_name (the catalogue) is called only for a pack whose name is not. */
#define BLOB_READER_PACKS 64
#define BLOB_READER_NAMES 1024
struct blob_reader;
struct blob_view {
	const uint8_t *enc;
	size_t enc_size;
	void *map_base;         /* private: file mapping to undo, or NULL */
	size_t map_len;
	void *owned;            /* private: buffer to free (what was read) */
};

/* pack_name gives the file name (under packs/) of a pack id; the catalogue
 * knows it.  It returns 0 or -ENOENT (or another -errno), and may be called
 * from any thread that reads, one call at a time or not: it must lock what
 * it shares itself. */
typedef int (*pack_name_fn)(void *arg, int64_t pack_id, char *name, size_t len);
/* A reader of the store at store_dir (copied).  NULL when out of memory.
 * Free with blob_reader_free (NULL is fine). */
struct blob_reader *blob_reader_new(const char *store_dir, pack_name_fn fn,
				    void *arg);
void blob_reader_free(struct blob_reader *br);
/* The file name (under packs/) of pack id, from the reader's cache or, on
 * a miss, from pack_name (then cached).  0, or pack_name's -errno. */
int blob_reader_pack_name(struct blob_reader *br, int64_t id, char *name, size_t len);
/* How many pack descriptors the reader holds open now (for tests). */
size_t blob_reader_open_packs(struct blob_reader *br);
/* A blob's encoded bytes.  A pack blob is served only after its entry
 * checks out (magic, type, length, checksum, and a blob header equal to
 * ref's); a blob file after its header does (and its size).  Returns 0
 * (*v is the caller's, to release), -EBADMSG on damage (never another
 * blob's bytes), -ENOENT when the blob file or pack is gone, -ENOMEM, or
 * another -errno of the read. */
int blob_view_get(struct blob_reader *br, const struct blob_ref *ref,
		  struct blob_view *v);
/* The payload of the entry of type at payload_off (len bytes) in a pack,
 * checked like a pack blob's; v->enc is the payload. */
int pack_entry_get(struct blob_reader *br, int64_t pack, uint64_t payload_off,
		   size_t len, int type, struct blob_view *v);
void blob_view_release(struct blob_view *v);
/* A mapped view's pages leave the process (they stay in the page cache and
 * come back on the next touch): what a reader of a huge blob calls now and
 * then so that its resident memory does not grow to the blob's size.  The
 * view stays valid; a read view (not mapped) is left as it is. */
void blob_view_trim(const struct blob_view *v);

#endif
