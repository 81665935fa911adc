#!/usr/bin/env bash
# Runs the real Linux NFSv3 or CIFS (SMB2/3) client (in a QEMU guest, see README.md) against
# dittofs: pjdfstest on the mount plus a 64 MiB write/read-back roundtrip, then checks the results.
# Builds nothing: pass the release binary.
#
# usage: run-dittofs.sh BIN [--out DIR] [--pjdfstest all|none|PAT,..] [--min-pass N] [--timeout S]
#                        [--mount-port N] [--store lmdb|memory|postgres]
#                        [--proto nfs|smb] [--smb-vers V] [--smb-opts O]
#   BIN          the dittofs binary (must not live under /tmp, /run, /srv or /var/{log,cache,tmp},
#                or it is shared into the guest with --share)
#   --out        results (default: <repo>/target/kernel-client/nfs, or .../smb with --proto smb)
#   --min-pass   with --pjdfstest all (the default): fail when fewer tests pass
#                (default: the number in pjdfstest-min-pass for nfs, 0 for smb)
#   --proto      nfs (default): the kernel NFSv3 client on port 12049, share /export;
#                smb: the kernel cifs client on port 12445, share "export", as user
#                smbuser (created with `dittofs user add` before the server starts; needs
#                --store lmdb, the users live in the metadata store)
#   --smb-vers   cifs dialect, vers= (default 3.1.1)
#   --smb-opts   extra cifs mount options, e.g. noperm,mfsymlinks,sfu (default none)
#   --store      lmdb (default, like the embedded default): LMDB metadata + filesystem blocks
#                under the guest's /run/dittofs-data; memory: both stores in memory
#   --mount-port only to check this script against a server whose MOUNT port is not the NFS port
#                (e.g. NFS-Ganesha, 12048); dittofs serves MOUNT on 12049
#                postgres: metadata in a throwaway PostgreSQL started in the guest
#                (dittofs-with-pg.sh), blocks in memory
#   env DITTOFS_KC_RUST_LOG: the server's RUST_LOG in the guest (default info)
# Exit 0 only when the guest mounted, the roundtrip matched, pjdfstest passed >= min-pass.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:?usage: run-dittofs.sh BIN [--out DIR] [--pjdfstest PAT] [--min-pass N] [--timeout S]}; shift
OUT= PJ=all MIN_PASS= TIMEOUT=900 MOUNT_PORT=12049 STORE=lmdb PROTO=nfs SMB_VERS=3.1.1 SMB_OPTS=
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=$2;; --pjdfstest) PJ=$2;; --min-pass) MIN_PASS=$2;; --timeout) TIMEOUT=$2;; --mount-port) MOUNT_PORT=$2;; --store) STORE=$2;;
    --proto) PROTO=$2;; --smb-vers) SMB_VERS=$2;; --smb-opts) SMB_OPTS=$2;;
    *) echo "run-dittofs.sh: unknown option $1" >&2; exit 1;;
  esac
  shift 2
done
BIN=$(readlink -f "$BIN")
[ -x "$BIN" ] || { echo "run-dittofs.sh: $BIN is not an executable" >&2; exit 1; }
PORT=12049 SMB_PORT=12445 SMB_USER=smbuser SMB_PASS='Passw0rd!'
case $PROTO in
  nfs) : "${OUT:=$ROOT/target/kernel-client/nfs}" "${MIN_PASS:=$(tr -dc 0-9 < "$HERE/pjdfstest-min-pass")}";;
  smb) : "${OUT:=$ROOT/target/kernel-client/smb}" "${MIN_PASS:=0}"
       [ "$STORE" = lmdb ] || { echo "run-dittofs.sh: --proto smb needs --store lmdb (users live in the metadata store)" >&2; exit 1; };;
  *) echo "run-dittofs.sh: --proto must be nfs or smb, not $PROTO" >&2; exit 1;;
esac
case $STORE in
  lmdb) META_TYPE=lmdb BLOCK_TYPE=filesystem;;
  memory) META_TYPE=memory BLOCK_TYPE=memory;;
  postgres) META_TYPE=memory BLOCK_TYPE=memory;;  # dittofs-with-pg.sh swaps in postgres
  *) echo "run-dittofs.sh: --store must be lmdb, memory or postgres, not $STORE" >&2; exit 1;;
esac
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)

# The config lives in OUT, which the guest sees at $KC_OUT (/run/kc/out). The data dir is
# the guest's tmpfs /run, not its ext4 /tmp: glommio 0.9 probes every O_DIRECT file for
# polled I/O with a read on its IOPOLL ring, and on this guest's virtio disk (Debian 6.1
# kernel under TCG) that read never completes, so the WAL would hang at start. On tmpfs
# glommio skips the probe (and O_DIRECT). Persistent stores keep their files there too
# (<data_dir>/meta, <data_dir>/blocks, <data_dir>/wal).
cat > "$OUT/dittofs.toml" <<TOML
data_dir = "/run/dittofs-data"
listen = "127.0.0.1"
cores = 2

