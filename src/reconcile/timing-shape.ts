/**
 * What a segment's timing depends on, so that one film can learn its warm lead time from others (docs/adr/0026).
 * Pure.
 *
 * A film learns the lead a warm pod needs (pod start, imports, model load) and a clip's work from its own rendered
 * segments, so its first hand-off would always be serial. Films of the same shape on the same pool load the same
 * models on the same kind of node and render clips of the same size: their timing is as good a first guess as a
 * film's own, and better than none. Anything that changes a load or a clip's work is in the shape; what only
 * changes the pictures (prompts, seeds, reference image) is not.
 */
import { canonicalJson } from "../plan/canonical-json.ts";
import type { FilmIntent, SegmentRecord } from "./film-snapshot.ts";

/** The runtime variables that change how long a load or a clip takes. */
const timedEnv = [
  "LV_VARIANT",
  "LV_BACKEND",
  "LV_WIDTH",
  "LV_HEIGHT",
  "LV_MOTION_FRAMES",
  "LV_GPU_COUNT",
  "LV_STEPS",
  "LV_FRAMES",
  "LV_LORAS",
] as const;

/**
 * The shape of a film's segments as far as their timing goes: the pool they run on (resource, count, node selector
 * and affinity), their CPU and memory, the model cache, and the first segment's size, steps and LoRAs.
 */
export function timingShape(intent: FilmIntent): string {
  const first = intent.segments[0]?.env ?? {};
  return canonicalJson({
    pool: {
      resourceName: intent.placement.resourceName,
      count: intent.placement.count,
      nodeSelector: intent.placement.nodeSelector,
      affinity: intent.placement.affinity ?? null,
    },
    resources: intent.segmentResources,
    models: intent.modelsClaim ?? null,
    env: Object.fromEntries(timedEnv.map((name) => [name, first[name] ?? null])),
  });
}

/** Segments a timing is learned from: the latest that reported their phases. */
const learnedFrom = 8;

/**
 * The latest rendered segments that reported what a lead time is learned from (their load, when denoising began
 * and when the hand-off was committed), oldest first. kwok's imitation of the worker reports no phases: none.
 */
export function timedRecords(records: readonly SegmentRecord[]): readonly SegmentRecord[] {
  return records
    .filter((r) => r.state === "Succeeded" && r.phases?.ready !== undefined && r.committedAt && r.denoiseStartedAt)
    .sort((a, b) => (a.finishTime ?? "").localeCompare(b.finishTime ?? ""))
    .slice(-learnedFrom);
}
