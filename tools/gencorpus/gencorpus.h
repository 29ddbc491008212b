/*
 * gencorpus.h - the parts of dcmfs-gencorpus and the one state they share.
 *
 * The program (usage text in main.c) writes a deterministic DICOM archive
 * made from real seed images:
 *   rng.c      the splitmix64 stream every random choice is drawn from, and
 *              the 2.25.<UUID> UIDs drawn from it
 *   seeds.c    finding seed images, cutting each into the elements the
 *              rewriter needs (with the scanner's iterator, dicom.h), and
 *              choosing seeds for a series or an image
 *   rewrite.c  one instance: a seed with its identifying attributes
 *              replaced or inserted, and the pixel tweak
 *   plan.c     patients, studies, series and instances, and their
 *              duplicates, written under OUT
 *   report.c   the counts printed at the end
 *   wsi.c      --wsi: whole-slide image pyramids (native and JPEG tiles)
 * Everything mutable lives in struct gencorpus, made once by main() and
 * passed to every part; nothing here is global.  Same options and seed,
 * same bytes.
 */
#ifndef DCMFS_GENCORPUS_H
#define DCMFS_GENCORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "dicom.h"

/* ---- rng.c ---- */

/* splitmix64: small, fast, and the same everywhere. */
struct rng {
	uint64_t s;
};

uint64_t rng_next(struct rng *r);
/* A value derived from two, for keying independent streams. */
uint64_t rng_mix(uint64_t a, uint64_t b);
/* Uniform in [lo, hi]. */
int rng_range(struct rng *r, int lo, int hi);
/* Uniform in [0, 1). */
double rng_unit(struct rng *r);
/* Write 2.25.<decimal of a version-4-format 128-bit number drawn from r>
 * (at most 44 characters) into out[0..outlen). */
void uid_make(struct rng *r, char *out, size_t outlen);

/* ---- seeds.c ---- */

/* One seed image, read whole and cut where the rewriter needs it. */
struct seed {
	char *path;
	uint8_t *buf;
	size_t len;
	int explicit_vr;
	struct dcm_element *meta;       /* group 0002 elements */
	int nmeta;
	struct dcm_element *dataset;    /* top-level elements before Pixel Data */
	int ndataset;
	size_t dataset_start;
	size_t pixel_offset;            /* the Pixel Data element */
	int pixel_native;
	size_t pixel_value_offset, pixel_value_length;
	int bits_allocated;
	char modality[16];
	char series_uid[DCM_UI_MAX];
	int instance_number;
	int frames, rows, cols;
	uint16_t used_private_groups[64];
	int nused;
};

/* Slices of one seed series, in InstanceNumber order. */
struct series_seed {
	char modality[16];
	struct seed **slices;
	int n;
};

/* Modality classes of studies. */
enum { M_CT, M_MR, M_CR, M_US, M_MG, M_N };
extern const char *const modality_class_name[M_N];
extern const int modality_class_weight[M_N];

/* ---- plan.c and report.c ---- */

enum { K_ORIG, K_RESEND, K_DEPT2, K_CORRECTED, K_MERGED, K_N };
extern const char *const kind_name[K_N];

struct counts {
	uint64_t studies, series, instances, bytes, pixel_bytes;
};

/* ---- the state ---- */

struct gencorpus {
	/* options */
	const char *outdir;             /* NULL with --list-seeds */
	uint64_t seed;
	long patients, studies_per_patient, max_instances;
	double dup_rate;
	int small, exact_pixels, quiet;
	/* --wsi */
	int wsi;
	int wsi_forms;                  /* bit 0 native, bit 1 jpeg */
	double wsi_mb;                  /* level-0 size wanted, MiB */
	long wsi_tiles;                 /* level-0 tiles wanted (0: from wsi_mb) */
	int wsi_levels, wsi_quality;
	const char *wsi_texture;        /* NULL: the corpus's RGB ultrasound */

	/* seeds found, and by modality class */
	const char *seeds_dir;          /* the folder they came from */
	struct seed **seeds;
	int nseeds, capseeds;
	struct series_seed *series_seeds[M_N];  /* seeds grouped by series */
	int nseries_seeds[M_N];
	struct seed **singles[M_N];             /* every seed of the class */
	int nsingles[M_N];

	/* generation */
	struct rng uids;                /* every UID comes from this stream */
	struct counts counts[K_N];
	uint64_t modality_instances[M_N], modality_bytes[M_N];
};

/* Load every usable seed under dir (recursively, in name order) into g. */
void seeds_find(struct gencorpus *g, const char *dir);
/* Group g's seeds by modality class and series; call once after finding. */
void seeds_classify(struct gencorpus *g);
/* A seed series of class c, preferring real series (>= 10 slices). */
struct series_seed *seeds_pick_series(struct gencorpus *g, struct rng *r, int c);
/* A seed image of class c, multi-frame ones with 70% when asked. */
struct seed *seeds_pick_single(struct gencorpus *g, struct rng *r, int c,
			       int prefer_multiframe);
/* Print the seeds found (--list-seeds). */
void seeds_list(const struct gencorpus *g);

/* ---- rewrite.c ---- */

/* A growing output buffer; the caller frees p. */
struct obuf {
	uint8_t *p;
	size_t n, cap;
};

/* What one instance looks like (everything but the seed's bytes). */
struct inst {
	const char *pid, *name, *sex, *birth;
	const char *study_uid, *series_uid, *sop_uid, *for_uid;
	const char *date, *time, *accession, *study_id;
	int series_no, instance_no;
	int dept2;              /* second-department header */
	uint32_t serial;        /* pixel tweak serial, 0 = none */
};

/* Append n bytes to o. */
void obuf_put(struct obuf *o, const void *src, size_t n);
/* Append a text element (explicit or implicit VR little endian), padded to
 * even length: UI and OB with NUL, others with a space. */
void put_text_element(struct obuf *o, uint32_t tag, const char *vr, const char *val,
		      int explicit_vr);

/* Write into o (replacing what it held) the seed rewritten as in. */
void rewrite_instance(struct obuf *o, const struct seed *s, const struct inst *in);

/* ---- plan.c, report.c ---- */

/* mkdir -p path; dies on failure.  path is changed and restored. */
void plan_make_dirs(char *path);
/* Write the whole corpus under g->outdir, counting it in g. */
void plan_write_corpus(struct gencorpus *g);
/* Print the counts on stdout; dies when stdout cannot be written. */
void report_print(const struct gencorpus *g);

/* ---- wsi.c ---- */

/* Write the whole-slide series asked for by the --wsi options into
 * g->outdir (which exists), one line per instance on stdout. */
void wsi_write(struct gencorpus *g);

#endif
