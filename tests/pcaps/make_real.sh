#!/bin/bash
# make_real.sh — records the "real software" captures of tests/pcaps/ (r_*.pcap).
#
# Runs Postfix (a private instance: config, queue and data directories in a
# temporary directory), swaks, openssl s_client and real_client.py on the
# loopback interface of a network namespace of its own, and records each
# scenario with tcpdump.  Afterwards the packet times are moved to a fixed base
# (1700100000 + the original offsets) so the files do not carry the wall-clock
# time of the run; ports are fixed by the clients (swaks --local-port,
# s_client -bind, real_client.py bind), everything else is left as captured.
#
# The captures are generated once and committed; the golden tests use the
# committed files.  This script is for reproducing them.  Running it again
# gives equivalent (not byte-identical) files: ISNs, TLS keys and timings
# differ; the expected verdicts do not.
#
# Needs: root, ip (iproute2), postfix 3.x, saslpasswd2 (sasl2-bin), swaks,
# openssl, tcpdump, /usr/bin/python3 with python3-scapy.
#
# Usage: tests/pcaps/make_real.sh [OUTDIR]      (default: the script's directory)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
ns=mt$$
tmp=$(mktemp -d /tmp/mailtap-real.XXXXXX)
chmod 755 "$tmp"
tcpdump_pid=

for tool in ip postfix saslpasswd2 swaks openssl tcpdump /usr/bin/python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "make_real.sh: missing $tool" >&2; exit 1; }
done

cleanup() {
    set +e
    if [ -n "$tcpdump_pid" ]; then kill -INT "$tcpdump_pid" 2>/dev/null; wait "$tcpdump_pid" 2>/dev/null; fi
    if [ -f "$tmp/etc/main.cf" ]; then
        ip netns exec "$ns" postfix -c "$tmp/etc" stop >/dev/null 2>&1
        sleep 1
    fi
    # anything still running in the namespace was started by this script
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "make_real.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

inns() { ip netns exec "$ns" "$@"; }

ip netns add "$ns"
inns ip link set lo up
inns ip addr add 127.0.0.2/8 dev lo 2>/dev/null || true   # 127/8 is local already

# ---- certificate ------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mx.test.example" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
chmod 644 "$tmp/cert.pem"; chmod 640 "$tmp/key.pem"; chgrp postfix "$tmp/key.pem"

# ---- SASL (Cyrus, sasldb) ---------------------------------------------------
# Debian's Postfix reads $config_directory/sasl/smtpd.conf
mkdir -p "$tmp/etc/sasl"
cat >"$tmp/etc/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $tmp/etc/sasl/sasldb2
mech_list: PLAIN LOGIN
EOF
echo 'S3cretPass' | saslpasswd2 -p -c -f "$tmp/etc/sasl/sasldb2" -u test.example alice
chown root:postfix "$tmp/etc/sasl/sasldb2"; chmod 640 "$tmp/etc/sasl/sasldb2"
chmod 755 "$tmp/etc/sasl"

# ---- Postfix instance -------------------------------------------------------
mkdir -p "$tmp/etc" "$tmp/spool" "$tmp/data"
chown postfix "$tmp/data"
cat >"$tmp/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $tmp/spool
data_directory = $tmp/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test.example
mydomain = test.example
myorigin = test.example
mydestination = test.example
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1, 127.0.0.2
inet_protocols = ipv4
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard:
default_transport = discard:
relay_transport = discard:
smtpd_banner = \$myhostname ESMTP Postfix
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
smtpd_tls_security_level = may
smtpd_tls_cert_file = $tmp/cert.pem
smtpd_tls_key_file = $tmp/key.pem
smtpd_tls_auth_only = no
smtpd_sasl_auth_enable = no
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $tmp/etc/sasl
smtpd_sasl_local_domain = test.example
smtpd_error_sleep_time = 0s
maillog_file = $tmp/maillog
maillog_file_prefixes = $tmp
biff = no
EOF
# chroot column "n" everywhere: the instance lives in a temporary directory.
cat >"$tmp/etc/master.cf" <<'EOF'
127.0.0.1:smtp       inet  n - n - - smtpd
127.0.0.2:smtp       inet  n - n - - smtpd -o smtpd_tls_security_level=none
127.0.0.1:submission inet  n - n - - smtpd -o smtpd_sasl_auth_enable=yes -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 300  1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
local      unix  - n n -    - local
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
inns postfix -c "$tmp/etc" check
inns postfix -c "$tmp/etc" start
# wait for the listeners without connecting to them (a probe connection
# would end up in the first capture)
for _ in $(seq 50); do
    [ "$(inns ss -Hltn 'sport = :25 or sport = :587' | wc -l)" -ge 3 ] && break
    sleep 0.2
done

# ---- message contents ---------------------------------------------------------
msg() {   # msg N SUBJECT -> a DATA portion with CRLF line ends (swaks --data)
    printf 'From: Alice <alice@test.example>\r\nTo: Bob <bob@test.example>\r\nSubject: %s\r\nDate: Wed, 15 Nov 2023 10:00:00 +0000\r\nMessage-ID: <real-%s@client.test.example>\r\n\r\nMessage number %s of the real-capture set.\r\nBye.\r\n' "$2" "$1" "$1"
}

# ---- capture helpers ---------------------------------------------------------
start_capture() {   # start_capture FILE
    # started directly (not through a shell function) so that $! is tcpdump
    ip netns exec "$ns" tcpdump -i lo -U --immediate-mode -s 0 -w "$1" 'tcp port 25 or tcp port 587' 2>"$tmp/tcpdump.err" &
    tcpdump_pid=$!
    for _ in $(seq 50); do
        grep -q 'listening on' "$tmp/tcpdump.err" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "make_real.sh: tcpdump did not start" >&2; cat "$tmp/tcpdump.err" >&2; exit 1
}

stop_capture() {
    sleep 0.5
    kill -INT "$tcpdump_pid"
    wait "$tcpdump_pid" || true
    tcpdump_pid=
}

retime() {   # retime IN OUT BASE — shifts packet times so the first is BASE
    /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import sys
from scapy.utils import RawPcapReader, RawPcapWriter
src, dst, base = sys.argv[1], sys.argv[2], int(sys.argv[3])
rd = RawPcapReader(src)
w = RawPcapWriter(dst, linktype=rd.linktype, endianness="<", snaplen=rd.snaplen)
w.write_header(None)
first = None
for data, meta in rd:
    t = meta.sec * 1000000 + meta.usec
    if first is None:
        first = t
    nt = base * 1000000 + (t - first)
    w.write_packet(data, sec=nt // 1000000, usec=nt % 1000000, caplen=meta.caplen, wirelen=meta.wirelen)
w.close()
rd.close()
PY
}

n=0
record() {   # record NAME COMMAND... — one scenario, one file
    local name=$1; shift
    n=$((n + 1))
    start_capture "$tmp/$name.raw.pcap"
    echo "== $name: $*" >>"$tmp/transcripts"
    local rc=0
    inns "$@" >>"$tmp/transcripts" 2>&1 || rc=$?
    echo "== exit status $rc" >>"$tmp/transcripts"
    case " ${may_fail:-} " in
        *" $name "*) ;;
        *) [ "$rc" -eq 0 ] || { echo "make_real.sh: $name failed" >&2; tail -n 30 "$tmp/transcripts" >&2; exit 1; } ;;
    esac
    stop_capture
    retime "$tmp/$name.raw.pcap" "$out/$name.pcap" $((1700100000 + n * 100))
    echo "make_real.sh: wrote $out/$name.pcap ($(stat -c %s "$out/$name.pcap") bytes)"
}

