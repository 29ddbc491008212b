/*
 * audit.h - the access audit: one record per open of a stored instance
 * through a mount started with `-o audit`, appended to a log in the store,
 * and the reader behind `dcmfsctl audit`.
 *
 * What it promises:
 *  - audit_record never blocks its caller for long: it formats one line and
 *    puts it in an in-memory queue; a writer thread appends the queue to the
 *    log with one write() per batch (lines gather for AUDIT_GATHER_MS) and
 *    makes it durable with fdatasync at most once a second.  A daemon killed
 *    with kill -9 loses only what was still queued, the last AUDIT_GATHER_MS
 *    (a write() is in the kernel's page cache as soon as it returns); a
 *    machine that stops loses at most the last second.
 *  - When the queue is full (the disk stalls, AUDIT_QUEUE_BYTES pending),
 *    an open waits up to AUDIT_WAIT_MS for room; if none comes the record is
 *    dropped and counted, and opens go on without waiting until the writer
 *    has made room (so a hung disk costs one open AUDIT_WAIT_MS, not every
 *    open).  The first drop of a log is reported to syslog (LOG_WARNING:
 *    a mount's stderr is /dev/null once it daemonizes, and a lost audit
 *    record is a security event that belongs in the system log), and every
 *    gap is written into the log itself as a "lost=N" line as soon as the
 *    writer can, so that a reader of the log sees it.  A write that fails
 *    (ENOSPC, EIO) counts its records lost the same way.  We chose to keep
 *    serving images over refusing opens: a clinician's read is not held
 *    hostage to the audit disk, and the hole in the record is itself
 *    recorded.
 *  - A torn or damaged line is detected (per-line checksum) and skipped by
 *    the reader with its file and line number; it is never mis-read.
 *
 * On disk: STORE/audit/ (mode 0700), one file per UTC day,
 * STORE/audit/YYYY-MM-DD.log (mode 0600), opened O_APPEND by every process
 * that records, so several mounts of one store append to the same file
 * without overwriting each other (each batch is one write()).  A line is
 * nine fields separated by one tab each, ending in '\n':
 *
 *   TIME  EVENT  UID  PID  MOUNT  SHARE  SOP_UID  PATIENT  CHECKSUM
 *
 *   TIME      UTC, to the nanosecond: 2026-11-30T06:23:50.123456789Z
 *   EVENT     "open": an open of an instance;
 *             "lost=N": N records of this process (a decimal > 0) could not
 *             be written before TIME (its UID and PID are the daemon's;
 *             SOP_UID and PATIENT are empty)
 *   UID, PID  decimal: who opened (the caller's, as the kernel says)
 *   MOUNT     the mount point
 *   SHARE     the share's name; empty for the admin mount
 *   SOP_UID   the instance's SOPInstanceUID (the stored one, also in a
 *             de-identified share: the log is for the store's administrator)
 *   PATIENT   the instance's patient folder name under /patients
 *   CHECKSUM  XXH3-64 (hash.h checksum64) of every byte of the line before
 *             the tab that precedes it, as 16 lowercase hex digits
 *
 * The text fields are percent-escaped: '%', tab, CR, LF, every byte below
 * 0x20 and 0x7f are written %XX (uppercase hex); other bytes (UTF-8
 * included) are written as they are.  An empty line is ignored.  When a
 * process opens a day file whose last byte is not '\n' (a crash cut a
 * write), it appends '\n' first, so the torn line stays one damaged line
 * and the next record is whole.  Lines are in the order each process wrote
 * them; lines of several processes interleave by batch.
 */
#ifndef DCMFS_AUDIT_H
#define DCMFS_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AUDIT_DIR "audit"
#define AUDIT_QUEUE_BYTES (4u << 20)    /* pending lines before opens wait */
#define AUDIT_WAIT_MS 250               /* the longest an open waits for room */
#define AUDIT_SYNC_MS 1000              /* fdatasync at most this often */
#define AUDIT_GATHER_MS 10              /* queued lines wait this long, to share a write() */

struct audit_log;

