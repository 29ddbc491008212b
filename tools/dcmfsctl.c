/*
 * dcmfsctl - the administrator's command line for a dcmfs store.
 *
 * Exit status: 0 success; 1 the command ran but found problems (rejected
 * files, verify problems, damage reindex skipped); 2 usage or store errors
 * (gc refusing to run over unaccepted damage is one).  Messages go to stderr as
 * "dcmfsctl: <what went wrong>"; progress only when stderr is a terminal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit.h"
#include "catalog.h"
#include "cli.h"
#include "datastore.h"
#include "dcmfsctl.h"
#include "ingest.h"
#include "instance.h"
#include "json_out.h"
#include "maint.h"
#include "store.h"
#include "storeconf.h"
#include "version.h"

static int progress_on;

const char cli_program_name[] = "dcmfsctl";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *human(uint64_t n, char *buf, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

/* A wait for another process (gc for imports, an import for gc) is said on
 * a terminal, so that a pause does not look like a hang. */
static void note_waiting(const char *what)
{
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "dcmfsctl: %s\n", what);
}

struct store *open_store(const char *dir, int readonly)
{
	struct store *s;
	char err[512];
	if (store_open(dir, readonly, &s, err, sizeof(err)))
		die("%s", err);
	store_set_waiting(s, note_waiting);
	return s;
}

/* Close stdout and fail if that fails, so a full disk cannot pass as success. */
int finish(int status)
{
	if (fflush(stdout) || ferror(stdout) || fclose(stdout))
		die("cannot write output: %s", strerror(errno));
	return status;
}

static const char usage_text[] =
	"usage: dcmfsctl COMMAND STORE [ARGS]\n"
	"\n"
	"  init STORE                      create an empty store\n"
	"       [--data rados://POOL?conf=PATH[&id=CLIENT]]\n"
	"                                  with its packs and blob files in a RADOS pool\n"
	"       [--catalog postgresql:///DB?host=DIR]\n"
	"                                  with its catalogue in a PostgreSQL database\n"
	"  import [-j N] [-q] [-L|--follow-symlinks] STORE PATH...\n"
	"                                  import DICOM files and folders (recursive).\n"
	"                                  Every PATH must exist (else exit 2, nothing\n"
	"                                  imported); a link named as PATH is followed.\n"
	"                                  Inside folders only regular files are read:\n"
	"                                  symbolic links (unless -L; loops are cut),\n"
	"                                  FIFOs, sockets and devices are listed as\n"
	"                                  skipped and do not change the exit status,\n"
	"                                  unless nothing at all was imported (exit 1)\n"
	"  stats [--json] STORE            counts, bytes, dedup and compression ratios\n"
	"  ls [--json] STORE [PATIENT [STUDY [SERIES]]]  what is stored, one line each:\n"
	"                                  patients with name and birth date, studies with\n"
	"                                  date, modalities and description, series with\n"
	"                                  modality, number and description\n"
	"  ls --quarantine STORE           versions whose dataset does not parse to its end\n"
	"  find STORE [--name PATTERN] [--patient-id ID] [--birth DATE] [--date DATE]\n"
	"       [--modality M] [--accession N] [--description TEXT] [--json]\n"
	"                                  studies matching every option given: patient,\n"
	"                                  date, modalities, counts and path in the mount.\n"
	"                                  PATTERN: DICOM's ('*', '?'; DOE^J*), letters any\n"
	"                                  case; DATE: YYYYMMDD or a range FROM-TO, FROM-, -TO;\n"
	"                                  TEXT: words in the StudyDescription, any case\n"
	"  get STORE SOPUID [-o FILE] [--version N]  write a stored file, byte-identical\n"
	"                                  (the current version unless --version)\n"
	"  get STORE --series UID -o FOLDER         write every file of a series\n"
	"                                  (FOLDER must not be a symbolic link)\n"
	"  get STORE --study UID | --patient ID -o FOLDER\n"
	"                                  write a study's or a patient's files as the mount\n"
	"                                  shows them: FOLDER/patients/<patient>/studies/...\n"
	"                                  (no symbolic link is followed below FOLDER)\n"
	"  status [--json] STORE           live mounts of the store (pid, mountpoint,\n"
	"                                  options), other processes using it, the last\n"
	"                                  imports, disk space used and free, versions\n"
	"                                  and quarantined files\n"
	"  verify [--json] STORE           check every pack entry, blob and record; read back\n"
	"                                  everything and check every hash\n"
	"  reindex STORE                   rebuild the catalogue (index.db, or PostgreSQL's)\n"
	"                                  from packs and blob files (skips\n"
	"                                  and lists damaged ranges; then gc needs --force);\n"
	"                                  refused while anything has the store open\n"
	"  rm STORE --patient ID|--study UID|--series UID|--instance UID\n"
	"                                  remove from the catalogue (gc frees the data)\n"
	"  audit STORE [--share NAME] [--patient ID] [--since DATE] [--json]\n"
	"                                  opens recorded by mounts with -o audit (--share ''\n"
	"                                  for the admin mount; DATE is UTC, YYYY-MM-DD[THH:MM[:SS]])\n"
	"  gc [--force] STORE              free data that nothing references (--force: even\n"
	"                                  after a reindex that skipped damage); waits for\n"
	"                                  running imports to finish\n"
	SHARE_USAGE
	"\n"
	"Exit status: 0 ok, 1 problems found (rejected files, verify problems, damage\n"
	"skipped by reindex, or an import that skipped entries and imported nothing),\n"
	"2 usage or store error.\n"
	"'dcmfsctl COMMAND --help' shows one command; 'dcmfsctl --version' the version.\n";

void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("dcmfsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see 'dcmfsctl --help')\n", stderr);
	exit(EXIT_ERROR);
}

static int want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

/* Print the blocks of usage_text that describe COMMAND: each starts with
 * "  COMMAND " at two spaces and runs on over the lines indented deeper.
 * Returns how many blocks were printed. */
static int print_command_usage(const char *command)
{
	size_t n = strlen(command);
	int printing = 0, blocks = 0;
	printf("usage: dcmfsctl %s ...\n\n", command);
	for (const char *line = usage_text; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
		if (len > 2 && line[0] == ' ' && line[1] == ' ' && line[2] != ' ') {
			printing = !strncmp(line + 2, command, n) &&
				   (line[2 + n] == ' ' || line[2 + n] == '\n');
			blocks += printing;
		} else if (len < 3 || line[0] != ' ') {
			printing = 0;
		}
		if (printing)
			fwrite(line, 1, len, stdout);
		line += len;
	}
	printf("\nSee 'dcmfsctl --help' for every command and the exit status.\n");
	return blocks;
}

/* ---------------- init ---------------- */

/* init STORE [--data rados://POOL?conf=PATH[&id=CLIENT]] [--catalog postgresql://...] */
static int cmd_init(int argc, char **argv)
{
	const char *store = NULL, *data = NULL, *catalog = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--data")) {
			if (i + 1 >= argc)
				usage_error("--data needs a url: rados://POOL?conf=/path/ceph.conf[&id=CLIENT]");
			if (data)
				usage_error("--data given twice");
			data = argv[++i];
		} else if (!strncmp(argv[i], "--data=", 7)) {
			if (data)
				usage_error("--data given twice");
			data = argv[i] + 7;
		} else if (!strcmp(argv[i], "--catalog")) {
			if (i + 1 >= argc)
				usage_error("--catalog needs a url: postgresql:///DB?host=/socket/dir (libpq's)");
			if (catalog)
				usage_error("--catalog given twice");
			catalog = argv[++i];
		} else if (!strncmp(argv[i], "--catalog=", 10)) {
			if (catalog)
				usage_error("--catalog given twice");
			catalog = argv[i] + 10;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage_error("init: unknown option '%s'", argv[i]);
		} else if (store) {
			usage_error("init takes one STORE folder");
		} else {
			store = argv[i];
		}
	}
	if (!store)
		usage_error("init takes one STORE folder");
	if (data && !datastore_url_is_rados(data))
		usage_error("--data '%s' is not a rados:// url (rados://POOL?conf=/path/ceph.conf[&id=CLIENT])", data);
	if (catalog && !store_conf_catalog_url_ok(catalog))
		usage_error("--catalog '%s' is not a postgresql:// url (postgresql:///DB?host=/socket/dir)",
			    catalog);
	char err[1024];
	if (store_init_conf(store, data, catalog, err, sizeof(err)))
		die("%s", err);
	printf("created store %s%s%s%s%s\n", store, data ? " with its data in " : "", data ? data : "",
	       catalog ? " with its catalogue in " : "", catalog ? catalog : "");
	return finish(0);
}

