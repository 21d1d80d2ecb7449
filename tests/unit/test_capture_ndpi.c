/*
 * test_capture_ndpi.c — all-ports classification (capture/ndpi.c through
 * the flow table), the data() return value that stops a flow's bytes, lazy
 * history buffers, and the IP header handed to nDPI (decode.c l3,
 * rebuilt datagrams of reassembled fragments).
 *
 * Packets are built in memory as raw IPv4 datagrams.  Most tests decode
 * them (cap_decode, CAP_LINK_RAW) into the flow table directly; the
 * end-to-end ones write them as an Ethernet pcap file into /tmp and go
 * through capture_open_file / capture_run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture/capture.h"
#include "capture/decode_int.h"
#include "capture/flow_int.h"
#include "capture/ndpi_int.h"
#include "tests/unit/fix_pcap.h"

/* ---- recorder ------------------------------------------------------------ */

struct rec {
    char out[2][16384];
    size_t len[2];
    int starts, ends, data_calls;
    int ev[4];
    int proto_events;
    char proto[8][CAP_NDPI_NAME_MAX];
    int proto_side[8];
    enum cap_end_reason reason[8];
    char log[8192];                 /* "S" start, "M" midstream, "P" protocol,
                                     * "d0"/"d1", "g", "C", "T", "E" */
    size_t loglen;
    int unwant_after;               /* data() returns 1 on this call (1-based) */
    int unwanted;                   /* data() returned 1                      */
    int after_unwanted;             /* data/gap/event calls after that        */
    int refuse;
    int handle;
};

static void logc(struct rec *r, const char *s)
{
    size_t n = strlen(s);

    assert_true(r->loglen + n + 1 < sizeof r->log);
    memcpy(r->log + r->loglen, s, n);
    r->loglen += n;
    r->log[r->loglen] = '\0';
}

static void *r_start(void *arg, const struct cap_flow_info *fi)
{
    struct rec *r = arg;

    (void)fi;
    r->starts++;
    if (r->loglen + 2 < sizeof r->log)
        logc(r, "S");
    return r->refuse ? NULL : &r->handle;
}

static int r_data(void *arg, void *flow, int side, const uint8_t *p, size_t len, double ts)
{
    struct rec *r = arg;

    (void)ts;
    assert_ptr_equal(flow, &r->handle);
    assert_true(len > 0);
    if (r->unwanted)
        r->after_unwanted++;
    r->data_calls++;
    if (r->len[side] + len < sizeof r->out[side]) {
        memcpy(r->out[side] + r->len[side], p, len);
        r->len[side] += len;
        r->out[side][r->len[side]] = '\0';
    }
    logc(r, side ? "d1" : "d0");
    if (r->unwant_after && r->data_calls == r->unwant_after) {
        r->unwanted = 1;
        return 1;
    }
    return 0;
}

static void r_gap(void *arg, void *flow, int side, uint64_t len, double ts)
{
    struct rec *r = arg;

    (void)flow;
    (void)side;
    (void)len;
    (void)ts;
    if (r->unwanted)
        r->after_unwanted++;
    logc(r, "g");
}

static void r_event(void *arg, void *flow, int side, enum cap_event ev, double ts,
                    const char *detail)
{
    struct rec *r = arg;

    (void)ts;
    assert_ptr_equal(flow, &r->handle);
    assert_true((int)ev >= 0 && (int)ev < 4);
    if (r->unwanted)
        r->after_unwanted++;
    r->ev[ev]++;
    switch (ev) {
    case CAP_EV_PROTOCOL:
        assert_non_null(detail);
        assert_true(r->proto_events < 8);
        snprintf(r->proto[r->proto_events], CAP_NDPI_NAME_MAX, "%s", detail);
        r->proto_side[r->proto_events] = side;
        r->proto_events++;
        logc(r, "P");
        break;
    case CAP_EV_MIDSTREAM:
        logc(r, "M");
        break;
    case CAP_EV_TRUNCATED:
        logc(r, "T");
        break;
    case CAP_EV_OVERLAP_CONFLICT:
        logc(r, "C");
        break;
    }
}

static void r_end(void *arg, void *flow, enum cap_end_reason why, double ts)
{
    struct rec *r = arg;

    (void)ts;
    assert_ptr_equal(flow, &r->handle);
    if (r->ends < 8)
        r->reason[r->ends] = why;
    r->ends++;
    if (r->loglen + 2 < sizeof r->log)
        logc(r, "E");
}

static const struct cap_callbacks CBS = { r_start, r_data, r_gap, r_event, r_end, NULL };

/* ---- packets ------------------------------------------------------------- */

