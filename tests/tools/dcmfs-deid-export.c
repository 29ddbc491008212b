/*
 * dcmfs-deid-export - a test program for index/deid.h: writes what a
 * de-identified share of the whole store shows, through deid_node_name and
 * deid_file_*, next to the original files, so that a test can hold the two
 * against each other without a mount.
 *
 *   dcmfs-deid-export STORE OUT [--share NAME]
 *   dcmfs-deid-export STORE OUT [--secret HEX64] [--name NAME]
 *                     [--shift-dates] [--allow-burned-in]
 *
 * --share: the share defined in the store (its members only, share_load);
 * else a de-identified share of everything with this secret.
 *
 * OUT/deid/<patient>/<study>/<series>/<file>  the de-identified tree
 * OUT/orig/<instance id>.dcm                  each original file
 * OUT/map.tsv  one line per instance: id, "kept" or "left", the original
 *              patient/study/series/file path, then the new relative path
 *              (kept) or why it was left out, then the size deid_file_stat
 *              gave (kept)
 * Stdout: the time each instance took to stat on a cold cache (mean and
 * max, in microseconds), then again on the warm cache; the read speed of
 * the originals (instance_read) and of the de-identified files (open and
 * deid_file_read, in reads of 128 KiB + 7 bytes), in MB/s.
 * Exit 0, or 1 when an instance failed (-EIO, a size that disagrees).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "codec.h"
#include "deid.h"
#include "instance.h"
#include "store.h"

struct node {
	int64_t id, parent;
	char name[256];
};

struct list {
	struct node *v;
	size_t n, cap;
};

static int collect(void *arg, const struct cat_node *n)
{
	struct list *l = arg;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			exit(2);
	}
	l->v[l->n].id = n->id;
	l->v[l->n].parent = n->parent;
	snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", n->name);
	l->n++;
	return 0;
}

static void mkdirs(const char *path)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s", path);
	for (char *c = p + 1; *c; c++)
		if (*c == '/') {
			*c = 0;
			mkdir(p, 0755);
			*c = '/';
		}
	mkdir(p, 0755);
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: dcmfs-deid-export STORE OUT [--secret HEX64] [--name NAME]"
				" [--shift-dates] [--allow-burned-in]\n");
		return 2;
	}
	struct share sh, *loaded = NULL;
	memset(&sh, 0, sizeof(sh));
	snprintf(sh.name, sizeof(sh.name), "export");
	sh.all = 1;
	sh.deidentify = 1;
	for (int i = 0; i < 32; i++)
		sh.secret[i] = (uint8_t)(i * 37 + 11);
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--shift-dates")) {
			sh.shift_dates = 1;
		} else if (!strcmp(argv[i], "--allow-burned-in")) {
			sh.allow_burned_in = 1;
		} else if (!strcmp(argv[i], "--share") && i + 1 < argc) {
			char e[256];
			if (share_load(argv[1], argv[++i], &loaded, e, sizeof(e))) {
				fprintf(stderr, "dcmfs-deid-export: %s\n", e);
				return 2;
			}
			sh = *loaded;
		} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			snprintf(sh.name, sizeof(sh.name), "%s", argv[++i]);
		} else if (!strcmp(argv[i], "--secret") && i + 1 < argc && strlen(argv[i + 1]) == 64) {
			const char *h = argv[++i];
			for (int k = 0; k < 32; k++) {
				int a = hexval(h[2 * k]), b = hexval(h[2 * k + 1]);
				if (a < 0 || b < 0) {
					fprintf(stderr, "dcmfs-deid-export: --secret wants 64 hex digits\n");
					return 2;
				}
				sh.secret[k] = (uint8_t)(a << 4 | b);
			}
		} else {
			fprintf(stderr, "dcmfs-deid-export: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	struct store *s;
	char err[512];
	if (store_open(argv[1], 1, &s, err, sizeof(err))) {
		fprintf(stderr, "dcmfs-deid-export: %s\n", err);
		return 2;
	}
	struct catalog *cat = store_main_catalog(s);
	struct codec_ctx *ctx = codec_ctx_new();
	char out[4096], mapp[4200];
	snprintf(out, sizeof(out), "%s", argv[2]);
	mkdirs(out);
	snprintf(mapp, sizeof(mapp), "%s/orig", out);
	mkdirs(mapp);
	snprintf(mapp, sizeof(mapp), "%s/map.tsv", out);
	FILE *map = fopen(mapp, "w");
	if (!map || !ctx) {
		fprintf(stderr, "dcmfs-deid-export: cannot write %s\n", mapp);
		return 2;
	}
	struct list pats = { 0 }, studies = { 0 }, series = { 0 }, insts = { 0 };
	catalog_children(cat, 0, 0, collect, &pats);
	for (size_t i = 0; i < pats.n; i++)
		catalog_children(cat, CAT_PATIENT, pats.v[i].id, collect, &studies);
	for (size_t i = 0; i < studies.n; i++)
		catalog_children(cat, CAT_STUDY, studies.v[i].id, collect, &series);
	for (size_t i = 0; i < series.n; i++)
		if (!loaded || share_series_matches(cat, loaded, series.v[i].id) == 1)
			catalog_children(cat, CAT_SERIES, series.v[i].id, collect, &insts);
	int bad = 0;
	double cold_sum = 0, cold_max = 0, warm_sum = 0, warm_max = 0;
	double orig_us = 0, deid_us = 0, open_us = 0;
	uint64_t orig_bytes = 0, deid_bytes = 0;
	size_t bufcap = 1 << 20;
	uint8_t *buf = malloc(bufcap);
	for (size_t i = 0; i < insts.n; i++) {
		const struct node *in = &insts.v[i];
		const struct node *se = NULL, *st = NULL, *pa = NULL;
		for (size_t k = 0; k < series.n && !se; k++)
			if (series.v[k].id == in->parent)
				se = &series.v[k];
		for (size_t k = 0; se && k < studies.n && !st; k++)
			if (studies.v[k].id == se->parent)
				st = &studies.v[k];
		for (size_t k = 0; st && k < pats.n && !pa; k++)
			if (pats.v[k].id == st->parent)
				pa = &pats.v[k];
		if (!pa) {
			fprintf(stderr, "instance %lld: no folders\n", (long long)in->id);
			bad = 1;
			continue;
		}
		uint64_t size = 0;
		const char *why = NULL;
		double t0 = now_us();
		int rc = deid_file_stat(s, cat, &sh, in->id, &size, &why);
		double t1 = now_us();
		int rc2 = deid_file_stat(s, cat, &sh, in->id, &size, &why);
		double t2 = now_us();
		cold_sum += t1 - t0;
		warm_sum += t2 - t1;
		if (t1 - t0 > cold_max)
			cold_max = t1 - t0;
		if (t2 - t1 > warm_max)
			warm_max = t2 - t1;
		if (rc < 0 || rc != rc2) {
			fprintf(stderr, "instance %lld: deid_file_stat: %s\n", (long long)in->id,
				strerror(-rc));
			bad = 1;
			continue;
		}
		/* The original, for the test to compare with. */
		struct instance *oi;
		char w[256];
		if (instance_open(s, cat, in->id, &oi, w, sizeof(w)) == 0) {
			char op[4200];
			snprintf(op, sizeof(op), "%s/orig/%lld.dcm", out, (long long)in->id);
			FILE *o = fopen(op, "wb");
			uint64_t sz = instance_size(oi);
			for (uint64_t off = 0; o && off < sz;) {
				double r0 = now_us();
				int64_t r = instance_read(oi, ctx, off, buf, 131072);
				orig_us += now_us() - r0;
				if (r <= 0)
					break;
				orig_bytes += (uint64_t)r;
				fwrite(buf, 1, (size_t)r, o);
				off += (uint64_t)r;
			}
			if (o)
				fclose(o);
			instance_close(oi);
		}
		if (rc == DEID_LEFT_OUT) {
			fprintf(map, "%lld\tleft\t%s/%s/%s/%s\t%s\n", (long long)in->id, pa->name,
				st->name, se->name, in->name, why);
			continue;
		}
		char np[64], ns[64], nse[64], nf[80];
		if (deid_node_name(&sh, cat, CAT_PATIENT, pa->id, np, sizeof(np)) ||
		    deid_node_name(&sh, cat, CAT_STUDY, st->id, ns, sizeof(ns)) ||
		    deid_node_name(&sh, cat, CAT_SERIES, se->id, nse, sizeof(nse)) ||
		    deid_node_name(&sh, cat, CAT_INSTANCE, in->id, nf, sizeof(nf))) {
			fprintf(stderr, "instance %lld: deid_node_name failed\n", (long long)in->id);
			bad = 1;
			continue;
		}
		char dir[4400], fp[4500];
		snprintf(dir, sizeof(dir), "%s/deid/%s/%s/%s", out, np, ns, nse);
		mkdirs(dir);
		snprintf(fp, sizeof(fp), "%s/%s", dir, nf);
		struct deid_file *f;
		double o0 = now_us();
		rc = deid_file_open(s, cat, &sh, in->id, &f, &why);
		open_us += now_us() - o0;
		if (rc) {
			fprintf(stderr, "instance %lld: deid_file_open: %d\n", (long long)in->id, rc);
			bad = 1;
			continue;
		}
		if (deid_file_size(f) != size) {
			fprintf(stderr, "instance %lld: stat size %llu, open size %llu\n",
				(long long)in->id, (unsigned long long)size,
				(unsigned long long)deid_file_size(f));
			bad = 1;
		}
		FILE *o = fopen(fp, "wb");
		/* Odd-sized reads at odd offsets: the header/pixel seam is crossed
		 * at every alignment. */
		uint64_t off = 0, total = deid_file_size(f);
		size_t step = 131072 + 7;   /* a FUSE read, off any alignment */
		while (o && off < total) {
			double r0 = now_us();
			int64_t r = deid_file_read(f, ctx, off, buf, step);
			deid_us += now_us() - r0;
			if (r > 0)
				deid_bytes += (uint64_t)r;
			if (r <= 0) {
				fprintf(stderr, "instance %lld: read at %llu: %lld\n", (long long)in->id,
					(unsigned long long)off, (long long)r);
				bad = 1;
				break;
			}
			fwrite(buf, 1, (size_t)r, o);
			off += (uint64_t)r;
		}
		if (o)
			fclose(o);
		deid_file_close(f);
		fprintf(map, "%lld\tkept\t%s/%s/%s/%s\t%s/%s/%s/%s\t%llu\n", (long long)in->id,
			pa->name, st->name, se->name, in->name, np, ns, nse, nf,
			(unsigned long long)size);
	}
	fclose(map);
	if (insts.n)
		printf("instances %zu stat cold mean %.0f us max %.0f us; warm mean %.0f us max %.0f us\n",
		       insts.n, cold_sum / insts.n, cold_max, warm_sum / insts.n, warm_max);
	if (orig_us > 0 && deid_us > 0)
		printf("read: originals %.1f MB/s, de-identified %.1f MB/s (opens %.0f us each)\n",
		       orig_bytes / orig_us, deid_bytes / (deid_us + open_us),
		       open_us / (insts.n ? insts.n : 1));
	free(buf);
	free(pats.v);
	free(studies.v);
	free(series.v);
	free(insts.v);
	codec_ctx_free(ctx);
	share_free(loaded);
	store_close(s);
	return bad;
}
