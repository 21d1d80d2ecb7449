/*
 * main.c — the mailtap command line (SPEC §2).  The only file that knows all
 * four layers: it parses options, wires capture/ → dissect/ → store/ with
 * callbacks, and hands the database to reports/.
 *
 * Exit status: 0 success, 1 runtime failure, 2 usage error.  Errors are one
 * line on stderr: "mailtap: <what>: <why>".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <ndpi_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config.h"
#include "capture/capture.h"
#include "dissect/dissect.h"
#include "store/store.h"
#include "reports/reports.h"
#include "events.h"

#define EXIT_USAGE 2
#define REDACT_KEY_MAX 4096

static const uint16_t default_ports[] = { 25, 465, 587 };

/* --ca-file: trust anchors for certificate checks (NULL = system store).
 * Points into argv, so it outlives every session. */
static const char *g_ca_file;

/* --max-flows: connections followed at once (0 = CAP_MAX_FLOWS_DEFAULT). */
static size_t g_max_flows;

/* Parses --max-flows; returns 0 or -1. */
static int parse_max_flows(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v < 64 || v > 4000000)
        return -1;
    g_max_flows = v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

static void err_line(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "mailtap: WHAT: WHY" on stderr. */
static void err_line(const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mailtap: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* capture/ puts the interface or file name in front of most of its messages. */
static const char *without_prefix(const char *msg, const char *iface)
{
    size_t n = strlen(iface);
    if (strncmp(msg, iface, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

static int usage_error(const char *cmd, const char *msg)
{
    err_line(cmd, "%s (see 'mailtap %s --help')", msg, cmd);
    return EXIT_USAGE;
}

/* ------------------------------------------------------------------ */
/* signals                                                             */

static volatile sig_atomic_t g_stop;
static capture_t *volatile g_capture;

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_capture)
        capture_break(g_capture);
}

static void install_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void on_hup_signal(int sig)
{
    (void)sig;
    ev_request_reopen();
}

/* --events: SIGHUP reopens the file (log rotation); a reader of standard
 * output going away must not kill the run (the write error is reported). */
static void install_event_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_hup_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------------------------ */
/* the pipeline: capture → dissect → store                             */

struct run_totals {
    uint64_t sessions, by_prot[5], messages, cleartext_messages, findings;
    uint64_t by_sev[5], cred_sessions, skipped_empty, store_errors;
};

struct pipeline {
    store_t *st;
    int64_t capture_id;
    struct run_totals tot;
    int progress;               /* show a progress line on stderr */
    int all_ports;              /* --all-ports: keep only flows found to be SMTP */
    capture_t *cap;
    uint64_t file_size;
    struct timespec t0, last_progress;
    const char *source;
    ev_writer_t *ev;            /* --events, NULL when off */
    /* live capture: periodic commit and status line (live_tick) */
    int live, status;
    time_t last_tick;
    struct timespec last_flush;
    uint64_t flushed_packets;
};

struct flow_glue {
    struct pipeline *pl;
    dis_session_t *dis;
    struct cap_flow_info fi;
    int64_t sid;                /* 0 until the session row exists */
    int client_side;            /* as the dissector last told us */
};

static void fill_endpoints(const struct flow_glue *g, int client_side,
                           struct store_endpoints *ep)
{
    int c = client_side == 1 ? 1 : 0;
    memset(ep, 0, sizeof *ep);
    cap_addr_str(&g->fi.side[c], ep->client_ip, sizeof ep->client_ip);
    cap_addr_str(&g->fi.side[!c], ep->server_ip, sizeof ep->server_ip);
    ep->client_port = g->fi.side[c].port;
    ep->server_port = g->fi.side[!c].port;
    ep->vlan = g->fi.vlan;
}

/* A database write failed (disk full, read-only): say so once and stop
 * reading packets — nothing more could be stored. */
static void store_failed(struct pipeline *pl)
{
    if (pl->tot.store_errors++ == 0) {
        err_line("database", "%s", store_errmsg(pl->st));
        if (pl->cap)
            capture_break(pl->cap);
    }
}

/* Creates the session row on first need (lazily, so connections that never
 * carried a byte leave no row). */
static int ensure_session_row(struct flow_glue *g)
{
    if (g->sid > 0)
        return 0;
    struct store_endpoints ep;
    fill_endpoints(g, g->client_side, &ep);
    g->sid = store_session_begin(g->pl->st, g->pl->capture_id, &ep, g->fi.ts);
    if (g->sid <= 0) {
        g->sid = 0;
        store_failed(g->pl);
        return -1;
    }
    return 0;
}

/* With --all-ports every TCP flow is followed; only those the dissector
 * recognised as SMTP (or TLS where SMTP was expected) are stored. */
static int flow_unwanted(const struct flow_glue *g)
{
    return g->pl->all_ports && !dis_is_smtp(g->dis);
}

static void sink_message(void *arg, const struct mt_message *m)
{
    struct flow_glue *g = arg;
    if (flow_unwanted(g) || ensure_session_row(g) < 0)
        return;
    if (store_message(g->pl->st, g->sid, m) < 0)
        store_failed(g->pl);
    else
        ev_message(g->pl->ev, g->pl->capture_id, g->sid, m);
    g->pl->tot.messages++;
    if (m->content_exposed)
        g->pl->tot.cleartext_messages++;
}

static void sink_finding(void *arg, const struct mt_finding *f)
{
    struct flow_glue *g = arg;
    if (flow_unwanted(g) || ensure_session_row(g) < 0)
        return;
    if (store_finding(g->pl->st, g->sid, f) < 0)
        store_failed(g->pl);
    else
        ev_finding(g->pl->ev, g->pl->capture_id, g->sid, f);
    g->pl->tot.findings++;
    if ((unsigned)f->severity <= MT_SEV_CRITICAL)
        g->pl->tot.by_sev[f->severity]++;
}

static void sink_session(void *arg, const struct mt_session *s)
{
    struct flow_glue *g = arg;
    if (g->sid == 0 && (flow_unwanted(g) ||
                        (s->client_bytes == 0 && s->server_bytes == 0 && s->gap_bytes == 0))) {
        g->pl->tot.skipped_empty++;     /* SYN scan, no payload: not SMTP */
        return;
    }
    g->client_side = s->client_side;
    if (ensure_session_row(g) < 0)
        return;
    struct store_endpoints ep;
    fill_endpoints(g, s->client_side, &ep);
    if (store_session_end(g->pl->st, g->sid, &ep, s) < 0) {
        store_failed(g->pl);
    } else {
        ev_session(g->pl->ev, g->pl->capture_id, g->sid, &ep, s);
        /* what only the history of this server and client can show:
         * plaintext retries, STARTTLS disappearing, a new certificate */
        if (store_crosscheck(g->pl->st, g->sid, &ep, s, sink_finding, g) < 0)
            store_failed(g->pl);
    }
    g->pl->tot.sessions++;
    if ((unsigned)s->protection <= MT_PROT_IMPLICIT_TLS)
        g->pl->tot.by_prot[s->protection]++;
    if (s->exposed_credentials)
        g->pl->tot.cred_sessions++;
}

static const struct dis_sink glue_sink = { sink_message, sink_finding, sink_session };

static void progress(struct pipeline *pl, int final);
static void live_tick(struct pipeline *pl);

/* The dissector state (a few KiB) is made on the flow's first byte, gap or
 * event, so connections that never carry payload (SYN scans, floods) cost
 * only this small glue record. */
static dis_session_t *glue_dis(struct flow_glue *g)
{
    if (g->dis)
        return g->dis;
    struct dis_params p;
    memset(&p, 0, sizeof p);
    p.port[0] = g->fi.side[0].port;
    p.port[1] = g->fi.side[1].port;
    p.client_side = g->fi.client_side;
    p.syn_seen = g->fi.syn_seen;
    p.ts = g->fi.ts;
    p.ca_file = g_ca_file;
    g->dis = dis_session_new(&p, &glue_sink, g);
    if (!g->dis) {
        err_line("memory", "cannot follow a connection: out of memory");
        exit(1);
    }
    return g->dis;
}

static void *cb_flow_start(void *arg, const struct cap_flow_info *fi)
{
    struct pipeline *pl = arg;
    struct flow_glue *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->pl = pl;
    g->fi = *fi;
    g->client_side = fi->client_side >= 0 ? fi->client_side : 0;
    if (pl->live)
        live_tick(pl);
    return g;
}

/* Returns 0 to keep delivering, 1 when capture/ may stop this flow's bytes
 * (--all-ports and the dissector decided it is not SMTP). */
static int cb_data(void *arg, void *flow, int side, const uint8_t *p, size_t len, double ts)
{
    struct flow_glue *g = flow;
    struct pipeline *pl = arg;
    dis_data(glue_dis(g), side, p, len, ts);
    if (pl->live) {
        /* live: the session row exists from the first byte, so a long
         * connection is visible (complete = 0) while it lasts */
        if (g->sid == 0 && !flow_unwanted(g))
            ensure_session_row(g);
        live_tick(pl);
    } else {
        progress(pl, 0);
    }
    /* --all-ports: once the dissector knows this is not SMTP, the capture
     * layer stops reassembling it */
    return pl->all_ports && !dis_wants_bytes(g->dis);
}

static void cb_gap(void *arg, void *flow, int side, uint64_t len, double ts)
{
    (void)arg;
    struct flow_glue *g = flow;
    dis_gap(glue_dis(g), side, len, ts);
}

static void cb_event(void *arg, void *flow, int side, enum cap_event ev, double ts,
                     const char *detail)
{
    (void)arg;
    struct flow_glue *g = flow;
    enum dis_cap_event de = DIS_EV_MIDSTREAM;
    switch (ev) {
    case CAP_EV_OVERLAP_CONFLICT: de = DIS_EV_OVERLAP_CONFLICT; break;
    case CAP_EV_TRUNCATED:        de = DIS_EV_TRUNCATED; break;
    case CAP_EV_MIDSTREAM:        de = DIS_EV_MIDSTREAM; break;
    case CAP_EV_PROTOCOL:         de = DIS_EV_PROTOCOL; break;
    }
    dis_capture_event(glue_dis(g), side, de, ts, detail);
}

static void cb_flow_end(void *arg, void *flow, enum cap_end_reason r, double ts)
{
    struct pipeline *pl = arg;
    struct flow_glue *g = flow;
    enum mt_end_reason mr = MT_END_EOF;
    switch (r) {
    case CAP_END_FIN:     mr = MT_END_FIN; break;
    case CAP_END_RST:     mr = MT_END_RST; break;
    case CAP_END_TIMEOUT: mr = MT_END_TIMEOUT; break;
    case CAP_END_EOF:     mr = MT_END_EOF; break;
    case CAP_END_EVICTED: mr = MT_END_EVICTED; break;
    }
    if (g->dis) {               /* a flow that never carried a byte leaves no trace */
        dis_end(g->dis, mr, ts);
        dis_session_free(g->dis);
    }
    free(g);
    if (pl->live)
        live_tick(pl);
}

static void cb_tick(void *arg)
{
    struct pipeline *pl = arg;
    if (pl->live)
        live_tick(pl);
}

static const struct cap_callbacks glue_callbacks = {
    cb_flow_start, cb_data, cb_gap, cb_event, cb_flow_end, cb_tick
};

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
    return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

/* Progress line on stderr (only when it is a terminal and not -q), at most
 * a few times a second. */
static void progress(struct pipeline *pl, int final)
{
    if (!pl->progress || !pl->cap)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final && ts_diff(&now, &pl->last_progress) < 0.25)
        return;
    pl->last_progress = now;
    struct cap_stats cs;
    capture_stats(pl->cap, &cs);
    double el = ts_diff(&now, &pl->t0);
    double rate = el > 0 ? (double)cs.file_bytes / el / 1e6 : 0;
    if (pl->file_size)
        fprintf(stderr, "\r%s: %.1f of %.1f MB (%.0f%%), %.1f MB/s, %llu sessions   ",
                pl->source, (double)cs.file_bytes / 1e6, (double)pl->file_size / 1e6,
                100.0 * (double)cs.file_bytes / (double)pl->file_size, rate,
                (unsigned long long)pl->tot.sessions);
    else
        fprintf(stderr, "\r%s: %.1f MB, %.1f MB/s, %llu sessions   ", pl->source,
                (double)cs.file_bytes / 1e6, rate, (unsigned long long)pl->tot.sessions);
    if (final)
        fputc('\n', stderr);
}

static void stats_to_store(const struct cap_stats *cs, struct store_capture_stats *ss)
{
    memset(ss, 0, sizeof *ss);
    ss->packets = cs->packets;
    ss->bytes = cs->bytes;
    ss->dropped = cs->dropped;
    ss->ifdropped = cs->ifdropped;
    ss->truncated = cs->truncated;
    ss->undecodable = cs->undecodable;
    ss->first_ts = cs->first_ts;
    ss->last_ts = cs->last_ts;
    ss->evicted = cs->evicted;
    ss->evicted_bytes = cs->evicted_bytes;
}

static void print_summary(FILE *out, const char *source, const struct cap_stats *cs,
                          const struct run_totals *t)
{
    fprintf(out, "%s: %llu packets, %llu SMTP sessions", source,
            (unsigned long long)cs->packets, (unsigned long long)t->sessions);
    if (t->sessions) {
        static const enum mt_protection order[] = {
            MT_PROT_CLEARTEXT, MT_PROT_PARTIAL, MT_PROT_STARTTLS,
            MT_PROT_IMPLICIT_TLS, MT_PROT_INDETERMINATE };
        const char *sep = " (";
        for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
            if (!t->by_prot[order[i]])
                continue;
            fprintf(out, "%s%llu %s", sep, (unsigned long long)t->by_prot[order[i]],
                    mt_protection_name(order[i]));
            sep = ", ";
        }
        fputc(')', out);
    }
    fprintf(out, "; %llu messages in cleartext; %llu with credentials exposed; %llu findings",
            (unsigned long long)t->cleartext_messages, (unsigned long long)t->cred_sessions,
            (unsigned long long)t->findings);
    if (t->findings) {
        const char *sep = " (";
        for (int s = MT_SEV_CRITICAL; s >= MT_SEV_INFO; s--) {
            if (!t->by_sev[s])
                continue;
            fprintf(out, "%s%llu %s", sep, (unsigned long long)t->by_sev[s],
                    mt_severity_name((enum mt_severity)s));
            sep = ", ";
        }
        fputc(')', out);
    }
    if (cs->evicted)
        fprintf(out, "; %llu connections evicted (--max-flows): %llu later packets, %llu payload bytes not analysed",
                (unsigned long long)cs->evicted, (unsigned long long)cs->evicted_packets,
                (unsigned long long)cs->evicted_bytes);
    fputc('\n', out);
}

/* Lower-case hex of n bytes into out[2n+1]. */
static void to_hex(const unsigned char *p, unsigned n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/*
 * The probe of a regular file (store.h): SHA-256 of "mailtap-probe-1", the
 * size as 8 bytes little-endian, the first and the last STORE_PROBE_SPAN
 * bytes (overlapping in a small file).  Returns 1 with out[65] filled, 0
 * when path is not a regular file (a pipe: it can be read once only) or
 * shrank while the probe was read, -1 on error with why.
 */
static int file_probe(const char *path, char out[65], char *why, size_t whysz)
{
    static unsigned char buf[STORE_PROBE_SPAN];
    struct stat sb;
    int ret = -1;

    /* A named pipe or device is not opened here: opening a pipe waits for
     * its writer, and closing it leaves the writer without a reader until
     * the capture opens it (SIGPIPE). */
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(why, whysz, "%s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) != 0) {
        snprintf(why, whysz, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return 0;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        snprintf(why, whysz, "cannot initialise SHA-256");
        goto out;
    }
    unsigned char size_le[8];
    uint64_t size = (uint64_t)sb.st_size;
    for (unsigned i = 0; i < 8; i++)
        size_le[i] = (unsigned char)(size >> (8 * i));
    EVP_DigestUpdate(md, "mailtap-probe-1", 15);
    EVP_DigestUpdate(md, size_le, sizeof size_le);
    uint64_t at[2] = { 0, size > sizeof buf ? size - sizeof buf : 0 };
    for (unsigned k = 0; k < 2; k++) {
        size_t want = size - at[k] < sizeof buf ? (size_t)(size - at[k]) : sizeof buf, got = 0;
        while (got < want) {
            ssize_t n = pread(fd, buf + got, want - got, (off_t)(at[k] + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0) {               /* the file shrank meanwhile: no probe, */
                ret = 0;                /* analysed as it now is, like a pipe   */
                goto out;
            }
            if (n < 0) {
                snprintf(why, whysz, "%s", strerror(errno));
                goto out;
            }
            got += (size_t)n;
        }
        EVP_DigestUpdate(md, buf, want);
    }
    unsigned char dg[32];
    unsigned int dl = 0;
    if (EVP_DigestFinal_ex(md, dg, &dl) != 1 || dl != 32) {
        snprintf(why, whysz, "SHA-256 failed");
        goto out;
    }
    to_hex(dg, 32, out);
    ret = 1;
out:
    EVP_MD_CTX_free(md);
    close(fd);
    return ret;
}

/* Hashes a regular file with SHA-256 (hex into out[65]).  Returns 0 or -1. */
static int sha256_file(const char *path, char out[65], char *why, size_t whysz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whysz, "%s", strerror(errno));
        return -1;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        snprintf(why, whysz, "cannot initialise SHA-256");
        EVP_MD_CTX_free(md);
        fclose(f);
        return -1;
    }
    static unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(md, buf, n);
    int bad = ferror(f);
    fclose(f);
    unsigned char dg[32];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md, dg, &dl);
    EVP_MD_CTX_free(md);
    if (bad) {
        snprintf(why, whysz, "read error");
        return -1;
    }
    to_hex(dg, 32, out);
    return 0;
}

/* Reads the redaction key (whole file, at most REDACT_KEY_MAX bytes). */
static int load_key(const char *path, uint8_t *key, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_line(path, "cannot read redaction key: %s", strerror(errno));
        return -1;
    }
    *len = fread(key, 1, REDACT_KEY_MAX, f);
    fclose(f);
    if (*len < 16) {
        err_line(path, "redaction key too short (need at least 16 bytes)");
        return -1;
    }
    return 0;
}

