/*
 * smtp_reply.c — the server side: reply lines, multi-line replies, the
 * greeting, EHLO keywords, and the reply-driven transitions: every client
 * command takes effect here, when its (final) reply line arrives.
 *
 * Reply lines are "NNN-text" (continued) or "NNN text" / "NNN" (final).
 * The command a reply answers is the FIFO head when its first line
 * arrives; the greeting is the first reply of a connection picked up from
 * its start.  A line that is not a reply line is reported once
 * (smtp_malformed_reply) and skipped.
 */
#include <string.h>
#include "smtp_int.h"

typedef void (*reply_fn)(struct dis_session *s, struct pending *e, int code,
                         double ts);

/* ---- parsing ------------------------------------------------------------------- */

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* "NNN[ -]text" or "NNN".  Returns 0 when line is not a reply line. */
static int parse_reply(struct span line, int *code, int *final, struct span *text)
{
    if (line.len < 3 || line.p[0] < '1' || line.p[0] > '5' ||
        !is_digit(line.p[1]) || !is_digit(line.p[2]))
        return 0;
    *code = (line.p[0] - '0') * 100 + (line.p[1] - '0') * 10 + (line.p[2] - '0');
    if (line.len == 3) {
        *final = 1;
        *text = span_make(line.p + 3, 0);
        return 1;
    }
    if (line.p[3] == ' ')
        *final = 1;
    else if (line.p[3] == '-')
        *final = 0;
    else
        return 0;
    *text = span_make(line.p + 4, line.len - 4);
    return 1;
}

/* 1 when p starts with a reply line's "NNN " or "NNN-" (n >= 4). */
int smtp_reply_prefix(const uint8_t *p, size_t n)
{
    return n >= 4 && p[0] >= '1' && p[0] <= '5' && is_digit(p[1]) &&
           is_digit(p[2]) && (p[3] == ' ' || p[3] == '-');
}

void smtp_reply_reset(struct dis_session *s)
{
    s->rep.active = 0;
    s->rep.nlines = 0;
    s->rep.ehlo = 0;
}

/* ---- greeting, EHLO keywords ------------------------------------------------------- */

/* Banner of "220 ****0***2***" style: mostly '*' (PIX/ASA mask-banner). */
static void banner_check(struct dis_session *s, struct span text, double ts)
{
    size_t stars = 0, other = 0;

    for (size_t i = 0; i < text.len; i++) {
        if (text.p[i] == '*')
            stars++;
        else if (text.p[i] != ' ' && text.p[i] != '\t')
            other++;
    }
    if (stars >= 4 && stars >= other) {
        char ev[64];

        smtp_excerpt(ev, sizeof ev, text.p, text.len);
        smtp_finding(s, FK_SMTP_BANNER_MASKED, MT_SEV_LOW, ts, 0, -1,
                     "greeting text masked: \"%s\"", ev);
    }
}

