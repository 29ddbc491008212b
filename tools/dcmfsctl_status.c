/*
 * dcmfsctl_status.c - `dcmfsctl status STORE`: what an administrator asks
 * of a store first.  Which mounts of it are live (pid, mountpoint,
 * options), the last imports, the space it uses and the space left, how
 * many versions and quarantined files it holds.
 *
 * Nothing here asks the daemon: a live mount is found as the kernel shows
 * it.  /proc/self/mountinfo lists fuse.dcmfs mounts whose source is the
 * store (the daemon names the mount after the store's real path unless
 * -o fsname= was given); the processes holding the store's use lock are
 * found by the descriptors of STORE/lock that carry a lock in
 * /proc/PID/fdinfo (the locks are OFD locks, whose owner /proc/locks does
 * not name); a daemon is paired with its mount by the mountpoint on its
 * command line.  Without root, only the caller's own processes can be
 * seen: the output says so when some /proc entries could not be read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "cli.h"
#include "dcmfsctl.h"
#include "json_out.h"
#include "store.h"

struct mount_seen {
	char *point, *options, *source;
	long pid;                   /* its daemon, 0 when not found */
	int dead;                   /* its daemon ended: the kernel says ENOTCONN */
	long conn;                  /* the minor of its device: the FUSE connection */
};

struct holder {
	long pid;
	char *cmdline;              /* arguments joined by spaces */
	char **args;                /* the arguments */
	int nargs;
	int is_daemon;              /* its program is dcmfs */
	char cwd[PATH_MAX];
	char *raw;                  /* /proc/PID/cmdline, which args point into */
};

struct status {
	const char *store;
	char real[PATH_MAX];
	struct mount_seen *m;
	int nm;
	struct holder *h;
	int nh;
	int unreadable;             /* /proc entries we could not look into */
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unoctal(char *s)
{
	char *o = s;
	for (char *p = s; *p;) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
}

static void find_mounts(struct status *st)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		die("status: cannot read /proc/self/mountinfo: %s", strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		/* id parent maj:min root point options [optional...] - fstype source super */
		char *fld[64];
		int n = 0;
		for (char *tok = strtok(line, " \n"); tok && n < 64; tok = strtok(NULL, " \n"))
			fld[n++] = tok;
		int dash = -1;
		for (int i = 6; i < n; i++)
			if (!strcmp(fld[i], "-")) {
				dash = i;
				break;
			}
		if (dash < 0 || dash + 3 >= n || strcmp(fld[dash + 1], "fuse.dcmfs"))
			continue;
		char *src = fld[dash + 2];
		/* libfuse unescapes the daemon's fsname= before the kernel
		 * sees it: the source is the store's path as it is */
		unoctal(src);
		if (strcmp(src, st->real))
			continue;
		unoctal(fld[4]);
		st->m = xrealloc(st->m, (size_t)(st->nm + 1) * sizeof(*st->m));
		struct mount_seen *m = &st->m[st->nm++];
		m->point = xstrdup(fld[4]);
		m->source = xstrdup(src);
		m->options = xmalloc(strlen(fld[5]) + strlen(fld[dash + 3]) + 2);
		sprintf(m->options, "%s,%s", fld[5], fld[dash + 3]);
		m->pid = 0;
		m->conn = strchr(fld[2], ':') ? strtol(strchr(fld[2], ':') + 1, NULL, 10) : -1;
	}
	free(line);
	fclose(f);
}

static char *read_small(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap + 1);
	ssize_t k;
	while ((k = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)k;
		if (n == cap)
			buf = xrealloc(buf, (cap *= 2) + 1);
	}
	close(fd);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

