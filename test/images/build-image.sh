#!/usr/bin/env bash
# Builds one of the project's images into an OCI archive (cached by its inputs) and prints
# "<archive> <manifest digest> <the definition's name>".
# Usage: build-image.sh NAME [oci-image.ts arguments: output.tar, --label key=value...]
#        build-image.sh --definition NAME   prints the path of NAME's image definition, building nothing
#   pause, busybox: the cluster's own small images (test/images/<name>.json)
#   operator:    the operator's compiled app, production dependencies and Node 24 (test/images/operator.json)
#   runtime:     the CPU runtime image: animatic, svi on CPU (tiny models) and concat (runtime-image/cpu-image.json)
#   runtime-gpu: the GPU runtime image: svi on CUDA (runtime-image/gpu-image.json; about 3.6 GB of wheels)
# `make images` imports what this builds into the local node; `make images-push` publishes it to a registry.
set -euo pipefail
. "$(dirname "$0")/../cluster/env.sh"

definition() { # <name> -> image definition path
  case $1 in
    pause | busybox) echo "$LV_ROOT/test/images/$1.json" ;;
    operator) echo "$LV_ROOT/test/images/operator.json" ;;
    runtime) echo "$LV_ROOT/runtime-image/cpu-image.json" ;;
    runtime-gpu) echo "$LV_ROOT/runtime-image/gpu-image.json" ;;
    *) die "unknown image $1 (pause, busybox, operator, runtime, runtime-gpu)" ;;
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

[ $# -ge 1 ] || die "usage: build-image.sh NAME [output.tar] [--label key=value]... | --definition NAME"
if [ "$1" = --definition ]; then definition "${2:-}"; exit 0; fi
name=$1; shift
def=$(definition "$name")
[ "$name" = operator ] && stage_operator_app
read -r archive digest < <(node "$LV_ROOT/test/cluster/oci-image.ts" "$def" "$@")
[ -n "${digest:-}" ] || die "oci-image.ts built no archive for $name"
ref=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).name)' "$def")
echo "$archive $digest $ref"
