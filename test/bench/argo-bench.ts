/**
 * Side by side with Argo Workflows (issue 14): the same chain of N one-second kwok pods on the h100 pool, every pod
 * mounting its chain's ReadWriteMany claim, run as an Argo `steps` workflow by Argo's real workflow-controller (as
 * installed, then with DEFAULT_REQUEUE_TIME=1s) and as a LongVideo film of N clips by this operator; one chain alone,
 * then C chains at once. Prints, per configuration, the gap between a step's pod seen Succeeded and the next step's
 * pod seen created (p50/p99) and the wall time, and the operator's p99 gap with C at once as a ratio of tuned Argo's.
 *
 * Every gap comes from one pod watch opened before the first run, timed on arrival in this process: the API's own
 * timestamps have one-second resolution, the size of what is measured.
 *
 * Environment: LV_ARGO_STEPS (10), LV_ARGO_CHAINS (50), LV_ARGO_RUN_FOR (1s), LV_ARGO_BIN (the directory holding
 * Argo's workflow-controller and crds/, as build-binaries.sh argo-workflows makes it).
 * `make bench-argo` builds Argo, starts a cluster and runs this; `make bench` runs it after the chains benchmark.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi, Watch } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { startOperator } from "../support/operator-process.ts";
import { run } from "../support/kubectl.ts";
import { localClusterKubeconfig, testKubeConfig } from "../support/test-kube-config.ts";
import { benchStorageClass, benchVolumeLabel, createWorkspaceVolumes } from "./workspace-volumes.ts";

const steps = Number(process.env.LV_ARGO_STEPS ?? 10);
const chains = Number(process.env.LV_ARGO_CHAINS ?? 50);
const runFor = process.env.LV_ARGO_RUN_FOR ?? "1s";
const argoBin = process.env.LV_ARGO_BIN;
const repoRoot = path.resolve(import.meta.dirname, "../..");
const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
/** Where the pods go, for Argo as for the operator: the kwok h100 pool, past its GPU taint. */
const pool = {
  nodeSelector: { "longvideo.dev/pool": "h100" },
  tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
};

/** What the pod watch saw of one chain's step, in this process's clock (performance.now(), ms). */
interface StepPod {
  created?: number;
  succeeded?: number;
}

/**
 * Every pod of the cluster as the watch delivers it, keyed by namespace, chain and step. A pod belongs to a chain by
 * Argo's workflow label and its step by the node name Argo gives it (`<workflow>[i].s<i>`), or by the operator's
 * film and segment labels; other pods are ignored.
 */
class PodClock {
  readonly #steps = new Map<string, StepPod>();
  #reopened = 0;

  /** The step a pod is, or undefined for a pod of neither kind. */
  static stepOf(pod: V1Pod): { chain: string; step: number } | undefined {
    const labels = pod.metadata?.labels ?? {};
    const workflow = labels["workflows.argoproj.io/workflow"];
    if (workflow !== undefined) {
      const node = pod.metadata?.annotations?.["workflows.argoproj.io/node-name"] ?? "";
      const step = /\.s(\d+)$/.exec(node)?.[1];
      return step === undefined ? undefined : { chain: workflow, step: Number(step) };
    }
    const film = labels["longvideo.dev/film"];
    const segment = labels["longvideo.dev/segment"];
    if (film === undefined || segment === undefined || labels["longvideo.dev/kind"] !== "segment") return undefined;
    return { chain: film, step: Number(segment) };
  }

  observe(pod: V1Pod, at: number): void {
    const step = PodClock.stepOf(pod);
    if (step === undefined) return;
    const key = `${pod.metadata?.namespace ?? ""}/${step.chain}/${String(step.step)}`;
    const seen = this.#steps.get(key) ?? {};
    // A retried segment has two pods: the step starts with the first and ends with the first to succeed.
    seen.created ??= at;
    if (pod.status?.phase === "Succeeded") seen.succeeded ??= at;
    this.#steps.set(key, seen);
  }

  /** Opens the watch over every namespace and keeps it open, resuming from the last version seen. */
  start(): AbortController {
    const stop = new AbortController();
    const watch = new Watch(kc);
    let resourceVersion: string | undefined;
    // A function, not the property, so the check after an await is not narrowed away.
    const stopped = () => stop.signal.aborted;
    const open = async (): Promise<void> => {
      while (!stopped()) {
        const closed = new Promise<void>((resolve) => {
          watch
            .watch(
              "/api/v1/pods",
              resourceVersion === undefined ? {} : { resourceVersion },
              (type: string, pod: V1Pod) => {
                const at = performance.now();
                if (type === "ERROR") {
                  resourceVersion = undefined;
                  return;
                }
                resourceVersion = pod.metadata?.resourceVersion ?? resourceVersion;
                this.observe(pod, at);
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
              resourceVersion = undefined;
              resolve();
            });
        });
        await closed;
        if (!stopped()) this.#reopened++;
        await sleep(100);
      }
    };
    void open();
    return stop;
  }

