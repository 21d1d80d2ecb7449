#!/bin/sh
# setup.sh — installs the Debian 12 packages mailtap needs to build and test,
# when they are missing.  Safe to run again; needs root (or sudo) only when
# something is missing.
set -eu
need="build-essential clang pkg-config libpcap-dev libndpi-dev libssl-dev libsqlite3-dev
sqlite3 libcmocka-dev python3 python3-scapy tcpdump iproute2 openssl swaks tcpreplay time tshark python3-cryptography"
missing=""
for p in $need; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "setup: installing:$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
echo "setup: all build and test dependencies present"
