/**
 * The chaos suite: films rendered on the local cluster's kwok pools by the operator installed with Helm (two
 * leader-elected replicas on the real node) while the suite kills the leading container with SIGKILL, restarts kube-apiserver and etcd,
 * deletes a node under a running segment, deletes running segment Jobs and pods, and edits storylines mid-render.
 * It then checks what must hold whatever happened, from the API: every film finished as designed, every chain
 * intact, no segment rendered twice for the same inputs, nothing left behind once the films are deleted. `make
 * chaos` runs the full version; an integration test runs a short one inside `make test`.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BatchV1Api, CoreV1Api, CustomObjectsApi, Watch } from "@kubernetes/client-node";
import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import { expandedStatus } from "../../src/reconcile/status-compaction.ts";
import type { FilmStatus } from "../../src/reconcile/film-snapshot.ts";
import { installHelmReplicas } from "./helm-replicas.ts";
import { kubectl } from "../support/kubectl.ts";
import { makeKwokPool } from "../support/kwok-pool.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const group = "longvideo.dev";
const version = "v1alpha1";
const plural = "longvideos";

export interface ChaosOptions {
  readonly films: number;
  readonly minSegments: number;
  readonly maxSegments: number;
  /** How long a segment's pod "renders" (kwok), in seconds: a film's segments, from least to most. */
  readonly runForSeconds: readonly [number, number];
  /** Fraction of films whose every segment's first attempt fails (by the kwok stage's annotation). */
  readonly failingFilms: number;
  readonly leaderKills: number;
  readonly apiserverRestarts: number;
  readonly etcdRestarts: number;
  readonly nodeDeletions: number;
  readonly jobDeletions: number;
  readonly podDeletions: number;
  readonly edits: number;
  /** Seconds the chaos is spread over; the films' own run time should be longer. */
  readonly chaosSeconds: number;
  readonly timeoutSeconds: number;
  readonly seed: number;
}

export const shortChaos: ChaosOptions = {
  films: 8,
  minSegments: 5,
  maxSegments: 8,
  runForSeconds: [3, 6],
  failingFilms: 0.25,
  leaderKills: 4,
  apiserverRestarts: 1,
  etcdRestarts: 1,
  nodeDeletions: 1,
  jobDeletions: 3,
  podDeletions: 3,
  edits: 2,
  chaosSeconds: 40,
  timeoutSeconds: 600,
  seed: 1,
};

export const fullChaos: ChaosOptions = {
  films: 50,
  minSegments: 5,
  maxSegments: 20,
  // Long enough that films are still rendering when the last fault comes.
  runForSeconds: [40, 100],
  failingFilms: 0.2,
  leaderKills: 100,
  apiserverRestarts: 3,
  etcdRestarts: 1,
  nodeDeletions: 3,
  jobDeletions: 20,
  podDeletions: 20,
  edits: 5,
  // A kill waits for the standby to be ready again (the kubelet restarts the killed container within 10 s), so a
  // hundred of them take about half an hour.
  chaosSeconds: 1800,
  timeoutSeconds: 5400,
  seed: 1,
};

export interface ChaosReport {
  readonly films: number;
  readonly succeeded: number;
  /** Films that failed, with their reason: only designed reasons are acceptable. */
  readonly failed: readonly { readonly film: string; readonly reason: string; readonly message: string }[];
  readonly segments: number;
  readonly killsSurvived: number;
  readonly apiserverRestarts: number;
  readonly etcdRestarts: number;
  readonly nodesDeleted: number;
  readonly jobsDeleted: number;
  readonly podsDeleted: number;
  readonly edits: number;
  /** (film, index, hash, input digest) rendered by more than one succeeded pod, of an attempt nobody deleted. */
  readonly duplicates: readonly string[];
  /**
   * Likewise, of an attempt whose pod, job or node the suite deleted while it ran: a pod deleted in the moment it
   * finished may have rendered, and its successor render again. Counted, not a failure.
   */
  readonly duplicatesAfterDeletion: readonly string[];
  /** Films whose recorded chain breaks (input digest of i is not the output of i-1). */
  readonly brokenChains: readonly string[];
  /** Attempts lost and started again (SegmentLost events). */
  readonly lost: number;
  /** Pods that failed by the kwok stage's annotation, out of all pods that ended. */
  readonly failedPods: number;
  readonly endedPods: number;
  /** Seconds from killing the leader until another replica held the lease. */
  readonly recoverySeconds: readonly number[];
  /**
   * How often leadership moved to the other replica: a killed container the kubelet restarts within the lease
   * duration renews its own lease first, so the standby leads only when the restart is slower.
   */
  readonly leaseTransitions: number;
  /** Jobs and claims of the films left after they were deleted. */
  readonly orphans: readonly string[];
  readonly seconds: number;
}

