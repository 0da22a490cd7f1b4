#!/usr/bin/env bash
# test-ha.sh - the HA suite (tests/test_ha.c, docs/ha.md) on a real Patroni
# cluster: starts three PostgreSQL 15 nodes and an etcd on 127.0.0.1
# (scripts/hacluster.sh, which installs what is missing), runs the suite
# against it, and stops everything afterwards, also when it fails.
#
# The cluster's ports start at DTX_TEST_HA_PORT_BASE, default 32200 (above
# every port the test harness takes by default, below the kernel's
# ephemeral range), or wherever
# hacluster.sh finds a free block.  Prints the suite's Check summary;
# exits non-zero if anything failed.  HA_KEEP=1 keeps the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/dtx-ha-suite.XXXXXX)
chmod 755 "$dir"
cleanup () {
    local rc=$?
    scripts/hacluster.sh stop "$dir" >/dev/null 2>&1 || true
    if [ "${HA_KEEP:-0}" = 1 ]; then echo "test-ha: kept $dir"; else rm -rf "$dir"; fi
    exit $rc
}
trap cleanup EXIT
# DTX_TEST_HA_PORT_BASE (default 32200): the cluster's 40 ports start
# there if they are free, else hacluster.sh picks a free block
ha_base=${DTX_TEST_HA_PORT_BASE:-32200}
base=()
if ! ss -Hltn "sport >= :$ha_base and sport <= :$((ha_base + 40))" 2>/dev/null | grep -q .; then
    base=(--base-port "$ha_base")
fi
SECONDS=0
scripts/hacluster.sh start "$dir" --nodes 3 "${base[@]}"
echo "test-ha: cluster up in ${SECONDS}s"
. "$dir/env"
make -j2 tests/test_ha >/dev/null
rm -f tests/test_ha.progress    # one line per finished case (test.sh's progress)
CK_LOG_FILE_NAME=tests/test_ha.progress \
DTX_TEST_HA_STORE="$HA_CONNINFO" DTX_TEST_HA_DIR="$dir" tests/test_ha
