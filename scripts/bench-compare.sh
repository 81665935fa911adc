#!/usr/bin/env bash
# Runs every dittofs-perf workload with `compare` (A = NFS-Ganesha, B = dittofs, both on
# loopback on this host), plus `limits`, and regenerates the results section of
# BENCHMARKS.md from the JSON the runs wrote (no number is typed in by hand).
# Knobs (env): DURATION (10s), ROUNDS (3), CONNECTIONS (4), DEPTH (8), FILE_SIZE (64M),
# WORKLOADS (all), DITTOFS_PORT (13049), OUT ($CARGO_TARGET_DIR/bench-results), LIMITS_DIR (/var/tmp).
# Needs root for Ganesha (scripts/bench-ganesha.sh). Stops both servers by PID at exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-4}
DEPTH=${DEPTH:-8}
FILE_SIZE=${FILE_SIZE:-64M}
WORKLOADS=${WORKLOADS:-"seq-write seq-read rand-write rand-read create stat readdir delete build-farm"}
DITTOFS_PORT=${DITTOFS_PORT:-13049}
OUT=${OUT:-$TARGET/bench-results}
LIMITS_DIR=${LIMITS_DIR:-/var/tmp}
G_PORT=${GANESHA_PORT:-12049}
G_MOUNT_PORT=${GANESHA_MOUNT_PORT:-12048}

cargo build --release -p dittofs -p dittofs-perf --bins >&2
PERF=$TARGET/release/dittofs-perf
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/dittofs-bench.XXXXXX)
DPID=""
cleanup() {
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  "$ROOT/scripts/bench-ganesha.sh" stop || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# dittofs: release binary, memory stores, 2 cores.
mkdir -p "$WORK/data"
cat > "$WORK/dittofs.toml" <<CONF
data_dir = "$WORK/data"
listen = "127.0.0.1"
cores = 2

[adapters.nfs]
port = $DITTOFS_PORT

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
"$TARGET/release/dittofs" start --config "$WORK/dittofs.toml" >"$WORK/dittofs.log" 2>&1 &
DPID=$!
"$ROOT/scripts/bench-ganesha.sh" start >&2
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$DITTOFS_PORT") 2>/dev/null && break; sleep 0.2; done

"$PERF" limits --dir "$LIMITS_DIR" --json "$OUT/limits.json" >&2
{ lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core)'; free -h | head -2; } > "$OUT/machine.txt"
date -u +%Y-%m-%dT%H:%MZ > "$OUT/date.txt"
echo "DURATION=$DURATION ROUNDS=$ROUNDS CONNECTIONS=$CONNECTIONS DEPTH=$DEPTH FILE_SIZE=$FILE_SIZE" > "$OUT/params.txt"

FAIL=0
for w in $WORKLOADS; do
  echo "==== $w" >&2
  "$PERF" compare --a "nfs://127.0.0.1:$G_PORT/export" --a-mount-port "$G_MOUNT_PORT" \
    --b "nfs://127.0.0.1:$DITTOFS_PORT/export" --workload "$w" --rounds "$ROUNDS" \
    --duration "$DURATION" --connections "$CONNECTIONS" --depth "$DEPTH" --file-size "$FILE_SIZE" \
    --json "$OUT/$w.json" >&2 || FAIL=1
done

python3 - "$OUT" "$ROOT/BENCHMARKS.md" "$WORKLOADS" <<'PY'
import json, os, sys
out, md, workloads = sys.argv[1], sys.argv[2], sys.argv[3].split()
rd = lambda f: open(os.path.join(out, f)).read().strip()
lines = [f"Run {rd('date.txt')} with `{rd('params.txt')}`.", "", "```", rd('machine.txt'), "```", ""]
lim = json.load(open(os.path.join(out, "limits.json")))
f = lambda v: "n/a" if v is None else f"{v:.0f}"
lines += ["| limit | value |", "|---|---|",
          f"| loopback TCP throughput | {lim['tcp_loopback_mb_per_s']:.0f} MB/s |",
          f"| loopback TCP round trip p50 / p99 | {lim['tcp_rtt_p50_us']:.1f} / {lim['tcp_rtt_p99_us']:.1f} µs |",
          f"| O_DIRECT 4 KiB write+fdatasync p50 / p99 ({lim['dir']}) | {f(lim['direct_4k_fdatasync_p50_us'])} / {f(lim['direct_4k_fdatasync_p99_us'])} µs |",
          f"| O_DIRECT sequential write ({lim['dir']}) | {f(lim['direct_seq_write_mb_per_s'])} MB/s |", ""]
lines += ["| workload / phase | Ganesha ops/s | dittofs ops/s | Ganesha MB/s | dittofs MB/s | Ganesha p99 µs | dittofs p99 µs | dittofs/Ganesha | errors |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
for w in workloads:
    p = os.path.join(out, f"{w}.json")
    if not os.path.exists(p):
        lines.append(f"| {w} | (no result) | | | | | | | |"); continue
    c = json.load(open(p))
    errs = sum(ph["error_count"] for r in c["runs_a"] + c["runs_b"] for ph in r["phases"])
    for ph in c["phases"]:
        name = w if ph["phase"] == w else f"{w} / {ph['phase']}"
        lines.append(f"| {name} | {ph['a_ops_per_s']:.0f} | {ph['b_ops_per_s']:.0f} | {ph['a_mb_per_s']:.1f} | {ph['b_mb_per_s']:.1f} | {ph['a_p99_us']:.0f} | {ph['b_p99_us']:.0f} | {ph['ratio_b_over_a']:.2f} | {errs} |")
text = open(md).read()
b, e = "<!-- results:begin -->", "<!-- results:end -->"
i, j = text.index(b) + len(b), text.index(e)
open(md, "w").write(text[:i] + "\n" + "\n".join(lines) + "\n" + text[j:])
PY
echo "results written to BENCHMARKS.md (raw JSON in $OUT)" >&2
exit $FAIL
