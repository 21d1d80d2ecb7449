/*
 * reports.c — everything mailtap prints from the database alone:
 * `mailtap sessions`, `mailtap findings` and `mailtap report`.
 *
 * The numbers come from SQL (aggregates, GROUP BY) over a read snapshot.
 * Every string read from the database is treated as hostile, even though
 * dissect/ escaped it before storing: text output escapes control
 * characters, invalid UTF-8 and display-spoofing code points; JSON output
 * does full JSON string escaping.  Raw database bytes are never printed.
 *
 * Filters are bound as parameters; SQL text is only ever built from string
 * literals in this file.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "config.h"
#include "reports/reports.h"

#define REPORT_COLS   100   /* the text report fits this many columns      */
#define LIST_COLS     2048  /* listing lines: no width limit in practice     */
#define LN_BYTES      16384 /* bytes of one output line (6 per column max)   */
#define LIST_MAX      50    /* rows per table in the text report             */
#define KIND_MAX      20    /* findings shown per kind in the text report    */
#define BAR_COLS      50    /* width of a timeline bar                       */

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
 * C1 controls, bidirectional overrides/isolates, zero-width and line/
 * paragraph separators (they reorder or hide text). */
static int cp_is_special(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200b || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0xfeff;
}

/* Escapes the character at p (n > 0 bytes left) for text output into piece
 * (>= 16 bytes).  Sets *plen (bytes in piece) and *pcols (columns) and
 * returns the bytes consumed from p. */
