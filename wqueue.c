/*
 * wqueue.c — the record queue of wqueue.h: a byte ring guarded by one
 * mutex.  A record is an 8-byte header (type, length) and its bytes padded
 * to 8; a record never wraps (the rest of the ring is skipped with a pad
 * record).  The worker takes everything queued at once, runs it outside
 * the lock and then gives the space back, so the lock is taken about once
 * per batch, not per record.
 */
#include "wqueue.h"
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WQ_PAD UINT32_MAX

struct wq_hdr {
    uint32_t type;
    uint32_t len;               /* payload bytes (before padding) */
};

struct wqueue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    pthread_t th;
    unsigned char *buf;
    size_t cap, head, tail, used;   /* used: bytes between head and tail */
    int done;
    wq_fn fn;
    void *arg;
};

static size_t pad8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

static void *wq_main(void *p)
{
    wqueue_t *q = p;

    for (;;) {
        size_t at, avail, took = 0;

        pthread_mutex_lock(&q->mu);
        while (q->used == 0 && !q->done)
            pthread_cond_wait(&q->not_empty, &q->mu);
        if (q->used == 0) {             /* done and drained */
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        at = q->head;
        avail = q->used;
        pthread_mutex_unlock(&q->mu);

        while (took < avail) {
            struct wq_hdr h;
            size_t n;

            if (at == q->cap)
                at = 0;
            memcpy(&h, q->buf + at, sizeof h);
            n = sizeof h + pad8(h.len);
            if (h.type != WQ_PAD)
                q->fn(q->arg, h.type, q->buf + at + sizeof h, h.len);
            at += n;
            took += n;
        }
        if (at == q->cap)
            at = 0;

        pthread_mutex_lock(&q->mu);
        q->head = at;
        q->used -= took;
        pthread_cond_broadcast(&q->not_full);
        pthread_mutex_unlock(&q->mu);
    }
}

wqueue_t *wq_start(size_t cap, wq_fn fn, void *arg)
{
    wqueue_t *q = calloc(1, sizeof *q);

    if (q == NULL)
        return NULL;
    q->cap = pad8(cap ? cap : WQ_BYTES);
    q->buf = malloc(q->cap);
    q->fn = fn;
    q->arg = arg;
    if (q->buf == NULL)
        goto fail;
    if (pthread_mutex_init(&q->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&q->not_empty, NULL) != 0)
        goto fail_mu;
    if (pthread_cond_init(&q->not_full, NULL) != 0)
        goto fail_ne;
    if (pthread_create(&q->th, NULL, wq_main, q) != 0)
        goto fail_nf;
    return q;
fail_nf:
    pthread_cond_destroy(&q->not_full);
fail_ne:
    pthread_cond_destroy(&q->not_empty);
fail_mu:
    pthread_mutex_destroy(&q->mu);
fail:
    free(q->buf);
    free(q);
    return NULL;
}

int wq_put(wqueue_t *q, uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
    size_t body = pad8(alen) + pad8(blen), rec = sizeof(struct wq_hdr) + body, need;
    struct wq_hdr h;

    if (type == WQ_PAD || body > UINT32_MAX || rec > q->cap / 2)
        return -1;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        /* a record that does not fit before the end starts again at 0 */
        need = q->tail + rec > q->cap ? q->cap - q->tail + rec : rec;
        if (q->cap - q->used >= need)
            break;
        pthread_cond_wait(&q->not_full, &q->mu);
    }
    if (q->tail + rec > q->cap) {
        if (q->cap - q->tail >= sizeof h) {
            h.type = WQ_PAD;
            h.len = (uint32_t)(q->cap - q->tail - sizeof h);
            memcpy(q->buf + q->tail, &h, sizeof h);
        }
        q->used += q->cap - q->tail;
        q->tail = 0;
    }
    pthread_mutex_unlock(&q->mu);

    /* [tail, tail + rec) is this producer's alone until used grows */
    h.type = type;
    h.len = (uint32_t)body;
    memcpy(q->buf + q->tail, &h, sizeof h);
    if (alen)
        memcpy(q->buf + q->tail + sizeof h, a, alen);
    if (blen)
        memcpy(q->buf + q->tail + sizeof h + pad8(alen), b, blen);

    pthread_mutex_lock(&q->mu);
    q->tail += rec;
    if (q->tail == q->cap)
        q->tail = 0;
    q->used += rec;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void wq_finish(wqueue_t *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->done = 1;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->th, NULL);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->mu);
    free(q->buf);
    free(q);
}
