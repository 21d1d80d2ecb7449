/*
 * sasl.c — SASL mechanism names, base64 via OpenSSL, and what one client
 * SASL message reveals (see sasl.h).
 *
 * Only usernames leave this file, always through mt_escape.  Secrets are
 * classified, never copied; the few scratch buffers used here are wiped
 * with OPENSSL_cleanse before returning.  Every read of the decoded
 * message is bounds-checked against its length; malformed input gives
 * SASL_SECRET_NONE or a best-effort answer, never an out-of-bounds read.
 */
#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "escape.h"
#include "sasl.h"
#include "span.h"

/* Scratch for usernames that must be transformed before escaping
 * (UTF-16LE, saslname "=2C", quoted-string).  Longer names are cut and the
 * stored text ends with "...". */
#define SASL_SCRATCH 1024u

static const struct {
    const char *name;
    enum sasl_mech mech;
} mech_table[] = {
    { "PLAIN", SASL_PLAIN },
    { "LOGIN", SASL_LOGIN },
    { "CRAM-MD5", SASL_CRAM_MD5 },
    { "DIGEST-MD5", SASL_DIGEST_MD5 },
    { "NTLM", SASL_NTLM },
    { "XOAUTH2", SASL_XOAUTH2 },
    { "OAUTHBEARER", SASL_OAUTHBEARER },
    { "GSSAPI", SASL_GSSAPI },
    { "EXTERNAL", SASL_EXTERNAL },
    { "ANONYMOUS", SASL_ANONYMOUS },
};

/* Contract in sasl.h.  name[0..len) is only read. */
enum sasl_mech sasl_mech_parse(const uint8_t *name, size_t len)
{
    struct span s = span_make(name, len);

    if (name == NULL || len == 0)
        return SASL_UNKNOWN;
    for (size_t i = 0; i < sizeof mech_table / sizeof mech_table[0]; i++)
        if (span_eq_ci(s, mech_table[i].name))
            return mech_table[i].mech;
    if (len > 6 && span_starts_ci(s, "SCRAM-"))
        return SASL_SCRAM;
    return SASL_UNKNOWN;
}

/* Contract in sasl.h.  Returns a static string; "UNKNOWN" for SASL_UNKNOWN
 * and out-of-range values. */
const char *sasl_mech_name(enum sasl_mech m)
{
    if (m == SASL_SCRAM)
        return "SCRAM";
    for (size_t i = 0; i < sizeof mech_table / sizeof mech_table[0]; i++)
        if (mech_table[i].mech == m)
            return mech_table[i].name;
    return "UNKNOWN";
}

