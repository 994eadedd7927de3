#!/usr/bin/env bash
# `make images`: every image docker-compose.yml and deploy/k8s run, from deploy/docker/Dockerfile:
#   imagestudio/gateway (also migrations and the webhooks worker) and imagestudio/<studio>-worker.
# Engine: docker when a Docker engine answers, else podman with this machine's flags (scripts/podman.sh).
# Base: the official python:3.11-slim-bookworm when a registry answers, else a Debian base made by
# scripts/build-base-image.sh (debootstrap, cached). Prints each image's size and the build time.
# Each image carries only its service's dependencies (requirements/runtime-<service>.txt); their
# sizes and the bounds tests/stack/test_images.py holds them to are in docs/operating.md.
#   ENGINE=... PYTHON_IMAGE=... TAG=latest scripts/images.sh [gateway] [STUDIO...]   # default: all
set -euo pipefail
cd "$(dirname "$0")/.."

# Every studio with a worker package (services/<studio>-worker, written by `imagestudio deploy render`).
STUDIOS=()
for package in services/*-worker/pyproject.toml; do
  name=${package#services/}; STUDIOS+=("${name%-worker/pyproject.toml}")
done
tag=${TAG:-latest}
wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then wanted=(gateway "${STUDIOS[@]}"); fi

if [ -z "${ENGINE:-}" ]; then
  if command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then
    ENGINE=docker
  else
    command -v podman >/dev/null || {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc >/dev/null
    }
    ENGINE=scripts/podman.sh
  fi
fi

if [ -z "${PYTHON_IMAGE:-}" ]; then
  official=docker.io/library/python:3.11-slim-bookworm
  if $ENGINE image inspect "$official" >/dev/null 2>&1 || timeout 15 $ENGINE pull -q "$official" >/dev/null 2>&1; then
    PYTHON_IMAGE=$official
  else
    echo "no image registry answers: building the Debian base (scripts/build-base-image.sh)"
    bash scripts/build-base-image.sh "$ENGINE"
    PYTHON_IMAGE=localhost/python-base:3.11
  fi
fi

build() {  # build TARGET IMAGE [STUDIO]
  local args=(build --network host -f deploy/docker/Dockerfile --target "$1" -t "$2:$tag"
    --build-arg PYTHON_IMAGE="$PYTHON_IMAGE")
  if [ -n "${3:-}" ]; then args+=(--build-arg STUDIO="$3"); fi
  local started=$SECONDS
  $ENGINE "${args[@]}" . >"${IMAGES_LOG:-/tmp/imagestudio-images.log}" 2>&1 || {
    tail -30 "${IMAGES_LOG:-/tmp/imagestudio-images.log}" >&2; echo "building $2 failed" >&2; exit 1
  }
  printf '%-32s %4ss  %s\n' "$2:$tag" $((SECONDS - started)) \
    "$($ENGINE image inspect --format '{{.Size}}' "$2:$tag" | awk '{printf "%.0f MB", $1/1e6}')"
}

echo "engine: $ENGINE, base: $PYTHON_IMAGE"
for name in "${wanted[@]}"; do
  if [ "$name" = gateway ]; then
    build gateway imagestudio/gateway
  else
    build worker "imagestudio/$name-worker" "$name"
  fi
done
