#!/bin/sh
# Installs everything the test suite needs, then runs lint, type checks and the whole suite.
# Works on a fresh Debian machine with Python >= 3.11 (root, or sudo for apt-get).
set -eu
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v redis-server >/dev/null 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

# The dashboard's browser test drives Debian's headless Chromium.
if ! command -v chromium >/dev/null 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
python3 -m ruff check src tests bench
python3 -m mypy
python3 -m pytest -q -p no:cacheprovider "$@"