/** A small deterministic random source, so that a run can be repeated. */
function randomSource(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

interface Film {
  metadata: { name: string; resourceVersion?: string };
  spec: { storyline: { prompt: string; clips: number }[] } & Record<string, unknown>;
  status?: FilmStatus;
}

/** Retries a call through an API server restart. */
async function patiently<T>(call: () => Promise<T>, attempts = 120): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (error) {
      if (i >= attempts) throw error;
      await sleep(500);
    }
  }
}

/**
 * Kills a control-plane process (found by cluster-up's pid file) with SIGKILL and starts it again exactly as it
 * ran (its command line, environment and directory, read from /proc), then waits until it answers.
 */
async function restartComponent(component: "kube-apiserver" | "etcd", log: (line: string) => void): Promise<void> {
  const run = process.env.LV_RUN ?? path.join(repoRoot, ".cache/cluster");
  const pidFile = path.join(run, "pids", `${component}.pid`);
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  const [command, ...args] = readFileSync(`/proc/${String(pid)}/cmdline`, "utf8")
    .split("\0")
    .filter(Boolean);
  const environment = Object.fromEntries(
    readFileSync(`/proc/${String(pid)}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );
  const cwd = readlinkSync(`/proc/${String(pid)}/cwd`);
  if (!command) throw new Error(`no command line for ${component} (pid ${String(pid)})`);
  process.kill(pid, "SIGKILL");
  // Gone only once every thread has exited and its listening sockets are closed (and init reaped it).
  for (let i = 0; i < 200 && existsSync(`/proc/${String(pid)}`); i++) await sleep(50);
  log(`killed ${component}`);
  const healthy = async (): Promise<boolean> => {
    if (component === "etcd") {
      return (await fetch(`http://127.0.0.1:${process.env.LV_ETCD_PORT ?? "23790"}/health`)).ok;
    }
    return kubectl("get", "--raw", "/readyz").trim() === "ok";
  };
  const started = Date.now();
  let child = relaunch(run, component, command, args, cwd, environment);
  while (!(await healthy().catch(() => false))) {
    if (Date.now() - started > 120_000) throw new Error(`${component} did not come back within 2 minutes`);
    // A port not yet released makes it exit at once: start it again.
    if (child.exitCode !== null) child = relaunch(run, component, command, args, cwd, environment);
    await sleep(250);
  }
  writeFileSync(pidFile, `${String(child.pid)}\n`);
  log(`${component} is back after ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function relaunch(
  run: string,
  component: string,
  command: string,
  args: readonly string[],
  cwd: string,
  env: Record<string, string>,
): ChildProcess {
  const output = openSync(path.join(run, `${component}.log`), "a");
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", output, output] });
  child.unref();
  // cluster-down stops it by its pid file; written at once so that a test that stops here leaves nothing running.
  writeFileSync(path.join(run, "pids", `${component}.pid`), `${String(child.pid)}\n`);
  return child;
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** The figures a run prints. */
export function chaosFigures(report: ChaosReport): string {
  return [
    `films ${String(report.films)}: ${String(report.succeeded)} succeeded, ${String(report.failed.length)} failed`,
    `segments ${String(report.segments)}; pods ended ${String(report.endedPods)}, failed by annotation ${String(report.failedPods)}`,
    `leader kills survived ${String(report.killsSurvived)}; kube-apiserver restarts ${String(report.apiserverRestarts)}; etcd restarts ${String(report.etcdRestarts)}`,
    `nodes deleted ${String(report.nodesDeleted)}; jobs deleted ${String(report.jobsDeleted)}; pods deleted ${String(report.podsDeleted)}; storylines edited ${String(report.edits)}`,
    `duplicates ${String(report.duplicates.length)} (and ${String(report.duplicatesAfterDeletion.length)} of attempts deleted as they finished); lost attempts ${String(report.lost)}; broken chains ${String(report.brokenChains.length)}; orphans ${String(report.orphans.length)}`,
    `recovery after a leader kill: p50 ${percentile(report.recoverySeconds, 50).toFixed(1)} s, p99 ${percentile(report.recoverySeconds, 99).toFixed(1)} s; leadership moved ${String(report.leaseTransitions)} times`,
    `took ${report.seconds.toFixed(0)} s`,
  ].join("\n");
}

export async function runChaos(
  kc: KubeConfig,
  options: ChaosOptions,
  log: (line: string) => void,
): Promise<ChaosReport> {
  const started = Date.now();
  const random = randomSource(options.seed);
  const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const suffix = randomBytes(3).toString("hex");
  const namespace = `lv-chaos-${suffix}`;
  const pool = `chaos-${suffix}`;

  kubectl(
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    path.join(repoRoot, "crds/longvideo.dev_longvideos.yaml"),
  );
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const nodes = makeKwokPool(pool, 6);

  // Every pod that succeeded, by what it rendered: a key seen from two pods is a segment rendered twice.
  const succeededPods = new Map<string, Set<string>>();
  const ended = { all: 0, failed: 0 };
  const seenEnded = new Set<string>();
  const watcher = watchPods(kc, namespace, (pod) => {
    const uid = pod.metadata?.uid ?? "";
    const phase = pod.status?.phase;
    if ((phase !== "Succeeded" && phase !== "Failed") || seenEnded.has(uid)) return;
    seenEnded.add(uid);
    ended.all++;
    if (phase === "Failed") ended.failed++;
    const key = renderKey(pod);
    if (phase !== "Succeeded" || key === undefined) return;
    const pods = succeededPods.get(key) ?? new Set<string>();
    pods.add(`${pod.metadata?.name ?? ""} (${uid.slice(0, 8)})`);
    succeededPods.set(key, pods);
  });

  // What a failed run needs to be understood: the operator's logs (each killed container's too) and the events.
  const evidence = path.join(repoRoot, ".cache/chaos", namespace);
  mkdirSync(evidence, { recursive: true });
  const replicas = installHelmReplicas(kc, `${namespace}-system`, evidence);
  log(`operator installed by Helm in ${replicas.namespace}, two replicas`);

  const names: string[] = [];
  let segments = 0;
  for (let i = 0; i < options.films; i++) {
    const count = options.minSegments + Math.floor(random() * (options.maxSegments - options.minSegments + 1));
    const scenes = splitIntoScenes(count, random);
    const failing = random() < options.failingFilms;
    const name = `film-${String(i)}`;
    names.push(name);
    segments += count;
    const [least, most] = options.runForSeconds;
    const runFor = least + Math.floor(random() * (most - least + 1));
    await createFilm(custom, namespace, name, pool, scenes, failing, runFor);
  }
  log(`${String(options.films)} films of ${String(segments)} segments in ${namespace}`);

  // What the suite deleted while it ran: a pod deleted as it finishes may have rendered before it went.
  const interrupted = new Set<string>();
  const counts = { kills: 0, apiserver: 0, etcd: 0, nodes: 0, jobs: 0, pods: 0, edits: 0 };
  const recovery: number[] = [];
  const done = async () => {
    const list = (await patiently(() => custom.listNamespacedCustomObject({ group, version, namespace, plural }))) as {
      items: Film[];
    };
    return list.items.every((f) => f.status?.phase === "Succeeded" || f.status?.phase === "Failed");
  };

  // Each fault at its own random moment within the chaos window, in time order.
  const faults: { at: number; kind: keyof typeof counts }[] = [];
  const schedule = (kind: keyof typeof counts, n: number) => {
    for (let i = 0; i < n; i++) faults.push({ at: random() * options.chaosSeconds * 1000, kind });
  };
  schedule("kills", options.leaderKills);
  schedule("apiserver", options.apiserverRestarts);
  schedule("etcd", options.etcdRestarts);
  schedule("nodes", options.nodeDeletions);
  schedule("jobs", options.jobDeletions);
  schedule("pods", options.podDeletions);
  schedule("edits", options.edits);
  faults.sort((a, b) => a.at - b.at);

  const chaosStart = Date.now();
  for (const fault of faults) {
    const wait = chaosStart + fault.at - Date.now();
    if (wait > 0) await sleep(wait);
    try {
      const acted = await inject(fault.kind);
      if (acted) counts[fault.kind]++;
    } catch (error) {
      log(`${fault.kind}: ${error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error)}`);
    }
  }

  async function inject(kind: keyof typeof counts): Promise<boolean> {
    switch (kind) {
      case "kills":
        return killLeader();
      case "apiserver":
        await restartComponent("kube-apiserver", log);
        return true;
      case "etcd":
        await restartComponent("etcd", log);
        return true;
      case "nodes": {
        const pod = pick(await someRunningSegmentPods());
        const node = pod?.spec?.nodeName;
        if (!pod || !node?.startsWith(`kwok-${pool}`)) return false;
        // Every segment running on the node is interrupted, not only the one it was picked under: the operator lets
        // them all go at once, and one may still finish there (as a kubelet whose Node object is deleted keeps
        // running its pods) while its successor renders elsewhere.
        for (const running of await runningSegmentPods()) {
          if (running.spec?.nodeName === node) interrupted.add(renderKey(running) ?? "");
        }
        await core.deleteNode({ name: node });
        log(`deleted node ${node} under ${pod.metadata?.name ?? ""}`);
        return true;
      }
      case "jobs": {
        const pod = pick(await someRunningSegmentPods());
        const job = pod?.metadata?.labels?.["batch.kubernetes.io/job-name"];
        if (!pod || !job) return false;
        interrupted.add(renderKey(pod) ?? "");
        await batch.deleteNamespacedJob({ name: job, namespace, propagationPolicy: "Background" });
        return true;
      }
      case "pods": {
        const pod = pick(await someRunningSegmentPods());
        if (!pod?.metadata?.name) return false;
        interrupted.add(renderKey(pod) ?? "");
        await core.deleteNamespacedPod({ name: pod.metadata.name, namespace });
        return true;
      }
      case "edits":
        return editStoryline();
    }
  }

  /** Running segment pods, waiting a little for some when there are none at this moment (between hand-offs). */
  async function someRunningSegmentPods(): Promise<V1Pod[]> {
    for (let i = 0; i < 20; i++) {
      const pods = await patiently(runningSegmentPods);
      if (pods.length > 0) return pods;
      await sleep(500);
    }
    return [];
  }

  async function runningSegmentPods(): Promise<V1Pod[]> {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: "longvideo.dev/kind=segment" });
    return pods.items.filter((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp);
  }

  async function killLeader(): Promise<boolean> {
    // A standby first, as a kill in production finds one: the kubelet restarts a killed container within seconds.
    if (!(await replicas.allReady())) log("a replica was not ready within a minute; killing the leader anyway");
    // The holder's container may be between a crash and its restart (a lease outlives its holder by up to its
    // duration): ask again until the leader is a running container, then kill it.
    let holder: string | undefined;
    let killedAt = 0;
    for (let tries = 0; ; tries++) {
      holder = await patiently(() => replicas.holder());
      killedAt = Date.now();
      if (holder && (await patiently(() => replicas.kill(holder ?? "")))) break;
      if (tries >= 60) return false;
      await sleep(1000);
    }
    // Whichever replica renews the lease first leads: the standby once it expires, or the restarted container,
    // which finds itself the holder.
    for (;;) {
      const renewed = await patiently(() => replicas.renewedAt());
      if (renewed > killedAt) break;
      if (Date.now() - killedAt > 120_000) throw new Error("no replica renewed the lease within 2 minutes");
      await sleep(100);
    }
    recovery.push((Date.now() - killedAt) / 1000);
    // The killed container's log is its pod's previous one once the kubelet has restarted it.
    if (await replicas.allReady()) replicas.saveLogs(`kill-${String(recovery.length)}`, holder);
    log(`killed the leader ${holder}; the lease was renewed after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
    return true;
  }

  async function editStoryline(): Promise<boolean> {
    const name = pick(names);
    if (!name) return false;
    const film = (await custom.getNamespacedCustomObject({ group, version, namespace, plural, name })) as Film;
    if (film.status?.phase !== "Rendering") return false;
    const storyline = film.spec.storyline.map((scene, i, all) =>
      i === all.length - 1 ? { ...scene, prompt: `${scene.prompt}, at dusk` } : scene,
    );
    kubectl("-n", namespace, "patch", "lv", name, "--type=merge", "-p", JSON.stringify({ spec: { storyline } }));
    log(`edited ${name}'s last scene`);
    return true;
  }

  const deadline = started + options.timeoutSeconds * 1000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`films did not finish within ${String(options.timeoutSeconds)} s`);
    await sleep(1000);
  }

  // What must hold, read from the API.
  const list = (await patiently(() => custom.listNamespacedCustomObject({ group, version, namespace, plural }))) as {
    items: Film[];
  };
  const failed = list.items.flatMap((f) => {
    if (f.status?.phase !== "Failed") return [];
    const condition = f.status.conditions?.find((c) => c.type === "Failed");
    return [{ film: f.metadata.name, reason: condition?.reason ?? "", message: condition?.message ?? "" }];
  });
  const brokenChains = list.items.flatMap((f) => (chainIntact(f.status ?? {}) ? [] : [f.metadata.name]));
  const events = await core.listNamespacedEvent({ namespace });
  const lostEvents = events.items.filter((e) => e.reason === "SegmentLost");
  const lost = lostEvents.length;
  for (const event of lostEvents.slice(0, 3)) log(`lost: ${event.involvedObject.name ?? ""}: ${event.message ?? ""}`);
  const rendered = [...succeededPods].flatMap(([key, pods]) => (pods.size > 1 ? [key] : []));
  for (const key of rendered) log(`rendered twice: ${key} by ${[...(succeededPods.get(key) ?? [])].join(", ")}`);
  writeFileSync(
    path.join(evidence, "events.txt"),
    kubectl("-n", namespace, "get", "events", "--sort-by=.lastTimestamp"),
  );
  const duplicates = rendered.filter((key) => !interrupted.has(key));
  const afterDeletion = rendered.filter((key) => interrupted.has(key));
  watcher.abort();

  // Deletion is the operator's to finish (finalizers): it stays installed until the films are gone.
  for (const name of names) await custom.deleteNamespacedCustomObject({ group, version, namespace, plural, name });
  const leaseTransitions = await patiently(() => replicas.transitions());
  const orphans = await leftovers();
  replicas.saveLogs("end");
  await replicas.uninstall();
  log(`operator logs and events kept in ${evidence}`);

  async function leftovers(): Promise<string[]> {
    for (let i = 0; i < 240; i++) {
      const films = (await custom.listNamespacedCustomObject({ group, version, namespace, plural })) as {
        items: unknown[];
      };
      if (films.items.length === 0) break;
      await sleep(500);
    }
    const jobs = await batch.listNamespacedJob({ namespace, labelSelector: "longvideo.dev/film" });
    const claims = await core.listNamespacedPersistentVolumeClaim({ namespace });
    return [
      ...jobs.items.map((j) => `job/${j.metadata?.name ?? ""}`),
      ...claims.items.filter((c) => !c.metadata?.deletionTimestamp).map((c) => `pvc/${c.metadata?.name ?? ""}`),
    ];
  }

  kubectl("delete", "node", ...nodes, "--ignore-not-found", "--wait=false");
  await core.deleteNamespace({ name: namespace });
  return {
    films: options.films,
    succeeded: list.items.filter((f) => f.status?.phase === "Succeeded").length,
    failed,
    segments,
    killsSurvived: counts.kills,
    apiserverRestarts: counts.apiserver,
    etcdRestarts: counts.etcd,
    nodesDeleted: counts.nodes,
    jobsDeleted: counts.jobs,
    podsDeleted: counts.pods,
    edits: counts.edits,
    duplicates,
    duplicatesAfterDeletion: afterDeletion,
    brokenChains,
    lost,
    failedPods: ended.failed,
    endedPods: ended.all,
    recoverySeconds: recovery,
    leaseTransitions,
    orphans,
    seconds: (Date.now() - started) / 1000,
  };
}

