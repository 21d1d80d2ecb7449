/*
 * test_reports_merge.c — rep_merge_open: two databases written through
 * store_*, merged; row counts add up, ids stay unique, findings keep their
 * session and message, a certificate seen by both sensors is one row, the
 * text report shows the summed figures; a missing file and a single path.
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

#include "dissect/tls.h"
#include "reports/reports.h"
#include "store/store.h"

#define T0 1714557600.0   /* 2024-05-01T10:00:00Z */

static char path_a[256], path_b[256];

static void mkcert(struct tls_cert_info *c, char d, const char *subject)
{
    memset(c, 0, sizeof *c);
    memset(c->sha256, d, 64);
    snprintf(c->subject, sizeof c->subject, "%s", subject);
    snprintf(c->issuer, sizeof c->issuer, "CN=Test CA");
    snprintf(c->key_type, sizeof c->key_type, "RSA");
    c->key_bits = 2048;
}

/*
 * One capture of nsess sessions from client cip: each cleartext with one
 * message (2 recipients) and two findings, the second linked to the message
 * (evidence "<tag> s<i>" so that the link can be checked); session 0 also
 * presents a chain (shared leaf 'a', plus intermediate cd).
 */
static void make_db(const char *path, const char *cip, int nsess, const char *tag, char cd)
{
    char err[STORE_ERRBUF_SIZE];
    struct store_capture_stats cs = { 100, 10000, 0, 0, 0, 0, T0, T0 + 3600, 0, 0 };
    struct tls_cert_info chain[2];
    store_t *s;
    int64_t cap;

    unlink(path);
    s = store_open(path, STORE_RW, err);
    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, tag, "file", tag, &cap), 0);
    mkcert(&chain[0], 'a', "CN=mx.shared.example");
    mkcert(&chain[1], cd, "CN=Intermediate");
    for (int i = 0; i < nsess; i++) {
        struct store_endpoints ep;
        struct mt_session ms;
        struct mt_message msg;
        struct mt_recipient r[2];
        struct mt_finding f;
        double ts = T0 + 60.0 * i;
        int64_t sid;

        memset(&ep, 0, sizeof ep);
        snprintf(ep.client_ip, sizeof ep.client_ip, "%s", cip);
        ep.client_port = (uint16_t)(40000 + i);
        snprintf(ep.server_ip, sizeof ep.server_ip, "198.51.100.7");
        ep.server_port = 25;
        sid = store_session_begin(s, cap, &ep, ts);
        assert_true(sid > 0);

        memset(&msg, 0, sizeof msg);
        memset(r, 0, sizeof r);
        msg.seq = 1;
        msg.content_exposed = 1;
        msg.complete = 1;
        msg.ts = ts + 1;
        snprintf(msg.mail_from, sizeof msg.mail_from, "alice@corp.example");
        snprintf(msg.subject, sizeof msg.subject, "%s s%d", tag, i);
        snprintf(r[0].address, sizeof r[0].address, "bob@example.com");
        snprintf(r[0].domain, sizeof r[0].domain, "example.com");
        snprintf(r[1].address, sizeof r[1].address, "carol@example.net");
        snprintf(r[1].domain, sizeof r[1].domain, "example.net");
        msg.rcpts = r;
        msg.n_rcpts = 2;
        msg.rcpt_count = 2;
        assert_int_equal(store_message(s, sid, &msg), 0);

        memset(&f, 0, sizeof f);
        f.kind = "plaintext_envelope";
        f.severity = MT_SEV_MEDIUM;
        f.ts = ts + 1;
        snprintf(f.evidence, sizeof f.evidence, "%s s%d env", tag, i);
        assert_int_equal(store_finding(s, sid, &f), 0);
        f.kind = "plaintext_message_body";
        f.severity = MT_SEV_HIGH;
        f.msg_seq = 1;
        snprintf(f.evidence, sizeof f.evidence, "%s s%d", tag, i);
        assert_int_equal(store_finding(s, sid, &f), 0);

        memset(&ms, 0, sizeof ms);
        ms.start_ts = ts;
        ms.end_ts = ts + 30;
        ms.end_reason = MT_END_FIN;
        ms.protection = MT_PROT_CLEARTEXT;
        ms.exposed_envelope = 1;
        ms.exposed_content = 1;
        ms.cleartext_messages = 1;
        snprintf(ms.banner, sizeof ms.banner, "mx.example ESMTP");
        if (i == 0) {
            ms.chain = chain;
            ms.chain_len = 2;
        }
        assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    }
    assert_int_equal(store_capture_finish(s, cap, &cs, "complete"), 0);
    assert_int_equal(store_close(s, err), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(path_a, sizeof path_a, "/tmp/mt_merge_a_%d.db", (int)getpid());
    snprintf(path_b, sizeof path_b, "/tmp/mt_merge_b_%d.db", (int)getpid());
    make_db(path_a, "10.0.0.5", 3, "A", 'b');
    make_db(path_b, "10.0.0.6", 4, "B", 'c');
    return 0;
}

static int teardown(void **state)
{
    const char *sfx[] = { "", "-wal", "-shm" };
    char p[300];
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path_a, sfx[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s%s", path_b, sfx[i]);
        unlink(p);
    }
    return 0;
}

