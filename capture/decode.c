/*
 * decode.c — link layer to TCP for one record, as a pure function.
 *
 * Every read goes through the bounds-checked helpers below; a header that
 * claims more than was captured is rejected (or, for a record cut by the
 * snaplen, its missing tail is reported in payload_missing).  Ethernet
 * padding never becomes payload: the IP total length bounds the datagram.
 */
#include "capture/decode_int.h"

#include <string.h>

#define ETH_IPV4   0x0800u
#define ETH_IPV6   0x86ddu
#define ETH_8021Q  0x8100u
#define ETH_8021AD 0x88a8u
#define ETH_QINQ   0x9100u

#define IPP_HOPOPTS  0u
#define IPP_TCP      6u
#define IPP_ROUTING  43u
#define IPP_FRAGMENT 44u
#define IPP_AH       51u
#define IPP_DSTOPTS  60u

/* Bounded views of the record: (p, len) plus the bytes of the same unit
 * that were on the wire but not captured. */
struct span_in {
    const uint8_t *p;
    size_t len;
    size_t missing;
};

/* True when n bytes can be read at off (overflow-safe). */
static int have(size_t len, size_t off, size_t n)
{
    return off <= len && n <= len - off;
}

/* Reads a byte at off into *v; -1 when out of bounds. */
static int rd8(const uint8_t *p, size_t len, size_t off, uint8_t *v)
{
    if (!have(len, off, 1))
        return -1;
    *v = p[off];
    return 0;
}

/* Reads a big-endian 16-bit field at off; -1 when out of bounds. */
static int rd16(const uint8_t *p, size_t len, size_t off, uint16_t *v)
{
    if (!have(len, off, 2))
        return -1;
    *v = (uint16_t)((unsigned)p[off] << 8 | p[off + 1]);
    return 0;
}

/* Reads a big-endian 32-bit field at off; -1 when out of bounds. */
static int rd32(const uint8_t *p, size_t len, size_t off, uint32_t *v)
{
    if (!have(len, off, 4))
        return -1;
    *v = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 |
         (uint32_t)p[off + 2] << 8 | (uint32_t)p[off + 3];
    return 0;
}

/* Decodes a TCP header + payload from s (the datagram's upper-layer part). */
static int dec_tcp(struct span_in s, struct cap_pkt *out)
{
    uint8_t off_b, flags;
    size_t doff;

    if (rd16(s.p, s.len, 0, &out->sport) || rd16(s.p, s.len, 2, &out->dport) ||
        rd32(s.p, s.len, 4, &out->seq) || rd32(s.p, s.len, 8, &out->ack) ||
        rd8(s.p, s.len, 12, &off_b) || rd8(s.p, s.len, 13, &flags) ||
        rd16(s.p, s.len, 14, &out->win))
        return CAP_DEC_BAD;
    doff = (size_t)(off_b >> 4) * 4u;
    if (doff < 20 || !have(s.len, 0, doff))
        return CAP_DEC_BAD;             /* bogus or cut inside the header */
    out->flags = flags;
    out->payload = s.p + doff;
    out->payload_len = s.len - doff;
    out->payload_missing = s.missing;
    if (out->payload_len == 0 && out->payload_missing == 0)
        out->payload = NULL;
    return CAP_DEC_TCP;
}

/* Length of the IPv6 extension header nh at s.p[0], or 0 when malformed. */
static size_t ext6_len(uint8_t nh, struct span_in s)
{
    uint8_t l;

    if (rd8(s.p, s.len, 1, &l))
        return 0;
    if (nh == IPP_AH)
        return ((size_t)l + 2u) * 4u;
    if (nh == IPP_FRAGMENT)
        return 8;
    return ((size_t)l + 1u) * 8u;
}

/*
 * Walks IPv6 extension headers starting with next header nh over s, then
 * decodes TCP.  A fragment header makes it fill out->frag and return
 * CAP_DEC_FRAG, unless allow_frag is 0 (already reassembled).
 */
static int walk6(uint8_t nh, struct span_in s, int allow_frag, struct cap_pkt *out)
{
    unsigned n;

    for (n = 0; n <= CAP_MAX_IPV6_EXT; n++) {
        size_t el;
        uint8_t next;

        if (nh == IPP_TCP)
            return dec_tcp(s, out);
        if (nh != IPP_HOPOPTS && nh != IPP_ROUTING && nh != IPP_FRAGMENT &&
            nh != IPP_AH && nh != IPP_DSTOPTS)
            return CAP_DEC_NONTCP;      /* ESP, no-next-header, UDP, ... */
        if (n == CAP_MAX_IPV6_EXT)
            break;
        el = ext6_len(nh, s);
        if (el == 0 || !have(s.len, 0, el) || rd8(s.p, s.len, 0, &next))
            return CAP_DEC_BAD;
        if (nh == IPP_FRAGMENT) {
            uint16_t offm;
            uint32_t id;

            if (rd16(s.p, s.len, 2, &offm) || rd32(s.p, s.len, 4, &id))
                return CAP_DEC_BAD;
            if ((offm & 0xfff8u) != 0 || (offm & 1u) != 0) {
                if (!allow_frag)
                    return CAP_DEC_BAD;
                if (next != IPP_TCP && next != IPP_ROUTING &&
                    next != IPP_AH && next != IPP_DSTOPTS)
                    return CAP_DEC_NONTCP;  /* fragmented UDP, ESP, ... */
                out->frag.id = id;
                out->frag.off = offm & 0xfff8u;
                out->frag.more = offm & 1u;
                out->frag.proto = next;
                out->frag.data = s.p + el;
                out->frag.len = s.len - el;
                out->frag.missing = s.missing;
                return CAP_DEC_FRAG;
            }
            /* atomic fragment (offset 0, no more): just skip it */
        }
        s.p += el;
        s.len -= el;
        nh = next;
    }
    return CAP_DEC_BAD;                 /* too many extension headers */
}

