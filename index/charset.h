/*
 * charset.h - DICOM text values to UTF-8.
 *
 * Promise: the output is always NUL-terminated, valid UTF-8 made of whole
 * sequences only (a value that does not fit is cut between characters, never
 * inside one), and the input is never read outside [text, text + n).
 * Bytes that cannot be decoded become '?'; nothing here fails.
 *
 * What is understood of SpecificCharacterSet (0008,0005), as stored:
 *  - empty, "ISO_IR 6", "ISO_IR 100" (and the misspelling "ISO-IR 100"):
 *    ISO 8859-1; "ISO_IR 192": UTF-8 (invalid bytes become '?');
 *    "ISO_IR 13": JIS X 0201 (half-width katakana in 0xA1..0xDF);
 *    "ISO_IR 101/109/110/144/127/126/138/148/203/166", "GB18030", "GBK":
 *    the ISO 8859 / TIS-620 / Chinese set of that name, through iconv;
 *  - a term starting "ISO 2022", or several terms (backslash-separated):
 *    ISO 2022 code extension, following the escape sequences in the value
 *    (G0: ASCII, JIS X 0208, JIS X 0212; G1: any of the single-byte sets,
 *    JIS X 0201 katakana, KS X 1001, GB 2312); the first term names the
 *    initial G1 set, and delimiters (^ = \) and control characters return to
 *    it (PS3.5 6.1.2.5.3);
 *  - any other term: the bytes that are valid UTF-8 are kept.
 * A value of only ASCII bytes (no byte >= 0x80, no ESC) is copied as it is,
 * whatever the character set.
 *
 * Thread-safe: every call opens its own iconv descriptors.
 */
#ifndef DCMFS_CHARSET_H
#define DCMFS_CHARSET_H

#include <stddef.h>
#include <stdint.h>

/* Convert text[0..n), a value encoded per specific_charset (the
 * SpecificCharacterSet value as stored, NUL-terminated, "" when absent), to
 * UTF-8 in dst[0..cap), cap >= 1.  Returns 0 when the whole value was
 * written, 1 when it was cut to fit.  The caller owns both buffers. */
int charset_text_to_utf8(char *dst, size_t cap, const uint8_t *text, size_t n,
			 const char *specific_charset);

/* Convert a value of an ASCII VR (UI, CS, DA, TM, AS...) to UTF-8 in
 * dst[0..cap), cap >= 1: copied as it is when all ASCII, otherwise each byte
 * read as ISO 8859-1.  Returns 1 when it was cut to fit, else 0. */
int charset_ascii_to_utf8(char *dst, size_t cap, const uint8_t *text, size_t n);

#endif