struct analyze_opts {
    const char *db;
    int all_ports, quiet, force;
    const char *redact;
    const char *events;         /* --events FILE ("-" = stdout) */
    ev_writer_t *ev;
};

/* Analyses one input.  ph: its hashing thread if one was started ahead
 * (taken over; NULL to start one here).  Returns 0, 1 on failure, 3 when
 * interrupted. */
static int analyze_one(store_t *st, const char *path, const struct analyze_opts *o,
                       cap_prehash_t *ph)
{
    char sha[65] = "", probe[65] = "";
    char why[256];
    int is_stdin = strcmp(path, "-") == 0;
    const char *source = is_stdin ? "(stdin)" : path;

    /* The file is hashed from now on, while the database is asked about it. */
    if (ph == NULL && !is_stdin)
        ph = capture_prehash_start(path);

    /*
     * Duplicates (same SHA-256) in one pass over the data: a regular file
     * whose probe (size, head, tail) no complete capture shares cannot be
     * one, and is hashed while it is analysed; only a probe match (or a
     * database from before probes) costs a hashing pass first.  Pipes and
     * stdin are hashed while read and compared at the end.
     */
    if (!is_stdin) {
        int pr = file_probe(path, probe, why, sizeof why);
        if (pr < 0) {
            err_line(path, "%s", why);
            capture_prehash_free(ph);
            return 1;
        }
        int need = pr == 1 ? store_capture_probe_needs_hash(st, probe) : 0;
        if (need < 0) {
            err_line("database", "%s", store_errmsg(st));
            capture_prehash_free(ph);
            return 1;
        }
        if (need) {
            /* the digest decides before the run: the thread's, when it
             * hashed the file to its end, else a pass here */
            int hr = capture_prehash_digest(ph, sha);
            capture_prehash_free(ph);
            ph = NULL;
            if (hr < 0 && sha256_file(path, sha, why, sizeof why) < 0) {
                err_line(path, "%s", why);
                return 1;
            }
            int64_t old = 0;
            int complete = 0;
            int r = store_capture_find(st, sha, &old, &complete);
            if (r < 0) {
                err_line("database", "%s", store_errmsg(st));
                return 1;
            }
            if (r == 1) {
                if (complete && !o->force) {
                    fprintf(stderr, "mailtap: %s: already analysed (capture %lld), skipped; "
                            "--force replaces it\n", path, (long long)old);
                    return 0;
                }
                if (store_capture_delete(st, old) < 0) {
                    err_line("database", "%s", store_errmsg(st));
                    return 1;
                }
            }
        }
        /* An earlier run over this file that was interrupted is replaced. */
        int64_t stale = 0;
        int r;
        while (pr == 1 && (r = store_capture_probe_stale(st, probe, 0, &stale)) != 0) {
            if (r < 0 || store_capture_delete(st, stale) < 0) {
                err_line("database", "%s", store_errmsg(st));
                capture_prehash_free(ph);
                return 1;
            }
        }
    }

    struct cap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ports = default_ports;
    cfg.nports = sizeof default_ports / sizeof default_ports[0];
    cfg.all_ports = o->all_ports;
    cfg.max_flows = g_max_flows;
    cfg.no_hash = sha[0] != 0;  /* hashed above already: once is enough */
    cfg.prehash = ph;           /* taken over by capture_open_file */
    char errbuf[CAP_ERRBUF_SIZE] = "";
    capture_t *cap = capture_open_file(path, &cfg, errbuf);
    if (!cap) {
        err_line(source, "%s", without_prefix(errbuf, path));
        return 1;
    }

    struct pipeline pl;
    memset(&pl, 0, sizeof pl);
    pl.st = st;
    pl.cap = cap;
    pl.source = source;
    pl.file_size = capture_file_size(cap);
    pl.progress = !o->quiet && isatty(2);
    pl.all_ports = o->all_ports;
    pl.ev = o->ev;
    clock_gettime(CLOCK_MONOTONIC, &pl.t0);
    if (store_capture_begin_probe(st, is_stdin ? "-" : path, "file", sha, probe,
                                  &pl.capture_id) < 0) {
        err_line("database", "%s", store_errmsg(st));
        capture_close(cap);
        return 1;
    }

    g_capture = cap;
    int rc = capture_run(cap, &glue_callbacks, &pl, errbuf);
    g_capture = NULL;
    progress(&pl, 1);

    struct cap_stats cs;
    capture_stats(cap, &cs);
    struct store_capture_stats ss;
    stats_to_store(&cs, &ss);
    int ret = 0;
    const char *status = "complete";
    if (rc == 2) {              /* the file ends inside a record: the rest is whole */
        fprintf(stderr, "mailtap: %s: cut short in the middle of a packet (%s); "
                "everything before it is analysed\n", source, errbuf);
        rc = 0;
    }
    if (rc < 0) {
        err_line(source, "%s (results up to this point are stored)", errbuf);
        status = "interrupted";
        ret = 1;
    } else if (rc == 1 || g_stop) {
        status = "interrupted";
        ret = pl.tot.store_errors ? 1 : 3;  /* a database failure was said already */
    } else if (capture_skipped_bytes(cap) > 0) {
        fprintf(stderr, "mailtap: %s: corrupt records: %llu bytes skipped, reading resumed "
                "at the next valid record (the missing bytes are gaps)\n", source,
                (unsigned long long)capture_skipped_bytes(cap));
    }
    if (!sha[0] && rc == 0) {   /* hashed while read: a duplicate shows now */
        /* What was found is committed (and copied out of the log) while
         * the hashing thread may still be at work; only then is it waited
         * for.  A failure here shows again, and is reported, below. */
        if (store_flush(st) == 0)
            store_checkpoint(st);
        const char *h = capture_sha256(cap);
        int64_t old = 0;
        int complete = 0;
        if (h[0] && store_capture_find(st, h, &old, &complete) == 1 && old != pl.capture_id) {
            if (complete && !o->force) {
                fprintf(stderr, "mailtap: %s: already analysed (capture %lld), "
                        "results discarded; --force replaces it\n", source, (long long)old);
                store_capture_delete(st, pl.capture_id);
                capture_close(cap);
                return 0;
            }
            store_capture_delete(st, old);
        }
        if (h[0])
            store_capture_set_sha256(st, pl.capture_id, h);
    }
    if (pl.tot.store_errors)
        status = "interrupted";
    if (store_capture_finish(st, pl.capture_id, &ss, status) < 0) {
        if (!pl.tot.store_errors)
            err_line("database", "%s", store_errmsg(st));
        ret = 1;
    }
    if (pl.tot.store_errors)
        ret = 1;
    if (!o->quiet)      /* standard output may be the --events stream */
        print_summary(o->events && strcmp(o->events, "-") == 0 ? stderr : stdout,
                      source, &cs, &pl.tot);
    capture_close(cap);
    return ret;
}

