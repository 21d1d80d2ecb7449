/*
 * test_capture_reasm.c — TCP reassembly (capture/reasm.c) and the flow
 * table (capture/flow.c) through their internal APIs.
 *
 * The recorder turns the callback sequence into text per side: data bytes
 * as they are, gap(n) as "<gap n>", so a whole stream is one string compare.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "capture/capture.h"
#include "capture/decode_int.h"
#include "capture/flow_int.h"
#include "capture/reasm_int.h"

#define OUTMAX 400000

struct rec {
    char out[2][OUTMAX];
    size_t len[2];
    uint64_t data_bytes[2], gap_bytes[2];
    int ev[2][4];
    char detail[256];
    const uint8_t *last_ptr;        /* last pointer handed to data()         */
    int starts, ends, refuse;
    enum cap_end_reason reason[16];
    double end_ts[16];
    struct cap_flow_info fi[16];
    char log[4096];                 /* call order: "S" start, "d0" ... "E"   */
    size_t loglen;
    int handle_tag;
};

static void logc(struct rec *r, const char *s)
{
    size_t n = strlen(s);

    if (r->loglen + n + 1 < sizeof r->log) {
        memcpy(r->log + r->loglen, s, n);
        r->loglen += n;
        r->log[r->loglen] = '\0';
    }
}

static void rec_append(struct rec *r, int side, const char *p, size_t n)
{
    assert_true(r->len[side] + n < OUTMAX);
    memcpy(r->out[side] + r->len[side], p, n);
    r->len[side] += n;
    r->out[side][r->len[side]] = '\0';
}

static void *cb_start(void *arg, const struct cap_flow_info *fi)
{
    struct rec *r = arg;

    if (r->starts < 16)
        r->fi[r->starts] = *fi;
    r->starts++;
    logc(r, "S");
    if (r->refuse)
        return NULL;
    return &r->handle_tag;
}

static int cb_data(void *arg, void *flow, int side, const uint8_t *p, size_t len,
                   double ts)
{
    struct rec *r = arg;

    (void)ts;
    if (flow)
        assert_ptr_equal(flow, &r->handle_tag);
    assert_true(side == 0 || side == 1);
    assert_true(len > 0);
    r->last_ptr = p;
    rec_append(r, side, (const char *)p, len);
    r->data_bytes[side] += len;
    logc(r, side ? "d1" : "d0");
    return 0;
}

static void cb_gap(void *arg, void *flow, int side, uint64_t len, double ts)
{
    struct rec *r = arg;
    char b[64];

    (void)flow;
    (void)ts;
    assert_true(len > 0);
    snprintf(b, sizeof b, "<gap %llu>", (unsigned long long)len);
    rec_append(r, side, b, strlen(b));
    r->gap_bytes[side] += len;
    logc(r, side ? "g1" : "g0");
}

static void cb_event(void *arg, void *flow, int side, enum cap_event ev, double ts,
                     const char *detail)
{
    struct rec *r = arg;

    (void)flow;
    (void)ts;
    r->ev[side][ev]++;
    if (detail)
        snprintf(r->detail, sizeof r->detail, "%s", detail);
    logc(r, ev == CAP_EV_MIDSTREAM ? "M" : ev == CAP_EV_TRUNCATED ? "T" : "C");
}

static void cb_end(void *arg, void *flow, enum cap_end_reason why, double ts)
{
    struct rec *r = arg;

    assert_ptr_equal(flow, &r->handle_tag);
    if (r->ends < 16) {
        r->reason[r->ends] = why;
        r->end_ts[r->ends] = ts;
    }
    r->ends++;
    logc(r, "E");
}

static const struct cap_callbacks CBS = { cb_start, cb_data, cb_gap, cb_event, cb_end, NULL };

/* ---- direct reassembly harness ------------------------------------------ */

struct harness {
    struct rec *r;
    struct cap_reasm_pool *pool;
    struct cap_reasm_dir *d;
    struct cap_reasm_out o;
    uint32_t isn;
};

static struct harness *h_new(uint32_t base_seq, size_t pool_bytes)
{
    struct harness *h = calloc(1, sizeof *h);

    assert_non_null(h);
    h->r = calloc(1, sizeof *h->r);
    h->d = calloc(1, sizeof *h->d);
    assert_non_null(h->r);
    assert_non_null(h->d);
    h->pool = cap_reasm_pool_new(pool_bytes);
    assert_non_null(h->pool);
    cap_reasm_init(h->d);
    cap_reasm_set_base(h->d, base_seq);
    h->isn = base_seq;
    h->o.cb = &CBS;
    h->o.arg = h->r;
    h->o.flow = &h->r->handle_tag;
    h->o.side = 0;
    return h;
}

static void h_free(struct harness *h)
{
    cap_reasm_release(h->pool, h->d);
    assert_int_equal(cap_reasm_pool_in_use(h->pool), 0);
    assert_int_equal(cap_reasm_pool_hist_in_use(h->pool), 0);
    cap_reasm_pool_free(h->pool);
    free(h->d);
    free(h->r);
    free(h);
}

/* Feeds bytes [off, off + len) of stream s. */
static void h_seg(struct harness *h, const char *s, size_t off, size_t len)
{
    cap_reasm_segment(h->pool, h->d, &h->o, h->isn + (uint32_t)off,
                      (const uint8_t *)s + off, len, 0, 1.0);
}

/* Feeds literal bytes at stream offset off. */
static void h_lit(struct harness *h, size_t off, const char *bytes)
{
    cap_reasm_segment(h->pool, h->d, &h->o, h->isn + (uint32_t)off,
                      (const uint8_t *)bytes, strlen(bytes), 0, 1.0);
}

static void h_flush(struct harness *h)
{
    cap_reasm_flush(h->pool, h->d, &h->o, 2.0);
    assert_int_equal(cap_reasm_pool_in_use(h->pool), 0);
}

static const char S220[] = "220 a\r\n";

static void test_inorder_zero_copy(void **st)
{
    struct harness *h = h_new(1000, 0);
    static const uint8_t pkt[] = "EHLO x\r\n";

    (void)st;
    cap_reasm_segment(h->pool, h->d, &h->o, 1000, pkt, 8, 0, 1.0);
    assert_ptr_equal(h->r->last_ptr, pkt);      /* handed straight from the packet */
    assert_string_equal(h->r->out[0], "EHLO x\r\n");
    assert_int_equal(cap_reasm_pool_in_use(h->pool), 0);
    h_free(h);
}

