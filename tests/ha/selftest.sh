#!/usr/bin/env bash
# selftest.sh - smoke test of scripts/hacluster.sh on a real Patroni cluster.
#
# Starts a cluster in a temporary directory, commits rows (and leaves a
# prepared transaction) through the multi-host conninfo, kills the leader
# (SIGKILL, host loss), checks that every committed row and the prepared
# transaction are on the new leader, writes again, restarts the old leader and
# checks it rejoins as the sync standby with every row; then stops the
# standby and shows the "committed locally, but might not have been
# replicated" case (cancel, statement_timeout, terminate) and that those rows
# reach the standby once it is back. Exits non-zero on any failure.
#
#   tests/ha/selftest.sh [--nodes N] [--no-strict] [--base-port B]
#   HA_KEEP=1 keeps the directory (logs) after a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
HA="$here/../../scripts/hacluster.sh"
ROWS=${ROWS:-200}

dir=$(mktemp -d /tmp/dtx-ha-selftest.XXXXXX)
chmod 755 "$dir"
ok=0
cleanup () {
    local rc=$?
    "$HA" stop "$dir" >/dev/null 2>&1 || { echo "selftest: stop failed" >&2; rc=1; }
    if [ "$ok" = 1 ] && [ "$rc" = 0 ]; then
        rm -rf "$dir"
    elif [ "${HA_KEEP:-0}" = 1 ]; then
        echo "selftest: FAILED; kept $dir" >&2
    else
        for f in "$dir"/node*/patroni.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done
        rm -rf "$dir"
    fi
    [ "$rc" = 0 ] || echo "selftest: FAILED (rc $rc)" >&2
    exit "$rc"
}
trap cleanup EXIT

