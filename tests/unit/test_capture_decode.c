/*
 * test_capture_decode.c — capture/decode.c and capture/frag.c.
 *
 * Packets are built in memory; malformed ones are decoded from a copy that
 * ends right at a PROT_NONE page, so any read past the captured bytes
 * faults instead of passing silently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture/decode_int.h"

/* ---- guard page --------------------------------------------------------- */

struct guarded {
    uint8_t *base;
    size_t total;
    const uint8_t *p;
};

/* Copies len bytes so that they end exactly at an inaccessible page. */
static struct guarded guard_copy(const uint8_t *src, size_t len)
{
    struct guarded g;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (len + pg - 1) / pg;

    if (data_pages == 0)
        data_pages = 1;
    g.total = (data_pages + 1) * pg;
    g.base = mmap(NULL, g.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g.base != MAP_FAILED);
    assert_int_equal(mprotect(g.base + data_pages * pg, pg, PROT_NONE), 0);
    g.p = g.base + data_pages * pg - len;
    if (len)
        memcpy(g.base + data_pages * pg - len, src, len);
    return g;
}

static void guard_free(struct guarded *g)
{
    munmap(g->base, g->total);
}

/* ---- packet builders ------------------------------------------------------ */

static size_t put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
    return 2;
}

static size_t put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
    return 4;
}

/* TCP header (doff words, options zero) + payload. */
static size_t mk_tcp(uint8_t *b, uint16_t sp, uint16_t dp, uint32_t seq, uint32_t ack,
                     uint8_t flags, unsigned doff, const char *payload)
{
    size_t hl = doff * 4u, pl = payload ? strlen(payload) : 0;

    memset(b, 0, hl < 20 ? 20 : hl);
    put16(b, sp);
    put16(b + 2, dp);
    put32(b + 4, seq);
    put32(b + 8, ack);
    b[12] = (uint8_t)(doff << 4);
    b[13] = flags;
    put16(b + 14, 65535);
    if (hl < 20)
        hl = 20;
    if (pl)
        memcpy(b + hl, payload, pl);
    return hl + pl;
}

/* IPv4 header (ihl words) for a datagram carrying l4len bytes. */
static size_t mk_ip4(uint8_t *b, unsigned ihl, uint8_t proto, size_t l4len, uint16_t id,
                     uint16_t offm)
{
    size_t hl = ihl * 4u;

    memset(b, 0, hl < 20 ? 20 : hl);
    b[0] = (uint8_t)(0x40 | (ihl & 15));
    put16(b + 2, (uint16_t)((hl < 20 ? 20 : hl) + l4len));
    put16(b + 4, id);
    put16(b + 6, offm);
    b[8] = 64;
    b[9] = proto;
    b[12] = 192; b[13] = 0; b[14] = 2; b[15] = 1;
    b[16] = 192; b[17] = 0; b[18] = 2; b[19] = 2;
    return hl < 20 ? 20 : hl;
}

/* IPv4 + TCP with payload at b. */
static size_t mk_v4tcp(uint8_t *b, const char *payload)
{
    uint8_t tcp[2000];
    size_t tl = mk_tcp(tcp, 40000, 25, 1000, 2000, CAP_TH_ACK | CAP_TH_PSH, 5, payload);
    size_t il = mk_ip4(b, 5, 6, tl, 1, 0x4000);

    memcpy(b + il, tcp, tl);
    return il + tl;
}

/* IPv6 header with next header nh for plen payload bytes. */
static size_t mk_ip6(uint8_t *b, uint8_t nh, size_t plen)
{
    memset(b, 0, 40);
    b[0] = 0x60;
    put16(b + 4, (uint16_t)plen);
    b[6] = nh;
    b[7] = 64;
    b[8] = 0x20; b[9] = 0x01; b[10] = 0x0d; b[11] = 0xb8; b[23] = 1;
    b[24] = 0x20; b[25] = 0x01; b[26] = 0x0d; b[27] = 0xb8; b[39] = 2;
    return 40;
}

