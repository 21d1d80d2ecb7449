/*
 * smtp.c — the SMTP dissector's public side (dissect.h): sessions,
 * direction sniffing, gaps and capture events, findings, and at the end the
 * verdict (SPEC.md §3) with the session-level findings.
 *
 * The parsing itself is in smtp_line.c (bytes to lines), smtp_cmd.c
 * (client), smtp_reply.c (server), smtp_msg.c (messages) and smtp_auth.c
 * (AUTH); smtp_int.h has the state and the map.
 *
 * Direction.  With the SYN the client side is given.  Without it, the
 * bytes of both sides are copied into a small log (at most DIS_SNIFF_MAX
 * per side) until one side's first bytes decide: a reply line ("NNN ",
 * "NNN-") is the server, a known verb is the client, a TLS ClientHello /
 * ServerHello tells likewise; the log is then replayed in capture order.
 * Undecided at the limit or at the end: the side on port 25/465/587 is the
 * server, else side 1 (confidence "low").
 *
 * Gaps (dis_gap) follow Zeek's AFTER_GAP idea: no guessing — pending
 * commands are forgotten and client lines are parsed again only after the
 * next server reply; DATA content that lost bytes is given up (the message
 * is cut; the next server reply is its end-of-data reply), a BDAT chunk
 * just counts the missing bytes.  Server gaps that the capture shows to be
 * harmless (a direction that never delivered a byte, a gap ending on a
 * reply boundary) are relaxed: see "server gaps" below.
 *
 * --all-ports (dis_wants_bytes, dis_is_smtp): on a port other than
 * 25/465/587 a connection is SMTP only once an SMTP dialogue is seen or
 * nDPI named it SMTP/SMTPS; it is given up as soon as nDPI names another
 * protocol or the first bytes of a side cannot start SMTP.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "escape.h"
#include "smtp_int.h"

/* ---- findings ------------------------------------------------------------------- */

static const struct {
    const char *name;
    int per_dir;                /* once per direction (group H)             */
} fk_tab[FK_COUNT] = {
    [FK_CLEARTEXT_NO_STARTTLS_OFFERED] = { "cleartext_no_starttls_offered", 0 },
    [FK_STARTTLS_OFFERED_NOT_USED] = { "starttls_offered_not_used", 0 },
    [FK_STARTTLS_REFUSED] = { "starttls_refused", 0 },
    [FK_TLS_HANDSHAKE_FAILED] = { "tls_handshake_failed", 0 },
    [FK_PLAINTEXT_MESSAGE_BODY] = { "plaintext_message_body", 0 },
    [FK_PLAINTEXT_ENVELOPE_METADATA] = { "plaintext_envelope_metadata", 0 },
    [FK_CLEARTEXT_SUBMISSION] = { "cleartext_submission", 0 },
    [FK_PLAINTEXT_AUTH_OFFERED] = { "plaintext_auth_offered", 0 },
    [FK_STARTTLS_TOKEN_MASKED] = { "starttls_token_masked", 0 },
    [FK_EHLO_REJECTED_HELO_FALLBACK] = { "ehlo_rejected_helo_fallback", 0 },
    [FK_SMTP_BANNER_MASKED] = { "smtp_banner_masked", 0 },
    [FK_EHLO_KEYWORDS_MASKED] = { "ehlo_keywords_masked", 0 },
    [FK_STARTTLS_COMMAND_INJECTION] = { "starttls_command_injection", 0 },
    [FK_STARTTLS_RESPONSE_INJECTION] = { "starttls_response_injection", 0 },
    [FK_NON_TLS_AFTER_STARTTLS_220] = { "non_tls_after_starttls_220", 0 },
    [FK_PIPELINING_ORDER_VIOLATION] = { "pipelining_order_violation", 0 },
    [FK_SMTP_SMUGGLING_EOD_AMBIGUITY] = { "smtp_smuggling_eod_ambiguity", 0 },
    [FK_TLS_HELLO_ON_CLEARTEXT_PORT] = { "tls_hello_on_cleartext_port", 0 },
    [FK_AUTH_PLAIN_CLEARTEXT] = { "auth_plain_cleartext", 0 },
    [FK_AUTH_LOGIN_CLEARTEXT] = { "auth_login_cleartext", 0 },
    [FK_AUTH_BEARER_TOKEN_CLEARTEXT] = { "auth_bearer_token_cleartext", 0 },
    [FK_AUTH_CHALLENGE_RESPONSE_CLEARTEXT] = { "auth_challenge_response_cleartext", 0 },
    [FK_IMPLICIT_TLS_465] = { "implicit_tls_465", 0 },
    [FK_PLAINTEXT_ON_IMPLICIT_TLS_PORT] = { "plaintext_on_implicit_tls_port", 0 },
    [FK_SMTP_ON_NONSTANDARD_PORT] = { "smtp_on_nonstandard_port", 0 },
    [FK_LMTP_CLEARTEXT] = { "lmtp_cleartext", 0 },
    [FK_XCLIENT_XFORWARD_CLEARTEXT] = { "xclient_xforward_cleartext", 0 },
    [FK_REQUIRETLS_IN_CLEARTEXT] = { "requiretls_in_cleartext", 0 },
    [FK_CAPTURE_GAP] = { "capture_gap", 1 },
    [FK_TRUNCATED_PACKETS] = { "truncated_packets", 1 },
    [FK_MIDSTREAM_START] = { "midstream_start", 0 },
    [FK_ONE_SIDED_CAPTURE] = { "one_sided_capture", 0 },
    [FK_TCP_OVERLAP_CONFLICT] = { "tcp_overlap_conflict", 1 },
    [FK_SMTP_LINE_TOO_LONG] = { "smtp_line_too_long", 0 },
    [FK_SMTP_MALFORMED_REPLY] = { "smtp_malformed_reply", 0 },
    [FK_SMTP_MALFORMED_COMMAND] = { "smtp_malformed_command", 0 },
    [FK_TLS_VERSION_WEAK] = { "tls_version_weak", 0 },
    [FK_TLS_CIPHER_WEAK] = { "tls_cipher_weak", 0 },
    [FK_TLS_COMPRESSION] = { "tls_compression", 0 },
    [FK_TLS13_CERT_NOT_OBSERVABLE] = { "tls13_cert_not_observable", 0 },
    [FK_TLS_NO_SNI] = { "tls_no_sni", 0 },
    [FK_CERT_EXPIRED_OR_NOT_YET_VALID] = { "cert_expired_or_not_yet_valid", 0 },
    [FK_CERT_UNTRUSTED_OR_SELF_SIGNED] = { "cert_untrusted_or_self_signed", 0 },
    [FK_CERT_NAME_MISMATCH] = { "cert_name_mismatch", 0 },
    [FK_CERT_WEAK_KEY_OR_SIGNATURE] = { "cert_weak_key_or_signature", 0 },
};

