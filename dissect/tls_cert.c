/*
 * tls_cert.c — the server certificate chain of a TLS <= 1.2 handshake:
 * X.509 facts per certificate (OpenSSL d2i_X509, bounded by the entry
 * length), the DER kept for later verification, and tls_verify_chain().
 *
 * Every string taken from a certificate goes through mt_escape().
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include "escape.h"
#include "tls.h"
#include "tls_int.h"

/* Lower-case hex SHA-256 of p[0..len) into out (65 bytes); "" on failure. */
static void sha256_hex(const uint8_t *p, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    static const char hx[] = "0123456789abcdef";

    out[0] = '\0';
    if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return;
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 0xf];
    }
    out[64] = '\0';
}

/* One-line RFC 2253 form of an X.509 name, escaped.  Non-ASCII is left as
 * UTF-8 (ESC_MSB dropped from XN_FLAG_RFC2253) so that mt_escape keeps
 * valid UTF-8 readable instead of doubling OpenSSL's "\XX" escapes. */
static void name_str(const X509_NAME *name, char *dst, size_t dstsz)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;

    dst[0] = '\0';
    if (!b)
        return;
    if (name && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        n = BIO_get_mem_data(b, &data);
        if (n > 0 && data)
            mt_escape(dst, dstsz, (const uint8_t *)data, (size_t)n);
    }
    BIO_free(b);
}

/* DNS subjectAltNames, escaped, space-separated; names that no longer fit
 * are dropped and " ..." ends the list (room for it is always kept). */
static void sans_str(X509 *x, char *dst, size_t dstsz)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    size_t used = 0;
    char one[MT_STR];

    dst[0] = '\0';
    if (!gens)
        return;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (!g || g->type != GEN_DNS || !g->d.dNSName)
            continue;
        const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
        int sl = ASN1_STRING_length(g->d.dNSName);
        if (!s || sl < 0)
            continue;
        size_t n = mt_escape(one, sizeof one, s, (size_t)sl);
        size_t need = (used ? 1 : 0) + n;
        if (used + need + 4 + 1 > dstsz) {
            memcpy(dst + used, used ? " ..." : "...", used ? 5 : 4);
            break;
        }
        if (used)
            dst[used++] = ' ';
        memcpy(dst + used, one, n);
        used += n;
        dst[used] = '\0';
    }
    GENERAL_NAMES_free(gens);
}

/* ASN1_TIME -> epoch seconds (UTC); 0 when it does not convert. */
static double asn1_epoch(const ASN1_TIME *at)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!at || ASN1_TIME_to_tm(at, &tm) != 1)
        return 0;
    return (double)timegm(&tm);
}

/* Short key type name ("RSA", "EC", ...). */
static void key_type_str(EVP_PKEY *k, char *dst, size_t dstsz)
{
    const char *n = NULL;
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:     n = "RSA"; break;
    case EVP_PKEY_RSA_PSS: n = "RSA-PSS"; break;
    case EVP_PKEY_EC:      n = "EC"; break;
    case EVP_PKEY_DSA:     n = "DSA"; break;
    case EVP_PKEY_DH:      n = "DH"; break;
    case EVP_PKEY_ED25519: n = "Ed25519"; break;
    case EVP_PKEY_ED448:   n = "Ed448"; break;
    default:               n = EVP_PKEY_get0_type_name(k); break;
    }
    if (!n)
        n = "unknown";
    mt_escape(dst, dstsz, (const uint8_t *)n, strlen(n));
}

