/**
 * Warm start (docs/adr/0026): a chain's next segment is started while the segment before it still renders, early
 * enough that its pod start and model load end about when the predecessor commits its hand-off. The warm pod is
 * told which attempt it follows (LV_INPUT_FROM), not which digest, and waits on the workspace for that attempt's
 * commit. Pure.
 *
 * The operator stays the authority. A warm Job is wanted only while the attempt it follows runs; once that attempt
 * succeeded, the warm Job is the attempt at the segment with the predecessor's recorded output as its input
 * ({@link withWarmInputs}), and the segment step treats it as any other. Anything else (the predecessor failed,
 * retried, lost; a suspend; an edit) leaves it unwanted, and the reconciler deletes it.
 */
import { attemptDir } from "../api/runtime-contract.ts";
import type { FilmStep } from "./film-step.ts";
import { idleStep } from "./film-step.ts";
import type { FilmIntent, FilmSnapshot, ObservedJob, PlannedSegment, SegmentRecord } from "./film-snapshot.ts";
import { EventReason } from "./film-conditions.ts";
import { segmentJobName } from "./object-names.ts";
import { latestPod, latestSegmentJob } from "./owned-jobs.ts";
import { segmentResult } from "./segment-result.ts";
import type { ChainProgress, SegmentProgress } from "./segment-progress.ts";
import { timedRecords } from "./timing-shape.ts";

/** The key a warm attempt's directory and Job name use in place of an input digest. */
export function warmInputKey(inputFrom: string): string {
  return `from:${inputFrom}`;
}

/** The directory a recorded attempt wrote, relative to the workspace (a warm one keyed by what it followed). */
export function recordAttemptDir(record: {
  readonly index: number;
  readonly hash: string;
  readonly attempt?: number;
  readonly inputDigest?: string;
  readonly inputFrom?: string;
}): string {
  const input = record.inputFrom === undefined ? (record.inputDigest ?? "") : warmInputKey(record.inputFrom);
  return attemptDir(record.index, record.hash, input, record.attempt ?? 0);
}

/** The directory an attempt writes, relative to the workspace (a warm one keyed by what it follows). */
export function jobAttemptDir(job: ObservedJob): string {
  const input = job.inputFrom === undefined ? job.inputDigest : warmInputKey(job.inputFrom);
  return attemptDir(job.segment, job.hash, input, job.attempt);
}

/**
 * The snapshot with each warm Job whose predecessor attempt succeeded given that attempt's output as its input
 * digest: from then on it is simply the attempt at its segment for that input. A warm Job whose predecessor has
 * not succeeded keeps "" (it waits).
 */
export function withWarmInputs(snapshot: FilmSnapshot): FilmSnapshot {
  if (!snapshot.jobs.some((job) => job.inputFrom !== undefined)) return snapshot;
  const byDir = new Map(snapshot.jobs.filter((j) => j.kind === "segment").map((j) => [jobAttemptDir(j), j]));
  return {
    ...snapshot,
    jobs: snapshot.jobs.map((job) => {
      if (job.inputFrom === undefined) return job;
      const predecessor = byDir.get(job.inputFrom);
      if (predecessor?.finished !== "Succeeded") return job;
      const output = segmentResult(latestPod(snapshot.pods, predecessor)?.terminationMessage)?.outputDigest;
      return output === undefined ? job : { ...job, inputDigest: output };
    }),
  };
}

/** What the film's rendered segments say about timing: the lead a warm pod needs, and a clip's work. */
interface LearnedTiming {
  /** The longest recent process start to models loaded, in ms. */
  readonly readyMs: number;
  /** The mean denoise start to hand-off committed, in ms. */
  readonly workMs: number;
}

/**
 * The timing the latest rendered segments reported, or none (kwok's imitation of the worker reports no phases, so
 * its films stay serial).
 */
export function learnedTiming(records: readonly SegmentRecord[]): LearnedTiming | undefined {
  const timed = timedRecords(records);
  if (timed.length === 0) return undefined;
  const readyMs = Math.max(...timed.map((r) => (r.phases?.ready ?? 0) * 1000));
  const work = timed.map((r) => Date.parse(r.committedAt ?? "") - Date.parse(r.denoiseStartedAt ?? ""));
  const workMs = work.reduce((sum, ms) => sum + Math.max(0, ms), 0) / work.length;
  return { readyMs, workMs };
}

/**
 * What the film's own segments taught; before its first hand-off, what another film of the same timing shape
 * (pool, resources, models, clip size, steps) taught.
 */
function filmTiming(snapshot: FilmSnapshot, progress: SegmentProgress): LearnedTiming | undefined {
  return learnedTiming(progress.records) ?? learnedTiming(snapshot.shapeTiming ?? []);
}

/**
 * The warm part of a chain's step: keep the warm successors of the rendering segment, each following the one before
 * it, and start the next when its lead time has come, or wake up then. Each is started only when its expected start
 * of denoising is within the lead time, so clips longer than a model load have one ahead; clips shorter than it (the
 * CPU image's tiny ones) need a few to keep the chain busy, up to the operator's `maxAhead`, which keeps a film from
 * holding a GPU per clip. Nothing for a film without warm start, a
 * suspended one, or a successor that has run before (its later attempts are serial: the attempt numbers of a warm
 * Job must be its segment's first).
 */
