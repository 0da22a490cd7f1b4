#!/usr/bin/env bash
# measure.sh - time a Patroni cluster's start, failover and rejoin.
#
#   tests/ha/measure.sh [RUNS] [hacluster.sh start options...]
#
# Starts one cluster, then RUNS times: kill-leader (SIGKILL of the leader's
# Patroni and PostgreSQL), restart-node of the killed node; prints one line
# per run (seconds) and stops the cluster.  With 2 nodes and
# synchronous_mode_strict, "write" after a kill is only possible once the
# killed node is back, so it is reported by restart-node (restart -> write).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
HA="$here/../../scripts/hacluster.sh"
runs=${1:-3}; shift || true
dir=$(mktemp -d /tmp/dtx-ha-measure.XXXXXX)
chmod 755 "$dir"
trap '"$HA" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

num () { sed -n "s/.*$1[^0-9]*\([0-9.]*\) s.*/\1/p" | head -1; }

out=$("$HA" start "$dir" "$@")
echo "$out" | head -1
echo "run start_s kill_to_rw_s kill_to_write_s rejoin_s restart_to_write_s"
for r in $(seq 1 "$runs"); do
    . "$dir/env"
    victim=$HA_LEADER
    k=$("$HA" kill-leader "$dir")
    rw=$(num "read-write via the conninfo after" <<<"$k")
    wr=$(num "first clean write via the conninfo after" <<<"$k")
    j=$("$HA" restart-node "$dir" "$victim")
    rj=$(num "rejoined.*after" <<<"$j")
    rw2=$(num "clean write via the conninfo" <<<"$j")
    st=$(num "in" <<<"$(echo "$out" | head -1)")
    echo "$r $st $rw ${wr:--} $rj $rw2"
done
