/** The next segment of the chain: let its attempt run, start one, wait out a backoff, or give up. */
import { nextAttempt } from "./attempt-policy.ts";
import type { LatestAttempt } from "./attempt-policy.ts";
import { ConditionReason, EventReason } from "./film-conditions.ts";
import { idleStep } from "./film-step.ts";
import type { FilmStep } from "./film-step.ts";
import type { FilmIntent, FilmSnapshot, ObservedJob, PlannedSegment, SegmentRecord } from "./film-snapshot.ts";
import { segmentJobName } from "./object-names.ts";
import { latestSegmentJob } from "./owned-jobs.ts";
import type { SegmentProgress } from "./segment-progress.ts";

export function segmentStep(
  snapshot: FilmSnapshot,
  intent: FilmIntent,
  progress: SegmentProgress,
  segment: PlannedSegment,
): FilmStep {
  const job = latestSegmentJob(snapshot.jobs, segment, progress.nextInput);
  const record = progress.records.find((r) => r.index === segment.index);
  const nowMs = snapshot.now.getTime();
  const next = nextAttempt(latestSegmentAttempt(job, record, nowMs), {
    retry: intent.retry,
    suspend: intent.suspend,
    nowMs,
  });
  switch (next.kind) {
    case "wait":
      return job ? { wanted: [job.name], then: [] } : idleStep;
    case "done":
    case "held":
      return idleStep;
    case "backoff":
      return { ...idleStep, requeueAfterMs: Math.max(1, next.retryAt - snapshot.now.getTime()) };
    case "exhausted":
      return {
        ...idleStep,
        failure: {
          reason: ConditionReason.RetriesExhausted,
          message: `segment ${String(segment.index)} failed ${String(next.attempts)} time(s): ${record?.message ?? "no message"}`,
        },
      };
    case "start":
      return startSegment(snapshot, intent, segment, progress.nextInput, next.attempt);
  }
}

/**
 * The latest attempt as the policy sees it: a job still running, else the record's failure (which outlives its
 * job), else a finished job (whose result the progress has already adopted).
 */
function latestSegmentAttempt(
  job: ObservedJob | undefined,
  record: SegmentRecord | undefined,
  nowMs: number,
): LatestAttempt | undefined {
  if (job && !job.finished) return { state: "running", attempt: job.attempt };
  if (record?.state === "Failed" || record?.state === "Retrying") {
    // A failure without a finish time is dated now: its backoff starts when the operator learns of it.
    const endedAt = record.finishTime ? Date.parse(record.finishTime) : nowMs;
    return { state: "failed", attempt: record.attempt, endedAt };
  }
  return job ? { state: "succeeded", attempt: job.attempt } : undefined;
}

function startSegment(
  snapshot: FilmSnapshot,
  intent: FilmIntent,
  segment: PlannedSegment,
  inputDigest: string,
  attempt: number,
): FilmStep {
  const name = segmentJobName(snapshot.film.name, segment.index, segment.hash, inputDigest, attempt);
  const which =
    attempt === 0
      ? `segment ${String(segment.index)} of ${String(intent.segments.length)}`
      : `segment ${String(segment.index)} attempt ${String(attempt + 1)}`;
  return {
    wanted: [name],
    then: [
      { kind: "createSegmentJob", segment, attempt, inputDigest, name },
      { kind: "event", type: "Normal", reason: EventReason.SegmentStarted, message: `${which} started (${name})` },
    ],
  };
}