/** What a segment pod renders: film, index, plan hash and input digest, from its environment. */
function renderKey(pod: V1Pod): string | undefined {
  const env = Object.fromEntries((pod.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? ""]));
  if (env.LV_SEGMENT_INDEX === undefined) return undefined;
  const film = pod.metadata?.labels?.["longvideo.dev/film"] ?? "";
  return `${film}/${env.LV_SEGMENT_INDEX}/${env.LV_SEGMENT_HASH ?? ""}/${env.LV_INPUT_DIGEST ?? ""}`;
}

/** Every recorded segment consumed exactly what its predecessor produced. */
function chainIntact(status: FilmStatus): boolean {
  const records = [...(expandedStatus(status).segments ?? [])].sort((a, b) => a.index - b.index);
  return records.every((r, i) =>
    i === 0 ? (r.inputDigest ?? "") === "" : r.inputDigest === records[i - 1]?.outputDigest,
  );
}

function splitIntoScenes(count: number, random: () => number): { prompt: string; clips: number }[] {
  const scenes: { prompt: string; clips: number }[] = [];
  let left = count;
  while (left > 0) {
    const clips = Math.min(left, 1 + Math.floor(random() * 6));
    scenes.push({ prompt: `scene ${String(scenes.length)} of a long day`, clips });
    left -= clips;
  }
  return scenes;
}

