/*
 * store.c - opening a store: its locks, catalogue connections, blob reader
 * and the process's tombstone pack.
 *
 * Order, and what a crash leaves:
 *  - store_open takes the use lock (STORE/lock byte 0, shared) before it
 *    opens index.db, so a reindex that replaces index.db never has an open
 *    store beside it.  A crash drops the OFD locks with the process.
 *  - Each lock is the byte of STORE/lock first, then, for a store whose
 *    catalogue is in PostgreSQL, the same lock in its database (netlock.h,
 *    one connection per open store): the file orders this machine's
 *    processes, the database every machine's.  A lock whose database half
 *    cannot be had gives its file half back.
 *  - Mutexes, none taken while another is held: rm_lock (one removal at a time, taken
 *    before the removal's catalogue transaction begins), hold_lock (the
 *    ingest hold count, around one fcntl), pack_lock (pack_cat, only when
 *    the blob reader meets a pack whose name it has not cached; the
 *    reader's own lock is not held then).
 *  - Tombstones (maint.c's removals): appended to the tombstone pack, made
 *    durable with store_sync, and only then do the rows go (commit).  A
 *    crash between the sync and the commit leaves tombstones of instances
 *    still in the index: verify names them and a reindex applies them.  A
 *    removal that fails cuts its tombstones back (store_removal_end).
 */
#include "store.h"
#include "datastore.h"
#include "storeconf.h"
#include "catalog_pg.h"
#include "netlock.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store {
	char *dir;
	int readonly;
	int dirfd;
	struct catalog *cat;            /* for the opening thread only */
	struct blob_reader *br;
	pthread_mutex_t pack_lock;      /* guards pack_cat */
	struct catalog *pack_cat;       /* resolves pack names for br */
	pthread_mutex_t rm_lock;        /* guards tomb_pw; one removal at a time */
	struct pack_writer *tomb_pw;    /* this process's tombstones, or NULL */
	int lockfd;                     /* STORE/lock holding the use lock, or -1 */
	struct netlock *nl;             /* the locks in the catalogue's database, or NULL */
	int data_attached;              /* packs/ and blobs/ are in a data store of store.conf */
	pthread_mutex_t hold_lock;      /* guards holds */
	int holds;                      /* ingest sessions of this process */
	void (*waiting)(const char *what);
	void (*lost)(const char *what);   /* told of a lost use lock; NULL: not renewed */
	int lost_told;                  /* under hold_lock: a failed renewal was told */
};

static const char *const store_dirs[] = { "packs", "blobs", "shares", "spool" };

/* The object of a RADOS pool that names the store owning it (storeconf.h). */
#define STORE_ID_OBJECT "dcmfs-store-id"

/* The store id object's first bytes as read: what is not a hex digit
 * shows as '?' (the object may hold anything; errors go to terminals). */
static int read_store_id(struct datastore *ds, char out[STORE_ID_HEX + 1])
{
	struct ds_file *f;
	uint64_t size;
	out[0] = '\0';
	int r = ds->ops->open_read(ds, STORE_ID_OBJECT, &f, &size);
	if (r)
		return r;
	int64_t n = ds->ops->pread(f, out, STORE_ID_HEX, 0);
	ds->ops->close(f);
	out[n > 0 ? n : 0] = '\0';
	for (char *c = out; *c; c++)
		if (!isxdigit((unsigned char)*c))
			*c = '?';
	return n < 0 ? (int)n : 0;
}

/* Write id into ds as the owner of its data: -EEXIST (err names the owner)
 * when another store has it already, else 0 or -errno. */
static int data_claim(struct datastore *ds, const char *url, const char *id, char *err, size_t errlen)
{
	struct ds_file *f;
	int r = ds->ops->create(ds, STORE_ID_OBJECT, id, strlen(id), &f);
	if (r == -EEXIST) {
		char other[STORE_ID_HEX + 1];
		read_store_id(ds, other);
		snprintf(err, errlen, "'%s' already holds the data of store %s: a store needs a pool of"
			 " its own", url, other);
		return r;
	}
	if (!r)
		ds->ops->close(f);
	if (r)
		snprintf(err, errlen, "cannot write to '%s': %s", url, strerror(-r));
	return r;
}

