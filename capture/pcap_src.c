/*
 * pcap_src.c — the capture_t of capture.h: libpcap input (file or live),
 * SHA-256 of the file while libpcap reads it, and the per-record loop that
 * drives decode -> fragments -> flow table -> reassembly -> callbacks.
 *
 * The SHA-256 of a regular file is computed by a second thread reading the
 * same file (from the page cache) alongside the analysis, which stays one
 * thread: hashing costs as much as reading (about 1.4 GB/s with SHA-NI),
 * and on the analysis thread it would be most of the cost of a capture
 * that is mostly other traffic.  The digest counts only when that thread
 * hashed exactly the bytes libpcap read.  Pipes and stdin are hashed on
 * the analysis thread as they are read.
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

#include <pthread.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <stdatomic.h>

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
#define FILE_BUFFER      (64 * 1024)
/* Window the hashing thread maps at a time. */
#define HASH_CHUNK       (2u * 1024u * 1024u)
/* Idle flows are looked for when packet time moved on by this much. */
#define SWEEP_INTERVAL   1.0
/* Regular pcap file, corrupt record header: how far past it the next
 * plausible record header is looked for before giving up. */
/* (CAP_RESYNC_SCAN_MAX: config.h) */
/* Largest caplen / len a plausible record header may claim. */
#define RESYNC_MAX_LEN   262144u
/* Plausible record times: within this of the last good record's. */
#define RESYNC_TS_SLACK  86400u
/* pcap global header and record header sizes. */
#define PCAP_GHDR_LEN    24
#define PCAP_RHDR_LEN    16

/* The hashing thread of a regular file (see the top of this file). */
struct hasher {
    pthread_t th;
    int fd;                         /* its own descriptor of the file        */
    atomic_int stop;                /* asked to give up (interrupted run)    */
    uint64_t done;                  /* bytes hashed (valid after the join)   */
    int ok;                         /* reached the end of the file, no error */
    int joined;
    unsigned char md[32];
};

/* A hashing thread started before the capture is opened (see
 * capture_prehash_start), with the identity of the file it hashes. */
struct cap_prehash {
    struct hasher *hs;
    dev_t dev;
    ino_t ino;
};

struct capture {
    pcap_t *p;
    enum cap_link link;
    int live;
    /* file input: fd -> cookie FILE (hashing) -> libpcap */
    int fd;                         /* -1 when live or closed                */
    int fd_is_stdin;
    EVP_MD_CTX *md;                 /* hashing on this thread (pipes, stdin) */
    struct hasher *hs;              /* hashing thread (regular files)        */
    char *iobuf;                    /* the cookie FILE's buffer (FILE_BUFFER) */
    int digest_pending;             /* file read to its end; the digest is
                                       taken (thread joined) by capture_sha256 */
    int read_error;                 /* errno of a failed read(), 0 if none   */
    int eof_seen;                   /* a read() returned 0 (end of the file) */
    char sha[65];                   /* "" until the whole file was read      */
    uint64_t file_size;
    /* Regular pcap files: resynchronisation after a corrupt record. */
    uint8_t ghdr[PCAP_GHDR_LEN];    /* the file's global header              */
    int ghdr_ok;                    /* ghdr is a pcap header we understand   */
    int ghdr_be;                    /* its fields are big-endian             */
    int ghdr_nsec;                  /* nanosecond time stamps                */
    uint32_t ghdr_snaplen;          /* caplen limit (<= RESYNC_MAX_LEN)      */
    int resynced;                   /* the stream is ghdr + file[base..]     */
    uint64_t stream_base;           /* file offset of stream offset 24       */
    uint64_t stream_pos;            /* bytes handed to stdio so far          */
    uint64_t hashed_upto;           /* file bytes [0, hashed_upto) were read */
    int keep_fd;                    /* cookie_close must leave fd open       */
    int have_rec;                   /* a record was read; last_sec is valid  */
    uint32_t last_sec;              /* ts_sec of the last good record        */
    uint64_t skipped;               /* file bytes skipped over bad records   */
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

/* Hashes (when hashing) and counts the file bytes [off, off + n) held in
 * buf, reading and hashing first any bytes between what was hashed so far
 * and off (bytes skipped by a resynchronisation).  Bytes already hashed
 * are not hashed twice.  Returns 0, -1 (c->read_error set) on error. */
static int account_bytes(struct capture *c, const uint8_t *buf, uint64_t off, size_t n)
{
    uint8_t tmp[65536];

    while (c->hashed_upto < off) {
        uint64_t want = off - c->hashed_upto;
        ssize_t r;

        if (want > sizeof tmp)
            want = sizeof tmp;
        if (c->md == NULL) {
            c->hashed_upto = off;
            break;
        }
        r = pread(c->fd, tmp, (size_t)want, (off_t)c->hashed_upto);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            c->read_error = r < 0 ? errno : EIO;
            return -1;
        }
        if (EVP_DigestUpdate(c->md, tmp, (size_t)r) != 1) {
            c->read_error = EIO;
            return -1;
        }
        c->hashed_upto += (uint64_t)r;
    }
    if (off + n > c->hashed_upto) {
        size_t skip = (size_t)(c->hashed_upto - off);

        if (c->md != NULL && EVP_DigestUpdate(c->md, buf + skip, n - skip) != 1) {
            c->read_error = EIO;
            return -1;
        }
        c->hashed_upto = off + n;
    }
    c->st.file_bytes = c->hashed_upto;
    return 0;
}

