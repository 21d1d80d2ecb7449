/*
 * fuzz_smtp.c — the SMTP dissector, both directions, input split at
 * arbitrary points.  Input: byte 0 = flags (bit0-1 client side: 0, 1,
 * unknown; bit2 syn seen; bit3-4 port choice), then chunks
 * [hdr][len][bytes]: hdr bit0 = side, bit1 = gap instead of data, bit2 =
 * capture event; each chunk is copied into an exactly-sized heap buffer so
 * any over-read faults.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dissect/dissect.h"

static void check_str(const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL)
        abort();
}

static void on_msg(void *arg, const struct mt_message *m)
{
    (void)arg;
    check_str(m->mail_from, sizeof m->mail_from);
    check_str(m->subject, sizeof m->subject);
    for (size_t i = 0; i < m->n_rcpts; i++)
        check_str(m->rcpts[i].address, sizeof m->rcpts[i].address);
}

static void on_finding(void *arg, const struct mt_finding *f)
{
    (void)arg;
    if (!f->kind)
        abort();
    check_str(f->evidence, sizeof f->evidence);
}

static void on_session(void *arg, const struct mt_session *s)
{
    (void)arg;
    check_str(s->banner, sizeof s->banner);
    check_str(s->helo, sizeof s->helo);
    check_str(s->ehlo_keywords, sizeof s->ehlo_keywords);
    check_str(s->auth_user, sizeof s->auth_user);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[4] = { 25, 587, 465, 2525 };
    static const struct dis_sink sink = { on_msg, on_finding, on_session };
    if (size < 1)
        return 0;
    struct dis_params p;
    memset(&p, 0, sizeof p);
    int cs = data[0] & 3;
    p.client_side = cs == 2 ? -1 : (cs & 1);
    p.syn_seen = (data[0] >> 2) & 1;
    uint16_t sport = ports[(data[0] >> 3) & 3];
    p.port[0] = p.client_side == 1 ? sport : 40000;
    p.port[1] = p.client_side == 1 ? 40000 : sport;
    dis_session_t *s = dis_session_new(&p, &sink, NULL);
    if (!s)
        return 0;
    size_t off = 1;
    double ts = 1.0;
    while (off + 2 <= size) {
        uint8_t hdr = data[off];
        size_t len = data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        int side = hdr & 1;
        ts += 0.001;
        if (hdr & 2) {
            dis_gap(s, side, len + 1, ts);
        } else if (hdr & 4) {
            dis_capture_event(s, side, (enum dis_cap_event)((hdr >> 3) % 3), ts, "fuzz");
        } else {
            uint8_t *buf = malloc(len ? len : 1);
            if (!buf)
                break;
            memcpy(buf, data + off, len);
            dis_data(s, side, buf, len, ts);
            free(buf);
            off += len;
        }
    }
    dis_end(s, MT_END_EOF, ts + 1);
    dis_session_free(s);
    return 0;
}