/* IPv6 + TCP with payload at b. */
static size_t mk_v6tcp(uint8_t *b, const char *payload)
{
    size_t tl = mk_tcp(b + 40, 40000, 587, 7, 8, CAP_TH_ACK, 5, payload);

    mk_ip6(b, 6, tl);
    return 40 + tl;
}

static size_t mk_eth(uint8_t *b, uint16_t type)
{
    memset(b, 0xaa, 12);
    put16(b + 12, type);
    return 14;
}

static void expect_payload(const struct cap_pkt *pk, const char *payload)
{
    size_t n = strlen(payload);

    assert_int_equal(pk->payload_len, n);
    assert_int_equal(pk->payload_missing, 0);
    assert_memory_equal(pk->payload, payload, n);
}

/* ---- link layers ------------------------------------------------------- */

static void test_ethernet_ipv4(void **st)
{
    uint8_t b[256];
    size_t n;
    struct cap_pkt pk;

    (void)st;
    n = mk_eth(b, 0x0800);
    n += mk_v4tcp(b + n, "220 hi\r\n");
    memset(b + n, 0, 6);                        /* Ethernet padding: not payload */
    n += 6;
    assert_int_equal(cap_decode(CAP_LINK_ETH, b, n, n, &pk), CAP_DEC_TCP);
    assert_int_equal(pk.family, 4);
    assert_int_equal(pk.sport, 40000);
    assert_int_equal(pk.dport, 25);
    assert_int_equal(pk.seq, 1000);
    assert_int_equal(pk.ack, 2000);
    assert_int_equal(pk.flags, CAP_TH_ACK | CAP_TH_PSH);
    assert_int_equal(pk.win, 65535);
    assert_int_equal(pk.vlan, 0);
    assert_int_equal(pk.src[3], 1);
    assert_int_equal(pk.dst[3], 2);
    assert_int_equal(pk.src[4], 0);
    expect_payload(&pk, "220 hi\r\n");
}

static void test_vlan_and_qinq(void **st)
{
    uint8_t b[256];
    size_t n;
    struct cap_pkt pk;
    int i;

    (void)st;
    n = mk_eth(b, 0x8100);
    n += put16(b + n, 0x2000 | 100);            /* PCP 1, VLAN 100 */
    n += put16(b + n, 0x0800);
    n += mk_v4tcp(b + n, "x");
    assert_int_equal(cap_decode(CAP_LINK_ETH, b, n, n, &pk), CAP_DEC_TCP);
    assert_int_equal(pk.vlan, 100);
    expect_payload(&pk, "x");

    n = mk_eth(b, 0x88a8);                      /* 802.1ad outer, 802.1Q inner */
    n += put16(b + n, 7);
    n += put16(b + n, 0x8100);
    n += put16(b + n, 300);
    n += put16(b + n, 0x86dd);
    n += mk_v6tcp(b + n, "yz");
    assert_int_equal(cap_decode(CAP_LINK_ETH, b, n, n, &pk), CAP_DEC_TCP);
    assert_int_equal(pk.vlan, 300);             /* innermost */
    assert_int_equal(pk.family, 6);
    expect_payload(&pk, "yz");

    n = mk_eth(b, 0x8100);                      /* one tag too many */
    for (i = 0; i < CAP_MAX_VLAN_TAGS; i++) {
        n += put16(b + n, 5);
        n += put16(b + n, 0x8100);
    }
    n += put16(b + n, 5);
    n += put16(b + n, 0x0800);
    n += mk_v4tcp(b + n, "x");
    assert_int_equal(cap_decode(CAP_LINK_ETH, b, n, n, &pk), CAP_DEC_BAD);

    n = mk_eth(b, 0x0806);                      /* ARP */
    memset(b + n, 0, 28);
    n += 28;
    assert_int_equal(cap_decode(CAP_LINK_ETH, b, n, n, &pk), CAP_DEC_BAD);
}

