/**
 * What the informers' reductions keep of real objects: for each `kubectl get -o json` list given (jobs, pods,
 * longvideos, persistentvolumeclaims, nodes, events), the mean JSON size of an object as served and as cached.
 *
 *   kubectl get jobs,pods -n lv-scale-short -o json > /tmp/objects.json
 *   node test/bench/cached-sizes.ts /tmp/objects.json
 */
import { readFileSync } from "node:fs";
import type { KubeObject } from "../../src/api/kubernetes-objects.ts";
import {
  cachedClaim,
  cachedEvent,
  cachedFilm,
  cachedJob,
  cachedNode,
  cachedPod,
} from "../../src/kube/cached-object.ts";

type Trim = (object: never) => unknown;
const trims: Readonly<Record<string, Trim>> = {
  Job: cachedJob,
  Pod: cachedPod,
  LongVideo: cachedFilm,
  PersistentVolumeClaim: cachedClaim,
  Node: cachedNode,
  Event: cachedEvent,
};

const sizes = new Map<string, { count: number; served: number; cached: number }>();
for (const file of process.argv.slice(2)) {
  const list = JSON.parse(readFileSync(file, "utf8")) as { items?: (KubeObject & { kind?: string })[] };
  for (const item of list.items ?? []) {
    const trim = trims[item.kind ?? ""];
    if (!trim) continue;
    const size = sizes.get(item.kind ?? "") ?? { count: 0, served: 0, cached: 0 };
    size.count += 1;
    size.served += JSON.stringify(item).length;
    size.cached += JSON.stringify(trim(item as never)).length;
    sizes.set(item.kind ?? "", size);
  }
}
for (const [kind, { count, served, cached }] of sizes) {
  const mean = (bytes: number) => Math.round(bytes / count);
  console.log(
    `${kind.padEnd(22)} ${String(count).padStart(5)} objects, mean ${String(mean(served)).padStart(6)} B served, ` +
      `${String(mean(cached)).padStart(5)} B cached (${((100 * cached) / served).toFixed(1)}%)`,
  );
}
