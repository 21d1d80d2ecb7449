/*
 * flow.c — bounded TCP flow table.
 *
 * Chained hash (keyed SipHash-1-3, random key) over both directions of a
 * connection; entries come from slabs kept on a free list.  Two LRU lists
 * (least recently active first) drive idle expiry, eviction and the order
 * in which flows are ended at the end of input, so the output order never
 * depends on the hash key:
 *  - live: entries holding a consumer handle (OPEN, UNWANTED), at most
 *    max_flows; past it the least recently active one is evicted;
 *  - tomb: entries without consumer state (IGNORED, CLOSED, EVICTED), at
 *    most max_tombs (CAP_TOMBSTONES_*); past it the least recently active
 *    one is removed (its connection's next packet would start a new flow).
 *
 * Entry states: OPEN (consumer handle + reassembly state), IGNORED (the
 * consumer returned NULL: only FIN/RST/ISN are followed), UNWANTED (data()
 * returned 1: reassembly state released, only FIN/RST/ISN and the time are
 * followed, flow_end still comes at the end), CLOSED (ended by FIN or RST)
 * and EVICTED (ended early because the live list was full): both kept as
 * tombstones that absorb the connection's later packets until a new SYN
 * with a different ISN reuses the 4-tuple, or until they are idle.  What
 * EVICTED entries absorb is counted (evicted_packets, evicted_bytes): a
 * connection too many is cut short once (one flow_start, one flow_end),
 * not reported as dozens of mid-stream flows.
 *
 * All-ports mode: an OPEN flow with neither port in the list is classified
 * by nDPI (ndpi_int.h) from its packets with payload, before they are
 * reassembled, until nDPI decides; then CAP_EV_PROTOCOL and never again.
 */
#include "capture/flow_int.h"
#include "capture/ndpi_int.h"
#include "capture/reasm_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

/* Flow entries allocated at once. */
#define FLOW_SLAB_ENTRIES 256u
/* Upper bound of hash buckets (the table is chained, so more flows than
 * buckets still work). */
#define FLOW_MAX_BUCKETS  (1u << 22)

enum { FS_OPEN, FS_IGNORED, FS_CLOSED, FS_UNWANTED, FS_EVICTED };

/* Which LRU list an entry is on. */
enum { L_NONE, L_LIVE, L_TOMB };

/* Classification of an open flow by nDPI. */
enum { CLS_NONE, CLS_PENDING, CLS_DONE };

/* Canonical key: endpoint a is the lower (address, port). */
struct flow_key {
    uint8_t a[16], b[16];
    uint16_t pa, pb;
    uint16_t vlan;
    uint8_t family;
    uint8_t pad;
};

/* Reassembly state of an accepted flow (recycled through a free list). */
struct flow_data {
    struct flow_data *next_free;
    struct cap_reasm_dir dir[2];
    struct cap_ndpi_flow ndpi;      /* nDPI state while CLS_PENDING          */
    uint8_t stop;                   /* data() returned 1                     */
    uint8_t classify;               /* CLS_*                                 */
};

struct flow {
    struct flow *hnext;             /* hash chain                            */
    struct flow *lprev, *lnext;     /* LRU list (head = least recent)        */
    struct flow_key key;
    uint64_t hash;
    double last_ts;
    void *handle;                   /* consumer's handle (OPEN, UNWANTED)    */
    struct flow_data *fd;           /* when FS_OPEN                          */
    uint32_t isn[2];                /* per side, when has_isn                */
    uint8_t has_isn[2];
    uint8_t fin[2];                 /* FIN seen per side                     */
    uint8_t side0_is_a;             /* side 0 is key endpoint a              */
    uint8_t state;                  /* FS_*                                  */
    uint8_t syn_seen;
    uint8_t list;                   /* L_*                                   */
};

/* An LRU list of entries (head = least recently active). */
struct flow_list {
    struct flow *head, *tail;
    size_t count;
};

struct flow_slab {
    struct flow_slab *next;
    struct flow e[FLOW_SLAB_ENTRIES];
};

