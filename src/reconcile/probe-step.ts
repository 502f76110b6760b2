/**
 * Reading a film's audio track and skeleton video before it is planned: a talk film's clip count follows its audio,
 * and an input that cannot be read must fail the film before any GPU time is spent on it. A short probe Job reads
 * them (runtime command `probe`) and reports their durations in its termination message; the decision records them
 * in `status.inputs` under the key of the sources read, and the next reconcile plans the film from them. An input
 * the runtime refuses (exit code 2) is recorded as unreadable, naming its field: the film then shows InputUnreadable
 * like an invalid spec, keeping everything already rendered, until the source changes. Other failures (a fetch that
 * timed out) are retried up to the film's retry limit.
 */
import type { ProbedInputsStatus } from "../api/long-video-status.ts";
import { exitCodes } from "../api/runtime-contract.ts";
import type { terminationMessage } from "../api/runtime-contract.ts";
import { ConditionReason, ConditionType, EventReason, mergedConditions } from "./film-conditions.ts";
import type { ConditionDraft } from "./film-conditions.ts";
import type {
  Decision,
  FilmSnapshot,
  FilmStatus,
  FollowUpAction,
  ObservedJob,
  ProbeIntent,
  SetupAction,
} from "./film-snapshot.ts";
import { statusChanged } from "./film-status.ts";
import { podWait, refusalWait, waitEvent } from "./film-wait.ts";
import type { FilmWait } from "./film-wait.ts";
import { modelCacheField } from "./film-intent.ts";
import { probeJobName } from "./object-names.ts";
import { latestPod } from "./owned-jobs.ts";

/** What a probe's termination message says, read by the contract's field names. */
export interface ProbeReport {
  readonly audioSeconds?: number;
  readonly poseFrames?: number;
  readonly poseFps?: number;
  readonly modelFiles?: number;
  readonly field?: string;
  readonly error?: string;
}

type ProbeField = (typeof terminationMessage.probe)[number] | (typeof terminationMessage.failure)[number];

const reportFields = {
  audioSeconds: "audioSeconds",
  poseFrames: "poseFrames",
  poseFps: "poseFps",
  modelFiles: "modelFiles",
  field: "field",
  error: "error",
} as const satisfies Record<keyof ProbeReport, ProbeField>;

/** A probe pod's termination message; an empty report for one that is not the contract's JSON. */
export function probeReport(message: string | undefined): ProbeReport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message ?? "");
  } catch {
    return message?.trim() ? { error: message.trim().slice(0, 512) } : {};
  }
  if (typeof parsed !== "object" || parsed === null) return {};
  const fields = parsed as Record<string, unknown>;
  const report: { -readonly [K in keyof ProbeReport]: ProbeReport[K] } = {};
  for (const key of ["audioSeconds", "poseFrames", "poseFps", "modelFiles"] as const) {
    const value = fields[reportFields[key]];
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) report[key] = value;
  }
  for (const key of ["field", "error"] as const) {
    const value = fields[reportFields[key]];
    if (typeof value === "string") report[key] = value.slice(0, 1024);
  }
  return report;
}

/** Where the probe of the film's current inputs stands. */
type ProbeOutcome =
  | { readonly kind: "read"; readonly inputs: ProbedInputsStatus }
  | { readonly kind: "unreadable"; readonly inputs: ProbedInputsStatus }
  | { readonly kind: "running"; readonly job: ObservedJob }
  /** The new attempt a recheck started is not in the cache yet: what it holds is the one already recorded. */
  | { readonly kind: "awaiting" }
  | { readonly kind: "start"; readonly attempt: number; readonly failures: number };

/**
 * The decision for a film whose inputs must be read before it can be planned. `recheck`: the probe found the model
 * cache incomplete and its time to look again has come: a new attempt starts after the one that found it.
 */
export function probeDecision(
  snapshot: FilmSnapshot,
  probe: ProbeIntent,
  setup: readonly SetupAction[],
  options: { readonly recheck?: boolean } = {},
): Decision {
  const { film } = snapshot;
  const outcome = probeOutcome(snapshot, probe, options.recheck ?? false);
  const { inputs, wait, then } = outcomeEffects(snapshot, probe, outcome);
  const status = probingStatus(snapshot, inputs, wait, probe);
  const recorded = outcome.kind === "read" || outcome.kind === "unreadable";
  return {
    setup,
    ...(statusChanged(film.status, status) ? { status } : {}),
    then: [...waitEvent(film.status, wait), ...then],
    // Once recorded, the film is planned (or reported) from status.inputs: at once, not at the next event.
    ...(recorded ? { requeueAfterMs: 0 } : {}),
    facts: { segmentsEnded: [] },
  };
}

