/*
 * reports.c — everything mailtap prints from the database alone:
 * `mailtap sessions`, `mailtap findings` and `mailtap report`.
 *
 * The numbers come from SQL (aggregates, GROUP BY) over a read snapshot.
 * Every string read from the database is treated as hostile, even though
 * dissect/ escaped it before storing: text output escapes control
 * characters, invalid UTF-8 and display-spoofing code points (and counts
 * East Asian wide characters as two columns); JSON output does full JSON
 * string escaping; CSV quotes every string and neutralises what a
 * spreadsheet would run as a formula; HTML escapes for text nodes and never
 * puts a captured string in an attribute, a URL, a style or a script (the
 * page has no script at all).  Raw database bytes are never printed.
 *
 * Filters are bound as parameters; SQL text is only ever built from string
 * literals in this file.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <sqlite3.h>

#include "config.h"
#include "reports/reports.h"

#define REPORT_COLS   100   /* the text report fits this many columns      */
#define LIST_COLS     2048  /* listing lines: no width limit in practice     */
#define LN_BYTES      16384 /* bytes of one output line (6 per column max)   */
#define LIST_MAX      50    /* rows per table in the text report             */
#define KIND_MAX      20    /* findings shown per kind in the text report    */
#define BAR_COLS      50    /* width of a timeline bar                       */

#define STR_(x) #x
#define STR(x)  STR_(x)

/* ======================================================================
 * UTF-8 and escaping
 * ====================================================================== */

/* Decodes one well-formed UTF-8 sequence at p (n > 0 bytes left).  Returns
 * its length and sets *cp, or 0 when the bytes are not well-formed
 * (overlong, surrogate, out of range, truncated). */
static size_t utf8_dec(const unsigned char *p, size_t n, uint32_t *cp)
{
    uint32_t c;
    size_t len;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        c = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        c = p[0] & 0x0fu;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        c = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3fu);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* 1 for code points that must not reach a terminal or a viewer as such:
 * C1 controls, bidirectional overrides/isolates/marks, and the invisible
 * format characters (Unicode's default-ignorable set: zero-width spaces and
 * joiners, fillers, variation selectors, tags), which reorder or hide text
 * and make two different strings look alike. */
static int cp_is_special(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x00ad || cp == 0x034f || cp == 0x061c ||
           (cp >= 0x115f && cp <= 0x11ff) || (cp >= 0x17b4 && cp <= 0x17b5) ||
           (cp >= 0x180b && cp <= 0x180f) || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) ||
           cp == 0x3164 || (cp >= 0xfe00 && cp <= 0xfe0f) || cp == 0xfeff || cp == 0xffa0 ||
           (cp >= 0xfff0 && cp <= 0xfffb) || (cp >= 0x1d173 && cp <= 0x1d17a) ||
           (cp >= 0xe0000 && cp <= 0xe0fff);
}

/* Columns a code point takes on a terminal when the C library cannot say
 * (no C.UTF-8 locale): East Asian wide/fullwidth blocks 2, the common
 * combining blocks 0, the rest 1. */
static int cp_width_fallback(uint32_t cp)
{
    static const uint32_t wide[][2] = {
        { 0x1100, 0x115f }, { 0x2e80, 0x303e }, { 0x3041, 0x33ff }, { 0x3400, 0x4dbf },
        { 0x4e00, 0x9fff }, { 0xa000, 0xa4cf }, { 0xa960, 0xa97f }, { 0xac00, 0xd7a3 },
        { 0xf900, 0xfaff }, { 0xfe10, 0xfe19 }, { 0xfe30, 0xfe6f }, { 0xff00, 0xff60 },
        { 0xffe0, 0xffe6 }, { 0x1f300, 0x1f64f }, { 0x1f900, 0x1f9ff }, { 0x20000, 0x3fffd },
    };
    static const uint32_t zero[][2] = {
        { 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd }, { 0x0610, 0x061a },
        { 0x064b, 0x065f }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff }, { 0x20d0, 0x20ff },
        { 0xfe20, 0xfe2f },
    };
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (cp >= wide[i][0] && cp <= wide[i][1])
            return 2;
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        if (cp >= zero[i][0] && cp <= zero[i][1])
            return 0;
    return 1;
}

/* Columns code point cp (not a control, not special) takes on a terminal:
 * 0 (combining), 1, 2 (East Asian wide), or -1 when it is not printable
 * (unassigned, private planes' noncharacters): such code points are
 * escaped.  Asks wcwidth() under the C.UTF-8 locale, whatever the
 * process's own locale is. */
static int cp_width(uint32_t cp)
{
    static locale_t utf8;
    static int tried;
    locale_t old;
    int w;

    if (cp < 0x7f)
        return 1;
    if (!tried) {
        tried = 1;
        utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    }
    if (utf8 == (locale_t)0)
        return cp_width_fallback(cp);
    old = uselocale(utf8);
    w = wcwidth((wchar_t)cp);
    uselocale(old);
    return w > 2 ? 2 : w;
}

/* Escapes the character at p (n > 0 bytes left) for text output into piece
 * (>= 16 bytes).  Sets *plen (bytes in piece) and *pcols (columns) and
 * returns the bytes consumed from p.  Controls and invalid UTF-8 become
 * "\xNN" per byte, special and unprintable code points "\uXXXX" (or
 * "\UXXXXXXXX" above the BMP); everything else is copied and counted in
 * terminal columns (East Asian wide characters take two). */
static size_t txt_piece(const unsigned char *p, size_t n, char *piece, size_t *plen, size_t *pcols)
{
    uint32_t cp;
    size_t k = utf8_dec(p, n, &cp);
    int w;

    if (k == 0 || cp < 0x20 || cp == 0x7f) {
        snprintf(piece, 16, "\\x%02x", p[0]);
        *plen = 4;
        *pcols = 4;
        return 1;
    }
    w = cp_is_special(cp) ? -1 : cp_width(cp);
    if (w < 0) {
        int m = snprintf(piece, 16, cp > 0xffff ? "\\U%08x" : "\\u%04x", (unsigned)cp);
        *plen = (size_t)m;
        *pcols = (size_t)m;
        return k;
    }
    memcpy(piece, p, k);
    *plen = k;
    *pcols = (size_t)w;
    return k;
}

/* Writes p[0..n) to f as a JSON string (quotes included), escaping '"',
 * '\\', every control character, the special code points above and U+2028/
 * U+2029; bytes that are not UTF-8 become U+FFFD. */
static void js_str(FILE *f, const void *vp, size_t n)
{
    const unsigned char *p = vp;
    size_t i = 0;

    fputc('"', f);
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_dec(p + i, n - i, &cp);
        if (k == 0) {
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        switch (cp) {
        case '"':  fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (cp > 0xffff && cp_is_special(cp))       /* a surrogate pair */
                fprintf(f, "\\u%04x\\u%04x", (unsigned)(0xd800 + ((cp - 0x10000) >> 10)),
                        (unsigned)(0xdc00 + ((cp - 0x10000) & 0x3ff)));
            else if (cp < 0x20 || cp == 0x7f || cp_is_special(cp))
                fprintf(f, "\\u%04x", (unsigned)cp);
            else
                fwrite(p + i, 1, k, f);
            break;
        }
        i += k;
    }
    fputc('"', f);
}

/* ======================================================================
 * Text lines with column accounting
 * ====================================================================== */

struct line {
    char b[LN_BYTES];
    size_t len;     /* bytes in b                                       */
    size_t cols;    /* columns used                                     */
    size_t width;   /* columns allowed                                  */
};

/* Where to cut p[0..n) so that it does not end inside one of the "\\xNN"
 * or "\\\\" escapes dissect/ stored (a cut value then ends in "..."): n,
 * or the position of the backslash that starts the broken escape. */
static size_t cut_escape_tail(const unsigned char *p, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        size_t b = n - back, run = 0;
        if (p[b] != '\\')
            continue;
        /* Only a backslash that starts an escape: an even number of
         * backslashes before it. */
        while (run < b && p[b - 1 - run] == '\\')
            run++;
        if (run % 2 != 0)
            continue;
        if (back == 1 || (p[b + 1] == 'x' && (back == 2 || isxdigit(p[b + 2]))))
            return b;
    }
    return n;
}

/* Starts an empty line of at most width columns. */
static void ln_init(struct line *l, size_t width)
{
    l->len = 0;
    l->cols = 0;
    l->width = width;
}

/* Appends p[0..n) escaped for text, in at most maxcols columns and what is
 * left of the line; a value that does not fit is cut and ends in "...". */
static void ln_esc(struct line *l, const void *vp, size_t n, size_t maxcols)
{
    const unsigned char *p = vp;
    char piece[16];
    size_t pl, pc, i, total = 0, limit, stop;
    size_t room = l->width > l->cols ? l->width - l->cols : 0;
    int cut = 0;

    if (maxcols > room)
        maxcols = room;
    for (i = 0; i < n && total <= maxcols;)
        i += txt_piece(p + i, n - i, piece, &pl, &pc), total += pc;
    if (total > maxcols)
        cut = 1;
    limit = cut ? (maxcols >= 3 ? maxcols - 3 : 0) : maxcols;
    /* First the bytes of p that fit, then write them. */
    for (i = 0, total = 0, stop = 0; i < n;) {
        size_t k = txt_piece(p + i, n - i, piece, &pl, &pc);
        if (total + pc > limit || l->len + stop + pl + 4 > LN_BYTES) {
            cut = 1;
            break;
        }
        total += pc;
        stop += pl;
        i += k;
    }
    if (cut)
        i = cut_escape_tail(p, i);
    for (size_t j = 0; j < i;) {
        j += txt_piece(p + j, i - j, piece, &pl, &pc);
        memcpy(l->b + l->len, piece, pl);
        l->len += pl;
        l->cols += pc;
    }
    if (cut && maxcols >= 3 && l->len + 4 <= LN_BYTES) {
        memcpy(l->b + l->len, "...", 3);
        l->len += 3;
        l->cols += 3;
    }
}

/* Columns p[0..n) takes once escaped for text. */
static size_t esc_cols(const void *vp, size_t n)
{
    const unsigned char *p = vp;
    char piece[16];
    size_t pl, pc, cols = 0;

    for (size_t i = 0; i < n;)
        i += txt_piece(p + i, n - i, piece, &pl, &pc), cols += pc;
    return cols;
}

/* Writes p[0..n) escaped for text, word-wrapped into lines of at most
 * width columns that start with indent spaces; at most maxlines lines,
 * the last one ending in "..." when the text is cut. */
static void wrap_esc(FILE *f, const void *vp, size_t n, size_t indent, size_t width,
                     int maxlines)
{
    const unsigned char *p = vp;
    char buf[LN_BYTES], piece[16];
    size_t len = 0, cols = 0, sp_len = 0, sp_cols = 0, pl, pc, room, i = 0;
    int lines = 0;

    if (indent + 8 > width)
        indent = 0;
    room = width - indent;
    while (i < n) {
        size_t k = txt_piece(p + i, n - i, piece, &pl, &pc);
        if (cols + pc > room || len + pl >= sizeof buf) {
            size_t cut_len = len, cut_cols = cols;
            if (lines + 1 == maxlines) {
                /* Last line allowed: cut here with "...". */
                while (cut_cols + 3 > room && cut_len > 0) {
                    do
                        cut_len--;
                    while (cut_len > 0 && ((unsigned char)buf[cut_len] & 0xc0) == 0x80);
                    cut_cols = esc_cols(buf, cut_len);
                }
                fprintf(f, "%*s%.*s...\n", (int)indent, "", (int)cut_len, buf);
                return;
            }
            if (sp_len > 0)
                cut_len = sp_len - 1;           /* without the space */
            fprintf(f, "%*s%.*s\n", (int)indent, "", (int)cut_len, buf);
            lines++;
            if (sp_len > 0) {
                memmove(buf, buf + sp_len, len - sp_len);
                len -= sp_len;
                cols -= sp_cols;
            } else {
                len = 0;
                cols = 0;
            }
            sp_len = sp_cols = 0;
            continue;
        }
        memcpy(buf + len, piece, pl);
        len += pl;
        cols += pc;
        if (pl == 1 && piece[0] == ' ') {
            sp_len = len;
            sp_cols = cols;
        }
        i += k;
    }
    if (len > 0)
        fprintf(f, "%*s%.*s\n", (int)indent, "", (int)len, buf);
}

/* Appends a C string (escaped, at most maxcols columns). */
static void ln_str(struct line *l, const char *s, size_t maxcols)
{
    ln_esc(l, s, s ? strlen(s) : 0, maxcols);
}

/* Appends printf-formatted text of our own (escaped all the same). */
static void ln_fmt(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ln_fmt(struct line *l, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    ln_esc(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1, SIZE_MAX);
}

/* Pads with spaces up to column col (within the width). */
static void ln_pad(struct line *l, size_t col)
{
    if (col > l->width)
        col = l->width;
    while (l->cols < col && l->len + 1 < LN_BYTES) {
        l->b[l->len++] = ' ';
        l->cols++;
    }
}

/* Writes the line (trailing spaces dropped) and a newline; starts over. */
static void ln_out(struct line *l, FILE *f)
{
    while (l->len > 0 && l->b[l->len - 1] == ' ')
        l->len--;
    fwrite(l->b, 1, l->len, f);
    fputc('\n', f);
    ln_init(l, l->width);
}

/* ======================================================================
 * Structured writer: JSON and CSV from the same events
 *
 * The report's sections describe themselves once, as JSON-like events
 * (open/close object or array, key, scalar).  JSON writes them as they
 * come.  CSV lays them out:
 *   - an array of objects is a table (one row per object, the keys of the
 *     first object are the header), named by its key path ("servers",
 *     "timeline.buckets");
 *   - every other scalar is a key/value row of its top-level section
 *     ("overview", "captures.count", 1); together they make the table
 *     "overview".
 * All tables in one stream: each block starts with its header row whose
 * first cell is "section", blocks are separated by a blank line.  One
 * chosen table (rep_filter.table): a plain CSV file, header then rows,
 * without the "section" column of the array tables.  Strings are quoted,
 * control characters escaped, and a value that a spreadsheet would take
 * for a formula (first non-blank character = + - @, TAB or CR, or their
 * fullwidth forms) is neutralised with a leading quote.
 * (HTML is written by hand by each section; see "HTML" below.)
 * ====================================================================== */

#define JW_DEPTH 16
#define JW_KEY   64

enum { BLK_NONE, BLK_KV, BLK_TABLE };

struct jlevel {
    char type;              /* '{' or '['                                  */
    char key[JW_KEY];       /* current key (objects)                       */
    unsigned n;             /* members/elements written so far             */
    int row;                /* this object is a table row (CSV)            */
    int table;              /* this array holds table rows (CSV)           */
};

struct jw {
    FILE *f;                /* where output goes now (real or discard)     */
    FILE *real;             /* the output                                  */
    FILE *discard;          /* CSV with a chosen table: the other tables   */
    const char *only;       /* CSV: the chosen table, NULL = all           */
    enum rep_format fmt;    /* REP_JSON or REP_CSV                         */
    int pretty;             /* JSON: newlines and indentation              */
    int depth;
    struct jlevel lv[JW_DEPTH];
    int after_key;          /* JSON: next value follows a key              */
    /* CSV layout */
    int block;              /* BLK_*                                        */
    char section[JW_KEY];   /* top-level key of the current position        */
    char table[256];        /* name of the open table                       */
    int header_done;        /* the open table printed its header            */
    int kv_header_done;     /* one table: the key/value header was printed  */
    char *row, *hdr;        /* cells of the row being built, its header     */
    size_t rowlen, hdrlen;
    FILE *rowf, *hdrf;
    unsigned cells;         /* cells in the row being built                 */
    int header_done_any;    /* a table header went to the real output       */
};

/* The tables of the CSV report, in report order, with the columns of each
 * (for the header of an empty table written alone, and the keys of the
 * rows of the list sections: jw_row). */
static const struct csv_table {
    const char *name, *cols;
} csv_tables[] = {
    { "overview", "section,key,value" },
    { "servers", "server_ip,server_port,banner_host,sessions,cleartext,partial,starttls,"
                 "implicit_tls,indeterminate,starttls_offered,cleartext_messages" },
    { "clients", "client_ip,helo,sessions,never_tried_tls,cleartext_messages,"
                 "sessions_credentials_exposed" },
    { "recipient_domains", "domain,cleartext_messages" },
    { "messages", "session_id,seq,ts,client_ip,server_ip,server_port,protection,method,"
                  "mail_from,rcpt_count,first_recipient,subject,message_id,size,reply_code" },
    { "credential_exposures", "session_id,ts,client_ip,client_port,server_ip,server_port,"
                              "mechanism,user,outcome,protection" },
    { "findings", "id,session_id,message_id,message_seq,kind,severity,attack,ts,evidence,"
                  "client_ip,server_ip,server_port" },
    { "timeline", "bucket,sessions,encrypted,cleartext,indeterminate" },
    { "captures", "id,source,kind,sha256,packets,first_ts,last_ts,status,dropped,ifdropped,"
                  "truncated,undecodable,evicted,evicted_bytes,mailtap_version,analysed_at" },
};

/* The table called name, or NULL. */
static const struct csv_table *csv_table_find(const char *name)
{
    for (size_t i = 0; i < sizeof csv_tables / sizeof csv_tables[0]; i++)
        if (name && strcmp(csv_tables[i].name, name) == 0)
            return &csv_tables[i];
    return NULL;
}

/* 1 when a spreadsheet would read a cell starting at p[0..n) as a formula:
 * its first character that is not a space is = + - @ (or the fullwidth
 * ＝ ＋ － ＠), or it starts with TAB or CR. */
static int csv_formula_like(const unsigned char *p, size_t n)
{
    size_t i = 0;

    if (n > 0 && (p[0] == '\t' || p[0] == '\r'))
        return 1;
    while (i < n && p[i] == ' ')
        i++;
    if (i >= n)
        return 0;
    if (strchr("=+-@", p[i]) && p[i] != '\0')
        return 1;
    /* U+FF0B, U+FF0D, U+FF1D, U+FF20 are EF BC 8B/8D/9D/A0 in UTF-8. */
    return n - i >= 3 && p[i] == 0xef && p[i + 1] == 0xbc &&
           (p[i + 2] == 0x8b || p[i + 2] == 0x8d || p[i + 2] == 0x9d || p[i + 2] == 0xa0);
}

/* Writes p[0..n) as one quoted CSV field: text escaping, '"' doubled, and
 * a formula-like value neutralised with a leading "'".  num: a number of
 * ours, written bare. */
static void csv_field(FILE *f, const void *vp, size_t n, int num)
{
    const unsigned char *p = vp;
    char piece[16];
    size_t pl, pc;

    if (num) {
        fwrite(p, 1, n, f);
        return;
    }
    fputc('"', f);
    if (csv_formula_like(p, n))
        fputc('\'', f);
    for (size_t i = 0; i < n;) {
        i += txt_piece(p + i, n - i, piece, &pl, &pc);
        for (size_t k = 0; k < pl; k++) {
            if (piece[k] == '"')
                fputc('"', f);
            fputc(piece[k], f);
        }
    }
    fputc('"', f);
}

/* The next name of the list at *p (names separated by sep, a list of
 * ours): its start, with its length in *len, and *p moved past it; NULL at
 * the end of the list. */
static const char *list_next(const char **p, char sep, size_t *len)
{
    const char *name = *p, *e;

    if (*name == '\0')
        return NULL;
    e = strchr(name, sep);
    *len = e ? (size_t)(e - name) : strlen(name);
    *p = name + *len + (e ? 1 : 0);
    return name;
}

/* Writes the comma-separated names of cols as a quoted CSV header row. */
static void csv_header_row(FILE *f, const char *cols)
{
    const char *p = cols, *name;
    size_t len;

    while ((name = list_next(&p, ',', &len)) != NULL) {
        if (name != cols)
            fputc(',', f);
        csv_field(f, name, len, 0);
    }
    fputc('\n', f);
}

/* Output of the discard stream. */
static ssize_t discard_write(void *cookie, const char *buf, size_t size)
{
    (void)cookie;
    (void)buf;
    return (ssize_t)size;
}

/* Closes the open CSV block. */
static void lay_close_block(struct jw *w)
{
    if (w->block == BLK_NONE)
        return;
    if (!w->only)
        fputc('\n', w->f);
    w->block = BLK_NONE;
}

/* Starts a block of table name: output goes to the real stream when that
 * is the chosen table (or all are), else is discarded. */
static void lay_open_block(struct jw *w, int kind, const char *name)
{
    lay_close_block(w);
    w->block = kind;
    w->f = !w->only || strcmp(w->only, name) == 0 ? w->real : w->discard;
}

/* The section of the current position: the top-level key, or "report"
 * for a scalar directly in the top object. */
static const char *lay_sec(const struct jw *w)
{
    return w->depth <= 1 ? "report" : w->lv[0].key;
}

/* Key path below the section, e.g. "captures.count" or "org_nets.1". */
static void lay_path(const struct jw *w, char *out, size_t outsz)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = (w->depth <= 1 ? 0 : 1); i < w->depth && i < JW_DEPTH; i++) {
        char part[JW_KEY + 8];
        if (w->lv[i].type == '{')
            snprintf(part, sizeof part, "%s", w->lv[i].key);
        else
            snprintf(part, sizeof part, "%u", w->lv[i].n);
        if (n < outsz)
            n += (size_t)snprintf(out + n, outsz - n, "%s%s", n ? "." : "", part);
    }
}

