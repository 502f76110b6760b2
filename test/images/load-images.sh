#!/usr/bin/env bash
# Builds images (cached by their inputs, test/images/build-image.sh) and imports into the real node's containerd the
# ones it lacks. Usage: load-images.sh NAME...   names: pause busybox operator runtime (see build-image.sh)
# The cluster must be up (containerd running). Unchanged inputs give the same digest, so nothing is re-imported.
set -euo pipefail
. "$(dirname "$0")/../cluster/env.sh"
CONTAINERD_SOCK=$LV_RUN/containerd/containerd.sock
[ -S "$CONTAINERD_SOCK" ] || die "containerd is not running: start the cluster first (make cluster-up)"

import_image() { # <name>
  local archive digest ref
  read -r archive digest ref < <(bash "$LV_ROOT/test/images/build-image.sh" "$1")
  [ -n "${ref:-}" ] || die "image $1 was not built"
  if ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls "name==$ref" 2>/dev/null | grep -q "$digest"; then return 0; fi
  log "importing $ref into containerd"
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import --local "$archive" >/dev/null
}

for name in "$@"; do import_image "$name"; done