static void add_holder(struct status *st, long pid)
{
	char p[64];
	size_t n;
	snprintf(p, sizeof(p), "/proc/%ld/cmdline", pid);
	char *cmd = read_small(p, &n);
	if (!cmd)
		return;                 /* gone meanwhile */
	st->h = xrealloc(st->h, (size_t)(st->nh + 1) * sizeof(*st->h));
	struct holder *h = &st->h[st->nh++];
	memset(h, 0, sizeof(*h));
	h->pid = pid;
	h->raw = cmd;
	for (size_t i = 0; i < n; i += strlen(cmd + i) + 1) {
		h->args = xrealloc(h->args, (size_t)(h->nargs + 1) * sizeof(*h->args));
		h->args[h->nargs++] = cmd + i;
	}
	h->cmdline = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		h->cmdline[i] = cmd[i] ? cmd[i] : ' ';
	h->cmdline[n && !cmd[n - 1] ? n - 1 : n] = 0;
	char exe[PATH_MAX];
	snprintf(p, sizeof(p), "/proc/%ld/exe", pid);
	ssize_t k = readlink(p, exe, sizeof(exe) - 1);
	if (k > 0) {
		exe[k] = 0;
		const char *base = strrchr(exe, '/');
		h->is_daemon = !strcmp(base ? base + 1 : exe, "dcmfs");
	} else if (h->nargs) {
		const char *base = strrchr(h->args[0], '/');
		h->is_daemon = !strcmp(base ? base + 1 : h->args[0], "dcmfs");
	}
	snprintf(p, sizeof(p), "/proc/%ld/cwd", pid);
	k = readlink(p, h->cwd, sizeof(h->cwd) - 1);
	h->cwd[k > 0 ? k : 0] = 0;
}

/* Does descriptor fd of pid hold a lock (a "lock:" line in its fdinfo)? */
static int fd_locked(long pid, const char *fd)
{
	char p[320];
	snprintf(p, sizeof(p), "/proc/%ld/fdinfo/%s", pid, fd);
	char *info = read_small(p, NULL);
	int locked = info && strstr(info, "\nlock:");
	free(info);
	return locked;
}

static void find_holders(struct status *st)
{
	char lockpath[PATH_MAX + 16];
	snprintf(lockpath, sizeof(lockpath), "%s/" STORE_LOCK_FILE, st->real);
	struct stat lst;
	if (stat(lockpath, &lst) < 0)
		return;                 /* a read-only store without a lock file */
	DIR *proc = opendir("/proc");
	if (!proc)
		die("status: cannot read /proc: %s", strerror(errno));
	struct dirent *de;
	long self = (long)getpid();
	while ((de = readdir(proc))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		char p[64];
		snprintf(p, sizeof(p), "/proc/%ld/fd", pid);
		DIR *fds = opendir(p);
		if (!fds) {
			if (errno == EACCES)
				st->unreadable++;
			continue;
		}
		struct dirent *fe;
		int holds = 0;
		while (!holds && (fe = readdir(fds))) {
			if (fe->d_name[0] == '.')
				continue;
			char fp[320];
			struct stat fst;
			snprintf(fp, sizeof(fp), "/proc/%ld/fd/%s", pid, fe->d_name);
			if (stat(fp, &fst) == 0 && fst.st_dev == lst.st_dev && fst.st_ino == lst.st_ino &&
			    fd_locked(pid, fe->d_name))
				holds = 1;
		}
		closedir(fds);
		if (holds)
			add_holder(st, pid);
	}
	closedir(proc);
}

/* A daemon's mount: the argument that, taken from its working folder,
 * is the mountpoint; else, when one daemon and one mount are left, those. */
/* The FUSE connections a process serves: the "fuse_connection:" of each
 * /dev/fuse descriptor's fdinfo (Linux 6.x), which is the minor number of
 * the mount's device.  A daemonized dcmfs works from '/', so its relative
 * mountpoint argument cannot name its mount; this can. */
