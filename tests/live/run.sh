#!/bin/sh
# run.sh MAILTAP — live capture for real: two network namespaces joined by a
# veth pair (10.231.0.1 client side, 10.231.0.2 server side; nothing outside
# the namespaces is touched), a small SMTP server of our own on the server
# side, real clients (swaks, python smtplib with STARTTLS and implicit TLS),
# and `mailtap capture -i veth1 -Z nobody` on the server side.  Checks the
# database (verdicts, capture row with pcap statistics, commits while
# running), the --events stream (one line per stored row, SIGHUP rotation),
# that packets are never parsed as root, signals, --duration, filters and the
# start-up errors.  Skips (exit 0) when not root or without `ip netns`.
# Last line: "live: N passed, N failed".
set -u
m=$1
case $m in /*) ;; *) m=$(pwd)/$m ;; esac
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL live: $*"; }
skip() { echo "live: skipped: $*"; echo "live: 0 passed, 0 failed"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null 2>&1 || skip "no ip(8)"
[ -x "$py" ] || skip "no $py"
command -v openssl >/dev/null 2>&1 || skip "no openssl (test certificate)"
id nobody >/dev/null 2>&1 || skip "no user nobody"

nsc=mtlive$$c           # client side: veth0 10.231.0.1
nss=mtlive$$s           # server side: veth1 10.231.0.2, where mailtap captures
tmp=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    ip netns pids "$nss" 2>/dev/null | while read -r p; do kill "$p" 2>/dev/null; done
    ip netns pids "$nsc" 2>/dev/null | while read -r p; do kill "$p" 2>/dev/null; done
    ip netns del "$nsc" 2>/dev/null
    ip netns del "$nss" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$nsc" 2>/dev/null || skip "ip netns unavailable (no CAP_SYS_ADMIN?)"
ip netns add "$nss" || skip "ip netns unavailable"
ip -n "$nsc" link add veth0 type veth peer name veth1 netns "$nss" || skip "cannot create a veth pair"
ip -n "$nsc" addr add 10.231.0.1/24 dev veth0
ip -n "$nss" addr add 10.231.0.2/24 dev veth1
ip -n "$nsc" link set lo up; ip -n "$nss" link set lo up
ip -n "$nsc" link set veth0 up; ip -n "$nss" link set veth1 up

# Everything nobody must reach: tmp traversable, events in a directory of
# its own (rotation creates a new file there); the database sits in a
# directory nobody can NOT write, so it must have been prepared before the
# privileges were dropped.
chmod 711 "$tmp"
mkdir "$tmp/ev" && chown nobody "$tmp/ev"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj /CN=mx.test.example -days 2 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    >/dev/null 2>&1 || skip "openssl cannot make a certificate"

ip netns exec "$nss" "$py" "$here/smtp_server.py" 10.231.0.2 "$tmp/cert.pem" "$tmp/key.pem" \
    "$tmp/ready" 25 465 587 2525 8080 >"$tmp/server.log" 2>&1 &
pids="$pids $!"
i=0; while [ ! -f "$tmp/ready" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -f "$tmp/ready" ] || skip "test SMTP server did not start: $(head -c 300 "$tmp/server.log")"

client() { ip netns exec "$nsc" "$py" "$here/smtp_client.py" "$1" 10.231.0.2 "$2" ${3:+"$3"} \
               >>"$tmp/client.log" 2>&1 || bad "client $1 to port $2 failed: $(tail -n 3 "$tmp/client.log")"; }
# starts capture in the server namespace (pid in $cap), waits until it runs
# as nobody (that is: interface and database are open, privileges dropped)
start_capture() {
    out=$1; shift
    ip netns exec "$nss" "$m" capture -i veth1 "$@" >"$out.out" 2>"$out.err" &
    cap=$!
    i=0
    while [ $i -lt 50 ]; do
        if [ -r "/proc/$cap/status" ] && grep -q '^Uid:[[:space:]]*65534[[:space:]]' "/proc/$cap/status"; then
            sleep 0.3; return 0
        fi
        kill -0 "$cap" 2>/dev/null || break
        sleep 0.1; i=$((i + 1))
    done
    bad "capture did not start as nobody: $(head -c 300 "$out.err")"
    return 1
}
# waits (up to $2 s) for pid $1 to exit; its status in $st (124 on timeout)
wait_exit() {
    i=0; n=$(( $2 * 10 ))
    while kill -0 "$1" 2>/dev/null && [ $i -lt $n ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$1" 2>/dev/null; then kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; st=124; return; fi
    wait "$1"; st=$?
}
checks() {  # runs check.py, counts its ok/FAIL lines
    "$py" "$here/check.py" "$@" >"$tmp/check.out" 2>&1
    n_ok=$(grep -c '^ok: ' "$tmp/check.out"); pass=$((pass + n_ok))
    grep '^FAIL: ' "$tmp/check.out" | while read -r l; do echo "FAIL live: $1: ${l#FAIL: }"; done
    n_bad=$(grep -c '^FAIL: ' "$tmp/check.out"); fail=$((fail + n_bad))
    grep -q '^Traceback' "$tmp/check.out" && bad "check.py $1 crashed: $(tail -n 2 "$tmp/check.out")"
}

secret=S3cr3t-pw-live

# ---- 1. the main run: default filter, -Z nobody, events, SIGHUP, SIGTERM --
db=$tmp/live.db
ev=$tmp/ev/events.jsonl
if start_capture "$tmp/main" -Z nobody -d "$db" --events "$ev" -q; then
    pid=$cap
    st_line=$(grep -E '^(Uid|Gid|Groups|CapEff):' "/proc/$pid/status" | tr '\t' ' ')
    echo "$st_line" | grep -q '^Uid: 65534 65534 65534 65534' && ok || bad "not nobody after start-up: $st_line"
    echo "$st_line" | grep -q '^Gid: 65534 65534 65534 65534' && ok || bad "gid not dropped: $st_line"
    echo "$st_line" | grep -Eq '^Groups: *65534 *$' && ok || bad "supplementary groups kept: $st_line"
    echo "$st_line" | grep -q '^CapEff: 0000000000000000' && ok || bad "capabilities kept: $st_line"
    [ "$(stat -c %U "$db")" = nobody ] && ok || bad "database not given to nobody"
    [ "$(stat -c %U "$db-wal" 2>/dev/null)" = nobody ] && [ "$(stat -c %U "$db-shm" 2>/dev/null)" = nobody ] \
        && ok || bad "database -wal/-shm not owned by nobody"

    if command -v swaks >/dev/null 2>&1; then
        ip netns exec "$nsc" swaks --server 10.231.0.2 --port 25 --ehlo auth.corp.example \
            --from alice@corp.example --to bob@b.example --auth PLAIN --auth-user alice \
            --auth-password "$secret" --header 'Subject: live test' --body 'hello' \
            >>"$tmp/client.log" 2>&1 || bad "swaks failed: $(tail -n 3 "$tmp/client.log")"
    else
        client auth 25 "$secret"
    fi
    client starttls 25
    client implicit 465
    client plain 2525                   # outside the default filter
    ip netns exec "$nsc" "$py" "$here/smtp_client.py" hold:6 10.231.0.2 587 >>"$tmp/client.log" 2>&1 &
    hold=$!
    sleep 0.5
    # Commits happen at most every 2 s, from the packet callbacks (capture/
    # has no idle tick yet): connections over more than 2 s make sure one
    # happens after the sessions above ended and the long one began.
    client probe 587; sleep 1.1; client probe 587; sleep 1.1; client probe 587
    sleep 1                             # capture/ delivers within its 500 ms timeout
    checks midrun "$db"

    mv "$ev" "$ev.1"                    # log rotation
    kill -HUP "$pid"
    sleep 0.3
    client plain 25
    wait "$hold" || bad "long client failed"
    sleep 1.2                           # capture/ delivers within its 500 ms timeout
    kill -0 "$pid" 2>/dev/null && ok || bad "SIGHUP killed the capture"
    kill -TERM "$pid"
    wait_exit "$pid" 10
    [ "$st" = 0 ] && ok || bad "capture ended by SIGTERM exited $st: $(head -c 300 "$tmp/main.err")"
    [ ! -s "$tmp/main.err" ] && ok || bad "capture wrote to stderr: $(head -c 300 "$tmp/main.err")"
    [ ! -s "$tmp/main.out" ] && ok || bad "capture -q wrote to stdout"
    [ -s "$ev.1" ] && [ -s "$ev" ] && ok || bad "SIGHUP did not reopen the events file"
    [ "$(stat -c %U "$ev" 2>/dev/null)" = nobody ] && ok || bad "reopened events file not created by nobody"
    checks main "$db" "$secret" "$ev.1" "$ev"
fi

# ---- 2. --all-ports, ended by --duration ---------------------------------
db2=$tmp/allports.db
t0=$(date +%s)
if start_capture "$tmp/all" -Z nobody -d "$db2" --all-ports --duration 3; then
    client plain 2525
    client http 8080
    kill -HUP "$cap"                    # no --events: SIGHUP must not end it
    wait_exit "$cap" 10
    el=$(( $(date +%s) - t0 ))
    [ "$st" = 0 ] && ok || bad "--duration run exited $st: $(head -c 300 "$tmp/all.err")"
    [ "$el" -ge 2 ] && [ "$el" -le 7 ] && ok || bad "--duration 3 took ${el}s"
    grep -q '^live:veth1: .*packets.*SMTP sessions' "$tmp/all.out" && ok || bad "no summary: $(cat "$tmp/all.out")"
    grep -q '^live:veth1: [0-9]* dropped by the kernel, [0-9]* by the interface$' "$tmp/all.out" \
        && ok || bad "no drop line in the summary"
    checks allports "$db2"
fi

# ---- 3. -f replaces the filter, ended by SIGINT ---------------------------
db3=$tmp/filter.db
if start_capture "$tmp/flt" -Z nobody -d "$db3" -f 'tcp port 587' -q --events - ; then
    client plain 25
    client plain 587
    sleep 1.2
    kill -INT "$cap"
    wait_exit "$cap" 10
    [ "$st" = 0 ] && ok || bad "capture ended by SIGINT exited $st: $(head -c 300 "$tmp/flt.err")"
    checks filter "$db3"
    checks events "$db3" "$tmp/flt.out"     # --events - : stdout carries only events
fi

# ---- 4. no root at all: an ordinary user holding CAP_NET_RAW (the unit) ----
if command -v setpriv >/dev/null 2>&1; then
    mkdir "$tmp/caps" && chown nobody "$tmp/caps"
    db4=$tmp/caps/caps.db
    ip netns exec "$nss" setpriv --reuid=65534 --regid=65534 --clear-groups \
        --inh-caps=+net_raw --ambient-caps=+net_raw \
        "$m" capture -i veth1 -d "$db4" --duration 3 -q >"$tmp/caps.out" 2>"$tmp/caps.err" &
    cap=$!
    i=0; while [ ! -s "$db4" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 0.5
    capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$cap/status" 2>/dev/null)
    [ "$capeff" = 0000000000002000 ] && ok || bad "CAP_NET_RAW run: CapEff $capeff, want only cap_net_raw"
    client plain 25
    wait_exit "$cap" 10
    [ "$st" = 0 ] && ok || bad "CAP_NET_RAW run exited $st: $(head -c 300 "$tmp/caps.err")"
    n=$(sqlite3 "$db4" "SELECT count(*) FROM sessions WHERE protection = 'cleartext' AND complete = 1" 2>&1)
    [ "$n" = 1 ] && ok || bad "CAP_NET_RAW run stored $n sessions, want 1"
fi

# ---- 5. start-up errors and the root policy --------------------------------
in_ns() { ip netns exec "$nss" "$@"; }
expect() {  # expect RC WHAT-IN-STDERR CMD...
    want=$1; pat=$2; shift 2
    "$@" >"$tmp/e.out" 2>"$tmp/e.err"; rc=$?
    if [ "$rc" = "$want" ] && [ "$(wc -l <"$tmp/e.err")" -eq 1 ] && grep -q "^mailtap: .*$pat" "$tmp/e.err"; then
        ok
    else
        bad "'$*' exited $rc (want $want), stderr: $(head -c 300 "$tmp/e.err")"
    fi
}
expect 2 'refusing to parse packets as root' in_ns "$m" capture -i veth1 -d "$tmp/x.db"
expect 2 'would parse packets as root' in_ns "$m" capture -i veth1 -Z root -d "$tmp/x.db"
expect 2 'no such user' in_ns "$m" capture -i veth1 -Z no-such-user-mt -d "$tmp/x.db"
expect 2 'buffer-mib' in_ns "$m" capture -i veth1 -Z nobody --buffer-mib 0 -d "$tmp/x.db"
expect 1 'nosuch0: .*no such device' in_ns "$m" capture -i nosuch0 -Z nobody -d "$tmp/x.db"
expect 1 'bad filter' in_ns "$m" capture -i veth1 -Z nobody -f 'tcp port' -d "$tmp/x.db"
if command -v setpriv >/dev/null 2>&1; then
    mkdir "$tmp/nb" && chown nobody "$tmp/nb"
    expect 1 'veth1: permission denied' in_ns setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$m" capture -i veth1 -d "$tmp/nb/x.db"
    expect 1 'needs root' in_ns setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$m" capture -i veth1 -Z daemon -d "$tmp/nb/x.db"
fi
ln -s "$tmp/elsewhere.db" "$tmp/link.db"
expect 1 'symbolic link' in_ns "$m" capture -i veth1 -Z nobody -d "$tmp/link.db"
[ ! -e "$tmp/x.db" ] && ok || bad "a refused start-up left a database behind"

# ---- 6. analyze --events ----------------------------------------------------
pcaps=$here/../pcaps
if ls "$pcaps"/*.pcap >/dev/null 2>&1; then
    "$m" analyze -q -d "$tmp/an.db" --events "$tmp/an.jsonl" "$pcaps"/*.pcap >/dev/null 2>"$tmp/an.err"
    [ -s "$tmp/an.jsonl" ] && ok || bad "analyze --events wrote nothing: $(head -c 300 "$tmp/an.err")"
    checks events "$tmp/an.db" "$tmp/an.jsonl"
    "$m" analyze -d "$tmp/an2.db" --events - "$pcaps"/s08_auth_matrix.pcap >"$tmp/an2.out" 2>"$tmp/an2.err"
    checks events "$tmp/an2.db" "$tmp/an2.out"
    grep -q 'SMTP sessions' "$tmp/an2.err" && ok || bad "analyze --events -: summary not moved to stderr"
    expect 2 'redact' "$m" analyze -d "$tmp/an3.db" --events - --redact /dev/null "$pcaps"/s08_auth_matrix.pcap
fi

echo "live: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
