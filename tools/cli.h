/*
 * cli.h - what every command-line tool of dcmfs does the same way.
 *
 * A tool defines cli_program_name (e.g. "dcmfsctl"); die() prints
 * "<cli_program_name>: <message>" on stderr and exits with status 2, the
 * status of a usage or store error in every tool.  The x*() allocators never
 * return NULL: they die with "out of memory" instead.
 */
#ifndef DCMFS_CLI_H
#define DCMFS_CLI_H

#include <stddef.h>

/* Defined by each program, named in every message die() prints. */
extern const char cli_program_name[];

/* Print the message (printf format) and exit(2).  Never returns. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* malloc(n), realloc(p, n), strdup(s) that die instead of failing.  A size
 * of 0 still gives a unique pointer.  The caller frees the result. */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