/* ---------------- import ---------------- */

struct import_ui {
	int quiet;
	double start;
	double last;
	struct ingest *ing;
	int line_shown;
};

static void clear_progress(struct import_ui *ui)
{
	if (ui->line_shown) {
		fputs("\r\033[K", stderr);
		ui->line_shown = 0;
	}
}

static void on_result(void *arg, const struct ingest_result *r)
{
	struct import_ui *ui = arg;
	if (r->outcome == INGEST_REJECTED || r->outcome == INGEST_FAILED) {
		clear_progress(ui);
		fprintf(stderr, "dcmfsctl: %s '%s': %s\n",
			r->outcome == INGEST_REJECTED ? "rejected" : "failed", r->path, r->reason);
	} else if (r->quarantined) {
		clear_progress(ui);
		fprintf(stderr, "dcmfsctl: quarantined '%s': %s\n", r->path, r->reason);
	}
	if (r->refiled) {
		clear_progress(ui);
		fprintf(stderr, "dcmfsctl: note: '%s' is a new version of an instance whose first"
			" version is filed in another series (patient or study); every version is"
			" under /versions\n", r->path);
	}
}

static void show_progress(struct import_ui *ui)
{
	struct ingest_totals t;
	int64_t queued;
	ingest_progress(ui->ing, &t, &queued);
	double el = now_s() - ui->start;
	char b[32];
	fprintf(stderr, "\r\033[K%" PRId64 " done (%" PRId64 " new, %" PRId64 " dup, %" PRId64
		" rejected), %" PRId64 " queued, %s read, %.0f MB/s",
		t.n_new + t.n_duplicate + t.n_version + t.n_rejected + t.n_failed, t.n_new + t.n_version,
		t.n_duplicate, t.n_rejected + t.n_failed, queued, human(t.bytes_in, b, sizeof(b)),
		el > 0 ? (double)t.bytes_in / 1e6 / el : 0.0);
	ui->line_shown = 1;
}

/* The progress thread stops on request (not by cancellation), so that it
 * never reads the import once ingest_end has freed it. */
struct progress {
	struct import_ui *ui;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
};

static void *progress_main(void *arg)
{
	struct progress *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		if (!p->stop)
			show_progress(p->ui);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* What the import walk found besides files it queued. */
struct walk {
	struct import_ui *ui;
	int follow;              /* --follow-symlinks */
	int64_t queued;          /* files handed to the import */
	int64_t skipped;         /* symbolic links, FIFOs, sockets, devices, loops */
	int64_t unreadable;      /* folders that could not be listed (counted as rejected) */
	struct { dev_t dev; ino_t ino; } *up;   /* the folders being walked: a loop guard */
	size_t depth, cap;
};

static void skip(struct walk *w, const char *path, const char *why)
{
	clear_progress(w->ui);
	fprintf(stderr, "dcmfsctl: skipped '%s': %s\n", path, why);
	w->skipped++;
}

static const char *type_name(mode_t m)
{
	return S_ISLNK(m) ? "a symbolic link" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" :
	       S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : "not a regular file";
}

static void queue_file(struct walk *w, const char *path)
{
	if (ingest_add(w->ui->ing, path))
		die("out of memory queueing '%s'", path);
	w->queued++;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_dir(struct walk *w, const char *dir, const struct stat *st);

/* One entry found in a folder (or named on the command line, with st from
 * stat, so a link named there is followed). */
static void walk_entry(struct walk *w, const char *path, const struct stat *lst)
{
	struct stat st = *lst;
	char *real = NULL;
	if (S_ISLNK(st.st_mode)) {
		if (!w->follow) {
			skip(w, path, "a symbolic link (not followed; see --follow-symlinks)");
			return;
		}
		if (stat(path, &st) < 0) {
			char why[300];
			snprintf(why, sizeof(why), "a symbolic link to nothing readable (%s)", strerror(errno));
			skip(w, path, why);
			return;
		}
		/* The import opens files without following links: give it
		 * the file the link names. */
		if (S_ISREG(st.st_mode) && !(real = realpath(path, NULL))) {
			skip(w, path, "a symbolic link that cannot be resolved");
			return;
		}
	}
	if (S_ISREG(st.st_mode))
		queue_file(w, real ? real : path);
	else if (S_ISDIR(st.st_mode))
		walk_dir(w, path, &st);
	else
		skip(w, path, type_name(st.st_mode));
	free(real);
}

static void walk_dir(struct walk *w, const char *dir, const struct stat *st)
{
	for (size_t i = 0; i < w->depth; i++)
		if (w->up[i].dev == st->st_dev && w->up[i].ino == st->st_ino) {
			skip(w, dir, "a folder inside itself (a symbolic link loop)");
			return;
		}
	DIR *dp = opendir(dir);
	if (!dp) {
		clear_progress(w->ui);
		fprintf(stderr, "dcmfsctl: rejected '%s': cannot read folder: %s\n", dir, strerror(errno));
		w->unreadable++;
		return;
	}
	/* Names first, folder closed before going down: one descriptor at a
	 * time however deep the tree; sorted, so runs are repeatable. */
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				die("out of memory");
			names = nn;
		}
		if (!(names[n++] = strdup(de->d_name)))
			die("out of memory");
	}
	closedir(dp);
	qsort(names, n, sizeof(*names), cmp_names);
	if (w->depth == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		if (!(w->up = realloc(w->up, w->cap * sizeof(*w->up))))
			die("out of memory");
	}
	w->up[w->depth].dev = st->st_dev;
	w->up[w->depth].ino = st->st_ino;
	w->depth++;
	size_t dl = strlen(dir);
	int slash = dl && dir[dl - 1] == '/';
	for (size_t i = 0; i < n; i++) {
		char *path = malloc(dl + strlen(names[i]) + 2);
		if (!path)
			die("out of memory");
		sprintf(path, "%s%s%s", dir, slash ? "" : "/", names[i]);
		struct stat lst;
		if (lstat(path, &lst) < 0)
			queue_file(w, path);   /* gone or unreadable: the import says why */
		else
			walk_entry(w, path, &lst);
		free(path);
		free(names[i]);
	}
	free(names);
	w->depth--;
}

/* A whole decimal number in [lo, hi], or a usage error naming the option. */
static int int_arg(const char *opt, const char *text, int lo, int hi)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < lo || v > hi)
		usage_error("%s needs a number from %d to %d, not '%s'", opt, lo, hi, text);
	return (int)v;
}

/* import and get allocate and free a buffer the size of a file (or of its
 * encoding) for every file: with glibc's defaults those above 128 KiB are
 * fresh mappings each time, every page faulted in again (some 15,000 faults
 * for 212 CT/MR files).  These one-shot commands keep freed memory for the
 * next file instead; their peak stays bounded by what is in flight. */
