/*
 * frag.c — bounded IPv4/IPv6 fragment reassembly.
 *
 * At most CAP_FRAG_MAX_DATAGRAMS datagrams of at most CAP_FRAG_MAX_BYTES
 * each, for at most CAP_FRAG_TIMEOUT seconds of packet time, and at most
 * FRAG_MEM_MAX bytes of buffers in all.  Overlapping fragments: the first
 * copy of each 8-byte block wins.  Anything inconsistent (a second, different
 * last fragment, data past the end, a cut fragment) drops the datagram and
 * counts its fragments in *dropped; the TCP bytes then show up as a gap.
 */
#include "capture/decode_int.h"

#include <stdlib.h>
#include <string.h>

#define FRAG_MEM_MAX   CAP_FRAG_MEM_MAX
/* Buffers grow in steps of this many bytes. */
#define FRAG_BUF_STEP  4096u
#define FRAG_BLOCKS    ((CAP_FRAG_MAX_BYTES + 7u) / 8u)

struct frag_slot {
    int used;
    uint8_t family, proto;
    uint16_t vlan;
    uint32_t id;
    uint8_t src[16], dst[16];
    double first_ts;
    int have_last;
    uint32_t total;             /* datagram length when have_last            */
    uint32_t max_end;           /* highest byte end seen                     */
    uint32_t blocks_set;
    uint32_t nfrags;            /* fragments held (counted when dropped)     */
    uint8_t *buf;               /* kept when the slot is freed, for reuse    */
    size_t cap;
    uint8_t map[(FRAG_BLOCKS + 7u) / 8u];
};

struct cap_frag_table {
    struct frag_slot *slots;    /* CAP_FRAG_MAX_DATAGRAMS, on first use      */
    size_t mem;                 /* sum of slot buffer capacities             */
};

struct cap_frag_table *cap_frag_new(void)
{
    return calloc(1, sizeof(struct cap_frag_table));
}

void cap_frag_free(struct cap_frag_table *t)
{
    size_t i;

    if (t == NULL)
        return;
    if (t->slots)
        for (i = 0; i < CAP_FRAG_MAX_DATAGRAMS; i++)
            free(t->slots[i].buf);
    free(t->slots);
    free(t);
}

/* Releases slot s, counting its fragments as dropped (if dropped != NULL). */
static void slot_drop(struct frag_slot *s, uint64_t *dropped)
{
    if (dropped)
        *dropped += s->nfrags;
    s->used = 0;
}

/* True when slot s holds the datagram of pk. */
static int slot_match(const struct frag_slot *s, const struct cap_pkt *pk)
{
    return s->used && s->id == pk->frag.id && s->proto == pk->frag.proto &&
           s->family == pk->family && s->vlan == pk->vlan &&
           memcmp(s->src, pk->src, 16) == 0 && memcmp(s->dst, pk->dst, 16) == 0;
}

/* Frees the buffers of unused slots until mem + need fits FRAG_MEM_MAX.
 * Returns 0 when it fits. */
static int make_room(struct cap_frag_table *t, size_t need)
{
    size_t i;

    for (i = 0; i < CAP_FRAG_MAX_DATAGRAMS && t->mem + need > FRAG_MEM_MAX; i++) {
        struct frag_slot *s = &t->slots[i];

        if (!s->used && s->buf) {
            t->mem -= s->cap;
            free(s->buf);
            s->buf = NULL;
            s->cap = 0;
        }
    }
    return t->mem + need > FRAG_MEM_MAX ? -1 : 0;
}

/* Grows s->buf to hold at least n bytes.  Returns -1 (nothing changed) when
 * the memory limit or malloc says no. */
static int slot_reserve(struct cap_frag_table *t, struct frag_slot *s, size_t n)
{
    size_t ncap;
    uint8_t *nb;

    if (s->cap >= n)
        return 0;
    ncap = (n + FRAG_BUF_STEP - 1) / FRAG_BUF_STEP * FRAG_BUF_STEP;
    if (make_room(t, ncap - s->cap))
        return -1;
    nb = realloc(s->buf, ncap);
    if (nb == NULL)
        return -1;
    t->mem += ncap - s->cap;
    s->buf = nb;
    s->cap = ncap;
    return 0;
}