static void test_sll_and_sll2(void **st)
{
    uint8_t b[256];
    size_t n;
    struct cap_pkt pk;

    (void)st;
    memset(b, 0, 16);
    put16(b + 14, 0x0800);
    n = 16 + mk_v4tcp(b + 16, "sll");
    assert_int_equal(cap_decode(CAP_LINK_SLL, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "sll");

    memset(b, 0, 20);
    put16(b, 0x86dd);
    n = 20 + mk_v6tcp(b + 20, "sll2");
    assert_int_equal(cap_decode(CAP_LINK_SLL2, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "sll2");
    assert_int_equal(pk.dport, 587);
    assert_int_equal(cap_decode(CAP_LINK_SLL2, b, 19, 19, &pk), CAP_DEC_BAD);
}

static void test_null_loop_both_orders(void **st)
{
    static const uint32_t af6[] = { 10, 24, 28, 30 };
    uint8_t b[256];
    size_t n, i;
    struct cap_pkt pk;

    (void)st;
    put32(b, 2);                                /* network order AF_INET */
    n = 4 + mk_v4tcp(b + 4, "be");
    assert_int_equal(cap_decode(CAP_LINK_LOOP, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "be");
    b[0] = 2; b[1] = 0; b[2] = 0; b[3] = 0;     /* little-endian host order */
    assert_int_equal(cap_decode(CAP_LINK_NULL, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "be");
    for (i = 0; i < 4; i++) {
        n = 4 + mk_v6tcp(b + 4, "six");
        put32(b, af6[i]);
        assert_int_equal(cap_decode(CAP_LINK_NULL, b, n, n, &pk), CAP_DEC_TCP);
        assert_int_equal(pk.family, 6);
        b[0] = (uint8_t)af6[i]; b[1] = 0; b[2] = 0; b[3] = 0;
        assert_int_equal(cap_decode(CAP_LINK_NULL, b, n, n, &pk), CAP_DEC_TCP);
        expect_payload(&pk, "six");
    }
    put32(b, 17);                               /* unknown family */
    assert_int_equal(cap_decode(CAP_LINK_NULL, b, n, n, &pk), CAP_DEC_BAD);
}

static void test_raw_ip(void **st)
{
    uint8_t b[256];
    size_t n;
    struct cap_pkt pk;

    (void)st;
    n = mk_v4tcp(b, "raw4");
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "raw4");
    assert_int_equal(cap_decode(CAP_LINK_IPV4, b, n, n, &pk), CAP_DEC_TCP);
    assert_int_equal(cap_decode(CAP_LINK_IPV6, b, n, n, &pk), CAP_DEC_BAD);
    n = mk_v6tcp(b, "raw6");
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "raw6");
    assert_int_equal(pk.src[0], 0x20);
    assert_int_equal(pk.src[15], 1);
    assert_int_equal(pk.dst[15], 2);
    assert_int_equal(cap_decode(CAP_LINK_IPV6, b, n, n, &pk), CAP_DEC_TCP);
    assert_int_equal(cap_decode(CAP_LINK_IPV4, b, n, n, &pk), CAP_DEC_BAD);
    b[0] = 0x50;
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_BAD);
}

static void test_ipv6_extension_headers(void **st)
{
    uint8_t b[512];
    size_t n, tl;
    struct cap_pkt pk;
    int i;

    (void)st;
    /* hop-by-hop (8) -> routing (16) -> dest opts (8) -> AH (12) -> TCP */
    n = 40;
    b[n] = 43; b[n + 1] = 0; memset(b + n + 2, 0, 6); n += 8;
    b[n] = 60; b[n + 1] = 1; memset(b + n + 2, 0, 14); n += 16;
    b[n] = 51; b[n + 1] = 0; memset(b + n + 2, 0, 6); n += 8;
    b[n] = 6; b[n + 1] = 1; memset(b + n + 2, 0, 10); n += 12;
    tl = mk_tcp(b + n, 1, 25, 3, 4, CAP_TH_ACK, 5, "ext");
    mk_ip6(b, 0, n - 40 + tl);
    n += tl;
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "ext");

    /* too many extension headers */
    n = 40;
    for (i = 0; i < CAP_MAX_IPV6_EXT + 1; i++) {
        b[n] = 60; b[n + 1] = 0; memset(b + n + 2, 0, 6); n += 8;
    }
    b[n - 8] = 6;
    tl = mk_tcp(b + n, 1, 25, 3, 4, CAP_TH_ACK, 5, "x");
    mk_ip6(b, 60, n - 40 + tl);
    n += tl;
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_BAD);

    /* extension header longer than the packet */
    n = 40;
    b[n] = 6; b[n + 1] = 200; memset(b + n + 2, 0, 6); n += 8;
    mk_ip6(b, 60, 8);
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_BAD);

    /* ESP and UDP: IP but not TCP */
    n = mk_ip6(b, 50, 16);
    memset(b + n, 0, 16);
    n += 16;
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_NONTCP);
    b[6] = 17;
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_NONTCP);

    /* fragment header: first fragment of a TCP datagram */
    n = 40;
    b[n] = 6; b[n + 1] = 0; put16(b + n + 2, 0 | 1); put32(b + n + 4, 0xdeadbeef); n += 8;
    memset(b + n, 'F', 16);
    n += 16;
    mk_ip6(b, 44, n - 40);
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_FRAG);
    assert_int_equal(pk.frag.id, 0xdeadbeef);
    assert_int_equal(pk.frag.off, 0);
    assert_int_equal(pk.frag.more, 1);
    assert_int_equal(pk.frag.proto, 6);
    assert_int_equal(pk.frag.len, 16);
    /* atomic fragment (offset 0, M=0) is skipped like any other header */
    n = 40;
    b[n] = 6; b[n + 1] = 0; put16(b + n + 2, 0); put32(b + n + 4, 1); n += 8;
    n += mk_tcp(b + n, 1, 25, 3, 4, CAP_TH_ACK, 5, "atomic");
    mk_ip6(b, 44, n - 40);
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "atomic");
}

