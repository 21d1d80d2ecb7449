/*
 * store.c — the SQLite database (SPEC §4): open/migrate, batched writes
 * through statements prepared once per store, optional redaction (SPEC §6).
 *
 * Every captured string is bound as a parameter with an explicit length and
 * SQLITE_TRANSIENT; no SQL text is ever built from data.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
};

#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])

/* ---- prepared statements ---------------------------------------------- */

enum stmt_id {
    ST_CAP_FIND,
    ST_CAP_DELETE,
    ST_CAP_BEGIN,
    ST_CAP_SHA,
    ST_CAP_FINISH,
    ST_SES_BEGIN,
    ST_SES_END,
    ST_MSG,
    ST_RCPT,
    ST_MSG_LOOKUP,
    ST_FINDING,
    ST_CERT,
    ST_CHAIN,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_CAP_FIND] =
        "SELECT id, status FROM captures WHERE sha256 = ?1 ORDER BY id DESC LIMIT 1",
    [ST_CAP_DELETE] =
        "DELETE FROM captures WHERE id = ?1",
    [ST_CAP_BEGIN] =
        "INSERT INTO captures (source, kind, sha256, status, mailtap_version, analysed_at)"
        " VALUES (?1, ?2, ?3, 'interrupted', ?4, ?5)",
    [ST_CAP_SHA] =
        "UPDATE captures SET sha256 = ?2 WHERE id = ?1",
    [ST_CAP_FINISH] =
        "UPDATE captures SET packets = ?2, bytes = ?3, dropped = ?4, ifdropped = ?5,"
        " truncated = ?6, undecodable = ?7, first_ts = ?8, last_ts = ?9, status = ?10"
        " WHERE id = ?1",
    [ST_SES_BEGIN] =
        "INSERT INTO sessions (capture_id, client_ip, client_port, server_ip, server_port,"
        " vlan, start_ts, complete) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
    [ST_SES_END] =
        "UPDATE sessions SET client_ip = ?2, client_port = ?3, server_ip = ?4,"
        " server_port = ?5, vlan = ?6, start_ts = ?7, end_ts = ?8, end_reason = ?9,"
        " protection = ?10, confidence = ?11, starttls_offered = ?12,"
        " starttls_requested = ?13, starttls_reply = ?14, banner = ?15, helo = ?16,"
        " helo_verb = ?17, ehlo_keywords = ?18, auth_mechanism = ?19, auth_user = ?20,"
        " auth_outcome = ?21, tls_version = ?22, tls_cipher = ?23, tls_sni = ?24,"
        " cert_sha256 = ?25, cert_subject = ?26, cert_issuer = ?27,"
        " cert_not_before = ?28, cert_not_after = ?29, exposed_envelope = ?30,"
        " exposed_content = ?31, exposed_credentials = ?32, cleartext_messages = ?33,"
        " client_bytes = ?34, server_bytes = ?35, gap_bytes = ?36, syn_seen = ?37,"
        " one_sided = ?38, tls_alpn = ?39, ja3 = ?40, ja4 = ?41,"
        " tls_handshake_complete = ?42, tls_resumed = ?43, cert_id = ?44,"
        " complete = 1 WHERE id = ?1",
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
};

/* ---- the handle ------------------------------------------------------- */

#define TAG_HEX 12                      /* hex digits of the HMAC kept    */
#define TAG_LEN (2 + TAG_HEX)           /* "h:" + digits                  */
#define REDACT_BUF (MT_STR_LONG + TAG_LEN + 1)

