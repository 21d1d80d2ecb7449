/*
 * gen.c — benchmark capture generator for mailtap (bench/run.sh builds it).
 *
 * Reads template TCP conversations from small captures (tests/pcaps), then
 * writes one large pcap in which many copies of them run concurrently:
 *
 *   - K sessions are in flight at any time; packets are emitted round-robin
 *     across them (one packet per session per round), so the file holds K
 *     concurrent connections from start to end (ramp-down at the very end);
 *   - every copy gets its own client address (a bijection of the session
 *     number onto 10.0.0.0/8) and port, a server from a small pool, fresh
 *     ISNs; Ethernet/IPv4/TCP headers are rebuilt, payload is re-segmented
 *     at MSS 1448, IPv4 and TCP checksums are computed;
 *   - message bodies are resized: in cleartext templates the DATA content
 *     after the headers is replaced by generated text lines (dot-stuffed,
 *     CRLF, terminated by CRLF.CRLF) of a log-uniform size in
 *     [--body-min, --body-max]; in TLS templates (STARTTLS, implicit TLS)
 *     the same amount of application-data records is inserted after a
 *     client record in the middle of the encrypted part;
 *   - with --smtp-share < 1 other TCP is mixed in (HTTP on port 80, TLS on
 *     443) until SMTP is that share of the payload bytes.
 *
 * Everything is derived from --seed: the same arguments give the same file.
 * A small manifest (key=value) gives what was written, in particular the
 * number of SMTP sessions a complete analyser must find.
 *
 * The addresses are only bytes in a file; nothing is sent anywhere.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSS 1448u
#define POOL 1048576u             /* text / random pools (stored twice)     */
#define TLS_REC 16406u            /* 5-byte header + 16401 (16 KiB + tag)   */

/* ------------------------------------------------------------------ util */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

/* xoshiro256** seeded by splitmix64 */
struct rng { uint64_t s[4]; };

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rnd(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}

static inline uint64_t rnd_below(struct rng *r, uint64_t n) { return n ? rnd(r) % n : 0; }

static double rnd_unit(struct rng *r) { return (rnd(r) >> 11) * (1.0 / 9007199254740992.0); }

/* log-uniform integer in [lo, hi] */
static uint64_t rnd_logu(struct rng *r, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    double v = exp(log((double)lo) + rnd_unit(r) * (log((double)hi) - log((double)lo)));
    uint64_t n = (uint64_t)v;
    return n < lo ? lo : n > hi ? hi : n;
}

static uint64_t parse_size(const char *s)
{
    char *e;
    double v = strtod(s, &e);
    switch (*e) {
    case 'k': case 'K': v *= 1e3; break;
    case 'm': case 'M': v *= 1e6; break;
    case 'g': case 'G': v *= 1e9; break;
    case 0: break;
    default: die("bad size '%s'", s);
    }
    return (uint64_t)v;
}

static const uint8_t *memmem_ci(const uint8_t *h, size_t hl, const char *n)
{
    size_t nl = strlen(n);
    for (size_t i = 0; i + nl <= hl; i++)
        if (strncasecmp((const char *)h + i, n, nl) == 0)
            return h + i;
    return NULL;
}

/* ------------------------------------------------------------- templates */

enum { ST_CTRL, ST_DATA, ST_TEXT, ST_TLS, ST_RAW };
enum { DIR_C = 0, DIR_S = 1 };
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

struct step {
    uint8_t type, dir, flags;   /* flags: ST_CTRL only                      */
    uint8_t rtype;              /* ST_TLS: record content type              */
    uint8_t var;                /* length from the session's vlen           */
    uint32_t len;               /* bytes (ST_CTRL: 0)                       */
    const uint8_t *p;           /* ST_DATA                                  */
};

enum { CL_STARTTLS, CL_IMPLICIT, CL_CLEAR, CL_N };
static const char *const class_name[CL_N] = { "starttls", "implicit_tls", "cleartext" };

struct tmpl {
    char name[96];
    int cls;
    uint16_t sport;             /* server port                              */
    struct step *st;
    int nst;
    uint64_t fixed_bytes;       /* payload not counting the variable step   */
    int has_var;                /* body slot (text) or TLS insertion        */
    int var_type;               /* ST_TEXT or ST_TLS                        */
};

static struct tmpl *tmpls;
static int ntmpl;
static int by_class[CL_N][256], n_by_class[CL_N];

static void tmpl_add_step(struct tmpl *t, struct step s)
{
    if ((t->nst & 31) == 0)
        t->st = xrealloc(t->st, (t->nst + 32) * sizeof *t->st);
    t->st[t->nst++] = s;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = xmalloc(n);
    memcpy(d, p, n);
    return d;
}

/* One captured packet of a template flow. */
struct tpkt {
    int dir;
    uint8_t flags;
    uint32_t seq;
    uint8_t *data;
    uint32_t len;
};

struct tflow {
    uint8_t a[16], b[16];       /* a = first sender                          */
    uint16_t pa, pb;
    int fam;
    struct tpkt *p;
    int np;
    int bad;
    int add_close;              /* ended after "221" without FIN: add one    */
};

/* Decodes a packet down to TCP.  Returns 0 and fills the out-params. */
static int decode(int dlt, const uint8_t *d, uint32_t caplen, int *fam,
                  const uint8_t **src, const uint8_t **dst, const uint8_t **tcp,
                  uint32_t *tcplen)
{
    uint32_t off = 0;
    int proto = -1;             /* ethertype-like: 0x0800 / 0x86dd          */
    switch (dlt) {
    case DLT_EN10MB: {
        if (caplen < 14) return -1;
        uint16_t et = (uint16_t)(d[12] << 8 | d[13]);
        off = 14;
        for (int i = 0; i < 4 && (et == 0x8100 || et == 0x88a8 || et == 0x9100); i++) {
            if (caplen < off + 4) return -1;
            et = (uint16_t)(d[off + 2] << 8 | d[off + 3]);
            off += 4;
        }
        proto = et;
        break;
    }
    case DLT_RAW: case 14: case 101:
        break;
    case DLT_NULL: case DLT_LOOP:
        off = 4;
        break;
    case DLT_LINUX_SLL:
        if (caplen < 16) return -1;
        proto = d[14] << 8 | d[15];
        off = 16;
        break;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2:
        if (caplen < 20) return -1;
        proto = d[0] << 8 | d[1];
        off = 20;
        break;
#endif
    default:
        return -1;
    }
    if (caplen <= off)
        return -1;
    const uint8_t *ip = d + off;
    uint32_t il = caplen - off;
    if (proto < 0)
        proto = (ip[0] >> 4) == 6 ? 0x86dd : 0x0800;
    if (proto == 0x0800) {
        if (il < 20 || (ip[0] >> 4) != 4) return -1;
        uint32_t hl = (ip[0] & 15u) * 4u, tot = (uint32_t)(ip[2] << 8 | ip[3]);
        if (ip[9] != 6 || hl < 20 || tot > il || tot < hl) return -1;
        if ((ip[6] & 0x3f) || ip[7]) return -1;          /* fragment */
        *fam = 4; *src = ip + 12; *dst = ip + 16;
        *tcp = ip + hl; *tcplen = tot - hl;
    } else if (proto == 0x86dd) {
        if (il < 40 || ip[6] != 6) return -1;
        uint32_t pl = (uint32_t)(ip[4] << 8 | ip[5]);
        if (pl + 40 > il) return -1;
        *fam = 6; *src = ip + 8; *dst = ip + 24;
        *tcp = ip + 40; *tcplen = pl;
    } else {
        return -1;
    }
    if (*tcplen < 20 || (uint32_t)((*tcp)[12] >> 4) * 4 > *tcplen)
        return -1;
    return 0;
}

