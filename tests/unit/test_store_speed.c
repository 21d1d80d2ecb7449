/*
 * test_store_speed.c — store/ write path under a many-short-sessions load:
 * every session is begin, one message with one recipient, three findings
 * (one linked to the message), end (+ store_crosscheck), K sessions in
 * flight at once as in a capture with K concurrent connections.
 *
 * By default a small run that checks the row counts and the links.  With
 * MT_STORE_BENCH=N (e.g. 100000) it also times N sessions into a file in
 * TMPDIR (or /tmp) and prints microseconds per session; MT_STORE_BENCH_K
 * sets the sessions in flight (default 1000), MT_STORE_BENCH_KEEP=1 keeps
 * the database.  It never fails on time: the figure is for people.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "tests/unit/fix_store.h"

#define T0 1800000000.0

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(getenv("TMPDIR"), "mt_storespeed");
}

static int teardown(void **state)
{
    const char *keep = getenv("MT_STORE_BENCH_KEEP");
    (void)state;
    if (keep && *keep == '1') {
        fprintf(stderr, "kept %s\n", tmpdir);
        return 0;
    }
    return tmpdir_remove();
}

static void no_emit(void *arg, const struct mt_finding *f)
{
    (void)f;
    ++*(unsigned long *)arg;
}

/* One session of the load: what the dissector reports for a short
 * cleartext delivery (k = its number). */
struct load {
    struct store_endpoints ep;
    struct mt_session ms;
    struct mt_message m;
    struct mt_recipient r;
    struct mt_finding f[3];
};

static void make_load(struct load *l, unsigned long k)
{
    memset(l, 0, sizeof *l);
    snprintf(l->ep.client_ip, sizeof l->ep.client_ip, "10.%lu.%lu.%lu", (k >> 16) & 255,
             (k >> 8) & 255, k & 255);
    l->ep.client_port = (uint16_t)(1024 + k % 60000);
    snprintf(l->ep.server_ip, sizeof l->ep.server_ip, "172.16.%lu.25", k % 8);
    l->ep.server_port = 25;

    l->ms.start_ts = T0 + (double)k * 0.01;
    l->ms.end_ts = l->ms.start_ts + 0.2;
    l->ms.end_reason = MT_END_FIN;
    l->ms.protection = MT_PROT_CLEARTEXT;
    snprintf(l->ms.banner, sizeof l->ms.banner, "mx%lu.example.org ESMTP Postfix", k % 8);
    snprintf(l->ms.helo, sizeof l->ms.helo, "client%lu.example.net", k);
    snprintf(l->ms.helo_verb, sizeof l->ms.helo_verb, "EHLO");
    snprintf(l->ms.ehlo_keywords, sizeof l->ms.ehlo_keywords,
             "PIPELINING SIZE ETRN ENHANCEDSTATUSCODES 8BITMIME DSN SMTPUTF8 CHUNKING");
    l->ms.exposed_envelope = l->ms.exposed_content = 1;
    l->ms.cleartext_messages = 1;
    l->ms.client_bytes = 1800;
    l->ms.server_bytes = 400;
    l->ms.syn_seen = 1;
    snprintf(l->ms.confidence, sizeof l->ms.confidence, "high");

    l->m.seq = 1;
    snprintf(l->m.mail_from, sizeof l->m.mail_from, "sender%lu@example.net", k);
    l->m.rcpt_count = 1;
    l->m.size = 1500;
    memset(l->m.body_sha256, 'a' + (int)(k % 6), 64);
    snprintf(l->m.subject, sizeof l->m.subject, "Report %lu", k);
    snprintf(l->m.message_id, sizeof l->m.message_id, "<%lu@example.net>", k);
    snprintf(l->m.from_hdr, sizeof l->m.from_hdr, "Sender <sender%lu@example.net>", k);
    snprintf(l->m.date_hdr, sizeof l->m.date_hdr, "Sat, 28 Nov 2026 10:00:00 +0000");
    l->m.ts = l->ms.start_ts + 0.1;
    l->m.reply_code = 250;
    l->m.content_exposed = l->m.complete = 1;
    snprintf(l->r.address, sizeof l->r.address, "rcpt%lu@example.org", k);
    snprintf(l->r.domain, sizeof l->r.domain, "example.org");
    l->r.reply_code = 250;
    l->m.rcpts = &l->r;
    l->m.n_rcpts = 1;

    l->f[0].kind = "starttls_not_offered";
    l->f[0].severity = MT_SEV_MEDIUM;
    l->f[0].ts = l->ms.start_ts + 0.05;
    snprintf(l->f[0].evidence, sizeof l->f[0].evidence, "EHLO reply without STARTTLS");
    l->f[1].kind = "plaintext_envelope";
    l->f[1].severity = MT_SEV_MEDIUM;
    l->f[1].ts = l->ms.start_ts + 0.08;
    snprintf(l->f[1].evidence, sizeof l->f[1].evidence, "MAIL FROM and 1 RCPT in cleartext");
    l->f[2].kind = "plaintext_message_body";
    l->f[2].severity = MT_SEV_HIGH;
    l->f[2].ts = l->m.ts;
    l->f[2].msg_seq = 1;
    snprintf(l->f[2].evidence, sizeof l->f[2].evidence, "DATA of 1500 octets in cleartext");
}

