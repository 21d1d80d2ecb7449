/*
 * smtp_msg.c — message transactions and their content (see smtp_int.h).
 *
 * A message object is created by MAIL (or by content without MAIL) and
 * reference counted: s->txn (the open transaction), s->cmsg (content being
 * streamed), and every FIFO entry whose reply still concerns it (RCPT,
 * DATA, end of data, BDAT, and the RSET/MAIL/HELO/EHLO that abandoned it).
 * A message is emitted
 *   - when its final content reply arrives (end of DATA, BDAT ... LAST),
 *   - when DATA is refused (no content, complete),
 *   - otherwise when its last reference goes (abandoned by RSET/MAIL/EHLO
 *     once that command is answered, dropped by a gap, or at the end),
 * and only if a content command (DATA/BDAT) was sent in cleartext.  So a
 * transaction's replies have all been seen (in order) before it is
 * emitted, whenever the capture has them.
 *
 * Content octets go through body.h (size, SHA-256, headers, smuggling
 * signs); nothing of the body is stored here.  body_sha256 is given only
 * for content seen from its first to its last octet (complete); a cut
 * message has its size (octets seen) but no hash.
 *
 * Memory: at most SMTP_MSG_LIVE_MAX messages keep their body tracker and
 * recipients; past it the oldest one waiting for its reply is emitted
 * early (reply 0) and lightened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "escape.h"
#include "smtp_int.h"

/* Frees what only an unemitted message needs. */
static void msg_lighten(struct dis_session *s, struct smtp_msg *m)
{
    if (m->light)
        return;
    m->light = 1;
    if (s->n_live > 0)
        s->n_live--;
    if (m->body != NULL) {
        body_abort(m->body);
        free(m->body);
        m->body = NULL;
    }
    free(m->rcpts);
    m->rcpts = NULL;
    m->n_rcpts = m->cap_rcpts = 0;
}

static void msg_destroy(struct dis_session *s, struct smtp_msg *m)
{
    msg_lighten(s, m);
    if (m->prev != NULL)
        m->prev->next = m->next;
    else
        s->live_head = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    else
        s->live_tail = m->prev;
    free(m);
}

/*
 * Bounds the messages alive at once: past SMTP_MSG_LIVE_MAX the oldest one
 * that is neither the open transaction nor streaming is emitted now with
 * what is known (its final reply has not come yet) and lightened.
 */
static void msg_evict(struct dis_session *s, const struct smtp_msg *keep)
{
    for (struct smtp_msg *m = s->live_head; m != NULL; m = m->next) {
        if (m->light || m == keep || m == s->txn || m == s->cmsg)
            continue;
        if (m->content_cmd && !m->emitted)
            smtp_msg_emit(s, m, m->ts);
        msg_lighten(s, m);
        return;
    }
}

/* A new message (one reference, the caller's); NULL without memory. */
struct smtp_msg *smtp_msg_new(struct dis_session *s, double ts)
{
    struct smtp_msg *m = calloc(1, sizeof *m);

    if (m == NULL)
        return NULL;
    m->refs = 1;
    m->ts = ts;
    m->method = MT_METHOD_DATA;
    m->prev = s->live_tail;
    if (s->live_tail != NULL)
        s->live_tail->next = m;
    else
        s->live_head = m;
    s->live_tail = m;
    s->n_live++;
    if (s->n_live > SMTP_MSG_LIVE_MAX)
        msg_evict(s, m);
    return m;
}

struct smtp_msg *smtp_msg_ref(struct smtp_msg *m)
{
    if (m != NULL)
        m->refs++;
    return m;
}

/* Drops one reference; the last one emits (if content was sent) and frees. */
void smtp_msg_unref(struct dis_session *s, struct smtp_msg *m)
{
    if (m == NULL)
        return;
    if (m->refs > 0)
        m->refs--;
    if (m->refs > 0)
        return;
    if (m->content_cmd && !m->emitted)
        smtp_msg_emit(s, m, m->ts);
    msg_destroy(s, m);
}

/* dis_session_free: everything goes, nothing is emitted. */
void smtp_msg_free_all(struct dis_session *s)
{
    while (s->live_head != NULL)
        msg_destroy(s, s->live_head);
    s->txn = s->cmsg = NULL;
    s->n_live = 0;
}

