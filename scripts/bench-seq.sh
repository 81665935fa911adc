#!/usr/bin/env bash
# 1 GiB sequential write, then 1 GiB sequential read, through NFS (issue 4): starts a
# release dittofs ($DITTOFS, default $TARGET/release/dittofs) on LMDB metadata + filesystem
# blocks with the default WAL under a fresh data_dir, then runs dittofs-perf `seq-write`
# (1024 × 1 MiB WRITE into one 1 GiB file, UNSTABLE + COMMIT) and `seq-read` (1024 × 1 MiB
# READ of a prepared 1 GiB file) on one connection each, and prints the JSON results' MB/s.
# Knobs (env): DITTOFS, PERF, PORT (13159), DEPTH (8), STABLE (commit), CORES (2),
# SHARD_BYTES_MAX (unset: the default 1 GiB), OUT ($TARGET/bench-seq), TAG (run).
# Stops the server it started by PID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DITTOFS=${DITTOFS:-$TARGET/release/dittofs}
PERF=${PERF:-$TARGET/release/dittofs-perf}
PORT=${PORT:-13159}
DEPTH=${DEPTH:-8}
STABLE=${STABLE:-commit}
CORES=${CORES:-2}
OUT=${OUT:-$TARGET/bench-seq}
TAG=${TAG:-run}
mkdir -p "$OUT"
WORK=$(mktemp -d /var/tmp/dittofs-bench-seq.XXXXXX)
DPID=""
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
cache=""
[ -n "${SHARD_BYTES_MAX:-}" ] && cache="[cache]
shard_bytes_max = $SHARD_BYTES_MAX"
cat > "$WORK/dittofs.toml" <<CONF
data_dir = "$WORK/data"
listen = "127.0.0.1"
cores = $CORES
$cache

[adapters.nfs]
port = $PORT

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
CONF
"$DITTOFS" start --config "$WORK/dittofs.toml" >"$WORK/dittofs.log" 2>&1 &
DPID=$!
for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.2; done
for w in seq-write seq-read; do
  "$PERF" run --target "nfs://127.0.0.1:$PORT/export" --workload "$w" --ops 1024 \
    --file-size 1G --connections 1 --depth "$DEPTH" --threads 1 --stable "$STABLE" \
    --json "$OUT/$TAG-$w.json" >&2
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], sys.argv[3], json.dumps({k: v for k, v in d.items() if 'mb' in k.lower() or 'ops' in k.lower() or 'secs' in k.lower() or 'elapsed' in k.lower()}))" "$OUT/$TAG-$w.json" "$TAG" "$w" || true
done