/* fopencookie read: reads from the file and hashes every byte handed to
 * libpcap.  After a resynchronisation the stream is the saved global
 * header followed by the file from c->stream_base, read with pread.
 * Returns bytes read, 0 at EOF, -1 on error. */
static ssize_t cookie_read(void *cookie, char *buf, size_t size)
{
    struct capture *c = cookie;
    uint64_t off;
    ssize_t n;

    if (c->fd < 0)
        return 0;
    if (c->resynced && c->stream_pos < PCAP_GHDR_LEN) {
        size_t k = PCAP_GHDR_LEN - (size_t)c->stream_pos;

        if (k > size)
            k = size;
        memcpy(buf, c->ghdr + c->stream_pos, k);
        c->stream_pos += k;
        return (ssize_t)k;
    }
    off = c->resynced ? c->stream_base + (c->stream_pos - PCAP_GHDR_LEN) : c->stream_pos;
    do
        n = c->resynced ? pread(c->fd, buf, size, (off_t)off) : read(c->fd, buf, size);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        c->read_error = errno;
        return -1;
    }
    if (n == 0)
        c->eof_seen = 1;
    if (n > 0) {
        if (account_bytes(c, (const uint8_t *)buf, off, (size_t)n))
            return -1;
        c->stream_pos += (uint64_t)n;
    }
    return n;
}

/* fopencookie seek: only tells the position (ftell), which is how the
 * offset of a corrupt record is found. */
static int cookie_seek(void *cookie, off64_t *offset, int whence)
{
    struct capture *c = cookie;

    if (whence != SEEK_CUR || *offset != 0 || c->stream_pos > (uint64_t)INT64_MAX) {
        errno = ESPIPE;
        return -1;
    }
    *offset = (off64_t)c->stream_pos;
    return 0;
}

/* fopencookie close: closes the file (not stdin, not while the stream is
 * being replaced after a corrupt record). */
static int cookie_close(void *cookie)
{
    struct capture *c = cookie;

    if (c->keep_fd)
        return 0;
    if (c->fd >= 0 && !c->fd_is_stdin)
        close(c->fd);
    c->fd = -1;
    return 0;
}

/* The hashing thread maps the file in windows of HASH_CHUNK bytes (no copy:
 * a pread loop costs as much again as the hashing).  A file truncated while
 * mapped raises SIGBUS in this thread; the handler jumps back and the
 * digest is given up.  Any other SIGBUS goes to the handler that was
 * there before (the default, or a sanitizer's). */
static _Thread_local sigjmp_buf *hash_jb;
static struct sigaction old_sigbus;     /* restored for any other SIGBUS */

static void on_sigbus(int sig)
{
    if (hash_jb != NULL)
        siglongjmp(*hash_jb, 1);
    sigaction(sig, &old_sigbus, NULL);
    raise(sig);
}

