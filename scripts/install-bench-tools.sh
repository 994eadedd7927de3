#!/usr/bin/env bash
# Idempotent: install what `make bench` needs beyond the project's packages.
#   h2load   the load generator (Debian's nghttp2-client): closed loop, constant rate, per-request log
#   py-spy   the sampling profiler behind bench/profile_gateway.py
#   granian  the second ASGI server bench/bench_servers.py compares with uvicorn
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian_package.sh

debian_package h2load nghttp2-client || true

for pkg in py-spy granian; do
  if ! .venv/bin/pip show --quiet "$pkg" >/dev/null 2>&1; then
    echo "installing $pkg into .venv (bench only)"
    .venv/bin/pip install --quiet "$pkg"
  fi
done
