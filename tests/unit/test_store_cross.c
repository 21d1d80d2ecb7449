/*
 * test_store_cross.c — store_crosscheck (schema version 3): retries after a
 * failed STARTTLS (plaintext_retry_after_tls_failure, starttls_then_reset),
 * the per-server baselines (starttls_capability_disappeared,
 * cert_changed_vs_baseline) kept across runs, and the migration of a
 * version 2 file.  Each test feeds sessions the way the pipeline does:
 * store_session_begin, the session's own findings, store_session_end, then
 * store_crosscheck, whose findings are stored with store_finding.
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

#include "store/store.h"
#include "tests/unit/fix_store.h"

extern const char mt_store_schema_v1[];   /* store/schema.c */
extern const char mt_store_schema_v2[];

#define T0 1795860000.0   /* 2026-11-28T10:00:00Z */

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(NULL, "mt_storecross");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

/* ---- a little pipeline ------------------------------------------------------ */

/* What crosscheck emitted, as the caller sees it. */
struct got {
    store_t *s;
    int64_t sid;
    int n;
    char kind[8][64];
    enum mt_severity sev[8];
    char evidence[8][MT_EVIDENCE_MAX];
};

/* The emit callback: records the finding and stores it (as main does). */
static void emit(void *arg, const struct mt_finding *f)
{
    struct got *g = arg;
    if (g->n < 8) {
        snprintf(g->kind[g->n], sizeof g->kind[g->n], "%s", f->kind);
        g->sev[g->n] = f->severity;
        snprintf(g->evidence[g->n], sizeof g->evidence[g->n], "%s", f->evidence);
    }
    g->n++;
    assert_int_equal(store_finding(g->s, g->sid, f), 0);
}

static void endpoints(struct store_endpoints *ep, const char *client, const char *server,
                      uint16_t port)
{
    fill_endpoints(ep, client, 40000, server, port);
}

/* A session of server "mx.example.org" starting at t. */
static void base_session(struct mt_session *ms, double t)
{
    memset(ms, 0, sizeof *ms);
    ms->start_ts = t;
    ms->end_ts = t + 2;
    ms->end_reason = MT_END_FIN;
    ms->syn_seen = 1;
    ms->client_bytes = 500;
    ms->server_bytes = 400;
    snprintf(ms->banner, sizeof ms->banner, "MX.Example.ORG ESMTP Postfix");
    snprintf(ms->helo, sizeof ms->helo, "client.example.net");
    snprintf(ms->helo_verb, sizeof ms->helo_verb, "EHLO");
    snprintf(ms->confidence, sizeof ms->confidence, "high");
}

/* EHLO reply offering STARTTLS, STARTTLS used and TLS completed. */
static void tls_session(struct mt_session *ms, double t)
{
    base_session(ms, t);
    ms->protection = MT_PROT_STARTTLS;
    snprintf(ms->ehlo_keywords, sizeof ms->ehlo_keywords, "PIPELINING SIZE STARTTLS 8BITMIME");
    ms->starttls_offered = ms->starttls_requested = 1;
    ms->starttls_reply = 220;
    ms->tls_started = 1;
    ms->tls_handshake_complete = 1;
}

/* EHLO reply without STARTTLS, mail in cleartext. */
static void clear_session(struct mt_session *ms, double t)
{
    base_session(ms, t);
    ms->protection = MT_PROT_CLEARTEXT;
    snprintf(ms->ehlo_keywords, sizeof ms->ehlo_keywords, "PIPELINING SIZE 8BITMIME");
    ms->exposed_envelope = ms->exposed_content = 1;
    ms->cleartext_messages = 1;
}

/* STARTTLS offered and requested, refused with 454: no handshake. */
static void refused_session(struct mt_session *ms, double t)
{
    tls_session(ms, t);
    ms->starttls_reply = 454;
    ms->tls_handshake_complete = 0;
}

/* A TLS 1.2 session presenting leaf (digit d repeated) from issuer. */
static void cert_session(struct mt_session *ms, double t, char d, const char *issuer)
{
    tls_session(ms, t);
    memset(ms->cert_sha256, d, 64);
    ms->cert_sha256[64] = '\0';
    snprintf(ms->cert_subject, sizeof ms->cert_subject, "CN=mx.example.org");
    snprintf(ms->cert_issuer, sizeof ms->cert_issuer, "%s", issuer);
}

/* Stores one session (with the given own finding kinds, may be NULL) and
 * cross-checks it; g gets what was emitted.  Returns the session id. */