static int b64_alphabet(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * Contract in sasl.h.  The alphabet, length and padding are validated here
 * (EVP_DecodeBlock would skip whitespace and always writes whole 3-byte
 * groups); the decoding itself is OpenSSL's.  The last 4-character group
 * is decoded into a wiped scratch so that out needs room for the real
 * length only.  On failure nothing useful is left in out (what was written
 * is wiped) and *outlen is 0.
 */
int sasl_b64_decode(const uint8_t *in, size_t inlen,
                    uint8_t *out, size_t outsz, size_t *outlen)
{
    size_t pad = 0, groups, need, head;
    unsigned char last[4];

    if (outlen == NULL || (in == NULL && inlen > 0))
        return -1;
    *outlen = 0;
    if (inlen == 0 || (inlen == 1 && in[0] == '='))
        return 0;                       /* empty, or "=" (RFC 4954) */
    if (inlen % 4 != 0 || inlen > INT_MAX)
        return -1;
    if (in[inlen - 1] == '=') {
        pad = 1;
        if (in[inlen - 2] == '=')
            pad = 2;
    }
    for (size_t i = 0; i < inlen - pad; i++)
        if (!b64_alphabet(in[i]))
            return -1;
    groups = inlen / 4;
    need = groups * 3 - pad;
    if (out == NULL || need > outsz)
        return -1;
    head = (groups - 1) * 3;
    if (groups > 1 &&
        EVP_DecodeBlock(out, in, (int)((groups - 1) * 4)) != (int)head) {
        OPENSSL_cleanse(out, head);
        return -1;
    }
    if (EVP_DecodeBlock(last, in + (groups - 1) * 4, 4) != 3) {
        OPENSSL_cleanse(out, head);
        OPENSSL_cleanse(last, sizeof last);
        return -1;
    }
    memcpy(out + head, last, 3 - pad);
    OPENSSL_cleanse(last, sizeof last);
    *outlen = need;
    return 0;
}

/* ---- helpers over (pointer, length) ------------------------------------ */

/*
 * Escapes p[0..n) into user.  cut says the source was already shortened
 * (scratch full): the size handed to mt_escape is then made too small for
 * the whole input so the text ends with "...".  n == 0 leaves user alone.
 */
static void put_user(char *user, size_t usersz, const uint8_t *p, size_t n,
                     int cut)
{
    if (user == NULL || usersz == 0 || n == 0)
        return;
    if (cut && usersz > n)
        usersz = n;
    mt_escape(user, usersz, p, n);
}

static int is_ci_prefix(const uint8_t *p, size_t n, const char *lit)
{
    return span_starts_ci(span_make(p, n), lit);
}

/* Index of the first c in p[from..n), or n. */
static size_t find_byte(const uint8_t *p, size_t n, size_t from, uint8_t c)
{
    const uint8_t *q;

    if (from >= n)
        return n;
    q = memchr(p + from, c, n - from);
    return q ? (size_t)(q - p) : n;
}

/*
 * Decodes a SCRAM/GS2 saslname (RFC 5802: "=2C" is ',', "=3D" is '=') from
 * p[0..n) into out[0..outsz); an unknown "=" sequence is kept as is.  Sets
 * *cut when out was too small.  Returns the decoded length.
 */
static size_t saslname_decode(const uint8_t *p, size_t n, uint8_t *out,
                              size_t outsz, int *cut)
{
    size_t i = 0, o = 0;

    *cut = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t adv = 1;

        if (c == '=' && n - i >= 3) {
            if (p[i + 1] == '2' && (p[i + 2] == 'C' || p[i + 2] == 'c')) {
                c = ',';
                adv = 3;
            } else if (p[i + 1] == '3' && (p[i + 2] == 'D' || p[i + 2] == 'd')) {
                c = '=';
                adv = 3;
            }
        }
        if (o == outsz) {
            *cut = 1;
            break;
        }
        out[o++] = c;
        i += adv;
    }
    return o;
}

/* ---- mechanisms --------------------------------------------------------- */

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd.  PASSWORD only when
 * the password part is present and non-empty; an empty authcid leaves user
 * alone. */
static enum sasl_secret examine_plain(const uint8_t *d, size_t len,
                                      char *user, size_t usersz)
{
    size_t z1 = find_byte(d, len, 0, 0), z2;

    if (z1 == len)
        return SASL_SECRET_NONE;        /* no structure at all */
    z2 = find_byte(d, len, z1 + 1, 0);
    put_user(user, usersz, d + z1 + 1, z2 - (z1 + 1), 0);
    if (z2 == len)
        return SASL_SECRET_NONE;        /* password part missing */
    return len - (z2 + 1) > 0 ? SASL_SECRET_PASSWORD : SASL_SECRET_NONE;
}

/* CRAM-MD5 (RFC 2195): "user SP digest"; the last space separates. */
static enum sasl_secret examine_cram(const uint8_t *d, size_t len,
                                     char *user, size_t usersz)
{
    size_t sp = len;

    while (sp > 0 && d[sp - 1] != ' ')
        sp--;
    if (sp == 0 || sp == len)
        return SASL_SECRET_NONE;        /* no space, or no digest after it */
    put_user(user, usersz, d, sp - 1, 0);
    return SASL_SECRET_CHALLENGE;
}

/*
 * Looks through the \x01-separated key=value pairs of d[from..len) (XOAUTH2,
 * OAUTHBEARER) for a non-empty "auth=" value; copies a "user=" value when
 * want_user.  Returns 1 when a token was present.
 */
static int scan_kv01(const uint8_t *d, size_t len, size_t from, int want_user,
                     char *user, size_t usersz)
{
    int token = 0;
    size_t i = from;

    while (i < len) {
        size_t e = find_byte(d, len, i, 0x01);
        const uint8_t *f = d + i;
        size_t fl = e - i;

        if (is_ci_prefix(f, fl, "auth=") && fl > 5)
            token = 1;
        else if (want_user && is_ci_prefix(f, fl, "user=") && fl > 5) {
            put_user(user, usersz, f + 5, fl - 5, 0);
            want_user = 0;
        }
        i = e + 1;
    }
    return token;
}

/* XOAUTH2: "user=U\x01auth=Bearer T\x01\x01". */
static enum sasl_secret examine_xoauth2(const uint8_t *d, size_t len,
                                        char *user, size_t usersz)
{
    return scan_kv01(d, len, 0, 1, user, usersz) ? SASL_SECRET_TOKEN
                                                 : SASL_SECRET_NONE;
}

