#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the full test suite
# (unit + integration against real PostgreSQL clusters it starts itself).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
if ! make -j2 check; then
    for log in tests/*.log; do echo "== $log"; tail -n 60 "$log"; done
    exit 1
fi
