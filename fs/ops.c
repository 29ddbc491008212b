/*
 * ops.c - the lowlevel ops table: each FUSE request, sent by inode class
 * (inode.h) to the room that answers it (see dcmfs.h), and the open-file
 * handles (fi->fh) those rooms share.
 *
 * Lookup counts need no bookkeeping (inode numbers name catalogue rows), so
 * forget is a no-op.  Everything that would write to the stored tree fails
 * with EPERM (EROFS on read-only mounts) except unlink and rmdir (ghost.c);
 * /incoming accepts the rest (incoming.c).
 */
#include "dcmfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "prefetch.h"

#define PREFETCH_AHEAD 6        /* files of a series decoded ahead of a reader */

void open_file_free(struct open_file *f)
{
	if (!f)
		return;
	inst_file_close(f->inst);
	for (size_t i = 0; i < f->n; i++)
		free(f->ents[i].name);
	free(f->ents);
	if (f->type == OPEN_SPOOL || f->type == OPEN_DIR)
		pthread_mutex_destroy(&f->lock);
	free(f);
}

int listing_add(struct open_file *f, const char *name, const struct stat *st,
		double timeout)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		struct listing_entry *p = realloc(f->ents, cap * sizeof(*p));
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

void reply_entry(fuse_req_t req, const struct stat *st, double timeout)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.ino = st->st_ino;
	e.attr = *st;
	stat_for_kernel(req_daemon(req), &e.attr);
	e.attr_timeout = timeout;
	e.entry_timeout = timeout;
	fuse_reply_entry(req, &e);
}

static void dcmfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dcmfs *d = req_daemon(req);
	struct stat st;
	double to;
	int r;
	if (is_incoming_ino(parent)) {
		if (!d->ing) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		pthread_mutex_lock(&d->in_lock);
		spool_reap_emptied(d);
		if (parent == INO_INCOMING && !strcmp(name, ".rejected")) {
			r = spool_stat(d, INO_REJECTED, &st);
		} else {
			struct spool_entry *e = spool_by_name(d, parent, name);
			r = e ? spool_stat(d, e->ino, &st) : -ENOENT;
		}
		pthread_mutex_unlock(&d->in_lock);
		to = 0;
	} else {
		struct tstate *t = tstate_get(d);
		r = t ? tree_lookup(d, t->cat, parent, name, &st, &to) : -tstate_errno();
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
	struct dcmfs *d = req_daemon(req);
	struct tstate *t = tstate_get(d);
	struct stat st;
	double to;
	int r = t ? node_getattr(d, t->cat, ino, &st, &to) : -tstate_errno();
	if (!r)
		stat_for_kernel(d, &st);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, to);
}

