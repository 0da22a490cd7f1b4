#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the full test suite
# (unit + integration against real PostgreSQL clusters it starts itself),
# then the hardening checks (docs/security.md): the same suite built with
# ASan+UBSan+LSan (scripts/sanitize.sh) and a short run of every fuzz
# target (scripts/fuzz.sh), the model of the takeover protocol
# (scripts/model-check.sh) and the HA suite on a real Patroni cluster
# (scripts/test-ha.sh).  DTX_TEST_QUICK=1 skips all of those (a quick
# local loop; CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/check-counts.sh       # check_counts: the numbers of a Check summary
. scripts/progress.sh           # progress_start/stop: a line every 30 s while suites run
trap progress_stop EXIT
SECONDS=0
./scripts/bootstrap.sh
status=0
rm -f tests/test_*.progress
progress_start suite .
make -j2 check || status=$?
progress_stop
suite_seconds=$SECONDS
# Check's own summaries, then one closing line over all suites
checks=0 failures=0 errors=0
for log in tests/test_*.log; do
    [ -f "$log" ] || continue
    line=$(grep -h "Checks:" "$log" | tail -n 1 || true)
    [ -n "$line" ] || { echo "$log: no Check summary"; status=1; continue; }
    echo "$(basename "$log" .log): $line"
    check_counts "$line"
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
# The Python binding (python/, docs/python.md) against its own real system:
# each pytest case counts as one check
echo "python: the binding's pytest suite (under a minute)"
py_rc=0
py_out=$(./scripts/test-python.sh 2>&1) || py_rc=$?
[ $py_rc -eq 0 ] || { status=1; tail -n 40 <<<"$py_out"; }
if [[ $(grep '^python: ' <<<"$py_out" | tail -n 1) =~ ^python:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    echo "python: ${BASH_REMATCH[1]} passed, ${BASH_REMATCH[2]} failed"
    checks=$((checks + BASH_REMATCH[1] + BASH_REMATCH[2])) failures=$((failures + BASH_REMATCH[2]))
else
    echo "python: the tests did not run"; errors=$((errors + 1))
fi
# The man pages and the systemd units agree with the programs (every option,
# config key and dtx.h function documented, pages lint clean, units verify
# and are hardened): each of its checks counts as one
docs_out=$(./scripts/check-docs.sh 2>&1) || status=1
grep -v '^ok ' <<<"$docs_out" || true
if [[ $(tail -n 1 <<<"$docs_out") =~ ^check-docs:\ ([0-9]+)\ checks,\ ([0-9]+)\ failed ]]; then
    checks=$((checks + BASH_REMATCH[1])) failures=$((failures + BASH_REMATCH[2]))
else
    echo "check-docs: did not finish"; errors=$((errors + 1))
fi
if [ $status -ne 0 ]; then
    for log in tests/test_*.log; do echo "== $log"; tail -n 60 "$log"; done
fi
passed=$((checks - failures - errors)) failed=$((failures + errors))
echo "suite: $passed passed, $failed failed (build and run ${suite_seconds}s)"
if [ "${DTX_TEST_QUICK:-0}" != 1 ]; then
    # The sanitizer pass: its checks count below, and every sanitizer
    # report (any process, children included) counts as a failure
    rm -f tmp/sanitize/counts
    SECONDS=0
    echo "sanitize: the suite again, built with clang ASan+UBSan+LSan (several minutes)"
    ./scripts/sanitize.sh || status=1
    echo "sanitize: build and run ${SECONDS}s"
    if read -r p f r < tmp/sanitize/counts 2>/dev/null; then
        passed=$((passed + p)) failed=$((failed + f + r))
    else
        echo "sanitize: did not finish"; failed=$((failed + 1))
    fi
    # Each fuzz target is one check: it passes if its short run finds nothing
    SECONDS=0
    echo "fuzz: a short run of every libFuzzer target (about a minute)"
    fuzz_out=$(./scripts/fuzz.sh 2>&1) || status=1
    echo "$fuzz_out"
    echo "fuzz: build and run ${SECONDS}s"
    passed=$((passed + $(grep -c '^fuzz: [a-z]* ok' <<<"$fuzz_out" || true)))
    fuzz_failed=$(grep -c '^fuzz: [a-z]* FAILED' <<<"$fuzz_out" || true)
    failed=$((failed + fuzz_failed))
    # The HA takeover model (docs/ha.md): each SPIN run is one check; a
    # BUG_ variant passes when it finds its counterexample
    SECONDS=0
    echo "model: SPIN on the takeover model (about a minute)"
    model_out=$(./scripts/model-check.sh 2>&1) || status=1
    echo "$model_out"
    passed=$((passed + $(grep -c '^ok ' <<<"$model_out" || true)))
    failed=$((failed + $(grep -c '^FAIL' <<<"$model_out" || true)))
    echo "model: ${SECONDS}s"
    # The HA suite on a real Patroni cluster (scripts/test-ha.sh): each
    # of its Check cases is one check
    SECONDS=0
    echo "ha: a 3-node Patroni cluster and the HA suite (several minutes)"
    progress_start ha . test_ha
    ha_out=$(./scripts/test-ha.sh 2>&1) || status=1
    progress_stop
    echo "$ha_out" | grep -v '^[IW]: ' | tail -n 40
    line=$(grep -h "Checks:" <<<"$ha_out" | tail -n 1 || true)
    if [ -n "$line" ]; then
        check_counts "$line"
        passed=$((passed + n - f - e)) failed=$((failed + f + e))
    else
        echo "ha: the suite did not run"; failed=$((failed + 1))
    fi
    echo "ha: ${SECONDS}s"
fi
# A step that failed without a failing check (a build, the export check)
# still makes the line say so
[ $status -eq 0 ] || [ $failed -gt 0 ] || failed=1
echo "tests: $passed passed, $failed failed"
exit $status
