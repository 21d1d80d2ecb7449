/* test_dissect_sasl.c — SASL helpers (dissect/sasl.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "config.h"
#include "dissect/sasl.h"

/* ---- helpers -------------------------------------------------------------- */

struct result {
    enum sasl_secret secret;
    char user[MT_STR];
};

/* Runs sasl_examine on an exact-size heap copy of msg[0..len) (so ASan
 * catches any over-read); user starts as "UNTOUCHED". */
static struct result examine(enum sasl_mech m, int step, int login_step,
                             const void *msg, size_t len)
{
    struct result r;
    uint8_t *p = malloc(len ? len : 1);

    assert_non_null(p);
    memcpy(p, msg, len);
    strcpy(r.user, "UNTOUCHED");
    r.secret = sasl_examine(m, step, login_step, p, len, r.user, sizeof r.user);
    free(p);
    return r;
}

/* Base64-encodes msg with OpenSSL, decodes it with sasl_b64_decode into an
 * exact-size buffer and examines it: the path smtp.c takes. */
static struct result examine_b64(enum sasl_mech m, int login_step,
                                 const void *msg, size_t len)
{
    unsigned char enc[4096];
    uint8_t *dec = malloc(len ? len : 1);
    size_t outlen = 99;
    int n = EVP_EncodeBlock(enc, msg, (int)len);
    struct result r;

    assert_non_null(dec);
    assert_true(n >= 0);
    assert_int_equal(sasl_b64_decode(enc, (size_t)n, dec, len, &outlen), 0);
    assert_int_equal(outlen, len);
    assert_memory_equal(dec, msg, len);
    strcpy(r.user, "UNTOUCHED");
    r.secret = sasl_examine(m, 0, login_step, dec, outlen, r.user, sizeof r.user);
    free(dec);
    return r;
}

static void assert_no_secret(const char *user, const char *secret)
{
    assert_null(strstr(user, secret));
}

/* One sasl_examine case on a literal and what it must yield: the secret
 * (ANY: not checked), user (NULL: not checked), and a part of the secret
 * that must not be in user (NULL: none). */
struct exam {
    enum sasl_mech m;
    int step, login_step;
    const char *msg;
    size_t len;
    int secret;
    const char *user;
    const char *hidden;
};

#define ANY (-1)
#define EX(m, step, ls, lit, secret, user, hidden) \
    { m, step, ls, lit, sizeof(lit) - 1, secret, user, hidden }

static void check_exams(const struct exam *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct result r = examine(t[i].m, t[i].step, t[i].login_step, t[i].msg, t[i].len);

        if ((t[i].secret != ANY && (int)r.secret != t[i].secret) ||
            (t[i].user && strcmp(r.user, t[i].user) != 0))
            print_error("case %zu\n", i);
        if (t[i].secret != ANY)
            assert_int_equal(r.secret, t[i].secret);
        if (t[i].user)
            assert_string_equal(r.user, t[i].user);
        if (t[i].hidden)
            assert_no_secret(r.user, t[i].hidden);
    }
}

#define CHECK_EXAMS(t) check_exams(t, sizeof t / sizeof t[0])

/* ---- mechanism names ------------------------------------------------------ */

static void test_mech_parse(void **st)
{
    static const struct { const char *s; enum sasl_mech m; } t[] = {
        { "PLAIN", SASL_PLAIN }, { "plain", SASL_PLAIN }, { "Login", SASL_LOGIN },
        { "CRAM-MD5", SASL_CRAM_MD5 }, { "cram-md5", SASL_CRAM_MD5 },
        { "DIGEST-MD5", SASL_DIGEST_MD5 }, { "NTLM", SASL_NTLM },
        { "XOAUTH2", SASL_XOAUTH2 }, { "oauthbearer", SASL_OAUTHBEARER },
        { "SCRAM-SHA-1", SASL_SCRAM }, { "scram-sha-256-plus", SASL_SCRAM },
        { "GSSAPI", SASL_GSSAPI }, { "EXTERNAL", SASL_EXTERNAL },
        { "ANONYMOUS", SASL_ANONYMOUS },
        { "SCRAM-", SASL_UNKNOWN }, { "SCRAM", SASL_UNKNOWN },
        { "PLAINX", SASL_UNKNOWN }, { "PLAI", SASL_UNKNOWN }, { "", SASL_UNKNOWN },
        { "XOAUTH", SASL_UNKNOWN },
    };
    (void)st;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_int_equal(sasl_mech_parse((const uint8_t *)t[i].s, strlen(t[i].s)), t[i].m);
    assert_int_equal(sasl_mech_parse(NULL, 0), SASL_UNKNOWN);
    /* embedded NUL is not a match */
    assert_int_equal(sasl_mech_parse((const uint8_t *)"PLAIN\0", 6), SASL_UNKNOWN);
}

