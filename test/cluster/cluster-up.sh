#!/usr/bin/env bash
# Starts the local cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok with GPU node pools,
# a real node (containerd + runc + kubelet + bridge CNI) and a ReadWriteMany local-path storage class.
# Every process runs on loopback with its log under .cache/cluster/ and its pid under .cache/cluster/pids/,
# which is exactly what cluster-down stops. Running it again while the cluster is up only checks it.
#
# Environment: LV_KWOK_NODES_PER_POOL (default 4), LV_REAL_NODE (default 1; 0 skips the kubelet node),
# LV_PLAIN_HTTP_REGISTRIES (host:port ..., default 127.0.0.1:$LV_REGISTRY_PORT): registries the real node's
# containerd pulls from over plain HTTP.
set -euo pipefail
. "$(dirname "$0")/env.sh"

NODES_PER_POOL=${LV_KWOK_NODES_PER_POOL:-4}
REAL_NODE=${LV_REAL_NODE:-1}
REAL_NODE_NAME=lv-local
ETCD_PORT=${LV_ETCD_PORT:-23790}
APISERVER_PORT=${LV_APISERVER_PORT:-6443}
POD_CIDR=10.88.0.0/16
BRIDGE=lvbr0
BRIDGE_IP=10.88.0.1
SERVICE_CIDR=10.0.0.0/24

PKI=$LV_RUN/pki
PIDS=$LV_RUN/pids
KUBECONFIG_ADMIN=$LV_RUN/kubeconfig
CONTAINERD_SOCK=$LV_RUN/containerd/containerd.sock
# Images outlive the cluster: containerd's content store and snapshots live in the user-level cache.
CONTAINERD_ROOT=$LV_CACHE/containerd/root
export KUBECONFIG=$KUBECONFIG_ADMIN
start_seconds=$SECONDS

