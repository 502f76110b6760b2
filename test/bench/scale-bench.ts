/**
 * The operator's own cost at scale (issue 14), each figure printed beside its goal:
 * - memory: RSS of Node alone, after the operator's imports, idle, and peak with N live films of 50 segments
 *   (each has one segment running or waiting for a GPU and 49 to go: segments "render" for 30 minutes);
 * - work per segment: API requests and CPU milliseconds while M short films render to completion;
 * - recovery: after a SIGKILL with K live films, the time until a new replica is ready and has reconciled every film.
 *
 * The operator runs as shipped: compiled JavaScript with the chart's `nodeOptions`. Live films are created in
 * batches; if creating and settling them takes longer than the budget, creation stops and the figures are given at
 * the scale reached, which the table says.
 *
 * Environment: LV_SCALE_FILMS (2000), LV_SCALE_SEGMENTS (50), LV_SCALE_RESTART_FILMS (1000), LV_SCALE_SHORT_FILMS
 * (50), LV_SCALE_SHORT_SEGMENTS (10), LV_SCALE_BUDGET_MINUTES (12, for creating and settling the live films),
 * LV_BENCH_CONCURRENCY (16), LV_BENCH_NODE_OPTIONS (the chart's nodeOptions); LV_SCALE_ONLY_PER_SEGMENT=1 stops
 * after the work per segment (a few minutes instead of the better part of an hour); LV_SCALE_LOG_LEVEL (warn) and
 * LV_SCALE_LOG_FILE: the operator's log level, and a file its output is written to at the end.
 * `make bench-scale` starts a fresh cluster with LV_BENCH_NODES kwok nodes (100), runs this, and stops the cluster.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BatchV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { startOperator } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { kubectl } from "../support/kubectl.ts";
import { testKubeConfig } from "../support/test-kube-config.ts";
import { importFloorMiB, operatorNodeOptions } from "./import-floor.ts";
import { Scrape } from "./scrape.ts";
import { benchStorageClass, benchVolumeLabel, createWorkspaceVolumes } from "./workspace-volumes.ts";

const liveFilms = Number(process.env.LV_SCALE_FILMS ?? 2000);
const liveSegments = Number(process.env.LV_SCALE_SEGMENTS ?? 50);
const restartFilms = Math.min(liveFilms, Number(process.env.LV_SCALE_RESTART_FILMS ?? 1000));
const shortFilms = Number(process.env.LV_SCALE_SHORT_FILMS ?? 50);
const shortSegments = Number(process.env.LV_SCALE_SHORT_SEGMENTS ?? 10);
const budgetMs = Number(process.env.LV_SCALE_BUDGET_MINUTES ?? 12) * 60_000;
const concurrency = process.env.LV_BENCH_CONCURRENCY ?? "16";
const onlyPerSegment = process.env.LV_SCALE_ONLY_PER_SEGMENT === "1";
const liveNamespace = "lv-scale";
const shortNamespace = "lv-scale-short";
const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const films = { group: "longvideo.dev", version: "v1alpha1", plural: "longvideos" };
const repoRoot = path.resolve(import.meta.dirname, "../..");
const nodeOptions = operatorNodeOptions();
const mib = 2 ** 20;
const mb = 10 ** 6;

function memoryMiB(pid: number | undefined, field: "VmRSS" | "VmHWM"): number {
  if (pid === undefined) return 0;
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) / 1024;
}

/**
 * One of the operator's endpoints, retried: a busy process can reset a kept-alive connection the client was about
 * to reuse, which says nothing about the operator.
 */
async function endpoint(operator: OperatorProcess, pathname: string): Promise<{ status: number; text: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operator.get(pathname);
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(200);
    }
  }
}

async function scrape(operator: OperatorProcess): Promise<Scrape> {
  return new Scrape((await endpoint(operator, "/metrics")).text);
}

async function namespaceExists(name: string): Promise<boolean> {
  return core.readNamespace({ name }).then(
    () => true,
    () => false,
  );
}

/** Deletes a namespace and waits until it is gone (its films' finalizers need a running operator). */
async function removeNamespace(name: string): Promise<void> {
  if (!(await namespaceExists(name))) return;
  await core.deleteNamespace({ name }).catch(() => undefined);
  const deadline = Date.now() + 10 * 60_000;
  while (await namespaceExists(name)) {
    if (Date.now() > deadline) throw new Error(`namespace ${name} still terminating after 10 minutes`);
    await sleep(1_000);
  }
}

