/*
 * deid_gdcm.h - the one C++ shim: GDCM reads a header dataset, the Basic
 * Application Level Confidentiality Profile (PS3.15 Annex E, Table E.1-1)
 * is applied to it, and GDCM writes it back.  deid.c is its only caller.
 *
 * What the rewrite does, at every nesting level (items of sequences too):
 *  - private elements (odd groups) are removed;
 *  - every UI value is replaced by deid_uid(secret, value), one component
 *    of a multi-valued UI at a time, except the UIDs that name kinds of
 *    things rather than things (SOP classes, transfer syntaxes, coding
 *    schemes, context groups: by tag) and every value under the DICOM
 *    root 1.2.840.10008., which are kept; the file meta
 *    MediaStorageSOPInstanceUID becomes the new SOPInstanceUID;
 *  - PatientName and PatientID get the pseudonyms of the job;
 *  - with shift_days, every DA and DT value moves by shift_days days (TM
 *    values are kept, so intervals stay); without, StudyDate, ContentDate
 *    and PatientBirthDate are emptied, StudyTime and ContentTime too, and
 *    every other DA and DT element, and every other TM in the profile, is
 *    removed;
 *  - every other attribute of GDCM's profile table
 *    (gdcm::Anonymizer::GetBasicApplicationLevelConfidentialityProfileAttributes)
 *    and of the few more this file lists (Table E.1-1 of later editions:
 *    other patient ids, addresses, device serial numbers, icon images, ...)
 *    is emptied when the standard makes it Type 2 (AccessionNumber,
 *    ReferringPhysicianName, StudyID, PatientSex), else removed;
 *  - overlay data and comments (60xx,3000/4000) and curves (50xx) are
 *    removed;
 *  - public elements that arrive as UN whose dictionary VR is UI, DA, DT,
 *    PN or SQ, or that are in the profile, are removed (their values
 *    cannot be rewritten safely);
 *  - (0012,0062) PatientIdentityRemoved = YES, (0012,0063)
 *    DeidentificationMethod and (0012,0064) its code sequence (DCM 113100,
 *    and 113107 when dates are shifted) are set;
 *  - the preamble is zeroed; the file meta keeps only what GDCM writes
 *    (source/sending/receiving AE titles and private information go), with
 *    the right group length.
 * The input stops at an element boundary (deid.c cuts the Pixel Data
 * element's header off); the output is a whole Part 10 file up to the same
 * point, in the input's transfer syntax.
 */
#ifndef DCMFS_DEID_GDCM_H
#define DCMFS_DEID_GDCM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct deid_gdcm_job {
	const uint8_t *in;          /* the bytes to rewrite (caller's) */
	size_t in_len;
	const uint8_t *secret;      /* 32 bytes: the share's secret */
	const char *patient_id;     /* the pseudonyms to write */
	const char *patient_name;
	int shift_days;             /* 0: dates removed; else added to every DA/DT */
	int whole;                  /* a whole file: keep its pixel data (else
				     * anything at or past (7FE0,0008) is dropped) */
};

struct deid_gdcm_result {
	uint8_t *out;               /* malloc'd, the caller frees it */
	size_t out_len;
	char burned_in[17];         /* BurnedInAnnotation as found ("" when absent) */
	char sop_class[65];         /* SOPClassUID as found */
	char modality[17];          /* Modality as found */
};

/* Rewrite job->in.  Returns 0 and fills *res; -EINVAL when GDCM does not
 * parse the input or cannot write the result (err says which), -ENOMEM.
 * Any thread, any number at once. */
int deid_gdcm_rewrite(const struct deid_gdcm_job *job, struct deid_gdcm_result *res,
		      char *err, size_t errlen);

/* deid.c's keyed UID (deid.h), used by the shim for every UI value. */
void deid_uid(const uint8_t secret[32], const char *uid, char out[65]);

#ifdef __cplusplus
}
#endif

#endif
