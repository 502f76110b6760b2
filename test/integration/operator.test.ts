/**
 * The operator, run as its own process (as `make run` runs it), against the local cluster's kwok GPU pools:
 * pods "render" for their annotated time and succeed or fail as annotated.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FilmFixture, film, segmentJobs, segmentOf } from "../support/film-fixture.ts";
import type { Film } from "../support/film-fixture.ts";
import { startOperator } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { localClusterKubeconfig, testKubeConfig } from "../support/test-kube-config.ts";

const kc = testKubeConfig();
const namespace = `lv-it-op-${randomBytes(3).toString("hex")}`;
const group = "longvideo.dev";
const version = "v1alpha1";
const plural = "longvideos";
let operator: OperatorProcess;
const films = new FilmFixture(kc, namespace, () => operator.logs());
const { core, batch, custom } = films;
const createFilm = (body: Film) => films.create(body);
const filmUntil = (name: string, done: (f: Film) => boolean, timeoutMs?: number) => films.until(name, done, timeoutMs);
const jobsOf = (name: string) => films.jobs(name);
const podsOf = (name: string) => films.pods(name);

function kubectl(...args: string[]): string {
  return execFileSync("kubectl", args, {
    env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig },
    encoding: "utf8",
  });
}

beforeAll(async () => {
  const crd = path.resolve(import.meta.dirname, "../../crds/longvideo.dev_longvideos.yaml");
  kubectl("apply", "--server-side", "--force-conflicts", "-f", crd);
  kubectl("wait", "--for=condition=Established", "crd/longvideos.longvideo.dev", "--timeout=60s");
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  operator = await startOperator({ identity: "operator-a", leaseNamespace: namespace });
}, 120_000);

afterAll(async () => {
  await operator.stop();
  await core.deleteNamespace({ name: namespace });
});

describe("the operator on kwok GPU pools", () => {
  it("renders a multi-scene film segment by segment, in the requested pool, and concatenates it", async () => {
    await createFilm(film("lighthouse"));
    const done = await filmUntil("lighthouse", (f) => f.status?.phase === "Succeeded");
    expect(done.status?.progress).toBe("3/3");
    expect(done.status?.output?.path).toBe("/workspace/film.mp4");
    expect(done.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "True",
      reason: "FilmComplete",
    });
    const records = done.status?.segments ?? [];
    expect(records.map((r) => r.index)).toEqual([0, 1, 2]);
    // The latents hand-off: each segment consumed exactly what its predecessor produced.
    expect(records[0]?.inputDigest).toBe("");
    for (let i = 1; i < records.length; i++) expect(records[i]?.inputDigest).toBe(records[i - 1]?.outputDigest);

    const jobs = segmentJobs(await jobsOf("lighthouse")).sort((a, b) => segmentOf(a) - segmentOf(b));
    expect(jobs).toHaveLength(3);
    const pods = await podsOf("lighthouse");
    for (const pod of pods) expect(pod.spec?.nodeName).toMatch(/^kwok-h100-/);
    // No segment's job exists before its predecessor's pod finished (timestamps have one-second resolution).
    for (let i = 1; i < jobs.length; i++) {
      const created = jobs[i]?.metadata?.creationTimestamp?.getTime() ?? 0;
      const predecessorFinished = Date.parse(records[i - 1]?.finishTime ?? "");
      expect(created).toBeGreaterThanOrEqual(predecessorFinished);
    }
    const workspace = await core.readNamespacedPersistentVolumeClaim({ name: "lighthouse-workspace", namespace });
    expect(workspace.status?.phase).toBe("Bound");
    // Nobody else writes this film: reconciling from its own last write (not the cache that has yet to see it),
    // the operator never met a conflict.
    const metrics = (await operator.get("/metrics")).text;
    expect(metrics).toMatch(/^controller_runtime_reconcile_total\{[^}]*result="success"[^}]*\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^controller_runtime_reconcile_total\{[^}]*result="requeue"[^}]*\} 0$/m);
  });

  it("retries a failed segment and finishes the film", async () => {
    await createFilm(film("flaky", { annotations: { "sim.longvideo.dev/outcome": "FailFirstAttempt" } }));
    const done = await filmUntil("flaky", (f) => f.status?.phase === "Succeeded");
    expect(done.status?.segments?.map((r) => r.attempt)).toEqual([1, 1, 1]);
    const jobs = segmentJobs(await jobsOf("flaky"));
    expect(jobs).toHaveLength(6);
  });

  it("fails the film with the segment and the container's message once retries are exhausted, keeping its records", async () => {
    await createFilm(
      film("doomed", { annotations: { "sim.longvideo.dev/outcome": "Failed", "sim.longvideo.dev/exit-code": "3" } }),
    );
    const failed = await filmUntil("doomed", (f) => f.status?.phase === "Failed");
    const condition = failed.status?.conditions?.find((c) => c.type === "Failed");
    expect(condition).toMatchObject({ status: "True", reason: "RetriesExhausted" });
    expect(condition?.message).toBe("segment 0 failed 3 time(s): simulated failure (exit code 3)");
    expect(segmentJobs(await jobsOf("doomed"))).toHaveLength(3);
  });

  it("finishes a film whose running retry's Job is deleted by hand, without counting the lost attempt", async () => {
    const scenes = [{ prompt: "a kite over the dunes", clips: 1 }];
    const annotations = { "sim.longvideo.dev/outcome": "FailFirstAttempt", "sim.longvideo.dev/run-for": "4s" };
    await createFilm(film("deleted-retry", { scenes, annotations }));
    await filmUntil(
      "deleted-retry",
      (f) => f.status?.segments?.[0]?.attempt === 1 && f.status.segments[0].state === "Running",
    );
    const retry = segmentJobs(await jobsOf("deleted-retry")).find(
      (j) => j.metadata?.labels?.["longvideo.dev/attempt"] === "1",
    );
    await batch.deleteNamespacedJob({ name: retry?.metadata?.name ?? "", namespace, propagationPolicy: "Background" });
    const done = await filmUntil("deleted-retry", (f) => f.status?.phase === "Succeeded");
    expect(done.status?.segments?.[0]).toMatchObject({ attempt: 2, failures: 1, state: "Succeeded" });
    const events = await core.listNamespacedEvent({ namespace, fieldSelector: "involvedObject.name=deleted-retry" });
    expect(events.items.map((e) => e.reason)).toContain("SegmentLost");
  });

  it("finishes a film whose concatenation Job is deleted by hand while it runs", async () => {
    const scenes = [{ prompt: "a lantern drifts downstream", clips: 1 }];
    await createFilm(film("deleted-concat", { scenes, annotations: { "sim.longvideo.dev/run-for": "3s" } }));
    await filmUntil("deleted-concat", (f) => f.status?.phase === "Concatenating");
    const concat = (await jobsOf("deleted-concat")).find(
      (j) => j.metadata?.labels?.["longvideo.dev/kind"] === "concat",
    );
    await batch.deleteNamespacedJob({ name: concat?.metadata?.name ?? "", namespace, propagationPolicy: "Background" });
    const done = await filmUntil("deleted-concat", (f) => f.status?.phase === "Succeeded");
    expect(done.status?.output?.frames).toBeGreaterThan(0);
  });

  it("re-renders a film re-created under the name of one deleted with --cascade=orphan, adopting none of its jobs", async () => {
    const scenes = [{ prompt: "a heron lands", clips: 2 }];
    await createFilm(film("again", { scenes }));
    const first = await filmUntil("again", (f) => f.status?.phase === "Succeeded");
    const oldJobs = new Set(segmentJobs(await jobsOf("again")).map((j) => j.metadata?.name));
    kubectl("-n", namespace, "delete", "lv", "again", "--cascade=orphan", "--wait=true", "--timeout=60s");
    await createFilm(film("again", { scenes }));
    const second = await filmUntil("again", (f) => f.status?.phase === "Succeeded" && f.status.output !== undefined);
    const uid = (second as { metadata: { uid?: string } }).metadata.uid;
    expect(uid).not.toBe((first as { metadata: { uid?: string } }).metadata.uid);
    const owned = segmentJobs(await jobsOf("again")).filter((j) => j.metadata?.ownerReferences?.[0]?.uid === uid);
    expect(owned).toHaveLength(2);
    for (const job of owned) expect(oldJobs.has(job.metadata?.name)).toBe(false);
  });

  it("fails the film at once, without retries, when a segment exits for bad input (exit code 2)", async () => {
    const annotations = { "sim.longvideo.dev/outcome": "Failed", "sim.longvideo.dev/exit-code": "2" };
    await createFilm(film("bad-input", { scenes: [{ prompt: "a door opens", clips: 1 }], annotations }));
    const failed = await filmUntil("bad-input", (f) => f.status?.phase === "Failed");
    expect(failed.status?.conditions?.find((c) => c.type === "Failed")).toMatchObject({
      status: "True",
      reason: "BadInput",
    });
    expect(failed.status?.segments?.[0]).toMatchObject({ exitCode: 2, failures: 1, state: "Failed" });
    expect(segmentJobs(await jobsOf("bad-input"))).toHaveLength(1);
  });

  it("re-renders the segment whose hand-off a successor or the concatenation found missing (exit code 3), counting no failure for it", async () => {
    const annotations = { "sim.longvideo.dev/outcome": "FailFirstAttempt", "sim.longvideo.dev/exit-code": "3" };
    await createFilm(film("lost-handoff", { scenes: [{ prompt: "a paper boat", clips: 2 }], annotations }));
    const done = await filmUntil("lost-handoff", (f) => f.status?.phase === "Succeeded", 120_000);
    const [first, second] = done.status?.segments ?? [];
    // Segment 0's own first attempt counts (it has no input to lose); its hand-off, lost once, is rendered again.
    expect(first).toMatchObject({ state: "Succeeded", attempt: 2, failures: 1, handoffLosses: 1 });
    // Segment 1 could not read its input (not counted), and the concatenation could not verify its clip.
    expect(second).toMatchObject({ state: "Succeeded", attempt: 2, failures: 0, handoffLosses: 1 });
    expect(second?.inputDigest).toBe(first?.outputDigest);
    const events = await core.listNamespacedEvent({ namespace, fieldSelector: "involvedObject.name=lost-handoff" });
    const invalidated = events.items.filter((e) => e.reason === "SegmentsInvalidated").map((e) => e.message);
    expect(invalidated).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^re-rendering from segment 0: its hand-off was found missing or corrupt by segment 1/),
        expect.stringMatching(
          /^re-rendering from segment 1: its hand-off was found missing or corrupt by the concatenation/,
        ),
      ]),
    );
  });

  it("re-renders from the first segment into a workspace claim deleted by hand and made again, saying why", async () => {
    const scenes = [{ prompt: "a lamp flickers", clips: 3 }];
    await createFilm(film("new-claim", { scenes, annotations: { "sim.longvideo.dev/run-for": "2s" } }));
    const midway = await filmUntil("new-claim", (f) => f.status?.segments?.[1]?.state === "Running", 60_000);
    const oldUid = midway.status?.workspaceClaimUID;
    expect(oldUid).toBeTruthy();
    // Held by claim protection while any pod refers to it: the operator lets the film's jobs (and pods) go.
    const deletedAt = Date.now();
    await core.deleteNamespacedPersistentVolumeClaim({ name: "new-claim-workspace", namespace });
    const done = await filmUntil("new-claim", (f) => f.status?.phase === "Succeeded", 120_000);
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: "new-claim-workspace", namespace });
    expect(claim.metadata?.uid).not.toBe(oldUid);
    expect(done.status?.workspaceClaimUID).toBe(claim.metadata?.uid);
    // Every segment rendered again, from the first, into the new claim; the old claim's jobs are gone.
    const jobs = segmentJobs(await jobsOf("new-claim"));
    expect(jobs.map((j) => j.metadata?.annotations?.["longvideo.dev/workspace-uid"])).toEqual(
      jobs.map(() => claim.metadata?.uid),
    );
    expect(jobs.map(segmentOf).sort()).toEqual([0, 1, 2]);
    const first = done.status?.segments?.[0];
    expect(Date.parse(first?.startTime ?? "")).toBeGreaterThanOrEqual(Math.floor(deletedAt / 1000) * 1000);
    const events = await core.listNamespacedEvent({ namespace, fieldSelector: "involvedObject.name=new-claim" });
    expect(events.items.map((e) => e.reason)).toContain("WorkspaceReplaced");
  });

  it("says on the film, in the scheduler's words, when no node fits its pods", async () => {
    const gpu = {
      nodeSelector: { "longvideo.dev/pool": "b200" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    };
    await createFilm(film("no-pool", { scenes: [{ prompt: "a comet", clips: 1 }], gpu }));
    const stuck = await filmUntil(
      "no-pool",
      (f) => f.status?.conditions?.find((c) => c.type === "Progressing")?.reason === "Unschedulable",
      30_000,
    );
    const progressing = stuck.status?.conditions?.find((c) => c.type === "Progressing");
    expect(progressing?.status).toBe("False");
    expect(progressing?.message).toMatch(/^segment 0 waits for a node: 0\/\d+ nodes are available/);
    const events = await core.listNamespacedEvent({ namespace, fieldSelector: "involvedObject.name=no-pool" });
    expect(events.items.filter((e) => e.reason === "SegmentUnschedulable")).toHaveLength(1);
    kubectl("-n", namespace, "delete", "lv", "no-pool", "--wait=true", "--timeout=60s");
  });

  it("moves a segment waiting for a node to the placement the film is edited to, counting nothing", async () => {
    const tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];
    const gpu = { nodeSelector: { "longvideo.dev/pool": "b200" }, tolerations };
    await createFilm(film("moved", { scenes: [{ prompt: "a swallow", clips: 1 }], gpu }));
    await filmUntil("moved", (f) => f.status?.conditions?.find((c) => c.type === "Ready")?.reason === "Unschedulable");
    kubectl(
      "-n",
      namespace,
      "patch",
      "lv",
      "moved",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { gpu: { nodeSelector: { "longvideo.dev/pool": "a100" }, tolerations } } }),
    );
    const done = await filmUntil("moved", (f) => f.status?.phase === "Succeeded", 60_000);
    expect(done.status?.segments?.[0]).toMatchObject({ state: "Succeeded", attempt: 1, failures: 0 });
    expect(done.status?.segments?.[0]?.node).toMatch(/^kwok-a100-/);
  });

  it("fails an attempt that outlives its deadline, and the film once the budget is spent, saying why", async () => {
    await createFilm(
      film("slow", {
        scenes: [{ prompt: "a glacier calves", clips: 1 }],
        annotations: { "sim.longvideo.dev/run-for": "60s" },
        render: { backend: "animatic", deadlineSeconds: 5 },
        retry: { limit: 0, backoff: { initialSeconds: 1, maxSeconds: 1 } },
      }),
    );
    const failed = await filmUntil("slow", (f) => f.status?.phase === "Failed", 60_000);
    expect(failed.status?.segments?.[0]).toMatchObject({ state: "Failed", failures: 1 });
    expect(failed.status?.conditions?.find((c) => c.type === "Failed")?.message).toContain("DeadlineExceeded");
    const [job] = segmentJobs(await jobsOf("slow"));
    expect(job?.spec?.activeDeadlineSeconds).toBe(5);
  });

  it("gives a segment pod the film's CPU, memory and /dev/shm, and the backend's defaults for what it leaves out", async () => {
    const resources = { requests: { cpu: "2", memory: "3Gi" }, limits: { memory: "12Gi" }, sharedMemory: "1Gi" };
    await createFilm(film("sized", { scenes: [{ prompt: "a lamp is lit", clips: 1 }], resources }));
    await filmUntil("sized", (f) => f.status?.phase === "Succeeded");
    const [job] = segmentJobs(await jobsOf("sized"));
    const pod = job?.spec?.template.spec;
    // The animatic CPU limit (2) stays: it is not below the film's request.
    expect(pod?.containers[0]?.resources).toEqual({
      requests: { cpu: "2", memory: "3Gi" },
      limits: { cpu: "2", memory: "12Gi", "nvidia.com/gpu": "1" },
    });
    const shm = pod?.containers[0]?.volumeMounts?.find((m) => m.mountPath === "/dev/shm");
    expect(pod?.volumes?.find((v) => v.name === shm?.name)?.emptyDir).toEqual({ medium: "Memory", sizeLimit: "1Gi" });
  });

  it("gives each segment pod of a 4-GPU film four GPUs of one node and tells the worker to start four ranks", async () => {
    const gpu = {
      nodeSelector: { "longvideo.dev/pool": "h100" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      count: 4,
    };
    await createFilm(film("quad", { gpu, scenes: [{ prompt: "a lamp is lit", clips: 2 }] }));
    const done = await filmUntil("quad", (f) => f.status?.phase === "Succeeded");
    const jobs = segmentJobs(await jobsOf("quad"));
    expect(jobs).toHaveLength(2);
    for (const job of jobs) {
      const pod = job.spec?.template.spec;
      const container = pod?.containers[0];
      expect(container?.resources?.limits?.["nvidia.com/gpu"]).toBe("4");
      expect(container?.env?.find((e) => e.name === "LV_GPU_COUNT")?.value).toBe("4");
      const shm = container?.volumeMounts?.find((m) => m.mountPath === "/dev/shm");
      expect(pod?.volumes?.find((v) => v.name === shm?.name)?.emptyDir?.medium).toBe("Memory");
    }
    // Each segment ran on a node of the pool that has the four GPUs to give.
    const nodes = (done.status?.segments ?? []).map((r) => r.node ?? "");
    expect(nodes).toHaveLength(2);
    for (const name of nodes) {
      expect(name).toMatch(/^kwok-h100-/);
      const node = await core.readNode({ name });
      expect(Number(node.status?.allocatable?.["nvidia.com/gpu"])).toBeGreaterThanOrEqual(4);
    }
  });

  it("renders keyframed chains side by side, never more at once than the parallelism, and joins them in order", async () => {
    const keyframe = (key: string) => ({ url: `https://images.example.com/${key}.png` });
    const scenes = [
      { prompt: "a harbour at dawn", clips: 2 },
      { prompt: "seen from the lighthouse", clips: 2, keyframe: keyframe("lighthouse") },
      { prompt: "evening on the quay", clips: 2, keyframe: keyframe("quay") },
    ];
    await createFilm(
      film("views", {
        scenes,
        render: { backend: "animatic", parallelism: 2 },
        annotations: { "sim.longvideo.dev/run-for": "2s" },
      }),
    );
    // Sampled while it renders: segment pods running at once.
    let most = 0;
    let done: Film | undefined;
    while (!done) {
      const pods = await podsOf("views");
      const running = pods.filter(
        (p) => p.metadata?.labels?.["longvideo.dev/kind"] === "segment" && p.status?.phase === "Running",
      );
      most = Math.max(most, running.length);
      const current = await films.read("views");
      if (current.status?.phase === "Succeeded") done = current;
      else if (current.status?.phase === "Failed") throw new Error(JSON.stringify(current.status.conditions));
      else await sleep(200);
    }
    expect(most).toBe(2);
    expect(done.status?.progress).toBe("6/6");
    expect(done.status?.chains).toEqual([
      { first: 0, last: 1, progress: "2/2" },
      { first: 2, last: 3, progress: "2/2" },
      { first: 4, last: 5, progress: "2/2" },
    ]);
    // Each chain starts from its own image, consuming nothing, and hands off within itself.
    const records = [...(done.status?.segments ?? [])].sort((a, b) => a.index - b.index);
    expect(
      records.map((r) =>
        r.inputDigest === "" ? "start" : r.inputDigest === records[r.index - 1]?.outputDigest ? "link" : "?",
      ),
    ).toEqual(["start", "link", "start", "link", "start", "link"]);
    const jobs = segmentJobs(await jobsOf("views")).sort((a, b) => segmentOf(a) - segmentOf(b));
    const env = (index: number, name: string) =>
      jobs.find((j) => segmentOf(j) === index)?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === name)
        ?.value;
    expect(JSON.parse(env(2, "LV_REFERENCE_IMAGE") ?? "null")).toEqual(keyframe("lighthouse"));
    expect(JSON.parse(env(5, "LV_REFERENCE_IMAGE") ?? "null")).toEqual(keyframe("quay"));
    expect([0, 1, 2, 3, 4, 5].map((i) => env(i, "LV_CHAIN_START") ?? "")).toEqual(["", "", "true", "", "true", ""]);
    // The concatenation walks each chain back from its own last segment.
    const concat = (await jobsOf("views")).find((j) => j.metadata?.labels?.["longvideo.dev/kind"] === "concat");
    const final = concat?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === "LV_FINAL_DIGEST")?.value;
    expect(final).toBe([1, 3, 5].map((i) => `${String(i)}:${records[i]?.outputDigest ?? ""}`).join(","));

    // An edit inside the second chain re-renders that chain alone.
    const edited = scenes.map((scene, i) => (i === 1 ? { ...scene, prompt: "seen from the breakwater" } : scene));
    kubectl(
      "-n",
      namespace,
      "patch",
      "lv",
      "views",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { storyline: edited } }),
    );
    const again = await filmUntil("views", (f) => f.status?.phase === "Succeeded" && f.status.observedGeneration === 2);
    const after = [...(again.status?.segments ?? [])].sort((a, b) => a.index - b.index);
    const digests = (rs: typeof records) => rs.map((r) => r.outputDigest);
    expect(digests(after).map((d, i) => d === digests(records)[i])).toEqual([true, true, false, false, true, true]);
    const rendered = segmentJobs(await jobsOf("views")).map(segmentOf);
    expect([0, 1, 2, 3, 4, 5].map((i) => rendered.filter((x) => x === i).length)).toEqual([1, 1, 2, 2, 1, 1]);
  });

  it("starts nothing while suspended and finishes once resumed", async () => {
    await createFilm(film("paused", { suspend: true }));
    const suspended = await filmUntil("paused", (f) => f.status?.phase === "Suspended");
    expect(suspended.status?.conditions?.find((c) => c.type === "Suspended")?.status).toBe("True");
    await sleep(2_000);
    expect(await jobsOf("paused")).toHaveLength(0);
    kubectl("-n", namespace, "patch", "lv", "paused", "--type=merge", "-p", '{"spec":{"suspend":false}}');
    await filmUntil("paused", (f) => f.status?.phase === "Succeeded");
  });

  it("finishes a film after the operator is killed mid-render, rendering no segment twice", async () => {
    const scenes = [
      { prompt: "a train leaves the station", clips: 3 },
      { prompt: "fields rush past", clips: 3 },
    ];
    await createFilm(film("express", { scenes, annotations: { "sim.longvideo.dev/run-for": "2s" } }));
    await filmUntil("express", (f) => Number(f.status?.progress?.split("/")[0] ?? 0) >= 2);
    await operator.stop("SIGKILL");
    operator = await startOperator({ identity: "operator-b", leaseNamespace: namespace });
    const done = await filmUntil("express", (f) => f.status?.phase === "Succeeded", 120_000);
    expect(done.status?.progress).toBe("6/6");
    const jobs = segmentJobs(await jobsOf("express"));
    expect(jobs.map(segmentOf).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("re-renders only from the edited scene on when the storyline changes mid-render", async () => {
    const scenes = [
      { prompt: "a kite rises", clips: 2 },
      { prompt: "the string snaps", clips: 2 },
      { prompt: "the kite drifts over the sea", clips: 2 },
    ];
    await createFilm(film("kite", { scenes, annotations: { "sim.longvideo.dev/run-for": "2s" } }));
    await filmUntil("kite", (f) => Number(f.status?.progress?.split("/")[0] ?? 0) >= 2);
    const edited = scenes.map((scene, i) => (i === 2 ? { ...scene, prompt: "the kite lands in a tree" } : scene));
    kubectl(
      "-n",
      namespace,
      "patch",
      "lv",
      "kite",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { storyline: edited } }),
    );
    const done = await filmUntil("kite", (f) => f.status?.phase === "Succeeded" && f.status.observedGeneration === 2);
    expect(done.status?.progress).toBe("6/6");
    const jobs = segmentJobs(await jobsOf("kite"));
    const perSegment = (index: number) => jobs.filter((j) => segmentOf(j) === index);
    // Scenes before the edit were rendered once; the edited scene's segments run with the new prompt.
    for (const index of [0, 1, 2, 3]) expect(perSegment(index)).toHaveLength(1);
    const prompts = (index: number) =>
      perSegment(index)
        .filter((j) => !j.metadata?.deletionTimestamp)
        .map((j) => j.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === "LV_PROMPT")?.value);
    expect(prompts(4)).toContain("the kite lands in a tree");
    expect(prompts(5)).toEqual(["the kite lands in a tree"]);
  });

  it("lets only the leading replica act", async () => {
    const standby = await startOperator({ identity: "operator-standby", leaseNamespace: namespace });
    try {
      await createFilm(film("duet"));
      await filmUntil("duet", (f) => f.status?.phase === "Succeeded");
      const metrics = (await standby.get("/metrics")).text;
      expect(metrics).toMatch(/^leader_election_master_status\{name="longvideo-operator"\} 0$/m);
      // Its series exist (at zero, so dashboards show 0 rather than no data), but it never reconciled.
      const reconciles = [...metrics.matchAll(/^controller_runtime_reconcile_total\{[^}]*\} (\S+)$/gm)];
      expect(reconciles.length).toBeGreaterThan(0);
      expect(reconciles.map((m) => Number(m[1]))).toEqual(reconciles.map(() => 0));
      expect((await operator.get("/metrics")).text).toMatch(
        /^controller_runtime_reconcile_total\{[^}]*result="success"\} [1-9]/m,
      );
      expect((await operator.get("/metrics")).text).toMatch(
        /^leader_election_master_status\{name="longvideo-operator"\} 1$/m,
      );
      expect((await standby.get("/readyz")).status).toBe(200);
    } finally {
      await standby.stop();
    }
  });

  it.each([
    { policy: "Delete", kept: false },
    { policy: "Retain", kept: true },
  ])("on deletion removes the film's jobs and honours the $policy workspace policy", async ({ policy, kept }) => {
    const name = `gone-${policy.toLowerCase()}`;
    await createFilm(film(name, { storage: { workspace: { accessMode: "ReadWriteMany", whenDeleted: policy } } }));
    await filmUntil(name, (f) => f.status?.phase === "Succeeded");
    await custom.deleteNamespacedCustomObject({ group, version, namespace, plural, name });
    for (let i = 0; i < 120; i++) {
      const remaining = await custom
        .listNamespacedCustomObject({ group, version, namespace, plural })
        .then((l) => (l as { items: Film[] }).items.filter((f) => f.metadata.name === name).length);
      if (remaining === 0) break;
      await sleep(250);
    }
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: `${name}-workspace`, namespace }).then(
      (c) => (c.metadata?.deletionTimestamp ? undefined : c),
      () => undefined,
    );
    expect(claim !== undefined).toBe(kept);
    if (claim) expect(claim.metadata?.ownerReferences ?? []).toEqual([]);
  });
});
