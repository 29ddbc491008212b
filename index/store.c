/* store.c - opening a store, reading blobs and instances. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const store_dirs[] = { "packs", "blobs", "shares", "spool" };

int store_init(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
		return -errno;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/index.db", dir);
	if (access(path, F_OK) == 0) {
		snprintf(err, errlen, "'%s' is already a store", dir);
		return -EEXIST;
	}
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot open '%s': %s", dir, strerror(errno));
		return -errno;
	}
	struct dirent *e;
	int nonempty = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "lost+found"))
			nonempty = 1;
	closedir(d);
	if (nonempty) {
		snprintf(err, errlen, "'%s' is not empty: a store needs a folder of its own", dir);
		return -ENOTEMPTY;
	}
	for (size_t i = 0; i < sizeof(store_dirs) / sizeof(*store_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, store_dirs[i]);
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
			return -errno;
		}
	}
	struct catalog *c;
	int r = catalog_open(dir, 1, 0, &c, err, errlen);
	if (r)
		return r;
	catalog_close(c);
	return 0;
}

static int pack_name_cb(void *arg, int64_t id, char *name, size_t len)
{
	struct store *s = arg;
	pthread_mutex_lock(&s->pack_lock);
	int r = catalog_pack_name(s->pack_cat, id, name, len);
	pthread_mutex_unlock(&s->pack_lock);
	return r;
}

/* Lock or unlock one byte of STORE/lock; wait only when asked. */
static int lock_byte(int fd, short type, off_t byte, int wait)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
	while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0)
		if (errno != EINTR)
			return errno == EACCES ? -EAGAIN : -errno;
	return 0;
}

#define LOCK_USE 0
#define LOCK_INGEST 1

/* Open STORE/lock and take the use lock shared.  A read-only open that
 * cannot create or open the file goes on without it (-1 in *fd). */
static int use_lock(const char *dir, int readonly, int *fd, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" STORE_LOCK_FILE, dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (*fd < 0 && readonly && (errno == EROFS || errno == EACCES || errno == EPERM))
		*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0) {
		if (readonly && (errno == EROFS || errno == EACCES || errno == EPERM || errno == ENOENT))
			return 0;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -errno;
	}
	int r = lock_byte(*fd, F_RDLCK, LOCK_USE, 0);
	if (r == -EAGAIN)
		snprintf(err, errlen, "store '%s' is being reindexed: try again when that has finished", dir);
	else if (r)
		snprintf(err, errlen, "cannot lock '%s': %s", path, strerror(-r));
	return r;
}

int store_open(const char *dir, int readonly, struct store **out,
	       char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/index.db", dir);
	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "cannot open store '%s': %s", dir, strerror(errno));
		return -errno;
	}
	if (stat(path, &st) < 0) {
		snprintf(path, sizeof(path), "%s/packs", dir);
		if (stat(path, &st) == 0)
			snprintf(err, errlen, "store '%s' has no index.db: run 'dcmfsctl reindex %s'", dir, dir);
		else
			snprintf(err, errlen, "'%s' is not a dcmfs store (no index.db): create one with 'dcmfsctl init'", dir);
		return -ENOENT;
	}
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dir = strdup(dir);
	s->readonly = readonly;
	pthread_mutex_init(&s->pack_lock, NULL);
	pthread_mutex_init(&s->rm_lock, NULL);
	pthread_mutex_init(&s->hold_lock, NULL);
	s->lockfd = -1;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = s->dirfd < 0 ? -errno : 0;
	if (r)
		snprintf(err, errlen, "cannot open '%s': %s", dir, strerror(-r));
	/* Before the catalogue: a reindex may be replacing it. */
	if (!r)
		r = use_lock(dir, readonly, &s->lockfd, err, errlen);
	if (!r)
		r = catalog_open(dir, 0, readonly, &s->cat, err, errlen);
	if (!r)
		r = catalog_open(dir, 0, readonly, &s->pack_cat, err, errlen);
	if (!r && !(s->br = blob_reader_new(dir, pack_name_cb, s)))
		r = -ENOMEM;
	if (r) {
		store_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	blob_reader_free(s->br);
	catalog_close(s->cat);
	catalog_close(s->pack_cat);
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->lockfd >= 0)
		close(s->lockfd);   /* drops every lock of this open */
	pthread_mutex_destroy(&s->hold_lock);
	pthread_mutex_destroy(&s->pack_lock);
	pack_writer_free(s->tomb_pw);
	pthread_mutex_destroy(&s->rm_lock);
	free(s->dir);
	free(s);
}

int store_ingest_hold(struct store *s)
{
	int r = 0;
	pthread_mutex_lock(&s->hold_lock);
	if (s->lockfd >= 0 && s->holds == 0) {
		r = lock_byte(s->lockfd, F_RDLCK, LOCK_INGEST, 0);
		if (r == -EAGAIN) {
			if (s->waiting)
				s->waiting("waiting for gc to finish");
			r = lock_byte(s->lockfd, F_RDLCK, LOCK_INGEST, 1);
		}
	}
	if (!r)
		s->holds++;
	pthread_mutex_unlock(&s->hold_lock);
	return r;
}

void store_ingest_release(struct store *s)
{
	pthread_mutex_lock(&s->hold_lock);
	if (s->holds > 0 && --s->holds == 0 && s->lockfd >= 0)
		lock_byte(s->lockfd, F_UNLCK, LOCK_INGEST, 0);
	pthread_mutex_unlock(&s->hold_lock);
}

