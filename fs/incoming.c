/*
 * incoming.c - /incoming on admin mounts: an in-memory filesystem whose
 * files are real files in STORE/spool, ingested when they are closed.
 *
 * The first flush (close) after a write ingests the file (a file created
 * and closed unwritten is ingested, and refused as empty, at its last
 * close) and reports the outcome: 0 (stored; it leaves /incoming), EINVAL
 * (not DICOM or broken; moved to /incoming/.rejected with a .reason), or
 * the store error (ENOSPC, EIO; the file stays).  Writes through a second
 * descriptor after the file was ingested fail with EIO: ingestion happens
 * once, at the first flush after a write.  Spool files are named
 * in-<pid>-<n>, so a later mount can tell (and remove) those of a daemon
 * that died.
 */
#include "dcmfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int is_incoming_ino(fuse_ino_t ino)
{
	return ino == INO_INCOMING || ino == INO_REJECTED || ino_kind(ino) == K_SPOOL;
}

/* Caller holds in_lock. */
struct spool_entry *spool_find(struct dcmfs *d, fuse_ino_t ino)
{
	for (struct spool_entry *e = d->spool; e; e = e->next)
		if (e->ino == ino)
			return e;
	return NULL;
}

struct spool_entry *spool_by_name(struct dcmfs *d, fuse_ino_t parent, const char *name)
{
	for (struct spool_entry *e = d->spool; e; e = e->next)
		if (e->parent == parent && !strcmp(e->name, name))
			return e;
	return NULL;
}

static void spool_free(struct spool_entry *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->path);
	free(e);
}

/* Unlink e from the list (caller holds in_lock). */
static void spool_unlink(struct dcmfs *d, struct spool_entry *e)
{
	for (struct spool_entry **p = &d->spool; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			return;
		}
}

static struct spool_entry *spool_new(struct dcmfs *d, fuse_ino_t parent, const char *name,
				     int dir, const char *path, mode_t mode)
{
	struct spool_entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name)) || (path && !(e->path = strdup(path)))) {
		spool_free(e);
		return NULL;
	}
	e->ino = ino_make(K_SPOOL, (int64_t)++d->spool_next);
	e->parent = parent;
	e->dir = dir;
	e->mode = mode & 07777;
	e->mtime_ns = wall_clock_ns();
	e->next = d->spool;
	d->spool = e;
	return e;
}

static int spool_has_children(struct dcmfs *d, fuse_ino_t parent)
{
	for (struct spool_entry *e = d->spool; e; e = e->next)
		if (e->parent == parent)
			return 1;
	return 0;
}

/* Is ino .rejected or below it?  Caller holds in_lock. */
static int spool_in_rejected(struct dcmfs *d, fuse_ino_t ino)
{
	for (int depth = 0; ino_kind(ino) == K_SPOOL && depth < 1000; depth++) {
		struct spool_entry *e = spool_find(d, ino);
		if (!e)
			return 0;
		ino = e->parent;
	}
	return ino == INO_REJECTED;
}

/* How long a folder emptied by ingest stays (cp -r, storescp: the next
 * file of the folder may be on its way). */
#define EMPTIED_GRACE_NS (5 * INT64_C(1000000000))

void spool_reap_emptied(struct dcmfs *d)
{
	int64_t now = wall_clock_ns();
	for (struct spool_entry *e = d->spool; e;) {
		if (!e->dir || !e->emptied_ns || now - e->emptied_ns < EMPTIED_GRACE_NS ||
		    spool_has_children(d, e->ino)) {
			e = e->next;
			continue;
		}
		/* Its parent, emptied by this in turn, may go at once. */
		struct spool_entry *up = ino_kind(e->parent) == K_SPOOL ? spool_find(d, e->parent) : NULL;
		if (up)
			up->emptied_ns = e->emptied_ns;
		spool_unlink(d, e);
		spool_free(e);
		e = d->spool;
	}
}

