/*
 * pcap_src.c — the capture_t of capture.h: libpcap input (file or live),
 * SHA-256 of the file while libpcap reads it, and the per-record loop that
 * drives decode -> fragments -> flow table -> reassembly -> callbacks.
 *
 * The only file of mailtap that includes <pcap.h>.
 */
#include "capture/capture.h"
#include "capture/decode_int.h"
#include "capture/flow_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <time.h>
#include <fcntl.h>
#include <pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Live capture settings. */
#define LIVE_SNAPLEN     262144
#define LIVE_BUFFER      (32 * 1024 * 1024)
#define LIVE_TIMEOUT_MS  500
/* Packets still read from the kernel buffer after a stop was asked for
 * (so a session that ended just before SIGTERM is not lost). */
#define LIVE_DRAIN_MAX   200000
#define DEFAULT_BPF      "tcp port 25 or tcp port 465 or tcp port 587"
/* stdio buffer between libpcap and the hashing reader. */
#define FILE_BUFFER      (256 * 1024)
/* Idle flows are looked for when packet time moved on by this much. */
#define SWEEP_INTERVAL   1.0

struct capture {
    pcap_t *p;
    enum cap_link link;
    int live;
    /* file input: fd -> cookie FILE (hashing) -> libpcap */
    int fd;                         /* -1 when live or closed                */
    int fd_is_stdin;
    EVP_MD_CTX *md;
    int read_error;                 /* errno of a failed read(), 0 if none   */
    int eof_seen;                   /* a read() returned 0 (end of the file) */
    char sha[65];                   /* "" until the whole file was read      */
    uint64_t file_size;
    struct cap_flow_table *ft;
    struct cap_frag_table *frags;
    int all_ports;                  /* cfg->all_ports: nDPI may want l3      */
    uint8_t *l3buf;                 /* rebuilt datagram (CAP_L3_MAX), lazily */
    struct cap_stats st;
    double last_sweep;
    double wall_at_last;            /* live: wall clock at the last packet   */
    const struct cap_callbacks *cb; /* for tick()                            */
    void *cb_arg;
    volatile sig_atomic_t brk;
};

/* ---- file input with hashing ----------------------------------------- */

/* fopencookie read: reads from the file and hashes every byte handed to
 * libpcap.  Returns bytes read, 0 at EOF, -1 on error. */
static ssize_t cookie_read(void *cookie, char *buf, size_t size)
{
    struct capture *c = cookie;
    ssize_t n;

    if (c->fd < 0)
        return 0;
    do
        n = read(c->fd, buf, size);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        c->read_error = errno;
        return -1;
    }
    if (n == 0)
        c->eof_seen = 1;
    if (n > 0) {
        if (c->md != NULL && EVP_DigestUpdate(c->md, buf, (size_t)n) != 1) {
            c->read_error = EIO;
            return -1;
        }
        c->st.file_bytes += (uint64_t)n;
    }
    return n;
}

/* fopencookie close: closes the file (not stdin). */
static int cookie_close(void *cookie)
{
    struct capture *c = cookie;

    if (c->fd >= 0 && !c->fd_is_stdin)
        close(c->fd);
    c->fd = -1;
    return 0;
}

/* Hashes what is left of the file after libpcap saw its end, then
 * finalizes the digest into c->sha.  Returns 0, -1 on a read error. */
static int finish_sha(struct capture *c)
{
    static const char hx[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
    unsigned int mdlen = 0, i;
    ssize_t n;

    if (c->md == NULL || c->sha[0])
        return 0;
    while (c->fd >= 0) {
        n = read(c->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (EVP_DigestUpdate(c->md, buf, (size_t)n) != 1)
            return -1;
        c->st.file_bytes += (uint64_t)n;
    }
    if (EVP_DigestFinal_ex(c->md, md, &mdlen) != 1 || mdlen * 2 >= sizeof c->sha)
        return -1;
    for (i = 0; i < mdlen; i++) {
        c->sha[2 * i] = hx[md[i] >> 4];
        c->sha[2 * i + 1] = hx[md[i] & 15];
    }
    c->sha[2 * mdlen] = '\0';
    return 0;
}

/* Maps a DLT to the decoder's link type; -1 when unsupported. */
static int link_of(int dlt, enum cap_link *out)
{
    switch (dlt) {
    case DLT_EN10MB:      *out = CAP_LINK_ETH;  return 0;
    case DLT_LINUX_SLL:   *out = CAP_LINK_SLL;  return 0;
    case DLT_LINUX_SLL2:  *out = CAP_LINK_SLL2; return 0;
    case DLT_RAW:         *out = CAP_LINK_RAW;  return 0;
    case DLT_IPV4:        *out = CAP_LINK_IPV4; return 0;
    case DLT_IPV6:        *out = CAP_LINK_IPV6; return 0;
    case DLT_NULL:        *out = CAP_LINK_NULL; return 0;
    case DLT_LOOP:        *out = CAP_LINK_LOOP; return 0;
    default:
        break;
    }
#ifndef __OpenBSD__
    if (dlt == 14) {                /* DLT_RAW as written on OpenBSD */
        *out = CAP_LINK_RAW;
        return 0;
    }
#endif
    if (dlt == 101) {               /* LINKTYPE_RAW, should libpcap pass it */
        *out = CAP_LINK_RAW;
        return 0;
    }
    return -1;
}

/* Allocates a capture_t with its flow and fragment tables.  NULL on OOM. */
static struct capture *cap_new(const struct cap_config *cfg, char *errbuf)
{
    struct capture *c = calloc(1, sizeof *c);

    if (c == NULL) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->all_ports = cfg->all_ports;
    c->ft = cap_flow_table_new(cfg, &c->st, 0);
    c->frags = cap_frag_new();
    if (c->ft == NULL || c->frags == NULL) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "out of memory");
        capture_close(c);
        return NULL;
    }
    return c;
}

