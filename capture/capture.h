/*
 * capture.h — packets in, ordered bytes and gaps per direction out.
 *
 * The only module that sees packets (only capture/ includes <pcap.h>).  It
 * decodes link layer to TCP, keeps a bounded flow table, reassembles each
 * direction with 64-bit relative offsets and hands the consumer:
 *   flow_start -> data / gap / event ... -> flow_end
 * In-order payload is handed straight from the packet buffer (no copy);
 * pointers are borrowed for the call only.
 *
 * With cfg->all_ports, flows on ports not in cfg->ports are classified by
 * nDPI from their first packets (only until it decides) and the verdict is
 * reported once as CAP_EV_PROTOCOL.  The consumer may stop the bytes of any
 * flow by returning 1 from data().
 */
#ifndef MAILTAP_CAPTURE_H
#define MAILTAP_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct cap_endpoint {
    uint8_t family;             /* 4 or 6                                    */
    uint8_t addr[16];           /* IPv4 in the first 4 bytes                 */
    uint16_t port;
};

struct cap_flow_info {
    struct cap_endpoint side[2]; /* side 0 = SYN sender if seen, else guess  */
    uint16_t vlan;              /* innermost VLAN id, 0 if untagged          */
    int client_side;            /* 0/1 when known from SYN or SYN/ACK, -1    */
    int syn_seen;               /* the connection's start was captured       */
    double ts;                  /* time of the first packet                  */
};

/* CAP_END_EVICTED: ended because the flow table was full; the connection
 * was still open and its later packets are not analysed. */
enum cap_end_reason { CAP_END_FIN, CAP_END_RST, CAP_END_TIMEOUT, CAP_END_EOF, CAP_END_EVICTED };

enum cap_event {
    CAP_EV_OVERLAP_CONFLICT,    /* a retransmission carried different bytes  */
    CAP_EV_TRUNCATED,           /* snaplen cut this direction's payload      */
    CAP_EV_MIDSTREAM,           /* first packet of the flow was not a SYN    */
    /* What nDPI says the flow is.  Only with cfg->all_ports, only for flows
     * where neither port is in cfg->ports, at most once per flow, before
     * any data/gap/event caused by the packet that decided it.  detail =
     * the name as ndpi_protocol2name gives it: "SMTP", "SMTPS", "TLS",
     * "HTTP", "TLS.Google", ..., or "Unknown" (nDPI gave up after
     * CAP_NDPI_MAX_PACKETS packets with payload, see capture/ndpi_int.h,
     * or nDPI is unavailable).  A flow that ends undecided gets it just
     * before flow_end (nDPI's guess); a flow that carried no payload, or
     * whose data() returned 1 first, never gets it.  side = the sender of
     * the deciding packet. */
    CAP_EV_PROTOCOL
};

/* Which flows are wanted.  A flow is tracked when either port is in ports[]
 * or all_ports is set; the consumer may still refuse it in flow_start. */
struct cap_config {
    const uint16_t *ports;
    size_t nports;
    int all_ports;
    size_t max_flows;           /* 0 = CAP_MAX_FLOWS_DEFAULT                 */
    double idle_timeout;        /* 0 = CAP_IDLE_TIMEOUT_DEFAULT              */
    size_t buffer_bytes;        /* live: kernel buffer, 0 = 32 MiB           */
    int no_hash;                /* 1: the caller hashed the file already;
                                   capture_sha256() then stays ""          */
    /* File input: a hashing thread from capture_prehash_start (or NULL).
     * capture_open_file always takes it over: it goes on hashing when it
     * hashes the same file (device and inode) and no_hash is 0, and is
     * stopped and freed otherwise, on failure too. */
    struct cap_prehash *prehash;
};

/* SHA-256 of a regular file on a second thread, started before the
 * capture is opened so that the hashing overlaps whatever the caller does
 * first (opening the database, looking the file up).  NULL when path is
 * "-", not a regular file, empty, unreadable, or no thread could be
 * started: the caller then simply goes on without one. */
typedef struct cap_prehash cap_prehash_t;
cap_prehash_t *capture_prehash_start(const char *path);
/* Waits for the whole file to be hashed and writes the digest (64 hex
 * digits) into out.  0, or -1 (the file changed or shrank while it was
 * read, or a read error): out is then "". */
int capture_prehash_digest(cap_prehash_t *ph, char out[65]);
/* Stops the thread (if still running) and frees ph.  NULL is fine. */
void capture_prehash_free(cap_prehash_t *ph);

