#!/usr/bin/env bash
# pjdfstest through the Linux CIFS client with the SMB 3.1.1 POSIX extensions
# (vers=3.1.1,posix,idsfromsid,modefromsid,mfsymlinks) against dittofs in the QEMU guest
# (README.md). The SMB user's sessions run as root ([adapters.smb] admin_users), as
# pjdfstest runs as root on the client.
#
# usage: run-dittofs-smb-posix.sh BIN [--out DIR] [--min-pass N] [--pjdfstest all|PAT,..]
#   --min-pass  fail when fewer pjdfstest cases pass (only with --pjdfstest all; default 0)
# Exit 0 only when the guest mounted and pjdfstest passed >= min-pass.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:?usage: run-dittofs-smb-posix.sh BIN [--out DIR] [--min-pass N] [--pjdfstest PAT]}; shift
OUT=$ROOT/target/kernel-client/smb-posix PJ=all MIN_PASS=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=$2;; --min-pass) MIN_PASS=$2;; --pjdfstest) PJ=$2;;
    *) echo "run-dittofs-smb-posix.sh: unknown option $1" >&2; exit 1;;
  esac
  shift 2
done
BIN=$(readlink -f "$BIN")
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PASS='Kc-Passw0rd!'
rc=0
"$HERE/run.sh" --proto smb --port 12445 --export export --smb-user smbuser --smb-pass "$PASS" \
  --mount-opts posix,idsfromsid,modefromsid,mfsymlinks \
  --server-cmd "$HERE/smb-posix-server.sh $BIN smbuser 20001 '$PASS'" \
  --pjdfstest "$PJ" --out "$OUT" || rc=$?
[ $rc = 0 ] || { echo "run-dittofs-smb-posix.sh: run.sh failed (exit $rc); logs in $OUT" >&2; exit "$rc"; }
passed=$(python3 -c 'import json,sys; print((json.load(open(sys.argv[1])).get("pjdfstest") or {}).get("passed", -1))' "$OUT/result.json")
if [ "$PJ" = all ] && [ "$passed" -lt "$MIN_PASS" ]; then
  echo "run-dittofs-smb-posix.sh: pjdfstest passed $passed < minimum $MIN_PASS" >&2; exit 1
fi
echo "run-dittofs-smb-posix.sh: OK (pjdfstest passed $passed >= $MIN_PASS); logs in $OUT"
