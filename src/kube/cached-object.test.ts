import { describe, expect, it } from "vitest";
import {
  cachedClaim,
  cachedEvent,
  cachedFilm,
  cachedJob,
  cachedNode,
  cachedPod,
  cachedWorkload,
  lastAppliedAnnotation,
} from "./cached-object.ts";
import type {
  EventObject,
  JobObject,
  LongVideoObject,
  NodeObject,
  PodObject,
  WorkloadObject,
} from "../api/kubernetes-objects.ts";
import { operatorFilmPolicySchema } from "../api/film-policy.ts";
import { operatorLabels } from "../api/operator-labels.ts";
import { referenceFetchPolicySchema } from "../api/reference-fetch-policy.ts";
import { segmentJob } from "../manifests/film-jobs.ts";
import { workspaceClaim } from "../manifests/workspace-claim.ts";
import { decide } from "../reconcile/decide.ts";
import { filmIntent } from "../reconcile/film-intent.ts";
import type { IntentResult } from "../reconcile/film-snapshot.ts";
import { filmSnapshot, hasEnded, observedJob, observedPod } from "../reconcile/observed-objects.ts";
import type { ObservedObjects } from "../reconcile/observed-objects.ts";
import { servedClaim, servedFilm, servedJob, servedPod } from "../../test/support/served-objects.ts";
import type { Manifest, PodState } from "../../test/support/served-objects.ts";

const managedFields = [{ manager: "kube-controller-manager", fieldsV1: { "f:status": {} } }];
const metadata = {
  name: "bay-s1-abc-a0",
  namespace: "films",
  uid: "u1",
  resourceVersion: "42",
  labels: { "longvideo.dev/film": "bay" },
  ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "bay-s1-abc-a0", uid: "j1", controller: true }],
  managedFields,
  annotations: { "longvideo.dev/hash": "h" },
};