static void pair_by_connection(struct status *st, long pid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%ld/fd", pid);
	DIR *fds = opendir(p);
	if (!fds)
		return;
	struct dirent *fe;
	while ((fe = readdir(fds))) {
		char fp[320], target[32];
		snprintf(fp, sizeof(fp), "/proc/%ld/fd/%s", pid, fe->d_name);
		ssize_t n = readlink(fp, target, sizeof(target) - 1);
		if (n < 0 || (target[n] = 0, strcmp(target, "/dev/fuse")))
			continue;
		snprintf(fp, sizeof(fp), "/proc/%ld/fdinfo/%s", pid, fe->d_name);
		char *info = read_small(fp, NULL), *c = info ? strstr(info, "\nfuse_connection:") : NULL;
		long conn = c ? strtol(c + strlen("\nfuse_connection:"), NULL, 10) : -1;
		for (int m = 0; conn >= 0 && m < st->nm; m++)
			if (!st->m[m].pid && st->m[m].conn == conn)
				st->m[m].pid = pid;
		free(info);
	}
	closedir(fds);
}

static void pair_daemons(struct status *st)
{
	for (int i = 0; i < st->nh; i++)
		if (st->h[i].is_daemon)
			pair_by_connection(st, st->h[i].pid);
	for (int i = 0; i < st->nh; i++) {
		struct holder *h = &st->h[i];
		for (int a = 1; h->is_daemon && a < h->nargs; a++) {
			char path[2 * PATH_MAX + 2], real[PATH_MAX];
			if (h->args[a][0] == '/')
				snprintf(path, sizeof(path), "%s", h->args[a]);
			else
				snprintf(path, sizeof(path), "%s/%s", h->cwd, h->args[a]);
			if (!realpath(path, real))
				continue;
			for (int m = 0; m < st->nm; m++)
				if (!st->m[m].pid && !strcmp(st->m[m].point, real))
					st->m[m].pid = h->pid;
		}
	}
	int free_m = -1, free_h = -1, nfm = 0, nfh = 0;
	for (int m = 0; m < st->nm; m++)
		if (!st->m[m].pid)
			free_m = m, nfm++;
	for (int i = 0; i < st->nh; i++) {
		int used = 0;
		for (int m = 0; m < st->nm; m++)
			used |= st->m[m].pid == st->h[i].pid;
		if (st->h[i].is_daemon && !used)
			free_h = i, nfh++;
	}
	if (nfm == 1 && nfh == 1)
		st->m[free_m].pid = st->h[free_h].pid;
}

