#!/bin/sh
# run_all.sh MAILTAP UNIT_BIN... — the whole suite: unit, golden, CLI,
# corpus (skipped when ../shared/corpus is absent).  Ends with the line
# "N passed, N failed" counting suites.
set -u
mailtap=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
pass=0; fail=0
run() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi; }
run sh "$here/run_unit.sh" "$@"
run sh "$here/golden/run.sh" "$mailtap"
run sh "$here/cli/run.sh" "$mailtap"
run sh "$here/report/run.sh" "$mailtap"
run bash "$here/tls/run.sh" "$mailtap"
run sh "$here/live/run.sh" "$mailtap"
# resource attacks measure memory and time: full size on the normal build,
# small versions under the sanitizers (which distort both)
case "$mailtap" in
    *build-san*) run env HOSTILE_QUICK=1 sh "$here/hostile/run.sh" "$mailtap" ;;
    *)           run sh "$here/hostile/run.sh" "$mailtap" ;;
esac
run sh "$here/corpus/check.sh" "$mailtap"
echo "suites: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
