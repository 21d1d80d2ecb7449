/*
 * test_dissect_smtptls.c — the TLS handshake inside SMTP sessions: the
 * session's TLS columns, the failed-handshake rule and its verdict, and the
 * findings of DETECTIONS.md groups E and F with their submission / relay
 * severities.
 *
 * The TLS parts are the real handshakes recorded by
 * tests/unit/data/tls/make.sh (NAME.c2s / NAME.s2c) behind a scripted
 * EHLO / STARTTLS / 220 (or from byte one on port 465), and synthetic
 * handshakes built here (cipher suites, compression, SSLv3, a chain with
 * SHA-1 signatures made with OpenSSL at run time).  Every scenario is fed
 * three ways — as scripted, with one step cut at split points, one byte per
 * call — from exact-size heap copies, and everything emitted must be the
 * same.  Packet times are around 2027-01-15 (the recorded certificates are
 * valid then) unless a scenario says otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dissect/dissect.h"
#include "dissect/smtp_int.h"
#include "dissect/tls.h"
#include "dissect/tls_int.h"
#include "tests/unit/fix_dissect.h"
#include "tests/unit/fix_tls.h"

#define TS0 1800000000.0        /* 2027-01-15T08:00:00Z */

/* ---- fixtures ------------------------------------------------------------------ */

/* Byte offset of record k of a recorded stream (its length when fewer). */
static size_t rec_off(const struct blob *b, unsigned k)
{
    size_t off = 0;

    for (unsigned i = 0; i < k && off + 5 <= b->len; i++)
        off += 5 + (((size_t)b->p[off + 3] << 8) | b->p[off + 4]);
    return off < b->len ? off : b->len;
}

static char ca_pem[512], rsa_pem[512], expired_pem[512];

static int group_setup(void **state)
{
    fx_setup(state);
    data_path(ca_pem, sizeof ca_pem, "ca.pem");
    data_path(rsa_pem, sizeof rsa_pem, "rsa.pem");
    data_path(expired_pem, sizeof expired_pem, "expired.pem");
    return 0;
}

/* ---- scripts ------------------------------------------------------------------- */

#define MAX_STEPS 48

struct scen {
    struct step st[MAX_STEPS];
    size_t n;
    uint16_t cport, sport;
    const char *ca_file;
    double ts0;
    enum mt_end_reason end;
    int no_syn;                 /* client_side unknown, no SYN */
};

static void scen_init(struct scen *sc, uint16_t sport)
{
    memset(sc, 0, sizeof *sc);
    sc->cport = 40000;
    sc->sport = sport;
    sc->ts0 = TS0;
    sc->end = MT_END_FIN;
}

static void add(struct scen *sc, int role, const void *p, size_t len)
{
    assert_true(sc->n < MAX_STEPS);
    if (len == 0)
        return;
    sc->st[sc->n].kind = ST_DATA;
    sc->st[sc->n].role = role;
    sc->st[sc->n].p = p;
    sc->st[sc->n].len = len;
    sc->n++;
}

static void adds(struct scen *sc, int role, const char *s)
{
    add(sc, role, s, strlen(s));
}

static void addgap(struct scen *sc, int role, uint64_t n)
{
    assert_true(sc->n < MAX_STEPS);
    sc->st[sc->n].kind = ST_GAP;
    sc->st[sc->n].role = role;
    sc->st[sc->n].gap = n;
    sc->n++;
}

static void addev(struct scen *sc, int role, int ev)
{
    assert_true(sc->n < MAX_STEPS);
    sc->st[sc->n].kind = ST_EVENT;
    sc->st[sc->n].role = role;
    sc->st[sc->n].ev = ev;
    sc->n++;
}