static void test_ipv4_options_and_nontcp(void **st)
{
    uint8_t b[256];
    size_t n, tl;
    struct cap_pkt pk;

    (void)st;
    tl = mk_tcp(b + 24, 1, 25, 1, 1, CAP_TH_ACK, 8, "opt");   /* 12 bytes of TCP options */
    mk_ip4(b, 6, 6, tl, 1, 0);                                 /* 4 bytes of IP options */
    n = 24 + tl;
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "opt");

    n = mk_ip4(b, 5, 17, 8, 1, 0);              /* UDP */
    memset(b + n, 0, 8);
    n += 8;
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_NONTCP);
}

/* ---- malformed ------------------------------------------------------------ */

static void test_malformed_headers(void **st)
{
    uint8_t b[256];
    size_t n;
    struct cap_pkt pk;
    struct guarded g;

    (void)st;
    n = mk_v4tcp(b, "abc");
    b[0] = 0x44;                                /* IHL 4 (< 5) */
    g = guard_copy(b, n);
    assert_int_equal(cap_decode(CAP_LINK_RAW, g.p, n, n, &pk), CAP_DEC_BAD);
    guard_free(&g);

    n = mk_v4tcp(b, "abc");
    b[0] = 0x4f;                                /* IHL 15: 60 bytes > packet */
    g = guard_copy(b, 40);
    assert_int_equal(cap_decode(CAP_LINK_RAW, g.p, 40, 40, &pk), CAP_DEC_BAD);
    guard_free(&g);

    n = mk_v4tcp(b, "abc");
    b[20 + 12] = 0x40;                          /* data offset 4 (< 5) */
    g = guard_copy(b, n);
    assert_int_equal(cap_decode(CAP_LINK_RAW, g.p, n, n, &pk), CAP_DEC_BAD);
    guard_free(&g);

    n = mk_v4tcp(b, "abc");
    b[20 + 12] = 0xf0;                          /* data offset 15: beyond the segment */
    g = guard_copy(b, n);
    assert_int_equal(cap_decode(CAP_LINK_RAW, g.p, n, n, &pk), CAP_DEC_BAD);
    guard_free(&g);

    n = mk_v4tcp(b, "abc");
    put16(b + 2, 200);                          /* total length > captured, not cut */
    g = guard_copy(b, n);
    assert_int_equal(cap_decode(CAP_LINK_RAW, g.p, n, n, &pk), CAP_DEC_BAD);
    guard_free(&g);

    n = mk_v4tcp(b, "abc");
    put16(b + 2, 10);                           /* total length < header */
    g = guard_copy(b, n);
    assert_int_equal(cap_decode(CAP_LINK_RAW, g.p, n, n, &pk), CAP_DEC_BAD);
    guard_free(&g);

    n = mk_v6tcp(b, "abc");
    put16(b + 4, 500);                          /* IPv6 payload length > captured */
    g = guard_copy(b, n);
    assert_int_equal(cap_decode(CAP_LINK_RAW, g.p, n, n, &pk), CAP_DEC_BAD);
    guard_free(&g);

    assert_int_equal(cap_decode(CAP_LINK_ETH, NULL, 0, 0, &pk), CAP_DEC_BAD);
}

