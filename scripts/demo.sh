#!/usr/bin/env bash
# demo.sh - build dtx, start three PostgreSQL clusters, a coordinator and
# three participants, run a money-transfer workload across the databases
# through libdtx, check that the total balance is unchanged and that no
# prepared transaction is left, then stop everything.
# Last line: "demo: ... OK" or "demo: ... FAILED".
#
# --serve: after the checked workload, keep the system running (until
# Ctrl-C) and print what an application needs to use it: the client
# endpoint, the CurveZMQ key variables, the databases (bank1..bank3, table
# accounts) and dtxctl's log directory.
set -uo pipefail
cd "$(dirname "$0")/.."
serve=0
for arg in "$@"; do
    case "$arg" in
        --serve) serve=1 ;;
        *) echo "usage: demo.sh [--serve]" >&2; exit 2 ;;
    esac
done
top=$(pwd)
./scripts/bootstrap.sh || { echo "demo: build FAILED"; exit 1; }

CLIENTS=${CLIENTS:-8}
TRANSFERS=${TRANSFERS:-2000}
# Ports: DTX_DEMO_PORT (default 7100, the coordinator's default client port)
# is the client endpoint, +1 the participants' endpoint, +2..+4 the three
# PostgreSQL clusters.  Each must be free: the demo says which is not
base=${DTX_DEMO_PORT:-7100}
case "$base" in ''|*[!0-9]*) echo "demo: DTX_DEMO_PORT='$base' is not a port number FAILED"; exit 1 ;; esac
[ "$base" -ge 1024 ] && [ "$base" -le 65530 ] \
    || { echo "demo: DTX_DEMO_PORT=$base: use 1024..65530 FAILED"; exit 1; }
for p in $(seq "$base" $((base + 4))); do
    if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
        echo "demo: port $p (of $base..$((base + 4))) is in use; set DTX_DEMO_PORT to another base FAILED"
        exit 1
    fi
done
work=$(mktemp -d /tmp/dtx-demo-XXXXXX)
chmod 755 "$work"
pids=()

cleanup () {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    for i in 1 2 3; do "$top/scripts/pgcluster.sh" stop "$work/pg$i" immediate; done
    if [ -n "${KEEP:-}" ]; then echo "demo: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail () { echo "demo: $* FAILED"; exit 1; }

echo "demo: starting 3 PostgreSQL clusters in $work"
for i in 1 2 3; do
    port=$((base + 1 + i))
    "$top/scripts/pgcluster.sh" start "$work/pg$i" "$port" || fail "PostgreSQL start"
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -f "$top/sql/test-schema.sql" >/dev/null || fail "schema load"
done
mkdir -p "$work/log"
# CurveZMQ keys (docs/security.md): the coordinator's pair, an allow-list
# of client keys and one of participant keys, each participant key bound
# to its database name
keys="$work/keys"
mkdir -p "$keys/clients" "$keys/participants"
dtxctl="$top/dtxctl/dtxctl"
"$dtxctl" keygen coordinator --dir "$keys" >/dev/null || fail "keygen"
"$dtxctl" keygen demo --dir "$keys/clients" >/dev/null || fail "keygen"
for i in 1 2 3; do
    "$dtxctl" keygen "bank$i" --databases "bank$i" --dir "$keys/participants" >/dev/null \
        || fail "keygen"
done
export DTX_CLIENT_CERT="$keys/clients/demo_secret" DTX_COORDINATOR_CERT="$keys/coordinator"
"$top/coordinator/dtx-coordinator" --id demo --clients "tcp://127.0.0.1:$base" \
    --participants "tcp://127.0.0.1:$((base + 1))" --log-dir "$work/log" \
    --curve-secret "$keys/coordinator_secret" --client-keys "$keys/clients" \
    --participant-keys "$keys/participants" \
    >"$work/coordinator.log" 2>&1 &
pids+=($!)
args=()
for i in 1 2 3; do
    conninfo="host=127.0.0.1 port=$((base + 1 + i)) user=postgres dbname=postgres"
    "$top/participant/dtx-participant" --name "bank$i" --conninfo "$conninfo" \
        --coordinator "tcp://127.0.0.1:$((base + 1))" \
        --curve-secret "$keys/participants/bank${i}_secret" --coordinator-key "$keys/coordinator" \
        >"$work/participant-$i.log" 2>&1 &
    pids+=($!)
    args+=("bank$i=$conninfo")
done
echo "demo: coordinator and 3 participants started (CurveZMQ on every link)"


"$top/demo/dtx-demo" "tcp://127.0.0.1:$base" "$CLIENTS" "$TRANSFERS" "${args[@]}"
rc=$?
# From Python (docs/python.md): the README's example (on this demo's port),
# then the same workload (python/examples/transfer.py), with this tree's
# module and libdtx
if [ $rc -eq 0 ] && [ -x /usr/bin/python3 ]; then
    export PYTHONPATH="$top/python" DTX_LIBRARY="$top/lib/.libs/libdtx.so.0" PYTHONDONTWRITEBYTECODE=1
    echo "demo: the README's Python example"
    /usr/bin/python3 -c 'import re, sys
section = open(sys.argv[1]).read().split("## Using dtx from Python", 1)[1].split("\n## ", 1)[0]
example = re.findall(r"```python\n(.*?)```", section, re.S)[0]
exec(example.replace("tcp://127.0.0.1:7100", sys.argv[2]))' "$top/README.md" "tcp://127.0.0.1:$base" || rc=1
    /usr/bin/python3 "$top/python/examples/transfer.py" --endpoint "tcp://127.0.0.1:$base" \
        --clients "$CLIENTS" --transfers "$TRANSFERS" || rc=1
elif [ $rc -eq 0 ]; then
    echo "demo: no /usr/bin/python3: the Python example skipped"
fi
left=0
for i in 1 2 3; do
    n=$(psql -X -tA -h 127.0.0.1 -p $((base + 1 + i)) -U postgres -d postgres \
        -c "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'dtx:%'")
    left=$((left + n))
done
echo "demo: prepared transactions left behind: $left"
if [ $rc -eq 0 ] && [ "$left" -eq 0 ]; then
    echo "demo: transfers atomic across 3 databases, total conserved: OK"
    if [ $serve = 1 ]; then
        echo "demo: serving until Ctrl-C. In another shell:"
        echo "  export DTX_ENDPOINT=tcp://127.0.0.1:$base"
        echo "  export DTX_CLIENT_CERT=$DTX_CLIENT_CERT DTX_COORDINATOR_CERT=$DTX_COORDINATOR_CERT"
        echo "  export PYTHONPATH=$top/python DTX_LIBRARY=$top/lib/.libs/libdtx.so.0   # Python's dtx from this tree (not needed after make install)"
        echo "  $dtxctl --log-dir $work/log status          # databases bank1 bank2 bank3, table accounts (id, balance)"
        for i in 1 2 3; do
            echo "  psql -h 127.0.0.1 -p $((base + 1 + i)) -U postgres -d postgres   # bank$i"
        done
        while kill -0 "${pids[0]}" 2>/dev/null; do sleep 1; done
        echo "demo: the coordinator stopped"
    fi
else
    tail -n 5 "$work"/*.log
    echo "demo: FAILED"
    exit 1
fi