_Static_assert(FK_COUNT <= 64, "once[] holds 64 finding kinds");

/*
 * Raises finding k (once per session, or per direction for group H; every
 * time for plaintext_message_body, whose cap is the caller's).  role is
 * R_CLI/R_SRV for per-direction kinds, -1 otherwise.  The evidence is
 * formatted from our own strings only (captured bytes are escaped before).
 * Returns 1 when handed to the sink.
 */
int smtp_finding(struct dis_session *s, enum fk k, enum mt_severity sev,
                 double ts, uint32_t msg_seq, int role, const char *fmt, ...)
{
    struct mt_finding f;
    va_list ap;
    int dir = (fk_tab[k].per_dir && role == R_SRV) ? 1 : 0;

    if (k != FK_PLAINTEXT_MESSAGE_BODY) {
        if ((s->once[dir] >> k) & 1u)
            return 0;
        s->once[dir] |= (uint64_t)1 << k;
        if (s->n_findings >= DIS_FINDINGS_MAX)
            return 0;
        s->n_findings++;
    }
    memset(&f, 0, sizeof f);
    f.kind = fk_tab[k].name;
    f.severity = sev;
    f.ts = ts;
    f.msg_seq = msg_seq;
    va_start(ap, fmt);
    vsnprintf(f.evidence, sizeof f.evidence, fmt, ap);
    va_end(ap);
    if (s->sink.finding != NULL)
        s->sink.finding(s->arg, &f);
    return 1;
}

/* Escapes captured bytes into dst (always NUL-terminated). */
void smtp_esc(char *dst, size_t dstsz, const uint8_t *p, size_t n)
{
    if (dstsz == 0)
        return;
    if (p == NULL || n == 0 || dstsz < 4) {
        dst[0] = '\0';
        return;
    }
    mt_escape(dst, dstsz, p, n);
}

/* Escapes at most SMTP_EXCERPT_MAX captured bytes into dst for evidence;
 * "..." marks that the line went on (or that dst was too short). */
void smtp_excerpt(char *dst, size_t dstsz, const uint8_t *p, size_t n)
{
    size_t k;

    if (n <= SMTP_EXCERPT_MAX || dstsz < 8) {
        smtp_esc(dst, dstsz, p, n);
        return;
    }
    k = mt_escape(dst, dstsz - 3, p, SMTP_EXCERPT_MAX);
    if (k >= 3 && memcmp(dst + k - 3, "...", 3) == 0)
        return;                         /* cut by the buffer: marked already */
    memcpy(dst + k, "...", 4);
}

#ifdef SMTP_TRACE
static const char *const cm_names[] = {
    "CMD", "SKIP", "MIDSTART", "MIDBODY", "HOLD", "BODY", "BDAT", "INJECT",
    "TLSWAIT", "TLS"
};
static const char *const sm_names[] = { "REPLY", "TLSWAIT", "TLS" };
#endif

/* The one place the client direction changes mode. */
void smtp_cli_mode(struct dis_session *s, enum cli_mode m)
{
#ifdef SMTP_TRACE
    if (s->cmode != m)
        fprintf(stderr, "smtp %p client %s -> %s\n", (void *)s, cm_names[s->cmode],
                cm_names[m]);
#endif
    s->cmode = m;
}

/* The one place the server direction changes mode. */
void smtp_srv_mode(struct dis_session *s, enum srv_mode m)
{
#ifdef SMTP_TRACE
    if (s->smode != m)
        fprintf(stderr, "smtp %p server %s -> %s\n", (void *)s, sm_names[s->smode],
                sm_names[m]);
#endif
    s->smode = m;
}

static const char *dir_name(int role)
{
    return role == R_CLI ? "client->server" : "server->client";
}

static int smtp_port(uint16_t p)
{
    return p == 25 || p == 465 || p == 587;
}

uint16_t smtp_server_port(const struct dis_session *s)
{
    return s->client >= 0 ? s->par.port[1 - s->client] : 0;
}

/* Submission rather than relay: port 587/465, or AUTH used. */
int smtp_is_submission(const struct dis_session *s)
{
    uint16_t p = smtp_server_port(s);

    return p == 587 || p == 465 || s->auth_used;
}

/* ---- gaps ------------------------------------------------------------------------- */

/*
 * After a gap: pending commands are forgotten (messages they kept alive are
 * emitted with what is known) and client lines are ignored until the next
 * server reply.  client_gap: the client's own bytes are missing, so the
 * partial line is dropped and the first bytes after the gap are checked
 * for a TLS record.
 */
void smtp_resync(struct dis_session *s, int client_gap)
{
    struct lbuf *lb = &s->lb[R_CLI];

    smtp_fifo_clear(s);
    if (s->auth.active)
        smtp_auth_finish(s, 0, 0);
    s->sasl_expect = 0;
    if (client_gap) {
        smtp_lbuf_reset(lb, 0);
        lb->after_gap = 1;
    }
    if (s->cmode != CM_TLS && s->cmode != CM_HOLD)
        smtp_cli_mode(s, CM_SKIP);
}

/* What a gap in the client's bytes does to the parser (the accounting is
 * done in side_gap; a gap inside the hold is replayed through here). */
void smtp_client_gap_effect(struct dis_session *s, uint64_t len, double ts)
{
    switch (s->cmode) {
    case CM_HOLD:
        smtp_hold_gap(s, len, ts);
        return;
    case CM_BODY: {
        /* The message is cut and the client's lines are skipped until the
         * next server reply.  During DATA content the server sends nothing
         * but its final reply, so that next reply is the end-of-data
         * reply: the message waits for it in an entry marked as a guess
         * (never kept across a server gap). */
        struct smtp_msg *m = smtp_msg_ref(s->cmsg);

        smtp_body_cut(s, ts);
        smtp_resync(s, 1);
        if (m != NULL && !m->emitted && !m->data_rejected) {
            struct pending e;

            memset(&e, 0, sizeof e);
            e.cmd = CMD_EOD;
            e.count = 1;
            e.ts = ts;
            e.flags = PE_GUESS;
            e.msg = m;                  /* the reference taken above */
            smtp_fifo_push(s, &e);
        } else if (m != NULL) {
            smtp_msg_unref(s, m);
        }
        return;
    }
    case CM_BDAT:
        if (len < s->bdat_left) {
            s->bdat_left -= len;        /* chunk boundaries still known */
            if (s->cmsg != NULL)
                s->cmsg->gap = 1;
            return;
        } else {
            uint64_t excess = len - s->bdat_left;

            if (s->cmsg != NULL)
                s->cmsg->gap = 1;
            smtp_bdat_chunk_done(s, ts);
            if (excess > 0)
                smtp_resync(s, 1);
            return;
        }
    case CM_MIDBODY:
        smtp_spec_abort(s);
        smtp_resync(s, 1);
        return;
    case CM_TLS:
        smtp_tls_gap(s, R_CLI, len);
        return;
    case CM_TLSWAIT:
    case CM_INJECT:
        /* the ClientHello (or part of it) is missing: TLS is assumed */
        smtp_lbuf_reset(&s->lb[R_CLI], 0);
        smtp_tls_begin(s, R_CLI, TLS_PEEK_NEED_MORE, ts);
        smtp_tls_gap(s, R_CLI, len);
        return;
    case CM_CMD:
    case CM_SKIP:
    case CM_MIDSTART:
        smtp_resync(s, 1);
        return;
    }
}