/* Bytes the store's files take on disk (du), by top-level entry. */
static uint64_t disk_bytes(int dfd, const char *name)
{
	struct stat s;
	if (fstatat(dfd, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	uint64_t n = (uint64_t)s.st_blocks * 512;
	if (!S_ISDIR(s.st_mode))
		return n;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return n;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n += disk_bytes(dirfd(d), de->d_name);
	closedir(d);
	return n;
}

static const struct holder *holder_of(const struct status *st, long pid)
{
	for (int h = 0; pid && h < st->nh; h++)
		if (st->h[h].pid == pid)
			return &st->h[h];
	return NULL;
}

static int mounted_by(const struct status *st, long pid)
{
	for (int m = 0; m < st->nm; m++)
		if (st->m[m].pid == pid)
			return 1;
	return 0;
}

static void when_utc(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct imports_out {
	json_object *arr;
	int n;
};

static int import_row(void *arg, const struct cat_import *im)
{
	struct imports_out *o = arg;
	char when[32];
	when_utc(im->ended_ns ? im->ended_ns : im->started_ns, when, sizeof(when));
	double secs = im->ended_ns > im->started_ns ? (double)(im->ended_ns - im->started_ns) / 1e9 : 0;
	if (o->arr) {
		json_object *j = json_obj();
		json_set(j, "ended", json_str(when));
		json_set(j, "seconds", json_object_new_double(secs));
		json_set(j, "new", json_int(im->n_new));
		json_set(j, "duplicate", json_int(im->n_duplicate));
		json_set(j, "new_version", json_int(im->n_version));
		json_set(j, "rejected", json_int(im->n_rejected));
		json_set(j, "bytes_in", json_int((int64_t)im->bytes_in));
		json_set(j, "bytes_stored", json_int((int64_t)im->bytes_stored));
		json_push(o->arr, j);
	} else {
		printf("  %s  %" PRId64 " new, %" PRId64 " duplicate, %" PRId64 " new version, %" PRId64
		       " rejected; %" PRIu64 " bytes read, %" PRIu64 " stored; %.1f s\n", when, im->n_new,
		       im->n_duplicate, im->n_version, im->n_rejected, im->bytes_in, im->bytes_stored, secs);
	}
	o->n++;
	return 0;
}

static int count_quarantined(void *arg, int64_t id, const char *path, int current, const char *reason)
{
	(void)id, (void)path, (void)current, (void)reason;
	(*(int64_t *)arg)++;
	return 0;
}

int cmd_status(int argc, char **argv)
{
	int json = 0;
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (argv[i][0] == '-' && argv[i][1])
			usage_error("status: unknown option '%s'", argv[i]);
		else if (dir)
			usage_error("status: unexpected '%s' (one STORE only)", argv[i]);
		else
			dir = argv[i];
	}
	if (!dir)
		usage_error("status needs a STORE");
	struct status st = { .store = dir };
	struct store *s = open_store(dir, 1);
	if (!realpath(dir, st.real))
		die("status: cannot resolve '%s': %s", dir, strerror(errno));
	find_mounts(&st);
	find_holders(&st);
	pair_daemons(&st);
	/* A mount without a daemon we can see is dead when statfs (which the
	 * kernel never answers from a cache) says the daemon is gone; without
	 * root it may only be someone else's.  A seen daemon is not asked. */
	int ndead = 0;
	for (int i = 0; i < st.nm; i++) {
		struct statvfs mv;
		st.m[i].dead = !st.m[i].pid && statvfs(st.m[i].point, &mv) < 0 && errno == ENOTCONN;
		ndead += st.m[i].dead;
	}
	struct catalog *cat = store_main_catalog(s);
	struct cat_totals t;
	catalog_totals(cat, &t);
	int64_t quarantined = 0;
	catalog_quarantined(cat, count_quarantined, &quarantined);
	struct statvfs vfs;
	int have_vfs = statvfs(st.real, &vfs) == 0;
	uint64_t fs_free = have_vfs ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
	uint64_t fs_size = have_vfs ? (uint64_t)vfs.f_blocks * vfs.f_frsize : 0;
	int dfd = open(st.real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	static const char *parts[] = { "packs", "blobs", "index" };
	uint64_t used[3] = { 0 }, total = 0;
	if (dfd >= 0) {
		used[0] = disk_bytes(dfd, "packs");
		used[1] = disk_bytes(dfd, "blobs");
		used[2] = disk_bytes(dfd, "index.db") + disk_bytes(dfd, "index.db-wal") +
			  disk_bytes(dfd, "index.db-shm");
		total = disk_bytes(dfd, ".");
		close(dfd);
	}
	int64_t nimports = 0;
	if (json) {
		json_object *o = json_obj(), *ma = json_arr(), *ha = json_arr(), *da = json_arr();
		json_set(o, "store", json_str(st.real));
		for (int i = 0; i < st.nm; i++) {
			json_object *j = json_obj();
			if (st.m[i].dead) {
				json_set(j, "mountpoint", json_str(st.m[i].point));
				json_set(j, "options", json_str(st.m[i].options));
				json_push(da, j);
				continue;
			}
			json_set(j, "mountpoint", json_str(st.m[i].point));
			json_set(j, "pid", st.m[i].pid ? json_int(st.m[i].pid) : NULL);
			json_set(j, "options", json_str(st.m[i].options));
			const struct holder *h = holder_of(&st, st.m[i].pid);
			json_set(j, "command", h ? json_str(h->cmdline) : NULL);
			json_push(ma, j);
		}
		json_set(o, "mounts", ma);
		json_set(o, "dead_mounts", da);
		for (int h = 0; h < st.nh; h++) {
			json_object *j = json_obj();
			json_set(j, "pid", json_int(st.h[h].pid));
			json_set(j, "daemon", json_object_new_boolean(st.h[h].is_daemon));
			json_set(j, "command", json_str(st.h[h].cmdline));
			json_push(ha, j);
		}
		json_set(o, "processes", ha);
		json_set(o, "processes_not_visible", json_int(st.unreadable));
		struct imports_out io = { .arr = json_arr() };
		catalog_recent_imports(cat, 10, import_row, &io);
		json_set(o, "last_imports", io.arr);
		json_object *sp = json_obj();
		for (int i = 0; i < 3; i++)
			json_set(sp, parts[i], json_int((int64_t)used[i]));
		json_set(sp, "total", json_int((int64_t)total));
		json_set(sp, "filesystem_free", have_vfs ? json_int((int64_t)fs_free) : NULL);
		json_set(sp, "filesystem_size", have_vfs ? json_int((int64_t)fs_size) : NULL);
		json_set(o, "disk_bytes", sp);
		json_set(o, "instances", json_int(t.instances));
		json_set(o, "later_versions", json_int(t.versions));
		json_set(o, "quarantined", json_int(quarantined));
		json_print(o);
	} else {
		char *a = NULL, *b = NULL, *c = NULL;
		printf("store %s\n", text_safe(st.real, &a));
		printf("live mounts: %d\n", st.nm - ndead);
		for (int i = 0; i < st.nm; i++) {
			if (st.m[i].dead)
				continue;
			char pid[24] = "?";
			if (st.m[i].pid)
				snprintf(pid, sizeof(pid), "%ld", st.m[i].pid);
			const struct holder *h = holder_of(&st, st.m[i].pid);
			printf("  pid %s  %s  %s%s%s\n", pid, text_safe(st.m[i].point, &a),
			       text_safe(st.m[i].options, &b), h ? "  command: " : "",
			       h ? text_safe(h->cmdline, &c) : "");
		}
		if (ndead)
			printf("dead mounts (their daemon ended; unmount with fusermount3 -u): %d\n", ndead);
		for (int i = 0; i < st.nm; i++)
			if (st.m[i].dead)
				printf("  %s\n", text_safe(st.m[i].point, &a));
		int others = 0;
		for (int h = 0; h < st.nh; h++)
			if (!st.h[h].is_daemon || !mounted_by(&st, st.h[h].pid))
				others++;
		if (others)
			printf("other processes with the store open: %d\n", others);
		for (int h = 0; h < st.nh; h++)
			if (!st.h[h].is_daemon || !mounted_by(&st, st.h[h].pid))
				printf("  pid %ld  %s\n", st.h[h].pid, text_safe(st.h[h].cmdline, &a));
		if (st.unreadable)
			printf("(%d processes could not be looked into: run as root to see every mount's pid)\n",
			       st.unreadable);
		printf("last imports (UTC, newest first):\n");
		struct imports_out io = { 0 };
		catalog_recent_imports(cat, 10, import_row, &io);
		nimports = io.n;
		if (!nimports)
			printf("  none\n");
		char h1[32], h2[32], h3[32], h4[32], h5[32];
		printf("disk: %s used (packs %s, blobs %s, index %s)", human(total, h1, sizeof(h1)),
		       human(used[0], h2, sizeof(h2)), human(used[1], h3, sizeof(h3)),
		       human(used[2], h4, sizeof(h4)));
		if (have_vfs)
			printf("; %s free of %s", human(fs_free, h1, sizeof(h1)),
			       human(fs_size, h5, sizeof(h5)));
		printf("\n");
		printf("instances %" PRId64 ", later versions %" PRId64 ", quarantined %" PRId64
		       " (dcmfsctl ls --quarantine)\n", t.instances, t.versions, quarantined);
		free(a);
		free(b);
		free(c);
	}
	for (int h = 0; h < st.nh; h++)
		free(st.h[h].cmdline), free(st.h[h].args), free(st.h[h].raw);
	free(st.h);
	for (int i = 0; i < st.nm; i++)
		free(st.m[i].point), free(st.m[i].options), free(st.m[i].source);
	free(st.m);
	store_close(s);
	return finish(0);
}
