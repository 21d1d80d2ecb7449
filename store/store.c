/*
 * store.c — the SQLite database (SPEC §4): open/migrate, batched writes
 * through statements prepared once per store, optional redaction (SPEC §6),
 * and the cross-connection checks that need the stored history
 * (store_crosscheck).
 *
 * Every captured string is bound as a parameter with an explicit length;
 * no SQL text is ever built from data.  Strings are bound SQLITE_STATIC:
 * each statement is stepped and reset (bindings cleared) before the
 * caller's buffers can change.
 *
 * Write path (store.h): a session's row is normally written once, at its
 * end, together with the messages and findings kept for it in memory
 * (struct pend); see "pending sessions" below.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include "config.h"
#include "dissect/tls.h"
#include "store/store.h"

extern const char mt_store_schema_v1[];   /* store/schema.c */
extern const char mt_store_schema_v2[];
extern const char mt_store_schema_v3[];
extern const char mt_store_schema_v4[];

/* ---- migrations ------------------------------------------------------- */

/*
 * One step brings a database from version to_version - 1 to to_version.
 * An empty database (user_version 0) runs every step; an older one runs the
 * steps above its version, all in one transaction.  A future schema change
 * appends a step here (ALTER TABLE ..., data copies) and bumps
 * STORE_SCHEMA_VERSION in store.h.
 */
struct migration {
    int to_version;
    const char *sql;
};

static const struct migration migrations[] = {
    { 1, mt_store_schema_v1 },
    { 2, mt_store_schema_v2 },
    { 3, mt_store_schema_v3 },
    { 4, mt_store_schema_v4 },
};

#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])

/* ---- prepared statements ---------------------------------------------- */

enum stmt_id {
    ST_CAP_FIND,
    ST_CAP_DELETE,
    ST_CAP_BEGIN,
    ST_CAP_SHA,
    ST_CAP_PROBE_NEED,
    ST_CAP_PROBE_STALE,
    ST_CAP_FINISH,
    ST_SES_MAXID,
    ST_SES_BEGIN,
    ST_SES_INSERT,
    ST_SES_END,
    ST_SES_KEYS,
    ST_MSG,
    ST_RCPT,
    ST_MSG_LOOKUP,
    ST_FINDING,
    ST_CERT,
    ST_CHAIN,
    ST_X_FAILED_BEFORE,
    ST_X_CLEAR_AFTER,
    ST_X_PAIRED,
    ST_X_PAIR,
    ST_X_KINDS,
    ST_B_GET,
    ST_B_PUT,
    ST_COUNT
};

/*
 * The session columns share one numbering in ST_SES_INSERT, ST_SES_END and
 * ST_SES_KEYS (bind_session binds them all; a statement ignores the ones
 * it does not use):
 *   ?1 id, ?2..?6 endpoints, ?7 start_ts, ?8..?43 the session's own
 *   columns, ?44 cert_id, ?45 capture_id.
 */
#define SES_COLS                                                                     \
    "client_ip, client_port, server_ip, server_port, vlan, start_ts, end_ts,"        \
    " end_reason, protection, confidence, starttls_offered, starttls_requested,"     \
    " starttls_reply, banner, helo, helo_verb, ehlo_keywords, auth_mechanism,"       \
    " auth_user, auth_outcome, tls_version, tls_cipher, tls_sni, cert_sha256,"       \
    " cert_subject, cert_issuer, cert_not_before, cert_not_after, exposed_envelope," \
    " exposed_content, exposed_credentials, cleartext_messages, client_bytes,"       \
    " server_bytes, gap_bytes, syn_seen, one_sided, tls_alpn, ja3, ja4,"             \
    " tls_handshake_complete, tls_resumed, cert_id"

#define SES_VALS                                                                     \
    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"   \
    " ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33,"    \
    " ?34, ?35, ?36, ?37, ?38, ?39, ?40, ?41, ?42, ?43, ?44"

/* The failed-STARTTLS side of a retry (idx_sessions_tls_fail: the query
 * repeats the index's WHERE so that the partial index is used). */
#define TLS_FAIL_WHERE "starttls_requested = 1 AND tls_handshake_complete = 0"
/* The cleartext-mail side (idx_sessions_clear_mail). */
#define CLEAR_MAIL_WHERE \
    "starttls_requested = 0 AND (exposed_envelope = 1 OR exposed_content = 1)"

#define BASELINE_COLS                                                                  \
    "starttls_seen_count, no_starttls_count, no_starttls_streak, streak_reported,"     \
    " last_starttls_ts, last_seen_ts, keywords, cert_sha256, cert_issuer,"             \
    " cert_seen_count, cert_last_ts, cand_sha256, cand_issuer, cand_seen_count,"       \
    " cand_last_ts"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_CAP_FIND] =
        "SELECT id, status FROM captures WHERE sha256 = ?1 ORDER BY id DESC LIMIT 1",
    [ST_CAP_DELETE] =
        "DELETE FROM captures WHERE id = ?1",
    [ST_CAP_BEGIN] =
        "INSERT INTO captures (source, kind, sha256, status, mailtap_version, analysed_at, probe)"
        " VALUES (?1, ?2, ?3, 'interrupted', ?4, ?5, ?6)",
    [ST_CAP_SHA] =
        "UPDATE captures SET sha256 = ?2 WHERE id = ?1",
    /* A file capture that could be the same file: a complete one with the
     * same probe, or one stored before probes existed. */
    [ST_CAP_PROBE_NEED] =
        "SELECT 1 FROM captures WHERE kind = 'file' AND"
        " ((probe = ?1 AND status = 'complete') OR probe IS NULL) LIMIT 1",
    [ST_CAP_PROBE_STALE] =
        "SELECT id FROM captures WHERE probe = ?1 AND status = 'interrupted'"
        " AND id <> ?2 ORDER BY id LIMIT 1",
    [ST_CAP_FINISH] =
        "UPDATE captures SET packets = ?2, bytes = ?3, dropped = ?4, ifdropped = ?5,"
        " truncated = ?6, undecodable = ?7, first_ts = ?8, last_ts = ?9, status = ?10,"
        " evicted = ?11, evicted_bytes = ?12 WHERE id = ?1",
    [ST_SES_MAXID] =
        "SELECT max(id) FROM sessions",
    /* the row of a session still open (complete = 0) */
    [ST_SES_BEGIN] =
        "INSERT INTO sessions (id, capture_id, client_ip, client_port, server_ip,"
        " server_port, vlan, start_ts, complete) VALUES (?1, ?45, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
    /* the row of a finished session written at once */
    [ST_SES_INSERT] =
        "INSERT INTO sessions (id, capture_id, " SES_COLS ", complete)"
        " VALUES (?1, ?45, " SES_VALS ", 1)",
    /* the end of a session whose row exists: every column but the indexed
     * ones (endpoints, start, cert_id: ST_SES_KEYS, only when they differ) */
    [ST_SES_END] =
        "UPDATE sessions SET end_ts = ?8, end_reason = ?9,"
        " protection = ?10, confidence = ?11, starttls_offered = ?12,"
        " starttls_requested = ?13, starttls_reply = ?14, banner = ?15, helo = ?16,"
        " helo_verb = ?17, ehlo_keywords = ?18, auth_mechanism = ?19, auth_user = ?20,"
        " auth_outcome = ?21, tls_version = ?22, tls_cipher = ?23, tls_sni = ?24,"
        " cert_sha256 = ?25, cert_subject = ?26, cert_issuer = ?27,"
        " cert_not_before = ?28, cert_not_after = ?29, exposed_envelope = ?30,"
        " exposed_content = ?31, exposed_credentials = ?32, cleartext_messages = ?33,"
        " client_bytes = ?34, server_bytes = ?35, gap_bytes = ?36, syn_seen = ?37,"
        " one_sided = ?38, tls_alpn = ?39, ja3 = ?40, ja4 = ?41,"
        " tls_handshake_complete = ?42, tls_resumed = ?43, complete = 1 WHERE id = ?1",
    [ST_SES_KEYS] =
        "UPDATE sessions SET client_ip = ?2, client_port = ?3, server_ip = ?4,"
        " server_port = ?5, vlan = ?6, start_ts = ?7, cert_id = ?44"
        " WHERE id = ?1 AND (client_ip IS NOT ?2 OR client_port IS NOT ?3"
        " OR server_ip IS NOT ?4 OR server_port IS NOT ?5 OR vlan IS NOT ?6"
        " OR start_ts IS NOT ?7 OR cert_id IS NOT ?44)",
    [ST_MSG] =
        "INSERT INTO messages (session_id, seq, method, mail_from, rcpt_count, size,"
        " body_sha256, subject, message_id, from_hdr, date_hdr, ts, reply_code,"
        " content_exposed, complete)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_RCPT] =
        "INSERT INTO recipients (message_id, address, domain, reply_code)"
        " VALUES (?1, ?2, ?3, ?4)",
    [ST_MSG_LOOKUP] =
        "SELECT id FROM messages WHERE session_id = ?1 AND seq = ?2 ORDER BY id DESC LIMIT 1",
    [ST_FINDING] =
        "INSERT INTO findings (session_id, message_id, kind, severity, ts, evidence)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* one row per distinct certificate; a repeat only widens the seen window */
    [ST_CERT] =
        "INSERT INTO certificates (sha256, subject, issuer, sans, not_before, not_after,"
        " key_type, key_bits, sig_alg, self_signed, first_seen, last_seen)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)"
        " ON CONFLICT (sha256) DO UPDATE SET"
        " first_seen = coalesce(min(first_seen, excluded.first_seen), first_seen,"
        " excluded.first_seen),"
        " last_seen = coalesce(max(last_seen, excluded.last_seen), last_seen,"
        " excluded.last_seen)"
        " RETURNING id",
    [ST_CHAIN] =
        "INSERT OR REPLACE INTO session_chain (session_id, depth, cert_id) VALUES (?1, ?2, ?3)",
    /* failed STARTTLS sessions started in [?4, ?5) between the pair, latest
     * first, with whether a tls_handshake_failed finding was raised */
    [ST_X_FAILED_BEFORE] =
        "SELECT id, start_ts, end_ts, end_reason, starttls_reply,"
        " EXISTS (SELECT 1 FROM findings f WHERE f.session_id = sessions.id"
        "         AND f.kind = 'tls_handshake_failed')"
        " FROM sessions WHERE client_ip = ?1 AND server_ip = ?2 AND server_port = ?3"
        " AND start_ts >= ?4 AND start_ts < ?5 AND " TLS_FAIL_WHERE
        " AND id != ?6 ORDER BY start_ts DESC, id DESC LIMIT 16",
    /* the first cleartext mail session started in (?4, ?5] between the pair
     * that is not reported as a retry yet (among the first 64: a capture
     * full of them cannot make every lookup long) */
    [ST_X_CLEAR_AFTER] =
        "SELECT id, start_ts FROM (SELECT id, start_ts FROM sessions"
        "  WHERE client_ip = ?1 AND server_ip = ?2 AND server_port = ?3"
        "  AND start_ts > ?4 AND start_ts <= ?5 AND " CLEAR_MAIL_WHERE
        "  AND id != ?6 ORDER BY start_ts, id LIMIT 64) c"
        " WHERE NOT EXISTS (SELECT 1 FROM retry_pairs p WHERE p.retry_session_id = c.id)"
        " AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.session_id = c.id"
        "     AND (f.kind = 'plaintext_retry_after_tls_failure'"
        "          OR f.kind = 'starttls_then_reset'))"
        " ORDER BY start_ts, id LIMIT 1",
    [ST_X_PAIRED] =
        "SELECT 1 FROM retry_pairs WHERE retry_session_id = ?1",
    [ST_X_PAIR] =
        "INSERT OR IGNORE INTO retry_pairs (retry_session_id, failed_session_id, kind)"
        " VALUES (?1, ?2, ?3)",
    /* the kinds of a session's findings that crosscheck looks at */
    [ST_X_KINDS] =
        "SELECT kind FROM findings WHERE session_id = ?1"
        " AND (kind = 'starttls_token_masked' OR kind = 'ehlo_rejected_helo_fallback'"
        "      OR kind = 'tls_handshake_failed')",
    [ST_B_GET] =
        "SELECT " BASELINE_COLS " FROM server_baseline"
        " WHERE server_ip = ?1 AND server_port = ?2 AND host = ?3",
    [ST_B_PUT] =
        "INSERT OR REPLACE INTO server_baseline (server_ip, server_port, host, "
        BASELINE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
        " ?14, ?15, ?16, ?17, ?18)",
};

