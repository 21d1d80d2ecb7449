/*
 * tlspeek.c — first-bytes classification of TLS (see tlspeek.h).
 *
 * Decides as early as the bytes allow: a first byte that is neither a TLS
 * content type (0x14..0x17) nor has the high bit set (SSLv2 two-byte
 * header) is NOT_TLS at once, so SMTP text ("220 ", "EHLO") never waits.
 */
#include "tlspeek.h"

/* SSLv2 CLIENT-HELLO body without cipher specs, session id, challenge:
 * msg type (1) + version (2) + three 2-byte lengths. */
#define SSL2_HELLO_MIN 9u

/*
 * SSLv2-compatible ClientHello: 2-byte header (high bit set, 15-bit
 * length), message type 1, then version 00 02 or 03 00..03 03.  Checks
 * whatever of bytes 1..4 is present; with 3 bytes it can already answer
 * (tlspeek.h), bytes 3..4 only make it stricter.  len >= 1, p[0] >= 0x80.
 */
static enum tls_peek peek_sslv2(const uint8_t *p, size_t len)
{
    if (len < 2)
        return TLS_PEEK_NEED_MORE;
    if ((((unsigned)p[0] & 0x7fu) << 8 | p[1]) < SSL2_HELLO_MIN)
        return TLS_PEEK_NOT_TLS;
    if (len < 3)
        return TLS_PEEK_NEED_MORE;
    if (p[2] != 1)
        return TLS_PEEK_NOT_TLS;
    if (len >= 4 && p[3] != 0x00 && p[3] != 0x03)
        return TLS_PEEK_NOT_TLS;
    if (len >= 5) {
        if (p[3] == 0x00 && p[4] != 0x02)
            return TLS_PEEK_NOT_TLS;
        if (p[3] == 0x03 && p[4] > 0x03)
            return TLS_PEEK_NOT_TLS;
    }
    return TLS_PEEK_SSLV2_HELLO;
}

/* Contract in tlspeek.h.  p[0..len) is only read; p may be NULL if len 0. */
enum tls_peek tls_peek(const uint8_t *p, size_t len)
{
    enum tls_peek type;

    if (p == NULL || len == 0)
        return TLS_PEEK_NEED_MORE;
    switch (p[0]) {
    case 0x14: type = TLS_PEEK_CCS; break;
    case 0x15: type = TLS_PEEK_ALERT; break;
    case 0x16: type = TLS_PEEK_HANDSHAKE; break;
    case 0x17: type = TLS_PEEK_APPDATA; break;
    default:
        return p[0] >= 0x80 ? peek_sslv2(p, len) : TLS_PEEK_NOT_TLS;
    }
    if (len < 2)
        return TLS_PEEK_NEED_MORE;
    if (p[1] != 0x03)
        return TLS_PEEK_NOT_TLS;
    if (len < 3)
        return TLS_PEEK_NEED_MORE;
    if (p[2] > 0x04)
        return TLS_PEEK_NOT_TLS;
    return type;
}

/*
 * Contract in tlspeek.h.  Needs the 5-byte record header and the first
 * byte of the fragment; a record announcing an empty fragment has no
 * handshake message, so -1.
 */
int tls_peek_hs_type(const uint8_t *p, size_t len)
{
    if (p == NULL || len < 6)
        return -1;
    if (tls_peek(p, len) != TLS_PEEK_HANDSHAKE)
        return -1;
    if (((unsigned)p[3] << 8 | p[4]) == 0)
        return -1;
    return p[5];
}