static int64_t q1(store_t *st, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t v;
    assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void test_merge_counts_and_links(void **state)
{
    const char *paths[2] = { path_a, path_b };
    char err[512] = "";
    store_t *m;
    (void)state;

    m = rep_merge_open(paths, 2, err, sizeof err);
    if (!m)
        fprintf(stderr, "merge: %s\n", err);
    assert_non_null(m);
    assert_int_equal(q1(m, "SELECT count(*) FROM captures"), 2);
    assert_int_equal(q1(m, "SELECT count(*) FROM sessions"), 7);
    assert_int_equal(q1(m, "SELECT count(*) FROM messages"), 7);
    assert_int_equal(q1(m, "SELECT count(*) FROM recipients"), 14);
    assert_int_equal(q1(m, "SELECT count(*) FROM findings"), 14);
    /* unique ids (primary keys) and no dangling references */
    assert_int_equal(q1(m, "SELECT count(DISTINCT id) FROM sessions"), 7);
    assert_int_equal(q1(m, "SELECT count(*) FROM sessions s LEFT JOIN captures c "
                           "ON c.id = s.capture_id WHERE c.id IS NULL"), 0);
    assert_int_equal(q1(m, "SELECT count(*) FROM messages m LEFT JOIN sessions s "
                           "ON s.id = m.session_id WHERE s.id IS NULL"), 0);
    assert_int_equal(q1(m, "SELECT count(*) FROM recipients r LEFT JOIN messages m "
                           "ON m.id = r.message_id WHERE m.id IS NULL"), 0);
    /* each session of B is in B's capture, by client */
    assert_int_equal(q1(m, "SELECT count(*) FROM sessions s JOIN captures c "
                           "ON c.id = s.capture_id WHERE c.source = 'B' "
                           "AND s.client_ip = '10.0.0.6'"), 4);
    /* findings still point to their session and message: the linked one's
     * evidence equals its message's subject, in the same session */
    assert_int_equal(q1(m, "SELECT count(*) FROM findings f JOIN messages m "
                           "ON m.id = f.message_id AND m.session_id = f.session_id "
                           "WHERE f.evidence = m.subject"), 7);
    assert_int_equal(q1(m, "SELECT count(*) FROM findings f JOIN sessions s "
                           "ON s.id = f.session_id JOIN captures c ON c.id = s.capture_id "
                           "WHERE substr(f.evidence, 1, 1) = c.source"), 14);
    assert_int_equal(q1(m, "SELECT count(*) FROM findings WHERE message_id IS NULL"), 7);
    /* the shared leaf is one row, both intermediates kept, chains remapped */
    assert_int_equal(q1(m, "SELECT count(*) FROM certificates"), 3);
    assert_int_equal(q1(m, "SELECT count(DISTINCT cert_id) FROM sessions "
                           "WHERE cert_id IS NOT NULL"), 1);
    assert_int_equal(q1(m, "SELECT count(*) FROM sessions s JOIN certificates c "
                           "ON c.id = s.cert_id WHERE c.subject = 'CN=mx.shared.example'"), 2);
    assert_int_equal(q1(m, "SELECT count(*) FROM session_chain"), 4);
    assert_int_equal(q1(m, "SELECT count(*) FROM session_chain sc JOIN certificates c "
                           "ON c.id = sc.cert_id WHERE (sc.depth = 0) = "
                           "(c.subject = 'CN=mx.shared.example')"), 4);
    assert_int_equal(q1(m, "SELECT count(*) FROM pragma_foreign_key_check"), 0);

    /* the report sums both */
    {
        char *buf = NULL;
        size_t len = 0;
        struct rep_filter f;
        FILE *out = open_memstream(&buf, &len);
        memset(&f, 0, sizeof f);
        f.min_severity = -1;
        assert_non_null(out);
        assert_int_equal(rep_report(m, REP_TEXT, &f, out, err, sizeof err), 0);
        fclose(out);
        assert_non_null(strstr(buf, "Captures             2 (2 complete"));
        assert_non_null(strstr(buf, "SMTP connections     7"));
        assert_non_null(strstr(buf, "Cleartext messages   7 (in 7 connections)"));
        assert_non_null(strstr(buf, "high 7, medium 7"));
        assert_non_null(strstr(buf, "10.0.0.5"));
        assert_non_null(strstr(buf, "10.0.0.6"));
        free(buf);
    }
    assert_int_equal(store_close(m, err), 0);
}

static void test_merge_errors(void **state)
{
    const char *bad[2] = { path_a, "/nonexistent/mt_merge.db" };
    const char *one[1] = { path_b };
    char err[512] = "";
    store_t *m;
    (void)state;

    assert_null(rep_merge_open(bad, 2, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/mt_merge.db: no such database"));
    assert_null(rep_merge_open(NULL, 0, err, sizeof err));
    m = rep_merge_open(one, 1, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(q1(m, "SELECT count(*) FROM sessions"), 4);
    assert_int_equal(store_close(m, err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_counts_and_links),
        cmocka_unit_test(test_merge_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