static void help_analyze(FILE *out)
{
    fputs("usage: mailtap analyze [-d DB] [--all-ports] [--redact KEYFILE] [--force]\n"
          "                       [--events FILE] [--ca-file FILE] [-q] FILE...\n"
          "\n"
          "Reads pcap and pcapng files ('-' = standard input), follows every SMTP\n"
          "connection on ports 25, 465 and 587 in both directions, and appends sessions,\n"
          "messages and findings to DB (default ./mailtap.db).  A file already analysed\n"
          "(same SHA-256) is skipped unless --force, which replaces its earlier results.\n"
          "\n"
          "  -d, --db DB           database file (created when missing)\n"
          "      --all-ports       follow TCP on every port and find SMTP by content\n"
          "      --redact KEYFILE  store keyed HMAC tags instead of local parts,\n"
          "                        usernames and subjects (domains kept)\n"
          "      --force           re-analyse files already in the database\n"
          "      --events FILE     also write each stored session, message and finding\n"
          "                        as one JSON line to FILE ('-' = standard output)\n"
          "      --ca-file FILE    trust anchors (PEM) for certificate checks instead of\n"
          "                        the system store\n"
          "      --max-flows N     connections followed at once (default 16384, about\n"
          "                        10 KiB each); past it the least recently active one\n"
          "                        is ended and stored, its later packets counted but\n"
          "                        not analysed (the report says how many)\n"
          "  -q, --quiet           no summary, no progress line\n"
          "  -h, --help            this text\n", out);
}

