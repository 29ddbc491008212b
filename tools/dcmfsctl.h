/*
 * dcmfsctl.h - what dcmfsctl.c shares with the files holding its other
 * families of subcommands (tools/dcmfsctl_*.c, linked into dcmfsctl).
 */
#ifndef DCMFS_DCMFSCTL_H
#define DCMFS_DCMFSCTL_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define EXIT_PROBLEMS 1
#define EXIT_ERROR 2

struct store;

/* "dcmfsctl: <message>" and a pointer to --help on stderr; exit(2). */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Close stdout (failing if that fails: a full disk is no success) and
 * return status. */
int finish(int status);
/* Open a store or die saying why (the caller closes it with store_close). */
struct store *open_store(const char *dir, int readonly);

/* `dcmfsctl share SUBCOMMAND ...` (dcmfsctl_share.c): argv[0] is "share".
 * Returns the exit status. */
int cmd_share(int argc, char **argv);

/* `dcmfsctl find ...` (dcmfsctl_find.c): argv[0] is "find". */
int cmd_find(int argc, char **argv);
/* n bytes for a person ("1.5 MiB") into buf; returns buf. */
const char *human(uint64_t n, char *buf, size_t len);
/* `dcmfsctl status [--json] STORE` (dcmfsctl_status.c). */
int cmd_status(int argc, char **argv);
/* A date option's value, YYYYMMDD or a DICOM range FROM-TO, FROM-, -TO,
 * into from and to ("" = open; one date is both); a usage error naming
 * opt when it is none of these. */
void find_date_range(const char *opt, const char *text, char from[9], char to[9]);
/* s with control bytes shown as '?', in *buf (freed and replaced at each
 * call; the caller frees the last). */
const char *text_safe(const char *s, char **buf);
/* A study's modalities (cat_study_info) as one text, separated by '\\' as
 * DICOM writes several values; malloc'd, the caller frees it. */
char *modalities_text(const char *list);
struct cat_study_info;
/* A study as a JSON object (find, ls): its values, modalities as a list,
 * and its path in the mount. */
json_object *study_json(const struct cat_study_info *i);

/* The usage lines of the share subcommands, in dcmfsctl --help. */
#define SHARE_USAGE \
	"  share create STORE NAME RULE... [--deidentify [--shift-dates] [--allow-burned-in]]\n" \
	"               [--expires YYYY-MM-DD[THH:MM:SS]]\n" \
	"                                  define a share.  RULE: --patient ID (a PatientID,\n" \
	"                                  or a folder name of /patients), --study UID,\n" \
	"                                  --series UID, --accession N, --modality M (each\n" \
	"                                  repeatable: ORed), --from YYYYMMDD, --to YYYYMMDD\n" \
	"                                  (StudyDate, inclusive); kinds are ANDed.  --all\n" \
	"                                  shares everything (and takes no RULE).  NAME:\n" \
	"                                  letters, digits, '-', '_', '.', no leading '.',\n" \
	"                                  at most 64 bytes.  --expires: expired from that\n" \
	"                                  time (UTC; a date means its 00:00:00) on.\n" \
	"                                  Exit 1 when NAME exists\n" \
	"  share list [--json] STORE       every share: name, de-identified, expiry, rules\n" \
	"  share show [--json] STORE NAME  a share's rules and what it covers now\n" \
	"  share rm STORE NAME             remove a share (and its de-identification cache)\n"

#endif
