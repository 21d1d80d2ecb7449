/*
 * smtp_tls.c — what the SMTP dissector learns from the TLS handshake:
 * every TLS byte of the connection (after the STARTTLS 220, from byte one
 * for implicit TLS, or after a mid-stream start inside TLS) is handed to a
 * tls_parser_t owned by the session, created at the first such byte.
 *
 * Summary.  Once the reader says the handshake is complete (the server's
 * Certificate, when there is one, comes before that point), after
 * SMTP_TLS_FEED_MAX bytes, or at the end of the session, whichever is
 * first, what it learnt is taken: the strings go
 * into the session record, the chain is copied (leaf first, for the store),
 * the chain is verified with OpenSSL (tls_verify_chain) and the parser is
 * freed.  From then on TLS bytes are only counted: application data costs
 * nothing else.
 *
 * Failed handshake (smtp_tls_failure).  After a STARTTLS 220, or for
 * implicit TLS, with a ClientHello sent and server bytes captured: the
 * server never answered in TLS; or a cleartext alert (fatal, close_notify
 * or user_canceled) from either side before the handshake completed; or the
 * server's TLS stream, read cleanly from its first byte, held no ServerHello
 * and the handshake did not complete.  A ServerHello that was sent but did
 * not parse, or a server stream cut by a gap, is "cannot tell", never a
 * failure.
 *
 * Findings (groups E and F, once per session).  "Submission" is
 * smtp_is_submission() (port 587/465 or AUTH used), "relay" otherwise.
 *   tls_version_weak      SSLv2/SSLv3/TLSv1.0/TLSv1.1 negotiated: high / medium
 *   tls_cipher_weak       NULL: critical; EXPORT, DES, RC4, anon: high /
 *                         medium; only 3DES or static RSA: low
 *   tls_compression       compression method != 0: low
 *   tls13_cert_not_observable   TLS 1.3: info
 *   tls_no_sni            no server_name in the ClientHello: info, raised
 *                         only when a certificate was seen (it tells why the
 *                         name check used the greeting; without a
 *                         certificate it is noise on SMTP)
 *   cert_expired_or_not_yet_valid  leaf outside its validity at the time
 *                         the Certificate was read (else the session start):
 *                         high / low
 *   cert_untrusted_or_self_signed  the chain does not verify (evidence: the
 *                         OpenSSL reason), or a self-signed leaf that the
 *                         trust store does not vouch for: high / low.  The
 *                         trust check runs at the packet time moved into
 *                         the leaf's validity window, so that an expired
 *                         leaf is reported once (by the finding above);
 *                         "cannot tell" raises nothing
 *   cert_name_mismatch    the SNI not covered by the leaf's DNS SANs (CN
 *                         only when there are none): high / low; without SNI
 *                         the greeting's host name is the reference, always
 *                         low (low confidence)
 *   cert_weak_key_or_signature  RSA/DSA key < 2048 bits or EC < 224 (leaf
 *                         and intermediates), MD2/MD4/MD5/SHA-1 signature on
 *                         a certificate that is not self-signed: low
 * Resumed handshakes show no certificate: no certificate finding at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "smtp_int.h"
#include "tls_int.h"

/* ---- helpers ---------------------------------------------------------------------- */