/*
 * Server gaps.  The conservative rule (Zeek's AFTER_GAP) forgets the
 * pending commands and makes the client wait for the next server reply
 * (smtp_srv_fallback).  It is relaxed where the capture shows what can
 * have been lost:
 *
 *  - A server direction that has delivered nothing yet (one-sided capture,
 *    its gaps proven only by the client's ACKs) has no reply to lose track
 *    of: its gaps change nothing in the parser, and their capture_gap waits
 *    for its first byte (dropped when none comes: one_sided_capture says
 *    it).  Bytes that do come later follow a hole of unknown content: the
 *    conservative rule is applied then.
 *
 *  - A line cut by the gap that began with "NNN " as the first line of a
 *    reply is a complete one-line reply whose text was cut (snaplen): it is
 *    delivered as such (smtp_srv_cut_line).
 *
 *  - A gap that ends a line, outside a multi-line reply, with no command
 *    waiting for a reply (one that was may have been answered inside the
 *    gap) and the client in a mode its bytes do not owe to a lost reply
 *    (commands, content): the commands the client sends from then on are
 *    queued as usual (srv_recover) and the first server line after the gap
 *    decides (smtp_srv_gap_line).  It must begin with "NNN " or "NNN-"
 *    right where the gap ended, i.e. at the start of the next dis_data
 *    call: the gap was the tail of a segment and a new segment starts with
 *    a reply.  The FIFO then stays if the client lost no byte since its
 *    commands were queued (pending.gapno; none is a guess, PE_GUESS) and
 *    the code can answer its head (no 354 but to DATA, no 2xx to DATA...).
 *
 * Everything else — a gap inside a line or inside a multi-line reply, a
 * gap while commands wait, a first line after the gap that is not a reply
 * line (the gap ended inside a segment), a client that lost bytes too, an
 * implausible code — gets the conservative rule.  A server line starting
 * right at a gap's end is still taken as the start of a reply when it is a
 * reply line (the client then resynchronises on that reply); any other is
 * skipped to its end.
 */

/* The conservative rule: pending commands forgotten, the client waits. */
void smtp_srv_fallback(struct dis_session *s, double ts)
{
    s->srv_recover = 0;
    smtp_fifo_clear(s);
    if (s->auth.active)
        smtp_auth_finish(s, 0, ts);
    s->sasl_expect = 0;
    switch (s->cmode) {
    case CM_HOLD:
        smtp_hold_release(s, CM_SKIP);
        break;
    case CM_CMD:
    case CM_MIDSTART:
        smtp_cli_mode(s, CM_SKIP);
        break;
    default:
        break;
    }
}

/* Client modes whose bytes do not depend on a reply lost in a server gap
 * (a hold waits for one, and always has its command queued). */
static int cli_mode_independent(enum cli_mode m)
{
    return m == CM_CMD || m == CM_BODY || m == CM_BDAT;
}

/* No pending command was queued before a client gap or by a guess. */
static int fifo_trusted(const struct dis_session *s)
{
    if (s->q_dropped > 0)
        return 0;
    for (unsigned i = 0; i < s->qlen; i++) {
        const struct pending *e = &s->q[(s->qhead + i) % s->qcap];

        if (e->gapno != s->cli_gaps || (e->flags & PE_GUESS))
            return 0;
    }
    return 1;
}

/* The reply code can answer the command at the FIFO head. */
static int reply_fits_head(const struct dis_session *s, int code)
{
    struct pending h;

    if (!smtp_fifo_peek(s, &h))
        return 1;
    switch (h.cmd) {
    case CMD_DATA:
        return code == 354 || code >= 400;
    case CMD_STARTTLS:
    case CMD_XCLIENT:
        return code == 220 || code >= 400;
    case CMD_AUTH:
    case CMD_SASL:
        return code == 334 || code == 235 || code >= 400;
    case CMD_QUIT:
        return code == 221 || code >= 400;
    default:
        return code != 354 && code != 334 && code != 235 && code != 221 &&
               (code != 220 || !s->greeting_seen);
    }
}

/*
 * The complete first server line after a gap (CR/LF removed; trunc: longer
 * than DIS_LINE_MAX).  Returns 1 when it is to be parsed as a reply line,
 * 0 when it is skipped.  Settles a tentatively kept FIFO.
 */
int smtp_srv_gap_line(struct dis_session *s, struct span line, int trunc,
                      double ts)
{
    int code;

    if (trunc || !smtp_reply_prefix(line.p, line.len)) {
        if (s->srv_recover)
            smtp_srv_fallback(s, ts);
        return 0;
    }
    code = (line.p[0] - '0') * 100 + (line.p[1] - '0') * 10 + (line.p[2] - '0');
    if (s->srv_recover) {
        if (fifo_trusted(s) && reply_fits_head(s, code))
            s->srv_recover = 0;         /* the FIFO stays */
        else
            smtp_srv_fallback(s, ts);
    }
    return 1;
}

/* What a gap in the server's bytes does to the parser.  late: the first
 * server bytes arrive after gaps that were held back (nothing delivered
 * before them). */
