/*
 * share.h - shares: named subsets of a store, mounted as read-only views.
 *
 * A share is a definition (which patients, studies, series, accessions,
 * modalities and study dates it covers, and how it is shown), never a copy:
 * membership is evaluated against the catalogue now, so a share on a
 * patient covers that patient's studies imported after it was made.
 *
 * Rules.  Values of one kind are ORed, kinds are ANDed.  Every rule is
 * about the patient (PatientID), the study (StudyInstanceUID,
 * AccessionNumber, StudyDate in [from, to]) or the series
 * (SeriesInstanceUID, Modality), so membership is decided per series: a
 * series is in the share when it matches, a study or patient when one of
 * its series is.  Values are compared exactly, as the catalogue keeps them
 * (patients.patient_id: a NUL inside a PatientID is the bytes 0x01 '0',
 * see dicom.h).  A study without a StudyDate never matches a date rule.
 * `all` covers everything and has no other rule.
 *
 * On disk: STORE/shares/NAME, mode 0600, one definition per file; the file
 * name is the share's name (share_name_check).  Plain text, lines ending
 * in '\n':
 *
 *     dcmfs-share 1                       the first line, always
 *     created 1764480000                  seconds since the epoch (UTC)
 *     secret <64 hex digits>              32 random bytes (getrandom)
 *     all 1                               optional; --all
 *     patient VALUE                       any number of each rule line:
 *     study VALUE                           patient, study, series,
 *     series VALUE                          accession, modality
 *     accession VALUE
 *     modality VALUE
 *     from YYYYMMDD                       optional StudyDate bounds,
 *     to YYYYMMDD                           inclusive
 *     deidentify 1                        optional flags
 *     shift-dates 1
 *     allow-burned-in 1
 *     expires 1767225600                  optional; the first second (UTC)
 *                                           at which the share is expired
 *
 * A line is a key, one space, and its value.  Values are percent-escaped:
 * '%', and every byte outside '!'..'~' (space, controls, bytes >= 0x80),
 * is written %XX (two upper-case hex digits), so any byte string
 * round-trips and no line holds a space or control character in its
 * value.  Lines may come in any order after the first; a key other than
 * these, a single-valued key given twice, a bad escape, a bad number, a
 * bad date, a share without rules (and without `all`), or `all` with
 * rules, is a damaged file: share_load names the line.
 *
 * The definition travels with the store (a backup of the folder carries
 * it) and `reindex` never touches STORE/shares.  STORE/shares/.deid/NAME
 * holds the de-identification cache of share NAME (deid.h); names starting
 * with '.' are never shares, so temporary files and caches live beside the
 * definitions without being listed.
 *
 * Errors are negative errno values; err/errlen, where present, receive a
 * one-line reason (never NULL when errlen > 0).
 */
#ifndef DCMFS_SHARE_H
#define DCMFS_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

#define SHARE_NAME_MAX 64
#define SHARE_DIR "shares"
#define SHARE_DEID_DIR ".deid"

struct share {
	char name[SHARE_NAME_MAX + 1];
	int all;                                  /* --all: everything */
	char **patients;   size_t npatients;      /* PatientID values, exact */
	char **studies;    size_t nstudies;       /* StudyInstanceUID */
	char **series;     size_t nseries;        /* SeriesInstanceUID */
	char **accessions; size_t naccessions;    /* AccessionNumber (of the study) */
	char **modalities; size_t nmodalities;    /* Modality (of the series) */
	char from[9], to[9];                      /* StudyDate range YYYYMMDD, "" = open */
	int deidentify, shift_dates, allow_burned_in;
	int64_t expires_s;                        /* 0 = never; else first second (UTC) it is expired */
	int64_t created_s;
	uint8_t secret[32];                       /* random per share (getrandom), kept in the file */
};

/* 0 when name is a valid share name: 1..SHARE_NAME_MAX bytes of letters,
 * digits, '-', '_' and '.', not starting with '.'.  Else -EINVAL and a
 * specific reason in err (empty, too long, leading dot, a '/', or the
 * first other byte, shown escaped, and where it is). */
int share_name_check(const char *name, char *err, size_t errlen);

/* 0 when yyyymmdd is 8 digits naming a real calendar date (1..9999), else
 * -EINVAL. */
int share_date_check(const char *yyyymmdd);

/* Check a definition as share_save_new and share_load do: a valid name,
 * rules or `all` (not both), no empty value, valid dates with from <= to.
 * 0 or -EINVAL with the reason in err. */
int share_validate(const struct share *sh, char *err, size_t errlen);

/* Write a new definition: STORE/shares/NAME (the folder is made when
 * missing), mode 0600, written to a temporary name, fsynced, and linked to
 * its name only if that name is free, then the folder is fsynced.  A
 * leftover de-identification cache of an earlier share of that name
 * (STORE/shares/.deid/NAME) is removed first.  sh stays the caller's; its
 * secret and created_s are written as they are (the caller fills them:
 * share_new_secret).  Returns 0; -EEXIST when a share of that name exists;
 * -EINVAL (share_validate); or -errno; err says which. */
