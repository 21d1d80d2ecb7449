/*
 * span.h — network bytes are (pointer, length), never C strings.
 */
#ifndef MAILTAP_SPAN_H
#define MAILTAP_SPAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct span {
    const uint8_t *p;
    size_t len;
};

static inline struct span span_make(const uint8_t *p, size_t len)
{
    struct span s = { p, len };
    return s;
}

static inline int span_ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Case-insensitive (ASCII) equality with a NUL-terminated literal. */
static inline int span_eq_ci(struct span s, const char *lit)
{
    size_t n = strlen(lit);     /* lit is ours, never captured data */
    if (s.len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (span_ascii_lower(s.p[i]) != span_ascii_lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

/* Case-insensitive prefix test with a literal. */
static inline int span_starts_ci(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len < n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (span_ascii_lower(s.p[i]) != span_ascii_lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

/* Drops leading and trailing spaces and tabs. */
static inline struct span span_trim(struct span s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) { s.p++; s.len--; }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t')) s.len--;
    return s;
}

/* Splits off the first space-delimited token; *rest gets what follows it
 * (leading spaces removed). */
static inline struct span span_token(struct span s, struct span *rest)
{
    size_t i = 0;
    while (i < s.len && s.p[i] == ' ') i++;
    size_t start = i;
    while (i < s.len && s.p[i] != ' ' && s.p[i] != '\t') i++;
    struct span tok = { s.p + start, i - start };
    while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\t')) i++;
    if (rest) { rest->p = s.p + i; rest->len = s.len - i; }
    return tok;
}

#endif
