/**
 * The reconciler's one decision: from a snapshot of a film and what it owns, what moves it toward its intent.
 * Pure and total: the same snapshot always gives the same decision, so a crash, a restart or a stale cache can
 * only repeat an action, and every action is idempotent (deterministic names, whole-status writes).
 *
 * A chain of small rules, in the order they apply:
 * - deletion ({@link deletionDecision}), an unusable spec ({@link invalidSpecDecision}) and inputs still to be
 *   read before planning ({@link probeDecision}) end the chain;
 * - setup: the finalizer and the workspace claim;
 * - progress ({@link segmentProgress}): records brought up to date, and how far each valid chain reaches;
 * - the next step: each chain's next segment ({@link segmentStep}), at most `parallelism` at once, or, after every
 *   chain's last, the concatenation ({@link concatStep}), both under one attempt policy (retries with backoff,
 *   `suspend`);
 * - jobs nobody wants any more (an edit, a stale chain) are stopped;
 * - phase ({@link filmPhase}) and status ({@link filmStatus}).
 * The decision's shape says the order: setup, then the status, then what the status justifies.
 */
import { filmFinalizer } from "../api/operator-labels.ts";
import { concatStep } from "./concat-step.ts";
import type { ConcatStep } from "./concat-step.ts";
import { deletionDecision } from "./film-deletion.ts";
import { ConditionReason, EventReason } from "./film-conditions.ts";
import { filmPhase } from "./film-phase.ts";
import type { Decision, Effect, FilmIntent, FilmSnapshot, FollowUpAction, SetupAction } from "./film-snapshot.ts";
import { filmStatus, remainingRefreshMs, statusChanged } from "./film-status.ts";
import { podWait, refusalWait, waitEvent, workspaceWait } from "./film-wait.ts";
import { idleStep } from "./film-step.ts";
import { handoffEvents } from "./handoff-events.ts";
import { invalidSpecDecision } from "./invalid-spec.ts";
import { probeDecision } from "./probe-step.ts";
import { activeJobs, strandedJobs, withPodOutcomes } from "./owned-jobs.ts";
import { finalDigests, segmentProgress } from "./segment-progress.ts";
import type { SegmentProgress } from "./segment-progress.ts";
import { segmentStep } from "./segment-step.ts";
import { workspaceScope } from "./workspace-scope.ts";
import { outdatedJobs } from "./pod-template-key.ts";
import { warmStep, withWarmInputs } from "./warm-start.ts";

export function decide(observed: FilmSnapshot): Decision {
  const snapshot = withWarmInputs(withPodOutcomes(observed));
  if (snapshot.film.deleting) return deletionDecision(snapshot);
  const finalizer: SetupAction[] = snapshot.film.finalizers.includes(filmFinalizer) ? [] : [{ kind: "addFinalizer" }];
  if (!snapshot.intent.ok) {
    if (snapshot.intent.reason === "Probing") return probeDecision(snapshot, snapshot.intent.probe, finalizer);
    if (snapshot.intent.reason === "ModelCacheIncomplete") {
      const { probe, recheckAt } = snapshot.intent;
      const waitMs = recheckAt - snapshot.now.getTime();
      if (waitMs <= 0) return probeDecision(snapshot, probe, finalizer, { recheck: true });
      return { ...invalidSpecDecision(snapshot, snapshot.intent, finalizer), requeueAfterMs: waitMs };
    }
    return invalidSpecDecision(snapshot, snapshot.intent, finalizer);
  }
  const scope = workspaceScope(snapshot);
  const decision = renderDecision(scope.snapshot, snapshot.intent.intent, finalizer);
  const decided = new Set(decision.then.flatMap((a) => (a.kind === "deleteJob" ? [a.name] : [])));
  const more = scope.then.filter((a) => a.kind !== "deleteJob" || !decided.has(a.name));
  return more.length === 0 ? decision : { ...decision, then: [...decision.then, ...more] };
}

/** A decision's effects in the order they must be carried out: setup, the status write, then the rest. */
export function decisionEffects(decision: Decision): Effect[] {
  return [
    ...decision.setup,
    ...(decision.status ? [{ kind: "updateStatus" as const, status: decision.status }] : []),
    ...decision.then,
  ];
}

function renderDecision(snapshot: FilmSnapshot, intent: FilmIntent, setup: readonly SetupAction[]): Decision {
  const { film } = snapshot;
  const progress = segmentProgress(snapshot, intent);
  const blocked = workspaceWait(snapshot);
  // While the workspace cannot be used, or is still to be made, nothing new starts (as if suspended); what runs
  // is left to finish. A job is made only for a claim whose UID it can record.
  const step = nextStep(snapshot, held(snapshot, blocked) ? { ...intent, suspend: true } : intent, progress);
  const output = step.output ?? (film.status.output?.hash === intent.concat.hash ? film.status.output : undefined);
  // A job stranded on a lost node is let go: deleted, its attempt is lost, and a new one starts elsewhere; so is
  // one still waiting to start under a placement or resources the spec no longer asks for.
  const strandedPods = strandedJobs(snapshot);
  const stranded = new Set([...strandedPods.keys(), ...outdatedJobs(snapshot, intent)]);
  const wanted = new Set(step.wanted.filter((name) => !stranded.has(name)));
  const waiting = blocked ?? refusalWait(snapshot) ?? podWait(snapshot, wanted);
  const running = wanted.size > 0;
  const phase = filmPhase({
    failed: step.failure !== undefined,
    written: output !== undefined,
    suspend: intent.suspend,
    running,
    concatenating: progress.valid === intent.segments.length && !output,
    started: progress.valid > 0,
    queued: queued(waiting),
  });
  const status = filmStatus(snapshot, intent, {
    phase,
    progress,
    output,
    failure: step.failure,
    running,
    ...(waiting ? { waiting } : {}),
  });
  const then: FollowUpAction[] = [
    // First: what holds the film back is told even when the create it is about is refused again.
    ...waitEvent(film.status, waiting),
    ...(snapshot.workspaceClaim ? [] : [{ kind: "createWorkspace", workspace: intent.workspace } as const]),
    ...handoffEvents([...progress.events, ...step.then]),
    ...activeJobs(snapshot.jobs).flatMap((job): FollowUpAction[] => {
      if (wanted.has(job.name)) return [];
      const pod = strandedPods.get(job.name);
      return [
        { kind: "deleteJob", name: job.name, uid: job.uid, ...(pod === undefined ? {} : { unlessPodEnded: pod }) },
      ];
    }),
    ...invalidatedEvent(snapshot, progress),
    ...(step.failure && film.status.phase !== "Failed"
      ? [{ kind: "event", type: "Warning", reason: EventReason.FilmFailed, message: step.failure.message } as const]
      : []),
  ];
  const handoffFrom = handoffPredecessor(step.then);
  const requeueAfterMs = earliest(step.requeueAfterMs, remainingRefreshMs(status, snapshot.now));
  return {
    setup,
    ...(statusChanged(film.status, status) ? { status } : {}),
    then,
    ...(requeueAfterMs === undefined ? {} : { requeueAfterMs }),
    facts: { segmentsEnded: progress.ended, ...(handoffFrom === undefined ? {} : { handoffFrom }) },
  };
}

