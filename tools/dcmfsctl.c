/*
 * dcmfsctl - the administrator's command line for a dcmfs store.
 *
 * Exit status: 0 success; 1 the command ran but found problems (rejected
 * files, verify problems, damage reindex skipped); 2 usage or store errors
 * (gc refusing to run over unaccepted damage is one).  Messages go to stderr as
 * "dcmfsctl: <what went wrong>"; progress only when stderr is a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "ingest.h"
#include "maint.h"
#include "store.h"

#define EXIT_PROBLEMS 1
#define EXIT_ERROR 2

static int progress_on;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("dcmfsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_ERROR);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *human(uint64_t n, char *buf, size_t len)
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

static struct store *open_store(const char *dir, int readonly)
{
	struct store *s;
	char err[512];
	if (store_open(dir, readonly, &s, err, sizeof(err)))
		die("%s", err);
	return s;
}

/* Close stdout and fail if that fails, so a full disk cannot pass as success. */
static int finish(int status)
{
	if (fflush(stdout) || ferror(stdout) || fclose(stdout))
		die("cannot write output: %s", strerror(errno));
	return status;
}

static const char usage_text[] =
	"usage: dcmfsctl COMMAND STORE [ARGS]\n"
	"\n"
	"  init STORE                      create an empty store\n"
	"  import [-j N] [-q] STORE PATH... import DICOM files and folders (recursive)\n"
	"  stats [--json] STORE            counts, bytes, dedup and compression ratios\n"
	"  ls STORE [PATIENT [STUDY [SERIES]]]  what is stored, one line each\n"
	"  get STORE SOPUID [-o FILE] [--version N]  write a stored file, byte-identical\n"
	"  get STORE --series UID -o FOLDER         write every file of a series\n"
	"  verify STORE                    check every pack entry, blob and record; read back\n"
	"                                  everything and check every hash\n"
	"  reindex STORE                   rebuild index.db from packs and blob files (skips\n"
	"                                  and lists damaged ranges; then gc needs --force)\n"
	"  rm STORE --patient ID|--study UID|--series UID|--instance UID\n"
	"                                  remove from the catalogue (gc frees the data)\n"
	"  gc [--force] STORE              free data that nothing references (--force: even\n"
	"                                  after a reindex that skipped damage)\n"
	"\n"
	"Exit status: 0 ok, 1 problems found (rejected files, verify problems, damage\n"
	"skipped by reindex), 2 error.\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
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

/* ---------------- init ---------------- */

static int cmd_init(int argc, char **argv)
{
	if (argc != 2)
		usage_error("init takes one STORE folder");
	char err[512];
	if (store_init(argv[1], err, sizeof(err)))
		die("%s", err);
	printf("created store %s\n", argv[1]);
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

static void *progress_main(void *arg)
{
	struct import_ui *ui = arg;
	for (;;) {
		usleep(250000);
		show_progress(ui);
	}
	return NULL;
}

static int cmd_import(int argc, char **argv)
{
	int threads = 0, quiet = 0, c;
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' }, { "quiet", no_argument, NULL, 'q' }, { 0 } };
	optind = 1;
	while ((c = getopt_long(argc, argv, "j:q", opts, NULL)) != -1) {
		if (c == 'j')
			threads = atoi(optarg);
		else if (c == 'q')
			quiet = 1;
		else
			usage_error("import: unknown option");
	}
	if (argc - optind < 2)
		usage_error("import needs a STORE and at least one PATH");
	struct store *s = open_store(argv[optind], 0);
	struct import_ui ui = { .quiet = quiet, .start = now_s() };
	char err[512];
	if (ingest_begin(s, threads, on_result, &ui, &ui.ing, err, sizeof(err)))
		die("%s", err);
	pthread_t prog;
	int show = progress_on && !quiet;
	if (show)
		pthread_create(&prog, NULL, progress_main, &ui);
	int missing = 0;
	for (int i = optind + 1; i < argc; i++) {
		if (access(argv[i], F_OK) < 0) {
			fprintf(stderr, "dcmfsctl: rejected '%s': %s\n", argv[i], strerror(errno));
			missing++;
			continue;
		}
		ingest_add(ui.ing, argv[i]);
	}
	struct ingest_totals t;
	int r = ingest_end(ui.ing, &t);
	if (show) {
		pthread_cancel(prog);
		pthread_join(prog, NULL);
		clear_progress(&ui);
	}
	double el = now_s() - ui.start;
	char b1[32], b2[32];
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("imported: %" PRId64 " new, %" PRId64 " duplicate, %" PRId64 " new version, %" PRId64
	       " rejected%s; %s read, %s newly stored; %.2f s, %.1f MB/s\n",
	       t.n_new, t.n_duplicate, t.n_version, t.n_rejected + missing,
	       t.n_failed ? " (some failed: see above)" : "",
	       human(t.bytes_in, b1, sizeof(b1)), human(t.bytes_stored, b2, sizeof(b2)), el,
	       el > 0 ? (double)t.bytes_in / 1e6 / el : 0.0);
	store_close(s);
	if (r)
		die("import stopped by a store error: %s", strerror(-r));
	if (t.n_failed)
		return finish(EXIT_ERROR);
	return finish(t.n_rejected + missing ? EXIT_PROBLEMS : 0);
}

/* ---------------- stats ---------------- */

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }

