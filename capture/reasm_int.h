/*
 * reasm_int.h — internal to capture/: reassembly of one TCP direction.
 *
 * Sequence numbers become 64-bit offsets relative to the direction's base
 * (offset 0 = the first data byte after the SYN if seen, else the first
 * segment's seq).  The output is the callback sequence data / gap / event
 * through struct cap_reasm_out; every byte of the stream up to the end is
 * either handed to data() exactly once or counted by gap().
 *
 * Policy: first copy wins.  Out-of-order data is copied into a per-direction
 * queue of fixed-size nodes from a shared pool (no per-packet malloc once
 * the pool has grown to the peak), bounded by CAP_REASM_MAX_BYTES and
 * CAP_REASM_MAX_SEGS.  The history of delivered bytes (CAP_REASM_HISTORY,
 * for comparing retransmissions) is taken from the same pool when a
 * direction delivers its first byte, so a direction without payload costs
 * only its struct; it starts small (CAP_REASM_HISTORY / 8) and doubles
 * while the direction has delivered more than it holds, so a short
 * direction never holds the full size.
 */
#ifndef MAILTAP_CAPTURE_REASM_INT_H
#define MAILTAP_CAPTURE_REASM_INT_H

#include <stddef.h>
#include <stdint.h>
#include "capture/capture.h"

/* Data bytes held by one queue node (a queued segment spans ceil(len /
 * CAP_REASM_NODE_DATA) nodes; CAP_REASM_MAX_SEGS counts nodes). */
#define CAP_REASM_NODE_DATA 2048u

struct cap_reasm_node;
struct cap_reasm_pool;

/* Where a direction's output goes: cb->data/gap/event(arg, flow, side, ...). */
struct cap_reasm_out {
    const struct cap_callbacks *cb;
    void *arg;
    void *flow;                 /* the consumer's handle                     */
    int side;
    /* May be NULL.  Set to 1 when data() returns 1; while *stop is set no
     * callback is called (the stream still advances, uncompared). */
    uint8_t *stop;
};

struct cap_reasm_dir {
    uint32_t base_seq;          /* sequence number of offset 0               */
    uint32_t hist_cap;          /* bytes of hist (0 while NULL)              */
    uint8_t has_base;
    uint8_t fin_seen;           /* a FIN was seen at fin_off                 */
    uint8_t fin_acked;          /* the peer acknowledged that FIN            */
    uint8_t conflict_reported;  /* CAP_EV_OVERLAP_CONFLICT sent              */
    uint8_t trunc_reported;     /* CAP_EV_TRUNCATED sent                     */
    uint64_t next;              /* all bytes below were delivered or gapped  */
    uint64_t ack_end;           /* bytes below proven to exist by an ACK     */
    uint64_t fin_off;
    uint64_t seen_end;          /* highest end offset of any segment seen    */
    uint64_t delivered;         /* bytes handed to data()                    */
    uint64_t gapped;            /* bytes reported by gap()                   */
    struct cap_reasm_node *head, *tail; /* queue, sorted, non-overlapping    */
    uint32_t nsegs;             /* queue nodes                               */
    uint32_t nbytes;            /* data bytes queued                         */
    uint64_t hist_start;        /* history valid from here (reset by gaps)   */
    uint8_t *hist;              /* last delivered bytes, ring by offset;     */
                                /* from the pool on the first delivered     */
                                /* byte (NULL before), grown up to          */
                                /* CAP_REASM_HISTORY as bytes are delivered  */
};

/*
 * Creates the node pool shared by all directions of one capture.
 * max_bytes bounds the pool (0 = CAP_REASM_POOL_MAX_BYTES); a direction that
 * can not get a node declares its hole a gap instead.  NULL on OOM.
 */
struct cap_reasm_pool *cap_reasm_pool_new(size_t max_bytes);
/* Frees the pool and every node (NULL-safe).  Directions still holding
 * nodes must not be used afterwards.  History buffers still held by
 * directions are not freed: cap_reasm_release every direction first. */
void cap_reasm_pool_free(struct cap_reasm_pool *pool);
/* Nodes currently handed out (for tests and leak checks). */
size_t cap_reasm_pool_in_use(const struct cap_reasm_pool *pool);
/* History buffers currently handed out (for tests and leak checks). */
size_t cap_reasm_pool_hist_in_use(const struct cap_reasm_pool *pool);

/* Empties d (no base yet, no history).  d must hold no nodes or history
 * (new, or after cap_reasm_release). */
void cap_reasm_init(struct cap_reasm_dir *d);
/* Sets the sequence number of offset 0 if d has no base yet. */
void cap_reasm_set_base(struct cap_reasm_dir *d, uint32_t seq);

/*
 * One segment of this direction: len captured bytes at p (borrowed; handed
 * to data() directly when in order), followed by missing bytes that were on
 * the wire but cut by the snaplen.  seq is the sequence number of p[0] (for
 * a SYN carrying data, ISN + 1).  Sets the base from seq if d has none.
 */
void cap_reasm_segment(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                       const struct cap_reasm_out *o, uint32_t seq,
                       const uint8_t *p, size_t len, size_t missing, double ts);
/* The peer acknowledged up to ack (exclusive): records the proven range
 * (used by cap_reasm_resolve_acked) and whether the FIN was acked. */
void cap_reasm_ack(struct cap_reasm_dir *d, uint32_t ack);
/* A FIN of this direction; seq_end = seq of the FIN + payload length. */
void cap_reasm_fin(struct cap_reasm_dir *d, uint32_t seq_end);
/* Delivers the ACK-proven range: queued data where held, gap() elsewhere. */
void cap_reasm_resolve_acked(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                             const struct cap_reasm_out *o, double ts);
/* True when seq lies within CAP_REASM_WINDOW_SLACK of the next expected
 * byte (or the direction has no base yet): a SYN outside it belongs to a
 * new connection on the same 4-tuple. */
int cap_reasm_seq_plausible(const struct cap_reasm_dir *d, uint32_t seq);
/* True when the FIN was seen and everything before it is delivered (or the
 * peer acked the FIN, which proves the rest; cap_reasm_flush gaps it). */
int cap_reasm_fin_done(const struct cap_reasm_dir *d);
/* End of the flow: ACK/FIN-proven holes and holes before queued data become
 * gaps, queued data is delivered; the queue is empty afterwards. */
void cap_reasm_flush(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                     const struct cap_reasm_out *o, double ts);
/* Returns queued nodes and the history to the pool without delivering. */
void cap_reasm_release(struct cap_reasm_pool *pool, struct cap_reasm_dir *d);

#endif
