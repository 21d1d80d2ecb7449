/* test_dissect_escape.c — mt_escape (dissect/escape.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dissect/escape.h"
#include "dissect/smtp_int.h"

/* Escapes lit[0..len) from an exact-size heap copy (ASan sees over-reads)
 * into a heap buffer of exactly dstsz; checks the NUL / length contract
 * and compares with want. */
static void check(const char *in, size_t len, size_t dstsz, const char *want)
{
    uint8_t *src = malloc(len ? len : 1);
    char *dst = malloc(dstsz);
    size_t n;

    assert_non_null(src);
    assert_non_null(dst);
    memcpy(src, in, len);
    memset(dst, 'Z', dstsz);
    n = mt_escape(dst, dstsz, src, len);
    assert_true(n < dstsz);
    assert_int_equal(dst[n], '\0');
    assert_int_equal(n, strlen(dst));
    assert_string_equal(dst, want);
    free(src);
    free(dst);
}

#define CHECK(lit, dstsz, want) check(lit, sizeof(lit) - 1, dstsz, want)

static void test_ascii(void **st)
{
    (void)st;
    CHECK("hello world", 64, "hello world");
    CHECK("", 64, "");
    CHECK("~!@#$%^&*()_+{}|:\"<>?", 64, "~!@#$%^&*()_+{}|:\"<>?");
}

static void test_controls(void **st)
{
    (void)st;
    CHECK("a\tb\r\n", 64, "a\\x09b\\x0d\\x0a");
    CHECK("\x1b[31mred", 64, "\\x1b[31mred");
    CHECK("\x7f", 64, "\\x7f");
    CHECK("\x01\x1f", 64, "\\x01\\x1f");
}

static void test_nul(void **st)
{
    (void)st;
    CHECK("a\0b", 64, "a\\x00b");
    CHECK("\0", 64, "\\x00");
}

static void test_backslash(void **st)
{
    (void)st;
    CHECK("a\\b", 64, "a\\\\b");
    CHECK("\\x41", 64, "\\\\x41");     /* cannot be confused with an escape */
}

static void test_valid_utf8(void **st)
{
    (void)st;
    CHECK("caf\xc3\xa9", 64, "caf\xc3\xa9");                 /* U+00E9 */
    CHECK("\xc2\xa0", 64, "\xc2\xa0");                       /* U+00A0 NBSP */
    CHECK("\xe2\x82\xac", 64, "\xe2\x82\xac");               /* U+20AC */
    CHECK("\xed\x9f\xbf", 64, "\xed\x9f\xbf");               /* U+D7FF */
    CHECK("\xee\x80\x80", 64, "\xee\x80\x80");               /* U+E000 */
    CHECK("\xf0\x9f\x98\x80", 64, "\xf0\x9f\x98\x80");       /* U+1F600 */
    CHECK("\xf4\x8f\xbf\xbf", 64, "\xf4\x8f\xbf\xbf");       /* U+10FFFF */
    CHECK("\xe0\xa0\x80", 64, "\xe0\xa0\x80");               /* U+0800 */
    CHECK("\xf0\x90\x80\x80", 64, "\xf0\x90\x80\x80");       /* U+10000 */
}