/*
 * Splits a GS2 header "flag,[a=authzid]," at the start of d.  Sets
 * [*az, *az + *azlen) to the authzid field (without "a=") and returns the
 * offset just past the header, or 0 when d does not start with one.
 */
static size_t gs2_header(const uint8_t *d, size_t len, size_t *az, size_t *azlen)
{
    size_t c1, c2;

    *az = 0;
    *azlen = 0;
    if (len == 0 || (d[0] != 'n' && d[0] != 'y' && d[0] != 'p'))
        return 0;
    c1 = find_byte(d, len, 0, ',');
    if (c1 == len)
        return 0;
    c2 = find_byte(d, len, c1 + 1, ',');
    if (c2 == len)
        return 0;
    if (c2 - (c1 + 1) > 2 && d[c1 + 1] == 'a' && d[c1 + 2] == '=') {
        *az = c1 + 3;
        *azlen = c2 - *az;
    }
    return c2 + 1;
}

/* Escapes the saslname-encoded name p[0..n) into user (n == 0: untouched). */
static void put_saslname(char *user, size_t usersz, const uint8_t *p, size_t n)
{
    uint8_t tmp[SASL_SCRATCH];
    int cut;
    size_t m;

    if (n == 0)
        return;
    m = saslname_decode(p, n, tmp, sizeof tmp, &cut);
    put_user(user, usersz, tmp, m, cut);
    OPENSSL_cleanse(tmp, sizeof tmp);
}

/* OAUTHBEARER (RFC 7628): gs2 header "n,a=U," then \x01 kvpairs. */
static enum sasl_secret examine_oauthbearer(const uint8_t *d, size_t len,
                                            char *user, size_t usersz)
{
    size_t az, azlen, body = gs2_header(d, len, &az, &azlen);

    if (azlen > 0)
        put_saslname(user, usersz, d + az, azlen);
    return scan_kv01(d, len, body, 0, NULL, 0) ? SASL_SECRET_TOKEN
                                               : SASL_SECRET_NONE;
}

/*
 * SCRAM (RFC 5802): client-first "gs2-header n=U,r=..." -> U, NONE;
 * client-final "c=...,r=...,p=proof" -> CHALLENGE.
 */
static enum sasl_secret examine_scram(const uint8_t *d, size_t len,
                                      char *user, size_t usersz)
{
    size_t az, azlen, i;

    if (len >= 2 && d[0] == 'c' && d[1] == '=') {
        for (i = 0; i < len; ) {
            size_t e = find_byte(d, len, i, ',');
            if (e - i >= 2 && d[i] == 'p' && d[i + 1] == '=')
                return SASL_SECRET_CHALLENGE;
            i = e + 1;
        }
        return SASL_SECRET_NONE;
    }
    i = gs2_header(d, len, &az, &azlen);
    if (i == 0)
        return SASL_SECRET_NONE;
    while (i < len) {
        size_t e = find_byte(d, len, i, ',');
        if (e - i >= 2 && d[i] == 'n' && d[i + 1] == '=') {
            put_saslname(user, usersz, d + i + 2, e - i - 2);
            break;
        }
        i = e + 1;
    }
    return SASL_SECRET_NONE;
}

/*
 * DIGEST-MD5 (RFC 2831) digest-response: comma-separated directives,
 * values quoted (with backslash escapes) or tokens.  Copies "username";
 * CHALLENGE when a username or response directive is present (the final
 * empty answer to rspauth carries nothing).
 */
