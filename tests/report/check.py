#!/usr/bin/env python3
"""check.py — checks of `mailtap report` output, one format per command.

    check.py text   REPORT.txt
    check.py json   REPORT.json SCHEMA.json
    check.py csv    REPORT.csv  REPORT.json          (all tables in one stream)
    check.py table  DIR         REPORT.json          (one plain CSV file per table)
    check.py html   REPORT.html REPORT.json          (the file mailtap wrote)
    check.py dom    DOM.html    REPORT.json          (chromium --dump-dom of it)
    check.py png    FILE.png    MIN_WIDTH MIN_HEIGHT
    check.py golden-filter VERSION < IN > OUT        (wall clock and version out)

Each prints one line per failed check ("FAIL <what>: <why>") and exits 1 if
any failed, 0 otherwise.  Standard library only.
"""

import csv
import html.parser
import io
import json
import os
import re
import struct
import sys
import unicodedata

FAILS = []
WIDTH = 100

# Strings the hostile captures (tests/pcaps/make_hostile.py) put on the wire.
# When the report covers those captures, each must be visible, escaped, as
# text - never dropped, never live.
HOSTILE_TEXT = [
    "<script>document.title='PWNED';alert(1)</script>",
    "\"><img src=x onerror=alert(1)>'",
    '=HYPERLINK("http://x")',
]


def fail(what, why):
    FAILS.append("FAIL %s: %s" % (what, why))


def done():
    for f in FAILS:
        print(f)
    sys.exit(1 if FAILS else 0)


def disp_width(s):
    """Terminal columns of s: East Asian wide/fullwidth 2, combining marks
    and format characters 0, the rest 1."""
    w = 0
    for ch in s:
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            w += 2
        elif unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            w += 0
        else:
            w += 1
    return w


def bad_chars(s):
    """Characters that must never reach a terminal or a page raw: C0/C1
    controls (but LF), DEL, bidi controls and other invisible format
    characters, U+FFFD (a sign of lost bytes)."""
    out = []
    for ch in s:
        o = ord(ch)
        if (o < 0x20 and ch != "\n") or 0x7f <= o <= 0x9f or o == 0xfffd:
            out.append(ch)
        elif unicodedata.category(ch) == "Cf":
            out.append(ch)
    return out


# ---- text ------------------------------------------------------------------

def check_text(path):
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("text", "not UTF-8: %s" % e)
        return
    if "\x1b" in text:
        fail("text", "ESC in the output (not a terminal: no colour, and no captured escape)")
    lines = text.split("\n")
    for n, line in enumerate(lines, 1):
        bad = bad_chars(line)
        if bad:
            fail("text line %d" % n, "raw control/format characters %r" % sorted(set(bad))[:5])
        w = disp_width(line)
        if w > WIDTH:
            fail("text line %d" % n, "%d columns wide (max %d): %s" % (w, WIDTH, line[:60]))
    # Aligned tables: every data row of these sections ends in the same
    # display column as the section's header row (numbers are right-aligned
    # to it), however wide the captured strings before them are.
    sections = {"SERVERS": r"\d$", "RECIPIENT DOMAINS": r"\d$", "DIRECTION": r"\d$"}
    for title, row_re in sections.items():
        try:
            start = next(i for i, l in enumerate(lines) if l.startswith(title))
        except StopIteration:
            continue
        body = []
        for l in lines[start + 2:]:
            if not l.strip():
                break
            body.append(l)
        if not body:
            continue
        hdrs = [i for i, l in enumerate(body) if re.search(r"[A-Z]{4,}$", l.rstrip())]
        if not hdrs:
            fail("text %s" % title, "no header row")
            continue
        hdr_end = disp_width(body[hdrs[0]].rstrip())
        rows = [l for l in body[hdrs[0] + 1:] if l.startswith("  ") and re.search(row_re, l)
                and not l.lstrip().startswith("...")]
        for l in rows:
            if disp_width(l.rstrip()) != hdr_end:
                fail("text %s" % title, "row ends at column %d, header at %d: %s"
                     % (disp_width(l.rstrip()), hdr_end, l.strip()[:60]))
    # CLIENTS: the numbers sit in fixed columns whatever the address.
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("CLIENTS"))
        hdr = lines[start + 2]
        conn_end = disp_width(hdr[:hdr.index("CONN") + 4])
        creds_end = disp_width(hdr[:hdr.index("CREDS") + 5])
        for l in lines[start + 3:]:
            if not l.startswith("  ") or l.startswith("  NO TLS") or l.startswith("  ...") \
                    or not l.strip():
                break
            m = re.match(r"(  \S+ +\d+ +\d+ +\d+ +\d+)", l)
            if not m or disp_width(m.group(1)) != creds_end:
                fail("text CLIENTS", "numbers not aligned with the header: %s" % l.strip()[:60])
            if m and disp_width(re.match(r"  \S+ +\d+", l).group(0)) != conn_end:
                fail("text CLIENTS", "CONN not aligned: %s" % l.strip()[:60])
    except (StopIteration, ValueError, IndexError):
        pass