static void dcmfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dcmfs *d = req_daemon(req);
	struct tstate *t = tstate_get(d);
	struct stat st;
	double to;
	int r = !t ? -tstate_errno() : node_getattr(d, t->cat, ino, &st, &to);
	if (!r && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	struct open_file *f = r ? NULL : calloc(1, sizeof(*f));
	if (!r && !f)
		r = -ENOMEM;
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	f->type = OPEN_DIR;
	pthread_mutex_init(&f->lock, NULL);
	fi->fh = (uintptr_t)f;
	/* Catalogue folders change only through the catalogue, and the notify
	 * thread (notify.c) invalidates those that do: the kernel may keep their
	 * listings, and then does not even call readdir (so list lazily). */
	int view, pkind;
	int64_t pid;
	if (!is_incoming_ino(ino) && !is_views_ino(ino) && view_parent(ino, &view, &pkind, &pid)) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_file_free(f);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct open_file *f = open_file_of(fi);
	struct dcmfs *d = req_daemon(req);
	pthread_mutex_lock(&f->lock);
	if (!f->listed) {
		struct tstate *t = tstate_get(d);
		int r = !t ? -tstate_errno() : list_dir(d, t->cat, ino, f);
		if (r) {
			pthread_mutex_unlock(&f->lock);
			fuse_reply_err(req, -r);
			return;
		}
		f->listed = 1;
		/* The kernel learns the files' inodes from this listing: reading
		 * ahead in this series can now push into its page cache. */
		int64_t series = ino_kind(ino) == K_SERIES ? ino_id(ino) : share_plain_series(d, ino);
		if (plus && series)
			prefetch_listed(d->prefetch, series);
	}
	pthread_mutex_unlock(&f->lock);
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (size_t i = (size_t)off; i < f->n; i++) {
		const struct listing_entry *e = &f->ents[i];
		size_t len;
		if (plus) {
			struct fuse_entry_param ep;
			memset(&ep, 0, sizeof(ep));
			int dot = i < 2;
			/* "." and ".." get no entry (and no lookup reference). */
			ep.ino = dot ? 0 : e->st.st_ino;
			ep.attr = e->st;
			stat_for_kernel(d, &ep.attr);
			ep.attr_timeout = dot ? 0 : e->timeout;
			ep.entry_timeout = dot ? 0 : e->timeout;
			len = fuse_add_direntry_plus(req, buf + used, size - used, e->name,
						     &ep, (off_t)i + 1);
		} else {
			struct stat st = e->st;
			stat_for_kernel(d, &st);
			len = fuse_add_direntry(req, buf + used, size - used, e->name,
						&st, (off_t)i + 1);
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
	open_file_free(open_file_of(fi));
	fuse_reply_err(req, 0);
}

static void dcmfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dcmfs *d = req_daemon(req);
	int acc = fi->flags & O_ACCMODE;
	if (is_incoming_ino(ino) && d->ing) {
		incoming_open(req, ino, fi);
		return;
	}
	if (kind_cat(ino_kind(ino)) != K_INSTANCE) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (acc != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, refusal_at(d, ino));
		return;
	}
	struct tstate *t = tstate_get(d);
	if (d->self && !share_is_deid_file(ino) &&
	    (!t || !share_mount_has_instance(d, t->cat, ino_id(ino)))) {
		fuse_reply_err(req, t ? ENOENT : tstate_errno());      /* not in the share */
		return;
	}
	if (d->audit) {         /* an audited mount keeps its opens: one record each */
		const struct fuse_ctx *c = fuse_req_ctx(req);
		if (!t) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		audit_record_instance(d->audit, t->cat, is_share_ino(ino) ? share_ino_row(ino) : ino_id(ino),
				      c->uid, c->pid, d->mountpoint, d->self ? d->self->name : "");
	}
	if (d->icache) {
		/* Zero-message opens: the kernel keeps the page cache, sends no
		 * more OPEN or RELEASE for files, and reads carry fh 0.  With
		 * audit, opens are answered (fh 0 all the same: reads find the
		 * instance in the icache). */
		fi->keep_cache = 1;
		fi->noflush = 1;
		if (d->audit)
			fuse_reply_open(req, fi);
		else
			fuse_reply_err(req, ENOSYS);
		return;
	}
	/* The stored file is opened by the first read that the page cache
	 * (kept across opens: files never change) or a file decoded ahead
	 * does not answer (open_lazily): a second read opens nothing. */
	struct open_file *f = calloc(1, sizeof(*f));
	if (!f) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f->type = share_is_deid_file(ino) ? OPEN_DEID : OPEN_INSTANCE;
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 1;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_file_free(f);
}

/* Open the instance of a handle at its first read that needs it; two
 * reads may race here: one open wins.  0 or an errno (EIO: damaged). */
static int open_lazily(struct dcmfs *d, struct open_file *f, fuse_ino_t ino)
{
	struct tstate *t = tstate_get(d);
	struct inst_file *inst = NULL, *none = NULL;
	int r = t ? inst_file_open(d->store, t->cat, ino_id(ino), &inst) : -tstate_errno();
	if (r)
		return r == -EBADMSG ? EIO : -r;
	if (!__atomic_compare_exchange_n(&f->inst, &none, inst, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		inst_file_close(inst);
	return 0;
}

static void dcmfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dcmfs *d = req_daemon(req);
	struct open_file *f = open_file_of(fi);
	struct inst_file *inst = f ? f->inst : NULL;
	int uncached = 0, r;
	if (share_is_deid_file(ino) || (d->self && ino_kind(ino) == K_INSTANCE)) {
		/* a de-identified file; or a share mount, which checks that the
		 * file is still in its share at every read */
		struct tstate *t = tstate_get(d);
		if (!t) {
			fuse_reply_err(req, tstate_errno());
			return;
		}
		if (share_is_deid_file(ino)) {
			if (t->reply_cap < size) {
				free(t->reply);
				t->reply_cap = 0;
				if (!(t->reply = malloc(size))) {
					fuse_reply_err(req, ENOMEM);
					return;
				}
				t->reply_cap = size;
			}
			int64_t got = share_deid_read(d, t->cat, t->ctx, ino, (uint64_t)off,
						      t->reply, size);
			if (got < 0)
				fuse_reply_err(req, (int)-got);
			else
				fuse_reply_buf(req, t->reply, (size_t)got);
			return;
		}
		if (!share_mount_has_instance(d, t->cat, ino_id(ino))) {
			fuse_reply_err(req, ENOENT);
			return;
		}
	}
	/* A file read from its start is likely one of a series being read
	 * in order: have the next ones decoded meanwhile; and this one may
	 * have been decoded ahead already. */
	if (ino_kind(ino) == K_INSTANCE && (!f || f->type == OPEN_INSTANCE)) {
		struct prefetch_pin pin;
		if (off == 0)
			prefetch_hint(d->prefetch, ino_id(ino), PREFETCH_AHEAD);
		if (prefetch_take(d->prefetch, ino_id(ino), &pin)) {
			size_t n = (uint64_t)off >= pin.size ? 0 :
				   pin.size - (uint64_t)off < size ? (size_t)(pin.size - (uint64_t)off) : size;
			fuse_reply_buf(req, (const char *)pin.data + (n ? off : 0), n);
			prefetch_put(d->prefetch, &pin, (uint64_t)off + n);
			return;
		}
	}
	/* Any stored file (also below /versions and /quarantine). */
	/* Read f->inst again: another read of this handle may have opened it
	 * since (the value read on entry would still be NULL). */
	if (f && f->type == OPEN_INSTANCE) {
		if (!__atomic_load_n(&f->inst, __ATOMIC_ACQUIRE) && (r = open_lazily(d, f, ino))) {
			fuse_reply_err(req, r);
			return;
		}
		inst = __atomic_load_n(&f->inst, __ATOMIC_ACQUIRE);
	}
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
	} else if (f->type == OPEN_SPOOL) {
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
	int64_t got = !t ? -tstate_errno() : !t->reply ? -ENOMEM :
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
	struct dcmfs *d = req_daemon(req);
	struct open_file *f = open_file_of(fi);
	if (!f) {               /* a zero-message open (read-only mount) */
		fuse_reply_err(req, 0);
		return;
	}
	if (f->type == OPEN_SPOOL)
		incoming_release(d, f);
	open_file_free(f);
	fuse_reply_err(req, 0);
}

static void dcmfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dcmfs *d = req_daemon(req);
	int r;
	if (refusal_at(d, parent) == EROFS)
		r = -EROFS;
	else if (is_incoming_ino(parent))
		r = spool_remove(d, parent, name, 0);
	else {
		struct tstate *t = tstate_get(d);
		r = t ? tree_unlink(d, t->cat, parent, name) : -tstate_errno();
	}
	fuse_reply_err(req, -r);
}

