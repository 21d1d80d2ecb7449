/*
 * flow_int.h — internal to capture/: the bounded TCP flow table.
 *
 * Maps decoded segments (struct cap_pkt) to flows, keeps each flow's two
 * reassembly directions and drives the consumer's callbacks:
 * flow_start -> [CAP_EV_MIDSTREAM] -> data / gap / event ... -> flow_end;
 * in all-ports mode CAP_EV_PROTOCOL (nDPI, ndpi_int.h) once among them.
 * The table owns the nDPI module (made on first use, freed with it).
 */
#ifndef MAILTAP_CAPTURE_FLOW_INT_H
#define MAILTAP_CAPTURE_FLOW_INT_H

#include <stddef.h>
#include <stdint.h>
#include "capture/capture.h"
#include "capture/decode_int.h"

struct cap_flow_table;

/*
 * Creates a table for cfg (copied: ports, all_ports, max_flows, idle
 * timeout).  max_flows bounds the flows holding consumer state; ended and
 * evicted connections are kept apart as tombstones (CAP_TOMBSTONES_*).  Counters go to *st (borrowed, must outlive the table).
 * pool_bytes bounds the out-of-order memory of all flows (0 = default).
 * NULL on out of memory.
 */
struct cap_flow_table *cap_flow_table_new(const struct cap_config *cfg,
                                          struct cap_stats *st, size_t pool_bytes);
/* Frees the table without calling any callback (end flows first with
 * cap_flow_end_all).  NULL-safe. */
void cap_flow_table_free(struct cap_flow_table *ft);
/* Sets the consumer (cb is borrowed until the next call or the free). */
void cap_flow_set_callbacks(struct cap_flow_table *ft, const struct cap_callbacks *cb,
                            void *arg);
/* True when a flow with this port is wanted (cfg ports or all_ports). */
int cap_flow_port_wanted(const struct cap_flow_table *ft, uint16_t port);
/* Handles one decoded TCP segment seen at ts (payload borrowed for the
 * call). */
void cap_flow_packet(struct cap_flow_table *ft, const struct cap_pkt *pk, double ts);
/* Ends (CAP_END_TIMEOUT) and forgets flows idle for longer than the idle
 * timeout at packet time now. */
void cap_flow_expire(struct cap_flow_table *ft, double now);
/* Ends every open flow with reason r (least recently active first) and
 * empties the table (tombstones too). */
void cap_flow_end_all(struct cap_flow_table *ft, enum cap_end_reason r);
/* Entries in the table, including ignored, closed and evicted
 * (tombstone) ones. */
size_t cap_flow_count(const struct cap_flow_table *ft);
/* Of those, entries without consumer state (ignored, closed, evicted):
 * at most max_flows * CAP_TOMBSTONES_PER_FLOW, capped at
 * CAP_TOMBSTONES_MAX. */
size_t cap_flow_tombstones(const struct cap_flow_table *ft);
/* Out-of-order queue nodes in use (tests: must be 0 when all flows ended). */
size_t cap_flow_pool_in_use(const struct cap_flow_table *ft);
/* History buffers in use (a direction has one once it delivered a byte,
 * until its flow ends or its bytes are no longer wanted). */
size_t cap_flow_hist_in_use(const struct cap_flow_table *ft);

#endif