static void test_mech_name(void **st)
{
    (void)st;
    assert_string_equal(sasl_mech_name(SASL_PLAIN), "PLAIN");
    assert_string_equal(sasl_mech_name(SASL_CRAM_MD5), "CRAM-MD5");
    assert_string_equal(sasl_mech_name(SASL_SCRAM), "SCRAM");
    assert_string_equal(sasl_mech_name(SASL_UNKNOWN), "UNKNOWN");
    assert_string_equal(sasl_mech_name((enum sasl_mech)99), "UNKNOWN");
    /* round trip for every known mechanism */
    for (int m = SASL_PLAIN; m <= SASL_ANONYMOUS; m++) {
        const char *n = sasl_mech_name((enum sasl_mech)m);
        if (m == SASL_SCRAM)
            continue;
        assert_int_equal(sasl_mech_parse((const uint8_t *)n, strlen(n)), m);
    }
}

/* ---- base64 ------------------------------------------------------------------ */

static int b64(const char *in, uint8_t *out, size_t outsz, size_t *outlen)
{
    size_t n = strlen(in);
    uint8_t *p = malloc(n ? n : 1);
    int r;

    assert_non_null(p);
    memcpy(p, in, n);
    r = sasl_b64_decode(p, n, out, outsz, outlen);
    free(p);
    return r;
}

