#!/usr/bin/env bash
# hacluster.sh - start and stop a throwaway Patroni cluster (one etcd member,
# N PostgreSQL 15 nodes under Patroni, synchronous replication) on 127.0.0.1,
# for the HA tests and benchmarks of the decision store (docs/ha.md).
#
#   hacluster.sh start DIR [--base-port N] [--nodes N] [--no-strict]
#       install what is missing (as root, apt-get), start etcd (DIR/etcd) and N
#       Patroni nodes (DIR/node1..N), wait for a leader and a streaming
#       synchronous standby, create the database `dtx`, write DIR/env
#   hacluster.sh stop DIR                 stop everything (also half-started); idempotent
#   hacluster.sh status DIR               leader, sync standby, lag
#   hacluster.sh kill-leader DIR          SIGKILL the leader's Patroni and PostgreSQL (host
#                                         loss); wait for promotion and for a clean write
#   hacluster.sh restart-node DIR NAME    start NAME's Patroni again; wait until it is the
#                                         sync standby
#   hacluster.sh stop-node DIR NAME       stop NAME's Patroni (and its PostgreSQL) cleanly
#   hacluster.sh selftest                 the smoke test (tests/ha/selftest.sh)
#
# Ports (from --base-port B, else derived from the pid and checked free):
#   B etcd client, B+1 etcd peer, B+10+i PostgreSQL of node i, B+20+i its REST API.
# synchronous_mode_strict is on unless --no-strict: a commit is acknowledged only
# once a synchronous standby has it (with no standby left, commits wait).
# Servers run as the unprivileged `postgres` account when called as root.
set -euo pipefail

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PY=/usr/bin/python3
PATRONI=/usr/bin/patroni
HA_TTL=${HA_TTL:-10}
HA_LOOP_WAIT=${HA_LOOP_WAIT:-2}
HA_RETRY_TIMEOUT=${HA_RETRY_TIMEOUT:-4}
HA_WAIT=${HA_WAIT:-120}          # seconds any wait may take
SELF=$(readlink -f "$0")

die () { echo "hacluster: $*" >&2; exit 1; }
log () { echo "hacluster: $*" >&2; }
now () { date +%s.%N; }
elapsed () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

as_pg () {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- \
            env -i PATH=/usr/bin:/bin HOME=/var/lib/postgresql LANG=C.UTF-8 LC_ALL=C.UTF-8 "$@"
    else
        "$@"
    fi
}

install_missing () {
    local p missing=""
    for p in etcd-server etcd-client patroni postgresql-15 postgresql-client-15 curl; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" = 0 ] || die "missing packages:$missing (run as root to install)"
    log "installing$missing"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
    # the packages may ship services (patroni.service, the postgresql system
    # cluster): this script uses none of them
}

