/*
 * plan.c - what dcmfs-gencorpus writes: patients, their studies, series and
 * instances, and the duplicates of some studies (gencorpus.h; the rules are
 * in the usage text, main.c).
 *
 * Each patient draws from its own stream keyed by (seed, patient number),
 * and every UID from one stream keyed by the seed, so the same options give
 * the same bytes.  The order of the draws is part of the output: changing it
 * changes every corpus made from a seed.  Some draws are arguments of one
 * snprintf() call (dates, times), so their order is the compiler's (C leaves
 * it unspecified); they are kept so, because spelling an order out could
 * change the corpora existing seeds make.
 */
#include "gencorpus.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli.h"

static const char *const kind_dir[K_N] = { "", "dup-resend/", "dup-dept2/", "dup-corrected/", "dup-merged/" };

static const char *const family[] = {
	"SMITH", "MUELLER", "GARCIA", "NGUYEN", "KOWALSKI", "ROSSI", "DUBOIS", "JANSEN",
	"OKAFOR", "TANAKA", "KIM", "SILVA", "IVANOV", "NIELSEN", "BERG", "HOFFMANN",
	"LOPEZ", "MARTIN", "SCHMIDT", "WAGNER", "BECKER", "FISCHER", "NOVAK", "HORVATH",
	"LARSEN", "MOREAU", "COSTA", "PEREIRA", "OBRIEN", "MURPHY", "SINGH", "PATEL",
};
static const char *const given_f[] = {
	"ANNA", "MARIA", "SOFIA", "EMMA", "LEA", "CLARA", "JULIA", "IDA", "NORA", "ELIN",
	"HANNA", "AIKO", "MEI", "ZOE", "INES", "PETRA",
};
static const char *const given_m[] = {
	"JOHN", "PETER", "LUCA", "JONAS", "NOAH", "ELIAS", "PAUL", "FELIX", "HUGO", "LIAM",
	"OSKAR", "KENJI", "MATEO", "ARJUN", "IVAN", "TOMAS",
};

/* mkdir -p; dies on failure.  path is changed and restored. */
void plan_make_dirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			if (mkdir(path, 0755) && errno != EEXIST)
				die("mkdir %s: %s", path, strerror(errno));
			*p = '/';
		}
	}
	if (mkdir(path, 0755) && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
}

static void series_dir(const struct gencorpus *g, char *out, size_t len, int kind,
		       const char *pid, const char *study, const char *series)
{
	snprintf(out, len, "%s/%spatients/%s/studies/%s/%s", g->outdir, kind_dir[kind], pid, study, series);
}

static void write_file(const char *dir, const char *sop, const struct obuf *o)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s.dcm", dir, sop);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create %s: %s", path, strerror(errno));
	size_t n = 0;
	while (n < o->n) {
		ssize_t w = write(fd, o->p + n, o->n - n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write %s: %s", path, strerror(errno));
		}
		n += (size_t)w;
	}
	if (close(fd))
		die("close %s: %s", path, strerror(errno));
}

/* One patient's identity, and the variants its duplicates carry. */
struct patient {
	char pid[16], pid2[16];         /* pid2: the merged duplicate's */
	char name[64], name2[64];       /* name2: the corrected duplicate's */
	char birth[16];
	const char *sex;
};

static void draw_patient(struct rng *r, long p, struct patient *pt)
{
	snprintf(pt->pid, sizeof(pt->pid), "%08llu",
		 (unsigned long long)(((uint64_t)p + 1) * 2654435761ULL % 100000000ULL));
	snprintf(pt->pid2, sizeof(pt->pid2), "X%07llu", (unsigned long long)(rng_next(r) % 10000000ULL));
	int female = (int)(rng_next(r) & 1);
	const char *fam = family[rng_next(r) % (sizeof(family) / sizeof(family[0]))];
	const char *giv = female ? given_f[rng_next(r) % 16] : given_m[rng_next(r) % 16];
	const char *giv2 = female ? given_f[rng_next(r) % 16] : given_m[rng_next(r) % 16];
	snprintf(pt->name, sizeof(pt->name), "%s^%s", fam, giv);
	/* a correction: another given name, or a middle name added */
	if (!strcmp(giv, giv2))
		snprintf(pt->name2, sizeof(pt->name2), "%s^%s^%c", fam, giv, 'A' + (int)(rng_next(r) % 26));
	else
		snprintf(pt->name2, sizeof(pt->name2), "%s^%s", fam, giv2);
	int by = rng_range(r, 1930, 2015);
	snprintf(pt->birth, sizeof(pt->birth), "%04d%02d%02d", by, rng_range(r, 1, 12), rng_range(r, 1, 28));
	pt->sex = female ? "F" : "M";
}

/* A modality class with seeds, drawn by weight. */
static int draw_modality_class(const struct gencorpus *g, struct rng *r)
{
	int wsum = 0;
	for (int m = 0; m < M_N; m++)
		wsum += g->nsingles[m] ? modality_class_weight[m] : 0;
	int w = rng_range(r, 0, wsum - 1), mc = 0;
	for (int m = 0; m < M_N; m++) {
		if (!g->nsingles[m])
			continue;
		if (w < modality_class_weight[m]) {
			mc = m;
			break;
		}
		w -= modality_class_weight[m];
	}
	return mc;
}

/* One study's attributes shared by its series. */
struct study {
	char uid[DCM_UI_MAX], date[16], time[16], accession[20], id[16];
	int modality_class;
	int dup_kind;                   /* K_ORIG: not duplicated */
};

/* Where generation stands: the buffers reused for every instance, and the
 * counts that end it. */
