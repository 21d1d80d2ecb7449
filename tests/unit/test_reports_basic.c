/*
 * test_reports_basic.c — reports/: sessions, findings and the audit report
 * in text and JSON, filled through store_*; figures, escaping of hostile
 * strings, JSON validity, org-net direction counting, width of the text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "reports/reports.h"
#include "store/store.h"

#define T0 1714557600.0   /* 2024-05-01T10:00:00Z */

/* ---- a tiny JSON checker ------------------------------------------------- */

struct jp {
    const char *p, *end;
};

static int jp_value(struct jp *j, int depth);

static void jp_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
        j->p++;
}

static int jp_string(struct jp *j)
{
    if (j->p >= j->end || *j->p != '"')
        return -1;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char ch = (unsigned char)*j->p;
        if (ch < 0x20 || ch == 0x7f)
            return -1;              /* raw control character */
        if (ch == '\\') {
            j->p++;
            if (j->p >= j->end)
                return -1;
            if (*j->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (j->p + i >= j->end || !strchr("0123456789abcdefABCDEF", j->p[i]) ||
                        j->p[i] == '\0')
                        return -1;
                j->p += 4;
            } else if (!strchr("\"\\/bfnrt", *j->p) || *j->p == '\0') {
                return -1;
            }
        }
        j->p++;
    }
    if (j->p >= j->end)
        return -1;
    j->p++;
    return 0;
}

static int jp_number(struct jp *j)
{
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return -1;
    while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || *j->p == '.' || *j->p == 'e' ||
                             *j->p == 'E' || *j->p == '+' || *j->p == '-'))
        j->p++;
    return j->p > s ? 0 : -1;
}

static int jp_lit(struct jp *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

/* Skips white space, then consumes c when it is next: 1, else 0. */
static int jp_eat(struct jp *j, char c)
{
    jp_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

static int jp_value(struct jp *j, int depth)
{
    if (depth > 32)
        return -1;
    jp_ws(j);
    if (j->p >= j->end)
        return -1;
    switch (*j->p) {
    case '{':
        j->p++;
        if (jp_eat(j, '}'))
            return 0;
        do {
            jp_ws(j);
            if (jp_string(j) < 0)
                return -1;
            if (!jp_eat(j, ':') || jp_value(j, depth + 1) < 0)
                return -1;
        } while (jp_eat(j, ','));
        return jp_eat(j, '}') ? 0 : -1;
    case '[':
        j->p++;
        if (jp_eat(j, ']'))
            return 0;
        do {
            if (jp_value(j, depth + 1) < 0)
                return -1;
        } while (jp_eat(j, ','));
        return jp_eat(j, ']') ? 0 : -1;
    case '"':
        return jp_string(j);
    case 't':
        return jp_lit(j, "true");
    case 'f':
        return jp_lit(j, "false");
    case 'n':
        return jp_lit(j, "null");
    default:
        return jp_number(j);
    }
}

/* 1 when s[0..n) is exactly one JSON value (surrounding space allowed). */
static int json_valid(const char *s, size_t n)
{
    struct jp j = { s, s + n };
    if (jp_value(&j, 0) < 0)
        return 0;
    jp_ws(&j);
    return j.p == j.end;
}

/* Every non-empty line of s is one JSON value; returns the line count or
 * -1 when one is not. */
static int json_lines_valid(const char *s)
{
    int n = 0;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (len > 0) {
            if (!json_valid(s, len)) {
                fprintf(stderr, "bad JSON line: %.*s\n", (int)len, s);
                return -1;
            }
            n++;
        }
        s += len + (nl ? 1 : 0);
    }
    return n;
}

/* ---- output capture ------------------------------------------------------ */

typedef int (*rep_fn)(store_t *, enum rep_format, const struct rep_filter *, FILE *, char *,
                      size_t);

/* Runs fn into a memory buffer; returns the malloc'd output (asserts rc 0). */
static char *run(rep_fn fn, store_t *st, enum rep_format fmt, const struct rep_filter *f)
{
    char *buf = NULL, err[256] = "";
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int rc;

    assert_non_null(out);
    rc = fn(st, fmt, f, out, err, sizeof err);
    fclose(out);
    if (rc != 0)
        fprintf(stderr, "report error: %s\n", err);
    assert_int_equal(rc, 0);
    return buf;
}

/* Number of lines of s that contain needle. */
static int count_lines_with(const char *s, const char *needle)
{
    int n = 0;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (memmem(s, len, needle, strlen(needle)))
            n++;
        s += len + (nl ? 1 : 0);
    }
    return n;
}