static void keep_freed_memory(void)
{
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

static int cmd_import(int argc, char **argv)
{
	int threads = 0, quiet = 0, follow = 0, c;
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' }, { "quiet", no_argument, NULL, 'q' },
		{ "follow-symlinks", no_argument, NULL, 'L' }, { 0 } };
	optind = 1;
	while ((c = getopt_long(argc, argv, "j:qL", opts, NULL)) != -1) {
		if (c == 'j')
			threads = int_arg("-j", optarg, 0, 256);
		else if (c == 'q')
			quiet = 1;
		else if (c == 'L')
			follow = 1;
		else
			usage_error("import: unknown option");
	}
	if (argc - optind < 2)
		usage_error("import needs a STORE and at least one PATH");
	/* Every PATH must exist before anything is imported: a typo is a
	 * usage error, not a half-done import. */
	int npaths = argc - optind - 1;
	struct stat *pst = calloc((size_t)npaths, sizeof(*pst));
	if (!pst)
		die("out of memory");
	for (int i = 0; i < npaths; i++)
		if (stat(argv[optind + 1 + i], &pst[i]) < 0) {
			int e = errno;
			free(pst);
			die("import: cannot use '%s': %s", argv[optind + 1 + i], strerror(e));
		}
	keep_freed_memory();
	struct store *s = open_store(argv[optind], 0);
	struct import_ui ui = { .quiet = quiet, .start = now_s() };
	char err[512];
	if (ingest_begin(s, threads, on_result, &ui, &ui.ing, err, sizeof(err)))
		die("%s", err);
	struct progress prog = { .ui = &ui };
	pthread_mutex_init(&prog.lock, NULL);
	pthread_cond_init(&prog.cond, NULL);
	pthread_t prog_th;
	/* No progress line is no reason to stop: a failed thread is ignored. */
	int show = progress_on && !quiet && pthread_create(&prog_th, NULL, progress_main, &prog) == 0;
	struct walk w = { .ui = &ui, .follow = follow };
	for (int i = 0; i < npaths; i++) {
		const char *path = argv[optind + 1 + i];
		/* A link named on the command line is followed (stat above). */
		struct stat lst;
		if (!lstat(path, &lst) && S_ISLNK(lst.st_mode) && S_ISREG(pst[i].st_mode)) {
			char *real = realpath(path, NULL);
			if (real) {
				queue_file(&w, real);
				free(real);
				continue;
			}
		}
		walk_entry(&w, path, &pst[i]);
	}
	free(pst);
	free(w.up);
	/* Show progress until the queue drains, then stop the thread before
	 * ingest_end frees what it reads. */
	if (show) {
		for (;;) {
			struct ingest_totals tp;
			int64_t queued;
			ingest_progress(ui.ing, &tp, &queued);
			if (queued <= 0)
				break;
			usleep(50000);
		}
		pthread_mutex_lock(&prog.lock);
		prog.stop = 1;
		pthread_cond_signal(&prog.cond);
		pthread_mutex_unlock(&prog.lock);
		pthread_join(prog_th, NULL);
		clear_progress(&ui);
	}
	struct ingest_totals t;
	int r = ingest_end(ui.ing, &t);
	ui.ing = NULL;
	pthread_mutex_destroy(&prog.lock);
	pthread_cond_destroy(&prog.cond);
	double el = now_s() - ui.start;
	char b1[32], b2[32];
	int64_t rejected = t.n_rejected + w.unreadable;
	printf("imported: %" PRId64 " new, %" PRId64 " duplicate, %" PRId64 " new version, %" PRId64
	       " rejected, %" PRId64 " quarantined, %" PRId64 " skipped%s; %s read, %s newly stored;"
	       " %.2f s, %.1f MB/s\n",
	       t.n_new, t.n_duplicate, t.n_version, rejected, t.n_quarantined, w.skipped,
	       t.n_failed ? " (some failed: see above)" : "",
	       human(t.bytes_in, b1, sizeof(b1)), human(t.bytes_stored, b2, sizeof(b2)), el,
	       el > 0 ? (double)t.bytes_in / 1e6 / el : 0.0);
	store_close(s);
	if (r)
		die("import stopped by a store error: %s", strerror(-r));
	if (t.n_failed)
		return finish(EXIT_ERROR);
	/* Skipped entries (links, FIFOs, sockets, devices) are reported but
	 * are no problem, unless they were all there was. */
	int64_t accepted = t.n_new + t.n_duplicate + t.n_version;
	return finish(rejected || (w.skipped && !accepted) ? EXIT_PROBLEMS : 0);
}

/* ---------------- stats ---------------- */

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }

/* One totals object of stats --json. */
static json_object *totals_json(const struct cat_totals *t)
{
	json_object *o = json_obj();
	json_set(o, "patients", json_int(t->patients));
	json_set(o, "studies", json_int(t->studies));
	json_set(o, "series", json_int(t->series));
	json_set(o, "instances", json_int(t->instances));
	json_set(o, "versions", json_int(t->versions));
	json_set(o, "logical_bytes", json_int((int64_t)t->logical_bytes));
	json_set(o, "unique_bytes", json_int((int64_t)t->unique_raw_bytes));
	json_set(o, "stored_bytes", json_int((int64_t)t->stored_bytes));
	json_set(o, "pixel_raw_bytes", json_int((int64_t)t->pixel_raw_bytes));
	json_set(o, "pixel_stored_bytes", json_int((int64_t)t->pixel_stored_bytes));
	json_set(o, "dedup_ratio", json_object_new_double(ratio(t->logical_bytes, t->unique_raw_bytes)));
	json_set(o, "compression_ratio", json_object_new_double(ratio(t->unique_raw_bytes, t->stored_bytes)));
	json_set(o, "pixel_compression_ratio",
		 json_object_new_double(ratio(t->pixel_raw_bytes, t->pixel_stored_bytes)));
	return o;
}

/* Every modality the store holds, however many. */
struct modality_list {
	char **name;
	struct cat_totals *t;
	int n, cap;
};

static int collect_modality(void *arg, const char *m, const struct cat_totals *t)
{
	struct modality_list *l = arg;
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 16;
		char **nn = realloc(l->name, (size_t)cap * sizeof(*nn));
		if (nn)
			l->name = nn;
		struct cat_totals *nt = realloc(l->t, (size_t)cap * sizeof(*nt));
		if (nt)
			l->t = nt;
		if (!nn || !nt)
			return -ENOMEM;
		l->cap = cap;
	}
	if (!(l->name[l->n] = strdup(m[0] ? m : "(none)")))
		return -ENOMEM;
	l->t[l->n++] = *t;
	return 0;
}

static uint64_t index_bytes(const char *dir)
{
	uint64_t n = 0;
	const char *suf[] = { "", "-wal" };
	for (int i = 0; i < 2; i++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/index.db%s", dir, suf[i]);
		FILE *f = fopen(p, "rb");
		if (f) {
			fseek(f, 0, SEEK_END);
			long l = ftell(f);
			if (l > 0)
				n += (uint64_t)l;
			fclose(f);
		}
	}
	return n;
}

static int cmd_stats(int argc, char **argv)
{
	int json = 0;
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!dir)
			dir = argv[i];
		else
			usage_error("stats takes one STORE");
	}
	if (!dir)
		usage_error("stats needs a STORE");
	struct store *s = open_store(dir, 1);
	struct cat_totals t;
	catalog_totals(store_main_catalog(s), &t);
	struct modality_list *ml = calloc(1, sizeof(*ml));
	if (!ml || catalog_totals_by_modality(store_main_catalog(s), collect_modality, ml))
		die("cannot read the totals by modality");
	uint64_t idx = index_bytes(dir);
	if (json) {
		/* Modality values are the store's, whatever bytes they hold:
		 * the one JSON writer escapes them (json_out.h). */
		json_object *o = json_obj(), *m = json_obj();
		json_set(o, "index_bytes", json_int((int64_t)idx));
		json_set(o, "total", totals_json(&t));
		for (int i = 0; i < ml->n; i++)
			json_set(m, ml->name[i], totals_json(&ml->t[i]));
		json_set(o, "modalities", m);
		json_print(o);
	} else {
		char a[32], b[32], c[32], d[32];
		printf("patients %" PRId64 ", studies %" PRId64 ", series %" PRId64 ", instances %" PRId64
		       " (%" PRId64 " later versions)\n",
		       t.patients, t.studies, t.series, t.instances, t.versions);
		printf("logical %s, unique %s, stored %s (blobs) + %s (index)\n",
		       human(t.logical_bytes, a, sizeof(a)), human(t.unique_raw_bytes, b, sizeof(b)),
		       human(t.stored_bytes, c, sizeof(c)), human(idx, d, sizeof(d)));
		printf("dedup ratio %.2f, compression ratio %.2f (pixels %.2f), overall %.2f\n",
		       ratio(t.logical_bytes, t.unique_raw_bytes), ratio(t.unique_raw_bytes, t.stored_bytes),
		       ratio(t.pixel_raw_bytes, t.pixel_stored_bytes),
		       ratio(t.logical_bytes, t.stored_bytes + idx));
		printf("%-8s %9s %11s %11s %7s %7s\n", "modality", "instances", "logical", "stored", "dedup", "compr");
		for (int i = 0; i < ml->n; i++)
			printf("%-8s %9" PRId64 " %11s %11s %7.2f %7.2f\n", ml->name[i], ml->t[i].instances,
			       human(ml->t[i].logical_bytes, a, sizeof(a)), human(ml->t[i].stored_bytes, b, sizeof(b)),
			       ratio(ml->t[i].logical_bytes, ml->t[i].unique_raw_bytes),
			       ratio(ml->t[i].unique_raw_bytes, ml->t[i].stored_bytes));
	}
	for (int i = 0; i < ml->n; i++)
		free(ml->name[i]);
	free(ml->name);
	free(ml->t);
	free(ml);
	store_close(s);
	return finish(0);
}

/* ---------------- ls ---------------- */

struct ls_ctx {
	struct catalog *cat;
	json_object *arr;           /* --json: the entries, else NULL */
	json_object *cur;           /* the entry being filled (--json) */
	char *line;                 /* the details of the entry being printed (text) */
};