/* Fills ci from one DER certificate (see tls_int.h). */
int tls_cert_fill(struct tls_cert_info *ci, const uint8_t *der, size_t len)
{
    memset(ci, 0, sizeof *ci);
    sha256_hex(der, len, ci->sha256);
    if (len == 0 || len > (size_t)LONG_MAX)
        return -1;

    const unsigned char *q = der;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    if (!x) {
        ERR_clear_error();
        return -1;
    }
    name_str(X509_get_subject_name(x), ci->subject, sizeof ci->subject);
    name_str(X509_get_issuer_name(x), ci->issuer, sizeof ci->issuer);
    sans_str(x, ci->sans, sizeof ci->sans);
    ci->not_before = asn1_epoch(X509_get0_notBefore(x));
    ci->not_after = asn1_epoch(X509_get0_notAfter(x));

    EVP_PKEY *k = X509_get0_pubkey(x);          /* owned by x */
    if (k) {
        key_type_str(k, ci->key_type, sizeof ci->key_type);
        ci->key_bits = EVP_PKEY_get_bits(k);
    }

    int nid = X509_get_signature_nid(x);
    const char *sn = nid != NID_undef ? OBJ_nid2ln(nid) : NULL;
    if (sn) {
        mt_escape(ci->sig_alg, sizeof ci->sig_alg, (const uint8_t *)sn, strlen(sn));
    } else {
        const X509_ALGOR *alg = NULL;
        const ASN1_OBJECT *obj = NULL;
        char oid[80];
        X509_get0_signature(NULL, &alg, x);
        if (alg)
            X509_ALGOR_get0(&obj, NULL, NULL, alg);
        int n = obj ? OBJ_obj2txt(oid, sizeof oid, obj, 1) : -1;
        if (n > 0)
            mt_escape(ci->sig_alg, sizeof ci->sig_alg, (const uint8_t *)oid,
                      strnlen(oid, sizeof oid));
    }

    /* self-signed: issuer == subject and its own key verifies it */
    if (k && X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0
        && X509_verify(x, k) == 1)
        ci->self_signed = 1;

    X509_free(x);
    ERR_clear_error();
    return 0;
}

/* Keeps the DER of the first n certificates (see tls_int.h). */
void tls_keep_chain(tls_parser_t *t, const uint8_t *msg, const uint32_t *off,
                    const uint32_t *len, unsigned n)
{
    size_t total = 0;
    unsigned keep = 0;

    tls_chain_release(t);
    while (keep < n && keep < TLS_CHAIN_MAX && total + len[keep] <= TLS_VERIFY_DER_MAX)
        total += len[keep++];
    if (keep == 0 || total == 0)
        return;
    t->der = malloc(total);
    if (!t->der)
        return;
    total = 0;
    for (unsigned i = 0; i < keep; i++) {
        memcpy(t->der + total, msg + off[i], len[i]);
        t->der_off[i] = (uint32_t)total;
        t->der_len[i] = len[i];
        total += len[i];
    }
    t->der_n = keep;
}

/* Makes ti->chain n zeroed entries (replacing an earlier chain; NULL when
 * n is 0).  0, or -1 on allocation failure (no chain then). */
int tls_chain_alloc(struct tls_info *ti, unsigned n)
{
    free(ti->chain);
    ti->chain = NULL;
    ti->cert_count = 0;
    if (n == 0)
        return 0;
    ti->chain = calloc(n, sizeof *ti->chain);
    return ti->chain != NULL ? 0 : -1;
}

/* Frees the kept DER (see tls_int.h). */
void tls_chain_release(tls_parser_t *t)
{
    if (!t)
        return;
    free(t->der);
    t->der = NULL;
    t->der_n = 0;
}

/* Certificate message body (TLS <= 1.2): certificate_list<0..2^24-1> of
 * ASN.1Cert<1..2^24-1> (see tls_int.h). */
void tls_parse_certificate(tls_parser_t *t, const uint8_t *p, size_t len)
{
    struct tls_info *ti = &t->info;
    struct tls_rd r = tls_rd_make(p, len);
    uint32_t off[TLS_CHAIN_MAX], clen[TLS_CHAIN_MAX];
    unsigned n = 0;

    struct tls_rd list = tls_rd_sub(&r, tls_rd_uint(&r, 3));
    if (r.err || tls_rd_left(&r) > 0)
        ti->malformed = 1;
    while (tls_rd_left(&list) > 0 && n < TLS_CHAIN_MAX) {
        struct tls_rd c = tls_rd_sub(&list, tls_rd_uint(&list, 3));
        if (list.err) {
            ti->malformed = 1;
            break;
        }
        off[n] = (uint32_t)(c.p - p);
        clen[n] = (uint32_t)c.len;
        n++;
    }
    if (tls_chain_alloc(ti, n) < 0) {
        ti->malformed = 1;              /* out of memory: nothing read */
        return;
    }
    for (unsigned i = 0; i < n; i++)
        if (tls_cert_fill(&ti->chain[i], p + off[i], clen[i]) < 0)
            ti->malformed = 1;
    ti->cert_count = (int)n;
    tls_keep_chain(t, p, off, clen, n);
}

/* ---- verification ---------------------------------------------------- */

