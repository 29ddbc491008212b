/*
 * dcmfs.c - the dcmfs FUSE daemon: a dcmfs store mounted as a DICOM tree.
 *
 *   /patients/<patient>/studies/<study>/<series>/<SOP>.dcm   (read-only files)
 *   /incoming/                 (admin mount: drop files here to import them)
 *   /incoming/.rejected/       (files that were refused, each with <name>.reason)
 *
 * libfuse3 low-level API, multi-threaded loop.  Every file read through the
 * mount is byte-for-byte the file that was stored; stored files never change,
 * so opens keep the page cache and instance attributes are cached for an
 * hour, folders for a second.  Inode numbers are catalogue row ids with a
 * kind in the top byte (see dcmfs.h), so they survive remounts and the
 * daemon keeps no per-inode state: lookup counts need no bookkeeping and
 * forget is a no-op.  A poll thread watches the catalogue's data_version
 * and invalidates the kernel's view of folders that changed, so a
 * `dcmfsctl import` or `rm` elsewhere shows within a second.
 *
 * Writing (admin mount, without -o ro): files created under /incoming are
 * real files in STORE/spool; the first flush (close) after a write ingests
 * the file (a file created and closed unwritten is ingested, and refused as
 * empty, at its last close) and reports the outcome: 0 (stored; it leaves /incoming), EINVAL
 * (not DICOM or broken; moved to /incoming/.rejected with a .reason), or
 * the store error (ENOSPC, EIO; the file stays).  unlink of an instance and
 * rmdir of an emptied folder remove from the catalogue (store_remove_node);
 * everything else that writes to the stored tree fails with EPERM, and every
 * write on a read-only mount with EROFS.
 *
 * Sharp edges:
 *  - A folder is gone from the catalogue once its last file is removed; the
 *    daemon keeps such folders as empty "ghosts" until rmdir or unmount.
 *  - Writes through a second descriptor after the file was ingested fail
 *    with EIO: ingestion happens once, at the first flush after a write.
 *  - Inode numbers use all 64 bits: 32-bit programs without LFS get EOVERFLOW.
 *  - Each unlink syncs its tombstone (appended to the daemon's one
 *    tombstone pack) before its rows go, so `rm -r` of a big study costs a
 *    syncfs per file.
 */
#include "dcmfs.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "maint.h"
#include "prefetch.h"

#define TIMEOUT_FILE 3600.0
#define TIMEOUT_DIR 1.0
#define POLL_MS 300
#define PREFETCH_AHEAD 6        /* files of a series decoded ahead of a reader */

static struct dcmfs *dfs(fuse_req_t req) { return fuse_req_userdata(req); }

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------- per-thread state ---------------- */

static void tstate_free(void *p)
{
	struct tstate *t = p;
	if (!t)
		return;
	catalog_close(t->cat);
	codec_ctx_free(t->ctx);
	free(t->sc.buf);
	free(t->reply);
	free(t);
}

struct tstate *tstate_get(struct dcmfs *d)
{
	struct tstate *t = pthread_getspecific(d->tkey);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (store_catalog(d->store, &t->cat) || !(t->ctx = codec_ctx_new())) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: cannot open the catalogue for a new thread\n");
		tstate_free(t);
		return NULL;
	}
	t->sc.ctx = t->ctx;
	pthread_setspecific(d->tkey, t);
	return t;
}

/* ---------------- attributes ---------------- */

static void ts_set(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
}

static void fill_common(struct dcmfs *d, struct stat *st, fuse_ino_t ino,
			mode_t type, mode_t perm, nlink_t nlink, int64_t mtime_ns)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = type | (perm & ~d->o.umask & 07777);
	st->st_nlink = nlink;
	st->st_uid = d->o.uid;
	st->st_gid = d->o.gid;
	st->st_blksize = 1 << 20;
	ts_set(&st->st_mtim, mtime_ns);
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static mode_t dir_perm(struct dcmfs *d) { (void)d; return 0555; }

static void stat_dir(struct dcmfs *d, struct stat *st, fuse_ino_t ino,
		     nlink_t nlink, int64_t mtime_ns)
{
	fill_common(d, st, ino, S_IFDIR, dir_perm(d), nlink, mtime_ns);
	st->st_size = 4096;
	st->st_blocks = 8;
}

/* A catalogue node (kind from enum cat_kind) as a stat. */
static void stat_node(struct dcmfs *d, int kind, const struct cat_node *n,
		      struct stat *st)
{
	fuse_ino_t ino = ino_make(kind, n->id);
	if (kind_view(kind) && kind_cat(kind) != K_SERIES && kind_cat(kind) != K_INSTANCE) {
		/* A view folder: its count of subfolders is not known (and
		 * nlink 1 tells find so). */
		stat_dir(d, st, ino, 1, n->mtime_ns);
		return;
	}
	switch (kind_cat(kind)) {
	case K_PATIENT:
		stat_dir(d, st, ino, 3, n->mtime_ns);
		break;
	case K_STUDY:
		stat_dir(d, st, ino, 2 + (nlink_t)n->size, n->mtime_ns);
		break;
	case K_SERIES:
		stat_dir(d, st, ino, 2, n->mtime_ns);
		break;
	default:
		fill_common(d, st, ino, S_IFREG, 0444, 1, n->mtime_ns);
		st->st_size = (off_t)n->size;
		st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
		break;
	}
}

static double node_timeout(int kind)
{
	return kind == K_INSTANCE ? TIMEOUT_FILE : TIMEOUT_DIR;
}

/* The catalogue view and parent of the children of a view folder (the
 * view's root or one of its folders); 0, or -ENOTDIR for anything else. */
static int view_parent(fuse_ino_t ino, int *view, int *pkind, int64_t *pid)
{
	int kind = ino_kind(ino);
	if (ino == INO_VERSIONS || ino == INO_QUARANTINE) {
		*view = ino == INO_VERSIONS ? CAT_VIEW_VERSIONS : CAT_VIEW_QUARANTINE;
		*pkind = 0;
		*pid = 0;
		return 0;
	}
	if (!kind_view(kind) || kind_cat(kind) < K_PATIENT || kind_cat(kind) > K_SERIES)
		return -ENOTDIR;
	*view = kind_view(kind);
	*pkind = kind_cat(kind);
	*pid = ino_id(ino);
	return 0;
}

/* ---------------- ghosts ---------------- */

static int ghost_find(struct dcmfs *d, int kind, int64_t id, struct ghost *out)
{
	int found = 0;
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost *g = d->ghosts; g; g = g->next)
		if (g->kind == kind && g->id == id) {
			*out = *g;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&d->ghost_lock);
	return found;
}

static int ghost_by_name(struct dcmfs *d, fuse_ino_t parent, const char *name,
			 struct ghost *out)
{
	int found = 0;
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost *g = d->ghosts; g; g = g->next)
		if (g->parent == parent && !strcmp(g->name, name)) {
			*out = *g;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&d->ghost_lock);
	return found;
}

static int ghost_children(struct dcmfs *d, fuse_ino_t parent)
{
	int n = 0;
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost *g = d->ghosts; g; g = g->next)
		n += g->parent == parent;
	pthread_mutex_unlock(&d->ghost_lock);
	return n;
}

static void ghost_add(struct dcmfs *d, int kind, const struct cat_node *n,
		      fuse_ino_t parent)
{
	struct ghost *g = calloc(1, sizeof(*g));
	if (!g)
		return;
	g->kind = kind;
	g->id = n->id;
	g->parent = parent;
	snprintf(g->name, sizeof(g->name), "%s", n->name);
	g->mtime_ns = n->mtime_ns;
	pthread_mutex_lock(&d->ghost_lock);
	g->next = d->ghosts;
	d->ghosts = g;
	pthread_mutex_unlock(&d->ghost_lock);
}

static void ghost_del(struct dcmfs *d, int kind, int64_t id)
{
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost **p = &d->ghosts; *p; p = &(*p)->next)
		if ((*p)->kind == kind && (*p)->id == id) {
			struct ghost *g = *p;
			*p = g->next;
			free(g);
			break;
		}
	pthread_mutex_unlock(&d->ghost_lock);
}

static void stat_ghost(struct dcmfs *d, const struct ghost *g, struct stat *st)
{
	stat_dir(d, st, ino_make(g->kind, g->id), g->kind == K_PATIENT ? 3 : 2,
		 g->mtime_ns);
}

/* ---------------- /incoming ---------------- */

static int in_ino(fuse_ino_t ino)
{
	return ino == INO_INCOMING || ino == INO_REJECTED || ino_kind(ino) == K_SPOOL;
}