struct cap_flow_table {
    uint8_t portmap[65536 / 8];
    int all_ports;
    size_t max_flows;               /* bound of live.count                   */
    size_t max_tombs;               /* bound of tomb.count                   */
    double idle;
    struct flow **buckets;
    size_t mask;                    /* buckets - 1                           */
    struct flow_list live;          /* OPEN, UNWANTED                        */
    struct flow_list tomb;          /* IGNORED, CLOSED, EVICTED              */
    struct flow *free_flows;
    struct flow_slab *slabs;
    struct flow_data *free_fd;
    struct cap_reasm_pool *pool;
    struct cap_ndpi *ndpi;          /* all-ports: made when first needed     */
    const struct cap_callbacks *cb;
    void *arg;
    struct cap_stats *st;
    uint64_t k0, k1;                /* hash key                              */
};

/* ---- keyed hash (SipHash-1-3 over the 40-byte key) ----------------------- */

/* Rotates x left by b (0 < b < 64). */
static uint64_t rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64u - b));
}

#define SIP_ROUND(v0, v1, v2, v3)                                              \
    do {                                                                       \
        v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);          \
        v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                               \
        v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                               \
        v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);          \
    } while (0)

/* Keyed hash of len bytes at m. */
static uint64_t sip13(uint64_t k0, uint64_t k1, const uint8_t *m, size_t len)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    uint64_t last = (uint64_t)len << 56, w;
    size_t i, j, end = len - len % 8u;

    for (i = 0; i < end; i += 8) {
        w = 0;
        for (j = 0; j < 8; j++)
            w |= (uint64_t)m[i + j] << (8u * j);
        v3 ^= w;
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= w;
    }
    for (j = 0; j < len % 8u; j++)
        last |= (uint64_t)m[end + j] << (8u * j);
    v3 ^= last;
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- table -------------------------------------------------------------- */

struct cap_flow_table *cap_flow_table_new(const struct cap_config *cfg,
                                          struct cap_stats *st, size_t pool_bytes)
{
    struct cap_flow_table *ft = calloc(1, sizeof *ft);
    size_t nb = 16, i;
    uint64_t k[2];

    if (ft == NULL)
        return NULL;
    ft->st = st;
    ft->all_ports = cfg->all_ports;
    for (i = 0; cfg->ports && i < cfg->nports; i++)
        ft->portmap[cfg->ports[i] / 8u] |= (uint8_t)(1u << (cfg->ports[i] % 8u));
    ft->max_flows = cfg->max_flows ? cfg->max_flows : CAP_MAX_FLOWS_DEFAULT;
    if (ft->max_flows > CAP_TOMBSTONES_MAX / CAP_TOMBSTONES_PER_FLOW)
        ft->max_tombs = CAP_TOMBSTONES_MAX;
    else
        ft->max_tombs = ft->max_flows * CAP_TOMBSTONES_PER_FLOW;
    ft->idle = cfg->idle_timeout > 0 ? cfg->idle_timeout : CAP_IDLE_TIMEOUT_DEFAULT;
    while (nb < ft->max_flows + ft->max_tombs && nb < FLOW_MAX_BUCKETS)
        nb <<= 1;
    ft->buckets = calloc(nb, sizeof *ft->buckets);
    ft->mask = nb - 1;
    ft->pool = cap_reasm_pool_new(pool_bytes);
    if (ft->buckets == NULL || ft->pool == NULL) {
        cap_flow_table_free(ft);
        return NULL;
    }
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        k[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
        k[1] = (uint64_t)(uintptr_t)ft * 0xc2b2ae3d27d4eb4fULL;
    }
    ft->k0 = k[0];
    ft->k1 = k[1];
    return ft;
}

void cap_flow_table_free(struct cap_flow_table *ft)
{
    struct flow_slab *s, *ns;
    struct flow_data *fd, *nfd;
    struct flow *f;

    if (ft == NULL)
        return;
    for (f = ft->live.head; f; f = f->lnext)    /* only live entries have fd */
        if (f->fd) {
            cap_reasm_release(ft->pool, &f->fd->dir[0]);
            cap_reasm_release(ft->pool, &f->fd->dir[1]);
            cap_ndpi_flow_release(&f->fd->ndpi);
            free(f->fd);
        }
    for (fd = ft->free_fd; fd; fd = nfd) {
        nfd = fd->next_free;
        free(fd);
    }
    for (s = ft->slabs; s; s = ns) {
        ns = s->next;
        free(s);
    }
    cap_reasm_pool_free(ft->pool);
    cap_ndpi_free(ft->ndpi);
    free(ft->buckets);
    free(ft);
}

