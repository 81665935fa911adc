#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests (Rust tests, the kernel-client guest).
#
#   scripts/pg-throwaway.sh start DIR   # initdb DIR/data, start on 127.0.0.1:<free port>,
#                                       # print the connection string (also in DIR/url)
#   scripts/pg-throwaway.sh stop DIR    # fast shutdown by the postmaster's PID
#   scripts/pg-throwaway.sh pause DIR   # pg_ctl stop -m fast, keeping the data (outage tests)
#   scripts/pg-throwaway.sh resume DIR  # start again on the same port
#
# PostgreSQL refuses to run as root: as root the server runs as the `postgres`
# user (runuser), which owns DIR. Trust authentication, loopback only, no
# fsync (test data). Fails loudly when PostgreSQL is not installed.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || { echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2; }

bindir=""
for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb ]] && bindir=$d
done
if [[ -z $bindir ]]; then
    echo "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin:" \
         "run scripts/install-test-deps.sh (installs the postgresql package)" >&2
    exit 3
fi

as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_user() {
    if [[ $(id -u) -eq 0 ]]; then echo postgres; else id -un; fi
}

start_server() {
    local port=$1
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
}

case $cmd in
start)
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || { echo "no postgres OS user: run scripts/install-test-deps.sh" >&2; exit 3; }
        chown postgres "$dir"
        chmod 700 "$dir"
    fi
    as_pg "$bindir/initdb" -D "$dir/data" -A trust -U "$(pg_user)" --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    echo "$port" >"$dir/port"
    start_server "$port"
    url="host=127.0.0.1 port=$port user=$(pg_user) dbname=postgres"
    echo "$url" >"$dir/url"
    echo "$url"
    ;;
pause)
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    ;;
resume)
    start_server "$(cat "$dir/port")"
    ;;
stop)
    pidfile=$dir/data/postmaster.pid
    [[ -f $pidfile ]] || exit 0
    pid=$(head -n1 "$pidfile")
    kill -INT "$pid" 2>/dev/null || exit 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || exit 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    ;;
*)
    echo "unknown command $cmd" >&2; exit 2 ;;
esac
