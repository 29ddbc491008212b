/*
 * audit.c - the access audit log: a queue that openers fill, a writer
 * thread that appends it to STORE/audit/YYYY-MM-DD.log, and the reader of
 * those files.  The format and the promises are in audit.h.
 *
 * Invariants:
 *  1. Callers of audit_record hold the lock only to copy one formatted line
 *     into the queue (or to wait, at most AUDIT_WAIT_MS, for room); the
 *     writer holds it only to swap the queue with its spare buffer.  No
 *     write(), fdatasync() or open() happens under the lock.
 *  2. The writer takes the queue AUDIT_GATHER_MS after its first line came
 *     (at once when it is half full or the log closes), writes it at once,
 *     and syncs
 *     when the last sync is AUDIT_SYNC_MS old: never more often, and never
 *     later than AUDIT_SYNC_MS after a write.
 *  3. Every record handed to audit_record is either in a log line or
 *     counted in a "lost=N" line (written as soon as a write succeeds
 *     again), except those queued when the process dies.
 *  4. Lines are formatted whole (checksum included) before they enter the
 *     queue, and a batch is written day by day with one write() per day,
 *     so another process appending to the same file never splits a line.
 */
#include "audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "clock.h"
#include "escape.h"
#include "hash.h"

#define NFIELDS 9               /* with the checksum */
#define WHO_SLOTS 1024          /* instances whose SOP UID and patient are remembered */
#define WHO_SOP 65              /* a UID has at most 64 characters */

/* What audit_record_instance looked up for one instance.  An instance row
 * never changes its SOPInstanceUID or patient, and row ids are never
 * reused, so an entry stays true for the life of the log. */
struct who_slot {
	int64_t id;                 /* 0 = empty */
	char sop[WHO_SOP];
	char patient[NAME_COMPONENT_MAX + 1];
};
#define DAY_LEN 10              /* YYYY-MM-DD */

struct audit_log {
	char *dir;                  /* STORE/audit */

	pthread_mutex_t lock;       /* guards everything down to `stop` */
	pthread_cond_t more;        /* the writer waits: lines, losses or stop */
	pthread_cond_t room;        /* openers wait: the writer took the queue */
	char *queue;                /* pending lines, len bytes (cap AUDIT_QUEUE_BYTES) */
	size_t len;
	uint64_t dropped;           /* records dropped since the writer last looked */
	int dropping;               /* a wait timed out: drop without waiting until room */
	int warned;                 /* the syslog line about losses was written */
	uint64_t lost_total;        /* dropped + failed to write, ever */
	int stop;

	pthread_t thread;
	/* The writer's own (no lock): */
	char *spare;                /* the buffer it writes from */
	int fd;                     /* the day file open, or -1 */
	char day[DAY_LEN + 1];      /* its day */
	int dirty;                  /* written since the last fdatasync */
	int64_t synced_ns;          /* monotonic time of the last fdatasync */
	uint64_t unwritten;         /* records whose write failed, not yet in a lost line */
	char *who;                  /* "MOUNT\tSHARE" (escaped) of the last line seen */

	pthread_mutex_t who_lock;   /* guards whos (direct-mapped by instance id) */
	struct who_slot *whos;
};

/* ---------------- formatting ---------------- */

static int needs_escape(unsigned char c)
{
	return c == '%' || c < 0x20 || c == 0x7f;
}

/* Escape s (NULL = "") into out, which has room for 3*strlen(s) bytes.
 * Returns the bytes written (no NUL). */
static size_t escape_field(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (needs_escape(*p)) {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		} else {
			out[n++] = (char)*p;
		}
	}
	return n;
}