static void test_split_pairs(void **st)
{
    size_t n = strlen(S220), i;
    int order;

    (void)st;
    for (i = 1; i < n; i++)
        for (order = 0; order < 2; order++) {
            struct harness *h = h_new(5555, 0);

            if (order == 0) {
                h_seg(h, S220, 0, i);
                h_seg(h, S220, i, n - i);
            } else {
                h_seg(h, S220, i, n - i);
                assert_int_equal(h->r->len[0], 0);      /* held, not delivered */
                h_seg(h, S220, 0, i);
            }
            h_flush(h);
            assert_string_equal(h->r->out[0], S220);
            assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 0);
            h_free(h);
        }
}

static void test_split_triples(void **st)
{
    static const int perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
                                     { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
    size_t n = strlen(S220), i, j;
    int p, k;

    (void)st;
    for (i = 1; i < n; i++)
        for (j = i + 1; j < n; j++)
            for (p = 0; p < 6; p++) {
                struct harness *h = h_new(77, 0);
                size_t so[3] = { 0, i, j }, sl[3] = { i, j - i, n - j };

                for (k = 0; k < 3; k++)
                    h_seg(h, S220, so[perms[p][k]], sl[perms[p][k]]);
                assert_string_equal(h->r->out[0], S220);   /* complete before flush */
                h_flush(h);
                assert_string_equal(h->r->out[0], S220);
                assert_int_equal(h->r->gap_bytes[0], 0);
                h_free(h);
            }
}

static void test_one_byte_at_a_time(void **st)
{
    static const char msg[] = "250-mx.example Hello\r\n250-PIPELINING\r\n250 STARTTLS\r\n";
    size_t n = strlen(msg), i;
    struct harness *h;

    (void)st;
    h = h_new(1, 0);
    for (i = 0; i < n; i++)
        h_seg(h, msg, i, 1);
    h_flush(h);
    assert_string_equal(h->r->out[0], msg);
    h_free(h);

    h = h_new(1, 0);
    for (i = n; i-- > 0;)                       /* reversed */
        h_seg(h, msg, i, 1);
    assert_string_equal(h->r->out[0], msg);
    h_flush(h);
    assert_string_equal(h->r->out[0], msg);
    h_free(h);
}

static void test_duplicates_silent(void **st)
{
    static const char msg[] = "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n";
    size_t n = strlen(msg);
    struct harness *h = h_new(9, 0);

    (void)st;
    h_seg(h, msg, 0, 10);
    h_seg(h, msg, 0, 10);                       /* duplicate of delivered */
    h_seg(h, msg, 20, n - 20);
    h_seg(h, msg, 20, n - 20);                  /* duplicate of queued */
    h_seg(h, msg, 5, 10);                       /* partial overlap, same bytes */
    h_seg(h, msg, 0, n);                        /* full retransmission */
    h_seg(h, msg, 0, n);
    h_flush(h);
    assert_string_equal(h->r->out[0], msg);
    assert_int_equal(h->r->data_bytes[0], n);   /* never delivered twice */
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 0);
    h_free(h);
}

static void test_overlap_conflict_delivered(void **st)
{
    struct harness *h = h_new(100, 0);

    (void)st;
    h_lit(h, 0, "EHLO x\r\n");
    h_lit(h, 8, "AUTH PLAIN AGFsaWNl\r\n");
    h_lit(h, 8, "NOOP\r\n");                    /* different bytes, same offset */
    h_lit(h, 8, "QUIT\r\n");                    /* second conflict: not reported */
    h_flush(h);
    assert_string_equal(h->r->out[0], "EHLO x\r\nAUTH PLAIN AGFsaWNl\r\n");
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 1);
    assert_non_null(strstr(h->r->detail, "offset 8"));
    assert_non_null(strstr(h->r->detail, "differs from first copy"));
    assert_null(strstr(h->r->detail, "NOOP"));  /* no payload in the detail */
    h_free(h);
}

static void test_overlap_conflict_queued(void **st)
{
    struct harness *h = h_new(100, 0);

    (void)st;
    h_lit(h, 5, "AUTH PLAIN\r\n");              /* queued first: wins */
    h_lit(h, 0, "EHLO NOOP\r\n\r\n....");       /* overlaps the queued copy */
    h_flush(h);
    assert_string_equal(h->r->out[0], "EHLO AUTH PLAIN\r\n");
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 1);
    assert_int_equal(h->r->data_bytes[0], 17);
    h_free(h);

    /* a newer out-of-order copy overlapping an older queued one */
    h = h_new(100, 0);
    h_lit(h, 10, "ABCDEF");
    h_lit(h, 12, "XYZW");                       /* conflicts with CDEF */
    h_lit(h, 0, "0123456789");
    h_flush(h);
    assert_string_equal(h->r->out[0], "0123456789ABCDEF");
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 1);
    h_free(h);
}

static void test_keepalive_and_probe_ignored(void **st)
{
    struct harness *h = h_new(100, 0);

    (void)st;
    h_lit(h, 0, "DATA\r\n");
    h_lit(h, 5, "X");                           /* keepalive: 1 garbage byte at next-1 */
    h_lit(h, 5, "Y");
    cap_reasm_segment(h->pool, h->d, &h->o, h->isn + 6, NULL, 0, 0, 1.0); /* pure ACK */
    h_lit(h, 6, "3");                           /* zero-window probe: new byte */
    h_lit(h, 6, "3");                           /* probe again */
    h_lit(h, 6, "354 go\r\n");
    h_flush(h);
    assert_string_equal(h->r->out[0], "DATA\r\n354 go\r\n");
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 0);
    h_free(h);
}

static void test_wraparound(void **st)
{
    char msg[200];
    size_t i, n;
    struct harness *h;

    (void)st;
    for (i = 0; i < sizeof msg - 1; i++)
        msg[i] = (char)('a' + i % 26);
    msg[sizeof msg - 1] = '\0';
    n = strlen(msg);
    h = h_new(0xffffff80u, 0);                  /* wraps after 128 bytes */
    h_seg(h, msg, 150, n - 150);                /* beyond the wrap, queued */
    h_seg(h, msg, 0, 100);
    h_seg(h, msg, 120, 40);                     /* crosses 2^32, overlaps queued */
    h_seg(h, msg, 100, 20);
    h_seg(h, msg, 90, 20);                      /* old retransmission */
    h_flush(h);
    assert_string_equal(h->r->out[0], msg);
    assert_int_equal(h->r->data_bytes[0], n);
    assert_int_equal(h->d->next, n);
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 0);
    h_free(h);
}

static void test_offsets_beyond_4g(void **st)
{
    struct harness *h = h_new(1000, 0);
    uint64_t big = (1ull << 32) + 5;

    (void)st;
    /* pretend 4 GiB + 5 bytes already went by */
    h->d->next = big;
    h->d->hist_start = big;
    cap_reasm_segment(h->pool, h->d, &h->o, 1000u + (uint32_t)big + 3,
                      (const uint8_t *)"lo", 2, 0, 1.0);
    cap_reasm_segment(h->pool, h->d, &h->o, 1000u + (uint32_t)big,
                      (const uint8_t *)"hel", 3, 0, 1.0);
    assert_string_equal(h->r->out[0], "hello");
    assert_true(h->d->next == big + 5);
    h_free(h);
}

