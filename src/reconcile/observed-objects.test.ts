import { describe, expect, it } from "vitest";
import type { JobObject, LongVideoObject, PodObject, WorkloadObject } from "../api/kubernetes-objects.ts";
import { filmSnapshot, hasEnded, kueueAdmission, observedJob, observedPod } from "./observed-objects.ts";

const job = (labels: Record<string, string>, extra: Partial<JobObject> = {}): JobObject => ({
  metadata: {
    name: "bay-s1-abc-a2",
    uid: "job-uid",
    namespace: "films",
    labels,
    annotations: { "longvideo.dev/hash": "h1", "longvideo.dev/input-digest": "sha256:l0" },
    creationTimestamp: "2026-11-25T12:00:00Z",
    ownerReferences: [{ uid: "u1", kind: "LongVideo", name: "bay" }],
  },
  ...extra,
});
const segmentLabels = { "longvideo.dev/kind": "segment", "longvideo.dev/segment": "1", "longvideo.dev/attempt": "2" };

describe("observedJob", () => {
  it("reads a segment job's UID, index, attempt, hash and input digest from the keys the operator wrote", () => {
    expect(observedJob(job(segmentLabels))).toEqual({
      name: "bay-s1-abc-a2",
      uid: "job-uid",
      kind: "segment",
      segment: 1,
      hash: "h1",
      inputDigest: "sha256:l0",
      attempt: 2,
      createdAt: "2026-11-25T12:00:00Z",
      finished: undefined,
      deleting: false,
    });
  });

  it.each([
    { name: "a Complete condition means it succeeded", type: "Complete", finished: "Succeeded" },
    {
      name: "a Failed condition means it failed, with the Job controller's reason",
      type: "Failed",
      finished: "Failed",
    },
  ])("$name", ({ type, finished }) => {
    const failed = job(segmentLabels, {
      status: { conditions: [{ type, status: "True", reason: "PodFailurePolicy", message: "exit code 2" }] },
    });
    const observed = observedJob(failed);
    expect(observed?.finished).toBe(finished);
    if (finished === "Failed")
      expect(observed).toMatchObject({ failureReason: "PodFailurePolicy", failureMessage: "exit code 2" });
  });

  it("reads that a job is suspended (waiting in a queue), from the Job controller's condition", () => {
    const conditions = [{ type: "Suspended", status: "True", reason: "JobSuspended", message: "Job suspended" }];
    expect(observedJob(job(segmentLabels, { status: { conditions } }))?.suspended).toBe("Job suspended");
    expect(observedJob(job(segmentLabels))).not.toHaveProperty("suspended");
  });

  it("reads a concat job with no segment", () => {
    expect(observedJob(job({ "longvideo.dev/kind": "concat", "longvideo.dev/segment": "concat" }))).toMatchObject({
      kind: "concat",
      segment: -1,
      attempt: 0,
    });
  });

  it("ignores a job it did not make", () => {
    expect(observedJob(job({ app: "other" }))).toBeUndefined();
  });
});