port_free () { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

block_free () {   # base nodes
    local b=$1 n=$2 i
    port_free "$b" && port_free $((b + 1)) || return 1
    for i in $(seq 1 "$n"); do
        port_free $((b + 10 + i)) && port_free $((b + 20 + i)) || return 1
    done
}

# spawn_pg: exec (no shell left behind holding our stdout) as postgres; run in background
spawn_pg () {
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
            env -i PATH=/usr/bin:/bin HOME=/var/lib/postgresql LANG=C.UTF-8 LC_ALL=C.UTF-8 "$@"
    else
        exec "$@"
    fi
}

pid_alive () { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# --- state of a started cluster ------------------------------------------

load_conf () {
    dir=$(readlink -f "$1")
    [ -f "$dir/hacluster.conf" ] || die "$dir: no cluster here (hacluster.conf missing)"
    # shellcheck disable=SC1091
    . "$dir/hacluster.conf"     # BASE NODES STRICT SCOPE
}

node_port () { echo $((BASE + 10 + $1)); }
rest_port () { echo $((BASE + 20 + $1)); }
node_num () { local n=${1#node}; [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$NODES" ] || die "no node $1"; echo "$n"; }

# members: one line per member: name role state port lag (from any node's REST /cluster)
members () {
    local i json
    for i in $(seq 1 "$NODES"); do
        json=$(curl -sf --max-time 2 "http://127.0.0.1:$(rest_port "$i")/cluster" 2>/dev/null) || continue
        printf '%s' "$json" | $PY -c '
import json, sys
c = json.load(sys.stdin)
for m in c.get("members", []):
    print(m.get("name"), m.get("role"), m.get("state"), m.get("port"), m.get("lag", "-"), m.get("timeline", "-"))
' && return 0
    done
    return 1
}

psql_at () {   # port, psql args...
    local p=$1; shift
    psql -X -q -At -h 127.0.0.1 -p "$p" -U postgres "$@"
}

# leader_now: prints "name port" of a running, writable leader, else fails
leader_now () {
    local m name port
    m=$(members 2>/dev/null) || return 1
    read -r name port < <(awk '$2 == "leader" && $3 == "running" { print $1, $4; exit }' <<<"$m") || return 1
    [ -n "${port:-}" ] || return 1
    [ "$(psql_at "$port" -d postgres -c 'select pg_is_in_recovery()' 2>/dev/null)" = f ] || return 1
    echo "$name $port"
}

# sync_ok: the leader has a synchronous standby streaming (Patroni and pg_stat_replication agree)
# prints "leader leaderport sync syncport"
sync_ok () {
    local l lp m s sp
    read -r l lp < <(leader_now) || return 1
    m=$(members) || return 1
    read -r s sp < <(awk '$2 == "sync_standby" && ($3 == "running" || $3 == "streaming") { print $1, $4; exit }' <<<"$m") || return 1
    [ -n "${sp:-}" ] || return 1
    [ "$(psql_at "$lp" -d postgres -c "select count(*) from pg_stat_replication
          where state = 'streaming' and sync_state = 'sync' and client_port is not null" 2>/dev/null)" -ge 1 ] 2>/dev/null || return 1
    echo "$l $lp $s $sp"
}

wait_for () {   # seconds, what, command...
    local secs=$1 what=$2 t0; shift 2
    t0=$(date +%s)
    until "$@"; do
        [ $(( $(date +%s) - t0 )) -lt "$secs" ] || { log "timed out after ${secs}s waiting for $what"; return 1; }
        sleep 0.2
    done
}

conninfo () {
    local hosts="" ports="" i
    for i in $(seq 1 "$NODES"); do
        hosts="$hosts${hosts:+,}127.0.0.1"
        ports="$ports${ports:+,}$(node_port "$i")"
    done
    echo "host=$hosts port=$ports dbname=dtx user=postgres target_session_attrs=read-write connect_timeout=2"
}

write_env () {
    local l lp s sp i
    read -r l lp s sp < <(sync_ok) || { read -r l lp < <(leader_now) || true; s=""; sp=""; }
    {
        echo "# written by hacluster.sh $(date -u +%FT%TZ)"
        echo "HA_DIR='$dir'"
        echo "HA_SCOPE='$SCOPE'"
        echo "HA_NODES=$NODES"
        echo "HA_STRICT=$STRICT"
        echo "HA_ETCD=http://127.0.0.1:$BASE"
        for i in $(seq 1 "$NODES"); do
            echo "HA_NODE${i}_NAME=node$i"
            echo "HA_NODE${i}_PORT=$(node_port "$i")"
            echo "HA_NODE${i}_REST=$(rest_port "$i")"
        done
        echo "HA_LEADER=${l:-}"
        echo "HA_LEADER_PORT=${lp:-}"
        echo "HA_SYNC=${s:-}"
        echo "HA_SYNC_PORT=${sp:-}"
        echo "HA_CONNINFO='$(conninfo)'"
    } >"$dir/env.tmp"
    mv "$dir/env.tmp" "$dir/env"
}

patroni_yml () {   # node number
    local i=$1 nd="$dir/node$1"
    cat <<EOF
scope: $SCOPE
name: node$i
restapi:
  listen: 127.0.0.1:$(rest_port "$i")
  connect_address: 127.0.0.1:$(rest_port "$i")
etcd3:
  hosts: 127.0.0.1:$BASE
  protocol: http
log:
  level: INFO
bootstrap:
  dcs:
    ttl: $HA_TTL
    loop_wait: $HA_LOOP_WAIT
    retry_timeout: $HA_RETRY_TIMEOUT
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: $STRICT
    synchronous_node_count: 1
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_prepared_transactions: 250
        max_connections: 400
        max_wal_senders: 10
        max_replication_slots: 10
        wal_level: replica
        wal_log_hints: 'on'
        hot_standby: 'on'
        wal_keep_size: 256MB
        fsync: 'on'
        synchronous_commit: 'on'
        full_page_writes: 'on'
        shared_buffers: 64MB
        wal_retrieve_retry_interval: 1s   # a replica reconnects to a new primary within 1 s (default 5 s)
  initdb:
  - encoding: UTF8
  - locale: C
  - auth: trust
postgresql:
  listen: 127.0.0.1:$(node_port "$i")
  connect_address: 127.0.0.1:$(node_port "$i")
  data_dir: $nd/data
  bin_dir: $PG_BINDIR
  pgpass: $nd/pgpass
  use_unix_socket: false
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
    rewind:
      username: postgres
  parameters:
    unix_socket_directories: '$nd'
  pg_hba:
  - local all all trust
  - local replication all trust
  - host all all 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
EOF
}

start_etcd () {
    as_pg mkdir -p "$dir/etcd"
    chmod 700 "$dir/etcd"
    spawn_pg /bin/sh -c 'echo $$ >"$1"; l=$2; shift 2; exec "$@" >"$l" 2>&1' sh \
        "$dir/etcd.pid" "$dir/etcd.log" \
        /usr/bin/etcd --name etcd1 --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$BASE" --advertise-client-urls "http://127.0.0.1:$BASE" \
        --listen-peer-urls "http://127.0.0.1:$((BASE + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((BASE + 1))" \
        --initial-cluster "etcd1=http://127.0.0.1:$((BASE + 1))" \
        --initial-cluster-state new --initial-cluster-token "$SCOPE" </dev/null >/dev/null 2>&1 &
    disown
}

etcd_healthy () { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$BASE" --dial-timeout 1s endpoint health >/dev/null 2>&1; }

start_node () {   # node number
    local i=$1 nd="$dir/node$1"
    as_pg mkdir -p "$nd"
    patroni_yml "$i" >"$nd/patroni.yml"
    chown postgres "$nd/patroni.yml" 2>/dev/null || true
    spawn_pg /bin/sh -c 'echo $$ >"$1"; l=$2; shift 2; exec "$@" >>"$l" 2>&1' sh \
        "$nd/patroni.pid" "$nd/patroni.log" \
        "$PY" "$PATRONI" "$nd/patroni.yml" </dev/null >/dev/null 2>&1 &
    disown
}

# pids of a node: patroni, postmaster and its children
node_pids () {
    local nd="$dir/node$1" p pm
    p=$(cat "$nd/patroni.pid" 2>/dev/null || true)
    pid_alive "$p" && echo "$p"
    pm=$(head -1 "$nd/data/postmaster.pid" 2>/dev/null || true)
    if pid_alive "$pm" && tr '\0' ' ' <"/proc/$pm/cmdline" 2>/dev/null | grep -qF -- "$nd/data"; then
        echo "$pm"
        ps -o pid= --ppid "$pm" 2>/dev/null | tr -d ' ' || true
    fi
}

# processes still running with DIR on their command line (ours: DIR is unique)
strays () { ps -eo pid=,args= | awk -v d="$dir/" 'index($0, d) && !/awk -v d=/ { print }' | grep -v "hacluster.sh" || true; }

# --- commands ---------------------------------------------------------------

cmd_start () {
    local d="" base="" nodes=2 strict=true t0 i
    d=${1:?usage: hacluster.sh start DIR [--base-port N] [--nodes N] [--no-strict]}; shift
    while [ $# -gt 0 ]; do
        case "$1" in
        --base-port) base=${2:?}; shift 2 ;;
        --base-port=*) base=${1#*=}; shift ;;
        --nodes) nodes=${2:?}; shift 2 ;;
        --nodes=*) nodes=${1#*=}; shift ;;
        --no-strict) strict=false; shift ;;
        --strict) strict=true; shift ;;
        *) die "start: unknown option $1" ;;
        esac
    done
    [[ $nodes =~ ^[1-9]$ ]] || die "--nodes must be 1..9"
    t0=$(now)
    install_missing
    [ -x "$PATRONI" ] || die "$PATRONI missing"
    head -1 "$PATRONI" | grep -q '^#!/usr/bin/python3' || log "note: $PATRONI does not use /usr/bin/python3; running it with $PY"

    mkdir -p "$d"
    dir=$(readlink -f "$d")
    [ ! -f "$dir/hacluster.conf" ] || die "$dir already holds a cluster (stop it and remove the directory)"
    if [ -z "$base" ]; then
        base=$(( 20000 + ($$ % 400) * 30 ))
        for _ in $(seq 1 400); do
            block_free "$base" "$nodes" && break
            base=$(( base + 30 )); [ "$base" -lt 32000 ] || base=20000
        done
    fi
    block_free "$base" "$nodes" || die "ports $base.. are not free"
    BASE=$base NODES=$nodes STRICT=$strict SCOPE="dtx-ha-$base"
    printf 'BASE=%s\nNODES=%s\nSTRICT=%s\nSCOPE=%s\n' "$BASE" "$NODES" "$STRICT" "$SCOPE" >"$dir/hacluster.conf"
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        chmod o+x "$(dirname "$dir")" 2>/dev/null || true
    fi

    # shellcheck disable=SC2154  # rc is set inside the trap
    trap 'rc=$?; if [ $rc != 0 ]; then log "start failed; stopping what was started"; tail_logs; cmd_stop "$dir" >&2 || true; fi' EXIT
    start_etcd
    wait_for 30 "etcd" etcd_healthy
    for i in $(seq 1 "$NODES"); do start_node "$i"; done
    wait_for "$HA_WAIT" "a leader" leader_now >/dev/null
    if [ "$NODES" -ge 2 ]; then
        wait_for "$HA_WAIT" "a streaming synchronous standby" sync_ok >/dev/null
    fi
    local lp
    read -r _ lp < <(leader_now)
    if [ "$(psql_at "$lp" -d postgres -c "select count(*) from pg_database where datname = 'dtx'")" = 0 ]; then
        psql_at "$lp" -d postgres -c "create database dtx"
    fi
    psql_at "$lp" -d dtx -c "create table if not exists hacluster_probe (id bigserial primary key, at timestamptz default clock_timestamp(), note text)"
    write_env
    trap - EXIT
    echo "hacluster: started $NODES nodes (strict=$STRICT, ports $BASE..$((BASE + 20 + NODES))) in $(elapsed "$t0") s"
    cmd_status "$dir"
}

tail_logs () {
    local f
    for f in "$dir"/etcd.log "$dir"/node*/patroni.log; do
        [ -f "$f" ] || continue
        echo "--- $f" >&2; tail -15 "$f" >&2
    done
}

cmd_stop () {
    local d=${1:?usage: hacluster.sh stop DIR} i p pids t0
    [ -d "$d" ] || { log "$d: nothing to stop"; return 0; }
    dir=$(readlink -f "$d")
    [ -f "$dir/hacluster.conf" ] || { log "$dir: no cluster here"; return 0; }
    . "$dir/hacluster.conf"
    # Patroni stops its PostgreSQL on SIGTERM; all nodes at once (no failover dance)
    for i in $(seq 1 "$NODES"); do
        p=$(cat "$dir/node$i/patroni.pid" 2>/dev/null || true)
        pid_alive "$p" && kill -TERM "$p" 2>/dev/null || true
    done
    t0=$(date +%s)
    for i in $(seq 1 "$NODES"); do
        p=$(cat "$dir/node$i/patroni.pid" 2>/dev/null || true)
        while pid_alive "$p" && [ $(( $(date +%s) - t0 )) -lt 30 ]; do sleep 0.2; done
    done
    # whatever is left: a PostgreSQL whose Patroni was killed, a hung Patroni
    for i in $(seq 1 "$NODES"); do
        if [ -f "$dir/node$i/data/postmaster.pid" ] && pid_alive "$(head -1 "$dir/node$i/data/postmaster.pid")"; then
            as_pg "$PG_BINDIR/pg_ctl" -D "$dir/node$i/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
        fi
        pids=$(node_pids "$i" | tr '\n' ' ')
        [ -z "${pids// /}" ] || kill -KILL $pids 2>/dev/null || true
    done
    p=$(cat "$dir/etcd.pid" 2>/dev/null || true)
    if pid_alive "$p"; then
        kill -TERM "$p" 2>/dev/null || true
        t0=$(date +%s)
        while pid_alive "$p" && [ $(( $(date +%s) - t0 )) -lt 10 ]; do sleep 0.1; done
        pid_alive "$p" && kill -KILL "$p" 2>/dev/null || true
    fi
    # anything else with our directory on its command line
    pids=$(strays | awk '{ print $1 }' | tr '\n' ' ')
    if [ -n "${pids// /}" ]; then
        log "killing strays: $pids"
        kill -KILL $pids 2>/dev/null || true
        sleep 0.5
    fi
    if [ -n "$(strays)" ]; then
        log "processes left behind:"; strays >&2
        return 1
    fi
    rm -f "$dir/env"
    echo "hacluster: stopped ($dir)"
}

cmd_status () {
    load_conf "${1:?usage: hacluster.sh status DIR}"
    local m lp
    if ! m=$(members); then
        echo "hacluster: no Patroni node answers (etcd: $(etcd_healthy && echo up || echo down))"
        return 1
    fi
    echo "member  role          state      port   lag(MB)  tl"
    awk '{ printf "%-7s %-13s %-10s %-6s %-8s %s\n", $1, $2, $3, $4, $5, $6 }' <<<"$m"
    if read -r _ lp < <(leader_now); then
        echo "leader's pg_stat_replication (synchronous_standby_names = $(psql_at "$lp" -d postgres -c 'show synchronous_standby_names')):"
        psql_at "$lp" -d postgres -F ' ' -c "select application_name, state, sync_state,
              pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) as replay_lag_bytes,
              coalesce(extract(epoch from replay_lag)::text, '0') as replay_lag_s
              from pg_stat_replication order by 1" | awk '{ printf "  %-7s %-10s %-6s lag %s bytes, %s s\n", $1, $2, $3, $4, $5 }'
    else
        echo "no writable leader"
    fi
}