static int64_t put(store_t *s, int64_t cap, const struct store_endpoints *ep,
                   const struct mt_session *ms, const char *const *own, struct got *g)
{
    int64_t sid = store_session_begin(s, cap, ep, ms->start_ts);
    int rc;

    assert_true(sid > 0);
    for (int i = 0; own && own[i]; i++) {
        struct mt_finding f;
        memset(&f, 0, sizeof f);
        f.kind = own[i];
        f.severity = MT_SEV_MEDIUM;
        f.ts = ms->start_ts + 1;
        snprintf(f.evidence, sizeof f.evidence, "own finding");
        assert_int_equal(store_finding(s, sid, &f), 0);
    }
    assert_int_equal(store_session_end(s, sid, ep, ms), 0);
    memset(g, 0, sizeof *g);
    g->s = s;
    g->sid = sid;
    rc = store_crosscheck(s, sid, ep, ms, emit, g);
    if (rc < 0)
        fprintf(stderr, "crosscheck: %s\n", store_errmsg(s));
    assert_int_equal(rc, g->n);
    return sid;
}

/* Stores n sessions made by mk at t, t + step, ...; none may raise. */
static void put_quiet(store_t *s, int64_t cap, const struct store_endpoints *ep,
                      void (*mk)(struct mt_session *, double), double t, double step, int n)
{
    struct mt_session ms;
    struct got g;

    for (int i = 0; i < n; i++) {
        mk(&ms, t + step * i);
        put(s, cap, ep, &ms, NULL, &g);
        assert_int_equal(g.n, 0);
    }
}

/* 3 sessions of ep offering STARTTLS from T0 a minute apart, then one
 * without at T0 + 600: 1 in a row, nothing raised yet. */
static void offered_then_absent(store_t *s, int64_t cap, const struct store_endpoints *ep)
{
    struct mt_session ms;
    struct got g;

    put_quiet(s, cap, ep, tls_session, T0, 60, 3);
    clear_session(&ms, T0 + 600);
    put(s, cap, ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
}

static int64_t new_capture(store_t *s, const char *name)
{
    int64_t cap;
    assert_int_equal(store_capture_begin(s, name, "file", "", &cap), 0);
    return cap;
}

static int has_text(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) {
        fprintf(stderr, "\"%s\" not in \"%s\"\n", needle, hay);
        return 0;
    }
    return 1;
}

/* ---- starttls_capability_disappeared --------------------------------------- */

/* 3 x STARTTLS, then absent: one finding on the 2nd absent reply, none on
 * the 3rd; STARTTLS again ends the run, a new run reports again. */
static void test_disappeared(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("d.db");
    int64_t cap, sid;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "d");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    offered_then_absent(s, cap, &ep);                /* 1 in a row */
    clear_session(&ms, T0 + 660);
    sid = put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);                        /* 2 in a row */
    assert_string_equal(g.kind[0], "starttls_capability_disappeared");
    assert_int_equal(g.sev[0], MT_SEV_HIGH);
    assert_string_equal(g.evidence[0], "STARTTLS offered in 3 earlier sessions (last 2026-11-28"
                                       " 10:02Z), absent now (2 in a row); other keywords"
                                       " unchanged");
    clear_session(&ms, T0 + 720);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);                        /* once per run */
    assert_int_equal(store_flush(s), 0);
    {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM findings WHERE session_id = %lld"
                 " AND kind = 'starttls_capability_disappeared'", (long long)sid);
        assert_int_equal(q_int(store_db(s), sql), 1);
    }
    /* offered again, then absent twice: reported again */
    put_quiet(s, cap, &ep, tls_session, T0 + 800, 60, 1);
    clear_session(&ms, T0 + 900);
    snprintf(ms.ehlo_keywords, sizeof ms.ehlo_keywords, "PIPELINING SIZE");
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    clear_session(&ms, T0 + 960);
    snprintf(ms.ehlo_keywords, sizeof ms.ehlo_keywords, "PIPELINING SIZE");
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_true(has_text(g.evidence[0], "offered in 4 earlier sessions"));
    assert_true(has_text(g.evidence[0], "other keywords changed"));
    assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM findings"), 2);
    assert_int_equal(store_close(s, err), 0);
}

/* Fewer than STORE_BASELINE_MIN_OBS offers: no baseline, nothing raised.
 * Another port, address or host name is another server. */
