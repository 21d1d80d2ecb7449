/*
 * floor.c — the floor of the benchmark: the cheapest possible pass over a
 * capture with libpcap (pcap_open_offline + pcap_next_ex), counting packets
 * and bytes and touching the first byte of each packet so that nothing is
 * optimised away.  Any analyser reading the file through libpcap pays at
 * least this much.
 *
 * usage: floor FILE      prints "packets bytes checksum"
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: floor FILE\n", stderr);
        return 2;
    }
    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(argv[1], eb);
    if (!p) {
        fprintf(stderr, "floor: %s\n", eb);
        return 1;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    uint64_t pk = 0, by = 0, x = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
        pk++;
        by += h->len;
        if (h->caplen)
            x += d[0];
    }
    if (rc == -1)
        fprintf(stderr, "floor: %s\n", pcap_geterr(p));
    pcap_close(p);
    printf("%llu %llu %llu\n", (unsigned long long)pk, (unsigned long long)by,
           (unsigned long long)x);
    return rc == -1;
}
