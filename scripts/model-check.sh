#!/bin/bash
# model-check.sh - check model/takeover.pml (HA takeover and epoch fencing) with SPIN.
#
# Exhaustive safety runs (atomicity, answers are true) and liveness runs (termination under
# weak fairness) over several failure configurations, then the BUG_ variants, each of which
# must produce a counterexample.  Exit status non-zero if any check fails, a search is
# incomplete, or a BUG_ variant passes.  See docs/ha.md, "Model".
#
# usage: scripts/model-check.sh [-j JOBS] [-k]      (-k: keep the work directory)
set -u
cd "$(dirname "$0")/.." || exit 2
MODEL=$PWD/model/takeover.pml
JOBS=2
KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
        -j) JOBS=$2; shift 2 ;;
        -k) KEEP=1; shift ;;
        *) echo "usage: $0 [-j JOBS] [-k]" >&2; exit 2 ;;
    esac
done

if ! command -v spin >/dev/null 2>&1; then
    echo "model-check: installing spin"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq spin >/dev/null || {
        echo "model-check: cannot install spin (apt-get install spin)" >&2; exit 2; }
fi
command -v gcc >/dev/null 2>&1 || { echo "model-check: gcc is needed to compile pan" >&2; exit 2; }

WORK=$(mktemp -d /tmp/dtx-model.XXXXXX)
[ $KEEP = 1 ] || trap 'rm -rf "$WORK"' EXIT
MEMLIM=${MODEL_MEMLIM:-3072}     # MB per run

# name | kind (safe, live, bug-safe, bug-live) | spin -D flags
# Budgets: LOSS DUP CRASH UNK (store statements with an unknown outcome) FAILOVER (store),
# PAUSE; MAXEP: epochs reachable while failures go on.
CHECKS='
safe-store    |safe|-DUNK=1 -DFAILOVER=1 -DLOSS=0 -DDUP=0 -DCRASH=0 -DMAXEP=3
safe-store2   |safe|-DUNK=2 -DFAILOVER=1 -DLOSS=0 -DDUP=0 -DCRASH=0 -DMAXEP=3
safe-network  |safe|-DLOSS=1 -DDUP=1 -DCRASH=0 -DUNK=0 -DFAILOVER=0 -DMAXEP=2
safe-crash    |safe|-DCRASH=1 -DLOSS=1 -DDUP=0 -DUNK=0 -DFAILOVER=0 -DMAXEP=2
safe-crash3   |safe|-DCRASH=1 -DLOSS=0 -DDUP=0 -DUNK=0 -DFAILOVER=0 -DMAXEP=3
safe-pause    |safe|-DPAUSE=1 -DCRASH=0 -DLOSS=0 -DDUP=0 -DUNK=0 -DFAILOVER=0 -DMAXEP=2
safe-down     |safe|-DCRASH=1 -DCRASH_DOWN -DLOSS=0 -DDUP=0 -DUNK=0 -DFAILOVER=0 -DMAXEP=2
live-store    |live|-DUNK=1 -DFAILOVER=1 -DLOSS=0 -DDUP=0 -DCRASH=0 -DMAXEP=3
live-crash    |live|-DCRASH=1 -DLOSS=0 -DDUP=0 -DUNK=0 -DFAILOVER=0 -DMAXEP=2
live-loss     |live|-DLOSS=1 -DDUP=0 -DCRASH=0 -DUNK=0 -DFAILOVER=0 -DMAXEP=2
live-dup      |live|-DDUP=1 -DLOSS=0 -DCRASH=0 -DUNK=0 -DFAILOVER=0 -DMAXEP=2
BUG_NO_FENCE         |bug-safe|-DBUG_NO_FENCE -DUNK=0 -DFAILOVER=0 -DLOSS=0 -DDUP=0 -DCRASH=0
BUG_PRESUME_EARLY    |bug-safe|-DBUG_PRESUME_EARLY -DUNK=1 -DFAILOVER=1 -DLOSS=0 -DDUP=0 -DCRASH=0
BUG_FENCED_ABORTS    |bug-safe|-DBUG_FENCED_ABORTS -DUNK=1 -DFAILOVER=0 -DLOSS=0 -DDUP=0 -DCRASH=0
BUG_PLAIN_READ       |bug-safe|-DBUG_PLAIN_READ -DUNK=1 -DFAILOVER=1 -DLOSS=0 -DDUP=0 -DCRASH=0
BUG_NONOWNER_PRESUME |bug-safe|-DBUG_NONOWNER_PRESUME -DUNK=0 -DFAILOVER=0 -DLOSS=0 -DDUP=0 -DCRASH=0
BUG_READBACK_UNCOVERED|bug-safe|-DBUG_READBACK_UNCOVERED -DUNK=2 -DFAILOVER=1 -DLOSS=0 -DDUP=0 -DCRASH=0 -DMAXEP=3
BUG_NO_ASK           |bug-live|-DBUG_NO_ASK -DCRASH=1 -DLOSS=0 -DDUP=0 -DUNK=0 -DFAILOVER=0 -DMAXEP=2
'

