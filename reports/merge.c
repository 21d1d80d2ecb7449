/*
 * merge.c — one report over several databases (a site with more than one
 * sensor): rep_merge_open copies the tables the reports read into a fresh
 * in-memory store, shifting ids so that rows of different files never
 * collide.
 *
 * Each source is opened with store_open(path, STORE_RO), exactly as a
 * single-database report opens it (a newer or older schema is refused with
 * the usual message, a file in a directory the user cannot write falls back
 * to an immutable open), and its rows are read there and inserted into the
 * memory database.  ATTACH is not used on purpose: it would open the source
 * read-write through the memory store's handle, so that closing it could
 * checkpoint (write) a sensor's WAL file, and it would fail where the
 * read-only fallback succeeds.
 *
 * Ids: captures, sessions, messages and findings get the highest id of the
 * merged table so far added to their own id and to every reference to them.
 * Certificates are shared by SHA-256 (first_seen/last_seen widened), and
 * sessions.cert_id / session_chain.cert_id are looked up by that SHA-256.
 * Column lists are those of the merged (current) schema; every one must
 * exist in the source.  Nothing of the source is spliced into SQL: the
 * column names come from the memory database's own schema, values are bound.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "reports/reports.h"

#define MERGE_SQL_MAX 16384
#define MERGE_COLS_MAX 128

/* How one column is read from the source and written to the merged DB. */
struct col_rule {
    const char *col;
    int skip;           /* not copied (the merged DB assigns it)                  */
    const char *src;    /* source expression, NULL = the column + off             */
    const char *dst;    /* placeholder expression in VALUES, NULL = "?"           */
    int64_t off;
};

