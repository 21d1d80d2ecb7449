/*
 * reasm.c — one TCP direction: sequence numbers -> ordered bytes and gaps.
 *
 * Invariants of struct cap_reasm_dir:
 *  - every byte below next was handed to data() once or counted by gap();
 *  - queue nodes are sorted, do not overlap, and all start at or after next;
 *  - hist[] (when allocated, hist_cap bytes) holds delivered bytes
 *    [max(hist_start, next - hist_cap), next), byte at offset x at
 *    x % hist_cap; without it nothing is compared.  hist_cap grows
 *    (doubling, up to HISTORY) before a delivered byte would push out one
 *    that HISTORY would still keep, so a short direction holds a small
 *    buffer and comparisons are exactly those a HISTORY-byte ring allows;
 *  - while *o->stop is set no callback is made (the consumer wants no more
 *    bytes of the flow): the stream only advances.
 * First copy wins: bytes below next, or already queued, are never replaced;
 * a later copy is only compared (CAP_EV_OVERLAP_CONFLICT once per direction).
 */
#include "capture/reasm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nodes allocated at once when the pool grows. */
#define REASM_SLAB_NODES         32u

#define HIST CAP_REASM_HISTORY
/* History buffer sizes: HIST >> (HIST_CLASSES - 1) ... HIST, doubling. */
#define HIST_CLASSES 4u
_Static_assert((CAP_REASM_HISTORY >> (HIST_CLASSES - 1u)) >= 16u,
               "CAP_REASM_HISTORY too small for its size classes");

struct cap_reasm_node {
    struct cap_reasm_node *next;
    uint64_t start;             /* stream offset of data[0]                  */
    uint32_t len;
    uint8_t is_gap;             /* a cut (snaplen) range: no data            */
    uint8_t data[CAP_REASM_NODE_DATA];
};

struct reasm_slab {
    struct reasm_slab *next;
    struct cap_reasm_node nodes[REASM_SLAB_NODES];
};

/* A free history buffer on the pool's list of its size class. */
struct hist_free {
    struct hist_free *next;
};

struct cap_reasm_pool {
    struct cap_reasm_node *free;
    struct reasm_slab *slabs;
    size_t nodes;               /* allocated                                 */
    size_t in_use;
    size_t max_nodes;
    struct hist_free *hist_free[HIST_CLASSES]; /* kept for reuse, per size  */
    size_t hist_in_use;
};

/* ---- pool -------------------------------------------------------------- */

struct cap_reasm_pool *cap_reasm_pool_new(size_t max_bytes)
{
    struct cap_reasm_pool *pool = calloc(1, sizeof *pool);

    if (pool == NULL)
        return NULL;
    if (max_bytes == 0)
        max_bytes = CAP_REASM_POOL_MAX_BYTES;
    pool->max_nodes = max_bytes / CAP_REASM_NODE_DATA;
    if (pool->max_nodes == 0)
        pool->max_nodes = 1;
    return pool;
}

void cap_reasm_pool_free(struct cap_reasm_pool *pool)
{
    struct reasm_slab *s, *nx;
    unsigned c;

    if (pool == NULL)
        return;
    for (s = pool->slabs; s; s = nx) {
        nx = s->next;
        free(s);
    }
    for (c = 0; c < HIST_CLASSES; c++)
        while (pool->hist_free[c]) {
            struct hist_free *h = pool->hist_free[c];

            pool->hist_free[c] = h->next;
            free(h);
        }
    free(pool);
}

size_t cap_reasm_pool_in_use(const struct cap_reasm_pool *pool)
{
    return pool ? pool->in_use : 0;
}

size_t cap_reasm_pool_hist_in_use(const struct cap_reasm_pool *pool)
{
    return pool ? pool->hist_in_use : 0;
}

/* Bytes of history buffers of size class c. */
static size_t hist_class_size(unsigned c)
{
    return (size_t)HIST >> (HIST_CLASSES - 1u - c);
}

/* The smallest size class holding need bytes (the largest if none). */
static unsigned hist_class_for(uint64_t need)
{
    unsigned c = 0;

    while (c + 1u < HIST_CLASSES && hist_class_size(c) < need)
        c++;
    return c;
}

/* The size class of a buffer of cap bytes. */
static unsigned hist_class_of(size_t cap)
{
    unsigned c = 0;

    while (c + 1u < HIST_CLASSES && hist_class_size(c) != cap)
        c++;
    return c;
}