static void print_totals_json(const char *name, const struct cat_totals *t, int comma)
{
	printf("  \"%s\": {\"patients\": %" PRId64 ", \"studies\": %" PRId64 ", \"series\": %" PRId64
	       ", \"instances\": %" PRId64 ", \"versions\": %" PRId64 ", \"logical_bytes\": %" PRIu64
	       ", \"unique_bytes\": %" PRIu64 ", \"stored_bytes\": %" PRIu64
	       ", \"pixel_raw_bytes\": %" PRIu64 ", \"pixel_stored_bytes\": %" PRIu64
	       ", \"dedup_ratio\": %.4f, \"compression_ratio\": %.4f, \"pixel_compression_ratio\": %.4f}%s\n",
	       name, t->patients, t->studies, t->series, t->instances, t->versions, t->logical_bytes,
	       t->unique_raw_bytes, t->stored_bytes, t->pixel_raw_bytes, t->pixel_stored_bytes,
	       ratio(t->logical_bytes, t->unique_raw_bytes), ratio(t->unique_raw_bytes, t->stored_bytes),
	       ratio(t->pixel_raw_bytes, t->pixel_stored_bytes), comma ? "," : "");
}

struct modality_list {
	char name[32][DCM_UI_MAX];
	struct cat_totals t[32];
	int n;
};

static int collect_modality(void *arg, const char *m, const struct cat_totals *t)
{
	struct modality_list *l = arg;
	if (l->n < 32) {
		snprintf(l->name[l->n], DCM_UI_MAX, "%s", m[0] ? m : "(none)");
		l->t[l->n++] = *t;
	}
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
	catalog_totals(s->cat, &t);
	struct modality_list *ml = calloc(1, sizeof(*ml));
	catalog_totals_by_modality(s->cat, collect_modality, ml);
	uint64_t idx = index_bytes(dir);
	if (json) {
		printf("{\n  \"index_bytes\": %" PRIu64 ",\n", idx);
		print_totals_json("total", &t, 1);
		printf("  \"modalities\": {\n");
		for (int i = 0; i < ml->n; i++) {
			printf("  ");
			print_totals_json(ml->name[i], &ml->t[i], i + 1 < ml->n);
		}
		printf("  }\n}\n");
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
	free(ml);
	store_close(s);
	return finish(0);
}

/* ---------------- ls ---------------- */

struct ls_ctx {
	struct catalog *cat;
	int kind;
};

static int ls_print(void *arg, const struct cat_node *n)
{
	struct ls_ctx *l = arg;
	char when[32];
	time_t tt = (time_t)(n->mtime_ns / 1000000000);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime(&tt));
	if (n->kind == CAT_INSTANCE) {
		printf("%s  %12" PRIu64 "  %s\n", when, n->size, n->name);
	} else {
		static const char *what[] = { "", "studies", "series", "instances" };
		printf("%s  %6" PRIu64 " %-9s  %s\n", when, n->size, what[n->kind], n->name);
	}
	(void)l;
	return 0;
}