/* The line of s that contains needle (static copy), or "". */
static const char *line_with(const char *s, const char *needle)
{
    static char line[1024];
    const char *hit = strstr(s, needle), *b, *e;
    if (!hit)
        return "";
    for (b = hit; b > s && b[-1] != '\n'; b--)
        ;
    e = strchr(hit, '\n');
    if (!e)
        e = hit + strlen(hit);
    snprintf(line, sizeof line, "%.*s", (int)(e - b), b);
    return line;
}

/* Copy of s with every run of white space (newlines too) made one space,
 * so that a sentence wrapped over lines can be searched whole. */
static char *squeeze(const char *s)
{
    char *o = malloc(strlen(s) + 1), *d = o;
    assert_non_null(o);
    for (; *s; s++) {
        if (*s == ' ' || *s == '\n') {
            if (d > o && d[-1] == ' ')
                continue;
            *d++ = ' ';
        } else {
            *d++ = *s;
        }
    }
    *d = '\0';
    return o;
}

/* strstr over the squeezed text. */
static int has_text(const char *s, const char *needle)
{
    char *q = squeeze(s);
    int r = strstr(q, needle) != NULL;
    free(q);
    return r;
}

/* Asserts no byte < 0x20 except '\n', and no 0x7f. */
static void assert_no_controls(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f) {
            fprintf(stderr, "control byte 0x%02x at offset %zu\n", *p,
                    (size_t)(p - (const unsigned char *)s));
            fail();
        }
}

/* Asserts every line fits in cols columns (UTF-8 code points). */
static void assert_width(const char *s, size_t cols)
{
    size_t c = 0, lineno = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') {
            c = 0;
            lineno++;
            continue;
        }
        if ((*p & 0xc0) != 0x80)
            c++;
        if (c > cols) {
            fprintf(stderr, "line %zu is wider than %zu columns: %s\n", lineno, cols,
                    line_with((const char *)p, ""));
            fail();
        }
    }
}

/* ---- the test database ---------------------------------------------------- */

static char dbpath[256];

struct sess_spec {
    const char *cip, *sip;
    uint16_t sport;
    enum mt_protection prot;
    int requested, offered, cred;
    int n_clear_msgs;       /* messages with content exposed */
    const char *banner;
};

/*
 * Sessions, one hour apart:
 *   1  10.0.0.5    -> 198.51.100.7:25   cleartext, 2 clear msgs, creds  (outbound)
 *   2  10.0.0.6    -> 203.0.113.9:25    starttls                         (outbound)
 *   3  198.51.100.20 -> 10.0.0.25:25    cleartext, 1 clear msg           (inbound)
 *   4  10.0.0.5    -> 10.0.0.25:587     implicit_tls                     (internal)
 *   5  192.0.2.1   -> 192.0.2.2:25      indeterminate                    (external)
 *   6  2001:db8::5 -> [2001:4860::1]:25 partial, 0 clear msgs            (outbound with v6 net)
 */
static const struct sess_spec specs[] = {
    { "10.0.0.5", "198.51.100.7", 25, MT_PROT_CLEARTEXT, 0, 0, 1, 2,
      "mx1.example.org ESMTP \x1b[31mred\x1b[0m\x07" },
    { "10.0.0.6", "203.0.113.9", 25, MT_PROT_STARTTLS, 1, 1, 0, 0, "mx.partner.example ESMTP" },
    { "198.51.100.20", "10.0.0.25", 25, MT_PROT_CLEARTEXT, 0, 0, 0, 1, "220 mail.corp.example" },
    { "10.0.0.5", "10.0.0.25", 587, MT_PROT_IMPLICIT_TLS, 0, 0, 0, 0, "" },
    { "192.0.2.1", "192.0.2.2", 25, MT_PROT_INDETERMINATE, 0, 0, 0, 0, "" },
    { "2001:db8::5", "2001:4860::1", 25, MT_PROT_PARTIAL, 1, 1, 0, 0, "v6.example ESMTP" },
};
#define N_SPECS (sizeof specs / sizeof specs[0])

/* Evidence too long for one report line (wrapped on up to 3 lines). */
#define LONG_EVIDENCE                                                                  \
    "the quick brown fox jumps over the lazy dog while the server keeps on "           \
    "announcing STARTTLS and the client keeps on ignoring it, sending MAIL FROM "      \
    "and RCPT TO and DATA in the clear for everyone on the path to read and copy"