/* Greeting, EHLO with STARTTLS offered, STARTTLS, 220. */
static void starttls_prefix(struct scen *sc, const char *greeting)
{
    adds(sc, SRV, greeting ? greeting : "220 mail.example.com ESMTP\r\n");
    adds(sc, CLI, "EHLO client.example\r\n");
    adds(sc, SRV, "250-mail.example.com\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    adds(sc, CLI, "STARTTLS\r\n");
    adds(sc, SRV, "220 2.0.0 Ready to start TLS\r\n");
}

/* The recorded handshake: the whole client stream, then the server's. */
static void tls_whole(struct scen *sc, const struct fixture *f)
{
    add(sc, CLI, f->c2s.p, f->c2s.len);
    add(sc, SRV, f->s2c.p, f->s2c.len);
}

/* STARTTLS on sport with fixture name (greeting NULL: mail.example.com). */
static void starttls_fx(struct scen *sc, uint16_t sport, const char *name,
                        const char *greeting)
{
    scen_init(sc, sport);
    starttls_prefix(sc, greeting);
    tls_whole(sc, get_fx(name));
}

/* ---- recorder -------------------------------------------------------------------- */

static void on_message(void *arg, const struct mt_message *m)
{
    struct rec *r = arg;

    rec_message(r, m);
    dump_add(r, "M %u %s size=%llu exp=%d\n", m->seq, mt_method_name(m->method),
             (unsigned long long)m->size, m->content_exposed);
}

static void on_finding(void *arg, const struct mt_finding *f)
{
    struct rec *r = arg;

    assert_true(r->nf < 96);            /* no session here raises that many */
    rec_finding(r, f);
    if (strcmp(f->kind, "pipelining_order_violation") == 0)
        return;
    dump_add(r, "F %s %s ts=%.3f msg=%u [%s]\n", f->kind, mt_severity_name(f->severity),
             f->ts, f->msg_seq, f->evidence);
}

static void on_session(void *arg, const struct mt_session *s)
{
    struct rec *r = arg;

    rec_session(r, s);
    dump_add(r, "S prot=%s tls=%d ver=[%s] cipher=[%s] sni=[%s] alpn=[%s] ja3=[%s] "
             "ja4=[%s] sha=[%s] subj=[%s] iss=[%s] nb=%.0f na=%.0f sans=[%s] key=[%s/%d] "
             "sig=[%s] ss=%d res=%d hc=%d chain=%d env=%d conf=%s\n",
             mt_protection_name(s->protection), s->tls_started, s->tls_version,
             s->tls_cipher, s->tls_sni, s->tls_alpn, s->ja3, s->ja4, s->cert_sha256,
             s->cert_subject, s->cert_issuer, s->cert_not_before, s->cert_not_after,
             s->cert_sans, s->cert_key_type, s->cert_key_bits, s->cert_sig_alg,
             s->cert_self_signed, s->tls_resumed, s->tls_handshake_complete,
             s->chain_len, s->exposed_envelope, s->confidence);
    for (int i = 0; i < s->chain_len; i++)
        dump_add(r, "  C %d %s [%s] [%s]\n", i, s->chain[i].sha256, s->chain[i].subject,
                 s->chain[i].sig_alg);
}

/* ---- runner ---------------------------------------------------------------------- */

static const struct dis_sink SINK = { on_message, on_finding, on_session };

/* The shared runner's view of sc: the client on side 0. */
static struct script script_of(const struct scen *sc)
{
    struct script x;

    memset(&x, 0, sizeof x);
    x.st = sc->st;
    x.n = sc->n;
    x.cport = sc->cport;
    x.sport = sc->sport;
    x.no_syn = sc->no_syn;
    x.ts0 = sc->ts0;
    x.end = sc->end;
    x.ca_file = sc->ca_file;
    x.sink = &SINK;
    x.long_step = 200;
    return x;
}

/* mode 0 as scripted, 1 step `which` cut at `at`, 2 one byte per call. */
static void run(const struct scen *sc, int mode, size_t which, size_t at, struct rec *r)
{
    struct script x = script_of(sc);

    script_run(&x, mode, which, at, r);
}

/* Runs sc whole, split (every point of steps up to 200 bytes; of longer
 * ones the first and last 40 and ~100 between) and one byte at a time; the
 * scripted run is in out. */
static void run_all(const struct scen *sc, struct rec *out)
{
    struct script x = script_of(sc);

    script_run_all(&x, out);
}

/* ---- assertions ---------------------------------------------------------------------- */

/* None of the certificate findings (group F). */
static void no_cert_findings(const struct rec *r)
{
    hasnt(r, "cert_expired_or_not_yet_valid");
    hasnt(r, "cert_untrusted_or_self_signed");
    hasnt(r, "cert_name_mismatch");
    hasnt(r, "cert_weak_key_or_signature");
    hasnt(r, "tls_no_sni");
}

/* ---- recorded handshakes after STARTTLS ---------------------------------------------- */

/* TLS 1.2, ECDHE, self-signed RSA-2048 certificate for mail.example.com. */
static void test_tls12_starttls(void **state)
{
    struct scen sc;
    struct rec r;
    (void)state;

    starttls_fx(&sc, 587, "tls12_ecdhe", NULL);
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    assert_int_equal(r.sess.tls_started, 1);
    assert_string_equal(r.sess.tls_version, "TLSv1.2");
    assert_string_equal(r.sess.tls_cipher, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_string_equal(r.sess.tls_sni, "mail.example.com");
    assert_string_equal(r.sess.tls_alpn, "smtp");
    assert_true(is_hex(r.sess.ja3, 32));
    assert_int_equal(strncmp(r.sess.ja4, "t12d", 4), 0);
    assert_true(is_hex(r.sess.cert_sha256, 64));
    assert_string_equal(r.sess.cert_subject, "CN=mail.example.com,O=Example");
    assert_string_equal(r.sess.cert_issuer, "CN=mail.example.com,O=Example");
    assert_string_equal(r.sess.cert_sans, "mail.example.com smtp.example.com");
    assert_string_equal(r.sess.cert_key_type, "RSA");
    assert_int_equal(r.sess.cert_key_bits, 2048);
    assert_string_equal(r.sess.cert_sig_alg, "sha256WithRSAEncryption");
    assert_int_equal(r.sess.cert_self_signed, 1);
    assert_true(r.sess.cert_not_before > 1.7e9 && r.sess.cert_not_before < TS0);
    assert_true(r.sess.cert_not_after - r.sess.cert_not_before == 3650.0 * 86400.0);
    assert_int_equal(r.sess.tls_handshake_complete, 1);
    assert_int_equal(r.sess.tls_resumed, 0);
    assert_int_equal(r.sess.chain_len, 1);
    assert_string_equal(r.chain[0].sha256, r.sess.cert_sha256);
    /* submission: the self-signed certificate is high */
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    evidence(&r, "cert_untrusted_or_self_signed", "self-signed certificate");
    evidence(&r, "cert_untrusted_or_self_signed", "system trust store");
    assert_true(find(&r, "cert_untrusted_or_self_signed")->ts == TS0 + 6);
    hasnt(&r, "cert_name_mismatch");
    hasnt(&r, "cert_expired_or_not_yet_valid");
    hasnt(&r, "cert_weak_key_or_signature");
    hasnt(&r, "tls_version_weak");
    hasnt(&r, "tls_cipher_weak");
    hasnt(&r, "tls_compression");
    hasnt(&r, "tls_no_sni");
    hasnt(&r, "tls13_cert_not_observable");
    hasnt(&r, "tls_handshake_failed");
    assert_int_equal(r.nf, 1);
    rec_free(&r);

    /* relay: low */
    starttls_fx(&sc, 25, "tls12_ecdhe", NULL);
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_LOW);
    rec_free(&r);

    /* the operator trusts that certificate (--ca-file): nothing */
    sc.ca_file = rsa_pem;
    run_all(&sc, &r);
    hasnt(&r, "cert_untrusted_or_self_signed");
    assert_int_equal(r.nf, 0);
    rec_free(&r);

    /* a CA file that cannot be loaded: cannot tell, yet the leaf is
     * self-signed */
    sc.ca_file = "/nonexistent/ca.pem";
    run(&sc, 0, 0, 0, &r);
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_LOW);
    evidence(&r, "cert_untrusted_or_self_signed", "self-signed certificate");
    evidence(&r, "cert_untrusted_or_self_signed", "against the CA file");
    rec_free(&r);
}

/* The flights in the order a capture shows them give the same facts. */
static void test_flight_order(void **state)
{
    const struct fixture *f = get_fx("tls12_ecdhe");
    struct scen sc;
    struct rec a, b;
    size_t c1 = rec_off(&f->c2s, 1), c4 = rec_off(&f->c2s, 4);
    size_t s4 = rec_off(&f->s2c, 4), s7 = rec_off(&f->s2c, 7);
    (void)state;

    starttls_fx(&sc, 587, "tls12_ecdhe", NULL);
    run(&sc, 0, 0, 0, &a);
    scen_init(&sc, 587);
    starttls_prefix(&sc, NULL);
    add(&sc, CLI, f->c2s.p, c1);                        /* ClientHello */
    add(&sc, SRV, f->s2c.p, s4);                        /* ServerHello .. Done */
    add(&sc, CLI, f->c2s.p + c1, c4 - c1);              /* CKE, CCS, Finished */
    add(&sc, SRV, f->s2c.p + s4, s7 - s4);              /* ticket, CCS, Finished */
    add(&sc, CLI, f->c2s.p + c4, f->c2s.len - c4);      /* application data */
    add(&sc, SRV, f->s2c.p + s7, f->s2c.len - s7);
    run_all(&sc, &b);
    prot(&b, MT_PROT_STARTTLS);
    assert_string_equal(a.sess.tls_version, b.sess.tls_version);
    assert_string_equal(a.sess.tls_cipher, b.sess.tls_cipher);
    assert_string_equal(a.sess.ja3, b.sess.ja3);
    assert_string_equal(a.sess.ja4, b.sess.ja4);
    assert_string_equal(a.sess.cert_sha256, b.sess.cert_sha256);
    assert_int_equal(b.sess.tls_handshake_complete, 1);
    assert_int_equal(a.nf, b.nf);
    has_one(&b, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    /* the Certificate was read with the server's first flight */
    assert_true(find(&b, "cert_untrusted_or_self_signed")->ts == TS0 + 6);
    rec_free(&a);
    rec_free(&b);
}

/* TLS 1.3 (and with a HelloRetryRequest): no certificate visible. */
static void test_tls13(void **state)
{
    static const char *const names[] = { "tls13", "hrr" };
    struct scen sc;
    struct rec r;
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        starttls_fx(&sc, 25, names[i], NULL);
        run_all(&sc, &r);
        prot(&r, MT_PROT_STARTTLS);
        assert_string_equal(r.sess.tls_version, "TLSv1.3");
        assert_int_equal(strncmp(r.sess.tls_cipher, "TLS_AES_", 8), 0);
        assert_string_equal(r.sess.tls_sni, "mail.example.com");
        assert_int_equal(strncmp(r.sess.ja4, "t13d", 4), 0);
        assert_string_equal(r.sess.cert_sha256, "");
        assert_string_equal(r.sess.cert_subject, "");
        assert_true(r.sess.cert_not_after == 0);
        assert_int_equal(r.sess.chain_len, 0);
        assert_int_equal(r.sess.tls_handshake_complete, 1);
        has_one(&r, "tls13_cert_not_observable", MT_SEV_INFO);
        evidence(&r, "tls13_cert_not_observable", "certificate checks not possible");
        no_cert_findings(&r);
        hasnt(&r, "tls_version_weak");
        hasnt(&r, "tls_handshake_failed");
        assert_int_equal(r.nf, 1);
        rec_free(&r);
    }
}