void cap_flow_set_callbacks(struct cap_flow_table *ft, const struct cap_callbacks *cb,
                            void *arg)
{
    ft->cb = cb;
    ft->arg = arg;
}

int cap_flow_port_wanted(const struct cap_flow_table *ft, uint16_t port)
{
    return ft->all_ports || (ft->portmap[port / 8u] >> (port % 8u) & 1u);
}

/* True when port is in the configured list (all_ports not considered). */
static int port_listed(const struct cap_flow_table *ft, uint16_t port)
{
    return ft->portmap[port / 8u] >> (port % 8u) & 1u;
}

size_t cap_flow_count(const struct cap_flow_table *ft)
{
    return ft->live.count + ft->tomb.count;
}

size_t cap_flow_tombstones(const struct cap_flow_table *ft)
{
    return ft->tomb.count;
}

size_t cap_flow_pool_in_use(const struct cap_flow_table *ft)
{
    return cap_reasm_pool_in_use(ft->pool);
}

size_t cap_flow_hist_in_use(const struct cap_flow_table *ft)
{
    return cap_reasm_pool_hist_in_use(ft->pool);
}

/* Builds the canonical key of pk; *src_is_a tells which endpoint pk's
 * source is. */
static void make_key(const struct cap_pkt *pk, struct flow_key *k, int *src_is_a)
{
    int c = memcmp(pk->src, pk->dst, 16);

    if (c == 0)
        c = (pk->sport > pk->dport) - (pk->sport < pk->dport);
    memset(k, 0, sizeof *k);
    k->family = pk->family;
    k->vlan = pk->vlan;
    *src_is_a = c <= 0;
    if (*src_is_a) {
        memcpy(k->a, pk->src, 16);
        memcpy(k->b, pk->dst, 16);
        k->pa = pk->sport;
        k->pb = pk->dport;
    } else {
        memcpy(k->a, pk->dst, 16);
        memcpy(k->b, pk->src, 16);
        k->pa = pk->dport;
        k->pb = pk->sport;
    }
}

/* Hash of a canonical key under the table's random key. */
static uint64_t key_hash(const struct cap_flow_table *ft, const struct flow_key *k)
{
    return sip13(ft->k0, ft->k1, (const uint8_t *)k, sizeof *k);
}

/* The entry of key k (hash h), or NULL. */
static struct flow *lookup(const struct cap_flow_table *ft, const struct flow_key *k,
                           uint64_t h)
{
    struct flow *f;

    for (f = ft->buckets[h & ft->mask]; f; f = f->hnext)
        if (f->hash == h && memcmp(&f->key, k, sizeof *k) == 0)
            return f;
    return NULL;
}

/* The list f is on, or NULL. */
static struct flow_list *list_of(struct cap_flow_table *ft, const struct flow *f)
{
    if (f->list == L_LIVE)
        return &ft->live;
    if (f->list == L_TOMB)
        return &ft->tomb;
    return NULL;
}

/* Takes f out of its LRU list (if any). */
static void lru_unlink(struct cap_flow_table *ft, struct flow *f)
{
    struct flow_list *l = list_of(ft, f);

    if (l == NULL)
        return;
    if (f->lprev)
        f->lprev->lnext = f->lnext;
    else
        l->head = f->lnext;
    if (f->lnext)
        f->lnext->lprev = f->lprev;
    else
        l->tail = f->lprev;
    f->lprev = f->lnext = NULL;
    l->count--;
    f->list = L_NONE;
}

/* Puts f (on no list) at the most recently active end of list which. */
static void lru_append(struct cap_flow_table *ft, struct flow *f, uint8_t which)
{
    struct flow_list *l = which == L_LIVE ? &ft->live : &ft->tomb;

    f->lnext = NULL;
    f->lprev = l->tail;
    if (l->tail)
        l->tail->lnext = f;
    else
        l->head = f;
    l->tail = f;
    l->count++;
    f->list = which;
}