  get reopened(): number {
    return this.#reopened;
  }

  /** The last step of every chain seen succeeded, at the moment the last of them was. */
  allDone(namespace: string, names: readonly string[]): number | undefined {
    let last = 0;
    for (const name of names) {
      const at = this.#steps.get(`${namespace}/${name}/${String(steps - 1)}`)?.succeeded;
      if (at === undefined) return undefined;
      last = Math.max(last, at);
    }
    return last;
  }

  /** Gaps (ms) from step i seen Succeeded to step i+1 seen created, over the chains; throws if a step is missing. */
  gaps(namespace: string, names: readonly string[]): number[] {
    const gaps: number[] = [];
    for (const name of names) {
      for (let i = 0; i + 1 < steps; i++) {
        const done = this.#steps.get(`${namespace}/${name}/${String(i)}`)?.succeeded;
        const next = this.#steps.get(`${namespace}/${name}/${String(i + 1)}`)?.created;
        if (done === undefined || next === undefined) {
          throw new Error(`${namespace}/${name}: step ${String(i)} or ${String(i + 1)} was not seen by the watch`);
        }
        gaps.push(next - done);
      }
    }
    return gaps;
  }
}

/** A quantile by nearest rank, of values in ms. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

interface Measured {
  readonly what: string;
  readonly chains: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** From the first chain's creation to the last chain's last step seen Succeeded, in seconds. */
  readonly wall: number;
  /** Times the pod watch was re-opened (it closes after 30 s without events) while this ran. */
  readonly reopened: number;
}

const ms = (v: number) => `${v.toFixed(0)} ms`.padStart(9);

/** One configuration's figures on one line; printed as each is measured, and again in the table at the end. */
function line(r: Measured): string {
  const reopened = r.reopened > 0 ? `, watch re-opened ${String(r.reopened)}x` : "";
  return `  ${r.what.padEnd(20)}${String(r.chains).padStart(7)} ${ms(r.p50)} ${ms(r.p99)}  wall ${r.wall.toFixed(1)} s (max gap ${r.max.toFixed(0)} ms${reopened})`;
}

async function namespaceGone(name: string): Promise<boolean> {
  return core.readNamespace({ name }).then(
    () => false,
    () => true,
  );
}

async function removeNamespace(name: string): Promise<void> {
  if (await namespaceGone(name)) return;
  await core.deleteNamespace({ name }).catch(() => undefined);
  const deadline = Date.now() + 10 * 60_000;
  while (!(await namespaceGone(name))) {
    if (Date.now() > deadline) throw new Error(`namespace ${name} still terminating after 10 minutes`);
    await sleep(500);
  }
}

/** The claims Argo's steps mount (the operator makes its own), waited on until bound so no step waits for one. */
async function createClaims(namespace: string, names: readonly string[]): Promise<void> {
  await Promise.all(
    names.map((chain) =>
      core.createNamespacedPersistentVolumeClaim({
        namespace,
        body: {
          metadata: { name: `${chain}-workspace` },
          spec: {
            storageClassName: benchStorageClass,
            accessModes: ["ReadWriteMany"],
            resources: { requests: { storage: "20Gi" } },
          },
        },
      }),
    ),
  );
  const deadline = Date.now() + 120_000;
  for (;;) {
    const claims = await core.listNamespacedPersistentVolumeClaim({ namespace });
    const bound = claims.items.filter((c) => c.status?.phase === "Bound").length;
    if (bound >= names.length) return;
    if (Date.now() > deadline) throw new Error(`${String(bound)} of ${String(names.length)} claims bound in 2 min`);
    await sleep(200);
  }
}

/**
 * The chain as an Argo `steps` workflow: step i runs after step i-1, each a pod shaped as the operator's animatic
 * segment pods are (requests, one GPU, the pool, the run-for annotation kwok's stages read, the workspace mount).
 * Argo needs `command` set, or it asks an image registry for the entrypoint; kwok runs nothing.
 */