struct cap_callbacks {
    /* Returns the consumer's handle for the flow, or NULL to ignore it (its
     * packets are then skipped cheaply until the flow ends). */
    void *(*flow_start)(void *arg, const struct cap_flow_info *fi);
    /* In-order bytes of one side.  Returns 0 to keep receiving the flow, or
     * 1 when the consumer wants no more of its bytes: capture then stops
     * reassembling both directions (queued bytes and history are released,
     * later packets are not copied or compared) but keeps following the
     * connection, so that flow_end still comes exactly once at its end.
     * After a 1, no data, gap or event of that flow is called again (not
     * even for bytes of the same packet): only flow_end. */
    int (*data)(void *arg, void *flow, int side, const uint8_t *p, size_t len, double ts);
    void (*gap)(void *arg, void *flow, int side, uint64_t len, double ts);
    /* detail: short NUL-terminated text made by capture/ (may be NULL). */
    void (*event)(void *arg, void *flow, int side, enum cap_event ev, double ts,
                  const char *detail);
    /* Last call for the flow; the handle is not used afterwards. */
    void (*flow_end)(void *arg, void *flow, enum cap_end_reason r, double ts);
    /* Live capture only, may be NULL: called when no packet arrived for the
     * read timeout (about 0.5 s), so periodic work (commits, status line,
     * log reopening) goes on on a silent link. */
    void (*tick)(void *arg);
};

struct cap_stats {
    uint64_t packets;           /* records read                               */
    uint64_t bytes;             /* sum of original packet lengths             */
    double first_ts, last_ts;   /* packet time (0 if no packet)               */
    uint64_t truncated;         /* records with caplen < len                  */
    uint64_t undecodable;       /* records not decodable to IP/TCP            */
    uint64_t non_tcp;           /* IP but not TCP                             */
    uint64_t flows;             /* flows handed to flow_start                 */
    uint64_t evicted;           /* flows ended early because the table was full */
    uint64_t evicted_packets;   /* later packets of evicted flows, absorbed by
                                   their tombstones (not analysed)          */
    uint64_t evicted_bytes;     /* TCP payload bytes in those packets        */
    uint64_t frag_dropped;      /* IPv4 fragments that could not be reassembled */
    uint64_t dropped;           /* live: dropped by the kernel (pcap_stats)   */
    uint64_t ifdropped;         /* live: dropped by the interface             */
    uint64_t file_bytes;        /* bytes of the file read so far              */
};

typedef struct capture capture_t;

/*
 * Opens a pcap or pcapng file ("-" = stdin) for reading.  The file's bytes
 * are SHA-256-hashed as libpcap reads them (see capture_sha256).  Returns
 * NULL and fills errbuf (CAP_ERRBUF_SIZE) on failure.
 */
capture_t *capture_open_file(const char *path, const struct cap_config *cfg,
                             char *errbuf);
/* Live capture (issue: live capture).  bpf may be NULL for the default. */
capture_t *capture_open_live(const char *ifname, const char *bpf,
                             const struct cap_config *cfg, char *errbuf);

/*
 * Reads packets until the end of the file (or capture_break), calling cb.
 * At the end of a file every open flow is ended with CAP_END_EOF.  Returns
 * 0 at the end of input, 1 when interrupted by capture_break (open flows
 * are ended with CAP_END_EOF too), 2 when the file ends in the middle of
 * a record (as when tcpdump is killed: everything before it was analysed,
 * errbuf says what libpcap saw, the SHA-256 covers the whole file), -1 on
 * a read error or a corrupt record (errbuf says why; open flows are ended
 * too, so nothing is lost).  In a regular pcap file a corrupt record
 * header is skipped when a plausible record follows it (see
 * capture_skipped_bytes); only when none does is it -1.
 */
int capture_run(capture_t *c, const struct cap_callbacks *cb, void *arg,
                char *errbuf);
/* Safe to call from a signal handler. */
void capture_break(capture_t *c);
void capture_stats(const capture_t *c, struct cap_stats *out);
/* Lower-case hex SHA-256 of every byte read from the file, valid after
 * capture_run returned 0 or 2 (the whole file was read); "" otherwise, and
 * always "" with cfg.no_hash.  The first call after the run may wait for
 * the hashing thread: work that does not need the digest (committing what
 * was found) is best done before it. */
const char *capture_sha256(capture_t *c);
/* Size of the file if known (regular file), else 0. */
uint64_t capture_file_size(const capture_t *c);
/* Bytes of a regular pcap file that capture_run skipped over corrupt
 * record headers (a record header libpcap refused, e.g. a huge caplen,
 * before the end of the file): reading went on from the next plausible
 * record header, found at most 64 MiB further, and the flows carried on,
 * the lost bytes becoming gaps.  0 if none was skipped (always 0 for
 * pcapng files and stdin, which stop at a corrupt record as before). */
uint64_t capture_skipped_bytes(const capture_t *c);
/* NULL-safe. */
void capture_close(capture_t *c);

/* Formats an endpoint address canonically (IPv4 dotted, IPv6 RFC 5952).
 * buf must hold 46 bytes. */
void cap_addr_str(const struct cap_endpoint *e, char *buf, size_t bufsz);

/* Versions of the libraries capture/ runs with (for --version). */
const char *capture_lib_version(void);

#endif