/* The hashing thread: SHA-256 of the file from offset 0 to its end. */
static void *hash_main(void *arg)
{
    struct hasher *h = arg;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int mdlen = 0;
    sigjmp_buf jb;
    sigset_t all;
    void *volatile map = NULL;
    volatile size_t maplen = 0;

    /* Stop signals are the analysis thread's. */
    sigfillset(&all);
    sigdelset(&all, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        goto out;
    if (sigsetjmp(jb, 0) != 0) {         /* SIGBUS: the file shrank */
        hash_jb = NULL;
        goto out;
    }
    hash_jb = &jb;
    for (;;) {
        struct stat sb;
        size_t n;

        if (atomic_load_explicit(&h->stop, memory_order_relaxed))
            goto out;
        if (fstat(h->fd, &sb) != 0 || (uint64_t)sb.st_size < h->done)
            goto out;
        if ((uint64_t)sb.st_size == h->done)
            break;
        n = (uint64_t)sb.st_size - h->done > HASH_CHUNK ? HASH_CHUNK
                                                        : (size_t)((uint64_t)sb.st_size - h->done);
        map = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, h->fd, (off_t)h->done);
        if (map == MAP_FAILED) {
            map = NULL;
            goto out;
        }
        maplen = n;
        if (EVP_DigestUpdate(md, map, n) != 1)
            goto out;
        munmap(map, n);
        map = NULL;
        h->done += n;
    }
    h->ok = EVP_DigestFinal_ex(md, h->md, &mdlen) == 1 && mdlen == sizeof h->md;
out:
    hash_jb = NULL;
    if (map != NULL)
        munmap(map, maplen);
    EVP_MD_CTX_free(md);
    return NULL;
}

static void install_sigbus(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old_sigbus);
}

/* Starts a hashing thread over the regular file open as fd, which it
 * owns from now on (closed by hasher_free, or here on failure).  NULL
 * when no thread could be started. */
static struct hasher *hasher_spawn(int fd)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct hasher *h;

    if (fd < 0)
        return NULL;
    h = calloc(1, sizeof *h);
    if (h == NULL) {
        close(fd);
        return NULL;
    }
    pthread_once(&once, install_sigbus);
    h->fd = fd;
    atomic_init(&h->stop, 0);
    if (pthread_create(&h->th, NULL, hash_main, h) != 0) {
        close(fd);
        free(h);
        return NULL;
    }
    return h;
}

/* Starts the hashing thread over the regular file open as c->fd (its own
 * descriptor of the same open file, so a rename of the path cannot give it
 * another file).  0, or -1 (no thread: the caller hashes on this thread). */
static int hasher_start(struct capture *c)
{
    c->hs = hasher_spawn(fcntl(c->fd, F_DUPFD_CLOEXEC, 0));
    return c->hs != NULL ? 0 : -1;
}

/* Waits for the hashing thread (asking it to stop first when stop).
 * Idempotent. */
static void hasher_join(struct hasher *h, int stop)
{
    if (h == NULL || h->joined)
        return;
    if (stop)
        atomic_store(&h->stop, 1);
    pthread_join(h->th, NULL);
    h->joined = 1;
}

/* Stops and frees a hashing thread (NULL is fine). */
static void hasher_free(struct hasher *h)
{
    if (h == NULL)
        return;
    hasher_join(h, 1);
    close(h->fd);
    free(h);
}

/* The digest of a joined hasher as 64 hex digits and a NUL. */
static void hex_digest(const unsigned char *md, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[2 * n] = '\0';
}

cap_prehash_t *capture_prehash_start(const char *path)
{
    struct cap_prehash *ph;
    struct stat sb;
    int fd;

    if (path == NULL || strcmp(path, "-") == 0)
        return NULL;
    /* Never opened unless a regular file: opening a named pipe would wait
     * for its writer, and closing it again would leave the writer without
     * a reader (SIGPIPE) until the capture opens it.  O_NONBLOCK for a
     * pipe put there in between. */
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
        (ph = calloc(1, sizeof *ph)) == NULL) {
        close(fd);
        return NULL;
    }
    ph->dev = sb.st_dev;
    ph->ino = sb.st_ino;
    ph->hs = hasher_spawn(fd);
    if (ph->hs == NULL) {
        free(ph);
        return NULL;
    }
    return ph;
}

int capture_prehash_digest(cap_prehash_t *ph, char out[65])
{
    out[0] = '\0';
    if (ph == NULL || ph->hs == NULL)
        return -1;
    hasher_join(ph->hs, 0);
    if (!ph->hs->ok)
        return -1;
    hex_digest(ph->hs->md, sizeof ph->hs->md, out);
    return 0;
}