static void load_file(const char *path, struct tflow **flows, int *nflows)
{
    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, eb);
    if (!pc) {
        fprintf(stderr, "gen: %s: %s (skipped)\n", path, eb);
        return;
    }
    int dlt = pcap_datalink(pc);
    struct pcap_pkthdr *h;
    const uint8_t *d;
    int first = *nflows;
    while (pcap_next_ex(pc, &h, &d) == 1) {
        int fam;
        const uint8_t *s, *t, *tcp;
        uint32_t tl;
        if (decode(dlt, d, h->caplen, &fam, &s, &t, &tcp, &tl) < 0)
            continue;
        int al = fam == 4 ? 4 : 16;
        uint16_t sp = (uint16_t)(tcp[0] << 8 | tcp[1]), dp = (uint16_t)(tcp[2] << 8 | tcp[3]);
        struct tflow *f = NULL;
        int dir = 0;
        for (int i = first; i < *nflows; i++) {
            struct tflow *g = &(*flows)[i];
            if (g->fam != fam) continue;
            if (!memcmp(g->a, s, al) && !memcmp(g->b, t, al) && g->pa == sp && g->pb == dp) { f = g; dir = 0; break; }
            if (!memcmp(g->a, t, al) && !memcmp(g->b, s, al) && g->pa == dp && g->pb == sp) { f = g; dir = 1; break; }
        }
        if (!f) {
            *flows = xrealloc(*flows, (*nflows + 1) * sizeof **flows);
            f = &(*flows)[(*nflows)++];
            memset(f, 0, sizeof *f);
            f->fam = fam;
            memcpy(f->a, s, al); memcpy(f->b, t, al);
            f->pa = sp; f->pb = dp;
        }
        uint32_t hl = (uint32_t)(tcp[12] >> 4) * 4;
        if (h->caplen < h->len)
            f->bad = 1;                                   /* snaplen cut */
        f->p = xrealloc(f->p, (f->np + 1) * sizeof *f->p);
        struct tpkt *p = &f->p[f->np++];
        p->dir = dir;
        p->flags = tcp[13];
        p->seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
        p->len = tl - hl;
        p->data = dup_bytes(tcp + hl, p->len);
    }
    pcap_close(pc);
}

/* A template flow must be a clean, complete conversation: SYN first, one
 * SYN and one SYN/ACK, payload in order in both directions, no overlap, a
 * FIN or RST at the end, payload both ways. */
static int flow_clean(struct tflow *f, const char **why)
{
    if (f->bad) { *why = "snaplen"; return 0; }
    if (f->np < 4 || f->p[0].flags != F_SYN || f->p[0].dir != 0) { *why = "no SYN first"; return 0; }
    int syn = 0, synack = 0, end = 0;
    uint64_t pay[2] = { 0, 0 };
    uint32_t next[2] = { 0, 0 };
    int have[2] = { 0, 0 };
    for (int i = 0; i < f->np; i++) {
        const struct tpkt *p = &f->p[i];
        if (p->flags & F_SYN) {
            if (p->flags & F_ACK) synack++; else syn++;
            if (p->dir != ((p->flags & F_ACK) ? 1 : 0)) { *why = "SYN direction"; return 0; }
            next[p->dir] = p->seq + 1;
            have[p->dir] = 1;
            continue;
        }
        if (!have[p->dir]) { *why = "data before SYN"; return 0; }
        if (p->len) {
            if (p->seq != next[p->dir]) { *why = "retransmission/reordering"; return 0; }
            next[p->dir] += p->len;
            pay[p->dir] += p->len;
        } else if ((p->flags & (F_FIN | F_RST)) == 0 && p->seq != next[p->dir]) {
            *why = "odd ACK"; return 0;
        }
        if (p->flags & F_FIN) next[p->dir]++;
        if (p->flags & (F_FIN | F_RST)) end = 1;
    }
    if (syn != 1 || synack != 1) { *why = "SYN count"; return 0; }
    if (!end) {
        /* a capture stopped right after the server's 221 to QUIT: the
         * conversation is complete, only the close is missing */
        const struct tpkt *l = NULL;
        for (int i = f->np - 1; i >= 0 && !l; i--)
            if (f->p[i].len)
                l = &f->p[i];
        if (!l || l->dir != 1 || l->len < 4 || memcmp(l->data, "221 ", 4)) {
            *why = "no FIN/RST";
            return 0;
        }
        f->add_close = 1;
    }
    if (!pay[0] || !pay[1]) { *why = "one-sided"; return 0; }
    return 1;
}

/* Walks TLS records over the client DATA steps of a template from step
 * `from`; returns the step after which application data can be inserted
 * (a client step made of whole records, the first an application-data
 * record; the middle candidate), or -1. */
static int tls_insert_point(const struct tmpl *t, int from)
{
    int cand[256], nc = 0, seen_app = 0;
    uint64_t need = 0;          /* bytes left of the current record         */
    uint8_t hdr[5];
    int hl = 0;                 /* header bytes collected                   */
    for (int i = from; i < t->nst; i++) {
        const struct step *s = &t->st[i];
        if (s->type != ST_DATA || s->dir != DIR_C)
            continue;
        int at_boundary = need == 0 && hl == 0;
        int starts_app = at_boundary && s->len > 0 && s->p[0] == 0x17;
        for (uint32_t k = 0; k < s->len;) {
            if (need) {
                uint64_t n = need < s->len - k ? need : s->len - k;
                need -= n; k += (uint32_t)n;
                continue;
            }
            hdr[hl++] = s->p[k++];
            if (hl == 5) {
                if (hdr[0] < 20 || hdr[0] > 24 || hdr[1] != 3)
                    return nc ? cand[nc / 2] : -1;      /* not TLS any more */
                need = (uint64_t)(hdr[3] << 8 | hdr[4]);
                hl = 0;
            }
        }
        if (starts_app && need == 0 && hl == 0) {
            if (seen_app++ && nc < 256)  /* skip the first (TLS 1.3 Finished) */
                cand[nc++] = i;
        }
    }
    if (!nc && seen_app) {
        /* only one application record step: insert after it anyway */
        for (int i = t->nst - 1; i >= from; i--)
            if (t->st[i].type == ST_DATA && t->st[i].dir == DIR_C && t->st[i].p[0] == 0x17)
                return i;
    }
    return nc ? cand[nc / 2] : -1;
}

static void tmpl_insert_step(struct tmpl *t, int at, struct step s)
{
    tmpl_add_step(t, s);                       /* grow */
    memmove(&t->st[at + 1], &t->st[at], (t->nst - 1 - at) * sizeof *t->st);
    t->st[at] = s;
}