static void test_gap_from_ack(void **st)
{
    struct harness *h = h_new(500, 0);

    (void)st;
    h_lit(h, 0, "EHLO x\r\n");
    /* "STARTTLS\r\n" (10 bytes) lost; the peer acks it */
    cap_reasm_ack(h->d, 500 + 18);
    assert_int_equal(h->r->gap_bytes[0], 0);    /* not yet: data may still come */
    cap_reasm_resolve_acked(h->pool, h->d, &h->o, 1.5);
    assert_string_equal(h->r->out[0], "EHLO x\r\n<gap 10>");
    h_lit(h, 8, "STARTTLS\r\n");                /* late copy: silently dropped */
    h_lit(h, 18, "QUIT\r\n");
    h_flush(h);
    assert_string_equal(h->r->out[0], "EHLO x\r\n<gap 10>QUIT\r\n");
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 0);
    h_free(h);
}

static void test_gap_from_ack_then_later_segment(void **st)
{
    struct harness *h = h_new(500, 0);

    (void)st;
    h_lit(h, 0, "A\r\n");
    h_lit(h, 13, "later");                      /* queued after a 10-byte hole */
    cap_reasm_ack(h->d, 500 + 8);               /* proves 5 of the 10 bytes */
    h_lit(h, 30, "x");                          /* a later segment resolves the proof */
    assert_string_equal(h->r->out[0], "A\r\n<gap 5>");
    h_flush(h);
    assert_string_equal(h->r->out[0], "A\r\n<gap 5><gap 5>later<gap 12>x");
    assert_int_equal(h->r->data_bytes[0] + h->r->gap_bytes[0], 31);
    h_free(h);
}

static void test_ack_of_uncaptured_fin_not_a_gap(void **st)
{
    struct harness *h = h_new(500, 0);

    (void)st;
    h_lit(h, 0, "QUIT\r\n");
    cap_reasm_ack(h->d, 500 + 7);               /* FIN (not captured) acked */
    h_flush(h);
    assert_string_equal(h->r->out[0], "QUIT\r\n");
    h_free(h);
}

static void test_gap_at_end(void **st)
{
    struct harness *h = h_new(42, 0);

    (void)st;
    h_lit(h, 0, "abc");
    h_lit(h, 10, "klm");
    h_lit(h, 20, "uv");
    assert_string_equal(h->r->out[0], "abc");
    h_flush(h);
    assert_string_equal(h->r->out[0], "abc<gap 7>klm<gap 7>uv");
    h_free(h);
}

static void test_fin_proves_bytes(void **st)
{
    struct harness *h = h_new(42, 0);

    (void)st;
    h_lit(h, 0, "abc");
    cap_reasm_fin(h->d, 42 + 10);               /* FIN after 10 bytes: 7 missing */
    assert_false(cap_reasm_fin_done(h->d));
    cap_reasm_ack(h->d, 42 + 11);               /* peer acks the FIN */
    assert_true(cap_reasm_fin_done(h->d));
    h_lit(h, 12, "after fin");                  /* beyond the FIN: ignored */
    h_flush(h);
    assert_string_equal(h->r->out[0], "abc<gap 7>");
    h_free(h);
}

static void test_queue_segs_overflow(void **st)
{
    struct harness *h = h_new(1, 0);
    uint32_t i, n = CAP_REASM_MAX_SEGS + 10;
    char b[2] = "x";

    (void)st;
    /* hole of 1 byte at offset 0, then one-byte segments at 2, 4, 6, ... */
    for (i = 0; i < n; i++)
        h_lit(h, 2u + 2u * i, b);
    assert_true(h->r->gap_bytes[0] >= 1);       /* the cap forced the first hole */
    assert_true(h->d->nsegs <= CAP_REASM_MAX_SEGS);
    assert_int_equal(strncmp(h->r->out[0], "<gap 2>x<gap 1>x", 16), 0);
    h_flush(h);
    assert_int_equal(h->r->data_bytes[0], n);
    assert_int_equal(h->r->data_bytes[0] + h->r->gap_bytes[0], 2u + 2u * (n - 1) + 1u);
    h_free(h);
}

static void test_queue_bytes_overflow(void **st)
{
    static uint8_t big[60000];
    struct harness *h = h_new(1, 0);
    uint64_t total = 0;
    uint32_t i;

    (void)st;
    memset(big, 'B', sizeof big);
    /* hole at [0, 100), then 6 x 60000 bytes: more than CAP_REASM_MAX_BYTES */
    for (i = 0; i < 6; i++) {
        cap_reasm_segment(h->pool, h->d, &h->o, 1 + 100 + i * 60000u, big,
                          sizeof big, 0, 1.0);
        assert_true(h->d->nbytes <= CAP_REASM_MAX_BYTES);
    }
    total = 100 + 6 * 60000ull;
    assert_true(h->r->gap_bytes[0] == 100);     /* declared when the cap was hit */
    assert_true(h->r->data_bytes[0] > 0);
    h_flush(h);
    assert_true(h->r->data_bytes[0] == 6 * 60000ull);
    assert_true(h->r->data_bytes[0] + h->r->gap_bytes[0] == total);
    h_free(h);
}

static void test_pool_exhausted(void **st)
{
    struct harness *h = h_new(1, 1);            /* pool: a single slab */
    struct cap_reasm_pool *pool = h->pool;
    struct cap_reasm_dir *d2 = calloc(1, sizeof *d2);
    struct cap_reasm_out o2 = h->o;
    static uint8_t blk[2048 * 40];

    (void)st;
    assert_non_null(d2);
    memset(blk, 'q', sizeof blk);
    cap_reasm_init(d2);
    cap_reasm_set_base(d2, 1);
    o2.side = 1;
    /* direction 0 holds all the nodes the pool may have */
    cap_reasm_segment(pool, h->d, &h->o, 1 + 10, blk, 2048 * 32, 0, 1.0);
    /* direction 1 gets none: declares its hole and delivers at once */
    cap_reasm_segment(pool, d2, &o2, 1 + 5, blk, 100, 0, 1.0);
    assert_true(h->r->gap_bytes[1] == 5);
    assert_true(h->r->data_bytes[1] == 100);
    h_flush(h);
    cap_reasm_flush(pool, d2, &o2, 2.0);
    assert_true(h->r->data_bytes[0] == 2048 * 32);
    cap_reasm_release(pool, d2);                /* gives back its history */
    assert_int_equal(cap_reasm_pool_hist_in_use(pool), 1);   /* h->d's */
    free(d2);
    h_free(h);
}

