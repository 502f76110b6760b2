/**
 * How far a film's chains of segments have come: each segment's record brought up to date with its latest job, and
 * for each chain (docs/adr/0025) the length of the run whose results link from its first segment on. A record
 * counts only while its plan hash and consumed digest still chain, so an edit invalidates exactly the segments from
 * the first changed one to the end of its chain.
 */
import { SegmentFailureReason } from "../api/long-video-status.ts";
import { exitCodes } from "../api/runtime-contract.ts";
import { EventReason } from "./film-conditions.ts";
import { segmentResult } from "./segment-result.ts";
import { samePlanHash } from "./status-compaction.ts";
import { retryDelayMs } from "./attempt-policy.ts";
import { latestPod, latestSegmentJob } from "./owned-jobs.ts";
import { countedFailures, isFinal, recordSeconds, segmentRecord, willRetry } from "./segment-record.ts";
import type {
  DecisionFacts,
  FilmIntent,
  FilmSnapshot,
  FollowUpAction,
  ObservedJob,
  ObservedPod,
  PlannedSegment,
  SegmentOutcome,
  SegmentRecord,
} from "./film-snapshot.ts";

/** One chain's progress. */
export interface ChainProgress {
  /** Its first and last segment. */
  readonly first: number;
  readonly last: number;
  /** Its segments whose results link all the way from its first. */
  readonly valid: number;
  /**
   * The digest its next segment must consume ("" at the chain's start); once every segment is valid, the last
   * one's output, which the concatenation walks the chain back from.
   */
  readonly nextInput: string;
}

export interface SegmentProgress {
  /** Records in plan order, each still valid or in flight for its chain. */
  readonly records: readonly SegmentRecord[];
  /** Segments whose results link from their chain's first: the film's progress. */
  readonly valid: number;
  /** Each chain's progress, in storyline order. */
  readonly chains: readonly ChainProgress[];
  /** Attempts whose end this snapshot shows for the first time, for metrics. */
  readonly ended: DecisionFacts["segmentsEnded"];
  /** An event for each of those ends. */
  readonly events: readonly FollowUpAction[];
}

export function segmentProgress(snapshot: FilmSnapshot, intent: FilmIntent): SegmentProgress {
  const previous = new Map((snapshot.film.status.segments ?? []).map((r) => [r.index, r]));
  const lost = lostHandoffs(snapshot, intent);
  const records: SegmentRecord[] = [];
  const ended: DecisionFacts["segmentsEnded"][number][] = [];
  const events: FollowUpAction[] = [];
  const chains: ChainProgress[] = [];
  for (const { first, last } of intent.chains) {
    let nextInput = "";
    let valid = 0;
    for (const segment of intent.segments.slice(first, last + 1)) {
      const found = currentRecord(snapshot, segment, nextInput, previous.get(segment.index));
      const invalidated = found.record && handoffLost(found.record, lost.get(segment.index), intent);
      if (invalidated) {
        records.push(invalidated.record);
        if (previous.get(segment.index)?.state === "Succeeded") events.push(invalidated.event);
        break;
      }
      if (found.newlyEnded) {
        const gap = handoffGap(records.at(-1), found.newlyEnded);
        ended.push({ ...outcomeOf(found.newlyEnded, intent), ...(gap ? { gap } : {}) });
        events.push(endEvent(found.newlyEnded, intent));
      }
      if (found.record) records.push(found.record);
      if (found.record?.state !== "Succeeded" || !found.record.outputDigest) break;
      nextInput = found.record.outputDigest;
      valid++;
    }
    chains.push({ first, last, valid, nextInput });
  }
  const valid = chains.reduce((sum, chain) => sum + chain.valid, 0);
  return { records, valid, chains, ended, events };
}

/**
 * What the concatenation walks back from (LV_FINAL_DIGEST): the last segment's output for a film of one chain, as
 * it always was; else each chain's last segment and output, `last:digest`, comma-separated in storyline order.
 */
export function finalDigests(chains: readonly ChainProgress[]): string {
  if (chains.length === 1) return chains[0]?.nextInput ?? "";
  return chains.map((chain) => `${String(chain.last)}:${chain.nextInput}`).join(",");
}

/** The segment's record for these inputs, updated from its latest job; and the record if it just ended. */
function currentRecord(
  snapshot: FilmSnapshot,
  segment: PlannedSegment,
  inputDigest: string,
  prior: SegmentRecord | undefined,
): { record?: SegmentRecord; newlyEnded?: SegmentRecord } {
  // A record made for other inputs (an edit upstream, a different predecessor) says nothing about these.
  const record =
    prior && samePlanHash(prior.hash, segment.hash) && (prior.inputDigest ?? "") === inputDigest ? prior : undefined;
  const job = latestSegmentJob(snapshot.jobs, segment, inputDigest);
  if (!job || !newerThan(job, record)) return record ? { record } : {};
  const updated = segmentRecord(job, latestPod(snapshot.pods, job), record, segment);
  const alreadyEnded = record !== undefined && isFinal(record) && record.attempt === updated.attempt;
  return isFinal(updated) && !alreadyEnded ? { record: updated, newlyEnded: updated } : { record: updated };
}

