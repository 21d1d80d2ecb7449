/*
 * smtp_line.c — how the bytes of each direction are cut up: the line
 * splitter with its per-direction carry buffer, the TLS check at line
 * starts, the TLS byte counter, and the hold buffer for client bytes that
 * wait for a reply (see smtp_int.h).
 *
 * Line splitter.  New bytes are searched for LF with memchr; a line that
 * completes inside one segment is handed over in place (zero copy); a
 * line that spans segments is accumulated in the carry buffer, allocated
 * lazily and grown up to DIS_LINE_MAX (+1).  A longer line keeps its first
 * DIS_LINE_MAX bytes, the rest up to LF is dropped, and the line is still
 * parsed (smtp_line_too_long, once).  The handler sees the line without
 * its LF and without trailing CRs (both CRLF and bare LF end a line).
 *
 * TLS at a line start.  SMTP lines never start with 0x14..0x17 or a byte
 * >= 0x80, so a line start with such a byte is held (at most 2 bytes) until
 * tls_peek() can tell; a TLS record diverts the direction to TLS mode (what
 * that means — implicit TLS, STARTTLS, unexplained — is decided in
 * tls_divert()).  The same check runs on the first bytes after a gap,
 * which may start a record (a gap over the STARTTLS/220 exchange).
 *
 * Hold buffer.  After DATA, STARTTLS and AUTH steps the meaning of the
 * next client bytes depends on the reply; they are copied (up to
 * DIS_HOLD_MAX) with their segment boundaries and gaps, and replayed when
 * the reply arrives (smtp_hold_release) or resolved without it
 * (smtp_hold_blind: overflow, end of capture).
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "smtp_int.h"

/* ---- carry buffers ------------------------------------------------------------ */

/* Empties the carry; discard: skip to the next LF.  A big buffer is freed
 * (thousands of sessions: only lines that are long right now cost memory). */
void smtp_lbuf_reset(struct lbuf *lb, int discard)
{
    if (lb->buf != NULL && lb->len > 0)
        OPENSSL_cleanse(lb->buf, lb->len);
    lb->len = 0;
    lb->trunc = 0;
    lb->wipe = 0;
    lb->probe = 0;
    lb->discard = discard ? 1 : 0;
    if (lb->cap > SMTP_CARRY_KEEP) {
        free(lb->buf);
        lb->buf = NULL;
        lb->cap = 0;
    }
}

void smtp_lbuf_free(struct lbuf *lb)
{
    if (lb->buf != NULL) {
        OPENSSL_cleanse(lb->buf, lb->cap);
        free(lb->buf);
    }
    memset(lb, 0, sizeof *lb);
}

/* Appends line content p[0..n) (no LF) to the carry, keeping at most
 * DIS_LINE_MAX bytes; the rest sets trunc.  On allocation failure the line
 * is treated as truncated at what is held. */
static void carry_append(struct lbuf *lb, const uint8_t *p, size_t n)
{
    size_t room, want;

    if (lb->trunc || n == 0)
        return;
    room = DIS_LINE_MAX - lb->len;
    if (n > room) {
        n = room;
        lb->trunc = 1;
    }
    if (n == 0)
        return;
    want = (size_t)lb->len + n;
    if (want > lb->cap) {
        size_t cap = lb->cap ? lb->cap : SMTP_CARRY_MIN;
        uint8_t *nb;

        while (cap < want)
            cap *= 2;
        if (cap > DIS_LINE_MAX)
            cap = DIS_LINE_MAX;
        nb = realloc(lb->buf, cap);
        if (nb == NULL) {
            lb->trunc = 1;
            return;
        }
        lb->buf = nb;
        lb->cap = (uint32_t)cap;
    }
    memcpy(lb->buf + lb->len, p, n);
    lb->len += (uint32_t)n;
}

/* ---- TLS ------------------------------------------------------------------------- */

/* 1 when c can start a TLS record or an SSLv2 hello (never an SMTP line). */
int smtp_tls_candidate(uint8_t c)
{
    return (c >= 0x14 && c <= 0x17) || c >= 0x80;
}

static int is_tls_kind(enum tls_peek k)
{
    return k == TLS_PEEK_HANDSHAKE || k == TLS_PEEK_ALERT || k == TLS_PEEK_CCS ||
           k == TLS_PEEK_APPDATA || k == TLS_PEEK_SSLV2_HELLO;
}