static void dcmfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dcmfs *d = req_daemon(req);
	int r;
	if (refusal_at(d, parent) == EROFS)
		r = -EROFS;
	else if (is_incoming_ino(parent))
		r = spool_remove(d, parent, name, 1);
	else {
		struct tstate *t = tstate_get(d);
		r = t ? tree_rmdir(d, t->cat, parent, name) : -tstate_errno();
	}
	fuse_reply_err(req, -r);
}

static void dcmfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	(void)ino;
	(void)newname;
	fuse_reply_err(req, refusal_at(req_daemon(req), newparent));
}

static void dcmfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	(void)link;
	(void)name;
	fuse_reply_err(req, refusal_at(req_daemon(req), parent));
}

static void dcmfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, refusal_at(req_daemon(req), parent));
}

static void dcmfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	struct dcmfs *d = req_daemon(req);
	fuse_reply_err(req, refusal_at(d, ino) == EROFS ? EROFS : is_incoming_ino(ino) ? ENOTSUP : EPERM);
}

static void dcmfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)name;
	struct dcmfs *d = req_daemon(req);
	fuse_reply_err(req, refusal_at(d, ino) == EROFS ? EROFS : is_incoming_ino(ino) ? ENODATA : EPERM);
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

static void dcmfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct dcmfs *d = req_daemon(req);
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
	/* File handles (NFS export, open_by_handle_at) name inodes by number
	 * alone, which is all this daemon needs: it answers the kernel's "."
	 * and ".." lookups (tree.c), and a share mount refuses every number
	 * outside its share there as anywhere. */
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/* Files never change: no need to drop their pages on attribute changes. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->time_gran = 1;
	d->inited = 1;
}

const struct fuse_lowlevel_ops dcmfs_ops = {
	.init = dcmfs_init,
	.lookup = dcmfs_lookup,
	.forget = dcmfs_forget,
	.forget_multi = dcmfs_forget_multi,
	.getattr = dcmfs_getattr,
	.setattr = incoming_setattr,
	.mknod = dcmfs_mknod,
	.mkdir = incoming_mkdir,
	.unlink = dcmfs_unlink,
	.rmdir = dcmfs_rmdir,
	.symlink = dcmfs_symlink,
	.rename = incoming_rename,
	.link = dcmfs_link,
	.open = dcmfs_open,
	.read = dcmfs_read,
	.write = incoming_write,
	.flush = incoming_flush,
	.release = dcmfs_release,
	.fsync = incoming_fsync,
	.opendir = dcmfs_opendir,
	.readdir = dcmfs_readdir,
	.readdirplus = dcmfs_readdirplus,
	.releasedir = dcmfs_releasedir,
	.statfs = dcmfs_statfs,
	.setxattr = dcmfs_setxattr,
	.getxattr = dcmfs_getxattr,
	.listxattr = dcmfs_listxattr,
	.removexattr = dcmfs_removexattr,
	.create = incoming_create,
	.fallocate = incoming_fallocate,
};