void capture_prehash_free(cap_prehash_t *ph)
{
    if (ph == NULL)
        return;
    hasher_free(ph->hs);
    free(ph);
}

/* Reads what is left of the file after libpcap saw its end: hashed here
 * (c->md) or only counted (the thread hashes the file itself).  The digest
 * is taken later, by finish_digest.  Returns 0, -1 on a read error. */
static int finish_read(struct capture *c)
{
    unsigned char buf[65536];
    ssize_t n;

    if (c->md == NULL && c->hs == NULL)
        return 0;                       /* not hashed (no_hash) */
    while (c->fd >= 0) {
        n = c->resynced ? pread(c->fd, buf, sizeof buf, (off_t)c->hashed_upto)
                        : read(c->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (c->md != NULL && EVP_DigestUpdate(c->md, buf, (size_t)n) != 1)
            return -1;
        c->hashed_upto += (uint64_t)n;
        c->st.file_bytes = c->hashed_upto;
    }
    c->digest_pending = 1;
    return 0;
}

/* Finalizes the digest of the whole file into c->sha, waiting for the
 * hashing thread.  The thread's digest counts only if it hashed exactly
 * the bytes read here (a file that changed while it was read has none). */
static void finish_digest(struct capture *c)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!c->digest_pending)
        return;
    c->digest_pending = 0;
    if (c->hs != NULL) {
        hasher_join(c->hs, 0);
        if (c->hs->ok && c->hs->done == c->hashed_upto)
            hex_digest(c->hs->md, sizeof c->hs->md, c->sha);
    } else if (c->md != NULL && EVP_DigestFinal_ex(c->md, md, &mdlen) == 1 &&
               mdlen * 2 < sizeof c->sha) {
        hex_digest(md, mdlen, c->sha);
    }
}

/* Gives fp a FILE_BUFFER-byte buffer (glibc ignores the size when setvbuf
 * is given no buffer, and a cookie stream then reads 8 KiB at a time).
 * One buffer serves every stream of c: a new one is only made after the
 * old one was closed (resynchronisation). */
