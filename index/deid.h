/*
 * deid.h - de-identified shares: the files and names a share made with
 * --deidentify shows in place of the originals.
 *
 * A de-identified file is a rewritten header followed by the original
 * pixel value bytes, and nothing else (the trailer after Pixel Data is
 * dropped).  The header is rewritten by GDCM behind one C++ shim
 * (deid_gdcm.h says exactly what the profile does): PS3.15 Annex E Basic
 * Application Level Confidentiality Profile, with keyed pseudonyms and
 * 2.25.<decimal> UIDs made from the share's secret, so that one share
 * always gives the same patient, study, series and instance the same new
 * names, and two shares give different ones.  A file stored whole (no
 * pixel data, or deflated) is rewritten whole.  Pixel bytes are read
 * through the one instance reader (instance.h), decoding only the chunks
 * a read touches; they are never copied.
 *
 * Keys.  With K the share's 32-byte secret and H = HMAC-SHA256(K, .):
 *   new UID of u       "2.25." + decimal of the first 16 bytes of H("uid" 0 u)
 *   patient pseudonym  "P-" + 16 hex of H("patient" 0 key 0 issuer), where
 *                      key is the catalogue's patient key (the PatientID,
 *                      or for a patient without one, name and birth date);
 *                      PatientID and the patient folder are the pseudonym,
 *                      PatientName is "ANON^" + pseudonym
 *   date shift         -(1 + (first 4 bytes, big endian, of H("shift" 0 key 0 issuer))
 *                      mod 365) days, one per patient (shift_dates)
 *
 * Left out.  Unless the share has allow_burned_in, an instance that may
 * carry identity in its pixels is not in the share: BurnedInAnnotation
 * YES, and secondary captures (SOP classes 1.2.840.10008.5.1.4.1.1.7*) and
 * ultrasound (Modality US or an ultrasound SOP class) without
 * BurnedInAnnotation NO.  A header GDCM cannot rewrite is left out too
 * (never shown unrewritten).
 *
 * The cache, on disk.  Rewritten headers are kept in the store, so that
 * stat sizes are exact and a second mount is fast:
 *   STORE/shares/.deid/NAME/GEN/ab/<32 hex>   (.deid is SHARE_DEID_DIR)
 * GEN is 16 hex of H("cache"): a recreated share (a new secret) uses a new
 * GEN and the first open that makes it removes the other GENs of NAME;
 * share_drop_cache (share.h) removes NAME's whole folder (share rm and
 * share create).  A file is named by 32 hex of H("header" 0 hash ordinal
 * kind shift_dates version), with the 16-byte hash, ordinal and kind of the
 * instance's header blob and the other three as u32 little endian (version:
 * of the rewrite rules, DEID_PROFILE_VERSION in deid.c), so instances that
 * share a header share their rewrite.  Its bytes (integers little endian):
 *     0  8  magic "DCMDEID1"
 *     8  4  status: 0 rewritten, or why the instance is left out
 *           (enum in deid.c: burned-in, secondary capture, ultrasound,
 *           header does not parse)
 *    12  4  reserved, 0
 *    16  8  n: bytes of the rewritten header
 *    24  8  XXH3-64 of bytes 0..24, xor XXH3-64 with seed
 *           0x646569642d763121 of the n bytes that follow
 *    32  n  the rewritten header (for a left-out status, still the
 *           rewrite when there is one: allow_burned_in shows it)
 * Written to a temporary name in the same folder and renamed, never
 * synced: a cache file that fails its check is made again.  A store
 * whose cache cannot be written (read-only) still works, rewriting on
 * every open.
 *
 * Threads: every function may be called from any thread; a deid_file may
 * be read from several threads at once, each with its own codec_ctx.
 */
#ifndef DCMFS_DEID_H
#define DCMFS_DEID_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "codec.h"
#include "share.h"
#include "store.h"

/* Returned (> 0) by deid_file_open and deid_file_stat for an instance
 * the share leaves out. */
#define DEID_LEFT_OUT 1

struct deid_file;

/* Open the de-identified file of instance id (a row of cat, a connection
 * of the calling thread) in share sh.  Returns 0 and *out (the caller's,
 * to deid_file_close); DEID_LEFT_OUT with *why (a static string: "burned-in
 * annotation", "secondary capture without BurnedInAnnotation=NO",
 * "ultrasound without BurnedInAnnotation=NO", "header cannot be
 * de-identified") and *out NULL; -ENOENT (no such instance); -EIO (its
 * data cannot be read: damaged or missing); -ENOMEM.  why may be NULL.
 * The file keeps s and sh, which must outlive it. */
int deid_file_open(struct store *s, struct catalog *cat, const struct share *sh,
		   int64_t instance_id, struct deid_file **out, const char **why);
/* The size and verdict of instance id without opening its pixel data
 * (lookup, getattr, readdir): 0 and *size, or as deid_file_open. */
int deid_file_stat(struct store *s, struct catalog *cat, const struct share *sh,
		   int64_t instance_id, uint64_t *size, const char **why);
/* The file's size in bytes: rewritten header + pixel value length. */
uint64_t deid_file_size(const struct deid_file *f);
/* Read [off, off + n) into buf.  Returns the bytes read (short only at
 * end of file, 0 past it), or -EIO (the pixel data does not decode),
 * -ENOMEM.  ctx is the calling thread's. */
int64_t deid_file_read(struct deid_file *f, struct codec_ctx *ctx, uint64_t off,
		       void *buf, size_t n);
/* Free the file.  NULL is fine. */
void deid_file_close(struct deid_file *f);

/* The name of a node in a de-identified share: a patient folder is the
 * patient pseudonym, a study or series folder its new UID, an instance
 * <new SOPInstanceUID>.dcm; never an original value.  Returns 0, -ENOENT
 * (no such row), -EINVAL (another kind), -ENAMETOOLONG (len too small),
 * -errno. */
int deid_node_name(const struct share *sh, struct catalog *cat, int cat_kind, int64_t id,
		   char *out, size_t len);
/* The new UID for uid in the share with this secret: "2.25." and the
 * decimal of a 128-bit keyed hash (at most 44 characters), into out. */
void deid_uid(const uint8_t secret[32], const char *uid, char out[65]);
/* The patient pseudonym for a catalogue patient key and issuer (at most
 * 18 characters), into out. */
void deid_patient_pseudonym(const uint8_t secret[32], const char *key, const char *issuer,
			    char out[32]);

#endif