void audit_format_time(int64_t ns, char *out, size_t len)
{
	time_t s = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	if (frac < 0) {
		frac += 1000000000;
		s--;
	}
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* The bytes a line needs, at most (before escaping shrinks nothing). */
static size_t line_room(const char *mount, const char *share, const char *sop,
			const char *patient)
{
	return 128 + 3 * (slen(mount) + slen(share) + slen(sop) + slen(patient));
}

/* Format one whole line (audit.h) into out (line_room bytes): returns its
 * length, '\n' included. */
static size_t format_line(char *out, int64_t ns, const char *event, int64_t uid,
			  int64_t pid, const char *mount, const char *share, const char *sop,
			  const char *patient)
{
	char t[40];
	audit_format_time(ns, t, sizeof(t));
	size_t n = (size_t)sprintf(out, "%s\t%s\t%" PRId64 "\t%" PRId64 "\t", t, event, uid, pid);
	n += escape_field(out + n, mount);
	out[n++] = '\t';
	n += escape_field(out + n, share);
	out[n++] = '\t';
	n += escape_field(out + n, sop);
	out[n++] = '\t';
	n += escape_field(out + n, patient);
	uint64_t sum = checksum64(out, n);
	n += (size_t)sprintf(out + n, "\t%016" PRIx64 "\n", sum);
	return n;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec mono_at(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	return ts;
}

/* ---------------- the writer ---------------- */

static void warn_once(struct audit_log *a, const char *what, int err)
{
	pthread_mutex_lock(&a->lock);
	int first = !a->warned;
	a->warned = 1;
	pthread_mutex_unlock(&a->lock);
	if (first)
		syslog(LOG_WARNING, "dcmfs audit: %s%s%s; records are being lost (counted in %s)",
		       what, err ? ": " : "", err ? strerror(err) : "", a->dir);
}

/* Open the file of day (YYYY-MM-DD) for appending, with a '\n' added when
 * its last line was cut.  Returns the fd or -errno. */
static int open_day(const char *dir, const char *day)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%.*s.log", dir, DAY_LEN, day) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct stat st;
	char last = '\n';
	if (fstat(fd, &st) < 0 || (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (last != '\n' && write(fd, "\n", 1) != 1) {
		int e = errno ? errno : EIO;
		close(fd);
		return -e;
	}
	if (st.st_size == 0) {
		/* A new file: its name must survive a crash as well. */
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return fd;
}

static void sync_now(struct audit_log *a)
{
	if (a->fd >= 0 && a->dirty && fdatasync(a->fd) < 0)
		warn_once(a, "cannot sync the audit log", errno);
	a->dirty = 0;
	a->synced_ns = mono_ns();
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

/* Append lines p[0..n) (all of day `day`) to that day's file: 0 or -errno
 * (reported once to syslog; the caller counts the lines as lost). */
static int write_day(struct audit_log *a, const char *day, const char *p, size_t n)
{
	if (a->fd < 0 || memcmp(a->day, day, DAY_LEN)) {
		if (a->fd >= 0) {
			sync_now(a);
			close(a->fd);
		}
		memcpy(a->day, day, DAY_LEN);
		a->fd = open_day(a->dir, day);
		if (a->fd < 0) {
			int r = a->fd;
			a->fd = -1;
			warn_once(a, "cannot open the audit log", -r);
			return r;
		}
	}
	int r = write_all(a->fd, p, n);
	if (r) {
		warn_once(a, "cannot write the audit log", -r);
		close(a->fd);       /* reopened (and its cut line ended) next time */
		a->fd = -1;
		return r;
	}
	a->dirty = 1;
	return 0;
}

/* Remember "MOUNT\tSHARE" of the line ending at end (for lost lines). */
static void remember_who(struct audit_log *a, const char *line, const char *end)
{
	const char *f = line;
	for (int i = 0; i < 4 && f < end; i++) {
		f = memchr(f, '\t', (size_t)(end - f));
		if (!f)
			return;
		f++;
	}
	const char *g = memchr(f, '\t', (size_t)(end - f));
	g = g ? memchr(g + 1, '\t', (size_t)(end - g - 1)) : NULL;
	if (!g || (a->who && strlen(a->who) == (size_t)(g - f) && !memcmp(a->who, f, (size_t)(g - f))))
		return;
	char *w = strndup(f, (size_t)(g - f));
	if (w) {
		free(a->who);
		a->who = w;
	}
}

static void write_batch(struct audit_log *a, const char *p, size_t n)
{
	const char *end = p + n;
	const char *last = NULL;
	while (p < end) {
		/* The lines of one day: each line starts with its date. */
		const char *q = p;
		while (q < end && !memcmp(q, p, DAY_LEN)) {
			last = q;
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			q = nl ? nl + 1 : end;
		}
		if (write_day(a, p, p, (size_t)(q - p))) {
			uint64_t k = count_lines(p, (size_t)(q - p));
			a->unwritten += k;
			pthread_mutex_lock(&a->lock);
			a->lost_total += k;
			pthread_mutex_unlock(&a->lock);
		}
		p = q;
	}
	if (last)
		remember_who(a, last, end);
}

/* A "lost=N" line for records dropped or not written; when it cannot be
 * written either, they stay counted for the next try. */
static void write_lost(struct audit_log *a, uint64_t n)
{
	/* who is "MOUNT\tSHARE" as the lines hold them, escaped already. */
	const char *who = a->who ? a->who : "\t";
	size_t room = strlen(who) + 160;
	char *line = malloc(room);
	if (!line) {
		a->unwritten += n;
		return;
	}
	char t[40];
	audit_format_time(wall_clock_ns(), t, sizeof(t));
	size_t len = (size_t)snprintf(line, room, "%s\tlost=%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%s\t\t",
				      t, n, (int64_t)getuid(), (int64_t)getpid(), who);
	uint64_t sum = checksum64(line, len);
	len += (size_t)snprintf(line + len, room - len, "\t%016" PRIx64 "\n", sum);
	if (write_day(a, line, line, len))
		a->unwritten += n;
	free(line);
}

static void *writer_main(void *arg)
{
	struct audit_log *a = arg;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->len && !a->dropped && !a->stop) {
			if (!a->dirty) {
				pthread_cond_wait(&a->more, &a->lock);
				continue;
			}
			struct timespec due = mono_at(a->synced_ns + (int64_t)AUDIT_SYNC_MS * 1000000);
			if (pthread_cond_timedwait(&a->more, &a->lock, &due) == ETIMEDOUT)
				break;
		}
		if (a->len && !a->stop && a->len < AUDIT_QUEUE_BYTES / 2) {
			/* Let lines gather: one write() for many opens, not one each
			 * (a kill -9 may lose these AUDIT_GATHER_MS more). */
			pthread_mutex_unlock(&a->lock);
			struct timespec gather = { 0, AUDIT_GATHER_MS * 1000000L };
			nanosleep(&gather, NULL);
			pthread_mutex_lock(&a->lock);
		}
		char *batch = a->queue;
		size_t n = a->len;
		uint64_t dropped = a->dropped;
		int stop = a->stop;
		a->queue = a->spare;
		a->spare = batch;
		a->len = 0;
		a->dropped = 0;
		a->dropping = 0;
		pthread_cond_broadcast(&a->room);
		pthread_mutex_unlock(&a->lock);

		if (n)
			write_batch(a, batch, n);
		uint64_t lost = dropped + a->unwritten;
		if (lost) {
			a->unwritten = 0;
			write_lost(a, lost);
		}
		if (a->dirty && (stop || mono_ns() - a->synced_ns >= (int64_t)AUDIT_SYNC_MS * 1000000))
			sync_now(a);

		pthread_mutex_lock(&a->lock);
		if (stop && !a->len && !a->dropped)
			break;
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* ---------------- the log ---------------- */

int audit_open(const char *store_dir, struct audit_log **out, char *err, size_t errlen)
{
	*out = NULL;
	struct audit_log *a = calloc(1, sizeof(*a));
	if (!a || asprintf(&a->dir, "%s/%s", store_dir, AUDIT_DIR) < 0) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->fd = -1;
	int r = 0;
	if (mkdir(a->dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "cannot create the audit folder '%s': %s", a->dir, strerror(-r));
		goto fail;
	}
	/* Can we write there?  Open today's file now (the writer keeps it). */
	char t[40];
	audit_format_time(wall_clock_ns(), t, sizeof(t));
	memcpy(a->day, t, DAY_LEN);
	if ((a->fd = open_day(a->dir, a->day)) < 0) {
		r = a->fd;
		a->fd = -1;
		snprintf(err, errlen, "cannot write the audit log in '%s': %s", a->dir, strerror(-r));
		goto fail;
	}
	a->queue = malloc(AUDIT_QUEUE_BYTES);
	a->spare = malloc(AUDIT_QUEUE_BYTES);
	a->whos = calloc(WHO_SLOTS, sizeof(*a->whos));
	if (!a->queue || !a->spare || !a->whos) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	a->synced_ns = mono_ns();
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->who_lock, NULL);
	pthread_cond_init(&a->more, &ca);
	pthread_cond_init(&a->room, &ca);
	pthread_condattr_destroy(&ca);
	if ((r = -pthread_create(&a->thread, NULL, writer_main, a))) {
		snprintf(err, errlen, "cannot start the audit writer: %s", strerror(-r));
		pthread_cond_destroy(&a->more);
		pthread_cond_destroy(&a->room);
		pthread_mutex_destroy(&a->lock);
		pthread_mutex_destroy(&a->who_lock);
		goto fail;
	}
	*out = a;
	return 0;
fail:
	if (a->fd >= 0)
		close(a->fd);
	free(a->whos);
	free(a->queue);
	free(a->spare);
	free(a->dir);
	free(a);
	return r;
}

/* Count one record as dropped (caller holds the lock); 1 when it is the
 * log's first loss, to be reported once the lock is released. */
static int drop_locked(struct audit_log *a)
{
	a->dropped++;
	a->lost_total++;
	pthread_cond_signal(&a->more);
	int first = !a->warned;
	a->warned = 1;
	return first;
}

void audit_record(struct audit_log *a, uid_t uid, pid_t pid, const char *mount,
		  const char *share, const char *sop_uid, const char *patient_folder)
{
	if (!a)
		return;
	char small[1024];
	size_t room = line_room(mount, share, sop_uid, patient_folder);
	char *line = room <= sizeof(small) ? small : malloc(room);
	int first_loss = 0;
	if (!line) {
		pthread_mutex_lock(&a->lock);
		first_loss = drop_locked(a);
		pthread_mutex_unlock(&a->lock);
		goto out;
	}
	size_t n = format_line(line, wall_clock_ns(), "open", (int64_t)uid, (int64_t)pid, mount,
			       share, sop_uid, patient_folder);
	pthread_mutex_lock(&a->lock);
	if (a->len + n > AUDIT_QUEUE_BYTES && !a->dropping && !a->stop) {
		struct timespec until = mono_at(mono_ns() + (int64_t)AUDIT_WAIT_MS * 1000000);
		while (a->len + n > AUDIT_QUEUE_BYTES && !a->stop) {
			if (pthread_cond_timedwait(&a->room, &a->lock, &until) == ETIMEDOUT) {
				a->dropping = 1;
				break;
			}
		}
	}
	if (a->len + n > AUDIT_QUEUE_BYTES || a->stop) {
		first_loss = drop_locked(a);
	} else {
		memcpy(a->queue + a->len, line, n);
		if (!a->len)
			pthread_cond_signal(&a->more);
		a->len += n;
	}
	pthread_mutex_unlock(&a->lock);
out:
	if (line != small)
		free(line);
	if (first_loss)
		syslog(LOG_WARNING, "dcmfs audit: the audit queue is full (the disk of %s does not "
		       "keep up); records are being lost and counted in the log", a->dir);
}

int audit_record_instance(struct audit_log *a, struct catalog *cat, int64_t instance_id,
			  uid_t uid, pid_t pid, const char *mount, const char *share)
{
	if (!a)
		return 0;
	/* Two catalogue queries cost ~15 us; a file opened again costs none. */
	struct who_slot *w = &a->whos[(uint64_t)instance_id % WHO_SLOTS], mine;
	pthread_mutex_lock(&a->who_lock);
	int hit = w->id == instance_id && instance_id;
	if (hit)
		mine = *w;
	pthread_mutex_unlock(&a->who_lock);
	if (hit) {
		audit_record(a, uid, pid, mount, share, mine.sop, mine.patient);
		return 0;
	}
	struct cat_instance row;
	struct cat_node patient;
	int r = catalog_instance_row(cat, instance_id, &row);
	if (r)
		row.sop_uid[0] = '\0';
	int rp = r ? r : catalog_node(cat, CAT_PATIENT, row.patient_id, &patient);
	if (rp)
		patient.name[0] = '\0';
	audit_record(a, uid, pid, mount, share, row.sop_uid, patient.name);
	if (!r && !rp && strlen(row.sop_uid) < WHO_SOP) {
		mine.id = instance_id;
		memcpy(mine.sop, row.sop_uid, strlen(row.sop_uid) + 1);
		snprintf(mine.patient, sizeof(mine.patient), "%s", patient.name);
		pthread_mutex_lock(&a->who_lock);
		*w = mine;
		pthread_mutex_unlock(&a->who_lock);
	}
	return r ? r : rp;
}

uint64_t audit_lost(const struct audit_log *a)
{
	if (!a)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&a->lock);
	uint64_t n = a->lost_total;
	pthread_mutex_unlock((pthread_mutex_t *)&a->lock);
	return n;
}

void audit_close(struct audit_log *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_broadcast(&a->more);
	pthread_cond_broadcast(&a->room);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	if (a->fd >= 0) {
		sync_now(a);
		close(a->fd);
	}
	pthread_cond_destroy(&a->more);
	pthread_cond_destroy(&a->room);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->who_lock);
	free(a->whos);
	free(a->queue);
	free(a->spare);
	free(a->who);
	free(a->dir);
	free(a);
}

/* ---------------- reading ---------------- */

/* Exactly k decimal digits at *p (advanced): the value, or -1. */
static long digits(const char **p, int k)
{
	long v = 0;
	for (int i = 0; i < k; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

int audit_parse_time(const char *text, int64_t *ns)
{
	const char *p = text;
	long Y = digits(&p, 4), M = -1, D = -1, h = 0, m = 0, s = 0, frac = 0;
	if (Y >= 0 && *p++ == '-')
		M = digits(&p, 2);
	if (M >= 0 && *p++ == '-')
		D = digits(&p, 2);
	if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31)
		return -EINVAL;
	if (*p == 'T' || *p == ' ') {
		p++;
		h = digits(&p, 2);
		if (h < 0 || h > 23 || *p++ != ':' || (m = digits(&p, 2)) < 0 || m > 59)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if ((s = digits(&p, 2)) < 0 || s > 60)
				return -EINVAL;
			if (*p == '.') {
				int k = 0;
				for (p++; *p >= '0' && *p <= '9'; p++, k++)
					if (k < 9)
						frac = frac * 10 + (*p - '0');
				if (!k)
					return -EINVAL;
				for (; k < 9; k++)
					frac *= 10;
			}
		}
	}
	if (*p == 'Z')
		p++;
	if (*p)
		return -EINVAL;
	struct tm tm = { .tm_year = (int)Y - 1900, .tm_mon = (int)M - 1, .tm_mday = (int)D,
			 .tm_hour = (int)h, .tm_min = (int)m, .tm_sec = (int)s };
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != D)     /* e.g. 2026-02-30 */
		return -EINVAL;
	if ((int64_t)t >= INT64_MAX / 1000000000)   /* nanoseconds end in 2262 */
		return -EINVAL;
	*ns = (int64_t)t * 1000000000 + frac;
	return 0;
}

/* An uppercase hex digit's value, or -1. */
static int hexval(char c)
{
	static const char digits16[] = "0123456789ABCDEF";
	const char *p = c ? strchr(digits16, c) : NULL;
	return p ? (int)(p - digits16) : -1;
}

/* Undo escape_field in place: 0, or -1 for a bad or needless %XX. */
static int unescape_field(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if ((unsigned char)*r < 0x20 || *r == 0x7f)
			return -1;
		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
		if (lo < 0)
			return -1;
		unsigned char c = (unsigned char)(hi << 4 | lo);
		if (!c || !needs_escape(c))
			return -1;
		*w++ = (char)c;
		r += 2;
	}
	*w = '\0';
	return 0;
}