static void test_disappeared_needs_history(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    struct store_endpoints ep, other;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("h.db");
    int64_t cap;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "h");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    put_quiet(s, cap, &ep, tls_session, T0, 60, STORE_BASELINE_MIN_OBS - 1);
    put_quiet(s, cap, &ep, clear_session, T0 + 600, 60, 3);
    /* another server (port 587, then another greeting name) */
    endpoints(&other, "192.0.2.10", "198.51.100.26", 25);
    put_quiet(s, cap, &other, tls_session, T0, 60, 3);
    endpoints(&other, "192.0.2.10", "198.51.100.26", 587);
    put_quiet(s, cap, &other, clear_session, T0 + 600, 60, 3);
    endpoints(&other, "192.0.2.10", "198.51.100.26", 25);
    for (int i = 0; i < 3; i++) {
        clear_session(&ms, T0 + 900 + 60 * i);
        snprintf(ms.banner, sizeof ms.banner, "mx2.example.org ESMTP");
        put(s, cap, &other, &ms, NULL, &g);
        assert_int_equal(g.n, 0);
    }
    /* a HELO session without fallback, implicit TLS: not an EHLO reply */
    for (int i = 0; i < 3; i++) {
        clear_session(&ms, T0 + 1200 + 60 * i);
        ms.ehlo_keywords[0] = '\0';
        snprintf(ms.helo_verb, sizeof ms.helo_verb, "HELO");
        put(s, cap, &other, &ms, NULL, &g);
        assert_int_equal(g.n, 0);
    }
    assert_int_equal(store_flush(s), 0);      /* baselines are written per batch */
    assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM findings"), 0);
    assert_int_equal(q_int(store_db(s), "SELECT no_starttls_streak FROM server_baseline"
                                        " WHERE server_ip = '198.51.100.26' AND server_port = 25"
                                        " AND host = 'mx.example.org'"), 0);
    assert_int_equal(store_close(s, err), 0);
}

/* Critical when the session also shows the keyword masked, or EHLO refused
 * and HELO used (which counts as a reply without STARTTLS). */
static void test_disappeared_critical(void **state)
{
    static const char *const masked[] = { "starttls_token_masked", NULL };
    static const char *const fallback[] = { "ehlo_rejected_helo_fallback", NULL };
    char err[STORE_ERRBUF_SIZE];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("c.db");
    int64_t cap;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "c");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    offered_then_absent(s, cap, &ep);
    clear_session(&ms, T0 + 660);
    snprintf(ms.ehlo_keywords, sizeof ms.ehlo_keywords, "PIPELINING SIZE XXXXXXXX 8BITMIME");
    put(s, cap, &ep, &ms, masked, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.sev[0], MT_SEV_CRITICAL);
    assert_true(has_text(g.evidence[0], "the keyword is masked"));

    /* another server: the 2nd absent reply is an EHLO refused, HELO used */
    endpoints(&ep, "192.0.2.10", "198.51.100.27", 25);
    offered_then_absent(s, cap, &ep);
    clear_session(&ms, T0 + 660);
    ms.ehlo_keywords[0] = '\0';
    snprintf(ms.helo_verb, sizeof ms.helo_verb, "HELO");
    put(s, cap, &ep, &ms, fallback, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.kind[0], "starttls_capability_disappeared");
    assert_int_equal(g.sev[0], MT_SEV_CRITICAL);
    assert_true(has_text(g.evidence[0], "EHLO refused, HELO used"));
    assert_int_equal(store_close(s, err), 0);
}

/* The baseline lives in the file: history from an earlier run counts; a
 * session older than what the baseline has seen (an old capture analysed
 * later) updates the counts but raises nothing. */
static void test_baseline_across_runs(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    store_t *s;
    int64_t cap;
    (void)state;

    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    s = open_rw("r.db");
    assert_non_null(s);
    cap = new_capture(s, "run1");
    offered_then_absent(s, cap, &ep);
    assert_int_equal(store_capture_finish(s, cap, NULL, "complete"), 0);
    assert_int_equal(store_close(s, err), 0);

    s = open_rw("r.db");
    assert_non_null(s);
    cap = new_capture(s, "run2 (older capture)");
    /* a day earlier: absent twice, nothing raised */
    put_quiet(s, cap, &ep, clear_session, T0 - 86400, 60, 2);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(q_int(store_db(s), "SELECT no_starttls_count FROM server_baseline"), 3);
    assert_int_equal(q_int(store_db(s), "SELECT no_starttls_streak FROM server_baseline"), 1);
    assert_int_equal(store_capture_finish(s, cap, NULL, "complete"), 0);
    assert_int_equal(store_close(s, err), 0);

    s = open_rw("r.db");
    assert_non_null(s);
    cap = new_capture(s, "run3");
    clear_session(&ms, T0 + 700);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.kind[0], "starttls_capability_disappeared");
    assert_int_equal(store_close(s, err), 0);
}

