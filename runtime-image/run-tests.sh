#!/usr/bin/env bash
# The runtime's checks: ruff (lint and format), mypy, then pytest, in the venv install-dev.sh makes.
# With LV_TEST_RESULTS set, pytest's counts are also written there as runtime.json (what test/run-tests.sh sums).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=$(bash "$here/install-dev.sh" | tail -n 1)
cd "$here"
export PYTHONPATH="$here/src" PYTHONDONTWRITEBYTECODE=1
cache="${XDG_CACHE_HOME:-$HOME/.cache}/longvideo/runtime-tools"
mkdir -p "$cache"

echo "== ruff"
"$venv/bin/ruff" check --no-cache src tests bench
"$venv/bin/ruff" format --no-cache --check src tests bench
echo "== mypy"
"$venv/bin/mypy" --cache-dir "$cache/mypy"
echo "== pytest"
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
