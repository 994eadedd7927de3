#!/usr/bin/env bash
# Idempotent: create .venv, install every package of the repo (editable; the Python client SDK too,
# with its dependencies, so its tests import it) and the dev tools,
# and write .env with a fresh secret on first use. Re-installs only when a pyproject changes.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null; then
  echo "python3 is required (3.11+)" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.imagestudio-installed
inputs=$(cat shared/pyproject.toml services/*/pyproject.toml simulators/pyproject.toml clients/python/pyproject.toml requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$inputs" ]; then
  echo "installing Python packages into .venv (first run takes a minute)"
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e shared -e clients/python -r requirements-dev.txt
  .venv/bin/pip install --quiet --no-deps -e services/gateway -e services/create-worker \
    -e services/edit-worker -e services/upscale-worker -e services/social-worker -e services/control-worker \
    -e services/compress-worker -e simulators
  echo "$inputs" > "$stamp"
fi

if [ ! -f .env ]; then
  secret=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')
  printf '# Written by scripts/install.sh on first use; see docs/settings.md.\nIMAGESTUDIO_SECRET_KEY=%s\n' "$secret" > .env
  chmod 600 .env
  echo "wrote .env with a new IMAGESTUDIO_SECRET_KEY"
fi