/* ---- cert_changed_vs_baseline ---------------------------------------------- */

/* A renewal by the same issuer (another intermediate of the same CA) is
 * not reported and becomes the baseline after STORE_BASELINE_MIN_OBS
 * sightings; a leaf from another issuer is reported once (medium on 25,
 * high on submission), and becomes the baseline in turn. */
static void test_cert_changes(void **state)
{
    static const char le1[] = "CN=R3,O=Let's Encrypt,C=US";
    static const char le2[] = "CN=R11,O=Let's Encrypt,C=US";
    static const char evil[] = "CN=Corp Inspection CA,O=Example Corp Proxy,C=US";
    char err[STORE_ERRBUF_SIZE], buf[256];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("x.db");
    int64_t cap;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "x");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    for (int i = 0; i < 3; i++) {
        cert_session(&ms, T0 + 60 * i, 'a', le1);
        put(s, cap, &ep, &ms, NULL, &g);
        assert_int_equal(g.n, 0);
    }
    /* renewal: new leaf, same CA */
    for (int i = 0; i < 3; i++) {
        cert_session(&ms, T0 + 600 + 60 * i, 'b', le2);
        put(s, cap, &ep, &ms, NULL, &g);
        assert_int_equal(g.n, 0);
    }
    assert_int_equal(store_flush(s), 0);
    q_text(store_db(s), "SELECT substr(cert_sha256, 1, 4) || ' ' || cert_seen_count || ' '"
                        " || ifnull(cand_sha256, '-') FROM server_baseline", buf, sizeof buf);
    assert_string_equal(buf, "bbbb 3 -");
    /* interception: another issuer */
    cert_session(&ms, T0 + 1200, 'c', evil);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.kind[0], "cert_changed_vs_baseline");
    assert_int_equal(g.sev[0], MT_SEV_MEDIUM);
    assert_string_equal(g.evidence[0],
                        "leaf cccccccccccc... issued by \"CN=Corp Inspection CA,O=Example Corp"
                        " Proxy,C=US\", baseline bbbbbbbbbbbb... issued by \"CN=R11,O=Let's"
                        " Encrypt,C=US\" (3 sessions, last 2026-11-28 10:12Z)");
    /* the same leaf again: a candidate, not reported again */
    cert_session(&ms, T0 + 1260, 'c', evil);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    /* the old baseline is still the baseline meanwhile */
    cert_session(&ms, T0 + 1300, 'b', le2);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    cert_session(&ms, T0 + 1320, 'c', evil);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    assert_int_equal(store_flush(s), 0);
    q_text(store_db(s), "SELECT substr(cert_sha256, 1, 4) || ' ' || cert_seen_count"
                        " FROM server_baseline", buf, sizeof buf);
    assert_string_equal(buf, "cccc 3");

    /* on submission: high */
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 587);
    for (int i = 0; i < 3; i++) {
        cert_session(&ms, T0 + 60 * i, 'a', le1);
        put(s, cap, &ep, &ms, NULL, &g);
    }
    cert_session(&ms, T0 + 600, 'd', evil);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.sev[0], MT_SEV_HIGH);
    /* and on port 25 with AUTH used */
    endpoints(&ep, "192.0.2.11", "198.51.100.28", 25);
    for (int i = 0; i < 3; i++) {
        cert_session(&ms, T0 + 60 * i, 'a', le1);
        put(s, cap, &ep, &ms, NULL, &g);
    }
    cert_session(&ms, T0 + 600, 'd', evil);
    snprintf(ms.auth_mechanism, sizeof ms.auth_mechanism, "PLAIN");
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.sev[0], MT_SEV_HIGH);
    assert_int_equal(store_close(s, err), 0);
}

/* Too little history, or an older session: a different leaf is not
 * reported. */