static void test_total_length_zero_tso(void **st)
{
    uint8_t b[256];
    size_t n;
    struct cap_pkt pk;

    (void)st;
    n = mk_v4tcp(b, "tso payload");
    put16(b + 2, 0);                            /* TSO: length not filled in */
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_TCP);
    expect_payload(&pk, "tso payload");
}

/* Every prefix of valid packets, each ending at a guard page: never reads
 * out of bounds; a cut inside the payload is reported as missing bytes. */
static void test_every_prefix(void **st)
{
    static const char payload[] = "EHLO client.example\r\n";
    size_t pl = strlen(payload);
    uint8_t pkts[3][256];
    size_t lens[3], hdrs[3];
    enum cap_link links[3] = { CAP_LINK_ETH, CAP_LINK_SLL2, CAP_LINK_NULL };
    int k;

    (void)st;
    lens[0] = mk_eth(pkts[0], 0x8100);
    lens[0] += put16(pkts[0] + lens[0], 42);
    lens[0] += put16(pkts[0] + lens[0], 0x0800);
    hdrs[0] = lens[0] + 40;
    lens[0] += mk_v4tcp(pkts[0] + lens[0], payload);
    memset(pkts[1], 0, 20);
    put16(pkts[1], 0x86dd);
    hdrs[1] = 20 + 60;
    lens[1] = 20 + mk_v6tcp(pkts[1] + 20, payload);
    put32(pkts[2], 30);
    hdrs[2] = 4 + 60;
    lens[2] = 4 + mk_v6tcp(pkts[2] + 4, payload);
    for (k = 0; k < 3; k++) {
        size_t cut;

        for (cut = 0; cut <= lens[k]; cut++) {
            struct guarded g = guard_copy(pkts[k], cut);
            struct cap_pkt pk;
            int r = cap_decode(links[k], g.p, cut, lens[k], &pk);

            if (cut < hdrs[k]) {
                assert_int_equal(r, CAP_DEC_BAD);
            } else {
                assert_int_equal(r, CAP_DEC_TCP);
                assert_int_equal(pk.payload_len, cut - hdrs[k]);
                assert_int_equal(pk.payload_len + pk.payload_missing, pl);
                if (pk.payload_len)
                    assert_memory_equal(pk.payload, payload, pk.payload_len);
            }
            guard_free(&g);
        }
    }
}

/* Random bytes after valid link headers: any result, but no fault. */
static void test_random_garbage(void **st)
{
    uint32_t s = 99;
    int i;

    (void)st;
    for (i = 0; i < 20000; i++) {
        uint8_t b[128];
        size_t n, j;
        struct guarded g;
        struct cap_pkt pk;
        int r;

        s = s * 1103515245u + 12345u;
        n = (s >> 8) % sizeof b;
        for (j = 0; j < n; j++) {
            s = s * 1103515245u + 12345u;
            b[j] = (uint8_t)(s >> 16);
        }
        if (n > 0 && (i & 1))
            b[0] = (uint8_t)((b[0] & 0x0f) | (i & 2 ? 0x40 : 0x60));
        g = guard_copy(b, n);
        r = cap_decode((enum cap_link)(i % 8), g.p, n, n + (i % 3), &pk);
        if (r == CAP_DEC_TCP && pk.payload_len) {
            assert_true(pk.payload >= g.p);
            assert_true(pk.payload + pk.payload_len <= g.p + n);
        }
        if (r == CAP_DEC_FRAG && pk.frag.len) {
            assert_true(pk.frag.data >= g.p);
            assert_true(pk.frag.data + pk.frag.len <= g.p + n);
        }
        guard_free(&g);
    }
}

