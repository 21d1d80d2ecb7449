/*
 * test_capture_file.c — capture_open_file / capture_run end to end on small
 * pcap and pcapng files written by hand into /tmp: callbacks, SHA-256
 * (compared with sha256sum), corrupt and truncated files, link types,
 * fragments, snaplen cuts, idle timeout, capture_break.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture/capture.h"
#include "tests/unit/fix_pcap.h"

/* ---- byte buffer ---------------------------------------------------------- */

struct pbuf {
    uint8_t b[65536];
    size_t n;
};

static void pb_put(struct pbuf *p, const void *d, size_t n)
{
    assert_true(p->n + n <= sizeof p->b);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void pb_le16(struct pbuf *p, uint16_t v)
{
    uint8_t b[2];

    le16(b, v);
    pb_put(p, b, 2);
}

static void pb_le32(struct pbuf *p, uint32_t v)
{
    uint8_t b[4];

    le32(b, v);
    pb_put(p, b, 4);
}

static void pcap_header(struct pbuf *p, uint32_t linktype)
{
    uint8_t h[24];

    pcap_file_header(h, linktype);
    pb_put(p, h, sizeof h);
}

static void pcap_record(struct pbuf *p, uint32_t sec, uint32_t usec, const uint8_t *d,
                        size_t caplen, size_t len)
{
    uint8_t h[16];

    pcap_rec_header(h, sec, usec, caplen, len);
    pb_put(p, h, sizeof h);
    pb_put(p, d, caplen);
}

/* ---- packets ------------------------------------------------------------ */

/* IPv4 + TCP between 192.0.2.1:cport (dir 0 = sender) and 192.0.2.2:25. */
static size_t ip_tcp(uint8_t *b, int dir, uint16_t cport, uint8_t flags, uint32_t seq,
                     uint32_t ack, const char *payload)
{
    size_t pl = payload ? strlen(payload) : 0;

    memset(b, 0, 40);
    b[0] = 0x45;
    be16(b + 2, (uint16_t)(40 + pl));
    b[8] = 64;
    b[9] = 6;
    b[12] = 192; b[14] = 2; b[15] = (uint8_t)(dir ? 2 : 1);
    b[16] = 192; b[18] = 2; b[19] = (uint8_t)(dir ? 1 : 2);
    be16(b + 20, dir ? 25 : cport);
    be16(b + 22, dir ? cport : 25);
    be32(b + 24, seq);
    be32(b + 28, ack);
    b[32] = 0x50;
    b[33] = flags;
    be16(b + 34, 65535);
    if (pl)
        memcpy(b + 40, payload, pl);
    return 40 + pl;
}

static size_t eth_tcp(uint8_t *b, int dir, uint16_t cport, uint8_t flags, uint32_t seq,
                      uint32_t ack, const char *payload)
{
    memset(b, 0x02, 12);
    be16(b + 12, 0x0800);
    return 14 + ip_tcp(b + 14, dir, cport, flags, seq, ack, payload);
}

struct pkt {
    int dir;
    uint8_t flags;
    uint32_t seq, ack;
    const char *data;
};

static const struct pkt SESSION[] = {
    { 0, F_SYN, 100, 0, NULL },
    { 1, F_SYN | F_ACK, 500, 101, NULL },
    { 0, F_ACK, 101, 501, NULL },
    { 1, F_PSH | F_ACK, 501, 101, "220 mx\r\n" },
    { 0, F_PSH | F_ACK, 101, 509, "EHLO a\r\n" },
    { 1, F_PSH | F_ACK, 509, 109, "250 ok\r\n" },
    { 0, F_FIN | F_PSH | F_ACK, 109, 517, "QUIT\r\n" },
    { 1, F_FIN | F_PSH | F_ACK, 517, 116, "221 bye\r\n" },
    { 0, F_ACK, 116, 527, NULL },
};
#define NSESSION (sizeof SESSION / sizeof SESSION[0])

/* One whole Ethernet packet (eth_tcp) as a record at sec.usec. */
static void eth_record(struct pbuf *p, uint32_t sec, uint32_t usec, int dir, uint16_t cport,
                       uint8_t flags, uint32_t seq, uint32_t ack, const char *payload)
{
    uint8_t b[200];
    size_t n = eth_tcp(b, dir, cport, flags, seq, ack, payload);

    pcap_record(p, sec, usec, b, n, n);
}

/* Session k of a file (k > 0: of the three-session file): client port
 * 40000 + k, times 1700000000 + 100 k + i. */
static void session_records(struct pbuf *p, int k)
{
    for (size_t i = 0; i < NSESSION; i++)
        eth_record(p, 1700000000u + 100u * (uint32_t)k + (uint32_t)i, 250000, SESSION[i].dir,
                   (uint16_t)(40000 + k), SESSION[i].flags, SESSION[i].seq, SESSION[i].ack,
                   SESSION[i].data);
}

static void session_pcap(struct pbuf *p)
{
    p->n = 0;
    pcap_header(p, 1);
    session_records(p, 0);
}

static void pcapng_block(struct pbuf *p, uint32_t type, const struct pbuf *body)
{
    uint32_t total = 12 + (uint32_t)((body->n + 3) & ~(size_t)3);
    static const uint8_t zero[4];

    pb_le32(p, type);
    pb_le32(p, total);
    pb_put(p, body->b, body->n);
    pb_put(p, zero, ((body->n + 3) & ~(size_t)3) - body->n);
    pb_le32(p, total);
}

static void session_pcapng(struct pbuf *p)
{
    static struct pbuf body;
    size_t i;

    p->n = 0;
    body.n = 0;                                 /* section header */
    pb_le32(&body, 0x1a2b3c4d);
    pb_le16(&body, 1);
    pb_le16(&body, 0);
    pb_le32(&body, 0xffffffff);
    pb_le32(&body, 0xffffffff);
    pcapng_block(p, 0x0a0d0d0a, &body);
    body.n = 0;                                 /* interface: Ethernet, usec */
    pb_le16(&body, 1);
    pb_le16(&body, 0);
    pb_le32(&body, 65535);
    pcapng_block(p, 1, &body);
    for (i = 0; i < NSESSION; i++) {
        uint8_t b[200];
        size_t n = eth_tcp(b, SESSION[i].dir, 40000, SESSION[i].flags, SESSION[i].seq,
                           SESSION[i].ack, SESSION[i].data);
        uint64_t ts = (1700000000ull + i) * 1000000ull + 250000ull;

        body.n = 0;                             /* enhanced packet */
        pb_le32(&body, 0);
        pb_le32(&body, (uint32_t)(ts >> 32));
        pb_le32(&body, (uint32_t)ts);
        pb_le32(&body, (uint32_t)n);
        pb_le32(&body, (uint32_t)n);
        pb_put(&body, b, n);
        pcapng_block(p, 6, &body);
    }
}

/* sha256sum's digest of path. */
static void sha256sum_of(const char *path, char out[65])
{
    char cmd[256];
    FILE *f;

    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(out, 65, f));
    out[64] = '\0';
    pclose(f);
}

