/*
 * dicom.h - a streaming DICOM scanner.
 *
 * dcm_scan() walks the element stream of one file held in memory, without
 * building a tree, and reports the ~25 attributes the catalogue indexes plus
 * the exact byte range of the top-level Pixel Data element (7FE0,0010), or
 * Float (7FE0,0008) / Double Float (7FE0,0009) Pixel Data, native or
 * encapsulated.  It accepts: preamble + File Meta, File Meta without preamble,
 * raw datasets without meta (implicit or explicit VR LE, guessed from the
 * first element), implicit VR LE, explicit VR LE and BE, deflated datasets
 * (inflated to read attributes; such files are stored whole), and every other
 * transfer syntax, known or not, as explicit VR LE.
 *
 * The input is hostile: every declared length is checked against the buffer,
 * and the scanner never reads outside [buf, buf + len).
 *
 * Its element walk is also offered one level at a time (dcm_iter_*, at the
 * end of this header), with the same rules and the same checks, for programs
 * that rewrite datasets.  Nothing here keeps state between calls: every
 * function is safe to call from any number of threads at once.
 */
#ifndef DCMFS_DICOM_H
#define DCMFS_DICOM_H

#include <stddef.h>
#include <stdint.h>

enum dcm_status {
	DCM_OK = 0,
	DCM_ERR_EMPTY,          /* zero-length file */
	DCM_ERR_NOT_DICOM,      /* neither DICM magic nor a plausible first element */
	DCM_ERR_TRUNCATED,      /* the file ends inside an element or item */
	DCM_ERR_LENGTH,         /* a declared length runs past the end of the file */
	DCM_ERR_BAD_META,       /* File Meta group is broken (no transfer syntax, bad group length...) */
	DCM_ERR_BAD_SEQUENCE,   /* sequence/item structure is broken */
	DCM_ERR_DEFLATE,        /* deflated dataset fails to inflate */
	DCM_ERR_NO_SOP_UID,     /* no SOPInstanceUID (0008,0018) */
	DCM_ERR_NO_STUDY_UID,   /* no StudyInstanceUID (0020,000D) */
	DCM_ERR_NO_SERIES_UID,  /* no SeriesInstanceUID (0020,000E) */
	DCM_ERR_NOMEM,
	DCM_ERR_TOO_LONG,       /* an identifying value is longer than DCM_ID_MAX - 1 bytes */
};

enum dcm_syntax {
	DCM_SYNTAX_IMPLICIT_LE,
	DCM_SYNTAX_EXPLICIT_LE,
	DCM_SYNTAX_EXPLICIT_BE,
	DCM_SYNTAX_DEFLATED,    /* explicit VR LE, deflated after the meta group */
};

/* Text attributes are NUL-terminated, trailing spaces/NULs trimmed, and
 * converted to UTF-8 from SpecificCharacterSet where they are person names
 * or descriptions.  Absent attributes are empty strings.
 *
 * The identifying values (PatientID, IssuerOfPatientID, PatientName,
 * PatientBirthDate and the three UIDs: they name folders and decide which
 * instances are the same) are never cut: a file with one longer than
 * DCM_ID_MAX - 1 bytes fails with DCM_ERR_TOO_LONG.  So that a byte 0x00
 * inside such a value cannot end it early, 0x00 becomes the two bytes
 * 0x01 '0' and 0x01 becomes 0x01 0x01: distinct values stay distinct, and a
 * 0x01 in them is always followed by '0' or 0x01.  Other values (dates,
 * descriptions) are display only and are cut to their field. */
#define DCM_UI_MAX 65
#define DCM_TEXT_MAX 256
#define DCM_ID_MAX 1024

struct dcm_info {
	char transfer_syntax[DCM_UI_MAX];       /* (0002,0010), or the guessed syntax's UID */
	enum dcm_syntax syntax;
	int has_meta;                           /* File Meta group present */
	int has_preamble;                       /* 128-byte preamble + "DICM" present */