static void test_cert_needs_history(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("y.db");
    int64_t cap;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "y");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    for (int i = 0; i < STORE_BASELINE_MIN_OBS - 1; i++) {
        cert_session(&ms, T0 + 60 * i, 'a', "CN=CA One,O=One");
        put(s, cap, &ep, &ms, NULL, &g);
    }
    cert_session(&ms, T0 + 600, 'b', "CN=CA Two,O=Two");
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    cert_session(&ms, T0 + 660, 'a', "CN=CA One,O=One");
    put(s, cap, &ep, &ms, NULL, &g);        /* a: 3 sightings */
    /* a day before everything seen: historical, not reported */
    cert_session(&ms, T0 - 86400, 'e', "CN=CA Three,O=Three");
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM findings"), 0);
    assert_int_equal(store_close(s, err), 0);
}

/* Long issuers (escaped text) are cut in the evidence without splitting an
 * escape or a UTF-8 character; the evidence fits its field. */
static void test_cert_evidence_long(void **state)
{
    char err[STORE_ERRBUF_SIZE], iss1[MT_STR], iss2[MT_STR];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("l.db");
    int64_t cap;
    const char *p;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "l");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    /* "O=" + 'A' x 40, escapes ("\\", "\x1b", "\xff"), then escaped and
     * raw UTF-8 up to the field's size */
    memset(iss1, 0, sizeof iss1);
    strcpy(iss1, "O=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\\\\\\x1b\\xff");
    while (strlen(iss1) + 9 < sizeof iss1)
        strcat(iss1, "\\xc3\\xa9");
    memset(iss2, 0, sizeof iss2);
    strcpy(iss2, "CN=x,O=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\xc3\xa9");
    while (strlen(iss2) + 3 < sizeof iss2)
        strcat(iss2, "\xc3\xa9");
    for (int i = 0; i < 3; i++) {
        cert_session(&ms, T0 + 60 * i, 'a', iss1);
        put(s, cap, &ep, &ms, NULL, &g);
    }
    cert_session(&ms, T0 + 600, 'b', iss2);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_true(strlen(g.evidence[0]) < MT_EVIDENCE_MAX - 1);
    /* every backslash starts a whole escape, no UTF-8 sequence is split */
    for (p = g.evidence[0]; (p = strchr(p, '\\')) != NULL; p += 2)
        assert_true(p[1] == '\\' || (p[1] == 'x' && p[2] && p[3]));
    for (p = g.evidence[0]; *p; p++)
        if ((unsigned char)*p == 0xc3)
            assert_true((unsigned char)p[1] == 0xa9);
    assert_true(has_text(g.evidence[0], "O=BBBB"));
    assert_true(has_text(g.evidence[0], "...\", baseline"));
    assert_true(has_text(g.evidence[0], "\\\\\\x1b...\""));
    assert_int_equal(store_close(s, err), 0);
}

/* ---- retries after a failed STARTTLS ---------------------------------------- */

/* STARTTLS refused with 454: a cleartext mail connection of the same
 * client to the same server 12.3 s later is reported once. */
static void test_retry_refused(void **state)
{
    char err[STORE_ERRBUF_SIZE], sql[200];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("t.db");
    int64_t cap, fid, rid;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "t");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    refused_session(&ms, T0);
    ms.protection = MT_PROT_CLEARTEXT;
    ms.tls_started = 0;
    ms.end_ts = T0 + 1.5;
    fid = put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    clear_session(&ms, T0 + 13.8);
    snprintf(ms.ehlo_keywords, sizeof ms.ehlo_keywords, "PIPELINING SIZE STARTTLS 8BITMIME");
    ms.starttls_offered = 1;
    ep.client_port = 40001;
    rid = put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.kind[0], "plaintext_retry_after_tls_failure");
    assert_int_equal(g.sev[0], MT_SEV_HIGH);
    snprintf(sql, sizeof sql, "cleartext retry 12.3 s after STARTTLS refused (454) in session #%lld",
             (long long)fid);
    assert_string_equal(g.evidence[0], sql);
    /* crosschecked again (a rewrite): not reported twice */
    assert_int_equal(store_crosscheck(s, rid, &ep, &ms, emit, &g), 0);
    assert_int_equal(store_flush(s), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM findings WHERE session_id = %lld",
             (long long)rid);
    assert_int_equal(q_int(store_db(s), sql), 1);
    assert_int_equal(store_close(s, err), 0);
}

/* Outside the window, another client, another server port, a retry that
 * uses STARTTLS or carries no mail, a STARTTLS that worked: nothing. */
