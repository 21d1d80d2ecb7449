/*
 * tls.c — passive TLS handshake reader: record layer and handshake message
 * reassembly, per direction, resumable at any byte boundary.
 *
 * Each direction is a small state machine: gather a record header (5 bytes,
 * or 2 for an SSLv2-format first record), then walk the record body.
 * Handshake record bodies form a stream of handshake messages; the
 * messages we parse (ClientHello, ServerHello, Certificate) are handed over
 * whole — straight from the caller's bytes when they arrive in one piece,
 * otherwise from a buffer allocated for that message only and freed when
 * it is done.  Everything else is skipped by length.  After a side's
 * ChangeCipherSpec (TLS <= 1.2) or the server's TLS 1.3 ServerHello, that
 * side's handshake and alert bodies are encrypted: only record types are
 * counted from then on.
 *
 * Message parsing lives in tls_hello.c (hellos, fingerprints, cipher names)
 * and tls_cert.c (X.509).
 */
#include <stdlib.h>
#include <string.h>
#include "tls.h"
#include "tls_int.h"

enum {
    REC_CCS = 20,
    REC_ALERT = 21,
    REC_HANDSHAKE = 22,
    REC_APPDATA = 23
};

enum {
    HS_CLIENT_HELLO = 1,
    HS_SERVER_HELLO = 2,
    HS_CERTIFICATE = 11,
    HS_SERVER_HELLO_DONE = 14
};

/* Pseudo handshake types for whole SSLv2 records collected as a message. */
#define HS_SSL2_RECORD 0xffu

/* Allocates an idle parser; NULL on allocation failure. */
tls_parser_t *tls_parser_new(void)
{
    tls_parser_t *t = calloc(1, sizeof *t);
    return t;
}

/* Drops the handshake message in progress of d (and its buffer). */
static void hs_reset(struct tls_dir *d)
{
    free(d->buf);
    d->buf = NULL;
    d->buf_cap = 0;
    d->hs_hdr_have = 0;
    d->hs_len = 0;
    d->hs_have = 0;
    d->hs_keep = 0;
    d->hs_type = 0;
}

/* Stops parsing direction d for good (gap, malformed stream, SSLv2). */
static void dir_stop(tls_parser_t *t, struct tls_dir *d, int malformed)
{
    d->stopped = 1;
    hs_reset(d);
    if (malformed)
        t->info.malformed = 1;
}

/* True once the server negotiated TLS 1.3 (final ServerHello, not HRR). */
static int is_tls13(const tls_parser_t *t)
{
    return t->info.server_hello_seen && t->info.version == 0x0304;
}

/* Recomputes handshake_complete (sticky). */
static void update_complete(tls_parser_t *t)
{
    struct tls_info *ti = &t->info;
    if (ti->appdata_client && ti->appdata_server)
        ti->handshake_complete = 1;
    else if (!is_tls13(t) && ti->ccs_client && ti->ccs_server)
        ti->handshake_complete = 1;
}

/* Records a cleartext alert; the first one is kept unless a fatal one
 * follows a warning. */
static void got_alert(tls_parser_t *t, int client, uint8_t level, uint8_t desc)
{
    struct tls_info *ti = &t->info;
    if (ti->alert_seen && !(ti->alert_level != 2 && level == 2))
        return;
    ti->alert_seen = 1;
    ti->alert_level = level;
    ti->alert_desc = desc;
    ti->alert_from_client = client;
}

/* A complete handshake message (or SSLv2 record body) of direction
 * `client`: type, body p[0..len). */
static void hs_dispatch(tls_parser_t *t, struct tls_dir *d, int client,
                        uint8_t type, const uint8_t *p, size_t len)
{
    struct tls_info *ti = &t->info;

    if (type == HS_SSL2_RECORD) {
        if (client) {
            tls_parse_client_hello_v2(t, p, len);
        } else {
            tls_parse_server_hello_v2(t, p, len);
            dir_stop(t, d, 0);          /* the rest is SSLv2: not read */
        }
        return;
    }
    if (client) {
        if (type == HS_CLIENT_HELLO && !ti->client_hello_seen)
            tls_parse_client_hello(t, p, len);
        return;
    }
    if (type == HS_SERVER_HELLO) {
        /* after a 1.3 ServerHello (not an HRR) the server is encrypted */
        if (tls_parse_server_hello(t, p, len) == 0 && is_tls13(t))
            d->encrypted = 1;
    } else if (type == HS_CERTIFICATE && !t->server_cert_msg) {
        t->server_cert_msg = 1;
        tls_parse_certificate(t, p, len);
    }
}

/* Which messages are collected: the first ClientHello from the client, the
 * ServerHello(s) and the first Certificate from the server. */