	char patient_id[DCM_ID_MAX];          /* (0010,0020) */
	char issuer_of_patient_id[DCM_ID_MAX]; /* (0010,0021) */
	char patient_name[DCM_ID_MAX];        /* (0010,0010), UTF-8 */
	char patient_birth_date[DCM_ID_MAX];    /* (0010,0030) */
	char patient_sex[DCM_UI_MAX];           /* (0010,0040) */
	char study_uid[DCM_ID_MAX];             /* (0020,000D) */
	char study_date[DCM_UI_MAX];            /* (0008,0020) */
	char study_time[DCM_UI_MAX];            /* (0008,0030) */
	char study_description[DCM_TEXT_MAX];   /* (0008,1030), UTF-8 */
	char accession_number[DCM_UI_MAX];      /* (0008,0050) */
	char referring_physician[DCM_TEXT_MAX]; /* (0008,0090), UTF-8 */
	char series_uid[DCM_ID_MAX];            /* (0020,000E) */
	char modality[DCM_UI_MAX];              /* (0008,0060) */
	char series_description[DCM_TEXT_MAX];  /* (0008,103E), UTF-8 */
	char sop_instance_uid[DCM_ID_MAX];      /* (0008,0018) */
	char sop_class_uid[DCM_UI_MAX];         /* (0008,0016) */
	char specific_charset[DCM_TEXT_MAX];    /* (0008,0005), as stored */
	char photometric[DCM_UI_MAX];           /* (0028,0004) */
	int32_t series_number;                  /* (0020,0011), -1 if absent */
	int32_t instance_number;                /* (0020,0013), -1 if absent */
	int32_t number_of_frames;               /* (0028,0008), 1 if absent */
	int32_t rows, columns;                  /* (0028,0010/0011), 0 if absent */
	int32_t bits_allocated;                 /* (0028,0100), 0 if absent */
	int32_t bits_stored;                    /* (0028,0101), 0 if absent */
	int32_t samples_per_pixel;              /* (0028,0002), 1 if absent */
	int32_t planar_configuration;           /* (0028,0006), 0 if absent */
	int32_t pixel_representation;           /* (0028,0103), 0 if absent */

	/* Top-level pixel element.  pixel_tag is 0 when the file has none.
	 * pixel_element_offset: first byte of the element's tag.
	 * pixel_value_offset:   first byte of its value (after tag, VR, length).
	 * pixel_value_length:   bytes of value up to the end of the element; for
	 *                       an undefined length (encapsulated) element this
	 *                       includes every item and the sequence delimiter.
	 * Offsets are into the buffer given to dcm_scan(); for deflated files they
	 * are 0 and pixel_tag is still reported (from the inflated stream). */
	uint32_t pixel_tag;                     /* 0x7FE00010, 0x7FE00008, 0x7FE00009 or 0 */
	int pixel_encapsulated;                 /* undefined length, fragments */
	uint64_t pixel_element_offset;
	uint64_t pixel_value_offset;
	uint64_t pixel_value_length;

	/* Empty when the dataset parses as whole elements, tags ascending, to
	 * the last byte of the file.  Otherwise why not (e.g. bytes appended
	 * after the pixel data): the file is still accepted and stored exactly,
	 * but the store never prefers it over a clean version (catalog.h). */
	char unclean[160];
};

/* Scan buf[0..len).  Returns DCM_OK and fills *info, or an error status and
 * writes a one-line, specific reason (e.g. "element (0010,0010) length 32767
 * runs past end of file at offset 660") into err[0..errlen). */
int dcm_scan(const uint8_t *buf, size_t len, struct dcm_info *info,
	     char *err, size_t errlen);

/* A short fixed name for a status ("truncated", "not DICOM", ...). */
const char *dcm_strerror(int status);

