/*
 * dcmfs-gencorpus - write a realistic, deterministic DICOM archive made from
 * real seed images, with the duplicates that real archives receive.
 *
 *   dcmfs-gencorpus OUT --patients N [--studies-per-patient K] [--seed S]
 *                   [--dup-rate R] [--seeds DIR] [--small] [--max-instances M]
 *                   [--exact-pixels] [--list-seeds] [-q]
 *   dcmfs-gencorpus --wsi OUT [--wsi-form F] [--wsi-mb N | --wsi-tiles N]
 *                   [--wsi-levels L] [--wsi-quality Q] [--wsi-texture FILE]
 *                   [--seed S] [-q]
 *
 * See usage_text below for what is written and how, and gencorpus.h for the
 * parts.  This file reads the options, finds the seeds and runs the parts.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../cli.h"
#include "gencorpus.h"
#include "version.h"

const char cli_program_name[] = "dcmfs-gencorpus";

static const char usage_text[] =
"usage: dcmfs-gencorpus OUT --patients N [options]\n"
"       dcmfs-gencorpus --wsi OUT [wsi options]\n"
"\n"
"Writes a DICOM archive made from real seed images into OUT (created):\n"
"  OUT/patients/<PatientID>/studies/<StudyUID>/<SeriesUID>/<SOPUID>.dcm  originals\n"
"  OUT/dup-<kind>/patients/...                                         duplicates\n"
"The originals' tree has the same shape as a dcmfs mount, so OUT/patients is\n"
"the ext4 twin of a mounted store made from it.\n"
"\n"
"options:\n"
"  --patients N              patients to make (required)\n"
"  --studies-per-patient K   studies per patient (default 2)\n"
"  --seed S                  PRNG seed (default 1); same seed, same bytes\n"
"  --dup-rate R              fraction of studies that also arrive as a\n"
"                            duplicate, 0..1 (default 0.3)\n"
"  --seeds DIR               seed images (default: $DCMFS_CORPUS/real,\n"
"                            ../shared/corpus/real, /work/shared/corpus/real,\n"
"                            then pydicom's test files); with --small the\n"
"                            corpus root instead of real/\n"
"  --small                   use only small single-frame seeds (64x64 to\n"
"                            128x128, e.g. MR_small, CT_small): a big tree\n"
"                            of small files for metadata benchmarks\n"
"  --max-instances M         stop after M original instances (0: no limit)\n"
"  --exact-pixels            do not apply the pixel tweak (see below)\n"
"  --list-seeds              print the seeds found and exit\n"
"  -q                        no progress on stderr\n"
"\n"
"Studies: modality CT (35%), MR (30%), CR/DX (15%), US (10%), MG (10%);\n"
"modalities without seeds are skipped.  CT: one series of 100-300 slices;\n"
"MR: 1-3 series of 20-200 slices; CR/DX and MG: 1-4 images; US: 1-3\n"
"instances (multi-frame seeds preferred).  A series cycles through the slices\n"
"of one real seed series (in InstanceNumber order); single-image modalities\n"
"pick a seed per image.  Study dates are spread over 2008-2024.\n"
"\n"
"Rewritten attributes (replaced when present, the first seven inserted when\n"
"absent): PatientName, PatientID, StudyInstanceUID, SeriesInstanceUID,\n"
"SOPInstanceUID (and the meta MediaStorageSOPInstanceUID), StudyDate,\n"
"AccessionNumber, InstanceNumber, SeriesNumber; replaced only when present:\n"
"PatientBirthDate, PatientSex, SeriesDate, AcquisitionDate, ContentDate,\n"
"StudyTime, StudyID, FrameOfReferenceUID.  The meta group length is\n"
"recomputed.  Everything else, including nested sequences and private tags,\n"
"is the seed's bytes.\n"
"\n"
"UIDs: root 2.25 (ISO/IEC 9834-8 UUID-derived UIDs, which need no\n"
"registration): every UID is 2.25.<decimal of a version-4-format 128-bit\n"
"number> drawn from a splitmix64 stream keyed by --seed.  No registered\n"
"organisation root is used or implied.\n"
"\n"
"Pixel tweak (documented change, default on): every original instance gets\n"
"a serial s >= 1.  For native pixel data with 16 bits allocated, s mod 2^16\n"
"is added (mod 2^16) to the first stored pixel word and s >> 16 to the last;\n"
"for other native data the 4 bytes of s (LE) are added bytewise to the first\n"
"4 pixel bytes.  So no two original instances share pixel bytes by accident\n"
"(the real images are reused many times), while each image is still the\n"
"real one up to one or two corner samples.  Encapsulated pixel data is never\n"
"changed (identical fragments recur when a seed is reused).  Duplicates carry\n"
"exactly their original's pixel bytes.\n"
"\n"
"Duplicates (a study is duplicated with probability R; the kind is drawn\n"
"uniformly):\n"
"  resend     the same files again, byte for byte\n"
"  dept2      same UIDs and pixels, different meta header (SourceAET,\n"
"             ImplementationVersionName) and a private block (gggg,0010)\n"
"             creator 'DCMFS GENCORPUS DEPT2' + (gggg,1001) in the first odd\n"
"             group >= 0009 that the seed does not use\n"
"  corrected  same UIDs and pixels, a corrected PatientName\n"
"  merged     same study (UIDs, pixels) under a second PatientID\n"
"At the end it prints instances, bytes and pixel bytes by kind, and the\n"
"expected unique pixel bytes (what an ideal segment dedup keeps).\n"
"\n"
"Whole-slide images (--wsi OUT): one series of VL Whole Slide Microscopy\n"
"Image Storage instances per form, a pyramid of tiled multi-frame levels\n"
"(TILED_FULL, 256x256 RGB tiles, row by row), written as\n"
"OUT/<form>-level<L>.dcm; level L samples the picture every 2^L pixels.\n"
"  --wsi-form F              native (Explicit VR LE, RGB), jpeg (JPEG\n"
"                            baseline tiles, YBR_FULL_422, one fragment a\n"
"                            tile, Basic Offset Table) or both (default)\n"
"  --wsi-mb N                level 0 about N MiB, 1..2048 (default 100);\n"
"                            the upper levels add about a third\n"
"  --wsi-tiles N             level 0 holds at least N tiles (overrides -mb)\n"
"  --wsi-levels L            2 or 3 levels (default 3)\n"
"  --wsi-quality Q           JPEG quality 1..100 (default 85)\n"
"  --wsi-texture FILE        native 8-bit RGB DICOM image the slide is made\n"
"                            of (default: real/us/US1_UNCR.dcm of the corpus)\n"
"The texture is repeated mirror-wise; every sample gets noise in [-3, 3]\n"
"keyed by --seed, level and tile, so tiles differ and the same options give\n"
"the same bytes.  Files are streamed (one tile in memory) and refused when\n"
"they exist.  One line per instance on stdout: path, form, level, tiles,\n"
"grid, matrix and bytes.\n";

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

/* Read the options into g; exits on a bad one.  Returns 1 for --list-seeds. */
static int parse_options(struct gencorpus *g, int argc, char **argv, const char **seeds_dir)
{
	int list = 0;
	static const struct option lo[] = {
		{ "patients", required_argument, 0, 'p' },
		{ "studies-per-patient", required_argument, 0, 'k' },
		{ "seed", required_argument, 0, 's' },
		{ "dup-rate", required_argument, 0, 'd' },
		{ "seeds", required_argument, 0, 'S' },
		{ "small", no_argument, 0, 'm' },
		{ "max-instances", required_argument, 0, 'M' },
		{ "exact-pixels", no_argument, 0, 'x' },
		{ "list-seeds", no_argument, 0, 'l' },
		{ "wsi", no_argument, 0, 'W' },
		{ "wsi-form", required_argument, 0, 'F' },
		{ "wsi-mb", required_argument, 0, 'B' },
		{ "wsi-tiles", required_argument, 0, 'T' },
		{ "wsi-levels", required_argument, 0, 'L' },
		{ "wsi-quality", required_argument, 0, 'Q' },
		{ "wsi-texture", required_argument, 0, 'X' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;
	char *end;
	g->patients = -1;
	g->studies_per_patient = 2;
	g->seed = 1;
	g->dup_rate = 0.3;
	g->wsi_forms = 3;
	g->wsi_mb = 100;
	g->wsi_levels = 3;
	g->wsi_quality = 85;
	while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (c) {
		case 'p': g->patients = strtol(optarg, &end, 10); if (*end || g->patients < 0) die("bad --patients"); break;
		case 'k': g->studies_per_patient = strtol(optarg, &end, 10); if (*end || g->studies_per_patient < 1) die("bad --studies-per-patient"); break;
		case 's': g->seed = strtoull(optarg, &end, 10); if (*end) die("bad --seed"); break;
		case 'd': g->dup_rate = strtod(optarg, &end); if (*end || g->dup_rate < 0 || g->dup_rate > 1) die("bad --dup-rate"); break;
		case 'S': *seeds_dir = optarg; break;
		case 'm': g->small = 1; break;
		case 'M': g->max_instances = strtol(optarg, &end, 10); if (*end || g->max_instances < 0) die("bad --max-instances"); break;
		case 'x': g->exact_pixels = 1; break;
		case 'l': list = 1; break;
		case 'q': g->quiet = 1; break;
		case 'W': g->wsi = 1; break;
		case 'F':
			if (!strcmp(optarg, "native")) g->wsi_forms = 1;
			else if (!strcmp(optarg, "jpeg")) g->wsi_forms = 2;
			else if (!strcmp(optarg, "both")) g->wsi_forms = 3;
			else die("bad --wsi-form '%s' (native, jpeg or both)", optarg);
			break;
		case 'B': g->wsi_mb = strtod(optarg, &end); if (*end || !(g->wsi_mb >= 1 && g->wsi_mb <= 2048)) die("bad --wsi-mb '%s' (1..2048)", optarg); break;
		case 'T': g->wsi_tiles = strtol(optarg, &end, 10); if (*end || g->wsi_tiles < 1 || g->wsi_tiles > 200000) die("bad --wsi-tiles '%s' (1..200000)", optarg); break;
		case 'L': g->wsi_levels = (int)strtol(optarg, &end, 10); if (*end || g->wsi_levels < 2 || g->wsi_levels > 3) die("bad --wsi-levels '%s' (2 or 3)", optarg); break;
		case 'Q': g->wsi_quality = (int)strtol(optarg, &end, 10); if (*end || g->wsi_quality < 1 || g->wsi_quality > 100) die("bad --wsi-quality '%s' (1..100)", optarg); break;
		case 'X': g->wsi_texture = optarg; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (g->wsi) {
		if (list || optind != argc - 1 || g->patients >= 0)
			die("--wsi takes one OUT folder and no --patients or --list-seeds; see -h");
	} else if (!list && (optind != argc - 1 || g->patients < 0)) {
		usage(2);
	}
	g->outdir = list ? NULL : argv[optind];
	return list;
}

/* Load the seeds from the first candidate folder that has any. */
static void find_seeds(struct gencorpus *g, const char *seeds_dir)
{
	char envbuf[1024];
	const char *cands[6];
	int nc = 0;
	const char *env = getenv("DCMFS_CORPUS");
	if (seeds_dir) {
		cands[nc++] = seeds_dir;
	} else {
		if (env) {
			snprintf(envbuf, sizeof(envbuf), g->small ? "%s" : "%s/real", env);
			cands[nc++] = envbuf;
		}
		cands[nc++] = g->small ? "../shared/corpus" : "../shared/corpus/real";
		cands[nc++] = g->small ? "/work/shared/corpus" : "/work/shared/corpus/real";
		cands[nc++] = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
	}
	for (int i = 0; i < nc && !g->nseeds; i++) {
		seeds_find(g, cands[i]);
		if (g->nseeds)
			g->seeds_dir = cands[i];
	}
	if (!g->nseeds)
		die("no usable seed images found (tried %s%s)", cands[0], nc > 1 ? " and others" : "");
	seeds_classify(g);
	int any = 0;
	for (int m = 0; m < M_N; m++)
		any += g->nsingles[m] > 0;
	if (!any)
		die("no seed of modality CT, MR, CR/DX, US or MG in %s", g->seeds_dir);
}

int main(int argc, char **argv)
{
	static struct gencorpus g;
	const char *seeds_dir = NULL;
	version_exit_if_asked(argc, argv, "dcmfs-gencorpus");
	int list = parse_options(&g, argc, argv, &seeds_dir);
	if (g.wsi) {
		char dir[1024];
		snprintf(dir, sizeof(dir), "%s", g.outdir);
		plan_make_dirs(dir);
		wsi_write(&g);
		return 0;
	}
	find_seeds(&g, seeds_dir);
	if (list) {
		seeds_list(&g);
		return 0;
	}

	struct stat st;
	if (stat(g.outdir, &st) == 0) {
		char p[1024];
		snprintf(p, sizeof(p), "%s/patients", g.outdir);
		if (stat(p, &st) == 0)
			die("%s already holds a corpus (%s exists); use an empty folder", g.outdir, p);
	}
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", g.outdir);
	plan_make_dirs(tmp);

	plan_write_corpus(&g);
	report_print(&g);
	return 0;
}