static void server_gap_effect(struct dis_session *s, uint64_t len, double ts,
                              int late)
{
    struct lbuf *lb = &s->lb[R_SRV];
    int again, boundary;

    if (s->smode == SM_REPLY && !late)
        (void)smtp_srv_cut_line(s, ts);
    again = lb->after_gap;
    boundary = lb->len == 0 && !lb->discard && !lb->trunc && !lb->probe &&
               !s->rep.active;
    smtp_lbuf_reset(lb, 0);
    lb->after_gap = 1;
    smtp_reply_reset(s);
    if (s->smode == SM_TLS) {
        smtp_tls_gap(s, R_SRV, len);
        return;
    }
    if (s->smode == SM_TLSWAIT) {
        smtp_tls_begin(s, R_SRV, TLS_PEEK_NEED_MORE, ts);
        smtp_tls_gap(s, R_SRV, len);
        return;
    }
    if (!late && boundary && (!again || s->srv_recover) && s->qlen == 0 &&
        s->q_dropped == 0 && cli_mode_independent(s->cmode))
        s->srv_recover = 1;             /* the next server line decides */
    else
        smtp_srv_fallback(s, ts);
}

/* ---- per-side delivery (after the direction is known) ----------------------------- */

static int role_of(const struct dis_session *s, int side)
{
    return side == s->client ? R_CLI : R_SRV;
}

static void gap_finding(struct dis_session *s, int role, uint64_t len,
                        uint64_t off, double ts)
{
    smtp_finding(s, FK_CAPTURE_GAP, MT_SEV_INFO, ts, 0, role,
                 "%llu bytes missing from %s at offset %llu",
                 (unsigned long long)len, dir_name(role), (unsigned long long)off);
}

/* The first byte of a direction whose gaps were held back (server gaps);
 * the server's bytes then follow a hole of unknown content. */
static void first_bytes_after_gaps(struct dis_session *s, int role, double ts)
{
    uint64_t len = s->gapq[role].len;

    s->gapq[role].on = 0;
    gap_finding(s, role, len, s->gapq[role].off, s->gapq[role].ts);
    if (role == R_SRV)
        server_gap_effect(s, len, ts, 1);
}

static void side_data(struct dis_session *s, int side, const uint8_t *p,
                      size_t len, double ts)
{
    int role = role_of(s, side);

    if (s->deliv[role] == 0 && s->gapq[role].on)
        first_bytes_after_gaps(s, role, ts);
    s->deliv[role] += len;
    s->off[role] += len;
    if (role == R_CLI)
        smtp_client_feed(s, p, len, ts, ++s->chunk_seq);
    else
        smtp_server_feed(s, p, len, ts);
}

static void side_gap(struct dis_session *s, int side, uint64_t len, double ts)
{
    int role = role_of(s, side);

    if (len == 0)
        return;
    s->gap_seen = 1;
    s->gapb[role] += len;
    s->out.gap_bytes += len;
    if (s->deliv[role] == 0) {
        /* nothing of this direction yet: its capture_gap waits for its
         * first byte (none: one_sided_capture covers it) */
        if (!s->gapq[role].on) {
            s->gapq[role].on = 1;
            s->gapq[role].ts = ts;
            s->gapq[role].off = s->off[role];
            s->gapq[role].len = 0;
        }
        s->gapq[role].len += len;
    } else {
        gap_finding(s, role, len, s->off[role], ts);
    }
    s->off[role] += len;
    if (role == R_CLI) {
        s->cli_gaps++;
        if (s->srv_recover)
            smtp_srv_fallback(s, ts);   /* the client lost bytes too */
        smtp_client_gap_effect(s, len, ts);
    } else if (s->deliv[R_SRV] > 0) {
        server_gap_effect(s, len, ts, 0);
    }
}

static void side_event(struct dis_session *s, int side, enum dis_cap_event ev,
                       double ts, const char *detail, int has_detail)
{
    int role = role_of(s, side);
    char d[160];

    d[0] = '\0';
    if (has_detail && detail != NULL) {
        size_t n = strnlen(detail, SMTP_DETAIL_MAX);

        smtp_esc(d, sizeof d, (const uint8_t *)detail, n);
    }
    switch (ev) {
    case DIS_EV_OVERLAP_CONFLICT:
        if (d[0])
            smtp_finding(s, FK_TCP_OVERLAP_CONFLICT, MT_SEV_MEDIUM, ts, 0, role,
                         "%s", d);
        else
            smtp_finding(s, FK_TCP_OVERLAP_CONFLICT, MT_SEV_MEDIUM, ts, 0, role,
                         "%s: retransmitted bytes differ from the first copy",
                         dir_name(role));
        break;
    case DIS_EV_TRUNCATED:
        smtp_finding(s, FK_TRUNCATED_PACKETS, MT_SEV_INFO, ts, 0, role,
                     "%s: %s", dir_name(role),
                     d[0] ? d : "packets cut by the capture snaplen");
        break;
    case DIS_EV_MIDSTREAM:
        s->midstream = 1;
        smtp_finding(s, FK_MIDSTREAM_START, MT_SEV_INFO, ts, 0, -1, "%s",
                     d[0] ? d : "connection picked up without its TCP handshake");
        if (!s->any_line[R_CLI] && s->cmode == CM_CMD && s->lb[R_CLI].len == 0)
            smtp_cli_mode(s, CM_MIDSTART);
        break;
    case DIS_EV_PROTOCOL:
        break;
    }
}

/* ---- direction sniffing ---------------------------------------------------------- */

enum sniff_class { SC_MORE, SC_OTHER, SC_SERVER, SC_CLIENT };

/* What the first bytes of one side say about its role. */
static enum sniff_class sniff_classify(const uint8_t *p, size_t n)
{
    size_t i;

    if (n == 0)
        return SC_MORE;
    if (smtp_tls_candidate(p[0])) {
        enum tls_peek k = tls_peek(p, n < 6 ? n : 6);
        int hs;

        if (k == TLS_PEEK_NEED_MORE)
            return SC_MORE;
        if (k == TLS_PEEK_SSLV2_HELLO)
            return SC_CLIENT;
        if (k != TLS_PEEK_HANDSHAKE)
            return SC_OTHER;
        if (n < 6)
            return SC_MORE;
        hs = tls_peek_hs_type(p, n < 6 ? n : 6);
        return hs == 1 ? SC_CLIENT : hs == 2 ? SC_SERVER : SC_OTHER;
    }
    if (p[0] >= '1' && p[0] <= '5') {
        for (i = 1; i < 3; i++) {
            if (i >= n)
                return SC_MORE;
            if (p[i] < '0' || p[i] > '9')
                return SC_OTHER;
        }
        if (n < 4)
            return SC_MORE;
        return (p[3] == ' ' || p[3] == '-' || p[3] == '\r' || p[3] == '\n')
                   ? SC_SERVER : SC_OTHER;
    }
    for (i = 0; i < n && i < 16; i++)
        if (p[i] == ' ' || p[i] == '\r' || p[i] == '\n')
            break;
    if (i == n && n < 16)
        return SC_MORE;
    if (i < n && i < 16 && smtp_verb_known(span_make(p, i)))
        return SC_CLIENT;
    return SC_OTHER;
}

