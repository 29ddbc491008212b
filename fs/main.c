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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <signal.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "prefetch.h"
#include "version.h"

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

static __thread int tstate_err = ENOMEM;

int tstate_errno(void)
{
	return tstate_err;
}

struct tstate *tstate_get(struct dcmfs *d)
{
	struct tstate *t = pthread_getspecific(d->tkey);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	tstate_err = ENOMEM;
	if (!t)
		return NULL;
	if (store_catalog(d->store, &t->cat)) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: cannot open the catalogue for a new thread\n");
		tstate_free(t);
		tstate_err = EIO;
		return NULL;
	}
	if (!(t->ctx = codec_ctx_new())) {
		tstate_free(t);
		return NULL;
	}
	t->sc.ctx = t->ctx;
	t->sc.cat = t->cat;
	pthread_setspecific(d->tkey, t);
	return t;
}

/* One line of /proc/self/mountinfo, the fields we use, unescaped. */
struct mount_line {
	unsigned maj, min;
	char point[4096];
	char opts[1024];            /* this mount's: rw or ro first */
	char type[256];
	char source[4096];
};

/* The kernel writes space, tab, newline and backslash as \ooo. */
static void unescape_octal(const char *in, char *out, size_t len)
{
	size_t k = 0;
	for (const char *p = in; *p && k + 1 < len; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
			out[k++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			out[k++] = *p;
		}
	}
	out[k] = 0;
}

/* Call fn for each mount of this process's namespace until it returns
 * nonzero; returns that value, 0 when none did, -1 without mountinfo. */
static int each_mount(int (*fn)(const struct mount_line *, void *), void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -1;
	char line[16384];
	char point[4096], source[4096];
	struct mount_line m;
	int r = 0;
	while (!r && fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*d %*d %u:%u %*s %4095s %1023s", &m.maj, &m.min,
				    point, m.opts) != 4 ||
		    sscanf(dash + 3, "%255s %4095s", m.type, source) != 2)
			continue;
		unescape_octal(point, m.point, sizeof(m.point));
		unescape_octal(source, m.source, sizeof(m.source));
		r = fn(&m, arg);
	}
	fclose(f);
	return r;
}

static int is_our_fuse_mount(const struct mount_line *m, void *arg)
{
	struct dcmfs *d = arg;
	if (strcmp(m->point, d->mountpoint) || strncmp(m->type, "fuse", 4))
		return 0;
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", m->maj, m->min);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1024", 4) < 0) {
			/* not root: keep the default */
		}
		close(fd);
	}
	return 1;
}

/* Raise the mount's readahead to 1 MiB (the kernel default is 128 KiB). */
void raise_readahead(struct dcmfs *d)
{
	each_mount(is_our_fuse_mount, d);
}

static int is_mounted_at(const struct mount_line *m, void *arg)
{
	return !strcmp(m->point, (const char *)arg);
}

/* A read-write dcmfs mount of d's store elsewhere: warn (two admin mounts
 * both ingest what is dropped in their /incoming). */
static int warn_second_rw(const struct mount_line *m, void *arg)
{
	struct dcmfs *d = arg;
	if (!strcmp(m->type, "fuse.dcmfs") && !strcmp(m->source, d->store_dir) &&
	    !strncmp(m->opts, "rw", 2) && (m->opts[2] == ',' || !m->opts[2]))
		fprintf(stderr, "dcmfs: warning: store '%s' is already mounted read-write at '%s'\n",
			d->store_dir, m->point);
	return 0;
}

/* The options as given, "a,b,c", for the mount's log line. */
/* The store lost its lock connection to the catalogue (store_set_lost). */
static void log_lost_lock(const char *what)
{
	fuse_log(FUSE_LOG_WARNING, "dcmfs: %s\n", what);
}

static void given_options(int argc, char **argv, char *out, size_t len)
{
	size_t k = 0;
	out[0] = 0;
	for (int i = 1; i < argc; i++) {
		const char *o = !strcmp(argv[i], "-o") && i + 1 < argc ? argv[++i] :
				!strncmp(argv[i], "-o", 2) ? argv[i] + 2 : NULL;
		if (o && k + 1 < len)
			k += (size_t)snprintf(out + k, len - k, "%s%s", k ? "," : "", o);
		if (k >= len)
			k = len - 1;
	}
}