/* Marks f active at ts (moves it to the tail of its list). */
static void touch(struct cap_flow_table *ft, struct flow *f, double ts)
{
    struct flow_list *l = list_of(ft, f);
    uint8_t which = f->list;

    if (ts > f->last_ts)
        f->last_ts = ts;
    if (l && l->tail != f) {
        lru_unlink(ft, f);
        lru_append(ft, f, which);
    }
}

/* Unlinks f from the hash and its list and puts it on the free list.  f
 * must not be FS_OPEN or FS_UNWANTED (end it first). */
static void remove_flow(struct cap_flow_table *ft, struct flow *f)
{
    struct flow **pp = &ft->buckets[f->hash & ft->mask];

    while (*pp && *pp != f)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = f->hnext;
    lru_unlink(ft, f);
    f->hnext = ft->free_flows;
    ft->free_flows = f;
}

/* Keeps f, which holds no consumer state (any more), as a light entry in
 * state s (FS_IGNORED, FS_CLOSED or FS_EVICTED) at the tail of the tomb
 * list.  When that list is full its least recently active entry is removed
 * first (never f). */
static void bury(struct cap_flow_table *ft, struct flow *f, uint8_t s)
{
    lru_unlink(ft, f);
    f->state = s;
    while (ft->tomb.count >= ft->max_tombs && ft->tomb.head)
        remove_flow(ft, ft->tomb.head);
    lru_append(ft, f, L_TOMB);
}

/* Output descriptor for one side of an open flow. */
static struct cap_reasm_out out_for(const struct cap_flow_table *ft, const struct flow *f,
                                    int side)
{
    struct cap_reasm_out o;

    o.cb = ft->cb;
    o.arg = ft->arg;
    o.flow = f->handle;
    o.side = side;
    o.stop = f->fd ? &f->fd->stop : NULL;
    return o;
}

/* Reports nDPI's verdict name for an open flow (unless the consumer wants
 * no more of it). */
static void emit_protocol(struct cap_flow_table *ft, struct flow *f, int side, double ts,
                          const char *name)
{
    if (ft->cb && ft->cb->event && !f->fd->stop)
        ft->cb->event(ft->arg, f->handle, side, CAP_EV_PROTOCOL, ts, name);
}

/* Gives nDPI a packet with payload of a flow being classified; reports the
 * verdict once nDPI has one. */
static void classify(struct cap_flow_table *ft, struct flow *f, int side,
                     const struct cap_pkt *pk, double ts)
{
    char name[CAP_NDPI_NAME_MAX];

    if (f->fd->classify != CLS_PENDING || pk->payload_len == 0 || pk->l3 == NULL)
        return;
    if (ft->ndpi == NULL)
        ft->ndpi = cap_ndpi_new();      /* NULL (OOM): decided as Unknown */
    if (!cap_ndpi_feed(ft->ndpi, &f->fd->ndpi, pk->l3, pk->l3_len, ts, name))
        return;
    f->fd->classify = CLS_DONE;
    emit_protocol(ft, f, side, ts, name);
}

/* Returns a flow's reassembly state to the free list. */
static void recycle_fd(struct cap_flow_table *ft, struct flow *f)
{
    cap_reasm_release(ft->pool, &f->fd->dir[0]);
    cap_reasm_release(ft->pool, &f->fd->dir[1]);
    cap_ndpi_flow_release(&f->fd->ndpi);
    f->fd->next_free = ft->free_fd;
    ft->free_fd = f->fd;
    f->fd = NULL;
}

/* Ends a live flow: delivers what is deliverable, reports the remaining
 * holes, calls flow_end and recycles the reassembly state.  The entry
 * stays in the hash but leaves the live list (FS_CLOSED, on no list): the
 * caller removes it (remove_flow) or keeps it as a tombstone (bury; see
 * close_flow). */