static char *ls_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *ls_fmt(const char *fmt, ...)
{
	va_list ap;
	char *out = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("out of memory");
	return out;
}

/* What ls adds for a patient, study or series: the values a person knows
 * them by, before the folder name (which stays the last column). */
static int ls_patient(void *arg, const struct cat_patient_info *p)
{
	struct ls_ctx *l = arg;
	if (l->cur) {
		json_set(l->cur, "patient_id", json_str(p->patient_id));
		json_set(l->cur, "issuer", json_str(p->issuer));
		json_set(l->cur, "patient_name", json_str(p->name));
		json_set(l->cur, "birth_date", json_str(p->birth_date));
		json_set(l->cur, "sex", json_str(p->sex));
	} else {
		char *a = NULL;
		l->line = ls_fmt("%-30s %-8s", text_safe(p->name, &a), p->birth_date);
		free(a);
	}
	return 0;
}

static int ls_study(void *arg, const struct cat_study_info *i)
{
	struct ls_ctx *l = arg;
	if (l->cur) {
		json_object *o = study_json(i);
		json_object_object_foreach(o, k, v)
			json_set(l->cur, k, json_object_get(v));
		json_object_put(o);
	} else {
		char *a = NULL, *b = NULL, *c = NULL, *mods = modalities_text(i->modalities);
		l->line = ls_fmt("%-8s %-8s %-30s", text_safe(i->study_date, &a), text_safe(mods, &b),
				 text_safe(i->description, &c));
		free(mods);
		free(a);
		free(b);
		free(c);
	}
	return 0;
}

static int ls_series(void *arg, const struct cat_series_info *i)
{
	struct ls_ctx *l = arg;
	char num[24] = "";
	if (i->number >= 0)
		snprintf(num, sizeof(num), "%" PRId64, i->number);
	if (l->cur) {
		json_set(l->cur, "series_uid", json_str(i->series_uid));
		json_set(l->cur, "modality", json_str(i->modality));
		json_set(l->cur, "number", i->number >= 0 ? json_int(i->number) : NULL);
		json_set(l->cur, "description", json_str(i->description));
	} else {
		char *a = NULL, *b = NULL;
		l->line = ls_fmt("%-6s %5s %-30s", text_safe(i->modality, &a), num, text_safe(i->description, &b));
		free(a);
		free(b);
	}
	return 0;
}

static int ls_print(void *arg, const struct cat_node *n)
{
	struct ls_ctx *l = arg;
	static const char *what[] = { "", "studies", "series", "instances" };
	static const char *kind[] = { "", "patient", "study", "series", "instance" };
	char when[32];
	time_t tt = (time_t)(n->mtime_ns / 1000000000);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime(&tt));
	if (l->arr) {
		l->cur = json_obj();
		json_set(l->cur, "kind", json_str(kind[n->kind]));
		json_set(l->cur, "name", json_str(n->name));
		json_set(l->cur, "mtime_ns", json_int(n->mtime_ns));
		if (n->kind == CAT_INSTANCE)
			json_set(l->cur, "size", json_int((int64_t)n->size));
		else
			json_set(l->cur, what[n->kind], json_int((int64_t)n->nchildren));
	}
	/* a row gone since the listing was read just shows no details */
	if (n->kind == CAT_PATIENT)
		catalog_patient_info(l->cat, n->id, ls_patient, l);
	else if (n->kind == CAT_STUDY)
		catalog_study_info(l->cat, n->id, ls_study, l);
	else if (n->kind == CAT_SERIES)
		catalog_series_info(l->cat, n->id, ls_series, l);
	if (l->arr) {
		json_push(l->arr, l->cur);
		l->cur = NULL;
	} else if (n->kind == CAT_INSTANCE) {
		printf("%s  %12" PRIu64 "  %s\n", when, n->size, n->name);
	} else {
		printf("%s  %6" PRIu64 " %-9s  %s  %s\n", when, n->nchildren, what[n->kind],
		       l->line ? l->line : "", n->name);
	}
	free(l->line);
	l->line = NULL;
	return 0;
}

static int quarantine_print(void *arg, int64_t id, const char *path, int current,
			    const char *reason)
{
	(void)arg;
	(void)id;
	printf("%s\t%s\t%s\n", path, current ? "current (no clean version)" : "not current", reason);
	return 0;
}

static int cmd_ls(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--quarantine"))
		usage_error("ls --quarantine needs a STORE");
	/* ls --quarantine STORE, or ls STORE --quarantine */
	if (argc == 3 && (!strcmp(argv[1], "--quarantine") || !strcmp(argv[2], "--quarantine"))) {
		struct store *s = open_store(argv[strcmp(argv[1], "--quarantine") ? 1 : 2], 1);
		int r = catalog_quarantined(store_main_catalog(s), quarantine_print, NULL);
		store_close(s);
		if (r)
			die("cannot list the quarantine: %s", strerror(-r));
		return finish(0);
	}
	/* --json anywhere; the rest are STORE [PATIENT [STUDY [SERIES]]] */
	int json = 0, na = 0;
	char *args[5];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (na < 4)
			args[na++] = argv[i];
		else
			usage_error("ls takes [--json] STORE [PATIENT [STUDY [SERIES]]]");
	}
	if (na < 1)
		usage_error("ls takes [--json] STORE [PATIENT [STUDY [SERIES]]]");
	struct store *s = open_store(args[0], 1);
	int kind = 0;
	int64_t id = 0;
	for (int i = 1; i < na; i++) {
		struct cat_node n;
		/* Accept the folder name as shown, or the raw ID/UID. */
		int r = catalog_lookup(store_main_catalog(s), kind, id, args[i], &n);
		if (r) {
			int64_t *ids;
			int k = kind == 0 ? CAT_PATIENT : kind + 1;
			int m = catalog_find_ids(store_main_catalog(s), k, args[i], &ids);
			/* The UID may be in several parents: take the one under id. */
			for (int j = 0; r && j < m; j++)
				if (catalog_node(store_main_catalog(s), k, ids[j], &n) == 0 &&
				    (kind == 0 || n.parent == id))
					r = 0;
			free(ids);
		}
		if (r)
			die("'%s' not found", args[i]);
		kind = n.kind;
		id = n.id;
	}
	struct ls_ctx l = { .cat = store_main_catalog(s), .arr = json ? json_arr() : NULL };
	int r = catalog_children(store_main_catalog(s), kind, id, ls_print, &l);
	store_close(s);
	if (r)
		die("cannot list '%s': %s", args[na - 1], strerror(-r));
	if (json)
		json_print(l.arr);
	return finish(0);
}

/* ---------------- get ---------------- */

/* Write one instance to fd.  Returns 0, or -1 with err filled. */
static int write_instance(struct store *s, struct catalog *cat, struct codec_ctx *ctx,
			  int64_t id, int fd, const char *what, uint8_t *buf, size_t bufsz,
			  char *err, size_t errlen)
{
	struct instance *h;
	int r = instance_open(s, cat, id, &h, NULL, 0);
	if (r == -EBADMSG || r == -EIO) {
		snprintf(err, errlen, "cannot read '%s' (instance inode %" PRId64 "): its stored data is"
			 " damaged (%s); 'dcmfsctl verify %s' names the damage", what, id, strerror(-r),
			 store_dir(s));
		return -1;
	}
	if (r) {
		snprintf(err, errlen, "cannot read '%s': %s", what, strerror(-r));
		return -1;
	}
	uint64_t size = instance_size(h), off = 0;
	int bad = 0;
	while (!bad && off < size) {
		int64_t got = instance_read(h, ctx, off, buf, bufsz);
		if (got == -EBADMSG || got == -EIO) {
			snprintf(err, errlen, "cannot read '%s' (instance inode %" PRId64 ") at offset %" PRIu64
				 ": its stored data is damaged (%s); 'dcmfsctl verify %s' names the damage",
				 what, id, off, strerror((int)-got), store_dir(s));
			bad = 1;
			break;
		}
		if (got <= 0) {
			snprintf(err, errlen, "cannot read '%s' at offset %" PRIu64 ": %s", what, off,
				 strerror(got ? (int)-got : EIO));
			bad = 1;
			break;
		}
		for (int64_t w = 0; w < got;) {
			ssize_t k = write(fd, buf + w, (size_t)(got - w));
			if (k < 0) {
				snprintf(err, errlen, "cannot write '%s': %s", what, strerror(errno));
				bad = 1;
				break;
			}
			w += k;
		}
		off += (uint64_t)got;
	}
	instance_close(h);
	return bad ? -1 : 0;
}