/* ---- the handle ------------------------------------------------------- */

#define TAG_HEX 12                      /* hex digits of the HMAC kept    */
#define TAG_LEN (2 + TAG_HEX)           /* "h:" + digits                  */
#define REDACT_BUF (MT_STR_LONG + TAG_LEN + 1)

/*
 * A session whose id is handed out but whose row is not written yet: what
 * the row needs, and its messages and findings in call order, encoded
 * (enc_message / enc_finding).  In the hash table by id.
 */
struct pend {
    struct pend *next;                  /* hash chain                      */
    int64_t id, capture_id;
    double start_ts;
    struct store_endpoints ep;
    unsigned char *buf;                 /* encoded records                 */
    size_t len, cap;
};

struct store {
    sqlite3 *db;
    enum store_mode mode;
    sqlite3_stmt *st[ST_COUNT];         /* prepared on first use           */
    int in_tx;                          /* a batch transaction is open     */
    unsigned rows;                      /* rows written in the open batch  */
    uint8_t *key;                       /* redaction key, NULL = off       */
    size_t key_len;
    /* session ids: next_sid is the next one handed out; db_max_sid the
     * highest known to be in the file (read when a batch opens) */
    int64_t next_sid, db_max_sid;
    struct pend **pb;                   /* pending sessions, by id         */
    size_t npb, npend;                  /* buckets (power of 2), entries   */
    size_t pend_bytes;                  /* memory they hold                */
    /* the last message written, for linking the findings that follow it */
    int64_t lm_sid, lm_id;
    uint32_t lm_seq;
    /* server baselines read or changed in the open batch (crosscheck) */
    struct bentry **bc;
    size_t nbc;
    char err[STORE_ERRBUF_SIZE];
};

/* Formats the last error of s (printf style). */
static void set_err(store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
}

/* Records "what: <sqlite message>" as the last error, with a plainer word
 * for the failures an operator must act on.  Always returns -1. */
static int db_err(store_t *s, const char *what)
{
    int rc = sqlite3_errcode(s->db);
    switch (rc) {
    case SQLITE_FULL:
        set_err(s, "%s: database or disk is full", what);
        break;
    case SQLITE_READONLY:
        set_err(s, "%s: the database is read-only (%s)", what, sqlite3_errmsg(s->db));
        break;
    case SQLITE_IOERR:
        set_err(s, "%s: disk I/O error (%s)", what, sqlite3_errmsg(s->db));
        break;
    default:
        set_err(s, "%s: %s", what, sqlite3_errmsg(s->db));
        break;
    }
    return -1;
}

/* Returns the cached statement id, preparing it on first use; NULL with
 * the error set when preparation fails. */
static sqlite3_stmt *stmt(store_t *s, enum stmt_id id)
{
    if (!s->st[id]) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                               &s->st[id], NULL) != SQLITE_OK) {
            db_err(s, "prepare");
            s->st[id] = NULL;
            return NULL;
        }
    }
    return s->st[id];
}

/* Resets a statement after use and drops its bindings (so no captured
 * string outlives the call in SQLite's copy, and no SQLITE_STATIC pointer
 * outlives its buffer). */
static void done(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* ---- binding helpers -------------------------------------------------- */

/* A string by pointer and length (not NUL-terminated in general). */
struct sv {
    const char *p;
    size_t n;
};

/* The text of a fixed field: up to its first NUL, at most max bytes. */
static struct sv sv_of(const char *p, size_t max)
{
    struct sv v = { p, p ? strnlen(p, max) : 0 };
    return v;
}

#define SV_FIELD(arr) sv_of((arr), sizeof(arr))

/* Binds v; an empty string becomes NULL. */
static int bind_sv(sqlite3_stmt *q, int idx, struct sv v)
{
    if (v.n == 0)
        return sqlite3_bind_null(q, idx);
    return sqlite3_bind_text(q, idx, v.p, v.n > INT_MAX ? INT_MAX : (int)v.n, SQLITE_STATIC);
}

/* Binds a string of at most max bytes (stops at the first NUL); an empty
 * string becomes NULL. */
static int bind_str(sqlite3_stmt *q, int idx, const char *p, size_t max)
{
    return bind_sv(q, idx, sv_of(p, max));
}

#define BIND_FIELD(q, idx, arr) bind_str((q), (idx), (arr), sizeof(arr))

/* Binds an unsigned count, clamped to what an INTEGER column holds. */
static int bind_u64(sqlite3_stmt *q, int idx, uint64_t v)
{
    return sqlite3_bind_int64(q, idx, v > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v);
}

/* Binds an int where 0 means "none" (reply codes): 0 becomes NULL. */
static int bind_code(sqlite3_stmt *q, int idx, int v)
{
    return v ? sqlite3_bind_int(q, idx, v) : sqlite3_bind_null(q, idx);
}

/* Binds a boolean as 0/1. */
static int bind_bool(sqlite3_stmt *q, int idx, int v)
{
    return sqlite3_bind_int(q, idx, v != 0);
}

/* Binds a time where 0 means "unknown": 0 becomes NULL. */
static int bind_opt_ts(sqlite3_stmt *q, int idx, double v)
{
    return v != 0.0 ? sqlite3_bind_double(q, idx, v) : sqlite3_bind_null(q, idx);
}

/* Copies column col of q (text or NULL) into out[outsz], NUL-terminated. */
static void col_copy(sqlite3_stmt *q, int col, char *out, size_t outsz)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(q, col) : 0;

    if (n >= outsz)
        n = outsz - 1;
    if (n)
        memcpy(out, t, n);
    out[n] = '\0';
}

/* ---- transactions ----------------------------------------------------- */

static int guard_ids(store_t *s);

/* Runs one fixed statement (never built from data).  0 or -1. */
static int exec_fixed(store_t *s, const char *sql, const char *what)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_err(s, what);
    return 0;
}

static void bc_drop(store_t *s);
static int bc_write_back(store_t *s);

/* The batch is over (committed, or rolled back: then the last message
 * written may be gone too).  The cached baselines go: another process may
 * change them before our next batch. */
static void batch_end(store_t *s, int rolled_back)
{
    s->in_tx = 0;
    s->rows = 0;
    if (rolled_back)
        s->lm_sid = 0;
    bc_drop(s);
}

/* Reads the highest session id in the file (inside the batch, so that no
 * other process writes meanwhile); ids handed out from now on are above
 * it.  0 or -1. */
static int read_max_sid(store_t *s)
{
    sqlite3_stmt *q = stmt(s, ST_SES_MAXID);
    int rc;

    if (!q)
        return -1;
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        db_err(s, "read session ids");
        done(q);
        return -1;
    }
    s->db_max_sid = sqlite3_column_int64(q, 0);
    done(q);
    if (s->next_sid <= s->db_max_sid)
        s->next_sid = s->db_max_sid + 1;
    return 0;
}

/* Opens the batch transaction if none is open, and reads the highest
 * session id in the file: another process may have written since our last
 * batch.  0 or -1. */
static int tx_open(store_t *s)
{
    if (s->in_tx)
        return 0;
    if (s->mode != STORE_RW) {
        set_err(s, "the database was opened read-only");
        return -1;
    }
    if (exec_fixed(s, "BEGIN IMMEDIATE", "begin transaction") < 0)
        return -1;
    s->in_tx = 1;
    s->rows = 0;
    if (read_max_sid(s) < 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        batch_end(s, 1);
        return -1;
    }
    return 0;
}

/* Commits the batch transaction if one is open.  First the open session
 * with the highest id is written (guard_ids), so that no other writer can
 * take an id handed out here.  On failure (disk full) the batch is rolled
 * back so the database stays as of the last commit; returns -1 with the
 * error set. */
static int tx_commit(store_t *s)
{
    int rc = 0;

    if (!s->in_tx)
        return 0;
    if (bc_write_back(s) < 0 || (s->in_tx && guard_ids(s) < 0))
        rc = -1;
    if (rc == 0 && s->in_tx && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_err(s, "commit");
    if (rc < 0 && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    batch_end(s, rc < 0);
    return rc;
}

/* Counts one written row. */
static void row_done(store_t *s)
{
    s->rows++;
}

/* At the end of a public write call: commits when the batch is full. */
static int batch_check(store_t *s, int rc)
{
    if (rc == 0 && s->in_tx && s->rows >= STORE_BATCH_ROWS)
        rc = tx_commit(s);
    return rc;
}

/* A failed statement may have ended the transaction (SQLITE_FULL and
 * SQLITE_IOERR roll back on their own). */
static void check_rolled_back(store_t *s)
{
    if (s->in_tx && sqlite3_get_autocommit(s->db))
        batch_end(s, 1);
}

/* Steps a write statement to completion and resets it.  0 or -1. */
static int step_write(store_t *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    if (rc != SQLITE_DONE) {
        db_err(s, what);
        done(q);
        check_rolled_back(s);
        return -1;
    }
    done(q);
    return 0;
}

/* ---- redaction -------------------------------------------------------- */

/* Writes "h:" + TAG_HEX hex digits of HMAC-SHA-256(key, p[0..n)) to out
 * (TAG_LEN bytes, no NUL).  0 or -1. */
static int make_tag(const store_t *s, const char *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!HMAC(EVP_sha256(), s->key, (int)s->key_len, (const unsigned char *)p, n, md, &mdlen)
        || mdlen < TAG_HEX / 2)
        return -1;
    out[0] = 'h';
    out[1] = ':';
    for (int i = 0; i < TAG_HEX / 2; i++) {
        out[2 + 2 * i] = hex[md[i] >> 4];
        out[3 + 2 * i] = hex[md[i] & 15];
    }
    return 0;
}

/*
 * Redacts an address-like value v: the part before the last '@' becomes a
 * tag, "@domain" is kept; without '@' the whole value is tagged; an empty
 * local part is left alone.  *res is v itself when there is nothing to
 * redact, else the text in out (REDACT_BUF bytes).  0, or -1 when the HMAC
 * fails.
 */
static int redact_addr(store_t *s, struct sv v, char *out, struct sv *res)
{
    const char *at;
    size_t local, n = v.n;

    *res = v;
    if (!s->key || n == 0)
        return 0;
    at = memrchr(v.p, '@', n);
    local = at ? (size_t)(at - v.p) : n;
    if (local == 0)
        return 0;
    if (make_tag(s, v.p, local, out) < 0)
        return -1;
    if (n - local > REDACT_BUF - TAG_LEN - 1)
        n = local + (REDACT_BUF - TAG_LEN - 1);
    memcpy(out + TAG_LEN, v.p + local, n - local);
    res->p = out;
    res->n = TAG_LEN + (n - local);
    return 0;
}

/* Redacts a free-text value (subject): the whole value becomes a tag. */
static int redact_text(store_t *s, struct sv v, char *out, struct sv *res)
{
    *res = v;
    if (!s->key || v.n == 0)
        return 0;
    if (make_tag(s, v.p, v.n, out) < 0)
        return -1;
    res->p = out;
    res->n = TAG_LEN;
    return 0;
}

/* Redacts a From: header ("Alice <alice@example.org>"): the whole value is
 * tagged and "@domain" of the address in it kept ("h:...@example.org"). */
static int redact_from_hdr(store_t *s, struct sv v, char *out, struct sv *res)
{
    const char *p = v.p, *at, *end;
    size_t n = v.n, dlen = 0;

    *res = v;
    if (!s->key || n == 0)
        return 0;
    if (make_tag(s, p, n, out) < 0)
        return -1;
    at = memrchr(p, '@', n);
    if (at) {
        end = at + 1;
        while (end < p + n && *end != '>' && *end != ' ' && *end != '"' && *end != ',' &&
               *end != ')' && *end != '\t')
            end++;
        dlen = (size_t)(end - at);
        if (dlen > REDACT_BUF - TAG_LEN - 1)
            dlen = REDACT_BUF - TAG_LEN - 1;
        memcpy(out + TAG_LEN, at, dlen);
    }
    res->p = out;
    res->n = TAG_LEN + dlen;
    return 0;
}

/* ---- open / close ----------------------------------------------------- */

/* Reads PRAGMA user_version into *v.  0 or -1. */
static int get_user_version(store_t *s, int *v)
{
    sqlite3_stmt *q;
    int rc;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return db_err(s, "read schema version");
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        db_err(s, "read schema version");
        sqlite3_finalize(q);
        return -1;
    }
    *v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return 0;
}

