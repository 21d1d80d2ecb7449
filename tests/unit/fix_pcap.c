/*
 * fix_pcap.c — packet and capture-file bytes (fix_pcap.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/fix_pcap.h"

void be16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

void be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

void le16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

void le32(uint8_t *b, uint32_t v)
{
    le16(b, (uint16_t)v);
    le16(b + 2, (uint16_t)(v >> 16));
}

void pcap_file_header(uint8_t h[24], uint32_t linktype)
{
    le32(h, 0xa1b2c3d4);
    le16(h + 4, 2);
    le16(h + 6, 4);
    le32(h + 8, 0);
    le32(h + 12, 0);
    le32(h + 16, 65535);
    le32(h + 20, linktype);
}

void pcap_rec_header(uint8_t h[16], uint32_t sec, uint32_t usec, size_t caplen, size_t len)
{
    le32(h, sec);
    le32(h + 4, usec);
    le32(h + 8, (uint32_t)caplen);
    le32(h + 12, (uint32_t)len);
}

const char *write_tmp(const void *d, size_t n, const char *suffix)
{
    static char path[4][128];
    static int k;
    char *s = path[k++ % 4];
    FILE *f;

    snprintf(s, 128, "/tmp/mailtap_test_%d_%d%s", (int)getpid(), k, suffix);
    f = fopen(s, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return s;
}
