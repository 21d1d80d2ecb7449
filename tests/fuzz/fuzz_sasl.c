/*
 * fuzz_sasl.c — AUTH payload decoding: base64 and every mechanism's
 * username extraction.  byte 0 = mechanism, byte 1 = step, rest = payload
 * (tried both as base64 text and as already-decoded bytes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dissect/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum sasl_mech m = (enum sasl_mech)(data[0] % (SASL_ANONYMOUS + 1));
    int step = data[1] & 3;
    int login_step = (data[1] >> 2) & 1;
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return 0;
    memcpy(copy, p, n);
    char user[256];
    user[0] = '\0';
    (void)sasl_examine(m, step, login_step, copy, n, user, sizeof user);
    if (memchr(user, '\0', sizeof user) == NULL)
        abort();
    uint8_t dec[4096];
    size_t dl = 0;
    if (sasl_b64_decode(copy, n, dec, sizeof dec, &dl) == 0) {
        if (dl > sizeof dec)
            abort();
        user[0] = '\0';
        (void)sasl_examine(m, step, login_step, dec, dl, user, sizeof user);
        if (memchr(user, '\0', sizeof user) == NULL)
            abort();
    }
    (void)sasl_mech_parse(copy, n);
    free(copy);
    return 0;
}