/* Counts the schema objects of the main database (0 = empty file).
 * Returns the count or -1. */
static int count_objects(store_t *s)
{
    sqlite3_stmt *q;
    int n = -1;

    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_schema", -1, &q, NULL) != SQLITE_OK)
        return db_err(s, "read schema");
    if (sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int(q, 0);
    else
        db_err(s, "read schema");
    sqlite3_finalize(q);
    return n;
}

/* Sets user_version to v (v is ours, never data).  0 or -1. */
static int set_user_version(store_t *s, int v)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    return exec_fixed(s, sql, "set schema version");
}

/* Brings the schema to STORE_SCHEMA_VERSION (RW), or checks it (RO).
 * 0 or -1 with the error set. */
static int check_schema(store_t *s)
{
    int v = 0, objs;

    if (s->mode == STORE_RW) {
        /* Take the write lock before looking, so two processes creating
         * the same file do not both run the steps. */
        if (exec_fixed(s, "BEGIN IMMEDIATE", "begin transaction") < 0)
            return -1;
    }
    if (get_user_version(s, &v) < 0)
        goto fail;
    if (v > STORE_SCHEMA_VERSION) {
        set_err(s, "database schema %d is newer than this mailtap (%d)", v,
                STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (v == 0) {
        objs = count_objects(s);
        if (objs < 0)
            goto fail;
        if (objs > 0) {
            set_err(s, "not a mailtap database (it has tables but no schema version)");
            goto fail;
        }
    }
    if (v < STORE_SCHEMA_VERSION && s->mode != STORE_RW) {
        if (v == 0)
            set_err(s, "empty database (nothing analysed yet)");
        else
            set_err(s, "database schema %d is older than this mailtap (%d); "
                    "open it read-write (mailtap analyze) to migrate it",
                    v, STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (s->mode != STORE_RW)
        return 0;
    for (size_t i = 0; i < N_MIGRATIONS; i++) {
        if (migrations[i].to_version <= v)
            continue;
        if (sqlite3_exec(s->db, migrations[i].sql, NULL, NULL, NULL) != SQLITE_OK) {
            char what[64];
            snprintf(what, sizeof what, "migrate schema to version %d", migrations[i].to_version);
            db_err(s, what);
            goto fail;
        }
    }
    if (v != STORE_SCHEMA_VERSION && set_user_version(s, STORE_SCHEMA_VERSION) < 0)
        goto fail;
    if (exec_fixed(s, "COMMIT", "commit schema") < 0)
        goto fail;
    return 0;
fail:
    if (s->mode == STORE_RW && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static void pend_free_all(store_t *s);
static int flush_pending(store_t *s);

/* Frees everything of s except the error text; NULL-safe for its parts. */
static void store_release(store_t *s)
{
    pend_free_all(s);
    bc_drop(s);
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
    if (s->key) {
        OPENSSL_cleanse(s->key, s->key_len);
        free(s->key);
        s->key = NULL;
    }
}

/* Opens and configures s->db (no schema work).  immutable: open the file as
 * an immutable URI (read-only fallback, see store_open).  0 or -1. */
static int open_handle(store_t *s, const char *path, int immutable)
{
    /* a store is used by one thread at a time: no per-connection mutex */
    int flags = (s->mode == STORE_RO ? SQLITE_OPEN_READONLY
                                     : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX;
    char *uri = NULL;
    int rc;
    static int configured;

    /* Before SQLite's first use in the process: no memory statistics (each
     * allocation would take a global mutex).  Refused harmlessly
     * (SQLITE_MISUSE) when SQLite was already initialised. */
    if (!configured) {
        configured = 1;
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    }

    if (immutable) {
        /* "file:" + the path percent-encoded + "?immutable=1". */
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(path), k = 0;
        uri = malloc(5 + 3 * n + 13);
        if (!uri) {
            set_err(s, "out of memory");
            return -1;
        }
        memcpy(uri, "file:", 5);
        k = 5;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)path[i];
            if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9') || strchr("/-._~", ch)) {
                uri[k++] = (char)ch;
            } else {
                uri[k++] = '%';
                uri[k++] = hex[ch >> 4];
                uri[k++] = hex[ch & 15];
            }
        }
        memcpy(uri + k, "?immutable=1", 13);
        flags |= SQLITE_OPEN_URI;
    }
    rc = sqlite3_open_v2(immutable ? uri : path, &s->db, flags, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        if (s->db)
            set_err(s, "cannot open: %s", sqlite3_errmsg(s->db));
        else
            set_err(s, "cannot open: out of memory");
        return -1;
    }
    sqlite3_extended_result_codes(s->db, 0);
    sqlite3_busy_timeout(s->db, 5000);
    /* The file may come from elsewhere: do not let its schema run code. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    if (s->mode == STORE_RW) {
        /* WAL may be refused (e.g. some network file systems); the default
         * rollback journal is still safe, so that is not an error. */
        sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (exec_fixed(s, "PRAGMA synchronous=NORMAL", "set synchronous") < 0)
            return -1;

    }
    return exec_fixed(s, "PRAGMA foreign_keys=ON", "enable foreign keys");
}

/*
 * Opens the database (contract in store.h).  Read-only opening of a WAL
 * database needs its -shm file, which SQLite must create when absent; in
 * a directory the user cannot write (a report run by an unprivileged user
 * on the capture service's database) that fails.  When no -wal file
 * exists either, no writer can be active, so the file is opened again as
 * immutable.
 */
store_t *store_open(const char *path, enum store_mode mode, char *errbuf)
{
    store_t *s;
    struct stat sb;

    if (errbuf)
        errbuf[0] = '\0';
    if (!path || !*path) {
        if (errbuf)
            snprintf(errbuf, STORE_ERRBUF_SIZE, "no database path given");
        return NULL;
    }
    if (mode == STORE_RO && strcmp(path, ":memory:") != 0 && stat(path, &sb) != 0) {
        if (errbuf)
            snprintf(errbuf, STORE_ERRBUF_SIZE, "%s",
                     errno == ENOENT ? "no such database" : strerror(errno));
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        if (errbuf)
            snprintf(errbuf, STORE_ERRBUF_SIZE, "out of memory");
        return NULL;
    }
    s->mode = mode;
    if (open_handle(s, path, 0) == 0 && check_schema(s) == 0)
        return s;
    if (mode == STORE_RO && s->db &&
        (sqlite3_errcode(s->db) == SQLITE_READONLY || sqlite3_errcode(s->db) == SQLITE_CANTOPEN)) {
        char wal[4200];
        snprintf(wal, sizeof wal, "%s-wal", path);
        if (strlen(path) < sizeof wal - 5 && stat(wal, &sb) != 0 && errno == ENOENT) {
            char first[STORE_ERRBUF_SIZE];
            snprintf(first, sizeof first, "%s", s->err);
            store_release(s);
            if (open_handle(s, path, 1) == 0 && check_schema(s) == 0)
                return s;
            snprintf(s->err, sizeof s->err, "%s", first);
        }
    }
    if (errbuf)
        snprintf(errbuf, STORE_ERRBUF_SIZE, "%s", s->err);
    store_release(s);
    free(s);
    return NULL;
}

/* Commits what is pending and closes (contract in store.h). */
int store_close(store_t *s, char *errbuf)
{
    int rc = 0;

    if (errbuf)
        errbuf[0] = '\0';
    if (!s)
        return 0;
    if (s->npend > 0 && flush_pending(s) < 0)
        rc = -1;
    if (s->in_tx && tx_commit(s) < 0)
        rc = -1;
    if (s->mode == STORE_RW && s->db)
        sqlite3_exec(s->db, "PRAGMA optimize", NULL, NULL, NULL);
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    if (s->db && sqlite3_close(s->db) != SQLITE_OK) {
        db_err(s, "close");
        sqlite3_close_v2(s->db);
        rc = -1;
    }
    s->db = NULL;
    if (rc < 0 && errbuf)
        snprintf(errbuf, STORE_ERRBUF_SIZE, "%s", s->err);
    store_release(s);
    free(s);
    return rc;
}

/* Keeps a copy of the redaction key; from now on values are tagged. */
int store_set_redact_key(store_t *s, const uint8_t *key, size_t len)
{
    uint8_t *k;

    if (!key || len == 0 || len > INT_MAX) {
        set_err(s, "redaction key is empty or too long");
        return -1;
    }
    k = malloc(len);
    if (!k) {
        set_err(s, "out of memory");
        return -1;
    }
    memcpy(k, key, len);
    if (s->key) {
        OPENSSL_cleanse(s->key, s->key_len);
        free(s->key);
    }
    s->key = k;
    s->key_len = len;
    return 0;
}

/* ---- captures --------------------------------------------------------- */

/* Latest capture with this SHA-256: 1 found, 0 not, -1 error. */
int store_capture_find(store_t *s, const char *sha256, int64_t *id, int *complete)
{
    sqlite3_stmt *q = stmt(s, ST_CAP_FIND);
    int rc, found = 0;

    if (!q)
        return -1;
    if (!sha256 || !*sha256)
        return 0;
    bind_str(q, 1, sha256, 65);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *st = sqlite3_column_text(q, 1);
        if (id)
            *id = sqlite3_column_int64(q, 0);
        if (complete)
            *complete = st && strcmp((const char *)st, "complete") == 0;
        found = 1;
    } else if (rc != SQLITE_DONE) {
        db_err(s, "find capture");
        done(q);
        return -1;
    }
    done(q);
    return found;
}

static void pend_drop_capture(store_t *s, int64_t capture_id);

/* Deletes a capture; ON DELETE CASCADE removes its sessions, messages,
 * recipients and findings (and its sessions not written yet are
 * forgotten).  Committed at once. */
int store_capture_delete(store_t *s, int64_t id)
{
    sqlite3_stmt *q = stmt(s, ST_CAP_DELETE);

    if (!q || tx_open(s) < 0)
        return -1;
    pend_drop_capture(s, id);
    s->lm_sid = 0;
    sqlite3_bind_int64(q, 1, id);
    if (step_write(s, q, "delete capture") < 0 || read_max_sid(s) < 0)
        return -1;
    /* the deleted rows may have held the highest ids: tx_commit writes the
     * highest pending session if it is above the file's highest id now */
    return tx_commit(s);
}

int store_capture_begin(store_t *s, const char *source, const char *kind,
                        const char *sha256, int64_t *id)
{
    return store_capture_begin_probe(s, source, kind, sha256, NULL, id);
}

/* Inserts the capture row as 'interrupted' and commits it at once. */
int store_capture_begin_probe(store_t *s, const char *source, const char *kind,
                              const char *sha256, const char *probe, int64_t *id)
{
    sqlite3_stmt *q = stmt(s, ST_CAP_BEGIN);
    char now[32] = "";
    time_t t = time(NULL);
    struct tm tm;

    if (!q)
        return -1;
    if (!kind || (strcmp(kind, "file") != 0 && strcmp(kind, "live") != 0)) {
        set_err(s, "capture kind must be \"file\" or \"live\"");
        return -1;
    }
    if (gmtime_r(&t, &tm))
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* Commit whatever is pending, then make the capture row durable on its
     * own: an interrupted run leaves it saying 'interrupted'. */
    if (tx_commit(s) < 0 || tx_open(s) < 0)
        return -1;
    bind_str(q, 1, source, 4096);
    bind_str(q, 2, kind, 8);
    bind_str(q, 3, sha256, 65);
    bind_str(q, 4, MAILTAP_VERSION, sizeof MAILTAP_VERSION);
    bind_str(q, 5, now, sizeof now);
    bind_str(q, 6, probe, 65);
    if (step_write(s, q, "insert capture") < 0)
        return -1;
    if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    return tx_commit(s);
}

/* Records the SHA-256 once known (stdin input). */
int store_capture_set_sha256(store_t *s, int64_t id, const char *sha256)
{
    sqlite3_stmt *q = stmt(s, ST_CAP_SHA);

    if (!q || tx_open(s) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, id);
    bind_str(q, 2, sha256, 65);
    if (step_write(s, q, "set capture sha256") < 0)
        return -1;
    row_done(s);
    return batch_check(s, 0);
}

/* 1 when the whole file must be hashed before analysis (see store.h). */
int store_capture_probe_needs_hash(store_t *s, const char *probe)
{
    sqlite3_stmt *q = stmt(s, ST_CAP_PROBE_NEED);
    int rc;

    if (!q)
        return -1;
    bind_str(q, 1, probe, 65);
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_err(s, "find capture by probe");
        done(q);
        return -1;
    }
    done(q);
    return rc == SQLITE_ROW;
}

/* An interrupted capture with this probe other than except (see store.h). */
int store_capture_probe_stale(store_t *s, const char *probe, int64_t except, int64_t *id)
{
    sqlite3_stmt *q = stmt(s, ST_CAP_PROBE_STALE);
    int rc;

    if (!q)
        return -1;
    if (!probe || !*probe)
        return 0;
    bind_str(q, 1, probe, 65);
    sqlite3_bind_int64(q, 2, except);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && id)
        *id = sqlite3_column_int64(q, 0);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_err(s, "find interrupted capture");
        done(q);
        return -1;
    }
    done(q);
    return rc == SQLITE_ROW;
}