/* Decides the client from the sniffed bytes; -1 while undecided. */
static int sniff_decide(const struct sniff *sn)
{
    enum sniff_class c[2];
    int first = sn->n > 0 ? sn->it[0].side : 0;
    int order[2] = { first, 1 - first };

    for (int i = 0; i < 2; i++)
        c[i] = sniff_classify(sn->buf[i], sn->len[i]);
    for (int j = 0; j < 2; j++)
        if (c[order[j]] == SC_SERVER)
            return 1 - order[j];
    for (int j = 0; j < 2; j++)
        if (c[order[j]] == SC_CLIENT)
            return order[j];
    return -1;
}

static void sniff_free(struct sniff *sn)
{
    if (sn == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        if (sn->buf[i] != NULL) {
            OPENSSL_cleanse(sn->buf[i], sn->len[i]);
            free(sn->buf[i]);
        }
    }
    free(sn->it);
    free(sn);
}

/* Port fallback: the side on a mail port is the server, else side 1. */
static void decide_by_port(struct dis_session *s)
{
    int server = (smtp_port(s->par.port[0]) && !smtp_port(s->par.port[1])) ? 0 : 1;

    s->client = 1 - server;
    s->dir_guessed = 1;
}

/* Direction known: the log is replayed in capture order. */
static void sniff_replay(struct dis_session *s)
{
    struct sniff *sn = s->sniff;

    s->sniff = NULL;
    if (sn == NULL)
        return;
    for (unsigned i = 0; i < sn->n; i++) {
        const struct sniff_item *it = &sn->it[i];

        switch (it->type) {
        case SN_DATA:
            side_data(s, it->side, sn->buf[it->side] + it->off, it->len, it->ts);
            break;
        case SN_GAP:
            side_gap(s, it->side, it->gap, it->ts);
            break;
        case SN_EVENT:
            side_event(s, it->side, (enum dis_cap_event)it->ev, it->ts,
                       it->detail, it->has_detail);
            break;
        }
    }
    sniff_free(sn);
}

/* A new log entry; NULL when the log is full (or no memory). */
static struct sniff_item *sniff_item(struct dis_session *s)
{
    struct sniff *sn = s->sniff;

    if (sn == NULL) {
        sn = s->sniff = calloc(1, sizeof *sn);
        if (sn == NULL)
            return NULL;
    }
    if (sn->n == sn->cap) {
        unsigned cap = sn->cap ? sn->cap * 2 : 16;
        struct sniff_item *ni;

        if (sn->cap >= SMTP_SNIFF_ITEMS_MAX)
            return NULL;
        if (cap > SMTP_SNIFF_ITEMS_MAX)
            cap = SMTP_SNIFF_ITEMS_MAX;
        ni = realloc(sn->it, cap * sizeof *ni);
        if (ni == NULL)
            return NULL;
        sn->it = ni;
        sn->cap = cap;
    }
    memset(&sn->it[sn->n], 0, sizeof sn->it[0]);
    return &sn->it[sn->n++];
}

/* Gives up sniffing: port fallback, replay. */
static void sniff_give_up(struct dis_session *s)
{
    decide_by_port(s);
    sniff_replay(s);
}

static void sniff_data(struct dis_session *s, int side, const uint8_t *p,
                       size_t len, double ts)
{
    struct sniff *sn = s->sniff;
    struct sniff_item *it;
    int c;

    if (sn != NULL && sn->n > 0) {
        struct sniff_item *last = &sn->it[sn->n - 1];

        if (last->type == SN_DATA && last->side == side && last->ts == ts &&
            sn->len[side] + len <= DIS_SNIFF_MAX) {
            memcpy(sn->buf[side] + sn->len[side], p, len);
            sn->len[side] += (uint32_t)len;
            last->len += (uint32_t)len;
            goto decide;
        }
    }
    if ((sn != NULL && sn->len[side] + len > DIS_SNIFF_MAX) ||
        (sn == NULL && len > DIS_SNIFF_MAX) || (it = sniff_item(s)) == NULL) {
        sniff_give_up(s);
        side_data(s, side, p, len, ts);
        return;
    }
    sn = s->sniff;
    if (sn->buf[side] == NULL && (sn->buf[side] = malloc(DIS_SNIFF_MAX)) == NULL) {
        sn->n--;
        sniff_give_up(s);
        side_data(s, side, p, len, ts);
        return;
    }
    it->type = SN_DATA;
    it->side = (uint8_t)side;
    it->off = sn->len[side];
    it->len = (uint32_t)len;
    it->ts = ts;
    memcpy(sn->buf[side] + sn->len[side], p, len);
    sn->len[side] += (uint32_t)len;
decide:
    c = sniff_decide(sn);
    if (c >= 0) {
        s->client = c;
        sniff_replay(s);
    }
}

/* ---- --all-ports --------------------------------------------------------------------- */

/* first_gap values: the side lost bytes before its first one / later. */
enum { FG_NONE = 0, FG_START, FG_LATER };

/* nDPI's name for the flow ("SMTP", "TLS.Google", "Unknown", ...): its
 * master protocol is the part before the dot. */
static void note_protocol(struct dis_session *s, const char *name)
{
    struct span m;
    const char *dot;
    size_t n;

    if (name == NULL)
        return;
    n = strnlen(name, SMTP_DETAIL_MAX);
    dot = memchr(name, '.', n);
    m = span_make((const uint8_t *)name, dot != NULL ? (size_t)(dot - name) : n);
    if (span_eq_ci(m, "SMTP") || span_eq_ci(m, "SMTPS"))
        s->ndpi = PNAME_SMTP;
    else if (span_eq_ci(m, "SOCKS") || span_eq_ci(m, "HTTP_Proxy") ||
             span_eq_ci(m, "HTTP_Connect"))
        s->ndpi = PNAME_TUNNEL;
    else if (m.len == 0 || span_eq_ci(m, "Unknown"))
        s->ndpi = PNAME_NONE;
    else
        s->ndpi = PNAME_OTHER;
}

/* Either port is 25, 465 or 587: SMTP is expected on this connection. */
static int expected_port(const struct dis_session *s)
{
    return smtp_port(s->par.port[0]) || smtp_port(s->par.port[1]);
}

/* An SMTP dialogue: a 220 greeting and HELO/EHLO/LHLO, or a reply to a
 * command only SMTP has (smtp_reply.c). */
