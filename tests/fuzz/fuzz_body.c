/*
 * fuzz_body.c — message content tracker: DATA mode (dot-stuffing, end of
 * data) and BDAT mode, input split at points chosen by the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dissect/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int raw = data[0] & 1;
    size_t step = (size_t)data[1] + 1;
    data += 2;
    size -= 2;
    struct body b;
    if (body_begin(&b) < 0)
        return 0;
    size_t off = 0;
    int done = 0;
    while (off < size && !done) {
        size_t n = size - off < step ? size - off : step;
        uint8_t *buf = malloc(n);
        if (!buf)
            break;
        memcpy(buf, data + off, n);
        if (raw) {
            body_feed_raw(&b, buf, n);
            off += n;
        } else {
            size_t used = body_feed_data(&b, buf, n, &done);
            if (used > n)
                abort();
            off += used;
            if (!done && used != n)
                abort();        /* must consume all unless the terminator ended it */
        }
        free(buf);
    }
    char hex[65];
    body_finish(&b, hex);
    if (memchr(b.subject, '\0', sizeof b.subject) == NULL)
        abort();
    body_abort(&b);
    return 0;
}