/* Marks role as speaking TLS from now on.  kind is what its first record
 * was (TLS_PEEK_NEED_MORE when unknown, e.g. after a gap). */
void smtp_tls_begin(struct dis_session *s, int role, enum tls_peek kind, double ts)
{
    struct tlsdir *t = &s->tls[role];

    if (t->on)
        return;
    t->on = 1;
    t->kind = (int)kind;
    t->hs = -1;
    t->ts = ts;
    s->is_smtp = 1;
    if (role == R_CLI)
        smtp_cli_mode(s, CM_TLS);
    else
        smtp_srv_mode(s, SM_TLS);
}

/* Bytes of a direction in TLS mode: the first 6 are looked at here (first
 * record type, and the handshake type of the server's first record); all
 * of them go to the handshake reader until its summary is taken
 * (smtp_tls.c), after which they are only counted. */
static void tls_bytes(struct dis_session *s, int role, const uint8_t *p, size_t len,
                      double ts)
{
    struct tlsdir *t = &s->tls[role];
    const uint8_t *q = p;
    size_t n = len;

    while (t->head_len < sizeof t->head && n > 0) {
        t->head[t->head_len++] = *q++;
        n--;
        if (t->head_len == sizeof t->head)
            t->hs = tls_peek_hs_type(t->head, t->head_len);
    }
    s->any_line[role] = 1;
    smtp_tls_feed(s, role, p, len, ts);
}

/*
 * A TLS record starts at a line start of role.  Decides what it means for
 * the verdict and switches the direction to TLS mode.
 */
static void tls_divert(struct dis_session *s, int role, enum tls_peek kind, double ts)
{
    int first = !s->any_line[role] && s->gapb[role] == 0;

    if (role == R_CLI) {
        switch (s->cmode) {
        case CM_INJECT:
        case CM_TLSWAIT:
            break;                      /* STARTTLS go-ahead (or committed) */
        case CM_MIDSTART:
            s->midstream_tls = 1;
            break;
        case CM_CMD:
            if (first && !s->midstream) {
                if (kind == TLS_PEEK_HANDSHAKE || kind == TLS_PEEK_SSLV2_HELLO)
                    s->implicit_cli = 1;
                else
                    s->midstream_tls = 1;
            } else if (first && s->midstream) {
                s->midstream_tls = 1;
            } else if (!s->post220) {
                s->tls_unexplained = 1;
            }
            break;
        default:
            s->tls_unexplained = 1;     /* after a gap / resync */
            break;
        }
    } else {
        if (s->smode != SM_TLSWAIT) {
            if (first && s->implicit_cli)
                ;                       /* answer to an implicit-TLS hello */
            else if (first && s->midstream)
                s->midstream_tls = 1;
            else
                s->tls_unexplained = 1;
        }
    }
    smtp_tls_begin(s, role, kind, ts);
}

/* Result of looking at a line start for TLS. */
enum ls { LS_LINE, LS_MORE, LS_TLS };

/*
 * Looks at the first bytes of the current line: the carry (when it holds
 * the line start) followed by p.  Sets *kind for LS_TLS.  v2srv: the
 * server answering an SSLv2-format ClientHello, whose SSLv2 SERVER-HELLO
 * record (2-byte header with the high bit, message type 4) counts as TLS;
 * its header is binary, so an LF in it does not end the look.
 */
static enum ls line_start(const struct lbuf *lb, const uint8_t *p, size_t len,
                          enum tls_peek *kind, int v2srv)
{
    uint8_t h[3];
    size_t n = 0, i;
    int lf = 0;
    enum tls_peek k;

    for (i = 0; i < lb->len && n < sizeof h; i++)
        h[n++] = lb->buf[i];
    for (i = 0; i < len && n < sizeof h; i++) {
        if (p[i] == '\n' && !(v2srv && n > 0 && (h[0] & 0x80u))) {
            lf = 1;
            break;
        }
        h[n++] = p[i];
    }
    if (n == 0)
        return lf ? LS_LINE : LS_MORE;
    if (!smtp_tls_candidate(h[0]))
        return LS_LINE;
    if (v2srv && (h[0] & 0x80u)) {
        if (n < sizeof h)
            return LS_MORE;
        if (h[2] == 4 && (((unsigned)h[0] & 0x7fu) << 8 | h[1]) >= 11u) {
            *kind = TLS_PEEK_HANDSHAKE;
            return LS_TLS;
        }
    }
    k = tls_peek(h, n);
    if (k == TLS_PEEK_NEED_MORE)
        return (lf || n >= sizeof h) ? LS_LINE : LS_MORE;
    if (!is_tls_kind(k))
        return LS_LINE;
    *kind = k;
    return LS_TLS;
}

