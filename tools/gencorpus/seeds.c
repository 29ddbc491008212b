/*
 * seeds.c - the seed images of dcmfs-gencorpus (gencorpus.h).
 *
 * A seed is a file dcm_scan() accepts, with a preamble and File Meta,
 * explicit or implicit VR little endian, and top-level Pixel Data.  It is
 * cut with the scanner's own iterator (dicom.h) into its meta elements and
 * its top-level dataset elements before Pixel Data, so that the rewriter
 * copies every other byte as it is.
 */
#include "gencorpus.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli.h"

const char *const modality_class_name[M_N] = { "CT", "MR", "CR", "US", "MG" };
const int modality_class_weight[M_N] = { 35, 30, 15, 10, 10 };

/* The whole regular file at path (caller frees), or NULL. */
static uint8_t *read_whole_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return NULL;
	}
	uint8_t *b = xmalloc((size_t)st.st_size);
	size_t n = 0;
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
		if (r <= 0) {
			free(b);
			close(fd);
			return NULL;
		}
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return b;
}

static void seed_free(struct seed *s)
{
	free(s->buf);
	free(s->meta);
	free(s->dataset);
	free(s->path);
	free(s);
}

/* Append e to the array *a of *n elements and *cap slots. */
static void elements_add(struct dcm_element **a, int *n, int *cap,
			 const struct dcm_element *e)
{
	if (*n == *cap)
		*a = xrealloc(*a, sizeof(**a) * (size_t)(*cap *= 2));
	(*a)[(*n)++] = *e;
}

/* Cut s->buf into meta and dataset elements; NULL, or why it cannot be. */
static const char *seed_cut(struct seed *s, size_t pixel_element_offset)
{
	struct dcm_iter it;
	struct dcm_element e;
	int cap = 16;

	s->meta = xmalloc(sizeof(struct dcm_element) * (size_t)cap);
	dcm_iter_init(&it, s->buf, s->len, 132, 1, 0);
	while ((dcm_iter_peek_tag(&it) >> 16) == 0x0002) {
		if (dcm_iter_next(&it, &e))
			return "bad File Meta";
		elements_add(&s->meta, &s->nmeta, &cap, &e);
	}
	s->dataset_start = it.pos;
	dcm_iter_init(&it, s->buf, s->len, s->dataset_start, s->explicit_vr, 0);
	cap = 64;
	s->dataset = xmalloc(sizeof(struct dcm_element) * (size_t)cap);
	uint32_t last = 0;
	for (;;) {
		if (it.len - it.pos < 4)
			return "no top-level Pixel Data found by the walker";
		uint32_t tag = dcm_iter_peek_tag(&it);
		if (tag == 0x7FE00010u)
			break;
		if (tag < last || tag >> 16 == 0xFFFE)
			return "elements out of order";
		last = tag;
		if (dcm_iter_next(&it, &e))
			return "element walk failed";
		elements_add(&s->dataset, &s->ndataset, &cap, &e);
		uint16_t group = (uint16_t)(tag >> 16);
		if ((group & 1) && (s->nused == 0 || s->used_private_groups[s->nused - 1] != group) &&
		    s->nused < 64)
			s->used_private_groups[s->nused++] = group;
	}
	s->pixel_offset = it.pos;
	if (it.pos != pixel_element_offset)
		return "walker and dcm_scan disagree on Pixel Data";
	return NULL;
}

/* Load and cut one seed; NULL (with a reason in why) when unusable. */
static struct seed *seed_load(const char *path, const char **why)
{
	size_t len;
	uint8_t *b = read_whole_file(path, &len);
	if (!b) {
		*why = "unreadable";
		return NULL;
	}
	struct dcm_info info;
	char err[256];
	*why = NULL;
	if (dcm_scan(b, len, &info, err, sizeof(err)) != DCM_OK)
		*why = "not accepted by dcm_scan";
	else if (!info.has_meta || !info.has_preamble)
		*why = "no preamble or File Meta";
	else if (info.syntax != DCM_SYNTAX_EXPLICIT_LE && info.syntax != DCM_SYNTAX_IMPLICIT_LE)
		*why = "not explicit/implicit VR little endian";
	else if (info.pixel_tag != 0x7FE00010u)
		*why = "no Pixel Data";
	if (*why) {
		free(b);
		return NULL;
	}
	struct seed *s = calloc(1, sizeof(*s));
	if (!s)
		die("out of memory");
	s->path = xstrdup(path);
	s->buf = b;
	s->len = len;
	s->explicit_vr = info.syntax == DCM_SYNTAX_EXPLICIT_LE;
	*why = seed_cut(s, info.pixel_element_offset);
	if (*why) {
		seed_free(s);
		return NULL;
	}
	s->pixel_native = !info.pixel_encapsulated;
	s->pixel_value_offset = info.pixel_value_offset;
	s->pixel_value_length = info.pixel_value_length;
	s->bits_allocated = info.bits_allocated;
	memcpy(s->modality, info.modality, sizeof(s->modality) - 1);
	s->modality[sizeof(s->modality) - 1] = 0;
	memcpy(s->series_uid, info.series_uid, sizeof(s->series_uid));
	s->instance_number = info.instance_number;
	s->frames = info.number_of_frames;
	s->rows = info.rows;
	s->cols = info.columns;
	return s;
}

/* --small keeps single-frame native images of 64x64 to 128x128. */
static int small_enough(const struct seed *s)
{
	return s->frames == 1 && s->rows >= 64 && s->cols >= 64 &&
		s->rows <= 128 && s->cols <= 128 && s->pixel_native;
}

