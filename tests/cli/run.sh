#!/bin/sh
# run.sh MAILTAP — the command line contract of SPEC §2: versions, --help of
# every subcommand, exit codes, one-line errors, duplicate detection,
# --force, stdin input, and every listing format parsing.
set -u
m=$1
here=$(cd "$(dirname "$0")" && pwd)
pcaps=$here/../pcaps
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()   { pass=$((pass + 1)); }
bad()  { fail=$((fail + 1)); echo "FAIL cli: $*"; }
expect_rc() { want=$1; shift; "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; [ "$rc" = "$want" ] && ok || bad "'$*' exited $rc, want $want: $(head -c 200 "$tmp/err")"; }

# versions of everything it runs with
"$m" --version >"$tmp/v" 2>&1 && ok || bad "--version failed"
for lib in libpcap nDPI OpenSSL SQLite; do grep -q "^$lib: ." "$tmp/v" && ok || bad "--version lacks $lib"; done

# --help everywhere, exit 0, usage on stdout
for c in analyze capture report findings sessions; do
    expect_rc 0 "$m" "$c" --help
    grep -q "^usage: mailtap $c" "$tmp/out" && ok || bad "$c --help has no usage line"
done

# usage errors: exit 2, one line "mailtap: <what>: <why>"
expect_rc 2 "$m"
expect_rc 2 "$m" frobnicate
expect_rc 2 "$m" analyze
expect_rc 2 "$m" analyze --bogus x.pcap
expect_rc 2 "$m" report --format pdf
expect_rc 2 "$m" report --org-net 300.1.2.3/8
expect_rc 2 "$m" findings --min-severity urgent
expect_rc 2 "$m" sessions --protection maybe
expect_rc 2 "$m" capture
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^mailtap: capture: ' "$tmp/err" && ok || bad "usage error is not one 'mailtap: what: why' line"

# runtime errors: exit 1, one line
expect_rc 1 "$m" analyze -q -d "$tmp/x.db" "$tmp/does-not-exist.pcap"
grep -q "^mailtap: $tmp/does-not-exist.pcap: " "$tmp/err" && ok || bad "missing file error line: $(cat "$tmp/err")"
printf 'not a capture at all\n' >"$tmp/garbage.pcap"
expect_rc 1 "$m" analyze -q -d "$tmp/x.db" "$tmp/garbage.pcap"
expect_rc 1 "$m" sessions -d "$tmp/none.db"

# analysis, duplicate skipped with a notice, --force replaces, stdin
sample=$(ls "$pcaps"/*.pcap 2>/dev/null | head -n 1)
if [ -n "$sample" ]; then
    db=$tmp/a.db
    expect_rc 0 "$m" analyze -q -d "$db" "$sample"
    n1=$(sqlite3 "$db" 'SELECT count(*) FROM sessions')
    expect_rc 0 "$m" analyze -d "$db" "$sample"
    grep -q 'already analysed' "$tmp/err" && ok || bad "no notice for a file analysed twice"
    [ "$(sqlite3 "$db" 'SELECT count(*) FROM captures')" = 1 ] && ok || bad "duplicate capture stored"
    expect_rc 0 "$m" analyze -q --force -d "$db" "$sample"
    [ "$(sqlite3 "$db" 'SELECT count(*) FROM captures')" = 1 ] && ok || bad "--force did not replace"
    [ "$(sqlite3 "$db" 'SELECT count(*) FROM sessions')" = "$n1" ] && ok || bad "--force changed the session count"
    "$m" analyze -q -d "$tmp/b.db" - <"$sample" && ok || bad "stdin input failed"
    [ "$(sqlite3 "$tmp/b.db" 'SELECT sha256 FROM captures')" = "$(sha256sum "$sample" | cut -d' ' -f1)" ] && ok || bad "stdin capture sha256 wrong"
    [ "$(sqlite3 "$db" "SELECT status FROM captures")" = complete ] && ok || bad "capture not complete"
    # one pass: the stored sha256 of a file hashed while read is the file's
    [ "$(sqlite3 "$db" 'SELECT sha256 FROM captures')" = "$(sha256sum "$sample" | cut -d' ' -f1)" ] && ok || bad "file capture sha256 wrong"
    [ "$(sqlite3 "$db" 'SELECT length(probe) FROM captures')" = 64 ] && ok || bad "file capture has no probe"
    # the same bytes through stdin, then a copy under another name: both seen as duplicates
    expect_rc 0 "$m" analyze -d "$db" - <"$sample"
    grep -q 'already analysed' "$tmp/err" && ok || bad "stdin duplicate of a file not noticed"
    cp "$sample" "$tmp/copy.pcap"
    expect_rc 0 "$m" analyze -d "$db" "$tmp/copy.pcap"
    grep -q 'already analysed' "$tmp/err" && ok || bad "renamed copy not noticed"
    [ "$(sqlite3 "$db" 'SELECT count(*) FROM captures')" = 1 ] && ok || bad "duplicates stored: $(sqlite3 "$db" 'SELECT count(*) FROM captures')"
    # a pipe (read once) is hashed while read and seen as a duplicate at the end
    if [ -e /dev/fd/0 ]; then
        cat "$sample" | "$m" analyze -d "$db" /dev/fd/0 >"$tmp/out" 2>"$tmp/err" && ok || bad "pipe input failed: $(cat "$tmp/err")"
        grep -q 'already analysed' "$tmp/err" && ok || bad "pipe duplicate not noticed"
    fi
    # a named pipe is opened once, by the capture: probing or hashing it
    # ahead would wait for the writer and then leave it without a reader
    # (SIGPIPE) while the database opens
    if mkfifo "$tmp/fifo" 2>/dev/null; then
        ( cat "$sample" >"$tmp/fifo"; echo $? >"$tmp/fifo.rc" ) &
        timeout -k 5 20 "$m" analyze -q -d "$tmp/fifo.db" "$tmp/fifo" >"$tmp/out" 2>"$tmp/err" && ok || bad "named pipe input failed: $(cat "$tmp/err")"
        wait
        [ "$(cat "$tmp/fifo.rc" 2>/dev/null)" = 0 ] && ok || bad "named pipe writer failed (rc $(cat "$tmp/fifo.rc" 2>/dev/null))"
        [ "$(sqlite3 "$tmp/fifo.db" 'SELECT sha256 FROM captures')" = "$(sha256sum "$sample" | cut -d' ' -f1)" ] && ok || bad "named pipe capture sha256 wrong"
    fi
    # an interrupted run over a file is replaced by the next one
    sqlite3 "$db" "UPDATE captures SET status = 'interrupted', sha256 = NULL"
    expect_rc 0 "$m" analyze -q -d "$db" "$sample"
    [ "$(sqlite3 "$db" "SELECT count(*) || ' ' || max(status) FROM captures")" = "1 complete" ] && ok || bad "interrupted capture not replaced"
    [ "$(sqlite3 "$db" 'SELECT count(*) FROM sessions')" = "$n1" ] && ok || bad "redo changed the session count"
    # a file that differs from an analysed one only in the middle (same
    # size, head and tail: same probe) is hashed first and not a duplicate
    /usr/bin/python3 - "$sample" "$tmp/big.pcap" "$tmp/mid.pcap" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
big = b[:24] + b[24:] * (3 * 65536 // max(1, len(b) - 24) + 1)
open(sys.argv[2], 'wb').write(big)
mid = bytearray(big)
mid[len(mid) // 2] ^= 0x01
open(sys.argv[3], 'wb').write(mid)
PY
    expect_rc 0 "$m" analyze -q -d "$tmp/p.db" "$tmp/big.pcap"
    expect_rc 0 "$m" analyze -q -d "$tmp/p.db" "$tmp/mid.pcap"
    [ "$(sqlite3 "$tmp/p.db" 'SELECT count(DISTINCT probe) || count(DISTINCT sha256) || count(*) FROM captures')" = 122 ] && ok || bad "a different file with the same probe: $(sqlite3 "$tmp/p.db" 'SELECT probe, sha256 FROM captures')"
    [ "$(sqlite3 "$db" 'PRAGMA user_version')" -ge 1 ] && ok || bad "schema not versioned"
    # a file truncated while it is analysed (and hashed on the second
    # thread, which maps it): no crash, and the stored digest, if any, is
    # that of the bytes analysed
    /usr/bin/python3 - "$sample" "$tmp/grow.pcap" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
body = b[24:] * (64 * 1024 * 1024 // max(1, len(b) - 24) + 1)
open(sys.argv[2], 'wb').write(b[:24] + body)
PY
    for d in 0.02 0.1; do
        cp "$tmp/grow.pcap" "$tmp/trunc.pcap"
        rm -f "$tmp/t.db"*
        "$m" analyze -q -d "$tmp/t.db" "$tmp/trunc.pcap" 2>"$tmp/err" &
        pid=$!
        sleep $d
        truncate -s 3000000 "$tmp/trunc.pcap"
        wait $pid; rc=$?
        [ "$rc" = 0 ] && ok || bad "truncated while read: exit $rc: $(head -c 200 "$tmp/err")"
        h=$(sqlite3 "$tmp/t.db" 'SELECT ifnull(sha256, "") FROM captures')
        # (read whole before the cut, or read up to the cut, or unknown)
        [ -z "$h" ] || [ "$h" = "$(sha256sum <"$tmp/trunc.pcap" | cut -d' ' -f1)" ] \
            || [ "$h" = "$(sha256sum <"$tmp/grow.pcap" | cut -d' ' -f1)" ] && ok || bad "truncated while read: digest $h is neither file's"
    done
    # listings parse
    expect_rc 0 "$m" sessions -d "$db" --format json
    /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$tmp/out" && ok || bad "sessions json does not parse"
    expect_rc 0 "$m" findings -d "$db" --format json
    /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$tmp/out" && ok || bad "findings json does not parse"
    expect_rc 0 "$m" report -d "$db"
    expect_rc 0 "$m" report -d "$db" -o "$tmp/r.txt"
    [ -s "$tmp/r.txt" ] && ok || bad "report -o wrote nothing"
    # a database from a newer mailtap is refused
    cp "$db" "$tmp/new.db"; sqlite3 "$tmp/new.db" 'PRAGMA user_version=999'
    expect_rc 1 "$m" sessions -d "$tmp/new.db"
    grep -q 'newer' "$tmp/err" && ok || bad "newer schema not refused clearly"
fi
echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
