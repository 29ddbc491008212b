/*
 * dcmfs-codecbench - measure the pixel codec on DICOM files.
 *
 *   dcmfs-codecbench [-d] [-R] [-E] [-M] [-l LEVEL] [-r RUNS] [-g COLSxROWS[xBYTES]] FILE...
 *   dcmfs-codecbench -O MB
 *
 * For every file, finds the native pixel data and its layout with dcm_scan()
 * (or, with -g, takes the last COLS*ROWS*BYTES bytes of the file)
 * and encodes it with codec_encode() on one thread, in memory.  Reports raw
 * pixel bytes, encoded bytes, ratio (raw / encoded), encode and decode speed
 * in MB/s of raw pixels (median of RUNS passes over all files, default 5,
 * the best pass, and the median by CPU time rather than wall time),
 * and how many raw bytes each method covered (-d: encode once, time only
 * the decode passes).  Every decode is compared with
 * the raw pixels.  Files without native pixel data are reported and skipped.
 *
 * -M estimates instead what a residual model not built yet would reach on
 * the grey images (tools/codecbench/model.c) and prints its ratios.
 *
 * -E takes the encapsulated pixel data element's value (items, fragments
 * and delimiter, as import keeps them) as opaque bytes instead: what the
 * codec gains on JPEG tiles and what a read of them costs.
 *
 * -R also measures reference codecs in process on the same pixels, one
 * core, median of RUNS (tools/codecbench/refs.h): CharLS JPEG-LS and
 * OpenJPH HTJ2K (lossless, real bit depth, a codestream per frame) and a
 * gradient + zstd -1 over the whole series, zstd -1 of each image's
 * bytes, and the experimental bias-corrected Huffman coder on the codec's
 * own chunks (index/codec_huff.h, not a stored method) alone and as one
 * more method (per chunk the smaller), and prints one line per codec,
 * ours first, for tools/bench.sh:
 *   ref NAME RATIO ENCODE_MB/s DECODE_MB/s
 *
 * -O MB measures opening a large multi-frame blob instead: MB megabytes of
 * 256x256 RGB frames (one chunk each, thousands of chunks, like a pathology
 * slide) are encoded once, then the time to learn every chunk's span is
 * reported for the one-shot calls (codec_info + codec_chunk_span per chunk,
 * O(chunks^2)) and for a codec_blob handle (open + span and chunk_at of
 * every chunk, O(chunks)).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "codecbench/model.h"
#include "codecbench/refs.h"
#include "codec.h"
#include "dicom.h"
#include "version.h"

struct item {
	const char *path;
	uint8_t *file;
	size_t file_len;
	const uint8_t *pix;
	size_t pix_len;
	struct codec_layout layout;
	int is_signed;          /* PixelRepresentation 1 */
	int bits_stored;
	uint8_t *enc;
	size_t enc_len;
};

static double clock_seconds(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
	return clock_seconds(CLOCK_MONOTONIC);
}

/* CPU time of this (single-threaded) process: on a busy machine it moves
 * far less than wall time, which counts the waits for a core. */
static double cpu_now(void)
{
	return clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 1 << 20, n = 0;
	uint8_t *p = malloc(cap);
	while (p) {
		size_t r = fread(p + n, 1, cap - n, f);
		n += r;
		if (n < cap)
			break;
		uint8_t *q = realloc(p, cap * 2);
		if (!q) {
			free(p);
			p = NULL;
			break;
		}
		p = q;
		cap *= 2;
	}
	int err = ferror(f);
	fclose(f);
	if (!p || err) {
		free(p);
		errno = p ? EIO : ENOMEM;
		return -1;
	}
	*buf = p;
	*len = n;
	return 0;
}

/* -g mode: the pixels are the last columns*rows*frames*bytes of the file. */
static struct codec_layout tail_layout;
static int encapsulated_opaque;         /* -E */

static int find_tail(struct item *it, char *why, size_t whylen)
{
	const struct codec_layout *l = &tail_layout;
	uint64_t want = (uint64_t)l->bytes_per_sample * l->samples_per_pixel *
			l->columns * l->rows * l->frames;
	if (want == 0 || want > it->file_len) {
		snprintf(why, whylen, "file shorter than the pixels of -g");
		return -1;
	}
	it->layout = *l;
	it->pix_len = (size_t)want;
	it->pix = it->file + it->file_len - want;
	return 0;
}

