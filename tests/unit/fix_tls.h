/*
 * fix_tls.h — the recorded TLS handshakes of tests/unit/data/tls (made by
 * make.sh, NAME.c2s / NAME.s2c), shared by the TLS and SMTP+TLS dissector
 * tests.
 */
#ifndef MT_FIX_TLS_H
#define MT_FIX_TLS_H

#include <stddef.h>
#include <stdint.h>

struct blob {
    uint8_t *p;
    size_t len;
};

struct fixture {
    const char *name;
    struct blob c2s, s2c;
};

#define NFX 10
extern struct fixture fx[NFX];

/* Directory of the unit tests + "/data/tls/" + name. */
void data_path(char *dst, size_t dstsz, const char *name);

/* The fixture called name (fails the test when there is none). */
const struct fixture *get_fx(const char *name);

/* cmocka group setup / teardown: reads every fixture, frees them (and
 * the TLS library's state). */
int fx_setup(void **state);
int fx_teardown(void **state);

/* s is n lower-case hex digits. */
int is_hex(const char *s, size_t n);

#endif