/* A scalar in CSV layout: a cell of the current row, or a key/value row of
 * its section. */
static void lay_scalar(struct jw *w, const char *p, size_t n, int num)
{
    struct jlevel *top = w->depth > 0 && w->depth <= JW_DEPTH ? &w->lv[w->depth - 1] : NULL;
    char path[256];

    if (top && top->row && w->rowf) {
        if (w->cells || !w->only)
            fputc(',', w->rowf);
        csv_field(w->rowf, p, n, num);
        if (!w->header_done && w->hdrf) {
            if (w->cells || !w->only)
                fputc(',', w->hdrf);
            csv_field(w->hdrf, top->key, strlen(top->key), 0);
        }
        w->cells++;
        return;
    }
    snprintf(w->section, sizeof w->section, "%s", lay_sec(w));
    if (w->block != BLK_KV) {
        lay_open_block(w, BLK_KV, "overview");
        if (!w->only || !w->kv_header_done)
            fputs("\"section\",\"key\",\"value\"\n", w->f);
        if (w->f == w->real)
            w->kv_header_done = 1;
    }
    lay_path(w, path, sizeof path);
    csv_field(w->f, w->section, strlen(w->section), 0);
    fputc(',', w->f);
    csv_field(w->f, path, strlen(path), 0);
    fputc(',', w->f);
    csv_field(w->f, p, n, num);
    fputc('\n', w->f);
}

/* Starts a writer on f for fmt (REP_JSON pretty or not, or REP_CSV; only:
 * the one CSV table to write, NULL for all). */
static void jw_init(struct jw *w, FILE *f, enum rep_format fmt, int pretty, const char *only)
{
    static const cookie_io_functions_t discard_io = { NULL, discard_write, NULL, NULL };

    memset(w, 0, sizeof *w);
    w->f = w->real = f;
    w->fmt = fmt;
    w->pretty = pretty;
    if (fmt == REP_CSV && only) {
        w->discard = fopencookie(NULL, "w", discard_io);
        w->only = w->discard ? only : NULL;
    }
}

/* Ends the document (CSV: closes the last block; an empty chosen table
 * gets its header row). */
static void jw_finish(struct jw *w)
{
    if (w->fmt == REP_CSV)
        lay_close_block(w);
    if (w->only) {
        const struct csv_table *t = csv_table_find(w->only);
        if (t && strcmp(t->name, "overview") != 0 && !w->header_done_any)
            csv_header_row(w->real, t->cols);
    }
    if (w->discard)
        fclose(w->discard);
    w->discard = NULL;
    w->f = w->real;
}

/* JSON: newline plus indentation for the current depth. */
static void jw_nl(struct jw *w)
{
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->f);
}

/* Counts a member/element at the current level and, for JSON, writes the
 * separator that must precede it. */
static void jw_pre(struct jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0 && w->depth <= JW_DEPTH) {
        unsigned k = w->lv[w->depth - 1].n++;
        if (w->fmt != REP_JSON)
            return;
        if (k > 0)
            fputc(',', w->f);
        if (w->pretty)
            jw_nl(w);
    }
}

/* Opens an object ('{') or array ('['). */
static void jw_open(struct jw *w, char ch)
{
    struct jlevel *parent = w->depth > 0 && w->depth <= JW_DEPTH ? &w->lv[w->depth - 1] : NULL;
    int row = 0;

    if (w->fmt == REP_CSV && ch == '{' && parent && parent->type == '[') {
        /* An object in an array: a table row. */
        row = 1;
        if (!parent->table) {
            char name[160];
            parent->table = 1;
            snprintf(w->section, sizeof w->section, "%s", lay_sec(w));
            lay_path(w, name, sizeof name);
            /* lay_path counted the element index of this array: drop it. */
            {
                char *dot = strrchr(name, '.');
                if (dot)
                    *dot = '\0';
                else
                    snprintf(name, sizeof name, "%s", w->section);
            }
            snprintf(w->table, sizeof w->table, "%s%s%s", w->section,
                     strcmp(name, w->section) && name[0] ? "." : "",
                     strcmp(name, w->section) ? name : "");
            lay_open_block(w, BLK_TABLE, w->section);
            w->header_done = 0;
        }
        w->rowf = open_memstream(&w->row, &w->rowlen);
        if (!w->header_done)
            w->hdrf = open_memstream(&w->hdr, &w->hdrlen);
        w->cells = 0;
    }
    if (w->fmt == REP_JSON) {
        jw_pre(w);
        fputc(ch, w->f);
    } else if (w->after_key) {
        w->after_key = 0;
    } else if (parent) {
        parent->n++;
    }
    if (w->depth < JW_DEPTH) {
        memset(&w->lv[w->depth], 0, sizeof w->lv[w->depth]);
        w->lv[w->depth].type = ch;
        w->lv[w->depth].row = row;
    }
    w->depth++;
}

/* CSV: writes the row just closed (and, first, the header of its table). */
static void lay_row_out(struct jw *w)
{
    if (w->rowf) {
        fclose(w->rowf);
        w->rowf = NULL;
    }
    if (w->hdrf) {
        fclose(w->hdrf);
        w->hdrf = NULL;
        if (!w->only)
            fputs("\"section\"", w->f);
        if (w->hdr)
            fwrite(w->hdr, 1, w->hdrlen, w->f);
        fputc('\n', w->f);
        free(w->hdr);
        w->hdr = NULL;
        w->header_done = 1;
        if (w->f == w->real)
            w->header_done_any = 1;
    }
    if (!w->only)
        csv_field(w->f, w->table, strlen(w->table), 0);
    if (w->row)
        fwrite(w->row, 1, w->rowlen, w->f);
    fputc('\n', w->f);
    free(w->row);
    w->row = NULL;
}

/* Closes the innermost object ('}') or array (']'). */
static void jw_close(struct jw *w, char ch)
{
    struct jlevel *lv;

    if (w->depth <= 0)
        return;
    w->depth--;
    lv = w->depth < JW_DEPTH ? &w->lv[w->depth] : NULL;
    if (w->fmt == REP_JSON) {
        if (w->pretty && lv && lv->n > 0)
            jw_nl(w);
        fputc(ch, w->f);
        return;
    }
    if (lv && lv->row) {
        lay_row_out(w);
        return;
    }
    if (lv && ch == ']' && lv->table)
        lay_close_block(w);
}

/* Writes an object key (ours: a literal). */
static void jw_key(struct jw *w, const char *k)
{
    jw_pre(w);
    if (w->fmt == REP_JSON) {
        js_str(w->f, k, strlen(k));
        fputs(w->pretty ? ": " : ":", w->f);
    } else if (w->depth > 0 && w->depth <= JW_DEPTH) {
        snprintf(w->lv[w->depth - 1].key, JW_KEY, "%s", k);
    }
    w->after_key = 1;
}

/* A scalar: JSON text as given (num) or a string. */
static void jw_scalar(struct jw *w, const char *p, size_t n, int num)
{
    if (w->fmt == REP_JSON) {
        jw_pre(w);
        if (num)
            fwrite(p, 1, n, w->f);
        else
            js_str(w->f, p, n);
        return;
    }
    if (w->after_key)
        w->after_key = 0;
    else if (w->depth > 0 && w->depth <= JW_DEPTH)
        w->lv[w->depth - 1].n++;
    lay_scalar(w, p, n, num);   /* array elements are numbered from 1 */
}

/* A string from the database (escaped for the format). */
static void jw_str(struct jw *w, const void *p, size_t n)
{
    jw_scalar(w, p, n, 0);
}

/* A NUL-terminated string of ours. */
static void jw_cstr(struct jw *w, const char *s)
{
    jw_scalar(w, s, strlen(s), 0);
}

/* An integer. */
static void jw_int(struct jw *w, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", v);
    jw_scalar(w, b, (size_t)n, 1);
}

/* null (CSV: empty field). */
static void jw_null(struct jw *w)
{
    jw_scalar(w, w->fmt == REP_JSON ? "null" : "", w->fmt == REP_JSON ? 4 : 0, 1);
}

/* true/false. */
static void jw_bool(struct jw *w, int v)
{
    jw_scalar(w, v ? "true" : "false", v ? 4 : 5, 1);
}

/* A REAL with that many decimals (timestamps: 6, microseconds); NaN/inf
 * (not JSON) become null. */
static void jw_real(struct jw *w, double v, int decimals)
{
    char b[64];
    int n;

    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    n = snprintf(b, sizeof b, "%.*f", decimals, v);
    jw_scalar(w, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1, 1);
}

/* Column i of the current row of q as a value of its storage type. */
static void jw_col(struct jw *w, sqlite3_stmt *q, int i)
{
    switch (sqlite3_column_type(q, i)) {
    case SQLITE_INTEGER:
        jw_int(w, sqlite3_column_int64(q, i));
        break;
    case SQLITE_FLOAT:
        jw_real(w, sqlite3_column_double(q, i), 6);
        break;
    case SQLITE_NULL:
        jw_null(w);
        break;
    default: {
        const unsigned char *t = sqlite3_column_text(q, i);
        jw_str(w, t ? (const char *)t : "", t ? (size_t)sqlite3_column_bytes(q, i) : 0);
        break;
    }
    }
}

/* key: column i of q. */
static void jw_kcol(struct jw *w, const char *k, sqlite3_stmt *q, int i)
{
    jw_key(w, k);
    jw_col(w, q, i);
}

/* key: integer. */
static void jw_kint(struct jw *w, const char *k, long long v)
{
    jw_key(w, k);
    jw_int(w, v);
}

/* key: a time (packet time, microseconds), or null when there is
 * none (!have). */
static void jw_kts(struct jw *w, const char *k, int have, double ts)
{
    jw_key(w, k);
    if (have)
        jw_real(w, ts, 6);
    else
        jw_null(w);
}

/* A table row: an object of the first columns of q, column i under the
 * i-th name of cols (the comma-separated header of its csv_tables entry,
 * so that the keys are always those of the CSV header). */
static void jw_row(struct jw *w, sqlite3_stmt *q, const char *cols)
{
    const char *p = cols, *name;
    size_t len;
    int i = 0;

    jw_open(w, '{');
    while ((name = list_next(&p, ',', &len)) != NULL) {
        char key[JW_KEY];
        snprintf(key, sizeof key, "%.*s", (int)len, name);
        jw_kcol(w, key, q, i++);
    }
    jw_close(w, '}');
}

/* ======================================================================
 * Small helpers: columns, time, endpoints
 * ====================================================================== */

/* Text of column i (NULL when SQL NULL) and its byte length. */
static const char *col_txt(sqlite3_stmt *q, int i, size_t *len)
{
    const unsigned char *t;

    if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        *len = 0;
        return NULL;
    }
    t = sqlite3_column_text(q, i);
    *len = t ? (size_t)sqlite3_column_bytes(q, i) : 0;
    return (const char *)t;
}

/* Appends column i escaped (or dash when NULL/empty). */
static void ln_col(struct line *l, sqlite3_stmt *q, int i, size_t maxcols)
{
    size_t n;
    const char *t = col_txt(q, i, &n);
    if (!t || n == 0)
        ln_esc(l, "-", 1, maxcols);
    else
        ln_esc(l, t, n, maxcols);
}

/* Formats packet time ts as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out (>= 32). */
static void fmt_ts(double ts, char *out, size_t outsz)
{
    struct tm tm;
    time_t t;

    if (!isfinite(ts) || ts < -62135596800.0 || ts > 253402300799.0) {
        snprintf(out, outsz, "?");
        return;
    }
    t = (time_t)floor(ts);
    if (!gmtime_r(&t, &tm) || strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outsz, "?");
}

/* Appends the time in column i ("-" when NULL). */
static void ln_ts(struct line *l, sqlite3_stmt *q, int i)
{
    char b[32];
    if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        ln_str(l, "-", 20);
        return;
    }
    fmt_ts(sqlite3_column_double(q, i), b, sizeof b);
    ln_str(l, b, 20);
}

/* Appends "ip:port" ("[ip]:port" for IPv6) from columns ip_col/port_col
 * (port_col < 0: address only), escaped, in at most maxcols columns. */
static void ln_endpoint(struct line *l, sqlite3_stmt *q, int ip_col, int port_col, size_t maxcols)
{
    char tmp[300];
    size_t n, len = 0;
    const char *ip = col_txt(q, ip_col, &n);
    int v6;

    if (!ip) {
        ip = "?";
        n = 1;
    }
    if (n > 200)
        n = 200;
    v6 = memchr(ip, ':', n) != NULL && port_col >= 0;
    if (v6)
        tmp[len++] = '[';
    memcpy(tmp + len, ip, n);
    len += n;
    if (v6)
        tmp[len++] = ']';
    if (port_col >= 0)
        len += (size_t)snprintf(tmp + len, sizeof tmp - len, ":%lld",
                                (long long)sqlite3_column_int64(q, port_col));
    ln_esc(l, tmp, len, maxcols);
}

/* Appends the connection "client -> server:port" of row q: the client's
 * address in column cip, the server's address and port in sip, sip + 1. */
static void ln_conn(struct line *l, sqlite3_stmt *q, int cip, int sip)
{
    ln_endpoint(l, q, cip, -1, 30);
    ln_str(l, " -> ", 4);
    ln_endpoint(l, q, sip, sip + 1, 40);
}

/* ======================================================================
 * Organisation networks (CIDR) and the mt_dir() SQL function
 * ====================================================================== */

struct cidr {
    int v6;             /* 0: addr[0..4) is IPv4, 1: addr[0..16) IPv6 */
    uint8_t addr[16];
    unsigned bits;
};

struct orgnets {
    struct cidr *v;
    size_t n;
};

/* Parses "a.b.c.d/n", "x::y/n" or a bare address.  0 or -1. */
static int cidr_parse(const char *s, struct cidr *c)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    unsigned max, bits = 0;

    if (alen == 0 || alen >= sizeof buf)
        return -1;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->v6 = 0;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->v6 = 1;
        max = 128;
    } else {
        return -1;
    }
    if (slash) {
        const char *d = slash + 1;
        if (*d == '\0' || strlen(d) > 3)
            return -1;
        for (; *d; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            bits = bits * 10 + (unsigned)(*d - '0');
        }
        if (bits > max)
            return -1;
    } else {
        bits = max;
    }
    c->bits = bits;
    return 0;
}

/* 1 when the first bits of a and b are equal. */
static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (memcmp(a, b, full) != 0)
        return 0;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((a[full] & mask) != (b[full] & mask))
            return 0;
    }
    return 1;
}

/* 1 when the address text ip[0..n) is inside one of the nets.  An
 * IPv4-mapped IPv6 address also matches IPv4 nets. */
static int org_match(const struct orgnets *o, const char *ip, size_t n)
{
    char buf[64];
    uint8_t a4[4], a6[16];
    int has4 = 0, has6 = 0;

    if (!ip || n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, ip, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, a4) == 1) {
        has4 = 1;
    } else if (inet_pton(AF_INET6, buf, a6) == 1) {
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        has6 = 1;
        if (memcmp(a6, mapped, 12) == 0) {
            memcpy(a4, a6 + 12, 4);
            has4 = 1;
        }
    }
    for (size_t i = 0; i < o->n; i++) {
        const struct cidr *c = &o->v[i];
        if (c->v6 ? (has6 && prefix_eq(a6, c->addr, c->bits))
                  : (has4 && prefix_eq(a4, c->addr, c->bits)))
            return 1;
    }
    return 0;
}

/* SQL mt_dir(client_ip, server_ip) → 'outbound' (client inside, server
 * outside), 'inbound', 'internal' or 'external'. */
static void sql_mt_dir(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct orgnets *o = sqlite3_user_data(ctx);
    const char *c, *s;
    int ci, si;
    const char *r;

    if (argc != 2) {
        sqlite3_result_null(ctx);
        return;
    }
    c = (const char *)sqlite3_value_text(argv[0]);
    ci = c ? org_match(o, c, (size_t)sqlite3_value_bytes(argv[0])) : 0;
    s = (const char *)sqlite3_value_text(argv[1]);
    si = s ? org_match(o, s, (size_t)sqlite3_value_bytes(argv[1])) : 0;
    r = ci ? (si ? "internal" : "outbound") : (si ? "inbound" : "external");
    sqlite3_result_text(ctx, r, -1, SQLITE_STATIC);
}

/* ======================================================================
 * Query context
 * ====================================================================== */

struct rctx {
    sqlite3 *db;
    FILE *out;
    enum rep_format fmt;
    const struct rep_filter *f;
    char *errbuf;
    size_t errsz;
    struct orgnets org;
    struct jw jw;
    int began;          /* we opened the read transaction             */
    const char *tfmt;   /* strftime format of the timeline buckets    */
    int color;          /* text on a terminal: emphasis sequences      */
    const char *table;  /* CSV: the one table to write, NULL = all     */
    size_t client_cols; /* text: width of the client addresses (clients) */
};