/** A later attempt's report that a segment's hand-off (or clip) was missing or corrupt. */
interface LostHandoff {
  /** When the attempt that found it ended. */
  readonly at: string;
  /** The digest it wanted (a segment's input); absent when the concatenation reported it. */
  readonly digest?: string;
  readonly by: string;
}

/**
 * Per segment, the latest report (a failed attempt exiting with the runtime's hand-off code) that its data is
 * gone: from segment i+1, which could not read i's latents; or from the concatenation, naming the first segment
 * whose clip or link it could not verify.
 */
function lostHandoffs(snapshot: FilmSnapshot, intent: FilmIntent): Map<number, LostHandoff> {
  const lost = new Map<number, LostHandoff>();
  for (const job of snapshot.jobs) {
    const pod = job.finished === "Failed" ? latestPod(snapshot.pods, job) : undefined;
    if (pod?.exitCode !== exitCodes.handoff) continue;
    const report = lostReport(job, pod, intent);
    if (!report) continue;
    const at = pod.finishedAt ?? job.createdAt;
    const known = lost.get(report.index);
    if (!known || known.at < at) lost.set(report.index, { ...report.lost, at });
  }
  return lost;
}

function lostReport(
  job: ObservedJob,
  pod: ObservedPod,
  intent: FilmIntent,
): { index: number; lost: Omit<LostHandoff, "at"> } | undefined {
  if (job.kind === "segment") {
    const by = `segment ${String(job.segment)}`;
    // A chain's start consumes nothing (its input digest is empty): it has no predecessor to blame.
    const consumed = job.segment > 0 && job.inputDigest !== "";
    return consumed ? { index: job.segment - 1, lost: { digest: job.inputDigest, by } } : undefined;
  }
  const missing = segmentResult(pod.terminationMessage)?.missingSegment;
  const valid = job.hash === intent.concat.hash && missing !== undefined && missing >= 0;
  return valid && missing < intent.segments.length ? { index: missing, lost: { by: "the concatenation" } } : undefined;
}

/**
 * A succeeded record whose output a later attempt found missing or corrupt after it was made: failed (not
 * counted while the losses stay within the retry budget), so that the segment is rendered again first.
 */
function handoffLost(
  record: SegmentRecord,
  lost: LostHandoff | undefined,
  intent: FilmIntent,
): { record: SegmentRecord; event: FollowUpAction } | undefined {
  if (!lost || record.state !== "Succeeded" || !record.finishTime || lost.at <= record.finishTime) return undefined;
  if (lost.digest !== undefined && lost.digest !== record.outputDigest) return undefined;
  const losses = (record.handoffLosses ?? 0) + 1;
  const message = `its hand-off was found missing or corrupt by ${lost.by}; rendered again (${String(losses)} time(s))`;
  // Lost again and again (a workspace not shared between nodes, a failing disk): counted, so the film ends.
  const counted = losses > intent.retry.limit;
  const failures = countedFailures(record) + (counted ? intent.retry.limit + 1 : 0);
  // Its output is gone: the record no longer vouches for it.
  const kept: SegmentRecord = { ...record };
  delete kept.outputDigest;
  delete kept.frames;
  return {
    record: {
      ...kept,
      state: "Failed",
      failures,
      finishTime: lost.at,
      handoffLosses: losses,
      message,
      ...(counted ? {} : { reason: SegmentFailureReason.HandoffLost }),
    },
    event: {
      kind: "event",
      type: "Warning",
      reason: EventReason.SegmentsInvalidated,
      message: `re-rendering from segment ${String(record.index)}: ${message}`,
    },
  };
}

/**
 * The time between a predecessor committing its hand-off and its successor starting to denoise it, when both
 * workers reported those instants (a chain's start has no predecessor in `before`'s place: it is another chain's).
 */
function handoffGap(
  before: SegmentRecord | undefined,
  record: SegmentRecord,
): { readonly seconds: number; readonly mode: "warm" | "serial" } | undefined {
  if (before?.index !== record.index - 1 || record.state !== "Succeeded" || (record.inputDigest ?? "") === "") {
    return undefined;
  }
  if (before.committedAt === undefined || record.denoiseStartedAt === undefined) return undefined;
  const seconds = (Date.parse(record.denoiseStartedAt) - Date.parse(before.committedAt)) / 1000;
  return { seconds: Math.max(0, seconds), mode: record.inputFrom === undefined ? "serial" : "warm" };
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
      succeeded: record.index,
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
