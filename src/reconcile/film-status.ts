/**
 * The status a decision writes: phase, progress, segment records, conditions, output, times and an ETA. Whole
 * and deterministic, so an unchanged film yields a byte-identical status and no write.
 */
import { canonicalJson } from "../plan/canonical-json.ts";
import type { FilmOutput } from "./concat-step.ts";
import { ConditionReason, ConditionType, mergedConditions } from "./film-conditions.ts";
import type { ConditionDraft } from "./film-conditions.ts";
import type { FilmFailure } from "./film-step.ts";
import type { FilmIntent, FilmPhase, FilmSnapshot, FilmStatus, SegmentRecord } from "./film-snapshot.ts";
import { remainingTime } from "./remaining-time.ts";
import { countedFailures, recordSeconds, willRetry } from "./segment-record.ts";
import type { SegmentProgress } from "./segment-progress.ts";

export interface StatusFacts {
  readonly phase: FilmPhase;
  readonly progress: SegmentProgress;
  readonly output: FilmOutput | undefined;
  readonly failure: FilmFailure | undefined;
  /** A job is running or being created. */
  readonly running: boolean;
  /** Why nothing new may start yet, when something holds the film back. */
  readonly waiting?: { readonly reason: string; readonly message: string };
}

export function filmStatus(snapshot: FilmSnapshot, intent: FilmIntent, facts: StatusFacts): FilmStatus {
  const { film } = snapshot;
  const now = snapshot.now.toISOString();
  const { phase, progress, output, running } = facts;
  // A failed attempt with retries left is shown as Retrying: the film has not given up on it.
  const records = progress.records.map((r) =>
    r.state === "Failed" && willRetry(intent.retry, r) ? { ...r, state: "Retrying" as const } : r,
  );
  const started = film.status.startTime ?? (running || progress.valid > 0 ? now : undefined);
  const eta = phase === "Rendering" ? estimatedCompletion(records, remainingRounds(progress, intent)) : undefined;
  const completionTime = phase === "Succeeded" || phase === "Failed" ? (film.status.completionTime ?? now) : undefined;
  return {
    observedGeneration: film.generation,
    phase,
    progress: `${String(progress.valid)}/${String(intent.segments.length)}`,
    ...(progress.chains.length > 1
      ? {
          chains: progress.chains.map((chain) => ({
            first: chain.first,
            last: chain.last,
            progress: `${String(chain.valid)}/${String(chain.last - chain.first + 1)}`,
          })),
        }
      : {}),
    segments: records,
    conditions: mergedConditions(
      film.status.conditions ?? [],
      conditionDrafts(snapshot, intent, { ...facts, records }),
      now,
      film.generation,
    ),
    ...(output ? { output } : {}),
    ...(started ? { startTime: started } : {}),
    ...(completionTime ? { completionTime } : {}),
    ...(eta ? { eta, remaining: remainingTime(Date.parse(eta), snapshot.now.getTime()).text } : {}),
    // What the probe read is what the plan was made from: kept while the film renders.
    ...(film.status.inputs ? { inputs: film.status.inputs } : {}),
    ...workspaceClaimUid(snapshot),
  };
}

/** The claim the records are rendered into: the current one, or the last one known while there is none. */
function workspaceClaimUid(snapshot: FilmSnapshot): Pick<FilmStatus, "workspaceClaimUID"> {
  const current = snapshot.workspaceClaim?.uid;
  const uid = current === undefined || current === "" ? snapshot.film.status.workspaceClaimUID : current;
  return uid ? { workspaceClaimUID: uid } : {};
}

/**
 * When a status's `remaining` text changes, so that the film is reconciled then to write it: at most once a
 * minute while it renders, and never once it says "overdue" or has no ETA.
 */
export function remainingRefreshMs(status: FilmStatus, now: Date): number | undefined {
  return status.eta === undefined ? undefined : remainingTime(Date.parse(status.eta), now.getTime()).changesInMs;
}

/** Whether a status differs from the one already written (in content, whatever the order of its fields). */
export function statusChanged(previous: FilmStatus, next: FilmStatus): boolean {
  return canonicalJson(previous) !== canonicalJson(next);
}

/**
 * Segment render times left one after another: each chain renders its segments in turn, and at most `parallelism`
 * render at once, so the longest chain's rest, or the whole rest shared between the parallel slots, whichever is
 * more. One chain: the segments left.
 */
function remainingRounds(progress: SegmentProgress, intent: FilmIntent): number {
  const left = progress.chains.map((chain) => chain.last - chain.first + 1 - chain.valid);
  const total = left.reduce((sum, n) => sum + n, 0);
  return Math.max(0, ...left, Math.ceil(total / Math.max(1, intent.parallelism)));
}

/**
 * The last recorded finish plus the mean segment time for each segment left. Anchored on that finish, not on now,
 * so the estimate changes only when a segment does and the status is not rewritten on every reconcile.
 */
function estimatedCompletion(records: readonly SegmentRecord[], remaining: number): string | undefined {
  const done = records.filter((r) => r.state === "Succeeded");
  const finishes = done.flatMap((r) => (r.finishTime ? [Date.parse(r.finishTime)] : []));
  if (done.length === 0 || finishes.length === 0) return undefined;
  const mean = done.reduce((sum, r) => sum + (recordSeconds(r) ?? 0), 0) / done.length;
  return new Date(Math.max(...finishes) + mean * remaining * 1000).toISOString();
}