static size_t txt_piece(const unsigned char *p, size_t n, char *piece, size_t *plen, size_t *pcols)
{
    uint32_t cp;
    size_t k = utf8_dec(p, n, &cp);

    if (k == 0 || cp < 0x20 || cp == 0x7f) {
        snprintf(piece, 16, "\\x%02x", p[0]);
        *plen = 4;
        *pcols = 4;
        return 1;
    }
    if (cp_is_special(cp)) {
        snprintf(piece, 16, "\\u%04x", (unsigned)cp);
        *plen = 6;
        *pcols = 6;
        return k;
    }
    memcpy(piece, p, k);
    *plen = k;
    *pcols = 1;
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
            if (cp < 0x20 || cp == 0x7f || cp_is_special(cp))
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
    size_t pl, pc, i, total = 0, limit, start;
    size_t room = l->width > l->cols ? l->width - l->cols : 0;
    int cut = 0;

    if (maxcols > room)
        maxcols = room;
    for (i = 0; i < n && total <= maxcols;)
        i += txt_piece(p + i, n - i, piece, &pl, &pc), total += pc;
    if (total > maxcols)
        cut = 1;
    limit = cut ? (maxcols >= 3 ? maxcols - 3 : 0) : maxcols;
    start = l->cols;
    for (i = 0; i < n;) {
        size_t k = txt_piece(p + i, n - i, piece, &pl, &pc);
        if (l->cols + pc > start + limit || l->len + pl + 4 > LN_BYTES) {
            cut = 1;
            break;
        }
        memcpy(l->b + l->len, piece, pl);
        l->len += pl;
        l->cols += pc;
        i += k;
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
 * Structured writer: JSON, CSV and HTML from the same events
 *
 * The report's sections describe themselves once, as JSON-like events
 * (open/close object or array, key, scalar).  JSON writes them as they
 * come.  CSV and HTML lay them out:
 *   - an array of objects is a table (one row per object, the keys of the
 *     first object are the header), named by its key path ("servers",
 *     "timeline.buckets");
 *   - every other scalar is a key/value row of its top-level section
 *     ("overview", "captures.count", 1).
 * CSV: each block starts with its header row whose first cell is
 * "section"; blocks are separated by a blank line.  Strings are quoted,
 * control characters escaped, and a leading = + - @ TAB CR is neutralised
 * with a quote (spreadsheet formula injection).  HTML: one self-contained
 * page (inline CSS, no scripts, no external assets), all text escaped.
 * ====================================================================== */

#define JW_DEPTH 16
#define JW_KEY   64

static void fmt_ts(double ts, char *out, size_t outsz);

enum { BLK_NONE, BLK_KV, BLK_TABLE };

struct jlevel {
    char type;              /* '{' or '['                                  */
    char key[JW_KEY];       /* current key (objects)                       */
    unsigned n;             /* members/elements written so far             */
    int row;                /* this object is a table row (CSV/HTML)       */
    int table;              /* this array holds table rows (CSV/HTML)      */
};

struct jw {
    FILE *f;
    enum rep_format fmt;    /* REP_JSON, REP_CSV or REP_HTML               */
    int pretty;             /* JSON: newlines and indentation              */
    int depth;
    struct jlevel lv[JW_DEPTH];
    int after_key;          /* JSON: next value follows a key              */
    /* CSV/HTML layout */
    int block;              /* BLK_*                                        */
    char section[JW_KEY];   /* section whose heading was printed            */
    char table[256];        /* name of the open table                       */
    int header_done;        /* the open table printed its header            */
    char *row, *hdr;        /* cells of the row being built, its header     */
    size_t rowlen, hdrlen;
    FILE *rowf, *hdrf;
    unsigned cells;         /* cells in the row being built                 */
};

/* Writes p[0..n) HTML-escaped, with the text escaping of control
 * characters, invalid UTF-8 and special code points. */
static void html_esc(FILE *f, const void *vp, size_t n)
{
    const unsigned char *p = vp;
    char piece[16];
    size_t pl, pc;

    for (size_t i = 0; i < n;) {
        i += txt_piece(p + i, n - i, piece, &pl, &pc);
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
    }
}

/* Writes p[0..n) as one quoted CSV field: text escaping, '"' doubled, and
 * a leading formula character neutralised with "'".  num: a number of
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
    if (n > 0 && strchr("=+-@\t\r", p[0]) && p[0] != '\0')
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

/* Title of a top-level section for the HTML headings. */
static const char *section_title(const char *key)
{
    static const struct { const char *key, *title; } t[] = {
        { "report", "Report" },
        { "filter", "Filter" },
        { "overview", "Overview" },
        { "direction", "Direction" },
        { "servers", "Servers" },
        { "clients", "Clients" },
        { "recipient_domains", "Recipient domains (messages delivered in cleartext)" },
        { "credential_exposures", "Credential exposures" },
        { "findings", "Findings" },
        { "timeline", "Timeline" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].key, key) == 0)
            return t[i].title;
    return key;
}

/* Closes the open CSV/HTML block. */
static void lay_close_block(struct jw *w)
{
    if (w->block == BLK_NONE)
        return;
    if (w->fmt == REP_HTML)
        fputs("</table>\n", w->f);
    else
        fputc('\n', w->f);
    w->block = BLK_NONE;
}

/* Notes a change of section; HTML prints its heading (CSV key/value rows
 * of consecutive sections share one block). */
static void lay_section(struct jw *w, const char *sec)
{
    if (strcmp(w->section, sec) == 0)
        return;
    snprintf(w->section, sizeof w->section, "%s", sec);
    if (w->fmt == REP_HTML) {
        lay_close_block(w);
        fputs("<h2>", w->f);
        html_esc(w->f, section_title(sec), strlen(section_title(sec)));
        fputs("</h2>\n", w->f);
    }
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

/* A scalar in CSV/HTML layout: a cell of the current row, or a key/value
 * row of its section. */
static void lay_scalar(struct jw *w, const char *p, size_t n, int num)
{
    struct jlevel *top = w->depth > 0 ? &w->lv[w->depth - 1] : NULL;
    char path[256];

    if (top && top->row && w->rowf) {
        if (w->fmt == REP_CSV) {
            if (w->cells)
                fputc(',', w->rowf);
            csv_field(w->rowf, p, n, num);
            if (!w->header_done && w->hdrf) {
                fputc(',', w->hdrf);
                csv_field(w->hdrf, top->key, strlen(top->key), 0);
            }
        } else {
            fputs(num ? "<td class=\"n\">" : "<td>", w->rowf);
            html_esc(w->rowf, p, n);
            fputs("</td>", w->rowf);
            if (!w->header_done && w->hdrf) {
                fputs("<th>", w->hdrf);
                html_esc(w->hdrf, top->key, strlen(top->key));
                fputs("</th>", w->hdrf);
            }
        }
        w->cells++;
        return;
    }
    lay_section(w, lay_sec(w));
    if (w->block != BLK_KV) {
        lay_close_block(w);
        if (w->fmt == REP_CSV)
            fputs("\"section\",\"key\",\"value\"\n", w->f);
        else
            fputs("<table class=\"kv\">\n", w->f);
        w->block = BLK_KV;
    }
    lay_path(w, path, sizeof path);
    if (w->fmt == REP_CSV) {
        csv_field(w->f, w->section, strlen(w->section), 0);
        fputc(',', w->f);
        csv_field(w->f, path, strlen(path), 0);
        fputc(',', w->f);
        csv_field(w->f, p, n, num);
        fputc('\n', w->f);
    } else {
        fputs("<tr><th>", w->f);
        html_esc(w->f, path, strlen(path));
        fputs(num ? "</th><td class=\"n\">" : "</th><td>", w->f);
        html_esc(w->f, p, n);
        fputs("</td></tr>\n", w->f);
    }
}

/* Starts a writer on f for fmt (REP_JSON pretty or not, REP_CSV,
 * REP_HTML).  HTML writes the page head. */
static void jw_init(struct jw *w, FILE *f, enum rep_format fmt, int pretty)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->fmt = fmt;
    w->pretty = pretty;
    if (fmt == REP_HTML)
        fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
              "<title>mailtap: SMTP encryption audit</title>\n<style>\n"
              "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:80em}\n"
              "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}\n"
              "table{border-collapse:collapse;margin:.5em 0}th,td{padding:.15em .6em;"
              "text-align:left;border-bottom:1px solid #eee;font-size:.9em}\n"
              "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
              "table.kv th{font-weight:normal;color:#555}\n"
              ".summary{font-size:1.1em;background:#f6f6f6;padding:.8em;border-left:4px solid #c33}\n"
              ".bar{display:flex;height:1.1em;min-width:1px}.bar span{display:block;height:100%}\n"
              ".enc{background:#3a7}.clr{background:#c33}.par{background:#e93}"
              ".ind{background:#aaa}\n"
              ".chart td{border:0;padding:.05em .4em}.legend span{padding:0 .6em;margin-right:.5em}\n"
              "</style></head><body>\n<h1>mailtap: SMTP encryption audit</h1>\n", f);
}

/* Ends the document (HTML: closes blocks and the page). */
static void jw_finish(struct jw *w)
{
    if (w->fmt == REP_CSV || w->fmt == REP_HTML)
        lay_close_block(w);
    if (w->fmt == REP_HTML)
        fputs("<p><small>Generated by mailtap " MAILTAP_VERSION " from packet captures; "
              "times are packet time (UTC).</small></p>\n</body></html>\n", w->f);
}

/* HTML only: closes the open block so the caller can write raw HTML (a
 * chart).  Returns 1 when the output is HTML. */