/* One TCP connection being written: client (side 0) and server. */
struct conn {
    int v6;                         /* IPv6 (addresses fd00::ip[side])       */
    uint8_t ip[2][4];
    uint16_t port[2];
    uint32_t seq[2];
    double ts;
};

/* Where packets go: the flow table (decoded) or a pcap file being built. */
struct sink {
    struct cap_flow_table *ft;      /* direct when not NULL                   */
    uint8_t *file;                  /* else: pcap bytes (Ethernet)            */
    size_t fn, fcap;
    uint16_t ipid;
};

static void file_put(struct sink *k, const void *d, size_t n)
{
    if (k->fn + n > k->fcap) {
        k->fcap = (k->fn + n) * 2 + 4096;
        k->file = realloc(k->file, k->fcap);
        assert_non_null(k->file);
    }
    memcpy(k->file + k->fn, d, n);
    k->fn += n;
}

static void sink_file_init(struct sink *k)
{
    uint8_t hdr[24];

    memset(k, 0, sizeof *k);
    pcap_file_header(hdr, 1);                   /* Ethernet */
    file_put(k, hdr, sizeof hdr);
}

/* Hands one IPv4 datagram of n bytes to the sink at time ts. */
static void sink_ip(struct sink *k, const uint8_t *ip, size_t n, double ts)
{
    if (k->ft) {
        struct cap_pkt pk;

        assert_int_equal(cap_decode(CAP_LINK_RAW, ip, n, n, &pk), CAP_DEC_TCP);
        assert_ptr_equal(pk.l3, ip);
        assert_int_equal(pk.l3_len, n);
        cap_flow_packet(k->ft, &pk, ts);
    } else {
        uint8_t rh[16], eth[14];
        uint32_t sec = (uint32_t)ts, usec = (uint32_t)((ts - sec) * 1e6 + 0.5);

        if (usec >= 1000000u)
            usec = 999999u;
        memset(eth, 0x02, 12);
        be16(eth + 12, (ip[0] >> 4) == 6 ? 0x86dd : 0x0800);
        pcap_rec_header(rh, sec, usec, n + 14, n + 14);
        file_put(k, rh, sizeof rh);
        file_put(k, eth, 14);
        file_put(k, ip, n);
    }
}

/* Builds IPv4 (20 bytes) or IPv6 (40) + TCP (20) + payload into b. */
static size_t build(uint8_t *b, const struct conn *c, int dir, uint8_t flags, uint32_t seq,
                    uint32_t ack, const void *pl, size_t plen, uint16_t ipid)
{
    size_t ih = c->v6 ? 40 : 20;
    uint8_t *t = b + ih;

    memset(b, 0, ih + 20);
    if (c->v6) {
        b[0] = 0x60;
        be16(b + 4, (uint16_t)(20 + plen));
        b[6] = 6;
        b[7] = 64;
        b[8] = 0xfd;
        memcpy(b + 20, c->ip[dir], 4);
        b[24] = 0xfd;
        memcpy(b + 36, c->ip[!dir], 4);
    } else {
        b[0] = 0x45;
        be16(b + 2, (uint16_t)(40 + plen));
        be16(b + 4, ipid);
        b[8] = 64;
        b[9] = 6;
        memcpy(b + 12, c->ip[dir], 4);
        memcpy(b + 16, c->ip[!dir], 4);
    }
    be16(t, c->port[dir]);
    be16(t + 2, c->port[!dir]);
    be32(t + 4, seq);
    be32(t + 8, ack);
    t[12] = 0x50;
    t[13] = flags;
    be16(t + 14, 65535);
    if (plen)
        memcpy(t + 20, pl, plen);
    return ih + 20 + plen;
}

/* Sends a segment from side dir with explicit sequence numbers. */
static void raw(struct sink *k, struct conn *c, int dir, uint8_t flags, uint32_t seq,
                uint32_t ack, const void *pl, size_t plen)
{
    static uint8_t b[70000];

    assert_true(plen <= sizeof b - 60);
    c->ts += 0.001;
    sink_ip(k, b, build(b, c, dir, flags, seq, ack, pl, plen, k->ipid++), c->ts);
}

static void conn_init(struct conn *c, uint8_t last_octet, uint16_t cport, uint16_t sport)
{
    memset(c, 0, sizeof *c);
    c->ip[0][0] = 10; c->ip[0][1] = 1; c->ip[0][2] = 0; c->ip[0][3] = last_octet;
    c->ip[1][0] = 10; c->ip[1][1] = 2; c->ip[1][2] = 0; c->ip[1][3] = 1;
    c->port[0] = cport;
    c->port[1] = sport;
    c->seq[0] = 1000u + last_octet * 7u;
    c->seq[1] = 50000u + cport;
    c->ts = 1700000000.0;
}

