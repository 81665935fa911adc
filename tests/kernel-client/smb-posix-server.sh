#!/usr/bin/env bash
# Runs inside the kernel-client guest (run.sh --server-cmd): writes a dittofs config with
# SMB enabled and USER in [adapters.smb] admin_users into $KC_OUT, adds USER, then runs
# dittofs in the foreground. usage: smb-posix-server.sh BIN USER UID PASSWORD
set -euo pipefail
BIN=$1 USER=$2 UID_=$3 PASS=$4
CONF=$KC_OUT/dittofs.toml
cat > "$CONF" <<TOML
data_dir = "/run/dittofs-data"
listen = "127.0.0.1"
cores = 2
[wal]
segment_bytes = 4194304
segments_per_core = 4
[adapters.nfs]
port = 12049
[adapters.smb]
enabled = true
port = 12445
admin_users = ["$USER"]
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
TOML
mkdir -p /run/dittofs-data
printf '%s\n' "$PASS" | "$BIN" user add "$USER" --uid "$UID_" --password-stdin --config "$CONF" \
  >"$KC_OUT/useradd.log" 2>&1
exec env RUST_LOG="${DITTOFS_KC_RUST_LOG:-info}" "$BIN" start --config "$CONF"