/* Classifies the template and installs its variable step. */
static void tmpl_finish(struct tmpl *t)
{
    int tls_from = -1;
    t->cls = CL_CLEAR;
    /* first client data step */
    int fc = -1;
    for (int i = 0; i < t->nst; i++)
        if (t->st[i].type == ST_DATA && t->st[i].dir == DIR_C) { fc = i; break; }
    if (fc >= 0 && t->st[fc].p[0] == 0x16 && t->st[fc].len > 5 && t->st[fc].p[1] == 3) {
        t->cls = CL_IMPLICIT;
        tls_from = fc;
    } else {
        for (int i = 0; i < t->nst && tls_from < 0; i++) {
            const struct step *s = &t->st[i];
            if (s->type != ST_DATA || s->dir != DIR_C || s->len < 10)
                continue;
            if (strncasecmp((const char *)s->p + s->len - 10, "STARTTLS\r\n", 10))
                continue;
            /* reply 220, then a client record */
            int j = i + 1;
            while (j < t->nst && !(t->st[j].type == ST_DATA && t->st[j].dir == DIR_S)) j++;
            if (j >= t->nst || t->st[j].len < 3 || memcmp(t->st[j].p, "220", 3)) continue;
            while (j < t->nst && !(t->st[j].type == ST_DATA && t->st[j].dir == DIR_C)) j++;
            if (j < t->nst && t->st[j].p[0] == 0x16) {
                t->cls = CL_STARTTLS;
                tls_from = j;
            }
        }
    }
    if (tls_from >= 0) {
        int at = tls_insert_point(t, tls_from);
        if (at >= 0) {
            struct step s = { .type = ST_TLS, .dir = DIR_C, .rtype = 0x17, .var = 1 };
            tmpl_insert_step(t, at + 1, s);
            t->has_var = 1;
            t->var_type = ST_TLS;
        }
    } else {
        /* cleartext: find the first DATA command answered by 354 and the
         * content steps up to CRLF.CRLF */
        for (int i = 0; i < t->nst && !t->has_var; i++) {
            const struct step *s = &t->st[i];
            if (s->type != ST_DATA || s->dir != DIR_C || s->len < 6 ||
                strncasecmp((const char *)s->p + s->len - 6, "DATA\r\n", 6))
                continue;
            int j = i + 1;
            while (j < t->nst && !(t->st[j].type == ST_DATA && t->st[j].dir == DIR_S)) j++;
            if (j >= t->nst || !memmem_ci(t->st[j].p, t->st[j].len, "354"))
                continue;
            /* client content steps after the 354: no server data in between */
            int k = j + 1, last = -1;
            size_t tot = 0;
            uint8_t tail[5] = { 0, 0, 0, 0, 0 };
            while (k < t->nst && !(t->st[k].type == ST_DATA && t->st[k].dir == DIR_S)) {
                const struct step *c = &t->st[k];
                if (c->type == ST_DATA) {
                    for (uint32_t q = 0; q < c->len; q++) {
                        memmove(tail, tail + 1, 4);
                        tail[4] = c->p[q];
                    }
                    tot += c->len;
                    if (tot >= 5 && !memcmp(tail, "\r\n.\r\n", 5)) {
                        last = k;
                        break;
                    }
                }
                k++;
            }
            if (last < 0)
                continue;
            uint8_t *m = xmalloc(tot);
            size_t o = 0;
            for (k = j + 1; k <= last; k++)
                if (t->st[k].type == ST_DATA) {
                    memcpy(m + o, t->st[k].p, t->st[k].len);
                    o += t->st[k].len;
                }
            if (o < 5 || memcmp(m + o - 5, "\r\n.\r\n", 5)) { free(m); continue; }
            const uint8_t *he = memmem_ci(m, o, "\r\n\r\n");
            size_t hlen = he ? (size_t)(he - m) + 4 : 0;   /* headers + blank line */
            /* replace steps j+1..last by: DATA(headers) TEXT DATA(".\r\n") */
            int nrm = last - j;
            memmove(&t->st[j + 1], &t->st[last + 1], (t->nst - last - 1) * sizeof *t->st);
            t->nst -= nrm;
            int at = j + 1;
            static const uint8_t dot[] = ".\r\n";
            if (hlen) {
                tmpl_insert_step(t, at++, (struct step){ .type = ST_DATA, .dir = DIR_C,
                                                         .len = (uint32_t)hlen, .p = m });
            } else {
                free(m);
            }
            tmpl_insert_step(t, at++, (struct step){ .type = ST_TEXT, .dir = DIR_C, .var = 1 });
            tmpl_insert_step(t, at, (struct step){ .type = ST_DATA, .dir = DIR_C, .len = 3, .p = dot });
            t->has_var = 1;
            t->var_type = ST_TEXT;
        }
    }
    t->fixed_bytes = 0;
    for (int i = 0; i < t->nst; i++)
        if (!t->st[i].var)
            t->fixed_bytes += t->st[i].len;
}

static struct tmpl *new_tmpl(const char *name, uint16_t sport)
{
    if (ntmpl >= 1024)
        die("too many templates");
    tmpls = xrealloc(tmpls, (ntmpl + 1) * sizeof *tmpls);
    struct tmpl *t = &tmpls[ntmpl++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->sport = sport;
    return t;
}

static void flow_to_tmpl(const struct tflow *f, const char *name)
{
    struct tmpl *t = new_tmpl(name, f->pb);
    for (int i = 0; i < f->np; i++) {
        const struct tpkt *p = &f->p[i];
        uint8_t ctl = p->flags & (F_SYN | F_FIN | F_RST | F_ACK);
        if (p->len) {
            tmpl_add_step(t, (struct step){ .type = ST_DATA, .dir = (uint8_t)p->dir,
                                            .len = p->len, .p = p->data });
            if (p->flags & (F_FIN | F_RST))
                tmpl_add_step(t, (struct step){ .type = ST_CTRL, .dir = (uint8_t)p->dir,
                                                .flags = ctl });
        } else {
            tmpl_add_step(t, (struct step){ .type = ST_CTRL, .dir = (uint8_t)p->dir,
                                            .flags = ctl ? ctl : F_ACK });
        }
    }
    if (f->add_close) {
        tmpl_add_step(t, (struct step){ .type = ST_CTRL, .dir = DIR_S, .flags = F_FIN | F_ACK });
        tmpl_add_step(t, (struct step){ .type = ST_CTRL, .dir = DIR_C, .flags = F_FIN | F_ACK });
        tmpl_add_step(t, (struct step){ .type = ST_CTRL, .dir = DIR_S, .flags = F_ACK });
    }
    tmpl_finish(t);
}

/* ---- built-in templates (used for a class no capture provides) ---------- */

static void b_ctrl(struct tmpl *t, int dir, uint8_t fl)
{
    tmpl_add_step(t, (struct step){ .type = ST_CTRL, .dir = (uint8_t)dir, .flags = fl });
}

static void b_data(struct tmpl *t, int dir, const void *p, size_t n)
{
    tmpl_add_step(t, (struct step){ .type = ST_DATA, .dir = (uint8_t)dir, .len = (uint32_t)n,
                                    .p = dup_bytes(p, n) });
}

static void b_str(struct tmpl *t, int dir, const char *s) { b_data(t, dir, s, strlen(s)); }

static void b_open(struct tmpl *t)
{
    b_ctrl(t, DIR_C, F_SYN);
    b_ctrl(t, DIR_S, F_SYN | F_ACK);
    b_ctrl(t, DIR_C, F_ACK);
}

static void b_close(struct tmpl *t)
{
    b_ctrl(t, DIR_C, F_FIN | F_ACK);
    b_ctrl(t, DIR_S, F_FIN | F_ACK);
    b_ctrl(t, DIR_C, F_ACK);
}

/* A TLS record with pseudo-random content. */
static void b_rec(struct tmpl *t, struct rng *r, int dir, uint8_t type, size_t n)
{
    uint8_t *b = xmalloc(n + 5);
    b[0] = type; b[1] = 3; b[2] = 3; b[3] = (uint8_t)(n >> 8); b[4] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        b[5 + i] = (uint8_t)rnd(r);
    tmpl_add_step(t, (struct step){ .type = ST_DATA, .dir = (uint8_t)dir,
                                    .len = (uint32_t)n + 5, .p = b });
}

static size_t client_hello(uint8_t *out, struct rng *r, const char *sni);
static size_t server_flight(uint8_t *out, struct rng *r);

static void b_tls(struct tmpl *t, struct rng *r, const char *sni)
{
    uint8_t buf[1024];
    size_t n = client_hello(buf, r, sni);
    b_data(t, DIR_C, buf, n);
    n = server_flight(buf, r);
    b_data(t, DIR_S, buf, n);
    b_data(t, DIR_C, "\x14\x03\x03\x00\x01\x01", 6);
    b_rec(t, r, DIR_C, 0x16, 40);
    static const int cs[] = { 40, 60, 30, 700, 20 }, ss[] = { 50, 200, 40, 30, 30 };
    for (int i = 0; i < 5; i++) {
        b_rec(t, r, DIR_S, 0x17, ss[i]);
        b_rec(t, r, DIR_C, 0x17, cs[i]);
    }
    b_close(t);
}

static void builtin(int cls, struct rng *r)
{
    static const char ehlo_tls[] = "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n"
                                   "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n";
    struct tmpl *t;
    switch (cls) {
    case CL_IMPLICIT:
        t = new_tmpl("builtin:implicit_tls_465", 465);
        b_open(t);
        b_tls(t, r, "smtp.example.net");
        break;
    case CL_STARTTLS:
        t = new_tmpl("builtin:starttls_25", 25);
        b_open(t);
        b_str(t, DIR_S, "220 mx.example.net ESMTP Postfix\r\n");
        b_str(t, DIR_C, "EHLO client.example.org\r\n");
        b_str(t, DIR_S, ehlo_tls);
        b_str(t, DIR_C, "STARTTLS\r\n");
        b_str(t, DIR_S, "220 2.0.0 Ready to start TLS\r\n");
        b_tls(t, r, "mx.example.net");
        break;
    default:
        t = new_tmpl("builtin:cleartext_25", 25);
        b_open(t);
        b_str(t, DIR_S, "220 mx.example.net ESMTP Postfix\r\n");
        b_str(t, DIR_C, "EHLO client.example.org\r\n");
        b_str(t, DIR_S, ehlo_tls);
        b_str(t, DIR_C, "MAIL FROM:<alice@example.org>\r\n");
        b_str(t, DIR_S, "250 2.1.0 Ok\r\n");
        b_str(t, DIR_C, "RCPT TO:<bob@example.com>\r\n");
        b_str(t, DIR_S, "250 2.1.5 Ok\r\n");
        b_str(t, DIR_C, "DATA\r\n");
        b_str(t, DIR_S, "354 End data with <CR><LF>.<CR><LF>\r\n");
        b_str(t, DIR_C, "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n"
                        "Subject: benchmark\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
                        "Message-ID: <bench.1@example.org>\r\n\r\nHello.\r\n.\r\n");
        b_str(t, DIR_S, "250 2.0.0 Ok: queued as 4SVXq12345\r\n");
        b_str(t, DIR_C, "QUIT\r\n");
        b_str(t, DIR_S, "221 2.0.0 Bye\r\n");
        b_close(t);
        break;
    }
    tmpl_finish(t);
}

/* ---- TLS hello messages (for built-in templates and port 443 flows) ----- */

static size_t put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; return 2; }