/* Whether ds holds the data of store id: 0, or -EINVAL (err says whose). */
static int data_check_claim(struct datastore *ds, const char *url, const char *id,
			    char *err, size_t errlen)
{
	char have[STORE_ID_HEX + 1];
	int r = read_store_id(ds, have);
	if (r == -ENOENT || (!r && strcmp(have, id))) {
		snprintf(err, errlen, "'%s' does not hold this store's data (it belongs to %s, this store"
			 " is %s): store.conf names the wrong pool", url, r ? "no store" : have, id);
		return -EINVAL;
	}
	if (r)
		snprintf(err, errlen, "cannot read '%s': %s", url, strerror(-r));
	return r;
}

/* STORE/<DATA_MARKER_FILE>, written by init --data (FORMAT.md): a
 * store whose store.conf is lost is refused, not opened as an embedded
 * store with empty packs/ that an import would then split the data into. */
#define DATA_MARKER_FILE "store.conf-required"

static int data_marker_write(const char *dir, char *err, size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/" DATA_MARKER_FILE, dir);
	FILE *fp = fopen(path, "we");
	int r = fp ? 0 : -errno;
	if (fp) {
		fputs("The packs and blob files of this store, or its catalogue, are where"
		      " store.conf says:\na store without its store.conf is refused.\n", fp);
		if (fflush(fp) || fsync(fileno(fp)))
			r = -errno;
		if (fclose(fp) && !r)
			r = -errno;
	}
	/* Its name durable too: a marker lost with a power cut guards nothing. */
	int dfd = r ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			r = -errno;
		close(dfd);
	}
	if (r)
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(-r));
	return r;
}

static int data_marker_present(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/" DATA_MARKER_FILE, dir);
	return access(path, F_OK) == 0;
}

int store_init(const char *dir, char *err, size_t errlen)
{
	return store_init_data(dir, NULL, err, errlen);
}

int store_init_data(const char *dir, const char *data_url, char *err, size_t errlen)
{
	return store_init_conf(dir, data_url, NULL, err, errlen);
}

/* A catalogue url store.conf can hold and that names no catalogue yet:
 * 0, or -errno with err. */
static int catalog_url_check(const char *url, char *err, size_t errlen)
{
	struct store_conf conf;
	if (strlen(url) >= sizeof(conf.catalog)) {
		snprintf(err, errlen, "the catalog url is too long (%zu bytes; store.conf holds %zu at most)",
			 strlen(url), sizeof(conf.catalog) - 1);
		return -ENAMETOOLONG;
	}
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "the catalog url holds a control character");
			return -EINVAL;
		}
	if (!store_conf_catalog_url_ok(url)) {
		snprintf(err, errlen, "the catalog url '%s' is not a postgresql:// url", url);
		return -EINVAL;
	}
	struct catalog *c;
	char why[512];
	int r = catalog_pg_open(url, 0, 1, &c, why, sizeof(why));
	if (!r) {
		catalog_close(c);
		snprintf(err, errlen, "the database of '%s' holds a dcmfs catalogue already"
			 " (another store's?): give each store a database of its own", url);
		return -EEXIST;
	}
	if (r != -EINVAL || !strstr(why, "no dcmfs schema")) {
		snprintf(err, errlen, "%s", why);
		return r;
	}
	/* The schema now, before anything is written in the folder: a
	 * database that cannot hold it leaves no half-made store behind. */
	if ((r = catalog_pg_open(url, 1, 0, &c, err, errlen)))
		return r;
	catalog_close(c);
	return 0;
}

