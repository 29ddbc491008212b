/*
 * report.c - the counts dcmfs-gencorpus prints at the end (gencorpus.h):
 * a table for people, then key=value lines for scripts (tools/bench.sh).
 */
#include "gencorpus.h"

#include <inttypes.h>
#include <stdio.h>

#include "../cli.h"

const char *const kind_name[K_N] = { "original", "resend", "dept2", "corrected", "merged" };

void report_print(const struct gencorpus *g)
{
	const struct counts *cnt = g->counts;
	struct counts tot = { 0 };
	printf("# dcmfs-gencorpus %s: seed %" PRIu64 ", %ld patients x %ld studies, dup-rate %.2f, seeds %s%s%s\n",
	       g->outdir, g->seed, g->patients, g->studies_per_patient, g->dup_rate, g->seeds_dir,
	       g->small ? " (small)" : "", g->exact_pixels ? ", exact pixels" : ", pixel tweak");
	printf("# %-10s %8s %8s %10s %14s %14s\n", "kind", "studies", "series", "instances", "bytes", "pixel_bytes");
	for (int k = 0; k < K_N; k++) {
		printf("  %-10s %8" PRIu64 " %8" PRIu64 " %10" PRIu64 " %14" PRIu64 " %14" PRIu64 "\n", kind_name[k],
		       cnt[k].studies, cnt[k].series, cnt[k].instances, cnt[k].bytes, cnt[k].pixel_bytes);
		tot.studies += cnt[k].studies;
		tot.series += cnt[k].series;
		tot.instances += cnt[k].instances;
		tot.bytes += cnt[k].bytes;
		tot.pixel_bytes += cnt[k].pixel_bytes;
	}
	printf("  %-10s %8" PRIu64 " %8" PRIu64 " %10" PRIu64 " %14" PRIu64 " %14" PRIu64 "\n", "total",
	       tot.studies, tot.series, tot.instances, tot.bytes, tot.pixel_bytes);
	printf("# by modality (originals):");
	for (int m = 0; m < M_N; m++)
		if (g->modality_instances[m])
			printf(" %s %" PRIu64 " inst %.1f MB;", modality_class_name[m], g->modality_instances[m],
			       g->modality_bytes[m] / 1e6);
	printf("\n");
	/* expected: the originals' pixels are unique (up to encapsulated
	 * seeds reused, which only lower it); duplicates add headers only,
	 * and a resend adds nothing. */
	uint64_t dup_hdr = 0;
	for (int k = K_DEPT2; k < K_N; k++)
		dup_hdr += cnt[k].bytes - cnt[k].pixel_bytes;
	printf("# expected after ideal segment dedup (before compression): at most %" PRIu64
	       " bytes = original files + duplicate headers; logical %" PRIu64 " bytes; ratio >= %.3f\n",
	       cnt[K_ORIG].bytes + dup_hdr, tot.bytes, (double)tot.bytes / (double)(cnt[K_ORIG].bytes + dup_hdr));
	for (int k = 0; k < K_N; k++)
		printf("gencorpus.%s.instances=%" PRIu64 "\ngencorpus.%s.bytes=%" PRIu64 "\ngencorpus.%s.pixel_bytes=%" PRIu64 "\n",
		       kind_name[k], cnt[k].instances, kind_name[k], cnt[k].bytes, kind_name[k], cnt[k].pixel_bytes);
	printf("gencorpus.total.instances=%" PRIu64 "\ngencorpus.total.bytes=%" PRIu64 "\ngencorpus.expected_dedup_bytes=%" PRIu64 "\n",
	       tot.instances, tot.bytes, cnt[K_ORIG].bytes + dup_hdr);
	if (fflush(stdout) || ferror(stdout))
		die("cannot write output");
}