/* A whole decimal number >= 0 of at most 18 digits: 0 and *v, or -1. */
static int decimal(const char *s, int64_t *v)
{
	size_t n = strlen(s);
	if (!n || n > 18 || strspn(s, "0123456789") != n || (s[0] == '0' && n > 1))
		return -1;
	*v = strtoll(s, NULL, 10);
	return 0;
}

/* Check and split one line (without its '\n'): NULL and e filled, or why
 * it is damaged. */
static const char *parse_line(char *line, size_t len, struct audit_entry *e)
{
	char *f[NFIELDS];
	int k = 0;
	f[k++] = line;
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\0')
			return "damaged: a NUL byte";
		if (line[i] == '\t') {
			if (k == NFIELDS)
				return "damaged: more than 9 tab-separated fields";
			line[i] = '\0';
			f[k++] = line + i + 1;
		}
	}
	if (k != NFIELDS)
		return "damaged: fewer than 9 tab-separated fields";
	const char *sum = f[NFIELDS - 1];
	if (strlen(sum) != 16 || strspn(sum, "0123456789abcdef") != 16)
		return "damaged: no checksum at its end";
	uint64_t want = strtoull(sum, NULL, 16);
	/* The checksum covers the line up to the tab before it: put the tabs
	 * back for a moment. */
	size_t body = (size_t)(sum - 1 - line);
	for (int i = 1; i < NFIELDS - 1; i++)
		f[i][-1] = '\t';
	uint64_t got = checksum64(line, body);
	for (int i = 1; i < NFIELDS - 1; i++)
		f[i][-1] = '\0';
	if (got != want)
		return "damaged: checksum does not match";
	memset(e, 0, sizeof(*e));
	if (strlen(f[0]) != 30 || f[0][10] != 'T' || audit_parse_time(f[0], &e->time_ns))
		return "not understood: bad TIME";
	if (!strncmp(f[1], "lost=", 5)) {
		int64_t n;
		if (decimal(f[1] + 5, &n) || n <= 0)
			return "not understood: bad EVENT";
		e->lost = (uint64_t)n;
	} else if (strcmp(f[1], "open")) {
		return "not understood: unknown EVENT";
	}
	if (decimal(f[2], &e->uid) || decimal(f[3], &e->pid))
		return "not understood: bad UID or PID";
	for (int i = 4; i < 8; i++)
		if (unescape_field(f[i]))
			return "not understood: bad %-escape";
	e->mount = f[4];
	e->share = f[5];
	e->sop_uid = f[6];
	e->patient = f[7];
	return NULL;
}

