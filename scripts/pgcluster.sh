#!/usr/bin/env bash
# pgcluster.sh - start and stop throwaway PostgreSQL clusters for the tests,
# the demo and the benchmark.  Runs the server as the unprivileged
# `postgres` account when called as root (PostgreSQL refuses to run as root).
#
#   pgcluster.sh start DIR PORT [fsync=on|off]   initdb DIR (if new), start on 127.0.0.1:PORT
#                                    (MAX_PREPARED=N sets max_prepared_transactions, default 250)
#   pgcluster.sh stop DIR [fast|immediate]       stop it (default fast)
#   pgcluster.sh kill DIR                        immediate stop, as after a crash
#
# The socket directory is DIR itself; the superuser is `postgres`, trust auth
# on loopback only.
set -euo pipefail
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pgcluster.sh start|stop|kill DIR [PORT]}
dir=${2:?cluster directory required}

as_pg () {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$cmd" in
start)
    port=${3:?port required}
    fsync=${4:-off}
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        # every parent must be searchable by postgres
        chmod o+x "$(dirname "$dir")" 2>/dev/null || true
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth=trust \
            --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_prepared_transactions=${MAX_PREPARED:-250} \
            -c max_connections=400 -c fsync=$fsync -c synchronous_commit=$fsync \
            -c full_page_writes=$fsync -c shared_buffers=64MB -c log_min_messages=warning" \
        start >/dev/null \
        || { tail -20 "$dir/server.log" >&2; exit 1; }
    ;;
stop)
    mode=${3:-fast}
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
    fi
    ;;
kill)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
    fi
    ;;
*)
    echo "pgcluster.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