static size_t client_hello(uint8_t *out, struct rng *r, const char *sni)
{
    uint8_t hb[600];
    size_t n = 0;
    n += put16(hb + n, 0x0303);
    for (int i = 0; i < 32; i++) hb[n++] = (uint8_t)rnd(r);      /* random     */
    hb[n++] = 32;
    for (int i = 0; i < 32; i++) hb[n++] = (uint8_t)rnd(r);      /* session id */
    static const uint16_t suites[] = { 0x1301, 0x1302, 0x1303, 0xC02F, 0xC030, 0xC02B, 0xC02C };
    n += put16(hb + n, 2 * 7);
    for (int i = 0; i < 7; i++) n += put16(hb + n, suites[i]);
    hb[n++] = 1; hb[n++] = 0;                                     /* null comp  */
    size_t elen_at = n;
    n += 2;
    size_t hl = strlen(sni);
    n += put16(hb + n, 0);                                        /* server_name */
    n += put16(hb + n, (unsigned)hl + 5);
    n += put16(hb + n, (unsigned)hl + 3);
    hb[n++] = 0;
    n += put16(hb + n, (unsigned)hl);
    memcpy(hb + n, sni, hl); n += hl;
    n += put16(hb + n, 10); n += put16(hb + n, 6); n += put16(hb + n, 4);
    n += put16(hb + n, 0x001d); n += put16(hb + n, 0x0017);        /* groups     */
    n += put16(hb + n, 13); n += put16(hb + n, 8); n += put16(hb + n, 6);
    n += put16(hb + n, 0x0804); n += put16(hb + n, 0x0403); n += put16(hb + n, 0x0401);
    n += put16(hb + n, 43); n += put16(hb + n, 5); hb[n++] = 4;     /* versions   */
    n += put16(hb + n, 0x0304); n += put16(hb + n, 0x0303);
    n += put16(hb + n, 51); n += put16(hb + n, 38); n += put16(hb + n, 36); /* key_share */
    n += put16(hb + n, 0x001d); n += put16(hb + n, 32);
    for (int i = 0; i < 32; i++) hb[n++] = (uint8_t)rnd(r);
    put16(hb + elen_at, (unsigned)(n - elen_at - 2));
    size_t o = 0;
    out[o++] = 0x16; o += put16(out + o, 0x0301); o += put16(out + o, (unsigned)n + 4);
    out[o++] = 1; out[o++] = 0; o += put16(out + o, (unsigned)n);
    memcpy(out + o, hb, n);
    return o + n;
}

/* TLS 1.2 ServerHello (ECDHE-RSA-AES128-GCM-SHA256) + CCS + Finished. */
static size_t server_flight(uint8_t *out, struct rng *r)
{
    uint8_t hb[128];
    size_t n = 0;
    n += put16(hb + n, 0x0303);
    for (int i = 0; i < 32; i++) hb[n++] = (uint8_t)rnd(r);
    hb[n++] = 32;
    for (int i = 0; i < 32; i++) hb[n++] = (uint8_t)rnd(r);
    n += put16(hb + n, 0xC02F);
    hb[n++] = 0;
    n += put16(hb + n, 5);
    n += put16(hb + n, 0xff01); n += put16(hb + n, 1); hb[n++] = 0;
    size_t o = 0;
    out[o++] = 0x16; o += put16(out + o, 0x0303); o += put16(out + o, (unsigned)n + 4);
    out[o++] = 2; out[o++] = 0; o += put16(out + o, (unsigned)n);
    memcpy(out + o, hb, n); o += n;
    memcpy(out + o, "\x14\x03\x03\x00\x01\x01", 6); o += 6;
    out[o++] = 0x16; o += put16(out + o, 0x0303); o += put16(out + o, 40);
    for (int i = 0; i < 40; i++) out[o++] = (uint8_t)rnd(r);
    return o;
}

/* ----------------------------------------------------------------- pools */

static uint8_t *text_pool, *rand_pool;
static uint32_t *line_start;    /* offsets of line starts in text_pool      */
static size_t nlines;

static void make_pools(uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed ^ 0x706f6f6cull);
    rand_pool = xmalloc(2 * POOL);
    for (size_t i = 0; i < POOL; i += 8) {
        uint64_t v = rnd(&r);
        memcpy(rand_pool + i, &v, 8);
    }
    memcpy(rand_pool + POOL, rand_pool, POOL);

    static const char *const words[] = {
        "the", "quarterly", "report", "is", "attached", "please", "review", "and", "send",
        "comments", "before", "Friday", "meeting", "agenda", "budget", "we", "will", "discuss",
        "project", "timeline", "invoice", "number", "payment", "due", "regards", "thanks",
        "for", "your", "message", "customer", "order", "shipping", "address", "update",
        "server", "maintenance", "window", "scheduled", "tonight", "from", "to", "UTC",
        "a", "of", "in", "on", "with", "this", "that", "it", "be", "as", "at", "by",
    };
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    text_pool = xmalloc(2 * POOL);
    line_start = xmalloc((POOL / 2) * sizeof *line_start);
    size_t o = 0;
    nlines = 0;
    int mode = 0, left = 0;     /* paragraphs of prose or base64 blocks     */
    for (;;) {
        if (left-- <= 0) { mode = rnd_below(&r, 3) == 0; left = 5 + (int)rnd_below(&r, 60); }
        char line[100];
        size_t n = 0;
        if (mode) {
            for (; n < 76; n++) line[n] = b64[rnd_below(&r, 64)];
        } else {
            size_t want = 20 + rnd_below(&r, 57);
            if (rnd_below(&r, 40) == 0) line[n++] = '.';     /* dot-stuffed: ".." */
            if (n) line[n++] = '.';
            while (n < want) {
                const char *w = words[rnd_below(&r, sizeof words / sizeof *words)];
                size_t wl = strlen(w);
                if (n + wl + 1 > 78) break;
                memcpy(line + n, w, wl); n += wl;
                line[n++] = ' ';
            }
            if (rnd_below(&r, 8) == 0) n = 0;                /* empty line */
        }
        if (o + n + 2 > POOL) break;
        line_start[nlines++] = (uint32_t)o;
        memcpy(text_pool + o, line, n); o += n;
        text_pool[o++] = '\r'; text_pool[o++] = '\n';
    }
    /* the pool must be whole lines: pad the rest with one line of 'x' */
    if (POOL - o == 1) {        /* lengthen the last line by one character  */
        text_pool[o - 2] = 'x'; text_pool[o - 1] = '\r'; text_pool[o] = '\n';
        o++;
    }
    if (o < POOL) {
        line_start[nlines++] = (uint32_t)o;
        memset(text_pool + o, 'x', POOL - o - 2);
        text_pool[POOL - 2] = '\r'; text_pool[POOL - 1] = '\n';
    }
    memcpy(text_pool + POOL, text_pool, POOL);
}

