/*
 * body.c — message content tracker (see body.h).
 *
 * Three byte-at-a-time state machines, all state in struct body so that a
 * feed can stop at any byte and the next call resumes (no pointer into a
 * caller's buffer survives a call):
 *
 *  - the DATA scanner (dstate) turns the raw dot-stuffed stream into
 *    content: a '.' at the start of a line (after CRLF, or at the start of
 *    the stream) is dropped; ".\r\n" there ends the data.  The CRLF before
 *    the '.' belongs to the content (RFC 5321 §4.1.1.4).  The only byte it
 *    ever holds back is the CR of ".\r" until the next byte says whether it
 *    is the terminator; that CR is then emitted from a constant.  Content
 *    is passed on in runs, not byte by byte.
 *  - the header scanner (hstate) reads the content's header section for
 *    Subject, Message-ID, From and Date.
 *  - the smuggling scanner (sstate) reads the raw stream (DATA before
 *    unstuffing, or BDAT octets) for end-of-data look-alikes that use a
 *    bare LF or bare CR, and for command lines after one.
 *
 * Inside a line neither the DATA scanner nor the smuggling scanner changes
 * state (the header scanner reads the content runs), so the feeders skip
 * such bytes a word at a time (scan_eol) and step over a plain CRLF line
 * break in one go (plain_crlf); the two byte machines only see the bytes
 * around other line breaks.  Both shortcuts leave every state exactly as
 * feeding the bytes one by one would.
 */
#include <string.h>
#include <openssl/evp.h>
#include "body.h"
#include "escape.h"
#include "span.h"

/* DATA scanner. */
enum {
    D_BOL = 0,      /* at a line start (stream start or after CRLF)       */
    D_MID,          /* inside a line                                       */
    D_CR,           /* after a CR (emitted as content)                     */
    D_DOT,          /* after a line-start '.' (dropped)                    */
    D_DOTCR,        /* after line-start ".\r" (CR held back)               */
    D_END           /* terminator consumed                                 */
};

/* Header scanner. */
enum {
    H_BOL = 0,      /* at the start of a header line                       */
    H_BOL_CR,       /* line started with CR: empty line if LF follows      */
    H_NAME,         /* reading a field name                                */
    H_NAME_WS,      /* blanks after the name, before ':'                   */
    H_VAL_LEAD,     /* blanks after ':'                                    */
    H_VAL,          /* value bytes                                         */
    H_VAL_CR,       /* CR inside a value (line end if LF follows)          */
    H_FOLD,         /* leading blanks of a continuation line               */
    H_SKIP,         /* rest of a line we do not keep                       */
    H_DONE          /* header section over (or scan limit reached)         */
};

/* Which kept header the value being read goes to (cur_which). */
enum { W_NONE = 0, W_SUBJECT, W_MESSAGE_ID, W_FROM, W_DATE };

/*
 * Smuggling scanner: kind of line break that began the current line (K_*),
 * combined with the phase: at line start (S_BOL + k), after a line-start
 * '.' (S_DOT + k), after line-start ".\r" (S_DOTCR + k); plus inside a line
 * and after a CR whose meaning is not known yet.  The stream starts as
 * after CRLF.  A candidate is  break1 '.' break2  where not both are CRLF.
 */
enum { K_CRLF = 0, K_LF = 1, K_CR = 2 };
enum { S_BOL = 0, S_DOT = 3, S_DOTCR = 6, S_MID = 9, S_CR = 10 };

/* ---- header section ------------------------------------------------------ */

static int is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

/* RFC 5322 ftext: printable US-ASCII except ':'. */
static int is_name_char(uint8_t c) { return c > 32 && c < 127 && c != ':'; }

static char *hdr_field(struct body *b, int which)
{
    switch (which) {
    case W_SUBJECT:    return b->subject;
    case W_MESSAGE_ID: return b->message_id;
    case W_FROM:       return b->from_hdr;
    case W_DATE:       return b->date_hdr;
    }
    return NULL;
}

/* Kept header for the name in cur_name, W_NONE for others.  A name longer
 * than cur_name (cur_name_len past its size) matches nothing. */
