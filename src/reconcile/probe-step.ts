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
import { probeJobName } from "./object-names.ts";
import { latestPod } from "./owned-jobs.ts";

/** What a probe's termination message says, read by the contract's field names. */
export interface ProbeReport {
  readonly audioSeconds?: number;
  readonly poseFrames?: number;
  readonly poseFps?: number;
  readonly field?: string;
  readonly error?: string;
}

type ProbeField = (typeof terminationMessage.probe)[number] | (typeof terminationMessage.failure)[number];

const reportFields = {
  audioSeconds: "audioSeconds",
  poseFrames: "poseFrames",
  poseFps: "poseFps",
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
  for (const key of ["audioSeconds", "poseFrames", "poseFps"] as const) {
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
  | { readonly kind: "start"; readonly attempt: number; readonly failures: number };

/** The decision for a film whose inputs must be read before it can be planned. */
export function probeDecision(snapshot: FilmSnapshot, probe: ProbeIntent, setup: readonly SetupAction[]): Decision {
  const { film } = snapshot;
  const outcome = probeOutcome(snapshot, probe);
  const then: FollowUpAction[] = [];
  let inputs = film.status.inputs?.key === probe.key ? film.status.inputs : undefined;
  let wait: FilmWait | undefined;
  if (outcome.kind === "read") {
    inputs = outcome.inputs;
    then.push(readEvent(outcome.inputs));
  } else if (outcome.kind === "unreadable") {
    // Told once by the next reconcile, whose intent reports the unreadable input like an invalid spec.
    inputs = outcome.inputs;
  } else if (outcome.kind === "start") {
    inputs = { key: probe.key, ...(outcome.failures > 0 ? { failures: outcome.failures } : {}) };
    const name = probeJobName(film, probe.key, outcome.attempt);
    then.push({ kind: "createProbeJob", probe, attempt: outcome.attempt, name });
    wait = refusalWait(snapshot);
  } else {
    wait = refusalWait(snapshot) ?? podWait(snapshot, new Set([outcome.job.name]));
  }
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

function probeOutcome(snapshot: FilmSnapshot, probe: ProbeIntent): ProbeOutcome {
  const jobs = snapshot.jobs.filter((j) => j.kind === "probe" && j.hash === probe.key && !j.deleting);
  const latest = [...jobs].sort((a, b) => b.attempt - a.attempt)[0];
  const recorded = snapshot.film.status.inputs;
  const failures = recorded?.key === probe.key ? (recorded.failures ?? 0) : 0;
  if (latest === undefined) return { kind: "start", attempt: 0, failures };
  if (latest.finished === undefined) return { kind: "running", job: latest };
  return endedOutcome(snapshot, probe, latest, failures);
}

/** What a probe that ended says: the inputs read, one that cannot be read, or another attempt to start. */
function endedOutcome(snapshot: FilmSnapshot, probe: ProbeIntent, latest: ObservedJob, failures: number): ProbeOutcome {
  const pod = latestPod(snapshot.pods, latest);
  const report = probeReport(pod?.terminationMessage);
  const blamed = report.field !== undefined && probe.fields.includes(report.field) ? report.field : probe.fields[0];
  const field = blamed ?? "spec.audio";
  if (latest.finished === "Succeeded") {
    const missing = missingMeasure(probe, report);
    if (missing === undefined) return { kind: "read", inputs: readInputs(probe.key, report) };
    return unreadable(probe.key, missing, "the probe reported no duration for it");
  }
  if (pod?.exitCode === exitCodes.badInput) {
    return unreadable(probe.key, field, stripField(report.error ?? latest.failureMessage ?? "cannot be read", field));
  }
  // Failed for a reason a retry may fix (a fetch that timed out, a lost node): once per attempt, up to the limit.
  const counted = Math.max(failures, latest.attempt + 1);
  if (counted > probe.retryLimit) {
    const why = report.error ?? latest.failureMessage ?? "the probe failed";
    return unreadable(
      probe.key,
      field,
      `could not be read after ${String(counted)} attempts: ${stripField(why, field)}`,
    );
  }
  return { kind: "start", attempt: latest.attempt + 1, failures: counted };
}

/** The input a successful probe should have measured but did not report, if any. */
function missingMeasure(probe: ProbeIntent, report: ProbeReport): string | undefined {
  if (probe.fields.includes("spec.audio") && report.audioSeconds === undefined) return "spec.audio";
  if (probe.fields.includes("spec.pose") && report.poseFrames === undefined) return "spec.pose";
  return undefined;
}

function readInputs(key: string, report: ProbeReport): ProbedInputsStatus {
  return {
    key,
    ...(report.audioSeconds === undefined ? {} : { audioSeconds: report.audioSeconds }),
    ...(report.poseFrames === undefined ? {} : { poseFrames: Math.round(report.poseFrames) }),
    ...(report.poseFps === undefined ? {} : { poseFps: report.poseFps }),
  };
}

function unreadable(key: string, field: string, message: string): ProbeOutcome {
  return { kind: "unreadable", inputs: { key, unreadable: { field, message: message.slice(0, 1024) } } };
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
  ];
  return `read the film's inputs: ${parts.join(", ")}`;
}

/** Pending, with Ready and Progressing saying the inputs are being read (or what holds the probe back). */
function probingStatus(
  snapshot: FilmSnapshot,
  inputs: ProbedInputsStatus | undefined,
  wait: FilmWait | undefined,
  probe: ProbeIntent,
): FilmStatus {
  const { film } = snapshot;
  const message = `reading ${probe.fields.join(" and ")} before planning the film`;
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