/*
 * Bounds the datagram: avail captured bytes starting at the IP header,
 * declared total length tot (0 = unknown, as with TSO/jumbograms), and the
 * record's missing tail.  Sets *cap (captured bytes of the datagram) and
 * *miss.  Returns -1 when the header claims bytes that were neither
 * captured nor cut by the snaplen (a host would drop such a packet).
 */
static int bound_dgram(size_t avail, size_t tot, size_t rec_missing,
                       size_t *cap, size_t *miss)
{
    if (tot == 0) {
        *cap = avail;
        *miss = rec_missing;
        return 0;
    }
    if (tot <= avail) {                 /* trailing bytes = link padding */
        *cap = tot;
        *miss = 0;
        return 0;
    }
    if (rec_missing == 0)
        return -1;
    *cap = avail;
    *miss = tot - avail;
    if (*miss > rec_missing)
        *miss = rec_missing;
    return 0;
}

/* Decodes an IPv4 datagram at s. */
static int dec_ip4(struct span_in s, struct cap_pkt *out)
{
    uint8_t vihl, proto;
    uint16_t tot, offm, id;
    size_t ihl, cap, miss;
    struct span_in l4;

    if (rd8(s.p, s.len, 0, &vihl) || rd16(s.p, s.len, 2, &tot) ||
        rd16(s.p, s.len, 4, &id) || rd16(s.p, s.len, 6, &offm) ||
        rd8(s.p, s.len, 9, &proto) || !have(s.len, 12, 8))
        return CAP_DEC_BAD;
    if ((vihl >> 4) != 4)
        return CAP_DEC_BAD;
    ihl = (size_t)(vihl & 0x0fu) * 4u;
    if (ihl < 20 || !have(s.len, 0, ihl))
        return CAP_DEC_BAD;
    if (tot != 0 && tot < ihl)
        return CAP_DEC_BAD;
    if (bound_dgram(s.len, tot, s.missing, &cap, &miss))
        return CAP_DEC_BAD;
    out->family = 4;
    out->l3 = s.p;
    out->l3_len = cap;
    memset(out->src, 0, sizeof out->src);
    memset(out->dst, 0, sizeof out->dst);
    memcpy(out->src, s.p + 12, 4);
    memcpy(out->dst, s.p + 16, 4);
    l4.p = s.p + ihl;
    l4.len = cap - ihl;
    l4.missing = miss;
    if ((offm & 0x3fffu) != 0) {        /* MF set or offset != 0 */
        out->frag.id = id;
        out->frag.off = (uint32_t)(offm & 0x1fffu) * 8u;
        out->frag.more = (offm & 0x2000u) != 0;
        out->frag.proto = proto;
        out->frag.data = l4.p;
        out->frag.len = l4.len;
        out->frag.missing = l4.missing;
        return proto == IPP_TCP ? CAP_DEC_FRAG : CAP_DEC_NONTCP;
    }
    if (proto != IPP_TCP)
        return CAP_DEC_NONTCP;
    return dec_tcp(l4, out);
}

/* Decodes an IPv6 datagram at s. */
static int dec_ip6(struct span_in s, struct cap_pkt *out)
{
    uint8_t v, nh;
    uint16_t plen;
    size_t cap, miss;
    struct span_in l4;

    if (rd8(s.p, s.len, 0, &v) || rd16(s.p, s.len, 4, &plen) ||
        rd8(s.p, s.len, 6, &nh) || !have(s.len, 0, 40))
        return CAP_DEC_BAD;
    if ((v >> 4) != 6)
        return CAP_DEC_BAD;
    if (bound_dgram(s.len, plen ? (size_t)plen + 40u : 0, s.missing, &cap, &miss))
        return CAP_DEC_BAD;
    out->family = 6;
    out->l3 = s.p;
    out->l3_len = cap;
    memcpy(out->src, s.p + 8, 16);
    memcpy(out->dst, s.p + 24, 16);
    l4.p = s.p + 40;
    l4.len = cap - 40;
    l4.missing = miss;
    return walk6(nh, l4, 1, out);
}

/* Dispatches on an ethertype, first walking VLAN tags (up to
 * CAP_MAX_VLAN_TAGS; the innermost id is kept). */