static int jw_html_raw(struct jw *w, const char *section)
{
    if (w->fmt != REP_HTML)
        return 0;
    lay_section(w, section);
    lay_close_block(w);
    return 1;
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

    if (w->fmt != REP_JSON && ch == '{' && parent && parent->type == '[') {
        /* An object in an array: a table row. */
        row = 1;
        if (!parent->table) {
            char name[160];
            parent->table = 1;
            lay_section(w, lay_sec(w));
            lay_close_block(w);
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
            w->block = BLK_TABLE;
            w->header_done = 0;
            if (w->fmt == REP_HTML)
                fputs("<table>\n", w->f);
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
    if (lv && lv->row && w->rowf) {
        fclose(w->rowf);
        w->rowf = NULL;
        if (w->hdrf) {
            fclose(w->hdrf);
            w->hdrf = NULL;
            if (w->fmt == REP_CSV) {
                fputs("\"section\"", w->f);
                fwrite(w->hdr, 1, w->hdrlen, w->f);
                fputc('\n', w->f);
            } else {
                fputs("<tr>", w->f);
                fwrite(w->hdr, 1, w->hdrlen, w->f);
                fputs("</tr>\n", w->f);
            }
            free(w->hdr);
            w->hdr = NULL;
            w->header_done = 1;
        }
        if (w->fmt == REP_CSV) {
            csv_field(w->f, w->table, strlen(w->table), 0);
            fputc(',', w->f);
            fwrite(w->row, 1, w->rowlen, w->f);
            fputc('\n', w->f);
        } else {
            fputs("<tr>", w->f);
            fwrite(w->row, 1, w->rowlen, w->f);
            fputs("</tr>\n", w->f);
        }
        free(w->row);
        w->row = NULL;
        return;
    }
    if (lv && ch == ']') {
        if (lv->table) {
            lay_close_block(w);
        } else if (lv->n == 0 && w->fmt == REP_HTML) {
            lay_section(w, lay_sec(w));
            lay_close_block(w);
            fputs("<p>none</p>\n", w->f);
        }
    }
}

/* Writes an object key (ours: a literal). */
static void jw_key(struct jw *w, const char *k)
{
    if (w->fmt == REP_JSON) {
        jw_pre(w);
        js_str(w->f, k, strlen(k));
        fputs(w->pretty ? ": " : ":", w->f);
    } else {
        jw_pre(w);
        if (w->depth > 0 && w->depth <= JW_DEPTH)
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

/* A REAL: timestamps (decimals 6) keep microseconds, and read as UTC
 * times in HTML; NaN/inf (not JSON) become null. */
static void jw_real(struct jw *w, double v, int decimals)
{
    char b[64];
    int n;

    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    if (w->fmt == REP_HTML && decimals == 6) {
        fmt_ts(v, b, sizeof b);
        jw_scalar(w, b, strlen(b), 0);
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

/* Runs a one-row query into out[0..n) as int64 (NULL → 0).  0 or -1. */
static int query_ints(struct rctx *c, const char *sql, long long *out, int n)
{
    sqlite3_stmt *q = prep(c, sql);
    int rc;

    memset(out, 0, sizeof *out * (size_t)n);
    if (!q)
        return -1;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        int nc = sqlite3_column_count(q);
        for (int i = 0; i < n && i < nc; i++)
            out[i] = sqlite3_column_int64(q, i);
    }
    return finish(c, q, rc);
}

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
 * mailtap sessions
 * ====================================================================== */

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

    if (ctx_init(&c, st, fmt, f, out, errbuf, errsz) < 0)
        return -1;
    if (fmt != REP_TEXT && fmt != REP_JSON)
        return rerr(&c, "sessions: only text and json formats");
    if (snap_begin(&c) < 0)
        return -1;
    if (fmt == REP_JSON) {
        q = prep(&c, "SELECT * FROM sessions" SESSIONS_WHERE);
        if (!q)
            goto fail;
        jw_init(&c.jw, out, REP_JSON, 0);
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
        if (finish(&c, q, rc) < 0)
            goto fail;
        snap_end(&c);
        return out_check(&c);
    }
    q = prep(&c, "SELECT id, start_ts, client_ip, client_port, server_ip, server_port,"
                 " protection, exposed_envelope, exposed_content, exposed_credentials,"
                 " cleartext_messages, auth_mechanism, auth_outcome, banner FROM sessions"
                 SESSIONS_WHERE);
    if (!q)
        goto fail;
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
    if (finish(&c, q, rc) < 0)
        goto fail;
    if (rows == 0)
        fputs("no sessions\n", out);
    snap_end(&c);
    return out_check(&c);
fail:
    snap_end(&c);
    return -1;
}

/* ======================================================================
 * mailtap findings
 * ====================================================================== */

/* `mailtap findings` (contract in reports.h): text or JSON lines. */
int rep_findings(store_t *st, enum rep_format fmt, const struct rep_filter *f, FILE *out,
                 char *errbuf, size_t errsz)
{
    static const char sql[] =
        "SELECT f.id, f.severity, f.kind, f.session_id, f.message_id, m.seq, f.ts,"
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

    if (ctx_init(&c, st, fmt, f, out, errbuf, errsz) < 0)
        return -1;
    if (fmt != REP_TEXT && fmt != REP_JSON)
        return rerr(&c, "findings: only text and json formats");
    if (snap_begin(&c) < 0)
        return -1;
    q = prep(&c, sql);
    if (!q)
        goto fail;
    jw_init(&c.jw, out, REP_JSON, 0);
    ln_init(&l, LIST_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows++;
        if (fmt == REP_JSON) {
            struct jw *w = &c.jw;
            jw_open(w, '{');
            jw_kcol(w, "id", q, 0);
            jw_kcol(w, "session_id", q, 3);
            jw_kcol(w, "message_id", q, 4);
            jw_kcol(w, "message_seq", q, 5);
            jw_kcol(w, "kind", q, 2);
            jw_kcol(w, "severity", q, 1);
            jw_kcol(w, "ts", q, 6);
            jw_kcol(w, "evidence", q, 7);
            jw_kcol(w, "client_ip", q, 8);
            jw_kcol(w, "client_port", q, 9);
            jw_kcol(w, "server_ip", q, 10);
            jw_kcol(w, "server_port", q, 11);
            jw_kcol(w, "protection", q, 12);
            jw_close(w, '}');
            fputc('\n', out);
            continue;
        }
        ln_fmt(&l, "%lld", (long long)sqlite3_column_int64(q, 0));
        ln_pad(&l, 8);
        ln_col(&l, q, 1, 9);
        ln_pad(&l, 18);
        ln_col(&l, q, 2, 36);
        ln_pad(&l, 55);
        ln_fmt(&l, "session=%lld", (long long)sqlite3_column_int64(q, 3));
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
    if (finish(&c, q, rc) < 0)
        goto fail;
    if (rows == 0 && fmt == REP_TEXT)
        fputs("no findings\n", out);
    snap_end(&c);
    return out_check(&c);
fail:
    snap_end(&c);
    return -1;
}

/* ======================================================================
 * mailtap report
 * ====================================================================== */

/* The figures of the overview, gathered first (the sentence needs them). */
struct overview {
    long long sessions, prot[5], other_prot, env, content, cred, open;
    long long msgs, clear_msgs, clear_msg_sessions;
    long long caps, packets, caps_complete, caps_interrupted, dropped, ifdropped, truncated,
        undecodable;
    long long sev[5];
    double first, last;
    int has_period;
    /* with org nets */
    long long out_sessions, out_clear_sessions, out_clear_msgs, out_cred;
};

/* Protection values in the order the report lists them. */
static const char *const prot_order[5] = {
    "cleartext", "partial", "starttls", "implicit_tls", "indeterminate"
};

/* Gathers the overview figures.  0 or -1. */
static int gather_overview(struct rctx *c, struct overview *o)
{
    long long v[16];
    sqlite3_stmt *q;
    int rc;

    memset(o, 0, sizeof *o);
    if (query_ints(c, S_CTE "SELECT count(*), sum(protection = 'cleartext'),"
                   " sum(protection = 'partial'), sum(protection = 'starttls'),"
                   " sum(protection = 'implicit_tls'), sum(protection = 'indeterminate'),"
                   " sum(exposed_envelope != 0), sum(exposed_content != 0),"
                   " sum(exposed_credentials != 0), sum(complete = 0) FROM s", v, 10) < 0)
        return -1;
    o->sessions = v[0];
    for (int i = 0; i < 5; i++)
        o->prot[i] = v[1 + i];
    o->other_prot = v[0] - v[1] - v[2] - v[3] - v[4] - v[5];
    o->env = v[6];
    o->content = v[7];
    o->cred = v[8];
    o->open = v[9];
    if (query_ints(c, S_CTE "SELECT count(*), sum(m.content_exposed != 0),"
                   " count(DISTINCT CASE WHEN m.content_exposed != 0 THEN m.session_id END)"
                   " FROM messages m JOIN s ON s.id = m.session_id", v, 3) < 0)
        return -1;
    o->msgs = v[0];
    o->clear_msgs = v[1];
    o->clear_msg_sessions = v[2];
    if (query_ints(c, "SELECT count(*), sum(packets), sum(status = 'complete'),"
                   " sum(status = 'interrupted'), sum(dropped), sum(ifdropped), sum(truncated),"
                   " sum(undecodable) FROM captures"
                   " WHERE (:since = 0 OR last_ts IS NULL OR last_ts >= :since)"
                   " AND (:until = 0 OR first_ts IS NULL OR first_ts < :until)", v, 8) < 0)
        return -1;
    o->caps = v[0];
    o->packets = v[1];
    o->caps_complete = v[2];
    o->caps_interrupted = v[3];
    o->dropped = v[4];
    o->ifdropped = v[5];
    o->truncated = v[6];
    o->undecodable = v[7];
    if (query_ints(c, S_CTE "SELECT sum(" SEV_RANK("f.severity") " = 0),"
                   " sum(" SEV_RANK("f.severity") " = 1), sum(" SEV_RANK("f.severity") " = 2),"
                   " sum(" SEV_RANK("f.severity") " = 3), sum(" SEV_RANK("f.severity") " = 4)"
                   " FROM findings f JOIN s ON s.id = f.session_id", v, 5) < 0)
        return -1;
    for (int i = 0; i < 5; i++)
        o->sev[i] = v[i];
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
    if (c->org.n) {
        if (query_ints(c, S_CTE MC_CTE "SELECT count(*),"
                       " sum(protection IN ('cleartext', 'partial')), coalesce(sum(mc.n), 0),"
                       " sum(exposed_credentials != 0)"
                       " FROM s LEFT JOIN mc ON mc.sid = s.id"
                       " WHERE mt_dir(client_ip, server_ip) = 'outbound'", v, 4) < 0)
            return -1;
        o->out_sessions = v[0];
        o->out_clear_sessions = v[1];
        o->out_clear_msgs = v[2];
        o->out_cred = v[3];
    }
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

/* Section title (text). */
static void title(struct rctx *c, const char *t)
{
    char rule[REPORT_COLS + 1];
    size_t n = strlen(t);

    fputc('\n', c->out);
    fputs(t, c->out);
    fputc('\n', c->out);
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

/* HTML: the answer in one sentence and the protection shares as a bar. */
static void html_overview_chart(FILE *f, const struct overview *o, const char *sentence)
{
    static const char *const cls[5] = { "clr", "par", "enc", "enc", "ind" };

    fputs("<p class=\"summary\">", f);
    html_esc(f, sentence, strlen(sentence));
    fputs("</p>\n", f);
    if (o->sessions <= 0)
        return;
    fputs("<p>SMTP connections by protection:</p>\n<div class=\"bar\" style=\"width:100%\">", f);
    for (int i = 0; i < 5; i++)
        if (o->prot[i] > 0)
            fprintf(f, "<span class=\"%s\" style=\"width:%.2f%%\" title=\"%s %lld\"></span>",
                    cls[i], pct(o->prot[i], o->sessions), prot_order[i], o->prot[i]);
    fputs("</div>\n<p class=\"legend\">", f);
    for (int i = 0; i < 5; i++)
        fprintf(f, "<span class=\"%s\">&nbsp;</span>%s %lld (%.1f%%) ", cls[i], prot_order[i],
                o->prot[i], pct(o->prot[i], o->sessions));
    fputs("</p>\n", f);
}

/* Section 1: overview.  0 or -1. */
static int sec_overview(struct rctx *c, const struct overview *o)
{
    char a[32], b[32], sentence[1024];
    static const char *const sev_label[5] = { "info", "low", "medium", "high", "critical" };
    struct jw *w = &c->jw;
    FILE *f = c->out;

    summary_sentence(c, o, sentence, sizeof sentence);
    if (c->fmt != REP_TEXT) {
        if (jw_html_raw(w, "overview"))
            html_overview_chart(f, o, sentence);
        jw_key(w, "overview");
        jw_open(w, '{');
        jw_key(w, "period");
        jw_open(w, '{');
        jw_key(w, "start");
        if (o->has_period) jw_real(w, o->first, 6); else jw_null(w);
        jw_key(w, "end");
        if (o->has_period) jw_real(w, o->last, 6); else jw_null(w);
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
        jw_close(w, '}');
        jw_kint(w, "sessions", o->sessions);
        jw_kint(w, "sessions_unfinished", o->open);
        jw_key(w, "protection");
        jw_open(w, '{');
        for (int i = 0; i < 5; i++) {
            jw_key(w, prot_order[i]);
            jw_open(w, '{');
            jw_kint(w, "sessions", o->prot[i]);
            jw_key(w, "percent");
            jw_real(w, pct(o->prot[i], o->sessions), 1);
            jw_close(w, '}');
        }
        if (o->other_prot) {
            jw_key(w, "other");
            jw_open(w, '{');
            jw_kint(w, "sessions", o->other_prot);
            jw_key(w, "percent");
            jw_real(w, pct(o->other_prot, o->sessions), 1);
            jw_close(w, '}');
        }
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
            jw_kint(w, sev_label[i], o->sev[i]);
        jw_close(w, '}');
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
    if (c->f && (c->f->since != 0 || c->f->until != 0)) {
        if (c->f->since != 0) fmt_ts(c->f->since, a, sizeof a); else snprintf(a, sizeof a, "-");
        if (c->f->until != 0) fmt_ts(c->f->until, b, sizeof b); else snprintf(b, sizeof b, "-");
        fprintf(f, "  Filter               connections starting from %s until %s\n", a, b);
    }
    fprintf(f, "  Captures             %lld (%lld complete, %lld interrupted), %lld packets\n",
            o->caps, o->caps_complete, o->caps_interrupted, o->packets);
    if (o->dropped || o->ifdropped || o->truncated || o->undecodable)
        fprintf(f, "  Capture losses       %lld dropped, %lld if-dropped, %lld truncated, "
                "%lld undecodable\n",
                o->dropped, o->ifdropped, o->truncated, o->undecodable);
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
    }
    fputc('\n', f);
    wrap_out(f, sentence, 2);
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

/* Section 3: per server.  0 or -1. */
static int sec_servers(struct rctx *c)
{
    sqlite3_stmt *q;
    struct line l;
    int rc, rows = 0;

    q = prep(c, S_CTE MC_CTE
             ", bt AS (SELECT server_ip, server_port, " BANNER_T " AS t FROM s"
             " WHERE banner IS NOT NULL)"
             ", bh AS (SELECT server_ip, server_port, substr(t, 1, instr(t || ' ', ' ') - 1) AS host,"
             " count(*) AS n FROM bt GROUP BY 1, 2, 3)"
             ", best AS (SELECT server_ip, server_port, host FROM (SELECT *, row_number() OVER"
             " (PARTITION BY server_ip, server_port ORDER BY n DESC, host) AS rn FROM bh"
             " WHERE host != '') WHERE rn = 1)"
             ", agg AS (SELECT s.server_ip AS ip, s.server_port AS port, count(*) AS conns,"
             " sum(protection = 'cleartext') AS clear, sum(protection = 'partial') AS part,"
             " sum(protection = 'starttls') AS stls, sum(protection = 'implicit_tls') AS tls,"
             " sum(protection NOT IN ('cleartext', 'partial', 'starttls', 'implicit_tls')) AS ind,"
             " sum(ehlo_keywords IS NOT NULL OR starttls_offered != 0) AS ehlo_seen,"
             " sum(starttls_offered != 0) AS offered, coalesce(sum(mc.n), 0) AS msgs"
             " FROM s LEFT JOIN mc ON mc.sid = s.id GROUP BY s.server_ip, s.server_port)"
             "SELECT agg.ip, agg.port, best.host, conns, clear, part, stls, tls, ind, ehlo_seen,"
             " offered, msgs FROM agg LEFT JOIN best ON best.server_ip = agg.ip"
             " AND best.server_port = agg.port"
             " ORDER BY msgs DESC, clear + part DESC, conns DESC, agg.ip, agg.port");
    if (!q)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_key(&c->jw, "servers");
        jw_open(&c->jw, '[');
    } else {
        title(c, "SERVERS");
    }
    ln_init(&l, REPORT_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long seen = sqlite3_column_int64(q, 9), off = sqlite3_column_int64(q, 10);
        const char *offer = seen == 0 ? "-" : off == 0 ? "no" : off >= seen ? "yes" : "mixed";
        rows++;
        if (c->fmt != REP_TEXT) {
            struct jw *w = &c->jw;
            jw_open(w, '{');
            jw_kcol(w, "server_ip", q, 0);
            jw_kcol(w, "server_port", q, 1);
            jw_kcol(w, "banner_host", q, 2);
            jw_kcol(w, "sessions", q, 3);
            jw_kcol(w, "cleartext", q, 4);
            jw_kcol(w, "partial", q, 5);
            jw_kcol(w, "starttls", q, 6);
            jw_kcol(w, "implicit_tls", q, 7);
            jw_kcol(w, "indeterminate", q, 8);
            jw_key(w, "starttls_offered");
            if (seen == 0)
                jw_null(w);     /* no cleartext EHLO reply seen */
            else
                jw_cstr(w, offer);
            jw_kcol(w, "cleartext_messages", q, 11);
            jw_close(w, '}');
            continue;
        }
        if (rows == 1) {
            ln_str(&l, "  SERVER", 10);
            ln_pad(&l, 32);
            ln_str(&l, "HOST", 10);
            ln_pad(&l, 54);
            ln_fmt(&l, "%5s%6s%5s%6s%5s%6s%7s%6s", "CONN", "CLEAR", "PART", "STTLS", "TLS",
                   "INDET", "OFFER", "MSGS");
            ln_out(&l, c->out);
        }
        if (rows > LIST_MAX)
            continue;
        ln_str(&l, "  ", 2);
        ln_endpoint(&l, q, 0, 1, 29);
        ln_pad(&l, 32);
        ln_col(&l, q, 2, 21);
        ln_pad(&l, 54);
        ln_fmt(&l, "%5lld%6lld%5lld%6lld%5lld%6lld%7s%6lld",
               (long long)sqlite3_column_int64(q, 3), (long long)sqlite3_column_int64(q, 4),
               (long long)sqlite3_column_int64(q, 5), (long long)sqlite3_column_int64(q, 6),
               (long long)sqlite3_column_int64(q, 7), (long long)sqlite3_column_int64(q, 8),
               offer, (long long)sqlite3_column_int64(q, 11));
        ln_out(&l, c->out);
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_close(&c->jw, ']');
        return 0;
    }
    if (rows > LIST_MAX)
        fprintf(c->out, "  ... and %d more servers\n", rows - LIST_MAX);
    if (rows == 0)
        fprintf(c->out, "  none\n");
    else
        wrap_out(c->out, "OFFER: STARTTLS advertised in the cleartext EHLO reply (yes, no, or "
                 "mixed across connections; - when no cleartext EHLO reply was seen).", 2);
    return 0;
}

/* Section 4: per client.  0 or -1. */
static int sec_clients(struct rctx *c)
{
    sqlite3_stmt *q;
    struct line l;
    int rc, rows = 0;

    q = prep(c, S_CTE MC_CTE
             "SELECT client_ip, count(*) AS conns,"
             " sum(protection = 'cleartext' AND starttls_requested = 0) AS notls,"
             " coalesce(sum(mc.n), 0) AS msgs, sum(exposed_credentials != 0) AS creds"
             " FROM s LEFT JOIN mc ON mc.sid = s.id GROUP BY client_ip"
             " ORDER BY msgs DESC, creds DESC, notls DESC, conns DESC, client_ip");
    if (!q)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_key(&c->jw, "clients");
        jw_open(&c->jw, '[');
    } else {
        title(c, "CLIENTS");
    }
    ln_init(&l, REPORT_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows++;
        if (c->fmt != REP_TEXT) {
            struct jw *w = &c->jw;
            jw_open(w, '{');
            jw_kcol(w, "client_ip", q, 0);
            jw_kcol(w, "sessions", q, 1);
            jw_kcol(w, "never_tried_tls", q, 2);
            jw_kcol(w, "cleartext_messages", q, 3);
            jw_kcol(w, "sessions_credentials_exposed", q, 4);
            jw_close(w, '}');
            continue;
        }
        if (rows == 1) {
            ln_str(&l, "  CLIENT", 10);
            ln_pad(&l, 48);
            ln_fmt(&l, "%12s%17s%13s%8s", "CONNECTIONS", "NEVER TRIED TLS", "CLEAR MSGS",
                   "CREDS");
            ln_out(&l, c->out);
        }
        if (rows > LIST_MAX)
            continue;
        ln_str(&l, "  ", 2);
        ln_endpoint(&l, q, 0, -1, 45);
        ln_pad(&l, 48);
        ln_fmt(&l, "%12lld%17lld%13lld%8lld", (long long)sqlite3_column_int64(q, 1),
               (long long)sqlite3_column_int64(q, 2), (long long)sqlite3_column_int64(q, 3),
               (long long)sqlite3_column_int64(q, 4));
        ln_out(&l, c->out);
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_close(&c->jw, ']');
        return 0;
    }
    if (rows > LIST_MAX)
        fprintf(c->out, "  ... and %d more clients\n", rows - LIST_MAX);
    if (rows == 0)
        fprintf(c->out, "  none\n");
    return 0;
}

/* Section 5: per recipient domain.  0 or -1. */
static int sec_domains(struct rctx *c)
{
    sqlite3_stmt *q;
    struct line l;
    int rc, rows = 0;

    q = prep(c, S_CTE
             "SELECT lower(r.domain) AS d, count(DISTINCT m.id) AS n FROM messages m"
             " JOIN s ON s.id = m.session_id JOIN recipients r ON r.message_id = m.id"
             " WHERE m.content_exposed != 0 GROUP BY d ORDER BY n DESC, d");
    if (!q)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_key(&c->jw, "recipient_domains");
        jw_open(&c->jw, '[');
    } else {
        title(c, "RECIPIENT DOMAINS (messages delivered in cleartext)");
    }
    ln_init(&l, REPORT_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows++;
        if (c->fmt != REP_TEXT) {
            jw_open(&c->jw, '{');
            jw_kcol(&c->jw, "domain", q, 0);
            jw_kcol(&c->jw, "cleartext_messages", q, 1);
            jw_close(&c->jw, '}');
            continue;
        }
        if (rows == 1) {
            ln_str(&l, "  DOMAIN", 10);
            ln_pad(&l, 80);
            ln_fmt(&l, "%10s", "MESSAGES");
            ln_out(&l, c->out);
        }
        if (rows > LIST_MAX)
            continue;
        ln_str(&l, "  ", 2);
        if (sqlite3_column_type(q, 0) == SQLITE_NULL)
            ln_str(&l, "(no domain)", 20);
        else
            ln_col(&l, q, 0, 76);
        ln_pad(&l, 80);
        ln_fmt(&l, "%10lld", (long long)sqlite3_column_int64(q, 1));
        ln_out(&l, c->out);
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_close(&c->jw, ']');
        return 0;
    }
    if (rows > LIST_MAX)
        fprintf(c->out, "  ... and %d more domains\n", rows - LIST_MAX);
    if (rows == 0)
        fprintf(c->out, "  No message content crossed the wire in cleartext.\n");
    return 0;
}

/* Section 6: credential exposures.  0 or -1. */
static int sec_credentials(struct rctx *c)
{
    sqlite3_stmt *q;
    struct line l;
    int rc, rows = 0;

    q = prep(c, S_CTE
             "SELECT id, start_ts, client_ip, client_port, server_ip, server_port, auth_mechanism,"
             " auth_user, auth_outcome, protection FROM s WHERE exposed_credentials != 0"
             " ORDER BY start_ts, id");
    if (!q)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_key(&c->jw, "credential_exposures");
        jw_open(&c->jw, '[');
    } else {
        title(c, "CREDENTIAL EXPOSURES");
    }
    ln_init(&l, REPORT_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows++;
        if (c->fmt != REP_TEXT) {
            struct jw *w = &c->jw;
            jw_open(w, '{');
            jw_kcol(w, "session_id", q, 0);
            jw_kcol(w, "ts", q, 1);
            jw_kcol(w, "client_ip", q, 2);
            jw_kcol(w, "client_port", q, 3);
            jw_kcol(w, "server_ip", q, 4);
            jw_kcol(w, "server_port", q, 5);
            jw_kcol(w, "mechanism", q, 6);
            jw_kcol(w, "user", q, 7);
            jw_kcol(w, "outcome", q, 8);
            jw_kcol(w, "protection", q, 9);
            jw_close(w, '}');
            continue;
        }
        if (rows > LIST_MAX)
            continue;
        /* Two lines per exposure so that nothing is cut at 100 columns. */
        ln_str(&l, "  ", 2);
        ln_ts(&l, q, 1);
        ln_fmt(&l, "  session #%lld  ", (long long)sqlite3_column_int64(q, 0));
        ln_endpoint(&l, q, 2, -1, 30);
        ln_str(&l, " -> ", 4);
        ln_endpoint(&l, q, 4, 5, 40);
        ln_out(&l, c->out);
        ln_str(&l, "      mechanism ", 16);
        ln_col(&l, q, 6, 20);
        ln_str(&l, "  outcome ", 10);
        ln_col(&l, q, 8, 20);
        ln_str(&l, "  user ", 7);
        ln_col(&l, q, 7, REPORT_COLS);
        ln_out(&l, c->out);
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_close(&c->jw, ']');
        return 0;
    }
    if (rows > LIST_MAX)
        fprintf(c->out, "  ... and %d more\n", rows - LIST_MAX);
    if (rows == 0)
        fprintf(c->out, "  No credentials were exposed.\n");
    else
        fprintf(c->out, "  (usernames and outcomes only: mailtap never stores a secret)\n");
    return 0;
}

/* Section 7: findings, attacks first, then by severity.  0 or -1. */
static int sec_findings(struct rctx *c)
{
    sqlite3_stmt *q;
    struct line l;
    int rc, rows = 0;

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
             " server_ip, server_port, msg_seq, rn, kn, ksev, katk FROM w"
             " WHERE rn <= :kmax ORDER BY katk, ksev DESC, kind, rn");
    if (!q)
        return -1;
    sqlite3_bind_int(q, sqlite3_bind_parameter_index(q, ":kmax"),
                     c->fmt != REP_TEXT ? INT32_MAX : KIND_MAX);
    if (c->fmt != REP_TEXT) {
        jw_key(&c->jw, "findings");
        jw_open(&c->jw, '[');
    } else {
        title(c, "FINDINGS");
    }
    ln_init(&l, REPORT_COLS);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t kl;
        const char *k = col_txt(q, 3, &kl);
        long long rn = sqlite3_column_int64(q, 11), kn = sqlite3_column_int64(q, 12);
        rows++;
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
            jw_bool(w, sqlite3_column_int(q, 14) == 0);
            jw_kcol(w, "ts", q, 5);
            jw_kcol(w, "evidence", q, 6);
            jw_kcol(w, "client_ip", q, 7);
            jw_kcol(w, "server_ip", q, 8);
            jw_kcol(w, "server_port", q, 9);
            jw_close(w, '}');
            continue;
        }
        if (rn == 1) {
            int ksev = sqlite3_column_int(q, 13);
            char sev[16];
            snprintf(sev, sizeof sev, "%s", mt_severity_name((enum mt_severity)ksev));
            for (char *p = sev; *p; p++)
                *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            fputc('\n', c->out);
            ln_fmt(&l, "  [%s] ", sev);
            ln_esc(&l, k ? k : "?", k ? kl : 1, 60);
            ln_fmt(&l, " (%lld)%s", kn, sqlite3_column_int(q, 14) == 0 ? "  ATTACK" : "");
            ln_out(&l, c->out);
        }
        ln_fmt(&l, "    session #%lld", (long long)sqlite3_column_int64(q, 1));
        if (sqlite3_column_type(q, 10) != SQLITE_NULL)
            ln_fmt(&l, " msg %lld", (long long)sqlite3_column_int64(q, 10));
        ln_pad(&l, 24);
        ln_ts(&l, q, 5);
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
    if (c->fmt != REP_TEXT) {
        jw_close(&c->jw, ']');
        return 0;
    }
    if (rows == 0)
        fprintf(c->out, "  No findings%s.\n",
                c->f && c->f->min_severity > 0 ? " at or above the minimum severity" : "");
    return 0;
}

/* The timeline query (buckets by :tfmt). */
#define TIMELINE_SQL                                                                   \
    S_CTE "SELECT strftime(:tfmt, start_ts, 'unixepoch') AS b, count(*),"              \
    " sum(protection IN ('starttls', 'implicit_tls')),"                                \
    " sum(protection IN ('cleartext', 'partial')) FROM s GROUP BY b ORDER BY b"

/* HTML: the timeline as horizontal stacked bars.  0 or -1. */
static int html_timeline_chart(struct rctx *c, const char *unit, long long maxn)
{
    sqlite3_stmt *q = prep(c, TIMELINE_SQL);
    FILE *f = c->out;
    int rc;

    if (!q)
        return -1;
    fprintf(f, "<p>Connections per %s (UTC): <span class=\"legend\"><span class=\"enc\">"
            "&nbsp;</span>encrypted <span class=\"clr\">&nbsp;</span>cleartext or partial "
            "<span class=\"ind\">&nbsp;</span>indeterminate</span></p>\n"
            "<table class=\"chart\">\n", unit);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t bl;
        const char *b = col_txt(q, 0, &bl);
        long long n = sqlite3_column_int64(q, 1), enc = sqlite3_column_int64(q, 2),
                  clr = sqlite3_column_int64(q, 3), oth = n - enc - clr;
        fputs("<tr><td>", f);
        html_esc(f, b ? b : "?", b ? bl : 1);
        fprintf(f, "</td><td class=\"n\">%lld</td><td style=\"width:30em\">"
                "<div class=\"bar\" style=\"width:%.2f%%\">", n, pct(n, maxn));
        if (enc > 0)
            fprintf(f, "<span class=\"enc\" style=\"width:%.2f%%\"></span>", pct(enc, n));
        if (clr > 0)
            fprintf(f, "<span class=\"clr\" style=\"width:%.2f%%\"></span>", pct(clr, n));
        if (oth > 0)
            fprintf(f, "<span class=\"ind\" style=\"width:%.2f%%\"></span>", pct(oth, n));
        fputs("</div></td></tr>\n", f);
    }
    fputs("</table>\n", f);
    return finish(c, q, rc);
}

/* Section 8: timeline of connections, encrypted vs cleartext.  0 or -1. */
static int sec_timeline(struct rctx *c, const struct overview *o)
{
    sqlite3_stmt *q;
    struct line l;
    int rc;
    const char *unit;
    long long maxn = 1;

    if (!o->has_period || o->last - o->first < 2 * 86400.0) {
        c->tfmt = "%Y-%m-%d %H:00";
        unit = "hour";
    } else if (o->last - o->first <= 92 * 86400.0) {
        c->tfmt = "%Y-%m-%d";
        unit = "day";
    } else {
        c->tfmt = "%Y-%m";
        unit = "month";
    }
    /* First pass: the largest bucket, to scale the bars. */
    if (query_ints(c, S_CTE "SELECT max(n) FROM (SELECT count(*) AS n FROM s"
                   " GROUP BY strftime(:tfmt, start_ts, 'unixepoch'))", &maxn, 1) < 0)
        return -1;
    if (maxn < 1)
        maxn = 1;
    q = prep(c, TIMELINE_SQL);
    if (!q)
        return -1;
    if (c->fmt != REP_TEXT) {
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
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long n = sqlite3_column_int64(q, 1), enc = sqlite3_column_int64(q, 2),
                  clr = sqlite3_column_int64(q, 3), oth = n - enc - clr;
        if (c->fmt != REP_TEXT) {
            struct jw *w = &c->jw;
            jw_open(w, '{');
            jw_kcol(w, "bucket", q, 0);
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
            if (sqlite3_column_type(q, 0) == SQLITE_NULL)
                ln_str(&l, "?", 1);
            else
                ln_col(&l, q, 0, 16);
            ln_pad(&l, 18);
            ln_fmt(&l, " %6lld %6lld %6lld  ", n, enc, clr);
            for (long long i = 0; i < be; i++) ln_str(&l, "=", 1);
            for (long long i = 0; i < bc; i++) ln_str(&l, "#", 1);
            for (long long i = 0; i < bo; i++) ln_str(&l, ".", 1);
            ln_out(&l, c->out);
        }
    }
    if (finish(c, q, rc) < 0)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_close(&c->jw, ']');
        jw_close(&c->jw, '}');
        if (jw_html_raw(&c->jw, "timeline"))
            return html_timeline_chart(c, unit, maxn);
    }
    return 0;
}