static void handshake(struct sink *k, struct conn *c)
{
    raw(k, c, 0, F_SYN, c->seq[0], 0, NULL, 0);
    raw(k, c, 1, F_SYN | F_ACK, c->seq[1], c->seq[0] + 1, NULL, 0);
    c->seq[0]++;
    c->seq[1]++;
    raw(k, c, 0, F_ACK, c->seq[0], c->seq[1], NULL, 0);
}

/* In-order data from side dir. */
static void say(struct sink *k, struct conn *c, int dir, const char *s)
{
    size_t n = strlen(s);

    raw(k, c, dir, F_PSH | F_ACK, c->seq[dir], c->seq[!dir], s, n);
    c->seq[dir] += (uint32_t)n;
}

/* Both sides close (client first) and the last FIN is acked. */
static void close_both(struct sink *k, struct conn *c)
{
    raw(k, c, 0, F_FIN | F_ACK, c->seq[0], c->seq[1], NULL, 0);
    c->seq[0]++;
    raw(k, c, 1, F_FIN | F_ACK, c->seq[1], c->seq[0], NULL, 0);
    c->seq[1]++;
    raw(k, c, 0, F_ACK, c->seq[0], c->seq[1], NULL, 0);
}

static const char *const SMTP_DIALOGUE[] = {
    "220 mx.example.com ESMTP Postfix (Debian/GNU)\r\n",
    "EHLO client.example.org\r\n",
    ("250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
     "250 SMTPUTF8\r\n"),
    "MAIL FROM:<alice@example.org>\r\n",
    "250 2.1.0 Ok\r\n",
    "RCPT TO:<bob@example.com>\r\n",
    "250 2.1.5 Ok\r\n",
    "DATA\r\n",
    "354 End data with <CR><LF>.<CR><LF>\r\n",
    "Subject: hi\r\n\r\nhello\r\n.\r\n",
    "250 2.0.0 Ok: queued as 4F1A2B3C\r\n",
    "QUIT\r\n",
    "221 2.0.0 Bye\r\n",
};
#define SMTP_N (sizeof SMTP_DIALOGUE / sizeof SMTP_DIALOGUE[0])

/* A whole SMTP session on cport -> sport (server speaks first). */
static void smtp_session(struct sink *k, struct conn *c)
{
    size_t i;

    handshake(k, c);
    for (i = 0; i < SMTP_N; i++)
        say(k, c, i % 2 == 0 ? 1 : 0, SMTP_DIALOGUE[i]);
    close_both(k, c);
}

