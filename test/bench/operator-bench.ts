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

/** Sum of one metric's samples in Prometheus text. */
function metricSum(text: string, name: string): number {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/** A quantile from a Prometheus histogram's cumulative buckets, interpolated linearly as Prometheus does. */
function histogramQuantile(text: string, name: string, q: number): number {
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, "gm"))].map((m) => ({
    le: m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]),
    count: Number(m[2]),
  }));
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
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => undefined);
  const env = { LV_CONCURRENCY: concurrency, LV_LOG_LEVEL: "warn" };
  let operator: OperatorProcess = await startOperator({ identity: "bench-a", leaseNamespace: namespace, env });

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
  let done = 0;
  const deadline = Date.now() + 30 * 60_000;
  while (done < films) {
    if (Date.now() > deadline) throw new Error(`only ${String(done)} of ${String(films)} films finished in 30 minutes`);
    await sleep(1_000);
    peakRss = Math.max(peakRss, rssMiB(operator.child.pid, "VmRSS"));
    done = await succeeded();
  }
  const wall = (performance.now() - started) / 1000;
  peakRss = Math.max(peakRss, rssMiB(operator.child.pid, "VmHWM"));
  const metrics = (await operator.get("/metrics")).text;
  const requests = metricSum(metrics, "rest_client_requests_total");
  const p50 = histogramQuantile(metrics, "longvideo_handoff_latency_seconds", 0.5);
  const p99 = histogramQuantile(metrics, "longvideo_handoff_latency_seconds", 0.99);

  // Restart: how long until a fresh replica has synced its caches and looked at every film again.
  await operator.stop("SIGTERM");
  const restarted = performance.now();
  operator = await startOperator({ identity: "bench-b", leaseNamespace: namespace, env });
  while ((await operator.get("/readyz")).status !== 200) await sleep(50);
  const ready = (performance.now() - restarted) / 1000;
  while (metricSum((await operator.get("/metrics")).text, "controller_runtime_reconcile_total") < films)
    await sleep(100);
  const resynced = (performance.now() - restarted) / 1000;
  await operator.stop();
  await core.deleteNamespace({ name: namespace });

  const total = films * segments;
  console.log(
    `\noperator benchmark: ${String(films)} films x ${String(segments)} segments, run-for ${runFor}, concurrency ${concurrency}`,
  );
  console.log(`  wall time                   ${wall.toFixed(1)} s`);
  console.log(`  segments per second         ${(total / wall).toFixed(1)}`);
  console.log(
    `  hand-off latency p50 / p99  ${(p50 * 1000).toFixed(0)} ms / ${(p99 * 1000).toFixed(0)} ms (target p99 < 100 ms)`,
  );
  console.log(`  API requests per segment    ${(requests / total).toFixed(2)}`);
  console.log(`  operator peak RSS           ${peakRss.toFixed(0)} MiB (target < 150 MB)`);
  console.log(`  restart: ready / resynced   ${ready.toFixed(2)} s / ${resynced.toFixed(2)} s`);
}

await main();