int store_init_conf(const char *dir, const char *data_url, const char *catalog_url, char *err,
		    size_t errlen)
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
	if (catalog_url) {
		int r = catalog_url_check(catalog_url, err, errlen);
		if (r)
			return r;
	}
	if (catalog_url && !data_url) {
		struct store_conf conf = { .format = STORE_CONF_FORMAT };
		snprintf(conf.catalog, sizeof(conf.catalog), "%s", catalog_url);
		int r = store_conf_new_id(conf.store_id);
		if (r)
			snprintf(err, errlen, "no random store id: %s", strerror(-r));
		if (!r)
			r = store_conf_write(dir, &conf, err, errlen);
		if (r)
			return r;
	}
	if (data_url) {
		/* The pool is claimed before store.conf names it, and given
		 * back when store.conf cannot be written. */
		struct store_conf conf = { .format = STORE_CONF_FORMAT };
		if (catalog_url)
			snprintf(conf.catalog, sizeof(conf.catalog), "%s", catalog_url);
		struct datastore *ds;
		/* Refused before the claim: a url store.conf would cut short
		 * claims the pool for a store that can never open it. */
		if (strlen(data_url) >= sizeof(conf.data)) {
			snprintf(err, errlen, "the data url is too long (%zu bytes; store.conf holds %zu at most)",
				 strlen(data_url), sizeof(conf.data) - 1);
			return -ENAMETOOLONG;
		}
		/* The mount runs in "/": a relative conf= would name another file there. */
		const char *cp = strstr(data_url, "?conf=");
		if (!cp)
			cp = strstr(data_url, "&conf=");
		if (cp && cp[6] && cp[6] != '/') {
			snprintf(err, errlen, "the data url's conf= must be an absolute path, not '%.*s'",
				 (int)strcspn(cp + 6, "&"), cp + 6);
			return -EINVAL;
		}
		int r = datastore_rados_open(data_url, &ds, err, errlen);
		if (r)
			return r;
		snprintf(conf.data, sizeof(conf.data), "%s", data_url);
		r = store_conf_new_id(conf.store_id);
		if (r)
			snprintf(err, errlen, "no random store id: %s", strerror(-r));
		if (!r)
			r = data_claim(ds, data_url, conf.store_id, err, errlen);
		if (!r && (r = store_conf_write(dir, &conf, err, errlen)))
			ds->ops->remove(ds, STORE_ID_OBJECT);
		ds->ops->free(ds);
		if (r)
			return r;
	}
	for (size_t i = 0; i < sizeof(store_dirs) / sizeof(*store_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, store_dirs[i]);
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
			return -errno;
		}
	}
	if (data_url || catalog_url) {
		int r = data_marker_write(dir, err, errlen);
		if (r)
			return r;
	}
	struct catalog *c;
	int r = catalog_open(dir, 1, 0, &c, err, errlen);
	if (r)
		return r;
	catalog_close(c);
	return 0;
}

/* The blob reader's source of pack names, asked only for names it has not
 * cached: one connection of its own, since any thread may read. */
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
#define LOCK_REMOVAL 2

/* Lock or unlock a byte of the store: in STORE/lock (fd, if >= 0), then in
 * the catalogue's database (nl, if not NULL).  0, -EAGAIN (held elsewhere,
 * without wait), -errno. */
static int lock_store(int fd, struct netlock *nl, short type, int byte, int wait)
{
	int r = fd >= 0 ? lock_byte(fd, type, byte, wait) : 0;
	if (type == F_UNLCK) {
		int r2 = nl ? netlock_drop(nl, byte) : 0;
		return r ? r : r2;
	}
	if (!r && nl && (r = netlock_take(nl, byte, type == F_WRLCK, wait, NULL, 0)) && fd >= 0)
		lock_byte(fd, F_UNLCK, byte, 0);
	return r;
}

/* The locks in the catalogue's database when store.conf names one: 0 and
 * *nl (NULL for a catalogue in the folder), or -errno with err. */
static int netlock_for(const char *dir, struct netlock **nl, char *err, size_t errlen)
{
	struct store_conf conf;
	*nl = NULL;
	int r = store_conf_read(dir, &conf, err, errlen);
	if (r == -ENOENT || (!r && !conf.catalog[0]))
		return 0;
	return r ? r : netlock_open(conf.catalog, nl, err, errlen);
}

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

