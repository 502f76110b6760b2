/**
 * Operator benchmark: N films of M segments on the local cluster's kwok GPU pools, each segment "rendering" for
 * a second. Prints figures last: hand-off latency, throughput, API requests per segment, peak memory, and the
 * time a restarted operator takes to be ready and to have looked at every film again.
 *
 * Workspaces are statically provisioned PersistentVolumes bound in advance (`workspace-volumes.ts` says why).
 *
 * Environment: LV_BENCH_FILMS (200), LV_BENCH_SEGMENTS (20), LV_BENCH_CONCURRENCY (16), LV_BENCH_RUN_FOR (1s),
 * LV_BENCH_NODE_OPTIONS (the chart's nodeOptions).
 * `make bench` starts a cluster with LV_BENCH_NODES kwok nodes (100) and runs this.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { parse } from "yaml";
import { startOperator } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { kubectl } from "../support/kubectl.ts";
import { testKubeConfig } from "../support/test-kube-config.ts";
import { Scrape } from "./scrape.ts";
import { benchStorageClass, benchVolumeLabel, createWorkspaceVolumes } from "./workspace-volumes.ts";

const films = Number(process.env.LV_BENCH_FILMS ?? 200);
const segments = Number(process.env.LV_BENCH_SEGMENTS ?? 20);
const concurrency = process.env.LV_BENCH_CONCURRENCY ?? "16";
const runFor = process.env.LV_BENCH_RUN_FOR ?? "1s";
const namespace = "lv-bench";
const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const api = { group: "longvideo.dev", version: "v1alpha1", namespace, plural: "longvideos" };
const repoRoot = path.resolve(import.meta.dirname, "../..");
/** The operator's Node flags: the chart's (heap limits), unless LV_BENCH_NODE_OPTIONS says otherwise. */
const chartValues = parse(readFileSync(path.join(repoRoot, "charts/longvideo-operator/values.yaml"), "utf8")) as {
  nodeOptions?: string;
};
const nodeOptions = process.env.LV_BENCH_NODE_OPTIONS ?? chartValues.nodeOptions ?? "";

function rssMiB(pid: number | undefined, field: "VmRSS" | "VmHWM"): number {
  if (pid === undefined) return 0;
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  const kib = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return kib / 1024;
}

async function namespaceExists(): Promise<boolean> {
  return core.readNamespace({ name: namespace }).then(
    () => true,
    () => false,
  );
}

async function removeNamespace(): Promise<void> {
  if (!(await namespaceExists())) return;
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  const deadline = Date.now() + 10 * 60_000;
  while (await namespaceExists()) {
    if (Date.now() > deadline) throw new Error(`namespace ${namespace} still terminating after 10 minutes`);
    await sleep(1_000);
  }
}

async function succeeded(names: ReadonlySet<string>): Promise<number> {
  const list = (await custom.listNamespacedCustomObject(api)) as {
    items: { metadata: { name: string }; status?: { phase?: string } }[];
  };
  return list.items.filter((f) => names.has(f.metadata.name) && f.status?.phase === "Succeeded").length;
}

interface Phase {
  readonly films: number;
  readonly wall: number;
  readonly peakRss: number;
  readonly peakHeap: number;
}

