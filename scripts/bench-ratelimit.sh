#!/usr/bin/env bash
# Rate-limit accuracy: dittofs-perf over NFS against dittofs configured with a
# per-client limit, achieved rate vs the limit (bar: within 10 %), and no client
# errors (NFS is slowed, never refused). One dittofs per case (memory stores), on
# loopback; stopped by PID. Prints a markdown table (also $OUT/table.md).
# Cases: "NAME CORES CONNECTIONS WORKLOAD KIND LIMIT BURST" where KIND is req (requests/s,
# measured as ops/s) or bytes (bytes/s, measured as MB/s of the workload; seq-write
# charges request bytes, seq-read reply bytes).
# Knobs (env): DURATION (20s), DEPTH (8), OUT ($CARGO_TARGET_DIR/bench-ratelimit), CASES.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-20s}
DEPTH=${DEPTH:-8}
OUT=${OUT:-$TARGET/bench-ratelimit}
CASES=${CASES:-"
req-stat-1conn 1 1 stat req 500 10
req-stat-4conn-1core 1 4 stat req 500 10
req-stat-default-burst 1 1 stat req 500 0
bytes-write-1conn 1 1 seq-write bytes 20971520 1048576
bytes-read-1conn 1 1 seq-read bytes 20971520 1048576
req-stat-4conn-2cores 2 4 stat req 500 10
"}

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
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ): DURATION=$DURATION DEPTH=$DEPTH, per-client limits, memory stores"
  echo
  echo "| case | cores | conns | workload | limit | burst | achieved | achieved/limit | errors | load before |"
  echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---|"
} > "$OUT/table.md"
FAIL=0
while read -r NAME CORES CONNS WL KIND LIMIT BURST; do
  [ -n "${NAME:-}" ] || continue
  PORT=$(free_port)
  if [ "$KIND" = req ]; then
    LIM="requests_per_s = $LIMIT
requests_burst = $BURST"
  else
    LIM="bytes_per_s = $LIMIT
bytes_burst = $BURST"
  fi
  mkdir -p "$WORK/$NAME"
  cat > "$WORK/$NAME/dittofs.toml" <<CONF
listen = "127.0.0.1"
cores = $CORES

[adapters.nfs]
port = $PORT

[api]
port = 0

[metrics]
port = 0

[rate_limit.per_client]
$LIM

[metadata_stores.default]
type = "memory"

[block_stores.default]
type = "memory"

[[shares]]
name = "/export"
metadata_store = "default"
block_store = "default"
root_mode = 511
squash = "none"
CONF
  "$TARGET/release/dittofs" start --config "$WORK/$NAME/dittofs.toml" >"$WORK/$NAME/log" 2>&1 &
  DPID=$!
  wait_port "$PORT"
  LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "==== $NAME (loadavg $LOAD)" >&2
  "$PERF" run --target "nfs://127.0.0.1:$PORT/export" --workload "$WL" --duration "$DURATION" \
    --connections "$CONNS" --depth "$DEPTH" --file-size 16M --files 500 --json "$OUT/$NAME.json" >&2 || FAIL=1
  stop
  python3 - "$OUT/$NAME.json" "$NAME" "$CORES" "$CONNS" "$WL" "$KIND" "$LIMIT" "$BURST" "$LOAD" >> "$OUT/table.md" <<'PY' || FAIL=1
import json, sys
f, name, cores, conns, wl, kind, limit, burst, load = sys.argv[1:]
r = json.load(open(f)); p = r["phases"][0]; limit = float(limit)
if kind == "req":
    got = p["ops_per_s"]; lim_s = f"{limit:.0f} req/s"; got_s = f"{got:.0f} req/s"
else:
    got = p["mb_per_s"] * 1e6; lim_s = f"{limit/2**20:.0f} MiB/s"; got_s = f"{got/2**20:.1f} MiB/s"
print(f"| {name} | {cores} | {conns} | {wl} | {lim_s} | {burst} | {got_s} | {got/limit:.3f} | {p['error_count'] + r['stray_replies']} | {load} |")
PY
done <<< "$CASES"
cat "$OUT/table.md"
exit $FAIL
