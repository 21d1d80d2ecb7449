/*
 * csv_tables.c — drives the CSV table API of reports/ until the command
 * line offers it (tests/report/run.sh builds it against the libraries).
 *
 *   csv_tables DB DIR          rep_report_csv_dir: DIR/NAME.csv per table
 *   csv_tables DB - TABLE      rep_report_csv_table: one table to stdout
 *
 * Exit 0, or 1 with "csv_tables: <error>" on stderr.
 */
#include <stdio.h>
#include <string.h>

#include "reports/reports.h"

int main(int argc, char **argv)
{
    char err[STORE_ERRBUF_SIZE] = "", rerr[512] = "";
    struct rep_filter f;
    store_t *st;
    int rc;

    if (argc < 3 || (strcmp(argv[2], "-") == 0 && argc < 4)) {
        fputs("usage: csv_tables DB DIR | csv_tables DB - TABLE\n", stderr);
        return 2;
    }
    memset(&f, 0, sizeof f);
    f.min_severity = -1;
    st = store_open(argv[1], STORE_RO, err);
    if (!st) {
        fprintf(stderr, "csv_tables: %s: %s\n", argv[1], err);
        return 1;
    }
    if (strcmp(argv[2], "-") == 0)
        rc = rep_report_csv_table(st, &f, argv[3], stdout, rerr, sizeof rerr);
    else
        rc = rep_report_csv_dir(st, &f, argv[2], rerr, sizeof rerr);
    if (rc != 0)
        fprintf(stderr, "csv_tables: %s\n", rerr);
    store_close(st, err);
    return rc != 0;
}