/* Sets errbuf (printf style) and returns -1. */
static int rerr(struct rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rerr(struct rctx *c, const char *fmt, ...)
{
    va_list ap;
    if (c->errbuf && c->errsz) {
        va_start(ap, fmt);
        vsnprintf(c->errbuf, c->errsz, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Binds a double parameter by name when present. */
static void bind_d(sqlite3_stmt *q, const char *name, double v)
{
    int i = sqlite3_bind_parameter_index(q, name);
    if (i > 0)
        sqlite3_bind_double(q, i, v);
}

/* Binds an int parameter by name when present. */
static void bind_i(sqlite3_stmt *q, const char *name, int v)
{
    int i = sqlite3_bind_parameter_index(q, name);
    if (i > 0)
        sqlite3_bind_int(q, i, v);
}

/* Binds a text parameter by name when present (NULL/"" bind NULL). */
static void bind_t(sqlite3_stmt *q, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(q, name);
    if (i <= 0)
        return;
    if (v && *v)
        sqlite3_bind_text(q, i, v, (int)strnlen(v, 4096), SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, i);
}

/* Prepares sql (a literal of this file) and binds every filter it names:
 * :since :until :minsev :kind :prot :tfmt.  NULL with errbuf on failure. */
static sqlite3_stmt *prep(struct rctx *c, const char *sql)
{
    sqlite3_stmt *q = NULL;
    const struct rep_filter *f = c->f;

    if (sqlite3_prepare_v2(c->db, sql, -1, &q, NULL) != SQLITE_OK) {
        rerr(c, "query: %s", sqlite3_errmsg(c->db));
        sqlite3_finalize(q);
        return NULL;
    }
    bind_d(q, ":since", f && isfinite(f->since) ? f->since : 0.0);
    bind_d(q, ":until", f && isfinite(f->until) ? f->until : 0.0);
    bind_i(q, ":minsev", f ? f->min_severity : -1);
    bind_t(q, ":kind", f ? f->kind : NULL);
    bind_t(q, ":prot", f ? f->protection : NULL);
    bind_t(q, ":tfmt", c->tfmt ? c->tfmt : "%Y-%m-%d");
    return q;
}

/* Finishes a row loop: rc is the last sqlite3_step() result.  Finalizes q.
 * 0 or -1 with errbuf. */
static int finish(struct rctx *c, sqlite3_stmt *q, int rc)
{
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return rerr(c, "query: %s", sqlite3_errmsg(c->db));
    return 0;
}

/* Runs a one-row query into the n figures *dst[0..n), column i into
 * *dst[i] (NULL → 0).  0 or -1. */
static int query_into(struct rctx *c, const char *sql, long long *const *dst, int n)
{
    sqlite3_stmt *q = prep(c, sql);
    int rc;

    for (int i = 0; i < n; i++)
        *dst[i] = 0;
    if (!q)
        return -1;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        int nc = sqlite3_column_count(q);
        for (int i = 0; i < n && i < nc; i++)
            *dst[i] = sqlite3_column_int64(q, i);
    }
    return finish(c, q, rc);
}

/* The addresses of the figures a query fills, as the dst and n of
 * query_into. */
#define FIGS(...)                                                                      \
    (long long *const[]){ __VA_ARGS__ },                                               \
    (int)(sizeof((long long *const[]){ __VA_ARGS__ }) / sizeof(long long *))

/* Opens a read snapshot (unless a transaction is already open) so all the
 * figures agree while another process writes.  0 or -1. */
static int snap_begin(struct rctx *c)
{
    if (!sqlite3_get_autocommit(c->db))
        return 0;
    if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return rerr(c, "begin: %s", sqlite3_errmsg(c->db));
    c->began = 1;
    return 0;
}

/* Ends the snapshot opened by snap_begin. */
static void snap_end(struct rctx *c)
{
    if (c->began && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    c->began = 0;
}

/* Parses the filter's org nets and registers mt_dir().  0 or -1. */
static int org_setup(struct rctx *c)
{
    const struct rep_filter *f = c->f;

    if (!f || !f->org_nets || f->n_org_nets == 0)
        return 0;
    c->org.v = calloc(f->n_org_nets, sizeof *c->org.v);
    if (!c->org.v)
        return rerr(c, "out of memory");
    for (size_t i = 0; i < f->n_org_nets; i++) {
        if (!f->org_nets[i] || cidr_parse(f->org_nets[i], &c->org.v[i]) < 0)
            return rerr(c, "invalid --org-net \"%.64s\" (expected CIDR such as 192.0.2.0/24)",
                        f->org_nets[i] ? f->org_nets[i] : "");
        c->org.n++;
    }
    if (sqlite3_create_function_v2(c->db, "mt_dir", 2,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                   &c->org, sql_mt_dir, NULL, NULL, NULL) != SQLITE_OK)
        return rerr(c, "register function: %s", sqlite3_errmsg(c->db));
    return 0;
}

/* Unregisters mt_dir() and frees the nets. */
static void org_teardown(struct rctx *c)
{
    if (c->org.n)
        sqlite3_create_function_v2(c->db, "mt_dir", 2, SQLITE_UTF8, NULL, NULL, NULL, NULL,
                                   NULL);
    free(c->org.v);
    c->org.v = NULL;
    c->org.n = 0;
}

/* Sets up a context; 0 or -1 with errbuf. */
static int ctx_init(struct rctx *c, store_t *st, enum rep_format fmt,
                    const struct rep_filter *f, FILE *out, char *errbuf, size_t errsz)
{
    memset(c, 0, sizeof *c);
    c->errbuf = errbuf;
    c->errsz = errsz;
    if (errbuf && errsz)
        errbuf[0] = '\0';
    c->db = st ? store_db(st) : NULL;
    c->out = out;
    c->fmt = fmt;
    c->f = f;
    if (!c->db || !out)
        return rerr(c, "no database or no output");
    return 0;
}

/* Reports a write error on the output, if any.  0 or -1. */
static int out_check(struct rctx *c)
{
    if (fflush(c->out) != 0 || ferror(c->out))
        return rerr(c, "write error on output");
    return 0;
}

/* The severity rank of a severity text column, in SQL. */
#define SEV_RANK(col)                                                                  \
    "(CASE " col " WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2"     \
    " WHEN 'low' THEN 1 ELSE 0 END)"

/* The sessions the period filter keeps, as CTE "s".  NOT MATERIALIZED:
 * used as a view, so that joins reach the sessions table and its indexes
 * instead of a temporary copy of every row. */
#define S_CTE                                                                          \
    "WITH s AS NOT MATERIALIZED (SELECT * FROM sessions NOT INDEXED"                   \
    " WHERE (:since = 0 OR start_ts >= :since) AND (:until = 0 OR start_ts < :until)) "

/* Cleartext messages per session, as CTE "mc" (follows S_CTE; always
 * LEFT JOINed from s, which does the period filtering). */
#define MC_CTE                                                                         \
    ", mc AS (SELECT session_id AS sid, count(*) AS n FROM messages"                   \
    " WHERE content_exposed = 1 GROUP BY session_id) "

/* Kinds that are active attacks: shown at the very top of the findings. */
#define ATTACK_KINDS                                                                   \
    "('starttls_token_masked', 'starttls_command_injection',"                          \
    " 'starttls_response_injection', 'non_tls_after_starttls_220',"                    \
    " 'smtp_smuggling_eod_ambiguity')"

/* ======================================================================
 * mailtap sessions, mailtap findings
 * ====================================================================== */

/* Starts the listing `mailtap what` (text or JSON lines) in c, in one read
 * snapshot.  0 or -1 with errbuf. */
static int listing_begin(struct rctx *c, const char *what, store_t *st, enum rep_format fmt,
                         const struct rep_filter *f, FILE *out, char *errbuf, size_t errsz)
{
    if (ctx_init(c, st, fmt, f, out, errbuf, errsz) < 0)
        return -1;
    if (fmt != REP_TEXT && fmt != REP_JSON)
        return rerr(c, "%s: only text and json formats", what);
    return snap_begin(c);
}

/* Ends a listing of rows rows whose row loop gave r (0, or -1 with
 * errbuf); the text says none when there was no row.  0 or -1. */
static int listing_end(struct rctx *c, int r, int rows, const char *none)
{
    if (r == 0 && rows == 0 && c->fmt == REP_TEXT)
        fputs(none, c->out);
    snap_end(c);
    return r < 0 ? -1 : out_check(c);
}

#define SESSIONS_WHERE                                                                 \
    " WHERE (:prot IS NULL OR protection = :prot)"                                     \
    " AND (:since = 0 OR start_ts >= :since) AND (:until = 0 OR start_ts < :until)"    \
    " ORDER BY start_ts, id"

/* `mailtap sessions` (contract in reports.h): text or JSON lines. */
int rep_sessions(store_t *st, enum rep_format fmt, const struct rep_filter *f, FILE *out,
                 char *errbuf, size_t errsz)
{
    struct rctx c;
    sqlite3_stmt *q;
    struct line l;
    int rc, rows = 0;

    if (listing_begin(&c, "sessions", st, fmt, f, out, errbuf, errsz) < 0)
        return -1;
    if (fmt == REP_JSON) {
        q = prep(&c, "SELECT * FROM sessions" SESSIONS_WHERE);
        if (!q)
            return listing_end(&c, -1, 0, NULL);
        jw_init(&c.jw, out, REP_JSON, 0, NULL);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            int nc = sqlite3_column_count(q);
            jw_open(&c.jw, '{');
            for (int i = 0; i < nc; i++) {
                const char *name = sqlite3_column_name(q, i);
                jw_kcol(&c.jw, name ? name : "?", q, i);
            }
            jw_close(&c.jw, '}');
            fputc('\n', out);
        }
        return listing_end(&c, finish(&c, q, rc), rows, NULL);
    }
    q = prep(&c, "SELECT id, start_ts, client_ip, client_port, server_ip, server_port,"
                 " protection, exposed_envelope, exposed_content, exposed_credentials,"
                 " cleartext_messages, auth_mechanism, auth_outcome, banner FROM sessions"
                 SESSIONS_WHERE);
    if (!q)
        return listing_end(&c, -1, 0, NULL);
    ln_init(&l, LIST_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t n1, n2;
        const char *mech, *outc;
        if (rows++ == 0) {
            ln_str(&l, "ID", 8);
            ln_pad(&l, 8);
            ln_str(&l, "START", 22);
            ln_pad(&l, 30);
            ln_str(&l, "CLIENT", 30);
            ln_pad(&l, 60);
            ln_str(&l, "SERVER", 30);
            ln_pad(&l, 93);
            ln_str(&l, "PROTECTION", 14);
            ln_pad(&l, 108);
            ln_str(&l, "E/C/K", 6);
            ln_pad(&l, 114);
            ln_fmt(&l, "%5s", "MSGS");
            ln_pad(&l, 121);
            ln_str(&l, "AUTH", 20);
            ln_pad(&l, 143);
            ln_str(&l, "BANNER", 10);
            ln_out(&l, out);
        }
        ln_fmt(&l, "%lld", (long long)sqlite3_column_int64(q, 0));
        ln_pad(&l, 8);
        ln_ts(&l, q, 1);
        ln_pad(&l, 30);
        ln_endpoint(&l, q, 2, 3, 29);
        ln_pad(&l, 57);
        ln_str(&l, "->", 2);
        ln_pad(&l, 60);
        ln_endpoint(&l, q, 4, 5, 32);
        ln_pad(&l, 93);
        ln_col(&l, q, 6, 14);
        ln_pad(&l, 108);
        ln_fmt(&l, "%d/%d/%d", sqlite3_column_int(q, 7) != 0, sqlite3_column_int(q, 8) != 0,
               sqlite3_column_int(q, 9) != 0);
        ln_pad(&l, 114);
        ln_fmt(&l, "%5lld", (long long)sqlite3_column_int64(q, 10));
        ln_pad(&l, 121);
        mech = col_txt(q, 11, &n1);
        outc = col_txt(q, 12, &n2);
        if (mech) {
            ln_esc(&l, mech, n1, 12);
            ln_str(&l, "/", 1);
            if (outc)
                ln_esc(&l, outc, n2, 20 - 1 - (n1 < 12 ? n1 : 12));
            else
                ln_str(&l, "-", 1);
        } else {
            ln_str(&l, "-", 1);
        }
        ln_pad(&l, 143);
        ln_col(&l, q, 13, 40);
        ln_out(&l, out);
    }
    return listing_end(&c, finish(&c, q, rc), rows, "no sessions\n");
}

/* `mailtap findings` (contract in reports.h): text or JSON lines. */
int rep_findings(store_t *st, enum rep_format fmt, const struct rep_filter *f, FILE *out,
                 char *errbuf, size_t errsz)
{
    /* JSON: the columns under these names. */
    static const char keys[] = "id,session_id,message_id,message_seq,kind,severity,ts,"
                               "evidence,client_ip,client_port,server_ip,server_port,protection";
    static const char sql[] =
        "SELECT f.id, f.session_id, f.message_id, m.seq, f.kind, f.severity, f.ts,"
        " f.evidence, s.client_ip, s.client_port, s.server_ip, s.server_port, s.protection"
        " FROM findings f JOIN sessions s ON s.id = f.session_id"
        " LEFT JOIN messages m ON m.id = f.message_id"
        " WHERE (:kind IS NULL OR f.kind = :kind)"
        " AND (:minsev < 0 OR " SEV_RANK("f.severity") " >= :minsev)"
        " AND (:since = 0 OR coalesce(f.ts, s.start_ts) >= :since)"
        " AND (:until = 0 OR coalesce(f.ts, s.start_ts) < :until)"
        " ORDER BY coalesce(f.ts, s.start_ts), f.id";
    struct rctx c;
    sqlite3_stmt *q;
    struct line l;
    int rc, rows = 0;

    if (listing_begin(&c, "findings", st, fmt, f, out, errbuf, errsz) < 0)
        return -1;
    q = prep(&c, sql);
    if (!q)
        return listing_end(&c, -1, 0, NULL);
    jw_init(&c.jw, out, REP_JSON, 0, NULL);
    ln_init(&l, LIST_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows++;
        if (fmt == REP_JSON) {
            jw_row(&c.jw, q, keys);
            fputc('\n', out);
            continue;
        }
        ln_fmt(&l, "%lld", (long long)sqlite3_column_int64(q, 0));
        ln_pad(&l, 8);
        ln_col(&l, q, 5, 9);
        ln_pad(&l, 18);
        ln_col(&l, q, 4, 36);
        ln_pad(&l, 55);
        ln_fmt(&l, "session=%lld", (long long)sqlite3_column_int64(q, 1));
        ln_pad(&l, 71);
        ln_endpoint(&l, q, 8, 9, 29);
        ln_str(&l, " -> ", 4);
        ln_endpoint(&l, q, 10, 11, 32);
        ln_str(&l, "  ", 2);
        ln_ts(&l, q, 6);
        ln_str(&l, "  ", 2);
        ln_col(&l, q, 7, 1024);
        ln_out(&l, out);
    }
    return listing_end(&c, finish(&c, q, rc), rows, "no findings\n");
}

/* ======================================================================
 * mailtap report
 *
 * Sections in order: overview, direction (with --org-net), servers,
 * clients, recipient domains, cleartext messages, credential exposures,
 * findings, timeline, captures (not in text).  Each section writes its
 * text form, its structured form (JSON/CSV events) or its HTML by hand.
 * ====================================================================== */

#define HTML_ROWS_MAX  500  /* rows per HTML table (JSON and CSV have all) */
#define HTML_KIND_MAX  50   /* findings shown per kind in HTML             */
#define CHART_SERVERS  10   /* servers in the HTML chart                   */
#define REPORT_FORMAT_VERSION   1    /* "report_format" in JSON/CSV: bump on change */

/* ---- text: terminal emphasis ------------------------------------------- */

/* ANSI sequences for emphasis, or "" when the output is not a terminal
 * (or NO_COLOR is set, or TERM is dumb).  They never count as columns. */
static const char *tty_on(const struct rctx *c, const char *seq)
{
    return c->color ? seq : "";
}

#define T_BOLD  "\033[1m"
#define T_RED   "\033[1;31m"
#define T_YEL   "\033[1;33m"
#define T_OFF   "\033[0m"

/* Appends raw bytes of ours that take no columns (terminal sequences). */
static void ln_raw(struct line *l, const char *s)
{
    size_t n = strlen(s);
    if (l->len + n + 4 <= LN_BYTES) {
        memcpy(l->b + l->len, s, n);
        l->len += n;
    }
}

/* ---- HTML helpers -------------------------------------------------------- */

/* Writes p[0..n) HTML-escaped for a text node, with the text escaping of
 * control characters, invalid UTF-8 and special code points (so nothing
 * captured can become markup, reorder the page or hide). */
static void html_esc_wbr(FILE *f, const void *vp, size_t n, int wbr);
static void html_esc(FILE *f, const void *vp, size_t n)
{
    html_esc_wbr(f, vp, n, 0);
}

/* html_esc, and with wbr a line-break opportunity (<wbr>, no text) after
 * each of . @ / _ = : + inside words longer than 20 columns, so that long
 * addresses wrap at their punctuation in narrow cells. */
static void html_esc_wbr(FILE *f, const void *vp, size_t n, int wbr)
{
    const unsigned char *p = vp;
    char piece[16];
    size_t pl, pc, run = 0;
    int long_word = 0;

    for (size_t i = 0; i < n;) {
        if (wbr && run == 0) {
            /* A new word: break opportunities only in one longer than 20
             * columns. */
            size_t j = i, cols = 0;
            while (j < n && p[j] != ' ' && cols <= 20) {
                j += txt_piece(p + j, n - j, piece, &pl, &pc);
                cols += pc;
            }
            long_word = cols > 20;
        }
        i += txt_piece(p + i, n - i, piece, &pl, &pc);
        run = pl == 1 && piece[0] == ' ' ? 0 : run + pc;
        for (size_t k = 0; k < pl; k++) {
            switch (piece[k]) {
            case '&':  fputs("&amp;", f); break;
            case '<':  fputs("&lt;", f); break;
            case '>':  fputs("&gt;", f); break;
            case '"':  fputs("&quot;", f); break;
            case '\'': fputs("&#39;", f); break;
            default:   fputc(piece[k], f); break;
            }
        }
        if (wbr && long_word && pl == 1 && strchr(".@/_=:+", piece[0]) && i < n)
            fputs("<wbr>", f);
    }
}

/* html_esc of at most maxcols columns (a longer value ends in "…"), with
 * line-break opportunities when wbr (see html_esc_wbr). */
static void html_esc_cut_wbr(FILE *f, const void *vp, size_t n, size_t maxcols, int wbr)
{
    const unsigned char *p = vp;
    char piece[16];
    size_t pl, pc, cols = 0, i = 0, cut = n;

    if (esc_cols(p, n) > maxcols) {
        while (i < n) {
            size_t k = txt_piece(p + i, n - i, piece, &pl, &pc);
            if (cols + pc + 1 > maxcols)
                break;
            cols += pc;
            i += k;
        }
        cut = cut_escape_tail(p, i);
    }
    html_esc_wbr(f, p, cut, wbr);
    if (cut < n)
        fputs("\xe2\x80\xa6", f);
}

/* html_esc of at most maxcols columns; a longer value ends in "…". */
static void html_esc_cut(FILE *f, const void *vp, size_t n, size_t maxcols)
{
    html_esc_cut_wbr(f, vp, n, maxcols, 0);
}

/* 1 when p[0..n), escaped, has a run of more than maxrun columns without
 * a space (such a value may break anywhere in a table cell). */
static int long_run(const void *vp, size_t n, size_t maxrun)
{
    const unsigned char *p = vp;
    char piece[16];
    size_t pl, pc, run = 0;

    for (size_t i = 0; i < n;) {
        i += txt_piece(p + i, n - i, piece, &pl, &pc);
        run = pl == 1 && piece[0] == ' ' ? 0 : run + pc;
        if (run > maxrun)
            return 1;
    }
    return 0;
}

/* A captured value in a table cell: escaped, cut after maxcols columns
 * (0: whole), allowed to break anywhere when it has long runs, and with
 * wbr (addresses, message ids) line-break opportunities at punctuation. */
static void h_val(FILE *f, const void *p, size_t n, size_t maxcols, int wbr)
{
    int brk = long_run(p, n, 30);

    if (brk)
        fputs("<span class=\"brk\">", f);
    html_esc_cut_wbr(f, p, n, maxcols > 0 ? maxcols : SIZE_MAX, wbr && !brk);
    if (brk)
        fputs("</span>", f);
}

/* A NUL-terminated string of ours, escaped all the same. */
static void h_str(FILE *f, const char *s)
{
    html_esc(f, s, strlen(s));
}

/* A missing value in a table cell: a dimmed dash. */
#define H_NA "<span class=\"na\">\xe2\x80\x93</span>"

/* <td> with column i escaped ("–" when NULL or empty), cut after maxcols
 * columns when maxcols > 0 (the JSON and CSV reports keep whole values);
 * cls may be NULL. */
static void h_td_col(FILE *f, sqlite3_stmt *q, int i, const char *cls, size_t maxcols)
{
    size_t n;
    const char *t = col_txt(q, i, &n);

    if (cls)
        fprintf(f, "<td class=\"%s\">", cls);
    else
        fputs("<td>", f);
    if (t && n > 0 && cls)
        html_esc_cut(f, t, n, maxcols > 0 ? maxcols : SIZE_MAX);  /* no wrapping */
    else if (t && n > 0)
        h_val(f, t, n, maxcols, 0);
    else
        fputs(H_NA, f);
    fputs("</td>", f);
}

/* <td class="n"> with a number. */
static void h_td_num(FILE *f, long long v)
{
    fprintf(f, "<td class=\"n\">%lld</td>", v);
}

/* <td class="n"> with a number that is bad news when nonzero. */
static void h_td_bad(FILE *f, long long v)
{
    fprintf(f, "<td class=\"n%s\">%lld</td>", v > 0 ? " bad" : "", v);
}

/* <td class="t"> with the packet time of column i. */
static void h_td_ts(FILE *f, sqlite3_stmt *q, int i)
{
    char b[32];

    if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        fputs("<td class=\"t\">" H_NA "</td>", f);
        return;
    }
    fmt_ts(sqlite3_column_double(q, i), b, sizeof b);
    fputs("<td class=\"t\">", f);
    h_str(f, b);
    fputs("</td>", f);
}

/* "ip:port" ("[ip]:port" for IPv6; port_col < 0: the address only),
 * escaped, into f. */
static void h_endpoint(FILE *f, sqlite3_stmt *q, int ip_col, int port_col)
{
    size_t n;
    const char *ip = col_txt(q, ip_col, &n);
    int v6;

    if (!ip) {
        ip = "?";
        n = 1;
    }
    v6 = memchr(ip, ':', n) != NULL && port_col >= 0;
    if (v6)
        fputc('[', f);
    html_esc(f, ip, n);
    if (v6)
        fputc(']', f);
    if (port_col >= 0)
        fprintf(f, ":%lld", (long long)sqlite3_column_int64(q, port_col));
}

/* <td class="c"> with the connection "client → server:port" of row q (the
 * columns as for ln_conn). */
static void h_td_conn(FILE *f, sqlite3_stmt *q, int cip, int sip)
{
    fputs("<td class=\"c\">", f);
    h_endpoint(f, q, cip, -1);
    fputs(" &rarr; ", f);
    h_endpoint(f, q, sip, sip + 1);
    fputs("</td>", f);
}

/* The header row of a table: labels separated by '|'; a label starting
 * with '#' is a numeric column (right-aligned). */
static void h_table(FILE *f, const char *cls, const char *labels)
{
    const char *p = labels, *label;
    size_t len;

    fprintf(f, "<table class=\"%s\">\n<thead><tr>", cls);
    while ((label = list_next(&p, '|', &len)) != NULL) {
        if (*label == '#') {
            fputs("<th class=\"n\">", f);
            html_esc(f, label + 1, len - 1);
        } else {
            fputs("<th>", f);
            html_esc(f, label, len);
        }
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
}

/* The number of columns of a table with these labels (as for h_table). */
static int h_ncols(const char *labels)
{
    const char *p = labels;
    size_t len;
    int n = 0;

    while (list_next(&p, '|', &len) != NULL)
        n++;
    return n;
}

/* Ends a table; more > 0 adds a last row saying how many were left out. */
static void h_table_end(FILE *f, long long more, int ncols)
{
    if (more > 0)
        fprintf(f, "<tr><td class=\"more\" colspan=\"%d\">\xe2\x80\xa6 and %lld more "
                "(the CSV and JSON reports list all of them)</td></tr>\n", ncols, more);
    fputs("</tbody></table>\n", f);
}

/* A section's anchor (the target of its link in the page's <nav>) and its
 * heading. */
static void h_heading(FILE *f, const char *anchor, const char *heading)
{
    fprintf(f, "<div class=\"anchor\" id=\"%s\"></div><h2>", anchor);
    h_str(f, heading);
    fputs("</h2>\n", f);
}

/* Colours of the protection values (prot_order), on screen and on paper. */
static const char *const prot_color[5] = {
    "#c62828", "#ef6c00", "#2e7d32", "#1565c0", "#9e9e9e"
};
static const char *const prot_label[5] = {
    "cleartext", "partial", "STARTTLS", "implicit TLS", "indeterminate"
};
static const char *const prot_meaning[5] = {
    "no TLS on the connection",
    "TLS started after envelope, content or credentials crossed in cleartext",
    "STARTTLS and a TLS handshake before anything sensitive",
    "TLS from the first byte (port 465)",
    "the capture cannot tell (gap, one-sided, mid-stream start)"
};

/* A small colour square (SVG, so it prints without background colours). */
static void h_swatch(FILE *f, const char *color)
{
    fprintf(f, "<svg class=\"sw\" width=\"12\" height=\"12\" aria-hidden=\"true\">"
            "<rect width=\"12\" height=\"12\" fill=\"%s\"/></svg>", color);
}

/* Ends an SVG chart, then its legend: a swatch and a label for each of
 * the n colours. */
static void h_chart_end(FILE *f, const char *const *color, const char *const *label, int n)
{
    fputs("</svg>\n<p class=\"note\">", f);
    for (int i = 0; i < n; i++) {
        h_swatch(f, color[i]);
        h_str(f, label[i]);
        fputs(i < n - 1 ? " &nbsp; " : "", f);
    }
    fputs("</p>\n", f);
}

/* The page head: title, inline style (screen and print), no script, and a
 * Content-Security-Policy that forbids scripts and every external load
 * (defence in depth: nothing captured is ever written as markup). */
static void html_head(FILE *f)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta HTTP-EQUIV=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; "
          "base-uri 'none'\">\n"
          "<meta name=\"referrer\" content=\"no-referrer\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>mailtap: SMTP encryption audit</title>\n<style>\n"
          ":root{--bad:#c62828;--warn:#ef6c00;--ok:#2e7d32;--mut:#666;--line:#ddd}\n"
          "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
          "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
          "margin:1.5em auto;padding:0 1.5em;color:#1a1a1a;max-width:78em;line-height:1.4}\n"
          "h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.25em;margin:2em 0 .5em;"
          "padding-bottom:.2em;border-bottom:2px solid #333}\n"
          "h3{font-size:1.05em;margin:1.4em 0 .3em}\n"
          ".meta{color:var(--mut);margin:0 0 1em}\n"
          ".summary{font-size:1.15em;background:#fdf3f3;padding:.8em 1em;"
          "border-left:6px solid var(--bad);margin:1em 0}\n"
          ".summary.good{background:#f1f8f1;border-left-color:var(--ok)}\n"
          ".figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(8.5em,1fr));"
          "gap:.6em;margin:1em 0}\n"
          ".fig{border:1px solid var(--line);border-radius:6px;padding:.5em .8em}\n"
          ".fig .v{display:block;font-size:1.9em;font-weight:700;"
          "font-variant-numeric:tabular-nums}\n"
          ".fig .l{display:block;color:var(--mut);font-size:.9em}\n"
          ".fig.bad .v{color:var(--bad)}.fig.ok .v{color:var(--ok)}\n"
          "table{border-collapse:collapse;margin:.5em 0 1em;width:100%}\n"
          "th,td{padding:.25em .6em;text-align:left;vertical-align:top;"
          "border-bottom:1px solid var(--line);font-size:.9em;overflow-wrap:break-word}\n"
          ".brk{overflow-wrap:anywhere;word-break:break-all}\n"
          "table.findings{table-layout:fixed}table.findings th:nth-child(1){width:11.5em}"
          "table.findings th:nth-child(2){width:8em}table.findings th:nth-child(3){width:22em}\n"
          "nav{margin:.6em 0 0;font-size:.9em}nav a{margin-right:1em;color:#1565c0}\n"
          "thead th{border-bottom:2px solid #999;background:#f4f4f4;overflow-wrap:normal}\n"
          "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.n{white-space:nowrap}\n"
          "td.t{white-space:nowrap;font-variant-numeric:tabular-nums}\n"
          "td.bad{color:var(--bad);font-weight:700}\n"
          "td.more{color:var(--mut);font-style:italic}\n"
          "table.kv{width:auto}table.kv th{font-weight:normal;color:#444;background:none;"
          "border-bottom:1px solid var(--line)}\n"
          ".na{color:#aaa}.note{color:var(--mut);font-size:.9em}\n"
          ".sev{display:inline-block;min-width:5.5em;text-align:center;border-radius:3px;"
          "padding:0 .4em;font-size:.8em;font-weight:700;color:#fff;background:#777}\n"
          ".sev.critical{background:#b71c1c}.sev.high{background:#e65100}"
          ".sev.medium{background:#f9a825;color:#000}.sev.low{background:#1565c0}"
          ".sev.info{background:#757575}\n"
          ".attack{color:var(--bad);font-weight:700;font-size:.85em}\n"
          "svg.chart{display:block;width:100%;height:auto;margin:.5em 0;"
          "font-family:inherit}\n"
          "svg.sw{vertical-align:-1px;margin-right:.35em}\n"
          "small{color:var(--mut)}\n"
          "footer{margin-top:3em;color:var(--mut);font-size:.85em;"
          "border-top:1px solid var(--line);padding-top:.5em}\n"
          "@page{margin:1.4cm}\n"
          "@media print{body{max-width:none;margin:0;padding:0;font-size:10pt}"
          "h2{break-after:avoid;page-break-after:avoid}h3{break-after:avoid}"
          "thead{display:table-header-group}tr,.fig,svg.chart{break-inside:avoid;"
          "page-break-inside:avoid}.figures{gap:.3em;grid-template-columns:repeat(7,1fr)}"
          ".fig{padding:.3em .5em}"
          ".fig .v{font-size:1.4em}th,td{font-size:8.5pt}nav{display:none}"
          "table.findings th:nth-child(3){width:16em}}\n"
          "</style></head><body>\n", f);
}

static int html_findings_summary(struct rctx *c);

/* ---- the overview -------------------------------------------------------- */

/* The figures of the overview, gathered first (the sentence needs them). */
struct overview {
    long long sessions, prot[5], other_prot, env, content, cred, open;
    long long msgs, clear_msgs, clear_msg_sessions;
    long long caps, packets, caps_complete, caps_interrupted, dropped, ifdropped, truncated,
        undecodable, evicted, evicted_bytes;
    long long sev[5], attacks, attack_sessions;
    double first, last;
    int has_period;
    /* with org nets */
    long long out_sessions, out_clear_sessions, out_clear_msgs, out_cred;
};

/* Protection values in the order the report lists them. */
static const char *const prot_order[5] = {
    "cleartext", "partial", "starttls", "implicit_tls", "indeterminate"
};

/* The name of severity rank r (SEV_RANK, enum mt_severity); "info" for
 * anything else. */
static const char *sev_name(int r)
{
    return mt_severity_name((enum mt_severity)r);
}

/* The report's period filter as two times, "-" for an open end, into a
 * and b (sz bytes each, >= 32).  0 when the report has no period filter. */
static int filter_period(const struct rctx *c, char *a, char *b, size_t sz)
{
    if (!c->f || (c->f->since == 0 && c->f->until == 0))
        return 0;
    if (c->f->since != 0)
        fmt_ts(c->f->since, a, sz);
    else
        snprintf(a, sz, "-");
    if (c->f->until != 0)
        fmt_ts(c->f->until, b, sz);
    else
        snprintf(b, sz, "-");
    return 1;
}

/* Gathers the overview figures.  0 or -1. */
static int gather_overview(struct rctx *c, struct overview *o)
{
    sqlite3_stmt *q;
    int rc;

    memset(o, 0, sizeof *o);
    if (query_into(c, S_CTE "SELECT count(*), sum(protection = 'cleartext'),"
                   " sum(protection = 'partial'), sum(protection = 'starttls'),"
                   " sum(protection = 'implicit_tls'), sum(protection = 'indeterminate'),"
                   " sum(exposed_envelope != 0), sum(exposed_content != 0),"
                   " sum(exposed_credentials != 0), sum(complete = 0) FROM s",
                   FIGS(&o->sessions, &o->prot[0], &o->prot[1], &o->prot[2], &o->prot[3],
                        &o->prot[4], &o->env, &o->content, &o->cred, &o->open)) < 0)
        return -1;
    o->other_prot = o->sessions - o->prot[0] - o->prot[1] - o->prot[2] - o->prot[3] - o->prot[4];
    if (query_into(c, S_CTE "SELECT count(*), sum(m.content_exposed != 0),"
                   " count(DISTINCT CASE WHEN m.content_exposed != 0 THEN m.session_id END)"
                   " FROM messages m JOIN s ON s.id = m.session_id",
                   FIGS(&o->msgs, &o->clear_msgs, &o->clear_msg_sessions)) < 0)
        return -1;
    if (query_into(c, "SELECT count(*), sum(packets), sum(status = 'complete'),"
                   " sum(status = 'interrupted'), sum(dropped), sum(ifdropped), sum(truncated),"
                   " sum(undecodable), sum(evicted), sum(evicted_bytes) FROM captures"
                   " WHERE (:since = 0 OR last_ts IS NULL OR last_ts >= :since)"
                   " AND (:until = 0 OR first_ts IS NULL OR first_ts < :until)",
                   FIGS(&o->caps, &o->packets, &o->caps_complete, &o->caps_interrupted,
                        &o->dropped, &o->ifdropped, &o->truncated, &o->undecodable,
                        &o->evicted, &o->evicted_bytes)) < 0)
        return -1;
    if (query_into(c, S_CTE "SELECT sum(" SEV_RANK("f.severity") " = 0),"
                   " sum(" SEV_RANK("f.severity") " = 1), sum(" SEV_RANK("f.severity") " = 2),"
                   " sum(" SEV_RANK("f.severity") " = 3), sum(" SEV_RANK("f.severity") " = 4)"
                   " FROM findings f JOIN s ON s.id = f.session_id",
                   FIGS(&o->sev[0], &o->sev[1], &o->sev[2], &o->sev[3], &o->sev[4])) < 0)
        return -1;
    if (query_into(c, S_CTE "SELECT count(*), count(DISTINCT f.session_id) FROM findings f"
                   " JOIN s ON s.id = f.session_id WHERE f.kind IN " ATTACK_KINDS,
                   FIGS(&o->attacks, &o->attack_sessions)) < 0)
        return -1;
    q = prep(c, S_CTE "SELECT min(start_ts), max(coalesce(end_ts, start_ts)) FROM s");
    if (!q)
        return -1;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
        o->first = sqlite3_column_double(q, 0);
        o->last = sqlite3_column_double(q, 1);
        o->has_period = 1;
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (c->org.n &&
        query_into(c, S_CTE MC_CTE "SELECT count(*),"
                   " sum(protection IN ('cleartext', 'partial')), coalesce(sum(mc.n), 0),"
                   " sum(exposed_credentials != 0)"
                   " FROM s LEFT JOIN mc ON mc.sid = s.id"
                   " WHERE mt_dir(client_ip, server_ip) = 'outbound'",
                   FIGS(&o->out_sessions, &o->out_clear_sessions, &o->out_clear_msgs,
                        &o->out_cred)) < 0)
        return -1;
    return 0;
}

/* "1 message" / "3 messages". */
static const char *plural(long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Builds the one-sentence answer ("does our mail leave unencrypted"). */
static void summary_sentence(const struct rctx *c, const struct overview *o, char *b, size_t bsz)
{
    size_t n = 0;

#define ADD(...)                                                                       \
    do {                                                                               \
        if (n < bsz)                                                                   \
            n += (size_t)snprintf(b + n, bsz - n, __VA_ARGS__);                        \
    } while (0)

    b[0] = '\0';
    if (o->sessions == 0) {
        ADD("No SMTP connection was recorded in this period.");
        return;
    }
    if (c->org.n) {
        if (o->out_sessions == 0)
            ADD("No outbound SMTP connection (from the organisation to outside servers) "
                "was recorded. ");
        else if (o->out_clear_msgs == 0 && o->out_clear_sessions == 0)
            ADD("No message to external servers left in cleartext (%lld outbound %s). ",
                o->out_sessions, plural(o->out_sessions, "connection", "connections"));
        else
            ADD("%lld %s to external servers left in cleartext; %lld of %lld outbound "
                "connections were not (fully) encrypted. ",
                o->out_clear_msgs, plural(o->out_clear_msgs, "message", "messages"),
                o->out_clear_sessions, o->out_sessions);
    }
    if (o->clear_msgs == 0 && o->cred == 0) {
        ADD("No message crossed the wire in cleartext and no credentials were exposed");
        if (o->prot[0] + o->prot[1] > 0)
            ADD(", but %lld of %lld connections were not (fully) encrypted",
                o->prot[0] + o->prot[1], o->sessions);
        ADD(".");
    } else {
        if (o->clear_msgs > 0)
            ADD("%lld %s crossed the wire in cleartext, in %lld of %lld SMTP connections",
                o->clear_msgs, plural(o->clear_msgs, "message", "messages"),
                o->clear_msg_sessions, o->sessions);
        else
            ADD("No message crossed the wire in cleartext");
        if (o->cred > 0)
            ADD("; credentials were exposed in %lld %s.", o->cred,
                plural(o->cred, "connection", "connections"));
        else
            ADD("; no credentials were exposed.");
    }
    if (o->attack_sessions > 0)
        ADD(" Signs of an active attack (STARTTLS stripping or injection, SMTP smuggling) in "
            "%lld %s.", o->attack_sessions, plural(o->attack_sessions, "connection",
                                                   "connections"));
    if (o->prot[4] + o->other_prot > 0)
        ADD(" %lld %s could not be assessed (indeterminate).", o->prot[4] + o->other_prot,
            plural(o->prot[4] + o->other_prot, "connection", "connections"));
#undef ADD
}

/* Prints our own ASCII text word-wrapped to the report width, each line
 * starting with indent spaces. */
static void wrap_out(FILE *f, const char *text, int indent)
{
    size_t width = REPORT_COLS - (size_t)indent;
    const char *p = text;

    while (*p) {
        size_t len = strlen(p), cut;
        while (*p == ' ')
            p++, len--;
        if (len == 0)
            break;
        if (len <= width) {
            cut = len;
        } else {
            cut = width;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = width;
        }
        fprintf(f, "%*s%.*s\n", indent, "", (int)cut, p);
        p += cut;
    }
}

/* Section title (text): bold on a terminal. */
static void title(struct rctx *c, const char *t)
{
    char rule[REPORT_COLS + 1];
    size_t n = strlen(t);

    if (n > REPORT_COLS)
        n = REPORT_COLS;
    fprintf(c->out, "\n%s%s%s\n", tty_on(c, T_BOLD), t, tty_on(c, T_OFF));
    memset(rule, '=', n);
    rule[n] = '\0';
    fputs(rule, c->out);
    fputc('\n', c->out);
}

/* Percentage of part in total (0 when total is 0). */
static double pct(long long part, long long total)
{
    return total > 0 ? 100.0 * (double)part / (double)total : 0.0;
}

/* HTML: one key figure ("fig-ID"); tone: 1 bad when v > 0, 0 neutral. */
static void h_figure(FILE *f, const char *id, long long v, const char *label, int tone,
                     const char *extra)
{
    fprintf(f, "<div class=\"fig%s\" id=\"fig-%s\"><span class=\"v\">%lld%s</span>"
            "<span class=\"l\">", tone && v > 0 ? " bad" : tone ? " ok" : "", id, v,
            extra ? extra : "");
    h_str(f, label);
    fputs("</span></div>\n", f);
}

/* HTML: the protection shares as one stacked bar (SVG). */
static void h_protection_bar(FILE *f, const struct overview *o)
{
    double x = 0.0;

    fprintf(f, "<svg class=\"chart\" id=\"chart-protection\" viewBox=\"0 0 1000 44\" "
            "role=\"img\" aria-label=\"SMTP connections by protection\">"
            "<title>SMTP connections by protection (%lld)</title>\n", o->sessions);
    fputs("<g class=\"bar\"><rect x=\"0\" y=\"0\" width=\"1000\" height=\"44\" "
          "fill=\"#eee\"/>\n", f);
    for (int i = 0; i < 5; i++) {
        double wd;
        if (o->prot[i] <= 0)
            continue;
        wd = 1000.0 * (double)o->prot[i] / (double)o->sessions;
        fprintf(f, "<rect x=\"%.1f\" y=\"0\" width=\"%.1f\" height=\"44\" fill=\"%s\">"
                "<title>%s: %lld (%.1f%%)</title></rect>\n", x, wd, prot_color[i],
                prot_label[i], o->prot[i], pct(o->prot[i], o->sessions));
        if (wd >= 70.0)
            fprintf(f, "<text x=\"%.1f\" y=\"28\" font-size=\"15\" fill=\"#fff\" "
                    "text-anchor=\"middle\">%s%s%.0f%%</text>\n", x + wd / 2,
                    wd >= 190.0 ? prot_label[i] : "", wd >= 190.0 ? " " : "",
                    pct(o->prot[i], o->sessions));
        x += wd;
    }
    fputs("</g></svg>\n", f);
}

/* HTML: head of the page, the answer, the key figures and the overview. */
static void html_overview(struct rctx *c, const struct overview *o, const char *sentence)
{
    FILE *f = c->out;
    char a[32], b[32];
    long long notenc = o->prot[0] + o->prot[1];

    fputs("<header>\n<h1>SMTP encryption audit</h1>\n<p class=\"meta\">", f);
    if (o->has_period) {
        fmt_ts(o->first, a, sizeof a);
        fmt_ts(o->last, b, sizeof b);
        fputs("Traffic from ", f);
        h_str(f, a);
        fputs(" to ", f);
        h_str(f, b);
        fputs(" (packet time, UTC) &middot; ", f);
    }
    fprintf(f, "%lld %s, %lld packets &middot; mailtap " MAILTAP_VERSION, o->caps,
            plural(o->caps, "capture", "captures"), o->packets);
    if (filter_period(c, a, b, sizeof a)) {
        fputs(" &middot; filter: connections starting from ", f);
        h_str(f, a);
        fputs(" until ", f);
        h_str(f, b);
    }
    if (c->f && c->f->min_severity > 0) {
        fputs(" &middot; findings at or above ", f);
        h_str(f, sev_name(c->f->min_severity));
    }
    fputs("</p>\n</header>\n", f);
    fputs(o->clear_msgs == 0 && o->cred == 0 && notenc == 0 ? "<div class=\"ok\">" : "<div>", f);
    fputs("<p class=\"summary\">", f);
    h_str(f, sentence);
    fputs("</p></div>\n", f);
    if (o->sessions <= 0)
        return;
    fputs("<div class=\"figures\">\n", f);
    h_figure(f, "sessions", o->sessions, "SMTP connections", 0, NULL);
    h_figure(f, "not-encrypted", notenc, "not (fully) encrypted", 1, NULL);
    h_figure(f, "cleartext-messages", o->clear_msgs, "messages sent in cleartext", 1, NULL);
    h_figure(f, "credentials", o->cred, "connections exposing credentials", 1, NULL);
    h_figure(f, "attacks", o->attacks, "signs of active attack", 1, NULL);
    h_figure(f, "critical", o->sev[4], "critical findings", 1, NULL);
    h_figure(f, "high", o->sev[3], "high findings", 1, NULL);
    fputs("</div>\n<nav><a href=\"#overview\">Overview</a>", f);
    if (c->org.n)
        fputs("<a href=\"#direction\">Direction</a>", f);
    fputs("<a href=\"#servers\">Servers</a><a href=\"#clients\">Clients</a>"
          "<a href=\"#domains\">Recipient domains</a><a href=\"#messages\">Messages</a>"
          "<a href=\"#credentials\">Credentials</a><a href=\"#findings\">Findings</a>"
          "<a href=\"#timeline\">Timeline</a><a href=\"#captures\">Captures</a></nav>\n", f);
    h_heading(f, "overview", "Overview");
    fputs("<p>SMTP connections by protection:</p>\n", f);
    h_protection_bar(f, o);
    h_table(f, "legend", "Protection|#Connections|#Share|Meaning");
    for (int i = 0; i < 5; i++) {
        fputs("<tr><td>", f);
        h_swatch(f, prot_color[i]);
        h_str(f, prot_label[i]);
        fprintf(f, "</td><td class=\"n\">%lld</td><td class=\"n\">%.1f%%</td><td>",
                o->prot[i], pct(o->prot[i], o->sessions));
        h_str(f, prot_meaning[i]);
        fputs("</td></tr>\n", f);
    }
    if (o->other_prot)
        fprintf(f, "<tr><td>(unknown value)</td><td class=\"n\">%lld</td><td class=\"n\">"
                "%.1f%%</td><td></td></tr>\n", o->other_prot, pct(o->other_prot, o->sessions));
    h_table_end(f, 0, 4);
    fputs("<table class=\"kv\">\n", f);
    fprintf(f, "<tr><th>Captures</th><td>%lld (%lld complete, %lld interrupted), "
            "%lld packets</td></tr>\n", o->caps, o->caps_complete, o->caps_interrupted,
            o->packets);
    if (o->dropped || o->ifdropped || o->truncated || o->undecodable)
        fprintf(f, "<tr><th>Capture losses</th><td>%lld dropped, %lld if-dropped, "
                "%lld truncated, %lld undecodable</td></tr>\n", o->dropped, o->ifdropped,
                o->truncated, o->undecodable);
    if (o->evicted)
        fprintf(f, "<tr><th>Not followed</th><td>%lld %s ended early because the flow table "
                "was full; %lld bytes they carried afterwards were not analysed (raise "
                "--max-flows)</td></tr>\n", o->evicted,
                plural(o->evicted, "connection was", "connections were"), o->evicted_bytes);
    if (o->open)
        fprintf(f, "<tr><th>Unfinished</th><td>%lld %s still open when the capture stopped"
                "</td></tr>\n", o->open, plural(o->open, "connection was", "connections were"));
    fprintf(f, "<tr><th>Messages</th><td>%lld seen, %lld with content in cleartext "
            "(in %lld %s)</td></tr>\n", o->msgs, o->clear_msgs, o->clear_msg_sessions,
            plural(o->clear_msg_sessions, "connection", "connections"));
    fprintf(f, "<tr><th>Exposed</th><td>envelope in %lld, content in %lld, credentials in "
            "%lld %s</td></tr>\n", o->env, o->content, o->cred,
            plural(o->cred, "connection", "connections"));
    fputs("<tr><th>Findings</th><td>", f);
    for (int i = 4; i >= 0; i--)
        fprintf(f, "%s<span class=\"sev %s\">%s</span> %lld", i < 4 ? " &nbsp;" : "",
                sev_name(i), sev_name(i), o->sev[i]);
    fputs("</td></tr>\n</table>\n", f);
}

/* JSON: key: {"sessions": n, "percent": n's share of total}. */
static void jw_share(struct jw *w, const char *k, long long n, long long total)
{
    jw_key(w, k);
    jw_open(w, '{');
    jw_kint(w, "sessions", n);
    jw_key(w, "percent");
    jw_real(w, pct(n, total), 1);
    jw_close(w, '}');
}

/* Section 1: overview.  0 or -1. */
static int sec_overview(struct rctx *c, const struct overview *o)
{
    char a[32], b[32], sentence[1024];
    struct jw *w = &c->jw;
    FILE *f = c->out;

    summary_sentence(c, o, sentence, sizeof sentence);
    if (c->fmt == REP_HTML) {
        html_overview(c, o, sentence);
        return 0;
    }
    if (c->fmt != REP_TEXT) {
        jw_key(w, "overview");
        jw_open(w, '{');
        jw_key(w, "period");
        jw_open(w, '{');
        jw_kts(w, "start", o->has_period, o->first);
        jw_kts(w, "end", o->has_period, o->last);
        jw_close(w, '}');
        jw_key(w, "captures");
        jw_open(w, '{');
        jw_kint(w, "count", o->caps);
        jw_kint(w, "packets", o->packets);
        jw_kint(w, "complete", o->caps_complete);
        jw_kint(w, "interrupted", o->caps_interrupted);
        jw_kint(w, "dropped", o->dropped);
        jw_kint(w, "ifdropped", o->ifdropped);
        jw_kint(w, "truncated", o->truncated);
        jw_kint(w, "undecodable", o->undecodable);
        jw_kint(w, "evicted", o->evicted);
        jw_kint(w, "evicted_bytes", o->evicted_bytes);
        jw_close(w, '}');
        jw_kint(w, "sessions", o->sessions);
        jw_kint(w, "sessions_unfinished", o->open);
        jw_key(w, "protection");
        jw_open(w, '{');
        for (int i = 0; i < 5; i++)
            jw_share(w, prot_order[i], o->prot[i], o->sessions);
        if (o->other_prot)
            jw_share(w, "other", o->other_prot, o->sessions);
        jw_close(w, '}');
        jw_kint(w, "messages", o->msgs);
        jw_kint(w, "cleartext_messages", o->clear_msgs);
        jw_kint(w, "sessions_with_cleartext_messages", o->clear_msg_sessions);
        jw_kint(w, "sessions_envelope_exposed", o->env);
        jw_kint(w, "sessions_content_exposed", o->content);
        jw_kint(w, "sessions_credentials_exposed", o->cred);
        if (c->org.n) {
            jw_key(w, "outbound");
            jw_open(w, '{');
            jw_kint(w, "sessions", o->out_sessions);
            jw_kint(w, "sessions_not_encrypted", o->out_clear_sessions);
            jw_kint(w, "cleartext_messages", o->out_clear_msgs);
            jw_kint(w, "sessions_credentials_exposed", o->out_cred);
            jw_close(w, '}');
        }
        jw_key(w, "findings_by_severity");
        jw_open(w, '{');
        for (int i = 4; i >= 0; i--)
            jw_kint(w, sev_name(i), o->sev[i]);
        jw_close(w, '}');
        jw_kint(w, "attack_findings", o->attacks);
        jw_key(w, "summary");
        jw_cstr(w, sentence);
        jw_close(w, '}');
        return 0;
    }

    title(c, "OVERVIEW");
    if (o->has_period) {
        fmt_ts(o->first, a, sizeof a);
        fmt_ts(o->last, b, sizeof b);
        fprintf(f, "  Period covered       %s .. %s (packet time, UTC)\n", a, b);
    } else {
        fprintf(f, "  Period covered       -\n");
    }
    if (filter_period(c, a, b, sizeof a))
        fprintf(f, "  Filter               connections starting from %s until %s\n", a, b);
    fprintf(f, "  Captures             %lld (%lld complete, %lld interrupted), %lld packets\n",
            o->caps, o->caps_complete, o->caps_interrupted, o->packets);
    if (o->dropped || o->ifdropped || o->truncated || o->undecodable)
        fprintf(f, "  Capture losses       %lld dropped, %lld if-dropped, %lld truncated, "
                "%lld undecodable\n",
                o->dropped, o->ifdropped, o->truncated, o->undecodable);
    if (o->evicted)
        fprintf(f, "  Not followed         %lld %s ended early (flow table full), %lld bytes "
                "after that not analysed: raise --max-flows\n", o->evicted,
                plural(o->evicted, "connection", "connections"), o->evicted_bytes);
    fprintf(f, "  SMTP connections     %lld\n", o->sessions);
    if (o->sessions > 0) {
        for (int i = 0; i < 5; i++)
            fprintf(f, "    %-18s %8lld  %5.1f%%\n", prot_order[i], o->prot[i],
                    pct(o->prot[i], o->sessions));
        if (o->other_prot)
            fprintf(f, "    %-18s %8lld  %5.1f%%\n", "(unknown value)", o->other_prot,
                    pct(o->other_prot, o->sessions));
        if (o->open)
            fprintf(f, "  Unfinished           %lld %s still open when the capture stopped\n",
                    o->open, plural(o->open, "connection was", "connections were"));
        fprintf(f, "  Cleartext messages   %lld (in %lld %s)\n", o->clear_msgs,
                o->clear_msg_sessions, plural(o->clear_msg_sessions, "connection", "connections"));
        fprintf(f, "  Envelope exposed     %lld %s\n", o->env,
                plural(o->env, "connection", "connections"));
        fprintf(f, "  Credentials exposed  %lld %s\n", o->cred,
                plural(o->cred, "connection", "connections"));
        fprintf(f, "  Findings             critical %lld, high %lld, medium %lld, low %lld, "
                "info %lld\n", o->sev[4], o->sev[3], o->sev[2], o->sev[1], o->sev[0]);
        fprintf(f, "  Active attacks       %lld %s (STARTTLS stripping or injection, SMTP "
                "smuggling)\n", o->attacks, plural(o->attacks, "finding", "findings"));
    }
    fputc('\n', f);
    fputs(tty_on(c, T_BOLD), f);
    wrap_out(f, sentence, 2);
    fputs(tty_on(c, T_OFF), f);
    return 0;
}

/* Section 2: direction (only with org nets).  0 or -1. */
static int sec_direction(struct rctx *c)
{
    static const char *const dirs[4] = { "outbound", "inbound", "internal", "external" };
    static const char *const what[4] = {
        "organisation -> outside", "outside -> organisation",
        "organisation -> organisation", "outside -> outside"
    };
    long long v[4][4];
    sqlite3_stmt *q;
    int rc;

    memset(v, 0, sizeof v);
    q = prep(c, S_CTE MC_CTE
             "SELECT mt_dir(client_ip, server_ip) AS d, count(*),"
             " sum(protection IN ('cleartext', 'partial')), coalesce(sum(mc.n), 0),"
             " sum(exposed_credentials != 0)"
             " FROM s LEFT JOIN mc ON mc.sid = s.id GROUP BY d");
    if (!q)
        return -1;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *d = sqlite3_column_text(q, 0);
        for (int i = 0; d && i < 4; i++)
            if (strcmp((const char *)d, dirs[i]) == 0)
                for (int k = 0; k < 4; k++)
                    v[i][k] = sqlite3_column_int64(q, 1 + k);
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (c->fmt == REP_HTML) {
        FILE *f = c->out;
        h_heading(f, "direction", "Direction");
        fputs("<p>Organisation networks: ", f);
        for (size_t i = 0; i < c->f->n_org_nets; i++) {
            if (i)
                fputs(", ", f);
            h_str(f, c->f->org_nets[i]);
        }
        fputs("</p>\n", f);
        h_table(f, "direction", "Direction|Meaning|#Connections|#Not encrypted|"
                "#Cleartext messages|#Credentials exposed");
        for (int i = 0; i < 4; i++) {
            fputs("<tr><td>", f);
            h_str(f, dirs[i]);
            fputs("</td><td>", f);
            h_str(f, what[i]);
            fputs("</td>", f);
            h_td_num(f, v[i][0]);
            h_td_bad(f, v[i][1]);
            h_td_bad(f, v[i][2]);
            h_td_bad(f, v[i][3]);
            fputs("</tr>\n", f);
        }
        h_table_end(f, 0, 6);
        return 0;
    }
    if (c->fmt != REP_TEXT) {
        struct jw *w = &c->jw;
        jw_key(w, "direction");
        jw_open(w, '{');
        jw_key(w, "org_nets");
        jw_open(w, '[');
        for (size_t i = 0; i < c->f->n_org_nets; i++)
            jw_cstr(w, c->f->org_nets[i]);
        jw_close(w, ']');
        for (int i = 0; i < 4; i++) {
            jw_key(w, dirs[i]);
            jw_open(w, '{');
            jw_kint(w, "sessions", v[i][0]);
            jw_kint(w, "sessions_not_encrypted", v[i][1]);
            jw_kint(w, "cleartext_messages", v[i][2]);
            jw_kint(w, "sessions_credentials_exposed", v[i][3]);
            jw_close(w, '}');
        }
        jw_close(w, '}');
        return 0;
    }
    title(c, "DIRECTION");
    {
        struct line l;
        ln_init(&l, REPORT_COLS);
        ln_str(&l, "  Organisation networks: ", 30);
        for (size_t i = 0; i < c->f->n_org_nets; i++) {
            if (i)
                ln_str(&l, ", ", 2);
            ln_str(&l, c->f->org_nets[i], 45);
        }
        ln_out(&l, c->out);
    }
    fprintf(c->out, "  %-10s %-30s %11s %13s %10s %6s\n", "", "", "CONNECTIONS", "NOT ENCRYPTED",
            "CLEAR MSGS", "CREDS");
    for (int i = 0; i < 4; i++)
        fprintf(c->out, "  %-10s %-30s %11lld %13lld %10lld %6lld\n", dirs[i], what[i],
                v[i][0], v[i][1], v[i][2], v[i][3]);
    return 0;
}

/* The banner host: first token of the banner after an optional reply code,
 * as SQL over column banner of s (used in the per-server query). */
#define BANNER_T                                                                       \
    "ltrim(CASE WHEN banner GLOB '[0-9][0-9][0-9][ -]*' THEN substr(banner, 5)"        \
    " ELSE banner END)"

/* Per server (ip, port): columns ip, port, host, conns, clear, part, stls,
 * tls, ind, offered, msgs (those of the CSV table "servers"); offered:
 * STARTTLS as the server offered it in its cleartext EHLO replies, 'yes',
 * 'no' or 'mixed' across its connections, NULL when no such reply was
 * seen.  An ORDER BY follows.  One pass:
 * grouped by server and banner host first, then by server, the host being
 * the most frequent one (bare column of the min(rn) row, SQLite's rule),
 * so that no join between two aggregates is needed (SQLite would scan one
 * of them per row of the other).  The totals are named t_* so that ORDER BY
 * expressions cannot pick up the per-host columns of the same names. */
#define SERVERS_SQL                                                                    \
    S_CTE MC_CTE                                                                       \
    ", per AS (SELECT s.server_ip AS ip, s.server_port AS port,"                       \
    " CASE WHEN banner IS NULL THEN NULL ELSE substr(" BANNER_T ", 1,"                 \
    " instr(" BANNER_T " || ' ', ' ') - 1) END AS host,"                               \
    " count(*) AS conns, sum(protection = 'cleartext') AS clear,"                      \
    " sum(protection = 'partial') AS part, sum(protection = 'starttls') AS stls,"      \
    " sum(protection = 'implicit_tls') AS tls,"                                        \
    " sum(protection NOT IN ('cleartext', 'partial', 'starttls', 'implicit_tls')) AS ind," \
    " sum(ehlo_keywords IS NOT NULL OR starttls_offered != 0) AS ehlo_seen,"           \
    " sum(starttls_offered != 0) AS offered, coalesce(sum(mc.n), 0) AS msgs"           \
    " FROM s LEFT JOIN mc ON mc.sid = s.id GROUP BY 1, 2, 3)"                          \
    ", rk AS (SELECT *, row_number() OVER (PARTITION BY ip, port ORDER BY"             \
    " (host IS NULL OR host = ''), conns DESC, host) AS rn FROM per)"                  \
    "SELECT ip, port, CASE WHEN host = '' THEN NULL ELSE host END, sum(conns) AS t_conns," \
    " sum(clear) AS t_clear, sum(part) AS t_part, sum(stls), sum(tls), sum(ind),"      \
    " CASE WHEN sum(ehlo_seen) = 0 THEN NULL WHEN sum(offered) = 0 THEN 'no'"         \
    " WHEN sum(offered) >= sum(ehlo_seen) THEN 'yes' ELSE 'mixed' END,"                \
    " sum(msgs) AS t_msgs, min(rn)"                                                    \
    " FROM rk GROUP BY ip, port"

/* HTML: the servers with the most connections as stacked bars (SVG). */
static int html_servers_chart(struct rctx *c)
{
    sqlite3_stmt *q = prep(c, SERVERS_SQL " ORDER BY t_conns DESC, t_clear + t_part DESC, ip, port"
                              " LIMIT " STR(CHART_SERVERS));
    FILE *f = c->out;
    long long maxn = 0;
    int rc, rows = 0;

    if (!q)
        return -1;
    /* First pass for the scale: rows come sorted, the first is largest. */
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long n = sqlite3_column_int64(q, 3);
        if (rows++ == 0)
            maxn = n;
    }
    if (rc != SQLITE_DONE || rows == 0 || maxn <= 0)
        return finish(c, q, rc);
    sqlite3_reset(q);
    fprintf(f, "<p>Servers with the most connections, by protection:</p>\n"
            "<svg class=\"chart\" id=\"chart-servers\" viewBox=\"0 0 1000 %d\" role=\"img\" "
            "aria-label=\"Top servers by connections and protection\">"
            "<title>Top servers by connections and protection</title>\n", rows * 26 + 8);
    rows = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t hl;
        const char *host = col_txt(q, 2, &hl);
        long long n = sqlite3_column_int64(q, 3);
        double x = 330.0, y = 4.0 + rows * 26;
        fprintf(f, "<g><text x=\"322\" y=\"%.0f\" font-size=\"13\" text-anchor=\"end\">",
                y + 15);
        if (host && hl > 0) {
            html_esc_cut(f, host, hl, 24);
            fputs(" <tspan fill=\"#666\">", f);
        } else {
            fputs("<tspan>", f);
        }
        h_endpoint(f, q, 0, 1);
        fputs("</tspan></text>\n", f);
        for (int i = 0; i < 5; i++) {
            long long v = sqlite3_column_int64(q, 4 + i);
            double wd = 600.0 * (double)v / (double)maxn;
            if (v <= 0)
                continue;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"20\" fill=\"%s\">"
                    "<title>%s: %lld</title></rect>", x, y, wd, prot_color[i], prot_label[i], v);
            x += wd;
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"13\">%lld</text></g>\n", x + 6,
                y + 15, n);
        rows++;
    }
    h_chart_end(f, prot_color, prot_label, 5);
    return finish(c, q, rc);
}