/* TLS 1.0, static RSA, no SNI: the name is checked against the greeting. */
static void test_tls10_weak(void **state)
{
    struct scen sc;
    struct rec r;
    (void)state;

    starttls_fx(&sc, 587, "tls10_weak", NULL);
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    assert_string_equal(r.sess.tls_version, "TLSv1.0");
    assert_string_equal(r.sess.tls_cipher, "TLS_RSA_WITH_AES_128_CBC_SHA");
    assert_string_equal(r.sess.tls_sni, "");
    has_one(&r, "tls_version_weak", MT_SEV_HIGH);
    evidence(&r, "tls_version_weak", "TLSv1.0");
    has_one(&r, "tls_cipher_weak", MT_SEV_LOW);
    evidence(&r, "tls_cipher_weak", "TLS_RSA_WITH_AES_128_CBC_SHA: static RSA key transport");
    has_one(&r, "tls_no_sni", MT_SEV_INFO);
    hasnt(&r, "cert_name_mismatch");          /* greeting mail.example.com matches */
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    rec_free(&r);

    starttls_fx(&sc, 25, "tls10_weak", "220 mx.other.net ESMTP ready\r\n");
    run_all(&sc, &r);
    has_one(&r, "tls_version_weak", MT_SEV_MEDIUM);
    has_one(&r, "tls_cipher_weak", MT_SEV_LOW);
    has_one(&r, "cert_name_mismatch", MT_SEV_LOW);
    evidence(&r, "cert_name_mismatch", "mx.other.net not covered");
    evidence(&r, "cert_name_mismatch", "against greeting host name, low confidence");
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_LOW);
    rec_free(&r);

    /* without SNI on submission the greeting is still only low confidence */
    starttls_fx(&sc, 587, "tls10_weak", "220 mx.other.net ESMTP ready\r\n");
    run(&sc, 0, 0, 0, &r);
    has_one(&r, "cert_name_mismatch", MT_SEV_LOW);
    rec_free(&r);

    /* a greeting without a usable host name: no name check */
    starttls_fx(&sc, 587, "tls10_weak", "220 [192.0.2.1] ESMTP ready\r\n");
    run(&sc, 0, 0, 0, &r);
    hasnt(&r, "cert_name_mismatch");
    has_one(&r, "tls_no_sni", MT_SEV_INFO);
    rec_free(&r);
}

/* The expired certificate (2020-01-01 .. 2021-01-01). */
static void test_expired(void **state)
{
    struct scen sc;
    struct rec r;
    (void)state;

    starttls_fx(&sc, 587, "expired", NULL);
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    assert_string_equal(r.sess.tls_sni, "expired.example.org");
    assert_true(r.sess.cert_not_after == 1609459200.0);
    has_one(&r, "cert_expired_or_not_yet_valid", MT_SEV_HIGH);
    evidence(&r, "cert_expired_or_not_yet_valid",
             "leaf expired: not after 2021-01-01T00:00:00Z, seen 2027-01-15T08:00:06Z");
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    hasnt(&r, "cert_name_mismatch");
    rec_free(&r);

    starttls_fx(&sc, 25, "expired", NULL);
    run_all(&sc, &r);
    has_one(&r, "cert_expired_or_not_yet_valid", MT_SEV_LOW);
    rec_free(&r);

    /* trusted by the CA file: expiry is reported once, not as distrust */
    sc.ca_file = expired_pem;
    run_all(&sc, &r);
    has_one(&r, "cert_expired_or_not_yet_valid", MT_SEV_LOW);
    hasnt(&r, "cert_untrusted_or_self_signed");
    rec_free(&r);

    /* before its validity */
    sc.ts0 = 1500000000.0;
    run_all(&sc, &r);
    has_one(&r, "cert_expired_or_not_yet_valid", MT_SEV_LOW);
    evidence(&r, "cert_expired_or_not_yet_valid",
             "leaf not yet valid: not before 2020-01-01T00:00:00Z");
    hasnt(&r, "cert_untrusted_or_self_signed");
    rec_free(&r);

    /* inside it: nothing */
    sc.ts0 = 1590969600.0;
    run(&sc, 0, 0, 0, &r);
    hasnt(&r, "cert_expired_or_not_yet_valid");
    hasnt(&r, "cert_untrusted_or_self_signed");
    assert_int_equal(r.nf, 0);
    rec_free(&r);
}

/* RSA-1024, name only in the CN (no SAN). */
static void test_rsa1024(void **state)
{
    struct scen sc;
    struct rec r;
    (void)state;

    starttls_fx(&sc, 25, "rsa1024", NULL);
    run_all(&sc, &r);
    assert_int_equal(r.sess.cert_key_bits, 1024);
    assert_string_equal(r.sess.cert_sans, "");
    has_one(&r, "cert_weak_key_or_signature", MT_SEV_LOW);
    evidence(&r, "cert_weak_key_or_signature", "depth 0: RSA key of 1024 bits");
    hasnt(&r, "cert_name_mismatch");          /* SNI weak.example.net = CN */
    rec_free(&r);

    starttls_fx(&sc, 587, "rsa1024", NULL);
    run(&sc, 0, 0, 0, &r);
    has_one(&r, "cert_weak_key_or_signature", MT_SEV_LOW);
    rec_free(&r);
}

static void test_ecdsa(void **state)
{
    struct scen sc;
    struct rec r;
    (void)state;

    starttls_fx(&sc, 587, "ecdsa", NULL);
    run_all(&sc, &r);
    assert_string_equal(r.sess.cert_key_type, "EC");
    assert_int_equal(r.sess.cert_key_bits, 256);
    assert_string_equal(r.sess.cert_sig_alg, "ecdsa-with-SHA256");
    assert_int_equal(strncmp(r.sess.tls_cipher, "TLS_ECDHE_ECDSA_", 16), 0);
    hasnt(&r, "cert_weak_key_or_signature");
    hasnt(&r, "cert_name_mismatch");
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    rec_free(&r);
}

/* A leaf and its CA: trusted with the CA file, not with the system store. */
static void test_chain(void **state)
{
    struct scen sc;
    struct rec r;
    (void)state;

    starttls_fx(&sc, 587, "chain", NULL);
    sc.ca_file = ca_pem;
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    assert_int_equal(r.sess.chain_len, 2);
    assert_string_equal(r.sess.cert_subject, "CN=mx.example.org");
    assert_string_equal(r.chain[0].subject, "CN=mx.example.org");
    assert_string_equal(r.chain[1].subject, "CN=Mailtap Test CA,O=Mailtap Test");
    assert_int_equal(r.sess.cert_self_signed, 0);
    assert_int_equal(r.nf, 0);
    rec_free(&r);

    sc.ca_file = NULL;
    run_all(&sc, &r);
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    evidence(&r, "cert_untrusted_or_self_signed", "issuer CN=Mailtap Test CA");
    assert_null(strstr(find(&r, "cert_untrusted_or_self_signed")->evidence,
                       "self-signed certificate ("));  /* OpenSSL's reason, not ours */
    rec_free(&r);

    /* the greeting names another host, but the SNI decides */
    starttls_fx(&sc, 25, "chain", "220 relay.elsewhere.example ESMTP\r\n");
    sc.ca_file = ca_pem;
    run(&sc, 0, 0, 0, &r);
    assert_int_equal(r.nf, 0);
    rec_free(&r);
}

