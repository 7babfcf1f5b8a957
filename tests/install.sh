#!/usr/bin/env bash
# Installs everything the test suite needs: a virtualenv in .venv with the package and its
# test extras (pytest-xdist among them: the whole suite runs on two workers), Debian's
# chromium for the browser tests, redis-server for the multi-process test and npm for
# axe-core (the browser tests' accessibility checks). Safe to run again (each step is
# skipped when already done).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "tests/install.sh: please install ${need_apt[*]} (sudo apt-get install -y ${need_apt[*]})" >&2
    exit 1
  fi
fi
# axe-core for the accessibility checks of the browser tests (tests/axe_support.py), kept
# out of git in tests/.node.
if [ ! -f tests/.node/node_modules/axe-core/axe.min.js ]; then
  npm install --prefix tests/.node axe-core@4 --no-audit --no-fund --silent
fi
echo "tests/install.sh: ready ($(.venv/bin/python --version), $(chromium --version 2>/dev/null | head -1))"
