/*
 * escape.c — captured bytes to safe text (see escape.h).
 *
 * The input is walked in units: one printable ASCII byte, one backslash
 * (written "\\"), one well-formed UTF-8 sequence (copied), or one other byte
 * (written "\xNN").  A unit is written whole or not at all, so truncation
 * can only happen between units; the position of the last unit boundary
 * that still leaves room for "..." is remembered and the output is cut back
 * to it when a unit does not fit.
 */
#include <string.h>
#include "escape.h"

static const char hex_digits[] = "0123456789abcdef";

/*
 * Length (2..4) of the well-formed UTF-8 sequence at p[0..len), or 0 when
 * p[0] does not start one.  Strict: no overlongs (C0, C1, E0 80..9F,
 * F0 80..8F), no surrogates (ED A0..BF), nothing above U+10FFFF (F4 90..,
 * F5..FF).  C1 controls (U+0080..U+009F, i.e. C2 80..C2 9F) are control
 * characters, which escape.h excludes from the output, so they are not
 * accepted either and end up escaped byte by byte.  len >= 1.
 */
static size_t utf8_seq_len(const uint8_t *p, size_t len)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        if (c == 0xc2)
            lo = 0xa0;                  /* C1 controls */
    } else if (c == 0xe0) {
        n = 3; lo = 0xa0;               /* overlong */
    } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
        n = 3;
    } else if (c == 0xed) {
        n = 3; hi = 0x9f;               /* surrogates */
    } else if (c == 0xf0) {
        n = 4; lo = 0x90;               /* overlong */
    } else if (c >= 0xf1 && c <= 0xf3) {
        n = 4;
    } else if (c == 0xf4) {
        n = 4; hi = 0x8f;               /* > U+10FFFF */
    } else {
        return 0;
    }
    if (len < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/*
 * Contract in escape.h.  dst (dstsz bytes, caller-owned) receives the text;
 * p[0..len) is only read.  dstsz < 4 (outside the contract) yields "" so
 * that a short buffer can never hold a cut escape.
 */
size_t mt_escape(char *dst, size_t dstsz, const uint8_t *p, size_t len)
{
    size_t cap, out = 0, mark = 0, i = 0;

    if (dst == NULL || dstsz == 0)
        return 0;
    if (dstsz < 4 || (p == NULL && len > 0)) {
        dst[0] = '\0';
        return 0;
    }
    cap = dstsz - 1;                    /* room for the NUL */
    while (i < len) {
        uint8_t c = p[i];
        char unit[4];
        const char *src = unit;
        size_t k, adv = 1;

        if (c >= 0x20 && c < 0x7f && c != '\\') {
            unit[0] = (char)c;
            k = 1;
        } else if (c == '\\') {
            unit[0] = '\\';
            unit[1] = '\\';
            k = 2;
        } else if (c >= 0x80 && (k = utf8_seq_len(p + i, len - i)) != 0) {
            src = (const char *)(p + i);
            adv = k;
        } else {
            unit[0] = '\\';
            unit[1] = 'x';
            unit[2] = hex_digits[c >> 4];
            unit[3] = hex_digits[c & 0x0f];
            k = 4;
        }
        if (k > cap - out) {
            /* Does not fit: cut back to the last boundary with room for
             * the ellipsis (mark + 3 <= cap always holds). */
            out = mark;
            memcpy(dst + out, "...", 3);
            out += 3;
            break;
        }
        memcpy(dst + out, src, k);
        out += k;
        i += adv;
        if (cap - out >= 3)
            mark = out;
    }
    dst[out] = '\0';
    return out;
}