/* Write name in folder dfd atomically: a temporary file, fsync (unless the
 * caller syncs the whole batch at the end), rename.  The temporary name is
 * random and made with O_EXCL | O_NOFOLLOW: a user who can write the folder
 * can neither guess it nor plant a link there that makes us write through
 * it (we often run as root).  renameat replaces a link planted at the final
 * name, never the file it points to.  what names the file in messages. */
/* The temporary files being written now, one slot per writer thread,
 * made and given up under the lock.  A writer that fails takes the lock for
 * good, removes every temporary (the other threads' too: they stop at the
 * lock) and says its one line: no two threads enter exit(), no partial
 * file is left behind. */
static pthread_mutex_t writing_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int used;
	int dfd;
	char name[300];
} writing[32];

static int writing_claim(int dfd, const char *tmp)
{
	for (int i = 0; i < 32; i++)
		if (!writing[i].used) {
			writing[i].used = 1;
			writing[i].dfd = dfd;
			snprintf(writing[i].name, sizeof(writing[i].name), "%s", tmp);
			return i;
		}
	return -1;                  /* more writers than slots: not tracked */
}

static _Noreturn void writer_die(const char *msg)
{
	pthread_mutex_lock(&writing_lock);
	for (int i = 0; i < 32; i++)
		if (writing[i].used)
			unlinkat(writing[i].dfd, writing[i].name, 0);
	die("%s", msg);
}

/* A random temporary name for name in tmp (len bytes): a dot file no one
 * can guess. */
static void temp_name(char *tmp, size_t len, const char *name, int tries)
{
	uint64_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd ^= (uint64_t)now_s() * 1000003u ^ (uint64_t)getpid() ^ (uint64_t)tries << 40;
	snprintf(tmp, len, ".%.200s.dcmfs-%016" PRIx64, name, rnd);
}

/* Give the unnamed (O_TMPFILE) file fd the name name in dfd: by its
 * descriptor (root may), else through /proc.  linkat never replaces what
 * is there.  0, or -errno (-EEXIST: the name is taken). */
static int link_unnamed(int fd, int dfd, const char *name)
{
	if (linkat(fd, "", dfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != EPERM && errno != ENOENT && errno != EINVAL)
		return -errno;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
}

/* Write name in folder dfd atomically: an unnamed file (O_TMPFILE) linked
 * in under name when whole, or, where the name is taken or the filesystem
 * has no unnamed files, a temporary file renamed over name; fsync first
 * unless the caller syncs the whole batch at the end.  The temporary name is
 * random and made with O_EXCL | O_NOFOLLOW (or by linkat, which never
 * replaces): a user who can write the folder can neither guess it nor plant
 * a link there that makes us write through it (we often run as root).
 * renameat replaces a link planted at the final name, never the file it
 * points to.  what names the file in messages. */
static void write_instance_file(struct store *s, struct catalog *cat, struct codec_ctx *ctx,
				int64_t id, int dfd, const char *name, const char *what,
				uint8_t *buf, size_t bufsz, int sync)
{
	char tmp[300], err[600];
	int slot = -1, open_errno = 0;
	/* Unnamed until whole, where the filesystem allows: a kill then
	 * leaves nothing behind, not even a temporary file.  Where such a
	 * file cannot be named (no /proc and not root), never again. */
	static _Atomic int no_unnamed;
	int fd = no_unnamed ? -1 : openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	int unnamed = fd >= 0;
named:
	if (!unnamed) {
		pthread_mutex_lock(&writing_lock);
		for (int tries = 0; fd < 0 && tries < 100; tries++) {
			temp_name(tmp, sizeof(tmp), name, tries);
			fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd < 0 && errno != EEXIST)
				break;
		}
		open_errno = errno;
		if (fd >= 0)
			slot = writing_claim(dfd, tmp);
		pthread_mutex_unlock(&writing_lock);
	}
	if (fd < 0) {
		snprintf(err, sizeof(err), "cannot create a temporary file for '%s': %s", what,
			 strerror(open_errno));
		writer_die(err);
	}
	int bad = write_instance(s, cat, ctx, id, fd, what, buf, bufsz, err, sizeof(err));
	if (!bad && sync && fsync(fd) < 0)
		bad = errno;
	/* A batch synced at the end: start this file's writeback now, so the
	 * disk works while the next files decode and the final syncfs only
	 * waits for the tail.  Not a durability step: failures show there. */
	if (!bad && !sync)
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (!bad && unnamed) {
		int r = link_unnamed(fd, dfd, name);
		if (r == -EEXIST) {
			/* The name is taken (an earlier get's file, or a link
			 * someone planted): a temporary name, renamed over it. */
			pthread_mutex_lock(&writing_lock);
			for (int tries = 0; tries < 100; tries++) {
				temp_name(tmp, sizeof(tmp), name, tries);
				if ((r = link_unnamed(fd, dfd, tmp)) != -EEXIST)
					break;
			}
			if (!r)
				slot = writing_claim(dfd, tmp);
			pthread_mutex_unlock(&writing_lock);
		} else if (!r) {
			close(fd);   /* named, whole: done */
			return;
		} else if (r == -ENOENT || r == -EPERM || r == -EACCES) {
			/* This file cannot be named: written again, named. */
			no_unnamed = 1;
			close(fd);
			fd = -1;
			unnamed = 0;
			goto named;
		}
		if (r)
			bad = -r;
	}
	if (close(fd) < 0 && !bad)
		bad = errno;
	if (bad) {
		if (bad > 0)
			snprintf(err, sizeof(err), "cannot write '%s': %s", what, strerror(bad));
		writer_die(err);
	}
	pthread_mutex_lock(&writing_lock);
	int renamed = renameat(dfd, tmp, dfd, name);
	int rename_errno = errno;
	if (slot >= 0)
		writing[slot].used = 0;
	pthread_mutex_unlock(&writing_lock);
	if (renamed < 0) {
		unlinkat(dfd, tmp, 0);
		snprintf(err, sizeof(err), "cannot write '%s': %s", what, strerror(rename_errno));
		writer_die(err);
	}
}

/* get --series: the files of a series are written by one thread per core,
 * each with its own catalogue connection and codec context. */
struct series_out {
	struct store *s;
	const char *dir;
	int dfd;                    /* the output folder, opened once */
	struct cat_node *files;
	size_t n;
	size_t next;                /* guarded by lock */
	pthread_mutex_t lock;
};

static int collect_file(void *arg, int64_t id)
{
	struct series_out *o = arg;
	struct cat_node *p = realloc(o->files, (o->n + 1) * sizeof(*p));
	if (!p)
		die("out of memory");
	o->files = p;
	if (catalog_node(store_main_catalog(o->s), CAT_INSTANCE, id, &o->files[o->n]) == 0)
		o->n++;
	return 0;
}

static void *series_writer(void *arg)
{
	struct series_out *o = arg;
	struct catalog *cat;
	struct codec_ctx *ctx = codec_ctx_new();
	size_t bufsz = 4 << 20;
	uint8_t *buf = malloc(bufsz);
	if (store_catalog(o->s, &cat) || !ctx || !buf)
		die("cannot open the store's index for reading");
	for (;;) {
		pthread_mutex_lock(&o->lock);
		size_t i = o->next++;
		pthread_mutex_unlock(&o->lock);
		if (i >= o->n)
			break;
		char path[4400];
		snprintf(path, sizeof(path), "%s/%s", o->dir, o->files[i].name);
		write_instance_file(o->s, cat, ctx, o->files[i].id, o->dfd, o->files[i].name, path,
				    buf, bufsz, 0);
	}
	catalog_close(cat);
	codec_ctx_free(ctx);
	free(buf);
	return NULL;
}

/* Write every collected file, one thread per core (at most 16); returns
 * the bytes written.  o->files is freed. */
static uint64_t write_collected(struct series_out *o)
{
	pthread_mutex_init(&o->lock, NULL);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int nth = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
	pthread_t th[16];
	int started = 0;
	while (started < nth && !pthread_create(&th[started], NULL, series_writer, o))
		started++;
	if (!started)
		series_writer(o);   /* no thread to be had: this one does it all */
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&o->lock);
	uint64_t bytes = 0;
	for (size_t i = 0; i < o->n; i++)
		bytes += o->files[i].size;
	free(o->files);
	o->files = NULL;
	return bytes;
}

/* The output folder, made when missing and opened once without following
 * a link: one planted at FOLDER (say in /tmp) would send root's writes
 * elsewhere.  Files are then made relative to it. */
