/*
 * share.c - share definitions (their file format, share.h) and membership
 * (which patients, studies and series a share covers, kept up to date from
 * the change feed).
 */
#include "share.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#define SHARE_MAGIC "dcmfs-share 1"

/* ---- names, dates, validation ---- */

static int name_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

int share_name_check(const char *name, char *err, size_t errlen)
{
	size_t n = strlen(name);
	if (n == 0) {
		snprintf(err, errlen, "share name is empty");
		return -EINVAL;
	}
	if (n > SHARE_NAME_MAX) {
		snprintf(err, errlen, "share name is %zu bytes long, at most %d are allowed",
			 n, SHARE_NAME_MAX);
		return -EINVAL;
	}
	if (name[0] == '.') {
		snprintf(err, errlen, "share name '%s' starts with '.'", name);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '/') {
			snprintf(err, errlen, "share name contains '/' (at byte %zu):"
				 " a share name is one name, not a path", i + 1);
			return -EINVAL;
		}
		if (!name_byte_ok(c)) {
			char shown[8];
			if (c > 0x20 && c < 0x7f)
				snprintf(shown, sizeof(shown), "'%c'", c);
			else
				snprintf(shown, sizeof(shown), "\\x%02X", c);
			snprintf(err, errlen, "share name contains %s at byte %zu: only letters,"
				 " digits, '-', '_' and '.' are allowed", shown, i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

int share_date_check(const char *d)
{
	if (strlen(d) != 8)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		if (d[i] < '0' || d[i] > '9')
			return -EINVAL;
	int y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
	int m = (d[4] - '0') * 10 + (d[5] - '0');
	int day = (d[6] - '0') * 10 + (d[7] - '0');
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1 || m < 1 || m > 12 || day < 1)
		return -EINVAL;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	int max = mdays[m - 1] + (m == 2 && leap);
	return day <= max ? 0 : -EINVAL;
}

static size_t nrules(const struct share *sh)
{
	return sh->npatients + sh->nstudies + sh->nseries + sh->naccessions + sh->nmodalities +
	       (sh->from[0] != 0) + (sh->to[0] != 0);
}

int share_validate(const struct share *sh, char *err, size_t errlen)
{
	int rc = share_name_check(sh->name, err, errlen);
	if (rc)
		return rc;
	if (sh->all && nrules(sh)) {
		snprintf(err, errlen, "share %s: --all shares everything and takes no other rule", sh->name);
		return -EINVAL;
	}
	if (!sh->all && !nrules(sh)) {
		snprintf(err, errlen, "share %s has no rule: give --patient, --study, --series,"
			 " --accession, --modality, --from or --to (or --all to share everything)",
			 sh->name);
		return -EINVAL;
	}
	struct { char **v; size_t n; const char *what; } lists[] = {
		{ sh->patients, sh->npatients, "PatientID" },
		{ sh->studies, sh->nstudies, "StudyInstanceUID" },
		{ sh->series, sh->nseries, "SeriesInstanceUID" },
		{ sh->accessions, sh->naccessions, "AccessionNumber" },
		{ sh->modalities, sh->nmodalities, "Modality" },
	};
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
		for (size_t i = 0; i < lists[l].n; i++)
			if (!lists[l].v[i][0]) {
				snprintf(err, errlen, "share %s: empty %s", sh->name, lists[l].what);
				return -EINVAL;
			}
	if (sh->from[0] && share_date_check(sh->from)) {
		snprintf(err, errlen, "share %s: from date '%s' is not a date YYYYMMDD", sh->name, sh->from);
		return -EINVAL;
	}
	if (sh->to[0] && share_date_check(sh->to)) {
		snprintf(err, errlen, "share %s: to date '%s' is not a date YYYYMMDD", sh->name, sh->to);
		return -EINVAL;
	}
	if (sh->from[0] && sh->to[0] && strcmp(sh->from, sh->to) > 0) {
		snprintf(err, errlen, "share %s: from date %s is after to date %s", sh->name,
			 sh->from, sh->to);
		return -EINVAL;
	}
	if (sh->expires_s < 0) {
		snprintf(err, errlen, "share %s: expiry time is negative", sh->name);
		return -EINVAL;
	}
	return 0;
}

int share_expired(const struct share *sh, int64_t now_s)
{
	return sh->expires_s != 0 && now_s >= sh->expires_s;
}

/* ---- values ---- */

struct share *share_alloc(void)
{
	return calloc(1, sizeof(struct share));
}

int share_add_value(char ***list, size_t *n, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	char **p = realloc(*list, (*n + 1) * sizeof(**list));
	if (!p) {
		free(copy);
		return -ENOMEM;
	}
	p[*n] = copy;
	*list = p;
	(*n)++;
	return 0;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void share_free(struct share *sh)
{
	if (!sh)
		return;
	free_list(sh->patients, sh->npatients);
	free_list(sh->studies, sh->nstudies);
	free_list(sh->series, sh->nseries);
	free_list(sh->accessions, sh->naccessions);
	free_list(sh->modalities, sh->nmodalities);
	explicit_bzero(sh->secret, sizeof(sh->secret));
	free(sh);
}

int share_new_secret(struct share *sh)
{
	size_t got = 0;
	while (got < sizeof(sh->secret)) {
		ssize_t r = getrandom(sh->secret + got, sizeof(sh->secret) - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return 0;
}

/* ---- text: a growing buffer and the escaping of values ---- */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = (b->len + n + 1) * 2 + 64;
		char *p = realloc(b->p, nc);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void buf_str(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_fmt(struct buf *b, const char *fmt, long long v)
{
	char t[64];
	int n = snprintf(t, sizeof(t), fmt, v);
	buf_put(b, t, (size_t)n);
}

static void buf_escaped(struct buf *b, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p > 0x20 && *p < 0x7f && *p != '%') {
			buf_put(b, (const char *)p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			buf_put(b, e, 3);
		}
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Undo buf_escaped in place: 0, or -EINVAL for a bad escape, a byte that
 * should have been escaped, or an escaped NUL (values are C strings). */
static int unescape(char *v)
{
	char *w = v;
	for (char *r = v; *r; r++) {
		unsigned char c = (unsigned char)*r;
		if (c == '%') {
			int h = hexval(r[1]), l = h < 0 ? -1 : hexval(r[2]);
			if (l < 0 || (h | l) == 0)
				return -EINVAL;
			*w++ = (char)(h * 16 + l);
			r += 2;
		} else if (c <= 0x20 || c >= 0x7f) {
			return -EINVAL;
		} else {
			*w++ = (char)c;
		}
	}
	*w = 0;
	return 0;
}

static void buf_list(struct buf *b, const char *key, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		buf_str(b, key);
		buf_str(b, " ");
		buf_escaped(b, v[i]);
		buf_str(b, "\n");
	}
}

/* The definition file's text (share.h). */
static int share_format(const struct share *sh, struct buf *b)
{
	buf_str(b, SHARE_MAGIC "\n");
	buf_fmt(b, "created %lld\n", (long long)sh->created_s);
	buf_str(b, "secret ");
	for (size_t i = 0; i < sizeof(sh->secret); i++)
		buf_fmt(b, "%02llx", sh->secret[i]);
	buf_str(b, "\n");
	if (sh->all)
		buf_str(b, "all 1\n");
	buf_list(b, "patient", sh->patients, sh->npatients);
	buf_list(b, "study", sh->studies, sh->nstudies);
	buf_list(b, "series", sh->series, sh->nseries);
	buf_list(b, "accession", sh->accessions, sh->naccessions);
	buf_list(b, "modality", sh->modalities, sh->nmodalities);
	if (sh->from[0]) {
		buf_str(b, "from ");
		buf_str(b, sh->from);
		buf_str(b, "\n");
	}
	if (sh->to[0]) {
		buf_str(b, "to ");
		buf_str(b, sh->to);
		buf_str(b, "\n");
	}
	if (sh->deidentify)
		buf_str(b, "deidentify 1\n");
	if (sh->shift_dates)
		buf_str(b, "shift-dates 1\n");
	if (sh->allow_burned_in)
		buf_str(b, "allow-burned-in 1\n");
	if (sh->expires_s)
		buf_fmt(b, "expires %lld\n", (long long)sh->expires_s);
	return b->oom ? -ENOMEM : 0;
}

char *share_rules_text(const struct share *sh)
{
	struct buf b = { 0 };
	struct { const char *key; char **v; size_t n; } lists[] = {
		{ "patient", sh->patients, sh->npatients },
		{ "study", sh->studies, sh->nstudies },
		{ "series", sh->series, sh->nseries },
		{ "accession", sh->accessions, sh->naccessions },
		{ "modality", sh->modalities, sh->nmodalities },
	};
	buf_str(&b, "");
	if (sh->all)
		buf_str(&b, "all");
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		if (!lists[l].n)
			continue;
		if (b.len)
			buf_str(&b, " ");
		buf_str(&b, lists[l].key);
		buf_str(&b, "=");
		for (size_t i = 0; i < lists[l].n; i++) {
			if (i)
				buf_str(&b, ",");
			buf_escaped(&b, lists[l].v[i]);
		}
	}
	if (sh->from[0]) {
		buf_str(&b, b.len ? " from=" : "from=");
		buf_str(&b, sh->from);
	}
	if (sh->to[0]) {
		buf_str(&b, b.len ? " to=" : "to=");
		buf_str(&b, sh->to);
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* ---- files ---- */

static int path_of(char *out, size_t len, const char *store_dir, const char *a, const char *b)
{
	int n = b ? snprintf(out, len, "%s/%s/%s/%s", store_dir, SHARE_DIR, a, b)
		  : a ? snprintf(out, len, "%s/%s/%s", store_dir, SHARE_DIR, a)
		      : snprintf(out, len, "%s/%s", store_dir, SHARE_DIR);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
	return rc < 0 && errno != ENOENT ? -errno : 0;
}

int share_drop_cache(const char *store_dir, const char *name)
{
	char path[PATH_MAX];
	if (path_of(path, sizeof(path), store_dir, SHARE_DEID_DIR, name))
		return -ENAMETOOLONG;
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	int rc = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc < 0 ? -errno : rc;
}

int share_save_new(const char *store_dir, const struct share *sh, char *err, size_t errlen)
{
	int rc = share_validate(sh, err, errlen);
	if (rc)
		return rc;
	char dir[PATH_MAX], final[PATH_MAX], tmp[PATH_MAX];
	if (path_of(dir, sizeof(dir), store_dir, NULL, NULL) ||
	    path_of(final, sizeof(final), store_dir, sh->name, NULL)) {
		snprintf(err, errlen, "store path too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot make %s: %s", dir, strerror(-rc));
		return rc;
	}
	if (access(final, F_OK) == 0) {
		snprintf(err, errlen, "share %s exists", sh->name);
		return -EEXIST;
	}
	if ((rc = share_drop_cache(store_dir, sh->name))) {
		snprintf(err, errlen, "cannot remove the old cache of share %s: %s", sh->name,
			 strerror(-rc));
		return rc;
	}
	struct buf b = { 0 };
	if ((rc = share_format(sh, &b))) {
		free(b.p);
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	uint8_t rnd[8];
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	unsigned long long tag = 0;
	memcpy(&tag, rnd, sizeof(tag));
	int tl = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld.%016llx", dir, sh->name,
			  (long)getpid(), tag);
	if (tl < 0 || (size_t)tl >= sizeof(tmp)) {
		free(b.p);
		snprintf(err, errlen, "store path too long");
		return -ENAMETOOLONG;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		free(b.p);
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(-rc));
		return rc;
	}
	size_t off = 0;
	while (off < b.len) {
		ssize_t w = write(fd, b.p + off, b.len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		off += (size_t)w;
	}
	explicit_bzero(b.p, b.len);
	free(b.p);
	if (!rc && fchmod(fd, 0600) < 0)
		rc = -errno;
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(-rc));
		return rc;
	}
	/* link(2) gives the name only if it is free: two creates of one name
	 * never overwrite each other. */
	if (link(tmp, final) < 0) {
		rc = -errno;
		unlink(tmp);
		if (rc == -EEXIST)
			snprintf(err, errlen, "share %s exists", sh->name);
		else
			snprintf(err, errlen, "cannot create %s: %s", final, strerror(-rc));
		return rc;
	}
	unlink(tmp);
	if ((rc = fsync_dir(dir))) {
		snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(-rc));
		return rc;
	}
	return 0;
}

int share_remove(const char *store_dir, const char *name)
{
	char e[160];
	if (share_name_check(name, e, sizeof(e)))
		return -EINVAL;
	char path[PATH_MAX], dir[PATH_MAX];
	if (path_of(path, sizeof(path), store_dir, name, NULL) ||
	    path_of(dir, sizeof(dir), store_dir, NULL, NULL))
		return -ENAMETOOLONG;
	if (unlink(path) < 0)
		return -errno;
	int rc = fsync_dir(dir);
	int rc2 = share_drop_cache(store_dir, name);
	return rc ? rc : rc2;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int share_names(const char *store_dir, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	char dir[PATH_MAX];
	if (path_of(dir, sizeof(dir), store_dir, NULL, NULL))
		return -ENAMETOOLONG;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	int rc = 0;
	char **v = NULL;
	size_t cnt = 0;
	char err[160];
	while ((e = readdir(d))) {
		if (share_name_check(e->d_name, err, sizeof(err)))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if ((rc = share_add_value(&v, &cnt, e->d_name)))
			break;
	}
	closedir(d);
	if (rc) {
		free_list(v, cnt);
		return rc;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_str);
	*names = v;
	*n = cnt;
	return 0;
}

/* ---- loading ---- */

static int parse_i64(const char *v, int64_t *out)
{
	if (!*v || strlen(v) > 19)
		return -EINVAL;
	int64_t x = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		x = x * 10 + (*p - '0');
	}
	*out = x;
	return 0;
}

/* Parse one line (already without its '\n') into sh; seen[] marks the
 * single-valued keys met so far.  0, or -EINVAL/-ENOMEM with the reason
 * (without the line number) in err. */
enum { K_CREATED, K_SECRET, K_ALL, K_FROM, K_TO, K_DEID, K_SHIFT, K_BURNED, K_EXPIRES, K_NSINGLE };

static int parse_line(struct share *sh, char *line, int seen[K_NSINGLE], char *err, size_t errlen)
{
	char *sp = strchr(line, ' ');
	if (!sp) {
		snprintf(err, errlen, "'%.40s' is not 'key value'", line);
		return -EINVAL;
	}
	*sp = 0;
	const char *key = line;
	char *val = sp + 1;
	static const struct { const char *key; int single; } keys[] = {
		{ "created", K_CREATED }, { "secret", K_SECRET }, { "all", K_ALL },
		{ "from", K_FROM }, { "to", K_TO }, { "deidentify", K_DEID },
		{ "shift-dates", K_SHIFT }, { "allow-burned-in", K_BURNED },
		{ "expires", K_EXPIRES },
	};
	struct { const char *key; char ***list; size_t *n; } lists[] = {
		{ "patient", &sh->patients, &sh->npatients },
		{ "study", &sh->studies, &sh->nstudies },
		{ "series", &sh->series, &sh->nseries },
		{ "accession", &sh->accessions, &sh->naccessions },
		{ "modality", &sh->modalities, &sh->nmodalities },
	};
	if (unescape(val)) {
		snprintf(err, errlen, "the value of '%s' has a bad escape or an unescaped byte", key);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		if (strcmp(key, lists[i].key))
			continue;
		if (!val[0]) {
			snprintf(err, errlen, "'%s' has an empty value", key);
			return -EINVAL;
		}
		return share_add_value(lists[i].list, lists[i].n, val);
	}
	int k = -1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(key, keys[i].key))
			k = keys[i].single;
	if (k < 0) {
		snprintf(err, errlen, "unknown key '%.40s'", key);
		return -EINVAL;
	}
	if (seen[k]) {
		snprintf(err, errlen, "'%s' is given twice", key);
		return -EINVAL;
	}
	seen[k] = 1;
	int64_t x;
	switch (k) {
	case K_CREATED:
	case K_EXPIRES:
		if (parse_i64(val, &x)) {
			snprintf(err, errlen, "'%s' is not a number of seconds", key);
			return -EINVAL;
		}
		*(k == K_CREATED ? &sh->created_s : &sh->expires_s) = x;
		return 0;
	case K_SECRET:
		if (strlen(val) != 2 * sizeof(sh->secret)) {
			snprintf(err, errlen, "the secret is not %zu hex digits", 2 * sizeof(sh->secret));
			return -EINVAL;
		}
		for (size_t i = 0; i < sizeof(sh->secret); i++) {
			int h = hexval(val[2 * i]), l = hexval(val[2 * i + 1]);
			if (h < 0 || l < 0) {
				snprintf(err, errlen, "the secret is not %zu hex digits",
					 2 * sizeof(sh->secret));
				return -EINVAL;
			}
			sh->secret[i] = (uint8_t)(h * 16 + l);
		}
		explicit_bzero(val, strlen(val));
		return 0;
	case K_FROM:
	case K_TO:
		if (share_date_check(val)) {
			snprintf(err, errlen, "'%s' is not a date YYYYMMDD", key);
			return -EINVAL;
		}
		memcpy(k == K_FROM ? sh->from : sh->to, val, 9);
		return 0;
	default:
		if (strcmp(val, "1")) {
			snprintf(err, errlen, "'%s' must be 1", key);
			return -EINVAL;
		}
		if (k == K_ALL)
			sh->all = 1;
		else if (k == K_DEID)
			sh->deidentify = 1;
		else if (k == K_SHIFT)
			sh->shift_dates = 1;
		else
			sh->allow_burned_in = 1;
		return 0;
	}
}

#define SHARE_FILE_MAX (64u << 20)

int share_load(const char *store_dir, const char *name, struct share **out,
	       char *err, size_t errlen)
{
	*out = NULL;
	int rc = share_name_check(name, err, errlen);
	if (rc)
		return rc;
	char path[PATH_MAX];
	if (path_of(path, sizeof(path), store_dir, name, NULL)) {
		snprintf(err, errlen, "store path too long");
		return -ENAMETOOLONG;
	}
	/* O_NONBLOCK: a FIFO planted here must be refused, not wait for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			snprintf(err, errlen, "no share %s", name);
		else
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
		return rc;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SHARE_FILE_MAX) {
		close(fd);
		snprintf(err, errlen, "%s: not a share definition (not a regular file of at most %u bytes)",
			 path, SHARE_FILE_MAX);
		return -EINVAL;
	}
	size_t size = (size_t)st.st_size;
	char *text = malloc(size + 1);
	if (!text) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, text + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	text[got] = 0;
	struct share *sh = share_alloc();
	if (!sh) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(sh->name, sizeof(sh->name), "%s", name);
	int seen[K_NSINGLE] = { 0 };
	char why[200];
	size_t lineno = 0;
	char *p = text, *end = text + got;
	rc = 0;
	while (p < end && !rc) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		lineno++;
		if (!nl) {
			snprintf(err, errlen, "%s: line %zu: does not end with a newline (the file is cut)",
				 path, lineno);
			rc = -EINVAL;
			break;
		}
		*nl = 0;
		if (memchr(p, 0, (size_t)(nl - p))) {
			snprintf(err, errlen, "%s: line %zu: holds a NUL byte", path, lineno);
			rc = -EINVAL;
		} else if (lineno == 1) {
			if (strcmp(p, SHARE_MAGIC)) {
				snprintf(err, errlen, "%s: line 1: not '%s': not a dcmfs share definition"
					 " (or a newer one)", path, SHARE_MAGIC);
				rc = -EINVAL;
			}
		} else if ((rc = parse_line(sh, p, seen, why, sizeof(why)))) {
			if (rc == -ENOMEM)
				snprintf(err, errlen, "out of memory");
			else
				snprintf(err, errlen, "%s: line %zu: %s", path, lineno, why);
		}
		p = nl + 1;
	}
	explicit_bzero(text, got);
	free(text);
	if (!rc && lineno == 0) {
		snprintf(err, errlen, "%s: line 1: the file is empty", path);
		rc = -EINVAL;
	}
	if (!rc && (!seen[K_SECRET] || !seen[K_CREATED])) {
		snprintf(err, errlen, "%s: line %zu: the file ends without its '%s' line", path,
			 lineno + 1, seen[K_SECRET] ? "created" : "secret");
		rc = -EINVAL;
	}
	if (!rc && (rc = share_validate(sh, why, sizeof(why))))
		snprintf(err, errlen, "%s: line %zu: %s", path, lineno, why);
	if (rc) {
		share_free(sh);
		return rc;
	}
	*out = sh;
	return 0;
}

/* ---- membership ---- */

static void rules_of(const struct share *sh, struct cat_share_rules *r)
{
	memset(r, 0, sizeof(*r));
	r->all = sh->all;
	r->patients = sh->patients;
	r->npatients = sh->npatients;
	r->studies = sh->studies;
	r->nstudies = sh->nstudies;
	r->series = sh->series;
	r->nseries = sh->nseries;
	r->accessions = sh->accessions;
	r->naccessions = sh->naccessions;
	r->modalities = sh->modalities;
	r->nmodalities = sh->nmodalities;
	r->from = sh->from;
	r->to = sh->to;
}

static int count_cb(void *arg, const struct cat_node *patient, const struct cat_node *study,
		    const struct cat_node *series)
{
	(void)patient;
	(void)study;
	(void)series;
	(*(int *)arg)++;
	return 0;
}

int share_series_matches(struct catalog *cat, const struct share *sh, int64_t series_id)
{
	if (series_id <= 0)
		return 0;
	struct cat_share_rules r;
	rules_of(sh, &r);
	int n = 0;
	int rc = catalog_share_series(cat, &r, series_id, count_cb, &n);
	return rc < 0 ? rc : n > 0;
}

/*
 * A member set per kind: members sorted by parent then id, so the members
 * under one parent are one contiguous run (found by binary search), and an
 * open-addressing hash of (parent, id) by id, which gives a member's
 * parent and so its place in the array.  Each member keeps what a listing
 * shows of it (its name, its mtime, whether /patients shows it), followed
 * from the change feed, so a listing needs no query.  Inserting or
 * removing shifts the array: fine for the rates the change feed brings (a
 * new series now and then), and the build is one sort.
 */
struct pair {
	int64_t parent, id;
};

struct member {
	int64_t parent, id;         /* first: sorted as a struct pair */
	int64_t mtime_ns;
	char *name;                 /* malloc'd */
	int shown;                  /* nchildren > 0 in the catalogue */
};

struct kindset {
	struct member *v;
	size_t n, cap;
	struct pair *slots;         /* by id; id 0 = empty, -1 = deleted */
	size_t nslots, used;        /* used: live + deleted */
};

struct share_members {
	const struct share *sh;
	pthread_rwlock_t lock;
	struct kindset k[3];        /* patients, studies, series */
	/* Series seen not to match (parent 0).  The rules are about values a
	 * series row never changes (its patient's PatientID, its study's UID,
	 * AccessionNumber and StudyDate, its own UID and Modality) and ids are
	 * never reused, so a series once found outside stays outside: the
	 * feed's many changes of one series cost one query.  Only the thread
	 * applying changes uses it. */
	struct kindset outside;
};

static struct kindset *kset(const struct share_members *m, int kind)
{
	if (kind < CAT_PATIENT || kind > CAT_SERIES)
		return NULL;
	return (struct kindset *)&m->k[kind - CAT_PATIENT];
}

static size_t hash_id(int64_t id)
{
	uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
	return (size_t)(x ^ (x >> 29));
}

/* The slot of id, or NULL when it is not a member. */
static struct pair *hash_find(const struct kindset *s, int64_t id)
{
	if (!s->nslots)
		return NULL;
	size_t mask = s->nslots - 1;
	for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
		if (s->slots[i].id == id)
			return &s->slots[i];
		if (s->slots[i].id == 0)
			return NULL;
	}
}

static int hash_has(const struct kindset *s, int64_t id)
{
	return hash_find(s, id) != NULL;
}

static int hash_rebuild(struct kindset *s, size_t want)
{
	size_t ns = 16;
	while (ns < want * 2)
		ns <<= 1;
	struct pair *slots = calloc(ns, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t j = 0; j < s->n; j++) {
		size_t i = hash_id(s->v[j].id) & (ns - 1);
		while (slots[i].id)
			i = (i + 1) & (ns - 1);
		slots[i] = (struct pair){ s->v[j].parent, s->v[j].id };
	}
	free(s->slots);
	s->slots = slots;
	s->nslots = ns;
	s->used = s->n;
	return 0;
}

static int cmp_key(int64_t p1, int64_t i1, int64_t p2, int64_t i2)
{
	if (p1 != p2)
		return p1 < p2 ? -1 : 1;
	return i1 < i2 ? -1 : i1 > i2;
}

static int cmp_member(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	return cmp_key(x->parent, x->id, y->parent, y->id);
}

/* First position whose member is not below (parent, id). */
static size_t lower(const struct kindset *s, int64_t parent, int64_t id)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_key(s->v[mid].parent, s->v[mid].id, parent, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The member id, or NULL. */
static struct member *member_of(const struct kindset *s, int64_t id)
{
	struct pair *slot = hash_find(s, id);
	if (!slot)
		return NULL;
	size_t j = lower(s, slot->parent, id);
	return j < s->n && s->v[j].id == id ? &s->v[j] : NULL;
}

static int grow(struct kindset *s)
{
	if (s->n < s->cap)
		return 0;
	size_t nc = s->cap ? s->cap * 2 : 64;
	struct member *v = realloc(s->v, nc * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->cap = nc;
	return 0;
}

/* Add node n (its kind's set s) unless it is a member already. */
static int set_add(struct kindset *s, const struct cat_node *n)
{
	if (hash_has(s, n->id))
		return 0;
	char *name = strdup(n->name);
	if (!name || grow(s)) {
		free(name);
		return -ENOMEM;
	}
	size_t pos = lower(s, n->parent, n->id);
	memmove(s->v + pos + 1, s->v + pos, (s->n - pos) * sizeof(*s->v));
	s->v[pos] = (struct member){ n->parent, n->id, n->mtime_ns, name, n->nchildren > 0 };
	s->n++;
	if ((s->used + 1) * 2 > s->nslots) {
		/* the table is rebuilt from v, the new member included */
		int rc = hash_rebuild(s, s->n);
		if (rc) {
			memmove(s->v + pos, s->v + pos + 1, (s->n - pos - 1) * sizeof(*s->v));
			s->n--;
			free(name);
		}
		return rc;
	}
	size_t mask = s->nslots - 1, i = hash_id(n->id) & mask;
	while (s->slots[i].id != 0 && s->slots[i].id != -1)
		i = (i + 1) & mask;
	if (s->slots[i].id == 0)
		s->used++;
	s->slots[i] = (struct pair){ n->parent, n->id };
	return 0;
}

/* Remove id: 1 when it was a member (its parent then in *parent), else 0. */
static int set_remove(struct kindset *s, int64_t id, int64_t *parent)
{
	struct pair *slot = hash_find(s, id);
	if (!slot)
		return 0;
	*parent = slot->parent;
	slot->id = -1;
	size_t j = lower(s, *parent, id);
	if (j < s->n && s->v[j].id == id) {
		free(s->v[j].name);
		memmove(s->v + j, s->v + j + 1, (s->n - j - 1) * sizeof(*s->v));
		s->n--;
	}
	return 1;
}

static size_t run_of(const struct kindset *s, int64_t parent, size_t *first)
{
	size_t a = lower(s, parent, INT64_MIN), b = lower(s, parent, INT64_MAX);
	if (b < s->n && s->v[b].parent == parent && s->v[b].id == INT64_MAX)
		b++;
	*first = a;
	return b - a;
}

static int build_cb(void *arg, const struct cat_node *patient, const struct cat_node *study,
		    const struct cat_node *series)
{
	struct share_members *m = arg;
	const struct cat_node *row[3] = { patient, study, series };
	for (int k = 0; k < 3; k++) {
		struct kindset *s = &m->k[k];
		char *name = strdup(row[k]->name);
		if (!name || grow(s)) {
			free(name);
			return -ENOMEM;
		}
		s->v[s->n++] = (struct member){ row[k]->parent, row[k]->id, row[k]->mtime_ns, name,
						row[k]->nchildren > 0 };
	}
	return 0;
}

/* Sort and remove duplicates (patients and studies come once per series). */
static void set_settle(struct kindset *s)
{
	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_member);
	size_t w = 1;
	for (size_t i = 1; i < s->n; i++) {
		if (cmp_member(&s->v[i], &s->v[w - 1]))
			s->v[w++] = s->v[i];
		else
			free(s->v[i].name);
	}
	s->n = w;
}

static void set_free(struct kindset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	free(s->slots);
}

void share_members_free(struct share_members *m)
{
	if (!m)
		return;
	for (int k = 0; k < 3; k++)
		set_free(&m->k[k]);
	set_free(&m->outside);
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

int share_members_build(struct catalog *cat, const struct share *sh, struct share_members **out)
{
	*out = NULL;
	struct share_members *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (pthread_rwlock_init(&m->lock, NULL)) {
		free(m);
		return -ENOMEM;
	}
	m->sh = sh;
	struct cat_share_rules r;
	rules_of(sh, &r);
	int rc = catalog_share_series(cat, &r, 0, build_cb, m);
	for (int k = 0; !rc && k < 3; k++) {
		set_settle(&m->k[k]);
		rc = hash_rebuild(&m->k[k], m->k[k].n);
	}
	if (rc) {
		share_members_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int share_members_has(const struct share_members *m, int cat_kind, int64_t id)
{
	const struct kindset *s = kset(m, cat_kind);
	if (!s)
		return 0;
	pthread_rwlock_rdlock((pthread_rwlock_t *)&m->lock);
	int r = hash_has(s, id);
	pthread_rwlock_unlock((pthread_rwlock_t *)&m->lock);
	return r;
}

size_t share_members_count(const struct share_members *m, int cat_kind, int64_t parent)
{
	const struct kindset *s = kset(m, cat_kind);
	if (!s)
		return 0;
	pthread_rwlock_rdlock((pthread_rwlock_t *)&m->lock);
	size_t first, n = cat_kind == CAT_PATIENT ? s->n : run_of(s, parent, &first);
	pthread_rwlock_unlock((pthread_rwlock_t *)&m->lock);
	return n;
}

/* A copy of the members of a kind under parent (all, or the shown ones
 * as nodes): 0 and *ids or *nodes (malloc'd, NULL when *n is 0), -EINVAL
 * for another kind, -ENOMEM. */
static int copy_run(const struct share_members *m, int cat_kind, int64_t parent,
		    int64_t **ids, struct cat_node **nodes, size_t *n)
{
	const struct kindset *s = kset(m, cat_kind);
	*n = 0;
	if (ids)
		*ids = NULL;
	if (nodes)
		*nodes = NULL;
	if (!s)
		return -EINVAL;
	if (cat_kind == CAT_PATIENT)
		parent = 0;
	const struct kindset *child = cat_kind < CAT_SERIES ? &m->k[cat_kind - CAT_PATIENT + 1] : NULL;
	pthread_rwlock_rdlock((pthread_rwlock_t *)&m->lock);
	size_t first, cnt = run_of(s, parent, &first), w = 0;
	void *v = cnt ? malloc(cnt * (ids ? sizeof(int64_t) : sizeof(struct cat_node))) : NULL;
	for (size_t i = 0; v && i < cnt; i++) {
		const struct member *e = &s->v[first + i];
		if (ids) {
			((int64_t *)v)[w++] = e->id;
		} else if (e->shown) {
			struct cat_node *nd = &((struct cat_node *)v)[w++];
			size_t f2;
			nd->kind = cat_kind;
			nd->id = e->id;
			nd->parent = e->parent;
			snprintf(nd->name, sizeof(nd->name), "%s", e->name);
			nd->mtime_ns = e->mtime_ns;
			nd->nchildren = child ? run_of(child, e->id, &f2) : 1;
		}
	}
	pthread_rwlock_unlock((pthread_rwlock_t *)&m->lock);
	if (cnt && !v)
		return -ENOMEM;
	if (ids)
		*ids = v;
	else
		*nodes = v;
	*n = w;
	return 0;
}

int share_members_each(const struct share_members *m, int cat_kind, int64_t parent,
		       int (*cb)(void *arg, int64_t id), void *arg)
{
	int64_t *ids;
	size_t n;
	int rc = copy_run(m, cat_kind, parent, &ids, NULL, &n);
	for (size_t i = 0; i < n && !rc; i++)
		rc = cb(arg, ids[i]);
	free(ids);
	return rc;
}

int share_members_nodes(const struct share_members *m, int cat_kind, int64_t parent,
			cat_node_cb cb, void *arg)
{
	struct cat_node *nodes;
	size_t n;
	int rc = copy_run(m, cat_kind, parent, NULL, &nodes, &n);
	for (size_t i = 0; i < n && !rc; i++)
		rc = cb(arg, &nodes[i]);
	free(nodes);
	return rc;
}

/* Drop a study or patient that no member series or study holds now,
 * and then its parent the same way. */
static void drop_if_empty(struct share_members *m, int kind, int64_t id)
{
	while (kind >= CAT_PATIENT) {
		struct kindset *child = &m->k[kind - CAT_PATIENT + 1];
		size_t first;
		if (run_of(child, id, &first))
			return;
		int64_t parent = 0;
		if (!set_remove(&m->k[kind - CAT_PATIENT], id, &parent))
			return;
		kind--;
		id = parent;
	}
}

/* Remove every member below folder id of kind. */
static void drop_below(struct share_members *m, int kind, int64_t id)
{
	if (kind >= CAT_SERIES)
		return;
	struct kindset *s = &m->k[kind - CAT_PATIENT + 1];
	size_t first;
	while (run_of(s, id, &first)) {
		int64_t child = s->v[first].id, p;
		drop_below(m, kind + 1, child);
		set_remove(s, child, &p);
	}
}

/* A new matching series: it, its study and its patient become members,
 * the folders as the catalogue has them now. */
static int add_series(struct share_members *m, struct catalog *cat, const struct cat_change *ch)
{
	struct cat_node n[3];
	int rc = catalog_node(cat, CAT_SERIES, ch->id, &n[2]);
	if (!rc)
		rc = catalog_node(cat, CAT_STUDY, n[2].parent, &n[1]);
	if (!rc)
		rc = catalog_node(cat, CAT_PATIENT, n[1].parent, &n[0]);
	if (rc)
		return rc == -ENOENT ? 0 : rc;      /* gone since: its deletion follows */
	pthread_rwlock_wrlock(&m->lock);
	for (int k = 0; k < 3 && !rc; k++)
		rc = set_add(&m->k[k], &n[k]);
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

int share_members_apply(struct share_members *m, struct catalog *cat,
			const struct cat_change *ch)
{
	if (ch->kind < CAT_PATIENT || ch->kind > CAT_SERIES)
		return 0;
	int kind = ch->kind, rc;
	if (ch->state == CAT_CHANGE_DELETED) {
		pthread_rwlock_wrlock(&m->lock);
		int64_t parent = 0;
		if (set_remove(&m->k[kind - CAT_PATIENT], ch->id, &parent) && kind > CAT_PATIENT)
			drop_if_empty(m, kind - 1, parent);
		if (kind == CAT_SERIES)
			set_remove(&m->outside, ch->id, &parent);
		/* a folder's members below it go with it (rows are deleted
		 * children first, but the feed may be read in pieces) */
		drop_below(m, kind, ch->id);
		pthread_rwlock_unlock(&m->lock);
		return 0;
	}
	/* A member's name, mtime and whether it is shown follow the feed:
	 * the last row of a change is the folder's new state (a rename gives
	 * a hidden row of the old name, then a shown row of the new one). */
	pthread_rwlock_wrlock(&m->lock);
	struct member *e = member_of(&m->k[kind - CAT_PATIENT], ch->id);
	rc = 0;
	if (e) {
		char *name = strcmp(e->name, ch->name) ? strdup(ch->name) : NULL;
		if (name) {
			free(e->name);
			e->name = name;
		} else if (strcmp(e->name, ch->name)) {
			rc = -ENOMEM;
		}
		e->mtime_ns = ch->mtime_ns;
		e->shown = ch->state == CAT_CHANGE_SHOWN;
	}
	pthread_rwlock_unlock(&m->lock);
	if (e || rc || kind != CAT_SERIES || ch->state != CAT_CHANGE_SHOWN)
		return rc;
	if (hash_has(&m->outside, ch->id))
		return 0;
	rc = share_series_matches(cat, m->sh, ch->id);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return add_series(m, cat, ch);
	struct cat_node out = { .kind = CAT_SERIES, .id = ch->id };
	pthread_rwlock_wrlock(&m->lock);
	rc = set_add(&m->outside, &out);
	pthread_rwlock_unlock(&m->lock);
	return rc;
}
