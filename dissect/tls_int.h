/*
 * tls_int.h — internals shared by dissect/tls.c, tls_hello.c and tls_cert.c
 * (the TLS handshake reader).  Not for other modules, except the chain
 * verification entry points at the end, which the certificate-trust code
 * may call.
 */
#ifndef MAILTAP_TLS_INT_H
#define MAILTAP_TLS_INT_H

#include <stddef.h>
#include <stdint.h>
#include "tls.h"

/* TLS_REC_MAX, TLS_VERIFY_DER_MAX: config.h. */

/* One direction of the connection. */
struct tls_dir {
    uint8_t  hdr[5];        /* record header being gathered               */
    uint8_t  hdr_have;      /* bytes of it so far                         */
    uint8_t  hdr_need;      /* 5 (TLS) or 2 (SSLv2 two-byte header)       */
    uint8_t  in_body;       /* 0: reading a header, 1: inside a record    */
    uint8_t  rec_type;      /* 20..23, or TLS_REC_SSL2                    */
    uint32_t rec_left;      /* body bytes of the current record to come   */
    uint32_t nrec;          /* records seen (saturating)                  */
    uint8_t  stopped;       /* gap, malformed record or end of SSLv2      */
    uint8_t  encrypted;     /* handshake/alert bodies no longer readable  */
    uint8_t  sslv2;         /* stream began with an SSLv2-format record   */
    /* handshake message being reassembled (or skipped) */
    uint8_t  hs_hdr[4];
    uint8_t  hs_hdr_have;   /* 4 once the message header is complete      */
    uint8_t  hs_type;
    uint8_t  hs_keep;       /* 1: collect and parse, 0: skip by length    */
    uint32_t hs_len, hs_have;
    uint8_t *buf;           /* lazily allocated, grown (doubling) as bytes
                               arrive, never past hs_len; freed when the
                               message is done                            */
    uint32_t buf_cap;
    /* cleartext alert being gathered */
    uint8_t  alert[2];
    uint8_t  alert_have;
};

#define TLS_REC_SSL2  0x80u   /* rec_type of an SSLv2-format record */

struct tls_parser {
    struct tls_info info;
    struct tls_dir dir[2];          /* [0] server->client, [1] client->server */
    uint8_t client_sid[32], server_sid[32];
    uint8_t client_sid_len, server_sid_len;
    uint8_t server_cert_msg;        /* a Certificate message was seen        */
    uint8_t server_hello_done;      /* a ServerHelloDone (14) was seen       */
    uint8_t server_psk;             /* 1.3 ServerHello carried pre_shared_key */
    /* DER of the server chain, for tls_verify_chain() */
    uint8_t *der;
    uint32_t der_off[TLS_CHAIN_MAX], der_len[TLS_CHAIN_MAX];
    unsigned der_n;
};

/* ---- bounds-checked reader over (pointer, length) ----------------------
 * Every read checks the remaining length first; a short read sets err and
 * returns 0 / an empty span, so callers test err once at the end. */
struct tls_rd {
    const uint8_t *p;
    size_t len, off;
    int err;
};

static inline struct tls_rd tls_rd_make(const uint8_t *p, size_t len)
{
    struct tls_rd r = { p, len, 0, 0 };
    return r;
}

static inline size_t tls_rd_left(const struct tls_rd *r)
{
    return r->err ? 0 : r->len - r->off;
}

static inline uint32_t tls_rd_uint(struct tls_rd *r, unsigned nbytes)
{
    uint32_t v = 0;
    if (r->err || r->len - r->off < nbytes) {
        r->err = 1;
        return 0;
    }
    for (unsigned i = 0; i < nbytes; i++)
        v = (v << 8) | r->p[r->off + i];
    r->off += nbytes;
    return v;
}

/* Returns a sub-reader over the next n bytes and skips them. */
static inline struct tls_rd tls_rd_sub(struct tls_rd *r, size_t n)
{
    struct tls_rd s = { r->p, 0, 0, 1 };
    if (r->err || r->len - r->off < n) {
        r->err = 1;
        return s;
    }
    s.p = r->p + r->off;
    s.len = n;
    s.err = 0;
    r->off += n;
    return s;
}

/* GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa. */
static inline int tls_is_grease(uint32_t v)
{
    return v <= 0xffffu && (v & 0x0f0fu) == 0x0a0au && (v >> 8) == (v & 0xffu);
}

/* ---- tls_hello.c ------------------------------------------------------ */
/* Parses a ClientHello body (after the 4-byte handshake header) into t->info
 * (first ClientHello only; the caller checks client_hello_seen). */
void tls_parse_client_hello(tls_parser_t *t, const uint8_t *p, size_t len);
/* Parses the body of an SSLv2-format CLIENT-HELLO record (after the
 * two-byte record header, starting with the message type byte). */
void tls_parse_client_hello_v2(tls_parser_t *t, const uint8_t *p, size_t len);
/* Parses a ServerHello (or HelloRetryRequest) body.  Returns 1 for a
 * HelloRetryRequest, 0 for a ServerHello, -1 when it does not parse. */
int tls_parse_server_hello(tls_parser_t *t, const uint8_t *p, size_t len);
/* Parses an SSLv2 SERVER-HELLO record body (message type 4 first). */
void tls_parse_server_hello_v2(tls_parser_t *t, const uint8_t *p, size_t len);
/* IANA name of a cipher suite into dst (always NUL-terminated): OpenSSL's
 * table, then a small built-in table of weak suites, then "0xXXXX". */
void tls_cipher_name(uint16_t id, char *dst, size_t dstsz);
/* Frees the SSL objects cached for cipher names and the digest
 * algorithms of JA3/JA4 (tls_lib_cleanup). */
void tls_hello_cleanup(void);
/* Decimal digits of v into dst (room for 10), not NUL-terminated; returns
 * how many (the digits printf "%u" gives). */
size_t tls_fmt_dec(char *dst, uint32_t v);
/* Four lower-case hex digits of v into dst, not NUL-terminated (printf
 * "%04x"). */
void tls_fmt_hex4(char dst[4], uint16_t v);
/* "TLSv1.2" etc. into dst, or "0xXXXX" for an unknown value. */
void tls_version_name(uint16_t v, char *dst, size_t dstsz);

/* ---- tls_cert.c ------------------------------------------------------- */
/* Parses a TLS <= 1.2 Certificate message body: fills t->info.chain and
 * cert_count, keeps the DER for tls_verify_chain(). */
void tls_parse_certificate(tls_parser_t *t, const uint8_t *p, size_t len);
/* Fills one chain entry from DER bytes.  Returns 0, or -1 when the DER does
 * not parse (sha256 is still filled). */
int tls_cert_fill(struct tls_cert_info *ci, const uint8_t *der, size_t len);
/* Copies the DER of the certificates into t->der (bounded by
 * TLS_VERIFY_DER_MAX); cert i is (der + off[i], len[i]) in the message. */
void tls_keep_chain(tls_parser_t *t, const uint8_t *msg, const uint32_t *off,
                    const uint32_t *len, unsigned n);

/* ---- chain verification (for the certificate-trust code) ------------- */
/* Verifies the server chain seen on this connection (leaf first, the rest
 * as untrusted intermediates) against the system default trust store, or
 * only against ca_file (PEM) when it is not NULL, at time at_time (epoch
 * seconds, the packet time; <= 0 means now), purpose TLS server.
 * Returns 1 verified, 0 failed (why = OpenSSL's reason, e.g. "certificate
 * has expired"), -1 cannot tell (no chain kept, TLS 1.3, unloadable
 * ca_file, DER that does not parse).  why may be NULL.  The trust store is
 * loaded once per distinct ca_file and cached (not thread-safe). */
int tls_verify_chain(const tls_parser_t *t, double at_time, const char *ca_file,
                     char *why, size_t whysz);
/* Frees the DER kept for tls_verify_chain() (the chain facts in tls_info
 * stay).  NULL-safe. */
void tls_chain_release(tls_parser_t *t);
/* Makes info->chain n zeroed entries, replacing an earlier one (cert_count
 * set to 0: the caller sets it once filled).  0, or -1 out of memory. */
int tls_chain_alloc(struct tls_info *ti, unsigned n);
/* Frees the cached OpenSSL objects (cipher-name SSL_CTX, trust store).
 * Optional, for leak checkers at exit. */
void tls_lib_cleanup(void);

#endif