static void set_file_buffer(struct capture *c, FILE *fp)
{
    if (c->iobuf == NULL)
        c->iobuf = malloc(FILE_BUFFER);
    if (c->iobuf != NULL)
        setvbuf(fp, c->iobuf, _IOFBF, FILE_BUFFER);
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

/* Reads a little- or big-endian 32-bit field. */
static uint32_t get32(const uint8_t *b, int be)
{
    if (be)
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

/* Regular file: keeps its global header if it is a classic pcap one
 * (micro- or nanosecond, either byte order), for resynchronisation. */
static void save_global_header(struct capture *c)
{
    ssize_t n;
    uint32_t magic, snap;

    do
        n = pread(c->fd, c->ghdr, PCAP_GHDR_LEN, 0);
    while (n < 0 && errno == EINTR);
    if (n != PCAP_GHDR_LEN)
        return;
    magic = get32(c->ghdr, 0);
    switch (magic) {
    case 0xa1b2c3d4u: c->ghdr_be = 0; c->ghdr_nsec = 0; break;
    case 0xa1b23c4du: c->ghdr_be = 0; c->ghdr_nsec = 1; break;
    case 0xd4c3b2a1u: c->ghdr_be = 1; c->ghdr_nsec = 0; break;
    case 0x4d3cb2a1u: c->ghdr_be = 1; c->ghdr_nsec = 1; break;
    default:
        return;                         /* pcapng, modified pcap, ... */
    }
    snap = get32(c->ghdr + 16, c->ghdr_be);
    c->ghdr_snaplen = (snap == 0 || snap > RESYNC_MAX_LEN) ? RESYNC_MAX_LEN : snap;
    c->ghdr_ok = 1;
}

capture_t *capture_open_file(const char *path, const struct cap_config *cfg,
                             char *errbuf)
{
    static const cookie_io_functions_t io = {
        .read = cookie_read, .write = NULL, .seek = cookie_seek, .close = cookie_close
    };
    char perr[PCAP_ERRBUF_SIZE];
    struct cap_prehash *ph = cfg->prehash;  /* ours now, whatever happens */
    struct capture *c;
    struct stat sb;
    FILE *fp;

    errbuf[0] = '\0';
    c = cap_new(cfg, errbuf);
    if (c == NULL) {
        capture_prehash_free(ph);
        return NULL;
    }
    if (strcmp(path, "-") == 0) {
        c->fd = STDIN_FILENO;
        c->fd_is_stdin = 1;
    } else {
        c->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (c->fd < 0) {
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s: %s", path, strerror(errno));
            capture_prehash_free(ph);
            capture_close(c);
            return NULL;
        }
    }
    if (fstat(c->fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        c->file_size = (uint64_t)sb.st_size;
        if (!c->fd_is_stdin)
            save_global_header(c);
        /* the thread started ahead hashes this very file: it goes on */
        if (ph != NULL && !cfg->no_hash && !c->fd_is_stdin && c->file_size > 0 &&
            ph->dev == sb.st_dev && ph->ino == sb.st_ino) {
            c->hs = ph->hs;
            ph->hs = NULL;
        }
    }
    capture_prehash_free(ph);
    if (c->hs != NULL)
        ;                               /* hashed by the thread started ahead */
    else if (!cfg->no_hash && c->file_size > 0 && !c->fd_is_stdin && hasher_start(c) == 0)
        ;                               /* hashed by the thread */
    else if (!cfg->no_hash && ((c->md = EVP_MD_CTX_new()) == NULL ||
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
    set_file_buffer(c, fp);             /* fewer, larger reads */
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

/* ---- resynchronisation after a corrupt record (regular pcap files) ---- */

/* Whether the 16 bytes at h look like a record header of this file with a
 * time near ref (any time when !use_ref).  Sets *caplen, *sec. */
static int rhdr_plausible(const struct capture *c, const uint8_t *h, int use_ref,
                          uint32_t ref, uint32_t *caplen, uint32_t *sec)
{
    uint32_t ts = get32(h, c->ghdr_be), frac = get32(h + 4, c->ghdr_be);
    uint32_t cl = get32(h + 8, c->ghdr_be), len = get32(h + 12, c->ghdr_be);

    if (frac >= (c->ghdr_nsec ? 1000000000u : 1000000u))
        return 0;
    if (cl > c->ghdr_snaplen || cl > len || len > RESYNC_MAX_LEN)
        return 0;
    if (use_ref && (ts > ref ? ts - ref : ref - ts) > RESYNC_TS_SLACK)
        return 0;
    *caplen = cl;
    *sec = ts;
    return 1;
}

/* pread of exactly n bytes at off; 0 or -1. */
static int pread_full(int fd, uint8_t *b, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, b, n, (off_t)off);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Looks after the corrupt record header at file offset bad for the next
 * offset holding a plausible record header whose record fits in the file
 * and is followed by another plausible header or by the exact end of the
 * file.  Looks at most CAP_RESYNC_SCAN_MAX bytes.  0 and *out, or -1. */
static int find_resync(const struct capture *c, uint64_t bad, uint64_t *out)
{
    enum { WIN = 1024 * 1024 };
    uint64_t end = c->file_size, o = bad + 1, w = 0, wlen = 0;
    uint8_t *buf;
    int found = -1;

    if (end - bad > CAP_RESYNC_SCAN_MAX + PCAP_RHDR_LEN)
        end = bad + CAP_RESYNC_SCAN_MAX + PCAP_RHDR_LEN;
    buf = malloc(WIN);
    if (buf == NULL)
        return -1;
    for (; o + PCAP_RHDR_LEN <= end; o++) {
        uint32_t cl, sec, cl2, sec2;
        uint64_t next;
        uint8_t nh[PCAP_RHDR_LEN];

        if (o < w || o + PCAP_RHDR_LEN > w + wlen) {
            w = o;
            wlen = end - o < WIN ? end - o : WIN;
            if (pread_full(c->fd, buf, (size_t)wlen, w))
                break;
        }
        if (!rhdr_plausible(c, buf + (o - w), c->have_rec, c->last_sec, &cl, &sec))
            continue;
        next = o + PCAP_RHDR_LEN + cl;
        if (next == c->file_size) {
            found = 0;
            break;
        }
        if (next + PCAP_RHDR_LEN > c->file_size)
            continue;
        if (next + PCAP_RHDR_LEN <= w + wlen)
            memcpy(nh, buf + (next - w), PCAP_RHDR_LEN);
        else if (pread_full(c->fd, nh, PCAP_RHDR_LEN, next))
            continue;
        if (rhdr_plausible(c, nh, 1, c->have_rec ? c->last_sec : sec, &cl2, &sec2)) {
            found = 0;
            break;
        }
    }
    free(buf);
    if (found == 0)
        *out = o;
    return found;
}

/* After pcap_next_ex failed on a regular pcap file before its end: finds
 * the next plausible record and replaces c->p by a handle reading the
 * saved global header then the file from there.  0 when reading can go
 * on; -1 (nothing changed, or errbuf says why) when not. */
static int try_resync(struct capture *c, char *errbuf)
{
    static const cookie_io_functions_t io = {
        .read = cookie_read, .write = NULL, .seek = cookie_seek, .close = cookie_close
    };
    char perr[PCAP_ERRBUF_SIZE];
    long pos;
    uint64_t logical, bad, at;
    FILE *fp;

    if (c->live || c->fd_is_stdin || !c->ghdr_ok || c->read_error || c->eof_seen ||
        c->fd < 0 || c->file_size == 0)
        return -1;
    pos = ftell(pcap_file(c->p));
    if (pos < PCAP_GHDR_LEN + PCAP_RHDR_LEN)
        return -1;
    logical = (uint64_t)pos - PCAP_RHDR_LEN;    /* start of the bad header */
    bad = c->resynced ? c->stream_base + (logical - PCAP_GHDR_LEN) : logical;
    if (bad >= c->file_size || find_resync(c, bad, &at))
        return -1;
    /* Drop the old handle, keeping the file open. */
    c->keep_fd = 1;
    pcap_close(c->p);
    c->keep_fd = 0;
    c->p = NULL;
    c->resynced = 1;
    c->stream_base = at;
    c->stream_pos = 0;
    c->eof_seen = 0;
    c->skipped += at - bad;
    fp = fopencookie(c, "r", io);
    if (fp == NULL) {
        snprintf(errbuf, CAP_ERRBUF_SIZE, "resynchronising after a corrupt record: %s",
                 strerror(errno));
        return -1;
    }
    set_file_buffer(c, fp);
    perr[0] = '\0';
    c->p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, perr);
    if (c->p == NULL) {
        c->keep_fd = 1;
        fclose(fp);
        c->keep_fd = 0;
        snprintf(errbuf, CAP_ERRBUF_SIZE, "resynchronising after a corrupt record: %s",
                 c->read_error ? strerror(c->read_error) : perr);
        return -1;
    }
    return 0;
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
            c->have_rec = 1;
            c->last_sec = (uint32_t)h->ts.tv_sec;
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
            if (finish_read(c)) {
                snprintf(errbuf, CAP_ERRBUF_SIZE, "read error after the last record: %s",
                         strerror(errno));
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
            finish_read(c);             /* no digest after a read error */
            return 2;
        }
        /* A regular pcap file with a corrupt record header: go on from the
         * next plausible record (the bytes skipped become gaps). */
        if (!c->live) {
            char rerr[CAP_ERRBUF_SIZE];

            snprintf(rerr, sizeof rerr, "%s", pcap_geterr(c->p));
            if (try_resync(c, errbuf) == 0)
                continue;
            if (c->p == NULL) {         /* the reopen failed */
                cap_flow_end_all(c->ft, CAP_END_EOF);
                return -1;
            }
            snprintf(errbuf, CAP_ERRBUF_SIZE, "%s", rerr);
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

const char *capture_sha256(capture_t *c)
{
    finish_digest(c);
    return c->sha;
}

uint64_t capture_file_size(const capture_t *c)
{
    return c->file_size;
}

uint64_t capture_skipped_bytes(const capture_t *c)
{
    return c->skipped;
}

void capture_close(capture_t *c)
{
    if (c == NULL)
        return;
    if (c->p)
        pcap_close(c->p);               /* closes the cookie FILE and fd */
    else if (c->fd >= 0 && !c->fd_is_stdin)
        close(c->fd);
    free(c->iobuf);                     /* after the FILE that used it */
    EVP_MD_CTX_free(c->md);
    hasher_free(c->hs);
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