static int cmd_ls(int argc, char **argv)
{
	if (argc < 2 || argc > 5)
		usage_error("ls takes STORE [PATIENT [STUDY [SERIES]]]");
	struct store *s = open_store(argv[1], 1);
	int kind = 0;
	int64_t id = 0;
	for (int i = 2; i < argc; i++) {
		struct cat_node n;
		/* Accept the folder name as shown, or the raw ID/UID. */
		int r = catalog_lookup(s->cat, kind, id, argv[i], &n);
		if (r) {
			int64_t ids[1];
			int k = kind == 0 ? CAT_PATIENT : kind + 1;
			int m = catalog_find_ids(s->cat, k, argv[i], ids, 1);
			if (m > 0 && catalog_node(s->cat, k, ids[0], &n) == 0 &&
			    (kind == 0 || n.parent == id))
				r = 0;
		}
		if (r)
			die("'%s' not found", argv[i]);
		kind = n.kind;
		id = n.id;
	}
	struct ls_ctx l = { s->cat, kind };
	catalog_children(s->cat, kind, id, ls_print, &l);
	store_close(s);
	return finish(0);
}

/* ---------------- get ---------------- */

/* Write one instance to fd; dies on error. */
static void write_instance(struct store *s, struct catalog *cat, struct codec_ctx *ctx,
			   int64_t id, int fd, const char *what, uint8_t *buf, size_t bufsz)
{
	struct instance_handle *h;
	int r = instance_open(s, cat, id, &h);
	if (r == -EBADMSG || r == -EIO)
		die("cannot read '%s' (instance inode %" PRId64 "): its stored data is damaged (%s);"
		    " 'dcmfsctl verify %s' names the damage", what, id, strerror(-r), s->dir);
	if (r)
		die("cannot read '%s': %s", what, strerror(-r));
	uint64_t size = instance_size(h), off = 0;
	while (off < size) {
		int64_t got = instance_read(h, ctx, off, buf, bufsz);
		if (got == -EBADMSG || got == -EIO)
			die("cannot read '%s' (instance inode %" PRId64 ") at offset %" PRIu64 ": its stored data"
			    " is damaged (%s); 'dcmfsctl verify %s' names the damage", what, id, off,
			    strerror((int)-got), s->dir);
		if (got <= 0)
			die("cannot read '%s' at offset %" PRIu64 ": %s", what, off, strerror(got ? (int)-got : EIO));
		for (int64_t w = 0; w < got;) {
			ssize_t k = write(fd, buf + w, (size_t)(got - w));
			if (k < 0)
				die("cannot write '%s': %s", what, strerror(errno));
			w += k;
		}
		off += (uint64_t)got;
	}
	instance_close(h);
}

/* Write to path atomically: a temporary name, fsync (unless the caller
 * syncs the whole batch at the end), rename. */
static void write_instance_file(struct store *s, struct catalog *cat, struct codec_ctx *ctx,
				int64_t id, const char *path, uint8_t *buf, size_t bufsz, int sync)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.dcmfs-tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create '%s': %s", tmp, strerror(errno));
	write_instance(s, cat, ctx, id, fd, path, buf, bufsz);
	if ((sync && fsync(fd) < 0) || close(fd) < 0 || rename(tmp, path) < 0)
		die("cannot write '%s': %s", path, strerror(errno));
}

/* get --series: the files of a series are written by one thread per core,
 * each with its own catalogue connection and codec context. */
struct series_out {
	struct store *s;
	const char *dir;
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
	if (catalog_node(o->s->cat, CAT_INSTANCE, id, &o->files[o->n]) == 0)
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
		write_instance_file(o->s, cat, ctx, o->files[i].id, path, buf, bufsz, 0);
	}
	catalog_close(cat);
	codec_ctx_free(ctx);
	free(buf);
	return NULL;
}

