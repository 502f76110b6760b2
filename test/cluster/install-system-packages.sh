#!/usr/bin/env bash
# Installs the Debian packages the cluster, the images and the tests need; apt runs only when one is missing.
set -euo pipefail
. "$(dirname "$0")/env.sh"

packages=(
  runc containernetworking-plugins iptables conntrack socat ethtool iproute2 kmod util-linux mount
  mmdebstrap openssl ca-certificates ffmpeg prometheus skopeo
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
log "installing Debian packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