function filmBody(name: string, index: number, segments: number, runFor: string) {
  return {
    apiVersion: "longvideo.dev/v1alpha1",
    kind: "LongVideo",
    metadata: { name },
    spec: {
      referenceImage: { url: "https://images.example.com/first-frame.png" },
      storyline: [{ prompt: `scale film ${name}`, clips: segments }],
      render: { backend: "animatic" },
      gpu: {
        nodeSelector: { "longvideo.dev/pool": index % 2 ? "a100" : "h100" },
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      },
      podMetadata: { annotations: { "sim.longvideo.dev/run-for": runFor } },
      storage: { workspace: { accessMode: "ReadWriteMany", storageClassName: benchStorageClass } },
    },
  };
}

/** Creates films `<prefix>-<from>` .. `<prefix>-<to - 1>` with their volumes, 20 requests at a time. */
async function createFilms(
  namespace: string,
  prefix: string,
  from: number,
  to: number,
  segments: number,
  runFor: string,
): Promise<string[]> {
  const names = Array.from({ length: to - from }, (_, i) => `${prefix}-${String(from + i)}`);
  createWorkspaceVolumes(namespace, names);
  for (let i = 0; i < names.length; i += 20) {
    await Promise.all(
      names.slice(i, i + 20).map((name, j) =>
        custom.createNamespacedCustomObject({
          ...films,
          namespace,
          body: filmBody(name, from + i + j, segments, runFor),
        }),
      ),
    );
  }
  return names;
}

/** Jobs in a namespace, counted by the API server from a one-item page. */
async function jobCount(namespace: string): Promise<number> {
  const page = await batch.listNamespacedJob({ namespace, limit: 1 });
  return page.items.length + (page.metadata?.remainingItemCount ?? 0);
}

/** Peak memory of one operator process over calls to `sample`. */
class MemoryPeak {
  rss = 0;
  heap = 0;
  /** The V8 heap's committed size and the memory outside it (Buffers, undici's): RSS that is not heap in use. */
  heapCommitted = 0;
  external = 0;
  readonly operator: OperatorProcess;
  constructor(operator: OperatorProcess) {
    this.operator = operator;
  }
  async sample(): Promise<Scrape> {
    this.rss = Math.max(this.rss, memoryMiB(this.operator.child.pid, "VmRSS"));
    const now = await scrape(this.operator);
    this.heap = Math.max(this.heap, now.sum("nodejs_heap_size_used_bytes") / mib);
    this.heapCommitted = Math.max(this.heapCommitted, now.sum("nodejs_heap_size_total_bytes") / mib);
    this.external = Math.max(this.external, now.sum("nodejs_external_memory_bytes") / mib);
    return now;
  }
  /** The kernel's high-water mark catches what one-second samples miss. */
  highWater(): number {
    return Math.max(this.rss, memoryMiB(this.operator.child.pid, "VmHWM"));
  }
}

/**
 * Creates live films until `target` exist (or the budget ends), then waits until every one has its segment's Job
 * and the operator's queue is empty. Returns how many films exist and are settled.
 */
async function growLiveFilms(peak: MemoryPeak, from: number, target: number, deadline: number): Promise<number> {
  let created = from;
  while (created < target && Date.now() < deadline) {
    const to = Math.min(target, created + 100);
    await createFilms(liveNamespace, "live", created, to, liveSegments, "30m");
    created = to;
    await peak.sample();
  }
  // Settling is not cut short by the budget: a figure at the scale reached needs that scale settled.
  const settleDeadline = Math.max(deadline, Date.now()) + 3 * 60_000;
  for (;;) {
    const metrics = await peak.sample();
    const jobs = await jobCount(liveNamespace);
    if (jobs >= created && metrics.sum("workqueue_depth") === 0) return created;
    if (Date.now() > settleDeadline)
      throw new Error(`${String(jobs)} of ${String(created)} live films have a job after the settle deadline`);
    await sleep(1_000);
  }
}

/**
 * API requests per segment by method and resource, largest first, one line each: where a segment's requests go.
 * Watches are left out: they are the informers' long polls, not work a segment causes.
 */