static int hdr_lookup(const struct body *b)
{
    struct span s;

    if (b->cur_name_len > sizeof b->cur_name)
        return W_NONE;
    s = span_make((const uint8_t *)b->cur_name, b->cur_name_len);
    if (span_eq_ci(s, "subject"))
        return W_SUBJECT;
    if (span_eq_ci(s, "message-id"))
        return W_MESSAGE_ID;
    if (span_eq_ci(s, "from"))
        return W_FROM;
    if (span_eq_ci(s, "date"))
        return W_DATE;
    return W_NONE;
}

/* Appends one value byte.  cur_val_len counts every byte; only the first
 * sizeof valbuf are stored, which is enough for the escaped field to end
 * in "..." when the value is longer than the field. */
static void hdr_val_put(struct body *b, uint8_t c)
{
    if (b->cur_val_len < sizeof b->valbuf)
        b->valbuf[b->cur_val_len] = c;
    b->cur_val_len++;
}

/* Drops trailing blanks of the value (only while all of it is stored). */
static void hdr_val_rtrim(struct body *b)
{
    if (b->cur_val_len > sizeof b->valbuf)
        return;
    while (b->cur_val_len > 0 && is_blank(b->valbuf[b->cur_val_len - 1]))
        b->cur_val_len--;
}

/* Ends the value being read: the first occurrence of a kept header is
 * escaped into its field, later ones are ignored. */
static void hdr_commit(struct body *b)
{
    char *f = hdr_field(b, b->cur_which);

    if (f != NULL && f[0] == '\0') {
        size_t n;

        hdr_val_rtrim(b);
        n = b->cur_val_len < sizeof b->valbuf ? b->cur_val_len : sizeof b->valbuf;
        mt_escape(f, MT_STR, b->valbuf, n);
    }
    b->cur_which = W_NONE;
    b->cur_val_len = 0;
}

/* Header section over: keep what was being read. */
static void hdr_close(struct body *b)
{
    if (b->hstate != H_DONE) {
        hdr_commit(b);
        b->hstate = H_DONE;
    }
}

/* Start of a line that is not a continuation: the previous value is
 * complete; c begins a field name or ends the header section. */
static void hdr_new_line(struct body *b, uint8_t c)
{
    hdr_commit(b);
    if (!is_name_char(c)) {
        b->hstate = H_DONE;             /* not a header line */
        return;
    }
    b->cur_name[0] = (char)c;
    b->cur_name_len = 1;
    b->hstate = H_NAME;
}

/* ':' seen after the name. */
static void hdr_colon(struct body *b)
{
    b->cur_which = hdr_lookup(b);
    b->cur_val_len = 0;
    b->hstate = b->cur_which != W_NONE ? H_VAL_LEAD : H_SKIP;
}

/* One content byte through the header scanner (hstate != H_DONE). */
static void hdr_byte(struct body *b, uint8_t c)
{
    switch (b->hstate) {
    case H_BOL:
        if (is_blank(c))
            b->hstate = b->cur_which != W_NONE ? H_FOLD : H_SKIP;
        else if (c == '\r')
            b->hstate = H_BOL_CR;
        else if (c == '\n')
            hdr_close(b);               /* empty line (bare LF) */
        else
            hdr_new_line(b, c);
        break;
    case H_BOL_CR:
        hdr_close(b);                   /* empty line, or "\r" junk */
        break;
    case H_NAME:
        if (c == ':') {
            hdr_colon(b);
        } else if (is_blank(c)) {
            b->hstate = H_NAME_WS;
        } else if (is_name_char(c)) {
            if (b->cur_name_len < sizeof b->cur_name)
                b->cur_name[b->cur_name_len] = (char)c;
            if (b->cur_name_len <= sizeof b->cur_name)
                b->cur_name_len++;
        } else {
            b->hstate = H_DONE;         /* not a header line */
        }
        break;
    case H_NAME_WS:
        if (c == ':')
            hdr_colon(b);
        else if (!is_blank(c))
            b->hstate = H_DONE;
        break;
    case H_VAL_LEAD:
        if (is_blank(c))
            break;
        /* FALLTHROUGH */
    case H_VAL:
        if (c == '\r')
            b->hstate = H_VAL_CR;
        else if (c == '\n')
            b->hstate = H_BOL;
        else {
            hdr_val_put(b, c);
            b->hstate = H_VAL;
        }
        break;
    case H_VAL_CR:
        if (c == '\n') {
            b->hstate = H_BOL;
        } else {
            hdr_val_put(b, '\r');       /* bare CR is value (escaped later) */
            if (c != '\r') {
                hdr_val_put(b, c);
                b->hstate = H_VAL;
            }
        }
        break;
    case H_FOLD:
        if (is_blank(c))
            break;
        if (c == '\r') {
            b->hstate = H_VAL_CR;       /* blank continuation line */
        } else if (c == '\n') {
            b->hstate = H_BOL;
        } else {
            if (b->cur_val_len > 0) {   /* join with one space */
                hdr_val_rtrim(b);
                hdr_val_put(b, ' ');
            }
            hdr_val_put(b, c);
            b->hstate = H_VAL;
        }
        break;
    case H_SKIP:
        if (c == '\n')
            b->hstate = H_BOL;
        break;
    default:
        break;
    }
}