# Small WAL segments: the default (64 MiB x 4 per core) is zero-filled at
# first start, too slow and big for test servers.
[wal]
segment_bytes = 4194304
segments_per_core = 4

[adapters.nfs]
port = $PORT

[metadata_stores.default]
type = "$META_TYPE"

[block_stores.default]
type = "$BLOCK_TYPE"

[[shares]]
name = "/export"
metadata_store = "default"
block_store = "default"
root_mode = 511
squash = "none"
TOML
if [ "$PROTO" = smb ]; then
  # bcrypt at its lowest cost: `user add` runs on the guest's emulated CPU.
  cat >> "$OUT/dittofs.toml" <<TOML

[adapters.smb]
enabled = true
port = $SMB_PORT

[identity]
bcrypt_cost = 4
TOML
fi

# 64 MiB through the kernel client: write, sync, drop the page cache, read back, compare.
ROUNDTRIP='set -e
dd if=/dev/urandom of=/tmp/kc-roundtrip.src bs=1M count=64 status=none
t0=$(date +%s.%N); cp /tmp/kc-roundtrip.src "$MNT/roundtrip.bin"; sync; t1=$(date +%s.%N)
echo 3 > /proc/sys/vm/drop_caches
a=$(sha256sum < /tmp/kc-roundtrip.src | cut -d" " -f1)
t2=$(date +%s.%N); b=$(sha256sum < "$MNT/roundtrip.bin" | cut -d" " -f1); t3=$(date +%s.%N)
size=$(stat -c %s "$MNT/roundtrip.bin")
echo "roundtrip: size=$size write+sync=$(awk "BEGIN{print $t1 - $t0}")s read=$(awk "BEGIN{print $t3 - $t2}")s"
echo "local=$a"; echo "mount=$b"
[ "$a" = "$b" ] && [ "$size" = 67108864 ] && echo "roundtrip OK" || { echo "roundtrip MISMATCH"; exit 1; }
rm -f "$MNT/roundtrip.bin"'

SERVER="exec $BIN start --config \$KC_OUT/dittofs.toml"
case $STORE in
  postgres) SERVER="exec $HERE/dittofs-with-pg.sh $BIN \$KC_OUT/dittofs.toml";;
esac
PRE="mkdir -p /run/dittofs-data"
if [ "$PROTO" = nfs ]; then
  PROTO_ARGS=(--proto nfs --port $PORT --mount-port "$MOUNT_PORT" --export /export)
else
  # The SMB user, added with the real CLI into the (LMDB) metadata store before the start.
  PRE="$PRE && printf '%s\\n' '$SMB_PASS' | $BIN user add $SMB_USER --uid 1000 --password-stdin --config \$KC_OUT/dittofs.toml >/dev/null"
  PROTO_ARGS=(--proto smb --port $SMB_PORT --export export --smb-user "$SMB_USER" --smb-pass "$SMB_PASS" --smb-vers "$SMB_VERS")
  [ -z "$SMB_OPTS" ] || PROTO_ARGS+=(--mount-opts "$SMB_OPTS")
fi
rc=0
"$HERE/run.sh" "${PROTO_ARGS[@]}" \
  --server-cmd "$PRE && RUST_LOG=${DITTOFS_KC_RUST_LOG:-info} $SERVER" \
  --share "$BIN" --pjdfstest "$PJ" --cmd "$ROUNDTRIP" --timeout "$TIMEOUT" --out "$OUT" || rc=$?

echo "== kernel client results in $OUT (proto: $PROTO${SMB_OPTS:+ $SMB_OPTS}, stores: $STORE)"
[ -f "$OUT/cmd.txt" ] && sed 's/^/   cmd: /' "$OUT/cmd.txt"
if [ -f "$OUT/pjdfstest.txt" ]; then
  tail -1 "$OUT/pjdfstest.txt"
  nf=$(grep -c ' FAILED$' "$OUT/pjdfstest.txt" || true)
  if [ "$nf" != 0 ]; then
    echo "pjdfstest failures ($nf):"
    grep ' FAILED$' "$OUT/pjdfstest.txt" | sed 's/ *\.* *FAILED$//; s/^/   /'
  fi
fi
[ $rc = 0 ] || { echo "run-dittofs.sh: run.sh failed (exit $rc); logs in $OUT" >&2; exit "$rc"; }
read -r passed cmd_rc < <(python3 - "$OUT/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
pj = r.get("pjdfstest") or {}
print(pj.get("passed", -1), r.get("cmd_rc"))
PY
)
fail=0
if [ "$cmd_rc" != 0 ]; then echo "run-dittofs.sh: the 64 MiB roundtrip failed (cmd_rc=$cmd_rc)" >&2; fail=1; fi
if [ "$PJ" = all ] && [ "$passed" -lt "$MIN_PASS" ]; then
  echo "run-dittofs.sh: pjdfstest passed $passed < minimum $MIN_PASS ($PROTO)" >&2; fail=1
fi
[ $fail = 0 ] && echo "run-dittofs.sh: OK (pjdfstest passed $passed >= $MIN_PASS, roundtrip OK)"
exit $fail