/* Builds the database described above; returns it open read-only. */
static store_t *make_db(void)
{
    char err[STORE_ERRBUF_SIZE];
    store_t *s;
    int64_t cap;
    struct store_capture_stats st = { 1000, 100000, 0, 0, 0, 0, T0, T0 + 6 * 3600, 0, 0 };

    /* MT_REP_DB=path keeps the database there for inspection. */
    if (getenv("MT_REP_DB"))
        snprintf(dbpath, sizeof dbpath, "%s", getenv("MT_REP_DB"));
    else
        snprintf(dbpath, sizeof dbpath, "/tmp/mt_rep_%d.db", (int)getpid());
    unlink(dbpath);
    s = store_open(dbpath, STORE_RW, err);
    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, "t.pcap", "file", "cafe", &cap), 0);
    for (size_t i = 0; i < N_SPECS; i++) {
        const struct sess_spec *sp = &specs[i];
        struct store_endpoints ep;
        struct mt_session ms;
        int64_t sid;
        double ts = T0 + 3600.0 * (double)i;

        memset(&ep, 0, sizeof ep);
        snprintf(ep.client_ip, sizeof ep.client_ip, "%s", sp->cip);
        ep.client_port = (uint16_t)(40000 + i);
        snprintf(ep.server_ip, sizeof ep.server_ip, "%s", sp->sip);
        ep.server_port = sp->sport;
        sid = store_session_begin(s, cap, &ep, ts);
        assert_true(sid > 0);
        for (int m = 0; m < sp->n_clear_msgs; m++) {
            struct mt_message msg;
            struct mt_recipient r[2];
            memset(&msg, 0, sizeof msg);
            memset(r, 0, sizeof r);
            msg.seq = (uint32_t)m + 1;
            msg.content_exposed = 1;
            msg.complete = 1;
            msg.ts = ts + 1;
            snprintf(msg.mail_from, sizeof msg.mail_from, "alice@corp.example");
            snprintf(msg.subject, sizeof msg.subject, "subj\x1b]0;pwned\x07");
            /* both go to example.com; the first also to Example.NET */
            snprintf(r[0].address, sizeof r[0].address, "bob%d@example.com", m);
            snprintf(r[0].domain, sizeof r[0].domain, "example.com");
            snprintf(r[1].address, sizeof r[1].address, "carol@Example.NET");
            snprintf(r[1].domain, sizeof r[1].domain, "Example.NET");
            msg.rcpts = r;
            msg.n_rcpts = m == 0 ? 2 : 1;
            msg.rcpt_count = (uint32_t)msg.n_rcpts;
            assert_int_equal(store_message(s, sid, &msg), 0);
        }
        if (i == 0) {
            /* one critical attack, one high linked to msg 1, 25 of one info kind */
            struct mt_finding f;
            memset(&f, 0, sizeof f);
            f.kind = "starttls_command_injection";
            f.severity = MT_SEV_CRITICAL;
            f.ts = ts + 2;
            snprintf(f.evidence, sizeof f.evidence, "MAIL FROM after STARTTLS\x1b[2J in one segment");
            assert_int_equal(store_finding(s, sid, &f), 0);
            f.kind = "plaintext_message_body";
            f.severity = MT_SEV_HIGH;
            f.msg_seq = 1;
            snprintf(f.evidence, sizeof f.evidence, "DATA in cleartext, 1234 bytes");
            assert_int_equal(store_finding(s, sid, &f), 0);
            f.kind = "zz_noise";
            f.severity = MT_SEV_INFO;
            f.msg_seq = 0;
            for (int k = 0; k < 25; k++) {
                f.ts = ts + 3 + k;
                snprintf(f.evidence, sizeof f.evidence, "noise %d", k);
                assert_int_equal(store_finding(s, sid, &f), 0);
            }
        }
        if (i == 1) {
            struct mt_finding f;
            memset(&f, 0, sizeof f);
            f.kind = "weak_tls_version";
            f.severity = MT_SEV_MEDIUM;
            f.ts = ts + 5;
            snprintf(f.evidence, sizeof f.evidence, "TLSv1.0");
            assert_int_equal(store_finding(s, sid, &f), 0);
            f.kind = "long_evidence";
            f.severity = MT_SEV_LOW;
            snprintf(f.evidence, sizeof f.evidence, "%s", LONG_EVIDENCE);
            assert_int_equal(store_finding(s, sid, &f), 0);
        }
        memset(&ms, 0, sizeof ms);
        ms.start_ts = ts;
        ms.end_ts = ts + 30;
        ms.end_reason = MT_END_FIN;
        ms.protection = sp->prot;
        ms.starttls_requested = sp->requested;
        ms.starttls_offered = sp->offered;
        if (sp->offered)
            snprintf(ms.ehlo_keywords, sizeof ms.ehlo_keywords, "PIPELINING STARTTLS");
        else if (sp->prot == MT_PROT_CLEARTEXT)
            snprintf(ms.ehlo_keywords, sizeof ms.ehlo_keywords, "PIPELINING");
        ms.starttls_reply = sp->requested ? 220 : 0;
        snprintf(ms.banner, sizeof ms.banner, "%s", sp->banner);
        ms.exposed_envelope = sp->n_clear_msgs > 0;
        ms.exposed_content = sp->n_clear_msgs > 0;
        ms.exposed_credentials = sp->cred;
        if (sp->cred) {
            snprintf(ms.auth_mechanism, sizeof ms.auth_mechanism, "PLAIN");
            snprintf(ms.auth_user, sizeof ms.auth_user, "alice\x1b[1m");
            snprintf(ms.auth_outcome, sizeof ms.auth_outcome, "success");
        }
        ms.cleartext_messages = (uint32_t)sp->n_clear_msgs;
        snprintf(ms.confidence, sizeof ms.confidence, "high");
        assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    }
    assert_int_equal(store_capture_finish(s, cap, &st, "complete"), 0);
    assert_int_equal(store_close(s, err), 0);
    s = store_open(dbpath, STORE_RO, err);
    assert_non_null(s);
    return s;
}