function requestSplit(after: Scrape, before: Scrape, segments: number): string {
  const name = "rest_client_requests_total";
  const codes = after.labelValues(name, "code");
  const rows = ["GET", "POST", "PATCH", "PUT", "DELETE"].flatMap((method) =>
    after.labelValues(name, "resource").flatMap((resource) =>
      codes.map((code) => {
        const matches = (labels: string) =>
          labels.includes(`code="${code}"`) &&
          labels.includes(`method="${method}"`) &&
          labels.includes(`resource="${resource}"`);
        // Answers other than success are what a change to the operator could spare, so they show apart.
        const label = `${method} ${resource}${code.startsWith("2") ? "" : ` (${code})`}`;
        return { label, count: after.sumWhere(name, matches) - before.sumWhere(name, matches) };
      }),
    ),
  );
  const byLabel = new Map<string, number>();
  for (const row of rows) byLabel.set(row.label, (byLabel.get(row.label) ?? 0) + row.count);
  return [...byLabel]
    .map(([label, count]) => ({ label, count }))
    .filter((row) => row.count > 0)
    .sort((a, b) => b.count - a.count)
    .map((row) => `  ${row.label.padEnd(32)} ${(row.count / segments).toFixed(2)}`)
    .join("\n");
}

interface Row {
  readonly figure: string;
  readonly value: string;
  readonly goal: string;
  readonly met?: boolean;
  readonly why?: string;
}