/* ---- list sections --------------------------------------------------------
 *
 * Servers, clients, recipient domains, messages, credential exposures and
 * captures each list the rows of one query, and open and close the same
 * way in every format: HTML an anchor, a heading and a table, ended with
 * how many rows were left out and a "none" sentence or a note; JSON/CSV an
 * array (a CSV table); text a title, then "... and N more", "none" or a
 * note.  A section gives the strings of that frame, its query (whose first
 * columns are those of its CSV table, in order) and the functions that
 * write one of its rows in HTML and text; sec_list does the rest. */

struct list_sec {
    const char *anchor;         /* HTML: id of the section (for <nav>)         */
    const char *heading;        /* HTML: its <h2>                              */
    int (*intro)(struct rctx *c);   /* HTML: before the table (a chart), or NULL */
    const char *cls;            /* HTML: class of the table                    */
    const char *labels;         /* HTML: its column labels (see h_table); NULL:
                                 * the section writes its own tables          */
    const char *key;            /* JSON/CSV: key of the rows, a csv_tables name */
    const char *title;          /* text: the title; NULL: not in the text      */
    const char *more;           /* text: after "... and N more" (" servers")   */
    const char *none;           /* HTML and text: said when there is no row    */
    const char *html_note;      /* HTML: said under the rows, or NULL          */
    const char *text_note;      /* text: said under the rows (wrapped), or NULL */
    /* One row of q in HTML and text.  In JSON/CSV a row is the columns of
     * q, in the order of the table's CSV header and under its names
     * (jw_row). */
    void (*html_row)(FILE *f, sqlite3_stmt *q);
    void (*text_head)(const struct rctx *c, struct line *l);   /* or NULL */
    void (*text_row)(const struct rctx *c, sqlite3_stmt *q, struct line *l);
};