/* ---- recorder ------------------------------------------------------------ */

struct rec {
    char out[2][4096];
    size_t len[2];
    int starts, ends, ev[2][4];
    enum cap_end_reason reason[8];
    struct cap_flow_info fi[8];
    int handles[8];
    capture_t *brk_on_data;
};

static void add(struct rec *r, int side, const char *p, size_t n)
{
    assert_true(r->len[side] + n < sizeof r->out[side]);
    memcpy(r->out[side] + r->len[side], p, n);
    r->len[side] += n;
    r->out[side][r->len[side]] = '\0';
}

static void *r_start(void *arg, const struct cap_flow_info *fi)
{
    struct rec *r = arg;

    assert_true(r->starts < 8);
    r->fi[r->starts] = *fi;
    return &r->handles[r->starts++];
}

static int r_data(void *arg, void *flow, int side, const uint8_t *p, size_t len, double ts)
{
    struct rec *r = arg;

    (void)flow;
    (void)ts;
    add(r, side, (const char *)p, len);
    if (r->brk_on_data)
        capture_break(r->brk_on_data);
    return 0;
}

static void r_gap(void *arg, void *flow, int side, uint64_t len, double ts)
{
    struct rec *r = arg;
    char b[64];

    (void)flow;
    (void)ts;
    snprintf(b, sizeof b, "<gap %llu>", (unsigned long long)len);
    add(r, side, b, strlen(b));
}

