/*
 * escape.h — the one way captured bytes become text we store or print.
 *
 * Output is valid UTF-8 with no control characters: printable ASCII and
 * well-formed UTF-8 sequences (no overlongs, no surrogates) are kept;
 * backslash becomes "\\"; every other byte (controls, DEL, invalid UTF-8,
 * NUL) becomes "\xNN" (lower-case hex).  The output is always
 * NUL-terminated and never longer than dstsz-1 bytes; when the input does
 * not fit, the output ends with "..." on a character boundary.
 */
#ifndef MAILTAP_ESCAPE_H
#define MAILTAP_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

/* Returns the number of bytes written (excluding the NUL).  dstsz >= 4. */
size_t mt_escape(char *dst, size_t dstsz, const uint8_t *p, size_t len);

#endif
