/*
 * wqueue.h — a bounded queue of records handed to one worker thread.
 *
 * `mailtap analyze` keeps the analysis on one thread and gives the
 * database writes (SQLite inserts, about a fifth of an analysis) to a
 * worker through this queue, in order.  Records are copied in: the
 * producer's memory is free again when wq_put returns.  The queue holds at
 * most WQ_BYTES of records; a producer that finds it full waits, so memory
 * never grows with the input.
 */
#ifndef MAILTAP_WQUEUE_H
#define MAILTAP_WQUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct wqueue wqueue_t;

/* Called on the worker thread for every record, in the order put: its
 * type and its bytes (the parts given to wq_put, each padded to 8 bytes,
 * 8-byte aligned). */
typedef void (*wq_fn)(void *arg, uint32_t type, void *rec, size_t len);

/* Starts the worker.  cap: queue bytes (0 = WQ_BYTES).  NULL on failure
 * (the caller then does the work itself). */
wqueue_t *wq_start(size_t cap, wq_fn fn, void *arg);
/* Copies the parts (a, then b at the next multiple of 8) as one record.
 * One producer thread.  Waits while the queue is full.  0, or -1 when the
 * record can never fit (more than half the queue). */
int wq_put(wqueue_t *q, uint32_t type, const void *a, size_t alen, const void *b, size_t blen);
/* Lets the worker finish every record put, waits for it and frees q. */
void wq_finish(wqueue_t *q);

#endif