/* The open transaction ends (RSET, MAIL, HELO/EHLO/LHLO sent): its
 * reference moves to the command's FIFO entry, so the message is emitted
 * once that command is answered (all earlier replies are in by then). */
void smtp_txn_end(struct dis_session *s, struct pending *e)
{
    if (s->txn == NULL)
        return;
    if (e != NULL && e->msg == NULL)
        e->msg = s->txn;
    else
        smtp_msg_unref(s, s->txn);
    s->txn = NULL;
}

/* Records one RCPT (counted always, kept up to DIS_RCPT_KEEP_MAX). */
void smtp_msg_add_rcpt(struct dis_session *s, struct smtp_msg *m, struct span addr)
{
    struct mt_recipient *r;
    const uint8_t *at = NULL;
    uint8_t dom[MT_STR];
    size_t dl;

    (void)s;
    if (m->rcpt_count < UINT32_MAX)
        m->rcpt_count++;
    if (m->light || m->n_rcpts >= DIS_RCPT_KEEP_MAX)
        return;
    if (m->n_rcpts == m->cap_rcpts) {
        size_t cap = m->cap_rcpts ? m->cap_rcpts * 2 : 4;
        struct mt_recipient *nr;

        if (cap > DIS_RCPT_KEEP_MAX)
            cap = DIS_RCPT_KEEP_MAX;
        nr = realloc(m->rcpts, cap * sizeof *nr);
        if (nr == NULL)
            return;
        m->rcpts = nr;
        m->cap_rcpts = cap;
    }
    r = &m->rcpts[m->n_rcpts++];
    memset(r, 0, sizeof *r);
    smtp_esc(r->address, sizeof r->address, addr.p, addr.len);
    for (size_t i = 0; i < addr.len; i++)
        if (addr.p[i] == '@')
            at = addr.p + i;
    if (at != NULL) {
        dl = addr.len - (size_t)(at + 1 - addr.p);
        if (dl > sizeof dom)
            dl = sizeof dom;
        for (size_t i = 0; i < dl; i++)
            dom[i] = (uint8_t)span_ascii_lower(at[1 + i]);
        smtp_esc(r->domain, sizeof r->domain, dom, dl);
    }
}

/* The message's content begins (DATA after 354, or the first BDAT). */
int smtp_content_start(struct dis_session *s, struct smtp_msg *m,
                       enum mt_method method, double ts)
{
    (void)s;
    if (!m->content_cmd) {
        m->content_cmd = 1;
        m->method = method;
        m->ts = ts;
    }
    if (m->body == NULL && !m->light) {
        m->body = calloc(1, sizeof *m->body);
        if (m->body == NULL)
            return -1;
        /* On failure body_begin leaves a tracker without a hash, which
         * still counts and finds the end of data. */
        (void)body_begin(m->body);
    }
    return 0;
}

/* After feeding: the first content octet makes the content exposed. */
void smtp_content_octets(struct dis_session *s, struct smtp_msg *m, double ts)
{
    if (m == NULL || m->exposed || m->body == NULL || m->body->size == 0)
        return;
    m->exposed = 1;
    if (!s->out.exposed_content)
        s->content_ts = ts;
    s->out.exposed_content = 1;
    s->n_exposures++;
}

/* Content of the message streaming ended on the client side. */
static void content_finished(struct dis_session *s, struct smtp_msg *m)
{
    if (s->cmsg == m) {
        s->cmsg = NULL;
        smtp_msg_unref(s, m);
    }
    if (s->txn == m) {
        s->txn = NULL;
        smtp_msg_unref(s, m);
    }
}

/* DATA content after 354: until CRLF.CRLF; what follows is commands. */
size_t smtp_body_data(struct dis_session *s, const uint8_t *p, size_t len, double ts)
{
    struct smtp_msg *m = s->cmsg;
    int done = 0;
    size_t n;

    if (m == NULL || m->body == NULL) {
        /* no tracker (no memory): the end cannot be found; resync */
        if (m != NULL)
            m->gap = 1;
        smtp_body_cut(s, ts);
        smtp_resync(s, 0);
        return 0;
    }
    n = body_feed_data(m->body, p, len, &done);
    smtp_content_octets(s, m, ts);
    if (!done)
        return len;
    m->content_end = 1;
    smtp_msg_ref(m);
    content_finished(s, m);
    smtp_cli_mode(s, CM_CMD);
    if (m->data_rejected) {
        smtp_msg_emit(s, m, ts);
        smtp_msg_unref(s, m);
    } else {
        struct pending e;

        memset(&e, 0, sizeof e);
        e.cmd = CMD_EOD;
        e.count = 1;
        e.ts = ts;
        e.msg = m;                      /* the reference taken above */
        smtp_fifo_push(s, &e);
    }
    return n;
}

