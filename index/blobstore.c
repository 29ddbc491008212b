/*
 * blobstore.c - pack files and blob files (formats: blobstore.h).
 * All integers are little endian (x86-64 and arm64 hosts).
 */
#include "blobstore.h"
#include "datastore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PACK_MAGIC "DCMFSPK1"
#define PACK_VERSION 2
#define ENTRY1_MAGIC 0x31454b50u /* "PKE1" */
#define ENTRY2_MAGIC 0x32454b50u /* "PKE2" */
#define ENTRY_HEADER PACK_ENTRY_HEADER
#define BLOB_MAGIC "DCMFSBL1"
#define BLOB_VERSION 1

#define BLOB_FILE_HEADER BLOB_FILE_HEADER_BYTES
/* Blob files up to this size are read, larger ones mapped: a large file
 * stored in pieces (ingest.h) opens as many mappings, never its encoded bytes
 * read into memory whole, and a viewer's first tile of a 30 MB blob does not
 * wait for the whole blob to be read (30-50 ms before). */
#define BLOB_READ_MAX (4u << 20)

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Serialized blob header: hash16 ordinal4 kind4 raw8 enc8 = 40 bytes. */

static void blob_header_put(uint8_t *p, const struct blob_header *h)
{
	memcpy(p, h->hash, HASH_LEN);
	put32(p + 16, h->ordinal);
	put32(p + 20, h->kind);
	put64(p + 24, h->raw_size);
	put64(p + 32, h->enc_size);
}

static void blob_header_get(const uint8_t *p, struct blob_header *h)
{
	memcpy(h->hash, p, HASH_LEN);
	h->ordinal = get32(p + 16);
	h->kind = get32(p + 20);
	h->raw_size = get64(p + 24);
	h->enc_size = get64(p + 32);
}

/* Open path (wherever its data store keeps it) for reading: 0 and *ds,
 * *f, *size, or -errno (-EBADMSG: not a regular file). */
static int data_open(const char *path, struct datastore **ds, struct ds_file **f,
		     uint64_t *size)
{
	const char *name;
	*ds = datastore_resolve(path, &name);
	return (*ds)->ops->open_read(*ds, name, f, size);
}

/* All of an open file's size bytes, mapped when the data store maps and
 * map is set (-1: when it is larger than BLOB_READ_MAX) (*mapped = 1,
 * munmap to undo), else read into memory (free).
 * NULL with errno set on failure. */
static uint8_t *data_load(struct datastore *ds, struct ds_file *f, uint64_t size, int map,
			  int *mapped)
{
	*mapped = 0;
	if (map < 0)    /* map only what is too large to read */
		map = size > BLOB_READ_MAX;
	if (map && ds->ops->map) {
		uint8_t *p = ds->ops->map(f, size);
		if (p)
			*mapped = 1;
		return p;
	}
	uint8_t *p = malloc(size ? (size_t)size : 1);
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	int64_t n = ds->ops->pread(f, p, (size_t)size, 0);
	if (n != (int64_t)size) {
		free(p);
		errno = n < 0 ? (int)-n : EIO;
		return NULL;
	}
	return p;
}

/* All of the file at path, as data_load (map or read): 0 and *p, *len,
 * *mapped (undo with data_unload), -EBADMSG when it is shorter than
 * min_len, or -errno. */
static int data_load_path(const char *path, int map, uint64_t min_len, uint8_t **p,
			  uint64_t *len, int *mapped)
{
	struct datastore *ds;
	struct ds_file *f;
	int r = data_open(path, &ds, &f, len);
	if (r < 0)
		return r;
	*p = NULL;
	*mapped = 0;
	if (*len < min_len)
		r = -EBADMSG;
	else if (*len && !(*p = data_load(ds, f, *len, map, mapped)))
		r = -errno;
	ds->ops->close(f);
	return r;
}

static void data_unload(uint8_t *p, uint64_t len, int mapped)
{
	if (mapped)
		munmap(p, (size_t)len);
	else
		free(p);
}

/* ---------------- packs ---------------- */

struct pack_writer {
	struct datastore *ds;
	struct ds_file *f;
	uint64_t size;
	uint64_t limit;
	char name[64];
};