int store_ingest_exclusive(struct store *s)
{
	if (s->lockfd < 0)
		return s->readonly ? -EROFS : 0;
	int r = lock_byte(s->lockfd, F_WRLCK, LOCK_INGEST, 0);
	if (r == -EAGAIN) {
		if (s->waiting)
			s->waiting("waiting for imports to finish");
		r = lock_byte(s->lockfd, F_WRLCK, LOCK_INGEST, 1);
	}
	return r;
}

void store_ingest_unlock(struct store *s)
{
	if (s->lockfd >= 0)
		lock_byte(s->lockfd, F_UNLCK, LOCK_INGEST, 0);
}

int store_lock_exclusive(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" STORE_LOCK_FILE, dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(e));
		return -e;
	}
	int r = lock_byte(fd, F_WRLCK, LOCK_USE, 0);
	if (r) {
		close(fd);
		if (r == -EAGAIN) {
			snprintf(err, errlen, "store '%s' is in use by another process (a mount, an import, ...):"
				 " unmount it and stop them first", dir);
			return -EBUSY;
		}
		snprintf(err, errlen, "cannot lock '%s': %s", path, strerror(-r));
		return r;
	}
	return fd;
}

void store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int store_catalog(struct store *s, struct catalog **out)
{
	char err[256];
	return catalog_open(s->dir, 0, s->readonly, out, err, sizeof(err));
}

int store_sync(struct store *s)
{
	return syncfs(s->dirfd) < 0 ? -errno : 0;
}

int64_t store_blob_read(struct store *s, struct codec_ctx *ctx,
			const struct blob_ref *b, uint64_t off, void *buf, size_t n)
{
	struct blob_view v;
	int r = blob_view_get(s->br, b, &v);
	if (r < 0)
		return r;
	int64_t got = codec_decode_range(ctx, v.enc, v.enc_size, off, buf, n);
	blob_view_release(&v);
	return got < 0 ? -EIO : got;
}

int store_blob_equals(struct store *s, struct codec_ctx *ctx,
		      const struct blob_ref *b, const void *raw, size_t len)
{
	if (b->raw_size != len)
		return 0;
	struct blob_view v;
	int r = blob_view_get(s->br, b, &v);
	if (r < 0)
		return r;
	uint32_t nchunks;
	uint64_t rawlen;
	r = codec_info(v.enc, v.enc_size, &rawlen, &nchunks) ? -EIO : 0;
	if (!r && rawlen != len)
		r = 0, nchunks = 0, rawlen = 1;
	uint8_t *tmp = NULL;
	size_t tmpcap = 0;
	int equal = !r && rawlen == len;
	/* Chunk by chunk, so a mismatch stops early and memory stays small. */
	for (uint32_t i = 0; equal && i < nchunks; i++) {
		uint64_t coff;
		uint32_t clen;
		if (codec_chunk_span(v.enc, v.enc_size, i, &coff, &clen)) {
			r = -EIO;
			break;
		}
		if (clen > tmpcap) {
			free(tmp);
			tmpcap = clen;
			if (!(tmp = malloc(tmpcap))) {
				r = -ENOMEM;
				break;
			}
		}
		if (codec_decode_chunk(ctx, v.enc, v.enc_size, i, tmp)) {
			r = -EIO;
			break;
		}
		equal = memcmp(tmp, (const uint8_t *)raw + coff, clen) == 0;
	}
	free(tmp);
	blob_view_release(&v);
	return r < 0 ? r : equal;
}

struct instance_handle {
	struct store *s;
	uint64_t size;
	int nseg;
	struct blob_ref seg[RECORD_MAX_SEGMENTS];
	struct blob_view view[RECORD_MAX_SEGMENTS];
};

int instance_open(struct store *s, struct catalog *cat, int64_t instance_id,
		  struct instance_handle **out)
{
	struct instance_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->s = s;
	int n = catalog_segments(cat, instance_id, h->seg, RECORD_MAX_SEGMENTS);
	if (n <= 0) {
		free(h);
		return n < 0 ? n : -ENOENT;
	}
	h->nseg = n;
	for (int i = 0; i < n; i++) {
		int r = blob_view_get(s->br, &h->seg[i], &h->view[i]);
		if (r < 0) {
			h->nseg = i;
			instance_close(h);
			return r == -ENOENT ? -EIO : r;
		}
		h->size += h->seg[i].raw_size;
	}
	*out = h;
	return 0;
}

uint64_t instance_size(const struct instance_handle *h) { return h->size; }

int64_t instance_read(struct instance_handle *h, struct codec_ctx *ctx,
		      uint64_t off, void *buf, size_t n)
{
	uint8_t *dst = buf;
	uint64_t base = 0;
	size_t done = 0;
	for (int i = 0; i < h->nseg && done < n; i++) {
		uint64_t len = h->seg[i].raw_size;
		if (off + done < base + len) {
			uint64_t o = off + done - base;
			size_t want = n - done;
			if (want > len - o)
				want = (size_t)(len - o);
			int64_t got = codec_decode_range(ctx, h->view[i].enc, h->view[i].enc_size,
							 o, dst + done, want);
			if (got != (int64_t)want)
				return -EIO;
			done += want;
		}
		base += len;
	}
	return (int64_t)done;
}

void instance_close(struct instance_handle *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->nseg; i++)
		blob_view_release(&h->view[i]);
	free(h);
}
