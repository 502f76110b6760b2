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
# The CPU image (cpu-image.json), built by the project's OCI script and unpacked for tests/test_image_rootfs.py, which
# runs the svi, animatic and concat commands in its root filesystem. Cached by its inputs: unchanged, this only
# checks digests (seconds); a changed worker rebuilds and unpacks its own small layer. Needs root and mmdebstrap
# (make deps installs it); LV_SKIP_CPU_IMAGE=1 leaves the image tests skipped.
# The GPU image (gpu-image.json) only with LV_GPU_IMAGE=1 (make test-gpu-image): its CUDA wheels are 3.6 GB to
# download once and about 8 GB unpacked, so the everyday run leaves its tests skipped, said here and by pytest.
can_build_images() { [ "$(id -u)" = 0 ] && command -v mmdebstrap >/dev/null; }
# Builds and unpacks an image; sets $layers. Prints the digest, the build time and each layer's unpacked size.
unpack_image() {
  local definition=$1 start=$SECONDS built digest
  built=$(. "$here/../test/cluster/env.sh" && node "$LV_ROOT/test/cluster/oci-image.ts" "$definition" --unpack)
  read -r digest layers <<<"$built"
  echo "$(basename "$definition") $digest ($((SECONDS - start)) s); layers, top first:"
  local IFS=:
  for layer in $layers; do echo "  $(du -sh "$layer" | cut -f1) ${layer##*/}"; done
}
if [ "${LV_SKIP_CPU_IMAGE:-}" != 1 ] && can_build_images; then
  echo "== cpu image"
  unpack_image "$here/cpu-image.json"
  export LV_CPU_IMAGE_LAYERS=$layers
else
  echo "== cpu image: not built (needs root and mmdebstrap, or LV_SKIP_CPU_IMAGE=1): its tests are skipped"
fi
if [ "${LV_GPU_IMAGE:-}" = 1 ] && can_build_images; then
  echo "== gpu image"
  unpack_image "$here/gpu-image.json"
  export LV_GPU_IMAGE_LAYERS=$layers
else
  echo "== gpu image: not built (make test-gpu-image builds it): its tests are skipped"
fi
echo "== pytest"
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
