import { describe, expect, it } from "vitest";
import {
  cachedClaim,
  cachedEvent,
  cachedFilm,
  cachedJob,
  cachedNode,
  cachedPod,
  cachedWorkload,
} from "./cached-object.ts";
import type { EventObject, JobObject, NodeObject, PodObject, WorkloadObject } from "../api/kubernetes-objects.ts";

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

  it("keeps of a job its annotations, timestamps and conditions", () => {
    const job = {
      metadata: { ...metadata, creationTimestamp: "t0" },
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

  it("drops only managed fields from films and keeps claims' deletion marks", () => {
    const film = { metadata: { name: "bay", managedFields, generation: 3 }, spec: { variant: "film" }, status: {} };
    expect(cachedFilm(film)).toEqual({
      metadata: { name: "bay", generation: 3 },
      spec: { variant: "film" },
      status: {},
    });
    expect(cachedFilm({ metadata: { name: "bare" } })).toEqual({ metadata: { name: "bare" } });
    const claim = cachedClaim({ metadata: { name: "bay-workspace", deletionTimestamp: "t3", uid: "c1" } });
    expect(claim.metadata).toEqual({ name: "bay-workspace", deletionTimestamp: "t3", uid: "c1" });
  });
});
