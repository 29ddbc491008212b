/*
 * catalog_names.h - what an instance and its folders are called, from
 * the values of its record alone.
 *
 * These are the naming rules every catalogue implementation (SQLite,
 * PostgreSQL) must apply identically: the names go into its rows once,
 * and verify holds the rows against the records by these same rules
 * (catalog_identity_want), so two copies that drift apart would make
 * verify report a healthy store, or rename files in an existing one.
 * Nothing here touches a database: a rule that needs to see other rows
 * (the -N a %noid folder takes when its stem is used) is the
 * implementation's, and says so below.
 *
 * Every name written into a buffer of NAME_COMPONENT_MAX + 1 bytes is one
 * path component (escape.h): escaped, and fitted with a hash when long.
 */
#ifndef DCMFS_CATALOG_NAMES_H
#define DCMFS_CATALOG_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "dicom.h"
#include "escape.h"

/* The patients row key of an instance (patients.patient_id).  With a
 * PatientID: the ID (the issuer goes in its own column).  Without one,
 * the patient is who the name, birth date and issuer say: the key is
 * "\x01noid\x01|" name "\x01|" birth date.  The scanner never leaves 0x01
 * followed by 'n' or '|' in a value (dicom.h), so no key of one kind
 * equals a key of the other, and two keys are equal only if all their
 * values are.  Returns a string the caller frees, or NULL (no memory). */
char *names_patient_key(const struct dcm_info *d);

/* The hash of a %noid folder: the low 32 bits of XXH3-64 of key "\x01|"
 * issuer.  0, or -ENOMEM. */
int names_noid_hash(const char *key, const char *issuer, uint32_t *h);

/* The folder of a patient, key being names_patient_key(d):
 * <PatientID> or <PatientID>@<Issuer>, escaped and fitted (the hash is of
 * the ID, or of ID NUL issuer); without a PatientID, the stem
 * %noid-<8 hex> (names_noid_hash) and *noid set.  The implementation
 * names a new %noid patient with the first of stem, stem-2, stem-3... no
 * patient's folder has ('@' and '~' are always escaped in values and no
 * escaped value starts with "%n", so these names cannot collide).
 * out has NAME_COMPONENT_MAX + 1 bytes.  0, or -ENOMEM. */
int names_patient_dir(const struct dcm_info *d, const char *key,
		      char out[NAME_COMPONENT_MAX + 1], int *noid);

/* The folder of a study or series: its UID as one component. */
void names_folder_dir(const char *uid, char out[NAME_COMPONENT_MAX + 1]);

/* The suffix of version N's name in /versions and /quarantine:
 * ".v<N>.dcm".  out has 32 bytes. */
void names_version_suffix(uint32_t version, char out[32]);

/* The names of an instance: fname in its series folder when current
 * (<SOP>.dcm), vname in /versions and /quarantine (<SOP>.v<N>.dcm). */
void names_instance(const char *sop_uid, uint32_t version,
		    char fname[NAME_COMPONENT_MAX + 1], char vname[NAME_COMPONENT_MAX + 1]);

/* Whether a row keeps name (its fname or vname column): 1 when name is
 * not sop_uid followed by suffix (escaping or cutting changed it), else
 * 0 and the column is NULL, the name given by the SOP UID. */
int names_kept(const char *name, const char *sop_uid, const char *suffix);

/* The SOP UID a file name stands for when it is plain: <SOP>.dcm, or
 * with versioned <SOP>.v<N>.dcm (*version set), where escaping leaves SOP
 * as it is.  1 with sop (len bytes) set, or 0: the name is escaped, cut,
 * or no instance's, and is looked up as kept. */
int names_plain_sop(const char *name, int versioned, char *sop, size_t len, uint32_t *version);

#endif
