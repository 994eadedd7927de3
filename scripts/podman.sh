#!/usr/bin/env bash
# podman with the flags this kind of machine needs (docs/deploying.md): vfs storage, runc (crun
# fails on the hybrid cgroup setup), cgroupfs, no default ulimits above what the kernel grants.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/deploy/podman/containers.conf}
exec podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs "$@"
