#!/usr/bin/env bash
# Idempotent: create .venv, install the locked dependencies (requirements/dev.txt: every pin hashed,
# nothing resolved here; `make lock` updates it), then every package of the repo editable without
# dependencies (the Python client SDK too, so its tests import it), and write .env with a fresh
# secret on first use. Re-installs only when the lock or a pyproject changes.
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
inputs=$(cat shared/pyproject.toml services/*/pyproject.toml simulators/pyproject.toml clients/python/pyproject.toml requirements/dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$inputs" ]; then
  echo "installing the locked Python packages into .venv"
  # uv installs the lock (its own pin comes from the lock too); it uses the system CA bundle.
  uv_pin=$(grep -m1 '^uv==' requirements/dev.txt | cut -d' ' -f1)
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps "$uv_pin"
  .venv/bin/uv pip sync --quiet --native-tls --python .venv/bin/python requirements/dev.txt
  services=()
  for service in services/*/pyproject.toml; do services+=(-e "${service%/pyproject.toml}"); done
  .venv/bin/uv pip install --quiet --native-tls --python .venv/bin/python --no-deps -e shared -e clients/python \
    "${services[@]}" -e simulators
  echo "$inputs" > "$stamp"
fi

if [ ! -f .env ]; then
  secret=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')
  printf '# Written by scripts/install.sh on first use; see docs/settings.md.\nIMAGESTUDIO_SECRET_KEY=%s\n' "$secret" > .env
  chmod 600 .env
  echo "wrote .env with a new IMAGESTUDIO_SECRET_KEY"
fi
if ! grep -q '^IMAGESTUDIO_SECRETS_KEYS=' .env; then
  # docker-compose.yml runs in production, which needs a Fernet key for secrets at rest.
  fernet=$(.venv/bin/python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
  printf 'IMAGESTUDIO_SECRETS_KEYS=%s\n' "$fernet" >> .env
  echo "added a new IMAGESTUDIO_SECRETS_KEYS to .env"
fi