/* Copies the NUL-terminated src (our own escaped text) into dst, cut to fit. */
static void copy_str(char *dst, size_t dstsz, const char *src)
{
    size_t n = strnlen(src, dstsz - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* ASCII case-insensitive equality of n bytes. */
static int ci_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Epoch seconds as "YYYY-MM-DDTHH:MM:SSZ". */
static void fmt_time(double t, char *dst, size_t dstsz)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(dst, dstsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(dst, dstsz, "%.0f", t);
}

/* The certificate parsed (tls_cert_fill fills only sha256 otherwise). */
static int cert_parsed(const struct tls_cert_info *c)
{
    return c->subject[0] != '\0' || c->key_type[0] != '\0' || c->not_after != 0;
}

static const char *alert_name(uint8_t d)
{
    switch (d) {
    case 0:   return "close_notify";
    case 10:  return "unexpected_message";
    case 20:  return "bad_record_mac";
    case 22:  return "record_overflow";
    case 40:  return "handshake_failure";
    case 42:  return "bad_certificate";
    case 43:  return "unsupported_certificate";
    case 44:  return "certificate_revoked";
    case 45:  return "certificate_expired";
    case 46:  return "certificate_unknown";
    case 47:  return "illegal_parameter";
    case 48:  return "unknown_ca";
    case 49:  return "access_denied";
    case 50:  return "decode_error";
    case 51:  return "decrypt_error";
    case 70:  return "protocol_version";
    case 71:  return "insufficient_security";
    case 80:  return "internal_error";
    case 86:  return "inappropriate_fallback";
    case 90:  return "user_canceled";
    case 109: return "missing_extension";
    case 110: return "unsupported_extension";
    case 112: return "unrecognized_name";
    case 116: return "certificate_required";
    case 120: return "no_application_protocol";
    default:  return NULL;
    }
}

/* "fatal handshake_failure", "warning 113", ... */
static void alert_words(const struct tls_sum *t, char *dst, size_t dstsz)
{
    const char *lvl = t->alert_level == 2 ? "fatal" : t->alert_level == 1 ? "warning"
                                                                            : "level ?";
    const char *n = alert_name(t->alert_desc);

    if (n != NULL)
        snprintf(dst, dstsz, "%s %s", lvl, n);
    else
        snprintf(dst, dstsz, "%s %u", lvl, (unsigned)t->alert_desc);
}

/* ---- feeding ---------------------------------------------------------------------- */

/*
 * Takes what the reader learnt (see the file comment): strings into the
 * session record, the chain copied, the chain verified, the parser freed.
 * Runs once; later TLS bytes are only counted.
 */
static void take_summary(struct dis_session *s)
{
    struct tls_sum *t = &s->tsum;
    const struct tls_info *ti;
    int n;

    if (t->taken)
        return;
    t->taken = 1;
    t->verify = -2;
    if (s->tlsp == NULL)
        return;
    ti = tls_result(s->tlsp);
    t->ch_seen = ti->client_hello_seen;
    t->sh_seen = ti->server_hello_seen;
    t->hrr = ti->hello_retry_request;
    t->version = ti->version;
    t->compression = ti->compression;
    t->alert_seen = ti->alert_seen;
    t->alert_from_client = ti->alert_from_client;
    t->alert_level = ti->alert_level;
    t->alert_desc = ti->alert_desc;
    t->complete = ti->handshake_complete;
    t->resumed = ti->resumed;
    t->malformed |= ti->malformed;
    if (ti->client_hello_seen) {
        t->sni = ti->sni[0] != '\0';
        copy_str(s->out.tls_sni, sizeof s->out.tls_sni, ti->sni);
        copy_str(s->out.tls_alpn, sizeof s->out.tls_alpn, ti->alpn);
        copy_str(s->out.ja3, sizeof s->out.ja3, ti->ja3);
        copy_str(s->out.ja4, sizeof s->out.ja4, ti->ja4);
    }
    if (ti->server_hello_seen) {
        copy_str(s->out.tls_version, sizeof s->out.tls_version, ti->version_name);
        copy_str(s->out.tls_cipher, sizeof s->out.tls_cipher, ti->cipher_name);
    }
    s->out.tls_resumed = ti->resumed ? 1 : 0;
    s->out.tls_handshake_complete = ti->handshake_complete ? 1 : 0;

    n = ti->cert_count;
    if (n > (int)TLS_CHAIN_MAX)
        n = (int)TLS_CHAIN_MAX;
    if (n > 0) {
        const struct tls_cert_info *leaf = &ti->chain[0];

        copy_str(s->out.cert_sha256, sizeof s->out.cert_sha256, leaf->sha256);
        copy_str(s->out.cert_subject, sizeof s->out.cert_subject, leaf->subject);
        copy_str(s->out.cert_issuer, sizeof s->out.cert_issuer, leaf->issuer);
        copy_str(s->out.cert_sans, sizeof s->out.cert_sans, leaf->sans);
        copy_str(s->out.cert_key_type, sizeof s->out.cert_key_type, leaf->key_type);
        copy_str(s->out.cert_sig_alg, sizeof s->out.cert_sig_alg, leaf->sig_alg);
        s->out.cert_not_before = leaf->not_before;
        s->out.cert_not_after = leaf->not_after;
        s->out.cert_key_bits = leaf->key_bits;
        s->out.cert_self_signed = leaf->self_signed;
        s->chain = malloc((size_t)n * sizeof *s->chain);
        if (s->chain != NULL) {
            memcpy(s->chain, ti->chain, (size_t)n * sizeof *s->chain);
            s->chain_len = n;
        }
        if (cert_parsed(leaf)) {
            double at = s->cert_ts > 0 ? s->cert_ts : s->out.start_ts;

            /* trust at a time inside the leaf's own validity: its expiry is
             * cert_expired_or_not_yet_valid's business */
            if (leaf->not_before > 0 && leaf->not_after > leaf->not_before + 2.0) {
                if (at < leaf->not_before + 1.0)
                    at = leaf->not_before + 1.0;
                if (at > leaf->not_after - 1.0)
                    at = leaf->not_after - 1.0;
            }
            t->verify = tls_verify_chain(s->tlsp, at, s->par.ca_file, t->why,
                                         sizeof t->why);
        }
    }
    tls_chain_release(s->tlsp);
    tls_parser_free(s->tlsp);
    s->tlsp = NULL;
}

/* TLS bytes of role (all of them, in order), at packet time ts. */
void smtp_tls_feed(struct dis_session *s, int role, const uint8_t *p, size_t len,
                   double ts)
{
    const struct tls_info *ti;
    int ch, sh, cert, alert;

    if (s->tsum.taken || p == NULL || len == 0)
        return;
    if (s->tlsp == NULL) {
        s->tlsp = tls_parser_new();
        if (s->tlsp == NULL) {
            s->tsum.malformed = 1;      /* nothing read: "cannot tell" */
            take_summary(s);
            return;
        }
        for (int r = 0; r < 2; r++)
            if (s->tls_gap[r])
                tls_gap(s->tlsp, r == R_CLI, 1);
    }
    ti = tls_result(s->tlsp);
    ch = ti->client_hello_seen;
    sh = ti->server_hello_seen;
    cert = ti->cert_count > 0;
    alert = ti->alert_seen;
    tls_feed(s->tlsp, role == R_CLI, p, len);
    s->tls_fed += len;
    if (!ch && ti->client_hello_seen)
        s->ch_ts = ts;
    if (!sh && ti->server_hello_seen)
        s->sh_ts = ts;
    if (!cert && ti->cert_count > 0)
        s->cert_ts = ts;
    if (!alert && ti->alert_seen)
        s->alert_ts = ts;
    if (ti->handshake_complete || s->tls_fed > SMTP_TLS_FEED_MAX)
        take_summary(s);
}

/* len bytes of role's TLS stream are missing: that direction is no longer
 * read (the reader cannot find record boundaries again). */
void smtp_tls_gap(struct dis_session *s, int role, uint64_t len)
{
    if (len == 0)
        return;
    s->tls_gap[role] = 1;
    if (s->tlsp != NULL && !s->tsum.taken)
        tls_gap(s->tlsp, role == R_CLI, len);
}

/* End of the session: the summary is taken now if it was not yet. */
void smtp_tls_finish(struct dis_session *s)
{
    take_summary(s);
}

void smtp_tls_free(struct dis_session *s)
{
    if (s->tlsp != NULL) {
        tls_parser_free(s->tlsp);
        s->tlsp = NULL;
    }
    free(s->chain);
    s->chain = NULL;
    s->chain_len = 0;
}

/* ---- failed handshake --------------------------------------------------------------- */

/* Why the handshake counts as failed (file comment); HSF_NONE when it did
 * not, when no handshake was attempted or when the capture cannot tell.
 * Valid after smtp_tls_finish. */
enum hs_fail smtp_tls_failure(const struct dis_session *s)
{
    const struct tls_sum *t = &s->tsum;
    const struct tlsdir *sv = &s->tls[R_SRV];

    if (s->client < 0 || !(s->starttls_220 || s->implicit_cli) || !s->tls[R_CLI].on ||
        s->side_bytes[1 - s->client] == 0 || (s->implicit_cli && s->srv_synced))
        return HSF_NONE;
    if (!sv->on)
        return HSF_NO_SERVER_TLS;
    if (t->complete)
        return HSF_NONE;
    if (t->alert_seen && (t->alert_level == 2 || t->alert_desc == 0 || t->alert_desc == 90))
        return HSF_ALERT;
    if (sv->kind == TLS_PEEK_ALERT)
        return HSF_ALERT;               /* first record an alert, not read */
    if (!t->sh_seen && sv->hs != 2 && sv->kind != TLS_PEEK_NEED_MORE &&
        !s->tls_gap[R_SRV] && !t->malformed)
        return HSF_NO_SERVER_HELLO;
    return HSF_NONE;
}

/* Raises tls_handshake_failed (medium) when smtp_tls_failure says so; ts is
 * the end of the connection. */
void smtp_tls_failure_finding(struct dis_session *s, double ts)
{
    const struct tls_sum *t = &s->tsum;
    char al[48];
    double ats = s->alert_ts > 0 ? s->alert_ts : s->tls[R_SRV].ts;

    switch (smtp_tls_failure(s)) {
    case HSF_NONE:
        return;
    case HSF_NO_SERVER_TLS:
        smtp_finding(s, FK_TLS_HANDSHAKE_FAILED, MT_SEV_MEDIUM, ts, 0, -1,
                     "no TLS record from the server after the ClientHello "
                     "(connection end: %s)", mt_end_reason_name(s->out.end_reason));
        return;
    case HSF_ALERT:
        if (!t->alert_seen) {
            smtp_finding(s, FK_TLS_HANDSHAKE_FAILED, MT_SEV_MEDIUM, s->tls[R_SRV].ts,
                         0, -1, "the server answered the ClientHello with a TLS alert");
            return;
        }
        alert_words(t, al, sizeof al);
        if (t->alert_from_client)
            smtp_finding(s, FK_TLS_HANDSHAKE_FAILED, MT_SEV_MEDIUM, ats, 0, -1,
                         "the client ended the handshake with a TLS alert (%s)", al);
        else if (!t->sh_seen)
            smtp_finding(s, FK_TLS_HANDSHAKE_FAILED, MT_SEV_MEDIUM, ats, 0, -1,
                         "the server answered the ClientHello with a TLS alert (%s)", al);
        else
            smtp_finding(s, FK_TLS_HANDSHAKE_FAILED, MT_SEV_MEDIUM, ats, 0, -1,
                         "the server ended the handshake with a TLS alert (%s)", al);
        return;
    case HSF_NO_SERVER_HELLO:
        smtp_finding(s, FK_TLS_HANDSHAKE_FAILED, MT_SEV_MEDIUM, ts, 0, -1,
                     "TLS records from the server but no ServerHello "
                     "(connection end: %s)", mt_end_reason_name(s->out.end_reason));
        return;
    }
}

/* ---- certificate names ------------------------------------------------------------ */

/*
 * 1 when the presented DNS name pat[0..pn) covers the reference host name
 * ref[0..rn) (RFC 6125 §6.4): ASCII case-insensitive, a trailing dot
 * ignored on both; a wildcard is honoured only as the whole left-most label
 * of a name with at least two more labels ("*.example.com"), and matches
 * exactly one non-empty label; any other '*' never matches.
 */
static int dns_match(const char *pat, size_t pn, const char *ref, size_t rn)
{
    if (pn > 0 && pat[pn - 1] == '.')
        pn--;
    if (rn > 0 && ref[rn - 1] == '.')
        rn--;
    if (pn == 0 || rn == 0)
        return 0;
    if (pn > 2 && pat[0] == '*' && pat[1] == '.') {
        const char *dot = memchr(ref, '.', rn);

        if (memchr(pat + 2, '*', pn - 2) != NULL || memchr(pat + 2, '.', pn - 2) == NULL)
            return 0;
        if (dot == NULL || dot == ref)
            return 0;
        return (size_t)(ref + rn - dot) == pn - 1 && ci_eq(dot, pat + 1, pn - 1);
    }
    if (memchr(pat, '*', pn) != NULL)
        return 0;
    return pn == rn && ci_eq(pat, ref, rn);
}

/*
 * The leaf's names against the reference host name ref: the DNS SANs
 * (space-separated, as tls_cert_info.sans), or the subject's CN only when
 * there is no DNS SAN.  Returns 1 covered, 0 not covered, -1 cannot tell
 * (the SAN list was cut before a match could be found).
 */
int smtp_cert_name_match(const char *sans, const char *subject, const char *ref)
{
    size_t rn = strlen(ref);
    int any = 0, cut = 0;
    const char *p = sans, *cn = NULL;

    while (*p != '\0') {
        const char *e = strchr(p, ' ');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);

        if (n == 3 && memcmp(p, "...", 3) == 0) {
            cut = 1;
        } else if (n > 0) {
            any = 1;
            if (dns_match(p, n, ref, rn))
                return 1;
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    if (any || cut)
        return cut ? -1 : 0;
    /* no DNS SAN: the (first, most specific) CN of the RFC 2253 subject */
    for (const char *q = subject; *q != '\0'; q++) {
        if ((q == subject || (q[-1] == ',' && (q - subject < 2 || q[-2] != '\\'))) &&
            strncmp(q, "CN=", 3) == 0) {
            cn = q + 3;
            break;
        }
    }
    if (cn != NULL) {
        size_t n = 0;

        while (cn[n] != '\0' && !((cn[n] == ',' || cn[n] == '+') &&
                                  (n == 0 || cn[n - 1] != '\\')))
            n++;
        return dns_match(cn, n, ref, rn);
    }
    return 0;
}

/* A usable reference host name: LDH labels (and '_') separated by dots, at
 * least two labels, none empty, the last one not all digits (an IPv4
 * address).  A trailing dot is allowed. */
static int host_like(const char *h, size_t n)
{
    size_t dots = 0, lab = 0, i;
    int digits = 1;

    if (n > 0 && h[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i < n; i++) {
        char c = h[i];

        if (c == '.') {
            if (lab == 0)
                return 0;
            dots++;
            lab = 0;
            digits = 1;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
        if (c < '0' || c > '9')
            digits = 0;
        if (++lab > 63)
            return 0;
    }
    return lab > 0 && dots > 0 && !digits;
}

/* ---- findings ------------------------------------------------------------------------ */

static int version_weak(uint16_t v)
{
    return v == 0x0002 || v == 0x0300 || v == 0x0301 || v == 0x0302;
}

/* Group E: what the hellos negotiated. */
static void hello_findings(struct dis_session *s, int sub)
{
    const struct tls_sum *t = &s->tsum;
    unsigned w;

    if (!t->sh_seen)
        return;
    if (version_weak(t->version))
        smtp_finding(s, FK_TLS_VERSION_WEAK, sub ? MT_SEV_HIGH : MT_SEV_MEDIUM, s->sh_ts,
                     0, -1, "ServerHello negotiated %s (%s: TLS 1.2 or later expected)",
                     s->out.tls_version, sub ? "submission" : "relay");
    w = tls_cipher_weakness(s->out.tls_cipher);
    if (w != 0) {
        static const struct {
            unsigned bit;
            const char *word;
        } words[] = {
            { TLS_WEAK_NULL, "no encryption (NULL)" },
            { TLS_WEAK_EXPORT, "export grade" },
            { TLS_WEAK_DES, "single DES" },
            { TLS_WEAK_RC4, "RC4" },
            { TLS_WEAK_ANON, "anonymous key exchange" },
            { TLS_WEAK_3DES, "3DES" },
            { TLS_WEAK_RSA_KX, "static RSA key transport" },
        };
        char why[160];
        size_t used = 0;
        enum mt_severity sev;

        why[0] = '\0';
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            int n;

            if (!(w & words[i].bit))
                continue;
            n = snprintf(why + used, sizeof why - used, "%s%s", used ? ", " : "",
                         words[i].word);
            if (n < 0 || (size_t)n >= sizeof why - used)
                break;
            used += (size_t)n;
        }
        if (w & TLS_WEAK_NULL)
            sev = MT_SEV_CRITICAL;
        else if (w & (TLS_WEAK_EXPORT | TLS_WEAK_DES | TLS_WEAK_RC4 | TLS_WEAK_ANON))
            sev = sub ? MT_SEV_HIGH : MT_SEV_MEDIUM;
        else
            sev = MT_SEV_LOW;
        smtp_finding(s, FK_TLS_CIPHER_WEAK, sev, s->sh_ts, 0, -1, "negotiated %s: %s",
                     s->out.tls_cipher, why);
    }
    if (t->compression != 0)
        smtp_finding(s, FK_TLS_COMPRESSION, MT_SEV_LOW, s->sh_ts, 0, -1,
                     "ServerHello compression method %u%s", (unsigned)t->compression,
                     t->compression == 1 ? " (DEFLATE)" : "");
    if (t->version == 0x0304)
        smtp_finding(s, FK_TLS13_CERT_NOT_OBSERVABLE, MT_SEV_INFO, s->sh_ts, 0, -1,
                     "TLS 1.3%s: the server certificate is encrypted, certificate checks "
                     "not possible", t->resumed ? " (PSK resumption)" : "");
}

/* The certificate's names for evidence: the SANs, else the subject. */
static const char *names_of(const struct tls_cert_info *c)
{
    return c->sans[0] != '\0' ? c->sans : c->subject;
}

/* cert_name_mismatch: SNI, else the greeting's host name (low confidence). */
static void name_finding(struct dis_session *s, const struct tls_cert_info *leaf,
                         int sub, double ts)
{
    const char *ref = NULL;
    char host[MT_STR];
    size_t n;

    if (s->tsum.sni) {
        if (!host_like(s->out.tls_sni, strlen(s->out.tls_sni)))
            return;
        if (smtp_cert_name_match(leaf->sans, leaf->subject, s->out.tls_sni) == 0)
            smtp_finding(s, FK_CERT_NAME_MISMATCH, sub ? MT_SEV_HIGH : MT_SEV_LOW, ts, 0,
                         -1, "SNI %.80s not covered by the certificate names (%.100s)",
                         s->out.tls_sni, names_of(leaf));
        return;
    }
    if (!s->greeting_seen || s->greeting_code != 220)
        return;
    n = strcspn(s->out.banner, " ");
    if (n == 0 || n >= sizeof host || !host_like(s->out.banner, n))
        return;
    memcpy(host, s->out.banner, n);
    host[n] = '\0';
    ref = host;
    if (smtp_cert_name_match(leaf->sans, leaf->subject, ref) == 0)
        smtp_finding(s, FK_CERT_NAME_MISMATCH, MT_SEV_LOW, ts, 0, -1,
                     "%.80s not covered by the certificate names (%.100s); against "
                     "greeting host name, low confidence", ref, names_of(leaf));
}

/* A digest too weak for a certificate signature, by algorithm name. */
static int sig_weak(const char *alg)
{
    static const char *const bad[] = { "md2", "md4", "md5", "sha1" };
    char low[MT_STR_SHORT];
    size_t n = strnlen(alg, sizeof low - 1);

    for (size_t i = 0; i < n; i++)
        low[i] = (char)lower((unsigned char)alg[i]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (strstr(low, bad[i]) != NULL)
            return 1;
    return 0;
}

/* A key too small: RSA/DSA < 2048 bits, EC < 224. */
static int key_weak(const struct tls_cert_info *c)
{
    if (c->key_bits <= 0)
        return 0;
    if (strcmp(c->key_type, "RSA") == 0 || strcmp(c->key_type, "RSA-PSS") == 0 ||
        strcmp(c->key_type, "DSA") == 0)
        return c->key_bits < 2048;
    if (strcmp(c->key_type, "EC") == 0)
        return c->key_bits < 224;
    return 0;
}

/* cert_weak_key_or_signature over the chain (the first problem quoted). */
static void weak_finding(struct dis_session *s, double ts)
{
    char what[160];
    unsigned n = 0;

    what[0] = '\0';
    for (int i = 0; i < s->chain_len; i++) {
        const struct tls_cert_info *c = &s->chain[i];

        if (!cert_parsed(c) || (i > 0 && c->self_signed))
            continue;                   /* a root: its key and self-signature are moot */
        if (key_weak(c)) {
            if (n++ == 0)
                snprintf(what, sizeof what, "depth %d: %s key of %d bits", i, c->key_type,
                         c->key_bits);
        }
        if (!c->self_signed && sig_weak(c->sig_alg)) {
            if (n++ == 0)
                snprintf(what, sizeof what, "depth %d: signed with %s", i, c->sig_alg);
        }
    }
    if (n > 0)
        smtp_finding(s, FK_CERT_WEAK_KEY_OR_SIGNATURE, MT_SEV_LOW, ts, 0, -1, "%s%s",
                     what, n > 1 ? " (and more in the chain)" : "");
}

/* Group F: the server certificate (TLS <= 1.2). */
static void cert_findings(struct dis_session *s, int sub)
{
    const struct tls_sum *t = &s->tsum;
    const struct tls_cert_info *leaf;
    double at = s->cert_ts > 0 ? s->cert_ts : s->out.start_ts;
    char a[32], b[32];

    if (s->chain_len <= 0)
        return;
    leaf = &s->chain[0];
    if (t->ch_seen && !t->sni)
        smtp_finding(s, FK_TLS_NO_SNI, MT_SEV_INFO, s->ch_ts > 0 ? s->ch_ts : at, 0, -1,
                     "ClientHello without server_name: the certificate name can only be "
                     "checked against the greeting host name");
    if (!cert_parsed(leaf))
        return;
    if (leaf->not_after > 0 && at > leaf->not_after) {
        fmt_time(leaf->not_after, a, sizeof a);
        fmt_time(at, b, sizeof b);
        smtp_finding(s, FK_CERT_EXPIRED_OR_NOT_YET_VALID, sub ? MT_SEV_HIGH : MT_SEV_LOW,
                     at, 0, -1, "leaf expired: not after %s, seen %s", a, b);
    } else if (leaf->not_before > 0 && at < leaf->not_before) {
        fmt_time(leaf->not_before, a, sizeof a);
        fmt_time(at, b, sizeof b);
        smtp_finding(s, FK_CERT_EXPIRED_OR_NOT_YET_VALID, sub ? MT_SEV_HIGH : MT_SEV_LOW,
                     at, 0, -1, "leaf not yet valid: not before %s, seen %s", a, b);
    }
    if (t->verify == 0 || (leaf->self_signed && t->verify != 1))
        smtp_finding(s, FK_CERT_UNTRUSTED_OR_SELF_SIGNED, sub ? MT_SEV_HIGH : MT_SEV_LOW,
                     at, 0, -1, "%s (%s); issuer %.100s",
                     (t->verify == 0 && t->why[0] != '\0') ? t->why : "self-signed certificate",
                     s->par.ca_file != NULL ? "against the CA file" : "against the system "
                                                                      "trust store",
                     leaf->issuer);
    name_finding(s, leaf, sub, at);
    weak_finding(s, at);
}

/* The findings of groups E and F (once, at the end). */
void smtp_tls_findings(struct dis_session *s)
{
    int sub;

    if (!s->tsum.taken)
        return;
    sub = smtp_is_submission(s);
    hello_findings(s, sub);
    cert_findings(s, sub);
}
