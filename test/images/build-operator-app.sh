#!/usr/bin/env bash
# Stages the operator's application for its image: compiled JavaScript, production dependencies only, and the
# Node 24 binary that the `node` dev dependency brought. Output: .cache/images/operator/{app,node}.
set -euo pipefail
. "$(dirname "$0")/../cluster/env.sh"
out=$LV_ROOT/.cache/images/operator
rm -rf "$out"; mkdir -p "$out/app"
tsc -p "$LV_ROOT/tsconfig.build.json" --outDir "$out/app/dist"
cp "$LV_ROOT/package.json" "$LV_ROOT/package-lock.json" "$out/app/"
(cd "$out/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
cp "$(readlink -f "$LV_ROOT/node_modules/.bin/node")" "$out/node"
