import { describe, expect, it } from "vitest";
import type { JobObject, LongVideoObject, PodObject } from "../api/kubernetes-objects.ts";
import { filmSnapshot, hasEnded, observedJob, observedPod } from "./observed-objects.ts";

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