static int hs_wanted(const tls_parser_t *t, int client, uint8_t type)
{
    if (client)
        return type == HS_CLIENT_HELLO && !t->info.client_hello_seen;
    return type == HS_SERVER_HELLO
        || (type == HS_CERTIFICATE && !t->server_cert_msg);
}

/* Called once the 4-byte handshake header is complete. */
static void hs_begin(tls_parser_t *t, struct tls_dir *d, int client)
{
    d->hs_type = d->hs_hdr[0];
    d->hs_len = ((uint32_t)d->hs_hdr[1] << 16) | ((uint32_t)d->hs_hdr[2] << 8)
              | d->hs_hdr[3];
    d->hs_have = 0;
    if (!client && d->hs_type == HS_SERVER_HELLO_DONE)
        t->server_hello_done = 1;
    if (d->hs_len > TLS_HS_MAX) {
        t->info.skipped_messages++;
        d->hs_keep = 0;
    } else {
        d->hs_keep = (uint8_t)hs_wanted(t, client, d->hs_type);
    }
}

/* Adds up to n bytes of the current message body.  Returns the bytes used;
 * when the message is complete it is dispatched and the state reset. */
static size_t msg_take(tls_parser_t *t, struct tls_dir *d, int client,
                       const uint8_t *p, size_t n)
{
    size_t want = d->hs_len - d->hs_have;
    size_t take = n < want ? n : want;
    uint8_t type = d->hs_type;

    if (d->hs_keep) {
        if (d->hs_have == 0 && take == want) {
            /* whole message in the caller's bytes: no copy */
            d->hs_have = d->hs_len;
            d->hs_hdr_have = 0;
            d->hs_keep = 0;
            hs_dispatch(t, d, client, type, p, take);
            return take;
        }
        size_t need = (size_t)d->hs_have + take;
        if (need > d->buf_cap) {
            /* grow with the bytes that arrived, not the declared length */
            size_t cap = d->buf_cap ? (size_t)d->buf_cap * 2 : 4096u;
            if (cap < need)
                cap = need;
            if (cap > d->hs_len)
                cap = d->hs_len;
            uint8_t *nb = realloc(d->buf, cap);
            if (!nb) {
                free(d->buf);           /* out of memory: skip the message */
                d->buf = NULL;
                d->buf_cap = 0;
                d->hs_keep = 0;
            } else {
                d->buf = nb;
                d->buf_cap = (uint32_t)cap;
            }
        }
        if (d->buf)
            memcpy(d->buf + d->hs_have, p, take);
    }
    d->hs_have += (uint32_t)take;
    if (d->hs_have == d->hs_len) {
        uint8_t *buf = d->buf;
        int keep = d->hs_keep;
        d->buf = NULL;
        d->buf_cap = 0;
        d->hs_hdr_have = 0;
        d->hs_keep = 0;
        if (keep && buf)
            hs_dispatch(t, d, client, type, buf, d->hs_len);
        free(buf);
    }
    return take;
}

/* Bytes of handshake record bodies, in order. */
static void hs_feed(tls_parser_t *t, struct tls_dir *d, int client,
                    const uint8_t *p, size_t n)
{
    while (n > 0 && !d->encrypted && !d->stopped) {
        if (d->hs_hdr_have < 4) {
            d->hs_hdr[d->hs_hdr_have++] = *p++;
            n--;
            if (d->hs_hdr_have == 4) {
                hs_begin(t, d, client);
                if (d->hs_len == 0)
                    msg_take(t, d, client, p, 0);
            }
            continue;
        }
        size_t used = msg_take(t, d, client, p, n);
        p += used;
        n -= used;
    }
}

/* A complete record header is in d->hdr: validate it and act on the
 * record type.  May stop the direction. */
