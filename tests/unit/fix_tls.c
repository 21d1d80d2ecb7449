/*
 * fix_tls.c — the recorded TLS handshakes (fix_tls.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dissect/tls_int.h"       /* tls_lib_cleanup */
#include "tests/unit/fix_tls.h"

struct fixture fx[] = {
    { "tls12_ecdhe", { 0 }, { 0 } },
    { "tls13", { 0 }, { 0 } },
    { "tls10_weak", { 0 }, { 0 } },
    { "expired", { 0 }, { 0 } },
    { "rsa1024", { 0 }, { 0 } },
    { "hsfail", { 0 }, { 0 } },
    { "hrr", { 0 }, { 0 } },
    { "ecdsa", { 0 }, { 0 } },
    { "chain", { 0 }, { 0 } },
    { "tls12_resumed", { 0 }, { 0 } },
};

void data_path(char *dst, size_t dstsz, const char *name)
{
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    int dirlen = slash ? (int)(slash - f) : 1;

    snprintf(dst, dstsz, "%.*s/data/tls/%s", dirlen, slash ? f : ".", name);
}

static struct blob load(const char *name)
{
    char path[512];
    struct blob b = { NULL, 0 };
    FILE *fp;

    data_path(path, sizeof path, name);
    fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open fixture %s", path);
    b.p = malloc(65536);
    assert_non_null(b.p);
    b.len = fread(b.p, 1, 65536, fp);
    fclose(fp);
    assert_true(b.len > 0 && b.len < 8192);
    return b;
}

const struct fixture *get_fx(const char *name)
{
    for (size_t i = 0; i < NFX; i++)
        if (strcmp(fx[i].name, name) == 0)
            return &fx[i];
    fail_msg("no fixture %s", name);
    return NULL;
}

int fx_setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFX; i++) {
        char n[128];

        snprintf(n, sizeof n, "%s.c2s", fx[i].name);
        fx[i].c2s = load(n);
        snprintf(n, sizeof n, "%s.s2c", fx[i].name);
        fx[i].s2c = load(n);
    }
    return 0;
}

int fx_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFX; i++) {
        free(fx[i].c2s.p);
        free(fx[i].s2c.p);
    }
    tls_lib_cleanup();
    return 0;
}

int is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}