# ---- JSON --------------------------------------------------------------------

class Schema:
    """The subset of JSON Schema report.schema.json uses: type, const,
    enum, properties, required, additionalProperties: false, items, oneOf,
    minimum, maximum, $ref to #/$defs/..."""

    def __init__(self, root):
        self.root = root
        self.errors = []

    def err(self, where, why):
        if len(self.errors) < 30:
            self.errors.append("%s: %s" % (where or "$", why))

    def type_ok(self, t, v):
        return {
            "null": v is None,
            "boolean": isinstance(v, bool),
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, (int, float)) and not isinstance(v, bool),
            "string": isinstance(v, str),
            "array": isinstance(v, list),
            "object": isinstance(v, dict),
        }[t]

    def check(self, s, v, where=""):
        if "$ref" in s:
            ref = s["$ref"]
            assert ref.startswith("#/$defs/")
            s = dict(self.root["$defs"][ref[8:]], **{k: x for k, x in s.items() if k != "$ref"})
        if "oneOf" in s:
            ok = 0
            for sub in s["oneOf"]:
                saved = self.errors
                self.errors = []
                self.check(sub, v, where)
                ok += not self.errors
                self.errors = saved
            if ok != 1:
                self.err(where, "matches %d of oneOf" % ok)
            return
        if "const" in s and v != s["const"]:
            self.err(where, "%r is not %r" % (v, s["const"]))
        if "enum" in s and v not in s["enum"]:
            self.err(where, "%r not in %r" % (v, s["enum"]))
        if "type" in s:
            types = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not any(self.type_ok(t, v) for t in types):
                self.err(where, "%r is not %s" % (v if not isinstance(v, (dict, list)) else type(v).__name__, types))
                return
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in s and v < s["minimum"]:
                self.err(where, "%r < %r" % (v, s["minimum"]))
            if "maximum" in s and v > s["maximum"]:
                self.err(where, "%r > %r" % (v, s["maximum"]))
        if isinstance(v, dict):
            props = s.get("properties", {})
            for k in s.get("required", []):
                if k not in v:
                    self.err(where, "missing key %r" % k)
            for k, x in v.items():
                if k in props:
                    self.check(props[k], x, where + "." + k)
                elif s.get("additionalProperties", True) is False:
                    self.err(where, "undocumented key %r" % k)
        if isinstance(v, list) and "items" in s:
            for i, x in enumerate(v):
                self.check(s["items"], x, "%s[%d]" % (where, i))