static void r_event(void *arg, void *flow, int side, enum cap_event ev, double ts,
                    const char *detail)
{
    struct rec *r = arg;

    (void)flow;
    (void)ts;
    (void)detail;
    r->ev[side][ev]++;
}

static void r_end(void *arg, void *flow, enum cap_end_reason why, double ts)
{
    struct rec *r = arg;

    (void)flow;
    (void)ts;
    assert_true(r->ends < 8);
    r->reason[r->ends++] = why;
}

static const struct cap_callbacks CBS = { r_start, r_data, r_gap, r_event, r_end, NULL };
static const uint16_t PORTS[] = { 25, 465, 587 };

static struct cap_config config(void)
{
    struct cap_config c;

    memset(&c, 0, sizeof c);
    c.ports = PORTS;
    c.nports = 3;
    return c;
}

/* Runs path through capture and checks the result code; returns the
 * recorder (static; reset on each call). */
static struct rec *run_file(const char *path, int expect_rc, char *errbuf, capture_t **keep)
{
    static struct rec r;
    struct cap_config cfg = config();
    capture_t *c;

    memset(&r, 0, sizeof r);
    c = capture_open_file(path, &cfg, errbuf);
    assert_non_null(c);
    assert_int_equal(capture_run(c, &CBS, &r, errbuf), expect_rc);
    if (keep)
        *keep = c;
    else
        capture_close(c);
    return &r;
}

static void check_session(const struct rec *r)
{
    assert_int_equal(r->starts, 1);
    assert_int_equal(r->ends, 1);
    assert_int_equal(r->reason[0], CAP_END_FIN);
    assert_int_equal(r->fi[0].client_side, 0);
    assert_int_equal(r->fi[0].side[0].port, 40000);
    assert_true(r->fi[0].ts == 1700000000.25);
    assert_string_equal(r->out[0], "EHLO a\r\nQUIT\r\n");
    assert_string_equal(r->out[1], "220 mx\r\n250 ok\r\n221 bye\r\n");
}

/* ---- tests ------------------------------------------------------------------ */

static void test_pcap_session_sha(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE], want[65];
    const char *path;
    capture_t *c;
    struct rec *r;
    struct cap_stats s;

    (void)st;
    session_pcap(&p);
    path = write_tmp(p.b, p.n, ".pcap");
    r = run_file(path, 0, err, &c);
    check_session(r);
    sha256sum_of(path, want);
    assert_string_equal(capture_sha256(c), want);
    assert_int_equal(capture_file_size(c), p.n);
    capture_stats(c, &s);
    assert_int_equal(s.packets, NSESSION);
    assert_int_equal(s.flows, 1);
    assert_int_equal(s.file_bytes, p.n);
    assert_int_equal(s.undecodable, 0);
    assert_true(s.first_ts == 1700000000.25);
    assert_true(s.last_ts == 1700000000.25 + NSESSION - 1);
    capture_close(c);
    unlink(path);
}

static void test_pcapng_session_sha(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE], want[65];
    const char *path;
    capture_t *c;
    struct rec *r;

    (void)st;
    session_pcapng(&p);
    path = write_tmp(p.b, p.n, ".pcapng");
    r = run_file(path, 0, err, &c);
    check_session(r);
    sha256sum_of(path, want);
    assert_string_equal(capture_sha256(c), want);
    capture_close(c);
    unlink(path);
}

/* A hashing thread started ahead (capture_prehash_start) is taken over by
 * capture_open_file and gives the digest of the file. */