static void end_flow(struct cap_flow_table *ft, struct flow *f, enum cap_end_reason r,
                     double ts)
{
    struct cap_reasm_out o0, o1;
    char name[CAP_NDPI_NAME_MAX];

    if (f->state == FS_UNWANTED) {      /* nothing left to deliver */
        if (ft->cb && ft->cb->flow_end)
            ft->cb->flow_end(ft->arg, f->handle, r, ts);
        f->handle = NULL;
        f->state = FS_CLOSED;
        lru_unlink(ft, f);
        return;
    }
    if (f->state != FS_OPEN)
        return;
    if (f->fd->classify == CLS_PENDING) {   /* undecided: nDPI's guess */
        f->fd->classify = CLS_DONE;
        if (!f->fd->stop && cap_ndpi_giveup(ft->ndpi, &f->fd->ndpi, name))
            emit_protocol(ft, f, 0, ts, name);
    }
    o0 = out_for(ft, f, 0);
    o1 = out_for(ft, f, 1);
    cap_reasm_flush(ft->pool, &f->fd->dir[0], &o0, ts);
    cap_reasm_flush(ft->pool, &f->fd->dir[1], &o1, ts);
    if (ft->cb && ft->cb->flow_end)
        ft->cb->flow_end(ft->arg, f->handle, r, ts);
    recycle_fd(ft, f);
    f->handle = NULL;
    f->state = FS_CLOSED;
    lru_unlink(ft, f);
}

/* Ends a live flow that ended by itself (FIN, RST) and keeps its entry as
 * a tombstone for the connection's late packets. */
static void close_flow(struct cap_flow_table *ft, struct flow *f, enum cap_end_reason r,
                       double ts)
{
    end_flow(ft, f, r, ts);
    bury(ft, f, FS_CLOSED);
}

/* The consumer wants no more bytes of open flow f: drops its reassembly
 * and classification state; from now on only FIN/RST/ISN and the time are
 * followed (track_unwanted) until flow_end. */
static void make_unwanted(struct cap_flow_table *ft, struct flow *f, double ts)
{
    recycle_fd(ft, f);
    f->state = FS_UNWANTED;
    if (f->fin[0] && f->fin[1])
        close_flow(ft, f, CAP_END_FIN, ts);
}

/* Makes room in the live list by ending (CAP_END_EVICTED) its least
 * recently active flow.  Its entry stays as an FS_EVICTED tombstone, so
 * the connection's later packets are absorbed (and counted) instead of
 * starting a new mid-stream flow each time. */
static void evict_one(struct cap_flow_table *ft)
{
    struct flow *f = ft->live.head;

    if (f == NULL)
        return;
    ft->st->evicted++;
    end_flow(ft, f, CAP_END_EVICTED, f->last_ts);
    bury(ft, f, FS_EVICTED);
}

/* Takes an entry from the free list (grows by a slab).  NULL on OOM. */
static struct flow *alloc_flow(struct cap_flow_table *ft)
{
    struct flow *f;

    if (ft->free_flows == NULL) {
        struct flow_slab *s = malloc(sizeof *s);
        size_t i;

        if (s == NULL)
            return NULL;
        s->next = ft->slabs;
        ft->slabs = s;
        for (i = 0; i < FLOW_SLAB_ENTRIES; i++) {
            s->e[i].hnext = ft->free_flows;
            ft->free_flows = &s->e[i];
        }
    }
    f = ft->free_flows;
    ft->free_flows = f->hnext;
    memset(f, 0, sizeof *f);
    return f;
}

/* Takes reassembly state from the free list or malloc.  NULL on OOM. */
static struct flow_data *alloc_fd(struct cap_flow_table *ft)
{
    struct flow_data *fd = ft->free_fd;

    if (fd)
        ft->free_fd = fd->next_free;
    else
        fd = malloc(sizeof *fd);
    if (fd) {
        cap_reasm_init(&fd->dir[0]);
        cap_reasm_init(&fd->dir[1]);
        fd->ndpi.nf = NULL;
        fd->ndpi.packets = 0;
        fd->stop = 0;
        fd->classify = CLS_NONE;
    }
    return fd;
}

/* Fills endpoint e from key endpoint a (which = 1) or b. */
static void key_endpoint(const struct flow_key *k, int which_a, struct cap_endpoint *e)
{
    memset(e, 0, sizeof *e);
    e->family = k->family;
    memcpy(e->addr, which_a ? k->a : k->b, 16);
    e->port = which_a ? k->pa : k->pb;
}