/* ---------------- options and main ---------------- */

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_KEEP,       /* passed on to libfuse (mount flags, allow_other, ...) */
	KEY_DROP,       /* fstab-only words; libfuse's high-level caching words */
	KEY_UID,
	KEY_GID,
	KEY_UMASK,
	KEY_FSNAME,
	KEY_SUBTYPE,
	KEY_SHARE,
	KEY_LOG_LEVEL,
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
	FUSE_OPT_KEY("uid=", KEY_UID),          /* owner of every entry (the mounter) */
	FUSE_OPT_KEY("gid=", KEY_GID),          /* group of every entry (the mounter's) */
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
	FUSE_OPT_KEY("suid", KEY_DROP),         /* always nosuid,nodev: mount.fuse3 */
	FUSE_OPT_KEY("nosuid", KEY_DROP),       /* adds suid,dev to every fstab mount */
	FUSE_OPT_KEY("dev", KEY_DROP),
	FUSE_OPT_KEY("nodev", KEY_DROP),
	FUSE_OPT_KEY("log_level=", KEY_LOG_LEVEL), /* err, warning, notice, info (info) */
	FUSE_OPT_KEY("sync", KEY_KEEP),         /* the rest of mount(8)'s and libfuse's */
	FUSE_OPT_KEY("async", KEY_KEEP),
	FUSE_OPT_KEY("dirsync", KEY_KEEP),
	FUSE_OPT_KEY("diratime", KEY_DROP), /* atimes: dcmfs shows stored times */
	FUSE_OPT_KEY("nodiratime", KEY_DROP),
	FUSE_OPT_KEY("norelatime", KEY_DROP),
	FUSE_OPT_KEY("strictatime", KEY_DROP),
	FUSE_OPT_KEY("nostrictatime", KEY_DROP),
	FUSE_OPT_KEY("max_readahead=", KEY_DROP),
	FUSE_OPT_KEY("max_background=", KEY_DROP),
	FUSE_OPT_KEY("congestion_threshold=", KEY_DROP),
	FUSE_OPT_KEY("context=", KEY_KEEP),
	FUSE_OPT_KEY("fscontext=", KEY_KEEP),
	FUSE_OPT_KEY("defcontext=", KEY_KEEP),
	FUSE_OPT_KEY("rootcontext=", KEY_KEEP),
	FUSE_OPT_KEY("kernel_cache", KEY_DROP),
	FUSE_OPT_KEY("auto_cache", KEY_DROP),
	FUSE_OPT_KEY("noauto_cache", KEY_DROP),
	FUSE_OPT_KEY("entry_timeout=", KEY_DROP),
	FUSE_OPT_KEY("attr_timeout=", KEY_DROP),
	FUSE_OPT_KEY("negative_timeout=", KEY_DROP),
	FUSE_OPT_KEY("ac_attr_timeout=", KEY_DROP),
	FUSE_OPT_KEY("use_ino", KEY_DROP),
	FUSE_OPT_KEY("readdir_ino", KEY_DROP),
	FUSE_OPT_KEY("direct_io", KEY_DROP),
	FUSE_OPT_KEY("hard_remove", KEY_DROP),
	FUSE_OPT_KEY("intr", KEY_DROP),
	FUSE_OPT_KEY("intr_signal=", KEY_DROP),
	FUSE_OPT_KEY("big_writes", KEY_DROP),
	FUSE_OPT_KEY("nonempty", KEY_DROP),
	FUSE_OPT_KEY("exec", KEY_KEEP),
	FUSE_OPT_KEY("noexec", KEY_KEEP),
	FUSE_OPT_KEY("atime", KEY_KEEP),
	FUSE_OPT_KEY("noatime", KEY_KEEP),
	FUSE_OPT_KEY("relatime", KEY_DROP),  /* libfuse 3.14 does not pass it on */
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
		"  -o uid=N,gid=N     owner and group shown for every entry (the user who\n"
		"                     mounts, and that user's group)\n"
		"  -o umask=M         mode bits to clear (0; modes 0444 files, 0555 folders)\n"
		"  -o ino32           inode numbers below 2^32, for old 32-bit programs (refused\n"
		"                     when the store's ids do not fit)\n"
		"  -o share=NAME      mount share NAME alone (dcmfsctl share create): its root\n"
		"                     holds patients/ with what the share covers, always read-only\n"
		"  -o log_level=L     err, warning, notice, info or debug: what is logged, to\n"
		"                     syslog (info), or to stderr with -f (warning)\n"
		"  -V, --version      print the version\n"
		"  mount(8) and libfuse options (noexec, noatime, sync, ...) go to the kernel;\n"
		"  the mount is always nosuid,nodev (suid, dev are ignored).  libfuse's caching\n"
		"  options (kernel_cache, attr_timeout=, ...) are accepted; dcmfs sets its own\n"
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
		printf("dcmfs %s (libfuse %s)\n", DCMFS_VERSION, fuse_pkgversion());
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
	case KEY_LOG_LEVEL:
		o->log_level = log_level_parse(arg + strlen("log_level="));
		if (o->log_level < 0) {
			fprintf(stderr, "dcmfs: option '%s': the level is err, warning, notice, info or debug\n",
				arg);
			o->bad = 1;
		}
		return 0;
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
	/* the mounting user's, as rclone: a service user (dcmfs@.service)
	 * can then write /incoming of its own admin mount */
	d.o.uid = getuid();
	d.o.gid = getgid();
	d.o.umask = 0;
	d.o.log_level = -1;         /* info to syslog, warning to stderr (-f) */
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
	log_start(cmd.debug ? LOG_DEBUG : d.o.log_level >= 0 ? d.o.log_level :
		  cmd.foreground ? LOG_WARNING : LOG_INFO);
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
	struct stat mst;
	if (stat(d.mountpoint, &mst) < 0 && errno == ENOTCONN) {
		/* the kernel's cached stat of a dead mount's root lasts only a
		 * second; after it, stat itself says the daemon is gone */
		fprintf(stderr, "dcmfs: mountpoint '%s' is a dead mount (its daemon ended): "
			"unmount it first (fusermount3 -u)\n", cmd.mountpoint);
		goto out_args;
	}
	if (stat(d.mountpoint, &mst) < 0 || !S_ISDIR(mst.st_mode)) {
		fprintf(stderr, "dcmfs: mountpoint '%s' is not a folder\n", cmd.mountpoint);
		goto out_args;
	}
	if (each_mount(is_mounted_at, d.mountpoint) > 0) {
		DIR *probe = opendir(d.mountpoint);
		if (!probe && errno == ENOTCONN)
			fprintf(stderr, "dcmfs: mountpoint '%s' is a dead mount (its daemon ended): "
				"unmount it first (fusermount3 -u)\n", cmd.mountpoint);
		else
			fprintf(stderr, "dcmfs: mountpoint '%s' is already a mount (unmount it first)\n",
				cmd.mountpoint);
		if (probe)
			closedir(probe);
		goto out_args;
	}
	if (!d.o.ro)
		each_mount(warn_second_rw, &d);
	/* default_permissions is always on; the store names the mount */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	if (d.o.share)
		fuse_opt_add_arg(&args, "-oro");       /* the kernel mount is read-only */
	/* A store holds no programs or devices: nosuid,nodev always, also
	 * from fstab, where mount.fuse3 would ask for suid,dev. */
	fuse_opt_add_arg(&args, "-onosuid,nodev");
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
		/* spool/ too: a STORE folder of a second machine may hold only
		 * a copy of store.conf (issue 13) */
		static const char *const sub[] = { "spool", "spool/.rejected" };
		char path[PATH_MAX];
		for (size_t i = 0; i < sizeof(sub) / sizeof(*sub); i++) {
			snprintf(path, sizeof(path), "%s/%s", d.store_dir, sub[i]);
			if (mkdir(path, 0755) < 0 && errno != EEXIST) {
				fprintf(stderr, "dcmfs: cannot create '%s': %s\n", path, strerror(errno));
				goto out_store;
			}
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
	if (!cmd.foreground)
		log_to_syslog();

	if (store_open(d.store_dir, d.o.ro, &d.store, err, sizeof(err))) {
		fuse_log(FUSE_LOG_ERR, "dcmfs: %s\n", err);
		ret = 2;
		goto out_unmount;
	}
	if (!d.o.ro) {
		/* Writes rely on the store's locks for as long as it is mounted:
		 * a lost lock connection is retaken (and logged) before the next. */
		store_set_lost(d.store, log_lost_lock);
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
	char given[1024];
	given_options(argc, argv, given, sizeof(given));
	fuse_log(FUSE_LOG_NOTICE, "dcmfs: mounted store '%s' at '%s' (%s; options: %s)\n",
		 d.store_dir, d.mountpoint, d.o.share ? "share" : d.o.ro ? "read-only" : "read-write",
		 given[0] ? given : "none");
	/* systemd (Type=notify): the mount answers from now on */
	sd_notifyf(0, "READY=1\nSTATUS=serving %s at %s", d.store_dir, d.mountpoint);
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
	/* SIGTERM, SIGINT or SIGHUP asked for the stop: a clean one, exit 0 */
	int sig = ret < 0 ? -ret : ret;
	int stop_signal = sig == SIGTERM || sig == SIGINT || sig == SIGHUP ? sig : 0;
	ret = ret && !stop_signal ? 1 : 0;
	sd_notify(0, "STOPPING=1");
	fuse_log(FUSE_LOG_NOTICE, "dcmfs: unmounting '%s' (%s)\n", d.mountpoint,
		 stop_signal ? strsignal(stop_signal) : ret ? "the session failed" : "unmounted");
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
