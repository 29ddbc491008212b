/*
 * log.h - the daemon's log: one line per event that matters.
 *
 * Every message of the daemon and of libfuse goes through fuse_log(); this
 * module decides where it lands.  Until log_to_syslog() (called once the
 * daemon has detached) lines go to standard error as "dcmfs: <message>";
 * after it they go to syslog (ident "dcmfs", facility daemon, with the pid),
 * where the journal collects them.  A foreground daemon (-f, -d) keeps
 * standard error, which systemd also hands to the journal.
 *
 * Levels are syslog's.  What is logged at which level:
 *   err      an EIO at the mount (with the instance and the blob or pack
 *            it came from), damaged data, a store that cannot take a file
 *            (ENOSPC), a failed start
 *   warning  a second read-write mount of one store, a file refiled
 *   notice   mount and unmount (store, mountpoint, options)
 *   info     each file ingested through /incoming: accepted, duplicate,
 *            new version, quarantined or rejected with the reason
 *   debug    libfuse's debug output (-d)
 * Lines above the level chosen with -o log_level= are dropped (default:
 * info to syslog, warning to standard error, so that a foreground daemon
 * says only what went wrong; -d sets debug).  When standard error is the
 * journal's stream (JOURNAL_STREAM, as under systemd) each line carries its
 * level as "<N>" (sd-daemon(3)).  Thread-safe: each line is one write.
 */
#ifndef DCMFS_LOG_H
#define DCMFS_LOG_H

/* Parse a level name (err, warning, notice, info, debug; also error, warn)
 * into a syslog level.  Returns -1 for anything else. */
int log_level_parse(const char *name);

/* Start logging to standard error at level (a syslog level): installs the
 * fuse_log handler.  Call before the first message. */
void log_start(int level);

/* From now on, log to syslog instead of standard error. */
void log_to_syslog(void);

#endif