/* Caller holds in_lock. */
static struct spool_ent *sp_find(struct dcmfs *d, fuse_ino_t ino)
{
	for (struct spool_ent *e = d->spool; e; e = e->next)
		if (e->ino == ino)
			return e;
	return NULL;
}

static struct spool_ent *sp_by_name(struct dcmfs *d, fuse_ino_t parent, const char *name)
{
	for (struct spool_ent *e = d->spool; e; e = e->next)
		if (e->parent == parent && !strcmp(e->name, name))
			return e;
	return NULL;
}

static void sp_free(struct spool_ent *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->path);
	free(e);
}

/* Unlink e from the list (caller holds in_lock). */
static void sp_unlink(struct dcmfs *d, struct spool_ent *e)
{
	for (struct spool_ent **p = &d->spool; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			return;
		}
}

static struct spool_ent *sp_new(struct dcmfs *d, fuse_ino_t parent, const char *name,
				int dir, const char *path, mode_t mode)
{
	struct spool_ent *e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name)) || (path && !(e->path = strdup(path)))) {
		sp_free(e);
		return NULL;
	}
	e->ino = ino_make(K_SPOOL, (int64_t)++d->spool_next);
	e->parent = parent;
	e->dir = dir;
	e->mode = mode & 07777;
	e->mtime_ns = now_ns();
	e->next = d->spool;
	d->spool = e;
	return e;
}

static int sp_has_children(struct dcmfs *d, fuse_ino_t parent)
{
	for (struct spool_ent *e = d->spool; e; e = e->next)
		if (e->parent == parent)
			return 1;
	return 0;
}

static int sp_nsubdirs(struct dcmfs *d, fuse_ino_t parent)
{
	int n = 0;
	for (struct spool_ent *e = d->spool; e; e = e->next)
		n += e->parent == parent && e->dir;
	return n;
}

/* Caller holds in_lock. */
static int sp_stat(struct dcmfs *d, fuse_ino_t ino, struct stat *st)
{
	if (ino == INO_INCOMING || ino == INO_REJECTED) {
		fill_common(d, st, ino, S_IFDIR, 0755, 2 + sp_nsubdirs(d, ino) +
			    (ino == INO_INCOMING), d->started_ns);
		st->st_size = 4096;
		st->st_blocks = 8;
		return 0;
	}
	struct spool_ent *e = sp_find(d, ino);
	if (!e)
		return -ENOENT;
	if (e->dir) {
		fill_common(d, st, ino, S_IFDIR, e->mode, 2 + sp_nsubdirs(d, ino), e->mtime_ns);
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

static void spool_path(struct dcmfs *d, char *out, size_t len)
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
static int sp_daemon_alive(pid_t pid)
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
static void sp_clean_stale(struct dcmfs *d)
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
		if (!sp_daemon_alive((pid_t)pid))
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(dp);
}

/* Load STORE/spool/.rejected into /incoming/.rejected. */
static void sp_load_rejected(struct dcmfs *d)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/spool/.rejected", d->store_dir);
	DIR *dp = opendir(dir);
	if (!dp)
		return;
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		char path[PATH_MAX + 512];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		pthread_mutex_lock(&d->in_lock);
		sp_new(d, INO_REJECTED, de->d_name, 0, path, 0644);
		pthread_mutex_unlock(&d->in_lock);
	}
	closedir(dp);
}

/* Move a refused spool file to .rejected/<name> with <name>.reason beside
 * it; e (already out of the list) becomes the entry of the moved file. */
static void sp_reject(struct dcmfs *d, struct spool_ent *e, const char *reason)
{
	char dir[PATH_MAX], dst[PATH_MAX + 512], rpath[PATH_MAX + 600], name[NAME_MAX + 1];
	snprintf(dir, sizeof(dir), "%s/spool/.rejected", d->store_dir);
	mkdir(dir, 0755);
	pthread_mutex_lock(&d->in_lock);
	/* A free name: <name>, <name>.1, ... (neither it nor its .reason taken). */
	for (int i = 0; i < 10000; i++) {
		if (i)
			snprintf(name, sizeof(name), "%.200s.%d", e->name, i);
		else
			snprintf(name, sizeof(name), "%.240s", e->name);
		snprintf(dst, sizeof(dst), "%s/%s", dir, name);
		snprintf(rpath, sizeof(rpath), "%s.reason", dst);
		if (access(dst, F_OK) && access(rpath, F_OK) &&
		    !sp_by_name(d, INO_REJECTED, name))
			break;
	}
	if (rename(e->path, dst) < 0) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: cannot move '%s' to '%s': %s\n", e->path, dst,
			 strerror(errno));
		unlink(e->path);
		pthread_mutex_unlock(&d->in_lock);
		sp_free(e);
		return;
	}
	/* The name was picked free above: create it, never follow or reuse. */
	int rfd = open(rpath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = rfd < 0 ? NULL : fdopen(rfd, "w");
	if (!f && rfd >= 0)
		close(rfd);
	if (f) {
		fprintf(f, "%s\n", reason);
		fclose(f);
	}
	free(e->name);
	free(e->path);
	e->name = strdup(name);
	e->path = strdup(dst);
	e->parent = INO_REJECTED;
	e->busy = 0;
	e->next = d->spool;
	d->spool = e;
	char rname[NAME_MAX + 16];
	snprintf(rname, sizeof(rname), "%s.reason", name);
	if (f)
		sp_new(d, INO_REJECTED, rname, 0, rpath, 0644);
	pthread_mutex_unlock(&d->in_lock);
}

/* Ingest the spool file of entry ino.  Returns 0 when stored (or already
 * there), -EINVAL when refused, or the store's -errno. */
static int sp_ingest(struct dcmfs *d, fuse_ino_t ino)
{
	pthread_mutex_lock(&d->in_lock);
	struct spool_ent *e = sp_find(d, ino);
	if (!e || e->dir || e->busy || e->parent == INO_REJECTED) {
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
			fuse_log(FUSE_LOG_ERR, "dcmfs: cannot store '%s': %s\n", path, res.reason);
			break;
		}
	}
	pthread_mutex_lock(&d->in_lock);
	e = sp_find(d, ino);
	if (e && (r == 0 || r == -EINVAL))
		sp_unlink(d, e);
	else if (e)
		e->busy = 0;
	pthread_mutex_unlock(&d->in_lock);
	if (e && r == 0) {
		unlink(path);
		sp_free(e);
	} else if (e && r == -EINVAL) {
		sp_reject(d, e, res.reason[0] ? res.reason : "not accepted");
	}
	free(path);
	return r;
}

/* Drop a spool file whose writing failed: the writer was told, and a
 * partial file must neither be ingested nor keep the disk full. */
static void sp_discard(struct dcmfs *d, fuse_ino_t ino)
{
	pthread_mutex_lock(&d->in_lock);
	struct spool_ent *e = sp_find(d, ino);
	char *path = NULL;
	if (e && !e->busy) {
		path = strdup(e->path);
		sp_unlink(d, e);
	} else {
		e = NULL;
	}
	pthread_mutex_unlock(&d->in_lock);
	if (path)
		unlink(path);
	free(path);
	if (e)
		sp_free(e);
}

/* ---------------- open files and folders ---------------- */

enum { OF_INST = 1, OF_SPOOL, OF_DIR };

struct dentry_rec {
	char *name;
	struct stat st;
	double timeout;
};

struct ofile {
	int type;
	/* OF_INST */
	struct inst_file *inst;
	/* OF_SPOOL */
	int fd;
	fuse_ino_t ino;
	pthread_mutex_t lock;       /* guards dirty, ingested, write_err */
	int dirty, ingested;
	int created;                /* made by this open: its last close ingests it even if empty */
	int write_err;              /* a write failed (e.g. ENOSPC): never ingest */
	/* OF_DIR: a listing taken at the first readdir (under lock) */
	struct dentry_rec *ents;
	size_t n, cap;
	int listed;
};

static struct ofile *of(struct fuse_file_info *fi)
{
	return (struct ofile *)(uintptr_t)fi->fh;
}

static void of_free(struct ofile *f)
{
	if (!f)
		return;
	inst_file_close(f->inst);
	for (size_t i = 0; i < f->n; i++)
		free(f->ents[i].name);
	free(f->ents);
	if (f->type == OF_SPOOL || f->type == OF_DIR)
		pthread_mutex_destroy(&f->lock);
	free(f);
}

static int list_add(struct ofile *f, const char *name, const struct stat *st,
		    double timeout)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		struct dentry_rec *p = realloc(f->ents, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		f->ents = p;
		f->cap = cap;
	}
	if (!(f->ents[f->n].name = strdup(name)))
		return -ENOMEM;
	f->ents[f->n].st = *st;
	f->ents[f->n].timeout = timeout;
	f->n++;
	return 0;
}

