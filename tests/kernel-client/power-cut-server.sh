#!/bin/bash
# Guest side of power-cut.sh: mounts the persistent data disk (/dev/vdb, ext4, formatted
# by power-cut.sh on the host) and runs dittofs on it in the foreground.
# usage: power-cut-server.sh BIN   (config: $KC_OUT/dittofs.toml, data_dir /tmp/pc/data)
set -eu
mkdir -p /tmp/pc
mount -t ext4 -o noatime /dev/vdb /tmp/pc
mkdir -p /tmp/pc/data
exec "$1" start --config "${KC_OUT:-/run/kc/out}/dittofs.toml"