def load_json(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        fail("json", "does not parse: %s" % e)
        return None


def check_json(path, schema_path):
    raw = open(path, "rb").read()
    bad = [c for c in raw if c < 0x20 and c not in (0x0a,)]
    if bad:
        fail("json", "raw control bytes in the file: %r" % sorted(set(bad))[:5])
    d = load_json(path)
    if d is None:
        return
    sch = Schema(json.load(open(schema_path)))
    sch.check(sch.root, d)
    for e in sch.errors:
        fail("json schema", e)
    if sch.errors:
        return
    o = d["overview"]
    n = o["sessions"]
    prot = sum(x["sessions"] for x in o["protection"].values())
    if prot != n:
        fail("json", "protection shares add up to %d, sessions %d" % (prot, n))
    if len(d["messages"]) != o["cleartext_messages"]:
        fail("json", "%d messages listed, overview says %d" % (len(d["messages"]), o["cleartext_messages"]))
    if len(d["credential_exposures"]) != o["sessions_credentials_exposed"]:
        fail("json", "%d credential exposures listed, overview says %d"
             % (len(d["credential_exposures"]), o["sessions_credentials_exposed"]))
    if d["filter"]["min_severity"] is None and \
            sum(1 for f in d["findings"] if f["attack"]) != o["attack_findings"]:
        fail("json", "attack findings listed differ from overview.attack_findings")
    sev = sum(o["findings_by_severity"].values())
    if d["filter"]["min_severity"] is None and len(d["findings"]) != sev:
        fail("json", "%d findings listed, overview says %d" % (len(d["findings"]), sev))
    for key, name in (("servers", "sessions"), ("clients", "sessions")):
        t = sum(x[name] for x in d[key])
        if t != n:
            fail("json", "%s add up to %d sessions, overview says %d" % (key, t, n))
    t = sum(b["sessions"] for b in d["timeline"]["buckets"])
    if t != n:
        fail("json", "timeline adds up to %d sessions, overview says %d" % (t, n))
    # Documented orders: servers and clients by cleartext messages first.
    keys = [(-x["cleartext_messages"], -(x["cleartext"] + x["partial"]), -x["sessions"],
             x["server_ip"].encode(), x["server_port"]) for x in d["servers"]]
    if keys != sorted(keys):
        fail("json", "servers not in the documented order")
    keys = [(-x["cleartext_messages"], -x["sessions_credentials_exposed"], -x["never_tried_tls"],
             -x["sessions"], x["client_ip"].encode()) for x in d["clients"]]
    if keys != sorted(keys):
        fail("json", "clients not in the documented order")
    labels = [b["bucket"] for b in d["timeline"]["buckets"]]
    if labels != sorted(labels) or len(set(labels)) != len(labels):
        fail("json", "timeline buckets not in order or repeated")
    for b in d["timeline"]["buckets"]:
        if b["encrypted"] + b["cleartext"] + b["indeterminate"] != b["sessions"]:
            fail("json", "timeline bucket %s does not add up" % b["bucket"])
    for s in d["servers"]:
        parts = s["cleartext"] + s["partial"] + s["starttls"] + s["implicit_tls"] + s["indeterminate"]
        if parts != s["sessions"]:
            fail("json", "server %s:%s protections do not add up" % (s["server_ip"], s["server_port"]))
    # Strings: no raw control or format characters survive JSON decoding
    # except those mailtap wrote as \u escapes (invisible/bidi: allowed in
    # decoded JSON, they were escaped in the file).
    text = raw.decode("utf-8")
    for ch in text:
        if unicodedata.category(ch) == "Cf" or 0x80 <= ord(ch) <= 0x9f:
            fail("json", "raw format/C1 character U+%04X in the file" % ord(ch))
            break


# ---- CSV ---------------------------------------------------------------------

NUM_RE = re.compile(r"^-?\d+(\.\d+)?$")


def formula_like(cell):
    """What a spreadsheet may run: a first non-blank character = + - @ (or
    their fullwidth forms), or a leading TAB or CR."""
    if cell[:1] in ("\t", "\r"):
        return True
    c = cell.lstrip(" ")[:1]
    return c != "" and c in "=+-@\uff1d\uff0b\uff0d\uff20"


def cell_ok(cell, quoted):
    """A cell a spreadsheet will not run (neutralised cells start with ')."""
    return not formula_like(cell)


def csv_rows(raw):
    """Rows of a CSV text, each a list of (cell, was_quoted)."""
    text = raw.decode("utf-8")
    out = []
    for line_rows in csv.reader(io.StringIO(text, newline="")):
        out.append(line_rows)
    # was_quoted: recover from the raw lines (our rows never span lines:
    # a newline inside a value is escaped as \x0a).
    quoted = []
    for line in text.split("\n"):
        if line == "":
            quoted.append(None)
            continue
        flags, i, n = [], 0, len(line)
        while i <= n:
            if i < n and line[i] == '"':
                j = i + 1
                while j < n:
                    if line[j] == '"' and j + 1 < n and line[j + 1] == '"':
                        j += 2
                    elif line[j] == '"':
                        break
                    else:
                        j += 1
                flags.append(True)
                i = j + 2
            else:
                j = line.find(",", i)
                j = n if j < 0 else j
                flags.append(False)
                i = j + 1
        quoted.append(flags)
    return out, quoted


def check_csv_text(what, raw):
    """Common CSV checks; returns the parsed rows (list of cell lists)."""
    bad = [c for c in raw if (c < 0x20 and c != 0x0a) or c == 0x7f]
    if bad:
        fail(what, "raw control bytes: %r" % sorted(set(bad))[:5])
    try:
        rows, quoted = csv_rows(raw)
    except (csv.Error, UnicodeDecodeError) as e:
        fail(what, "does not parse: %s" % e)
        return []
    lines = [q for q in quoted if q is not None]
    nonempty = [r for r in rows if r]
    if len(lines) != len(nonempty):
        fail(what, "a record spans lines (%d lines, %d records)" % (len(lines), len(nonempty)))
        lines = [[True] * len(r) for r in nonempty]
    for r, q in zip(nonempty, lines):
        if len(q) != len(r):
            q = [True] * len(r)
        for cell, qu in zip(r, q):
            if not cell_ok(cell, qu):
                fail(what, "cell a spreadsheet would run as a formula: %r" % cell[:60])
            if bad_chars(cell):
                fail(what, "raw control/format characters in cell %r" % cell[:40])
    return rows


def unneutral(cell):
    """The value a neutralised cell stands for."""
    if cell.startswith("'") and formula_like(cell[1:]):
        return cell[1:]
    return cell


def json_cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return None             # formatting differs; not compared
    return str(v)


def compare_table(what, header, rows, items):
    """CSV rows (without the section column) against the JSON list."""
    if items and header != list(items[0].keys()):
        fail(what, "header %r differs from the JSON keys %r" % (header, list(items[0].keys())))
        return
    if len(rows) != len(items):
        fail(what, "%d rows, JSON has %d" % (len(rows), len(items)))
        return
    for r, it in zip(rows, items):
        for cell, (k, v) in zip(r, it.items()):
            want = json_cell(v)
            if want is None:
                continue
            got = unneutral(cell)
            if got != want and not (isinstance(v, str) and cell == want):
                # JSON decodes \uXXXX escapes; CSV keeps them as text.
                if isinstance(v, str) and json.dumps(v, ensure_ascii=False) != json.dumps(got, ensure_ascii=False):
                    esc = "".join("\\u%04x" % ord(ch) if unicodedata.category(ch) == "Cf"
                                  or 0x80 <= ord(ch) <= 0x9f else ch for ch in v)
                    if got != esc:
                        fail(what, "%s: %r, JSON %r" % (k, got[:50], v[:50]))
                        return


def check_csv(path, json_path):
    raw = open(path, "rb").read()
    rows = check_csv_text("csv", raw)
    d = load_json(json_path)
    if not rows or d is None:
        return
    # Blocks: a header row starting with "section", its rows, a blank line.
    blocks, cur = [], None
    for r in rows:
        if not r:
            cur = None
            continue
        if cur is None:
            if r[0] != "section":
                fail("csv", "block does not start with a header row: %r" % r[:3])
                return
            cur = {"header": r, "rows": []}
            blocks.append(cur)
            continue
        if len(r) != len(cur["header"]):
            fail("csv", "row of %d cells under a header of %d: %r" % (len(r), len(cur["header"]), r[:3]))
        cur["rows"].append(r)
    tables = {}
    for b in blocks:
        if b["header"] == ["section", "key", "value"]:
            continue
        if not b["rows"]:
            continue
        tables[b["rows"][0][0]] = b
    for name, key in (("servers", "servers"), ("clients", "clients"),
                      ("recipient_domains", "recipient_domains"), ("messages", "messages"),
                      ("credential_exposures", "credential_exposures"), ("findings", "findings"),
                      ("timeline.buckets", None), ("captures", "captures")):
        items = d["timeline"]["buckets"] if key is None else d[key]
        b = tables.get(name)
        if not items:
            if b:
                fail("csv", "table %s has rows, JSON has none" % name)
            continue
        if not b:
            fail("csv", "table %s missing" % name)
            continue
        compare_table("csv " + name, b["header"][1:], [r[1:] for r in b["rows"]], items)
    kv = {(r[0], r[1]): r[2] for b in blocks if b["header"] == ["section", "key", "value"]
          for r in b["rows"]}
    if kv.get(("overview", "sessions")) != str(d["overview"]["sessions"]):
        fail("csv", "overview sessions %r, JSON %r" % (kv.get(("overview", "sessions")),
                                                        d["overview"]["sessions"]))


def check_table_dir(path, json_path):
    d = load_json(json_path)
    if d is None:
        return
    names = ["overview", "servers", "clients", "recipient_domains", "messages",
             "credential_exposures", "findings", "timeline", "captures"]
    for name in names:
        p = os.path.join(path, name + ".csv")
        if not os.path.exists(p):
            fail("csv table", "%s.csv missing" % name)
            continue
        raw = open(p, "rb").read()
        rows = [r for r in check_csv_text("csv table " + name, raw) if r]
        if not rows:
            fail("csv table " + name, "empty file (not even a header)")
            continue
        header, body = rows[0], rows[1:]
        for r in body:
            if len(r) != len(header):
                fail("csv table " + name, "row of %d cells under a header of %d" % (len(r), len(header)))
                break
        if name == "overview":
            if header != ["section", "key", "value"]:
                fail("csv table overview", "header %r" % header)
            continue
        items = d["timeline"]["buckets"] if name == "timeline" else d[name]
        if items:
            compare_table("csv table " + name, header, body, items)
        elif body:
            fail("csv table " + name, "rows, JSON has none")


# ---- HTML --------------------------------------------------------------------

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "footer", "nav", "div", "span",
    "p", "h1", "h2", "h3", "a", "br", "wbr", "small", "table", "thead", "tbody", "tr", "th",
    "td", "svg", "g", "rect", "text", "tspan", "line",
}
ALLOWED_ATTRS = {
    "lang", "charset", "name", "content", "http-equiv", "class", "id", "colspan", "href",
    "viewbox", "role", "aria-label", "aria-hidden", "x", "y", "x1", "y1", "x2", "y2", "width",
    "height", "fill", "stroke", "font-size", "text-anchor",
}
VOID = {"meta", "br", "wbr", "rect", "line"}