/* ---------------- resolving inodes ---------------- */

/* The stat of any inode; *timeout gets its cache time. */
static int node_getattr(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino,
			struct stat *st, double *timeout)
{
	int kind = ino_kind(ino);
	int64_t id = ino_id(ino);
	*timeout = TIMEOUT_DIR;
	if (kind == K_FIXED) {
		int64_t newest = d->newest_ns ? d->newest_ns : d->started_ns;
		switch (ino) {
		case INO_ROOT:
			stat_dir(d, st, ino, d->ing ? 6 : 5, newest);
			if (d->ing)
				st->st_mode = S_IFDIR | (0755 & ~d->o.umask);
			return 0;
		case INO_PATIENTS:
			stat_dir(d, st, ino, 2 + (nlink_t)d->npatients, newest);
			return 0;
		case INO_VERSIONS:
		case INO_QUARANTINE:
			stat_dir(d, st, ino, 1, newest);
			return 0;
		case INO_INCOMING:
		case INO_REJECTED:
			if (!d->ing)
				return -ENOENT;
			break;
		default:
			return -ENOENT;
		}
	}
	if (in_ino(ino)) {
		if (!d->ing)
			return -ENOENT;
		*timeout = 0;
		pthread_mutex_lock(&d->in_lock);
		int r = sp_stat(d, ino, st);
		pthread_mutex_unlock(&d->in_lock);
		return r;
	}
	struct cat_node n;
	struct ghost g;
	switch (kind) {
	case K_PATIENT:
	case K_STUDY:
	case K_SERIES:
	case K_INSTANCE: {
		int r = catalog_node(cat, kind, id, &n);
		if (r == -ENOENT && kind != K_INSTANCE && ghost_find(d, kind, id, &g)) {
			stat_ghost(d, &g, st);
			return 0;
		}
		if (r)
			return r;
		stat_node(d, kind, &n, st);
		*timeout = node_timeout(kind);
		return 0;
	}
	case K_STUDIES: {
		int r = catalog_node(cat, CAT_PATIENT, id, &n);
		if (r == -ENOENT && ghost_find(d, K_PATIENT, id, &g) && !g.studies_gone) {
			stat_dir(d, st, ino, 2 + ghost_children(d, ino), g.mtime_ns);
			return 0;
		}
		if (r)
			return r;
		stat_dir(d, st, ino, 2 + (nlink_t)n.size, n.mtime_ns);
		return 0;
	}
	default:
		break;
	}
	if (kind_view(kind) && kind_cat(kind) >= K_PATIENT && kind_cat(kind) <= K_INSTANCE) {
		int r = catalog_view_node(cat, kind_view(kind), kind_cat(kind), id, &n);
		if (r)
			return r;
		stat_node(d, kind, &n, st);
		*timeout = TIMEOUT_DIR;
		return 0;
	}
	return -ENOENT;
}

/* Catalogue parent (kind, id) of the children of folder inode ino, or -ENOTDIR. */
static int cat_parent(fuse_ino_t ino, int *pkind, int64_t *pid)
{
	switch (ino_kind(ino)) {
	case K_FIXED:
		if (ino != INO_PATIENTS)
			return -ENOTDIR;
		*pkind = 0;
		*pid = 0;
		return 0;
	case K_STUDIES:
		*pkind = CAT_PATIENT;
		break;
	case K_STUDY:
		*pkind = CAT_STUDY;
		break;
	case K_SERIES:
		*pkind = CAT_SERIES;
		break;
	default:
		return -ENOTDIR;
	}
	*pid = ino_id(ino);
	return 0;
}

/* Look up name in a folder of the stored tree (not /incoming). */
static int tree_lookup(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		       const char *name, struct stat *st, double *timeout)
{
	*timeout = TIMEOUT_DIR;
	if (parent == INO_ROOT) {
		if (!strcmp(name, "patients"))
			return node_getattr(d, cat, INO_PATIENTS, st, timeout);
		if (d->ing && !strcmp(name, "incoming"))
			return node_getattr(d, cat, INO_INCOMING, st, timeout);
		if (!strcmp(name, "versions"))
			return node_getattr(d, cat, INO_VERSIONS, st, timeout);
		if (!strcmp(name, "quarantine"))
			return node_getattr(d, cat, INO_QUARANTINE, st, timeout);
		return -ENOENT;
	}
	int view, pkind;
	int64_t pid;
	if (!view_parent(parent, &view, &pkind, &pid)) {
		struct cat_node n;
		int r = catalog_view_lookup(cat, view, pkind, pid, name, &n);
		if (!r)
			stat_node(d, view_kind(view, pkind + 1), &n, st);
		return r;
	}
	if (ino_kind(parent) == K_PATIENT) {
		if (strcmp(name, "studies"))
			return -ENOENT;
		return node_getattr(d, cat, ino_make(K_STUDIES, ino_id(parent)), st, timeout);
	}
	int r = cat_parent(parent, &pkind, &pid);
	if (r)
		return r;
	struct cat_node n;
	r = catalog_lookup(cat, pkind, pid, name, &n);
	if (r == 0) {
		stat_node(d, pkind + 1, &n, st);
		*timeout = node_timeout(pkind + 1);
		return 0;
	}
	struct ghost g;
	if (r == -ENOENT && ghost_by_name(d, parent, name, &g)) {
		stat_ghost(d, &g, st);
		return 0;
	}
	return r;
}

/* ---------------- handlers: reading the tree ---------------- */

static void reply_entry(fuse_req_t req, const struct stat *st, double timeout)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.ino = st->st_ino;
	e.attr = *st;
	e.attr_timeout = timeout;
	e.entry_timeout = timeout;
	fuse_reply_entry(req, &e);
}

static void dcmfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dcmfs *d = dfs(req);
	struct stat st;
	double to;
	int r;
	if (in_ino(parent)) {
		if (!d->ing) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		pthread_mutex_lock(&d->in_lock);
		if (parent == INO_INCOMING && !strcmp(name, ".rejected")) {
			r = sp_stat(d, INO_REJECTED, &st);
		} else {
			struct spool_ent *e = sp_by_name(d, parent, name);
			r = e ? sp_stat(d, e->ino, &st) : -ENOENT;
		}
		pthread_mutex_unlock(&d->in_lock);
		to = 0;
	} else {
		struct tstate *t = tstate_get(d);
		r = t ? tree_lookup(d, t->cat, parent, name, &st, &to) : -ENOMEM;
	}
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &st, to);
}

static void dcmfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* Stateless inode numbers: nothing to release. */
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void dcmfs_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void dcmfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct dcmfs *d = dfs(req);
	struct tstate *t = tstate_get(d);
	struct stat st;
	double to;
	int r = t ? node_getattr(d, t->cat, ino, &st, &to) : -ENOMEM;
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, to);
}

struct list_ctx {
	struct dcmfs *d;
	struct ofile *f;
	int kind;               /* kind of the children */
	fuse_ino_t parent;
};

static int list_cb(void *arg, const struct cat_node *n)
{
	struct list_ctx *c = arg;
	struct stat st;
	stat_node(c->d, c->kind, n, &st);
	/* Views are not watched by the poll thread: the kernel asks again
	 * after a second. */
	return list_add(c->f, n->name, &st, kind_view(c->kind) ? TIMEOUT_DIR : node_timeout(c->kind));
}

static int list_ghosts(struct dcmfs *d, struct ofile *f, fuse_ino_t parent)
{
	int r = 0;
	pthread_mutex_lock(&d->ghost_lock);
	for (struct ghost *g = d->ghosts; g && !r; g = g->next) {
		if (g->parent != parent)
			continue;
		int dup = 0;
		for (size_t i = 0; i < f->n && !dup; i++)
			dup = !strcmp(f->ents[i].name, g->name);
		if (dup)
			continue;
		struct stat st;
		stat_ghost(d, g, &st);
		r = list_add(f, g->name, &st, TIMEOUT_DIR);
	}
	pthread_mutex_unlock(&d->ghost_lock);
	return r;
}