/* The history buffer a full ring of CAP_REASM_HISTORY needs for n bytes
 * delivered: the smallest of HISTORY / 8, / 4, / 2, HISTORY holding n. */
static size_t hist_size_for(size_t n)
{
    size_t c = CAP_REASM_HISTORY / 8;

    while (c < CAP_REASM_HISTORY && c < n)
        c *= 2;
    return c;
}

/* The history starts small and grows with the bytes delivered, keeping
 * every byte: a true copy of anything delivered so far is a duplicate,
 * a different copy of the first bytes (delivered into the smallest
 * buffer) a conflict.  Past CAP_REASM_HISTORY bytes the window is the
 * same as with a fixed ring. */
static void test_history_grows(void **st)
{
    static char msg[CAP_REASM_HISTORY + 1000];
    struct harness *h;
    size_t i, off, win;

    (void)st;
    for (i = 0; i < sizeof msg; i++)
        msg[i] = (char)('a' + i % 23);
    h = h_new(1, 0);
    h_seg(h, msg, 0, 10);
    assert_int_equal(h->d->hist_cap, CAP_REASM_HISTORY / 8);
    for (off = 10; off < CAP_REASM_HISTORY; off += 10) {
        h_seg(h, msg, off, 10);
        assert_int_equal(h->d->hist_cap, hist_size_for(off + 10));
        h_seg(h, msg, 0, off + 10);                 /* all again, unchanged */
        assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 0);
    }
    assert_int_equal(cap_reasm_pool_hist_in_use(h->pool), 1);
    h_lit(h, 3, "#");
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 1);
    h_free(h);

    /* beyond HISTORY: the last HISTORY bytes are compared, older are not */
    win = sizeof msg - CAP_REASM_HISTORY;           /* first byte still kept */
    h = h_new(1, 0);
    for (off = 0; off < sizeof msg; off += 100)
        h_seg(h, msg, off, off + 100 <= sizeof msg ? 100 : sizeof msg - off);
    assert_true(h->d->next == sizeof msg);
    assert_int_equal(h->d->hist_cap, CAP_REASM_HISTORY);
    h_lit(h, win - 1, "#");                         /* no longer kept */
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 0);
    h_lit(h, win, "#");
    assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 1);
    h_free(h);

    /* a large first segment takes the full size at once */
    h = h_new(1, 0);
    h_seg(h, msg, 0, CAP_REASM_HISTORY / 2 + 1);
    assert_int_equal(h->d->hist_cap, CAP_REASM_HISTORY);
    h_free(h);
}

static void test_truncated_segment(void **st)
{
    struct harness *h = h_new(10, 0);
    static const uint8_t part[] = "MAIL";

    (void)st;
    /* 16 bytes on the wire, 4 captured */
    cap_reasm_segment(h->pool, h->d, &h->o, 10, part, 4, 12, 1.0);
    assert_string_equal(h->r->out[0], "MAIL<gap 12>");
    assert_int_equal(h->r->ev[0][CAP_EV_TRUNCATED], 1);
    cap_reasm_segment(h->pool, h->d, &h->o, 10 + 16, part, 4, 12, 1.0);
    assert_int_equal(h->r->ev[0][CAP_EV_TRUNCATED], 1);    /* once per direction */
    h_lit(h, 32, "ok");
    h_flush(h);
    assert_string_equal(h->r->out[0], "MAIL<gap 12>MAIL<gap 12>ok");
    h_free(h);

    /* a cut segment out of order: its missing tail waits in the queue */
    h = h_new(10, 0);
    cap_reasm_segment(h->pool, h->d, &h->o, 10 + 3, part, 4, 6, 1.0);
    assert_int_equal(h->r->len[0], 0);
    h_lit(h, 0, "abc");
    assert_string_equal(h->r->out[0], "abcMAIL<gap 6>");
    h_flush(h);
    h_free(h);
}

/* Randomized: shuffled, duplicated, overlapping segments of one stream. */
static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void test_random_orders(void **st)
{
    static char msg[3000];
    size_t i, round;

    (void)st;
    for (i = 0; i < sizeof msg - 1; i++)
        msg[i] = (char)(' ' + rnd() % 90);
    msg[sizeof msg - 1] = '\0';
    for (round = 0; round < 200; round++) {
        struct harness *h = h_new(rnd(), 0);
        size_t offs[6100], lens[6100], nseg = 0, n = strlen(msg), pos = 0;

        while (pos < n) {
            size_t l = 1 + rnd() % 300;

            if (l > n - pos)
                l = n - pos;
            offs[nseg] = pos;
            lens[nseg++] = l;
            if (rnd() % 4 == 0) {  /* an overlapping copy */
                size_t o = pos > 50 ? pos - rnd() % 50 : 0;

                offs[nseg] = o;
                lens[nseg++] = (l + (pos - o) > n - o) ? n - o : l + (pos - o);
            }
            pos += l;
        }
        for (i = nseg; i > 1; i--) {            /* shuffle */
            size_t j = rnd() % i, t;

            t = offs[i - 1]; offs[i - 1] = offs[j]; offs[j] = t;
            t = lens[i - 1]; lens[i - 1] = lens[j]; lens[j] = t;
        }
        for (i = 0; i < nseg; i++)
            h_seg(h, msg, offs[i], lens[i]);
        assert_string_equal(h->r->out[0], msg);
        assert_int_equal(h->r->ev[0][CAP_EV_OVERLAP_CONFLICT], 0);
        h_flush(h);
        h_free(h);
    }
}

/* ---- flow table --------------------------------------------------------- */

static const uint16_t SMTP_PORTS[] = { 25, 465, 587 };

struct ftest {
    struct rec *r;
    struct cap_stats st;
    struct cap_flow_table *ft;
};

static struct ftest *ft_new(size_t max_flows)
{
    struct ftest *t = calloc(1, sizeof *t);
    struct cap_config cfg;

    assert_non_null(t);
    t->r = calloc(1, sizeof *t->r);
    assert_non_null(t->r);
    memset(&cfg, 0, sizeof cfg);
    cfg.ports = SMTP_PORTS;
    cfg.nports = 3;
    cfg.max_flows = max_flows;
    cfg.idle_timeout = 60;
    t->ft = cap_flow_table_new(&cfg, &t->st, 0);
    assert_non_null(t->ft);
    cap_flow_set_callbacks(t->ft, &CBS, t->r);
    return t;
}

static void ft_free(struct ftest *t)
{
    cap_flow_end_all(t->ft, CAP_END_EOF);
    assert_int_equal(cap_flow_count(t->ft), 0);
    assert_int_equal(cap_flow_pool_in_use(t->ft), 0);
    assert_int_equal(cap_flow_hist_in_use(t->ft), 0);
    cap_flow_table_free(t->ft);
    free(t->r);
    free(t);
}

