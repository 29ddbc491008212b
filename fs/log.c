/*
 * log.c - where the daemon's lines go (log.h).
 */
#include "log.h"

#include <fuse_log.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* Written before the loop starts, read by every thread after: no lock. */
static int log_max = LOG_INFO;
static int log_syslog;
static int log_journal;         /* stderr is the journal's: "<N>" prefixes */

int log_level_parse(const char *name)
{
	static const struct { const char *name; int level; } names[] = {
		{ "err", LOG_ERR }, { "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "warn", LOG_WARNING }, { "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (!strcasecmp(name, names[i].name))
			return names[i].level;
	return -1;
}

/* libfuse writes some messages in pieces: each thread gathers its pieces
 * until a newline ends the line. */
static _Thread_local char pending[4096];
static _Thread_local size_t pending_len;

static void log_line(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if ((int)level > log_max)
		return;
	size_t room = sizeof(pending) - pending_len;
	int n = vsnprintf(pending + pending_len, room, fmt, ap);
	pending_len = n < 0 ? pending_len : (size_t)n < room ? pending_len + (size_t)n : sizeof(pending) - 1;
	if (!pending_len || (pending[pending_len - 1] != '\n' && pending_len < sizeof(pending) - 1))
		return;
	/* The daemon's own messages start "dcmfs: " (the ident says it in
	 * syslog, and stderr gets it once); libfuse's do not. */
	const char *raw = strncmp(pending, "dcmfs: ", 7) ? pending : pending + 7;
	size_t rawlen = (size_t)(pending + pending_len - raw);
	while (rawlen && raw[rawlen - 1] == '\n')
		rawlen--;
	/* Names come from users (files dropped in /incoming): a control byte
	 * in one must not forge or break a line of the log. */
	char msg[sizeof(pending) * 4];
	int len = 0;
	for (size_t i = 0; i < rawlen && (size_t)len + 5 < sizeof(msg); i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c < 0x20 || c == 0x7f)
			len += snprintf(msg + len, sizeof(msg) - (size_t)len, "\\x%02x", c);
		else
			msg[len++] = (char)c;
	}
	if (log_syslog)
		syslog((int)level, "%.*s", len, msg);
	else if (log_journal)
		fprintf(stderr, "<%d>%.*s\n", (int)level, len, msg);
	else
		fprintf(stderr, "dcmfs: %.*s\n", len, msg);
	pending_len = 0;
}

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected: only
 * when it is still our stderr (not redirected since) does the journal
 * read our prefixes. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && !fstat(STDERR_FILENO, &st) &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_start(int level)
{
	log_max = level;
	log_journal = stderr_is_journal();
	fuse_set_log_func(log_line);
}

void log_to_syslog(void)
{
	openlog("dcmfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = 1;
}
