#!/usr/bin/env bash
# `make lock`: re-resolve the pinned, hashed requirement files from the pyproject.toml files and
# requirements-dev.txt (uv's pip compile; Python 3.11, every platform's markers kept):
#   requirements/runtime.txt            every service's dependencies together (the union of the below)
#   requirements/runtime-<service>.txt  what the image of services/<service> installs: the shared
#                                       package's dependencies, the groups of it the service names
#                                       (imagestudio[serve], imagestudio[cutout]) and its own
#                                       (scripts/lock_inputs.py --service); pinned as runtime.txt pins
#   requirements/dev.txt                those same pins plus the client SDK's, the tests' and the dev
#                                       tools': what `make install` and CI install
# Existing pins are kept unless an input no longer allows them (`UPGRADE=1 make lock` takes the
# newest releases). The first line holds the inputs' digest (scripts/lock_inputs.py), checked by a test.
set -euo pipefail
cd "$(dirname "$0")/.."

uv=.venv/bin/uv
upgrade=()
if [ "${UPGRADE:-0}" = 1 ]; then upgrade=(--upgrade); fi
compile=("$uv" pip compile --quiet --native-tls --universal --python-version 3.11 --generate-hashes
  --override requirements/overrides.txt
  --no-header --custom-compile-command "make lock" "${upgrade[@]}")
inputs=scripts/lock_inputs.py
digest=$(.venv/bin/python $inputs)
mkdir -p requirements .imagestudio/lock

# The inputs as files with stable names, so the locks' "# via -r ..." lines do not change from run to run.
services=$(.venv/bin/python $inputs --services)
for service in $services; do
  .venv/bin/python $inputs --service "$service" > ".imagestudio/lock/$service.in"
done
sort -u .imagestudio/lock/*.in > .imagestudio/lock/all-services.in

"${compile[@]}" .imagestudio/lock/all-services.in -o requirements/runtime.txt
for service in $services; do
  # No "# via" lines: equal inputs give byte-equal locks, and the image builds share their layers.
  "${compile[@]}" --no-annotate ".imagestudio/lock/$service.in" --constraint requirements/runtime.txt \
    -o "requirements/runtime-$service.txt"
done
"${compile[@]}" .imagestudio/lock/all-services.in clients/python/pyproject.toml requirements-dev.txt \
  --constraint requirements/runtime.txt -o requirements/dev.txt

for lock in requirements/runtime.txt requirements/runtime-*.txt requirements/dev.txt; do
  body=$(grep -v '^# inputs-sha256: ' "$lock" | grep -v '^# Regenerate with ' || true)
  printf '%s%s\n# Regenerate with `make lock` (scripts/lock.sh); never edit by hand.\n%s\n' \
    '# inputs-sha256: ' "$digest" "$body" > "$lock"
done
count() { grep -c '^[A-Za-z0-9].*==' "$1"; }
echo "locked $(count requirements/dev.txt) packages (runtime $(count requirements/runtime.txt))"
for service in $services; do
  echo "  $service: $(count "requirements/runtime-$service.txt")"
done