static int spool_subdir_count(struct dcmfs *d, fuse_ino_t parent)
{
	int n = 0;
	for (struct spool_entry *e = d->spool; e; e = e->next)
		n += e->parent == parent && e->dir;
	return n;
}

/* Caller holds in_lock. */
int spool_stat(struct dcmfs *d, fuse_ino_t ino, struct stat *st)
{
	if (ino == INO_INCOMING || ino == INO_REJECTED) {
		/* Their times are the spool folders' on disk, which change
		 * exactly when these do (not at each mount). */
		int64_t t = store_sub_time_ns(d, ino == INO_INCOMING ? "spool" : "spool/.rejected");
		fill_common(d, st, ino, S_IFDIR, 0755, 2 + spool_subdir_count(d, ino) +
			    (ino == INO_INCOMING), t ? t : store_sub_time_ns(d, "spool"));
		st->st_size = 4096;
		st->st_blocks = 8;
		return 0;
	}
	struct spool_entry *e = spool_find(d, ino);
	if (!e)
		return -ENOENT;
	if (e->dir) {
		/* a folder of .rejected has its folder on disk, and its time */
		struct stat real;
		int64_t t = e->path && !stat(e->path, &real) ?
			(int64_t)real.st_mtim.tv_sec * 1000000000 + real.st_mtim.tv_nsec : e->mtime_ns;
		fill_common(d, st, ino, S_IFDIR, e->mode, 2 + spool_subdir_count(d, ino), t);
		st->st_size = 4096;
		st->st_blocks = 8;
	} else {
		struct stat real;
		if (stat(e->path, &real) < 0)
			return -errno;
		fill_common(d, st, ino, S_IFREG, e->mode, 1, 0);
		st->st_size = real.st_size;
		st->st_blocks = real.st_blocks;
		st->st_mtim = real.st_mtim;
		st->st_atim = real.st_atim;
		st->st_ctim = real.st_ctim;
	}
	st->st_uid = e->uid;
	st->st_gid = e->gid;
	return 0;
}

static void spool_new_path(struct dcmfs *d, char *out, size_t len)
{
	pthread_mutex_lock(&d->in_lock);
	uint64_t n = ++d->spool_next;
	pthread_mutex_unlock(&d->in_lock);
	snprintf(out, len, "%s/spool/in-%ld-%llu", d->store_dir, (long)getpid(),
		 (unsigned long long)n);
}

/* Is pid a running dcmfs daemon (this one aside)?  A process of another
 * name holding a reused pid, or a zombie, does not count; without /proc,
 * any live process does (keeping a stale file is the safe mistake). */
static int spool_owner_alive(pid_t pid)
{
	if (pid <= 0 || pid == getpid())
		return 0;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 0;
	char path[64], line[256] = "";
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 1;
	int got = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	/* "pid (comm) state ..." */
	char *open_p = strchr(line, '('), *close_p = strrchr(line, ')');
	if (!got || !open_p || !close_p || close_p[1] != ' ')
		return 1;
	return strncmp(open_p + 1, "dcmfs", 5) == 0 && close_p[2] != 'Z' && close_p[2] != 'X';
}

/* Remove spool files left by a daemon that died while a file was being
 * copied into /incoming (spool/in-<pid>-<n>): nobody can finish or even
 * see them, and they hold disk space for ever.  Files of daemons still
 * running (the store mounted twice) are theirs and stay. */
void spool_clean_stale(struct dcmfs *d)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/spool", d->store_dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dp = dfd < 0 ? NULL : fdopendir(dfd);
	if (!dp) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(dp))) {
		long pid;
		unsigned long long n;
		int end = 0;
		if (sscanf(de->d_name, "in-%ld-%llu%n", &pid, &n, &end) != 2 || de->d_name[end])
			continue;
		if (!spool_owner_alive((pid_t)pid))
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(dp);
}

#define REJECTED_DEPTH 64        /* folders below .rejected, at most */

