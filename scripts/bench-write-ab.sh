#!/usr/bin/env bash
# A/B of two dittofs binaries on the write path: for each round and each case
# (protocol:workload), starts binary A then binary B (alternating, a fresh data dir
# each: LMDB metadata + filesystem block store, 2 cores, NFS + SMB on loopback), runs
# `dittofs-perf run` once, stops the server by PID. Prints one markdown row per run
# with the load average before it. Usage:
#   scripts/bench-write-ab.sh A_BIN B_BIN [PERF_BIN]
# Knobs (env): CASES ("nfs:seq-write smb:seq-write"), ROUNDS (3), DURATION (10s),
# FILE_SIZE (256M), CONNECTIONS (4), DEPTH (8), TMP (/var/tmp), META (lmdb), BLOCKS
# (filesystem), EXTRA_TOML (lines put into both configs' top level). SMB uses a user
# added with `dittofs user add`.
set -euo pipefail
A_BIN=$1 B_BIN=$2
PERF=${3:-${CARGO_TARGET_DIR:-target}/release/dittofs-perf}
CASES=${CASES:-"nfs:seq-write smb:seq-write"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
FILE_SIZE=${FILE_SIZE:-256M}
CONNECTIONS=${CONNECTIONS:-4}
DEPTH=${DEPTH:-8}
USER_NAME=benchuser
USER_PASS=bench-Pass-1
WORK=$(mktemp -d "${TMP:-/var/tmp}/dittofs-wab.XXXXXX")
DPID=""
cleanup() {
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; return 1; }

run_one() { # BIN LABEL PROTO WORKLOAD
  local bin=$1 label=$2 proto=$3 w=$4 d="$WORK/srv" nfs smb target load
  rm -rf "$d"; mkdir -p "$d/data"
  nfs=$(free_port); smb=$(free_port)
  cat > "$d/dittofs.toml" <<CONF
data_dir = "$d/data"
listen = "127.0.0.1"
cores = 2
${EXTRA_TOML:-}

[adapters.nfs]
port = $nfs

[adapters.smb]
enabled = true
port = $smb

[api]
port = 0

[metrics]
port = 0

[metadata_stores.default]
type = "${META:-lmdb}"

[block_stores.default]
type = "${BLOCKS:-filesystem}"

[[shares]]
name = "/export"
metadata_store = "default"
block_store = "default"
root_mode = 511
squash = "none"
CONF
  printf '%s\n' "$USER_PASS" | "$bin" user add "$USER_NAME" --uid 1000 --password-stdin --config "$d/dittofs.toml" >/dev/null 2>&1 || true
  "$bin" start --config "$d/dittofs.toml" >"$d/log" 2>&1 &
  DPID=$!
  wait_port "$nfs"; wait_port "$smb"
  if [ "$proto" = smb ]; then
    target=(--protocol smb --smb-user "$USER_NAME" --smb-pass "$USER_PASS" --target "smb://127.0.0.1:$smb/export")
  else
    target=(--target "nfs://127.0.0.1:$nfs/export")
  fi
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  "$PERF" run "${target[@]}" --workload "$w" --duration "$DURATION" --file-size "$FILE_SIZE" \
    --connections "$CONNECTIONS" --depth "$DEPTH" --json "$WORK/r.json" >"$WORK/perf.out" 2>&1 || true
  python3 - "$WORK/r.json" "$label" "$proto" "$w" "$load" <<'PY' || echo "| $label | $proto $w | $load | (no result) |"
import json, sys
r = json.load(open(sys.argv[1])); label, proto, w, load = sys.argv[2:6]
ph = r["phases"][-1]
errs = sum(p["error_count"] for p in r["phases"])
print(f"| {label} | {proto} {w} | {load} | {ph['mb_per_s']:.1f} | {ph['ops_per_s']:.0f} | {ph['p99_us']:.0f} | {errs} |")
PY
  kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null || true; DPID=""
  rm -rf "$d"
}

echo "| binary | case | load before | MB/s | ops/s | p99 µs | errors |"
echo "|---|---|---|---:|---:|---:|---:|"
for r in $(seq 1 "$ROUNDS"); do
  for c in $CASES; do
    proto=${c%%:*} w=${c#*:}
    if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
    for x in $order; do
      if [ $x = A ]; then run_one "$A_BIN" A "$proto" "$w"; else run_one "$B_BIN" B "$proto" "$w"; fi
    done
  done
done