/* BDAT chunk octets, by count. */
size_t smtp_bdat_data(struct dis_session *s, const uint8_t *p, size_t len, double ts)
{
    struct smtp_msg *m = s->cmsg;
    size_t n = len;

    if ((uint64_t)n > s->bdat_left)
        n = (size_t)s->bdat_left;
    if (m != NULL && m->body != NULL) {
        body_feed_raw(m->body, p, n);
        smtp_content_octets(s, m, ts);
    }
    s->bdat_left -= n;
    if (s->bdat_left == 0)
        smtp_bdat_chunk_done(s, ts);
    return n;
}

/* The current chunk is complete; after LAST the transaction is over. */
void smtp_bdat_chunk_done(struct dis_session *s, double ts)
{
    struct smtp_msg *m = s->cmsg;

    (void)ts;
    s->bdat_left = 0;
    smtp_cli_mode(s, CM_CMD);
    if (m == NULL)
        return;
    if (s->bdat_last) {
        m->content_end = 1;
        content_finished(s, m);
        return;
    }
    s->cmsg = NULL;
    smtp_msg_unref(s, m);               /* s->txn keeps it */
}

/* Content tracking lost (gap inside DATA content, end of capture): the
 * message is cut and no longer streams. */
void smtp_body_cut(struct dis_session *s, double ts)
{
    struct smtp_msg *m = s->cmsg;

    (void)ts;
    s->bdat_left = 0;
    if (m == NULL)
        return;
    m->gap = 1;
    content_finished(s, m);
}

/* ---- mid-stream start inside a body --------------------------------------------- */

/* Client bytes that are not commands at a mid-stream start: tracked as
 * content until CRLF.CRLF (then the client waits for the reply). */
void smtp_spec_feed(struct dis_session *s, const uint8_t *p, size_t len,
                    double ts, size_t *used)
{
    int done = 0;

    *used = len;
    if (s->spec == NULL) {
        s->spec = calloc(1, sizeof *s->spec);
        if (s->spec == NULL) {
            smtp_cli_mode(s, CM_SKIP);
            return;
        }
        (void)body_begin(s->spec);
        s->spec_ts = ts;
        s->spec_done = 0;
    }
    if (s->spec_done) {
        smtp_cli_mode(s, CM_SKIP);
        return;
    }
    *used = body_feed_data(s->spec, p, len, &done);
    if (done) {
        s->spec_done = 1;
        smtp_cli_mode(s, CM_SKIP);
    }
}

void smtp_spec_abort(struct dis_session *s)
{
    if (s->spec != NULL) {
        body_abort(s->spec);
        free(s->spec);
        s->spec = NULL;
    }
    s->spec_done = 0;
}

/*
 * A server reply ends the mid-stream guess: content that ended with
 * CRLF.CRLF before it was a message whose start was not seen (emitted cut,
 * reply = this reply; 0 at the end of capture).  Otherwise nothing.
 */
void smtp_spec_resolve(struct dis_session *s, int code, double ts)
{
    struct smtp_msg *m;

    if (s->spec == NULL)
        return;
    if (!s->spec_done || (m = smtp_msg_new(s, s->spec_ts)) == NULL) {
        smtp_spec_abort(s);
        return;
    }
    m->content_cmd = 1;
    m->method = MT_METHOD_DATA;
    m->body = s->spec;
    s->spec = NULL;
    s->spec_done = 0;
    m->content_end = 1;
    m->gap = 1;                         /* its start was not captured */
    m->reply_code = code;
    m->lmtp = s->lmtp;
    smtp_content_octets(s, m, s->spec_ts);
    smtp_msg_emit(s, m, ts);
    smtp_msg_unref(s, m);
}

/* ---- emission ------------------------------------------------------------------ */

