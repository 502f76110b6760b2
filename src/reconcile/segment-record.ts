/**
 * A segment's durable record, made from what its job and pod show: the state, where and when it ran, and, once it
 * succeeded, the digest of the hand-off it produced (from the runtime's termination message).
 */
import { SegmentFailureReason } from "../api/long-video-status.ts";
import { exitCodes } from "../api/runtime-contract.ts";
import { segmentResult } from "./segment-result.ts";
import { retriesLeft } from "./attempt-policy.ts";
import type { ObservedJob, ObservedPod, PlannedSegment, RetryPolicy, SegmentRecord } from "./film-snapshot.ts";

/** The record a job's observed state implies, given the record made so far for the same job. */
export function segmentRecord(
  job: ObservedJob,
  pod: ObservedPod | undefined,
  prior: SegmentRecord | undefined,
  segment: PlannedSegment,
): SegmentRecord {
  const base = runningRecord(job, pod, prior, segment);
  if (!job.finished) return running(job, pod, prior) ? base : pendingRecord(base, prior);
  const finishTime = pod?.finishedAt ?? base.startTime ?? job.createdAt;
  if (job.finished === "Succeeded") return succeededRecord(base, finishTime, pod, job.inputDigest);
  const reason = countedReason(failureReason(job, pod), segment.index, job.attempt);
  return failedRecord(base, finishTime, failureMessage(job, pod), reason, pod?.exitCode);
}

/**
 * An attempt that does not run yet. Its node is the one it ran on (the field's meaning), recorded once it runs: a
 * pod being scheduled is no reason for a status write of its own, and skipping it saves one of a segment's writes
 * (docs/adr/0008). A node already recorded (an earlier attempt's, or before a Kueue eviction) stays.
 */
function pendingRecord(base: SegmentRecord, prior: SegmentRecord | undefined): SegmentRecord {
  const pending: SegmentRecord = { ...base, state: "Pending" };
  delete pending.node;
  return prior?.node ? { ...pending, node: prior.node } : pending;
}

/**
 * Whether the attempt runs: its pod does, or did when last recorded. Not while its Job is back in its Kueue
 * queue (Kueue evicted it; its pod is gone or going), until a new pod of the Job runs.
 */
function running(job: ObservedJob, pod: ObservedPod | undefined, prior: SegmentRecord | undefined): boolean {
  const requeued = job.suspended !== undefined || (job.admission?.evicted !== undefined && !job.admission.admitted);
  return !requeued && (pod?.phase === "Running" || prior?.state === "Running");
}

/** The record of an attempt under way, with what it inherits from the segment's earlier attempts. */
function runningRecord(
  job: ObservedJob,
  pod: ObservedPod | undefined,
  prior: SegmentRecord | undefined,
  segment: PlannedSegment,
): SegmentRecord {
  const before = failuresBefore(prior, job.attempt);
  return {
    index: segment.index,
    attempt: job.attempt,
    // Written from the second attempt on: its absence then marks a record made before failures were counted.
    ...(before > 0 || job.attempt > 0 ? { failures: before } : {}),
    state: "Running",
    hash: segment.hash,
    inputDigest: job.inputDigest,
    ...(job.inputFrom === undefined ? {} : { inputFrom: job.inputFrom }),
    ...nodeOf(pod, prior),
    startTime: pod?.startedAt ?? job.createdAt,
    ...evictionsOf(job, prior),
    // Losses outlive the attempts they caused: they bound how often the segment is rendered again for them.
    ...(prior?.handoffLosses ? { handoffLosses: prior.handoffLosses } : {}),
  };
}

/** The first segment has no input to lose; and past the cap, nothing goes uncounted. */
function countedReason(reason: SegmentFailureReason, index: number, attempt: number): SegmentFailureReason {
  const own = (reason === SegmentFailureReason.HandoffLost && index === 0) || attempt >= maxUncountedAttempts;
  return own && uncountedReasons.has(reason) ? SegmentFailureReason.Failed : reason;
}

/** Why an attempt failed, in a word: the deadline, the cluster, or the runtime's exit code. */
export function failureReason(job: ObservedJob, pod: ObservedPod | undefined): SegmentFailureReason {
  if (job.failureReason === "DeadlineExceeded") return SegmentFailureReason.DeadlineExceeded;
  if (pod?.disruption !== undefined) return SegmentFailureReason.Disrupted;
  if (pod?.exitCode === exitCodes.badInput) return SegmentFailureReason.BadInput;
  if (pod?.exitCode === exitCodes.handoff) return SegmentFailureReason.HandoffLost;
  if (pod?.exitCode === exitCodes.waited) return SegmentFailureReason.HandoffWait;
  if (pod?.reason === "OOMKilled" || pod?.exitCode === exitCodes.outOfMemory) return SegmentFailureReason.OOMKilled;
  return SegmentFailureReason.Failed;
}

/** Failures that are not the attempt's own doing, so not counted against the retry budget. */
const uncountedReasons: ReadonlySet<string> = new Set([
  SegmentFailureReason.Disrupted,
  SegmentFailureReason.HandoffLost,
  SegmentFailureReason.HandoffWait,
]);

/**
 * Attempts after which every failure counts: a cluster that disrupts a segment, or loses its input, this often
 * will not stop doing so, and the film must end rather than run for ever.
 */
export const maxUncountedAttempts = 20;

/** Whether a failed record's failure was not counted: it is re-run at once, as a lost attempt is. */
export function uncounted(record: SegmentRecord): boolean {
  return isFailure(record) && record.reason !== undefined && uncountedReasons.has(record.reason);
}

