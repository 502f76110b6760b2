#!/usr/bin/env bash
# Every test, in order from fast to real: static checks, unit tests, tests of the pinned tools, runtime tests, then
# integration tests on a local cluster that this script starts and always stops. Ends with one line counting every
# test that ran.
# `make test` installs what this needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/cluster/env.sh
. test/cluster/run-processes.sh
export PATH="$LV_ROOT/node_modules/.bin:$PATH"

results=$LV_ROOT/.cache/test-results
rm -rf "$results"; mkdir -p "$results"
current_step=""
step() { current_step=$*; log "== $*"; }
# CI shows only the tail of the output, so a failure ends with what failed: the step, then every failed test with
# the first lines of its error (from the vitest JSON reports). Full cluster logs stay in .cache/cluster/.
report_failure() {
  log "FAILED during: $current_step"
  node test/support/test-report.ts failures "$results" || true
}
trap 'status=$?; [ $status -eq 0 ] || report_failure; exit $status' EXIT

step "static checks: types, lint, formatting"
tsc --noEmit -p tsconfig.json
eslint --max-warnings 0 .
prettier --check . >/dev/null || { prettier --check .; exit 1; }
step "generated files are up to date"
npm run --silent generate:check

step "monitoring rules (promtool)"
promtool check rules charts/longvideo-operator/files/prometheus-rules.yaml
promtool test rules test/monitoring/prometheus-rules.test.yaml

step "unit tests"
vitest run --project unit --reporter=default --reporter=json --outputFile.json="$results/unit.json"

step "tool tests: the chart with the pinned helm, longvideo render with the runtime worker"
vitest run --project tools --reporter=default --reporter=json --outputFile.json="$results/tools.json"

if [ -x runtime-image/run-tests.sh ]; then
  step "runtime tests"
  LV_TEST_RESULTS=$results runtime-image/run-tests.sh
fi

step "integration tests on the local cluster"
cluster_pids=()
teardown() {
  local status=$?
  if [ $status -ne 0 ] && [ -d "$LV_RUN" ]; then
    for f in "$LV_RUN"/*.log; do echo "--- last lines of $f"; tail -n 8 "$f" | cut -c1-300; done >&2
  fi
  bash test/cluster/cluster-down.sh || { log "cluster-down failed"; status=1; }
  # Stopping a cluster that is not running is harmless.
  bash test/cluster/cluster-down.sh || { log "a second cluster-down failed"; status=1; }
  # Nothing the tests started may outlive them: no recorded pid, no container shim of this run's containerd (found
  # by its socket or state directory: see run-processes.sh) nor a pod's process under one, no process naming the
  # run state in its command line or working in it.
  local leaked=() pid
  for pid in "${cluster_pids[@]}"; do is_live "$pid" && leaked+=("$pid"); done
  while read -r pid; do leaked+=("$pid"); done < <(run_processes)
  if [ ${#leaked[@]} -gt 0 ]; then
    log "processes left running after cluster-down: ${leaked[*]}"
    ps -o pid,ppid,args -p "$(IFS=,; echo "${leaked[*]}")" >&2 || true
    status=1
  fi
  [ $status -eq 0 ] || report_failure
  exit $status
}
trap teardown EXIT
bash test/cluster/cluster-up.sh
for f in "$LV_RUN"/pids/*.pid; do cluster_pids+=("$(cat "$f")"); done
# Starting it again while it runs only checks it: same processes, nothing restarted.
bash test/cluster/cluster-up.sh
again=(); for f in "$LV_RUN"/pids/*.pid; do again+=("$(cat "$f")"); done
[ "${again[*]}" = "${cluster_pids[*]}" ] || { log "a second cluster-up changed the cluster's processes"; exit 1; }
KUBECONFIG=$LV_RUN/kubeconfig vitest run --project integration \
  --reporter=default --reporter=json --outputFile.json="$results/integration.json"

step "end-to-end tests: the chart, the operator and runtime images, a film on the real node, Prometheus"
KUBECONFIG=$LV_RUN/kubeconfig vitest run --project e2e \
  --reporter=default --reporter=json --outputFile.json="$results/e2e.json"

# One closing line for every suite that ran (vitest JSON reports, plus the runtime's count when present).
node test/support/test-report.ts summary "$results"
