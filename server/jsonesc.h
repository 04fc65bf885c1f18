/* jsonesc.h — client bytes as the inside of a JSON string (RFC 8259), bounded and allocation-free:
 * whatever a client sends, the result is valid JSON and valid UTF-8. */
#ifndef DROPCAP_JSONESC_H
#define DROPCAP_JSONESC_H

#include <stddef.h>

/* Writes s[0..n) escaped into dst, at most cap bytes, without quotes or a terminating NUL:
 * '"' and '\\' get a backslash; control characters (C0, DEL, C1) become \b \f \n \r \t or
 * \u00XX; U+2028 and U+2029 become \u2028 and \u2029 (JavaScript consumers); valid UTF-8
 * is copied as it is; each maximal ill-formed subsequence (Unicode 15 §3.9, overlongs,
 * surrogates and code points past U+10FFFF included) becomes one \ufffd.
 * Stops before a character whose output would not fit, never in the middle of one.
 * Returns the bytes written; *used (may be NULL) gets the input bytes consumed: less than n
 * means the text was cut. Pure: no allocation, no global state. */
size_t jsonesc_string(char *dst, size_t cap, const char *s, size_t n, size_t *used);

#endif