static int is_day_file(const struct dirent *d)
{
	const char *n = d->d_name;
	const char *p = n;
	return strlen(n) == DAY_LEN + 4 && digits(&p, 4) >= 0 && *p++ == '-' &&
	       digits(&p, 2) >= 0 && *p++ == '-' && digits(&p, 2) >= 0 && !strcmp(p, ".log");
}

static int read_file(const char *path, const char *name, int64_t since_ns, audit_entry_cb cb,
		     audit_skip_cb skipped, void *arg, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int r = -errno;
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-r));
		return r;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t no = 0;
	int r = 0;
	errno = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		no++;
		if (line[n - 1] != '\n') {
			if (skipped)
				skipped(arg, name, no, "no end of line (being written, or cut by a crash)");
			break;
		}
		line[--n] = '\0';
		if (!n)
			continue;
		struct audit_entry e;
		const char *why = parse_line(line, (size_t)n, &e);
		if (why) {
			if (skipped)
				skipped(arg, name, no, why);
			continue;
		}
		if (e.time_ns < since_ns)
			continue;
		e.file = name;
		e.line = no;
		if ((r = cb(arg, &e)))
			break;
	}
	if (!r && ferror(f)) {
		r = -EIO;
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno ? errno : EIO));
	}
	free(line);
	fclose(f);
	return r;
}

