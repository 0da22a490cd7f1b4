#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the full test suite
# (unit + integration against real PostgreSQL clusters it starts itself).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
status=0
make -j2 check || status=$?
# Check's own summaries, then one closing line over all suites
checks=0 failures=0 errors=0
for log in tests/test_*.log; do
    [ -f "$log" ] || continue
    line=$(grep -h "Checks:" "$log" | tail -n 1 || true)
    [ -n "$line" ] || { echo "$log: no Check summary"; status=1; continue; }
    echo "$(basename "$log" .log): $line"
    n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
    e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
    checks=$((checks + n)) failures=$((failures + f)) errors=$((errors + e))
done
# libdtx exports the dtx.h API and nothing else (the codec, helpers and the
# crash-test hook stay inside)
api=$(grep -o '^    dtx_[a-z_]* (' lib/dtx.h | tr -d ' (' | sort -u)
exported=$(nm -D --defined-only lib/.libs/libdtx.so | awk '$2 == "T" { print $3 }' | sort -u)
extra=$(comm -13 <(echo "$api") <(echo "$exported"))
if [ -n "$extra" ]; then
    echo "libdtx.so exports symbols outside dtx.h:" $extra
    status=1
else
    echo "libdtx.so exports $(echo "$exported" | wc -l) symbols, all of dtx.h"
fi
if [ $status -ne 0 ]; then
    for log in tests/test_*.log; do echo "== $log"; tail -n 60 "$log"; done
fi
echo "tests: $((checks - failures - errors)) passed, $((failures + errors)) failed"
exit $status