struct store {
    sqlite3 *db;
    enum store_mode mode;
    sqlite3_stmt *st[ST_COUNT];         /* prepared on first use           */
    int in_tx;                          /* a batch transaction is open     */
    unsigned rows;                      /* rows written in the open batch  */
    uint8_t *key;                       /* redaction key, NULL = off       */
    size_t key_len;
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
 * string outlives the call in SQLite's copy). */
static void done(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* ---- binding helpers -------------------------------------------------- */

/* Binds a string of at most max bytes (stops at the first NUL); an empty
 * string becomes NULL. */
static int bind_str(sqlite3_stmt *q, int idx, const char *p, size_t max)
{
    size_t n = p ? strnlen(p, max) : 0;
    if (n == 0)
        return sqlite3_bind_null(q, idx);
    if (n > INT_MAX)
        n = INT_MAX;
    return sqlite3_bind_text(q, idx, p, (int)n, SQLITE_TRANSIENT);
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

/* ---- transactions ----------------------------------------------------- */

/* Runs one fixed statement (never built from data).  0 or -1. */
static int exec_fixed(store_t *s, const char *sql, const char *what)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_err(s, what);
    return 0;
}

/* Opens the batch transaction if none is open.  0 or -1. */
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
    return 0;
}

/* Commits the batch transaction if one is open.  On failure (disk full)
 * the batch is rolled back so the database stays as of the last commit;
 * returns -1 with the error set. */
static int tx_commit(store_t *s)
{
    if (!s->in_tx)
        return 0;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_err(s, "commit");
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_tx = 0;
        s->rows = 0;
        return -1;
    }
    s->in_tx = 0;
    s->rows = 0;
    return 0;
}

/* Counts one written row; commits when the batch is full.  0 or -1. */
static int row_done(store_t *s)
{
    if (++s->rows >= STORE_BATCH_ROWS)
        return tx_commit(s);
    return 0;
}

/* Steps a write statement to completion and resets it.  0 or -1. */
static int step_write(store_t *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    if (rc != SQLITE_DONE) {
        db_err(s, what);
        done(q);
        /* A failed statement may have ended the transaction (SQLITE_FULL,
         * SQLITE_IOERR roll back on their own). */
        if (s->in_tx && sqlite3_get_autocommit(s->db)) {
            s->in_tx = 0;
            s->rows = 0;
        }
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
 * Redacts an address-like value p (at most max bytes, NUL-ended or not):
 * the part before the last '@' becomes a tag, "@domain" is kept; without
 * '@' the whole value is tagged; an empty local part is left alone.  The
 * result goes to out (REDACT_BUF bytes, NUL-terminated).  Returns the text
 * to bind: p itself when there is nothing to redact, out otherwise, NULL
 * on failure.
 */
static const char *redact_addr(store_t *s, const char *p, size_t max, char *out)
{
    size_t n = p ? strnlen(p, max) : 0;
    const char *at;
    size_t local;

    if (!s->key || n == 0)
        return p;
    at = memrchr(p, '@', n);
    local = at ? (size_t)(at - p) : n;
    if (local == 0)
        return p;
    if (make_tag(s, p, local, out) < 0)
        return NULL;
    if (n - local > REDACT_BUF - TAG_LEN - 1)
        n = local + (REDACT_BUF - TAG_LEN - 1);
    memcpy(out + TAG_LEN, p + local, n - local);
    out[TAG_LEN + (n - local)] = '\0';
    return out;
}

/* Redacts a free-text value (subject): the whole value becomes a tag. */
static const char *redact_text(store_t *s, const char *p, size_t max, char *out)
{
    size_t n = p ? strnlen(p, max) : 0;

    if (!s->key || n == 0)
        return p;
    if (make_tag(s, p, n, out) < 0)
        return NULL;
    out[TAG_LEN] = '\0';
    return out;
}

/* Redacts a From: header ("Alice <alice@example.org>"): the whole value is
 * tagged and "@domain" of the address in it kept ("h:...@example.org"). */
static const char *redact_from_hdr(store_t *s, const char *p, size_t max, char *out)
{
    size_t n = p ? strnlen(p, max) : 0;
    const char *at, *end;
    size_t dlen = 0;

    if (!s->key || n == 0)
        return p;
    if (make_tag(s, p, n, out) < 0)
        return NULL;
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
    out[TAG_LEN + dlen] = '\0';
    return out;
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

/* Frees everything of s except the error text; NULL-safe for its parts. */
static void store_release(store_t *s)
{
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
    int flags = s->mode == STORE_RO ? SQLITE_OPEN_READONLY
                                    : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    char *uri = NULL;
    int rc;

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

/* Deletes a capture; ON DELETE CASCADE removes its sessions, messages,
 * recipients and findings.  Committed at once. */
int store_capture_delete(store_t *s, int64_t id)
{
    sqlite3_stmt *q = stmt(s, ST_CAP_DELETE);

    if (!q || tx_open(s) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, id);
    if (step_write(s, q, "delete capture") < 0)
        return -1;
    return tx_commit(s);
}

/* Inserts the capture row as 'interrupted' and commits it at once. */
int store_capture_begin(store_t *s, const char *source, const char *kind,
                        const char *sha256, int64_t *id)
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
    return row_done(s);
}

/* Fills in counts and status and commits everything pending. */
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
    if (tx_open(s) < 0)
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

/* Inserts a session row (complete = 0); returns its id or -1. */
int64_t store_session_begin(store_t *s, int64_t capture_id,
                            const struct store_endpoints *ep, double start_ts)
{
    sqlite3_stmt *q = stmt(s, ST_SES_BEGIN);
    int64_t id;

    if (!q)
        return -1;
    if (!ep) {
        set_err(s, "session without endpoints");
        return -1;
    }
    if (tx_open(s) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, capture_id);
    bind_endpoints(q, 2, ep);
    sqlite3_bind_double(q, 7, start_ts);
    if (step_write(s, q, "insert session") < 0)
        return -1;
    id = sqlite3_last_insert_rowid(s->db);
    if (row_done(s) < 0)
        return -1;
    return id;
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
        if (s->in_tx && sqlite3_get_autocommit(s->db)) {
            s->in_tx = 0;
            s->rows = 0;
        }
        return -1;
    }
    *id = sqlite3_column_int64(q, 0);
    /* run RETURNING to completion so the statement finishes */
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE) {
        db_err(s, "insert certificate");
        done(q);
        return -1;
    }
    done(q);
    return row_done(s);
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
        if (step_write(s, c, "insert session chain") < 0 || row_done(s) < 0)
            return -1;
    }
    return 0;
}