/** Creates `count` films of `segments` segments named `<prefix>-<i>` and waits until every one has succeeded. */
async function renderFilms(operator: OperatorProcess, prefix: string, count: number): Promise<Phase> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${String(i)}`);
  createWorkspaceVolumes(namespace, names);
  const started = performance.now();
  for (let i = 0; i < count; i += 20) {
    await Promise.all(
      names.slice(i, i + 20).map((name, j) =>
        custom.createNamespacedCustomObject({
          ...api,
          body: {
            apiVersion: "longvideo.dev/v1alpha1",
            kind: "LongVideo",
            metadata: { name },
            spec: {
              referenceImage: { url: "https://images.example.com/first-frame.png" },
              storyline: [{ prompt: `bench film ${name}`, clips: segments }],
              render: { backend: "animatic" },
              gpu: {
                nodeSelector: { "longvideo.dev/pool": (i + j) % 2 ? "a100" : "h100" },
                tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
              },
              podMetadata: { annotations: { "sim.longvideo.dev/run-for": runFor } },
              storage: { workspace: { accessMode: "ReadWriteMany", storageClassName: benchStorageClass } },
            },
          },
        }),
      ),
    );
  }
  let peakRss = 0;
  let peakHeap = 0;
  let done = 0;
  const wanted = new Set(names);
  const deadline = Date.now() + 30 * 60_000;
  while (done < count) {
    if (Date.now() > deadline) throw new Error(`only ${String(done)} of ${String(count)} films finished in 30 minutes`);
    await sleep(1_000);
    peakRss = Math.max(peakRss, rssMiB(operator.child.pid, "VmRSS"));
    // The V8 heap beside the RSS says whether memory is held by live objects or by code and the runtime.
    const sample = new Scrape((await operator.get("/metrics")).text);
    peakHeap = Math.max(peakHeap, sample.sum("nodejs_heap_size_used_bytes") / 2 ** 20);
    done = await succeeded(wanted);
  }
  return { films: count, wall: (performance.now() - started) / 1000, peakRss, peakHeap };
}

/** The figures of one phase: the metrics scraped after it, less those scraped before it. */
function report(title: string, phase: Phase, after: Scrape, before?: Scrape): void {
  const total = phase.films * segments;
  const ms = (seconds: number) => `${(seconds * 1000).toFixed(0)} ms`;
  const quantiles = (name: string, matcher = "") =>
    `${ms(after.quantile(name, 0.5, matcher, before))} / ${ms(after.quantile(name, 0.99, matcher, before))}`;
  const byResult = ["success", "requeue", "requeue_after", "error"]
    .map((r) => `${r} ${String(after.sum("controller_runtime_reconcile_total", `result="${r}"`, before))}`)
    .join(", ");
  const reconciles = after.sum("controller_runtime_reconcile_total", "", before);
  console.log(`\n${title}: ${String(phase.films)} film(s) x ${String(segments)} segments, run-for ${runFor}`);
  console.log(`  wall time                   ${phase.wall.toFixed(1)} s`);
  console.log(`  segments per second         ${(total / phase.wall).toFixed(2)}`);
  console.log(`  hand-off latency p50 / p99  ${quantiles("longvideo_handoff_latency_seconds")}`);
  console.log(`  queue wait p50 / p99        ${quantiles("workqueue_queue_duration_seconds")}`);
  console.log(
    `    hand-off lane / routine    ${quantiles("workqueue_queue_duration_seconds", 'priority="handoff"')}; ` +
      quantiles("workqueue_queue_duration_seconds", 'priority="routine"'),
  );
  console.log(`  reconcile time p50 / p99    ${quantiles("controller_runtime_reconcile_time_seconds")}`);
  console.log(`  API POST p50 / p99          ${quantiles("rest_client_request_duration_seconds", 'verb="POST"')}`);
  console.log(`  API PATCH p50 / p99         ${quantiles("rest_client_request_duration_seconds", 'verb="PATCH"')}`);
  console.log(`  reconciles per segment      ${(reconciles / total).toFixed(2)} (${byResult})`);
  console.log(
    `  API requests per segment    ${(after.sum("rest_client_requests_total", "", before) / total).toFixed(2)}`,
  );
  console.log(`  operator peak RSS           ${phase.peakRss.toFixed(0)} MiB`);
  console.log(`  operator peak V8 heap used  ${phase.peakHeap.toFixed(0)} MiB`);
}

async function main(): Promise<void> {
  kubectl(
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    path.resolve(import.meta.dirname, "../../crds/longvideo.dev_longvideos.yaml"),
  );
  kubectl("wait", "--for=condition=Established", "crd/longvideos.longvideo.dev", "--timeout=60s");
  const env = {
    LV_CONCURRENCY: concurrency,
    LV_LOG_LEVEL: "warn",
    NODE_OPTIONS: nodeOptions,
  };
  // The operator runs as its image runs it: compiled JavaScript (running the TypeScript source would add Node's
  // type stripping to its memory and start-up).
  const dist = path.join(repoRoot, ".cache/bench/dist");
  execFileSync(
    path.join(repoRoot, "node_modules/.bin/tsc"),
    ["-p", path.join(repoRoot, "tsconfig.build.json"), "--outDir", dist],
    { stdio: "inherit" },
  );
  const entry = path.join(dist, "main.js");
  let operator: OperatorProcess = await startOperator({ identity: "bench-a", leaseNamespace: "default", env, entry });
  let stopping = false;
  process.on("exit", () => {
    if (!stopping && (operator.child.exitCode !== null || operator.child.signalCode !== null)) {
      console.error(`the operator exited early; its last output:\n${operator.logs().slice(-3000)}`);
    }
  });
  // Films left by an interrupted run would be finalized during the measurement: remove them first.
  await removeNamespace();
  kubectl("delete", "persistentvolumes", "-l", benchVolumeLabel, "--wait=true");
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const idleRss = rssMiB(operator.child.pid, "VmRSS");

  // Baseline, same cluster, same run: one film alone shows what a hand-off costs when nothing else is going on.
  const solo = await renderFilms(operator, "solo", 1);
  const afterSolo = new Scrape((await operator.get("/metrics")).text);
  const load = await renderFilms(operator, "film", films);
  const afterLoad = new Scrape((await operator.get("/metrics")).text);
  const peakRss = Math.max(load.peakRss, rssMiB(operator.child.pid, "VmHWM"));

  // Restart: how long until a fresh replica has synced its caches and looked at every film again.
  stopping = true;
  await operator.stop("SIGTERM");
  stopping = false;
  const restarted = performance.now();
  operator = await startOperator({ identity: "bench-b", leaseNamespace: "default", env, entry });
  while ((await operator.get("/readyz")).status !== 200) await sleep(50);
  const ready = (performance.now() - restarted) / 1000;
  const reconciled = async () =>
    new Scrape((await operator.get("/metrics")).text).sum("controller_runtime_reconcile_total");
  while ((await reconciled()) < films + 1) await sleep(100);
  const resynced = (performance.now() - restarted) / 1000;
  // The films' finalizers need a running operator: delete while it still serves them, so the next run starts clean.
  await removeNamespace();
  kubectl("delete", "persistentvolumes", "-l", benchVolumeLabel, "--wait=false");
  stopping = true;
  await operator.stop();

  console.log(
    `\noperator benchmark (concurrency ${concurrency}, NODE_OPTIONS "${nodeOptions}"; API requests are the operator's own)`,
  );
  report("baseline, one film alone", solo, afterSolo);
  report("load", { ...load, peakRss }, afterLoad, afterSolo);
  const ratio = (name: string, q: number) =>
    (afterLoad.quantile(name, q, "", afterSolo) / afterSolo.quantile(name, q)).toFixed(1);
  console.log(`\nsummary`);
  console.log(
    `  hand-off p50 / p99 under load  ${(afterLoad.quantile("longvideo_handoff_latency_seconds", 0.5, "", afterSolo) * 1000).toFixed(0)} ms / ${(afterLoad.quantile("longvideo_handoff_latency_seconds", 0.99, "", afterSolo) * 1000).toFixed(0)} ms (target p99 < 100 ms; x${ratio("longvideo_handoff_latency_seconds", 0.5)} / x${ratio("longvideo_handoff_latency_seconds", 0.99)} the lone film's)`,
  );
  console.log(
    `  segments per second            ${((films * segments) / load.wall).toFixed(1)} (lone film ${(segments / solo.wall).toFixed(2)})`,
  );
  console.log(
    `  operator RSS idle / peak       ${idleRss.toFixed(0)} MiB / ${peakRss.toFixed(0)} MiB (target < 150 MB); V8 heap used at most ${load.peakHeap.toFixed(0)} MiB`,
  );
  console.log(`  restart: ready / resynced      ${ready.toFixed(2)} s / ${resynced.toFixed(2)} s`);
}

await main();