static int setup(void **state)
{
    *state = make_db();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    char err[STORE_ERRBUF_SIZE], p[300];
    store_close(*state, err);
    if (getenv("MT_REP_DB"))
        return 0;
    unlink(dbpath);
    snprintf(p, sizeof p, "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", dbpath);
    unlink(p);
    return 0;
}

static const struct rep_filter nofilter = { NULL, -1, NULL, 0, 0, NULL, 0 };

/* ---- sessions -------------------------------------------------------------- */

static void test_sessions_text(void **state)
{
    char *o = run(rep_sessions, *state, REP_TEXT, &nofilter);
    struct rep_filter f = nofilter;
    const char *a, *b;

    assert_int_equal(count_lines_with(o, "->"), (int)N_SPECS);
    assert_non_null(strstr(o, "PROTECTION"));
    /* ordered by start */
    a = strstr(o, "10.0.0.5:40000");
    b = strstr(o, "10.0.0.6:40001");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_non_null(strstr(line_with(o, "[2001:db8::5]:40005"), "-> [2001:4860::1]:25"));
    assert_non_null(strstr(line_with(o, "10.0.0.5:40000"), "cleartext"));
    assert_non_null(strstr(line_with(o, "10.0.0.5:40000"), "1/1/1"));
    assert_non_null(strstr(line_with(o, "10.0.0.5:40000"), "PLAIN/success"));
    assert_non_null(strstr(line_with(o, "10.0.0.5:40000"), "2024-05-01T10:00:00Z"));
    /* the banner's ESC and BEL are escaped */
    assert_no_controls(o);
    assert_non_null(strstr(o, "ESMTP \\x1b[31mred"));
    free(o);

    f.protection = "cleartext";
    o = run(rep_sessions, *state, REP_TEXT, &f);
    assert_int_equal(count_lines_with(o, "->"), 2);
    free(o);

    f.protection = "nothing-like-this";
    o = run(rep_sessions, *state, REP_TEXT, &f);
    assert_string_equal(o, "no sessions\n");
    free(o);

    f = nofilter;
    f.since = T0 + 3600;         /* sessions 2.. */
    f.until = T0 + 3 * 3600;     /* .. 3 */
    o = run(rep_sessions, *state, REP_TEXT, &f);
    assert_int_equal(count_lines_with(o, "->"), 2);
    assert_non_null(strstr(o, "10.0.0.6:40001"));
    assert_non_null(strstr(o, "198.51.100.20:40002"));
    free(o);
}

static void test_sessions_json(void **state)
{
    char *o = run(rep_sessions, *state, REP_JSON, &nofilter);
    const char *l;

    assert_int_equal(json_lines_valid(o), (int)N_SPECS);
    assert_no_controls(o);
    l = line_with(o, "\"client_port\":40000");
    assert_non_null(strstr(l, "\"protection\":\"cleartext\""));
    assert_non_null(strstr(l, "\"server_port\":25"));
    assert_non_null(strstr(l, "\"start_ts\":1714557600.000000"));
    assert_non_null(strstr(l, "\"exposed_credentials\":1"));
    assert_non_null(strstr(l, "\"tls_version\":null"));
    assert_non_null(strstr(l, "\\u001b[31mred\\u001b[0m\\u0007"));
    assert_non_null(strstr(l, "\"cleartext_messages\":2"));
    /* all columns of the table */
    assert_non_null(strstr(l, "\"cert_not_after\":null"));
    assert_non_null(strstr(l, "\"complete\":1"));
    free(o);
}

/* ---- findings -------------------------------------------------------------- */

