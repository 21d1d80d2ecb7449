/*
 * test_wqueue.c — wqueue.c: records reach the worker whole and in order,
 * across every wrap of the ring, with a producer much faster than the
 * worker (it must wait, never overwrite), and wq_finish drains them all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "wqueue.h"

struct seen {
    uint32_t next;              /* type expected next */
    uint32_t bad;               /* records out of order or damaged */
    uint64_t bytes;
    int slow;                   /* sleep now and then in the worker */
};

/* Record i: a = 4-byte i then (i % 29) bytes of i & 0xff; b = (i % 53)
 * bytes of ~i & 0xff. */
static size_t part_a(uint32_t i, unsigned char *buf)
{
    size_t n = 4 + i % 29;
    memcpy(buf, &i, 4);
    memset(buf + 4, (int)(i & 0xff), n - 4);
    return n;
}

static size_t part_b(uint32_t i, unsigned char *buf)
{
    size_t n = i % 53;
    memset(buf, (int)(~i & 0xff), n);
    return n;
}

static void worker(void *arg, uint32_t type, void *rec, size_t len)
{
    struct seen *s = arg;
    unsigned char a[64], b[64];
    size_t na = part_a(type, a), nb = part_b(type, b);
    size_t off_b = (na + 7) & ~(size_t)7;

    if (type != s->next || ((uintptr_t)rec & 7) != 0 || len < off_b + nb
        || memcmp(rec, a, na) != 0 || (nb && memcmp((unsigned char *)rec + off_b, b, nb) != 0))
        s->bad++;
    s->next = type + 1;
    s->bytes += len;
    if (s->slow && type % 97 == 0) {
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
}

static void run(size_t cap, uint32_t n, int slow)
{
    struct seen s = { 1, 0, 0, slow };
    wqueue_t *q = wq_start(cap, worker, &s);
    unsigned char a[64], b[64];

    assert_non_null(q);
    for (uint32_t i = 1; i <= n; i++) {
        size_t na = part_a(i, a), nb = part_b(i, b);
        assert_int_equal(wq_put(q, i, a, na, nb ? b : NULL, nb), 0);
    }
    wq_finish(q);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.next, n + 1);     /* every record, once */
}

/* A ring of 256 bytes: records of 16..104 bytes wrap it every few puts. */
static void test_small_ring_wraps(void **state)
{
    (void)state;
    run(256, 20000, 0);
}

/* A slow worker: the producer fills the ring and must wait. */
static void test_slow_worker(void **state)
{
    (void)state;
    run(512, 3000, 1);
}

/* The default size, many records. */
static void test_default(void **state)
{
    (void)state;
    run(0, 200000, 0);
}

/* A record larger than half the ring is refused; nothing reaches the
 * worker; an empty queue finishes at once. */
static void test_too_big(void **state)
{
    struct seen s = { 1, 0, 0, 0 };
    unsigned char big[200];
    wqueue_t *q = wq_start(256, worker, &s);

    (void)state;
    assert_non_null(q);
    memset(big, 0, sizeof big);
    assert_int_equal(wq_put(q, 1, big, sizeof big, NULL, 0), -1);
    wq_finish(q);
    assert_int_equal(s.next, 1);
    assert_int_equal(s.bytes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_ring_wraps),
        cmocka_unit_test(test_slow_worker),
        cmocka_unit_test(test_default),
        cmocka_unit_test(test_too_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