/* Checks the link type of the opened handle. */
static int check_link(struct capture *c, const char *what, char *errbuf)
{
    int dlt = pcap_datalink(c->p);

    if (link_of(dlt, &c->link)) {
        const char *name = pcap_datalink_val_to_name(dlt);

        snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: unsupported link type %d (%s)",
                 what, dlt, name ? name : "unknown");
        return -1;
    }
    return 0;
}

capture_t *capture_open_file(const char *path, const struct cap_config *cfg,
                             char *errbuf)
{
    static const cookie_io_functions_t io = {
        .read = cookie_read, .write = NULL, .seek = NULL, .close = cookie_close
    };
    char perr[PCAP_ERRBUF_SIZE];
    struct capture *c;
    struct stat sb;
    FILE *fp;

    errbuf[0] = '\0';
    c = cap_new(cfg, errbuf);
    if (c == NULL)
        return NULL;
    if (strcmp(path, "-") == 0) {
        c->fd = STDIN_FILENO;
        c->fd_is_stdin = 1;
    } else {
        c->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (c->fd < 0) {
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: %s", path, strerror(errno));
            capture_close(c);
            return NULL;
        }
    }
    if (fstat(c->fd, &sb) == 0 && S_ISREG(sb.st_mode))
        c->file_size = (uint64_t)sb.st_size;
    if (!cfg->no_hash && ((c->md = EVP_MD_CTX_new()) == NULL ||
                          EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: can not initialise SHA-256", path);
        capture_close(c);
        return NULL;
    }
    fp = fopencookie(c, "r", io);
    if (fp == NULL) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: %s", path, strerror(errno));
        capture_close(c);
        return NULL;
    }
    setvbuf(fp, NULL, _IOFBF, FILE_BUFFER);   /* fewer, larger reads */
    perr[0] = '\0';
    c->p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, perr);
    if (c->p == NULL) {
        fclose(fp);                     /* closes the file through the cookie */
        if (c->read_error)
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: %s", path, strerror(c->read_error));
        else
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: %s", path,
                     perr[0] ? perr : "not a pcap or pcapng file");
        capture_close(c);
        return NULL;
    }
    if (check_link(c, path, errbuf)) {
        capture_close(c);
        return NULL;
    }
    return c;
}

capture_t *capture_open_live(const char *ifname, const char *bpf,
                             const struct cap_config *cfg, char *errbuf)
{
    char perr[PCAP_ERRBUF_SIZE];
    struct bpf_program prog;
    struct capture *c;
    const char *filter;
    int rc;

    errbuf[0] = '\0';
    c = cap_new(cfg, errbuf);
    if (c == NULL)
        return NULL;
    c->live = 1;
    perr[0] = '\0';
    c->p = pcap_create(ifname, perr);
    if (c->p == NULL) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: %s", ifname, perr);
        capture_close(c);
        return NULL;
    }
    if (pcap_set_snaplen(c->p, LIVE_SNAPLEN) || pcap_set_promisc(c->p, 1) ||
        pcap_set_immediate_mode(c->p, 0) || pcap_set_buffer_size(c->p, cfg->buffer_bytes ? (int)(cfg->buffer_bytes > (size_t)INT_MAX ? INT_MAX : cfg->buffer_bytes) : LIVE_BUFFER) ||
        pcap_set_timeout(c->p, LIVE_TIMEOUT_MS) ||
        pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_MICRO)) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: can not set capture options", ifname);
        capture_close(c);
        return NULL;
    }
    rc = pcap_activate(c->p);
    if (rc < 0) {
        switch (rc) {
        case PCAP_ERROR_NO_SUCH_DEVICE:
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: no such device", ifname);
            break;
        case PCAP_ERROR_PERM_DENIED:
        case PCAP_ERROR_PROMISC_PERM_DENIED:
            snprintf(errbuf, CAP_ERRBUF_SIZE,
                     "%s: permission denied (need root or CAP_NET_RAW): %s",
                     ifname, pcap_geterr(c->p));
            break;
        case PCAP_ERROR_IFACE_NOT_UP:
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: interface is not up", ifname);
            break;
        default:
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: %s (%s)", ifname,
                     pcap_statustostr(rc), pcap_geterr(c->p));
            break;
        }
        capture_close(c);
        return NULL;
    }
    if (check_link(c, ifname, errbuf)) {
        capture_close(c);
        return NULL;
    }
    filter = bpf ? bpf : (cfg->all_ports ? "tcp" : DEFAULT_BPF);
    if (pcap_compile(c->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "bad filter \"%s\": %s", filter,
                 pcap_geterr(c->p));
        capture_close(c);
        return NULL;
    }
    rc = pcap_setfilter(c->p, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: can not set filter: %s", ifname,
                 pcap_geterr(c->p));
        capture_close(c);
        return NULL;
    }
    return c;
}

