#!/usr/bin/env bash
# Sourced by the install-*-tools scripts: the one way they install a Debian package for a command.

# debian_package COMMAND PACKAGE: install PACKAGE when COMMAND is missing; succeeds only when it
# installed it (so a caller can follow up, e.g. stop a service the package started).
debian_package() {
  if command -v "$1" >/dev/null; then
    return 1
  fi
  echo "installing Debian's $2 package (for $1)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
