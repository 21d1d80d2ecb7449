#!/bin/sh
# make.sh — regenerates the TLS handshake fixtures used by
# tests/unit/test_dissect_tls.c.
#
# Each scenario runs `openssl s_server` and `openssl s_client` on loopback
# through a small python3 relay that records the bytes of each direction:
# NAME.c2s (client -> server) and NAME.s2c (server -> client).  Certificates
# the tests need to verify chains against are kept as *.pem; private keys
# are thrown away.  Needs openssl (3.x), python3 with `cryptography` (only
# for the expired certificate).  Usage: sh make.sh [base_port]
set -eu
cd "$(dirname "$0")"
OUT=$(pwd)
PORT=${1:-47310}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

cat > relay.py <<'EOF'
# relay.py LISTEN_PORT UPSTREAM_PORT NAME... — one connection per NAME;
# records client->server into NAME.c2s and server->client into NAME.s2c.
import selectors, socket, sys
lp, up, names = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lp)); ls.listen(1)
print("ready", flush=True)
for name in names:
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", up))
    rec = {c: bytearray(), s: bytearray()}
    peer = {c: s, s: c}
    sel = selectors.DefaultSelector()
    sel.register(c, selectors.EVENT_READ); sel.register(s, selectors.EVENT_READ)
    open_ = 2
    while open_:
        for k, _ in sel.select(10):
            d = k.fileobj.recv(65536)
            if not d:
                sel.unregister(k.fileobj); open_ -= 1
                try: peer[k.fileobj].shutdown(socket.SHUT_WR)
                except OSError: pass
                continue
            rec[k.fileobj] += d
            peer[k.fileobj].sendall(d)
    open(name + ".c2s", "wb").write(rec[c])
    open(name + ".s2c", "wb").write(rec[s])
    c.close(); s.close()
EOF

cat > expired.py <<'EOF'
# expired.py — self-signed RSA-2048 certificate valid 2020-01-01..2021-01-01.
import datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired.example.org"),
               x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example")])
c = (x509.CertificateBuilder().subject_name(n).issuer_name(n)
     .public_key(k.public_key()).serial_number(4242)
     .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
     .not_valid_after(datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc))
     .add_extension(x509.SubjectAlternativeName([x509.DNSName("expired.example.org")]), False)
     .sign(k, hashes.SHA256()))
open("expired.key", "wb").write(k.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
open("expired.pem", "wb").write(c.public_bytes(serialization.Encoding.PEM))
EOF

# --- certificates -------------------------------------------------------
SAN='subjectAltName=DNS:mail.example.com,DNS:smtp.example.com'
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem -days 3650 \
    -subj '/O=Example/CN=mail.example.com' -addext "$SAN" 2>/dev/null
openssl req -x509 -newkey rsa:1024 -nodes -keyout rsa1024.key -out rsa1024.pem -days 3650 \
    -subj '/CN=weak.example.net' 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key \
    -out ec.pem -days 3650 -subj '/CN=ec.example.com' -addext 'subjectAltName=DNS:ec.example.com' 2>/dev/null
python3 expired.py
# a CA and a leaf it signs (chain of two)
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
    -subj '/O=Mailtap Test/CN=Mailtap Test CA' 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr \
    -subj '/CN=mx.example.org' 2>/dev/null
printf 'subjectAltName=DNS:mx.example.org\nbasicConstraints=CA:FALSE\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
    -extfile leaf.ext -out leaf.pem 2>/dev/null

# --- scenarios ----------------------------------------------------------
# run NAME "server options" "client options" ["first client options"]
# With a fourth argument two connections are made (the first one with those
# options) and only the second is kept.
run() {
    name=$1; sopt=$2; copt=$3; n=1; first=${4:-}
    [ -n "$first" ] && n=2
    PORT=$((PORT + 2))
    names=$name
    [ "$n" -eq 2 ] && names="${name}_first $name"
    # shellcheck disable=SC2086
    openssl s_server -accept "127.0.0.1:$((PORT + 1))" -naccept "$n" -rev $sopt \
        >"$name.server.log" 2>&1 &
    spid=$!
    # shellcheck disable=SC2086
    python3 relay.py "$PORT" "$((PORT + 1))" $names >"$name.relay.log" 2>&1 &
    rpid=$!
    sleep 1
    i=0
    while [ $i -lt "$n" ]; do
        o=$copt
        [ "$n" -eq 2 ] && [ $i -eq 0 ] && o=$first
        # shellcheck disable=SC2086
        (printf 'EHLO client.example\r\n'; sleep 1) | \
            openssl s_client -connect "127.0.0.1:$PORT" $o >"$name.client$i.log" 2>&1 || true
        i=$((i + 1))
    done
    wait "$rpid" || true
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    cp "$name.c2s" "$name.s2c" "$OUT/"
}

run tls12_ecdhe "-cert rsa.pem -key rsa.key -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256" \
    "-tls1_2 -servername mail.example.com -alpn smtp"
run tls13 "-cert rsa.pem -key rsa.key -tls1_3" \
    "-tls1_3 -servername mail.example.com -alpn h2,http/1.1"
run tls10_weak "-cert rsa.pem -key rsa.key -tls1 -cipher AES128-SHA:@SECLEVEL=0" \
    "-tls1 -cipher AES128-SHA:@SECLEVEL=0 -noservername"
run expired "-cert expired.pem -key expired.key -tls1_2" \
    "-tls1_2 -servername expired.example.org"
run rsa1024 "-cert rsa1024.pem -key rsa1024.key -tls1_2 -cipher DEFAULT:@SECLEVEL=0" \
    "-tls1_2 -cipher DEFAULT:@SECLEVEL=0 -servername weak.example.net"
run hsfail "-cert rsa.pem -key rsa.key -tls1_2 -cipher AES128-SHA" \
    "-tls1_2 -cipher AES256-SHA -servername mail.example.com"
run hrr "-cert rsa.pem -key rsa.key -tls1_3 -groups X25519" \
    "-tls1_3 -groups P-256:X25519 -servername mail.example.com"
run ecdsa "-cert ec.pem -key ec.key -tls1_2" "-tls1_2 -servername ec.example.com"
run chain "-cert leaf.pem -key leaf.key -cert_chain ca.pem -tls1_2" \
    "-tls1_2 -servername mx.example.org"
# TLS 1.2 resumption: the second connection reuses the session of the first
run tls12_resumed "-cert rsa.pem -key rsa.key -tls1_2 -no_ticket" \
    "-tls1_2 -servername mail.example.com -sess_in sess.pem" \
    "-tls1_2 -servername mail.example.com -sess_out sess.pem"

cp rsa.pem expired.pem ca.pem "$OUT/"
ls -l "$OUT"
