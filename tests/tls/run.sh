#!/bin/bash
# usage: tests/tls/run.sh MAILTAP
# Analyses each capture of tests/tls/ and compares sessions/findings with
# expected.tsv; where tshark is installed, compares version/cipher/SNI with it.
set -u
MT=$(readlink -f "${1:?usage: run.sh MAILTAP}")
cd "$(dirname "$0")"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL $*"; }
chk() { [ "$2" = "$3" ] && ok || bad "$1: got '$2' expected '$3'"; }

# IANA name -> 0xXXXX from openssl's table (mailtap stores IANA names)
openssl ciphers -V -stdname 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' 2>/dev/null |
  awk '{split($1,a,","); sub(/^0x/,"",a[2]); print $3"\t"tolower(a[1] a[2])}' > "$T/ciphers"
hexof() { awk -v n="$1" '$1==n{print $2; exit}' "$T/ciphers"; }

while IFS=$'\t' read -r cap sess port opts prot ver ciph sni cn finds; do
    case "$cap" in \#*|"") continue;; esac
    db="$T/$cap.db"
    if [ ! -f "$db" ]; then
        args=(-q -d "$db")
        [[ $opts == *a* ]] && args+=(--all-ports)
        [[ $opts == *c* ]] && args+=(--ca-file ca.pem)
        "$MT" analyze "${args[@]}" "$cap.pcap" || bad "$cap: analyze failed"
    fi
    sid=$(sqlite3 "$db" "SELECT id FROM sessions ORDER BY start_ts, id LIMIT 1 OFFSET $((sess-1))")
    [ -n "$sid" ] || { bad "$cap#$sess: no such session"; continue; }
    row=$(sqlite3 -separator $'\t' -nullvalue - "$db" \
        "SELECT server_port, protection, tls_version, tls_cipher, tls_sni, cert_subject FROM sessions WHERE id=$sid")
    IFS=$'\t' read -r gport gprot gver gciph gsni gsubj <<<"$row"
    chk "$cap#$sess server_port" "$gport" "$port"
    chk "$cap#$sess protection" "$gprot" "$prot"
    chk "$cap#$sess tls_version" "$gver" "$ver"
    chk "$cap#$sess tls_cipher" "$gciph" "$ciph"
    chk "$cap#$sess tls_sni" "$gsni" "$sni"
    if [ "$cn" = - ]; then chk "$cap#$sess cert_subject" "$gsubj" -
    else [[ $gsubj == *"$cn"* ]] && ok || bad "$cap#$sess cert_subject: '$gsubj' lacks '$cn'"; fi
    gf=$(sqlite3 "$db" "SELECT DISTINCT kind||':'||severity FROM findings WHERE session_id=$sid ORDER BY 1" | paste -sd, -)
    ef=$(tr ',' '\n' <<<"$finds" | grep -v '^-$' | sort | paste -sd, -)
    chk "$cap#$sess findings" "${gf:-}" "${ef:-}"

    # cross-check with tshark (TLS sessions only)
    if [ "$ver" != - ] && command -v tshark >/dev/null; then
        tf=$(tshark -r "$cap.pcap" -o tls.desegment_ssl_records:TRUE -d "tcp.port==$port,smtp" \
               -Y 'tls.handshake.type==2' -T fields -E 'separator=|' \
               -e tls.handshake.version -e tls.handshake.extensions.supported_version \
               -e tls.handshake.ciphersuite 2>/dev/null | head -1)
        [ "$port" = 465 ] && tf=$(tshark -r "$cap.pcap" -o tls.desegment_ssl_records:TRUE -d "tcp.port==465,tls" \
               -Y 'tls.handshake.type==2' -T fields -E 'separator=|' \
               -e tls.handshake.version -e tls.handshake.extensions.supported_version \
               -e tls.handshake.ciphersuite 2>/dev/null | head -1)
        IFS="|" read -r tv tsv tc <<<"$tf"
        [ -n "$tsv" ] && tv=$tsv
        case "$tv" in 0x0300) tvn=SSLv3;; 0x0301) tvn=TLSv1.0;; 0x0302) tvn=TLSv1.1;;
                      0x0303) tvn=TLSv1.2;; 0x0304) tvn=TLSv1.3;; *) tvn="?$tv";; esac
        chk "$cap#$sess tshark version" "$gver" "$tvn"
        chk "$cap#$sess tshark cipher" "$(hexof "$gciph")" "$(tr A-F a-f <<<"$tc")"
        ts=$(tshark -r "$cap.pcap" -o tls.desegment_ssl_records:TRUE -d "tcp.port==$port,smtp" \
               -Y 'tls.handshake.type==1' -T fields -e tls.handshake.extensions_server_name 2>/dev/null | head -1)
        [ "$port" = 465 ] && ts=$(tshark -r "$cap.pcap" -d "tcp.port==465,tls" \
               -Y 'tls.handshake.type==1' -T fields -e tls.handshake.extensions_server_name 2>/dev/null | head -1)
        chk "$cap#$sess tshark sni" "$gsni" "${ts:--}"
    fi
done < expected.tsv
echo "tls: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
