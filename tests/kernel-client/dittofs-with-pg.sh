#!/usr/bin/env bash
# --server-cmd wrapper for the kernel-client guest: starts a throwaway PostgreSQL
# cluster under /tmp (scripts/pg-throwaway.sh; the guest's /tmp is a fresh ext4),
# rewrites CONFIG's [metadata_stores.default] to type = "postgres" on it, and execs
# dittofs in the foreground. The cluster dies with the guest.
#
# usage: dittofs-with-pg.sh BIN CONFIG
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:?usage: dittofs-with-pg.sh BIN CONFIG}
CONFIG=${2:?usage: dittofs-with-pg.sh BIN CONFIG}
PGDIR=/tmp/kc-pg
rm -rf "$PGDIR"
URL=$("$ROOT/scripts/pg-throwaway.sh" start "$PGDIR")
echo "dittofs-with-pg: PostgreSQL up: $URL" >&2
python3 - "$CONFIG" /tmp/dittofs-pg.toml "$URL" <<'PY'
import sys
src, dst, url = sys.argv[1:4]
text = open(src).read()
old = '[metadata_stores.default]\ntype = "memory"\n'
assert old in text, "config has no memory [metadata_stores.default]"
text = text.replace(old, '[metadata_stores.default]\ntype = "postgres"\nurl = "%s"\n' % url)
open(dst, "w").write(text)
PY
exec "$BIN" start --config /tmp/dittofs-pg.toml
