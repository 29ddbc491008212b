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
#include <stdint.h>

/* Escape the NUL-terminated value in into out, which needs
 * 3*strlen(in)+2 bytes, and NUL-terminate it.  Returns its length, not
 * counting the NUL.  Cannot fail. */
size_t name_escape(const char *in, char *out);

/* A path component is at most NAME_COMPONENT_MAX bytes (NAME_MAX). */
#define NAME_COMPONENT_MAX 255

/* The path component for a value: name_escape(value) followed by suffix
 * (e.g. ".dcm", or "" for folders).  When that would be longer than
 * NAME_COMPONENT_MAX, the escaped value is cut (never inside a %XX) and
 * "~" plus 16 lowercase hex digits of XXH3-64 of the whole value is put
 * before the suffix.  '~' never occurs in an escaped value, so a cut name
 * cannot equal a whole one, and two values share a name only if their
 * hashes collide.  The catalogue keeps the name next to the full value,
 * which is how a cut name is looked up.  out has room for
 * NAME_COMPONENT_MAX + 1 bytes; strlen(suffix) must be < 64.  Returns
 * the length written, at most NAME_COMPONENT_MAX, not counting the NUL.
 * Cannot fail (without memory to escape a long value, the name is "~",
 * the hash and the suffix). */
size_t name_component(const char *value, const char *suffix, char *out);
/* The same for an already escaped name (of any length) whose identity is
 * given by hash (e.g. of several values).  Same room, same return. */
size_t name_fit(const char *escaped, uint64_t hash, const char *suffix, char *out);
/* Undo name_escape: the value into out (outlen bytes with its NUL).
 * Returns its length, or -1 when in is not a valid escaped name (a byte
 * that is never left plain, a bad %XX, or a cut name's '~') or the value
 * does not fit.  A cut name (name_fit) does not hold its whole value:
 * look it up in the catalogue instead. */
long name_unescape(const char *in, char *out, size_t outlen);

#endif