/* A history buffer of class c (reused or malloc'd); NULL on out of
 * memory. */
static uint8_t *hist_get(struct cap_reasm_pool *pool, unsigned c)
{
    struct hist_free *h = pool->hist_free[c];

    if (h)
        pool->hist_free[c] = h->next;
    else
        h = malloc(hist_class_size(c));
    if (h)
        pool->hist_in_use++;
    return (uint8_t *)h;
}

/* Gives a history buffer of cap bytes back (kept for reuse). */
static void hist_put(struct cap_reasm_pool *pool, uint8_t *b, size_t cap)
{
    struct hist_free *h = (struct hist_free *)(void *)b;
    unsigned c = hist_class_of(cap);

    h->next = pool->hist_free[c];
    pool->hist_free[c] = h;
    pool->hist_in_use--;
}

/* Makes sure k nodes are free, growing by slabs within max_nodes.
 * Returns 0, or -1 when the pool may not (or can not) grow. */
static int pool_reserve(struct cap_reasm_pool *pool, size_t k)
{
    while (pool->nodes - pool->in_use < k) {
        struct reasm_slab *s;
        size_t i;

        if (pool->nodes >= pool->max_nodes)
            return -1;
        s = malloc(sizeof *s);
        if (s == NULL)
            return -1;
        s->next = pool->slabs;
        pool->slabs = s;
        for (i = 0; i < REASM_SLAB_NODES; i++) {
            s->nodes[i].next = pool->free;
            pool->free = &s->nodes[i];
        }
        pool->nodes += REASM_SLAB_NODES;
    }
    return 0;
}

/* Takes a node (NULL when none may be had). */
static struct cap_reasm_node *pool_get(struct cap_reasm_pool *pool)
{
    struct cap_reasm_node *n;

    if (pool_reserve(pool, 1))
        return NULL;
    n = pool->free;
    pool->free = n->next;
    pool->in_use++;
    return n;
}

/* Gives a node back. */
static void pool_put(struct cap_reasm_pool *pool, struct cap_reasm_node *n)
{
    n->next = pool->free;
    pool->free = n;
    pool->in_use--;
}

/* ---- direction state ---------------------------------------------------- */

void cap_reasm_init(struct cap_reasm_dir *d)
{
    memset(d, 0, sizeof *d);
}

void cap_reasm_set_base(struct cap_reasm_dir *d, uint32_t seq)
{
    if (d->has_base)
        return;
    d->has_base = 1;
    d->base_seq = seq;
}

/* Offset of sequence number seq, taken as the one nearest to next (serial
 * arithmetic: within 2^31 either side).  May be negative. */
static int64_t rel_off(const struct cap_reasm_dir *d, uint32_t seq)
{
    uint32_t u = seq - (d->base_seq + (uint32_t)d->next);
    int64_t delta = (u & 0x80000000u) ? (int64_t)u - 4294967296LL : (int64_t)u;

    return (int64_t)d->next + delta;
}

/* Smaller of a and b. */
static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Offset just past node n. */
static uint64_t node_end(const struct cap_reasm_node *n)
{
    return n->start + n->len;
}

/* ---- output -------------------------------------------------------------- */

/* True when the consumer wants no more callbacks for the flow. */
static int stopped(const struct cap_reasm_out *o)
{
    return o->stop && *o->stop;
}

/* Sends event ev for the direction. */
static void emit_event(const struct cap_reasm_out *o, enum cap_event ev, double ts,
                       const char *detail)
{
    if (o->cb && o->cb->event && !stopped(o))
        o->cb->event(o->arg, o->flow, o->side, ev, ts, detail);
}

/* Reports a differing retransmission of n bytes at offset off (once). */
static void conflict(struct cap_reasm_dir *d, const struct cap_reasm_out *o,
                     uint64_t off, uint64_t n, double ts)
{
    char detail[128];

    if (d->conflict_reported)
        return;
    d->conflict_reported = 1;
    snprintf(detail, sizeof detail,
             "retransmission at offset %llu (+%llu bytes) differs from first copy",
             (unsigned long long)off, (unsigned long long)n);
    emit_event(o, CAP_EV_OVERLAP_CONFLICT, ts, detail);
}

/* Moves d's history into a buffer of the class that holds need bytes.
 * On out of memory the old buffer stays (it keeps fewer bytes). */