static int dec_ether(uint16_t type, struct span_in s, struct cap_pkt *out)
{
    int tags = 0;

    while (type == ETH_8021Q || type == ETH_8021AD || type == ETH_QINQ) {
        uint16_t tci;

        if (tags == CAP_MAX_VLAN_TAGS)
            return CAP_DEC_BAD;
        if (rd16(s.p, s.len, 0, &tci) || rd16(s.p, s.len, 2, &type))
            return CAP_DEC_BAD;
        out->vlan = tci & 0x0fffu;
        s.p += 4;
        s.len -= 4;
        tags++;
    }
    if (type == ETH_IPV4)
        return dec_ip4(s, out);
    if (type == ETH_IPV6)
        return dec_ip6(s, out);
    return CAP_DEC_BAD;                 /* ARP, LLC, ...: not IP */
}

/* Dispatches on the IP version nibble (raw IP link types). */
static int dec_ip_any(struct span_in s, struct cap_pkt *out)
{
    uint8_t v;

    if (rd8(s.p, s.len, 0, &v))
        return CAP_DEC_BAD;
    if ((v >> 4) == 4)
        return dec_ip4(s, out);
    if ((v >> 4) == 6)
        return dec_ip6(s, out);
    return CAP_DEC_BAD;
}

/* Reads the 4-byte address family of DLT_NULL / DLT_LOOP in either byte
 * order (the writer's host order, or network order). */
static int dec_null(struct span_in s, struct cap_pkt *out)
{
    uint32_t be, le;

    if (rd32(s.p, s.len, 0, &be))
        return CAP_DEC_BAD;
    le = (be >> 24) | ((be >> 8) & 0xff00u) | ((be << 8) & 0xff0000u) | (be << 24);
    s.p += 4;
    s.len -= 4;
    if (be == 2 || le == 2)
        return dec_ip4(s, out);
    /* AF_INET6: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS */
    if (be == 10 || be == 24 || be == 28 || be == 30 ||
        le == 10 || le == 24 || le == 28 || le == 30)
        return dec_ip6(s, out);
    return CAP_DEC_BAD;
}

int cap_decode(enum cap_link link, const uint8_t *pkt, size_t caplen,
               size_t wirelen, struct cap_pkt *out)
{
    struct span_in s;
    uint16_t type;

    memset(out, 0, sizeof *out);
    if (pkt == NULL)
        return CAP_DEC_BAD;
    s.p = pkt;
    s.len = caplen;
    s.missing = wirelen > caplen ? wirelen - caplen : 0;
    switch (link) {
    case CAP_LINK_ETH:
        if (rd16(s.p, s.len, 12, &type))
            return CAP_DEC_BAD;
        s.p += 14;
        s.len -= 14;
        return dec_ether(type, s, out);
    case CAP_LINK_SLL:
        if (rd16(s.p, s.len, 14, &type))
            return CAP_DEC_BAD;
        s.p += 16;
        s.len -= 16;
        return dec_ether(type, s, out);
    case CAP_LINK_SLL2:
        if (rd16(s.p, s.len, 0, &type) || !have(s.len, 0, 20))
            return CAP_DEC_BAD;
        s.p += 20;
        s.len -= 20;
        return dec_ether(type, s, out);
    case CAP_LINK_RAW:
        return dec_ip_any(s, out);
    case CAP_LINK_IPV4:
        return dec_ip4(s, out);
    case CAP_LINK_IPV6:
        return dec_ip6(s, out);
    case CAP_LINK_NULL:
    case CAP_LINK_LOOP:
        return dec_null(s, out);
    }
    return CAP_DEC_BAD;
}

int cap_decode_l4(struct cap_pkt *out, uint8_t proto, const uint8_t *p,
                  size_t len)
{
    struct span_in s;

    s.p = p;
    s.len = p ? len : 0;
    s.missing = 0;
    out->l3 = NULL;
    out->l3_len = 0;
    if (out->family == 6)
        return walk6(proto, s, 0, out);
    if (proto != IPP_TCP)
        return CAP_DEC_NONTCP;
    return dec_tcp(s, out);
}

size_t cap_decode_rebuild_l3(const struct cap_pkt *out, uint8_t proto,
                             const uint8_t *p, size_t len, uint8_t *buf)
{
    size_t hl = out->family == 6 ? 40u : 20u;

    if (p == NULL || len > CAP_L3_MAX - hl || (out->family != 4 && out->family != 6))
        return 0;
    memset(buf, 0, hl);
    if (out->family == 4) {
        buf[0] = 0x45;
        buf[2] = (uint8_t)((hl + len) >> 8);
        buf[3] = (uint8_t)(hl + len);
        buf[8] = 64;
        buf[9] = proto;
        memcpy(buf + 12, out->src, 4);
        memcpy(buf + 16, out->dst, 4);
    } else {
        buf[0] = 0x60;
        buf[4] = (uint8_t)(len >> 8);
        buf[5] = (uint8_t)len;
        buf[6] = proto;
        buf[7] = 64;
        memcpy(buf + 8, out->src, 16);
        memcpy(buf + 24, out->dst, 16);
    }
    memcpy(buf + hl, p, len);
    return hl + len;
}
