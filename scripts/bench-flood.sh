#!/usr/bin/env bash
# bench-flood.sh - a well-behaved client's latency and the coordinator's
# memory while the coordinator is flooded (docs/performance.md, "Under a
# flood").  Starts two PostgreSQL clusters, makes CurveZMQ keys (as the demo
# does), starts a coordinator (metrics on) and two participants, runs
# bench/dtx-flood (floods a, b1, b2, c, d, d2, f, a2 with keys on every link),
# then restarts coordinator and participants with --insecure for the
# REGISTER flood (e), and stops everything.
#
#   scripts/bench-flood.sh                 # about 3 minutes
#   SECONDS_PER=3 FLOODS=a,c scripts/bench-flood.sh
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
[ -x "$top/bench/dtx-flood" ] || make -j"$(nproc)" bench/dtx-flood dtxctl/dtxctl \
    coordinator/dtx-coordinator participant/dtx-participant >/dev/null \
    || { echo "bench-flood: build FAILED"; exit 1; }

SECONDS_PER=${SECONDS_PER:-5}
FLOODS=${FLOODS:-a,b1,b2,c,d,d2,f,a2}
work=$(mktemp -d /tmp/dtx-flood-XXXXXX)
chmod 755 "$work"
# 15000-19999: below the tests' (20000+) and the demo's (26000+) ports
base=$((15000 + $$ % 500 * 10))
pids=()

stop_dtx () {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    pids=()
}
cleanup () {
    stop_dtx
    for i in 1 2; do "$top/scripts/pgcluster.sh" stop "$work/pg$i" immediate; done
    if [ -n "${KEEP:-}" ]; then echo "bench-flood: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail () { echo "bench-flood: $* FAILED"; exit 1; }
ulimit -n "$(ulimit -Hn)"

for i in 1 2; do
    port=$((base + 1 + i))
    "$top/scripts/pgcluster.sh" start "$work/pg$i" "$port" || fail "PostgreSQL start"
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -f "$top/sql/test-schema.sql" >/dev/null || fail "schema load"
done
keys="$work/keys"
mkdir -p "$keys/clients" "$keys/participants"
dtxctl="$top/dtxctl/dtxctl"
"$dtxctl" keygen coordinator --dir "$keys" >/dev/null || fail "keygen"
"$dtxctl" keygen good --dir "$keys/clients" >/dev/null || fail "keygen"
"$dtxctl" keygen flood --dir "$keys/clients" >/dev/null || fail "keygen"
for i in 1 2; do
    "$dtxctl" keygen "db$i" --databases "db$i" --dir "$keys/participants" >/dev/null || fail "keygen"
done

# start_dtx RUN [--insecure]: coordinator and two participants
start_dtx () {
    local run=$1 insecure=${2:-}
    local coord_keys=() part_keys
    mkdir -p "$work/log-$run"
    [ -z "$insecure" ] && coord_keys=(--curve-secret "$keys/coordinator_secret"
        --client-keys "$keys/clients" --participant-keys "$keys/participants")
    "$top/coordinator/dtx-coordinator" --id flood --clients "tcp://127.0.0.1:$base" \
        --participants "tcp://127.0.0.1:$((base + 1))" --log-dir "$work/log-$run" \
        --metrics "127.0.0.1:$((base + 9))" ${insecure:+--insecure} "${coord_keys[@]}" \
        >"$work/coordinator-$run.log" 2>&1 &
    coordinator=$!
    pids+=($coordinator)
    for i in 1 2; do
        part_keys=()
        [ -z "$insecure" ] && part_keys=(--curve-secret "$keys/participants/db${i}_secret"
            --coordinator-key "$keys/coordinator")
        "$top/participant/dtx-participant" --name "db$i" \
            --conninfo "host=127.0.0.1 port=$((base + 1 + i)) user=postgres dbname=postgres" \
            --coordinator "tcp://127.0.0.1:$((base + 1))" ${insecure:+--insecure} "${part_keys[@]}" \
            >"$work/participant-$run-$i.log" 2>&1 &
        pids+=($!)
    done
}

rc=0
if [ "$FLOODS" != e ]; then
    start_dtx secure
    "$top/bench/dtx-flood" --clients "tcp://127.0.0.1:$base" --participants "tcp://127.0.0.1:$((base + 1))" \
        --pid "$coordinator" --metrics "127.0.0.1:$((base + 9))" --log "$work/coordinator-secure.log" \
        --cert "$keys/clients/good_secret" --flood-cert "$keys/clients/flood_secret" \
        --coordinator-cert "$keys/coordinator" --seconds "$SECONDS_PER" --nice "${NICE:-0}" --floods "$FLOODS" || rc=1
    echo "coordinator log: $(wc -l <"$work/coordinator-secure.log") lines"
    stop_dtx
fi
if [ -z "${NO_INSECURE:-}" ]; then
    start_dtx insecure --insecure
    "$top/bench/dtx-flood" --clients "tcp://127.0.0.1:$base" --participants "tcp://127.0.0.1:$((base + 1))" \
        --pid "$coordinator" --metrics "127.0.0.1:$((base + 9))" --log "$work/coordinator-insecure.log" \
        --insecure --seconds "$SECONDS_PER" --nice "${NICE:-0}" --floods e || rc=1
    echo "coordinator log (insecure run): $(wc -l <"$work/coordinator-insecure.log") lines," \
         "$(grep -c 'refused REGISTER' "$work/coordinator-insecure.log") about refused REGISTERs"
    stop_dtx
fi
[ $rc -eq 0 ] || { tail -n 5 "$work"/*.log; fail "run"; }
echo "bench-flood: done"