static void test_invalid_utf8(void **st)
{
    (void)st;
    CHECK("\xc0\x80", 64, "\\xc0\\x80");                     /* overlong NUL */
    CHECK("\xc1\xbf", 64, "\\xc1\\xbf");                     /* overlong */
    CHECK("\xe0\x80\xaf", 64, "\\xe0\\x80\\xaf");            /* overlong */
    CHECK("\xf0\x80\x80\xaf", 64, "\\xf0\\x80\\x80\\xaf");   /* overlong */
    CHECK("\xed\xa0\x80", 64, "\\xed\\xa0\\x80");            /* surrogate */
    CHECK("\xed\xbf\xbf", 64, "\\xed\\xbf\\xbf");            /* surrogate */
    CHECK("\xf4\x90\x80\x80", 64, "\\xf4\\x90\\x80\\x80");   /* > U+10FFFF */
    CHECK("\xf5\x80\x80\x80", 64, "\\xf5\\x80\\x80\\x80");
    CHECK("\xff\xfe", 64, "\\xff\\xfe");
    CHECK("\x80", 64, "\\x80");                              /* lone continuation */
    CHECK("\xe2\x82", 64, "\\xe2\\x82");                     /* cut at end */
    CHECK("\xe2\x82" "A", 64, "\\xe2\\x82A");                /* cut mid-stream */
    CHECK("\xc3" "\xc3\xa9", 64, "\\xc3\xc3\xa9");           /* resync */
    CHECK("\xc2\x85", 64, "\\xc2\\x85");                     /* C1 control NEL */
    CHECK("\xc2\x9b" "31m", 64, "\\xc2\\x9b31m");            /* C1 CSI */
}

static void test_truncation(void **st)
{
    (void)st;
    CHECK("abc", 4, "abc");              /* fits exactly */
    CHECK("abcd", 4, "...");
    CHECK("abcde", 5, "a...");
    CHECK("abcdefgh", 8, "abcd...");
    CHECK("abcdefg", 8, "abcdefg");
    /* never splits an escape */
    CHECK("\x01\x02", 9, "\\x01\\x02");
    CHECK("\x01\x02", 8, "\\x01...");
    CHECK("\x01\x02", 7, "...");
    CHECK("a\\\\", 5, "a...");           /* "a\\\\\\\\" is 5 chars: no room */
    CHECK("a\\\\", 6, "a\\\\\\\\");
    /* never splits a UTF-8 sequence */
    CHECK("ab\xe2\x82\xac", 6, "ab\xe2\x82\xac");
    CHECK("ab\xe2\x82\xac" "c", 6, "ab...");
    CHECK("ab\xe2\x82\xac" "c", 7, "ab\xe2\x82\xac" "c");
    CHECK("ab\xe2\x82\xac" "cdef", 9, "ab\xe2\x82\xac...");
    CHECK("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8, "\xf0\x9f\x98\x80...");
    CHECK("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 7, "...");
}

static void test_small_and_null(void **st)
{
    char d[4] = "xyz";
    (void)st;
    assert_int_equal(mt_escape(d, 1, (const uint8_t *)"abc", 3), 0);
    assert_int_equal(d[0], '\0');
    memcpy(d, "xyz", 4);
    assert_int_equal(mt_escape(d, 3, (const uint8_t *)"a", 1), 0);
    assert_string_equal(d, "");
    assert_int_equal(mt_escape(d, sizeof d, NULL, 0), 0);
    assert_string_equal(d, "");
    assert_int_equal(mt_escape(NULL, 0, (const uint8_t *)"a", 1), 0);
}

/* ---- property test against an independent decoder --------------------- */

/* Strict UTF-8 code point decode for the checker; returns the sequence
 * length or 0. */
static size_t dec_utf8(const uint8_t *p, size_t n, uint32_t *cp)
{
    size_t k;
    uint32_t u;

    if (p[0] < 0x80) { *cp = p[0]; return 1; }
    if ((p[0] & 0xe0) == 0xc0) { k = 2; u = p[0] & 0x1f; }
    else if ((p[0] & 0xf0) == 0xe0) { k = 3; u = p[0] & 0x0f; }
    else if ((p[0] & 0xf8) == 0xf0) { k = 4; u = p[0] & 0x07; }
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        u = u << 6 | (p[i] & 0x3f);
    }
    if ((k == 2 && u < 0x80) || (k == 3 && u < 0x800) || (k == 4 && u < 0x10000))
        return 0;
    if (u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff))
        return 0;
    *cp = u;
    return k;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Checks out (n bytes) is valid text per escape.h and decodes it back into
 * raw (returns the raw length). */
static size_t unescape_checked(const char *out, size_t n, uint8_t *raw)
{
    const uint8_t *o = (const uint8_t *)out;
    size_t i = 0, r = 0;

    while (i < n) {
        uint32_t cp = 0;
        size_t k;

        if (o[i] == '\\') {
            assert_true(i + 1 < n);
            if (o[i + 1] == '\\') {
                raw[r++] = '\\';
                i += 2;
                continue;
            }
            assert_int_equal(o[i + 1], 'x');
            assert_true(i + 3 < n);
            assert_true(hexval(out[i + 2]) >= 0 && hexval(out[i + 3]) >= 0);
            raw[r++] = (uint8_t)(hexval(out[i + 2]) << 4 | hexval(out[i + 3]));
            i += 4;
            continue;
        }
        k = dec_utf8(o + i, n - i, &cp);
        assert_true(k > 0);
        assert_false(cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f));
        memcpy(raw + r, o + i, k);
        r += k;
        i += k;
    }
    return r;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void test_property(void **st)
{
    static const uint8_t pool[] = {
        'a', 'Z', ' ', '.', '\\', 0, 0x1f, 0x7f, '\r', '\n',
        0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xc3, 0xdf, 0xe0, 0xe2, 0xed,
        0xef, 0xf0, 0xf4, 0xf5, 0xff
    };
    (void)st;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = rnd() % 24, dstsz = 4 + rnd() % 60, n;
        uint8_t in[24], raw[128];
        char *dst = malloc(dstsz);
        size_t r;

        assert_non_null(dst);
        for (size_t i = 0; i < len; i++)
            in[i] = pool[rnd() % sizeof pool];
        n = mt_escape(dst, dstsz, in, len);
        assert_true(n < dstsz);
        assert_int_equal(dst[n], '\0');
        if (n >= 3 && memcmp(dst + n - 3, "...", 3) == 0) {
            /* possibly truncated: the rest must decode to a prefix */
            r = unescape_checked(dst, n - 3, raw);
            assert_true(r <= len);
            assert_memory_equal(raw, in, r);
            if (r + 3 <= len && memcmp(in + r, "...", 3) == 0) {
                free(dst);
                continue;   /* the dots may be literal input */
            }
            assert_true(r < len);
        } else {
            r = unescape_checked(dst, n, raw);
            assert_int_equal(r, len);
            assert_memory_equal(raw, in, len);
        }
        free(dst);
    }
}

