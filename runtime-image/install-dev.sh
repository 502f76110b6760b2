#!/usr/bin/env bash
# Installs what the runtime's tests need and prints the virtualenv's directory on the last line of stdout.
# - Debian packages (ffmpeg, and Debian's python3 with numpy and Pillow, which the CPU image's animatic backend
#   runs on): apt-get update and install run only when one is missing.
# - A virtualenv keyed by the hash of the requirements files and the Python version, in
#   ${XDG_CACHE_HOME:-~/.cache}/longvideo/venvs/runtime-<hash>, reused when complete. Every package is pinned
#   and installed with --no-deps, so the set is exactly the files' (see docs/adr/0003-runtime-python-stack.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[install-dev] %s\n' "$*" >&2; }

debian_packages=(ffmpeg python3 python3-numpy python3-pil fonts-dejavu-core)
missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

python=${LV_RUNTIME_PYTHON:-python3}
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$version" = "3.11" ] || [ "$version" = "3.12" ] || { log "need Python 3.11 or 3.12, $python is $version"; exit 1; }
hash=$(cat "$here/requirements.txt" "$here/requirements-dev.txt" <(echo "$version") | sha256sum | cut -c1-16)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/longvideo/venvs/runtime-$hash"

if [ ! -f "$venv/.complete" ]; then
  # A venv cannot be moved after creation, so a half-made one is marked by the missing .complete and redone.
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  log "creating $venv (first run downloads about 3 GB of wheels; pip's cache keeps them)"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -r "$here/requirements.txt" -r "$here/requirements-dev.txt" >&2
  touch "$venv/.complete"
fi
echo "$venv"
