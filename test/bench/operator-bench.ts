/**
 * Operator benchmark: N films of M segments on the local cluster's kwok GPU pools, each segment "rendering" for
 * a second. Prints figures last: hand-off latency, throughput, API requests per segment, peak memory, and the
 * time a restarted operator takes to be ready and to have looked at every film again.
 *
 * Environment: LV_BENCH_FILMS (200), LV_BENCH_SEGMENTS (20), LV_BENCH_CONCURRENCY (16), LV_BENCH_RUN_FOR (1s).
 * `make bench` starts a cluster with LV_BENCH_NODES kwok nodes (100) and runs this.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { startOperator } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { localClusterKubeconfig, testKubeConfig } from "../support/test-kube-config.ts";

const films = Number(process.env.LV_BENCH_FILMS ?? 200);
const segments = Number(process.env.LV_BENCH_SEGMENTS ?? 20);
const concurrency = process.env.LV_BENCH_CONCURRENCY ?? "16";
const runFor = process.env.LV_BENCH_RUN_FOR ?? "1s";
const namespace = "lv-bench";
const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const api = { group: "longvideo.dev", version: "v1alpha1", namespace, plural: "longvideos" };

function kubectl(...args: string[]): void {
  execFileSync("kubectl", args, {
    env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig },
    stdio: "pipe",
  });
}

function rssMiB(pid: number | undefined, field: "VmRSS" | "VmHWM"): number {
  if (pid === undefined) return 0;
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  const kib = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return kib / 1024;
}

/** Sum of one metric's samples in Prometheus text, over the series whose labels include `matcher`. */
function metricSum(text: string, name: string, matcher = ""): number {
  return text
    .split("\n")
    .filter((line) => (line.startsWith(`${name}{`) && line.includes(matcher)) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/**
 * A quantile from a Prometheus histogram's cumulative buckets, interpolated linearly as Prometheus does, over the
 * series whose labels include `matcher` (e.g. `verb="POST"`), summed per bucket.
 */
function histogramQuantile(text: string, name: string, q: number, matcher = ""): number {
  const counts = new Map<number, number>();
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\S+)$`, "gm"))) {
    const labels = m[1] ?? "";
    const le = /le="([^"]+)"/.exec(labels)?.[1];
    if (le === undefined || !labels.includes(matcher)) continue;
    const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le);
    counts.set(bound, (counts.get(bound) ?? 0) + Number(m[2]));
  }
  const buckets = [...counts].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (!Number.isFinite(bucket.le)) return lower;
      return lower + ((bucket.le - lower) * (rank - below)) / Math.max(1, bucket.count - below);
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return lower;
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

async function succeeded(): Promise<number> {
  const list = (await custom.listNamespacedCustomObject(api)) as { items: { status?: { phase?: string } }[] };
  return list.items.filter((f) => f.status?.phase === "Succeeded").length;
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
    ...(process.env.LV_BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.LV_BENCH_NODE_OPTIONS } : {}),
  };
  let operator: OperatorProcess = await startOperator({ identity: "bench-a", leaseNamespace: "default", env });
  let stopping = false;
  process.on("exit", () => {
    if (!stopping && (operator.child.exitCode !== null || operator.child.signalCode !== null)) {
      console.error(`the operator exited early; its last output:\n${operator.logs().slice(-3000)}`);
    }
  });
  // Films left by an interrupted run would be finalized during the measurement: remove them first.
  await removeNamespace();
  await core.createNamespace({ body: { metadata: { name: namespace } } });

  const started = performance.now();
  for (let i = 0; i < films; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, films - i) }, (_, j) =>
        custom.createNamespacedCustomObject({
          ...api,
          body: {
            apiVersion: "longvideo.dev/v1alpha1",
            kind: "LongVideo",
            metadata: { name: `film-${String(i + j)}` },
            spec: {
              referenceImage: { url: "https://images.example.com/first-frame.png" },
              storyline: [{ prompt: `bench film ${String(i + j)}`, clips: segments }],
              render: { backend: "animatic" },
              gpu: {
                nodeSelector: { "longvideo.dev/pool": (i + j) % 2 ? "a100" : "h100" },
                tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
              },
              podMetadata: { annotations: { "sim.longvideo.dev/run-for": runFor } },
              storage: { workspace: { accessMode: "ReadWriteMany" } },
            },
          },
        }),
      ),
    );
  }
  let peakRss = 0;
  let peakHeap = 0;
  let done = 0;
  const deadline = Date.now() + 30 * 60_000;
  while (done < films) {
    if (Date.now() > deadline) throw new Error(`only ${String(done)} of ${String(films)} films finished in 30 minutes`);
    await sleep(1_000);
    peakRss = Math.max(peakRss, rssMiB(operator.child.pid, "VmRSS"));
    // The V8 heap beside the RSS says whether memory is held by live objects or by code and the runtime.
    const sample = (await operator.get("/metrics")).text;
    peakHeap = Math.max(peakHeap, metricSum(sample, "nodejs_heap_size_used_bytes") / 2 ** 20);
    done = await succeeded();
  }
  const wall = (performance.now() - started) / 1000;
  peakRss = Math.max(peakRss, rssMiB(operator.child.pid, "VmHWM"));
  const metrics = (await operator.get("/metrics")).text;
  const requests = metricSum(metrics, "rest_client_requests_total");
  const p50 = histogramQuantile(metrics, "longvideo_handoff_latency_seconds", 0.5);
  const p99 = histogramQuantile(metrics, "longvideo_handoff_latency_seconds", 0.99);
  // Where a hand-off's time goes: waiting in the work queue, then the reconcile itself (API round trips).
  const queued = [0.5, 0.99].map((q) => histogramQuantile(metrics, "workqueue_queue_duration_seconds", q) * 1000);
  const reconciling = [0.5, 0.99].map(
    (q) => histogramQuantile(metrics, "controller_runtime_reconcile_time_seconds", q) * 1000,
  );
  const reconciles = metricSum(metrics, "controller_runtime_reconcile_total");
  const apiLatency = (verb: string) =>
    [0.5, 0.99]
      .map((q) => histogramQuantile(metrics, "rest_client_request_duration_seconds", q, `verb="${verb}"`) * 1000)
      .map((ms) => ms.toFixed(0))
      .join(" ms / ");

  // Restart: how long until a fresh replica has synced its caches and looked at every film again.
  stopping = true;
  await operator.stop("SIGTERM");
  stopping = false;
  const restarted = performance.now();
  operator = await startOperator({ identity: "bench-b", leaseNamespace: "default", env });
  while ((await operator.get("/readyz")).status !== 200) await sleep(50);
  const ready = (performance.now() - restarted) / 1000;
  while (metricSum((await operator.get("/metrics")).text, "controller_runtime_reconcile_total") < films)
    await sleep(100);
  const resynced = (performance.now() - restarted) / 1000;
  // The films' finalizers need a running operator: delete while it still serves them, so the next run starts clean.
  await removeNamespace();
  stopping = true;
  await operator.stop();

  const total = films * segments;
  console.log(
    `\noperator benchmark: ${String(films)} films x ${String(segments)} segments, run-for ${runFor}, concurrency ${concurrency}`,
  );
  console.log(`  wall time                   ${wall.toFixed(1)} s`);
  console.log(`  segments per second         ${(total / wall).toFixed(1)}`);
  console.log(
    `  hand-off latency p50 / p99  ${(p50 * 1000).toFixed(0)} ms / ${(p99 * 1000).toFixed(0)} ms (target p99 < 100 ms)`,
  );
  console.log(`  queue wait p50 / p99        ${queued.map((ms) => ms.toFixed(0)).join(" ms / ")} ms`);
  console.log(`  reconcile time p50 / p99    ${reconciling.map((ms) => ms.toFixed(0)).join(" ms / ")} ms`);
  const byResult = ["success", "requeue", "requeue_after", "error"]
    .map(
      (result) => `${result} ${String(metricSum(metrics, "controller_runtime_reconcile_total", `result="${result}"`))}`,
    )
    .join(", ");
  console.log(`  reconciles per segment      ${(reconciles / total).toFixed(2)} (${byResult})`);
  console.log(`  API latency POST p50 / p99  ${apiLatency("POST")} ms`);
  console.log(`  API latency PATCH p50 / p99 ${apiLatency("PATCH")} ms`);
  console.log(`  API requests per segment    ${(requests / total).toFixed(2)}`);
  console.log(`  operator peak RSS           ${peakRss.toFixed(0)} MiB (target < 150 MB)`);
  console.log(`  operator peak V8 heap used  ${peakHeap.toFixed(0)} MiB`);
  console.log(`  restart: ready / resynced   ${ready.toFixed(2)} s / ${resynced.toFixed(2)} s`);
}

await main();
