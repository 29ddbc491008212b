/*
 * codec_seeds.c - seed blobs for fuzz_codec: encodes pixel data taken from
 * DICOM files with the real encoder, so the fuzzer starts from valid blobs
 * of every method (context-split gradient/up, the same on colour
 * differences for RGB, plain zstd, stored).
 *
 *   codec-seeds OUTDIR FILE...
 *
 * Whole pixel values are large, and the fuzzer works best on small inputs,
 * so each native image gives a few crops (a corner of R rows x C columns,
 * one or two frames), each encoded with its layout; the file's header
 * bytes (up to 4 KiB) and the first 16 KiB of encapsulated pixel data are
 * encoded as opaque bytes.  Writes OUTDIR/seed-N.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "dicom.h"

static int nseeds;

static void write_seed(const char *dir, const uint8_t *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/seed-%05d", dir, nseeds++);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		fprintf(stderr, "codec-seeds: cannot write %s: %s\n", path, strerror(errno));
		exit(2);
	}
	fclose(f);
}

static void encode_seed(struct codec_ctx *ctx, const char *dir, const uint8_t *raw,
			size_t len, const struct codec_layout *l)
{
	uint8_t *enc;
	size_t enc_len;
	if (codec_encode(ctx, raw, len, l, 1, &enc, &enc_len) == CODEC_OK) {
		write_seed(dir, enc, enc_len);
		free(enc);
	}
}

/* A corner crop of rows x cols samples of the first `frames` frames. */
static void crop(struct codec_ctx *ctx, const char *dir, const uint8_t *pix,
		 const struct dcm_info *d, uint32_t rows, uint32_t cols,
		 uint32_t frames)
{
	uint32_t bps = (uint32_t)d->bits_allocated / 8, spp = (uint32_t)d->samples_per_pixel;
	uint32_t R = (uint32_t)d->rows, C = (uint32_t)d->columns;
	uint32_t F = d->number_of_frames > 0 ? (uint32_t)d->number_of_frames : 1;
	if (rows > R)
		rows = R;
	if (cols > C)
		cols = C;
	if (frames > F)
		frames = F;
	uint32_t planes = d->planar_configuration ? spp : 1;
	size_t px = d->planar_configuration ? bps : (size_t)bps * spp;   /* bytes per sample group */
	size_t src_row = px * C, dst_row = px * cols;
	size_t n = dst_row * rows * planes * frames;
	uint8_t *out = malloc(n ? n : 1), *o = out;
	if (!out)
		return;
	for (uint32_t f = 0; f < frames; f++)
		for (uint32_t pl = 0; pl < planes; pl++)
			for (uint32_t y = 0; y < rows; y++) {
				const uint8_t *s = pix + ((size_t)f * planes + pl) * src_row * R + y * src_row;
				memcpy(o, s, dst_row);
				o += dst_row;
			}
	struct codec_layout l = { bps, spp, (uint32_t)d->planar_configuration, cols, rows, frames };
	encode_seed(ctx, dir, out, n, &l);
	free(out);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: codec-seeds OUTDIR FILE...\n");
		return 2;
	}
	struct codec_ctx *ctx = codec_ctx_new();
	if (!ctx)
		return 2;
	for (int i = 2; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		size_t len = (size_t)st.st_size;
		uint8_t *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (p == MAP_FAILED)
			continue;
		struct dcm_info d;
		char err[200];
		if (dcm_scan(p, len, &d, err, sizeof(err)) == DCM_OK) {
			size_t hl = d.pixel_tag && d.pixel_value_offset ? d.pixel_value_offset : len;
			encode_seed(ctx, argv[1], p, hl < 4096 ? hl : 4096, NULL);
			uint64_t bps = (uint64_t)d.bits_allocated / 8;
			uint64_t F = d.number_of_frames > 0 ? (uint64_t)d.number_of_frames : 1;
			uint64_t need = bps * (uint64_t)(d.samples_per_pixel > 0 ? d.samples_per_pixel : 0) *
					(uint64_t)(d.rows > 0 ? d.rows : 0) *
					(uint64_t)(d.columns > 0 ? d.columns : 0) * F;
			if (d.pixel_tag == 0x7FE00010u && !d.pixel_encapsulated &&
			    (bps == 1 || bps == 2) && need && d.pixel_value_length >= need &&
			    d.samples_per_pixel <= 4 && d.planar_configuration <= 1 &&
			    d.pixel_value_offset + need <= len) {
				const uint8_t *pix = p + d.pixel_value_offset;
				crop(ctx, argv[1], pix, &d, 8, 8, 1);
				crop(ctx, argv[1], pix, &d, 24, 40, 1);
				crop(ctx, argv[1], pix, &d, 64, 64, 2);
				crop(ctx, argv[1], pix, &d, 3, 129, 3);
			}
			/* encapsulated fragments are opaque bytes: stored chunks
			 * of real JPEG data, or zstd where it saves 3% */
			if (d.pixel_encapsulated && d.pixel_value_offset < len) {
				size_t el = len - (size_t)d.pixel_value_offset;
				encode_seed(ctx, argv[1], p + d.pixel_value_offset,
					    el < 16384 ? el : 16384, NULL);
			}
		}
		munmap(p, len);
	}
	codec_ctx_free(ctx);
	printf("%d seeds\n", nseeds);
	return 0;
}