static int list_dir(struct dcmfs *d, struct catalog *cat, fuse_ino_t ino,
		    struct ofile *f)
{
	struct stat st;
	double to;
	int r = node_getattr(d, cat, ino, &st, &to);
	if (r)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((r = list_add(f, ".", &st, to)))
		return r;
	struct stat pst;
	memset(&pst, 0, sizeof(pst));
	pst.st_mode = S_IFDIR;
	pst.st_ino = INO_ROOT;  /* the kernel fills in "..", but 0 would hide it */
	if ((r = list_add(f, "..", &pst, 0)))
		return r;
	if (ino == INO_ROOT) {
		if (!(r = node_getattr(d, cat, INO_PATIENTS, &st, &to)))
			r = list_add(f, "patients", &st, to);
		if (!r && d->ing && !(r = node_getattr(d, cat, INO_INCOMING, &st, &to)))
			r = list_add(f, "incoming", &st, 0);
		if (!r && !(r = node_getattr(d, cat, INO_VERSIONS, &st, &to)))
			r = list_add(f, "versions", &st, to);
		if (!r && !(r = node_getattr(d, cat, INO_QUARANTINE, &st, &to)))
			r = list_add(f, "quarantine", &st, to);
		return r;
	}
	if (in_ino(ino)) {
		pthread_mutex_lock(&d->in_lock);
		if (ino == INO_INCOMING && !(r = sp_stat(d, INO_REJECTED, &st)))
			r = list_add(f, ".rejected", &st, 0);
		for (struct spool_ent *e = d->spool; e && !r; e = e->next)
			if (e->parent == ino && !sp_stat(d, e->ino, &st))
				r = list_add(f, e->name, &st, 0);
		pthread_mutex_unlock(&d->in_lock);
		return r;
	}
	if (ino_kind(ino) == K_PATIENT) {
		if (!(r = node_getattr(d, cat, ino_make(K_STUDIES, ino_id(ino)), &st, &to)))
			r = list_add(f, "studies", &st, to);
		return r == -ENOENT ? 0 : r;
	}
	int pkind, view;
	int64_t pid;
	if (!view_parent(ino, &view, &pkind, &pid)) {
		struct list_ctx c = { d, f, view_kind(view, pkind + 1), ino };
		return catalog_view_children(cat, view, pkind, pid, list_cb, &c);
	}
	if ((r = cat_parent(ino, &pkind, &pid)))
		return r;
	struct list_ctx c = { d, f, pkind + 1, ino };
	r = catalog_children(cat, pkind, pid, list_cb, &c);
	if (!r && pkind != CAT_SERIES)
		r = list_ghosts(d, f, ino);
	return r;
}

static void dcmfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dcmfs *d = dfs(req);
	struct tstate *t = tstate_get(d);
	struct stat st;
	double to;
	int r = !t ? -ENOMEM : node_getattr(d, t->cat, ino, &st, &to);
	if (!r && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	struct ofile *f = r ? NULL : calloc(1, sizeof(*f));
	if (!r && !f)
		r = -ENOMEM;
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	f->type = OF_DIR;
	pthread_mutex_init(&f->lock, NULL);
	fi->fh = (uintptr_t)f;
	/* Catalogue folders change only through the catalogue, and the poll
	 * thread invalidates those that do: the kernel may keep their
	 * listings, and then does not even call readdir (so list lazily). */
	int view, pkind;
	int64_t pid;
	if (!in_ino(ino) && view_parent(ino, &view, &pkind, &pid)) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		of_free(f);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct ofile *f = of(fi);
	struct dcmfs *d = dfs(req);
	pthread_mutex_lock(&f->lock);
	if (!f->listed) {
		struct tstate *t = tstate_get(d);
		int r = !t ? -ENOMEM : list_dir(d, t->cat, ino, f);
		if (r) {
			pthread_mutex_unlock(&f->lock);
			fuse_reply_err(req, -r);
			return;
		}
		f->listed = 1;
		/* The kernel learns the files' inodes from this listing: reading
		 * ahead in this series can now push into its page cache. */
		if (plus && ino_kind(ino) == K_SERIES)
			prefetch_listed(d->prefetch, ino_id(ino));
	}
	pthread_mutex_unlock(&f->lock);
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (size_t i = (size_t)off; i < f->n; i++) {
		const struct dentry_rec *e = &f->ents[i];
		size_t len;
		if (plus) {
			struct fuse_entry_param ep;
			memset(&ep, 0, sizeof(ep));
			int dot = i < 2;
			/* "." and ".." get no entry (and no lookup reference). */
			ep.ino = dot ? 0 : e->st.st_ino;
			ep.attr = e->st;
			ep.attr_timeout = dot ? 0 : e->timeout;
			ep.entry_timeout = dot ? 0 : e->timeout;
			len = fuse_add_direntry_plus(req, buf + used, size - used, e->name,
						     &ep, (off_t)i + 1);
		} else {
			len = fuse_add_direntry(req, buf + used, size - used, e->name,
						&e->st, (off_t)i + 1);
		}
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void dcmfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void dcmfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void dcmfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	of_free(of(fi));
	fuse_reply_err(req, 0);
}

static int write_err(struct dcmfs *d) { return d->o.ro ? EROFS : EPERM; }

static void dcmfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dcmfs *d = dfs(req);
	int acc = fi->flags & O_ACCMODE;
	if (in_ino(ino) && d->ing) {
		pthread_mutex_lock(&d->in_lock);
		struct spool_ent *e = sp_find(d, ino);
		char *path = e && !e->dir ? strdup(e->path) : NULL;
		pthread_mutex_unlock(&d->in_lock);
		if (!path) {
			fuse_reply_err(req, e ? EISDIR : ENOENT);
			return;
		}
		struct ofile *f = calloc(1, sizeof(*f));
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
		f->type = OF_SPOOL;
		f->fd = fd;
		f->ino = ino;
		pthread_mutex_init(&f->lock, NULL);
		f->dirty = acc != O_RDONLY && (fi->flags & O_TRUNC);
		fi->fh = (uintptr_t)f;
		if (fuse_reply_open(req, fi) == -ENOENT)
			of_free(f);
		return;
	}
	if (kind_cat(ino_kind(ino)) != K_INSTANCE) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (acc != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, write_err(d));
		return;
	}
	if (d->icache) {
		/* Zero-message opens: the kernel keeps the page cache, sends no
		 * more OPEN or RELEASE for files, and reads carry fh 0. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	struct tstate *t = tstate_get(d);
	struct ofile *f = calloc(1, sizeof(*f));
	int r = !t || !f ? -ENOMEM : inst_file_open(d->store, t->cat, ino_id(ino), &f->inst);
	if (r) {
		free(f);
		fuse_reply_err(req, r == -EBADMSG ? EIO : -r);   /* damaged data: EIO */
		return;
	}
	f->type = OF_INST;
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 1;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		of_free(f);
}

/* ---------------- open instances by inode (read-only mounts) ---------------- */

static struct inst_file *icache_get(struct dcmfs *d, fuse_ino_t ino, int *uncached, int *err)
{
	*uncached = 0;
	pthread_mutex_lock(&d->icache_lock);
	for (int i = 0; i < ICACHE_SIZE; i++) {
		struct icache_ent *e = &d->icache[i];
		if (e->ino == ino) {
			e->refs++;
			e->used = ++d->icache_clock;
			pthread_mutex_unlock(&d->icache_lock);
			return e->f;
		}
	}
	pthread_mutex_unlock(&d->icache_lock);
	struct tstate *t = tstate_get(d);
	struct inst_file *f = NULL;
	int r = !t ? -ENOMEM : inst_file_open(d->store, t->cat, ino_id(ino), &f);
	if (r) {
		*err = r == -EBADMSG ? EIO : -r;   /* damaged data: EIO */
		return NULL;
	}
	struct inst_file *evicted = NULL;
	pthread_mutex_lock(&d->icache_lock);
	struct icache_ent *victim = NULL;
	for (int i = 0; i < ICACHE_SIZE; i++) {
		struct icache_ent *e = &d->icache[i];
		if (e->ino == ino) {            /* another thread was quicker */
			e->refs++;
			e->used = ++d->icache_clock;
			pthread_mutex_unlock(&d->icache_lock);
			inst_file_close(f);
			return e->f;
		}
		if (!e->refs && (!victim || e->used < victim->used))
			victim = e;
	}
	if (victim) {
		evicted = victim->ino ? victim->f : NULL;
		*victim = (struct icache_ent){ .ino = ino, .f = f, .refs = 1, .used = ++d->icache_clock };
	} else {
		*uncached = 1;                  /* every slot busy: use it once */
	}
	pthread_mutex_unlock(&d->icache_lock);
	inst_file_close(evicted);
	return f;
}

static void icache_put(struct dcmfs *d, struct inst_file *f, int uncached)
{
	if (uncached) {
		inst_file_close(f);
		return;
	}
	pthread_mutex_lock(&d->icache_lock);
	for (int i = 0; i < ICACHE_SIZE; i++)
		if (d->icache[i].f == f && d->icache[i].refs > 0) {
			d->icache[i].refs--;
			break;
		}
	pthread_mutex_unlock(&d->icache_lock);
}