/* Start recording into STORE/audit/ (made, mode 0700, when missing): checks
 * that a log file can be created there and starts the writer thread.
 * Returns 0 and *out (the caller's, to audit_close), or -errno (EACCES,
 * EROFS, ENOSPC, ENOMEM, ...) with a one-line reason in err.  Call it after
 * any fork (the writer is a thread). */
int audit_open(const char *store_dir, struct audit_log **out, char *err, size_t errlen);

/* Record one open: uid and pid of the opener, the mount point, the share
 * name ("" or NULL for the admin mount), the SOPInstanceUID and the patient
 * folder (NULL is taken as "").  The strings are copied; the time is taken
 * now.  Waits at most AUDIT_WAIT_MS (see above); cannot fail otherwise: a
 * record that cannot be queued is counted as lost.  NULL a does nothing. */
void audit_record(struct audit_log *a, uid_t uid, pid_t pid, const char *mount,
		  const char *share, const char *sop_uid, const char *patient_folder);

struct catalog;
/* audit_record for instance id of cat (a connection of the calling
 * thread): looks up its SOPInstanceUID and patient folder (remembered for
 * the last 1024 instances or so: an instance row never changes them).
 * Returns 0, or -ENOENT / -EIO when the catalogue has no such instance
 * (then the record is still made, with what is known: empty SOP_UID or
 * PATIENT). */
int audit_record_instance(struct audit_log *a, struct catalog *cat, int64_t instance_id,
			  uid_t uid, pid_t pid, const char *mount, const char *share);

/* Records dropped or not written so far by this log (for tests and
 * statistics).  NULL gives 0. */
uint64_t audit_lost(const struct audit_log *a);

/* Write out everything queued, fdatasync it, stop the writer and free a.
 * NULL does nothing. */
void audit_close(struct audit_log *a);

/* ---- reading (dcmfsctl audit) ---- */

/* One line of the log, as the callback of audit_read sees it. */
struct audit_entry {
	int64_t time_ns;            /* since 1970-01-01 UTC */
	uint64_t lost;              /* 0: an open; else a "lost=N" line's N */
	int64_t uid, pid;
	/* Unescaped, NUL-terminated, valid during the call only. */
	const char *mount, *share, *sop_uid, *patient;
	const char *file;           /* the log file's name (YYYY-MM-DD.log) */
	uint64_t line;              /* 1-based */
};
/* Return nonzero to stop the walk (audit_read returns that value). */
typedef int (*audit_entry_cb)(void *arg, const struct audit_entry *e);
/* A line that is skipped: file name, line number and why (damaged: bad
 * checksum, wrong field count, ...; or the file's last line without its
 * '\n', being written or cut by a crash). */
typedef void (*audit_skip_cb)(void *arg, const char *file, uint64_t line, const char *why);

/* Every line of STORE/audit/ with a time >= since_ns (0: all), files in
 * date order (only files named YYYY-MM-DD.log are read, from the day of
 * since_ns on), lines in file order.  Good lines go to cb, skipped ones to
 * skipped (may be NULL).  Returns 0 (also when STORE/audit does not exist:
 * nothing was ever recorded), cb's nonzero value, or -errno with a reason
 * in err (a file that cannot be read). */
int audit_read(const char *store_dir, int64_t since_ns, audit_entry_cb cb,
	       audit_skip_cb skipped, void *arg, char *err, size_t errlen);

/* Does a record's patient folder belong to the patient named id: the folder
 * itself, or its PatientID (escaped as folder names are, escape.h, with or
 * without an @issuer after it)?  1 or 0. */
int audit_patient_matches(const char *folder, const char *id);

/* Time as the log writes it (TIME above) into out (at least 32 bytes). */
void audit_format_time(int64_t ns, char *out, size_t len);
/* Parse "YYYY-MM-DD", "YYYY-MM-DDTHH:MM", "YYYY-MM-DDTHH:MM:SS" (also with
 * a space for the T, fractional seconds and a final Z; always UTC, from
 * 1970 to 2261) into nanoseconds since the epoch: 0, or -EINVAL. */
int audit_parse_time(const char *text, int64_t *ns);

#endif