static enum sasl_secret examine_digest(const uint8_t *d, size_t len,
                                       char *user, size_t usersz)
{
    uint8_t tmp[SASL_SCRATCH];
    size_t i = 0;
    int seen = 0, have_user = 0;

    while (i < len) {
        size_t ks, ke, m = 0;
        int is_user, cut = 0;

        while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == ',' ||
                           d[i] == '\r' || d[i] == '\n'))
            i++;
        ks = i;
        while (i < len && d[i] != '=' && d[i] != ',')
            i++;
        ke = i;
        while (ke > ks && (d[ke - 1] == ' ' || d[ke - 1] == '\t'))
            ke--;
        if (i >= len || d[i] == ',')
            continue;                   /* directive without a value */
        i++;                            /* '=' */
        while (i < len && (d[i] == ' ' || d[i] == '\t'))
            i++;
        is_user = !have_user && span_eq_ci(span_make(d + ks, ke - ks), "username");
        if (span_eq_ci(span_make(d + ks, ke - ks), "response") || is_user)
            seen = 1;
        if (i < len && d[i] == '"') {
            i++;
            while (i < len && d[i] != '"') {
                if (d[i] == '\\' && i + 1 < len)
                    i++;
                if (is_user) {
                    if (m < sizeof tmp)
                        tmp[m++] = d[i];
                    else
                        cut = 1;
                }
                i++;
            }
            if (i < len)
                i++;                    /* closing quote */
        } else {
            size_t vs = i;
            while (i < len && d[i] != ',')
                i++;
            if (is_user) {
                m = i - vs;
                if (m > sizeof tmp) {
                    m = sizeof tmp;
                    cut = 1;
                }
                memcpy(tmp, d + vs, m);
            }
        }
        if (is_user) {
            put_user(user, usersz, tmp, m, cut);
            have_user = 1;
        }
    }
    OPENSSL_cleanse(tmp, sizeof tmp);
    return seen ? SASL_SECRET_CHALLENGE : SASL_SECRET_NONE;
}

/* ---- NTLM (MS-NLMP) ----------------------------------------------------- */

#define NTLM_SIG_LEN          8u
#define NTLM_T3_LM            12u       /* LmChallengeResponseFields   */
#define NTLM_T3_NT            20u       /* NtChallengeResponseFields   */
#define NTLM_T3_DOMAIN        28u       /* DomainNameFields            */
#define NTLM_T3_USER          36u       /* UserNameFields              */
#define NTLM_T3_FIELDS_END    44u
#define NTLM_T3_FLAGS         60u       /* NegotiateFlags              */
#define NTLM_NEGOTIATE_UNICODE 0x00000001u

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/*
 * Security buffer (len16, maxlen16, offset32) at d[at..at+8), at + 8 <=
 * len checked by the caller.  Sets [*off, *off + *n) when it lies inside
 * d[0..len); returns 0, or -1 when it points outside.
 */
static int ntlm_secbuf(const uint8_t *d, size_t len, size_t at,
                       size_t *off, size_t *n)
{
    size_t l = le16(d + at), o = le32(d + at + 4);

    if (o > len || l > len - o)
        return -1;
    *off = o;
    *n = l;
    return 0;
}

/*
 * UTF-16LE p[0..n) to UTF-8 in out[0..outsz).  Surrogate pairs are
 * combined; a lone surrogate is written as its 3-byte form (ED A0..BF xx),
 * which mt_escape then escapes byte by byte; a trailing odd byte is
 * dropped.  Sets *cut when out was too small.  Returns the length.
 */
static size_t utf16le_to_utf8(const uint8_t *p, size_t n, uint8_t *out,
                              size_t outsz, int *cut)
{
    size_t i = 0, o = 0;

    *cut = 0;
    while (n - i >= 2) {
        uint32_t u = le16(p + i);
        size_t adv = 2, k;
        uint8_t e[4];

        if (u >= 0xd800 && u <= 0xdbff && n - i >= 4) {
            uint32_t lo = le16(p + i + 2);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                adv = 4;
            }
        }
        if (u < 0x80) {
            e[0] = (uint8_t)u;
            k = 1;
        } else if (u < 0x800) {
            e[0] = (uint8_t)(0xc0 | u >> 6);
            e[1] = (uint8_t)(0x80 | (u & 0x3f));
            k = 2;
        } else if (u < 0x10000) {
            e[0] = (uint8_t)(0xe0 | u >> 12);
            e[1] = (uint8_t)(0x80 | ((u >> 6) & 0x3f));
            e[2] = (uint8_t)(0x80 | (u & 0x3f));
            k = 3;
        } else {
            e[0] = (uint8_t)(0xf0 | u >> 18);
            e[1] = (uint8_t)(0x80 | ((u >> 12) & 0x3f));
            e[2] = (uint8_t)(0x80 | ((u >> 6) & 0x3f));
            e[3] = (uint8_t)(0x80 | (u & 0x3f));
            k = 4;
        }
        if (k > outsz - o) {
            *cut = 1;
            break;
        }
        memcpy(out + o, e, k);
        o += k;
        i += adv;
    }
    return o;
}