/* Hands one complete line to the role's handler.  probe: a server line
 * that began right where a gap ended (smtp_srv_gap_line decides). */
static void deliver_line(struct dis_session *s, int role, struct span content,
                         int trunc, double ts, uint64_t chunk, int probe)
{
    struct span line = content;

    if (probe) {
        while (line.len > 0 && line.p[line.len - 1] == '\r')
            line.len--;
        if (!smtp_srv_gap_line(s, line, trunc, ts))
            return;                     /* not a reply line: skipped */
        line = content;
    }
    if (trunc) {
        smtp_finding(s, FK_SMTP_LINE_TOO_LONG, MT_SEV_LOW, ts, 0, -1,
                     "%s line longer than %u octets (cut for parsing)",
                     role == R_CLI ? "client->server" : "server->client",
                     (unsigned)DIS_LINE_MAX);
    } else {
        while (line.len > 0 && line.p[line.len - 1] == '\r')
            line.len--;
    }
    s->any_line[role] = 1;
    if (role == R_CLI)
        smtp_cli_line(s, line, content, ts, chunk);
    else
        smtp_srv_line(s, line, ts);
}

/*
 * One step of line mode on role: consumes up to and including one LF, or
 * everything when no LF follows (carried).  Returns the bytes consumed; 0
 * only when the direction was diverted to TLS (mode changed).
 */
static size_t line_step(struct dis_session *s, int role, const uint8_t *p,
                        size_t len, double ts, uint64_t chunk)
{
    struct lbuf *lb = &s->lb[role];
    const uint8_t *lf;
    size_t n;

    if (!lb->discard && !lb->trunc &&
        (lb->len == 0 || (lb->len < 3 && smtp_tls_candidate(lb->buf[0])))) {
        enum tls_peek kind = TLS_PEEK_NEED_MORE;
        int v2srv = role == R_SRV && s->tls[R_CLI].on &&
                    s->tls[R_CLI].kind == TLS_PEEK_SSLV2_HELLO;

        switch (line_start(lb, p, len, &kind, v2srv)) {
        case LS_MORE:
            carry_append(lb, p, len);
            return len;
        case LS_TLS: {
            uint32_t held = lb->len;

            if (role == R_SRV && s->srv_recover)
                smtp_srv_fallback(s, ts);   /* TLS after the gap: no reply */
            lb->after_gap = 0;
            tls_divert(s, role, kind, ts);
            if (held > 0)
                tls_bytes(s, role, lb->buf, held, ts);
            smtp_lbuf_reset(lb, 0);
            return 0;
        }
        case LS_LINE:
            if (lb->after_gap) {
                /* Not a record after a gap.  A server line starting right
                 * at the gap's end may be a whole reply line (decided when
                 * it is complete); otherwise the rest of that line is
                 * unusable. */
                if (role == R_SRV && s->smode == SM_REPLY)
                    lb->probe = 1;
                else
                    smtp_lbuf_reset(lb, 1);
            }
            break;
        }
    }
    lb->after_gap = 0;
    if (lb->discard) {
        lf = memchr(p, '\n', len);
        if (lf == NULL)
            return len;
        lb->discard = 0;
        return (size_t)(lf - p) + 1;
    }
    lf = memchr(p, '\n', len);
    if (lf == NULL) {
        carry_append(lb, p, len);
        return len;
    }
    n = (size_t)(lf - p);
    if (lb->len == 0 && !lb->trunc) {
        int trunc = n > DIS_LINE_MAX, probe = lb->probe;

        lb->probe = 0;
        deliver_line(s, role, span_make(p, trunc ? DIS_LINE_MAX : n), trunc,
                     ts, chunk, probe);
    } else {
        int probe = lb->probe;

        lb->probe = 0;
        carry_append(lb, p, n);
        deliver_line(s, role, span_make(lb->buf, lb->len), lb->trunc, ts, chunk,
                     probe);
        smtp_lbuf_reset(lb, 0);
    }
    return n + 1;
}

