#!/usr/bin/env bash
# Stops exactly what cluster-up started, by the pids it recorded, and removes the run state.
# The real node's containers are stopped through containerd first, so no pod outlives the cluster.
# Harmless when nothing is running.
set -uo pipefail
. "$(dirname "$0")/env.sh"

PIDS=$LV_RUN/pids
CONTAINERD_SOCK=$LV_RUN/containerd/containerd.sock
BRIDGE=lvbr0

# A pid is ours only if its process still runs the binary we started; a recycled pid is left alone.
owned_pid() { # <name> -> prints the pid when it is still ours
  local pidfile=$PIDS/$1.pid pid exe
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ "$(basename "$exe")" = "$(expected_binary "$1")" ] && echo "$pid"
}
expected_binary() { case $1 in apiserver-bridge) echo socat ;; *) echo "$1" ;; esac; }

stop() { # <grace seconds> <name>...: all at once, then waits for each; SIGKILL after the grace period
  local grace=$1 name pid t0=$SECONDS; shift
  local -A pids=()
  for name in "$@"; do
    if pid=$(owned_pid "$name"); then kill -TERM "$pid" 2>/dev/null; pids[$name]=$pid; fi
  done
  for name in "${!pids[@]}"; do
    pid=${pids[$name]}
    while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - t0)) -lt "$grace" ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null && log "killed $name ($pid) after ${grace}s"
  done
  for name in "$@"; do rm -f "$PIDS/$name.pid"; done
}

stop_containers() {
  [ -S "$CONTAINERD_SOCK" ] && owned_pid containerd >/dev/null || return 0
  local c=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
  local tasks; tasks=$("${c[@]}" tasks ls -q 2>/dev/null)
  for t in $tasks; do "${c[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  for t in $tasks; do "${c[@]}" tasks delete -f "$t" >/dev/null 2>&1; done
  for ctn in $("${c[@]}" containers ls -q 2>/dev/null); do "${c[@]}" containers delete "$ctn" >/dev/null 2>&1; done
}

unmount_run_state() {
  [ -d "$LV_RUN" ] || return 0
  # Deepest first: kubelet volume mounts, sandbox network namespaces, container root filesystems.
  findmnt -rn -o TARGET | grep -F "$LV_RUN/" | sort -r | while read -r target; do
    umount -l "$target" 2>/dev/null
  done
}

main() {
  # Consumers before what they consume: the node, then the controllers, then the API server, then etcd.
  stop 20 kubelet
  stop_containers
  stop 10 kube-proxy containerd local-path-provisioner kwok kube-scheduler kube-controller-manager apiserver-bridge
  # kube-proxy's iptables chains outlive it; --cleanup removes exactly those (and nothing when there are none).
  if [ -x "$K8S_BIN/kube-proxy" ] && iptables -t nat -S KUBE-SERVICES >/dev/null 2>&1; then
    "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1
  fi
  stop 15 kube-apiserver
  stop 10 etcd
  unmount_run_state
  ip link del "$BRIDGE" 2>/dev/null
  # The kubelet's pod cgroups outlive it; empty ones are removed so the next kubelet starts clean.
  for hierarchy in /sys/fs/cgroup/*/kubepods; do
    [ -d "$hierarchy" ] && find "$hierarchy" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$LV_RUN"
  return 0
}

main "$@"