/* ---- fragments ---------------------------------------------------------- */

/* Builds IPv4 fragment [off, off+len) of the TCP segment seg into b. */
static size_t mk_frag4(uint8_t *b, const uint8_t *seg, size_t off, size_t len, int more,
                       uint16_t id)
{
    size_t il = mk_ip4(b, 5, 6, len, id, (uint16_t)((more ? 0x2000 : 0) | (off / 8)));

    memcpy(b + il, seg + off, len);
    return il + len;
}

static void test_ipv4_fragments(void **st)
{
    uint8_t seg[200], b[300];
    size_t sl = mk_tcp(seg, 40000, 25, 1, 2, CAP_TH_ACK,
                       5, "MAIL FROM:<someone@example.org>\r\nRCPT TO:<x@y>\r\n");
    struct cap_frag_table *t = cap_frag_new();
    struct cap_pkt pk;
    const uint8_t *dg;
    size_t dl, n;
    uint64_t dropped = 0;

    (void)st;
    assert_non_null(t);
    /* three fragments, last first, with an overlapping copy that differs */
    n = mk_frag4(b, seg, 48, sl - 48, 0, 77);
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_FRAG);
    assert_int_equal(cap_frag_add(t, &pk, 1.0, &dg, &dl, &dropped), 0);
    n = mk_frag4(b, seg, 0, 24, 1, 77);
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_FRAG);
    assert_int_equal(cap_frag_add(t, &pk, 1.1, &dg, &dl, &dropped), 0);
    n = mk_frag4(b, seg, 16, 32, 1, 77);
    memset(b + 20, 'Z', 8);                     /* overlaps [16,24): first copy wins */
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_FRAG);
    assert_int_equal(cap_frag_add(t, &pk, 1.2, &dg, &dl, &dropped), 1);
    assert_int_equal(dl, sl);
    assert_memory_equal(dg, seg, sl);
    assert_int_equal(cap_decode_l4(&pk, 6, dg, dl), CAP_DEC_TCP);
    expect_payload(&pk, "MAIL FROM:<someone@example.org>\r\nRCPT TO:<x@y>\r\n");
    assert_int_equal(dropped, 0);

    /* a lone fragment times out */
    n = mk_frag4(b, seg, 0, 24, 1, 78);
    cap_decode(CAP_LINK_RAW, b, n, n, &pk);
    assert_int_equal(cap_frag_add(t, &pk, 5.0, &dg, &dl, &dropped), 0);
    cap_frag_expire(t, 5.0 + CAP_FRAG_TIMEOUT / 2, &dropped);
    assert_int_equal(dropped, 0);
    cap_frag_expire(t, 5.0 + CAP_FRAG_TIMEOUT + 1, &dropped);
    assert_int_equal(dropped, 1);

    /* inconsistent: two different last fragments */
    n = mk_frag4(b, seg, 48, sl - 48, 0, 79);
    cap_decode(CAP_LINK_RAW, b, n, n, &pk);
    cap_frag_add(t, &pk, 6.0, &dg, &dl, &dropped);
    n = mk_frag4(b, seg, 40, 8, 0, 79);
    cap_decode(CAP_LINK_RAW, b, n, n, &pk);
    assert_int_equal(cap_frag_add(t, &pk, 6.1, &dg, &dl, &dropped), 0);
    assert_int_equal(dropped, 3);

    /* a cut fragment can not be reassembled */
    n = mk_frag4(b, seg, 0, 24, 1, 80);
    cap_decode(CAP_LINK_RAW, b, n - 4, n, &pk);
    assert_int_equal(pk.frag.missing, 4);
    assert_int_equal(cap_frag_add(t, &pk, 7.0, &dg, &dl, &dropped), 0);
    assert_int_equal(dropped, 4);

    /* non-TCP fragments are not reassembled */
    n = mk_ip4(b, 5, 17, 16, 81, 0x2000);
    memset(b + n, 0, 16);
    assert_int_equal(cap_decode(CAP_LINK_RAW, b, n + 16, n + 16, &pk), CAP_DEC_NONTCP);
    cap_frag_free(t);
}

