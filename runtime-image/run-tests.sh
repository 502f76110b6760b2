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
# The CPU image (cpu-image.json), built by the project's OCI script and unpacked for tests/test_cpu_image.py, which
# runs the svi, animatic and concat commands in its root filesystem. Cached by its inputs: unchanged, this only
# checks digests (seconds); a changed worker rebuilds and unpacks its own small layer. Needs root and mmdebstrap
# (make deps installs it); LV_SKIP_CPU_IMAGE=1 leaves the image tests skipped.
if [ "${LV_SKIP_CPU_IMAGE:-}" != 1 ] && [ "$(id -u)" = 0 ] && command -v mmdebstrap >/dev/null; then
  echo "== cpu image"
  start=$SECONDS
  built=$(. "$here/../test/cluster/env.sh" && node "$LV_ROOT/test/cluster/oci-image.ts" "$here/cpu-image.json" --unpack)
  read -r digest LV_CPU_IMAGE_LAYERS <<<"$built"
  export LV_CPU_IMAGE_LAYERS
  echo "localhost/longvideo/runtime:dev $digest ($((SECONDS - start)) s)"
else
  echo "== cpu image: not built (needs root and mmdebstrap, or LV_SKIP_CPU_IMAGE=1): its tests are skipped"
fi
echo "== pytest"
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
