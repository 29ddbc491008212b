/*
 * version.h - the one place that says which dcmfs this is.
 *
 * Every program prints "<program> <DCMFS_VERSION>" for --version; the Debian
 * package (make deb) takes its version from this line too.
 */
#ifndef DCMFS_VERSION_H
#define DCMFS_VERSION_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DCMFS_VERSION "0.2.0"

/* When the first argument is --version: print "<program> <version>" and
 * exit 0.  Otherwise return, changing nothing. */
static inline void version_exit_if_asked(int argc, char **argv, const char *program)
{
	if (argc > 1 && !strcmp(argv[1], "--version")) {
		printf("%s %s\n", program, DCMFS_VERSION);
		exit(fflush(stdout) ? 2 : 0);
	}
}

#endif
