/** Kwok GPU nodes of a pool of a test's own, so that breaking one touches no other test. */
import { kubectl, run } from "./kubectl.ts";

/** Makes `count` kwok nodes labelled `longvideo.dev/pool: <pool>` (8 GPUs each), waits until Ready; their names. */
export function makeKwokPool(pool: string, count: number): string[] {
  const names = Array.from({ length: count }, (_, i) => `kwok-${pool}-${String(i)}`);
  const items = names.map((name) => ({
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: { "kubernetes.io/hostname": name, type: "kwok", "longvideo.dev/pool": pool },
    },
    spec: { taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] },
    status: {
      capacity: { cpu: "96", memory: "1Ti", pods: "110", "nvidia.com/gpu": "8" },
      allocatable: { cpu: "96", memory: "1Ti", pods: "110", "nvidia.com/gpu": "8" },
    },
  }));
  run("kubectl", ["apply", "--server-side", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items }));
  kubectl("wait", "--for=condition=Ready", ...names.map((n) => `node/${n}`), "--timeout=60s");
  return names;
}
