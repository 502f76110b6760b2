/**
 * The chaos suite's operator, as a user runs it: the chart installed by Helm with two leader-elected replicas on the
 * local cluster's real node. A leader kill is a SIGKILL of the leading pod's container process through the node's
 * containerd, which the kubelet restarts like any crashed container.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node";
import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import { installOperator, loadImages, otherOperators, run } from "../e2e/film-demo.ts";

// The chart names its Lease after the release's full name, which is the chart's name for a release of that name.
const leaseName = "longvideo-operator";
const podSelector = "app.kubernetes.io/name=longvideo-operator";

/** The installed replicas: who leads, killing the leader, and taking the release away. */
export interface HelmReplicas {
  readonly namespace: string;
  /** The replica holding the lease, if any. */
  holder(): Promise<string | undefined>;
  /** How many times the lease changed hands. */
  transitions(): Promise<number>;
  /** When the lease was last renewed (ms since the epoch), by whichever replica holds it. */
  renewedAt(): Promise<number>;
  /** Waits (up to a minute) until every replica's container runs and is ready, so a standby exists. */
  allReady(): Promise<boolean>;
  /** SIGKILLs the container process of the pod named `pod`; false when it has no running container. */
  kill(pod: string): Promise<boolean>;
  /** Writes the replicas' logs (current and previous containers; only `pod`'s if given) under the evidence directory. */
  saveLogs(label: string, pod?: string): void;
  /** `helm uninstall` and the release's namespace deleted. */
  uninstall(): Promise<void>;
}

/** Loads the images (cached), installs the chart into `namespace` with two replicas and waits for them. */
export function installHelmReplicas(kc: KubeConfig, namespace: string, evidence: string): HelmReplicas {
  const core = kc.makeApiClient(CoreV1Api);
  const leases = kc.makeApiClient(CoordinationV1Api);
  const release = { name: leaseName, namespace };
  // Every operator watches all namespaces: another release's would act on the suite's films too.
  const others = otherOperators(namespace);
  if (others.length > 0) throw new Error(`another operator is installed (${others.join(", ")}): uninstall it first`);
  loadImages();
  installOperator(release, [
    "--set",
    "replicaCount=2",
    // Every reconcile and its actions in the logs the suite keeps.
    "--set",
    "logLevel=debug",
    // The chaos films' kwok pool is tainted like a GPU pool; kwok's stages read the films' pod annotations.
    "--set-json",
    'filmPolicy.tolerations=[{"key":"nvidia.com/gpu","effects":["NoSchedule"]}]',
    "--set-json",
    'filmPolicy.podAnnotationPrefixes=["sim.longvideo.dev/"]',
  ]);
  const containerdSocket = path.join(
    process.env.LV_RUN ?? path.resolve(import.meta.dirname, "../../.cache/cluster"),
    "containerd/containerd.sock",
  );

  const pods = async (): Promise<V1Pod[]> =>
    (await core.listNamespacedPod({ namespace, labelSelector: podSelector })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );
  const lease = () => leases.readNamespacedLease({ name: leaseName, namespace });

  return {
    namespace,
    holder: async () => (await lease()).spec?.holderIdentity,
    transitions: async () => (await lease()).spec?.leaseTransitions ?? 0,
    renewedAt: async () => {
      const renewTime = (await lease()).spec?.renewTime;
      return renewTime ? new Date(renewTime).getTime() : 0;
    },
    allReady: async () => {
      for (let i = 0; i < 120; i++) {
        const current = await pods().catch(() => []);
        const ready = current.filter((p) => p.status?.containerStatuses?.every((c) => c.ready && c.state?.running));
        if (current.length === 2 && ready.length === 2) return true;
        await sleep(500);
      }
      return false;
    },
    kill: async (name) => {
      const pod = (await pods()).find((p) => p.metadata?.name === name);
      const container = pod?.status?.containerStatuses?.find((c) => c.state?.running);
      const id = container?.containerID?.replace(/^containerd:\/\//, "");
      if (!id) return false;
      run("ctr", ["--address", containerdSocket, "-n", "k8s.io", "task", "kill", "-s", "SIGKILL", id]);
      return true;
    },
    saveLogs: (label, pod) => {
      const names = pod ? [pod] : run("kubectl", ["-n", namespace, "get", "pods", "-l", podSelector, "-o", "name"]);
      for (const name of typeof names === "string" ? names.split("\n").filter(Boolean) : names) {
        const short = name.replace(/^pod\//, "");
        for (const previous of [true, false]) {
          try {
            const text = run("kubectl", ["-n", namespace, "logs", short, ...(previous ? ["--previous"] : [])]);
            writeFileSync(path.join(evidence, `${label}-${short}${previous ? "-previous" : ""}.log`), text);
          } catch {
            // No previous container yet: nothing to keep.
          }
        }
      }
    },
    uninstall: async () => {
      run("helm", ["uninstall", release.name, "-n", namespace, "--wait", "--ignore-not-found"]);
      await core.deleteNamespace({ name: namespace });
    },
  };
}