/* Attach the data store store.conf names, if it names one. */
static int data_attach(struct store *s, char *err, size_t errlen)
{
	int r = store_dir_data_attach(s->dir, err, errlen);
	if (r < 0)
		return r;
	s->data_attached = r;
	return 0;
}

int store_dir_data_attach(const char *dir, char *err, size_t errlen)
{
	struct store_conf conf;
	int r = store_conf_read(dir, &conf, err, errlen);
	if (r == -ENOENT && data_marker_present(dir)) {
		snprintf(err, errlen, "store '%s' keeps its data in a data store but its store.conf is gone"
			 " (" DATA_MARKER_FILE " says so): put store.conf back", dir);
		return -ENOENT;
	}
	if (r == -ENOENT)
		return 0;       /* the embedded store */
	if (r)
		return r;
	if (!conf.data[0]) {
		/* Catalogue elsewhere, data here: the packs live in the folder
		 * init made.  One without them is store.conf copied to
		 * another machine, whose catalogue names packs it cannot
		 * read (and a reindex there would drop their rows). */
		char packs[4200];
		struct stat st;
		snprintf(packs, sizeof(packs), "%s/packs", dir);
		if (stat(packs, &st) < 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "store '%s' keeps its data in its own folder but has no packs/:"
				 " its data is in the folder where 'dcmfsctl init' made it; a store that"
				 " several machines share needs its data in RADOS (init --data)", dir);
			return -ENOENT;
		}
		return 0;
	}
	struct datastore *ds;
	if ((r = datastore_rados_open(conf.data, &ds, err, errlen)))
		return r;
	if ((r = data_check_claim(ds, conf.data, conf.store_id, err, errlen))) {
		ds->ops->free(ds);
		return r;
	}
	if ((r = datastore_attach(dir, ds))) {
		ds->ops->free(ds);      /* not taken: only a success keeps it */
		snprintf(err, errlen, "cannot attach the data store of '%s': %s", dir, strerror(-r));
		return r;
	}
	return 1;
}

/* Whether dir's store.conf names a catalogue (then there is no index.db). */
static int store_dir_catalog_elsewhere(const char *dir)
{
	struct store_conf conf;
	char err[256];
	return store_conf_read(dir, &conf, err, sizeof(err)) == 0 && conf.catalog[0];
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
	if (stat(path, &st) < 0 && !store_dir_catalog_elsewhere(dir)) {
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
	if (!r && !(r = netlock_for(dir, &s->nl, err, errlen)) && s->nl) {
		r = netlock_take(s->nl, LOCK_USE, 0, 0, err, errlen);
		if (r == -EAGAIN)
			snprintf(err, errlen, "store '%s' is being reindexed (on another machine):"
				 " try again when that has finished", dir);
	}
	if (!r)
		r = data_attach(s, err, errlen);
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
	pack_writer_free(s->tomb_pw);   /* before its data store goes */
	s->tomb_pw = NULL;
	if (s->data_attached)
		datastore_detach(s->dir);
	catalog_close(s->cat);
	catalog_close(s->pack_cat);
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->lockfd >= 0)
		close(s->lockfd);   /* drops every lock of this open */
	netlock_close(s->nl);   /* and of its connection */
	pthread_mutex_destroy(&s->hold_lock);
	pthread_mutex_destroy(&s->pack_lock);
	pack_writer_free(s->tomb_pw);
	pthread_mutex_destroy(&s->rm_lock);
	free(s->dir);
	free(s);
}

/* A long-lived open (a mount, which asked with store_set_lost): its use
 * lock in the catalogue's database taken again when its connection was
 * lost, told once per loss.  Under hold_lock, with no ingest hold. */
static int renew_use_lock(struct store *s)
{
	char err[512], line[600];
	int r = netlock_renew(s->nl, LOCK_USE, err, sizeof(err));
	if (r == 1)
		snprintf(line, sizeof(line), "the use lock of store '%s' in its catalogue was lost"
			 " (its connection went): taken again", s->dir);
	else if (r < 0)
		snprintf(line, sizeof(line), "store '%s': %s: writes fail until it can be taken again",
			 s->dir, err);
	if (r == 1 || (r < 0 && !s->lost_told))
		s->lost(line);
	s->lost_told = r < 0;
	return r < 0 ? -EIO : 0;
}