/* Native pixel data and layout of a file (dcm_scan, or -g); 0 on success. */
static int find_pixels(struct item *it, char *why, size_t whylen)
{
	static struct dcm_info info;   /* large; one file at a time */
	if (tail_layout.columns)
		return find_tail(it, why, whylen);
	int rc = dcm_scan(it->file, it->file_len, &info, why, whylen);
	if (rc != DCM_OK)
		return -1;
	if (encapsulated_opaque && info.pixel_tag && info.pixel_encapsulated &&
	    info.pixel_value_offset <= it->file_len &&
	    info.pixel_value_length <= it->file_len - info.pixel_value_offset) {
		/* an all-zero layout is no layout: the codec codes opaque bytes */
		it->pix = it->file + info.pixel_value_offset;
		it->pix_len = (size_t)info.pixel_value_length;
		memset(&it->layout, 0, sizeof(it->layout));
		return 0;
	}
	if (encapsulated_opaque) {
		snprintf(why, whylen, "no encapsulated pixel data");
		return -1;
	}
	if (!info.pixel_tag || info.pixel_encapsulated ||
	    info.syntax == DCM_SYNTAX_DEFLATED) {
		snprintf(why, whylen, "no native pixel data");
		return -1;
	}
	if (info.pixel_value_offset > it->file_len ||
	    info.pixel_value_length > it->file_len - info.pixel_value_offset) {
		snprintf(why, whylen, "pixel data runs past the end");
		return -1;
	}
	it->pix = it->file + info.pixel_value_offset;
	it->pix_len = (size_t)info.pixel_value_length;
	it->is_signed = info.pixel_representation == 1;
	it->bits_stored = info.bits_stored;
	it->layout.bytes_per_sample = (uint32_t)(info.bits_allocated + 7) / 8;
	it->layout.samples_per_pixel = (uint32_t)info.samples_per_pixel;
	it->layout.planar = (uint32_t)info.planar_configuration;
	it->layout.columns = (uint32_t)info.columns;
	it->layout.rows = (uint32_t)info.rows;
	it->layout.frames = (uint32_t)(info.number_of_frames > 0 ?
				       info.number_of_frames : 1);
	/* an odd-length value is padded by one byte: keep the image part */
	uint64_t want = (uint64_t)it->layout.bytes_per_sample *
			it->layout.samples_per_pixel * it->layout.columns *
			it->layout.rows * it->layout.frames;
	if (want && want < it->pix_len && it->pix_len - want < 2)
		it->pix_len = (size_t)want;
	return 0;
}

/* -R: one reference codec over all items, RUNS passes; prints its line.
 * Every decode is compared with the pixels. */
static int bench_ref(const struct ref_codec *rc, struct item *items, int n,
		     int runs, uint8_t *all, size_t all_len)
{
	struct ref_image *im = calloc((size_t)n, sizeof(*im));
	double *te = calloc((size_t)runs, sizeof(double));
	double *td = calloc((size_t)runs, sizeof(double));
	if (!im || !te || !td) {
		free(im);
		free(te);
		free(td);
		return -1;
	}
	struct ref_series s = { .im = im, .n = n };
	for (int i = 0; i < n; i++)
		im[i] = (struct ref_image){ items[i].pix, items[i].pix_len,
					    items[i].layout, items[i].is_signed,
					    NULL, 0 };
	int bad = 0;
	for (int r = 0; r < runs && !bad; r++) {
		ref_series_clear(&s);
		double t0 = cpu_now();
		bad = rc->encode(&s);
		te[r] = cpu_now() - t0;
		t0 = cpu_now();
		bad = bad || rc->decode(&s, all);
		td[r] = cpu_now() - t0;
		size_t at = 0;
		for (int i = 0; i < n && !bad; i++) {
			if (memcmp(all + at, items[i].pix, items[i].pix_len)) {
				snprintf(s.why, sizeof(s.why), "decoded pixels of '%s' differ",
					 items[i].path);
				bad = 1;
			}
			at += items[i].pix_len;
		}
	}
	size_t enc = s.enc_len;
	for (int i = 0; i < n; i++)
		enc += im[i].enc_len;
	if (bad)
		fprintf(stderr, "dcmfs-codecbench: %s: %s\n", rc->name, s.why);
	else {
		qsort(te, (size_t)runs, sizeof(double), cmp_double);
		qsort(td, (size_t)runs, sizeof(double), cmp_double);
		printf("ref %-14s %8.3f %8.0f %8.0f\n", rc->name,
		       (double)all_len / (double)enc,
		       (double)all_len / te[runs / 2] / 1e6,
		       (double)all_len / td[runs / 2] / 1e6);
	}
	ref_series_clear(&s);
	free(im);
	free(te);
	free(td);
	return bad ? -1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dcmfs-codecbench [-d] [-R] [-E] [-M] [-l LEVEL] [-r RUNS] [-g COLSxROWS[xBYTES]] FILE...\n"
		   "       dcmfs-codecbench -O MB\n");
}

