/*
 * tls_hello.c — ClientHello / ServerHello parsing, JA3 and JA4 client
 * fingerprints, cipher-suite names and weakness classes.
 *
 * All captured bytes are read through the bounds-checked tls_rd helpers
 * (tls_int.h); strings taken from the hello (SNI, ALPN) go through
 * mt_escape().  Cipher names come from libssl's own table when it knows
 * the suite (SSL_CIPHER_find on a lazily created SSL object), else from a
 * built-in table of the weak suites a Debian libssl no longer carries
 * (EXPORT, single DES, RC4, 3DES, NULL, ...), else "0xXXXX".
 *
 * Per ClientHello work is kept small: the weakness of each offered suite
 * is looked up by id (cipher_weakness_id, filled once per id from the
 * name), JA3/JA4 numbers are formatted by hand into a buffered digest,
 * the digest algorithms are fetched once, and JA4 sorts on the stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include "escape.h"
#include "tls.h"
#include "tls_int.h"

/* ---- cipher names ---------------------------------------------------- */

static SSL_CTX *g_ctx;
static SSL *g_ssl;
static int g_ssl_failed;
/* Digest algorithms for JA3 (MD5) and JA4 (SHA-256), fetched on first use;
 * NULL while not fetched or unavailable. */
static EVP_MD *g_md5, *g_sha256;

/* Weak suites OpenSSL builds may lack (IANA names; 0x0060-0x0066 are the
 * never-registered EXPORT1024 drafts, still seen in old clients). */
