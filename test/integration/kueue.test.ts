/**
 * Films under a real Kueue (its controller built from Go modules, run as a local process) on the local cluster's
 * kwok GPU pools: ResourceFlavors for the h100 and a100 pools, ClusterQueues with GPU quotas, LocalQueues.
 * - a film whose quota is used up waits, and says so in the Workload's own words, until the quota frees;
 * - three films sharing a quota smaller than their demand all finish, and what is admitted (and what runs) never
 *   exceeds the quota, sampled throughout;
 * - a higher-priority film preempts a lower-priority film's running segment; the preempted segment spends no
 *   retry (its record counts the eviction), and the lower film then finishes.
 * It prints the figures it measured (time from admission to a running pod, how long films waited).
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { FilmFixture, conditionOf, film, segmentJobs } from "../support/film-fixture.ts";
import { kubectl, run } from "../support/kubectl.ts";
import { installKueueCrds, startKueue, uninstallKueueCrds } from "../support/kueue-process.ts";
import type { KueueProcess } from "../support/kueue-process.ts";
import { startOperator, testFilmPolicy } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { testKubeConfig } from "../support/test-kube-config.ts";

const suffix = randomBytes(3).toString("hex");
const namespace = `lv-it-kueue-${suffix}`;
const kc = testKubeConfig();
const kueueApi = kc.makeApiClient(CustomObjectsApi);
let kueue: KueueProcess | undefined;
let operator: OperatorProcess | undefined;
const logs = () =>
  `--- operator\n${operator?.logs().slice(-2000) ?? ""}\n--- kueue\n${kueue?.logs().slice(-2000) ?? ""}`;
const films = new FilmFixture(kc, namespace, logs);

const flavor = { h100: `lv-it-${suffix}-h100`, a100: `lv-it-${suffix}-a100` };
const priority = { low: `lv-it-kueue-low-${suffix}`, high: `lv-it-kueue-high-${suffix}` };
const gpuToleration = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };
const figures: string[] = [];

function apply(...objects: Record<string, unknown>[]): void {
  run(
    "kubectl",
    ["apply", "--server-side", "--force-conflicts", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  );
}

/** A ClusterQueue for this test's namespace only: CPU and memory aplenty, and these GPUs per flavor. */
function clusterQueue(name: string, gpus: Partial<Record<keyof typeof flavor, number>>, preemption?: unknown) {
  return {
    apiVersion: "kueue.x-k8s.io/v1beta2",
    kind: "ClusterQueue",
    metadata: { name: `${name}-${suffix}` },
    spec: {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
      resourceGroups: [
        {
          coveredResources: ["cpu", "memory", "nvidia.com/gpu"],
          flavors: Object.entries(gpus).map(([pool, count]) => ({
            name: flavor[pool as keyof typeof flavor],
            resources: [
              { name: "cpu", nominalQuota: "100" },
              { name: "memory", nominalQuota: "1Ti" },
              { name: "nvidia.com/gpu", nominalQuota: String(count) },
            ],
          })),
        },
      ],
      ...(preemption === undefined ? {} : { preemption }),
    },
  };
}

function localQueue(name: string) {
  return {
    apiVersion: "kueue.x-k8s.io/v1beta2",
    kind: "LocalQueue",
    metadata: { name, namespace },
    spec: { clusterQueue: `${name}-${suffix}` },
  };
}

interface Workload {
  metadata: { name: string; ownerReferences?: { kind: string; name: string }[] };
  status?: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    admission?: {
      clusterQueue: string;
      podSetAssignments?: { flavors?: Record<string, string>; resourceUsage?: Record<string, string> }[];
    };
    schedulingStats?: { evictions?: { reason: string; count: number }[] };
  };
}

async function workloads(): Promise<Workload[]> {
  const list = (await kueueApi.listNamespacedCustomObject({
    group: "kueue.x-k8s.io",
    version: "v1beta2",
    namespace,
    plural: "workloads",
  })) as { items: Workload[] };
  return list.items;
}

const holds = (w: Workload, type: string) => w.status?.conditions?.some((c) => c.type === type && c.status === "True");
const jobOf = (w: Workload) => w.metadata.ownerReferences?.find((o) => o.kind === "Job")?.name ?? "";

/**
 * Samples, every 200 ms, what Kueue has admitted (GPUs of Workloads holding quota and not finished, per
 * ClusterQueue and flavor) and what runs (GPUs of pods bound to a node and not ended, per group of films), and when
 * each Job was seen admitted (again, after an eviction) and each of its pods first seen Running.
 */