static int smtp_dialogue(const struct dis_session *s)
{
    return s->dialogue ||
           (s->greeting_seen && s->greeting_code == 220 && s->helo_sent);
}

/* What the first bytes of a side can start: bit 1 an SMTP client stream
 * (a command verb), bit 2 a server stream (a reply line); 3 also for a TLS
 * start, a tunnel handshake (SOCKS 4/5, HTTP CONNECT) and bytes too few to
 * tell.  0: neither. */
static int first_bytes_can_start(const uint8_t *p, size_t n)
{
    size_t i;
    int can = 0;

    if (n == 0)
        return 3;
    if (smtp_tls_candidate(p[0])) {
        enum tls_peek k = tls_peek(p, n < 6 ? n : 6);

        return (k == TLS_PEEK_NEED_MORE || k == TLS_PEEK_HANDSHAKE ||
                k == TLS_PEEK_SSLV2_HELLO) ? 3 : 0;
    }
    if (p[0] == 0x04 || p[0] == 0x05)
        return 3;                       /* SOCKS request: nDPI tells */
    for (i = 0; i < n && i < 16; i++)
        if (p[i] == ' ' || p[i] == '\r' || p[i] == '\n')
            break;
    if (i == n && n < 16)
        can |= 1;                       /* verb not complete yet */
    else if (i < n && (smtp_verb_known(span_make(p, i)) ||
                       span_eq_ci(span_make(p, i), "CONNECT")))
        can |= 1;
    if (n < 4) {
        for (i = 0; i < n; i++)
            if (p[i] < (i == 0 ? '1' : '0') || p[i] > (i == 0 ? '5' : '9'))
                break;
        if (i == n)
            can |= 2;                   /* reply code not complete yet */
    } else if (smtp_reply_prefix(p, n) ||
               (p[0] >= '1' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
                p[2] >= '0' && p[2] <= '9' && (p[3] == '\r' || p[3] == '\n'))) {
        can |= 2;
    }
    return can;
}

/* The first bytes of capture side `side` clearly cannot start its role's
 * SMTP stream.  Only judged when the connection's start was captured and
 * the side lost nothing before them. */
static int side_not_smtp(const struct dis_session *s, int side)
{
    int can, want;

    if (!s->par.syn_seen || s->first_gap[side] == FG_START ||
        s->first_len[side] == 0)
        return 0;
    can = first_bytes_can_start(s->first[side], s->first_len[side]);
    if (can == 3)
        return 0;
    if (s->client < 0)
        want = 3;                       /* either role */
    else
        want = side == s->client ? 1 : 2;
    return (can & want) == 0;
}

/* ---- API ---------------------------------------------------------------------------- */

dis_session_t *dis_session_new(const struct dis_params *p,
                               const struct dis_sink *sink, void *arg)
{
    struct dis_session *s = calloc(1, sizeof *s);

    if (s == NULL)
        return NULL;
    if (p != NULL)
        s->par = *p;
    if (sink != NULL)
        s->sink = *sink;
    s->arg = arg;
    s->client = (s->par.client_side == 0 || s->par.client_side == 1)
                    ? s->par.client_side : -1;
    s->out.start_ts = s->par.ts;
    s->out.end_ts = s->par.ts;
    s->out.syn_seen = s->par.syn_seen ? 1 : 0;
    s->tls[0].hs = s->tls[1].hs = -1;
    s->cmode = CM_CMD;
    s->smode = SM_REPLY;
    return s;
}

void dis_data(dis_session_t *s, int side, const uint8_t *p, size_t len, double ts)
{
#ifdef SMTP_TRACE
    fprintf(stderr, "smtp %p data side %d len %zu ts %.6f\n", (void *)s, side, len,
            ts);
#endif
    if (s == NULL || s->ended || (side != 0 && side != 1) || p == NULL || len == 0)
        return;
    s->side_bytes[side] += len;
    if (!s->first_gap[side] && s->first_len[side] < sizeof s->first[side]) {
        size_t k = sizeof s->first[side] - s->first_len[side];

        if (k > len)
            k = len;
        memcpy(s->first[side] + s->first_len[side], p, k);
        s->first_len[side] += (uint8_t)k;
    }
    if (s->client < 0) {
        sniff_data(s, side, p, len, ts);
        return;
    }
    side_data(s, side, p, len, ts);
}

void dis_gap(dis_session_t *s, int side, uint64_t len, double ts)
{
    struct sniff_item *it;

#ifdef SMTP_TRACE
    fprintf(stderr, "smtp %p gap side %d len %llu ts %.6f\n", (void *)s, side,
            (unsigned long long)len, ts);
#endif
    if (s == NULL || s->ended || (side != 0 && side != 1) || len == 0)
        return;
    if (!s->first_gap[side])
        s->first_gap[side] = s->first_len[side] == 0 ? FG_START : FG_LATER;
    if (s->client < 0) {
        if ((it = sniff_item(s)) == NULL) {
            sniff_give_up(s);
            side_gap(s, side, len, ts);
            return;
        }
        it->type = SN_GAP;
        it->side = (uint8_t)side;
        it->gap = len;
        it->ts = ts;
        return;
    }
    side_gap(s, side, len, ts);
}

void dis_capture_event(dis_session_t *s, int side, enum dis_cap_event ev,
                       double ts, const char *detail)
{
    struct sniff_item *it;

#ifdef SMTP_TRACE
    fprintf(stderr, "smtp %p event side %d ev %d ts %.6f %s\n", (void *)s, side,
            (int)ev, ts, detail != NULL ? detail : "");
#endif
    if (s == NULL || s->ended)
        return;
    if (side != 0 && side != 1)
        side = 0;
    if (ev == DIS_EV_PROTOCOL) {
        note_protocol(s, detail);
        return;
    }
    if (s->client < 0) {
        if ((it = sniff_item(s)) == NULL) {
            sniff_give_up(s);
            side_event(s, side, ev, ts, detail, detail != NULL);
            return;
        }
        it->type = SN_EVENT;
        it->side = (uint8_t)side;
        it->ev = (uint8_t)ev;
        it->ts = ts;
        if (detail != NULL) {
            size_t n = strnlen(detail, sizeof it->detail - 1);

            memcpy(it->detail, detail, n);
            it->detail[n] = '\0';
            it->has_detail = 1;
        }
        return;
    }
    side_event(s, side, ev, ts, detail, detail != NULL);
}

/* ---- end: verdict and session-level findings ---------------------------------------- */