async function createFilm(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
  pool: string,
  storyline: { prompt: string; clips: number }[],
  failing: boolean,
  runFor: number,
): Promise<void> {
  await custom.createNamespacedCustomObject({
    group,
    version,
    namespace,
    plural,
    body: {
      apiVersion: `${group}/${version}`,
      kind: "LongVideo",
      metadata: { name },
      spec: {
        variant: "film",
        referenceImage: { url: "https://images.example.com/first-frame.png" },
        storyline,
        render: { backend: "animatic" },
        gpu: {
          nodeSelector: { "longvideo.dev/pool": pool },
          tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        },
        podMetadata: {
          annotations: {
            "sim.longvideo.dev/run-for": `${String(runFor)}s`,
            ...(failing ? { "sim.longvideo.dev/outcome": "FailFirstAttempt" } : {}),
          },
        },
        retry: { limit: 3, backoff: { initialSeconds: 1, maxSeconds: 4 } },
        storage: { workspace: { accessMode: "ReadWriteMany" } },
      },
    },
  });
}

/** Watches the namespace's pods, re-opening the watch whenever it ends (an API server restart ends it). */
function watchPods(kc: KubeConfig, namespace: string, onPod: (pod: V1Pod) => void): AbortController {
  const stop = new AbortController();
  const watch = new Watch(kc);
  const open = async (): Promise<void> => {
    while (!stop.signal.aborted) {
      const closed = new Promise<void>((resolve) => {
        watch
          .watch(
            `/api/v1/namespaces/${namespace}/pods`,
            {},
            (_type: string, pod: V1Pod) => {
              onPod(pod);
            },
            () => {
              resolve();
            },
          )
          .then((request) => {
            stop.signal.addEventListener("abort", () => {
              request.abort();
            });
          })
          .catch(() => {
            resolve();
          });
      });
      await closed;
      await sleep(500);
    }
  };
  void open();
  return stop;
}

/** Reasons a film may fail by design under this suite's faults; anything else is a bug. */
const designedFailures = new Set<string>();

/** What a run broke, in words; empty when everything held. */
export function chaosProblems(report: ChaosReport, options: ChaosOptions): string[] {
  return [
    ...report.failed
      .filter((f) => !designedFailures.has(f.reason))
      .map((f) => `${f.film} failed (${f.reason}): ${f.message}`),
    ...report.brokenChains.map((film) => `${film}: its chain is broken`),
    ...report.duplicates.map((key) => `rendered twice for the same inputs: ${key}`),
    ...report.orphans.map((object) => `left behind after its film was deleted: ${object}`),
    ...(report.killsSurvived < options.leaderKills
      ? [`only ${String(report.killsSurvived)} of ${String(options.leaderKills)} leader kills happened`]
      : []),
    ...(report.apiserverRestarts < options.apiserverRestarts ? ["a kube-apiserver restart did not happen"] : []),
    ...(report.etcdRestarts < options.etcdRestarts ? ["an etcd restart did not happen"] : []),
  ];
}