/* A segment from client 10.0.0.1:cport to server 10.0.0.2:25 (dir 0) or
 * back (dir 1). */
static void seg(struct ftest *t, int dir, uint16_t cport, uint8_t flags, uint32_t seq,
                uint32_t ack, const char *data, double ts)
{
    struct cap_pkt pk;
    uint8_t c[4] = { 10, 0, 0, 1 }, s[4] = { 10, 0, 0, 2 };

    memset(&pk, 0, sizeof pk);
    pk.family = 4;
    memcpy(dir ? pk.dst : pk.src, c, 4);
    memcpy(dir ? pk.src : pk.dst, s, 4);
    pk.sport = dir ? 25 : cport;
    pk.dport = dir ? cport : 25;
    pk.flags = flags;
    pk.seq = seq;
    pk.ack = ack;
    pk.payload = (const uint8_t *)data;
    pk.payload_len = data ? strlen(data) : 0;
    cap_flow_packet(t->ft, &pk, ts);
}

#define SYN CAP_TH_SYN
#define ACK CAP_TH_ACK
#define FIN CAP_TH_FIN
#define RST CAP_TH_RST
#define PSH CAP_TH_PSH

static void handshake(struct ftest *t, uint16_t cport, uint32_t c, uint32_t s, double ts)
{
    seg(t, 0, cport, SYN, c, 0, NULL, ts);
    seg(t, 1, cport, SYN | ACK, s, c + 1, NULL, ts + 0.01);
    seg(t, 0, cport, ACK, c + 1, s + 1, NULL, ts + 0.02);
}

static void test_flow_full_session(void **st)
{
    struct ftest *t = ft_new(0);
    uint32_t c = 1000, s = 0xfffffff0u;         /* server wraps */
    (void)st;
    handshake(t, 40000, c, s, 1.0);
    assert_int_equal(t->r->starts, 1);
    assert_int_equal(t->r->fi[0].client_side, 0);
    assert_int_equal(t->r->fi[0].syn_seen, 1);
    assert_int_equal(t->r->fi[0].side[0].port, 40000);
    assert_int_equal(t->r->fi[0].side[1].port, 25);
    assert_int_equal(t->r->fi[0].side[0].addr[3], 1);
    assert_int_equal(t->r->fi[0].side[1].addr[3], 2);
    seg(t, 1, 40000, PSH | ACK, s + 1, c + 1, "220 mx ESMTP\r\n", 1.1);
    seg(t, 0, 40000, PSH | ACK, c + 1, s + 15, "EHLO x\r\n", 1.2);
    seg(t, 1, 40000, PSH | ACK, s + 15, c + 9, "250 ok\r\n", 1.3);
    seg(t, 0, 40000, PSH | ACK | FIN, c + 9, s + 23, "QUIT\r\n", 1.4);
    seg(t, 1, 40000, PSH | ACK | FIN, s + 23, c + 16, "221 bye\r\n", 1.5);
    assert_int_equal(t->r->ends, 1);
    assert_int_equal(t->r->reason[0], CAP_END_FIN);
    seg(t, 0, 40000, ACK, c + 16, s + 33, NULL, 1.6);   /* last ACK: absorbed */
    seg(t, 1, 40000, PSH | ACK, s + 23, c + 16, "221 bye\r\n", 1.7); /* late retrans */
    assert_int_equal(t->r->starts, 1);
    assert_string_equal(t->r->out[0], "EHLO x\r\nQUIT\r\n");
    assert_string_equal(t->r->out[1], "220 mx ESMTP\r\n250 ok\r\n221 bye\r\n");
    assert_int_equal(t->st.flows, 1);
    /* port reuse: a new SYN with a new ISN starts a new flow */
    handshake(t, 40000, 777777, 5, 2.0);
    assert_int_equal(t->r->starts, 2);
    /* a retransmitted SYN of that new connection does not */
    seg(t, 0, 40000, SYN, 777777, 0, NULL, 2.1);
    assert_int_equal(t->r->starts, 2);
    ft_free(t);
}

static void test_flow_port_reuse_after_fins_pending(void **st)
{
    struct ftest *t = ft_new(0);

    (void)st;
    handshake(t, 40001, 100, 200, 1.0);
    seg(t, 0, 40001, ACK, 101, 201, "abc", 1.1);
    seg(t, 0, 40001, FIN | ACK, 110, 201, NULL, 1.2);   /* 6 bytes never seen */
    seg(t, 1, 40001, FIN | ACK, 201, 104, NULL, 1.3);   /* not acked either */
    assert_int_equal(t->r->ends, 0);                    /* waiting for the data */
    seg(t, 0, 40001, SYN, 5000, 0, NULL, 5.0);          /* reuse */
    assert_int_equal(t->r->ends, 1);
    assert_int_equal(t->r->reason[0], CAP_END_FIN);
    assert_string_equal(t->r->out[0], "abc<gap 6>");
    assert_int_equal(t->r->starts, 2);
    ft_free(t);
}

static void test_flow_port_reuse_without_fin(void **st)
{
    struct ftest *t = ft_new(0);

    (void)st;
    handshake(t, 40009, 100, 200, 1.0);
    seg(t, 0, 40009, ACK, 101, 201, "old", 1.1);
    seg(t, 0, 40009, SYN, 150, 0, NULL, 1.2);           /* new ISN, but in window */
    assert_int_equal(t->r->starts, 1);
    assert_int_equal(t->r->ends, 0);
    seg(t, 0, 40009, SYN, 0x80000000u, 0, NULL, 1.3);   /* far away: a new connection */
    assert_int_equal(t->r->ends, 1);
    assert_int_equal(t->r->reason[0], CAP_END_TIMEOUT);
    assert_int_equal(t->r->starts, 2);
    assert_int_equal(t->r->fi[1].syn_seen, 1);
    seg(t, 1, 40009, SYN | ACK, 7, 0x80000001u, NULL, 1.4);
    seg(t, 0, 40009, ACK, 0x80000001u, 8, "new", 1.5);
    assert_string_equal(t->r->out[0], "oldnew");
    ft_free(t);
}

static void test_flow_rst(void **st)
{
    struct ftest *t = ft_new(0);

    (void)st;
    handshake(t, 40002, 100, 200, 1.0);
    seg(t, 0, 40002, ACK, 106, 201, "world", 1.1);      /* 5 bytes lost before */
    seg(t, 1, 40002, RST | ACK, 201, 101, NULL, 1.2);
    assert_int_equal(t->r->ends, 1);
    assert_int_equal(t->r->reason[0], CAP_END_RST);
    assert_string_equal(t->r->out[0], "<gap 5>world");
    seg(t, 0, 40002, ACK, 111, 201, "more", 1.3);       /* after RST: absorbed */
    assert_int_equal(t->r->starts, 1);
    ft_free(t);
}