/* Session resumption: no certificate, and no certificate finding. */
static void test_resumed(void **state)
{
    struct scen sc;
    struct rec r;
    (void)state;

    starttls_fx(&sc, 587, "tls12_resumed", NULL);
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    assert_int_equal(r.sess.tls_resumed, 1);
    assert_int_equal(r.sess.tls_handshake_complete, 1);
    assert_int_equal(r.sess.chain_len, 0);
    assert_string_equal(r.sess.cert_sha256, "");
    assert_string_equal(r.sess.tls_version, "TLSv1.2");
    no_cert_findings(&r);
    assert_int_equal(r.nf, 0);
    rec_free(&r);
}

/* The SNI of the recorded hello changed to a name the certificate lacks. */
static void test_sni_mismatch(void **state)
{
    const struct fixture *f = get_fx("tls12_ecdhe");
    uint8_t *c2s = malloc(f->c2s.len);
    struct scen sc;
    struct rec r;
    size_t k;
    (void)state;

    assert_non_null(c2s);
    memcpy(c2s, f->c2s.p, f->c2s.len);
    for (k = 0; k + 16 <= f->c2s.len; k++)
        if (memcmp(c2s + k, "mail.example.com", 16) == 0)
            break;
    assert_true(k + 16 <= f->c2s.len);
    memcpy(c2s + k, "mail.example.net", 16);

    scen_init(&sc, 587);
    starttls_prefix(&sc, NULL);
    add(&sc, CLI, c2s, f->c2s.len);
    add(&sc, SRV, f->s2c.p, f->s2c.len);
    run_all(&sc, &r);
    assert_string_equal(r.sess.tls_sni, "mail.example.net");
    has_one(&r, "cert_name_mismatch", MT_SEV_HIGH);
    evidence(&r, "cert_name_mismatch",
             "SNI mail.example.net not covered by the certificate names "
             "(mail.example.com smtp.example.com)");
    rec_free(&r);

    sc.sport = 25;
    run(&sc, 0, 0, 0, &r);
    has_one(&r, "cert_name_mismatch", MT_SEV_LOW);
    assert_null(strstr(find(&r, "cert_name_mismatch")->evidence, "low confidence"));
    rec_free(&r);

    /* AUTH in cleartext makes a port-25 session a submission */
    scen_init(&sc, 25);
    adds(&sc, SRV, "220 mail.example.com ESMTP\r\n");
    adds(&sc, CLI, "EHLO client.example\r\n");
    adds(&sc, SRV, "250-mail.example.com\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n");
    adds(&sc, CLI, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
    adds(&sc, SRV, "235 ok\r\n");
    adds(&sc, CLI, "STARTTLS\r\n");
    adds(&sc, SRV, "220 go ahead\r\n");
    add(&sc, CLI, c2s, f->c2s.len);
    add(&sc, SRV, f->s2c.p, f->s2c.len);
    run(&sc, 0, 0, 0, &r);
    prot(&r, MT_PROT_PARTIAL);
    has_one(&r, "cert_name_mismatch", MT_SEV_HIGH);
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    rec_free(&r);
    free(c2s);
}

/* ---- failed handshakes ------------------------------------------------------------ */

static void test_hsfail(void **state)
{
    struct scen sc;
    struct rec r;
    (void)state;

    starttls_fx(&sc, 25, "hsfail", NULL);
    run_all(&sc, &r);
    has_one(&r, "tls_handshake_failed", MT_SEV_MEDIUM);
    evidence(&r, "tls_handshake_failed",
             "the server answered the ClientHello with a TLS alert (fatal handshake_failure)");
    assert_true(find(&r, "tls_handshake_failed")->ts == TS0 + 6);
    prot(&r, MT_PROT_CLEARTEXT);
    assert_string_equal(r.sess.tls_version, "");
    assert_string_equal(r.sess.tls_sni, "mail.example.com");    /* the hello was read */
    assert_int_equal(r.sess.tls_handshake_complete, 0);
    assert_int_equal(r.sess.tls_started, 1);
    hasnt(&r, "tls13_cert_not_observable");
    no_cert_findings(&r);
    rec_free(&r);

    /* envelope sent before STARTTLS, then a failed handshake: no TLS
     * protected anything, so cleartext (not partial); exposures stay */
    scen_init(&sc, 25);
    adds(&sc, SRV, "220 mail.example.com ESMTP\r\n");
    adds(&sc, CLI, "EHLO client.example\r\n");
    adds(&sc, SRV, "250-mail.example.com\r\n250 STARTTLS\r\n");
    adds(&sc, CLI, "MAIL FROM:<a@example.org>\r\n");
    adds(&sc, SRV, "250 ok\r\n");
    adds(&sc, CLI, "RSET\r\n");
    adds(&sc, SRV, "250 ok\r\n");
    adds(&sc, CLI, "STARTTLS\r\n");
    adds(&sc, SRV, "220 go ahead\r\n");
    tls_whole(&sc, get_fx("hsfail"));
    run_all(&sc, &r);
    prot(&r, MT_PROT_CLEARTEXT);
    assert_int_equal(r.sess.exposed_envelope, 1);
    has_one(&r, "tls_handshake_failed", MT_SEV_MEDIUM);
    has_one(&r, "plaintext_envelope_metadata", MT_SEV_MEDIUM);
    rec_free(&r);

    /* implicit TLS: the mode was TLS from byte one and nothing crossed in
     * cleartext, so it stays implicit_tls; the failure is the finding */
    scen_init(&sc, 465);
    tls_whole(&sc, get_fx("hsfail"));
    run_all(&sc, &r);
    prot(&r, MT_PROT_IMPLICIT_TLS);
    has_one(&r, "tls_handshake_failed", MT_SEV_MEDIUM);
    has_one(&r, "implicit_tls_465", MT_SEV_INFO);
    assert_int_equal(r.sess.tls_handshake_complete, 0);
    rec_free(&r);
}

/* The client refuses the certificate with a cleartext alert. */
static void test_client_alert(void **state)
{
    static const uint8_t alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x2a };
    const struct fixture *f = get_fx("tls12_ecdhe");
    struct scen sc;
    struct rec r;
    (void)state;

    scen_init(&sc, 587);
    starttls_prefix(&sc, NULL);
    add(&sc, CLI, f->c2s.p, rec_off(&f->c2s, 1));
    add(&sc, SRV, f->s2c.p, rec_off(&f->s2c, 4));
    add(&sc, CLI, alert, sizeof alert);
    run_all(&sc, &r);
    has_one(&r, "tls_handshake_failed", MT_SEV_MEDIUM);
    evidence(&r, "tls_handshake_failed",
             "the client ended the handshake with a TLS alert (fatal bad_certificate)");
    assert_true(find(&r, "tls_handshake_failed")->ts == TS0 + 7);
    prot(&r, MT_PROT_CLEARTEXT);
    assert_string_equal(r.sess.tls_version, "TLSv1.2");
    assert_int_equal(r.sess.tls_handshake_complete, 0);
    /* the certificate it refused is still examined */
    assert_int_equal(r.sess.chain_len, 1);
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    rec_free(&r);

    /* a warning alert does not end the handshake: cannot tell */
    {
        static const uint8_t warn[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x70 };

        scen_init(&sc, 587);
        starttls_prefix(&sc, NULL);
        add(&sc, CLI, f->c2s.p, rec_off(&f->c2s, 1));
        add(&sc, SRV, f->s2c.p, rec_off(&f->s2c, 4));
        add(&sc, CLI, warn, sizeof warn);
        run(&sc, 0, 0, 0, &r);
        hasnt(&r, "tls_handshake_failed");
        prot(&r, MT_PROT_STARTTLS);
        rec_free(&r);
    }
}