# run one check in its own directory; result line in $dir/result
run_one() {
    local name=$1 kind=$2 flags=$3 dir=$WORK/$1
    mkdir -p "$dir" && cp "$MODEL" "$dir/" && cd "$dir" || return
    local cflags pflags
    case $kind in
        *safe) cflags="-DSAFETY"; pflags="-N safe" ;;
        *live) cflags="-DNFAIR=3"; pflags="-a -f -N term" ;;
    esac
    # shellcheck disable=SC2086
    if ! spin -a $flags takeover.pml >spin.out 2>&1 ||
       ! gcc -O2 $cflags -DMEMLIM=$MEMLIM -o pan pan.c >gcc.out 2>&1; then
        echo "FAIL  $name: spin or gcc failed (see $dir)" >result; return
    fi
    local t0 t1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    ./pan -m500000 $pflags >pan.out 2>&1
    t1=$(date +%s.%N)
    local errors states depth mem secs
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | tail -1)
    states=$(awk '/states, stored/ {print $1; exit}' pan.out)
    depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out | tail -1)
    mem=$(awk '/total actual memory usage/ {print $1; exit}' pan.out)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    local figures="states $states, depth $depth, ${mem} MB, $secs s"
    local incomplete=
    grep -q "max search depth too small" pan.out && incomplete="search depth too small"
    grep -qi "memory limit\|out of memory\|bytes limit" pan.out && incomplete="memory limit reached"
    case $kind in
        safe|live)
            if [ "$errors" = 0 ] && [ -z "$incomplete" ] && ! grep -q "Search not completed" pan.out; then
                echo "ok    $name: $figures" >result
            else
                echo "FAIL  $name: errors ${errors:-?} ${incomplete} ($figures; see $dir/pan.out)" >result
                [ "${errors:-0}" != 0 ] && spin -t $flags takeover.pml 2>/dev/null | grep MSC | sed 's/^ *MSC: /      /' >>result
            fi ;;
        bug-*)
            if [ -n "$errors" ] && [ "$errors" -gt 0 ]; then
                echo "ok    $name: counterexample found as required ($figures)" >result
                # shellcheck disable=SC2086
                spin -t $flags takeover.pml 2>/dev/null | grep MSC | sed 's/^ *MSC: /      /' >>result
            else
                echo "FAIL  $name: no counterexample ($figures): the property is vacuous" >result
            fi ;;
    esac
}

echo "model-check: $(spin -V | head -1); $JOBS jobs; work in $WORK"
T0=$(date +%s)
names=()
while IFS='|' read -r name kind flags; do
    name=$(echo "$name" | tr -d ' ')
    [ -z "$name" ] && continue
    names+=("$name")
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    ( run_one "$name" "$kind" "$flags" ) &
done <<< "$CHECKS"
wait

status=0
for name in "${names[@]}"; do
    if [ -f "$WORK/$name/result" ]; then
        cat "$WORK/$name/result"
        grep -q "^FAIL" "$WORK/$name/result" && status=1
    else
        echo "FAIL  $name: no result"; status=1
    fi
done
echo "model-check: $(( $(date +%s) - T0 )) s; $([ $status = 0 ] && echo PASSED || echo FAILED)"
exit $status