static void icache_free(struct dcmfs *d)
{
	if (!d->icache)
		return;
	for (int i = 0; i < ICACHE_SIZE; i++)
		inst_file_close(d->icache[i].f);
	free(d->icache);
	d->icache = NULL;
}

static void dcmfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dcmfs *d = dfs(req);
	struct ofile *f = of(fi);
	struct inst_file *inst = f ? f->inst : NULL;
	int uncached = 0;
	if (!f) {
		int err = EIO;
		int file = kind_cat(ino_kind(ino)) == K_INSTANCE;
		if (!file || !d->icache) {
			fuse_reply_err(req, file ? EIO : EISDIR);
			return;
		}
		if (!(inst = icache_get(d, ino, &uncached, &err))) {
			fuse_reply_err(req, err);
			return;
		}
	} else if (f->type == OF_SPOOL) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = f->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	struct tstate *t = tstate_get(d);
	if (t && t->reply_cap < size) {
		free(t->reply);
		t->reply_cap = 0;
		if ((t->reply = malloc(size)))
			t->reply_cap = size;
	}
	/* A file read from its start is likely one of a series being read
	 * in order: have the next ones decoded meanwhile. */
	if (off == 0 && ino_kind(ino) == K_INSTANCE) {
		prefetch_forget(d->prefetch, ino_id(ino));
		prefetch_hint(d->prefetch, ino_id(ino), PREFETCH_AHEAD);
	}
	int64_t got = !t || !t->reply ? -ENOMEM :
		      inst_file_read(inst, &t->sc, (uint64_t)off, t->reply, size);
	if (!f)
		icache_put(d, inst, uncached);
	if (got < 0)
		fuse_reply_err(req, got == -EBADMSG ? EIO : (int)-got);   /* damaged data: EIO */
	else
		fuse_reply_buf(req, t->reply, (size_t)got);
}

static void dcmfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct dcmfs *d = dfs(req);
	struct ofile *f = of(fi);
	if (!f) {               /* a zero-message open (read-only mount) */
		fuse_reply_err(req, 0);
		return;
	}
	if (f->type == OF_SPOOL) {
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
			sp_discard(d, f->ino);
		else if (todo)
			sp_ingest(d, f->ino);
	}
	of_free(f);
	fuse_reply_err(req, 0);
}

/* ---------------- handlers: /incoming ---------------- */

static void dcmfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	struct ofile *f = of(fi);
	if (!f || f->type != OF_SPOOL) {
		fuse_reply_err(req, write_err(dfs(req)));
		return;
	}
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

static void dcmfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct dcmfs *d = dfs(req);
	struct ofile *f = of(fi);
	if (!f && d->icache) {
		/* Read-only mount: nothing to flush, ever; ENOSYS tells the
		 * kernel to stop asking (one round trip less per close). */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (!f || f->type != OF_SPOOL) {
		fuse_reply_err(req, 0);
		return;
	}
	pthread_mutex_lock(&f->lock);
	int werr = f->write_err;
	int todo = f->dirty && !f->ingested && !werr;
	f->dirty = 0;
	f->ingested |= todo;
	pthread_mutex_unlock(&f->lock);
	int r = todo ? sp_ingest(d, f->ino) : -werr;
	fuse_reply_err(req, -r);
}

static void dcmfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	(void)ino;
	struct ofile *f = of(fi);
	int r = 0;
	if (f && f->type == OF_SPOOL && (datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0)
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
	struct spool_ent *e = ino_kind(parent) == K_SPOOL ? sp_find(d, parent) : NULL;
	int ok = e && e->dir;
	pthread_mutex_unlock(&d->in_lock);
	return ok;
}

static void dcmfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	struct dcmfs *d = dfs(req);
	if (d->o.ro || !in_writable_dir(d, parent)) {
		fuse_reply_err(req, d->o.ro ? EROFS : in_ino(parent) ? EACCES : EPERM);
		return;
	}
	if (strlen(name) > 240) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	char path[PATH_MAX];
	spool_path(d, path, sizeof(path));
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct ofile *f = calloc(1, sizeof(*f));
	struct stat st;
	pthread_mutex_lock(&d->in_lock);
	int r = 0;
	struct spool_ent *e = NULL;
	if (sp_by_name(d, parent, name) || (parent == INO_INCOMING && !strcmp(name, ".rejected")))
		r = -EEXIST;
	else if (!f || !(e = sp_new(d, parent, name, 0, path, mode & ~ctx->umask)))
		r = -ENOMEM;
	if (e) {
		e->uid = ctx->uid;
		e->gid = ctx->gid;
		r = sp_stat(d, e->ino, &st);
	}
	pthread_mutex_unlock(&d->in_lock);
	if (r) {
		close(fd);
		unlink(path);
		free(f);
		fuse_reply_err(req, -r);
		return;
	}
	f->type = OF_SPOOL;
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
	if (fuse_reply_create(req, &ep, fi) == -ENOENT)
		of_free(f);
}

static void dcmfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct dcmfs *d = dfs(req);
	if (d->o.ro || !in_writable_dir(d, parent)) {
		fuse_reply_err(req, d->o.ro ? EROFS : EPERM);
		return;
	}
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat st;
	int r = 0;
	pthread_mutex_lock(&d->in_lock);
	struct spool_ent *e = NULL;
	if (sp_by_name(d, parent, name) || (parent == INO_INCOMING && !strcmp(name, ".rejected")))
		r = -EEXIST;
	else if (!(e = sp_new(d, parent, name, 1, NULL, mode & ~ctx->umask)))
		r = -ENOMEM;
	if (e) {
		e->uid = ctx->uid;
		e->gid = ctx->gid;
		r = sp_stat(d, e->ino, &st);
	}
	pthread_mutex_unlock(&d->in_lock);
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &st, 0);
}

static int sp_remove(struct dcmfs *d, fuse_ino_t parent, const char *name, int dir)
{
	pthread_mutex_lock(&d->in_lock);
	struct spool_ent *e = sp_by_name(d, parent, name);
	int r = 0;
	if (!e)
		r = parent == INO_INCOMING && !strcmp(name, ".rejected") ? -EPERM : -ENOENT;
	else if (dir && !e->dir)
		r = -ENOTDIR;
	else if (!dir && e->dir)
		r = -EISDIR;
	else if (e->busy)
		r = -EBUSY;
	else if (dir && sp_has_children(d, e->ino))
		r = -ENOTEMPTY;
	if (!r) {
		sp_unlink(d, e);
		if (e->path && unlink(e->path) < 0 && errno != ENOENT)
			fuse_log(FUSE_LOG_WARNING, "dcmfs: cannot remove '%s': %s\n", e->path,
				 strerror(errno));
		sp_free(e);
	}
	pthread_mutex_unlock(&d->in_lock);
	return r;
}

/* ---------------- handlers: removing from the store ---------------- */

/* Remove instance (or report ENOENT); folders it leaves empty become ghosts. */
static int tree_unlink(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		       const char *name)
{
	if (ino_kind(parent) != K_SERIES)
		return -EPERM;
	struct cat_node inst, chain[3];
	int r = catalog_lookup(cat, CAT_SERIES, ino_id(parent), name, &inst);
	if (r)
		return r;
	pthread_mutex_lock(&d->rm_lock);
	/* chain: series, study, patient */
	int have = 0;
	if (!catalog_node(cat, CAT_SERIES, inst.parent, &chain[0])) {
		have = 1;
		if (!catalog_node(cat, CAT_STUDY, chain[0].parent, &chain[1])) {
			have = 2;
			if (!catalog_node(cat, CAT_PATIENT, chain[1].parent, &chain[2]))
				have = 3;
		}
	}
	int64_t removed = 0;
	r = store_remove_node(d->store, cat, CAT_INSTANCE, inst.id, &removed);
	if (r) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: cannot remove instance %lld: %s\n",
			 (long long)inst.id, strerror(-r));
	} else {
		static const int kinds[3] = { K_SERIES, K_STUDY, K_PATIENT };
		for (int i = 0; i < have; i++) {
			struct cat_node n;
			if (catalog_node(cat, kinds[i], chain[i].id, &n) != -ENOENT)
				break;
			fuse_ino_t gp = i == 0 ? ino_make(K_STUDY, chain[i].parent) :
					i == 1 ? ino_make(K_STUDIES, chain[i].parent) : INO_PATIENTS;
			ghost_add(d, kinds[i], &chain[i], gp);
		}
	}
	pthread_mutex_unlock(&d->rm_lock);
	return r;
}