/* Evidence excerpts: at most SMTP_EXCERPT_MAX bytes, "..." when the line
 * went on or the buffer was too short, never a cut escape. */
static void test_excerpt(void **st)
{
    uint8_t line[200];
    char out[256], small[16];

    (void)st;
    memset(line, 'a', sizeof line);
    smtp_excerpt(out, sizeof out, line, SMTP_EXCERPT_MAX);
    assert_int_equal(strlen(out), SMTP_EXCERPT_MAX);      /* whole: no mark */
    smtp_excerpt(out, sizeof out, line, SMTP_EXCERPT_MAX + 1);
    assert_int_equal(strlen(out), SMTP_EXCERPT_MAX + 3);
    assert_memory_equal(out + SMTP_EXCERPT_MAX, "...", 4);
    smtp_excerpt(out, sizeof out, line, sizeof line);
    assert_int_equal(strlen(out), SMTP_EXCERPT_MAX + 3);
    /* escapes grow the text; the buffer cuts it, marked once */
    memset(line, 0x01, sizeof line);
    smtp_excerpt(small, sizeof small, line, sizeof line);
    assert_true(strlen(small) < sizeof small);
    assert_memory_equal(small + strlen(small) - 3, "...", 3);
    assert_null(strstr(small, "......"));
    assert_int_equal(strncmp(small, "\\x01", 4), 0);
    /* short and empty input */
    smtp_excerpt(out, sizeof out, (const uint8_t *)"250 ok", 6);
    assert_string_equal(out, "250 ok");
    smtp_excerpt(out, sizeof out, NULL, 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii),
        cmocka_unit_test(test_controls),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_backslash),
        cmocka_unit_test(test_valid_utf8),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_small_and_null),
        cmocka_unit_test(test_property),
        cmocka_unit_test(test_excerpt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