static void test_prehash_taken_over(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE], want[65], got[65];
    struct cap_config cfg = config();
    static struct rec r;
    const char *path;
    cap_prehash_t *ph;
    capture_t *c;
    struct cap_stats s;

    (void)st;
    session_pcap(&p);
    path = write_tmp(p.b, p.n, ".pcap");
    sha256sum_of(path, want);

    /* the digest alone, waited for */
    ph = capture_prehash_start(path);
    assert_non_null(ph);
    assert_int_equal(capture_prehash_digest(ph, got), 0);
    assert_string_equal(got, want);
    capture_prehash_free(ph);

    /* taken over by the capture of the same file */
    memset(&r, 0, sizeof r);
    cfg.prehash = capture_prehash_start(path);
    assert_non_null(cfg.prehash);
    c = capture_open_file(path, &cfg, err);
    assert_non_null(c);
    assert_int_equal(capture_run(c, &CBS, &r, err), 0);
    check_session(&r);
    assert_string_equal(capture_sha256(c), want);
    assert_string_equal(capture_sha256(c), want);   /* asked again: same */
    capture_stats(c, &s);
    assert_int_equal(s.file_bytes, p.n);
    capture_close(c);

    /* with no_hash the thread is stopped, and there is no digest */
    memset(&r, 0, sizeof r);
    cfg.prehash = capture_prehash_start(path);
    cfg.no_hash = 1;
    c = capture_open_file(path, &cfg, err);
    assert_non_null(c);
    assert_int_equal(capture_run(c, &CBS, &r, err), 0);
    assert_string_equal(capture_sha256(c), "");
    capture_close(c);

    /* nothing to hash ahead: stdin, a missing file, an empty one */
    assert_null(capture_prehash_start("-"));
    assert_null(capture_prehash_start("/nonexistent/mailtap.pcap"));
    {
        static struct pbuf e;
        const char *ep = write_tmp(e.b, e.n, ".pcap");

        assert_null(capture_prehash_start(ep));
        unlink(ep);
    }
    capture_prehash_free(NULL);
    assert_int_equal(capture_prehash_digest(NULL, got), -1);
    assert_string_equal(got, "");
    unlink(path);
}

/* The path names another file by the time the capture opens it (renamed
 * over): the thread started ahead hashed the old one and is not used. */
static void test_prehash_file_replaced(void **st)
{
    static struct pbuf p, q;
    char err[CAP_ERRBUF_SIZE], want[65];
    struct cap_config cfg = config();
    static struct rec r;
    const char *path, *other;
    capture_t *c;

    (void)st;
    session_pcap(&p);
    path = write_tmp(p.b, p.n, ".pcap");
    session_pcapng(&q);
    other = write_tmp(q.b, q.n, ".pcapng");
    sha256sum_of(other, want);
    cfg.prehash = capture_prehash_start(path);
    assert_non_null(cfg.prehash);
    assert_int_equal(rename(other, path), 0);
    memset(&r, 0, sizeof r);
    c = capture_open_file(path, &cfg, err);
    assert_non_null(c);
    assert_int_equal(capture_run(c, &CBS, &r, err), 0);
    check_session(&r);
    assert_string_equal(capture_sha256(c), want);
    capture_close(c);

    /* gone by then: the open fails, and the thread is freed with it */
    cfg.prehash = capture_prehash_start(path);
    assert_non_null(cfg.prehash);
    unlink(path);
    assert_null(capture_open_file(path, &cfg, err));
}

static void test_empty_pcap(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE], want[65];
    const char *path;
    capture_t *c;
    struct cap_stats s;

    (void)st;
    p.n = 0;
    pcap_header(&p, 1);
    path = write_tmp(p.b, p.n, ".pcap");
    run_file(path, 0, err, &c);
    capture_stats(c, &s);
    assert_int_equal(s.packets, 0);
    assert_true(s.first_ts == 0 && s.last_ts == 0);
    sha256sum_of(path, want);
    assert_string_equal(capture_sha256(c), want);
    capture_close(c);
    unlink(path);
}

