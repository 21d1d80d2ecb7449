/* names.c — the database spellings of record.h enums. */
#include <string.h>
#include "record.h"

const char *mt_protection_name(enum mt_protection p)
{
    switch (p) {
    case MT_PROT_CLEARTEXT:    return "cleartext";
    case MT_PROT_STARTTLS:     return "starttls";
    case MT_PROT_PARTIAL:      return "partial";
    case MT_PROT_IMPLICIT_TLS: return "implicit_tls";
    case MT_PROT_INDETERMINATE: break;
    }
    return "indeterminate";
}

const char *mt_end_reason_name(enum mt_end_reason r)
{
    switch (r) {
    case MT_END_FIN:     return "fin";
    case MT_END_RST:     return "rst";
    case MT_END_TIMEOUT:
    case MT_END_EVICTED: return "timeout";
    case MT_END_EOF:     break;
    }
    return "eof";
}

static const char *const sev_names[] = { "info", "low", "medium", "high", "critical" };

const char *mt_severity_name(enum mt_severity s)
{
    if ((unsigned)s > MT_SEV_CRITICAL)
        return "info";
    return sev_names[s];
}

int mt_severity_parse(const char *s)
{
    for (int i = 0; i <= MT_SEV_CRITICAL; i++)
        if (strcmp(s, sev_names[i]) == 0)
            return i;
    return -1;
}

const char *mt_method_name(enum mt_method m)
{
    return m == MT_METHOD_BDAT ? "BDAT" : "DATA";
}
