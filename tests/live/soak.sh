#!/bin/sh
# soak.sh MAILTAP [PCAP...] — a soak benchmark of live capture, not a timed
# test: replays a large capture at full speed (tcpreplay --topspeed, looped,
# new addresses every loop so every flow is new) into a veth pair inside a
# network namespace of its own, with `mailtap capture -Z nobody` on the other
# end, for SOAK_SECONDS (default 180).  Reports packets per second handled,
# kernel/interface drops, sessions stored, and the resident memory of the
# capture process (VmRSS, sampled every second) at the start, every 10% of
# the run, at the end, and its peak (VmHWM).
#
# PCAP defaults to the largest sample in bench/out (smtp_sample.pcap, then
# mixed_sample.pcap), else the Ethernet captures of tests/pcaps.  Needs root
# and tcpreplay (skips, exit 0, without them).  SOAK_KEEP=DIR keeps the
# database and samples in DIR.
set -u
m=$1; shift
case $m in /*) ;; *) m=$(pwd)/$m ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${SOAK_SECONDS:-180}
skip() { echo "soak: skipped: $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root"
command -v tcpreplay >/dev/null 2>&1 || skip "no tcpreplay (apt-get install tcpreplay)"
command -v ip >/dev/null 2>&1 || skip "no ip(8)"

if [ $# -eq 0 ]; then
    for f in "$root/bench/out/smtp_sample.pcap" "$root/bench/out/mixed_sample.pcap"; do
        [ -s "$f" ] && { set -- "$f"; break; }
    done
fi
if [ $# -eq 0 ]; then
    for f in "$root"/tests/pcaps/*.pcap; do
        # only Ethernet captures can go onto a veth
        tcpdump -r "$f" -c 1 2>&1 | grep -q 'link-type EN10MB' && set -- "$@" "$f"
    done
fi
[ $# -gt 0 ] || skip "no capture to replay"

ns=mtsoak$$
tmp=$(mktemp -d)
cap=""; rep=""; smp=""
cleanup() {
    for p in $smp $rep $cap; do kill "$p" 2>/dev/null; done
    ip netns pids "$ns" 2>/dev/null | while read -r p; do kill "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
    if [ -n "${SOAK_KEEP:-}" ]; then mkdir -p "$SOAK_KEEP" && cp -r "$tmp"/. "$SOAK_KEEP"/; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$ns" || skip "ip netns unavailable"
ip -n "$ns" link add veth0 type veth peer name veth1 || skip "cannot create a veth pair"
for d in veth0 veth1; do
    ip -n "$ns" link set "$d" mtu 9000
    ip -n "$ns" link set "$d" up
done
chmod 711 "$tmp"
db=$tmp/soak.db

ip netns exec "$ns" "$m" capture -i veth1 -Z nobody -q -d "$db" >"$tmp/cap.out" 2>"$tmp/cap.err" &
cap=$!
i=0
until grep -q '^Uid:[[:space:]]*65534[[:space:]]' "/proc/$cap/status" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 50 ] || ! kill -0 "$cap" 2>/dev/null; then
        echo "soak: capture did not start: $(cat "$tmp/cap.err")"; exit 1
    fi
    sleep 0.1
done

# memory sampler: "seconds VmRSS-kB" every second
(
    t=0
    while kill -0 "$cap" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$cap/status" 2>/dev/null)
        [ -n "$rss" ] && echo "$t $rss"
        sleep 1; t=$((t + 1))
    done
) >"$tmp/rss" &
smp=$!

if [ $# -eq 1 ]; then what=$1; else what="$# captures ($1 ...)"; fi
echo "soak: replaying $what for ${secs}s (tcpreplay --topspeed --loop, --unique-ip)"
t0=$(date +%s)
ip netns exec "$ns" tcpreplay -i veth0 --topspeed --loop=0 --unique-ip --preload-pcap "$@" \
    >"$tmp/replay.out" 2>&1 &
rep=$!
sleep "$secs"
kill -INT "$rep" 2>/dev/null
wait "$rep" 2>/dev/null
rep=""
sleep 2                         # the last blocks reach mailtap
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$cap/status" 2>/dev/null)
ts=$(date +%s.%N)
kill -TERM "$cap"
i=0; while kill -0 "$cap" 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
wait "$cap"; rc=$?
cap=""
t1=$(date +%s)
stop=$(echo "$(date +%s.%N) $ts" | awk '{ printf "%.1f", $1 - $2 }')
sleep 1; kill "$smp" 2>/dev/null; smp=""

el=$((t1 - t0))
q() { sqlite3 "$db" "$1" 2>/dev/null; }
echo "soak: mailtap exited $rc after ${el}s, ${stop}s after SIGTERM$( [ -s "$tmp/cap.err" ] && echo "; stderr: $(head -c 300 "$tmp/cap.err")")"
echo "soak: tcpreplay: $(grep -E 'Actual:|Rated:' "$tmp/replay.out" | tr -s ' \n' ' ')"
q "SELECT 'soak: capture: ' || packets || ' packets handled (' ||
          printf('%.0f', packets * 1.0 / max($secs, 1)) || ' packets/s over the replay), ' ||
          bytes || ' bytes, dropped ' || dropped || ' by the kernel, ' || ifdropped ||
          ' by the interface, ' || printf('%.2f', 100.0 * dropped / max(packets + dropped, 1)) ||
          '% dropped; status ' || status FROM captures"
echo "soak: open connections at the stop (end_reason eof): $(q "SELECT count(*) FROM sessions WHERE end_reason = 'eof'")"
q "SELECT 'soak: sessions stored: ' || sum(n) || ' (' ||
          group_concat(n || ' ' || protection, ', ') || ')' FROM
          (SELECT protection, count(*) AS n FROM sessions GROUP BY protection)"
awk -v secs="$secs" -v hwm="${hwm:-?}" '
    { t[NR] = $1; r[NR] = $2; if ($2 > max) max = $2 }
    END {
        if (NR == 0) { print "soak: no memory samples"; exit }
        s = 10 < NR ? 10 : 1               # after 10 s of warm-up
        printf "soak: VmRSS at start (t=%ds): %d kB; at the end (t=%ds): %d kB; peak sampled %d kB; VmHWM %s kB\n",
               t[s], r[s], t[NR], r[NR], max, hwm
        printf "soak: VmRSS every 10%% of the run (kB):"
        for (k = 1; k <= 10; k++) { i = int(NR * k / 10); if (i < 1) i = 1; printf " %d", r[i] }
        printf "\n"
        if (r[s] > 0) printf "soak: growth from start to end: %+.1f%%\n", 100.0 * (r[NR] - r[s]) / r[s]
    }' "$tmp/rss"