static void test_findings(void **state)
{
    struct rep_filter f = nofilter;
    char *o = run(rep_findings, *state, REP_TEXT, &nofilter);
    const char *l;

    assert_int_equal(count_lines_with(o, "session="), 29);
    l = line_with(o, "starttls_command_injection");
    assert_non_null(strstr(l, "critical"));
    assert_non_null(strstr(l, "session=1"));
    assert_non_null(strstr(l, "10.0.0.5:40000 -> 198.51.100.7:25"));
    assert_non_null(strstr(l, "\\x1b[2J"));
    assert_no_controls(o);
    free(o);

    f.min_severity = MT_SEV_HIGH;
    o = run(rep_findings, *state, REP_TEXT, &f);
    assert_int_equal(count_lines_with(o, "session="), 2);
    free(o);

    f = nofilter;
    f.kind = "weak_tls_version";
    o = run(rep_findings, *state, REP_JSON, &f);
    assert_int_equal(json_lines_valid(o), 1);
    assert_non_null(strstr(o, "\"session_id\":2"));
    assert_non_null(strstr(o, "\"server_ip\":\"203.0.113.9\""));
    assert_non_null(strstr(o, "\"message_id\":null"));
    free(o);

    f = nofilter;
    f.kind = "plaintext_message_body";
    o = run(rep_findings, *state, REP_JSON, &f);
    assert_int_equal(json_lines_valid(o), 1);
    assert_non_null(strstr(o, "\"message_seq\":1"));
    assert_null(strstr(o, "\"message_id\":null"));
    free(o);

    o = run(rep_findings, *state, REP_JSON, &nofilter);
    assert_int_equal(json_lines_valid(o), 29);
    assert_no_controls(o);
    assert_non_null(strstr(o, "\\u001b[2J"));
    free(o);

    f = nofilter;
    f.kind = "none_of_these";
    o = run(rep_findings, *state, REP_TEXT, &f);
    assert_string_equal(o, "no findings\n");
    free(o);
}

/* ---- report ------------------------------------------------------------------ */

static void test_report_text(void **state)
{
    char *o = run(rep_report, *state, REP_TEXT, &nofilter);
    const char *p1, *p2;

    assert_width(o, 100);
    assert_no_controls(o);
    /* Overview figures. */
    assert_non_null(strstr(o, "2024-05-01T10:00:00Z .. 2024-05-01T15:00:30Z"));
    assert_non_null(strstr(o, "1 (1 complete, 0 interrupted), 1000 packets"));
    assert_non_null(strstr(line_with(o, "SMTP connections"), " 6"));
    assert_non_null(strstr(line_with(o, "    cleartext"), "2   33.3%"));
    assert_non_null(strstr(line_with(o, "    starttls"), "1   16.7%"));
    assert_non_null(strstr(line_with(o, "Cleartext messages"), "3 (in 2 connections)"));
    assert_non_null(strstr(line_with(o, "Credentials exposed"), "1 connection"));
    assert_non_null(strstr(o, "critical 1, high 1, medium 1, low 1, info 25"));
    assert_true(has_text(o, "3 messages crossed the wire in cleartext, in 2 of 6 SMTP "
                            "connections; credentials were exposed in 1 connection."));
    /* No direction section without org nets. */
    assert_null(strstr(o, "DIRECTION"));
    /* Per server: host from the banner, reply code skipped, escaped. */
    assert_non_null(strstr(line_with(o, "  198.51.100.7:25"), "mx1.example.org"));
    assert_non_null(strstr(line_with(o, "  10.0.0.25:25"), "mail.corp.example"));
    assert_non_null(strstr(line_with(o, "  203.0.113.9:25"), "yes"));
    assert_non_null(strstr(line_with(o, "  198.51.100.7:25"), "no"));
    /* Per client: 10.0.0.5 made 2 connections, 1 never tried TLS, 2 msgs. */
    {
        char l[1024];
        long long conns, notls, msgs, creds;
        snprintf(l, sizeof l, "%s", line_with(o, "  10.0.0.5 "));
        assert_int_equal(sscanf(l, " 10.0.0.5 %lld %lld %lld %lld", &conns, &notls, &msgs,
                                &creds), 4);
        assert_int_equal(conns, 2);
        assert_int_equal(notls, 1);
        assert_int_equal(msgs, 2);
        assert_int_equal(creds, 1);
    }
    /* Per recipient domain: example.com 3 messages, example.net 2 (case folded). */
    {
        long long n = 0;
        assert_int_equal(sscanf(line_with(o, "  example.com "), " example.com %lld", &n), 1);
        assert_int_equal(n, 3);
        assert_int_equal(sscanf(line_with(o, "  example.net "), " example.net %lld", &n), 1);
        assert_int_equal(n, 2);
    }
    /* Credentials: user escaped. */
    assert_non_null(strstr(o, "user alice\\x1b[1m"));
    assert_non_null(strstr(o, "mechanism PLAIN  outcome success"));
    /* Findings: the attack first, collapsed noise. */
    p1 = strstr(o, "[CRITICAL] starttls_command_injection (1)  ATTACK");
    p2 = strstr(o, "[HIGH] plaintext_message_body (1)");
    assert_non_null(p1);
    assert_non_null(p2);
    assert_true(p1 < p2);
    assert_true(strstr(o, "[MEDIUM] weak_tls_version") > p2);
    assert_true(strstr(o, "[INFO] zz_noise (25)") > p2);
    assert_int_equal(count_lines_with(o, "Z  noise "), 20);
    assert_non_null(strstr(o, "... and 5 more"));
    assert_non_null(strstr(o, "session #1 msg 1"));
    /* Long evidence: wrapped below its finding, nothing lost. */
    assert_true(has_text(o, LONG_EVIDENCE));
    assert_non_null(strstr(o, "\n      the quick brown fox"));
    /* Timeline per hour (period < 2 days): 6 buckets. */
    assert_non_null(strstr(o, "connections per hour"));
    assert_int_equal(count_lines_with(o, "  2024-05-01 1"), 6);
    assert_non_null(strstr(line_with(o, "  2024-05-01 10:00"), "#"));
    assert_non_null(strstr(line_with(o, "  2024-05-01 11:00"), "="));
    free(o);
}