/* Writes every column of the finished session (complete = 1), and its
 * server chain (certificates, session_chain). */
int store_session_end(store_t *s, int64_t session_id,
                      const struct store_endpoints *ep, const struct mt_session *ms)
{
    sqlite3_stmt *q = stmt(s, ST_SES_END);
    char ubuf[REDACT_BUF];
    const char *user;
    int64_t ids[TLS_CHAIN_MAX];
    int nids = 0;

    if (!q)
        return -1;
    if (!ep || !ms) {
        set_err(s, "session end without endpoints or session");
        return -1;
    }
    user = redact_addr(s, ms->auth_user, sizeof ms->auth_user, ubuf);
    if (!user) {
        set_err(s, "redaction failed (HMAC)");
        return -1;
    }
    if (write_certs(s, ms, ids, &nids) < 0)
        return -1;
    if (tx_open(s) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, session_id);
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
    bind_str(q, 20, user, user == ubuf ? sizeof ubuf : sizeof ms->auth_user);
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
    if (nids > 0 && ids[0] > 0)
        sqlite3_bind_int64(q, 44, ids[0]);
    else
        sqlite3_bind_null(q, 44);
    if (step_write(s, q, "update session") < 0)
        return -1;
    if (sqlite3_changes(s->db) == 0) {
        set_err(s, "update session: no session %lld", (long long)session_id);
        return -1;
    }
    if (row_done(s) < 0)
        return -1;
    return write_chain(s, session_id, ids, nids);
}