/* Opens section s in the report's format.  0 or -1 (its intro failed). */
static int sec_open(struct rctx *c, const struct list_sec *s)
{
    if (c->fmt == REP_HTML) {
        h_heading(c->out, s->anchor, s->heading);
        if (s->intro && s->intro(c) < 0)
            return -1;
        if (s->labels)
            h_table(c->out, s->cls, s->labels);
    } else if (c->fmt != REP_TEXT) {
        jw_key(&c->jw, s->key);
        jw_open(&c->jw, '[');
    } else {
        title(c, s->title);
    }
    return 0;
}

/* Closes section s, which had rows rows (HTML and text showed at most
 * HTML_ROWS_MAX and LIST_MAX of them). */
static void sec_close(struct rctx *c, const struct list_sec *s, int rows)
{
    FILE *f = c->out;

    /* The sentences are literals of this file, without markup. */
    if (c->fmt == REP_HTML) {
        h_table_end(f, rows - HTML_ROWS_MAX, h_ncols(s->labels));
        if (rows == 0)
            fprintf(f, "<p>%s</p>\n", s->none);
        else if (s->html_note)
            fprintf(f, "<p class=\"note\">%s</p>\n", s->html_note);
    } else if (c->fmt != REP_TEXT) {
        jw_close(&c->jw, ']');
    } else {
        if (rows > LIST_MAX)
            fprintf(f, "  ... and %d more%s\n", rows - LIST_MAX, s->more);
        if (rows == 0)
            fprintf(f, "  %s\n", s->none);
        else if (s->text_note)
            wrap_out(f, s->text_note, 2);
    }
}