/* Show folder dfd (path, closed here) as folder parent of .rejected: its
 * regular files and folders, never what a link or FIFO planted there
 * points to (lstat, O_NOFOLLOW). */
static void load_rejected_dir(struct dcmfs *d, int dfd, const char *path, fuse_ino_t parent,
			      int depth)
{
	DIR *dp = fdopendir(dfd);
	if (!dp) {
		close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		struct stat st;
		if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub))
			continue;
		if (S_ISREG(st.st_mode)) {
			pthread_mutex_lock(&d->in_lock);
			spool_new(d, parent, de->d_name, 0, sub, 0644);
			pthread_mutex_unlock(&d->in_lock);
		} else if (S_ISDIR(st.st_mode) && depth < REJECTED_DEPTH) {
			int fd = openat(dirfd(dp), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				continue;
			pthread_mutex_lock(&d->in_lock);
			struct spool_entry *e = spool_new(d, parent, de->d_name, 1, sub, 0755);
			fuse_ino_t ino = e ? e->ino : 0;
			pthread_mutex_unlock(&d->in_lock);
			if (ino)
				load_rejected_dir(d, fd, sub, ino, depth + 1);
			else
				close(fd);
		}
	}
	closedir(dp);
}

/* Load STORE/spool/.rejected into /incoming/.rejected. */
void spool_load_rejected(struct dcmfs *d)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/spool/.rejected", d->store_dir);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		load_rejected_dir(d, fd, dir, INO_REJECTED, 0);
}

/* The folder of .rejected that takes a file refused from folder parent of
 * /incoming: the same relative path, made on disk and shown.  Folders are
 * opened without following links: where one cannot be a folder (a file
 * or a planted link has its name) the file stays in the last one that is.
 * Returns an open descriptor of it, with its path in dir and its inode in
 * *shown; -1 when not even .rejected opens.  Caller holds in_lock. */
static int rejected_folder(struct dcmfs *d, fuse_ino_t parent, char *dir, size_t len,
			   fuse_ino_t *shown)
{
	const char *names[REJECTED_DEPTH];
	int n = 0;
	for (fuse_ino_t p = parent; ino_kind(p) == K_SPOOL;) {
		struct spool_entry *e = spool_find(d, p);
		if (!e)
			break;
		if (n == REJECTED_DEPTH)        /* too deep: the innermost folders only */
			break;
		names[n++] = e->name;
		p = e->parent;
	}
	snprintf(dir, len, "%s/spool/.rejected", d->store_dir);
	mkdir(dir, 0755);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	*shown = INO_REJECTED;
	while (fd >= 0 && n > 0) {
		const char *name = names[--n];
		size_t used = strlen(dir);
		if (used + 1 + strlen(name) >= len)
			break;
		if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST)
			break;
		int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			break;
		struct spool_entry *e = spool_by_name(d, *shown, name);
		if (e && !e->dir) {
			close(sub);
			break;
		}
		snprintf(dir + used, len - used, "/%s", name);
		if (!e && !(e = spool_new(d, *shown, name, 1, dir, 0755))) {
			dir[used] = '\0';
			close(sub);
			break;
		}
		close(fd);
		fd = sub;
		*shown = e->ino;
	}
	return fd;
}

/* Move a refused spool file to .rejected/<path>/<name> (its path below
 * /incoming kept) with <name>.reason beside it; e (already out of the
 * list) becomes the entry of the moved file. */