/*
 * Creates the flow of pk (first packet) and asks the consumer.  Decides the
 * sides: pure SYN -> its sender is side 0; SYN/ACK -> its receiver; else
 * (mid-stream) the endpoint whose port is not in the list when exactly one
 * is, else the sender.  NULL on OOM.
 */
static struct flow *create_flow(struct cap_flow_table *ft, const struct cap_pkt *pk,
                                const struct flow_key *k, uint64_t h, int src_is_a,
                                double ts)
{
    struct cap_flow_info fi;
    struct flow *f;
    int syn = (pk->flags & CAP_TH_SYN) != 0, ack = (pk->flags & CAP_TH_ACK) != 0;
    int sender_side;

    if (ft->live.count >= ft->max_flows)
        evict_one(ft);
    f = alloc_flow(ft);
    if (f == NULL)
        return NULL;
    f->key = *k;
    f->hash = h;
    f->last_ts = ts;
    f->hnext = ft->buckets[h & ft->mask];
    ft->buckets[h & ft->mask] = f;
    f->list = L_NONE;                   /* put on a list once its state is known */

    memset(&fi, 0, sizeof fi);
    if (syn && !ack) {
        f->side0_is_a = (uint8_t)src_is_a;
        fi.client_side = 0;
        f->syn_seen = 1;
    } else if (syn && ack) {
        f->side0_is_a = (uint8_t)!src_is_a;
        fi.client_side = 0;
        f->syn_seen = 1;
    } else {
        int sp = port_listed(ft, pk->sport), dp = port_listed(ft, pk->dport);

        if (sp && !dp)
            f->side0_is_a = (uint8_t)!src_is_a;     /* server sent it */
        else
            f->side0_is_a = (uint8_t)src_is_a;
        fi.client_side = -1;
        f->syn_seen = 0;
    }
    fi.syn_seen = f->syn_seen;
    key_endpoint(k, f->side0_is_a, &fi.side[0]);
    key_endpoint(k, !f->side0_is_a, &fi.side[1]);
    fi.vlan = k->vlan;
    fi.ts = ts;
    sender_side = src_is_a == f->side0_is_a ? 0 : 1;

    ft->st->flows++;
    f->state = FS_IGNORED;
    f->handle = ft->cb && ft->cb->flow_start ? ft->cb->flow_start(ft->arg, &fi) : NULL;
    if (f->handle == NULL) {
        bury(ft, f, FS_IGNORED);
        return f;
    }
    f->fd = alloc_fd(ft);
    if (f->fd == NULL) {                /* OOM: give the consumer its end */
        if (ft->cb->flow_end)
            ft->cb->flow_end(ft->arg, f->handle, CAP_END_EOF, ts);
        f->handle = NULL;
        bury(ft, f, FS_IGNORED);
        return f;
    }
    f->state = FS_OPEN;
    lru_append(ft, f, L_LIVE);
    if (ft->all_ports && !port_listed(ft, k->pa) && !port_listed(ft, k->pb))
        f->fd->classify = CLS_PENDING;
    if (!f->syn_seen && ft->cb->event)
        ft->cb->event(ft->arg, f->handle, sender_side, CAP_EV_MIDSTREAM, ts,
                      "first packet of the flow was not a SYN");
    return f;
}

/* True when a SYN with sequence number seq from side is not a
 * retransmission of the SYN already seen from that side. */
static int new_syn(const struct flow *f, int side, uint32_t seq)
{
    return !f->has_isn[side] || f->isn[side] != seq;
}

/* True when SYN pk from side, seen on a tombstone (FS_CLOSED, FS_EVICTED),
 * opens a new connection on the 4-tuple: it is no retransmission of the SYN
 * seen from that side, nor (a SYN/ACK) the answer to the peer's SYN. */
static int tomb_reused(const struct flow *f, int side, const struct cap_pkt *pk)
{
    if (!new_syn(f, side, pk->seq))
        return 0;
    if ((pk->flags & CAP_TH_ACK) && f->has_isn[!side] && pk->ack == f->isn[!side] + 1u)
        return 0;
    return 1;
}

