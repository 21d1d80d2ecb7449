/*
 * tlspeek.h — is this the start of TLS?  Minimal record classification used
 * at the SMTP/TLS boundary (full handshake parsing is a separate module).
 */
#ifndef MAILTAP_TLSPEEK_H
#define MAILTAP_TLSPEEK_H

#include <stddef.h>
#include <stdint.h>

enum tls_peek {
    TLS_PEEK_NEED_MORE = 0,    /* fewer bytes than needed to tell           */
    TLS_PEEK_NOT_TLS,          /* cannot be a TLS record                    */
    TLS_PEEK_HANDSHAKE,        /* 16 03 0x ...                              */
    TLS_PEEK_ALERT,            /* 15 03 0x ...                              */
    TLS_PEEK_CCS,              /* 14 03 0x ...                              */
    TLS_PEEK_APPDATA,          /* 17 03 0x ...                              */
    TLS_PEEK_SSLV2_HELLO       /* SSLv2-compatible ClientHello (high bit)   */
};

/* Classifies the bytes at the start of a stream (or of a record).  Needs 3
 * bytes for TLS records (content type 0x14..0x17, version 03 00..03 04) and
 * 3 for SSLv2 (byte0 >= 0x80, byte2 == 1 client hello). */
enum tls_peek tls_peek(const uint8_t *p, size_t len);

/* Handshake message type of the first handshake message in a handshake
 * record starting at p (needs 6 bytes): 1 ClientHello, 2 ServerHello, ...
 * Returns -1 if not enough bytes or not a handshake record. */
int tls_peek_hs_type(const uint8_t *p, size_t len);

#endif