/* Server TLS records without a ServerHello; no server TLS at all; a gap
 * in the server's TLS stream (cannot tell). */
static void test_no_server_hello(void **state)
{
    static const uint8_t ccs[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01 };
    const struct fixture *f = get_fx("tls12_ecdhe");
    struct scen sc;
    struct rec r;
    (void)state;

    scen_init(&sc, 25);
    starttls_prefix(&sc, NULL);
    add(&sc, CLI, f->c2s.p, rec_off(&f->c2s, 1));
    add(&sc, SRV, ccs, sizeof ccs);
    sc.end = MT_END_RST;
    run_all(&sc, &r);
    has_one(&r, "tls_handshake_failed", MT_SEV_MEDIUM);
    evidence(&r, "tls_handshake_failed",
             "TLS records from the server but no ServerHello (connection end: rst)");
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);

    scen_init(&sc, 25);
    starttls_prefix(&sc, NULL);
    add(&sc, CLI, f->c2s.p, rec_off(&f->c2s, 1));
    sc.end = MT_END_RST;
    run_all(&sc, &r);
    has_one(&r, "tls_handshake_failed", MT_SEV_MEDIUM);
    evidence(&r, "tls_handshake_failed", "no TLS record from the server");
    prot(&r, MT_PROT_CLEARTEXT);
    assert_string_equal(r.sess.tls_sni, "mail.example.com");
    rec_free(&r);

    /* the server's first bytes are missing: no verdict on the handshake */
    scen_init(&sc, 25);
    starttls_prefix(&sc, NULL);
    add(&sc, CLI, f->c2s.p, f->c2s.len);
    addgap(&sc, SRV, 70);
    add(&sc, SRV, f->s2c.p + 70, f->s2c.len - 70);
    run_all(&sc, &r);
    hasnt(&r, "tls_handshake_failed");
    prot(&r, MT_PROT_STARTTLS);
    assert_string_equal(r.sess.tls_version, "");
    assert_int_equal(r.sess.chain_len, 0);
    assert_string_equal(r.sess.confidence, "low");
    rec_free(&r);

    /* a gap in the client's stream after its hello changes nothing read */
    scen_init(&sc, 587);
    starttls_prefix(&sc, NULL);
    add(&sc, CLI, f->c2s.p, rec_off(&f->c2s, 1));
    addgap(&sc, CLI, 300);
    add(&sc, SRV, f->s2c.p, f->s2c.len);
    run_all(&sc, &r);
    assert_string_equal(r.sess.tls_version, "TLSv1.2");
    assert_int_equal(r.sess.chain_len, 1);
    assert_int_equal(r.sess.tls_handshake_complete, 0);
    hasnt(&r, "tls_handshake_failed");
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    rec_free(&r);
}

/* ---- implicit TLS and mid-stream ------------------------------------------------------ */

static void test_implicit_tls(void **state)
{
    struct scen sc;
    struct rec r;
    (void)state;

    scen_init(&sc, 465);
    tls_whole(&sc, get_fx("tls12_ecdhe"));
    run_all(&sc, &r);
    prot(&r, MT_PROT_IMPLICIT_TLS);
    has_one(&r, "implicit_tls_465", MT_SEV_INFO);
    assert_string_equal(r.sess.tls_version, "TLSv1.2");
    assert_string_equal(r.sess.tls_sni, "mail.example.com");
    assert_int_equal(r.sess.chain_len, 1);
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);     /* 465: submission */
    assert_true(find(&r, "cert_untrusted_or_self_signed")->ts == TS0 + 1);
    hasnt(&r, "tls_handshake_failed");
    rec_free(&r);

    /* direction unknown (no SYN): sniffed from the hellos */
    sc.no_syn = 1;
    run_all(&sc, &r);
    prot(&r, MT_PROT_IMPLICIT_TLS);
    assert_int_equal(r.sess.client_side, 0);
    assert_string_equal(r.sess.tls_version, "TLSv1.2");
    rec_free(&r);

    scen_init(&sc, 465);
    tls_whole(&sc, get_fx("tls10_weak"));
    run_all(&sc, &r);
    prot(&r, MT_PROT_IMPLICIT_TLS);
    has_one(&r, "tls_version_weak", MT_SEV_HIGH);
    has_one(&r, "tls_no_sni", MT_SEV_INFO);
    /* no greeting in clear: the name cannot be checked */
    hasnt(&r, "cert_name_mismatch");
    rec_free(&r);

    scen_init(&sc, 465);
    tls_whole(&sc, get_fx("tls13"));
    run_all(&sc, &r);
    prot(&r, MT_PROT_IMPLICIT_TLS);
    has_one(&r, "tls13_cert_not_observable", MT_SEV_INFO);
    rec_free(&r);
}

/* Picked up inside TLS application data: nothing to learn, no failure. */
static void test_midstream_tls(void **state)
{
    const struct fixture *f = get_fx("tls12_ecdhe");
    struct scen sc;
    struct rec r;
    size_t c4 = rec_off(&f->c2s, 4), s7 = rec_off(&f->s2c, 7);
    (void)state;

    scen_init(&sc, 25);
    sc.no_syn = 1;
    addev(&sc, CLI, DIS_EV_MIDSTREAM);
    add(&sc, CLI, f->c2s.p + c4, f->c2s.len - c4);
    add(&sc, SRV, f->s2c.p + s7, f->s2c.len - s7);
    run_all(&sc, &r);
    prot(&r, MT_PROT_INDETERMINATE);
    assert_string_equal(r.sess.tls_version, "");
    assert_int_equal(r.sess.tls_handshake_complete, 1);   /* records both ways */
    hasnt(&r, "tls_handshake_failed");
    no_cert_findings(&r);
    rec_free(&r);
}

/* The reader is bounded: after SMTP_TLS_FEED_MAX bytes without a complete
 * handshake (here a one-sided stream of client records) it stops; what it
 * had read stays. */
static void test_feed_budget(void **state)
{
    const struct fixture *f = get_fx("tls12_ecdhe");
    size_t c1 = rec_off(&f->c2s, 1), n = SMTP_TLS_FEED_MAX + 4096, off = 0;
    uint8_t *app = malloc(n);
    struct scen sc;
    struct rec r;
    (void)state;

    assert_non_null(app);
    while (off + 5 + 1000 <= n) {               /* application data records */
        app[off] = 0x17;
        app[off + 1] = 0x03;
        app[off + 2] = 0x03;
        app[off + 3] = 1000 >> 8;
        app[off + 4] = 1000 & 0xff;
        memset(app + off + 5, 0xa5, 1000);
        off += 1005;
    }
    scen_init(&sc, 465);
    add(&sc, CLI, f->c2s.p, c1);
    add(&sc, CLI, app, off);
    run(&sc, 0, 0, 0, &r);
    prot(&r, MT_PROT_IMPLICIT_TLS);
    assert_string_equal(r.sess.tls_sni, "mail.example.com");
    assert_int_equal(r.sess.tls_handshake_complete, 0);
    hasnt(&r, "tls_handshake_failed");          /* the server is silent */
    rec_free(&r);

    /* a server flight after the bound is no longer read */
    add(&sc, SRV, f->s2c.p, f->s2c.len);
    run(&sc, 0, 0, 0, &r);
    assert_string_equal(r.sess.tls_version, "");
    assert_string_equal(r.sess.tls_sni, "mail.example.com");
    rec_free(&r);
    free(app);
}