static void test_retry_not(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    struct store_endpoints ep, other;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("n.db");
    int64_t cap;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "n");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    refused_session(&ms, T0);
    put(s, cap, &ep, &ms, NULL, &g);
    /* just outside the window */
    clear_session(&ms, T0 + STORE_RETRY_WINDOW + 0.5);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    /* another failure, then: another client, another port, no mail,
     * STARTTLS used */
    refused_session(&ms, T0 + 1000);
    put(s, cap, &ep, &ms, NULL, &g);
    endpoints(&other, "192.0.2.11", "198.51.100.25", 25);
    clear_session(&ms, T0 + 1010);
    put(s, cap, &other, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    endpoints(&other, "192.0.2.10", "198.51.100.25", 587);
    clear_session(&ms, T0 + 1011);
    put(s, cap, &other, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    clear_session(&ms, T0 + 1012);
    ms.exposed_envelope = ms.exposed_content = 0;
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    tls_session(&ms, T0 + 1013);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    /* a STARTTLS that completed, then cleartext mail */
    endpoints(&ep, "192.0.2.12", "198.51.100.25", 25);
    tls_session(&ms, T0 + 2000);
    put(s, cap, &ep, &ms, NULL, &g);
    clear_session(&ms, T0 + 2005);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    /* STARTTLS answered 220, closed with FIN without a handshake failure
     * seen: not a failure either */
    endpoints(&ep, "192.0.2.13", "198.51.100.25", 25);
    tls_session(&ms, T0 + 3000);
    ms.tls_handshake_complete = 0;
    put(s, cap, &ep, &ms, NULL, &g);
    clear_session(&ms, T0 + 3005);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM findings"), 0);
    assert_int_equal(store_close(s, err), 0);
}

/* STARTTLS answered 220, then a TCP reset before any handshake: the
 * cleartext retry is starttls_then_reset.  A handshake that failed with an
 * alert (tls_handshake_failed) and closed with FIN: a retry finding. */
static void test_reset_and_handshake_failure(void **state)
{
    static const char *const hsfail[] = { "tls_handshake_failed", NULL };
    char err[STORE_ERRBUF_SIZE], want[MT_EVIDENCE_MAX];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("z.db");
    int64_t cap, fid;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "z");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    tls_session(&ms, T0);
    ms.tls_handshake_complete = 0;
    ms.tls_started = 0;
    ms.end_reason = MT_END_RST;
    ms.end_ts = T0 + 1;
    fid = put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    clear_session(&ms, T0 + 3);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.kind[0], "starttls_then_reset");
    assert_int_equal(g.sev[0], MT_SEV_HIGH);
    snprintf(want, sizeof want, "cleartext retry 2.0 s after STARTTLS answered 220, then a TCP"
             " reset in session #%lld", (long long)fid);
    assert_string_equal(g.evidence[0], want);

    /* unanswered STARTTLS, reset */
    endpoints(&ep, "192.0.2.11", "198.51.100.25", 25);
    tls_session(&ms, T0);
    ms.tls_handshake_complete = 0;
    ms.starttls_reply = 0;
    ms.end_reason = MT_END_RST;
    put(s, cap, &ep, &ms, NULL, &g);
    clear_session(&ms, T0 + 30);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.kind[0], "starttls_then_reset");
    assert_true(has_text(g.evidence[0], "STARTTLS unanswered, then a TCP reset"));

    /* handshake failure (alert), FIN */
    endpoints(&ep, "192.0.2.12", "198.51.100.25", 25);
    tls_session(&ms, T0);
    ms.tls_handshake_complete = 0;
    fid = put(s, cap, &ep, &ms, hsfail, &g);
    clear_session(&ms, T0 + 10);
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.kind[0], "plaintext_retry_after_tls_failure");
    assert_true(has_text(g.evidence[0], "a failed TLS handshake after STARTTLS"));
    assert_int_equal(store_close(s, err), 0);
}

/* The failed session stored after its retry (it ended later, or came from
 * a file analysed later): the finding goes to the failed session, once. */