/*
 * A server gap cut the line being read: when it began at a line start
 * (not a line probed after an earlier gap) with "NNN " it is a final reply
 * line whose text was cut, so it is handed over as such (its code is what
 * matters).  Only the first line of a reply qualifies: the last line of a
 * multi-line reply may be a cut EHLO keyword.  Returns 1 when delivered.
 */
int smtp_srv_cut_line(struct dis_session *s, double ts)
{
    struct lbuf *lb = &s->lb[R_SRV];

    if (s->smode != SM_REPLY || s->rep.active || lb->discard || lb->probe ||
        lb->after_gap || lb->trunc || !smtp_reply_prefix(lb->buf, lb->len) ||
        lb->buf[3] != ' ')
        return 0;
    deliver_line(s, R_SRV, span_make(lb->buf, lb->len), 0, ts, 0, 0);
    smtp_lbuf_reset(lb, 0);
    return 1;
}

/* ---- hold buffer ---------------------------------------------------------------- */

void smtp_hold_start(struct dis_session *s, enum cmd_id trig, uint64_t chunk,
                     double ts)
{
    struct hold *h = &s->hold;

    h->len = 0;
    h->n = 0;
    h->trigger = (uint8_t)trig;
    h->trig_chunk = chunk;
    h->trig_ts = ts;
    s->hold_on = 1;
    smtp_cli_mode(s, CM_HOLD);
}

void smtp_hold_free(struct hold *h)
{
    if (h->buf != NULL) {
        OPENSSL_cleanse(h->buf, h->cap);
        free(h->buf);
    }
    memset(h, 0, sizeof *h);
}

/* Grows the hold buffer to hold want bytes (<= DIS_HOLD_MAX). */
static int hold_grow(struct hold *h, size_t want)
{
    size_t cap;
    uint8_t *nb;

    if (want <= h->cap)
        return 0;
    cap = h->cap ? h->cap : 1024u;
    while (cap < want)
        cap *= 2;
    if (cap > DIS_HOLD_MAX)
        cap = DIS_HOLD_MAX;
    nb = malloc(cap);
    if (nb == NULL)
        return -1;
    if (h->buf != NULL) {
        memcpy(nb, h->buf, h->len);
        OPENSSL_cleanse(h->buf, h->cap);
        free(h->buf);
    }
    h->buf = nb;
    h->cap = (uint32_t)cap;
    return 0;
}

/*
 * Copies client bytes into the hold.  Segment boundaries are kept as
 * items: the bytes of the trigger's own segment stay a separate item (the
 * STARTTLS "same segment" test), later segments merge (chunk id 0 once two
 * differ).  Returns the bytes taken; on overflow the hold is resolved
 * without the reply and the caller goes on in the new mode.
 */
static size_t hold_append(struct dis_session *s, const uint8_t *p, size_t len,
                          double ts, uint64_t chunk)
{
    struct hold *h = &s->hold;
    size_t room = DIS_HOLD_MAX - h->len, n = len < room ? len : room;
    struct hold_item *last = h->n ? &h->it[h->n - 1] : NULL;

    if (n > 0 && hold_grow(h, (size_t)h->len + n) != 0)
        n = 0;
    if (n > 0) {
        if (last != NULL && last->len > 0 &&
            (last->chunk == chunk ||
             (last->chunk != h->trig_chunk || h->trig_chunk == 0))) {
            if (last->chunk != chunk)
                last->chunk = 0;
            last->len += (uint32_t)n;
        } else if (h->n < SMTP_HOLD_ITEMS) {
            struct hold_item *it = &h->it[h->n++];

            it->off = h->len;
            it->len = (uint32_t)n;
            it->gap = 0;
            it->chunk = chunk;
            it->ts = ts;
        } else {
            n = 0;                      /* no item left: resolve now */
        }
        memcpy(h->buf + h->len, p, n);
        h->len += (uint32_t)n;
    }
    if (n < len)
        smtp_hold_blind(s, 0);
    return n;
}

/* A gap while holding: remembered in place; when no item is left the hold
 * is resolved first and the gap applies to the new mode. */
