/*
 * escape.h - DICOM values as safe, reversible single path components.
 *
 * Bytes A-Z a-z 0-9 and . - _ + = , stay as they are; every other byte,
 * a leading '.', and '%' itself become %XX (uppercase hex).  The empty
 * value becomes "%" alone (never produced otherwise).  So no name is empty,
 * ".", "..", hidden, or holds '/', control bytes or spaces, and
 * unescape(escape(x)) == x for any bytes.
 */
#ifndef DCMFS_ESCAPE_H
#define DCMFS_ESCAPE_H

#include <stddef.h>

/* out needs 3*strlen(in)+2 bytes.  Returns the length written. */
size_t name_escape(const char *in, char *out);
/* Returns the unescaped length, or -1 when in is not a valid escaped name. */
long name_unescape(const char *in, char *out, size_t outlen);

#endif