/* ---- synthetic handshakes --------------------------------------------------------------- */

struct buf {
    uint8_t b[16384];
    size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->b);
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put8(struct buf *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    put(b, &x, 1);
}

static void put16(struct buf *b, unsigned v)
{
    put8(b, v >> 8);
    put8(b, v);
}

static void put24(struct buf *b, size_t v)
{
    put8(b, (unsigned)(v >> 16));
    put16(b, (unsigned)(v & 0xffffu));
}

/* Wraps body as one record of type on version 03 vv. */
static void record(struct buf *out, unsigned type, unsigned vv, const struct buf *body)
{
    put8(out, type);
    put8(out, 3);
    put8(out, vv);
    put16(out, (unsigned)body->n);
    put(out, body->b, body->n);
}

/* A ClientHello record offering suite (and NULL/DEFLATE compression),
 * with an SNI when sni is not NULL. */
static void client_hello(struct buf *out, unsigned suite, const char *sni)
{
    static struct buf hs, body, ext;
    uint8_t rnd[32];

    memset(rnd, 0x42, sizeof rnd);
    hs.n = body.n = ext.n = 0;
    put16(&body, 0x0303);
    put(&body, rnd, 32);
    put8(&body, 0);
    put16(&body, 2);
    put16(&body, suite);
    put8(&body, 2);
    put8(&body, 1);
    put8(&body, 0);
    if (sni != NULL) {
        size_t n = strlen(sni);

        put16(&ext, 0);                 /* server_name */
        put16(&ext, (unsigned)(n + 5));
        put16(&ext, (unsigned)(n + 3));
        put8(&ext, 0);
        put16(&ext, (unsigned)n);
        put(&ext, sni, n);
    }
    put16(&body, (unsigned)ext.n);
    put(&body, ext.b, ext.n);
    put8(&hs, 1);
    put24(&hs, body.n);
    put(&hs, body.b, body.n);
    record(out, 22, 1, &hs);
}

/* The server's first flight (ServerHello, Certificate when n > 0,
 * ServerHelloDone) as one record, then its CCS and an encrypted Finished. */
static void server_flight(struct buf *out, unsigned version, unsigned suite, unsigned comp,
                          struct blob *der, int n)
{
    static struct buf hs, body, fin, ccs;
    uint8_t rnd[32];
    size_t total = 0;

    memset(rnd, 0x11, sizeof rnd);
    hs.n = body.n = fin.n = ccs.n = 0;
    put16(&body, version);
    put(&body, rnd, 32);
    put8(&body, 0);
    put16(&body, suite);
    put8(&body, comp);
    put8(&hs, 2);
    put24(&hs, body.n);
    put(&hs, body.b, body.n);
    if (n > 0) {
        for (int i = 0; i < n; i++)
            total += 3 + der[i].len;
        put8(&hs, 11);
        put24(&hs, total + 3);
        put24(&hs, total);
        for (int i = 0; i < n; i++) {
            put24(&hs, der[i].len);
            put(&hs, der[i].p, der[i].len);
        }
    }
    put8(&hs, 14);
    put24(&hs, 0);
    record(out, 22, version & 0xffu, &hs);
    put8(&ccs, 1);
    record(out, 20, version & 0xffu, &ccs);
    memset(fin.b, 0x5a, 40);
    fin.n = 40;
    record(out, 22, version & 0xffu, &fin);
}

/* The client's second flight: ClientKeyExchange, CCS, encrypted Finished. */
static void client_finish(struct buf *out, unsigned vv)
{
    static struct buf hs, ccs, fin;

    hs.n = ccs.n = fin.n = 0;
    put8(&hs, 16);
    put24(&hs, 33);
    put8(&hs, 32);
    memset(hs.b + hs.n, 0x33, 32);
    hs.n += 32;
    record(out, 22, vv, &hs);
    put8(&ccs, 1);
    record(out, 20, vv, &ccs);
    memset(fin.b, 0x6b, 40);
    fin.n = 40;
    record(out, 22, vv, &fin);
}

/* STARTTLS then a synthetic TLS 1.x handshake. */
static void synthetic(struct scen *sc, uint16_t sport, struct buf *ch, struct buf *sf,
                      struct buf *cf, unsigned version, unsigned suite, unsigned comp,
                      const char *sni, struct blob *der, int n)
{
    ch->n = sf->n = cf->n = 0;
    client_hello(ch, suite, sni);
    server_flight(sf, version, suite, comp, der, n);
    client_finish(cf, version & 0xffu);
    scen_init(sc, sport);
    starttls_prefix(sc, NULL);
    add(sc, CLI, ch->b, ch->n);
    add(sc, SRV, sf->b, sf->n);
    add(sc, CLI, cf->b, cf->n);
}

/* Negotiated suites by weakness class, on submission and relay. */
static void test_synthetic_ciphers(void **state)
{
    static const struct {
        unsigned suite;
        const char *name;
        enum mt_severity sub, relay;
        const char *why;
    } cases[] = {
        { 0x0002, "TLS_RSA_WITH_NULL_SHA", MT_SEV_CRITICAL, MT_SEV_CRITICAL,
          "no encryption (NULL), static RSA key transport" },
        { 0x0005, "TLS_RSA_WITH_RC4_128_SHA", MT_SEV_HIGH, MT_SEV_MEDIUM, "RC4" },
        { 0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", MT_SEV_HIGH, MT_SEV_MEDIUM,
          "export grade, RC4" },
        { 0x0009, "TLS_RSA_WITH_DES_CBC_SHA", MT_SEV_HIGH, MT_SEV_MEDIUM, "single DES" },
        { 0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA", MT_SEV_HIGH, MT_SEV_MEDIUM,
          "anonymous key exchange" },
        { 0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", MT_SEV_LOW, MT_SEV_LOW, "3DES" },
        { 0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", MT_SEV_LOW, MT_SEV_LOW,
          "3DES, static RSA key transport" },
        { 0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", MT_SEV_INFO, MT_SEV_INFO, NULL },
    };
    static struct buf ch, sf, cf;
    struct scen sc;
    struct rec r;
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int relay = 0; relay < 2; relay++) {
            synthetic(&sc, relay ? 25 : 587, &ch, &sf, &cf, 0x0303, cases[i].suite, 0,
                      "mail.example.com", NULL, 0);
            if (i == 0 && relay == 0)
                run_all(&sc, &r);
            else
                run(&sc, 0, 0, 0, &r);
            prot(&r, MT_PROT_STARTTLS);
            assert_int_equal(r.sess.tls_handshake_complete, 1);
            assert_int_equal(r.sess.tls_resumed, 0);
            assert_string_equal(r.sess.tls_cipher, cases[i].name);
            if (cases[i].why == NULL) {
                hasnt(&r, "tls_cipher_weak");
            } else {
                has_one(&r, "tls_cipher_weak", relay ? cases[i].relay : cases[i].sub);
                evidence(&r, "tls_cipher_weak", cases[i].why);
            }
            /* no certificate in these handshakes (anonymous style) */
            no_cert_findings(&r);
            hasnt(&r, "tls_version_weak");
            rec_free(&r);
        }
    }
}