static void hist_grow(struct cap_reasm_pool *pool, struct cap_reasm_dir *d, uint64_t need)
{
    unsigned c = hist_class_for(need);
    size_t ncap = hist_class_size(c), cap = d->hist_cap;
    uint8_t *nb = hist_get(pool, c);
    uint64_t x = d->hist_start;

    if (nb == NULL)
        return;
    if (d->next > cap && d->next - cap > x)
        x = d->next - cap;
    while (x < d->next) {               /* each byte to its new ring place */
        size_t from = (size_t)(x % cap), to = (size_t)(x % ncap);
        size_t n = (size_t)min64(min64(cap - from, ncap - to), d->next - x);

        memcpy(nb + to, d->hist + from, n);
        x += n;
    }
    hist_put(pool, d->hist, cap);
    d->hist = nb;
    d->hist_cap = (uint32_t)ncap;
}

/* Remembers p[0 .. len), the bytes at [next, next + len), in the history
 * (taken from the pool on the first call, as small as the bytes allow, and
 * grown while the bytes to keep exceed it; without one, the bytes are
 * simply not remembered). */
static void hist_add(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                     const uint8_t *p, size_t len)
{
    uint64_t off = d->next;
    size_t pos, first, cap;

    if (d->hist == NULL) {
        unsigned c = hist_class_for(len);

        d->hist = hist_get(pool, c);
        d->hist_start = d->next;        /* nothing earlier was kept */
        if (d->hist == NULL) {
            d->hist_start = d->next + len;
            return;
        }
        d->hist_cap = (uint32_t)hist_class_size(c);
    } else if (d->hist_cap < HIST && d->next + len - d->hist_start > d->hist_cap) {
        hist_grow(pool, d, d->next + len - d->hist_start);
    }
    cap = d->hist_cap;
    if (len > cap) {
        off += len - cap;
        p += len - cap;
        len = cap;
    }
    pos = (size_t)(off % cap);
    first = cap - pos < len ? cap - pos : len;
    memcpy(d->hist + pos, p, first);
    memcpy(d->hist, p + first, len - first);
}

/* Hands len in-order bytes at p to data() and advances next.  A 1 from
 * data() sets *o->stop. */
static void deliver_data(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                         const struct cap_reasm_out *o, const uint8_t *p, size_t len,
                         double ts)
{
    if (len == 0)
        return;
    if (!stopped(o)) {
        hist_add(pool, d, p, len);
        if (o->cb && o->cb->data &&
            o->cb->data(o->arg, o->flow, o->side, p, len, ts) != 0 && o->stop)
            *o->stop = 1;
    }
    d->next += len;
    d->delivered += len;
}

/* Reports len missing bytes at next and advances next. */
static void deliver_gap(struct cap_reasm_dir *d, const struct cap_reasm_out *o,
                        uint64_t len, double ts)
{
    if (len == 0)
        return;
    if (o->cb && o->cb->gap && !stopped(o))
        o->cb->gap(o->arg, o->flow, o->side, len, ts);
    d->next += len;
    d->gapped += len;
    d->hist_start = d->next;
}

/* Unlinks and frees the head node. */
static void pop_head(struct cap_reasm_pool *pool, struct cap_reasm_dir *d)
{
    struct cap_reasm_node *n = d->head;

    d->head = n->next;
    if (d->head == NULL)
        d->tail = NULL;
    d->nsegs--;
    if (!n->is_gap)
        d->nbytes -= n->len;
    pool_put(pool, n);
}

/* Delivers the part of the head node (which starts at or before next)
 * beyond next, then frees it. */
static void deliver_head(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                         const struct cap_reasm_out *o, double ts)
{
    struct cap_reasm_node *n = d->head;
    uint64_t end = node_end(n);

    if (end > d->next) {
        if (n->is_gap)
            deliver_gap(d, o, end - d->next, ts);
        else
            deliver_data(pool, d, o, n->data + (d->next - n->start),
                         (size_t)(end - d->next), ts);
    }
    pop_head(pool, d);
}

/* Delivers queued nodes while they are contiguous with next. */
static void drain(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                  const struct cap_reasm_out *o, double ts)
{
    while (d->head && d->head->start <= d->next)
        deliver_head(pool, d, o, ts);
}

/* Everything below limit is known to exist: queued data is delivered, the
 * rest is gap(); then contiguous queued data follows. */
