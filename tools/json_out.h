/*
 * json_out.h - the one JSON writer of dcmfsctl: every --json output is
 * built as json-c objects and printed through here.
 *
 * json-c escapes '"', '\\' and every control byte (\u00XX), but passes
 * bytes >= 0x80 through as they are, so a DICOM value in a legacy
 * character set (or damaged) would make the output invalid UTF-8, which
 * strict parsers refuse.  json_str therefore replaces each byte that is
 * not part of a valid UTF-8 sequence (overlong forms, surrogates and
 * values above U+10FFFF included) with U+FFFD; valid UTF-8 is kept as is.
 * The x* constructors die with "out of memory" instead of returning NULL.
 */
#ifndef DCMFS_JSON_OUT_H
#define DCMFS_JSON_OUT_H

#include <stdint.h>

#include <json-c/json.h>

/* A JSON string of s (NULL gives JSON null), made valid UTF-8 as above. */
json_object *json_str(const char *s);
/* A JSON string of the n bytes at s (which may hold NUL bytes: they are
 * written as \u0000). */
json_object *json_str_len(const char *s, size_t n);
json_object *json_int(int64_t v);
json_object *json_obj(void);
json_object *json_arr(void);
/* Add v under key to object o (v is taken over; the key is made valid
 * UTF-8 like a value). */
void json_set(json_object *o, const char *key, json_object *v);
/* Append v to array a (v is taken over). */
void json_push(json_object *a, json_object *v);
/* Print o to stdout, pretty (two-space indent) and a newline, and free it. */
void json_print(json_object *o);
/* o as one line (no newline), into a string valid until o is freed. */
const char *json_line(json_object *o);

#endif