/* Appends one keyword (upper case, escaped) to ehlo_keywords. */
static void keyword_store(struct dis_session *s, struct span kw)
{
    char *dst = s->out.ehlo_keywords;
    uint8_t up[SMTP_KW_TOKEN_MAX];
    char esc[MT_STR];
    size_t k = kw.len < sizeof up ? kw.len : sizeof up, have, el;

    for (size_t i = 0; i < k; i++) {
        uint8_t c = kw.p[i];

        up[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
    }
    smtp_esc(esc, sizeof esc, up, k);
    have = strlen(dst);
    el = strlen(esc);
    if (el == 0 || have + el + (have ? 1 : 0) + 1 > sizeof s->out.ehlo_keywords)
        return;
    if (have)
        dst[have++] = ' ';
    memcpy(dst + have, esc, el + 1);
}

/* One keyword line (lines 2..n) of a 2xx reply to EHLO/LHLO, in clear. */
static void ehlo_keyword(struct dis_session *s, struct span text, double ts)
{
    struct span rest, kw = span_token(text, &rest);
    size_t x = 0;
    char ev[96];

    if (kw.len == 0)
        return;
    s->kw_lines++;
    if (span_eq_ci(kw, "STARTTLS"))
        s->out.starttls_offered = 1;
    while (x < kw.len && (kw.p[x] == 'X' || kw.p[x] == 'x'))
        x++;
    if (x >= 4) {
        smtp_esc(ev, sizeof ev, kw.p, kw.len < 24 ? kw.len : 24);
        if (kw.len == 8) {
            s->token_masked = 1;
            smtp_finding(s, FK_STARTTLS_TOKEN_MASKED, MT_SEV_CRITICAL, ts, 0, -1,
                         "EHLO reply keyword \"%s\": STARTTLS overwritten in transit",
                         ev);
        } else
            smtp_finding(s, FK_EHLO_KEYWORDS_MASKED, MT_SEV_LOW, ts, 0, -1,
                         "EHLO reply keyword \"%s\" masked in transit", ev);
    }
    if (span_eq_ci(kw, "AUTH") || span_starts_ci(kw, "AUTH=")) {
        struct span r = rest, m;
        int weak = 0;

        if (kw.len > 5) {               /* legacy "AUTH=PLAIN LOGIN" */
            m = span_make(kw.p + 5, kw.len - 5);
            weak |= span_eq_ci(m, "PLAIN") || span_eq_ci(m, "LOGIN");
        }
        while (r.len > 0) {
            m = span_token(r, &r);
            if (m.len == 0)
                break;
            weak |= span_eq_ci(m, "PLAIN") || span_eq_ci(m, "LOGIN");
        }
        if (weak) {
            smtp_esc(ev, sizeof ev, text.p, text.len < 60 ? text.len : 60);
            smtp_finding(s, FK_PLAINTEXT_AUTH_OFFERED, MT_SEV_MEDIUM, ts, 0, -1,
                         "EHLO reply offers \"%s\" before TLS", ev);
        }
    }
    if (span_eq_ci(kw, "REQUIRETLS"))
        smtp_finding(s, FK_REQUIRETLS_IN_CLEARTEXT, MT_SEV_MEDIUM, ts, 0, -1,
                     "REQUIRETLS keyword in a cleartext EHLO reply");
    if (s->kw_lines <= DIS_REPLY_LINES_MAX)
        keyword_store(s, kw);
}

/* ---- reply handlers ----------------------------------------------------------------- */

static void reply_helo(struct dis_session *s, struct pending *e, int code, double ts)
{
    (void)e;
    if (code / 100 != 2)
        return;
    if (!s->helo_ok)
        s->helo_ts = ts;
    s->helo_ok = 1;
    if (s->ehlo_rejected && e->cmd == CMD_HELO)
        smtp_finding(s, FK_EHLO_REJECTED_HELO_FALLBACK, MT_SEV_MEDIUM, ts, 0, -1,
                     "EHLO answered %d, then HELO accepted: no extensions, no STARTTLS",
                     s->ehlo_rejected);
}

static void reply_ehlo(struct dis_session *s, struct pending *e, int code, double ts)
{
    if (e->cmd == CMD_HELO) {
        reply_helo(s, e, code, ts);
        return;
    }
    if (code / 100 == 2) {
        if (!s->ehlo_ok)
            s->ehlo_ts = ts;
        s->ehlo_ok = 1;
    } else if (code / 100 == 5) {
        s->ehlo_rejected = code;
    }
}

static void reply_rcpt(struct dis_session *s, struct pending *e, int code, double ts)
{
    struct smtp_msg *m = e->msg;

    (void)s;
    (void)ts;
    if (m == NULL)
        return;
    if (m->rcpts != NULL && e->aux < m->n_rcpts)
        m->rcpts[e->aux].reply_code = code;
    if (code / 100 == 2 && m->rcpt_ok < UINT32_MAX)
        m->rcpt_ok++;
}

/* LMTP: the server answers the content once per accepted recipient; the
 * first reply is the message's, the others are skipped. */
static void lmtp_extra(struct dis_session *s, const struct smtp_msg *m)
{
    if (m->lmtp && m->rcpt_ok > 1)
        s->q_dropped += m->rcpt_ok - 1;
}

static void reply_data(struct dis_session *s, struct pending *e, int code, double ts)
{
    struct smtp_msg *m = e->msg;

    if (e->flags & PE_BLIND) {
        /* content was assumed; a refusal still decides the reply code */
        if (m != NULL && code != 354 && !m->emitted) {
            m->reply_code = code;
            m->data_rejected = 1;
        }
        return;
    }
    if (code == 354) {
        if (m == NULL) {
            m = smtp_msg_new(s, e->ts);
            if (m == NULL) {
                smtp_hold_release(s, CM_SKIP);
                return;
            }
            m->lmtp = s->lmtp;
            if (s->txn != NULL)
                smtp_msg_unref(s, s->txn);
            s->txn = m;                 /* the new message's reference */
        }
        if (!m->content_cmd) {
            m->content_cmd = 1;
            m->method = MT_METHOD_DATA;
            m->ts = e->ts;
        }
        smtp_content_start(s, m, MT_METHOD_DATA, e->ts);
        if (s->cmsg != NULL)
            smtp_msg_unref(s, s->cmsg);
        s->cmsg = smtp_msg_ref(m);
        smtp_hold_release(s, CM_BODY);
        return;
    }
    if (m != NULL && !m->emitted) {
        m->reply_code = code;
        m->content_end = 1;             /* nothing was sent, nothing cut */
        smtp_msg_emit(s, m, ts);
    }
    if (m != NULL && s->txn == m) {
        s->txn = NULL;
        smtp_msg_unref(s, m);
    }
    if (e->flags & PE_RESTRICTED)
        s->pl_chunk = e->chunk;         /* commands pipelined behind DATA */
    smtp_hold_release(s, CM_CMD);
}

static void reply_eod(struct dis_session *s, struct pending *e, int code, double ts)
{
    struct smtp_msg *m = e->msg;

    if (m == NULL || m->emitted)
        return;
    m->reply_code = code;
    lmtp_extra(s, m);
    smtp_msg_emit(s, m, ts);
}

static void reply_bdat(struct dis_session *s, struct pending *e, int code, double ts)
{
    struct smtp_msg *m = e->msg;

    if (m == NULL || m->emitted)
        return;
    m->reply_code = code;
    if (e->flags & PE_LAST) {
        lmtp_extra(s, m);
        smtp_msg_emit(s, m, ts);
    }
}

static void reply_starttls(struct dis_session *s, struct pending *e, int code,
                           double ts)
{
    s->out.starttls_reply = code;
    if (code == 220) {
        s->starttls_220 = 1;
        s->unanswered_tls = 0;
        if (s->smode == SM_REPLY)
            smtp_srv_mode(s, SM_TLSWAIT);
        if (!(e->flags & PE_BLIND)) {
            const struct hold *h = &s->hold;

            s->inj_chunk = e->chunk;
            /* text right behind STARTTLS in its own segment: the strong
             * form, even when its line ends in a later segment */
            if (s->hold_on && h->n > 0 && h->it[0].len > 0 &&
                h->it[0].chunk == e->chunk && e->chunk != 0 &&
                !smtp_tls_candidate(h->buf[h->it[0].off]))
                s->inj_strong = 1;
            smtp_hold_release(s, CM_INJECT);
        }
        smtp_after_inject(s, ts, 1);
        smtp_inject_flush(s);
        return;
    }
    if (!s->starttls_refused) {
        s->starttls_refused = 1;
        s->refused_ts = ts;
        s->refused_code = code;
        smtp_excerpt(s->refused_text, sizeof s->refused_text, s->rep.first,
                     s->rep.first_len);
        s->refused_snap = s->n_exposures;
    }
    s->unanswered_tls = 0;
    if (e->flags & PE_BLIND) {
        if (s->cmode == CM_INJECT)
            smtp_cli_mode(s, CM_CMD);
        return;
    }
    smtp_hold_release(s, CM_CMD);
}

static void reply_auth(struct dis_session *s, struct pending *e, int code, double ts)
{
    smtp_auth_reply(s, e, code, ts);
}

/* XCLIENT's 220 is a new greeting (the client EHLOs again), never a TLS
 * go-ahead: nothing changes mode here. */
static void reply_xclient(struct dis_session *s, struct pending *e, int code,
                          double ts)
{
    (void)e;
    (void)ts;
    if (code == 220)
        s->xclient_greeting = 1;
}

static void reply_masked(struct dis_session *s, struct pending *e, int code,
                         double ts)
{
    (void)e;
    if (code == 500 || code == 502) {
        s->token_masked = 1;
        smtp_finding(s, FK_STARTTLS_TOKEN_MASKED, MT_SEV_CRITICAL, ts, 0, -1,
                     "client command \"%s\" answered %d: a command (STARTTLS) "
                     "overwritten in transit", s->masked_verb, code);
    }
}

static const reply_fn reply_table[CMD_COUNT] = {
    [CMD_HELO] = reply_helo,
    [CMD_EHLO] = reply_ehlo,
    [CMD_LHLO] = reply_ehlo,
    [CMD_RCPT] = reply_rcpt,
    [CMD_DATA] = reply_data,
    [CMD_BDAT] = reply_bdat,
    [CMD_STARTTLS] = reply_starttls,
    [CMD_AUTH] = reply_auth,
    [CMD_SASL] = reply_auth,
    [CMD_XCLIENT] = reply_xclient,
    [CMD_MASKED] = reply_masked,
    [CMD_EOD] = reply_eod,
};

/* ---- reply assembly ----------------------------------------------------------------- */

/* Commands no other line protocol of the same shape (FTP, NNTP: 3-digit
 * replies too) uses: a reply to one makes the connection an SMTP dialogue
 * (dis_is_smtp on other ports).  QUIT, NOOP, HELP and RSET are left out,
 * and AUTH counts only with a SASL mechanism FTP does not have (FTP's
 * "AUTH TLS", "AUTH GSSAPI"): see reply_done. */
static int smtp_only_cmd(enum cmd_id c)
{
    switch (c) {
    case CMD_HELO: case CMD_EHLO: case CMD_LHLO: case CMD_MAIL: case CMD_RCPT:
    case CMD_DATA: case CMD_BDAT: case CMD_STARTTLS: case CMD_XCLIENT:
    case CMD_XFORWARD: case CMD_EOD:
        return 1;
    default:
        return 0;
    }
}

/* A reply with no command waiting for it. */
static void unsolicited(struct dis_session *s, int code, double ts)
{
    (void)ts;
    if (code == 421 && s->cmsg != NULL && !s->cmsg->emitted)
        s->cmsg->reply_code = 421;      /* closing while content streams */
}

/* First line of a reply: decides what it answers.  final: it is also the
 * last line. */
static void reply_begin(struct dis_session *s, int code, struct span text,
                        int final, double ts)
{
    int greet;

    s->rep.active = 1;
    s->rep.code = code;
    s->rep.nlines = 0;
    s->rep.ts = ts;
    s->rep.cmd = CMD_NONE;
    s->rep.ehlo = 0;
    s->rep.first_len = text.len < sizeof s->rep.first ? text.len : sizeof s->rep.first;
    if (s->rep.first_len > 0)
        memcpy(s->rep.first, text.p, s->rep.first_len);
    if (!s->midstream && s->gapb[R_SRV] == 0)
        greet = code == 220 || code == 421 || code == 554 || s->qlen == 0;
    else if (!s->midstream)             /* lost bytes: maybe the greeting */
        greet = (code == 220 || code == 421 || code == 554) && s->qlen == 0;
    else
        greet = s->qlen == 0 && code == 220 && s->cli_cmds == 0;
    if (!s->greeting_seen && greet) {
        s->rep.kind = RK_GREETING;
        s->greeting_seen = 1;
        s->greeting_code = code;
        s->greeting_ts = ts;
        smtp_esc(s->out.banner, sizeof s->out.banner, text.p, text.len);
        banner_check(s, text, ts);
    } else if (s->q_dropped > 0) {
        s->rep.kind = RK_DROPPED;
    } else if (s->qlen > 0) {
        struct pending h;

        smtp_fifo_peek(s, &h);
        s->rep.kind = RK_PENDING;
        s->rep.cmd = h.cmd;
        if ((h.cmd == CMD_EHLO || h.cmd == CMD_LHLO) && code / 100 == 2) {
            s->rep.ehlo = 1;
            s->kw_lines = 0;
            s->out.ehlo_keywords[0] = '\0';
        }
    } else {
        s->rep.kind = RK_UNSOLICITED;
        /* Server-only capture: a multi-line 2xx right after the greeting,
         * with no client byte seen at all, can only answer an EHLO. */
        if (code / 100 == 2 && !final && s->greeting_seen && !s->ehlo_ok &&
            s->n_replies == 1 && s->client >= 0 && s->side_bytes[s->client] == 0) {
            s->rep.ehlo = 1;
            s->rep.cmd = CMD_EHLO;
            s->kw_lines = 0;
            s->out.ehlo_keywords[0] = '\0';
        }
    }
}

/* The final line of a reply arrived. */
static void reply_done(struct dis_session *s, double ts)
{
    int code = s->rep.code;
    enum rep_kind kind = s->rep.kind;
    int ehlo = s->rep.ehlo;
    /* only a client that was already waiting resyncs on this reply; one
     * that falls behind now (a gap inside bytes it held) waits for the next */
    int waiting = s->cmode == CM_SKIP || s->cmode == CM_MIDBODY;
    struct pending e;

    smtp_reply_reset(s);
    s->n_replies++;
    switch (kind) {
    case RK_GREETING:
        break;
    case RK_DROPPED:
        if (s->q_dropped > 0)
            s->q_dropped--;
        break;
    case RK_PENDING:
        if (!smtp_fifo_take(s, &e)) {
            unsolicited(s, code, ts);
            break;
        }
        if (e.flags & PE_RESTRICTED)
            s->pl_chunk = 0;
        if (smtp_only_cmd((enum cmd_id)e.cmd) ||
            (e.cmd == CMD_AUTH && s->auth.active && s->auth.mech != SASL_UNKNOWN &&
             s->auth.mech != SASL_GSSAPI))
            s->dialogue = 1;
        if (e.cmd < CMD_COUNT && reply_table[e.cmd] != NULL)
            reply_table[e.cmd](s, &e, code, ts);
        smtp_pending_drop(s, &e);
        break;
    case RK_UNSOLICITED:
        if (ehlo && !s->ehlo_ok) {      /* inferred EHLO reply */
            s->ehlo_ok = 1;
            s->ehlo_ts = ts;
            s->dialogue = 1;            /* greeting + EHLO reply: SMTP */
        }
        unsolicited(s, code, ts);
        break;
    }
    if (code == 421)
        s->server_closing = 1;
    /* resynchronisation point after a gap / a mid-stream start */
    if (waiting && (s->cmode == CM_SKIP || s->cmode == CM_MIDBODY)) {
        struct lbuf *lb = &s->lb[R_CLI];

        if (s->cmode == CM_MIDBODY || s->spec != NULL)
            smtp_spec_resolve(s, code, ts);
        smtp_cli_mode(s, CM_CMD);
        if (lb->len > 0)
            smtp_lbuf_reset(lb, 1);     /* a line begun before this reply */
    }
}

/*
 * One server line (CR/LF removed).  After the STARTTLS 220 the server must
 * speak TLS: a text line then is response injection, unless the client
 * itself went on in cleartext (then it is a reply again).
 */
void smtp_srv_line(struct dis_session *s, struct span line, double ts)
{
    int code = 0, final = 0;
    struct span text;

    if (s->smode == SM_TLSWAIT) {
        if (!s->post220) {
            char ev[64];

            smtp_excerpt(ev, sizeof ev, line.p, line.len);
            smtp_finding(s, FK_STARTTLS_RESPONSE_INJECTION, MT_SEV_CRITICAL, ts,
                         0, -1, "after the STARTTLS 220 the server sent in cleartext: %s",
                         ev);
            return;
        }
        smtp_srv_mode(s, SM_REPLY);
    }
    if (!parse_reply(line, &code, &final, &text)) {
        char ev[64];

        if (!s->srv_synced && (s->midstream || s->gap_seen))
            return;                     /* picked up inside something */
        smtp_excerpt(ev, sizeof ev, line.p, line.len);
        smtp_finding(s, FK_SMTP_MALFORMED_REPLY, MT_SEV_LOW, ts, 0, -1,
                     "server line is not a reply: \"%s\"", ev);
        return;
    }
    s->srv_synced = 1;
    s->is_smtp = 1;
    if (!s->rep.active)
        reply_begin(s, code, text, final, ts);
    s->rep.nlines++;
    if (s->rep.ehlo && s->rep.nlines >= 2)
        ehlo_keyword(s, text, ts);
    if (final)
        reply_done(s, ts);
}
