/**
 * Parallel chains benchmark (issue 15, docs/adr/0025): the same film of keyframed scenes on the local cluster's kwok
 * GPU pool, rendered one segment at a time and then with one segment pod per chain at once, in one run. Each
 * segment "renders" for LV_CHAINS_RUN_FOR (2s). Prints the wall times (film created to film written), the plan's
 * critical path, and the parallel film's wall time as a ratio of the serial one's, beside the goal: with 4 chains
 * of equal length at parallelism 4, about a quarter.
 *
 * Environment: LV_CHAINS_SCENES (4), LV_CHAINS_CLIPS (5 per scene), LV_CHAINS_RUN_FOR (2s).
 * `make bench-chains` starts a cluster and runs this; `make bench` runs it after the operator benchmark.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { longVideoSpecSchema } from "../../src/api/long-video-spec.ts";
import { criticalPath, segmentPlan } from "../../src/plan/segment-plan.ts";
import { startOperator } from "../support/operator-process.ts";
import { kubectl } from "../support/kubectl.ts";
import { testKubeConfig } from "../support/test-kube-config.ts";

const scenes = Number(process.env.LV_CHAINS_SCENES ?? 4);
const clips = Number(process.env.LV_CHAINS_CLIPS ?? 5);
const runFor = process.env.LV_CHAINS_RUN_FOR ?? "2s";
const namespace = `lv-bench-chains-${randomBytes(3).toString("hex")}`;
const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const api = { group: "longvideo.dev", version: "v1alpha1", namespace, plural: "longvideos" };

/** The film: `scenes` scenes of `clips` clips, every scene after the first starting from a keyframe of its own. */
function filmSpec(parallelism: number) {
  return {
    referenceImage: { url: "https://images.example.com/first-frame.png" },
    storyline: Array.from({ length: scenes }, (_, i) => ({
      prompt: `view ${String(i)} of the harbour`,
      clips,
      ...(i === 0 ? {} : { keyframe: { url: `https://images.example.com/view-${String(i)}.png` } }),
    })),
    render: { backend: "animatic", parallelism },
    gpu: {
      nodeSelector: { "longvideo.dev/pool": "h100" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    },
    podMetadata: { annotations: { "sim.longvideo.dev/run-for": runFor } },
    storage: { workspace: { accessMode: "ReadWriteMany" } },
  };
}

interface Rendered {
  readonly wall: number;
  /** From the first segment pod seen running to every segment recorded: the rendering itself, in seconds. */
  readonly span: number;
  /** Segment pods seen running at once, at most (sampled every 100 ms). */
  readonly mostAtOnce: number;
}

/** Creates the film and waits until it is written; wall time in seconds. */
async function render(name: string, parallelism: number): Promise<Rendered> {
  const started = performance.now();
  await custom.createNamespacedCustomObject({
    ...api,
    body: { apiVersion: "longvideo.dev/v1alpha1", kind: "LongVideo", metadata: { name }, spec: filmSpec(parallelism) },
  });
  const deadline = Date.now() + 15 * 60_000;
  let mostAtOnce = 0;
  let firstRunning: number | undefined;
  let allRendered: number | undefined;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`${name} did not finish in 15 minutes`);
    const film = (await custom.getNamespacedCustomObject({ ...api, name })) as {
      status?: { phase?: string; progress?: string; conditions?: unknown };
    };
    const [rendered, planned] = (film.status?.progress ?? "0/1").split("/");
    if (rendered === planned) allRendered ??= performance.now();
    if (film.status?.phase === "Succeeded") {
      const now = performance.now();
      const span = ((allRendered ?? now) - (firstRunning ?? started)) / 1000;
      return { wall: (now - started) / 1000, span, mostAtOnce };
    }
    if (film.status?.phase === "Failed") throw new Error(`${name} failed: ${JSON.stringify(film.status.conditions)}`);
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `longvideo.dev/film=${name},longvideo.dev/kind=segment`,
    });
    const running = pods.items.filter((p) => p.status?.phase === "Running").length;
    if (running > 0) firstRunning ??= performance.now();
    mostAtOnce = Math.max(mostAtOnce, running);
    await sleep(100);
  }
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
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const operator = await startOperator({
    identity: "bench-chains",
    leaseNamespace: namespace,
    env: { LV_LOG_LEVEL: "warn" },
  });
  try {
    const serial = await render("serial", 1);
    const parallel = await render("parallel", scenes);
    const planned = segmentPlan(longVideoSpecSchema.parse(filmSpec(scenes)));
    if (!planned.ok) throw new Error(planned.error.message);
    const seconds = Number.parseFloat(runFor);
    const critical = criticalPath(planned.plan, () => seconds);
    const ratio = parallel.wall / serial.wall;
    const spanRatio = parallel.span / serial.span;
    const ideal = critical.seconds / (planned.plan.segments.length * seconds);
    console.log(
      `\nparallel chains benchmark: ${String(scenes)} keyframed scenes x ${String(clips)} clips, run-for ${runFor}`,
    );
    console.log(`  chains                        ${String(planned.plan.chains.length)}`);
    const line = (what: string, r: Rendered) =>
      `  ${what.padEnd(28)}${r.wall.toFixed(1)} s wall, ${r.span.toFixed(1)} s rendering, at most ${String(r.mostAtOnce)} segment(s) at once`;
    console.log(line("serial (parallelism 1)", serial));
    console.log(line(`parallel (parallelism ${String(scenes)})`, parallel));
    const goal = `goal about ${ideal.toFixed(2)}: the critical path, ${String(critical.seconds)} s of ${String(planned.plan.segments.length * seconds)} s of clips`;
    console.log(`  ratio parallel / serial     rendering ${spanRatio.toFixed(3)} (${goal})`);
    console.log(
      `                              wall ${ratio.toFixed(3)} (with what does not shrink: claim, first pod start, concatenation)`,
    );
  } finally {
    // The films' finalizers need a running operator: delete them while it still serves them.
    await core.deleteNamespace({ name: namespace });
    for (let i = 0; i < 600; i++) {
      const gone = await core.readNamespace({ name: namespace }).then(
        () => false,
        () => true,
      );
      if (gone) break;
      await sleep(500);
    }
    await operator.stop();
  }
}

await main();
