#!/bin/sh
# run.sh SECONDS FUZZ_BIN... — runs each libFuzzer target for SECONDS with a
# seed corpus (tests/pcaps for fuzz_pcap, tests/fuzz/seeds/NAME otherwise),
# printing executions per target.  A crash fails the run; the crashing input
# is left in build-fuzz/artifacts/ (turn it into a regression capture).
set -u
secs=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p build-fuzz/artifacts build-fuzz/corpus
pass=0; fail=0
for bin in "$@"; do
    name=$(basename "$bin")
    work=build-fuzz/corpus/$name
    mkdir -p "$work"
    seeds=$here/seeds/$name
    [ "$name" = fuzz_pcap ] && seeds=$here/../pcaps
    [ -d "$seeds" ] || seeds=
    if "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 -timeout=10 \
        -artifact_prefix=build-fuzz/artifacts/"$name"- "$work" $seeds >build-fuzz/"$name".log 2>&1; then
        pass=$((pass + 1))
        execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' build-fuzz/"$name".log | tail -n1 | awk '{print $2}')
        [ -n "$execs" ] || execs=$(grep -Eo '#[0-9]+' build-fuzz/"$name".log | tail -n1 | tr -d '#')
        echo "fuzz $name: ok, ${execs:-?} executions in ${secs}s"
    else
        fail=$((fail + 1))
        echo "FAIL fuzz $name:"; grep -E 'ERROR|SUMMARY|artifact' build-fuzz/"$name".log | head -n 8 | sed 's/^/    /'
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