/* ---- the loop ----------------------------------------------------------- */

/* Decodes the upper layer of a reassembled datagram.  In all-ports mode
 * the datagram is rebuilt with a plain IP header first (pk->l3), so that
 * nDPI can be given it; else, or when it does not fit, pk->l3 is NULL. */
static int decode_reassembled(struct capture *c, struct cap_pkt *pk,
                              const uint8_t *dg, size_t dglen)
{
    uint8_t proto = pk->frag.proto;
    size_t n = 0;
    int r;

    if (c->all_ports && c->l3buf == NULL)
        c->l3buf = malloc(CAP_L3_MAX);
    if (c->all_ports && c->l3buf)
        n = cap_decode_rebuild_l3(pk, proto, dg, dglen, c->l3buf);
    if (n == 0)
        return cap_decode_l4(pk, proto, dg, dglen);
    r = cap_decode_l4(pk, proto, c->l3buf + (n - dglen), dglen);
    pk->l3 = c->l3buf;
    pk->l3_len = n;
    return r;
}

/* Handles one record: counters, decode, fragments, flows, periodic sweep. */
static void handle_record(struct capture *c, const struct pcap_pkthdr *h,
                          const uint8_t *data)
{
    struct cap_pkt pk;
    double ts = (double)h->ts.tv_sec + (double)h->ts.tv_usec / 1e6;
    size_t caplen = h->caplen, wirelen = h->len;
    int r;

    if (c->st.packets == 0 || ts < c->st.first_ts)
        c->st.first_ts = ts;
    if (c->st.packets == 0) {
        c->last_sweep = ts;
    }
    if (ts > c->st.last_ts)
        c->st.last_ts = ts;
    c->st.packets++;
    c->st.bytes += wirelen;
    if (caplen < wirelen)
        c->st.truncated++;
    else
        wirelen = caplen;               /* len < caplen: trust what we hold */

    r = cap_decode(c->link, data, caplen, wirelen, &pk);
    if (r == CAP_DEC_FRAG) {
        const uint8_t *dg;
        size_t dglen;

        if (cap_frag_add(c->frags, &pk, ts, &dg, &dglen, &c->st.frag_dropped))
            r = decode_reassembled(c, &pk, dg, dglen);
        else
            r = -1;                     /* held (or dropped) */
    }
    if (r == CAP_DEC_TCP)
        cap_flow_packet(c->ft, &pk, ts);
    else if (r == CAP_DEC_NONTCP)
        c->st.non_tcp++;
    else if (r == CAP_DEC_BAD)
        c->st.undecodable++;

    if (c->st.last_ts >= c->last_sweep + SWEEP_INTERVAL) {
        c->last_sweep = c->st.last_ts;
        cap_flow_expire(c->ft, c->st.last_ts);
        cap_frag_expire(c->frags, c->st.last_ts, &c->st.frag_dropped);
    }
}

/* Reads live drop counters into c->st. */
static void update_live_stats(const struct capture *c, struct cap_stats *st)
{
    struct pcap_stat ps;

    if (c->live && c->p && pcap_stats(c->p, &ps) == 0) {
        st->dropped = ps.ps_drop;
        st->ifdropped = ps.ps_ifdrop;
    }
}

static double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Live, no packet for a read timeout: flows still expire (packet time is
 * taken to advance with the wall clock since the last packet) and the
 * consumer's tick runs. */
