/**
 * The reconciler's one decision: from a snapshot of a film and what it owns, the actions that move it toward its
 * intent. Pure and total: the same snapshot always gives the same decision, so a crash, a restart or a stale cache
 * can only repeat an action, and every action is idempotent (deterministic names, whole-status writes).
 *
 * The rules, in the order they apply:
 * - A segment is rendered only after its predecessor's result is recorded in status, and it is told the digest of
 *   the latents it must consume. A record counts only while its plan hash and consumed digest still chain, so an
 *   edit invalidates exactly the segments from the first changed one onward.
 * - A failed attempt is retried with exponential backoff until `retry.limit`; then the film fails, naming the
 *   segment and the container's message. Records already made are kept.
 * - `suspend` lets a running job finish and starts nothing new.
 * - After the last segment, one concatenation job writes the film.
 */
import { ConditionReason, ConditionType, EventReason, mergedConditions } from "./film-conditions.ts";
import type { ConditionDraft } from "./film-conditions.ts";
import type {
  Action,
  Decision,
  FilmIntent,
  FilmPhase,
  FilmSnapshot,
  FilmStatus,
  ObservedJob,
  ObservedPod,
  PlannedSegment,
  SegmentRecord,
} from "./film-snapshot.ts";
import { canonicalJson } from "../plan/canonical-json.ts";
import { segmentResult } from "./segment-result.ts";

/** Held on every film so deletion can honour the workspace retention policy before the film disappears. */
export const filmFinalizer = "longvideo.dev/cleanup";

const maxNameLength = 63;

/** Deterministic job names: the same segment, inputs and attempt always give the same name. */
export function segmentJobName(
  film: string,
  index: number,
  hash: string,
  inputDigest: string,
  attempt: number,
): string {
  const key = shortDigest(`${hash}|${inputDigest}`);
  const suffix = `-s${String(index)}-${key}-a${String(attempt)}`;
  return `${film.slice(0, maxNameLength - suffix.length)}${suffix}`;
}

export function concatJobName(film: string, hash: string, attempt: number): string {
  const suffix = `-concat-${shortDigest(hash)}-a${String(attempt)}`;
  return `${film.slice(0, maxNameLength - suffix.length)}${suffix}`;
}