# scenarios whose client is expected to report a failure (535, a rejected RCPT)
may_fail="r_auth_login_587 r_rejected_rcpt"
SW="swaks --helo client.test.example --from alice@test.example --to bob@test.example --hide-informational"

msg 1 "real no starttls" >"$tmp/m1"
msg 2 "real starttls not used" >"$tmp/m2"
msg 3 "real starttls" >"$tmp/m3"
msg 5 "real auth plain" >"$tmp/m5"
msg 7 "real pipelining" >"$tmp/m7"
msg 10 "real rejected rcpt" >"$tmp/m10"

record r_no_starttls        $SW --server 127.0.0.2:25 --local-interface 127.0.0.1 --local-port 41101 --data "@$tmp/m1"
record r_starttls_unused    $SW --server 127.0.0.1:25 --local-interface 127.0.0.1 --local-port 41102 --data "@$tmp/m2"
record r_starttls           $SW --server 127.0.0.1:25 --local-interface 127.0.0.1 --local-port 41103 --data "@$tmp/m3" --tls
record r_openssl_starttls   bash -c "printf 'EHLO client.test.example\nQUIT\n' | openssl s_client -starttls smtp -name client.test.example -connect 127.0.0.1:25 -bind 127.0.0.1:41104 -crlf -quiet"
record r_auth_plain_587     $SW --server 127.0.0.1:587 --local-interface 127.0.0.1 --local-port 41105 --data "@$tmp/m5" --auth PLAIN --auth-user alice@test.example --auth-password S3cretPass
record r_auth_login_587     $SW --server 127.0.0.1:587 --local-interface 127.0.0.1 --local-port 41106 --data "@$tmp/m5" --auth LOGIN --auth-user alice@test.example --auth-password WrongPass9
record r_pipelining         $SW --server 127.0.0.1:25 --local-interface 127.0.0.1 --local-port 41107 --data "@$tmp/m7" --pipeline
record r_bdat               /usr/bin/python3 "$here/real_client.py" bdat 127.0.0.1 25 41108
record r_multi_rset         /usr/bin/python3 "$here/real_client.py" multi 127.0.0.1 25 41109
record r_rejected_rcpt      swaks --helo client.test.example --from alice@test.example --to bob@test.example,x@elsewhere.example --hide-informational --server 127.0.0.1:25 --local-interface 127.0.0.1 --local-port 41110 --data "@$tmp/m10"

cp "$tmp/transcripts" "${TRANSCRIPTS:-/dev/null}" 2>/dev/null || true
echo "make_real.sh: done ($n captures)"
