#!/usr/bin/env bash
# SMB: dittofs vs Samba on this host. Starts a throwaway smbd (own smb.conf, private/
# lock/state dirs and share under one temp dir, loopback, a free port, user added with
# `smbpasswd -a -c CONF`) and dittofs (LMDB + filesystem blocks under the same temp dir,
# [adapters.smb] on, user added with `dittofs user add`), runs each workload with
# `dittofs-perf compare --protocol smb` (A = Samba, B = dittofs, alternating) and prints
# a markdown table (also written to $OUT/table.md). Both servers are stopped by PID.
# Knobs (env): DURATION (10s), ROUNDS (2), CONNECTIONS (4), DEPTH (8), FILE_SIZE (64M),
# WORKLOADS, SIGN (0|1: sign every request on both), DIALECT (3.1.1), TMP (/var/tmp),
# OUT ($CARGO_TARGET_DIR/bench-smb). Needs root (smbd) and /usr/sbin/smbd.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-4}
DEPTH=${DEPTH:-8}
FILE_SIZE=${FILE_SIZE:-64M}
FILES=${FILES:-2000}
DIR_ENTRIES=${DIR_ENTRIES:-2000}
WORKLOADS=${WORKLOADS:-"seq-write seq-read rand-write rand-read create stat readdir delete"}
SIGN=${SIGN:-0}
DIALECT=${DIALECT:-3.1.1}
OUT=${OUT:-$TARGET/bench-smb}
USER_NAME=benchuser
USER_PASS=bench-Pass-1
SMBD=${SMBD:-/usr/sbin/smbd}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; return 1; }

[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p dittofs -p dittofs-perf --bins >&2
PERF=$TARGET/release/dittofs-perf
DITTOFS=$TARGET/release/dittofs
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMP:-/var/tmp}/dittofs-bench-smb.XXXXXX")
SPID="" DPID=""
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null || true
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$SIGN" = 1 ]; then SAMBA_SIGNING=mandatory; SIGN_FLAG=--smb-sign; else SAMBA_SIGNING=default; SIGN_FLAG=; fi

# Samba: everything under $WORK/samba; the share on the same disk as dittofs's data.
S=$WORK/samba
mkdir -p "$S/private" "$S/lock" "$S/state" "$S/cache" "$S/pid" "$S/log" "$S/share"
chmod 0777 "$S/share"
S_PORT=$(free_port)
cat > "$S/smb.conf" <<CONF
[global]
  server role = standalone server
  workgroup = WORKGROUP
  interfaces = lo
  bind interfaces only = yes
  smb ports = $S_PORT
  private dir = $S/private
  lock directory = $S/lock
  state directory = $S/state
  cache directory = $S/cache
  pid directory = $S/pid
  log file = $S/log/log.%m
  log level = 0
  passdb backend = tdbsam:$S/private/passdb.tdb
  server min protocol = SMB2_10
  server signing = $SAMBA_SIGNING
  smb encrypt = off
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = Never
  kernel oplocks = no
  strict sync = yes
[export]
  path = $S/share
  read only = no
  guest ok = no
  force user = root
CONF
id "$USER_NAME" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin "$USER_NAME"
printf '%s\n%s\n' "$USER_PASS" "$USER_PASS" | smbpasswd -c "$S/smb.conf" -s -a "$USER_NAME" >&2
# Own session: with --no-process-group smbd stays in our process group and signals
# that group when it stops, which would end this script too.
setsid "$SMBD" --foreground --no-process-group --configfile="$S/smb.conf" >"$S/log/smbd.out" 2>&1 &
SPID=$!

# dittofs: LMDB + filesystem blocks in $WORK/dittofs, SMB on, same user.
D=$WORK/dittofs
mkdir -p "$D/data"
D_NFS_PORT=$(free_port); D_SMB_PORT=$(free_port)
cat > "$D/dittofs.toml" <<CONF
data_dir = "$D/data"
listen = "127.0.0.1"
cores = 2

[adapters.nfs]
port = $D_NFS_PORT

[adapters.smb]
enabled = true
port = $D_SMB_PORT

[api]
port = 0

[metrics]
port = 0

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
printf '%s\n' "$USER_PASS" | "$DITTOFS" user add "$USER_NAME" --uid 1000 --password-stdin --config "$D/dittofs.toml" >&2
"$DITTOFS" start --config "$D/dittofs.toml" >"$D/dittofs.log" 2>&1 &
DPID=$!
wait_port "$S_PORT"; wait_port "$D_SMB_PORT"

{
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ): DURATION=$DURATION ROUNDS=$ROUNDS CONNECTIONS=$CONNECTIONS DEPTH=$DEPTH FILE_SIZE=$FILE_SIZE FILES=$FILES DIR_ENTRIES=$DIR_ENTRIES DIALECT=$DIALECT SIGN=$SIGN (Samba: server signing = $SAMBA_SIGNING, smb encrypt = off, strict sync = yes; $($SMBD --version))"
  echo
  echo "| workload | load before | Samba ops/s | dittofs ops/s | Samba MB/s | dittofs MB/s | Samba p99 µs | dittofs p99 µs | dittofs/Samba | errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$OUT/table.md"
FAIL=0
for w in $WORKLOADS; do
  LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "==== $w (loadavg $LOAD)" >&2
  "$PERF" compare --protocol smb --smb-user "$USER_NAME" --smb-pass "$USER_PASS" --share export \
    --smb-dialect "$DIALECT" $SIGN_FLAG \
    --a "smb://127.0.0.1:$S_PORT/export" --b "smb://127.0.0.1:$D_SMB_PORT/export" \
    --workload "$w" --rounds "$ROUNDS" --duration "$DURATION" --connections "$CONNECTIONS" \
    --depth "$DEPTH" --file-size "$FILE_SIZE" --files "$FILES" --dir-entries "$DIR_ENTRIES" \
    --json "$OUT/$w.json" >&2 || FAIL=1
  python3 - "$OUT/$w.json" "$w" "$LOAD" >> "$OUT/table.md" <<'PY' || echo "| $w | $LOAD | (no result) | | | | | | | |" >> "$OUT/table.md"
import json, sys
c = json.load(open(sys.argv[1])); w = sys.argv[2]; load = sys.argv[3]
errs = sum(ph["error_count"] for r in c["runs_a"] + c["runs_b"] for ph in r["phases"])
for ph in c["phases"]:
    print(f"| {w} | {load} | {ph['a_ops_per_s']:.0f} | {ph['b_ops_per_s']:.0f} | {ph['a_mb_per_s']:.1f} | {ph['b_mb_per_s']:.1f} | {ph['a_p99_us']:.0f} | {ph['b_p99_us']:.0f} | {ph['ratio_b_over_a']:.2f} | {errs} |")
PY
done
cat "$OUT/table.md"
exit $FAIL