static int tree_rmdir(struct dcmfs *d, struct catalog *cat, fuse_ino_t parent,
		      const char *name)
{
	struct stat st;
	double to;
	int r = tree_lookup(d, cat, parent, name, &st, &to);
	if (r)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	fuse_ino_t ino = st.st_ino;
	int kind = ino_kind(ino);
	if (kind == K_FIXED || kind_view(kind))     /* views are read-only */
		return -EPERM;
	pthread_mutex_lock(&d->rm_lock);
	struct ghost g;
	if (kind == K_STUDIES) {
		struct cat_node n;
		if (!catalog_node(cat, CAT_PATIENT, ino_id(ino), &n))
			r = -ENOTEMPTY;
		else if (ghost_children(d, ino))
			r = -ENOTEMPTY;
		else {
			pthread_mutex_lock(&d->ghost_lock);
			for (struct ghost *p = d->ghosts; p; p = p->next)
				if (p->kind == K_PATIENT && p->id == ino_id(ino))
					p->studies_gone = 1;
			pthread_mutex_unlock(&d->ghost_lock);
		}
	} else if (!ghost_find(d, kind, ino_id(ino), &g)) {
		r = -ENOTEMPTY;     /* in the catalogue: it has children */
	} else if (kind == K_PATIENT && !g.studies_gone) {
		r = -ENOTEMPTY;
	} else if (ghost_children(d, kind == K_PATIENT ? ino_make(K_STUDIES, g.id) : ino)) {
		r = -ENOTEMPTY;
	} else {
		ghost_del(d, kind, g.id);
	}
	pthread_mutex_unlock(&d->rm_lock);
	return r;
}

static void dcmfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dcmfs *d = dfs(req);
	int r;
	if (d->o.ro)
		r = -EROFS;
	else if (in_ino(parent))
		r = sp_remove(d, parent, name, 0);
	else {
		struct tstate *t = tstate_get(d);
		r = t ? tree_unlink(d, t->cat, parent, name) : -ENOMEM;
	}
	fuse_reply_err(req, -r);
}

static void dcmfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dcmfs *d = dfs(req);
	int r;
	if (d->o.ro)
		r = -EROFS;
	else if (in_ino(parent))
		r = sp_remove(d, parent, name, 1);
	else {
		struct tstate *t = tstate_get(d);
		r = t ? tree_rmdir(d, t->cat, parent, name) : -ENOMEM;
	}
	fuse_reply_err(req, -r);
}

/* ---------------- handlers: what is refused, or allowed in /incoming ---------------- */

static void dcmfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	struct dcmfs *d = dfs(req);
	if (d->o.ro || !in_ino(ino) || ino == INO_INCOMING || ino == INO_REJECTED || !d->ing) {
		fuse_reply_err(req, write_err(d));
		return;
	}
	int r = 0;
	pthread_mutex_lock(&d->in_lock);
	struct spool_ent *e = sp_find(d, ino);
	if (!e)
		r = -ENOENT;
	if (!r && (to_set & FUSE_SET_ATTR_SIZE)) {
		if (e->dir)
			r = -EISDIR;
		else if ((fi && of(fi) && of(fi)->type == OF_SPOOL ? ftruncate(of(fi)->fd, attr->st_size) :
			  truncate(e->path, attr->st_size)) < 0)
			r = -errno;
		else if (fi && of(fi) && of(fi)->type == OF_SPOOL) {
			pthread_mutex_lock(&of(fi)->lock);
			of(fi)->dirty = 1;
			pthread_mutex_unlock(&of(fi)->lock);
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
				e->mtime_ns = to_set & FUSE_SET_ATTR_MTIME_NOW ? now_ns() :
					(int64_t)attr->st_mtim.tv_sec * 1000000000 + attr->st_mtim.tv_nsec;
		} else if (utimensat(AT_FDCWD, e->path, tv, 0) < 0) {
			r = -errno;
		}
	}
	struct stat st;
	if (!r)
		r = sp_stat(d, ino, &st);
	pthread_mutex_unlock(&d->in_lock);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, 0);
}

static void dcmfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct dcmfs *d = dfs(req);
	if (d->o.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!in_ino(parent) || !in_writable_dir(d, newparent) || parent == INO_REJECTED) {
		fuse_reply_err(req, in_ino(parent) != in_ino(newparent) ? EXDEV : EPERM);
		return;
	}
	if (flags & ~RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int r = 0;
	pthread_mutex_lock(&d->in_lock);
	struct spool_ent *e = sp_by_name(d, parent, name);
	struct spool_ent *old = sp_by_name(d, newparent, newname);
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
	else if (old && old->dir && sp_has_children(d, old->ino))
		r = -ENOTEMPTY;
	if (!r && e->dir)
		for (fuse_ino_t p = newparent; p != INO_INCOMING && !r;) {
			if (p == e->ino)
				r = -EINVAL;    /* into itself */
			struct spool_ent *pe = sp_find(d, p);
			p = pe ? pe->parent : INO_INCOMING;
		}
	if (!r && old && old != e) {
		sp_unlink(d, old);
		if (old->path)
			unlink(old->path);
		sp_free(old);
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

static void dcmfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, write_err(dfs(req)));
}

static void dcmfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, write_err(dfs(req)));
}

static void dcmfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, write_err(dfs(req)));
}

static void dcmfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	struct dcmfs *d = dfs(req);
	fuse_reply_err(req, d->o.ro ? EROFS : in_ino(ino) ? ENOTSUP : EPERM);
}

static void dcmfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)name;
	struct dcmfs *d = dfs(req);
	fuse_reply_err(req, d->o.ro ? EROFS : in_ino(ino) ? ENODATA : EPERM);
}

/* No extended attributes are stored.  ENOSYS (not ENODATA) makes the
 * kernel stop asking: `ls -l` asks for ACL and SELinux attributes of every
 * file, a round trip each. */
static void dcmfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, ENOSYS);
}

static void dcmfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	(void)size;
	fuse_reply_err(req, ENOSYS);
}

static void dcmfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			    off_t length, struct fuse_file_info *fi)
{
	(void)ino;
	struct ofile *f = of(fi);
	if (!f || f->type != OF_SPOOL) {
		fuse_reply_err(req, write_err(dfs(req)));
		return;
	}
	fuse_reply_err(req, fallocate(f->fd, mode, offset, length) < 0 ? errno : 0);
}