/* ---- the element walk, for programs that rewrite datasets ----
 *
 * The iterator is the scanner's own walk: the same header rules, the same
 * checks, so a program that rewrites what dcm_scan() accepted sees the very
 * elements the scanner saw.  It yields the elements of one level (the
 * top-level dataset, a sequence's items, an item's elements) in file order
 * and steps over each whole, nested sequences included.  The rules:
 *  - an element header is tag (group, element), then in an explicit VR
 *    stream two VR letters and either a 16-bit length, or for the long VRs
 *    (dcm_vr_is_long()) two reserved bytes and a 32-bit length; in an
 *    implicit stream a 32-bit length;
 *  - items and delimiters (group FFFE) never carry a VR;
 *  - in an explicit stream, VR bytes that are not two capitals are read as
 *    an implicit header (tag + 32-bit length) and flagged vr_unreadable
 *    (pydicom's fallback for implicit items inside explicit files);
 *  - an undefined length (DCM_UNDEFINED_LENGTH) runs to the matching
 *    sequence delimiter, items of defined length skipped by their length,
 *    those of undefined length walked to their item delimiter, at most 64
 *    levels deep; the value of a UN element of undefined length is implicit
 *    VR little endian (PS3.5 6.2.2);
 *  - every length is checked against the range walked: nothing outside
 *    [buf, buf + len) is ever read.
 * Pixel Data of undefined length (fragments) is stepped over like a
 * sequence of defined-length items. */

#define DCM_UNDEFINED_LENGTH 0xFFFFFFFFu
#define DCM_TAG_ITEM 0xFFFEE000u
#define DCM_TAG_ITEM_DELIMITER 0xFFFEE00Du
#define DCM_TAG_SEQUENCE_DELIMITER 0xFFFEE0DDu

/* One element as read; offsets are into the buffer the iterator walks. */
struct dcm_element {
	uint32_t tag;                   /* group << 16 | element */
	char vr[3];                     /* explicit VR, NUL-terminated; "" in an
					 * implicit stream, for items and delimiters,
					 * and when vr_unreadable */
	int vr_unreadable;              /* explicit stream, VR bytes not two
					 * capitals: read as an implicit header */
	uint32_t value_length;          /* as declared, or DCM_UNDEFINED_LENGTH */
	size_t offset;                  /* first byte of the tag */
	size_t length_offset;           /* first byte of the length field */
	size_t value_offset;            /* first byte of the value */
	size_t end;                     /* first byte after the element: after its
					 * value, after the delimiter that closes
					 * an undefined length, or for a delimiter
					 * (whose length field is not used) right
					 * after its 8-byte header */
};

/* Where a walk is; the caller owns it (a plain value, nothing to free). */
struct dcm_iter {
	const uint8_t *buf;
	size_t len;                     /* the walk ends here */
	size_t pos;                     /* the next element starts here */
	int explicit_vr;
	int big_endian;
	int depth;                      /* sequence levels above this walk */
	char err[200];                  /* why the last dcm_iter_next() failed */
};

/* Start a walk of the elements in buf[start..len), explicit or implicit VR,
 * little or big endian.  The buffer must outlive the walk. */
void dcm_iter_init(struct dcm_iter *it, const uint8_t *buf, size_t len,
		   size_t start, int explicit_vr, int big_endian);

/* 1 when the walk has reached its end (no element left), else 0. */
int dcm_iter_done(const struct dcm_iter *it);

/* The tag of the next element without reading it, or 0 when fewer than
 * 4 bytes are left. */
uint32_t dcm_iter_peek_tag(const struct dcm_iter *it);

/* Read the next element into *e and move past it (its whole value, nested
 * sequences included).  Returns DCM_OK, or DCM_ERR_TRUNCATED (the range ends
 * inside it), DCM_ERR_LENGTH (a length runs past the end), or
 * DCM_ERR_BAD_SEQUENCE (no delimiter where one is due, a non-item inside a
 * sequence, nesting deeper than 64), with a one-line reason in it->err; the
 * walk does not move on an error. */
int dcm_iter_next(struct dcm_iter *it, struct dcm_element *e);

/* Start a walk of the contents of element e read by parent: the items of a
 * sequence, the elements of an item.  For an undefined length the walk ends
 * with the delimiter, which it yields as its last element.  A UN element of
 * undefined length is walked as implicit VR little endian.  Returns DCM_OK,
 * or DCM_ERR_BAD_SEQUENCE when that would nest deeper than 64 levels. */
int dcm_iter_enter(const struct dcm_iter *parent, const struct dcm_element *e,
		   struct dcm_iter *child);

/* 1 when an explicit VR (two bytes) has a 32-bit length (OB, OD, OF, OL,
 * OV, OW, SQ, SV, UC, UN, UR, UT, UV, and every unknown one: later
 * editions of the standard only ever add long VRs), else 0. */
int dcm_vr_is_long(const char *vr);

#endif
