/*
 * datastore.c - the table of attached data stores, and the folder
 * implementation (names are paths; what dcmfs always did).
 */
#include "datastore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------- the folder ---------------- */

struct folder_file {
	int fd;
};

static int folder_open_read(struct datastore *ds, const char *name, struct ds_file **f,
			    uint64_t *size)
{
	(void)ds;
	/* Non-blocking: a FIFO planted where a data file belongs must not
	 * hang its reader; it is refused below as damage. */
	int fd = open(name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	int e = fstat(fd, &st) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : EBADMSG;
	if (e) {
		close(fd);
		return -e;
	}
	struct folder_file *ff = malloc(sizeof(*ff));
	if (!ff) {
		close(fd);
		return -ENOMEM;
	}
	ff->fd = fd;
	*size = (uint64_t)st.st_size;
	*f = (struct ds_file *)ff;
	return 0;
}

static int64_t folder_pread(struct ds_file *f, void *buf, size_t len, uint64_t off)
{
	struct folder_file *ff = (struct folder_file *)f;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(ff->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int64_t)done;
}

static void *folder_map(struct ds_file *f, uint64_t size)
{
	struct folder_file *ff = (struct folder_file *)f;
	void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, ff->fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void folder_close(struct ds_file *f)
{
	struct folder_file *ff = (struct folder_file *)f;
	if (!ff)
		return;
	close(ff->fd);
	free(ff);
}

static int folder_write_at(int fd, const void *buf, size_t n, uint64_t off);

static int folder_create(struct datastore *ds, const char *name, const void *first, size_t len,
			 struct ds_file **f)
{
	(void)ds;
	int fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	struct folder_file *ff = malloc(sizeof(*ff));
	int r = ff ? folder_write_at(fd, first, len, 0) : -ENOMEM;
	if (r) {
		free(ff);
		close(fd);
		unlink(name);
		return r;
	}
	ff->fd = fd;
	*f = (struct ds_file *)ff;
	return 0;
}

static int folder_write_at(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int folder_append(struct ds_file *f, const void *buf, size_t len, uint64_t off)
{
	return folder_write_at(((struct folder_file *)f)->fd, buf, len, off);
}

static int folder_truncate(struct ds_file *f, uint64_t size, int durable)
{
	int fd = ((struct folder_file *)f)->fd;
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	return durable && fsync(fd) < 0 ? -errno : 0;
}

/* The fan-out folders of a blob file path (its two parents). */
static int mkdir_parents(const char *file)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s", file);
	char *slash = strrchr(path, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	char *s2 = strrchr(path, '/');
	if (!s2 || errno != ENOENT)
		return -errno;
	*s2 = '\0';
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	*s2 = '/';
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static int folder_put_tmp(struct datastore *ds, const char *name, const char *tmp,
			  const void *a, size_t alen, const void *b, size_t blen)
{
	(void)ds;
	int r = mkdir_parents(name);
	if (r < 0)
		return r;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (fd < 0)
		return -errno;
	r = folder_write_at(fd, a, alen, 0);
	if (!r)
		r = folder_write_at(fd, b, blen, alen);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

static int folder_publish(struct datastore *ds, const char *tmp, const char *name)
{
	(void)ds;
	return rename(tmp, name) < 0 ? -errno : 0;
}

static int folder_exists(struct datastore *ds, const char *name)
{
	(void)ds;
	return access(name, F_OK) < 0 ? -errno : 0;
}

static int folder_remove(struct datastore *ds, const char *name)
{
	(void)ds;
	return unlink(name) < 0 ? -errno : 0;
}

static int folder_list(struct datastore *ds, const char *prefix,
		       int (*cb)(void *arg, const char *name), void *arg)
{
	(void)ds;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s", prefix);
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	int r = 0;
	while (!r && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char full[4500];
		snprintf(full, sizeof(full), "%s/%s", dir, e->d_name);
		r = cb(arg, full);
	}
	closedir(d);
	return r;
}

static int folder_sync(struct datastore *ds, const char *name)
{
	(void)ds;
	int fd = open(name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	int r = syncfs(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static void folder_writer_tag(struct datastore *ds, char *out, size_t len)
{
	(void)ds;
	snprintf(out, len, "%d", (int)getpid());
}

static void folder_free(struct datastore *ds)
{
	(void)ds;
}

static const struct datastore_ops folder_ops = {
	.kind = "folder",
	.open_read = folder_open_read,
	.pread = folder_pread,
	.map = folder_map,
	.close = folder_close,
	.create = folder_create,
	.append = folder_append,
	.truncate = folder_truncate,
	.put_tmp = folder_put_tmp,
	.publish = folder_publish,
	.exists = folder_exists,
	.remove = folder_remove,
	.list = folder_list,
	.sync = folder_sync,
	.writer_tag = folder_writer_tag,
	.free = folder_free,
};

static struct datastore folder = { &folder_ops };

/* ---------------- attached data stores ---------------- */

struct data_root {
	char *dir;
	size_t len;
	struct datastore *ds;
	int refs;
	struct data_root *next;
};

static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct data_root *roots;         /* guarded by roots_lock */
static atomic_int nroots;               /* lets the embedded store skip the lock */

/* dir's length without trailing slashes ("store/" is "store"). */
static size_t dir_len(const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return n;
}

/* Under roots_lock: the root of dir, or NULL. */
static struct data_root *root_of(const char *dir)
{
	size_t n = dir_len(dir);
	for (struct data_root *e = roots; e; e = e->next)
		if (e->len == n && !strncmp(e->dir, dir, n))
			return e;
	return NULL;
}

struct datastore *datastore_resolve(const char *path, const char **name)
{
	*name = path;
	if (atomic_load(&nroots) == 0)
		return &folder;
	struct datastore *ds = &folder;
	pthread_mutex_lock(&roots_lock);
	for (struct data_root *e = roots; e; e = e->next) {
		const char *rest = path + e->len;
		if (strncmp(path, e->dir, e->len) || rest[0] != '/')
			continue;
		while (*rest == '/')
			rest++;
		if (!strncmp(rest, "packs/", 6) || !strncmp(rest, "blobs/", 6)) {
			ds = e->ds;
			*name = rest;
			break;
		}
	}
	pthread_mutex_unlock(&roots_lock);
	return ds;
}

int datastore_attach(const char *dir, struct datastore *ds)
{
	pthread_mutex_lock(&roots_lock);
	struct data_root *e = root_of(dir);
	if (e) {
		e->refs++;
		pthread_mutex_unlock(&roots_lock);
		ds->ops->free(ds);
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->dir = strdup(dir))) {
		free(e);
		pthread_mutex_unlock(&roots_lock);
		return -ENOMEM;
	}
	e->len = dir_len(dir);
	e->dir[e->len] = '\0';
	e->ds = ds;
	e->refs = 1;
	e->next = roots;
	roots = e;
	atomic_fetch_add(&nroots, 1);
	pthread_mutex_unlock(&roots_lock);
	return 0;
}

void datastore_detach(const char *dir)
{
	struct datastore *gone = NULL;
	size_t n = dir_len(dir);
	pthread_mutex_lock(&roots_lock);
	for (struct data_root **pp = &roots; *pp; pp = &(*pp)->next) {
		struct data_root *e = *pp;
		if (e->len != n || strncmp(e->dir, dir, n))
			continue;
		if (--e->refs == 0) {
			*pp = e->next;
			gone = e->ds;
			free(e->dir);
			free(e);
			atomic_fetch_sub(&nroots, 1);
		}
		break;
	}
	pthread_mutex_unlock(&roots_lock);
	if (gone)
		gone->ops->free(gone);
}

int datastore_url_is_rados(const char *url)
{
	return !strncmp(url, "rados://", 8);
}