# a write through the multi-host conninfo that committed cleanly (no
# "canceling wait for synchronous replication" warning)
clean_write () {   # note
    local out
    # statement_timeout does not bound a commit's wait for the standby: the
    # client cancels after HA_WRITE_TIMEOUT s (psql on SIGINT sends a cancel)
    out=$(timeout -s INT -k 2 "${HA_WRITE_TIMEOUT:-5}" psql -X -q -At "$(conninfo)" \
        -c "insert into hacluster_probe (note) values ('$1')" 2>&1) || return 1
    ! grep -q . <<<"$out"
}

rw_connect () { [ "$(psql -X -At "$(conninfo)" -c 'select pg_is_in_recovery()' 2>/dev/null)" = f ]; }

cmd_kill_leader () {
    load_conf "${1:?usage: hacluster.sh kill-leader DIR}"
    local l lp i pids t0 alive
    read -r l lp < <(leader_now) || die "no leader to kill"
    i=$(node_num "$l")
    pids=$(node_pids "$i" | tr '\n' ' ')
    t0=$(now)
    kill -KILL $pids 2>/dev/null || true
    echo "hacluster: killed $l (port $lp; pids $pids)"
    echo "$t0" >"$dir/node$i/killed_at"
    wait_for "$HA_WAIT" "a new read-write primary" rw_connect
    echo "hacluster: promoted: read-write via the conninfo after $(elapsed "$t0") s"
    alive=$((NODES - 1))
    if [ "$STRICT" = true ] && [ "$alive" -lt 2 ]; then
        echo "hacluster: no standby left and synchronous_mode_strict: commits wait for a standby (restart-node DIR $l)"
        write_env
        return 0
    fi
    wait_for "$HA_WAIT" "a clean write through the conninfo" clean_write "after kill of $l"
    echo "hacluster: failover: first clean write via the conninfo after $(elapsed "$t0") s"
    write_env
}