/* --------------------------------------------------------------- sessions */

enum { K_SMTP, K_HTTP, K_TLS443 };

struct sess {
    const struct step *st;
    int nst, si;
    uint32_t off;               /* offset in the current step               */
    uint64_t vlen;              /* length of the variable step              */
    uint64_t toff;              /* text/random pool start                   */
    uint32_t seq[2];
    uint32_t ip[2];
    uint16_t port[2];
    uint16_t ipid[2];
    uint8_t mac[2][6];
    int segs;                   /* segments of the current multi-seg step   */
    int ack_owed;               /* a pure ACK from this dir + 1 is due      */
    unsigned cwnd;              /* data segments per turn in a bulk transfer */
    int kind, cls;
    int seen_payload;           /* counted in the prefixes                  */
    /* own steps for HTTP / TLS 443 flows */
    struct step own[24];
    uint8_t buf[1600];
};

/* --prefix BYTES:FILE: the first BYTES of the output (whole packets) also
 * go to FILE, with the number of SMTP sessions that carry payload in it. */
struct prefix {
    const char *path;
    FILE *f;
    uint64_t limit, bytes, packets, smtp_sessions, other_sessions;
};

struct gen {
    FILE *out;
    struct prefix pre[4];
    int npre;
    struct rng r;
    uint64_t ts_us;
    uint64_t packets, bytes, payload;
    uint64_t serial;
    /* statistics */
    uint64_t started[3], smtp_cls[CL_N], tmpl_use[1024];
    uint64_t smtp_payload, other_payload, planned_smtp, planned_all;
    uint64_t body_total, body_n, body_min_seen, body_max_seen;
    uint8_t pkt[2048];
};

static inline uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    uint64_t s = sum;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        s += (v & 0xffffffffu) + (v >> 32);
        p += 8; n -= 8;
    }
    while (n >= 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        s += v;
        p += 2; n -= 2;
    }
    if (n)
        s += *p;                /* little-endian host: low byte first       */
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

static inline uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* Copies len bytes of the variable stream of step type `type` at offset
 * off into dst. */
static void fill_stream(const struct sess *s, const struct step *st, uint64_t total,
                        uint64_t off, uint8_t *dst, uint32_t len)
{
    if (st->type == ST_TEXT) {
        memcpy(dst, text_pool + (s->toff + off) % POOL, len);
        return;
    }
    if (st->type == ST_RAW) {
        memcpy(dst, rand_pool + (s->toff + off) % POOL, len);
        return;
    }
    /* ST_TLS: records of TLS_REC bytes, the last one shorter */
    while (len) {
        uint64_t rec = off / TLS_REC, in = off % TLS_REC;
        uint64_t rlen = total - rec * TLS_REC;
        if (rlen > TLS_REC) rlen = TLS_REC;
        uint32_t n;
        if (in < 5) {
            uint8_t h[5] = { st->rtype, 3, 3, (uint8_t)((rlen - 5) >> 8), (uint8_t)(rlen - 5) };
            n = (uint32_t)(5 - in);
            if (n > len) n = len;
            memcpy(dst, h + in, n);
        } else {
            n = (uint32_t)(rlen - in);
            if (n > len) n = len;
            memcpy(dst, rand_pool + (s->toff + off) % POOL, n);
        }
        dst += n; off += n; len -= n;
    }
}

/* Writes one packet of session s. */
static void emit(struct gen *g, struct sess *s, int dir, uint8_t flags,
                 const uint8_t *pay, uint32_t plen, int fill_step, uint64_t total, uint64_t foff)
{
    uint8_t *p = g->pkt + 16;
    int peer = !dir;
    int opt = (flags & F_SYN) ? 4 : 0;
    uint32_t tcpl = 20u + (uint32_t)opt + plen, ipl = 20u + tcpl, fl = 14u + ipl;
    /* Ethernet */
    memcpy(p, s->mac[peer], 6);
    memcpy(p + 6, s->mac[dir], 6);
    p[12] = 0x08; p[13] = 0x00;
    /* IPv4 */
    uint8_t *ip = p + 14;
    ip[0] = 0x45; ip[1] = 0;
    ip[2] = (uint8_t)(ipl >> 8); ip[3] = (uint8_t)ipl;
    uint16_t id = s->ipid[dir]++;
    ip[4] = (uint8_t)(id >> 8); ip[5] = (uint8_t)id;
    ip[6] = 0x40; ip[7] = 0;
    ip[8] = dir == DIR_C ? 64 : 57; ip[9] = 6;
    ip[10] = ip[11] = 0;
    uint32_t sa = s->ip[dir], da = s->ip[peer];
    ip[12] = (uint8_t)(sa >> 24); ip[13] = (uint8_t)(sa >> 16); ip[14] = (uint8_t)(sa >> 8); ip[15] = (uint8_t)sa;
    ip[16] = (uint8_t)(da >> 24); ip[17] = (uint8_t)(da >> 16); ip[18] = (uint8_t)(da >> 8); ip[19] = (uint8_t)da;
    uint16_t ic = csum_fold(csum_add(0, ip, 20));
    memcpy(ip + 10, &ic, 2);
    /* TCP */
    uint8_t *t = ip + 20;
    t[0] = (uint8_t)(s->port[dir] >> 8); t[1] = (uint8_t)s->port[dir];
    t[2] = (uint8_t)(s->port[peer] >> 8); t[3] = (uint8_t)s->port[peer];
    uint32_t seq = s->seq[dir], ack = (flags & F_ACK) ? s->seq[peer] : 0;
    t[4] = (uint8_t)(seq >> 24); t[5] = (uint8_t)(seq >> 16); t[6] = (uint8_t)(seq >> 8); t[7] = (uint8_t)seq;
    t[8] = (uint8_t)(ack >> 24); t[9] = (uint8_t)(ack >> 16); t[10] = (uint8_t)(ack >> 8); t[11] = (uint8_t)ack;
    t[12] = (uint8_t)(((20 + opt) / 4) << 4);
    t[13] = flags;
    t[14] = 0xfa; t[15] = 0xf0;                 /* window 64240             */
    t[16] = t[17] = 0; t[18] = t[19] = 0;
    if (opt) { t[20] = 2; t[21] = 4; t[22] = 0x05; t[23] = 0xb4; }   /* MSS 1460 */
    uint8_t *d = t + 20 + opt;
    if (plen) {
        if (pay)
            memcpy(d, pay, plen);
        else
            fill_stream(s, &s->st[fill_step], total, foff, d, plen);
    }
    uint8_t ph[12];
    memcpy(ph, ip + 12, 8);
    ph[8] = 0; ph[9] = 6; ph[10] = (uint8_t)(tcpl >> 8); ph[11] = (uint8_t)tcpl;
    uint16_t tc = csum_fold(csum_add(csum_add(0, ph, 12), t, tcpl));
    memcpy(t + 16, &tc, 2);
    /* pcap record header */
    uint32_t rh[4] = { (uint32_t)(g->ts_us / 1000000u), (uint32_t)(g->ts_us % 1000000u), fl, fl };
    memcpy(g->pkt, rh, 16);
    if (fwrite(g->pkt, 16 + fl, 1, g->out) != 1)
        die("write: %s", strerror(errno));
    int first_payload = plen && !s->seen_payload;
    if (first_payload)
        s->seen_payload = 1;
    for (int i = 0; i < g->npre; i++) {
        struct prefix *x = &g->pre[i];
        if (!x->f)
            continue;
        if (x->bytes + 16 + fl > x->limit) {
            if (fclose(x->f))
                die("%s: %s", x->path, strerror(errno));
            x->f = NULL;
            continue;
        }
        if (fwrite(g->pkt, 16 + fl, 1, x->f) != 1)
            die("%s: %s", x->path, strerror(errno));
        x->bytes += 16 + fl;
        x->packets++;
        if (first_payload) {
            if (s->kind == K_SMTP) x->smtp_sessions++; else x->other_sessions++;
        }
    }
    g->ts_us += 1 + rnd_below(&g->r, 19);
    g->packets++;
    g->bytes += 16 + fl;
    g->payload += plen;
    if (s->kind == K_SMTP) g->smtp_payload += plen; else g->other_payload += plen;
    s->seq[dir] += plen + ((flags & (F_SYN | F_FIN)) ? 1u : 0u);
}

