/*
 * main.c - the dcmfs daemon's entry: options, the store, the FUSE session,
 * and each thread's own handles.
 *
 *   /patients/<patient>/studies/<study>/<series>/<SOP>.dcm   (read-only files)
 *   /incoming/                 (admin mount: drop files here to import them)
 *   /incoming/.rejected/       (files that were refused, each with <name>.reason)
 *   /shares/<NAME>/patients/...   (every share, read-only)
 *
 * With -o share=NAME the mount shows that share alone, as /patients/...,
 * read-only (the kernel mount too); an unknown, damaged or expired share
 * is refused before the daemon detaches, with exit status 1.
 *
 * libfuse3 low-level API, multi-threaded loop.  Every file read through the
 * mount is byte-for-byte the file that was stored; stored files never change,
 * so opens keep the page cache and instance attributes are cached for an
 * hour, folders for a second.  Inode numbers are catalogue row ids with a
 * kind in the top byte (inode.h), so they survive remounts and the daemon
 * keeps no per-inode state.  Where each request goes: dcmfs.h.
 *
 * Sharp edges:
 *  - Inode numbers use all 64 bits: 32-bit programs without LFS get EOVERFLOW.
 */
#include "dcmfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prefetch.h"

/* ---------------- per-thread state ---------------- */

void tstate_free(void *p)
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

/* Raise the mount's readahead to 1 MiB (the kernel default is 128 KiB). */
void raise_readahead(struct dcmfs *d)
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
	KEY_SHARE,
};

#define DOPT(t, m, v) { t, offsetof(struct dcmfs_opts, m), v }

/* One table: what we read, what libfuse reads, what fstab adds. */
static const struct fuse_opt dcmfs_optspec[] = {
	DOPT("ro", ro, 1),                      /* read-only; writes fail with EROFS */
	FUSE_OPT_KEY("ro", KEY_KEEP),
	DOPT("rw", rw, 1),                      /* the default */
	FUSE_OPT_KEY("rw", KEY_DROP),
	DOPT("audit", audit, 1),                /* record every open in STORE/audit (off) */
	DOPT("ino32", ino32, 1),                /* inode numbers in 32 bits (off; ino32.c) */
	FUSE_OPT_KEY("uid=", KEY_UID),          /* owner of every entry (0) */
	FUSE_OPT_KEY("gid=", KEY_GID),          /* group of every entry (0) */
	FUSE_OPT_KEY("umask=", KEY_UMASK),      /* bits cleared from every mode (0) */
	FUSE_OPT_KEY("share=", KEY_SHARE),      /* mount one share, read-only */
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
		"  -o audit           record every open of a file in STORE/audit (off; see dcmfsctl audit)\n"
		"  -o allow_other     let other users use the mount (off)\n"
		"  -o uid=N,gid=N     owner and group shown for every entry (0, 0)\n"
		"  -o umask=M         mode bits to clear (0; modes 0444 files, 0555 folders)\n"
		"  -o ino32           inode numbers below 2^32, for old 32-bit programs (refused\n"
		"                     when the store's ids do not fit)\n"
		"  -o share=NAME      mount share NAME alone (dcmfsctl share create): its root\n"
		"                     holds patients/ with what the share covers, always read-only\n"
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
	case KEY_SHARE:
		free(o->share);
		o->share = strdup(arg + strlen("share="));
		if (!o->share || !*o->share) {
			fprintf(stderr, "dcmfs: option 'share=' needs a share name\n");
			o->bad = 1;
		}
		return 0;
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
	d.started_ns = wall_clock_ns();
	pthread_mutex_init(&d.ghost_lock, NULL);
	pthread_mutex_init(&d.rm_lock, NULL);
	pthread_mutex_init(&d.in_lock, NULL);
	pthread_rwlock_init(&d.shares_lock, NULL);
	pthread_mutex_init(&d.deid_lock, NULL);

	if (fuse_opt_parse(&args, &d.o, dcmfs_optspec, opt_proc) == -1 || d.o.bad)
		goto out_args;
	if (d.o.share) {
		/* a share is read-only, whatever other options say */
		d.o.ro = 1;
		d.o.rw = 0;
	}
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
	if (d.o.share)
		fuse_opt_add_arg(&args, "-oro");       /* the kernel mount is read-only */
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
	if (d.o.audit && audit_open(d.store_dir, &d.audit, err, sizeof(err))) {
		fprintf(stderr, "dcmfs: %s\n", err);
		goto out_args;
	}
	audit_close(d.audit);       /* checked; opened again after the fork */
	d.audit = NULL;
	if (d.o.share) {
		/* an unknown, damaged or expired share is refused here, with exit 1 */
		int r = share_mount_check(d.store_dir, d.o.share, err, sizeof(err));
		if (r) {
			fprintf(stderr, "dcmfs: %s\n", err);
			ret = 1;
			goto out_args;
		}
	}
	if (d.o.ino32 && ino32_check(d.store_dir, err, sizeof(err))) {
		fprintf(stderr, "dcmfs: %s\n", err);
		goto out_args;
	}
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
		spool_clean_stale(&d);
		spool_load_rejected(&d);
	}
	if (d.o.audit && audit_open(d.store_dir, &d.audit, err, sizeof(err))) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: %s\n", err);
		ret = 2;
		goto out_unmount;
	}
	if (shares_start(&d, store_main_catalog(d.store))) {
		ret = 1;
		goto out_unmount;
	}
	notify_start(&d);
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

	notify_stop(&d);
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
	audit_close(d.audit);
out_store:
	store_close(d.store);
	spool_free_all(&d);
	ghosts_free(&d);
	shares_free(&d);
out_args:
	free(d.o.share);
	free(d.o.store);
	free(d.store_dir);
	free(d.mountpoint);
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
