/*
 * smtp_cmd.c — the client side: command table, command-line parsing, the
 * FIFO of commands waiting for their reply, and resolving a hold without
 * its reply (see smtp_int.h).
 *
 * A command takes effect when its reply arrives (smtp_reply.c); what is
 * done here at send time is only what the bytes themselves expose
 * (envelope, credentials, content) and the bookkeeping the reply needs.
 */
#include <stdlib.h>
#include <string.h>
#include "escape.h"
#include "smtp_int.h"

/* Command flags. */
#define CF_RESTRICTED 0x01u     /* RFC 2920: must end a pipelined group     */
#define CF_CARRY_ON   0x02u     /* "the client carried on" (offered-not-used) */
#define CF_DATA_CARRIER 0x04u   /* evidence shows the verb only             */

typedef void (*send_fn)(struct dis_session *s, struct span arg, double ts,
                        uint64_t chunk, struct pending *e);

struct cmd_def {
    const char *verb;           /* NULL: not a verb of its own              */
    uint8_t flags;
    send_fn send;
};

static void send_helo(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_mail(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_rcpt(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_data(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_bdat(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_rset(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_quit(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_vrfy(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_starttls(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_auth(struct dis_session *, struct span, double, uint64_t, struct pending *);
static void send_xclient(struct dis_session *, struct span, double, uint64_t, struct pending *);

static const struct cmd_def cmds[CMD_COUNT] = {
    [CMD_HELO]     = { "HELO", 0, send_helo },
    [CMD_EHLO]     = { "EHLO", CF_RESTRICTED, send_helo },
    [CMD_LHLO]     = { "LHLO", CF_RESTRICTED, send_helo },
    [CMD_MAIL]     = { "MAIL", CF_CARRY_ON | CF_DATA_CARRIER, send_mail },
    [CMD_RCPT]     = { "RCPT", CF_CARRY_ON | CF_DATA_CARRIER, send_rcpt },
    [CMD_DATA]     = { "DATA", CF_RESTRICTED | CF_CARRY_ON, send_data },
    [CMD_BDAT]     = { "BDAT", CF_CARRY_ON | CF_DATA_CARRIER, send_bdat },
    [CMD_RSET]     = { "RSET", 0, send_rset },
    [CMD_QUIT]     = { "QUIT", CF_RESTRICTED | CF_CARRY_ON, send_quit },
    [CMD_NOOP]     = { "NOOP", CF_RESTRICTED, NULL },
    [CMD_VRFY]     = { "VRFY", CF_RESTRICTED | CF_CARRY_ON | CF_DATA_CARRIER, send_vrfy },
    [CMD_EXPN]     = { "EXPN", CF_RESTRICTED | CF_CARRY_ON | CF_DATA_CARRIER, send_vrfy },
    [CMD_HELP]     = { "HELP", 0, NULL },
    [CMD_STARTTLS] = { "STARTTLS", 0, send_starttls },
    [CMD_AUTH]     = { "AUTH", CF_CARRY_ON | CF_DATA_CARRIER, send_auth },
    [CMD_XCLIENT]  = { "XCLIENT", CF_DATA_CARRIER, send_xclient },
    [CMD_XFORWARD] = { "XFORWARD", CF_DATA_CARRIER, send_xclient },
    [CMD_TURN]     = { "TURN", CF_RESTRICTED | CF_CARRY_ON, NULL },
    [CMD_ETRN]     = { "ETRN", CF_CARRY_ON, NULL },
};

const char *smtp_cmd_name(enum cmd_id id)
{
    switch (id) {
    case CMD_MASKED:   return "masked command";
    case CMD_BDAT_BAD: return "BDAT";
    case CMD_SASL:     return "SASL response";
    case CMD_EOD:      return "end of data";
    default:
        break;
    }
    if ((unsigned)id < CMD_COUNT && cmds[id].verb != NULL)
        return cmds[id].verb;
    return "unknown command";
}

/* Verb (first token) to command id; CMD_UNKNOWN when not in the table. */
static enum cmd_id verb_lookup(struct span verb)
{
    for (unsigned i = 1; i < CMD_COUNT; i++)
        if (cmds[i].verb != NULL && span_eq_ci(verb, cmds[i].verb))
            return (enum cmd_id)i;
    return CMD_UNKNOWN;
}

int smtp_verb_known(struct span verb)
{
    return verb_lookup(verb) != CMD_UNKNOWN;
}

/* A verb of >= 4 'X' then anything: what ASA/PIX inspection writes over a
 * command it does not allow. */
static int verb_masked(struct span verb)
{
    size_t x = 0;

    while (x < verb.len && (verb.p[x] == 'X' || verb.p[x] == 'x'))
        x++;
    return x >= 4;
}

/* Parses a decimal uint64 (digits only, no sign); -1 when not one. */
static int parse_u64(struct span t, uint64_t *out)
{
    uint64_t v = 0;

    if (t.len == 0)
        return -1;
    for (size_t i = 0; i < t.len; i++) {
        unsigned d;

        if (t.p[i] < '0' || t.p[i] > '9')
            return -1;
        d = (unsigned)(t.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/*
 * Strict shape test used where a line's meaning must be guessed (mid-stream
 * start, a DATA hold resolved without its reply): a known verb whose
 * arguments have the expected shape, so that body text ("Data follows...")
 * is not taken for a command.
 */
int smtp_looks_like_command(struct span line)
{
    struct span rest, verb = span_token(line, &rest);
    enum cmd_id id = verb_lookup(verb);
    uint64_t n;

    if (verb.len == 0 || verb.p != line.p)
        return 0;
    rest = span_trim(rest);
    switch (id) {
    case CMD_DATA: case CMD_QUIT: case CMD_RSET: case CMD_NOOP:
    case CMD_STARTTLS: case CMD_TURN:
        return rest.len == 0;
    case CMD_HELO: case CMD_EHLO: case CMD_LHLO: {
        struct span more;

        span_token(rest, &more);
        return rest.len > 0 && more.len == 0;
    }
    case CMD_MAIL:
        return span_starts_ci(rest, "FROM:");
    case CMD_RCPT:
        return span_starts_ci(rest, "TO:");
    case CMD_AUTH: {
        struct span mech = span_token(rest, NULL);

        return sasl_mech_parse(mech.p, mech.len) != SASL_UNKNOWN;
    }
    case CMD_BDAT:
        return parse_u64(span_token(rest, NULL), &n) == 0;
    case CMD_VRFY: case CMD_EXPN: case CMD_ETRN: case CMD_XCLIENT:
    case CMD_XFORWARD:
        return rest.len > 0;
    case CMD_HELP:
        return 1;
    default:
        return 0;
    }
}

/* ---- FIFO ------------------------------------------------------------------------ */

static struct pending *fifo_at(struct dis_session *s, unsigned i)
{
    return &s->q[(s->qhead + i) % s->qcap];
}

struct pending *smtp_fifo_tail(struct dis_session *s)
{
    return s->qlen ? fifo_at(s, s->qlen - 1) : NULL;
}

int smtp_fifo_peek(const struct dis_session *s, struct pending *e)
{
    if (s->qlen == 0)
        return 0;
    *e = s->q[s->qhead];
    return 1;
}

/* Doubles the ring (up to DIS_PENDING_MAX); -1 when it cannot grow. */
static int fifo_grow(struct dis_session *s)
{
    unsigned cap = s->qcap ? s->qcap * 2 : SMTP_FIFO_MIN;
    struct pending *nq;

    if (s->qcap >= DIS_PENDING_MAX)
        return -1;
    if (cap > DIS_PENDING_MAX)
        cap = DIS_PENDING_MAX;
    nq = calloc(cap, sizeof *nq);
    if (nq == NULL)
        return -1;
    for (unsigned i = 0; i < s->qlen; i++)
        nq[i] = *fifo_at(s, i);
    free(s->q);
    s->q = nq;
    s->qcap = cap;
    s->qhead = 0;
    return 0;
}

/*
 * Queues a command; takes over e->msg's reference.  Consecutive RCPTs of
 * one transaction share an entry (count).  When the FIFO is full the
 * oldest entry is dropped and its replies are skipped by count
 * (q_dropped), so replies stay matched in order.
 */
int smtp_fifo_push(struct dis_session *s, const struct pending *e)
{
    struct pending *t = smtp_fifo_tail(s);

    if (e->cmd == CMD_RCPT && t != NULL && t->cmd == CMD_RCPT &&
        t->msg == e->msg && t->count < UINT32_MAX) {
        t->count++;
        if (e->msg != NULL)
            smtp_msg_unref(s, e->msg);
        return 0;
    }
    if (s->qlen == s->qcap && fifo_grow(s) != 0) {
        struct pending old;

        if (s->qcap == 0) {             /* no memory at all */
            struct pending tmp = *e;

            smtp_pending_drop(s, &tmp);
            s->q_dropped++;
            return -1;
        }
        old = s->q[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        /* its replies are skipped by count; one being read now is one */
        if (s->rep.active && s->rep.kind == RK_PENDING)
            s->rep.kind = RK_DROPPED;
        s->q_dropped += old.count;
        smtp_pending_drop(s, &old);
    }
    *fifo_at(s, s->qlen) = *e;
    fifo_at(s, s->qlen)->gapno = s->cli_gaps;
    s->qlen++;
    return 0;
}

/*
 * Takes the reply's command off the head.  For an entry expecting several
 * replies a borrowed copy is returned (its msg is not owned).
 */
int smtp_fifo_take(struct dis_session *s, struct pending *e)
{
    struct pending *h;

    if (s->qlen == 0)
        return 0;
    h = &s->q[s->qhead];
    if (h->count > 1) {
        *e = *h;
        e->count = 1;
        e->flags |= PE_BORROWED;
        h->count--;
        h->aux++;
        return 1;
    }
    *e = *h;
    memset(h, 0, sizeof *h);
    s->qhead = (s->qhead + 1) % s->qcap;
    s->qlen--;
    return 1;
}

/* Releases what a taken entry owns. */
void smtp_pending_drop(struct dis_session *s, struct pending *e)
{
    if (!(e->flags & PE_BORROWED) && e->msg != NULL)
        smtp_msg_unref(s, e->msg);
    e->msg = NULL;
}

/* Forgets every pending command (gap / end): messages they kept alive are
 * released (and emitted with what is known). */
void smtp_fifo_clear(struct dis_session *s)
{
    while (s->qlen > 0) {
        struct pending e = s->q[s->qhead];

        memset(&s->q[s->qhead], 0, sizeof s->q[0]);
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        smtp_pending_drop(s, &e);
    }
    s->q_dropped = 0;
    if (s->rep.active && s->rep.kind != RK_GREETING)
        s->rep.kind = RK_UNSOLICITED;
    s->pl_chunk = 0;
}

void smtp_fifo_free(struct dis_session *s)
{
    free(s->q);
    s->q = NULL;
    s->qcap = s->qlen = s->qhead = 0;
}

/* ---- address parsing ------------------------------------------------------------- */

/*
 * Splits "FROM:<addr> params" (prefix is "FROM:" or "TO:"), tolerating
 * spaces after the colon, no brackets, quoted local parts with '>' inside.
 */
static void parse_path(struct span arg, const char *prefix, struct span *addr,
                       struct span *params)
{
    struct span a = span_trim(arg);
    size_t n = strlen(prefix), i;

    if (span_starts_ci(a, prefix)) {
        a.p += n;
        a.len -= n;
    } else {
        /* "FROM <a>" or "FROM : <a>": the word, then an optional ':' */
        struct span rest, w = span_token(a, &rest);
        int same = w.len == n - 1;

        for (i = 0; same && i < w.len; i++)
            if (span_ascii_lower(w.p[i]) != span_ascii_lower((unsigned char)prefix[i]))
                same = 0;
        if (same) {
            a = rest;
            if (a.len > 0 && a.p[0] == ':') {
                a.p++;
                a.len--;
            }
        }
    }
    a = span_trim(a);
    if (a.len > 0 && a.p[0] == '<') {
        int quote = 0;

        for (i = 1; i < a.len; i++) {
            if (quote && a.p[i] == '\\' && i + 1 < a.len) {
                i++;
                continue;
            }
            if (a.p[i] == '"')
                quote = !quote;
            else if (!quote && a.p[i] == '>')
                break;
        }
        if (i < a.len) {
            *addr = span_make(a.p + 1, i - 1);
            *params = span_trim(span_make(a.p + i + 1, a.len - i - 1));
            return;
        }
        *addr = span_token(span_make(a.p + 1, a.len - 1), params);
        return;
    }
    *addr = span_token(a, params);
}

/* 1 when the space-separated params contain word (case-insensitive, also
 * as "word=..."). */
static int params_have(struct span params, const char *word)
{
    struct span rest = params;
    size_t n = strlen(word);

    while (rest.len > 0) {
        struct span t = span_token(rest, &rest);

        if (t.len == 0)
            break;
        if (span_eq_ci(t, word) ||
            (t.len > n && span_starts_ci(t, word) && t.p[n] == '='))
            return 1;
    }
    return 0;
}

static void envelope_exposed(struct dis_session *s, double ts)
{
    if (!s->out.exposed_envelope)
        s->env_ts = ts;
    s->out.exposed_envelope = 1;
}

/* ---- send handlers ----------------------------------------------------------------- */

static void send_helo(struct dis_session *s, struct span arg, double ts,
                      uint64_t chunk, struct pending *e)
{
    const char *verb = cmds[e->cmd].verb;
    struct span t = span_trim(arg);

    (void)chunk;
    (void)ts;
    memcpy(s->out.helo_verb, verb, strlen(verb) + 1);
    smtp_esc(s->out.helo, sizeof s->out.helo, t.p, t.len);
    s->helo_sent = 1;
    if (e->cmd == CMD_LHLO)
        s->lmtp = 1;
    smtp_txn_end(s, e);
}

static void send_mail(struct dis_session *s, struct span arg, double ts,
                      uint64_t chunk, struct pending *e)
{
    struct span addr, params;
    struct smtp_msg *m;

    (void)chunk;
    parse_path(arg, "FROM:", &addr, &params);
    envelope_exposed(s, ts);
    s->n_mail++;
    if (params_have(params, "REQUIRETLS"))
        smtp_finding(s, FK_REQUIRETLS_IN_CLEARTEXT, MT_SEV_MEDIUM, ts, 0, -1,
                     "MAIL FROM parameter REQUIRETLS sent in cleartext");
    smtp_txn_end(s, e);
    m = smtp_msg_new(s, ts);
    if (m != NULL) {
        smtp_esc(m->mail_from, sizeof m->mail_from, addr.p, addr.len);
        m->mail_from_seen = 1;
        m->lmtp = s->lmtp;
        s->txn = m;
    }
}

static void send_rcpt(struct dis_session *s, struct span arg, double ts,
                      uint64_t chunk, struct pending *e)
{
    struct span addr, params;

    (void)chunk;
    parse_path(arg, "TO:", &addr, &params);
    envelope_exposed(s, ts);
    s->n_rcpt++;
    if (s->txn != NULL) {
        e->aux = s->txn->rcpt_count;
        smtp_msg_add_rcpt(s, s->txn, addr);
        e->msg = smtp_msg_ref(s->txn);
    }
}

static void send_data(struct dis_session *s, struct span arg, double ts,
                      uint64_t chunk, struct pending *e)
{
    (void)arg;
    (void)chunk;
    e->flags |= PE_HOLD;
    if (s->txn != NULL) {
        if (!s->txn->content_cmd) {
            s->txn->content_cmd = 1;
            s->txn->method = MT_METHOD_DATA;
            s->txn->ts = ts;
        }
        e->msg = smtp_msg_ref(s->txn);
    }
}

static void send_bdat(struct dis_session *s, struct span arg, double ts,
                      uint64_t chunk, struct pending *e)
{
    struct span rest, num = span_token(arg, &rest), last;
    uint64_t n = 0;
    struct smtp_msg *m;
    int is_last = 0;

    (void)chunk;
    last = span_trim(rest);
    if (last.len > 0) {
        if (span_eq_ci(last, "LAST"))
            is_last = 1;
        else
            num.len = 0;                /* junk after the size: not valid */
    }
    if (parse_u64(num, &n) != 0) {
        char ev[32];

        smtp_esc(ev, sizeof ev, num.p, num.len < 20 ? num.len : 20);
        smtp_finding(s, FK_SMTP_MALFORMED_COMMAND, MT_SEV_LOW, ts, 0, -1,
                     "BDAT with an invalid chunk size \"%s\" (taken as a command line)",
                     ev);
        e->cmd = CMD_BDAT_BAD;
        return;
    }
    m = s->txn;
    if (m == NULL) {
        m = smtp_msg_new(s, ts);
        if (m == NULL) {
            s->bdat_left = n;
            s->bdat_last = is_last;
            smtp_cli_mode(s, CM_BDAT);
            return;
        }
        m->lmtp = s->lmtp;
        s->txn = m;
    }
    smtp_content_start(s, m, MT_METHOD_BDAT, ts);
    e->msg = smtp_msg_ref(m);
    if (is_last)
        e->flags |= PE_LAST;
    if (s->cmsg != NULL)
        smtp_msg_unref(s, s->cmsg);
    s->cmsg = smtp_msg_ref(m);
    s->bdat_left = n;
    s->bdat_last = is_last;
    smtp_cli_mode(s, CM_BDAT);
    if (n == 0)
        smtp_bdat_chunk_done(s, ts);
}

static void send_rset(struct dis_session *s, struct span arg, double ts,
                      uint64_t chunk, struct pending *e)
{
    (void)arg;
    (void)ts;
    (void)chunk;
    smtp_txn_end(s, e);
}

static void send_quit(struct dis_session *s, struct span arg, double ts,
                      uint64_t chunk, struct pending *e)
{
    (void)arg;
    (void)ts;
    (void)chunk;
    (void)e;
    s->quit_sent = 1;
}

static void send_vrfy(struct dis_session *s, struct span arg, double ts,
                      uint64_t chunk, struct pending *e)
{
    (void)chunk;
    (void)e;
    if (span_trim(arg).len > 0) {
        envelope_exposed(s, ts);
        s->n_vrfy++;
    }
}

static void send_starttls(struct dis_session *s, struct span arg, double ts,
                          uint64_t chunk, struct pending *e)
{
    (void)arg;
    (void)ts;
    s->out.starttls_requested = 1;
    s->inj_chunk = chunk;
    e->flags |= PE_HOLD;
}

static void send_auth(struct dis_session *s, struct span arg, double ts,
                      uint64_t chunk, struct pending *e)
{
    (void)chunk;
    smtp_auth_command(s, arg, ts, e);
}

/* XCLIENT / XFORWARD: attribute names only (values are identities). */
static void send_xclient(struct dis_session *s, struct span arg, double ts,
                         uint64_t chunk, struct pending *e)
{
    char names[160];
    size_t w = 0;
    int login = 0, more = 0;
    struct span rest = arg;

    (void)chunk;
    names[0] = '\0';
    while (rest.len > 0) {
        struct span t = span_token(rest, &rest), name;
        const uint8_t *eq;
        char esc[40], up[24];
        size_t k, el;

        if (t.len == 0)
            break;
        eq = memchr(t.p, '=', t.len);
        name = span_make(t.p, eq ? (size_t)(eq - t.p) : t.len);
        if (span_eq_ci(name, "LOGIN"))
            login = 1;
        k = name.len < sizeof up ? name.len : sizeof up;
        for (size_t i = 0; i < k; i++) {
            int c = name.p[i];

            up[i] = (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
        }
        smtp_esc(esc, sizeof esc, (const uint8_t *)up, k);
        el = strlen(esc);
        if (w + el + 2 < sizeof names) {
            names[w++] = ' ';
            memcpy(names + w, esc, el + 1);
            w += el;
        } else {
            more = 1;
        }
    }
    smtp_finding(s, FK_XCLIENT_XFORWARD_CLEARTEXT, MT_SEV_LOW, ts, 0, -1,
                 "%s%s%s in cleartext%s", cmds[e->cmd].verb, names,
                 more ? " ..." : "", login ? " (LOGIN attribute present)" : "");
}

/* ---- command lines ------------------------------------------------------------------ */

/* Escaped excerpt of a client line for evidence: only the verb for
 * commands that carry addresses or credentials. */
static void line_excerpt(char *dst, size_t dstsz, struct span line)
{
    struct span verb = span_token(line, NULL);
    enum cmd_id id = verb_lookup(verb);

    if (id != CMD_UNKNOWN && (cmds[id].flags & CF_DATA_CARRIER)) {
        smtp_esc(dst, dstsz, verb.p, verb.len);
        return;
    }
    smtp_excerpt(dst, dstsz, line.p, line.len);
}

/* A non-TLS line sent after STARTTLS and before its 220 (C1). */
static void inject_line(struct dis_session *s, struct span line, double ts,
                        uint64_t chunk)
{
    if (!s->inj_seen) {
        s->inj_seen = 1;
        s->inj_ts = ts;
        line_excerpt(s->inj_text, sizeof s->inj_text, line);
    }
    if (chunk != 0 && chunk == s->inj_chunk)
        s->inj_strong = 1;
}

/* Raises starttls_command_injection once the injected bytes are known. */
void smtp_inject_flush(struct dis_session *s)
{
    if (!s->inj_seen)
        return;
    if (s->inj_strong)
        smtp_finding(s, FK_STARTTLS_COMMAND_INJECTION, MT_SEV_CRITICAL, s->inj_ts,
                     0, -1, "STARTTLS followed in the same segment by: %s",
                     s->inj_text);
    else
        smtp_finding(s, FK_STARTTLS_COMMAND_INJECTION, MT_SEV_HIGH, s->inj_ts, 0,
                     -1, "STARTTLS followed before its reply by: %s",
                     s->inj_text);
    s->inj_seen = 0;
}

/* The injection ends with a partial line (no LF yet) when the 220
 * arrives: those bytes were sent before it too. */
static void inject_partial(struct dis_session *s, double ts)
{
    struct lbuf *lb = &s->lb[R_CLI];

    if (lb->len == 0 || lb->discard)
        return;
    if (lb->len < 3 && smtp_tls_candidate(lb->buf[0]))
        return;                         /* maybe the start of a record */
    inject_line(s, span_make(lb->buf, lb->len), ts, s->last_chunk);
    smtp_lbuf_reset(lb, 1);
}

/* After the STARTTLS 220 (or a hold resolved as committed to TLS) the
 * held bytes were replayed; what remains waits for TLS. */
void smtp_after_inject(struct dis_session *s, double ts, int got_220)
{
    if (s->cmode != CM_INJECT)
        return;
    inject_partial(s, ts);
    if (got_220)
        smtp_cli_mode(s, CM_TLSWAIT);
}

static void command_line(struct dis_session *s, struct span line, double ts,
                         uint64_t chunk)
{
    struct span rest, verb = span_token(line, &rest);
    enum cmd_id id = verb_lookup(verb);
    struct pending e;

    if (id == CMD_UNKNOWN && verb_masked(verb)) {
        id = CMD_MASKED;
        smtp_esc(s->masked_verb, sizeof s->masked_verb, verb.p,
                 verb.len < 16 ? verb.len : 16);
    }
    memset(&e, 0, sizeof e);
    e.cmd = (uint8_t)id;
    e.count = 1;
    e.chunk = chunk;
    e.ts = ts;
    if (cmds[id].flags & CF_RESTRICTED)
        e.flags |= PE_RESTRICTED;
    /* After the STARTTLS 220 the client should have sent TLS: its cleartext
     * commands there are non_tls_after_starttls_220, not a pipelining
     * matter as well. */
    if (chunk != 0 && s->pl_chunk == chunk && !s->post220)
        smtp_finding(s, FK_PIPELINING_ORDER_VIOLATION, MT_SEV_LOW, ts, 0, -1,
                     "%s followed by %s in the same segment before its reply",
                     smtp_cmd_name((enum cmd_id)s->pl_cmd), smtp_cmd_name(id));
    if (id != CMD_UNKNOWN && id != CMD_MASKED)
        s->is_smtp = 1;
    if (!s->cli_clear_cmd) {
        s->cli_clear_cmd = 1;
        s->first_clear_ts = ts;
    }
    s->cli_cmds++;
    if ((cmds[id].flags & CF_CARRY_ON) && !s->carried_on) {
        s->carried_on = 1;
        s->carried_ts = ts;
    }
    if (s->post220 && (id == CMD_AUTH || id == CMD_MAIL || id == CMD_RCPT ||
                       id == CMD_DATA || id == CMD_BDAT))
        s->post220_crit = 1;
    if (cmds[id].send != NULL)
        cmds[id].send(s, rest, ts, chunk, &e);
    if (e.cmd == CMD_NONE)
        return;
    if (e.flags & PE_RESTRICTED) {
        s->pl_chunk = chunk;
        s->pl_cmd = e.cmd;
    }
    smtp_fifo_push(s, &e);
    if (e.flags & PE_HOLD)
        smtp_hold_start(s, (enum cmd_id)e.cmd, chunk, ts);
}

/*
 * One client line (CR/LF removed) in a line mode; raw is the line with its
 * CRs (for content fed to a body tracker, plus the LF).
 */
void smtp_cli_line(struct dis_session *s, struct span line, struct span raw,
                   double ts, uint64_t chunk)
{
    switch (s->cmode) {
    case CM_SKIP:
        return;
    case CM_INJECT:
        inject_line(s, line, ts, chunk);
        return;
    case CM_MIDSTART:
        if (!smtp_looks_like_command(line)) {
            size_t used = 0;

            smtp_cli_mode(s, CM_MIDBODY);
            smtp_spec_feed(s, raw.p, raw.len, ts, &used);
            if (s->cmode == CM_MIDBODY)
                smtp_spec_feed(s, (const uint8_t *)"\n", 1, ts, &used);
            return;
        }
        smtp_cli_mode(s, CM_CMD);
        break;
    case CM_TLSWAIT: {
        struct span v = span_token(line, NULL);

        if (!s->post220) {
            s->post220 = 1;
            s->post220_ts = ts;
            smtp_esc(s->post220_verb, sizeof s->post220_verb, v.p,
                     v.len < 16 ? v.len : 16);
        }
        smtp_cli_mode(s, CM_CMD);
        break;
    }
    default:
        break;
    }
    if (s->sasl_expect) {
        smtp_auth_sasl_line(s, line, ts, chunk);
        return;
    }
    command_line(s, line, ts, chunk);
}

/* ---- holds resolved without the reply ----------------------------------------------- */

/*
 * The reply to the hold's trigger has not come and cannot be waited for:
 * the hold overflowed (at_end 0) or the capture ended (at_end 1).  The
 * held bytes are taken as what the client committed to:
 *   DATA      content (unless, at the end, the first line is a clear
 *             command: then the DATA was refused / abandoned)
 *   STARTTLS  TLS when they start with a record; otherwise bytes sent
 *             before the reply (injection), or — in a capture without any
 *             server bytes — ordinary commands
 *   AUTH/SASL SASL responses while the mechanism expects more, then commands
 * The trigger's FIFO entry is marked PE_BLIND so that a late reply only
 * records its code.
 */
void smtp_hold_blind(struct dis_session *s, int at_end)
{
    struct pending *t = smtp_fifo_tail(s);
    enum cmd_id trig = (enum cmd_id)s->hold.trigger;
    double ts = s->hold.trig_ts;

    if (!s->hold_on)
        return;
    if (t != NULL && (t->flags & PE_HOLD) && t->cmd == trig)
        t->flags |= PE_BLIND;
    switch (trig) {
    case CMD_DATA: {
        struct span l;
        struct smtp_msg *m;

        if (at_end && smtp_hold_first_line(s, &l) && smtp_looks_like_command(l)) {
            smtp_hold_release(s, CM_CMD);
            return;
        }
        m = s->txn;
        if (m == NULL) {
            m = smtp_msg_new(s, ts);
            if (m == NULL) {
                smtp_hold_release(s, CM_SKIP);
                return;
            }
            m->lmtp = s->lmtp;
            s->txn = m;
        }
        if (!m->content_cmd) {
            m->content_cmd = 1;
            m->method = MT_METHOD_DATA;
            m->ts = ts;
        }
        smtp_content_start(s, m, MT_METHOD_DATA, ts);
        if (s->cmsg != NULL)
            smtp_msg_unref(s, s->cmsg);
        s->cmsg = smtp_msg_ref(m);
        smtp_hold_release(s, CM_BODY);
        return;
    }
    case CMD_STARTTLS: {
        enum tls_peek k = smtp_hold_peek(s);
        int tls = k != TLS_PEEK_NEED_MORE && k != TLS_PEEK_NOT_TLS;
        int srv_silent = s->client >= 0 && s->side_bytes[1 - s->client] == 0;

        if (tls)
            s->unanswered_tls = 1;
        if (!tls && at_end && srv_silent) {
            smtp_hold_release(s, CM_CMD);
            return;
        }
        smtp_hold_release(s, CM_INJECT);
        smtp_after_inject(s, ts, 0);
        smtp_inject_flush(s);
        return;
    }
    case CMD_AUTH:
    case CMD_SASL:
        s->sasl_expect = smtp_auth_expects_more(s);
        smtp_hold_release(s, CM_CMD);
        return;
    default:
        smtp_hold_release(s, CM_CMD);
        return;
    }
}
