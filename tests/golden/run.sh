#!/bin/sh
# run.sh MAILTAP — golden tests: every tests/pcaps/NAME.expected names the
# capture(s) it covers on its first line ("# input: FILE [FILE...]"); the
# captures are analysed into a fresh database, dumped with dump.sh, and the
# dump must equal the expected file (comment lines ignored).  "# exit: N"
# states analyze's exit status when it is not 0 (a damaged file is exit 1
# with everything before the damage stored).
set -u
mailtap=$1
here=$(cd "$(dirname "$0")" && pwd)
pcaps=$here/../pcaps
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
for exp in "$pcaps"/*.expected; do
    [ -e "$exp" ] || continue
    name=$(basename "$exp" .expected)
    inputs=$(sed -n 's/^# input: //p' "$exp" | head -n 1)
    [ -n "$inputs" ] || inputs="$name.pcap"
    set --
    for f in $inputs; do set -- "$@" "$pcaps/$f"; done
    want_rc=$(sed -n 's/^# exit: //p' "$exp" | head -n 1)
    [ -n "$want_rc" ] || want_rc=0
    db=$tmp/$name.db
    "$mailtap" analyze -q -d "$db" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    if [ "$rc" != "$want_rc" ]; then
        echo "FAIL golden $name: analyze exited $rc, want $want_rc: $(head -c 300 "$tmp/$name.err")"
        fail=$((fail + 1)); continue
    fi
    sh "$here/dump.sh" "$db" >"$tmp/$name.got"
    grep -v '^#' "$exp" | sed '/^[[:space:]]*$/d' >"$tmp/$name.want"
    if diff -u "$tmp/$name.want" "$tmp/$name.got" >"$tmp/$name.diff"; then
        pass=$((pass + 1))
    else
        echo "FAIL golden $name:"; sed 's/^/    /' "$tmp/$name.diff" | head -n 40
        fail=$((fail + 1))
    fi
done
echo "golden: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