/* SSLv3 and TLS 1.1 versions; TLS compression. */
static void test_synthetic_version_compression(void **state)
{
    static struct buf ch, sf, cf;
    struct scen sc;
    struct rec r;
    (void)state;

    synthetic(&sc, 587, &ch, &sf, &cf, 0x0300, 0x002f, 0, "mail.example.com", NULL, 0);
    run_all(&sc, &r);
    assert_string_equal(r.sess.tls_version, "SSLv3");
    has_one(&r, "tls_version_weak", MT_SEV_HIGH);
    evidence(&r, "tls_version_weak", "ServerHello negotiated SSLv3 (submission");
    rec_free(&r);

    synthetic(&sc, 25, &ch, &sf, &cf, 0x0302, 0xc02f, 0, "mail.example.com", NULL, 0);
    run(&sc, 0, 0, 0, &r);
    assert_string_equal(r.sess.tls_version, "TLSv1.1");
    has_one(&r, "tls_version_weak", MT_SEV_MEDIUM);
    hasnt(&r, "tls_compression");
    rec_free(&r);

    synthetic(&sc, 25, &ch, &sf, &cf, 0x0303, 0xc02f, 1, "mail.example.com", NULL, 0);
    run_all(&sc, &r);
    has_one(&r, "tls_compression", MT_SEV_LOW);
    evidence(&r, "tls_compression", "compression method 1 (DEFLATE)");
    hasnt(&r, "tls_version_weak");
    rec_free(&r);
}

/* ---- certificates made here ---------------------------------------------------------- */

static EVP_PKEY *ec_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    return k;
}

/* A certificate for cn (SAN san when not NULL) with key, signed by
 * issuer/ikey (self-signed when issuer is NULL) with md. */
static X509 *make_cert(const char *cn, const char *san, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *ikey, const EVP_MD *md, int ca)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_NAME *n;
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(TS0 - 86400 * 30)));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(TS0 + 86400 * 365)));
    n = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                                (const unsigned char *)cn, -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n), 1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                            ca ? "critical,CA:TRUE" : "CA:FALSE");
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
    if (san != NULL) {
        e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer ? ikey : key, md) > 0);
    return x;
}

static struct blob der_of(X509 *x)
{
    struct blob b = { NULL, 0 };
    int n = i2d_X509(x, &b.p);

    assert_true(n > 0);
    b.len = (size_t)n;
    return b;
}

/* A three-certificate chain; which certificates are signed with SHA-1:
 * bit 0 the leaf, bit 1 the intermediate, bit 2 the root (self). */
static void sha1_chain(struct blob der[3], unsigned sha1, char *root_pem_path, size_t pathsz)
{
    EVP_PKEY *kr = ec_key(), *ki = ec_key(), *kl = ec_key();
    X509 *root = make_cert("Test Root", NULL, kr, NULL, NULL,
                           (sha1 & 4) ? EVP_sha1() : EVP_sha256(), 1);
    X509 *inter = make_cert("Test Intermediate", NULL, ki, root, kr,
                            (sha1 & 2) ? EVP_sha1() : EVP_sha256(), 1);
    X509 *leaf = make_cert("mx.example.com", "DNS:*.example.com", kl, inter, ki,
                           (sha1 & 1) ? EVP_sha1() : EVP_sha256(), 0);

    der[0] = der_of(leaf);
    der[1] = der_of(inter);
    der[2] = der_of(root);
    if (root_pem_path != NULL) {
        FILE *fp;
        int fd;

        snprintf(root_pem_path, pathsz, "/tmp/mt_smtptls_root_XXXXXX");
        fd = mkstemp(root_pem_path);
        assert_true(fd >= 0);
        fp = fdopen(fd, "w");
        assert_non_null(fp);
        assert_int_equal(PEM_write_X509(fp, root), 1);
        fclose(fp);
    }
    X509_free(leaf);
    X509_free(inter);
    X509_free(root);
    EVP_PKEY_free(kl);
    EVP_PKEY_free(ki);
    EVP_PKEY_free(kr);
}

static void free_ders(struct blob *der, int n)
{
    for (int i = 0; i < n; i++)
        OPENSSL_free(der[i].p);
}

/* SHA-1 signatures: the leaf's or an intermediate's count, the root's own
 * does not.  The wildcard SAN covers exactly one label. */
static void test_synthetic_chain(void **state)
{
    static struct buf ch, sf, cf;
    struct blob der[3];
    char root[64];
    struct scen sc;
    struct rec r;
    (void)state;

    sha1_chain(der, 1 | 4, root, sizeof root);
    synthetic(&sc, 25, &ch, &sf, &cf, 0x0303, 0xc02b, 0, "smtp.example.com", der, 3);
    sc.ca_file = root;
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    assert_int_equal(r.sess.chain_len, 3);
    assert_string_equal(r.sess.cert_sans, "*.example.com");
    assert_string_equal(r.sess.cert_sig_alg, "ecdsa-with-SHA1");
    has_one(&r, "cert_weak_key_or_signature", MT_SEV_LOW);
    evidence(&r, "cert_weak_key_or_signature", "depth 0: signed with ecdsa-with-SHA1");
    hasnt(&r, "cert_name_mismatch");
    hasnt(&r, "cert_untrusted_or_self_signed");   /* the root is in the CA file */
    hasnt(&r, "cert_expired_or_not_yet_valid");
    rec_free(&r);
    unlink(root);
    free_ders(der, 3);

    sha1_chain(der, 2, NULL, 0);
    synthetic(&sc, 587, &ch, &sf, &cf, 0x0303, 0xc02b, 0, "smtp.example.com", der, 3);
    run(&sc, 0, 0, 0, &r);
    has_one(&r, "cert_weak_key_or_signature", MT_SEV_LOW);
    evidence(&r, "cert_weak_key_or_signature", "depth 1: signed with ecdsa-with-SHA1");
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);     /* system store */
    free_ders(der, 3);
    rec_free(&r);

    /* only the root's self-signature uses SHA-1: nothing */
    sha1_chain(der, 4, NULL, 0);
    synthetic(&sc, 587, &ch, &sf, &cf, 0x0303, 0xc02b, 0, "a.example.com", der, 3);
    run(&sc, 0, 0, 0, &r);
    hasnt(&r, "cert_weak_key_or_signature");
    hasnt(&r, "cert_name_mismatch");
    rec_free(&r);

    /* the wildcard does not cover two labels, nor the bare domain */
    synthetic(&sc, 587, &ch, &sf, &cf, 0x0303, 0xc02b, 0, "a.b.example.com", der, 3);
    run(&sc, 0, 0, 0, &r);
    has_one(&r, "cert_name_mismatch", MT_SEV_HIGH);
    evidence(&r, "cert_name_mismatch", "SNI a.b.example.com not covered");
    rec_free(&r);
    synthetic(&sc, 25, &ch, &sf, &cf, 0x0303, 0xc02b, 0, "example.com", der, 3);
    run(&sc, 0, 0, 0, &r);
    has_one(&r, "cert_name_mismatch", MT_SEV_LOW);
    rec_free(&r);

    /* no SNI and a greeting the wildcard covers */
    synthetic(&sc, 25, &ch, &sf, &cf, 0x0303, 0xc02b, 0, NULL, der, 3);
    run(&sc, 0, 0, 0, &r);
    has_one(&r, "tls_no_sni", MT_SEV_INFO);
    hasnt(&r, "cert_name_mismatch");
    rec_free(&r);
    free_ders(der, 3);
}

/* An SSLv2 CLIENT-HELLO answered by an SSLv2 SERVER-HELLO carrying the
 * certificate of rsa.pem. */