static int open_out_folder(const char *out)
{
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		die("cannot create '%s': %s", out, strerror(errno));
	struct stat ost;
	int odfd = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (odfd < 0 && !lstat(out, &ost) && S_ISLNK(ost.st_mode))
		die("'%s' is a symbolic link: give the folder it points to", out);
	if (odfd < 0)
		die("cannot open '%s': %s", out, strerror(errno));
	return odfd;
}

/* get --study / --patient: the files as the mount shows them, under
 * OUT/patients/<patient>/studies/<study>/<series>/ (the same escaped names,
 * so `find`'s paths hold below OUT too).  Every folder is made and opened
 * relative to its parent without following links (mkdirat, then openat
 * with O_NOFOLLOW): a link planted anywhere below OUT is refused, never
 * written through. */
struct tree_out {
	struct store *s;
	const char *out;
	int64_t files, series;
	uint64_t bytes;
};

static int sub_folder(int dfd, const char *name, const char *path)
{
	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		die("cannot create '%s': %s", path, strerror(errno));
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
		die("'%s' is not a folder (a symbolic link or a file is in the way): not written through",
		    path);
	if (fd < 0)
		die("cannot open '%s': %s", path, strerror(errno));
	return fd;
}

static int collect_node(void *arg, const struct cat_node *n)
{
	struct series_out *o = arg;
	o->files = xrealloc(o->files, (o->n + 1) * sizeof(*o->files));
	o->files[o->n++] = *n;
	return 0;
}

/* The nodes below a folder, in the mount's order, into a malloc'd array. */
struct node_list {
	struct cat_node *v;
	size_t n;
};

static int collect_child(void *arg, const struct cat_node *n)
{
	struct node_list *l = arg;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = *n;
	return 0;
}

static struct node_list children_of(struct store *s, int kind, int64_t id)
{
	struct node_list l = { 0 };
	int r = catalog_children(store_main_catalog(s), kind, id, collect_child, &l);
	if (r)
		die("cannot list the catalogue: %s", strerror(-r));
	return l;
}

/* Write the folder (kind, id) below dfd, whose path is dpath.  A patient
 * goes to dfd/patients/<name>/, a study to .../studies/<name>/ below its
 * patient's; a series below its study. */
static void tree_write_node(struct tree_out *t, int dfd, const char *dpath, const struct cat_node *n)
{
	char *path = xmalloc(strlen(dpath) + strlen(n->name) + 2);
	sprintf(path, "%s/%s", dpath, n->name);
	int fd = sub_folder(dfd, n->name, path);
	if (n->kind == CAT_SERIES) {
		struct series_out o = { .s = t->s, .dir = path, .dfd = fd };
		int r = catalog_children(store_main_catalog(t->s), CAT_SERIES, n->id, collect_node, &o);
		if (r)
			die("cannot list series '%s': %s", path, strerror(-r));
		t->files += (int64_t)o.n;
		t->bytes += write_collected(&o);
		t->series++;
	} else {
		int cfd = fd;
		char *cpath = path;
		if (n->kind == CAT_PATIENT) {
			cpath = xmalloc(strlen(path) + 16);
			sprintf(cpath, "%s/studies", path);
			cfd = sub_folder(fd, "studies", cpath);
		}
		struct node_list l = children_of(t->s, n->kind, n->id);
		for (size_t i = 0; i < l.n; i++)
			tree_write_node(t, cfd, cpath, &l.v[i]);
		free(l.v);
		if (cfd != fd) {
			close(cfd);
			free(cpath);
		}
	}
	close(fd);
	free(path);
}

static void tree_write(struct tree_out *t, int odfd, int kind, int64_t id)
{
	struct catalog *cat = store_main_catalog(t->s);
	struct cat_node n, p;
	if (catalog_node(cat, kind, id, &n))
		return;                 /* gone since it was found */
	char *ppath = xmalloc(strlen(t->out) + 16);
	sprintf(ppath, "%s/patients", t->out);
	int pfd = sub_folder(odfd, "patients", ppath);
	if (kind == CAT_PATIENT) {
		tree_write_node(t, pfd, ppath, &n);
	} else if (!catalog_node(cat, CAT_PATIENT, n.parent, &p)) {
		/* a study: its patient's folder and studies/ first */
		char *path = xmalloc(strlen(ppath) + strlen(p.name) + 16);
		sprintf(path, "%s/%s", ppath, p.name);
		int fd = sub_folder(pfd, p.name, path);
		strcat(path, "/studies");
		int sfd = sub_folder(fd, "studies", path);
		tree_write_node(t, sfd, path, &n);
		close(sfd);
		close(fd);
		free(path);
	}
	close(pfd);
	free(ppath);
}

static int cmd_get(int argc, char **argv)
{
	const char *out = NULL, *series = NULL, *study = NULL, *patient = NULL;
	int version = 0, c;
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' }, { "version", required_argument, NULL, 'V' },
		{ "series", required_argument, NULL, 'S' }, { "study", required_argument, NULL, 'T' },
		{ "patient", required_argument, NULL, 'P' }, { 0 } };
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'V')
			version = int_arg("--version", optarg, 1, INT32_MAX);
		else if (c == 'S')
			series = optarg;
		else if (c == 'T')
			study = optarg;
		else if (c == 'P')
			patient = optarg;
		else
			usage_error("get: unknown option");
	}
	size_t bufsz = 4 << 20;
	uint8_t *buf = malloc(bufsz);
	struct codec_ctx *ctx = codec_ctx_new();
	if (!buf || !ctx)
		die("out of memory");
	if (series) {
		if (argc - optind != 1 || !out)
			usage_error("get --series UID needs STORE and -o FOLDER");
		struct store *s = open_store(argv[optind], 1);
		int64_t *ids;
		int n = catalog_find_ids(store_main_catalog(s), CAT_SERIES, series, &ids);
		if (n <= 0)
			die("series '%s' is not in the store", series);
		int odfd = open_out_folder(out);
		struct series_out o = { .s = s, .dir = out, .dfd = odfd };
		double t0 = now_s();
		for (int i = 0; i < n; i++)
			catalog_instances_under(store_main_catalog(s), CAT_SERIES, ids[i], collect_file, &o);
		free(ids);
		uint64_t bytes = write_collected(&o);
		if (syncfs(odfd) < 0)
			die("cannot sync '%s': %s", out, strerror(errno));
		close(odfd);
		double el = now_s() - t0;
		char b[32];
		printf("wrote %zu files (%s) to %s in %.2f s, %.0f MB/s\n", o.n,
		       human(bytes, b, sizeof(b)), out, el, el > 0 ? (double)bytes / 1e6 / el : 0.0);
		store_close(s);
	} else if (study || patient) {
		if (argc - optind != 1 || !out)
			usage_error("get --study UID or --patient ID needs STORE and -o FOLDER");
		if (study && patient)
			usage_error("get takes one of --series, --study, --patient");
		struct store *s = open_store(argv[optind], 1);
		double t0 = now_s();
		struct tree_out t = { .s = s, .out = out };
		int64_t *ids;
		int kind = study ? CAT_STUDY : CAT_PATIENT;
		int n = catalog_find_ids(store_main_catalog(s), kind, study ? study : patient, &ids);
		if (n <= 0)
			die("%s '%s' is not in the store", study ? "study" : "patient", study ? study : patient);
		int odfd = open_out_folder(out);
		for (int i = 0; i < n; i++)
			tree_write(&t, odfd, kind, ids[i]);
		free(ids);
		if (syncfs(odfd) < 0)
			die("cannot sync '%s': %s", out, strerror(errno));
		close(odfd);
		double el = now_s() - t0;
		char b[32];
		printf("wrote %" PRId64 " files (%s) in %" PRId64 " series to %s/patients in %.2f s, %.0f MB/s\n",
		       t.files, human(t.bytes, b, sizeof(b)), t.series, out, el,
		       el > 0 ? (double)t.bytes / 1e6 / el : 0.0);
		store_close(s);
	} else {
		if (argc - optind != 2)
			usage_error("get needs STORE and SOPInstanceUID");
		struct store *s = open_store(argv[optind], 1);
		const char *uid = argv[optind + 1];
		struct cat_version *v;
		int n = catalog_versions(store_main_catalog(s), uid, &v);
		if (n <= 0)
			die("instance '%s' is not in the store", uid);
		int pick = n - 1;
		for (int i = 0; i < n; i++)
			if (v[i].current)
				pick = i;
		if (version) {
			pick = -1;
			for (int i = 0; i < n; i++)
				if ((int)v[i].version == version)
					pick = i;
			if (pick < 0)
				die("instance '%s' has no version %d (it has %d)", uid, version, n);
		}
		char err[600];
		struct stat ost;
		if (out && lstat(out, &ost) == 0 && S_ISDIR(ost.st_mode))
			usage_error("get: -o needs a FILE name, not the folder '%s' (get --series writes into a folder)", out);
		if (out && lstat(out, &ost) == 0 && !S_ISREG(ost.st_mode) && !S_ISLNK(ost.st_mode)) {
			/* A device, FIFO or socket (/dev/null, a pipe) is written
			 * into, never replaced by a file renamed over it. */
			int fd = open(out, O_WRONLY | O_NOCTTY | O_CLOEXEC);
			if (fd < 0)
				die("cannot open '%s': %s", out, strerror(errno));
			if (write_instance(s, store_main_catalog(s), ctx, v[pick].instance_id, fd, out, buf, bufsz,
					   err, sizeof(err)))
				die("%s", err);
			if (close(fd) < 0)
				die("cannot write '%s': %s", out, strerror(errno));
		} else if (out) {
			/* The temporary file goes beside FILE, so the rename is atomic. */
			char *dcopy = strdup(out), *bcopy = strdup(out);
			if (!dcopy || !bcopy)
				die("out of memory");
			const char *dir = dirname(dcopy), *name = basename(bcopy);
			if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "/"))
				usage_error("get: -o needs a FILE name, not '%s'", out);
			int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0)
				die("cannot open folder '%s': %s", dir, strerror(errno));
			write_instance_file(s, store_main_catalog(s), ctx, v[pick].instance_id, dfd, name, out, buf,
					    bufsz, 1);
			close(dfd);
			free(dcopy);
			free(bcopy);
		} else if (write_instance(s, store_main_catalog(s), ctx, v[pick].instance_id, 1, "stdout", buf, bufsz,
					  err, sizeof(err))) {
			die("%s", err);
		}
		free(v);
		store_close(s);
	}
	free(buf);
	codec_ctx_free(ctx);
	return finish(0);
}