/* Fills in counts and status and commits everything pending (sessions
 * still open are written first). */
int store_capture_finish(store_t *s, int64_t id, const struct store_capture_stats *st,
                         const char *status)
{
    sqlite3_stmt *q = stmt(s, ST_CAP_FINISH);
    struct store_capture_stats zero = { 0 };

    if (!q)
        return -1;
    if (!status || (strcmp(status, "complete") != 0 && strcmp(status, "interrupted") != 0)) {
        set_err(s, "capture status must be \"complete\" or \"interrupted\"");
        return -1;
    }
    if (!st)
        st = &zero;
    if (flush_pending(s) < 0 || tx_open(s) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, id);
    bind_u64(q, 2, st->packets);
    bind_u64(q, 3, st->bytes);
    bind_u64(q, 4, st->dropped);
    bind_u64(q, 5, st->ifdropped);
    bind_u64(q, 6, st->truncated);
    bind_u64(q, 7, st->undecodable);
    bind_opt_ts(q, 8, st->first_ts);
    bind_opt_ts(q, 9, st->last_ts);
    bind_str(q, 10, status, 16);
    bind_u64(q, 11, st->evicted);
    bind_u64(q, 12, st->evicted_bytes);
    if (step_write(s, q, "finish capture") < 0)
        return -1;
    return tx_commit(s);
}

/* ---- sessions, messages, findings ------------------------------------- */

/* Binds the endpoint columns at ?idx.. (client_ip, client_port, server_ip,
 * server_port, vlan). */
static void bind_endpoints(sqlite3_stmt *q, int idx, const struct store_endpoints *ep)
{
    BIND_FIELD(q, idx, ep->client_ip);
    sqlite3_bind_int(q, idx + 1, ep->client_port);
    BIND_FIELD(q, idx + 2, ep->server_ip);
    sqlite3_bind_int(q, idx + 3, ep->server_port);
    sqlite3_bind_int(q, idx + 4, ep->vlan);
}

/* The highest session id in the file is at least id. */
static void note_written(store_t *s, int64_t id)
{
    if (id > s->db_max_sid)
        s->db_max_sid = id;
}

/* ---- rows: messages, recipients, findings ------------------------------ */

/* A message as the row writer takes it (from a struct mt_message, or
 * decoded from a pending session's records). */
struct msg_view {
    uint32_t seq, rcpt_count;
    uint64_t size;
    double ts;
    int method, reply_code, content_exposed, complete, from_seen;
    struct sv mail_from, body_sha256, subject, message_id, from_hdr, date_hdr;
};

/* A finding as the row writer takes it. */
struct fnd_view {
    struct sv kind, evidence;
    int severity;
    double ts;
    uint32_t msg_seq;
};

static void msg_view_of(const struct mt_message *m, struct msg_view *v)
{
    v->seq = m->seq;
    v->rcpt_count = m->rcpt_count;
    v->size = m->size;
    v->ts = m->ts;
    v->method = (int)m->method;
    v->reply_code = m->reply_code;
    v->content_exposed = m->content_exposed;
    v->complete = m->complete;
    v->mail_from = SV_FIELD(m->mail_from);
    v->from_seen = m->mail_from_seen;
    v->body_sha256 = SV_FIELD(m->body_sha256);
    v->subject = SV_FIELD(m->subject);
    v->message_id = SV_FIELD(m->message_id);
    v->from_hdr = SV_FIELD(m->from_hdr);
    v->date_hdr = SV_FIELD(m->date_hdr);
}

static void fnd_view_of(const struct mt_finding *f, struct fnd_view *v)
{
    v->kind = f->kind && *f->kind ? sv_of(f->kind, 128) : sv_of("unknown", 8);
    v->evidence = SV_FIELD(f->evidence);
    v->severity = (int)f->severity;
    v->ts = f->ts;
    v->msg_seq = f->msg_seq;
}

/* Inserts a message row (redacted when a key is set); its id goes to
 * *mid.  Inside the open batch.  0 or -1. */
static int write_message_row(store_t *s, int64_t sid, const struct msg_view *m, int64_t *mid)
{
    sqlite3_stmt *q = stmt(s, ST_MSG);
    char fbuf[REDACT_BUF], sbuf[REDACT_BUF], hbuf[REDACT_BUF];
    struct sv from, subj, fhdr;

    if (!q)
        return -1;
    if (redact_addr(s, m->mail_from, fbuf, &from) < 0 ||
        redact_text(s, m->subject, sbuf, &subj) < 0 ||
        redact_from_hdr(s, m->from_hdr, hbuf, &fhdr) < 0) {
        set_err(s, "redaction failed (HMAC)");
        return -1;
    }
    sqlite3_bind_int64(q, 1, sid);
    sqlite3_bind_int64(q, 2, m->seq);
    bind_str(q, 3, mt_method_name((enum mt_method)m->method), 8);
    if (from.n == 0 && m->from_seen)    /* MAIL FROM:<>, the null sender */
        sqlite3_bind_text(q, 4, "", 0, SQLITE_STATIC);
    else
        bind_sv(q, 4, from);            /* NULL: no MAIL FROM was seen */
    bind_u64(q, 5, m->rcpt_count);
    bind_u64(q, 6, m->size);
    bind_sv(q, 7, m->body_sha256);
    bind_sv(q, 8, subj);
    bind_sv(q, 9, m->message_id);
    bind_sv(q, 10, fhdr);
    bind_sv(q, 11, m->date_hdr);
    bind_opt_ts(q, 12, m->ts);
    bind_code(q, 13, m->reply_code);
    bind_bool(q, 14, m->content_exposed);
    bind_bool(q, 15, m->complete);
    if (step_write(s, q, "insert message") < 0)
        return -1;
    *mid = sqlite3_last_insert_rowid(s->db);
    row_done(s);
    s->lm_sid = sid;
    s->lm_seq = m->seq;
    s->lm_id = *mid;
    return 0;
}

/* Inserts a recipient row (address redacted when a key is set). */
static int write_rcpt_row(store_t *s, int64_t mid, struct sv address, struct sv domain, int code)
{
    sqlite3_stmt *r = stmt(s, ST_RCPT);
    char abuf[REDACT_BUF];
    struct sv addr;

    if (!r)
        return -1;
    if (redact_addr(s, address, abuf, &addr) < 0) {
        set_err(s, "redaction failed (HMAC)");
        return -1;
    }
    sqlite3_bind_int64(r, 1, mid);
    bind_sv(r, 2, addr);
    bind_sv(r, 3, domain);
    bind_code(r, 4, code);
    if (step_write(s, r, "insert recipient") < 0)
        return -1;
    row_done(s);
    return 0;
}

/* The id of message seq of session sid (the latest one with that number),
 * 0 when there is none.  0 or -1. */
static int message_id_of(store_t *s, int64_t sid, uint32_t seq, int64_t *mid)
{
    sqlite3_stmt *l;
    int rc;

    *mid = 0;
    if (seq == 0)
        return 0;
    if (s->lm_sid == sid && s->lm_seq == seq) {
        *mid = s->lm_id;
        return 0;
    }
    l = stmt(s, ST_MSG_LOOKUP);
    if (!l)
        return -1;
    sqlite3_bind_int64(l, 1, sid);
    sqlite3_bind_int64(l, 2, seq);
    rc = sqlite3_step(l);
    if (rc == SQLITE_ROW) {
        *mid = sqlite3_column_int64(l, 0);
    } else if (rc != SQLITE_DONE) {
        db_err(s, "look up message");
        done(l);
        return -1;
    }
    done(l);
    return 0;
}

/* Inserts a finding row, linked to its message when msg_seq != 0 and that
 * message was stored. */
static int write_finding_row(store_t *s, int64_t sid, const struct fnd_view *f)
{
    sqlite3_stmt *q = stmt(s, ST_FINDING);
    int64_t mid;

    if (!q || message_id_of(s, sid, f->msg_seq, &mid) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, sid);
    if (mid)
        sqlite3_bind_int64(q, 2, mid);
    else
        sqlite3_bind_null(q, 2);
    bind_sv(q, 3, f->kind);
    bind_str(q, 4, mt_severity_name((enum mt_severity)f->severity), 16);
    bind_opt_ts(q, 5, f->ts);
    bind_sv(q, 6, f->evidence);
    if (step_write(s, q, "insert finding") < 0)
        return -1;
    row_done(s);
    return 0;
}

/* Writes a message and its recipients straight to the batch. */
static int write_message(store_t *s, int64_t sid, const struct mt_message *m)
{
    struct msg_view v;
    int64_t mid;

    msg_view_of(m, &v);
    if (write_message_row(s, sid, &v, &mid) < 0)
        return -1;
    for (size_t i = 0; m->rcpts && i < m->n_rcpts; i++) {
        const struct mt_recipient *rc = &m->rcpts[i];
        if (write_rcpt_row(s, mid, SV_FIELD(rc->address), SV_FIELD(rc->domain),
                           rc->reply_code) < 0)
            return -1;
    }
    return 0;
}

/* ---- pending sessions ------------------------------------------------- */

/*
 * store_session_begin hands out the next id and keeps the session here;
 * store_message and store_finding append encoded records to it;
 * store_session_end writes its row with every column (one INSERT) and then
 * the records.  A session is written early ("materialized": a row with
 * complete = 0, then its records; later calls write directly and its end is
 * an UPDATE) when
 *   - its records would pass STORE_PENDING_SESSION_MAX bytes, or those of
 *     all pending sessions STORE_PENDING_MAX_BYTES;
 *   - the batch is committed and it holds the highest id handed out
 *     (guard_ids), so that the file's highest id covers every id handed
 *     out and another process's INSERT can never take one of them (SQLite
 *     gives a new row the highest rowid + 1);
 *   - store_flush, store_capture_finish or store_close is called.
 *
 * Records, in call order, native byte order (they never leave the
 * process); str = u16 length + bytes:
 *   'F' u8 severity, f64 ts, u32 msg_seq, str kind, str evidence
 *   'M' u32 seq, u32 rcpt_count, u64 size, f64 ts, i32 method,
 *       i32 reply_code, u8 content_exposed, u8 complete, u8 from_seen, str mail_from,
 *       str body_sha256, str subject, str message_id, str from_hdr,
 *       str date_hdr, u32 n, n x (str address, str domain, i32 reply_code)
 */

#define PEND_BUCKETS_MIN 256u
#define PEND_BUF_MIN 512u
#define ENC_STR_MAX 65535u

static size_t pend_slot(const store_t *s, int64_t id)
{
    return (size_t)((uint64_t)id & (s->npb - 1));   /* ids are consecutive */
}

static struct pend *pend_find(const store_t *s, int64_t id)
{
    struct pend *p;