static const struct {
    uint16_t id;
    const char *name;
} weak_table[] = {
    { 0x0000, "TLS_NULL_WITH_NULL_NULL" },
    { 0x0001, "TLS_RSA_WITH_NULL_MD5" },
    { 0x0002, "TLS_RSA_WITH_NULL_SHA" },
    { 0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5" },
    { 0x0004, "TLS_RSA_WITH_RC4_128_MD5" },
    { 0x0005, "TLS_RSA_WITH_RC4_128_SHA" },
    { 0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5" },
    { 0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA" },
    { 0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA" },
    { 0x0009, "TLS_RSA_WITH_DES_CBC_SHA" },
    { 0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA" },
    { 0x000b, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA" },
    { 0x000c, "TLS_DH_DSS_WITH_DES_CBC_SHA" },
    { 0x000d, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA" },
    { 0x000e, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA" },
    { 0x000f, "TLS_DH_RSA_WITH_DES_CBC_SHA" },
    { 0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA" },
    { 0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA" },
    { 0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA" },
    { 0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA" },
    { 0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA" },
    { 0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA" },
    { 0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA" },
    { 0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5" },
    { 0x0018, "TLS_DH_anon_WITH_RC4_128_MD5" },
    { 0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA" },
    { 0x001a, "TLS_DH_anon_WITH_DES_CBC_SHA" },
    { 0x001b, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA" },
    { 0x001e, "TLS_KRB5_WITH_DES_CBC_SHA" },
    { 0x001f, "TLS_KRB5_WITH_3DES_EDE_CBC_SHA" },
    { 0x0020, "TLS_KRB5_WITH_RC4_128_SHA" },
    { 0x0022, "TLS_KRB5_WITH_DES_CBC_MD5" },
    { 0x0023, "TLS_KRB5_WITH_3DES_EDE_CBC_MD5" },
    { 0x0024, "TLS_KRB5_WITH_RC4_128_MD5" },
    { 0x0026, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA" },
    { 0x0027, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_SHA" },
    { 0x0028, "TLS_KRB5_EXPORT_WITH_RC4_40_SHA" },
    { 0x0029, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5" },
    { 0x002a, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5" },
    { 0x002b, "TLS_KRB5_EXPORT_WITH_RC4_40_MD5" },
    { 0x002c, "TLS_PSK_WITH_NULL_SHA" },
    { 0x002d, "TLS_DHE_PSK_WITH_NULL_SHA" },
    { 0x002e, "TLS_RSA_PSK_WITH_NULL_SHA" },
    { 0x003b, "TLS_RSA_WITH_NULL_SHA256" },
    { 0x0060, "TLS_RSA_EXPORT1024_WITH_RC4_56_MD5" },
    { 0x0061, "TLS_RSA_EXPORT1024_WITH_RC2_CBC_56_MD5" },
    { 0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA" },
    { 0x0063, "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA" },
    { 0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA" },
    { 0x0065, "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA" },
    { 0x0066, "TLS_DHE_DSS_WITH_RC4_128_SHA" },
    { 0x008a, "TLS_PSK_WITH_RC4_128_SHA" },
    { 0x008b, "TLS_PSK_WITH_3DES_EDE_CBC_SHA" },
    { 0x008e, "TLS_DHE_PSK_WITH_RC4_128_SHA" },
    { 0x008f, "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA" },
    { 0x0092, "TLS_RSA_PSK_WITH_RC4_128_SHA" },
    { 0x0093, "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA" },
    { 0xc001, "TLS_ECDH_ECDSA_WITH_NULL_SHA" },
    { 0xc002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA" },
    { 0xc003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA" },
    { 0xc006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA" },
    { 0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA" },
    { 0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA" },
    { 0xc00b, "TLS_ECDH_RSA_WITH_NULL_SHA" },
    { 0xc00c, "TLS_ECDH_RSA_WITH_RC4_128_SHA" },
    { 0xc00d, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA" },
    { 0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA" },
    { 0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA" },
    { 0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA" },
    { 0xc015, "TLS_ECDH_anon_WITH_NULL_SHA" },
    { 0xc016, "TLS_ECDH_anon_WITH_RC4_128_SHA" },
    { 0xc017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA" },
    { 0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA" },
    { 0xc019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA" },
    { 0xc01a, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA" },
    { 0xc01b, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA" },
    { 0xc01c, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA" },
    { 0xc033, "TLS_ECDHE_PSK_WITH_RC4_128_SHA" },
    { 0xc034, "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA" },
    { 0xc039, "TLS_ECDHE_PSK_WITH_NULL_SHA" },
    { 0xc03a, "TLS_ECDHE_PSK_WITH_NULL_SHA256" },
    { 0xc03b, "TLS_ECDHE_PSK_WITH_NULL_SHA384" },
};

/* libssl's cipher object for a suite id, or NULL.  The SSL object is made
 * once (not thread-safe); SSL_CIPHER_find searches libssl's full table,
 * not only the suites enabled in the context. */
static const SSL_CIPHER *ossl_cipher(uint16_t id)
{
    if (!g_ssl && !g_ssl_failed) {
        g_ctx = SSL_CTX_new(TLS_method());
        if (g_ctx)
            (void)SSL_CTX_set_cipher_list(g_ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0");
        g_ssl = g_ctx ? SSL_new(g_ctx) : NULL;
        if (!g_ssl)
            g_ssl_failed = 1;
    }
    if (!g_ssl)
        return NULL;
    const unsigned char b[2] = { (unsigned char)(id >> 8), (unsigned char)(id & 0xffu) };
    return SSL_CIPHER_find(g_ssl, b);
}

/* Frees the cached SSL objects and digest algorithms (see tls_int.h).
 * The weakness-by-id table stays: it only holds answers libssl's own
 * table gave, which do not change. */
void tls_hello_cleanup(void)
{
    SSL_free(g_ssl);
    SSL_CTX_free(g_ctx);
    g_ssl = NULL;
    g_ctx = NULL;
    g_ssl_failed = 0;
    EVP_MD_free(g_md5);
    EVP_MD_free(g_sha256);
    g_md5 = NULL;
    g_sha256 = NULL;
}

/* IANA name of suite id into dst (see tls_int.h). */
void tls_cipher_name(uint16_t id, char *dst, size_t dstsz)
{
    if (!dst || dstsz == 0)
        return;
    const SSL_CIPHER *c = ossl_cipher(id);
    const char *name = c ? SSL_CIPHER_standard_name(c) : NULL;
    if (name && strcmp(name, "(NONE)") == 0)
        name = NULL;
    for (size_t i = 0; !name && i < sizeof weak_table / sizeof weak_table[0]; i++)
        if (weak_table[i].id == id)
            name = weak_table[i].name;
    if (name)
        snprintf(dst, dstsz, "%s", name);
    else
        snprintf(dst, dstsz, "0x%04x", (unsigned)id);
}

/* Weakness classes of a suite by its IANA name (our own names, never
 * captured text); NULL or unknown names are 0. */
unsigned tls_cipher_weakness(const char *iana_name)
{
    unsigned w = 0;
    if (!iana_name)
        return 0;
    if (strstr(iana_name, "_NULL_") || strstr(iana_name, "WITH_NULL"))
        w |= TLS_WEAK_NULL;
    if (strstr(iana_name, "EXPORT"))
        w |= TLS_WEAK_EXPORT;
    if (strstr(iana_name, "_DES_") || strstr(iana_name, "DES_CBC_")
        || strstr(iana_name, "_DES40_"))
        w |= TLS_WEAK_DES;
    if (strstr(iana_name, "RC4"))
        w |= TLS_WEAK_RC4;
    if (strstr(iana_name, "_anon_"))
        w |= TLS_WEAK_ANON;
    if (strstr(iana_name, "3DES"))
        w |= TLS_WEAK_3DES;
    if (strncmp(iana_name, "TLS_RSA_WITH_", 13) == 0)
        w |= TLS_WEAK_RSA_KX;
    return w;
}

/* Weakness classes by suite id, remembered per id: entry = classes |
 * WEAK_KNOWN once filled, 0 before.  The classes fit below WEAK_KNOWN. */
#define WEAK_KNOWN 0x80u
#define WEAK_ALL   (TLS_WEAK_NULL | TLS_WEAK_EXPORT | TLS_WEAK_DES | TLS_WEAK_RC4 | \
                    TLS_WEAK_ANON | TLS_WEAK_3DES | TLS_WEAK_RSA_KX)
_Static_assert(WEAK_ALL < WEAK_KNOWN, "weakness classes must fit below WEAK_KNOWN");
static uint8_t g_weak_by_id[65536];

/* tls_cipher_weakness() of tls_cipher_name(id), the same answer for every
 * id, computed once per id.  An answer is only remembered while libssl's
 * table was usable (g_ssl): without it the name may come from the
 * fallback table, and a later lookup (after tls_hello_cleanup) could
 * succeed and name the suite differently. */
static unsigned cipher_weakness_id(uint16_t id)
{
    uint8_t e = g_weak_by_id[id];
    char name[MT_STR_SHORT];
    unsigned w;

    if (e & WEAK_KNOWN)
        return e & WEAK_ALL;
    tls_cipher_name(id, name, sizeof name);
    w = tls_cipher_weakness(name);
    if (g_ssl != NULL)
        g_weak_by_id[id] = (uint8_t)(w | WEAK_KNOWN);
    return w;
}

/* "TLSv1.2" etc. into dst (see tls_int.h). */
void tls_version_name(uint16_t v, char *dst, size_t dstsz)
{
    const char *n = NULL;
    switch (v) {
    case 0x0002: n = "SSLv2"; break;
    case 0x0300: n = "SSLv3"; break;
    case 0x0301: n = "TLSv1.0"; break;
    case 0x0302: n = "TLSv1.1"; break;
    case 0x0303: n = "TLSv1.2"; break;
    case 0x0304: n = "TLSv1.3"; break;
    default: break;
    }
    if (n)
        snprintf(dst, dstsz, "%s", n);
    else
        snprintf(dst, dstsz, "0x%04x", (unsigned)v);
}

/* ---- digests --------------------------------------------------------- */

/* Decimal digits of v into dst (room for 10), no NUL; returns how many.
 * Same digits as printf "%u". */
size_t tls_fmt_dec(char *dst, uint32_t v)
{
    char t[10];
    size_t n = 0;

    do {
        t[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        dst[i] = t[n - 1 - i];
    return n;
}

/* Four lower-case hex digits of v into dst, no NUL (printf "%04x"). */
void tls_fmt_hex4(char dst[4], uint16_t v)
{
    static const char hx[] = "0123456789abcdef";

    dst[0] = hx[(v >> 12) & 0xfu];
    dst[1] = hx[(v >> 8) & 0xfu];
    dst[2] = hx[(v >> 4) & 0xfu];
    dst[3] = hx[v & 0xfu];
}

/* A digest over our own text, fed through a small buffer so that the
 * values of a list cost one EVP_DigestUpdate per buffer, not per value. */
struct dg {
    EVP_MD_CTX *c;
    int ok;
    size_t n;                   /* bytes waiting in buf */
    char buf[256];
};

/* Digest algorithm *slot, fetched on first use (NULL if unavailable, e.g.
 * MD5 under a FIPS-only provider; then fetched again next time). */
static const EVP_MD *md_get(EVP_MD **slot, const char *name)
{
    if (*slot == NULL)
        *slot = EVP_MD_fetch(NULL, name, NULL);
    return *slot;
}

/* Starts a digest; g->ok = 0 when the algorithm is unavailable: the
 * fingerprint then stays "". */
static void dg_init(struct dg *g, const EVP_MD *md)
{
    g->n = 0;
    g->c = EVP_MD_CTX_new();
    g->ok = g->c && md && EVP_DigestInit_ex(g->c, md, NULL) == 1;
}

/* Hashes what waits in the buffer. */
static void dg_flush(struct dg *g)
{
    if (g->n > 0 && g->ok && EVP_DigestUpdate(g->c, g->buf, g->n) != 1)
        g->ok = 0;
    g->n = 0;
}

/* Hashes n bytes of our own text (buffered). */
static void dg_put(struct dg *g, const char *s, size_t n)
{
    if (n > sizeof g->buf - g->n) {
        dg_flush(g);
        if (n > sizeof g->buf) {
            if (g->ok && EVP_DigestUpdate(g->c, s, n) != 1)
                g->ok = 0;
            return;
        }
    }
    memcpy(g->buf + g->n, s, n);
    g->n += n;
}

/* Finishes the digest and writes its first hexlen hex digits into dst
 * (dst has room for hexlen + 1).  On failure dst is "". */
static void dg_hex(struct dg *g, char *dst, size_t hexlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    static const char hx[] = "0123456789abcdef";

    dst[0] = '\0';
    dg_flush(g);
    if (g->ok && EVP_DigestFinal_ex(g->c, md, &mdlen) == 1 && hexlen <= 2u * mdlen) {
        for (size_t i = 0; i < hexlen; i++)
            dst[i] = hx[(md[i / 2] >> ((i % 2) ? 0 : 4)) & 0xf];
        dst[hexlen] = '\0';
    }
    EVP_MD_CTX_free(g->c);
    g->c = NULL;
}

/* Appends "<sep><decimal v>" (sep omitted for the first item). */
static void dg_dec(struct dg *g, uint32_t v, int *first)
{
    char b[11];
    size_t n = 0;

    if (!*first)
        b[n++] = '-';
    *first = 0;
    n += tls_fmt_dec(b + n, v);
    dg_put(g, b, n);
}

/* Appends "<,><4 hex v>" (comma omitted for the first item). */
static void dg_hex4(struct dg *g, uint16_t v, int *first)
{
    char b[5];
    size_t n = 0;

    if (!*first)
        b[n++] = ',';
    *first = 0;
    tls_fmt_hex4(b + n, v);
    dg_put(g, b, n + 4);
}

/* ---- ClientHello ----------------------------------------------------- */

/* What the fingerprints need from a ClientHello, as views into it. */
struct ch {
    uint16_t version;
    struct tls_rd ciphers;      /* cipher suites / SSLv2 cipher specs   */
    unsigned spec;              /* 2, or 3 for SSLv2 specs               */
    const uint8_t *ext;         /* well-formed prefix of the extensions */
    size_t ext_len;
    int has_sni;
    struct tls_rd sni, alpn, sv, groups, pf, sig;  /* first occurrence;
                                                   err=1 when absent     */
};

/* A reader marking an extension that was not present. */
static struct tls_rd rd_absent(void)
{
    struct tls_rd r = { NULL, 0, 0, 1 };
    return r;
}

/* Walks the extension block; records the extensions we read.  Returns 0,
 * -1 when the block is cut (what came before stays usable). */
static int ch_extensions(struct ch *c, const uint8_t *p, size_t len)
{
    struct tls_rd r = tls_rd_make(p, len);
    c->ext = p;
    c->ext_len = 0;
    while (tls_rd_left(&r) > 0) {
        uint32_t type = tls_rd_uint(&r, 2);
        uint32_t elen = tls_rd_uint(&r, 2);
        struct tls_rd d = tls_rd_sub(&r, elen);
        if (r.err)
            return -1;
        c->ext_len = r.off;
        struct tls_rd *slot = NULL;
        switch (type) {
        case 0:  c->has_sni = 1; slot = &c->sni; break;
        case 10: slot = &c->groups; break;
        case 11: slot = &c->pf; break;
        case 13: slot = &c->sig; break;
        case 16: slot = &c->alpn; break;
        case 43: slot = &c->sv; break;
        default: break;
        }
        if (slot && slot->err)
            *slot = d;
    }
    return 0;
}

/* Inner list of an extension: `lenbytes`-byte length, then the list. */
static struct tls_rd ext_list(struct tls_rd e, unsigned lenbytes)
{
    if (e.err)
        return e;
    uint32_t n = tls_rd_uint(&e, lenbytes);
    return tls_rd_sub(&e, n);
}

/* qsort order for uint16_t values. */
static int cmp_u16(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) ascending: insertion sort for the short lists real hellos
 * carry, qsort for longer ones (equal values are indistinguishable, so
 * both give the same array). */
static void sort_u16(uint16_t *v, size_t n)
{
    if (n > 64) {
        qsort(v, n, sizeof *v, cmp_u16);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint16_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* ASCII letter or digit (JA4's test for the ALPN characters). */
static int alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* JA3 (Salesforce): MD5 of
 * "version,ciphers,extensions,groups,point_formats", decimal values joined
 * by '-', GREASE left out.  For an SSLv2 hello the 3-byte cipher specs are
 * written as 24-bit decimal values (a TLS suite 00 XX YY stays its 16-bit
 * value) and the extension fields are empty. */
static void compute_ja3(const struct ch *c, char out[33])
{
    struct dg g;
    char b[11];
    int first;
    size_t n;

    dg_init(&g, md_get(&g_md5, "MD5"));
    n = tls_fmt_dec(b, c->version);
    b[n++] = ',';
    dg_put(&g, b, n);

    struct tls_rd r = c->ciphers;
    first = 1;
    while (tls_rd_left(&r) >= c->spec) {
        uint32_t v = tls_rd_uint(&r, c->spec);
        if (!tls_is_grease(v))
            dg_dec(&g, v, &first);
    }
    dg_put(&g, ",", 1);

    struct tls_rd e = tls_rd_make(c->ext, c->ext_len);
    first = 1;
    while (tls_rd_left(&e) >= 4) {
        uint32_t type = tls_rd_uint(&e, 2);
        (void)tls_rd_sub(&e, tls_rd_uint(&e, 2));
        if (e.err)
            break;
        if (!tls_is_grease(type))
            dg_dec(&g, type, &first);
    }
    dg_put(&g, ",", 1);

    struct tls_rd gr = ext_list(c->groups, 2);
    first = 1;
    while (tls_rd_left(&gr) >= 2) {
        uint32_t v = tls_rd_uint(&gr, 2);
        if (!tls_is_grease(v))
            dg_dec(&g, v, &first);
    }
    dg_put(&g, ",", 1);

    struct tls_rd pf = ext_list(c->pf, 1);
    first = 1;
    while (tls_rd_left(&pf) >= 1)
        dg_dec(&g, tls_rd_uint(&pf, 1), &first);

    dg_hex(&g, out, 32);
}

/* Two JA4 version characters for a protocol version. */
static const char *ja4_version(uint32_t v)
{
    switch (v) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
    }
}

/* JA4 (FoxIO, technical_details/JA4.md), TLS over TCP:
 *   t<ver><d|i><#ciphers><#extensions><alpn>_<cipher hash>_<ext hash>
 * ver: highest non-GREASE supported_versions value, else legacy_version;
 * counts exclude GREASE, capped at 99 (extensions include SNI and ALPN);
 * alpn: first and last character of the first ALPN value when both are
 * alphanumeric, else first and last hex digit of that value, "00" if none;
 * cipher hash: first 12 hex of SHA-256 over the sorted 4-hex list joined by
 * ','; ext hash: same over the sorted extensions without SNI (0000) and
 * ALPN (0010), then '_' and the signature algorithms in wire order (no '_'
 * when there are none); an empty list gives "000000000000".
 * Deviations: for an SSLv2 hello only the specs that are TLS suites
 * (00 XX YY) are counted and hashed; the DTLS/QUIC prefixes never apply
 * (we only see TCP); a list longer than DIS_TLS_JA4_LIST_MAX (config.h)
 * is hashed over its first DIS_TLS_JA4_LIST_MAX values (the count field
 * reads 99 either way). */
static void compute_ja4(const struct ch *c, char out[40])
{
    uint32_t ver = c->version;
    char alpn[3] = "00";
    char bhash[13] = "000000000000", chash[13] = "000000000000";
    size_t nc = 0, ne = 0, nall = 0;

    /* version: highest supported_versions value */
    struct tls_rd sv = ext_list(c->sv, 1);
    if (!c->sv.err) {
        uint32_t best = 0;
        while (tls_rd_left(&sv) >= 2) {
            uint32_t v = tls_rd_uint(&sv, 2);
            if (!tls_is_grease(v) && v > best)
                best = v;
        }
        if (best)
            ver = best;
    }

    /* ciphers: nc counts them all, the first DIS_TLS_JA4_LIST_MAX are kept */
    uint16_t cs[DIS_TLS_JA4_LIST_MAX];
    size_t ncs = 0;
    struct tls_rd r = c->ciphers;
    while (tls_rd_left(&r) >= c->spec) {
        uint32_t v = tls_rd_uint(&r, c->spec);
        if (v > 0xffffu || tls_is_grease(v))
            continue;
        nc++;
        if (ncs < DIS_TLS_JA4_LIST_MAX)
            cs[ncs++] = (uint16_t)v;
    }
    if (ncs > 0) {
        struct dg g;
        int first = 1;
        sort_u16(cs, ncs);
        dg_init(&g, md_get(&g_sha256, "SHA256"));
        for (size_t i = 0; i < ncs; i++)
            dg_hex4(&g, cs[i], &first);
        dg_hex(&g, bhash, 12);
    }

    /* extensions: nall counts them all (without GREASE), et keeps the
     * first DIS_TLS_JA4_LIST_MAX without GREASE, SNI and ALPN */
    uint16_t et[DIS_TLS_JA4_LIST_MAX];
    struct tls_rd e = tls_rd_make(c->ext, c->ext_len);
    while (tls_rd_left(&e) >= 4) {
        uint32_t type = tls_rd_uint(&e, 2);
        (void)tls_rd_sub(&e, tls_rd_uint(&e, 2));
        if (e.err)
            break;
        if (tls_is_grease(type))
            continue;
        nall++;
        if (type != 0x0000 && type != 0x0010 && ne < DIS_TLS_JA4_LIST_MAX)
            et[ne++] = (uint16_t)type;
    }
    if (ne > 0) {
        struct dg g;
        int first = 1;
        sort_u16(et, ne);
        dg_init(&g, md_get(&g_sha256, "SHA256"));
        for (size_t i = 0; i < ne; i++)
            dg_hex4(&g, et[i], &first);
        struct tls_rd sa = ext_list(c->sig, 2);
        first = 1;
        while (tls_rd_left(&sa) >= 2) {
            uint32_t v = tls_rd_uint(&sa, 2);
            if (tls_is_grease(v))
                continue;
            if (first)
                dg_put(&g, "_", 1);
            dg_hex4(&g, (uint16_t)v, &first);
        }
        dg_hex(&g, chash, 12);
    }

    /* first ALPN value */
    struct tls_rd al = ext_list(c->alpn, 2);
    if (!al.err && tls_rd_left(&al) > 0) {
        uint32_t n = tls_rd_uint(&al, 1);
        struct tls_rd v = tls_rd_sub(&al, n);
        if (!v.err && v.len > 0) {
            uint8_t f = v.p[0], l = v.p[v.len - 1];
            static const char hx[] = "0123456789abcdef";
            if (alnum(f) && alnum(l)) {
                alpn[0] = (char)f;
                alpn[1] = (char)l;
            } else {
                alpn[0] = hx[f >> 4];
                alpn[1] = hx[l & 0xf];
            }
        }
    }

    /* "t%s%c%02u%02u%s_%s_%s": at most 36 bytes + NUL; a hash is "" when
     * its digest failed */
    char *o = out;
    size_t hl;
    *o++ = 't';
    memcpy(o, ja4_version(ver), 2);
    o += 2;
    *o++ = c->has_sni ? 'd' : 'i';
    if (nc > 99)
        nc = 99;
    if (nall > 99)
        nall = 99;
    *o++ = (char)('0' + nc / 10);
    *o++ = (char)('0' + nc % 10);
    *o++ = (char)('0' + nall / 10);
    *o++ = (char)('0' + nall % 10);
    *o++ = alpn[0];
    *o++ = alpn[1];
    *o++ = '_';
    hl = strlen(bhash);                 /* our own text */
    memcpy(o, bhash, hl);
    o += hl;
    *o++ = '_';
    hl = strlen(chash);
    memcpy(o, chash, hl);
    o += hl;
    *o = '\0';
}

/* Fills the ClientHello fields of t->info from a parsed hello. */
static void ch_fill(tls_parser_t *t, const struct ch *c)
{
    struct tls_info *ti = &t->info;

    ti->client_hello_seen = 1;
    ti->client_version = c->version;

    /* SNI: first host_name entry */
    struct tls_rd sl = ext_list(c->sni, 2);
    while (tls_rd_left(&sl) >= 3) {
        uint32_t type = tls_rd_uint(&sl, 1);
        struct tls_rd name = tls_rd_sub(&sl, tls_rd_uint(&sl, 2));
        if (sl.err)
            break;
        if (type == 0) {
            mt_escape(ti->sni, sizeof ti->sni, name.p, name.len);
            break;
        }
    }
    if (c->has_sni && sl.err)
        ti->malformed = 1;

    /* ALPN: first protocol */
    struct tls_rd al = ext_list(c->alpn, 2);
    if (tls_rd_left(&al) > 0) {
        struct tls_rd v = tls_rd_sub(&al, tls_rd_uint(&al, 1));
        if (!v.err)
            mt_escape(ti->alpn, sizeof ti->alpn, v.p, v.len);
        else
            ti->malformed = 1;
    }

    /* supported_versions, as names */
    struct tls_rd sv = ext_list(c->sv, 1);
    size_t used = 0;
    while (tls_rd_left(&sv) >= 2) {
        uint32_t v = tls_rd_uint(&sv, 2);
        char name[16];
        if (tls_is_grease(v))
            continue;
        tls_version_name((uint16_t)v, name, sizeof name);
        size_t nl = strlen(name);       /* our own text */
        if (used + (used ? 1 : 0) + nl + 1 > sizeof ti->offered_versions)
            break;
        if (used)
            ti->offered_versions[used++] = ' ';
        memcpy(ti->offered_versions + used, name, nl + 1);
        used += nl;
    }

    /* weak suites offered */
    struct tls_rd r = c->ciphers;
    while (tls_rd_left(&r) >= c->spec) {
        uint32_t v = tls_rd_uint(&r, c->spec);
        if (tls_is_grease(v))
            continue;
        if (v > 0xffffu) {              /* SSLv2-only spec: all weak */
            ti->offered_weak_ciphers++;
            continue;
        }
        if (cipher_weakness_id((uint16_t)v))
            ti->offered_weak_ciphers++;
    }

    compute_ja3(c, ti->ja3);
    compute_ja4(c, ti->ja4);
}

/* Resumption by session id (TLS <= 1.2): the server echoed the client's
 * non-empty session id.  Called after either hello. */
static void check_sid_resumption(tls_parser_t *t)
{
    struct tls_info *ti = &t->info;
    if (ti->client_hello_seen && ti->server_hello_seen && !ti->hello_retry_request
        && ti->version < 0x0304 && t->client_sid_len > 0
        && t->client_sid_len == t->server_sid_len
        && memcmp(t->client_sid, t->server_sid, t->client_sid_len) == 0)
        ti->resumed = 1;
}

/* ClientHello body (see tls_int.h). */
void tls_parse_client_hello(tls_parser_t *t, const uint8_t *p, size_t len)
{
    struct ch c;
    struct tls_rd r = tls_rd_make(p, len);

    memset(&c, 0, sizeof c);
    c.sni = c.alpn = c.sv = c.groups = c.pf = c.sig = rd_absent();
    c.spec = 2;
    c.version = (uint16_t)tls_rd_uint(&r, 2);
    (void)tls_rd_sub(&r, 32);                           /* random */
    struct tls_rd sid = tls_rd_sub(&r, tls_rd_uint(&r, 1));
    c.ciphers = tls_rd_sub(&r, tls_rd_uint(&r, 2));
    (void)tls_rd_sub(&r, tls_rd_uint(&r, 1));           /* compression */
    if (r.err || sid.len > 32 || c.ciphers.len % 2) {
        t->info.malformed = 1;
        return;
    }
    if (tls_rd_left(&r) > 0) {
        struct tls_rd ex = tls_rd_sub(&r, tls_rd_uint(&r, 2));
        if (r.err || tls_rd_left(&r) > 0)
            t->info.malformed = 1;
        if (!ex.err && ch_extensions(&c, ex.p, ex.len) < 0)
            t->info.malformed = 1;
    }
    memcpy(t->client_sid, sid.p, sid.len);
    t->client_sid_len = (uint8_t)sid.len;
    ch_fill(t, &c);
    check_sid_resumption(t);
}

/* SSLv2 CLIENT-HELLO record body (see tls_int.h):
 * msg_type(1)=1 version(2) cipher_specs_len(2) session_id_len(2)
 * challenge_len(2) cipher_specs session_id challenge. */
void tls_parse_client_hello_v2(tls_parser_t *t, const uint8_t *p, size_t len)
{
    struct ch c;
    struct tls_rd r = tls_rd_make(p, len);

    memset(&c, 0, sizeof c);
    c.sni = c.alpn = c.sv = c.groups = c.pf = c.sig = rd_absent();
    c.spec = 3;
    uint32_t type = tls_rd_uint(&r, 1);
    c.version = (uint16_t)tls_rd_uint(&r, 2);
    uint32_t cslen = tls_rd_uint(&r, 2);
    uint32_t sidlen = tls_rd_uint(&r, 2);
    uint32_t chlen = tls_rd_uint(&r, 2);
    c.ciphers = tls_rd_sub(&r, cslen);
    (void)tls_rd_sub(&r, sidlen);
    (void)tls_rd_sub(&r, chlen);
    if (r.err || type != 1 || cslen % 3) {
        t->info.malformed = 1;
        return;
    }
    t->info.sslv2_hello = 1;
    c.ext = p;
    c.ext_len = 0;
    ch_fill(t, &c);
}

/* ---- ServerHello ----------------------------------------------------- */

static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02,
    0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
    0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c
};

/* ServerHello / HelloRetryRequest body (see tls_int.h):
 * legacy_version(2) random(32) session_id<0..32> cipher(2) compression(1)
 * [extensions<0..2^16-1>]. */
int tls_parse_server_hello(tls_parser_t *t, const uint8_t *p, size_t len)
{
    struct tls_info *ti = &t->info;
    struct tls_rd r = tls_rd_make(p, len);
    uint32_t sv = 0;
    int psk = 0;

    uint16_t legacy = (uint16_t)tls_rd_uint(&r, 2);
    struct tls_rd rnd = tls_rd_sub(&r, 32);
    struct tls_rd sid = tls_rd_sub(&r, tls_rd_uint(&r, 1));
    uint16_t cipher = (uint16_t)tls_rd_uint(&r, 2);
    uint8_t comp = (uint8_t)tls_rd_uint(&r, 1);
    if (r.err || sid.len > 32) {
        ti->malformed = 1;
        return -1;
    }
    if (tls_rd_left(&r) > 0) {
        struct tls_rd ex = tls_rd_sub(&r, tls_rd_uint(&r, 2));
        if (r.err || tls_rd_left(&r) > 0)
            ti->malformed = 1;
        while (tls_rd_left(&ex) > 0) {
            uint32_t type = tls_rd_uint(&ex, 2);
            struct tls_rd d = tls_rd_sub(&ex, tls_rd_uint(&ex, 2));
            if (ex.err) {
                ti->malformed = 1;
                break;
            }
            if (type == 43 && d.len == 2)
                sv = tls_rd_uint(&d, 2);
            else if (type == 41)
                psk = 1;
        }
    }
    int hrr = memcmp(rnd.p, hrr_random, sizeof hrr_random) == 0;

    ti->server_hello_seen = 1;
    if (hrr)
        ti->hello_retry_request = 1;
    ti->version = sv ? (uint16_t)sv : legacy;
    tls_version_name(ti->version, ti->version_name, sizeof ti->version_name);
    ti->cipher = cipher;
    tls_cipher_name(cipher, ti->cipher_name, sizeof ti->cipher_name);
    ti->compression = comp;
    memcpy(t->server_sid, sid.p, sid.len);
    t->server_sid_len = (uint8_t)sid.len;
    if (!hrr && ti->version == 0x0304 && psk) {
        t->server_psk = 1;
        ti->resumed = 1;                /* 1.3 PSK resumption: no cert */
    }
    check_sid_resumption(t);
    return hrr;
}

/* SSLv2 SERVER-HELLO record body (see tls_int.h): msg_type(1)=4
 * session_id_hit(1) certificate_type(1) version(2) certificate_len(2)
 * cipher_specs_len(2) connection_id_len(2) certificate cipher_specs
 * connection_id.  The negotiated spec is chosen later by the client
 * (CLIENT-MASTER-KEY), so no cipher is reported. */
void tls_parse_server_hello_v2(tls_parser_t *t, const uint8_t *p, size_t len)
{
    struct tls_info *ti = &t->info;
    struct tls_rd r = tls_rd_make(p, len);

    uint32_t type = tls_rd_uint(&r, 1);
    uint32_t hit = tls_rd_uint(&r, 1);
    uint32_t ctype = tls_rd_uint(&r, 1);
    uint16_t ver = (uint16_t)tls_rd_uint(&r, 2);
    uint32_t certlen = tls_rd_uint(&r, 2);
    uint32_t cslen = tls_rd_uint(&r, 2);
    uint32_t cidlen = tls_rd_uint(&r, 2);
    struct tls_rd cert = tls_rd_sub(&r, certlen);
    (void)tls_rd_sub(&r, cslen);
    (void)tls_rd_sub(&r, cidlen);
    if (r.err || type != 4) {
        ti->malformed = 1;
        return;
    }
    ti->server_hello_seen = 1;
    ti->version = ver;
    tls_version_name(ver, ti->version_name, sizeof ti->version_name);
    if (hit)
        ti->resumed = 1;
    if (ctype == 1 && cert.len > 0 && !t->server_cert_msg) {
        uint32_t off = 0, clen = (uint32_t)cert.len;
        t->server_cert_msg = 1;
        if (tls_chain_alloc(ti, 1) < 0) {
            ti->malformed = 1;
            return;
        }
        if (tls_cert_fill(&ti->chain[0], cert.p, cert.len) < 0)
            ti->malformed = 1;
        ti->cert_count = 1;
        tls_keep_chain(t, cert.p, &off, &clen, 1);
    }
}
