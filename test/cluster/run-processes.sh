# Finds the processes of this clone's cluster run, for cluster-down to stop its container shims and for the tests
# to check that nothing outlived cluster-down. Sourced after env.sh; reads /proc only. Safe under `set -e`:
# processes come and go while it reads.
#
# containerd starts a shim per pod as
#   containerd-shim-runc-v2 -namespace k8s.io -id <sandbox id> -address $LV_RUN/containerd/containerd.sock
# with its working directory the pod's bundle under $LV_RUN/containerd/state; it daemonizes (its parent is then
# PID 1, not containerd) and outlives containerd by design. The pod's containers are its children.
# shellcheck shell=bash

RUN_CONTAINERD_SOCK=$LV_RUN/containerd/containerd.sock

# True when <pid> is a process that still runs: a zombie (which `kill -0` still finds until PID 1 reaps it, and
# which the daemons cluster-up starts become when they exit) has nothing left to stop.
is_live() { # <pid>
  local state
  state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# This shell and the processes it runs under (the make recipe or test script that called it, which may well name
# the run state in its command line): never the run's, whatever their command lines say.
callers() {
  local pid=$BASHPID
  while [ -n "$pid" ] && [ "$pid" -gt 1 ]; do
    echo "$pid"
    pid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || return 0
  done
}

# The live processes on the machine other than this shell and its callers, one pid a line.
live_pids() {
  local dir pid
  local -A skip=()
  for pid in $$ $(callers); do skip[$pid]=1; done
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ -n "${skip[$pid]:-}" ] && continue
    is_live "$pid" && echo "$pid"
  done
}

# True when <pid> is a shim of this run's containerd: a containerd-shim binary started with `-address` this run's
# socket, or running in a bundle under this run's containerd state.
is_run_shim() { # <pid>
  local exe cwd
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  case ${exe##*/} in containerd-shim-*) ;; *) return 1 ;; esac
  cwd=$(readlink "/proc/$1/cwd" 2>/dev/null) || cwd=
  case $cwd in "$LV_RUN/containerd/state/"*) return 0 ;; esac
  tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | SOCK=$RUN_CONTAINERD_SOCK awk '
    previous == "-address" && $0 == ENVIRON["SOCK"] { found = 1 }
    { previous = $0 }
    END { exit !found }'
}

# Every descendant of <pid>, deepest first.
descendants() { # <pid>
  local child
  # shellcheck disable=SC2013 # the file holds pids separated by spaces
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    descendants "$child"
    echo "$child"
  done
}

# The shims of this run's containerd, each followed by its descendants (the pods' processes).
run_shims() {
  local pid
  for pid in $(live_pids); do
    is_run_shim "$pid" || continue
    echo "$pid"
    descendants "$pid"
  done
}

# Every process of this run: its shims and their descendants, and any process whose command line names the run
# state (etcd, the control plane, containerd, the kubelet, kwok, ...) or whose working directory is in it.
run_processes() {
  local pid cwd
  {
    run_shims
    for pid in $(live_pids); do
      cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || cwd=
      case $cwd/ in "$LV_RUN"/*) echo "$pid"; continue ;; esac
      tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$LV_RUN/" && echo "$pid"
    done
  } | awk '!seen[$0]++'
}