static void resolve_to(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                       const struct cap_reasm_out *o, uint64_t limit, double ts)
{
    while (d->next < limit) {
        struct cap_reasm_node *n = d->head;

        if (n && n->start <= d->next) {
            deliver_head(pool, d, o, ts);
            continue;
        }
        deliver_gap(d, o, (n ? min64(n->start, limit) : limit) - d->next, ts);
    }
    drain(pool, d, o, ts);
}

/* Declares the hole before the first queued node a gap and delivers the
 * contiguous queued data after it. */
static void flush_first_hole(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                             const struct cap_reasm_out *o, double ts)
{
    if (d->head == NULL)
        return;
    if (d->head->start > d->next)
        deliver_gap(d, o, d->head->start - d->next, ts);
    drain(pool, d, o, ts);
}

/* The end of the range the peer's ACKs prove (an ACK of an uncaptured FIN
 * is one beyond the data: that byte is not counted). */
static uint64_t ack_limit(const struct cap_reasm_dir *d)
{
    uint64_t lim = d->ack_end;

    if (d->fin_seen) {
        if (lim > d->fin_off)
            lim = d->fin_off;
    } else {
        uint64_t hi = d->next > d->seen_end ? d->next : d->seen_end;

        if (lim == hi + 1)
            lim = hi;
    }
    return lim;
}

/* ---- comparisons (first copy wins) -------------------------------------- */

/* Compares p (the bytes of [s, e)) with the delivered bytes still in the
 * history. */
static void check_hist(struct cap_reasm_dir *d, const struct cap_reasm_out *o,
                       uint64_t s, uint64_t e, const uint8_t *p, double ts)
{
    uint64_t lo = s, hi = min64(e, d->next), hv = d->hist_start, x;

    if (d->conflict_reported || d->hist == NULL || stopped(o))
        return;
    if (d->next > d->hist_cap && d->next - d->hist_cap > hv)
        hv = d->next - d->hist_cap;
    if (lo < hv)
        lo = hv;
    for (x = lo; x < hi;) {
        size_t pos = (size_t)(x % d->hist_cap);
        size_t n = (size_t)min64(d->hist_cap - pos, hi - x);

        if (memcmp(d->hist + pos, p + (x - s), n) != 0) {
            conflict(d, o, lo, hi - lo, ts);
            return;
        }
        x += n;
    }
}

/*
 * Walks the uncovered sub-ranges of [s, e) against the queue.  With p, the
 * covered parts are compared with the queued copy.  dry: only counts the
 * nodes and data bytes the insertion would need (*nodes, *bytes).  Else
 * inserts them (the caller reserved them: see fits()).
 */
static void insert_range(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                         const struct cap_reasm_out *o, uint64_t s, uint64_t e,
                         const uint8_t *p, int dry, size_t *nodes, size_t *bytes,
                         double ts)
{
    struct cap_reasm_node *prev = NULL, *n = d->head;
    uint64_t pos = s;

    *nodes = 0;
    *bytes = 0;
    if (d->tail && node_end(d->tail) <= s) {    /* common: append */
        prev = d->tail;
        n = NULL;
    }
    while (pos < e) {
        uint64_t lim;

        while (n && node_end(n) <= pos) {
            prev = n;
            n = n->next;
        }
        if (n && n->start <= pos) {             /* covered: first wins */
            uint64_t hi = min64(e, node_end(n));

            if (!dry && p && !n->is_gap && !d->conflict_reported && !stopped(o) &&
                memcmp(n->data + (pos - n->start), p + (pos - s),
                       (size_t)(hi - pos)) != 0)
                conflict(d, o, pos, hi - pos, ts);
            pos = hi;
            continue;
        }
        lim = n ? min64(e, n->start) : e;
        while (pos < lim) {
            uint64_t chunk = lim - pos;
            struct cap_reasm_node *nn;

            if (p && chunk > CAP_REASM_NODE_DATA)
                chunk = CAP_REASM_NODE_DATA;
            if (!p && chunk > UINT32_MAX)
                chunk = UINT32_MAX;
            (*nodes)++;
            if (p)
                *bytes += (size_t)chunk;
            if (!dry) {
                nn = pool_get(pool);
                if (nn == NULL)         /* not reached: reserved by fits() */
                    return;
                nn->start = pos;
                nn->len = (uint32_t)chunk;
                nn->is_gap = p == NULL;
                if (p)
                    memcpy(nn->data, p + (pos - s), (size_t)chunk);
                nn->next = n;
                if (prev)
                    prev->next = nn;
                else
                    d->head = nn;
                if (n == NULL)
                    d->tail = nn;
                prev = nn;
                d->nsegs++;
                if (p)
                    d->nbytes += (uint32_t)chunk;
            }
            pos += chunk;
        }
    }
}