struct progress {
	struct obuf orig, dup;
	uint32_t serial;
	uint64_t total_instances;
	int stop;                       /* --max-instances reached */
};

static void write_series(struct gencorpus *g, struct progress *pr, struct rng *r,
			 const struct patient *pt, const struct study *st, int se)
{
	char series_uid[DCM_UI_MAX], for_uid[DCM_UI_MAX], dir[1024], ddir[1024];
	int mc = st->modality_class, dupk = st->dup_kind;
	uid_make(&g->uids, series_uid, sizeof(series_uid));
	uid_make(&g->uids, for_uid, sizeof(for_uid));
	int n;
	struct series_seed *ss = NULL;
	switch (mc) {
	case M_CT: n = rng_range(r, 100, 300); ss = seeds_pick_series(g, r, mc); break;
	case M_MR: n = rng_range(r, 20, 200); ss = seeds_pick_series(g, r, mc); break;
	case M_US: n = rng_range(r, 1, 3); break;
	default: n = rng_range(r, 1, 4); break;
	}
	series_dir(g, dir, sizeof(dir), K_ORIG, pt->pid, st->uid, series_uid);
	plan_make_dirs(dir);
	if (dupk) {
		series_dir(g, ddir, sizeof(ddir), dupk, dupk == K_MERGED ? pt->pid2 : pt->pid, st->uid, series_uid);
		plan_make_dirs(ddir);
	}
	g->counts[K_ORIG].series++;
	if (dupk)
		g->counts[dupk].series++;
	for (int i = 0; i < n; i++) {
		if (g->max_instances && pr->total_instances >= (uint64_t)g->max_instances) {
			pr->stop = 1;
			break;
		}
		const struct seed *s = ss ? ss->slices[i % ss->n] : seeds_pick_single(g, r, mc, mc == M_US);
		char sop[DCM_UI_MAX];
		uid_make(&g->uids, sop, sizeof(sop));
		struct inst in = {
			.pid = pt->pid, .name = pt->name, .sex = pt->sex, .birth = pt->birth,
			.study_uid = st->uid, .series_uid = series_uid, .sop_uid = sop,
			.for_uid = for_uid, .date = st->date, .time = st->time, .accession = st->accession,
			.study_id = st->id, .series_no = se + 1, .instance_no = i + 1,
			.serial = g->exact_pixels ? 0 : ++pr->serial,
		};
		rewrite_instance(&pr->orig, s, &in);
		write_file(dir, sop, &pr->orig);
		uint64_t pixel_bytes = s->pixel_value_length;
		g->counts[K_ORIG].instances++;
		g->counts[K_ORIG].bytes += pr->orig.n;
		g->counts[K_ORIG].pixel_bytes += pixel_bytes;
		g->modality_instances[mc]++;
		g->modality_bytes[mc] += pr->orig.n;
		pr->total_instances++;
		if (dupk) {
			const struct obuf *written = &pr->orig;
			if (dupk != K_RESEND) {
				struct inst d = in;
				if (dupk == K_DEPT2)
					d.dept2 = 1;
				else if (dupk == K_CORRECTED)
					d.name = pt->name2;
				else
					d.pid = pt->pid2;
				rewrite_instance(&pr->dup, s, &d);
				written = &pr->dup;
			}
			write_file(ddir, sop, written);
			g->counts[dupk].instances++;
			g->counts[dupk].bytes += written->n;
			g->counts[dupk].pixel_bytes += pixel_bytes;
		}
	}
}

static void write_study(struct gencorpus *g, struct progress *pr, struct rng *r,
			const struct patient *pt)
{
	struct study st;
	st.modality_class = draw_modality_class(g, r);
	uid_make(&g->uids, st.uid, sizeof(st.uid));
	int y = rng_range(r, 2008, 2024);
	snprintf(st.date, sizeof(st.date), "%04d%02d%02d", y, rng_range(r, 1, 12), rng_range(r, 1, 28));
	snprintf(st.time, sizeof(st.time), "%02d%02d%02d", rng_range(r, 7, 19), rng_range(r, 0, 59),
		 rng_range(r, 0, 59));
	snprintf(st.accession, sizeof(st.accession), "A%09llu", (unsigned long long)(rng_next(r) % 1000000000ULL));
	snprintf(st.id, sizeof(st.id), "%d", rng_range(r, 1, 9999));
	st.dup_kind = K_ORIG;
	if (rng_unit(r) < g->dup_rate)
		st.dup_kind = K_RESEND + (int)(rng_next(r) % 4);
	int nseries = st.modality_class == M_MR ? rng_range(r, 1, 3) : 1;
	g->counts[K_ORIG].studies++;
	if (st.dup_kind)
		g->counts[st.dup_kind].studies++;
	for (int se = 0; se < nseries && !pr->stop; se++)
		write_series(g, pr, r, pt, &st, se);
}

void plan_write_corpus(struct gencorpus *g)
{
	struct progress pr = { 0 };
	g->uids.s = rng_mix(g->seed, 0x55494453ULL);
	for (long p = 0; p < g->patients && !pr.stop; p++) {
		struct rng r = { rng_mix(g->seed, (uint64_t)p + 1) };
		struct patient pt;
		draw_patient(&r, p, &pt);
		for (long st_i = 0; st_i < g->studies_per_patient && !pr.stop; st_i++)
			write_study(g, &pr, &r, &pt);
		if (!g->quiet && isatty(2))
			fprintf(stderr, "\rdcmfs-gencorpus: %ld/%ld patients, %" PRIu64 " instances", p + 1,
				g->patients, pr.total_instances);
	}
	if (!g->quiet && isatty(2))
		fputc('\n', stderr);
	free(pr.orig.p);
	free(pr.dup.p);
}
