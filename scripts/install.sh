#!/usr/bin/env bash
# Installs dittofs as a systemd service: the binary, the unit, an example
# configuration (never overwriting an existing one), docs and the `dittofs`
# system user. Idempotent: running it again only refreshes binary, unit and docs.
#
# Usage: scripts/install.sh [--prefix DIR] [--destdir DIR] [--bin PATH] [--dry-run]
#   --prefix DIR   where bin/ and share/ go (default /usr/local)
#   --destdir DIR  stage everything under DIR (packaging, tests); the user is then
#                  only declared in DIR/usr/lib/sysusers.d, not created
#   --bin PATH     the binary to install (default: target/release/dittofs, built
#                  with `cargo build --release`)
#   --dry-run      print what would be done, change nothing
# Then: edit /etc/dittofs/config.toml and `systemctl enable --now dittofs`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=/usr/local
DESTDIR=
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/dittofs"
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --destdir) DESTDIR=${2:?--destdir needs a directory}; shift 2 ;;
    --bin) BIN=${2:?--bin needs a path}; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$PREFIX" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
[ -x "$BIN" ] || { echo "install.sh: $BIN is not an executable (cargo build --release, or --bin)" >&2; exit 2; }

run() {
  if [ "$DRY" = 1 ]; then printf 'would run:'; printf ' %q' "$@"; echo; else "$@"; fi
}
say() { echo "install.sh: $*"; }

UNIT_DIR="$DESTDIR/etc/systemd/system"
CONF_DIR="$DESTDIR/etc/dittofs"
DOC_DIR="$DESTDIR$PREFIX/share/doc/dittofs"
SYSUSERS_DIR="$DESTDIR/usr/lib/sysusers.d"

run install -D -m 0755 "$BIN" "$DESTDIR$PREFIX/bin/dittofs"
say "binary: $DESTDIR$PREFIX/bin/dittofs"

# The unit names the binary and docs by path: point them at the prefix.
unit_tmp=$(mktemp)
trap 'rm -f "$unit_tmp"' EXIT
sed -e "s|/usr/local/bin/dittofs|$PREFIX/bin/dittofs|g" \
    -e "s|/usr/local/share/doc/dittofs|$PREFIX/share/doc/dittofs|g" \
    "$ROOT/systemd/dittofs.service" > "$unit_tmp"
run install -D -m 0644 "$unit_tmp" "$UNIT_DIR/dittofs.service"
say "unit: $UNIT_DIR/dittofs.service"

run install -D -m 0644 "$ROOT/config.toml.example" "$DOC_DIR/config.toml.example"
run install -D -m 0644 "$ROOT/README.md" "$DOC_DIR/README.md"
if [ -e "$CONF_DIR/config.toml" ]; then
  say "config: $CONF_DIR/config.toml exists; left as it is"
else
  run install -D -m 0644 "$ROOT/config.toml.example" "$CONF_DIR/config.toml"
  say "config: $CONF_DIR/config.toml (the commented example; edit it)"
fi

# The user, declared the systemd way (sysusers.d) and created now when
# installing onto this system.
sysusers_tmp=$(mktemp)
trap 'rm -f "$unit_tmp" "$sysusers_tmp"' EXIT
echo 'u dittofs - "DittoFS file server" /var/lib/dittofs /usr/sbin/nologin' > "$sysusers_tmp"
run install -D -m 0644 "$sysusers_tmp" "$SYSUSERS_DIR/dittofs.conf"
if [ -z "$DESTDIR" ]; then
  if getent passwd dittofs >/dev/null; then
    say "user: dittofs exists"
  elif command -v systemd-sysusers >/dev/null; then
    run systemd-sysusers "$SYSUSERS_DIR/dittofs.conf"
  else
    run useradd --system --home-dir /var/lib/dittofs --no-create-home \
      --shell /usr/sbin/nologin --user-group dittofs
  fi
  if [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
  fi
else
  say "user: declared in $SYSUSERS_DIR/dittofs.conf (created by systemd-sysusers on the target)"
fi
say "done; next: edit /etc/dittofs/config.toml, then: systemctl enable --now dittofs"
