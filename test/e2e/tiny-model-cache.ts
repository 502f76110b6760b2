/**
 * A model cache of tiny random-weight Wan models (runtime-image's `longvideo_runtime.svi.tiny --layout
 * model-cache`) for svi films on the real node: built into a directory of this machine, served by a statically
 * provisioned read-only volume pinned to the real node, and a claim bound to it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { repoRoot, run } from "./film-demo.ts";

/** The local cluster's real node (kubelet and containerd on this machine). */
export const realNode = "lv-local";

/** Writes the tiny models under the worker's default names into `dir`, with the runtime's dev venv. */
export function buildTinyModelCache(dir: string): void {
  const venv = run("bash", [path.join(repoRoot, "runtime-image/install-dev.sh")])
    .trim()
    .split("\n")
    .at(-1);
  if (!venv) throw new Error("install-dev.sh printed no venv");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.dirname(dir), { recursive: true });
  execFileSync(path.join(venv, "bin/python"), ["-m", "longvideo_runtime.svi.tiny", "--layout", "model-cache", dir], {
    env: { ...process.env, PYTHONPATH: path.join(repoRoot, "runtime-image/src") },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** A statically provisioned, read-only volume on the real node holding `dir`, and the claim in `namespace` bound to it. */
export function modelCacheObjects(dir: string, volumeName: string, claimName: string, namespace: string): string {
  const volume = {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: volumeName },
    spec: {
      capacity: { storage: "1Gi" },
      accessModes: ["ReadOnlyMany"],
      persistentVolumeReclaimPolicy: "Retain",
      storageClassName: "",
      volumeMode: "Filesystem",
      claimRef: { namespace, name: claimName },
      local: { path: dir },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [realNode] }] },
          ],
        },
      },
    },
  };
  const claim = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: claimName, namespace },
    spec: {
      accessModes: ["ReadOnlyMany"],
      storageClassName: "",
      volumeName,
      resources: { requests: { storage: "1Gi" } },
    },
  };
  return JSON.stringify({ apiVersion: "v1", kind: "List", items: [volume, claim] });
}
