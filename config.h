/*
 * config.h — every limit that bounds what a capture can make mailtap do.
 *
 * Each attacker-controlled quantity has a name here and a defined overflow
 * behaviour (documented beside it).  Modules include this file; nothing else
 * defines a limit.
 */
#ifndef MAILTAP_CONFIG_H
#define MAILTAP_CONFIG_H

#define MAILTAP_VERSION "0.1.0"

/* ---- capture/ --------------------------------------------------------- */
/* Flows tracked at once (holding dissector and reassembly state).  Past it
 * the least recently active flow is ended (evicted, stored as timeout),
 * never dropped silently; its entry stays as a tombstone (below) that
 * absorbs the connection's later packets (counted, not analysed), so it is
 * stored at most once (not at all when it had carried no byte yet).  A flow
 * carrying data costs about 10 KiB (dissector state, reassembly history),
 * so the default keeps the flow state under about 170 MiB; with the
 * reassembly pool, fragments and SQLite's cache mailtap stays under 300 MiB
 * whatever the capture holds. */
#define CAP_MAX_FLOWS_DEFAULT      16384u
/* Tombstones: entries without dissector or reassembly state (connections
 * evicted, ended by FIN/RST, or refused), kept to absorb their late packets
 * until a new SYN reuses the 4-tuple or they are idle.  At most
 * CAP_TOMBSTONES_PER_FLOW per flow of the limit above, and never more than
 * CAP_TOMBSTONES_MAX (about 112 bytes each: 7 MiB by default, 28 MiB at
 * most).  Past it the least recently active tombstone is removed: a later
 * packet of its connection then starts a new (mid-stream) flow. */
#define CAP_TOMBSTONES_PER_FLOW    4u
#define CAP_TOMBSTONES_MAX         (256u * 1024u)
/* Idle timeout by packet time, seconds.  Overridable at run time. */
#define CAP_IDLE_TIMEOUT_DEFAULT   600.0
/* Out-of-order bytes held per direction; past it the hole before the first
 * held segment is declared a gap and delivery goes on. */
#define CAP_REASM_MAX_BYTES        (256u * 1024u)
/* Out-of-order segments held per direction (same overflow behaviour). */
#define CAP_REASM_MAX_SEGS         512u
/* Out-of-order queue memory of all flows together.  Past it a direction
 * that needs more declares its hole a gap and goes on. */
#define CAP_REASM_POOL_MAX_BYTES   (64u * 1024u * 1024u)
/* An ACK (or FIN) more than this beyond the next expected byte is not
 * believed (no gap is declared from it). */
#define CAP_REASM_MAX_ACK_JUMP     (1u << 30)
/* A SYN whose sequence number is farther than this from the next expected
 * byte is taken as a new connection (port reuse). */
#define CAP_REASM_WINDOW_SLACK     (1u << 24)
/* Bytes already delivered kept per direction to compare retransmissions
 * against (tcp_overlap_conflict).  Older bytes are not compared. */
#define CAP_REASM_HISTORY          2048u
/* IPv4 fragments: datagrams under reassembly at once, and max datagram. */
#define CAP_FRAG_MAX_DATAGRAMS     1024u
#define CAP_FRAG_MAX_BYTES         65535u
#define CAP_FRAG_TIMEOUT           30.0
/* Bytes of fragment buffers held at once (all datagrams); past it the
 * datagram that needs more is dropped (its bytes become a TCP gap). */
#define CAP_FRAG_MEM_MAX           (8u * 1024u * 1024u)
/* --all-ports: packets with payload shown to nDPI before it must decide. */
#define CAP_NDPI_MAX_PACKETS       24u
/* Maximum VLAN tags / IPv6 extension headers walked before giving up. */
#define CAP_MAX_VLAN_TAGS          4
#define CAP_MAX_IPV6_EXT           8
/* Size of the error buffer handed to capture_*(). */
#define CAP_ERRBUF_SIZE            512

/* Regular pcap file, corrupt record header: how far past it the next
 * plausible record header is looked for before giving up (the file is then
 * analysed up to the corrupt record and said to be cut there). */
#define CAP_RESYNC_SCAN_MAX        ((uint64_t)64 * 1024 * 1024)

/* ---- dissect/ --------------------------------------------------------- */
/* Largest TLS record body accepted: 2^14 + 2048 (RFC 5246 §6.2.3, the
 * ciphertext bound).  A longer record means we are not looking at TLS: the
 * direction is marked malformed and no longer parsed. */
#define TLS_REC_MAX                (16384u + 2048u)
/* DER bytes of the server chain kept for tls_verify_chain() (leaf first;
 * certificates that do not fit are not kept, later ones neither). */
#define TLS_VERIFY_DER_MAX         (64u * 1024u)
/* SMTP command / reply line kept for parsing (longer lines are cut: the
 * rest up to LF is skipped and a finding is raised).  SASL lines can be
 * long (RFC 4954 cites 12288), so the limit is above that. */
#define DIS_LINE_MAX               16384u
/* Commands sent but not yet answered (pipelining FIFO).  Past it the oldest
 * are dropped and replies are matched again after the next resync. */
#define DIS_PENDING_MAX            128u
/* Client bytes held while a command that changes the mode of the client
 * stream (DATA, STARTTLS, AUTH step) waits for its reply.  Past it the held
 * bytes are taken as what the client committed to (body / TLS). */
#define DIS_HOLD_MAX               (64u * 1024u)
/* Lines of one multi-line reply kept (EHLO keywords).  More are counted. */
#define DIS_REPLY_LINES_MAX        64u
/* Recipients kept per message (all are counted in rcpt_count). */
#define DIS_RCPT_KEEP_MAX          100u
/* Header bytes of a message examined for Subject/Message-ID/From/Date. */
#define DIS_HEADER_SCAN_MAX        (64u * 1024u)
/* Bytes sniffed to decide direction when no SYN was seen. */
#define DIS_SNIFF_MAX              1024u
/* Findings raised per session (further ones are counted, not stored). */
#define DIS_FINDINGS_MAX           64u
/* Messages per session whose plaintext_message_body finding is stored. */
#define DIS_BODY_FINDINGS_MAX      64u
/* Values of one ClientHello list (cipher suites, extension types) sorted
 * for the JA4 hashes, on the stack (2 bytes each).  Far above what any
 * client offers (fewer suites than this were ever registered).  Past it
 * the hash covers the first ones in wire order; the count field of JA4
 * already reads 99, and the hello is not marked malformed. */
#define DIS_TLS_JA4_LIST_MAX       1024u

/* Stored text fields (bytes including NUL, after escaping). */
#define MT_STR_SHORT               64
#define MT_STR                     256
#define MT_STR_LONG                1024
#define MT_EVIDENCE_MAX            256

/* ---- store/ ----------------------------------------------------------- */
/* Bytes of messages and findings kept in memory for sessions not yet
 * written, over all sessions and per session.  Past either, the session
 * is written at once (complete = 0) and the rest goes straight to disk. */
#ifndef STORE_PENDING_MAX_BYTES
#define STORE_PENDING_MAX_BYTES    (4u * 1024u * 1024u)
#endif
#ifndef STORE_PENDING_SESSION_MAX
#define STORE_PENDING_SESSION_MAX  (64u * 1024u)
#endif
/* Rows written per transaction before a commit. */
#define STORE_BATCH_ROWS           2000u

#endif
