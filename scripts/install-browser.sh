#!/usr/bin/env bash
# Idempotent: install the browser the docs-page test drives (tests/e2e/test_docs_offline.py):
# Debian's chromium and its chromedriver, from apt (a browser download of selenium's own cannot
# be had here, and Debian's packages keep the two versions matched).
set -euo pipefail

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "installing Debian's chromium and chromium-driver packages (for the docs-page browser test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
