/**
 * Statically provisioned workspaces for benchmark films: the local cluster's dynamic provisioner runs a helper pod on
 * the one real node for every claim made and deleted, which would load the shared cores with containerd work that
 * belongs to no operator (docs/adr/0008-operator-performance.md).
 */
import { run } from "../support/kubectl.ts";

/** The storage class of the pre-made volumes; films ask for it so their claims bind to them. */
export const benchStorageClass = "lv-bench-static";

/** Label of every volume made here, for `kubectl delete persistentvolumes -l`. */
export const benchVolumeLabel = "longvideo.dev/bench=yes";

/** One PersistentVolume per film, bound ahead to the claim the operator will make (`<film>-workspace`). */
export function createWorkspaceVolumes(namespace: string, names: readonly string[]): void {
  const volumes = names.map((film) => ({
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: `${namespace}-${film}`, labels: { "longvideo.dev/bench": "yes" } },
    spec: {
      storageClassName: benchStorageClass,
      capacity: { storage: "20Gi" },
      accessModes: ["ReadWriteMany"],
      persistentVolumeReclaimPolicy: "Retain",
      hostPath: { path: `/tmp/lv-bench/${namespace}/${film}`, type: "DirectoryOrCreate" },
      claimRef: { namespace, name: `${film}-workspace` },
    },
  }));
  run(
    "kubectl",
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "storage.k8s.io/v1",
          kind: "StorageClass",
          metadata: { name: benchStorageClass },
          provisioner: "kubernetes.io/no-provisioner",
          volumeBindingMode: "Immediate",
        },
        ...volumes,
      ],
    }),
  );
}