static void spool_reject(struct dcmfs *d, struct spool_entry *e, const char *reason)
{
	char dir[PATH_MAX], name[NAME_MAX + 1], rname[NAME_MAX + 16];
	fuse_ino_t folder;
	pthread_mutex_lock(&d->in_lock);
	int dfd = rejected_folder(d, e->parent, dir, sizeof(dir), &folder);
	/* A free name: <name>, <name>.1, ... (neither it nor its .reason taken). */
	for (int i = 0; dfd >= 0 && i < 10000; i++) {
		if (i)
			snprintf(name, sizeof(name), "%.200s.%d", e->name, i);
		else
			snprintf(name, sizeof(name), "%.240s", e->name);
		snprintf(rname, sizeof(rname), "%s.reason", name);
		if (faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) &&
		    faccessat(dfd, rname, F_OK, AT_SYMLINK_NOFOLLOW) &&
		    !spool_by_name(d, folder, name))
			break;
	}
	if (dfd < 0 || renameat(AT_FDCWD, e->path, dfd, name) < 0) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: cannot move '%s' to '%s': %s\n", e->path, dir,
			 strerror(errno));
		unlink(e->path);
		if (dfd >= 0)
			close(dfd);
		pthread_mutex_unlock(&d->in_lock);
		spool_free(e);
		return;
	}
	/* The name was picked free above: create it, never follow or reuse. */
	int rfd = openat(dfd, rname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	close(dfd);
	FILE *f = rfd < 0 ? NULL : fdopen(rfd, "w");
	if (!f && rfd >= 0)
		close(rfd);
	if (f) {
		fprintf(f, "%s\n", reason);
		fclose(f);
	}
	char dst[PATH_MAX + 2 * NAME_MAX], rpath[PATH_MAX + 2 * NAME_MAX + 16];
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	snprintf(rpath, sizeof(rpath), "%s/%s", dir, rname);
	free(e->name);
	free(e->path);
	e->name = strdup(name);
	e->path = strdup(dst);
	e->parent = folder;
	e->busy = 0;
	e->next = d->spool;
	d->spool = e;
	if (f)
		spool_new(d, folder, rname, 0, rpath, 0644);
	pthread_mutex_unlock(&d->in_lock);
}

/* One line per file ingested through /incoming (log.h): what became of it. */
static void incoming_log(const char *name, int r, const struct ingest_result *res)
{
	static const char *const outcome[] = {
		[INGEST_NEW] = "stored, new", [INGEST_DUPLICATE] = "duplicate of",
		[INGEST_VERSION] = "stored, new version of",
	};
	if (r == -EINVAL) {
		fuse_log(FUSE_LOG_INFO, "dcmfs: incoming '%s': rejected: %s\n", name,
			 res->reason[0] ? res->reason : "not accepted");
	} else if (r) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: incoming '%s': not stored (%s): %s\n", name,
			 strerror(-r), res->reason[0] ? res->reason : strerror(-r));
	} else if (res->outcome >= 0 && (size_t)res->outcome < sizeof(outcome) / sizeof(*outcome) &&
		   outcome[res->outcome]) {
		fuse_log(FUSE_LOG_INFO, "dcmfs: incoming '%s': %s instance %" PRId64 "%s%s\n", name,
			 outcome[res->outcome], res->instance_id, res->quarantined ? "; quarantined: " : "",
			 res->quarantined ? res->reason : "");
	}
}

/* Ingest the spool file of entry ino.  Returns 0 when stored (or already
 * there), -EINVAL when refused, or the store's -errno. */