void smtp_hold_gap(struct dis_session *s, uint64_t len, double ts)
{
    struct hold *h = &s->hold;

    if (h->n < SMTP_HOLD_ITEMS) {
        struct hold_item *it = &h->it[h->n++];

        it->off = h->len;
        it->len = 0;
        it->gap = len;
        it->chunk = 0;
        it->ts = ts;
        return;
    }
    smtp_hold_blind(s, 0);
    smtp_client_gap_effect(s, len, ts);
}

/*
 * The reply waited for decided: the client stream continues in mode and
 * the held bytes (and gaps) are replayed through it, in order.  They may
 * start a new hold; the rest then goes into it.  No-op without a hold.
 */
void smtp_hold_release(struct dis_session *s, enum cli_mode mode)
{
    struct hold h;
    unsigned i;

    if (!s->hold_on)
        return;
    h = s->hold;
    memset(&s->hold, 0, sizeof s->hold);
    s->hold_on = 0;
    smtp_cli_mode(s, mode);
    for (i = 0; i < h.n; i++) {
        const struct hold_item *it = &h.it[i];

        if (it->len > 0)
            smtp_client_feed(s, h.buf + it->off, it->len, it->ts, it->chunk);
        else
            smtp_client_gap_effect(s, it->gap, it->ts);
    }
    smtp_hold_free(&h);
}

/* tls_peek() of the first held bytes. */
enum tls_peek smtp_hold_peek(const struct dis_session *s)
{
    const struct hold *h = &s->hold;
    size_t n = 0;

    if (h->n == 0 || h->it[0].len == 0)
        return TLS_PEEK_NEED_MORE;
    n = h->it[0].len < 6 ? h->it[0].len : 6;
    return tls_peek(h->buf + h->it[0].off, n);
}

/* The first complete held line (before any gap), without CR/LF. */
int smtp_hold_first_line(const struct dis_session *s, struct span *line)
{
    const struct hold *h = &s->hold;
    const uint8_t *lf;
    size_t n;

    if (h->n == 0 || h->it[0].len == 0)
        return 0;
    lf = memchr(h->buf + h->it[0].off, '\n', h->it[0].len);
    if (lf == NULL)
        return 0;
    n = (size_t)(lf - (h->buf + h->it[0].off));
    while (n > 0 && h->buf[h->it[0].off + n - 1] == '\r')
        n--;
    *line = span_make(h->buf + h->it[0].off, n);
    return 1;
}

/* ---- feeding ---------------------------------------------------------------------- */

/*
 * Client bytes (one segment, or a replayed part of the hold) through the
 * current mode.  Every step consumes bytes or changes the mode; a step
 * that does neither drops the rest (defensive, never expected).
 */
void smtp_client_feed(struct dis_session *s, const uint8_t *p, size_t len,
                      double ts, uint64_t chunk)
{
    s->last_chunk = chunk;
    while (len > 0) {
        enum cli_mode before = s->cmode;
        size_t n = 0;

        switch (s->cmode) {
        case CM_HOLD:
            n = hold_append(s, p, len, ts, chunk);
            break;
        case CM_BODY:
            n = smtp_body_data(s, p, len, ts);
            s->any_line[R_CLI] = 1;
            break;
        case CM_BDAT:
            n = smtp_bdat_data(s, p, len, ts);
            s->any_line[R_CLI] = 1;
            break;
        case CM_MIDBODY:
            smtp_spec_feed(s, p, len, ts, &n);
            s->any_line[R_CLI] = 1;
            break;
        case CM_TLS:
            tls_bytes(s, R_CLI, p, len, ts);
            n = len;
            break;
        case CM_CMD:
        case CM_SKIP:
        case CM_MIDSTART:
        case CM_INJECT:
        case CM_TLSWAIT:
            n = line_step(s, R_CLI, p, len, ts, chunk);
            break;
        }
        if (n == 0 && s->cmode == before)
            n = len;
        if (n > len)
            n = len;
        p += n;
        len -= n;
    }
}

/* Server bytes (one segment) through the current mode. */
void smtp_server_feed(struct dis_session *s, const uint8_t *p, size_t len,
                      double ts)
{
    while (len > 0) {
        enum srv_mode before = s->smode;
        size_t n;

        if (s->smode == SM_TLS) {
            tls_bytes(s, R_SRV, p, len, ts);
            n = len;
        } else {
            n = line_step(s, R_SRV, p, len, ts, 0);
        }
        if (n == 0 && s->smode == before)
            n = len;
        if (n > len)
            n = len;
        p += n;
        len -= n;
    }
}
