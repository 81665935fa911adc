#!/usr/bin/env bash
# Starts or stops NFS-Ganesha (Debian nfs-ganesha + nfs-ganesha-vfs) on the host, on
# loopback, exporting a fresh temporary directory as /export, for side-by-side
# benchmarks with dittofs (scripts/bench-compare.sh).
#   scripts/bench-ganesha.sh start   # NFS on 127.0.0.1:$GANESHA_PORT (12049), MOUNT on $GANESHA_MOUNT_PORT (12048)
#   scripts/bench-ganesha.sh stop    # kills the Ganesha it started (by PID) and removes the export dir
# Needs root (the VFS FSAL uses open_by_handle_at). Ganesha registers with rpcbind at
# start; instead of running rpcbind we preload a shim (norpcbind.c) that pretends the
# registration succeeded, so clients must be given both ports explicitly.
# Installs the packages with apt-get when missing (not needed by the tests).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${GANESHA_STATE:-/tmp/dittofs-bench-ganesha}
PORT=${GANESHA_PORT:-12049}
MOUNT_PORT=${GANESHA_MOUNT_PORT:-12048}

start() {
  if ! command -v ganesha.nfsd >/dev/null; then
    apt-get install -y --no-install-recommends nfs-ganesha nfs-ganesha-vfs gcc
  fi
  if [ -f "$STATE/ganesha.pid" ] && kill -0 "$(cat "$STATE/ganesha.pid")" 2>/dev/null; then
    echo "ganesha already running (pid $(cat "$STATE/ganesha.pid"))"; return 0
  fi
  mkdir -p "$STATE" /var/lib/nfs/ganesha /run/ganesha
  EXPORT_DIR=$(mktemp -d /var/tmp/dittofs-bench-ganesha-export.XXXXXX)
  echo "$EXPORT_DIR" > "$STATE/export_dir"
  cat > "$STATE/norpcbind.c" <<'C'
/* Pretend rpcbind/portmapper registration succeeded (no rpcbind needed). */
#include <stdbool.h>
struct netconfig; struct netbuf;
bool rpcb_set(unsigned long p, unsigned long v, const struct netconfig *c, const struct netbuf *a)
{ (void)p; (void)v; (void)c; (void)a; return true; }
bool rpcb_unset(unsigned long p, unsigned long v, const struct netconfig *c)
{ (void)p; (void)v; (void)c; return true; }
bool pmap_set(unsigned long p, unsigned long v, int proto, int port)
{ (void)p; (void)v; (void)proto; (void)port; return true; }
bool pmap_unset(unsigned long p, unsigned long v) { (void)p; (void)v; return true; }
C
  gcc -shared -fPIC -O2 -o "$STATE/norpcbind.so" "$STATE/norpcbind.c"
  cat > "$STATE/ganesha.conf" <<CONF
NFS_CORE_PARAM {
    Protocols = 3;
    NFS_Port = $PORT;
    MNT_Port = $MOUNT_PORT;
    NLM_Port = $((PORT + 1));
    Rquota_Port = $((PORT + 2));
    Bind_addr = 127.0.0.1;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    mount_path_pseudo = true;
    Plugins_Dir = /usr/lib/x86_64-linux-gnu/ganesha;
}
NFSV4 { Graceless = true; }
EXPORT {
    Export_Id = 1;
    Path = $EXPORT_DIR;
    Pseudo = /export;
    Protocols = 3;
    Transports = TCP;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
CONF
  LD_PRELOAD="$STATE/norpcbind.so" setsid ganesha.nfsd -F -f "$STATE/ganesha.conf" \
    -L "$STATE/ganesha.log" -p "$STATE/ganesha.pidfile" </dev/null >/dev/null 2>&1 &
  echo $! > "$STATE/ganesha.pid"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$MOUNT_PORT") 2>/dev/null; then
      echo "ganesha pid $(cat "$STATE/ganesha.pid"): nfs://127.0.0.1:$PORT/export --mount-port $MOUNT_PORT (export dir $EXPORT_DIR)"
      return 0
    fi
    sleep 0.2
  done
  echo "ganesha did not start; log:" >&2; tail -20 "$STATE/ganesha.log" >&2; stop; exit 1
}

stop() {
  if [ -f "$STATE/ganesha.pid" ]; then
    pid=$(cat "$STATE/ganesha.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$STATE/ganesha.pid"
  fi
  if [ -f "$STATE/export_dir" ]; then rm -rf "$(cat "$STATE/export_dir")"; rm -f "$STATE/export_dir"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