/* Inserts a message and its recipients (redacted when a key is set). */
int store_message(store_t *s, int64_t session_id, const struct mt_message *m)
{
    sqlite3_stmt *q = stmt(s, ST_MSG), *r = stmt(s, ST_RCPT);
    char fbuf[REDACT_BUF], sbuf[REDACT_BUF], hbuf[REDACT_BUF], abuf[REDACT_BUF];
    const char *from, *subj, *fhdr;
    int64_t mid;

    if (!q || !r)
        return -1;
    if (!m) {
        set_err(s, "no message");
        return -1;
    }
    from = redact_addr(s, m->mail_from, sizeof m->mail_from, fbuf);
    subj = redact_text(s, m->subject, sizeof m->subject, sbuf);
    fhdr = redact_from_hdr(s, m->from_hdr, sizeof m->from_hdr, hbuf);
    if (!from || !subj || !fhdr) {
        set_err(s, "redaction failed (HMAC)");
        return -1;
    }
    if (tx_open(s) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, session_id);
    sqlite3_bind_int64(q, 2, m->seq);
    bind_str(q, 3, mt_method_name(m->method), 8);
    bind_str(q, 4, from, sizeof fbuf);
    bind_u64(q, 5, m->rcpt_count);
    bind_u64(q, 6, m->size);
    BIND_FIELD(q, 7, m->body_sha256);
    bind_str(q, 8, subj, sizeof sbuf);
    BIND_FIELD(q, 9, m->message_id);
    bind_str(q, 10, fhdr, sizeof hbuf);
    BIND_FIELD(q, 11, m->date_hdr);
    bind_opt_ts(q, 12, m->ts);
    bind_code(q, 13, m->reply_code);
    bind_bool(q, 14, m->content_exposed);
    bind_bool(q, 15, m->complete);
    if (step_write(s, q, "insert message") < 0)
        return -1;
    mid = sqlite3_last_insert_rowid(s->db);
    if (row_done(s) < 0)
        return -1;
    for (size_t i = 0; m->rcpts && i < m->n_rcpts; i++) {
        const struct mt_recipient *rc = &m->rcpts[i];
        const char *addr = redact_addr(s, rc->address, sizeof rc->address, abuf);
        if (!addr) {
            set_err(s, "redaction failed (HMAC)");
            return -1;
        }
        if (tx_open(s) < 0)
            return -1;
        sqlite3_bind_int64(r, 1, mid);
        bind_str(r, 2, addr, sizeof abuf);
        BIND_FIELD(r, 3, rc->domain);
        bind_code(r, 4, rc->reply_code);
        if (step_write(s, r, "insert recipient") < 0 || row_done(s) < 0)
            return -1;
    }
    return 0;
}

/* Inserts a finding, linked to the message (session_id, msg_seq) when
 * msg_seq != 0 and that message was stored. */
int store_finding(store_t *s, int64_t session_id, const struct mt_finding *f)
{
    sqlite3_stmt *q = stmt(s, ST_FINDING), *l;
    const char *kind;
    int64_t mid = 0;

    if (!q)
        return -1;
    if (!f) {
        set_err(s, "no finding");
        return -1;
    }
    kind = f->kind && *f->kind ? f->kind : "unknown";
    if (tx_open(s) < 0)
        return -1;
    if (f->msg_seq != 0) {
        l = stmt(s, ST_MSG_LOOKUP);
        if (!l)
            return -1;
        sqlite3_bind_int64(l, 1, session_id);
        sqlite3_bind_int64(l, 2, f->msg_seq);
        int rc = sqlite3_step(l);
        if (rc == SQLITE_ROW)
            mid = sqlite3_column_int64(l, 0);
        else if (rc != SQLITE_DONE) {
            db_err(s, "look up message");
            done(l);
            return -1;
        }
        done(l);
    }
    sqlite3_bind_int64(q, 1, session_id);
    if (mid)
        sqlite3_bind_int64(q, 2, mid);
    else
        sqlite3_bind_null(q, 2);
    bind_str(q, 3, kind, 128);
    bind_str(q, 4, mt_severity_name(f->severity), 16);
    bind_opt_ts(q, 5, f->ts);
    BIND_FIELD(q, 6, f->evidence);
    if (step_write(s, q, "insert finding") < 0)
        return -1;
    return row_done(s);
}

/* Commits the open batch now. */
int store_flush(store_t *s)
{
    return tx_commit(s);
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