/* Finishes whatever the client was in the middle of. */
static void finish_client(struct dis_session *s, double ts)
{
    struct smtp_msg *m;

    for (unsigned i = 0; s->hold_on && i < 100000u; i++)
        smtp_hold_blind(s, 1);
    if (s->hold_on) {
        smtp_hold_free(&s->hold);
        s->hold_on = 0;
    }
    smtp_after_inject(s, ts, 0);
    smtp_inject_flush(s);
    if (s->cmode == CM_BODY || s->cmode == CM_BDAT)
        smtp_body_cut(s, ts);
    if (s->spec != NULL) {
        if (s->spec_done)
            smtp_spec_resolve(s, 0, ts);
        else
            smtp_spec_abort(s);
    }
    if (s->auth.active)
        smtp_auth_finish(s, 0, ts);
    smtp_fifo_clear(s);
    if ((m = s->cmsg) != NULL) {
        s->cmsg = NULL;
        m->gap = 1;
        smtp_msg_unref(s, m);
    }
    if ((m = s->txn) != NULL) {
        s->txn = NULL;
        smtp_msg_unref(s, m);
    }
}

static enum mt_protection verdict(const struct dis_session *s)
{
    int ct = s->tls[R_CLI].on, st = s->tls[R_SRV].on;
    int exposed = s->out.exposed_envelope || s->out.exposed_content ||
                  s->out.exposed_credentials;
    int srv_silent = s->side_bytes[1 - s->client] == 0;

    if (!s->is_smtp || s->midstream_tls)
        return MT_PROT_INDETERMINATE;
    if (s->implicit_cli) {
        if (st)
            return MT_PROT_IMPLICIT_TLS;
        if (s->srv_synced)
            return MT_PROT_CLEARTEXT;
        return srv_silent ? MT_PROT_IMPLICIT_TLS : MT_PROT_INDETERMINATE;
    }
    if (st && (s->tls_unexplained || !s->starttls_220))
        return MT_PROT_INDETERMINATE;
    if (s->starttls_220) {
        /* "a TLS handshake followed": one that failed (smtp_tls_failure)
         * protected nothing */
        if (ct && st && smtp_tls_failure(s) == HSF_NONE)
            return (exposed || s->post220) ? MT_PROT_PARTIAL : MT_PROT_STARTTLS;
        return MT_PROT_CLEARTEXT;
    }
    if (s->unanswered_tls)
        return MT_PROT_INDETERMINATE;
    if (s->srv_synced || s->cli_clear_cmd)
        return MT_PROT_CLEARTEXT;
    return MT_PROT_INDETERMINATE;
}

/* "content and credentials" / "envelope" / "nothing beyond the greeting". */
static const char *exposure_words(const struct dis_session *s)
{
    int c = s->out.exposed_content, k = s->out.exposed_credentials;

    if (c && k)
        return "content and credentials crossed in cleartext";
    if (c)
        return "message content crossed in cleartext";
    if (k)
        return "credentials crossed in cleartext";
    if (s->out.exposed_envelope)
        return "envelope crossed in cleartext";
    return "no transaction";
}

static void end_findings(struct dis_session *s, enum mt_protection prot, double ts)
{
    int content = s->out.exposed_content, cred = s->out.exposed_credentials;
    int env = s->out.exposed_envelope;
    uint16_t port = smtp_server_port(s);
    int srv_silent = s->side_bytes[1 - s->client] == 0;
    int cli_silent = s->side_bytes[s->client] == 0;
    char buf[160];

    if (s->starttls_refused)
        smtp_finding(s, FK_STARTTLS_REFUSED,
                     s->n_exposures > s->refused_snap ? MT_SEV_HIGH : MT_SEV_MEDIUM,
                     s->refused_ts, 0, -1, "STARTTLS answered %d \"%s\"%s",
                     s->refused_code, s->refused_text,
                     s->n_exposures > s->refused_snap
                         ? "; content or credentials then sent in cleartext" : "");
    if (s->post220)
        smtp_finding(s, FK_NON_TLS_AFTER_STARTTLS_220,
                     s->post220_crit ? MT_SEV_CRITICAL : MT_SEV_HIGH, s->post220_ts,
                     0, -1, "cleartext client bytes after the STARTTLS 220: %s%s",
                     s->post220_verb,
                     s->post220_crit ? " (AUTH/MAIL/RCPT/DATA followed)" : "");
    smtp_tls_failure_finding(s, ts);
    smtp_tls_findings(s);
    /* A masked STARTTLS (starttls_token_masked) is the accurate finding:
     * the server did offer it / the client did ask; the A-group negotiation
     * findings would be its false positives (DETECTIONS.md §2). */
    if (prot == MT_PROT_CLEARTEXT && !s->out.starttls_requested && !s->implicit_cli &&
        !s->token_masked &&
        ((s->ehlo_ok && !s->out.starttls_offered) || (s->helo_ok && !s->ehlo_ok)))
        smtp_finding(s, FK_CLEARTEXT_NO_STARTTLS_OFFERED,
                     (content || cred) ? MT_SEV_HIGH : env ? MT_SEV_MEDIUM : MT_SEV_LOW,
                     s->ehlo_ok ? s->ehlo_ts : s->helo_ts, 0, -1, "%s; %s",
                     s->ehlo_ok ? "EHLO reply without STARTTLS"
                                : "HELO session (no extensions, no STARTTLS)",
                     exposure_words(s));
    if (s->out.starttls_offered && !s->out.starttls_requested && s->carried_on &&
        !s->token_masked)
        smtp_finding(s, FK_STARTTLS_OFFERED_NOT_USED,
                     (content || cred) ? MT_SEV_HIGH : MT_SEV_MEDIUM, s->carried_ts,
                     0, -1, "STARTTLS offered, never requested; %s",
                     exposure_words(s));
    if (env) {
        const char *v = s->n_vrfy ? " (and VRFY/EXPN)" : "";

        if (s->n_mail == 0 && s->n_rcpt == 0)
            snprintf(buf, sizeof buf, "VRFY/EXPN argument before TLS");
        else if (s->n_mail == 0)
            snprintf(buf, sizeof buf, "%u RCPT%s before TLS", s->n_rcpt, v);
        else if (s->n_mail == 1 && s->n_rcpt == 0)
            snprintf(buf, sizeof buf, "MAIL FROM%s before TLS", v);
        else if (s->n_mail == 1)
            snprintf(buf, sizeof buf, "MAIL FROM and %u RCPT%s before TLS",
                     s->n_rcpt, v);
        else
            snprintf(buf, sizeof buf, "%u MAIL FROM and %u RCPT%s before TLS",
                     s->n_mail, s->n_rcpt, v);
        smtp_finding(s, FK_PLAINTEXT_ENVELOPE_METADATA, MT_SEV_MEDIUM, s->env_ts, 0,
                     -1, "%s", buf);
    }
    if (smtp_is_submission(s) && (s->auth_used || s->n_mail > 0 || content)) {
        double t = s->auth_used ? s->auth_ts : s->n_mail ? s->env_ts : s->content_ts;

        smtp_finding(s, FK_CLEARTEXT_SUBMISSION,
                     s->cred_pw_finding ? MT_SEV_CRITICAL : MT_SEV_HIGH, t, 0, -1,
                     "port %u: %s%s%s before TLS", (unsigned)port,
                     s->auth_used ? "AUTH" : "",
                     s->n_mail ? (s->auth_used ? ", MAIL" : "MAIL") : "",
                     content ? ((s->auth_used || s->n_mail) ? ", content" : "content")
                             : "");
    }
    if (prot == MT_PROT_IMPLICIT_TLS && port == 465)
        smtp_finding(s, FK_IMPLICIT_TLS_465, MT_SEV_INFO, s->tls[R_CLI].ts, 0, -1,
                     "TLS from the first byte on port 465");
    if (s->implicit_cli && s->srv_synced) {
        if (port == 465)
            smtp_finding(s, FK_PLAINTEXT_ON_IMPLICIT_TLS_PORT, MT_SEV_HIGH,
                         s->tls[R_CLI].ts, 0, -1,
                         "TLS ClientHello on port 465 answered in cleartext SMTP");
        else
            smtp_finding(s, FK_TLS_HELLO_ON_CLEARTEXT_PORT, MT_SEV_LOW,
                         s->tls[R_CLI].ts, 0, -1,
                         "TLS ClientHello on port %u answered in cleartext SMTP",
                         (unsigned)port);
    } else if (port == 465 && (s->srv_synced || s->cli_clear_cmd)) {
        smtp_finding(s, FK_PLAINTEXT_ON_IMPLICIT_TLS_PORT, MT_SEV_HIGH,
                     s->greeting_seen ? s->greeting_ts : s->first_clear_ts, 0, -1,
                     "cleartext SMTP %s on port 465",
                     s->greeting_seen ? "greeting" : "commands");
    }
    /* SMTP recognised (dis_is_smtp), or at least HELO/EHLO/LHLO sent (a
     * client-only capture on a port the user listed) */
    if (port != 0 && !smtp_port(port)) {
        if (smtp_dialogue(s) || s->helo_sent)
            smtp_finding(s, FK_SMTP_ON_NONSTANDARD_PORT, MT_SEV_INFO,
                         s->greeting_seen ? s->greeting_ts : s->first_clear_ts, 0,
                         -1, "SMTP dialogue on port %u", (unsigned)port);
        else if (dis_is_smtp(s))
            smtp_finding(s, FK_SMTP_ON_NONSTANDARD_PORT, MT_SEV_INFO,
                         s->out.start_ts, 0, -1, "SMTP%s on port %u (named by nDPI)",
                         s->tls[R_CLI].on ? " over TLS" : "", (unsigned)port);
    }
    smtp_smuggling_finding(s);
    if (srv_silent != cli_silent) {
        s->out.one_sided = 1;
        smtp_finding(s, FK_ONE_SIDED_CAPTURE, MT_SEV_INFO, ts, 0, -1,
                     "only %s payload captured",
                     srv_silent ? "client->server" : "server->client");
    }
}