/* A packet of the connection of tombstone f (not a new one): remembers a
 * SYN's ISN; counts what an evicted flow's tombstone absorbs. */
static void absorb(struct cap_flow_table *ft, struct flow *f, int side,
                   const struct cap_pkt *pk)
{
    if ((pk->flags & CAP_TH_SYN) && !f->has_isn[side]) {
        f->has_isn[side] = 1;
        f->isn[side] = pk->seq;
    }
    if (f->state == FS_EVICTED) {
        ft->st->evicted_packets++;
        ft->st->evicted_bytes += (uint64_t)pk->payload_len + pk->payload_missing;
    }
}

/* Follows FIN/RST of a flow the consumer refused (to notice its end). */
static void track_ignored(struct flow *f, int side, const struct cap_pkt *pk)
{
    if ((pk->flags & CAP_TH_SYN) && !f->has_isn[side]) {
        f->has_isn[side] = 1;
        f->isn[side] = pk->seq;
    }
    if (pk->flags & CAP_TH_FIN)
        f->fin[side] = 1;
    if ((pk->flags & CAP_TH_RST) || (f->fin[0] && f->fin[1]))
        f->state = FS_CLOSED;
}

/* Follows FIN/RST of a flow whose bytes the consumer no longer wants and
 * ends it (flow_end) at RST or when both sides sent a FIN. */
static void track_unwanted(struct cap_flow_table *ft, struct flow *f, int side,
                           const struct cap_pkt *pk, double ts)
{
    if ((pk->flags & CAP_TH_SYN) && !f->has_isn[side]) {
        f->has_isn[side] = 1;
        f->isn[side] = pk->seq;
    }
    if (pk->flags & CAP_TH_FIN)
        f->fin[side] = 1;
    touch(ft, f, ts);
    if (pk->flags & CAP_TH_RST)
        close_flow(ft, f, CAP_END_RST, ts);
    else if (f->fin[0] && f->fin[1])
        close_flow(ft, f, CAP_END_FIN, ts);
}

/* Handles pk on an open flow (side = its sender). */
static void process(struct cap_flow_table *ft, struct flow *f, int side,
                    const struct cap_pkt *pk, double ts)
{
    struct cap_reasm_dir *d = &f->fd->dir[side], *od = &f->fd->dir[!side];
    struct cap_reasm_out o = out_for(ft, f, side), oo = out_for(ft, f, !side);
    uint32_t dseq = pk->seq;
    size_t wl = pk->payload_len + pk->payload_missing;

    if (pk->flags & CAP_TH_SYN) {
        if (!f->has_isn[side]) {
            f->has_isn[side] = 1;
            f->isn[side] = pk->seq;
        }
        dseq = pk->seq + 1u;            /* the SYN takes one number */
        cap_reasm_set_base(d, dseq);
    }
    if (pk->flags & CAP_TH_ACK) {
        if (!od->has_base && f->syn_seen)
            cap_reasm_set_base(od, pk->ack);
        cap_reasm_ack(od, pk->ack);
    }
    if (wl) {
        /* bytes the peer proved it received come before this data */
        cap_reasm_resolve_acked(ft->pool, od, &oo, ts);
        if (!f->fd->stop)
            cap_reasm_segment(ft->pool, d, &o, dseq, pk->payload, pk->payload_len,
                              pk->payload_missing, ts);
    }
    if (pk->flags & CAP_TH_FIN) {
        f->fin[side] = 1;
        cap_reasm_fin(d, dseq + (uint32_t)wl);
    }
    if (pk->flags & CAP_TH_RST) {
        close_flow(ft, f, CAP_END_RST, ts);
        return;
    }
    if (f->fd->dir[0].fin_seen && f->fd->dir[1].fin_seen &&
        cap_reasm_fin_done(&f->fd->dir[0]) && cap_reasm_fin_done(&f->fd->dir[1]))
        close_flow(ft, f, CAP_END_FIN, ts);
}