/* Writes section s: the rows of sql (a literal of this file); nothing in
 * text when s has no text form.  0 or -1. */
static int sec_list(struct rctx *c, const struct list_sec *s, const char *sql)
{
    const struct csv_table *t = csv_table_find(s->key);
    sqlite3_stmt *q;
    struct line l;
    int rc, rows = 0;

    if (c->fmt == REP_TEXT && !s->title)
        return 0;
    q = prep(c, sql);
    if (!q)
        return -1;
    if (sec_open(c, s) < 0) {
        sqlite3_finalize(q);
        return -1;
    }
    ln_init(&l, REPORT_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows++;
        if (c->fmt == REP_HTML) {
            if (rows <= HTML_ROWS_MAX)
                s->html_row(c->out, q);
        } else if (c->fmt != REP_TEXT) {
            jw_row(&c->jw, q, t ? t->cols : "");
        } else {
            if (rows == 1 && s->text_head)
                s->text_head(c, &l);
            if (rows <= LIST_MAX)
                s->text_row(c, q, &l);
        }
    }
    if (finish(c, q, rc) < 0)
        return -1;
    sec_close(c, s, rows);
    return 0;
}

/* ---- servers ------------------------------------------------------------- */

static void servers_html(FILE *f, sqlite3_stmt *q)
{
    size_t n;
    const char *offer = col_txt(q, 9, &n);

    fputs("<tr><td class=\"t\">", f);
    h_endpoint(f, q, 0, 1);
    fputs("</td>", f);
    h_td_col(f, q, 2, NULL, 48);
    h_td_num(f, sqlite3_column_int64(q, 3));
    h_td_bad(f, sqlite3_column_int64(q, 4));
    h_td_bad(f, sqlite3_column_int64(q, 5));
    for (int i = 6; i <= 8; i++)
        h_td_num(f, sqlite3_column_int64(q, i));
    /* Never offered: bad news. */
    fprintf(f, "<td%s>", offer && strcmp(offer, "no") == 0 ? " class=\"bad\"" : "");
    if (offer)
        html_esc(f, offer, n);
    else
        h_str(f, "\xe2\x80\x93");
    fputs("</td>", f);
    h_td_bad(f, sqlite3_column_int64(q, 10));
    fputs("</tr>\n", f);
}

static void servers_text_head(const struct rctx *c, struct line *l)
{
    ln_str(l, "  SERVER", 10);
    ln_pad(l, 32);
    ln_str(l, "HOST", 10);
    ln_pad(l, 54);
    ln_fmt(l, "%5s%6s%5s%6s%5s%6s%7s%6s", "CONN", "CLEAR", "PART", "STTLS", "TLS", "INDET",
           "OFFER", "MSGS");
    ln_out(l, c->out);
}

static void servers_text(const struct rctx *c, sqlite3_stmt *q, struct line *l)
{
    size_t n;
    const char *offer = col_txt(q, 9, &n);

    ln_str(l, "  ", 2);
    ln_endpoint(l, q, 0, 1, 29);
    ln_pad(l, 32);
    ln_col(l, q, 2, 21);
    ln_pad(l, 54);
    ln_fmt(l, "%5lld%6lld%5lld%6lld%5lld%6lld%7s%6lld",
           (long long)sqlite3_column_int64(q, 3), (long long)sqlite3_column_int64(q, 4),
           (long long)sqlite3_column_int64(q, 5), (long long)sqlite3_column_int64(q, 6),
           (long long)sqlite3_column_int64(q, 7), (long long)sqlite3_column_int64(q, 8),
           offer ? offer : "-", (long long)sqlite3_column_int64(q, 10));
    ln_out(l, c->out);
}

/* Section 3: per server.  0 or -1. */
static int sec_servers(struct rctx *c)
{
    static const struct list_sec s = {
        .anchor = "servers", .heading = "Servers", .intro = html_servers_chart,
        .cls = "servers", .labels = "Server|Host (banner)|#Conns|#Clear|#Partial|#STARTTLS|"
                                    "#Implicit TLS|#Indet.|STARTTLS offered|#Clear msgs",
        .key = "servers", .title = "SERVERS", .more = " servers", .none = "none",
        .html_note = "Conns: connections; Clear: in cleartext; Indet.: indeterminate; Clear "
                     "msgs: messages whose content crossed in cleartext. STARTTLS offered: "
                     "advertised in the cleartext EHLO reply (yes, no, or mixed across "
                     "connections; \xe2\x80\x93 when no cleartext EHLO reply was seen). Host: "
                     "the first word of the server's greeting.",
        .text_note = "OFFER: STARTTLS advertised in the cleartext EHLO reply (yes, no, or mixed "
                     "across connections; - when no cleartext EHLO reply was seen).",
        .html_row = servers_html, .text_head = servers_text_head, .text_row = servers_text,
    };

    return sec_list(c, &s, SERVERS_SQL
                    " ORDER BY t_msgs DESC, t_clear + t_part DESC, t_conns DESC, ip, port");
}

/* ---- clients ------------------------------------------------------------- */

/* Text: the column of the EHLO name, after the address and the figures. */
static size_t clients_helo_col(const struct rctx *c)
{
    return 2 + c->client_cols + 1 + 27 + 2;
}

static void clients_html(FILE *f, sqlite3_stmt *q)
{
    fputs("<tr>", f);
    h_td_col(f, q, 0, "t", 0);
    h_td_col(f, q, 1, NULL, 60);
    h_td_num(f, sqlite3_column_int64(q, 2));
    h_td_bad(f, sqlite3_column_int64(q, 3));
    h_td_bad(f, sqlite3_column_int64(q, 4));
    h_td_bad(f, sqlite3_column_int64(q, 5));
    fputs("</tr>\n", f);
}

static void clients_text_head(const struct rctx *c, struct line *l)
{
    ln_str(l, "  CLIENT", 10);
    ln_pad(l, 2 + c->client_cols + 1);
    ln_fmt(l, "%6s%9s%6s%6s", "CONN", "NO TLS", "MSGS", "CREDS");
    ln_pad(l, clients_helo_col(c));
    ln_str(l, "HELO", 4);
    ln_out(l, c->out);
}

static void clients_text(const struct rctx *c, sqlite3_stmt *q, struct line *l)
{
    ln_str(l, "  ", 2);
    ln_endpoint(l, q, 0, -1, c->client_cols);
    ln_pad(l, 2 + c->client_cols + 1);
    ln_fmt(l, "%6lld%9lld%6lld%6lld", (long long)sqlite3_column_int64(q, 2),
           (long long)sqlite3_column_int64(q, 3), (long long)sqlite3_column_int64(q, 4),
           (long long)sqlite3_column_int64(q, 5));
    ln_pad(l, clients_helo_col(c));
    ln_col(l, q, 1, REPORT_COLS);
    ln_out(l, c->out);
}

/* Section 4: per client.  0 or -1. */
static int sec_clients(struct rctx *c)
{
    static const struct list_sec s = {
        .anchor = "clients", .heading = "Clients", .cls = "clients",
        .labels = "Client|EHLO/HELO name (most frequent)|#Conns|#Never tried TLS|#Clear msgs|"
                  "#Credentials exposed",
        .key = "clients", .title = "CLIENTS", .more = " clients", .none = "none",
        .html_note = "Never tried TLS: connections in cleartext where the client did not send "
                     "STARTTLS. Clear msgs: messages whose content crossed in cleartext.",
        .text_note = "NO TLS: cleartext connections where the client never sent STARTTLS; "
                     "MSGS: messages sent in cleartext; CREDS: connections that exposed "
                     "credentials; HELO: the client's most frequent EHLO/HELO name.",
        .html_row = clients_html, .text_head = clients_text_head, .text_row = clients_text,
    };
    long long ipw = 15;

    /* Text: the address column is as wide as the widest address shown. */
    if (c->fmt == REP_TEXT &&
        query_into(c, S_CTE "SELECT max(length(client_ip)) FROM s", FIGS(&ipw)) < 0)
        return -1;
    c->client_cols = ipw < 15 ? 15 : ipw > 39 ? 39 : (size_t)ipw;
    /* One pass, as for the servers: by client and EHLO name, then by
     * client with the most frequent name (bare column of min(rn)). */
    return sec_list(c, &s, S_CTE MC_CTE
                    ", per AS (SELECT client_ip AS ip, helo, count(*) AS conns,"
                    " sum(protection = 'cleartext' AND starttls_requested = 0) AS notls,"
                    " coalesce(sum(mc.n), 0) AS msgs, sum(exposed_credentials != 0) AS creds"
                    " FROM s LEFT JOIN mc ON mc.sid = s.id GROUP BY client_ip, helo)"
                    ", rk AS (SELECT *, row_number() OVER (PARTITION BY ip ORDER BY"
                    " (helo IS NULL OR helo = ''), conns DESC, helo) AS rn FROM per)"
                    "SELECT ip, CASE WHEN helo = '' THEN NULL ELSE helo END,"
                    " sum(conns) AS t_conns, sum(notls) AS t_notls, sum(msgs) AS t_msgs,"
                    " sum(creds) AS t_creds, min(rn)"
                    " FROM rk GROUP BY ip"
                    " ORDER BY t_msgs DESC, t_creds DESC, t_notls DESC, t_conns DESC, ip");
}

/* ---- recipient domains --------------------------------------------------- */

static void domains_html(FILE *f, sqlite3_stmt *q)
{
    fputs("<tr>", f);
    if (sqlite3_column_type(q, 0) == SQLITE_NULL)
        fputs("<td><span class=\"na\">(no domain)</span></td>", f);
    else
        h_td_col(f, q, 0, NULL, 80);
    h_td_num(f, sqlite3_column_int64(q, 1));
    fputs("</tr>\n", f);
}

static void domains_text_head(const struct rctx *c, struct line *l)
{
    ln_str(l, "  DOMAIN", 10);
    ln_pad(l, 80);
    ln_fmt(l, "%10s", "MESSAGES");
    ln_out(l, c->out);
}

static void domains_text(const struct rctx *c, sqlite3_stmt *q, struct line *l)
{
    ln_str(l, "  ", 2);
    if (sqlite3_column_type(q, 0) == SQLITE_NULL)
        ln_str(l, "(no domain)", 20);
    else
        ln_col(l, q, 0, 76);
    ln_pad(l, 80);
    ln_fmt(l, "%10lld", (long long)sqlite3_column_int64(q, 1));
    ln_out(l, c->out);
}