int pack_writer_create(const char *store_dir, struct pack_writer **out,
		       char *err, size_t errlen)
{
	struct pack_writer *pw = calloc(1, sizeof(*pw));
	if (!pw)
		return -ENOMEM;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char path[4096];
	uint8_t hdr[PACK_FILE_HEADER] = {0};
	memcpy(hdr, PACK_MAGIC, 8);
	put32(hdr + 8, PACK_VERSION);
	int r = -EEXIST;
	for (int attempt = 0; attempt < 100; attempt++) {
		snprintf(pw->name, sizeof(pw->name), "%016llx-%08x-%02d.pack",
			 (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
			 (unsigned)getpid(), attempt);
		snprintf(path, sizeof(path), "%s/packs/%s", store_dir, pw->name);
		const char *name;
		pw->ds = datastore_resolve(path, &name);
		r = pw->ds->ops->create(pw->ds, name, hdr, sizeof(hdr), &pw->f);
		if (r != -EEXIST)
			break;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot create pack '%s': %s", path, strerror(-r));
		free(pw);
		return r;
	}
	pw->size = PACK_FILE_HEADER;
	pw->limit = pw->ds->ops->pack_limit ? pw->ds->ops->pack_limit : PACK_SIZE_LIMIT;
	*out = pw;
	return 0;
}

void pack_writer_free(struct pack_writer *pw)
{
	if (!pw)
		return;
	pw->ds->ops->close(pw->f);
	free(pw);
}

const char *pack_writer_name(const struct pack_writer *pw) { return pw->name; }
uint64_t pack_writer_size(const struct pack_writer *pw) { return pw->size; }
uint64_t pack_writer_limit(const struct pack_writer *pw) { return pw->limit; }

int pack_append(struct pack_writer *pw, int type, const void *a, size_t alen,
		const void *b, size_t blen, uint64_t *payload_off)
{
	size_t len = alen + blen;
	if (len > 0xffffffffu)
		return -EFBIG;
	uint8_t *buf = malloc(ENTRY_HEADER + len);
	if (!buf)
		return -ENOMEM;
	put32(buf, ENTRY2_MAGIC);
	buf[12] = (uint8_t)type;
	buf[13] = buf[14] = buf[15] = 0;
	put32(buf + 16, (uint32_t)len);
	if (alen)
		memcpy(buf + ENTRY_HEADER, a, alen);
	if (blen)
		memcpy(buf + ENTRY_HEADER + alen, b, blen);
	put64(buf + 4, checksum64_seed(buf + 12, 8 + len, pw->size));
	int r = pw->ds->ops->append(pw->f, buf, ENTRY_HEADER + len, pw->size);
	free(buf);
	if (r < 0) {
		/* Leave no torn entry behind for the next append to follow. */
		if (pw->ds->ops->truncate(pw->f, pw->size, 0) < 0) { /* reported by r */ }
		return r;
	}
	*payload_off = pw->size + ENTRY_HEADER;
	pw->size += ENTRY_HEADER + len;
	return 0;
}

int pack_writer_truncate(struct pack_writer *pw, uint64_t size)
{
	if (size < PACK_FILE_HEADER || size > pw->size)
		return -EINVAL;
	/* The cut entries were synced already: make their removal durable
	 * too, or a crash could bring them back. */
	int r = pw->ds->ops->truncate(pw->f, size, 1);
	if (!r)
		pw->size = size;
	return r;
}

struct pack_names {
	char **names;
	size_t n, cap;
};

static int add_pack_name(void *arg, const char *path)
{
	struct pack_names *pn = arg;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t l = strlen(base);
	if (l < 6 || strcmp(base + l - 5, ".pack"))
		return 0;
	if (pn->n == pn->cap) {
		size_t cap = pn->cap ? pn->cap * 2 : 64;
		char **nn = realloc(pn->names, cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		pn->names = nn;
		pn->cap = cap;
	}
	if (!(pn->names[pn->n] = strdup(base)))
		return -ENOMEM;
	pn->n++;
	return 0;
}

static int cmp_pack_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int pack_list(const char *store_dir, char ***out)
{
	char path[4096];
	const char *name;
	snprintf(path, sizeof(path), "%s/packs/", store_dir);
	struct datastore *ds = datastore_resolve(path, &name);
	struct pack_names pn = {0};
	int r = ds->ops->list(ds, name, add_pack_name, &pn);
	*out = NULL;
	if (r) {
		for (size_t i = 0; i < pn.n; i++)
			free(pn.names[i]);
		free(pn.names);
		return r;
	}
	if (pn.n)
		qsort(pn.names, pn.n, sizeof(*pn.names), cmp_pack_names);
	*out = pn.names;
	return (int)pn.n;
}

/* Which entry formats a walk accepts: a v2 pack holds only v2 entries, a
 * v1 pack only v1 ones; a pack whose file header is damaged either. */
enum { ACCEPT_V1 = 1, ACCEPT_V2 = 2 };

/* The entry at off, if it checks out: its type, payload offset and length.
 * Returns the entry's whole size, or 0 when no valid entry starts there. */
static uint64_t entry_at(const uint8_t *p, uint64_t len, uint64_t off, int accept,
			 int *type, uint64_t *payload_off, uint32_t *plen)
{
	if (len - off < ENTRY_HEADER)
		return 0;
	const uint8_t *e = p + off;
	uint32_t magic = get32(e), n;
	if (magic == ENTRY2_MAGIC && (accept & ACCEPT_V2)) {
		n = get32(e + 16);
		if (len - off - ENTRY_HEADER < n ||
		    checksum64_seed(e + 12, 8 + (size_t)n, off) != get64(e + 4))
			return 0;
		*type = e[12];
	} else if (magic == ENTRY1_MAGIC && (accept & ACCEPT_V1)) {
		n = get32(e + 8);
		if (len - off - ENTRY_HEADER < n ||
		    checksum64(e + ENTRY_HEADER, n) != get64(e + 12))
			return 0;
		*type = e[4];
	} else {
		return 0;
	}
	*payload_off = off + ENTRY_HEADER;
	*plen = n;
	return ENTRY_HEADER + (uint64_t)n;
}

/* The next offset after from where a valid entry starts, or len.  Only
 * offsets holding a magic are checksummed, so a scan costs little more
 * than a memchr for their first byte. */
static uint64_t resync(const uint8_t *p, uint64_t len, uint64_t from, int accept)
{
	for (uint64_t s = from; s + ENTRY_HEADER <= len; s++) {
		const uint8_t *q = memchr(p + s, 'P', (size_t)(len - ENTRY_HEADER + 1 - s));
		if (!q)
			break;
		s = (uint64_t)(q - p);
		int type;
		uint64_t po;
		uint32_t n;
		if (entry_at(p, len, s, accept, &type, &po, &n))
			return s;
	}
	return len;
}

/* Whether the bad bytes from off to the end of the file look like an
 * interrupted append: a header cut short, or one claiming more bytes than
 * the file has, or no header at all.  A whole entry whose checksum fails is
 * damage, even at the end. */
static int looks_torn(const uint8_t *p, uint64_t len, uint64_t off)
{
	if (len - off < ENTRY_HEADER)
		return 1;
	uint32_t magic = get32(p + off);
	uint32_t n = magic == ENTRY2_MAGIC ? get32(p + off + 16) :
		     magic == ENTRY1_MAGIC ? get32(p + off + 8) : 0;
	if (magic != ENTRY2_MAGIC && magic != ENTRY1_MAGIC) {
		/* Only the magic damaged?  The v2 checksum does not cover it,
		 * so an entry that checks out without it was written whole. */
		n = get32(p + off + 16);
		return len - off - ENTRY_HEADER < n ||
		       checksum64_seed(p + off + 12, 8 + (size_t)n, off) != get64(p + off + 4);
	}
	return len - off - ENTRY_HEADER < n;
}

#define PACK_WALK_WINDOW (8u << 20)

int pack_walk(const char *path, pack_entry_cb cb, pack_skip_cb skip, void *arg)
{
	uint8_t *p;
	uint64_t len;
	int mapped, r = data_load_path(path, 1, 0, &p, &len, &mapped);
	if (r < 0)
		return r;
	if (len == 0) {
		if (skip)
			skip(arg, 0, 0, 1);
		return 0;
	}
	if (mapped)
		madvise((void *)p, (size_t)len, MADV_SEQUENTIAL);
	int accept = ACCEPT_V1 | ACCEPT_V2;
	uint64_t off = PACK_FILE_HEADER, dropped = 0;
	if (len >= PACK_FILE_HEADER && !memcmp(p, PACK_MAGIC, 8) && get32(p + 12) == 0 &&
	    (get32(p + 8) == 1 || get32(p + 8) == 2)) {
		accept = get32(p + 8) == 1 ? ACCEPT_V1 : ACCEPT_V2;
	} else {
		/* Damaged header: the first valid entry is found like any
		 * other resync (entries start after the header's 16 bytes). */
		off = resync(p, len, PACK_FILE_HEADER, accept);
		if (skip)
			skip(arg, 0, off, off >= len);
	}
	while (!r && off < len) {
		int type;
		uint64_t po;
		uint32_t n;
		uint64_t size = entry_at(p, len, off, accept, &type, &po, &n);
		if (!size) {
			uint64_t next = resync(p, len, off + 1, accept);
			if (skip)
				skip(arg, off, next, next >= len && looks_torn(p, len, off));
			off = next;
			continue;
		}
		r = cb(arg, type, p + po, n, po);
		off += size;
		/* Unmap the pages behind us (they stay in the page cache): a
		 * walk of a 256 MiB pack holds a few MiB resident, not all. */
		if (mapped && off - dropped >= PACK_WALK_WINDOW) {
			uint64_t to = off & ~(uint64_t)(PACK_WALK_WINDOW - 1);
			madvise((void *)(p + dropped), (size_t)(to - dropped), MADV_DONTNEED);
			dropped = to;
		}
	}
	data_unload(p, len, mapped);
	return r;
}

/* ---------------- blob files ---------------- */

void blob_file_path(const char *store_dir, const uint8_t hash[HASH_LEN],
		    uint32_t ordinal, char *out, size_t outlen)
{
	char hex[2 * HASH_LEN + 1];
	hash_hex(hash, hex);
	if (ordinal)
		snprintf(out, outlen, "%s/blobs/%.2s/%.2s/%s.%u", store_dir, hex,
			 hex + 2, hex, ordinal);
	else
		snprintf(out, outlen, "%s/blobs/%.2s/%.2s/%s", store_dir, hex,
			 hex + 2, hex);
}

/* Write h and enc to a new file named tmp (path + suffix). */
static int blob_file_write_as(const char *store_dir, const struct blob_header *h,
			      const void *enc, const char *suffix, char *tmp, size_t tmplen)
{
	char path[4096], tag[64];
	blob_file_path(store_dir, h->hash, h->ordinal, path, sizeof(path));
	const char *name, *tmpname;
	struct datastore *ds = datastore_resolve(path, &name);
	ds->ops->writer_tag(ds, tag, sizeof(tag));
	snprintf(tmp, tmplen, "%s.tmp%s%s", path, tag, suffix);
	datastore_resolve(tmp, &tmpname);
	uint8_t hdr[BLOB_FILE_HEADER] = {0};
	memcpy(hdr, BLOB_MAGIC, 8);
	put32(hdr + 8, BLOB_VERSION);
	blob_header_put(hdr + 16, h);
	put64(hdr + 16 + BLOB_HEADER_BYTES, checksum64(enc, h->enc_size));
	put64(hdr + 16 + BLOB_HEADER_BYTES + 8,
	      checksum64(hdr, 16 + BLOB_HEADER_BYTES + 8));
	return ds->ops->put_tmp(ds, name, tmpname, hdr, sizeof(hdr), enc, h->enc_size);
}

int blob_file_write_tmp(const char *store_dir, const struct blob_header *h,
			const void *enc, char *tmp, size_t tmplen)
{
	return blob_file_write_as(store_dir, h, enc, "", tmp, tmplen);
}

int blob_file_write_tmp_unique(const char *store_dir, const struct blob_header *h,
			       const void *enc, char *tmp, size_t tmplen)
{
	static atomic_ulong serial;
	char suffix[32];
	snprintf(suffix, sizeof(suffix), "-%lu", atomic_fetch_add(&serial, 1) + 1);
	return blob_file_write_as(store_dir, h, enc, suffix, tmp, tmplen);
}

int blob_file_publish(const char *tmp)
{
	size_t n = strlen(tmp);
	char path[4096];
	const char *dot = strrchr(tmp, '.');
	if (!dot || strncmp(dot, ".tmp", 4) || n >= sizeof(path))
		return -EINVAL;
	memcpy(path, tmp, (size_t)(dot - tmp));
	path[dot - tmp] = '\0';
	const char *tmpname, *name;
	struct datastore *ds = datastore_resolve(tmp, &tmpname);
	datastore_resolve(path, &name);
	return ds->ops->publish(ds, tmpname, name);
}

int blob_file_remove(const char *path)
{
	const char *name;
	struct datastore *ds = datastore_resolve(path, &name);
	return ds->ops->remove(ds, name);
}

int data_file_read(const char *path, void *buf, size_t len, uint64_t off, uint64_t *size,
		   int64_t *got)
{
	struct datastore *ds;
	struct ds_file *f;
	int r = data_open(path, &ds, &f, size);
	if (r < 0)
		return r;
	*got = off < *size ? ds->ops->pread(f, buf, len, off) : 0;
	ds->ops->close(f);
	return 0;
}

int data_file_exists(const char *path)
{
	const char *name;
	struct datastore *ds = datastore_resolve(path, &name);
	return ds->ops->exists(ds, name);
}

int blob_file_write(const char *store_dir, const struct blob_header *h,
		    const void *enc)
{
	char tmp[4200];
	int r = blob_file_write_tmp(store_dir, h, enc, tmp, sizeof(tmp));
	if (!r && (r = blob_file_publish(tmp)))
		blob_file_remove(tmp);
	return r;
}

int blob_file_header_why(const uint8_t *hdr, uint64_t file_size, const struct blob_header *want,
			 char *out, size_t len)
{
	size_t ck = 16 + BLOB_HEADER_BYTES + 8;
	struct blob_header h;
	if (file_size < BLOB_FILE_HEADER) {
		snprintf(out, len, "the blob file is shorter (%llu bytes) than its fixed %d-byte header",
			 (unsigned long long)file_size, (int)BLOB_FILE_HEADER);
		return 1;
	}
	if (memcmp(hdr, BLOB_MAGIC, 8) != 0) {
		snprintf(out, len, "the blob file does not start with %s (overwritten, or not a blob file)",
			 BLOB_MAGIC);
		return 1;
	}
	if (get32(hdr + 8) != BLOB_VERSION) {
		snprintf(out, len, "the blob file has format version %u, which this dcmfs does not know",
			 get32(hdr + 8));
		return 1;
	}
	if (checksum64(hdr, ck) != get64(hdr + ck)) {
		snprintf(out, len, "the blob file's header fails its checksum (its first %d bytes changed)",
			 (int)BLOB_FILE_HEADER);
		return 1;
	}
	blob_header_get(hdr + 16, &h);
	uint64_t body = file_size - BLOB_FILE_HEADER;
	if (h.enc_size != body) {
		snprintf(out, len, "the blob file is %s than its header says (%llu bytes of encoded data; "
			 "the header says %llu)%s", h.enc_size > body ? "shorter" : "longer",
			 (unsigned long long)body, (unsigned long long)h.enc_size,
			 h.enc_size > body ? ": cut short" : "");
		return 1;
	}
	if (want && (memcmp(h.hash, want->hash, HASH_LEN) || h.ordinal != want->ordinal ||
		     h.raw_size != want->raw_size || h.enc_size != want->enc_size)) {
		snprintf(out, len, "the blob file's header names another blob than the index expects there");
		return 1;
	}
	return 0;
}

/* The fixed header of a blob file of file_size bytes: magic, version, its
 * checksum, and an encoded size that fills the rest of the file.  0 and *h
 * set, or -EBADMSG (blob_file_header_why says why). */
static int blob_file_header_parse(const uint8_t hdr[BLOB_FILE_HEADER], uint64_t file_size,
				  struct blob_header *h)
{
	char why[8];    /* only whether: the reason is for verify */
	if (blob_file_header_why(hdr, file_size, NULL, why, sizeof(why)))
		return -EBADMSG;
	blob_header_get(hdr + 16, h);
	return 0;
}

int blob_file_read_header(const char *path, struct blob_header *h)
{
	struct datastore *ds;
	struct ds_file *f;
	uint64_t size;
	int r = data_open(path, &ds, &f, &size);
	if (r < 0)
		return r;
	uint8_t hdr[BLOB_FILE_HEADER];
	int64_t n = ds->ops->pread(f, hdr, sizeof(hdr), 0);
	ds->ops->close(f);
	if (n != (int64_t)sizeof(hdr))
		return n < 0 ? (int)n : -EBADMSG;
	return blob_file_header_parse(hdr, size, h);
}

int blob_file_check(const char *path, int check_body, struct blob_header *h)
{
	if (!check_body)
		return blob_file_read_header(path, h);
	uint8_t *p;
	uint64_t size;
	int mapped, r = data_load_path(path, 1, BLOB_FILE_HEADER, &p, &size, &mapped);
	if (r < 0)
		return r == -EIO ? -EBADMSG : r;
	const uint8_t *enc;
	r = blob_file_parse(p, (size_t)size, 1, h, &enc);
	data_unload(p, size, mapped);
	return r;
}

int blob_file_parse(const uint8_t *p, size_t len, int check_body,
		    struct blob_header *h, const uint8_t **enc)
{
	if (len < BLOB_FILE_HEADER || blob_file_header_parse(p, len, h))
		return -EBADMSG;
	if (check_body && checksum64(p + BLOB_FILE_HEADER, h->enc_size) !=
			  get64(p + 16 + BLOB_HEADER_BYTES))
		return -EBADMSG;
	*enc = p + BLOB_FILE_HEADER;
	return 0;
}

/* ---------------- reading ---------------- */

/* Packs are read with pread into a buffer of the view's own: their blobs
 * are small (< BLOB_FILE_THRESHOLD), and mapping packs that other
 * processes keep appending to would mean remapping, and a process whose
 * resident size grows with every pack page it ever touched. */
/* Open packs, a bounded cache: one pack per removal or import process
 * makes thousands of packs over a long-lived mount, and a descriptor kept
 * for each would end in EMFILE.  A slot in use by a pread (refs > 0) is
 * never closed; eviction takes an unused slot by the clock (second chance)
 * rule.
 *
 * Pack names, a second bounded cache: a pack whose descriptor was evicted
 * opens again without asking the catalogue, because a pack id names one
 * file for the life of an index (pack rows are never deleted; only reindex,
 * which no open store can run beside, renumbers them).  Only a name not
 * cached goes to pack_name, outside br->lock. */
#define PACK_FD_CACHE BLOB_READER_PACKS
#define PACK_NAME_BITS 10
#define PACK_NAME_CACHE (1u << PACK_NAME_BITS)
_Static_assert(PACK_NAME_CACHE == BLOB_READER_NAMES, "PACK_NAME_BITS must match BLOB_READER_NAMES");
#define PACK_NAME_MAX 64                    /* longer names are not cached */

struct pack_slot {
	int64_t id;                 /* 0: empty */
	struct datastore *ds;
	struct ds_file *f;          /* NULL: empty */
	unsigned refs;              /* preads under way */
	int used;                   /* clock bit: touched since the hand passed */
};

/* Direct-mapped by a Fibonacci hash of the id (consecutive ids, the
 * common case, land far apart); a collision replaces the older name. */
struct pack_name_slot {
	int64_t id;                 /* 0: empty */
	char name[PACK_NAME_MAX];
};

struct blob_reader {
	char *dir;
	pack_name_fn pack_name;
	void *arg;
	pthread_mutex_t lock;       /* guards slots, hand and names */
	struct pack_slot slots[PACK_FD_CACHE];
	size_t hand;
	struct pack_name_slot names[PACK_NAME_CACHE];
};

struct blob_reader *blob_reader_new(const char *store_dir, pack_name_fn fn,
				    void *arg)
{
	struct blob_reader *br = calloc(1, sizeof(*br));
	if (!br)
		return NULL;
	if (!(br->dir = strdup(store_dir))) {
		free(br);
		return NULL;
	}
	br->pack_name = fn;
	br->arg = arg;
	pthread_mutex_init(&br->lock, NULL);
	return br;
}

void blob_reader_free(struct blob_reader *br)
{
	if (!br)
		return;
	for (size_t i = 0; i < PACK_FD_CACHE; i++)
		if (br->slots[i].f)
			br->slots[i].ds->ops->close(br->slots[i].f);
	pthread_mutex_destroy(&br->lock);
	free(br->dir);
	free(br);
}

static struct pack_name_slot *name_slot(struct blob_reader *br, int64_t id)
{
	return &br->names[(uint64_t)id * 0x9e3779b97f4a7c15ull >> (64 - PACK_NAME_BITS)];
}

int blob_reader_pack_name(struct blob_reader *br, int64_t id, char *name, size_t len)
{
	pthread_mutex_lock(&br->lock);
	struct pack_name_slot *ns = name_slot(br, id);
	int hit = ns->id == id && id != 0;
	if (hit)
		snprintf(name, len, "%s", ns->name);
	pthread_mutex_unlock(&br->lock);
	if (hit)
		return 0;
	char found[256];
	int r = br->pack_name(br->arg, id, found, sizeof(found));
	if (r < 0)
		return r;
	snprintf(name, len, "%s", found);
	if (strlen(found) < PACK_NAME_MAX) {
		pthread_mutex_lock(&br->lock);
		ns->id = id;
		memcpy(ns->name, found, strlen(found) + 1);
		pthread_mutex_unlock(&br->lock);
	}
	return 0;
}

size_t blob_reader_open_packs(struct blob_reader *br)
{
	size_t n = 0;
	pthread_mutex_lock(&br->lock);
	for (size_t i = 0; i < PACK_FD_CACHE; i++)
		n += br->slots[i].f != NULL;
	pthread_mutex_unlock(&br->lock);
	return n;
}

/* Under br->lock: the cached open pack id, referenced for the caller
 * (*slot set), or NULL when it is not cached. */
static struct pack_slot *slot_take(struct blob_reader *br, int64_t id, int *slot)
{
	for (size_t i = 0; i < PACK_FD_CACHE; i++) {
		struct pack_slot *e = &br->slots[i];
		if (e->id == id && e->f) {
			e->refs++;
			e->used = 1;
			*slot = (int)i;
			return e;
		}
	}
	return NULL;
}

/* A pack open for reading (*ds, *f), held until pack_fd_put(br, *slot, ds,
 * f).  *slot is the cache slot, or -1 for an open of its own (every slot
 * busy) that put closes.  Returns 0 or -errno. */
static int pack_fd_get(struct blob_reader *br, int64_t id, int *slot,
		       struct datastore **ds, struct ds_file **f)
{
	pthread_mutex_lock(&br->lock);
	struct pack_slot *cached = slot_take(br, id, slot);
	if (cached) {
		*ds = cached->ds;
		*f = cached->f;
		pthread_mutex_unlock(&br->lock);
		return 0;
	}
	pthread_mutex_unlock(&br->lock);
	char name[256], path[4096];
	int r = blob_reader_pack_name(br, id, name, sizeof(name));
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/packs/%s", br->dir, name);
	uint64_t size;
	r = data_open(path, ds, f, &size);
	if (r < 0)
		return r;
	*slot = -1;
	pthread_mutex_lock(&br->lock);
	/* Another thread may have opened it meanwhile: use theirs. */
	if ((cached = slot_take(br, id, slot))) {
		pthread_mutex_unlock(&br->lock);
		(*ds)->ops->close(*f);
		*ds = cached->ds;
		*f = cached->f;
		return 0;
	}
	/* Clock: two sweeps find an unused slot if there is one. */
	for (size_t n = 0; n < 2 * PACK_FD_CACHE; n++) {
		struct pack_slot *e = &br->slots[br->hand];
		size_t i = br->hand;
		br->hand = (br->hand + 1) % PACK_FD_CACHE;
		if (e->refs)
			continue;
		if (e->used && e->f) {
			e->used = 0;
			continue;
		}
		if (e->f)
			e->ds->ops->close(e->f);
		e->id = id;
		e->ds = *ds;
		e->f = *f;
		e->refs = 1;
		e->used = 1;
		*slot = (int)i;
		break;
	}
	pthread_mutex_unlock(&br->lock);
	return 0;
}

static void pack_fd_put(struct blob_reader *br, int slot, struct datastore *ds,
			struct ds_file *f)
{
	if (slot < 0) {
		ds->ops->close(f);
		return;
	}
	pthread_mutex_lock(&br->lock);
	br->slots[slot].refs--;
	pthread_mutex_unlock(&br->lock);
}

/* Check the entry read whole into e (entry header + len payload bytes) that
 * starts at file offset off. */
static int entry_check(const uint8_t *e, uint64_t off, size_t len, int type)
{
	uint32_t magic = get32(e);
	if (magic == ENTRY2_MAGIC) {
		if (e[12] != type || get32(e + 16) != len ||
		    checksum64_seed(e + 12, 8 + len, off) != get64(e + 4))
			return -EBADMSG;
	} else if (magic == ENTRY1_MAGIC) {
		if (e[4] != type || get32(e + 8) != len ||
		    checksum64(e + ENTRY_HEADER, len) != get64(e + 12))
			return -EBADMSG;
	} else {
		return -EBADMSG;
	}
	return 0;
}

int pack_entry_get(struct blob_reader *br, int64_t pack, uint64_t payload_off,
		   size_t len, int type, struct blob_view *v)
{
	memset(v, 0, sizeof(*v));
	if (payload_off < PACK_FILE_HEADER + ENTRY_HEADER || len > 0xffffffffu)
		return -EBADMSG;
	uint64_t off = payload_off - ENTRY_HEADER;
	uint8_t *buf = malloc(ENTRY_HEADER + len);
	if (!buf)
		return -ENOMEM;
	int slot;
	struct datastore *ds;
	struct ds_file *f;
	int r = pack_fd_get(br, pack, &slot, &ds, &f);
	if (r < 0) {
		free(buf);
		return r;
	}
	int64_t n = ds->ops->pread(f, buf, ENTRY_HEADER + len, off);
	pack_fd_put(br, slot, ds, f);
	if (n != (int64_t)(ENTRY_HEADER + len)) {
		free(buf);
		return n < 0 ? (int)n : -EBADMSG;   /* short: the entry is not there */
	}
	r = entry_check(buf, off, len, type);
	if (r) {
		free(buf);
		return r;
	}
	v->enc = buf + ENTRY_HEADER;
	v->enc_size = len;
	v->owned = buf;
	return 0;
}

int blob_view_get(struct blob_reader *br, const struct blob_ref *ref,
		  struct blob_view *v)
{
	memset(v, 0, sizeof(*v));
	if (ref->pack) {
		/* Small blobs: the whole entry is read anyway, so its checksum
		 * costs little, and the index alone is never trusted. */
		if (ref->offset < BLOB_HEADER_BYTES)
			return -EBADMSG;
		int r = pack_entry_get(br, ref->pack, ref->offset - BLOB_HEADER_BYTES,
				       BLOB_HEADER_BYTES + ref->enc_size, PACK_ENTRY_BLOB, v);
		if (r)
			return r;
		struct blob_header h;
		blob_header_get(v->enc, &h);
		if (memcmp(h.hash, ref->hash, HASH_LEN) || h.ordinal != ref->ordinal ||
		    h.kind != ref->kind || h.raw_size != ref->raw_size ||
		    h.enc_size != ref->enc_size) {
			blob_view_release(v);
			return -EBADMSG;
		}
		v->enc += BLOB_HEADER_BYTES;
		v->enc_size = ref->enc_size;
		return 0;
	}
	char path[4096];
	blob_file_path(br->dir, ref->hash, ref->ordinal, path, sizeof(path));
	/* Most blob files are read into memory: mapping and unmapping one per
	 * open costs page faults and cross-CPU TLB flushes (dear in a VM) that
	 * a copy from the page cache does not.  Huge ones are mapped where
	 * the data store maps (a folder); RADOS reads them too.  The size is
	 * known only after the open: a small file is read, never mapped. */
	uint8_t *p;
	uint64_t size;
	int mapped, r = data_load_path(path, -1, 1, &p, &size, &mapped);
	if (r < 0)
		return r;
	size_t len = (size_t)size;
	if (mapped) {
		v->map_base = p;
		v->map_len = len;
	} else {
		v->owned = p;
	}
	struct blob_header h;
	const uint8_t *enc;
	r = blob_file_parse(p, len, 0, &h, &enc);
	if (r < 0 || h.enc_size != ref->enc_size || h.raw_size != ref->raw_size ||
	    memcmp(h.hash, ref->hash, HASH_LEN) || h.ordinal != ref->ordinal) {
		blob_view_release(v);
		return r < 0 ? r : -EBADMSG;
	}
	v->enc = enc;
	v->enc_size = h.enc_size;
	return 0;
}

void blob_view_release(struct blob_view *v)
{
	if (v->map_base)
		munmap(v->map_base, v->map_len);
	free(v->owned);
	memset(v, 0, sizeof(*v));
}

void blob_view_trim(const struct blob_view *v)
{
	if (v->map_base)
		madvise(v->map_base, v->map_len, MADV_DONTNEED);
}

size_t blob_header_encode(const struct blob_header *h, uint8_t *out)
{
	blob_header_put(out, h);
	return BLOB_HEADER_BYTES;
}

int blob_header_decode(const uint8_t *p, size_t len, struct blob_header *h)
{
	if (len < BLOB_HEADER_BYTES)
		return -EBADMSG;
	blob_header_get(p, h);
	if (h->enc_size != len - BLOB_HEADER_BYTES)
		return -EBADMSG;
	return BLOB_HEADER_BYTES;
}