describe("cached objects", () => {
  it("keeps of a Kueue Workload only its owner, its conditions and its eviction counts", () => {
    const workload = {
      metadata: { ...metadata, name: "job-bay-s1-abc-a0-1f2e3" },
      spec: { queueName: "gpu", podSets: [{ name: "main", count: 1, template: { spec: { containers: [] } } }] },
      status: {
        admission: {
          clusterQueue: "gpu",
          podSetAssignments: [{ name: "main", flavors: { "nvidia.com/gpu": "h100" } }],
        },
        conditions: [
          {
            type: "QuotaReserved",
            status: "False",
            reason: "Pending",
            message: "insufficient unused quota",
            lastTransitionTime: "t0",
            observedGeneration: 1,
          },
        ],
        schedulingStats: { evictions: [{ reason: "Preempted", underlyingCause: "", count: 2 }] },
        requeueState: { count: 1 },
      },
    } as unknown as WorkloadObject;
    expect(cachedWorkload(workload)).toEqual({
      metadata: {
        name: "job-bay-s1-abc-a0-1f2e3",
        namespace: "films",
        uid: "u1",
        resourceVersion: "42",
        labels: { "longvideo.dev/film": "bay" },
        ownerReferences: [{ uid: "j1", kind: "Job", name: "bay-s1-abc-a0" }],
      },
      status: {
        conditions: [
          { type: "QuotaReserved", status: "False", reason: "Pending", message: "insufficient unused quota" },
        ],
        schedulingStats: { evictions: [{ reason: "Preempted", count: 2 }] },
      },
    });
  });

  it("keeps of a pod only where it ran and how it ended", () => {
    const pod = {
      metadata,
      spec: {
        nodeName: "kwok-h100-0",
        containers: [{ name: "render", env: [{ name: "LV_PROMPT", value: "x".repeat(5000) }] }],
      },
      status: {
        phase: "Failed",
        podIP: "10.0.0.9",
        conditions: [{ type: "Ready", status: "False" }],
        containerStatuses: [
          {
            name: "render",
            image: "runtime",
            state: { terminated: { exitCode: 3, reason: "Error", message: '{"ok":false}', finishedAt: "t1" } },
          },
        ],
      },
    } as unknown as PodObject;
    expect(cachedPod(pod)).toEqual({
      metadata: {
        name: "bay-s1-abc-a0",
        namespace: "films",
        uid: "u1",
        resourceVersion: "42",
        labels: { "longvideo.dev/film": "bay" },
        ownerReferences: [{ kind: "Job", name: "bay-s1-abc-a0", uid: "j1" }],
      },
      spec: { nodeName: "kwok-h100-0" },
      status: {
        phase: "Failed",
        containerStatuses: [
          { state: { terminated: { exitCode: 3, reason: "Error", message: '{"ok":false}', finishedAt: "t1" } } },
        ],
      },
    });
    expect(JSON.stringify(cachedPod(pod)).length).toBeLessThan(JSON.stringify(pod).length / 10);
  });

  it("keeps of a pending pod only the scheduler's refusal among its conditions", () => {
    const refusal = { type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes fit" };
    const pod = {
      metadata,
      status: {
        phase: "Pending",
        conditions: [
          { type: "Initialized", status: "True" },
          { ...refusal, lastProbeTime: null },
        ],
      },
    } as unknown as PodObject;
    expect(cachedPod(pod).status).toEqual({ phase: "Pending", conditions: [refusal] });
  });

  it("keeps of an evicted pod its deletion mark and its disruption", () => {
    const pod = {
      metadata: { ...metadata, deletionTimestamp: "2026-11-25T12:00:10Z" },
      status: {
        phase: "Running",
        conditions: [
          { type: "Ready", status: "True", lastTransitionTime: "2026-11-25T12:00:00Z" },
          { type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager", message: "taint manager" },
        ],
      },
    } as unknown as PodObject;
    const cached = cachedPod(pod);
    expect(cached.metadata?.deletionTimestamp).toBe("2026-11-25T12:00:10Z");
    expect(cached.status?.conditions).toEqual([
      { type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager", message: "taint manager" },
    ]);
  });

  it("keeps of an event what it says about which object, and of a node its Ready condition without heartbeats", () => {
    const event = {
      metadata,
      involvedObject: { kind: "Job", name: "bay-s1", namespace: "films", uid: "j1", apiVersion: "batch/v1" },
      reason: "FailedCreate",
      message: "forbidden",
      type: "Warning",
      count: 3,
      lastTimestamp: "2026-11-25T12:00:10Z",
      source: { component: "job-controller" },
    } as unknown as EventObject;
    expect(cachedEvent(event)).toEqual({
      metadata: {
        name: metadata.name,
        namespace: "films",
        uid: "u1",
        resourceVersion: "42",
        labels: metadata.labels,
        ownerReferences: [{ uid: "j1", kind: "Job", name: "bay-s1-abc-a0" }],
      },
      involvedObject: { kind: "Job", name: "bay-s1", namespace: "films", uid: "j1" },
      reason: "FailedCreate",
      message: "forbidden",
      count: 3,
      lastTimestamp: "2026-11-25T12:00:10Z",
    });
    const node = {
      metadata: { name: "n1", resourceVersion: "7", managedFields },
      status: {
        conditions: [
          { type: "MemoryPressure", status: "False" },
          { type: "Ready", status: "False", reason: "KubeletNotReady", message: "down", lastHeartbeatTime: "x" },
        ],
        images: [{ names: ["a"] }],
      },
    } as unknown as NodeObject;
    expect(cachedNode(node)).toEqual({
      metadata: { name: "n1", resourceVersion: "7" },
      status: { conditions: [{ type: "Ready", status: "False", reason: "KubeletNotReady", message: "down" }] },
    });
  });

  it("keeps of a job its own annotations, timestamps and conditions", () => {
    const job = {
      metadata: {
        ...metadata,
        annotations: { ...metadata.annotations, "kueue.x-k8s.io/queue-name": "gpu" },
        creationTimestamp: "t0",
      },
      spec: { template: { spec: { containers: [{ name: "render" }] } } },
      status: { conditions: [{ type: "Complete", status: "True", lastProbeTime: "t2" }], succeeded: 1 },
    } as unknown as JobObject;
    const cached = cachedJob(job);
    expect(cached.metadata.annotations).toEqual({ "longvideo.dev/hash": "h" });
    expect(cached.metadata.creationTimestamp).toBe("t0");
    expect(cached.status).toEqual({ conditions: [{ type: "Complete", status: "True" }] });
    expect("spec" in cached).toBe(false);
    expect("managedFields" in cached.metadata).toBe(false);
  });

  it("drops only managed fields and kubectl's copy from films, and keeps claims' deletion marks", () => {
    const film = { metadata: { name: "bay", managedFields, generation: 3 }, spec: { variant: "film" }, status: {} };
    expect(cachedFilm(film)).toEqual({
      metadata: { name: "bay", generation: 3 },
      spec: { variant: "film" },
      status: {},
    });
    expect(cachedFilm({ metadata: { name: "bare" } })).toEqual({ metadata: { name: "bare" } });
    const applied = {
      metadata: { name: "bay", annotations: { [lastAppliedAnnotation]: "{}", "team.example/owner": "vfx" } },
    };
    expect(cachedFilm(applied)).toEqual({ metadata: { name: "bay", annotations: { "team.example/owner": "vfx" } } });
    const claim = cachedClaim({ metadata: { name: "bay-workspace", deletionTimestamp: "t3", uid: "c1" } });
    expect(claim.metadata).toEqual({ name: "bay-workspace", deletionTimestamp: "t3", uid: "c1" });
  });
});

/**
 * The reductions against whole objects as the API server serves them: a kwok segment Job and its pod at each
 * stage, the film (applied with kubectl) and its claim. Whatever the decisions read must survive: deciding on the
 * reduced objects must give exactly what deciding on the whole ones gives.
 */
describe("cached objects decide as the whole ones do", () => {
  const namespace = "lv-scale-short";
  const spec = {
    referenceImage: { configMap: { name: "refs", key: "first-frame.png" } },
    storyline: [{ prompt: "scale film short-7", clips: 10 }],
    render: { backend: "animatic" },
    gpu: {
      nodeSelector: { "longvideo.dev/pool": "h100" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists" as const, effect: "NoSchedule" as const }],
    },
    podMetadata: { labels: { team: "vfx" }, annotations: { "sim.longvideo.dev/run-for": "1s" } },
    storage: { workspace: { accessMode: "ReadWriteMany", storageClassName: "lv-bench" } },
  };
  const intentOf = (film: LongVideoObject): IntentResult =>
    filmIntent(
      { name: film.metadata.name ?? "", namespace: film.metadata.namespace ?? "", spec: film.spec },
      {
        // The placement the kwok pools take, allowed as the operator's own defaults.
        nodeSelector: spec.gpu.nodeSelector,
        tolerations: spec.gpu.tolerations,
        modelCacheClaim: "",
        checkModelCache: false,
        backend: "animatic",
        policy: operatorFilmPolicySchema.parse({ podLabelPrefixes: [""], podAnnotationPrefixes: [""] }),
      },
    );
  const runtime = {
    image: "registry.example/runtime:1",
    pullPolicy: "IfNotPresent",
    fetchPolicy: referenceFetchPolicySchema.parse({}),
  } as const;
  const now = new Date("2026-12-02T12:00:05Z");
  const film = servedFilm({ name: "short-7", namespace, uid: "film-uid", spec, status: {} });
  const intent = intentOf(film);
  const node = {
    metadata: {
      name: "kwok-h100-7",
      resourceVersion: "88",
      labels: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`node.example/label-${String(i)}`, "x"])),
      managedFields: [{ manager: "kwok", fieldsV1: { "f:status": {} } }],
    },
    status: {
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", lastHeartbeatTime: "t" }],
      images: [{ names: ["registry.example/runtime:1"], sizeBytes: 1 }],
    },
  } as unknown as NodeObject;

  const decideOn = (observed: Omit<ObservedObjects, "now" | "intent">) => {
    const snapshot = filmSnapshot({ ...observed, now, intent: intentOf(observed.film) });
    return { snapshot, decision: decide(snapshot) };
  };
  const cachedSet = (observed: Omit<ObservedObjects, "now" | "intent">): Omit<ObservedObjects, "now" | "intent"> => ({
    film: cachedFilm(observed.film),
    jobs: observed.jobs.map(cachedJob),
    pods: observed.pods.map(cachedPod),
    claim: observed.claim && cachedClaim(observed.claim),
    ...(observed.events ? { events: observed.events.map(cachedEvent) } : {}),
    nodes: (name) => {
      const found = observed.nodes?.(name);
      return found && cachedNode(found);
    },
  });

  // The film's own decisions make its claim and its first segment's Job, as the operator would.
  const claimAction = decideOn({ film, jobs: [], pods: [], claim: undefined }).decision.then.find(
    (a) => a.kind === "createWorkspace",
  );
  if (claimAction?.kind !== "createWorkspace") throw new Error("no workspace claim decided");
  const filmRef = { name: "short-7", namespace, uid: "film-uid" };
  const claim = servedClaim(workspaceClaim(filmRef, claimAction.workspace), namespace, "claim-uid");
  const jobAction = decideOn({ film, jobs: [], pods: [], claim }).decision.then.find(
    (a) => a.kind === "createSegmentJob",
  );
  if (jobAction?.kind !== "createSegmentJob" || !intent.ok) throw new Error("no segment job decided");
  const manifest = segmentJob(filmRef, intent.intent, jobAction, runtime) as unknown as Manifest;
  const running = servedJob(manifest, namespace, "job-uid");
  const complete = servedJob(manifest, namespace, "job-uid", "Complete");
  const result = '{"segment":0,"frames":17,"seconds":1.0,"latentsDigest":"sha256:l0"}';
  const pod = (state: PodState) => servedPod(running, state);
  const mountEvent = {
    metadata: { name: "short-7-s0.1", namespace, uid: "e1", resourceVersion: "9", managedFields: [{}] },
    involvedObject: { kind: "Pod", name: pod({ phase: "Running" }).metadata?.name, namespace, uid: "job-uid-pod" },
    reason: "FailedMount",
    message: "MountVolume.SetUp failed for volume workspace",
    type: "Warning",
    count: 2,
    lastTimestamp: "2026-12-02T12:00:03Z",
    source: { component: "kubelet", host: "kwok-h100-7" },
  } as EventObject;

  it.each([
    { stage: "the job just created", jobs: [running], pods: [] },
    {
      stage: "its pod waiting for a node",
      jobs: [running],
      pods: [pod({ phase: "Pending", unschedulable: "0/100 nodes are available: 100 Insufficient nvidia.com/gpu." })],
    },
    { stage: "its pod running", jobs: [running], pods: [pod({ phase: "Running" })] },
    { stage: "its pod unable to mount", jobs: [running], pods: [pod({ phase: "Running" })], events: [mountEvent] },
    {
      stage: "its pod succeeded, the job not yet complete",
      jobs: [running],
      pods: [pod({ phase: "Succeeded", exitCode: 0, message: result })],
    },
    {
      stage: "the job complete",
      jobs: [complete],
      pods: [pod({ phase: "Succeeded", exitCode: 0, message: result })],
    },
    {
      stage: "its pod failed",
      jobs: [running],
      pods: [pod({ phase: "Failed", exitCode: 1, message: '{"error":"CUDA out of memory"}' })],
    },
  ])("with $stage", ({ jobs, pods, events }) => {
    const whole = { film, jobs, pods, claim, nodes: (name: string) => (name === "kwok-h100-7" ? node : undefined) };
    const observed = events ? { ...whole, events } : whole;
    const fromWhole = decideOn(observed);
    const fromCached = decideOn(cachedSet(observed));
    expect(fromCached.snapshot).toEqual(fromWhole.snapshot);
    expect(fromCached.decision).toEqual(fromWhole.decision);
    // The controller's event handlers: the film a job or pod belongs to, and whether a segment just ended.
    for (const [whole, cached] of [
      ...jobs.map((j) => [j, cachedJob(j)] as const),
      ...pods.map((p) => [p, cachedPod(p)] as const),
    ]) {
      for (const label of [operatorLabels.film, operatorLabels.kind, operatorLabels.segment]) {
        expect(cached.metadata?.labels?.[label]).toBe(whole.metadata?.labels?.[label]);
      }
      expect(hasEnded(cached)).toBe(hasEnded(whole));
    }
    for (const [whole, cached] of jobs.map((j) => [j, cachedJob(j)] as const)) {
      expect(observedJob(cached)).toEqual(observedJob(whole));
    }
    for (const [whole, cached] of pods.map((p) => [p, cachedPod(p)] as const)) {
      expect(observedPod(cached)).toEqual(observedPod(whole));
      expect(JSON.stringify(cached).length).toBeLessThan(JSON.stringify(whole).length / 8);
    }
  });

  it("keeps a small part of each: the film without kubectl's copy of its spec, the job and pod without their specs", () => {
    const size = (object: unknown) => JSON.stringify(object).length;
    const cached = cachedFilm(film) as LongVideoObject & { metadata: { annotations?: unknown } };
    expect(cached.metadata.annotations).toBeUndefined();
    expect("managedFields" in cached.metadata).toBe(false);
    expect(cached.spec).toEqual(film.spec);
    expect(intentOf(cached)).toEqual(intent);
    expect(size(cached)).toBeLessThan(size(film) / 3);
    expect(size(cachedJob(complete))).toBeLessThan(size(complete) / 8);
    const job = cachedJob(complete);
    expect(Object.keys(job.metadata.annotations ?? {}).every((key) => key.startsWith("longvideo.dev/"))).toBe(true);
    expect(job.metadata.labels).not.toHaveProperty("batch.kubernetes.io/controller-uid");
    const ended = cachedPod(pod({ phase: "Succeeded", exitCode: 0, message: result }));
    expect(ended.metadata?.labels).not.toHaveProperty("team");
    expect(ended.status?.containerStatuses).toEqual([
      {
        state: {
          terminated: {
            exitCode: 0,
            reason: "Completed",
            message: result,
            startedAt: "2026-12-02T12:00:02Z",
            finishedAt: "2026-12-02T12:00:03Z",
          },
        },
      },
    ]);
  });
});
