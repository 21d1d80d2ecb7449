/*
 * record.h — the value types dissect/ hands out and store/ writes.
 *
 * These are plain values: every string is our own escaped, NUL-terminated
 * copy (see escape.h), never a pointer into capture buffers.  An empty
 * string means "not seen" and is stored as NULL.  A struct handed to a sink
 * callback is borrowed for the duration of the call only.
 */
#ifndef MAILTAP_RECORD_H
#define MAILTAP_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

enum mt_protection {
    MT_PROT_INDETERMINATE = 0,
    MT_PROT_CLEARTEXT,
    MT_PROT_STARTTLS,
    MT_PROT_PARTIAL,
    MT_PROT_IMPLICIT_TLS
};

/* MT_END_EVICTED: the analyser stopped following a connection that went
 * on (flow table full); stored as "timeout". */
enum mt_end_reason { MT_END_FIN = 0, MT_END_RST, MT_END_TIMEOUT, MT_END_EOF, MT_END_EVICTED };

enum mt_severity {
    MT_SEV_INFO = 0, MT_SEV_LOW, MT_SEV_MEDIUM, MT_SEV_HIGH, MT_SEV_CRITICAL
};

enum mt_method { MT_METHOD_DATA = 0, MT_METHOD_BDAT };

struct tls_cert_info;           /* dissect/tls.h */

/* Names as stored in the database (SPEC §3, §4). */
const char *mt_protection_name(enum mt_protection p);
const char *mt_end_reason_name(enum mt_end_reason r);
const char *mt_severity_name(enum mt_severity s);
/* Parses "critical".."info"; returns -1 when unknown. */
int mt_severity_parse(const char *s);
const char *mt_method_name(enum mt_method m);

/* One SMTP-speaking TCP connection, complete at dis_end() time. */
struct mt_session {
    int client_side;            /* capture side (0/1) that is the client      */
    double start_ts, end_ts;    /* packet time                                */
    enum mt_end_reason end_reason;
    enum mt_protection protection;
    int starttls_offered;       /* STARTTLS keyword in a cleartext EHLO reply */
    int starttls_requested;     /* client sent STARTTLS                       */
    int starttls_reply;         /* reply code to STARTTLS, 0 if none seen     */
    char banner[MT_STR];        /* text of the 220 greeting (first line)      */
    char helo[MT_STR];          /* HELO/EHLO/LHLO argument                    */
    char helo_verb[8];          /* "HELO", "EHLO" or "LHLO"                   */
    char ehlo_keywords[MT_STR_LONG]; /* keywords of the EHLO reply, space-separated, upper case */
    char auth_mechanism[MT_STR_SHORT];
    char auth_user[MT_STR];     /* username only, never the secret            */
    char auth_outcome[24];      /* success|failure|encryption_required|temporary|cancelled|rejected|unknown */
    char tls_version[16];       /* filled by the TLS issue; empty otherwise   */
    char tls_cipher[MT_STR_SHORT];
    char tls_sni[MT_STR];
    char cert_sha256[65];
    char cert_subject[MT_STR];
    char cert_issuer[MT_STR];
    double cert_not_before, cert_not_after; /* 0 when unknown */
    int exposed_envelope, exposed_content, exposed_credentials;
    uint32_t cleartext_messages;  /* messages whose content crossed in clear  */
    uint64_t client_bytes, server_bytes, gap_bytes;
    int syn_seen;               /* the SYN (or SYN/ACK) was captured           */
    int one_sided;              /* payload from one direction only             */
    int tls_started;            /* TLS records were seen on this connection    */
    char confidence[8];         /* "high" or "low"                             */
    /* TLS handshake details (schema v2); empty / 0 when not seen            */
    char tls_alpn[MT_STR_SHORT];    /* first ALPN protocol the client offered */
    char ja3[33];               /* JA3 of the ClientHello (MD5 hex)            */
    char ja4[40];               /* JA4 of the ClientHello                      */
    char cert_sans[MT_STR_LONG];    /* leaf DNS SANs, space-separated         */
    char cert_key_type[16];     /* leaf key: "RSA", "EC", "Ed25519", ...       */
    int cert_key_bits;
    char cert_sig_alg[MT_STR_SHORT];  /* leaf signature algorithm            */
    int cert_self_signed;       /* leaf issuer == subject, signature verifies  */
    int tls_resumed;            /* abbreviated / PSK handshake (no certificate) */
    int tls_handshake_complete; /* both sides finished the handshake           */
    /* The server chain as read (leaf first), chain_len entries; NULL/0 when
     * none was visible (TLS 1.3, resumption).  Borrowed: valid only during
     * the session() callback. */
    const struct tls_cert_info *chain;
    int chain_len;
};

/* One recipient of a message (RCPT), with the reply it got (0 if none). */
struct mt_recipient {
    char address[MT_STR];
    char domain[MT_STR];
    int reply_code;
};

/* One message transaction whose content command (DATA/BDAT) was sent in
 * cleartext. */
struct mt_message {
    uint32_t seq;               /* 1, 2, ... within the session               */
    enum mt_method method;
    char mail_from[MT_STR];     /* address inside <>; "" for the null sender  */
    uint8_t mail_from_seen;     /* MAIL FROM crossed (0: picked up later, so
                                   "" is an unknown sender, not <>)        */
    uint32_t rcpt_count;        /* RCPT commands sent, accepted or not         */
    uint64_t size;              /* content octets after dot-unstuffing        */
    char body_sha256[65];       /* hex, "" if no content crossed              */
    char subject[MT_STR];
    char message_id[MT_STR];
    char from_hdr[MT_STR];
    char date_hdr[MT_STR];
    double ts;                  /* time of the content command                */
    int reply_code;             /* final reply to the content, 0 if none      */
    int content_exposed;        /* content octets crossed in cleartext        */
    int complete;               /* content seen to its end without a gap      */
    const struct mt_recipient *rcpts;  /* borrowed, n_rcpts entries           */
    size_t n_rcpts;
};

/* One finding.  kind is a static string (an id of DETECTIONS.md §2). */
struct mt_finding {
    const char *kind;
    enum mt_severity severity;
    double ts;
    uint32_t msg_seq;           /* message it belongs to, 0 for none          */
    char evidence[MT_EVIDENCE_MAX]; /* escaped; never a secret, body text, address or username */
};

#endif