/* -O: time learning every chunk's span of a blob of `mb` MB of frames. */
static int bench_open(unsigned long mb)
{
	const uint32_t side = 256;
	size_t frame = (size_t)side * side * 3;
	uint32_t frames = (uint32_t)((mb << 20) / frame);
	if (frames == 0)
		frames = 1;
	size_t raw_len = frame * frames;
	/* untouched anonymous pages read as zeros without using memory; one
	 * line per frame is set so chunks are not all alike */
	uint8_t *raw = mmap(NULL, raw_len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("dcmfs-codecbench: mmap");
		return 1;
	}
	/* small pages: a huge page would be filled for each line set below */
	(void)madvise(raw, raw_len, MADV_NOHUGEPAGE);
	for (uint32_t f = 0; f < frames; f++)
		memset(raw + (size_t)f * frame, (int)(f & 0xff), side * 3);
	struct codec_layout l = { 1, 3, 0, side, side, frames };
	struct codec_ctx *ctx = codec_ctx_new();
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	double t0 = now();
	int rc = ctx ? codec_encode(ctx, raw, raw_len, &l, 1, &enc, &enc_len) :
		       CODEC_ERR_NOMEM;
	double t_enc = now() - t0;
	munmap(raw, raw_len);
	codec_ctx_free(ctx);
	if (rc) {
		fprintf(stderr, "dcmfs-codecbench: encode: %s\n", codec_strerror(rc));
		return 1;
	}

	uint64_t sum_oneshot = 0, sum_handle = 0;
	uint32_t nch = 0;
	t0 = now();
	if (codec_info(enc, enc_len, NULL, &nch))
		return 1;
	for (uint32_t i = 0; i < nch; i++) {
		uint64_t off;
		uint32_t n;
		if (codec_chunk_span(enc, enc_len, i, &off, &n))
			return 1;
		sum_oneshot += off + n;
	}
	double t_oneshot = now() - t0;

	t0 = now();
	struct codec_blob *b;
	if (codec_blob_open(enc, enc_len, &b))
		return 1;
	for (uint32_t i = 0; i < codec_blob_chunks(b); i++) {
		uint64_t off;
		uint32_t n;
		codec_blob_chunk_span(b, i, &off, &n);
		if (codec_blob_chunk_at(b, off) != i ||
		    codec_blob_chunk_at(b, off + n - 1) != i)
			return 1;
		sum_handle += off + n;
	}
	codec_blob_close(b);
	double t_handle = now() - t0;
	free(enc);
	if (sum_oneshot != sum_handle)
		return 1;
	printf("raw MB %.0f, frames %u, chunks %u, encoded bytes %zu, encode s %.2f\n",
	       (double)raw_len / 1e6, frames, nch, enc_len, t_enc);
	printf("spans of all chunks, one-shot calls   ms %.3f\n", t_oneshot * 1e3);
	printf("spans of all chunks, codec_blob handle ms %.3f\n", t_handle * 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	int level = 1, runs = 5, opt, decode_only = 0;
	int refs = 0, model = 0;
	version_exit_if_asked(argc, argv, "dcmfs-codecbench");
	while ((opt = getopt(argc, argv, "dREMg:l:r:O:h")) != -1) {
		switch (opt) {
		case 'R':
			refs = 1;
			break;
		case 'E':
			encapsulated_opaque = 1;
			break;
		case 'M':
			model = 1;
			break;
		case 'O':
			return bench_open(strtoul(optarg, NULL, 10));
		case 'g': {
			unsigned c = 0, r = 0, b = 2;
			if (sscanf(optarg, "%ux%ux%u", &c, &r, &b) < 2 || !c || !r ||
			    (b != 1 && b != 2)) {
				fprintf(stderr, "dcmfs-codecbench: bad -g '%s'\n", optarg);
				return 2;
			}
			tail_layout = (struct codec_layout){ b, 1, 0, c, r, 1 };
			break;
		}
		case 'd':
			decode_only = 1;
			break;
		case 'l':
			level = atoi(optarg);
			break;
		case 'r':
			runs = atoi(optarg);
			if (runs < 1)
				runs = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (refs && encapsulated_opaque) {
		fprintf(stderr, "dcmfs-codecbench: -R needs native pixels, not -E\n");
		return 2;
	}

	int nfiles = argc - optind, n = 0, failed = 0;
	struct item *items = calloc((size_t)nfiles, sizeof(*items));
	if (!items)
		return 1;
	size_t maxpix = 0;
	for (int i = 0; i < nfiles; i++) {
		struct item *it = &items[n];
		char why[256];
		it->path = argv[optind + i];
		if (read_file(it->path, &it->file, &it->file_len)) {
			fprintf(stderr, "dcmfs-codecbench: '%s': %s\n", it->path,
				strerror(errno));
			failed = 1;
			continue;
		}
		if (find_pixels(it, why, sizeof(why))) {
			fprintf(stderr, "dcmfs-codecbench: '%s': %s, skipped\n",
				it->path, why);
			free(it->file);
			failed = 1;
			continue;
		}
		if (it->pix_len > maxpix)
			maxpix = it->pix_len;
		n++;
	}
	if (n == 0) {
		fprintf(stderr, "dcmfs-codecbench: no file with native pixel data\n");
		return 1;
	}

	if (model) {
		struct model_image *mi = calloc((size_t)n, sizeof(*mi));
		if (!mi)
			return 1;
		for (int i = 0; i < n; i++)
			mi[i] = (struct model_image){ items[i].pix, items[i].pix_len,
						      items[i].layout, items[i].bits_stored,
						      items[i].is_signed };
		int rc = model_estimate(mi, n);
		free(mi);
		for (int i = 0; i < n; i++)
			free(items[i].file);
		free(items);
		return rc ? 1 : failed;
	}

	struct codec_ctx *ctx = codec_ctx_new();
	uint8_t *dec = malloc(maxpix ? maxpix : 1);
	double *tenc = calloc((size_t)runs, sizeof(double));
	double *tdec = calloc((size_t)runs, sizeof(double));
	double *cenc = calloc((size_t)runs, sizeof(double));
	double *cdec = calloc((size_t)runs, sizeof(double));
	if (!ctx || !dec || !tenc || !tdec || !cenc || !cdec)
		return 1;

	uint64_t raw = 0, enc = 0;
	for (int r = 0; r < runs; r++) {
		double t0 = now(), c0 = cpu_now();
		for (int i = 0; i < n && !(decode_only && r > 0); i++) {
			free(items[i].enc);
			items[i].enc = NULL;
			int rc = codec_encode(ctx, items[i].pix, items[i].pix_len,
					      &items[i].layout, level,
					      &items[i].enc, &items[i].enc_len);
			if (rc) {
				fprintf(stderr, "dcmfs-codecbench: '%s': encode: %s\n",
					items[i].path, codec_strerror(rc));
				return 1;
			}
		}
		tenc[r] = decode_only && r > 0 ? tenc[0] : now() - t0;
		cenc[r] = decode_only && r > 0 ? cenc[0] : cpu_now() - c0;
		t0 = now();
		c0 = cpu_now();
		for (int i = 0; i < n; i++) {
			int64_t got = codec_decode_range(ctx, items[i].enc,
							 items[i].enc_len, 0, dec,
							 items[i].pix_len);
			if (got != (int64_t)items[i].pix_len) {
				fprintf(stderr, "dcmfs-codecbench: '%s': decode: %s\n",
					items[i].path, codec_strerror((int)got));
				return 1;
			}
			if (r == 0 && memcmp(dec, items[i].pix, items[i].pix_len)) {
				fprintf(stderr, "dcmfs-codecbench: '%s': decoded pixels differ\n",
					items[i].path);
				return 1;
			}
		}
		tdec[r] = now() - t0;
		cdec[r] = cpu_now() - c0;
	}

	/* method histogram: raw bytes per chunk method */
	const char *names[16];
	uint64_t bytes[16] = { 0 };
	int nnames = 0;
	for (int i = 0; i < n; i++) {
		raw += items[i].pix_len;
		enc += items[i].enc_len;
		uint32_t nch = 0;
		codec_info(items[i].enc, items[i].enc_len, NULL, &nch);
		(void)nch;
		const char *m = codec_method_name(items[i].enc, items[i].enc_len);
		int k;
		for (k = 0; k < nnames; k++)
			if (!strcmp(names[k], m))
				break;
		if (k == nnames && nnames < 16)
			names[nnames++] = m;
		if (k < 16)
			bytes[k] += items[i].pix_len;
	}
	qsort(tenc, (size_t)runs, sizeof(double), cmp_double);
	qsort(tdec, (size_t)runs, sizeof(double), cmp_double);
	qsort(cenc, (size_t)runs, sizeof(double), cmp_double);
	qsort(cdec, (size_t)runs, sizeof(double), cmp_double);
	double te = tenc[runs / 2], td = tdec[runs / 2];
	printf("files %d, level %d, runs %d\n", n, level, runs);
	printf("raw pixel bytes %llu\nencoded bytes   %llu\nratio           %.3f\n",
	       (unsigned long long)raw, (unsigned long long)enc,
	       enc ? (double)raw / (double)enc : 0.0);
	printf("encode MB/s     %.0f\ndecode MB/s     %.0f\n",
	       (double)raw / te / 1e6, (double)raw / td / 1e6);
	/* best run: less disturbed by other load on a shared machine */
	printf("best enc/dec    %.0f / %.0f\n",
	       (double)raw / tenc[0] / 1e6, (double)raw / tdec[0] / 1e6);
	printf("cpu enc/dec     %.0f / %.0f\n",
	       (double)raw / cenc[runs / 2] / 1e6, (double)raw / cdec[runs / 2] / 1e6);
	printf("methods (main method per file, raw bytes):");
	for (int k = 0; k < nnames; k++)
		printf(" %s %.1f%%", names[k], 100.0 * (double)bytes[k] / (double)raw);
	printf("\n");

	/* the references take 1- and 2-byte samples whose layout fills the
	 * pixel data exactly: on other files they are not run */
	for (int i = 0; i < n && refs; i++) {
		const struct codec_layout *l = &items[i].layout;
		uint64_t want = (uint64_t)l->bytes_per_sample * l->samples_per_pixel *
				l->columns * l->rows * l->frames;
		if ((l->bytes_per_sample != 1 && l->bytes_per_sample != 2) ||
		    (l->samples_per_pixel != 1 && l->samples_per_pixel != 3) ||
		    want != items[i].pix_len) {
			fprintf(stderr, "dcmfs-codecbench: '%s': not 1- or 2-byte grey or RGB "
				"filling its pixel data: no references run\n", items[i].path);
			refs = 0;
		}
	}
	if (refs) {
		/* ours by CPU time, as the references */
		printf("codec              ratio enc MB/s dec MB/s  (one core, CPU time, median of %d)\n",
		       runs);
		printf("ref %-14s %8.3f %8.0f %8.0f\n", "dcmfs",
		       enc ? (double)raw / (double)enc : 0.0,
		       (double)raw / cenc[runs / 2] / 1e6, (double)raw / cdec[runs / 2] / 1e6);
		uint8_t *all = malloc(raw ? raw : 1);
		if (!all)
			return 1;
		const struct ref_codec *list[] = { &ref_jpegls, &ref_htj2k, &ref_gradzstd,
						   &ref_zstd1, &ref_biashuff, &ref_biashuff_or_dcmfs };
		for (size_t k = 0; k < sizeof(list) / sizeof(list[0]); k++)
			if (bench_ref(list[k], items, n, runs, all, raw))
				failed = 1;
		free(all);
	}

	for (int i = 0; i < n; i++) {
		free(items[i].enc);
		free(items[i].file);
	}
	free(items);
	free(dec);
	free(tenc);
	free(tdec);
	free(cenc);
	free(cdec);
	codec_ctx_free(ctx);
	if (fflush(stdout) || ferror(stdout))
		return 1;
	return failed;
}
