#!/usr/bin/env bash
# smbtorture (Samba's SMB2 conformance suites) against DittoFS and, as the bar,
# against a throwaway Samba smbd on loopback; prints per suite the tests passed
# and failed (failure + error) on each server.
#
# Usage: scripts/smbtorture.sh [--server dittofs|samba|both] [--timeout SECS]
#                              [--keep] [SUITE...]
#   SUITE defaults to the SMB2 suites of the conformance table in README.md.
#   DITTOFS_BIN: the binary (default $CARGO_TARGET_DIR/release/dittofs or
#   target/release/dittofs). Logs stay in the temp dir printed at the end when
#   --keep is given (smbtorture output per suite: <server>-<suite>.log).
# Needs: smbtorture (Debian samba-testsuite); smbd + smbpasswd (Debian samba)
# only for --server samba|both. Everything listens on 127.0.0.1 only.
set -euo pipefail

server=both
suite_timeout=300
keep=0
suites=()
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --timeout) suite_timeout="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) suites+=("$1"); shift ;;
  esac
done
if [ ${#suites[@]} -eq 0 ]; then
  suites=(smb2.connect smb2.read smb2.rw smb2.getinfo smb2.setinfo smb2.dir
          smb2.create smb2.lock smb2.compound smb2.session smb2.oplock
          smb2.lease smb2.notify smb2.ioctl smb2.rename smb2.durable-open
          smb2.durable-v2-open smb2.timestamps)
fi

USER_NAME=torture
PASS='Tort-ure1pass'
tmp=$(mktemp -d /tmp/smbtorture.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$keep" = 1 ]; then echo "logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port pid
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

alive() { # port: the server still accepts a connection
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_samba() { # -> sets port, share
  local d="$tmp/samba"
  mkdir -p "$d"/{private,lock,state,cache,pid,share,log,ncalrpc}
  chmod 0777 "$d/share"
  port=$(free_port)
  share=share
  cat >"$d/smb.conf" <<EOF
[global]
  server role = standalone server
  workgroup = WORKGROUP
  netbios name = TORTURE
  interfaces = 127.0.0.1
  bind interfaces only = yes
  smb ports = $port
  disable netbios = yes
  private dir = $d/private
  lock directory = $d/lock
  state directory = $d/state
  cache directory = $d/cache
  pid directory = $d/pid
  ncalrpc dir = $d/ncalrpc
  log file = $d/log/log.%m
  passdb backend = tdbsam:$d/private/passdb.tdb
  server min protocol = SMB2_02
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
  rpc_server:default = disabled
[share]
  path = $d/share
  read only = no
  guest ok = no
EOF
  # smbd runs file access as the mapped Unix user: the current one.
  local unix_user
  unix_user=$(id -un)
  USER_NAME=$unix_user
  printf '%s\n%s\n' "$PASS" "$PASS" \
    | smbpasswd -c "$d/smb.conf" -s -a "$unix_user" >/dev/null
  # setsid: smbd signals its whole process group when it stops.
  setsid smbd --foreground --no-process-group --configfile="$d/smb.conf" \
    >"$d/log/smbd.out" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  wait_port "$port" "$server_pid" || { cat "$d/log/smbd.out" >&2; echo "smbd did not start" >&2; exit 1; }
}

dittofs_bin() {
  if [ -n "${DITTOFS_BIN:-}" ]; then echo "$DITTOFS_BIN"
  elif [ -n "${CARGO_TARGET_DIR:-}" ]; then echo "$CARGO_TARGET_DIR/release/dittofs"
  else echo "$(dirname "$0")/../target/release/dittofs"; fi
}

start_dittofs() { # -> sets port, share
  local d="$tmp/dittofs" bin
  bin=$(dittofs_bin)
  [ -x "$bin" ] || { echo "no dittofs binary at $bin (cargo build --release)" >&2; exit 1; }
  mkdir -p "$d/data"
  port=$(free_port)
  share=export
  local nfs_port
  nfs_port=$(free_port)
  cat >"$d/config.toml" <<EOF
data_dir = "$d/data"
listen = "127.0.0.1"
cores = 2

[wal]
segment_bytes = 4194304
segments_per_core = 4

[adapters.nfs]
port = $nfs_port

[adapters.smb]
enabled = true
port = $port

[api]
port = 0

[metrics]
port = 0

[identity]
bcrypt_cost = 4

[metadata_stores.default]
type = "lmdb"

[block_stores.default]
type = "filesystem"

[[shares]]
name = "/export"
metadata_store = "default"
block_store = "default"
root_mode = 511
squash = "none"
EOF
  USER_NAME=torture
  printf '%s\n' "$PASS" | "$bin" user add "$USER_NAME" --uid 1000 --password-stdin \
    --config "$d/config.toml" >/dev/null
  "$bin" start --config "$d/config.toml" >"$d/server.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  wait_port "$port" "$server_pid" || { tail -20 "$d/server.log" >&2; echo "dittofs did not start" >&2; exit 1; }
}

# run_suites NAME: runs every suite against the started server; fills
# result_NAME_<suite>="passed failed" (failed = failure + error lines).
declare -A results
run_suites() {
  local name=$1 s log passed failed skipped
  for s in "${suites[@]}"; do
    log="$tmp/$name-$s.log"
    timeout -k 10 "$suite_timeout" smbtorture "//127.0.0.1/$share" -p "$port" \
      -U "$USER_NAME%$PASS" --format=subunit \
      --option=torture:sharedelay=100000 \
      --option=torture:writetimeupdatedelay=500000 \
      "$s" >"$log" 2>&1 || true
    passed=$(grep -c '^success: ' "$log" || true)
    failed=$(grep -Ec '^(failure|error): ' "$log" || true)
    skipped=$(grep -c '^skip: ' "$log" || true)
    local crashed=""
    if ! alive "$port"; then crashed=" (server DOWN)"; fi
    results["$name/$s"]="$passed/$failed$crashed"
    printf '%-8s %-16s passed %3d failed %3d skipped %3d%s\n' \
      "$name" "$s" "$passed" "$failed" "$skipped" "$crashed" >&2
    if [ -n "$crashed" ]; then
      echo "$name died during $s; restarting it" >&2
      "start_$name"
    fi
  done
}

run_server() { # name
  "start_$1"
  run_suites "$1"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}

case "$server" in
  dittofs) run_server dittofs ;;
  samba) run_server samba ;;
  both) run_server dittofs; run_server samba ;;
  *) echo "--server dittofs|samba|both" >&2; exit 2 ;;
esac

printf '| %-15s | %-14s | %-14s |\n' suite "DittoFS p/f" "Samba p/f"
printf '|%s|%s|%s|\n' "-----------------" "----------------" "----------------"
for s in "${suites[@]}"; do
  printf '| %-15s | %-14s | %-14s |\n' "$s" "${results[dittofs/$s]:--}" "${results[samba/$s]:--}"
done