static int spool_ingest(struct dcmfs *d, fuse_ino_t ino)
{
	pthread_mutex_lock(&d->in_lock);
	struct spool_entry *e = spool_find(d, ino);
	if (!e || e->dir || e->busy || spool_in_rejected(d, ino)) {
		pthread_mutex_unlock(&d->in_lock);
		return e && e->busy ? -EBUSY : e ? 0 : -EIO;
	}
	e->busy = 1;
	char *path = strdup(e->path);
	pthread_mutex_unlock(&d->in_lock);
	if (!path)
		return -ENOMEM;

	struct ingest_result res;
	memset(&res, 0, sizeof(res));
	int r = ingest_one(d->ing, path, &res);
	if (!r) {
		switch (res.outcome) {
		case INGEST_NEW:
		case INGEST_DUPLICATE:
		case INGEST_VERSION:
			r = 0;
			if (res.refiled)
				fuse_log(FUSE_LOG_WARNING, "dcmfs: '%s' (instance %" PRId64 ") is a new version"
					 " of an instance first filed in another series\n", e->name,
					 res.instance_id);
			break;
		case INGEST_REJECTED:
			r = -EINVAL;
			break;
		default:
			r = res.err < 0 ? res.err : -EIO;
			break;
		}
	}
	pthread_mutex_lock(&d->in_lock);
	e = spool_find(d, ino);
	if (e && (r == 0 || r == -EINVAL)) {
		spool_unlink(d, e);
		/* its folder, if now empty, goes after a moment (spool_reap_emptied) */
		struct spool_entry *up = ino_kind(e->parent) == K_SPOOL ? spool_find(d, e->parent) : NULL;
		if (up)
			up->emptied_ns = wall_clock_ns();
	} else if (e) {
		e->busy = 0;
	}
	pthread_mutex_unlock(&d->in_lock);
	incoming_log(e ? e->name : path, r, &res);
	if (e && r == 0) {
		unlink(path);
		spool_free(e);
	} else if (e && r == -EINVAL) {
		spool_reject(d, e, res.reason[0] ? res.reason : "not accepted");
	}
	free(path);
	return r;
}

/* Drop a spool file whose writing failed: the writer was told, and a
 * partial file must neither be ingested nor keep the disk full. */
static void spool_discard(struct dcmfs *d, fuse_ino_t ino)
{
	pthread_mutex_lock(&d->in_lock);
	struct spool_entry *e = spool_find(d, ino);
	char *path = NULL;
	if (e && !e->busy) {
		path = strdup(e->path);
		spool_unlink(d, e);
	} else {
		e = NULL;
	}
	pthread_mutex_unlock(&d->in_lock);
	if (path)
		unlink(path);
	free(path);
	if (e)
		spool_free(e);
}

/* The open /incoming file of a write request, or NULL after refusing the
 * request (anything else open is stored data). */
static struct open_file *spool_file_or_refuse(fuse_req_t req, struct fuse_file_info *fi)
{
	struct open_file *f = open_file_of(fi);
	if (f && f->type == OPEN_SPOOL)
		return f;
	fuse_reply_err(req, refusal_errno(req_daemon(req)));
	return NULL;
}

void incoming_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		    off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	struct open_file *f = spool_file_or_refuse(req, fi);
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	int gone = f->ingested;
	f->dirty = 1;
	pthread_mutex_unlock(&f->lock);
	if (gone) {
		fuse_reply_err(req, EIO);
		return;
	}
	ssize_t n = pwrite(f->fd, buf, size, off);
	if (n < 0 || (size_t)n < size) {
		int e = n < 0 ? errno : ENOSPC;
		pthread_mutex_lock(&f->lock);
		f->write_err = e;
		pthread_mutex_unlock(&f->lock);
		/* Give the space back now: this file will not be kept. */
		if (ftruncate(f->fd, 0) < 0) { /* the error below is what counts */ }
		fuse_reply_err(req, e);
	} else {
		fuse_reply_write(req, (size_t)n);
	}
}

void incoming_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct dcmfs *d = req_daemon(req);
	struct open_file *f = open_file_of(fi);
	if (!f && d->icache) {
		/* Read-only mount: nothing to flush, ever; ENOSYS tells the
		 * kernel to stop asking (one round trip less per close). */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (!f || f->type != OPEN_SPOOL) {
		fuse_reply_err(req, 0);
		return;
	}
	pthread_mutex_lock(&f->lock);
	int werr = f->write_err;
	int todo = f->dirty && !f->ingested && !werr;
	f->dirty = 0;
	f->ingested |= todo;
	pthread_mutex_unlock(&f->lock);
	int r = todo ? spool_ingest(d, f->ino) : -werr;
	fuse_reply_err(req, -r);
}

