#!/usr/bin/env bash
# `make lock`: re-resolve the pinned, hashed requirement files from the pyproject.toml files and
# requirements-dev.txt (uv's pip compile; Python 3.11, every platform's markers kept):
#   requirements/runtime.txt  the shared package's dependencies: what every image installs
#   requirements/dev.txt      those same pins plus the client SDK's, the tests' and the dev tools':
#                             what `make install` and CI install
# Existing pins are kept unless an input no longer allows them (`UPGRADE=1 make lock` takes the
# newest releases). The first line holds the inputs' digest (scripts/lock_inputs.py), checked by a test.
set -euo pipefail
cd "$(dirname "$0")/.."

uv=.venv/bin/uv
upgrade=()
if [ "${UPGRADE:-0}" = 1 ]; then upgrade=(--upgrade); fi
compile=("$uv" pip compile --quiet --native-tls --universal --python-version 3.11 --generate-hashes
  --no-header --custom-compile-command "make lock" "${upgrade[@]}")
digest=$(.venv/bin/python scripts/lock_inputs.py)
mkdir -p requirements

"${compile[@]}" shared/pyproject.toml -o requirements/runtime.txt
"${compile[@]}" shared/pyproject.toml clients/python/pyproject.toml requirements-dev.txt \
  --constraint requirements/runtime.txt -o requirements/dev.txt

for lock in requirements/runtime.txt requirements/dev.txt; do
  body=$(grep -v '^# inputs-sha256: ' "$lock" | grep -v '^# Regenerate with ' || true)
  printf '%s%s\n# Regenerate with `make lock` (scripts/lock.sh); never edit by hand.\n%s\n' \
    '# inputs-sha256: ' "$digest" "$body" > "$lock"
done
echo "locked $(grep -c '^[A-Za-z0-9].*==' requirements/dev.txt) packages (runtime $(grep -c '^[A-Za-z0-9].*==' requirements/runtime.txt))"
