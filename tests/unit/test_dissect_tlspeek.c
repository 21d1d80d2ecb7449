/* test_dissect_tlspeek.c — tls_peek / tls_peek_hs_type (dissect/tlspeek.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dissect/tlspeek.h"

/* Runs tls_peek on an exact-size heap copy of the first n bytes. */
static enum tls_peek peek_n(const char *bytes, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    enum tls_peek r;

    assert_non_null(p);
    memcpy(p, bytes, n);
    r = tls_peek(n ? p : NULL, n);
    free(p);
    return r;
}

static int hs_n(const char *bytes, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    int r;

    assert_non_null(p);
    memcpy(p, bytes, n);
    r = tls_peek_hs_type(p, n);
    free(p);
    return r;
}

#define PEEK(lit) peek_n(lit, sizeof(lit) - 1)
#define HS(lit) hs_n(lit, sizeof(lit) - 1)

static void test_record_types(void **st)
{
    (void)st;
    assert_int_equal(PEEK("\x16\x03\x01\x00\x05\x01"), TLS_PEEK_HANDSHAKE);
    assert_int_equal(PEEK("\x16\x03\x00"), TLS_PEEK_HANDSHAKE);
    assert_int_equal(PEEK("\x16\x03\x04"), TLS_PEEK_HANDSHAKE);
    assert_int_equal(PEEK("\x15\x03\x03\x00\x02\x02\x28"), TLS_PEEK_ALERT);
    assert_int_equal(PEEK("\x14\x03\x03\x00\x01\x01"), TLS_PEEK_CCS);
    assert_int_equal(PEEK("\x17\x03\x03\x00\x20"), TLS_PEEK_APPDATA);
}

static void test_not_tls(void **st)
{
    (void)st;
    assert_int_equal(PEEK("\x16\x03\x05"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("\x16\x02\x00"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("\x16\x02"), TLS_PEEK_NOT_TLS);     /* decided at 2 */
    assert_int_equal(PEEK("\x18\x03\x03"), TLS_PEEK_NOT_TLS); /* heartbeat */
    assert_int_equal(PEEK("\x13\x03\x03"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("\x00\x00\x00"), TLS_PEEK_NOT_TLS);
}

static void test_smtp_text(void **st)
{
    (void)st;
    /* decided from the first byte */
    assert_int_equal(peek_n("220 mx.example ESMTP\r\n", 1), TLS_PEEK_NOT_TLS);
    assert_int_equal(peek_n("EHLO client\r\n", 1), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("220 mx.example ESMTP\r\n"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("EHLO client\r\n"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("AUTH PLAIN\r\n"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("\r\n"), TLS_PEEK_NOT_TLS);
}

static void test_short(void **st)
{
    (void)st;
    assert_int_equal(tls_peek(NULL, 0), TLS_PEEK_NEED_MORE);
    assert_int_equal(peek_n("\x16", 0), TLS_PEEK_NEED_MORE);
    assert_int_equal(PEEK("\x16"), TLS_PEEK_NEED_MORE);
    assert_int_equal(PEEK("\x16\x03"), TLS_PEEK_NEED_MORE);
    assert_int_equal(PEEK("\x17"), TLS_PEEK_NEED_MORE);
    assert_int_equal(PEEK("\x80"), TLS_PEEK_NEED_MORE);
    assert_int_equal(PEEK("\x80\x2e"), TLS_PEEK_NEED_MORE);
}

static void test_sslv2(void **st)
{
    (void)st;
    /* 2-byte header, CLIENT-HELLO, version 3.1 */
    assert_int_equal(PEEK("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10"),
                     TLS_PEEK_SSLV2_HELLO);
    assert_int_equal(PEEK("\x80\x2e\x01\x00\x02"), TLS_PEEK_SSLV2_HELLO);
    assert_int_equal(PEEK("\x80\x2e\x01\x03\x00"), TLS_PEEK_SSLV2_HELLO);
    assert_int_equal(PEEK("\x80\x2e\x01\x03\x03"), TLS_PEEK_SSLV2_HELLO);
    assert_int_equal(PEEK("\x80\x2e\x01"), TLS_PEEK_SSLV2_HELLO);   /* 3 bytes */
    assert_int_equal(PEEK("\x80\x2e\x01\x03"), TLS_PEEK_SSLV2_HELLO);
    assert_int_equal(PEEK("\x81\x00\x01\x03\x01"), TLS_PEEK_SSLV2_HELLO);
    assert_int_equal(PEEK("\x80\x2e\x01\x03\x04"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("\x80\x2e\x01\x00\x03"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("\x80\x2e\x01\x02\x00"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("\x80\x2e\x01\x05"), TLS_PEEK_NOT_TLS);
    assert_int_equal(PEEK("\x80\x2e\x02"), TLS_PEEK_NOT_TLS);       /* not hello */
    assert_int_equal(PEEK("\x80\x05\x01\x03\x01"), TLS_PEEK_NOT_TLS); /* too short */
    assert_int_equal(PEEK("\xc3\xa9t"), TLS_PEEK_NOT_TLS);         /* UTF-8 text */
}

static void test_hs_type(void **st)
{
    (void)st;
    assert_int_equal(HS("\x16\x03\x01\x00\x05\x01"), 1);
    assert_int_equal(HS("\x16\x03\x03\x00\x4a\x02\x00\x00\x46"), 2);
    assert_int_equal(HS("\x16\x03\x03\x04\x00\x0b"), 11);
    assert_int_equal(HS("\x16\x03\x01\x00\x05"), -1);      /* 5 bytes */
    assert_int_equal(HS("\x16\x03\x01\x00\x00\x01"), -1);  /* empty record */
    assert_int_equal(HS("\x15\x03\x03\x00\x02\x02"), -1);  /* alert */
    assert_int_equal(HS("\x17\x03\x03\x00\x02\x01"), -1);
    assert_int_equal(HS("EHLO x\r\n"), -1);
    assert_int_equal(HS("\x80\x2e\x01\x03\x01\x00"), -1);  /* SSLv2 */
    assert_int_equal(tls_peek_hs_type(NULL, 6), -1);
}

/* Every prefix of a real-looking ClientHello is NEED_MORE then HANDSHAKE,
 * never NOT_TLS; exact-size copies catch over-reads. */
static void test_prefixes(void **st)
{
    static const char ch[] =
        "\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03"
        "0123456789abcdef0123456789abcdef\x00\x00\x02\x13\x01\x01\x00";
    (void)st;
    for (size_t n = 0; n < sizeof ch - 1; n++) {
        enum tls_peek r = peek_n(ch, n);
        assert_int_equal(r, n < 3 ? TLS_PEEK_NEED_MORE : TLS_PEEK_HANDSHAKE);
        assert_int_equal(hs_n(ch, n), n < 6 ? -1 : 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_types),
        cmocka_unit_test(test_not_tls),
        cmocka_unit_test(test_smtp_text),
        cmocka_unit_test(test_short),
        cmocka_unit_test(test_sslv2),
        cmocka_unit_test(test_hs_type),
        cmocka_unit_test(test_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