static void test_truncated_mid_record(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE];
    const char *path;
    capture_t *c;
    struct rec *r;

    (void)st;
    session_pcap(&p);
    p.n -= 30;                                  /* cut inside the last record */
    path = write_tmp(p.b, p.n, ".pcap");
    r = run_file(path, 2, err, &c);             /* ends inside a record: 2 */
    assert_true(strlen(err) > 0);
    assert_int_equal(strlen(capture_sha256(c)), 64);  /* the whole file was hashed */
    assert_int_equal(r->starts, 1);
    assert_int_equal(r->ends, 1);               /* the open flow was ended */
    assert_string_equal(r->out[1], "220 mx\r\n250 ok\r\n221 bye\r\n");
    capture_close(c);
    unlink(path);

    p.n = 24 + 7;                               /* cut inside the first record header */
    path = write_tmp(p.b, p.n, ".pcap");
    run_file(path, 2, err, NULL);
    assert_true(strlen(err) > 0);
    unlink(path);
}

static void test_huge_record_length(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE];
    const char *path;

    (void)st;
    p.n = 0;
    pcap_header(&p, 1);
    pb_le32(&p, 1);
    pb_le32(&p, 0);
    pb_le32(&p, 0xe8d4a510u);                   /* 3.9 GB captured, claims the record */
    pb_le32(&p, 0xe8d4a510u);
    pb_put(&p, "junk", 4);
    path = write_tmp(p.b, p.n, ".pcap");
    run_file(path, -1, err, NULL);              /* nothing plausible follows it */
    assert_true(strlen(err) > 0);
    unlink(path);
}

/* A corrupt record header after a session, followed only by bytes that
 * hold no plausible record header: -1 as before, the session was seen. */
static void test_huge_record_no_resync(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE];
    const char *path;
    capture_t *c;
    struct rec *r;
    int i;

    (void)st;
    session_pcap(&p);
    pb_le32(&p, 1700000100u);
    pb_le32(&p, 0);
    pb_le32(&p, 0xfffffff0u);
    pb_le32(&p, 0xfffffff0u);
    for (i = 0; i < 1000; i++)
        pb_le32(&p, 0xdeadbeefu);
    path = write_tmp(p.b, p.n, ".pcap");
    r = run_file(path, -1, err, &c);
    assert_non_null(strstr(err, "length"));
    assert_int_equal(capture_skipped_bytes(c), 0);
    check_session(r);
    capture_close(c);
    unlink(path);
}

/* A corrupt record header (libpcap: "invalid packet capture length") in
 * the middle of a regular pcap file: what follows it is still analysed. */
static void test_resync_after_corrupt_record(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE], want[65];
    const char *path;
    capture_t *c;
    struct rec *r;
    struct cap_stats s;
    size_t mid, len4;
    int k;

    (void)st;
    p.n = 0;
    pcap_header(&p, 1);
    session_records(&p, 1);
    mid = p.n;
    session_records(&p, 2);
    /* Find the middle record (index 4: "EHLO a") of session 2. */
    for (k = 0; k < 4; k++) {
        uint32_t cl = (uint32_t)p.b[mid + 8] | (uint32_t)p.b[mid + 9] << 8;

        mid += 16 + cl;
    }
    len4 = (size_t)p.b[mid + 8] | (size_t)p.b[mid + 9] << 8;
    p.b[mid + 8] = 0x10; p.b[mid + 9] = 0xa5; p.b[mid + 10] = 0xd4; p.b[mid + 11] = 0xe8;
    session_records(&p, 3);
    path = write_tmp(p.b, p.n, ".pcap");
    r = run_file(path, 0, err, &c);
    assert_string_equal(err, "");
    assert_int_equal(capture_skipped_bytes(c), 16 + len4);
    assert_int_equal(r->starts, 3);
    assert_int_equal(r->ends, 3);
    assert_int_equal(r->fi[2].side[0].port, 40003);
    assert_int_equal(r->reason[0], CAP_END_FIN);
    assert_int_equal(r->reason[2], CAP_END_FIN);   /* session 3 complete */
    assert_string_equal(r->out[0], "EHLO a\r\nQUIT\r\n<gap 8>QUIT\r\nEHLO a\r\nQUIT\r\n");
    assert_string_equal(r->out[1], "220 mx\r\n250 ok\r\n221 bye\r\n"
                                   "220 mx\r\n250 ok\r\n221 bye\r\n"
                                   "220 mx\r\n250 ok\r\n221 bye\r\n");
    capture_stats(c, &s);
    assert_int_equal(s.packets, 3 * NSESSION - 1);
    assert_int_equal(s.file_bytes, p.n);
    sha256sum_of(path, want);
    assert_string_equal(capture_sha256(c), want);  /* skipped bytes hashed too */
    capture_close(c);
    unlink(path);
}