    if (s->npend == 0)
        return NULL;
    for (p = s->pb[pend_slot(s, id)]; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

/* Adds p; the table doubles when it is as full as it is long (when that
 * allocation fails it just gets longer chains).  0, or -1 when there is no
 * table at all. */
static int pend_add(store_t *s, struct pend *p)
{
    size_t slot;

    if (s->npend >= s->npb) {
        size_t n = s->npb ? s->npb * 2 : PEND_BUCKETS_MIN;
        struct pend **nb = calloc(n, sizeof *nb);
        if (nb) {
            for (size_t i = 0; i < s->npb; i++) {
                struct pend *q = s->pb[i], *next;
                for (; q; q = next) {
                    next = q->next;
                    q->next = nb[(size_t)((uint64_t)q->id & (n - 1))];
                    nb[(size_t)((uint64_t)q->id & (n - 1))] = q;
                }
            }
            free(s->pb);
            s->pend_bytes += (n - s->npb) * sizeof *nb;
            s->pb = nb;
            s->npb = n;
        } else if (!s->pb) {
            return -1;
        }
    }
    slot = pend_slot(s, p->id);
    p->next = s->pb[slot];
    s->pb[slot] = p;
    s->npend++;
    s->pend_bytes += sizeof *p;
    return 0;
}

/* Takes p out of the table (it stays allocated). */
static void pend_unlink(store_t *s, struct pend *p)
{
    struct pend **pp = &s->pb[pend_slot(s, p->id)];

    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = p->next;
        s->npend--;
    }
    p->next = NULL;
}

/* Frees an unlinked p (its records may hold captured text: wiped). */
static void pend_release(store_t *s, struct pend *p)
{
    if (p->buf) {
        OPENSSL_cleanse(p->buf, p->len);
        free(p->buf);
    }
    s->pend_bytes -= sizeof *p + p->cap;
    free(p);
}

/* Frees every pending session and the table. */
static void pend_free_all(store_t *s)
{
    for (size_t i = 0; i < s->npb; i++) {
        while (s->pb[i]) {
            struct pend *p = s->pb[i];
            s->pb[i] = p->next;
            s->npend--;
            pend_release(s, p);
        }
    }
    free(s->pb);
    s->pb = NULL;
    s->npb = 0;
    s->npend = 0;
    s->pend_bytes = 0;
}

/* Forgets the pending sessions of a capture being deleted. */
static void pend_drop_capture(store_t *s, int64_t capture_id)
{
    for (size_t i = 0; i < s->npb; i++) {
        struct pend **pp = &s->pb[i];
        while (*pp) {
            struct pend *p = *pp;
            if (p->capture_id == capture_id) {
                *pp = p->next;
                s->npend--;
                pend_release(s, p);
            } else {
                pp = &p->next;
            }
        }
    }
}

/* Any pending session, the one with the highest id when highest is set;
 * NULL when there is none. */
static struct pend *pend_pick(const store_t *s, int highest)
{
    struct pend *best = NULL;

    for (size_t i = 0; i < s->npb; i++)
        for (struct pend *p = s->pb[i]; p; p = p->next) {
            if (!highest)
                return p;
            if (!best || p->id > best->id)
                best = p;
        }
    return best;
}

/* Makes room for need more bytes of records in p, within the limits.
 * 0, or -1 when the session must be written instead (limit, or no
 * memory). */
static int pend_room(store_t *s, struct pend *p, size_t need)
{
    size_t cap = p->cap;
    unsigned char *b;

    if (p->len + need > STORE_PENDING_SESSION_MAX)
        return -1;
    if (p->len + need <= cap)
        return 0;
    if (cap == 0)
        cap = PEND_BUF_MIN;
    while (cap < p->len + need)
        cap *= 2;
    if (s->pend_bytes + (cap - p->cap) > STORE_PENDING_MAX_BYTES)
        return -1;
    b = malloc(cap);
    if (!b)
        return -1;
    if (p->buf) {
        memcpy(b, p->buf, p->len);
        OPENSSL_cleanse(p->buf, p->len);
        free(p->buf);
    }
    s->pend_bytes += cap - p->cap;
    p->buf = b;
    p->cap = cap;
    return 0;
}

static size_t enc_sv_size(struct sv v)
{
    return 2 + (v.n > ENC_STR_MAX ? ENC_STR_MAX : v.n);
}

static unsigned char *put_bytes(unsigned char *w, const void *src, size_t n)
{
    if (n)
        memcpy(w, src, n);
    return w + n;
}

#define PUT(w, v) put_bytes((w), &(v), sizeof(v))

static unsigned char *put_sv(unsigned char *w, struct sv v)
{
    uint16_t n = (uint16_t)(v.n > ENC_STR_MAX ? ENC_STR_MAX : v.n);
    w = PUT(w, n);
    return put_bytes(w, v.p, n);
}

/* Reading records back. */
struct rd {
    const unsigned char *p, *end;
    int bad;
};

static void get_bytes(struct rd *r, void *dst, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p, n);
    r->p += n;
}

#define GET(r, v) get_bytes((r), &(v), sizeof(v))

static struct sv get_sv(struct rd *r)
{
    struct sv v = { "", 0 };
    uint16_t n;

    GET(r, n);
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return v;
    }
    v.p = (const char *)r->p;
    v.n = n;
    r->p += n;
    return v;
}

/* Appends message m to p.  0, or -1 when it does not fit (write p). */
static int enc_message(store_t *s, struct pend *p, const struct mt_message *m)
{
    struct msg_view v;
    size_t need, nr = m->rcpts ? m->n_rcpts : 0;
    uint32_t n32;
    int32_t i32;
    uint8_t u8;
    unsigned char *w;

    if (nr > UINT32_MAX)
        return -1;
    msg_view_of(m, &v);
    need = 1 + 4 + 4 + 8 + 8 + 4 + 4 + 1 + 1 + 1 + enc_sv_size(v.mail_from) +
           enc_sv_size(v.body_sha256) + enc_sv_size(v.subject) + enc_sv_size(v.message_id) +
           enc_sv_size(v.from_hdr) + enc_sv_size(v.date_hdr) + 4;
    for (size_t i = 0; i < nr; i++)
        need += enc_sv_size(SV_FIELD(m->rcpts[i].address)) +
                enc_sv_size(SV_FIELD(m->rcpts[i].domain)) + 4;
    if (pend_room(s, p, need) < 0)
        return -1;
    w = p->buf + p->len;
    u8 = 'M';
    w = PUT(w, u8);
    w = PUT(w, v.seq);
    w = PUT(w, v.rcpt_count);
    w = PUT(w, v.size);
    w = PUT(w, v.ts);
    i32 = v.method;
    w = PUT(w, i32);
    i32 = v.reply_code;
    w = PUT(w, i32);
    u8 = v.content_exposed != 0;
    w = PUT(w, u8);
    u8 = v.complete != 0;
    w = PUT(w, u8);
    u8 = v.from_seen != 0;
    w = PUT(w, u8);
    w = put_sv(w, v.mail_from);
    w = put_sv(w, v.body_sha256);
    w = put_sv(w, v.subject);
    w = put_sv(w, v.message_id);
    w = put_sv(w, v.from_hdr);
    w = put_sv(w, v.date_hdr);
    n32 = (uint32_t)nr;
    w = PUT(w, n32);
    for (size_t i = 0; i < nr; i++) {
        w = put_sv(w, SV_FIELD(m->rcpts[i].address));
        w = put_sv(w, SV_FIELD(m->rcpts[i].domain));
        i32 = m->rcpts[i].reply_code;
        w = PUT(w, i32);
    }
    p->len = (size_t)(w - p->buf);
    return 0;
}

/* Appends finding f to p.  0, or -1 when it does not fit (write p). */
static int enc_finding(store_t *s, struct pend *p, const struct mt_finding *f)
{
    struct fnd_view v;
    unsigned char *w;
    uint8_t u8;

    fnd_view_of(f, &v);
    if (pend_room(s, p, 1 + 1 + 8 + 4 + enc_sv_size(v.kind) + enc_sv_size(v.evidence)) < 0)
        return -1;
    w = p->buf + p->len;
    u8 = 'F';
    w = PUT(w, u8);
    u8 = (uint8_t)v.severity;
    w = PUT(w, u8);
    w = PUT(w, v.ts);
    w = PUT(w, v.msg_seq);
    w = put_sv(w, v.kind);
    w = put_sv(w, v.evidence);
    p->len = (size_t)(w - p->buf);
    return 0;
}

/* Writes the records of p as rows of session sid (whose row exists).
 * 0 or -1. */
static int replay(store_t *s, const struct pend *p, int64_t sid)
{
    struct rd r = { p->buf, p->buf + p->len, 0 };

    while (r.p < r.end && !r.bad) {
        uint8_t type;
        GET(&r, type);
        if (type == 'F') {
            struct fnd_view f;
            uint8_t sev;
            GET(&r, sev);
            f.severity = sev;
            GET(&r, f.ts);
            GET(&r, f.msg_seq);
            f.kind = get_sv(&r);
            f.evidence = get_sv(&r);
            if (r.bad)
                break;
            if (write_finding_row(s, sid, &f) < 0)
                return -1;
        } else if (type == 'M') {
            struct msg_view m;
            int32_t i32;
            uint8_t u8;
            uint32_t nr;
            int64_t mid;
            GET(&r, m.seq);
            GET(&r, m.rcpt_count);
            GET(&r, m.size);
            GET(&r, m.ts);
            GET(&r, i32);
            m.method = i32;
            GET(&r, i32);
            m.reply_code = i32;
            GET(&r, u8);
            m.content_exposed = u8;
            GET(&r, u8);
            m.complete = u8;
            GET(&r, u8);
            m.from_seen = u8;
            m.mail_from = get_sv(&r);
            m.body_sha256 = get_sv(&r);
            m.subject = get_sv(&r);
            m.message_id = get_sv(&r);
            m.from_hdr = get_sv(&r);
            m.date_hdr = get_sv(&r);
            GET(&r, nr);
            if (r.bad)
                break;
            if (write_message_row(s, sid, &m, &mid) < 0)
                return -1;
            for (uint32_t i = 0; i < nr; i++) {
                struct sv a = get_sv(&r), d = get_sv(&r);
                GET(&r, i32);
                if (r.bad)
                    break;
                if (write_rcpt_row(s, mid, a, d, i32) < 0)
                    return -1;
            }
        } else {
            r.bad = 1;
        }
    }
    if (r.bad) {
        set_err(s, "internal error: bad pending record of session %lld", (long long)sid);
        return -1;
    }
    return 0;
}

/* Writes p now: its row (complete = 0) and its records; p is freed either
 * way.  0 or -1. */
static int materialize(store_t *s, struct pend *p)
{
    sqlite3_stmt *q = stmt(s, ST_SES_BEGIN);
    int rc = -1;

    pend_unlink(s, p);
    if (q && tx_open(s) == 0) {
        sqlite3_bind_int64(q, 1, p->id);
        bind_endpoints(q, 2, &p->ep);
        sqlite3_bind_double(q, 7, p->start_ts);
        sqlite3_bind_int64(q, 45, p->capture_id);
        if (step_write(s, q, "insert session") == 0) {
            row_done(s);
            note_written(s, p->id);
            rc = replay(s, p, p->id);
        }
    }
    pend_release(s, p);
    return rc;
}

/* Before a commit: when an id handed out is above the highest in the file,
 * the pending session with the highest id is written.  0 or -1. */
static int guard_ids(store_t *s)
{
    struct pend *p;

    if (s->npend == 0 || s->next_sid - 1 <= s->db_max_sid)
        return 0;
    p = pend_find(s, s->next_sid - 1);
    if (!p)
        p = pend_pick(s, 1);
    if (!p || p->id <= s->db_max_sid)
        return 0;
    return materialize(s, p);
}

/* Writes every pending session.  0 or -1 (the rest stay pending). */
static int flush_pending(store_t *s)
{
    struct pend *p;

    while ((p = pend_pick(s, 0)) != NULL)
        if (materialize(s, p) < 0)
            return -1;
    return 0;
}

/* ---- sessions, messages, findings: the API ----------------------------- */

/* Hands out the session's id; the row is written at its end (or earlier,
 * see "pending sessions").  Returns the id or -1. */
int64_t store_session_begin(store_t *s, int64_t capture_id,
                            const struct store_endpoints *ep, double start_ts)
{
    struct pend *p;

    if (!ep) {
        set_err(s, "session without endpoints");
        return -1;
    }
    if (tx_open(s) < 0)
        return -1;
    p = calloc(1, sizeof *p);
    if (!p) {
        set_err(s, "out of memory");
        return -1;
    }
    p->id = s->next_sid;
    p->capture_id = capture_id;
    p->start_ts = start_ts;
    p->ep = *ep;
    if (pend_add(s, p) < 0) {
        free(p);
        set_err(s, "out of memory");
        return -1;
    }
    s->next_sid++;
    return p->id;
}

/* Inserts (or finds) the certificate ci, seen at packet time seen; its id
 * goes to *id.  Inside the open batch.  0 or -1. */