static void test_report_org_nets(void **state)
{
    static const char *const nets[] = { "10.0.0.0/8", "2001:db8::/32" };
    struct rep_filter f = nofilter;
    char *o;
    long long v[4];

    f.org_nets = nets;
    f.n_org_nets = 2;
    o = run(rep_report, *state, REP_TEXT, &f);
    assert_width(o, 100);
    assert_non_null(strstr(o, "DIRECTION"));
    /* outbound: sessions 1, 2, 6; 2 not encrypted (1 cleartext, 6 partial);
     * 2 cleartext messages; 1 with credentials. */
    assert_int_equal(sscanf(line_with(o, "  outbound "), " outbound organisation -> outside"
                            " %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3]), 4);
    assert_int_equal(v[0], 3);
    assert_int_equal(v[1], 2);
    assert_int_equal(v[2], 2);
    assert_int_equal(v[3], 1);
    assert_int_equal(sscanf(line_with(o, "  inbound "), " inbound outside -> organisation"
                            " %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3]), 4);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[2], 1);
    assert_int_equal(sscanf(line_with(o, "  internal "), " internal organisation -> organisation"
                            " %lld", &v[0]), 1);
    assert_int_equal(v[0], 1);
    assert_int_equal(sscanf(line_with(o, "  external "), " external outside -> outside %lld",
                            &v[0]), 1);
    assert_int_equal(v[0], 1);
    assert_true(has_text(o, "2 messages to external servers left in cleartext; 2 of 3 "
                            "outbound connections were not (fully) encrypted."));
    free(o);

    /* Only IPv4 net: the v6 session becomes external. */
    f.n_org_nets = 1;
    o = run(rep_report, *state, REP_JSON, &f);
    assert_true(json_valid(o, strlen(o)));
    assert_non_null(strstr(o, "\"outbound\": {\n      \"sessions\": 2"));
    free(o);

    /* A bad CIDR is an error. */
    {
        static const char *const bad[] = { "10.0.0.0/33" };
        char err[256] = "", *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        f.org_nets = bad;
        f.n_org_nets = 1;
        assert_int_equal(rep_report(*state, REP_TEXT, &f, out, err, sizeof err), -1);
        fclose(out);
        free(buf);
        assert_non_null(strstr(err, "10.0.0.0/33"));
    }
}

static void test_report_json(void **state)
{
    char *o = run(rep_report, *state, REP_JSON, &nofilter);

    assert_true(json_valid(o, strlen(o)));
    assert_no_controls(o);
    assert_non_null(strstr(o, "\"sessions\": 6"));
    assert_non_null(strstr(o, "\"cleartext_messages\": 3"));
    assert_non_null(strstr(o, "\"direction\": null"));
    assert_non_null(strstr(o, "\"summary\": \"3 messages crossed the wire in cleartext"));
    assert_non_null(strstr(o, "\"banner_host\": \"mx1.example.org\""));
    assert_non_null(strstr(o, "\"unit\": \"hour\""));
    assert_non_null(strstr(o, "\"user\": \"alice\\u001b[1m\""));
    /* JSON is not collapsed: all 25 noise findings are there. */
    assert_int_equal(count_lines_with(o, "\"kind\": \"zz_noise\""), 25);
    free(o);
}

static void test_report_filters(void **state)
{
    struct rep_filter f = nofilter;
    char *o;

    /* Minimum severity applies to the findings section. */
    f.min_severity = MT_SEV_MEDIUM;
    o = run(rep_report, *state, REP_TEXT, &f);
    assert_null(strstr(o, "zz_noise"));
    assert_non_null(strstr(o, "weak_tls_version"));
    free(o);

    /* Period: only sessions 2 and 3. */
    f = nofilter;
    f.since = T0 + 3600;
    f.until = T0 + 3 * 3600;
    o = run(rep_report, *state, REP_TEXT, &f);
    assert_width(o, 100);
    assert_non_null(strstr(line_with(o, "SMTP connections"), " 2"));
    assert_true(has_text(o, "1 message crossed the wire in cleartext, in 1 of 2 SMTP "
                            "connections; no credentials were exposed."));
    assert_non_null(strstr(o, "No credentials were exposed."));
    assert_null(strstr(o, "starttls_command_injection"));
    free(o);

    /* A period with nothing in it: said plainly, nothing else. */
    f.since = T0 + 100 * 86400;
    f.until = 0;
    o = run(rep_report, *state, REP_TEXT, &f);
    assert_non_null(strstr(o, "No SMTP connection was recorded in this period."));
    assert_null(strstr(o, "SERVERS"));
    free(o);
    o = run(rep_report, *state, REP_JSON, &f);
    assert_true(json_valid(o, strlen(o)));
    assert_non_null(strstr(o, "\"servers\": []"));
    free(o);
}

/* Number of CSV fields of one line (quotes honoured), or -1. */
static int csv_fields(const char *l, size_t n)
{
    int fields = 1, inq = 0;
    for (size_t i = 0; i < n; i++) {
        if (inq) {
            if (l[i] == '"' && i + 1 < n && l[i + 1] == '"')
                i++;
            else if (l[i] == '"')
                inq = 0;
        } else if (l[i] == '"') {
            inq = 1;
        } else if (l[i] == ',') {
            fields++;
        }
    }
    return inq ? -1 : fields;
}

/* Every block of a CSV report has rows as wide as its header. */
static void assert_csv_blocks(const char *s)
{
    int want = 0;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (len == 0) {
            want = 0;
        } else {
            int n = csv_fields(s, len);
            assert_true(n > 1);
            if (want == 0) {
                assert_true(strncmp(s, "\"section\",", 10) == 0);
                want = n;
            } else {
                if (n != want)
                    fprintf(stderr, "CSV row: %.*s\n", (int)len, s);
                assert_int_equal(n, want);
            }
        }
        s += len + (nl ? 1 : 0);
    }
}

static void test_report_csv(void **state)
{
    char *o = run(rep_report, *state, REP_CSV, &nofilter);

    assert_no_controls(o);
    assert_csv_blocks(o);
    assert_non_null(strstr(o, "\"overview\",\"sessions\",6\n"));
    assert_non_null(strstr(o, "\"overview\",\"cleartext_messages\",3\n"));
    assert_non_null(strstr(o, "\"section\",\"server_ip\",\"server_port\",\"banner_host\""));
    assert_non_null(strstr(o, "\"servers\",\"198.51.100.7\",25,\"mx1.example.org\",1,1,"));
    assert_non_null(strstr(o, "\"recipient_domains\",\"example.com\",3\n"));
    assert_non_null(strstr(o, "\"timeline.buckets\",\"2024-05-01 10:00\",1,0,1,0\n"));
    assert_int_equal(count_lines_with(o, "\"zz_noise\""), 25);
    free(o);
}

static void test_report_html(void **state)
{
    static const char *const nets[] = { "10.0.0.0/8" };
    struct rep_filter f = nofilter;
    char *o;
    size_t n;

    f.org_nets = nets;
    f.n_org_nets = 1;
    o = run(rep_report, *state, REP_HTML, &f);
    n = strlen(o);
    assert_no_controls(o);
    assert_true(strncmp(o, "<!DOCTYPE html>", 15) == 0);
    assert_true(n > 8 && strcmp(o + n - 8, "</html>\n") == 0);
    assert_null(strstr(o, "<script"));
    assert_null(strstr(o, "http"));      /* no external assets */
    assert_non_null(strstr(o, "<p class=\"summary\">2 messages to external servers"));
    assert_non_null(strstr(o, "<h2>Direction</h2>"));
    assert_non_null(strstr(o, "<h2>Timeline</h2>"));
    assert_non_null(strstr(o, "class=\"bar\""));
    assert_non_null(strstr(o, "<td>mx1.example.org</td>"));
    assert_non_null(strstr(o, "2024-05-01T10:00:00Z"));
    /* as many closing as opening tags of the main kinds */
    assert_int_equal(count_lines_with(o, "<table"), count_lines_with(o, "</table>"));
    free(o);
}

/* An empty database: quiet, and still valid JSON. */
static void test_report_empty(void **state)
{
    char err[STORE_ERRBUF_SIZE], path[300], *o;
    store_t *s;
    (void)state;

    snprintf(path, sizeof path, "/tmp/mt_rep_empty_%d.db", (int)getpid());
    unlink(path);
    s = store_open(path, STORE_RW, err);
    assert_non_null(s);
    o = run(rep_report, s, REP_TEXT, &nofilter);
    assert_non_null(strstr(o, "No SMTP connection was recorded in this period."));
    assert_non_null(strstr(o, "Captures             0"));
    free(o);
    o = run(rep_report, s, REP_JSON, &nofilter);
    assert_true(json_valid(o, strlen(o)));
    free(o);
    o = run(rep_sessions, s, REP_JSON, &nofilter);
    assert_string_equal(o, "");
    free(o);
    o = run(rep_findings, s, REP_TEXT, NULL);
    assert_string_equal(o, "no findings\n");
    free(o);
    store_close(s, err);
    unlink(path);
}

/* Hostile bytes written behind the store's back (invalid UTF-8, bidi
 * override, C1 CSI, quotes) are escaped in every output. */
static void test_hostile_db(void **state)
{
    char err[STORE_ERRBUF_SIZE], path[300], *o;
    store_t *s;
    sqlite3 *db;
    static const char evil[] =
        "INSERT INTO captures (id, kind, mailtap_version, analysed_at) VALUES (1, 'file', 'x', 'y');"
        "INSERT INTO sessions (id, capture_id, client_ip, client_port, server_ip, server_port,"
        " start_ts, protection, banner, auth_user, exposed_credentials)"
        " VALUES (1, 1, '10.0.0.1', 1, 'evil\x1b[2J', 25, 1714557600, 'cleartext',"
        " X'6f6b20ff20c29b33326d20e280ae206122205c', 'u\"\\', 1);"
        "INSERT INTO sessions (id, capture_id, client_ip, client_port, server_ip, server_port,"
        " start_ts, protection, banner) VALUES (2, 1, '10.0.0.2', 2, '10.0.0.3', 25,"
        " 1714557700, 'starttls', '=cmd|x <script>alert(1)</script> \"q\"');"
        "INSERT INTO findings (session_id, kind, severity, ts, evidence)"
        " VALUES (1, 'k\x1b', 'critical', 1714557601, 'line1\nline2\r\x7f'),"
        " (2, '=HYPERLINK(\"x\")', 'high', 1714557701, '<img src=x onerror=alert(1)><script>');";
    (void)state;

    snprintf(path, sizeof path, "/tmp/mt_rep_evil_%d.db", (int)getpid());
    unlink(path);
    s = store_open(path, STORE_RW, err);
    assert_non_null(s);
    db = store_db(s);
    assert_int_equal(sqlite3_exec(db, evil, NULL, NULL, NULL), SQLITE_OK);
    /* X'..' makes a blob; make it text as the store would. */
    assert_int_equal(sqlite3_exec(db, "UPDATE sessions SET banner = CAST(banner AS TEXT)", NULL,
                                  NULL, NULL), SQLITE_OK);
    for (int fmt = REP_TEXT; fmt <= REP_HTML; fmt++) {
        rep_fn fns[3] = { rep_sessions, rep_findings, rep_report };
        for (int k = (fmt >= REP_CSV ? 2 : 0); k < 3; k++) {
            o = run(fns[k], s, (enum rep_format)fmt, &nofilter);
            assert_no_controls(o);
            assert_null(strstr(o, "\xc2\x9b"));
            assert_null(strstr(o, "\xe2\x80\xae"));
            assert_null(strstr(o, "\xff"));
            if (fmt == REP_JSON) {
                if (k == 2)
                    assert_true(json_valid(o, strlen(o)));
                else
                    assert_true(json_lines_valid(o) > 0);
            } else if (fmt == REP_TEXT && k == 2) {
                assert_width(o, 100);
            } else if (fmt == REP_CSV) {
                assert_csv_blocks(o);
                assert_non_null(strstr(o, "\"'=cmd|x\""));          /* formula neutralised */
                assert_non_null(strstr(o, "\"'=HYPERLINK(\"\"x\"\")\""));
            } else if (fmt == REP_HTML) {
                assert_null(strstr(o, "<script"));
                assert_null(strstr(o, "<img"));
                assert_non_null(strstr(o, "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;"));
                assert_non_null(strstr(o, "=cmd|x"));
            }
            free(o);
        }
    }
    store_close(s, err);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sessions_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_findings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_org_nets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_html, setup, teardown),
        cmocka_unit_test(test_report_empty),
        cmocka_unit_test(test_hostile_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