fail () { echo "selftest: FAIL: $*" >&2; exit 1; }
step () { echo "== $*"; }
q () { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

step "start"
"$HA" start "$dir" "$@"
. "$dir/env"
ci=$HA_CONNINFO
echo "conninfo: $ci"
old=$HA_LEADER
strict=$HA_STRICT

step "commit $ROWS rows, one transaction each, and prepare one transaction"
q "$ci" -c "create table t (id int primary key, v text)"
for i in $(seq 1 "$ROWS"); do echo "insert into t values ($i, 'before');"; done | q "$ci"
q "$ci" -c "begin; insert into t values (-1, 'prepared'); prepare transaction 'dtx:ha:1:1'"
[ "$(q "$ci" -c "select count(*) from t")" = "$ROWS" ] || fail "rows missing before the failover"

step "kill the leader ($old)"
out=$("$HA" kill-leader "$dir") || fail "kill-leader: $out"
echo "$out"
. "$dir/env"
[ "$HA_LEADER" != "$old" ] && [ -n "$HA_LEADER" ] || fail "no new leader"
echo "new leader: $HA_LEADER (port $HA_LEADER_PORT)"

step "every committed row is on the new leader"
n=$(q "$ci" -c "select count(*) from t where id > 0")
[ "$n" = "$ROWS" ] || fail "new leader has $n of $ROWS committed rows"
[ "$(q "$ci" -c "select count(*) from pg_prepared_xacts where gid = 'dtx:ha:1:1'")" = 1 ] \
    || fail "prepared transaction lost in the failover"
q "$ci" -c "commit prepared 'dtx:ha:1:1'" >/dev/null 2>&1 &
cp_pid=$!

step "write again"
if [ "$strict" = true ] && [ "$HA_NODES" = 2 ]; then
    # no standby left: this commit waits until the old leader is back
    q "$ci" -c "insert into t values (0, 'after failover')" >"$dir/w.out" 2>&1 &
    w_pid=$!
    sleep 2
    kill -0 "$w_pid" 2>/dev/null || fail "a commit with no standby did not wait: $(cat "$dir/w.out")"
    echo "commit waits for a standby (synchronous_mode_strict), as it should"
else
    q "$ci" -c "insert into t values (0, 'after failover')" >"$dir/w.out" 2>&1 || fail "write: $(cat "$dir/w.out")"
    w_pid=""
fi

step "restart the old leader ($old)"
"$HA" restart-node "$dir" "$old"
if [ -n "$w_pid" ]; then
    wait "$w_pid" || fail "write after failover: $(cat "$dir/w.out")"
fi
grep -q . "$dir/w.out" && fail "write after failover: $(cat "$dir/w.out")"
wait "$cp_pid" || fail "commit prepared after failover"
. "$dir/env"
[ "$HA_SYNC" = "$old" ] || [ "$HA_NODES" -gt 2 ] || fail "$old is not the sync standby (sync: $HA_SYNC)"
oldport=$(eval echo "\$HA_NODE${old#node}_PORT")
n=$(q "host=127.0.0.1 port=$oldport dbname=dtx user=postgres" -c "select count(*) from t")
[ "$n" = $((ROWS + 2)) ] || fail "$old has $n rows, expected $((ROWS + 2))"
echo "$old has all $n rows"

step "committed locally, but not replicated: stop the standby, then cancel waiting commits"
sync=$HA_SYNC
others=$(seq 1 "$HA_NODES" | sed 's/^/node/' | grep -vx "$HA_LEADER")
for n in $others; do "$HA" stop-node "$dir" "$n"; done
lp=$HA_LEADER_PORT
lci="host=127.0.0.1 port=$lp dbname=dtx user=postgres"
warnings=0
blocked_commit () {   # label id how
    local label=$1 id=$2 how=$3 pid rc t0
    if [ "$how" = timeout ]; then
        PGOPTIONS="-c statement_timeout=1000" psql -X -v VERBOSITY=verbose "$lci" \
            -c "insert into t values ($id, '$label')" >"$dir/$label.out" 2>&1 &
    else
        psql -X -v VERBOSITY=verbose "$lci" -c "insert into t values ($id, '$label')" >"$dir/$label.out" 2>&1 &
    fi
    pid=$!
    t0=$(date +%s)
    until [ "$(q "$lci" -c "select count(*) from pg_stat_activity where wait_event = 'SyncRep'")" -ge 1 ]; do
        kill -0 "$pid" 2>/dev/null || { cat "$dir/$label.out"; fail "$label: commit did not wait for the standby"; }
        [ $(( $(date +%s) - t0 )) -lt 20 ] || fail "$label: no backend waiting in SyncRep"
        sleep 0.1
    done
    case "$how" in
    cancel) q "$lci" -c "select pg_cancel_backend(pid) from pg_stat_activity where wait_event = 'SyncRep'" >/dev/null ;;
    terminate) q "$lci" -c "select pg_terminate_backend(pid) from pg_stat_activity where wait_event = 'SyncRep'" >/dev/null ;;
    timeout)
        # statement_timeout does not bound the wait (PostgreSQL disables it
        # before the commit): still waiting well after 1 s; then the client
        # cancels (psql on SIGINT sends a cancel request, as PQcancel does)
        sleep 3
        kill -0 "$pid" 2>/dev/null || { cat "$dir/$label.out"; fail "$label: statement_timeout ended the wait"; }
        echo "--- $label: still waiting 3 s after statement_timeout=1s; cancelling from the client (PQcancel)"
        kill -INT "$pid" ;;
    esac
    rc=0; wait "$pid" || rc=$?
    echo "--- $label: psql exit status $rc; it printed:"
    cat "$dir/$label.out"
    grep -q "might not have been replicated" "$dir/$label.out" || fail "$label: no warning"
    [ "$(q "$lci" -c "select count(*) from t where id = $id")" = 1 ] || fail "$label: row not committed locally"
    warnings=$((warnings + 1))
}
blocked_commit cancelled 100001 cancel
blocked_commit statement_timeout_then_client_cancel 100002 timeout
blocked_commit terminated 100003 terminate
echo "(each row is committed on the leader, visible there, but was on no standby when acknowledged)"

step "restart the standby: the locally committed rows reach it"
for n in $others; do "$HA" restart-node "$dir" "$n"; done
. "$dir/env"
sp=$(eval echo "\$HA_NODE${sync#node}_PORT")
n=$(q "host=127.0.0.1 port=$sp dbname=dtx user=postgres" -c "select count(*) from t where id > 100000")
[ "$n" = 3 ] || fail "$sync has $n of the 3 locally committed rows"

step "status"
"$HA" status "$dir"

step "stop"
"$HA" stop "$dir"
"$HA" stop "$dir" >/dev/null
[ -z "$(ps -eo args= | grep -F "$dir/" | grep -v grep || true)" ] || fail "processes left after stop"
ok=1
echo "selftest: PASS"