export function warmStep(
  snapshot: FilmSnapshot,
  intent: FilmIntent,
  progress: SegmentProgress,
  chain: ChainProgress,
): FilmStep {
  const warm = intent.warm;
  const current = intent.segments[chain.first + chain.valid];
  if (!warm || intent.suspend || !current) return idleStep;
  const running = runningAttempt(snapshot, current, chain.nextInput);
  if (!running) return idleStep;
  const timing = filmTiming(snapshot, progress);
  // When the running attempt is expected to commit: from its start (or its own input's commit), plus a clip's work.
  const commitAt = timing
    ? Math.max(running.startedAt + timing.readyMs, predecessorCommit(progress, current) ?? 0) + timing.workMs
    : undefined;
  const ahead = warmAhead(snapshot, current, chain, { job: running.job, commitAt }, timing, warm.maxAhead);
  const wanted = ahead.jobs.map((job) => job.name);
  const next = intent.segments[current.index + ahead.jobs.length + 1];
  const room = ahead.open && ahead.jobs.length < warm.maxAhead && next !== undefined && next.index <= chain.last;
  if (!room || !timing || ahead.commitAt === undefined || ranBefore(snapshot, next)) return { wanted, then: [] };
  const waitMs = ahead.commitAt - Math.min(timing.readyMs + warm.marginMs, warm.maxLeadMs) - snapshot.now.getTime();
  if (waitMs > 0) return { wanted, then: [], requeueAfterMs: waitMs };
  const started = startWarm(snapshot, next, ahead.last, ahead.follows);
  return { wanted: [...wanted, ...started.wanted], then: started.then };
}

/**
 * The warm Jobs already waiting ahead of the running attempt, each following the one before it; the attempt the
 * next would follow and when that one is expected to commit; and whether the walk may go on (not past a warm Job
 * that ended: its segment's next attempt is serial).
 */
function warmAhead(
  snapshot: FilmSnapshot,
  current: PlannedSegment,
  chain: ChainProgress,
  from: { readonly job: ObservedJob; readonly commitAt: number | undefined },
  timing: LearnedTiming | undefined,
  maxAhead: number,
): { jobs: ObservedJob[]; follows: string; commitAt: number | undefined; last: number; open: boolean } {
  const jobs: ObservedJob[] = [];
  let follows = jobAttemptDir(from.job);
  let commitAt = from.commitAt;
  for (let index = current.index + 1; index <= chain.last && jobs.length < maxAhead; index++) {
    const existing = snapshot.jobs.find(
      (j) => j.kind === "segment" && j.segment === index && j.inputFrom === follows && !j.deleting,
    );
    if (!existing) break;
    if (existing.finished) return { jobs, follows, commitAt, last: index - 1, open: false };
    jobs.push(existing);
    follows = jobAttemptDir(existing);
    const started = Date.parse(latestPod(snapshot.pods, existing)?.startedAt ?? existing.createdAt);
    commitAt =
      timing && commitAt !== undefined ? Math.max(commitAt, started + timing.readyMs) + timing.workMs : undefined;
  }
  return { jobs, follows, commitAt, last: current.index + jobs.length, open: true };
}

/** Whether a segment has a Job for its plan already (any input): its next attempts are serial. */
function ranBefore(snapshot: FilmSnapshot, segment: PlannedSegment): boolean {
  return snapshot.jobs.some((j) => j.kind === "segment" && j.segment === segment.index && j.hash === segment.hash);
}

/**
 * The segment's attempt under way, and since when its pod runs: its pod's start, or, while the pod is still to
 * start, its Job's creation (a clip shorter than a pod start and a model load needs its successor started that
 * early). None once it has ended, or while Kueue holds it.
 */
function runningAttempt(
  snapshot: FilmSnapshot,
  segment: PlannedSegment,
  inputDigest: string,
): { readonly job: ObservedJob; readonly startedAt: number } | undefined {
  const job = latestSegmentJob(snapshot.jobs, segment, inputDigest);
  if (!job || job.finished || job.deleting || job.suspended !== undefined) return undefined;
  const pod = latestPod(snapshot.pods, job);
  if (pod && pod.phase !== "Running" && pod.phase !== "Pending") return undefined;
  return { job, startedAt: Date.parse(pod?.startedAt ?? job.createdAt) };
}

/** When the running segment's own predecessor committed the hand-off it waited for (a warm segment only). */
function predecessorCommit(progress: SegmentProgress, current: PlannedSegment): number | undefined {
  const before = progress.records.find((r) => r.index === current.index - 1);
  return before?.committedAt === undefined ? undefined : Date.parse(before.committedAt);
}

function startWarm(snapshot: FilmSnapshot, next: PlannedSegment, after: number, follows: string): FilmStep {
  const workspaceUid = snapshot.workspaceClaim?.uid ?? "";
  const name = segmentJobName(snapshot.film, next.index, next.hash, warmInputKey(follows), 0, workspaceUid);
  const message = `segment ${String(next.index)} started warm (${name}): it loads while segment ${String(after)} renders or waits, and consumes the hand-off ${follows} commits`;
  return {
    wanted: [name],
    then: [
      { kind: "createSegmentJob", segment: next, attempt: 0, inputDigest: "", inputFrom: follows, name, workspaceUid },
      { kind: "event", type: "Normal", reason: EventReason.SegmentStarted, message },
    ],
  };
}