/* Header scanner over content p[0..n), within DIS_HEADER_SCAN_MAX. */
static void hdr_feed(struct body *b, const uint8_t *p, size_t n)
{
    size_t room = DIS_HEADER_SCAN_MAX - b->header_bytes, i;

    if (n > room)
        n = room;
    for (i = 0; i < n && b->hstate != H_DONE; i++)
        hdr_byte(b, p[i]);
    b->header_bytes += (uint32_t)i;
    if (b->header_bytes >= DIS_HEADER_SCAN_MAX)
        hdr_close(b);
}

/* ---- content --------------------------------------------------------------- */

/* Content octets p[0..n) (after unstuffing): hash, size, headers. */
static void content_out(struct body *b, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (b->md != NULL)
        EVP_DigestUpdate(b->md, p, n);
    b->size += n;
    if (b->hstate != H_DONE)
        hdr_feed(b, p, n);
}

/* ---- smuggling ------------------------------------------------------------ */

/* 1 while the start of the current raw line should be collected. */
static int cmd_wants(const struct body *b)
{
    return b->bare_eod_candidates > 0 && !b->smuggled_command &&
           b->lbuf_len < sizeof b->lbuf;
}

static int lbuf_is(const struct body *b, size_t n, const char *lit)
{
    return span_eq_ci(span_make(b->lbuf, n), lit);
}

/* A non-line-break byte of the current raw line. */
static void cmd_byte(struct body *b, uint8_t c)
{
    if (!cmd_wants(b))
        return;
    b->lbuf[b->lbuf_len++] = c;
    if ((b->lbuf_len == 8 && lbuf_is(b, 8, "RCPT TO:")) ||
        (b->lbuf_len == 10 && lbuf_is(b, 10, "MAIL FROM:")))
        b->smuggled_command = 1;
}

/* The current raw line ended (any kind of break). */
static void cmd_line_end(struct body *b)
{
    if (b->bare_eod_candidates > 0 && !b->smuggled_command) {
        size_t n = b->lbuf_len;

        while (n > 0 && is_blank(b->lbuf[n - 1]))
            n--;
        if (lbuf_is(b, n, "DATA"))
            b->smuggled_command = 1;
    }
    b->lbuf_len = 0;
}

static void candidate(struct body *b)
{
    if (b->bare_eod_candidates == 0)
        b->smuggle_offset = b->sdot_offset;
    if (b->bare_eod_candidates < UINT32_MAX)
        b->bare_eod_candidates++;
}

/* One raw byte through the smuggling scanner; off is the content offset
 * it has (or would have) — used for a line-start '.'. */
static void smug_byte(struct body *b, uint8_t c, uint64_t off)
{
    for (;;) {
        int s = b->sstate;

        if (s == S_MID) {
            if (c == '\r') {
                b->sstate = S_CR;
            } else if (c == '\n') {
                cmd_line_end(b);
                b->sstate = S_BOL + K_LF;
            } else {
                cmd_byte(b, c);
            }
            return;
        }
        if (s == S_CR) {
            cmd_line_end(b);
            if (c == '\n') {
                b->sstate = S_BOL + K_CRLF;
                return;
            }
            b->sstate = S_BOL + K_CR;   /* bare CR; c starts the next line */
            continue;
        }
        if (s < S_DOT) {
            if (c != '.') {
                b->sstate = S_MID;
                continue;
            }
            b->sstate = S_DOT + (s - S_BOL);
            b->sdot_offset = off;
            cmd_byte(b, c);
            return;
        }
        if (s < S_DOTCR) {
            if (c == '\n') {            /* ".\n": bare LF after the dot */
                candidate(b);
                cmd_line_end(b);
                b->sstate = S_BOL + K_LF;
                return;
            }
            if (c == '\r') {
                b->sstate = S_DOTCR + (s - S_DOT);
                return;
            }
            b->sstate = S_MID;
            continue;
        }
        /* S_DOTCR + k */
        if (c == '\n') {
            if (s - S_DOTCR != K_CRLF)  /* CRLF . CRLF is the real one */
                candidate(b);
            cmd_line_end(b);
            b->sstate = S_BOL + K_CRLF;
            return;
        }
        candidate(b);                   /* ".\r" + not LF: bare CR */
        cmd_line_end(b);
        b->sstate = S_BOL + K_CR;
    }
}