/* The same, with the corrupt record followed by 600 KB of zeros (more
 * than stdio's buffer): the skipped bytes are read back for the hash. */
static void test_resync_far(void **st)
{
    static struct pbuf p;
    static uint8_t zeros[600 * 1024];
    char err[CAP_ERRBUF_SIZE], want[65];
    const char *path;
    capture_t *c;
    struct rec *r;
    FILE *f;

    (void)st;
    p.n = 0;
    pcap_header(&p, 1);
    session_records(&p, 1);
    pb_le32(&p, 1700000150u);
    pb_le32(&p, 0);
    pb_le32(&p, 0xe8d4a510u);
    pb_le32(&p, 0xe8d4a510u);
    path = write_tmp(p.b, p.n, ".pcap");
    p.n = 0;
    session_records(&p, 3);
    f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
    assert_int_equal(fwrite(p.b, 1, p.n, f), p.n);
    assert_int_equal(fclose(f), 0);
    r = run_file(path, 0, err, &c);
    assert_int_equal(capture_skipped_bytes(c), 16 + sizeof zeros);
    assert_int_equal(r->starts, 2);
    assert_int_equal(r->ends, 2);
    assert_int_equal(r->reason[1], CAP_END_FIN);
    sha256sum_of(path, want);
    assert_string_equal(capture_sha256(c), want);
    capture_close(c);
    unlink(path);
}

static void test_open_errors(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE];
    struct cap_config cfg = config();
    const char *path;

    (void)st;
    assert_null(capture_open_file("/nonexistent/dir/x.pcap", &cfg, err));
    assert_non_null(strstr(err, "/nonexistent/dir/x.pcap"));
    p.n = 0;
    pb_put(&p, "this is not a capture file at all\n", 34);
    path = write_tmp(p.b, p.n, ".txt");
    assert_null(capture_open_file(path, &cfg, err));
    assert_true(strlen(err) > 0);
    unlink(path);
    p.n = 0;
    pcap_header(&p, 105);                       /* 802.11: not supported */
    path = write_tmp(p.b, p.n, ".pcap");
    assert_null(capture_open_file(path, &cfg, err));
    assert_non_null(strstr(err, "unsupported link type"));
    unlink(path);
}

static void test_stdin(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE], want[65];
    struct cap_config cfg = config();
    const char *path;
    capture_t *c;
    int fd, saved;
    static struct rec r;

    (void)st;
    session_pcap(&p);
    path = write_tmp(p.b, p.n, ".pcap");
    sha256sum_of(path, want);
    saved = dup(0);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0 && saved >= 0);
    assert_int_equal(dup2(fd, 0), 0);
    close(fd);
    memset(&r, 0, sizeof r);
    c = capture_open_file("-", &cfg, err);
    assert_non_null(c);
    assert_int_equal(capture_run(c, &CBS, &r, err), 0);
    check_session(&r);
    assert_string_equal(capture_sha256(c), want);
    capture_close(c);
    dup2(saved, 0);
    close(saved);
    unlink(path);
}