static X509_STORE *g_store;
static char *g_store_file;      /* NULL: system default paths */

/* The system trust store: the default CA file (loaded once) and the hashed
 * CA directory, both overridable by SSL_CERT_FILE / SSL_CERT_DIR, as
 * X509_STORE_set_default_paths() sets up, but without the OSSL_STORE
 * lookup OpenSSL 3 adds there: that one lists the whole certificate
 * directory on every issuer lookup (half the cost of a verification).
 * Returns 1 when at least one source could be used. */
static int default_paths(X509_STORE *s)
{
    X509_LOOKUP *file = X509_STORE_add_lookup(s, X509_LOOKUP_file());
    X509_LOOKUP *dir = X509_STORE_add_lookup(s, X509_LOOKUP_hash_dir());
    int ok = 0;

    if (file && X509_LOOKUP_load_file(file, NULL, X509_FILETYPE_DEFAULT) == 1)
        ok = 1;
    if (dir && X509_LOOKUP_add_dir(dir, NULL, X509_FILETYPE_DEFAULT) == 1)
        ok = 1;
    ERR_clear_error();              /* a missing default file is not an error */
    return ok;
}

/* The trust store for ca_file (NULL: system defaults), cached. */
static X509_STORE *trust_store(const char *ca_file)
{
    if (g_store && ((!ca_file && !g_store_file)
                    || (ca_file && g_store_file && strcmp(ca_file, g_store_file) == 0)))
        return g_store;
    X509_STORE_free(g_store);
    free(g_store_file);
    g_store = NULL;
    g_store_file = NULL;

    X509_STORE *s = X509_STORE_new();
    if (!s)
        return NULL;
    int ok = ca_file ? X509_STORE_load_file(s, ca_file) : default_paths(s);
    if (ok != 1) {
        X509_STORE_free(s);
        ERR_clear_error();
        return NULL;
    }
    if (ca_file) {
        g_store_file = strdup(ca_file);
        if (!g_store_file) {
            X509_STORE_free(s);
            return NULL;
        }
    }
    g_store = s;
    return s;
}

/* Copies a reason into the caller's buffer (which may be NULL). */
static void set_why(char *why, size_t whysz, const char *s)
{
    if (why && whysz > 0)
        snprintf(why, whysz, "%s", s);
}

/* Decodes kept certificate i (NULL if it does not parse); caller frees. */
static X509 *der_cert(const tls_parser_t *t, unsigned i)
{
    const unsigned char *q = t->der + t->der_off[i];
    return d2i_X509(NULL, &q, (long)t->der_len[i]);
}

/* Verifies the kept chain (see tls_int.h). */
int tls_verify_chain(const tls_parser_t *t, double at_time, const char *ca_file,
                     char *why, size_t whysz)
{
    int ret = -1;
    X509 *leaf = NULL;
    STACK_OF(X509) *rest = NULL;
    X509_STORE_CTX *ctx = NULL;

    set_why(why, whysz, "");
    if (!t || !t->der || t->der_n == 0) {
        set_why(why, whysz, "no certificate chain seen");
        return -1;
    }
    X509_STORE *store = trust_store(ca_file);
    if (!store) {
        set_why(why, whysz, "cannot load the trust store");
        return -1;
    }
    leaf = der_cert(t, 0);
    rest = sk_X509_new_null();
    ctx = X509_STORE_CTX_new();
    if (!leaf || !rest || !ctx) {
        set_why(why, whysz, "certificate does not parse");
        goto out;
    }
    for (unsigned i = 1; i < t->der_n; i++) {
        X509 *x = der_cert(t, i);
        if (x && !sk_X509_push(rest, x))
            X509_free(x);
    }
    if (X509_STORE_CTX_init(ctx, store, leaf, rest) != 1)
        goto out;
    (void)X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (at_time > 0)
        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)at_time);
    int rc = X509_verify_cert(ctx);
    if (rc == 1) {
        ret = 1;
    } else if (rc == 0) {
        ret = 0;
        set_why(why, whysz, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
out:
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(rest, X509_free);
    X509_free(leaf);
    ERR_clear_error();
    return ret;
}

/* Frees the cached OpenSSL objects (see tls_int.h). */
void tls_lib_cleanup(void)
{
    X509_STORE_free(g_store);
    free(g_store_file);
    g_store = NULL;
    g_store_file = NULL;
    tls_hello_cleanup();
}