static int cmd_analyze(int argc, char **argv)
{
    static const struct option lo[] = {
        { "db", required_argument, NULL, 'd' },
        { "all-ports", no_argument, NULL, 'A' },
        { "redact", required_argument, NULL, 'R' },
        { "force", no_argument, NULL, 'F' },
        { "events", required_argument, NULL, 'E' },
        { "ca-file", required_argument, NULL, 'C' },
        { "max-flows", required_argument, NULL, 'X' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct analyze_opts o = { "mailtap.db", 0, 0, 0, NULL, NULL, NULL };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+d:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 'A': o.all_ports = 1; break;
        case 'R': o.redact = optarg; break;
        case 'F': o.force = 1; break;
        case 'E': o.events = optarg; break;
        case 'C': g_ca_file = optarg; break;
        case 'X':
            if (parse_max_flows(optarg) < 0)
                return usage_error(argv[0], "--max-flows needs a number from 64 to 4000000");
            break;
        case 'q': o.quiet = 1; break;
        case 'h': help_analyze(stdout); return 0;
        default:  return usage_error("analyze", "unknown option or missing argument");
        }
    }
    if (optind >= argc)
        return usage_error("analyze", "no input file");
    /* the events stream would carry what --redact keeps out of the database */
    if (o.events && o.redact)
        return usage_error("analyze", "--events cannot be combined with --redact yet");

    uint8_t key[REDACT_KEY_MAX];
    size_t keylen = 0;
    if (o.redact && load_key(o.redact, key, &keylen) < 0)
        return 1;

    char errbuf[STORE_ERRBUF_SIZE] = "";
    /* The first file is hashed while the database is opened (and, when
     * new, created). */
    cap_prehash_t *ph = capture_prehash_start(argv[optind]);
    store_t *st = store_open(o.db, STORE_RW, errbuf);
    if (!st) {
        err_line(o.db, "%s", errbuf);
        capture_prehash_free(ph);
        return 1;
    }
    if (o.redact && store_set_redact_key(st, key, keylen) < 0) {
        err_line(o.redact, "cannot use redaction key");
        capture_prehash_free(ph);
        store_close(st, errbuf);
        return 1;
    }
    OPENSSL_cleanse(key, sizeof key);
    if (o.events) {
        char why[256];
        o.ev = ev_open(o.events, NULL, why, sizeof why);
        if (!o.ev) {
            err_line(o.events, "%s", why);
            capture_prehash_free(ph);
            store_close(st, errbuf);
            return 1;
        }
        install_event_signals();
    }

    install_stop_signals();
    int ret = 0;
    for (int i = optind; i < argc && !g_stop; i++) {
        int r = analyze_one(st, argv[i], &o, ph);
        ph = NULL;                  /* the first file's, taken over */
        if (r == 3) {
            err_line(argv[i], "interrupted; the capture is marked interrupted and a re-run completes it");
            ret = 1;
            break;
        }
        if (r)
            ret = 1;
    }
    capture_prehash_free(ph);       /* stopped before the first file */
    if (ev_close(o.ev) < 0)
        ret = 1;
    if (store_close(st, errbuf) < 0) {
        err_line(o.db, "%s", errbuf);
        ret = 1;
    }
    return ret;
}