static int cert_upsert(store_t *s, const struct tls_cert_info *ci, double seen, int64_t *id)
{
    sqlite3_stmt *q = stmt(s, ST_CERT);
    int rc;

    if (!q)
        return -1;
    BIND_FIELD(q, 1, ci->sha256);
    BIND_FIELD(q, 2, ci->subject);
    BIND_FIELD(q, 3, ci->issuer);
    BIND_FIELD(q, 4, ci->sans);
    bind_opt_ts(q, 5, ci->not_before);
    bind_opt_ts(q, 6, ci->not_after);
    BIND_FIELD(q, 7, ci->key_type);
    if (ci->key_bits > 0)
        sqlite3_bind_int(q, 8, ci->key_bits);
    else
        sqlite3_bind_null(q, 8);
    BIND_FIELD(q, 9, ci->sig_alg);
    bind_bool(q, 10, ci->self_signed);
    bind_opt_ts(q, 11, seen);
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        db_err(s, "insert certificate");
        done(q);
        check_rolled_back(s);
        return -1;
    }
    *id = sqlite3_column_int64(q, 0);
    /* run RETURNING to completion so the statement finishes */
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE) {
        db_err(s, "insert certificate");
        done(q);
        check_rolled_back(s);
        return -1;
    }
    done(q);
    row_done(s);
    return 0;
}

/* Inserts (or finds) the certificates of a session's server chain; their
 * ids go to ids[] (0 for an entry without a SHA-256).  0 or -1. */
static int write_certs(store_t *s, const struct mt_session *ms, int64_t *ids, int *n)
{
    *n = 0;
    if (!ms->chain || ms->chain_len <= 0)
        return 0;
    *n = ms->chain_len < (int)TLS_CHAIN_MAX ? ms->chain_len : (int)TLS_CHAIN_MAX;
    for (int i = 0; i < *n; i++) {
        ids[i] = 0;
        if (ms->chain[i].sha256[0] == '\0')
            continue;
        if (tx_open(s) < 0 || cert_upsert(s, &ms->chain[i], ms->start_ts, &ids[i]) < 0)
            return -1;
    }
    return 0;
}

/* The session_chain rows (depth 0 = leaf) of a session.  0 or -1. */
static int write_chain(store_t *s, int64_t session_id, const int64_t *ids, int n)
{
    sqlite3_stmt *c = n > 0 ? stmt(s, ST_CHAIN) : NULL;

    if (n > 0 && !c)
        return -1;
    for (int i = 0; i < n; i++) {
        if (ids[i] == 0)
            continue;
        if (tx_open(s) < 0)
            return -1;
        sqlite3_bind_int64(c, 1, session_id);
        sqlite3_bind_int(c, 2, i);
        sqlite3_bind_int64(c, 3, ids[i]);
        if (step_write(s, c, "insert session chain") < 0)
            return -1;
        row_done(s);
    }
    return 0;
}

/* Binds every session column (numbering above stmt_sql); user is the
 * (redacted) auth_user, cert_id 0 for none. */
static void bind_session(sqlite3_stmt *q, int64_t id, const struct store_endpoints *ep,
                         const struct mt_session *ms, struct sv user, int64_t cert_id,
                         int64_t capture_id)
{
    sqlite3_bind_int64(q, 1, id);
    bind_endpoints(q, 2, ep);
    sqlite3_bind_double(q, 7, ms->start_ts);
    sqlite3_bind_double(q, 8, ms->end_ts);
    bind_str(q, 9, mt_end_reason_name(ms->end_reason), 16);
    bind_str(q, 10, mt_protection_name(ms->protection), 16);
    BIND_FIELD(q, 11, ms->confidence);
    bind_bool(q, 12, ms->starttls_offered);
    bind_bool(q, 13, ms->starttls_requested);
    bind_code(q, 14, ms->starttls_reply);
    BIND_FIELD(q, 15, ms->banner);
    BIND_FIELD(q, 16, ms->helo);
    BIND_FIELD(q, 17, ms->helo_verb);
    BIND_FIELD(q, 18, ms->ehlo_keywords);
    BIND_FIELD(q, 19, ms->auth_mechanism);
    bind_sv(q, 20, user);
    BIND_FIELD(q, 21, ms->auth_outcome);
    BIND_FIELD(q, 22, ms->tls_version);
    BIND_FIELD(q, 23, ms->tls_cipher);
    BIND_FIELD(q, 24, ms->tls_sni);
    BIND_FIELD(q, 25, ms->cert_sha256);
    BIND_FIELD(q, 26, ms->cert_subject);
    BIND_FIELD(q, 27, ms->cert_issuer);
    bind_opt_ts(q, 28, ms->cert_not_before);
    bind_opt_ts(q, 29, ms->cert_not_after);
    bind_bool(q, 30, ms->exposed_envelope);
    bind_bool(q, 31, ms->exposed_content);
    bind_bool(q, 32, ms->exposed_credentials);
    bind_u64(q, 33, ms->cleartext_messages);
    bind_u64(q, 34, ms->client_bytes);
    bind_u64(q, 35, ms->server_bytes);
    bind_u64(q, 36, ms->gap_bytes);
    bind_bool(q, 37, ms->syn_seen);
    bind_bool(q, 38, ms->one_sided);
    BIND_FIELD(q, 39, ms->tls_alpn);
    BIND_FIELD(q, 40, ms->ja3);
    BIND_FIELD(q, 41, ms->ja4);
    bind_bool(q, 42, ms->tls_handshake_complete);
    bind_bool(q, 43, ms->tls_resumed);
    /* the statements that have no ?44 / ?45 answer SQLITE_RANGE: ignored */
    if (cert_id > 0)
        sqlite3_bind_int64(q, 44, cert_id);
    else
        sqlite3_bind_null(q, 44);
    if (capture_id > 0)
        sqlite3_bind_int64(q, 45, capture_id);
}

/* Writes every column of the finished session (complete = 1), and its
 * server chain (certificates, session_chain): a pending session's row is
 * inserted, followed by its messages and findings; a session already
 * written is updated. */
int store_session_end(store_t *s, int64_t session_id,
                      const struct store_endpoints *ep, const struct mt_session *ms)
{
    char ubuf[REDACT_BUF];
    struct sv user;
    int64_t ids[TLS_CHAIN_MAX];
    int nids = 0, rc;
    struct pend *p;
    sqlite3_stmt *q;

    if (!ep || !ms) {
        set_err(s, "session end without endpoints or session");
        return -1;
    }
    if (redact_addr(s, SV_FIELD(ms->auth_user), ubuf, &user) < 0) {
        set_err(s, "redaction failed (HMAC)");
        return -1;
    }
    if (tx_open(s) < 0 || write_certs(s, ms, ids, &nids) < 0)
        return batch_check(s, -1);
    p = pend_find(s, session_id);
    if (p) {
        q = stmt(s, ST_SES_INSERT);
        pend_unlink(s, p);
        rc = -1;
        if (q) {
            bind_session(q, session_id, ep, ms, user, nids > 0 ? ids[0] : 0, p->capture_id);
            if (step_write(s, q, "insert session") == 0) {
                row_done(s);
                note_written(s, session_id);
                rc = replay(s, p, session_id);
            }
        }
        pend_release(s, p);
    } else {
        q = stmt(s, ST_SES_END);
        if (!q)
            return -1;
        bind_session(q, session_id, ep, ms, user, 0, 0);
        if (step_write(s, q, "update session") < 0)
            return batch_check(s, -1);
        if (sqlite3_changes(s->db) == 0) {
            set_err(s, "update session: no session %lld", (long long)session_id);
            return batch_check(s, -1);
        }
        row_done(s);
        /* endpoints, start and leaf: only written when they changed */
        q = stmt(s, ST_SES_KEYS);
        if (!q)
            return -1;
        bind_session(q, session_id, ep, ms, user, nids > 0 ? ids[0] : 0, 0);
        rc = step_write(s, q, "update session");
    }
    if (rc == 0)
        rc = write_chain(s, session_id, ids, nids);
    return batch_check(s, rc);
}

/* Inserts a message with its recipients (redacted when a key is set); for
 * a pending session it is kept with it until its row is written. */
int store_message(store_t *s, int64_t session_id, const struct mt_message *m)
{
    struct pend *p;

    if (!m) {
        set_err(s, "no message");
        return -1;
    }
    p = pend_find(s, session_id);
    if (p) {
        if (enc_message(s, p, m) == 0)
            return 0;
        if (materialize(s, p) < 0)
            return batch_check(s, -1);
    }
    if (tx_open(s) < 0)
        return -1;
    return batch_check(s, write_message(s, session_id, m));
}

/* Inserts a finding, linked to the message (session_id, msg_seq) when
 * msg_seq != 0 and that message was stored; for a pending session it is
 * kept with it until its row is written. */
int store_finding(store_t *s, int64_t session_id, const struct mt_finding *f)
{
    struct fnd_view v;
    struct pend *p;

    if (!f) {
        set_err(s, "no finding");
        return -1;
    }
    p = pend_find(s, session_id);
    if (p) {
        if (enc_finding(s, p, f) == 0)
            return 0;
        if (materialize(s, p) < 0)
            return batch_check(s, -1);
    }
    if (tx_open(s) < 0)
        return -1;
    fnd_view_of(f, &v);
    return batch_check(s, write_finding_row(s, session_id, &v));
}

/* Writes the open sessions and commits the batch now. */
int store_flush(store_t *s)
{
    int rc = flush_pending(s);
    if (tx_commit(s) < 0)
        rc = -1;
    return rc;
}

int store_checkpoint(store_t *s)
{
    int rc;

    if (s == NULL || s->db == NULL || s->mode != STORE_RW)
        return 0;
    if (s->in_tx) {
        set_err(s, "checkpoint inside a transaction");
        return -1;
    }
    rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return 0;               /* a reader in the way: close does the rest */
    db_err(s, "checkpoint");
    return -1;
}

/* ---- cross-connection checks ------------------------------------------- */

/*
 * Sessions are stored when they end, so one that started a little before
 * the latest observation of its server is still current: the "older than
 * the baseline" rule (store.h) allows this much packet time (the idle
 * timeout by which capture/ ends a silent connection).
 */
#define X_ORDER_SLACK CAP_IDLE_TIMEOUT_DEFAULT

static const char K_RETRY[] = "plaintext_retry_after_tls_failure";
static const char K_RESET[] = "starttls_then_reset";
static const char K_GONE[] = "starttls_capability_disappeared";
static const char K_CERT[] = "cert_changed_vs_baseline";

/* Findings of a session that the checks look at (ST_X_KINDS). */
#define KF_MASKED   1u      /* starttls_token_masked       */
#define KF_FALLBACK 2u      /* ehlo_rejected_helo_fallback */
#define KF_HSFAIL   4u      /* tls_handshake_failed        */

#define X_MAX_FINDINGS 3

/* The findings of one crosscheck call, emitted once its statements are
 * done. */
struct xout {
    struct mt_finding f[X_MAX_FINDINGS];
    int n;
};

static struct mt_finding *xout_add(struct xout *o, const char *kind, enum mt_severity sev,
                                   double ts)
{
    struct mt_finding *f;

    if (o->n >= X_MAX_FINDINGS)
        return NULL;
    f = &o->f[o->n++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->severity = sev;
    f->ts = ts;
    return f;
}

/* Reads the KF_* kinds among the findings of session sid into *kinds.
 * 0 or -1. */
static int session_kinds(store_t *s, int64_t sid, unsigned *kinds)
{
    sqlite3_stmt *q = stmt(s, ST_X_KINDS);
    int rc;

    *kinds = 0;
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, sid);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(q, 0);
        if (!k)
            continue;
        if (strcmp(k, "starttls_token_masked") == 0)
            *kinds |= KF_MASKED;
        else if (strcmp(k, "ehlo_rejected_helo_fallback") == 0)
            *kinds |= KF_FALLBACK;
        else if (strcmp(k, "tls_handshake_failed") == 0)
            *kinds |= KF_HSFAIL;
    }
    done(q);
    if (rc != SQLITE_DONE)
        return db_err(s, "read findings");
    return 0;
}

/* Formats packet time t as "2026-11-28 10:00Z" ("unknown time" for 0). */
static void fmt_minute(double t, char *out, size_t outsz)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(out, outsz, "%Y-%m-%d %H:%MZ", &tm) == 0)
        snprintf(out, outsz, "unknown time");
}

/* Copies escaped text src (at most max bytes read) to out[outsz]: whole
 * when it has at most lim bytes, else cut (marked "...") to at most lim
 * bytes without splitting an escape ("\xNN", "\\") or a UTF-8 sequence. */