static void record_begin(tls_parser_t *t, struct tls_dir *d, int client)
{
    struct tls_info *ti = &t->info;

    if (d->hdr_need == 2) {
        /* SSLv2 two-byte header: only as the first record of a stream */
        uint32_t len = ((uint32_t)(d->hdr[0] & 0x7fu) << 8) | d->hdr[1];
        if (d->nrec > 0) {
            dir_stop(t, d, 0);          /* SSLv2 after the hello: not read */
            return;
        }
        d->nrec = 1;
        d->sslv2 = 1;
        if (len < 3) {
            dir_stop(t, d, 1);
            return;
        }
        d->rec_type = TLS_REC_SSL2;
        d->rec_left = len;
        d->in_body = 1;
        /* collect the whole record as one message */
        hs_reset(d);
        d->hs_hdr_have = 4;
        d->hs_type = HS_SSL2_RECORD;
        d->hs_len = len;
        d->hs_keep = 1;
        return;
    }

    uint8_t type = d->hdr[0];
    uint32_t len = ((uint32_t)d->hdr[3] << 8) | d->hdr[4];
    if (type < REC_CCS || type > REC_APPDATA || d->hdr[1] != 3 || d->hdr[2] > 4
        || len > TLS_REC_MAX) {
        dir_stop(t, d, 1);
        return;
    }
    if (d->nrec < UINT32_MAX)
        d->nrec++;
    if (type != REC_HANDSHAKE && d->hs_hdr_have > 0) {
        /* a handshake message cut by another record type */
        ti->malformed = 1;
        hs_reset(d);
    }
    d->rec_type = type;
    d->rec_left = len;
    d->in_body = 1;
    d->alert_have = 0;

    switch (type) {
    case REC_CCS:
        if (client) {
            ti->ccs_client = 1;
            d->encrypted = 1;
        } else {
            ti->ccs_server = 1;
            /* after an HRR the server's CCS is the 1.3 compatibility one */
            if (!ti->hello_retry_request) {
                if (ti->server_hello_seen && ti->version < 0x0304
                    && !t->server_cert_msg && !t->server_hello_done)
                    ti->resumed = 1;    /* abbreviated handshake */
                d->encrypted = 1;
            }
        }
        if (d->hs_hdr_have > 0)
            hs_reset(d);
        break;
    case REC_APPDATA:
        if (client)
            ti->appdata_client = 1;
        else
            ti->appdata_server = 1;
        break;
    default:
        break;
    }
    update_complete(t);
}

/* n bytes of the current record body. */
static void record_body(tls_parser_t *t, struct tls_dir *d, int client,
                        const uint8_t *p, size_t n)
{
    switch (d->rec_type) {
    case REC_HANDSHAKE:
        if (!d->encrypted)
            hs_feed(t, d, client, p, n);
        break;
    case REC_ALERT:
        if (d->encrypted)
            break;
        for (size_t i = 0; i < n; i++) {
            d->alert[d->alert_have++] = p[i];
            if (d->alert_have == 2) {
                got_alert(t, client, d->alert[0], d->alert[1]);
                d->alert_have = 0;
            }
        }
        break;
    case TLS_REC_SSL2:
        while (n > 0 && d->hs_keep && !d->stopped) {
            size_t used = msg_take(t, d, client, p, n);
            p += used;
            n -= used;
        }
        break;
    default:
        break;
    }
}

/* End of the current record. */
static void record_end(struct tls_dir *d)
{
    d->in_body = 0;
    d->hdr_have = 0;
    d->alert_have = 0;
    if (d->rec_type == TLS_REC_SSL2)
        hs_reset(d);
}

/* Feeds bytes of one direction; resumable at any byte boundary.  p is
 * borrowed for the call only. */
void tls_feed(tls_parser_t *t, int from_client, const uint8_t *p, size_t len)
{
    if (!t || !p)
        return;
    int client = from_client ? 1 : 0;
    struct tls_dir *d = &t->dir[client];

    while (len > 0 && !d->stopped) {
        if (!d->in_body) {
            if (d->hdr_have == 0)
                d->hdr_need = ((p[0] & 0x80u) && (d->nrec == 0 || d->sslv2)) ? 2 : 5;
            size_t take = (size_t)(d->hdr_need - d->hdr_have);
            if (take > len)
                take = len;
            memcpy(d->hdr + d->hdr_have, p, take);
            d->hdr_have = (uint8_t)(d->hdr_have + take);
            p += take;
            len -= take;
            if (d->hdr_have < d->hdr_need)
                break;
            record_begin(t, d, client);
            if (!d->stopped && d->in_body && d->rec_left == 0)
                record_end(d);
            continue;
        }
        size_t take = len < d->rec_left ? len : d->rec_left;
        record_body(t, d, client, p, take);
        p += take;
        len -= take;
        d->rec_left -= (uint32_t)take;
        if (d->rec_left == 0)
            record_end(d);
    }
}

/* Missing bytes in one direction: that direction is no longer parsed.
 * A zero-length gap is ignored. */
void tls_gap(tls_parser_t *t, int from_client, uint64_t len)
{
    if (!t || len == 0)
        return;
    dir_stop(t, &t->dir[from_client ? 1 : 0], 0);
}

/* What was learnt so far; valid until tls_parser_free(). */
const struct tls_info *tls_result(const tls_parser_t *t)
{
    return t ? &t->info : NULL;
}

/* Frees the parser and everything it holds.  NULL-safe. */
void tls_parser_free(tls_parser_t *t)
{
    if (!t)
        return;
    free(t->dir[0].buf);
    free(t->dir[1].buf);
    free(t->der);
    free(t->info.chain);
    free(t);
}
