#!/bin/bash
# Regenerate the TLS captures in tests/tls/ (needs root: network namespace,
# tcpdump).  Each scenario: tests/tls/server.py (python ssl) + tests/tls/client.py
# (smtplib) on 127.0.0.1 inside a private namespace, captured by tcpdump on lo.
# Certificates come from gen_certs.py (fixed dates; 'expired' is 2020-2021).
set -euo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
NS=mttls$$
ip netns add "$NS"
CERTS=$(mktemp -d)
cleanup() { ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
            ip netns del "$NS" 2>/dev/null || true; rm -rf "$CERTS"; }
trap cleanup EXIT
ip netns exec "$NS" ip link set lo up
X() { ip netns exec "$NS" "$@"; }

$PY gen_certs.py "$CERTS"
cp "$CERTS/ca.crt" ca.pem          # trust anchor for run.sh (--ca-file)

# name port servermode cert tlsver server-ciphers clientmode client-ciphers nconn
scenario() {
    local name=$1 port=$2 smode=$3 cert=$4 ver=$5 sciph=$6 cmode=$7 cciph=$8 n=$9
    local log; log=$(mktemp)
    ip netns exec "$NS" tcpdump -Z root -i lo -U --immediate-mode -s 0 -w "$name.pcap" "tcp port $port" 2>"$log.td" &
    local td=$!
    for _ in $(seq 50); do grep -q "listening on" "$log.td" 2>/dev/null && break; sleep 0.1; done
    ip netns exec "$NS" $PY server.py "$port" "$smode" "$CERTS/$cert.crt" "$CERTS/$cert.key" "$ver" "$sciph" "$n" >"$log" 2>&1 &
    local sv=$!
    for _ in $(seq 50); do grep -q ready "$log" && break; sleep 0.1; done
    X $PY client.py "$port" "$cmode" "$ver" "$cciph" | sed "s/^/$name: /"
    wait $sv || true
    sleep 0.3
    kill -INT $td; wait $td || true
    rm -f "$log" "$log.td"
}

scenario tls12        25   starttls leaf       1.2 ""                          starttls ""                          1
scenario tls13        25   starttls leaf       1.3 ""                          starttls ""                          1
scenario tls10_weak   25   starttls leaf       1.0 "AES128-SHA:@SECLEVEL=0"  starttls "AES128-SHA:@SECLEVEL=0"  1
scenario expired      25   starttls expired    1.2 ""                          starttls ""                          1
scenario selfsigned   25   starttls selfsigned 1.2 ""                          starttls ""                          1
scenario wrongname    25   starttls wrongname  1.2 ""                          starttls ""                          1
scenario rsa1024      25   starttls rsa1024    1.2 "DEFAULT:@SECLEVEL=1"       starttls "DEFAULT:@SECLEVEL=1"       1
scenario implicit465  465  implicit leaf       1.2 ""                          implicit ""                          1
scenario refused_retry 25  refuse   leaf       any ""                          refuse-retry ""                      2
scenario nonstd2525   2525 starttls leaf       1.2 ""                          starttls ""                          1
ls -l ./*.pcap