int store_ingest_hold(struct store *s)
{
	int r = 0;
	pthread_mutex_lock(&s->hold_lock);
	if (s->nl && s->lost && s->holds == 0)
		r = renew_use_lock(s);
	if (!r && (s->lockfd >= 0 || s->nl) && s->holds == 0) {
		r = lock_store(s->lockfd, s->nl, F_RDLCK, LOCK_INGEST, 0);
		if (r == -EAGAIN) {
			if (s->waiting)
				s->waiting("waiting for gc to finish");
			r = lock_store(s->lockfd, s->nl, F_RDLCK, LOCK_INGEST, 1);
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
	if (s->holds > 0 && --s->holds == 0)
		lock_store(s->lockfd, s->nl, F_UNLCK, LOCK_INGEST, 0);
	pthread_mutex_unlock(&s->hold_lock);
}

int store_ingest_check(struct store *s, char *err, size_t errlen)
{
	/* STORE/lock's half is an OFD lock of this process: it cannot be lost. */
	return s->nl ? netlock_check(s->nl, LOCK_INGEST, err, errlen) : 0;
}

int store_ingest_exclusive(struct store *s)
{
	if (s->lockfd < 0)
		return s->readonly ? -EROFS : 0;
	int r = lock_store(s->lockfd, s->nl, F_WRLCK, LOCK_INGEST, 0);
	if (r == -EAGAIN) {
		if (s->waiting)
			s->waiting("waiting for imports to finish");
		r = lock_store(s->lockfd, s->nl, F_WRLCK, LOCK_INGEST, 1);
	}
	return r;
}

void store_ingest_unlock(struct store *s)
{
	if (s->lockfd >= 0)
		lock_store(s->lockfd, s->nl, F_UNLCK, LOCK_INGEST, 0);
}

struct store_lock {
	int fd;
	struct netlock *nl;
};

int store_lock_exclusive(const char *dir, struct store_lock **out, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" STORE_LOCK_FILE, dir);
	struct store_lock *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (l->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(e));
		free(l);
		return -e;
	}
	int r = lock_byte(l->fd, F_WRLCK, LOCK_USE, 0);
	if (r && r != -EAGAIN)
		snprintf(err, errlen, "cannot lock '%s': %s", path, strerror(-r));
	if (!r && !(r = netlock_for(dir, &l->nl, err, errlen)) && l->nl)
		r = netlock_take(l->nl, LOCK_USE, 1, 0, err, errlen);
	if (r == -EAGAIN) {
		snprintf(err, errlen, "store '%s' is in use by another process (a mount, an import, ...%s):"
			 " unmount it and stop them first", dir, l->nl ? ", on any machine" : "");
		r = -EBUSY;
	}
	if (r) {
		store_unlock(l);
		return r;
	}
	*out = l;
	return 0;
}

void store_unlock(struct store_lock *l)
{
	if (!l)
		return;
	netlock_close(l->nl);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}

int store_catalog(struct store *s, struct catalog **out)
{
	char err[256];
	return catalog_open(s->dir, 0, s->readonly, out, err, sizeof(err));
}

int store_sync(struct store *s)
{
	if (s->data_attached) {
		char path[4200];
		const char *name;
		snprintf(path, sizeof(path), "%s/packs/", s->dir);
		struct datastore *ds = datastore_resolve(path, &name);
		return ds->ops->sync(ds, name);
	}
	return syncfs(s->dirfd) < 0 ? -errno : 0;
}

int store_data_remote(const struct store *s)
{
	return s->data_attached;
}

int store_dir_data_remote(const char *dir)
{
	struct store_conf conf;
	char err[512];
	int r = store_conf_read(dir, &conf, err, sizeof(err));
	return r == -ENOENT ? 0 : r < 0 ? r : conf.data[0] != '\0';
}

const char *store_dir(const struct store *s) { return s->dir; }
int store_readonly(const struct store *s) { return s->readonly; }
struct catalog *store_main_catalog(struct store *s) { return s->cat; }
void store_set_waiting(struct store *s, void (*fn)(const char *what)) { s->waiting = fn; }
void store_set_lost(struct store *s, void (*fn)(const char *what)) { s->lost = fn; }

int store_blob_view(struct store *s, const struct blob_ref *b, struct blob_view *v)
{
	return blob_view_get(s->br, b, v);
}

int store_pack_entry(struct store *s, int64_t pack, uint64_t payload_off, size_t len,
		     int type, struct blob_view *v)
{
	return pack_entry_get(s->br, pack, payload_off, len, type, v);
}

int store_pack_name(struct store *s, int64_t pack, char *name, size_t len)
{
	return blob_reader_pack_name(s->br, pack, name, len);
}

void store_removal_begin(struct store *s)
{
	pthread_mutex_lock(&s->rm_lock);
	/* Shared: removals of several processes go on together; only
	 * store_removals_settle waits for them.  Best effort: without the
	 * lock a verify may report a removal in flight as interrupted. */
	if (s->lockfd >= 0)
		lock_store(s->lockfd, s->nl, F_RDLCK, LOCK_REMOVAL, 1);
}

void store_removals_settle(struct store *s)
{
	if (s->lockfd >= 0 && lock_store(s->lockfd, s->nl, F_WRLCK, LOCK_REMOVAL, 1) == 0)
		lock_store(s->lockfd, s->nl, F_UNLCK, LOCK_REMOVAL, 0);
}

int store_tombstone_pack(struct store *s, struct pack_writer **pw)
{
	if (s->tomb_pw && pack_writer_size(s->tomb_pw) >= pack_writer_limit(s->tomb_pw)) {
		pack_writer_free(s->tomb_pw);
		s->tomb_pw = NULL;
	}
	if (!s->tomb_pw) {
		char err[256];
		int r = pack_writer_create(s->dir, &s->tomb_pw, err, sizeof(err));
		if (r)
			return r;
	}
	*pw = s->tomb_pw;
	return 0;
}

void store_removal_end(struct store *s, int cut_back, uint64_t mark)
{
	if (cut_back && s->tomb_pw && pack_writer_truncate(s->tomb_pw, mark) < 0) {
		pack_writer_free(s->tomb_pw);
		s->tomb_pw = NULL;
	}
	if (s->lockfd >= 0)
		lock_store(s->lockfd, s->nl, F_UNLCK, LOCK_REMOVAL, 0);
	pthread_mutex_unlock(&s->rm_lock);
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
	struct codec_blob *cb;
	int rc = codec_blob_open(v.enc, v.enc_size, &cb);
	if (rc) {
		blob_view_release(&v);
		return rc == CODEC_ERR_NOMEM ? -ENOMEM : -EIO;
	}
	uint8_t *tmp = NULL;
	size_t tmpcap = 0;
	int equal = codec_blob_raw_len(cb) == len;
	/* Chunk by chunk, so a mismatch stops early and memory stays small. */
	for (uint32_t i = 0; equal && i < codec_blob_chunks(cb); i++) {
		uint64_t off;
		uint32_t clen;
		codec_blob_chunk_span(cb, i, &off, &clen);
		if (clen > tmpcap) {
			free(tmp);
			tmpcap = clen;
			if (!(tmp = malloc(tmpcap))) {
				r = -ENOMEM;
				break;
			}
		}
		if ((rc = codec_blob_decode_chunk(ctx, cb, i, tmp))) {
			r = rc == CODEC_ERR_NOMEM ? -ENOMEM : -EIO;
			break;
		}
		equal = memcmp(tmp, (const uint8_t *)raw + off, clen) == 0;
	}
	free(tmp);
	codec_blob_close(cb);
	blob_view_release(&v);
	return r < 0 ? r : equal;
}