void dis_end(dis_session_t *s, enum mt_end_reason r, double ts)
{
    enum mt_protection prot;

    if (s == NULL || s->ended)
        return;
    if (s->client < 0)
        sniff_give_up(s);
    s->ended = 1;
    s->out.end_ts = ts;
    s->out.end_reason = r;
    finish_client(s, ts);
    smtp_tls_finish(s);
    prot = verdict(s);
    /* Evicted (flow table full): the connection went on unseen, so "no
     * TLS" is not known unless something was already exposed. */
    if (r == MT_END_EVICTED && prot == MT_PROT_CLEARTEXT && !s->out.exposed_envelope
        && !s->out.exposed_content && !s->out.exposed_credentials)
        prot = MT_PROT_INDETERMINATE;
    end_findings(s, prot, ts);
    s->out.protection = prot;
    s->out.client_side = s->client;
    s->out.client_bytes = s->side_bytes[s->client];
    s->out.server_bytes = s->side_bytes[1 - s->client];
    s->out.tls_started = s->tls[R_CLI].on && s->tls[R_SRV].on;
    snprintf(s->out.confidence, sizeof s->out.confidence, "%s",
             (s->midstream || s->out.one_sided || s->gap_seen || s->dir_guessed
              || r == MT_END_EVICTED)
                 ? "low" : "high");
    s->out.chain = s->chain;
    s->out.chain_len = s->chain_len;
    if (s->sink.session != NULL)
        s->sink.session(s->arg, &s->out);
    s->out.chain = NULL;
    s->out.chain_len = 0;
}

void dis_session_free(dis_session_t *s)
{
    if (s == NULL)
        return;
    sniff_free(s->sniff);
    smtp_lbuf_free(&s->lb[0]);
    smtp_lbuf_free(&s->lb[1]);
    smtp_hold_free(&s->hold);
    smtp_fifo_free(s);
    smtp_msg_free_all(s);
    smtp_spec_abort(s);
    smtp_tls_free(s);
    OPENSSL_cleanse(&s->auth, sizeof s->auth);
    free(s);
}

/* On 25/465/587 anything SMTP-like (TLS included); elsewhere TLS alone is
 * not SMTP (443 is HTTPS) unless nDPI said SMTP/SMTPS: an SMTP dialogue is
 * needed. */
int dis_is_smtp(const dis_session_t *s)
{
    if (s == NULL)
        return 0;
    if (expected_port(s) || s->ndpi == PNAME_SMTP)
        return s->is_smtp;
    return smtp_dialogue(s);
}

/* 0 once the connection is decided not to be SMTP: not on 25/465/587, no
 * SMTP dialogue (and nDPI did not say SMTP/SMTPS or a tunnel), and nDPI
 * named another protocol or the first bytes of a side cannot start SMTP. */
int dis_wants_bytes(const dis_session_t *s)
{
    if (s == NULL)
        return 0;
    if (expected_port(s) || s->ndpi == PNAME_SMTP || s->ndpi == PNAME_TUNNEL ||
        smtp_dialogue(s))
        return 1;
    if (s->ndpi == PNAME_OTHER)
        return 0;
    return !side_not_smtp(s, 0) && !side_not_smtp(s, 1);
}