# node_streaming NAME: the leader's pg_stat_replication shows NAME streaming
node_streaming () {
    local lp
    read -r _ lp < <(leader_now) || return 1
    [ "$(psql_at "$lp" -d postgres -c "select count(*) from pg_stat_replication
          where application_name = '$1' and state = 'streaming'" 2>/dev/null)" = 1 ]
}

# rejoined NAME: NAME is the sync standby, or (more than one standby) NAME
# streams and some node is the sync standby
rejoined () {
    local s
    read -r _ _ s _ < <(sync_ok) || return 1
    [ "$s" = "$1" ] || { [ "$NODES" -gt 2 ] && node_streaming "$1"; }
}

cmd_restart_node () {
    load_conf "${1:?usage: hacluster.sh restart-node DIR NAME}"
    local name=${2:?node name (node1..)} i t0
    i=$(node_num "$name")
    pid_alive "$(cat "$dir/node$i/patroni.pid" 2>/dev/null)" && die "$name's Patroni is running"
    t0=$(now)
    start_node "$i"
    wait_for "$HA_WAIT" "$name to rejoin (streaming, a sync standby in place)" rejoined "$name"
    if [ "$NODES" -gt 2 ]; then
        echo "hacluster: $name rejoined (streaming; sync standby $(sync_ok | awk '{ print $3 }')) after $(elapsed "$t0") s"
    else
        echo "hacluster: $name rejoined as sync standby after $(elapsed "$t0") s"
    fi
    wait_for "$HA_WAIT" "a clean write through the conninfo" clean_write "after restart of $name"
    echo "hacluster: clean write via the conninfo $(elapsed "$t0") s after the restart"
    write_env
}

# stop-node NAME: stop NAME's Patroni cleanly (it shuts its PostgreSQL down)
cmd_stop_node () {
    load_conf "${1:?usage: hacluster.sh stop-node DIR NAME}"
    local name=${2:?node name (node1..)} i p t0
    i=$(node_num "$name")
    p=$(cat "$dir/node$i/patroni.pid" 2>/dev/null || true)
    pid_alive "$p" || { echo "hacluster: $name is not running"; return 0; }
    kill -TERM "$p"
    t0=$(date +%s)
    while pid_alive "$p"; do
        [ $(( $(date +%s) - t0 )) -lt 60 ] || die "$name's Patroni (pid $p) did not stop"
        sleep 0.2
    done
    echo "hacluster: stopped $name"
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
status) shift; cmd_status "$@" ;;
kill-leader) shift; cmd_kill_leader "$@" ;;
restart-node) shift; cmd_restart_node "$@" ;;
stop-node) shift; cmd_stop_node "$@" ;;
selftest) shift; exec "$(dirname "$SELF")/../tests/ha/selftest.sh" "$@" ;;
*) sed -n '2,/^set -euo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