static void dcmfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct dcmfs *d = dfs(req);
	struct statvfs sv;
	if (statvfs(d->store_dir, &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void dcmfs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct dcmfs *d = userdata;
	conn->max_write = 1 << 20;
	if (conn->max_readahead > (1u << 20))
		conn->max_readahead = 1 << 20;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Files never change: no need to drop their pages on attribute changes. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->time_gran = 1;
	d->inited = 1;
}

static const struct fuse_lowlevel_ops dcmfs_ops = {
	.init = dcmfs_init,
	.lookup = dcmfs_lookup,
	.forget = dcmfs_forget,
	.forget_multi = dcmfs_forget_multi,
	.getattr = dcmfs_getattr,
	.setattr = dcmfs_setattr,
	.mknod = dcmfs_mknod,
	.mkdir = dcmfs_mkdir,
	.unlink = dcmfs_unlink,
	.rmdir = dcmfs_rmdir,
	.symlink = dcmfs_symlink,
	.rename = dcmfs_rename,
	.link = dcmfs_link,
	.open = dcmfs_open,
	.read = dcmfs_read,
	.write = dcmfs_write,
	.flush = dcmfs_flush,
	.release = dcmfs_release,
	.fsync = dcmfs_fsync,
	.opendir = dcmfs_opendir,
	.readdir = dcmfs_readdir,
	.readdirplus = dcmfs_readdirplus,
	.releasedir = dcmfs_releasedir,
	.statfs = dcmfs_statfs,
	.setxattr = dcmfs_setxattr,
	.getxattr = dcmfs_getxattr,
	.listxattr = dcmfs_listxattr,
	.removexattr = dcmfs_removexattr,
	.create = dcmfs_create,
	.fallocate = dcmfs_fallocate,
};

/* ---------------- the poll thread ---------------- */

/* One folder of the catalogue, as last seen. */
struct fsnap {
	int kind;
	int64_t id;
	fuse_ino_t parent;
	int64_t mtime_ns;
	uint64_t nchildren;
	char *name;
};

struct snap {
	struct fsnap *v;
	size_t n, cap;
	int64_t newest;
};

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct walk {
	struct catalog *cat;
	struct snap *s;
	int kind;
	fuse_ino_t parent;
	int err;
};

static int walk_cb(void *arg, const struct cat_node *n);

static int walk_level(struct catalog *cat, struct snap *s, int pkind, int64_t pid,
		      fuse_ino_t parent)
{
	struct walk w = { cat, s, pkind + 1, parent, 0 };
	int r = catalog_children(cat, pkind, pid, walk_cb, &w);
	return r ? r : w.err;
}

static int walk_cb(void *arg, const struct cat_node *n)
{
	struct walk *w = arg;
	struct snap *s = w->s;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct fsnap *p = realloc(s->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->v = p;
		s->cap = cap;
	}
	struct fsnap *f = &s->v[s->n];
	f->kind = w->kind;
	f->id = n->id;
	f->parent = w->parent;
	f->mtime_ns = n->mtime_ns;
	f->nchildren = n->size;
	if (!(f->name = strdup(n->name)))
		return -ENOMEM;
	s->n++;
	if (n->mtime_ns > s->newest)
		s->newest = n->mtime_ns;
	if (w->kind == K_PATIENT)
		return walk_level(w->cat, s, CAT_PATIENT, n->id, ino_make(K_STUDIES, n->id));
	if (w->kind == K_STUDY)
		return walk_level(w->cat, s, CAT_STUDY, n->id, ino_make(K_STUDY, n->id));
	return 0;
}

static int fsnap_cmp(const void *a, const void *b)
{
	const struct fsnap *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void inval_changed(struct dcmfs *d, const struct fsnap *o, const struct fsnap *n)
{
	fuse_ino_t ino = ino_make((o ? o : n)->kind, (o ? o : n)->id);
	if (n)
		fuse_lowlevel_notify_inval_inode(d->se, ino, 0, 0);
	if ((n ? n : o)->kind == K_PATIENT)
		fuse_lowlevel_notify_inval_inode(d->se, ino_make(K_STUDIES, (n ? n : o)->id), 0, 0);
	/* Something below went away: drop the folder's entry, and with it the
	 * kernel's cached entries below (instances are cached for an hour). */
	if (o && (!n || n->nchildren < o->nchildren || n->mtime_ns != o->mtime_ns))
		fuse_lowlevel_notify_inval_entry(d->se, o->parent, o->name, strlen(o->name));
	fuse_lowlevel_notify_inval_inode(d->se, (n ? n : o)->parent, 0, 0);
}

/* Compare two sorted snapshots and tell the kernel what changed. */
static void snap_diff(struct dcmfs *d, const struct snap *a, const struct snap *b)
{
	size_t i = 0, j = 0;
	int top = 0;
	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : fsnap_cmp(&a->v[i], &b->v[j]);
		if (c < 0) {
			inval_changed(d, &a->v[i], NULL);
			top |= a->v[i].kind == K_PATIENT;
			i++;
		} else if (c > 0) {
			inval_changed(d, NULL, &b->v[j]);
			top |= b->v[j].kind == K_PATIENT;
			j++;
		} else {
			if (a->v[i].mtime_ns != b->v[j].mtime_ns ||
			    a->v[i].nchildren != b->v[j].nchildren ||
			    strcmp(a->v[i].name, b->v[j].name)) {
				inval_changed(d, &a->v[i], &b->v[j]);
				top |= a->v[i].kind == K_PATIENT;
			}
			i++;
			j++;
		}
	}
	if (top || a->newest != b->newest) {
		fuse_lowlevel_notify_inval_inode(d->se, INO_PATIENTS, 0, 0);
		fuse_lowlevel_notify_inval_inode(d->se, INO_ROOT, 0, 0);
	}
}

static int take_snap(struct catalog *cat, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	int r = walk_level(cat, s, 0, 0, INO_PATIENTS);
	if (r) {
		snap_free(s);
		return r;
	}
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), fsnap_cmp);
	return 0;
}

static void snap_publish(struct dcmfs *d, const struct snap *s)
{
	long long np = 0;
	for (size_t i = 0; i < s->n; i++)
		np += s->v[i].kind == K_PATIENT;
	d->npatients = np;
	d->newest_ns = s->newest;
}

/* Raise the mount's readahead to 1 MiB (the kernel default is 128 KiB). */
static void raise_readahead(struct dcmfs *d)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return;
	char line[8192], dev[64] = "";
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char mp[4096];
		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min, mp) != 3)
			continue;
		/* unescape \ooo */
		char un[4096];
		size_t k = 0;
		for (const char *p = mp; *p && k + 1 < sizeof(un); p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
				un[k++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				un[k++] = *p;
			}
		}
		un[k] = 0;
		if (!strcmp(un, d->mountpoint) && strstr(line, " - fuse"))
			snprintf(dev, sizeof(dev), "%u:%u", maj, min);
	}
	fclose(f);
	if (!dev[0])
		return;
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1024", 4) < 0) {
		/* not root: keep the default */
	}
	close(fd);
}

static void *poller(void *arg)
{
	struct dcmfs *d = arg;
	struct catalog *cat;
	if (store_catalog(d->store, &cat)) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: cannot open the catalogue: folders will not refresh\n");
		return NULL;
	}
	struct snap cur;
	int64_t ver = catalog_data_version(cat);
	if (take_snap(cat, &cur))
		memset(&cur, 0, sizeof(cur));
	snap_publish(d, &cur);
	int ra_done = 0, ticks = 0;
	while (!d->stop) {
		struct timespec ts = { 0, 50 * 1000000 };
		nanosleep(&ts, NULL);
		if (!ra_done && d->inited) {
			/* the INIT reply is out once a request arrives; wait a little */
			if (++ticks > 2) {
				raise_readahead(d);
				ra_done = 1;
			}
		}
		if (ticks++ % (POLL_MS / 50))
			continue;
		int64_t v = catalog_data_version(cat);
		if (v == ver)
			continue;
		ver = v;
		struct snap next;
		if (take_snap(cat, &next))
			continue;
		snap_publish(d, &next);
		snap_diff(d, &cur, &next);
		snap_free(&cur);
		cur = next;
	}
	snap_free(&cur);
	catalog_close(cat);
	return NULL;
}

/* ---------------- options and main ---------------- */

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_KEEP,       /* passed on to libfuse (mount flags, allow_other, ...) */
	KEY_DROP,       /* fstab-only words */
	KEY_UID,
	KEY_GID,
	KEY_UMASK,
	KEY_FSNAME,
	KEY_SUBTYPE,
};

#define DOPT(t, m, v) { t, offsetof(struct dcmfs_opts, m), v }

/* One table: what we read, what libfuse reads, what fstab adds. */
static const struct fuse_opt dcmfs_optspec[] = {
	DOPT("ro", ro, 1),                      /* read-only; writes fail with EROFS */
	FUSE_OPT_KEY("ro", KEY_KEEP),
	DOPT("rw", rw, 1),                      /* the default */
	FUSE_OPT_KEY("rw", KEY_DROP),
	FUSE_OPT_KEY("uid=", KEY_UID),          /* owner of every entry (0) */
	FUSE_OPT_KEY("gid=", KEY_GID),          /* group of every entry (0) */
	FUSE_OPT_KEY("umask=", KEY_UMASK),      /* bits cleared from every mode (0) */
	FUSE_OPT_KEY("allow_other", KEY_KEEP),  /* let other users in (off) */
	FUSE_OPT_KEY("allow_root", KEY_KEEP),
	FUSE_OPT_KEY("default_permissions", KEY_KEEP), /* always on */
	FUSE_OPT_KEY("auto_unmount", KEY_KEEP),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),    /* (STORE) */
	FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),  /* (dcmfs) */
	FUSE_OPT_KEY("max_idle_threads=", KEY_KEEP),
	FUSE_OPT_KEY("clone_fd", KEY_KEEP),
	FUSE_OPT_KEY("suid", KEY_KEEP),
	FUSE_OPT_KEY("nosuid", KEY_KEEP),
	FUSE_OPT_KEY("dev", KEY_KEEP),
	FUSE_OPT_KEY("nodev", KEY_KEEP),
	FUSE_OPT_KEY("exec", KEY_KEEP),
	FUSE_OPT_KEY("noexec", KEY_KEEP),
	FUSE_OPT_KEY("atime", KEY_KEEP),
	FUSE_OPT_KEY("noatime", KEY_KEEP),
	FUSE_OPT_KEY("relatime", KEY_KEEP),
	FUSE_OPT_KEY("auto", KEY_DROP),
	FUSE_OPT_KEY("noauto", KEY_DROP),
	FUSE_OPT_KEY("user", KEY_DROP),
	FUSE_OPT_KEY("nouser", KEY_DROP),
	FUSE_OPT_KEY("users", KEY_DROP),
	FUSE_OPT_KEY("_netdev", KEY_DROP),
	FUSE_OPT_KEY("nofail", KEY_DROP),
	FUSE_OPT_KEY("defaults", KEY_DROP),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dcmfs STORE MOUNTPOINT [-o OPTIONS] [-f] [-d]\n"
		"\n"
		"Mount a dcmfs store as /patients/<patient>/studies/<study>/<series>/<SOP>.dcm\n"
		"(and /incoming for imports, unless read-only).  Unmount with fusermount3 -u.\n"
		"\n"
		"  -f                 stay in the foreground\n"
		"  -d                 debug output (implies -f)\n"
		"  -o ro              read-only: every write fails with EROFS\n"
		"  -o allow_other     let other users use the mount (off)\n"
		"  -o uid=N,gid=N     owner and group shown for every entry (0, 0)\n"
		"  -o umask=M         mode bits to clear (0; modes 0444 files, 0555 folders)\n"
		"  fstab words (auto, noauto, user, users, _netdev, nofail, x-systemd.*, ...) are ignored\n"
		"\n"
		"See dcmfs(8).\n");
}

