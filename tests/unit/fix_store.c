/*
 * fix_store.c — fixtures shared by the store/ and reports/ unit tests
 * (fix_store.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/fix_store.h"

char tmpdir[256];

int tmpdir_make(const char *base, const char *name)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/%s_XXXXXX", base && *base ? base : "/tmp", name);
    return mkdtemp(tmpdir) ? 0 : -1;
}

int tmpdir_remove(void)
{
    char cmd[300];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

const char *tpath(const char *name)
{
    static char buf[4][400];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

long long q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    long long v = -999;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "q_int: %s: %s\n", sql, sqlite3_errmsg(db));
        return -999;
    }
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

void q_text(sqlite3 *db, const char *sql, char *out, size_t outsz)
{
    sqlite3_stmt *q;

    snprintf(out, outsz, "<error>");
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "q_text: %s: %s\n", sql, sqlite3_errmsg(db));
        return;
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(q, 0);
        snprintf(out, outsz, "%s", t ? (const char *)t : "<null>");
    }
    sqlite3_finalize(q);
}

store_t *open_rw(const char *name)
{
    char err[STORE_ERRBUF_SIZE];
    store_t *s = store_open(tpath(name), STORE_RW, err);

    if (!s)
        fprintf(stderr, "store_open: %s\n", err);
    return s;
}

void fill_endpoints(struct store_endpoints *ep, const char *c, uint16_t cp, const char *sv,
                    uint16_t sp)
{
    memset(ep, 0, sizeof *ep);
    snprintf(ep->client_ip, sizeof ep->client_ip, "%s", c);
    ep->client_port = cp;
    snprintf(ep->server_ip, sizeof ep->server_ip, "%s", sv);
    ep->server_port = sp;
}