static void test_b64_valid(void **st)
{
    uint8_t out[64];
    size_t n = 99;
    (void)st;
    assert_int_equal(b64("AHVzZXIAcGFzcw==", out, sizeof out, &n), 0);
    assert_int_equal(n, 10);
    assert_memory_equal(out, "\0user\0pass", 10);
    assert_int_equal(b64("QUJD", out, sizeof out, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(b64("QUI=", out, sizeof out, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(b64("QQ==", out, sizeof out, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 'A');
    n = 99;
    assert_int_equal(b64("=", out, sizeof out, &n), 0);     /* RFC 4954 */
    assert_int_equal(n, 0);
    n = 99;
    assert_int_equal(b64("", out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    n = 99;
    assert_int_equal(sasl_b64_decode((const uint8_t *)"=", 1, NULL, 0, &n), 0);
    assert_int_equal(n, 0);
}

static void test_b64_invalid(void **st)
{
    static const char *bad[] = {
        "QQ", "QQ=", "QUJ", "QQ=A", "Q===", "====", "=QQ=", "QU=D",
        "QUJD RA==", "QUJD\r\n", " QUJD", "QUJD\n", "QU*D", "QUJD====",
        "QUJDRA=", "QUJD-A==", "QUJD_A==", "Q\0JD",
    };
    uint8_t out[64];
    size_t n;
    (void)st;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 99;
        assert_int_equal(b64(bad[i], out, sizeof out, &n), -1);
        assert_int_equal(n, 0);
    }
    /* embedded NUL with explicit length */
    assert_int_equal(sasl_b64_decode((const uint8_t *)"Q\0JD", 4, out, sizeof out, &n), -1);
    assert_int_equal(sasl_b64_decode((const uint8_t *)"QUJD", 4, out, sizeof out, NULL), -1);
}

static void test_b64_sizes(void **st)
{
    uint8_t out[8];
    size_t n;
    (void)st;
    /* out needs room for the real length only */
    assert_int_equal(b64("QQ==", out, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(b64("QQ==", out, 0, &n), -1);
    assert_int_equal(b64("QUJDRA==", out, 4, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "ABCD", 4);
    assert_int_equal(b64("QUJDRA==", out, 3, &n), -1);
    assert_int_equal(b64("QUJDREVG", out, 6, &n), 0);
    assert_int_equal(b64("QUJDREVG", out, 5, &n), -1);
}

/* Round trip of every length 0..80 against OpenSSL's encoder, decoding
 * into exact-size heap buffers. */
static void test_b64_roundtrip(void **st)
{
    uint8_t data[80];
    unsigned char enc[128];
    (void)st;
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof data; len++) {
        int e = EVP_EncodeBlock(enc, data, (int)len);
        uint8_t *in = malloc((size_t)e + 1), *out = malloc(len ? len : 1);
        size_t n = 99;

        assert_non_null(in);
        assert_non_null(out);
        memcpy(in, enc, (size_t)e);
        assert_int_equal(sasl_b64_decode(in, (size_t)e, out, len, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(out, data, len);
        free(in);
        free(out);
    }
}

/* ---- mechanisms ------------------------------------------------------------ */

static void test_plain(void **st)
{
    static const struct exam t[] = {
        EX(SASL_PLAIN, 0, 0, "\0bob\0hunter2", SASL_SECRET_PASSWORD, "bob", "hunter2"),
        /* password missing, empty password, empty authcid */
        EX(SASL_PLAIN, 1, 0, "\0carol", SASL_SECRET_NONE, "carol", NULL),
        EX(SASL_PLAIN, 1, 0, "\0dave\0", SASL_SECRET_NONE, "dave", NULL),
        EX(SASL_PLAIN, 0, 0, "\0\0pw", SASL_SECRET_PASSWORD, "UNTOUCHED", NULL),
        EX(SASL_PLAIN, 0, 0, "nonulatall", SASL_SECRET_NONE, "UNTOUCHED", NULL),
        EX(SASL_PLAIN, 0, 0, "", SASL_SECRET_NONE, "UNTOUCHED", NULL),      /* "=" decoded */
        /* the username is escaped: terminal escapes cannot get through */
        EX(SASL_PLAIN, 0, 0, "\0\x1b[2Jevil\\u\0pw", ANY, "\\x1b[2Jevil\\\\u", NULL),
    };
    struct result r;
    (void)st;
    r = examine_b64(SASL_PLAIN, 0, "admin\0alice\0s3cretpw", 20);
    assert_int_equal(r.secret, SASL_SECRET_PASSWORD);
    assert_string_equal(r.user, "alice");
    assert_no_secret(r.user, "s3cret");
    assert_no_secret(r.user, "admin");
    CHECK_EXAMS(t);
}

static void test_login(void **st)
{
    static const struct exam t[] = {
        /* initial response, first 334 answer, password step */
        EX(SASL_LOGIN, 0, 0, "alice@example.org", SASL_SECRET_NONE, "alice@example.org", NULL),
        EX(SASL_LOGIN, 1, 0, "bob", SASL_SECRET_NONE, "bob", NULL),
        EX(SASL_LOGIN, 2, 1, "Passw0rd!", SASL_SECRET_PASSWORD, "UNTOUCHED", NULL),
        EX(SASL_LOGIN, 2, 1, "", SASL_SECRET_NONE, NULL, NULL),
    };
    (void)st;
    CHECK_EXAMS(t);
}

static void test_cram_md5(void **st)
{
    static const struct exam t[] = {
        EX(SASL_CRAM_MD5, 1, 0, "tim b913a602c7eda7a495b4e6e7334d3890", SASL_SECRET_CHALLENGE,
           "tim", "b913a6"),
        EX(SASL_CRAM_MD5, 1, 0, "john smith 0123456789abcdef0123456789abcdef",
           SASL_SECRET_CHALLENGE, "john smith", NULL),
        EX(SASL_CRAM_MD5, 1, 0, "nospace", SASL_SECRET_NONE, "UNTOUCHED", NULL),
        EX(SASL_CRAM_MD5, 1, 0, "trailing ", SASL_SECRET_NONE, NULL, NULL),
    };
    (void)st;
    CHECK_EXAMS(t);
}

static void test_xoauth2(void **st)
{
    static const char msg[] =
        "user=someuser@example.com\x01"
        "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01";
    static const struct exam t[] = {
        EX(SASL_XOAUTH2, 0, 0, "user=x@y\x01\x01", SASL_SECRET_NONE, "x@y", NULL), /* no token */
        /* no user, no \x01 */
        EX(SASL_XOAUTH2, 0, 0, "auth=Bearer tok", SASL_SECRET_TOKEN, "UNTOUCHED", NULL),
    };
    struct result r;
    (void)st;
    r = examine_b64(SASL_XOAUTH2, 0, msg, sizeof msg - 1);
    assert_int_equal(r.secret, SASL_SECRET_TOKEN);
    assert_string_equal(r.user, "someuser@example.com");
    assert_no_secret(r.user, "ya29");
    assert_no_secret(r.user, "Bearer");
    CHECK_EXAMS(t);
}

static void test_oauthbearer(void **st)
{
    static const char msg[] =
        "n,a=user@example.com,\x01host=server.example.com\x01port=587\x01"
        "auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==\x01\x01";
    static const struct exam t[] = {
        EX(SASL_OAUTHBEARER, 0, 0, "n,a=a=2Cb=3Dc,\x01" "auth=Bearer T\x01\x01",
           SASL_SECRET_TOKEN, "a,b=c", NULL),
        EX(SASL_OAUTHBEARER, 0, 0, "n,,\x01" "auth=Bearer T\x01\x01", SASL_SECRET_TOKEN,
           "UNTOUCHED", NULL),
        EX(SASL_OAUTHBEARER, 1, 0, "\x01", SASL_SECRET_NONE, NULL, NULL),   /* error ack */
    };
    struct result r;
    (void)st;
    r = examine_b64(SASL_OAUTHBEARER, 0, msg, sizeof msg - 1);
    assert_int_equal(r.secret, SASL_SECRET_TOKEN);
    assert_string_equal(r.user, "user@example.com");
    assert_no_secret(r.user, "vF9dft");
    CHECK_EXAMS(t);
}

static void test_scram(void **st)
{
    static const struct exam t[] = {
        EX(SASL_SCRAM, 0, 0, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", SASL_SECRET_NONE, "user",
           NULL),
        EX(SASL_SCRAM, 0, 0, "y,a=admin,n=jo=2Ce,r=abc", SASL_SECRET_NONE, "jo,e", NULL),
        EX(SASL_SCRAM, 0, 0, "p=tls-unique,,n=bob,r=x", ANY, "bob", NULL),
        EX(SASL_SCRAM, 1, 0,
           "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
           "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_SECRET_CHALLENGE, "UNTOUCHED", NULL),
        EX(SASL_SCRAM, 0, 0, "garbage", SASL_SECRET_NONE, "UNTOUCHED", NULL),
    };
    (void)st;
    CHECK_EXAMS(t);
}

static void test_digest_md5(void **st)
{
    static const struct exam t[] = {
        EX(SASL_DIGEST_MD5, 1, 0,
           "charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\","
           "nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\","
           "digest-uri=\"imap/elwood.innosoft.com\","
           "response=d388dad90d4bbd760a152321f2143af7,qop=auth",
           SASL_SECRET_CHALLENGE, "chris", "d388dad9"),
        EX(SASL_DIGEST_MD5, 1, 0, "username=\"a\\\"b, c\",response=00", SASL_SECRET_CHALLENGE,
           "a\"b, c", NULL),
        EX(SASL_DIGEST_MD5, 1, 0, " Username = tok ,response=00", ANY, "tok ", NULL),
        EX(SASL_DIGEST_MD5, 1, 0, "username=\"unterminated", SASL_SECRET_CHALLENGE,
           "unterminated", NULL),
        EX(SASL_DIGEST_MD5, 1, 0, "=,,=\"\\", SASL_SECRET_NONE, NULL, NULL),
    };
    (void)st;
    CHECK_EXAMS(t);
}

static void test_external_anonymous_gssapi(void **st)
{
    static const struct exam t[] = {
        EX(SASL_EXTERNAL, 0, 0, "postmaster", SASL_SECRET_NONE, "postmaster", NULL),
        EX(SASL_EXTERNAL, 0, 0, "", SASL_SECRET_NONE, "UNTOUCHED", NULL),     /* "=" */
        EX(SASL_ANONYMOUS, 0, 0, "trace@example.org", SASL_SECRET_NONE, "UNTOUCHED", NULL),
        EX(SASL_GSSAPI, 0, 0, "\x60\x82\x02\x00", SASL_SECRET_NONE, "UNTOUCHED", NULL),
        EX(SASL_UNKNOWN, 0, 0, "\0u\0p", SASL_SECRET_NONE, "UNTOUCHED", NULL),
    };
    (void)st;
    CHECK_EXAMS(t);
}

/* ---- NTLM -------------------------------------------------------------------- */

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

/* Appends an ASCII string as UTF-16LE (unicode) or as is. */
static size_t enc_name(uint8_t *out, const char *s, int unicode)
{
    size_t n = strlen(s);
    if (!unicode) {
        memcpy(out, s, n);
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (uint8_t)s[i];
        out[2 * i + 1] = 0;
    }
    return 2 * n;
}

/* Builds an NTLMSSP AUTHENTICATE (type 3) message: 64-byte header, then
 * LM response, NT response, domain, user, workstation.  dom/usr are raw
 * field bytes.  Returns the length. */
static size_t ntlm3(uint8_t *m, const uint8_t *dom, size_t dn,
                    const uint8_t *usr, size_t un, size_t lm, size_t nt,
                    uint32_t flags)
{
    size_t off = 64;
    static const char resp[] = "SECRETRESPONSE0123456789SECRETRESPONSE0123456789";

    memset(m, 0, 64);
    memcpy(m, "NTLMSSP\0", 8);
    put32(m + 8, 3);
    put16(m + 12, (uint32_t)lm); put16(m + 14, (uint32_t)lm); put32(m + 16, (uint32_t)off);
    memcpy(m + off, resp, lm); off += lm;
    put16(m + 20, (uint32_t)nt); put16(m + 22, (uint32_t)nt); put32(m + 24, (uint32_t)off);
    memcpy(m + off, resp, nt); off += nt;
    put16(m + 28, (uint32_t)dn); put16(m + 30, (uint32_t)dn); put32(m + 32, (uint32_t)off);
    memcpy(m + off, dom, dn); off += dn;
    put16(m + 36, (uint32_t)un); put16(m + 38, (uint32_t)un); put32(m + 40, (uint32_t)off);
    memcpy(m + off, usr, un); off += un;
    put16(m + 44, 4); put16(m + 46, 4); put32(m + 48, (uint32_t)off);
    memcpy(m + off, (flags & 1) ? "W\0S\0" : "WS\0\0", 4); off += 4;
    put32(m + 60, flags);
    return off;
}

static size_t ntlm3_ascii(uint8_t *m, const char *dom, const char *usr,
                          int unicode)
{
    uint8_t d[256], u[256];
    size_t dn = enc_name(d, dom, unicode), un = enc_name(u, usr, unicode);
    return ntlm3(m, d, dn, u, un, 24, 24, unicode ? 0x00088205u : 0x00088206u);
}

static void test_ntlm_type1(void **st)
{
    static const char t1[] =
        "NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    static const struct exam t[] = {
        EX(SASL_NTLM, 0, 0, t1, SASL_SECRET_NONE, "UNTOUCHED", NULL),
        EX(SASL_NTLM, 0, 0, "NTLMSSQ\0\x03\0\0\0", SASL_SECRET_NONE, NULL, NULL),
        /* type 2 from client */
        EX(SASL_NTLM, 0, 0, "NTLMSSP\0\x02\0\0\0", SASL_SECRET_NONE, NULL, NULL),
    };
    (void)st;
    CHECK_EXAMS(t);
}

static void test_ntlm_type3(void **st)
{
    uint8_t m[512];
    size_t n;
    struct result r;
    (void)st;

    n = ntlm3_ascii(m, "CORP", "alice", 1);
    r = examine_b64(SASL_NTLM, 0, m, n);
    assert_int_equal(r.secret, SASL_SECRET_CHALLENGE);
    assert_string_equal(r.user, "CORP\\alice");
    assert_no_secret(r.user, "SECRET");

    n = ntlm3_ascii(m, "CORP", "bob", 0);                   /* OEM */
    r = examine(SASL_NTLM, 1, 0, m, n);
    assert_int_equal(r.secret, SASL_SECRET_CHALLENGE);
    assert_string_equal(r.user, "CORP\\bob");

    n = ntlm3_ascii(m, "", "carol", 1);                     /* no domain */
    r = examine(SASL_NTLM, 1, 0, m, n);
    assert_string_equal(r.user, "carol");

    n = ntlm3_ascii(m, "DOM\\X", "a\\b", 0);               /* backslashes escaped */
    r = examine(SASL_NTLM, 1, 0, m, n);
    assert_string_equal(r.user, "DOM\\\\X\\a\\\\b");

    /* anonymous: empty NT response, 1-byte LM response */
    {
        uint8_t u[2] = { 0, 0 };
        n = ntlm3(m, u, 0, u, 0, 1, 0, 0x1);
        r = examine(SASL_NTLM, 1, 0, m, n);
        assert_int_equal(r.secret, SASL_SECRET_NONE);
        assert_string_equal(r.user, "UNTOUCHED");
    }
}

static void test_ntlm_unicode(void **st)
{
    /* "J" U+00E9 "r" U+1F600, then a lone surrogate and a control */
    static const uint8_t usr[] = { 'J', 0, 0xe9, 0, 'r', 0, 0x3d, 0xd8, 0x00, 0xde,
                                   0x00, 0xd8, 'x', 0, 0x07, 0, 'z' };
    uint8_t m[512];
    size_t n = ntlm3(m, (const uint8_t *)"D\0", 2, usr, sizeof usr, 24, 24, 0x1);
    struct result r = examine(SASL_NTLM, 1, 0, m, n);
    (void)st;
    assert_int_equal(r.secret, SASL_SECRET_CHALLENGE);
    /* odd trailing byte dropped; lone surrogate and BEL escaped */
    assert_string_equal(r.user, "D\\J\xc3\xa9r\xf0\x9f\x98\x80\\xed\\xa0\\x80x\\x07");
}

static void test_ntlm_malformed(void **st)
{
    uint8_t m[512];
    size_t n;
    struct result r;
    (void)st;

    /* user buffer points past the end: no name, still a response */
    n = ntlm3_ascii(m, "CORP", "alice", 1);
    put32(m + 40, (uint32_t)n);
    put16(m + 36, 2);
    r = examine(SASL_NTLM, 1, 0, m, n);
    assert_int_equal(r.secret, SASL_SECRET_CHALLENGE);
    assert_string_equal(r.user, "UNTOUCHED");

    /* huge offset (wrap-around attempt) */
    n = ntlm3_ascii(m, "CORP", "alice", 1);
    put32(m + 40, 0xfffffffeu);
    r = examine(SASL_NTLM, 1, 0, m, n);
    assert_string_equal(r.user, "UNTOUCHED");

    /* domain out of bounds: user alone */
    n = ntlm3_ascii(m, "CORP", "alice", 1);
    put32(m + 32, 0x7fffffffu);
    r = examine(SASL_NTLM, 1, 0, m, n);
    assert_string_equal(r.user, "alice");

    /* every truncation of a valid message, from exact-size copies */
    n = ntlm3_ascii(m, "CORP", "alice", 1);
    for (size_t k = 0; k <= n; k++) {
        r = examine(SASL_NTLM, 1, 0, m, k);
        assert_true(r.secret == SASL_SECRET_NONE || r.secret == SASL_SECRET_CHALLENGE);
        assert_no_secret(r.user, "SECRET");
        if (k < 44)
            assert_string_equal(r.user, "UNTOUCHED");
        if (k == n)
            assert_string_equal(r.user, "CORP\\alice");
    }
}

static void test_ntlm_small_user_buffer(void **st)
{
    uint8_t m[512];
    char user[8];
    size_t n = ntlm3_ascii(m, "LONGDOMAIN", "longuser", 1);
    (void)st;
    assert_int_equal(sasl_examine(SASL_NTLM, 1, 0, m, n, user, sizeof user),
                     SASL_SECRET_CHALLENGE);
    assert_true(strlen(user) < sizeof user);
    assert_string_equal(user, "...\\...");
}

/* Long names are cut with "..." and never overflow user. */
static void test_long_names(void **st)
{
    static uint8_t big[70000];
    struct result r;
    uint8_t *m = malloc(70100);
    size_t n;
    (void)st;
    assert_non_null(m);
    memset(big, 'u', sizeof big);
    big[0] = 0;
    r = examine(SASL_PLAIN, 0, 0, big, 5000);               /* NUL uuuu... */
    assert_int_equal(strlen(r.user), MT_STR - 1);
    assert_memory_equal(r.user + MT_STR - 4, "...", 3);

    /* UTF-16 user of 30000 code units: scratch overflow still ends "..." */
    for (size_t i = 0; i < 60000; i += 2) {
        big[i] = 'v';
        big[i + 1] = 0;
    }
    n = ntlm3(m, (const uint8_t *)"", 0, big, 60000, 24, 24, 0x1);
    r = examine(SASL_NTLM, 1, 0, m, n);
    assert_int_equal(strlen(r.user), MT_STR - 1);
    assert_memory_equal(r.user + MT_STR - 4, "...", 3);
    {
        char u2[2000];
        assert_int_equal(sasl_examine(SASL_NTLM, 1, 0, m, n, u2, sizeof u2),
                         SASL_SECRET_CHALLENGE);
        assert_true(strlen(u2) <= sizeof u2 - 1);
        assert_memory_equal(u2 + strlen(u2) - 3, "...", 3);
    }
    free(m);
}

/* Pseudo-random bytes through every mechanism (exact-size copies). */
static void test_garbage(void **st)
{
    uint32_t s = 7;
    uint8_t msg[200];
    (void)st;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len;
        struct result r;

        s = s * 1103515245u + 12345u;
        len = (s >> 8) % sizeof msg;
        for (size_t i = 0; i < len; i++) {
            s = s * 1103515245u + 12345u;
            msg[i] = "\0\x01,=\"\\ nNaupc"[(s >> 8) % 14];
            if (((s >> 20) & 7) == 0)
                msg[i] = (uint8_t)(s >> 12);
        }
        if (iter % 3 == 0 && len >= 64) {           /* NTLM-shaped */
            memcpy(msg, "NTLMSSP\0\x03\0\0\0", 12);
        }
        for (int m = SASL_UNKNOWN; m <= SASL_ANONYMOUS; m++) {
            r = examine((enum sasl_mech)m, iter & 3, iter & 1, msg, len);
            assert_true(strlen(r.user) < sizeof r.user);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mech_parse),
        cmocka_unit_test(test_mech_name),
        cmocka_unit_test(test_b64_valid),
        cmocka_unit_test(test_b64_invalid),
        cmocka_unit_test(test_b64_sizes),
        cmocka_unit_test(test_b64_roundtrip),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_cram_md5),
        cmocka_unit_test(test_xoauth2),
        cmocka_unit_test(test_oauthbearer),
        cmocka_unit_test(test_scram),
        cmocka_unit_test(test_digest_md5),
        cmocka_unit_test(test_external_anonymous_gssapi),
        cmocka_unit_test(test_ntlm_type1),
        cmocka_unit_test(test_ntlm_type3),
        cmocka_unit_test(test_ntlm_unicode),
        cmocka_unit_test(test_ntlm_malformed),
        cmocka_unit_test(test_ntlm_small_user_buffer),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