/* ------------------------------------------------------------------ */
/* live capture                                                        */

/* Wall-clock seconds between commits while capturing, so the database is
 * useful (readable by report/sessions/findings) while capture runs. */
#define LIVE_FLUSH_SECONDS 2
/* Kernel buffer capture/ asks libpcap for (see --buffer-mib). */
#define LIVE_BUFFER_MIB_DEFAULT 32

/* The status line of a live capture (stderr is a terminal, no -q). */
static void live_status_line(const struct pipeline *pl, const struct cap_stats *cs, int final)
{
    fprintf(stderr, "\r%s: %llu packets, %llu sessions, %llu dropped by the kernel, "
            "%llu by the interface   ", pl->source, (unsigned long long)cs->packets,
            (unsigned long long)pl->tot.sessions, (unsigned long long)cs->dropped,
            (unsigned long long)cs->ifdropped);
    if (final)
        fputc('\n', stderr);
}

/*
 * Called from the capture callbacks of a live capture; does something at
 * most once per wall-clock second: reopens the events file when SIGHUP
 * asked for it, redraws the status line, and every LIVE_FLUSH_SECONDS
 * commits what is pending together with the capture's counters so far (the
 * capture row stays 'interrupted' until the capture ends).
 *
 * Nothing calls it while no packet arrives: capture_run() has no idle
 * callback yet (see the issue report), so on a silent link the last
 * sessions are committed with the next packet or at the end.
 */
static void live_tick(struct pipeline *pl)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    if (now.tv_sec == pl->last_tick)
        return;
    pl->last_tick = now.tv_sec;
    ev_poll(pl->ev);
    struct cap_stats cs;
    capture_stats(pl->cap, &cs);
    if (pl->status)
        live_status_line(pl, &cs, 0);
    if (now.tv_sec - pl->last_flush.tv_sec < LIVE_FLUSH_SECONDS)
        return;
    pl->last_flush = now;
    if (cs.packets == pl->flushed_packets) {
        if (store_flush(pl->st) < 0)    /* sessions ended by idle expiry */
            store_failed(pl);
        return;
    }
    pl->flushed_packets = cs.packets;
    struct store_capture_stats ss;
    stats_to_store(&cs, &ss);
    if (store_capture_finish(pl->st, pl->capture_id, &ss, "interrupted") < 0)
        store_failed(pl);
}

/* The account packets are parsed under (-Z USER). */
struct run_as {
    char name[256];
    uid_t uid;
    gid_t gid;
};

static int lookup_user(const char *user, struct run_as *ra)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        int e = errno;      /* getpwnam(3): these mean "not found" */
        int absent = e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM;
        err_line("capture", "-Z %s: %s", user, absent ? "no such user" : strerror(e));
        return -1;
    }
    if (strlen(pw->pw_name) >= sizeof ra->name) {
        err_line("capture", "-Z %s: user name too long", user);
        return -1;
    }
    snprintf(ra->name, sizeof ra->name, "%s", pw->pw_name);
    ra->uid = pw->pw_uid;
    ra->gid = pw->pw_gid;
    return 0;
}

/*
 * Drops root to the user: supplementary groups (initgroups), then real,
 * effective and saved gid, then uid; then verifies that all six ids are the
 * user's and that root can not be regained.  Returns 0, or -1 with the
 * error printed (the caller must then exit without parsing a packet).
 */
static int drop_privileges(const struct run_as *ra)
{
    if (initgroups(ra->name, ra->gid) < 0 || setresgid(ra->gid, ra->gid, ra->gid) < 0 ||
        setresuid(ra->uid, ra->uid, ra->uid) < 0) {
        err_line("capture", "cannot drop privileges to %s: %s", ra->name, strerror(errno));
        return -1;
    }
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
        ru != ra->uid || eu != ra->uid || su != ra->uid ||
        rg != ra->gid || eg != ra->gid || sg != ra->gid ||
        (ra->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) ||
        (ra->gid != 0 && (setgid(0) == 0 || setegid(0) == 0))) {
        err_line("capture", "privileges were not dropped to %s", ra->name);
        return -1;
    }
    return 0;
}

/*
 * Gives the database file to the capture user before privileges are
 * dropped, creating it (0640) when missing, so it stays writable afterwards
 * (SQLite, running as root, then gives the -wal and -shm it creates to the
 * owner of the database too).  Only a regular file is given away, never
 * through a symbolic link, and an existing non-empty file only when it
 * starts with the SQLite header (anything else is left for store_open to
 * refuse).  Must run before store_open: closing a descriptor of the file
 * would drop SQLite's POSIX locks on it.  Returns 0 or -1 (printed).
 */
static int give_db_to_user(const char *path, const struct run_as *ra)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0) {
        if (errno != EEXIST) {
            err_line(path, "%s", strerror(errno));
            return -1;
        }
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            err_line(path, "%s", errno == ELOOP
                     ? "is a symbolic link: give the real path when using -Z"
                     : strerror(errno));
            return -1;
        }
        struct stat sb;
        if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            err_line(path, "not a regular file");
            close(fd);
            return -1;
        }
        char hdr[16];
        if (sb.st_size > 0 && (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
                               memcmp(hdr, "SQLite format 3", sizeof hdr) != 0)) {
            close(fd);
            return 0;
        }
    }
    if (fchown(fd, ra->uid, ra->gid) < 0) {
        err_line(path, "cannot give it to %s: %s", ra->name, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* After store_open: gives DB-wal and DB-shm to the user when they exist
 * and are not (e.g. left by an earlier run as root).  By path, without
 * opening them (see above); lchown never follows a symbolic link. */
static int give_db_sidecars(const char *db, const struct run_as *ra)
{
    static const char *const sfx[] = { "-wal", "-shm" };
    char path[4096];
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        struct stat sb;
        if ((size_t)snprintf(path, sizeof path, "%s%s", db, sfx[i]) >= sizeof path)
            continue;
        if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode) ||
            (sb.st_uid == ra->uid && sb.st_gid == ra->gid))
            continue;
        if (lchown(path, ra->uid, ra->gid) < 0) {
            err_line(path, "cannot give it to %s: %s", ra->name, strerror(errno));
            return -1;
        }
    }
    return 0;
}