static int parse_num(const char *arg, int base, unsigned *out)
{
	const char *v = strchr(arg, '=') + 1;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, base);
	if (!*v || *end || errno || n > UINT_MAX) {
		fprintf(stderr, "dcmfs: bad value in option '%s'\n", arg);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct dcmfs_opts *o = data;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (o->nonopt++ == 0) {
			o->store = strdup(arg);
			return 0;
		}
		return 1;       /* the mountpoint, for fuse_parse_cmdline */
	case FUSE_OPT_KEY_OPT:
		if (!strncmp(arg, "x-systemd.", 10) || !strncmp(arg, "comment=", 8) ||
		    !strncmp(arg, "x-", 2))
			return 0;
		if (arg[0] == '-')
			return 1;       /* -f, -d, -s: fuse_parse_cmdline's */
		fprintf(stderr, "dcmfs: unknown option '%s' (see dcmfs -h)\n", arg);
		o->bad = 1;
		return 0;
	case KEY_HELP:
		usage(stdout);
		exit(0);
	case KEY_VERSION:
		printf("dcmfs 0.1 (libfuse %s)\n", fuse_pkgversion());
		exit(0);
	case KEY_KEEP:
		return 1;
	case KEY_DROP:
		return 0;
	case KEY_UID:
		o->uid_set = 1;
		o->bad |= parse_num(arg, 10, &o->uid) != 0;
		return 0;
	case KEY_GID:
		o->gid_set = 1;
		o->bad |= parse_num(arg, 10, &o->gid) != 0;
		return 0;
	case KEY_UMASK:
		o->bad |= parse_num(arg, 8, &o->umask) != 0;
		o->umask &= 07777;
		return 0;
	case KEY_FSNAME:
		o->has_fsname = 1;
		return 1;
	case KEY_SUBTYPE:
		o->has_subtype = 1;
		return 1;
	}
	return 1;
}

int main(int argc, char *argv[])
{
	/* Blob buffers (100 KiB .. a few MiB) come and go with every open file:
	 * from the heap they cost no mmap/munmap, whose cross-CPU TLB flushes
	 * are dear (more so in a VM).  Freed memory stays for the next file. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct dcmfs d;
	char err[512];
	int ret = 2;

	memset(&d, 0, sizeof(d));
	memset(&cmd, 0, sizeof(cmd));
	/* defaults, in one place */
	d.o.uid = 0;
	d.o.gid = 0;
	d.o.umask = 0;
	d.started_ns = now_ns();
	pthread_mutex_init(&d.ghost_lock, NULL);
	pthread_mutex_init(&d.rm_lock, NULL);
	pthread_mutex_init(&d.in_lock, NULL);

	if (fuse_opt_parse(&args, &d.o, dcmfs_optspec, opt_proc) == -1 || d.o.bad)
		goto out_args;
	if (d.o.ro && d.o.rw) {
		fprintf(stderr, "dcmfs: options 'ro' and 'rw' conflict\n");
		goto out_args;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (cmd.show_help) {
		usage(stdout);
		ret = 0;
		goto out_args;
	}
	if (!d.o.store || !cmd.mountpoint) {
		fprintf(stderr, "dcmfs: need STORE and MOUNTPOINT (see dcmfs -h)\n");
		goto out_args;
	}
	if (!(d.store_dir = realpath(d.o.store, NULL))) {
		fprintf(stderr, "dcmfs: cannot open store '%s': %s\n", d.o.store, strerror(errno));
		goto out_args;
	}
	if (!(d.mountpoint = realpath(cmd.mountpoint, NULL))) {
		fprintf(stderr, "dcmfs: bad mountpoint '%s': %s\n", cmd.mountpoint, strerror(errno));
		goto out_args;
	}
	/* default_permissions is always on; the store names the mount */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	if (!d.o.has_subtype)
		fuse_opt_add_arg(&args, "-osubtype=dcmfs");
	if (!d.o.has_fsname) {
		char *o = NULL;
		fuse_opt_add_opt_escaped(&o, d.store_dir);
		char *fs = malloc(strlen(o) + 16);
		if (fs) {
			sprintf(fs, "-ofsname=%s", o);
			fuse_opt_add_arg(&args, fs);
		}
		free(fs);
		free(o);
	}

	/* Check the store now, so that errors reach the terminal, but open it
	 * for good only after daemonizing: fork() keeps no threads, and SQLite
	 * connections (their WAL locks) must not cross it. */
	if (store_open(d.store_dir, d.o.ro, &d.store, err, sizeof(err))) {
		fprintf(stderr, "dcmfs: %s\n", err);
		goto out_args;
	}
	store_close(d.store);
	d.store = NULL;
	if (!d.o.ro) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/spool/.rejected", d.store_dir);
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "dcmfs: cannot create '%s': %s\n", path, strerror(errno));
			goto out_store;
		}
	}
	if (pthread_key_create(&d.tkey, tstate_free)) {
		fprintf(stderr, "dcmfs: out of memory\n");
		goto out_store;
	}
	pthread_mutex_init(&d.icache_lock, NULL);
	if (d.o.ro && !(d.icache = calloc(ICACHE_SIZE, sizeof(*d.icache)))) {
		fprintf(stderr, "dcmfs: out of memory\n");
		goto out_key;
	}
	d.se = fuse_session_new(&args, &dcmfs_ops, sizeof(dcmfs_ops), &d);
	if (!d.se)
		goto out_key;
	if (fuse_set_signal_handlers(d.se) != 0)
		goto out_session;
	if (fuse_session_mount(d.se, d.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(cmd.foreground);

	if (store_open(d.store_dir, d.o.ro, &d.store, err, sizeof(err))) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: %s\n", err);
		ret = 2;
		goto out_unmount;
	}
	if (!d.o.ro) {
		if (ingest_begin(d.store, 1, NULL, NULL, &d.ing, err, sizeof(err))) {
			fuse_log(FUSE_LOG_ERR, "dcmfs: %s\n", err);
			ret = 2;
			goto out_unmount;
		}
		sp_clean_stale(&d);
		sp_load_rejected(&d);
	}
	if (pthread_create(&d.poller, NULL, poller, &d) == 0)
		d.poller_running = 1;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu > 1)
		reader_pool_start((int)ncpu - 1);
	d.prefetch = prefetch_start(d.store, d.se, ncpu > 1 ? (int)ncpu : 1);
	if (cmd.singlethread) {
		ret = fuse_session_loop(d.se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, cmd.clone_fd);
		fuse_loop_cfg_set_max_threads(lc, cmd.max_threads);
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(lc, cmd.max_idle_threads);
		ret = fuse_session_loop_mt(d.se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	ret = ret ? 1 : 0;
	prefetch_stop(d.prefetch);
	reader_pool_stop();

	d.stop = 1;
	if (d.poller_running)
		pthread_join(d.poller, NULL);
out_unmount:
	fuse_session_unmount(d.se);
out_signals:
	fuse_remove_signal_handlers(d.se);
out_session:
	fuse_session_destroy(d.se);
out_key:
	tstate_free(pthread_getspecific(d.tkey));
	pthread_key_delete(d.tkey);
	icache_free(&d);
	if (d.ing) {
		struct ingest_totals t;
		int r = ingest_end(d.ing, &t);
		if (r && !ret) {
			fprintf(stderr, "dcmfs: ingest: %s\n", strerror(-r));
			ret = 1;
		}
	}
out_store:
	store_close(d.store);
	while (d.spool) {
		struct spool_ent *e = d.spool;
		d.spool = e->next;
		sp_free(e);
	}
	while (d.ghosts) {
		struct ghost *g = d.ghosts;
		d.ghosts = g->next;
		free(g);
	}
out_args:
	free(d.o.store);
	free(d.store_dir);
	free(d.mountpoint);
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