static void test_flow_midstream(void **st)
{
    struct ftest *t = ft_new(0);

    (void)st;
    /* first packet: server -> client data */
    seg(t, 1, 40003, PSH | ACK, 5000, 9000, "250 ok\r\n", 1.0);
    assert_int_equal(t->r->starts, 1);
    assert_int_equal(t->r->fi[0].client_side, -1);
    assert_int_equal(t->r->fi[0].syn_seen, 0);
    assert_int_equal(t->r->fi[0].side[0].port, 40003);  /* non-listed port = side 0 */
    assert_int_equal(t->r->ev[1][CAP_EV_MIDSTREAM], 1);
    assert_string_equal(t->r->log, "SMd1");
    seg(t, 0, 40003, PSH | ACK, 9000, 5008, "DATA\r\n", 1.1);
    assert_string_equal(t->r->out[0], "DATA\r\n");
    assert_string_equal(t->r->out[1], "250 ok\r\n");
    ft_free(t);
}

static void test_flow_synack_first(void **st)
{
    struct ftest *t = ft_new(0);

    (void)st;
    seg(t, 1, 40004, SYN | ACK, 300, 101, NULL, 1.0);   /* SYN lost */
    assert_int_equal(t->r->fi[0].client_side, 0);
    assert_int_equal(t->r->fi[0].syn_seen, 1);
    assert_int_equal(t->r->fi[0].side[0].port, 40004);  /* receiver = side 0 */
    seg(t, 0, 40004, ACK, 101, 301, "EHLO\r\n", 1.1);   /* offset 0 from SYN/ACK's ack */
    seg(t, 1, 40004, ACK, 301, 107, "250\r\n", 1.2);
    assert_string_equal(t->r->out[0], "EHLO\r\n");
    assert_string_equal(t->r->out[1], "250\r\n");
    ft_free(t);
}

static void test_flow_gap_from_ack_cross_direction(void **st)
{
    struct ftest *t = ft_new(0);

    (void)st;
    handshake(t, 40005, 100, 200, 1.0);
    seg(t, 1, 40005, PSH | ACK, 201, 101, "220 hi\r\n", 1.1);
    /* client "EHLO x\r\n" (8 bytes) not captured; server acks it and replies */
    seg(t, 1, 40005, PSH | ACK, 209, 109, "250 ok\r\n", 1.2);
    /* the client's gap comes before the reply that answers it */
    assert_string_equal(t->r->log, "Sd1g0d1");
    assert_string_equal(t->r->out[0], "<gap 8>");
    ft_free(t);
}

static void test_flow_syn_with_data(void **st)
{
    struct ftest *t = ft_new(0);

    (void)st;
    seg(t, 0, 40006, SYN, 100, 0, "early", 1.0);        /* TFO-style data on SYN */
    seg(t, 1, 40006, SYN | ACK, 200, 106, NULL, 1.1);
    seg(t, 0, 40006, ACK, 106, 201, " data", 1.2);
    seg(t, 0, 40006, SYN, 100, 0, "early", 1.3);        /* SYN retransmission */
    assert_string_equal(t->r->out[0], "early data");
    ft_free(t);
}

static void test_flow_refused(void **st)
{
    struct ftest *t = ft_new(0);

    (void)st;
    t->r->refuse = 1;
    handshake(t, 40007, 100, 200, 1.0);
    seg(t, 0, 40007, ACK, 101, 201, "x", 1.1);
    assert_int_equal(t->r->starts, 1);
    assert_int_equal(t->r->len[0], 0);
    seg(t, 0, 40007, FIN | ACK, 102, 201, NULL, 1.2);
    seg(t, 1, 40007, FIN | ACK, 201, 103, NULL, 1.3);
    seg(t, 0, 40007, ACK, 103, 202, "late", 1.35);      /* closed: no new flow */
    assert_int_equal(t->r->starts, 1);
    t->r->refuse = 0;
    handshake(t, 40007, 9999, 8888, 1.4);               /* reuse: asked again */
    assert_int_equal(t->r->starts, 2);
    assert_int_equal(t->r->ends, 0);
    ft_free(t);
}

static void test_flow_not_wanted_and_no_start(void **st)
{
    struct ftest *t = ft_new(0);
    struct cap_pkt pk;

    (void)st;
    memset(&pk, 0, sizeof pk);
    pk.family = 4;
    pk.sport = 1234;
    pk.dport = 80;
    pk.flags = SYN;
    cap_flow_packet(t->ft, &pk, 1.0);                   /* port not wanted */
    seg(t, 0, 40008, ACK, 1, 1, NULL, 1.0);             /* pure ACK: no flow */
    seg(t, 0, 40008, RST, 1, 1, NULL, 1.0);             /* RST: no flow */
    assert_int_equal(t->r->starts, 0);
    assert_int_equal(cap_flow_count(t->ft), 0);
    ft_free(t);
}

static void test_flow_eviction(void **st)
{
    struct ftest *t = ft_new(2);

    (void)st;
    handshake(t, 41000, 100, 200, 1.0);
    seg(t, 0, 41000, ACK, 101, 201, "one", 1.05);
    handshake(t, 41001, 100, 200, 1.1);
    handshake(t, 41002, 100, 200, 1.2);                 /* table full: 41000 ends */
    assert_int_equal(t->st.evicted, 1);
    assert_int_equal(t->r->ends, 1);
    assert_int_equal(t->r->reason[0], CAP_END_EVICTED);
    assert_true(t->r->end_ts[0] == 1.05);
    assert_string_equal(t->r->out[0], "one");
    /* two live flows plus the evicted one's tombstone */
    assert_int_equal(cap_flow_count(t->ft), 3);
    assert_int_equal(cap_flow_tombstones(t->ft), 1);
    ft_free(t);
}

/* Tombstones the table keeps for max_flows (as flow.c computes it). */
static size_t tombs_for(size_t max_flows)
{
    size_t n = max_flows * CAP_TOMBSTONES_PER_FLOW;

    return n < CAP_TOMBSTONES_MAX ? n : CAP_TOMBSTONES_MAX;
}

/* Counts the occurrences of c in s. */
static int count_char(const char *s, char c)
{
    int n = 0;

    for (; *s; s++)
        n += *s == c;
    return n;
}

/* Three interleaved connections through a table of two: the evicted one is
 * stored once (one flow_start, one flow_end) and its later packets are
 * absorbed and counted, not turned into new mid-stream flows. */
