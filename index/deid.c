/*
 * deid.c - de-identified files and names (deid.h): keys, the cache of
 * rewritten headers, and the read path over the instance reader.
 */
#include "deid.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "deid_gdcm.h"
#include "hash.h"
#include "instance.h"

/* Bump when the rewrite changes: old cache files are then never used. */
#define DEID_PROFILE_VERSION 4
#define CACHE_MAGIC "DCMDEID1"
#define CACHE_HEAD 32

/* Why an instance is left out: the cache file's status. */
enum deid_status {
	ST_OK = 0,
	ST_BURNED = 1,
	ST_SC = 2,
	ST_US = 3,
	ST_UNPARSED = 4,
};

static const char *status_why(uint32_t st)
{
	switch (st) {
	case ST_BURNED: return "burned-in annotation";
	case ST_SC: return "secondary capture without BurnedInAnnotation=NO";
	case ST_US: return "ultrasound without BurnedInAnnotation=NO";
	default: return "header cannot be de-identified";
	}
}

/* Paths: vsnprintf into out; -ENAMETOOLONG when it does not fit. */
__attribute__((format(printf, 3, 4)))
static int fmt(char *out, size_t n, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int k = vsnprintf(out, n, f, ap);
	va_end(ap);
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

/* ---- keys ---- */

/* HMAC-SHA256 with key secret of: label, 0, a, 0, b (b may be NULL). */
static void keyed(const uint8_t secret[32], const char *label, const void *a, size_t alen,
		  const void *b, size_t blen, uint8_t out[32])
{
	size_t ll = strlen(label), n = ll + 1 + alen + (b ? 1 + blen : 0);
	uint8_t stackbuf[2048], *buf = n <= sizeof(stackbuf) ? stackbuf : malloc(n);
	unsigned int olen = 32;
	if (!buf) {
		/* Cannot happen usefully; never fall back to an unkeyed value. */
		abort();
	}
	memcpy(buf, label, ll);
	buf[ll] = 0;
	memcpy(buf + ll + 1, a, alen);
	if (b) {
		buf[ll + 1 + alen] = 0;
		memcpy(buf + ll + 2 + alen, b, blen);
	}
	HMAC(EVP_sha256(), secret, 32, buf, n, out, &olen);
	if (buf != stackbuf)
		free(buf);
}

void deid_uid(const uint8_t secret[32], const char *uid, char out[65])
{
	uint8_t h[32];
	keyed(secret, "uid", uid, strlen(uid), NULL, 0, h);
	unsigned __int128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | h[i];
	char digits[48];
	int n = 0;
	do {
		digits[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	memcpy(out, "2.25.", 5);
	for (int i = 0; i < n; i++)
		out[5 + i] = digits[n - 1 - i];
	out[5 + n] = 0;
}

void deid_patient_pseudonym(const uint8_t secret[32], const char *key, const char *issuer,
			    char out[32])
{
	uint8_t h[32];
	keyed(secret, "patient", key, strlen(key), issuer, strlen(issuer), h);
	snprintf(out, 32, "P-%02x%02x%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4],
		 h[5], h[6], h[7]);
}

static int patient_shift(const uint8_t secret[32], const char *key, const char *issuer)
{
	uint8_t h[32];
	keyed(secret, "shift", key, strlen(key), issuer, strlen(issuer), h);
	uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	return -(int)(1 + v % 365);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* ---- names ---- */

int deid_node_name(const struct share *sh, struct catalog *cat, int cat_kind, int64_t id,
		   char *out, size_t len)
{
	char name[80];
	if (cat_kind == CAT_INSTANCE) {
		struct cat_instance row;
		int rc = catalog_instance_row(cat, id, &row);
		if (rc)
			return rc;
		char u[65];
		deid_uid(sh->secret, row.sop_uid, u);
		snprintf(name, sizeof(name), "%s.dcm", u);
	} else if (cat_kind == CAT_PATIENT || cat_kind == CAT_STUDY || cat_kind == CAT_SERIES) {
		char *key = malloc(2 * DCM_ID_MAX + 16), issuer[DCM_ID_MAX];
		if (!key)
			return -ENOMEM;
		int rc = catalog_folder_key(cat, cat_kind, id, key, 2 * DCM_ID_MAX + 16, issuer,
					    sizeof(issuer));
		if (!rc) {
			if (cat_kind == CAT_PATIENT)
				deid_patient_pseudonym(sh->secret, key, issuer, name);
			else
				deid_uid(sh->secret, key, name);
		}
		free(key);
		if (rc)
			return rc;
	} else {
		return -EINVAL;
	}
	if (strlen(name) >= len)
		return -ENAMETOOLONG;
	memcpy(out, name, strlen(name) + 1);
	return 0;
}

/* ---- a codec context per thread, for decoding header blobs ---- */

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *p)
{
	codec_ctx_free(p);
}

static void ctx_init(void)
{
	(void)pthread_key_create(&ctx_key, ctx_free);
}

static struct codec_ctx *thread_ctx(void)
{
	pthread_once(&ctx_once, ctx_init);
	struct codec_ctx *c = pthread_getspecific(ctx_key);
	if (!c) {
		c = codec_ctx_new();
		if (c && pthread_setspecific(ctx_key, c)) {
			codec_ctx_free(c);
			c = NULL;
		}
	}
	return c;
}

/* ---- the cache ---- */

struct rewritten {
	uint32_t status;
	uint8_t *hdr;               /* malloc'd */
	size_t len;
};

static uint64_t cache_check(const uint8_t head[24], const uint8_t *p, size_t n)
{
	return checksum64(head, 24) ^ checksum64_seed(p, n, 0x646569642d763121ull);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* STORE/shares/.deid/NAME, and its GEN folder, into dir/gen. */
static int cache_dirs(const char *store_dir, const struct share *sh, char *top, size_t toplen,
		       char *gen, size_t genlen)
{
	uint8_t h[32];
	char g[33];
	keyed(sh->secret, "cache", "", 0, NULL, 0, h);
	hex(h, 8, g);
	if (fmt(top, toplen, "%s/shares/" SHARE_DEID_DIR "/%s", store_dir, sh->name) ||
	    fmt(gen, genlen, "%s/%s", top, g))
		return -ENAMETOOLONG;
	return 0;
}

/* Remove a folder tree (only what the cache puts there: files, folders). */
static int rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : (errno == ENOTDIR ? (unlink(path) ? -errno : 0) : -errno);
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[4096];
		struct stat st;
		if (fmt(p, sizeof(p), "%s/%s", path, e->d_name) || lstat(p, &st))
			continue;
		int r = S_ISDIR(st.st_mode) ? rm_tree(p) : (unlink(p) && errno != ENOENT ? -errno : 0);
		if (r && !rc)
			rc = r;
	}
	closedir(d);
	if (rmdir(path) && errno != ENOENT && !rc)
		rc = -errno;
	return rc;
}

static int mkdir_p(const char *path)
{
	char p[4096];
	if (fmt(p, sizeof(p), "%s", path))
		return -ENAMETOOLONG;
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = 0;
		if (mkdir(p, 0700) && errno != EEXIST)
			return -errno;
		*c = '/';
	}
	if (mkdir(p, 0700))
		return errno == EEXIST ? 1 : -errno;
	return 0;
}

/* Make GEN (and its fan-out folder); when GEN is new, drop the others. */
static int cache_prepare(const char *top, const char *gen, const char *sub)
{
	char p[4096];
	if (fmt(p, sizeof(p), "%s/%s", gen, sub))
		return -ENAMETOOLONG;
	struct stat st;
	if (!stat(p, &st))
		return 0;
	int made = mkdir_p(gen);
	if (made < 0)
		return made;
	if (made == 0) {
		/* A new generation: what older secrets of this name left is stale. */
		DIR *d = opendir(top);
		const char *g = strrchr(gen, '/') + 1;
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.' && strcmp(e->d_name, g)) {
				char q[4096];
				if (!fmt(q, sizeof(q), "%s/%s", top, e->d_name))
					rm_tree(q);
			}
		if (d)
			closedir(d);
	}
	if (mkdir(p, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int cache_read(const char *path, struct rewritten *rw)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = -EBADMSG;
	uint8_t head[CACHE_HEAD];
	if (fstat(fd, &st) || st.st_size < CACHE_HEAD || pread(fd, head, CACHE_HEAD, 0) != CACHE_HEAD ||
	    memcmp(head, CACHE_MAGIC, 8) || get64(head + 16) != (uint64_t)st.st_size - CACHE_HEAD)
		goto out;
	size_t n = (size_t)get64(head + 16);
	uint8_t *p = malloc(n ? n : 1);
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	if (pread(fd, p, n, CACHE_HEAD) != (ssize_t)n || cache_check(head, p, n) != get64(head + 24)) {
		free(p);
		goto out;
	}
	rw->status = get32(head + 8);
	rw->hdr = p;
	rw->len = n;
	rc = 0;
out:
	close(fd);
	return rc;
}

static void cache_write(const char *top, const char *gen, const char *sub, const char *path,
			const struct rewritten *rw)
{
	if (cache_prepare(top, gen, sub))
		return;
	static atomic_uint counter;
	char tmp[4200];
	if (fmt(tmp, sizeof(tmp), "%s.tmp.%d.%u", path, (int)getpid(),
		atomic_fetch_add(&counter, 1)))
		return;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	uint8_t head[CACHE_HEAD] = { 0 };
	memcpy(head, CACHE_MAGIC, 8);
	put32(head + 8, rw->status);
	put64(head + 16, rw->len);
	put64(head + 24, cache_check(head, rw->hdr, rw->len));
	int ok = write(fd, head, CACHE_HEAD) == CACHE_HEAD &&
		 write(fd, rw->hdr, rw->len) == (ssize_t)rw->len;
	if (close(fd))
		ok = 0;
	if (!ok || rename(tmp, path))
		unlink(tmp);
}

/* ---- rewriting ---- */

/* Bytes of the Pixel Data element's header at the end of a header blob:
 * 12 (explicit VR, long form), 8 (implicit VR), or 0 when it is not there. */
static size_t pixel_tail(const uint8_t *p, size_t n)
{
	static const uint8_t le[3][4] = { { 0xE0, 0x7F, 0x10, 0x00 }, { 0xE0, 0x7F, 0x08, 0x00 },
					  { 0xE0, 0x7F, 0x09, 0x00 } };
	static const uint8_t be[3][4] = { { 0x7F, 0xE0, 0x00, 0x10 }, { 0x7F, 0xE0, 0x00, 0x08 },
					  { 0x7F, 0xE0, 0x00, 0x09 } };
	for (int i = 0; i < 3; i++) {
		if (n >= 12 && (!memcmp(p + n - 12, le[i], 4) || !memcmp(p + n - 12, be[i], 4)) &&
		    p[n - 8] >= 'A' && p[n - 8] <= 'Z' && p[n - 7] >= 'A' && p[n - 7] <= 'Z')
			return 12;
		if (n >= 8 && !memcmp(p + n - 8, le[i], 4))
			return 8;
	}
	return 0;
}

static int starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static uint32_t verdict(const struct deid_gdcm_result *r)
{
	const char *b = r->burned_in, *c = r->sop_class;
	if (!strcasecmp(b, "YES"))
		return ST_BURNED;
	if (strcasecmp(b, "NO")) {
		if (starts(c, "1.2.840.10008.5.1.4.1.1.7"))
			return ST_SC;
		if (!strcasecmp(r->modality, "US") || !strcmp(c, "1.2.840.10008.5.1.4.1.1.6.1") ||
		    !strcmp(c, "1.2.840.10008.5.1.4.1.1.6.2") || !strcmp(c, "1.2.840.10008.5.1.4.1.1.3.1") ||
		    !strcmp(c, "1.2.840.10008.5.1.4.1.1.6") || !strcmp(c, "1.2.840.10008.5.1.4.1.1.3"))
			return ST_US;
	}
	return ST_OK;
}

/* Rewrite the header (or whole file) blob seg of instance id into *rw. */
static int make_rewrite(struct store *s, struct catalog *cat, const struct share *sh,
			int64_t id, const struct blob_ref *seg, struct rewritten *rw)
{
	struct codec_ctx *ctx = thread_ctx();
	if (!ctx)
		return -ENOMEM;
	struct cat_identity *ident = malloc(sizeof(*ident));
	uint8_t *raw = malloc(seg->raw_size ? seg->raw_size : 1);
	int rc = -ENOMEM;
	if (!ident || !raw)
		goto out;
	if ((rc = catalog_identity(cat, id, ident)))
		goto out;
	struct blob_view v;
	if ((rc = store_blob_view(s, seg, &v))) {
		rc = rc == -ENOMEM ? rc : -EIO;
		goto out;
	}
	int64_t got = codec_decode_range(ctx, v.enc, v.enc_size, 0, raw, seg->raw_size);
	blob_view_release(&v);
	if (got != (int64_t)seg->raw_size) {
		rc = -EIO;
		goto out;
	}
	size_t tail = seg->kind == BLOB_HEADER ? pixel_tail(raw, seg->raw_size) : 0;
	char pid[32], pname[48];
	deid_patient_pseudonym(sh->secret, ident->patient_key, ident->issuer, pid);
	snprintf(pname, sizeof(pname), "ANON^%s", pid);
	struct deid_gdcm_job job = {
		.in = raw,
		.in_len = seg->raw_size - tail,
		.secret = sh->secret,
		.patient_id = pid,
		.patient_name = pname,
		.whole = seg->kind == BLOB_WHOLE,
		.shift_days = sh->shift_dates ? patient_shift(sh->secret, ident->patient_key,
							      ident->issuer) : 0,
	};
	struct deid_gdcm_result res;
	char err[160] = "";
	rc = 0;
	memset(rw, 0, sizeof(*rw));
	if (seg->kind == BLOB_HEADER && !tail) {
		rw->status = ST_UNPARSED;
		goto out;
	}
	int r = deid_gdcm_rewrite(&job, &res, err, sizeof(err));
	if (r == -ENOMEM) {
		rc = r;
		goto out;
	}
	if (r) {
		rw->status = ST_UNPARSED;
		goto out;
	}
	rw->status = verdict(&res);
	rw->hdr = realloc(res.out, res.out_len + tail);
	if (!rw->hdr) {
		free(res.out);
		rc = -ENOMEM;
		goto out;
	}
	memcpy(rw->hdr + res.out_len, raw + seg->raw_size - tail, tail);
	rw->len = res.out_len + tail;
out:
	free(ident);
	free(raw);
	return rc;
}

/* The rewrite of instance id's header: from the cache, else made (and
 * cached).  segs/nseg: the instance's segments. */
static int get_rewrite(struct store *s, struct catalog *cat, const struct share *sh, int64_t id,
		       struct blob_ref *segs, int *nseg, struct rewritten *rw)
{
	int n = catalog_segments(cat, id, segs, RECORD_MAX_SEGMENTS);
	if (n < 0)
		return n;
	if (n == 0)
		return -ENOENT;
	*nseg = n;
	const struct blob_ref *h = &segs[0];
	if (h->kind != BLOB_HEADER && h->kind != BLOB_WHOLE)
		return -EIO;
	char top[4096], gen[4096], name[33], sub[3], path[4200];
	if (cache_dirs(store_dir(s), sh, top, sizeof(top), gen, sizeof(gen)))
		return -ENAMETOOLONG;
	uint8_t key[HASH_LEN + 16], d[32];
	memcpy(key, h->hash, HASH_LEN);
	put32(key + HASH_LEN, h->ordinal);
	put32(key + HASH_LEN + 4, h->kind);
	put32(key + HASH_LEN + 8, sh->shift_dates ? 1 : 0);
	put32(key + HASH_LEN + 12, DEID_PROFILE_VERSION);
	keyed(sh->secret, "header", key, sizeof(key), NULL, 0, d);
	hex(d, 16, name);
	memcpy(sub, name, 2);
	sub[2] = 0;
	if (fmt(path, sizeof(path), "%s/%s/%s", gen, sub, name))
		return -ENAMETOOLONG;
	int rc = cache_read(path, rw);
	if (rc != -ENOENT && rc != -EBADMSG && rc != -ENOTDIR && rc != -EACCES)
		return rc;
	if ((rc = make_rewrite(s, cat, sh, id, h, rw)))
		return rc;
	cache_write(top, gen, sub, path, rw);
	return 0;
}

/* Whether a status leaves the instance out of sh. */
static int left_out(const struct share *sh, uint32_t status, const char **why)
{
	if (status == ST_OK || (status != ST_UNPARSED && sh->allow_burned_in))
		return 0;
	if (why)
		*why = status_why(status);
	return DEID_LEFT_OUT;
}

static uint64_t pixel_len(const struct blob_ref *segs, int nseg)
{
	/* A large pixel value is stored in pieces: consecutive pixel segments. */
	uint64_t len = 0;
	for (int i = 1; nseg >= 2 && segs[0].kind == BLOB_HEADER && i < nseg &&
			segs[i].kind == BLOB_PIXELS; i++)
		len += segs[i].raw_size;
	return len;
}

int deid_file_stat(struct store *s, struct catalog *cat, const struct share *sh,
		   int64_t instance_id, uint64_t *size, const char **why)
{
	struct blob_ref segs[RECORD_MAX_SEGMENTS];
	struct rewritten rw;
	int nseg, rc = get_rewrite(s, cat, sh, instance_id, segs, &nseg, &rw);
	if (rc)
		return rc;
	rc = left_out(sh, rw.status, why);
	if (!rc)
		*size = rw.len + pixel_len(segs, nseg);
	free(rw.hdr);
	return rc;
}

/* Decoded chunks kept by a file: reads rarely start or end on a chunk
 * boundary (the rewritten header moves every offset), so the chunk a read
 * ends in is the one the next read starts in. */
#define KEPT_CHUNKS 2

struct deid_file {
	uint8_t *hdr;
	size_t hdr_len;
	uint64_t pix_off;           /* where the pixel value starts in the original */
	uint64_t pix_len;
	struct instance *in;        /* NULL when there are no pixel bytes */
	pthread_mutex_t lock;       /* the kept chunks */
	struct {
		uint32_t k;
		uint32_t len;           /* 0: empty */
		uint64_t off;
		uint8_t *bytes;
	} kept[KEPT_CHUNKS];
	unsigned next;              /* the slot to fill next */
};

int deid_file_open(struct store *s, struct catalog *cat, const struct share *sh,
		   int64_t instance_id, struct deid_file **out, const char **why)
{
	struct blob_ref segs[RECORD_MAX_SEGMENTS];
	struct rewritten rw;
	int nseg;
	*out = NULL;
	int rc = get_rewrite(s, cat, sh, instance_id, segs, &nseg, &rw);
	if (rc)
		return rc;
	if ((rc = left_out(sh, rw.status, why))) {
		free(rw.hdr);
		return rc;
	}
	struct deid_file *f = calloc(1, sizeof(*f));
	if (!f) {
		free(rw.hdr);
		return -ENOMEM;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->hdr = rw.hdr;
	f->hdr_len = rw.len;
	f->pix_len = pixel_len(segs, nseg);
	f->pix_off = segs[0].raw_size;
	if (f->pix_len) {
		char w[256];
		rc = instance_open(s, cat, instance_id, &f->in, w, sizeof(w));
		if (rc) {
			deid_file_close(f);
			return rc == -ENOMEM || rc == -ENOENT ? rc : -EIO;
		}
	}
	*out = f;
	return 0;
}

uint64_t deid_file_size(const struct deid_file *f)
{
	return f->hdr_len + f->pix_len;
}

/* Original file bytes [off, off + n) of a pixel value: whole chunks are
 * decoded straight into buf, a part of one through the kept chunks. */
static int read_pixels(struct deid_file *f, struct codec_ctx *ctx, uint64_t off, uint8_t *buf,
		       size_t n)
{
	while (n) {
		uint32_t k = instance_chunk_at(f->in, off), clen;
		uint64_t coff;
		instance_chunk_span(f->in, k, &coff, &clen);
		if (clen == 0)
			return -EIO;
		size_t skip = (size_t)(off - coff), take = clen - skip < n ? clen - skip : n;
		if (skip == 0 && take == clen) {
			int r = instance_decode_chunk(f->in, ctx, k, buf);
			if (r)
				return r;
		} else {
			pthread_mutex_lock(&f->lock);
			int slot = -1;
			for (int i = 0; i < KEPT_CHUNKS; i++)
				if (f->kept[i].len && f->kept[i].k == k && f->kept[i].off == coff)
					slot = i;
			if (slot < 0) {
				slot = (int)(f->next++ % KEPT_CHUNKS);
				uint8_t *p = f->kept[slot].len >= clen ? f->kept[slot].bytes
								       : realloc(f->kept[slot].bytes, clen);
				if (!p) {
					pthread_mutex_unlock(&f->lock);
					return -ENOMEM;
				}
				f->kept[slot].bytes = p;
				f->kept[slot].len = 0;
				int r = instance_decode_chunk(f->in, ctx, k, p);
				if (r) {
					pthread_mutex_unlock(&f->lock);
					return r;
				}
				f->kept[slot].k = k;
				f->kept[slot].off = coff;
				f->kept[slot].len = clen;
			}
			memcpy(buf, f->kept[slot].bytes + skip, take);
			pthread_mutex_unlock(&f->lock);
		}
		buf += take;
		off += take;
		n -= take;
	}
	return 0;
}

int64_t deid_file_read(struct deid_file *f, struct codec_ctx *ctx, uint64_t off, void *buf,
		       size_t n)
{
	uint64_t size = deid_file_size(f);
	if (off >= size)
		return 0;
	if (n > size - off)
		n = (size_t)(size - off);
	size_t done = 0;
	if (off < f->hdr_len) {
		size_t k = f->hdr_len - off < n ? (size_t)(f->hdr_len - off) : n;
		memcpy(buf, f->hdr + off, k);
		done = k;
	}
	if (done < n) {
		int r = read_pixels(f, ctx, f->pix_off + (off + done - f->hdr_len),
				    (uint8_t *)buf + done, n - done);
		if (r)
			return r == -ENOMEM ? r : -EIO;
	}
	return (int64_t)n;
}

void deid_file_close(struct deid_file *f)
{
	if (!f)
		return;
	instance_close(f->in);
	for (int i = 0; i < KEPT_CHUNKS; i++)
		free(f->kept[i].bytes);
	pthread_mutex_destroy(&f->lock);
	free(f->hdr);
	free(f);
}
