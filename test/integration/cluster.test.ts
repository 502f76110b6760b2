/**
 * The local cluster is a real Kubernetes: these tests hold `make cluster-up` to that, against the running
 * API server, scheduler, controller-manager, kwok pools, kubelet and storage provisioner.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { ApiException, CoreV1Api, VersionApi } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testKubeConfig } from "../support/test-kube-config.ts";

const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const namespace = `lv-it-cluster-${randomBytes(3).toString("hex")}`;
const busybox = "localhost/longvideo/busybox:bookworm";
const gpuToleration = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };

const pinnedKubernetesVersion = (() => {
  const versions = readFileSync(path.resolve(import.meta.dirname, "../cluster/versions.env"), "utf8");
  const match = /^KUBERNETES_VERSION=(\S+)$/m.exec(versions);
  if (!match?.[1]) throw new Error("KUBERNETES_VERSION is not pinned in test/cluster/versions.env");
  return match[1];
})();

/** Polls a pod until it reaches a terminal phase, failing the test when it does not within the deadline. */
async function terminalPod(name: string, timeoutMs = 120_000): Promise<V1Pod> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pod = await core.readNamespacedPod({ name, namespace });
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") return pod;
    if (Date.now() > deadline) {
      throw new Error(`pod ${name} still ${phase ?? "unknown"} after ${timeoutMs}ms: ${JSON.stringify(pod.status)}`);
    }
    await sleep(250);
  }
}

function terminated(pod: V1Pod) {
  const state = pod.status?.containerStatuses?.[0]?.state?.terminated;
  if (!state) throw new Error(`pod ${pod.metadata?.name ?? "?"} has no terminated container`);
  return state;
}

function realNodePod(name: string, script: string, volumes: Partial<V1Pod["spec"]> = {}): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: "Never",
      nodeSelector: { "longvideo.dev/pool": "local" },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "main",
          image: busybox,
          imagePullPolicy: "Never",
          command: ["/bin/sh", "-c", script],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          ...(volumes.volumes ? { volumeMounts: [{ name: "work", mountPath: "/work" }] } : {}),
        },
      ],
      ...volumes,
    },
  };
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  // Pods need the namespace's default service account, which the controller-manager creates.
  for (let i = 0; i < 100; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: "default", namespace });
      return;
    } catch {
      await sleep(100);
    }
  }
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