/* Escapes one NTLM name field (UTF-16LE or OEM bytes) into dst. */
static size_t ntlm_put_name(char *dst, size_t dstsz, const uint8_t *p,
                            size_t n, int unicode)
{
    uint8_t tmp[SASL_SCRATCH];
    size_t m, w;
    int cut;

    if (!unicode)
        return mt_escape(dst, dstsz, p, n);
    m = utf16le_to_utf8(p, n, tmp, sizeof tmp, &cut);
    if (cut && dstsz > m)
        dstsz = m;
    w = mt_escape(dst, dstsz, tmp, m);
    OPENSSL_cleanse(tmp, sizeof tmp);
    return w;
}

/*
 * NTLMSSP: type 1 (negotiate) -> NONE; type 3 (authenticate) -> user
 * "DOMAIN\user" (the domain gets at most half of usersz; a backslash inside
 * either name is escaped, so the separator is unambiguous) and CHALLENGE
 * unless anonymous (empty NT response, LM response of at most one byte).
 * Messages shorter than the fixed type 3 fields carry no names; without
 * the NegotiateFlags field (old, short messages) names are taken as OEM.
 */
static enum sasl_secret examine_ntlm(const uint8_t *d, size_t len,
                                     char *user, size_t usersz)
{
    size_t doff, dn, uoff, un;
    int unicode;
    uint32_t lm_len, nt_len;

    if (len < NTLM_SIG_LEN + 4 || memcmp(d, "NTLMSSP\0", NTLM_SIG_LEN) != 0)
        return SASL_SECRET_NONE;
    if (le32(d + NTLM_SIG_LEN) != 3 || len < NTLM_T3_FIELDS_END)
        return SASL_SECRET_NONE;        /* type 1 (or 2, or truncated) */
    lm_len = le16(d + NTLM_T3_LM);
    nt_len = le16(d + NTLM_T3_NT);
    unicode = len >= NTLM_T3_FLAGS + 4 &&
              (le32(d + NTLM_T3_FLAGS) & NTLM_NEGOTIATE_UNICODE);
    if (user != NULL && usersz > 0 &&
        ntlm_secbuf(d, len, NTLM_T3_USER, &uoff, &un) == 0 && un > 0) {
        size_t w = 0;

        if (usersz >= 8 && ntlm_secbuf(d, len, NTLM_T3_DOMAIN, &doff, &dn) == 0 &&
            dn > 0) {
            w = ntlm_put_name(user, usersz / 2, d + doff, dn, unicode);
            user[w++] = '\\';
            user[w] = '\0';
        }
        ntlm_put_name(user + w, usersz - w, d + uoff, un, unicode);
    }
    return (nt_len > 0 || lm_len > 1) ? SASL_SECRET_CHALLENGE : SASL_SECRET_NONE;
}

/* ---- entry point -------------------------------------------------------- */

/*
 * Contract in sasl.h.  dec[0..len) (the decoded message, caller-owned and
 * wiped by the caller) is only read; user[0..usersz) is written only when a
 * username is found.  step is not needed by any mechanism handled here:
 * LOGIN is driven by login_step, SCRAM and DIGEST-MD5 by the message shape.
 */
enum sasl_secret sasl_examine(enum sasl_mech mech, int step, int login_step,
                              const uint8_t *dec, size_t len,
                              char *user, size_t usersz)
{
    (void)step;
    if (dec == NULL)
        len = 0;
    if (len == 0)
        return SASL_SECRET_NONE;        /* "=" or empty: nothing sent */
    switch (mech) {
    case SASL_PLAIN:
        return examine_plain(dec, len, user, usersz);
    case SASL_LOGIN:
        if (login_step == 0) {
            put_user(user, usersz, dec, len, 0);
            return SASL_SECRET_NONE;
        }
        return SASL_SECRET_PASSWORD;
    case SASL_CRAM_MD5:
        return examine_cram(dec, len, user, usersz);
    case SASL_XOAUTH2:
        return examine_xoauth2(dec, len, user, usersz);
    case SASL_OAUTHBEARER:
        return examine_oauthbearer(dec, len, user, usersz);
    case SASL_NTLM:
        return examine_ntlm(dec, len, user, usersz);
    case SASL_SCRAM:
        return examine_scram(dec, len, user, usersz);
    case SASL_DIGEST_MD5:
        return examine_digest(dec, len, user, usersz);
    case SASL_EXTERNAL:
        put_user(user, usersz, dec, len, 0);    /* authzid */
        return SASL_SECRET_NONE;
    case SASL_GSSAPI:
    case SASL_ANONYMOUS:
    case SASL_UNKNOWN:
        break;
    }
    return SASL_SECRET_NONE;
}