static void test_flow_evicted_tombstone_absorbs(void **st)
{
    struct ftest *t = ft_new(2);

    (void)st;
    handshake(t, 43000, 100, 200, 1.0);                 /* A */
    seg(t, 0, 43000, PSH | ACK, 101, 201, "a1", 1.05);
    handshake(t, 43001, 300, 400, 1.1);                 /* B */
    seg(t, 0, 43001, PSH | ACK, 301, 401, "b1", 1.15);
    handshake(t, 43002, 500, 600, 1.2);                 /* C: A is evicted */
    assert_int_equal(t->r->starts, 3);
    assert_int_equal(t->r->ends, 1);
    assert_int_equal(t->r->reason[0], CAP_END_EVICTED);
    assert_true(t->r->end_ts[0] == 1.05);               /* A's last packet */
    assert_int_equal(t->st.evicted, 1);
    assert_int_equal(cap_flow_tombstones(t->ft), 1);
    assert_int_equal(cap_flow_count(t->ft) - cap_flow_tombstones(t->ft), 2);

    /* interleaved: A's later packets (data both ways, a retransmitted SYN,
     * FINs) among B's and C's */
    seg(t, 0, 43000, PSH | ACK, 103, 201, "a2", 1.3);              /* 2 bytes */
    seg(t, 0, 43002, PSH | ACK, 501, 601, "c1", 1.31);
    seg(t, 1, 43000, PSH | ACK, 201, 105, "250 a\r\n", 1.32);     /* 7 bytes */
    seg(t, 0, 43001, PSH | ACK, 303, 401, "b2", 1.33);
    seg(t, 0, 43000, SYN, 100, 0, NULL, 1.34);                     /* same ISN */
    seg(t, 0, 43000, FIN | ACK, 105, 208, NULL, 1.35);
    seg(t, 1, 43000, FIN | ACK, 208, 106, NULL, 1.36);
    seg(t, 0, 43000, ACK, 106, 209, NULL, 1.37);
    assert_int_equal(t->r->starts, 3);                  /* no new flow for A */
    assert_int_equal(t->r->ends, 1);
    assert_int_equal(t->st.flows, 3);
    assert_int_equal(t->st.evicted, 1);
    assert_int_equal(t->st.evicted_packets, 6);
    assert_int_equal(t->st.evicted_bytes, 9);
    assert_int_equal(count_char(t->r->log, 'M'), 0);    /* nothing mid-stream */
    assert_string_equal(t->r->out[0], "a1b1c1b2");
    assert_string_equal(t->r->out[1], "");

    /* a new SYN (new ISN) on A's 4-tuple is a new connection: the table is
     * full again, so C (least recently active) is evicted for it */
    seg(t, 0, 43000, SYN, 9000, 0, NULL, 2.0);
    assert_int_equal(t->r->starts, 4);
    assert_int_equal(t->r->fi[3].syn_seen, 1);
    assert_int_equal(t->r->fi[3].side[0].port, 43000);
    assert_int_equal(t->r->ends, 2);
    assert_true(t->r->end_ts[1] == 1.31);               /* C's last packet */
    assert_int_equal(t->st.evicted, 2);
    assert_int_equal(t->st.evicted_packets, 6);         /* not absorbed */
    seg(t, 1, 43000, SYN | ACK, 7000, 9001, NULL, 2.01);
    seg(t, 0, 43000, PSH | ACK, 9001, 7001, "new", 2.02);
    assert_string_equal(t->r->out[0], "a1b1c1b2new");

    /* C's later packets are absorbed by its tombstone as well */
    seg(t, 0, 43002, PSH | ACK, 503, 601, "c2", 2.1);
    assert_int_equal(t->r->starts, 4);
    assert_int_equal(t->st.evicted_packets, 7);
    assert_int_equal(t->st.evicted_bytes, 11);

    cap_flow_end_all(t->ft, CAP_END_EOF);
    assert_int_equal(t->r->ends, 4);                    /* every flow ended once */
    assert_int_equal(count_char(t->r->log, 'S'), 4);
    assert_int_equal(count_char(t->r->log, 'E'), 4);
    ft_free(t);
}

/* A connection evicted between its SYN and the SYN/ACK: the answer to its
 * SYN belongs to it (absorbed), a SYN/ACK answering another ISN does not. */
static void test_flow_evicted_synack_absorbed(void **st)
{
    struct ftest *t = ft_new(2);

    (void)st;
    seg(t, 0, 44000, SYN, 100, 0, NULL, 1.0);           /* A: SYN only */
    handshake(t, 44001, 300, 400, 1.1);
    handshake(t, 44002, 500, 600, 1.2);                 /* A evicted */
    assert_int_equal(t->r->ends, 1);
    seg(t, 1, 44000, SYN | ACK, 200, 101, NULL, 1.3);   /* answers A's SYN */
    assert_int_equal(t->r->starts, 3);
    assert_int_equal(t->st.evicted_packets, 1);
    seg(t, 1, 44000, SYN | ACK, 200, 101, NULL, 1.35);  /* retransmitted */
    assert_int_equal(t->r->starts, 3);
    assert_int_equal(t->st.evicted_packets, 2);
    seg(t, 1, 44000, SYN | ACK, 9999, 5001, NULL, 1.4); /* another connection */
    assert_int_equal(t->r->starts, 4);
    assert_int_equal(t->st.evicted_packets, 2);
    ft_free(t);
}

/* max_flows counts flows holding consumer state only: tombstones of ended
 * connections take no place from open ones. */
static void test_flow_tombstones_not_counted(void **st)
{
    struct ftest *t = ft_new(2);

    (void)st;
    handshake(t, 47000, 100, 200, 1.0);
    seg(t, 0, 47000, FIN | ACK, 101, 201, NULL, 1.1);
    seg(t, 1, 47000, FIN | ACK, 201, 102, NULL, 1.2);
    assert_int_equal(t->r->ends, 1);
    handshake(t, 47001, 100, 200, 2.0);
    seg(t, 0, 47001, PSH | ACK, 101, 201, "b", 2.05);
    handshake(t, 47002, 100, 200, 2.1);
    seg(t, 0, 47002, PSH | ACK, 101, 201, "c", 2.15);
    assert_int_equal(t->st.evicted, 0);
    assert_int_equal(t->r->ends, 1);
    assert_int_equal(cap_flow_tombstones(t->ft), 1);
    assert_int_equal(cap_flow_count(t->ft), 3);
    assert_string_equal(t->r->out[0], "bc");
    ft_free(t);
}

/* Tombstones are bounded (max_flows * CAP_TOMBSTONES_PER_FLOW): past it the
 * least recently active is removed, and only then does a late packet of its
 * connection start a new flow.  Idle tombstones expire. */