describe("observedPod", () => {
  const pod: PodObject = {
    metadata: { name: "p", namespace: "films", labels: { "batch.kubernetes.io/job-name": "bay-s1-abc-a2" } },
    spec: { nodeName: "kwok-h100-0" },
    status: {
      phase: "Failed",
      containerStatuses: [
        {
          state: {
            terminated: {
              exitCode: 4,
              reason: "Error",
              message: '{"error":"oom"}',
              startedAt: "2026-11-25T12:00:01Z",
              finishedAt: "2026-11-25T12:00:09Z",
            },
          },
        },
      ],
    },
  };

  it("reads where its pod ran, when, and how it ended", () => {
    expect(observedPod(pod)).toEqual({
      name: "p",
      jobName: "bay-s1-abc-a2",
      phase: "Failed",
      nodeName: "kwok-h100-0",
      startedAt: "2026-11-25T12:00:01Z",
      finishedAt: "2026-11-25T12:00:09Z",
      exitCode: 4,
      terminationMessage: '{"error":"oom"}',
      reason: "Error",
    });
  });

  it("reads the scheduler's message while it cannot place the pod", () => {
    const pending: PodObject = {
      metadata: { name: "p", namespace: "films", labels: { "batch.kubernetes.io/job-name": "bay-s1-abc-a2" } },
      status: {
        phase: "Pending",
        conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes fit" }],
      },
    };
    expect(observedPod(pending)?.unschedulable).toBe("0/3 nodes fit");
    expect(observedPod(pod)?.unschedulable).toBeUndefined();
  });

  it("reads why its container cannot start, but not the normal way to a start", () => {
    const waiting = (reason: string): PodObject => ({
      ...pod,
      status: { phase: "Pending", containerStatuses: [{ state: { waiting: { reason, message: `${reason}!` } } }] },
    });
    expect(observedPod(waiting("ImagePullBackOff"))?.blocked).toEqual({
      reason: "ImagePullBackOff",
      message: "ImagePullBackOff!",
    });
    expect(observedPod(waiting("CreateContainerConfigError"))?.blocked?.reason).toBe("CreateContainerConfigError");
    expect(observedPod(waiting("ContainerCreating"))?.blocked).toBeUndefined();
  });

  it("reads a disruption and a deletion under way", () => {
    const evicted: PodObject = {
      ...pod,
      metadata: { ...pod.metadata, deletionTimestamp: "2026-11-25T12:00:10Z" },
      status: {
        phase: "Running",
        conditions: [
          { type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager", message: "Taint manager" },
        ],
      },
    };
    expect(observedPod(evicted)).toMatchObject({
      deleting: true,
      disruption: "DeletionByTaintManager: Taint manager",
    });
    expect(observedPod(pod)).not.toHaveProperty("deleting");
    expect(observedPod(pod)).not.toHaveProperty("disruption");
  });

  it("reads the job name from the legacy label too, and a pod of no job is ignored", () => {
    expect(observedPod({ ...pod, metadata: { name: "p", labels: { "job-name": "j" } } })?.jobName).toBe("j");
    expect(observedPod({ ...pod, metadata: { name: "p", labels: {} } })).toBeUndefined();
  });

  it("tells an ended pod or job from a running one", () => {
    expect(hasEnded(pod)).toBe(true);
    expect(hasEnded({ ...pod, status: { phase: "Running" } })).toBe(false);
    expect(hasEnded(job(segmentLabels, { status: { conditions: [{ type: "Complete", status: "True" }] } }))).toBe(true);
    expect(hasEnded(job(segmentLabels))).toBe(false);
  });
});

describe("kueueAdmission", () => {
  const workload = (
    conditions: { type: string; status: string; reason?: string; message?: string }[],
    evictions?: { reason: string; count: number }[],
  ): WorkloadObject => ({
    metadata: { name: "job-bay-s1-abc-a2-5f2e1", namespace: "films" },
    status: { conditions, ...(evictions ? { schedulingStats: { evictions } } : {}) },
  });
  const insufficient =
    "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100, 1 more needed";

  it.each([
    {
      name: "not yet considered: no conditions",
      conditions: [],
      expected: { admitted: false, pending: "Kueue has not considered it yet", evictions: 0 },
    },
    {
      name: "no quota: the QuotaReserved condition's message",
      conditions: [{ type: "QuotaReserved", status: "False", reason: "Pending", message: insufficient }],
      expected: { admitted: false, pending: insufficient, evictions: 0 },
    },
    {
      name: "quota reserved, admission checks pending: the Admitted condition's message",
      conditions: [
        {
          type: "QuotaReserved",
          status: "True",
          reason: "QuotaReserved",
          message: "Quota reserved in ClusterQueue gpu",
        },
        { type: "Admitted", status: "False", reason: "Pending", message: "waiting for check provisioning" },
      ],
      expected: { admitted: false, pending: "waiting for check provisioning", evictions: 0 },
    },
    {
      name: "admitted",
      conditions: [
        { type: "QuotaReserved", status: "True", reason: "QuotaReserved" },
        { type: "Admitted", status: "True", reason: "Admitted" },
        { type: "Evicted", status: "False", reason: "QuotaReserved", message: "Previously: preempted" },
      ],
      evictions: [{ reason: "Preempted", count: 1 }],
      expected: { admitted: true, evictions: 1 },
    },
    {
      name: "evicted (preempted): why, and how often by every reason",
      conditions: [
        { type: "QuotaReserved", status: "False", reason: "Pending", message: insufficient },
        { type: "Admitted", status: "False", reason: "NoReservation" },
        { type: "Evicted", status: "True", reason: "Preempted", message: "Preempted to accommodate a workload" },
      ],
      evictions: [
        { reason: "Preempted", count: 2 },
        { reason: "PodsReadyTimeout", count: 1 },
      ],
      expected: {
        admitted: false,
        pending: insufficient,
        evicted: "Preempted: Preempted to accommodate a workload",
        evictions: 3,
      },
    },
  ])("$name", ({ conditions, evictions, expected }) => {
    expect(kueueAdmission(workload(conditions, evictions))).toEqual({
      workload: "job-bay-s1-abc-a2-5f2e1",
      ...expected,
    });
  });
});

describe("filmSnapshot", () => {
  const film: LongVideoObject = {
    metadata: { name: "bay", namespace: "films", uid: "u1", generation: 3, finalizers: ["longvideo.dev/cleanup"] },
    status: { phase: "Rendering" },
  };

  it("gathers the film, its intent, its jobs and pods, and whether it owns its workspace claim", () => {
    const snapshot = filmSnapshot({
      now: new Date(0),
      film,
      intent: { ok: false, reason: "InvalidSpec", errors: [] },
      jobs: [job(segmentLabels), job({ app: "other" })],
      pods: [],
      claim: { metadata: { name: "bay-workspace", ownerReferences: [{ uid: "u1", kind: "LongVideo", name: "bay" }] } },
    });
    expect(snapshot.film).toEqual({
      name: "bay",
      namespace: "films",
      uid: "u1",
      generation: 3,
      deleting: false,
      finalizers: ["longvideo.dev/cleanup"],
      status: { phase: "Rendering" },
    });
    expect(snapshot.jobs.map((j) => j.name)).toEqual(["bay-s1-abc-a2"]);
    expect(snapshot.workspaceClaim).toEqual({ name: "bay-workspace", uid: "", ownedByFilm: true, deleting: false });
  });

  it("tells each job what Kueue says of it, from the Workload the job owns, and nothing from another's", () => {
    const owned = job(segmentLabels);
    const workload = (name: string, jobUid: string): WorkloadObject => ({
      metadata: { name, namespace: "films", ownerReferences: [{ uid: jobUid, kind: "Job", name: "bay-s1-abc-a2" }] },
      status: { conditions: [{ type: "QuotaReserved", status: "False", reason: "Pending", message: name }] },
    });
    const observe = (workloads?: WorkloadObject[]) =>
      filmSnapshot({
        now: new Date(0),
        film,
        intent: { ok: false, reason: "InvalidSpec", errors: [] },
        jobs: [owned],
        pods: [],
        claim: undefined,
        ...(workloads ? { workloads } : {}),
      }).jobs[0]?.admission;
    expect(observe([workload("an earlier job's", "old-uid"), workload("its own", "job-uid")])).toEqual({
      workload: "its own",
      admitted: false,
      pending: "its own",
      evictions: 0,
    });
    expect(observe([workload("an earlier job's", "old-uid")])).toBeUndefined();
    // Kueue's API not served: nothing is said.
    expect(observe()).toBeUndefined();
  });

  it("ignores jobs another film of the same name left behind", () => {
    const orphan = job(segmentLabels);
    const old: JobObject = {
      ...orphan,
      metadata: { ...orphan.metadata, ownerReferences: [{ uid: "u0", kind: "LongVideo", name: "bay" }] },
    };
    const snapshot = filmSnapshot({
      now: new Date(0),
      film,
      intent: { ok: false, reason: "InvalidSpec", errors: [] },
      jobs: [old],
      pods: [],
      claim: undefined,
    });
    expect(snapshot.jobs).toEqual([]);
  });

  it("tells each job why its pod cannot be created (the latest FailedCreate event), and each pod why it cannot mount", () => {
    const owned = job(segmentLabels);
    const withUid: JobObject = { ...owned, metadata: { ...owned.metadata, uid: "job-uid" } };
    const mounting: PodObject = {
      metadata: { name: "p", namespace: "films", uid: "pod-uid", labels: { "batch.kubernetes.io/job-name": "x" } },
      status: { phase: "Pending" },
    };
    const event = (reason: string, uid: string, message: string, lastTimestamp: string) => ({
      metadata: { name: `${uid}.${lastTimestamp}`, namespace: "films" },
      involvedObject: { uid, name: "x", namespace: "films" },
      reason,
      message,
      lastTimestamp,
    });
    const snapshot = filmSnapshot({
      now: new Date(0),
      film,
      intent: { ok: false, reason: "InvalidSpec", errors: [] },
      jobs: [withUid],
      pods: [mounting],
      claim: undefined,
      events: [
        event("FailedCreate", "job-uid", "quota", "2026-11-25T12:00:05Z"),
        event("FailedCreate", "job-uid", "no PriorityClass", "2026-11-25T12:00:09Z"),
        event("FailedCreate", "other-uid", "not this job's", "2026-11-25T12:00:10Z"),
        event("FailedMount", "pod-uid", 'configmap "ref" not found', "2026-11-25T12:00:09Z"),
      ],
    });
    expect(snapshot.jobs[0]?.podRefused).toBe("no PriorityClass");
    expect(snapshot.pods[0]?.blocked).toEqual({ reason: "FailedMount", message: 'configmap "ref" not found' });
  });

  it("judges a pod's node lost when it is not Ready or gone, and never without the nodes", () => {
    const running: PodObject = {
      metadata: { name: "p", namespace: "films", labels: { "batch.kubernetes.io/job-name": "x" } },
      spec: { nodeName: "n1" },
      status: { phase: "Running" },
    };
    const node = (status: string) => ({
      metadata: { name: "n1" },
      status: { conditions: [{ type: "Ready", status, reason: "NodeStatusUnknown", message: "Kubelet stopped" }] },
    });
    const base = {
      now: new Date(0),
      film,
      intent: { ok: false, reason: "InvalidSpec", errors: [] } as const,
      jobs: [],
      claim: undefined,
    };
    const seen = (nodes?: (name: string) => ReturnType<typeof node> | undefined) =>
      filmSnapshot({ ...base, pods: [running], ...(nodes ? { nodes } : {}) }).pods[0];
    expect(seen(() => node("Unknown"))).toMatchObject({
      nodeLost: "Ready=Unknown (NodeStatusUnknown): Kubelet stopped",
    });
    expect(seen(() => node("Unknown"))).not.toHaveProperty("nodeGone");
    expect(seen(() => undefined)).toMatchObject({ nodeLost: "the node no longer exists", nodeGone: true });
    expect(seen(() => node("True"))).not.toHaveProperty("nodeLost");
    expect(seen()).not.toHaveProperty("nodeLost");
  });

  it("sees a released claim as not the film's, and a missing one as none", () => {
    const base = {
      now: new Date(0),
      film,
      intent: { ok: false, reason: "InvalidSpec", errors: [] } as const,
      jobs: [],
      pods: [],
    };
    expect(filmSnapshot({ ...base, claim: { metadata: { name: "bay-workspace" } } }).workspaceClaim?.ownedByFilm).toBe(
      false,
    );
    expect(filmSnapshot({ ...base, claim: undefined }).workspaceClaim).toBeUndefined();
  });
});