void incoming_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi)
{
	(void)ino;
	struct open_file *f = open_file_of(fi);
	int r = 0;
	if (f && f->type == OPEN_SPOOL && (datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0)
		r = errno;
	fuse_reply_err(req, r);
}

/* Is parent a folder of /incoming where entries may be made? */
static int in_writable_dir(struct dcmfs *d, fuse_ino_t parent)
{
	if (!d->ing)
		return 0;
	if (parent == INO_INCOMING)
		return 1;
	pthread_mutex_lock(&d->in_lock);
	struct spool_entry *e = ino_kind(parent) == K_SPOOL ? spool_find(d, parent) : NULL;
	int ok = e && e->dir && !spool_in_rejected(d, parent);
	pthread_mutex_unlock(&d->in_lock);
	return ok;
}

/* A new entry name under parent, owned by the caller of the request: a
 * file backed by path, or a folder when path is NULL.  0 with *e and *st
 * set; -EEXIST (the name is taken, or is .rejected) or -ENOMEM. */
static int spool_add(struct dcmfs *d, fuse_ino_t parent, const char *name, const char *path,
		     mode_t mode, const struct fuse_ctx *ctx, struct spool_entry **e, struct stat *st)
{
	int r = 0;
	pthread_mutex_lock(&d->in_lock);
	if (spool_by_name(d, parent, name) || (parent == INO_INCOMING && !strcmp(name, ".rejected")))
		r = -EEXIST;
	else if (!(*e = spool_new(d, parent, name, !path, path, mode & ~ctx->umask)))
		r = -ENOMEM;
	if (*e) {
		(*e)->uid = ctx->uid;
		(*e)->gid = ctx->gid;
		r = spool_stat(d, (*e)->ino, st);
	}
	pthread_mutex_unlock(&d->in_lock);
	return r;
}

void incoming_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, struct fuse_file_info *fi)
{
	struct dcmfs *d = req_daemon(req);
	if (d->o.ro || !in_writable_dir(d, parent)) {
		fuse_reply_err(req, refusal_at(d, parent) == EROFS ? EROFS : is_incoming_ino(parent) ? EACCES : EPERM);
		return;
	}
	if (strlen(name) > 240) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	char path[PATH_MAX];
	spool_new_path(d, path, sizeof(path));
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct open_file *f = calloc(1, sizeof(*f));
	struct stat st;
	struct spool_entry *e = NULL;
	int r = f ? spool_add(d, parent, name, path, mode, ctx, &e, &st) : -ENOMEM;
	if (r) {
		close(fd);
		unlink(path);
		free(f);
		fuse_reply_err(req, -r);
		return;
	}
	f->type = OPEN_SPOOL;
	f->fd = fd;
	f->ino = e->ino;
	f->dirty = 0;       /* ingested at the first flush after a write */
	f->created = 1;
	pthread_mutex_init(&f->lock, NULL);
	fi->fh = (uintptr_t)f;
	struct fuse_entry_param ep;
	memset(&ep, 0, sizeof(ep));
	ep.ino = st.st_ino;
	ep.attr = st;
	stat_for_kernel(d, &ep.attr);
	if (fuse_reply_create(req, &ep, fi) == -ENOENT)
		open_file_free(f);
}

void incoming_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct dcmfs *d = req_daemon(req);
	if (d->o.ro || !in_writable_dir(d, parent)) {
		fuse_reply_err(req, refusal_at(d, parent));
		return;
	}
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat st;
	struct spool_entry *e = NULL;
	int r = spool_add(d, parent, name, NULL, mode, ctx, &e, &st);
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &st, 0);
}

int spool_remove(struct dcmfs *d, fuse_ino_t parent, const char *name, int dir)
{
	pthread_mutex_lock(&d->in_lock);
	struct spool_entry *e = spool_by_name(d, parent, name);
	int r = 0;
	if (!e)
		r = parent == INO_INCOMING && !strcmp(name, ".rejected") ? -EPERM : -ENOENT;
	else if (dir && !e->dir)
		r = -ENOTDIR;
	else if (!dir && e->dir)
		r = -EISDIR;
	else if (e->busy)
		r = -EBUSY;
	else if (dir && spool_has_children(d, e->ino))
		r = -ENOTEMPTY;
	if (!r) {
		spool_unlink(d, e);
		if (e->path && (e->dir ? rmdir(e->path) : unlink(e->path)) < 0 && errno != ENOENT)
			fuse_log(FUSE_LOG_WARNING, "dcmfs: cannot remove '%s': %s\n", e->path,
				 strerror(errno));
		spool_free(e);
	}
	pthread_mutex_unlock(&d->in_lock);
	return r;
}

