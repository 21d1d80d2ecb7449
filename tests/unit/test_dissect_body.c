/* test_dissect_body.c — message content tracker (dissect/body.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/sha.h>

#include "config.h"
#include "dissect/body.h"

/* ---- independent reference ----------------------------------------------- */

static void sha_hex(const uint8_t *p, size_t n, char hex[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];

    SHA256(p, n, d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/*
 * What RFC 5321 says the DATA stream raw[0..len) means, computed the
 * simple way: the data ends at the first "CRLF.CRLF" (or a first line
 * ".\r\n"); the content is everything before the ".\r\n" with one dot
 * removed from every line (CRLF-delimited) that starts with one.  Fills
 * content (caller-sized >= len), returns its length; *consumed gets the
 * bytes up to the end of the terminator (len + 1 if there is none).
 */
static size_t reference(const uint8_t *raw, size_t len, uint8_t *content,
                        size_t *consumed)
{
    size_t end = len, c = 0;

    *consumed = len + 1;
    if (len >= 3 && memcmp(raw, ".\r\n", 3) == 0) {
        *consumed = 3;
        return 0;
    }
    for (size_t i = 0; i + 5 <= len; i++)
        if (memcmp(raw + i, "\r\n.\r\n", 5) == 0) {
            end = i + 2;
            *consumed = i + 5;
            break;
        }
    for (size_t i = 0; i < end; i++) {
        int bol = i == 0 || (i >= 2 && raw[i - 2] == '\r' && raw[i - 1] == '\n');
        if (bol && raw[i] == '.')
            continue;
        content[c++] = raw[i];
    }
    return c;
}

/* ---- feeding ------------------------------------------------------------------ */

struct outcome {
    size_t consumed;
    int done;
    uint64_t size;
    char hex[65];
    char subject[MT_STR], message_id[MT_STR], from_hdr[MT_STR], date_hdr[MT_STR];
    uint32_t candidates;
    int smuggled;
    uint64_t smuggle_offset;
};

static void collect(struct body *b, struct outcome *o)
{
    body_finish(b, o->hex);
    o->size = b->size;
    memcpy(o->subject, b->subject, MT_STR);
    memcpy(o->message_id, b->message_id, MT_STR);
    memcpy(o->from_hdr, b->from_hdr, MT_STR);
    memcpy(o->date_hdr, b->date_hdr, MT_STR);
    o->candidates = b->bare_eod_candidates;
    o->smuggled = b->smuggled_command;
    o->smuggle_offset = b->smuggle_offset;
}

/* Feeds raw[0..len) as DATA in pieces ending at cuts[0..ncuts) (sorted);
 * every piece is an exact-size heap copy so ASan sees any over-read. */
static void feed_cuts(const uint8_t *raw, size_t len, const size_t *cuts,
                      size_t ncuts, struct outcome *o)
{
    struct body b;
    size_t start = 0;

    memset(o, 0, sizeof *o);
    assert_int_equal(body_begin(&b), 0);
    for (size_t k = 0; k <= ncuts; k++) {
        size_t stop = k < ncuts ? cuts[k] : len, n = stop - start, got;
        uint8_t *piece = malloc(n ? n : 1);
        int done = -1;

        assert_non_null(piece);
        memcpy(piece, raw + start, n);
        got = body_feed_data(&b, piece, n, &done);
        free(piece);
        assert_true(got <= n);
        assert_true(done == 0 || done == 1);
        if (o->done) {
            assert_int_equal(got, 0);   /* nothing after the terminator */
            assert_int_equal(done, 1);
        } else {
            o->consumed += got;
            if (done) {
                o->done = 1;
            } else {
                assert_int_equal(got, n);
            }
        }
        start = stop;
    }
    collect(&b, o);
}

static void feed_oneshot(const uint8_t *raw, size_t len, struct outcome *o)
{
    feed_cuts(raw, len, NULL, 0, o);
}

static void assert_same(const struct outcome *a, const struct outcome *b)
{
    assert_int_equal(a->consumed, b->consumed);
    assert_int_equal(a->done, b->done);
    assert_int_equal(a->size, b->size);
    assert_string_equal(a->hex, b->hex);
    assert_string_equal(a->subject, b->subject);
    assert_string_equal(a->message_id, b->message_id);
    assert_string_equal(a->from_hdr, b->from_hdr);
    assert_string_equal(a->date_hdr, b->date_hdr);
    assert_int_equal(a->candidates, b->candidates);
    assert_int_equal(a->smuggled, b->smuggled);
    assert_int_equal(a->smuggle_offset, b->smuggle_offset);
}

/* Checks a one-shot feed against the reference. */
static void assert_reference(const uint8_t *raw, size_t len, const struct outcome *o)
{
    uint8_t *content = malloc(len + 1);
    size_t consumed, clen;
    char hex[65];

    assert_non_null(content);
    clen = reference(raw, len, content, &consumed);
    sha_hex(content, clen, hex);
    if (consumed <= len) {
        assert_int_equal(o->done, 1);
        assert_int_equal(o->consumed, consumed);
    } else {
        assert_int_equal(o->done, 0);
        assert_int_equal(o->consumed, len);
    }
    assert_int_equal(o->size, clen);
    assert_string_equal(o->hex, hex);
    free(content);
}

/* One-shot, every single split, every byte alone; all must agree with
 * each other and with the reference.  Pairs of splits when pairs != 0. */
static void check_all_splits(const char *raw, size_t len, int pairs,
                             struct outcome *ref)
{
    const uint8_t *r = (const uint8_t *)raw;
    struct outcome o;
    size_t *cuts = malloc((len + 1) * sizeof *cuts);

    assert_non_null(cuts);
    feed_oneshot(r, len, ref);
    assert_reference(r, len, ref);
    for (size_t i = 0; i <= len; i++) {
        cuts[0] = i;
        feed_cuts(r, len, cuts, 1, &o);
        assert_same(&o, ref);
    }
    if (pairs)
        for (size_t i = 0; i <= len; i++)
            for (size_t j = i; j <= len; j++) {
                cuts[0] = i;
                cuts[1] = j;
                feed_cuts(r, len, cuts, 2, &o);
                assert_same(&o, ref);
            }
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    feed_cuts(r, len, cuts, len ? len - 1 : 0, &o);
    assert_same(&o, ref);
    free(cuts);
}

#define SPLITS(lit, pairs, ref) check_all_splits(lit, sizeof(lit) - 1, pairs, ref)

static struct outcome data(const char *raw, size_t len)
{
    struct outcome o;
    feed_oneshot((const uint8_t *)raw, len, &o);
    return o;
}
#define DATA(lit) data(lit, sizeof(lit) - 1)

/* ---- sample bodies -------------------------------------------------------- */

static const char sample[] =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "SUBJECT: quarterly\r\n"
    " \t report\r\n"
    "message-id: <1234@example.org>\r\n"
    "Date:   Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "\r\n"
    "..hidden\r\n"
    ".hidden2\r\n"
    "bare\nLF and bare\rCR\r\n"
    ".\rX\r\n"
    "\r\n"
    "..\r\n"
    "line\r\r\n"
    "Subject: not a header\r\n"
    "end\r\n"
    ".\r\n"
    "MAIL FROM:<next@example.org>\r\n";

static void test_sample_all_splits(void **st)
{
    struct outcome ref;
    (void)st;
    SPLITS(sample, 0, &ref);
    assert_int_equal(ref.done, 1);
    assert_int_equal(ref.consumed, sizeof sample - 1 - strlen("MAIL FROM:<next@example.org>\r\n"));
    assert_string_equal(ref.subject, "quarterly report");
    assert_string_equal(ref.message_id, "<1234@example.org>");
    assert_string_equal(ref.from_hdr, "Alice <alice@example.org>");
    assert_string_equal(ref.date_hdr, "Mon, 1 Jan 2024 00:00:00 +0000");
}

/* Shorter body with every interesting shape, fed with every pair of cut
 * points (three pieces). */
static void test_small_all_split_pairs(void **st)
{
    static const char small[] =
        "Subject: a\r\n b\r\n\r\n..x\r\n.y\r\n\n.\nMAIL FROM:<z>\r\n.\rq\r\n.\r\nQUIT\r\n";
    struct outcome ref;
    (void)st;
    SPLITS(small, 1, &ref);
    assert_int_equal(ref.done, 1);
    assert_string_equal(ref.subject, "a b");
    assert_int_equal(ref.candidates, 2);   /* "\n.\n" and ".\rq" */
    assert_int_equal(ref.smuggled, 1);
}

/* ---- end of data and dot-stuffing --------------------------------------- */

static const char empty_sha[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void test_first_line_terminator(void **st)
{
    struct outcome o;
    (void)st;
    o = DATA(".\r\n");
    assert_int_equal(o.done, 1);
    assert_int_equal(o.consumed, 3);
    assert_int_equal(o.size, 0);
    assert_string_equal(o.hex, empty_sha);

    o = DATA(".\r\nQUIT\r\n");
    assert_int_equal(o.done, 1);
    assert_int_equal(o.consumed, 3);

    o = DATA("\r\n.\r\n");              /* one empty line */
    assert_int_equal(o.consumed, 5);
    assert_int_equal(o.size, 2);
}

static void test_dot_stuffing(void **st)
{
    struct outcome o;
    char hex[65];
    (void)st;
    o = DATA("..hidden\r\n.\r\n");
    assert_int_equal(o.done, 1);
    assert_int_equal(o.size, 9);        /* ".hidden\r\n" */
    sha_hex((const uint8_t *)".hidden\r\n", 9, hex);
    assert_string_equal(o.hex, hex);

    o = DATA("a\r\n..\r\n.\r\n");       /* ".." is a stuffed "." line */
    assert_int_equal(o.done, 1);
    assert_int_equal(o.size, 6);        /* "a\r\n.\r\n" */

    o = DATA("a\r\n.. \r\n");           /* not a terminator */
    assert_int_equal(o.done, 0);
    assert_int_equal(o.size, 7);

    o = DATA("x.\r\n.y\r\n");           /* dot only removed at line start */
    assert_int_equal(o.size, 7);        /* "x.\r\ny\r\n" */
}

static void test_dot_line_after_segment(void **st)
{
    static const char raw[] = "text\r\n.hidden\r\n.\r\n";
    static const size_t cut[] = { 6 };
    struct outcome o;
    char hex[65];
    (void)st;
    /* a segment that begins with ".hidden\r\n" right after one ending in CRLF */
    feed_cuts((const uint8_t *)raw, sizeof raw - 1, cut, 1, &o);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.consumed, sizeof raw - 1);
    sha_hex((const uint8_t *)"text\r\nhidden\r\n", 14, hex);
    assert_string_equal(o.hex, hex);
}

static void test_terminator_splits(void **st)
{
    static const char raw[] = "text\r\n.\r\nQUIT\r\n";
    static const size_t c1[] = { 6, 7 };        /* "text\r\n" | "." | "\r\nQUIT" */
    static const size_t c2[] = { 5, 8 };        /* "text\r" | "\n.\r" | "\nQUIT" */
    static const size_t c3[] = { 7 };           /* "text\r\n." | "\r\nQUIT" */
    static const size_t c4[] = { 8 };           /* "text\r\n.\r" | "\nQUIT" */
    static const size_t c5[] = { 4, 5, 6, 7, 8, 9 };
    struct outcome o, ref;
    (void)st;
    feed_oneshot((const uint8_t *)raw, sizeof raw - 1, &ref);
    assert_int_equal(ref.consumed, 9);
    assert_int_equal(ref.size, 6);
    feed_cuts((const uint8_t *)raw, sizeof raw - 1, c1, 2, &o);
    assert_same(&o, &ref);
    feed_cuts((const uint8_t *)raw, sizeof raw - 1, c2, 2, &o);
    assert_same(&o, &ref);
    feed_cuts((const uint8_t *)raw, sizeof raw - 1, c3, 1, &o);
    assert_same(&o, &ref);
    feed_cuts((const uint8_t *)raw, sizeof raw - 1, c4, 1, &o);
    assert_same(&o, &ref);
    feed_cuts((const uint8_t *)raw, sizeof raw - 1, c5, 6, &o);
    assert_same(&o, &ref);

    /* the piece holding the terminator's last byte reports it consumed */
    {
        struct body b;
        int done;
        assert_int_equal(body_begin(&b), 0);
        assert_int_equal(body_feed_data(&b, (const uint8_t *)"text\r\n.\r", 8, &done), 8);
        assert_int_equal(done, 0);
        assert_int_equal(body_feed_data(&b, (const uint8_t *)"\nQUIT\r\n", 7, &done), 1);
        assert_int_equal(done, 1);
        assert_int_equal(body_feed_data(&b, (const uint8_t *)"QUIT\r\n", 6, &done), 0);
        assert_int_equal(done, 1);
        body_finish(&b, NULL);
    }
}

static void test_bare_lf_cr_not_terminators(void **st)
{
    struct outcome o;
    (void)st;
    o = DATA("a\n.\nb\r\n");
    assert_int_equal(o.done, 0);
    assert_int_equal(o.size, 7);
    o = DATA("a\r\n.\nb\r\n");          /* ".\n" line: dot removed */
    assert_int_equal(o.done, 0);
    assert_int_equal(o.size, 7);        /* "a\r\n\nb\r\n" */
    o = DATA("a\n.\r\nb\r\n");
    assert_int_equal(o.done, 0);
    assert_int_equal(o.size, 8);
    o = DATA("a\r.\rb");
    assert_int_equal(o.done, 0);
    assert_int_equal(o.size, 5);
    o = DATA("a\r\n.\rb\r\n.\r\n");     /* ".\r" + not LF: CR is content */
    assert_int_equal(o.done, 1);
    assert_int_equal(o.size, 7);        /* "a\r\n\rb\r\n" */
    o = DATA("a\r\n.\r\r\n.\r\n");
    assert_int_equal(o.done, 1);
    assert_int_equal(o.size, 6);        /* "a\r\n\r\r\n" */
}

/* ---- smuggling ---------------------------------------------------------- */

static void test_smuggling_bare_lf_mail_from(void **st)
{
    static const char raw[] =
        "Subject: hi\r\n\r\nHello\n.\nMAIL FROM:<ceo@victim.example>\r\n"
        "RCPT TO:<x@y>\r\nDATA\r\nspoofed\r\n.\r\n";
    struct outcome ref;
    (void)st;
    SPLITS(raw, 0, &ref);
    assert_int_equal(ref.done, 1);
    assert_int_equal(ref.consumed, sizeof raw - 1);
    assert_int_equal(ref.candidates, 1);
    assert_int_equal(ref.smuggled, 1);
    assert_int_equal(ref.smuggle_offset, strlen("Subject: hi\r\n\r\nHello\n"));
    assert_string_equal(ref.subject, "hi");
}

static void test_smuggling_variants(void **st)
{
    struct outcome o;
    (void)st;
    o = DATA("x\n.\r\nrcpt to:<a@b>\r\n.\r\n");     /* LF . CRLF, lower case */
    assert_int_equal(o.candidates, 1);
    assert_int_equal(o.smuggled, 1);
    assert_int_equal(o.smuggle_offset, 2);

    o = DATA("x\r\n.\nDATA\r\n.\r\n");              /* CRLF . LF, DATA line */
    assert_int_equal(o.candidates, 1);
    assert_int_equal(o.smuggled, 1);
    assert_int_equal(o.smuggle_offset, 3);

    o = DATA("x\r\n.\nDATA  \n.\r\n");              /* trailing blanks, LF */
    assert_int_equal(o.smuggled, 1);

    o = DATA("x\r.\rMAIL FROM:<a>\r\n.\r\n");       /* bare CR variant */
    assert_int_equal(o.candidates, 1);
    assert_int_equal(o.smuggled, 1);

    o = DATA("x\n.\ny\r\n.\r\n");                   /* lone bare LF */
    assert_int_equal(o.candidates, 1);
    assert_int_equal(o.smuggled, 0);

    o = DATA("x\n.\nDATAX\r\nxMAIL FROM:<a>\r\n DATA\r\nRCPT TO\r\n.\r\n");
    assert_int_equal(o.candidates, 1);
    assert_int_equal(o.smuggled, 0);

    /* a quoted transcript without any candidate */
    o = DATA("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r\n");
    assert_int_equal(o.candidates, 0);
    assert_int_equal(o.smuggled, 0);
    assert_int_equal(o.smuggle_offset, 0);

    /* proper CRLF . CRLF is not a candidate, stuffed dot lines neither */
    o = DATA("a\r\n..\r\n...\r\n.\r\n");
    assert_int_equal(o.candidates, 0);

    /* several candidates: the offset is the first one's, in unstuffed
     * content ("..a\r\n" is ".a\r\n", then "\n", then the dot) */
    o = DATA("..a\r\n\n.\n\n.\n.\r\n\r\n.\r\n");
    assert_int_equal(o.candidates, 3);              /* \n.\n, \n.\n, \n.\r\n */
    assert_int_equal(o.smuggle_offset, 5);
    assert_int_equal(o.done, 1);

    /* a candidate at the very start of the data */
    o = DATA(".\nMAIL FROM:<a>\r\n.\r\n");
    assert_int_equal(o.candidates, 1);
    assert_int_equal(o.smuggle_offset, 0);
    assert_int_equal(o.smuggled, 1);
}

/* ---- headers --------------------------------------------------------------- */

static void test_headers_basic(void **st)
{
    struct outcome o;
    (void)st;
    o = DATA("sUbJeCt: Mixed Case\r\nFROM: a@b\r\nDATE: today\r\n"
             "MESSAGE-ID: <m@x>\r\n\r\nbody\r\n.\r\n");
    assert_string_equal(o.subject, "Mixed Case");
    assert_string_equal(o.from_hdr, "a@b");
    assert_string_equal(o.date_hdr, "today");
    assert_string_equal(o.message_id, "<m@x>");

    o = DATA("To: x@y\r\n\r\nSubject: in body\r\n.\r\n");     /* missing */
    assert_string_equal(o.subject, "");
    assert_string_equal(o.from_hdr, "");
    assert_string_equal(o.message_id, "");
    assert_string_equal(o.date_hdr, "");

    o = DATA("Subject:x\r\nSubject: second\r\n\r\n.\r\n");    /* first wins */
    assert_string_equal(o.subject, "x");

    o = DATA("Subject :  spaced  \r\n\r\n.\r\n");             /* WSP before ':' */
    assert_string_equal(o.subject, "spaced");

    o = DATA("Subject: a\x01" "b\x1b[0m caf\xc3\xa9\r\n\r\n.\r\n");
    assert_string_equal(o.subject, "a\\x01b\\x1b[0m caf\xc3\xa9");

    o = DATA("Subject: only headers\r\n.\r\n");               /* no body */
    assert_string_equal(o.subject, "only headers");
    {
        /* available as soon as the terminator is consumed, before finish */
        struct body b;
        int done;
        assert_int_equal(body_begin(&b), 0);
        body_feed_data(&b, (const uint8_t *)"Date: d\r\n.\r\n", 12, &done);
        assert_int_equal(done, 1);
        assert_string_equal(b.date_hdr, "d");
        body_abort(&b);
    }

    o = DATA("Subject: lf only\nFrom: f@g\n\nSubject: body\n.\r\n");
    assert_string_equal(o.subject, "lf only");
    assert_string_equal(o.from_hdr, "f@g");

    o = DATA("hello world\r\nSubject: x\r\n\r\n.\r\n");      /* not a header section */
    assert_string_equal(o.subject, "");

    o = DATA("Subject:\r\n.\r\n");
    assert_string_equal(o.subject, "");

    o = DATA("X-Long-Header-Name-Beyond-Thirty-Two-Bytes-Subject: no\r\n"
             "Subject: yes\r\n\r\n.\r\n");
    assert_string_equal(o.subject, "yes");

    o = DATA("..Subject: stuffed\r\n\r\n.\r\n");              /* ".Subject" */
    assert_string_equal(o.subject, "");
    o = DATA(".Subject: unstuffed\r\n\r\n.\r\n");             /* "Subject" */
    assert_string_equal(o.subject, "unstuffed");

    o = DATA("Subject: bare\rcr\r\n\r\n.\r\n");
    assert_string_equal(o.subject, "bare\\x0dcr");
}

static void test_headers_folded(void **st)
{
    struct outcome o;
    (void)st;
    o = DATA("Subject: one\r\n two\r\n\tthree  \r\n   four\r\nTo: x\r\n\r\n.\r\n");
    assert_string_equal(o.subject, "one two three four");

    o = DATA("Message-ID:\r\n <id@example.org>\r\n\r\n.\r\n");
    assert_string_equal(o.message_id, "<id@example.org>");

    o = DATA("Subject: a\r\n   \r\n b\r\n\r\n.\r\n");        /* blank fold line */
    assert_string_equal(o.subject, "a b");

    o = DATA("Subject: a\n b\n\n.\r\n");                      /* LF folding */
    assert_string_equal(o.subject, "a b");

    o = DATA(" leading fold\r\nSubject: s\r\n\r\n.\r\n");     /* fold w/o header */
    assert_string_equal(o.subject, "s");
}

static void test_headers_split_feeds(void **st)
{
    static const char raw[] =
        "Date: Tue, 2 Jan 2024\r\nSubject: split\r\n  across\r\n\tfeeds\r\n"
        "From: \"X\" <x@y>\r\n\r\n.\r\n";
    struct outcome ref;
    (void)st;
    SPLITS(raw, 1, &ref);
    assert_string_equal(ref.subject, "split across feeds");
    assert_string_equal(ref.from_hdr, "\"X\" <x@y>");
    assert_string_equal(ref.date_hdr, "Tue, 2 Jan 2024");
}

static void test_headers_overlong(void **st)
{
    size_t n = 0;
    char *raw = malloc(4000);
    struct outcome o;
    (void)st;
    assert_non_null(raw);
    n += (size_t)sprintf(raw + n, "Subject: ");
    for (int i = 0; i < 1000; i++)
        raw[n++] = (char)('a' + i % 26);
    n += (size_t)sprintf(raw + n, "\r\nFrom: %s\r\n", "f@example.org");
    memcpy(raw + n, "\r\n.\r\n", 5);
    n += 5;
    o = data(raw, n);
    assert_int_equal(strlen(o.subject), MT_STR - 1);
    assert_memory_equal(o.subject, "abcdefghij", 10);
    assert_memory_equal(o.subject + MT_STR - 4, "...", 3);
    assert_string_equal(o.from_hdr, "f@example.org");

    /* exactly MT_STR - 1 bytes fit; MT_STR bytes do not */
    n = (size_t)sprintf(raw, "Subject: ");
    memset(raw + n, 's', MT_STR - 1);
    n += MT_STR - 1;
    memcpy(raw + n, "\r\n\r\n.\r\n", 7);
    o = data(raw, n + 7);
    assert_int_equal(strlen(o.subject), MT_STR - 1);
    assert_int_equal(o.subject[MT_STR - 2], 's');
    n = (size_t)sprintf(raw, "Subject: ");
    memset(raw + n, 's', MT_STR);
    n += MT_STR;
    memcpy(raw + n, "\r\n\r\n.\r\n", 7);
    o = data(raw, n + 7);
    assert_memory_equal(o.subject + MT_STR - 4, "...", 3);
    free(raw);
}

static void test_header_scan_limit(void **st)
{
    size_t cap = DIS_HEADER_SCAN_MAX + 4096, n = 0;
    char *raw = malloc(cap);
    struct body b;
    int done;
    (void)st;
    assert_non_null(raw);
    n += (size_t)sprintf(raw, "From: early@example.org\r\n");
    while (n + 39 < DIS_HEADER_SCAN_MAX - 10)      /* pad lines are 39 bytes */
        n += (size_t)sprintf(raw + n, "X-Pad: %s\r\n", "pppppppppppppppppppppppppppppp");
    n += (size_t)sprintf(raw + n, "Subject: crosses the scan limit\r\n");
    n += (size_t)sprintf(raw + n, "Date: too late\r\n\r\nbody\r\n.\r\n");
    assert_true(n < cap);
    assert_int_equal(body_begin(&b), 0);
    assert_int_equal(body_feed_data(&b, (const uint8_t *)raw, n, &done), n);
    assert_int_equal(done, 1);
    assert_int_equal(b.header_bytes, DIS_HEADER_SCAN_MAX);
    assert_string_equal(b.from_hdr, "early@example.org");
    assert_string_equal(b.date_hdr, "");
    /* the value cut by the limit keeps what was scanned */
    assert_true(strlen(b.subject) > 0);
    assert_true(strlen(b.subject) < strlen("crosses the scan limit"));
    body_finish(&b, NULL);
    free(raw);
}

/* ---- BDAT ------------------------------------------------------------------ */

static void test_bdat_raw(void **st)
{
    /* scenario 3: a 64-octet chunk with SMTP-looking content */
    static const char chunk[] =
        "STARTTLS\r\n\r\n.\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n..x\r\n\0\xff\r\n";
    struct body b;
    char hex[65], want[65];
    size_t len = sizeof chunk - 1;
    (void)st;
    for (size_t cut = 0; cut <= len; cut++) {
        uint8_t *p1 = malloc(cut ? cut : 1), *p2 = malloc(len - cut + 1);
        assert_non_null(p1);
        assert_non_null(p2);
        memcpy(p1, chunk, cut);
        memcpy(p2, chunk + cut, len - cut);
        assert_int_equal(body_begin(&b), 0);
        body_feed_raw(&b, p1, cut);
        body_feed_raw(&b, p2, len - cut);
        body_finish(&b, hex);
        sha_hex((const uint8_t *)chunk, len, want);
        assert_int_equal(b.size, len);     /* no unstuffing, no terminator */
        assert_string_equal(hex, want);
        assert_int_equal(b.bare_eod_candidates, 0);
        assert_int_equal(b.smuggled_command, 0);
        free(p1);
        free(p2);
    }
}

static void test_bdat_headers_and_smuggling(void **st)
{
    static const char c1[] = "Subject: bdat\r\n sub";
    static const char c2[] = "ject\r\nFrom: a@b\r\n\r\nhi\n.\nMAIL";
    static const char c3[] = " FROM:<x@y>\r\n";
    struct body b;
    (void)st;
    assert_int_equal(body_begin(&b), 0);
    body_feed_raw(&b, (const uint8_t *)c1, sizeof c1 - 1);
    body_feed_raw(&b, (const uint8_t *)c2, sizeof c2 - 1);
    body_feed_raw(&b, (const uint8_t *)c3, sizeof c3 - 1);
    body_feed_raw(&b, NULL, 0);
    body_finish(&b, NULL);
    assert_string_equal(b.subject, "bdat subject");
    assert_string_equal(b.from_hdr, "a@b");
    assert_int_equal(b.bare_eod_candidates, 1);
    assert_int_equal(b.smuggled_command, 1);
    assert_int_equal(b.smuggle_offset, strlen("Subject: bdat\r\n subject\r\nFrom: a@b\r\n\r\nhi\n"));
    assert_int_equal(b.size, sizeof c1 + sizeof c2 + sizeof c3 - 3);
}

/* ---- fast path ------------------------------------------------------------ */

/* Line breaks (CRLF, bare LF, bare CR, before dot lines) at every offset
 * of an 8-byte word, next to bytes one bit away from CR or LF and bytes
 * with the high bit set.  The one-shot feed (word scan, CRLF shortcut)
 * must agree with every two-piece feed, with byte-at-a-time feeding
 * (where neither shortcut applies) and with the reference. */
static void test_fast_path_break_offsets(void **st)
{
    static const uint8_t fill[] = { 'a', 0x0c, 0x0b, 0x8d, 0x8a, 0xff, 0x01, ' ',
                                    '.', 'x', 0x0e, 0x09, 0x00, 0x2e };
    static const char *const brk[] = { "\r\n", "\n", "\r", "\r\n.", "\r\n..",
                                       "\n.", "\r\r\n", "\r\n\r\n" };
    char raw[512];
    struct outcome ref;
    (void)st;
    for (size_t lead = 0; lead < 17; lead++) {
        for (size_t k = 0; k < sizeof brk / sizeof brk[0]; k++) {
            size_t n = (size_t)sprintf(raw, "Subject: w\r\n\r\n");
            for (size_t line = 0; line < 3; line++) {
                for (size_t i = 0; i < lead + line * 5; i++)
                    raw[n++] = (char)fill[(i + line) % sizeof fill];
                n += (size_t)sprintf(raw + n, "%s", brk[k]);
            }
            n += (size_t)sprintf(raw + n, "tail\r\n.\r\n");
            check_all_splits(raw, n, 0, &ref);
            assert_int_equal(ref.done, 1);
            assert_string_equal(ref.subject, "w");
        }
    }
}

/* After a candidate, a line longer than the command buffer lets the fast
 * path run again; the CRLF that ends it must still hand the next line to
 * the command check (no CRLF shortcut while a command could follow). */
static void test_fast_path_after_candidate(void **st)
{
    static const char mail[] =
        "x\n.\nthis line is longer than sixteen bytes\r\nMAIL FROM:<a@b>\r\n.\r\n";
    static const char data_line[] =
        "x\n.\nthis line is longer than sixteen bytes\r\nordinary text line\r\n"
        "DATA\r\n.\r\n";
    static const char quiet[] =
        "x\n.\nthis line is longer than sixteen bytes\r\nordinary text line\r\n"
        "MAIL FROM is not at the start of this line\r\n.\r\n";
    static const char after[] =
        "x\n.\nRCPT TO:<a@b>\r\nthis line is longer than sixteen bytes\r\n"
        "MAIL FROM:<c@d>\r\n.\r\n";
    struct outcome ref;
    struct body b;
    (void)st;
    SPLITS(mail, 0, &ref);
    assert_int_equal(ref.done, 1);
    assert_int_equal(ref.candidates, 1);
    assert_int_equal(ref.smuggled, 1);
    SPLITS(data_line, 0, &ref);
    assert_int_equal(ref.smuggled, 1);
    SPLITS(quiet, 0, &ref);
    assert_int_equal(ref.candidates, 1);
    assert_int_equal(ref.smuggled, 0);
    SPLITS(after, 0, &ref);                 /* smuggled already: shortcut on */
    assert_int_equal(ref.smuggled, 1);

    /* BDAT octets take the same shortcuts */
    assert_int_equal(body_begin(&b), 0);
    body_feed_raw(&b, (const uint8_t *)mail, sizeof mail - 1);
    body_finish(&b, NULL);
    assert_int_equal(b.bare_eod_candidates, 1);     /* CRLF . CRLF is none */
    assert_int_equal(b.smuggled_command, 1);
}

/* ---- lifecycle --------------------------------------------------------- */

static void test_lifecycle(void **st)
{
    struct body b;
    char hex[65];
    int done = -1;
    (void)st;
    body_abort(NULL);
    body_finish(NULL, hex);
    assert_string_equal(hex, "");

    assert_int_equal(body_begin(&b), 0);
    assert_int_equal(body_feed_data(&b, (const uint8_t *)"abc", 3, &done), 3);
    assert_int_equal(done, 0);
    body_abort(&b);
    body_abort(&b);                        /* idempotent */
    assert_null(b.md);
    body_finish(&b, hex);                  /* after abort: no result */
    assert_string_equal(hex, "");

    assert_int_equal(body_begin(&b), 0);
    assert_int_equal(body_feed_data(&b, NULL, 0, &done), 0);
    assert_int_equal(body_feed_data(&b, (const uint8_t *)"x", 0, NULL), 0);
    body_finish(&b, hex);
    assert_string_equal(hex, empty_sha);
    body_finish(&b, hex);                  /* twice: no second result */
    assert_string_equal(hex, "");
    body_abort(&b);

    /* unterminated stream, then finish: hash of what was seen; a held CR
     * of ".\r" is not content */
    assert_int_equal(body_begin(&b), 0);
    assert_int_equal(body_feed_data(&b, (const uint8_t *)"ab\r\n.\r", 6, &done), 6);
    assert_int_equal(done, 0);
    assert_int_equal(b.size, 4);
    body_finish(&b, hex);
    {
        char want[65];
        sha_hex((const uint8_t *)"ab\r\n", 4, want);
        assert_string_equal(hex, want);
    }
}

/* Long body: the fast path and the hash over many runs. */
static void test_large_body(void **st)
{
    size_t n = 0, cap = 1 << 20;
    char *raw = malloc(cap);
    struct outcome ref, o;
    size_t cuts[64];
    (void)st;
    assert_non_null(raw);
    n += (size_t)sprintf(raw, "Subject: big\r\n\r\n");
    while (n < cap - 200) {
        n += (size_t)sprintf(raw + n, "%s", (n / 100) % 7 == 0 ? ".stuffed line\r\n"
                             : "a fairly ordinary line of text for the body\r\n");
    }
    memcpy(raw + n, ".\r\n", 3);
    n += 3;
    feed_oneshot((const uint8_t *)raw, n, &ref);
    assert_reference((const uint8_t *)raw, n, &ref);
    for (size_t i = 0; i < 64; i++)
        cuts[i] = (i + 1) * (n / 65) + i % 3;
    feed_cuts((const uint8_t *)raw, n, cuts, 64, &o);
    assert_same(&o, &ref);
    assert_string_equal(ref.subject, "big");
    free(raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_all_splits),
        cmocka_unit_test(test_small_all_split_pairs),
        cmocka_unit_test(test_first_line_terminator),
        cmocka_unit_test(test_dot_stuffing),
        cmocka_unit_test(test_dot_line_after_segment),
        cmocka_unit_test(test_terminator_splits),
        cmocka_unit_test(test_bare_lf_cr_not_terminators),
        cmocka_unit_test(test_smuggling_bare_lf_mail_from),
        cmocka_unit_test(test_smuggling_variants),
        cmocka_unit_test(test_headers_basic),
        cmocka_unit_test(test_headers_folded),
        cmocka_unit_test(test_headers_split_feeds),
        cmocka_unit_test(test_headers_overlong),
        cmocka_unit_test(test_header_scan_limit),
        cmocka_unit_test(test_bdat_raw),
        cmocka_unit_test(test_bdat_headers_and_smuggling),
        cmocka_unit_test(test_fast_path_break_offsets),
        cmocka_unit_test(test_fast_path_after_candidate),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_large_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
