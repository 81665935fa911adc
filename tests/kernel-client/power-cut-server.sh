#!/bin/bash
# Guest side of power-cut.sh: mounts the persistent data disk (/dev/vdb, ext4, formatted
# by power-cut.sh on the host) and runs dittofs on it. When the server does not listen
# within 150 s, the kernel stacks of its threads go to $KC_OUT/hang-stacks.txt (a start
# stuck in polled I/O, see ARCHITECTURE.md).
# usage: power-cut-server.sh BIN   (config: $KC_OUT/dittofs.toml, data_dir /tmp/pc/data)
set -eu
O=${KC_OUT:-/run/kc/out}
mkdir -p /tmp/pc
mount -t ext4 -o noatime /dev/vdb /tmp/pc
mkdir -p /tmp/pc/data
"$1" start --config "$O/dittofs.toml" &
pid=$!
(
  for _ in $(seq 150); do
    sleep 1
    (exec 3<>/dev/tcp/127.0.0.1/12049) 2>/dev/null && exit 0
  done
  for t in /proc/$pid/task/*; do
    echo "== $(cat "$t/comm") wchan=$(cat "$t/wchan")"; cat "$t/stack"
  done > "$O/hang-stacks.txt" 2>&1
) &
wait "$pid"