/* What the domains and messages sections say when they have no row. */
#define NO_CLEAR_CONTENT "No message content crossed the wire in cleartext."

/* Section 5: per recipient domain.  0 or -1. */
static int sec_domains(struct rctx *c)
{
    static const struct list_sec s = {
        .anchor = "domains", .heading = "Recipient domains (messages delivered in cleartext)",
        .cls = "domains", .labels = "Recipient domain|#Cleartext messages",
        .key = "recipient_domains", .title = "RECIPIENT DOMAINS (messages delivered in cleartext)",
        .more = " domains", .none = NO_CLEAR_CONTENT,
        .html_row = domains_html, .text_head = domains_text_head, .text_row = domains_text,
    };

    return sec_list(c, &s, S_CTE
                    "SELECT lower(r.domain) AS d, count(DISTINCT m.id) AS n FROM messages m"
                    " JOIN s ON s.id = m.session_id JOIN recipients r ON r.message_id = m.id"
                    " WHERE m.content_exposed != 0 GROUP BY d ORDER BY n DESC, d");
}

/* ---- messages sent in cleartext ------------------------------------------ */

static void messages_html(FILE *f, sqlite3_stmt *q)
{
    long long nr = sqlite3_column_int64(q, 9);
    size_t n;
    const char *t;

    fputs("<tr>", f);
    h_td_ts(f, q, 2);
    fprintf(f, "<td class=\"n\">#%lld msg %lld</td>", (long long)sqlite3_column_int64(q, 0),
            (long long)sqlite3_column_int64(q, 1));
    h_td_conn(f, q, 3, 4);
    fputs("<td>", f);
    t = col_txt(q, 8, &n);
    fputs("&lt;", f);
    if (t)
        h_val(f, t, n, 60, 1);
    fputs("&gt;</td><td>", f);
    t = col_txt(q, 10, &n);
    if (t && n > 0)
        h_val(f, t, n, 60, 1);
    else
        fputs(H_NA, f);
    if (nr > 1)
        fprintf(f, " <small>(+%lld more)</small>", nr - 1);
    fputs("</td><td>", f);
    t = col_txt(q, 11, &n);
    if (t && n > 0)
        h_val(f, t, n, 100, 0);
    else
        fputs("<span class=\"na\">(no subject)</span>", f);
    t = col_txt(q, 12, &n);
    if (t && n > 0) {
        fputs("<br><small>", f);
        h_val(f, t, n, 60, 1);
        fputs("</small>", f);
    }
    fputs("</td>", f);
    h_td_num(f, sqlite3_column_int64(q, 13));
    if (sqlite3_column_type(q, 14) == SQLITE_NULL)
        fputs("<td class=\"n\">" H_NA "</td>", f);
    else
        h_td_num(f, sqlite3_column_int64(q, 14));
    fputs("</tr>\n", f);
}

/* Three lines per message; each value is cut at the report width. */
static void messages_text(const struct rctx *c, sqlite3_stmt *q, struct line *l)
{
    long long nr = sqlite3_column_int64(q, 9);

    ln_str(l, "  ", 2);
    ln_ts(l, q, 2);
    ln_fmt(l, "  session #%lld msg %lld  ", (long long)sqlite3_column_int64(q, 0),
           (long long)sqlite3_column_int64(q, 1));
    ln_conn(l, q, 3, 4);
    ln_out(l, c->out);
    ln_str(l, "      ", 6);
    ln_col(l, q, 7, 4);
    ln_fmt(l, " %lld bytes, reply ", (long long)sqlite3_column_int64(q, 13));
    if (sqlite3_column_type(q, 14) == SQLITE_NULL)
        ln_str(l, "-", 1);
    else
        ln_fmt(l, "%lld", (long long)sqlite3_column_int64(q, 14));
    ln_str(l, "  from <", 8);
    {
        size_t n;
        const char *t = col_txt(q, 8, &n);
        ln_esc(l, t ? t : "", t ? n : 0, REPORT_COLS - 1 - l->cols);
    }
    ln_str(l, ">", 1);
    ln_out(l, c->out);
    ln_str(l, "      to ", 9);
    if (nr > 1) {
        char more[48];
        int ml = snprintf(more, sizeof more, " (+%lld more)", nr - 1);
        ln_col(l, q, 10, REPORT_COLS - 9 - (size_t)ml - 24);
        ln_str(l, more, (size_t)ml);
    } else {
        ln_col(l, q, 10, REPORT_COLS - 9 - 24);
    }
    ln_str(l, "  subject ", 10);
    ln_col(l, q, 11, REPORT_COLS);
    ln_out(l, c->out);
}

/* Section 6: the messages whose content crossed in cleartext.  0 or -1. */
static int sec_messages(struct rctx *c)
{
    static const struct list_sec s = {
        .anchor = "messages", .heading = "Messages sent in cleartext", .cls = "messages",
        .labels = "Time|Session|Connection|Sender|Recipients|Subject / Message-ID|#Size|#Reply",
        .key = "messages", .title = "MESSAGES SENT IN CLEARTEXT",
        .more = " messages (all of them in the CSV and JSON reports)", .none = NO_CLEAR_CONTENT,
        .html_row = messages_html, .text_row = messages_text,
    };

    return sec_list(c, &s, S_CTE
                    "SELECT m.session_id, m.seq, coalesce(m.ts, s.start_ts), s.client_ip,"
                    " s.server_ip, s.server_port, s.protection, m.method, m.mail_from,"
                    " m.rcpt_count, (SELECT address FROM recipients r"
                    " WHERE r.message_id = m.id ORDER BY r.rowid LIMIT 1), m.subject,"
                    " m.message_id, m.size, m.reply_code"
                    " FROM messages m JOIN s ON s.id = m.session_id WHERE m.content_exposed != 0"
                    " ORDER BY coalesce(m.ts, s.start_ts), m.session_id, m.seq");
}

/* ---- credential exposures ------------------------------------------------ */

static void credentials_html(FILE *f, sqlite3_stmt *q)
{
    fputs("<tr>", f);
    h_td_ts(f, q, 1);
    fprintf(f, "<td class=\"n\">#%lld</td>", (long long)sqlite3_column_int64(q, 0));
    h_td_conn(f, q, 2, 4);
    h_td_col(f, q, 6, NULL, 24);
    h_td_col(f, q, 7, NULL, 60);
    h_td_col(f, q, 8, NULL, 24);
    fputs("</tr>\n", f);
}

/* Two lines per exposure so that nothing is cut at 100 columns. */
static void credentials_text(const struct rctx *c, sqlite3_stmt *q, struct line *l)
{
    ln_str(l, "  ", 2);
    ln_ts(l, q, 1);
    ln_fmt(l, "  session #%lld  ", (long long)sqlite3_column_int64(q, 0));
    ln_conn(l, q, 2, 4);
    ln_out(l, c->out);
    ln_str(l, "      mechanism ", 16);
    ln_col(l, q, 6, 20);
    ln_str(l, "  outcome ", 10);
    ln_col(l, q, 8, 20);
    ln_str(l, "  user ", 7);
    ln_col(l, q, 7, REPORT_COLS);
    ln_out(l, c->out);
}

/* Section 7: credential exposures.  0 or -1. */
static int sec_credentials(struct rctx *c)
{
    static const struct list_sec s = {
        .anchor = "credentials", .heading = "Credential exposures", .cls = "credentials",
        .labels = "Time|Session|Connection|Mechanism|User|Outcome",
        .key = "credential_exposures", .title = "CREDENTIAL EXPOSURES", .more = "",
        .none = "No credentials were exposed.",
        .html_note = "Usernames and outcomes only: mailtap never stores a password, token or "
                     "other secret.",
        .text_note = "(usernames and outcomes only: mailtap never stores a secret)",
        .html_row = credentials_html, .text_row = credentials_text,
    };

    return sec_list(c, &s, S_CTE
                    "SELECT id, start_ts, client_ip, client_port, server_ip, server_port,"
                    " auth_mechanism, auth_user, auth_outcome, protection FROM s"
                    " WHERE exposed_credentials != 0 ORDER BY start_ts, id");
}

/* ---- findings ------------------------------------------------------------ */

/* What the findings section says when it has no finding. */
static const char *no_findings(const struct rctx *c)
{
    return c->f && c->f->min_severity > 0 ? "No findings at or above the minimum severity."
                                          : "No findings.";
}

/* Section 8: findings, attacks first, then by severity.  Opens as a list
 * section, but shows at most a number per kind, in one HTML table per
 * kind.  0 or -1. */
static int sec_findings(struct rctx *c)
{
    static const struct list_sec s = {
        .anchor = "findings", .heading = "Findings", .intro = html_findings_summary,
        .key = "findings", .title = "FINDINGS",
    };
    sqlite3_stmt *q;
    struct line l;
    int rc, rows = 0, kinds = 0;
    long long kmax = c->fmt == REP_TEXT ? KIND_MAX : c->fmt == REP_HTML ? HTML_KIND_MAX
                                                                       : INT32_MAX;

    q = prep(c, S_CTE
             ", f AS (SELECT f.id, f.session_id, f.message_id, f.kind, f.severity, f.ts,"
             " f.evidence, s.client_ip, s.server_ip, s.server_port, m.seq AS msg_seq,"
             " " SEV_RANK("f.severity") " AS sr,"
             " CASE WHEN f.kind IN " ATTACK_KINDS " THEN 0 ELSE 1 END AS atk"
             " FROM findings f JOIN s ON s.id = f.session_id"
             " LEFT JOIN messages m ON m.id = f.message_id"
             " WHERE :minsev < 0 OR " SEV_RANK("f.severity") " >= :minsev)"
             ", w AS (SELECT *, row_number() OVER (PARTITION BY kind ORDER BY coalesce(ts, 0), id)"
             " AS rn, count(*) OVER (PARTITION BY kind) AS kn,"
             " max(sr) OVER (PARTITION BY kind) AS ksev, min(atk) OVER (PARTITION BY kind) AS katk"
             " FROM f)"
             "SELECT id, session_id, message_id, kind, severity, ts, evidence, client_ip,"
             " server_ip, server_port, msg_seq, rn, kn, ksev, katk, sr FROM w"
             " WHERE rn <= :kmax ORDER BY katk, ksev DESC, kind, rn");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, sqlite3_bind_parameter_index(q, ":kmax"), kmax);
    if (sec_open(c, &s) < 0) {
        sqlite3_finalize(q);
        return -1;
    }
    ln_init(&l, REPORT_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t kl;
        const char *k = col_txt(q, 3, &kl);
        long long rn = sqlite3_column_int64(q, 11), kn = sqlite3_column_int64(q, 12);
        int ksev = sqlite3_column_int(q, 13), atk = sqlite3_column_int(q, 14) == 0;
        int fsev = sqlite3_column_int(q, 15);
        const char *sevname = sev_name(ksev);
        rows++;
        if (c->fmt == REP_HTML) {
            FILE *f = c->out;
            if (rn == 1) {
                if (kinds++ > 0)
                    h_table_end(f, 0, 4);
                fprintf(f, "<h3 id=\"kind-%d\"><span class=\"sev %s\">%s</span> ", kinds,
                        sevname, sevname);
                html_esc(f, k ? k : "?", k ? kl : 1);
                fprintf(f, " <small>(%lld)</small>%s</h3>\n", kn,
                        atk ? " <span class=\"attack\">ATTACK</span>" : "");
                h_table(f, "findings", "Time|Session|Connection|Evidence");
            }
            fputs("<tr>", f);
            h_td_ts(f, q, 5);
            fprintf(f, "<td class=\"n\">#%lld", (long long)sqlite3_column_int64(q, 1));
            if (sqlite3_column_type(q, 10) != SQLITE_NULL)
                fprintf(f, " msg %lld", (long long)sqlite3_column_int64(q, 10));
            if (fsev != ksev)
                fprintf(f, "<br><span class=\"sev %s\">%s</span>", sev_name(fsev),
                        sev_name(fsev));
            fputs("</td>", f);
            h_td_conn(f, q, 7, 8);
            h_td_col(f, q, 6, NULL, 0);
            fputs("</tr>\n", f);
            if (rn == kmax && kn > kmax)
                fprintf(f, "<tr><td class=\"more\" colspan=\"4\">\xe2\x80\xa6 and %lld more "
                        "of this kind (the CSV and JSON reports list all of them)</td></tr>\n",
                        kn - kmax);
            continue;
        }
        if (c->fmt != REP_TEXT) {
            struct jw *w = &c->jw;
            jw_open(w, '{');
            jw_kcol(w, "id", q, 0);
            jw_kcol(w, "session_id", q, 1);
            jw_kcol(w, "message_id", q, 2);
            jw_kcol(w, "message_seq", q, 10);
            jw_kcol(w, "kind", q, 3);
            jw_kcol(w, "severity", q, 4);
            jw_key(w, "attack");
            jw_bool(w, atk);
            jw_kcol(w, "ts", q, 5);
            jw_kcol(w, "evidence", q, 6);
            jw_kcol(w, "client_ip", q, 7);
            jw_kcol(w, "server_ip", q, 8);
            jw_kcol(w, "server_port", q, 9);
            jw_close(w, '}');
            continue;
        }
        if (rn == 1) {
            char sev[16];
            snprintf(sev, sizeof sev, "%s", sevname);
            for (char *p = sev; *p; p++)
                *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            fputc('\n', c->out);
            ln_str(&l, "  ", 2);
            ln_raw(&l, tty_on(c, ksev >= MT_SEV_HIGH ? T_RED : ksev == MT_SEV_MEDIUM ? T_YEL
                                                                                  : T_BOLD));
            ln_fmt(&l, "[%s]", sev);
            ln_raw(&l, tty_on(c, T_OFF));
            ln_str(&l, " ", 1);
            ln_esc(&l, k ? k : "?", k ? kl : 1, 60);
            ln_fmt(&l, " (%lld)%s", kn, atk ? "  ATTACK" : "");
            ln_out(&l, c->out);
        }
        ln_fmt(&l, "    session #%lld", (long long)sqlite3_column_int64(q, 1));
        if (sqlite3_column_type(q, 10) != SQLITE_NULL)
            ln_fmt(&l, " msg %lld", (long long)sqlite3_column_int64(q, 10));
        ln_pad(&l, 24);
        ln_ts(&l, q, 5);
        if (fsev != ksev) {
            /* This one is below the kind's (highest) severity. */
            ln_str(&l, "  (", 3);
            ln_str(&l, sev_name(fsev), 10);
            ln_str(&l, ")", 1);
        }
        {
            /* Evidence on the same line when it fits, else below,
             * word-wrapped on up to three lines. */
            size_t en;
            const char *ev = col_txt(q, 6, &en);
            if (!ev || en == 0) {
                ln_out(&l, c->out);
            } else if (l.cols + 2 + esc_cols(ev, en) <= REPORT_COLS) {
                ln_str(&l, "  ", 2);
                ln_esc(&l, ev, en, REPORT_COLS);
                ln_out(&l, c->out);
            } else {
                ln_out(&l, c->out);
                wrap_esc(c->out, ev, en, 6, REPORT_COLS, 3);
            }
        }
        if (rn == KIND_MAX && kn > KIND_MAX)
            fprintf(c->out, "    ... and %lld more\n", kn - KIND_MAX);
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (c->fmt == REP_HTML) {
        if (kinds > 0)
            h_table_end(c->out, 0, 4);
        return 0;
    }
    if (c->fmt != REP_TEXT) {
        jw_close(&c->jw, ']');
        return 0;
    }
    if (rows == 0)
        fprintf(c->out, "  %s\n", no_findings(c));
    return 0;
}

/* The timeline query: per bucket (by :tfmt), sessions, encrypted, cleartext
 * or partial; buckets in time order (the formats sort as text). */
#define TIMELINE_SQL                                                                   \
    S_CTE "SELECT strftime(:tfmt, start_ts, 'unixepoch') AS b, count(*),"              \
    " sum(protection IN ('starttls', 'implicit_tls')),"                                \
    " sum(protection IN ('cleartext', 'partial')) FROM s GROUP BY b ORDER BY b"

#define TL_MAX 2000     /* buckets at most (months over 160 years)          */

struct bucket {
    char label[24];
    long long n, enc, clr;
};

enum { TL_HOUR, TL_DAY, TL_MONTH };

/* Start of the bucket (unit) holding t, as a broken-down UTC time. */
static time_t tl_floor(time_t t, int unit)
{
    struct tm tm;

    if (!gmtime_r(&t, &tm))
        return t;
    tm.tm_sec = 0;
    tm.tm_min = 0;
    if (unit != TL_HOUR)
        tm.tm_hour = 0;
    if (unit == TL_MONTH)
        tm.tm_mday = 1;
    return timegm(&tm);
}

/* Start of the next bucket after t (a bucket start). */
static time_t tl_next(time_t t, int unit)
{
    struct tm tm;

    if (unit == TL_HOUR)
        return t + 3600;
    if (unit == TL_DAY)
        return t + 86400;
    if (!gmtime_r(&t, &tm))
        return t + 31 * 86400;
    tm.tm_mon++;
    return timegm(&tm);
}

/* Every bucket from the first connection's to the last one's, the empty
 * ones included (a timeline keeps its time axis), into *out (malloc'd).
 * The labels are those of c->tfmt, which must match unit.
 * Returns the number of buckets, or -1 with errbuf. */
