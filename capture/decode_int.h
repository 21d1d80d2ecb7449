/*
 * decode_int.h — internal to capture/: one pcap record -> one TCP segment
 * (value struct), plus the bounded IPv4/IPv6 fragment reassembler.
 *
 * Nothing here includes <pcap.h>: pcap_src.c maps the DLT to enum cap_link.
 */
#ifndef MAILTAP_CAPTURE_DECODE_INT_H
#define MAILTAP_CAPTURE_DECODE_INT_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

/* TCP flag bits as on the wire (byte 13 of the TCP header). */
#define CAP_TH_FIN 0x01u
#define CAP_TH_SYN 0x02u
#define CAP_TH_RST 0x04u
#define CAP_TH_PSH 0x08u
#define CAP_TH_ACK 0x10u
#define CAP_TH_URG 0x20u

/* Link layers the decoder understands (pcap_src.c maps DLTs to these). */
enum cap_link {
    CAP_LINK_ETH,               /* DLT_EN10MB, with 802.1Q/802.1ad tags      */
    CAP_LINK_SLL,               /* DLT_LINUX_SLL (16-byte cooked header)     */
    CAP_LINK_SLL2,              /* DLT_LINUX_SLL2 (20-byte cooked header)    */
    CAP_LINK_RAW,               /* DLT_RAW: IPv4 or IPv6 by version nibble   */
    CAP_LINK_IPV4,              /* DLT_IPV4 (LINKTYPE 228)                   */
    CAP_LINK_IPV6,              /* DLT_IPV6 (LINKTYPE 229)                   */
    CAP_LINK_NULL,              /* DLT_NULL / DLT_LOOP: 4-byte AF, any order */
    CAP_LINK_LOOP
};

enum cap_dec {
    CAP_DEC_TCP,                /* out is a TCP segment                      */
    CAP_DEC_FRAG,               /* out->frag describes an IP fragment        */
    CAP_DEC_NONTCP,             /* IP, but not TCP                           */
    CAP_DEC_BAD                 /* not decodable to IP/TCP                   */
};

/* One decoded record.  Pointers borrow the packet buffer (valid while the
 * record is). */
struct cap_pkt {
    uint8_t family;             /* 4 or 6                                    */
    uint8_t src[16], dst[16];   /* IPv4 in the first 4 bytes, rest zero      */
    uint16_t sport, dport;
    uint16_t vlan;              /* innermost VLAN id, 0 if untagged          */
    uint32_t seq, ack;
    uint8_t flags;              /* CAP_TH_*                                  */
    uint16_t win;
    const uint8_t *payload;     /* captured TCP payload                      */
    size_t payload_len;         /* bytes at payload                          */
    size_t payload_missing;     /* payload bytes on the wire, not captured   */
    const uint8_t *l3;          /* the IP header (nDPI wants the datagram);  */
    size_t l3_len;              /* captured bytes of the datagram from l3    */
                                /* (NULL/0 after cap_decode_l4)              */
    struct {                    /* valid when CAP_DEC_FRAG was returned      */
        uint32_t id;            /* IPv4 id (16 bit) or IPv6 id (32 bit)      */
        uint32_t off;           /* byte offset of this fragment              */
        int more;               /* MF bit                                    */
        uint8_t proto;          /* protocol / next header of the datagram    */
        const uint8_t *data;    /* fragment data (borrowed)                  */
        size_t len;             /* captured bytes at data                    */
        size_t missing;         /* bytes of the fragment not captured        */
    } frag;
};

/*
 * Decodes one record of caplen captured bytes (wirelen on the wire) into
 * *out.  Pure: no state, reads only pkt[0 .. caplen).  Returns enum cap_dec.
 */
int cap_decode(enum cap_link link, const uint8_t *pkt, size_t caplen,
               size_t wirelen, struct cap_pkt *out);

/*
 * Decodes a reassembled datagram's upper-layer bytes p[0 .. len) whose
 * protocol (IPv4) or first next-header (IPv6) is proto.  out already holds
 * family, addresses and vlan; the TCP fields are filled, l3 is cleared
 * (the caller may point it at a rebuilt datagram: cap_decode_rebuild_l3).
 * Returns enum cap_dec (never CAP_DEC_FRAG: a nested fragment header is
 * CAP_DEC_BAD).
 */
int cap_decode_l4(struct cap_pkt *out, uint8_t proto, const uint8_t *p,
                  size_t len);

/* Largest datagram handed to nDPI (its length argument is 16 bits). */
#define CAP_L3_MAX 65535u

/*
 * Rebuilds a whole unfragmented datagram from a reassembled one, for nDPI:
 * a plain IPv4 (20 bytes) or IPv6 (40 bytes) header from out's family and
 * addresses, next protocol proto, then p[0 .. len).  Writes into buf
 * (CAP_L3_MAX bytes) and returns the datagram length, or 0 when it would
 * not fit.  Header + payload stay below 64 KiB so the length fields hold.
 */
size_t cap_decode_rebuild_l3(const struct cap_pkt *out, uint8_t proto,
                             const uint8_t *p, size_t len, uint8_t *buf);

/* ---- fragment reassembly (frag.c) ------------------------------------- */

struct cap_frag_table;

/* Allocates an empty table (slots are allocated on first use).  NULL on
 * out of memory. */
struct cap_frag_table *cap_frag_new(void);
/* NULL-safe. */
void cap_frag_free(struct cap_frag_table *t);
/*
 * Adds the fragment described by pk (family, addresses, vlan, frag.*) seen
 * at time ts.  Returns 1 when it completed a datagram: *data / *len are the
 * datagram's upper-layer bytes, owned by the table and valid until the next
 * cap_frag_add / cap_frag_expire / cap_frag_free.  Returns 0 otherwise.
 * Fragments that can not be reassembled are added to *dropped.
 */
int cap_frag_add(struct cap_frag_table *t, const struct cap_pkt *pk,
                 double ts, const uint8_t **data, size_t *len,
                 uint64_t *dropped);
/* Drops datagrams older than CAP_FRAG_TIMEOUT at packet time now. */
void cap_frag_expire(struct cap_frag_table *t, double now, uint64_t *dropped);

#endif