static void copy_cut(const char *src, size_t max, size_t lim, char *out, size_t outsz)
{
    size_t n = strnlen(src, max), i = 0;

    if (lim >= outsz)
        lim = outsz - 1;
    if (n <= lim) {
        memcpy(out, src, n);
        out[n] = '\0';
        return;
    }
    for (;;) {
        size_t k = 1;
        unsigned char c = (unsigned char)src[i];
        if (c == '\\')
            k = (i + 1 < n && src[i + 1] == 'x') ? 4 : 2;
        else if (c >= 0xf0)
            k = 4;
        else if (c >= 0xe0)
            k = 3;
        else if (c >= 0xc0)
            k = 2;
        if (i + k + 3 > lim)
            break;
        i += k;
    }
    memcpy(out, src, i);
    memcpy(out + i, "...", 4);
}

/* ---- retries after a failed STARTTLS ---- */

/* How a STARTTLS session that did not complete its handshake failed, as a
 * finding kind (K_RETRY, K_RESET, NULL for not a failure) and words for
 * the evidence.  A reset takes precedence over a handshake failure: the
 * connection was cut at the switch to TLS. */
static const char *classify_failure(int reply, const char *end_reason, int hs_failed, char *why,
                                    size_t whysz)
{
    if (reply != 0 && reply != 220) {
        snprintf(why, whysz, "STARTTLS refused (%d)", reply);
        return K_RETRY;
    }
    if (end_reason && strcmp(end_reason, "rst") == 0) {
        snprintf(why, whysz, "%s, then a TCP reset",
                 reply == 220 ? "STARTTLS answered 220" : "STARTTLS unanswered");
        return K_RESET;
    }
    if (hs_failed) {
        snprintf(why, whysz, "a failed TLS handshake after STARTTLS");
        return K_RETRY;
    }
    return NULL;
}

/* Records that retry session rid was reported against failed session fid. */
static int put_pair(store_t *s, int64_t rid, int64_t fid, const char *kind)
{
    sqlite3_stmt *q = stmt(s, ST_X_PAIR);

    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, rid);
    sqlite3_bind_int64(q, 2, fid);
    bind_str(q, 3, kind, 64);
    if (step_write(s, q, "record retry") < 0)
        return -1;
    row_done(s);
    return 0;
}

/* 1 when retry session rid was already reported, 0 when not, -1 error. */
static int is_paired(store_t *s, int64_t rid)
{
    sqlite3_stmt *q = stmt(s, ST_X_PAIRED);
    int rc;

    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, rid);
    rc = sqlite3_step(q);
    done(q);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        return db_err(s, "read retries");
    return 0;
}

/* Binds the pair (client IP, server IP, server port) at ?1..?3. */
static void bind_pair(sqlite3_stmt *q, const struct store_endpoints *ep)
{
    BIND_FIELD(q, 1, ep->client_ip);
    BIND_FIELD(q, 2, ep->server_ip);
    sqlite3_bind_int(q, 3, ep->server_port);
}

/* This session is a cleartext retry: looks for the failed STARTTLS session
 * it followed (the latest in the window that counts).  0 or -1. */
static int retry_after(store_t *s, int64_t sid, const struct store_endpoints *ep,
                       const struct mt_session *ms, struct xout *o)
{
    sqlite3_stmt *q;
    const char *kind = NULL;
    char why[96] = "";
    int64_t fid = 0;
    double fstart = 0, fend = 0, delay;
    struct mt_finding *f;
    int rc;

    q = stmt(s, ST_X_FAILED_BEFORE);
    if (!q)
        return -1;
    bind_pair(q, ep);
    sqlite3_bind_double(q, 4, ms->start_ts - STORE_RETRY_WINDOW);
    sqlite3_bind_double(q, 5, ms->start_ts);
    sqlite3_bind_int64(q, 6, sid);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        kind = classify_failure(sqlite3_column_int(q, 4),
                                (const char *)sqlite3_column_text(q, 3),
                                sqlite3_column_int(q, 5), why, sizeof why);
        if (kind) {
            fid = sqlite3_column_int64(q, 0);
            fstart = sqlite3_column_double(q, 1);
            fend = sqlite3_column_double(q, 2);
            break;
        }
    }
    done(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_err(s, "read failed STARTTLS sessions");
    if (!kind)
        return 0;
    rc = is_paired(s, sid);     /* by the failed session, stored after it */
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    delay = fend > 0 && fend <= ms->start_ts ? ms->start_ts - fend : ms->start_ts - fstart;
    f = xout_add(o, kind, MT_SEV_HIGH, ms->start_ts);
    if (f)
        snprintf(f->evidence, sizeof f->evidence, "cleartext retry %.1f s after %s in session #%lld",
                 delay, why, (long long)fid);
    return put_pair(s, sid, fid, kind);
}

/* This session is a failed STARTTLS stored after its retry (capture order,
 * another file): looks for the first cleartext mail session in the window
 * not reported yet; the finding goes to this session.  0 or -1. */
static int retry_before(store_t *s, int64_t sid, const struct store_endpoints *ep,
                        const struct mt_session *ms, unsigned *kinds, int *kinds_read,
                        struct xout *o)
{
    sqlite3_stmt *q;
    const char *kind;
    char why[96];
    int64_t rid;
    double rstart, delay;
    struct mt_finding *f;
    int rc;

    if (!*kinds_read) {
        if (session_kinds(s, sid, kinds) < 0)
            return -1;
        *kinds_read = 1;
    }
    kind = classify_failure(ms->starttls_reply, mt_end_reason_name(ms->end_reason),
                            (*kinds & KF_HSFAIL) != 0, why, sizeof why);
    if (!kind)
        return 0;
    q = stmt(s, ST_X_CLEAR_AFTER);
    if (!q)
        return -1;
    bind_pair(q, ep);
    sqlite3_bind_double(q, 4, ms->start_ts);
    sqlite3_bind_double(q, 5, ms->start_ts + STORE_RETRY_WINDOW);
    sqlite3_bind_int64(q, 6, sid);
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        done(q);
        return rc == SQLITE_DONE ? 0 : db_err(s, "read cleartext sessions");
    }
    rid = sqlite3_column_int64(q, 0);
    rstart = sqlite3_column_double(q, 1);
    done(q);
    delay = ms->end_ts > 0 && ms->end_ts <= rstart ? rstart - ms->end_ts : rstart - ms->start_ts;
    f = xout_add(o, kind, MT_SEV_HIGH, rstart);
    if (f)
        snprintf(f->evidence, sizeof f->evidence,
                 "%s in this session; cleartext retry %.1f s later in session #%lld", why, delay,
                 (long long)rid);
    return put_pair(s, rid, sid, kind);
}

/* ---- server baselines ---- */

/* A server_baseline row (0 / "" for NULL). */
struct baseline {
    int64_t st_seen, no_st, streak, reported;
    double last_st_ts, last_seen_ts;
    char keywords[MT_STR_LONG];
    char cert[65], cert_issuer[MT_STR];
    int64_t cert_seen;
    double cert_last;
    char cand[65], cand_issuer[MT_STR];
    int64_t cand_seen;
    double cand_last;
};