int audit_read(const char *store_dir, int64_t since_ns, audit_entry_cb cb,
	       audit_skip_cb skipped, void *arg, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/%s", store_dir, AUDIT_DIR) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "path too long: '%s'", store_dir);
		return -ENAMETOOLONG;
	}
	struct dirent **list;
	int n = scandir(dir, &list, is_day_file, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		int r = -errno;
		snprintf(err, errlen, "cannot read '%s': %s", dir, strerror(-r));
		return r;
	}
	char first[40] = "";
	if (since_ns > 0)
		audit_format_time(since_ns, first, sizeof(first));
	int r = 0;
	for (int i = 0; i < n; i++) {
		if (!r && strncmp(list[i]->d_name, first, DAY_LEN) >= 0) {
			char path[PATH_MAX + 300];
			snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
			r = read_file(path, list[i]->d_name, since_ns, cb, skipped, arg, err, errlen);
		}
		free(list[i]);
	}
	free(list);
	return r;
}

int audit_patient_matches(const char *folder, const char *id)
{
	if (!strcmp(folder, id))
		return 1;
	char *e = malloc(3 * strlen(id) + 2);
	if (!e)
		return 0;
	size_t n = name_escape(id, e);
	int r = !strncmp(folder, e, n) && (folder[n] == '\0' || folder[n] == '@');
	free(e);
	return r;
}
