# Sourced by every cluster script: pinned versions and the two places state lives.
#   LV_CACHE  user-level cache reused across clones (built binaries, root filesystems, images)
#   LV_RUN    this clone's run state (.cache/cluster): pids, logs, certificates, etcd data, kubeconfig
# shellcheck shell=bash
LV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=versions.env
. "$LV_ROOT/test/cluster/versions.env"
LV_CACHE=${LV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/longvideo}
LV_RUN=${LV_RUN:-$LV_ROOT/.cache/cluster}
LV_BIN=$LV_CACHE/bin
K8S_BIN=$LV_BIN/kubernetes-$KUBERNETES_VERSION
ETCD_BIN=$LV_BIN/etcd-$ETCD_VERSION
KWOK_BIN=$LV_BIN/kwok-$KWOK_VERSION
HELM_BIN=$LV_BIN/helm-$HELM_VERSION
CONTAINERD_BIN=$LV_BIN/containerd-$CONTAINERD_VERSION
LPP_BIN=$LV_BIN/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION
KUEUE_BIN=$LV_BIN/kueue-$KUEUE_VERSION
# Not on PATH either: only the Argo benchmark starts it, by its full path.
ARGO_BIN=$LV_BIN/argo-workflows-$ARGO_WORKFLOWS_VERSION
# Not on PATH (its name is too generic): scripts and tests start it by its full path.
REGISTRY_BIN=$LV_BIN/registry-$DISTRIBUTION_VERSION
# The local registry's loopback port (make registry, the end-to-end test); the real node pulls from it over plain HTTP.
export LV_REGISTRY_PORT=${LV_REGISTRY_PORT:-15000}
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
# Node 24 from the `node` dev dependency runs every script; the pinned cluster binaries come before any on the host.
export PATH="$LV_ROOT/node_modules/.bin:$K8S_BIN:$ETCD_BIN:$KWOK_BIN:$HELM_BIN:$CONTAINERD_BIN:$LPP_BIN:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
