/*
 * ndpi_int.h — internal to capture/: protocol classification with nDPI 4.2
 * for --all-ports (CAP_EV_PROTOCOL).
 *
 * capture/ndpi.c is the only file that includes the nDPI headers; the rest
 * of capture/ sees an opaque module and nDPI's flow struct by name only.
 * The module is created on first use (loading nDPI's tables costs time and
 * about 250 KB), a flow's nDPI state exists only while it is classified,
 * and nDPI is never called again for a flow once it has decided.
 */
#ifndef MAILTAP_CAPTURE_NDPI_INT_H
#define MAILTAP_CAPTURE_NDPI_INT_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

/* Packets with payload given to nDPI per flow before it is asked for its
 * best guess (ndpi_detection_giveup).  nDPI 4.2 itself looks at no more
 * than 32 packets per flow. */
#ifndef CAP_NDPI_MAX_PACKETS
#define CAP_NDPI_MAX_PACKETS 24u
#endif
/* Bytes for a protocol name ("MASTER.APP" from ndpi_protocol2name). */
#define CAP_NDPI_NAME_MAX    64u

struct cap_ndpi;                /* one detection module (per capture)        */
struct ndpi_flow_struct;        /* nDPI's per-flow state, opaque here        */

/* Per-flow classification state (embedded in the flow). */
struct cap_ndpi_flow {
    struct ndpi_flow_struct *nf; /* allocated on the first packet fed       */
    uint8_t packets;            /* packets fed so far                        */
};

/* Allocates the handle; the nDPI module itself is created on the first
 * cap_ndpi_feed.  NULL on out of memory. */
struct cap_ndpi *cap_ndpi_new(void);
/* Frees the module.  Flows must have been released first.  NULL-safe. */
void cap_ndpi_free(struct cap_ndpi *n);

/*
 * Gives nDPI one packet of the flow: the datagram from its IP header, l3len
 * captured bytes, seen at ts.  Returns 1 when the flow is decided (known
 * app or master protocol, or CAP_NDPI_MAX_PACKETS reached and nDPI gave
 * up): name (CAP_NDPI_NAME_MAX bytes) holds the protocol name and the
 * flow's nDPI state is freed.  Returns 0 while undecided.  When nDPI is
 * unavailable (n NULL, the module failed, or a header/library mismatch)
 * the flow is decided at once as "Unknown".
 */
int cap_ndpi_feed(struct cap_ndpi *n, struct cap_ndpi_flow *fl, const uint8_t *l3,
                  size_t l3len, double ts, char *name);
/*
 * The flow ends undecided: when it was fed at least one packet, asks nDPI
 * for its guess, writes the name, frees the state and returns 1; returns 0
 * (nothing to report) when it never was fed.
 */
int cap_ndpi_giveup(struct cap_ndpi *n, struct cap_ndpi_flow *fl, char *name);
/* Frees the flow's nDPI state without a verdict.  Safe on an empty one. */
void cap_ndpi_flow_release(struct cap_ndpi_flow *fl);
/* Bytes of nDPI's per-flow struct (for cost reports and tests). */
size_t cap_ndpi_flow_size(void);

#endif