static void live_idle(struct capture *c)
{
    if (c->st.packets > 0 && c->wall_at_last > 0) {
        double now = c->st.last_ts + (wall_now() - c->wall_at_last);
        if (now >= c->last_sweep + SWEEP_INTERVAL) {
            c->last_sweep = now;
            cap_flow_expire(c->ft, now);
            cap_frag_expire(c->frags, now, &c->st.frag_dropped);
        }
    }
    if (c->cb && c->cb->tick)
        c->cb->tick(c->cb_arg);
}

/* After a stop in live mode: handle what the kernel already buffered,
 * without waiting, up to LIVE_DRAIN_MAX packets. */
static void drain_live(struct capture *c)
{
    char perr[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *data;

    if (pcap_setnonblock(c->p, 1, perr) != 0)
        return;
    for (unsigned n = 0; n < LIVE_DRAIN_MAX; n++) {
        int rc = pcap_next_ex(c->p, &h, &data);
        if (rc == PCAP_ERROR_BREAK)
            continue;                   /* the break flag is cleared by this */
        if (rc != 1)
            break;
        handle_record(c, h, data);
    }
}

int capture_run(capture_t *c, const struct cap_callbacks *cb, void *arg,
                char *errbuf)
{
    c->cb = cb;
    c->cb_arg = arg;
    errbuf[0] = '\0';
    if (c->p == NULL) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "capture is not open");
        return -1;
    }
    cap_flow_set_callbacks(c->ft, cb, arg);
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int rc;

        if (c->brk) {
            if (c->live)
                drain_live(c);
            update_live_stats(c, &c->st);
            cap_flow_end_all(c->ft, CAP_END_EOF);
            return 1;
        }
        rc = pcap_next_ex(c->p, &h, &data);
        if (rc == 1) {
            handle_record(c, h, data);
            if (c->live)
                c->wall_at_last = wall_now();
            continue;
        }
        if (rc == 0) {                  /* live: read timeout, the link is quiet */
            live_idle(c);
            continue;
        }
        if (rc == PCAP_ERROR_BREAK) {
            if (c->brk || c->live)
                continue;               /* reported at the top */
            cap_flow_end_all(c->ft, CAP_END_EOF);
            if (finish_sha(c)) {
                snprintf(errbuf, CAP_ERRBUF_SIZE, "read error after the last record: %s",
                         strerror(errno));
                c->sha[0] = '\0';
                return -1;
            }
            return 0;
        }
        /* PCAP_ERROR: corrupt or truncated file, read error, interface gone.
         * A file that simply ends inside its last record (tcpdump killed)
         * is not corrupt: everything before it was read. */
        if (!c->live && !c->read_error && c->eof_seen) {
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s", pcap_geterr(c->p));
            cap_flow_end_all(c->ft, CAP_END_EOF);
            if (finish_sha(c))
                c->sha[0] = '\0';
            return 2;
        }
        if (c->read_error)
            snprintf(errbuf, CAP_ERRBUF_SIZE, "read error: %s", strerror(c->read_error));
        else
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s", pcap_geterr(c->p));
        update_live_stats(c, &c->st);
        cap_flow_end_all(c->ft, CAP_END_EOF);
        return -1;
    }
}

void capture_break(capture_t *c)
{
    if (c == NULL)
        return;
    c->brk = 1;
    if (c->p)
        pcap_breakloop(c->p);
}

void capture_stats(const capture_t *c, struct cap_stats *out)
{
    *out = c->st;
    update_live_stats(c, out);
}

const char *capture_sha256(const capture_t *c)
{
    return c->sha;
}

uint64_t capture_file_size(const capture_t *c)
{
    return c->file_size;
}

void capture_close(capture_t *c)
{
    if (c == NULL)
        return;
    if (c->p)
        pcap_close(c->p);               /* closes the cookie FILE and fd */
    else if (c->fd >= 0 && !c->fd_is_stdin)
        close(c->fd);
    EVP_MD_CTX_free(c->md);
    cap_flow_table_free(c->ft);         /* and its nDPI module, if any */
    cap_frag_free(c->frags);
    free(c->l3buf);
    free(c);
}

void cap_addr_str(const struct cap_endpoint *e, char *buf, size_t bufsz)
{
    if (bufsz == 0)
        return;
    buf[0] = '\0';
    if (bufsz > (size_t)INT32_MAX)
        bufsz = INT32_MAX;
    if (e->family == 4) {
        if (inet_ntop(AF_INET, e->addr, buf, (socklen_t)bufsz) == NULL)
            buf[0] = '\0';
    } else if (e->family == 6) {
        if (inet_ntop(AF_INET6, e->addr, buf, (socklen_t)bufsz) == NULL)
            buf[0] = '\0';
    }
}

const char *capture_lib_version(void)
{
    return pcap_lib_version();
}
