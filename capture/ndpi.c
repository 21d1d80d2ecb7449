/*
 * ndpi.c — protocol classification with nDPI 4.2 (Debian 12 libndpi-dev).
 *
 * The only file of mailtap that includes the nDPI headers.  4.2 API: the
 * module is made by ndpi_init_detection_module(prefs), packets are given
 * with ndpi_detection_process_packet(mod, flow, l3, len16, ms) and
 * ndpi_detection_giveup takes (mod, flow, enable_guess, &was_guessed).
 *
 * Flow structs: we calloc SIZEOF_FLOW_STRUCT ourselves, so we free them
 * ourselves: ndpi_free_flow_data() releases what nDPI allocated inside the
 * struct, free() the struct (ndpi_free_flow() would free the struct with
 * ndpi_free(), i.e. whatever allocator nDPI was given, not necessarily
 * ours).  SIZEOF_FLOW_STRUCT is the size the headers say; it is checked
 * once against the library's before nDPI is used.
 */
#include "capture/ndpi_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ndpi_api.h>

/* nDPI's length argument is an unsigned short. */
#define NDPI_LEN_MAX 65535u

/* nDPI 4.2 dissects at most 32 packets of a flow; the count is a uint8_t. */
_Static_assert(CAP_NDPI_MAX_PACKETS >= 1 && CAP_NDPI_MAX_PACKETS <= 32,
               "CAP_NDPI_MAX_PACKETS must be 1..32");

struct cap_ndpi {
    struct ndpi_detection_module_struct *mod;   /* NULL: not made / failed */
    int tried;                  /* creation was attempted (once)             */
};

struct cap_ndpi *cap_ndpi_new(void)
{
    return calloc(1, sizeof(struct cap_ndpi));
}

void cap_ndpi_free(struct cap_ndpi *n)
{
    if (n == NULL)
        return;
    if (n->mod)
        ndpi_exit_detection_module(n->mod);
    free(n);
}

size_t cap_ndpi_flow_size(void)
{
    return SIZEOF_FLOW_STRUCT;
}

/* The detection module, made on first use; NULL when nDPI can not be used
 * (a warning was printed once). */
static struct ndpi_detection_module_struct *module(struct cap_ndpi *n)
{
    NDPI_PROTOCOL_BITMASK all;
    u_int32_t libsize;

    if (n == NULL)
        return NULL;
    if (n->tried)
        return n->mod;
    n->tried = 1;
    libsize = ndpi_detection_get_sizeof_ndpi_flow_struct();
    if (sizeof(struct ndpi_flow_struct) != libsize) {
        fprintf(stderr, "mailtap: warning: nDPI headers (flow struct of %zu bytes) do "
                "not match the library %s (%u bytes): flows on other ports are "
                "classified as Unknown\n", sizeof(struct ndpi_flow_struct),
                ndpi_revision(), (unsigned)libsize);
        return NULL;
    }
    n->mod = ndpi_init_detection_module(ndpi_no_prefs);
    if (n->mod == NULL) {
        fprintf(stderr, "mailtap: warning: nDPI could not be initialised: flows on "
                "other ports are classified as Unknown\n");
        return NULL;
    }
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(n->mod, &all);
    ndpi_finalize_initialization(n->mod);
    return n->mod;
}

void cap_ndpi_flow_release(struct cap_ndpi_flow *fl)
{
    if (fl->nf) {
        ndpi_free_flow_data(fl->nf);
        free(fl->nf);
        fl->nf = NULL;
    }
    fl->packets = 0;
}

/* Packet time in milliseconds as nDPI wants it. */
static u_int64_t time_ms(double ts)
{
    if (!(ts > 0) || !isfinite(ts))
        return 0;
    if (ts >= 1.8e16)
        return UINT64_C(18000000000000000000);
    return (u_int64_t)(ts * 1000.0);
}

/* Writes the name of p, frees the flow state; returns 1. */
static int decided(struct ndpi_detection_module_struct *mod, struct cap_ndpi_flow *fl,
                   ndpi_protocol p, char *name)
{
    name[0] = '\0';
    if (mod)
        ndpi_protocol2name(mod, p, name, CAP_NDPI_NAME_MAX);
    if (name[0] == '\0')
        snprintf(name, CAP_NDPI_NAME_MAX, "Unknown");
    name[CAP_NDPI_NAME_MAX - 1] = '\0';
    cap_ndpi_flow_release(fl);
    return 1;
}

/* Asks nDPI for its best guess on fl (which has state). */
static int give_up(struct ndpi_detection_module_struct *mod, struct cap_ndpi_flow *fl,
                   char *name)
{
    u_int8_t guessed = 0;
    ndpi_protocol p = ndpi_detection_giveup(mod, fl->nf, 1, &guessed);

    return decided(mod, fl, p, name);
}

int cap_ndpi_feed(struct cap_ndpi *n, struct cap_ndpi_flow *fl, const uint8_t *l3,
                  size_t l3len, double ts, char *name)
{
    struct ndpi_detection_module_struct *mod = module(n);
    ndpi_protocol p;

    memset(&p, 0, sizeof p);
    if (mod == NULL)
        return decided(NULL, fl, p, name);
    if (fl->nf == NULL) {
        fl->nf = calloc(1, SIZEOF_FLOW_STRUCT);
        fl->packets = 0;
        if (fl->nf == NULL)
            return decided(NULL, fl, p, name);
    }
    if (l3len > NDPI_LEN_MAX)
        l3len = NDPI_LEN_MAX;
    p = ndpi_detection_process_packet(mod, fl->nf, l3, (unsigned short)l3len,
                                      time_ms(ts));
    fl->packets++;
    if (p.app_protocol != NDPI_PROTOCOL_UNKNOWN ||
        p.master_protocol != NDPI_PROTOCOL_UNKNOWN)
        return decided(mod, fl, p, name);
    if (fl->packets >= CAP_NDPI_MAX_PACKETS)
        return give_up(mod, fl, name);
    return 0;
}

int cap_ndpi_giveup(struct cap_ndpi *n, struct cap_ndpi_flow *fl, char *name)
{
    struct ndpi_detection_module_struct *mod;

    if (fl->nf == NULL)
        return 0;
    mod = n ? n->mod : NULL;
    if (mod == NULL) {                  /* not reached: nf implies a module */
        ndpi_protocol p;

        memset(&p, 0, sizeof p);
        return decided(NULL, fl, p, name);
    }
    return give_up(mod, fl, name);
}