class Page(html.parser.HTMLParser):
    """Every element and attribute of a page, its text, and structure
    errors (unbalanced tags)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []          # (tag, attrs dict)
        self.stack = []
        self.errors = []
        self.text = []
        self.by_id = {}
        self.title = None
        self._in_title = False
        self._svg_depth = 0
        self._cur_id = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        self.elements.append((tag, a))
        if tag == "title" and not self.stack_has("svg"):
            self._in_title = True
            self.title = ""
        if "id" in a:
            self.by_id[a["id"]] = {"tag": tag, "text": []}
        if tag not in VOID:
            self.stack.append((tag, a.get("id")))

    def handle_startendtag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        self.elements.append((tag, a))
        if "id" in a:
            self.by_id[a["id"]] = {"tag": tag, "text": []}

    def stack_has(self, tag):
        return any(t == tag for t, _ in self.stack)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append("unexpected </%s> (open: %s)" % (tag, [t for t, _ in self.stack[-3:]]))
            # recover: pop to the matching tag if any
            for i in range(len(self.stack) - 1, -1, -1):
                if self.stack[i][0] == tag:
                    del self.stack[i:]
                    break
            return
        if tag == "title":
            self._in_title = False
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self._in_title:
            self.title += data
        for _, i in self.stack:
            if i in self.by_id:
                self.by_id[i]["text"].append(data)


def parse_page(path):
    raw = open(path, "rb").read()
    try:
        src = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("html", "not UTF-8: %s" % e)
        return None, ""
    p = Page()
    p.feed(src)
    p.close()
    return p, src


def id_number(p, ident):
    t = "".join(p.by_id.get(ident, {}).get("text", []))
    m = re.search(r"\d+", t)
    return int(m.group(0)) if m else None


def check_page(what, p, src, d, strict):
    """strict: the file as written (structure checks); else a browser's DOM."""
    for tag, a in p.elements:
        if tag not in ALLOWED_TAGS:
            fail(what, "element <%s> (not one mailtap writes)" % tag)
        for k, v in a.items():
            if k.startswith("on"):
                fail(what, "event handler attribute %s=%r on <%s>" % (k, v[:40], tag))
            elif k not in ALLOWED_ATTRS:
                fail(what, "attribute %s=%r on <%s> (not one mailtap writes)" % (k, v[:40], tag))
            if k in ("href", "src", "xlink:href", "action", "formaction"):
                if not v.startswith("#"):
                    fail(what, "%s=%r on <%s>: not an in-page link" % (k, v[:60], tag))
            if "javascript:" in v.lower().replace(" ", ""):
                fail(what, "javascript: URL in %s on <%s>" % (k, tag))
            if k == "style":
                fail(what, "style attribute on <%s>" % tag)
    tags = [t for t, _ in p.elements]
    for t in ("script", "img", "iframe", "object", "embed", "link", "base", "form", "input"):
        if t in tags:
            fail(what, "<%s> present" % t)
    if p.title != "mailtap: SMTP encryption audit":
        fail(what, "title is %r (a script ran?)" % p.title)
    if strict:
        if not src.startswith("<!DOCTYPE html>"):
            fail(what, "no <!DOCTYPE html>")
        for e in p.errors[:5]:
            fail(what, "structure: " + e)
        if p.stack:
            fail(what, "unclosed elements: %s" % [t for t, _ in p.stack])
        csp = [a for t, a in p.elements if t == "meta" and a.get("http-equiv", "").lower() ==
               "content-security-policy"]
        if not csp or "default-src 'none'" not in csp[0].get("content", ""):
            fail(what, "no Content-Security-Policy forbidding scripts and external loads")
        if "@media print" not in src:
            fail(what, "no print style")
        if re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", src, re.I) or "@import" in src or \
                "url(" in src:
            fail(what, "an external reference")
    if d is None:
        return
    o = d["overview"]
    if o["sessions"] > 0:
        for chart in ("chart-protection", "chart-servers", "chart-timeline"):
            if chart not in p.by_id or p.by_id[chart]["tag"] != "svg":
                fail(what, "no inline <svg id=%s> chart" % chart)
        nrect = sum(1 for t, a in p.elements if t == "rect")
        if nrect < 5:
            fail(what, "charts have only %d bars" % nrect)
        for ident, want in (("fig-sessions", o["sessions"]),
                            ("fig-cleartext-messages", o["cleartext_messages"]),
                            ("fig-credentials", o["sessions_credentials_exposed"]),
                            ("fig-critical", o["findings_by_severity"]["critical"]),
                            ("fig-attacks", o["attack_findings"])):
            got = id_number(p, ident)
            if got != want:
                fail(what, "key figure %s shows %r, JSON says %r" % (ident, got, want))
    text = "".join(p.text)
    if o["summary"] not in text:
        fail(what, "summary sentence missing")
    bad = bad_chars(text.replace("\t", " "))
    if bad:
        fail(what, "raw control/format characters in the page text: %r" % sorted(set(bad))[:5])
    # Captured strings are shown as text: the hostile payloads are in the
    # page's text (escaped in the source), whenever the report covers them.
    covered = json.dumps(d, ensure_ascii=False)
    if max(len(d[k]) for k in ("servers", "clients", "messages", "credential_exposures")) > 500:
        covered = ""            # the HTML shortens long lists: not all shown
    for h in HOSTILE_TEXT:
        if json.dumps(h, ensure_ascii=False)[1:-1] in covered and h not in text:
            fail(what, "captured string %r not shown as text" % h)
    for srv in d["servers"][:20]:
        if srv["banner_host"] and len(srv["banner_host"]) < 40 and \
                not any(unicodedata.category(ch) == "Cf" for ch in srv["banner_host"]) and \
                srv["banner_host"] not in text:
            fail(what, "server host %r not shown" % srv["banner_host"])


def check_html(path, json_path):
    p, src = parse_page(path)
    if p is None:
        return
    check_page("html", p, src, load_json(json_path), True)


def check_dom(path, json_path):
    p, src = parse_page(path)
    if p is None:
        return
    if "PWNED" in (p.title or ""):
        fail("browser", "a captured script ran: the title is %r" % p.title)
    check_page("browser DOM", p, src, load_json(json_path), False)


# ---- PNG ---------------------------------------------------------------------

def check_png(path, min_w, min_h):
    try:
        raw = open(path, "rb").read()
    except OSError as e:
        fail("png", str(e))
        return
    if raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        fail("png", "%s is not a PNG" % path)
        return
    w, h = struct.unpack(">II", raw[16:24])
    if w < int(min_w) or h < int(min_h):
        fail("png", "%dx%d, want at least %sx%s" % (w, h, min_w, min_h))
    if len(raw) < 20000:
        fail("png", "only %d bytes: a blank page?" % len(raw))


# ---- golden filter -------------------------------------------------------------

def golden_filter(version):
    """Replaces what changes from run to run or release to release: the
    analysis wall clock (captures.analysed_at) and the mailtap version."""
    data = sys.stdin.read()
    data = re.sub(r'("analysed_at": )"[^"]*"', r'\1"(wall clock)"', data)
    data = re.sub(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"(\r?)$', r'"(wall clock)"\1', data,
                  flags=re.M)                   # CSV: the last cell of a captures row
    data = data.replace(version, "VERSION")
    sys.stdout.write(data)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "golden-filter":
        golden_filter(args[0])
        return 0
    {"text": check_text, "json": check_json, "csv": check_csv, "table": check_table_dir,
     "html": check_html, "dom": check_dom, "png": check_png}[cmd](*args)
    done()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