/** What an outcome records in status.inputs, what holds the probe back, and what it does next. */
function outcomeEffects(
  snapshot: FilmSnapshot,
  probe: ProbeIntent,
  outcome: ProbeOutcome,
): { inputs: ProbedInputsStatus | undefined; wait: FilmWait | undefined; then: FollowUpAction[] } {
  const { film } = snapshot;
  const before = film.status.inputs?.key === probe.key ? film.status.inputs : undefined;
  switch (outcome.kind) {
    case "read":
      return { inputs: outcome.inputs, wait: undefined, then: [readEvent(outcome.inputs)] };
    case "unreadable":
      // Told once by the next reconcile, whose intent reports the unreadable input like an invalid spec.
      return { inputs: outcome.inputs, wait: undefined, then: [] };
    case "start": {
      // Model checks carry over: they set how long until the next one.
      const inputs: ProbedInputsStatus = {
        key: probe.key,
        ...(outcome.failures > 0 ? { failures: outcome.failures } : {}),
        ...(before?.modelChecks === undefined ? {} : { modelChecks: before.modelChecks }),
        ...(before?.checkedAt === undefined ? {} : { checkedAt: before.checkedAt }),
      };
      const name = probeJobName(film, probe.key, outcome.attempt);
      const create: FollowUpAction = { kind: "createProbeJob", probe, attempt: outcome.attempt, name };
      return { inputs, wait: refusalWait(snapshot), then: [create] };
    }
    case "running":
      return {
        inputs: before,
        wait: refusalWait(snapshot) ?? podWait(snapshot, new Set([outcome.job.name])),
        then: [],
      };
    case "awaiting":
      return { inputs: before, wait: undefined, then: [] };
  }
}

function probeOutcome(snapshot: FilmSnapshot, probe: ProbeIntent, recheck: boolean): ProbeOutcome {
  const jobs = snapshot.jobs.filter((j) => j.kind === "probe" && j.hash === probe.key && !j.deleting);
  const latest = [...jobs].sort((a, b) => b.attempt - a.attempt)[0];
  const recorded = snapshot.film.status.inputs;
  const failures = recorded?.key === probe.key ? (recorded.failures ?? 0) : 0;
  if (latest === undefined) return { kind: "start", attempt: 0, failures };
  if (latest.finished === undefined) return { kind: "running", job: latest };
  // The ended attempt found the model cache incomplete, and that is recorded: look again with a new one.
  if (recheck) return { kind: "start", attempt: latest.attempt + 1, failures: 0 };
  // Made before the last recorded finding, so that finding is its own: the recheck's attempt is still to be seen.
  const found = recorded?.key === probe.key ? recorded.checkedAt : undefined;
  if (found !== undefined && Date.parse(latest.createdAt) <= Date.parse(found)) return { kind: "awaiting" };
  return endedOutcome(snapshot, probe, latest, failures);
}

/** What a probe that ended says: the inputs read, one that cannot be read, or another attempt to start. */
function endedOutcome(snapshot: FilmSnapshot, probe: ProbeIntent, latest: ObservedJob, failures: number): ProbeOutcome {
  const pod = latestPod(snapshot.pods, latest);
  const report = probeReport(pod?.terminationMessage);
  const blamed = report.field !== undefined && probe.fields.includes(report.field) ? report.field : probe.fields[0];
  const field = blamed ?? "spec.audio";
  const recorded = snapshot.film.status.inputs?.key === probe.key ? snapshot.film.status.inputs : undefined;
  const now = snapshot.now.toISOString();
  if (latest.finished === "Succeeded") return succeededOutcome(probe, report, now, recorded);
  if (pod?.exitCode === exitCodes.badInput) {
    const why = stripField(report.error ?? latest.failureMessage ?? "cannot be read", field);
    return unreadable(probe.key, field, why, now, recorded);
  }
  // Failed for a reason a retry may fix (a fetch that timed out, a lost node): once per attempt, up to the limit.
  const counted = Math.max(failures, latest.attempt + 1);
  if (counted > probe.retryLimit) {
    const why = report.error ?? latest.failureMessage ?? "the probe failed";
    return unreadable(
      probe.key,
      field,
      `could not be read after ${String(counted)} attempts: ${stripField(why, field)}`,
      now,
      recorded,
    );
  }
  return { kind: "start", attempt: latest.attempt + 1, failures: counted };
}