/* ---------------- verify / reindex / rm / gc ---------------- */

static void on_problem(void *arg, const char *what)
{
	(void)arg;
	if (progress_on)
		fputs("\r\033[K", stderr);
	/* A problem names what it found: object names and UIDs from the
	 * data, whose control bytes must not move the terminal or start a
	 * line of their own.  One line, '?' for each. */
	for (const char *c = what; *c; c++)
		putchar((unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c);
	putchar('\n');
	fflush(stdout);
}

static void on_verify_progress(void *arg, uint64_t done, uint64_t total)
{
	static double last;
	(void)arg;
	double t = now_s();
	if (!progress_on || t - last < 0.25)
		return;
	last = t;
	fprintf(stderr, "\r\033[Kverifying: %.0f%%", total ? 100.0 * (double)done / (double)total : 100.0);
}

/* verify --json: each problem line joins the array as it comes. */
static void on_problem_json(void *arg, const char *what)
{
	json_push(arg, json_str(what));
}

static void verify_json(const char *dir, const struct verify_totals *t, json_object *problems,
			double secs)
{
	json_object *o = json_obj();
	json_set(o, "store", json_str(dir));
	json_set(o, "pack_entries", json_int(t->pack_entries));
	json_set(o, "instances", json_int(t->instances));
	json_set(o, "blobs", json_int(t->blobs));
	json_set(o, "bytes_checked", json_int((int64_t)t->bytes_checked));
	json_set(o, "bytes_decoded", json_int((int64_t)t->bytes_decoded));
	json_set(o, "seconds", json_object_new_double(secs));
	json_set(o, "problem_count", json_int(t->problems));
	json_set(o, "problems", problems);
	json_set(o, "damaged_ranges", json_int(t->damaged_ranges));
	json_set(o, "damaged_bytes", json_int((int64_t)t->damaged_bytes));
	json_set(o, "unreferenced_blobs", json_int(t->unreferenced_blobs));
	json_set(o, "orphan_files", json_int(t->orphan_files));
	json_set(o, "temporary_files", json_int(t->temporary_files));
	json_set(o, "kept_files", json_int(t->kept_files));
	json_set(o, "accepted_ranges", json_int(t->accepted_ranges));
	json_set(o, "torn_tail", json_object_new_boolean(t->torn_tail));
	json_set(o, "damage_marker", json_object_new_boolean(t->marker));
	json_print(o);
}

static int cmd_verify(int argc, char **argv)
{
	int json = argc == 3 && (!strcmp(argv[1], "--json") || !strcmp(argv[2], "--json"));
	if (argc != 2 + json)
		usage_error("verify takes [--json] and one STORE");
	const char *dir = argv[json && !strcmp(argv[1], "--json") ? 2 : 1];
	argv[1] = (char *)dir;      /* the messages below name it */
	struct store *s = open_store(dir, 1);
	struct verify_totals t;
	double t0 = now_s();
	json_object *problems = json ? json_arr() : NULL;
	int r = store_verify(s, json ? on_problem_json : on_problem, on_verify_progress, problems, &t);
	if (progress_on)
		fputs("\r\033[K", stderr);
	store_close(s);
	if (r)
		die("verify could not finish: %s", strerror(-r));
	if (json) {
		verify_json(dir, &t, problems, now_s() - t0);
		return finish(t.problems ? EXIT_PROBLEMS : 0);
	}
	char b[32];
	printf("verified %" PRId64 " pack entries, %" PRId64 " instances and %" PRId64 " blobs (%s) in %.1f s: %"
	       PRId64 " problem%s", t.pack_entries, t.instances, t.blobs, human(t.bytes_checked, b, sizeof(b)),
	       now_s() - t0, t.problems, t.problems == 1 ? "" : "s");
	if (t.damaged_ranges)
		printf(" (%" PRId64 " damaged pack range%s, %" PRIu64 " bytes)", t.damaged_ranges,
		       t.damaged_ranges == 1 ? "" : "s", t.damaged_bytes);
	printf("\n");
	int64_t reclaim = t.unreferenced_blobs + t.temporary_files + t.orphan_files;
	if (reclaim)
		printf("%" PRId64 " reclaimable by gc (%" PRId64 " unreferenced blobs, %" PRId64
		       " orphan blob files, %" PRId64 " temporary files)%s\n", reclaim,
		       t.unreferenced_blobs, t.orphan_files, t.temporary_files,
		       /* a lost record's other blobs are among them: gc waits */
		       t.marker ? ", once the damage is restored or accepted" : "");
	if (t.kept_files)
		printf("%" PRId64 " blob file%s kept for damaged records (listed in %s/" DAMAGE_MARKER
		       "): not reclaimable until 'gc --force' accepts the loss\n", t.kept_files,
		       t.kept_files == 1 ? "" : "s", argv[1]);
	if (t.accepted_ranges)
		printf("%" PRId64 " known damaged range%s, accepted by 'gc --force' (listed in %s/" DAMAGE_MARKER
		       ".accepted): not counted as problems\n", t.accepted_ranges,
		       t.accepted_ranges == 1 ? "" : "s", argv[1]);
	if (t.torn_tail)
		printf("the newest pack ends in a torn append (an interrupted write): not damage\n");
	if (t.marker)
		printf("%s/" DAMAGE_MARKER " marks damage skipped by reindex: gc refuses to run until it is cleared\n",
		       argv[1]);
	return finish(t.problems ? EXIT_PROBLEMS : 0);
}

static void on_reindex_progress(void *arg, uint64_t done, uint64_t total)
{
	static double last;
	(void)arg;
	double t = now_s();
	if (!progress_on || (t - last < 0.25 && done < total))
		return;
	last = t;
	if (total)
		fprintf(stderr, "\r\033[Kreindexing: %" PRIu64 " of %" PRIu64 " packs", done, total);
	else
		fprintf(stderr, "\r\033[Kreindexing: %" PRIu64 " blob files checked", done);
}

static int cmd_reindex(int argc, char **argv)
{
	if (argc != 2)
		usage_error("reindex takes one STORE");
	struct reindex_totals t;
	char err[512];
	int r = store_reindex(argv[1], on_problem, on_reindex_progress, NULL, &t, err, sizeof(err));
	if (progress_on)
		fputs("\r\033[K", stderr);
	if (r)
		die("%s", err);
	printf("reindexed %" PRId64 " packs: %" PRId64 " blobs, %" PRId64 " instances, %" PRId64
	       " removed, %" PRId64 " skipped\n", t.packs, t.blobs, t.instances, t.tombstones, t.skipped);
	if (t.accepted)
		printf("skipped %" PRId64 " known damaged range%s (accepted by 'gc --force')\n", t.accepted,
		       t.accepted == 1 ? "" : "s");
	if (t.damaged) {
		printf("skipped %" PRId64 " damaged range%s or file%s (%" PRIu64 " bytes in packs); %" PRId64
		       " instance%s not recovered for want of their data; listed in %s/" DAMAGE_MARKER
		       " (gc refuses to run until it is cleared)\n", t.damaged, t.damaged == 1 ? "" : "s",
		       t.damaged == 1 ? "" : "s", t.damaged_bytes, t.lost, t.lost == 1 ? "" : "s", argv[1]);
		return finish(EXIT_PROBLEMS);
	}
	return finish(0);
}

static int cmd_rm(int argc, char **argv)
{
	int kind = 0;
	const char *uid = NULL, *dir = NULL;
	static const struct { const char *opt; int kind; } kinds[] = {
		{ "--patient", CAT_PATIENT }, { "--study", CAT_STUDY },
		{ "--series", CAT_SERIES }, { "--instance", CAT_INSTANCE } };
	for (int i = 1; i < argc; i++) {
		int matched = 0;
		for (int k = 0; k < 4; k++)
			if (!strcmp(argv[i], kinds[k].opt)) {
				if (i + 1 >= argc)
					usage_error("%s needs a value", argv[i]);
				if (kind)
					usage_error("rm takes one of --patient, --study, --series, --instance");
				kind = kinds[k].kind;
				uid = argv[++i];
				matched = 1;
			}
		if (!matched) {
			if (dir)
				usage_error("rm: unexpected '%s'", argv[i]);
			dir = argv[i];
		}
	}
	if (!dir || !kind)
		usage_error("rm needs STORE and one of --patient, --study, --series, --instance");
	struct store *s = open_store(dir, 0);
	int64_t n;
	char err[512];
	if (store_remove(s, kind, uid, &n, err, sizeof(err)))
		die("%s", err);
	store_close(s);
	printf("removed %" PRId64 " instance%s ('dcmfsctl gc' frees their data)\n", n, n == 1 ? "" : "s");
	return finish(0);
}

static int cmd_gc(int argc, char **argv)
{
	int force = argc == 3 && !strcmp(argv[1], "--force");
	if (argc != 2 + force)
		usage_error("gc takes [--force] STORE");
	struct store *s = open_store(argv[1 + force], 0);
	struct gc_totals t;
	char err[1024], b[32];
	if (store_gc(s, force, &t, err, sizeof(err)))
		die("%s", err);
	store_close(s);
	printf("freed %" PRId64 " blobs (%s), removed %" PRId64 " files, %" PRId64 " temporary files and %"
	       PRId64 " spool files\n", t.blobs_freed, human(t.bytes_freed, b, sizeof(b)), t.files_removed,
	       t.temporary_removed, t.spool_removed);
	return finish(0);
}

/* ---------------- audit ---------------- */

struct audit_out {
	const char *store;
	const char *share, *patient;    /* filters; NULL = any */
	int json;
	uint64_t shown, skipped, lost;
};

static void audit_skipped(void *arg, const char *file, uint64_t line, const char *why)
{
	struct audit_out *o = arg;
	o->skipped++;
	fprintf(stderr, "dcmfsctl audit: '%s/audit/%s' line %" PRIu64 ": %s; skipped\n", o->store,
		file, line, why);
}

static int audit_print(void *arg, const struct audit_entry *e)
{
	struct audit_out *o = arg;
	if (o->share && strcmp(e->share, o->share))
		return 0;
	if (o->patient && !e->lost && !audit_patient_matches(e->patient, o->patient))
		return 0;
	char when[40];
	audit_format_time(e->time_ns, when, sizeof(when));
	if (e->lost) {
		/* A gap in the log: every filter but the patient's may hide it. */
		char *m = NULL;
		fprintf(stderr, "dcmfsctl audit: %" PRIu64 " record%s of the mount at '%s' (pid %" PRId64
			") could not be written before %s\n", e->lost, e->lost == 1 ? "" : "s",
			text_safe(e->mount, &m), e->pid, when);
		free(m);
		o->lost += e->lost;
	}
	if (o->json) {
		json_object *j = json_object_new_object();
		if (!j)
			die("out of memory");
		json_set(j, "time", json_str(when));
		json_set(j, "time_ns", json_object_new_int64(e->time_ns));
		json_set(j, "event", json_str(e->lost ? "lost" : "open"));
		if (e->lost)
			json_set(j, "lost", json_object_new_uint64(e->lost));
		json_set(j, "uid", json_object_new_int64(e->uid));
		json_set(j, "pid", json_object_new_int64(e->pid));
		json_set(j, "mount", json_str(e->mount));
		json_set(j, "share", json_str(e->share));
		json_set(j, "sop_uid", json_str(e->sop_uid));
		json_set(j, "patient", json_str(e->patient));
		/* One array, written as it goes: the log may be larger than memory. */
		printf("%s%s", o->shown ? ",\n  " : "\n  ",
		       json_line(j));
		json_object_put(j);
	} else if (!e->lost) {
		char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
		printf("%s\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%s\t%s\n", when, e->uid, e->pid,
		       e->share[0] ? text_safe(e->share, &a) : "(admin)", text_safe(e->patient, &b),
		       text_safe(e->sop_uid, &c), text_safe(e->mount, &d));
		free(a);
		free(b);
		free(c);
		free(d);
	}
	o->shown++;
	return 0;
}

static int cmd_audit(int argc, char **argv)
{
	struct audit_out o = { 0 };
	const char *since = NULL;
	int64_t since_ns = 0;
	for (int i = 1; i < argc; i++) {
		const char **val = !strcmp(argv[i], "--share") ? &o.share :
				   !strcmp(argv[i], "--patient") ? &o.patient :
				   !strcmp(argv[i], "--since") ? &since : NULL;
		if (val) {
			if (i + 1 >= argc)
				usage_error("audit: %s needs a value", argv[i]);
			if (*val)
				usage_error("audit: %s given twice", argv[i]);
			*val = argv[++i];
		} else if (!strcmp(argv[i], "--json")) {
			o.json = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage_error("audit: unknown option '%s'", argv[i]);
		} else if (o.store) {
			usage_error("audit: unexpected '%s' (one STORE only)", argv[i]);
		} else {
			o.store = argv[i];
		}
	}
	if (!o.store)
		usage_error("audit needs a STORE");
	if (o.patient && !o.patient[0])
		usage_error("audit: --patient needs an ID, not ''");
	if (since && audit_parse_time(since, &since_ns))
		usage_error("audit: --since needs a UTC date YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], not '%s'",
			    since);
	store_close(open_store(o.store, 1));    /* a store, or a clear error */
	char err[1024];
	if (o.json)
		printf("[");
	int r = audit_read(o.store, since_ns, audit_print, audit_skipped, &o, err, sizeof(err));
	if (r)
		die("audit: %s", err);
	if (o.json)
		printf("%s]\n", o.shown ? "\n" : "");
	if (o.skipped || o.lost)
		fprintf(stderr, "dcmfsctl audit: %" PRIu64 " line%s skipped, %" PRIu64 " record%s lost\n",
			o.skipped, o.skipped == 1 ? "" : "s", o.lost, o.lost == 1 ? "" : "s");
	return finish(o.skipped || o.lost ? EXIT_PROBLEMS : 0);
}

static const struct command {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "init", cmd_init }, { "import", cmd_import }, { "stats", cmd_stats },
	{ "ls", cmd_ls }, { "get", cmd_get }, { "verify", cmd_verify },
	{ "reindex", cmd_reindex }, { "rm", cmd_rm }, { "gc", cmd_gc },
	{ "audit", cmd_audit },
	{ "find", cmd_find },
	{ "status", cmd_status },
	{ "share", cmd_share },
};

int main(int argc, char **argv)
{
	progress_on = isatty(2);
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_ERROR;
	}
	version_exit_if_asked(argc, argv, "dcmfsctl");
	if (!strcmp(argv[1], "help") && argc == 3) {
		if (!print_command_usage(argv[2]))
			usage_error("unknown command '%s'", argv[2]);
		return finish(0);
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return finish(0);
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (!strcmp(argv[1], commands[i].name)) {
			if (want_help(argc - 1, argv + 1)) {
				print_command_usage(commands[i].name);
				return finish(0);
			}
			return commands[i].fn(argc - 1, argv + 1);
		}
	usage_error("unknown command '%s'", argv[1]);
}
