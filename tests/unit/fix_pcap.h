/*
 * fix_pcap.h — packet and capture-file bytes for the capture/ unit tests:
 * byte order, TCP flags, classic pcap headers, a temporary file.
 */
#ifndef MT_FIX_PCAP_H
#define MT_FIX_PCAP_H

#include <stddef.h>
#include <stdint.h>

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

void be16(uint8_t *b, uint16_t v);
void be32(uint8_t *b, uint32_t v);
void le16(uint8_t *b, uint16_t v);
void le32(uint8_t *b, uint32_t v);

/* The pcap file header: microseconds, snaplen 65535, linktype. */
void pcap_file_header(uint8_t h[24], uint32_t linktype);

/* The header of one pcap record. */
void pcap_rec_header(uint8_t h[16], uint32_t sec, uint32_t usec, size_t caplen, size_t len);

/* Writes d[0..n) to a fresh file /tmp/mailtap_test_PID_K<suffix>; returns
 * its path (static buffer, one of four).  The caller unlinks it. */
const char *write_tmp(const void *d, size_t n, const char *suffix);

#endif