static void test_break(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE];
    struct cap_config cfg = config();
    const char *path;
    capture_t *c;
    static struct rec r;

    (void)st;
    session_pcap(&p);
    path = write_tmp(p.b, p.n, ".pcap");
    memset(&r, 0, sizeof r);
    c = capture_open_file(path, &cfg, err);
    assert_non_null(c);
    r.brk_on_data = c;
    assert_int_equal(capture_run(c, &CBS, &r, err), 1);
    assert_int_equal(r.ends, 1);
    assert_int_equal(r.reason[0], CAP_END_EOF);
    assert_string_equal(r.out[1], "220 mx\r\n");    /* stopped after that record */
    assert_string_equal(capture_sha256(c), "");
    capture_close(c);
    unlink(path);
}

static void test_link_types(void **st)
{
    static const uint32_t lts[] = { 101, 228, 0, 113, 276 };
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE];
    size_t i;

    (void)st;
    for (i = 0; i < sizeof lts / sizeof lts[0]; i++) {
        uint8_t b[200];
        size_t n = 0;
        const char *path;
        struct rec *r;

        memset(b, 0, sizeof b);
        if (lts[i] == 0) {
            b[0] = 2;                           /* AF_INET, little-endian */
            n = 4;
        } else if (lts[i] == 113) {
            be16(b + 14, 0x0800);
            n = 16;
        } else if (lts[i] == 276) {
            be16(b, 0x0800);
            n = 20;
        }
        n += ip_tcp(b + n, 1, 40000, F_PSH | F_ACK, 77, 88, "250 ok\r\n");
        p.n = 0;
        pcap_header(&p, lts[i]);
        pcap_record(&p, 5, 0, b, n, n);
        path = write_tmp(p.b, p.n, ".pcap");
        r = run_file(path, 0, err, NULL);
        assert_int_equal(r->starts, 1);
        assert_int_equal(r->fi[0].client_side, -1);
        assert_int_equal(r->ev[1][CAP_EV_MIDSTREAM], 1);
        assert_string_equal(r->out[1], "250 ok\r\n");
        assert_int_equal(r->reason[0], CAP_END_EOF);
        unlink(path);
    }
}

static void test_fragmented_segment(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE];
    uint8_t seg[200], b[200];
    const char *path;
    struct rec *r;
    capture_t *c;
    struct cap_stats s;
    size_t sl, off;

    (void)st;
    /* one TCP segment (SYN then data) split into IPv4 fragments of 16 bytes */
    sl = ip_tcp(seg, 0, 40001, F_SYN, 10, 0, NULL);
    p.n = 0;
    pcap_header(&p, 228);
    pcap_record(&p, 1, 0, seg, sl, sl);
    sl = ip_tcp(seg, 0, 40001, F_PSH | F_ACK, 11, 1, "MAIL FROM:<fragmented@example>\r\n");
    for (off = 20; off < sl; off += 16) {
        size_t len = sl - off > 16 ? 16 : sl - off;
        int more = off + len < sl;

        memcpy(b, seg, 20);
        be16(b + 2, (uint16_t)(20 + len));
        be16(b + 4, 999);
        be16(b + 6, (uint16_t)((more ? 0x2000 : 0) | ((off - 20) / 8)));
        memcpy(b + 20, seg + off, len);
        pcap_record(&p, 2, 0, b, 20 + len, 20 + len);
    }
    path = write_tmp(p.b, p.n, ".pcap");
    r = run_file(path, 0, err, &c);
    assert_string_equal(r->out[0], "MAIL FROM:<fragmented@example>\r\n");
    capture_stats(c, &s);
    assert_int_equal(s.frag_dropped, 0);
    capture_close(c);
    unlink(path);
}

