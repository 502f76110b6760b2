#!/usr/bin/env bash
# Stops exactly what cluster-up started, by the pids it recorded, and removes the run state.
# The real node's containers are stopped through containerd first, so no pod outlives the cluster; a container shim
# still running after containerd (they outlive it by design) is found by this run's containerd socket and killed.
# Harmless when nothing is running. Fails, naming them, when processes of the run are still there at the end.
set -uo pipefail
. "$(dirname "$0")/env.sh"
. "$(dirname "$0")/run-processes.sh"

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

# The real node's pods, in the kubelet's order: the pods' containers, then their sandbox (pause) containers. A pod's
# shim is asked to exit only when its sandbox's task is deleted, and ignores that while another of the pod's
# containers is still in it; deleting a container's task never asks again. Killing every task at once left running
# the shim of each pod whose sandbox's task happened to be deleted first.
stop_containers() {
  [ -S "$CONTAINERD_SOCK" ] && owned_pid containerd >/dev/null || return 0
  local ns sandbox cri_kind='labels."io.cri-containerd.kind"'
  for ns in $(ctr --address "$CONTAINERD_SOCK" namespaces ls -q 2>/dev/null); do
    local c=(ctr --address "$CONTAINERD_SOCK" -n "$ns")
    # shellcheck disable=SC2046 # container ids, one a word
    remove_containers "${c[@]}" -- $("${c[@]}" containers ls -q "$cri_kind==container" 2>/dev/null)
    # Then the sandboxes, and any container the kubelet did not make.
    # shellcheck disable=SC2046
    remove_containers "${c[@]}" -- $("${c[@]}" containers ls -q 2>/dev/null)
    # The sandboxes' records (kept in the image cache's metadata, which outlives the run).
    for sandbox in $("${c[@]}" sandboxes ls 2>/dev/null | awk 'NR > 1 { print $1 }'); do
      "${c[@]}" sandboxes rm -f "$sandbox" >/dev/null 2>&1
    done
  done
}

remove_containers() { # <ctr command...> -- <container id>...: kills their tasks, waits for them to go, deletes them
  local c=() id deadline=$((SECONDS + 10))
  while [ "$1" != -- ]; do c+=("$1"); shift; done; shift
  [ $# -gt 0 ] || return 0
  for id in "$@"; do "${c[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
  # The kubelet's runtime deletes an exited task too; whichever comes first, the task is gone from the shim after.
  for id in "$@"; do "${c[@]}" tasks delete -f "$id" >/dev/null 2>&1; done
  while "${c[@]}" tasks ls -q 2>/dev/null | grep -qxF -f <(printf '%s\n' "$@") && [ $SECONDS -lt $deadline ]; do
    sleep 0.1
  done
  for id in "$@"; do "${c[@]}" containers delete "$id" >/dev/null 2>&1; done
}

# Shims of this run's containerd that are still running once it has stopped (a pod it could not remove), with the
# pods' processes under them: found by this run's containerd socket or state directory, never by name alone.
stop_shims() {
  local left=() pid deadline=$((SECONDS + 5))
  while read -r pid; do left+=("$pid"); done < <(run_shims)
  [ ${#left[@]} -gt 0 ] || return 0
  log "killing what containerd left running (its shims and their pods' processes): ${left[*]}"
  kill -KILL "${left[@]}" 2>/dev/null
  while [ -n "$(run_shims)" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
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
  stop_shims
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
  local left
  left=$(run_processes)
  if [ -n "$left" ]; then
    log "error: processes of the cluster still running after cluster-down:"
    ps -o pid,ppid,args -p "${left//$'\n'/,}" >&2
    return 1
  fi
  return 0
}

main "$@"