void seeds_find(struct gencorpus *g, const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return;
	for (int i = 0; i < n; i++) {
		const char *nm = ents[i]->d_name;
		if (nm[0] == '.' || !strcmp(nm, "malformed") || !strcmp(nm, "DICOMDIR") ||
		    strstr(nm, ".md") || strstr(nm, ".tsv")) {
			free(ents[i]);
			continue;
		}
		size_t pl = strlen(dir) + strlen(nm) + 2;
		char *path = xmalloc(pl);
		snprintf(path, pl, "%s/%s", dir, nm);
		struct stat st;
		if (stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				seeds_find(g, path);
			} else if (S_ISREG(st.st_mode)) {
				const char *why;
				struct seed *s = seed_load(path, &why);
				if (s && g->small && !small_enough(s)) {
					seed_free(s);
					s = NULL;
				}
				if (s) {
					if (g->nseeds == g->capseeds)
						g->seeds = xrealloc(g->seeds, sizeof(*g->seeds) *
								    (size_t)(g->capseeds = g->capseeds ? g->capseeds * 2 : 64));
					g->seeds[g->nseeds++] = s;
				}
			}
		}
		free(path);
		free(ents[i]);
	}
	free(ents);
}

static int cmp_instance_number(const void *a, const void *b)
{
	const struct seed *x = *(const struct seed *const *)a, *y = *(const struct seed *const *)b;
	if (x->instance_number != y->instance_number)
		return (x->instance_number > y->instance_number) - (x->instance_number < y->instance_number);
	return strcmp(x->path, y->path);
}

static int modality_class_of(const char *mod)
{
	if (!strcmp(mod, "CT")) return M_CT;
	if (!strcmp(mod, "MR")) return M_MR;
	if (!strcmp(mod, "CR") || !strcmp(mod, "DX") || !strcmp(mod, "RG")) return M_CR;
	if (!strcmp(mod, "US")) return M_US;
	if (!strcmp(mod, "MG")) return M_MG;
	return -1;
}

void seeds_classify(struct gencorpus *g)
{
	for (int i = 0; i < g->nseeds; i++) {
		struct seed *seed = g->seeds[i];
		int c = modality_class_of(seed->modality);
		if (c < 0)
			continue;
		g->singles[c] = xrealloc(g->singles[c], sizeof(struct seed *) * (size_t)(g->nsingles[c] + 1));
		g->singles[c][g->nsingles[c]++] = seed;
		/* group by SeriesInstanceUID within the class */
		struct series_seed *all = g->series_seeds[c];
		int k;
		for (k = 0; k < g->nseries_seeds[c]; k++)
			if (!strcmp(all[k].slices[0]->series_uid, seed->series_uid))
				break;
		if (k == g->nseries_seeds[c]) {
			all = g->series_seeds[c] = xrealloc(all, sizeof(struct series_seed) * (size_t)(k + 1));
			memset(&all[k], 0, sizeof(struct series_seed));
			snprintf(all[k].modality, sizeof(all[k].modality), "%s", seed->modality);
			g->nseries_seeds[c]++;
		}
		struct series_seed *ss = &all[k];
		ss->slices = xrealloc(ss->slices, sizeof(struct seed *) * (size_t)(ss->n + 1));
		ss->slices[ss->n++] = seed;
	}
	for (int c = 0; c < M_N; c++)
		for (int k = 0; k < g->nseries_seeds[c]; k++)
			qsort(g->series_seeds[c][k].slices, (size_t)g->series_seeds[c][k].n,
			      sizeof(struct seed *), cmp_instance_number);
}

struct series_seed *seeds_pick_series(struct gencorpus *g, struct rng *r, int c)
{
	struct series_seed *all = g->series_seeds[c];
	int n = g->nseries_seeds[c], big = 0;
	for (int k = 0; k < n; k++)
		big += all[k].n >= 10;
	if (big) {
		int want = rng_range(r, 0, big - 1);
		for (int k = 0; k < n; k++)
			if (all[k].n >= 10 && want-- == 0)
				return &all[k];
	}
	return &all[rng_range(r, 0, n - 1)];
}

struct seed *seeds_pick_single(struct gencorpus *g, struct rng *r, int c,
			       int prefer_multiframe)
{
	struct seed **all = g->singles[c];
	int n = g->nsingles[c];
	if (prefer_multiframe) {
		int multiframe = 0;
		for (int i = 0; i < n; i++)
			multiframe += all[i]->frames > 1;
		if (multiframe && rng_unit(r) < 0.7) {
			int want = rng_range(r, 0, multiframe - 1);
			for (int i = 0; i < n; i++)
				if (all[i]->frames > 1 && want-- == 0)
					return all[i];
		}
	}
	return all[rng_range(r, 0, n - 1)];
}

void seeds_list(const struct gencorpus *g)
{
	printf("seeds from %s:\n", g->seeds_dir);
	for (int m = 0; m < M_N; m++)
		for (int k = 0; k < g->nseries_seeds[m]; k++) {
			const struct series_seed *ss = &g->series_seeds[m][k];
			printf("  %-3s %4d slice(s) %4dx%-4d x%d frames  %s%s\n", modality_class_name[m], ss->n,
			       ss->slices[0]->cols, ss->slices[0]->rows, ss->slices[0]->frames,
			       ss->slices[0]->path, ss->n > 1 ? " ..." : "");
		}
}