static uint64_t step_len(const struct sess *s, const struct step *st)
{
    return st->var ? s->vlen : st->len;
}

/* Emits the next packet of s.  Returns 0 when the session is over. */
static int sess_next(struct gen *g, struct sess *s)
{
    if (s->ack_owed) {
        emit(g, s, s->ack_owed - 1, F_ACK, NULL, 0, 0, 0, 0);
        s->ack_owed = 0;
        return 1;
    }
    if (s->si >= s->nst)
        return 0;
    const struct step *st = &s->st[s->si];
    if (st->type == ST_CTRL) {
        emit(g, s, st->dir, st->flags, NULL, 0, 0, 0, 0);
        s->si++;
        return 1;
    }
    uint64_t L = step_len(s, st);
    uint32_t n = L - s->off < MSS ? (uint32_t)(L - s->off) : MSS;
    int last = s->off + n >= L;
    if (n)
        emit(g, s, st->dir, F_ACK | (last ? F_PSH : 0), st->type == ST_DATA ? st->p + s->off : NULL,
             n, s->si, L, s->off);
    if (L > MSS && ++s->segs % 2 == 0)
        s->ack_owed = !st->dir + 1;             /* delayed ACK every 2 segs */
    if (last) {
        s->si++;
        s->off = 0;
        if (L > MSS && !s->ack_owed)
            s->ack_owed = !st->dir + 1;
        s->segs = 0;
    } else {
        s->off += n;
    }
    return 1;
}

/* In the middle of a transfer longer than one segment. */
static int sess_in_bulk(const struct sess *s)
{
    if (s->ack_owed)
        return 1;
    if (s->si >= s->nst || s->off == 0)
        return 0;
    return s->st[s->si].type != ST_CTRL;
}

/* One turn of a session in the round-robin: one packet, or, in a bulk
 * transfer, a window of segments with their ACKs (the window opens from 4
 * to `burst` segments like slow start).  Returns 0 when the session is over. */
static int sess_turn(struct gen *g, struct sess *s, unsigned burst)
{
    if (!sess_next(g, s))
        return 0;
    if (!sess_in_bulk(s))
        return 1;
    unsigned k = 1, lim = s->cwnd + s->cwnd / 2;      /* segments + ACKs  */
    while (k < lim && sess_in_bulk(s) && sess_next(g, s))
        k++;
    if (s->cwnd < burst)
        s->cwnd = s->cwnd * 2 < burst ? s->cwnd * 2 : burst;
    return 1;
}

struct params {
    uint64_t seed, size, body_min, body_max, other_max;
    unsigned conc, burst;
    double smtp_share;
    double w[CL_N];             /* class weights (sessions)                 */
};

static uint32_t client_ip(uint64_t serial)
{
    /* bijection on 24 bits: odd multiplier, xor-shift */
    uint32_t x = (uint32_t)(serial & 0xffffff);
    x = (x * 0x9E3779u + 0x5A5A5Au) & 0xffffff;
    x ^= x >> 11;
    x = (x * 0x2F6B1Du) & 0xffffff;
    if ((x & 0xff) == 0 || (x & 0xff) == 255) x ^= 0x80;   /* avoid .0/.255  */
    return 0x0A000000u | x;
}

static void set_mac(uint8_t *m, uint8_t kind, uint32_t ip)
{
    m[0] = 0x02; m[1] = kind; m[2] = (uint8_t)(ip >> 24); m[3] = (uint8_t)(ip >> 16);
    m[4] = (uint8_t)(ip >> 8); m[5] = (uint8_t)ip;
}

static void sess_common(struct gen *g, struct sess *s, uint32_t sip, uint16_t sport)
{
    uint64_t serial = g->serial++;
    s->ip[DIR_C] = client_ip(serial);
    if (serial >= 0xfffff0u)
        s->ip[DIR_C] ^= (uint32_t)((serial >> 24) & 0xff) << 16;
    s->ip[DIR_S] = sip;
    s->port[DIR_C] = (uint16_t)(1024 + rnd_below(&g->r, 64000));
    s->port[DIR_S] = sport;
    s->seq[0] = (uint32_t)rnd(&g->r);
    s->seq[1] = (uint32_t)rnd(&g->r);
    s->ipid[0] = (uint16_t)rnd(&g->r);
    s->ipid[1] = (uint16_t)rnd(&g->r);
    set_mac(s->mac[DIR_C], 0x00, s->ip[DIR_C]);
    set_mac(s->mac[DIR_S], 0x01, sip);
    s->si = 0; s->off = 0; s->segs = 0; s->ack_owed = 0; s->seen_payload = 0;
    s->cwnd = 4;
    s->toff = rnd_below(&g->r, POOL);
}

static uint64_t est_bytes(uint64_t payload, int ctrl)
{
    return payload + (payload / MSS * 3 / 2 + (uint64_t)ctrl + 4) * 70;
}

static void start_smtp(struct gen *g, struct sess *s, const struct params *pr)
{
    /* class by weight, then a template of that class */
    double u = rnd_unit(&g->r) * (pr->w[0] + pr->w[1] + pr->w[2]);
    int cls = 0;
    while (cls < CL_N - 1 && u >= pr->w[cls]) u -= pr->w[cls++];
    if (!n_by_class[cls])
        for (cls = 0; !n_by_class[cls]; cls++) ;
    int ti = by_class[cls][rnd_below(&g->r, (uint64_t)n_by_class[cls])];
    const struct tmpl *t = &tmpls[ti];
    s->kind = K_SMTP;
    s->cls = cls;
    s->st = t->st;
    s->nst = t->nst;
    /* 64 servers in 172.16.0.0/16 */
    sess_common(g, s, 0xAC100000u | (uint32_t)(1 + rnd_below(&g->r, 64)) << 8 | 25, t->sport);
    s->vlen = 0;
    if (t->has_var) {
        uint64_t b = rnd_logu(&g->r, pr->body_min, pr->body_max);
        if (t->var_type == ST_TEXT) {
            /* start and end on line boundaries of the text pool */
            s->toff = line_start[rnd_below(&g->r, nlines)];
            uint64_t end = s->toff + b;
            while (text_pool[(end - 1) % POOL] != '\n') end++;
            b = end - s->toff;
        } else {
            uint64_t rem = b % TLS_REC;
            if (rem && rem < 6) b += 6 - rem;
        }
        s->vlen = b;
        g->body_total += b;
        g->body_n++;
        if (!g->body_min_seen || b < g->body_min_seen) g->body_min_seen = b;
        if (b > g->body_max_seen) g->body_max_seen = b;
    }
    g->started[K_SMTP]++;
    g->smtp_cls[cls]++;
    g->tmpl_use[ti]++;
    uint64_t e = est_bytes(t->fixed_bytes + s->vlen, t->nst);
    g->planned_smtp += e;
    g->planned_all += e;
}