function failedRecord(
  base: SegmentRecord,
  finishTime: string,
  message: string,
  reason: SegmentFailureReason,
  exitCode?: number,
): SegmentRecord {
  const failures = countedFailures(base) + (uncountedReasons.has(reason) ? 0 : 1);
  return {
    ...base,
    failures,
    state: "Failed",
    finishTime,
    message,
    reason,
    ...(exitCode === undefined ? {} : { exitCode }),
  };
}

/** Whether another attempt could succeed where this failed one did not: not when the runtime refused its input. */
export function retryable(record: SegmentRecord): boolean {
  return record.exitCode !== exitCodes.badInput;
}

/** Whether a failed record will be retried: the budget has room and another attempt could succeed. */
export function willRetry(retry: RetryPolicy, record: SegmentRecord): boolean {
  return retriesLeft(retry, countedFailures(record)) && retryable(record);
}

/** Whether the record says its attempt failed (shown as Retrying while retries are left). */
export function isFailure(record: SegmentRecord): boolean {
  return record.state === "Failed" || record.state === "Retrying";
}

/**
 * Failed attempts counted against the retry budget, this record's own included. A record without the count was
 * written before lost attempts were told apart, when every attempt before the latest had failed.
 */
export function countedFailures(record: SegmentRecord): number {
  return record.failures ?? record.attempt + (isFailure(record) ? 1 : 0);
}

/** Counted failures before attempt `attempt`, from the record made so far for the segment. */
function failuresBefore(prior: SegmentRecord | undefined, attempt: number): number {
  if (!prior) return attempt;
  if (prior.attempt < attempt) return countedFailures(prior);
  return countedFailures(prior) - (isFailure(prior) ? 1 : 0);
}

/**
 * How often Kueue evicted this attempt's Job: its Workload's count, never less than already recorded for the attempt
 * (a Workload Kueue made again for the Job starts counting from zero).
 */
function evictionsOf(job: ObservedJob, prior: SegmentRecord | undefined): { evictions?: number } {
  const recorded = prior?.attempt === job.attempt ? (prior.evictions ?? 0) : 0;
  const evictions = Math.max(recorded, job.admission?.evictions ?? 0);
  return evictions > 0 ? { evictions } : {};
}

function nodeOf(pod: ObservedPod | undefined, prior: SegmentRecord | undefined): { node?: string } {
  const node = pod?.nodeName ?? prior?.node;
  return node ? { node } : {};
}

function succeededRecord(
  base: SegmentRecord,
  finishTime: string,
  pod: ObservedPod | undefined,
  inputDigest: string,
): SegmentRecord {
  const result = segmentResult(pod?.terminationMessage);
  if (!result?.outputDigest) {
    const message = "the render pod succeeded but left no result (latents digest) in its termination message";
    return failedRecord(base, finishTime, message, SegmentFailureReason.Failed);
  }
  // A warm attempt consumed what its predecessor committed: only that digest, the recorded one, keeps the chain
  // verified. (kwok's imitation of the runtime reports none.)
  if (base.inputFrom !== undefined && result.inputDigest !== undefined && result.inputDigest !== inputDigest) {
    const message = `the warm attempt consumed ${result.inputDigest}, not its predecessor's recorded ${inputDigest}: rendered again from the recorded hand-off`;
    return failedRecord(base, finishTime, message, SegmentFailureReason.HandoffWait);
  }
  return {
    ...base,
    state: "Succeeded",
    finishTime,
    outputDigest: result.outputDigest,
    ...(result.frames === undefined ? {} : { frames: result.frames }),
    ...(result.phases === undefined ? {} : { phases: result.phases }),
    ...(result.committedAt === undefined ? {} : { committedAt: result.committedAt }),
    ...(result.denoiseStartedAt === undefined ? {} : { denoiseStartedAt: result.denoiseStartedAt }),
  };
}

/** The runtime's own words first, then the Job's, then the kubelet's; with the exit code when they omit it. */
function failureMessage(job: ObservedJob, pod: ObservedPod | undefined): string {
  // A deadline ends the pod with SIGTERM, and its own last words would hide why.
  if (job.failureReason === "DeadlineExceeded")
    return `${job.failureMessage ?? "the attempt ran out of time"} (DeadlineExceeded)`;
  if (pod?.reason === "OOMKilled") return oomMessage(job);
  const result = segmentResult(pod?.terminationMessage);
  const detail = result?.error ?? job.failureMessage ?? pod?.reason ?? job.failureReason ?? "the render pod failed";
  const exit =
    pod?.exitCode === undefined || detail.includes("exit code") ? "" : ` (exit code ${String(pod.exitCode)})`;
  return `${detail}${exit}`.slice(0, 1024);
}

function oomMessage(job: ObservedJob): string {
  const limit = job.memoryLimit === undefined ? "its memory limit" : `its memory limit of ${job.memoryLimit}`;
  return `the render container was OOMKilled: it used all of ${limit} (spec.resources.limits.memory)`;
}

/** Whether a record is an attempt's end (a retry may still follow a failure). */
export function isFinal(record: SegmentRecord): boolean {
  return record.state === "Succeeded" || record.state === "Failed" || record.state === "Retrying";
}

/** A record's run time in seconds, when it has both ends. */
export function recordSeconds(record: SegmentRecord): number | undefined {
  if (!record.startTime || !record.finishTime) return undefined;
  return Math.max(0, (Date.parse(record.finishTime) - Date.parse(record.startTime)) / 1000);
}
