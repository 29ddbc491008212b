/*
 * dcmfs-scan FILE... - run the DICOM scanner on files and print what it
 * finds, one block of key=value lines per file, for tests and debugging.
 * Exit 0 when every file scanned OK, 1 otherwise.
 */
#include "dicom.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *syntax_name(enum dcm_syntax s)
{
	switch (s) {
	case DCM_SYNTAX_IMPLICIT_LE: return "implicit_le";
	case DCM_SYNTAX_EXPLICIT_LE: return "explicit_le";
	case DCM_SYNTAX_EXPLICIT_BE: return "explicit_be";
	case DCM_SYNTAX_DEFLATED: return "deflated";
	}
	return "?";
}

static void print_info(const struct dcm_info *in)
{
#define S(f) printf(#f "=%s\n", in->f)
#define I(f) printf(#f "=%" PRId32 "\n", in->f)
	S(transfer_syntax);
	printf("syntax=%s\n", syntax_name(in->syntax));
	printf("has_meta=%d\nhas_preamble=%d\n", in->has_meta, in->has_preamble);
	S(patient_id); S(issuer_of_patient_id); S(patient_name);
	S(patient_birth_date); S(patient_sex); S(study_uid); S(study_date);
	S(study_time); S(study_description); S(accession_number);
	S(referring_physician); S(series_uid); S(modality);
	S(series_description); S(sop_instance_uid); S(sop_class_uid);
	S(specific_charset); S(photometric);
	I(series_number); I(instance_number); I(number_of_frames);
	I(rows); I(columns); I(bits_allocated); I(bits_stored);
	I(samples_per_pixel); I(planar_configuration);
	I(pixel_representation);
	printf("pixel_tag=%08" PRIx32 "\n", in->pixel_tag);
	printf("pixel_element_offset=%" PRIu64 "\n", in->pixel_element_offset);
	printf("pixel_value_offset=%" PRIu64 "\n", in->pixel_value_offset);
	printf("pixel_value_length=%" PRIu64 "\n", in->pixel_value_length);
	printf("pixel_encapsulated=%d\n", in->pixel_encapsulated);
	printf("unclean=%s\n", in->unclean);
#undef S
#undef I
}

static int scan_file(const char *path)
{
	static struct dcm_info info;
	char err[512] = "";
	int rc;

	printf("file=%s\n", path);
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("status=io error\nerror=%s\n\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (st.st_size == 0) {
		/* mmap refuses a zero length: scan an empty buffer */
		static const uint8_t none[1];
		rc = dcm_scan(none, 0, &info, err, sizeof err);
	} else {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			printf("status=io error\nerror=mmap: %s\n\n", strerror(errno));
			close(fd);
			return 1;
		}
		rc = dcm_scan(m, (size_t)st.st_size, &info, err, sizeof err);
		munmap(m, (size_t)st.st_size);
	}
	close(fd);
	printf("status=%s\nerror=%s\n", rc ? dcm_strerror(rc) : "ok", err);
	print_info(&info);
	printf("\n");
	return rc != DCM_OK;
}

int main(int argc, char **argv)
{
	int bad = 0;

	version_exit_if_asked(argc, argv, "dcmfs-scan");
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		bad |= scan_file(argv[i]);
	fflush(stdout);
	return bad;
}
