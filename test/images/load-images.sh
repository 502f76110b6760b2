#!/usr/bin/env bash
# Builds images (cached by their inputs) and imports into the real node's containerd the ones it lacks.
# Usage: load-images.sh NAME...   names: pause busybox operator runtime
#   operator: the operator's compiled app, production dependencies and Node 24 (test/images/operator.json)
#   runtime:  the CPU runtime image: animatic, svi on CPU (tiny models) and concat (runtime-image/cpu-image.json)
# The cluster must be up (containerd running). Unchanged inputs give the same digest, so nothing is re-imported.
set -euo pipefail
. "$(dirname "$0")/../cluster/env.sh"
CONTAINERD_SOCK=$LV_RUN/containerd/containerd.sock
[ -S "$CONTAINERD_SOCK" ] || die "containerd is not running: start the cluster first (make cluster-up)"

definition() { # <name> -> image definition path
  case $1 in
    pause | busybox) echo "$LV_ROOT/test/images/$1.json" ;;
    operator) echo "$LV_ROOT/test/images/operator.json" ;;
    runtime) echo "$LV_ROOT/runtime-image/cpu-image.json" ;;
    *) die "unknown image $1 (pause, busybox, operator, runtime)" ;;
  esac
}

# The operator's app is staged again only when what goes into it changed.
stage_operator_app() {
  local stamp=$LV_ROOT/.cache/images/operator/inputs.sha256 inputs
  inputs=$(cd "$LV_ROOT" && cat package.json package-lock.json tsconfig.json tsconfig.build.json \
    $(git ls-files -co --exclude-standard src | grep -v '\.test\.ts$' | sort) | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then return 0; fi
  log "staging the operator app"
  bash "$LV_ROOT/test/images/build-operator-app.sh"
  echo "$inputs" >"$stamp"
}

import_image() { # <definition.json>
  local def=$1 archive digest name
  read -r archive digest < <(node "$LV_ROOT/test/cluster/oci-image.ts" "$def")
  name=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).name)' "$def")
  if ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls "name==$name" 2>/dev/null | grep -q "$digest"; then return 0; fi
  log "importing $name into containerd"
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import --local "$archive" >/dev/null
}

for name in "$@"; do
  [ "$name" = operator ] && stage_operator_app
  import_image "$(definition "$name")"
done
