#!/bin/sh
# check.sh MAILTAP — runs check.py over ../shared/corpus when it exists;
# skips cleanly otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
corpus=${MAILTAP_CORPUS:-$here/../../../shared/corpus}
if [ ! -f "$corpus/STREAMS.tsv" ]; then
    echo "corpus: skipped (no $corpus)"
    exit 0
fi
/usr/bin/python3 "$here/check.py" "$1" "$corpus"
