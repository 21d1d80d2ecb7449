/*
 * fuzz_tls.c — TLS handshake reader and certificate path: chunks
 * [hdr][len][bytes], hdr bit0 = direction, bit1 = gap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dissect/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tls_parser_t *t = tls_parser_new();
    if (!t)
        return 0;
    size_t off = 0;
    while (off + 3 <= size) {
        uint8_t hdr = data[off];
        size_t len = ((size_t)data[off + 1] << 8) | data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        if (hdr & 2) {
            tls_gap(t, hdr & 1, len);
            continue;
        }
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
            break;
        memcpy(buf, data + off, len);
        tls_feed(t, hdr & 1, buf, len);
        free(buf);
        off += len;
    }
    const struct tls_info *ti = tls_result(t);
    if (memchr(ti->sni, '\0', sizeof ti->sni) == NULL)
        abort();
    tls_parser_free(t);
    return 0;
}
