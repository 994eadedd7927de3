#!/usr/bin/env bash
# `make test` (and so CI): every test, with the images built beside the suite instead of before it.
# `make images` runs in the background from the start; pytest runs meanwhile, and the tests that
# run the images (tests/stack) wait for the build: they fail, never skip, when it failed
# (tests/stack/stack_images.py). A cold build takes 8-10 min here, most of the suite needs no image,
# so the build leaves the critical path. Exits non-zero if pytest or the build failed.
#   scripts/test.sh [PYTEST ARGS...]
set -uo pipefail
cd "$(dirname "$0")/.."

mkdir -p .imagestudio
status=$PWD/.imagestudio/images.status
log=$PWD/.imagestudio/images.log
rm -f "$status"
# Its own process group, so an interrupted run stops the build too.
setsid bash -c 'IMAGES_LOG="$2.steps" bash scripts/images.sh >"$2" 2>&1; echo $? >"$1"' _ "$status" "$log" &
builder=$!
trap 'kill -- -"$builder" 2>/dev/null' INT TERM
echo "building the images in the background (log: $log)"

IMAGESTUDIO_IMAGES_STATUS=$status IMAGESTUDIO_IMAGES_LOG=$log .venv/bin/pytest -q -p no:cacheprovider "$@"
code=$?

wait "$builder"
cat "$log"
if [ "$(cat "$status" 2>/dev/null)" != 0 ]; then
  echo "make images failed (see above)" >&2
  code=1
fi
exit "$code"