static void test_retry_reverse_order(void **state)
{
    char err[STORE_ERRBUF_SIZE], want[MT_EVIDENCE_MAX], sql[200];
    struct store_endpoints ep;
    struct mt_session ms, fail;
    struct got g;
    store_t *s = open_rw("v.db");
    int64_t cap, rid, fid;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "v");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    clear_session(&ms, T0 + 20);
    rid = put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 0);
    refused_session(&fail, T0);
    fail.end_ts = T0 + 610;           /* ended by the idle timeout */
    fail.end_reason = MT_END_TIMEOUT;
    fid = put(s, cap, &ep, &fail, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.kind[0], "plaintext_retry_after_tls_failure");
    snprintf(want, sizeof want, "STARTTLS refused (454) in this session; cleartext retry 20.0 s"
             " later in session #%lld", (long long)rid);
    assert_string_equal(g.evidence[0], want);
    assert_int_equal(store_flush(s), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM findings WHERE session_id = %lld",
             (long long)fid);
    assert_int_equal(q_int(store_db(s), sql), 1);
    /* the retry, crosschecked again, and another failure before it: no
     * second report of the same retry */
    assert_int_equal(store_crosscheck(s, rid, &ep, &ms, emit, &g), 0);
    refused_session(&fail, T0 + 5);
    put(s, cap, &ep, &fail, NULL, &g);
    assert_int_equal(g.n, 0);
    assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM findings"), 1);
    /* deleting the capture takes the pairs with it */
    assert_int_equal(store_capture_delete(s, cap), 0);
    assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM retry_pairs"), 0);
    assert_int_equal(store_close(s, err), 0);
}

/* The partial indexes serve the retry lookups (no scan of sessions). */
static void test_retry_query_plans(void **state)
{
    static const char *const q[] = {
        "SELECT id FROM sessions WHERE client_ip = ?1 AND server_ip = ?2 AND server_port = ?3"
        " AND start_ts >= ?4 AND start_ts < ?5 AND starttls_requested = 1"
        " AND tls_handshake_complete = 0",
        "SELECT id FROM sessions WHERE client_ip = ?1 AND server_ip = ?2 AND server_port = ?3"
        " AND start_ts > ?4 AND start_ts <= ?5 AND starttls_requested = 0"
        " AND (exposed_envelope = 1 OR exposed_content = 1)",
    };
    static const char *const idx[] = { "idx_sessions_tls_fail", "idx_sessions_clear_mail" };
    char err[STORE_ERRBUF_SIZE], sql[600], plan[300];
    store_t *s = open_rw("p.db");
    (void)state;

    assert_non_null(s);
    for (int i = 0; i < 2; i++) {
        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", q[i]);
        {
            sqlite3_stmt *st;
            assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL), SQLITE_OK);
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            snprintf(plan, sizeof plan, "%s", (const char *)sqlite3_column_text(st, 3));
            sqlite3_finalize(st);
        }
        assert_true(has_text(plan, idx[i]));
    }
    assert_int_equal(store_close(s, err), 0);
}

/* A session not ended yet cannot be cross-checked. */
static void test_not_stored(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    store_t *s = open_rw("e.db");
    int64_t cap, sid;
    (void)state;

    assert_non_null(s);
    cap = new_capture(s, "e");
    endpoints(&ep, "192.0.2.10", "198.51.100.25", 25);
    clear_session(&ms, T0);
    sid = store_session_begin(s, cap, &ep, T0);
    memset(&g, 0, sizeof g);
    g.s = s;
    assert_int_equal(store_crosscheck(s, sid, &ep, &ms, emit, &g), -1);
    assert_true(has_text(store_errmsg(s), "not stored yet"));
    assert_int_equal(store_crosscheck(s, sid, NULL, &ms, emit, &g), -1);
    assert_int_equal(store_close(s, err), 0);
}

/* ---- migration ---------------------------------------------------------------- */

/* A version 2 file is migrated in place: rows kept, the baselines filled
 * from the stored sessions (so that the next session is judged against
 * that history), and the same schema as a new file. */