int share_save_new(const char *store_dir, const struct share *sh, char *err, size_t errlen);

/* Fill sh->secret with random bytes (getrandom): 0 or -errno. */
int share_new_secret(struct share *sh);

/* Read STORE/shares/NAME into a new struct share (*out, the caller's, to
 * share_free).  Returns 0; -EINVAL for a bad name or a damaged file (err
 * names the line and what is wrong with it); -ENOENT when there is no
 * such share; -ENOMEM; or -errno. */
int share_load(const char *store_dir, const char *name, struct share **out,
	       char *err, size_t errlen);

/* Free a share from share_load or share_alloc, its values and itself.
 * NULL is fine. */
void share_free(struct share *sh);

/* A zeroed struct share (the caller's, to share_free), NULL on ENOMEM. */
struct share *share_alloc(void);

/* Append a copy of value to a rule list (e.g. &sh->patients,
 * &sh->npatients): 0 or -ENOMEM. */
int share_add_value(char ***list, size_t *n, const char *value);

/* Remove STORE/shares/NAME and its de-identification cache
 * (STORE/shares/.deid/NAME).  Returns 0; -ENOENT when there is no such
 * share; -EINVAL for a bad name; or -errno. */
int share_remove(const char *store_dir, const char *name);

/* Remove STORE/shares/.deid/NAME and everything under it: 0 (also when it
 * is not there) or -errno. */
int share_drop_cache(const char *store_dir, const char *name);

/* The names of the store's shares (files of STORE/shares whose name is a
 * valid share name), sorted by strcmp, into a malloc'd array of malloc'd
 * strings (*names, NULL when none; free each and the array).  No folder
 * means no shares.  Returns 0 and *n, or -errno. */
int share_names(const char *store_dir, char ***names, size_t *n);

/* 1 when the share has expired at now_s (seconds since the epoch), else 0. */
int share_expired(const struct share *sh, int64_t now_s);

/* The rules as one line ("patient=A,B study=1.2.3 from=20200101", "all"),
 * values escaped as in the file: a malloc'd string (the caller frees it),
 * NULL on ENOMEM. */
char *share_rules_text(const struct share *sh);

/* ---- membership ---- */

/* Whether series series_id (a row of the catalogue) is in the share: 1,
 * 0 (also when the series has no row), or -errno. */
int share_series_matches(struct catalog *cat, const struct share *sh, int64_t series_id);

/* The patient, study and series ids of a share: the series that match its
 * rules, and the studies and patients that hold at least one of them,
 * whether or not /patients shows them now (a folder whose instances all
 * have a newer version elsewhere is still a member; callers that list
 * folders check catalog_node's nchildren, as the admin tree does).
 * Readers (share_members_has, share_members_each, share_members_count)
 * may run on many threads while one thread calls share_members_apply:
 * a read-write lock keeps them apart. */
struct share_members;

/* Build the members of sh from the catalogue now (one indexed query).
 * sh must outlive the result: share_members_apply reads its rules.
 * Returns 0 and *out (the caller's, to share_members_free) or -errno. */
int share_members_build(struct catalog *cat, const struct share *sh,
			struct share_members **out);

/* 1 when id (of kind CAT_PATIENT, CAT_STUDY or CAT_SERIES) is a member,
 * else 0 (also for other kinds). */
int share_members_has(const struct share_members *m, int cat_kind, int64_t id);

/* Follow one change of the catalogue's change feed (catalog.h): a series
 * shown (new, or changed) is checked against the rules and, when it
 * matches, added with its study and patient; a folder row deleted is
 * dropped, and a study or patient left without member series with it.
 * Instances and other changes cost nothing.  Returns 0 or -errno (the
 * members are then as before this change; rebuild on doubt).  When the
 * feed says -ESTALE, build anew instead. */
int share_members_apply(struct share_members *m, struct catalog *cat,
			const struct cat_change *ch);

/* The members of a kind under parent (a patient's studies, a study's
 * series; parent 0 for the patients), id ascending, to cb; a non-zero
 * return stops the walk and is returned.  The walk runs on a copy of the
 * ids, so cb may call anything (also share_members_apply).  Returns 0,
 * cb's value, -EINVAL for another kind, or -ENOMEM. */
int share_members_each(const struct share_members *m, int cat_kind, int64_t parent,
		       int (*cb)(void *arg, int64_t id), void *arg);

/* How many members of a kind are under parent (parent 0 for patients: all
 * of them); 0 for another kind. */
size_t share_members_count(const struct share_members *m, int cat_kind, int64_t parent);

/* Free the members.  NULL is fine. */
void share_members_free(struct share_members *m);

#endif
