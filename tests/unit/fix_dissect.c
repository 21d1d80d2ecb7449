/*
 * fix_dissect.c — a scripted SMTP session through the dissector
 * (fix_dissect.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tests/unit/fix_dissect.h"

/* ---- recorder ------------------------------------------------------------------- */

void dump_add(struct rec *r, const char *fmt, ...)
{
    va_list ap, aq;
    int n;

    va_start(ap, fmt);
    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    assert_true(n >= 0);
    if (r->dlen + (size_t)n + 1 > r->dcap) {
        r->dcap = (r->dlen + (size_t)n + 1) * 2;
        r->dump = realloc(r->dump, r->dcap);
        assert_non_null(r->dump);
    }
    vsnprintf(r->dump + r->dlen, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->dlen += (size_t)n;
}

void rec_message(struct rec *r, const struct mt_message *m)
{
    struct rmsg *x;

    r->msgs = realloc(r->msgs, (r->nmsgs + 1) * sizeof *r->msgs);
    assert_non_null(r->msgs);
    x = &r->msgs[r->nmsgs++];
    x->m = *m;
    x->r = NULL;
    if (m->n_rcpts) {
        x->r = malloc(m->n_rcpts * sizeof *x->r);
        assert_non_null(x->r);
        memcpy(x->r, m->rcpts, m->n_rcpts * sizeof *x->r);
    }
    x->m.rcpts = x->r;
}

void rec_finding(struct rec *r, const struct mt_finding *f)
{
    r->f = realloc(r->f, (r->nf + 1) * sizeof *r->f);
    assert_non_null(r->f);
    r->f[r->nf++] = *f;
    if (f->msg_seq != 0 && f->msg_seq > r->nmsgs)
        r->order_ok = 0;
}

void rec_session(struct rec *r, const struct mt_session *s)
{
    r->sess = *s;
    r->nsess++;
    assert_true(s->chain_len >= 0 && s->chain_len <= (int)TLS_CHAIN_MAX);
    assert_true((s->chain == NULL) == (s->chain_len == 0));
    if (s->chain_len > 0)
        memcpy(r->chain, s->chain, (size_t)s->chain_len * sizeof r->chain[0]);
    r->sess.chain = NULL;               /* borrowed: not valid after the call */
}

void rec_free(struct rec *r)
{
    for (size_t i = 0; i < r->nmsgs; i++)
        free(r->msgs[i].r);
    free(r->msgs);
    free(r->f);
    free(r->dump);
    memset(r, 0, sizeof *r);
}

/* ---- runner --------------------------------------------------------------------- */

void feed(dis_session_t *s, int side, const void *p, size_t n, double ts)
{
    uint8_t *b = malloc(n ? n : 1);

    assert_non_null(b);
    memcpy(b, p, n);
    dis_data(s, side, b, n, ts);
    free(b);
}

void script_run(const struct script *sc, int mode, size_t which, size_t at, struct rec *r)
{
    struct dis_params par;
    dis_session_t *s;
    size_t i;

    memset(r, 0, sizeof *r);
    r->order_ok = 1;
    r->wants0 = -1;
    memset(&par, 0, sizeof par);
    par.port[sc->cli_side] = sc->cport;
    par.port[1 - sc->cli_side] = sc->sport;
    par.client_side = sc->no_syn ? -1 : sc->cli_side;
    par.syn_seen = !sc->no_syn;
    par.ts = sc->ts0 - 1.0;
    par.ca_file = sc->ca_file;
    s = dis_session_new(&par, sc->sink, r);
    assert_non_null(s);
    for (i = 0; i < sc->n; i++) {
        const struct step *st = &sc->st[i];
        int side = st->role == CLI ? sc->cli_side : 1 - sc->cli_side;
        double ts = sc->ts0 + (double)i;

        switch (st->kind) {
        case ST_DATA:
            if (mode == 1 && i == which) {
                feed(s, side, st->p, at, ts);
                feed(s, side, st->p + at, st->len - at, ts);
            } else if (mode == 2) {
                for (size_t k = 0; k < st->len; k++)
                    feed(s, side, st->p + k, 1, ts);
            } else {
                feed(s, side, st->p, st->len, ts);
            }
            break;
        case ST_GAP:
            dis_gap(s, side, st->gap, ts);
            break;
        case ST_EVENT:
            dis_capture_event(s, side, (enum dis_cap_event)st->ev, ts, st->detail);
            break;
        }
        if (r->wants0 < 0 && !dis_wants_bytes(s))
            r->wants0 = (long)i;
    }
    dis_end(s, sc->end, sc->ts0 + (double)i);
    r->is_smtp = dis_is_smtp(s);
    dis_session_free(s);
    assert_int_equal(r->nsess, 1);
    assert_true(r->order_ok);
}

static void same_or_fail(const struct rec *a, const struct rec *b, const char *how,
                         size_t which, size_t at)
{
    if (a->dlen == b->dlen && memcmp(a->dump, b->dump, a->dlen) == 0)
        return;
    print_error("run differs (%s, step %zu, at %zu)\n--- scripted:\n%s--- got:\n%s",
                how, which, at, a->dump, b->dump);
    fail();
}

void script_run_all(const struct script *sc, struct rec *out)
{
    struct rec r;

    script_run(sc, 0, 0, 0, out);
    if (getenv("SMTP_TEST_DUMP") != NULL)
        fprintf(stderr, "%s----\n", out->dump);
    if (sc->no_split)
        return;
    for (size_t i = 0; i < sc->n; i++) {
        size_t len = sc->st[i].len, stride = 1;

        if (sc->st[i].kind != ST_DATA || len < 2)
            continue;
        if (len > sc->long_step)
            stride = len / (sc->long_step / 2);
        for (size_t at = 1; at < len; at++) {
            if (stride > 1 && at > 40 && at + 40 < len && at % stride != 0)
                continue;
            script_run(sc, 1, i, at, &r);
            same_or_fail(out, &r, "split", i, at);
            rec_free(&r);
        }
    }
    script_run(sc, 2, 0, 0, &r);
    same_or_fail(out, &r, "bytewise", 0, 0);
    rec_free(&r);
}

/* ---- assertions ----------------------------------------------------------------- */

const struct mt_finding *find(const struct rec *r, const char *kind)
{
    for (size_t i = 0; i < r->nf; i++)
        if (strcmp(r->f[i].kind, kind) == 0)
            return &r->f[i];
    return NULL;
}

size_t count(const struct rec *r, const char *kind)
{
    size_t n = 0;

    for (size_t i = 0; i < r->nf; i++)
        n += strcmp(r->f[i].kind, kind) == 0;
    return n;
}

void has(const struct rec *r, const char *kind, enum mt_severity sev)
{
    const struct mt_finding *f = find(r, kind);

    if (f == NULL) {
        print_error("missing finding %s\n%s", kind, r->dump);
        fail();
    }
    if (f->severity != sev) {
        print_error("finding %s: severity %s, want %s\n%s", kind,
                    mt_severity_name(f->severity), mt_severity_name(sev), r->dump);
        fail();
    }
}

void has_one(const struct rec *r, const char *kind, enum mt_severity sev)
{
    has(r, kind, sev);
    assert_int_equal(count(r, kind), 1);
}

void hasnt(const struct rec *r, const char *kind)
{
    if (find(r, kind) != NULL) {
        print_error("unexpected finding %s\n%s", kind, r->dump);
        fail();
    }
}

void evidence(const struct rec *r, const char *kind, const char *needle)
{
    const struct mt_finding *f = find(r, kind);

    assert_non_null(f);
    if (strstr(f->evidence, needle) == NULL) {
        print_error("evidence of %s is [%s], want [%s] in it\n", kind, f->evidence, needle);
        fail();
    }
}

void prot(const struct rec *r, enum mt_protection p)
{
    if (r->sess.protection != p) {
        print_error("protection %s, want %s\n%s",
                    mt_protection_name(r->sess.protection), mt_protection_name(p),
                    r->dump);
        fail();
    }
}

int contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}