/* ---- fast paths ------------------------------------------------------------- */

/* High bit of each byte of y that is zero, nothing else: no carry crosses
 * a byte, so the result is exact (not only "some byte is zero"). */
static uint64_t zero_bytes(uint64_t y)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;

    return ~(((y & low7) + low7) | y) & ~low7;
}

/*
 * Index of the first '\r' or '\n' in p[i..len), or len.  Eight bytes per
 * step, loaded with memcpy (no alignment or aliasing assumption, never past
 * len) and compared with both bytes at once (zero_bytes of w ^ 0x0d0d..
 * and w ^ 0x0a0a..).  On a little-endian target the first match is the
 * lowest flagged byte; elsewhere the flagged word is walked byte by byte.
 */
static size_t scan_eol(const uint8_t *p, size_t i, size_t len)
{
    const uint64_t ones = 0x0101010101010101ull;

    while (len - i >= 8) {
        uint64_t w, m;

        memcpy(&w, p + i, 8);
        m = zero_bytes(w ^ (ones * '\r')) | zero_bytes(w ^ (ones * '\n'));
        if (m != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    (defined(__GNUC__) || defined(__clang__))
            return i + (size_t)__builtin_ctzll(m) / 8;
#else
            break;
#endif
        }
        i += 8;
    }
    while (i < len && p[i] != '\r' && p[i] != '\n')
        i++;
    return i;
}

/*
 * 1 when p[i..i+3) is CR LF x with x not '.', CR or LF, and no command
 * line is being collected after a candidate, while both scanners are
 * inside a line (dstate D_MID or not used, sstate S_MID).  Fed one by one,
 * those three bytes would take the DATA scanner D_MID -> D_CR -> D_BOL ->
 * D_MID and the smuggling scanner S_MID -> S_CR -> S_BOL + K_CRLF -> S_MID,
 * with cmd_line_end only emptying lbuf (the "DATA" test needs a candidate
 * and no smuggled command yet) and cmd_byte(x) storing nothing (cmd_wants
 * is 0 for the same reason), and x (not '.') records no dot offset.  The
 * caller then only needs lbuf_len = 0.
 */
static int plain_crlf(const struct body *b, const uint8_t *p, size_t i, size_t len)
{
    uint8_t x;

    if (len - i < 3 || p[i] != '\r' || p[i + 1] != '\n')
        return 0;
    x = p[i + 2];
    if (x == '.' || x == '\r' || x == '\n')
        return 0;
    return b->bare_eod_candidates == 0 || b->smuggled_command;
}

/* ---- public ------------------------------------------------------------------ */

/*
 * Contract in body.h.  b is caller-owned storage; everything in it is
 * reset (a context left from an earlier body must have been finished or
 * aborted first).  The EVP context it allocates is freed by body_finish or
 * body_abort.
 */
int body_begin(struct body *b)
{
    memset(b, 0, sizeof *b);
    b->dstate = D_BOL;
    b->hstate = H_BOL;
    b->sstate = S_BOL + K_CRLF;
    b->md = EVP_MD_CTX_new();
    if (b->md == NULL)
        return -1;
    if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(b->md);
        b->md = NULL;
        return -1;
    }
    return 0;
}

/*
 * Contract in body.h.  p[0..len) is borrowed for the call.  Returns the
 * bytes that belong to the message (all of them unless the terminator ends
 * inside p); *done (may be NULL) is 1 once CRLF.CRLF was consumed, and
 * later calls consume nothing.
 */