static void test_migrate_v2(void **state)
{
    char err[STORE_ERRBUF_SIZE], buf[512];
    struct store_endpoints ep;
    struct mt_session ms;
    struct got g;
    sqlite3 *db;
    store_t *s;
    int64_t cap;
    (void)state;

    assert_int_equal(sqlite3_open(tpath("v2.db"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, mt_store_schema_v1, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, mt_store_schema_v2, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "PRAGMA user_version = 2;"
        "INSERT INTO captures (id, source, kind, status, mailtap_version, analysed_at)"
        " VALUES (1, 'old.pcap', 'file', 'complete', '0.1.0', '2026-11-01T00:00:00Z');"
        /* three EHLO replies with STARTTLS, then one without */
        "INSERT INTO sessions (id, capture_id, client_ip, client_port, server_ip, server_port,"
        " start_ts, banner, helo_verb, ehlo_keywords, starttls_offered, complete)"
        " VALUES (1, 1, '192.0.2.1', 1, '198.51.100.25', 25, 1795860000.0,"
        "  'mx.example.org ESMTP', 'EHLO', 'SIZE STARTTLS', 1, 1),"
        " (2, 1, '192.0.2.1', 2, '198.51.100.25', 25, 1795860060.0,"
        "  'MX.example.org ESMTP', 'EHLO', 'SIZE STARTTLS', 1, 1),"
        " (3, 1, '192.0.2.1', 3, '198.51.100.25', 25, 1795860120.0,"
        "  'mx.example.org', 'EHLO', 'SIZE STARTTLS', 1, 1),"
        " (4, 1, '192.0.2.1', 4, '198.51.100.25', 25, 1795860600.0,"
        "  'mx.example.org ESMTP', 'EHLO', 'SIZE', 0, 1);"
        /* a TLS 1.2 server with its leaf three times */
        "INSERT INTO sessions (id, capture_id, client_ip, client_port, server_ip, server_port,"
        " start_ts, protection, cert_sha256, cert_issuer, complete)"
        " VALUES (5, 1, '192.0.2.1', 5, '198.51.100.30', 465, 1795860000.0, 'implicit_tls',"
        "  'aaaa', 'CN=R3,O=Let''s Encrypt', 1),"
        " (6, 1, '192.0.2.1', 6, '198.51.100.30', 465, 1795860100.0, 'implicit_tls',"
        "  'aaaa', 'CN=R3,O=Let''s Encrypt', 1),"
        " (7, 1, '192.0.2.1', 7, '198.51.100.30', 465, 1795860200.0, 'implicit_tls',"
        "  'aaaa', 'CN=R3,O=Let''s Encrypt', 1);"
        "INSERT INTO findings (session_id, kind, severity) VALUES (4, 'starttls_not_offered',"
        " 'medium');",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    assert_null(store_open(tpath("v2.db"), STORE_RO, err));
    assert_true(has_text(err, "older than this mailtap"));

    s = open_rw("v2.db");
    assert_non_null(s);
    db = store_db(s);
    assert_int_equal(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions"), 7);
    assert_int_equal(q_int(db, "SELECT count(*) FROM findings"), 1);
    q_text(db, "SELECT group_concat(server_port || ' ' || host || ' ' || starttls_seen_count"
               " || ' ' || no_starttls_count || ' ' || no_starttls_streak || ' '"
               " || ifnull(keywords, '-') || ' ' || ifnull(cert_sha256, '-') || ' '"
               " || cert_seen_count, ';') FROM (SELECT * FROM server_baseline"
               " ORDER BY server_port)", buf, sizeof buf);
    assert_string_equal(buf, "25 mx.example.org 3 1 1 SIZE STARTTLS - 0;"
                             "465  0 0 0 - aaaa 3");
    assert_int_equal(q_int(db, "PRAGMA foreign_key_check"), -999);
    {
        /* the same schema as a new file */
        sqlite3_stmt *q1, *q2;
        store_t *n = open_rw("new.db");
        const char *sql = "SELECT group_concat(name || ':' || ifnull(sql, ''), char(10)) FROM"
                          " (SELECT * FROM sqlite_schema ORDER BY name)";
        assert_non_null(n);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q1, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(store_db(n), sql, -1, &q2, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q1), SQLITE_ROW);
        assert_int_equal(sqlite3_step(q2), SQLITE_ROW);
        assert_string_equal(sqlite3_column_text(q1, 0), sqlite3_column_text(q2, 0));
        sqlite3_finalize(q1);
        sqlite3_finalize(q2);
        assert_int_equal(store_close(n, err), 0);
    }
    /* the history counts: one more reply without STARTTLS is the 2nd in a
     * row */
    cap = new_capture(s, "new.pcap");
    endpoints(&ep, "192.0.2.1", "198.51.100.25", 25);
    clear_session(&ms, 1795860700.0);
    snprintf(ms.banner, sizeof ms.banner, "mx.example.org ESMTP");
    snprintf(ms.ehlo_keywords, sizeof ms.ehlo_keywords, "SIZE");
    put(s, cap, &ep, &ms, NULL, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.evidence[0], "STARTTLS offered in 3 earlier sessions (last 2026-11-28"
                                       " 10:02Z), absent now (2 in a row); other keywords"
                                       " unchanged");
    assert_int_equal(store_close(s, err), 0);

    /* reopening does not migrate again */
    s = open_rw("v2.db");
    assert_non_null(s);
    assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM server_baseline"), 2);
    assert_int_equal(store_close(s, err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disappeared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disappeared_needs_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disappeared_critical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_baseline_across_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_needs_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_evidence_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_handshake_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_reverse_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_query_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v2, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