static void own(struct sess *s, int *n, struct step st)
{
    if (*n >= (int)(sizeof s->own / sizeof *s->own))
        die("internal: own steps");
    s->own[(*n)++] = st;
}

static void start_other(struct gen *g, struct sess *s, const struct params *pr)
{
    int n = 0;
    size_t bo = 0;
    uint64_t pay = 0;
    s->kind = rnd_below(&g->r, 2) ? K_HTTP : K_TLS443;
    uint16_t port = s->kind == K_HTTP ? 80 : 443;
    sess_common(g, s, 0xC6120000u | (uint32_t)rnd_below(&g->r, 65536), port);  /* 198.18/15 */
    if ((s->ip[DIR_S] & 0xff) == 0) s->ip[DIR_S] |= 1;
    own(s, &n, (struct step){ .type = ST_CTRL, .dir = DIR_C, .flags = F_SYN });
    own(s, &n, (struct step){ .type = ST_CTRL, .dir = DIR_S, .flags = F_SYN | F_ACK });
    own(s, &n, (struct step){ .type = ST_CTRL, .dir = DIR_C, .flags = F_ACK });
    unsigned host = (unsigned)rnd_below(&g->r, 5000);
    int rounds = 1 + (int)rnd_below(&g->r, 3);
    if (s->kind == K_HTTP) {
        /* random bytes: only content types nobody dissects further */
        static const char *const ct[] = { "application/octet-stream", "binary/octet-stream",
                                          "application/x-download", "application/octet-stream" };
        for (int i = 0; i < rounds; i++) {
            uint64_t blen = rnd_logu(&g->r, 1000, pr->other_max);
            int m = snprintf((char *)s->buf + bo, sizeof s->buf - bo,
                             "GET /static/%u/%u.bin HTTP/1.1\r\nHost: www%u.example.com\r\n"
                             "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0\r\n"
                             "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
                             (unsigned)rnd_below(&g->r, 100000), i, host);
            own(s, &n, (struct step){ .type = ST_DATA, .dir = DIR_C, .len = (uint32_t)m, .p = s->buf + bo });
            bo += (size_t)m;
            m = snprintf((char *)s->buf + bo, sizeof s->buf - bo,
                         "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: %s\r\n"
                         "Content-Length: %llu\r\nCache-Control: max-age=3600\r\n\r\n",
                         ct[rnd_below(&g->r, 4)], (unsigned long long)blen);
            own(s, &n, (struct step){ .type = ST_DATA, .dir = DIR_S, .len = (uint32_t)m, .p = s->buf + bo });
            bo += (size_t)m;
            own(s, &n, (struct step){ .type = ST_RAW, .dir = DIR_S, .len = (uint32_t)blen });
            pay += blen + 400;
        }
    } else {
        char sni[64];
        snprintf(sni, sizeof sni, "www%u.example.com", host);
        size_t m = client_hello(s->buf + bo, &g->r, sni);
        own(s, &n, (struct step){ .type = ST_DATA, .dir = DIR_C, .len = (uint32_t)m, .p = s->buf + bo });
        bo += m;
        m = server_flight(s->buf + bo, &g->r);
        own(s, &n, (struct step){ .type = ST_DATA, .dir = DIR_S, .len = (uint32_t)m, .p = s->buf + bo });
        bo += m;
        memcpy(s->buf + bo, "\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28", 11);
        memcpy(s->buf + bo + 11, rand_pool + rnd_below(&g->r, POOL), 40);
        own(s, &n, (struct step){ .type = ST_DATA, .dir = DIR_C, .len = 51, .p = s->buf + bo });
        bo += 51;
        pay += 700;
        for (int i = 0; i < rounds; i++) {
            uint64_t req = 200 + rnd_below(&g->r, 600), resp = rnd_logu(&g->r, 1000, pr->other_max);
            own(s, &n, (struct step){ .type = ST_TLS, .dir = DIR_C, .rtype = 0x17, .len = (uint32_t)req });
            if (resp % TLS_REC && resp % TLS_REC < 6) resp += 6;
            own(s, &n, (struct step){ .type = ST_TLS, .dir = DIR_S, .rtype = 0x17, .len = (uint32_t)resp });
            pay += req + resp;
        }
    }
    own(s, &n, (struct step){ .type = ST_CTRL, .dir = DIR_C, .flags = F_FIN | F_ACK });
    own(s, &n, (struct step){ .type = ST_CTRL, .dir = DIR_S, .flags = F_FIN | F_ACK });
    own(s, &n, (struct step){ .type = ST_CTRL, .dir = DIR_C, .flags = F_ACK });
    s->st = s->own;
    s->nst = n;
    s->vlen = 0;
    g->started[s->kind]++;
    g->planned_all += est_bytes(pay, n);
}

/* Starts the next session in s; returns 0 when the size budget is spent. */
static int sess_start(struct gen *g, struct sess *s, const struct params *pr)
{
    if (g->planned_all >= pr->size)
        return 0;
    if (pr->smtp_share >= 1.0 || (double)g->planned_smtp < pr->smtp_share * (double)g->planned_all)
        start_smtp(g, s, pr);
    else
        start_other(g, s, pr);
    return 1;
}

static void usage(void)
{
    fputs("usage: gen -o OUT.pcap [-m MANIFEST] [--seed N] [--size BYTES] [--concurrency K]\n"
          "           [--smtp-share F] [--body-min B] [--body-max B] [--other-max B]\n"
          "           [--burst SEGS] [--mix S:I:C] [--prefix BYTES:FILE]... [--list] TEMPLATE.pcap...\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    struct params pr = { .seed = 1, .size = 150000000, .body_min = 1000, .body_max = 1000000,
                         .conc = 3000, .burst = 16, .smtp_share = 1.0, .w = { 55, 20, 25 } };
    const char *outp = NULL, *manp = NULL;
    int list = 0, npre = 0;
    uint64_t pre_lim[4];
    const char *pre_path[4];
    char **files = xmalloc(argc * sizeof *files);
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && v && (i++, 1))
        if (OPT("-o")) outp = v;
        else if (OPT("-m")) manp = v;
        else if (OPT("--seed")) pr.seed = strtoull(v, NULL, 0);
        else if (OPT("--size")) pr.size = parse_size(v);
        else if (OPT("--concurrency")) pr.conc = (unsigned)strtoul(v, NULL, 0);
        else if (OPT("--burst")) pr.burst = (unsigned)strtoul(v, NULL, 0);
        else if (OPT("--smtp-share")) pr.smtp_share = strtod(v, NULL);
        else if (OPT("--body-min")) pr.body_min = parse_size(v);
        else if (OPT("--body-max")) pr.body_max = parse_size(v);
        else if (OPT("--other-max")) pr.other_max = parse_size(v);
        else if (OPT("--mix")) {
            if (sscanf(v, "%lf:%lf:%lf", &pr.w[0], &pr.w[1], &pr.w[2]) != 3) usage();
        }
        else if (OPT("--prefix")) {
            const char *c = strchr(v, ':');
            if (!c || npre >= 4) usage();
            char num[32];
            snprintf(num, sizeof num, "%.*s", (int)(c - v), v);
            pre_lim[npre] = parse_size(num);
            pre_path[npre++] = c + 1;
        }
        else if (!strcmp(a, "--list")) list = 1;
        else if (a[0] == '-') usage();
        else files[nfiles++] = argv[i];