void cap_flow_packet(struct cap_flow_table *ft, const struct cap_pkt *pk, double ts)
{
    struct flow_key k;
    struct flow *f;
    uint64_t h;
    int src_is_a, side;
    int syn = (pk->flags & CAP_TH_SYN) && !(pk->flags & CAP_TH_RST);

    if (!cap_flow_port_wanted(ft, pk->sport) && !cap_flow_port_wanted(ft, pk->dport))
        return;
    make_key(pk, &k, &src_is_a);
    h = key_hash(ft, &k);
    f = lookup(ft, &k, h);
    if (f) {
        side = src_is_a == f->side0_is_a ? 0 : 1;
        if (f->state == FS_OPEN) {
            /* what this packet touches next, asked for at once rather than
             * one miss after another: the direction's state and the
             * consumer's handle */
            __builtin_prefetch(f->fd);
            __builtin_prefetch(&f->fd->dir[side]);
            __builtin_prefetch(f->handle);
        }
        if (f->state == FS_OPEN) {
            /* port reuse: a pure SYN with a new ISN after both FINs, or far
             * outside the old connection's sequence space, starts anew */
            if (syn && !(pk->flags & CAP_TH_ACK) && new_syn(f, side, pk->seq)) {
                int fins = f->fd->dir[0].fin_seen && f->fd->dir[1].fin_seen;

                if (fins || !cap_reasm_seq_plausible(&f->fd->dir[side], pk->seq + 1u)) {
                    end_flow(ft, f, fins ? CAP_END_FIN : CAP_END_TIMEOUT, f->last_ts);
                    remove_flow(ft, f);
                    f = NULL;
                }
            }
        } else if ((f->state == FS_CLOSED || f->state == FS_EVICTED) && syn &&
                   tomb_reused(f, side, pk)) {
            remove_flow(ft, f);         /* tombstone of an ended connection */
            f = NULL;
        } else if (f->state == FS_UNWANTED) {
            /* a pure SYN with a new ISN: the connection was left without a
             * FIN we saw and its 4-tuple is reused */
            if (syn && !(pk->flags & CAP_TH_ACK) && new_syn(f, side, pk->seq)) {
                end_flow(ft, f, CAP_END_TIMEOUT, f->last_ts);
                remove_flow(ft, f);
                f = NULL;
            } else {
                track_unwanted(ft, f, side, pk, ts);
                return;
            }
        } else {
            if (f->state == FS_IGNORED)
                track_ignored(f, side, pk);
            else
                absorb(ft, f, side, pk);    /* FS_CLOSED, FS_EVICTED */
            touch(ft, f, ts);
            return;
        }
    }
    if (f == NULL) {
        if (pk->flags & CAP_TH_RST)
            return;
        if (!syn && pk->payload_len == 0 && pk->payload_missing == 0)
            return;                     /* nothing to start a flow with */
        f = create_flow(ft, pk, &k, h, src_is_a, ts);
        if (f == NULL)
            return;
        side = src_is_a == f->side0_is_a ? 0 : 1;
        if (f->state == FS_IGNORED) {
            track_ignored(f, side, pk);
            return;
        }
        if (f->state != FS_OPEN)
            return;
    }
    touch(ft, f, ts);
    if (f->fd->classify == CLS_PENDING)
        classify(ft, f, side, pk, ts);
    process(ft, f, side, pk, ts);
    if (f->state == FS_OPEN && f->fd->stop)
        make_unwanted(ft, f, ts);
}

void cap_flow_expire(struct cap_flow_table *ft, double now)
{
    struct flow *f;

    while ((f = ft->live.head) != NULL && f->last_ts + ft->idle < now) {
        end_flow(ft, f, CAP_END_TIMEOUT, f->last_ts);
        remove_flow(ft, f);
    }
    while ((f = ft->tomb.head) != NULL && f->last_ts + ft->idle < now)
        remove_flow(ft, f);
}

void cap_flow_end_all(struct cap_flow_table *ft, enum cap_end_reason r)
{
    struct flow *f;

    while ((f = ft->live.head) != NULL) {
        end_flow(ft, f, r, f->last_ts);
        remove_flow(ft, f);
    }
    while ((f = ft->tomb.head) != NULL)
        remove_flow(ft, f);
}
