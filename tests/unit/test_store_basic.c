/*
 * test_store_basic.c — store/: open/create, schema versioning, captures,
 * sessions, messages, findings, cascades, hostile strings, redaction,
 * batching, errors (read-only, disk full, interrupted process).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "tests/unit/fix_store.h"

extern const char mt_store_schema_v1[];   /* store/schema.c */
extern const char mt_store_schema_v2[];
extern const char mt_store_schema_v3[];
extern const char mt_store_schema_v4[];

#define T0 1714557600.0   /* 2024-05-01T10:00:00Z */

/* ---- helpers ------------------------------------------------------------ */

/* Per-test temporary directory. */
static int setup(void **state)
{
    (void)state;
    return tmpdir_make(NULL, "mt_store");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

/* A session struct with every field set to something recognisable. */
static void fill_session(struct mt_session *ms)
{
    memset(ms, 0, sizeof *ms);
    ms->start_ts = T0;
    ms->end_ts = T0 + 12.5;
    ms->end_reason = MT_END_RST;
    ms->protection = MT_PROT_PARTIAL;
    ms->starttls_offered = 1;
    ms->starttls_requested = 1;
    ms->starttls_reply = 220;
    snprintf(ms->banner, sizeof ms->banner, "mx.example.org ESMTP Postfix");
    snprintf(ms->helo, sizeof ms->helo, "client.example.net");
    snprintf(ms->helo_verb, sizeof ms->helo_verb, "EHLO");
    snprintf(ms->ehlo_keywords, sizeof ms->ehlo_keywords, "PIPELINING SIZE STARTTLS AUTH");
    snprintf(ms->auth_mechanism, sizeof ms->auth_mechanism, "PLAIN");
    snprintf(ms->auth_user, sizeof ms->auth_user, "bob@example.net");
    snprintf(ms->auth_outcome, sizeof ms->auth_outcome, "success");
    snprintf(ms->tls_version, sizeof ms->tls_version, "TLSv1.3");
    snprintf(ms->tls_cipher, sizeof ms->tls_cipher, "TLS_AES_128_GCM_SHA256");
    snprintf(ms->tls_sni, sizeof ms->tls_sni, "mx.example.org");
    snprintf(ms->cert_sha256, sizeof ms->cert_sha256, "%064d", 7);
    snprintf(ms->cert_subject, sizeof ms->cert_subject, "CN=mx.example.org");
    snprintf(ms->cert_issuer, sizeof ms->cert_issuer, "CN=Example CA");
    ms->cert_not_before = T0 - 86400;
    ms->cert_not_after = T0 + 86400;
    ms->exposed_envelope = 1;
    ms->exposed_content = 1;
    ms->exposed_credentials = 1;
    ms->cleartext_messages = 2;
    ms->client_bytes = 1234;
    ms->server_bytes = 5678;
    ms->gap_bytes = 9;
    ms->syn_seen = 1;
    ms->one_sided = 0;
    snprintf(ms->confidence, sizeof ms->confidence, "high");
}

/* Reads a whole file into a malloc'd buffer. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ---- tests -------------------------------------------------------------- */

static void test_open_create(void **state)
{
    store_t *s;
    sqlite3 *db;
    char mode[32], err[STORE_ERRBUF_SIZE];
    struct stat sb;
    (void)state;

    s = open_rw("a.db");
    assert_non_null(s);
    assert_int_equal(stat(tpath("a.db"), &sb), 0);
    db = store_db(s);
    assert_non_null(db);
    assert_int_equal(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    q_text(db, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    assert_int_equal(q_int(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"), 9);
    /* 13 of ours (5 partial), and the automatic ones of certificates.sha256
     * UNIQUE and the session_chain primary key */
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"), 15);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                               " AND sql LIKE '% WHERE %'"), 5);
    assert_non_null(store_lib_version());
    assert_string_equal(store_lib_version(), sqlite3_libversion());
    assert_int_equal(store_close(s, err), 0);

    /* Reopen: nothing to migrate, same version. */
    s = open_rw("a.db");
    assert_non_null(s);
    assert_int_equal(q_int(store_db(s), "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(store_close(s, err), 0);

    /* And read-only. */
    s = store_open(tpath("a.db"), STORE_RO, err);
    assert_non_null(s);
    assert_int_equal(store_close(s, err), 0);
}

/* The columns of each table are exactly those of store.h. */
static void test_columns(void **state)
{
    static const struct { const char *table, *cols; } want[] = {
        { "captures", "id,source,kind,sha256,packets,bytes,first_ts,last_ts,dropped,ifdropped,"
                      "truncated,undecodable,status,mailtap_version,analysed_at,probe,evicted,evicted_bytes" },
        { "sessions", "id,capture_id,client_ip,client_port,server_ip,server_port,vlan,start_ts,"
                      "end_ts,end_reason,protection,confidence,starttls_offered,"
                      "starttls_requested,starttls_reply,banner,helo,helo_verb,ehlo_keywords,"
                      "auth_mechanism,auth_user,auth_outcome,tls_version,tls_cipher,tls_sni,"
                      "cert_sha256,cert_subject,cert_issuer,cert_not_before,cert_not_after,"
                      "exposed_envelope,exposed_content,exposed_credentials,cleartext_messages,"
                      "client_bytes,server_bytes,gap_bytes,syn_seen,one_sided,complete,"
                      "tls_alpn,ja3,ja4,tls_handshake_complete,tls_resumed,cert_id" },
        { "messages", "id,session_id,seq,method,mail_from,rcpt_count,size,body_sha256,subject,"
                      "message_id,from_hdr,date_hdr,ts,reply_code,content_exposed,complete" },
        { "recipients", "message_id,address,domain,reply_code" },
        { "findings", "id,session_id,message_id,kind,severity,ts,evidence" },
        { "certificates", "id,sha256,subject,issuer,sans,not_before,not_after,key_type,"
                          "key_bits,sig_alg,self_signed,first_seen,last_seen" },
        { "session_chain", "session_id,depth,cert_id" },
        { "server_baseline", "server_ip,server_port,host,starttls_seen_count,no_starttls_count,"
                             "no_starttls_streak,streak_reported,last_starttls_ts,last_seen_ts,"
                             "keywords,cert_sha256,cert_issuer,cert_seen_count,cert_last_ts,"
                             "cand_sha256,cand_issuer,cand_seen_count,cand_last_ts" },
        { "retry_pairs", "retry_session_id,failed_session_id,kind" },
    };
    char err[STORE_ERRBUF_SIZE];
    store_t *s = open_rw("c.db");
    (void)state;

    assert_non_null(s);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char sql[200], got[1024];
        snprintf(sql, sizeof sql,
                 "SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_table_info('%s')"
                 " ORDER BY cid)", want[i].table);
        q_text(store_db(s), sql, got, sizeof got);
        assert_string_equal(got, want[i].cols);
    }
    assert_int_equal(store_close(s, err), 0);
}

/* The CHECK constraints (OR chains) still refuse values outside the SPEC. */
static void test_check_constraints(void **state)
{
    static const char *const bad[] = {
        "INSERT INTO captures (kind, mailtap_version, analysed_at) VALUES ('disk', 'v', 't')",
        "UPDATE captures SET status = 'done'",
        "UPDATE sessions SET protection = 'maybe'",
        "UPDATE sessions SET end_reason = 'close'",
        "INSERT INTO messages (session_id, seq, method) VALUES (1, 1, 'SEND')",
        "INSERT INTO findings (session_id, kind, severity) VALUES (1, 'k', 'urgent')",
        "INSERT INTO findings (session_id, kind, severity) VALUES (999, 'k', 'low')",
    };
    char err[STORE_ERRBUF_SIZE];
    store_t *s = open_rw("ck.db");
    struct store_endpoints ep;
    int64_t cap;
    sqlite3 *db;
    (void)state;

    assert_non_null(s);
    db = store_db(s);
    assert_int_equal(store_capture_begin(s, "x", "file", "", &cap), 0);
    fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
    assert_true(store_session_begin(s, cap, &ep, T0) > 0);
    assert_int_equal(store_flush(s), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sqlite3_exec(db, bad[i], NULL, NULL, NULL), SQLITE_CONSTRAINT);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO findings (session_id, kind, severity)"
                                      " VALUES (1, 'k', 'low')", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_close(s, err), 0);
}

/* store/schema.sql and the embedded copy (steps 1 to 4 in order) are the
 * same text. */
static void test_schema_file_matches(void **state)
{
    static const char *const paths[] = { "store/schema.sql", "../store/schema.sql",
                                         "../../store/schema.sql" };
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        size_t n;
        char *b = slurp(paths[i], &n);
        if (!b)
            continue;
        size_t n1 = strlen(mt_store_schema_v1), n2 = strlen(mt_store_schema_v2);
        size_t n3 = strlen(mt_store_schema_v3);
        assert_true(n == n1 + n2 + n3 + strlen(mt_store_schema_v4));
        assert_int_equal(memcmp(b, mt_store_schema_v1, n1), 0);
        assert_int_equal(memcmp(b + n1, mt_store_schema_v2, n2), 0);
        assert_int_equal(memcmp(b + n1 + n2, mt_store_schema_v3, n3), 0);
        assert_string_equal(b + n1 + n2 + n3, mt_store_schema_v4);
        free(b);
        return;
    }
    skip();
}

static void test_refuse_newer(void **state)
{
    char err[STORE_ERRBUF_SIZE], want[80];
    store_t *s = open_rw("n.db");
    sqlite3 *db;
    (void)state;

    assert_non_null(s);
    assert_int_equal(store_close(s, err), 0);
    assert_int_equal(sqlite3_open(tpath("n.db"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    snprintf(want, sizeof want, "database schema 99 is newer than this mailtap (%d)",
             STORE_SCHEMA_VERSION);
    s = store_open(tpath("n.db"), STORE_RW, err);
    assert_null(s);
    assert_string_equal(err, want);
    s = store_open(tpath("n.db"), STORE_RO, err);
    assert_null(s);
    assert_string_equal(err, want);

    /* Untouched. */
    assert_int_equal(sqlite3_open(tpath("n.db"), &db), SQLITE_OK);
    assert_int_equal(q_int(db, "PRAGMA user_version"), 99);
    sqlite3_close(db);
}

/* A file with tables but no version is not ours; a non-SQLite file fails. */
static void test_refuse_foreign(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    sqlite3 *db;
    FILE *f;
    (void)state;

    assert_int_equal(sqlite3_open(tpath("f.db"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE sessions(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(store_open(tpath("f.db"), STORE_RW, err));
    assert_non_null(strstr(err, "not a mailtap database"));

    f = fopen(tpath("junk.db"), "w");
    assert_non_null(f);
    fputs("this is not a database, this is a text file that is long enough to matter....", f);
    for (int i = 0; i < 100; i++)
        fputs("junk junk junk junk junk junk junk junk junk junk\n", f);
    fclose(f);
    assert_null(store_open(tpath("junk.db"), STORE_RW, err));
    assert_non_null(strstr(err, "not a database"));
}

static void test_ro_missing(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    struct stat sb;
    (void)state;

    assert_null(store_open(tpath("missing.db"), STORE_RO, err));
    assert_string_equal(err, "no such database");
    assert_int_not_equal(stat(tpath("missing.db"), &sb), 0);
    assert_null(store_open(NULL, STORE_RO, err));
    assert_true(err[0] != '\0');
}

/* Writes on a read-only store fail with a message, never a crash. */
static void test_ro_writes_fail(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    store_t *s = open_rw("ro.db");
    int64_t id = 0;
    struct store_endpoints ep;
    (void)state;

    assert_non_null(s);
    assert_int_equal(store_close(s, err), 0);
    s = store_open(tpath("ro.db"), STORE_RO, err);
    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, "x.pcap", "file", "", &id), -1);
    assert_true(strlen(store_errmsg(s)) > 0);
    fill_endpoints(&ep, "192.0.2.1", 1025, "192.0.2.2", 25);
    assert_int_equal(store_session_begin(s, 1, &ep, T0), -1);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(store_close(s, err), 0);
}

/* Probes: a file needs a hashing pass first only when a complete file
 * capture shares its probe or one has none (stored before version 4);
 * an interrupted one with the probe is found to be replaced. */
static void test_capture_probe(void **state)
{
    store_t *s = open_rw("probe.db");
    int64_t a = 0, b = 0, live = 0, stale = -1;
    (void)state;

    assert_non_null(s);
    assert_int_equal(store_capture_probe_needs_hash(s, "p1"), 0);
    assert_int_equal(store_capture_probe_stale(s, "p1", 0, &stale), 0);
    /* a live capture has no probe and never forces a hash */
    assert_int_equal(store_capture_begin(s, "eth0", "live", "", &live), 0);
    assert_int_equal(store_capture_probe_needs_hash(s, "p1"), 0);

    assert_int_equal(store_capture_begin_probe(s, "a.pcap", "file", "", "p1", &a), 0);
    /* running (interrupted): not a duplicate yet, but stale for others */
    assert_int_equal(store_capture_probe_needs_hash(s, "p1"), 0);
    assert_int_equal(store_capture_probe_stale(s, "p1", 0, &stale), 1);
    assert_int_equal(stale, a);
    assert_int_equal(store_capture_probe_stale(s, "p1", a, &stale), 0);
    assert_int_equal(store_capture_probe_stale(s, "p2", 0, &stale), 0);

    assert_int_equal(store_capture_finish(s, a, NULL, "complete"), 0);
    assert_int_equal(store_capture_probe_needs_hash(s, "p1"), 1);
    assert_int_equal(store_capture_probe_needs_hash(s, "p2"), 0);
    assert_int_equal(store_capture_probe_stale(s, "p1", 0, &stale), 0);

    /* a file capture without a probe (older version, or a pipe) forces a
     * hash; once it is gone, a file with another probe needs none */
    assert_int_equal(store_capture_begin(s, "b.pcap", "file", "", &b), 0);
    assert_int_equal(store_capture_probe_needs_hash(s, "p2"), 1);
    assert_int_equal(store_capture_delete(s, b), 0);
    assert_int_equal(store_capture_probe_needs_hash(s, "p2"), 0);
    /* the probe goes into the row as it is made (one commit) */
    assert_int_equal(store_capture_begin_probe(s, "c.pcap", "file", "", "p9", &a), 0);
    assert_int_equal(store_capture_probe_stale(s, "p9", 0, &stale), 1);
    assert_int_equal(stale, a);
    assert_int_equal(store_close(s, NULL), 0);
}

static void test_capture_lifecycle(void **state)
{
    char err[STORE_ERRBUF_SIZE], buf[256];
    store_t *s = open_rw("cap.db");
    sqlite3 *other;
    int64_t id = 0, fid = 0;
    int complete = -1;
    struct store_capture_stats st = { 100, 20000, 1, 2, 3, 4, T0, T0 + 60, 5, 6000 };
    (void)state;

    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, "trace.pcap", "file", "", &id), 0);
    assert_true(id > 0);

    /* Committed at once: another connection sees it as interrupted. */
    assert_int_equal(sqlite3_open(tpath("cap.db"), &other), SQLITE_OK);
    q_text(other, "SELECT status FROM captures", buf, sizeof buf);
    assert_string_equal(buf, "interrupted");
    q_text(other, "SELECT mailtap_version FROM captures", buf, sizeof buf);
    assert_string_equal(buf, MAILTAP_VERSION);
    q_text(other, "SELECT analysed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T"
                  "[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z' FROM captures", buf, sizeof buf);
    assert_string_equal(buf, "1");
    assert_int_equal(q_int(other, "SELECT sha256 IS NULL FROM captures"), 1);

    assert_int_equal(store_capture_find(s, "ab12", &fid, &complete), 0);
    assert_int_equal(store_capture_set_sha256(s, id, "ab12"), 0);
    assert_int_equal(store_capture_find(s, "ab12", &fid, &complete), 1);
    assert_int_equal(fid, id);
    assert_int_equal(complete, 0);

    assert_int_equal(store_capture_finish(s, id, &st, "complete"), 0);
    assert_int_equal(store_capture_find(s, "ab12", &fid, &complete), 1);
    assert_int_equal(complete, 1);
    assert_int_equal(q_int(other, "SELECT packets FROM captures"), 100);
    assert_int_equal(q_int(other, "SELECT bytes FROM captures"), 20000);
    assert_int_equal(q_int(other, "SELECT dropped + 10 * ifdropped + 100 * truncated"
                                  " + 1000 * undecodable FROM captures"), 4321);
    assert_int_equal(q_int(other, "SELECT last_ts - first_ts FROM captures"), 60);
    assert_int_equal(q_int(other, "SELECT evicted * 10000 + evicted_bytes FROM captures"), 56000);
    q_text(other, "SELECT kind || ' ' || source || ' ' || status FROM captures", buf, sizeof buf);
    assert_string_equal(buf, "file trace.pcap complete");
    sqlite3_close(other);

    /* Bad kind/status are refused. */
    assert_int_equal(store_capture_begin(s, "x", "weird", "", &id), -1);
    assert_int_equal(store_capture_finish(s, id, &st, "done"), -1);
    assert_int_equal(store_close(s, err), 0);
}

/* Session, message with recipients, findings: every field round-trips. */
static void test_session_message_finding(void **state)
{
    char err[STORE_ERRBUF_SIZE], buf[512];
    store_t *s = open_rw("s.db");
    struct store_endpoints ep;
    struct mt_session ms;
    struct mt_message m;
    struct mt_recipient rc[2];
    struct mt_finding f;
    int64_t cap = 0, sid;
    sqlite3 *db;
    (void)state;

    assert_non_null(s);
    db = store_db(s);
    assert_int_equal(store_capture_begin(s, "-", "live", "", &cap), 0);
    fill_endpoints(&ep, "2001:db8::1", 50000, "192.0.2.25", 25);
    ep.vlan = 42;
    sid = store_session_begin(s, cap, &ep, T0);
    assert_true(sid > 0);
    /* the row is written at the end, or by a flush while the session is
     * open (complete = 0) */
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions"), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(q_int(db, "SELECT complete FROM sessions"), 0);
    q_text(db, "SELECT protection FROM sessions", buf, sizeof buf);
    assert_string_equal(buf, "indeterminate");

    memset(&m, 0, sizeof m);
    memset(rc, 0, sizeof rc);
    m.seq = 1;
    m.method = MT_METHOD_BDAT;
    snprintf(m.mail_from, sizeof m.mail_from, "alice@example.org");
    m.rcpt_count = 3;
    m.size = 4096;
    snprintf(m.body_sha256, sizeof m.body_sha256, "%064d", 5);
    snprintf(m.subject, sizeof m.subject, "Quarterly numbers");
    snprintf(m.message_id, sizeof m.message_id, "<1234@example.org>");
    snprintf(m.from_hdr, sizeof m.from_hdr, "Alice <alice@example.org>");
    snprintf(m.date_hdr, sizeof m.date_hdr, "Wed, 1 May 2024 10:00:00 +0000");
    m.ts = T0 + 3;
    m.reply_code = 250;
    m.content_exposed = 1;
    m.complete = 1;
    snprintf(rc[0].address, sizeof rc[0].address, "carol@example.com");
    snprintf(rc[0].domain, sizeof rc[0].domain, "example.com");
    rc[0].reply_code = 250;
    snprintf(rc[1].address, sizeof rc[1].address, "dave@example.net");
    snprintf(rc[1].domain, sizeof rc[1].domain, "example.net");
    rc[1].reply_code = 0;
    m.rcpts = rc;
    m.n_rcpts = 2;
    assert_int_equal(store_message(s, sid, &m), 0);

    memset(&f, 0, sizeof f);
    f.kind = "plaintext_message_body";
    f.severity = MT_SEV_HIGH;
    f.ts = T0 + 4;
    f.msg_seq = 1;
    snprintf(f.evidence, sizeof f.evidence, "BDAT 4096 LAST before STARTTLS");
    assert_int_equal(store_finding(s, sid, &f), 0);
    f.kind = "starttls_not_offered";
    f.severity = MT_SEV_MEDIUM;
    f.msg_seq = 0;
    assert_int_equal(store_finding(s, sid, &f), 0);
    f.kind = "dangling";
    f.msg_seq = 7;      /* no such message: stored without a link */
    assert_int_equal(store_finding(s, sid, &f), 0);

    fill_session(&ms);
    assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    assert_int_equal(store_flush(s), 0);

    q_text(db, "SELECT client_ip || '|' || client_port || '|' || server_ip || '|' || server_port"
               " || '|' || vlan || '|' || start_ts || '|' || end_ts || '|' || end_reason || '|'"
               " || protection || '|' || confidence || '|' || starttls_offered || '|'"
               " || starttls_requested || '|' || starttls_reply || '|' || complete"
               " FROM sessions", buf, sizeof buf);
    assert_string_equal(buf, "2001:db8::1|50000|192.0.2.25|25|42|1714557600.0|1714557612.5|rst|"
                             "partial|high|1|1|220|1");
    q_text(db, "SELECT banner || '|' || helo || '|' || helo_verb || '|' || ehlo_keywords || '|'"
               " || auth_mechanism || '|' || auth_user || '|' || auth_outcome FROM sessions",
           buf, sizeof buf);
    assert_string_equal(buf, "mx.example.org ESMTP Postfix|client.example.net|EHLO|"
                             "PIPELINING SIZE STARTTLS AUTH|PLAIN|bob@example.net|success");
    q_text(db, "SELECT tls_version || '|' || tls_cipher || '|' || tls_sni || '|' || cert_subject"
               " || '|' || cert_issuer || '|' || length(cert_sha256) || '|'"
               " || (cert_not_after - cert_not_before) FROM sessions", buf, sizeof buf);
    assert_string_equal(buf, "TLSv1.3|TLS_AES_128_GCM_SHA256|mx.example.org|CN=mx.example.org|"
                             "CN=Example CA|64|172800.0");
    q_text(db, "SELECT exposed_envelope || exposed_content || exposed_credentials || '|'"
               " || cleartext_messages || '|' || client_bytes || '|' || server_bytes || '|'"
               " || gap_bytes || '|' || syn_seen || one_sided FROM sessions", buf, sizeof buf);
    assert_string_equal(buf, "111|2|1234|5678|9|10");
    assert_int_equal(q_int(db, "SELECT typeof(start_ts) = 'real' AND typeof(client_port) ="
                               " 'integer' AND typeof(banner) = 'text' FROM sessions"), 1);

    q_text(db, "SELECT seq || '|' || method || '|' || mail_from || '|' || rcpt_count || '|'"
               " || size || '|' || subject || '|' || message_id || '|' || from_hdr || '|'"
               " || date_hdr || '|' || ts || '|' || reply_code || '|' || content_exposed"
               " || complete || '|' || length(body_sha256) FROM messages", buf, sizeof buf);
    assert_string_equal(buf, "1|BDAT|alice@example.org|3|4096|Quarterly numbers|"
                             "<1234@example.org>|Alice <alice@example.org>|"
                             "Wed, 1 May 2024 10:00:00 +0000|1714557603.0|250|11|64");
    q_text(db, "SELECT group_concat(address || ' ' || domain || ' ' || ifnull(reply_code, 'NULL'),"
               " ';') FROM recipients", buf, sizeof buf);
    assert_string_equal(buf, "carol@example.com example.com 250;dave@example.net example.net NULL");

    q_text(db, "SELECT group_concat(f.kind || ' ' || f.severity || ' ' || ifnull(m.seq, '-'), ';')"
               " FROM findings f LEFT JOIN messages m ON m.id = f.message_id ORDER BY f.id",
           buf, sizeof buf);
    assert_string_equal(buf, "plaintext_message_body high 1;starttls_not_offered medium -;"
                             "dangling medium -");

    /* store_session_end on an unknown id is an error. */
    assert_int_equal(store_session_end(s, 9999, &ep, &ms), -1);
    assert_non_null(strstr(store_errmsg(s), "no session"));
    assert_int_equal(store_close(s, err), 0);
}

/* Empty strings are NULL; a null sender stays NULL. */
static void test_empty_is_null(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    store_t *s = open_rw("e.db");
    struct store_endpoints ep;
    struct mt_session ms;
    struct mt_message m;
    int64_t cap, sid;
    (void)state;

    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, "x", "file", "", &cap), 0);
    fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
    sid = store_session_begin(s, cap, &ep, T0);
    memset(&ms, 0, sizeof ms);
    ms.start_ts = T0;
    ms.end_ts = T0 + 1;
    assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    memset(&m, 0, sizeof m);
    m.seq = 1;
    assert_int_equal(store_message(s, sid, &m), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(q_int(store_db(s), "SELECT (banner IS NULL) + (helo IS NULL) + (auth_user IS"
                                        " NULL) + (tls_version IS NULL) + (starttls_reply IS NULL)"
                                        " + (cert_not_before IS NULL) FROM sessions"), 6);
    assert_int_equal(q_int(store_db(s), "SELECT (mail_from IS NULL) + (subject IS NULL) +"
                                        " (reply_code IS NULL) + (ts IS NULL) FROM messages"), 4);
    assert_int_equal(store_close(s, err), 0);
}

/* Deleting a capture removes its sessions, messages, recipients, findings. */
static void test_capture_delete_cascades(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    store_t *s = open_rw("d.db");
    struct store_endpoints ep;
    struct mt_message m;
    struct mt_recipient r;
    struct mt_finding f;
    struct mt_session ms;
    int64_t cap1 = 0, cap2 = 0, sid;
    sqlite3 *db;
    (void)state;

    assert_non_null(s);
    db = store_db(s);
    fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
    memset(&m, 0, sizeof m);
    memset(&r, 0, sizeof r);
    memset(&f, 0, sizeof f);
    fill_session(&ms);
    snprintf(r.address, sizeof r.address, "x@example.com");
    snprintf(r.domain, sizeof r.domain, "example.com");
    m.rcpts = &r;
    m.n_rcpts = 1;
    f.kind = "k";
    for (int c = 0; c < 2; c++) {
        int64_t cap;
        assert_int_equal(store_capture_begin(s, c ? "two" : "one", "file", c ? "bb" : "aa", &cap), 0);
        if (c)
            cap2 = cap;
        else
            cap1 = cap;
        for (int i = 0; i < 3; i++) {
            sid = store_session_begin(s, cap, &ep, T0 + i);
            assert_true(sid > 0);
            m.seq = 1;
            assert_int_equal(store_message(s, sid, &m), 0);
            f.msg_seq = 1;
            assert_int_equal(store_finding(s, sid, &f), 0);
            assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
        }
    }
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions"), 6);
    assert_int_equal(store_capture_delete(s, cap1), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM captures"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions"), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM recipients"), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM findings"), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions WHERE capture_id != "
                               "(SELECT id FROM captures)"), 0);
    assert_int_equal(store_capture_find(s, "aa", NULL, NULL), 0);
    assert_int_equal(store_capture_find(s, "bb", NULL, NULL), 1);
    assert_int_equal(store_capture_delete(s, cap2), 0);
    assert_int_equal(q_int(db, "SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM"
                               " messages) + (SELECT count(*) FROM recipients) + (SELECT count(*)"
                               " FROM findings)"), 0);
    assert_int_equal(q_int(db, "PRAGMA foreign_key_check"), -999);   /* no rows */
    assert_int_equal(store_close(s, err), 0);
}

/* Hostile strings are data, nothing else; over-long fields are bounded. */
static void test_hostile_strings(void **state)
{
    static const char *const evil[] = {
        "'; DROP TABLE sessions; --",
        "\"quoted\" 'single' `back`",
        "Robert'); DELETE FROM captures WHERE ('1'='1",
        "\\x00\\x1b[31m escaped \\\\ backslash",
        "%s%s%n%x",
    };
    char err[STORE_ERRBUF_SIZE], buf[1024];
    store_t *s = open_rw("h.db");
    struct store_endpoints ep;
    struct mt_session ms;
    struct mt_message m;
    int64_t cap, sid;
    sqlite3 *db;
    (void)state;

    assert_non_null(s);
    db = store_db(s);
    assert_int_equal(store_capture_begin(s, evil[0], "file", evil[1], &cap), 0);
    fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        sid = store_session_begin(s, cap, &ep, T0 + (double)i);
        fill_session(&ms);
        snprintf(ms.banner, sizeof ms.banner, "%s", evil[i]);
        snprintf(ms.helo, sizeof ms.helo, "%s", evil[i]);
        assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    }
    /* A field filled to the last byte without a NUL is read only up to its size. */
    sid = store_session_begin(s, cap, &ep, T0 + 100);
    fill_session(&ms);
    memset(ms.banner, 'B', sizeof ms.banner);
    memset(ms.ehlo_keywords, 'K', sizeof ms.ehlo_keywords);
    assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    memset(&m, 0, sizeof m);
    m.seq = 1;
    memset(m.subject, 'S', sizeof m.subject);
    assert_int_equal(store_message(s, sid, &m), 0);
    assert_int_equal(store_flush(s), 0);

    assert_int_equal(q_int(db, "SELECT count(*) FROM sessions"), 6);
    assert_int_equal(q_int(db, "SELECT count(*) FROM captures"), 1);
    q_text(db, "SELECT source FROM captures", buf, sizeof buf);
    assert_string_equal(buf, evil[0]);
    q_text(db, "SELECT sha256 FROM captures", buf, sizeof buf);
    assert_string_equal(buf, evil[1]);
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT banner FROM sessions ORDER BY id LIMIT 1 OFFSET %zu", i);
        q_text(db, sql, buf, sizeof buf);
        assert_string_equal(buf, evil[i]);
    }
    assert_int_equal(q_int(db, "SELECT length(banner) FROM sessions ORDER BY id DESC LIMIT 1"),
                     MT_STR);
    assert_int_equal(q_int(db, "SELECT length(ehlo_keywords) FROM sessions ORDER BY id DESC"
                               " LIMIT 1"), MT_STR_LONG);
    assert_int_equal(q_int(db, "SELECT length(subject) FROM messages"), MT_STR);
    assert_int_equal(store_close(s, err), 0);
}

/* Writes one message with the addresses of the redaction tests. */
static void write_redacted(store_t *s)
{
    struct store_endpoints ep;
    struct mt_session ms;
    struct mt_message m;
    struct mt_recipient r[2];
    int64_t cap, sid;

    assert_int_equal(store_capture_begin(s, "r.pcap", "file", "", &cap), 0);
    fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
    sid = store_session_begin(s, cap, &ep, T0);
    memset(&m, 0, sizeof m);
    memset(r, 0, sizeof r);
    m.seq = 1;
    snprintf(m.mail_from, sizeof m.mail_from, "alice.secret@example.org");
    snprintf(m.subject, sizeof m.subject, "Merger with Initech");
    snprintf(m.from_hdr, sizeof m.from_hdr, "Alice Secret <alice.secret@example.org>");
    snprintf(r[0].address, sizeof r[0].address, "carol.hidden@example.com");
    snprintf(r[0].domain, sizeof r[0].domain, "example.com");
    snprintf(r[1].address, sizeof r[1].address, "postmaster");
    m.rcpts = r;
    m.n_rcpts = 2;
    assert_int_equal(store_message(s, sid, &m), 0);
    fill_session(&ms);
    snprintf(ms.auth_user, sizeof ms.auth_user, "bob.private");
    assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    sid = store_session_begin(s, cap, &ep, T0 + 1);
    snprintf(ms.auth_user, sizeof ms.auth_user, "bob.private@corp.example");
    assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
}

/* Reads the redacted values of a redaction database: mail_from, rcpt 1,
 * rcpt 2, subject, user 1, user 2, from_hdr. */
static void read_redacted(sqlite3 *db, char out[7][128])
{
    q_text(db, "SELECT mail_from FROM messages", out[0], 128);
    q_text(db, "SELECT address FROM recipients ORDER BY rowid LIMIT 1", out[1], 128);
    q_text(db, "SELECT address FROM recipients ORDER BY rowid LIMIT 1 OFFSET 1", out[2], 128);
    q_text(db, "SELECT subject FROM messages", out[3], 128);
    q_text(db, "SELECT auth_user FROM sessions ORDER BY id LIMIT 1", out[4], 128);
    q_text(db, "SELECT auth_user FROM sessions ORDER BY id LIMIT 1 OFFSET 1", out[5], 128);
    q_text(db, "SELECT from_hdr FROM messages", out[6], 128);
}

/* Checks "h:" + 12 lower-case hex digits, then suffix. */
static void assert_tag(const char *v, const char *suffix)
{
    assert_true(strncmp(v, "h:", 2) == 0);
    for (int i = 2; i < 14; i++)
        assert_true((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f'));
    assert_string_equal(v + 14, suffix);
}

static void test_redaction(void **state)
{
    static const uint8_t key1[] = "first key, 32 bytes long........";
    static const uint8_t key2[] = "another key";
    static const char *const secrets[] = { "alice.secret", "carol.hidden", "Merger",
                                           "bob.private", "Alice Secret", "postmaster" };
    char err[STORE_ERRBUF_SIZE], a[7][128], b[7][128], c[7][128];
    store_t *s1, *s2, *s3;
    (void)state;

    s1 = open_rw("r1.db");
    s2 = open_rw("r2.db");
    s3 = open_rw("r3.db");
    assert_non_null(s1);
    assert_non_null(s2);
    assert_non_null(s3);
    assert_int_equal(store_set_redact_key(s1, NULL, 0), -1);
    assert_int_equal(store_set_redact_key(s1, key1, sizeof key1 - 1), 0);
    assert_int_equal(store_set_redact_key(s2, key1, sizeof key1 - 1), 0);
    assert_int_equal(store_set_redact_key(s3, key2, sizeof key2 - 1), 0);
    write_redacted(s1);
    write_redacted(s2);
    write_redacted(s3);
    assert_int_equal(store_flush(s1), 0);
    assert_int_equal(store_flush(s2), 0);
    assert_int_equal(store_flush(s3), 0);
    read_redacted(store_db(s1), a);
    read_redacted(store_db(s2), b);
    read_redacted(store_db(s3), c);

    assert_tag(a[0], "@example.org");
    assert_tag(a[1], "@example.com");
    assert_tag(a[2], "");
    assert_tag(a[3], "");
    assert_tag(a[4], "");
    assert_tag(a[5], "@corp.example");
    assert_tag(a[6], "@example.org");
    for (int i = 0; i < 7; i++) {
        assert_string_equal(a[i], b[i]);            /* stable for one key */
        assert_string_not_equal(a[i], c[i]);        /* differs by key     */
    }
    /* Different values give different tags. */
    assert_string_not_equal(a[0], a[1]);
    /* Domains are kept. */
    assert_int_equal(q_int(store_db(s1), "SELECT count(*) FROM recipients WHERE domain ="
                                         " 'example.com'"), 1);

    assert_int_equal(store_close(s1, err), 0);
    assert_int_equal(store_close(s2, err), 0);
    assert_int_equal(store_close(s3, err), 0);

    /* The originals appear nowhere in the database files. */
    for (int k = 0; k < 3; k++) {
        static const char *const names[] = { "r1.db", "r2.db", "r3.db" };
        size_t n;
        char *bytes = slurp(tpath(names[k]), &n);
        assert_non_null(bytes);
        for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
            assert_null(memmem(bytes, n, secrets[i], strlen(secrets[i])));
        assert_non_null(memmem(bytes, n, "example.com", 11));
        free(bytes);
    }
}

/* Rows are committed every STORE_BATCH_ROWS, the rest on flush.  A
 * finished session is one row; a session still open is written
 * (complete = 0) by a flush or a close, not by a batch commit. */
static void test_batching(void **state)
{
    char err[STORE_ERRBUF_SIZE], sql[128];
    store_t *s = open_rw("b.db");
    sqlite3 *other;
    struct store_endpoints ep;
    struct mt_session ms;
    int64_t cap, open1, sid;
    long long seen;
    (void)state;

    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, "b", "file", "", &cap), 0);
    fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
    memset(&ms, 0, sizeof ms);
    ms.start_ts = T0;
    ms.end_ts = T0 + 1;
    assert_int_equal(sqlite3_open(tpath("b.db"), &other), SQLITE_OK);
    open1 = store_session_begin(s, cap, &ep, T0);
    assert_true(open1 > 0);
    for (unsigned i = 0; i < STORE_BATCH_ROWS + 10; i++) {
        sid = store_session_begin(s, cap, &ep, T0 + i);
        assert_true(sid > open1);
        assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    }
    seen = q_int(other, "SELECT count(*) FROM sessions");
    assert_int_equal(seen, STORE_BATCH_ROWS);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE id = %lld", (long long)open1);
    assert_int_equal(q_int(other, sql), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(q_int(other, "SELECT count(*) FROM sessions"), STORE_BATCH_ROWS + 11);
    snprintf(sql, sizeof sql, "SELECT complete FROM sessions WHERE id = %lld", (long long)open1);
    assert_int_equal(q_int(other, sql), 0);
    /* its end updates the row written by the flush */
    assert_int_equal(store_session_end(s, open1, &ep, &ms), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(q_int(other, sql), 1);
    /* Close writes and commits what is pending too. */
    assert_true(store_session_begin(s, cap, &ep, T0) > 0);
    assert_int_equal(store_close(s, err), 0);
    assert_int_equal(q_int(other, "SELECT count(*) FROM sessions"), STORE_BATCH_ROWS + 12);
    assert_int_equal(q_int(other, "SELECT count(*) FROM sessions WHERE complete = 0"), 1);
    sqlite3_close(other);
}

/* Ids handed out to open sessions are never taken by another process
 * writing the same file: at each commit the highest id handed out is in
 * the file. */
static void test_ids_other_writer(void **state)
{
    char err[STORE_ERRBUF_SIZE], sql[160];
    store_t *s = open_rw("w.db");
    sqlite3 *other;
    struct store_endpoints ep;
    struct mt_session ms;
    struct mt_finding f;
    int64_t cap, cap2, a, b, c, theirs;
    (void)state;

    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, "w", "file", "", &cap), 0);
    fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
    memset(&ms, 0, sizeof ms);
    ms.start_ts = T0;
    ms.end_ts = T0 + 1;
    memset(&f, 0, sizeof f);
    f.kind = "k";
    a = store_session_begin(s, cap, &ep, T0);
    b = store_session_begin(s, cap, &ep, T0 + 1);
    assert_true(a > 0 && b == a + 1);
    assert_int_equal(store_finding(s, a, &f), 0);
    assert_int_equal(store_finding(s, b, &f), 0);
    /* a commit (here: the next capture's row) writes b, the highest */
    assert_int_equal(store_capture_begin(s, "w2", "file", "", &cap2), 0);
    assert_int_equal(sqlite3_open(tpath("w.db"), &other), SQLITE_OK);
    assert_int_equal(q_int(other, "SELECT count(*) FROM sessions"), 1);
    assert_int_equal(q_int(other, "SELECT max(id) FROM sessions WHERE complete = 0"), b);
    snprintf(sql, sizeof sql, "INSERT INTO sessions (capture_id, client_ip, client_port,"
             " server_ip, server_port, start_ts) VALUES (%lld, 'x', 1, 'y', 25, 0)",
             (long long)cap2);
    assert_int_equal(sqlite3_exec(other, sql, NULL, NULL, NULL), SQLITE_OK);
    theirs = sqlite3_last_insert_rowid(other);
    assert_true(theirs > b);
    /* a, still pending, is written under its own id; the next id is above
     * the other writer's */
    assert_int_equal(store_session_end(s, a, &ep, &ms), 0);
    assert_int_equal(store_session_end(s, b, &ep, &ms), 0);
    c = store_session_begin(s, cap2, &ep, T0 + 2);
    assert_true(c > theirs);
    assert_int_equal(store_session_end(s, c, &ep, &ms), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(q_int(other, "SELECT count(*) FROM sessions WHERE complete = 1"), 3);
    assert_int_equal(q_int(other, "SELECT count(*) FROM findings"), 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM findings WHERE session_id IN (%lld, %lld)",
             (long long)a, (long long)b);
    assert_int_equal(q_int(other, sql), 2);
    /* deleting the capture that held the highest ids: an open session of
     * another capture is written so that its id stays the highest */
    a = store_session_begin(s, cap, &ep, T0 + 3);
    assert_int_equal(store_session_end(s, a, &ep, &ms), 0);
    b = store_session_begin(s, cap2, &ep, T0 + 4);
    assert_true(b > a);
    assert_int_equal(store_capture_delete(s, cap), 0);
    snprintf(sql, sizeof sql, "SELECT max(id) = %lld AND min(complete) = 0 FROM sessions"
             " WHERE capture_id = %lld", (long long)b, (long long)cap2);
    assert_int_equal(q_int(other, sql), 1);
    assert_int_equal(store_session_end(s, b, &ep, &ms), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(q_int(other, "SELECT count(*) FROM sessions WHERE complete = 0"), 1);
    sqlite3_close(other);
    assert_int_equal(store_close(s, err), 0);
}

/* Messages and findings of an open session are kept in memory up to
 * STORE_PENDING_SESSION_MAX bytes; past it the session is written at once
 * (complete = 0) and the rest goes straight to disk, in the same order. */
static void test_pending_limit(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    store_t *s = open_rw("l.db");
    struct store_endpoints ep;
    struct mt_session ms;
    struct mt_message m;
    struct mt_finding f;
    int64_t cap, sid;
    unsigned n = 0;
    sqlite3 *db;
    (void)state;

    assert_non_null(s);
    db = store_db(s);
    assert_int_equal(store_capture_begin(s, "l", "file", "", &cap), 0);
    fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
    sid = store_session_begin(s, cap, &ep, T0);
    memset(&m, 0, sizeof m);
    memset(&f, 0, sizeof f);
    memset(m.subject, 'S', sizeof m.subject - 1);
    f.kind = "plaintext_message_body";
    f.severity = MT_SEV_HIGH;
    while (q_int(db, "SELECT count(*) FROM sessions") == 0) {
        assert_true(n < STORE_PENDING_SESSION_MAX / 200);
        m.seq = ++n;
        f.msg_seq = n;
        assert_int_equal(store_message(s, sid, &m), 0);
        assert_int_equal(store_finding(s, sid, &f), 0);
    }
    assert_true(n > 10);
    for (int i = 0; i < 5; i++) {
        m.seq = ++n;
        f.msg_seq = n;
        assert_int_equal(store_message(s, sid, &m), 0);
        assert_int_equal(store_finding(s, sid, &f), 0);
    }
    fill_session(&ms);
    assert_int_equal(store_session_end(s, sid, &ep, &ms), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), n);
    /* every finding linked to its own message */
    assert_int_equal(q_int(db, "SELECT count(*) FROM findings f JOIN messages m"
                               " ON m.id = f.message_id WHERE m.seq = f.rowid"), n);
    assert_int_equal(q_int(db, "SELECT complete FROM sessions"), 1);
    assert_int_equal(store_close(s, err), 0);
}

/* A full disk gives -1 and a clear message; the store stays usable. */
static void test_disk_full(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    store_t *s = open_rw("full.db");
    struct store_endpoints ep;
    struct mt_session ms;
    int64_t cap, sid;
    int failed = 0;
    (void)state;

    assert_non_null(s);
    assert_int_equal(store_capture_begin(s, "f", "file", "", &cap), 0);
    /* Cap the file at its current size plus a little. */
    assert_int_equal(sqlite3_exec(store_db(s), "PRAGMA max_page_count = 40", NULL, NULL, NULL),
                     SQLITE_OK);
    fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
    fill_session(&ms);
    memset(ms.ehlo_keywords, 'K', sizeof ms.ehlo_keywords - 1);
    for (int i = 0; i < 5000 && !failed; i++) {
        sid = store_session_begin(s, cap, &ep, T0 + i);
        if (sid < 0 || store_session_end(s, sid, &ep, &ms) < 0 || store_flush(s) < 0)
            failed = 1;
    }
    assert_true(failed);
    assert_non_null(strstr(store_errmsg(s), "database or disk is full"));
    /* Still consistent and usable for reading. */
    assert_int_equal(q_int(store_db(s), "SELECT count(*) > 0 FROM sessions"), 1);
    store_close(s, err);
    s = open_rw("full.db");
    assert_non_null(s);
    {
        char ok[32];
        q_text(store_db(s), "PRAGMA integrity_check", ok, sizeof ok);
        assert_string_equal(ok, "ok");
    }
    assert_int_equal(store_close(s, err), 0);
}

/* A process killed mid-run leaves a consistent database whose capture says
 * 'interrupted' and that holds every committed batch. */
static void test_killed_process(void **state)
{
    char err[STORE_ERRBUF_SIZE], ok[32];
    pid_t pid;
    int status;
    store_t *s;
    (void)state;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store_t *cs = store_open(tpath("k.db"), STORE_RW, err);
        struct store_endpoints ep;
        int64_t cap;
        if (!cs || store_capture_begin(cs, "k", "file", "kk", &cap) < 0)
            _exit(3);
        struct mt_session ms;
        fill_endpoints(&ep, "192.0.2.1", 1, "192.0.2.2", 25);
        memset(&ms, 0, sizeof ms);
        for (unsigned i = 0; i < STORE_BATCH_ROWS + 500; i++) {
            int64_t sid = store_session_begin(cs, cap, &ep, T0 + i);
            ms.start_ts = T0 + i;
            if (sid < 0 || store_session_end(cs, sid, &ep, &ms) < 0)
                _exit(4);
        }
        /* and some still open, with a message each */
        for (unsigned i = 0; i < 50; i++) {
            struct mt_message m;
            int64_t sid = store_session_begin(cs, cap, &ep, T0 + i);
            memset(&m, 0, sizeof m);
            m.seq = 1;
            if (sid < 0 || store_message(cs, sid, &m) < 0)
                _exit(6);
        }
        raise(SIGKILL);
        _exit(5);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    s = store_open(tpath("k.db"), STORE_RW, err);
    assert_non_null(s);
    q_text(store_db(s), "PRAGMA integrity_check", ok, sizeof ok);
    assert_string_equal(ok, "ok");
    q_text(store_db(s), "SELECT status FROM captures", ok, sizeof ok);
    assert_string_equal(ok, "interrupted");
    assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM sessions"), STORE_BATCH_ROWS);
    {
        int64_t id;
        int complete = 1;
        assert_int_equal(store_capture_find(s, "kk", &id, &complete), 1);
        assert_int_equal(complete, 0);
        assert_int_equal(store_capture_delete(s, id), 0);
        assert_int_equal(q_int(store_db(s), "SELECT count(*) FROM sessions"), 0);
    }
    assert_int_equal(store_close(s, err), 0);
}

/* Opening RW on a file the user may not write gives a clear error. */
static void test_readonly_file(void **state)
{
    char err[STORE_ERRBUF_SIZE];
    store_t *s;
    (void)state;

    if (geteuid() == 0)
        skip();   /* root writes anyway */
    s = open_rw("p.db");
    assert_non_null(s);
    assert_int_equal(store_close(s, err), 0);
    assert_int_equal(chmod(tpath("p.db"), 0444), 0);
    assert_int_equal(chmod(tmpdir, 0555), 0);
    s = store_open(tpath("p.db"), STORE_RW, err);
    if (s) {
        int64_t id;
        assert_int_equal(store_capture_begin(s, "x", "file", "", &id), -1);
        assert_non_null(strstr(store_errmsg(s), "read"));
        store_close(s, err);
    } else {
        assert_true(err[0] != '\0');
    }
    /* Reading still works, although SQLite cannot create the -shm file in
     * this directory (the immutable fallback). */
    s = store_open(tpath("p.db"), STORE_RO, err);
    chmod(tmpdir, 0755);
    if (!s)
        fprintf(stderr, "RO open: %s\n", err);
    assert_non_null(s);
    assert_int_equal(q_int(store_db(s), "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(store_close(s, err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_constraints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_file_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_newer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_foreign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ro_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ro_writes_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_message_finding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_is_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_delete_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_other_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