static const char HTTP_REQ[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
static const char HTTP_RSP[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 5\r\n\r\nhello";

static void http_session(struct sink *k, struct conn *c)
{
    handshake(k, c);
    say(k, c, 0, HTTP_REQ);
    say(k, c, 1, HTTP_RSP);
    close_both(k, c);
}

/* ---- direct harness -------------------------------------------------------- */

static const uint16_t SMTP_PORTS[] = { 25, 465, 587 };

struct tab {
    struct rec r;
    struct cap_stats st;
    struct sink k;
};

static struct tab *tab_new(int all_ports, const uint16_t *ports, size_t nports)
{
    struct tab *t = calloc(1, sizeof *t);
    struct cap_config cfg;

    assert_non_null(t);
    memset(&cfg, 0, sizeof cfg);
    cfg.ports = ports;
    cfg.nports = nports;
    cfg.all_ports = all_ports;
    cfg.idle_timeout = 60;
    t->k.ft = cap_flow_table_new(&cfg, &t->st, 0);
    assert_non_null(t->k.ft);
    cap_flow_set_callbacks(t->k.ft, &CBS, &t->r);
    return t;
}

static void tab_free(struct tab *t)
{
    cap_flow_end_all(t->k.ft, CAP_END_EOF);
    assert_int_equal(cap_flow_count(t->k.ft), 0);
    assert_int_equal(cap_flow_pool_in_use(t->k.ft), 0);
    assert_int_equal(cap_flow_hist_in_use(t->k.ft), 0);
    cap_flow_table_free(t->k.ft);
    free(t);
}

/* The whole client (side 0) or server stream of the SMTP dialogue. */
static void smtp_stream(int side, char *out, size_t outsz)
{
    size_t i;

    out[0] = '\0';
    for (i = 0; i < SMTP_N; i++)
        if ((i % 2 == 0 ? 1 : 0) == side)
            strncat(out, SMTP_DIALOGUE[i], outsz - strlen(out) - 1);
}

/* ---- classification ------------------------------------------------------------ */

static void test_smtp_2525_all_ports(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c;
    char want[2][2048];
    const char *p;

    (void)st;
    conn_init(&c, 1, 40001, 2525);
    smtp_session(&t->k, &c);
    assert_int_equal(t->r.starts, 1);
    assert_int_equal(t->r.ends, 1);
    assert_int_equal(t->r.reason[0], CAP_END_FIN);
    assert_int_equal(t->r.proto_events, 1);
    assert_string_equal(t->r.proto[0], "SMTP");
    /* every byte still delivered, in order */
    smtp_stream(0, want[0], sizeof want[0]);
    smtp_stream(1, want[1], sizeof want[1]);
    assert_string_equal(t->r.out[0], want[0]);
    assert_string_equal(t->r.out[1], want[1]);
    /* the verdict came while the session went on, before flow_end, and
     * before the data of the packet that decided it (its sender's side) */
    p = strchr(t->r.log, 'P');
    assert_non_null(p);
    assert_non_null(strstr(p, "d"));
    assert_true(strncmp(p + 1, t->r.proto_side[0] ? "d1" : "d0", 2) == 0);
    tab_free(t);
}

static void test_smtp_2525_not_all_ports(void **st)
{
    struct tab *t = tab_new(0, SMTP_PORTS, 3);
    struct conn c;

    (void)st;
    conn_init(&c, 2, 40002, 2525);
    smtp_session(&t->k, &c);
    assert_int_equal(t->r.starts, 0);           /* port not wanted */
    assert_int_equal(t->r.proto_events, 0);
    tab_free(t);
}

static void test_listed_port_not_classified(void **st)
{
    static const uint16_t ports[] = { 25, 2525 };
    struct tab *t = tab_new(1, ports, 2);
    struct conn c;

    (void)st;
    conn_init(&c, 3, 40003, 2525);
    smtp_session(&t->k, &c);
    conn_init(&c, 4, 2525, 8080);               /* listed on the client side */
    http_session(&t->k, &c);
    assert_int_equal(t->r.starts, 2);
    assert_int_equal(t->r.ends, 2);
    assert_int_equal(t->r.proto_events, 0);
    tab_free(t);
}

static void test_http_8080(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c;

    (void)st;
    conn_init(&c, 5, 40005, 8080);
    http_session(&t->k, &c);
    assert_int_equal(t->r.proto_events, 1);
    assert_string_equal(t->r.proto[0], "HTTP");
    assert_string_equal(t->r.log, "SPd0d1E");   /* decided on the request */
    assert_string_equal(t->r.out[0], HTTP_REQ);
    assert_string_equal(t->r.out[1], HTTP_RSP);
    assert_int_equal(t->r.ends, 1);
    tab_free(t);
}

static void test_ipv6_smtp_and_http(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c;

    (void)st;
    conn_init(&c, 16, 40016, 2525);
    c.v6 = 1;
    smtp_session(&t->k, &c);
    conn_init(&c, 17, 40017, 8080);
    c.v6 = 1;
    http_session(&t->k, &c);
    assert_int_equal(t->r.starts, 2);
    assert_int_equal(t->r.proto_events, 2);
    assert_string_equal(t->r.proto[0], "SMTP");
    assert_string_equal(t->r.proto[1], "HTTP");
    tab_free(t);
}

/* A short flow nDPI can not name is given nDPI's guess at its end, once,
 * just before flow_end. */
static void test_undecided_gets_verdict_at_end(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c;

    (void)st;
    conn_init(&c, 6, 40006, 7777);
    handshake(&t->k, &c);
    say(&t->k, &c, 0, "\x01\x02\x03zq");
    say(&t->k, &c, 1, "\x7f\x00");
    assert_int_equal(t->r.proto_events, 0);
    close_both(&t->k, &c);
    assert_int_equal(t->r.proto_events, 1);
    assert_string_equal(t->r.proto[0], "Unknown");
    assert_int_equal(t->r.ends, 1);
    assert_non_null(strstr(t->r.log, "PE"));
    tab_free(t);
}

/* nDPI is asked for its verdict after CAP_NDPI_MAX_PACKETS packets with
 * payload, before the data of the last one; not again at the end. */
static void test_packet_cap(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c;
    unsigned i;
    char junk[32];

    (void)st;
    conn_init(&c, 7, 40007, 7778);
    handshake(&t->k, &c);
    for (i = 0; i < CAP_NDPI_MAX_PACKETS + 10; i++) {
        snprintf(junk, sizeof junk, "%c%c%u\x01", 0x80 + (int)(i % 64), 0x11, i * 7919u);
        say(&t->k, &c, (int)(i % 2), junk);
        if (i + 1 < CAP_NDPI_MAX_PACKETS)
            assert_int_equal(t->r.proto_events, 0);
        else
            assert_int_equal(t->r.proto_events, 1);
        if (i + 1 == CAP_NDPI_MAX_PACKETS)
            assert_true(t->r.loglen >= 3 &&
                        strcmp(t->r.log + t->r.loglen - 3, (i % 2) ? "Pd1" : "Pd0") == 0);
    }
    close_both(&t->k, &c);
    assert_int_equal(t->r.proto_events, 1);
    assert_string_equal(t->r.proto[0], "Unknown");
    tab_free(t);
}

/* Flows with no payload never reach nDPI and get no verdict. */
static void test_no_payload_no_verdict(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c;

    (void)st;
    conn_init(&c, 8, 40008, 9999);
    handshake(&t->k, &c);
    close_both(&t->k, &c);
    assert_int_equal(t->r.starts, 1);
    assert_int_equal(t->r.ends, 1);
    assert_int_equal(t->r.proto_events, 0);
    tab_free(t);
}

/* Mid-stream flow (no SYN): still classified from its payload packets. */
static void test_midstream_classified(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c;
    size_t i;

    (void)st;
    conn_init(&c, 9, 40009, 2526);
    for (i = 0; i < SMTP_N; i++)
        say(&t->k, &c, i % 2 == 0 ? 1 : 0, SMTP_DIALOGUE[i]);
    assert_int_equal(t->r.ev[CAP_EV_MIDSTREAM], 1);
    assert_int_equal(t->r.proto_events, 1);
    assert_string_equal(t->r.proto[0], "SMTP");
    tab_free(t);
}

/* The nDPI-less path: no module means "Unknown" at once. */
static void test_ndpi_unavailable(void **st)
{
    struct cap_ndpi_flow fl;
    char name[CAP_NDPI_NAME_MAX];
    uint8_t b[100];
    struct conn c;
    size_t n;

    (void)st;
    conn_init(&c, 10, 40010, 2525);
    n = build(b, &c, 1, F_ACK | F_PSH, 1, 1, "220 x\r\n", 7, 1);
    memset(&fl, 0, sizeof fl);
    assert_int_equal(cap_ndpi_feed(NULL, &fl, b, n, 1.0, name), 1);
    assert_string_equal(name, "Unknown");
    assert_null(fl.nf);
    assert_int_equal(cap_ndpi_giveup(NULL, &fl, name), 0);   /* never fed */
    assert_true(cap_ndpi_flow_size() > 0);      /* 688 with nDPI 4.2 on x86-64 */
}

/* ---- data() returns 1 ------------------------------------------------------------ */

/* After data() returns 1 nothing but flow_end reaches the consumer: not
 * the rest of the packet's bytes, not queued out-of-order bytes, not
 * conflicts, truncation or gaps, not the nDPI verdict. */
static void test_unwanted_stops_everything(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c;
    uint32_t s0;

    (void)st;
    conn_init(&c, 11, 40011, 2525);
    t->r.unwant_after = 1;                      /* the greeting */
    handshake(&t->k, &c);
    /* out-of-order client bytes queued first: they must never come */
    s0 = c.seq[0];
    raw(&t->k, &c, 0, F_PSH | F_ACK, s0 + 6, c.seq[1], "late\r\n", 6);
    assert_int_equal(t->r.data_calls, 0);
    say(&t->k, &c, 1, SMTP_DIALOGUE[0]);        /* data() -> 1 */
    assert_int_equal(t->r.data_calls, 1);
    assert_int_equal(cap_flow_hist_in_use(t->k.ft), 0);
    assert_int_equal(cap_flow_pool_in_use(t->k.ft), 0);
    raw(&t->k, &c, 0, F_PSH | F_ACK, s0, c.seq[1], "EHLO x", 6);   /* fills the hole */
    c.seq[0] = s0 + 12;
    raw(&t->k, &c, 1, F_PSH | F_ACK, c.seq[1] - 5, c.seq[0], "XXXXX", 5); /* conflict */
    raw(&t->k, &c, 1, F_ACK, c.seq[1], c.seq[0] + 5000, NULL, 0);  /* proves a gap */
    for (int i = 3; i < (int)SMTP_N; i++)
        say(&t->k, &c, i % 2 == 0 ? 1 : 0, SMTP_DIALOGUE[i]);
    assert_int_equal(t->r.ends, 0);
    close_both(&t->k, &c);
    assert_int_equal(t->r.after_unwanted, 0);
    assert_int_equal(t->r.data_calls, 1);
    assert_int_equal(t->r.proto_events, 0);
    assert_int_equal(t->r.ends, 1);
    assert_int_equal(t->r.reason[0], CAP_END_FIN);
    assert_string_equal(t->r.log, "Sd1E");
    /* late packets after the end are absorbed */
    raw(&t->k, &c, 1, F_ACK, c.seq[1], c.seq[0], NULL, 0);
    tab_free(t);
    /* (tab_free ends what is left: nothing, so still one flow_end) */
}

/* A 1 in the middle of a packet's bytes: the rest of that delivery round
 * (the queued bytes after it) is not handed over either. */
static void test_unwanted_inside_drain(void **st)
{
    struct tab *t = tab_new(0, SMTP_PORTS, 3);
    struct conn c;
    uint32_t s;

    (void)st;
    conn_init(&c, 12, 40012, 25);
    t->r.unwant_after = 1;
    handshake(&t->k, &c);
    s = c.seq[1];
    raw(&t->k, &c, 1, F_PSH | F_ACK, s + 4, c.seq[0], "b\r\n", 3);      /* queued */
    raw(&t->k, &c, 1, F_PSH | F_ACK, s + 7, c.seq[0], "c\r\n", 3);      /* queued */
    raw(&t->k, &c, 1, F_PSH | F_ACK, s, c.seq[0], "220 ", 4);           /* -> 1 */
    assert_int_equal(t->r.data_calls, 1);
    assert_string_equal(t->r.out[1], "220 ");
    assert_int_equal(cap_flow_pool_in_use(t->k.ft), 0);
    raw(&t->k, &c, 0, F_RST, c.seq[0], 0, NULL, 0);
    assert_int_equal(t->r.ends, 1);
    assert_int_equal(t->r.reason[0], CAP_END_RST);
    assert_int_equal(t->r.after_unwanted, 0);
    tab_free(t);
}

/* An unwanted flow without FIN/RST ends with the capture (EOF), by idle
 * timeout, or by a new SYN on its 4-tuple; flow_end once each time. */
static void test_unwanted_end_reasons(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c, c2, c3;
    uint32_t isn;

    (void)st;
    t->r.unwant_after = 1;
    conn_init(&c, 13, 40013, 8081);
    handshake(&t->k, &c);
    say(&t->k, &c, 0, HTTP_REQ);                /* -> 1 */
    say(&t->k, &c, 1, HTTP_RSP);
    assert_int_equal(t->r.ends, 0);
    /* idle expiry */
    cap_flow_expire(t->k.ft, c.ts + 61.0);
    assert_int_equal(t->r.ends, 1);
    assert_int_equal(t->r.reason[0], CAP_END_TIMEOUT);
    assert_int_equal(cap_flow_count(t->k.ft), 0);

    /* port reuse: new SYN with a new ISN */
    memset(&t->r, 0, sizeof t->r);
    t->r.unwant_after = 1;
    conn_init(&c2, 14, 40014, 8082);
    isn = c2.seq[0];
    handshake(&t->k, &c2);
    say(&t->k, &c2, 0, HTTP_REQ);               /* -> 1 */
    raw(&t->k, &c2, 0, F_SYN, isn, 0, NULL, 0); /* retransmitted SYN: same flow */
    assert_int_equal(t->r.ends, 0);
    c2.seq[0] += 100000;
    t->r.unwant_after = 0;
    t->r.unwanted = 0;
    handshake(&t->k, &c2);                      /* new connection */
    assert_int_equal(t->r.ends, 1);
    assert_int_equal(t->r.reason[0], CAP_END_TIMEOUT);
    assert_int_equal(t->r.starts, 2);
    say(&t->k, &c2, 0, HTTP_REQ);
    assert_int_equal(t->r.data_calls, 2);       /* the new flow delivers */

    /* end of capture */
    conn_init(&c3, 15, 40015, 8083);
    t->r.unwant_after = 3;
    handshake(&t->k, &c3);
    say(&t->k, &c3, 0, HTTP_REQ);               /* -> 1 */
    cap_flow_end_all(t->k.ft, CAP_END_EOF);
    assert_int_equal(t->r.ends, 3);
    assert_int_equal(t->r.reason[1], CAP_END_EOF);
    assert_int_equal(t->r.reason[2], CAP_END_EOF);
    tab_free(t);
}

/* Eviction of an unwanted flow when the table is full: flow_end once. */
static void test_unwanted_evicted(void **st)
{
    struct rec r;
    struct cap_stats cs;
    struct cap_config cfg;
    struct cap_flow_table *ft;
    struct sink k;
    struct conn c;
    int i;

    (void)st;
    memset(&r, 0, sizeof r);
    memset(&cs, 0, sizeof cs);
    memset(&cfg, 0, sizeof cfg);
    memset(&k, 0, sizeof k);
    cfg.all_ports = 1;
    cfg.max_flows = 2;
    ft = cap_flow_table_new(&cfg, &cs, 0);
    assert_non_null(ft);
    cap_flow_set_callbacks(ft, &CBS, &r);
    k.ft = ft;
    r.unwant_after = 1;
    for (i = 0; i < 3; i++) {
        conn_init(&c, (uint8_t)(20 + i), (uint16_t)(41000 + i), 8080);
        handshake(&k, &c);
        say(&k, &c, 0, HTTP_REQ);
    }
    assert_int_equal(r.ends, 1);
    assert_int_equal(cs.evicted, 1);
    cap_flow_end_all(ft, CAP_END_EOF);
    assert_int_equal(r.ends, 3);
    assert_int_equal(cap_flow_hist_in_use(ft), 0);
    cap_flow_table_free(ft);
}

/* ---- lazy history ------------------------------------------------------------------ */

static void test_history_lazy(void **st)
{
    struct tab *t = tab_new(1, SMTP_PORTS, 3);
    struct conn c;
    int i;

    (void)st;
    for (i = 0; i < 200; i++) {                 /* a SYN scan */
        conn_init(&c, (uint8_t)i, (uint16_t)(1000 + i), (uint16_t)(20000 + i));
        raw(&t->k, &c, 0, F_SYN, c.seq[0], 0, NULL, 0);
    }
    assert_int_equal(t->r.starts, 200);
    assert_int_equal(cap_flow_hist_in_use(t->k.ft), 0);
    conn_init(&c, 250, 45000, 2525);
    handshake(&t->k, &c);
    assert_int_equal(cap_flow_hist_in_use(t->k.ft), 0);
    say(&t->k, &c, 1, SMTP_DIALOGUE[0]);
    assert_int_equal(cap_flow_hist_in_use(t->k.ft), 1);
    say(&t->k, &c, 0, SMTP_DIALOGUE[1]);
    assert_int_equal(cap_flow_hist_in_use(t->k.ft), 2);
    /* history still works: a differing retransmission is reported */
    raw(&t->k, &c, 0, F_PSH | F_ACK, c.seq[0] - 4, c.seq[1], "XX\r\n", 4);
    assert_int_equal(t->r.ev[CAP_EV_OVERLAP_CONFLICT], 1);
    close_both(&t->k, &c);
    assert_int_equal(cap_flow_hist_in_use(t->k.ft), 0);
    tab_free(t);
}

/* ---- end to end through a pcap file ------------------------------------------------- */

/* Runs the pcap bytes of k through capture_open_file/capture_run. */
static void run_pcap(struct sink *k, int all_ports, struct rec *r)
{
    const char *path = write_tmp(k->file, k->fn, ".pcap");
    char err[CAP_ERRBUF_SIZE];
    struct cap_config cfg;
    capture_t *cap;

    memset(&cfg, 0, sizeof cfg);
    cfg.ports = SMTP_PORTS;
    cfg.nports = 3;
    cfg.all_ports = all_ports;
    cap = capture_open_file(path, &cfg, err);
    assert_non_null(cap);
    assert_int_equal(capture_run(cap, &CBS, r, err), 0);
    capture_close(cap);
    unlink(path);
}

static void test_file_smtp_and_http(void **st)
{
    struct sink k;
    struct conn a, b;
    static struct rec r;
    int all;

    (void)st;
    for (all = 0; all <= 1; all++) {
        sink_file_init(&k);
        conn_init(&a, 30, 40030, 2525);
        smtp_session(&k, &a);
        conn_init(&b, 31, 40031, 8080);
        http_session(&k, &b);
        memset(&r, 0, sizeof r);
        run_pcap(&k, all, &r);
        free(k.file);
        if (!all) {
            assert_int_equal(r.starts, 0);
            assert_int_equal(r.proto_events, 0);
            continue;
        }
        assert_int_equal(r.starts, 2);
        assert_int_equal(r.ends, 2);
        assert_int_equal(r.proto_events, 2);
        assert_string_equal(r.proto[0], "SMTP");
        assert_string_equal(r.proto[1], "HTTP");
    }
}

/* The HTTP request arrives as two IPv4 fragments: nDPI is given the
 * rebuilt datagram. */
static void test_file_fragmented_request(void **st)
{
    struct sink k;
    struct conn c;
    static struct rec r;
    uint8_t whole[200], frag[200];
    size_t n, first = 24;                        /* TCP header + 4 payload bytes */

    (void)st;
    sink_file_init(&k);
    conn_init(&c, 32, 40032, 8888);
    handshake(&k, &c);
    n = build(whole, &c, 0, F_PSH | F_ACK, c.seq[0], c.seq[1], HTTP_REQ,
              strlen(HTTP_REQ), 777);
    c.seq[0] += (uint32_t)strlen(HTTP_REQ);
    /* fragment 1: offset 0, MF, 24 bytes of the TCP segment */
    memcpy(frag, whole, 20 + first);
    be16(frag + 2, (uint16_t)(20 + first));
    be16(frag + 6, 0x2000);
    c.ts += 0.001;
    sink_ip(&k, frag, 20 + first, c.ts);
    /* fragment 2: offset 24 (3 units), the rest */
    memcpy(frag, whole, 20);
    memcpy(frag + 20, whole + 20 + first, n - 20 - first);
    be16(frag + 2, (uint16_t)(n - first));
    be16(frag + 6, (uint16_t)(first / 8));
    c.ts += 0.001;
    sink_ip(&k, frag, n - first, c.ts);
    say(&k, &c, 1, HTTP_RSP);
    close_both(&k, &c);
    memset(&r, 0, sizeof r);
    run_pcap(&k, 1, &r);
    free(k.file);
    assert_string_equal(r.out[0], HTTP_REQ);
    assert_int_equal(r.proto_events, 1);
    assert_string_equal(r.proto[0], "HTTP");
    /* decided on the request, which only the rebuilt datagram carried */
    assert_string_equal(r.log, "SPd0d1E");
}

/* ---- l3 in the decoder ------------------------------------------------------------- */

static void test_decode_l3_and_rebuild(void **st)
{
    uint8_t b[200], eth[214], rb[CAP_L3_MAX];
    struct cap_pkt pk, pk2;
    struct conn c;
    size_t n, m;

    (void)st;
    conn_init(&c, 40, 40040, 25);
    n = build(b, &c, 0, F_PSH | F_ACK, 1, 1, "EHLO x\r\n", 8, 9);
    memset(eth, 0x02, 12);
    be16(eth + 12, 0x0800);
    memcpy(eth + 14, b, n);
    memset(eth + 14 + n, 0xee, 10);              /* Ethernet padding */
    assert_int_equal(cap_decode(CAP_LINK_ETH, eth, 14 + n + 10, 14 + n + 10, &pk),
                     CAP_DEC_TCP);
    assert_ptr_equal(pk.l3, eth + 14);
    assert_int_equal(pk.l3_len, n);              /* padding not included */
    /* a rebuilt datagram decodes to the same segment */
    m = cap_decode_rebuild_l3(&pk, 6, b + 20, n - 20, rb);
    assert_int_equal(m, n);
    assert_int_equal(cap_decode(CAP_LINK_RAW, rb, m, m, &pk2), CAP_DEC_TCP);
    assert_int_equal(pk2.payload_len, 8);
    assert_memory_equal(pk2.payload, "EHLO x\r\n", 8);
    assert_memory_equal(pk2.src, pk.src, 16);
    assert_int_equal(pk2.dport, 25);
    /* too big for a 16-bit length: not rebuilt */
    assert_int_equal(cap_decode_rebuild_l3(&pk, 6, b, CAP_L3_MAX - 19, rb), 0);
    /* cap_decode_l4 clears l3 */
    assert_int_equal(cap_decode_l4(&pk, 6, b + 20, n - 20), CAP_DEC_TCP);
    assert_null(pk.l3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smtp_2525_all_ports),
        cmocka_unit_test(test_smtp_2525_not_all_ports),
        cmocka_unit_test(test_listed_port_not_classified),
        cmocka_unit_test(test_http_8080),
        cmocka_unit_test(test_ipv6_smtp_and_http),
        cmocka_unit_test(test_undecided_gets_verdict_at_end),
        cmocka_unit_test(test_packet_cap),
        cmocka_unit_test(test_no_payload_no_verdict),
        cmocka_unit_test(test_midstream_classified),
        cmocka_unit_test(test_ndpi_unavailable),
        cmocka_unit_test(test_unwanted_stops_everything),
        cmocka_unit_test(test_unwanted_inside_drain),
        cmocka_unit_test(test_unwanted_end_reasons),
        cmocka_unit_test(test_unwanted_evicted),
        cmocka_unit_test(test_history_lazy),
        cmocka_unit_test(test_file_smtp_and_http),
        cmocka_unit_test(test_file_fragmented_request),
        cmocka_unit_test(test_decode_l3_and_rebuild),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