/* True when nodes more nodes with bytes more data bytes may be queued (and
 * the pool has them reserved). */
static int fits(struct cap_reasm_pool *pool, const struct cap_reasm_dir *d,
                size_t nodes, size_t bytes)
{
    return d->nsegs + nodes <= CAP_REASM_MAX_SEGS &&
           d->nbytes + bytes <= CAP_REASM_MAX_BYTES &&
           pool_reserve(pool, nodes) == 0;
}

/*
 * Queues [s, e) (data p, or a cut range when p is NULL) that starts after
 * next.  When a bound is hit, the hole before the first queued node is
 * declared a gap and delivery goes on; returns 1 when [s, e) is then in
 * order (s <= next) and must be handled by the caller, 0 when queued.
 */
static int enqueue(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                   const struct cap_reasm_out *o, uint64_t s, uint64_t e,
                   const uint8_t *p, double ts)
{
    for (;;) {
        size_t nodes, bytes;

        if (s <= d->next)
            return 1;
        insert_range(pool, d, o, s, e, p, 1, &nodes, &bytes, ts);
        if (fits(pool, d, nodes, bytes)) {
            insert_range(pool, d, o, s, e, p, 0, &nodes, &bytes, ts);
            return 0;
        }
        if (d->head)
            flush_first_hole(pool, d, o, ts);
        else
            deliver_gap(d, o, s - d->next, ts);  /* pool exhausted */
    }
}

/* Compares p (the bytes of [s, e)) with the queued copies of the part
 * of [s, e) at or after next. */
static void check_queue(struct cap_reasm_dir *d, const struct cap_reasm_out *o,
                        uint64_t s, uint64_t e, const uint8_t *p, double ts)
{
    const struct cap_reasm_node *n;

    if (stopped(o))
        return;
    for (n = d->head; n && n->start < e && !d->conflict_reported; n = n->next) {
        uint64_t lo = n->start > d->next ? n->start : d->next;
        uint64_t hi = min64(e, node_end(n));

        if (lo < s)
            lo = s;
        if (n->is_gap || lo >= hi)
            continue;
        if (memcmp(n->data + (lo - n->start), p + (lo - s), (size_t)(hi - lo)) != 0)
            conflict(d, o, lo, hi - lo, ts);
    }
}

/* In-order data [s, e) with s <= next < e possible: compares the parts
 * already delivered or queued, delivers the rest from p (zero copy), merged
 * with queued data, then drains the queue. */
static void in_order(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                     const struct cap_reasm_out *o, uint64_t s, uint64_t e,
                     const uint8_t *p, double ts)
{
    if (s < d->next) {
        check_hist(d, o, s, e, p, ts);
        if (e <= d->next)
            return;                     /* retransmission / duplicate */
    }
    check_queue(d, o, s, e, p, ts);
    while (d->next < e) {
        struct cap_reasm_node *n = d->head;
        uint64_t lim;

        if (n && n->start <= d->next) {
            deliver_head(pool, d, o, ts);
            continue;
        }
        lim = (n && n->start < e) ? n->start : e;
        deliver_data(pool, d, o, p + (d->next - s), (size_t)(lim - d->next), ts);
    }
    drain(pool, d, o, ts);
}

/* ---- entry points ------------------------------------------------------- */