function workflow(name: string) {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Workflow",
    metadata: { name },
    spec: {
      entrypoint: "chain",
      volumes: [{ name: "workspace", persistentVolumeClaim: { claimName: `${name}-workspace` } }],
      templates: [
        {
          name: "chain",
          steps: Array.from({ length: steps }, (_, i) => [{ name: `s${String(i)}`, template: "segment" }]),
        },
        {
          name: "segment",
          metadata: { annotations: { "sim.longvideo.dev/run-for": runFor } },
          ...pool,
          container: {
            image: "longvideo/runtime-cpu:bench",
            command: ["python", "-m", "longvideo_runtime", "segment"],
            resources: {
              requests: { cpu: "500m", memory: "512Mi" },
              limits: { cpu: "2", memory: "2Gi", "nvidia.com/gpu": "1" },
            },
            volumeMounts: [{ name: "workspace", mountPath: "/workspace" }],
          },
        },
      ],
    },
  };
}

/** The chain as a LongVideo film of one scene of N clips, as operator-bench makes its films. */
function film(name: string) {
  return {
    apiVersion: "longvideo.dev/v1alpha1",
    kind: "LongVideo",
    metadata: { name },
    spec: {
      referenceImage: { url: "https://images.example.com/first-frame.png" },
      storyline: [{ prompt: `bench chain ${name}`, clips: steps }],
      render: { backend: "animatic" },
      gpu: pool,
      podMetadata: { annotations: { "sim.longvideo.dev/run-for": runFor } },
      storage: { workspace: { accessMode: "ReadWriteMany", storageClassName: benchStorageClass } },
    },
  };
}

type Plural = "workflows" | "longvideos";
const apis: Record<Plural, { group: string; version: string }> = {
  workflows: { group: "argoproj.io", version: "v1alpha1" },
  longvideos: { group: "longvideo.dev", version: "v1alpha1" },
};

/** How many of the objects have reached `Succeeded`; throws on one that failed, with what it says about it. */
async function succeeded(namespace: string, plural: Plural): Promise<number> {
  const list = (await custom.listNamespacedCustomObject({ ...apis[plural], namespace, plural })) as {
    items: { metadata: { name: string }; status?: { phase?: string; message?: string; conditions?: unknown } }[];
  };
  const failed = list.items.find((o) => o.status?.phase === "Failed" || o.status?.phase === "Error");
  if (failed) {
    throw new Error(`${namespace}/${failed.metadata.name} failed: ${JSON.stringify(failed.status)}`);
  }
  return list.items.filter((o) => o.status?.phase === "Succeeded").length;
}

/** Creates `count` chains at once (20 requests at a time, as operator-bench does) and waits for all to succeed. */
async function runChains(
  clock: PodClock,
  what: string,
  namespace: string,
  plural: Plural,
  count: number,
): Promise<Measured> {
  const names = Array.from({ length: count }, (_, i) => `chain-${String(count)}-${String(i)}`);
  const reopenedBefore = clock.reopened;
  createWorkspaceVolumes(namespace, names);
  if (plural === "workflows") await createClaims(namespace, names);
  const started = performance.now();
  for (let i = 0; i < count; i += 20) {
    await Promise.all(
      names.slice(i, i + 20).map((name) =>
        custom.createNamespacedCustomObject({
          ...apis[plural],
          namespace,
          plural,
          body: plural === "workflows" ? workflow(name) : film(name),
        }),
      ),
    );
  }
  const deadline = Date.now() + 30 * 60_000;
  while ((await succeeded(namespace, plural)) < count) {
    if (Date.now() > deadline) throw new Error(`${what}: ${String(count)} chains did not finish in 30 minutes`);
    await sleep(500);
  }
  const done = clock.allDone(namespace, names);
  if (done === undefined) throw new Error(`${what}: the watch missed a last step`);
  const gaps = clock.gaps(namespace, names);
  const measured = {
    what,
    chains: count,
    p50: quantile(gaps, 0.5),
    p99: quantile(gaps, 0.99),
    max: quantile(gaps, 1),
    wall: (done - started) / 1000,
    reopened: clock.reopened - reopenedBefore,
  };
  console.log(line(measured));
  return measured;
}

