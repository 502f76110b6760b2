/**
 * How far a film's chain of segments has come: each segment's record brought up to date with its latest job, and
 * the length of the chain whose results link from the first segment on. A record counts only while its plan hash
 * and consumed digest still chain, so an edit invalidates exactly the segments from the first changed one onward.
 */
import { EventReason } from "./film-conditions.ts";
import { retryDelayMs } from "./attempt-policy.ts";
import { latestPod, latestSegmentJob } from "./owned-jobs.ts";
import { countedFailures, isFinal, recordSeconds, segmentRecord, willRetry } from "./segment-record.ts";
import type {
  FilmIntent,
  FilmSnapshot,
  FollowUpAction,
  ObservedJob,
  PlannedSegment,
  SegmentOutcome,
  SegmentRecord,
} from "./film-snapshot.ts";

export interface SegmentProgress {
  /** Records in plan order, each still valid or in flight for the current chain. */
  readonly records: readonly SegmentRecord[];
  /** Segments whose results chain all the way from the first: the film's progress. */
  readonly valid: number;
  /** Digest the next segment must consume. */
  readonly nextInput: string;
  /** Attempts whose end this snapshot shows for the first time, for metrics. */
  readonly ended: readonly { readonly result: SegmentOutcome; readonly seconds: number }[];
  /** An event for each of those ends. */
  readonly events: readonly FollowUpAction[];
}

export function segmentProgress(snapshot: FilmSnapshot, intent: FilmIntent): SegmentProgress {
  const previous = new Map((snapshot.film.status.segments ?? []).map((r) => [r.index, r]));
  const records: SegmentRecord[] = [];
  const ended: { result: SegmentOutcome; seconds: number }[] = [];
  const events: FollowUpAction[] = [];
  let nextInput = "";
  for (const segment of intent.segments) {
    const record = currentRecord(snapshot, segment, nextInput, previous.get(segment.index));
    if (record.newlyEnded) {
      ended.push(outcomeOf(record.newlyEnded, intent));
      events.push(endEvent(record.newlyEnded, intent));
    }
    if (record.record) records.push(record.record);
    if (record.record?.state !== "Succeeded" || !record.record.outputDigest) break;
    nextInput = record.record.outputDigest;
  }
  const valid = records.filter((r) => r.state === "Succeeded" && r.outputDigest).length;
  return { records, valid, nextInput, ended, events };
}

/** The segment's record for these inputs, updated from its latest job; and the record if it just ended. */
function currentRecord(
  snapshot: FilmSnapshot,
  segment: PlannedSegment,
  inputDigest: string,
  prior: SegmentRecord | undefined,
): { record?: SegmentRecord; newlyEnded?: SegmentRecord } {
  // A record made for other inputs (an edit upstream, a different predecessor) says nothing about these.
  const record = prior?.hash === segment.hash && (prior.inputDigest ?? "") === inputDigest ? prior : undefined;
  const job = latestSegmentJob(snapshot.jobs, segment, inputDigest);
  if (!job || !newerThan(job, record)) return record ? { record } : {};
  const updated = segmentRecord(job, latestPod(snapshot.pods, job), record, segment);
  const alreadyEnded = record !== undefined && isFinal(record) && record.attempt === updated.attempt;
  return isFinal(updated) && !alreadyEnded ? { record: updated, newlyEnded: updated } : { record: updated };
}

/** Whether a job tells more than the record: a later attempt, or the end of the recorded one. */
function newerThan(job: ObservedJob, record: SegmentRecord | undefined): boolean {
  if (!record || record.attempt < job.attempt) return true;
  return record.attempt === job.attempt && !isFinal(record);
}

function outcomeOf(record: SegmentRecord, intent: FilmIntent): { result: SegmentOutcome; seconds: number } {
  const seconds = recordSeconds(record) ?? 0;
  if (record.state === "Succeeded") return { result: "succeeded", seconds };
  return { result: willRetry(intent.retry, record) ? "retried" : "failed", seconds };
}

function endEvent(record: SegmentRecord, intent: FilmIntent): FollowUpAction {
  const index = String(record.index);
  const attempts = String(record.attempt + 1);
  if (record.state === "Succeeded") {
    const seconds = (recordSeconds(record) ?? 0).toFixed(1);
    return {
      kind: "event",
      type: "Normal",
      reason: EventReason.SegmentSucceeded,
      message: `segment ${index} rendered on ${record.node ?? "an unknown node"} in ${seconds}s`,
    };
  }
  const message = record.message ?? "";
  const failures = countedFailures(record);
  if (!willRetry(intent.retry, record)) {
    return {
      kind: "event",
      type: "Warning",
      reason: EventReason.SegmentFailed,
      message: `segment ${index} failed for good after ${String(failures)} failed attempt(s): ${message}`,
    };
  }
  const delay = String(Math.round(retryDelayMs(intent.retry, failures - 1) / 1000));
  return {
    kind: "event",
    type: "Warning",
    reason: EventReason.SegmentRetrying,
    message: `segment ${index} attempt ${attempts} failed, retrying in ${delay}s: ${message}`,
  };
}