/* The text or JSON report, once the context is set up.  0 or -1. */
static int report_body(struct rctx *c)
{
    struct overview o;
    struct jw *w = &c->jw;

    if (gather_overview(c, &o) < 0)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_init(w, c->out, c->fmt, 1);
        jw_open(w, '{');
        jw_key(w, "mailtap_version");
        jw_cstr(w, MAILTAP_VERSION);
        jw_key(w, "filter");
        jw_open(w, '{');
        jw_key(w, "since");
        if (c->f && c->f->since != 0) jw_real(w, c->f->since, 6); else jw_null(w);
        jw_key(w, "until");
        if (c->f && c->f->until != 0) jw_real(w, c->f->until, 6); else jw_null(w);
        jw_key(w, "min_severity");
        if (c->f && c->f->min_severity >= 0)
            jw_cstr(w, mt_severity_name((enum mt_severity)c->f->min_severity));
        else
            jw_null(w);
        jw_close(w, '}');
    } else {
        fprintf(c->out, "mailtap %s - SMTP encryption audit\n", MAILTAP_VERSION);
    }
    if (sec_overview(c, &o) < 0)
        return -1;
    /* Quiet when there is nothing to say (JSON keeps its shape). */
    if (o.sessions == 0 && c->fmt == REP_TEXT)
        return 0;
    if (c->org.n) {
        if (sec_direction(c) < 0)
            return -1;
    } else if (c->fmt == REP_JSON) {
        jw_key(w, "direction");
        jw_null(w);
    }
    if (sec_servers(c) < 0 || sec_clients(c) < 0 || sec_domains(c) < 0 ||
        sec_credentials(c) < 0 || sec_findings(c) < 0 || sec_timeline(c, &o) < 0)
        return -1;
    if (c->fmt != REP_TEXT) {
        jw_close(w, '}');
        if (c->fmt == REP_JSON)
            fputc('\n', c->out);
        jw_finish(w);
    }
    return 0;
}

/* `mailtap report` (contract in reports.h): text, JSON, CSV or HTML. */
int rep_report(store_t *st, enum rep_format fmt, const struct rep_filter *f, FILE *out,
               char *errbuf, size_t errsz)
{
    struct rctx c;
    int rc = -1;

    if (ctx_init(&c, st, fmt, f, out, errbuf, errsz) < 0)
        return -1;
    if (fmt != REP_TEXT && fmt != REP_JSON && fmt != REP_CSV && fmt != REP_HTML)
        return rerr(&c, "unknown format");
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