/** What a probe that succeeded read; an input it should have measured and did not is unreadable. */
function succeededOutcome(
  probe: ProbeIntent,
  report: ProbeReport,
  now: string,
  recorded: ProbedInputsStatus | undefined,
): ProbeOutcome {
  const missing = missingMeasure(probe, report);
  if (missing === undefined) {
    // The model checks that found the cache incomplete stay on record: how the film came to wait.
    const history = recorded?.modelChecks === undefined ? {} : { modelChecks: recorded.modelChecks };
    return { kind: "read", inputs: { ...readInputs(probe.key, report), ...history } };
  }
  const what = missing === modelCacheField ? "the probe did not check it" : "the probe reported no duration for it";
  return unreadable(probe.key, missing, what, now, recorded);
}

/** The input a successful probe should have measured but did not report, if any. */
function missingMeasure(probe: ProbeIntent, report: ProbeReport): string | undefined {
  if (probe.fields.includes("spec.audio") && report.audioSeconds === undefined) return "spec.audio";
  if (probe.fields.includes("spec.pose") && report.poseFrames === undefined) return "spec.pose";
  if (probe.fields.includes(modelCacheField) && report.modelFiles === undefined) return modelCacheField;
  return undefined;
}

function readInputs(key: string, report: ProbeReport): ProbedInputsStatus {
  return {
    key,
    ...(report.audioSeconds === undefined ? {} : { audioSeconds: report.audioSeconds }),
    ...(report.poseFrames === undefined ? {} : { poseFrames: Math.round(report.poseFrames) }),
    ...(report.poseFps === undefined ? {} : { poseFps: report.poseFps }),
    ...(report.modelFiles === undefined ? {} : { modelFiles: Math.round(report.modelFiles) }),
  };
}

/** An input that cannot be read, when that was found; a model cache found incomplete counts one more check. */
function unreadable(
  key: string,
  field: string,
  message: string,
  now: string,
  recorded: ProbedInputsStatus | undefined,
): ProbeOutcome {
  const models = field === modelCacheField ? { modelChecks: (recorded?.modelChecks ?? 0) + 1, checkedAt: now } : {};
  return { kind: "unreadable", inputs: { key, unreadable: { field, message: message.slice(0, 1024) }, ...models } };
}

/** The runtime prefixes its message with the field; the condition puts the field in front itself. */
function stripField(message: string, field: string): string {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

function readEvent(inputs: ProbedInputsStatus): FollowUpAction {
  return { kind: "event", type: "Normal", reason: EventReason.InputsRead, message: inputsText(inputs) };
}

function inputsText(inputs: ProbedInputsStatus): string {
  const parts = [
    ...(inputs.audioSeconds === undefined ? [] : [`spec.audio lasts ${inputs.audioSeconds.toFixed(2)} s`]),
    ...(inputs.poseFrames === undefined ? [] : [`spec.pose has ${String(inputs.poseFrames)} frames`]),
    ...(inputs.modelFiles === undefined
      ? []
      : [`the model cache holds the ${String(inputs.modelFiles)} files it needs`]),
  ];
  return `read the film's inputs: ${parts.join(", ")}`;
}

/** What a probe does, in words: "reading spec.audio and checking the model cache models". */
function probeWork(probe: ProbeIntent): string {
  const read = probe.fields.filter((field) => field !== modelCacheField);
  return [
    ...(read.length > 0 ? [`reading ${read.join(" and ")}`] : []),
    ...(probe.modelsClaim === undefined ? [] : [`checking the model cache ${probe.modelsClaim}`]),
  ].join(" and ");
}

/** Pending, with Ready and Progressing saying the inputs are being read (or what holds the probe back). */
function probingStatus(
  snapshot: FilmSnapshot,
  inputs: ProbedInputsStatus | undefined,
  wait: FilmWait | undefined,
  probe: ProbeIntent,
): FilmStatus {
  const { film } = snapshot;
  const message = `${probeWork(probe)} before planning the film`;
  const drafts: ConditionDraft[] = [
    { type: ConditionType.Ready, status: "False", reason: ConditionReason.ProbingInputs, message },
    wait
      ? { type: ConditionType.Progressing, status: "False", reason: wait.reason, message: wait.message }
      : { type: ConditionType.Progressing, status: "True", reason: ConditionReason.ProbingInputs, message },
  ];
  const rest = { ...film.status };
  delete rest.inputs;
  return {
    ...rest,
    observedGeneration: film.generation,
    phase: film.status.phase ?? "Pending",
    conditions: mergedConditions(film.status.conditions ?? [], drafts, snapshot.now.toISOString(), film.generation),
    ...(inputs ? { inputs } : {}),
  };
}
