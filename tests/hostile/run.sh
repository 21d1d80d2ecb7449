#!/bin/sh
# run.sh MAILTAP — hostile input and faults.  Every capture is generated
# here by gen.py into a temporary directory (nothing large is stored):
#
#   resource attacks  2M SYNs from distinct sources; 70k connections that
#                     each say something and never end; 100 MB without a
#                     line end; 1M pipelined NOOPs (with and without
#                     replies); 1M RCPTs; BDAT 2^64-1 and friends; 10k
#                     overlapping retransmissions; 1200 flows with 250 KiB
#                     each held out of order; 100 MB without a line end in a
#                     message body and from the server; a 1M-line reply;
#                     30k messages in one session.  Peak RSS <=
#                     HOSTILE_RSS_MIB (256), time roughly linear (a run on
#                     half the input: time ratio < 3).
#   broken files      cut at ~250 points, snaplen 64, caplen > len, caplen
#                     huge / over the snaplen, empty records, 500 random
#                     1-10-byte corruptions (+150 of a pcapng copy): the
#                     part before the damage analysed, exit 0 or 1 with one
#                     "mailtap: ..." line, never a signal or a sanitizer report.
#   faults            SIGKILL during analyze (20 trials in 2 chains on one
#                     database, re-runs killed too), SIGINT and SIGTERM, disk
#                     full (tmpfs), a read-only database (user nobody), the
#                     interface of a live capture deleted (veth in a netns).
#   SQL injection     hostile envelope, banner, HELO, AUTH user, headers and
#                     file name come back out of the database as data.
#
# Every database is checked afterwards: PRAGMA integrity_check = ok, no
# foreign key violations, at most DIS_FINDINGS_MAX findings per session
# (plus DIS_BODY_FINDINGS_MAX plaintext_message_body).
#
# HOSTILE_QUICK=1: only the small cases (for the sanitizer build): no
# resource attacks (small versions instead), 5 SIGKILL trials on a 3 MB
# capture, fewer cuts and corruptions.
# HOSTILE_RSS_MIB: the memory bound (default 256).
# Needs root for the tmpfs, read-only and live cases (skipped otherwise).
# Last line: "hostile: N passed, N failed".
set -u
m=$1
case $m in /*) ;; *) m=$(pwd)/$m ;; esac
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
quick=${HOSTILE_QUICK:-0}
bound_mib=${HOSTILE_RSS_MIB:-256}
bound_kib=$((bound_mib * 1024))
pass=0; fail=0

tmp=$(mktemp -d /tmp/mailtap-hostile.XXXXXX)
# databases in memory when possible: hundreds of tiny runs, each creating a
# database, are otherwise dominated by fdatasync on a busy disk
dbd=$(mktemp -d /dev/shm/mailtap-hostile.XXXXXX 2>/dev/null) || { dbd=$tmp/db; mkdir "$dbd"; }
mnt=""; ns=""; bgpid=""
cleanup() {
    [ -n "$bgpid" ] && kill -9 "$bgpid" 2>/dev/null
    [ -n "$mnt" ] && umount "$mnt" 2>/dev/null
    [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
    rm -rf "$tmp" "$dbd"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
chmod 755 "$tmp"                # user nobody reads the binary and captures here
# test a private copy: the binary under test may be rebuilt meanwhile
cp "$m" "$tmp/mailtap" || { echo "hostile: cannot copy $m"; echo "hostile: 0 passed, 1 failed"; exit 1; }
m=$tmp/mailtap
g=$tmp/gen; mkdir "$g"

t_last=$(date +%s)
section() { _now=$(date +%s); note "$1 ($((_now - t_last)) s)"; t_last=$_now; }
ok()   { pass=$((pass + 1)); }
# failures are counted in a file: the trial workers run in subshells
bad()  { echo "FAIL hostile: $*"; echo x >>"$tmp/fails"; }
nfails() { grep -c '' "$tmp/fails" 2>/dev/null || true; }
note() { echo "hostile: $*"; }
gen()  { "$py" "$here/gen.py" "$@" || { bad "gen.py $* failed"; return 1; }; }
q()    { sqlite3 -batch "$1" "$2" 2>&1; }
row()  { printf '%-28s %4s %9s %8s\n' "$1" "$2" "$3" "$4" >>"$tmp/table"; }

# runs NAME LIMIT CMD...: CMD under timeout LIMIT (s), measured by time(1):
# sets rc, rss (KiB) and secs; stdout/stderr in $tmp/NAME.out / .err
if [ -x /usr/bin/time ]; then timer() { _o=$1; shift; /usr/bin/time -o "$_o" -f '%M %e' "$@"; }
else timer() { "$py" "$here/gen.py" measure "$@"; }; fi     # Debian package "time"
measure() {
    _n=$1; _l=$2; shift 2
    timer "$tmp/$_n.time" timeout -k 5 "$_l" "$@" >"$tmp/$_n.out" 2>"$tmp/$_n.err"
    rc=$?
    set -- $(tail -n 1 "$tmp/$_n.time" 2>/dev/null)
    rss=${1:-0}; secs=${2:-0}
}

# sane NAME WHAT: exit 0 or 1 (never a signal, a timeout or a usage error),
# no sanitizer report, every stderr line "mailtap: ...", at most MAXLINES
# (default 1) lines, exactly one when the exit status is 1.
sane() {
    _e=$tmp/$1.err; _max=${3:-1}
    if grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$_e"; then
        bad "$2: sanitizer report: $(grep -E 'ERROR|runtime error' "$_e" | head -n 2)"; return 1
    fi
    case $rc in
    0|1) ;;
    124|137) bad "$2: hung (killed after the time limit)"; return 1 ;;
    *) bad "$2: exit status $rc: $(head -c 300 "$_e")"; return 1 ;;
    esac
    _lines=$(grep -c '' "$_e")
    if grep -vq '^mailtap: ' "$_e"; then
        bad "$2: stderr line not 'mailtap: ...': $(grep -v '^mailtap: ' "$_e" | head -n 1 | head -c 200)"; return 1
    fi
    if [ "$_lines" -gt "$_max" ] || { [ "$rc" = 1 ] && [ "$_lines" -lt 1 ]; }; then
        bad "$2: exit $rc with $_lines stderr lines: $(head -c 300 "$_e")"; return 1
    fi
    return 0
}

# dbok DB WHAT: integrity, foreign keys, bounded findings per session
dbok() {
    _r=$(q "$1" 'PRAGMA integrity_check')
    [ "$_r" = ok ] || { bad "$2: integrity_check: $(echo "$_r" | head -n 3)"; return 1; }
    _r=$(q "$1" 'PRAGMA foreign_key_check' | head -n 3)
    [ -z "$_r" ] || { bad "$2: foreign_key_check: $_r"; return 1; }
    # DIS_FINDINGS_MAX per session, plus DIS_BODY_FINDINGS_MAX of plaintext_message_body
    _r=$(q "$1" "SELECT coalesce(max(c), 0) FROM (SELECT count(*) c FROM findings WHERE kind <> 'plaintext_message_body' GROUP BY session_id)")
    [ "$_r" -le 64 ] 2>/dev/null || { bad "$2: $_r findings in one session (DIS_FINDINGS_MAX 64)"; return 1; }
    _r=$(q "$1" "SELECT coalesce(max(c), 0) FROM (SELECT count(*) c FROM findings WHERE kind = 'plaintext_message_body' GROUP BY session_id)")
    [ "$_r" -le 64 ] 2>/dev/null || { bad "$2: $_r body findings in one session (DIS_BODY_FINDINGS_MAX 64)"; return 1; }
    return 0
}

# analyze NAME FILE [LIMIT]: fresh database $dbd/NAME.db, measured
analyze() {
    rm -f "$dbd/$1.db" "$dbd/$1.db-wal" "$dbd/$1.db-shm"
    measure "$1" "${3:-120}" "$m" analyze -q -d "$dbd/$1.db" "$2"
}

# big NAME FILE: a resource attack: sane exit, memory bound, DB ok, a row
big() {
    analyze "$1" "$2" 300
    row "$1" "$rc" "$((rss / 1024))" "$secs"
    sane "$1" "$1" && ok
    [ "$rss" -le "$bound_kib" ] && ok || bad "$1: peak RSS $((rss / 1024)) MiB > $bound_mib MiB"
    dbok "$dbd/$1.db" "$1" && ok
}

# linear NAME_FULL NAME_HALF: the time of the full run is less than 3 times
# that of the half-size run (times under 0.25 s count as 0.25 s)
linear() {
    _t1=$(awk '{print $2}' "$tmp/$1.time" | tail -n 1); _t2=$(awk '{print $2}' "$tmp/$2.time" | tail -n 1)
    if awk -v a="$_t1" -v b="$_t2" 'BEGIN { if (b < 0.25) b = 0.25; exit !(a / b < 3) }'; then ok
    else bad "$1: not linear: ${_t1}s for the full input, ${_t2}s for half"; fi
}

# expect NAME WHAT SQL WANT
expect() {
    _r=$(q "$dbd/$1.db" "$3")
    [ "$_r" = "$4" ] && ok || bad "$1: $2: got '$(echo "$_r" | head -c 200)', want '$4'"
}

printf '%-28s %4s %9s %8s\n' case exit "RSS(MiB)" "time(s)" >"$tmp/table"

# ---------------------------------------------------------------------------
# 1. resource attacks (generated once each; the half-size runs give linearity)
if [ "$quick" != 1 ]; then
    t0=$(date +%s)
    gen syn "$g/syn2m.pcap" 2000000 && gen syn "$g/syn1m.pcap" 1000000 &&
    gen flood "$g/flood.pcap" 70000 &&
    gen nolf "$g/nolf100m.pcap" 100000000 && gen nolf "$g/nolf50m.pcap" 50000000 &&
    gen noop "$g/noop1m.pcap" 1000000 1 && gen noop "$g/noop500k.pcap" 500000 1 &&
    gen noop "$g/noop1m_norep.pcap" 1000000 0 &&
    gen rcpt "$g/rcpt1m.pcap" 1000000 && gen rcpt "$g/rcpt500k.pcap" 500000 &&
    gen overlap "$g/overlap10k.pcap" 10000 && gen overlap "$g/overlap20k.pcap" 20000 &&
    gen ooo "$g/ooo.pcap" 1200 250
    note "generated the resource attacks in $(( $(date +%s) - t0 )) s"

    big syn2m "$g/syn2m.pcap"
    big syn1m "$g/syn1m.pcap"; rm -f "$g/syn1m.pcap"
    linear syn2m syn1m
    expect syn2m "the two real sessions around the flood" \
        "SELECT count(*) FROM sessions WHERE end_reason = 'fin' AND protection = 'cleartext'" 2
    expect syn2m "packets counted" "SELECT packets || ' ' || status FROM captures" "2000038 complete"
    rm -f "$g/syn2m.pcap"

    big flood "$g/flood.pcap"; rm -f "$g/flood.pcap"
    expect flood "every talking connection stored" "SELECT count(*) FROM sessions" 70000

    big nolf100m "$g/nolf100m.pcap"
    big nolf50m "$g/nolf50m.pcap"
    linear nolf100m nolf50m
    expect nolf100m "the long line" "SELECT count(*) > 0 FROM findings WHERE kind = 'smtp_line_too_long'" 1
    expect nolf100m "all bytes counted, clean end" "SELECT client_bytes || ' ' || end_reason FROM sessions" "100000034 fin"
    rm -f "$g/nolf100m.pcap" "$g/nolf50m.pcap"

    big noop1m "$g/noop1m.pcap"
    big noop500k "$g/noop500k.pcap"
    linear noop1m noop500k
    expect noop1m "all commands counted" "SELECT client_bytes || ' ' || end_reason FROM sessions" "6000032 fin"
    big noop1m_norep "$g/noop1m_norep.pcap"
    expect noop1m_norep "all commands counted" "SELECT client_bytes || ' ' || end_reason FROM sessions" "6000032 fin"

    big rcpt1m "$g/rcpt1m.pcap"
    big rcpt500k "$g/rcpt500k.pcap"
    linear rcpt1m rcpt500k
    expect rcpt1m "rcpt_count counts all, recipients kept bounded" \
        "SELECT m.rcpt_count || ' ' || m.reply_code || ' ' || (SELECT count(*) FROM recipients) FROM messages m" "1000000 250 100"

    big overlap10k "$g/overlap10k.pcap"
    big overlap20k "$g/overlap20k.pcap"
    linear overlap20k overlap10k
    expect overlap10k "conflict found in both sessions" \
        "SELECT count(DISTINCT session_id) FROM findings WHERE kind = 'tcp_overlap_conflict'" 2
    expect overlap10k "every byte arrived once: no gap" "SELECT sum(gap_bytes) FROM sessions" 0
    expect overlap10k "first copy wins" "SELECT count(*) FROM findings WHERE evidence LIKE 'MAIL FROM and 1 RCPT%'" 1

    big ooo "$g/ooo.pcap"; rm -f "$g/ooo.pcap"
    expect ooo "every flow stored" "SELECT count(*) FROM sessions" 1200

    # 100 MB without a line end inside a message, and from the server
    gen nolf_data "$g/nolf_body.pcap" 100000000 0 && big nolf_body "$g/nolf_body.pcap"
    expect nolf_body "the message and its size" "SELECT size || ' ' || reply_code FROM messages" "100000019 250"
    gen nolf_data "$g/nolf_server.pcap" 100000000 1 && big nolf_server "$g/nolf_server.pcap"
    expect nolf_server "the long reply line" "SELECT count(*) FROM findings WHERE kind = 'smtp_line_too_long'" 1
    rm -f "$g/nolf_body.pcap" "$g/nolf_server.pcap"
    # a multi-line reply of a million lines; 30k messages in one session
    gen replyflood "$g/replyflood.pcap" 1000000 && big replyflood "$g/replyflood.pcap"
    expect replyflood "STARTTLS on the last of 1M reply lines" "SELECT starttls_offered FROM sessions" 1
    gen msgs "$g/msgs30k.pcap" 30000 && big msgs30k "$g/msgs30k.pcap"
    expect msgs30k "every message stored" "SELECT count(*) FROM messages" 30000
    rm -f "$g"/*.pcap
fi

section "resource attacks done"
# BDAT sizes at and past 2^64 (small: both modes)
gen bdat "$g/bdat.pcap"
big bdat "$g/bdat.pcap"
expect bdat "eleven sessions, all ended by FIN" "SELECT count(*) FROM sessions WHERE end_reason = 'fin'" 11
expect bdat "no message larger than what was sent" \
    "SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id WHERE m.size > s.client_bytes OR m.size < 0" 0
expect bdat "invalid sizes reported" "SELECT count(*) > 0 FROM findings WHERE kind = 'smtp_malformed_command'" 1

# more concurrent connections than the flow table (both modes): 200 through
# a table of 64; every evicted one is stored once, none split, and the loss
# is on the capture row and in the report
if gen interleave "$g/interleave.pcap" 200; then
    rm -f "$dbd/interleave.db"*
    measure interleave 120 "$m" analyze -q --max-flows 64 -d "$dbd/interleave.db" "$g/interleave.pcap"
    sane interleave interleave && ok
    dbok "$dbd/interleave.db" interleave && ok
    expect interleave "each connection stored once" "SELECT count(*) || ' ' || count(DISTINCT client_ip) FROM sessions" "200 200"
    expect interleave "evictions on the capture row" "SELECT evicted, evicted_bytes > 0 FROM captures" "136|1"
    expect interleave "only connections followed to the end have a message" \
        "SELECT count(*) FROM messages" 64
    expect interleave "evicted before anything decisive: indeterminate, low confidence" \
        "SELECT protection || ' ' || confidence || ' ' || count(*) FROM sessions GROUP BY protection, confidence ORDER BY protection" \
        "cleartext high 64
indeterminate low 136"
    "$m" report -d "$dbd/interleave.db" >"$tmp/interleave.report" 2>&1
    grep -q "Not followed *136 connections ended early" "$tmp/interleave.report" && ok || bad "interleave: report does not say what was not followed"
fi

if [ "$quick" = 1 ]; then
    gen noop "$g/noop.pcap" 20000 1 && big noop20k "$g/noop.pcap"
    gen rcpt "$g/rcpt.pcap" 20000 && big rcpt20k "$g/rcpt.pcap"
    gen overlap "$g/overlap.pcap" 2000 && big overlap2k "$g/overlap.pcap"
    gen nolf "$g/nolf.pcap" 2000000 && big nolf2m "$g/nolf.pcap"
fi

section "bdat and small resource cases done"
# ---------------------------------------------------------------------------
# 2. broken files, from a small capture of three sessions
gen small "$g/small.pcap"
analyze small "$g/small.pcap"
sane small small && ok
expect small "baseline" "SELECT count(*) FROM sessions" 3
size=$(wc -c <"$g/small.pcap")

# cuts: every offset in the headers, then 200 (quick: 100) evenly spaced;
# two workers.
# cut_worker W: the offsets of lines W, W+2, ... of $tmp/offs; appends
# "offset exit sessions" to $tmp/cutres.W
cut_worker() {
    _i=0
    while read -r o; do
        _i=$((_i + 1)); [ $((_i % 2)) = "$1" ] || continue
        head -c "$o" "$g/small.pcap" >"$g/cut$1.pcap"
        analyze "cut$1" "$g/cut$1.pcap" 30
        sane "cut$1" "cut at $o" || continue
        if [ "$o" -lt 24 ] && grep -q "cut$1.pcap: .*cut$1.pcap" "$tmp/cut$1.err"; then
            echo "cut at $o: $(cat "$tmp/cut$1.err")" >>"$tmp/twice"
        fi
        _n=$(q "$dbd/cut$1.db" 'SELECT count(*) FROM sessions' 2>/dev/null)
        [ $((_i % 10)) = 0 ] && [ "$o" -ge 24 ] && dbok "$dbd/cut$1.db" "cut at $o"
        echo "$o $rc ${_n:-0}" >>"$tmp/cutres.$1"
    done <"$tmp/offs"
}
ncut=200; [ "$quick" = 1 ] && ncut=100
awk -v n="$size" -v k="$ncut" 'BEGIN { for (i = 0; i <= 48; i++) print i;
                          for (i = 1; i < k; i++) print int(n * i / k) }' | sort -n -u >"$tmp/offs"
nf0=$(nfails)
: >"$tmp/cutres.0"; : >"$tmp/cutres.1"
cut_worker 0 & w0=$!
cut_worker 1 & w1=$!
wait "$w0" "$w1"
sort -n "$tmp/cutres.0" "$tmp/cutres.1" >"$tmp/cutres"
prev=0
while read -r o r n; do
    if [ "$o" -lt 24 ] && [ "$r" != 1 ]; then bad "cut at $o (inside the file header): exit $r, want 1"; fi
    if [ "$o" -ge 24 ] && [ "$r" != 0 ]; then bad "cut at $o: exit $r, want 0 (everything before the cut analysed)"; fi
    if [ "$o" -ge 24 ] && [ "$n" -lt "$prev" ]; then bad "cut at $o: $n sessions, fewer than at an earlier cut ($prev)"; fi
    [ "$o" -ge 24 ] && prev=$n
done <"$tmp/cutres"
if [ -s "$tmp/twice" ]; then
    bad "$(grep -c '' "$tmp/twice") errors name the file twice ('mailtap: <what>: <why>' wanted), e.g. $(head -n 1 "$tmp/twice")"
else ok; fi
[ "$(grep -c '' "$tmp/cutres")" = "$(grep -c '' "$tmp/offs")" ] || bad "cuts: $(grep -c '' "$tmp/cutres") of $(grep -c '' "$tmp/offs") runs were sane"
[ "$(nfails)" = "$nf0" ] && ok
row "cuts ($(grep -c '' "$tmp/offs") offsets)" "$(awk '{print $2}' "$tmp/cutres" | sort | uniq -c | awk '{printf "%s%s:%s", s, $2, $1; s=","}')" - -

# snaplen 64: every payload cut, said so
gen xform snaplen "$g/small.pcap" "$g/snap64.pcap" 64
analyze snap64 "$g/snap64.pcap"
row snap64 "$rc" "$((rss / 1024))" "$secs"
sane snap64 "snaplen 64" && ok
dbok "$dbd/snap64.db" "snaplen 64" && ok
expect snap64 "sessions kept" "SELECT count(*) FROM sessions" 3
expect snap64 "truncation reported" "SELECT count(*) > 0 FROM findings WHERE kind = 'truncated_packets'" 1
expect snap64 "truncated records counted" "SELECT truncated > 0 FROM captures" 1

# record headers that lie
for k in caplen_gt_len zero_len huge_caplen big_caplen; do
    gen xform "$k" "$g/small.pcap" "$g/$k.pcap"
    analyze "$k" "$g/$k.pcap"
    row "$k" "$rc" "$((rss / 1024))" "$secs"
    sane "$k" "$k" && ok
    dbok "$dbd/$k.db" "$k" && ok
    case $k in
    caplen_gt_len|zero_len)
        expect "$k" "all sessions analysed" "SELECT count(*) FROM sessions" 3 ;;
    *)  # a clear warning for the broken part, the rest analysed: reading
        # resumes at the next plausible record header, the skipped bytes
        # become gaps, and the whole file was read (status complete)
        [ "$rc" = 0 ] && ok || bad "$k: exit $rc, want 0 (reading resumes after a corrupt record)"
        grep -q "skipped" "$tmp/$k.err" && ok || bad "$k: no warning about the skipped bytes"
        expect "$k" "whole file read" "SELECT status FROM captures" complete
        expect "$k" "the rest analysed after the bad record" "SELECT count(*) FROM sessions" 3 ;;
    esac
done

# random corruption: 1-10 bytes overwritten at a random place; two workers
# (and a pcapng copy of the same capture: libpcap's other reader)
ncorr=500; nng=150; [ "$quick" = 1 ] && { ncorr=150; nng=50; }
gen corrupt "$g/small.pcap" "$g/corrupt" "$ncorr" "${HOSTILE_SEED:-1}"
gen xform pcapng "$g/small.pcap" "$g/small.pcapng"
gen corrupt "$g/small.pcapng" "$g/corrupt" "$nng" "${HOSTILE_SEED:-1}" n
corrupt_worker() {
    _i=0
    for f in "$g"/corrupt/*.pcap; do
        _i=$((_i + 1)); [ $((_i % 2)) = "$1" ] || continue
        analyze "corrupt$1" "$f" 30
        if ! sane "corrupt$1" "corruption $(basename "$f")"; then
            cp "$f" "/tmp/mailtap-hostile-$(basename "$f")" 2>/dev/null; continue
        fi
        [ $((_i % 10)) = 0 ] && [ -f "$dbd/corrupt$1.db" ] && dbok "$dbd/corrupt$1.db" "corruption $(basename "$f")"
        echo "$rc" >>"$tmp/corrres.$1"
    done
}
nf0=$(nfails)
: >"$tmp/corrres.0"; : >"$tmp/corrres.1"
corrupt_worker 0 & w0=$!
corrupt_worker 1 & w1=$!
wait "$w0" "$w1"
[ "$(nfails)" = "$nf0" ] && ok || note "failing corrupted files were copied to /tmp/mailtap-hostile-c*.pcap"
row "corruptions ($ncorr+$nng ng)" "$(sort "$tmp/corrres.0" "$tmp/corrres.1" | uniq -c | awk '{printf "%s%s:%s", s, $2, $1; s=","}')" - -
rm -rf "$g/corrupt"
section "broken files done"

# ---------------------------------------------------------------------------
# 3. SQL injection: hostile strings are data
gen inject "$g/inject.pcap"
analyze inject "$g/inject.pcap"
sane inject inject && ok
dbok "$dbd/inject.db" inject && ok
r=$("$py" "$here/gen.py" check-inject "$dbd/inject.db") && ok || bad "inject: $r"
name="x'); DROP TABLE captures;--.pcap"
cp "$g/inject.pcap" "$g/$name"
rm -f "$dbd/inject2.db"
"$m" analyze -q -d "$dbd/inject2.db" "$g/$name" 2>"$tmp/inject2.err" && ok || bad "inject: file name with a quote: $(cat "$tmp/inject2.err")"
r=$("$py" -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT count(*) FROM captures WHERE source = ?", (sys.argv[2],)).fetchone()[0])' "$dbd/inject2.db" "$g/$name" 2>&1)
[ "$r" = 1 ] && ok || bad "inject: captures.source does not round-trip: $r"
# hostile filter arguments: rejected as usage errors or matched literally
"$m" findings -d "$dbd/inject.db" --format json --kind "x' OR '1'='1" >"$tmp/inj.out" 2>&1; r=$?
{ [ "$r" = 2 ] || { [ "$r" = 0 ] && ! grep -q '^{' "$tmp/inj.out"; }; } && ok ||
    bad "inject: findings --kind \"x' OR '1'='1\": exit $r, $(grep -c '^{' "$tmp/inj.out") findings listed"
"$m" sessions -d "$dbd/inject.db" --protection "cleartext' OR 1=1 --" >"$tmp/inj.out" 2>&1; r=$?
[ "$r" = 2 ] && ok || bad "inject: sessions --protection with a quote: exit $r"
"$m" report -d "$dbd/inject.db" --since "0' OR 1=1 --" >"$tmp/inj.out" 2>&1; r=$?
[ "$r" = 2 ] && ok || bad "inject: report --since with a quote: exit $r"
expect inject "tables intact after the listings" "SELECT count(*) FROM sessions" 1

section "injection done"
# ---------------------------------------------------------------------------
# 4. SIGKILL during analyze (a 40 MB capture of ~21k sessions): trials in
# chains on one database (each run of a chain is a re-run of the interrupted
# capture, so deleting the earlier results is killed too), then a run that
# must complete it.
if [ "$quick" = 1 ]; then gen many "$g/many.pcap" 3000000; chains=1; per=5
else gen many "$g/many.pcap" 40000000; chains=2; per=10; fi
analyze many_ref "$g/many.pcap" 300
row many_ref "$rc" "$((rss / 1024))" "$secs"
sane many_ref "reference run" && ok
want=$(q "$dbd/many_ref.db" 'SELECT count(*) FROM sessions')
tfull=$secs
delays=$("$py" -c 'import random, sys
r = random.Random(int(sys.argv[3])); t = float(sys.argv[1]); n = int(sys.argv[2])
# early (opening, hashing), spread over the run, and late
d = [0.005, 0.05] + [r.uniform(0.1, t * 0.95) for _ in range(n - 2)]
r.shuffle(d); print(" ".join("%.3f" % x for x in d))' "$tfull" $((chains * per)) "${HOSTILE_SEED:-1}")
kfail=0; trial=0; finished=0; c=0
for d in $delays; do
    if [ $((trial % per)) = 0 ]; then
        c=$((c + 1)); db=$dbd/kill$c.db; rm -f "$db" "$db-wal" "$db-shm"
    fi
    trial=$((trial + 1))
    "$m" analyze -q -d "$db" "$g/many.pcap" >/dev/null 2>"$tmp/kill.err" &
    bgpid=$!
    sleep "$d"
    kill -9 "$bgpid" 2>/dev/null
    { wait "$bgpid"; } 2>/dev/null; krc=$?; bgpid=""
    if [ ! -f "$db" ]; then continue; fi      # killed before the file existed
    r=$(q "$db" 'PRAGMA integrity_check')
    [ "$r" = ok ] || { bad "SIGKILL after ${d}s (trial $trial): integrity_check: $(echo "$r" | head -n 2)"; kfail=$((kfail + 1)); continue; }
    r=$(q "$db" 'PRAGMA foreign_key_check' | head -n 2)
    [ -z "$r" ] || { bad "SIGKILL after ${d}s (trial $trial): foreign_key_check: $r"; kfail=$((kfail + 1)); }
    # killed between SQLite creating the file and the schema's commit: an
    # empty database, which the read commands must call empty (not broken)
    if [ "$krc" = 137 ] && [ "$(q "$db" 'SELECT count(*) FROM sqlite_master')" = 0 ]; then
        if "$m" sessions -d "$db" >/dev/null 2>"$tmp/kill.err" ||
           ! grep -q 'empty database' "$tmp/kill.err"; then
            bad "SIGKILL after ${d}s (trial $trial): empty database not reported as such: $(cat "$tmp/kill.err")"
            kfail=$((kfail + 1))
        fi
    else
        st=$(q "$db" 'SELECT group_concat(status) FROM captures' 2>&1)
        case "$krc:$st" in
        0:complete|137:|137:interrupted|137:complete) ;;
        *) bad "SIGKILL after ${d}s (trial $trial): exit $krc, capture status '$st'"; kfail=$((kfail + 1)) ;;
        esac
        "$m" sessions -d "$db" >/dev/null 2>"$tmp/kill.err" || { bad "SIGKILL after ${d}s: the database does not open: $(cat "$tmp/kill.err")"; kfail=$((kfail + 1)); }
    fi
    if [ "$krc" = 0 ]; then     # it finished first: the next trial starts afresh
        finished=$((finished + 1)); rm -f "$db" "$db-wal" "$db-shm"
    fi
    if [ $((trial % per)) = 0 ]; then     # end of a chain: a re-run completes it
        measure rerun 300 "$m" analyze -q -d "$db" "$g/many.pcap"
        r=$(q "$db" "SELECT count(*) || ' ' || group_concat(status) FROM captures")
        n=$(q "$db" 'SELECT count(*) FROM sessions')
        if [ "$rc" = 0 ] && [ "$r" = "1 complete" ] && [ "$n" = "$want" ]; then
            dbok "$db" "re-run after SIGKILL" || kfail=$((kfail + 1))
        else bad "re-run after SIGKILL (chain $c): exit $rc, captures '$r', $n sessions (want $want): $(head -c 200 "$tmp/rerun.err")"; kfail=$((kfail + 1)); fi
    fi
done
[ "$kfail" = 0 ] && ok
row "sigkill ($trial trials)" "fin:$finished" - -

# SIGINT and SIGTERM: a clean stop, exit 1 with one line, 'interrupted'
if [ "$quick" != 1 ]; then
    db=$dbd/int.db
    for sig in INT TERM; do
        # a fresh database each time: a run over a file whose earlier run
        # was interrupted deletes that row first, and its own row may take
        # the same id, which the wait below would not see
        rm -f "$db" "$db-wal" "$db-shm"
        "$m" analyze -q -d "$db" "$g/many.pcap" >/dev/null 2>"$tmp/int.err" &
        bgpid=$!
        # signal as soon as the analysis has begun (its capture row is
        # committed first), not after a fixed delay: a fast run would be over
        _i=0
        while [ $_i -lt 500 ] && kill -0 "$bgpid" 2>/dev/null &&
              [ "$(q "$db" 'SELECT count(*) FROM captures' 2>/dev/null)" != 1 ]; do
            sleep 0.01; _i=$((_i + 1))
        done
        kill -"$sig" "$bgpid"; wait "$bgpid"; rc=$?; bgpid=""
        sane int "SIG$sig during analyze" &&
            { [ "$rc" = 1 ] && grep -q interrupted "$tmp/int.err" && ok || bad "SIG$sig: exit $rc: $(cat "$tmp/int.err")"; }
        expect int "SIG$sig leaves the capture interrupted" "SELECT group_concat(status) FROM captures" interrupted
        dbok "$db" "SIG$sig" && ok
    done
    measure int2 300 "$m" analyze -q -d "$db" "$g/many.pcap"
    expect int "a re-run completes it" "SELECT count(*) || ' ' || group_concat(status) || ' ' || (SELECT count(*) FROM sessions) FROM captures" "1 complete $want"
fi
section "SIGKILL trials done"

# ---------------------------------------------------------------------------
# 5. disk full, read-only database (need root)
if [ "$(id -u)" = 0 ]; then
    gen many "$g/many5.pcap" 5000000
    analyze many5_ref "$g/many5.pcap"
    want5=$(q "$dbd/many5_ref.db" 'SELECT count(*) FROM sessions')
    mkdir "$tmp/full"
    if mount -t tmpfs -o size=512k tmpfs "$tmp/full" 2>/dev/null; then
        mnt=$tmp/full
        measure full 120 "$m" analyze -q -d "$mnt/db" "$g/many5.pcap"
        row "disk full (512k tmpfs)" "$rc" "$((rss / 1024))" "$secs"
        if sane full "disk full" 3; then
            [ "$rc" = 1 ] && ok || bad "disk full: exit $rc, want 1"
            grep -qi 'full\|space' "$tmp/full.err" && ok || bad "disk full: the error does not say so: $(head -c 200 "$tmp/full.err")"
        fi
        # what is left must be a sound database that does not claim completion
        mkdir "$tmp/fullcopy"; cp "$mnt"/db* "$tmp/fullcopy/" 2>/dev/null
        if [ -f "$tmp/fullcopy/db" ]; then
            dbok "$tmp/fullcopy/db" "disk full" && ok
            r=$(q "$tmp/fullcopy/db" "SELECT count(*) FROM captures WHERE status = 'complete'")
            [ "$r" = 0 ] && ok || bad "disk full: a capture is marked complete ($r)"
        fi
        # room again: a re-run completes it
        mount -o remount,size=64m "$mnt" 2>/dev/null
        measure full2 120 "$m" analyze -q -d "$mnt/db" "$g/many5.pcap"
        r=$(q "$mnt/db" "SELECT count(*) || ' ' || group_concat(status) FROM captures")
        n=$(q "$mnt/db" 'SELECT count(*) FROM sessions')
        [ "$rc" = 0 ] && [ "$r" = "1 complete" ] && [ "$n" = "$want5" ] && ok ||
            bad "disk full, then room: exit $rc, captures '$r', $n sessions (want $want5): $(head -c 200 "$tmp/full2.err")"
        # full before the database exists
        rm -f "$mnt"/db*
        mount -o remount,size=512k "$mnt" 2>/dev/null
        dd if=/dev/zero of="$mnt/filler" bs=4k 2>/dev/null
        measure full3 60 "$m" analyze -q -d "$mnt/db" "$g/small.pcap"
        sane full3 "disk already full" && { [ "$rc" = 1 ] && ok || bad "disk already full: exit $rc, want 1"; }
        umount "$mnt" && mnt=""
    else
        note "skipped disk full: cannot mount a tmpfs"
    fi

    # read-only: file 0444 in a directory 0555, used by nobody
    if id nobody >/dev/null 2>&1; then
        ro=$tmp/ro; mkdir "$ro"
        "$m" analyze -q -d "$ro/db" "$g/small.pcap" 2>/dev/null
        rm -f "$ro/db-wal" "$ro/db-shm"
        chmod 0444 "$ro/db"; chmod 0555 "$ro"
        before=$(sha256sum <"$ro/db")
        chmod 0644 "$g/inject.pcap"
        measure ro 60 setpriv --reuid=nobody --regid=nogroup --clear-groups "$m" analyze -q -d "$ro/db" "$g/inject.pcap"
        row "read-only db, analyze" "$rc" "$((rss / 1024))" "$secs"
        sane ro "read-only database" && { [ "$rc" = 1 ] && ok || bad "read-only database: analyze exit $rc, want 1"; }
        [ "$(sha256sum <"$ro/db")" = "$before" ] && ok || bad "read-only database: the file changed"
        [ ! -e "$ro/db-wal" ] && [ ! -e "$ro/db-journal" ] && ok || bad "read-only database: a journal appeared"
        measure ro2 60 setpriv --reuid=nobody --regid=nogroup --clear-groups "$m" sessions -d "$ro/db"
        row "read-only db, sessions" "$rc" "$((rss / 1024))" "$secs"
        if sane ro2 "read-only database, sessions"; then
            [ "$rc" = 0 ] && [ "$(grep -c '' "$tmp/ro2.out")" -ge 3 ] && ok ||
                bad "read-only database: 'sessions' cannot read it: exit $rc: $(head -c 200 "$tmp/ro2.err")"
        fi
        # writable directory, read-only file
        chmod 0755 "$ro"; chown nobody "$ro"
        measure ro3 60 setpriv --reuid=nobody --regid=nogroup --clear-groups "$m" analyze -q -d "$ro/db" "$g/inject.pcap"
        sane ro3 "read-only file in a writable directory" &&
            { [ "$rc" = 1 ] && ok || bad "read-only file in a writable directory: exit $rc, want 1"; }
        [ "$(sha256sum <"$ro/db")" = "$before" ] && ok || bad "read-only file in a writable directory: the file changed"
    else
        note "skipped read-only database: no user nobody"
    fi
else
    note "skipped disk full and read-only database: not root"
fi

# ---------------------------------------------------------------------------
# 6. live capture: the interface goes away
live() {
    [ "$(id -u)" = 0 ] || { note "skipped live: not root"; return; }
    command -v ip >/dev/null 2>&1 || { note "skipped live: no ip(8)"; return; }
    ns=mthostile$$
    ip netns add "$ns" 2>/dev/null || { ns=""; note "skipped live: ip netns unavailable"; return; }
    if ! ip -n "$ns" link add vha type veth peer name vhb 2>/dev/null; then note "skipped live: no veth"; return; fi
    ip -n "$ns" link set vha up; ip -n "$ns" link set vhb up; ip -n "$ns" link set lo up
    gen open "$g/open.pcap" || return
    ip netns exec "$ns" "$m" capture -i vhb --allow-root -q -d "$dbd/live.db" >"$tmp/live.out" 2>"$tmp/live.err" &
    bgpid=$!
    i=0
    while [ $i -lt 50 ] && [ "$(q "$dbd/live.db" 'SELECT count(*) FROM captures' 2>/dev/null)" != 1 ]; do
        kill -0 "$bgpid" 2>/dev/null || break; sleep 0.1; i=$((i + 1))
    done
    sleep 0.3
    ip netns exec "$ns" "$py" "$here/gen.py" sendpcap vha "$g/open.pcap" || bad "live: cannot send frames"
    sleep 1
    ip -n "$ns" link del vha
    i=0
    while [ $i -lt 100 ] && kill -0 "$bgpid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$bgpid" 2>/dev/null; then
        bad "live: capture still running 10 s after its interface was deleted"
        kill -TERM "$bgpid"; sleep 3; kill -9 "$bgpid" 2>/dev/null
    fi
    wait "$bgpid"; rc=$?; bgpid=""
    row "live, interface deleted" "$rc" - -
    sane live "live capture, interface deleted" && ok
    dbok "$dbd/live.db" "live" && ok
    expect live "every session stored (the open one ended at eof)" \
        "SELECT count(*) || ' ' || sum(complete) || ' ' || sum(end_reason = 'eof') FROM sessions" "4 4 1"
    expect live "capture row finished with its counters" "SELECT packets > 0 FROM captures" 1
    note "live: exit $rc, capture status $(q "$dbd/live.db" 'SELECT status FROM captures'), stderr: $(head -c 200 "$tmp/live.err")"
    ip netns del "$ns"; ns=""
}
section "disk full and read-only done"
live
section "live done"

echo
cat "$tmp/table"
echo
fail=$(nfails); fail=${fail:-0}
echo "hostile: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
