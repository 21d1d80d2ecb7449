/*
 * events.c — the --events stream (contract in events.h).
 */
#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ev_writer {
    char *path;                 /* NULL for standard output              */
    int fd;
    int reported;               /* an error was already reported          */
    uint64_t lines, errors;
    /* the line being built, reused (grows to the longest line once) */
    char *buf;
    size_t len, cap;
    int oom;
};

static volatile sig_atomic_t ev_reopen_flag;

static void ev_report(ev_writer_t *w, const char *what, int err)
{
    w->errors++;
    if (w->reported)
        return;
    w->reported = 1;
    fprintf(stderr, "mailtap: %s: %s: %s (further errors not shown)\n",
            w->path ? w->path : "stdout", what, strerror(err));
}

/* Opens path for appending; *created = 1 when this call created it. */
static int open_append(const char *path, int *created)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd >= 0) {
        *created = 1;
        return fd;
    }
    *created = 0;
    if (errno != EEXIST)
        return -1;
    return open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
}

ev_writer_t *ev_open(const char *path, int *created, char *why, size_t whysz)
{
    ev_writer_t *w = calloc(1, sizeof *w);
    int made = 0;

    if (!w) {
        snprintf(why, whysz, "out of memory");
        return NULL;
    }
    if (strcmp(path, "-") == 0) {
        w->fd = STDOUT_FILENO;
    } else {
        w->path = strdup(path);
        w->fd = w->path ? open_append(path, &made) : -1;
        if (w->fd < 0) {
            snprintf(why, whysz, "%s", w->path ? strerror(errno) : "out of memory");
            free(w->path);
            free(w);
            return NULL;
        }
    }
    if (created)
        *created = made;
    return w;
}

int ev_chown(ev_writer_t *w, uid_t uid, gid_t gid)
{
    if (!w || !w->path)
        return 0;
    return fchown(w->fd, uid, gid);
}

void ev_request_reopen(void)
{
    ev_reopen_flag = 1;
}

void ev_poll(ev_writer_t *w)
{
    if (!w || !ev_reopen_flag)
        return;
    ev_reopen_flag = 0;
    if (!w->path)
        return;                 /* standard output: nothing to reopen */
    int made = 0;
    int fd = open_append(w->path, &made);
    if (fd < 0) {
        /* keep writing to the old file: nothing is lost */
        int e = errno;
        w->reported = 0;
        ev_report(w, "cannot reopen (still writing to the old file)", e);
        return;
    }
    close(w->fd);
    w->fd = fd;
    w->reported = 0;
}

/* ---- building one line ------------------------------------------------ */

static void jb_grow(ev_writer_t *w, size_t more)
{
    if (w->oom || w->len + more <= w->cap)
        return;
    size_t nc = w->cap ? w->cap : 4096;
    while (nc < w->len + more)
        nc *= 2;
    char *nb = realloc(w->buf, nc);
    if (!nb) {
        w->oom = 1;
        return;
    }
    w->buf = nb;
    w->cap = nc;
}

