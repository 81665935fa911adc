#!/usr/bin/env bash
# Rate-limit accuracy: dittofs-perf over NFS and SMB against dittofs configured with a
# per-client or per-user limit, achieved rate vs the limit (bar: within 10 %), and no
# client errors (a client is slowed, never refused). The limit holds for the client as
# a whole: 1, 2 and 4 connections on a 2-core server (the kernel spreads them over the
# cores) must all get the limit, not k times it. One dittofs per case (NFS: memory
# stores; SMB: LMDB + filesystem blocks, a user added with `dittofs user add`), on
# loopback; stopped by PID. Prints a markdown table (also $OUT/table.md).
# Cases: "NAME PROTO SCOPE CORES CONNECTIONS WORKLOAD KIND LIMIT BURST" where PROTO is
# nfs or smb, SCOPE client or user ([rate_limit.per_client] / per_user), KIND is req
# (requests/s, measured as ops/s × requests per op: 2 for an SMB stat, CREATE + CLOSE)
# or bytes (bytes/s, measured as MB/s of the workload; seq-write charges request bytes,
# seq-read reply bytes).
# Knobs (env): DURATION (15s), DEPTH (8), OUT ($CARGO_TARGET_DIR/bench-ratelimit), CASES,
# CASE_TIMEOUT_S (300: a client that hangs fails its case).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-15s}
DEPTH=${DEPTH:-8}
OUT=${OUT:-$TARGET/bench-ratelimit}
CASES=${CASES:-"
nfs-req-1conn nfs client 2 1 stat req 500 10
nfs-req-2conn nfs client 2 2 stat req 500 10
nfs-req-4conn nfs client 2 4 stat req 500 10
nfs-req-4conn-1core nfs client 1 4 stat req 500 10
nfs-req-default-burst nfs client 2 1 stat req 500 0
nfs-user-req-4conn nfs user 2 4 stat req 500 10
nfs-write-1conn nfs client 2 1 seq-write bytes 20971520 1048576
nfs-write-2conn nfs client 2 2 seq-write bytes 20971520 1048576
nfs-write-4conn nfs client 2 4 seq-write bytes 20971520 1048576
nfs-read-1conn nfs client 2 1 seq-read bytes 20971520 1048576
nfs-read-4conn nfs client 2 4 seq-read bytes 20971520 1048576
smb-req-1conn smb client 2 1 stat req 500 10
smb-req-2conn smb client 2 2 stat req 500 10
smb-req-4conn smb client 2 4 stat req 500 10
smb-write-4conn smb client 2 4 seq-write bytes 20971520 1048576
smb-read-4conn smb client 2 4 seq-read bytes 20971520 1048576
"}
USER_NAME=benchuser
USER_PASS=bench-Pass-1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; return 1; }

[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p dittofs -p dittofs-perf --bins >&2
PERF=$TARGET/release/dittofs-perf
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/dittofs-bench-rl.XXXXXX)
DPID=""
stop() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true; DPID=""; }
trap 'stop; rm -rf "$WORK"' EXIT

{
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ): DURATION=$DURATION DEPTH=$DEPTH"
  echo
  echo "| case | proto | scope | cores | conns | workload | limit | burst | achieved | achieved/limit | errors | load before |"
  echo "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|"
} > "$OUT/table.md"
FAIL=0
while read -r NAME PROTO SCOPE CORES CONNS WL KIND LIMIT BURST; do
  [ -n "${NAME:-}" ] || continue
  PORT=$(free_port); SMB_PORT=$(free_port)
  if [ "$KIND" = req ]; then
    LIM="requests_per_s = $LIMIT
requests_burst = $BURST"
  else
    LIM="bytes_per_s = $LIMIT
bytes_burst = $BURST"
  fi
  mkdir -p "$WORK/$NAME"
  if [ "$PROTO" = smb ]; then
    STORES='[metadata_stores.default]
type = "lmdb"

[block_stores.default]
type = "filesystem"'
  else
    STORES='[metadata_stores.default]
type = "memory"

[block_stores.default]
type = "memory"'
  fi
  mkdir -p "$WORK/$NAME/data"
  cat > "$WORK/$NAME/dittofs.toml" <<CONF
data_dir = "$WORK/$NAME/data"
listen = "127.0.0.1"
cores = $CORES

[wal]
segment_bytes = 4194304
segments_per_core = 4

[adapters.nfs]
port = $PORT

[adapters.smb]
enabled = $([ "$PROTO" = smb ] && echo true || echo false)
port = $SMB_PORT

[api]
port = 0

[metrics]
port = 0

[rate_limit.per_$SCOPE]
$LIM

$STORES

[[shares]]
name = "/export"
metadata_store = "default"
block_store = "default"
root_mode = 511
squash = "none"
CONF
  if [ "$PROTO" = smb ]; then
    printf '%s\n' "$USER_PASS" | "$TARGET/release/dittofs" user add "$USER_NAME" --uid 1000 \
      --password-stdin --config "$WORK/$NAME/dittofs.toml" >&2
    URL="smb://127.0.0.1:$SMB_PORT/export"
    PROTO_ARGS=(--protocol smb --smb-user "$USER_NAME" --smb-pass "$USER_PASS" --share export)
    PER_OP=2
  else
    URL="nfs://127.0.0.1:$PORT/export"
    PROTO_ARGS=()
    PER_OP=1
  fi
  "$TARGET/release/dittofs" start --config "$WORK/$NAME/dittofs.toml" >"$WORK/$NAME/log" 2>&1 &
  DPID=$!
  if [ "$PROTO" = smb ]; then wait_port "$SMB_PORT"; else wait_port "$PORT"; fi
  LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "==== $NAME (loadavg $LOAD)" >&2
  timeout "${CASE_TIMEOUT_S:-300}" "$PERF" run "${PROTO_ARGS[@]}" --target "$URL" --workload "$WL" --duration "$DURATION" \
    --connections "$CONNS" --depth "$DEPTH" --file-size 16M --files 500 --json "$OUT/$NAME.json" >&2 || FAIL=1
  stop
  python3 - "$OUT/$NAME.json" "$NAME" "$PROTO" "$SCOPE" "$CORES" "$CONNS" "$WL" "$KIND" "$LIMIT" "$BURST" "$LOAD" "$PER_OP" >> "$OUT/table.md" <<'PY' || FAIL=1
import json, sys
f, name, proto, scope, cores, conns, wl, kind, limit, burst, load, per_op = sys.argv[1:]
r = json.load(open(f)); p = r["phases"][0]; limit = float(limit)
if kind == "req":
    got = p["ops_per_s"] * int(per_op); lim_s = f"{limit:.0f} req/s"; got_s = f"{got:.0f} req/s"
else:
    got = p["mb_per_s"] * 1e6; lim_s = f"{limit/2**20:.0f} MiB/s"; got_s = f"{got/2**20:.1f} MiB/s"
ok = abs(got / limit - 1) <= 0.10 and p['error_count'] + r['stray_replies'] == 0
print(f"| {name} | {proto} | {scope} | {cores} | {conns} | {wl} | {lim_s} | {burst} | {got_s} | {got/limit:.3f} | {p['error_count'] + r['stray_replies']} | {load} |")
sys.exit(0 if ok else 1)
PY
done <<< "$CASES"
cat "$OUT/table.md"
exit $FAIL
