#!/usr/bin/env bash
# podman with the flags this kind of machine needs (docs/operating.md#containers-images-and-the-stack-test):
# runc (crun fails on the hybrid cgroup setup), cgroupfs, no default ulimits above what the kernel
# grants (deploy/podman/containers.conf), and the project's own overlay store: a container starts in
# a second from it, where the vfs driver copies the whole image (minutes on a loaded machine).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/deploy/podman/containers.conf}
exec podman --storage-driver overlay --root "${IMAGESTUDIO_PODMAN_ROOT:-/var/lib/imagestudio/containers}" \
  --runroot /run/imagestudio/containers --runtime runc --cgroup-manager cgroupfs "$@"