static void test_snaplen_cut(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE];
    uint8_t b[200];
    const char *path;
    struct rec *r;
    capture_t *c;
    struct cap_stats s;
    size_t n;

    (void)st;
    p.n = 0;
    pcap_header(&p, 1);
    eth_record(&p, 1, 0, 0, 40002, F_SYN, 10, 0, NULL);
    n = eth_tcp(b, 0, 40002, F_PSH | F_ACK, 11, 1, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    pcap_record(&p, 2, 0, b, 14 + 40 + 4, n);   /* snaplen: 4 payload bytes kept */
    eth_record(&p, 3, 0, 0, 40002, F_PSH | F_ACK, 11 + 33, 1, "QUIT\r\n");
    path = write_tmp(p.b, p.n, ".pcap");
    r = run_file(path, 0, err, &c);
    assert_string_equal(r->out[0], "AUTH<gap 29>QUIT\r\n");
    assert_int_equal(r->ev[0][CAP_EV_TRUNCATED], 1);
    capture_stats(c, &s);
    assert_int_equal(s.truncated, 1);
    capture_close(c);
    unlink(path);
}

static void test_idle_timeout_by_packet_time(void **st)
{
    static struct pbuf p;
    char err[CAP_ERRBUF_SIZE];
    const char *path;
    struct cap_config cfg = config();
    capture_t *c;
    static struct rec r;

    (void)st;
    p.n = 0;
    pcap_header(&p, 1);
    eth_record(&p, 100, 0, 0, 40003, F_SYN, 10, 0, NULL);
    eth_record(&p, 200, 0, 0, 40004, F_SYN, 10, 0, NULL);       /* 100 s later */
    eth_record(&p, 201, 0, 0, 40004, F_ACK, 11, 1, "x");
    path = write_tmp(p.b, p.n, ".pcap");
    cfg.idle_timeout = 30;
    memset(&r, 0, sizeof r);
    c = capture_open_file(path, &cfg, err);
    assert_non_null(c);
    assert_int_equal(capture_run(c, &CBS, &r, err), 0);
    assert_int_equal(r.ends, 2);
    assert_int_equal(r.reason[0], CAP_END_TIMEOUT);
    assert_int_equal(r.reason[1], CAP_END_EOF);
    capture_close(c);
    unlink(path);
}

static void test_addr_str_and_version(void **st)
{
    struct cap_endpoint e;
    char buf[46];

    (void)st;
    memset(&e, 0, sizeof e);
    e.family = 4;
    e.addr[0] = 192; e.addr[1] = 0; e.addr[2] = 2; e.addr[3] = 33;
    cap_addr_str(&e, buf, sizeof buf);
    assert_string_equal(buf, "192.0.2.33");
    memset(&e, 0, sizeof e);
    e.family = 6;
    e.addr[0] = 0x20; e.addr[1] = 0x01; e.addr[2] = 0x0d; e.addr[3] = 0xb8; e.addr[15] = 1;
    cap_addr_str(&e, buf, sizeof buf);
    assert_string_equal(buf, "2001:db8::1");
    e.addr[10] = 0xff; e.addr[11] = 0xff; memset(e.addr, 0, 10);
    e.addr[12] = 10; e.addr[13] = 1; e.addr[14] = 2; e.addr[15] = 3;
    cap_addr_str(&e, buf, sizeof buf);
    assert_string_equal(buf, "::ffff:10.1.2.3");
    e.family = 0;
    cap_addr_str(&e, buf, sizeof buf);
    assert_string_equal(buf, "");
    assert_non_null(strstr(capture_lib_version(), "libpcap"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcap_session_sha),
        cmocka_unit_test(test_pcapng_session_sha),
        cmocka_unit_test(test_prehash_taken_over),
        cmocka_unit_test(test_prehash_file_replaced),
        cmocka_unit_test(test_empty_pcap),
        cmocka_unit_test(test_truncated_mid_record),
        cmocka_unit_test(test_huge_record_length),
        cmocka_unit_test(test_huge_record_no_resync),
        cmocka_unit_test(test_resync_after_corrupt_record),
        cmocka_unit_test(test_resync_far),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_stdin),
        cmocka_unit_test(test_break),
        cmocka_unit_test(test_link_types),
        cmocka_unit_test(test_fragmented_segment),
        cmocka_unit_test(test_snaplen_cut),
        cmocka_unit_test(test_idle_timeout_by_packet_time),
        cmocka_unit_test(test_addr_str_and_version),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