describe("the local cluster", () => {
  it("answers on /version with the pinned Kubernetes release", async () => {
    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe(pinnedKubernetesVersion);
    expect(`v${version.major}.${version.minor}`).toBe(pinnedKubernetesVersion.split(".").slice(0, 2).join("."));
  });

  it("has GPU pools of kwok nodes and one real node, all Ready, labelled as the conventions say", async () => {
    const nodes = (await core.listNode()).items;
    const ready = (n: (typeof nodes)[number]) =>
      n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    const pool = (name: string) => nodes.filter((n) => n.metadata?.labels?.["longvideo.dev/pool"] === name);
    for (const [name, product] of [
      ["h100", "NVIDIA-H100-80GB-HBM3"],
      ["a100", "NVIDIA-A100-SXM4-80GB"],
    ] as const) {
      expect(pool(name).length).toBeGreaterThan(0);
      for (const node of pool(name)) {
        expect(ready(node)).toBe(true);
        expect(node.metadata?.labels?.["nvidia.com/gpu.product"]).toBe(product);
        expect(node.status?.allocatable?.["nvidia.com/gpu"]).toBe("8");
        expect(node.spec?.taints).toContainEqual({ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" });
      }
    }
    const [local, ...others] = pool("local");
    expect(others).toHaveLength(0);
    expect(local && ready(local)).toBe(true);
    expect(local?.status?.allocatable?.["nvidia.com/gpu"]).toBe("8");
    expect(local?.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./);
  });

  it("scales the kwok GPU pools to 200 nodes, all Ready", async () => {
    const isKwok = "type=kwok";
    const existing = (await core.listNode({ labelSelector: isKwok })).items.length;
    const extra = Math.max(0, 200 - existing);
    const names = Array.from({ length: extra }, (_, i) => `kwok-scale-${String(i)}`);
    const started = performance.now();
    try {
      for (let i = 0; i < names.length; i += 20) {
        await Promise.all(
          names.slice(i, i + 20).map((name, j) => {
            const [pool, product] = (i + j) % 2 ? ["a100", "NVIDIA-A100-SXM4-80GB"] : ["h100", "NVIDIA-H100-80GB-HBM3"];
            return core.createNode({
              body: {
                metadata: {
                  name,
                  annotations: { "kwok.x-k8s.io/node": "fake" },
                  labels: { type: "kwok", "longvideo.dev/pool": pool, "nvidia.com/gpu.product": product },
                },
                spec: { taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] },
                status: { capacity: { cpu: "96", memory: "1Ti", pods: "110", "nvidia.com/gpu": "8" } },
              },
            });
          }),
        );
      }
      let ready = 0;
      for (let i = 0; i < 600 && ready < 200; i++) {
        const nodes = (await core.listNode({ labelSelector: isKwok })).items;
        ready = nodes.filter((n) =>
          n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        ).length;
        if (ready < 200) await sleep(200);
      }
      expect(ready).toBeGreaterThanOrEqual(200);
      console.info(
        `kwok: ${String(existing + extra)} nodes Ready ${((performance.now() - started) / 1000).toFixed(1)}s after creating ${String(extra)}`,
      );
    } finally {
      await Promise.all(names.map((name) => core.deleteNode({ name }).catch(() => undefined)));
    }
  });

  it("runs a real container to completion on the real node and reads its logs back", async () => {
    const marker = randomBytes(8).toString("hex");
    await core.createNamespacedPod({ namespace, body: realNodePod("real-hello", `echo hello-${marker}; id -u`) });
    const pod = await terminalPod("real-hello");
    expect(pod.status?.phase).toBe("Succeeded");
    expect(pod.spec?.nodeName).toBe("lv-local");
    const logs = await core.readNamespacedPodLog({ name: "real-hello", namespace });
    expect(logs).toBe(`hello-${marker}\n65532\n`);
  });

  it("lands a GPU pod in the requested kwok pool and succeeds after its annotated run time", async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "gpu-ok", annotations: { "sim.longvideo.dev/run-for": "3s" } },
        spec: {
          restartPolicy: "Never",
          nodeSelector: { "longvideo.dev/pool": "h100" },
          tolerations: [gpuToleration],
          containers: [
            {
              name: "segment",
              image: "runtime",
              env: [
                { name: "LV_SEGMENT_INDEX", value: "2" },
                { name: "LV_FRAMES", value: "81" },
                { name: "LV_INPUT_DIGEST", value: "sha256:feed" },
              ],
              resources: { limits: { "nvidia.com/gpu": "1" } },
            },
          ],
        },
      },
    });
    const pod = await terminalPod("gpu-ok");
    expect(pod.status?.phase).toBe("Succeeded");
    expect(pod.spec?.nodeName).toMatch(/^kwok-h100-/);
    const state = terminated(pod);
    expect(state.exitCode).toBe(0);
    const ranFor = (state.finishedAt?.getTime() ?? 0) - (state.startedAt?.getTime() ?? 0);
    // Timestamps have one-second resolution; a pod that ignored its annotation would end after the 1s default.
    expect(ranFor).toBeGreaterThanOrEqual(2_000);
    const message = JSON.parse(state.message ?? "{}") as Record<string, unknown>;
    expect(message).toMatchObject({ segment: 2, frames: 81, inputDigest: "sha256:feed" });
    expect(message.latentsDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("ends a pod annotated to fail as Failed with the chosen exit code", async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name: "gpu-fail",
          annotations: {
            "sim.longvideo.dev/run-for": "1s",
            "sim.longvideo.dev/outcome": "Failed",
            "sim.longvideo.dev/exit-code": "42",
          },
        },
        spec: {
          restartPolicy: "Never",
          nodeSelector: { "longvideo.dev/pool": "a100" },
          tolerations: [gpuToleration],
          containers: [{ name: "segment", image: "runtime", resources: { limits: { "nvidia.com/gpu": "1" } } }],
        },
      },
    });
    const pod = await terminalPod("gpu-fail");
    expect(pod.status?.phase).toBe("Failed");
    expect(pod.spec?.nodeName).toMatch(/^kwok-a100-/);
    expect(terminated(pod).exitCode).toBe(42);
    expect(terminated(pod).message).toContain("exit code 42");
  });

  it("keeps a GPU pod without the pool toleration off the tainted pools", async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "gpu-untolerated" },
        spec: {
          nodeSelector: { "longvideo.dev/pool": "h100" },
          containers: [{ name: "segment", image: "runtime", resources: { limits: { "nvidia.com/gpu": "1" } } }],
        },
      },
    });
    let condition;
    for (let i = 0; i < 100 && !condition; i++) {
      const pod = await core.readNamespacedPod({ name: "gpu-untolerated", namespace });
      condition = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.reason === "Unschedulable");
      if (!condition) await sleep(100);
    }
    expect(condition?.message).toContain("untolerated taint");
  });

  it("rejects a privileged pod in a namespace enforcing the restricted Pod Security level", async () => {
    const restricted = `${namespace}-restricted`;
    await core.createNamespace({
      body: { metadata: { name: restricted, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
    });
    try {
      const privileged = realNodePod("privileged", "true");
      const container = privileged.spec?.containers[0];
      if (container) container.securityContext = { privileged: true };
      const error = await core.createNamespacedPod({ namespace: restricted, body: privileged }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ApiException);
      const rejection = error as ApiException<unknown>;
      expect(rejection.code).toBe(403);
      const status = JSON.parse(String(rejection.body)) as { message?: string };
      expect(status.message).toContain('violates PodSecurity "restricted:latest": privileged');
      // The same namespace admits a pod that meets the level, so the rejection is about privilege alone.
      await core.createNamespacedPod({ namespace: restricted, body: realNodePod("compliant", "true") });
    } finally {
      await core.deleteNamespace({ name: restricted });
    }
  });

  it("binds a ReadWriteMany claim at once and shares a file between pods on the real node", async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: "shared" },
        spec: { accessModes: ["ReadWriteMany"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    let phase: string | undefined;
    for (let i = 0; i < 300 && phase !== "Bound"; i++) {
      phase = (await core.readNamespacedPersistentVolumeClaim({ name: "shared", namespace })).status?.phase;
      if (phase !== "Bound") await sleep(200);
    }
    expect(phase).toBe("Bound");
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: "shared", namespace });
    expect(claim.spec?.storageClassName).toBe("local-path");
    const pv = await core.readPersistentVolume({ name: claim.spec?.volumeName ?? "" });
    expect(pv.spec?.nodeAffinity).toBeUndefined();

    const volumes = { volumes: [{ name: "work", persistentVolumeClaim: { claimName: "shared" } }] };
    const marker = randomBytes(8).toString("hex");
    await core.createNamespacedPod({
      namespace,
      body: realNodePod("writer", `echo ${marker} > /work/handoff`, volumes),
    });
    expect((await terminalPod("writer")).status?.phase).toBe("Succeeded");
    await core.createNamespacedPod({ namespace, body: realNodePod("reader", "cat /work/handoff", volumes) });
    expect((await terminalPod("reader")).status?.phase).toBe("Succeeded");
    expect(await core.readNamespacedPodLog({ name: "reader", namespace })).toBe(`${marker}\n`);
  });
});
