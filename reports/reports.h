/*
 * reports.h — everything mailtap prints from the database alone.
 * Every captured string printed goes through the escaping of its format
 * (text: control characters escaped; json: JSON string escaping; csv:
 * quoting plus formula neutralisation; html: HTML escaping).
 */
#ifndef MAILTAP_REPORTS_H
#define MAILTAP_REPORTS_H

#include <stdio.h>
#include "store/store.h"

enum rep_format { REP_TEXT = 0, REP_JSON, REP_CSV, REP_HTML };

/* Filters shared by the listing commands and the report. */
struct rep_filter {
    const char *kind;           /* findings --kind, NULL = all               */
    int min_severity;           /* -1 = all, else enum mt_severity           */
    const char *protection;     /* sessions --protection, NULL = all         */
    double since, until;        /* packet time, 0 = unbounded                */
    const char *const *org_nets;/* CIDR strings, may be NULL                 */
    size_t n_org_nets;
};

/* The tables of the CSV report (rep_report_csv_table, rep_report_csv_dir). */
#define REP_CSV_TABLES "overview, servers, clients, recipient_domains, messages, " \
                       "credential_exposures, findings, timeline, captures"

/* `mailtap sessions`: one line (text) or one JSON object per line. */
int rep_sessions(store_t *st, enum rep_format fmt, const struct rep_filter *f, FILE *out,
                 char *errbuf, size_t errsz);
/* `mailtap findings`: one line or one JSON object per finding. */
int rep_findings(store_t *st, enum rep_format fmt, const struct rep_filter *f, FILE *out,
                 char *errbuf, size_t errsz);
/* `mailtap report`: the audit.  Returns 0, or -1 with errbuf. */
int rep_report(store_t *st, enum rep_format fmt, const struct rep_filter *f, FILE *out,
               char *errbuf, size_t errsz);

/* `mailtap report --format csv --table NAME`: only table (one of
 * REP_CSV_TABLES) as a plain CSV file: its header row, then its rows (no
 * "section" column).  0, or -1 with errbuf (unknown table included). */
int rep_report_csv_table(store_t *st, const struct rep_filter *f, const char *table, FILE *out,
                         char *errbuf, size_t errsz);

/* `mailtap report --format csv` into directory dir (created if missing):
 * one plain CSV file per table, dir/NAME.csv for every name of
 * REP_CSV_TABLES, all from the same read snapshot.  0, or -1 with errbuf. */
int rep_report_csv_dir(store_t *st, const struct rep_filter *f, const char *dir, char *errbuf,
                       size_t errsz);

/* `mailtap report -d A -d B ...`: one report over several databases (a
 * site with several sensors).  Opens each path read-only like store_open
 * (same refusals: newer or older schema, no such database) and copies its
 * captures, sessions, messages, recipients, findings, certificates and
 * session_chain into a new in-memory store, ids shifted so that they never
 * collide (certificates shared by SHA-256).  Returns that store (pass it to
 * rep_report & co., close with store_close), or NULL with errbuf
 * ("PATH: reason"). */
store_t *rep_merge_open(const char *const *paths, size_t n, char *errbuf, size_t errsz);

#endif
