/*
 * body.h — the content of one message as it streams by: size, SHA-256, a
 * few headers, and smuggling signs.  Never stores body text.
 *
 * Two feeders:
 *  - body_feed_data(): raw DATA stream after 354 (dot-stuffed, ends at
 *    CRLF.CRLF only).  Resumable at any byte boundary.
 *  - body_feed_raw(): BDAT chunk octets (no stuffing, no end marker).
 * Hashing uses one OpenSSL EVP_MD_CTX per body (allocated once in
 * body_begin, freed in body_finish/body_abort).
 */
#ifndef MAILTAP_BODY_H
#define MAILTAP_BODY_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct evp_md_ctx_st;

struct body {
    struct evp_md_ctx_st *md;
    uint64_t size;              /* content octets after unstuffing          */
    int dstate;                 /* DATA terminator scanner state (private)  */
    int hstate;                 /* header scanner state (private)           */
    uint32_t header_bytes;      /* header bytes scanned so far              */
    char cur_name[32];          /* header name being read (private)         */
    size_t cur_name_len;
    int cur_which;              /* which kept header the value goes to      */
    size_t cur_val_len;
    char subject[MT_STR], message_id[MT_STR], from_hdr[MT_STR], date_hdr[MT_STR];
    uint8_t valbuf[MT_STR];     /* raw value being collected (private)      */
    /* smuggling: non-CRLF end-of-data candidates seen, and whether
     * SMTP-command-looking lines followed one */
    uint32_t bare_eod_candidates;
    int smuggled_command;       /* a MAIL FROM:/RCPT TO:/DATA line after a candidate */
    int sstate;                 /* smuggling scanner state (private)        */
    uint64_t sdot_offset;       /* content offset of the dot line under test (private) */
    uint8_t lbuf[16];           /* start of current line (private)          */
    size_t lbuf_len;
    uint64_t smuggle_offset;    /* content offset of the first candidate    */
};

/* Returns 0, or -1 on allocation failure. */
int body_begin(struct body *b);
/* Feeds DATA-mode bytes.  Returns how many bytes of p belong to the
 * message, including the terminating CRLF.CRLF (or its remaining part);
 * sets *done when the terminator was consumed.  Bytes after the terminator
 * are not consumed (they are commands). */
size_t body_feed_data(struct body *b, const uint8_t *p, size_t len, int *done);
/* Feeds BDAT chunk octets (all consumed). */
void body_feed_raw(struct body *b, const uint8_t *p, size_t len);
/* Finishes hashing: hex SHA-256 into hex[65] (if hex != NULL), frees the
 * hash context.  Headers stay readable in b. */
void body_finish(struct body *b, char hex[65]);
/* Frees without a result.  NULL-safe, idempotent. */
void body_abort(struct body *b);

#endif