/** Whether what holds the film back is its queue: the job it waits on is not admitted by Kueue yet. */
function queued(waiting: { readonly reason: string } | undefined): boolean {
  return waiting?.reason === ConditionReason.Queued;
}

/** The sooner of two optional delays. */
function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : Math.min(a, b);
}

function held(snapshot: FilmSnapshot, blocked: unknown): boolean {
  return blocked !== undefined || snapshot.workspaceClaim === undefined;
}

/** Each incomplete chain's next segment; then the concatenation, until the film is written. */
function nextStep(snapshot: FilmSnapshot, intent: FilmIntent, progress: SegmentProgress): ConcatStep {
  const open = progress.chains.flatMap((chain) => {
    const segment = chain.first + chain.valid <= chain.last ? intent.segments[chain.first + chain.valid] : undefined;
    return segment ? [segmentStep(snapshot, intent, progress, segment, chain.nextInput)] : [];
  });
  if (open.length > 0) {
    const steps = chainSteps(open, intent.parallelism);
    // A warm successor holds a GPU of its own beside the parallelism, for its overlap only (docs/adr/0026).
    const warm = steps.failure ? [] : progress.chains.map((chain) => warmStep(snapshot, intent, progress, chain));
    return warm.length === 0 ? steps : mergedSteps([steps, ...warm]);
  }
  if (snapshot.film.status.output?.hash === intent.concat.hash) return idleStep;
  return concatStep(snapshot, intent, finalDigests(progress.chains));
}

/**
 * The chains' steps as one: what runs keeps running; a new attempt starts only while fewer than `parallelism`
 * segments are in flight (chains earlier in the storyline first), and none once a chain has failed for good (the
 * film has failed; what runs is let finish, as its clip is kept for when an edit mends the film). The earliest
 * requeue, and the first failure, stand for all.
 */
function chainSteps(steps: readonly ConcatStep[], parallelism: number): ConcatStep {
  const starts = (step: ConcatStep) => step.then.some((a) => a.kind === "createSegmentJob");
  const failure = steps.find((step) => step.failure)?.failure;
  let inFlight = steps.filter((step) => step.wanted.length > 0 && !starts(step)).length;
  const taken = steps.filter((step) => {
    if (!starts(step)) return true;
    if (failure || inFlight >= parallelism) return false;
    inFlight++;
    return true;
  });
  const merged = mergedSteps(taken);
  return failure ? { ...merged, failure } : merged;
}

/** Steps as one: every wanted job and action, the earliest requeue, and the first failure. */
function mergedSteps(steps: readonly ConcatStep[]): ConcatStep {
  let requeueAfterMs: number | undefined;
  for (const step of steps) requeueAfterMs = earliest(requeueAfterMs, step.requeueAfterMs);
  const failure = steps.find((step) => step.failure)?.failure;
  return {
    wanted: steps.flatMap((step) => step.wanted),
    then: steps.flatMap((step) => step.then),
    ...(requeueAfterMs === undefined ? {} : { requeueAfterMs }),
    ...(failure ? { failure } : {}),
  };
}

/** Segments recorded as rendered that the current chain no longer holds: their inputs changed. */
function invalidatedEvent(snapshot: FilmSnapshot, progress: SegmentProgress): FollowUpAction[] {
  const invalidated = (snapshot.film.status.segments ?? []).filter(
    (r) =>
      r.state === "Succeeded" &&
      !progress.records.some((p) => p.index === r.index && p.outputDigest === r.outputDigest),
  );
  if (invalidated.length === 0) return [];
  const first = Math.min(...invalidated.map((r) => r.index));
  return [
    {
      kind: "event",
      type: "Normal",
      reason: EventReason.SegmentsInvalidated,
      message: `re-rendering from segment ${String(first)}: its inputs changed`,
    },
  ];
}

/**
 * A first attempt at a segment that continues its chain is a hand-off from the segment before it: the metric times
 * it from that one's end. A chain's start follows nothing.
 */
function handoffPredecessor(actions: readonly FollowUpAction[]): number | undefined {
  for (const action of actions) {
    if (action.kind === "createSegmentJob" && action.attempt === 0 && !action.segment.chainStart) {
      return action.segment.index - 1;
    }
  }
  return undefined;
}
