/*
 * test_dissect_tls.c — unit tests for dissect/tls.c (TLS handshake reader).
 *
 * Fixtures: real handshakes recorded on loopback by
 * tests/unit/data/tls/make.sh (NAME.c2s / NAME.s2c).  Each fixture is fed
 * whole, split at every point of its first 600 bytes, one byte at a time
 * and server-first; the results must be byte-identical.  Every chunk is
 * copied into an exactly-sized allocation so that ASan catches over-reads.
 * Synthetic hellos check JA3/JA4 against the published JA4 example, SSLv2
 * hellos, record-layer limits and malformed input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dissect/tls.h"
#include "dissect/tls_int.h"
#include "tests/unit/fix_tls.h"

/* ---- helpers ---------------------------------------------------------- */

/* Feeds a copy of p[0..n) in an exactly-sized buffer. */
static void feed(tls_parser_t *t, int client, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t *c = malloc(n);
    assert_non_null(c);
    memcpy(c, p, n);
    tls_feed(t, client, c, n);
    free(c);
}

/* Whole streams, client first (server first when server_first). */
static tls_parser_t *run_whole(const struct fixture *f, int server_first)
{
    tls_parser_t *t = tls_parser_new();
    assert_non_null(t);
    if (server_first) {
        feed(t, 0, f->s2c.p, f->s2c.len);
        feed(t, 1, f->c2s.p, f->c2s.len);
    } else {
        feed(t, 1, f->c2s.p, f->c2s.len);
        feed(t, 0, f->s2c.p, f->s2c.len);
    }
    return t;
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Both streams cut at k: c[0..k) s[0..k) c[k..) s[k..). */
static tls_parser_t *run_split(const struct fixture *f, size_t k)
{
    tls_parser_t *t = tls_parser_new();
    size_t kc = min_sz(k, f->c2s.len), ks = min_sz(k, f->s2c.len);
    feed(t, 1, f->c2s.p, kc);
    feed(t, 0, f->s2c.p, ks);
    feed(t, 1, f->c2s.p + kc, f->c2s.len - kc);
    feed(t, 0, f->s2c.p + ks, f->s2c.len - ks);
    return t;
}

/* One byte at a time, alternating directions. */
static tls_parser_t *run_bytes(const struct fixture *f)
{
    tls_parser_t *t = tls_parser_new();
    size_t n = f->c2s.len > f->s2c.len ? f->c2s.len : f->s2c.len;
    for (size_t i = 0; i < n; i++) {
        if (i < f->c2s.len)
            feed(t, 1, f->c2s.p + i, 1);
        if (i < f->s2c.len)
            feed(t, 0, f->s2c.p + i, 1);
    }
    return t;
}

static void assert_same(const tls_parser_t *a, const tls_parser_t *b, const char *what,
                        size_t k)
{
    struct tls_info x = *tls_result(a), y = *tls_result(b);

    /* the chain is compared by content, the rest byte for byte */
    if (x.cert_count != y.cert_count || (x.chain == NULL) != (y.chain == NULL)
        || (x.chain != NULL && x.cert_count > 0
            && memcmp(x.chain, y.chain, (size_t)x.cert_count * sizeof *x.chain) != 0))
        fail_msg("%s (k=%zu): chain differs from whole feed", what, k);
    x.chain = y.chain = NULL;
    if (memcmp(&x, &y, sizeof x) != 0)
        fail_msg("%s (k=%zu) differs from whole feed", what, k);
}

/* The fixture gives identical results however it is cut. */
static void check_all_feedings(const struct fixture *f)
{
    tls_parser_t *ref = run_whole(f, 0);
    tls_parser_t *t;

    t = run_whole(f, 1);
    assert_same(ref, t, "server first", 0);
    tls_parser_free(t);
    t = run_bytes(f);
    assert_same(ref, t, "byte at a time", 0);
    tls_parser_free(t);
    size_t lim = f->c2s.len > f->s2c.len ? f->c2s.len : f->s2c.len;
    if (lim > 600)
        lim = 600;
    for (size_t k = 0; k <= lim; k++) {
        t = run_split(f, k);
        assert_same(ref, t, "split", k);
        tls_parser_free(t);
    }
    tls_parser_free(ref);
}

/* Lower-case hex digest of a string (independent of the parser's code). */
static void digest_hex(const EVP_MD *md, const char *s, char *out, size_t hexlen)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    assert_int_equal(EVP_Digest(s, strlen(s), d, &dl, md, NULL), 1);
    for (size_t i = 0; i < hexlen / 2; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    out[hexlen] = '\0';
}

/* ---- a tiny TLS message builder --------------------------------------- */

struct wb {
    uint8_t b[300000];
    size_t n;
};

static void put8(struct wb *w, uint32_t v) { w->b[w->n++] = (uint8_t)v; }
static void put16(struct wb *w, uint32_t v) { put8(w, v >> 8); put8(w, v); }
static void put24(struct wb *w, uint32_t v) { put8(w, v >> 16); put16(w, v); }
static void putn(struct wb *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void puts_(struct wb *w, const char *s) { putn(w, s, strlen(s)); }

/* Length placeholders: open() reserves `bytes`, close() fills them. */
static size_t open_len(struct wb *w, unsigned bytes)
{
    size_t at = w->n;
    for (unsigned i = 0; i < bytes; i++)
        put8(w, 0);
    return at | ((size_t)bytes << 56);
}

static void close_len(struct wb *w, size_t mark)
{
    unsigned bytes = (unsigned)(mark >> 56);
    size_t at = mark & (((size_t)1 << 56) - 1);
    size_t len = w->n - at - bytes;
    for (unsigned i = 0; i < bytes; i++)
        w->b[at + i] = (uint8_t)(len >> (8 * (bytes - 1 - i)));
}

/* Wraps w's handshake bytes into TLS records of at most `chunk` bytes. */
static void records(struct wb *out, uint8_t type, const uint8_t *p, size_t n, size_t chunk)
{
    size_t off = 0;
    do {
        size_t c = n - off < chunk ? n - off : chunk;
        put8(out, type);
        put16(out, 0x0303);
        put16(out, (uint32_t)c);
        putn(out, p + off, c);
        off += c;
    } while (off < n);
}

struct ch_opts {
    int no_sigalgs;             /* sigalg extension with an empty list */
    const uint8_t *alpn;        /* first ALPN value (NULL: h2, http/1.1) */
    size_t alpn_len;
    const uint8_t *sid;
    size_t sid_len;
};

/* The ClientHello of the JA4 documentation example (plus GREASE). */
static void build_ch(struct wb *hs, const struct ch_opts *o)
{
    static const uint16_t ciphers[] = {
        0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
        0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035
    };
    size_t m, e, x, l;

    put8(hs, 1);
    m = open_len(hs, 3);
    put16(hs, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(hs, i);
    put8(hs, (uint32_t)o->sid_len);
    if (o->sid_len)
        putn(hs, o->sid, o->sid_len);
    put16(hs, sizeof ciphers);
    for (size_t i = 0; i < sizeof ciphers / sizeof ciphers[0]; i++)
        put16(hs, ciphers[i]);
    put8(hs, 1);
    put8(hs, 0);
    e = open_len(hs, 2);
    put16(hs, 0x1a1a); put16(hs, 0);                     /* GREASE */
    put16(hs, 0x001b); put16(hs, 3); put8(hs, 2); put16(hs, 2);
    put16(hs, 0x0000); x = open_len(hs, 2);              /* SNI */
    l = open_len(hs, 2); put8(hs, 0); put16(hs, 15); puts_(hs, "www.example.com");
    close_len(hs, l); close_len(hs, x);
    put16(hs, 0x0033); x = open_len(hs, 2);              /* key_share */
    l = open_len(hs, 2); put16(hs, 0x001d); put16(hs, 32);
    for (int i = 0; i < 32; i++)
        put8(hs, 0x55);
    close_len(hs, l); close_len(hs, x);
    put16(hs, 0x0010); x = open_len(hs, 2);              /* ALPN */
    l = open_len(hs, 2);
    if (o->alpn) {
        put8(hs, (uint32_t)o->alpn_len);
        putn(hs, o->alpn, o->alpn_len);
    } else {
        put8(hs, 2); puts_(hs, "h2");
        put8(hs, 8); puts_(hs, "http/1.1");
    }
    close_len(hs, l); close_len(hs, x);
    put16(hs, 0x4469); put16(hs, 5); put16(hs, 3); put8(hs, 2); puts_(hs, "h2");
    put16(hs, 0x0017); put16(hs, 0);
    put16(hs, 0x002d); put16(hs, 2); put8(hs, 1); put8(hs, 1);
    put16(hs, 0x000d); x = open_len(hs, 2);              /* signature_algorithms */
    l = open_len(hs, 2);
    if (!o->no_sigalgs) {
        static const uint16_t sa[] = { 0x0403, 0x0804, 0x0401, 0x0503, 0x0805,
                                       0x0501, 0x0806, 0x0601 };
        for (size_t i = 0; i < 8; i++)
            put16(hs, sa[i]);
    }
    close_len(hs, l); close_len(hs, x);
    put16(hs, 0x0005); put16(hs, 5); put8(hs, 1); put16(hs, 0); put16(hs, 0);
    put16(hs, 0x0023); put16(hs, 0);
    put16(hs, 0x0012); put16(hs, 0);
    put16(hs, 0x002b); put16(hs, 7); put8(hs, 6);        /* supported_versions */
    put16(hs, 0x2a2a); put16(hs, 0x0304); put16(hs, 0x0303);
    put16(hs, 0xff01); put16(hs, 1); put8(hs, 0);
    put16(hs, 0x000b); put16(hs, 2); put8(hs, 1); put8(hs, 0);
    put16(hs, 0x000a); put16(hs, 10); put16(hs, 8);      /* supported_groups */
    put16(hs, 0x3a3a); put16(hs, 0x001d); put16(hs, 0x0017); put16(hs, 0x0018);
    put16(hs, 0x0015); put16(hs, 3); put8(hs, 0); put8(hs, 0); put8(hs, 0);
    put16(hs, 0xfafa); put16(hs, 1); put8(hs, 0);        /* GREASE */
    close_len(hs, e);
    close_len(hs, m);
}

/* A ServerHello; version13 adds supported_versions 0x0304. */
static void build_sh(struct wb *hs, uint16_t cipher, int version13,
                     const uint8_t *sid, size_t sid_len)
{
    size_t m, e;
    put8(hs, 2);
    m = open_len(hs, 3);
    put16(hs, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(hs, 0x70 + i);
    put8(hs, (uint32_t)sid_len);
    if (sid_len)
        putn(hs, sid, sid_len);
    put16(hs, cipher);
    put8(hs, 0);
    if (version13) {
        e = open_len(hs, 2);
        put16(hs, 0x002b); put16(hs, 2); put16(hs, 0x0304);
        close_len(hs, e);
    }
    close_len(hs, m);
}

static const struct ch_opts default_opts = { 0, NULL, 0, NULL, 0 };

/* ---- fixture tests ---------------------------------------------------- */

static void test_tls12_ecdhe(void **state)
{
    (void)state;
    const struct fixture *f = get_fx("tls12_ecdhe");
    tls_parser_t *t = run_whole(f, 0);
    const struct tls_info *ti = tls_result(t);

    assert_int_equal(ti->client_hello_seen, 1);
    assert_int_equal(ti->client_version, 0x0303);
    assert_string_equal(ti->sni, "mail.example.com");
    assert_string_equal(ti->alpn, "smtp");
    assert_string_equal(ti->offered_versions, "");     /* -tls1_2: no ext 43 */
    assert_true(is_hex(ti->ja3, 32));
    assert_int_equal(strncmp(ti->ja4, "t12d", 4), 0);
    assert_int_equal(strlen(ti->ja4), 36);
    assert_int_equal(strncmp(ti->ja4 + 8, "sp_", 3), 0);   /* ALPN "smtp" */
    assert_true(ti->offered_weak_ciphers > 0);          /* TLS_RSA_WITH_* offered */
    assert_int_equal(ti->server_hello_seen, 1);
    assert_int_equal(ti->hello_retry_request, 0);
    assert_int_equal(ti->version, 0x0303);
    assert_string_equal(ti->version_name, "TLSv1.2");
    assert_int_equal(ti->cipher, 0xc02f);
    assert_string_equal(ti->cipher_name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_int_equal(tls_cipher_weakness(ti->cipher_name), 0);
    assert_int_equal(ti->compression, 0);
    assert_int_equal(ti->cert_count, 1);
    const struct tls_cert_info *c = &ti->chain[0];
    assert_true(is_hex(c->sha256, 64));
    assert_string_equal(c->subject, "CN=mail.example.com,O=Example");
    assert_string_equal(c->issuer, "CN=mail.example.com,O=Example");
    assert_string_equal(c->sans, "mail.example.com smtp.example.com");
    assert_string_equal(c->key_type, "RSA");
    assert_int_equal(c->key_bits, 2048);
    assert_string_equal(c->sig_alg, "sha256WithRSAEncryption");
    assert_int_equal(c->self_signed, 1);
    assert_true(c->not_before > 1.6e9);
    assert_true(c->not_after - c->not_before == 3650.0 * 86400.0);
    assert_int_equal(ti->alert_seen, 0);                 /* final alerts encrypted */
    assert_int_equal(ti->ccs_client, 1);
    assert_int_equal(ti->ccs_server, 1);
    assert_int_equal(ti->appdata_client, 1);
    assert_int_equal(ti->appdata_server, 1);
    assert_int_equal(ti->handshake_complete, 1);
    assert_int_equal(ti->resumed, 0);
    assert_int_equal(ti->malformed, 0);
    assert_int_equal(ti->skipped_messages, 0);
    /* idle: no message buffer left behind */
    assert_null(t->dir[0].buf);
    assert_null(t->dir[1].buf);

    /* JA3 is stable: same ClientHello bytes, same hash */
    tls_parser_t *t2 = run_whole(f, 0);
    assert_string_equal(tls_result(t2)->ja3, ti->ja3);
    tls_parser_free(t2);
    tls_parser_free(t);
}

static void test_tls13(void **state)
{
    (void)state;
    tls_parser_t *t = run_whole(get_fx("tls13"), 0);
    const struct tls_info *ti = tls_result(t);

    assert_string_equal(ti->sni, "mail.example.com");
    assert_string_equal(ti->alpn, "h2");
    assert_string_equal(ti->offered_versions, "TLSv1.3");
    assert_int_equal(strncmp(ti->ja4, "t13d", 4), 0);
    assert_int_equal(strncmp(ti->ja4 + 8, "h2_", 3), 0);
    assert_int_equal(ti->offered_weak_ciphers, 0);
    assert_int_equal(ti->version, 0x0304);
    assert_string_equal(ti->version_name, "TLSv1.3");
    assert_int_equal(ti->cipher >> 8, 0x13);
    assert_int_equal(strncmp(ti->cipher_name, "TLS_AES_", 8), 0);
    assert_int_equal(ti->hello_retry_request, 0);
    assert_int_equal(ti->cert_count, 0);                 /* encrypted in 1.3 */
    assert_int_equal(ti->handshake_complete, 1);
    assert_int_equal(ti->resumed, 0);
    assert_int_equal(ti->alert_seen, 0);
    assert_int_equal(ti->malformed, 0);
    char why[128];
    assert_int_equal(tls_verify_chain(t, 0, NULL, why, sizeof why), -1);
    tls_parser_free(t);
}

static void test_tls10_weak(void **state)
{
    (void)state;
    tls_parser_t *t = run_whole(get_fx("tls10_weak"), 0);
    const struct tls_info *ti = tls_result(t);

    assert_int_equal(ti->client_version, 0x0301);
    assert_string_equal(ti->sni, "");
    assert_int_equal(strncmp(ti->ja4, "t10i", 4), 0);
    assert_string_equal(ti->version_name, "TLSv1.0");
    assert_int_equal(ti->cipher, 0x002f);
    assert_string_equal(ti->cipher_name, "TLS_RSA_WITH_AES_128_CBC_SHA");
    assert_int_equal(tls_cipher_weakness(ti->cipher_name), TLS_WEAK_RSA_KX);
    assert_true(ti->offered_weak_ciphers >= 1);
    assert_int_equal(ti->cert_count, 1);
    assert_int_equal(ti->handshake_complete, 1);
    assert_int_equal(ti->malformed, 0);
    tls_parser_free(t);
}

static void test_expired(void **state)
{
    (void)state;
    tls_parser_t *t = run_whole(get_fx("expired"), 0);
    const struct tls_info *ti = tls_result(t);
    char ca[512], why[128];

    assert_int_equal(ti->cert_count, 1);
    assert_string_equal(ti->chain[0].subject, "O=Example,CN=expired.example.org");
    assert_string_equal(ti->chain[0].sans, "expired.example.org");
    assert_true(ti->chain[0].not_before == 1577836800.0);   /* 2020-01-01 */
    assert_true(ti->chain[0].not_after == 1609459200.0);    /* 2021-01-01 */
    assert_int_equal(ti->chain[0].self_signed, 1);
    assert_int_equal(ti->handshake_complete, 1);

    data_path(ca, sizeof ca, "expired.pem");
    assert_int_equal(tls_verify_chain(t, 1590969600.0, ca, why, sizeof why), 1);
    assert_int_equal(tls_verify_chain(t, 1700000000.0, ca, why, sizeof why), 0);
    assert_string_equal(why, "certificate has expired");
    assert_int_equal(tls_verify_chain(t, 1500000000.0, ca, why, sizeof why), 0);
    assert_string_equal(why, "certificate is not yet valid");
    tls_parser_free(t);
}

static void test_rsa1024(void **state)
{
    (void)state;
    tls_parser_t *t = run_whole(get_fx("rsa1024"), 0);
    const struct tls_info *ti = tls_result(t);
    assert_int_equal(ti->cert_count, 1);
    assert_string_equal(ti->chain[0].key_type, "RSA");
    assert_int_equal(ti->chain[0].key_bits, 1024);
    assert_string_equal(ti->chain[0].subject, "CN=weak.example.net");
    assert_string_equal(ti->chain[0].sans, "");
    assert_int_equal(ti->handshake_complete, 1);
    tls_parser_free(t);
}

static void test_hsfail(void **state)
{
    (void)state;
    tls_parser_t *t = run_whole(get_fx("hsfail"), 0);
    const struct tls_info *ti = tls_result(t);
    assert_int_equal(ti->client_hello_seen, 1);
    assert_int_equal(ti->server_hello_seen, 0);
    assert_int_equal(ti->alert_seen, 1);
    assert_int_equal(ti->alert_level, 2);
    assert_int_equal(ti->alert_desc, 40);                /* handshake_failure */
    assert_int_equal(ti->alert_from_client, 0);
    assert_int_equal(ti->handshake_complete, 0);
    assert_int_equal(ti->malformed, 0);
    tls_parser_free(t);
}

static void test_hrr(void **state)
{
    (void)state;
    tls_parser_t *t = run_whole(get_fx("hrr"), 0);
    const struct tls_info *ti = tls_result(t);
    assert_int_equal(ti->hello_retry_request, 1);
    assert_int_equal(ti->server_hello_seen, 1);
    assert_string_equal(ti->version_name, "TLSv1.3");
    assert_int_equal(ti->cipher >> 8, 0x13);
    assert_int_equal(ti->handshake_complete, 1);
    assert_int_equal(ti->resumed, 0);
    assert_int_equal(ti->malformed, 0);
    tls_parser_free(t);
}

static void test_ecdsa(void **state)
{
    (void)state;
    tls_parser_t *t = run_whole(get_fx("ecdsa"), 0);
    const struct tls_info *ti = tls_result(t);
    assert_int_equal(ti->cert_count, 1);
    assert_string_equal(ti->chain[0].key_type, "EC");
    assert_int_equal(ti->chain[0].key_bits, 256);
    assert_string_equal(ti->chain[0].sig_alg, "ecdsa-with-SHA256");
    assert_int_equal(strncmp(ti->cipher_name, "TLS_ECDHE_ECDSA_", 16), 0);
    tls_parser_free(t);
}

static void test_chain_verify(void **state)
{
    (void)state;
    tls_parser_t *t = run_whole(get_fx("chain"), 0);
    const struct tls_info *ti = tls_result(t);
    char ca[512], other[512], why[128];

    assert_int_equal(ti->cert_count, 2);
    assert_string_equal(ti->chain[0].subject, "CN=mx.example.org");
    assert_string_equal(ti->chain[0].issuer, "CN=Mailtap Test CA,O=Mailtap Test");
    assert_int_equal(ti->chain[0].self_signed, 0);
    assert_string_equal(ti->chain[1].subject, "CN=Mailtap Test CA,O=Mailtap Test");
    assert_int_equal(ti->chain[1].self_signed, 1);
    assert_string_not_equal(ti->chain[0].sha256, ti->chain[1].sha256);

    double at = ti->chain[0].not_before + 86400.0;
    data_path(ca, sizeof ca, "ca.pem");
    data_path(other, sizeof other, "rsa.pem");
    assert_int_equal(tls_verify_chain(t, at, ca, why, sizeof why), 1);
    assert_int_equal(tls_verify_chain(t, at, other, why, sizeof why), 0);
    assert_true(strlen(why) > 0);
    assert_int_equal(tls_verify_chain(t, at, NULL, why, sizeof why), 0);   /* system store */
    assert_int_equal(tls_verify_chain(t, at, "/nonexistent/ca.pem", why, sizeof why), -1);
    assert_int_equal(tls_verify_chain(t, at, ca, NULL, 0), 1);
    tls_chain_release(t);
    assert_int_equal(tls_verify_chain(t, at, ca, why, sizeof why), -1);
    assert_int_equal(ti->cert_count, 2);                 /* facts stay */
    tls_parser_free(t);

    /* the self-signed one verifies against itself */
    t = run_whole(get_fx("tls12_ecdhe"), 0);
    data_path(ca, sizeof ca, "rsa.pem");
    assert_int_equal(tls_verify_chain(t, tls_result(t)->chain[0].not_before + 60, ca,
                                      why, sizeof why), 1);
    tls_parser_free(t);
}

static void test_resumed(void **state)
{
    (void)state;
    tls_parser_t *t = run_whole(get_fx("tls12_resumed"), 0);
    const struct tls_info *ti = tls_result(t);
    assert_int_equal(ti->resumed, 1);
    assert_int_equal(ti->cert_count, 0);
    assert_int_equal(ti->handshake_complete, 1);
    assert_string_equal(ti->version_name, "TLSv1.2");
    tls_parser_free(t);
}

static void test_all_feedings_identical(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFX; i++)
        check_all_feedings(&fx[i]);
}

/* Handshake messages several per record, and one message over many
 * records, give the same result as the recorded framing. */
static void test_reframing(void **state)
{
    (void)state;
    const struct fixture *f = get_fx("tls12_ecdhe");
    static struct wb hs, out;
    size_t off = 0;

    /* gather the handshake bytes of the records before the server's CCS */
    hs.n = 0;
    while (off + 5 <= f->s2c.len && f->s2c.p[off] == 22) {
        size_t len = ((size_t)f->s2c.p[off + 3] << 8) | f->s2c.p[off + 4];
        putn(&hs, f->s2c.p + off + 5, len);
        off += 5 + len;
    }
    assert_true(off > 0 && off < f->s2c.len);

    tls_parser_t *ref = run_whole(f, 0);
    size_t chunks[] = { 16384, 5, 1, 333 };
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        out.n = 0;
        records(&out, 22, hs.b, hs.n, chunks[c]);
        putn(&out, f->s2c.p + off, f->s2c.len - off);
        tls_parser_t *t = tls_parser_new();
        feed(t, 1, f->c2s.p, f->c2s.len);
        feed(t, 0, out.b, out.n);
        assert_same(ref, t, "reframed", chunks[c]);
        tls_parser_free(t);
    }
    tls_parser_free(ref);
}

/* ---- synthetic hellos ------------------------------------------------- */

static tls_parser_t *parse_ch(const struct ch_opts *o, size_t chunk)
{
    static struct wb hs, rec;
    hs.n = rec.n = 0;
    build_ch(&hs, o);
    records(&rec, 22, hs.b, hs.n, chunk);
    tls_parser_t *t = tls_parser_new();
    feed(t, 1, rec.b, rec.n);
    return t;
}

static void test_ja4_published_example(void **state)
{
    (void)state;
    tls_parser_t *t = parse_ch(&default_opts, 16384);
    const struct tls_info *ti = tls_result(t);
    char md5[33], want[40];

    assert_int_equal(ti->client_hello_seen, 1);
    assert_int_equal(ti->malformed, 0);
    assert_string_equal(ti->sni, "www.example.com");
    assert_string_equal(ti->alpn, "h2");
    assert_string_equal(ti->offered_versions, "TLSv1.3 TLSv1.2");
    /* 002f, 0035, 009c, 009d are TLS_RSA_WITH_* (static RSA key transport) */
    assert_int_equal(ti->offered_weak_ciphers, 4);
    /* FoxIO JA4.md example */
    assert_string_equal(ti->ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    /* JA3: GREASE removed everywhere */
    digest_hex(EVP_md5(),
               "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
               "27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0", md5, 32);
    assert_string_equal(ti->ja3, md5);
    tls_parser_free(t);

    /* split across records of 7 bytes: same fingerprints */
    tls_parser_t *t2 = parse_ch(&default_opts, 7);
    assert_string_equal(tls_result(t2)->ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    assert_string_equal(tls_result(t2)->ja3, md5);
    assert_null(t2->dir[1].buf);
    tls_parser_free(t2);

    /* no signature algorithms: no '_' before the (absent) list */
    struct ch_opts o = default_opts;
    o.no_sigalgs = 1;
    t = parse_ch(&o, 16384);
    snprintf(want, sizeof want, "t13d1516h2_8daaf6152771_6d807ffa2a79");
    assert_string_equal(tls_result(t)->ja4, want);
    tls_parser_free(t);
}

static void test_ja4_alpn_chars(void **state)
{
    (void)state;
    static const struct {
        uint8_t v[4];
        size_t n;
        const char *want;
    } cases[] = {
        { { 0xab }, 1, "ab" },
        { { 0xab, 0xcd }, 2, "ad" },
        { { 0x30, 0xab }, 2, "3b" },
        { { 0x30, 0x31, 0xab, 0xcd }, 4, "3d" },
        { { 0x30, 0xab, 0xcd, 0x31 }, 4, "01" },
        { { 'h' }, 1, "hh" },
        { { 's', 'm', 't', 'p' }, 4, "sp" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ch_opts o = default_opts;
        o.alpn = cases[i].v;
        o.alpn_len = cases[i].n;
        tls_parser_t *t = parse_ch(&o, 16384);
        const char *ja4 = tls_result(t)->ja4;
        assert_int_equal(strlen(ja4), 36);
        if (memcmp(ja4 + 8, cases[i].want, 2) != 0)
            fail_msg("case %zu: %s, want %s", i, ja4, cases[i].want);
        tls_parser_free(t);
    }
    /* a non-printable ALPN is escaped in the alpn field */
    struct ch_opts o = default_opts;
    o.alpn = (const uint8_t *)"a\x01" "b";
    o.alpn_len = 3;
    tls_parser_t *t = parse_ch(&o, 16384);
    assert_string_equal(tls_result(t)->alpn, "a\\x01b");
    tls_parser_free(t);
}

static void test_session_id_resumption(void **state)
{
    (void)state;
    static const uint8_t sid[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    static const uint8_t sid2[32] = { 9, 9, 9 };
    static struct wb hs, rec, sh, srec;

    for (int order = 0; order < 2; order++) {
        for (int same = 0; same < 2; same++) {
            struct ch_opts o = default_opts;
            o.sid = sid;
            o.sid_len = sizeof sid;
            hs.n = rec.n = sh.n = srec.n = 0;
            build_ch(&hs, &o);
            records(&rec, 22, hs.b, hs.n, 16384);
            build_sh(&sh, 0xc02f, 0, same ? sid : sid2, 32);
            records(&srec, 22, sh.b, sh.n, 16384);
            tls_parser_t *t = tls_parser_new();
            if (order) {
                feed(t, 0, srec.b, srec.n);
                feed(t, 1, rec.b, rec.n);
            } else {
                feed(t, 1, rec.b, rec.n);
                feed(t, 0, srec.b, srec.n);
            }
            assert_int_equal(tls_result(t)->resumed, same);
            assert_string_equal(tls_result(t)->version_name, "TLSv1.2");
            tls_parser_free(t);
        }
    }
    /* TLS 1.3 echoes the session id: not a resumption */
    struct ch_opts o = default_opts;
    o.sid = sid;
    o.sid_len = 32;
    hs.n = rec.n = sh.n = srec.n = 0;
    build_ch(&hs, &o);
    records(&rec, 22, hs.b, hs.n, 16384);
    build_sh(&sh, 0x1301, 1, sid, 32);
    records(&srec, 22, sh.b, sh.n, 16384);
    tls_parser_t *t = tls_parser_new();
    feed(t, 1, rec.b, rec.n);
    feed(t, 0, srec.b, srec.n);
    assert_int_equal(tls_result(t)->resumed, 0);
    assert_string_equal(tls_result(t)->version_name, "TLSv1.3");
    tls_parser_free(t);
}

static void test_weak_negotiated_names(void **state)
{
    (void)state;
    static const struct {
        uint16_t id;
        const char *name;
        unsigned weak;
    } cases[] = {
        { 0x0000, "TLS_NULL_WITH_NULL_NULL", TLS_WEAK_NULL },
        { 0x0002, "TLS_RSA_WITH_NULL_SHA", TLS_WEAK_NULL | TLS_WEAK_RSA_KX },
        { 0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", TLS_WEAK_EXPORT | TLS_WEAK_RC4 },
        { 0x0005, "TLS_RSA_WITH_RC4_128_SHA", TLS_WEAK_RC4 | TLS_WEAK_RSA_KX },
        { 0x0009, "TLS_RSA_WITH_DES_CBC_SHA", TLS_WEAK_DES | TLS_WEAK_RSA_KX },
        { 0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", TLS_WEAK_3DES | TLS_WEAK_RSA_KX },
        { 0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA", TLS_WEAK_EXPORT | TLS_WEAK_DES },
        { 0x0018, "TLS_DH_anon_WITH_RC4_128_MD5", TLS_WEAK_ANON | TLS_WEAK_RC4 },
        { 0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA", TLS_WEAK_ANON },
        { 0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", TLS_WEAK_RC4 },
        { 0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", TLS_WEAK_3DES },
        { 0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", TLS_WEAK_ANON },
        { 0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", TLS_WEAK_RSA_KX },
        { 0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0 },
        { 0x1301, "TLS_AES_128_GCM_SHA256", 0 },
        { 0x00ff, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0 },
        { 0x0a0a, "0x0a0a", 0 },
        { 0xfefe, "0xfefe", 0 },
    };
    static struct wb sh, rec;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[MT_STR_SHORT];
        tls_cipher_name(cases[i].id, name, sizeof name);
        assert_string_equal(name, cases[i].name);
        assert_int_equal(tls_cipher_weakness(name), cases[i].weak);

        sh.n = rec.n = 0;
        build_sh(&sh, cases[i].id, 0, NULL, 0);
        records(&rec, 22, sh.b, sh.n, 16384);
        tls_parser_t *t = tls_parser_new();
        feed(t, 0, rec.b, rec.n);
        assert_int_equal(tls_result(t)->cipher, cases[i].id);
        assert_string_equal(tls_result(t)->cipher_name, cases[i].name);
        tls_parser_free(t);
    }
    assert_int_equal(tls_cipher_weakness(NULL), 0);
    assert_int_equal(tls_cipher_weakness("TLS_CHACHA20_POLY1305_SHA256"), 0);
}

/* The hand-written formatters behind JA3/JA4 give what snprintf gives:
 * every 16-bit value, the decimal edges up to UINT32_MAX and a spread of
 * 32-bit values. */
static void test_fingerprint_formatters(void **state)
{
    (void)state;
    static const uint32_t edges[] = {
        0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 9999, 10000, 65534, 65535,
        65536, 99999, 100000, 999999, 1000000, 0xffffffu - 1, 0xffffffu,
        0x1000000u, 9999999, 10000000, 99999999, 100000000, 999999999,
        1000000000, 4294967294u, 4294967295u
    };
    char got[16], want[16];
    uint32_t x = 12345;

    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        size_t n = tls_fmt_dec(got, edges[i]);
        int w = snprintf(want, sizeof want, "%u", (unsigned)edges[i]);
        assert_int_equal(n, (size_t)w);
        assert_memory_equal(got, want, n);
    }
    for (uint32_t v = 0; v <= 0xffffu; v++) {
        size_t n = tls_fmt_dec(got, v);
        int w = snprintf(want, sizeof want, "%u", (unsigned)v);
        assert_int_equal(n, (size_t)w);
        assert_memory_equal(got, want, n);
        tls_fmt_hex4(got, (uint16_t)v);
        snprintf(want, sizeof want, "%04x", (unsigned)v);
        assert_memory_equal(got, want, 4);
    }
    for (int i = 0; i < 100000; i++) {
        x = x * 1664525u + 1013904223u;
        size_t n = tls_fmt_dec(got, x);
        int w = snprintf(want, sizeof want, "%u", (unsigned)x);
        assert_int_equal(n, (size_t)w);
        assert_memory_equal(got, want, n);
    }
}

/* A ClientHello (legacy version 1.2, no session id) offering ciphers[0..nc)
 * and empty extensions of types ext[0..ne), in that order. */
static void build_ch_lists(struct wb *hs, const uint16_t *ciphers, size_t nc,
                           const uint16_t *ext, size_t ne)
{
    size_t m, l;

    put8(hs, 1);
    m = open_len(hs, 3);
    put16(hs, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(hs, i);
    put8(hs, 0);
    l = open_len(hs, 2);
    for (size_t i = 0; i < nc; i++)
        put16(hs, ciphers[i]);
    close_len(hs, l);
    put8(hs, 1);
    put8(hs, 0);
    if (ne > 0) {
        l = open_len(hs, 2);
        for (size_t i = 0; i < ne; i++) {
            put16(hs, ext[i]);
            put16(hs, 0);
        }
        close_len(hs, l);
    }
    close_len(hs, m);
}

/* Parses one ClientHello handshake message (whole records). */
static tls_parser_t *parse_hs(const struct wb *hs)
{
    static struct wb rec;
    rec.n = 0;
    records(&rec, 22, hs->b, hs->n, 16384);
    tls_parser_t *t = tls_parser_new();
    assert_non_null(t);
    feed(t, 1, rec.b, rec.n);
    return t;
}

/* offered_weak_ciphers is looked up by suite id: for every id it must
 * agree with the weakness of the id's name.  All 65536 ids are offered
 * over three hellos, twice (first lookups, then remembered ones). */
static void test_weak_offered_every_id(void **state)
{
    (void)state;
    static struct wb hs;
    static uint16_t ids[32767];

    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t base = 0; base <= 0xffffu; base += 32767) {
            size_t n = 0;
            uint32_t want = 0;
            for (uint32_t id = base; id <= 0xffffu && n < 32767; id++) {
                char name[MT_STR_SHORT];
                ids[n++] = (uint16_t)id;
                if (tls_is_grease(id))
                    continue;
                tls_cipher_name((uint16_t)id, name, sizeof name);
                if (tls_cipher_weakness(name))
                    want++;
            }
            hs.n = 0;
            build_ch_lists(&hs, ids, n, NULL, 0);
            tls_parser_t *t = parse_hs(&hs);
            const struct tls_info *ti = tls_result(t);
            assert_int_equal(ti->client_hello_seen, 1);
            assert_int_equal(ti->malformed, 0);
            if (ti->offered_weak_ciphers != want)
                fail_msg("pass %d, ids %u..: %u weak, want %u", pass, (unsigned)base,
                         (unsigned)ti->offered_weak_ciphers, (unsigned)want);
            tls_parser_free(t);
        }
    }
}

/* Appends "<sep>v" in decimal (JA3 text) or 4-hex (JA4 text) to s. */
static size_t cat_val(char *s, size_t n, int hex, const char *sep, unsigned v)
{
    return n + (size_t)sprintf(s + n, hex ? "%s%04x" : "%s%u", sep, v);
}

/* qsort order for uint16_t values (test side). */
static int cmp16(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

/* JA3/JA4 of hellos with lists around DIS_TLS_JA4_LIST_MAX long (values
 * in descending wire order): JA3 hashes everything (long text through the
 * buffered digest), JA4 sorts the first DIS_TLS_JA4_LIST_MAX of each list
 * (SNI and ALPN are not among them). */
static void test_ja4_long_lists(void **state)
{
    (void)state;
    static struct wb hs;
    static uint16_t cs[DIS_TLS_JA4_LIST_MAX + 8], ex[DIS_TLS_JA4_LIST_MAX + 8];
    static uint16_t sorted[DIS_TLS_JA4_LIST_MAX + 8];
    static char text[64 * 1024];
    const size_t sizes[] = { 99, 100, DIS_TLS_JA4_LIST_MAX - 1, DIS_TLS_JA4_LIST_MAX,
                             DIS_TLS_JA4_LIST_MAX + 1, DIS_TLS_JA4_LIST_MAX + 8 };
    size_t nall = 0;
    uint32_t v = 0xfe00;

    for (size_t i = 0; i < DIS_TLS_JA4_LIST_MAX + 8; v--) {
        if (!tls_is_grease(v))
            cs[i++] = (uint16_t)v;
    }
    for (size_t i = 0; i < DIS_TLS_JA4_LIST_MAX + 8; i++)
        ex[i] = (uint16_t)(0x2000 - i);

    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k], kept = n < DIS_TLS_JA4_LIST_MAX ? n : DIS_TLS_JA4_LIST_MAX;
        char md5[33], ch[13], eh[13], want[40];
        size_t len;

        hs.n = 0;
        build_ch_lists(&hs, cs, n, ex, n);
        tls_parser_t *t = parse_hs(&hs);
        const struct tls_info *ti = tls_result(t);
        assert_int_equal(ti->malformed, 0);

        len = (size_t)sprintf(text, "771,");
        for (size_t i = 0; i < n; i++)
            len = cat_val(text, len, 0, i ? "-" : "", cs[i]);
        text[len++] = ',';
        for (size_t i = 0; i < n; i++)
            len = cat_val(text, len, 0, i ? "-" : "", ex[i]);
        memcpy(text + len, ",,", 3);
        digest_hex(EVP_md5(), text, md5, 32);
        assert_string_equal(ti->ja3, md5);

        memcpy(sorted, cs, kept * sizeof *sorted);
        qsort(sorted, kept, sizeof *sorted, cmp16);
        len = 0;
        for (size_t i = 0; i < kept; i++)
            len = cat_val(text, len, 1, i ? "," : "", sorted[i]);
        digest_hex(EVP_sha256(), text, ch, 12);
        memcpy(sorted, ex, kept * sizeof *sorted);
        qsort(sorted, kept, sizeof *sorted, cmp16);
        len = 0;
        for (size_t i = 0; i < kept; i++)
            len = cat_val(text, len, 1, i ? "," : "", sorted[i]);
        digest_hex(EVP_sha256(), text, eh, 12);
        nall = n > 99 ? 99 : n;
        snprintf(want, sizeof want, "t12i%02zu%02zu00_%s_%s", nall, nall, ch, eh);
        assert_string_equal(ti->ja4, want);
        tls_parser_free(t);
    }
}

static void test_sslv2_client_hello(void **state)
{
    (void)state;
    static struct wb w, sh, rec;
    w.n = 0;
    put8(&w, 0x80);
    put8(&w, 0);                        /* length patched below */
    size_t body = w.n;
    put8(&w, 1);                        /* CLIENT-HELLO */
    put16(&w, 0x0301);
    put16(&w, 9);                       /* cipher specs */
    put16(&w, 0);                       /* session id */
    put16(&w, 16);                      /* challenge */
    put8(&w, 0x01); put8(&w, 0x00); put8(&w, 0x80);   /* SSL_CK_RC4_128_WITH_MD5 */
    put8(&w, 0x00); put8(&w, 0x00); put8(&w, 0x2f);
    put8(&w, 0x00); put8(&w, 0x00); put8(&w, 0xff);
    for (int i = 0; i < 16; i++)
        put8(&w, 0xee);
    w.b[1] = (uint8_t)(w.n - body);

    sh.n = rec.n = 0;
    build_sh(&sh, 0x002f, 0, NULL, 0);
    records(&rec, 22, sh.b, sh.n, 16384);
    rec.b[1] = 3;
    rec.b[2] = 1;                       /* record version 0x0301 */
    rec.b[5 + 4] = 3;
    rec.b[5 + 5] = 1;                   /* ServerHello version TLS 1.0 */

    for (size_t step = 1; step <= w.n; step = step * 2 + 1) {
        tls_parser_t *t = tls_parser_new();
        for (size_t off = 0; off < w.n; off += step)
            feed(t, 1, w.b + off, min_sz(step, w.n - off));
        feed(t, 0, rec.b, rec.n);
        const struct tls_info *ti = tls_result(t);
        assert_int_equal(ti->sslv2_hello, 1);
        assert_int_equal(ti->client_hello_seen, 1);
        assert_int_equal(ti->client_version, 0x0301);
        assert_int_equal(ti->offered_weak_ciphers, 2);   /* SSLv2 spec + TLS_RSA_* */
        char md5[33], sha[13], want[40];
        digest_hex(EVP_md5(), "769,65664-47-255,,,", md5, 32);
        assert_string_equal(ti->ja3, md5);
        digest_hex(EVP_sha256(), "002f,00ff", sha, 12);
        snprintf(want, sizeof want, "t10i020000_%s_000000000000", sha);
        assert_string_equal(ti->ja4, want);
        assert_string_equal(ti->version_name, "TLSv1.0");
        assert_int_equal(ti->malformed, 0);
        tls_parser_free(t);
    }
}

static void test_sslv2_server_hello(void **state)
{
    (void)state;
    char path[512];
    static struct wb w;
    data_path(path, sizeof path, "rsa.pem");
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    unsigned char *der = NULL;
    int dl = i2d_X509(x, &der);
    assert_true(dl > 0);

    w.n = 0;
    size_t len = 1 + 1 + 1 + 2 + 2 + 2 + 2 + (size_t)dl + 3 + 16;
    put8(&w, 0x80 | (uint32_t)(len >> 8));
    put8(&w, (uint32_t)len);
    put8(&w, 4);                        /* SERVER-HELLO */
    put8(&w, 0);                        /* session id hit */
    put8(&w, 1);                        /* X.509 */
    put16(&w, 0x0002);
    put16(&w, (uint32_t)dl);
    put16(&w, 3);
    put16(&w, 16);
    putn(&w, der, (size_t)dl);
    put8(&w, 0x01); put8(&w, 0x00); put8(&w, 0x80);
    for (int i = 0; i < 16; i++)
        put8(&w, 0x11);
    put8(&w, 0x80);                     /* more SSLv2: not read */
    put8(&w, 0x05);

    tls_parser_t *t = tls_parser_new();
    for (size_t i = 0; i < w.n; i++)
        feed(t, 0, w.b + i, 1);
    const struct tls_info *ti = tls_result(t);
    assert_int_equal(ti->server_hello_seen, 1);
    assert_int_equal(ti->version, 0x0002);
    assert_string_equal(ti->version_name, "SSLv2");
    assert_int_equal(ti->cert_count, 1);
    assert_string_equal(ti->chain[0].subject, "CN=mail.example.com,O=Example");
    assert_int_equal(ti->malformed, 0);
    tls_parser_free(t);
    OPENSSL_free(der);
    X509_free(x);
}

/* Certificate text fields: UTF-8 and control characters in the subject,
 * more DNS SANs than fit. */
static void test_cert_strings(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(k);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                               (const unsigned char *)"caf\xc3\xa9\x01.example", -1, -1, 0);
    X509_set_issuer_name(x, n);
    ASN1_TIME_set(X509_getm_notBefore(x), 1600000000);
    ASN1_TIME_set(X509_getm_notAfter(x), 1700000000);
    X509_set_pubkey(x, k);
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    for (int i = 0; i < 120; i++) {
        char dns[32];
        snprintf(dns, sizeof dns, "host%03d.example.net", i);
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
        ASN1_STRING_set(ia5, dns, -1);
        GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
        sk_GENERAL_NAME_push(gens, g);
    }
    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
    GENERAL_NAMES_free(gens);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int dl = i2d_X509(x, &der);
    assert_true(dl > 0);

    struct tls_cert_info ci;
    assert_int_equal(tls_cert_fill(&ci, der, (size_t)dl), 0);
    assert_string_equal(ci.subject, "CN=caf\xc3\xa9\\\\01.example");
    assert_string_equal(ci.issuer, ci.subject);
    assert_int_equal(ci.self_signed, 1);
    assert_string_equal(ci.key_type, "EC");
    assert_true(ci.not_before == 1600000000.0 && ci.not_after == 1700000000.0);
    size_t sl = strlen(ci.sans);
    assert_true(sl < sizeof ci.sans && sl > 900);
    assert_int_equal(strncmp(ci.sans, "host000.example.net host001.example.net", 39), 0);
    assert_string_equal(ci.sans + sl - 4, " ...");
    /* a truncated DER does not parse but is still fingerprinted */
    assert_int_equal(tls_cert_fill(&ci, der, (size_t)dl - 1), -1);
    assert_true(is_hex(ci.sha256, 64));
    assert_string_equal(ci.subject, "");
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* ---- record layer, limits, malformed input ---------------------------- */

static void test_record_layer_limits(void **state)
{
    (void)state;
    static const uint8_t bad_type[] = { 0x18, 0x03, 0x03, 0x00, 0x01, 0x00 };
    static const uint8_t bad_ver[] = { 0x16, 0x03, 0x05, 0x00, 0x01, 0x00 };
    static const uint8_t bad_major[] = { 0x16, 0x02, 0x00, 0x00, 0x01, 0x00 };
    static const uint8_t too_long[] = { 0x17, 0x03, 0x03, 0x48, 0x01 };  /* 18433 */
    static const uint8_t max_len[] = { 0x17, 0x03, 0x03, 0x48, 0x00 };  /* 18432 */
    const struct { const uint8_t *p; size_t n; int malformed; } cases[] = {
        { bad_type, sizeof bad_type, 1 },
        { bad_ver, sizeof bad_ver, 1 },
        { bad_major, sizeof bad_major, 1 },
        { too_long, sizeof too_long, 1 },
        { max_len, sizeof max_len, 0 },
    };
    const struct fixture *f = get_fx("tls12_ecdhe");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tls_parser_t *t = tls_parser_new();
        feed(t, 1, cases[i].p, cases[i].n);
        assert_int_equal(tls_result(t)->malformed, cases[i].malformed);
        /* a stopped direction ignores what follows */
        feed(t, 1, f->c2s.p, f->c2s.len);
        if (cases[i].malformed)
            assert_int_equal(tls_result(t)->client_hello_seen, 0);
        tls_parser_free(t);
    }
    /* SSLv2 header with a too-short body */
    static const uint8_t v2short[] = { 0x80, 0x02, 0x01, 0x03 };
    tls_parser_t *t = tls_parser_new();
    feed(t, 1, v2short, sizeof v2short);
    assert_int_equal(tls_result(t)->malformed, 1);
    tls_parser_free(t);
    /* high bit later in a TLS stream is not SSLv2: malformed */
    t = tls_parser_new();
    feed(t, 1, f->c2s.p, 5 + 219);
    static const uint8_t hb[] = { 0x80, 0x10, 0x01, 0x03, 0x01 };
    feed(t, 1, hb, sizeof hb);
    assert_int_equal(tls_result(t)->client_hello_seen, 1);
    assert_int_equal(tls_result(t)->malformed, 1);
    tls_parser_free(t);
}

static void test_oversized_message_skipped(void **state)
{
    (void)state;
    static struct wb hs, out;
    hs.n = out.n = 0;
    build_sh(&hs, 0xc02f, 0, NULL, 0);
    put8(&hs, 11);                      /* Certificate larger than TLS_HS_MAX */
    put24(&hs, TLS_HS_MAX + 1);
    for (size_t i = 0; i < TLS_HS_MAX + 1; i++)
        put8(&hs, (uint32_t)i);
    put8(&hs, 14);                      /* ServerHelloDone */
    put24(&hs, 0);
    records(&out, 22, hs.b, hs.n, 16384);
    put8(&out, 20); put16(&out, 0x0303); put16(&out, 1); put8(&out, 1);

    tls_parser_t *t = tls_parser_new();
    feed(t, 0, out.b, out.n);
    const struct tls_info *ti = tls_result(t);
    assert_int_equal(ti->server_hello_seen, 1);
    assert_int_equal(ti->skipped_messages, 1);
    assert_int_equal(ti->cert_count, 0);
    assert_int_equal(ti->resumed, 0);   /* ServerHelloDone: full handshake */
    assert_int_equal(ti->ccs_server, 1);
    assert_int_equal(ti->malformed, 0);
    assert_null(t->dir[0].buf);
    tls_parser_free(t);

    /* exactly TLS_HS_MAX is reassembled (and, being garbage, malformed) */
    hs.n = out.n = 0;
    put8(&hs, 11);
    put24(&hs, TLS_HS_MAX);
    put24(&hs, TLS_HS_MAX - 3);
    put24(&hs, TLS_HS_MAX - 6);
    for (size_t i = 0; i < TLS_HS_MAX - 6; i++)
        put8(&hs, 0x30);
    records(&out, 22, hs.b, hs.n, 16384);
    t = tls_parser_new();
    feed(t, 0, out.b, out.n);
    assert_int_equal(tls_result(t)->skipped_messages, 0);
    assert_int_equal(tls_result(t)->cert_count, 1);
    assert_int_equal(tls_result(t)->malformed, 1);
    assert_true(is_hex(tls_result(t)->chain[0].sha256, 64));
    tls_parser_free(t);
}

static void test_alerts_and_encryption(void **state)
{
    (void)state;
    static const uint8_t ccs[] = { 20, 3, 3, 0, 1, 1 };
    static const uint8_t alert[] = { 21, 3, 3, 0, 2, 2, 40 };
    static const uint8_t warn[] = { 21, 3, 3, 0, 2, 1, 0 };

    /* cleartext alert from the client, split; a later fatal one wins over a warning */
    tls_parser_t *t = tls_parser_new();
    feed(t, 1, warn, 6);
    feed(t, 1, warn + 6, 1);
    assert_int_equal(tls_result(t)->alert_seen, 1);
    assert_int_equal(tls_result(t)->alert_level, 1);
    assert_int_equal(tls_result(t)->alert_from_client, 1);
    feed(t, 0, alert, sizeof alert);
    assert_int_equal(tls_result(t)->alert_level, 2);
    assert_int_equal(tls_result(t)->alert_desc, 40);
    assert_int_equal(tls_result(t)->alert_from_client, 0);
    tls_parser_free(t);

    /* after that side's CCS an alert is encrypted: not read */
    t = tls_parser_new();
    feed(t, 1, ccs, sizeof ccs);
    feed(t, 1, alert, sizeof alert);
    assert_int_equal(tls_result(t)->ccs_client, 1);
    assert_int_equal(tls_result(t)->alert_seen, 0);
    assert_int_equal(tls_result(t)->handshake_complete, 0);
    feed(t, 0, ccs, sizeof ccs);
    assert_int_equal(tls_result(t)->handshake_complete, 1);
    tls_parser_free(t);

    /* TLS 1.3: nothing after the ServerHello is read */
    static struct wb sh, rec;
    sh.n = rec.n = 0;
    build_sh(&sh, 0x1301, 1, NULL, 0);
    build_sh(&sh, 0x0005, 0, NULL, 0);  /* would be a second hello: ignored */
    records(&rec, 22, sh.b, sh.n, 16384);
    putn(&rec, alert, sizeof alert);
    putn(&rec, ccs, sizeof ccs);
    t = tls_parser_new();
    feed(t, 0, rec.b, rec.n);
    assert_int_equal(tls_result(t)->cipher, 0x1301);
    assert_int_equal(tls_result(t)->alert_seen, 0);
    assert_int_equal(tls_result(t)->ccs_server, 1);
    assert_int_equal(tls_result(t)->resumed, 0);
    /* 1.3: CCS both ways is not completion, appdata both ways is */
    feed(t, 1, ccs, sizeof ccs);
    assert_int_equal(tls_result(t)->handshake_complete, 0);
    static const uint8_t app[] = { 23, 3, 3, 0, 1, 0x42 };
    feed(t, 1, app, sizeof app);
    feed(t, 0, app, sizeof app);
    assert_int_equal(tls_result(t)->handshake_complete, 1);
    tls_parser_free(t);

    /* a handshake message cut by another record type */
    t = tls_parser_new();
    static const uint8_t part[] = { 22, 3, 3, 0, 4, 1, 0, 0, 100 };
    feed(t, 1, part, sizeof part);
    feed(t, 1, alert, sizeof alert);
    assert_int_equal(tls_result(t)->malformed, 1);
    assert_int_equal(tls_result(t)->alert_seen, 1);
    assert_null(t->dir[1].buf);
    tls_parser_free(t);
}

static void test_gap_and_null(void **state)
{
    (void)state;
    const struct fixture *f = get_fx("tls12_ecdhe");

    tls_parser_t *t = tls_parser_new();
    feed(t, 1, f->c2s.p, 100);
    assert_non_null(t->dir[1].buf);     /* partial ClientHello buffered */
    assert_true(t->dir[1].buf_cap <= 4096);
    tls_parser_free(t);

    /* a declared 100 kB message: memory follows the bytes that arrived */
    static const uint8_t big[] = { 22, 3, 3, 0x40, 0x00, 1, 0x01, 0x86, 0xa0 };
    static uint8_t zeros[0x4000 - 4];
    t = tls_parser_new();
    feed(t, 1, big, sizeof big);
    feed(t, 1, zeros, 100);
    assert_true(t->dir[1].buf_cap <= 4096);
    feed(t, 1, zeros + 100, sizeof zeros - 100);
    assert_true(t->dir[1].buf_cap >= 0x4000 - 4 && t->dir[1].buf_cap <= 0x8000);
    tls_parser_free(t);

    t = tls_parser_new();
    feed(t, 1, f->c2s.p, 100);
    tls_gap(t, 1, 50);
    assert_null(t->dir[1].buf);
    feed(t, 1, f->c2s.p + 150, f->c2s.len - 150);
    feed(t, 0, f->s2c.p, f->s2c.len);
    const struct tls_info *ti = tls_result(t);
    assert_int_equal(ti->client_hello_seen, 0);
    assert_int_equal(ti->ccs_client, 0);
    assert_int_equal(ti->server_hello_seen, 1);
    assert_int_equal(ti->cert_count, 1);
    assert_int_equal(ti->malformed, 0);
    tls_gap(t, 0, 0);                   /* zero gap: no effect */
    tls_parser_free(t);

    tls_parser_free(NULL);
    tls_feed(NULL, 1, (const uint8_t *)"x", 1);
    tls_gap(NULL, 0, 5);
    assert_null(tls_result(NULL));
    tls_chain_release(NULL);
    t = tls_parser_new();
    tls_feed(t, 1, NULL, 5);
    tls_feed(t, 1, (const uint8_t *)"", 0);
    assert_int_equal(tls_result(t)->malformed, 0);
    char why[64];
    assert_int_equal(tls_verify_chain(NULL, 0, NULL, why, sizeof why), -1);
    tls_parser_free(t);
}

static void test_bad_client_hello(void **state)
{
    (void)state;
    static struct wb hs, rec;
    /* inner lengths pointing past the message */
    hs.n = 0;
    build_ch(&hs, &default_opts);
    const size_t cipher_len_at = 4 + 2 + 32 + 1;
    for (int v = 0; v < 3; v++) {
        struct wb *h = &hs;
        uint8_t save0 = h->b[cipher_len_at], save1 = h->b[cipher_len_at + 1];
        if (v == 0) { h->b[cipher_len_at] = 0xff; h->b[cipher_len_at + 1] = 0xff; }
        if (v == 1) { h->b[cipher_len_at + 1] = 0x21; }        /* odd length */
        if (v == 2) { h->b[4 + 2 + 32] = 33; }                 /* session id > 32 */
        rec.n = 0;
        records(&rec, 22, h->b, h->n, 16384);
        tls_parser_t *t = tls_parser_new();
        feed(t, 1, rec.b, rec.n);
        assert_int_equal(tls_result(t)->client_hello_seen, 0);
        assert_int_equal(tls_result(t)->malformed, 1);
        tls_parser_free(t);
        h->b[cipher_len_at] = save0;
        h->b[cipher_len_at + 1] = save1;
        h->b[4 + 2 + 32] = 0;
    }
    /* extension block cut short: what came before is kept */
    hs.n = 0;
    build_ch(&hs, &default_opts);
    size_t ext_at = 4 + 2 + 32 + 1 + 2 + 32 + 2;   /* extensions length */
    hs.b[ext_at + 2 + 4 + 2 + 1] = 0xff;    /* 2nd extension (0x001b): length 255 */
    rec.n = 0;
    records(&rec, 22, hs.b, hs.n, 16384);
    tls_parser_t *t = tls_parser_new();
    feed(t, 1, rec.b, rec.n);
    assert_int_equal(tls_result(t)->client_hello_seen, 1);
    assert_int_equal(tls_result(t)->malformed, 1);
    assert_string_equal(tls_result(t)->sni, "");
    assert_true(is_hex(tls_result(t)->ja3, 32));
    tls_parser_free(t);
}

/* Deterministic xorshift for the mutation test. */
static uint32_t rng_state = 0x12345678u;
static uint32_t rng(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static void assert_terminated(const tls_parser_t *t)
{
    const struct tls_info *ti = tls_result(t);
    assert_true(memchr(ti->sni, 0, sizeof ti->sni) != NULL);
    assert_true(memchr(ti->alpn, 0, sizeof ti->alpn) != NULL);
    assert_true(memchr(ti->ja3, 0, sizeof ti->ja3) != NULL);
    assert_true(memchr(ti->ja4, 0, sizeof ti->ja4) != NULL);
    assert_true(memchr(ti->cipher_name, 0, sizeof ti->cipher_name) != NULL);
    assert_true(ti->cert_count >= 0 && ti->cert_count <= (int)TLS_CHAIN_MAX);
    for (int i = 0; i < ti->cert_count; i++) {
        assert_true(memchr(ti->chain[i].subject, 0, sizeof ti->chain[i].subject) != NULL);
        assert_true(memchr(ti->chain[i].sans, 0, sizeof ti->chain[i].sans) != NULL);
    }
}

/* Truncations and random mutations of the fixtures, fed in random
 * chunks: nothing may crash or read out of bounds (run under ASan). */
static void test_mutations(void **state)
{
    (void)state;
    static uint8_t c[8192], s[8192];
    for (size_t i = 0; i < NFX; i++) {
        const struct fixture *f = &fx[i];
        for (size_t cut = 0; cut < f->s2c.len; cut += 1 + f->s2c.len / 97) {
            tls_parser_t *t = tls_parser_new();
            feed(t, 1, f->c2s.p, min_sz(cut, f->c2s.len));
            feed(t, 0, f->s2c.p, cut);
            assert_terminated(t);
            tls_parser_free(t);
        }
        for (int iter = 0; iter < 300; iter++) {
            memcpy(c, f->c2s.p, f->c2s.len);
            memcpy(s, f->s2c.p, f->s2c.len);
            int flips = 1 + (int)(rng() % 6);
            for (int k = 0; k < flips; k++) {
                uint8_t *b = (rng() & 1) ? c : s;
                size_t n = b == c ? f->c2s.len : f->s2c.len;
                size_t at = rng() % n;
                /* bias towards the headers and the hellos */
                if (rng() & 1)
                    at = rng() % (n < 200 ? n : 200);
                b[at] = (rng() & 3) ? (uint8_t)rng() : (uint8_t)(b[at] ^ 0x80);
            }
            tls_parser_t *t = tls_parser_new();
            size_t oc = 0, os = 0;
            while (oc < f->c2s.len || os < f->s2c.len) {
                size_t k = 1 + rng() % 300;
                if (oc < f->c2s.len) {
                    size_t m = min_sz(k, f->c2s.len - oc);
                    feed(t, 1, c + oc, m);
                    oc += m;
                }
                if (os < f->s2c.len) {
                    size_t m = min_sz(k, f->s2c.len - os);
                    feed(t, 0, s + os, m);
                    os += m;
                }
            }
            assert_terminated(t);
            char why[128];
            (void)tls_verify_chain(t, 1700000000.0, NULL, why, sizeof why);
            tls_parser_free(t);
        }
    }
    /* pure garbage, both directions */
    for (int iter = 0; iter < 200; iter++) {
        size_t n = 1 + rng() % 4000;
        for (size_t k = 0; k < n; k++)
            c[k] = (uint8_t)rng();
        if (iter % 4 == 0) {
            c[0] = 0x16; c[1] = 3; c[2] = (uint8_t)(rng() % 5);
        }
        tls_parser_t *t = tls_parser_new();
        feed(t, iter & 1, c, n);
        assert_terminated(t);
        tls_parser_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls12_ecdhe),
        cmocka_unit_test(test_tls13),
        cmocka_unit_test(test_tls10_weak),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_rsa1024),
        cmocka_unit_test(test_hsfail),
        cmocka_unit_test(test_hrr),
        cmocka_unit_test(test_ecdsa),
        cmocka_unit_test(test_chain_verify),
        cmocka_unit_test(test_resumed),
        cmocka_unit_test(test_all_feedings_identical),
        cmocka_unit_test(test_reframing),
        cmocka_unit_test(test_ja4_published_example),
        cmocka_unit_test(test_ja4_alpn_chars),
        cmocka_unit_test(test_session_id_resumption),
        cmocka_unit_test(test_weak_negotiated_names),
        cmocka_unit_test(test_fingerprint_formatters),
        cmocka_unit_test(test_weak_offered_every_id),
        cmocka_unit_test(test_ja4_long_lists),
        cmocka_unit_test(test_sslv2_client_hello),
        cmocka_unit_test(test_sslv2_server_hello),
        cmocka_unit_test(test_cert_strings),
        cmocka_unit_test(test_record_layer_limits),
        cmocka_unit_test(test_oversized_message_skipped),
        cmocka_unit_test(test_alerts_and_encryption),
        cmocka_unit_test(test_gap_and_null),
        cmocka_unit_test(test_bad_client_hello),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