static double clock_s(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static double cpu_s(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* Runs n sessions, k in flight: session i begins (first finding), gets
 * its message and findings, and ends k sessions later.  Returns seconds. */
static double run_load(store_t *s, int64_t cap, unsigned long n, unsigned long k,
                       int crosscheck, unsigned long *emitted, double *cpu)
{
    int64_t *sid = calloc(k, sizeof *sid);
    struct load *l = malloc(sizeof *l);
    double t;

    assert_non_null(sid);
    assert_non_null(l);
    t = now_s();
    *cpu = cpu_s();
    for (unsigned long i = 0; i < n + k; i++) {
        unsigned long slot = i % k;
        if (i >= k) {               /* the session begun k turns ago ends */
            unsigned long j = i - k;
            make_load(l, j);
            assert_int_equal(store_message(s, sid[slot], &l->m), 0);
            assert_int_equal(store_finding(s, sid[slot], &l->f[1]), 0);
            assert_int_equal(store_finding(s, sid[slot], &l->f[2]), 0);
            assert_int_equal(store_session_end(s, sid[slot], &l->ep, &l->ms), 0);
            if (crosscheck)
                assert_int_equal(store_crosscheck(s, sid[slot], &l->ep, &l->ms, no_emit,
                                                  emitted), 0);
        }
        if (i < n) {
            make_load(l, i);
            sid[slot] = store_session_begin(s, cap, &l->ep, l->ms.start_ts);
            assert_true(sid[slot] > 0);
            assert_int_equal(store_finding(s, sid[slot], &l->f[0]), 0);
        }
    }
    assert_int_equal(store_flush(s), 0);
    t = now_s() - t;
    *cpu = cpu_s() - *cpu;
    free(l);
    free(sid);
    return t;
}

static void check_rows(sqlite3 *db, unsigned long n)
{
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions WHERE complete = 1"), (long long)n);
    assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), (long long)n);
    assert_int_equal(q_int(db, "SELECT count(*) FROM recipients"), (long long)n);
    assert_int_equal(q_int(db, "SELECT count(*) FROM findings"), 3 * (long long)n);
    /* every finding of the message is linked to it, of its own session */
    assert_int_equal(q_int(db, "SELECT count(*) FROM findings f JOIN messages m"
                               " ON m.id = f.message_id AND m.session_id = f.session_id"),
                     (long long)n);
    /* and each message to its own session (helo "client<k>.example.net") */
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions s JOIN messages m"
                               " ON m.session_id = s.id WHERE m.message_id = '<'"
                               " || substr(s.helo, 7, length(s.helo) - 18) || '@example.net>'"),
                     (long long)n);
    assert_int_equal(q_int(db, "PRAGMA foreign_key_check"), -999);    /* no rows */
}

/* The load stores every row, linked to the right session. */
static void test_load_rows(void **state)
{
    char err[STORE_ERRBUF_SIZE], path[400];
    unsigned long emitted = 0;
    int64_t cap;
    store_t *s;
    double cpu;
    (void)state;

    snprintf(path, sizeof path, "%s/small.db", tmpdir);
    s = store_open(path, STORE_RW, err);
    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, "load", "file", "", &cap), 0);
    (void)run_load(s, cap, 3 * STORE_BATCH_ROWS / 2, 300, 1, &emitted, &cpu);
    assert_int_equal(store_capture_finish(s, cap, NULL, "complete"), 0);
    check_rows(store_db(s), 3 * STORE_BATCH_ROWS / 2);
    assert_int_equal(emitted, 0);
    assert_int_equal(store_close(s, err), 0);
}

/* MT_STORE_BENCH=N: the timed run. */
static void test_load_timed(void **state)
{
    const char *e = getenv("MT_STORE_BENCH"), *ek = getenv("MT_STORE_BENCH_K"),
               *ec = getenv("MT_STORE_BENCH_CROSS");
    char err[STORE_ERRBUF_SIZE], path[400];
    unsigned long n, k, emitted = 0;
    int cross = !(ec && *ec == '0');
    int64_t cap;
    store_t *s;
    double t, cpu, ovh, covh;
    (void)state;

    if (!e || !*e)
        skip();
    n = strtoul(e, NULL, 10);
    k = ek && *ek ? strtoul(ek, NULL, 10) : 1000;
    if (n == 0 || k == 0)
        skip();
    snprintf(path, sizeof path, "%s/timed.db", tmpdir);
    s = store_open(path, STORE_RW, err);
    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, "load", "file", "", &cap), 0);
    t = run_load(s, cap, n, k, cross, &emitted, &cpu);
    assert_int_equal(store_capture_finish(s, cap, NULL, "complete"), 0);
    /* what building the load itself costs (two make_load per session) */
    {
        struct load *l = malloc(sizeof *l);
        double t1 = now_s(), c1 = cpu_s();
        assert_non_null(l);
        for (unsigned long i = 0; i < 2 * n; i++) {
            make_load(l, i);
            __asm__ __volatile__("" : : "r"(l) : "memory");
        }
        ovh = now_s() - t1;
        covh = cpu_s() - c1;
        free(l);
    }
    fprintf(stderr, "store load: %lu sessions (%lu in flight%s): %.3f s; per session:"
            " %.1f us wall, %.1f us CPU (building the load: %.1f us wall, %.1f us CPU,"
            " not counted)\n", n, k, cross ? ", with crosscheck" : "", t - ovh,
            (t - ovh) * 1e6 / (double)n, (cpu - covh) * 1e6 / (double)n, ovh * 1e6 / (double)n,
            covh * 1e6 / (double)n);
    check_rows(store_db(s), n);
    assert_int_equal(store_close(s, err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_timed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
