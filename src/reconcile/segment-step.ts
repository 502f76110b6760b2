/**
 * The next segment of a chain, which must consume `inputDigest` ("" at the chain's start): let its attempt run,
 * start one, wait out a backoff, or give up.
 */
import { nextAttempt } from "./attempt-policy.ts";
import type { LatestAttempt } from "./attempt-policy.ts";
import { ConditionReason, EventReason } from "./film-conditions.ts";
import { idleStep } from "./film-step.ts";
import type { FilmStep } from "./film-step.ts";
import type { FilmIntent, FilmSnapshot, ObservedJob, PlannedSegment, SegmentRecord } from "./film-snapshot.ts";
import { segmentJobName } from "./object-names.ts";
import { latestSegmentJob } from "./owned-jobs.ts";
import { countedFailures, isFailure, retryable, uncounted } from "./segment-record.ts";
import type { SegmentProgress } from "./segment-progress.ts";

export function segmentStep(
  snapshot: FilmSnapshot,
  intent: FilmIntent,
  progress: SegmentProgress,
  segment: PlannedSegment,
  inputDigest: string,
): FilmStep {
  const job = latestSegmentJob(snapshot.jobs, segment, inputDigest);
  const record = progress.records.find((r) => r.index === segment.index);
  const nowMs = snapshot.now.getTime();
  const latest = latestSegmentAttempt(job, record, nowMs);
  const next = nextAttempt(latest, {
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
          message: `segment ${String(segment.index)} failed ${String(next.failures)} time(s): ${record?.message ?? "no message"}`,
        },
      };
    case "unretryable":
      return {
        ...idleStep,
        failure: {
          reason: ConditionReason.BadInput,
          message: `segment ${String(segment.index)} failed on input a retry cannot fix: ${record?.message ?? "no message"}`,
        },
      };
    case "start":
      return startSegment(
        snapshot,
        intent,
        segment,
        inputDigest,
        next.attempt,
        latest?.state === "lost" ? lostNotice(latest.attempt, record) : undefined,
      );
  }
}

/**
 * The latest attempt as the policy sees it: a job still running; else a recorded attempt still in flight whose
 * job is gone (lost); else the record's failure (which outlives its job); else a finished job (whose result the
 * progress has already adopted).
 */
function latestSegmentAttempt(
  job: ObservedJob | undefined,
  record: SegmentRecord | undefined,
  nowMs: number,
): LatestAttempt | undefined {
  if (job && !job.finished && job.attempt >= (record?.attempt ?? 0)) return { state: "running", attempt: job.attempt };
  if (record && (lostAttempt(job, record) || uncounted(record))) return { state: "lost", attempt: record.attempt };
  if (record && isFailure(record)) {
    // A failure without a finish time is dated now: its backoff starts when the operator learns of it.
    const endedAt = record.finishTime ? Date.parse(record.finishTime) : nowMs;
    const failures = countedFailures(record);
    return { state: "failed", attempt: record.attempt, failures, endedAt, retryable: retryable(record) };
  }
  return job ? { state: "succeeded", attempt: job.attempt } : undefined;
}

/** A recorded attempt that had not ended, whose job the cluster no longer has. */
function lostAttempt(job: ObservedJob | undefined, record: SegmentRecord): boolean {
  const inFlight = record.state === "Pending" || record.state === "Running";
  return inFlight && (job === undefined || job.attempt < record.attempt);
}

/** What to say when an attempt replaces a lost one, or one that failed through no fault of its own. */
function lostNotice(lostAttemptNumber: number, record: SegmentRecord | undefined): string {
  const which = `attempt ${String(lostAttemptNumber + 1)}`;
  if (record && uncounted(record)) {
    return `${which} ended (${record.reason ?? "lost"}) through no fault of its own and is not counted as a failure: ${record.message ?? ""}`;
  }
  return `${which} was lost (its job was deleted before it ended) and is not counted as a failure`;
}

function startSegment(
  snapshot: FilmSnapshot,
  intent: FilmIntent,
  segment: PlannedSegment,
  inputDigest: string,
  attempt: number,
  lost: string | undefined,
): FilmStep {
  const workspaceUid = snapshot.workspaceClaim?.uid ?? "";
  const name = segmentJobName(snapshot.film, segment.index, segment.hash, inputDigest, attempt, workspaceUid);
  const which =
    attempt === 0
      ? `segment ${String(segment.index)} of ${String(intent.segments.length)}`
      : `segment ${String(segment.index)} attempt ${String(attempt + 1)}`;
  const message = `${which} started (${name})${lost ? `: ${lost}` : ""}`;
  const event = lost
    ? ({ kind: "event", type: "Warning", reason: EventReason.SegmentLost, message } as const)
    : ({ kind: "event", type: "Normal", reason: EventReason.SegmentStarted, message } as const);
  return {
    wanted: [name],
    then: [{ kind: "createSegmentJob", segment, attempt, inputDigest, name, workspaceUid }, event],
  };
}
