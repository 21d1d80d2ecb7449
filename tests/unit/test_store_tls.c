/*
 * test_store_tls.c — store/ schema version 2: the migration of a version 1
 * file in place (rows kept, certificates back-filled, same schema as a new
 * file), certificates deduplicated by SHA-256 with their seen window, the
 * session_chain rows, sessions.cert_id and the TLS session columns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dissect/tls.h"
#include "store/store.h"
#include "tests/unit/fix_store.h"

extern const char mt_store_schema_v1[];   /* store/schema.c */

#define T0 1800000000.0

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(NULL, "mt_storetls");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

static void endpoints(struct store_endpoints *ep, uint16_t cport)
{
    fill_endpoints(ep, "192.0.2.10", cport, "192.0.2.25", 587);
}

/* A certificate entry whose SHA-256 is the digit d repeated. */
static void cert(struct tls_cert_info *c, char d, const char *subject, const char *issuer,
                 int self_signed)
{
    memset(c, 0, sizeof *c);
    memset(c->sha256, d, 64);
    c->sha256[64] = '\0';
    snprintf(c->subject, sizeof c->subject, "%s", subject);
    snprintf(c->issuer, sizeof c->issuer, "%s", issuer);
    snprintf(c->sans, sizeof c->sans, "mx.example.org *.example.org");
    c->not_before = T0 - 86400;
    c->not_after = T0 + 86400 * 90;
    snprintf(c->key_type, sizeof c->key_type, "RSA");
    c->key_bits = 2048;
    snprintf(c->sig_alg, sizeof c->sig_alg, "sha256WithRSAEncryption");
    c->self_signed = self_signed;
}

/* A TLS session presenting chain[0..n). */
static void tls_session(struct mt_session *ms, double start, const struct tls_cert_info *chain,
                        int n)
{
    memset(ms, 0, sizeof *ms);
    ms->start_ts = start;
    ms->end_ts = start + 3;
    ms->protection = MT_PROT_STARTTLS;
    ms->starttls_offered = ms->starttls_requested = 1;
    ms->starttls_reply = 220;
    ms->tls_started = 1;
    snprintf(ms->tls_version, sizeof ms->tls_version, "TLSv1.2");
    snprintf(ms->tls_cipher, sizeof ms->tls_cipher, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    snprintf(ms->tls_sni, sizeof ms->tls_sni, "mx.example.org");
    snprintf(ms->tls_alpn, sizeof ms->tls_alpn, "smtp");
    memset(ms->ja3, 'a', 32);
    snprintf(ms->ja4, sizeof ms->ja4, "t12d1312sp_000000000000_000000000000");
    ms->tls_handshake_complete = 1;
    if (n > 0) {
        snprintf(ms->cert_sha256, sizeof ms->cert_sha256, "%s", chain[0].sha256);
        snprintf(ms->cert_subject, sizeof ms->cert_subject, "%s", chain[0].subject);
        snprintf(ms->cert_issuer, sizeof ms->cert_issuer, "%s", chain[0].issuer);
        ms->cert_not_before = chain[0].not_before;
        ms->cert_not_after = chain[0].not_after;
    }
    ms->chain = chain;
    ms->chain_len = n;
    snprintf(ms->confidence, sizeof ms->confidence, "high");
}

/* Writes one finished session; returns its id. */
static int64_t put_session(store_t *s, int64_t cap, uint16_t cport, const struct mt_session *ms)
{
    struct store_endpoints ep;
    int64_t sid;

    endpoints(&ep, cport);
    sid = store_session_begin(s, cap, &ep, ms->start_ts);
    assert_true(sid > 0);
    assert_int_equal(store_session_end(s, sid, &ep, ms), 0);
    return sid;
}

/* The schema objects' SQL, in name order (for comparing two files). */
static char *schema_text(sqlite3 *db)
{
    sqlite3_stmt *q;
    size_t len = 0, cap = 1;
    char *out = calloc(1, 1);

    assert_non_null(out);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT name || ':' || ifnull(sql, '') FROM"
                                            " sqlite_schema ORDER BY name", -1, &q, NULL),
                     SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        size_t n = strlen(t);
        if (len + n + 2 > cap) {
            cap = (len + n + 2) * 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        memcpy(out + len, t, n);
        len += n;
        out[len++] = '\n';
        out[len] = '\0';
    }
    sqlite3_finalize(q);
    return out;
}