static void test_flow_tombstone_limit(void **st)
{
    struct ftest *t = ft_new(2);
    size_t max = tombs_for(2);
    int i, n = (int)max + 4;

    (void)st;
    assert_true(max >= 2);
    /* n connections at once through a table of 2: n - 2 are evicted */
    for (i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(45000 + i);

        handshake(t, p, 1000u * (uint32_t)i, 77, 1.0 + i);
        seg(t, 0, p, PSH | ACK, 1000u * (uint32_t)i + 1u, 78, "x", 1.5 + i);
        assert_true(cap_flow_tombstones(t->ft) <= max);
        assert_true(cap_flow_count(t->ft) - cap_flow_tombstones(t->ft) <= 2);
    }
    assert_int_equal(t->st.evicted, n - 2);
    assert_int_equal(cap_flow_tombstones(t->ft), max);
    assert_int_equal(cap_flow_count(t->ft), max + 2);
    assert_int_equal(t->r->starts, n);
    /* the 4 oldest tombstones were removed: the first connection's late
     * packet starts a new (mid-stream) flow ... */
    seg(t, 0, 45000, PSH | ACK, 2, 78, "y", 100.0);
    assert_int_equal(t->r->starts, n + 1);
    assert_true(n < 16);                                /* fi[] keeps 16 */
    assert_int_equal(t->r->fi[n].syn_seen, 0);
    assert_int_equal(t->st.evicted_packets, 0);
    /* ... while an evicted connection whose tombstone is kept is absorbed
     * (45000's new flow evicted one more: the 5th connection's tombstone,
     * the least recently active, was removed for it) */
    seg(t, 0, (uint16_t)(45000 + n - 3), PSH | ACK, 1000u * (uint32_t)(n - 3) + 2u, 78,
        "z", 100.1);
    assert_int_equal(t->r->starts, n + 1);
    assert_int_equal(t->st.evicted_packets, 1);
    assert_int_equal(cap_flow_tombstones(t->ft), max);

    /* closed connections' tombstones are bounded by the same limit */
    for (i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(46000 + i);

        handshake(t, p, 10, 20, 200.0 + i);
        seg(t, 0, p, FIN | ACK, 11, 21, NULL, 200.1 + i);
        seg(t, 1, p, FIN | ACK, 21, 12, NULL, 200.2 + i);
        assert_true(cap_flow_tombstones(t->ft) <= max);
    }
    assert_int_equal(cap_flow_tombstones(t->ft), max);

    /* idle: everything expires, tombstones included */
    cap_flow_expire(t->ft, 400.0);
    assert_int_equal(cap_flow_count(t->ft), 0);
    seg(t, 0, (uint16_t)(46000 + n - 1), PSH | ACK, 12, 22, "late", 401.0);
    assert_int_equal(cap_flow_count(t->ft), 1);          /* a new flow again */
    ft_free(t);
}

static void test_flow_idle_expiry_and_eof(void **st)
{
    struct ftest *t = ft_new(0);

    (void)st;
    handshake(t, 42000, 100, 200, 1.0);
    handshake(t, 42001, 100, 200, 50.0);
    seg(t, 0, 42001, ACK, 101, 201, "x", 50.5);
    cap_flow_expire(t->ft, 62.0);                       /* 42000 idle > 60 s */
    assert_int_equal(t->r->ends, 1);
    assert_int_equal(t->r->reason[0], CAP_END_TIMEOUT);
    cap_flow_end_all(t->ft, CAP_END_EOF);
    assert_int_equal(t->r->ends, 2);
    assert_int_equal(t->r->reason[1], CAP_END_EOF);
    assert_true(t->r->end_ts[1] == 50.5);
    ft_free(t);
}

static void test_flow_ipv6_and_vlan_are_separate(void **st)
{
    struct ftest *t = ft_new(0);
    struct cap_pkt pk;

    (void)st;
    memset(&pk, 0, sizeof pk);
    pk.family = 6;
    pk.src[0] = 0x20; pk.src[1] = 0x01; pk.src[15] = 1;
    pk.dst[0] = 0x20; pk.dst[1] = 0x01; pk.dst[15] = 2;
    pk.sport = 50000;
    pk.dport = 587;
    pk.flags = SYN;
    pk.seq = 1;
    cap_flow_packet(t->ft, &pk, 1.0);
    pk.vlan = 7;
    cap_flow_packet(t->ft, &pk, 1.0);                   /* other VLAN, other flow */
    assert_int_equal(t->r->starts, 2);
    assert_int_equal(t->r->fi[1].vlan, 7);
    assert_int_equal(t->r->fi[0].side[0].family, 6);
    ft_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inorder_zero_copy),
        cmocka_unit_test(test_split_pairs),
        cmocka_unit_test(test_split_triples),
        cmocka_unit_test(test_one_byte_at_a_time),
        cmocka_unit_test(test_duplicates_silent),
        cmocka_unit_test(test_overlap_conflict_delivered),
        cmocka_unit_test(test_overlap_conflict_queued),
        cmocka_unit_test(test_keepalive_and_probe_ignored),
        cmocka_unit_test(test_wraparound),
        cmocka_unit_test(test_offsets_beyond_4g),
        cmocka_unit_test(test_gap_from_ack),
        cmocka_unit_test(test_gap_from_ack_then_later_segment),
        cmocka_unit_test(test_ack_of_uncaptured_fin_not_a_gap),
        cmocka_unit_test(test_gap_at_end),
        cmocka_unit_test(test_fin_proves_bytes),
        cmocka_unit_test(test_queue_segs_overflow),
        cmocka_unit_test(test_queue_bytes_overflow),
        cmocka_unit_test(test_pool_exhausted),
        cmocka_unit_test(test_history_grows),
        cmocka_unit_test(test_truncated_segment),
        cmocka_unit_test(test_random_orders),
        cmocka_unit_test(test_flow_full_session),
        cmocka_unit_test(test_flow_port_reuse_after_fins_pending),
        cmocka_unit_test(test_flow_port_reuse_without_fin),
        cmocka_unit_test(test_flow_rst),
        cmocka_unit_test(test_flow_midstream),
        cmocka_unit_test(test_flow_synack_first),
        cmocka_unit_test(test_flow_gap_from_ack_cross_direction),
        cmocka_unit_test(test_flow_syn_with_data),
        cmocka_unit_test(test_flow_refused),
        cmocka_unit_test(test_flow_not_wanted_and_no_start),
        cmocka_unit_test(test_flow_eviction),
        cmocka_unit_test(test_flow_evicted_tombstone_absorbs),
        cmocka_unit_test(test_flow_evicted_synack_absorbed),
        cmocka_unit_test(test_flow_tombstones_not_counted),
        cmocka_unit_test(test_flow_tombstone_limit),
        cmocka_unit_test(test_flow_idle_expiry_and_eof),
        cmocka_unit_test(test_flow_ipv6_and_vlan_are_separate),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
