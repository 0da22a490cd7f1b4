#!/usr/bin/env bash
# test-python.sh - the Python binding's tests (python/tests, pytest) against
# real clusters, a coordinator and participants they start themselves, in a
# built tree (scripts/bootstrap.sh builds one: it is run if there is none).
# Installs Debian's python3-pytest and python3-pycparser if missing, and
# runs them with Debian's /usr/bin/python3 (a python3 earlier on PATH, e.g.
# pyenv's, has neither the Debian packages nor their paths).
# Settings: DTX_TEST_PORT_BASE / DTX_TEST_PORT_SLOTS (the ports, as the C
# tests), DTX_KEEP_TEST_DIR=1, PYTEST_ARGS (more pytest arguments, e.g. -k).
# Last line: "python: N passed, N failed, N skipped (Ns)"; exit status 0
# only if nothing failed.  About 45 s.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
PYTHON=/usr/bin/python3
SECONDS=0

missing=""
for p in python3 python3-pytest python3-pycparser; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "test-python: installing$missing"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
        --no-install-recommends $missing; } >/dev/null \
        || { echo "test-python: could not install$missing"; echo "python: 0 passed, 1 failed, 0 skipped (${SECONDS}s)"; exit 1; }
fi
if [ ! -e lib/.libs/libdtx.so.0 ] || [ ! -x coordinator/dtx-coordinator ]; then
    ./scripts/bootstrap.sh || { echo "python: 0 passed, 1 failed, 0 skipped (build)"; exit 1; }
fi

# The binding from the tree, the library from the build; no __pycache__
# or .pytest_cache left in the tree
export DTX_LIBRARY="$top/lib/.libs/libdtx.so.0"
export PYTHONDONTWRITEBYTECODE=1
out=$(timeout 600 "$PYTHON" -m pytest -q -p no:cacheprovider -r fEs ${PYTEST_ARGS:-} python/tests 2>&1)
rc=$?
echo "$out"
# pytest's summary: "67 passed, 1 skipped in 41.20s" (any order, any subset)
summary=$(tail -n 1 <<<"$out")
count () { grep -oE "[0-9]+ $1" <<<"$summary" | grep -oE '^[0-9]+' || echo 0; }
passed=$(count passed) failed=$(( $(count failed) + $(count error) )) skipped=$(count skipped)
if [ $rc -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1        # pytest itself failed (usage, collection, timeout)
fi
echo "python: $passed passed, $failed failed, $skipped skipped (${SECONDS}s)"
[ $rc -eq 0 ]
