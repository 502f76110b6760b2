import { describe, expect, it } from "vitest";
import type { JobObject, LongVideoObject, PodObject } from "../api/kubernetes-objects.ts";
import { filmSnapshot, hasEnded, observedJob, observedPod } from "./observed-objects.ts";

const job = (labels: Record<string, string>, extra: Partial<JobObject> = {}): JobObject => ({
  metadata: {
    name: "bay-s1-abc-a2",
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
  it("reads a segment job's index, attempt, hash and input digest from the keys the operator wrote", () => {
    expect(observedJob(job(segmentLabels))).toEqual({
      name: "bay-s1-abc-a2",
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
      intent: { ok: false, errors: [] },
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
    expect(snapshot.workspaceClaim).toEqual({ name: "bay-workspace", ownedByFilm: true, deleting: false });
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
      intent: { ok: false, errors: [] },
      jobs: [old],
      pods: [],
      claim: undefined,
    });
    expect(snapshot.jobs).toEqual([]);
  });

  it("sees a released claim as not the film's, and a missing one as none", () => {
    const base = { now: new Date(0), film, intent: { ok: false, errors: [] } as const, jobs: [], pods: [] };
    expect(filmSnapshot({ ...base, claim: { metadata: { name: "bay-workspace" } } }).workspaceClaim?.ownedByFilm).toBe(
      false,
    );
    expect(filmSnapshot({ ...base, claim: undefined }).workspaceClaim).toBeUndefined();
  });
});