/* Remembers a message's non-CRLF end-of-data look-alikes: the evidence is
 * that of the first message with command lines after one, else of the
 * first message with any. */
static void smuggling_note(struct dis_session *s, const struct smtp_msg *m)
{
    const struct body *b = m->body;
    int high = b->smuggled_command ? 1 : 0;

    if (s->smug.seen && (s->smug.high || !high))
        return;
    s->smug.seen = 1;
    s->smug.high = high;
    s->smug.ts = m->ts;
    snprintf(s->smug.ev, sizeof s->smug.ev,
             "%u non-CRLF end-of-data look-alike(s) in the content of message %u "
             "(first at offset %llu)%s", (unsigned)b->bare_eod_candidates, m->seq,
             (unsigned long long)b->smuggle_offset,
             high ? ", followed by SMTP command lines" : "");
}

/*
 * Hands the message to the sink, then the findings that name it.  Its
 * body and recipients are released afterwards (nothing needs them).
 */
void smtp_msg_emit(struct dis_session *s, struct smtp_msg *m, double ts)
{
    struct mt_message mm;
    char hex[65];
    int complete;

    (void)ts;
    if (m->emitted)
        return;
    m->emitted = 1;
    m->seq = ++s->msg_seq;
    memset(&mm, 0, sizeof mm);
    hex[0] = '\0';
    mm.seq = m->seq;
    mm.method = m->method;
    memcpy(mm.mail_from, m->mail_from, sizeof mm.mail_from);
    mm.mail_from_seen = m->mail_from_seen;
    mm.rcpt_count = m->rcpt_count;
    if (m->body != NULL) {
        body_finish(m->body, hex);
        mm.size = m->body->size;
        memcpy(mm.subject, m->body->subject, sizeof mm.subject);
        memcpy(mm.message_id, m->body->message_id, sizeof mm.message_id);
        memcpy(mm.from_hdr, m->body->from_hdr, sizeof mm.from_hdr);
        memcpy(mm.date_hdr, m->body->date_hdr, sizeof mm.date_hdr);
    }
    complete = m->content_end && !m->gap;
    if (complete && mm.size > 0 && hex[0] != '\0')
        memcpy(mm.body_sha256, hex, sizeof mm.body_sha256);
    mm.ts = m->ts;
    mm.reply_code = m->reply_code;
    mm.content_exposed = m->exposed;
    mm.complete = complete;
    mm.rcpts = m->rcpts;
    mm.n_rcpts = m->n_rcpts;
    if (m->exposed && s->out.cleartext_messages < UINT32_MAX)
        s->out.cleartext_messages++;
    if (s->sink.message != NULL)
        s->sink.message(s->arg, &mm);

    if (m->exposed && s->body_findings < DIS_BODY_FINDINGS_MAX) {
        char reply[24];

        s->body_findings++;
        if (m->reply_code)
            snprintf(reply, sizeof reply, "reply %d", m->reply_code);
        else
            snprintf(reply, sizeof reply, "no reply seen");
        smtp_finding(s, FK_PLAINTEXT_MESSAGE_BODY, MT_SEV_HIGH, m->ts, m->seq, -1,
                     "%s: %llu octets in cleartext%s, %s",
                     mt_method_name(m->method), (unsigned long long)mm.size,
                     complete ? "" : " (content cut)", reply);
    }
    /* lmtp_cleartext and smtp_smuggling_eod_ambiguity are session-level
     * (SPEC §5): msg_seq 0.  Smuggling is raised at the end, with the
     * severity of the worst message. */
    if (m->exposed && m->lmtp)
        smtp_finding(s, FK_LMTP_CLEARTEXT, MT_SEV_MEDIUM, m->ts, 0, -1,
                     "LMTP delivery of message content in cleartext");
    if (m->body != NULL && m->body->bare_eod_candidates > 0)
        smuggling_note(s, m);
    msg_lighten(s, m);
}

/* Raises smtp_smuggling_eod_ambiguity once for the session (dis_end). */
void smtp_smuggling_finding(struct dis_session *s)
{
    if (!s->smug.seen)
        return;
    smtp_finding(s, FK_SMTP_SMUGGLING_EOD_AMBIGUITY,
                 s->smug.high ? MT_SEV_HIGH : MT_SEV_LOW, s->smug.ts, 0, -1, "%s",
                 s->smug.ev);
}