/* Finds the slot of pk's datagram or starts one (evicting the oldest when
 * all are in use).  NULL on out of memory. */
static struct frag_slot *slot_get(struct cap_frag_table *t, const struct cap_pkt *pk,
                                  double ts, uint64_t *dropped)
{
    struct frag_slot *freeslot = NULL, *oldest = NULL, *s;
    size_t i;

    if (t->slots == NULL) {
        t->slots = calloc(CAP_FRAG_MAX_DATAGRAMS, sizeof *t->slots);
        if (t->slots == NULL)
            return NULL;
    }
    for (i = 0; i < CAP_FRAG_MAX_DATAGRAMS; i++) {
        s = &t->slots[i];
        if (slot_match(s, pk))
            return s;
        if (!s->used) {
            if (freeslot == NULL)
                freeslot = s;
        } else if (oldest == NULL || s->first_ts < oldest->first_ts) {
            oldest = s;
        }
    }
    s = freeslot;
    if (s == NULL) {
        s = oldest;
        slot_drop(s, dropped);
    }
    s->used = 1;
    s->family = pk->family;
    s->proto = pk->frag.proto;
    s->vlan = pk->vlan;
    s->id = pk->frag.id;
    memcpy(s->src, pk->src, 16);
    memcpy(s->dst, pk->dst, 16);
    s->first_ts = ts;
    s->have_last = 0;
    s->total = 0;
    s->max_end = 0;
    s->blocks_set = 0;
    s->nfrags = 0;
    memset(s->map, 0, sizeof s->map);
    return s;
}

int cap_frag_add(struct cap_frag_table *t, const struct cap_pkt *pk,
                 double ts, const uint8_t **data, size_t *len,
                 uint64_t *dropped)
{
    struct frag_slot *s;
    size_t off = pk->frag.off, n = pk->frag.len, end = off + n, b, bend;

    *data = NULL;
    *len = 0;
    s = slot_get(t, pk, ts, dropped);
    if (s == NULL) {
        (*dropped)++;
        return 0;
    }
    s->nfrags++;                        /* counted from here on if dropped */
    if (pk->frag.missing != 0 || n == 0 || end > CAP_FRAG_MAX_BYTES ||
        (pk->frag.more && (n % 8u) != 0) ||
        (!pk->frag.more && s->have_last && s->total != end) ||
        (!pk->frag.more && s->max_end > end) ||
        (s->have_last && end > s->total)) {
        slot_drop(s, dropped);
        return 0;
    }
    if (slot_reserve(t, s, end)) {
        slot_drop(s, dropped);
        return 0;
    }
    if (!pk->frag.more) {
        s->have_last = 1;
        s->total = (uint32_t)end;
    }
    if (end > s->max_end)
        s->max_end = (uint32_t)end;
    /* first copy of each 8-byte block wins */
    bend = (end + 7u) / 8u;
    for (b = off / 8u; b < bend; b++) {
        size_t boff = b * 8u, blen = end - boff < 8u ? end - boff : 8u;

        if (s->map[b / 8u] & (1u << (b % 8u)))
            continue;
        memcpy(s->buf + boff, pk->frag.data + (boff - off), blen);
        s->map[b / 8u] |= (uint8_t)(1u << (b % 8u));
        s->blocks_set++;
    }
    if (s->have_last && s->blocks_set == (s->total + 7u) / 8u) {
        *data = s->buf;
        *len = s->total;
        s->used = 0;                    /* buffer stays valid until reuse */
        return 1;
    }
    return 0;
}

void cap_frag_expire(struct cap_frag_table *t, double now, uint64_t *dropped)
{
    size_t i;

    if (t->slots == NULL)
        return;
    for (i = 0; i < CAP_FRAG_MAX_DATAGRAMS; i++) {
        struct frag_slot *s = &t->slots[i];

        if (s->used && now - s->first_ts > CAP_FRAG_TIMEOUT)
            slot_drop(s, dropped);
    }
}