static void merr(char *errbuf, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void merr(char *errbuf, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    if (!errbuf || errsz == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errsz, fmt, ap);
    va_end(ap);
}

/* Appends to buf (capacity MERGE_SQL_MAX).  0, or -1 when it does not fit. */
static int sql_add(char *buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int sql_add(char *buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, MERGE_SQL_MAX - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= MERGE_SQL_MAX - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

/* Column names of table in db (malloc'd strings into names, at most
 * MERGE_COLS_MAX).  Returns their count (0 = no such table) or -1. */
static int table_cols(sqlite3 *db, const char *table, char **names)
{
    sqlite3_stmt *q = NULL;
    int n = 0, rc;

    /* table is one of ours (a literal below), never data */
    if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?)", -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(q, 0);
        if (!c || n >= MERGE_COLS_MAX || !(names[n] = strdup(c))) {
            rc = SQLITE_ERROR;
            break;
        }
        n++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        while (n > 0)
            free(names[--n]);
        return -1;
    }
    return n;
}

static void free_cols(char **names, int n)
{
    while (n > 0)
        free(names[--n]);
}

/* max(id) of table in db, 0 when empty; -1 on error. */
static int64_t max_id(sqlite3 *db, const char *table)
{
    char sql[128];
    sqlite3_stmt *q = NULL;
    int64_t v = -1;

    snprintf(sql, sizeof sql, "SELECT ifnull(max(id), 0) FROM %s", table);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/*
 * Copies every row of table from src into dst following rules (other
 * columns are copied as they are).  optional: a table absent from the
 * source is skipped instead of refused.  tail is appended to the INSERT
 * (an upsert clause) or NULL.  0, or -1 with errbuf.
 */
static int copy_table(sqlite3 *dst, sqlite3 *src, const char *path, const char *table,
                      const struct col_rule *rules, size_t nrules, int optional,
                      const char *tail, char *errbuf, size_t errsz)
{
    char *dcols[MERGE_COLS_MAX], *scols[MERGE_COLS_MAX];
    int nd, ns, ret = -1, rc, nsel = 0;
    char *sel = NULL, *ins = NULL;
    size_t sl = 0, il = 0, vl = 0;
    char vals[MERGE_SQL_MAX];
    sqlite3_stmt *qs = NULL, *qi = NULL;

    nd = table_cols(dst, table, dcols);
    if (nd < 0) {
        merr(errbuf, errsz, "merged database: cannot read columns of %s", table);
        return -1;
    }
    if (nd == 0)
        return 0;               /* not in this schema: nothing to copy */
    ns = table_cols(src, table, scols);
    if (ns < 0) {
        merr(errbuf, errsz, "%s: cannot read columns of %s", path, table);
        free_cols(dcols, nd);
        return -1;
    }
    if (ns == 0) {
        free_cols(dcols, nd);
        if (optional)
            return 0;
        merr(errbuf, errsz, "%s: no table %s (run mailtap analyze once on it to migrate)",
             path, table);
        return -1;
    }
    sel = malloc(MERGE_SQL_MAX);
    ins = malloc(MERGE_SQL_MAX);
    if (!sel || !ins) {
        merr(errbuf, errsz, "out of memory");
        goto out;
    }
    sel[0] = ins[0] = vals[0] = '\0';
    if (sql_add(sel, &sl, "SELECT ") < 0 ||
        sql_add(ins, &il, "INSERT INTO main.%s (", table) < 0)
        goto toolong;
    for (int i = 0; i < nd; i++) {
        const struct col_rule *r = NULL;
        const char *sep = nsel ? ", " : "";
        int found = 0;
        for (size_t k = 0; k < nrules; k++)
            if (strcmp(rules[k].col, dcols[i]) == 0)
                r = &rules[k];
        if (r && r->skip)
            continue;
        for (int k = 0; k < ns; k++)
            if (strcmp(scols[k], dcols[i]) == 0)
                found = 1;
        if (!found) {
            merr(errbuf, errsz, "%s: table %s has no column %s "
                 "(run mailtap analyze once on it to migrate)", path, table, dcols[i]);
            goto out;
        }
        /* dcols[i] comes from the memory database's own schema (ours) */
        if (sql_add(sel, &sl, "%s", sep) < 0 ||
            (!r ? sql_add(sel, &sl, "t.\"%s\"", dcols[i])
             : r->src ? sql_add(sel, &sl, "%s", r->src)
             : sql_add(sel, &sl, "t.\"%s\" + %lld", dcols[i], (long long)r->off)) < 0 ||
            sql_add(ins, &il, "%s\"%s\"", sep, dcols[i]) < 0 ||
            sql_add(vals, &vl, "%s%s", sep, r && r->dst ? r->dst : "?") < 0)
            goto toolong;
        nsel++;
    }
    if (sql_add(sel, &sl, " FROM main.%s AS t", table) < 0 ||
        sql_add(ins, &il, ") VALUES (%s)%s%s", vals, tail ? " " : "", tail ? tail : "") < 0)
        goto toolong;
    if (sqlite3_prepare_v2(src, sel, -1, &qs, NULL) != SQLITE_OK) {
        merr(errbuf, errsz, "%s: read %s: %s", path, table, sqlite3_errmsg(src));
        goto out;
    }
    if (sqlite3_prepare_v2(dst, ins, -1, &qi, NULL) != SQLITE_OK) {
        merr(errbuf, errsz, "merged database: %s: %s", table, sqlite3_errmsg(dst));
        goto out;
    }
    while ((rc = sqlite3_step(qs)) == SQLITE_ROW) {
        for (int k = 0; k < nsel; k++)
            sqlite3_bind_value(qi, k + 1, sqlite3_column_value(qs, k));
        if (sqlite3_step(qi) != SQLITE_DONE) {
            merr(errbuf, errsz, "%s: copy %s: %s", path, table, sqlite3_errmsg(dst));
            goto out;
        }
        sqlite3_reset(qi);
        sqlite3_clear_bindings(qi);
    }
    if (rc != SQLITE_DONE) {
        merr(errbuf, errsz, "%s: read %s: %s", path, table, sqlite3_errmsg(src));
        goto out;
    }
    ret = 0;
    goto out;
toolong:
    merr(errbuf, errsz, "merged database: statement for %s too long", table);
out:
    sqlite3_finalize(qs);
    sqlite3_finalize(qi);
    free(sel);
    free(ins);
    free_cols(dcols, nd);
    free_cols(scols, ns);
    return ret;
}

/* The leaf/chain certificate: its SHA-256 in the source, its id here. */
#define CERT_SRC "(SELECT c.sha256 FROM main.certificates AS c WHERE c.id = t.cert_id)"
#define CERT_DST "(SELECT id FROM main.certificates WHERE sha256 = ?)"

/* Copies one source (open read-only) into dst.  0, or -1 with errbuf. */
static int merge_one(sqlite3 *dst, sqlite3 *src, const char *path, char *errbuf, size_t errsz)
{
    int64_t oc = max_id(dst, "captures"), os = max_id(dst, "sessions");
    int64_t om = max_id(dst, "messages"), of = max_id(dst, "findings");
    const struct col_rule r_cap[] = { { "id", 0, NULL, NULL, oc } };
    const struct col_rule r_cert[] = { { "id", 1, NULL, NULL, 0 } };
    const struct col_rule r_sess[] = {
        { "id", 0, NULL, NULL, os },
        { "capture_id", 0, NULL, NULL, oc },
        { "cert_id", 0, CERT_SRC, CERT_DST, 0 },
    };
    const struct col_rule r_msg[] = {
        { "id", 0, NULL, NULL, om },
        { "session_id", 0, NULL, NULL, os },
    };
    const struct col_rule r_rcpt[] = { { "message_id", 0, NULL, NULL, om } };
    const struct col_rule r_find[] = {
        { "id", 0, NULL, NULL, of },
        { "session_id", 0, NULL, NULL, os },
        { "message_id", 0, NULL, NULL, om },
    };
    const struct col_rule r_chain[] = {
        { "session_id", 0, NULL, NULL, os },
        { "cert_id", 0, CERT_SRC, CERT_DST, 0 },
    };
    int rc = -1;

    if (oc < 0 || os < 0 || om < 0 || of < 0) {
        merr(errbuf, errsz, "merged database: %s", sqlite3_errmsg(dst));
        return -1;
    }
    /* one read snapshot of the source, one write transaction here */
    if (sqlite3_exec(src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        merr(errbuf, errsz, "%s: %s", path, sqlite3_errmsg(src));
        return -1;
    }
    if (sqlite3_exec(dst, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        merr(errbuf, errsz, "merged database: %s", sqlite3_errmsg(dst));
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
#define N(a) (sizeof (a) / sizeof (a)[0])
    if (copy_table(dst, src, path, "captures", r_cap, N(r_cap), 0, NULL, errbuf, errsz) == 0 &&
        copy_table(dst, src, path, "certificates", r_cert, N(r_cert), 1,
                   "ON CONFLICT (sha256) DO UPDATE SET "
                   "first_seen = min(ifnull(first_seen, excluded.first_seen), "
                   "ifnull(excluded.first_seen, first_seen)), "
                   "last_seen = max(ifnull(last_seen, excluded.last_seen), "
                   "ifnull(excluded.last_seen, last_seen))",
                   errbuf, errsz) == 0 &&
        copy_table(dst, src, path, "sessions", r_sess, N(r_sess), 0, NULL, errbuf, errsz) == 0 &&
        copy_table(dst, src, path, "messages", r_msg, N(r_msg), 0, NULL, errbuf, errsz) == 0 &&
        copy_table(dst, src, path, "recipients", r_rcpt, N(r_rcpt), 0, NULL, errbuf, errsz) == 0 &&
        copy_table(dst, src, path, "findings", r_find, N(r_find), 0, NULL, errbuf, errsz) == 0 &&
        copy_table(dst, src, path, "session_chain", r_chain, N(r_chain), 1, NULL, errbuf,
                   errsz) == 0)
        rc = 0;
#undef N
    if (rc == 0 && sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        merr(errbuf, errsz, "merged database: %s", sqlite3_errmsg(dst));
        rc = -1;
    }
    if (rc < 0 && !sqlite3_get_autocommit(dst))
        sqlite3_exec(dst, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* Contract in reports.h. */
store_t *rep_merge_open(const char *const *paths, size_t n, char *errbuf, size_t errsz)
{
    char e[STORE_ERRBUF_SIZE] = "";
    store_t *m;

    if (errbuf && errsz)
        errbuf[0] = '\0';
    if (!paths || n == 0) {
        merr(errbuf, errsz, "no database given");
        return NULL;
    }
    m = store_open(":memory:", STORE_RW, e);
    if (!m) {
        merr(errbuf, errsz, "merged database: %s", e);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        store_t *s = store_open(paths[i], STORE_RO, e);
        int rc;
        if (!s) {
            merr(errbuf, errsz, "%s: %s", paths[i], e);
            store_close(m, e);
            return NULL;
        }
        rc = merge_one(store_db(m), store_db(s), paths[i], errbuf, errsz);
        store_close(s, e);
        if (rc < 0) {
            store_close(m, e);
            return NULL;
        }
    }
    return m;
}