static int cmd_get(int argc, char **argv)
{
	const char *out = NULL, *series = NULL;
	int version = 0, c;
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' }, { "version", required_argument, NULL, 'V' },
		{ "series", required_argument, NULL, 'S' }, { 0 } };
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'V')
			version = atoi(optarg);
		else if (c == 'S')
			series = optarg;
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
		int64_t ids[64];
		int n = catalog_find_ids(s->cat, CAT_SERIES, series, ids, 64);
		if (n <= 0)
			die("series '%s' is not in the store", series);
		if (mkdir(out, 0755) < 0 && errno != EEXIST)
			die("cannot create '%s': %s", out, strerror(errno));
		struct series_out o = { .s = s, .dir = out };
		pthread_mutex_init(&o.lock, NULL);
		double t0 = now_s();
		for (int i = 0; i < n && i < 64; i++)
			catalog_instances_under(s->cat, CAT_SERIES, ids[i], collect_file, &o);
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		int nth = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
		pthread_t th[16];
		for (int i = 0; i < nth; i++)
			pthread_create(&th[i], NULL, series_writer, &o);
		for (int i = 0; i < nth; i++)
			pthread_join(th[i], NULL);
		uint64_t bytes = 0;
		for (size_t i = 0; i < o.n; i++)
			bytes += o.files[i].size;
		free(o.files);
		int dfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || syncfs(dfd) < 0)
			die("cannot sync '%s': %s", out, strerror(errno));
		close(dfd);
		double el = now_s() - t0;
		char b[32];
		printf("wrote %zu files (%s) to %s in %.2f s, %.0f MB/s\n", o.n,
		       human(bytes, b, sizeof(b)), out, el, el > 0 ? (double)bytes / 1e6 / el : 0.0);
		store_close(s);
	} else {
		if (argc - optind != 2)
			usage_error("get needs STORE and SOPInstanceUID");
		struct store *s = open_store(argv[optind], 1);
		const char *uid = argv[optind + 1];
		struct cat_version v[64];
		int n = catalog_versions(s->cat, uid, v, 64);
		if (n <= 0)
			die("instance '%s' is not in the store", uid);
		int pick = n > 64 ? 63 : n - 1;
		if (version) {
			pick = -1;
			for (int i = 0; i < n && i < 64; i++)
				if ((int)v[i].version == version)
					pick = i;
			if (pick < 0)
				die("instance '%s' has no version %d (it has %d)", uid, version, n);
		}
		if (out)
			write_instance_file(s, s->cat, ctx, v[pick].instance_id, out, buf, bufsz, 1);
		else
			write_instance(s, s->cat, ctx, v[pick].instance_id, 1, "stdout", buf, bufsz);
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
	printf("%s\n", what);
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

static int cmd_verify(int argc, char **argv)
{
	if (argc != 2)
		usage_error("verify takes one STORE");
	struct store *s = open_store(argv[1], 1);
	struct verify_totals t;
	double t0 = now_s();
	int r = store_verify(s, on_problem, on_verify_progress, NULL, &t);
	if (progress_on)
		fputs("\r\033[K", stderr);
	store_close(s);
	if (r)
		die("verify could not finish: %s", strerror(-r));
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
		       " orphan blob files, %" PRId64 " temporary files)\n", reclaim,
		       t.unreferenced_blobs, t.orphan_files, t.temporary_files);
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

static int cmd_reindex(int argc, char **argv)
{
	if (argc != 2)
		usage_error("reindex takes one STORE");
	struct reindex_totals t;
	char err[512];
	int r = store_reindex(argv[1], on_problem, NULL, &t, err, sizeof(err));
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

static const struct command {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "init", cmd_init }, { "import", cmd_import }, { "stats", cmd_stats },
	{ "ls", cmd_ls }, { "get", cmd_get }, { "verify", cmd_verify },
	{ "reindex", cmd_reindex }, { "rm", cmd_rm }, { "gc", cmd_gc },
};

int main(int argc, char **argv)
{
	progress_on = isatty(2);
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_ERROR;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return finish(0);
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (!strcmp(argv[1], commands[i].name)) {
			if (want_help(argc - 1, argv + 1)) {
				fputs(usage_text, stdout);
				return finish(0);
			}
			return commands[i].fn(argc - 1, argv + 1);
		}
	usage_error("unknown command '%s'", argv[1]);
}
