/** Queries over the jobs and pods a film owns, as a snapshot holds them. */
import type { FilmSnapshot, ObservedJob, ObservedPod, PlannedSegment } from "./film-snapshot.ts";

/** The pod of a job that ran last: a Job runs one pod, but a disruption (which the pod failure policy ignores) may add one. */
export function latestPod(pods: readonly ObservedPod[], job: ObservedJob): ObservedPod | undefined {
  return pods
    .filter((p) => p.jobName === job.name)
    .sort((a, b) => (b.startedAt ?? "").localeCompare(a.startedAt ?? ""))[0];
}

/** The latest attempt's job at this segment for these inputs: what a record of the segment is made from. */
export function latestSegmentJob(
  jobs: readonly ObservedJob[],
  segment: PlannedSegment,
  inputDigest: string,
): ObservedJob | undefined {
  return latest(
    jobs.filter(
      (j) =>
        j.kind === "segment" && j.segment === segment.index && j.hash === segment.hash && j.inputDigest === inputDigest,
    ),
  );
}

/** The latest attempt's job at concatenating the film whose content hash is `hash`. */
export function latestConcatJob(
  jobs: readonly ObservedJob[],
  hash: string,
  finalDigest: string,
): ObservedJob | undefined {
  return latest(jobs.filter((j) => j.kind === "concat" && j.hash === hash && j.inputDigest === finalDigest));
}

function latest(jobs: readonly ObservedJob[]): ObservedJob | undefined {
  return [...jobs].sort((a, b) => b.attempt - a.attempt)[0];
}

/**
 * The snapshot with each job whose pod succeeded counted as succeeded. A Job runs one pod (backoffLimit 0, one
 * completion), so its pod's success is the job's; the Job controller marks the Job Complete only after batching
 * pod updates for a second, and not waiting for it is most of the hand-off time.
 */
export function withPodOutcomes(snapshot: FilmSnapshot): FilmSnapshot {
  return {
    ...snapshot,
    jobs: snapshot.jobs.map((job) =>
      job.finished === undefined && latestPod(snapshot.pods, job)?.phase === "Succeeded"
        ? { ...job, finished: "Succeeded" }
        : job,
    ),
  };
}

/** Jobs still running or pending, and not already on their way out. */
export function activeJobs(jobs: readonly ObservedJob[]): ObservedJob[] {
  return jobs.filter((j) => !j.finished && !j.deleting);
}

/**
 * Jobs whose pod is stranded on a lost node (job name to pod name): evicted from it (being deleted) while the node cannot confirm the
 * end, or bound to a node that no longer exists. The Job would wait for that pod for as long as the node stays
 * lost; a new attempt, in its own directory, re-runs the segment elsewhere instead.
 */
export function strandedJobs(snapshot: FilmSnapshot): Map<string, string> {
  const stranded = snapshot.pods.filter(
    (p) =>
      p.nodeLost !== undefined &&
      p.phase !== "Succeeded" &&
      p.phase !== "Failed" &&
      (p.deleting === true || p.nodeGone === true),
  );
  return new Map(stranded.map((p) => [p.jobName, p.name]));
}