static void test_sslv2(void **state)
{
    static struct buf ch, sh;
    static const uint8_t spec[3] = { 0x01, 0x00, 0x80 };   /* RC4_128_WITH_MD5 */
    uint8_t challenge[16], connid[16];
    struct blob der = { NULL, 0 };
    struct scen sc;
    struct rec r;
    FILE *fp = fopen(rsa_pem, "r");
    X509 *x;
    size_t body;
    (void)state;

    assert_non_null(fp);
    x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    der = der_of(x);
    X509_free(x);
    memset(challenge, 0x21, sizeof challenge);
    memset(connid, 0x22, sizeof connid);
    ch.n = sh.n = 0;
    body = 9 + sizeof spec + sizeof challenge;
    put8(&ch, 0x80u | (unsigned)(body >> 8));
    put8(&ch, (unsigned)(body & 0xffu));
    put8(&ch, 1);
    put16(&ch, 0x0002);
    put16(&ch, sizeof spec);
    put16(&ch, 0);
    put16(&ch, sizeof challenge);
    put(&ch, spec, sizeof spec);
    put(&ch, challenge, sizeof challenge);
    body = 11 + der.len + sizeof spec + sizeof connid;
    put8(&sh, 0x80u | (unsigned)(body >> 8));
    put8(&sh, (unsigned)(body & 0xffu));
    put8(&sh, 4);
    put8(&sh, 0);
    put8(&sh, 1);
    put16(&sh, 0x0002);
    put16(&sh, (unsigned)der.len);
    put16(&sh, sizeof spec);
    put16(&sh, sizeof connid);
    put(&sh, der.p, der.len);
    put(&sh, spec, sizeof spec);
    put(&sh, connid, sizeof connid);

    scen_init(&sc, 465);
    add(&sc, CLI, ch.b, ch.n);
    add(&sc, SRV, sh.b, sh.n);
    run_all(&sc, &r);
    prot(&r, MT_PROT_IMPLICIT_TLS);
    assert_string_equal(r.sess.tls_version, "SSLv2");
    assert_int_equal(r.sess.chain_len, 1);
    assert_string_equal(r.sess.cert_subject, "CN=mail.example.com,O=Example");
    has_one(&r, "tls_version_weak", MT_SEV_HIGH);
    evidence(&r, "tls_version_weak", "SSLv2");
    has_one(&r, "tls_no_sni", MT_SEV_INFO);
    has_one(&r, "cert_untrusted_or_self_signed", MT_SEV_HIGH);
    hasnt(&r, "tls_handshake_failed");
    hasnt(&r, "plaintext_on_implicit_tls_port");
    rec_free(&r);

    scen_init(&sc, 25);
    starttls_prefix(&sc, "220 mx.other.net ESMTP\r\n");
    add(&sc, CLI, ch.b, ch.n);
    add(&sc, SRV, sh.b, sh.n);
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    has_one(&r, "tls_version_weak", MT_SEV_MEDIUM);
    has_one(&r, "cert_name_mismatch", MT_SEV_LOW);
    hasnt(&r, "tls_handshake_failed");
    rec_free(&r);
    OPENSSL_free(der.p);
}

/* ---- the name matcher ------------------------------------------------------------ */

static void test_name_matcher(void **state)
{
    static const struct {
        const char *sans, *subject, *ref;
        int want;
    } cases[] = {
        { "mail.example.com smtp.example.com", "", "smtp.example.com", 1 },
        { "mail.example.com smtp.example.com", "", "SMTP.Example.COM", 1 },
        { "mail.example.com", "", "mail.example.com.", 1 },
        { "mail.example.com.", "", "mail.example.com", 1 },
        { "mail.example.com", "", "mail.example.co", 0 },
        { "mail.example.com", "", "xmail.example.com", 0 },
        { "*.example.com", "", "mx.example.com", 1 },
        { "*.example.com", "", "MX.EXAMPLE.COM", 1 },
        { "*.example.com", "", "a.b.example.com", 0 },
        { "*.example.com", "", "example.com", 0 },
        { "*.example.com", "", ".example.com", 0 },
        { "*.com", "", "example.com", 0 },
        { "m*.example.com", "", "mx.example.com", 0 },
        { "*x.example.com", "", "mx.example.com", 0 },
        { "mx.*.com", "", "mx.example.com", 0 },
        { "*.*.example.com", "", "a.b.example.com", 0 },
        { "*", "", "localhost", 0 },
        /* the CN counts only when there is no DNS SAN */
        { "", "CN=mx.example.org,O=Example", "mx.example.org", 1 },
        { "", "O=Example,CN=mx.example.org", "mx.example.org", 1 },
        { "", "CN=mx.example.org+OU=x,O=Example", "mx.example.org", 1 },
        { "", "CN=mx.example.org,O=Example", "other.example.org", 0 },
        { "other.example.org", "CN=mx.example.org", "mx.example.org", 0 },
        { "", "O=CN=mx.example.org", "mx.example.org", 0 },
        { "", "O=Example", "mx.example.org", 0 },
        { "", "", "mx.example.org", 0 },
        /* a list cut by the reader: cannot tell unless a kept name matches */
        { "a.example.org b.example.org ...", "", "z.example.org", -1 },
        { "a.example.org b.example.org ...", "", "b.example.org", 1 },
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = smtp_cert_name_match(cases[i].sans, cases[i].subject, cases[i].ref);

        if (got != cases[i].want)
            fail_msg("case %zu: [%s] [%s] vs %s: got %d, want %d", i, cases[i].sans,
                     cases[i].subject, cases[i].ref, got, cases[i].want);
    }
}

/* Hostile TLS-looking bytes after STARTTLS: nothing breaks, nothing is
 * claimed that was not seen. */
static void test_garbage_after_220(void **state)
{
    static const uint8_t junk[] = {
        0x16, 0x03, 0x01, 0x00, 0x10, 0x01, 0x00, 0x00, 0x0c, 0x03, 0x03, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    };
    static const uint8_t srvjunk[] = {
        0x16, 0x03, 0x03, 0x00, 0x08, 0x02, 0x00, 0x00, 0x40, 0x03, 0x03, 0x00, 0x00,
    };
    struct scen sc;
    struct rec r;
    (void)state;

    scen_init(&sc, 587);
    starttls_prefix(&sc, NULL);
    add(&sc, CLI, junk, sizeof junk);
    add(&sc, SRV, srvjunk, sizeof srvjunk);
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);                 /* a ServerHello was sent */
    hasnt(&r, "tls_handshake_failed");
    assert_string_equal(r.sess.tls_version, "");
    assert_string_equal(r.sess.tls_sni, "");
    rec_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls12_starttls),
        cmocka_unit_test(test_flight_order),
        cmocka_unit_test(test_tls13),
        cmocka_unit_test(test_tls10_weak),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_rsa1024),
        cmocka_unit_test(test_ecdsa),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_resumed),
        cmocka_unit_test(test_sni_mismatch),
        cmocka_unit_test(test_hsfail),
        cmocka_unit_test(test_client_alert),
        cmocka_unit_test(test_no_server_hello),
        cmocka_unit_test(test_implicit_tls),
        cmocka_unit_test(test_midstream_tls),
        cmocka_unit_test(test_feed_budget),
        cmocka_unit_test(test_synthetic_ciphers),
        cmocka_unit_test(test_synthetic_version_compression),
        cmocka_unit_test(test_synthetic_chain),
        cmocka_unit_test(test_sslv2),
        cmocka_unit_test(test_name_matcher),
        cmocka_unit_test(test_garbage_after_220),
    };
    return cmocka_run_group_tests(tests, group_setup, fx_teardown);
}
