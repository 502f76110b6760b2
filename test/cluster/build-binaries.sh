#!/usr/bin/env bash
# Builds the pinned cluster binaries from Go modules into the user-level cache, keyed by version.
# A binary set that is already there is never rebuilt: a warm run only checks for files.
set -euo pipefail
. "$(dirname "$0")/env.sh"

export CGO_ENABLED=0

# A wrapper module per tool: the upstream roots replace their own sub-modules with local paths,
# which `go install pkg@version` refuses, so we require the root and point each replace at the registry.
wrapper_dir() { local d="$LV_CACHE/src/$1"; mkdir -p "$d"; echo "$d"; }

have_all() { local dir=$1; shift; for b in "$@"; do [ -x "$dir/$b" ] || return 1; done; }

build_kubernetes() {
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
  have_all "$K8S_BIN" "${bins[@]}" && return 0
  log "building Kubernetes $KUBERNETES_VERSION (${bins[*]}); cold builds take a while on 2 cores"
  local dir minor staging_version
  dir=$(wrapper_dir "kubernetes-$KUBERNETES_VERSION")
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  local upstream_mod
  upstream_mod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    echo "module longvideo.dev/cluster-binaries/kubernetes"
    echo
    grep -E '^go [0-9]' "$upstream_mod"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    # Every staging module the upstream go.mod maps to ./staging/... is taken from the registry instead.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$staging_version"'#p' "$upstream_mod"
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true; go mod download >/dev/null)
  local x="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    x+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local out="$K8S_BIN.partial"
  rm -rf "$out"; mkdir -p "$out"
  (cd "$dir" && go build -trimpath -tags tools -ldflags "-s -w$x" -o "$out/" \
    $(printf 'k8s.io/kubernetes/cmd/%s ' "${bins[@]}"))
  rm -rf "$K8S_BIN"; mv "$out" "$K8S_BIN"
}

build_etcd() {
  have_all "$ETCD_BIN" etcd && return 0
  log "building etcd $ETCD_VERSION"
  local dir; dir=$(wrapper_dir "etcd-$ETCD_VERSION")
  cat >"$dir/go.mod" <<GOMOD
module longvideo.dev/cluster-binaries/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
GOMOD
  cat >"$dir/main.go" <<'GO'
// Command etcd runs the etcd server from its published module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && go mod tidy >/dev/null && go build -trimpath -ldflags "-s -w" -o "$ETCD_BIN.partial/etcd" .)
  rm -rf "$ETCD_BIN"; mv "$ETCD_BIN.partial" "$ETCD_BIN"
}

# go install works for modules whose go.mod has no local replace directives.
install_tool() { # <dest dir> <binary name> <package@version>
  local dest=$1 name=$2 pkg=$3
  have_all "$dest" "$name" && return 0
  log "building $pkg"
  rm -rf "$dest.partial"; mkdir -p "$dest.partial"
  GOBIN="$dest.partial" go install -trimpath -ldflags "-s -w" "$pkg"
  rm -rf "$dest"; mv "$dest.partial" "$dest"
}

build_containerd() {
  have_all "$CONTAINERD_BIN" containerd ctr containerd-shim-runc-v2 && return 0
  log "building containerd $CONTAINERD_VERSION"
  local dir; dir=$(wrapper_dir "containerd-$CONTAINERD_VERSION")
  cat >"$dir/go.mod" <<GOMOD
module longvideo.dev/cluster-binaries/containerd

go 1.24

require github.com/containerd/containerd/v2 $CONTAINERD_VERSION
GOMOD
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
GO
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true; go mod download >/dev/null)
  (cd "$dir" && go build -trimpath -tags "tools no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    -o "$CONTAINERD_BIN.partial/" github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr)
  rm -rf "$CONTAINERD_BIN"; mv "$CONTAINERD_BIN.partial" "$CONTAINERD_BIN"
}

# Kueue's go.mod has no replace directives, so `go install` builds it; its CRDs come from the same module's source,
# so the controller and the CRDs it reads are always of one version. Not on PATH: tests start it by its full path.
build_kueue() {
  have_all "$KUEUE_BIN" kueue && [ -d "$KUEUE_BIN/crds" ] && return 0
  log "building Kueue $KUEUE_VERSION"
  rm -rf "$KUEUE_BIN.partial"; mkdir -p "$KUEUE_BIN.partial/crds"
  # Its log says which version runs (the module's default is v0.0.0-main).
  GOBIN="$KUEUE_BIN.partial" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION"
  local src
  src=$(go mod download -json "sigs.k8s.io/kueue@$KUEUE_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  [ -d "$src/config/components/crd/bases" ] || die "no CRDs in $src/config/components/crd/bases"
  cp "$src"/config/components/crd/bases/*.yaml "$KUEUE_BIN.partial/crds/"
  rm -rf "$KUEUE_BIN"; mv "$KUEUE_BIN.partial" "$KUEUE_BIN"
}

# Argo Workflows' controller, for the side-by-side benchmark only (never part of `all`: CI does not pay for it).
# `go install ...@version` needs the module's version list, which the proxy refuses, so a wrapper module requires the
# pinned version; the CRDs are copied from the same module so controller and CRDs are of one version.
build_argo_workflows() {
  have_all "$ARGO_BIN" workflow-controller && [ -d "$ARGO_BIN/crds" ] && return 0
  log "building Argo Workflows $ARGO_WORKFLOWS_VERSION (workflow-controller); a cold build takes minutes on 2 cores"
  local dir; dir=$(wrapper_dir "argo-workflows-$ARGO_WORKFLOWS_VERSION")
  cat >"$dir/go.mod" <<GOMOD
module longvideo.dev/cluster-binaries/argo-workflows

go 1.24

require github.com/argoproj/argo-workflows/v3 $ARGO_WORKFLOWS_VERSION
GOMOD
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/argoproj/argo-workflows/v3/cmd/workflow-controller"
GO
  rm -rf "$ARGO_BIN.partial"; mkdir -p "$ARGO_BIN.partial/crds"
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -tags tools -ldflags "-s -w" \
    -o "$ARGO_BIN.partial/workflow-controller" github.com/argoproj/argo-workflows/v3/cmd/workflow-controller)
  local src
  src=$(cd "$dir" && go mod download -json "github.com/argoproj/argo-workflows/v3@$ARGO_WORKFLOWS_VERSION" |
    sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  [ -d "$src/manifests/base/crds/minimal" ] || die "no CRDs in $src/manifests/base/crds/minimal"
  cp "$src"/manifests/base/crds/minimal/argoproj.io_*.yaml "$ARGO_BIN.partial/crds/"
  rm -rf "$ARGO_BIN"; mv "$ARGO_BIN.partial" "$ARGO_BIN"
}

what=${1:-all}
case $what in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  kueue) build_kueue ;;
  argo-workflows) build_argo_workflows ;;
  kwok) install_tool "$KWOK_BIN" kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" ;;
  helm) install_tool "$HELM_BIN" helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ;;
  containerd) build_containerd ;;
  registry) install_tool "$REGISTRY_BIN" registry "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION" ;;
  local-path-provisioner)
    install_tool "$LPP_BIN" local-path-provisioner "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION" ;;
  all)
    build_etcd
    build_kubernetes
    install_tool "$KWOK_BIN" kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    build_containerd
    install_tool "$LPP_BIN" local-path-provisioner "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION"
    install_tool "$HELM_BIN" helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    build_kueue
    install_tool "$REGISTRY_BIN" registry "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION"
    ;;
  *) die "unknown target $what" ;;
esac