static void test_fragment_table_full(void **st)
{
    uint8_t seg[64], b[128];
    size_t sl = mk_tcp(seg, 1, 25, 1, 2, CAP_TH_ACK, 5, "0123456789abcdef0123456789");
    struct cap_frag_table *t = cap_frag_new();
    struct cap_pkt pk;
    const uint8_t *dg;
    size_t dl, n;
    uint64_t dropped = 0;
    uint32_t i;

    (void)st;
    for (i = 0; i < CAP_FRAG_MAX_DATAGRAMS + 5; i++) {
        n = mk_frag4(b, seg, 0, 16, 1, (uint16_t)i);
        cap_decode(CAP_LINK_RAW, b, n, n, &pk);
        assert_int_equal(cap_frag_add(t, &pk, 1.0 + i * 0.001, &dg, &dl, &dropped), 0);
    }
    assert_int_equal(dropped, 5);               /* the oldest ones made room */
    n = mk_frag4(b, seg, 16, sl - 16, 0, (uint16_t)(CAP_FRAG_MAX_DATAGRAMS + 4));
    cap_decode(CAP_LINK_RAW, b, n, n, &pk);
    assert_int_equal(cap_frag_add(t, &pk, 3.0, &dg, &dl, &dropped), 1);
    assert_memory_equal(dg, seg, sl);
    cap_frag_free(t);
}

static void test_ipv6_fragments(void **st)
{
    uint8_t seg[128], b[256];
    size_t sl = mk_tcp(seg, 40000, 587, 10, 20, CAP_TH_ACK, 5, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    struct cap_frag_table *t = cap_frag_new();
    struct cap_pkt pk;
    const uint8_t *dg = NULL;
    size_t dl = 0, n, off;
    uint64_t dropped = 0;
    int done = 0;

    (void)st;
    for (off = 0; off < sl; off += 16) {
        size_t len = sl - off > 16 ? 16 : sl - off;
        int more = off + len < sl;

        n = 40;
        b[n] = 6; b[n + 1] = 0;
        put16(b + n + 2, (uint16_t)(off | (more ? 1 : 0)));
        put32(b + n + 4, 4242);
        n += 8;
        memcpy(b + n, seg + off, len);
        n += len;
        mk_ip6(b, 44, n - 40);
        assert_int_equal(cap_decode(CAP_LINK_RAW, b, n, n, &pk), CAP_DEC_FRAG);
        done = cap_frag_add(t, &pk, 1.0, &dg, &dl, &dropped);
        assert_int_equal(done, !more);
    }
    assert_int_equal(cap_decode_l4(&pk, pk.frag.proto, dg, dl), CAP_DEC_TCP);
    expect_payload(&pk, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert_int_equal(pk.family, 6);
    assert_int_equal(pk.dport, 587);
    cap_frag_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethernet_ipv4),
        cmocka_unit_test(test_vlan_and_qinq),
        cmocka_unit_test(test_sll_and_sll2),
        cmocka_unit_test(test_null_loop_both_orders),
        cmocka_unit_test(test_raw_ip),
        cmocka_unit_test(test_ipv6_extension_headers),
        cmocka_unit_test(test_ipv4_options_and_nontcp),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_total_length_zero_tso),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_ipv4_fragments),
        cmocka_unit_test(test_fragment_table_full),
        cmocka_unit_test(test_ipv6_fragments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