void cap_reasm_segment(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                       const struct cap_reasm_out *o, uint32_t seq,
                       const uint8_t *p, size_t len, size_t missing, double ts)
{
    uint64_t wl = (uint64_t)len + missing, s, ecap, eall;
    int64_t rs, rcap, rall;

    cap_reasm_set_base(d, seq);
    if (wl == 0)
        return;
    if (p == NULL)
        len = 0;
    rs = rel_off(d, seq);
    /* keepalive / probe of the last byte: never compared, never delivered */
    if (wl == 1 && d->next > 0 && rs == (int64_t)d->next - 1)
        return;
    rcap = rs + (int64_t)len;
    rall = rcap + (int64_t)missing;
    if (rall <= 0)
        return;                         /* entirely before the base */
    if (rs < 0) {
        uint64_t skip = (uint64_t)-rs;

        if (skip >= len) {
            len = 0;
            rcap = 0;
        } else {
            p += skip;
            len -= (size_t)skip;
        }
        rs = 0;
    }
    s = (uint64_t)rs;
    ecap = (uint64_t)rcap;
    eall = (uint64_t)rall;
    if (d->fin_seen) {                  /* nothing after the FIN counts */
        if (eall > d->fin_off)
            eall = d->fin_off;
        if (ecap > eall)
            ecap = eall;
        if (s >= eall)
            return;
    }
    if (eall > d->seen_end)
        d->seen_end = eall;
    if (ecap > s) {
        /* a hole before s proven by the peer's ACK is a gap now */
        if (s > d->next) {
            uint64_t lim = ack_limit(d);

            if (lim > d->next)
                resolve_to(pool, d, o, min64(lim, s), ts);
        }
        if (enqueue(pool, d, o, s, ecap, p, ts))
            in_order(pool, d, o, s, ecap, p, ts);
    }
    if (eall > ecap) {                  /* cut by the snaplen */
        uint64_t gs = ecap > s ? ecap : s;

        if (!d->trunc_reported) {
            d->trunc_reported = 1;
            emit_event(o, CAP_EV_TRUNCATED, ts, "snaplen cut the payload");
        }
        if (enqueue(pool, d, o, gs, eall, NULL, ts))
            resolve_to(pool, d, o, eall, ts);
    }
}

void cap_reasm_ack(struct cap_reasm_dir *d, uint32_t ack)
{
    int64_t a;

    if (!d->has_base)
        return;
    a = rel_off(d, ack);
    if (a <= 0)
        return;
    if (d->fin_seen && (uint64_t)a > d->fin_off)
        d->fin_acked = 1;
    if ((uint64_t)a > d->next && (uint64_t)a - d->next <= CAP_REASM_MAX_ACK_JUMP &&
        (uint64_t)a > d->ack_end)
        d->ack_end = (uint64_t)a;
}

void cap_reasm_fin(struct cap_reasm_dir *d, uint32_t seq_end)
{
    int64_t f;

    cap_reasm_set_base(d, seq_end);
    if (d->fin_seen)
        return;
    f = rel_off(d, seq_end);
    if (f < (int64_t)d->next || (uint64_t)f - d->next > CAP_REASM_MAX_ACK_JUMP)
        return;                         /* an old or implausible FIN */
    d->fin_seen = 1;
    d->fin_off = (uint64_t)f;
    if (d->ack_end > d->fin_off)
        d->fin_acked = 1;
}

void cap_reasm_resolve_acked(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                             const struct cap_reasm_out *o, double ts)
{
    uint64_t lim = ack_limit(d);

    if (lim > d->next)
        resolve_to(pool, d, o, lim, ts);
}

int cap_reasm_seq_plausible(const struct cap_reasm_dir *d, uint32_t seq)
{
    int64_t dist;

    if (!d->has_base)
        return 1;
    dist = rel_off(d, seq) - (int64_t)d->next;
    return dist >= -(int64_t)CAP_REASM_WINDOW_SLACK && dist <= (int64_t)CAP_REASM_WINDOW_SLACK;
}

int cap_reasm_fin_done(const struct cap_reasm_dir *d)
{
    return d->fin_seen && (d->next >= d->fin_off || d->fin_acked);
}

void cap_reasm_flush(struct cap_reasm_pool *pool, struct cap_reasm_dir *d,
                     const struct cap_reasm_out *o, double ts)
{
    uint64_t lim = ack_limit(d);

    if (d->fin_seen && d->fin_off > lim)
        lim = d->fin_off;
    if (lim > d->next)
        resolve_to(pool, d, o, lim, ts);
    while (d->head)
        flush_first_hole(pool, d, o, ts);
}

void cap_reasm_release(struct cap_reasm_pool *pool, struct cap_reasm_dir *d)
{
    while (d->head)
        pop_head(pool, d);
    if (d->hist) {
        hist_put(pool, d->hist, d->hist_cap);
        d->hist = NULL;
        d->hist_cap = 0;
        d->hist_start = d->next;
    }
}
