#!/bin/sh
# run_unit.sh BIN... — runs each cmocka unit-test binary; prints a summary.
set -u
pass=0; fail=0
for t in "$@"; do
    if "$t" >"$t.log" 2>&1; then pass=$((pass + 1)); else
        echo "FAIL unit $(basename "$t"):"; tail -n 30 "$t.log" | sed 's/^/    /'; fail=$((fail + 1)); fi
    grep -E '^\[  (PASSED|FAILED)' "$t.log" | sed "s|^|    $(basename "$t"): |"
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
