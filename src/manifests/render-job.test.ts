import { describe, expect, it } from "vitest";
import { renderJob } from "./render-job.ts";
import type { RenderJobInput } from "./render-job.ts";

const base: RenderJobInput = {
  name: "trailer-s3-1a2b3c4d-a0",
  namespace: "films",
  owner: { apiVersion: "longvideo.dev/v1alpha1", kind: "LongVideo", name: "trailer", uid: "uid-1" },
  labels: { "longvideo.dev/film": "trailer", team: "vfx" },
  jobAnnotations: { "longvideo.dev/segment": "3" },
  podAnnotations: { "sim.longvideo.dev/run-for": "2s" },
  image: "localhost/longvideo/runtime:dev",
  imagePullPolicy: "IfNotPresent",
  args: ["segment"],
  env: { LV_SEGMENT_INDEX: "3", LV_INPUT_DIGEST: "sha256:ab" },
  workspaceClaim: "trailer-workspace",
  modelsClaim: "svi-models",
  cpu: { request: "1500m", limit: "4" },
  memory: { request: "18Gi", limit: "72Gi" },
  placement: {
    resourceName: "nvidia.com/gpu",
    count: 2,
    nodeSelector: { "longvideo.dev/pool": "h100" },
    tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    priorityClassName: "render-high",
  },
};

interface JobShape {
  metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences: unknown[] };
  spec: {
    backoffLimit: number;
    suspend?: boolean;
    podFailurePolicy: { rules: { action: string }[] };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        nodeSelector: Record<string, string>;
        tolerations: unknown[];
        priorityClassName?: string;
        securityContext: Record<string, unknown>;
        volumes: {
          name: string;
          configMap?: { name: string };
          persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
          emptyDir?: { medium?: string; sizeLimit?: string };
        }[];
        containers: {
          env: { name: string; value: string }[];
          resources: { requests: Record<string, string>; limits: Record<string, string> };
          securityContext: Record<string, unknown>;
          volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
        }[];
      };
    };
  };
}

describe("renderJob", () => {
  const job = renderJob({ ...base, sharedMemory: "2Gi" }) as unknown as JobShape;
  const pod = job.spec.template.spec;
  const container = pod.containers[0];

  it("keeps the deterministic name, namespace and a controller owner reference", () => {
    expect(job.metadata.name).toBe("trailer-s3-1a2b3c4d-a0");
    expect(job.metadata.namespace).toBe("films");
    expect(job.metadata.ownerReferences).toEqual([{ ...base.owner, controller: true, blockOwnerDeletion: true }]);
  });

  it("places the pod on the GPU pool with the requested count of the requested resource", () => {
    expect(pod.nodeSelector).toEqual({ "longvideo.dev/pool": "h100" });
    expect(pod.tolerations).toEqual(base.placement?.tolerations);
    expect(pod.priorityClassName).toBe("render-high");
    expect(container?.resources.limits["nvidia.com/gpu"]).toBe("2");
  });

  it("asks for CPU and memory exactly as given, beside the GPUs", () => {
    expect(container?.resources).toEqual({
      requests: { cpu: "1500m", memory: "18Gi" },
      limits: { cpu: "4", memory: "72Gi", "nvidia.com/gpu": "2" },
    });
  });

  it("mounts a memory-backed /dev/shm of the given size, and keeps the scratch /tmp", () => {
    const shm = container?.volumeMounts.find((m) => m.mountPath === "/dev/shm");
    expect(pod.volumes.find((v) => v.name === shm?.name)?.emptyDir).toEqual({ medium: "Memory", sizeLimit: "2Gi" });
    const tmp = container?.volumeMounts.find((m) => m.mountPath === "/tmp");
    expect(pod.volumes.find((v) => v.name === tmp?.name)?.emptyDir).toEqual({});
    const plain = renderJob(base) as unknown as JobShape;
    expect(plain.spec.template.spec.containers[0]?.volumeMounts.map((m) => m.mountPath)).not.toContain("/dev/shm");
    expect(plain.spec.template.spec.volumes.filter((v) => v.emptyDir?.medium === "Memory")).toEqual([]);
  });

  it("meets the restricted Pod Security level", () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(container?.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    });
  });

  it("copies the film's pod metadata and passes the segment contract in the environment", () => {
    expect(job.spec.template.metadata.labels).toMatchObject({ team: "vfx", "longvideo.dev/film": "trailer" });
    expect(job.spec.template.metadata.annotations).toEqual({ "sim.longvideo.dev/run-for": "2s" });
    expect(container?.env).toEqual(
      expect.arrayContaining([
        { name: "LV_SEGMENT_INDEX", value: "3" },
        { name: "LV_INPUT_DIGEST", value: "sha256:ab" },
      ]),
    );
  });

  it("mounts the workspace read-write and the model cache read-only", () => {
    const claims = pod.volumes.flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim] : []));
    expect(claims).toEqual(
      expect.arrayContaining([
        { claimName: "trailer-workspace", readOnly: false },
        { claimName: "svi-models", readOnly: true },
      ]),
    );
    expect(container?.volumeMounts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ mountPath: "/workspace" }),
        expect.objectContaining({ mountPath: "/models", readOnly: true }),
      ]),
    );
  });

  it("leaves retries to the operator and disruptions out of the failure count", () => {
    expect(job.spec.backoffLimit).toBe(0);
    expect(job.spec.podFailurePolicy.rules.map((r) => r.action)).toEqual(["Ignore", "FailJob"]);
    expect(job.spec.suspend).toBeUndefined();
  });

  it("creates the Job suspended and labelled for Kueue when a queue is named", () => {
    const placement = base.placement;
    if (!placement) throw new Error("fixture has a placement");
    const queued = renderJob({ ...base, placement: { ...placement, queueName: "gpu-queue" } }) as unknown as JobShape;
    expect(queued.spec.suspend).toBe(true);
    expect(queued.metadata.labels["kueue.x-k8s.io/queue-name"]).toBe("gpu-queue");
  });

  it("mounts the reference image's config map or claim read-only at /reference, and nothing for a url film", () => {
    const mounted = (job: JobShape) => {
      const spec = job.spec.template.spec;
      const mount = spec.containers[0]?.volumeMounts.find((m) => m.mountPath === "/reference");
      return { mount, volume: spec.volumes.find((v) => v.name === mount?.name) };
    };
    const fromMap = mounted(
      renderJob({ ...base, reference: { kind: "configMap", name: "harbour-still" } }) as unknown as JobShape,
    );
    expect(fromMap.mount?.readOnly).toBe(true);
    expect(fromMap.volume?.configMap?.name).toBe("harbour-still");
    const fromClaim = mounted(
      renderJob({ ...base, reference: { kind: "pvc", claimName: "stills" } }) as unknown as JobShape,
    );
    expect(fromClaim.mount?.readOnly).toBe(true);
    expect(fromClaim.volume?.persistentVolumeClaim).toEqual({ claimName: "stills", readOnly: true });
    expect(mounted(job).mount).toBeUndefined();
  });
});
