/*
 * fix_dissect.h — a scripted SMTP session through the dissector, shared by
 * the SMTP and SMTP+TLS dissector tests.
 *
 * A script is a list of steps (side, bytes; or a gap, or a capture event)
 * in capture order.  It is fed three ways — as scripted, with one step cut
 * in two at split points, and one byte per call — and each run's text dump
 * (written by the test's own sink) must be the same.  Every piece handed
 * to dis_data is an exact-size heap copy, so ASan sees any read past it.
 */
#ifndef MT_FIX_DISSECT_H
#define MT_FIX_DISSECT_H

#include <stddef.h>
#include <stdint.h>

#include "dissect/dissect.h"
#include "dissect/tls.h"

/* ---- scripts -------------------------------------------------------------------- */

enum { ST_END = 0, ST_DATA, ST_GAP, ST_EVENT };
enum { CLI = 0, SRV = 1 };

struct step {
    int kind;
    int role;                   /* CLI / SRV                                */
    const char *p;
    size_t len;
    uint64_t gap;
    int ev;
    const char *detail;
};

/* How to run a script. */
struct script {
    const struct step *st;
    size_t n;                   /* steps                                    */
    uint16_t cport, sport;
    int cli_side;               /* capture side of the client               */
    int no_syn;                 /* client side unknown (-1), no SYN         */
    double ts0;                 /* time of step 0 (the session: ts0 - 1)    */
    enum mt_end_reason end;
    const char *ca_file;
    const struct dis_sink *sink;    /* its arg is the struct rec            */
    size_t long_step;           /* longer steps are cut at their first and
                                   last 40 points and ~long_step / 2 between */
    int no_split;               /* skip the split/byte runs (huge inputs)   */
};

/* ---- recorder ------------------------------------------------------------------- */

struct rmsg {
    struct mt_message m;
    struct mt_recipient *r;
};

/* What one run emitted. */
struct rec {
    struct rmsg *msgs;
    size_t nmsgs;
    struct mt_finding *f;
    size_t nf;
    struct mt_session sess;     /* sess.chain: NULL, the chain is in chain  */
    struct tls_cert_info chain[TLS_CHAIN_MAX];
    int nsess;
    char *dump;                 /* normalised text of everything emitted    */
    size_t dlen, dcap;
    int order_ok;               /* messages before findings naming them     */
    long wants0;                /* first step after which dis_wants_bytes()
                                   was 0, -1: never                         */
    int is_smtp;                /* dis_is_smtp() after dis_end()            */
};

/* Appends to r's dump. */
void dump_add(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keep a copy of what the sink was handed (the sinks call these, then add
 * their own text to the dump). */
void rec_message(struct rec *r, const struct mt_message *m);
void rec_finding(struct rec *r, const struct mt_finding *f);
void rec_session(struct rec *r, const struct mt_session *s);
void rec_free(struct rec *r);

/* ---- runner --------------------------------------------------------------------- */

/* Feeds p[0..n) as one dis_data call, from an exact-size heap copy. */
void feed(dis_session_t *s, int side, const void *p, size_t n, double ts);

/* One run: mode 0 as scripted, 1 step `which` cut at `at`, 2 one byte per
 * call.  Fills r. */
void script_run(const struct script *sc, int mode, size_t which, size_t at, struct rec *r);

/* Runs sc the three ways; the scripted run is in out (rec_free it). */
void script_run_all(const struct script *sc, struct rec *out);

/* ---- assertions ----------------------------------------------------------------- */

const struct mt_finding *find(const struct rec *r, const char *kind);
size_t count(const struct rec *r, const char *kind);
/* A finding of kind with severity sev. */
void has(const struct rec *r, const char *kind, enum mt_severity sev);
/* has(), and it is the only finding of kind. */
void has_one(const struct rec *r, const char *kind, enum mt_severity sev);
void hasnt(const struct rec *r, const char *kind);
/* The evidence of kind contains needle. */
void evidence(const struct rec *r, const char *kind, const char *needle);
void prot(const struct rec *r, enum mt_protection p);
int contains(const char *hay, const char *needle);

#endif
