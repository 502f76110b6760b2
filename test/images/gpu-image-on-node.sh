#!/usr/bin/env bash
# The GPU runtime image on the local cluster's real node (no GPU there): the local registry is started, every image
# is pushed to it by push-images.sh (the GPU runtime one included), and the svi end-to-end films (film, pro, talk,
# dance, and the wrong model cache) run with the chart's runtime image set to the GPU image as the node pulls it
# from the registry. Prints how long the node took to pull it and how long its pods took to import torch.
# Needs the cluster up (make cluster-up). Run by `make test-gpu-node`.
set -euo pipefail
. "$(dirname "$0")/../cluster/env.sh"
cd "$LV_ROOT"

node test/cluster/registry.ts >"$LV_ROOT/.cache/registry.log" 2>&1 &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  grep -q "^registry on" "$LV_ROOT/.cache/registry.log" && break
  kill -0 "$registry_pid" 2>/dev/null || die "the registry did not start: $(cat "$LV_ROOT/.cache/registry.log")"
  sleep 0.5
done
registry=127.0.0.1:$LV_REGISTRY_PORT
GPU=1 bash test/images/push-images.sh "$registry" | tee "$LV_ROOT/.cache/pushed.txt"
image=$(awk '$1 ~ /\/longvideo\/runtime:/ {print $1}' "$LV_ROOT/.cache/pushed.txt")
[ -n "$image" ] || die "the GPU runtime image was not pushed"
# The node must pull it, not find it: forget any earlier pull.
ctr --address "$LV_RUN/containerd/containerd.sock" -n k8s.io images rm "$image" >/dev/null 2>&1 || true

log "svi films on the real node in $image"
KUBECONFIG=$LV_ROOT/.cache/cluster/kubeconfig LV_E2E_RUNTIME_IMAGE=$image \
  vitest run --project e2e test/e2e/svi-film.test.ts

pulled=$(KUBECONFIG=$LV_ROOT/.cache/cluster/kubeconfig kubectl get events -A --field-selector reason=Pulled \
  -o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | grep -F "$image" | head -n 1 || true)
log "the node's pull: ${pulled:-no Pulled event left (events expire after an hour)}"
ctr --address "$LV_RUN/containerd/containerd.sock" -n k8s.io images ls "name==$image" | tail -n +2 |
  awk '{print "in the node'"'"'s containerd: " $1 " " $3 " (" $4 " " $5 ")"}'