static void help_capture(FILE *out)
{
    fputs("usage: mailtap capture -i IFACE [-d DB] [-f BPF] [--all-ports] [-Z USER]\n"
          "                       [--duration SECONDS] [--events FILE] [--buffer-mib N]\n"
          "                       [--allow-root] [-q]\n"
          "\n"
          "Live capture on a span/mirror port (promiscuous, full packets).  Opens the\n"
          "interface and the database, drops privileges to USER, then follows SMTP\n"
          "connections until SIGINT/SIGTERM or --duration, storing each session when\n"
          "it ends (open ones are finished at the end) and committing every few\n"
          "seconds, so the database can be read while capture runs.\n"
          "\n"
          "  -i, --interface IFACE   interface to capture on\n"
          "  -d, --db DB             database file (default ./mailtap.db); with -Z it is\n"
          "                          created if missing and given to USER\n"
          "  -f, --filter BPF        capture filter, replacing the default (tcp port 25 or\n"
          "                          tcp port 465 or tcp port 587); connections are still\n"
          "                          followed on those ports only unless --all-ports\n"
          "      --all-ports         capture all TCP and find SMTP by content\n"
          "  -Z, --user USER         drop privileges to USER after opening (needs root)\n"
          "      --duration SECONDS  stop after this many seconds\n"
          "      --events FILE       also write each stored session, message and finding\n"
          "                          as one JSON line to FILE ('-' = standard output);\n"
          "                          SIGHUP reopens FILE (log rotation)\n"
          "      --buffer-mib N      kernel capture buffer in MiB (default 32)\n"
          "      --allow-root        allow parsing packets as root (no -Z, or -Z root)\n"
          "      --ca-file FILE      trust anchors (PEM) for certificate checks\n"
          "      --max-flows N       connections followed at once (default 16384)\n"
          "  -q, --quiet             no status line, no summary\n"
          "  -h, --help              this text\n"
          "\n"
          "Without root: run as an ordinary user holding CAP_NET_RAW and CAP_NET_ADMIN\n"
          "(systemd AmbientCapabilities, or setcap) and leave out -Z.\n", out);
}

static int cmd_capture(int argc, char **argv)
{
    static const struct option lo[] = {
        { "interface", required_argument, NULL, 'i' },
        { "db", required_argument, NULL, 'd' },
        { "filter", required_argument, NULL, 'f' },
        { "all-ports", no_argument, NULL, 'A' },
        { "user", required_argument, NULL, 'Z' },
        { "duration", required_argument, NULL, 'D' },
        { "events", required_argument, NULL, 'E' },
        { "buffer-mib", required_argument, NULL, 'B' },
        { "allow-root", no_argument, NULL, 'R' },
        { "ca-file", required_argument, NULL, 'C' },
        { "max-flows", required_argument, NULL, 'X' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *iface = NULL, *db = "mailtap.db", *bpf = NULL, *user = NULL;
    const char *events = NULL;
    int all_ports = 0, quiet = 0, allow_root = 0;
    long buffer_mib = LIVE_BUFFER_MIB_DEFAULT;
    double duration = 0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+i:d:f:Z:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'i': iface = optarg; break;
        case 'd': db = optarg; break;
        case 'f': bpf = optarg; break;
        case 'A': all_ports = 1; break;
        case 'Z': user = optarg; break;
        case 'D': {
            char *end;
            errno = 0;
            duration = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(duration > 0) || duration > 1e9)
                return usage_error("capture", "--duration needs a positive number of seconds");
            break;
        }
        case 'E': events = optarg; break;
        case 'B': {
            char *end;
            errno = 0;
            buffer_mib = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || buffer_mib < 1 || buffer_mib > 65536)
                return usage_error("capture", "--buffer-mib needs a number of MiB from 1 to 65536");
            break;
        }
        case 'C': g_ca_file = optarg; break;
        case 'X':
            if (parse_max_flows(optarg) < 0)
                return usage_error(argv[0], "--max-flows needs a number from 64 to 4000000");
            break;
        case 'R': allow_root = 1; break;
        case 'q': quiet = 1; break;
        case 'h': help_capture(stdout); return 0;
        default:  return usage_error("capture", "unknown option or missing argument");
        }
    }
    if (!iface)
        return usage_error("capture", "-i IFACE is required");
    if (optind < argc)
        return usage_error("capture", "unexpected argument");

    /* Who parses the packets.  Never root unless asked for explicitly. */
    struct run_as ra;
    int dropping = 0;
    if (user) {
        if (lookup_user(user, &ra) < 0)
            return EXIT_USAGE;
        if (ra.uid == 0 && !allow_root) {
            err_line("capture", "-Z %s would parse packets as root: give an unprivileged "
                     "user (or --allow-root)", user);
            return EXIT_USAGE;
        }
        if (geteuid() != 0 && geteuid() != ra.uid) {
            err_line("capture", "-Z %s needs root (or run as %s with CAP_NET_RAW, without -Z)",
                     user, user);
            return 1;
        }
        dropping = geteuid() == 0 && ra.uid != 0;
    } else if (geteuid() == 0 && !allow_root) {
        err_line("capture", "refusing to parse packets as root: give -Z USER "
                 "(or --allow-root)");
        return EXIT_USAGE;
    }
    int events_on_stdout = events && strcmp(events, "-") == 0;

    /* 1. open the interface (root or CAP_NET_RAW) */
    struct cap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ports = default_ports;
    cfg.nports = sizeof default_ports / sizeof default_ports[0];
    cfg.all_ports = all_ports;
    cfg.max_flows = g_max_flows;
    cfg.buffer_bytes = (size_t)buffer_mib * 1024u * 1024u;
    char errbuf[CAP_ERRBUF_SIZE] = "";
    capture_t *cap = capture_open_live(iface, bpf, &cfg, errbuf);
    if (!cap) {
        err_line(iface, "%s", without_prefix(errbuf, iface));
        return 1;
    }
    /* 2. the database (and the events file), made writable by USER */
    if (dropping && give_db_to_user(db, &ra) < 0) {
        capture_close(cap);
        return 1;
    }
    char serr[STORE_ERRBUF_SIZE] = "";
    store_t *st = store_open(db, STORE_RW, serr);
    if (!st) {
        err_line(db, "%s", serr);
        capture_close(cap);
        return 1;
    }
    int failed = dropping && give_db_sidecars(db, &ra) < 0;
    ev_writer_t *ev = NULL;
    if (!failed && events) {
        char why[256];
        int created = 0;
        ev = ev_open(events, &created, why, sizeof why);
        if (!ev) {
            err_line(events, "%s", why);
            failed = 1;
        } else if (dropping && created && ev_chown(ev, ra.uid, ra.gid) < 0) {
            err_line(events, "cannot give it to %s: %s", ra.name, strerror(errno));
            failed = 1;
        }
    }
    /* 3. drop privileges, before the first packet is parsed */
    if (!failed && dropping && drop_privileges(&ra) < 0)
        failed = 1;
    if (!failed && geteuid() == 0 && !allow_root) {
        err_line("capture", "still running as root after start-up");
        failed = 1;
    }

    struct pipeline pl;
    memset(&pl, 0, sizeof pl);
    pl.st = st;
    pl.cap = cap;
    pl.all_ports = all_ports;
    pl.ev = ev;
    pl.live = 1;
    pl.status = !quiet && isatty(2);
    char source[300];
    snprintf(source, sizeof source, "live:%s", iface);
    pl.source = source;
    /* the first write is made as USER: a database USER can not write
     * fails here, not after hours of capture */
    if (!failed && store_capture_begin(st, source, "live", "", &pl.capture_id) < 0) {
        err_line(db, "%s%s%s", store_errmsg(st), dropping ? "; it must be writable by " : "",
                 dropping ? ra.name : "");
        failed = 1;
    }
    if (failed) {
        ev_close(ev);
        store_close(st, serr);
        capture_close(cap);
        return 1;
    }

    /* 4. capture until a signal or --duration */
    g_capture = cap;
    install_stop_signals();
    install_event_signals();    /* SIGHUP (systemctl reload) must not end it */
    struct itimerval itv;
    memset(&itv, 0, sizeof itv);
    if (duration > 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        itv.it_value.tv_sec = (time_t)duration;
        itv.it_value.tv_usec = (suseconds_t)((duration - (double)(time_t)duration) * 1e6);
        if (itv.it_value.tv_sec == 0 && itv.it_value.tv_usec == 0)
            itv.it_value.tv_usec = 1;
        setitimer(ITIMER_REAL, &itv, NULL);
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    pl.last_flush = now;
    pl.last_tick = now.tv_sec;
    int rc = capture_run(cap, &glue_callbacks, &pl, errbuf);
    g_capture = NULL;
    memset(&itv, 0, sizeof itv);
    setitimer(ITIMER_REAL, &itv, NULL);

    /* 5. the capture row, complete with pcap's counters */
    struct cap_stats cs;
    capture_stats(cap, &cs);
    if (pl.status)
        live_status_line(&pl, &cs, 1);
    struct store_capture_stats ss;
    stats_to_store(&cs, &ss);
    int ret = 0;
    if (rc < 0) {
        err_line(iface, "%s (capture stopped; what was seen is stored)",
                 without_prefix(errbuf, iface));
        ret = 1;
    }
    if (store_capture_finish(st, pl.capture_id, &ss, rc < 0 ? "interrupted" : "complete") < 0) {
        err_line("database", "%s", store_errmsg(st));
        ret = 1;
    }
    if (pl.tot.store_errors)
        ret = 1;
    if (!quiet) {
        FILE *out = events_on_stdout ? stderr : stdout;
        print_summary(out, source, &cs, &pl.tot);
        fprintf(out, "%s: %llu dropped by the kernel, %llu by the interface\n", source,
                (unsigned long long)cs.dropped, (unsigned long long)cs.ifdropped);
    }
    if (ev_close(ev) < 0)
        ret = 1;
    if (store_close(st, serr) < 0) {
        err_line(db, "%s", serr);
        ret = 1;
    }
    capture_close(cap);
    return ret;
}