/** Eight hex characters of FNV-1a: enough to tell a film's few jobs apart, and cheap. */
function shortDigest(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** Delay before retry number `attempt + 1` after attempt `attempt` failed. */
export function retryDelayMs(intent: FilmIntent, attempt: number): number {
  return Math.min(intent.retry.maxDelayMs, intent.retry.baseDelayMs * 2 ** Math.min(attempt, 30));
}

const byAttempt = (a: ObservedJob, b: ObservedJob) => b.attempt - a.attempt;

function podOf(pods: readonly ObservedPod[], job: ObservedJob): ObservedPod | undefined {
  // A Job with backoffLimit 0 runs one pod, but a disruption (ignored by the pod failure policy) may add one.
  return pods
    .filter((p) => p.jobName === job.name)
    .sort((a, b) => (b.startedAt ?? "").localeCompare(a.startedAt ?? ""))[0];
}

function durationSeconds(record: SegmentRecord): number | undefined {
  if (!record.startTime || !record.finishTime) return undefined;
  return Math.max(0, (Date.parse(record.finishTime) - Date.parse(record.startTime)) / 1000);
}

/** The record a job's observed state implies, given the record made so far for the same job. */
function recordFromJob(
  job: ObservedJob,
  pod: ObservedPod | undefined,
  prior: SegmentRecord | undefined,
  segment: PlannedSegment,
): SegmentRecord {
  const base: SegmentRecord = {
    index: segment.index,
    attempt: job.attempt,
    state: "Running",
    hash: segment.hash,
    inputDigest: job.inputDigest,
    ...(pod?.nodeName ? { node: pod.nodeName } : prior?.node ? { node: prior.node } : {}),
    ...(pod?.startedAt ? { startTime: pod.startedAt } : { startTime: job.createdAt }),
  };
  if (!job.finished)
    return pod?.phase === "Running" || prior?.state === "Running" ? base : { ...base, state: "Pending" };
  const finishTime = pod?.finishedAt ?? base.startTime ?? job.createdAt;
  const result = segmentResult(pod?.terminationMessage);
  if (job.finished === "Succeeded") {
    if (!result?.outputDigest) {
      return {
        ...base,
        state: "Failed",
        finishTime,
        message: "the render pod succeeded but left no result (latents digest) in its termination message",
      };
    }
    return {
      ...base,
      state: "Succeeded",
      finishTime,
      outputDigest: result.outputDigest,
      ...(result.frames === undefined ? {} : { frames: result.frames }),
    };
  }
  const detail = result?.error ?? job.failureMessage ?? pod?.reason ?? job.failureReason ?? "the render pod failed";
  const exit =
    pod?.exitCode === undefined || detail.includes("exit code") ? "" : ` (exit code ${String(pod.exitCode)})`;
  return { ...base, state: "Failed", finishTime, message: `${detail}${exit}`.slice(0, 1024) };
}

interface Progress {
  /** Records in plan order, each still valid or in flight for the current chain. */
  readonly records: SegmentRecord[];
  /** Segments whose results chain all the way from the first: the film's progress. */
  readonly valid: number;
  /** Digest the next segment must consume. */
  readonly nextInput: string;
}

export function decide(observed: FilmSnapshot): Decision {
  // A Job runs one pod (backoffLimit 0, one completion), so its pod's success is the segment's success. The Job
  // controller marks the Job Complete only after batching pod updates for a second; not waiting for it is most of
  // the hand-off time.
  const snapshot: FilmSnapshot = {
    ...observed,
    jobs: observed.jobs.map((job) =>
      job.finished === undefined && podOf(observed.pods, job)?.phase === "Succeeded"
        ? { ...job, finished: "Succeeded" }
        : job,
    ),
  };
  const { film } = snapshot;
  const now = snapshot.now.toISOString();
  if (film.deleting) return decideDeletion(snapshot);

  const actions: Action[] = [];
  if (!film.finalizers.includes(filmFinalizer)) actions.push({ kind: "addFinalizer" });

  if (!snapshot.intent.ok) {
    const message = snapshot.intent.errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    const previousReady = film.status.conditions?.find((c) => c.type === ConditionType.Ready);
    const alreadyReported =
      film.status.observedGeneration === film.generation &&
      previousReady?.reason === ConditionReason.InvalidSpec &&
      previousReady.message === message;
    if (!alreadyReported) actions.push({ kind: "event", type: "Warning", reason: EventReason.InvalidSpec, message });
    const drafts: ConditionDraft[] = [
      { type: ConditionType.Ready, status: "False", reason: ConditionReason.InvalidSpec, message },
      { type: ConditionType.Progressing, status: "False", reason: ConditionReason.InvalidSpec, message },
    ];
    // Everything already rendered stays recorded: fixing the spec resumes from it.
    const status: FilmStatus = {
      ...film.status,
      observedGeneration: film.generation,
      phase: film.status.phase ?? "Pending",
      conditions: mergedConditions(film.status.conditions ?? [], drafts, now, film.generation),
    };
    pushStatus(actions, film.status, status);
    return { actions, facts: { segmentsEnded: [], handoffsFrom: [] } };
  }

  const intent = snapshot.intent.intent;
  if (!snapshot.workspaceClaim) actions.push({ kind: "createWorkspace", workspace: intent.workspace });

  const segmentsEnded: { result: "succeeded" | "failed" | "retried"; seconds: number }[] = [];
  const handoffsFrom: string[] = [];
  const progress = adoptResults(snapshot, intent, actions, segmentsEnded);
  const n = intent.segments.length;
  let requeueAfterMs: number | undefined;
  let failure: { reason: string; message: string } | undefined;
  let concatenating = false;
  let output = film.status.output?.hash === intent.concat.hash ? film.status.output : undefined;

  // Jobs that render something the plan no longer wants (an edit, a stale chain) are stopped.
  const wanted = new Set<string>();
  const activeJobs = snapshot.jobs.filter((j) => !j.finished && !j.deleting);

  if (progress.valid < n) {
    const segment = intent.segments[progress.valid];
    if (!segment) throw new Error("progress beyond the plan");
    const jobs = snapshot.jobs
      .filter(
        (j) =>
          j.kind === "segment" &&
          j.segment === segment.index &&
          j.hash === segment.hash &&
          j.inputDigest === progress.nextInput,
      )
      .sort(byAttempt);
    const latest = jobs[0];
    const record = progress.records.find((r) => r.index === segment.index);
    if (latest && !latest.finished) {
      wanted.add(latest.name);
    } else if (record?.state === "Failed" || record?.state === "Retrying") {
      if (record.attempt >= intent.retry.limit) {
        failure = {
          reason: ConditionReason.RetriesExhausted,
          message: `segment ${String(segment.index)} failed ${String(record.attempt + 1)} time(s): ${record.message ?? "no message"}`,
        };
      } else {
        const retryAt = Date.parse(record.finishTime ?? now) + retryDelayMs(intent, record.attempt);
        if (snapshot.now.getTime() >= retryAt && !intent.suspend) {
          const attempt = record.attempt + 1;
          const name = segmentJobName(film.name, segment.index, segment.hash, progress.nextInput, attempt);
          wanted.add(name);
          actions.push({ kind: "createSegmentJob", segment, attempt, inputDigest: progress.nextInput, name });
          actions.push({
            kind: "event",
            type: "Normal",
            reason: EventReason.SegmentStarted,
            message: `segment ${String(segment.index)} attempt ${String(attempt + 1)} started (${name})`,
          });
        } else if (!intent.suspend) {
          requeueAfterMs = Math.max(1, retryAt - snapshot.now.getTime());
        }
      }
    } else if (!latest && !intent.suspend) {
      const name = segmentJobName(film.name, segment.index, segment.hash, progress.nextInput, 0);
      wanted.add(name);
      actions.push({ kind: "createSegmentJob", segment, attempt: 0, inputDigest: progress.nextInput, name });
      actions.push({
        kind: "event",
        type: "Normal",
        reason: EventReason.SegmentStarted,
        message: `segment ${String(segment.index)} of ${String(n)} started (${name})`,
      });
      const predecessor = progress.records[progress.valid - 1];
      if (predecessor?.finishTime) handoffsFrom.push(predecessor.finishTime);
    }
  } else if (!output) {
    concatenating = true;
    const jobs = snapshot.jobs.filter((j) => j.kind === "concat" && j.hash === intent.concat.hash).sort(byAttempt);
    const latest = jobs[0];
    if (latest && !latest.finished) {
      wanted.add(latest.name);
    } else if (latest?.finished === "Succeeded") {
      const result = segmentResult(podOf(snapshot.pods, latest)?.terminationMessage);
      output = {
        path: intent.concat.path,
        frames: result?.frames ?? intent.concat.frames,
        seconds: result?.seconds ?? intent.concat.seconds,
        hash: intent.concat.hash,
      };
      concatenating = false;
      actions.push({
        kind: "event",
        type: "Normal",
        reason: EventReason.FilmConcatenated,
        message: `film written to ${output.path}: ${String(output.frames)} frames, ${output.seconds.toFixed(2)}s`,
      });
    } else if (latest?.finished === "Failed") {
      const pod = podOf(snapshot.pods, latest);
      const detail = segmentResult(pod?.terminationMessage)?.error ?? latest.failureMessage ?? "concatenation failed";
      if (latest.attempt >= intent.retry.limit) {
        failure = { reason: ConditionReason.ConcatenationFailed, message: detail };
      } else {
        const finished = Date.parse(pod?.finishedAt ?? latest.createdAt);
        const retryAt = finished + retryDelayMs(intent, latest.attempt);
        if (snapshot.now.getTime() >= retryAt && !intent.suspend) {
          const name = concatJobName(film.name, intent.concat.hash, latest.attempt + 1);
          wanted.add(name);
          actions.push({ kind: "createConcatJob", attempt: latest.attempt + 1, name });
        } else if (!intent.suspend) {
          requeueAfterMs = Math.max(1, retryAt - snapshot.now.getTime());
        }
      }
    } else if (!intent.suspend) {
      const name = concatJobName(film.name, intent.concat.hash, 0);
      wanted.add(name);
      actions.push({ kind: "createConcatJob", attempt: 0, name });
      actions.push({
        kind: "event",
        type: "Normal",
        reason: EventReason.ConcatenationStarted,
        message: `concatenating ${String(n)} segments (${name})`,
      });
    }
  }

  for (const job of activeJobs) {
    if (!wanted.has(job.name)) actions.push({ kind: "deleteJob", name: job.name });
  }
  const invalidated = (film.status.segments ?? []).filter(
    (r) =>
      r.state === "Succeeded" &&
      !progress.records.some((p) => p.index === r.index && p.outputDigest === r.outputDigest),
  );
  if (invalidated.length > 0) {
    actions.push({
      kind: "event",
      type: "Normal",
      reason: EventReason.SegmentsInvalidated,
      message: `re-rendering from segment ${String(Math.min(...invalidated.map((r) => r.index)))}: its inputs changed`,
    });
  }

  const running = wanted.size > 0 || actions.some((a) => a.kind === "createSegmentJob" || a.kind === "createConcatJob");
  const phase: FilmPhase = failure
    ? "Failed"
    : output
      ? "Succeeded"
      : intent.suspend && !running
        ? "Suspended"
        : concatenating
          ? "Concatenating"
          : progress.valid > 0 || running
            ? "Rendering"
            : "Pending";
  if (failure && film.status.phase !== "Failed") {
    actions.push({ kind: "event", type: "Warning", reason: EventReason.FilmFailed, message: failure.message });
  }

  const status = filmStatus(snapshot, intent, progress, phase, output, failure, running);
  pushStatus(actions, film.status, status);
  // Move status writes before the creations they justify: a successor job exists only after its predecessor's
  // result is durably recorded. If the write fails, the performer stops and nothing is created.
  const ordered = [
    ...actions.filter((a) => a.kind === "addFinalizer" || a.kind === "createWorkspace"),
    ...actions.filter((a) => a.kind === "updateStatus"),
    ...actions.filter((a) => a.kind !== "addFinalizer" && a.kind !== "createWorkspace" && a.kind !== "updateStatus"),
  ];
  return {
    actions: ordered,
    ...(requeueAfterMs === undefined ? {} : { requeueAfterMs }),
    facts: { segmentsEnded, handoffsFrom },
  };
}

/** Folds finished and running jobs into the records, and measures how far the valid chain reaches. */
function adoptResults(
  snapshot: FilmSnapshot,
  intent: FilmIntent,
  actions: Action[],
  segmentsEnded: { result: "succeeded" | "failed" | "retried"; seconds: number }[],
): Progress {
  const previous = new Map((snapshot.film.status.segments ?? []).map((r) => [r.index, r]));
  const records: SegmentRecord[] = [];
  let valid = 0;
  let nextInput = "";
  let chainIntact = true;
  for (const segment of intent.segments) {
    if (!chainIntact) break;
    const prior = previous.get(segment.index);
    let record = prior?.hash === segment.hash && (prior.inputDigest ?? "") === nextInput ? prior : undefined;
    const job = snapshot.jobs
      .filter(
        (j) =>
          j.kind === "segment" && j.segment === segment.index && j.hash === segment.hash && j.inputDigest === nextInput,
      )
      .sort(byAttempt)[0];
    if (job && (!record || record.attempt < job.attempt || (record.attempt === job.attempt && !isFinal(record)))) {
      const updated = recordFromJob(job, podOf(snapshot.pods, job), record, segment);
      if (isFinal(updated) && !(record && isFinal(record) && record.attempt === updated.attempt)) {
        const seconds = durationSeconds(updated) ?? 0;
        if (updated.state === "Succeeded") {
          segmentsEnded.push({ result: "succeeded", seconds });
          actions.push({
            kind: "event",
            type: "Normal",
            reason: EventReason.SegmentSucceeded,
            message: `segment ${String(segment.index)} rendered on ${updated.node ?? "an unknown node"} in ${seconds.toFixed(1)}s`,
          });
        } else {
          const exhausted = updated.attempt >= intent.retry.limit;
          segmentsEnded.push({ result: exhausted ? "failed" : "retried", seconds });
          actions.push({
            kind: "event",
            type: "Warning",
            reason: exhausted ? EventReason.SegmentFailed : EventReason.SegmentRetrying,
            message: exhausted
              ? `segment ${String(segment.index)} failed for good after ${String(updated.attempt + 1)} attempt(s): ${updated.message ?? ""}`
              : `segment ${String(segment.index)} attempt ${String(updated.attempt + 1)} failed, retrying in ${String(Math.round(retryDelayMs(intent, updated.attempt) / 1000))}s: ${updated.message ?? ""}`,
          });
        }
      }
      record = updated;
    }
    if (record) records.push(record);
    if (record?.state === "Succeeded" && record.outputDigest) {
      valid += 1;
      nextInput = record.outputDigest;
    } else {
      chainIntact = false;
    }
  }
  return { records, valid, nextInput };
}

function isFinal(record: SegmentRecord): boolean {
  return record.state === "Succeeded" || record.state === "Failed" || record.state === "Retrying";
}

function filmStatus(
  snapshot: FilmSnapshot,
  intent: FilmIntent,
  progress: Progress,
  phase: FilmPhase,
  output: FilmStatus["output"],
  failure: { reason: string; message: string } | undefined,
  running: boolean,
): FilmStatus {
  const { film } = snapshot;
  const now = snapshot.now.toISOString();
  const n = intent.segments.length;
  const records = progress.records.map((r) =>
    r.state === "Failed" && r.attempt < intent.retry.limit ? { ...r, state: "Retrying" as const } : r,
  );
  const started = film.status.startTime ?? (running || progress.valid > 0 ? now : undefined);
  const durations = records.flatMap((r) => (r.state === "Succeeded" ? [durationSeconds(r) ?? 0] : []));
  const mean = durations.length > 0 ? durations.reduce((a, b) => a + b, 0) / durations.length : undefined;
  const remaining = n - progress.valid;
  // Anchored on the last recorded finish, not on now: the estimate then changes only when a segment does, and
  // the status is not rewritten on every reconcile.
  const finishes = records.flatMap((r) => (r.state === "Succeeded" && r.finishTime ? [Date.parse(r.finishTime)] : []));
  const eta =
    phase === "Rendering" && mean !== undefined && finishes.length > 0
      ? new Date(Math.max(...finishes) + mean * remaining * 1000).toISOString()
      : undefined;

  const drafts: ConditionDraft[] = [];
  const readyReason = {
    Succeeded: ConditionReason.FilmComplete,
    Failed: failure?.reason ?? ConditionReason.RetriesExhausted,
    Suspended: ConditionReason.Suspended,
    Concatenating: ConditionReason.Concatenating,
    Rendering: ConditionReason.Rendering,
    Pending: ConditionReason.InProgress,
  }[phase];
  const progressText = `${String(progress.valid)}/${String(n)} segments rendered`;
  drafts.push({
    type: ConditionType.Ready,
    status: phase === "Succeeded" ? "True" : "False",
    reason: readyReason,
    message: phase === "Succeeded" && output ? `the film is at ${output.path}` : (failure?.message ?? progressText),
  });
  const progressing = phase === "Rendering" || phase === "Concatenating" || phase === "Pending";
  const waitingForRetry = records.some((r) => r.state === "Retrying") && !running;
  drafts.push({
    type: ConditionType.Progressing,
    status: progressing ? "True" : "False",
    reason: waitingForRetry ? ConditionReason.WaitingForRetry : readyReason,
    message: progressText,
  });
  drafts.push({
    type: ConditionType.Succeeded,
    status: phase === "Succeeded" ? "True" : "False",
    reason: phase === "Succeeded" ? ConditionReason.FilmComplete : ConditionReason.InProgress,
    message: phase === "Succeeded" ? `${String(n)} segments concatenated` : progressText,
  });
  drafts.push({
    type: ConditionType.Failed,
    status: failure ? "True" : "False",
    reason: failure?.reason ?? ConditionReason.NoFailure,
    message: failure?.message ?? "no segment has exhausted its retries",
  });
  if (intent.suspend || film.status.conditions?.some((c) => c.type === ConditionType.Suspended)) {
    drafts.push({
      type: ConditionType.Suspended,
      status: intent.suspend && !running ? "True" : "False",
      reason: intent.suspend
        ? running
          ? ConditionReason.SuspendRequested
          : ConditionReason.Suspended
        : ConditionReason.NotSuspended,
      message: intent.suspend
        ? running
          ? "suspending: the running job finishes, no new one starts"
          : "suspended at a segment boundary"
        : "resumed",
    });
  }

  const previousCompletion = film.status.completionTime;
  return {
    observedGeneration: film.generation,
    phase,
    progress: `${String(progress.valid)}/${String(n)}`,
    segments: records,
    conditions: mergedConditions(film.status.conditions ?? [], drafts, now, film.generation),
    ...(output ? { output } : {}),
    ...(started ? { startTime: started } : {}),
    ...(phase === "Succeeded" || phase === "Failed" ? { completionTime: previousCompletion ?? now } : {}),
    ...(eta ? { eta } : {}),
  };
}

/** Adds a status write only when the status changed. */
function pushStatus(actions: Action[], previous: FilmStatus, next: FilmStatus): void {
  if (canonicalJson(previous) !== canonicalJson(next)) actions.push({ kind: "updateStatus", status: next });
}

function decideDeletion(snapshot: FilmSnapshot): Decision {
  const actions: Action[] = [];
  const facts = { segmentsEnded: [], handoffsFrom: [] };
  if (!snapshot.film.finalizers.includes(filmFinalizer)) return { actions, facts };
  // Owner references would collect the jobs once the film is gone; stopping them now frees the GPUs at once.
  for (const job of snapshot.jobs)
    if (!job.finished && !job.deleting) actions.push({ kind: "deleteJob", name: job.name });
  const claim = snapshot.workspaceClaim;
  if (claim?.ownedByFilm) {
    // An unreadable spec cannot say "delete": keeping rendered work is the safe reading.
    const retain = !snapshot.intent.ok || snapshot.intent.intent.workspace.retainOnDelete;
    if (retain) {
      actions.push({ kind: "releaseWorkspace", claimName: claim.name });
      actions.push({
        kind: "event",
        type: "Normal",
        reason: EventReason.WorkspaceRetained,
        message: `workspace ${claim.name} is kept: its retention policy is Retain`,
      });
    } else {
      actions.push({ kind: "deleteWorkspace", claimName: claim.name });
    }
  }
  actions.push({ kind: "removeFinalizer" });
  return { actions, facts };
}
