#!/bin/sh
# run.sh MAILTAP [--update] — tests of `mailtap report` (text, JSON, CSV, HTML).
#
# Analyses every capture of tests/pcaps into a temporary database and checks
# the four formats with check.py: the text fits 100 columns (display width),
# has no control characters and stays aligned; the JSON parses and follows
# report.schema.json and its figures add up; the CSV parses, its tables
# match the JSON and no cell can run as a spreadsheet formula; the HTML has
# no element or attribute from captured data, no script, no external
# reference, has its inline SVG charts and key figures.  Then variants
# (--org-net, filters, an empty database), golden reports for two fixed
# inputs (golden/NAME.txt|json|csv, wall clock and version filtered out),
# the CSV table API (csv_tables.c, built against the libraries), and a real
# browser: headless chromium renders the HTML to a PNG and dumps its DOM,
# which must still hold the charts and figures with no captured script run
# (skipped with a message when /usr/bin/chromium is missing).
#
# --update rewrites the golden files from the current output (review the
# diff by hand before keeping it).  Last line: "report: N passed, N failed".
set -u
mailtap=$1
update=${2:-}
case $mailtap in /*) ;; *) mailtap=$(pwd)/$mailtap ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pcaps=$root/tests/pcaps
check="python3 $here/check.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0

ok()  { pass=$((pass + 1)); }
bad() { echo "FAIL report $1"; fail=$((fail + 1)); }
# t NAME CMD...: runs a check; its output (FAIL lines) is shown on failure.
t() {
    name=$1; shift
    if "$@" >"$tmp/out" 2>&1; then ok; else bad "$name:"; sed -n '1,25s/^/    /p' "$tmp/out"; fi
}
# analyze DB FILE...: analyses captures of tests/pcaps (by relative name,
# so that captures.source does not depend on the checkout's path).
analyze() {
    db=$1; shift
    (cd "$pcaps" && "$mailtap" analyze -q -d "$db" "$@") >"$tmp/analyze.out" 2>&1
}
# report DB OUT ARGS...: mailtap report into OUT; a failure is reported.
report() {
    db=$1; out=$2; shift 2
    "$mailtap" report -d "$db" "$@" >"$out" 2>"$tmp/report.err"
    rc=$?
    [ "$rc" -eq 0 ] && return 0
    bad "mailtap report $*: exit $rc: $(head -c 300 "$tmp/report.err")"
    return 1
}

version=$("$mailtap" --version 2>/dev/null | head -n 1 | sed 's/^mailtap //')
[ -n "$version" ] || version=unknown

# ---- every bundled capture ---------------------------------------------------
all=$tmp/all.db
(cd "$pcaps" && ls *.pcap *.pcapng) >"$tmp/list"
# shellcheck disable=SC2046
analyze "$all" $(cat "$tmp/list")
n=$(sqlite3 "$all" "SELECT count(*) FROM sessions" 2>/dev/null || echo 0)
if [ "${n:-0}" -gt 0 ]; then ok; else bad "analyze of tests/pcaps: no sessions: $(head -c 300 "$tmp/analyze.out")"; fi

report "$all" "$tmp/all.txt" --format text &&
    t "text (all captures)" $check text "$tmp/all.txt"
report "$all" "$tmp/all.json" --format json &&
    t "json (all captures)" $check json "$tmp/all.json" "$here/report.schema.json"
report "$all" "$tmp/all.csv" --format csv &&
    t "csv (all captures)" $check csv "$tmp/all.csv" "$tmp/all.json"
report "$all" /dev/null --format html -o "$tmp/all.html" &&
    t "html (all captures)" $check html "$tmp/all.html" "$tmp/all.json"
# The default format is text.
report "$all" "$tmp/default.txt" && cmp -s "$tmp/default.txt" "$tmp/all.txt" && ok ||
    bad "default format differs from --format text"

# ---- variants ----------------------------------------------------------------
org="--org-net 192.0.2.0/24 --org-net 203.0.113.0/24 --org-net 2001:db8::/48"
# shellcheck disable=SC2086
{
    report "$all" "$tmp/org.txt" --format text $org &&
        t "text --org-net" $check text "$tmp/org.txt"
    report "$all" "$tmp/org.json" --format json $org &&
        t "json --org-net" $check json "$tmp/org.json" "$here/report.schema.json"
    report "$all" /dev/null --format html $org -o "$tmp/org.html" &&
        t "html --org-net" $check html "$tmp/org.html" "$tmp/org.json"
    report "$all" "$tmp/org.csv" --format csv $org &&
        t "csv --org-net" $check csv "$tmp/org.csv" "$tmp/org.json"
}
grep -q '^DIRECTION' "$tmp/org.txt" && ok || bad "text --org-net: no DIRECTION section"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["direction"] and d["direction"]["outbound"]["sessions"] > 0 else 1)' "$tmp/org.json" &&
    ok || bad "json --org-net: no outbound sessions in direction"

report "$all" "$tmp/period.json" --format json --since 2023-11-16 --until 2023-11-17 &&
    t "json --since/--until" $check json "$tmp/period.json" "$here/report.schema.json"
report "$all" /dev/null --format html --since 2023-11-16 --until 2023-11-17 -o "$tmp/period.html" &&
    t "html --since/--until" $check html "$tmp/period.html" "$tmp/period.json"
report "$all" "$tmp/high.txt" --format text --min-severity high &&
    t "text --min-severity high" $check text "$tmp/high.txt"
if grep -Eq '^  \[(MEDIUM|LOW|INFO)\]' "$tmp/high.txt"; then
    bad "text --min-severity high lists lower findings"
else ok; fi

# An empty database (a capture with no SMTP in it): quiet, valid.
printf '\324\303\262\241\002\000\004\000\000\000\000\000\000\000\000\000\377\377\000\000\001\000\000\000' \
    >"$tmp/empty.pcap"
(cd "$tmp" && "$mailtap" analyze -q -d "$tmp/empty.db" empty.pcap) >/dev/null 2>&1
report "$tmp/empty.db" "$tmp/empty.json" --format json &&
    t "json (empty database)" $check json "$tmp/empty.json" "$here/report.schema.json"
report "$tmp/empty.db" /dev/null --format html -o "$tmp/empty.html" &&
    t "html (empty database)" $check html "$tmp/empty.html" "$tmp/empty.json"
report "$tmp/empty.db" "$tmp/empty.txt" --format text &&
    t "text (empty database)" $check text "$tmp/empty.txt"
grep -q 'No SMTP connection was recorded' "$tmp/empty.txt" && ok ||
    bad "text (empty database): no plain statement"

# ---- hostile captures alone --------------------------------------------------
hos=$tmp/hostile.db
analyze "$hos" h_hostile_strings.pcap h_hostile_long.pcap
for fmt in text json csv html; do
    report "$hos" "$tmp/hostile.$fmt" --format $fmt || continue
done
t "text (hostile)" $check text "$tmp/hostile.text"
t "json (hostile)" $check json "$tmp/hostile.json" "$here/report.schema.json"
t "csv (hostile)" $check csv "$tmp/hostile.csv" "$tmp/hostile.json"
t "html (hostile)" $check html "$tmp/hostile.html" "$tmp/hostile.json"
# The payloads are there, neutralised: escaped markup in the page, quoted
# formulas in the CSV, escaped bytes in the text.
sed 's/<wbr>//g' "$tmp/hostile.html" >"$tmp/hostile.nowbr"
grep -q "&lt;script&gt;document.title=&#39;PWNED&#39;" "$tmp/hostile.nowbr" && ok ||
    bad "html (hostile): the <script> payload is not shown escaped"
grep -q "\"'=HYPERLINK(\"\"http://x\"\")\"" "$tmp/hostile.csv" && ok ||
    bad "csv (hostile): =HYPERLINK not neutralised with a quote"
grep -q 'usernul\\x00byte\\xff\\xfe\\xc0\\xaf\\x1b\[31mred' "$tmp/hostile.text" && ok ||
    bad "text (hostile): control bytes of the username not shown escaped"
grep -q '2J\\u202eevil' "$tmp/hostile.nowbr" && ok ||
    bad "html (hostile): the bidi override is not escaped as \\u202e"

# ---- CSV: one table, one file per table (reports API) ------------------------
libdir=$(dirname "$mailtap")
[ -f "$libdir/libreports.a" ] || libdir=$root/build
sanfl=""
case $libdir in *build-san*) sanfl="-fsanitize=address,undefined" ;; esac
if [ -f "$libdir/libreports.a" ] && [ -f "$libdir/libstore.a" ] && [ -f "$libdir/libdissect.a" ]; then
    # shellcheck disable=SC2046
    if ${CC:-cc} -std=c11 -D_GNU_SOURCE $sanfl -I"$root" -o "$tmp/csv_tables" "$here/csv_tables.c" \
        "$libdir/libreports.a" "$libdir/libstore.a" "$libdir/libdissect.a" \
        $(pkg-config --libs libpcap libndpi sqlite3 libssl libcrypto 2>/dev/null) -lm \
        >"$tmp/cc.out" 2>&1; then
        ok
        "$tmp/csv_tables" "$all" "$tmp/tables" >"$tmp/ct.out" 2>&1 && ok ||
            bad "rep_report_csv_dir: $(head -c 300 "$tmp/ct.out")"
        t "csv tables (all captures)" $check table "$tmp/tables" "$tmp/all.json"
        "$tmp/csv_tables" "$hos" "$tmp/htables" >"$tmp/ct.out" 2>&1 && ok ||
            bad "rep_report_csv_dir (hostile): $(head -c 300 "$tmp/ct.out")"
        t "csv tables (hostile)" $check table "$tmp/htables" "$tmp/hostile.json"
        "$tmp/csv_tables" "$tmp/empty.db" "$tmp/etables" >"$tmp/ct.out" 2>&1 && ok ||
            bad "rep_report_csv_dir (empty database): $(head -c 300 "$tmp/ct.out")"
        t "csv tables (empty database: headers only)" $check table "$tmp/etables" "$tmp/empty.json"
        "$tmp/csv_tables" "$all" - servers >"$tmp/servers.csv" 2>"$tmp/ct.out" &&
            cmp -s "$tmp/servers.csv" "$tmp/tables/servers.csv" && ok ||
            bad "rep_report_csv_table servers differs from the directory's servers.csv"
        if "$tmp/csv_tables" "$all" - nosuchtable >/dev/null 2>"$tmp/ct.out"; then
            bad "rep_report_csv_table accepted an unknown table"
        elif grep -q 'unknown table' "$tmp/ct.out"; then ok; else
            bad "rep_report_csv_table unknown table: $(head -c 200 "$tmp/ct.out")"
        fi
    else
        bad "building csv_tables.c: $(head -c 400 "$tmp/cc.out")"
    fi
else
    echo "SKIP report csv tables: no built libraries in $libdir"
fi

# ---- golden reports ----------------------------------------------------------
# golden/NAME.* come from fixed inputs; everything in them is packet time
# except captures.analysed_at (wall clock), filtered out with the version.
golden() {
    name=$1; shift
    db=$tmp/g_$name.db
    analyze "$db" "$@"
    for fmt in txt json csv; do
        f=$fmt; [ "$fmt" = txt ] && f=text
        report "$db" "$tmp/g.raw" --format $f || continue
        $check golden-filter "$version" <"$tmp/g.raw" >"$tmp/g_$name.$fmt"
        if [ "$update" = "--update" ]; then
            cp "$tmp/g_$name.$fmt" "$here/golden/$name.$fmt"
            echo "updated golden/$name.$fmt"
        fi
        if diff -u "$here/golden/$name.$fmt" "$tmp/g_$name.$fmt" >"$tmp/g.diff" 2>&1; then
            ok
        else
            bad "golden $name.$fmt:"; sed -n '1,40s/^/    /p' "$tmp/g.diff"
        fi
    done
}
golden mixed s05_mixed_protection.pcap s08_auth_matrix.pcap f_smtputf8.pcap \
    s06_inject_cmd_same_segment.pcap
golden hostile h_hostile_strings.pcap h_hostile_long.pcap

# ---- a real browser ----------------------------------------------------------
chromium=/usr/bin/chromium
if [ -x "$chromium" ]; then
    # render FILE.html OUT_PREFIX: a PNG screenshot and the DOM after load.
    render() {
        prof=$(mktemp -d)
        set -- "$1" "$2" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --user-data-dir="$prof"
        src=$1; out=$2; shift 2
        timeout 120 "$chromium" "$@" --hide-scrollbars --screenshot="$out.png" \
            --window-size=1280,2400 "file://$src" >"$out.log" 2>&1
        timeout 120 "$chromium" "$@" --dump-dom "file://$src" >"$out.dom" 2>>"$out.log"
        rc=$?
        rm -rf "$prof"
        return $rc
    }
    if render "$tmp/all.html" "$tmp/b_all"; then
        ok
        t "browser DOM (all captures)" $check dom "$tmp/b_all.dom" "$tmp/all.json"
        t "browser screenshot (all captures)" $check png "$tmp/b_all.png" 1280 2400
    else
        bad "chromium on the report: $(tail -c 300 "$tmp/b_all.log")"
    fi
    cp "$tmp/hostile.html" "$tmp/hostile_page.html"
    if render "$tmp/hostile_page.html" "$tmp/b_hos"; then
        ok
        t "browser DOM (hostile)" $check dom "$tmp/b_hos.dom" "$tmp/hostile.json"
        grep -q 'PWNED' "$tmp/b_hos.dom" && ok || bad "browser DOM (hostile): payload text missing"
    else
        bad "chromium on the hostile report: $(tail -c 300 "$tmp/b_hos.log")"
    fi
else
    echo "SKIP report browser: $chromium not installed (.ci/run installs it)"
fi

echo "report: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