/* ------------------------------------------------------------------ */
/* report, findings, sessions                                          */

static int parse_format(const char *s, enum rep_format *f, int allow_all)
{
    if (strcmp(s, "text") == 0) *f = REP_TEXT;
    else if (strcmp(s, "json") == 0) *f = REP_JSON;
    else if (allow_all && strcmp(s, "csv") == 0) *f = REP_CSV;
    else if (allow_all && strcmp(s, "html") == 0) *f = REP_HTML;
    else return -1;
    return 0;
}

/* TIME: seconds since the epoch, or YYYY-MM-DD[THH:MM[:SS]] (UTC). */
static int parse_time(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!errno && *end == '\0' && end != s) {
        *out = v;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *fmts[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                           "%Y-%m-%d %H:%M", "%Y-%m-%d" };
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        memset(&tm, 0, sizeof tm);
        const char *e = strptime(s, fmts[i], &tm);
        if (e && (*e == '\0' || ((*e == 'Z' || *e == 'z') && e[1] == '\0'))) {
            *out = (double)timegm(&tm);
            return 0;
        }
    }
    return -1;
}

static int valid_cidr(const char *s)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    unsigned char a[16];
    int fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(fam, buf, a) != 1)
        return 0;
    if (slash) {
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || bits < 0 || bits > (fam == AF_INET ? 32 : 128))
            return 0;
    }
    return 1;
}

enum listing { L_REPORT, L_FINDINGS, L_SESSIONS };

static void help_listing(enum listing which, FILE *out)
{
    switch (which) {
    case L_REPORT:
        fputs("usage: mailtap report [-d DB]... [--format text|csv|json|html] [-o FILE|DIR/]\n"
              "                      [--table NAME]\n"
              "                      [--org-net CIDR]... [--since TIME] [--until TIME]\n"
              "                      [--min-severity LEVEL]\n"
              "\n"
              "The audit, from the database alone: what crossed the wire in cleartext,\n"
              "per server, client and recipient domain, credential exposures, findings\n"
              "and a timeline.\n"
              "\n"
              "  -d, --db DB             database (default ./mailtap.db); repeatable (up to\n"
              "                          16): one report over several sensors\n"
              "      --format F          text (default), csv, json or html\n"
              "  -o, --output FILE       write to FILE instead of standard output; with\n"
              "                          --format csv, a name ending in / is a directory\n"
              "                          that gets one NAME.csv file per table\n"
              "      --table NAME        csv: only this table, one of: overview, servers,\n"
              "                          clients, recipient_domains, messages,\n"
              "                          credential_exposures, findings, timeline, captures\n"
              "      --org-net CIDR      the organisation's own addresses (repeatable):\n"
              "                          sessions are split into outbound/inbound/internal\n"
              "      --since TIME        only sessions starting at or after TIME\n"
              "      --until TIME        only sessions starting before TIME\n"
              "                          (TIME: YYYY-MM-DD[THH:MM[:SS]] UTC, or epoch seconds)\n"
              "      --min-severity L    only findings of level L or above\n"
              "                          (info, low, medium, high, critical)\n"
              "  -h, --help              this text\n", out);
        break;
    case L_FINDINGS:
        fputs("usage: mailtap findings [-d DB] [--kind K] [--min-severity LEVEL]\n"
              "                        [--format text|json]\n"
              "\n"
              "One line (or JSON object) per finding, with its session.\n"
              "\n"
              "  -d, --db DB             database (default ./mailtap.db)\n"
              "      --kind K            only findings of kind K (e.g. auth_plain_cleartext)\n"
              "      --min-severity L    only level L or above\n"
              "      --format F          text (default) or json\n"
              "  -h, --help              this text\n", out);
        break;
    case L_SESSIONS:
        fputs("usage: mailtap sessions [-d DB] [--protection P] [--format text|json]\n"
              "\n"
              "One line (or JSON object) per SMTP connection.\n"
              "\n"
              "  -d, --db DB             database (default ./mailtap.db)\n"
              "      --protection P      only sessions with protection P (implicit_tls,\n"
              "                          starttls, partial, cleartext, indeterminate)\n"
              "      --format F          text (default) or json\n"
              "  -h, --help              this text\n", out);
        break;
    }
}

#define MAX_ORG_NETS 64