const readyReasons: Readonly<Record<FilmPhase, string>> = {
  Succeeded: ConditionReason.FilmComplete,
  Failed: ConditionReason.RetriesExhausted,
  Suspended: ConditionReason.Suspended,
  Concatenating: ConditionReason.Concatenating,
  Rendering: ConditionReason.Rendering,
  Pending: ConditionReason.InProgress,
  Queued: ConditionReason.Queued,
};

type DraftFacts = StatusFacts & {
  readonly records: readonly SegmentRecord[];
  /** "n/m segments rendered". */
  readonly progressText: string;
  readonly segmentCount: number;
};

function conditionDrafts(
  snapshot: FilmSnapshot,
  intent: FilmIntent,
  facts: StatusFacts & { readonly records: readonly SegmentRecord[] },
): ConditionDraft[] {
  const segmentCount = intent.segments.length;
  const progressText = `${String(facts.progress.valid)}/${String(segmentCount)} segments rendered`;
  const all = { ...facts, progressText, segmentCount };
  const drafts = [
    readyDraft(all),
    progressingDraft(all),
    succeededDraft(all),
    failedDraft(all),
    degradedDraft(facts.phase, facts.records),
  ];
  const suspended = suspendedDraft(snapshot, intent, facts.running);
  return suspended ? [...drafts, suspended] : drafts;
}

function readyReason({ phase, failure }: DraftFacts): string {
  return phase === "Failed" ? (failure?.reason ?? readyReasons.Failed) : readyReasons[phase];
}

function readyDraft(facts: DraftFacts): ConditionDraft {
  const { phase, output, failure } = facts;
  if (phase === "Succeeded" && output) {
    const sheet = output.contactSheet === undefined ? "" : `; its contact sheet at ${output.contactSheet}`;
    const message = `the film is at ${output.path}${sheet}`;
    return { type: ConditionType.Ready, status: "True", reason: readyReason(facts), message };
  }
  // What holds the film back is why it is not ready (and what `kubectl get` shows in its Reason column).
  if (facts.waiting && !failure && inProgress(phase)) {
    return { type: ConditionType.Ready, status: "False", ...facts.waiting };
  }
  const message = failure?.message ?? facts.progressText;
  return {
    type: ConditionType.Ready,
    status: phase === "Succeeded" ? "True" : "False",
    reason: readyReason(facts),
    message,
  };
}

function inProgress(phase: FilmPhase): boolean {
  return phase === "Rendering" || phase === "Concatenating" || phase === "Pending" || phase === "Queued";
}

function progressingDraft(facts: DraftFacts): ConditionDraft {
  const progressing = inProgress(facts.phase);
  if (facts.waiting && progressing) {
    return { type: ConditionType.Progressing, status: "False", ...facts.waiting };
  }
  const waitingForRetry = facts.records.some((r) => r.state === "Retrying") && !facts.running;
  return {
    type: ConditionType.Progressing,
    status: progressing ? "True" : "False",
    reason: waitingForRetry ? ConditionReason.WaitingForRetry : readyReason(facts),
    message: facts.progressText,
  };
}

function succeededDraft(facts: DraftFacts): ConditionDraft {
  if (facts.phase !== "Succeeded") {
    const reason = ConditionReason.InProgress;
    return { type: ConditionType.Succeeded, status: "False", reason, message: facts.progressText };
  }
  const message = `${String(facts.segmentCount)} segments concatenated`;
  return { type: ConditionType.Succeeded, status: "True", reason: ConditionReason.FilmComplete, message };
}

function failedDraft({ failure }: DraftFacts): ConditionDraft {
  return {
    type: ConditionType.Failed,
    status: failure ? "True" : "False",
    reason: failure?.reason ?? ConditionReason.NoFailure,
    message: failure?.message ?? "no segment has exhausted its retries",
  };
}

/** Degraded while the film still progresses on a retry: a segment failed and is waiting for, or on, another attempt. */
function degradedDraft(phase: FilmPhase, records: readonly SegmentRecord[]): ConditionDraft {
  const retried = records.find((r) => r.state !== "Succeeded" && countedFailures(r) > 0);
  if (phase === "Failed" || phase === "Succeeded" || !retried) {
    return {
      type: ConditionType.Degraded,
      status: "False",
      reason: ConditionReason.NotDegraded,
      message: "no segment is being retried",
    };
  }
  const failures = countedFailures(retried);
  return {
    type: ConditionType.Degraded,
    status: "True",
    reason: ConditionReason.SegmentRetrying,
    message: `segment ${String(retried.index)} failed ${String(failures)} time(s) and is retried${retried.message ? `: ${retried.message}` : ""}`,
  };
}

/** Present once the film was ever suspended: whether it is, or is on its way there, or resumed. */
function suspendedDraft(snapshot: FilmSnapshot, intent: FilmIntent, running: boolean): ConditionDraft | undefined {
  const everSuspended = snapshot.film.status.conditions?.some((c) => c.type === ConditionType.Suspended) ?? false;
  if (!intent.suspend && !everSuspended) return undefined;
  if (!intent.suspend) {
    return { type: ConditionType.Suspended, status: "False", reason: ConditionReason.NotSuspended, message: "resumed" };
  }
  return running
    ? {
        type: ConditionType.Suspended,
        status: "False",
        reason: ConditionReason.SuspendRequested,
        message: "suspending: the running job finishes, no new one starts",
      }
    : {
        type: ConditionType.Suspended,
        status: "True",
        reason: ConditionReason.Suspended,
        message: "suspended at a segment boundary",
      };
}