/* ---- tests ------------------------------------------------------------------ */

/* A version 1 file is migrated in place: every row kept, the certificate
 * it knew back-filled and linked, the v2 columns NULL on the old rows, and
 * the result has exactly the schema of a new file. */
static void test_migrate_v1(void **state)
{
    char err[STORE_ERRBUF_SIZE], buf[512];
    sqlite3 *db;
    store_t *s;
    (void)state;

    assert_int_equal(sqlite3_open(tpath("v1.db"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, mt_store_schema_v1, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "PRAGMA user_version = 1;"
        "INSERT INTO captures (id, source, kind, sha256, status, mailtap_version, analysed_at)"
        " VALUES (1, 'old.pcap', 'file', 'ab', 'complete', '0.0.9', '2024-01-01T00:00:00Z');"
        "INSERT INTO sessions (id, capture_id, client_ip, client_port, server_ip, server_port,"
        " start_ts, protection, tls_version, cert_sha256, cert_subject, cert_issuer,"
        " cert_not_after, complete)"
        " VALUES (1, 1, '192.0.2.1', 40000, '192.0.2.2', 25, 1700000000.0, 'starttls',"
        " 'TLSv1.2', 'cafe', 'CN=a', 'CN=ca', 1800000000.0, 1),"
        " (2, 1, '192.0.2.1', 40001, '192.0.2.2', 25, 1700000100.0, 'starttls',"
        " 'TLSv1.2', 'cafe', 'CN=a', 'CN=ca', 1800000000.0, 1),"
        " (3, 1, '192.0.2.1', 40002, '192.0.2.2', 25, 1700000200.0, 'cleartext',"
        " NULL, NULL, NULL, NULL, NULL, 1);"
        "INSERT INTO messages (id, session_id, seq, method, mail_from, size)"
        " VALUES (1, 3, 1, 'DATA', 'a@example.org', 10);"
        "INSERT INTO recipients (message_id, address, domain, reply_code)"
        " VALUES (1, 'b@example.net', 'example.net', 250);"
        "INSERT INTO findings (session_id, message_id, kind, severity, ts, evidence)"
        " VALUES (3, 1, 'plaintext_message_body', 'high', 1700000201.0, 'x');",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* read-only: refused, untouched */
    assert_null(store_open(tpath("v1.db"), STORE_RO, err));
    assert_non_null(strstr(err, "older than this mailtap"));

    s = open_rw("v1.db");
    assert_non_null(s);
    db = store_db(s);
    assert_int_equal(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(q_int(db, "SELECT count(*) FROM captures"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions"), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM recipients"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM findings"), 1);
    q_text(db, "SELECT group_concat(id || ' ' || protection || ' ' || ifnull(tls_version, '-')"
               " || ' ' || ifnull(cert_sha256, '-'), ';') FROM sessions", buf, sizeof buf);
    assert_string_equal(buf, "1 starttls TLSv1.2 cafe;2 starttls TLSv1.2 cafe;3 cleartext - -");
    /* back-filled: one certificate for the two sessions, linked */
    assert_int_equal(q_int(db, "SELECT count(*) FROM certificates"), 1);
    q_text(db, "SELECT sha256 || '|' || subject || '|' || issuer || '|' || not_after || '|'"
               " || first_seen || '|' || last_seen || '|' || self_signed FROM certificates",
           buf, sizeof buf);
    assert_string_equal(buf, "cafe|CN=a|CN=ca|1800000000.0|1700000000.0|1700000100.0|0");
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions s JOIN certificates c"
                               " ON c.id = s.cert_id WHERE c.sha256 = s.cert_sha256"), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions WHERE id = 3 AND cert_id IS NULL"),
                     1);
    /* the new flags are unknown on old rows */
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions WHERE tls_handshake_complete"
                               " IS NULL AND tls_resumed IS NULL AND ja3 IS NULL"), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM session_chain"), 0);
    assert_int_equal(q_int(db, "PRAGMA foreign_key_check"), -999);  /* no violation row */
    {
        char *migrated = schema_text(db), *fresh;
        store_t *n = open_rw("new.db");

        assert_non_null(n);
        fresh = schema_text(store_db(n));
        assert_string_equal(migrated, fresh);
        free(migrated);
        free(fresh);
        assert_int_equal(store_close(n, err), 0);
    }

    /* the migrated file takes new sessions with chains */
    {
        struct tls_cert_info chain[2];
        struct mt_session ms;
        int64_t sid;

        cert(&chain[0], '1', "CN=mx.example.org", "CN=CA", 0);
        cert(&chain[1], '2', "CN=CA", "CN=CA", 1);
        tls_session(&ms, T0, chain, 2);
        sid = put_session(s, 1, 40010, &ms);
        assert_int_equal(store_flush(s), 0);
        assert_int_equal(q_int(db, "SELECT count(*) FROM certificates"), 3);
        assert_true(sid > 3);
    }
    assert_int_equal(store_close(s, err), 0);

    /* reopening does not migrate again */
    s = open_rw("v1.db");
    assert_non_null(s);
    assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM certificates"), 3);
    assert_int_equal(store_close(s, err), 0);
}

/* Certificates are deduplicated by SHA-256; the chain of each session is
 * kept with its depth; sessions.cert_id is the leaf. */
static void test_certificates_dedup(void **state)
{
    struct tls_cert_info a[3], b[2];
    struct mt_session ms;
    char err[STORE_ERRBUF_SIZE], buf[512];
    int64_t cap, s1, s2, s3, s4;
    store_t *s = open_rw("d.db");
    sqlite3 *db;
    (void)state;

    assert_non_null(s);
    db = store_db(s);
    assert_int_equal(store_capture_begin(s, "x.pcap", "file", "", &cap), 0);
    cert(&a[0], '1', "CN=mx.example.org", "CN=Intermediate", 0);
    cert(&a[1], '2', "CN=Intermediate", "CN=Root", 0);
    cert(&a[2], '3', "CN=Root", "CN=Root", 1);
    b[0] = a[0];                        /* same leaf, another intermediate */
    cert(&b[1], '4', "CN=Other intermediate", "CN=Root", 0);

    tls_session(&ms, T0 + 100, a, 3);
    s1 = put_session(s, cap, 40001, &ms);
    tls_session(&ms, T0, b, 2);        /* earlier packet time, written later */
    s2 = put_session(s, cap, 40002, &ms);
    tls_session(&ms, T0 + 500, a, 3);
    s3 = put_session(s, cap, 40003, &ms);
    /* TLS 1.3 / resumption: no chain */
    tls_session(&ms, T0 + 600, NULL, 0);
    ms.tls_resumed = 1;
    snprintf(ms.tls_version, sizeof ms.tls_version, "TLSv1.3");
    s4 = put_session(s, cap, 40004, &ms);
    assert_int_equal(store_capture_finish(s, cap, NULL, "complete"), 0);

    assert_int_equal(q_int(db, "SELECT count(*) FROM certificates"), 4);
    q_text(db, "SELECT first_seen || '|' || last_seen FROM certificates"
               " WHERE sha256 = '1111111111111111111111111111111111111111111111111111111111111111'",
           buf, sizeof buf);
    assert_string_equal(buf, "1800000000.0|1800000500.0");
    q_text(db, "SELECT subject || '|' || issuer || '|' || sans || '|' || key_type || '|'"
               " || key_bits || '|' || sig_alg || '|' || self_signed || '|'"
               " || (not_after - not_before) FROM certificates WHERE subject = 'CN=Root'",
           buf, sizeof buf);
    assert_string_equal(buf, "CN=Root|CN=Root|mx.example.org *.example.org|RSA|2048|"
                             "sha256WithRSAEncryption|1|7862400.0");
    assert_int_equal(q_int(db, "SELECT count(*) FROM session_chain"), 8);
    {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "SELECT group_concat(c.subject, ' > ') FROM (SELECT * FROM session_chain"
                 " WHERE session_id = %lld ORDER BY depth) sc JOIN certificates c"
                 " ON c.id = sc.cert_id", (long long)s1);
        q_text(db, sql, buf, sizeof buf);
        assert_string_equal(buf, "CN=mx.example.org > CN=Intermediate > CN=Root");
        snprintf(sql, sizeof sql,
                 "SELECT group_concat(sc.depth || ':' || c.subject, ',') FROM session_chain sc"
                 " JOIN certificates c ON c.id = sc.cert_id WHERE sc.session_id = %lld",
                 (long long)s2);
        q_text(db, sql, buf, sizeof buf);
        assert_string_equal(buf, "0:CN=mx.example.org,1:CN=Other intermediate");
        /* the three sessions with a chain point at the same leaf row */
        snprintf(sql, sizeof sql,
                 "SELECT count(DISTINCT cert_id) || '|' || count(cert_id) FROM sessions"
                 " WHERE id IN (%lld, %lld, %lld)", (long long)s1, (long long)s2, (long long)s3);
        q_text(db, sql, buf, sizeof buf);
        assert_string_equal(buf, "1|3");
        snprintf(sql, sizeof sql,
                 "SELECT ifnull(cert_id, 'NULL') || '|' || tls_resumed || '|'"
                 " || tls_handshake_complete || '|' || tls_version FROM sessions WHERE id = %lld",
                 (long long)s4);
        q_text(db, sql, buf, sizeof buf);
        assert_string_equal(buf, "NULL|1|1|TLSv1.3");
    }
    q_text(db, "SELECT tls_alpn || '|' || length(ja3) || '|' || ja4 || '|' || tls_resumed"
               " || tls_handshake_complete FROM sessions ORDER BY id LIMIT 1", buf, sizeof buf);
    assert_string_equal(buf, "smtp|32|t12d1312sp_000000000000_000000000000|01");

    /* a cleartext session: every TLS column NULL / 0 */
    memset(&ms, 0, sizeof ms);
    ms.start_ts = T0 + 900;
    ms.protection = MT_PROT_CLEARTEXT;
    (void)put_session(s, cap, 40005, &ms);
    assert_int_equal(store_flush(s), 0);
    q_text(db, "SELECT ifnull(tls_alpn, 'N') || ifnull(ja3, 'N') || ifnull(ja4, 'N')"
               " || ifnull(cert_id, 'N') || tls_handshake_complete || tls_resumed"
               " FROM sessions WHERE client_port = 40005", buf, sizeof buf);
    assert_string_equal(buf, "NNNN00");

    /* deleting the capture drops its chain rows, certificates stay */
    assert_int_equal(store_capture_delete(s, cap), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM session_chain"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM certificates"), 4);
    assert_int_equal(store_close(s, err), 0);
}

/* Redaction does not touch certificate fields or the SNI; writing a
 * session twice (live mode rewrites) leaves one chain. */
static void test_redaction_and_rewrite(void **state)
{
    static const uint8_t key[] = "k3y";
    struct tls_cert_info a[2];
    struct mt_session ms;
    struct store_endpoints ep;
    char err[STORE_ERRBUF_SIZE], buf[512];
    int64_t cap, sid;
    store_t *s = open_rw("r.db");
    sqlite3 *db;
    (void)state;

    assert_non_null(s);
    db = store_db(s);
    assert_int_equal(store_set_redact_key(s, key, sizeof key - 1), 0);
    assert_int_equal(store_capture_begin(s, "x.pcap", "file", "", &cap), 0);
    cert(&a[0], '5', "CN=alice@example.org,O=Example", "CN=CA", 0);
    cert(&a[1], '6', "CN=CA", "CN=CA", 1);
    tls_session(&ms, T0, a, 2);
    snprintf(ms.auth_user, sizeof ms.auth_user, "alice@example.org");
    endpoints(&ep, 41000);
    sid = store_session_begin(s, cap, &ep, T0);
    assert_true(sid > 0);
    assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    assert_int_equal(store_flush(s), 0);
    q_text(db, "SELECT subject FROM certificates WHERE self_signed = 0", buf, sizeof buf);
    assert_string_equal(buf, "CN=alice@example.org,O=Example");
    q_text(db, "SELECT tls_sni || '|' || cert_subject || '|' || substr(auth_user, 1, 2)"
               " FROM sessions", buf, sizeof buf);
    assert_string_equal(buf, "mx.example.org|CN=alice@example.org,O=Example|h:");
    assert_int_equal(q_int(db, "SELECT count(*) FROM session_chain"), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM certificates"), 2);
    assert_int_equal(store_close(s, err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certificates_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redaction_and_rewrite, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