static int cmd_listing(enum listing which, const char *name, int argc, char **argv)
{
    static const struct option lo[] = {
        { "db", required_argument, NULL, 'd' },
        { "format", required_argument, NULL, 'F' },
        { "output", required_argument, NULL, 'o' },
        { "org-net", required_argument, NULL, 'N' },
        { "since", required_argument, NULL, 'S' },
        { "until", required_argument, NULL, 'U' },
        { "min-severity", required_argument, NULL, 'M' },
        { "kind", required_argument, NULL, 'K' },
        { "protection", required_argument, NULL, 'P' },
        { "table", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *db = "mailtap.db", *outpath = NULL, *table = NULL;
    const char *dbs[16];
    size_t n_dbs = 0;
    const char *org[MAX_ORG_NETS];
    struct rep_filter f;
    memset(&f, 0, sizeof f);
    f.min_severity = -1;
    enum rep_format fmt = REP_TEXT;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+d:o:h", lo, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case 'd':
            /* report: repeatable (one report over several sensors) */
            if (n_dbs > 0 && which != L_REPORT)
                return usage_error(name, "-d is given once (only report takes several)");
            if (n_dbs >= sizeof dbs / sizeof dbs[0])
                return usage_error(name, "too many -d databases (at most 16)");
            dbs[n_dbs++] = db = optarg;
            break;
        case 'F':
            if (parse_format(optarg, &fmt, which == L_REPORT) < 0)
                return usage_error(name, "unknown --format");
            break;
        case 'o': ok = which == L_REPORT; outpath = optarg; break;
        case 'N':
            ok = which == L_REPORT;
            if (ok && !valid_cidr(optarg))
                return usage_error(name, "--org-net needs an address range like 192.0.2.0/24");
            if (ok && f.n_org_nets >= MAX_ORG_NETS)
                return usage_error(name, "too many --org-net ranges");
            if (ok)
                org[f.n_org_nets++] = optarg;
            break;
        case 'S':
            ok = which == L_REPORT;
            if (ok && parse_time(optarg, &f.since) < 0)
                return usage_error(name, "--since needs YYYY-MM-DD[THH:MM[:SS]] or epoch seconds");
            break;
        case 'U':
            ok = which == L_REPORT;
            if (ok && parse_time(optarg, &f.until) < 0)
                return usage_error(name, "--until needs YYYY-MM-DD[THH:MM[:SS]] or epoch seconds");
            break;
        case 'M':
            ok = which != L_SESSIONS;
            if (ok && (f.min_severity = mt_severity_parse(optarg)) < 0)
                return usage_error(name, "--min-severity is one of info, low, medium, high, critical");
            break;
        case 'K': ok = which == L_FINDINGS; f.kind = optarg; break;
        case 'T': ok = which == L_REPORT; table = optarg; break;
        case 'P':
            ok = which == L_SESSIONS;
            if (ok && strcmp(optarg, "implicit_tls") && strcmp(optarg, "starttls") &&
                strcmp(optarg, "partial") && strcmp(optarg, "cleartext") &&
                strcmp(optarg, "indeterminate"))
                return usage_error(name, "unknown --protection");
            f.protection = optarg;
            break;
        case 'h': help_listing(which, stdout); return 0;
        default:  ok = 0; break;
        }
        if (!ok)
            return usage_error(name, "unknown option or missing argument");
    }
    if (optind < argc)
        return usage_error(name, "unexpected argument");
    f.org_nets = org;
    /* csv: --table NAME prints one table; -o DIR/ writes one file per table */
    size_t olen = outpath ? strlen(outpath) : 0;
    int csv_dir = fmt == REP_CSV && olen > 0 && outpath[olen - 1] == '/';
    if (table && fmt != REP_CSV)
        return usage_error(name, "--table goes with --format csv");
    if (table && csv_dir)
        return usage_error(name, "--table writes one table: give -o FILE, not a directory");

    char errbuf[STORE_ERRBUF_SIZE] = "";
    store_t *st;
    if (n_dbs > 1) {
        char merr[STORE_ERRBUF_SIZE + 4200] = "";
        st = rep_merge_open(dbs, n_dbs, merr, sizeof merr);
        if (!st) {
            err_line(name, "%s", merr);    /* merr starts with the failing path */
            return 1;
        }
    } else if (!(st = store_open(db, STORE_RO, errbuf))) {
        err_line(db, "%s", errbuf);
        return 1;
    }
    if (csv_dir) {
        char rerr[512] = "";
        int ret = 0;
        if (rep_report_csv_dir(st, &f, outpath, rerr, sizeof rerr) < 0) {
            err_line(outpath, "%s", rerr[0] ? rerr : "failed");
            ret = 1;
        }
        store_close(st, errbuf);
        return ret;
    }
    FILE *out = stdout;
    if (outpath && !(out = fopen(outpath, "w"))) {
        err_line(outpath, "%s", strerror(errno));
        store_close(st, errbuf);
        return 1;
    }
    char rerr[512] = "";
    int r;
    if (which == L_REPORT && table)
        r = rep_report_csv_table(st, &f, table, out, rerr, sizeof rerr);
    else if (which == L_REPORT)
        r = rep_report(st, fmt, &f, out, rerr, sizeof rerr);
    else if (which == L_FINDINGS)
        r = rep_findings(st, fmt, &f, out, rerr, sizeof rerr);
    else
        r = rep_sessions(st, fmt, &f, out, rerr, sizeof rerr);
    int ret = 0;
    if (r < 0) {
        err_line(name, "%s", rerr[0] ? rerr : "failed");
        ret = 1;
    }
    if (fflush(out) != 0 || (out != stdout && fclose(out) != 0)) {
        err_line(outpath ? outpath : "stdout", "%s", strerror(errno));
        ret = 1;
    }
    store_close(st, errbuf);
    return ret;
}

/* ------------------------------------------------------------------ */

static void print_version(void)
{
    printf("mailtap %s\n", MAILTAP_VERSION);
    printf("libpcap: %s\n", capture_lib_version());
    printf("nDPI: %s\n", ndpi_revision());
    printf("OpenSSL: %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("SQLite: %s\n", store_lib_version());
}

static void help_main(FILE *out)
{
    fputs("usage: mailtap COMMAND [OPTIONS]\n"
          "\n"
          "Passive audit of SMTP transport security: does our mail leave (or arrive)\n"
          "unencrypted, and what exactly was exposed?\n"
          "\n"
          "commands:\n"
          "  analyze    read pcap/pcapng files and store what they show\n"
          "  capture    live capture on a span/mirror port\n"
          "  report     the audit, from the database\n"
          "  findings   list findings\n"
          "  sessions   list SMTP connections\n"
          "\n"
          "  mailtap COMMAND --help     options of a command\n"
          "  mailtap --version          versions of mailtap and its libraries\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        help_main(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        print_version();
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        help_main(stdout);
        return 0;
    }
    argc--;
    argv++;
    optind = 1;
    if (strcmp(cmd, "analyze") == 0)
        return cmd_analyze(argc, argv);
    if (strcmp(cmd, "capture") == 0)
        return cmd_capture(argc, argv);
    if (strcmp(cmd, "report") == 0)
        return cmd_listing(L_REPORT, "report", argc, argv);
    if (strcmp(cmd, "findings") == 0)
        return cmd_listing(L_FINDINGS, "findings", argc, argv);
    if (strcmp(cmd, "sessions") == 0)
        return cmd_listing(L_SESSIONS, "sessions", argc, argv);
    err_line(cmd, "unknown command (see 'mailtap --help')");
    return EXIT_USAGE;
}