/* The first word of the greeting, lower case (ASCII), "" when none. */
static void banner_host(const char *banner, size_t max, char *out, size_t outsz)
{
    size_t i = 0, n = 0;

    while (i < max && banner[i] == ' ')
        i++;
    while (i < max && banner[i] != '\0' && banner[i] != ' ' && n + 1 < outsz) {
        char c = banner[i++];
        out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
}

/* Reads the baseline of (server, port, host) into *b (zeroed when there is
 * none).  0 or -1. */
static int baseline_read(store_t *s, const struct store_endpoints *ep, const char *host,
                        struct baseline *b)
{
    sqlite3_stmt *q = stmt(s, ST_B_GET);
    int rc;

    memset(b, 0, sizeof *b);
    if (!q)
        return -1;
    BIND_FIELD(q, 1, ep->server_ip);
    sqlite3_bind_int(q, 2, ep->server_port);
    sqlite3_bind_text(q, 3, host, (int)strlen(host), SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        b->st_seen = sqlite3_column_int64(q, 0);
        b->no_st = sqlite3_column_int64(q, 1);
        b->streak = sqlite3_column_int64(q, 2);
        b->reported = sqlite3_column_int64(q, 3);
        b->last_st_ts = sqlite3_column_double(q, 4);
        b->last_seen_ts = sqlite3_column_double(q, 5);
        col_copy(q, 6, b->keywords, sizeof b->keywords);
        col_copy(q, 7, b->cert, sizeof b->cert);
        col_copy(q, 8, b->cert_issuer, sizeof b->cert_issuer);
        b->cert_seen = sqlite3_column_int64(q, 9);
        b->cert_last = sqlite3_column_double(q, 10);
        col_copy(q, 11, b->cand, sizeof b->cand);
        col_copy(q, 12, b->cand_issuer, sizeof b->cand_issuer);
        b->cand_seen = sqlite3_column_int64(q, 13);
        b->cand_last = sqlite3_column_double(q, 14);
    }
    done(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_err(s, "read server baseline");
    return 0;
}

/* Writes *b to the file.  0 or -1. */
static int baseline_write(store_t *s, const struct store_endpoints *ep, const char *host,
                        const struct baseline *b)
{
    sqlite3_stmt *q = stmt(s, ST_B_PUT);

    if (!q)
        return -1;
    BIND_FIELD(q, 1, ep->server_ip);
    sqlite3_bind_int(q, 2, ep->server_port);
    sqlite3_bind_text(q, 3, host, (int)strlen(host), SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, b->st_seen);
    sqlite3_bind_int64(q, 5, b->no_st);
    sqlite3_bind_int64(q, 6, b->streak);
    sqlite3_bind_int64(q, 7, b->reported);
    bind_opt_ts(q, 8, b->last_st_ts);
    bind_opt_ts(q, 9, b->last_seen_ts);
    BIND_FIELD(q, 10, b->keywords);
    BIND_FIELD(q, 11, b->cert);
    BIND_FIELD(q, 12, b->cert_issuer);
    sqlite3_bind_int64(q, 13, b->cert_seen);
    bind_opt_ts(q, 14, b->cert_last);
    BIND_FIELD(q, 15, b->cand);
    BIND_FIELD(q, 16, b->cand_issuer);
    sqlite3_bind_int64(q, 17, b->cand_seen);
    bind_opt_ts(q, 18, b->cand_last);
    if (step_write(s, q, "write server baseline") < 0)
        return -1;
    row_done(s);
    return 0;
}

/*
 * The baselines a batch reads are kept (struct bentry) and written back
 * once, when the batch is committed: a busy server's row is written once
 * per batch, not once per session.  At most BC_MAX at once (then all are
 * written back and dropped); dropped at the end of every batch.
 */
#define BC_SLOTS 512u                   /* power of 2, twice BC_MAX */
#define BC_MAX 256u

struct bentry {
    int dirty;
    struct store_endpoints ep;          /* server_ip, server_port used */
    char host[MT_STR];
    struct baseline b;
};

static size_t bc_hash(const struct store_endpoints *ep, const char *host)
{
    uint64_t h = 1469598103934665603ull;
    const char *parts[2] = { ep->server_ip, host };

    for (int k = 0; k < 2; k++) {
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    h = (h ^ ep->server_port) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29)) & (BC_SLOTS - 1);
}

static int bc_same(const struct bentry *e, const struct store_endpoints *ep, const char *host)
{
    return e->ep.server_port == ep->server_port &&
           strncmp(e->ep.server_ip, ep->server_ip, sizeof e->ep.server_ip) == 0 &&
           strcmp(e->host, host) == 0;
}

/* Forgets every cached baseline (changes not written back are lost). */
static void bc_drop(store_t *s)
{
    if (!s->bc)
        return;
    for (size_t i = 0; i < BC_SLOTS; i++)
        free(s->bc[i]);
    free(s->bc);
    s->bc = NULL;
    s->nbc = 0;
}

/* Writes the changed cached baselines.  0 or -1. */
static int bc_write_back(store_t *s)
{
    if (!s->bc)
        return 0;
    for (size_t i = 0; i < BC_SLOTS; i++) {
        struct bentry *e = s->bc[i];
        if (e && e->dirty) {
            if (baseline_write(s, &e->ep, e->host, &e->b) < 0)
                return -1;
            e->dirty = 0;
        }
    }
    return 0;
}

/* The cached baseline of (server, port, host), read from the file on first
 * use in the batch (zeroed when there is none).  NULL with the error set
 * on failure. */
static struct bentry *baseline_get(store_t *s, const struct store_endpoints *ep,
                                   const char *host)
{
    struct bentry *e;
    size_t i;

    if (!s->bc || s->nbc >= BC_MAX) {
        if (s->bc && bc_write_back(s) < 0)
            return NULL;
        bc_drop(s);
        s->bc = calloc(BC_SLOTS, sizeof *s->bc);
        if (!s->bc) {
            set_err(s, "out of memory");
            return NULL;
        }
    }
    for (i = bc_hash(ep, host); s->bc[i]; i = (i + 1) & (BC_SLOTS - 1))
        if (bc_same(s->bc[i], ep, host))
            return s->bc[i];
    e = calloc(1, sizeof *e);
    if (!e) {
        set_err(s, "out of memory");
        return NULL;
    }
    memcpy(e->ep.server_ip, ep->server_ip, sizeof e->ep.server_ip);
    e->ep.server_ip[sizeof e->ep.server_ip - 1] = '\0';
    e->ep.server_port = ep->server_port;
    snprintf(e->host, sizeof e->host, "%s", host);
    if (baseline_read(s, ep, host, &e->b) < 0) {
        free(e);
        return NULL;
    }
    s->bc[i] = e;
    s->nbc++;
    return e;
}

/* 1 when word w[0..n) is one of the space-separated words of list. */
static int has_word(const char *list, size_t max, const char *w, size_t n)
{
    size_t i = 0, len = strnlen(list, max);

    while (i < len) {
        size_t j = i;
        while (j < len && list[j] != ' ')
            j++;
        if (j - i == n && memcmp(list + i, w, n) == 0)
            return 1;
        i = j + 1;
    }
    return 0;
}

/* 1 when every word of a but STARTTLS is a word of b. */
static int words_within(const char *a, size_t amax, const char *b, size_t bmax)
{
    size_t i = 0, len = strnlen(a, amax);

    while (i < len) {
        size_t j = i;
        while (j < len && a[j] != ' ')
            j++;
        if (j > i && !(j - i == 8 && memcmp(a + i, "STARTTLS", 8) == 0) &&
            !has_word(b, bmax, a + i, j - i))
            return 0;
        i = j + 1;
    }
    return 1;
}

/* The EHLO reply of this session was seen in cleartext: keywords were
 * read, or an EHLO got a reply without any (the client went on to MAIL
 * over a capture without gaps), or EHLO was refused and HELO used (then
 * there are no keywords at all: STARTTLS is absent). */
static int ehlo_seen(const struct mt_session *ms, unsigned kinds)
{
    if (ms->ehlo_keywords[0])
        return 1;
    if (strcmp(ms->helo_verb, "EHLO") == 0)
        return ms->server_bytes > 0 && ms->gap_bytes == 0 && ms->exposed_envelope;
    return strcmp(ms->helo_verb, "HELO") == 0 && (kinds & KF_FALLBACK);
}

/* Updates the STARTTLS part of *b with this session's EHLO reply (at
 * packet time t); fills the finding when STARTTLS disappeared.  0 or -1. */
static int ehlo_update(store_t *s, int64_t sid, struct baseline *b, const struct mt_session *ms,
                       unsigned *kinds, int *kinds_read, struct xout *o)
{
    double t = ms->start_ts, seen_before = b->last_seen_ts;
    char when[24];
    const char *rest;
    struct mt_finding *f;
    int64_t streak;

    if (t > b->last_seen_ts)
        b->last_seen_ts = t;
    if (ms->starttls_offered) {
        b->st_seen++;
        if (b->last_st_ts == 0 || t >= b->last_st_ts) {
            b->last_st_ts = t;
            snprintf(b->keywords, sizeof b->keywords, "%.*s",
                     (int)strnlen(ms->ehlo_keywords, sizeof ms->ehlo_keywords), ms->ehlo_keywords);
            b->streak = 0;
            b->reported = 0;
        }
        return 0;
    }
    b->no_st++;
    if (b->st_seen < STORE_BASELINE_MIN_OBS || t <= b->last_st_ts)
        return 0;
    streak = ++b->streak;
    if (streak < STORE_DISAPPEAR_STREAK || b->reported || t + X_ORDER_SLACK < seen_before)
        return 0;
    b->reported = 1;
    if (!*kinds_read) {
        if (session_kinds(s, sid, kinds) < 0)
            return -1;
        *kinds_read = 1;
    }
    if (*kinds & KF_FALLBACK)
        rest = "EHLO refused, HELO used";
    else if (*kinds & KF_MASKED)
        rest = "the keyword is masked";
    else if (words_within(ms->ehlo_keywords, sizeof ms->ehlo_keywords, b->keywords,
                          sizeof b->keywords) &&
             words_within(b->keywords, sizeof b->keywords, ms->ehlo_keywords,
                          sizeof ms->ehlo_keywords))
        rest = "other keywords unchanged";
    else
        rest = "other keywords changed";
    fmt_minute(b->last_st_ts, when, sizeof when);
    f = xout_add(o, K_GONE, (*kinds & (KF_MASKED | KF_FALLBACK)) ? MT_SEV_CRITICAL : MT_SEV_HIGH,
                 t);
    if (f)
        snprintf(f->evidence, sizeof f->evidence,
                 "STARTTLS offered in %lld earlier sessions (last %s), absent now (%lld in a row);"
                 " %s", (long long)b->st_seen, when, (long long)streak, rest);
    return 0;
}

/* The organisation (O=) of an RFC 2253 name, empty when it has none. */
static struct sv dn_org(const char *dn, size_t max)
{
    size_t n = strnlen(dn, max), i = 0;
    struct sv none = { "", 0 };

    while (i < n) {
        size_t j = i;
        while (j < n && !(dn[j] == ',' && (j == 0 || dn[j - 1] != '\\')))
            j++;
        while (i < j && dn[i] == ' ')
            i++;
        if (j - i > 2 && dn[i] == 'O' && dn[i + 1] == '=') {
            struct sv v = { dn + i + 2, j - i - 2 };
            return v;
        }
        i = j + 1;
    }
    return none;
}

/* 1 when issuers a and b are of different issuers: their organisations
 * differ when both name one, else the whole names; an unknown (empty)
 * issuer differs from nothing. */
static int issuer_differs(const char *a, size_t amax, const char *b, size_t bmax)
{
    struct sv oa = dn_org(a, amax), ob = dn_org(b, bmax);
    size_t na = strnlen(a, amax), nb = strnlen(b, bmax);

    if (na == 0 || nb == 0)
        return 0;
    if (oa.n && ob.n)
        return !(oa.n == ob.n && strncasecmp(oa.p, ob.p, oa.n) == 0);
    return !(na == nb && strncasecmp(a, b, na) == 0);
}

/* Updates the certificate part of *b with this session's leaf; fills the
 * finding when it changed to another issuer's. */
static void cert_update(struct baseline *b, const struct store_endpoints *ep,
                        const struct mt_session *ms, struct xout *o)
{
    double t = ms->start_ts;
    int is_cand;

    if (!b->cert[0] || strcmp(b->cert, ms->cert_sha256) == 0) {
        if (!b->cert[0]) {
            snprintf(b->cert, sizeof b->cert, "%s", ms->cert_sha256);
            snprintf(b->cert_issuer, sizeof b->cert_issuer, "%.*s",
                     (int)strnlen(ms->cert_issuer, sizeof ms->cert_issuer), ms->cert_issuer);
        }
        b->cert_seen++;
        if (t > b->cert_last)
            b->cert_last = t;
        return;
    }
    is_cand = b->cand[0] && strcmp(b->cand, ms->cert_sha256) == 0;
    if (b->cert_seen >= STORE_BASELINE_MIN_OBS && !is_cand && t + X_ORDER_SLACK >= b->cert_last &&
        issuer_differs(ms->cert_issuer, sizeof ms->cert_issuer, b->cert_issuer,
                       sizeof b->cert_issuer)) {
        int sub = ep->server_port == 587 || ep->server_port == 465 || ms->auth_mechanism[0];
        struct mt_finding *f = xout_add(o, K_CERT, sub ? MT_SEV_HIGH : MT_SEV_MEDIUM, t);
        char now_iss[52], base_iss[52], when[24];

        copy_cut(ms->cert_issuer, sizeof ms->cert_issuer, sizeof now_iss - 1, now_iss,
                 sizeof now_iss);
        copy_cut(b->cert_issuer, sizeof b->cert_issuer, sizeof base_iss - 1, base_iss,
                 sizeof base_iss);
        fmt_minute(b->cert_last, when, sizeof when);
        if (f)
            snprintf(f->evidence, sizeof f->evidence,
                     "leaf %.12s... issued by \"%s\", baseline %.12s... issued by \"%s\""
                     " (%lld sessions, last %s)", ms->cert_sha256, now_iss, b->cert, base_iss,
                     (long long)b->cert_seen, when);
    }
    if (is_cand) {
        b->cand_seen++;
        if (t > b->cand_last)
            b->cand_last = t;
    } else {
        snprintf(b->cand, sizeof b->cand, "%s", ms->cert_sha256);
        snprintf(b->cand_issuer, sizeof b->cand_issuer, "%.*s",
                 (int)strnlen(ms->cert_issuer, sizeof ms->cert_issuer), ms->cert_issuer);
        b->cand_seen = 1;
        b->cand_last = t;
    }
    if (b->cand_seen >= STORE_BASELINE_MIN_OBS && b->cand_last >= b->cert_last) {
        /* seen often enough, and more recently: the new baseline */
        memcpy(b->cert, b->cand, sizeof b->cert);
        memcpy(b->cert_issuer, b->cand_issuer, sizeof b->cert_issuer);
        b->cert_seen = b->cand_seen;
        b->cert_last = b->cand_last;
        b->cand[0] = '\0';
        b->cand_issuer[0] = '\0';
        b->cand_seen = 0;
        b->cand_last = 0;
    }
}

/* Cross-connection checks of a stored session (contract in store.h). */
int store_crosscheck(store_t *s, int64_t session_id, const struct store_endpoints *ep,
                     const struct mt_session *ms,
                     void (*emit)(void *arg, const struct mt_finding *f), void *arg)
{
    struct xout o;
    unsigned kinds = 0;
    int kinds_read = 0, rc = 0, leaf;
    char host[MT_STR];

    if (!ep || !ms || !emit) {
        set_err(s, "crosscheck without endpoints, session or callback");
        return -1;
    }
    if (pend_find(s, session_id)) {
        set_err(s, "crosscheck: session %lld is not stored yet", (long long)session_id);
        return -1;
    }
    if (tx_open(s) < 0)
        return -1;
    o.n = 0;

    if (!ms->starttls_requested && (ms->exposed_envelope || ms->exposed_content))
        rc = retry_after(s, session_id, ep, ms, &o);
    else if (ms->starttls_requested && !ms->tls_handshake_complete)
        rc = retry_before(s, session_id, ep, ms, &kinds, &kinds_read, &o);

    /* what the server showed: its EHLO reply, its leaf certificate */
    leaf = ms->cert_sha256[0] != '\0';
    if (rc == 0 && !kinds_read && !ms->ehlo_keywords[0] && strcmp(ms->helo_verb, "HELO") == 0) {
        rc = session_kinds(s, session_id, &kinds);
        kinds_read = 1;
    }
    if (rc == 0 && (leaf || ehlo_seen(ms, kinds))) {
        struct bentry *e;
        banner_host(ms->banner, sizeof ms->banner, host, sizeof host);
        e = baseline_get(s, ep, host);
        if (!e)
            rc = -1;
        if (rc == 0 && ehlo_seen(ms, kinds))
            rc = ehlo_update(s, session_id, &e->b, ms, &kinds, &kinds_read, &o);
        if (rc == 0 && leaf)
            cert_update(&e->b, ep, ms, &o);
        if (rc == 0)
            e->dirty = 1;
    }
    rc = batch_check(s, rc);
    if (rc < 0)
        return -1;
    for (int i = 0; i < o.n; i++)
        emit(arg, &o.f[i]);
    return o.n;
}

/* Last error text of s (valid until the next call). */
const char *store_errmsg(const store_t *s)
{
    return s ? s->err : "no store";
}

/* The SQLite handle, for reports/ (read-only use). */
struct sqlite3 *store_db(store_t *s)
{
    return s ? s->db : NULL;
}

/* The SQLite library version string. */
const char *store_lib_version(void)
{
    return sqlite3_libversion();
}