/** Argo's controller out of cluster, watching only its own namespace, with no metrics server and no election. */
async function startArgo(namespace: string, env: Record<string, string>): Promise<ChildProcess> {
  if (argoBin === undefined) throw new Error("LV_ARGO_BIN is not set: run this through `make bench-argo`");
  await core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: { name: "workflow-controller-configmap" },
      // Each key's value is YAML; multi-line values are how the controller reads nested settings.
      data: { metricsConfig: "enabled: false\n", telemetryConfig: "enabled: false\n" },
    },
  });
  let output = "";
  const child = spawn(
    path.join(argoBin, "workflow-controller"),
    [
      "--kubeconfig",
      process.env.KUBECONFIG ?? localClusterKubeconfig,
      "--namespace",
      namespace,
      "--namespaced",
      "--executor-image",
      "quay.io/argoproj/argoexec:bench",
      "--loglevel",
      "warn",
    ],
    { env: { ...process.env, LEADER_ELECTION_DISABLE: "true", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  // Its health endpoint answers once it runs; a controller that exits (a missing CRD, a bad config) says why.
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null)
      throw new Error(`workflow-controller exited with ${String(child.exitCode)}:\n${output}`);
    const healthy = await fetch("http://127.0.0.1:6060/healthz").then(
      (r) => r.ok,
      () => false,
    );
    if (healthy) return child;
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`workflow-controller did not become healthy in 60 s:\n${output}`);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const late = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(late);
}

/** Argo as one configuration: its controller started fresh in a namespace of its own, one chain, then C at once. */
async function argo(clock: PodClock, label: string, namespace: string, env: Record<string, string>) {
  await removeNamespace(namespace);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const controller = await startArgo(namespace, env);
  try {
    const alone = await runChains(clock, label, namespace, "workflows", 1);
    const many = await runChains(clock, label, namespace, "workflows", chains);
    return [alone, many];
  } finally {
    await stopProcess(controller);
    await removeNamespace(namespace);
  }
}

async function operator(clock: PodClock, namespace: string) {
  await removeNamespace(namespace);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const operatorProcess = await startOperator({
    identity: "bench-argo",
    // Not the films' namespace: deleting it would end the lease, and with it the operator, before every film is
    // finalized.
    leaseNamespace: "default",
    env: { LV_LOG_LEVEL: "warn" },
  });
  try {
    const alone = await runChains(clock, "this operator", namespace, "longvideos", 1);
    const many = await runChains(clock, "this operator", namespace, "longvideos", chains);
    return [alone, many];
  } finally {
    // The films' finalizers need a running operator: delete them while it still serves them.
    await removeNamespace(namespace);
    await operatorProcess.stop();
  }
}

async function main(): Promise<void> {
  if (argoBin === undefined) throw new Error("LV_ARGO_BIN is not set: run this through `make bench-argo`");
  const crds = path.join(argoBin, "crds");
  const argoCrds = readdirSync(crds).filter((f) => f.startsWith("argoproj.io_") && f.endsWith(".yaml"));
  run("kubectl", [
    "apply",
    "--server-side",
    "--force-conflicts",
    ...argoCrds.flatMap((f) => ["-f", path.join(crds, f)]),
    "-f",
    path.join(repoRoot, "crds/longvideo.dev_longvideos.yaml"),
  ]);
  run("kubectl", ["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
  run("kubectl", ["delete", "persistentvolumes", "-l", benchVolumeLabel, "--wait=true"]);

  const clock = new PodClock();
  const watching = clock.start();
  const results: Measured[] = [];
  try {
    results.push(...(await argo(clock, "Argo as installed", "lv-bench-argo-default", {})));
    results.push(...(await argo(clock, "Argo, requeue 1s", "lv-bench-argo-tuned", { DEFAULT_REQUEUE_TIME: "1s" })));
    results.push(...(await operator(clock, "lv-bench-argo-films")));
  } finally {
    watching.abort();
    run("kubectl", ["delete", "persistentvolumes", "-l", benchVolumeLabel, "--wait=false"]);
  }

  console.log(
    `\nArgo Workflows side by side: chains of ${String(steps)} kwok pods of ${runFor} on the h100 pool, one claim per chain`,
  );
  console.log(`  gap: step i's pod seen Succeeded -> step i+1's pod seen created (one pod watch, local clock)`);
  console.log(`  ${"configuration".padEnd(20)}${"chains".padStart(7)}${"gap p50".padStart(10)}${"p99".padStart(10)}`);
  for (const r of results) console.log(line(r));
  const tuned = results.find((r) => r.what === "Argo, requeue 1s" && r.chains === chains);
  const ours = results.find((r) => r.what === "this operator" && r.chains === chains);
  if (tuned && ours) {
    const ratio = tuned.p99 / ours.p99;
    console.log(
      `  p99 gap with ${String(chains)} at once, tuned Argo / this operator: ${ratio.toFixed(1)}x (goal at least 10x)`,
    );
  }
}

await main();