#undef OPT
    }
    if (!pr.other_max)
        pr.other_max = pr.body_max;
    if (pr.other_max < 1000)
        pr.other_max = 1000;
    if (pr.burst < 1)
        pr.burst = 1;
    if ((!outp && !list) || pr.conc < 1 || pr.body_min < 1 || pr.body_max < pr.body_min)
        usage();

    struct rng tr;
    rng_seed(&tr, pr.seed ^ 0x746d706cull);
    make_pools(pr.seed);

    /* templates */
    for (int i = 0; i < nfiles; i++) {
        struct tflow *fl = NULL;
        int nf = 0;
        load_file(files[i], &fl, &nf);
        const char *base = strrchr(files[i], '/');
        base = base ? base + 1 : files[i];
        for (int k = 0; k < nf; k++) {
            const char *why = NULL;
            char name[96];
            snprintf(name, sizeof name, nf > 1 ? "%s#%d" : "%s", base, k + 1);
            if (!flow_clean(&fl[k], &why)) {
                if (list) printf("skip %-40s %s\n", name, why);
                continue;
            }
            flow_to_tmpl(&fl[k], name);
        }
    }
    int from_files = ntmpl;
    for (int c = 0; c < CL_N; c++) {
        int have = 0;
        for (int i = 0; i < ntmpl; i++)
            have |= tmpls[i].cls == c;
        if (!have && pr.w[c] > 0)
            builtin(c, &tr);
    }
    for (int i = 0; i < ntmpl; i++) {
        struct tmpl *t = &tmpls[i];
        if (n_by_class[t->cls] < 256)
            by_class[t->cls][n_by_class[t->cls]++] = i;
        if (list)
            printf("tmpl %-40s %-12s port %-5u steps %-4d fixed %-6llu var %s\n", t->name,
                   class_name[t->cls], t->sport, t->nst, (unsigned long long)t->fixed_bytes,
                   t->has_var ? (t->var_type == ST_TEXT ? "body-text" : "tls-records") : "-");
    }
    if (list)
        return 0;

    struct gen *g = xmalloc(sizeof *g);
    memset(g, 0, sizeof *g);
    rng_seed(&g->r, pr.seed);
    g->ts_us = 1700000000ull * 1000000u;
    g->out = fopen(outp, "wb");
    if (!g->out)
        die("%s: %s", outp, strerror(errno));
    setvbuf(g->out, NULL, _IOFBF, 8u << 20);
    uint32_t gh[6] = { 0xa1b2c3d4u, 0x00040002u, 0, 0, 262144, 1 };
    fwrite(gh, sizeof gh, 1, g->out);
    g->bytes = sizeof gh;
    for (int i = 0; i < npre; i++) {
        struct prefix *x = &g->pre[g->npre++];
        x->path = pre_path[i];
        x->limit = pre_lim[i];
        x->f = fopen(x->path, "wb");
        if (!x->f)
            die("%s: %s", x->path, strerror(errno));
        setvbuf(x->f, NULL, _IOFBF, 4u << 20);
        fwrite(gh, sizeof gh, 1, x->f);
        x->bytes = sizeof gh;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct sess **act = xmalloc(pr.conc * sizeof *act);
    unsigned nact = 0;
    for (unsigned i = 0; i < pr.conc; i++) {
        struct sess *s = xmalloc(sizeof *s);
        if (!sess_start(g, s, &pr)) { free(s); break; }
        act[nact++] = s;
    }
    uint64_t max_conc = nact, full_bytes = 0;
    while (nact) {
        uint64_t before = g->bytes;
        int full = nact >= pr.conc - pr.conc / 10;
        for (unsigned i = 0; i < nact;) {
            struct sess *s = act[i];
            if (sess_turn(g, s, pr.burst)) { i++; continue; }
            if (sess_start(g, s, &pr) && sess_turn(g, s, pr.burst)) { i++; continue; }
            free(s);
            act[i] = act[--nact];
        }
        if (full)
            full_bytes += g->bytes - before;
    }
    if (fclose(g->out))
        die("%s: %s", outp, strerror(errno));
    for (int i = 0; i < g->npre; i++)
        if (g->pre[i].f && fclose(g->pre[i].f))
            die("%s: %s", g->pre[i].path, strerror(errno));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

    FILE *m = manp ? fopen(manp, "w") : stdout;
    if (!m)
        die("%s: %s", manp, strerror(errno));
    fprintf(m, "file=%s\nseed=%llu\ntarget_bytes=%llu\nconcurrency=%u\nmax_concurrency=%llu\n"
               "burst=%u\nsmtp_share_target=%.3f\nbody_min=%llu\nbody_max=%llu\nother_max=%llu\nmix=%g:%g:%g\n",
            outp, (unsigned long long)pr.seed, (unsigned long long)pr.size, pr.conc,
            (unsigned long long)max_conc, pr.burst, pr.smtp_share, (unsigned long long)pr.body_min,
            (unsigned long long)pr.body_max, (unsigned long long)pr.other_max,
            pr.w[0], pr.w[1], pr.w[2]);
    fprintf(m, "full_concurrency_share=%.3f\n", g->bytes ? (double)full_bytes / (double)g->bytes : 0.0);
    fprintf(m, "file_bytes=%llu\npackets=%llu\npayload_bytes=%llu\nsmtp_payload_bytes=%llu\n"
               "other_payload_bytes=%llu\nsmtp_share=%.4f\n",
            (unsigned long long)g->bytes, (unsigned long long)g->packets,
            (unsigned long long)g->payload, (unsigned long long)g->smtp_payload,
            (unsigned long long)g->other_payload,
            g->payload ? (double)g->smtp_payload / (double)g->payload : 0.0);
    fprintf(m, "smtp_sessions=%llu\nhttp_sessions=%llu\ntls443_sessions=%llu\n",
            (unsigned long long)g->started[K_SMTP], (unsigned long long)g->started[K_HTTP],
            (unsigned long long)g->started[K_TLS443]);
    for (int c = 0; c < CL_N; c++)
        fprintf(m, "smtp_%s=%llu\n", class_name[c], (unsigned long long)g->smtp_cls[c]);
    fprintf(m, "bodies=%llu\nbody_bytes=%llu\nbody_min_seen=%llu\nbody_max_seen=%llu\n",
            (unsigned long long)g->body_n, (unsigned long long)g->body_total,
            (unsigned long long)g->body_min_seen, (unsigned long long)g->body_max_seen);
    fprintf(m, "templates_from_files=%d\ntemplates=%d\n", from_files, ntmpl);
    for (int i = 0; i < ntmpl; i++)
        fprintf(m, "template=%s %s %llu\n", tmpls[i].name, class_name[tmpls[i].cls],
                (unsigned long long)g->tmpl_use[i]);
    for (int i = 0; i < g->npre; i++)
        fprintf(m, "prefix.%d.file=%s\nprefix.%d.bytes=%llu\nprefix.%d.packets=%llu\n"
                   "prefix.%d.smtp_sessions=%llu\nprefix.%d.other_sessions=%llu\n",
                i, g->pre[i].path, i, (unsigned long long)g->pre[i].bytes,
                i, (unsigned long long)g->pre[i].packets, i,
                (unsigned long long)g->pre[i].smtp_sessions, i,
                (unsigned long long)g->pre[i].other_sessions);
    fprintf(m, "gen_seconds=%.2f\ngen_mb_s=%.1f\n", secs, secs > 0 ? g->bytes / 1e6 / secs : 0.0);
    if (manp)
        fclose(m);
    fprintf(stderr, "gen: %s: %.1f MB, %llu packets, %llu SMTP sessions (+%llu other) in %.1f s (%.0f MB/s)\n",
            outp, g->bytes / 1e6, (unsigned long long)g->packets,
            (unsigned long long)g->started[K_SMTP],
            (unsigned long long)(g->started[K_HTTP] + g->started[K_TLS443]), secs,
            secs > 0 ? g->bytes / 1e6 / secs : 0.0);
    return 0;
}