void incoming_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		      int to_set, struct fuse_file_info *fi)
{
	struct dcmfs *d = req_daemon(req);
	if (d->o.ro || !is_incoming_ino(ino) || ino == INO_INCOMING || ino == INO_REJECTED || !d->ing) {
		fuse_reply_err(req, refusal_at(d, ino));
		return;
	}
	int r = 0;
	pthread_mutex_lock(&d->in_lock);
	struct spool_entry *e = spool_find(d, ino);
	if (!e)
		r = -ENOENT;
	if (!r && (to_set & FUSE_SET_ATTR_SIZE)) {
		if (e->dir)
			r = -EISDIR;
		else if ((fi && open_file_of(fi) && open_file_of(fi)->type == OPEN_SPOOL ? ftruncate(open_file_of(fi)->fd, attr->st_size) :
			  truncate(e->path, attr->st_size)) < 0)
			r = -errno;
		else if (fi && open_file_of(fi) && open_file_of(fi)->type == OPEN_SPOOL) {
			pthread_mutex_lock(&open_file_of(fi)->lock);
			open_file_of(fi)->dirty = 1;
			pthread_mutex_unlock(&open_file_of(fi)->lock);
		}
	}
	if (!r && (to_set & FUSE_SET_ATTR_MODE))
		e->mode = attr->st_mode & 07777;
	if (!r && (to_set & FUSE_SET_ATTR_UID))
		e->uid = attr->st_uid;
	if (!r && (to_set & FUSE_SET_ATTR_GID))
		e->gid = attr->st_gid;
	if (!r && (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME))) {
		struct timespec tv[2];
		tv[0].tv_nsec = UTIME_OMIT;
		tv[1].tv_nsec = UTIME_OMIT;
		if (to_set & FUSE_SET_ATTR_ATIME)
			tv[0] = to_set & FUSE_SET_ATTR_ATIME_NOW ? (struct timespec){ 0, UTIME_NOW } :
								    attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME)
			tv[1] = to_set & FUSE_SET_ATTR_MTIME_NOW ? (struct timespec){ 0, UTIME_NOW } :
								    attr->st_mtim;
		if (e->dir) {
			if (to_set & FUSE_SET_ATTR_MTIME)
				e->mtime_ns = to_set & FUSE_SET_ATTR_MTIME_NOW ? wall_clock_ns() :
					(int64_t)attr->st_mtim.tv_sec * 1000000000 + attr->st_mtim.tv_nsec;
		} else if (utimensat(AT_FDCWD, e->path, tv, 0) < 0) {
			r = -errno;
		}
	}
	struct stat st;
	if (!r)
		r = spool_stat(d, ino, &st);
	pthread_mutex_unlock(&d->in_lock);
	if (!r)
		stat_for_kernel(d, &st);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, 0);
}

