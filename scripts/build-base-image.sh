#!/usr/bin/env bash
# Idempotent: the Python base image the Dockerfile builds FROM when no image registry answers.
# A Debian bookworm made with debootstrap (minbase), with Debian's python3 (3.11) and venv, the
# machine's CA bundle (package downloads pass a TLS proxy only that bundle trusts), imported as
# localhost/python-base:3.11. Cached twice: the image itself (kept while it exists) and the
# debootstrap tarball under $IMAGESTUDIO_CACHE (a rebuilt podman store re-imports it in seconds).
#
#   scripts/build-base-image.sh ENGINE      # ENGINE: the podman wrapper (scripts/podman.sh) or docker
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${1:-scripts/podman.sh}
image=localhost/python-base:3.11
cache=${IMAGESTUDIO_CACHE:-/var/cache/imagestudio}
tarball=$cache/python-base-bookworm.tar

if $engine image exists "$image" 2>/dev/null || $engine image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "debootstrap: Debian bookworm minbase into $root (a few minutes, once)"
  debootstrap --variant=minbase bookworm "$root" >"$cache/debootstrap.log" 2>&1
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python-is-python3 ca-certificates >/dev/null
  # The host's bundle holds the proxy's CA; pip inside the build reads it.
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
  # Smaller: no apt lists, docs or man pages in the image.
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/locale/* "$root"/var/cache/debconf/*-old "$root"/var/log/*
  tar -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
$engine import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$tarball" "$image" >/dev/null
echo "built $image"