static void jb_mem(ev_writer_t *w, const char *p, size_t n)
{
    jb_grow(w, n);
    if (w->oom)
        return;
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void jb_raw(ev_writer_t *w, const char *s)
{
    jb_mem(w, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at p (1..4), 0 if none. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return n >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
               (p[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* A JSON string of s[0..strnlen(s, max)), or null when empty. */
static void jb_str(ev_writer_t *w, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = s ? strnlen(s, max) : 0, i = 0;
    char esc[8];

    if (n == 0) {
        jb_raw(w, "null");
        return;
    }
    jb_mem(w, "\"", 1);
    while (i < n) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0) {
            jb_raw(w, "\\ufffd");
            i++;
            continue;
        }
        if (k == 1) {
            unsigned char c = p[i];
            switch (c) {
            case '"':  jb_raw(w, "\\\""); break;
            case '\\': jb_raw(w, "\\\\"); break;
            case '\n': jb_raw(w, "\\n"); break;
            case '\r': jb_raw(w, "\\r"); break;
            case '\t': jb_raw(w, "\\t"); break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
                    jb_raw(w, esc);
                } else {
                    jb_mem(w, (const char *)p + i, 1);
                }
                break;
            }
        } else if (k == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
                   (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
            jb_raw(w, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
        } else {
            jb_mem(w, (const char *)p + i, k);
        }
        i += k;
    }
    jb_mem(w, "\"", 1);
}

static void jb_key(ev_writer_t *w, const char *k)
{
    jb_mem(w, ",\"", 2);
    jb_raw(w, k);
    jb_mem(w, "\":", 2);
}

static void jb_u64(ev_writer_t *w, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    jb_raw(w, b);
}

static void jb_i64(ev_writer_t *w, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    jb_raw(w, b);
}

/* Time in seconds (microseconds kept); null when 0 (unknown). */
static void jb_ts(ev_writer_t *w, double v)
{
    char b[64];
    if (v == 0 || !isfinite(v)) {
        jb_raw(w, "null");
        return;
    }
    snprintf(b, sizeof b, "%.6f", v);
    jb_raw(w, b);
}

static void jb_bool(ev_writer_t *w, int v)
{
    jb_raw(w, v ? "true" : "false");
}

/* A reply code; null when 0 (none seen). */
static void jb_code(ev_writer_t *w, int v)
{
    if (v == 0)
        jb_raw(w, "null");
    else
        jb_i64(w, v);
}

/* A key and its value, written by fn (jb_u64, jb_i64, jb_ts, jb_bool,
 * jb_code). */
#define KV(w, k, fn, v) (jb_key(w, k), fn(w, v))
/* A key and a string field (a char array): null when empty. */
#define KSTR(w, k, field) (jb_key(w, k), jb_str(w, field, sizeof(field)))
/* A key and one of our own static names (protection, severity, ...):
 * plain ASCII, written quoted without escaping. */
#define KNAME(w, k, name) (jb_key(w, k), jb_raw(w, "\""), jb_raw(w, name), jb_raw(w, "\""))

/* "ip:port", "[ip]:port" for IPv6. */
static void jb_endpoint(ev_writer_t *w, const char *ip, size_t max, uint16_t port)
{
    char b[80];
    size_t n = strnlen(ip, max);
    if (n > 46)
        n = 46;
    if (memchr(ip, ':', n))
        snprintf(b, sizeof b, "[%.*s]:%u", (int)n, ip, (unsigned)port);
    else
        snprintf(b, sizeof b, "%.*s:%u", (int)n, ip, (unsigned)port);
    jb_str(w, b, sizeof b);
}

static void jb_begin(ev_writer_t *w, const char *type, int64_t capture_id,
                     int64_t session_id)
{
    w->len = 0;
    w->oom = 0;
    jb_raw(w, "{\"type\":\"");
    jb_raw(w, type);
    jb_raw(w, "\"");
    KV(w, "capture_id", jb_i64, capture_id);
    KV(w, "session_id", jb_i64, session_id);
}

/* Ends the line and writes it with one write(2) (looping on short
 * writes). */
static void jb_end(ev_writer_t *w)
{
    jb_mem(w, "}\n", 2);
    ev_poll(w);
    if (w->oom) {
        ev_report(w, "cannot build event", ENOMEM);
        return;
    }
    size_t off = 0;
    while (off < w->len) {
        ssize_t r = write(w->fd, w->buf + off, w->len - off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            ev_report(w, "write error", errno);
            return;
        }
        off += (size_t)r;
    }
    w->lines++;
}

/* ---- the three kinds of event ----------------------------------------- */

void ev_session(ev_writer_t *w, int64_t capture_id, int64_t session_id,
                const struct store_endpoints *ep, const struct mt_session *s)
{
    if (!w || !ep || !s)
        return;
    jb_begin(w, "session", capture_id, session_id);
    KV(w, "ts", jb_ts, s->start_ts);
    jb_key(w, "client");
    jb_endpoint(w, ep->client_ip, sizeof ep->client_ip, ep->client_port);
    jb_key(w, "server");
    jb_endpoint(w, ep->server_ip, sizeof ep->server_ip, ep->server_port);
    KNAME(w, "protection", mt_protection_name(s->protection));
    KSTR(w, "client_ip", ep->client_ip);
    KV(w, "client_port", jb_u64, ep->client_port);
    KSTR(w, "server_ip", ep->server_ip);
    KV(w, "server_port", jb_u64, ep->server_port);
    KV(w, "vlan", jb_u64, ep->vlan);
    KV(w, "start_ts", jb_ts, s->start_ts);
    KV(w, "end_ts", jb_ts, s->end_ts);
    KNAME(w, "end_reason", mt_end_reason_name(s->end_reason));
    KSTR(w, "confidence", s->confidence);
    KV(w, "starttls_offered", jb_bool, s->starttls_offered);
    KV(w, "starttls_requested", jb_bool, s->starttls_requested);
    KV(w, "starttls_reply", jb_code, s->starttls_reply);
    KSTR(w, "banner", s->banner);
    KSTR(w, "helo", s->helo);
    KSTR(w, "helo_verb", s->helo_verb);
    KSTR(w, "ehlo_keywords", s->ehlo_keywords);
    KSTR(w, "auth_mechanism", s->auth_mechanism);
    KSTR(w, "auth_user", s->auth_user);
    KSTR(w, "auth_outcome", s->auth_outcome);
    KSTR(w, "tls_version", s->tls_version);
    KSTR(w, "tls_cipher", s->tls_cipher);
    KSTR(w, "tls_sni", s->tls_sni);
    KSTR(w, "cert_sha256", s->cert_sha256);
    KSTR(w, "cert_subject", s->cert_subject);
    KSTR(w, "cert_issuer", s->cert_issuer);
    KV(w, "cert_not_before", jb_ts, s->cert_not_before);
    KV(w, "cert_not_after", jb_ts, s->cert_not_after);
    KV(w, "exposed_envelope", jb_bool, s->exposed_envelope);
    KV(w, "exposed_content", jb_bool, s->exposed_content);
    KV(w, "exposed_credentials", jb_bool, s->exposed_credentials);
    KV(w, "cleartext_messages", jb_u64, s->cleartext_messages);
    KV(w, "client_bytes", jb_u64, s->client_bytes);
    KV(w, "server_bytes", jb_u64, s->server_bytes);
    KV(w, "gap_bytes", jb_u64, s->gap_bytes);
    KV(w, "syn_seen", jb_bool, s->syn_seen);
    KV(w, "one_sided", jb_bool, s->one_sided);
    KV(w, "tls_started", jb_bool, s->tls_started);
    /* TLS handshake details (schema v2) */
    KSTR(w, "tls_alpn", s->tls_alpn);
    KSTR(w, "ja3", s->ja3);
    KSTR(w, "ja4", s->ja4);
    KV(w, "tls_handshake_complete", jb_bool, s->tls_handshake_complete);
    KV(w, "tls_resumed", jb_bool, s->tls_resumed);
    KSTR(w, "cert_sans", s->cert_sans);
    KSTR(w, "cert_key_type", s->cert_key_type);
    KV(w, "cert_key_bits", jb_code, s->cert_key_bits);
    KSTR(w, "cert_sig_alg", s->cert_sig_alg);
    KV(w, "cert_self_signed", jb_bool, s->cert_self_signed);
    KV(w, "cert_chain_len", jb_i64, s->chain_len > 0 ? s->chain_len : 0);
    jb_end(w);
}

void ev_message(ev_writer_t *w, int64_t capture_id, int64_t session_id,
                const struct mt_message *m)
{
    if (!w || !m)
        return;
    jb_begin(w, "message", capture_id, session_id);
    KV(w, "ts", jb_ts, m->ts);
    KV(w, "seq", jb_u64, m->seq);
    KNAME(w, "method", mt_method_name(m->method));
    if (m->mail_from_seen && m->mail_from[0] == '\0')
        KV(w, "mail_from", jb_raw, "\"\"");   /* the null sender <>, as stored */
    else
        KSTR(w, "mail_from", m->mail_from);
    KV(w, "rcpt_count", jb_u64, m->rcpt_count);
    KV(w, "size", jb_u64, m->size);
    KSTR(w, "body_sha256", m->body_sha256);
    KSTR(w, "subject", m->subject);
    KSTR(w, "message_id", m->message_id);
    KSTR(w, "from_hdr", m->from_hdr);
    KSTR(w, "date_hdr", m->date_hdr);
    KV(w, "reply_code", jb_code, m->reply_code);
    KV(w, "content_exposed", jb_bool, m->content_exposed);
    KV(w, "complete", jb_bool, m->complete);
    jb_key(w, "recipients");
    jb_mem(w, "[", 1);
    for (size_t i = 0; m->rcpts && i < m->n_rcpts; i++) {
        const struct mt_recipient *r = &m->rcpts[i];
        jb_raw(w, i ? ",{\"address\":" : "{\"address\":");
        jb_str(w, r->address, sizeof r->address);
        KSTR(w, "domain", r->domain);
        KV(w, "reply_code", jb_code, r->reply_code);
        jb_mem(w, "}", 1);
    }
    jb_mem(w, "]", 1);
    jb_end(w);
}

void ev_finding(ev_writer_t *w, int64_t capture_id, int64_t session_id,
                const struct mt_finding *f)
{
    if (!w || !f)
        return;
    jb_begin(w, "finding", capture_id, session_id);
    KV(w, "ts", jb_ts, f->ts);
    jb_key(w, "kind");
    jb_str(w, f->kind && *f->kind ? f->kind : "unknown", 128);
    KNAME(w, "severity", mt_severity_name(f->severity));
    jb_key(w, "message_seq");
    if (f->msg_seq)
        jb_u64(w, f->msg_seq);
    else
        jb_raw(w, "null");
    KSTR(w, "evidence", f->evidence);
    jb_end(w);
}

uint64_t ev_lines(const ev_writer_t *w)
{
    return w ? w->lines : 0;
}

uint64_t ev_errors(const ev_writer_t *w)
{
    return w ? w->errors : 0;
}

int ev_close(ev_writer_t *w)
{
    if (!w)
        return 0;
    int bad = w->errors != 0;
    if (w->path && close(w->fd) != 0) {
        ev_report(w, "close", errno);
        bad = 1;
    }
    free(w->path);
    free(w->buf);
    free(w);
    return bad ? -1 : 0;
}