async function main(): Promise<void> {
  kubectl(
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    path.resolve(import.meta.dirname, "../../crds/longvideo.dev_longvideos.yaml"),
  );
  // On a cluster just started the CRD may have no conditions yet, which `kubectl wait` takes for an error.
  for (let attempt = 1; ; attempt++) {
    try {
      kubectl("wait", "--for=condition=Established", "crd/longvideos.longvideo.dev", "--timeout=60s");
      break;
    } catch (error) {
      if (attempt >= 10) throw error;
      await sleep(1_000);
    }
  }
  const dist = path.join(repoRoot, ".cache/bench/dist");
  execFileSync(
    path.join(repoRoot, "node_modules/.bin/tsc"),
    ["-p", path.join(repoRoot, "tsconfig.build.json"), "--outDir", dist],
    { stdio: "inherit" },
  );
  const entry = path.join(dist, "main.js");
  // The chart's lease timings: the test harness's short ones made a replica starved by the burst of creation lose
  // its lease and exit.
  const env = {
    LV_CONCURRENCY: concurrency,
    LV_LOG_LEVEL: process.env.LV_SCALE_LOG_LEVEL ?? "warn",
    NODE_OPTIONS: nodeOptions,
    LV_LEASE_DURATION_SECONDS: "15",
    LV_RENEW_DEADLINE_SECONDS: "10",
    LV_RETRY_PERIOD_SECONDS: "2",
  };
  const floor = importFloorMiB(dist, nodeOptions);

  // The restart below reuses the identity: a container the kubelet restarts in place keeps its pod name, so the new
  // process renews its own lease at once instead of waiting out the lease of a holder that can no longer release it.
  const identity = "scale-a";
  let operator = await startOperator({ identity, leaseNamespace: "default", env, entry });
  let expectedExit = false;
  // A replica that exits on its own (a lost lease, a crash) ends the run at once: the figures would be meaningless.
  const failOnExit = (replica: OperatorProcess) =>
    replica.child.once("exit", (code, signal) => {
      if (expectedExit) return;
      console.error(
        `the operator exited (${String(code ?? signal)}); its last output:\n${replica.logs().slice(-3000)}`,
      );
      process.exit(1);
    });
  failOnExit(operator);
  while ((await endpoint(operator, "/readyz")).status !== 200) await sleep(100);
  await sleep(2_000);
  const idleRss = memoryMiB(operator.child.pid, "VmRSS");
  const idleHeap = (await scrape(operator)).sum("nodejs_heap_size_used_bytes") / mib;

  for (const namespace of [liveNamespace, shortNamespace]) await removeNamespace(namespace);
  kubectl("delete", "persistentvolumes", "-l", benchVolumeLabel, "--wait=true");
  for (const namespace of [liveNamespace, shortNamespace])
    await core.createNamespace({ body: { metadata: { name: namespace } } });

  // Work per segment: short films render to completion on an operator with nothing else to do.
  console.error(`[scale] ${String(shortFilms)} short films x ${String(shortSegments)} segments`);
  const beforeShort = await scrape(operator);
  const shortNames = new Set(await createFilms(shortNamespace, "short", 0, shortFilms, shortSegments, "1s"));
  const shortStarted = performance.now();
  for (;;) {
    await sleep(1_000);
    const list = (await custom.listNamespacedCustomObject({ ...films, namespace: shortNamespace })) as {
      items: { metadata: { name: string }; status?: { phase?: string } }[];
    };
    const done = list.items.filter((f) => shortNames.has(f.metadata.name) && f.status?.phase === "Succeeded");
    if (done.length === shortNames.size) break;
    if (performance.now() - shortStarted > 15 * 60_000) throw new Error("short films did not finish in 15 minutes");
  }
  const shortWall = (performance.now() - shortStarted) / 1000;
  const afterShort = await scrape(operator);
  const transitions = shortFilms * shortSegments;
  const requestsPerSegment = afterShort.sum("rest_client_requests_total", "", beforeShort) / transitions;
  const cpuMsPerSegment = (afterShort.sum("process_cpu_seconds_total", "", beforeShort) * 1000) / transitions;
  const requestsByVerb = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    .map((verb) => {
      const count = afterShort.sum("rest_client_requests_total", `method="${verb}"`, beforeShort) / transitions;
      return `${verb} ${count.toFixed(2)}`;
    })
    .join(", ");
  const requestsByResource = requestSplit(afterShort, beforeShort, transitions);
  const reconcilesByResult = afterShort
    .labelValues("controller_runtime_reconcile_total", "result")
    .map((result) => {
      const count = afterShort.sum("controller_runtime_reconcile_total", `result="${result}"`, beforeShort);
      return `${result} ${(count / transitions).toFixed(2)}`;
    })
    .join(", ");
  const reconcilesPerSegment = afterShort.sum("controller_runtime_reconcile_total", "", beforeShort) / transitions;
  // Each figure also goes to stderr as soon as it is known, so a run cut short still leaves what it measured.
  console.error(
    `[scale] per segment: ${requestsPerSegment.toFixed(2)} API requests (${requestsByVerb}), ` +
      `${cpuMsPerSegment.toFixed(1)} CPU ms, ${reconcilesPerSegment.toFixed(2)} reconciles; idle RSS ` +
      `${idleRss.toFixed(0)} MiB, imports ${floor.imported.toFixed(0)} MiB, bare Node ${floor.bare.toFixed(0)} MiB`,
  );
  console.error(`[scale] API requests per segment by method and resource:\n${requestsByResource}`);
  console.error(`[scale] reconciles per segment by result: ${reconcilesByResult}`);
  if (onlyPerSegment) {
    expectedExit = true;
    await operator.stop();
    if (process.env.LV_SCALE_LOG_FILE) writeFileSync(process.env.LV_SCALE_LOG_FILE, operator.logs());
    return;
  }
  await removeNamespace(shortNamespace);

  // Memory and recovery: live films up to the restart's scale, a SIGKILL, a new process, then the rest.
  const deadline = Date.now() + budgetMs;
  console.error(`[scale] live films up to ${String(restartFilms)} (restart), then ${String(liveFilms)}`);
  let peak = new MemoryPeak(operator);
  const creationStarted = performance.now();
  const atRestart = await growLiveFilms(peak, 0, restartFilms, deadline);
  const peakBeforeRestart = peak.highWater();
  const heapBeforeRestart = peak.heap;

  expectedExit = true;
  await operator.stop("SIGKILL");
  const killed = performance.now();
  operator = await startOperator({ identity, leaseNamespace: "default", env, entry });
  expectedExit = false;
  failOnExit(operator);
  peak = new MemoryPeak(operator);
  let ready = Number.NaN;
  let resynced = Number.NaN;
  while (Number.isNaN(ready) || Number.isNaN(resynced)) {
    if (performance.now() - killed > 120_000) break;
    if (Number.isNaN(ready) && (await endpoint(operator, "/readyz")).status === 200)
      ready = (performance.now() - killed) / 1000;
    if (Number.isNaN(resynced) && (await peak.sample()).sum("controller_runtime_reconcile_total") >= atRestart)
      resynced = (performance.now() - killed) / 1000;
    // Each scrape renders every film's progress series: scraping faster would load the process being measured.
    await sleep(200);
  }
  const peakAfterRestart = peak.highWater();
  console.error(
    `[scale] ${String(atRestart)} films: peak RSS ${peakBeforeRestart.toFixed(0)} MiB before the kill; new process ` +
      `ready ${ready.toFixed(2)} s, every film reconciled ${resynced.toFixed(2)} s, peak RSS ${peakAfterRestart.toFixed(0)} MiB`,
  );

  const reached = await growLiveFilms(peak, atRestart, liveFilms, deadline);
  const creationMinutes = (performance.now() - creationStarted) / 60_000;
  // Half a quiet minute with every film live: what the operator holds once the burst of creation is over.
  for (let i = 0; i < 30; i++) {
    await peak.sample();
    await sleep(1_000);
  }
  const liveMetrics = await peak.sample();
  const steadyRss = memoryMiB(operator.child.pid, "VmRSS");
  const peakRss = peak.highWater();
  const phases = ["Pending", "Rendering", "Succeeded", "Failed"]
    .map((phase) => `${phase} ${String(liveMetrics.sum("longvideo_films", `phase="${phase}"`))}`)
    .join(", ");
  const restartWhy =
    `ready (caches listed and synced, lease renewed) after ${ready.toFixed(2)} s; the rest is the queue working through ` +
    `${String(atRestart)} films at concurrency ${concurrency}, on the 2 cores the API server also uses`;

  expectedExit = true;
  await operator.stop();

  const scale = reached < liveFilms ? ` (scale reached: ${String(reached)} of ${String(liveFilms)} in the budget)` : "";
  const rows: Row[] = [
    {
      figure: `peak RSS, ${String(reached)} live films x ${String(liveSegments)} segments${scale}`,
      value: `${peakRss.toFixed(0)} MiB (${((peakRss * mib) / mb).toFixed(0)} MB)`,
      goal: "<= 150 MB",
      met: (peakRss * mib) / mb <= 150,
      why: `Node with the operator's imports alone is ${floor.imported.toFixed(0)} MiB before it lists anything`,
    },
    { figure: "  RSS with them all live, 30 s later", value: `${steadyRss.toFixed(0)} MiB`, goal: "" },
    {
      figure: `  peak RSS of the new process while it relists ${String(atRestart)} films`,
      value: `${peakAfterRestart.toFixed(0)} MiB`,
      goal: "",
    },
    { figure: "  V8 heap used, peak", value: `${peak.heap.toFixed(0)} MiB`, goal: "" },
    {
      figure: "  V8 heap committed / external memory, peak",
      value: `${peak.heapCommitted.toFixed(0)} / ${peak.external.toFixed(0)} MiB`,
      goal: "",
    },
    {
      figure: `  peak RSS / heap with ${String(atRestart)} films (before the kill)`,
      value: `${peakBeforeRestart.toFixed(0)} MiB / ${heapBeforeRestart.toFixed(0)} MiB`,
      goal: "",
    },
    {
      figure: "  idle RSS / heap (started, no films)",
      value: `${idleRss.toFixed(0)} / ${idleHeap.toFixed(0)} MiB`,
      goal: "",
    },
    {
      figure: "  RSS after imports only / bare Node",
      value: `${floor.imported.toFixed(0)} / ${floor.bare.toFixed(0)} MiB`,
      goal: "",
    },
    {
      figure: `API requests per segment (${String(shortFilms)} films x ${String(shortSegments)}, run-for 1s)`,
      value: requestsPerSegment.toFixed(2),
      goal: "<= 6",
      met: requestsPerSegment <= 6,
      why: `by verb per segment: ${requestsByVerb}`,
    },
    { figure: "  operator CPU per segment transition", value: `${cpuMsPerSegment.toFixed(1)} ms`, goal: "" },
    { figure: "  reconciles per segment", value: reconcilesPerSegment.toFixed(2), goal: "" },
    {
      figure: `every film reconciled after SIGKILL, ${String(atRestart)} live films`,
      value: `${resynced.toFixed(2)} s (ready ${ready.toFixed(2)} s)`,
      goal: "<= 10 s",
      met: resynced <= 10,
      why: restartWhy,
    },
  ];
  console.log(
    `\noperator at scale (concurrency ${concurrency}, NODE_OPTIONS "${nodeOptions}"; live films created and settled ` +
      `in ${creationMinutes.toFixed(1)} min; short films rendered in ${shortWall.toFixed(0)} s; live films by ` +
      `phase at the end: ${phases})`,
  );
  const width = Math.max(...rows.map((r) => r.figure.length));
  const valueWidth = Math.max(...rows.map((r) => r.value.length));
  for (const row of rows) {
    const verdict = row.met === undefined ? "" : row.met ? "  met" : "  MISSED";
    console.log(`  ${row.figure.padEnd(width)}  ${row.value.padEnd(valueWidth)}  ${row.goal.padEnd(9)}${verdict}`);
    if (row.met === false && row.why) console.log(`    why: ${row.why}`);
  }
}

await main();