class AdmissionSampler {
  readonly maxAdmitted = new Map<string, number>();
  readonly maxRunning = new Map<string, number>();
  /** Per Job, when its pod was first seen Running. */
  readonly runningAt = new Map<string, number>();
  /** Per Job, each time it was seen admitted after being seen not admitted (or not at all). */
  readonly #admissions = new Map<string, number[]>();
  readonly #admittedNow = new Set<string>();
  /** Per pod, its Job and when it was first seen Running. */
  readonly #podsRunning = new Map<string, { job: string; at: number }>();
  samples = 0;
  /** Films whose live pods' GPUs are summed together, by a name for the group. */
  readonly #groups = new Map<string, ReadonlySet<string>>();
  #stopped = false;
  #loop: Promise<void> | undefined;

  /** From now on, sums the GPUs of these films' live pods in `maxRunning` under `group`. */
  sumRunning(group: string, films: readonly string[]): void {
    this.#groups.set(group, new Set(films));
  }

  start(): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        await this.#sample();
        await sleep(200);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #sample(): Promise<void> {
    const [all, pods] = await Promise.all([workloads(), films.core.listNamespacedPod({ namespace })]);
    const now = Date.now();
    const admitted = new Map<string, number>();
    for (const w of all) {
      const job = jobOf(w);
      if (holds(w, "Admitted") && !holds(w, "Finished")) {
        if (!this.#admittedNow.has(job)) this.#admissions.set(job, [...(this.#admissions.get(job) ?? []), now]);
        this.#admittedNow.add(job);
      } else {
        this.#admittedNow.delete(job);
      }
      if (!holds(w, "QuotaReserved") || holds(w, "Finished")) continue;
      for (const assignment of w.status?.admission?.podSetAssignments ?? []) {
        const key = `${w.status?.admission?.clusterQueue ?? ""}/${assignment.flavors?.["nvidia.com/gpu"] ?? ""}`;
        admitted.set(key, (admitted.get(key) ?? 0) + Number(assignment.resourceUsage?.["nvidia.com/gpu"] ?? 0));
      }
    }
    const running = new Map<string, number>();
    for (const pod of pods.items) {
      const job = pod.metadata?.labels?.["batch.kubernetes.io/job-name"] ?? "";
      const name = pod.metadata?.name ?? "";
      if (pod.status?.phase === "Running" && !this.#podsRunning.has(name))
        this.#podsRunning.set(name, { job, at: now });
      if (pod.status?.phase === "Running" && !this.runningAt.has(job)) this.runningAt.set(job, now);
      const live = pod.spec?.nodeName && pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed";
      if (!live) continue;
      const film = pod.metadata?.labels?.["longvideo.dev/film"] ?? "";
      const gpus = Number(pod.spec?.containers[0]?.resources?.limits?.["nvidia.com/gpu"] ?? 0);
      for (const [group, members] of this.#groups) {
        if (members.has(film)) running.set(group, (running.get(group) ?? 0) + gpus);
      }
    }
    for (const [key, gpus] of admitted) this.maxAdmitted.set(key, Math.max(this.maxAdmitted.get(key) ?? 0, gpus));
    for (const [key, gpus] of running) this.maxRunning.set(key, Math.max(this.maxRunning.get(key) ?? 0, gpus));
    this.samples += 1;
  }

  /** When each pod of a Job was first seen Running, in order. */
  podStarts(job: string): number[] {
    return [...this.#podsRunning.values()]
      .filter((p) => p.job === job)
      .map((p) => p.at)
      .sort((a, b) => a - b);
  }

  /**
   * Seconds from each admission of a Job (a re-admission after an eviction included) to the first of its pods
   * seen Running since, with the Job's name.
   */
  admissionToRunning(): { job: string; seconds: number }[] {
    return [...this.#admissions].flatMap(([job, times]) =>
      times.flatMap((at) => {
        const running = this.podStarts(job).find((start) => start >= at);
        return running === undefined ? [] : [{ job, seconds: (running - at) / 1000 }];
      }),
    );
  }
}

const sampler = new AdmissionSampler();

function summary(measured: readonly { job: string; seconds: number }[]): string {
  const sorted = [...measured].sort((a, b) => a.seconds - b.seconds);
  const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const seconds = (q: number) => (pick(q)?.seconds ?? NaN).toFixed(2);
  return (
    `n=${String(sorted.length)} p50 ${seconds(0.5)} s, p90 ${seconds(0.9)} s, ` +
    `max ${seconds(1)} s (${pick(1)?.job ?? "none"})`
  );
}

beforeAll(async () => {
  kubectl("apply", "--server-side", "--force-conflicts", "-f", "crds/longvideo.dev_longvideos.yaml");
  await films.core.createNamespace({ body: { metadata: { name: namespace } } });
  installKueueCrds();
  kueue = await startKueue();
  apply(
    ...Object.entries(priority).map(([level, name]) => ({
      apiVersion: "scheduling.k8s.io/v1",
      kind: "PriorityClass",
      metadata: { name },
      value: level === "high" ? 1000 : 100,
    })),
    ...Object.entries(flavor).map(([pool, name]) => ({
      apiVersion: "kueue.x-k8s.io/v1beta2",
      kind: "ResourceFlavor",
      metadata: { name },
      spec: {
        nodeLabels: { "longvideo.dev/pool": pool },
        nodeTaints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
      },
    })),
    clusterQueue("wait", { h100: 1 }),
    clusterQueue("share", { h100: 1, a100: 1 }),
    clusterQueue("preempt", { h100: 1 }, { withinClusterQueue: "LowerPriority" }),
    localQueue("wait"),
    localQueue("share"),
    localQueue("preempt"),
  );
  for (const name of ["wait", "share", "preempt"]) {
    kubectl("wait", "--for=condition=Active", `clusterqueue/${name}-${suffix}`, "--timeout=60s");
    kubectl("-n", namespace, "wait", "--for=condition=Active", `localqueue/${name}`, "--timeout=60s");
  }
  operator = await startOperator({
    identity: "operator-kueue",
    leaseNamespace: namespace,
    env: { LV_FILM_POLICY: JSON.stringify({ ...testFilmPolicy, priorityClassNames: Object.values(priority) }) },
  });
  sampler.start();
}, 180_000);

afterAll(async () => {
  // Every step is tried, whatever failed before it, so that no process or object of this test outlives it.
  const failures: unknown[] = [];
  const attempt = async (step: () => unknown) => {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  };
  await attempt(() => sampler.stop());
  // Films first, while the operator runs to release them; Kueue's objects while Kueue runs to release theirs.
  await attempt(() => kubectl("-n", namespace, "delete", "lv", "--all", "--wait=true", "--timeout=60s"));
  await attempt(() => operator?.stop());
  await attempt(() => kubectl("-n", namespace, "delete", "jobs", "--all", "--wait=true", "--timeout=60s"));
  await attempt(() => kubectl("-n", namespace, "delete", "localqueues", "--all", "--wait=true", "--timeout=60s"));
  const queues = ["wait", "share", "preempt"].map((n) => `clusterqueue/${n}-${suffix}`);
  await attempt(() => kubectl("delete", ...queues, "--ignore-not-found", "--timeout=60s"));
  const flavors = Object.values(flavor).map((name) => `resourceflavor/${name}`);
  await attempt(() => kubectl("delete", ...flavors, "--ignore-not-found", "--timeout=60s"));
  await attempt(() => kubectl("delete", "priorityclass", ...Object.values(priority), "--ignore-not-found"));
  await attempt(() => kueue?.stop());
  await attempt(() => {
    uninstallKueueCrds();
  });
  await attempt(() => films.core.deleteNamespace({ name: namespace }));
  console.log(
    [
      "kueue figures:",
      ...figures,
      `  admission to a running pod, every Job: ${summary(sampler.admissionToRunning())}`,
      `  samples of admitted and running GPUs: ${String(sampler.samples)}`,
    ].join("\n"),
  );
  if (failures.length > 0) throw new AggregateError(failures, "cleaning up after the Kueue tests failed");
}, 300_000);

/** What `kubectl get lv -o wide` prints for a film. */
const printed = (name: string) => kubectl("-n", namespace, "get", "lv", name, "-o", "wide", "--no-headers");

describe("films in Kueue queues", () => {
  it("waits while its queue's GPU quota is used up, in the Workload's words, and finishes once it frees", async () => {
    // Another user's job holds the queue's only h100 GPU.
    const blocker = "other-team-job";
    apply({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: blocker, namespace, labels: { "kueue.x-k8s.io/queue-name": "wait" } },
      spec: {
        suspend: true,
        backoffLimit: 0,
        template: {
          metadata: { annotations: { "sim.longvideo.dev/run-for": "600s" } },
          spec: {
            restartPolicy: "Never",
            nodeSelector: { "longvideo.dev/pool": "h100" },
            tolerations: [gpuToleration],
            containers: [
              {
                name: "train",
                image: "busybox",
                resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { "nvidia.com/gpu": "1" } },
              },
            ],
          },
        },
      },
    });
    for (let i = 0; !sampler.runningAt.has(blocker); i++) {
      if (i > 150) throw new Error(`the blocking job never ran\n${logs()}`);
      await sleep(200);
    }
    const gpu = { nodeSelector: { "longvideo.dev/pool": "h100" }, tolerations: [gpuToleration], queueName: "wait" };
    const created = Date.now();
    await films.create(film("waiting", { scenes: [{ prompt: "a ferry waits at the pier", clips: 2 }], gpu }));
    const waiting = await films.until(
      "waiting",
      (f) => (conditionOf(f, "Ready")?.message ?? "").includes("insufficient unused quota"),
      30_000,
    );
    const ready = conditionOf(waiting, "Ready");
    expect(waiting.status?.phase).toBe("Queued");
    expect(ready).toMatchObject({ status: "False", reason: "Queued" });
    expect(ready?.message).toMatch(
      new RegExp(
        `^segment 0 waits in its queue for admission: Workload job-waiting-\\S+: .*insufficient unused quota for nvidia.com/gpu in flavor ${flavor.h100}`,
      ),
    );
    expect(conditionOf(waiting, "Progressing")).toMatchObject({ status: "False", reason: "Queued" });
    expect(printed("waiting")).toMatch(/Queued/);
    // Nothing of the film runs: its Job is suspended, with no pod.
    const [job] = segmentJobs(await films.jobs("waiting"));
    expect(job?.spec?.suspend).toBe(true);
    expect(await films.pods("waiting")).toEqual([]);
    const waitedSeconds = (Date.now() - created) / 1000;

    const freed = Date.now();
    kubectl("-n", namespace, "delete", "job", blocker, "--wait=false");
    const done = await films.until("waiting", (f) => f.status?.phase === "Succeeded", 90_000);
    expect(done.status?.segments?.map((s) => [s.attempt, s.failures ?? 0, s.evictions ?? 0])).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(conditionOf(done, "Ready")).toMatchObject({ status: "True", reason: "FilmComplete" });
    const events = await films.core.listNamespacedEvent({
      namespace,
      fieldSelector: "involvedObject.name=waiting,reason=Queued",
    });
    expect(events.items.length).toBeGreaterThan(0);
    expect(events.items.every((e) => e.type === "Normal")).toBe(true);
    const firstRunning = sampler.runningAt.get(segmentJobs(await films.jobs("waiting"))[0]?.metadata?.name ?? "");
    figures.push(
      `  (a) quota used up: the film showed the Workload's message after ${waitedSeconds.toFixed(1)} s and ran ` +
        `${firstRunning === undefined ? "?" : ((firstRunning - freed) / 1000).toFixed(2)} s after the quota freed`,
    );
  });

  it("three films sharing a GPU quota smaller than their demand all finish, never above the quota", async () => {
    // No node selector: Kueue's flavors place each segment on the h100 or the a100 pool.
    const gpu = { tolerations: [gpuToleration], queueName: "share" };
    const names = ["harbour", "market", "station"];
    sampler.sumRunning("share", names);
    const started = Date.now();
    for (const name of names) {
      await films.create(
        film(name, {
          scenes: [{ prompt: `a day at the ${name}`, clips: 3 }],
          annotations: { "sim.longvideo.dev/run-for": "3s" },
          gpu,
        }),
      );
    }
    let queuedSeen = 0;
    for (;;) {
      const states = await Promise.all(names.map((name) => films.read(name)));
      queuedSeen += states.filter((f) => f.status?.phase === "Queued").length;
      if (states.every((f) => f.status?.phase === "Succeeded")) break;
      if (Date.now() - started > 150_000)
        throw new Error(`films did not finish: ${JSON.stringify(states.map((f) => f.status))}\n${logs()}`);
      await sleep(250);
    }
    const seconds = (Date.now() - started) / 1000;
    const done = await Promise.all(names.map((name) => films.read(name)));
    for (const f of done) {
      expect(f.status?.segments?.every((s) => s.state === "Succeeded" && s.attempt === 0)).toBe(true);
    }
    const queue = `share-${suffix}`;
    // Demand was three GPUs at once, the quota two (one per flavor): never more admitted, nor running.
    expect(sampler.maxAdmitted.get(`${queue}/${flavor.h100}`)).toBe(1);
    expect(sampler.maxAdmitted.get(`${queue}/${flavor.a100}`)).toBe(1);
    expect(sampler.maxRunning.get("share")).toBe(2);
    expect(queuedSeen).toBeGreaterThan(0);
    // Both pools rendered: Kueue's flavors put the pods there.
    const nodes = new Set(done.flatMap((f) => f.status?.segments?.map((s) => s.node?.replace(/-\d+$/, "")) ?? []));
    expect([...nodes].sort()).toEqual(["kwok-a100", "kwok-h100"]);
    figures.push(
      `  (b) 3 films x 3 segments of 3 s on a 2-GPU quota (demand 3): ${seconds.toFixed(1)} s wall, ` +
        `max admitted GPUs per flavor ${String(sampler.maxAdmitted.get(`${queue}/${flavor.h100}`))}+${String(sampler.maxAdmitted.get(`${queue}/${flavor.a100}`))}, ` +
        `max running ${String(sampler.maxRunning.get("share"))}, Queued seen in ${String(queuedSeen)} polls`,
    );
  });

  it("a higher-priority film preempts a lower one's running segment: a disruption, no retry spent, and it finishes", async () => {
    const gpu = (priorityClassName: string) => ({
      nodeSelector: { "longvideo.dev/pool": "h100" },
      tolerations: [gpuToleration],
      queueName: "preempt",
      priorityClassName,
    });
    await films.create(
      film("low", {
        scenes: [{ prompt: "fishing boats at dusk", clips: 2 }],
        annotations: { "sim.longvideo.dev/run-for": "6s" },
        gpu: gpu(priority.low),
      }),
    );
    await films.until("low", (f) => f.status?.segments?.[0]?.state === "Running", 60_000);
    const lowJob = segmentJobs(await films.jobs("low"))[0]?.metadata?.name ?? "";
    // The sampler polls: preempt only once it has seen the first pod run, or a slow sample could miss that pod.
    for (let i = 0; sampler.podStarts(lowJob).length === 0; i++) {
      if (i > 150) throw new Error(`the sampler never saw ${lowJob}'s pod running\n${logs()}`);
      await sleep(100);
    }
    const preemptedAt = Date.now();
    await films.create(
      film("high", {
        scenes: [{ prompt: "a storm warning", clips: 1 }],
        annotations: { "sim.longvideo.dev/run-for": "2s" },
        gpu: gpu(priority.high),
      }),
    );
    const evicted = await films.until(
      "low",
      (f) => (conditionOf(f, "Ready")?.message ?? "").includes("was evicted by Kueue (Preempted"),
      30_000,
    );
    const evictedSeen = Date.now();
    expect(evicted.status?.phase).toBe("Queued");
    expect(evicted.status?.segments?.[0]).toMatchObject({ index: 0, attempt: 0, state: "Pending", evictions: 1 });
    const highDone = await films.until("high", (f) => f.status?.phase === "Succeeded", 60_000);
    const highRunning = sampler.runningAt.get(segmentJobs(await films.jobs("high"))[0]?.metadata?.name ?? "");

    const lowDone = await films.until("low", (f) => f.status?.phase === "Succeeded", 90_000);
    const [first, second] = lowDone.status?.segments ?? [];
    // The same attempt (its Job) ran again once re-admitted: no failure counted, the eviction recorded.
    expect(first).toMatchObject({ state: "Succeeded", attempt: 0, evictions: 1 });
    expect(first?.failures ?? 0).toBe(0);
    expect(second).toMatchObject({ state: "Succeeded", attempt: 0 });
    expect(conditionOf(lowDone, "Failed")?.status).toBe("False");
    expect(segmentJobs(await films.jobs("low")).map((j) => j.metadata?.name)).toContain(lowJob);
    expect(segmentJobs(await films.jobs("low"))).toHaveLength(2);
    expect(Date.parse(highDone.status?.completionTime ?? "")).toBeLessThan(
      Date.parse(lowDone.status?.completionTime ?? ""),
    );
    const lowWorkload = (await workloads()).find((w) => jobOf(w) === lowJob);
    expect(lowWorkload?.status?.schedulingStats?.evictions).toEqual([
      expect.objectContaining({ reason: "Preempted", count: 1 }),
    ]);
    // Its Job ran two pods: the one Kueue's eviction ended, and the one it ran once admitted again.
    expect(sampler.podStarts(lowJob)).toHaveLength(2);
    const resumed = sampler.podStarts(lowJob).find((start) => start > evictedSeen);
    figures.push(
      `  (c) preemption: the high film's pod ran ${highRunning === undefined ? "?" : ((highRunning - preemptedAt) / 1000).toFixed(2)} s after it was created; ` +
        `the low film's segment waited ${resumed === undefined ? "?" : ((resumed - evictedSeen) / 1000).toFixed(1)} s in its queue after its eviction was seen; ` +
        `the low film finished ${((Date.parse(lowDone.status?.completionTime ?? "") - preemptedAt) / 1000).toFixed(1)} s after`,
    );
  });
});
