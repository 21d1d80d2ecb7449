/*
 * fuzz_pcap.c — the whole capture path on a file: link layer to TCP,
 * flow table, reassembly, and the SMTP dissector behind it.  The input is
 * written to an in-memory file (memfd) and read through capture_open_file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "capture/capture.h"
#include "dissect/dissect.h"

static void *f_start(void *arg, const struct cap_flow_info *fi)
{
    (void)arg;
    struct dis_params p;
    memset(&p, 0, sizeof p);
    p.port[0] = fi->side[0].port;
    p.port[1] = fi->side[1].port;
    p.client_side = fi->client_side;
    p.syn_seen = fi->syn_seen;
    p.ts = fi->ts;
    static const struct dis_sink sink = { NULL, NULL, NULL };
    return dis_session_new(&p, &sink, NULL);
}

static int f_data(void *arg, void *flow, int side, const uint8_t *p, size_t len, double ts)
{
    (void)arg;
    dis_data(flow, side, p, len, ts);
    return 0;
}

static void f_gap(void *arg, void *flow, int side, uint64_t len, double ts)
{
    (void)arg;
    dis_gap(flow, side, len, ts);
}

static void f_event(void *arg, void *flow, int side, enum cap_event ev, double ts, const char *d)
{
    (void)arg;
    if (ev == CAP_EV_PROTOCOL)          /* all-ports only; no dissector event */
        return;
    dis_capture_event(flow, side, (enum dis_cap_event)ev, ts, d);
}

static void f_end(void *arg, void *flow, enum cap_end_reason r, double ts)
{
    (void)arg;
    dis_end(flow, (enum mt_end_reason)r, ts);
    dis_session_free(flow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[] = { 25, 465, 587 };
    static const struct cap_callbacks cb = { f_start, f_data, f_gap, f_event, f_end, NULL };
    int fd = memfd_create("fuzz", 0);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    lseek(fd, 0, SEEK_SET);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct cap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ports = ports;
    cfg.nports = 3;
    cfg.max_flows = 64;
    char err[CAP_ERRBUF_SIZE];
    capture_t *c = capture_open_file(path, &cfg, err);
    if (c) {
        (void)capture_run(c, &cb, NULL, err);
        capture_close(c);
    }
    close(fd);
    return 0;
}