size_t body_feed_data(struct body *b, const uint8_t *p, size_t len, int *done)
{
    size_t i = 0, run = 0;

    if (done != NULL)
        *done = 0;
    if (b == NULL)
        return 0;
    if (b->dstate == D_END) {
        if (done != NULL)
            *done = 1;
        return 0;
    }
    if (p == NULL)
        return 0;
    while (i < len) {
        uint8_t c;

        /* Fast path: plain line bytes and plain CRLF line breaks change
         * no state (see scan_eol, plain_crlf). */
        if (b->dstate == D_MID && b->sstate == S_MID && !cmd_wants(b)) {
            i = scan_eol(p, i, len);
            if (i == len)
                break;
            if (plain_crlf(b, p, i, len)) {
                b->lbuf_len = 0;
                i += 3;
                continue;
            }
        }
        c = p[i];
        /* Content offset of c: emitted + pending run + a held CR. */
        smug_byte(b, c, b->size + (i - run) + (b->dstate == D_DOTCR));
        switch (b->dstate) {
        case D_BOL:
            if (c == '.') {
                content_out(b, p + run, i - run);
                run = i + 1;            /* the dot is not content */
                b->dstate = D_DOT;
                break;
            }
            b->dstate = c == '\r' ? D_CR : D_MID;
            break;
        case D_CR:
            if (c == '\n') {
                b->dstate = D_BOL;
                break;
            }
            /* FALLTHROUGH */
        case D_MID:
            b->dstate = c == '\r' ? D_CR : D_MID;
            break;
        case D_DOT:
            if (c == '\r') {
                content_out(b, p + run, i - run);
                run = i + 1;            /* hold the CR back */
                b->dstate = D_DOTCR;
                break;
            }
            b->dstate = D_MID;          /* ".x": dot removed, x content */
            break;
        case D_DOTCR:
            if (c == '\n') {            /* CRLF . CRLF */
                content_out(b, p + run, i - run);
                b->dstate = D_END;
                hdr_close(b);
                if (done != NULL)
                    *done = 1;
                return i + 1;
            }
            /* run == i here: nothing of p is pending before the CR. */
            content_out(b, (const uint8_t *)"\r", 1);
            b->dstate = c == '\r' ? D_CR : D_MID;
            break;
        default:
            break;
        }
        i++;
    }
    content_out(b, p + run, i - run);
    return i;
}

/*
 * Contract in body.h.  p[0..len) is borrowed for the call; all of it is
 * content (BDAT: no stuffing, no terminator) and is also scanned for
 * end-of-data look-alikes, which a server converting BDAT to DATA could
 * pass on.
 */
void body_feed_raw(struct body *b, const uint8_t *p, size_t len)
{
    uint64_t base;
    size_t i = 0;

    if (b == NULL || p == NULL || len == 0)
        return;
    base = b->size;
    content_out(b, p, len);
    while (i < len) {
        if (b->sstate == S_MID && !cmd_wants(b)) {
            i = scan_eol(p, i, len);
            if (i == len)
                break;
            if (plain_crlf(b, p, i, len)) {
                b->lbuf_len = 0;
                i += 3;
                continue;
            }
        }
        smug_byte(b, p[i], base + i);
        i++;
    }
}

/*
 * Contract in body.h.  hex (65 bytes, may be NULL) gets the lower-case hex
 * SHA-256 of the content, or "" when the body was already finished or
 * aborted (or hashing failed).  A header value still open is kept.  If the
 * stream stopped inside ".\r" the held CR is not content.  Safe to call
 * again (then hex is "").
 */
void body_finish(struct body *b, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;

    if (hex != NULL)
        hex[0] = '\0';
    if (b == NULL)
        return;
    hdr_close(b);
    if (b->md == NULL)
        return;
    if (EVP_DigestFinal_ex(b->md, d, &dl) == 1 && dl == 32 && hex != NULL) {
        for (unsigned int i = 0; i < dl; i++) {
            hex[2 * i] = digits[d[i] >> 4];
            hex[2 * i + 1] = digits[d[i] & 0x0f];
        }
        hex[64] = '\0';
    }
    EVP_MD_CTX_free(b->md);
    b->md = NULL;
}

/* Contract in body.h: frees the hash context, nothing else.  NULL-safe,
 * idempotent. */
void body_abort(struct body *b)
{
    if (b == NULL)
        return;
    EVP_MD_CTX_free(b->md);
    b->md = NULL;
}
