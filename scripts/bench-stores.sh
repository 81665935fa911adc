#!/usr/bin/env bash
# Small-file creates/s and stat/s for each metadata store (issue 5): starts the release
# dittofs on memory, LMDB (+ filesystem blocks) and PostgreSQL (throwaway cluster via
# scripts/pg-throwaway.sh, + filesystem blocks), runs dittofs-perf's `create` (4 KiB files:
# CREATE + WRITE + COMMIT) and `stat` workloads against each, and rewrites the block between
# <!-- stores:begin --> and <!-- stores:end --> in BENCHMARKS.md from the JSON the runs wrote.
# Knobs (env): DURATION (10s), CONNECTIONS (8), DEPTH (8), PORT (13149), STORES (memory lmdb postgres).
# Stops every server it started by PID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-8}
DEPTH=${DEPTH:-8}
PORT=${PORT:-13149}
STORES=${STORES:-"memory lmdb postgres"}
OUT=$TARGET/bench-stores
cargo build --release -p dittofs -p dittofs-perf --bins >&2
PERF=$TARGET/release/dittofs-perf
WORK=$(mktemp -d /var/tmp/dittofs-bench-stores.XXXXXX)
chmod 755 "$WORK"  # the postgres user must reach the throwaway cluster under it
mkdir -p "$OUT"
DPID="" PGDIR=""
stop_server() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true; DPID=""; }
cleanup() {
  stop_server
  [ -n "$PGDIR" ] && "$ROOT/scripts/pg-throwaway.sh" stop "$PGDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for store in $STORES; do
  data="$WORK/$store"; mkdir -p "$data"
  case $store in
    memory) meta='type = "memory"'; blocks='type = "memory"';;
    lmdb) meta='type = "lmdb"'; blocks='type = "filesystem"';;
    postgres)
      PGDIR="$WORK/pg"
      url=$("$ROOT/scripts/pg-throwaway.sh" start "$PGDIR")
      meta="type = \"postgres\"
url = \"$url\""; blocks='type = "filesystem"';;
    *) echo "bench-stores.sh: unknown store $store" >&2; exit 1;;
  esac
  cat > "$data/dittofs.toml" <<CONF
data_dir = "$data"
listen = "127.0.0.1"
cores = 2

[adapters.nfs]
port = $PORT

[metadata_stores.default]
$meta

[block_stores.default]
$blocks

[[shares]]
name = "/export"
metadata_store = "default"
block_store = "default"
root_mode = 511
squash = "none"
CONF
  "$TARGET/release/dittofs" start --config "$data/dittofs.toml" >"$data/dittofs.log" 2>&1 &
  DPID=$!
  for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.2; done
  for w in create stat; do
    echo "==== $store $w" >&2
    "$PERF" run --target "nfs://127.0.0.1:$PORT/export" --workload "$w" --duration "$DURATION" \
      --connections "$CONNECTIONS" --depth "$DEPTH" --threads 1 --json "$OUT/$store-$w.json" >&2
  done
  stop_server
done
date -u +%Y-%m-%dT%H:%MZ > "$OUT/date.txt"

python3 - "$OUT" "$ROOT/BENCHMARKS.md" "$STORES" "DURATION=$DURATION CONNECTIONS=$CONNECTIONS DEPTH=$DEPTH" <<'PY'
import json, os, sys
out, md, stores, params = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4]
date = open(os.path.join(out, "date.txt")).read().strip()
lines = [f"Run {date} with `{params}`, dittofs release binary, `cores = 2`, 2-core VM "
         "(client and server on the same cores).", "",
         "| store | creates/s (4 KiB: CREATE+WRITE+COMMIT) | create p99 µs | stat ops/s | stat p99 µs | errors |",
         "|---|---:|---:|---:|---:|---:|"]
for s in stores:
    c = json.load(open(os.path.join(out, f"{s}-create.json")))["phases"][0]
    t = json.load(open(os.path.join(out, f"{s}-stat.json")))["phases"][0]
    lines.append(f"| {s} | {c['ops_per_s']:.0f} | {c['p99_us']:.0f} | {t['ops_per_s']:.0f} | {t['p99_us']:.0f} | {c['error_count'] + t['error_count']} |")
text = open(md).read()
b, e = "<!-- stores:begin -->", "<!-- stores:end -->"
if b not in text:
    text += "\n## Metadata stores: small-file creates and stats\n\n`scripts/bench-stores.sh` (numbers below are written by it).\n\n" + b + "\n" + e + "\n"
i, j = text.index(b) + len(b), text.index(e)
open(md, "w").write(text[:i] + "\n" + "\n".join(lines) + "\n" + text[j:])
PY
echo "results written to BENCHMARKS.md (raw JSON in $OUT)" >&2
