/*
 * tls.h — passive reading of a TLS handshake (both directions), over the
 * reassembled streams: records and handshake messages split across
 * segments and records, several messages in one record, SSLv2-compatible
 * ClientHello.  Bounded: handshake messages larger than TLS_HS_MAX are
 * skipped (counted), parsing stops once both sides sent encrypted data.
 */
#ifndef MAILTAP_TLS_H
#define MAILTAP_TLS_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

/* Largest handshake message reassembled (certificate chains are the big
 * ones); larger messages are skipped and counted. */
#define TLS_HS_MAX          (128u * 1024u)
/* Certificates of the chain kept (DER, for the caller to inspect). */
#define TLS_CHAIN_MAX       8u

struct tls_cert_info {
    char sha256[65];            /* hex of the DER                           */
    char subject[MT_STR];       /* one-line RFC 2253 form, escaped          */
    char issuer[MT_STR];
    char sans[MT_STR_LONG];     /* DNS SANs, space-separated                */
    double not_before, not_after;  /* epoch seconds                         */
    char key_type[16];          /* "RSA", "EC", "Ed25519", ...              */
    int key_bits;
    char sig_alg[MT_STR_SHORT]; /* e.g. "sha256WithRSAEncryption"           */
    int self_signed;            /* issuer == subject and signature verifies */
};

struct tls_info {
    /* ClientHello */
    int client_hello_seen;
    uint16_t client_version;            /* legacy_version                   */
    char sni[MT_STR];
    char alpn[MT_STR_SHORT];            /* first ALPN protocol offered      */
    char offered_versions[MT_STR_SHORT];/* supported_versions, e.g. "TLSv1.3 TLSv1.2" */
    char ja3[33];                       /* MD5 hex of the JA3 string        */
    char ja4[40];
    int sslv2_hello;
    uint32_t offered_weak_ciphers;      /* count of weak suites offered     */
    /* ServerHello */
    int server_hello_seen;
    int hello_retry_request;
    uint16_t version;                   /* negotiated (supported_versions for 1.3) */
    char version_name[16];              /* "TLSv1.2", "SSLv3", ...          */
    uint16_t cipher;
    char cipher_name[MT_STR_SHORT];     /* IANA name, or "0xXXXX"            */
    uint8_t compression;
    /* Certificate (TLS <= 1.2) */
    int cert_count;
    struct tls_cert_info *chain;        /* cert_count entries (allocated when
                                           a Certificate message is read, so a
                                           handshake in progress costs a few
                                           hundred bytes, not TLS_CHAIN_MAX
                                           entries); NULL when none       */
    /* outcome */
    int alert_seen;                     /* a cleartext alert record          */
    uint8_t alert_level, alert_desc;
    int alert_from_client;
    int ccs_client, ccs_server;         /* ChangeCipherSpec seen            */
    int appdata_client, appdata_server; /* application data records seen   */
    int handshake_complete;             /* CCS/Finished both ways, or appdata both ways */
    int resumed;                        /* abbreviated handshake (no cert)  */
    int malformed;                      /* something did not parse          */
    uint32_t skipped_messages;          /* handshake messages over TLS_HS_MAX */
};

typedef struct tls_parser tls_parser_t;

tls_parser_t *tls_parser_new(void);
/* Bytes of one direction, in order.  from_client: 1 client->server. */
void tls_feed(tls_parser_t *t, int from_client, const uint8_t *p, size_t len);
/* Missing bytes: that direction stops being parsed (results so far stay). */
void tls_gap(tls_parser_t *t, int from_client, uint64_t len);
const struct tls_info *tls_result(const tls_parser_t *t);
/* Weakness classes of a cipher suite by its IANA name: bit set of
 * TLS_WEAK_* below; 0 = none. */
#define TLS_WEAK_NULL    0x01u
#define TLS_WEAK_EXPORT  0x02u
#define TLS_WEAK_DES     0x04u
#define TLS_WEAK_RC4     0x08u
#define TLS_WEAK_ANON    0x10u
#define TLS_WEAK_3DES    0x20u
#define TLS_WEAK_RSA_KX  0x40u
unsigned tls_cipher_weakness(const char *iana_name);
void tls_parser_free(tls_parser_t *t);

#endif