is_running() { # <name>
  local pidfile=$PIDS/$1.pid
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() { # <name> <binary> [args...]: runs in its own session so cluster-down can stop it by pid
  local name=$1; shift
  if is_running "$name"; then return 0; fi
  mkdir -p "$PIDS"
  setsid "$@" >>"$LV_RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

wait_for() { # <description> <timeout seconds> <command...>
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then die "timed out after ${timeout}s waiting for $what (logs in $LV_RUN)"; fi
    sleep 0.2
  done
}

kubectl_admin() { kubectl --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# --- certificates -------------------------------------------------------------------------------------------
make_cert() { # <name> <subject> [subjectAltNames]
  local name=$1 subject=$2 san=${3:-}
  [ -f "$PKI/$name.crt" ] && return 0
  openssl ecparam -genkey -name prime256v1 -noout -out "$PKI/$name.key" 2>/dev/null
  local ext; ext=$(mktemp)
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
    else echo "extendedKeyUsage=clientAuth"; fi; } >"$ext"
  openssl req -new -key "$PKI/$name.key" -subj "$subject" 2>/dev/null |
    openssl x509 -req -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 -extfile "$ext" \
      -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$ext"
}

make_pki() {
  mkdir -p "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl ecparam -genkey -name prime256v1 -noout -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=longvideo-local-ca" -days 3650 -out "$PKI/ca.crt" 2>/dev/null
  fi
  make_cert apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:$BRIDGE_IP,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  make_cert admin "/O=system:masters/CN=longvideo-admin"
  make_cert controller-manager "/CN=system:kube-controller-manager"
  make_cert scheduler "/CN=system:kube-scheduler"
  make_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  make_cert kubelet "/O=system:nodes/CN=system:node:$REAL_NODE_NAME"
  make_cert kube-proxy "/CN=system:kube-proxy"
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
}

write_kubeconfig() { # <file> <cert name>
  local file=$1 cert=$2
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: longvideo-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $cert
  user:
    client-certificate: $PKI/$cert.crt
    client-key: $PKI/$cert.key
contexts:
- name: longvideo-local
  context: { cluster: longvideo-local, user: $cert }
current-context: longvideo-local
EOF
}

# --- control plane ------------------------------------------------------------------------------------------
start_control_plane() {
  start etcd "$ETCD_BIN/etcd" --name lv --data-dir "$LV_RUN/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "lv=http://127.0.0.1:$((ETCD_PORT + 1))" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  # People and tools reach the API server on loopback; pods reach it on the bridge address, which is what the
  # `kubernetes` Service advertises (see start_bridge). It never listens on an outside interface.
  start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 --advertise-address "$BRIDGE_IP" \
    --secure-port "$APISERVER_PORT" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --endpoint-reconciler-type lease --profiling=false --v=1
  wait_for kube-apiserver 120 kubectl_admin get --raw /readyz

  # Every segment is a Job: the job controller creates its pod, tracks it with a finalizer and writes the Job's
  # status several times. At the default client rate (20 requests/s) and 5 job workers it capped a 200-film
  # benchmark at about 3 segments/s with Jobs waiting a minute for their pod; production clusters raise these too.
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$LV_RUN/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$LV_RUN/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$LV_RUN/controller-manager.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 10257 \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --controllers '*,-node-ipam-controller,-cloud-node-lifecycle-controller,-service-lb-controller' \
    --kube-api-qps 200 --kube-api-burst 400 --concurrent-job-syncs 50 --v=1
  start kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$LV_RUN/scheduler.kubeconfig" \
    --authentication-kubeconfig "$LV_RUN/scheduler.kubeconfig" \
    --authorization-kubeconfig "$LV_RUN/scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259 --v=1
  wait_for "the default service account" 60 kubectl_admin -n default get serviceaccount default
}

# --- kwok GPU pools -----------------------------------------------------------------------------------------
gpu_pool_nodes() { # <pool> <product> <count>
  local pool=$1 product=$2 count=$3 i
  for ((i = 0; i < count; i++)); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-$pool-$i
  annotations: { kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0" }
  labels:
    kubernetes.io/hostname: kwok-$pool-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    longvideo.dev/pool: $pool
    nvidia.com/gpu.product: $product
    nvidia.com/gpu.count: "8"
spec:
  taints: [{ key: nvidia.com/gpu, value: present, effect: NoSchedule }]
status:
  capacity: { cpu: "96", memory: 1Ti, pods: "110", ephemeral-storage: 1Ti, nvidia.com/gpu: "8" }
  allocatable: { cpu: "96", memory: 1Ti, pods: "110", ephemeral-storage: 1Ti, nvidia.com/gpu: "8" }
EOF
  done
}

start_kwok() {
  start kwok "$KWOK_BIN/kwok" --kubeconfig "$KUBECONFIG_ADMIN" --config "$LV_ROOT/test/cluster/kwok-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --cidr 10.244.0.1/16 --node-lease-duration-seconds 40 --server-address 127.0.0.1:10247
  { gpu_pool_nodes h100 NVIDIA-H100-80GB-HBM3 "$NODES_PER_POOL"; gpu_pool_nodes a100 NVIDIA-A100-SXM4-80GB "$NODES_PER_POOL"; } |
    kubectl_admin apply --server-side --field-manager longvideo-cluster-up -f - >/dev/null
  # kwok owns node status, so a pool is up when every node in it reports Ready.
  local want=$((NODES_PER_POOL * 2))
  wait_for "$want kwok nodes Ready" 300 bash -c "[ \"\$(kubectl --kubeconfig '$KUBECONFIG_ADMIN' get nodes -l type=kwok \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}' | grep -c True)\" -ge $want ]"
}

# --- the pod network ----------------------------------------------------------------------------------------
# The cluster's own bridge: pods live in network namespaces behind it, and the host's end of it is the real node's
# address (a kubelet refuses a loopback node IP). Made here, not by the CNI plugin, so the API server can be
# forwarded onto it before the first pod exists; the CNI bridge plugin adopts it.
start_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_IP/16" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  start apiserver-bridge socat "TCP-LISTEN:$APISERVER_PORT,bind=$BRIDGE_IP,reuseaddr,fork" "TCP:127.0.0.1:$APISERVER_PORT"
}

# --- the real node ------------------------------------------------------------------------------------------
write_containerd_config() {
  mkdir -p "$LV_RUN/containerd" "$LV_RUN/cni/net.d" "$CONTAINERD_ROOT"
  cat >"$LV_RUN/containerd/config.toml" <<EOF
version = 3
root = "$CONTAINERD_ROOT"
state = "$LV_RUN/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  # The cluster's own images are imported (localhost/longvideo/...): the sandbox image is the project's pause image.
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "localhost/longvideo/pause:1"
  # Anything else is pulled; how each registry host is reached is in its hosts.toml (write_registry_hosts).
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "$LV_RUN/containerd/certs.d"
[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  # This machine withholds CAP_SYS_RESOURCE, so no process may lower its OOM score below its parent's; the kubelet
  # asks for -998 on sandboxes. Clamping to containerd's own score keeps every other setting as Kubernetes asks.
  restrict_oom_score_adj = true
  # Sandbox network namespaces live in the run state, so cluster-down finds and removes every one.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$LV_RUN/cni/net.d"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      BinaryName = "/usr/sbin/runc"
      SystemdCgroup = false
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
  write_registry_hosts
  # The bridge gives pods their own network namespaces on the host. Their default route is the bridge, so Service
  # IPs (kube-proxy's DNAT on the host) reach the API server; pods need no traffic beyond this machine, so nothing
  # is masqueraded.
  cat >"$LV_RUN/cni/net.d/10-longvideo.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "longvideo",
  "plugins": [
    { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$BRIDGE_IP" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$LV_RUN/cni/ipam" } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

# One directory per registry host, which containerd reads at each pull (adding one needs no restart): the local
# registry speaks plain HTTP on loopback, and the node only pulls from it.
write_registry_hosts() {
  local host dir
  for host in ${LV_PLAIN_HTTP_REGISTRIES:-127.0.0.1:$LV_REGISTRY_PORT}; do
    dir=$LV_RUN/containerd/certs.d/$host
    mkdir -p "$dir"
    cat >"$dir/hosts.toml" <<EOF
server = "http://$host"

[host."http://$host"]
  capabilities = ["pull", "resolve"]
EOF
  done
}

start_real_node() {
  # kubelet wants shared mount propagation for volumes; the machine's root mount is private by default.
  mount --make-rshared / 2>/dev/null || true
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 2>/dev/null || sysctl -qw net.ipv4.ip_forward=1
  modprobe br_netfilter 2>/dev/null || true
  modprobe overlay 2>/dev/null || true
  write_containerd_config
  start containerd "$CONTAINERD_BIN/containerd" --config "$LV_RUN/containerd/config.toml"
  wait_for containerd 60 ctr --address "$CONTAINERD_SOCK" version
  # The images every cluster needs; the operator and runtime images are imported by the demo and e2e tests.
  bash "$LV_ROOT/test/images/load-images.sh" pause busybox

  local kdir=$LV_RUN/kubelet
  mkdir -p "$kdir" "$LV_RUN/pod-logs"
  cat >"$kdir/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $BRIDGE_IP
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: "$PKI/ca.crt" }
authorization: { mode: Webhook }
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
# The machine mounts cgroup v1 hierarchies; the kubelet refuses them unless told this is deliberate.
failCgroupV1: false
failSwapOn: false
# Without CAP_SYS_RESOURCE the kubelet cannot lower its own OOM score either (see restrict_oom_score_adj).
oomScoreAdj: 0
podLogsDir: $LV_RUN/pod-logs
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
maxPods: 110
serializeImagePulls: false
# A shared development machine: evict only when it is really out of room, and never collect imported images.
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
registerNode: true
# A crashed container comes back within 10 s however often it crashed (the default backoff grows to 5 minutes): the
# chaos suite SIGKILLs the leading operator a hundred times and needs its standby back before the next kill.
crashLoopBackOff: { maxContainerRestartPeriod: 10s }
nodeStatusReportFrequency: 10s
volumeStatsAggPeriod: 0s
EOF
  start kubelet "$K8S_BIN/kubelet" --config "$kdir/config.yaml" --kubeconfig "$LV_RUN/kubelet.kubeconfig" \
    --root-dir "$kdir/root" --hostname-override "$REAL_NODE_NAME" --node-ip "$BRIDGE_IP" \
    --node-labels "longvideo.dev/pool=local,node-role.longvideo.dev/real=" --v=1
  wait_for "node $REAL_NODE_NAME Ready" 120 bash -c "kubectl --kubeconfig '$KUBECONFIG_ADMIN' get node $REAL_NODE_NAME \
    -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -q True"
  # The node has no GPU; it advertises the extended resource so GPU-shaped pods schedule on it.
  kubectl_admin patch node "$REAL_NODE_NAME" --subresource=status --type=merge \
    -p '{"status":{"capacity":{"nvidia.com/gpu":"8"}}}' >/dev/null
  wait_for "nvidia.com/gpu allocatable on $REAL_NODE_NAME" 60 bash -c "kubectl --kubeconfig '$KUBECONFIG_ADMIN' get node \
    $REAL_NODE_NAME -o jsonpath='{.status.allocatable.nvidia\\.com/gpu}' | grep -q 8"
}

# kube-proxy makes Service IPs work for the real node's pods, above all the `kubernetes` Service that in-cluster
# clients (the operator installed by Helm) reach the API server through. iptables mode, as most clusters run it;
# cluster-down removes its rules with `kube-proxy --cleanup`.
start_kube_proxy() {
  cat >"$LV_RUN/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: "$LV_RUN/kube-proxy.kubeconfig" }
hostnameOverride: $REAL_NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the machine's conntrack table sizes alone: they are not this cluster's to change.
conntrack: { maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
  start kube-proxy "$K8S_BIN/kube-proxy" --config "$LV_RUN/kube-proxy.yaml" --v=1
  wait_for "kube-proxy rules for the kubernetes Service" 60 bash -c \
    "iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q 'default/kubernetes:https'"
}

# --- storage ------------------------------------------------------------------------------------------------
start_storage() {
  local dir=$LV_RUN/local-path
  mkdir -p "$dir" "$LV_RUN/storage"
  # Shared-filesystem mode: every node sees the same directory, so volumes carry no node affinity and
  # ReadWriteMany works across the real node and the kwok pools alike.
  cat >"$dir/config.json" <<EOF
{ "sharedFileSystemPath": "$LV_RUN/storage" }
EOF
  cat >"$dir/helper-pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: { name: helper-pod }
spec:
  # Volume directories are made on the one node that has a filesystem.
  nodeSelector: { longvideo.dev/pool: local }
  priorityClassName: system-node-critical
  containers:
  - name: helper-pod
    image: localhost/longvideo/busybox:bookworm
    imagePullPolicy: Never
EOF
  cat >"$dir/setup" <<'EOF'
#!/bin/sh
set -eu
mkdir -m 0777 -p "$VOL_DIR"
EOF
  cat >"$dir/teardown" <<'EOF'
#!/bin/sh
set -eu
rm -rf "$VOL_DIR"
EOF
  kubectl_admin apply --server-side --field-manager longvideo-cluster-up -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata: { name: local-path-storage }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: local-path-provisioner, namespace: local-path-storage }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: local-path-config, namespace: local-path-storage }
data:
  config.json: '{ "sharedFileSystemPath": "$LV_RUN/storage" }'
  setup: |
$(sed 's/^/    /' "$dir/setup")
  teardown: |
$(sed 's/^/    /' "$dir/teardown")
  helperPod.yaml: |
$(sed 's/^/    /' "$dir/helper-pod.yaml")
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
provisioner: rancher.io/local-path
# Bind at creation: the volume is reachable from every node, so there is no node to wait for.
volumeBindingMode: Immediate
reclaimPolicy: Delete
allowVolumeExpansion: false
EOF
  start local-path-provisioner "$LPP_BIN/local-path-provisioner" --debug start \
    --kubeconfig "$KUBECONFIG_ADMIN" --config "$dir/config.json" --namespace local-path-storage \
    --service-account-name local-path-provisioner --configmap-name local-path-config \
    --helper-image localhost/longvideo/busybox:bookworm --helper-pod-file "$dir/helper-pod.yaml"
}

main() {
  [ "$(id -u)" -eq 0 ] || die "the real node (kubelet, containerd, bridge networking) needs root"
  local needed=("$ETCD_BIN/etcd" "$K8S_BIN/kube-apiserver" "$KWOK_BIN/kwok")
  [ "$REAL_NODE" = 1 ] && needed+=("$K8S_BIN/kubelet" "$K8S_BIN/kube-proxy" "$CONTAINERD_BIN/containerd" "$LPP_BIN/local-path-provisioner")
  for b in "${needed[@]}"; do
    [ -x "$b" ] || die "$b is missing: run \`make binaries\` (or \`make cluster-up\`, which builds it)"
  done
  mkdir -p "$LV_RUN"
  make_pki
  write_kubeconfig "$KUBECONFIG_ADMIN" admin
  write_kubeconfig "$LV_RUN/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$LV_RUN/scheduler.kubeconfig" scheduler
  write_kubeconfig "$LV_RUN/kubelet.kubeconfig" kubelet
  write_kubeconfig "$LV_RUN/kube-proxy.kubeconfig" kube-proxy
  start_control_plane
  start_kwok
  if [ "$REAL_NODE" = 1 ]; then start_bridge; start_real_node; start_kube_proxy; start_storage; fi
  log "cluster up in $((SECONDS - start_seconds))s: KUBECONFIG=$KUBECONFIG_ADMIN"
}

main "$@"