void incoming_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct dcmfs *d = req_daemon(req);
	if (refusal_at(d, parent) == EROFS || refusal_at(d, newparent) == EROFS) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&d->in_lock);
	int from_rejected = spool_in_rejected(d, parent);
	pthread_mutex_unlock(&d->in_lock);
	if (!is_incoming_ino(parent) || !in_writable_dir(d, newparent) || from_rejected) {
		fuse_reply_err(req, is_incoming_ino(parent) != is_incoming_ino(newparent) ? EXDEV : EPERM);
		return;
	}
	if (flags & ~RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int r = 0;
	pthread_mutex_lock(&d->in_lock);
	struct spool_entry *e = spool_by_name(d, parent, name);
	struct spool_entry *old = spool_by_name(d, newparent, newname);
	char *nn = strdup(newname);
	if (!e)
		r = -ENOENT;
	else if (!nn)
		r = -ENOMEM;
	else if (e->busy || (old && old->busy))
		r = -EBUSY;
	else if (newparent == INO_INCOMING && !strcmp(newname, ".rejected"))
		r = -EEXIST;
	else if (old && old == e)
		r = 0;
	else if (old && (flags & RENAME_NOREPLACE))
		r = -EEXIST;
	else if (old && old->dir != e->dir)
		r = old->dir ? -EISDIR : -ENOTDIR;
	else if (old && old->dir && spool_has_children(d, old->ino))
		r = -ENOTEMPTY;
	if (!r && e->dir)
		for (fuse_ino_t p = newparent; p != INO_INCOMING && !r;) {
			if (p == e->ino)
				r = -EINVAL;    /* into itself */
			struct spool_entry *pe = spool_find(d, p);
			p = pe ? pe->parent : INO_INCOMING;
		}
	if (!r && old && old != e) {
		spool_unlink(d, old);
		if (old->path)
			unlink(old->path);
		spool_free(old);
	}
	if (!r && old != e) {
		free(e->name);
		e->name = nn;
		nn = NULL;
		e->parent = newparent;
	}
	pthread_mutex_unlock(&d->in_lock);
	free(nn);
	fuse_reply_err(req, -r);
}

void incoming_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			off_t length, struct fuse_file_info *fi)
{
	(void)ino;
	struct open_file *f = spool_file_or_refuse(req, fi);
	if (!f)
		return;
	fuse_reply_err(req, fallocate(f->fd, mode, offset, length) < 0 ? errno : 0);
}

/* open of an /incoming file: a descriptor on its spool file. */
void incoming_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dcmfs *d = req_daemon(req);
	int acc = fi->flags & O_ACCMODE;
	pthread_mutex_lock(&d->in_lock);
	struct spool_entry *e = spool_find(d, ino);
	char *path = e && !e->dir ? strdup(e->path) : NULL;
	pthread_mutex_unlock(&d->in_lock);
	if (!path) {
		fuse_reply_err(req, e ? EISDIR : ENOENT);
		return;
	}
	struct open_file *f = calloc(1, sizeof(*f));
	int fd = open(path, (acc == O_RDONLY ? O_RDONLY : O_RDWR) |
		      (fi->flags & (O_APPEND | O_TRUNC)) | O_CLOEXEC | O_NOFOLLOW);
	int err = fd < 0 ? errno : !f ? ENOMEM : 0;
	free(path);
	if (err) {
		if (fd >= 0)
			close(fd);
		free(f);
		fuse_reply_err(req, err);
		return;
	}
	f->type = OPEN_SPOOL;
	f->fd = fd;
	f->ino = ino;
	pthread_mutex_init(&f->lock, NULL);
	f->dirty = acc != O_RDONLY && (fi->flags & O_TRUNC);
	fi->fh = (uintptr_t)f;
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_file_free(f);
}

/* The last close of an /incoming file: ingest it if it was written (or
 * created), drop it if a write failed.  The caller frees f. */
void incoming_release(struct dcmfs *d, struct open_file *f)
{
	pthread_mutex_lock(&f->lock);
	int werr = f->write_err;
	/* A file created and closed without a write (touch, `: >`) is
	 * refused as empty here, or it would sit in /incoming forever. */
	int todo = (f->dirty || f->created) && !f->ingested && !werr;
	f->dirty = 0;
	f->ingested |= todo;
	pthread_mutex_unlock(&f->lock);
	close(f->fd);
	if (werr)
		spool_discard(d, f->ino);
	else if (todo)
		spool_ingest(d, f->ino);
}

void spool_free_all(struct dcmfs *d)
{
	while (d->spool) {
		struct spool_entry *e = d->spool;
		d->spool = e->next;
		spool_free(e);
	}
}
