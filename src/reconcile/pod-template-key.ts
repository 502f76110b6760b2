/**
 * What a render pod's template is made of that is not part of what it renders: where it may run (placement) and
 * what it gets (resources). Neither is in the plan hash, so editing them re-renders nothing; but a job still
 * waiting for its pod to start was made for the old ones, and is let go so that a new attempt waits under the new.
 */
import { canonicalJson } from "../plan/canonical-json.ts";
import type { FilmIntent, FilmSnapshot } from "./film-snapshot.ts";
import { shortDigest } from "./object-names.ts";

/** A short key of the pod template's placement and resources. */
export function podTemplateKey(intent: FilmIntent): string {
  return shortDigest(canonicalJson({ placement: intent.placement, resources: intent.segmentResources }));
}

/**
 * Jobs made for another pod template whose pod has not started (none yet, or pending): a placement or resources
 * edit moves them. A pod that runs is left to finish where it is.
 */
export function outdatedJobs(snapshot: FilmSnapshot, intent: FilmIntent): Set<string> {
  const key = podTemplateKey(intent);
  const outdated = snapshot.jobs.filter((job) => {
    if (job.finished || job.podTemplate === undefined || job.podTemplate === key) return false;
    const pods = snapshot.pods.filter((p) => p.jobName === job.name);
    return pods.every((p) => p.phase === "Pending" && p.startedAt === undefined);
  });
  return new Set(outdated.map((job) => job.name));
}
