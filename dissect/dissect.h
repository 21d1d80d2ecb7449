/*
 * dissect.h — one SMTP dialogue, fed with the reassembled bytes of both
 * directions of a TCP connection.  dissect/ never sees a packet.
 *
 * Sides: the capture layer numbers the two endpoints 0 and 1 (0 = the SYN
 * sender when the SYN was seen, otherwise its best guess).  The dissector
 * decides which side is the client (from the SYN, else from the shape of
 * the bytes: a 220 greeting and 3-digit replies vs commands) and reports it
 * in mt_session.client_side.
 *
 * Data is delivered in capture order across both directions, so the
 * relative order of commands and replies is preserved.  Pointers passed in
 * are borrowed for the call only; the dissector copies what it keeps
 * (bounded by config.h).
 */
#ifndef MAILTAP_DISSECT_H
#define MAILTAP_DISSECT_H

#include <stddef.h>
#include <stdint.h>
#include "record.h"

typedef struct dis_session dis_session_t;

struct dis_params {
    uint16_t port[2];       /* TCP port of side 0 and side 1               */
    int client_side;        /* 0 or 1 when known from the SYN, -1 unknown  */
    int syn_seen;           /* 1 when the handshake start was captured     */
    double ts;              /* time of the first packet                     */
    /* PEM file of the CAs the server certificates are verified against
     * (--ca-file); NULL: the system default trust store.  Borrowed: must
     * stay valid as long as the session. */
    const char *ca_file;
};

/* Where results go.  Every callback may be NULL.  Structs are borrowed for
 * the call.  Order guarantee: a message is emitted before any finding that
 * names its msg_seq; session() is called exactly once, by dis_end(), last. */
struct dis_sink {
    void (*message)(void *arg, const struct mt_message *m);
    void (*finding)(void *arg, const struct mt_finding *f);
    void (*session)(void *arg, const struct mt_session *s);
};

/* Events from the capture layer that are not bytes. */
enum dis_cap_event {
    DIS_EV_OVERLAP_CONFLICT,   /* retransmission carried different bytes    */
    DIS_EV_TRUNCATED,          /* snaplen cut a packet (also given as a gap) */
    DIS_EV_MIDSTREAM,          /* no SYN: picked up mid-conversation         */
    DIS_EV_PROTOCOL            /* --all-ports: nDPI's name for the flow in
                                  detail ("SMTP", "SMTPS", "TLS", "HTTP", ...) */
};

/* Returns NULL only on allocation failure. */
dis_session_t *dis_session_new(const struct dis_params *p,
                               const struct dis_sink *sink, void *arg);
/* len bytes of side's stream, in order, at packet time ts. */
void dis_data(dis_session_t *s, int side, const uint8_t *p, size_t len, double ts);
/* len bytes of side's stream are missing (never captured). */
void dis_gap(dis_session_t *s, int side, uint64_t len, double ts);
/* A capture-quality event; detail is a short NUL-terminated description
 * made by the capture layer (may be NULL). */
void dis_capture_event(dis_session_t *s, int side, enum dis_cap_event ev,
                       double ts, const char *detail);
/* The connection is over: finish open messages, decide the verdict, emit
 * the session-level findings and then the session. */
void dis_end(dis_session_t *s, enum mt_end_reason r, double ts);
/* NULL-safe.  Does not emit anything. */
void dis_session_free(dis_session_t *s);

/* 1 once the dissector has seen SMTP on this connection, or TLS where SMTP
 * is expected (server port 25, 465 or 587, or nDPI said SMTP/SMTPS). */
int dis_is_smtp(const dis_session_t *s);
/* 0 once the dissector has decided the connection is not SMTP (a
 * non-standard port whose first bytes are not an SMTP dialogue and that
 * nDPI did not call SMTP): the capture layer may stop delivering bytes. */
int dis_wants_bytes(const dis_session_t *s);

#endif