static int tl_gather(struct rctx *c, int unit, struct bucket **out)
{
    struct bucket *v = NULL;
    sqlite3_stmt *q;
    time_t t, end;
    double lo = 0, hi = 0;
    int rc, n = 0, have;

    *out = NULL;
    q = prep(c, S_CTE "SELECT min(start_ts), max(start_ts) FROM s");
    if (!q)
        return -1;
    rc = sqlite3_step(q);
    have = rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL;
    if (have) {
        lo = sqlite3_column_double(q, 0);
        hi = sqlite3_column_double(q, 1);
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (!have || !isfinite(lo) || !isfinite(hi) || lo < 0 || hi > 253402300799.0)
        have = 0;
    v = calloc(TL_MAX, sizeof *v);
    if (!v)
        return rerr(c, "out of memory");
    q = prep(c, TIMELINE_SQL);
    if (!q) {
        free(v);
        return -1;
    }
    rc = sqlite3_step(q);
    t = have ? tl_floor((time_t)floor(lo), unit) : 0;
    end = have ? (time_t)floor(hi) : -1;
    /* Walk the time axis and the query's rows together (both in order);
     * a row whose bucket is not on the axis (out of range) is appended. */
    while (n < TL_MAX && (rc == SQLITE_ROW || (have && t <= end))) {
        struct bucket *b = &v[n];
        size_t ql = 0;
        const char *ql_txt = rc == SQLITE_ROW ? col_txt(q, 0, &ql) : NULL;
        int cmp;
        if (have && t <= end) {
            struct tm tm;
            size_t k = 0;
            if (gmtime_r(&t, &tm))
                k = unit == TL_HOUR ? strftime(b->label, sizeof b->label, "%Y-%m-%d %H:00", &tm)
                    : unit == TL_DAY ? strftime(b->label, sizeof b->label, "%Y-%m-%d", &tm)
                                     : strftime(b->label, sizeof b->label, "%Y-%m", &tm);
            if (k == 0)
                snprintf(b->label, sizeof b->label, "?");
        }
        if (rc != SQLITE_ROW)
            cmp = -1;                       /* axis only: an empty bucket */
        else if (!have || t > end || !ql_txt)
            cmp = 1;                        /* row only */
        else
            cmp = strncmp(b->label, ql_txt, ql < sizeof b->label ? ql + 1 : sizeof b->label);
        if (cmp > 0) {
            /* A row before this axis bucket (or no axis): its own bucket. */
            snprintf(b->label, sizeof b->label, "%.*s", (int)(ql < 23 ? ql : 23),
                     ql_txt ? ql_txt : "?");
        }
        if (cmp >= 0) {
            b->n = sqlite3_column_int64(q, 1);
            b->enc = sqlite3_column_int64(q, 2);
            b->clr = sqlite3_column_int64(q, 3);
            rc = sqlite3_step(q);
        }
        if (cmp <= 0 && have)
            t = tl_next(t, unit);
        n++;
    }
    if (finish(c, q, rc) < 0) {
        free(v);
        return -1;
    }
    *out = v;
    return n;
}

/* HTML: the timeline as stacked columns (SVG), one per bucket. */
static void html_timeline_chart(FILE *f, const char *unit, const struct bucket *v, int nb,
                                long long maxn)
{
    static const char *const col[3] = { "#2e7d32", "#c62828", "#9e9e9e" };
    static const char *const what[3] = { "encrypted", "cleartext or partial", "indeterminate" };
    const double x0 = 56.0, x1 = 990.0, y0 = 12.0, y1 = 210.0;
    double bw, gap;
    long long every;

    if (nb <= 0)
        return;
    bw = (x1 - x0) / (double)nb;
    gap = bw > 80 ? bw - 68 : bw > 6 ? bw * 0.15 : 0.5;    /* no giant columns */
    /* Label every bucket that leaves ~120 units for its text. */
    every = (long long)ceil(120.0 / bw);
    if (every < 1)
        every = 1;
    fprintf(f, "<p>Connections per %s (UTC):</p>\n"
            "<svg class=\"chart\" id=\"chart-timeline\" viewBox=\"0 0 1000 240\" role=\"img\" "
            "aria-label=\"Connections per %s, encrypted and not\">"
            "<title>Connections per %s, encrypted and not</title>\n", unit, unit, unit);
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#999\"/>\n"
            "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n"
            "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\">%lld</text>\n"
            "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\">0</text>\n",
            x0, y1, x1, y1, x0, y0, x1, y0, x0 - 6, y0 + 4, maxn, x0 - 6, y1 + 4);
    for (int i = 0; i < nb; i++) {
        long long part[3] = { v[i].enc, v[i].clr, v[i].n - v[i].enc - v[i].clr };
        double x = x0 + bw * i + gap / 2, y = y1;
        fputs("<g>", f);
        for (int k = 0; k < 3; k++) {
            double h = (y1 - y0) * (double)part[k] / (double)maxn;
            if (part[k] <= 0)
                continue;
            y -= h;
            fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                    "fill=\"%s\"><title>", x, y, bw - gap, h, col[k]);
            h_str(f, v[i].label);
            fprintf(f, ": %lld %s</title></rect>", part[k], what[k]);
        }
        if (i % every == 0) {
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.0f\" x2=\"%.2f\" y2=\"%.0f\" stroke=\"#999\"/>"
                    "<text x=\"%.2f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">",
                    x + (bw - gap) / 2, y1, x + (bw - gap) / 2, y1 + 4, x + (bw - gap) / 2,
                    y1 + 17);
            h_str(f, v[i].label);
            fputs("</text>", f);
        }
        fputs("</g>\n", f);
    }
    h_chart_end(f, col, what, 3);
}

/* Section 9: timeline of connections, encrypted vs cleartext.  0 or -1. */
static int sec_timeline(struct rctx *c, const struct overview *o)
{
    struct bucket *v;
    struct line l;
    const char *unit;
    long long maxn = 1;
    int nb, tu;

    if (!o->has_period || o->last - o->first < 2 * 86400.0) {
        c->tfmt = "%Y-%m-%d %H:00";
        unit = "hour";
        tu = TL_HOUR;
    } else if (o->last - o->first <= 92 * 86400.0) {
        c->tfmt = "%Y-%m-%d";
        unit = "day";
        tu = TL_DAY;
    } else {
        c->tfmt = "%Y-%m";
        unit = "month";
        tu = TL_MONTH;
    }
    nb = tl_gather(c, tu, &v);
    if (nb < 0)
        return -1;
    for (int i = 0; i < nb; i++)
        if (v[i].n > maxn)
            maxn = v[i].n;
    if (c->fmt == REP_HTML) {
        char hdr[96];
        h_heading(c->out, "timeline", "Timeline");
        html_timeline_chart(c->out, unit, v, nb, maxn);
        snprintf(hdr, sizeof hdr, "%c%s (UTC)|#Connections|#Encrypted|#Cleartext or partial|"
                 "#Indeterminate", unit[0] - 32, unit + 1);
        h_table(c->out, "timeline", hdr);
    } else if (c->fmt != REP_TEXT) {
        jw_key(&c->jw, "timeline");
        jw_open(&c->jw, '{');
        jw_key(&c->jw, "unit");
        jw_cstr(&c->jw, unit);
        jw_key(&c->jw, "buckets");
        jw_open(&c->jw, '[');
    } else {
        title(c, "TIMELINE");
        fprintf(c->out, "  connections per %s (UTC): = encrypted, # cleartext or partial, "
                ". indeterminate\n", unit);
        fprintf(c->out, "  %-16s %6s %6s %6s\n", unit, "TOTAL", "ENCR", "CLEAR");
    }
    ln_init(&l, REPORT_COLS);
    for (int i = 0; i < nb; i++) {
        long long n = v[i].n, enc = v[i].enc, clr = v[i].clr, oth = n - enc - clr;
        if (c->fmt == REP_TEXT && n == 0) {
            /* Text: a run of three or more empty buckets is one line. */
            int j = i;
            while (j < nb && v[j].n == 0)
                j++;
            if (j - i >= 3) {
                fprintf(c->out, "  %-16s %6d  (no connections in %d %ss)\n", "...", 0, j - i,
                        unit);
                i = j - 1;
                continue;
            }
        }
        if (c->fmt == REP_HTML) {
            FILE *f = c->out;
            fputs("<tr><td class=\"t\">", f);
            h_str(f, v[i].label);
            fputs("</td>", f);
            h_td_num(f, n);
            h_td_num(f, enc);
            h_td_bad(f, clr);
            h_td_num(f, oth);
            fputs("</tr>\n", f);
            continue;
        }
        if (c->fmt != REP_TEXT) {
            struct jw *w = &c->jw;
            jw_open(w, '{');
            jw_key(w, "bucket");
            jw_cstr(w, v[i].label);
            jw_kint(w, "sessions", n);
            jw_kint(w, "encrypted", enc);
            jw_kint(w, "cleartext", clr);
            jw_kint(w, "indeterminate", oth);
            jw_close(w, '}');
            continue;
        }
        {
            /* Bar lengths proportional to the largest bucket; a nonzero
             * part always gets at least one mark. */
            long long be = enc * BAR_COLS / maxn, bc = clr * BAR_COLS / maxn,
                      bo = oth > 0 ? oth * BAR_COLS / maxn : 0;
            if (enc > 0 && be == 0) be = 1;
            if (clr > 0 && bc == 0) bc = 1;
            if (oth > 0 && bo == 0) bo = 1;
            while (be + bc + bo > BAR_COLS + 2) {
                if (be >= bc && be > 1) be--; else if (bc > 1) bc--; else if (bo > 1) bo--; else break;
            }
            ln_str(&l, "  ", 2);
            ln_str(&l, v[i].label, 16);
            ln_pad(&l, 18);
            ln_fmt(&l, " %6lld %6lld %6lld  ", n, enc, clr);
            for (long long k = 0; k < be; k++) ln_str(&l, "=", 1);
            for (long long k = 0; k < bc; k++) ln_str(&l, "#", 1);
            for (long long k = 0; k < bo; k++) ln_str(&l, ".", 1);
            ln_out(&l, c->out);
        }
    }
    free(v);
    if (c->fmt == REP_HTML) {
        h_table_end(c->out, 0, 5);
        return 0;
    }
    if (c->fmt != REP_TEXT) {
        jw_close(&c->jw, ']');
        jw_close(&c->jw, '}');
    }
    return 0;
}

/* ---- captures ------------------------------------------------------------ */

static void captures_html(FILE *f, sqlite3_stmt *q)
{
    size_t n;
    const char *t;
    long long loss = sqlite3_column_int64(q, 8) + sqlite3_column_int64(q, 9) +
                     sqlite3_column_int64(q, 10) + sqlite3_column_int64(q, 11) +
                     sqlite3_column_int64(q, 12);

    fputs("<tr>", f);
    h_td_col(f, q, 1, NULL, 80);
    fputs("<td class=\"t\">", f);
    for (int k = 5; k <= 6; k++) {
        char b[32];
        if (sqlite3_column_type(q, k) == SQLITE_NULL)
            snprintf(b, sizeof b, "\xe2\x80\x93");
        else
            fmt_ts(sqlite3_column_double(q, k), b, sizeof b);
        h_str(f, b);
        if (k == 5)
            fputs("<br>", f);
    }
    fputs("</td>", f);
    h_td_num(f, sqlite3_column_int64(q, 4));
    h_td_col(f, q, 7, NULL, 0);
    h_td_bad(f, loss);
    fputs("<td class=\"t\"><small>", f);
    t = col_txt(q, 3, &n);
    if (t)
        html_esc_cut(f, t, n, 13);
    fputs("</small></td>", f);
    h_td_col(f, q, 15, "t", 0);
    fputs("</tr>\n", f);
}

/* Section 10 (not in text): the captures the figures come from.  The
 * analysed_at column is the wall clock of the analysing machine, the only
 * value of the report that is not packet time.  0 or -1. */
static int sec_captures(struct rctx *c)
{
    static const struct list_sec s = {
        .anchor = "captures", .heading = "Captures analysed", .cls = "captures",
        .labels = "Source|First and last packet|#Packets|Status|#Losses|SHA-256|Analysed at",
        .key = "captures", .none = "none",
        .html_note = "Losses: packets dropped (by the kernel or the interface), truncated by "
                     "the snap length, or undecodable, and connections not followed to their "
                     "end because the flow table was full. Every time in this report is "
                     "packet time except \xe2\x80\x9c" "Analysed at\xe2\x80\x9d, the clock "
                     "of the machine that ran mailtap.",
        .html_row = captures_html,
    };

    return sec_list(c, &s, "SELECT id, source, kind, sha256, packets, first_ts, last_ts,"
                    " status, dropped, ifdropped, truncated, undecodable, evicted,"
                    " evicted_bytes, mailtap_version, analysed_at FROM captures"
                    " WHERE (:since = 0 OR last_ts IS NULL OR last_ts >= :since)"
                    " AND (:until = 0 OR first_ts IS NULL OR first_ts < :until) ORDER BY id");
}

/* HTML: one line per finding kind, attacks first, then by severity. */
static int html_findings_summary(struct rctx *c)
{
    sqlite3_stmt *q;
    FILE *f = c->out;
    int rc, rows = 0;

    q = prep(c, S_CTE
             "SELECT f.kind, max(" SEV_RANK("f.severity") ") AS ks, count(*),"
             " min(CASE WHEN f.kind IN " ATTACK_KINDS " THEN 0 ELSE 1 END) AS ka,"
             " count(DISTINCT f.session_id)"
             " FROM findings f JOIN s ON s.id = f.session_id"
             " WHERE :minsev < 0 OR " SEV_RANK("f.severity") " >= :minsev"
             " GROUP BY f.kind ORDER BY ka, ks DESC, f.kind");
    if (!q)
        return -1;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *sev = sev_name(sqlite3_column_int(q, 1));
        size_t kl;
        const char *k = col_txt(q, 0, &kl);
        if (rows++ == 0)
            h_table(f, "kinds", "Severity|Finding|#Findings|#Connections|Attack");
        fprintf(f, "<tr><td><span class=\"sev %s\">%s</span></td><td><a href=\"#kind-%d\">",
                sev, sev, rows);
        html_esc_cut(f, k ? k : "?", k ? kl : 1, 60);
        fputs("</a></td>", f);
        h_td_num(f, sqlite3_column_int64(q, 2));
        h_td_num(f, sqlite3_column_int64(q, 4));
        fprintf(f, "<td>%s</td></tr>\n",
                sqlite3_column_int(q, 3) == 0 ? "<span class=\"attack\">ATTACK</span>" : "");
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (rows > 0)
        h_table_end(f, 0, 5);
    else
        fprintf(f, "<p>%s</p>\n", no_findings(c));
    return 0;
}

/* The report, once the context is set up.  0 or -1. */
static int report_body(struct rctx *c)
{
    struct overview o;
    struct jw *w = &c->jw;

    if (gather_overview(c, &o) < 0)
        return -1;
    if (c->fmt == REP_HTML) {
        html_head(c->out);
    } else if (c->fmt != REP_TEXT) {
        jw_init(w, c->out, c->fmt, 1, c->fmt == REP_CSV ? c->table : NULL);
        jw_open(w, '{');
        jw_key(w, "report_format");
        jw_int(w, REPORT_FORMAT_VERSION);
        jw_key(w, "mailtap_version");
        jw_cstr(w, MAILTAP_VERSION);
        jw_key(w, "filter");
        jw_open(w, '{');
        jw_kts(w, "since", c->f && c->f->since != 0, c->f ? c->f->since : 0);
        jw_kts(w, "until", c->f && c->f->until != 0, c->f ? c->f->until : 0);
        jw_key(w, "min_severity");
        if (c->f && c->f->min_severity >= 0)
            jw_cstr(w, sev_name(c->f->min_severity));
        else
            jw_null(w);
        jw_close(w, '}');
    } else {
        fprintf(c->out, "%smailtap %s - SMTP encryption audit%s\n", tty_on(c, T_BOLD),
                MAILTAP_VERSION, tty_on(c, T_OFF));
    }
    if (sec_overview(c, &o) < 0)
        return -1;
    /* Quiet when there is nothing to say (JSON keeps its shape). */
    if (o.sessions == 0 && (c->fmt == REP_TEXT || c->fmt == REP_HTML)) {
        if (c->fmt == REP_HTML && sec_captures(c) < 0)
            return -1;
        goto end;
    }
    if (c->org.n) {
        if (sec_direction(c) < 0)
            return -1;
    } else if (c->fmt == REP_JSON) {
        jw_key(w, "direction");
        jw_null(w);
    }
    if (sec_servers(c) < 0 || sec_clients(c) < 0 || sec_domains(c) < 0 ||
        sec_messages(c) < 0 || sec_credentials(c) < 0 || sec_findings(c) < 0 ||
        sec_timeline(c, &o) < 0 || sec_captures(c) < 0)
        return -1;
end:
    if (c->fmt == REP_HTML) {
        fputs("<footer>Generated by mailtap " MAILTAP_VERSION " from packet captures alone. "
              "Times are packet time (UTC). Every string seen on the wire is shown escaped: "
              "control bytes and invalid UTF-8 as \\xNN, invisible or direction-changing "
              "characters as \\uXXXX.</footer>\n</body></html>\n", c->out);
    } else if (c->fmt != REP_TEXT) {
        jw_close(w, '}');
        if (c->fmt == REP_JSON)
            fputc('\n', c->out);
        jw_finish(w);
    }
    return 0;
}

/* The report in fmt (table: CSV, the one table to write, or NULL). */
static int report_run(store_t *st, enum rep_format fmt, const struct rep_filter *f,
                      const char *table, FILE *out, char *errbuf, size_t errsz)
{
    struct rctx c;
    int rc = -1;

    if (ctx_init(&c, st, fmt, f, out, errbuf, errsz) < 0)
        return -1;
    if (fmt != REP_TEXT && fmt != REP_JSON && fmt != REP_CSV && fmt != REP_HTML)
        return rerr(&c, "unknown format");
    if (table) {
        if (fmt != REP_CSV)
            return rerr(&c, "a single table is for the csv format only");
        if (!csv_table_find(table))
            return rerr(&c, "unknown table \"%.40s\" (tables: %s)", table, REP_CSV_TABLES);
        c.table = table;
    }
    if (fmt == REP_TEXT) {
        const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");
        c.color = isatty(fileno(out)) && (!nc || !*nc) && term && strcmp(term, "dumb") != 0;
    }
    if (org_setup(&c) < 0)
        goto done;
    if (snap_begin(&c) < 0)
        goto done;
    rc = report_body(&c);
    snap_end(&c);
    if (rc == 0)
        rc = out_check(&c);
done:
    org_teardown(&c);
    return rc;
}

/* `mailtap report` (contract in reports.h): text, JSON, CSV or HTML. */
int rep_report(store_t *st, enum rep_format fmt, const struct rep_filter *f, FILE *out,
               char *errbuf, size_t errsz)
{
    return report_run(st, fmt, f, NULL, out, errbuf, errsz);
}

/* `mailtap report --format csv --table NAME` (contract in reports.h). */
int rep_report_csv_table(store_t *st, const struct rep_filter *f, const char *table, FILE *out,
                         char *errbuf, size_t errsz)
{
    if (!table) {
        if (errbuf && errsz)
            snprintf(errbuf, errsz, "no table named (tables: %s)", REP_CSV_TABLES);
        return -1;
    }
    return report_run(st, REP_CSV, f, table, out, errbuf, errsz);
}

/* `mailtap report --format csv` into a directory (contract in reports.h):
 * every table in its own file, all from one read snapshot. */
int rep_report_csv_dir(store_t *st, const struct rep_filter *f, const char *dir, char *errbuf,
                       size_t errsz)
{
    struct rctx c;
    int rc = 0;

    if (ctx_init(&c, st, REP_CSV, f, stdout, errbuf, errsz) < 0)
        return -1;
    if (!dir || !*dir)
        return rerr(&c, "no output directory");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return rerr(&c, "%.200s: %s", dir, strerror(errno));
    if (snap_begin(&c) < 0)
        return -1;
    for (size_t i = 0; rc == 0 && i < sizeof csv_tables / sizeof csv_tables[0]; i++) {
        char path[4096];
        FILE *out;
        if (snprintf(path, sizeof path, "%s/%s.csv", dir, csv_tables[i].name) >= (int)sizeof path) {
            rc = rerr(&c, "output directory name too long");
            break;
        }
        out = fopen(path, "w");
        if (!out) {
            rc = rerr(&c, "%.200s: %s", path, strerror(errno));
            break;
        }
        rc = report_run(st, REP_CSV, f, csv_tables[i].name, out, errbuf, errsz);
        if (fclose(out) != 0 && rc == 0)
            rc = rerr(&c, "%.200s: %s", path, strerror(errno));
    }
    snap_end(&c);
    return rc;
}
